/*
 * record.c - what nn train records in a checkpoint about its run beyond
 * the library's own metadata (the data source, label column, validation
 * split, seed, initializer, dropout rate, image size), and reading it
 * back: nn train --resume restores the whole run from it and the library's
 * nn_checkpoint_info (a flag given on resume must agree with both), and
 * nn eval and nn predict take their default data from it.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- writing ------------------------------------------------------------ */

/* The shortest decimal form that reads back as v (as a float if f32). */
static void fmt_num(char *buf, size_t n, double v, bool f32)
{
    for (int p = 6; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if (f32 ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v)
            return;
    }
}

char *cli_resolve_source(const char *spec)
{
    if (!spec)
        return NULL;
    if (strcmp(spec, "fashion-mnist") == 0)
        return strdup(spec);
    if (strncmp(spec, "idx:", 4) == 0) {
        /* idx:IMAGES[,LABELS], each resolved */
        const char *comma = strchr(spec + 4, ',');
        size_t ilen = comma ? (size_t)(comma - spec - 4) : strlen(spec + 4);
        char *img = strndup(spec + 4, ilen);
        char *ri = img ? realpath(img, NULL) : NULL, *rl = comma ? realpath(comma + 1, NULL) : NULL;
        const char *a = ri ? ri : img, *b = comma ? (rl ? rl : comma + 1) : NULL;
        size_t len = 8 + (a ? strlen(a) : 0) + (b ? strlen(b) : 0);
        char *out = a ? malloc(len) : NULL;
        if (out)
            snprintf(out, len, "idx:%s%s%s", a, b ? "," : "", b ? b : "");
        free(img);
        free(ri);
        free(rl);
        return out;
    }
    char *r = realpath(spec, NULL);
    return r ? r : strdup(spec); /* a missing file: its loader names it */
}

/* An output path made absolute against the working directory (the file
 * need not exist yet), so a resumed run writes to the same file from
 * anywhere. Malloc'ed; NULL when out of memory. */
static char *absolute_path(const char *path)
{
    char cwd[4096];
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
        return strdup(path);
    size_t n = strlen(cwd) + strlen(path) + 2;
    char *out = malloc(n);
    if (out)
        snprintf(out, n, "%s/%s", cwd, path);
    return out;
}

static bool is_folder(const char *spec)
{
    struct stat sb;
    return stat(spec, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static bool is_csv_source(const char *spec)
{
    return strcmp(spec, "fashion-mnist") != 0 && strncmp(spec, "idx:", 4) != 0 &&
           !is_folder(spec);
}

static void add(struct cli_record *r, const char *key, const char *val)
{
    if (val && r->n < CLI_RECORD_MAX) {
        r->keys[r->n] = key;
        r->vals[r->n++] = val;
    }
}

/* Text kept by the record until cli_record_free. */
static const char *keep(struct cli_record *r, char *owned)
{
    if (!owned || r->nowned == CLI_RECORD_MAX) {
        free(owned);
        r->failed = true;
        return NULL;
    }
    return r->owned[r->nowned++] = owned;
}

static const char *keep_fmt(struct cli_record *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static const char *keep_fmt(struct cli_record *r, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return keep(r, strdup(buf));
}

/* A CSV's columns as read, as a JSON array of their names (null for
 * each without a header), so that eval and predict find them by name in
 * another file (or check its column count); malloc'ed, NULL if not a CSV
 * or out of memory. */
static char *columns_json(const nn_dataset *ds)
{
    int64_t n = nn_dataset_columns(ds);
    cJSON *a = n > 0 ? cJSON_CreateArray() : NULL;
    for (int64_t c = 0; a && c < n; c++) {
        const char *name = nn_dataset_column(ds, c, NULL);
        cJSON *item = name ? cJSON_CreateString(name) : cJSON_CreateNull();
        if (!item || !cJSON_AddItemToArray(a, item)) {
            cJSON_Delete(item);
            cJSON_Delete(a);
            return NULL;
        }
    }
    char *text = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    char *out = text ? strdup(text) : NULL; /* freed with free() */
    cJSON_free(text);
    return out;
}

bool cli_record_build(struct cli_record *r, const struct opts *o, bool has_dropout,
                      const nn_dataset *train, int threads)
{
    memset(r, 0, sizeof *r);
    const char *data = o->data ? o->data : "fashion-mnist";
    add(r, "data", keep(r, cli_resolve_source(data)));
    if (is_csv_source(data)) {
        add(r, "label", o->label ? o->label : "-1");
        add(r, "task", o->task ? o->task : "auto");
        add(r, "header", o->header ? o->header : "auto");
        if (o->ignore)
            add(r, "ignore", o->ignore);
        if (nn_dataset_columns(train) > 0)
            add(r, "columns", keep(r, columns_json(train)));
    }
    char num[40];
    if (o->val_split > 0) {
        fmt_num(num, sizeof num, o->val_split, false);
        add(r, "val_split", keep(r, strdup(num)));
    }
    if (o->val)
        add(r, "val_data", keep(r, cli_resolve_source(o->val)));
    if (o->test)
        add(r, "test_data", keep(r, cli_resolve_source(o->test)));
    add(r, "seed", keep_fmt(r, "%" PRIu64, o->seed));
    if (o->split_seed >= 0)
        add(r, "split_seed", keep_fmt(r, "%lld", (long long)o->split_seed));
    if (o->init)
        add(r, "init", o->init);
    if (o->augment)
        add(r, "augment", o->augment);
    if (has_dropout) {
        fmt_num(num, sizeof num, (float)o->dropout, true);
        add(r, "dropout", keep(r, strdup(num)));
    }
    /* images: the size eval and predict must bring their inputs to */
    int64_t shape[NN_MAX_DIMS];
    if (nn_dataset_shape(train, shape) == 3 && is_folder(data))
        add(r, "image", keep_fmt(r, "%lldx%lldx%lld%s", (long long)shape[2],
                                 (long long)shape[1], (long long)shape[0],
                                 o->resize ? " resize" : ""));
    add(r, "threads", keep_fmt(r, "%d", threads));
    if (o->stats)
        add(r, "stats", keep(r, absolute_path(o->stats)));
    char created[32];
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    add(r, "created", keep(r, strdup(created)));
    return !r->failed && r->n < CLI_RECORD_MAX;
}

void cli_record_free(struct cli_record *r)
{
    for (int i = 0; i < r->nowned; i++)
        free(r->owned[i]);
    r->nowned = r->n = 0;
}

/* ---- reading ------------------------------------------------------------ */

static void free_columns(struct cli_recorded *r)
{
    for (int64_t c = 0; r->columns && c < r->ncolumns; c++)
        free(r->columns[c]);
    free(r->columns);
    r->columns = NULL;
    r->ncolumns = 0;
}

/* The "columns" record (a JSON array of names or nulls) into r; true when
 * there is none. */
static bool read_columns(const char *text, struct cli_recorded *r)
{
    if (!text)
        return true;
    cJSON *a = cJSON_Parse(text);
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    bool named = false, ok = n > 0;
    for (int c = 0; ok && c < n; c++) {
        cJSON *it = cJSON_GetArrayItem(a, c);
        ok = cJSON_IsString(it) || cJSON_IsNull(it);
        named |= cJSON_IsString(it);
    }
    if (ok && named && !(r->columns = calloc((size_t)n, sizeof *r->columns)))
        ok = false;
    for (int c = 0; ok && named && c < n; c++) {
        cJSON *it = cJSON_GetArrayItem(a, c);
        ok = (r->columns[c] = strdup(cJSON_IsString(it) ? it->valuestring : "")) != NULL;
        r->ncolumns = c + 1; /* what free_columns frees */
    }
    r->ncolumns = ok ? n : r->ncolumns;
    cJSON_Delete(a);
    if (!ok)
        free_columns(r);
    return ok;
}

bool cli_recorded_open(nn_ctx *ctx, const char *cmd, const char *path, struct cli_recorded *r)
{
    memset(r, 0, sizeof *r);
    if (!(r->ck = nn_checkpoint_open(ctx, path))) {
        cli_fail(cmd, "%s", nn_ctx_error(ctx));
        return false;
    }
    r->info = nn_checkpoint_info(r->ck);
    r->data = nn_checkpoint_meta(r->ck, "data");
    r->label = nn_checkpoint_meta(r->ck, "label");
    r->task = nn_checkpoint_meta(r->ck, "task");
    r->header = nn_checkpoint_meta(r->ck, "header");
    r->ignore = nn_checkpoint_meta(r->ck, "ignore");
    if (!read_columns(nn_checkpoint_meta(r->ck, "columns"), r)) {
        cli_fail(cmd, "%s: its recorded CSV columns are not a JSON array of names, or out "
                 "of memory", path);
        cli_recorded_close(r);
        return false;
    }
    r->stats = nn_checkpoint_meta(r->ck, "stats");
    r->val = nn_checkpoint_meta(r->ck, "val_data");
    r->test = nn_checkpoint_meta(r->ck, "test_data");
    r->init = nn_checkpoint_meta(r->ck, "init");
    r->seed = nn_checkpoint_meta(r->ck, "seed");
    r->split_seed = nn_checkpoint_meta(r->ck, "split_seed");
    r->augment = nn_checkpoint_meta(r->ck, "augment");
    const char *vs = nn_checkpoint_meta(r->ck, "val_split");
    r->val_split = vs ? strtod(vs, NULL) : 0;
    const char *dr = nn_checkpoint_meta(r->ck, "dropout");
    r->has_dropout = dr != NULL;
    r->dropout = dr ? strtof(dr, NULL) : 0.5f;
    const char *img = nn_checkpoint_meta(r->ck, "image");
    int w, h, c;
    if (img && sscanf(img, "%dx%dx%d", &w, &h, &c) == 3) {
        snprintf(r->image_size, sizeof r->image_size, "%dx%dx%d", w, h, c);
        r->resize = strstr(img, "resize") != NULL;
    }
    return true;
}

void cli_recorded_close(struct cli_recorded *r)
{
    nn_checkpoint_close(r->ck);
    r->ck = NULL;
    free_columns(r);
}

void cli_recorded_defaults(struct opts *o, const struct cli_recorded *r)
{
    if (!o->data)
        o->data = r->data;
    if (o->data && is_csv_source(o->data)) { /* this file or another of its kind */
        if (!o->label)
            o->label = r->label;
        if (!o->task)
            o->task = r->task;
        if (!o->header)
            o->header = r->header;
        /* the training file's columns, found by name (or counted) in this
         * one, unless another label column is given */
        if (r->ncolumns > 0 && r->label && strcmp(o->label, r->label) == 0) {
            o->layout = (const char *const *)r->columns;
            o->nlayout = r->ncolumns;
            o->ignore = r->ignore;
        }
    }
    if (!o->image_size && r->image_size[0]) {
        o->image_size = r->image_size;
        o->resize |= r->resize;
    }
}

/* ---- resume ------------------------------------------------------------- */

enum cmp_type { C_STR, C_F32, C_F64, C_BOOL };

/* One setting: the flag's value if given, and the checkpoint's. */
struct cmp {
    const char *flag;
    enum cmp_type type;
    const char *gs, *ss; /* C_STR; ss NULL: not recorded */
    double gn, sn;       /* C_F32, C_F64 */
    bool gb, sb;         /* C_BOOL */
};

#define STR(f, g, s) {f, C_STR, g, s, 0, 0, false, false}
#define F32(f, g, s) {f, C_F32, NULL, NULL, g, s, false, false}
#define F64(f, g, s) {f, C_F64, NULL, NULL, g, s, false, false}
#define BOOL(f, g, s) {f, C_BOOL, NULL, NULL, 0, 0, g, s}

/* The flags a resumed run may change: its length and where output goes. */
static const char *const may_change[] = {"epochs", "out", "log", "plot", "stats", "threads",
                                         "quiet", "config", "resume", "save-every"};

static bool differs(const struct cmp *c)
{
    switch (c->type) {
    case C_STR:
        if (!c->gs || !c->ss)
            return c->gs != c->ss;
        if (strcmp(c->flag, "image-size") == 0) { /* WxH matches WxHxC */
            int g[3] = {0}, v[3] = {0};
            int k = sscanf(c->gs, "%dx%dx%d", &g[0], &g[1], &g[2]);
            sscanf(c->ss, "%dx%dx%d", &v[0], &v[1], &v[2]);
            return g[0] != v[0] || g[1] != v[1] || (k == 3 && g[2] != v[2]);
        }
        return strcmp(c->gs, c->ss) != 0;
    case C_F32:
        return (float)c->gn != (float)c->sn;
    case C_F64:
        return c->gn != c->sn;
    case C_BOOL:
        return c->gb != c->sb;
    }
    return true;
}

static void show(const struct cmp *c, bool given, char *buf, size_t n)
{
    switch (c->type) {
    case C_STR: {
        const char *s = given ? c->gs : c->ss;
        if (!s)
            snprintf(buf, n, "(none)");
        else
            snprintf(buf, n, strchr(s, ' ') ? "'%s'" : "%s", s);
        break;
    }
    case C_F32:
    case C_F64:
        fmt_num(buf, n, given ? c->gn : c->sn, c->type == C_F32);
        break;
    case C_BOOL:
        snprintf(buf, n, "%s", (given ? c->gb : c->sb) ? "true" : "false");
        break;
    }
}

/* The given schedule in the checkpoint's form (defaults filled, a
 * cosine's unset t_max taken from the checkpoint); NULL after a message. */
static const char *schedule_text(nn_ctx *ctx, const char *given,
                                 const struct nn_schedule_cfg *saved, char *buf, size_t n)
{
    struct nn_schedule_cfg c;
    if (nn_schedule_parse(ctx, given, &c) != NN_OK) {
        cli_fail("train", "--schedule: %s (see: nn help schedule)", nn_ctx_error(ctx));
        return NULL;
    }
    nn_schedule_defaults(&c);
    if (c.kind == NN_SCHED_COSINE && saved->kind == NN_SCHED_COSINE && c.t_max == 0 &&
        c.warmup_epochs == saved->warmup_epochs)
        c.t_max = saved->t_max;
    nn_schedule_format(&c, buf, n);
    return buf;
}

static const char *loss_name(nn_loss_kind k)
{
    return k == NN_LOSS_SOFTMAX_CE ? "cross_entropy" : k == NN_LOSS_SIGMOID_BCE ? "bce" : "mse";
}

/* Every flag given agrees with the checkpoint at path: it is among c (and
 * holds the recorded value) or may change on resume. */
static bool agrees(const struct opts *o, struct cmp *c, size_t nc, const char *path)
{
    for (size_t i = 0; i < nc; i++) {
        if (!cli_given(o, c[i].flag) || !differs(&c[i]))
            continue;
        char g[300], s[300];
        if (strcmp(c[i].flag, "schedule") == 0)
            c[i].gs = o->schedule; /* as given; compared in the checkpoint's form */
        show(&c[i], true, g, sizeof g);
        show(&c[i], false, s, sizeof s);
        cli_fail("train", "--%s %s contradicts the checkpoint %s, whose run has %s %s (a "
                 "resumed run keeps its settings: only --epochs, --out, --log, --plot, --stats, "
                 "--threads, --save-every and --quiet may be given)", c[i].flag, g, path,
                 c[i].flag, s);
        return false;
    }
    /* a flag none of c covers: the checkpoint cannot say whether it agrees */
    const char *given[CLI_MAX_OPTS];
    int ng = cli_given_names(o, given, CLI_MAX_OPTS);
    for (int k = 0; k < ng; k++) {
        bool known = false;
        for (size_t i = 0; i < sizeof may_change / sizeof may_change[0] && !known; i++)
            known = strcmp(given[k], may_change[i]) == 0;
        for (size_t i = 0; i < nc && !known; i++)
            known = strcmp(given[k], c[i].flag) == 0;
        if (!known) {
            cli_fail("train", "--%s cannot be given with --resume: the checkpoint %s does "
                     "not record it (only --epochs, --out, --log, --plot, --stats, --threads, "
                     "--save-every and --quiet may change)", given[k], path);
            return false;
        }
    }
    return true;
}

/* Sets o to the run the checkpoint records (the optimizer, schedule,
 * penalties and clipping are taken from r->info->train directly). */
static void restore(struct opts *o, const struct cli_recorded *r)
{
    const struct nn_checkpoint_info *in = r->info;
    o->model = in->spec;
    o->loss = loss_name(in->loss);
    o->data = r->data;
    o->label = r->label;
    o->task = r->task;
    o->header = r->header;
    o->ignore = r->ignore;
    if (!o->stats) /* a resumed run goes on writing its statistics */
        o->stats = r->stats;
    o->val = r->val;
    o->test = r->test;
    o->val_split = r->val_split;
    o->init = r->init;
    o->augment = r->augment;
    o->dropout = r->dropout;
    o->normalize = in->has_norm ? nn_norm_name(in->norm.kind) : "none";
    o->image_size = r->image_size[0] ? r->image_size : NULL;
    o->resize = r->resize;
    o->batch = in->train.batch;
    if (r->seed)
        o->seed = strtoull(r->seed, NULL, 10);
    o->split_seed = r->split_seed ? strtoll(r->split_seed, NULL, 10) : -1;
    if (!cli_given(o, "epochs"))
        o->epochs = in->train.epochs;
}

/* The spec a run with o's --model, --dropout, --init and --bias-init
 * records (nn_model_spec writes the flags' values into the layers), so that
 * repeating the original command line with --resume agrees with the file;
 * NULL if the model does not build (the raw text is compared then). The
 * caller frees it. */
static char *recorded_spec(nn_ctx *ctx, const struct opts *o)
{
    struct nn_model_cfg mc = {.max_batch = 1, .has_dropout = cli_given(o, "dropout"),
                              .dropout = (float)o->dropout};
    if (o->init && nn_init_parse(ctx, o->init, &mc.init) != NN_OK)
        return NULL;
    if (o->bias_init && nn_init_parse(ctx, o->bias_init, &mc.bias_init) != NN_OK)
        return NULL;
    mc.has_init = o->init != NULL;
    mc.has_bias_init = o->bias_init != NULL;
    nn_model *m = nn_model_new(ctx, o->model, &mc);
    char *text = m ? strdup(nn_model_spec(m)) : NULL;
    nn_model_free(m);
    nn_ctx_clear_error(ctx);
    return text;
}

/* The recorded --task to compare a given one with: a run that chose
 * automatically agrees with the task it chose (regress for an mse model,
 * classify otherwise). */
static const char *task_saved(const struct opts *o, const struct cli_recorded *r)
{
    if (r->task && strcmp(r->task, "auto") == 0 && o->task && strcmp(o->task, "auto") != 0)
        return r->info->loss == NN_LOSS_MSE ? "regress" : "classify";
    return r->task;
}

static bool resume_settings(nn_ctx *ctx, struct opts *o, struct cli_recorded *r,
                            char *const resolved[3])
{
    const struct nn_checkpoint_info *in = r->info;
    const char *path = in->path;
    if (!in->has_trainer) {
        cli_fail("train", "--resume %s: it holds weights only, no training state to resume "
                 "from", path);
        return false;
    }
    const struct nn_train_cfg *t = &in->train;
    const struct nn_optim_cfg *op = &t->optim;
    char sched_saved[256], sched_given[256], seed[32], split_seed[32];
    nn_schedule_format(&t->schedule, sched_saved, sizeof sched_saved);
    const char *sg = NULL;
    if (o->schedule &&
        !(sg = schedule_text(ctx, o->schedule, &t->schedule, sched_given, sizeof sched_given)))
        return false;
    int ok_kind = o->optim ? nn_optim_parse(o->optim) : -1;
    if (o->optim && ok_kind < 0) { /* a typo: say so, not that it contradicts */
        const char *names[NN_OPTIM_COUNT];
        for (int k = 0; k < NN_OPTIM_COUNT; k++)
            names[k] = nn_optim_name((nn_optim_kind)k);
        const char *near = nn_nearest_name(o->optim, names, NN_OPTIM_COUNT);
        cli_fail("train", "unknown optimizer '%s'%s%s%s", o->optim,
                 near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
        return false;
    }
    snprintf(seed, sizeof seed, "%" PRIu64, o->seed);
    snprintf(split_seed, sizeof split_seed, "%lld", (long long)o->split_seed);
    char *spec_given = o->model ? recorded_spec(ctx, o) : NULL;
    /* --augment in its canonical form (the form recorded) */
    char aug_given[64];
    struct nn_augment_cfg ac = {0};
    if (o->augment && nn_augment_parse(ctx, o->augment, &ac) == NN_OK)
        nn_augment_format(&ac, aug_given, sizeof aug_given);
    else
        snprintf(aug_given, sizeof aug_given, "%s", o->augment ? o->augment : "");
    const char *norm = in->has_norm ? nn_norm_name(in->norm.kind) : "none";
    struct cmp c[] = {
        STR("model", spec_given ? spec_given : o->model, in->spec),
        STR("augment", aug_given, r->augment ? r->augment : "none"),
        STR("loss", o->loss, loss_name(in->loss)),
        STR("data", resolved[0], r->data),
        STR("val", resolved[1], r->val),
        STR("test", resolved[2], r->test),
        STR("label", o->label, r->label),
        STR("task", o->task, task_saved(o, r)),
        STR("header", o->header, r->header ? r->header : "auto"),
        STR("ignore", o->ignore, r->ignore),
        STR("image-size", o->image_size, r->image_size[0] ? r->image_size : NULL),
        BOOL("resize", o->resize, r->resize),
        F64("val-split", o->val_split, r->val_split),
        STR("seed", seed, r->seed),
        STR("split-seed", split_seed, r->split_seed),
        STR("init", o->init, r->init),
        F32("dropout", o->dropout, r->dropout),
        STR("normalize", o->normalize, norm),
        F64("batch", (double)o->batch, (double)t->batch),
        BOOL("drop-last", o->drop_last, t->drop_last),
        BOOL("no-shuffle", o->no_shuffle, t->no_shuffle),
        STR("optim", ok_kind >= 0 ? nn_optim_name((nn_optim_kind)ok_kind) : o->optim,
            nn_optim_name(op->kind)),
        F32("lr", o->lr, op->lr),
        F32("momentum", o->momentum, op->momentum),
        F32("dampening", o->dampening, op->dampening),
        F32("weight-decay", o->weight_decay, op->weight_decay),
        BOOL("decoupled", o->decoupled, op->decoupled),
        F32("beta1", o->beta1, op->beta1),
        F32("beta2", o->beta2, op->beta2),
        F32("eps", o->eps, op->eps),
        F32("rho", o->rho, op->rho),
        F32("alpha", o->alpha, op->alpha),
        F32("eps2", o->eps2, op->eps2),
        F32("beta2-decay", o->beta2_decay, op->beta2_decay),
        F32("clip-threshold", o->clip_threshold, op->clip_threshold),
        F32("lr-decay", o->lr_decay, op->lr_decay),
        F32("initial-accumulator", o->initial_accumulator, op->initial_accumulator_value),
        BOOL("amsgrad", o->amsgrad, op->amsgrad),
        BOOL("centered", o->centered, op->centered),
        F64("history", (double)o->history, op->history_size),
        F64("max-iter", (double)o->max_iter, op->max_iter),
        F64("max-eval", (double)o->max_eval, op->max_eval),
        F32("tolerance-grad", o->tolerance_grad, op->tolerance_grad),
        F32("tolerance-change", o->tolerance_change, op->tolerance_change),
        STR("line-search", o->line_search,
            op->line_search == NN_LINE_SEARCH_STRONG_WOLFE ? "strong_wolfe" : "none"),
        F32("l1", o->l1, t->l1),
        F32("l2", o->l2, t->l2),
        BOOL("penalize-biases", o->penalize_biases, t->penalize_biases),
        BOOL("decay-biases", o->decay_biases, t->decay_biases),
        F32("clip-norm", o->clip_norm, t->clip_norm),
        STR("schedule", sg, sched_saved),
        F64("patience", (double)o->patience, (double)t->patience),
        F32("min-delta", o->min_delta, t->min_delta),
        BOOL("keep-last", o->keep_last, t->keep_last),
        STR("monitor", o->monitor, t->monitor_acc ? "val_acc" : "val_loss"),
        F32("tol", o->tol, t->tol),
        STR("train-metrics", o->train_metrics, t->train_eval ? "eval" : "running"),
        STR("schedule-unit", o->schedule_unit, t->schedule_per_step ? "step" : "epoch"),
    };
    bool ok = agrees(o, c, sizeof c / sizeof c[0], path);
    free(spec_given);
    if (!ok)
        return false;
    if (!r->data) {
        cli_fail("train", "--resume %s: the checkpoint records no data source", path);
        return false;
    }
    restore(o, r);
    return true;
}

bool cli_resume_settings(nn_ctx *ctx, struct opts *o, struct cli_recorded *r)
{
    char *resolved[3] = {cli_resolve_source(o->data), cli_resolve_source(o->val),
                         cli_resolve_source(o->test)};
    bool ok = resume_settings(ctx, o, r, resolved);
    for (int i = 0; i < 3; i++)
        free(resolved[i]);
    return ok;
}

bool cli_resume_check_data(const struct cli_recorded *r, const nn_dataset *train)
{
    const struct nn_checkpoint_info *in = r->info;
    struct nn_norm_stats ns;
    nn_dataset_norm_get(train, &ns);
    if (in->has_norm && ns.nfeatures == in->norm.nfeatures) {
        for (int64_t j = 0; j < ns.nfeatures; j++)
            if (ns.shift[j] != in->norm.shift[j] || ns.scale[j] != in->norm.scale[j]) {
                cli_fail("train", "--resume %s: the training data %s is not the data it was "
                         "trained on: feature %lld normalizes with shift %g, scale %g, the "
                         "checkpoint's with shift %g, scale %g", in->path,
                         nn_dataset_source(train), (long long)j, (double)ns.shift[j],
                         (double)ns.scale[j], (double)in->norm.shift[j],
                         (double)in->norm.scale[j]);
                return false;
            }
    }
    for (int64_t i = 0; i < in->nclasses; i++) {
        const char *n = nn_dataset_class_name(train, i);
        if (!n || strcmp(n, in->class_names[i]) != 0) {
            cli_fail("train", "--resume %s: the training data %s has class %lld '%s', the "
                     "checkpoint '%s'", in->path, nn_dataset_source(train), (long long)i,
                     n ? n : "(none)", in->class_names[i]);
            return false;
        }
    }
    return true;
}
