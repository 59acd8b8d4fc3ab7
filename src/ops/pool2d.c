/*
 * pool2d.c - pooling over NCHW tensors, in PyTorch's floor mode:
 *   maxpool2d: y[n, c, i, j] = max of x over the window at (i sh - ph,
 *              j sw - pw) of kh x kw, padding counting as -inf; the argmax
 *              of each window is kept (arena scratch) for the backward pass
 *   avgpool2d: the window's sum divided by kh kw (padding counts as zeros,
 *              PyTorch's count_include_pad=True)
 *   global_avgpool: y[n, c] = mean over h, w of x[n, c]
 * Output size per axis: floor((H + 2P - K) / S) + 1. The arithmetic is
 * behind the entry point of conv.h.
 */
#include "ops.h"

#include "../conv.h"

#include <stdint.h>

#define MAX_WIN (1 << 20)

static nn_node *pool(nn_graph *g, enum nn_op op, nn_node *x, const struct nn_pool2d_cfg *cfg)
{
    struct nn_pool2d_cfg c = cfg ? *cfg : (struct nn_pool2d_cfg){0};
    if (g && x) {
        const char *nm = c.name ? c.name : nn_op_table[op].name, *bad = NULL;
        int v = 0;
#define CHECK(f, lo)                                                          \
    if (!bad && (c.f < (lo) || c.f > MAX_WIN))                                \
        bad = #f, v = c.f
        CHECK(kernel_h, 1); CHECK(kernel_w, 1); CHECK(stride_h, 0); CHECK(stride_w, 0);
        CHECK(pad_h, 0); CHECK(pad_w, 0);
#undef CHECK
        if (bad) {
            g->error = true;
            nn_fail(g->ctx, NN_ERR_INVALID, "%s '%s': %s is %d, expected %s to %d",
                    nn_op_table[op].name, nm, bad, v,
                    bad[0] == 'p' ? "0" : bad[0] == 'k' ? "1" : "1 (or 0 for the kernel size)",
                    MAX_WIN);
            return NULL;
        }
    }
    union nn_attr at = {.win = {c.kernel_h, c.kernel_w, c.stride_h ? c.stride_h : c.kernel_h,
                                c.stride_w ? c.stride_w : c.kernel_w, c.pad_h, c.pad_w, 1, 1,
                                1}};
    return nn_node_new(g, op, c.name, &x, 1, &at);
}

nn_node *nn_maxpool2d(nn_graph *g, nn_node *x, const struct nn_pool2d_cfg *cfg)
{
    return pool(g, NN_OP_MAXPOOL2D, x, cfg);
}

nn_node *nn_avgpool2d(nn_graph *g, nn_node *x, const struct nn_pool2d_cfg *cfg)
{
    return pool(g, NN_OP_AVGPOOL2D, x, cfg);
}

nn_node *nn_global_avgpool(nn_graph *g, nn_node *x)
{
    return nn_unary_new(g, NN_OP_GLOBAL_AVGPOOL, x);
}

nn_status nn_pool2d_infer(nn_graph *g, nn_node *n)
{
    nn_node *x = n->in[0];
    const struct nn_win2d *k = &n->attr.win;
    const char *op = nn_op_table[n->op].name;
    char sx[64];
    nn_shape_str(x, sx, 64);
    if (x->ndim != 4)
        return nn_fail(g->ctx, NN_ERR_SHAPE, "%s '%s': the input must be 4-D (N, C, H, W), "
                       "got %s", op, n->name, sx);
    if (2 * k->ph > k->kh || 2 * k->pw > k->kw)
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "%s '%s': padding %dx%d is more than half the kernel %dx%d (as in "
                       "PyTorch, every window must hold an input element)",
                       op, n->name, k->ph, k->pw, k->kh, k->kw);
    int64_t H = x->dim[2], W = x->dim[3];
    int64_t OH = nn_win_out(H, k->kh, k->sh, k->ph, 1);
    int64_t OW = nn_win_out(W, k->kw, k->sw, k->pw, 1);
    if (OH < 1 || OW < 1)
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "%s '%s': the kernel %dx%d exceeds the padded input %lldx%lld (input "
                       "%s, padding %dx%d)", op, n->name, k->kh, k->kw,
                       (long long)(H + 2 * k->ph), (long long)(W + 2 * k->pw), sx, k->ph, k->pw);
    if (H * W > INT32_MAX)
        return nn_fail(g->ctx, NN_ERR_SHAPE, "%s '%s': planes of %lldx%lld are too large "
                       "(at most 2^31 - 1 elements)", op, n->name, (long long)H, (long long)W);
    nn_set_shape(n, x->batched, 4, (int64_t[]){x->dim[0], x->dim[1], OH, OW});
    return NN_OK;
}

static struct nn_conv2d_geom geom(const nn_node *n)
{
    const nn_node *x = n->in[0];
    return (struct nn_conv2d_geom){x->dim[1], x->dim[2], x->dim[3],
                                   n->dim[1], n->dim[2], n->dim[3], n->attr.win};
}

/* One int32 argmax per output element. */
int64_t nn_maxpool2d_aux(const nn_node *n, int64_t max_batch)
{
    _Static_assert(sizeof(int32_t) == sizeof(float), "argmax indices share float scratch");
    return n->sample_numel * (n->batched ? max_batch : 1);
}

nn_status nn_maxpool2d_forward(nn_graph *g, nn_node *n)
{
    struct nn_conv2d_geom q = geom(n);
    nn_maxpool2d_fwd(g->ctx, &q, nn_dim0(n), n->in[0]->val, n->val, (int32_t *)(void *)n->aux);
    return NN_OK;
}

void nn_maxpool2d_backward(nn_graph *g, nn_node *n)
{
    struct nn_conv2d_geom q = geom(n);
    if (n->in[0]->grad)
        nn_maxpool2d_bwd(g->ctx, &q, nn_dim0(n), n->grad, (const int32_t *)(void *)n->aux,
                         n->in[0]->grad);
}

/* Average pooling's backend plan, made at compile time (conv.h). */
nn_status nn_avgpool2d_prepare(nn_graph *g, nn_node *n, int64_t max_batch)
{
    struct nn_conv2d_geom q = geom(n);
    nn_conv_plan *p = NULL;
    nn_status st = nn_avgpool2d_plan_new(g->ctx, n->name, &q,
                                         n->in[0]->requires_grad ? NN_CONV_DATA_GRAD : 0,
                                         n->batched ? max_batch : n->dim[0], &p);
    n->state = p;
    return st;
}

void nn_avgpool2d_release(nn_node *n)
{
    nn_conv_plan_free(n->state);
    n->state = NULL;
}

int64_t nn_avgpool2d_aux(const nn_node *n, int64_t max_batch)
{
    (void)max_batch;
    return nn_conv_plan_scratch(n->state);
}

nn_status nn_avgpool2d_forward(nn_graph *g, nn_node *n)
{
    nn_avgpool2d_fwd(g->ctx, n->state, nn_dim0(n), n->in[0]->val, n->val, n->aux);
    return NN_OK;
}

void nn_avgpool2d_backward(nn_graph *g, nn_node *n)
{
    if (n->in[0]->grad)
        nn_avgpool2d_bwd(g->ctx, n->state, nn_dim0(n), n->grad, n->in[0]->grad, n->aux);
}

nn_status nn_global_avgpool_infer(nn_graph *g, nn_node *n)
{
    nn_node *x = n->in[0];
    char sx[64];
    if (x->ndim != 4)
        return nn_fail(g->ctx, NN_ERR_SHAPE, "global_avgpool '%s': the input must be 4-D "
                       "(N, C, H, W), got %s", n->name, nn_shape_str(x, sx, 64));
    nn_set_shape(n, x->batched, 2, (int64_t[]){x->dim[0], x->dim[1]});
    return NN_OK;
}

nn_status nn_global_avgpool_forward(nn_graph *g, nn_node *n)
{
    const nn_node *x = n->in[0];
    nn_global_avgpool_fwd(g->ctx, nn_numel(n), x->dim[2] * x->dim[3], x->val, n->val);
    return NN_OK;
}

void nn_global_avgpool_backward(nn_graph *g, nn_node *n)
{
    nn_node *x = n->in[0];
    if (x->grad)
        nn_global_avgpool_bwd(g->ctx, nn_numel(n), x->dim[2] * x->dim[3], n->grad, x->grad);
}

/* Overlapping windows (stride < kernel) on a non-square input whose size
 * the windows do not divide, with padding. */
nn_node *nn_maxpool2d_example(nn_graph *g)
{
    nn_node *x = nn_ex_input(g, "x", 3, (int64_t[]){2, 5, 7});
    return nn_maxpool2d(g, x, &(struct nn_pool2d_cfg){.kernel_h = 3, .kernel_w = 2,
                                                      .stride_h = 2, .stride_w = 1,
                                                      .pad_h = 1, .pad_w = 1});
}

nn_node *nn_avgpool2d_example(nn_graph *g)
{
    nn_node *x = nn_ex_input(g, "x", 3, (int64_t[]){2, 5, 7});
    return nn_avgpool2d(g, x, &(struct nn_pool2d_cfg){.kernel_h = 3, .kernel_w = 2,
                                                      .stride_h = 2, .stride_w = 1,
                                                      .pad_h = 1, .pad_w = 1});
}

nn_node *nn_global_avgpool_example(nn_graph *g)
{
    return nn_global_avgpool(g, nn_ex_input(g, "x", 3, (int64_t[]){3, 2, 5}));
}
