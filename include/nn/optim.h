/**
 * @file nn/optim.h
 * @brief Optimizers (torch.optim's) and learning-rate schedules
 * (torch.optim.lr_scheduler's).
 *
 * Part of libnn's public interface: programs include <nn.h>, which
 * includes every part; each part also compiles on its own.
 */
#ifndef NN_PUBLIC_OPTIM_H
#define NN_PUBLIC_OPTIM_H

#include "graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Optimizers (src/optim/). Semantics and hyperparameter names follow
 * torch.optim; each optimizer updates the graph's one parameter block from
 * its one gradient block, and keeps its state in one contiguous block.      */

/* The optimizers. */
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
    NN_OPTIM_LBFGS,     /* limited-memory BFGS, full batch: needs
                           nn_optim_step_closure (torch.optim.LBFGS) */
    NN_OPTIM_COUNT
} nn_optim_kind;

/* L-BFGS's step length along its direction (torch's line_search_fn). */
typedef enum nn_line_search {
    NN_LINE_SEARCH_NONE = 0,     /* a fixed step: lr (the first step ever:
                                    lr * min(1, 1 / |g|_1)) */
    NN_LINE_SEARCH_STRONG_WOLFE, /* bracketing and cubic-interpolation zoom
                                    to the strong Wolfe conditions
                                    (c1 1e-4, c2 0.9, at most 25 evaluations) */
    NN_LINE_SEARCH_COUNT
} nn_line_search;

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
    nn_optim_kind kind; /* the optimizer */
    float lr;           /* learning rate */
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
    /* lbfgs only (torch.optim.LBFGS's arguments; its lr defaults to 1): */
    int history_size;        /* curvature pairs kept (100) */
    int max_iter;            /* iterations per step (20) */
    int max_eval;            /* loss evaluations per step (max_iter * 5 / 4,
                                from the max_iter set when the defaults are
                                filled in) */
    float tolerance_grad;    /* the step ends when max |gradient| <= this (1e-7) */
    float tolerance_change;  /* ... or when the loss or the step changes by
                                less (1e-9) */
    nn_line_search line_search; /* NN_LINE_SEARCH_NONE (default) or strong Wolfe */
    bool filled;        /* every field holds its value (set by nn_optim_defaults):
                           zeros are not replaced by defaults */
};

/* An optimizer (opaque) over one compiled graph's parameters. */
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
/* One update from the current gradients. NN_ERR_INVALID for lbfgs, which
 * must evaluate the loss itself (nn_optim_step_closure). */
NN_API nn_status nn_optim_step(nn_optim *o);
/* Evaluates the objective at the graph's current parameters (torch's
 * closure): runs forward and backward on the same data every time, leaves
 * the gradient of the loss in the graph's gradient block and stores the
 * loss in *loss. Any status but NN_OK stops the step with that status. */
typedef nn_status (*nn_optim_closure)(void *user, double *loss);
/* One optimizer step that may evaluate the objective several times
 * (torch's optimizer.step(closure)). lbfgs: up to max_iter iterations and
 * max_eval calls of f, moving the parameters between them; every other
 * kind: one call of f, then nn_optim_step. *loss (may be NULL) gets the
 * loss of the first evaluation, at the parameters before the step. An
 * error of f ends the step with f's status, the step not counted
 * (nn_optim_steps); the parameters are then those of f's last successful
 * evaluation (lbfgs) or unchanged (the other kinds). */
NN_API nn_status nn_optim_step_closure(nn_optim *o, nn_optim_closure f, void *user,
                                       double *loss);
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

/* The schedules, with torch's names for them. */
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
    nn_schedule_kind kind; /* the schedule */
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

/* A learning-rate schedule (opaque). */
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
/* Copies the state out of s. */
NN_API void nn_schedule_get_state(const nn_schedule *s, double state[NN_SCHEDULE_STATE_LEN]);
/* NN_ERR_INVALID if a value is impossible (negative or non-integral counts,
 * a negative or non-finite rate, a NaN best). */
NN_API nn_status nn_schedule_set_state(nn_schedule *s, const double state[NN_SCHEDULE_STATE_LEN]);

#ifdef __cplusplus
}
#endif
#endif /* NN_PUBLIC_OPTIM_H */
