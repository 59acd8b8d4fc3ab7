/*
 * adafactor.c - Adafactor (Shazeer & Stern 2018) as documented for
 * torch.optim.Adafactor in PyTorch 2.5, with its defaults (lr 1e-2,
 * beta2_decay -0.8, eps1 = float32 machine epsilon, eps2 1e-3, d 1,
 * weight_decay 0). At step t, for each parameter theta with gradient G:
 *
 *   w     = t^beta2_decay                     (= 1 - beta2_hat_t)
 *   rho   = min(lr, 1 / sqrt(t))
 *   alpha = max(eps2, RMS(theta)) rho          (RMS before weight decay)
 *   theta = (1 - lr wd) theta                  (decoupled weight decay)
 *   >= 2 dimensions (..., rows, cols), per leading index:
 *     R = lerp(R, mean_cols G^2, w)            (rows)
 *     C = lerp(C, mean_rows G^2, w)            (cols)
 *     V = R C^T / max(mean(R), eps1)
 *   vectors:  V = lerp(V, G^2, w)
 *   U     = G / sqrt(max(V, eps1^2))
 *   theta -= alpha / max(1, RMS(U) / d) U
 *
 * lerp(a, b, w) = a + w (b - a), computed as torch does. RMS(U) needs every
 * U before the update, so U is computed twice rather than stored: no
 * scratch beyond one row of column sums (allocated at setup).
 */
#include "optim.h"

#include <math.h>

int64_t nn_adafactor_setup(nn_optim *o)
{
    o->af = calloc((size_t)o->nparams, sizeof *o->af);
    if (!o->af)
        return -1;
    int64_t soff = 0, maxcols = 1;
    for (int i = 0; i < o->nparams; i++) {
        const nn_node *p = nn_graph_param(o->g, i);
        struct nn_af_param *a = &o->af[i];
        int nd = nn_node_ndim(p);
        a->off = nn_param_offset(p);
        a->numel = nn_node_numel(p);
        a->soff = soff;
        a->decay = true;
        if (nd >= 2) {
            a->rows = nn_node_dim(p, nd - 2);
            a->cols = nn_node_dim(p, nd - 1);
            a->lead = a->rows > 0 && a->cols > 0 ? a->numel / (a->rows * a->cols) : 0;
            soff += a->lead * (a->rows + a->cols);
            if (a->cols > maxcols)
                maxcols = a->cols;
        } else {
            a->lead = 1;
            soff += a->numel;
        }
    }
    o->work = malloc((size_t)maxcols * sizeof *o->work);
    return o->work ? soff : -1;
}

static double lerp(double a, double b, double w)
{
    return w < 0.5 ? a + w * (b - a) : b - (b - a) * (1.0 - w);
}

/* Updates the row and column factors of one matrix gr (rows, cols) and
 * returns max(mean(R), eps1). */
static float update_factors(const float *restrict gr, float *restrict R, float *restrict C,
                            double *restrict colsum, int64_t rows, int64_t cols, double w,
                            float eps1)
{
    for (int64_t c = 0; c < cols; c++)
        colsum[c] = 0;
    double rsum = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *row = gr + r * cols;
        double s = 0;
        for (int64_t c = 0; c < cols; c++) {
            double q = (double)row[c] * row[c];
            s += q;
            colsum[c] += q;
        }
        R[r] = (float)lerp(R[r], s / (double)cols, w);
        rsum += R[r];
    }
    for (int64_t c = 0; c < cols; c++)
        C[c] = (float)lerp(C[c], colsum[c] / (double)rows, w);
    float mean = (float)(rsum / (double)rows);
    return mean > eps1 ? mean : eps1;
}

/* Sum of U^2 over one factored matrix, or applies p -= scale U when p. */
static double factored_pass(const float *restrict gr, const float *restrict R,
                            const float *restrict C, int64_t rows, int64_t cols, float rmean,
                            float eps1sq, float *restrict p, float scale)
{
    double usum = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *grow = gr + r * cols;
        const float rr = R[r];
        if (p) {
            float *prow = p + r * cols;
            for (int64_t c = 0; c < cols; c++) {
                float v = fmaxf(rr * C[c] / rmean, eps1sq);
                prow[c] -= scale * (grow[c] / sqrtf(v));
            }
        } else {
            float s = 0;
            for (int64_t c = 0; c < cols; c++) {
                float v = fmaxf(rr * C[c] / rmean, eps1sq);
                float u = grow[c] / sqrtf(v);
                s += u * u;
            }
            usum += s;
        }
    }
    return usum;
}

static void step_param(nn_optim *o, const struct nn_af_param *a, double w, double rho)
{
    const struct nn_optim_cfg *cf = &o->cfg;
    float *restrict p = nn_graph_param_block(o->g) + a->off;
    const float *restrict g = nn_graph_grad_block(o->g) + a->off;
    float *restrict st = o->state + a->soff;
    const float eps1 = cf->eps, eps1sq = (float)((double)cf->eps * cf->eps);
    const int64_t n = a->numel;
    if (n == 0)
        return;

    double pss = 0;
    for (int64_t i = 0; i < n; i++)
        pss += (double)p[i] * p[i];
    double rms = sqrt(pss / (double)n);
    double alpha = (rms > cf->eps2 ? rms : cf->eps2) * rho;
    if (a->decay && cf->weight_decay != 0) {
        const float keep = (float)(1.0 - (double)cf->lr * cf->weight_decay);
        for (int64_t i = 0; i < n; i++)
            p[i] *= keep;
    }

    double usum = 0;
    if (a->rows) {
        const int64_t mat = a->rows * a->cols;
        float *R = st, *C = st + a->lead * a->rows;
        for (int64_t l = 0; l < a->lead; l++) {
            float rm = update_factors(g + l * mat, R + l * a->rows, C + l * a->cols, o->work,
                                      a->rows, a->cols, w, eps1);
            usum += factored_pass(g + l * mat, R + l * a->rows, C + l * a->cols, a->rows,
                                  a->cols, rm, eps1sq, NULL, 0);
        }
        double denom = sqrt(usum / (double)n) / cf->clip_threshold;
        float scale = (float)(alpha / (denom > 1 ? denom : 1));
        for (int64_t l = 0; l < a->lead; l++) {
            const float *Rl = R + l * a->rows;
            double rsum = 0;
            for (int64_t r = 0; r < a->rows; r++)
                rsum += Rl[r];
            float rm = (float)(rsum / (double)a->rows);
            factored_pass(g + l * mat, Rl, C + l * a->cols, a->rows, a->cols,
                          rm > eps1 ? rm : eps1, eps1sq, p + l * mat, scale);
        }
    } else {
        float *restrict V = st;
        for (int64_t i = 0; i < n; i++) {
            V[i] = (float)lerp(V[i], (double)g[i] * g[i], w);
            float u = g[i] / sqrtf(fmaxf(V[i], eps1sq));
            usum += (double)u * u;
        }
        double denom = sqrt(usum / (double)n) / cf->clip_threshold;
        float scale = (float)(alpha / (denom > 1 ? denom : 1));
        for (int64_t i = 0; i < n; i++)
            p[i] -= scale * (g[i] / sqrtf(fmaxf(V[i], eps1sq)));
    }
}

void nn_adafactor_step(nn_optim *o)
{
    const struct nn_optim_cfg *c = &o->cfg;
    const double t = (double)o->steps;
    const double w = pow(t, c->beta2_decay);
    const double rho = fmin(c->lr, 1.0 / sqrt(t));
    for (int i = 0; i < o->nparams; i++)
        step_param(o, &o->af[i], w, rho);
}
