/*
 * binary.c - elementwise add, sub, mul with broadcasting of the smaller
 * operand over the rows of the larger (a bias), and scale by a constant.
 * add(a, b) = a + b; sub(a, b) = a - b; mul(a, b) = a * b; scale(a) = c a.
 */
#include "ops.h"

#include <string.h>

static nn_node *binary(nn_graph *g, enum nn_op op, nn_node *a, nn_node *b)
{
    nn_node *in[2] = {a, b};
    return nn_node_new(g, op, NULL, in, 2, NULL);
}
nn_node *nn_add(nn_graph *g, nn_node *a, nn_node *b) { return binary(g, NN_OP_ADD, a, b); }
nn_node *nn_sub(nn_graph *g, nn_node *a, nn_node *b) { return binary(g, NN_OP_SUB, a, b); }
nn_node *nn_mul(nn_graph *g, nn_node *a, nn_node *b) { return binary(g, NN_OP_MUL, a, b); }

nn_node *nn_scale(nn_graph *g, nn_node *a, float c)
{
    union nn_attr at = {.f = {c}};
    return nn_node_new(g, NN_OP_SCALE, NULL, &a, 1, &at);
}

/* Whether s's shape (leading 1s dropped) is a trailing part of big's. */
static bool is_suffix(const nn_node *s, const nn_node *big)
{
    if (s->sample_numel == 1 && !s->batched)
        return true;
    int lead = 0;
    while (lead < s->ndim - 1 && s->dim[lead] == 1 && !(s->batched && lead == 0))
        lead++;
    int k = s->ndim - lead;
    if (k > big->ndim)
        return false;
    for (int i = 0; i < k; i++) {
        int si = lead + i, bi = big->ndim - k + i;
        if (s->dim[si] != big->dim[bi])
            return false;
        if ((s->batched && si == 0) != (big->batched && bi == 0))
            return false;
    }
    return true;
}

nn_status nn_binary_infer(nn_graph *g, nn_node *n)
{
    nn_node *a = n->in[0], *b = n->in[1];
    /* The larger operand gives the output shape: more axes, then a batch
     * axis, then more elements. */
    bool a_big = a->ndim != b->ndim ? a->ndim > b->ndim
               : a->batched != b->batched ? a->batched
               : a->sample_numel >= b->sample_numel;
    nn_node *big = a_big ? a : b, *small = a_big ? b : a;
    if (!is_suffix(small, big)) {
        char sa[64], sb[64];
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "%s: shapes a %s and b %s do not broadcast (the smaller must match "
                       "the trailing axes of the larger, or have one element)",
                       nn_op_table[n->op].name, nn_shape_str(a, sa, 64), nn_shape_str(b, sb, 64));
    }
    nn_set_shape(n, big->batched, big->ndim, big->dim);
    return NN_OK;
}

/* The out numel and each operand's period (its numel; it repeats). */
#define BIN_SETUP                                                             \
    nn_node *a = n->in[0], *b = n->in[1];                                     \
    int64_t m = nn_numel(n), na = nn_numel(a), nb = nn_numel(b);              \
    const float *x = a->val, *y = b->val;                                     \
    float *out = n->val;                                                      \
    (void)g; (void)x; (void)y; (void)out

/* Runs body for every output element o, with i = a's index, j = b's index. */
#define BIN_LOOP(body)                                                        \
    do {                                                                      \
        if (na == m && nb == m) {                                             \
            NN_SIMD for (int64_t o = 0; o < m; o++) { int64_t i = o, j = o; (void)i; (void)j; body; } \
        } else if (na == m) {                                                 \
            for (int64_t r = 0; r < m; r += nb)                               \
                NN_SIMD for (int64_t j = 0; j < nb; j++) { int64_t o = r + j, i = o; (void)i; body; } \
        } else {                                                              \
            for (int64_t r = 0; r < m; r += na)                               \
                NN_SIMD for (int64_t i = 0; i < na; i++) { int64_t o = r + i, j = o; (void)j; body; } \
        }                                                                     \
    } while (0)

nn_status nn_add_forward(nn_graph *g, nn_node *n)
{
    BIN_SETUP;
    BIN_LOOP(out[o] = x[i] + y[j]);
    return NN_OK;
}

void nn_add_backward(nn_graph *g, nn_node *n)
{
    BIN_SETUP;
    const float *d = n->grad;
    if (a->grad) { float *da = a->grad; BIN_LOOP(da[i] += d[o]); }
    if (b->grad) { float *db = b->grad; BIN_LOOP(db[j] += d[o]); }
}

nn_status nn_sub_forward(nn_graph *g, nn_node *n)
{
    BIN_SETUP;
    BIN_LOOP(out[o] = x[i] - y[j]);
    return NN_OK;
}

void nn_sub_backward(nn_graph *g, nn_node *n)
{
    BIN_SETUP;
    const float *d = n->grad;
    if (a->grad) { float *da = a->grad; BIN_LOOP(da[i] += d[o]); }
    if (b->grad) { float *db = b->grad; BIN_LOOP(db[j] -= d[o]); }
}

nn_status nn_mul_forward(nn_graph *g, nn_node *n)
{
    BIN_SETUP;
    BIN_LOOP(out[o] = x[i] * y[j]);
    return NN_OK;
}

void nn_mul_backward(nn_graph *g, nn_node *n)
{
    BIN_SETUP;
    const float *d = n->grad;
    if (a->grad) { float *da = a->grad; BIN_LOOP(da[i] += d[o] * y[j]); }
    if (b->grad) { float *db = b->grad; BIN_LOOP(db[j] += d[o] * x[i]); }
}

nn_status nn_scale_forward(nn_graph *g, nn_node *n)
{
    (void)g;
    float c = n->attr.f[0];
    const float *x = n->in[0]->val;
    int64_t m = nn_numel(n);
    for (int64_t i = 0; i < m; i++)
        n->val[i] = c * x[i];
    return NN_OK;
}

void nn_scale_backward(nn_graph *g, nn_node *n)
{
    (void)g;
    float c = n->attr.f[0];
    float *dx = n->in[0]->grad;
    int64_t m = nn_numel(n);
    if (dx)
        for (int64_t i = 0; i < m; i++)
            dx[i] += c * n->grad[i];
}

/* Examples: a batched input with a parameter bias broadcast over its rows
 * (add, mul), and the bias on the left (sub) so both branches are checked. */
nn_node *nn_add_example(nn_graph *g)
{
    nn_node *x = nn_ex_input(g, "x", 1, (int64_t[]){4});
    nn_node *b = nn_ex_param(g, "b", 1, (int64_t[]){4});
    return nn_add(g, x, b);
}

nn_node *nn_sub_example(nn_graph *g)
{
    nn_node *x = nn_ex_input(g, "x", 1, (int64_t[]){4});
    nn_node *b = nn_ex_param(g, "b", 1, (int64_t[]){4});
    return nn_sub(g, b, x);
}

nn_node *nn_mul_example(nn_graph *g)
{
    nn_node *x = nn_ex_input(g, "x", 2, (int64_t[]){2, 3});
    nn_node *w = nn_ex_param(g, "w", 1, (int64_t[]){3});
    return nn_mul(g, x, w);
}

nn_node *nn_scale_example(nn_graph *g)
{
    return nn_scale(g, nn_ex_input(g, "x", 1, (int64_t[]){4}), -2.5f);
}
