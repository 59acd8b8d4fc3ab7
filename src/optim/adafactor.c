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
 * scratch beyond one row of column sums (allocated at setup). Sums of
 * squares add float partial sums (vectorized) in double.
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

/* max(x, lo) keeping a NaN, in a form that vectorizes. */
static inline float floor_at(float x, float lo) { return x < lo ? lo : x; }

/* Sum of squares of x[0..n): float partial sums of 512 added in double. */
static double sumsq(const float *restrict x, int64_t n)
{
    double total = 0;
    for (int64_t i0 = 0; i0 < n; i0 += 512) {
        const int64_t m = n - i0 < 512 ? n - i0 : 512;
        const float *xi = x + i0;
        float s = 0;
        NN_SIMD_SUM
        for (int64_t i = 0; i < m; i++)
            s += xi[i] * xi[i];
        total += s;
    }
    return total;
}

/* Updates the row and column factors of one matrix gr (rows, cols) with
 * the means of its squares along each axis, using colsum (cols) as scratch. */
static void update_factors(const float *restrict gr, float *restrict R, float *restrict C,
                           double *restrict colsum, int64_t rows, int64_t cols, double w)
{
    for (int64_t c = 0; c < cols; c++)
        colsum[c] = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict row = gr + r * cols;
        NN_SIMD
        for (int64_t c = 0; c < cols; c++)
            colsum[c] += (double)(row[c] * row[c]);
        R[r] = (float)lerp(R[r], sumsq(row, cols) / (double)cols, w);
    }
    for (int64_t c = 0; c < cols; c++)
        C[c] = (float)lerp(C[c], colsum[c] / (double)rows, w);
}

/* max(mean(R), eps1) of one matrix's row factors. */
static float row_mean(const float *R, int64_t rows, float eps1)
{
    double sum = 0;
    for (int64_t r = 0; r < rows; r++)
        sum += R[r];
    float m = (float)(sum / (double)rows);
    return m > eps1 ? m : eps1;
}

/* Sum of U^2 over one factored matrix, U = G / sqrt(max(R C / rmean, eps1^2)). */
static double factored_usum(const float *restrict gr, const float *restrict R,
                            const float *restrict C, int64_t rows, int64_t cols, float rmean,
                            float eps1sq)
{
    double usum = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict grow = gr + r * cols;
        const float rs = R[r] / rmean;
        float s = 0;
        NN_SIMD_SUM
        for (int64_t c = 0; c < cols; c++) {
            float u = grow[c] / sqrtf(floor_at(rs * C[c], eps1sq));
            s += u * u;
        }
        usum += s;
    }
    return usum;
}

/* p -= scale U over one factored matrix. */
static void factored_apply(float *restrict p, const float *restrict gr,
                           const float *restrict R, const float *restrict C, int64_t rows,
                           int64_t cols, float rmean, float eps1sq, float scale)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *restrict grow = gr + r * cols;
        float *restrict prow = p + r * cols;
        const float rs = R[r] / rmean;
        NN_SIMD
        for (int64_t c = 0; c < cols; c++)
            prow[c] -= scale * (grow[c] / sqrtf(floor_at(rs * C[c], eps1sq)));
    }
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

    double rms = sqrt(sumsq(p, n) / (double)n);
    double alpha = (rms > cf->eps2 ? rms : cf->eps2) * rho;
    if (a->decay && cf->weight_decay != 0) {
        const float keep = (float)(1.0 - (double)cf->lr * cf->weight_decay);
        NN_SIMD
        for (int64_t i = 0; i < n; i++)
            p[i] *= keep;
    }

    double usum = 0, denom;
    if (a->rows) {
        const int64_t mat = a->rows * a->cols;
        float *R = st, *C = st + a->lead * a->rows;
        for (int64_t l = 0; l < a->lead; l++) {
            float *Rl = R + l * a->rows, *Cl = C + l * a->cols;
            update_factors(g + l * mat, Rl, Cl, o->work, a->rows, a->cols, w);
            usum += factored_usum(g + l * mat, Rl, Cl, a->rows, a->cols,
                                  row_mean(Rl, a->rows, eps1), eps1sq);
        }
        denom = sqrt(usum / (double)n) / cf->clip_threshold;
        const float scale = (float)(alpha / (denom > 1 ? denom : 1));
        for (int64_t l = 0; l < a->lead; l++) {
            const float *Rl = R + l * a->rows;
            factored_apply(p + l * mat, g + l * mat, Rl, C + l * a->cols, a->rows, a->cols,
                           row_mean(Rl, a->rows, eps1), eps1sq, scale);
        }
    } else {
        float *restrict V = st;
        const float wf = (float)w, w1 = (float)(1.0 - w);
        float s = 0;
        if (w < 0.5) {
            NN_SIMD_SUM
            for (int64_t i = 0; i < n; i++) {
                float g2 = g[i] * g[i], v = V[i] + wf * (g2 - V[i]);
                V[i] = v;
                float u = g[i] / sqrtf(floor_at(v, eps1sq));
                s += u * u;
            }
        } else {
            NN_SIMD_SUM
            for (int64_t i = 0; i < n; i++) {
                float g2 = g[i] * g[i], v = g2 - (g2 - V[i]) * w1;
                V[i] = v;
                float u = g[i] / sqrtf(floor_at(v, eps1sq));
                s += u * u;
            }
        }
        denom = sqrt((double)s / (double)n) / cf->clip_threshold;
        const float scale = (float)(alpha / (denom > 1 ? denom : 1));
        NN_SIMD
        for (int64_t i = 0; i < n; i++)
            p[i] -= scale * (g[i] / sqrtf(floor_at(V[i], eps1sq)));
    }
}

void nn_adafactor_step(nn_optim *o, int64_t lo, int64_t hi)
{
    const struct nn_optim_cfg *c = &o->cfg;
    const double t = (double)o->steps;
    const double w = pow(t, c->beta2_decay);
    const double rho = fmin(c->lr, 1.0 / sqrt(t));
    for (int i = 0; i < o->nparams; i++)
        if (o->af[i].off >= lo && o->af[i].off < hi &&
            nn_param_is_trainable(nn_graph_param(o->g, i))) /* buffers stay */
            step_param(o, &o->af[i], w, rho);
}
