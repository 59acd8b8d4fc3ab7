/*
 * checkpoint.c - model checkpoints as safetensors files: weights as
 * tensors under their node names, everything needed to rebuild the model
 * and resume training exactly in __metadata__ (JSON via cJSON) and a few
 * extra tensors (normalization, optimizer state, best weights).
 */
#include "io.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#define MAX_T 4096

/* c with lr the base learning rate (the optimizer's own lr is the current
 * epoch's, set by the schedule), so that a trainer made from it starts the
 * same schedule again. */
static char *json_optim(const struct nn_optim_cfg *c, double base_lr, int64_t steps,
                        double lr_now)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddStringToObject(o, "kind", nn_optim_name(c->kind));
    cJSON_AddNumberToObject(o, "lr", base_lr);
    cJSON_AddNumberToObject(o, "momentum", c->momentum);
    cJSON_AddNumberToObject(o, "dampening", c->dampening);
    cJSON_AddNumberToObject(o, "weight_decay", c->weight_decay);
    cJSON_AddBoolToObject(o, "decoupled", c->decoupled);
    cJSON_AddNumberToObject(o, "beta1", c->beta1);
    cJSON_AddNumberToObject(o, "beta2", c->beta2);
    cJSON_AddNumberToObject(o, "eps", c->eps);
    cJSON_AddNumberToObject(o, "eps2", c->eps2);
    cJSON_AddNumberToObject(o, "rho", c->rho);
    cJSON_AddNumberToObject(o, "alpha", c->alpha);
    cJSON_AddNumberToObject(o, "lr_decay", c->lr_decay);
    cJSON_AddNumberToObject(o, "initial_accumulator_value", c->initial_accumulator_value);
    cJSON_AddNumberToObject(o, "beta2_decay", c->beta2_decay);
    cJSON_AddNumberToObject(o, "clip_threshold", c->clip_threshold);
    cJSON_AddBoolToObject(o, "amsgrad", c->amsgrad);
    cJSON_AddBoolToObject(o, "centered", c->centered);
    if (c->kind == NN_OPTIM_LBFGS) {
        cJSON_AddNumberToObject(o, "history_size", c->history_size);
        cJSON_AddNumberToObject(o, "max_iter", c->max_iter);
        cJSON_AddNumberToObject(o, "max_eval", c->max_eval);
        cJSON_AddNumberToObject(o, "tolerance_grad", c->tolerance_grad);
        cJSON_AddNumberToObject(o, "tolerance_change", c->tolerance_change);
        cJSON_AddStringToObject(o, "line_search", c->line_search == NN_LINE_SEARCH_STRONG_WOLFE
                                                      ? "strong_wolfe" : "none");
    }
    cJSON_AddNumberToObject(o, "steps", (double)steps);
    cJSON_AddNumberToObject(o, "lr_now", lr_now);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* A double as JSON text that reads back to the same bits (%.17g): cJSON
 * prints 15 digits whenever they read back within an epsilon, which
 * moved a resumed run's best validation loss and history by an ulp. */
static void add_exact(cJSON *o, const char *key, double v)
{
    char t[40];
    if (!isfinite(v)) { /* not JSON: null, as cJSON writes it */
        cJSON_AddNullToObject(o, key);
        return;
    }
    snprintf(t, sizeof t, "%.17g", v);
    cJSON_AddRawToObject(o, key, t);
}

static cJSON *json_metrics(const struct nn_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    /* NaN is not JSON: absent fields mean "not applicable". */
    if (isfinite(m->loss))
        add_exact(o, "loss", m->loss);
    if (isfinite(m->penalty) && m->penalty != 0)
        add_exact(o, "penalty", m->penalty);
    if (isfinite(m->accuracy))
        add_exact(o, "accuracy", m->accuracy);
    if (isfinite(m->mae))
        add_exact(o, "mae", m->mae);
    if (isfinite(m->mse))
        add_exact(o, "mse", m->mse);
    cJSON_AddNumberToObject(o, "n", (double)m->n);
    return o;
}

static cJSON *json_epoch(const struct nn_epoch_stats *s)
{
    cJSON *e = cJSON_CreateObject();
    if (!e)
        return NULL;
    cJSON_AddNumberToObject(e, "epoch", s->epoch);
    add_exact(e, "lr", s->lr);
    add_exact(e, "seconds", s->seconds);
    cJSON_AddItemToObject(e, "train", json_metrics(&s->train));
    if (s->val.n > 0)
        cJSON_AddItemToObject(e, "val", json_metrics(&s->val));
    return e;
}

/* Room for more bytes in the cache's text. */
static bool reserve(struct nn_json_cache *c, size_t more)
{
    if (c->len + more <= c->cap)
        return true;
    size_t cap = (c->len + more) * 2;
    char *p = realloc(c->text, cap);
    if (!p)
        return false;
    c->text = p, c->cap = cap;
    return true;
}

/* The history as a JSON array (the trainer's text, valid until the next
 * call). The text of the epochs already written is kept in the trainer, so
 * that a checkpoint after every epoch formats the new epoch only:
 * formatting the whole history each time made a run of 3000 small epochs
 * spend 20 of its 21 seconds in checkpoints. */
static const char *history_json(nn_trainer *t)
{
    struct nn_json_cache *c = nn_trainer_json_cache(t);
    int n;
    const struct nn_epoch_stats *hist = nn_trainer_history(t, &n);
    if (c->n > n)
        c->n = 0;
    if (c->n == 0) {
        if (!reserve(c, 1))
            return NULL;
        c->text[0] = '[';
        c->len = 1;
    }
    for (int i = c->n; i < n; i++) {
        cJSON *e = json_epoch(&hist[i]);
        char *txt = e ? cJSON_PrintUnformatted(e) : NULL;
        cJSON_Delete(e);
        size_t k = txt ? strlen(txt) : 0;
        if (!txt || !reserve(c, k + 1)) {
            cJSON_free(txt);
            return NULL;
        }
        if (i > 0)
            c->text[c->len++] = ',';
        memcpy(c->text + c->len, txt, k);
        c->len += k;
        c->n = i + 1;
        cJSON_free(txt);
    }
    if (!reserve(c, 2))
        return NULL;
    c->text[c->len] = ']'; /* past len: the next epoch writes over it */
    c->text[c->len + 1] = '\0';
    return c->text;
}

static char *json_train(const nn_trainer *t, const uint64_t rng[4])
{
    struct nn_trainer_state s;
    nn_trainer_get_state(t, &s);
    const struct nn_train_cfg *c = nn_trainer_config(t);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON_AddNumberToObject(o, "epochs_done", s.epochs_done);
    cJSON_AddNumberToObject(o, "best_epoch", s.best_epoch);
    if (isfinite(s.best_val))
        add_exact(o, "best_val", s.best_val);
    cJSON_AddNumberToObject(o, "bad_epochs", s.bad_epochs);
    cJSON_AddBoolToObject(o, "stopped_early", s.stopped_early);
    if (isfinite(s.tol_best))
        add_exact(o, "tol_best", s.tol_best);
    cJSON_AddNumberToObject(o, "tol_bad", s.tol_bad);
    cJSON_AddBoolToObject(o, "converged", s.converged);
    cJSON *r = cJSON_AddArrayToObject(o, "rng");
    for (int i = 0; r && i < 4; i++) {
        char hex[17];
        snprintf(hex, sizeof hex, "%016" PRIx64, rng[i]);
        cJSON_AddItemToArray(r, cJSON_CreateString(hex));
    }
    cJSON_AddNumberToObject(o, "epochs", c->epochs);
    cJSON_AddNumberToObject(o, "batch", (double)c->batch);
    cJSON_AddBoolToObject(o, "drop_last", c->drop_last);
    cJSON_AddBoolToObject(o, "shuffle", !c->no_shuffle);
    cJSON_AddNumberToObject(o, "l1", c->l1);
    cJSON_AddNumberToObject(o, "l2", c->l2);
    cJSON_AddNumberToObject(o, "clip_norm", c->clip_norm);
    cJSON_AddNumberToObject(o, "patience", c->patience);
    cJSON_AddNumberToObject(o, "min_delta", c->min_delta);
    cJSON_AddBoolToObject(o, "keep_last", c->keep_last);
    cJSON_AddStringToObject(o, "monitor", c->monitor_acc ? "val_acc" : "val_loss");
    cJSON_AddNumberToObject(o, "tol", c->tol);
    cJSON_AddStringToObject(o, "train_metrics", c->train_eval ? "eval" : "running");
    cJSON_AddStringToObject(o, "schedule_unit", c->schedule_per_step ? "step" : "epoch");
    cJSON_AddBoolToObject(o, "reproducible", c->reproducible);
    if (c->reproducible)
        cJSON_AddNumberToObject(o, "chunks", c->chunks);
    cJSON_AddBoolToObject(o, "penalize_biases", c->penalize_biases);
    cJSON_AddBoolToObject(o, "decay_biases", c->decay_biases);
    nn_schedule *sc = nn_trainer_schedule((nn_trainer *)t);
    char sched[256];
    nn_schedule_format(nn_schedule_config(sc), sched, sizeof sched);
    cJSON_AddStringToObject(o, "schedule", sched);
    double ss[NN_SCHEDULE_STATE_LEN];
    nn_schedule_get_state(sc, ss);
    cJSON *sa = cJSON_AddArrayToObject(o, "schedule_state");
    for (int i = 0; sa && i < NN_SCHEDULE_STATE_LEN; i++) {
        char d[40]; /* text keeps infinities and every bit */
        snprintf(d, sizeof d, "%.17g", ss[i]);
        cJSON_AddItemToArray(sa, cJSON_CreateString(d));
    }
    const char *h = history_json((nn_trainer *)t);
    char *str = h && cJSON_AddRawToObject(o, "history", h) ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return str;
}

nn_status nn_checkpoint_save(const char *path, nn_model *m, const nn_trainer *t,
                             const char *const *keys, const char *const *values,
                             int nextra)
{
    nn_ctx *ctx = nn_model_ctx(m);
    nn_graph *g = nn_model_graph(m);
    if (g->nparams + 4 > MAX_T || nextra < 0 || nextra > 64)
        return nn_fail(ctx, NN_ERR_INVALID, "checkpoint %s: too many tensors or keys", path);
    struct nn_st_tensor *ts = calloc((size_t)g->nparams + 4, sizeof *ts);
    int64_t *counts = calloc((size_t)g->nparams + 1, sizeof *counts);
    const char *mk[80], *mv[80];
    char *owned[8] = {0};
    int nt = 0, nm = 0, no = 0;
    if (!ts || !counts) {
        free(ts);
        free(counts);
        return nn_fail(ctx, NN_ERR_NOMEM, "checkpoint: out of memory");
    }
    for (int i = 0; i < g->nparams; i++) {
        nn_node *p = g->params[i];
        if (p->int_count) { /* num_batches_tracked: an int64 scalar, as in torch */
            counts[i] = (int64_t)p->val[0];
            ts[nt++] = (struct nn_st_tensor){.name = p->name, .dtype = "I64", .ndim = 0,
                                             .data = &counts[i]};
            continue;
        }
        ts[nt] = (struct nn_st_tensor){.name = p->name, .dtype = "F32", .ndim = p->ndim,
                                       .data = p->val};
        memcpy(ts[nt].dims, p->dim, sizeof p->dim);
        nt++;
    }
    char maxb[32];
    snprintf(maxb, sizeof maxb, "%lld", (long long)nn_model_max_batch(m));
    mk[nm] = "format", mv[nm++] = NN_CHECKPOINT_FORMAT;
    mk[nm] = "spec", mv[nm++] = nn_model_spec(m);
    mk[nm] = "loss", mv[nm++] = nn_checkpoint_loss_name(nn_model_loss_kind(m));
    mk[nm] = "max_batch", mv[nm++] = maxb;
    char params[32];
    int64_t trainable = 0; /* as torch counts parameters: buffers are not */
    for (int i = 0; i < g->nparams; i++)
        trainable += g->params[i]->trainable ? g->params[i]->sample_numel : 0;
    snprintf(params, sizeof params, "%lld", (long long)trainable);
    mk[nm] = "parameters", mv[nm++] = params;
    struct nn_norm_stats ns;
    if (nn_model_norm(m, &ns)) {
        mk[nm] = "norm", mv[nm++] = nn_norm_name(ns.kind);
        ts[nt++] = (struct nn_st_tensor){"norm.shift", "F32", 1, {ns.nfeatures}, ns.shift};
        ts[nt++] = (struct nn_st_tensor){"norm.scale", "F32", 1, {ns.nfeatures}, ns.scale};
    }
    if (nn_model_class_name(m, 0)) {
        cJSON *a = cJSON_CreateArray();
        for (int64_t i = 0; a && nn_model_class_name(m, i); i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(nn_model_class_name(m, i)));
        owned[no] = a ? cJSON_PrintUnformatted(a) : NULL;
        cJSON_Delete(a);
        mk[nm] = "classes", mv[nm++] = owned[no++];
    }
    if (t) {
        nn_optim *o = nn_trainer_optim((nn_trainer *)t);
        owned[no] = json_optim(nn_optim_config(o),
                               nn_schedule_base_lr(nn_trainer_schedule((nn_trainer *)t)),
                               nn_optim_steps(o), nn_optim_lr(o));
        mk[nm] = "optim", mv[nm++] = owned[no++];
        uint64_t rng[4];
        nn_ctx_rng_get(ctx, rng);
        owned[no] = json_train(t, rng);
        mk[nm] = "train", mv[nm++] = owned[no++];
        ts[nt++] = (struct nn_st_tensor){"optim.state", "F32", 1, {nn_optim_state_size(o)},
                                         nn_optim_state(o)};
        if (nn_trainer_best_weights(t))
            ts[nt++] = (struct nn_st_tensor){"train.best", "F32", 1, {g->param_count},
                                             nn_trainer_best_weights(t)};
    }
    for (int i = 0; i < nextra; i++)
        mk[nm] = keys[i], mv[nm++] = values[i];
    nn_status st = NN_OK;
    for (int i = 0; i < nm; i++)
        if (!mv[i])
            st = nn_fail(ctx, NN_ERR_NOMEM, "checkpoint: out of memory");
    if (st == NN_OK)
        st = nn_safetensors_save(ctx, path, ts, nt, mk, mv, nm);
    for (int i = 0; i < no; i++)
        cJSON_free(owned[i]);
    free(ts);
    free(counts);
    return st;
}

/* ---- loading ------------------------------------------------------------ */

/* A count buffer (num_batches_tracked): an int64 scalar, as torch saves
 * it (shape () or (1)), or the float (1) of files written before counts
 * were stored as integers. */
static nn_status load_count(nn_ctx *ctx, const nn_safetensors *st, nn_node *p)
{
    const struct nn_st_view *v = nn_safetensors_find(st, p->name);
    if (v && strcmp(v->dtype, "F32") == 0) {
        const float *f = nn_safetensors_get_f32(st, p->name, p->ndim, p->dim);
        if (!f)
            return NN_ERR_FORMAT;
        p->val[0] = f[0];
        return NN_OK;
    }
    if (!v || strcmp(v->dtype, "I64") != 0 || v->numel != 1 || v->ndim > 1)
        return nn_fail(ctx, NN_ERR_FORMAT, "%s: tensor '%s' must be an int64 scalar (dtype I64, "
                       "shape ()), as torch's num_batches_tracked; %s", nn_safetensors_path(st),
                       p->name, !v ? "there is none" : v->numel != 1 || v->ndim > 1
                                                          ? "it is not a single value"
                                                          : "it has another dtype");
    int64_t c = *(const int64_t *)v->data;
    if (c < 0 || c > ((int64_t)1 << 53))
        return nn_fail(ctx, NN_ERR_FORMAT, "%s: tensor '%s' holds %lld, expected a count from "
                       "0 to 2^53", nn_safetensors_path(st), p->name, (long long)c);
    p->val[0] = (float)c;
    return NN_OK;
}

static nn_status load_weights(nn_model *m, const nn_safetensors *st)
{
    nn_graph *g = nn_model_graph(m);
    for (int i = 0; i < g->nparams; i++) {
        nn_node *p = g->params[i];
        if (p->int_count) {
            if (load_count(nn_model_ctx(m), st, p) != NN_OK)
                return NN_ERR_FORMAT;
            continue;
        }
        const float *v = nn_safetensors_get_f32(st, p->name, p->ndim, p->dim);
        if (!v)
            return NN_ERR_FORMAT;
        memcpy(p->val, v, (size_t)p->sample_numel * sizeof(float));
    }
    return NN_OK;
}

nn_model *nn_model_load(nn_ctx *ctx, const char *path, const struct nn_model_cfg *cfg)
{
    nn_checkpoint *ck = nn_checkpoint_open(ctx, path);
    if (!ck)
        return NULL;
    const struct nn_checkpoint_info *in = &ck->info;
    struct nn_model_cfg c = cfg ? *cfg : (struct nn_model_cfg){0};
    c.loss = in->loss;
    if (c.max_batch <= 0)
        c.max_batch = in->max_batch;
    uint64_t rng[4];
    nn_ctx_rng_get(ctx, rng); /* building must not disturb the caller's stream */
    nn_model *m = nn_model_new(ctx, in->spec, &c);
    nn_ctx_rng_set(ctx, rng);
    if (!m) {
        char why[400];
        snprintf(why, sizeof why, "%s", nn_ctx_error(ctx));
        nn_fail(ctx, NN_ERR_FORMAT, "%s: its model spec cannot be built: %s", in->path, why);
        goto done;
    }
    if (load_weights(m, ck->st) != NN_OK ||
        (in->has_norm && nn_model_set_norm(m, &in->norm) != NN_OK) ||
        (in->nclasses > 0 && nn_model_set_class_names(m, in->class_names, in->nclasses) != NN_OK)) {
        nn_model_free(m);
        m = NULL;
    }
done:
    nn_checkpoint_close(ck);
    return m;
}

/* A warning for every setting of the trainer that is not the checkpoint's:
 * the run goes on, but not as the saved one would have (a learning rate
 * lowered on purpose, or a configuration rebuilt wrongly by a program). */
static void warn_differences(nn_ctx *ctx, const char *path, nn_trainer *t,
                             const struct nn_train_cfg *was)
{
    const struct nn_train_cfg *now = nn_trainer_config(t);
    nn_schedule *sched = nn_trainer_schedule(t);
    /* the optimizer's own configuration: its defaults filled in */
    const struct nn_optim_cfg *a = nn_optim_config(nn_trainer_optim(t)), *b = &was->optim;
    const struct {
        const char *name;
        double now, was;
    } v[] = {
        {"batch", (double)now->batch, (double)was->batch},
        {"drop_last", now->drop_last, was->drop_last},
        {"no_shuffle", now->no_shuffle, was->no_shuffle},
        {"l1", now->l1, was->l1},
        {"l2", now->l2, was->l2},
        {"penalize_biases", now->penalize_biases, was->penalize_biases},
        {"decay_biases", now->decay_biases, was->decay_biases},
        {"clip_norm", now->clip_norm, was->clip_norm},
        {"patience", now->patience, was->patience},
        {"min_delta", now->min_delta, was->min_delta},
        {"keep_last", now->keep_last, was->keep_last},
        {"monitor_acc", now->monitor_acc, was->monitor_acc},
        {"tol", now->tol, was->tol},
        {"train_eval", now->train_eval, was->train_eval},
        {"schedule_per_step", now->schedule_per_step, was->schedule_per_step},
        {"reproducible", now->reproducible, was->reproducible},
        {"optim.lr", a->lr, b->lr},
        {"optim.momentum", a->momentum, b->momentum},
        {"optim.dampening", a->dampening, b->dampening},
        {"optim.weight_decay", a->weight_decay, b->weight_decay},
        {"optim.decoupled", a->decoupled, b->decoupled},
        {"optim.beta1", a->beta1, b->beta1},
        {"optim.beta2", a->beta2, b->beta2},
        {"optim.eps", a->eps, b->eps},
        {"optim.eps2", a->eps2, b->eps2},
        {"optim.rho", a->rho, b->rho},
        {"optim.alpha", a->alpha, b->alpha},
        {"optim.lr_decay", a->lr_decay, b->lr_decay},
        {"optim.initial_accumulator_value", a->initial_accumulator_value,
         b->initial_accumulator_value},
        {"optim.beta2_decay", a->beta2_decay, b->beta2_decay},
        {"optim.clip_threshold", a->clip_threshold, b->clip_threshold},
        {"optim.amsgrad", a->amsgrad, b->amsgrad},
        {"optim.centered", a->centered, b->centered},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (v[i].now != v[i].was && !(isnan(v[i].now) && isnan(v[i].was)))
            nn_warn(ctx, "resume: %s is %g here but %g in %s: training goes on with %g, not "
                    "as the saved run would have", v[i].name, v[i].now, v[i].was, path,
                    v[i].now);
    char s_now[256], s_was[256];
    nn_schedule_format(nn_schedule_config(sched), s_now, sizeof s_now);
    nn_schedule_format(&was->schedule, s_was, sizeof s_was);
    if (strcmp(s_now, s_was) != 0)
        nn_warn(ctx, "resume: the schedule is '%s' here but '%s' in %s: training goes on with "
                "'%s'", s_now, s_was, path, s_now);
}

nn_status nn_trainer_resume(nn_trainer *t, const char *path)
{
    nn_model *m = nn_trainer_model(t);
    nn_ctx *ctx = nn_model_ctx(m);
    nn_graph *g = nn_model_graph(m);
    nn_status why;
    nn_checkpoint *ck = nn_checkpoint_read(ctx, path, &why);
    if (!ck)
        return why;
    const struct nn_checkpoint_info *in = &ck->info;
    nn_status rc = NN_ERR_FORMAT;
    if (strcmp(in->spec, nn_model_spec(m)) != 0) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: model spec '%s' differs from the one being trained "
                "('%s')", in->path, in->spec, nn_model_spec(m));
        goto done;
    }
    if (!in->has_trainer) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: has no training state to resume from (it holds "
                "weights only)", in->path);
        goto done;
    }
    nn_optim *o = nn_trainer_optim(t);
    if (in->train.optim.kind != nn_optim_config(o)->kind) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: was trained with optimizer '%s', not '%s'", in->path,
                nn_optim_name(in->train.optim.kind), nn_optim_name(nn_optim_config(o)->kind));
        goto done;
    }
    warn_differences(ctx, in->path, t, &in->train);
    int64_t sd[1] = {nn_optim_state_size(o)};
    const float *state = nn_safetensors_get_f32(ck->st, "optim.state", 1, sd);
    if (!state || load_weights(m, ck->st) != NN_OK)
        goto done;
    const float *best = NULL;
    if (in->best_epoch > 0) {
        int64_t bd[1] = {g->param_count};
        if (!(best = nn_safetensors_get_f32(ck->st, "train.best", 1, bd)))
            goto done;
    }
    if (nn_schedule_set_state(nn_trainer_schedule(t), ck->sched_state) != NN_OK)
        goto done;
    if ((rc = nn_trainer_set_state(t, &ck->tstate, ck->hist, in->epochs_done, best)) != NN_OK)
        goto done;
    memcpy(nn_optim_state(o), state, (size_t)sd[0] * sizeof(float));
    nn_optim_set_steps(o, in->optim_steps);
    nn_optim_set_lr(o, (float)in->lr);
    nn_ctx_rng_set(ctx, ck->rng);
    rc = NN_OK;
done:
    nn_checkpoint_close(ck);
    return rc;
}
