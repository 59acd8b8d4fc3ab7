/*
 * train_impl.h - the trainer's state, shared by the training loop
 * (train.c) and its data-parallel steps (train_dist.c); private to the
 * library.
 */
#ifndef NN_TRAIN_IMPL_H
#define NN_TRAIN_IMPL_H

#include "nn_impl.h"

struct chunk; /* train.c: a piece of the parameter block, checked apart */

struct nn_trainer {
    nn_model *m;
    struct nn_train_cfg cfg;
    nn_optim *opt;
    nn_schedule *sched;
    int64_t *perm;    /* (perm_n) sample order of the current epoch */
    int32_t *scratch; /* (max_batch) class labels on their way to 0/1 targets */
    struct chunk *chunks; /* (nchunks) the parameter block, cut for checking */
    float *partial;       /* (nchunks) each chunk's sum of squares */
    int64_t nchunks;
    int64_t perm_n;
    float *best;      /* (param_count) weights of the best epoch */
    struct nn_epoch_stats *hist;
    int nhist, cap;
    int best_epoch;
    double best_val;
    int bad_epochs;
    bool stopped_early;
    double tol_best; /* convergence: the best training loss so far */
    int tol_bad;     /* epochs since it improved by tol (relative) */
    bool converged;
    /* data-parallel or reproducible training (cfg.dist, cfg.reproducible) */
    bool par;
    float *cbuf;      /* (chunks, param_count) chunk gradients, reproducible */
    int64_t *counts;  /* (dist size) floats each rank adds to cbuf */
    uint64_t rng_epoch[4]; /* the shared generator after the epoch's shuffle */
    /* the sharded step (plain data-parallel with dist->reduce_scatter):
     * rank r sums, checks and updates [bound[r], bound[r + 1]) of the block */
    bool shard;
    bool state_stale;  /* other ranks' shares of the optimizer state are old */
    bool agreed;       /* the last step's failure was agreed by every rank */
    bool stop_req;     /* on_batch asked this rank to stop: told with the next step's sum */
    int64_t *bound;    /* (size + 1) */
    int64_t *scount;   /* (2 * size) floats per rank: of the block, of a state run */
    double *flags;     /* (2 + size) the sum of squares, each rank's failure, stop */
    /* buffers (batch norm's running statistics), the same on every rank */
    int *bufs;         /* (nbufs) their parameter indices */
    int nbufs;
    float *bsave;      /* their values before the step */
    struct nn_json_cache hist_json; /* the history as checkpoints write it */
};

/* train.c, for the data-parallel steps */
/* Feeds samples idx[0..k) of src into the model's input and target. */
nn_status nn_train_feed(nn_model *m, const struct nn_source *src, enum nn_feed_kind kind,
                        int32_t *scratch, const int64_t *idx, int64_t k);
/* Adds the batch's correct predictions, absolute and squared errors. */
void nn_train_batch_metrics(nn_model *m, int64_t k, double *correct, double *abs_err,
                            double *sq_err);
/* The penalties' gradients, the finiteness check and the clipping of the
 * whole gradient block; false (message set) if a gradient is not finite. */
bool nn_train_regularize_and_check(nn_trainer *t);
/* The same for [lo, hi) of the block, its sum of squares into *sq_out. */
bool nn_train_regularize_range(nn_trainer *t, int64_t lo, int64_t hi, double *sq_out);
/* Clips [lo, hi) of the block for a global sum of squares sq. */
void nn_train_clip_range(nn_trainer *t, double sq, int64_t lo, int64_t hi);

/* train_dist.c, for the training loop */
int nn_dist_size(const nn_trainer *t);
/* The buffers' list, the shards and the chunk buffer, once per run. */
nn_status nn_par_check(nn_trainer *t);
/* One step on batch b of k samples: this rank's share or chunks, the
 * collective sum (which carries the stop flag: *stop when a rank asked),
 * the check, the optimizer step. */
nn_status nn_par_step(nn_trainer *t, const struct nn_source *src, enum nn_feed_kind kind,
                      int epoch, int64_t b, int64_t k, double sums[5], bool *stop);
/* The epoch's metric sums over every rank; the optimizer state gathered. */
nn_status nn_par_epoch_end(nn_trainer *t, double sums[5]);
/* *stop on every rank if it is on any. */
nn_status nn_par_agree(nn_trainer *t, bool *stop);
/* The whole optimizer state on every rank after sharded steps. */
nn_status nn_par_gather_state(nn_trainer *t);

#endif
