/*
 * conv2d.c - 2-D convolution over NCHW tensors (PyTorch's conv2d, which is
 * a cross-correlation):
 *   y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q]
 *                   x[n, g(o) C/G + c, i sh - ph + p dh, j sw - pw + q dw]
 * with zero padding, groups G (output channel o sees the input channels of
 * its group g(o) = o / (O/G)) and an optional bias. Output size per axis:
 * floor((H + 2P - D(K-1) - 1) / S) + 1. The arithmetic is behind the
 * entry point of conv.h; this file checks shapes and wires the graph.
 */
#include "ops.h"

#include "../conv.h"

#define MAX_WIN (1 << 20) /* kernel, stride, padding, dilation, groups */

int64_t nn_conv_output_size(int64_t in, int kernel, int stride, int pad, int dilation)
{
    if (in < 1 || kernel < 1 || stride < 1 || pad < 0 || dilation < 1)
        return 0;
    return nn_win_out(in, kernel, stride, pad, dilation);
}

nn_status nn_conv2d_same_pad(nn_ctx *ctx, int kernel, int dilation, int *pad)
{
    if (kernel < 1 || dilation < 1 || kernel > MAX_WIN || dilation > MAX_WIN)
        return nn_fail(ctx, NN_ERR_INVALID,
                       "same padding: kernel %d and dilation %d must be 1 to %d", kernel,
                       dilation, MAX_WIN);
    int64_t span = (int64_t)dilation * (kernel - 1);
    if (span % 2)
        return nn_fail(ctx, NN_ERR_INVALID,
                       "same padding: kernel %d with dilation %d needs %lld padding in all, "
                       "which does not split evenly between the two sides (use an odd "
                       "kernel)", kernel, dilation, (long long)span);
    *pad = (int)(span / 2);
    return NN_OK;
}

nn_node *nn_conv2d(nn_graph *g, nn_node *x, nn_node *w, nn_node *b,
                   const struct nn_conv2d_cfg *cfg)
{
    struct nn_conv2d_cfg c = cfg ? *cfg : (struct nn_conv2d_cfg){0};
    if (g && x && w) {
        const char *nm = c.name ? c.name : "conv2d";
        const char *bad = NULL;
        int v = 0;
#define CHECK(f, lo)                                                          \
    if (!bad && (c.f < (lo) || c.f > MAX_WIN))                                \
        bad = #f, v = c.f
        CHECK(stride_h, 0); CHECK(stride_w, 0); CHECK(pad_h, 0); CHECK(pad_w, 0);
        CHECK(dil_h, 0); CHECK(dil_w, 0); CHECK(groups, 0);
#undef CHECK
        if (bad) {
            g->error = true;
            nn_fail(g->ctx, NN_ERR_INVALID, "conv2d '%s': %s is %d, expected %s to %d", nm,
                    bad, v, bad[0] == 'p' ? "0" : "1 (or 0 for the default 1)", MAX_WIN);
            return NULL;
        }
    }
    union nn_attr at = {.win = {0, 0, c.stride_h ? c.stride_h : 1, c.stride_w ? c.stride_w : 1,
                                c.pad_h, c.pad_w, c.dil_h ? c.dil_h : 1, c.dil_w ? c.dil_w : 1,
                                c.groups ? c.groups : 1}};
    nn_node *in[3] = {x, w, b};
    return nn_node_new(g, NN_OP_CONV2D, c.name, in, b ? 3 : 2, &at);
}

nn_status nn_conv2d_infer(nn_graph *g, nn_node *n)
{
    nn_node *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
    struct nn_win2d *k = &n->attr.win;
    char sx[64], sw[64], sb[64];
    nn_shape_str(x, sx, 64);
    nn_shape_str(w, sw, 64);
    if (x->ndim != 4)
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "conv2d '%s': the input must be 4-D (N, C, H, W), got %s", n->name, sx);
    if (w->ndim != 4 || w->batched)
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "conv2d '%s': the weight must be 4-D (out, in/groups, kh, kw) without "
                       "a batch axis, got %s", n->name, sw);
    int64_t C = x->dim[1], O = w->dim[0], G = k->groups;
    if (C % G)
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "conv2d '%s': the input's %lld channels (input %s) do not divide "
                       "into %lld groups", n->name, (long long)C, sx, (long long)G);
    if (O % G)
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "conv2d '%s': the weight's %lld output channels (weight %s) do not "
                       "divide into %lld groups", n->name, (long long)O, sw, (long long)G);
    if (w->dim[1] != C / G)
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "conv2d '%s': the weight %s takes %lld input channels per group, but "
                       "the input %s has %lld (%lld channels in %lld group%s)", n->name, sw,
                       (long long)w->dim[1], sx, (long long)(C / G), (long long)C,
                       (long long)G, G > 1 ? "s" : "");
    if (b && (b->ndim != 1 || b->batched || b->dim[0] != O))
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "conv2d '%s': the bias must be (%lld), one per output channel of the "
                       "weight %s; got %s", n->name, (long long)O, sw,
                       nn_shape_str(b, sb, 64));
    if (w->dim[2] > MAX_WIN || w->dim[3] > MAX_WIN)
        return nn_fail(g->ctx, NN_ERR_SHAPE, "conv2d '%s': kernel %lldx%lld is too large",
                       n->name, (long long)w->dim[2], (long long)w->dim[3]);
    k->kh = (int)w->dim[2];
    k->kw = (int)w->dim[3];
    int64_t H = x->dim[2], W = x->dim[3];
    int64_t OH = nn_win_out(H, k->kh, k->sh, k->ph, k->dh);
    int64_t OW = nn_win_out(W, k->kw, k->sw, k->pw, k->dw);
    if (OH < 1 || OW < 1)
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "conv2d '%s': the kernel %dx%d (dilation %dx%d: it spans %lldx%lld) "
                       "exceeds the padded input %lldx%lld (input %s, padding %dx%d)",
                       n->name, k->kh, k->kw, k->dh, k->dw,
                       (long long)k->dh * (k->kh - 1) + 1, (long long)k->dw * (k->kw - 1) + 1,
                       (long long)(H + 2 * k->ph), (long long)(W + 2 * k->pw), sx, k->ph, k->pw);
    nn_set_shape(n, x->batched, 4, (int64_t[]){x->dim[0], O, OH, OW});
    return NN_OK;
}

static struct nn_conv2d_geom geom(const nn_node *n)
{
    const nn_node *x = n->in[0];
    return (struct nn_conv2d_geom){x->dim[1], x->dim[2], x->dim[3],
                                   n->dim[1], n->dim[2], n->dim[3], n->attr.win};
}

/* The backend's plan: made once at compile time for the passes this node
 * runs (its data gradient if its input takes one, its weight gradient if
 * the weight or bias does), reused by every batch. */
nn_status nn_conv2d_prepare(nn_graph *g, nn_node *n, int64_t max_batch)
{
    struct nn_conv2d_geom q = geom(n);
    const nn_node *b = n->nin > 2 ? n->in[2] : NULL;
    unsigned needs = 0;
    if (n->requires_grad) {
        needs |= n->in[0]->requires_grad ? NN_CONV_DATA_GRAD : 0;
        needs |= n->in[1]->requires_grad || (b && b->requires_grad) ? NN_CONV_WEIGHT_GRAD : 0;
    }
    nn_conv_plan *p = NULL;
    nn_status st = nn_conv2d_plan_new(g->ctx, n->name, &q, b != NULL, needs,
                                      n->batched ? max_batch : n->dim[0], &p);
    n->state = p;
    return st;
}

void nn_conv2d_release(nn_node *n)
{
    nn_conv_plan_free(n->state);
    n->state = NULL;
}

int64_t nn_conv2d_aux(const nn_node *n, int64_t max_batch)
{
    (void)max_batch; /* the plan was made for it */
    return nn_conv_plan_scratch(n->state);
}

nn_status nn_conv2d_forward(nn_graph *g, nn_node *n)
{
    const nn_node *b = n->nin > 2 ? n->in[2] : NULL;
    nn_conv2d_fwd(g->ctx, n->state, nn_dim0(n), n->in[0]->val, n->in[1]->val,
                  b ? b->val : NULL, n->val, n->aux);
    return NN_OK;
}

void nn_conv2d_backward(nn_graph *g, nn_node *n)
{
    nn_node *x = n->in[0], *w = n->in[1], *b = n->nin > 2 ? n->in[2] : NULL;
    nn_conv2d_bwd(g->ctx, n->state, nn_dim0(n), x->val, w->val, n->grad, x->grad, w->grad,
                  b ? b->grad : NULL, n->aux);
}

/* Non-square input and kernel, stride, padding, dilation and two groups. */
nn_node *nn_conv2d_example(nn_graph *g)
{
    nn_node *x = nn_ex_input(g, "x", 3, (int64_t[]){4, 5, 4});
    nn_node *w = nn_ex_param(g, "w", 4, (int64_t[]){4, 2, 3, 2});
    nn_node *b = nn_ex_param(g, "b", 1, (int64_t[]){4});
    return nn_conv2d(g, x, w, b,
                     &(struct nn_conv2d_cfg){.stride_h = 2, .pad_h = 1, .pad_w = 1,
                                             .dil_w = 2, .groups = 2});
}
