/*
 * optim.c - the optimizer object: names, torch.optim defaults, validation
 * of a configuration, the state block, the weight-decay mask and the step
 * driver that runs a family's update over each run of parameters sharing a
 * weight-decay flag (the per-family kernels live in sgd.c, adaptive.c,
 * adam.c and adafactor.c).
 *
 * Weight decay: coupled (torch's weight_decay) adds wd * p to the gradient
 * inside the update; decoupled (AdamW's convention, always on for adamw and
 * adafactor) multiplies p by 1 - lr * wd just before the update. Either way
 * a parameter excluded with nn_optim_set_decay is updated without it. The
 * mask is handled by running the kernel once per run of parameters with the
 * same flag, so each kernel is a flat loop with no per-element branch.
 *
 * Choices where torch gives none or differs:
 *  - lr: sgd, momentum, nesterov 0.01 (torch requires lr); momentum and
 *    nesterov default to momentum 0.9 (torch requires it), sgd to 0.
 *  - A zero field of a zero-initialized configuration means "the default";
 *    once nn_optim_defaults has filled a configuration (cfg.filled), every
 *    field is taken as it stands, so momentum 0 or beta1 0 can be asked for.
 *  - A field the kind does not read (amsgrad for sgd, momentum for adam ...)
 *    must stay 0: nn_optim_new refuses it rather than ignore it.
 *  - Adafactor's weight decay is always decoupled (as in torch 2.5).
 *  - Every parameter is updated every step; torch skips a parameter whose
 *    .grad is None, here such a parameter simply has a zero gradient (so
 *    weight decay and momentum still move it). Buffers (nn_buffer: running
 *    statistics) are never updated; their state slots stay zero.
 *  - nn_optim_set_steps with a negative count sets 0.
 */
#include "optim.h"

#include <float.h>
#include <math.h>
#include <string.h>

static const char *const kind_names[NN_OPTIM_COUNT] = {
    "sgd", "momentum", "nesterov", "adagrad", "adadelta",
    "rmsprop", "adam", "adamw", "adafactor", "lbfgs"};

const char *nn_optim_name(nn_optim_kind kind)
{
    return (int)kind >= 0 && kind < NN_OPTIM_COUNT ? kind_names[kind] : NULL;
}

int nn_optim_parse(const char *name)
{
    if (!name)
        return -1;
    for (int k = 0; k < NN_OPTIM_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0)
            return k;
    return -1;
}

/* Families, for which fields a kind reads. */
enum {
    U_SGD = 1 << 0, /* sgd, momentum, nesterov */
    U_ADAGRAD = 1 << 1,
    U_ADADELTA = 1 << 2,
    U_RMSPROP = 1 << 3,
    U_ADAM = 1 << 4, /* adam, adamw */
    U_ADAFACTOR = 1 << 5,
    U_LBFGS = 1 << 6,
    U_ALL = (1 << 7) - 1
};

static unsigned family(nn_optim_kind k)
{
    switch (k) {
    case NN_OPTIM_SGD:
    case NN_OPTIM_MOMENTUM:
    case NN_OPTIM_NESTEROV: return U_SGD;
    case NN_OPTIM_ADAGRAD: return U_ADAGRAD;
    case NN_OPTIM_ADADELTA: return U_ADADELTA;
    case NN_OPTIM_RMSPROP: return U_RMSPROP;
    case NN_OPTIM_ADAM:
    case NN_OPTIM_ADAMW: return U_ADAM;
    case NN_OPTIM_ADAFACTOR: return U_ADAFACTOR;
    case NN_OPTIM_LBFGS: return U_LBFGS;
    default: return 0;
    }
}

struct field {
    const char *name;
    size_t off;
    unsigned used; /* families that read it */
};

#define FIELD(f, u) {#f, offsetof(struct nn_optim_cfg, f), u}
static const struct field float_fields[] = {
    FIELD(lr, U_ALL),
    FIELD(momentum, U_SGD | U_RMSPROP),
    FIELD(dampening, U_SGD),
    FIELD(weight_decay, U_ALL & ~U_LBFGS),
    FIELD(beta1, U_ADAM),
    FIELD(beta2, U_ADAM),
    FIELD(eps, U_ADAGRAD | U_ADADELTA | U_RMSPROP | U_ADAM | U_ADAFACTOR),
    FIELD(eps2, U_ADAFACTOR),
    FIELD(rho, U_ADADELTA),
    FIELD(alpha, U_RMSPROP),
    FIELD(lr_decay, U_ADAGRAD),
    FIELD(initial_accumulator_value, U_ADAGRAD),
    FIELD(beta2_decay, U_ADAFACTOR),
    FIELD(clip_threshold, U_ADAFACTOR),
    FIELD(tolerance_grad, U_LBFGS),
    FIELD(tolerance_change, U_LBFGS),
};
static const struct field bool_fields[] = {
    FIELD(decoupled, U_ALL & ~U_LBFGS),
    FIELD(amsgrad, U_ADAM),
    FIELD(centered, U_RMSPROP),
};
#undef FIELD

static float *fptr(struct nn_optim_cfg *c, const struct field *f)
{
    return (float *)((char *)c + f->off);
}

static void set_default(float *x, float v)
{
    if (*x == 0)
        *x = v;
}

void nn_optim_defaults(struct nn_optim_cfg *c)
{
    if (!c || c->filled)
        return;
    c->filled = true;
    switch (c->kind) {
    case NN_OPTIM_SGD:
        set_default(&c->lr, 0.01f); /* torch.optim.SGD requires lr; libnn picks 0.01 */
        break;
    case NN_OPTIM_MOMENTUM:
    case NN_OPTIM_NESTEROV:
        set_default(&c->lr, 0.01f);
        set_default(&c->momentum, 0.9f); /* torch requires it; libnn picks 0.9 */
        break;
    case NN_OPTIM_ADAGRAD:
        set_default(&c->lr, 0.01f);
        set_default(&c->eps, 1e-10f);
        break;
    case NN_OPTIM_ADADELTA:
        set_default(&c->lr, 1.0f);
        set_default(&c->rho, 0.9f);
        set_default(&c->eps, 1e-6f);
        break;
    case NN_OPTIM_RMSPROP:
        set_default(&c->lr, 0.01f);
        set_default(&c->alpha, 0.99f);
        set_default(&c->eps, 1e-8f);
        break;
    case NN_OPTIM_ADAMW:
        set_default(&c->weight_decay, 1e-2f);
        c->decoupled = true;
        /* fall through */
    case NN_OPTIM_ADAM:
        set_default(&c->lr, 1e-3f);
        set_default(&c->beta1, 0.9f);
        set_default(&c->beta2, 0.999f);
        set_default(&c->eps, 1e-8f);
        break;
    case NN_OPTIM_ADAFACTOR:
        set_default(&c->lr, 1e-2f);
        set_default(&c->eps, FLT_EPSILON); /* eps1 = None: the dtype's epsilon */
        set_default(&c->eps2, 1e-3f);
        set_default(&c->beta2_decay, -0.8f);
        set_default(&c->clip_threshold, 1.0f);
        c->decoupled = true;
        break;
    case NN_OPTIM_LBFGS:
        set_default(&c->lr, 1.0f);
        if (c->history_size == 0)
            c->history_size = 100;
        if (c->max_iter == 0)
            c->max_iter = 20;
        if (c->max_eval == 0)
            c->max_eval = c->max_iter * 5 / 4 > 0 ? c->max_iter * 5 / 4 : 1;
        set_default(&c->tolerance_grad, 1e-7f);
        set_default(&c->tolerance_change, 1e-9f);
        break;
    default:
        break;
    }
}

/* A range check: lo <= x (strict if lo_open), x <= hi (strict if hi_open). */
struct range {
    const char *field;
    double lo, hi;
    bool lo_open, hi_open;
};

static bool in_range(double x, const struct range *r)
{
    return (r->lo_open ? x > r->lo : x >= r->lo) && (r->hi_open ? x < r->hi : x <= r->hi);
}

/* The integer and enum fields only lbfgs reads: 0 for every other kind,
 * at least 1 (line search: a known one) for lbfgs. */
static nn_status validate_lbfgs(nn_ctx *ctx, const struct nn_optim_cfg *c, bool lbfgs)
{
    const char *kn = nn_optim_name(c->kind);
    const struct {
        const char *name;
        int v;
    } ints[] = {{"history_size", c->history_size}, {"max_iter", c->max_iter},
                {"max_eval", c->max_eval}, {"line_search", (int)c->line_search}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (!lbfgs && ints[i].v != 0)
            return nn_fail(ctx, NN_ERR_INVALID,
                           "optimizer %s: %s is %d, but it is used only by lbfgs (leave it 0)",
                           kn, ints[i].name, ints[i].v);
        bool ok = i == 3 ? ints[i].v >= 0 && ints[i].v < NN_LINE_SEARCH_COUNT : ints[i].v >= 1;
        if (lbfgs && !ok)
            return nn_fail(ctx, NN_ERR_RANGE, "optimizer lbfgs: %s is %d, expected %s",
                           ints[i].name, ints[i].v,
                           i == 3 ? "0 (none) or 1 (strong Wolfe)" : "an integer >= 1");
    }
    return NN_OK;
}

static nn_status validate(nn_ctx *ctx, struct nn_optim_cfg *c)
{
    const char *kn = nn_optim_name(c->kind);
    unsigned fam = family(c->kind);
    for (size_t i = 0; i < sizeof float_fields / sizeof float_fields[0]; i++) {
        const struct field *f = &float_fields[i];
        float v = *fptr(c, f);
        if (!(fam & f->used) && v != 0)
            return nn_fail(ctx, NN_ERR_INVALID,
                           "optimizer %s: %s is %g, but %s does not use %s (leave it 0)",
                           kn, f->name, (double)v, kn, f->name);
        if (!isfinite(v))
            return nn_fail(ctx, NN_ERR_INVALID,
                           "optimizer %s: %s is %g, expected a finite number", kn,
                           f->name, (double)v);
    }
    for (size_t i = 0; i < sizeof bool_fields / sizeof bool_fields[0]; i++) {
        const struct field *f = &bool_fields[i];
        if (!(fam & f->used) && *(const bool *)((const char *)c + f->off))
            return nn_fail(ctx, NN_ERR_INVALID,
                           "optimizer %s: %s is set, but it is used only by %s", kn, f->name,
                           f->used == U_ADAM      ? "adam and adamw"
                           : f->used == U_RMSPROP ? "rmsprop"
                                                  : "optimizers other than lbfgs");
    }
    nn_status st = validate_lbfgs(ctx, c, fam == U_LBFGS);
    if (st != NN_OK)
        return st;
    const struct range ranges[] = {
        {"lr", 0, INFINITY, false, true},
        {"weight_decay", 0, INFINITY, false, true},
        {"momentum", 0, 1, false, true},
        {"dampening", 0, 1, false, false},
        {"beta1", 0, 1, false, true},
        {"beta2", 0, 1, false, true},
        {"eps", 0, INFINITY, false, true},
        {"eps2", 0, INFINITY, false, true},
        {"rho", 0, 1, false, false},
        {"alpha", 0, 1, false, false},
        {"lr_decay", 0, INFINITY, false, true},
        {"initial_accumulator_value", 0, INFINITY, false, true},
        {"beta2_decay", -INFINITY, 0, true, false},
        {"clip_threshold", 1, INFINITY, false, true},
        {"tolerance_grad", 0, INFINITY, false, true},
        {"tolerance_change", 0, INFINITY, false, true},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        const struct range *r = &ranges[i];
        const struct field *f = NULL;
        for (size_t j = 0; j < sizeof float_fields / sizeof float_fields[0]; j++)
            if (strcmp(float_fields[j].name, r->field) == 0)
                f = &float_fields[j];
        NN_ASSERT(f, "range of an unknown field");
        float v = *fptr(c, f);
        if (!(fam & f->used) || in_range(v, r))
            continue;
        char lo[32], hi[32];
        snprintf(lo, sizeof lo, "%g", r->lo);
        snprintf(hi, sizeof hi, "%g", r->hi);
        return nn_fail(ctx, NN_ERR_RANGE, "optimizer %s: %s is %g, expected %s%s, %s%s", kn,
                       r->field, (double)v, r->lo_open ? "(" : "[",
                       isinf(r->lo) ? "-inf" : lo, isinf(r->hi) ? "inf" : hi,
                       r->hi_open ? ")" : "]");
    }
    if (c->kind == NN_OPTIM_NESTEROV && (c->momentum <= 0 || c->dampening != 0))
        return nn_fail(ctx, NN_ERR_INVALID,
                       "optimizer nesterov: momentum is %g and dampening %g; Nesterov "
                       "momentum needs momentum > 0 and dampening 0",
                       (double)c->momentum, (double)c->dampening);
    return NN_OK;
}

/* Rebuilds the runs of parameters that share a weight-decay flag. Buffers
 * (non-trainable, e.g. running statistics) belong to no run: no update,
 * no decay. */
static void build_segments(nn_optim *o)
{
    o->nsegs = 0;
    for (int i = 0; i < o->nparams; i++) {
        const nn_node *p = nn_graph_param(o->g, i);
        if (!nn_param_is_trainable(p))
            continue;
        int64_t off = nn_param_offset(p), len = nn_node_numel(p);
        struct nn_optim_seg *last = o->nsegs ? &o->segs[o->nsegs - 1] : NULL;
        if (last && last->decay == o->decay[i] && last->off + last->len == off)
            last->len += len;
        else
            o->segs[o->nsegs++] = (struct nn_optim_seg){off, len, o->decay[i]};
        if (o->af)
            o->af[i].decay = o->decay[i];
    }
}

int nn_optim_slots(const struct nn_optim_cfg *c)
{
    switch (c->kind) {
    case NN_OPTIM_SGD:
    case NN_OPTIM_MOMENTUM:
    case NN_OPTIM_NESTEROV: return c->momentum > 0;
    case NN_OPTIM_ADAGRAD: return 1;
    case NN_OPTIM_ADADELTA: return 2;
    case NN_OPTIM_RMSPROP: return 1 + c->centered + (c->momentum > 0);
    case NN_OPTIM_ADAM:
    case NN_OPTIM_ADAMW: return 2 + c->amsgrad;
    default: return 0; /* adafactor and lbfgs size their own state */
    }
}

void nn_optim_free(nn_optim *o)
{
    if (!o)
        return;
    free(o->decay);
    free(o->segs);
    free(o->af);
    free(o->work);
    nn_lbfgs_free(o->lb);
    nn_aligned_free(o->state);
    free(o);
}

nn_optim *nn_optim_new(nn_graph *g, const struct nn_optim_cfg *cfg)
{
    if (!g)
        return NULL;
    nn_ctx *ctx = nn_graph_ctx(g);
    if (!cfg) {
        nn_fail(ctx, NN_ERR_INVALID, "optimizer: no configuration given");
        return NULL;
    }
    if (!nn_optim_name(cfg->kind)) {
        nn_fail(ctx, NN_ERR_INVALID, "optimizer: unknown kind %d, expected 0..%d",
                (int)cfg->kind, NN_OPTIM_COUNT - 1);
        return NULL;
    }
    if (!nn_graph_param_block(g)) {
        nn_fail(ctx, NN_ERR_STATE, "optimizer %s: the graph is not compiled yet "
                "(call nn_graph_compile first)", nn_optim_name(cfg->kind));
        return NULL;
    }
    if (nn_graph_nparams(g) == 0) {
        nn_fail(ctx, NN_ERR_INVALID, "optimizer %s: the graph has no parameters to train",
                nn_optim_name(cfg->kind));
        return NULL;
    }
    struct nn_optim_cfg c = *cfg;
    nn_optim_defaults(&c);
    if (c.kind == NN_OPTIM_ADAMW || c.kind == NN_OPTIM_ADAFACTOR)
        c.decoupled = true; /* their decay is always decoupled */
    if (validate(ctx, &c) != NN_OK)
        return NULL;

    nn_optim *o = calloc(1, sizeof *o);
    if (!o)
        goto nomem;
    o->g = g;
    o->ctx = ctx;
    o->cfg = c;
    o->n = nn_graph_param_count(g);
    o->nparams = nn_graph_nparams(g);
    o->decay = malloc((size_t)o->nparams * sizeof *o->decay);
    o->segs = malloc((size_t)o->nparams * sizeof *o->segs);
    if (!o->decay || !o->segs)
        goto nomem;
    for (int i = 0; i < o->nparams; i++)
        o->decay[i] = true;
    build_segments(o);
    if (c.kind == NN_OPTIM_ADAFACTOR) {
        o->state_size = nn_adafactor_setup(o);
        if (o->state_size < 0)
            goto nomem;
    } else if (c.kind == NN_OPTIM_LBFGS) {
        o->state_size = nn_lbfgs_state_size(o);
        if (!nn_lbfgs_setup(o))
            goto nomem;
    } else {
        o->state_size = nn_optim_slots(&c) * o->n;
    }
    o->state = nn_aligned_alloc((size_t)o->state_size * sizeof(float));
    if (!o->state)
        goto nomem;
    memset(o->state, 0, (size_t)o->state_size * sizeof(float));
    if (c.kind == NN_OPTIM_ADAGRAD)
        for (int64_t i = 0; i < o->state_size; i++)
            o->state[i] = c.initial_accumulator_value;
    build_segments(o);
    return o;
nomem:
    nn_optim_free(o);
    nn_fail(ctx, NN_ERR_NOMEM, "optimizer %s: out of memory for its state",
            nn_optim_name(c.kind));
    return NULL;
}

/* Below this many parameters the update runs on one thread. */
#define PARALLEL_MIN_ELEMS (1 << 15)

struct step_job {
    nn_optim *o;
    void (*update)(nn_optim *, const struct nn_optim_args *, int64_t, int64_t);
    const struct nn_optim_args *decay, *plain;
    int64_t lo, hi; /* the range of the block to update */
};

static void step_part(void *arg, int t, int n)
{
    const struct step_job *j = arg;
    for (int s = 0; s < j->o->nsegs; s++) {
        const struct nn_optim_seg *seg = &j->o->segs[s];
        int64_t a = seg->off > j->lo ? seg->off : j->lo;
        int64_t b = seg->off + seg->len < j->hi ? seg->off + seg->len : j->hi;
        int64_t lo, hi;
        if (a >= b)
            continue;
        nn_split(b - a, 16, t, n, &lo, &hi);
        if (lo < hi)
            j->update(j->o, seg->decay ? j->decay : j->plain, a + lo, hi - lo);
    }
}

nn_status nn_optim_step(nn_optim *o)
{
    return nn_optim_step_range(o, 0, o ? o->n : 0);
}

enum nn_shard_kind nn_optim_shard_kind(const nn_optim *o)
{
    switch (o->cfg.kind) {
    case NN_OPTIM_SGD:
    case NN_OPTIM_MOMENTUM:
    case NN_OPTIM_NESTEROV:
    case NN_OPTIM_ADAGRAD:
    case NN_OPTIM_ADADELTA:
    case NN_OPTIM_RMSPROP:
    case NN_OPTIM_ADAM:
    case NN_OPTIM_ADAMW: return NN_SHARD_ELEMENTS;
    case NN_OPTIM_ADAFACTOR: return NN_SHARD_TENSORS;
    default: return NN_SHARD_NONE;
    }
}

int nn_optim_state_runs(const nn_optim *o)
{
    return o->cfg.kind == NN_OPTIM_ADAFACTOR ? 1 : nn_optim_slots(&o->cfg);
}

void nn_optim_state_span(const nn_optim *o, int run, int64_t lo, int64_t hi, int64_t *slo,
                         int64_t *shi)
{
    if (o->cfg.kind != NN_OPTIM_ADAFACTOR) { /* slots laid out as the block */
        *slo = run * o->n + lo;
        *shi = run * o->n + hi;
        return;
    }
    *slo = *shi = o->state_size; /* an offset at the end: the end of the state */
    for (int i = o->nparams - 1; i >= 0; i--) {
        if (o->af[i].off >= lo)
            *slo = o->af[i].soff;
        if (o->af[i].off >= hi)
            *shi = o->af[i].soff;
    }
}

nn_status nn_optim_step_range(nn_optim *o, int64_t lo, int64_t hi)
{
    if (!o)
        return NN_ERR_INVALID;
    const struct nn_optim_cfg *c = &o->cfg;
    if (!(c->lr >= 0) || isinf(c->lr))
        return nn_fail(o->ctx, NN_ERR_INVALID,
                       "optimizer %s: learning rate is %g, expected a finite value >= 0",
                       nn_optim_name(c->kind), (double)c->lr);
    if (c->kind == NN_OPTIM_LBFGS)
        return nn_fail(o->ctx, NN_ERR_INVALID,
                       "optimizer lbfgs evaluates the loss several times per step: call "
                       "nn_optim_step_closure with a function that runs forward and "
                       "backward on the same data");
    o->steps++;
    if (c->kind == NN_OPTIM_ADAFACTOR) {
        nn_adafactor_step(o, lo, hi);
        return NN_OK;
    }
    void (*update)(nn_optim *, const struct nn_optim_args *, int64_t, int64_t);
    switch (c->kind) {
    case NN_OPTIM_ADAGRAD: update = nn_optim_adagrad_update; break;
    case NN_OPTIM_ADADELTA: update = nn_optim_adadelta_update; break;
    case NN_OPTIM_RMSPROP: update = nn_optim_rmsprop_update; break;
    case NN_OPTIM_ADAM:
    case NN_OPTIM_ADAMW: update = nn_optim_adam_update; break;
    default: update = nn_optim_sgd_update; break;
    }
    struct nn_optim_args decay = {.wd_coupled = 0, .keep = 1}, plain = decay;
    if (c->weight_decay != 0) {
        if (c->decoupled)
            decay.keep = (float)(1.0 - (double)c->lr * c->weight_decay);
        else
            decay.wd_coupled = c->weight_decay;
    }
    /* Every element's update is independent: each thread takes an equal
     * share of every segment (cut at multiples of 16 floats), so the result
     * is the same for any thread count. */
    nn_graph_grad_block(o->g); /* materializes deferred zeros before the threads read */
    struct step_job j = {o, update, &decay, &plain, lo, hi};
    nn_pool_run(hi - lo >= PARALLEL_MIN_ELEMS ? nn_ctx_pool(o->ctx) : NULL, step_part, &j);
    return NN_OK;
}

nn_status nn_optim_step_closure(nn_optim *o, nn_optim_closure f, void *user, double *loss)
{
    if (!o)
        return NN_ERR_INVALID;
    double first = NAN;
    if (!f)
        return nn_fail(o->ctx, NN_ERR_INVALID, "optimizer %s: no closure given",
                       nn_optim_name(o->cfg.kind));
    nn_status st;
    if (o->cfg.kind != NN_OPTIM_LBFGS) {
        if ((st = f(user, &first)) == NN_OK)
            st = nn_optim_step(o);
    } else if (!(o->cfg.lr >= 0) || isinf(o->cfg.lr)) {
        st = nn_fail(o->ctx, NN_ERR_INVALID,
                     "optimizer lbfgs: learning rate is %g, expected a finite value >= 0",
                     (double)o->cfg.lr);
    } else if ((st = nn_lbfgs_step(o, f, user, &first)) == NN_OK) {
        o->steps++;
    }
    if (loss)
        *loss = first;
    return st;
}

float nn_optim_lr(const nn_optim *o) { return o->cfg.lr; }
void nn_optim_set_lr(nn_optim *o, float lr) { o->cfg.lr = lr; }

nn_status nn_optim_set_decay(nn_optim *o, const nn_node *param, bool on)
{
    if (!o)
        return NN_ERR_INVALID;
    for (int i = 0; i < o->nparams; i++)
        if (nn_graph_param(o->g, i) == param) {
            o->decay[i] = on;
            build_segments(o);
            return NN_OK;
        }
    return nn_fail(o->ctx, NN_ERR_INVALID,
                   "optimizer: weight decay: '%s' is not a parameter of the optimizer's graph",
                   param ? nn_node_name(param) : "(null)");
}

int64_t nn_optim_state_size(const nn_optim *o) { return o->state_size; }
float *nn_optim_state(nn_optim *o) { return o->state; }
int64_t nn_optim_steps(const nn_optim *o) { return o->steps; }
void nn_optim_set_steps(nn_optim *o, int64_t steps) { o->steps = steps > 0 ? steps : 0; }
const struct nn_optim_cfg *nn_optim_config(const nn_optim *o) { return &o->cfg; }
