/**
 * @file nn/train.h
 * @brief Sample sources, data augmentation, evaluation, data-parallel
 * collectives, per-layer statistics, and the trainer.
 *
 * Part of libnn's public interface: programs include <nn.h>, which
 * includes every part; each part also compiles on its own.
 */
#ifndef NN_PUBLIC_TRAIN_H
#define NN_PUBLIC_TRAIN_H

#include "model.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

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
    /* copies samples, as described above */
    nn_status (*gather)(void *self, const int64_t *idx, int64_t n, float *x,
                        int32_t *labels, float *targets);
    void *self;         /* passed to gather, prefetch and begin_pass */
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
    int64_t n, features, ntargets; /* samples, floats per sample in x and in targets */
};
/* The source that gathers from a. */
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
    bool flip;  /* mirrored left to right */
};

/* The largest shift nn_augment_parse accepts. */
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
    struct nn_augment_cfg cfg; /* the transforms */
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

/* A model's loss and metrics over a source (nn_evaluate). */
struct nn_metrics {
    double loss;     /* data term, mean over samples */
    double penalty;  /* L1 + L2 penalty at the end (training only) */
    double accuracy; /* classification; NAN for regression */
    double mae;      /* regression: mean absolute error; NAN otherwise */
    double mse;      /* regression: mean squared error; NAN otherwise */
    int64_t n;       /* samples evaluated */
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
    /* Sums buf[0..n) over every rank, in place: the sum on every rank.
     * The trainer's gradient sums have n = the parameter count + 1 (the
     * last float carries the ranks' wish to stop). */
    nn_status (*allreduce)(void *user, float *buf, int64_t n);
    nn_status (*allreduce_f64)(void *user, double *buf, int64_t n); /* the same in double */
    /* In place: buf holds size segments, rank r's of counts[r] floats at
     * offset counts[0] + ... + counts[r-1]; each rank has filled in its
     * own, and afterwards every rank holds all of them. */
    nn_status (*allgather)(void *user, float *buf, const int64_t *counts);
    void *user;     /* passed to the collectives */
    /* Optional (NULL: the trainer sums the whole block with allreduce and
     * every rank takes the whole step). In place, buf laid out as for
     * allgather, every rank having filled every segment: afterwards rank
     * r's own segment holds the sum over the ranks of their segment r
     * (the other segments are left undefined). With it, plain
     * data-parallel training shards the optimizer step: a reduce-scatter
     * of the gradient block, each rank updates its share of the
     * parameters, an allgather of the parameter block. */
    nn_status (*reduce_scatter)(void *user, float *buf, const int64_t *counts);
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

/* One epoch of training, as nn_trainer_history and on_epoch give it. */
struct nn_epoch_stats {
    int epoch;               /* 1-based */
    struct nn_metrics train; /* running averages over the epoch's batches, or
                                with train_eval the whole set in eval mode */
    struct nn_metrics val;   /* n = 0 when there is no validation data */
    double lr;               /* learning rate used during the epoch */
    double seconds;          /* the epoch's time */
};

/* Where training is, for on_batch. */
struct nn_train_progress {
    int epoch, epochs;           /* this epoch (1-based), of epochs */
    int64_t batch, batches;      /* within the epoch, 1-based */
    int64_t samples_done;        /* within the epoch */
    double loss, accuracy;       /* running averages over the epoch */
    double seconds;              /* since the epoch began */
};

/* Options of nn_trainer_new; a zeroed struct: the defaults. */
struct nn_train_cfg {
    int epochs;               /* default 10 */
    int64_t batch;            /* default 64; n = full batch, 1 = stochastic */
    bool drop_last;           /* drop the last partial batch (default: train on it) */
    bool no_shuffle;          /* keep the source order (default: reshuffle per epoch) */
    struct nn_optim_cfg optim; /* the optimizer and its hyperparameters */
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
     * every rank takes the same step; with dist->reduce_scatter the step
     * is sharded instead (each rank updates its share of the parameters,
     * then an allgather; the optimizer state is gathered at the end of
     * every epoch and of nn_trainer_fit, so it is whole for checkpoints).
     * Validation is split as in nn_evaluate_dist. on_batch and on_epoch
     * run on every rank; a stop asked by any rank stops all of them after
     * the same batch (the flag rides in the next step's sum, whose step
     * every rank then gives up: no collective of its own). Dropout draws a stream per rank from the shared
     * generator, which is back in step on every rank after each epoch.
     * Batch-norm batch statistics are those of each rank's share; the
     * running statistics take one update per step, the mean of the
     * shares' updates (weighted by their sizes), the same on every rank. */
    const struct nn_dist *dist;
    /* Results that do not depend on the number of ranks or threads: each
     * global batch is cut into `chunks` fixed contiguous chunks (default
     * 4; at least the number of ranks), each chunk's gradient computed
     * alone with its own dropout stream (and batch-norm batch statistics
     * over the chunk), and the chunk gradients added in chunk order (an
     * allgather of chunks x the gradient block instead of one allreduce);
     * running statistics take the mean of the chunks' updates, added in
     * chunk order. Weights and buffers are then bit-identical for any
     * rank count dividing chunks and any thread count. */
    bool reproducible;
    int chunks;               /* see reproducible */
    /* Called after every batch / epoch when set; return false to stop. */
    bool (*on_batch)(const struct nn_train_progress *p, void *user);
    bool (*on_epoch)(const struct nn_epoch_stats *s, void *user); /* the same per epoch */
    void *user;               /* passed to on_batch and on_epoch */
};

/* A trainer (opaque): a model, its optimizer and schedule, and the
 * training position and history. */
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

#ifdef __cplusplus
}
#endif
#endif /* NN_PUBLIC_TRAIN_H */
