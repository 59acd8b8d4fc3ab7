/**
 * @file nn/ops.h
 * @brief The graph's ops: arithmetic, reductions, activations, shapes,
 * convolution and pooling, batch normalization, losses.
 *
 * Part of libnn's public interface: programs include <nn.h>, which
 * includes every part; each part also compiles on its own.
 */
#ifndef NN_PUBLIC_OPS_H
#define NN_PUBLIC_OPS_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Ops. Each returns the new node, or NULL (message in the context). */
/* matmul(a, b) = a . b, or a . b^T when trans_b; a (M, K), b (K, N) or (N, K);
 * b must not have a batch axis. */
NN_API nn_node *nn_matmul(nn_graph *g, nn_node *a, nn_node *b, bool trans_b);
/* Elementwise, with broadcasting: the smaller operand's full shape must be a
 * trailing part of the larger's (a bias over rows), or a single element. */
NN_API nn_node *nn_add(nn_graph *g, nn_node *a, nn_node *b); /* a + b */
NN_API nn_node *nn_sub(nn_graph *g, nn_node *a, nn_node *b); /* a - b */
NN_API nn_node *nn_mul(nn_graph *g, nn_node *a, nn_node *b); /* a * b */
NN_API nn_node *nn_scale(nn_graph *g, nn_node *a, float c);  /* c * a */
/* Reductions. nn_sum and nn_mean reduce every element to shape (1);
 * the _axis forms drop one axis (negative counts from the end; axis 0 of
 * an input is its batch axis). */
NN_API nn_node *nn_sum(nn_graph *g, nn_node *a);
NN_API nn_node *nn_mean(nn_graph *g, nn_node *a);
NN_API nn_node *nn_sum_axis(nn_graph *g, nn_node *a, int axis);
NN_API nn_node *nn_mean_axis(nn_graph *g, nn_node *a, int axis);
/* Activations, elementwise. */
NN_API nn_node *nn_relu(nn_graph *g, nn_node *a);                  /* max(0, x) */
NN_API nn_node *nn_leaky_relu(nn_graph *g, nn_node *a, float slope); /* x > 0 ? x : slope x */
NN_API nn_node *nn_sigmoid(nn_graph *g, nn_node *a);               /* 1 / (1 + e^-x) */
NN_API nn_node *nn_tanh(nn_graph *g, nn_node *a);                  /* tanh x */
NN_API nn_node *nn_hardtanh(nn_graph *g, nn_node *a, float lo, float hi); /* clamp(x, lo, hi) */
/* sign(x) in {-1, 0, 1}; its derivative is 0 everywhere it exists, and the
 * backward pass propagates 0 (no straight-through estimator). */
NN_API nn_node *nn_sign(nn_graph *g, nn_node *a);
NN_API nn_node *nn_identity(nn_graph *g, nn_node *a);              /* x */
NN_API nn_node *nn_exp(nn_graph *g, nn_node *a);                   /* e^x */
NN_API nn_node *nn_log(nn_graph *g, nn_node *a);                   /* ln x */
NN_API nn_node *nn_square(nn_graph *g, nn_node *a);                /* x^2 */
NN_API nn_node *nn_abs(nn_graph *g, nn_node *a);                   /* |x|, derivative 0 at 0 */
/* Along the last axis: softmax_i = e^{x_i} / sum_j e^{x_j}, log-softmax. */
NN_API nn_node *nn_softmax(nn_graph *g, nn_node *a);
NN_API nn_node *nn_log_softmax(nn_graph *g, nn_node *a);
/* Inverted dropout: in training mode each element is zeroed with
 * probability p and the rest scaled by 1/(1-p); in evaluation mode, x. */
NN_API nn_node *nn_dropout(nn_graph *g, nn_node *a, float p);

/* Shape: reshape(x)[i] = x[i], the same elements in row-major order under
 * dims (without the batch axis when x has one; one entry may be -1, to be
 * inferred). A view, not a copy: it shares x's storage and gradient, costs
 * nothing to run, and writing through nn_value_mut of one writes the other.
 * NN_ERR_SHAPE if the element counts differ. */
NN_API nn_node *nn_reshape(nn_graph *g, nn_node *x, int ndim, const int64_t *dims);
/* flatten(x) = reshape to (N, C*H*W...), i.e. (dim 0, everything else); a view. */
NN_API nn_node *nn_flatten(nn_graph *g, nn_node *x);

/* Convolution and pooling over NCHW tensors (batch, channels, height,
 * width), in PyTorch's conventions. The output size per axis is
 *   floor((H + 2P - D(K-1) - 1) / S) + 1
 * for input size H, padding P on each side, dilation D (1 for pooling),
 * kernel K and stride S. Shape errors (NN_ERR_SHAPE) name the node and the
 * shapes: an input that is not 4-D, channels that do not divide into the
 * groups or do not match the weight, a kernel larger than the padded input.
 * A zero field of a configuration takes its default; cfg may be NULL. */
struct nn_conv2d_cfg {
    const char *name;       /* node name, e.g. "conv1" (NULL: automatic) */
    int stride_h, stride_w; /* default 1 */
    int pad_h, pad_w;       /* zero padding on each side, >= 0 (default 0) */
    int dil_h, dil_w;       /* dilation (default 1) */
    int groups;             /* default 1; channels and outputs divide by it */
};
/* y[n,o,i,j] = b[o] + sum_{c,p,q} w[o,c,p,q] x[n, gC/G + c, i sh - ph + p dh,
 * j sw - pw + q dw], g = o's group (cross-correlation, as torch's conv2d):
 * x (N, C, H, W), w (O, C/groups, KH, KW) as nn.Conv2d's weight, b (O) or
 * NULL for none; y (N, O, OH, OW). NN_ERR_INVALID for a negative or
 * out-of-range setting. */
NN_API nn_node *nn_conv2d(nn_graph *g, nn_node *x, nn_node *w, nn_node *b,
                   const struct nn_conv2d_cfg *cfg);
/* The output size formula above; 0 if the kernel does not fit or an
 * argument is out of range (in, kernel, stride, dilation >= 1, pad >= 0). */
NN_API int64_t nn_conv_output_size(int64_t in, int kernel, int stride, int pad, int dilation);
/* 'same' padding for stride 1: *pad = D(K-1)/2 keeps the size. NN_ERR_INVALID
 * if D(K-1) is odd (symmetric padding cannot keep it) or an argument is < 1. */
NN_API nn_status nn_conv2d_same_pad(nn_ctx *ctx, int kernel, int dilation, int *pad);

/* Settings of a pooling op (nn_maxpool2d, nn_avgpool2d). */
struct nn_pool2d_cfg {
    const char *name;       /* node name (NULL: automatic) */
    int kernel_h, kernel_w; /* required, >= 1 */
    int stride_h, stride_w; /* default: the kernel size (torch's default) */
    int pad_h, pad_w;       /* implicit padding on each side, at most half the
                               kernel (as torch requires) */
};
/* max over each window, padding counting as -inf (floor mode); the argmax
 * is kept for the backward pass, which routes each gradient to it. */
NN_API nn_node *nn_maxpool2d(nn_graph *g, nn_node *x, const struct nn_pool2d_cfg *cfg);
/* window sum / (kh kw): padding counts as zeros in the divisor (torch's
 * count_include_pad=True, floor mode). */
NN_API nn_node *nn_avgpool2d(nn_graph *g, nn_node *x, const struct nn_pool2d_cfg *cfg);
/* y[n,c] = mean over h, w of x[n,c,h,w]: (N, C, H, W) -> (N, C). */
NN_API nn_node *nn_global_avgpool(nn_graph *g, nn_node *x);

/* Settings of nn_batchnorm; NULL or a zeroed struct: the defaults. */
struct nn_batchnorm_cfg {
    const char *name; /* node name (NULL: automatic) */
    float momentum;   /* running-statistics update rate in (0, 1] (default 0.1) */
    float eps;        /* added to the variance (default 1e-5) */
};
/* y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c over channel
 * axis 1 of x (N, C), (N, C, L) or (N, C, H, W), as torch's BatchNorm1d/2d.
 * Training mode (nn_graph_set_training): mean and biased variance of the
 * batch per channel, and each forward pass updates running_mean and
 * running_var (= (1 - momentum) old + momentum batch, the variance unbiased)
 * and adds 1 to num_batches_tracked. Evaluation mode: the running
 * statistics. weight and bias are (C); running_mean and running_var (C)
 * and num_batches_tracked (1) must be buffers (nn_buffer). NN_ERR_SHAPE
 * (from forward) for a training batch with one value per channel. */
NN_API nn_node *nn_batchnorm(nn_graph *g, nn_node *x, nn_node *weight, nn_node *bias,
                      nn_node *running_mean, nn_node *running_var,
                      nn_node *num_batches_tracked, const struct nn_batchnorm_cfg *cfg);

/* Losses, scalar outputs of shape (1), averaged over the batch. */
/* -log softmax(logits)[y] averaged over rows; logits (N, C), labels from nn_labels. */
NN_API nn_node *nn_softmax_cross_entropy(nn_graph *g, nn_node *logits, nn_node *labels);
/* Binary cross-entropy on logits z with targets t in [0, 1], in the stable
 * form max(z, 0) - z t + log(1 + e^-|z|), averaged over all elements. */
NN_API nn_node *nn_sigmoid_bce(nn_graph *g, nn_node *logits, nn_node *targets);
/* -(t log p + (1 - t) log(1 - p)) with p clamped to [1e-7, 1 - 1e-7],
 * averaged over all elements. */
NN_API nn_node *nn_bce(nn_graph *g, nn_node *probs, nn_node *targets);
/* (pred - target)^2 averaged over all elements. */
NN_API nn_node *nn_mse(nn_graph *g, nn_node *pred, nn_node *target);

#ifdef __cplusplus
}
#endif
#endif /* NN_PUBLIC_OPS_H */
