/*
 * nn_impl.h - private structures shared inside libnn: the context, the graph
 * and its nodes, the op table, the arena and the one GEMM entry point.
 */
#ifndef NN_IMPL_H
#define NN_IMPL_H

#include "nn.h"

#include <stdio.h>
#include <stdlib.h>

/* Programmer errors (violated internal preconditions): print and abort. */
#define NN_ASSERT(cond, msg)                                                  \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "%s:%d: internal error: %s (%s)\n", __FILE__,     \
                    __LINE__, (msg), #cond);                                  \
            abort();                                                          \
        }                                                                     \
    } while (0)

#define NN_ALIGN 64
/* Floats allocated after the gradient block (nn_graph.grad_block). */
#define NN_GRAD_SPARE 16

/* The most elements one node may hold (a parameter, or an activation at
 * the largest batch): 2^40 floats, 4 TiB. Shapes are checked against it
 * so that no element count or byte size can overflow. */
#define NN_MAX_NUMEL ((int64_t)1 << 40)

/* Marks a loop for vectorization: at -O2 GCC vectorizes only loops it is
 * told are safe, so the kernels ask explicitly. (The fuzz build has no
 * OpenMP and leaves them scalar.) */
#if defined(_OPENMP)
#define NN_SIMD _Pragma("omp simd")
#define NN_SIMD_SUM _Pragma("omp simd reduction(+ : s)") /* accumulates into s */
#else
#define NN_SIMD
#define NN_SIMD_SUM
#endif

/* Hot kernels are compiled for AVX-512, AVX2 and the baseline, and the best
 * is picked at load time from the CPU's flags (GCC's function
 * multiversioning), so one binary runs everywhere. ISO C mode keeps
 * floating-point contraction off, so every version rounds identically:
 * results do not depend on the CPU. NN_NO_MULTIVERSION forces the portable
 * code (make portable). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(NN_NO_MULTIVERSION)
#define NN_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define NN_MULTIVERSION
#endif

/* ------------------------------------------------------------------------ */
/* Random numbers: xoshiro256** seeded through splitmix64.                   */

struct nn_rng {
    uint64_t s[4];
};
void nn_rng_seed(struct nn_rng *r, uint64_t seed);
uint64_t nn_rng_u64(struct nn_rng *r);
float nn_rng_uniform(struct nn_rng *r); /* [0, 1) with 24 random bits */
double nn_rng_uniform_d(struct nn_rng *r); /* [0, 1) with 53 random bits */
float nn_rng_normal(struct nn_rng *r);  /* Box-Muller, one draw per call pair */
uint64_t nn_rng_below(struct nn_rng *r, uint64_t n); /* uniform in [0, n) */

/* The library's worker threads (pool.c). nn_pool_for calls fn(arg, i, t)
 * once for every item i in [0, count) and returns when all are done: the
 * running threads, the caller included, claim items in no fixed order, t
 * being the thread that runs the item (0 the caller, < nn_pool_size; for
 * per-thread scratch). The items' work must not depend on t or the order.
 * nn_pool_run calls fn(arg, t, n) for every part t of n = nn_pool_size
 * parts, each claimed the same way: t names the part, not the thread that
 * runs it (scratch indexed by t is the part's own). A NULL pool runs every
 * item (part 0 of 1) on the caller. */
typedef struct nn_pool nn_pool;
nn_pool *nn_pool_new(int threads);
void nn_pool_free(nn_pool *p);
int nn_pool_size(const nn_pool *p);
void nn_pool_for(nn_pool *p, int64_t count, void (*fn)(void *arg, int64_t i, int t), void *arg);
void nn_pool_run(nn_pool *p, void (*fn)(void *arg, int t, int n), void *arg);
/* Test hook: while held, worker t (1..31) claims nothing, as if it had lost
 * its core. */
void nn_pool_hold(nn_pool *p, int t, bool held);

struct nn_ctx {
    struct nn_rng rng;
    int threads;
    nn_pool *pool; /* threads - 1 workers, made on first use; NULL for 1 */
    bool pool_tried;
    char err[512];
    nn_warning_fn warn;   /* warning handler, or NULL */
    void *warn_user;
};

/* The context's pool (NULL when it runs on one thread). */
nn_pool *nn_ctx_pool(nn_ctx *ctx);
/* The share [lo, hi) of len items for thread t of n, cut at multiples of
 * quantum. */
void nn_split(int64_t len, int64_t quantum, int t, int n, int64_t *lo, int64_t *hi);

/* Passes a warning (printf-style) to the context's handler, if any. */
void nn_warn(nn_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Initializers (init.c): whether init gives every element one value; why
 * init cannot be used (written into why, which is returned), or NULL; and
 * the initializer of kind name with the numbers nums[0..n) (text, the
 * defaults for those left out), false with the reason in why if they do
 * not fit. */
bool nn_init_is_constant(struct nn_init init);
const char *nn_init_problem(struct nn_init init, char *why, size_t size);
bool nn_init_from_fields(const char *name, const char *const *nums, int n,
                         struct nn_init *out, char *why, size_t size);

/* Sets the context's message (printf-style) and returns status. */
nn_status nn_fail(nn_ctx *ctx, nn_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* ------------------------------------------------------------------------ */
/* Ops.                                                                      */

enum nn_op {
    NN_OP_INPUT = 0, /* leaves first */
    NN_OP_LABELS,
    NN_OP_PARAM,
    NN_OP_CONST,
    NN_OP_MATMUL,
    NN_OP_ADD,
    NN_OP_SUB,
    NN_OP_MUL,
    NN_OP_SCALE,
    NN_OP_SUM,
    NN_OP_MEAN,
    NN_OP_SUM_AXIS,
    NN_OP_MEAN_AXIS,
    NN_OP_RELU,
    NN_OP_LEAKY_RELU,
    NN_OP_SIGMOID,
    NN_OP_TANH,
    NN_OP_HARDTANH,
    NN_OP_SIGN,
    NN_OP_IDENTITY,
    NN_OP_EXP,
    NN_OP_LOG,
    NN_OP_SQUARE,
    NN_OP_ABS,
    NN_OP_SOFTMAX,
    NN_OP_LOG_SOFTMAX,
    NN_OP_DROPOUT,
    NN_OP_SOFTMAX_CE,
    NN_OP_SIGMOID_BCE,
    NN_OP_BCE,
    NN_OP_MSE,
    NN_OP_CONV2D,
    NN_OP_MAXPOOL2D,
    NN_OP_AVGPOOL2D,
    NN_OP_GLOBAL_AVGPOOL,
    NN_OP_BATCHNORM,
    NN_OP_RESHAPE,
    NN_OP_COUNT
};

/* The window of a 2-D convolution or pooling over NCHW tensors: kernel
 * (kh, kw; a convolution takes it from its weight), stride, zero padding on
 * each side, dilation (1 for pooling) and groups (1 for pooling). */
struct nn_win2d {
    int kh, kw, sh, sw, ph, pw, dh, dw, groups;
};

/* An op's parameters. Each op uses one member: f (floats), i (ints), the
 * pair of a float and an int in fi, or its own named member. */
union nn_attr {
    float f[4];
    int i[4];
    struct {
        float f;
        int i;
    } fi;
    struct nn_win2d win; /* conv2d, maxpool2d, avgpool2d */
    struct {
        float momentum, eps;
        int batch_stats; /* set by forward: the pass normalized with batch
                            statistics (training) rather than running ones */
    } bn;                /* batchnorm */
    struct {
        int ndim;
        int64_t dim[NN_MAX_DIMS]; /* requested shape, without the batch axis
                                     if the input has one; one entry may be -1 */
    } shape;             /* reshape */
};

/* Inputs an op may take (batchnorm: x, weight, bias and its three running
 * statistics). */
#define NN_MAX_IN 6

struct nn_node {
    int id;             /* creation index in the graph */
    enum nn_op op;
    char *name;         /* owned; unique within the graph */
    int ndim;
    int64_t dim[NN_MAX_DIMS]; /* full shape; dim[0] is the max batch if batched */
    bool batched;       /* dim[0] is the batch axis */
    int64_t sample_numel; /* elements per sample (batched) or in all (not) */
    int nin;
    nn_node *in[NN_MAX_IN];
    union nn_attr attr; /* op parameters: slope, bounds, axis, p, trans ... */
    bool requires_grad; /* a gradient flows to this node */
    bool user_grad;     /* an input that asked for its gradient */
    bool in_order;      /* part of the compiled order */
    bool mark;          /* scratch flag for traversals */
    bool fused;         /* an add folded into the relu after it: it keeps no
                           value or gradient; the relu computes
                           max(in[0] + bias, 0) and back-propagates to both */
    bool grad_stale;    /* parameters: zeroed by nn_zero_grad but not yet
                           written; the first backward writer overwrites */
    bool trainable;     /* parameters: false for buffers (nn_buffer), which
                           live in the parameter block but get no gradient
                           (grad NULL) and no optimizer update or penalty */
    bool int_count;     /* buffers: a count held as a float (batch norm's
                           num_batches_tracked); checkpoints store it as an
                           int64 scalar of shape (), as PyTorch does */
    struct nn_init init;     /* parameters */
    int64_t param_offset;    /* parameters: offset in the blocks */
    float *const_values;     /* constants: owned copy until compile */
    float *val;  /* (batch, ...) or (...) */
    float *grad; /* same shape as val, or NULL */
    float *aux;  /* op scratch from the arena (dropout mask, pooling argmax,
                    im2col buffers ...) */
    void *state; /* op state made by the op's prepare at compile time (the
                    convolution backend's primitives), freed by its release */
    int64_t fed; /* inputs and labels: samples fed for this pass */
    nn_graph *g;
};

struct nn_graph {
    nn_ctx *ctx;
    nn_node **nodes; /* creation order, which is also a topological order */
    int nnodes, cap;
    nn_node **order; /* compiled: the nodes the outputs need, in order */
    int norder;
    nn_node **params; /* parameter nodes, in creation order */
    int nparams;
    int64_t param_count;
    float *param_block; /* (param_count) */
    float *grad_block;  /* (param_count + NN_GRAD_SPARE): the spare floats after the
                         * gradients carry flags with a data-parallel sum (src/train.c) */
    void *arena;        /* every activation, gradient and scratch buffer */
    size_t arena_size;
    void *arena_block;  /* the allocation arena lies in (calloc'd, not aligned) */
    int64_t max_batch;
    int64_t batch;
    bool compiled;
    bool training;
    bool error; /* a builder call failed: compile refuses */
    bool freeze_masks; /* dropout reuses its last mask (gradient checks) */
    bool fuse;         /* compile folds bias adds into the relu after them */
};

/* Rows of a node at the current batch (dim[0] or the batch) times the rest. */
static inline int64_t nn_numel(const nn_node *n)
{
    return n->batched ? n->g->batch * n->sample_numel : n->sample_numel;
}
static inline int64_t nn_dim0(const nn_node *n)
{
    return n->batched ? n->g->batch : n->dim[0];
}

struct nn_op_def {
    const char *name;
    int arity;          /* inputs */
    bool differentiable;/* gradients flow through it */
    /* Checks the inputs and sets n's shape (ndim, dim, batched); on a
     * mismatch returns an error naming the op and both shapes. */
    nn_status (*infer)(nn_graph *g, nn_node *n);
    /* Scratch floats in all for batches of up to max_batch samples (the
     * context's thread count is n->g->ctx->threads); from the arena, 64-byte
     * aligned. */
    int64_t (*aux_size)(const nn_node *n, int64_t max_batch);
    nn_status (*forward)(nn_graph *g, nn_node *n);
    /* Adds the gradient of each input that requires one (+=). */
    void (*backward)(nn_graph *g, nn_node *n);
    /* Builds a small graph around this op for the gradient check, fills the
     * context's random values, returns the node to check; NULL if the op
     * has no example (leaves). */
    nn_node *(*example)(nn_graph *g);
    double gc_tol;      /* gradient-check tolerance on the relative error */
    /* Its value is in[0]'s storage under another shape (reshape): no buffer
     * of its own, and its gradient is in[0]'s as well, except for a
     * parameter's (whose zeroing is deferred), which it keeps apart and
     * adds in its backward. */
    bool view;
    /* Finite-difference step of the gradient check (0: 1e-3). Ops whose
     * outputs sum many float32 products take a larger one: the check's
     * error is then the outputs' rounding divided by the step. */
    double gc_step;
    /* Optional. Called by compile for every node in the order, before the
     * arena is sized (aux_size may read what it made): makes the node's
     * state (n->state) for batches of up to max_batch samples; on failure
     * returns a status with a message naming the node. */
    nn_status (*prepare)(nn_graph *g, nn_node *n, int64_t max_batch);
    /* Frees n->state (called by nn_graph_free when state is set). */
    void (*release)(nn_node *n);
};

extern const struct nn_op_def nn_op_table[NN_OP_COUNT];

/* Graph internals used by the op files. */
/* layers.c: nn_dense_ex, without a bias (NAME.bias, and the node
 * NAME.matmul: the product is the output NAME) when b_init is NULL. */
nn_node *nn_dense_layer(nn_graph *g, nn_node *x, int64_t units, struct nn_init w_init,
                        const struct nn_init *b_init, const char *name);
nn_node *nn_node_new(nn_graph *g, enum nn_op op, const char *name,
                     nn_node *const *in, int nin, const union nn_attr *attr);
/* Makes a parameter's gradient really zero if nn_zero_grad left it stale. */
void nn_grad_materialize(nn_node *p);
/* Shape text such as "(N, 784)" for messages; buf of at least 64 bytes. */
const char *nn_shape_str(const nn_node *n, char *buf, size_t len);
void nn_set_shape(nn_node *n, bool batched, int ndim, const int64_t *dim);
nn_node *nn_unary_new(nn_graph *g, enum nn_op op, nn_node *a);
/* Whether n still has the name nn_node_new made up for it ("relu_5"). */
bool nn_node_auto_named(const nn_node *n);
/* nn_feed without the copy, for a forward pass that only reads the input
 * (prediction): when every compiled consumer of input is a product that
 * reads it as its left operand (nn_gemm's results do not depend on where
 * the rows lie), input's value becomes data itself and *own gets the
 * input's buffer, which the caller puts back (input->val = *own) after the
 * pass; otherwise the rows are copied as nn_feed does and *own is NULL. */
nn_status nn_feed_ref(nn_graph *g, nn_node *input, const float *data, int64_t n,
                      float **own);

/* Shape inference helpers shared by op families. */
nn_status nn_infer_same(nn_graph *g, nn_node *n); /* out shape = in[0] */

/* ------------------------------------------------------------------------ */
/* The one matrix-product entry point (row-major):
 * C (M, N) = alpha * op(A) . op(B) + beta * C, op = transpose if trans_*.
 * Runs on ctx's threads; with ctx NULL, on the calling thread alone (for
 * kernels that already run one block per pool thread). */
void nn_gemm(nn_ctx *ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
             float alpha, const float *A, int64_t lda, const float *B,
             int64_t ldb, float beta, float *C, int64_t ldc);

/* How a batch's target is filled from a source (source.c, train.c): class
 * labels, float targets, or class labels 0/1 turned into the float targets
 * of a one-output sigmoid model. */
enum nn_feed_kind { NN_FEED_LABELS, NN_FEED_TARGETS, NN_FEED_BINARY_LABELS };
/* Checks a source against the model before anything is copied: sample
 * count, features, label kind, class and target counts. what names the
 * source in the message ("training data"). Sets *kind on success. */
nn_status nn_source_check(nn_model *m, const struct nn_source *s, const char *what,
                          enum nn_feed_kind *kind);
/* The data set behind a source made by nn_source_from_dataset, or NULL. */
const nn_dataset *nn_source_dataset(const struct nn_source *s);
/* nn_dataset_gather's features of samples idx[0..n) (x_out may be NULL:
 * the indices are only checked), each sample transformed as an image of
 * shape (c, h, w) (c h w = its features) by nn_augment_draw(cfg, epoch,
 * idx[i]) before its normalization: vacated pixels are a stored 0
 * normalized as their position's pixels are (data/dataset.c). Allocates
 * nothing. */
nn_status nn_ds_gather_augmented(const nn_dataset *ds, const int64_t *idx, int64_t n,
                                 float *x_out, int64_t c, int64_t h, int64_t w,
                                 const struct nn_augment_cfg *cfg, int epoch);

/* Trainer state for checkpoints (train.c). */
struct nn_trainer_state {
    int epochs_done;
    int best_epoch;
    double best_val;
    int bad_epochs;
    bool stopped_early;
    double tol_best; /* convergence (tol): best training loss so far */
    int tol_bad;     /* epochs since it improved by tol */
    bool converged;
};
void nn_trainer_get_state(const nn_trainer *t, struct nn_trainer_state *s);
/* Replaces the position, history (copied) and best weights (copied when
 * given; NULL keeps none). */
nn_status nn_trainer_set_state(nn_trainer *t, const struct nn_trainer_state *s,
                               const struct nn_epoch_stats *hist, int nhist,
                               const float *best);
const float *nn_trainer_best_weights(const nn_trainer *t);
const struct nn_train_cfg *nn_trainer_config(const nn_trainer *t);
/* Text a trainer keeps for its checkpoints: '[' and the JSON of its first
 * n history entries, comma-separated (io/checkpoint.c appends; the trainer
 * empties it, n = 0, when its history is replaced, and frees it). */
struct nn_json_cache {
    char *text;
    size_t len, cap;
    int n;
};
struct nn_json_cache *nn_trainer_json_cache(nn_trainer *t);
nn_model *nn_trainer_model(const nn_trainer *t);

/* The sharded step of data-parallel training (optim.c): each rank updates
 * the parameters of its share [lo, hi) of the parameter block. A shard of
 * an element-wise optimizer (NN_SHARD_ELEMENTS) may cut a tensor anywhere;
 * Adafactor's (NN_SHARD_TENSORS) must start and end at parameter offsets,
 * since it computes per tensor; an optimizer of another kind is not
 * sharded (NN_SHARD_NONE). nn_optim_step_range advances the step
 * count as nn_optim_step does (every rank steps every time). The state
 * block consists of nn_optim_state_runs runs, run i's part for the
 * parameters [lo, hi) being [*slo, *shi) (contiguous, and in rank order
 * for consecutive shares): what to gather to make the whole state. */
enum nn_shard_kind { NN_SHARD_NONE, NN_SHARD_TENSORS, NN_SHARD_ELEMENTS };
enum nn_shard_kind nn_optim_shard_kind(const nn_optim *o);
nn_status nn_optim_step_range(nn_optim *o, int64_t lo, int64_t hi);
int nn_optim_state_runs(const nn_optim *o);
void nn_optim_state_span(const nn_optim *o, int run, int64_t lo, int64_t hi, int64_t *slo,
                         int64_t *shi);

/* Aligned allocation helpers. */
void *nn_aligned_alloc(size_t bytes);
void nn_aligned_free(void *p);

#endif /* NN_IMPL_H */
