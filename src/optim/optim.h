/*
 * optim.h - private to src/optim/: the optimizer object shared by the
 * optimizer families (one file each) and the common step driver in optim.c.
 *
 * The state block holds whole "slots" of n floats (n = parameters in the
 * graph's block), one per per-element buffer, in a fixed order per kind:
 *   sgd, momentum, nesterov: [momentum buffer] when momentum > 0
 *   adagrad:                 [sum of squared gradients]
 *   adadelta:                [square_avg][acc_delta]
 *   rmsprop:                 [square_avg][grad_avg if centered][momentum buffer if momentum > 0]
 *   adam, adamw:             [exp_avg][exp_avg_sq][max_exp_avg_sq if amsgrad]
 * Adafactor keeps, parameter after parameter in block order, either its row
 * factors (lead * rows) followed by its column factors (lead * cols) for a
 * parameter of >= 2 dimensions (..., rows, cols), or its full second moment
 * (numel) for a vector.
 * L-BFGS keeps a header of NN_LBFGS_HDR floats, then ro (history), its
 * direction d and previous gradient (m each, m = trainable floats: the
 * parameters' runs in block order), and history gradient differences y
 * and steps s (history x m each); see lbfgs.c.
 */
#ifndef NN_OPTIM_PRIVATE_H
#define NN_OPTIM_PRIVATE_H

#include "nn_impl.h"

/* A run of consecutive parameters sharing the weight-decay flag. */
struct nn_optim_seg {
    int64_t off, len; /* range in the parameter block */
    bool decay;
};

/* One parameter as Adafactor sees it. */
struct nn_af_param {
    int64_t off, numel; /* range in the parameter block */
    int64_t lead;       /* product of the dimensions before the last two */
    int64_t rows, cols; /* last two dimensions; 0 when unfactored (vectors) */
    int64_t soff;       /* offset of its factors in the state block */
    bool decay;
};

/* What one step of a family needs beyond the optimizer: the coupled weight
 * decay added to the gradient and the decoupled factor applied to the
 * parameters first (1 when off). */
struct nn_optim_args {
    float wd_coupled; /* g += wd_coupled * p */
    float keep;       /* p *= keep before the update (1 - lr * wd, or 1) */
};

struct nn_optim {
    nn_graph *g;
    nn_ctx *ctx;
    struct nn_optim_cfg cfg;   /* with the defaults filled in */
    int64_t n;                 /* floats in the parameter block */
    int nparams;
    bool *decay;               /* (nparams) weight decay applies to parameter i */
    struct nn_optim_seg *segs; /* (nparams) at most; runs of equal decay flags */
    int nsegs;
    struct nn_af_param *af;    /* (nparams) Adafactor only */
    double *work;              /* (max cols) Adafactor column sums */
    float *state;              /* (state_size) */
    int64_t state_size;
    int64_t steps;             /* steps taken; the running step is steps + 1 */
    struct nn_lbfgs *lb;       /* L-BFGS only: its work buffers */
};

/* Family kernels: update parameters [off, off + len) of the block. o->steps
 * is already the running step t (1-based) when they are called. Their
 * definitions carry NN_MULTIVERSION (only the definitions: the callers go
 * through the resolved symbol). */
void nn_optim_sgd_update(nn_optim *o, const struct nn_optim_args *a, int64_t off,
                         int64_t len);
void nn_optim_adagrad_update(nn_optim *o, const struct nn_optim_args *a, int64_t off,
                             int64_t len);
void nn_optim_adadelta_update(nn_optim *o, const struct nn_optim_args *a, int64_t off,
                              int64_t len);
void nn_optim_rmsprop_update(nn_optim *o, const struct nn_optim_args *a, int64_t off,
                             int64_t len);
void nn_optim_adam_update(nn_optim *o, const struct nn_optim_args *a, int64_t off,
                          int64_t len);

/* Slots of n floats a family keeps (see the layout above). */
int nn_optim_slots(const struct nn_optim_cfg *c);

/* Adafactor: lays out its per-parameter factors (sets o->af, o->work and
 * returns the state size, or -1 when out of memory), and one step over
 * the parameters that start in [lo, hi) of the block, weight decay
 * included. */
int64_t nn_adafactor_setup(nn_optim *o);
void nn_adafactor_step(nn_optim *o, int64_t lo, int64_t hi);

/* L-BFGS (lbfgs.c): the state size for o's configuration (after
 * o->segs is built), and its work buffers (false when out of memory); one
 * step with a closure; freeing the buffers. */
#define NN_LBFGS_HDR 9
int64_t nn_lbfgs_state_size(const nn_optim *o);
bool nn_lbfgs_setup(nn_optim *o);
nn_status nn_lbfgs_step(nn_optim *o, nn_optim_closure f, void *user, double *loss);
void nn_lbfgs_free(struct nn_lbfgs *lb);

#endif /* NN_OPTIM_PRIVATE_H */
