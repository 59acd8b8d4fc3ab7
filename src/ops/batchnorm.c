/*
 * batchnorm.c - batch normalization over the channel axis (axis 1) of
 * (N, C), (N, C, L) or (N, C, H, W) inputs, as PyTorch's BatchNorm1d/2d:
 *   y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c
 * Training mode normalizes with the batch's statistics over the M = N * L
 * (or N * H * W) values of each channel (biased variance), and updates
 *   running_mean = (1 - momentum) running_mean + momentum mean
 *   running_var  = (1 - momentum) running_var + momentum var M / (M - 1)
 *   num_batches_tracked += 1
 * Evaluation mode normalizes with running_mean and running_var. The three
 * running statistics are buffers (nn_buffer): they live in the parameter
 * block, so checkpoints carry them, and get no gradient.
 *
 * Backward, with xh = (x - mean) invstd and dxh = dy weight:
 *   training:   dx = invstd (dxh - mean(dxh) - xh mean(dxh xh))
 *   evaluation: dx = invstd dxh
 *   dweight = sum dy xh, dbias = sum dy (sums over the channel's values)
 * Each channel is one block of work; sums run in double in a fixed order,
 * so results do not depend on the thread count.
 */
#include "ops.h"

#include <math.h>

nn_node *nn_batchnorm(nn_graph *g, nn_node *x, nn_node *weight, nn_node *bias,
                      nn_node *running_mean, nn_node *running_var,
                      nn_node *num_batches_tracked, const struct nn_batchnorm_cfg *cfg)
{
    struct nn_batchnorm_cfg c = cfg ? *cfg : (struct nn_batchnorm_cfg){0};
    float momentum = c.momentum != 0 ? c.momentum : 0.1f, eps = c.eps != 0 ? c.eps : 1e-5f;
    if (g && (!(momentum > 0 && momentum <= 1) || !(eps > 0) || isinf(eps))) {
        g->error = true;
        nn_fail(g->ctx, NN_ERR_INVALID,
                "batchnorm '%s': momentum %g must be in (0, 1] and eps %g finite and > 0",
                c.name ? c.name : "batchnorm", (double)momentum, (double)eps);
        return NULL;
    }
    union nn_attr at = {.bn = {momentum, eps, 0}};
    nn_node *in[6] = {x, weight, bias, running_mean, running_var, num_batches_tracked};
    nn_node *n = nn_node_new(g, NN_OP_BATCHNORM, c.name, in, 6, &at);
    if (n) /* a count: an int64 scalar in checkpoints, as torch keeps it */
        num_batches_tracked->int_count = true;
    return n;
}

nn_status nn_batchnorm_infer(nn_graph *g, nn_node *n)
{
    nn_node *x = n->in[0];
    char sx[64], s[64];
    nn_shape_str(x, sx, 64);
    if (x->ndim < 2)
        return nn_fail(g->ctx, NN_ERR_SHAPE, "batchnorm '%s': the input must be (N, C), "
                       "(N, C, L) or (N, C, H, W), got %s", n->name, sx);
    int64_t C = x->dim[1];
    static const char *const what[] = {"weight", "bias", "running_mean", "running_var",
                                       "num_batches_tracked"};
    for (int i = 1; i < 6; i++) {
        nn_node *p = n->in[i];
        int64_t want = i == 5 ? 1 : C;
        if (p->ndim != 1 || p->batched || p->dim[0] != want)
            return nn_fail(g->ctx, NN_ERR_SHAPE,
                           "batchnorm '%s': %s '%s' must be (%lld)%s, got %s", n->name,
                           what[i - 1], p->name, (long long)want,
                           i == 5 ? "" : " for the input's channels", nn_shape_str(p, s, 64));
        if (i >= 3 && (p->op != NN_OP_PARAM || p->trainable))
            return nn_fail(g->ctx, NN_ERR_INVALID,
                           "batchnorm '%s': %s '%s' must be a buffer (nn_buffer), which "
                           "keeps no gradient; it is %s", n->name, what[i - 1], p->name,
                           p->op == NN_OP_PARAM ? "a trainable parameter" : "not a parameter");
    }
    nn_set_shape(n, x->batched, x->ndim, x->dim);
    return NN_OK;
}

/* The statistics used by the last forward pass: mean (C), then 1 / sqrt(var
 * + eps) (C). */
int64_t nn_batchnorm_aux(const nn_node *n, int64_t max_batch)
{
    (void)max_batch;
    return 2 * n->dim[1];
}

struct bn_job {
    nn_node *n;
    int64_t rows, C, L; /* x is (rows, C, L) */
    bool batch_stats;
};

#define BN_SETUP(t, nt)                                                       \
    const struct bn_job *j = arg;                                             \
    nn_node *n = j->n;                                                        \
    int64_t C = j->C, L = j->L, rows = j->rows, lo, hi;                       \
    float *mean = n->aux, *invstd = n->aux + C;                               \
    nn_split(C, 1, t, nt, &lo, &hi)

static void bn_forward_part(void *arg, int t, int nt)
{
    BN_SETUP(t, nt);
    const float *x = n->in[0]->val, *w = n->in[1]->val, *b = n->in[2]->val;
    float *rm = n->in[3]->val, *rv = n->in[4]->val, *y = n->val;
    float momentum = n->attr.bn.momentum, eps = n->attr.bn.eps;
    double M = (double)(rows * L);
    for (int64_t c = lo; c < hi; c++) {
        if (j->batch_stats) {
            double s = 0, v = 0;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t i = 0; i < L; i++)
                    s += x[(r * C + c) * L + i];
            double mu = s / M;
            for (int64_t r = 0; r < rows; r++)
                for (int64_t i = 0; i < L; i++) {
                    double d = x[(r * C + c) * L + i] - mu;
                    v += d * d;
                }
            mean[c] = (float)mu;
            invstd[c] = (float)(1.0 / sqrt(v / M + eps));
            rm[c] = (float)((1.0 - momentum) * rm[c] + (double)momentum * mu);
            rv[c] = (float)((1.0 - momentum) * rv[c] + (double)momentum * v / (M - 1));
        } else {
            mean[c] = rm[c];
            invstd[c] = (float)(1.0 / sqrt((double)rv[c] + eps));
        }
        float sc = invstd[c] * w[c], mu = mean[c], bc = b[c];
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + (r * C + c) * L;
            float *yr = y + (r * C + c) * L;
            NN_SIMD
            for (int64_t i = 0; i < L; i++)
                yr[i] = (xr[i] - mu) * sc + bc;
        }
    }
}

static int64_t inner(const nn_node *x)
{
    int64_t L = 1;
    for (int d = 2; d < x->ndim; d++)
        L *= x->dim[d];
    return L;
}

nn_status nn_batchnorm_forward(nn_graph *g, nn_node *n)
{
    nn_node *x = n->in[0];
    struct bn_job j = {n, nn_dim0(x), x->dim[1], inner(x), g->training};
    if (j.batch_stats && j.rows * j.L < 2) {
        char sx[64];
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "batchnorm '%s': training needs more than one value per channel; the "
                       "input %s holds %lld per channel at batch %lld", n->name,
                       nn_shape_str(x, sx, 64), (long long)(j.rows * j.L), (long long)j.rows);
    }
    n->attr.bn.batch_stats = j.batch_stats; /* the mode the backward pass uses */
    int64_t work = j.rows * j.C * j.L;
    nn_pool_run(work >= (1 << 15) ? nn_ctx_pool(g->ctx) : NULL, bn_forward_part, &j);
    if (j.batch_stats)
        n->in[5]->val[0] += 1.0f;
    return NN_OK;
}

static void bn_backward_part(void *arg, int t, int nt)
{
    BN_SETUP(t, nt);
    const float *x = n->in[0]->val, *w = n->in[1]->val, *dy = n->grad;
    float *dx = n->in[0]->grad, *dw = n->in[1]->grad, *db = n->in[2]->grad;
    double M = (double)(rows * L);
    for (int64_t c = lo; c < hi; c++) {
        double sdy = 0, sdyxh = 0;
        float mu = mean[c], is = invstd[c];
        for (int64_t r = 0; r < rows; r++)
            for (int64_t i = 0; i < L; i++) {
                int64_t k = (r * C + c) * L + i;
                sdy += dy[k];
                sdyxh += (double)dy[k] * ((x[k] - mu) * is);
            }
        if (dw)
            dw[c] += (float)sdyxh;
        if (db)
            db[c] += (float)sdy;
        if (!dx)
            continue;
        float sc = w[c] * is;
        float a = j->batch_stats ? (float)(sdy / M) : 0.0f;
        float bq = j->batch_stats ? (float)(sdyxh / M) : 0.0f;
        for (int64_t r = 0; r < rows; r++) {
            int64_t k0 = (r * C + c) * L;
            NN_SIMD
            for (int64_t i = 0; i < L; i++) {
                float xh = (x[k0 + i] - mu) * is;
                dx[k0 + i] += sc * (dy[k0 + i] - a - xh * bq);
            }
        }
    }
}

void nn_batchnorm_backward(nn_graph *g, nn_node *n)
{
    nn_node *x = n->in[0];
    struct bn_job j = {n, nn_dim0(x), x->dim[1], inner(x), n->attr.bn.batch_stats};
    int64_t work = j.rows * j.C * j.L;
    nn_pool_run(work >= (1 << 15) ? nn_ctx_pool(g->ctx) : NULL, bn_backward_part, &j);
}

/* Training mode (batch statistics) over (N, C, H, W) with H != W. */
nn_node *nn_batchnorm_example(nn_graph *g)
{
    nn_graph_set_training(g, true);
    nn_node *x = nn_ex_input(g, "x", 3, (int64_t[]){3, 2, 3});
    int64_t c[1] = {3}, one[1] = {1};
    nn_node *w = nn_ex_param(g, "w", 1, c), *b = nn_ex_param(g, "b", 1, c);
    nn_node *rm = nn_buffer(g, "rm", 1, c, (struct nn_init){.kind = NN_INIT_ZEROS});
    nn_node *rv = nn_buffer(g, "rv", 1, c, (struct nn_init){.kind = NN_INIT_CONSTANT, .a = 1});
    nn_node *nb = nn_buffer(g, "nb", 1, one, (struct nn_init){.kind = NN_INIT_ZEROS});
    return nn_batchnorm(g, x, w, b, rm, rv, nb, NULL);
}
