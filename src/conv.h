/*
 * conv.h - the one entry point for 2-D convolution and pooling kernels on
 * NCHW tensors, as nn_gemm is the one for matrix products. The ops
 * (src/ops/conv2d.c, src/ops/pool2d.c) reach the arithmetic only through
 * these functions. The backend is chosen at build time with nn_gemm's:
 *   - oneDNN (the default build, src/conv_dnnl.c): oneDNN's convolution
 *     (forward, backward data, backward weights with bias) and average
 *     pooling primitives, made once per compiled graph (a plan per node);
 *   - im2col + nn_gemm (the CBLAS build, src/conv.c).
 * Max pooling and global average pooling are the direct loops of conv.c on
 * both builds (conv.c says why).
 *
 * A plan is made when the graph is compiled (the op's prepare), for
 * batches of up to max_batch images on the context's threads; it says how
 * much arena scratch its calls need, and each call gets that scratch. The
 * per-batch calls allocate nothing. Gradient outputs are added to (+=), as
 * every backward pass in the graph accumulates.
 *
 * Threads: every backend cuts a batch into blocks whose sizes depend on the
 * batch alone, computes each block on one thread, and sums weight
 * gradients over blocks in a fixed order: results are bit-identical for
 * any thread count.
 */
#ifndef NN_CONV_H
#define NN_CONV_H

#include "nn_impl.h"

struct nn_conv2d_geom {
    int64_t c, h, w;    /* input channels, height, width */
    int64_t oc, oh, ow; /* output channels, height, width (oc = c for pooling) */
    struct nn_win2d win;
};

/* floor((in + 2 pad - dil (k - 1) - 1) / stride) + 1, or 0 when the
 * dilated kernel does not fit in the padded input. */
int64_t nn_win_out(int64_t in, int k, int stride, int pad, int dil);

/* The backend compiled in: "onednn" or "im2col". */
const char *nn_conv_backend_name(void);

/* A convolution's or an average pooling's backend state. */
typedef struct nn_conv_plan nn_conv_plan;

/* The backward passes a plan is made for (the forward always is). */
enum { NN_CONV_DATA_GRAD = 1, NN_CONV_WEIGHT_GRAD = 2 };

/* Makes the plan of a convolution named name (for messages) of geometry q,
 * with or without a bias, for the passes in needs, batches of up to
 * max_batch images on ctx's threads. NN_ERR_NOMEM, or NN_ERR_INVALID if the
 * backend refuses the geometry, with a message naming the node. */
nn_status nn_conv2d_plan_new(nn_ctx *ctx, const char *name, const struct nn_conv2d_geom *q,
                             bool bias, unsigned needs, int64_t max_batch, nn_conv_plan **out);
/* The same for average pooling (needs: NN_CONV_DATA_GRAD or 0). */
nn_status nn_avgpool2d_plan_new(nn_ctx *ctx, const char *name, const struct nn_conv2d_geom *q,
                                unsigned needs, int64_t max_batch, nn_conv_plan **out);
void nn_conv_plan_free(nn_conv_plan *p);
/* Arena floats each call of the plan needs as scratch (64-byte aligned). */
int64_t nn_conv_plan_scratch(const nn_conv_plan *p);
/* The implementation of pass 0 (forward), 1 (data gradient) or 2 (weight
 * gradient) for full blocks, as the backend names it ("jit:avx512_core",
 * "im2col+gemm"), or NULL if the plan has no such pass. */
const char *nn_conv_plan_impl(const nn_conv_plan *p, int pass);

/* y (n, oc, oh, ow) = conv(x (n, c, h, w), w (oc, c/groups, kh, kw)) + b (oc);
 * b NULL when the plan has no bias. */
void nn_conv2d_fwd(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *x,
                   const float *w, const float *b, float *y, float *scratch);
/* The backward pass from dy (n, oc, oh, ow):
 *   dx (n, c, h, w) += conv^T(dy, w (oc, c/groups, kh, kw)),
 *   dw (oc, c/groups, kh, kw) += the weight gradient from x (n, c, h, w)
 *   and dy, db (oc) += dy summed over images and positions.
 * Any output may be NULL (not computed). */
void nn_conv2d_bwd(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *x,
                   const float *w, const float *dy, float *dx, float *dw, float *db,
                   float *scratch);

/* Average pooling with padding counted in the divisor (PyTorch's
 * count_include_pad=True): y = window sum / window size. */
void nn_avgpool2d_fwd(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *x,
                      float *y, float *scratch);
/* dx (n, c, h, w) += each window's dy / window size. */
void nn_avgpool2d_bwd(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *dy,
                      float *dx, float *scratch);

/* Max pooling, padding counting as -inf: y (n, c, oh, ow) and argmax (same
 * shape), the index ih * w + iw of each maximum in its input plane (the
 * first one in window order; a NaN wins, as in PyTorch). */
void nn_maxpool2d_fwd(nn_ctx *ctx, const struct nn_conv2d_geom *q, int64_t n, const float *x,
                      float *y, int32_t *argmax);
/* dx (n, c, h, w) += dy routed to the argmax of each window. */
void nn_maxpool2d_bwd(nn_ctx *ctx, const struct nn_conv2d_geom *q, int64_t n, const float *dy,
                      const int32_t *argmax, float *dx);
/* Global average pooling: y (planes) = mean of each plane of x (planes, hw);
 * dx (planes, hw) += dy / hw. */
void nn_global_avgpool_fwd(nn_ctx *ctx, int64_t planes, int64_t hw, const float *x, float *y);
void nn_global_avgpool_bwd(nn_ctx *ctx, int64_t planes, int64_t hw, const float *dy,
                           float *dx);

#endif /* NN_CONV_H */
