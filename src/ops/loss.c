/*
 * loss.c - the losses, fused with their output nonlinearity where the
 * numerics demand it. Each returns a scalar of shape (1).
 *   softmax_cross_entropy: mean over rows of logsumexp(z) - z[y]
 *     d/dz = (softmax(z) - onehot(y)) / rows
 *   sigmoid_bce: mean of max(z, 0) - z t + log1p(e^-|z|)
 *     d/dz = (sigmoid(z) - t) / n,  d/dt = -z / n
 *   bce: mean of -(t log p + (1 - t) log(1 - p)), p clamped to [eps, 1-eps]
 *     d/dp = (p - t) / (p (1 - p)) / n inside the clamp, 0 outside;
 *     d/dt = (log(1 - p) - log p) / n
 *   mse: mean of (p - t)^2;  d/dp = 2 (p - t) / n = -d/dt
 */
#include "ops.h"

#include <math.h>

#define BCE_EPS 1e-7f

nn_node *nn_softmax_cross_entropy(nn_graph *g, nn_node *logits, nn_node *labels)
{
    nn_node *in[2] = {logits, labels};
    return nn_node_new(g, NN_OP_SOFTMAX_CE, NULL, in, 2, NULL);
}

static nn_node *pair(nn_graph *g, enum nn_op op, nn_node *a, nn_node *b)
{
    nn_node *in[2] = {a, b};
    return nn_node_new(g, op, NULL, in, 2, NULL);
}
nn_node *nn_sigmoid_bce(nn_graph *g, nn_node *z, nn_node *t) { return pair(g, NN_OP_SIGMOID_BCE, z, t); }
nn_node *nn_bce(nn_graph *g, nn_node *p, nn_node *t) { return pair(g, NN_OP_BCE, p, t); }
nn_node *nn_mse(nn_graph *g, nn_node *p, nn_node *t) { return pair(g, NN_OP_MSE, p, t); }

nn_status nn_softmax_ce_infer(nn_graph *g, nn_node *n)
{
    nn_node *z = n->in[0], *y = n->in[1];
    char s[64];
    if (z->ndim != 2 || !z->batched)
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "softmax_cross_entropy: logits must be (N, classes), got %s",
                       nn_shape_str(z, s, 64));
    if (y->op != NN_OP_LABELS)
        return nn_fail(g->ctx, NN_ERR_INVALID,
                       "softmax_cross_entropy: '%s' is not a labels node (use nn_labels)",
                       y->name);
    nn_set_shape(n, false, 1, (int64_t[]){1});
    return NN_OK;
}

int64_t nn_softmax_ce_aux(const nn_node *n, int64_t max_batch)
{
    return n->in[0]->sample_numel * (n->in[0]->batched ? max_batch : 1);
}

nn_status nn_softmax_ce_forward(nn_graph *g, nn_node *n)
{
    nn_node *z = n->in[0];
    const int32_t *y = (const int32_t *)(const void *)n->in[1]->val;
    int64_t rows = nn_dim0(z), c = z->dim[1];
    double total = 0;
    for (int64_t r = 0; r < rows; r++) {
        if (y[r] < 0 || y[r] >= c)
            return nn_fail(g->ctx, NN_ERR_RANGE,
                           "softmax_cross_entropy: label %d of sample %lld is outside "
                           "[0, %lld)", (int)y[r], (long long)r, (long long)c);
        const float *x = z->val + r * c;
        float *p = n->aux + r * c;
        double lse = nn_logsumexp(x, c);
        for (int64_t j = 0; j < c; j++)
            p[j] = (float)exp((double)x[j] - lse);
        total += lse - (double)x[y[r]];
    }
    n->val[0] = (float)(total / (double)rows);
    return NN_OK;
}

void nn_softmax_ce_backward(nn_graph *g, nn_node *n)
{
    (void)g;
    nn_node *z = n->in[0];
    if (!z->grad)
        return;
    const int32_t *y = (const int32_t *)(const void *)n->in[1]->val;
    int64_t rows = nn_dim0(z), c = z->dim[1];
    float d = n->grad[0] / (float)rows;
    for (int64_t r = 0; r < rows; r++) {
        const float *p = n->aux + r * c;
        float *dz = z->grad + r * c;
        for (int64_t j = 0; j < c; j++)
            dz[j] += d * p[j];
        dz[y[r]] -= d;
    }
}

nn_status nn_pair_loss_infer(nn_graph *g, nn_node *n)
{
    nn_node *a = n->in[0], *b = n->in[1];
    bool same = a->ndim == b->ndim && a->batched == b->batched;
    for (int i = 0; same && i < a->ndim; i++)
        same = a->dim[i] == b->dim[i] || (i == 0 && a->batched);
    if (!same) {
        char sa[64], sb[64];
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "%s: prediction %s and target %s must have the same shape",
                       nn_op_table[n->op].name, nn_shape_str(a, sa, 64), nn_shape_str(b, sb, 64));
    }
    nn_set_shape(n, false, 1, (int64_t[]){1});
    return NN_OK;
}

nn_status nn_sigmoid_bce_forward(nn_graph *g, nn_node *n)
{
    (void)g;
    const float *z = n->in[0]->val, *t = n->in[1]->val;
    int64_t m = nn_numel(n->in[0]);
    double s = 0;
    for (int64_t i = 0; i < m; i++)
        s += (z[i] > 0 ? z[i] : 0.0f) - (double)z[i] * t[i] + log1p(exp(-fabs((double)z[i])));
    n->val[0] = (float)(s / (double)m);
    return NN_OK;
}

void nn_sigmoid_bce_backward(nn_graph *g, nn_node *n)
{
    (void)g;
    nn_node *a = n->in[0], *b = n->in[1];
    const float *z = a->val, *t = b->val;
    int64_t m = nn_numel(a);
    float d = n->grad[0] / (float)m;
    for (int64_t i = 0; i < m; i++) {
        if (a->grad) {
            float e = expf(-fabsf(z[i]));
            float sig = z[i] >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
            a->grad[i] += d * (sig - t[i]);
        }
        if (b->grad)
            b->grad[i] -= d * z[i];
    }
}

static inline float clampp(float p)
{
    return p < BCE_EPS ? BCE_EPS : p > 1.0f - BCE_EPS ? 1.0f - BCE_EPS : p;
}

nn_status nn_bce_forward(nn_graph *g, nn_node *n)
{
    (void)g;
    const float *p = n->in[0]->val, *t = n->in[1]->val;
    int64_t m = nn_numel(n->in[0]);
    double s = 0;
    for (int64_t i = 0; i < m; i++) {
        double pc = clampp(p[i]);
        s -= t[i] * log(pc) + (1.0 - t[i]) * log(1.0 - pc);
    }
    n->val[0] = (float)(s / (double)m);
    return NN_OK;
}

void nn_bce_backward(nn_graph *g, nn_node *n)
{
    (void)g;
    nn_node *a = n->in[0], *b = n->in[1];
    const float *p = a->val, *t = b->val;
    int64_t m = nn_numel(a);
    float d = n->grad[0] / (float)m;
    for (int64_t i = 0; i < m; i++) {
        float pc = clampp(p[i]);
        if (a->grad && pc == p[i])
            a->grad[i] += d * (pc - t[i]) / (pc * (1.0f - pc));
        if (b->grad)
            b->grad[i] += d * (logf(1.0f - pc) - logf(pc));
    }
}

nn_status nn_mse_forward(nn_graph *g, nn_node *n)
{
    (void)g;
    const float *p = n->in[0]->val, *t = n->in[1]->val;
    int64_t m = nn_numel(n->in[0]);
    double s = 0;
    for (int64_t i = 0; i < m; i++) {
        double e = (double)p[i] - t[i];
        s += e * e;
    }
    n->val[0] = (float)(s / (double)m);
    return NN_OK;
}

void nn_mse_backward(nn_graph *g, nn_node *n)
{
    (void)g;
    nn_node *a = n->in[0], *b = n->in[1];
    int64_t m = nn_numel(a);
    float d = 2.0f * n->grad[0] / (float)m;
    for (int64_t i = 0; i < m; i++) {
        float e = d * (a->val[i] - b->val[i]);
        if (a->grad)
            a->grad[i] += e;
        if (b->grad)
            b->grad[i] -= e;
    }
}

nn_node *nn_softmax_ce_example(nn_graph *g)
{
    nn_node *z = nn_ex_input(g, "z", 1, (int64_t[]){5});
    return nn_softmax_cross_entropy(g, z, nn_labels(g, "y"));
}

nn_node *nn_sigmoid_bce_example(nn_graph *g)
{
    nn_node *z = nn_ex_input(g, "z", 1, (int64_t[]){4});
    nn_node *t = nn_ex_input(g, "t", 1, (int64_t[]){4});
    return nn_sigmoid_bce(g, z, t);
}

nn_node *nn_bce_example(nn_graph *g)
{
    nn_node *p = nn_ex_input(g, "p", 1, (int64_t[]){4});
    nn_node *t = nn_ex_input(g, "t", 1, (int64_t[]){4});
    return nn_bce(g, p, t);
}

nn_node *nn_mse_example(nn_graph *g)
{
    nn_node *p = nn_ex_input(g, "p", 1, (int64_t[]){3});
    nn_node *t = nn_ex_param(g, "t", 2, (int64_t[]){1, 3});
    return nn_mse(g, p, nn_add(g, t, nn_ex_input(g, "u", 1, (int64_t[]){3})));
}
