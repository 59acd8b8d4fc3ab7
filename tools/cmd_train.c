/*
 * cmd_train.c - `nn train`: load data, build or resume a model, train with
 * live progress, write a checkpoint after every epoch (atomically), a CSV
 * log and a plot, and report test metrics at the end. A resumed run takes
 * every setting from its checkpoint (record.c).
 */
#undef _POSIX_C_SOURCE
#define _XOPEN_SOURCE 700 /* sigaltstack */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_MLP "784 dense:256 relu dense:128 relu dense:10 softmax"

struct run {
    struct opts o;
    nn_ctx *ctx;
    bool resuming;
    struct cli_recorded rec; /* the checkpoint resumed from */
    const char *data;        /* the data source */
    bool builtin;            /* fashion-mnist */
    nn_dataset *train, *val, *test;
    struct nn_norm_stats ns;    /* the training set's normalization */
    const char *names[1024];    /* the training set's class names */
    int64_t nnames;
    bool has_dropout;
    char *spec_owned;
    nn_model *m;
    nn_trainer *t;
    struct cli_record record; /* extra checkpoint metadata */
    FILE *log;
    FILE *stats;                /* --stats: per-layer statistics CSV */
    struct nn_layer_stat *ls;   /* (nls) the last epoch's, from nn_model_layer_stats */
    int nls;
    char *stats_text;           /* the last epoch's, as the checkpoint records them */
    size_t stats_cap;
    bool tty, regression;
    double last_draw;
    const char *out;
    int failed; /* a checkpoint or log write failed */
    bool tested;
    struct nn_metrics tm; /* test metrics when tested */
    char test_json[160];
    struct nn_augment_cfg aug; /* training-set augmentation */
    bool augment;
    int first_epoch; /* epochs done when this run started */
    char aug_text[64];
    struct nn_augment_source aug_src;
    struct nn_source s_tr; /* the training source, augmented if asked */
    struct nn_train_cfg tc; /* the trainer's configuration */
    struct cli_dist dist;  /* ranks under mpirun; only rank 0 writes */
    bool final_only; /* a step of nn sweep: the checkpoint at the end only */
    int saved_epoch; /* the epoch r->out holds, 0 if this run wrote none */
};

/* Ctrl-C and SIGTERM: the first asks training to stop after the current
 * batch (the trainer's callbacks return false); the handler then reverts
 * to the default, so a second one ends the process at once. Checkpoints
 * are written atomically (a temporary file renamed), so neither can leave
 * a damaged one. The only mutable globals of the program: a signal handler
 * has nowhere else to read or write. Under mpirun (which turns Ctrl-C into
 * SIGTERM to every rank) the ranks agree on the batch to stop after, and
 * rank 0 alone speaks. */
static volatile sig_atomic_t interrupted; /* the signal number, or 0 */
static volatile sig_atomic_t announce = 1; /* the handler prints (rank 0) */

static void on_signal(int sig)
{
    interrupted = sig;
    static const char msg[] = "\nnn train: interrupted: stopping after this batch "
                              "(press Ctrl-C again to quit at once)\n";
    if (announce) {
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
    }
}

static void catch_interrupts(bool speak)
{
    announce = speak;
    /* The handler runs on a stack of its own: oneDNN's generated f32
     * matrix kernels (before 3.11) point the stack pointer into a heap
     * buffer while they run, and the kernel would put the signal's frame
     * there (a Ctrl-C during a product then corrupted the heap:
     * "corrupted size vs. prev_size"; oneDNN issue 4845). */
    static max_align_t alt[65536 / sizeof(max_align_t)];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
    bool on_alt = sigaltstack(&ss, NULL) == 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = (int)SA_RESETHAND | (on_alt ? (int)SA_ONSTACK : 0); /* the second signal: the default action */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* --stats: the layers' statistics on the training set's first batch
 * (evaluation mode: the training trajectory does not change), appended to
 * the CSV and kept as text for the checkpoint (nn info shows it). */
static bool write_layer_stats(struct run *r, int epoch)
{
    int64_t n = r->tc.batch > 0 ? r->tc.batch : 64;
    if (n > 256)
        n = 256;
    int count = 0;
    if (nn_model_layer_stats(r->m, &r->s_tr, n, r->ls, r->nls, &count) != NN_OK) {
        fprintf(stderr, "nn train: --stats: %s\n", nn_ctx_error(r->ctx));
        return false;
    }
    if (count > r->nls)
        count = r->nls; /* cannot be: the graph is the one counted */
    size_t used = (size_t)snprintf(r->stats_text, r->stats_cap,
                                   "epoch %d, on %lld training samples", epoch,
                                   (long long)(n < r->s_tr.n ? n : r->s_tr.n));
    for (int i = 0; i < count; i++) {
        const struct nn_layer_stat *l = &r->ls[i];
        fprintf(r->stats, "%d,%s,%s,%s,%lld,%.6g,%.6g,%.6g,%.6g,%.6g\n", epoch, l->name, l->op,
                l->is_param ? "param" : "activation", (long long)l->units, l->mean, l->std,
                l->unit_std, l->dead, l->grad_norm);
        char spread[40] = "", dead[24] = "", grad[32] = "";
        if (!isnan(l->unit_std))
            snprintf(spread, sizeof spread, "  across units %.4g", l->unit_std);
        if (!isnan(l->dead))
            snprintf(dead, sizeof dead, "  dead %.3g", l->dead);
        if (!isnan(l->grad_norm))
            snprintf(grad, sizeof grad, "  |grad| %.4g", l->grad_norm);
        if (used < r->stats_cap)
            used += (size_t)snprintf(r->stats_text + used, r->stats_cap - used,
                                     "\n  %-16s %-8s mean %.4g  std %.4g%s%s%s", l->name, l->op,
                                     l->mean, l->std, spread, dead, grad);
    }
    fflush(r->stats);
    return !ferror(r->stats);
}

static bool on_epoch(const struct nn_epoch_stats *s, void *user)
{
    struct run *r = user;
    if (!r->o.quiet)
        cli_print_epoch(s, r->regression, r->tty);
    if (r->dist.rank != 0) /* rank 0 prints, logs and writes checkpoints */
        return true;
    if (r->log) {
        fprintf(r->log, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f\n", s->epoch, s->train.loss,
                r->regression ? s->train.mae : s->train.accuracy, s->val.n ? s->val.loss : NAN,
                s->val.n ? (r->regression ? s->val.mae : s->val.accuracy) : NAN, s->lr,
                s->seconds);
        fflush(r->log);
    }
    if (r->stats && !write_layer_stats(r, s->epoch)) {
        r->failed = 1;
        return false;
    }
    int every = r->o.save_every > 1 ? (int)r->o.save_every : 1;
    bool due = !r->final_only && (s->epoch % every == 0 || s->epoch >= r->tc.epochs ||
                                  interrupted);
    if (due && nn_checkpoint_save(r->out, r->m, r->t, r->record.keys, r->record.vals,
                                  r->record.n) != NN_OK) {
        fprintf(stderr, "nn train: %s\n", nn_ctx_error(r->ctx));
        r->failed = 1;
        return false;
    }
    if (due)
        r->saved_epoch = s->epoch;
    return !interrupted;
}

static void print_warning(const char *msg, void *user)
{
    (void)user;
    fprintf(stderr, "nn train: warning: %s\n", msg);
}

static bool on_batch(const struct nn_train_progress *p, void *user)
{
    struct run *r = user;
    if (r->tty)
        cli_on_batch(p, &r->last_draw);
    return !interrupted;
}

/* Checks the data fits the model: features, classes or targets. */
static bool fits(const nn_model *m, nn_dataset *ds, const char *what)
{
    int64_t out = nn_model_outputs(m);
    if (!cli_check_input("train", m, ds, what))
        return false;
    nn_loss_kind lk = nn_model_loss_kind(m);
    nn_label_kind dk = nn_dataset_label_kind(ds);
    if (lk == NN_LOSS_SOFTMAX_CE) {
        if (dk != NN_LABELS_CLASS) {
            cli_fail("train", "%s has numeric targets but the model ends in softmax "
                     "(classification); use --task classify or a regression model", what);
            return false;
        }
        if (nn_dataset_classes(ds) > out) {
            cli_fail("train", "%s has %lld classes but the model has %lld outputs", what,
                     (long long)nn_dataset_classes(ds), (long long)out);
            return false;
        }
        if (nn_dataset_check_classes(ds, out) != NN_OK) {
            cli_fail("train", "%s", nn_ctx_error(nn_model_ctx(m)));
            return false;
        }
    } else if (lk == NN_LOSS_SIGMOID_BCE && dk == NN_LABELS_CLASS) {
        if (out != 1 || nn_dataset_classes(ds) > 2) {
            cli_fail("train", "%s has %lld classes; a sigmoid output needs one unit and "
                     "two classes (use softmax for more)", what,
                     (long long)nn_dataset_classes(ds));
            return false;
        }
    } else if (dk != NN_LABELS_TARGETS) {
        cli_fail("train", "%s has class labels but the model's loss is %s, which needs "
                 "numeric targets (end the model in softmax, or give --loss cross_entropy)",
                 what, lk == NN_LOSS_MSE ? "mse" : "bce");
        return false;
    } else if (nn_dataset_targets(ds) != out) {
        cli_fail("train", "%s has %lld targets per sample but the model has %lld outputs",
                 what, (long long)nn_dataset_targets(ds), (long long)out);
        return false;
    }
    return true;
}

/* The augmentation of the training images (--augment; on --resume the
 * recorded setting, restored into o by record.c), drawn from the run's
 * seed, which a resumed run keeps: the resumed run continues the same
 * stream. Parsed before the model is built, so a bad setting fails early;
 * o->augment becomes its canonical text, which the checkpoint records.
 * false after printing an error. */
static bool augment_parse(struct run *r)
{
    struct opts *o = &r->o;
    r->aug = (struct nn_augment_cfg){.seed = o->seed};
    if (o->augment && nn_augment_parse(r->ctx, o->augment, &r->aug) != NN_OK) {
        cli_fail("train", "--augment %s: %s", o->augment, nn_ctx_error(r->ctx));
        return false;
    }
    r->augment = r->aug.shift > 0 || r->aug.flip;
    nn_augment_format(&r->aug, r->aug_text, sizeof r->aug_text);
    o->augment = r->augment ? r->aug_text : NULL;
    return true;
}

/* The training source, augmented if asked: images of the model's input
 * shape when it is CxHxW (so CSV rows of pixels can be augmented too),
 * else of the data set's own (C, H, W) shape. */
static bool augment_setup(struct run *r)
{
    r->s_tr = nn_source_from_dataset(r->train);
    if (!r->augment)
        return true;
    int64_t chw[NN_MAX_DIMS];
    bool image_model = nn_model_input_shape(r->m, chw) == 3;
    if (nn_source_augment(r->ctx, &r->aug_src, &r->s_tr, image_model ? chw : NULL, &r->aug,
                          &r->s_tr) != NN_OK) {
        cli_fail("train", "--augment %s: %s", r->aug_text, nn_ctx_error(r->ctx));
        return false;
    }
    return true;
}

/* The optimizers that read each hyperparameter flag (torch.optim's
 * arguments); lr applies to all. */
#define K(x) (1u << NN_OPTIM_##x)
#define ALL_BUT_LBFGS (((1u << NN_OPTIM_COUNT) - 1) & ~K(LBFGS))
static const struct {
    const char *flag;
    unsigned kinds;
} optim_flags[] = {
    {"weight-decay", ALL_BUT_LBFGS},
    {"decoupled", ALL_BUT_LBFGS},
    {"history", K(LBFGS)},
    {"max-iter", K(LBFGS)},
    {"max-eval", K(LBFGS)},
    {"tolerance-grad", K(LBFGS)},
    {"tolerance-change", K(LBFGS)},
    {"line-search", K(LBFGS)},
    {"momentum", K(SGD) | K(MOMENTUM) | K(NESTEROV) | K(RMSPROP)},
    {"dampening", K(SGD) | K(MOMENTUM) | K(NESTEROV)},
    {"beta1", K(ADAM) | K(ADAMW)},
    {"beta2", K(ADAM) | K(ADAMW)},
    {"amsgrad", K(ADAM) | K(ADAMW)},
    {"eps", K(ADAGRAD) | K(ADADELTA) | K(RMSPROP) | K(ADAM) | K(ADAMW) | K(ADAFACTOR)},
    {"rho", K(ADADELTA)},
    {"alpha", K(RMSPROP)},
    {"centered", K(RMSPROP)},
    {"lr-decay", K(ADAGRAD)},
    {"initial-accumulator", K(ADAGRAD)},
    {"eps2", K(ADAFACTOR)},
    {"beta2-decay", K(ADAFACTOR)},
    {"clip-threshold", K(ADAFACTOR)},
};
#undef ALL_BUT_LBFGS
#undef K

/* Refuses a hyperparameter flag the optimizer does not read (whatever
 * its value, 0 included), naming the optimizers that do. */
static bool optim_flags_used(const struct opts *o, nn_optim_kind k)
{
    for (size_t i = 0; i < sizeof optim_flags / sizeof optim_flags[0]; i++) {
        if (!cli_given(o, optim_flags[i].flag) || (optim_flags[i].kinds & (1u << k)))
            continue;
        char users[160] = "";
        for (int j = 0; j < NN_OPTIM_COUNT; j++)
            if (optim_flags[i].kinds & (1u << j)) {
                size_t n = strlen(users);
                snprintf(users + n, sizeof users - n, "%s%s", n ? ", " : "",
                         nn_optim_name((nn_optim_kind)j));
            }
        cli_fail("train", "--%s is not a hyperparameter of --optim %s (only of %s)",
                 optim_flags[i].flag, nn_optim_name(k), users);
        return false;
    }
    return true;
}

/* lbfgs's flags into c (its defaults filled already). */
static bool lbfgs_cfg(const struct opts *o, struct nn_optim_cfg *c)
{
    if (c->kind != NN_OPTIM_LBFGS)
        return true;
    if (cli_given(o, "history"))
        c->history_size = (int)o->history;
    if (cli_given(o, "max-iter"))
        c->max_iter = (int)o->max_iter;
    c->max_eval = cli_given(o, "max-eval") ? (int)o->max_eval /* torch's default: */
                  : c->max_iter * 5 / 4 > 0 ? c->max_iter * 5 / 4 : 1;
    if (cli_given(o, "tolerance-grad"))
        c->tolerance_grad = (float)o->tolerance_grad;
    if (cli_given(o, "tolerance-change"))
        c->tolerance_change = (float)o->tolerance_change;
    if (!o->line_search || strcmp(o->line_search, "none") == 0)
        return true;
    if (strcmp(o->line_search, "strong_wolfe") == 0) {
        c->line_search = NN_LINE_SEARCH_STRONG_WOLFE;
        return true;
    }
    static const char *const names[] = {"none", "strong_wolfe"};
    const char *near = nn_nearest_name(o->line_search, names, 2);
    cli_fail("train", "--line-search must be none or strong_wolfe, not '%s'%s%s%s",
             o->line_search, near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
    return false;
}

static bool optim_cfg(const struct opts *o, struct nn_optim_cfg *c)
{
    int k = nn_optim_parse(o->optim ? o->optim : "adam");
    if (k < 0) {
        const char *names[NN_OPTIM_COUNT];
        for (int i = 0; i < NN_OPTIM_COUNT; i++)
            names[i] = nn_optim_name((nn_optim_kind)i);
        const char *near = nn_nearest_name(o->optim, names, NN_OPTIM_COUNT);
        cli_fail("train", "unknown optimizer '%s'%s%s%s (sgd momentum nesterov adagrad "
                 "adadelta rmsprop adam adamw adafactor lbfgs)", o->optim,
                 near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
        return false;
    }
    if (!optim_flags_used(o, (nn_optim_kind)k))
        return false;
    *c = (struct nn_optim_cfg){.kind = (nn_optim_kind)k};
    nn_optim_defaults(c);
    static const struct {
        const char *flag;
        size_t opt, cfg;
    } nums[] = {
#define F(flag, o, c) {flag, offsetof(struct opts, o), offsetof(struct nn_optim_cfg, c)}
        F("lr", lr, lr), F("momentum", momentum, momentum),
        F("dampening", dampening, dampening), F("weight-decay", weight_decay, weight_decay),
        F("beta1", beta1, beta1), F("beta2", beta2, beta2), F("eps", eps, eps),
        F("rho", rho, rho), F("alpha", alpha, alpha), F("eps2", eps2, eps2),
        F("beta2-decay", beta2_decay, beta2_decay),
        F("clip-threshold", clip_threshold, clip_threshold),
        F("lr-decay", lr_decay, lr_decay),
        F("initial-accumulator", initial_accumulator, initial_accumulator_value),
#undef F
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (cli_given(o, nums[i].flag))
            *(float *)(void *)((char *)c + nums[i].cfg) =
                (float)*(const double *)(const void *)((const char *)o + nums[i].opt);
    if (cli_given(o, "decoupled"))
        c->decoupled = o->decoupled;
    if (cli_given(o, "amsgrad"))
        c->amsgrad = o->amsgrad;
    if (cli_given(o, "centered"))
        c->centered = o->centered;
    return lbfgs_cfg(o, c);
}

/* A validation or test set: the training set's class numbering and
 * normalization. */
static nn_dataset *load_other(struct run *r, const char *src, const char *flag)
{
    /* a CSV is read in the training file's layout: its columns by name */
    struct opts o = r->o;
    int64_t nc = nn_dataset_columns(r->train);
    const char **cols = nc > 0 ? calloc((size_t)nc, sizeof *cols) : NULL;
    if (nc > 0 && !cols) {
        cli_fail("train", "out of memory");
        return NULL;
    }
    for (int64_t c = 0; c < nc; c++)
        cols[c] = nn_dataset_column(r->train, c, NULL);
    o.layout = nc > 0 && cols[0] ? cols : NULL;
    o.nlayout = nc;
    nn_dataset *ds = cli_load_data(r->ctx, &o, src, "test", true);
    free(cols);
    if (!ds || !cli_match_classes(r->ctx, ds, r->names, r->nnames, flag)) {
        nn_dataset_free(ds);
        return NULL;
    }
    if (nn_dataset_norm_set(ds, &r->ns) != NN_OK) {
        cli_fail("train", "%s %s: %s", flag, src, nn_ctx_error(r->ctx));
        nn_dataset_free(ds);
        return NULL;
    }
    return ds;
}

/* The training data (normalized, split) and the validation and test sets. */
static bool load_data(struct run *r)
{
    const struct opts *o = &r->o;
    nn_dataset *all = cli_load_data(r->ctx, o, r->data, "train", true);
    if (!all)
        return false;
    if (o->normalize) {
        int k = nn_norm_parse(o->normalize);
        if (k < 0) {
            cli_fail("train", "--normalize must be standard, minmax, scale255 or none, not '%s'",
                     o->normalize);
            goto fail;
        }
        if (nn_dataset_fit_norm(all, (nn_norm_kind)k) != NN_OK) {
            cli_fail("train", "%s", nn_ctx_error(r->ctx));
            goto fail;
        }
    }
    if (o->val_split > 0) {
        if (o->val) {
            cli_fail("train", "give --val or --val-split, not both");
            goto fail;
        }
        uint64_t seed = o->split_seed >= 0 ? (uint64_t)o->split_seed : o->seed;
        if (nn_dataset_split(all, (float)o->val_split, seed, &r->train, &r->val) != NN_OK) {
            cli_fail("train", "%s", nn_ctx_error(r->ctx));
            goto fail;
        }
        nn_dataset_free(all);
    } else {
        r->train = all;
    }
    all = NULL;
    if (r->resuming && !cli_resume_check_data(&r->rec, r->train))
        return false;
    nn_dataset_norm_get(r->train, &r->ns);
    while (r->nnames < 1024 && nn_dataset_class_name(r->train, r->nnames)) {
        r->names[r->nnames] = nn_dataset_class_name(r->train, r->nnames);
        r->nnames++;
    }
    if (o->val && !(r->val = load_other(r, o->val, "--val")))
        return false;
    const char *test_src = o->test ? o->test : r->builtin ? r->data : NULL;
    if (test_src && !(r->test = load_other(r, test_src, "--test")))
        return false;
    return true;
fail:
    nn_dataset_free(all);
    return false;
}

/* The model spec: given (or recorded), or a default for the data. */
static const char *model_spec(struct run *r)
{
    if (r->o.model)
        return r->o.model;
    if (r->builtin)
        return DEFAULT_MLP;
    if (!(r->spec_owned = malloc(128))) {
        cli_fail("train", "out of memory");
        return NULL;
    }
    const nn_dataset *tr = r->train;
    if (nn_dataset_label_kind(tr) == NN_LABELS_CLASS)
        snprintf(r->spec_owned, 128, "%lld dense:64 relu dense:%lld softmax",
                 (long long)nn_dataset_features(tr),
                 (long long)(nn_dataset_classes(tr) < 2 ? 2 : nn_dataset_classes(tr)));
    else
        snprintf(r->spec_owned, 128, "%lld dense:64 relu dense:%lld",
                 (long long)nn_dataset_features(tr), (long long)nn_dataset_targets(tr));
    return r->spec_owned;
}

static bool model_cfg(struct run *r, const char *spec, struct nn_model_cfg *mc)
{
    const struct opts *o = &r->o;
    *mc = (struct nn_model_cfg){.max_batch = o->batch > 256 ? o->batch : 256,
                                .has_dropout = r->has_dropout,
                                .dropout = (float)o->dropout};
    if (r->resuming)
        mc->max_batch = r->rec.info->max_batch;
    if (o->init && nn_init_parse(r->ctx, o->init, &mc->init) != NN_OK) {
        cli_fail("train", "--init: %s (see: nn help init)", nn_ctx_error(r->ctx));
        return false;
    }
    if (o->bias_init && nn_init_parse(r->ctx, o->bias_init, &mc->bias_init) != NN_OK) {
        cli_fail("train", "--bias-init: %s (see: nn help init)", nn_ctx_error(r->ctx));
        return false;
    }
    mc->has_init = o->init != NULL;
    mc->has_bias_init = o->bias_init != NULL;
    if (!r->resuming) /* a resumed model's weights come from the file */
        nn_ctx_set_warning(r->ctx, print_warning, NULL);
    if (o->loss) {
        if (strcmp(o->loss, "cross_entropy") == 0)
            mc->loss = NN_LOSS_SOFTMAX_CE;
        else if (strcmp(o->loss, "bce") == 0)
            mc->loss = NN_LOSS_SIGMOID_BCE;
        else if (strcmp(o->loss, "mse") == 0)
            mc->loss = NN_LOSS_MSE;
        else {
            cli_fail("train", "--loss must be cross_entropy, bce or mse, not '%s'", o->loss);
            return false;
        }
    } else if (nn_dataset_label_kind(r->train) == NN_LABELS_CLASS) {
        /* class labels and no final softmax or sigmoid: the last layer's
         * outputs are logits for a cross-entropy (as in PyTorch's habit of
         * ending a classifier in a linear layer) */
        size_t end = strlen(spec), start;
        while (end > 0 && strchr(" \t\n\r,", spec[end - 1]))
            end--;
        for (start = end; start > 0 && !strchr(" \t\n\r,", spec[start - 1]); start--)
            ;
        const char *last = spec + start;
        size_t len = end - start;
        if (!(len == 7 && (strncmp(last, "sigmoid", 7) == 0 || strncmp(last, "softmax", 7) == 0)))
            mc->loss = NN_LOSS_SOFTMAX_CE;
    }
    return true;
}

/* lbfgs trains full-batch: --batch defaults to the training set's size,
 * and a smaller one is refused (the trainer would refuse it too, later). */
static bool full_batch(struct run *r)
{
    struct opts *o = &r->o;
    const char *optim = r->resuming ? nn_optim_name(r->rec.info->train.optim.kind) : o->optim;
    if (!optim || nn_optim_parse(optim) != NN_OPTIM_LBFGS)
        return true;
    if (r->dist.on || o->reproducible) {
        cli_fail("train", "--optim lbfgs evaluates the loss of the whole training set several "
                 "times per step in one process: it cannot train data-parallel%s; run it "
                 "without %s", r->dist.on ? " over mpirun's ranks" : " (--reproducible)",
                 r->dist.on ? "mpirun" : "--reproducible");
        return false;
    }
    int64_t n = nn_dataset_size(r->train);
    if (!cli_given(o, "batch") && !r->resuming)
        o->batch = n;
    if (o->batch >= n)
        return true;
    cli_fail("train", "--optim lbfgs is full-batch (each step evaluates the loss of the same "
             "batch several times), but --batch %lld is smaller than the %lld training "
             "samples; leave --batch out (it then defaults to the training set's size) or "
             "give at least %lld", (long long)o->batch, (long long)n, (long long)n);
    return false;
}

/* The model, checked against every data set, with the training set's
 * normalization and class names. */
static bool build_model(struct run *r)
{
    const char *spec = model_spec(r);
    struct nn_model_cfg mc;
    if (!spec || !model_cfg(r, spec, &mc))
        return false;
    if (!(r->m = nn_model_new(r->ctx, spec, &mc))) {
        cli_fail("train", "%s", nn_ctx_error(r->ctx));
        return false;
    }
    if (!fits(r->m, r->train, "the training data") ||
        (r->val && !fits(r->m, r->val, "--val data")) ||
        (r->test && !fits(r->m, r->test, "the test data")))
        return false;
    r->regression = nn_model_loss_kind(r->m) == NN_LOSS_MSE;
    if (nn_model_set_norm(r->m, &r->ns) != NN_OK) {
        cli_fail("train", "%s", nn_ctx_error(r->ctx));
        return false;
    }
    if (r->nnames > 0 && (r->nnames == nn_model_outputs(r->m) || nn_model_outputs(r->m) == 1))
        nn_model_set_class_names(r->m, r->names, r->nnames); /* refuses counts that do not fit */
    return true;
}

/* The trainer: configured from the flags, or from the checkpoint resumed
 * (whose state it then takes). */
static bool make_trainer(struct run *r)
{
    const struct opts *o = &r->o;
    struct nn_train_cfg tc = {
        .epochs = (int)o->epochs, .batch = o->batch, .drop_last = o->drop_last,
        .no_shuffle = o->no_shuffle, .l1 = (float)o->l1, .l2 = (float)o->l2,
        .penalize_biases = o->penalize_biases, .decay_biases = o->decay_biases,
        .clip_norm = (float)o->clip_norm, .patience = (int)o->patience,
        .min_delta = (float)o->min_delta, .keep_last = o->keep_last};
    if (r->resuming) {
        tc = r->rec.info->train;
        tc.epochs = (int)o->epochs;
    } else {
        if (o->monitor && strcmp(o->monitor, "val_loss") != 0 &&
            strcmp(o->monitor, "val_acc") != 0) {
            cli_fail("train", "--monitor must be val_loss or val_acc, not '%s'", o->monitor);
            return false;
        }
        tc.monitor_acc = o->monitor && strcmp(o->monitor, "val_acc") == 0;
        if (tc.monitor_acc && !r->val) {
            cli_fail("train", "--monitor val_acc needs validation data (give --val or "
                     "--val-split)");
            return false;
        }
        if (tc.monitor_acc && r->regression) {
            cli_fail("train", "--monitor val_acc needs a classifier; this model regresses "
                     "(use val_loss)");
            return false;
        }
        if (o->train_metrics && strcmp(o->train_metrics, "running") != 0 &&
            strcmp(o->train_metrics, "eval") != 0) {
            cli_fail("train", "--train-metrics must be running or eval, not '%s'",
                     o->train_metrics);
            return false;
        }
        tc.train_eval = o->train_metrics && strcmp(o->train_metrics, "eval") == 0;
        if (o->schedule_unit && strcmp(o->schedule_unit, "step") != 0 &&
            strcmp(o->schedule_unit, "epoch") != 0) {
            cli_fail("train", "--schedule-unit must be epoch or step, not '%s'",
                     o->schedule_unit);
            return false;
        }
        tc.schedule_per_step = o->schedule_unit && strcmp(o->schedule_unit, "step") == 0;
        tc.tol = (float)o->tol;
        if (!optim_cfg(o, &tc.optim))
            return false;
        if (o->schedule && nn_schedule_parse(r->ctx, o->schedule, &tc.schedule) != NN_OK) {
            cli_fail("train", "--schedule: %s (see: nn help schedule)", nn_ctx_error(r->ctx));
            return false;
        }
        tc.reproducible = o->reproducible;
    }
    tc.dist = r->dist.on ? &r->dist.d : NULL;
    r->tc = tc;
    tc.on_epoch = on_epoch;
    tc.on_batch = on_batch; /* the progress bar on a TTY, and Ctrl-C */
    tc.user = r;
    if (!(r->t = nn_trainer_new(r->m, &tc))) {
        cli_fail("train", "%s", nn_ctx_error(r->ctx));
        return false;
    }
    if (r->resuming) {
        if (nn_trainer_resume(r->t, o->resume) != NN_OK) {
            cli_fail("train", "--resume: %s", nn_ctx_error(r->ctx));
            return false;
        }
        int done = nn_trainer_epoch(r->t);
        r->first_epoch = done;
        if (nn_trainer_stopped_early(r->t)) {
            cli_fail("train", "%s stopped early at epoch %d (no improvement for %d epochs); "
                     "its best weights are in the file: nothing to resume", o->resume, done,
                     tc.patience);
            return false;
        }
        if (done >= tc.epochs) {
            cli_fail("train", "%s has done %d of %d epochs; to train on, ask for more: "
                     "nn train --resume %s --epochs %d", o->resume, done, tc.epochs, o->resume,
                     done + (tc.epochs > 0 ? tc.epochs : 1));
            return false;
        }
        if (!o->quiet)
            printf("resumed from %s after epoch %d\n", o->resume, done);
    }
    return true;
}

/* The checkpoint's extra metadata and the log file. */
static bool open_outputs(struct run *r)
{
    const struct opts *o = &r->o;
    r->out = o->out ? o->out : o->resume ? o->resume : "model.safetensors";
    if (!cli_record_build(&r->record, o, r->has_dropout, r->train, nn_ctx_threads(r->ctx))) {
        cli_fail("train", "out of memory");
        return false;
    }
    bool cont = nn_trainer_epoch(r->t) > 0;
    if (o->stats) {
        if (!(r->stats = fopen(o->stats, cont ? "a" : "w"))) {
            cli_fail("train", "cannot write --stats %s: %s", o->stats, strerror(errno));
            return false;
        }
        if (!cont)
            fprintf(r->stats, "epoch,layer,op,kind,units,mean,std,unit_std,dead,grad_norm\n");
        r->nls = nn_layer_stats(nn_model_graph(r->m), NULL, NULL, 0);
        r->stats_cap = (size_t)(r->nls > 0 ? r->nls : 0) * 160 + 128;
        r->stats_text = malloc(r->stats_cap);
        r->ls = malloc((size_t)(r->nls > 0 ? r->nls : 1) * sizeof *r->ls);
        if (!r->stats_text || !r->ls || r->nls < 0 || r->record.n >= CLI_RECORD_MAX) {
            cli_fail("train", "out of memory");
            return false;
        }
        r->stats_text[0] = 0;
        /* the last epoch's statistics, filled in before every save */
        r->record.keys[r->record.n] = "layer_stats";
        r->record.vals[r->record.n++] = r->stats_text;
    }
    if (o->log && !(r->log = fopen(o->log, cont ? "a" : "w"))) {
        cli_fail("train", "cannot write --log %s: %s", o->log, strerror(errno));
        return false;
    }
    if (r->log && !cont)
        fprintf(r->log, "epoch,%sloss,%s%s,val_loss,val_%s,lr,seconds\n",
                r->tc.train_eval ? "eval_" : "", r->tc.train_eval ? "eval_" : "",
                r->regression ? "mae" : "accuracy", r->regression ? "mae" : "accuracy");
    return true;
}

/* Every output path writable, before any data is read. */
static bool check_outputs(const struct opts *o)
{
    const char *out = o->out ? o->out : o->resume ? o->resume : "model.safetensors";
    return cli_check_output("train", "--out", out) &&
           (!o->plot || cli_check_output("train", "--plot", o->plot)) &&
           (!o->log || cli_check_output("train", "--log", o->log)) &&
           (!o->stats || cli_check_output("train", "--stats", o->stats));
}

/* The checkpoint written is not another model's (unless --force); the
 * file resumed from is this model's. */
static bool check_overwrite(const struct run *r)
{
    const struct opts *o = &r->o;
    const char *out = o->out ? o->out : o->resume ? o->resume : "model.safetensors";
    return cli_check_overwrite(r->ctx, out, r->m, o->force);
}

/* The trainable parameters (buffers such as batch norm's running
 * statistics are not counted, as in PyTorch). */
static int64_t trainable_count(const nn_model *m)
{
    nn_graph *g = nn_model_graph(m);
    int64_t n = 0;
    for (int i = 0; i < nn_graph_nparams(g); i++)
        if (nn_param_is_trainable(nn_graph_param(g, i)))
            n += nn_node_numel(nn_graph_param(g, i));
    return n;
}

/* A CSV's layout as read: whether its first row was taken as a header. */
static void print_columns(const struct run *r)
{
    const char *src = nn_dataset_source(r->train);
    size_t n = strlen(src);
    bool csv = (n > 4 && strcmp(src + n - 4, ".csv") == 0) ||
               (n > 7 && strcmp(src + n - 7, ".csv.gz") == 0);
    if (csv && !nn_dataset_feature_name(r->train, 0))
        printf("columns: no header row (the first row is data); columns are named by "
               "0-based index (--header yes if the first row names them)\n");
}

/* The label columns of a CSV data set, "species" or "column 4 (0-based)",
 * comma-separated, into buf. */
static void label_columns(const nn_dataset *ds, char *buf, size_t size)
{
    size_t k = 0;
    buf[0] = '\0';
    for (int64_t c = 0; c < nn_dataset_columns(ds) && k < size; c++) {
        nn_column_role role;
        const char *name = nn_dataset_column(ds, c, &role);
        if (role != NN_COLUMN_LABEL)
            continue;
        if (name)
            k += (size_t)snprintf(buf + k, size - k, "%s%s", k ? ", " : "", name);
        else
            k += (size_t)snprintf(buf + k, size - k, "%s%lld", k ? ", " : "", (long long)c);
    }
    if (k < size && !nn_dataset_column(ds, 0, NULL))
        snprintf(buf + k, size - k, " (0-based; no header)");
}

/* A CSV's task as read: "task: classification, 3 classes (a, b, c),
 * label column species" or "task: regression, target column y". */
static void print_task(const struct run *r)
{
    const nn_dataset *ds = r->train;
    char cols[256];
    if (nn_dataset_columns(ds) == 0)
        return;
    const char *sep = "columns left out: ";
    for (int64_t c = 0; c < nn_dataset_columns(ds); c++) {
        nn_column_role role;
        const char *name = nn_dataset_column(ds, c, &role);
        if (role == NN_COLUMN_IGNORED) {
            if (name)
                printf("%s%s", sep, name);
            else
                printf("%s%lld", sep, (long long)c);
            sep = ", ";
        }
    }
    if (sep[0] == ',')
        printf("\n");
    label_columns(ds, cols, sizeof cols);
    bool chosen = !r->o.task || strcmp(r->o.task, "auto") == 0;
    if (nn_dataset_label_kind(ds) == NN_LABELS_CLASS) {
        int64_t k = nn_dataset_classes(ds);
        printf("task: classification, %lld classes (", (long long)k);
        for (int64_t i = 0; i < k && i < 12; i++) {
            const char *name = nn_dataset_class_name(ds, i);
            if (name)
                printf("%s%s", i ? ", " : "", name);
            else
                printf("%s%lld", i ? ", " : "", (long long)i);
        }
        printf("%s), label column %s%s\n", k > 12 ? ", ..." : "", cols,
               chosen && !nn_dataset_class_name(ds, 0)
                   ? " (--task regress to read the labels as numbers)" : "");
    } else {
        printf("task: regression, target column%s %s%s\n",
               nn_dataset_targets(ds) > 1 ? "s" : "", cols,
               chosen ? " (--task classify to read them as classes)" : "");
    }
}

/* After a failed epoch (a NaN loss, an error): what the disk holds, so
 * that "keeping the last good weights" is not read as "they were saved". */
static void saved_note(const struct run *r)
{
    if (r->saved_epoch > 0)
        fprintf(stderr, "nn train: %s holds epoch %d, the last whole epoch\n", r->out,
                r->saved_epoch);
    else if (r->resuming)
        fprintf(stderr, "nn train: %s is as it was (epoch %d)\n", r->o.resume, r->first_epoch);
    else
        fprintf(stderr, "nn train: nothing was written: no epoch finished\n");
}

/* Trains, then evaluates the test set if there is one. */
static bool train_and_test(struct run *r)
{
    const struct opts *o = &r->o;
    if (!o->quiet)
        printf("model: %s (%lld parameters)\ndata: %s, %lld training samples%s\n",
               nn_model_spec(r->m), (long long)trainable_count(r->m),
               nn_dataset_source(r->train), (long long)nn_dataset_size(r->train),
               r->val ? ", validation held out" : "");
    if (!o->quiet) {
        print_columns(r);
        print_task(r);
    }
    if (!o->quiet && r->augment)
        printf("augmentation: %s (training batches only)\n", r->aug_text);
    struct nn_source s_va;
    if (r->val)
        s_va = nn_source_from_dataset(r->val);
    nn_status st = nn_trainer_fit(r->t, &r->s_tr, r->val ? &s_va : NULL);
    if (r->tty)
        fprintf(stderr, "\r\033[K");
    if (st != NN_OK) {
        cli_fail("train", "%s", nn_ctx_error(r->ctx));
        if (r->dist.rank == 0) /* what is on disk */
            saved_note(r);
        return false;
    }
    if (r->failed)
        return false;
    if (interrupted)
        return true; /* no test: the run is not done */
    const struct nn_train_cfg *tc = &r->tc;
    int tol_p = tc->patience > 0 ? tc->patience : 1;
    if (nn_trainer_converged(r->t) && !o->quiet)
        printf("converged after epoch %d: the training loss improved by less than %g "
               "(relative to its best) for %d epoch%s\n", nn_trainer_epoch(r->t),
               (double)tc->tol, tol_p, tol_p > 1 ? "s" : "");
    else if (nn_trainer_stopped_early(r->t) && !o->quiet)
        printf("early stopping after epoch %d: best validation %s at epoch %d%s\n",
               nn_trainer_epoch(r->t), tc->monitor_acc ? "accuracy" : "loss",
               nn_trainer_best_epoch(r->t),
               o->keep_last ? "" : " (its weights restored)");
    if (!r->test)
        return true;
    struct nn_source s_te = nn_source_from_dataset(r->test);
    struct nn_metrics *tm = &r->tm;
    if (nn_evaluate_dist(r->m, &s_te, r->dist.on ? &r->dist.d : NULL, tm) != NN_OK) {
        cli_fail("train", "%s", nn_ctx_error(r->ctx));
        return false;
    }
    r->tested = true;
    if (r->dist.rank != 0)
        return true;
    if (r->regression) {
        printf("test: loss %.4f  mae %.4f  (%lld samples)\n", tm->loss, tm->mae, (long long)tm->n);
        snprintf(r->test_json, sizeof r->test_json,
                 "{\"loss\": %.9g, \"mae\": %.9g, \"n\": %lld}", tm->loss, tm->mae,
                 (long long)tm->n);
    } else {
        printf("test accuracy: %.4f  (loss %.4f, %lld samples)\n", tm->accuracy, tm->loss,
               (long long)tm->n);
        snprintf(r->test_json, sizeof r->test_json,
                 "{\"loss\": %.9g, \"accuracy\": %.9g, \"n\": %lld}", tm->loss, tm->accuracy,
                 (long long)tm->n);
    }
    return true;
}

/* The plot of the epochs done. */
static bool write_plot(struct run *r)
{
    const struct opts *o = &r->o;
    if (!o->plot)
        return true;
    int n;
    const struct nn_epoch_stats *h = nn_trainer_history(r->t, &n);
    char title[300];
    snprintf(title, sizeof title, "%s on %s; training metrics: %s", nn_model_spec(r->m),
             r->data, r->tc.train_eval ? "eval mode" : "running, dropout on");
    if (!cli_plot_stats(o->plot, h, n, r->regression, title, r->tested ? &r->tm : NULL,
                        o->stats))
        return false;
    if (!o->quiet)
        printf("plot written to %s\n", o->plot);
    return true;
}

/* After Ctrl-C: the checkpoint holds the end of the last whole epoch
 * (written by on_epoch; the weights of a partial epoch are not saved, so
 * that --resume continues exactly as an uninterrupted run would), the log
 * has every whole epoch, and the plot is drawn from them. */
static void finish_interrupted(struct run *r)
{
    if (r->dist.rank != 0)
        return;
    int total = (int)r->o.epochs;
    /* the file holding the last epoch saved: this run's (every --save-every
     * epochs), or the one it resumed */
    const char *file = r->saved_epoch > 0 ? r->out : r->resuming ? r->o.resume : NULL;
    int done = r->saved_epoch > 0 ? r->saved_epoch : r->first_epoch;
    if (file) {
        write_plot(r);
        printf("interrupted after epoch %d of %d; the checkpoint %s holds epoch %d "
               "(a partial epoch is not saved); continue with: nn train --resume %s\n",
               done, total, file, done, file);
    } else {
        printf("interrupted during epoch %d of %d, before a checkpoint was written: "
               "nothing was written\n", nn_trainer_epoch(r->t) + 1, total);
    }
    fflush(stdout);
}

/* The final file (the restored best weights and the test result) and the plot. */
static bool finish(struct run *r)
{
    const struct opts *o = &r->o;
    if (interrupted) {
        finish_interrupted(r);
        return true;
    }
    struct cli_record *rec = &r->record;
    if (r->dist.rank != 0)
        return true;
    if (r->tested && rec->n < CLI_RECORD_MAX) {
        rec->keys[rec->n] = "test";
        rec->vals[rec->n++] = r->test_json;
    }
    if (nn_checkpoint_save(r->out, r->m, r->t, rec->keys, rec->vals, rec->n) != NN_OK) {
        cli_fail("train", "%s", nn_ctx_error(r->ctx));
        return false;
    }
    if (!o->quiet)
        printf("model written to %s\n", r->out);
    if (!write_plot(r))
        return false;
    if (o->log && !o->quiet)
        printf("log written to %s\n", o->log);
    return true;
}

static void run_free(struct run *r)
{
    if (r->log)
        fclose(r->log);
    if (r->stats)
        fclose(r->stats);
    free(r->ls);
    free(r->stats_text);
    free(r->spec_owned);
    cli_record_free(&r->record);
    nn_trainer_free(r->t);
    nn_model_free(r->m);
    nn_dataset_free(r->train);
    nn_dataset_free(r->val);
    nn_dataset_free(r->test);
    cli_recorded_close(&r->rec);
    nn_ctx_free(r->ctx);
    cli_dist_end(&r->dist);
    free(r);
}

/* For a caller that runs nn train as a step (nn sweep): the epochs run and
 * the final weights' metrics on the training and validation data, in
 * evaluation mode (the training set without augmentation). */
static bool fill_result(struct run *r, struct cli_train_result *res)
{
    res->epochs = nn_trainer_epoch(r->t);
    res->regression = r->regression;
    struct nn_source s = nn_source_from_dataset(r->train);
    if (nn_evaluate(r->m, &s, &res->train) != NN_OK) {
        cli_fail("train", "%s", nn_ctx_error(r->ctx));
        return false;
    }
    res->val = (struct nn_metrics){.loss = NAN, .accuracy = NAN, .mae = NAN, .mse = NAN};
    if (r->val) {
        s = nn_source_from_dataset(r->val);
        if (nn_evaluate(r->m, &s, &res->val) != NN_OK) {
            cli_fail("train", "%s", nn_ctx_error(r->ctx));
            return false;
        }
    }
    res->done = true;
    return true;
}

int cmd_train(int argc, char **argv)
{
    return cli_train_run(argc, argv, NULL);
}

int cli_train_run(int argc, char **argv, struct cli_train_result *res)
{
    struct run *r = calloc(1, sizeof *r);
    if (!r)
        return cli_fail("train", "out of memory");
    struct opts *o = &r->o;
    *o = (struct opts){.seed = 1, .epochs = 10, .batch = 64, .split_seed = -1};
    const char *pos;
    int rc = 2;
    if (!cli_parse(CMD_TRAIN, argc, argv, o, &pos))
        goto done;
    if (pos) {
        cli_fail("train", "unexpected argument '%s' (see: nn help train)", pos);
        goto done;
    }
    rc = 1;
    if (!cli_dist_start("train", &r->dist))
        goto done;
    if (r->dist.rank != 0) { /* rank 0 prints, logs, plots */
        o->quiet = true;
        o->log = o->plot = o->stats = NULL;
    }
    if (r->dist.on && !cli_given(o, "threads")) { /* the host's cores shared by its ranks */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        o->threads = cores > cli_dist_local_size() ? cores / cli_dist_local_size() : 1;
    }
    if (!(r->ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = o->seed, .threads = (int)o->threads}))) {
        cli_fail("train", "out of memory");
        goto done;
    }
    r->resuming = o->resume != NULL;
    if (r->resuming) {
        if (!cli_recorded_open(r->ctx, "train", o->resume, &r->rec) ||
            !cli_resume_settings(r->ctx, o, &r->rec))
            goto done;
        nn_ctx_seed(r->ctx, o->seed);
    }
    r->has_dropout = cli_given(o, "dropout") || (r->resuming && r->rec.has_dropout);
    r->data = o->data ? o->data : "fashion-mnist";
    r->builtin = strcmp(r->data, "fashion-mnist") == 0;
    r->tty = isatty(2) && !o->quiet;
    if (!res || !res->embedded)
        catch_interrupts(r->dist.rank == 0);
    r->final_only = res && res->embedded;
    if (check_outputs(o) && load_data(r) && full_batch(r) && augment_parse(r) && build_model(r) &&
        check_overwrite(r) && augment_setup(r) &&
        make_trainer(r) && open_outputs(r) && train_and_test(r) && finish(r))
        rc = interrupted ? 128 + interrupted : 0; /* 130 for Ctrl-C, as a shell reports it */
    if (rc == 0 && res && !fill_result(r, res))
        rc = 1;
done:
    /* the other ranks would wait for this one forever; interrupted in
     * training, every rank stopped after the same batch and ends as this one */
    if (rc != 0 && !(interrupted && rc == 128 + interrupted && r->t))
        cli_dist_abort(&r->dist, "train", rc);
    run_free(r);
    return rc;
}
