/*
 * conv.h - the one entry point for 2-D convolution and pooling kernels on
 * NCHW tensors, as nn_gemm is the one for matrix products. The ops
 * (src/ops/conv2d.c, src/ops/pool2d.c) reach the arithmetic only through
 * these functions, so a backend built on oneDNN's convolution and pooling
 * primitives can replace the portable kernels of src/conv.c without any
 * change to the ops or the op table.
 *
 * Every function takes the geometry, the images of the current batch (n)
 * and buffers laid out as the shape comments say; scratch is the node's
 * arena block of nn_conv2d_scratch floats. Gradient outputs are added to
 * (+=), as every backward pass in the graph accumulates.
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

/* Scratch floats a convolution needs for batches of up to max_batch images
 * on up to threads threads. */
int64_t nn_conv2d_scratch(const struct nn_conv2d_geom *q, int64_t max_batch, int threads);

/* y (n, oc, oh, ow) = conv(x (n, c, h, w), w (oc, c/groups, kh, kw)) + b (oc);
 * b may be NULL. */
void nn_conv2d_fwd(nn_ctx *ctx, const struct nn_conv2d_geom *q, int64_t n, const float *x,
                   const float *w, const float *b, float *y, float *scratch);
/* dx (n, c, h, w) += conv^T(dy (n, oc, oh, ow), w (oc, c/groups, kh, kw)). */
void nn_conv2d_bwd_data(nn_ctx *ctx, const struct nn_conv2d_geom *q, int64_t n,
                        const float *dy, const float *w, float *dx, float *scratch);
/* dw (oc, c/groups, kh, kw) += the weight gradient from x and dy; db (oc)
 * += dy summed over images and positions. Either output may be NULL. */
void nn_conv2d_bwd_weights(nn_ctx *ctx, const struct nn_conv2d_geom *q, int64_t n,
                           const float *x, const float *dy, float *dw, float *db,
                           float *scratch);

/* Max pooling, padding counting as -inf: y (n, c, oh, ow) and argmax (same
 * shape), the index ih * w + iw of each maximum in its input plane (the
 * first one in window order; a NaN wins, as in PyTorch). */
void nn_maxpool2d_fwd(nn_ctx *ctx, const struct nn_conv2d_geom *q, int64_t n, const float *x,
                      float *y, int32_t *argmax);
/* dx (n, c, h, w) += dy routed to the argmax of each window. */
void nn_maxpool2d_bwd(nn_ctx *ctx, const struct nn_conv2d_geom *q, int64_t n, const float *dy,
                      const int32_t *argmax, float *dx);
/* Average pooling with padding counted in the divisor (PyTorch's
 * count_include_pad=True): y = window sum / window size. */
void nn_avgpool2d_fwd(nn_ctx *ctx, const struct nn_conv2d_geom *q, int64_t n, const float *x,
                      float *y);
void nn_avgpool2d_bwd(nn_ctx *ctx, const struct nn_conv2d_geom *q, int64_t n, const float *dy,
                      float *dx);
/* Global average pooling: y (planes) = mean of each plane of x (planes, hw);
 * dx (planes, hw) += dy / hw. */
void nn_global_avgpool_fwd(nn_ctx *ctx, int64_t planes, int64_t hw, const float *x, float *y);
void nn_global_avgpool_bwd(nn_ctx *ctx, int64_t planes, int64_t hw, const float *dy,
                           float *dx);

#endif /* NN_CONV_H */
