/*
 * schedule.c - learning-rate schedules per epoch with the semantics of
 * torch.optim.lr_scheduler (StepLR, ExponentialLR, CosineAnnealingLR,
 * ReduceLROnPlateau, and LinearLR as a warm-up in front of any of them, as
 * SequentialLR chains them), their text form for the command line, and the
 * plateau state to checkpoint. Rates are computed in double from closed
 * forms; torch's chained (recursive) forms equal them up to rounding.
 */
#include "nn_impl.h"

#include <errno.h>
#include <math.h>
#include <string.h>

struct nn_schedule {
    nn_ctx *ctx;
    struct nn_schedule_cfg cfg; /* defaults filled, t_max resolved */
    double base;
    double lr;          /* plateau: the current rate */
    double best;        /* plateau: the best metric so far */
    int64_t bad;        /* plateau: epochs without improvement */
    int64_t cooldown;   /* plateau: cooldown epochs left */
};

static const char *const kind_names[NN_SCHED_COUNT] = {"constant", "step", "exp", "cos",
                                                       "plateau"};

const char *nn_schedule_name(nn_schedule_kind kind)
{
    return (int)kind >= 0 && kind < NN_SCHED_COUNT ? kind_names[kind] : NULL;
}

void nn_schedule_defaults(struct nn_schedule_cfg *c)
{
    if (!c)
        return;
    if (c->warmup_epochs > 0 && c->warmup_start == 0)
        c->warmup_start = 1.0 / 3.0;
    switch (c->kind) {
    case NN_SCHED_STEP:
        if (c->gamma == 0)
            c->gamma = 0.1;
        break;
    case NN_SCHED_PLATEAU:
        if (c->factor == 0)
            c->factor = 0.1;
        if (c->patience == 0)
            c->patience = 10;
        if (c->threshold == 0)
            c->threshold = 1e-4;
        break;
    default:
        break;
    }
}

/* ---- validation ---------------------------------------------------------- */

static nn_status bad(nn_ctx *ctx, const char *kind, const char *field, double v,
                     const char *expected)
{
    return nn_fail(ctx, NN_ERR_INVALID, "schedule %s: %s is %g, expected %s", kind, field, v,
                   expected);
}

static nn_status validate(nn_ctx *ctx, const struct nn_schedule_cfg *c, double base,
                          int64_t epochs)
{
    const char *k = nn_schedule_name(c->kind);
    if (!(base >= 0) || isinf(base))
        return bad(ctx, k, "base learning rate", base, "a finite value >= 0");
    if (epochs < 0)
        return bad(ctx, k, "epochs", (double)epochs, ">= 0");
    if (c->warmup_epochs < 0)
        return bad(ctx, k, "warmup_epochs", (double)c->warmup_epochs, ">= 0");
    if (c->warmup_epochs > 0 && !(c->warmup_start > 0 && c->warmup_start <= 1))
        return bad(ctx, k, "warmup_start", c->warmup_start, "in (0, 1]");
    if (c->warmup_epochs == 0 && c->warmup_start != 0)
        return bad(ctx, k, "warmup_start", c->warmup_start, "0 without warmup_epochs");
    /* Fields of other kinds must stay 0. */
    struct {
        const char *name;
        double v;
        unsigned used; /* bit per kind */
    } f[] = {
        {"step_size", (double)c->step_size, 1u << NN_SCHED_STEP},
        {"gamma", c->gamma, 1u << NN_SCHED_STEP | 1u << NN_SCHED_EXPONENTIAL},
        {"t_max", (double)c->t_max, 1u << NN_SCHED_COSINE},
        {"eta_min", c->eta_min, 1u << NN_SCHED_COSINE},
        {"factor", c->factor, 1u << NN_SCHED_PLATEAU},
        {"patience", (double)c->patience, 1u << NN_SCHED_PLATEAU},
        {"threshold", c->threshold, 1u << NN_SCHED_PLATEAU},
        {"threshold_abs", c->threshold_abs, 1u << NN_SCHED_PLATEAU},
        {"cooldown", (double)c->cooldown, 1u << NN_SCHED_PLATEAU},
        {"min_lr", c->min_lr, 1u << NN_SCHED_PLATEAU},
        {"mode_max", c->mode_max, 1u << NN_SCHED_PLATEAU},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (!(f[i].used & 1u << c->kind) && f[i].v != 0)
            return nn_fail(ctx, NN_ERR_INVALID,
                           "schedule %s: %s is %g, but %s does not use it (leave it 0)", k,
                           f[i].name, f[i].v, k);
        if (!isfinite(f[i].v))
            return bad(ctx, k, f[i].name, f[i].v, "a finite number");
    }
    switch (c->kind) {
    case NN_SCHED_STEP:
        if (c->step_size < 1)
            return bad(ctx, k, "step_size", (double)c->step_size, ">= 1 (e.g. step:10)");
        if (!(c->gamma > 0))
            return bad(ctx, k, "gamma", c->gamma, "> 0");
        break;
    case NN_SCHED_EXPONENTIAL:
        if (!(c->gamma > 0))
            return bad(ctx, k, "gamma", c->gamma, "> 0 (e.g. exp:0.95)");
        break;
    case NN_SCHED_COSINE:
        if (c->t_max < 1)
            return nn_fail(ctx, NN_ERR_INVALID,
                           "schedule cos: t_max is %lld (epochs %lld, warm-up %lld), expected "
                           ">= 1: give t_max or an epoch count beyond the warm-up",
                           (long long)c->t_max, (long long)epochs,
                           (long long)c->warmup_epochs);
        if (!(c->eta_min >= 0))
            return bad(ctx, k, "eta_min", c->eta_min, ">= 0");
        break;
    case NN_SCHED_PLATEAU:
        if (!(c->factor > 0 && c->factor < 1))
            return bad(ctx, k, "factor", c->factor, "in (0, 1)");
        if (c->cooldown < 0)
            return bad(ctx, k, "cooldown", (double)c->cooldown, ">= 0");
        if (!(c->min_lr >= 0))
            return bad(ctx, k, "min_lr", c->min_lr, ">= 0");
        break;
    default:
        break;
    }
    return NN_OK;
}

nn_schedule *nn_schedule_new(nn_ctx *ctx, const struct nn_schedule_cfg *cfg, double base_lr,
                             int64_t epochs)
{
    if (!ctx)
        return NULL;
    if (!cfg) {
        nn_fail(ctx, NN_ERR_INVALID, "schedule: no configuration given");
        return NULL;
    }
    if (!nn_schedule_name(cfg->kind)) {
        nn_fail(ctx, NN_ERR_INVALID, "schedule: unknown kind %d, expected 0..%d",
                (int)cfg->kind, NN_SCHED_COUNT - 1);
        return NULL;
    }
    struct nn_schedule_cfg c = *cfg;
    nn_schedule_defaults(&c);
    if (c.kind == NN_SCHED_COSINE && c.t_max == 0)
        c.t_max = epochs - c.warmup_epochs;
    if (validate(ctx, &c, base_lr, epochs) != NN_OK)
        return NULL;
    nn_schedule *s = calloc(1, sizeof *s);
    if (!s) {
        nn_fail(ctx, NN_ERR_NOMEM, "schedule: out of memory");
        return NULL;
    }
    s->ctx = ctx;
    s->cfg = c;
    s->base = base_lr;
    s->lr = base_lr;
    s->best = c.mode_max ? -INFINITY : INFINITY;
    return s;
}

void nn_schedule_free(nn_schedule *s) { free(s); }
const struct nn_schedule_cfg *nn_schedule_config(const nn_schedule *s) { return &s->cfg; }
double nn_schedule_base_lr(const nn_schedule *s) { return s->base; }

static double rate(const nn_schedule *s, int64_t epoch)
{
    const struct nn_schedule_cfg *c = &s->cfg;
    if (epoch < 0)
        epoch = 0;
    if (epoch < c->warmup_epochs)
        return s->base * (c->warmup_start +
                          (1.0 - c->warmup_start) * (double)epoch / (double)c->warmup_epochs);
    double e = (double)(epoch - c->warmup_epochs);
    switch (c->kind) {
    case NN_SCHED_STEP:
        return s->base * pow(c->gamma, (double)((epoch - c->warmup_epochs) / c->step_size));
    case NN_SCHED_EXPONENTIAL:
        return s->base * pow(c->gamma, e);
    case NN_SCHED_COSINE: {
        const double pi = 3.14159265358979323846;
        return c->eta_min +
               (s->base - c->eta_min) * (1.0 + cos(pi * e / (double)c->t_max)) / 2.0;
    }
    case NN_SCHED_PLATEAU:
        return s->lr;
    default:
        return s->base;
    }
}

float nn_schedule_lr(const nn_schedule *s, int64_t epoch) { return (float)rate(s, epoch); }

static bool is_better(const struct nn_schedule_cfg *c, double a, double best)
{
    double th = c->threshold > 0 ? c->threshold : 0;
    if (c->mode_max)
        return c->threshold_abs ? a > best + th : a > best * (1.0 + th);
    return c->threshold_abs ? a < best - th : a < best * (1.0 - th);
}

float nn_schedule_on_metric(nn_schedule *s, int64_t epoch, double metric)
{
    const struct nn_schedule_cfg *c = &s->cfg;
    if (c->kind != NN_SCHED_PLATEAU || epoch < c->warmup_epochs)
        return (float)rate(s, epoch + 1);
    if (is_better(c, metric, s->best)) {
        s->best = metric;
        s->bad = 0;
    } else {
        s->bad++;
    }
    if (s->cooldown > 0) { /* bad epochs in the cooldown do not count */
        s->cooldown--;
        s->bad = 0;
    }
    int64_t patience = c->patience > 0 ? c->patience : 0;
    if (s->bad > patience) {
        double cut = s->lr * c->factor;
        if (cut < c->min_lr)
            cut = c->min_lr;
        if (s->lr - cut > 1e-8) /* torch's eps: skip negligible changes */
            s->lr = cut;
        s->cooldown = c->cooldown;
        s->bad = 0;
    }
    return (float)rate(s, epoch + 1);
}

void nn_schedule_get_state(const nn_schedule *s, double st[NN_SCHEDULE_STATE_LEN])
{
    st[0] = s->lr;
    st[1] = s->best;
    st[2] = (double)s->bad;
    st[3] = (double)s->cooldown;
}

static bool is_count(double v) { return v >= 0 && v <= 9.0e15 && v == floor(v); }

nn_status nn_schedule_set_state(nn_schedule *s, const double st[NN_SCHEDULE_STATE_LEN])
{
    if (!(st[0] >= 0) || isinf(st[0]))
        return nn_fail(s->ctx, NN_ERR_INVALID,
                       "schedule state: rate is %g, expected a finite value >= 0", st[0]);
    if (isnan(st[1]))
        return nn_fail(s->ctx, NN_ERR_INVALID, "schedule state: best metric is NaN");
    if (!is_count(st[2]) || !is_count(st[3]))
        return nn_fail(s->ctx, NN_ERR_INVALID,
                       "schedule state: bad epochs %g and cooldown %g, expected counts >= 0",
                       st[2], st[3]);
    s->lr = st[0];
    s->best = st[1];
    s->bad = (int64_t)st[2];
    s->cooldown = (int64_t)st[3];
    return NN_OK;
}

/* ---- text form ----------------------------------------------------------- */

/* Positional field names of each term. */
static const char *const positional[][3] = {
    [NN_SCHED_CONSTANT] = {NULL, NULL, NULL},
    [NN_SCHED_STEP] = {"step_size", "gamma", NULL},
    [NN_SCHED_EXPONENTIAL] = {"gamma", NULL, NULL},
    [NN_SCHED_COSINE] = {"t_max", "eta_min", NULL},
    [NN_SCHED_PLATEAU] = {"patience", "factor", "min_lr"},
};
static const char *const warmup_positional[3] = {"epochs", "start_factor", NULL};

struct parse {
    nn_ctx *ctx;
    const char *text;
    const char *term; /* the term's name, for messages */
};

/* "schedule 'TEXT': TERM KEY 'VALUE': WHAT" */
static nn_status perr(const struct parse *ps, const char *key, const char *v, const char *what)
{
    return nn_fail(ps->ctx, NN_ERR_INVALID, "schedule '%s': %s %s '%s': %s", ps->text, ps->term,
                   key, v, what);
}

static nn_status num(const struct parse *ps, const char *key, const char *v, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x))
        return nn_fail(ps->ctx, NN_ERR_INVALID, "schedule '%s': %s %s '%s' is not a number",
                       ps->text, ps->term, key, v);
    *out = x;
    return NN_OK;
}

static nn_status count(const struct parse *ps, const char *key, const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno || x < 0)
        return nn_fail(ps->ctx, NN_ERR_INVALID,
                       "schedule '%s': %s %s '%s' is not a whole number >= 0", ps->text,
                       ps->term, key, v);
    *out = x;
    return NN_OK;
}

static nn_status set_field(const struct parse *ps, struct nn_schedule_cfg *c, bool warm,
                           const char *key, const char *v)
{
    if (warm) {
        if (strcmp(key, "epochs") == 0)
            return count(ps, key, v, &c->warmup_epochs);
        if (strcmp(key, "start_factor") == 0) {
            nn_status st = num(ps, key, v, &c->warmup_start);
            if (st == NN_OK && !(c->warmup_start > 0 && c->warmup_start <= 1))
                return perr(ps, key, v, "expected a factor in (0, 1]");
            return st;
        }
        return perr(ps, key, v, "unknown field (warmup takes epochs, start_factor)");
    }
    const char *const *pos = positional[c->kind];
    bool ok = false; /* the key belongs to this kind */
    for (int i = 0; i < 3 && pos[i]; i++)
        ok |= strcmp(pos[i], key) == 0;
    if (c->kind == NN_SCHED_PLATEAU)
        ok |= !strcmp(key, "threshold") || !strcmp(key, "threshold_mode") ||
              !strcmp(key, "cooldown") || !strcmp(key, "mode");
    if (!ok)
        return perr(ps, key, v, "unknown field for this schedule");
    nn_status st;
    if (!strcmp(key, "step_size"))
        return count(ps, key, v, &c->step_size);
    if (!strcmp(key, "t_max"))
        return count(ps, key, v, &c->t_max);
    if (!strcmp(key, "cooldown"))
        return count(ps, key, v, &c->cooldown);
    if (!strcmp(key, "patience")) {
        if ((st = count(ps, key, v, &c->patience)) == NN_OK && c->patience == 0)
            c->patience = -1; /* the struct's spelling of zero */
        return st;
    }
    if (!strcmp(key, "mode")) {
        if (strcmp(v, "min") && strcmp(v, "max"))
            return perr(ps, key, v, "expected min or max");
        c->mode_max = strcmp(v, "max") == 0;
        return NN_OK;
    }
    if (!strcmp(key, "threshold_mode")) {
        if (strcmp(v, "rel") && strcmp(v, "abs"))
            return perr(ps, key, v, "expected rel or abs");
        c->threshold_abs = strcmp(v, "abs") == 0;
        return NN_OK;
    }
    double *dst = !strcmp(key, "gamma")     ? &c->gamma
                  : !strcmp(key, "eta_min") ? &c->eta_min
                  : !strcmp(key, "factor")  ? &c->factor
                  : !strcmp(key, "min_lr")  ? &c->min_lr
                                            : &c->threshold;
    if ((st = num(ps, key, v, dst)) != NN_OK)
        return st;
    if (*dst < 0)
        return perr(ps, key, v, "must not be negative");
    if (dst == &c->threshold && *dst == 0)
        *dst = -1; /* the struct's spelling of zero */
    else if (*dst == 0 && dst != &c->eta_min && dst != &c->min_lr)
        return perr(ps, key, v, "must not be 0");
    return NN_OK;
}

/* Parses one term [s, e) into c. */
static nn_status parse_term(struct parse *ps, struct nn_schedule_cfg *c, const char *s,
                            size_t len, bool *seen_main, bool *seen_warm)
{
    char buf[256];
    if (len == 0 || len >= sizeof buf)
        return nn_fail(ps->ctx, NN_ERR_INVALID, "schedule '%s': %s term", ps->text,
                       len ? "overlong" : "empty");
    memcpy(buf, s, len);
    buf[len] = 0;
    char *name = buf, *rest = strchr(buf, ':');
    if (rest)
        *rest++ = 0;
    bool warm = strcmp(name, "warmup") == 0;
    int kind = -1;
    if (!warm) {
        for (int k = 0; k < NN_SCHED_COUNT; k++)
            if (strcmp(name, kind_names[k]) == 0)
                kind = k;
        if (!strcmp(name, "none"))
            kind = NN_SCHED_CONSTANT;
        if (!strcmp(name, "exponential"))
            kind = NN_SCHED_EXPONENTIAL;
        if (!strcmp(name, "cosine"))
            kind = NN_SCHED_COSINE;
        if (kind < 0) {
            static const char *const known[] = {"constant", "step", "exp", "cos", "plateau",
                                                "warmup", "exponential", "cosine", "none"};
            const char *near = nn_nearest_name(name, known, (int)(sizeof known / sizeof *known));
            char hint[96] = "";
            if (near)
                snprintf(hint, sizeof hint, " (did you mean '%s'?)", near);
            if (strcmp(name, ps->text) != 0) /* one part of a longer spec */
                return nn_fail(ps->ctx, NN_ERR_INVALID,
                               "schedule '%s': unknown part '%s'%s, expected constant, step, "
                               "exp, cos, plateau or warmup", ps->text, name, hint);
            return nn_fail(ps->ctx, NN_ERR_INVALID,
                           "unknown schedule '%s'%s, expected constant, step, exp, cos, "
                           "plateau or warmup", name, hint);
        }
    }
    if (warm ? *seen_warm : *seen_main)
        return nn_fail(ps->ctx, NN_ERR_INVALID, "schedule '%s': '%s' given twice", ps->text,
                       warm ? "warmup" : "a schedule");
    if (warm)
        *seen_warm = true;
    else {
        *seen_main = true;
        c->kind = (nn_schedule_kind)kind;
    }
    ps->term = warm ? "warmup" : kind_names[kind];
    const char *const *pos = warm ? warmup_positional : positional[kind];
    int npos = 0;
    for (char *f = rest; f;) {
        char *next = strchr(f, ':');
        if (next)
            *next++ = 0;
        if (!*f)
            return nn_fail(ps->ctx, NN_ERR_INVALID, "schedule '%s': %s has an empty field",
                           ps->text, ps->term);
        char *eq = strchr(f, '=');
        nn_status st;
        if (eq) {
            *eq = 0;
            st = set_field(ps, c, warm, f, eq + 1);
        } else {
            if (npos >= 3 || !pos[npos])
                return nn_fail(ps->ctx, NN_ERR_INVALID,
                               "schedule '%s': %s takes at most %d positional field%s, got "
                               "'%s' too",
                               ps->text, ps->term, npos, npos == 1 ? "" : "s", f);
            st = set_field(ps, c, warm, pos[npos++], f);
        }
        if (st != NN_OK)
            return st;
        f = next;
    }
    if (warm && c->warmup_epochs < 1)
        return nn_fail(ps->ctx, NN_ERR_INVALID,
                       "schedule '%s': warmup needs its epochs >= 1, e.g. warmup:5", ps->text);
    if (!warm && kind == NN_SCHED_STEP && c->step_size < 1)
        return nn_fail(ps->ctx, NN_ERR_INVALID,
                       "schedule '%s': step needs its step_size >= 1, e.g. step:10:0.5",
                       ps->text);
    if (!warm && kind == NN_SCHED_EXPONENTIAL && c->gamma == 0)
        return nn_fail(ps->ctx, NN_ERR_INVALID,
                       "schedule '%s': exp needs its gamma, e.g. exp:0.95", ps->text);
    return NN_OK;
}

nn_status nn_schedule_parse(nn_ctx *ctx, const char *text, struct nn_schedule_cfg *cfg)
{
    if (!ctx || !cfg)
        return NN_ERR_INVALID;
    memset(cfg, 0, sizeof *cfg);
    if (!text || !*text)
        return nn_fail(ctx, NN_ERR_INVALID, "schedule: empty text (expected e.g. cos or "
                       "step:10:0.5)");
    struct parse ps = {ctx, text, ""};
    bool seen_main = false, seen_warm = false;
    for (const char *s = text;;) {
        const char *e = strchr(s, '+');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        nn_status st = parse_term(&ps, cfg, s, len, &seen_main, &seen_warm);
        if (st != NN_OK) {
            memset(cfg, 0, sizeof *cfg);
            return st;
        }
        if (!e)
            break;
        s = e + 1;
    }
    return NN_OK;
}

/* Appends "sep key=value" with the shortest exact decimal of v. */
static void put(char *buf, size_t size, size_t *n, const char *key, double v)
{
    char num[40];
    snprintf(num, sizeof num, "%.15g", v);
    if (strtod(num, NULL) != v)
        snprintf(num, sizeof num, "%.17g", v);
    int k = snprintf(*n < size ? buf + *n : NULL, *n < size ? size - *n : 0, ":%s=%s", key,
                     num);
    *n += (size_t)(k > 0 ? k : 0);
}

int nn_schedule_format(const struct nn_schedule_cfg *c, char *buf, size_t size)
{
    size_t n = 0;
    if (size)
        buf[0] = 0;
    if (!c || !nn_schedule_name(c->kind))
        return 0;
    if (c->warmup_epochs > 0) {
        int k = snprintf(buf, size, "warmup");
        n = (size_t)k;
        put(buf, size, &n, "epochs", (double)c->warmup_epochs);
        if (c->warmup_start != 0)
            put(buf, size, &n, "start_factor", c->warmup_start);
        int k2 = snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0, "+");
        n += (size_t)k2;
    }
    int k = snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0, "%s",
                     kind_names[c->kind]);
    n += (size_t)k;
    switch (c->kind) {
    case NN_SCHED_STEP:
        if (c->step_size)
            put(buf, size, &n, "step_size", (double)c->step_size);
        if (c->gamma != 0)
            put(buf, size, &n, "gamma", c->gamma);
        break;
    case NN_SCHED_EXPONENTIAL:
        if (c->gamma != 0)
            put(buf, size, &n, "gamma", c->gamma);
        break;
    case NN_SCHED_COSINE:
        if (c->t_max)
            put(buf, size, &n, "t_max", (double)c->t_max);
        if (c->eta_min != 0)
            put(buf, size, &n, "eta_min", c->eta_min);
        break;
    case NN_SCHED_PLATEAU:
        if (c->patience)
            put(buf, size, &n, "patience", c->patience < 0 ? 0.0 : (double)c->patience);
        if (c->factor != 0)
            put(buf, size, &n, "factor", c->factor);
        if (c->threshold != 0)
            put(buf, size, &n, "threshold", c->threshold < 0 ? 0.0 : c->threshold);
        if (c->cooldown)
            put(buf, size, &n, "cooldown", (double)c->cooldown);
        if (c->min_lr != 0)
            put(buf, size, &n, "min_lr", c->min_lr);
        if (c->threshold_abs) {
            k = snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0,
                         ":threshold_mode=abs");
            n += (size_t)k;
        }
        if (c->mode_max) {
            k = snprintf(n < size ? buf + n : NULL, n < size ? size - n : 0, ":mode=max");
            n += (size_t)k;
        }
        break;
    default:
        break;
    }
    return (int)n;
}
