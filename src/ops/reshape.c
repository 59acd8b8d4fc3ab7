/*
 * reshape.c - reshape and flatten: the same elements in the same row-major
 * order under another shape. reshape(x)[i] = x[i].
 *
 * A view, not a copy: the op table marks it so, and compile points its
 * value at its input's storage (graph.c). Its gradient is its input's
 * storage as well, so consumers of the view accumulate straight into the
 * input's gradient and the backward pass has nothing to do; the exception
 * is a view of a parameter, whose gradient zeroing is deferred (nn_zero_grad):
 * there the view keeps a gradient of its own and adds it to the
 * parameter's in its backward pass.
 */
#include "ops.h"

#include <string.h>

nn_node *nn_reshape(nn_graph *g, nn_node *x, int ndim, const int64_t *dims)
{
    if (g && x) {
        int max = x->batched ? NN_MAX_DIMS - 1 : NN_MAX_DIMS;
        if (ndim < 1 || ndim > max || !dims) {
            g->error = true;
            nn_fail(g->ctx, NN_ERR_SHAPE, "reshape of '%s': %d dimensions given, expected 1 "
                    "to %d%s", x->name, ndim, max, x->batched ? " (besides the batch axis)" : "");
            return NULL;
        }
    }
    union nn_attr at = {.shape = {.ndim = ndim}};
    if (dims && ndim > 0 && ndim <= NN_MAX_DIMS)
        memcpy(at.shape.dim, dims, (size_t)ndim * sizeof *dims);
    return nn_node_new(g, NN_OP_RESHAPE, NULL, &x, 1, &at);
}

nn_node *nn_flatten(nn_graph *g, nn_node *x)
{
    if (g && x && x->ndim < 2) {
        char s[64];
        g->error = true;
        nn_fail(g->ctx, NN_ERR_SHAPE, "flatten of '%s': needs at least 2 axes, got %s",
                x->name, nn_shape_str(x, s, sizeof s));
        return NULL;
    }
    if (!x)
        return nn_reshape(g, x, 1, (int64_t[]){-1});
    if (x->batched)
        return nn_reshape(g, x, 1, (int64_t[]){x->sample_numel});
    return nn_reshape(g, x, 2, (int64_t[]){x->dim[0], -1});
}

nn_status nn_reshape_infer(nn_graph *g, nn_node *n)
{
    nn_node *x = n->in[0];
    int nd = n->attr.shape.ndim, lead = x->batched, free_axis = -1;
    const int64_t *d = n->attr.shape.dim;
    char sx[64], req[96];
    int off = snprintf(req, sizeof req, "(%s", x->batched ? "N" : "");
    for (int i = 0; i < nd && off < (int)sizeof req; i++)
        off += snprintf(req + off, sizeof req - (size_t)off, "%s%lld",
                        i || x->batched ? ", " : "", (long long)d[i]);
    if (off < (int)sizeof req)
        snprintf(req + off, sizeof req - (size_t)off, ")");
    int64_t known = 1;
    for (int i = 0; i < nd; i++) {
        if (d[i] == -1 && free_axis < 0) {
            free_axis = i;
            continue;
        }
        if (d[i] < 1)
            return nn_fail(g->ctx, NN_ERR_SHAPE,
                           "reshape of '%s' %s to %s: dimension %d is %lld, expected >= 1 "
                           "(or one -1, inferred)", x->name, nn_shape_str(x, sx, 64), req,
                           i + lead, (long long)d[i]);
        known *= d[i];
    }
    int64_t full[NN_MAX_DIMS] = {x->dim[0]};
    for (int i = 0; i < nd; i++)
        full[i + lead] = d[i];
    if (free_axis >= 0) {
        if (x->sample_numel % known)
            return nn_fail(g->ctx, NN_ERR_SHAPE,
                           "reshape of '%s' %s to %s: %lld elements%s do not divide by %lld",
                           x->name, nn_shape_str(x, sx, 64), req, (long long)x->sample_numel,
                           x->batched ? " per sample" : "", (long long)known);
        full[free_axis + lead] = x->sample_numel / known;
        known = x->sample_numel;
    }
    if (known != x->sample_numel)
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "reshape of '%s' %s to %s: %lld elements%s, the new shape holds %lld",
                       x->name, nn_shape_str(x, sx, 64), req, (long long)x->sample_numel,
                       x->batched ? " per sample" : "", (long long)known);
    nn_set_shape(n, x->batched, nd + lead, full);
    return NN_OK;
}

void nn_reshape_backward(nn_graph *g, nn_node *n)
{
    (void)g;
    nn_node *x = n->in[0];
    if (!x->grad || x->grad == n->grad) /* shared: consumers added to it already */
        return;
    int64_t m = nn_numel(n);
    for (int64_t i = 0; i < m; i++)
        x->grad[i] += n->grad[i];
}

nn_node *nn_reshape_example(nn_graph *g)
{
    nn_node *x = nn_ex_input(g, "x", 3, (int64_t[]){2, 3, 2});
    return nn_reshape(g, x, 2, (int64_t[]){3, -1});
}
