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
 *  - Graph builders accept NULL inputs and then return NULL without adding
 *    to the message, so a chain such as nn_relu(g, nn_matmul(g, x, w, 1))
 *    reports the first error only; nn_graph_compile then fails as well.
 */
#ifndef NN_H
#define NN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
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
const char *nn_status_str(nn_status s);

/* The library's version string, e.g. "0.1.0". */
const char *nn_version(void);

/* ------------------------------------------------------------------------ */
/* Context: error messages, the random number generator, thread count.      */

typedef struct nn_ctx nn_ctx;

struct nn_ctx_cfg {
    uint64_t seed; /* seed of the context's random number generator */
    int threads;   /* cores to use in total; 0 = all available */
};

/* A new context; cfg may be NULL (seed 0, all cores). NULL if out of memory.
 * The caller owns it and releases it with nn_ctx_free. */
nn_ctx *nn_ctx_new(const struct nn_ctx_cfg *cfg);
void nn_ctx_free(nn_ctx *ctx);
/* The message of the last error, or "" if none. Owned by the context. */
const char *nn_ctx_error(const nn_ctx *ctx);
void nn_ctx_clear_error(nn_ctx *ctx);
/* Reseeds the context's generator. */
void nn_ctx_seed(nn_ctx *ctx, uint64_t seed);
/* The generator's full state (4 words), to save and restore exactly. */
void nn_ctx_rng_get(const nn_ctx *ctx, uint64_t state[4]);
void nn_ctx_rng_set(nn_ctx *ctx, const uint64_t state[4]);
/* Uniform 64-bit integer, uniform float in [0, 1), standard normal. */
uint64_t nn_rand_u64(nn_ctx *ctx);
float nn_rand_uniform(nn_ctx *ctx);
float nn_rand_normal(nn_ctx *ctx);
/* The number of threads the context uses (resolved: never 0). */
int nn_ctx_threads(const nn_ctx *ctx);

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

/* An initializer: kind plus its numbers (a, b as above; gain 0 means the
 * default: 1 for Xavier, sqrt(2) for He). fan_in and fan_out follow
 * PyTorch: for a (out, in, ...) weight, fan_in = in * receptive field. */
struct nn_init {
    nn_init_kind kind;
    float a, b, gain;
};

/* "zeros", "xavier_uniform", ... ; NULL for an unknown kind. */
const char *nn_init_name(nn_init_kind kind);
/* Parses a name such as "he_normal"; -1 if unknown. */
int nn_init_parse(const char *name);
/* Fills x[0..n) from the initializer using the context's generator. */
nn_status nn_init_fill(nn_ctx *ctx, struct nn_init init, float *x, int64_t n,
                       int64_t fan_in, int64_t fan_out);

/* ------------------------------------------------------------------------ */
/* Computation graph.                                                        */

typedef struct nn_graph nn_graph;
typedef struct nn_node nn_node;

/* A new, empty graph that reports errors to ctx (which must outlive it).
 * NULL if out of memory. */
nn_graph *nn_graph_new(nn_ctx *ctx);
void nn_graph_free(nn_graph *g);
nn_ctx *nn_graph_ctx(const nn_graph *g);

/* Leaves. Shapes exclude the batch axis for inputs and labels. */
/* A float input of per-sample shape dims[0..ndim); the batch axis is implicit. */
nn_node *nn_input(nn_graph *g, const char *name, int ndim, const int64_t *dims);
/* Integer class labels, one per sample (for nn_softmax_cross_entropy). */
nn_node *nn_labels(nn_graph *g, const char *name);
/* A trainable parameter of shape dims, filled by init at compile time. */
nn_node *nn_param(nn_graph *g, const char *name, int ndim, const int64_t *dims,
                  struct nn_init init);
/* A constant tensor of shape dims (no batch axis); values are copied. */
nn_node *nn_const(nn_graph *g, const char *name, int ndim, const int64_t *dims,
                  const float *values);
/* Asks for the gradient of an input (off by default). */
void nn_input_requires_grad(nn_node *input, bool on);

/* Ops. Each returns the new node, or NULL (message in the context). */
/* matmul(a, b) = a . b, or a . b^T when trans_b; a (M, K), b (K, N) or (N, K);
 * b must not have a batch axis. */
nn_node *nn_matmul(nn_graph *g, nn_node *a, nn_node *b, bool trans_b);
/* Elementwise, with broadcasting: the smaller operand's full shape must be a
 * trailing part of the larger's (a bias over rows), or a single element. */
nn_node *nn_add(nn_graph *g, nn_node *a, nn_node *b); /* a + b */
nn_node *nn_sub(nn_graph *g, nn_node *a, nn_node *b); /* a - b */
nn_node *nn_mul(nn_graph *g, nn_node *a, nn_node *b); /* a * b */
nn_node *nn_scale(nn_graph *g, nn_node *a, float c);  /* c * a */
/* Reductions. nn_sum and nn_mean reduce every element to shape (1);
 * the _axis forms drop one axis (negative counts from the end; axis 0 of
 * an input is its batch axis). */
nn_node *nn_sum(nn_graph *g, nn_node *a);
nn_node *nn_mean(nn_graph *g, nn_node *a);
nn_node *nn_sum_axis(nn_graph *g, nn_node *a, int axis);
nn_node *nn_mean_axis(nn_graph *g, nn_node *a, int axis);
/* Activations, elementwise. */
nn_node *nn_relu(nn_graph *g, nn_node *a);                  /* max(0, x) */
nn_node *nn_leaky_relu(nn_graph *g, nn_node *a, float slope); /* x > 0 ? x : slope x */
nn_node *nn_sigmoid(nn_graph *g, nn_node *a);               /* 1 / (1 + e^-x) */
nn_node *nn_tanh(nn_graph *g, nn_node *a);                  /* tanh x */
nn_node *nn_hardtanh(nn_graph *g, nn_node *a, float lo, float hi); /* clamp(x, lo, hi) */
/* sign(x) in {-1, 0, 1}; its derivative is 0 everywhere it exists, and the
 * backward pass propagates 0 (no straight-through estimator). */
nn_node *nn_sign(nn_graph *g, nn_node *a);
nn_node *nn_identity(nn_graph *g, nn_node *a);              /* x */
nn_node *nn_exp(nn_graph *g, nn_node *a);                   /* e^x */
nn_node *nn_log(nn_graph *g, nn_node *a);                   /* ln x */
nn_node *nn_square(nn_graph *g, nn_node *a);                /* x^2 */
nn_node *nn_abs(nn_graph *g, nn_node *a);                   /* |x|, derivative 0 at 0 */
/* Along the last axis: softmax_i = e^{x_i} / sum_j e^{x_j}, log-softmax. */
nn_node *nn_softmax(nn_graph *g, nn_node *a);
nn_node *nn_log_softmax(nn_graph *g, nn_node *a);
/* Inverted dropout: in training mode each element is zeroed with
 * probability p and the rest scaled by 1/(1-p); in evaluation mode, x. */
nn_node *nn_dropout(nn_graph *g, nn_node *a, float p);

/* Losses, scalar outputs of shape (1), averaged over the batch. */
/* -log softmax(logits)[y] averaged over rows; logits (N, C), labels from nn_labels. */
nn_node *nn_softmax_cross_entropy(nn_graph *g, nn_node *logits, nn_node *labels);
/* Binary cross-entropy on logits z with targets t in [0, 1], in the stable
 * form max(z, 0) - z t + log(1 + e^-|z|), averaged over all elements. */
nn_node *nn_sigmoid_bce(nn_graph *g, nn_node *logits, nn_node *targets);
/* -(t log p + (1 - t) log(1 - p)) with p clamped to [1e-7, 1 - 1e-7],
 * averaged over all elements. */
nn_node *nn_bce(nn_graph *g, nn_node *probs, nn_node *targets);
/* (pred - target)^2 averaged over all elements. */
nn_node *nn_mse(nn_graph *g, nn_node *pred, nn_node *target);

/* Compiles the graph for the given output nodes (losses and predictions):
 * orders the nodes they depend on, allocates every buffer for batches of up
 * to max_batch samples and initializes the parameters. Once per graph. */
nn_status nn_graph_compile(nn_graph *g, nn_node *const *outputs, int noutputs,
                           int64_t max_batch);

/* Copies n samples into an input (n <= max_batch; the same n for every input
 * of a pass). */
nn_status nn_feed(nn_graph *g, nn_node *input, const float *data, int64_t n);
/* Copies n class labels; each must be in [0, classes) for the loss using them. */
nn_status nn_feed_labels(nn_graph *g, nn_node *labels, const int32_t *y, int64_t n);
/* The input's buffer, to fill in place, and the batch size it then holds. */
float *nn_input_buffer(nn_graph *g, nn_node *input);
int32_t *nn_labels_buffer(nn_graph *g, nn_node *labels);
nn_status nn_set_batch(nn_graph *g, int64_t n);
int64_t nn_graph_batch(const nn_graph *g);

/* Training mode turns dropout on (the default is evaluation mode). */
void nn_graph_set_training(nn_graph *g, bool on);

/* Runs every compiled node in order. */
nn_status nn_forward(nn_graph *g);
/* Runs only the nodes out depends on (e.g. predictions without labels). */
nn_status nn_forward_to(nn_graph *g, nn_node *out);
/* Back-propagates from a scalar node (seed gradient 1), adding into the
 * gradients of parameters (and inputs that asked for them). Parameter
 * gradients accumulate across calls until nn_zero_grad. */
nn_status nn_backward(nn_graph *g, nn_node *loss);
/* Same from any node, with seed gradient seed (shape of out at this batch). */
nn_status nn_backward_seeded(nn_graph *g, nn_node *out, const float *seed);
void nn_zero_grad(nn_graph *g);

/* Node inspection. Values and gradients live as long as the graph; a
 * gradient is NULL for nodes that need none. Dimensions include the batch
 * axis at the current batch size. */
const float *nn_value(const nn_node *n);
float *nn_value_mut(nn_node *n);
const float *nn_grad(const nn_node *n);
int nn_node_ndim(const nn_node *n);
int64_t nn_node_dim(const nn_node *n, int axis);
int64_t nn_node_numel(const nn_node *n);
const char *nn_node_name(const nn_node *n);
const char *nn_node_op(const nn_node *n);
bool nn_node_is_param(const nn_node *n);

/* Parameters live in one contiguous block in creation order, and so do
 * their gradients (valid after compile). */
int nn_graph_nparams(const nn_graph *g);
nn_node *nn_graph_param(const nn_graph *g, int i);
nn_node *nn_graph_find(const nn_graph *g, const char *name);
int64_t nn_graph_param_count(const nn_graph *g);
float *nn_graph_param_block(nn_graph *g);
float *nn_graph_grad_block(nn_graph *g);
/* Offset of a parameter's values inside the block. */
int64_t nn_param_offset(const nn_node *param);

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
nn_status nn_gradcheck(nn_graph *g, nn_node *out, double eps,
                       struct nn_gradcheck_result *res);

/* The op table: count, names, and a self-contained gradient check of op i
 * on a small example graph built for it. tol is the op's tolerance on the
 * relative error. */
int nn_op_count(void);
const char *nn_op_name_at(int i);
bool nn_op_is_differentiable_at(int i);
nn_status nn_gradcheck_op(nn_ctx *ctx, int i, struct nn_gradcheck_result *res,
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

/* Zero fields take the torch.optim default of the chosen optimizer
 * (nn_optim_defaults fills them explicitly). */
struct nn_optim_cfg {
    nn_optim_kind kind;
    float lr;
    float momentum;     /* momentum, nesterov, rmsprop */
    float dampening;    /* momentum */
    float weight_decay; /* coupled (added to the gradient) unless decoupled */
    bool decoupled;     /* p -= lr * wd * p before the update (always for adamw) */
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
};

typedef struct nn_optim nn_optim;

/* Fills unset (zero) fields of cfg with the defaults of cfg->kind. */
void nn_optim_defaults(struct nn_optim_cfg *cfg);
/* "sgd", "adam", ...; NULL if unknown. */
const char *nn_optim_name(nn_optim_kind kind);
/* Parses a name; -1 if unknown. */
int nn_optim_parse(const char *name);
/* A new optimizer over the compiled graph's parameters. NULL on error
 * (message in the context). The caller frees it with nn_optim_free. */
nn_optim *nn_optim_new(nn_graph *g, const struct nn_optim_cfg *cfg);
void nn_optim_free(nn_optim *o);
/* One update from the current gradients. */
nn_status nn_optim_step(nn_optim *o);
float nn_optim_lr(const nn_optim *o);
void nn_optim_set_lr(nn_optim *o, float lr);
/* Excludes a parameter from weight decay (e.g. biases); on by default. */
nn_status nn_optim_set_decay(nn_optim *o, const nn_node *param, bool on);
/* The state block (moments, accumulators) and the step count, to save and
 * restore exactly; nn_optim_state_size floats. */
int64_t nn_optim_state_size(const nn_optim *o);
float *nn_optim_state(nn_optim *o);
int64_t nn_optim_steps(const nn_optim *o);
void nn_optim_set_steps(nn_optim *o, int64_t steps);
const struct nn_optim_cfg *nn_optim_config(const nn_optim *o);

/* @@ section: learning-rate schedules @@ */

/* @@ section: datasets @@ */

/* @@ section: safetensors @@ */

/* @@ section: models and training @@ */

#ifdef __cplusplus
}
#endif
#endif /* NN_H */
