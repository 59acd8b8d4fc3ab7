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
/* The matrix-product backend compiled in: "onednn" or "cblas". */
const char *nn_gemm_backend_name(void);

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

/* Before compile: fold each bias add (a row vector broadcast over a batch)
 * that feeds only a relu into that relu, so the pair is one pass over
 * memory forward and backward. The add then keeps no value or gradient of
 * its own (nn_value and nn_grad return NULL for it); every other node and
 * all results are unchanged. Off by default; models turn it on. */
void nn_graph_set_fuse(nn_graph *g, bool on);

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
void nn_schedule_defaults(struct nn_schedule_cfg *cfg);
/* "constant", "step", "exp", "cos", "plateau"; NULL if unknown. */
const char *nn_schedule_name(nn_schedule_kind kind);
/* Parses the text form above into *cfg (zeroed first). NN_ERR_INVALID with
 * a message naming the term and field on a syntax error or bad value. */
nn_status nn_schedule_parse(nn_ctx *ctx, const char *text, struct nn_schedule_cfg *cfg);
/* Writes the text form of cfg (parsable by nn_schedule_parse) into buf;
 * returns the length it needs, as snprintf. */
int nn_schedule_format(const struct nn_schedule_cfg *cfg, char *buf, size_t size);
/* A new schedule from base_lr; epochs is the planned training length (used
 * only for a cosine t_max of 0; may be 0 otherwise). NULL with a message
 * naming the field and value on an invalid configuration. The caller owns
 * it (nn_schedule_free); ctx must outlive it. */
nn_schedule *nn_schedule_new(nn_ctx *ctx, const struct nn_schedule_cfg *cfg,
                             double base_lr, int64_t epochs);
void nn_schedule_free(nn_schedule *s);
/* The configuration with the defaults filled in. */
const struct nn_schedule_cfg *nn_schedule_config(const nn_schedule *s);
/* The learning rate for epoch (0-based; negative counts as 0). */
float nn_schedule_lr(const nn_schedule *s, int64_t epoch);
/* Reports the metric measured at the end of epoch (validation loss, or a
 * quantity to maximize with mode_max) and returns the rate for epoch + 1.
 * Only plateau schedules use it; for the others it changes nothing. */
float nn_schedule_on_metric(nn_schedule *s, int64_t epoch, double metric);

/* The schedule's mutable state, to save in a checkpoint and restore
 * exactly: [0] current plateau rate, [1] best metric (+-inf before the
 * first), [2] bad epochs counted, [3] cooldown epochs left. The other kinds
 * are functions of the epoch and ignore it. */
#define NN_SCHEDULE_STATE_LEN 4
void nn_schedule_get_state(const nn_schedule *s, double state[NN_SCHEDULE_STATE_LEN]);
/* NN_ERR_INVALID if a value is impossible (negative or non-integral counts,
 * a negative or non-finite rate, a NaN best). */
nn_status nn_schedule_set_state(nn_schedule *s, const double state[NN_SCHEDULE_STATE_LEN]);

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
const char *nn_norm_name(nn_norm_kind kind);
/* Parses a name as above; -1 if unknown. */
int nn_norm_parse(const char *name);

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
nn_dataset *nn_dataset_load_idx(nn_ctx *ctx, const char *images_path,
                                const char *labels_path);

/* A data set shipped by a Debian package, by name: "fashion-mnist" with
 * split "train" (60000) or "test" (10000), from
 * /usr/share/datasets/fashion-mnist/. If it is missing, the message says
 * how to install it (apt-get install dataset-fashion-mnist). */
nn_dataset *nn_dataset_load_named(nn_ctx *ctx, const char *name, const char *split);

typedef enum nn_csv_task {
    NN_CSV_AUTO = 0, /* classification if every label is an integer in
                        [0, NN_CSV_AUTO_MAX_CLASSES), regression if every
                        label is some other number, else classification by
                        name */
    NN_CSV_CLASSIFY, /* classification: non-negative integer labels are class
                        indices (classes = max + 1); otherwise each distinct
                        string is a class, indexed in sorted (strcmp) order */
    NN_CSV_REGRESS   /* regression: every label must be a finite number */
} nn_csv_task;

#define NN_CSV_AUTO_MAX_CLASSES 1000
#define NN_CSV_MAX_CLASSES 1000000 /* classes by index or by name, at most */

/* CSV options; NULL or a zeroed struct gives the defaults. */
struct nn_csv_opts {
    /* The label column: a header name, or a 0-based index ("0"; negative
     * counts from the end: "-1" is the last column). For regression, a
     * comma-separated list of columns gives several targets. NULL: no label
     * column, every column is a feature (inputs to predict). */
    const char *label;
    bool no_header;    /* the first row is data (default: a header row) */
    nn_csv_task task;
    char delimiter;    /* 0 = ',' */
};

/* A CSV file (gzip-compressed or not; quoted fields allowed). Every
 * non-label column is a float feature; per-sample shape (features). Fields
 * are decimal numbers; empty fields, NaN and infinities are errors naming
 * the line and column, and so are ragged rows, an empty file, a header
 * without rows and a label column that does not exist. Normalization:
 * NN_NORM_STANDARD fitted on the whole file (nn_dataset_split refits it on
 * the training part; at evaluation time set the training statistics with
 * nn_dataset_norm_set). */
nn_dataset *nn_dataset_load_csv(nn_ctx *ctx, const char *path,
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
nn_dataset *nn_dataset_load_images(nn_ctx *ctx, const char *dir,
                                   const struct nn_image_opts *opts);

/* Image files given by path, without labels (inputs to predict), with the
 * same size policy as nn_dataset_load_images. */
nn_dataset *nn_dataset_load_image_files(nn_ctx *ctx, const char *const *paths,
                                        int64_t n, const struct nn_image_opts *opts);

/* One image file as raw float pixel values in [0, 255], layout (C, H, W),
 * with the size policy of opts (required size, or resize). dims receives
 * {C, H, W}. Returns memory the caller releases with free(), or NULL. */
float *nn_image_load_file(nn_ctx *ctx, const char *path,
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
nn_dataset *nn_dataset_from_arrays(nn_ctx *ctx, const struct nn_array_data *a);

/* Releases a data set (views and the set they came from may be freed in any
 * order: the rows are shared and freed with the last of them). NULL is a
 * no-op. */
void nn_dataset_free(nn_dataset *ds);

/* Samples. */
int64_t nn_dataset_size(const nn_dataset *ds);
/* Features per sample (the product of the per-sample shape). */
int64_t nn_dataset_features(const nn_dataset *ds);
/* Per-sample shape, without the batch axis, into dims[NN_MAX_DIMS]; returns
 * its dimension count. */
int nn_dataset_shape(const nn_dataset *ds, int64_t dims[NN_MAX_DIMS]);
nn_label_kind nn_dataset_label_kind(const nn_dataset *ds);
/* Number of classes; 0 unless classification. */
int64_t nn_dataset_classes(const nn_dataset *ds);
/* Targets per sample; 0 unless regression. */
int64_t nn_dataset_targets(const nn_dataset *ds);
/* The name of class i (CSV string labels, image folders), or NULL if the
 * classes have no names or i is out of range. Owned by the data set. */
const char *nn_dataset_class_name(const nn_dataset *ds, int64_t i);
/* The name of feature j (a CSV header), or NULL. Owned by the data set. */
const char *nn_dataset_feature_name(const nn_dataset *ds, int64_t j);
/* The file or folder it was loaded from (for messages). */
const char *nn_dataset_source(const nn_dataset *ds);

/* Renumbers the classes of a set with named classes (CSV strings, image
 * folders) to the order of names[0..n), e.g. a model's or a training set's,
 * so that a test file lacking some class still uses the same indices.
 * NN_ERR_RANGE naming a class that is not among names. For integer labels it
 * only checks them against n (nn_dataset_check_classes). Call it before
 * making views of ds. */
nn_status nn_dataset_map_classes(nn_dataset *ds, const char *const *names, int64_t n);
/* Declares the class count: NN_ERR_RANGE naming the first sample whose
 * label is >= classes; on success nn_dataset_classes returns classes. */
nn_status nn_dataset_check_classes(nn_dataset *ds, int64_t classes);

/* Fits the normalization of the given kind on this data set's own rows
 * (shift and scale computed in double precision). */
nn_status nn_dataset_fit_norm(nn_dataset *ds, nn_norm_kind kind);
/* The current normalization; its arrays are owned by the data set and valid
 * until its normalization next changes or it is freed. */
void nn_dataset_norm_get(const nn_dataset *ds, struct nn_norm_stats *out);
/* Sets the normalization (copied), e.g. the training set's on a test set or
 * one read from a checkpoint. NN_ERR_SHAPE if nfeatures differs,
 * NN_ERR_NUMERIC if a value is not finite or a scale is 0. */
nn_status nn_dataset_norm_set(nn_dataset *ds, const struct nn_norm_stats *st);
/* Applies st to rows of st->nfeatures floats in place. */
void nn_norm_apply(const struct nn_norm_stats *st, float *x, int64_t rows);

/* A view of the samples idx[0..n) of ds (indices into ds, repeats allowed),
 * sharing its rows, with a copy of its normalization. Owned by the caller. */
nn_dataset *nn_dataset_subset(const nn_dataset *ds, const int64_t *idx, int64_t n);

/* Shuffles the samples with a generator seeded by seed and cuts them into
 * a training view (the first n - round(n * val_fraction)) and a validation
 * view (the rest); val_fraction in (0, 1) and both parts non-empty. A
 * fitted normalization (standard, minmax) is refitted on the training part
 * and copied to the validation part; others are kept. Both views are owned
 * by the caller and independent of ds (which may be freed first). On error
 * *train and *val are NULL. */
nn_status nn_dataset_split(const nn_dataset *ds, float val_fraction, uint64_t seed,
                           nn_dataset **train, nn_dataset **val);

/* The batch path: converts samples idx[0..n) to float32 with the
 * normalization applied into x_out (n, features), their class labels into
 * labels_out (n) and their targets into targets_out (n, ntargets). Any out
 * buffer may be NULL; labels_out and targets_out are written only when the
 * data set has that kind of label. Allocates nothing. NN_ERR_RANGE (and
 * nothing written) if an index is outside [0, size). */
nn_status nn_dataset_gather(const nn_dataset *ds, const int64_t *idx, int64_t n,
                            float *x_out, int32_t *labels_out, float *targets_out);
/* Asks the processor to start loading the rows of samples idx[0..n) (a
 * hint: the next batch's rows arrive while the current one trains). */
void nn_dataset_prefetch(const nn_dataset *ds, const int64_t *idx, int64_t n);
/* Sample i's normalized features into x_out (features). */
nn_status nn_dataset_row(const nn_dataset *ds, int64_t i, float *x_out);
/* @@ end section: datasets @@ */

/* @@ section: safetensors @@ */
/* ------------------------------------------------------------------------ */
/* Safetensors files (src/io/safetensors.c): the generic reader and atomic
 * writer that checkpoints are built on.
 *
 * Format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * (tensor name -> {"dtype", "shape", "data_offsets": [begin, end)}, plus an
 * optional "__metadata__" object of string -> string), then the tensors'
 * bytes, little-endian and row-major. Supported dtypes: "F32", "I32", "I64"
 * and "U8"; the reader rejects the others with a message naming the dtype. */

typedef struct nn_safetensors nn_safetensors;

/* One tensor to write. name must be valid UTF-8, unique within the file and
 * not "__metadata__"; data holds numel (product of dims; 1 when ndim is 0)
 * elements of dtype in host byte order (written little-endian). */
struct nn_st_tensor {
    const char *name;
    const char *dtype; /* "F32", "I32", "I64" or "U8" */
    int ndim;          /* 0 (a scalar) to NN_MAX_DIMS */
    int64_t dims[NN_MAX_DIMS];
    const void *data;  /* may be NULL only when numel is 0 */
};

/* Options of nn_safetensors_save_ex. A zeroed struct means the defaults. */
struct nn_st_write_opts {
    /* Testing hooks: make the write fail as a full disk or a dying device
     * would, to check that the old file survives. fail_after_bytes > 0
     * writes that many bytes of the temporary file and fails (EIO) the
     * write that would go further (a file no larger than that is written
     * in full); fail_rename fails (EIO) at the rename step. Outside tests
     * leave them 0. When both are unset the environment variables
     * NN_TEST_FAIL_WRITE_AFTER=K (K >= 0) and NN_TEST_FAIL_RENAME=1, read at
     * call time, do the same. */
    int64_t fail_after_bytes;
    bool fail_rename;
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
nn_status nn_safetensors_save(nn_ctx *ctx, const char *path,
                              const struct nn_st_tensor *t, int n,
                              const char *const *meta_keys,
                              const char *const *meta_values, int nmeta);
/* The same with options (opts may be NULL). */
nn_status nn_safetensors_save_ex(nn_ctx *ctx, const char *path,
                                 const struct nn_st_tensor *t, int n,
                                 const char *const *meta_keys,
                                 const char *const *meta_values, int nmeta,
                                 const struct nn_st_write_opts *opts);

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
nn_safetensors *nn_safetensors_open(nn_ctx *ctx, const char *path);
void nn_safetensors_close(nn_safetensors *st);

/* A tensor of an open file. Every pointer stays valid until the handle is
 * closed; data is in host byte order and aligned to the element size. */
struct nn_st_view {
    const char *name;
    const char *dtype;   /* "F32", "I32", "I64" or "U8" */
    int ndim;            /* 0 for a scalar; may exceed NN_MAX_DIMS */
    const int64_t *dims; /* (ndim) */
    int64_t numel;       /* product of dims, 1 for a scalar */
    size_t nbytes;       /* numel * element size */
    const void *data;    /* (dims...) row-major */
};

/* The number of tensors, and tensor i (0 <= i < count) in header order;
 * NULL if i is out of range. */
int nn_safetensors_count(const nn_safetensors *st);
const struct nn_st_view *nn_safetensors_at(const nn_safetensors *st, int i);
/* The tensor named name, or NULL if there is none (no message). */
const struct nn_st_view *nn_safetensors_find(const nn_safetensors *st,
                                             const char *name);
/* The float data of tensor name, checked: it exists, has dtype F32 and,
 * unless dims is NULL, exactly the shape dims[0..ndim). NULL otherwise,
 * with a message in the handle's context naming the file, the tensor, and
 * what was found and expected. Owned by the handle. */
const float *nn_safetensors_get_f32(const nn_safetensors *st, const char *name,
                                    int ndim, const int64_t *dims);
/* Metadata: the value for key or NULL; the number of pairs and key i (NULL
 * if out of range). Strings are owned by the handle. */
const char *nn_safetensors_meta(const nn_safetensors *st, const char *key);
int nn_safetensors_meta_count(const nn_safetensors *st);
const char *nn_safetensors_meta_key(const nn_safetensors *st, int i);
/* The path the handle was opened from (or the label of an in-memory parse). */
const char *nn_safetensors_path(const nn_safetensors *st);
/* @@ end section: safetensors @@ */

/* ------------------------------------------------------------------------ */
/* Layers, models and training (src/layers.c, src/model.c, src/train.c).    */

/* dense(x) = x . W^T + b with W (units, in) named NAME.weight and b (units)
 * named NAME.bias (zeros). x must be (N, in). NULL on error. */
nn_node *nn_dense(nn_graph *g, nn_node *x, int64_t units, struct nn_init w_init,
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
    bool has_init;        /* use init for every weight; otherwise the per-layer
                             default: He normal before the relu family,
                             Xavier uniform elsewhere (biases are zeros) */
    nn_init_kind init;
    nn_loss_kind loss;
};

typedef struct nn_model nn_model;

/* Builds a sequential model from a spec such as
 *   "784 dense:256 relu dropout:0.2 dense:128 relu dense:10 softmax"
 * The first token is the per-sample input size. Layers:
 *   dense:UNITS[:INIT]  relu  leaky_relu[:SLOPE]  sigmoid  tanh
 *   hardtanh[:LO:HI]  sign  identity  dropout[:P]  softmax (last only)
 * A final softmax or sigmoid is fused with its loss; predictions are the
 * probabilities. cfg may be NULL. NULL on error; free with nn_model_free. */
nn_model *nn_model_new(nn_ctx *ctx, const char *spec, const struct nn_model_cfg *cfg);
void nn_model_free(nn_model *m);
nn_ctx *nn_model_ctx(const nn_model *m);
nn_graph *nn_model_graph(const nn_model *m);
const char *nn_model_spec(const nn_model *m);
nn_loss_kind nn_model_loss_kind(const nn_model *m);
int64_t nn_model_inputs(const nn_model *m);   /* features per sample */
int64_t nn_model_outputs(const nn_model *m);  /* output units */
int64_t nn_model_max_batch(const nn_model *m);
/* Nodes: the input, the labels (cross-entropy) or targets (others), the
 * loss (data term, mean over the batch), the logits before a fused final
 * activation, and the predictions (probabilities or values). */
nn_node *nn_model_input(const nn_model *m);
nn_node *nn_model_target(const nn_model *m);
nn_node *nn_model_loss(const nn_model *m);
nn_node *nn_model_logits(const nn_model *m);
nn_node *nn_model_output(const nn_model *m);
/* Predictions for n samples x (n, inputs) into out (n, outputs), in
 * evaluation mode, in chunks of max_batch. x is in the model's input space:
 * normalized as its training data was (see nn_model_normalize). x is only
 * read (each chunk is copied into the model); out must not overlap it. */
nn_status nn_model_predict(nn_model *m, const float *x, int64_t n, float *out);
/* For classifiers (loss cross-entropy or sigmoid): the classes are the
 * outputs, or classes 0 and 1 for a one-output sigmoid (p is class 1's
 * probability); ranked by probability, ties to the lower index. For a
 * multi-output sigmoid the probabilities are per output, independent. */
/* The predicted class of each of n samples x (n, inputs) into classes (n).
 * NN_ERR_STATE for a regression model (loss mse). */
nn_status nn_model_predict_class(nn_model *m, const float *x, int64_t n, int64_t *classes);
/* The k most probable classes of each sample, most probable first, into
 * classes (n, k), and their probabilities into probs (n, k) unless probs
 * is NULL. NN_ERR_INVALID naming k and the class count unless 1 <= k <=
 * classes; NN_ERR_STATE for a regression model. Allocates nothing. */
nn_status nn_model_topk(nn_model *m, const float *x, int64_t n, int64_t k, int64_t *classes,
                        float *probs);
/* The input normalization the model was trained with (stored in its
 * checkpoint): set (copied), get (false if none; arrays owned by the
 * model), and apply to n raw rows in place. */
nn_status nn_model_set_norm(nn_model *m, const struct nn_norm_stats *st);
bool nn_model_norm(const nn_model *m, struct nn_norm_stats *out);
void nn_model_normalize(const nn_model *m, float *x, int64_t n);
/* Class names (copied; n must equal the output units, or be 2 for a
 * one-unit sigmoid); name of class i or NULL if the classes have no names. */
nn_status nn_model_set_class_names(nn_model *m, const char *const *names, int64_t n);
const char *nn_model_class_name(const nn_model *m, int64_t i);

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
struct nn_source nn_source_from_arrays(struct nn_array_source *a);

/* A data set as a source (parallel, with prefetching): its features (with
 * its normalization), and its class labels or targets, whichever it has.
 * Not copied: ds must outlive the source's use and keep its normalization
 * while training. */
struct nn_source nn_source_from_dataset(const nn_dataset *ds);

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
nn_status nn_augment_parse(nn_ctx *ctx, const char *text, struct nn_augment_cfg *cfg);
/* Writes the text form of cfg ("shift:2,flip", "flip", "none") into buf;
 * returns the length it needs, as snprintf. */
int nn_augment_format(const struct nn_augment_cfg *cfg, char *buf, size_t size);
/* The draw of sample `sample` (an index into the source) in epoch `epoch`
 * (0-based); dy = dx = 0 when shift is 0, flip false unless cfg->flip. */
struct nn_augment_draw nn_augment_draw(const struct nn_augment_cfg *cfg, int epoch,
                                       int64_t sample);
/* Transforms one image img (c, h, w) in place by d as above (vacated
 * pixels 0). Allocates nothing. */
void nn_augment_image(float *img, int64_t c, int64_t h, int64_t w, struct nn_augment_draw d);

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
nn_status nn_source_augment(nn_ctx *ctx, struct nn_augment_source *a,
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
nn_status nn_evaluate(nn_model *m, const struct nn_source *src, struct nn_metrics *out);

struct nn_epoch_stats {
    int epoch;               /* 1-based */
    struct nn_metrics train; /* running averages over the epoch's batches */
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
    /* Called after every batch / epoch when set; return false to stop. */
    bool (*on_batch)(const struct nn_train_progress *p, void *user);
    bool (*on_epoch)(const struct nn_epoch_stats *s, void *user);
    void *user;
};

typedef struct nn_trainer nn_trainer;

/* A trainer for the model (which it does not own). NULL on error. */
nn_trainer *nn_trainer_new(nn_model *m, const struct nn_train_cfg *cfg);
void nn_trainer_free(nn_trainer *t);
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
nn_status nn_trainer_fit(nn_trainer *t, const struct nn_source *train,
                         const struct nn_source *val);
/* Sets the total number of epochs to train to (at least 1 and at least
 * the epochs done), e.g. to train on after a finished fit. NN_ERR_INVALID
 * naming both numbers otherwise. */
nn_status nn_trainer_set_epochs(nn_trainer *t, int epochs);
/* The epochs run so far (owned by the trainer). */
const struct nn_epoch_stats *nn_trainer_history(const nn_trainer *t, int *n);
nn_optim *nn_trainer_optim(nn_trainer *t);
nn_schedule *nn_trainer_schedule(nn_trainer *t);
int nn_trainer_epoch(const nn_trainer *t);          /* epochs completed */
int nn_trainer_best_epoch(const nn_trainer *t);     /* 0 if none */
bool nn_trainer_stopped_early(const nn_trainer *t);
/* L1 + L2 penalty of the current weights under the trainer's settings. */
double nn_trainer_penalty(const nn_trainer *t);

/* ---- Checkpoints (src/io/checkpoint.c): safetensors files holding every
 * parameter under its node name ("dense1.weight"), and in __metadata__ the
 * model spec, loss, normalization kind, class names, and, when a trainer is
 * given, the optimizer configuration and step count, the training position
 * (epochs done, the context's generator state, early-stopping counters),
 * the training configuration and the per-epoch history. The normalization
 * statistics ("norm.shift", "norm.scale"), the optimizer state
 * ("optim.state") and the early-stopping best weights ("train.best") are
 * tensors. Any safetensors reader can load the weights. */

/* Writes the checkpoint atomically (see nn_safetensors_save). t may be
 * NULL (weights only); keys/values add nextra metadata pairs. */
nn_status nn_checkpoint_save(const char *path, nn_model *m, const nn_trainer *t,
                             const char *const *keys, const char *const *values,
                             int nextra);
/* Rebuilds the model from a checkpoint's spec and loads its weights,
 * normalization and class names. NULL on error (message names the file and
 * what is wrong). cfg may be NULL; its max_batch is used if set. */
nn_model *nn_model_load(nn_ctx *ctx, const char *path, const struct nn_model_cfg *cfg);
/* Restores a trainer (made for the same model spec) to the position saved
 * in path: weights, optimizer state and steps, epochs done, history,
 * early-stopping state and the context's generator, so that training
 * continues exactly as if it had not stopped. */
nn_status nn_trainer_resume(nn_trainer *t, const char *path);

/* The name of the first node in compiled order whose value holds a NaN or
 * infinity after the last forward pass, or NULL. */
const char *nn_graph_first_nonfinite(const nn_graph *g);

#ifdef __cplusplus
}
#endif
#endif /* NN_H */
