/*
 * nn.h - the public interface of libnn, a C11 library for defining and
 * training feed-forward neural networks with reverse-mode automatic
 * differentiation.
 *
 * Conventions:
 *  - Every handle is opaque. Objects are created by *_new and released by
 *    *_free; *_free(NULL) is a no-op.
 *  - Calls that can fail return an nn_status (NN_OK on success) or NULL, and
 *    leave a one-line message in the context: nn_ctx_error(ctx). The library
 *    never exits or aborts on a user error.
 *  - Tensors are float32, row-major, contiguous, at most NN_MAX_DIMS
 *    dimensions. Inputs carry an implicit batch dimension as their first
 *    axis; every shape reported by the library includes it.
 *  - A context and everything made from it (graphs, models, trainers,
 *    optimizers) is used by one thread at a time; the library's own worker
 *    threads (the context's `threads`) are internal. Two contexts may be
 *    used from two threads at once. Data sets may be gathered from by
 *    several threads at once.
 *  - Graph builders accept NULL inputs and then return NULL without adding
 *    to the message, so a chain such as nn_relu(g, nn_matmul(g, x, w, 1))
 *    reports the first error only; nn_graph_compile then fails as well.
 *  - Configuration structs (nn_ctx_cfg, nn_optim_cfg, nn_schedule_cfg,
 *    nn_model_cfg, nn_train_cfg) may be zero-initialized: a field left 0
 *    takes its documented default. An explicit value is always kept: where
 *    0 is itself a meaningful value of a field whose default is not 0, the
 *    struct says how to ask for it (nn_optim_cfg: start from
 *    nn_optim_defaults, after which every field, zeros included, is taken
 *    as it stands; nn_schedule_cfg: -1; nn_model_cfg: the has_* flags).
 *    A field whose 0 would be meaningless (a batch size, a gain) simply
 *    treats 0 as "the default".
 *  - The library never prints. Warnings (e.g. an initialization that makes
 *    every unit of a layer learn the same thing) go to the context's
 *    warning handler (nn_ctx_set_warning), if one is set.
 */
#ifndef NN_H
#define NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's public functions: the shared library is built with
 * hidden visibility, so exactly the functions declared here are exported
 * (a test compares the two lists). */
#if defined(__GNUC__) || defined(__clang__)
#define NN_API __attribute__((visibility("default")))
#else
#define NN_API
#endif

#define NN_VERSION_MAJOR 0
#define NN_VERSION_MINOR 1
#define NN_VERSION_PATCH 0
#define NN_VERSION_STRING "0.1.0"

#define NN_MAX_DIMS 4

typedef enum nn_status {
    NN_OK = 0,
    NN_ERR_INVALID, /* a bad argument or option value */
    NN_ERR_SHAPE,   /* shapes that do not fit together */
    NN_ERR_NOMEM,   /* an allocation failed */
    NN_ERR_IO,      /* a file could not be opened, read or written */
    NN_ERR_FORMAT,  /* a file's contents are corrupt or not what was expected */
    NN_ERR_STATE,   /* a call made in the wrong order (e.g. run before compile) */
    NN_ERR_NUMERIC, /* a NaN or infinity where a finite number was required */
    NN_ERR_RANGE    /* a value out of its allowed range (e.g. a class label) */
} nn_status;

/* A short constant name for a status, e.g. "shape mismatch". */
NN_API const char *nn_status_str(nn_status s);

/* The library's version string, e.g. "0.1.0". */
NN_API const char *nn_version(void);
/* The matrix-product backend compiled in: "onednn" or "cblas". */
NN_API const char *nn_gemm_backend_name(void);

/* ------------------------------------------------------------------------ */
/* Context: error messages, the random number generator, thread count.      */

typedef struct nn_ctx nn_ctx;

struct nn_ctx_cfg {
    uint64_t seed; /* seed of the context's random number generator */
    int threads;   /* cores to use in total; 0 = all available */
};

/* A new context; cfg may be NULL (seed 0, all cores). NULL if out of memory.
 * The caller owns it and releases it with nn_ctx_free. */
NN_API nn_ctx *nn_ctx_new(const struct nn_ctx_cfg *cfg);
NN_API void nn_ctx_free(nn_ctx *ctx);
/* The message of the last error, or "" if none. Owned by the context. */
NN_API const char *nn_ctx_error(const nn_ctx *ctx);
NN_API void nn_ctx_clear_error(nn_ctx *ctx);
/* Reseeds the context's generator. */
NN_API void nn_ctx_seed(nn_ctx *ctx, uint64_t seed);
/* The generator's full state (4 words), to save and restore exactly. */
NN_API void nn_ctx_rng_get(const nn_ctx *ctx, uint64_t state[4]);
NN_API void nn_ctx_rng_set(nn_ctx *ctx, const uint64_t state[4]);
/* Uniform 64-bit integer, uniform float in [0, 1), standard normal. */
NN_API uint64_t nn_rand_u64(nn_ctx *ctx);
NN_API float nn_rand_uniform(nn_ctx *ctx);
NN_API float nn_rand_normal(nn_ctx *ctx);
/* The number of threads the context uses (resolved: never 0). */
NN_API int nn_ctx_threads(const nn_ctx *ctx);
/* Receives each warning of the library: one line, without a newline, valid
 * only during the call. */
typedef void (*nn_warning_fn)(const char *msg, void *user);
/* Sets the context's warning handler (NULL: none, the default: warnings are
 * dropped). Warnings are things that work but are likely mistakes, e.g. a
 * dense layer of several units whose weights all start at one value. */
NN_API void nn_ctx_set_warning(nn_ctx *ctx, nn_warning_fn fn, void *user);

/* ------------------------------------------------------------------------ */
/* Initializers.                                                             */

typedef enum nn_init_kind {
    NN_INIT_ZEROS = 0,
    NN_INIT_CONSTANT,       /* a */
    NN_INIT_NORMAL,         /* N(a, b^2): mean a, standard deviation b */
    NN_INIT_UNIFORM,        /* U[a, b] */
    NN_INIT_XAVIER_UNIFORM, /* U[-r, r], r = gain * sqrt(6 / (fan_in + fan_out)) */
    NN_INIT_XAVIER_NORMAL,  /* N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out)) */
    NN_INIT_HE_NORMAL,      /* N(0, s^2), s = gain / sqrt(fan_in), gain sqrt(2) for relu */
    NN_INIT_HE_UNIFORM,     /* U[-r, r], r = gain * sqrt(3 / fan_in) */
    NN_INIT_COUNT
} nn_init_kind;

/* An initializer: kind plus its numbers, taken as they are (a, b as above:
 * {NN_INIT_NORMAL} alone is N(0, 0), every value 0). gain 0 means the
 * default: 1 for Xavier, sqrt(2) for He (a gain of 0 would give zeros).
 * fan_in and fan_out follow PyTorch: for a (out, in, ...) weight, fan_in =
 * in * receptive field, fan_out = out * receptive field; a 1-D parameter
 * (a bias of n units) has fan_in = fan_out = n.
 *
 * Text form (nn_init_parse, --init, --bias-init, and a dense layer's INIT in
 * a model spec), with the defaults of the lectures:
 *   zeros                    every value 0
 *   constant:C               every value C
 *   normal[:STD[:MEAN]]      N(MEAN, STD^2); STD 0.01, MEAN 0
 *   uniform[:A]              U[-A, A]; A 0.05
 *   uniform:LO:HI            U[LO, HI]
 *   xavier_uniform[:GAIN]    also xavier, glorot
 *   xavier_normal[:GAIN]
 *   he_normal[:GAIN]         also he, kaiming
 *   he_uniform[:GAIN]
 * e.g. "normal:0.1", "uniform:0.5", "constant:0.25", "he_uniform". */
struct nn_init {
    nn_init_kind kind;
    float a, b, gain;
};

/* "zeros", "xavier_uniform", ... ; NULL for an unknown kind. */
NN_API const char *nn_init_name(nn_init_kind kind);
/* Parses the text form above into *out. NN_ERR_INVALID with a message
 * naming the text and what is wrong (an unknown kind, a value that is not
 * a number, too many values, a negative standard deviation or bound,
 * reversed bounds, a gain <= 0); *out is then unchanged. */
NN_API nn_status nn_init_parse(nn_ctx *ctx, const char *text, struct nn_init *out);
/* Writes the text form of init (parsable by nn_init_parse, every number
 * written out, e.g. "normal:0.01") into buf; returns the length it needs,
 * as snprintf. */
NN_API int nn_init_format(struct nn_init init, char *buf, size_t size);
/* Fills x[0..n) from the initializer using the context's generator.
 * NN_ERR_INVALID for an unknown kind or numbers out of range. */
NN_API nn_status nn_init_fill(nn_ctx *ctx, struct nn_init init, float *x, int64_t n,
                       int64_t fan_in, int64_t fan_out);

/* ------------------------------------------------------------------------ */
/* Computation graph.                                                        */

typedef struct nn_graph nn_graph;
typedef struct nn_node nn_node;

/* A new, empty graph that reports errors to ctx (which must outlive it).
 * NULL if out of memory. */
NN_API nn_graph *nn_graph_new(nn_ctx *ctx);
NN_API void nn_graph_free(nn_graph *g);
NN_API nn_ctx *nn_graph_ctx(const nn_graph *g);

/* Leaves. Shapes exclude the batch axis for inputs and labels. */
/* A float input of per-sample shape dims[0..ndim); the batch axis is implicit. */
NN_API nn_node *nn_input(nn_graph *g, const char *name, int ndim, const int64_t *dims);
/* Integer class labels, one per sample (for nn_softmax_cross_entropy). */
NN_API nn_node *nn_labels(nn_graph *g, const char *name);
/* A trainable parameter of shape dims, filled by init at compile time. */
NN_API nn_node *nn_param(nn_graph *g, const char *name, int ndim, const int64_t *dims,
                  struct nn_init init);
/* A buffer: a non-trainable parameter (PyTorch's term), such as batch
 * norm's running statistics. It lives in the parameter block with the
 * parameters, in creation order (so checkpoints carry it), is filled by
 * init at compile time, and may be written by the ops that own it; it has
 * no gradient (nn_grad returns NULL; its part of the gradient block stays
 * zero) and optimizers, weight decay, L1/L2 penalties and gradient
 * clipping leave it alone. nn_node_is_param is true for it. */
NN_API nn_node *nn_buffer(nn_graph *g, const char *name, int ndim, const int64_t *dims,
                   struct nn_init init);
/* True for parameters made by nn_param, false for buffers and other nodes. */
NN_API bool nn_param_is_trainable(const nn_node *param);
/* A constant tensor of shape dims (no batch axis); values are copied. */
NN_API nn_node *nn_const(nn_graph *g, const char *name, int ndim, const int64_t *dims,
                  const float *values);
/* Asks for the gradient of an input (off by default). */
NN_API void nn_input_requires_grad(nn_node *input, bool on);

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

/* Compiles the graph for the given output nodes (losses and predictions):
 * orders the nodes they depend on, allocates every buffer for batches of up
 * to max_batch samples and initializes the parameters. Once per graph. */
NN_API nn_status nn_graph_compile(nn_graph *g, nn_node *const *outputs, int noutputs,
                           int64_t max_batch);

/* Before compile: fold each bias add (a row vector broadcast over a batch)
 * that feeds only a relu into that relu, so the pair is one pass over
 * memory forward and backward. The add then keeps no value or gradient of
 * its own (nn_value and nn_grad return NULL for it); every other node and
 * all results are unchanged. Off by default; models turn it on. */
NN_API void nn_graph_set_fuse(nn_graph *g, bool on);

/* Copies n samples into an input (n <= max_batch; the same n for every input
 * of a pass). */
NN_API nn_status nn_feed(nn_graph *g, nn_node *input, const float *data, int64_t n);
/* Copies n class labels; each must be in [0, classes) for the loss using them. */
NN_API nn_status nn_feed_labels(nn_graph *g, nn_node *labels, const int32_t *y, int64_t n);
/* The input's buffer, to fill in place, and the batch size it then holds. */
NN_API float *nn_input_buffer(nn_graph *g, nn_node *input);
NN_API int32_t *nn_labels_buffer(nn_graph *g, nn_node *labels);
NN_API nn_status nn_set_batch(nn_graph *g, int64_t n);
NN_API int64_t nn_graph_batch(const nn_graph *g);

/* Training mode turns dropout on and makes batch normalization use (and
 * update) batch statistics (the default is evaluation mode). */
NN_API void nn_graph_set_training(nn_graph *g, bool on);

/* Runs every compiled node in order. */
NN_API nn_status nn_forward(nn_graph *g);
/* Runs only the nodes out depends on (e.g. predictions without labels). */
NN_API nn_status nn_forward_to(nn_graph *g, nn_node *out);
/* Back-propagates from a scalar node (seed gradient 1), adding into the
 * gradients of parameters (and inputs that asked for them). Parameter
 * gradients accumulate across calls until nn_zero_grad. */
NN_API nn_status nn_backward(nn_graph *g, nn_node *loss);
/* Same from any node, with seed gradient seed (shape of out at this batch). */
NN_API nn_status nn_backward_seeded(nn_graph *g, nn_node *out, const float *seed);
NN_API void nn_zero_grad(nn_graph *g);

/* Node inspection. Values and gradients live as long as the graph; a
 * gradient is NULL for nodes that need none. Dimensions include the batch
 * axis at the current batch size. */
NN_API const float *nn_value(const nn_node *n);
NN_API float *nn_value_mut(nn_node *n);
NN_API const float *nn_grad(const nn_node *n);
NN_API int nn_node_ndim(const nn_node *n);
NN_API int64_t nn_node_dim(const nn_node *n, int axis);
NN_API int64_t nn_node_numel(const nn_node *n);
NN_API const char *nn_node_name(const nn_node *n);
NN_API const char *nn_node_op(const nn_node *n);
NN_API bool nn_node_is_param(const nn_node *n);
/* Renames a node (before or after compile): the name messages,
 * nn_graph_find and nn_graph_dot use, and a parameter's name in checkpoints.
 * E.g. "x + y" for the output of an add. NN_ERR_INVALID, naming both, if
 * name is empty or another node of the graph has it. */
NN_API nn_status nn_node_set_name(nn_node *n, const char *name);

/* Parameters live in one contiguous block in creation order, and so do
 * their gradients (valid after compile). */
NN_API int nn_graph_nparams(const nn_graph *g);
NN_API nn_node *nn_graph_param(const nn_graph *g, int i);
NN_API nn_node *nn_graph_find(const nn_graph *g, const char *name);
/* Every node of g (inputs, parameters, ops) in creation order, which is a
 * topological order: for a model, its layers in spec order (nn summary's
 * layer table walks them). NULL for i out of [0, nn_graph_nnodes). */
NN_API int nn_graph_nnodes(const nn_graph *g);
NN_API nn_node *nn_graph_node(const nn_graph *g, int i);
NN_API int64_t nn_graph_param_count(const nn_graph *g);
NN_API float *nn_graph_param_block(nn_graph *g);
NN_API float *nn_graph_grad_block(nn_graph *g);
/* Offset of a parameter's values inside the block. */
NN_API int64_t nn_param_offset(const nn_node *param);

/* ------------------------------------------------------------------------ */
/* The graph as a picture (src/graph_dot.c): Graphviz DOT text, which
 * Graphviz's dot program or library renders (nn graph FILE.dot --png OUT
 * does). */

struct nn_dot_cfg {
    bool values;       /* show each node's value from the last forward pass */
    bool grads;        /* show each node's gradient from the last backward
                          pass, where it has one (as nn_grad) */
    int entries;       /* a tensor of more elements than this shows its norm
                          and its first `entries` elements (0: 4) */
    const char *title; /* a caption for the picture, or NULL */
    const nn_node *from; /* the node the backward pass started from (the
                            loss), or NULL: with it, the nodes it does not
                            depend on (e.g. a model's predictions) show no
                            gradient, and the caption names it */
};

/* The compiled part of g (the nodes its outputs need) as a DOT digraph:
 * one node per graph node, with the graph's name for it (nn_node_name; in
 * a model "x", "dense1.weight", "dense1.matmul", "dense1", "relu1", "y",
 * "loss"), its op and its shape; one edge from each input to the node
 * using it, labelled with the input's shape: "(N, 4)", N the batch axis,
 * or the batch size when values are shown ("(1, 4)"). With cfg->values,
 * each node also shows "value V" in green, and with cfg->grads "grad G" in
 * red, G the gradient of the last backward pass with respect to the node
 * (from a loss L: dL/dnode, summed over every path from the node to L).
 * A tensor of at most `entries` elements is written out whole ("value 6",
 * "grad [2, 0.5, -1]"), a larger one as its norm (the square root of the
 * sum of squares) and its first `entries` elements ("value norm 3.21" and
 * "[0.1, -0.4, 0.3, 2, ...]"); numbers as printf's %.4g, zeros unsigned.
 * A bias add folded into its relu (nn_graph_set_fuse) shows the value and
 * gradient it stands for. cfg may be NULL: structure only. Nodes that
 * have no gradient (inputs that did not ask for one, labels, constants)
 * show none.
 * Returns a string the caller releases with free(), or NULL with a
 * message in the context: NN_ERR_STATE if g is not compiled, or if values
 * are asked for before any batch was fed; NN_ERR_INVALID if cfg->from is
 * not a compiled node of g; NN_ERR_NOMEM. */
NN_API char *nn_graph_dot(nn_graph *g, const struct nn_dot_cfg *cfg);

/* ------------------------------------------------------------------------ */
/* Gradient checking by central finite differences.                         */

struct nn_gradcheck_result {
    double max_rel_err; /* max over entries of |a - f| / max(|a|, |f|, floor) */
    double max_abs_err; /* max over entries of |a - f| */
    int64_t checked;    /* entries compared */
};

/* Compares the backward pass of out with central differences of
 * L = sum(r * out) for a fixed random r, over every parameter and every input
 * that asked for a gradient. The graph must be compiled and fed. eps is the
 * step (relative to max(1, |x|)). */
NN_API nn_status nn_gradcheck(nn_graph *g, nn_node *out, double eps,
                       struct nn_gradcheck_result *res);

/* The op table: count, names, and a self-contained gradient check of op i
 * on a small example graph built for it. tol is the op's tolerance on the
 * relative error. */
NN_API int nn_op_count(void);
NN_API const char *nn_op_name_at(int i);
NN_API bool nn_op_is_differentiable_at(int i);
NN_API nn_status nn_gradcheck_op(nn_ctx *ctx, int i, struct nn_gradcheck_result *res,
                          double *tol);

/* ------------------------------------------------------------------------ */
/* Optimizers (src/optim/). Semantics and hyperparameter names follow
 * torch.optim; each optimizer updates the graph's one parameter block from
 * its one gradient block, and keeps its state in one contiguous block.      */

typedef enum nn_optim_kind {
    NN_OPTIM_SGD = 0,   /* p -= lr g (batch, mini-batch, stochastic: batch size) */
    NN_OPTIM_MOMENTUM,  /* SGD with momentum (heavy ball, torch semantics) */
    NN_OPTIM_NESTEROV,  /* SGD with Nesterov momentum */
    NN_OPTIM_ADAGRAD,
    NN_OPTIM_ADADELTA,
    NN_OPTIM_RMSPROP,   /* with optional momentum and centered variants */
    NN_OPTIM_ADAM,      /* with optional amsgrad */
    NN_OPTIM_ADAMW,     /* Adam with decoupled weight decay */
    NN_OPTIM_ADAFACTOR, /* factored second moments (Shazeer & Stern 2018) */
    NN_OPTIM_COUNT
} nn_optim_kind;

/* Hyperparameters, with torch.optim's names. Two ways to fill one:
 *  - zero-initialized, setting only the fields wanted: nn_optim_new gives
 *    every field left 0 the default of the chosen kind (so 0 cannot be
 *    asked for this way where the default is not 0: momentum, beta1 ...);
 *  - from nn_optim_defaults, which writes every default and sets `filled`;
 *    fields changed afterwards are then kept as they are, 0 included
 *    (momentum 0 is plain SGD, beta1 0 an Adam without first moment).
 *   struct nn_optim_cfg c = {.kind = NN_OPTIM_MOMENTUM};
 *   nn_optim_defaults(&c);   // lr 0.01, momentum 0.9, ...
 *   c.momentum = 0;          // kept
 * Fields the kind does not read must stay 0. */
struct nn_optim_cfg {
    nn_optim_kind kind;
    float lr;
    float momentum;     /* momentum, nesterov, rmsprop */
    float dampening;    /* momentum */
    float weight_decay; /* coupled (added to the gradient) unless decoupled */
    bool decoupled;     /* p -= lr * wd * p before the update (always for adamw
                           and adafactor) */
    float beta1, beta2; /* adam(w); adafactor uses beta2_decay instead */
    float eps;          /* adam(w), adagrad, adadelta, rmsprop; adafactor eps1 */
    float eps2;         /* adafactor: relative step floor eps2 (1e-3) */
    float rho;          /* adadelta (0.9) */
    float alpha;        /* rmsprop smoothing (0.99) */
    float lr_decay;     /* adagrad */
    float initial_accumulator_value; /* adagrad */
    float beta2_decay;  /* adafactor (-0.8) */
    float clip_threshold; /* adafactor d (1.0) */
    bool amsgrad;       /* adam(w) */
    bool centered;      /* rmsprop */
    bool filled;        /* every field holds its value (set by nn_optim_defaults):
                           zeros are not replaced by defaults */
};

typedef struct nn_optim nn_optim;

/* Unless cfg->filled is already set: gives every zero field of cfg the
 * default of cfg->kind (on a struct holding only the kind: every default),
 * then sets cfg->filled, so that values written afterwards, zeros
 * included, are kept by nn_optim_new. A filled struct is left as it is. */
NN_API void nn_optim_defaults(struct nn_optim_cfg *cfg);
/* "sgd", "adam", ...; NULL if unknown. */
NN_API const char *nn_optim_name(nn_optim_kind kind);
/* Parses a name; -1 if unknown. */
NN_API int nn_optim_parse(const char *name);
/* A new optimizer over the compiled graph's parameters. NULL on error
 * (message in the context). The caller frees it with nn_optim_free. */
NN_API nn_optim *nn_optim_new(nn_graph *g, const struct nn_optim_cfg *cfg);
NN_API void nn_optim_free(nn_optim *o);
/* One update from the current gradients. */
NN_API nn_status nn_optim_step(nn_optim *o);
NN_API float nn_optim_lr(const nn_optim *o);
NN_API void nn_optim_set_lr(nn_optim *o, float lr);
/* Excludes a parameter from weight decay (e.g. biases); on by default. */
NN_API nn_status nn_optim_set_decay(nn_optim *o, const nn_node *param, bool on);
/* The state block (moments, accumulators) and the step count, to save and
 * restore exactly; nn_optim_state_size floats. */
NN_API int64_t nn_optim_state_size(const nn_optim *o);
NN_API float *nn_optim_state(nn_optim *o);
NN_API int64_t nn_optim_steps(const nn_optim *o);
NN_API void nn_optim_set_steps(nn_optim *o, int64_t steps);
NN_API const struct nn_optim_cfg *nn_optim_config(const nn_optim *o);

/* ------------------------------------------------------------------------ */
/* Learning-rate schedules (src/optim/schedule.c), per epoch, following
 * torch.optim.lr_scheduler. A schedule maps an epoch (0-based) to the
 * learning rate to use during it; the training loop passes it on with
 * nn_optim_set_lr. With e the epoch counted from the end of the warm-up:
 *
 *   constant     base
 *   step         base * gamma^floor(e / step_size)                (StepLR)
 *   exponential  base * gamma^e                                   (ExponentialLR)
 *   cosine       eta_min + (base - eta_min) (1 + cos(pi e / t_max)) / 2
 *                (CosineAnnealingLR; it rises again after t_max, period 2 t_max)
 *   plateau      base, times factor whenever the metric reported with
 *                nn_schedule_on_metric has not improved for more than
 *                patience epochs, never below min_lr (ReduceLROnPlateau)
 *
 * A linear warm-up may precede any of them: during epochs 0 .. W-1 the rate
 * is base * (s + (1 - s) epoch / W), s the start factor (torch's LinearLR),
 * after which the schedule starts at its own epoch 0 (torch's SequentialLR
 * with the milestone at W). With plateau, metrics reported during the
 * warm-up are ignored.
 *
 * Text form (nn_schedule_parse), for the command line: terms joined by '+',
 * each a name followed by ':'-separated fields, positional or name=value:
 *   constant                               (also "none")
 *   step:STEP_SIZE[:GAMMA]                 gamma 0.1           e.g. step:10:0.5
 *   exp:GAMMA                              gamma required      e.g. exp:0.95
 *   cos[:T_MAX[:ETA_MIN]]                  t_max: the epochs after warm-up
 *   plateau[:PATIENCE[:FACTOR[:MIN_LR]]]   10, 0.1, 0; also threshold=1e-4,
 *                                          threshold_mode=rel|abs, cooldown=0,
 *                                          mode=min|max
 *   warmup:EPOCHS[:START_FACTOR]           start factor 1/3    e.g. warmup:5+cos
 * Field names: step_size, gamma, t_max, eta_min, patience, factor, min_lr,
 * threshold, threshold_mode, cooldown, mode, epochs, start_factor; e.g.
 * "plateau:patience=3:factor=0.5:mode=max", "warmup:3:0.1+step:10:0.5".
 * ("exponential" and "cosine" are accepted for exp and cos.) */

typedef enum nn_schedule_kind {
    NN_SCHED_CONSTANT = 0,
    NN_SCHED_STEP,        /* StepLR */
    NN_SCHED_EXPONENTIAL, /* ExponentialLR */
    NN_SCHED_COSINE,      /* CosineAnnealingLR */
    NN_SCHED_PLATEAU,     /* ReduceLROnPlateau */
    NN_SCHED_COUNT
} nn_schedule_kind;

/* Zero fields take torch's defaults (shown in parentheses). Fields another
 * kind uses must stay 0. */
struct nn_schedule_cfg {
    nn_schedule_kind kind;
    int64_t step_size;     /* step: epochs per decay (required, >= 1) */
    double gamma;          /* step: decay factor (0.1); exponential: required, > 0 */
    int64_t t_max;         /* cosine: half period (the epochs after warm-up) */
    double eta_min;        /* cosine: lowest rate (0) */
    int64_t warmup_epochs; /* linear warm-up before the schedule (0: none) */
    double warmup_start;   /* warm-up start factor in (0, 1] (1/3) */
    double factor;         /* plateau: rate multiplier in (0, 1) (0.1) */
    int64_t patience;      /* plateau: bad epochs tolerated (10); -1 means 0 */
    double threshold;      /* plateau: least significant improvement (1e-4);
                              a negative value means 0 */
    bool threshold_abs;    /* plateau: threshold_mode 'abs' (default 'rel':
                              better means below best * (1 - threshold)) */
    int64_t cooldown;      /* plateau: epochs after a cut when bad epochs are
                              not counted (0) */
    double min_lr;         /* plateau: lower bound on the rate (0) */
    bool mode_max;         /* plateau: the metric should rise (accuracy);
                              default: fall (loss) */
};

typedef struct nn_schedule nn_schedule;

/* Fills unset (zero) fields of cfg with the defaults of cfg->kind (t_max
 * stays 0: nn_schedule_new derives it from the epoch count). */
NN_API void nn_schedule_defaults(struct nn_schedule_cfg *cfg);
/* "constant", "step", "exp", "cos", "plateau"; NULL if unknown. */
NN_API const char *nn_schedule_name(nn_schedule_kind kind);
/* Parses the text form above into *cfg (zeroed first). NN_ERR_INVALID with
 * a message naming the term and field on a syntax error or bad value. */
NN_API nn_status nn_schedule_parse(nn_ctx *ctx, const char *text, struct nn_schedule_cfg *cfg);
/* Writes the text form of cfg (parsable by nn_schedule_parse) into buf;
 * returns the length it needs, as snprintf. */
NN_API int nn_schedule_format(const struct nn_schedule_cfg *cfg, char *buf, size_t size);
/* A new schedule from base_lr; epochs is the planned training length (used
 * only for a cosine t_max of 0; may be 0 otherwise). NULL with a message
 * naming the field and value on an invalid configuration. The caller owns
 * it (nn_schedule_free); ctx must outlive it. */
NN_API nn_schedule *nn_schedule_new(nn_ctx *ctx, const struct nn_schedule_cfg *cfg,
                             double base_lr, int64_t epochs);
NN_API void nn_schedule_free(nn_schedule *s);
/* The configuration with the defaults filled in. */
NN_API const struct nn_schedule_cfg *nn_schedule_config(const nn_schedule *s);
/* The base learning rate the schedule scales (base_lr of nn_schedule_new). */
NN_API double nn_schedule_base_lr(const nn_schedule *s);
/* The learning rate for epoch (0-based; negative counts as 0). */
NN_API float nn_schedule_lr(const nn_schedule *s, int64_t epoch);
/* Reports the metric measured at the end of epoch (validation loss, or a
 * quantity to maximize with mode_max) and returns the rate for epoch + 1.
 * Only plateau schedules use it; for the others it changes nothing. */
NN_API float nn_schedule_on_metric(nn_schedule *s, int64_t epoch, double metric);

/* The schedule's mutable state, to save in a checkpoint and restore
 * exactly: [0] current plateau rate, [1] best metric (+-inf before the
 * first), [2] bad epochs counted, [3] cooldown epochs left. The other kinds
 * are functions of the epoch and ignore it. */
#define NN_SCHEDULE_STATE_LEN 4
NN_API void nn_schedule_get_state(const nn_schedule *s, double state[NN_SCHEDULE_STATE_LEN]);
/* NN_ERR_INVALID if a value is impossible (negative or non-integral counts,
 * a negative or non-finite rate, a NaN best). */
NN_API nn_status nn_schedule_set_state(nn_schedule *s, const double state[NN_SCHEDULE_STATE_LEN]);

/* @@ section: datasets @@ */
/* ------------------------------------------------------------------------ */
/* Data sets (src/data/): IDX (MNIST family, gzip or raw), CSV and image
 * folders, normalization, splits and batch gathering.
 *
 * A data set holds n samples. Each sample's features are stored in their
 * compact type (uint8 for IDX files and images, float32 for CSV and arrays)
 * and converted to float32 with the data set's normalization only when a
 * batch is gathered. Labels are int32 class indices (classification) or
 * float targets, one or more per sample (regression), or absent (features
 * only, e.g. inputs to predict).
 *
 * Every loader returns a new data set owned by the caller (nn_dataset_free),
 * or NULL with a one-line message in the context naming the file and the
 * problem. The context must outlive the data set. Data sets are read-only
 * after loading except for their normalization, so several threads may
 * gather from one data set at once.
 */

typedef struct nn_dataset nn_dataset;

typedef enum nn_label_kind {
    NN_LABELS_NONE = 0, /* features only */
    NN_LABELS_CLASS,    /* one int32 class index in [0, classes) per sample */
    NN_LABELS_TARGETS   /* ntargets floats per sample (regression) */
} nn_label_kind;

/* Feature normalization: x' = (x - shift[j]) * scale[j] per feature j. */
typedef enum nn_norm_kind {
    NN_NORM_NONE = 0,  /* shift 0, scale 1 */
    NN_NORM_SCALE255,  /* shift 0, scale 1/255: pixels to [0, 1] */
    NN_NORM_STANDARD,  /* shift = mean, scale = 1/std (population std; 0 -> 1) */
    NN_NORM_MINMAX,    /* shift = min, scale = 1/(max - min) (equal -> 1) */
    NN_NORM_COUNT
} nn_norm_kind;

/* The normalization of a data set, to store in a checkpoint and reapply at
 * evaluation or prediction time. shift and scale hold nfeatures floats. */
struct nn_norm_stats {
    nn_norm_kind kind;
    int64_t nfeatures;
    const float *shift; /* (nfeatures) */
    const float *scale; /* (nfeatures) */
};

/* "none", "scale255", "standard", "minmax"; NULL if unknown. */
NN_API const char *nn_norm_name(nn_norm_kind kind);
/* Parses a name as above; -1 if unknown. */
NN_API int nn_norm_parse(const char *name);

/* IDX files, each gzip-compressed or raw (read through zlib). The images
 * file holds unsigned bytes (type code 0x08) of 1 to 4 dimensions (N, ...);
 * the labels file unsigned bytes of one dimension (N), so labels are 0..255
 * and classes = max label + 1 (narrow it with nn_dataset_check_classes).
 * labels_path may be NULL: features only. Per-sample shape: (1, H, W) for a
 * 3-D file (N, H, W) (one channel, NCHW-ready), otherwise the file's
 * dimensions after N. Normalization NN_NORM_SCALE255. Rejected with a
 * message: a missing file, a truncated header or data, a wrong magic
 * number, type code or dimension count, a zero dimension, data after the
 * promised bytes, image and label counts that differ. */
NN_API nn_dataset *nn_dataset_load_idx(nn_ctx *ctx, const char *images_path,
                                const char *labels_path);

/* A data set shipped by a Debian package, by name: "fashion-mnist" with
 * split "train" (60000) or "test" (10000), from
 * /usr/share/datasets/fashion-mnist/. If it is missing, the message says
 * how to install it (apt-get install dataset-fashion-mnist). */
NN_API nn_dataset *nn_dataset_load_named(nn_ctx *ctx, const char *name, const char *split);

typedef enum nn_csv_task {
    NN_CSV_AUTO = 0, /* classification if every label is a whole number
                        (written 1, 1.0 or 1.00000 alike) of magnitude below
                        NN_CSV_AUTO_MAX_CLASSES and there are at most
                        NN_CSV_AUTO_MAX_LEVELS distinct ones, or if some
                        label is not a number (class names); regression
                        otherwise (other numbers, or more levels) */
    NN_CSV_CLASSIFY, /* classification: non-negative whole-number labels are
                        class indices (classes = max + 1); otherwise each
                        distinct string is a class named as written, indexed
                        in sorted order (by value when every label is a
                        number, e.g. -1 and 1; else strcmp order) */
    NN_CSV_REGRESS   /* regression: every label must be a finite number */
} nn_csv_task;

/* NN_CSV_AUTO: whole-number labels with at most this many distinct values
 * are classes (0/1 flags, a 1-5 rating, digits); more are a quantity. */
#define NN_CSV_AUTO_MAX_LEVELS 20
#define NN_CSV_AUTO_MAX_CLASSES 1000
#define NN_CSV_MAX_CLASSES 1000000 /* classes by index or by name, at most */

/* Whether a CSV file's first row is a header. AUTO: it is when one of its
 * fields is not a number where the second row's field in the same column is
 * (or, in a one-row file without opts.columns, when any field is not a
 * number), or when it holds the label column's name (opts.label) or one of
 * opts.columns as text; else the first row is data. */
typedef enum nn_csv_header {
    NN_CSV_HEADER_AUTO = 0,
    NN_CSV_HEADER_YES,
    NN_CSV_HEADER_NO
} nn_csv_header;

/* CSV options; NULL or a zeroed struct gives the defaults. */
struct nn_csv_opts {
    /* The label column: a header name, or a 0-based index ("0"; negative
     * counts from the end: "-1" is the last column). For regression, a
     * comma-separated list of columns gives several targets. NULL: no label
     * column, every column is a feature (inputs to predict). */
    const char *label;
    bool no_header;    /* the first row is data (same as header = NN_CSV_HEADER_NO) */
    nn_csv_task task;
    char delimiter;    /* 0 = ',' */
    nn_csv_header header; /* whether the first row names the columns (default:
                             NN_CSV_HEADER_AUTO) */
    /* Columns left out, such as an id: names or 0-based indices as for
     * label, comma-separated. An unknown one is an error naming it (and the
     * nearest column name). NULL: none. */
    const char *ignore;
    /* The layout of the file a model was trained on (nn_dataset_columns and
     * nn_dataset_column of its training set), to read another file the same
     * way: columns holds its ncolumns names in order, or is NULL when it had
     * no header; label and ignore are resolved against it. When both files
     * have a header, the features are the layout's feature columns taken by
     * name, in the layout's order, wherever they are in this file; its other
     * columns are left out, and a missing one is an error naming it and the
     * file. Otherwise columns are matched by position and the file must have
     * ncolumns columns (an error giving both counts). ncolumns 0: no layout. */
    const char *const *columns;
    int64_t ncolumns;
    /* With a layout: a file may lack the label column(s) (inputs to
     * predict): by name, or by position with ncolumns minus the label
     * columns. Such a file has no labels. */
    bool label_optional;
};

/* A CSV file (gzip-compressed or not; quoted fields allowed). Every
 * non-label column is a float feature; per-sample shape (features). Fields
 * are decimal numbers; empty fields, NaN and infinities are errors naming
 * the line and column, and so are ragged rows, an empty file, a header
 * without rows and a label column that does not exist. Normalization:
 * NN_NORM_STANDARD fitted on the whole file (nn_dataset_split refits it on
 * the training part; at evaluation time set the training statistics with
 * nn_dataset_norm_set). */
NN_API nn_dataset *nn_dataset_load_csv(nn_ctx *ctx, const char *path,
                                const struct nn_csv_opts *opts);

/* Image options; NULL or a zeroed struct gives the defaults. */
struct nn_image_opts {
    int width, height; /* 0: the size of the first image */
    int channels;      /* 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA; 0: the first
                          image's; other images are converted to it */
    bool resize;       /* resize images of another size (bilinear, area-
                          filtered when shrinking); false: such an image is
                          an error naming the file and both sizes */
};

/* Images larger than this many pixels are refused (before decoding). */
#define NN_IMAGE_MAX_PIXELS (1 << 26)

/* An image folder: dir/CLASS/FILE, one subfolder per class (at least two);
 * classes are the subfolder names in sorted (strcmp) order, files are read
 * in sorted order; names starting with '.' and files directly in dir are
 * skipped. PNG, JPEG, BMP, GIF (first frame) and PNM (P5/P6) files are read;
 * any other file in a class folder is an error naming it. Per-sample shape
 * (C, H, W), stored as uint8; normalization NN_NORM_SCALE255. */
NN_API nn_dataset *nn_dataset_load_images(nn_ctx *ctx, const char *dir,
                                   const struct nn_image_opts *opts);

/* Image files given by path, without labels (inputs to predict), with the
 * same size policy as nn_dataset_load_images. */
NN_API nn_dataset *nn_dataset_load_image_files(nn_ctx *ctx, const char *const *paths,
                                        int64_t n, const struct nn_image_opts *opts);

/* One image file as raw float pixel values in [0, 255], layout (C, H, W),
 * with the size policy of opts (required size, or resize). dims receives
 * {C, H, W}. Returns memory the caller releases with free(), or NULL. */
NN_API float *nn_image_load_file(nn_ctx *ctx, const char *path,
                          const struct nn_image_opts *opts, int64_t dims[3]);

/* Arrays a program already holds; everything is copied. */
struct nn_array_data {
    int64_t n;             /* samples */
    int ndim;              /* per-sample shape dims[0..ndim), 1..NN_MAX_DIMS-1 */
    const int64_t *dims;
    const float *x;        /* (n, prod dims) features, finite */
    const int32_t *labels; /* (n) class indices >= 0, or NULL */
    int64_t classes;       /* 0: max label + 1 */
    const float *targets;  /* (n, ntargets) regression targets, or NULL */
    int64_t ntargets;
};
/* A data set from arrays (labels or targets or neither, not both).
 * Normalization NN_NORM_NONE. */
NN_API nn_dataset *nn_dataset_from_arrays(nn_ctx *ctx, const struct nn_array_data *a);

/* Releases a data set (views and the set they came from may be freed in any
 * order: the rows are shared and freed with the last of them). NULL is a
 * no-op. */
NN_API void nn_dataset_free(nn_dataset *ds);

/* Samples. */
NN_API int64_t nn_dataset_size(const nn_dataset *ds);
/* Features per sample (the product of the per-sample shape). */
NN_API int64_t nn_dataset_features(const nn_dataset *ds);
/* Per-sample shape, without the batch axis, into dims[NN_MAX_DIMS]; returns
 * its dimension count. */
NN_API int nn_dataset_shape(const nn_dataset *ds, int64_t dims[NN_MAX_DIMS]);
NN_API nn_label_kind nn_dataset_label_kind(const nn_dataset *ds);
/* Number of classes; 0 unless classification. */
NN_API int64_t nn_dataset_classes(const nn_dataset *ds);
/* Targets per sample; 0 unless regression. */
NN_API int64_t nn_dataset_targets(const nn_dataset *ds);
/* The name of class i (CSV string labels, image folders), or NULL if the
 * classes have no names or i is out of range. Owned by the data set. */
NN_API const char *nn_dataset_class_name(const nn_dataset *ds, int64_t i);
/* The name of feature j (a CSV header), or NULL. Owned by the data set. */
NN_API const char *nn_dataset_feature_name(const nn_dataset *ds, int64_t j);
/* What a column of a CSV file was read as. */
typedef enum nn_column_role {
    NN_COLUMN_FEATURE = 0,
    NN_COLUMN_LABEL,   /* a label or regression target */
    NN_COLUMN_IGNORED  /* left out (nn_csv_opts.ignore, or not in its layout) */
} nn_column_role;
/* The columns of the CSV file a data set was read from (features, labels
 * and columns left out, in the file's order); 0 for other sources. */
NN_API int64_t nn_dataset_columns(const nn_dataset *ds);
/* Column c's name (NULL without a header, or c out of range), and its role
 * into *role (if not NULL). Owned by the data set. */
NN_API const char *nn_dataset_column(const nn_dataset *ds, int64_t c, nn_column_role *role);
/* The file or folder it was loaded from (for messages). */
NN_API const char *nn_dataset_source(const nn_dataset *ds);

/* Renumbers the classes of a set with named classes (CSV strings, image
 * folders) to the order of names[0..n), e.g. a model's or a training set's,
 * so that a test file lacking some class still uses the same indices.
 * NN_ERR_RANGE naming a class that is not among names. For integer labels it
 * only checks them against n (nn_dataset_check_classes). Call it before
 * making views of ds. */
NN_API nn_status nn_dataset_map_classes(nn_dataset *ds, const char *const *names, int64_t n);
/* Declares the class count: NN_ERR_RANGE naming the first sample whose
 * label is >= classes; on success nn_dataset_classes returns classes. */
NN_API nn_status nn_dataset_check_classes(nn_dataset *ds, int64_t classes);

/* Fits the normalization of the given kind on this data set's own rows
 * (shift and scale computed in double precision). */
NN_API nn_status nn_dataset_fit_norm(nn_dataset *ds, nn_norm_kind kind);
/* The current normalization; its arrays are owned by the data set and valid
 * until its normalization next changes or it is freed. */
NN_API void nn_dataset_norm_get(const nn_dataset *ds, struct nn_norm_stats *out);
/* Sets the normalization (copied), e.g. the training set's on a test set or
 * one read from a checkpoint. NN_ERR_SHAPE if nfeatures differs,
 * NN_ERR_NUMERIC if a value is not finite or a scale is 0. */
NN_API nn_status nn_dataset_norm_set(nn_dataset *ds, const struct nn_norm_stats *st);
/* Applies st to rows of st->nfeatures floats in place. */
NN_API void nn_norm_apply(const struct nn_norm_stats *st, float *x, int64_t rows);

/* A view of the samples idx[0..n) of ds (indices into ds, repeats allowed),
 * sharing its rows, with a copy of its normalization. Owned by the caller. */
NN_API nn_dataset *nn_dataset_subset(const nn_dataset *ds, const int64_t *idx, int64_t n);

/* Shuffles the samples with a generator seeded by seed and cuts them into
 * a training view (the first n - round(n * val_fraction)) and a validation
 * view (the rest); val_fraction in (0, 1) and both parts non-empty. A
 * fitted normalization (standard, minmax) is refitted on the training part
 * and copied to the validation part; others are kept. Both views are owned
 * by the caller and independent of ds (which may be freed first). On error
 * *train and *val are NULL. */
NN_API nn_status nn_dataset_split(const nn_dataset *ds, float val_fraction, uint64_t seed,
                           nn_dataset **train, nn_dataset **val);

/* The batch path: converts samples idx[0..n) to float32 with the
 * normalization applied into x_out (n, features), their class labels into
 * labels_out (n) and their targets into targets_out (n, ntargets). Any out
 * buffer may be NULL; labels_out and targets_out are written only when the
 * data set has that kind of label. Allocates nothing. NN_ERR_RANGE (and
 * nothing written) if an index is outside [0, size). */
NN_API nn_status nn_dataset_gather(const nn_dataset *ds, const int64_t *idx, int64_t n,
                            float *x_out, int32_t *labels_out, float *targets_out);
/* Asks the processor to start loading the rows of samples idx[0..n) (a
 * hint: the next batch's rows arrive while the current one trains). */
NN_API void nn_dataset_prefetch(const nn_dataset *ds, const int64_t *idx, int64_t n);
/* Sample i's normalized features into x_out (features). */
NN_API nn_status nn_dataset_row(const nn_dataset *ds, int64_t i, float *x_out);
/* @@ end section: datasets @@ */

/* @@ section: safetensors @@ */
/* ------------------------------------------------------------------------ */
/* Safetensors files (src/io/safetensors.c): the generic reader and atomic
 * writer that checkpoints are built on.
 *
 * Format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * (tensor name -> {"dtype", "shape", "data_offsets": [begin, end)}, plus an
 * optional "__metadata__" object of string -> string), then the tensors'
 * bytes, little-endian and row-major. Supported dtypes: "F32", "F64", "F16"
 * (IEEE half), "BF16" (bfloat16), "I32", "I64" and "U8"; the reader rejects
 * the others with a message naming the dtype. Checkpoints hold F32 weights;
 * the other float types are read for nn_import_torch, which converts them. */

typedef struct nn_safetensors nn_safetensors;

/* One tensor to write. name must be valid UTF-8, unique within the file and
 * not "__metadata__"; data holds numel (product of dims; 1 when ndim is 0)
 * elements of dtype in host byte order (written little-endian). */
struct nn_st_tensor {
    const char *name;
    const char *dtype; /* "F32", "F64", "F16", "BF16", "I32", "I64" or "U8" */
    int ndim;          /* 0 (a scalar) to NN_MAX_DIMS */
    int64_t dims[NN_MAX_DIMS];
    const void *data;  /* may be NULL only when numel is 0 */
};

/* Writes n tensors and nmeta metadata pairs (meta_keys[i] -> meta_values[i],
 * valid UTF-8, unique keys; both arrays may be NULL when nmeta is 0, and
 * then no "__metadata__" entry is written) to path, atomically: the bytes go
 * to a new temporary file "path.tmp.*" in the same directory, which is
 * flushed, fsync'ed and renamed over path; then the directory is fsync'ed.
 * The tensors are laid out by decreasing element size (each stays aligned)
 * and the header is padded with spaces to a multiple of 8 bytes. An
 * existing file keeps its permission bits; a new one gets 0666 less the
 * umask. Returns NN_OK; NN_ERR_INVALID for a bad tensor or metadata entry
 * (nothing is written); NN_ERR_IO (message naming the path and the system's
 * reason) if any step fails, in which case the temporary file is removed
 * and the previous file at path is left untouched; NN_ERR_NOMEM. */
NN_API nn_status nn_safetensors_save(nn_ctx *ctx, const char *path,
                              const struct nn_st_tensor *t, int n,
                              const char *const *meta_keys,
                              const char *const *meta_values, int nmeta);

/* Reads a whole file and validates it: header length within the file,
 * UTF-8 JSON object (trailing whitespace allowed), every entry with a known
 * dtype, a shape of non-negative integers and data_offsets [begin, end]
 * with end - begin = numel * element size, unique names, the tensors'
 * ranges covering the data section exactly (no gap, no overlap), metadata
 * values all strings. Returns a handle the caller releases with
 * nn_safetensors_close; NULL on error with a one-line message naming the
 * file and the problem (NN_ERR_IO for a file that cannot be read,
 * NN_ERR_FORMAT for bad contents, NN_ERR_NOMEM). ctx must outlive the
 * handle (nn_safetensors_get_f32 reports to it). */
NN_API nn_safetensors *nn_safetensors_open(nn_ctx *ctx, const char *path);
NN_API void nn_safetensors_close(nn_safetensors *st);

/* A tensor of an open file. Every pointer stays valid until the handle is
 * closed; data is in host byte order and aligned to the element size. */
struct nn_st_view {
    const char *name;
    const char *dtype;   /* "F32", "F64", "F16", "BF16", "I32", "I64" or "U8" */
    int ndim;            /* 0 for a scalar; may exceed NN_MAX_DIMS */
    const int64_t *dims; /* (ndim) */
    int64_t numel;       /* product of dims, 1 for a scalar */
    size_t nbytes;       /* numel * element size */
    const void *data;    /* (dims...) row-major */
};

/* The number of tensors, and tensor i (0 <= i < count) in header order;
 * NULL if i is out of range. */
NN_API int nn_safetensors_count(const nn_safetensors *st);
NN_API const struct nn_st_view *nn_safetensors_at(const nn_safetensors *st, int i);
/* The tensor named name, or NULL if there is none (no message). */
NN_API const struct nn_st_view *nn_safetensors_find(const nn_safetensors *st,
                                             const char *name);
/* The float data of tensor name, checked: it exists, has dtype F32 and,
 * unless dims is NULL, exactly the shape dims[0..ndim). NULL otherwise,
 * with a message in the handle's context naming the file, the tensor, and
 * what was found and expected. Owned by the handle. */
NN_API const float *nn_safetensors_get_f32(const nn_safetensors *st, const char *name,
                                    int ndim, const int64_t *dims);
/* Metadata: the value for key or NULL; the number of pairs and key i (NULL
 * if out of range). Strings are owned by the handle. */
NN_API const char *nn_safetensors_meta(const nn_safetensors *st, const char *key);
NN_API int nn_safetensors_meta_count(const nn_safetensors *st);
NN_API const char *nn_safetensors_meta_key(const nn_safetensors *st, int i);
/* The path the handle was opened from (or the label of an in-memory parse). */
NN_API const char *nn_safetensors_path(const nn_safetensors *st);
/* @@ end section: safetensors @@ */

/* ------------------------------------------------------------------------ */
/* Layers, models and training (src/layers.c, src/model.c, src/train.c).    */

/* dense(x) = x . W^T + b with W (units, in) named NAME.weight and b (units)
 * named NAME.bias (zeros); the product is the node NAME.matmul and the sum,
 * the layer's output, the node NAME. x must be (N, in). NULL on error (a
 * name already used included). */
NN_API nn_node *nn_dense(nn_graph *g, nn_node *x, int64_t units, struct nn_init w_init,
                  const char *name);
/* The same with the biases drawn from b_init (fans: see struct nn_init). */
NN_API nn_node *nn_dense_ex(nn_graph *g, nn_node *x, int64_t units, struct nn_init w_init,
                     struct nn_init b_init, const char *name);

/* conv2d with its own parameters, named as torch's nn.Conv2d state dict:
 * NAME.weight (out, C/groups, kh, kw) from w_init (fan_in = C/groups kh kw)
 * and, when bias is true, NAME.bias (out) of zeros; the node is NAME
 * (cfg->name is ignored). x must be (N, C, H, W). NULL on error. */
NN_API nn_node *nn_conv2d_layer(nn_graph *g, nn_node *x, int64_t out_channels, int kernel_h,
                         int kernel_w, const struct nn_conv2d_cfg *cfg, bool bias,
                         struct nn_init w_init, const char *name);
/* batchnorm with its own parameters, named as torch's nn.BatchNorm1d/2d
 * state dict: NAME.weight (ones), NAME.bias (zeros), and the buffers
 * NAME.running_mean (zeros), NAME.running_var (ones) and
 * NAME.num_batches_tracked (1, zero; a float here, an int64 scalar in
 * torch); the node is NAME (cfg->name is ignored). NULL on error. */
NN_API nn_node *nn_batchnorm_layer(nn_graph *g, nn_node *x, const struct nn_batchnorm_cfg *cfg,
                            const char *name);

typedef enum nn_loss_kind {
    NN_LOSS_AUTO = 0,      /* from the final activation: softmax -> cross-entropy,
                              sigmoid -> binary cross-entropy, else mse */
    NN_LOSS_SOFTMAX_CE,    /* integer class labels */
    NN_LOSS_SIGMOID_BCE,   /* targets in [0, 1], one per output unit */
    NN_LOSS_MSE            /* regression targets, one per output unit */
} nn_loss_kind;

struct nn_model_cfg {
    int64_t max_batch;    /* largest batch the model runs (default 256) */
    bool has_dropout;     /* use dropout for "dropout" layers written without a
                             rate; otherwise 0.5 */
    float dropout;
    bool has_init;        /* use init for the weights of every dense and conv
                             layer that gives none; otherwise He normal before
                             the relu family, Xavier uniform elsewhere */
    struct nn_init init;
    bool has_bias_init;   /* use bias_init for the biases of every dense and conv
                             layer that gives none (and has one); otherwise zeros */
    struct nn_init bias_init;
    nn_loss_kind loss;
};

typedef struct nn_model nn_model;

/* Builds a sequential model from a spec such as
 *   "784 dense:256 relu dropout:0.2 dense:128 relu dense:10 softmax"
 *   "1x28x28 conv:8,5,pad=2 relu maxpool:2 conv:16,5 relu maxpool:2 flatten
 *    dense:120 relu dense:84 relu dense:10"
 * The first token is the per-sample input shape: a number of features
 * (784) or an image's CxHxW, channels x height x width (1x28x28; the input
 * is then (N, C, H, W), and nn_model_inputs is C*H*W). Each further token
 * is a layer: a kind and its fields, positional or NAME=VALUE (field names
 * in parentheses). Tokens are separated by blanks or commas; fields by ':'
 * or ','. The rule for commas: a comma-separated piece that starts like a
 * number (a digit, '-', '+', '.') or is NAME=VALUE continues the layer
 * before it, any other piece starts a new layer. So "conv:8,5,pad=2,relu"
 * is conv:8:5:pad=2 followed by relu, and "784,dense:256,relu,dense:10" is
 * four tokens; an initializer's name after a comma needs NAME=
 * ("dense:256,init=normal,0.02", or "dense:256:normal:0.02").
 *   dense:UNITS[:INIT][:bias=INIT]   (units, init, bias) dense1, dense2 ...:
 *                    NAME.weight (units, in), NAME.bias (units); its input
 *                    must be (N, features): flatten images first
 *   conv:C,K[,stride=S][,pad=P|same][,dil=D][,groups=G][,bias=no|INIT][,init=INIT]
 *                    (channels, kernel, stride, pad, dil, groups, bias, init)
 *                    conv1, conv2 ...: C output channels, kernel K; K, S, P
 *                    and D are N or HxW (non-square); defaults stride 1, pad
 *                    0, dilation 1, groups 1, a bias of zeros; pad=same is
 *                    D(K-1)/2 on each side (stride 1, D(K-1) even). Parameters
 *                    NAME.weight (C, in/groups, KH, KW) and NAME.bias (C), as
 *                    torch's nn.Conv2d
 *   maxpool:K[,stride=S][,pad=P]     (kernel, stride, pad) pool1, pool2 ...
 *   avgpool:K[,stride=S][,pad=P]     stride defaults to the kernel, padding
 *                    at most half the kernel (floor mode, as torch's
 *                    MaxPool2d / AvgPool2d with count_include_pad)
 *   gap              global average pooling (N, C, H, W) -> (N, C): gap1 ...
 *   batchnorm[:momentum=M][:eps=E]   bn1, bn2 ...: over channels after an
 *                    image layer (BatchNorm2d), over features after dense
 *                    (BatchNorm1d); M 0.1, E 1e-5; NAME.weight, NAME.bias and
 *                    the buffers NAME.running_mean, NAME.running_var,
 *                    NAME.num_batches_tracked
 *   flatten          (N, C, H, W) -> (N, C*H*W), a view: flatten1 ...
 *   relu  leaky_relu[:SLOPE] (slope)  sigmoid  tanh  hardtanh[:LO:HI] (lo, hi)
 *   sign  identity  dropout[:P] (p)   softmax (last only)
 * Output size of conv and pooling per axis, for input size H, padding P,
 * dilation D (1 for pooling), kernel K and stride S:
 *   floor((H + 2P - D(K-1) - 1) / S) + 1
 * INIT is an initializer's text form (see struct nn_init), its numbers as
 * further fields: "dense:256:normal:0.02", "dense:10:he_uniform:bias=constant:0.1",
 * "dense:64:init=uniform:-0.1:0.3". A layer's own initializers win over
 * cfg's. Weights default to He normal when the next layer past any
 * batchnorm and pooling is relu or leaky_relu, Xavier uniform otherwise.
 * A hidden dense layer (one followed by another) of several units
 * whose weights and biases each start at one value (zeros, constant, a
 * normal of standard deviation 0, a uniform of width 0) has units that
 * start identical: the context's warning handler is told, naming the
 * layer (the symmetry problem), and the model is built all the same.
 * A final softmax or sigmoid is fused with its loss; predictions are the
 * probabilities. cfg may be NULL. NULL on error: a syntax error names the
 * token, its position and what was expected; a layer that does not fit
 * its input (a kernel larger than the padded input, input channels that
 * do not divide into the groups, dense on images without flatten, conv or
 * pooling after flatten) names the token, the layer (conv2) and the
 * shapes. Free with nn_model_free. */
NN_API nn_model *nn_model_new(nn_ctx *ctx, const char *spec, const struct nn_model_cfg *cfg);
NN_API void nn_model_free(nn_model *m);
NN_API nn_ctx *nn_model_ctx(const nn_model *m);
NN_API nn_graph *nn_model_graph(const nn_model *m);
/* The spec as given; or, when cfg supplied initializers or a dropout rate
 * that layers use, the spec with them written into those layers (e.g.
 * "2 dense:4:normal:0.1 tanh dense:1:normal:0.1 sigmoid"), so that it alone
 * rebuilds the same model and a checkpoint records them. */
NN_API const char *nn_model_spec(const nn_model *m);
NN_API nn_loss_kind nn_model_loss_kind(const nn_model *m);
NN_API int64_t nn_model_inputs(const nn_model *m);   /* features per sample */
/* The per-sample input shape of the spec's first token into
 * dims[NN_MAX_DIMS] (unused entries 0): (features) or (C, H, W); returns
 * its dimension count, 1 or 3. Inputs are fed as nn_model_inputs floats
 * per sample either way (row-major (C, H, W)). */
NN_API int nn_model_input_shape(const nn_model *m, int64_t dims[NN_MAX_DIMS]);
NN_API int64_t nn_model_outputs(const nn_model *m);  /* output units */
NN_API int64_t nn_model_max_batch(const nn_model *m);
/* Nodes: the input, the labels (cross-entropy) or targets (others), the
 * loss (data term, mean over the batch), the logits before a fused final
 * activation, and the predictions (probabilities or values). */
NN_API nn_node *nn_model_input(const nn_model *m);
NN_API nn_node *nn_model_target(const nn_model *m);
NN_API nn_node *nn_model_loss(const nn_model *m);
NN_API nn_node *nn_model_logits(const nn_model *m);
NN_API nn_node *nn_model_output(const nn_model *m);
/* Predictions for n samples x (n, inputs) into out (n, outputs), in
 * evaluation mode, in chunks of max_batch. x is in the model's input space:
 * normalized as its training data was (see nn_model_normalize). x is only
 * read (each chunk is copied into the model); out must not overlap it. */
NN_API nn_status nn_model_predict(nn_model *m, const float *x, int64_t n, float *out);
/* For classifiers (loss cross-entropy or sigmoid): the classes are the
 * outputs, or classes 0 and 1 for a one-output sigmoid (p is class 1's
 * probability); ranked by probability, ties to the lower index. For a
 * multi-output sigmoid the probabilities are per output, independent. */
/* The predicted class of each of n samples x (n, inputs) into classes (n).
 * NN_ERR_STATE for a regression model (loss mse). */
NN_API nn_status nn_model_predict_class(nn_model *m, const float *x, int64_t n, int64_t *classes);
/* The k most probable classes of each sample, most probable first, into
 * classes (n, k), and their probabilities into probs (n, k) unless probs
 * is NULL. NN_ERR_INVALID naming k and the class count unless 1 <= k <=
 * classes; NN_ERR_STATE for a regression model. Allocates nothing. */
NN_API nn_status nn_model_topk(nn_model *m, const float *x, int64_t n, int64_t k, int64_t *classes,
                        float *probs);
/* The input normalization the model was trained with (stored in its
 * checkpoint): set (copied), get (false if none; arrays owned by the
 * model), and apply to n raw rows in place. */
NN_API nn_status nn_model_set_norm(nn_model *m, const struct nn_norm_stats *st);
NN_API bool nn_model_norm(const nn_model *m, struct nn_norm_stats *out);
NN_API void nn_model_normalize(const nn_model *m, float *x, int64_t n);
/* Class names (copied; n must equal the output units, or be 2 for a
 * one-unit sigmoid); name of class i or NULL if the classes have no names. */
NN_API nn_status nn_model_set_class_names(nn_model *m, const char *const *names, int64_t n);
NN_API const char *nn_model_class_name(const nn_model *m, int64_t i);

/* A source of training or evaluation samples. It states what it gives,
 * and nn_trainer_fit and nn_evaluate check that against the model before
 * any sample is copied (NN_ERR_SHAPE or NN_ERR_INVALID, naming both sides):
 * features must equal the model's inputs; a cross-entropy model needs class
 * labels (classes, when known, at most its outputs); a sigmoid or mse model
 * needs ntargets equal to its outputs, except that a sigmoid model of one
 * output also takes class labels 0 and 1 (classes at most 2) as its
 * targets. gather copies the samples idx[0..n) as float features into x
 * (n, features) and their class labels into labels (n) or their targets
 * into targets (n, ntargets), whichever the model needs (the other pointer
 * is NULL), and must write nothing more. */
struct nn_source {
    int64_t n;          /* samples */
    int64_t features;   /* floats per sample that gather writes into x */
    bool has_labels;    /* gather can write class labels */
    int64_t classes;    /* the labels lie in [0, classes); 0 if not known */
    int64_t ntargets;   /* floats per sample gather can write into targets
                           (0: it has no targets) */
    nn_status (*gather)(void *self, const int64_t *idx, int64_t n, float *x,
                        int32_t *labels, float *targets);
    void *self;
    /* gather may run on several threads at once for disjoint parts of a
     * batch (the context's threads share the copying) */
    bool parallel;
    /* optional: a hint that samples idx[0..n) will be gathered next */
    void (*prefetch)(void *self, const int64_t *idx, int64_t n);
    /* optional: called on the calling thread before the samples of a pass
     * are gathered, never while a gather runs: by nn_trainer_fit with the
     * 0-based epoch before each epoch's training batches (and with -1 when
     * it returns), and with -1 by nn_evaluate, which validation uses too.
     * A source that transforms samples at random (nn_source_augment) keys
     * its transforms to the epoch and gives samples as they are at -1, so
     * evaluation never sees them transformed. */
    void (*begin_pass)(void *self, int epoch);
};

/* Arrays in memory as a source (not copied: they must outlive its use;
 * parallel). labels, targets or both may be given; classes stays unknown. */
struct nn_array_source {
    const float *x;         /* (n, features) */
    const int32_t *labels;  /* (n) or NULL */
    const float *targets;   /* (n, ntargets) or NULL */
    int64_t n, features, ntargets;
};
NN_API struct nn_source nn_source_from_arrays(struct nn_array_source *a);

/* A data set as a source (parallel, with prefetching): its features (with
 * its normalization), and its class labels or targets, whichever it has.
 * Not copied: ds must outlive the source's use and keep its normalization
 * while training. */
NN_API struct nn_source nn_source_from_dataset(const nn_dataset *ds);

/* ---- Data augmentation (src/augment.c): random translations and
 * horizontal flips of image samples of shape (C, H, W), for training data.
 * The transform of an image I is
 *   out[c][y][x] = J[c][y - dy][x - dx], and 0 where y - dy or x - dx
 *                  falls outside the image (the background),
 *   J = I mirrored left-right (J[c][y][x] = I[c][y][W - 1 - x]) when flip,
 *       else I,
 * with dy and dx uniform integers in [-shift, shift] and flip true with
 * probability 1/2. Each sample's draw is a pure function of (seed, epoch,
 * sample index) (a splitmix64 hash, no generator state), so the same seed
 * gives the same batches, a resumed run continues exactly as an
 * uninterrupted one (no state to save), and which thread gathers a sample
 * does not matter. */
struct nn_augment_cfg {
    int shift;     /* largest translation along each axis, pixels (0: none) */
    bool flip;     /* mirror left-right with probability 1/2 */
    uint64_t seed; /* key of the random draws */
};

/* The transform of one sample. */
struct nn_augment_draw {
    int dy, dx; /* rows down and columns right */
    bool flip;
};

#define NN_AUGMENT_MAX_SHIFT 4096

/* Parses the text form into cfg's shift and flip (its seed is kept):
 * comma-separated items "shift:N" (an integer in [0, NN_AUGMENT_MAX_SHIFT])
 * and "flip", each at most once, or "none"; e.g. "shift:2,flip".
 * NN_ERR_INVALID with a message naming the item otherwise. */
NN_API nn_status nn_augment_parse(nn_ctx *ctx, const char *text, struct nn_augment_cfg *cfg);
/* Writes the text form of cfg ("shift:2,flip", "flip", "none") into buf;
 * returns the length it needs, as snprintf. */
NN_API int nn_augment_format(const struct nn_augment_cfg *cfg, char *buf, size_t size);
/* The draw of sample `sample` (an index into the source) in epoch `epoch`
 * (0-based); dy = dx = 0 when shift is 0, flip false unless cfg->flip. */
NN_API struct nn_augment_draw nn_augment_draw(const struct nn_augment_cfg *cfg, int epoch,
                                       int64_t sample);
/* Transforms one image img (c, h, w) in place by d as above (vacated
 * pixels 0). Allocates nothing. */
NN_API void nn_augment_image(float *img, int64_t c, int64_t h, int64_t w, struct nn_augment_draw d);

/* Storage of an augmenting source: owned by the caller, filled by
 * nn_source_augment; its fields are the library's. */
struct nn_augment_source {
    struct nn_source inner;    /* the source whose samples are transformed */
    const nn_dataset *ds;      /* inner's data set, if made by nn_source_from_dataset */
    struct nn_augment_cfg cfg;
    int64_t c, h, w;           /* image shape */
    int epoch;                 /* of the current pass; -1: no transform */
};

/* Makes *out (which may be src itself) a source that gives src's samples
 * transformed as above, keeping src's labels, targets, parallelism and
 * prefetching; a, which holds the state, and whatever src refers to must
 * outlive out's use.
 * Samples are transformed only between a begin_pass with epoch >= 0 and
 * the next with -1 (nn_trainer_fit and nn_evaluate call it), so the same
 * source may also serve for validation. The image shape is chw (C, H, W),
 * or, when chw is NULL, that of src's data set (src made by
 * nn_source_from_dataset from a set with 3-D samples: IDX images, image
 * folders). For a data set the transform is applied to the stored pixels
 * before the normalization: vacated pixels are a raw 0 normalized as that
 * position's pixels are; for other sources they are 0 in the source's
 * features. Allocates nothing (neither here nor per batch). NN_ERR_INVALID
 * or NN_ERR_SHAPE, naming the data and the shapes: no image shape, a
 * shape whose size differs from src's features, a shift of at least the
 * image's height or width, a negative shift. */
NN_API nn_status nn_source_augment(nn_ctx *ctx, struct nn_augment_source *a,
                            const struct nn_source *src, const int64_t *chw,
                            const struct nn_augment_cfg *cfg, struct nn_source *out);

struct nn_metrics {
    double loss;     /* data term, mean over samples */
    double penalty;  /* L1 + L2 penalty at the end (training only) */
    double accuracy; /* classification; NAN for regression */
    double mae;      /* regression: mean absolute error; NAN otherwise */
    double mse;      /* regression: mean squared error; NAN otherwise */
    int64_t n;
};

/* Loss and metrics of the model over a whole source (at least one
 * sample), evaluation mode. The source is checked as described above. */
NN_API nn_status nn_evaluate(nn_model *m, const struct nn_source *src, struct nn_metrics *out);

/* ---- Data-parallel training (docs/scale-out.md): every rank (process)
 * holds the whole model and the same data; the library never talks to a
 * network itself but calls these collectives, which the program provides
 * (the nn program over MPI). Every rank must make the same calls in the
 * same order. Each returns NN_OK, or an error with a message set on
 * nothing (the trainer names the collective). */
struct nn_dist {
    int rank, size; /* this rank, 0-based, of size (>= 1) */
    /* Sums buf[0..n) over every rank, in place: the sum on every rank. */
    nn_status (*allreduce)(void *user, float *buf, int64_t n);
    nn_status (*allreduce_f64)(void *user, double *buf, int64_t n);
    /* In place: buf holds size segments, rank r's of counts[r] floats at
     * offset counts[0] + ... + counts[r-1]; each rank has filled in its
     * own, and afterwards every rank holds all of them. */
    nn_status (*allgather)(void *user, float *buf, const int64_t *counts);
    void *user;
};

/* nn_evaluate split across the ranks of d (contiguous shares of the
 * source), the sums added with one allreduce: every rank gets the metrics
 * of the whole source. d NULL or of size 1: nn_evaluate. */
NN_API nn_status nn_evaluate_dist(nn_model *m, const struct nn_source *src,
                                  const struct nn_dist *d, struct nn_metrics *out);

/* Per-layer statistics (src/layer_stats.c): what a network computes, layer
 * by layer, to see vanishing gradients, dead relu units or the symmetry of
 * a constant initialization. One entry per compiled node that is a batched
 * activation (not an input) or a trainable parameter, in compiled order;
 * a model's nodes are named after its layers (dense1, relu1, conv1 ...). */
struct nn_layer_stat {
    const char *name;  /* the node's name (owned by the graph) */
    const char *op;    /* its op ("relu", "matmul", "param" ...) */
    bool is_param;     /* a trainable parameter (a weight or bias) */
    int64_t units;     /* elements per sample (activations) or in all (parameters) */
    double mean, std;  /* mean and population standard deviation of every
                          value at the current batch (parameters: the weights) */
    double unit_std;   /* activations: the standard deviation across a sample's
                          units, averaged over the batch's samples; 0 when every
                          unit computes the same function (constant initialization);
                          NAN for parameters */
    double dead;       /* relu nodes: the fraction of units that are 0 for every
                          sample of the batch (a unit is one element of a
                          sample: a feature, or a channel-row-column of a conv
                          map); NAN for other nodes */
    double grad_norm;  /* L2 norm of the node's gradient from the last backward
                          pass (NAN when the node has none, or when from is
                          given and does not depend on it) */
};

/* The statistics of g's compiled nodes from its current values and
 * gradients (after nn_forward and nn_backward from `from`, the loss; NULL:
 * every gradient as it stands). Writes min(count, cap) entries to out
 * (which may be NULL when cap is 0) and returns the count (-1 with a
 * message in the context if g is not compiled or out of memory). */
NN_API int nn_layer_stats(const nn_graph *g, const nn_node *from, struct nn_layer_stat *out,
                          int cap);

/* Feeds the first min(n, max batch, samples) samples of src to the model
 * in evaluation mode (no dropout; batch normalization uses its running
 * statistics and does not update them), runs forward and backward from the
 * loss, then fills out as nn_layer_stats and zeroes the gradients again:
 * the weights, the optimizer and the random generator are untouched, so
 * training with or without this between epochs gives the same weights.
 * *count gets the number of entries (as nn_layer_stats' return). */
NN_API nn_status nn_model_layer_stats(nn_model *m, const struct nn_source *src, int64_t n,
                                      struct nn_layer_stat *out, int cap, int *count);

struct nn_epoch_stats {
    int epoch;               /* 1-based */
    struct nn_metrics train; /* running averages over the epoch's batches, or
                                with train_eval the whole set in eval mode */
    struct nn_metrics val;   /* n = 0 when there is no validation data */
    double lr;               /* learning rate used during the epoch */
    double seconds;
};

struct nn_train_progress {
    int epoch, epochs;
    int64_t batch, batches;      /* within the epoch, 1-based */
    int64_t samples_done;        /* within the epoch */
    double loss, accuracy;       /* running averages over the epoch */
    double seconds;              /* since the epoch began */
};

struct nn_train_cfg {
    int epochs;               /* default 10 */
    int64_t batch;            /* default 64; n = full batch, 1 = stochastic */
    bool drop_last;           /* drop the last partial batch (default: train on it) */
    bool no_shuffle;          /* keep the source order (default: reshuffle per epoch) */
    struct nn_optim_cfg optim;
    float l1, l2;             /* penalties l1 |W|_1 and (l2 / 2) |W|^2 */
    bool penalize_biases;     /* apply l1/l2 to 1-D parameters too (default no) */
    bool decay_biases;        /* apply weight decay to 1-D parameters (default no) */
    float clip_norm;          /* clip the global gradient norm (0 = off) */
    struct nn_schedule_cfg schedule; /* learning rate per epoch (zeroed: constant);
                                        plateau watches the validation loss, or
                                        the training loss without validation */
    int patience;             /* early stopping after this many epochs without
                                 a val-loss improvement (0 = off) */
    float min_delta;          /* improvement needed to reset the patience */
    bool keep_last;           /* do not restore the best weights at the end */
    bool monitor_acc;         /* early stopping and plateau watch the validation
                                 accuracy (classifiers; the plateau schedule then
                                 runs in mode max) instead of the validation loss */
    float tol;                /* > 0: stop at convergence when the training loss
                                 improved by less than tol relative to its best
                                 for patience epochs (1 when patience is 0); needs
                                 no validation data (0 = off) */
    bool train_eval;          /* the epoch's training metrics measured over the
                                 whole training source in evaluation mode at its
                                 end (default: running averages over its batches,
                                 dropout on) */
    bool schedule_per_step;   /* the schedule's rate changes every batch (step):
                                 its counts (step_size, warm-up, t_max) are then
                                 in batches, and a cosine's t_max defaults to
                                 every batch of every epoch; the lr of batch b
                                 of epoch e (both 0-based) is the schedule's
                                 value at e * batches + b, as a
                                 torch.optim.lr_scheduler stepped after every
                                 optimizer step gives. Not for plateau, which
                                 follows the validation metric once per epoch
                                 (default: per epoch) */
    /* Data-parallel training over dist's ranks (NULL: one process). batch
     * is the global batch: each is cut into size contiguous shares of one
     * shuffled order, the gradient block is summed with one allreduce per
     * step (scaled so the loss is the mean over the global batch), and
     * every rank takes the same step. Validation is split as in
     * nn_evaluate_dist. on_batch and on_epoch run on every rank; a stop
     * asked by any rank stops all of them at the same step. Dropout draws
     * a stream per rank from the shared generator, which is back in step
     * on every rank after each epoch. Batch-norm batch statistics are those
     * of each rank's share; running statistics are averaged over the
     * ranks after each epoch. */
    const struct nn_dist *dist;
    /* Results that do not depend on the number of ranks or threads: each
     * global batch is cut into `chunks` fixed contiguous chunks (default
     * 4; at least the number of ranks), each chunk's gradient computed
     * alone with its own dropout stream, and the chunk gradients added in
     * chunk order (an allgather of chunks x the gradient block instead of
     * one allreduce). Weights are then bit-identical for any rank count
     * dividing chunks and any thread count. */
    bool reproducible;
    int chunks;
    /* Called after every batch / epoch when set; return false to stop. */
    bool (*on_batch)(const struct nn_train_progress *p, void *user);
    bool (*on_epoch)(const struct nn_epoch_stats *s, void *user);
    void *user;
};

typedef struct nn_trainer nn_trainer;

/* A trainer for the model (which it does not own). NULL on error. */
NN_API nn_trainer *nn_trainer_new(nn_model *m, const struct nn_train_cfg *cfg);
NN_API void nn_trainer_free(nn_trainer *t);
/* Trains from the current position up to the trainer's epoch count
 * (cfg->epochs, or the last nn_trainer_set_epochs). val may be NULL. The
 * sources are checked against the model first (see struct nn_source).
 * A non-finite loss or gradient stops training with NN_ERR_NUMERIC, a
 * message naming the first node that became non-finite, and the weights of
 * the last good step.
 * Training on: fit may be called again, after a callback stopped it or
 * after raising the epoch count with nn_trainer_set_epochs, and continues
 * where training stopped (shuffling, dropout, optimizer state and schedule
 * carry on): fitting 2 epochs and then 2 more gives the weights of one
 * 4-epoch fit, bit for bit. Two differences from one longer fit: a cosine
 * schedule whose t_max came from the epoch count keeps the count given to
 * nn_trainer_new, and with early stopping (patience) every fit that ends
 * restores the best weights (unless keep_last). NN_ERR_STATE, and nothing
 * done, when every epoch is done already or training stopped early. */
NN_API nn_status nn_trainer_fit(nn_trainer *t, const struct nn_source *train,
                         const struct nn_source *val);
/* Sets the total number of epochs to train to (at least 1 and at least
 * the epochs done), e.g. to train on after a finished fit. NN_ERR_INVALID
 * naming both numbers otherwise. */
NN_API nn_status nn_trainer_set_epochs(nn_trainer *t, int epochs);
/* The epochs run so far (owned by the trainer). */
NN_API const struct nn_epoch_stats *nn_trainer_history(const nn_trainer *t, int *n);
NN_API nn_optim *nn_trainer_optim(nn_trainer *t);
NN_API nn_schedule *nn_trainer_schedule(nn_trainer *t);
NN_API int nn_trainer_epoch(const nn_trainer *t);          /* epochs completed */
NN_API int nn_trainer_best_epoch(const nn_trainer *t);     /* 0 if none */
NN_API bool nn_trainer_stopped_early(const nn_trainer *t);
/* Whether training stopped at convergence (tol); nn_trainer_stopped_early
 * is then true too. */
NN_API bool nn_trainer_converged(const nn_trainer *t);
/* L1 + L2 penalty of the current weights under the trainer's settings. */
NN_API double nn_trainer_penalty(const nn_trainer *t);

/* ---- Checkpoints (src/io/checkpoint.c, src/io/checkpoint_read.c):
 * safetensors files holding every parameter under its node name
 * ("dense1.weight"), and in __metadata__ the model spec, loss,
 * normalization kind, class names, and, when a trainer is given, its whole
 * configuration (optimizer and its hyperparameters, schedule, batch,
 * penalties, clipping, early stopping), the optimizer's step count, the
 * training position (epochs done, the context's generator state,
 * early-stopping counters) and the per-epoch history. The normalization
 * statistics ("norm.shift", "norm.scale"), the optimizer state
 * ("optim.state") and the early-stopping best weights ("train.best") are
 * tensors. Any safetensors reader can load the weights; the metadata
 * formats are the library's own: read them with nn_checkpoint_open. */

/* Writes the checkpoint atomically (see nn_safetensors_save). t may be
 * NULL (weights only); keys/values add nextra (at most 64) metadata pairs
 * of the caller's own, read back with nn_checkpoint_meta; their keys must
 * not be the library's (see nn_checkpoint_meta). */
NN_API nn_status nn_checkpoint_save(const char *path, nn_model *m, const nn_trainer *t,
                             const char *const *keys, const char *const *values,
                             int nextra);
/* Rebuilds the model from a checkpoint's spec and loads its weights,
 * normalization and class names. NULL on error (message names the file and
 * what is wrong). cfg may be NULL; its max_batch is used if set. */
NN_API nn_model *nn_model_load(nn_ctx *ctx, const char *path, const struct nn_model_cfg *cfg);
/* Restores a trainer (made for the same model spec and optimizer kind) to
 * the position saved in path: weights, optimizer state and steps, epochs
 * done, history, early-stopping state, schedule state and the context's
 * generator, so that training continues exactly as if it had not stopped
 * provided the trainer was made with the checkpoint's configuration
 * (nn_checkpoint_info's train, with any epoch count). */
NN_API nn_status nn_trainer_resume(nn_trainer *t, const char *path);

typedef struct nn_checkpoint nn_checkpoint;

/* What a checkpoint records, without building its model. Every pointer is
 * owned by the nn_checkpoint it came from and valid until it is closed. */
struct nn_checkpoint_info {
    const char *path;
    const char *spec;        /* the model spec, for nn_model_new */
    nn_loss_kind loss;       /* the model's loss (NN_LOSS_AUTO if the file has none) */
    int64_t max_batch;       /* the model's max_batch */
    int64_t parameters;      /* trainable parameters */
    bool has_norm;           /* norm is the input normalization (else unset) */
    struct nn_norm_stats norm;
    int64_t nclasses;        /* named classes, 0 if the classes have no names */
    const char *const *class_names; /* (nclasses) */
    /* A trainer's state, when one was saved (else the fields below are 0): */
    bool has_trainer;
    /* The trainer's configuration: optim with its defaults filled in and
     * lr its base learning rate (before the schedule), schedule with its
     * defaults filled in (a cosine's t_max resolved), epochs the planned
     * count; on_batch, on_epoch and user are NULL. */
    struct nn_train_cfg train;
    int epochs_done;
    int64_t optim_steps;
    double lr;               /* the optimizer's rate at the save (the last epoch's) */
    int best_epoch;          /* early stopping: 0 if none */
    bool stopped_early;
    const struct nn_epoch_stats *history; /* (epochs_done) */
};

/* Opens a checkpoint and reads its metadata: NULL on error with a message
 * naming the file and the problem (a file that cannot be read, a valid
 * safetensors file that is not a libnn checkpoint, a malformed entry).
 * The caller releases it with nn_checkpoint_close; ctx must outlive it. */
NN_API nn_checkpoint *nn_checkpoint_open(nn_ctx *ctx, const char *path);
NN_API void nn_checkpoint_close(nn_checkpoint *ck);
/* What it records (owned by ck). */
NN_API const struct nn_checkpoint_info *nn_checkpoint_info(const nn_checkpoint *ck);
/* The value of an extra metadata pair given to nn_checkpoint_save, or NULL
 * if there is none. The library's own keys ("format", "spec", "loss",
 * "max_batch", "parameters", "norm", "classes", "optim", "train") are not
 * extra: NULL for them (use nn_checkpoint_info). Owned by ck. */
NN_API const char *nn_checkpoint_meta(const nn_checkpoint *ck, const char *key);

/* ---- Importing PyTorch weights (src/io/import.c, src/io/dtype.c): a
 * model from a spec with every parameter and buffer filled from a
 * safetensors file written from a PyTorch state_dict, e.g. of
 *   torch.nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
 * ("0.weight", "0.bias", "2.weight", "2.bias") for the spec
 *   "784 dense:128 relu dense:10".
 *
 * Which tensor fills which parameter. The model's parameters and buffers
 * are taken in their order (nn_graph_param: layer after layer; a layer's
 * weight, then bias, then batch norm's running_mean, running_var and
 * num_batches_tracked: the order of a state_dict of the same layers).
 *  1. The map's pairs are assigned first (cfg->map_file, then cfg->map).
 *  2. Every other parameter takes the next tensor the map does not name,
 *     in the file's order, which is
 *     - the order of the tensors' data in the file (their data_offsets):
 *       the state_dict's own order when the writer kept it (the writer of
 *       examples/export_from_pytorch.py and tests/ref/gen_import.py does);
 *     - unless that data is sorted by name within each dtype, dtypes in
 *       blocks: that is what a sorting writer produces (the safetensors
 *       package's save_file: dtypes by size, then names in byte order, so
 *       "10.weight" comes before "2.weight"). The state_dict's order is
 *       then lost, and the natural module order stands in for it: names
 *       compared by module path (the name up to its last '.'), component by
 *       component, runs of digits by their value (features.3 before
 *       features.10, fc2 before fc10, a module's own tensors before its
 *       children's), then by the last component in state_dict order:
 *       weight, bias, running_mean, running_var, num_batches_tracked, then
 *       any other by name. This recovers numbered modules (Sequential
 *       indices, fc1 fc2 ...), not the declaration order of modules named
 *       otherwise (conv1 before bn1, features before classifier). So when
 *       a shape does not fit in natural order, the other orders of the
 *       top-level modules (the first name component: features,
 *       classifier; conv1, bn1, ...; at most 6 of them) are tried, and the
 *       one order under which every shape fits is taken ("natural order,
 *       modules by shape"): torchvision's features and classifier come
 *       back. If several orders fit (bn1 and bn2 of the same width), it is
 *       an error naming two of them: a map says where those go.
 * A tensor fits a parameter of the same shape; a scalar () also fits a
 * parameter of shape (1) (torch's num_batches_tracked). F32 is copied, F64
 * rounded to the nearest float, F16 and BF16 converted exactly (subnormals,
 * infinities and NaNs included); integer tensors (I64, I32, U8) fill
 * buffers only. Every value must be finite as a float.
 *
 * The map file: one pair per line, "libnn_name = torch_name", e.g.
 * "dense1.weight = encoder.fc.weight"; "- = torch_name" leaves a tensor
 * out on purpose; '#' starts a comment; blank lines are skipped. */
struct nn_import_pair {
    const char *param;  /* a model parameter ("dense1.weight"), or NULL: the
                           tensor is left out */
    const char *tensor; /* a tensor of the file */
};

/* One parameter as filled, for cfg->on_assign. Valid during the call. */
struct nn_import_info {
    const char *param;   /* the model's parameter or buffer */
    int ndim;            /* its shape */
    const int64_t *dims; /* (ndim) */
    bool trainable;      /* false for a buffer */
    const char *tensor;  /* the file's tensor that filled it */
    const char *dtype;   /* that tensor's dtype in the file */
    const char *by;      /* "map", "file order", "natural order" or "natural
                            order, modules by shape" */
};

struct nn_import_cfg {
    int64_t max_batch;     /* largest batch the model runs (default 256) */
    /* The loss, for nn_evaluate and the predictions. NN_LOSS_AUTO: binary
     * cross-entropy after a final sigmoid, else softmax cross-entropy
     * (a final linear layer gives a classifier's logits, as nn.Linear
     * before nn.CrossEntropyLoss). A regression needs NN_LOSS_MSE. */
    nn_loss_kind loss;
    const char *map_file;  /* NULL, or the map as a file (see above) */
    const struct nn_import_pair *map; /* nmap more pairs, or NULL */
    int nmap;
    /* Called once per parameter, in the model's order, after every one is
     * filled (optional). */
    void (*on_assign)(const struct nn_import_info *a, void *user);
    void *user;
};

/* Builds the model of spec (see nn_model_new) and fills every parameter
 * and buffer from the safetensors file at path as described above; cfg may
 * be NULL. On success *out is the model (the caller frees it with
 * nn_model_free; set its normalization and class names with
 * nn_model_set_norm and nn_model_set_class_names, and save it with
 * nn_checkpoint_save). The context's random generator is left as it was.
 * On error *out is NULL and the message names the file and:
 *   NN_ERR_IO      the file (or the map file) cannot be read;
 *   NN_ERR_FORMAT  the file is not safetensors, a dtype is unsupported, or
 *                  a line of the map is not "NAME = NAME";
 *   NN_ERR_INVALID the spec does not build; a map pair names a parameter
 *                  the model lacks, a tensor the file lacks, or either one
 *                  twice;
 *   NN_ERR_SHAPE   a tensor's shape does not fit its parameter (naming both
 *                  and both shapes); several orders of a sorted file's
 *                  top-level modules fit; a parameter is left without a tensor
 *                  (naming it and its shape); a tensor is claimed by no
 *                  parameter (naming it and its shape);
 *   NN_ERR_FORMAT  an integer tensor for a trainable parameter;
 *   NN_ERR_NUMERIC a value that is not finite as a float (naming the tensor,
 *                  the element and the value);
 *   NN_ERR_NOMEM. */
NN_API nn_status nn_import_torch(nn_ctx *ctx, const char *path, const char *spec,
                                 const struct nn_import_cfg *cfg, nn_model **out);

/* The name of the first node in compiled order whose value holds a NaN or
 * infinity after the last forward pass, or NULL. */
NN_API const char *nn_graph_first_nonfinite(const nn_graph *g);

#ifdef __cplusplus
}
#endif
#endif /* NN_H */
