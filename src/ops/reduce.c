/*
 * reduce.c - sums and means: over every element (to shape (1)) or along one
 * axis (which is dropped). sum(x) = sum_i x_i; mean(x) = sum(x) / numel.
 * Sums accumulate in double.
 */
#include "ops.h"

static nn_node *reduce(nn_graph *g, enum nn_op op, nn_node *a, int axis, bool mean)
{
    union nn_attr at = {.i = {axis, mean}};
    return nn_node_new(g, op, NULL, &a, 1, &at);
}
nn_node *nn_sum(nn_graph *g, nn_node *a) { return reduce(g, NN_OP_SUM, a, 0, false); }
nn_node *nn_mean(nn_graph *g, nn_node *a) { return reduce(g, NN_OP_MEAN, a, 0, true); }
nn_node *nn_sum_axis(nn_graph *g, nn_node *a, int axis)
{
    return reduce(g, NN_OP_SUM_AXIS, a, axis, false);
}
nn_node *nn_mean_axis(nn_graph *g, nn_node *a, int axis)
{
    return reduce(g, NN_OP_MEAN_AXIS, a, axis, true);
}

nn_status nn_reduce_all_infer(nn_graph *g, nn_node *n)
{
    (void)g;
    nn_set_shape(n, false, 1, (int64_t[]){1});
    return NN_OK;
}

nn_status nn_reduce_axis_infer(nn_graph *g, nn_node *n)
{
    nn_node *a = n->in[0];
    int axis = n->attr.i[0];
    if (axis < 0)
        axis += a->ndim;
    if (axis < 0 || axis >= a->ndim) {
        char s[64];
        return nn_fail(g->ctx, NN_ERR_SHAPE, "%s: axis %d is out of range for shape %s",
                       nn_op_table[n->op].name, n->attr.i[0], nn_shape_str(a, s, 64));
    }
    n->attr.i[0] = axis;
    int64_t dim[NN_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < a->ndim; i++)
        if (i != axis)
            dim[k++] = a->dim[i];
    if (k == 0)
        dim[k++] = 1;
    nn_set_shape(n, a->batched && axis != 0, k, dim);
    return NN_OK;
}

nn_status nn_sum_forward(nn_graph *g, nn_node *n)
{
    (void)g;
    nn_node *a = n->in[0];
    int64_t m = nn_numel(a);
    double s = 0;
    for (int64_t i = 0; i < m; i++)
        s += a->val[i];
    n->val[0] = (float)(n->attr.i[1] ? s / (double)m : s);
    return NN_OK;
}

void nn_sum_backward(nn_graph *g, nn_node *n)
{
    (void)g;
    nn_node *a = n->in[0];
    if (!a->grad)
        return;
    int64_t m = nn_numel(a);
    float d = n->attr.i[1] ? n->grad[0] / (float)m : n->grad[0];
    for (int64_t i = 0; i < m; i++)
        a->grad[i] += d;
}

/* The input viewed as (outer, len, inner) around the reduced axis. */
static void axis_split(const nn_node *n, int64_t *outer, int64_t *len, int64_t *inner)
{
    const nn_node *a = n->in[0];
    int axis = n->attr.i[0];
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < a->ndim; i++) {
        int64_t d = i == 0 ? nn_dim0(a) : a->dim[i];
        if (i < axis)
            *outer *= d;
        else if (i > axis)
            *inner *= d;
        else
            *len = d;
    }
}

nn_status nn_sum_axis_forward(nn_graph *g, nn_node *n)
{
    (void)g;
    int64_t outer, len, inner;
    axis_split(n, &outer, &len, &inner);
    const float *x = n->in[0]->val;
    double scale = n->attr.i[1] ? 1.0 / (double)len : 1.0;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            double s = 0;
            for (int64_t k = 0; k < len; k++)
                s += x[(o * len + k) * inner + j];
            n->val[o * inner + j] = (float)(s * scale);
        }
    return NN_OK;
}

void nn_sum_axis_backward(nn_graph *g, nn_node *n)
{
    (void)g;
    float *dx = n->in[0]->grad;
    if (!dx)
        return;
    int64_t outer, len, inner;
    axis_split(n, &outer, &len, &inner);
    float scale = n->attr.i[1] ? 1.0f / (float)len : 1.0f;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t k = 0; k < len; k++)
            for (int64_t j = 0; j < inner; j++)
                dx[(o * len + k) * inner + j] += scale * n->grad[o * inner + j];
}

nn_node *nn_sum_example(nn_graph *g)
{
    return nn_sum(g, nn_ex_input(g, "x", 1, (int64_t[]){4}));
}

nn_node *nn_mean_example(nn_graph *g)
{
    return nn_mean(g, nn_ex_input(g, "x", 2, (int64_t[]){2, 3}));
}

nn_node *nn_sum_axis_example(nn_graph *g)
{
    return nn_sum_axis(g, nn_ex_input(g, "x", 2, (int64_t[]){4, 3}), 1);
}

nn_node *nn_mean_axis_example(nn_graph *g)
{
    /* along the batch axis: the output has no batch axis */
    return nn_mean_axis(g, nn_ex_input(g, "x", 1, (int64_t[]){4}), 0);
}
