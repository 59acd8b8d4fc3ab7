/*
 * cmd_train.c - `nn train`: load data, build or resume a model, train with
 * live progress, write a checkpoint after every epoch (atomically), a CSV
 * log and a plot, and report test metrics at the end.
 */
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MLP "784 dense:256 relu dense:128 relu dense:10 softmax"

struct run {
    const struct opts *o;
    nn_model *m;
    nn_trainer *t;
    FILE *log;
    bool tty, regression;
    double last_draw;
    const char *out;
    const char *meta_keys[12], *meta_vals[12];
    int nmeta;
    int failed; /* a checkpoint or log write failed */
};

static bool on_epoch(const struct nn_epoch_stats *s, void *user)
{
    struct run *r = user;
    if (!r->o->quiet)
        cli_print_epoch(s, r->regression, r->tty);
    if (r->log) {
        fprintf(r->log, "%d,%.6f,%.6f,%.6f,%.6f,%.6g,%.3f\n", s->epoch, s->train.loss,
                r->regression ? s->train.mae : s->train.accuracy, s->val.n ? s->val.loss : NAN,
                s->val.n ? (r->regression ? s->val.mae : s->val.accuracy) : NAN, s->lr,
                s->seconds);
        fflush(r->log);
    }
    if (nn_checkpoint_save(r->out, r->m, r->t, r->meta_keys, r->meta_vals, r->nmeta) != NN_OK) {
        fprintf(stderr, "nn train: %s\n", nn_ctx_error(nn_model_ctx(r->m)));
        r->failed = 1;
        return false;
    }
    return true;
}

static bool on_batch(const struct nn_train_progress *p, void *user)
{
    struct run *r = user;
    return cli_on_batch(p, &r->last_draw);
}

/* Checks the data fits the model: features, classes or targets. */
static bool fits(const nn_model *m, nn_dataset *ds, const char *what)
{
    int64_t f = nn_dataset_features(ds), in = nn_model_inputs(m), out = nn_model_outputs(m);
    if (f != in) {
        cli_fail("train", "%s (%s) has %lld features per sample but the model takes %lld "
                 "inputs (the first number of --model)", what, nn_dataset_source(ds),
                 (long long)f, (long long)in);
        return false;
    }
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

/* The augmentation of the training images: --augment, or on --resume
 * without it the checkpoint's setting ("augment"); on --resume the draws
 * stay keyed to the checkpoint's seed ("augment_seed"), so the resumed run
 * continues the same stream. Returns false after printing an error. */
static bool augment_cfg(nn_ctx *ctx, const struct opts *o, struct nn_augment_cfg *c)
{
    *c = (struct nn_augment_cfg){.seed = o->seed};
    const char *text = o->augment;
    char from[300] = "--augment";
    nn_safetensors *ck = o->resume ? nn_safetensors_open(ctx, o->resume) : NULL;
    bool ok = true;
    if (ck) { /* one that cannot be read is reported by the resume itself */
        const char *seed = nn_safetensors_meta(ck, "augment_seed");
        char *end = NULL;
        if (seed)
            c->seed = strtoull(seed, &end, 10);
        if (seed && (!*seed || *end)) {
            cli_fail("train", "--resume %s: bad augment_seed '%s' in its metadata", o->resume,
                     seed);
            ok = false;
        }
        if (!text && (text = nn_safetensors_meta(ck, "augment")))
            snprintf(from, sizeof from, "--resume %s (its augment setting)", o->resume);
    }
    if (ok && text && nn_augment_parse(ctx, text, c) != NN_OK) {
        cli_fail("train", "%s: %s", from, nn_ctx_error(ctx));
        ok = false;
    }
    nn_safetensors_close(ck);
    return ok;
}

static bool optim_cfg(const struct opts *o, struct nn_optim_cfg *c)
{
    memset(c, 0, sizeof *c);
    int k = nn_optim_parse(o->optim ? o->optim : "adam");
    if (k < 0) {
        cli_fail("train", "unknown optimizer '%s' (sgd momentum nesterov adagrad adadelta "
                 "rmsprop adam adamw adafactor)", o->optim);
        return false;
    }
    c->kind = (nn_optim_kind)k;
    c->lr = (float)o->lr;
    c->momentum = (float)o->momentum;
    c->dampening = (float)o->dampening;
    c->weight_decay = (float)o->weight_decay;
    c->decoupled = o->decoupled;
    c->beta1 = (float)o->beta1;
    c->beta2 = (float)o->beta2;
    c->eps = (float)o->eps;
    c->rho = (float)o->rho;
    c->alpha = (float)o->alpha;
    c->amsgrad = o->amsgrad;
    c->centered = o->centered;
    nn_optim_defaults(c);
    return true;
}

int cmd_train(int argc, char **argv)
{
    struct opts o = {.seed = 1, .epochs = 10, .batch = 64};
    const char *pos;
    if (!cli_parse(CMD_TRAIN, argc, argv, &o, &pos))
        return 2;
    if (pos)
        return cli_fail("train", "unexpected argument '%s' (see: nn help train)", pos), 2;
    const char *data = o.data ? o.data : "fashion-mnist";
    bool builtin = strcmp(data, "fashion-mnist") == 0;
    int rc = 1;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = o.seed, .threads = (int)o.threads});
    nn_dataset *all = NULL, *train = NULL, *val = NULL, *test = NULL;
    struct run r = {.o = &o, .tty = isatty(2) && !o.quiet};
    char *spec_owned = NULL;
    if (!ctx)
        return cli_fail("train", "out of memory");

    if (!(all = cli_load_data(ctx, &o, data, "train", true)))
        goto done;
    if (o.normalize) {
        int k = nn_norm_parse(o.normalize);
        if (k < 0) {
            cli_fail("train", "--normalize must be standard, minmax, scale255 or none, not '%s'",
                     o.normalize);
            goto done;
        }
        if (nn_dataset_fit_norm(all, (nn_norm_kind)k) != NN_OK) {
            cli_fail("train", "%s", nn_ctx_error(ctx));
            goto done;
        }
    }
    if (o.val_split > 0) {
        if (o.val) {
            cli_fail("train", "give --val or --val-split, not both");
            goto done;
        }
        if (nn_dataset_split(all, (float)o.val_split, o.seed, &train, &val) != NN_OK) {
            cli_fail("train", "%s", nn_ctx_error(ctx));
            goto done;
        }
        nn_dataset_free(all);
        all = NULL;
    } else {
        train = all;
        all = NULL;
    }
    struct nn_norm_stats ns;
    nn_dataset_norm_get(train, &ns);
    /* the training set's class names, which other files' labels must follow */
    const char *names[1024];
    int64_t nnames = 0;
    while (nnames < 1024 && nn_dataset_class_name(train, nnames)) {
        names[nnames] = nn_dataset_class_name(train, nnames);
        nnames++;
    }
    if (o.val) {
        if (!(val = cli_load_data(ctx, &o, o.val, "test", true)) ||
            !cli_match_classes(ctx, val, names, nnames, "--val"))
            goto done;
        if (nn_dataset_norm_set(val, &ns) != NN_OK) {
            cli_fail("train", "--val %s: %s", o.val, nn_ctx_error(ctx));
            goto done;
        }
    }
    /* the training source, with the augmentation if any: checked here, before
     * the model is built, so that a bad setting fails early */
    struct nn_augment_cfg aug;
    struct nn_augment_source aug_src;
    struct nn_source s_tr = nn_source_from_dataset(train);
    char aug_text[64], aug_seed[32];
    if (!augment_cfg(ctx, &o, &aug))
        goto done;
    bool augment = aug.shift > 0 || aug.flip;
    nn_augment_format(&aug, aug_text, sizeof aug_text);
    snprintf(aug_seed, sizeof aug_seed, "%" PRIu64, aug.seed);
    if (augment && nn_source_augment(ctx, &aug_src, &s_tr, NULL, &aug, &s_tr) != NN_OK) {
        cli_fail("train", "--augment %s: %s", aug_text, nn_ctx_error(ctx));
        goto done;
    }
    const char *test_src = o.test ? o.test : builtin && strcmp(data, "fashion-mnist") == 0 ? data : NULL;
    if (test_src) {
        if (!(test = cli_load_data(ctx, &o, test_src, "test", true)) ||
            !cli_match_classes(ctx, test, names, nnames, "--test"))
            goto done;
        if (nn_dataset_norm_set(test, &ns) != NN_OK) {
            cli_fail("train", "--test %s: %s", test_src, nn_ctx_error(ctx));
            goto done;
        }
    }

    /* The model: given, from a resumed checkpoint, or a default for the data. */
    const char *spec = o.model;
    nn_label_kind dk = nn_dataset_label_kind(train);
    if (!spec && o.resume) {
        nn_safetensors *ck = nn_safetensors_open(ctx, o.resume);
        const char *s = ck ? nn_safetensors_meta(ck, "spec") : NULL;
        if (s && (spec_owned = malloc(strlen(s) + 1)))
            spec = strcpy(spec_owned, s);
        nn_safetensors_close(ck);
        if (!spec) {
            cli_fail("train", "--resume: %s", ck ? "the file holds no model spec (not a libnn "
                     "checkpoint?)" : nn_ctx_error(ctx));
            goto done;
        }
    }
    if (!spec && builtin)
        spec = DEFAULT_MLP;
    if (!spec) {
        spec_owned = malloc(128);
        if (!spec_owned)
            goto done;
        if (dk == NN_LABELS_CLASS)
            snprintf(spec_owned, 128, "%lld dense:64 relu dense:%lld softmax",
                     (long long)nn_dataset_features(train),
                     (long long)(nn_dataset_classes(train) < 2 ? 2 : nn_dataset_classes(train)));
        else
            snprintf(spec_owned, 128, "%lld dense:64 relu dense:%lld",
                     (long long)nn_dataset_features(train), (long long)nn_dataset_targets(train));
        spec = spec_owned;
    }
    struct nn_model_cfg mc = {.max_batch = o.batch > 256 ? o.batch : 256,
                              .has_dropout = cli_given(&o, "dropout"),
                              .dropout = (float)o.dropout};
    if (o.init) {
        int k = nn_init_parse(o.init);
        if (k < 0) {
            cli_fail("train", "unknown initializer '%s'", o.init);
            goto done;
        }
        mc.has_init = true;
        mc.init = (nn_init_kind)k;
    }
    if (o.loss) {
        if (strcmp(o.loss, "cross_entropy") == 0)
            mc.loss = NN_LOSS_SOFTMAX_CE;
        else if (strcmp(o.loss, "bce") == 0)
            mc.loss = NN_LOSS_SIGMOID_BCE;
        else if (strcmp(o.loss, "mse") == 0)
            mc.loss = NN_LOSS_MSE;
        else {
            cli_fail("train", "--loss must be cross_entropy, bce or mse, not '%s'", o.loss);
            goto done;
        }
    }
    if (!o.loss && dk == NN_LABELS_CLASS) {
        /* class labels and no final softmax or sigmoid: the last layer's
         * outputs are logits for a cross-entropy (as in PyTorch's habit of
         * ending a classifier in a linear layer) */
        const char *last = strrchr(spec, ' ');
        last = last ? last + 1 : spec;
        if (strcmp(last, "sigmoid") != 0 && strcmp(last, "softmax") != 0)
            mc.loss = NN_LOSS_SOFTMAX_CE;
    }
    if (!(r.m = nn_model_new(ctx, spec, &mc))) {
        cli_fail("train", "%s", nn_ctx_error(ctx));
        goto done;
    }
    if (!fits(r.m, train, "the training data") || (val && !fits(r.m, val, "--val data")) ||
        (test && !fits(r.m, test, "the test data")))
        goto done;
    r.regression = nn_model_loss_kind(r.m) == NN_LOSS_MSE;
    if (nn_model_set_norm(r.m, &ns) != NN_OK) {
        cli_fail("train", "%s", nn_ctx_error(ctx));
        goto done;
    }
    if (nnames > 0 && (nnames == nn_model_outputs(r.m) || nn_model_outputs(r.m) == 1))
        nn_model_set_class_names(r.m, names, nnames); /* refuses counts that do not fit */

    struct nn_train_cfg tc = {
        .epochs = (int)o.epochs, .batch = o.batch, .drop_last = o.drop_last,
        .no_shuffle = o.no_shuffle, .l1 = (float)o.l1, .l2 = (float)o.l2,
        .penalize_biases = o.penalize_biases, .decay_biases = o.decay_biases,
        .clip_norm = (float)o.clip_norm, .patience = (int)o.patience,
        .min_delta = (float)o.min_delta, .keep_last = o.keep_last,
        .on_epoch = on_epoch, .on_batch = r.tty ? on_batch : NULL, .user = &r};
    if (!optim_cfg(&o, &tc.optim))
        goto done;
    if (o.schedule && nn_schedule_parse(ctx, o.schedule, &tc.schedule) != NN_OK) {
        cli_fail("train", "--schedule: %s (see: nn help schedule)", nn_ctx_error(ctx));
        goto done;
    }
    if (!(r.t = nn_trainer_new(r.m, &tc))) {
        cli_fail("train", "%s", nn_ctx_error(ctx));
        goto done;
    }
    if (o.resume) {
        if (nn_trainer_resume(r.t, o.resume) != NN_OK) {
            cli_fail("train", "--resume: %s", nn_ctx_error(ctx));
            goto done;
        }
        if (!o.quiet)
            printf("resumed from %s after epoch %d\n", o.resume, nn_trainer_epoch(r.t));
    }
    r.out = o.out ? o.out : "model.safetensors";
    char seed[32], threads[16], created[32];
    snprintf(seed, sizeof seed, "%" PRIu64, o.seed);
    snprintf(threads, sizeof threads, "%d", nn_ctx_threads(ctx));
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    r.meta_keys[0] = "data", r.meta_vals[0] = data;
    r.meta_keys[1] = "seed", r.meta_vals[1] = seed;
    r.meta_keys[2] = "threads", r.meta_vals[2] = threads;
    r.meta_keys[3] = "created", r.meta_vals[3] = created;
    r.nmeta = 4;
    /* images: the size predict must bring its inputs to */
    char image[64];
    int64_t shape[NN_MAX_DIMS];
    if (nn_dataset_shape(train, shape) == 3 && nn_dataset_class_name(train, 0) &&
        strncmp(data, "idx:", 4) != 0 && !builtin) {
        snprintf(image, sizeof image, "%lldx%lldx%lld%s", (long long)shape[2],
                 (long long)shape[1], (long long)shape[0], o.resize ? " resize" : "");
        r.meta_keys[r.nmeta] = "image", r.meta_vals[r.nmeta++] = image;
    }
    if (augment) {
        r.meta_keys[r.nmeta] = "augment", r.meta_vals[r.nmeta++] = aug_text;
        r.meta_keys[r.nmeta] = "augment_seed", r.meta_vals[r.nmeta++] = aug_seed;
    }
    if (o.log && !(r.log = fopen(o.log, nn_trainer_epoch(r.t) > 0 ? "a" : "w"))) {
        cli_fail("train", "cannot write --log %s", o.log);
        goto done;
    }
    if (r.log && nn_trainer_epoch(r.t) == 0)
        fprintf(r.log, "epoch,loss,%s,val_loss,val_%s,lr,seconds\n",
                r.regression ? "mae" : "accuracy", r.regression ? "mae" : "accuracy");
    if (!o.quiet)
        printf("model: %s (%lld parameters)\ndata: %s, %lld training samples%s\n",
               nn_model_spec(r.m), (long long)nn_graph_param_count(nn_model_graph(r.m)),
               nn_dataset_source(train), (long long)nn_dataset_size(train),
               val ? ", validation held out" : "");
    if (!o.quiet && augment)
        printf("augmentation: %s (training batches only)\n", aug_text);
    struct nn_source s_va;
    if (val)
        s_va = nn_source_from_dataset(val);
    nn_status st = nn_trainer_fit(r.t, &s_tr, val ? &s_va : NULL);
    if (r.tty)
        fprintf(stderr, "\r\033[K");
    if (st != NN_OK) {
        cli_fail("train", "%s", nn_ctx_error(ctx));
        goto done;
    }
    if (r.failed)
        goto done;
    if (nn_trainer_stopped_early(r.t) && !o.quiet)
        printf("early stopping after epoch %d: best validation loss at epoch %d%s\n",
               nn_trainer_epoch(r.t), nn_trainer_best_epoch(r.t),
               o.keep_last ? "" : " (its weights restored)");
    char test_json[160];
    struct nn_metrics tm;
    if (test) {
        struct nn_source s_te = nn_source_from_dataset(test);
        if (nn_evaluate(r.m, &s_te, &tm) != NN_OK) {
            cli_fail("train", "%s", nn_ctx_error(ctx));
            goto done;
        }
        if (r.regression) {
            printf("test: loss %.4f  mae %.4f  (%lld samples)\n", tm.loss, tm.mae, (long long)tm.n);
            snprintf(test_json, sizeof test_json, "{\"loss\": %.6f, \"mae\": %.6f, \"n\": %lld}",
                     tm.loss, tm.mae, (long long)tm.n);
        } else {
            printf("test accuracy: %.4f  (loss %.4f, %lld samples)\n", tm.accuracy, tm.loss,
                   (long long)tm.n);
            snprintf(test_json, sizeof test_json,
                     "{\"loss\": %.6f, \"accuracy\": %.6f, \"n\": %lld}", tm.loss, tm.accuracy,
                     (long long)tm.n);
        }
        r.meta_keys[r.nmeta] = "test", r.meta_vals[r.nmeta++] = test_json;
    }
    /* The final file: the restored best weights and the test result. */
    if (nn_checkpoint_save(r.out, r.m, r.t, r.meta_keys, r.meta_vals, r.nmeta) != NN_OK) {
        cli_fail("train", "%s", nn_ctx_error(ctx));
        goto done;
    }
    if (!o.quiet)
        printf("model written to %s\n", r.out);
    if (o.plot) {
        int n;
        const struct nn_epoch_stats *h = nn_trainer_history(r.t, &n);
        char title[300];
        snprintf(title, sizeof title, "%s on %s", nn_model_spec(r.m), data);
        if (!cli_plot(o.plot, h, n, r.regression, title, test ? &tm : NULL))
            goto done;
        if (!o.quiet)
            printf("plot written to %s\n", o.plot);
    }
    if (o.log && !o.quiet)
        printf("log written to %s\n", o.log);
    rc = 0;
done:
    if (r.log)
        fclose(r.log);
    free(spec_owned);
    nn_trainer_free(r.t);
    nn_model_free(r.m);
    nn_dataset_free(all);
    nn_dataset_free(train);
    nn_dataset_free(val);
    nn_dataset_free(test);
    nn_ctx_free(ctx);
    return rc;
}
