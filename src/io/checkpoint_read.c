/*
 * checkpoint_read.c - reading a checkpoint's metadata once
 * (nn_checkpoint_open): the model spec, loss, normalization and class
 * names, and a trainer's configuration, position, history, schedule and
 * generator state. nn_model_load and nn_trainer_resume build on it, and
 * programs read it through nn_checkpoint_info instead of parsing the
 * library's private JSON.
 */
#include "io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <string.h>

static const char *const reserved[] = {"format", "spec", "loss", "max_batch", "parameters",
                                       "norm", "classes", "optim", "train"};

static double num(const cJSON *o, const char *key, double dflt)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(it) ? it->valuedouble : dflt;
}

static bool flag(const cJSON *o, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

static void read_metrics(const cJSON *o, struct nn_metrics *m)
{
    m->loss = num(o, "loss", NAN);
    m->penalty = num(o, "penalty", 0);
    m->accuracy = num(o, "accuracy", NAN);
    m->mae = num(o, "mae", NAN);
    m->mse = num(o, "mse", NAN);
    m->n = (int64_t)num(o, "n", 0);
}

/* An integer field in [lo, hi] (dflt when absent); false after a message. */
static bool int_field(nn_checkpoint *ck, const cJSON *o, const char *what, const char *key,
                      double lo, double hi, double dflt, double *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, key);
    double v = it ? (cJSON_IsNumber(it) ? it->valuedouble : NAN) : dflt;
    if (!(v >= lo && v <= hi) || v != floor(v)) {
        nn_fail(ck->ctx, NN_ERR_FORMAT, "%s: metadata '%s' has a bad '%s' (expected an "
                "integer from %.0f to %.0f)", ck->info.path, what, key, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

/* A non-negative finite number field (0 when absent). */
static bool real_field(nn_checkpoint *ck, const cJSON *o, const char *what, const char *key,
                       float *out)
{
    double v = num(o, key, 0);
    if (!isfinite(v)) {
        nn_fail(ck->ctx, NN_ERR_FORMAT, "%s: metadata '%s' has a bad '%s'", ck->info.path,
                what, key);
        return false;
    }
    *out = (float)v;
    return true;
}

/* L-BFGS's fields (absent, i.e. 0, for the other kinds). */
static bool read_lbfgs(nn_checkpoint *ck, const cJSON *op, struct nn_optim_cfg *c)
{
    static const char *const ikeys[] = {"history_size", "max_iter", "max_eval"};
    int *const ifields[] = {&c->history_size, &c->max_iter, &c->max_eval};
    for (size_t i = 0; i < 3; i++) {
        double v;
        if (!int_field(ck, op, "optim", ikeys[i], 0, 1e9, 0, &v))
            return false;
        *ifields[i] = (int)v;
    }
    if (!real_field(ck, op, "optim", "tolerance_grad", &c->tolerance_grad) ||
        !real_field(ck, op, "optim", "tolerance_change", &c->tolerance_change))
        return false;
    const cJSON *ls = cJSON_GetObjectItemCaseSensitive(op, "line_search");
    if (ls && !(cJSON_IsString(ls) && (strcmp(ls->valuestring, "none") == 0 ||
                                       strcmp(ls->valuestring, "strong_wolfe") == 0))) {
        nn_fail(ck->ctx, NN_ERR_FORMAT, "%s: metadata 'optim' has a bad 'line_search' "
                "(expected \"none\" or \"strong_wolfe\")", ck->info.path);
        return false;
    }
    c->line_search = ls && strcmp(ls->valuestring, "strong_wolfe") == 0
                         ? NN_LINE_SEARCH_STRONG_WOLFE : NN_LINE_SEARCH_NONE;
    return true;
}

static bool read_optim(nn_checkpoint *ck, const cJSON *op)
{
    struct nn_optim_cfg *c = &ck->info.train.optim;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(op, "kind");
    int k = cJSON_IsString(kind) ? nn_optim_parse(kind->valuestring) : -1;
    if (k < 0) {
        nn_fail(ck->ctx, NN_ERR_FORMAT, "%s: metadata 'optim' names no known optimizer (%s)",
                ck->info.path, cJSON_IsString(kind) ? kind->valuestring : "no 'kind'");
        return false;
    }
    c->kind = (nn_optim_kind)k;
    static const char *const keys[] = {"lr", "momentum", "dampening", "weight_decay",
                                       "beta1", "beta2", "eps", "eps2", "rho", "alpha",
                                       "lr_decay", "initial_accumulator_value",
                                       "beta2_decay", "clip_threshold"};
    float *const fields[] = {&c->lr, &c->momentum, &c->dampening, &c->weight_decay,
                             &c->beta1, &c->beta2, &c->eps, &c->eps2, &c->rho, &c->alpha,
                             &c->lr_decay, &c->initial_accumulator_value, &c->beta2_decay,
                             &c->clip_threshold};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!real_field(ck, op, "optim", keys[i], fields[i]))
            return false;
    c->decoupled = flag(op, "decoupled");
    c->amsgrad = flag(op, "amsgrad");
    c->centered = flag(op, "centered");
    if (!read_lbfgs(ck, op, c))
        return false;
    /* the file holds the values the run used, zeros included: no field
     * may be taken for unset and given its default again */
    c->filled = true;
    double steps;
    if (!int_field(ck, op, "optim", "steps", 0, 9e15, 0, &steps))
        return false;
    ck->info.optim_steps = (int64_t)steps;
    ck->info.lr = num(op, "lr_now", c->lr);
    return true;
}

/* A JSON array of n strings, each parsed by strtoull (base 16) or strtod. */
static bool string_numbers(nn_checkpoint *ck, const cJSON *a, const char *key, int n,
                           uint64_t *u, double *d)
{
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        goto bad;
    for (int i = 0; i < n; i++) {
        const cJSON *it = cJSON_GetArrayItem(a, i);
        char *end = NULL;
        if (!cJSON_IsString(it) || !it->valuestring[0])
            goto bad;
        errno = 0;
        if (u)
            u[i] = strtoull(it->valuestring, &end, 16);
        else
            d[i] = strtod(it->valuestring, &end);
        if (*end || (u && errno))
            goto bad;
    }
    return true;
bad:
    nn_fail(ck->ctx, NN_ERR_FORMAT, "%s: metadata 'train' has a bad '%s'", ck->info.path, key);
    return false;
}

static bool read_train(nn_checkpoint *ck, const cJSON *tr)
{
    struct nn_train_cfg *c = &ck->info.train;
    double v[7];
    if (!int_field(ck, tr, "train", "epochs_done", 0, 1e9, -1, &v[0]) ||
        !int_field(ck, tr, "train", "epochs", 1, 1e9, 10, &v[1]) ||
        !int_field(ck, tr, "train", "batch", 1, 1e12, 64, &v[2]) ||
        !int_field(ck, tr, "train", "patience", 0, 1e9, 0, &v[3]) ||
        !int_field(ck, tr, "train", "best_epoch", 0, 1e9, 0, &v[4]) ||
        !int_field(ck, tr, "train", "bad_epochs", 0, 1e9, 0, &v[5]) ||
        !int_field(ck, tr, "train", "tol_bad", 0, 1e9, 0, &v[6]))
        return false;
    ck->info.epochs_done = (int)v[0];
    c->epochs = (int)v[1];
    c->batch = (int64_t)v[2];
    c->patience = (int)v[3];
    ck->info.best_epoch = (int)v[4];
    ck->info.stopped_early = flag(tr, "stopped_early");
    ck->tstate = (struct nn_trainer_state){.epochs_done = ck->info.epochs_done,
                                           .best_epoch = ck->info.best_epoch,
                                           .best_val = num(tr, "best_val", INFINITY),
                                           .bad_epochs = (int)v[5],
                                           .stopped_early = ck->info.stopped_early,
                                           .tol_best = num(tr, "tol_best", INFINITY),
                                           .tol_bad = (int)v[6],
                                           .converged = flag(tr, "converged")};
    c->drop_last = flag(tr, "drop_last");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(tr, "shuffle");
    c->no_shuffle = sh && !cJSON_IsTrue(sh);
    c->penalize_biases = flag(tr, "penalize_biases");
    c->decay_biases = flag(tr, "decay_biases");
    c->keep_last = flag(tr, "keep_last");
    const cJSON *mon = cJSON_GetObjectItemCaseSensitive(tr, "monitor");
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(tr, "train_metrics");
    bool mon_ok = !mon || (cJSON_IsString(mon) && (!strcmp(mon->valuestring, "val_acc") ||
                                                   !strcmp(mon->valuestring, "val_loss")));
    bool tm_ok = !tm || (cJSON_IsString(tm) && (!strcmp(tm->valuestring, "eval") ||
                                                !strcmp(tm->valuestring, "running")));
    if (!mon_ok || !tm_ok) {
        nn_fail(ck->ctx, NN_ERR_FORMAT, "%s: metadata 'train' has a bad '%s' (expected %s)",
                ck->info.path, mon_ok ? "train_metrics" : "monitor",
                mon_ok ? "running or eval" : "val_loss or val_acc");
        return false;
    }
    c->monitor_acc = mon && strcmp(mon->valuestring, "val_acc") == 0;
    c->train_eval = tm && strcmp(tm->valuestring, "eval") == 0;
    /* absent in files written before per-step schedules: per epoch */
    const cJSON *su = cJSON_GetObjectItemCaseSensitive(tr, "schedule_unit");
    c->schedule_per_step = cJSON_IsString(su) && strcmp(su->valuestring, "step") == 0;
    c->reproducible = flag(tr, "reproducible");
    double chunks = num(tr, "chunks", 0); /* out of range: refused by nn_trainer_new */
    c->chunks = chunks >= 0 && chunks <= 4096 ? (int)chunks : 4097;
    if (!real_field(ck, tr, "train", "l1", &c->l1) || !real_field(ck, tr, "train", "l2", &c->l2) ||
        !real_field(ck, tr, "train", "clip_norm", &c->clip_norm) ||
        !real_field(ck, tr, "train", "min_delta", &c->min_delta) ||
        !real_field(ck, tr, "train", "tol", &c->tol))
        return false;
    const cJSON *sched = cJSON_GetObjectItemCaseSensitive(tr, "schedule");
    if (cJSON_IsString(sched) &&
        nn_schedule_parse(ck->ctx, sched->valuestring, &c->schedule) != NN_OK) {
        char why[300];
        snprintf(why, sizeof why, "%s", nn_ctx_error(ck->ctx));
        nn_fail(ck->ctx, NN_ERR_FORMAT, "%s: metadata 'train' has a bad 'schedule': %s",
                ck->info.path, why);
        return false;
    }
    nn_schedule_defaults(&c->schedule);
    if (!string_numbers(ck, cJSON_GetObjectItemCaseSensitive(tr, "rng"), "rng", 4, ck->rng,
                        NULL) ||
        !string_numbers(ck, cJSON_GetObjectItemCaseSensitive(tr, "schedule_state"),
                        "schedule_state", NN_SCHEDULE_STATE_LEN, NULL, ck->sched_state))
        return false;
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(tr, "history");
    int nh = cJSON_IsArray(h) ? cJSON_GetArraySize(h) : -1;
    if (nh < 0 || nh != ck->info.epochs_done) {
        nn_fail(ck->ctx, NN_ERR_FORMAT, "%s: history of %d epochs for %d done", ck->info.path,
                nh, ck->info.epochs_done);
        return false;
    }
    ck->hist = calloc((size_t)(nh ? nh : 1), sizeof *ck->hist);
    if (!ck->hist) {
        nn_fail(ck->ctx, NN_ERR_NOMEM, "%s: out of memory", ck->info.path);
        return false;
    }
    for (int i = 0; i < nh; i++) {
        const cJSON *e = cJSON_GetArrayItem(h, i);
        ck->hist[i].epoch = (int)num(e, "epoch", i + 1);
        ck->hist[i].lr = num(e, "lr", NAN);
        ck->hist[i].seconds = num(e, "seconds", 0);
        read_metrics(cJSON_GetObjectItemCaseSensitive(e, "train"), &ck->hist[i].train);
        const cJSON *val = cJSON_GetObjectItemCaseSensitive(e, "val");
        if (val)
            read_metrics(val, &ck->hist[i].val);
    }
    ck->info.history = ck->hist;
    return true;
}

static bool read_classes(nn_checkpoint *ck, const char *text)
{
    cJSON *a = cJSON_Parse(text);
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    bool ok = n > 0, mem = true;
    for (int i = 0; ok && i < n; i++)
        ok = cJSON_IsString(cJSON_GetArrayItem(a, i));
    if (ok)
        mem = (ck->names = calloc((size_t)n, sizeof *ck->names)) != NULL;
    for (int i = 0; ok && mem && i < n; i++) {
        const char *v = cJSON_GetArrayItem(a, i)->valuestring;
        if ((mem = (ck->names[i] = malloc(strlen(v) + 1)) != NULL)) {
            strcpy(ck->names[i], v);
            ck->info.nclasses = i + 1;
        }
    }
    cJSON_Delete(a);
    if (!ok)
        nn_fail(ck->ctx, NN_ERR_FORMAT, "%s: metadata 'classes' is not a list of names",
                ck->info.path);
    else if (!mem)
        nn_fail(ck->ctx, NN_ERR_NOMEM, "%s: out of memory", ck->info.path);
    ck->info.class_names = (const char *const *)ck->names;
    return ok && mem;
}

static bool read_norm(nn_checkpoint *ck, const char *name)
{
    int kind = nn_norm_parse(name);
    if (kind < 0) {
        nn_fail(ck->ctx, NN_ERR_FORMAT, "%s: unknown normalization '%s'", ck->info.path, name);
        return false;
    }
    const struct nn_st_view *v = nn_safetensors_find(ck->st, "norm.shift");
    int64_t d[1] = {v ? v->numel : 0};
    const float *sh = nn_safetensors_get_f32(ck->st, "norm.shift", 1, d);
    const float *sc = sh ? nn_safetensors_get_f32(ck->st, "norm.scale", 1, d) : NULL;
    if (!sc)
        return false;
    ck->info.has_norm = true;
    ck->info.norm = (struct nn_norm_stats){(nn_norm_kind)kind, d[0], sh, sc};
    return true;
}

static const char *const loss_names[] = {"auto", "cross_entropy", "bce", "mse"};

nn_checkpoint *nn_checkpoint_open(nn_ctx *ctx, const char *path)
{
    nn_status why;
    return nn_checkpoint_read(ctx, path, &why);
}

nn_checkpoint *nn_checkpoint_read(nn_ctx *ctx, const char *path, nn_status *why)
{
    nn_checkpoint *ck = calloc(1, sizeof *ck);
    *why = NN_ERR_NOMEM;
    if (!ck) {
        nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", path ? path : "checkpoint");
        return NULL;
    }
    ck->ctx = ctx;
    cJSON *op = NULL, *tr = NULL;
    *why = NN_ERR_IO;
    if (!(ck->st = nn_safetensors_open(ctx, path)))
        goto fail;
    *why = NN_ERR_FORMAT;
    struct nn_checkpoint_info *in = &ck->info;
    in->path = nn_safetensors_path(ck->st);
    in->spec = nn_safetensors_meta(ck->st, "spec");
    const char *fmt = nn_safetensors_meta(ck->st, "format");
    if (!fmt || strcmp(fmt, NN_CHECKPOINT_FORMAT) != 0 || !in->spec) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: not a libnn checkpoint (no '%s' format and model "
                "spec in its metadata)", in->path, NN_CHECKPOINT_FORMAT);
        goto fail;
    }
    const char *loss = nn_safetensors_meta(ck->st, "loss");
    for (int i = 1; loss && i < 4; i++)
        if (strcmp(loss, loss_names[i]) == 0)
            in->loss = (nn_loss_kind)i;
    if (loss && in->loss == NN_LOSS_AUTO) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: unknown loss '%s'", in->path, loss);
        goto fail;
    }
    const char *mb = nn_safetensors_meta(ck->st, "max_batch");
    in->max_batch = mb ? strtoll(mb, NULL, 10) : 0;
    if (in->max_batch <= 0 || in->max_batch > (1 << 20))
        in->max_batch = 256;
    const char *np = nn_safetensors_meta(ck->st, "parameters");
    in->parameters = np ? strtoll(np, NULL, 10) : 0;
    const char *norm = nn_safetensors_meta(ck->st, "norm");
    if (norm && !read_norm(ck, norm))
        goto fail;
    const char *classes = nn_safetensors_meta(ck->st, "classes");
    if (classes && !read_classes(ck, classes))
        goto fail;
    const char *ot = nn_safetensors_meta(ck->st, "optim");
    const char *tt = nn_safetensors_meta(ck->st, "train");
    if (ot || tt) {
        op = cJSON_Parse(ot ? ot : "");
        tr = cJSON_Parse(tt ? tt : "");
        if (!cJSON_IsObject(op) || !cJSON_IsObject(tr)) {
            nn_fail(ctx, NN_ERR_FORMAT, "%s: metadata '%s' is not a JSON object", in->path,
                    cJSON_IsObject(op) ? "train" : "optim");
            goto fail;
        }
        if (!read_optim(ck, op) || !read_train(ck, tr))
            goto fail;
        in->has_trainer = true;
    }
    cJSON_Delete(op);
    cJSON_Delete(tr);
    *why = NN_OK;
    return ck;
fail:
    cJSON_Delete(op);
    cJSON_Delete(tr);
    nn_checkpoint_close(ck);
    return NULL;
}

void nn_checkpoint_close(nn_checkpoint *ck)
{
    if (!ck)
        return;
    for (int64_t i = 0; ck->names && i < ck->info.nclasses; i++)
        free(ck->names[i]);
    free(ck->names);
    free(ck->hist);
    nn_safetensors_close(ck->st);
    free(ck);
}

const struct nn_checkpoint_info *nn_checkpoint_info(const nn_checkpoint *ck)
{
    return &ck->info;
}

const char *nn_checkpoint_meta(const nn_checkpoint *ck, const char *key)
{
    if (!key)
        return NULL;
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp(key, reserved[i]) == 0)
            return NULL;
    return nn_safetensors_meta(ck->st, key);
}

const char *nn_checkpoint_loss_name(nn_loss_kind k)
{
    return (int)k >= 0 && k <= NN_LOSS_MSE ? loss_names[k] : NULL;
}
