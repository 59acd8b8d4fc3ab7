/*
 * test_optim.c - the optimizers against PyTorch: every fixture written by
 * tests/ref/gen_optim.py (torch.optim of PyTorch 1.13 in float64, and the
 * NumPy Adafactor of tests/ref/adafactor_ref.py) is replayed by writing its
 * gradients into the graph's gradient block and checking the parameters
 * after every step. Also: convergence on a least-squares problem built with
 * the graph API, configuration validation, exact continuation after a
 * state save/restore, and the weight-decay exclusion of a parameter.
 *
 * Fixture format (see gen_optim.py): one text header line
 *   NNOPTFIX1 name=... kind=... steps=S shapes=4x3,3,2x2x3 [field=value ...]
 * then little-endian float64 init[P], grads[S][P], ref64[S][P], ref32[S][P].
 *
 * Set NN_OPTIM_REPORT=1 to print each fixture's largest deviations.
 */
#include "test.h"

#include <float.h>

/* Tolerance of a fixture check: |x - ref| <= ATOL + RTOL |ref|. */
#define RTOL 1e-5
#define ATOL 1e-6

#define MAX_SHAPES 4

struct fixture {
    char name[64];
    struct nn_optim_cfg cfg;
    int steps;
    int nshapes;
    int ndim[MAX_SHAPES];
    int64_t dims[MAX_SHAPES][NN_MAX_DIMS];
    bool nodecay[MAX_SHAPES];
    int64_t P;
    double *data; /* init, grads, ref64, ref32 */
    const double *init, *grads, *ref64, *ref32;
};

static bool set_cfg_field(struct nn_optim_cfg *c, const char *key, const char *val)
{
    static const struct {
        const char *name;
        size_t off;
    } floats[] = {
#define F(x) {#x, offsetof(struct nn_optim_cfg, x)}
        F(lr), F(momentum), F(dampening), F(weight_decay), F(beta1), F(beta2), F(eps),
        F(eps2), F(rho), F(alpha), F(lr_decay), F(initial_accumulator_value),
        F(beta2_decay), F(clip_threshold),
#undef F
    };
    for (size_t i = 0; i < sizeof floats / sizeof floats[0]; i++)
        if (strcmp(key, floats[i].name) == 0) {
            *(float *)((char *)c + floats[i].off) = strtof(val, NULL);
            return true;
        }
    bool on = strcmp(val, "0") != 0;
    if (strcmp(key, "decoupled") == 0)
        c->decoupled = on;
    else if (strcmp(key, "amsgrad") == 0)
        c->amsgrad = on;
    else if (strcmp(key, "centered") == 0)
        c->centered = on;
    else
        return false;
    return true;
}

static double le_double(const unsigned char *b)
{
    uint64_t u = 0;
    for (int i = 7; i >= 0; i--)
        u = u << 8 | b[i];
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Reads tests/ref/optim/NAME.bin; fails the test on any problem. */
static void load_fixture(const char *name, struct fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    char rel[128];
    snprintf(rel, sizeof rel, "ref/optim/%s.bin", name);
    const char *path = nn_test_path(rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s (run tests/ref/gen_optim.py)", path);
    static char head[1024];
    if (!fgets(head, sizeof head, f) || !strchr(head, '\n'))
        fail_msg("%s: no header line", path);
    *strchr(head, '\n') = 0;
    char *save = NULL, *tok = strtok_r(head, " ", &save);
    if (!tok || strcmp(tok, "NNOPTFIX1") != 0)
        fail_msg("%s: bad magic '%s'", path, tok ? tok : "");
    bool have_kind = false;
    while ((tok = strtok_r(NULL, " ", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq)
            fail_msg("%s: header token '%s' is not key=value", path, tok);
        *eq = 0;
        const char *key = tok, *val = eq + 1;
        if (strcmp(key, "name") == 0) {
            snprintf(fx->name, sizeof fx->name, "%s", val);
        } else if (strcmp(key, "kind") == 0) {
            int k = nn_optim_parse(val);
            if (k < 0)
                fail_msg("%s: unknown kind '%s'", path, val);
            fx->cfg.kind = (nn_optim_kind)k;
            have_kind = true;
        } else if (strcmp(key, "steps") == 0) {
            fx->steps = atoi(val);
        } else if (strcmp(key, "shapes") == 0) {
            char *s2 = NULL;
            for (char *sh = strtok_r((char *)val, ",", &s2); sh; sh = strtok_r(NULL, ",", &s2)) {
                assert_true(fx->nshapes < MAX_SHAPES);
                int d = 0;
                for (char *p = sh; *p; d++) {
                    assert_true(d < NN_MAX_DIMS);
                    fx->dims[fx->nshapes][d] = strtoll(p, &p, 10);
                    if (*p == 'x')
                        p++;
                }
                fx->ndim[fx->nshapes++] = d;
            }
        } else if (strcmp(key, "nodecay") == 0) {
            for (const char *p = val; *p;) {
                long i = strtol(p, (char **)&p, 10);
                assert_true(i >= 0 && i < MAX_SHAPES);
                fx->nodecay[i] = true;
                if (*p == ',')
                    p++;
            }
        } else if (!set_cfg_field(&fx->cfg, key, val)) {
            fail_msg("%s: unknown header field '%s'", path, key);
        }
    }
    if (!have_kind || fx->steps < 1 || fx->nshapes < 1)
        fail_msg("%s: header lacks kind, steps or shapes", path);
    for (int s = 0; s < fx->nshapes; s++) {
        int64_t n = 1;
        for (int d = 0; d < fx->ndim[s]; d++)
            n *= fx->dims[s][d];
        fx->P += n;
    }
    size_t count = (size_t)(fx->P * (1 + 3 * (int64_t)fx->steps));
    unsigned char *raw = malloc(count * 8 + 1);
    fx->data = malloc(count * sizeof(double));
    assert_non_null(raw);
    assert_non_null(fx->data);
    size_t got = fread(raw, 1, count * 8 + 1, f);
    fclose(f);
    if (got != count * 8)
        fail_msg("%s: %zu data bytes, expected %zu", path, got, count * 8);
    for (size_t i = 0; i < count; i++)
        fx->data[i] = le_double(raw + 8 * i);
    free(raw);
    int64_t SP = fx->steps * fx->P;
    fx->init = fx->data;
    fx->grads = fx->init + fx->P;
    fx->ref64 = fx->grads + SP;
    fx->ref32 = fx->ref64 + SP;
}

/* A compiled graph holding one parameter per shape and nothing else. */
struct pgraph {
    nn_ctx *ctx;
    nn_graph *g;
    nn_node *p[MAX_SHAPES];
    int np;
};

static void pgraph_build(struct pgraph *pg, int np, const int *ndim,
                         const int64_t (*dims)[NN_MAX_DIMS], uint64_t seed)
{
    pg->ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = seed, .threads = 1});
    pg->g = nn_graph_new(pg->ctx);
    pg->np = np;
    for (int i = 0; i < np; i++) {
        char name[16];
        snprintf(name, sizeof name, "p%d", i);
        pg->p[i] = nn_param(pg->g, name, ndim[i], dims[i],
                            (struct nn_init){.kind = NN_INIT_NORMAL, .a = 0, .b = 1});
    }
    assert_ok(pg->ctx, nn_graph_compile(pg->g, pg->p, np, 1));
}

static void pgraph_free(struct pgraph *pg)
{
    nn_graph_free(pg->g);
    nn_ctx_free(pg->ctx);
}

static const char *const fixture_names[] = {
    "sgd", "sgd_wd", "sgd_wd_nodecay", "sgd_decoupled",
    "momentum", "momentum_damp", "momentum_decoupled", "nesterov",
    "adagrad", "adagrad_decay", "adadelta", "adadelta_wd",
    "rmsprop", "rmsprop_centered_momentum", "rmsprop_momentum",
    "adam", "adam_defaults", "adam_amsgrad", "adam_wd",
    "adamw", "adamw_defaults", "adamw_amsgrad_nodecay",
    "adafactor", "adafactor_wd", "adafactor_floor",
    "sgd_all", "nesterov_all", "adagrad_all", "adadelta_all", "rmsprop_all", "adam_all",
    "adamw_all", "adafactor_all"};

int nn_test_optim_fixtures(const char *const **names)
{
    *names = fixture_names;
    return (int)(sizeof fixture_names / sizeof fixture_names[0]);
}

void nn_test_optim_fixture_cfg(const char *name, struct nn_optim_cfg *cfg)
{
    struct fixture fx;
    load_fixture(name, &fx);
    *cfg = fx.cfg;
    free(fx.data);
}

/* Replays fixture fx with configuration cfg; fails the test on the first
 * element off torch's (float64) trajectory. */
static void replay(const struct fixture *fx, const struct nn_optim_cfg *cfg, bool report)
{
    struct pgraph pg;
    pgraph_build(&pg, fx->nshapes, fx->ndim, (const int64_t(*)[NN_MAX_DIMS])fx->dims, 1);
    assert_int_equal(nn_graph_param_count(pg.g), fx->P);
    float *P = nn_graph_param_block(pg.g), *G = nn_graph_grad_block(pg.g);
    for (int64_t i = 0; i < fx->P; i++)
        P[i] = (float)fx->init[i];
    nn_optim *o = nn_optim_new(pg.g, cfg);
    if (!o)
        fail_msg("%s: %s", fx->name, nn_ctx_error(pg.ctx));
    for (int i = 0; i < fx->nshapes; i++)
        if (fx->nodecay[i])
            assert_ok(pg.ctx, nn_optim_set_decay(o, pg.p[i], false));
    double max_abs = 0, max_rel = 0, t32_abs = 0, used = 0;
    for (int s = 0; s < fx->steps; s++) {
        for (int64_t i = 0; i < fx->P; i++)
            G[i] = (float)fx->grads[s * fx->P + i];
        assert_ok(pg.ctx, nn_optim_step(o));
        assert_int_equal(nn_optim_steps(o), s + 1);
        for (int64_t i = 0; i < fx->P; i++) {
            double ref = fx->ref64[s * fx->P + i], d = fabs(P[i] - ref);
            if (!(d <= ATOL + RTOL * fabs(ref)))
                fail_msg("%s: step %d, parameter element %lld: %.9g, torch (float64) "
                         "%.9g (rtol %g, atol %g)",
                         fx->name, s + 1, (long long)i, (double)P[i], ref, RTOL, ATOL);
            if (d > max_abs)
                max_abs = d;
            if (fabs(ref) > 1e-2 && d / fabs(ref) > max_rel)
                max_rel = d / fabs(ref);
            if (d / (ATOL + RTOL * fabs(ref)) > used)
                used = d / (ATOL + RTOL * fabs(ref));
            double d32 = fabs(fx->ref32[s * fx->P + i] - ref);
            if (d32 > t32_abs)
                t32_abs = d32;
        }
    }
    if (report)
        print_message("%-26s max abs %.2e  max rel %.2e (|ref| > 0.01)  %3.0f%% of "
                      "tolerance  (torch float32: max abs %.2e)\n",
                      fx->name, max_abs, max_rel, 100 * used, t32_abs);
    nn_optim_free(o);
    pgraph_free(&pg);
}

void nn_test_optim_replay(const char *name, const struct nn_optim_cfg *cfg)
{
    struct fixture fx;
    load_fixture(name, &fx);
    replay(&fx, cfg, false);
    free(fx.data);
}

static void torch_fixtures(void **state)
{
    (void)state;
    bool report = getenv("NN_OPTIM_REPORT") != NULL;
    int kinds_seen[NN_OPTIM_COUNT] = {0};
    for (size_t k = 0; k < sizeof fixture_names / sizeof fixture_names[0]; k++) {
        struct fixture fx;
        load_fixture(fixture_names[k], &fx);
        assert_string_equal(fx.name, fixture_names[k]);
        kinds_seen[fx.cfg.kind]++;
        replay(&fx, &fx.cfg, report);
        free(fx.data);
    }
    for (int k = 0; k < NN_OPTIM_COUNT; k++)
        if (!kinds_seen[k] && k != NN_OPTIM_LBFGS) /* lbfgs: test_lbfgs.c's closures */
            fail_msg("no fixture covers optimizer %s", nn_optim_name((nn_optim_kind)k));
}

/* A fixture that disagrees must fail: perturb one gradient and replay. */
static void fixture_check_can_fail(void **state)
{
    (void)state;
    struct fixture fx;
    load_fixture("adam", &fx);
    struct pgraph pg;
    pgraph_build(&pg, fx.nshapes, fx.ndim, (const int64_t(*)[NN_MAX_DIMS])fx.dims, 1);
    float *P = nn_graph_param_block(pg.g), *G = nn_graph_grad_block(pg.g);
    for (int64_t i = 0; i < fx.P; i++)
        P[i] = (float)fx.init[i];
    nn_optim *o = nn_optim_new(pg.g, &fx.cfg);
    assert_non_null(o);
    for (int64_t i = 0; i < fx.P; i++)
        G[i] = (float)fx.grads[i];
    G[5] = -G[5]; /* one flipped sign reverses one element of Adam's first step */
    assert_ok(pg.ctx, nn_optim_step(o));
    int bad = 0;
    for (int64_t i = 0; i < fx.P; i++)
        bad += !(fabs(P[i] - fx.ref64[i]) <= ATOL + RTOL * fabs(fx.ref64[i]));
    assert_int_equal(bad, 1);
    nn_optim_free(o);
    pgraph_free(&pg);
    free(fx.data);
}

/* ---- convergence on least squares -------------------------------------- */

static double train_linear(nn_optim_kind kind, float lr, bool variant, double *first)
{
    enum { N = 64, D = 5 };
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 7, .threads = 1});
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){D});
    nn_node *t = nn_input(g, "t", 1, (int64_t[]){1});
    nn_node *W = nn_param(g, "W", 2, (int64_t[]){1, D},
                          (struct nn_init){.kind = NN_INIT_NORMAL, .a = 0, .b = 0.5f});
    nn_node *b = nn_param(g, "b", 1, (int64_t[]){1}, (struct nn_init){.kind = NN_INIT_ZEROS});
    nn_node *L = nn_mse(g, nn_add(g, nn_matmul(g, x, W, true), b), t);
    assert_ok(ctx, nn_graph_compile(g, &L, 1, N));
    float X[N * D], T[N];
    const float w_true[D] = {1.5f, -2.0f, 0.5f, 3.0f, -1.0f};
    for (int i = 0; i < N; i++) {
        double s = 0.7;
        for (int j = 0; j < D; j++) {
            X[i * D + j] = nn_rand_normal(ctx);
            s += w_true[j] * X[i * D + j];
        }
        T[i] = (float)s;
    }
    assert_ok(ctx, nn_feed(g, x, X, N));
    assert_ok(ctx, nn_feed(g, t, T, N));
    struct nn_optim_cfg c = {.kind = kind, .lr = lr};
    if (variant && kind == NN_OPTIM_ADAM)
        c.amsgrad = true;
    if (variant && kind == NN_OPTIM_RMSPROP) {
        c.centered = true;
        c.momentum = 0.5f;
    }
    nn_optim *o = nn_optim_new(g, &c);
    if (!o)
        fail_msg("%s", nn_ctx_error(ctx));
    double loss = 0;
    for (int it = 0; it < 200; it++) {
        nn_zero_grad(g);
        assert_ok(ctx, nn_forward(g));
        loss = nn_value(L)[0];
        if (it == 0)
            *first = loss;
        assert_ok(ctx, nn_backward(g, L));
        assert_ok(ctx, nn_optim_step(o));
    }
    assert_ok(ctx, nn_forward(g));
    loss = nn_value(L)[0];
    nn_optim_free(o);
    nn_graph_free(g);
    nn_ctx_free(ctx);
    return loss;
}

static void convergence(void **state)
{
    (void)state;
    static const struct {
        nn_optim_kind kind;
        float lr;
        bool variant;
        double max_ratio; /* final / initial loss must be below this */
    } runs[] = {
        {NN_OPTIM_SGD, 0.05f, false, 1e-8},
        {NN_OPTIM_MOMENTUM, 0.01f, false, 1e-6},
        {NN_OPTIM_NESTEROV, 0.01f, false, 1e-8},
        {NN_OPTIM_ADAGRAD, 0.5f, false, 1e-8},
        {NN_OPTIM_ADADELTA, 0, false, 0.6}, /* torch's lr 1: slow to start */
        {NN_OPTIM_RMSPROP, 0.05f, false, 1e-3},
        {NN_OPTIM_RMSPROP, 0.01f, true, 1e-4},
        {NN_OPTIM_ADAM, 0.1f, false, 1e-6},
        {NN_OPTIM_ADAM, 0.1f, true, 1e-6},
        {NN_OPTIM_ADAMW, 0.1f, false, 1e-3},
        {NN_OPTIM_ADAFACTOR, 0.1f, false, 1e-2},
    };
    bool report = getenv("NN_OPTIM_REPORT") != NULL;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        double first = 0, last = train_linear(runs[i].kind, runs[i].lr, runs[i].variant, &first);
        if (report)
            print_message("%-10s%s lr %-5g loss %.4g -> %.3g (ratio %.2g)\n",
                          nn_optim_name(runs[i].kind), runs[i].variant ? "*" : " ",
                          (double)runs[i].lr, first, last, last / first);
        if (!(last < runs[i].max_ratio * first))
            fail_msg("%s%s: loss %.6g after 200 steps from %.6g, expected below %g of it",
                     nn_optim_name(runs[i].kind), runs[i].variant ? " (variant)" : "", last,
                     first, runs[i].max_ratio);
    }
}

/* ---- validation ---------------------------------------------------------- */

static void validation_errors(void **state)
{
    (void)state;
    static const struct {
        struct nn_optim_cfg cfg;
        const char *want1, *want2; /* both must appear in the message */
    } bad[] = {
        {{.kind = NN_OPTIM_SGD, .lr = -1}, "lr", "-1"},
        {{.kind = NN_OPTIM_SGD, .weight_decay = -0.1f}, "weight_decay", "-0.1"},
        {{.kind = NN_OPTIM_MOMENTUM, .momentum = 1}, "momentum", "[0, 1)"},
        {{.kind = NN_OPTIM_MOMENTUM, .momentum = -0.5f}, "momentum", "-0.5"},
        {{.kind = NN_OPTIM_MOMENTUM, .dampening = 1.5f}, "dampening", "1.5"},
        {{.kind = NN_OPTIM_NESTEROV, .momentum = 0.9f, .dampening = 0.1f}, "dampening", "0.1"},
        {{.kind = NN_OPTIM_NESTEROV, .momentum = -0.1f}, "momentum", "-0.1"},
        {{.kind = NN_OPTIM_ADAGRAD, .eps = -1e-3f}, "eps", "-0.001"},
        {{.kind = NN_OPTIM_ADAGRAD, .lr_decay = -1}, "lr_decay", "-1"},
        {{.kind = NN_OPTIM_ADAGRAD, .initial_accumulator_value = -2}, "initial_accumulator_value", "-2"},
        {{.kind = NN_OPTIM_ADADELTA, .rho = 1.5f}, "rho", "1.5"},
        {{.kind = NN_OPTIM_RMSPROP, .alpha = 2}, "alpha", "2"},
        {{.kind = NN_OPTIM_RMSPROP, .momentum = 1}, "momentum", "1"},
        {{.kind = NN_OPTIM_ADAM, .beta1 = 1}, "beta1", "1"},
        {{.kind = NN_OPTIM_ADAMW, .beta2 = -0.1f}, "beta2", "-0.1"},
        {{.kind = NN_OPTIM_ADAM, .lr = NAN}, "lr", "nan"},
        {{.kind = NN_OPTIM_ADAM, .eps = INFINITY}, "eps", "inf"},
        {{.kind = NN_OPTIM_ADAFACTOR, .clip_threshold = 0.5f}, "clip_threshold", "0.5"},
        {{.kind = NN_OPTIM_ADAFACTOR, .beta2_decay = 0.5f}, "beta2_decay", "0.5"},
        {{.kind = NN_OPTIM_ADAFACTOR, .eps2 = -1}, "eps2", "-1"},
        {{.kind = NN_OPTIM_SGD, .amsgrad = true}, "amsgrad", "adam"},
        {{.kind = NN_OPTIM_SGD, .beta1 = 0.9f}, "beta1", "sgd"},
        {{.kind = NN_OPTIM_ADAM, .momentum = 0.9f}, "momentum", "adam"},
        {{.kind = NN_OPTIM_ADAM, .centered = true}, "centered", "rmsprop"},
        {{.kind = (nn_optim_kind)99}, "kind", "99"},
    };
    struct pgraph pg;
    pgraph_build(&pg, 2, (int[]){2, 1}, (const int64_t[][NN_MAX_DIMS]){{2, 2}, {2}}, 1);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nn_ctx_clear_error(pg.ctx);
        nn_optim *o = nn_optim_new(pg.g, &bad[i].cfg);
        const char *msg = nn_ctx_error(pg.ctx);
        if (o)
            fail_msg("case %zu (%s) was accepted", i, bad[i].want1);
        if (!strstr(msg, bad[i].want1) || !strstr(msg, bad[i].want2))
            fail_msg("case %zu: message '%s' should name '%s' and '%s'", i, msg,
                     bad[i].want1, bad[i].want2);
    }
    assert_null(nn_optim_new(pg.g, NULL));
    assert_null(nn_optim_new(NULL, &(struct nn_optim_cfg){0}));

    /* A valid configuration of each kind is accepted. */
    for (int k = 0; k < NN_OPTIM_COUNT; k++) {
        nn_optim *o = nn_optim_new(pg.g, &(struct nn_optim_cfg){.kind = (nn_optim_kind)k});
        if (!o)
            fail_msg("default %s rejected: %s", nn_optim_name((nn_optim_kind)k),
                     nn_ctx_error(pg.ctx));
        /* a negative rate set later is refused at the step */
        nn_optim_set_lr(o, -0.5f);
        assert_int_equal(nn_optim_step(o), NN_ERR_INVALID);
        assert_non_null(strstr(nn_ctx_error(pg.ctx), "-0.5"));
        assert_int_equal(nn_optim_steps(o), 0);
        nn_optim_free(o);
    }

    /* Weight decay of a node that is not one of the graph's parameters. */
    nn_optim *o = nn_optim_new(pg.g, &(struct nn_optim_cfg){.kind = NN_OPTIM_SGD});
    assert_non_null(o);
    struct pgraph other;
    pgraph_build(&other, 1, (int[]){1}, (const int64_t[][NN_MAX_DIMS]){{3}}, 2);
    assert_int_equal(nn_optim_set_decay(o, other.p[0], false), NN_ERR_INVALID);
    assert_non_null(strstr(nn_ctx_error(pg.ctx), "p0"));
    nn_optim_free(o);
    pgraph_free(&other);
    pgraph_free(&pg);

    /* An uncompiled graph. */
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_graph *g = nn_graph_new(ctx);
    nn_param(g, "w", 1, (int64_t[]){3}, (struct nn_init){.kind = NN_INIT_ZEROS});
    assert_null(nn_optim_new(g, &(struct nn_optim_cfg){.kind = NN_OPTIM_ADAM}));
    assert_non_null(strstr(nn_ctx_error(ctx), "compile"));
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

static void names_and_defaults(void **state)
{
    (void)state;
    for (int k = 0; k < NN_OPTIM_COUNT; k++) {
        const char *n = nn_optim_name((nn_optim_kind)k);
        assert_non_null(n);
        assert_int_equal(nn_optim_parse(n), k);
    }
    assert_null(nn_optim_name(NN_OPTIM_COUNT));
    assert_int_equal(nn_optim_parse("adamax"), -1);
    assert_int_equal(nn_optim_parse(NULL), -1);
    struct nn_optim_cfg c = {.kind = NN_OPTIM_ADAMW};
    nn_optim_defaults(&c);
    assert_true(c.lr == 1e-3f && c.beta1 == 0.9f && c.beta2 == 0.999f && c.eps == 1e-8f);
    assert_true(c.weight_decay == 1e-2f && c.decoupled);
    c = (struct nn_optim_cfg){.kind = NN_OPTIM_ADAGRAD, .lr = 0.5f};
    nn_optim_defaults(&c);
    assert_true(c.lr == 0.5f && c.eps == 1e-10f && c.lr_decay == 0);
    c = (struct nn_optim_cfg){.kind = NN_OPTIM_ADADELTA};
    nn_optim_defaults(&c);
    assert_true(c.lr == 1.0f && c.rho == 0.9f && c.eps == 1e-6f);
    c = (struct nn_optim_cfg){.kind = NN_OPTIM_RMSPROP};
    nn_optim_defaults(&c);
    assert_true(c.lr == 0.01f && c.alpha == 0.99f && c.eps == 1e-8f && c.momentum == 0);
    c = (struct nn_optim_cfg){.kind = NN_OPTIM_ADAFACTOR};
    nn_optim_defaults(&c);
    assert_true(c.lr == 0.01f && c.eps == FLT_EPSILON && c.eps2 == 1e-3f);
    assert_true(c.beta2_decay == -0.8f && c.clip_threshold == 1.0f && c.weight_decay == 0);
    c = (struct nn_optim_cfg){.kind = NN_OPTIM_NESTEROV};
    nn_optim_defaults(&c);
    assert_true(c.lr == 0.01f && c.momentum == 0.9f && c.dampening == 0);
    c = (struct nn_optim_cfg){.kind = NN_OPTIM_SGD};
    nn_optim_defaults(&c);
    assert_true(c.lr == 0.01f && c.momentum == 0);

    /* State sizes over shapes (4, 3), (3), (2, 2, 3): P = 27. */
    struct pgraph pg;
    pgraph_build(&pg, 3, (int[]){2, 1, 3},
                 (const int64_t[][NN_MAX_DIMS]){{4, 3}, {3}, {2, 2, 3}}, 1);
    static const struct {
        struct nn_optim_cfg cfg;
        int64_t size;
    } sizes[] = {
        {{.kind = NN_OPTIM_SGD}, 0},
        {{.kind = NN_OPTIM_MOMENTUM}, 27},
        {{.kind = NN_OPTIM_ADAGRAD}, 27},
        {{.kind = NN_OPTIM_ADADELTA}, 54},
        {{.kind = NN_OPTIM_RMSPROP}, 27},
        {{.kind = NN_OPTIM_RMSPROP, .centered = true, .momentum = 0.5f}, 81},
        {{.kind = NN_OPTIM_ADAM}, 54},
        {{.kind = NN_OPTIM_ADAMW, .amsgrad = true}, 81},
        /* rows + cols: (4 + 3) + 3 + 2 * (2 + 3) */
        {{.kind = NN_OPTIM_ADAFACTOR}, 20},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        nn_optim *o = nn_optim_new(pg.g, &sizes[i].cfg);
        assert_non_null(o);
        assert_int_equal(nn_optim_state_size(o), sizes[i].size);
        assert_int_equal(nn_optim_config(o)->kind, sizes[i].cfg.kind);
        nn_optim_free(o);
    }
    /* Adagrad's accumulator starts at initial_accumulator_value. */
    nn_optim *o = nn_optim_new(pg.g, &(struct nn_optim_cfg){
                                         .kind = NN_OPTIM_ADAGRAD,
                                         .initial_accumulator_value = 0.25f});
    for (int64_t i = 0; i < nn_optim_state_size(o); i++)
        assert_true(nn_optim_state(o)[i] == 0.25f);
    nn_optim_free(o);
    pgraph_free(&pg);
}

/* ---- state save and restore -------------------------------------------- */

static const struct nn_optim_cfg continuity_cfgs[] = {
    {.kind = NN_OPTIM_SGD, .lr = 0.1f, .weight_decay = 0.01f},
    {.kind = NN_OPTIM_MOMENTUM, .lr = 0.05f, .dampening = 0.2f},
    {.kind = NN_OPTIM_NESTEROV, .lr = 0.05f, .weight_decay = 0.1f, .decoupled = true},
    {.kind = NN_OPTIM_ADAGRAD, .lr = 0.1f, .lr_decay = 0.1f},
    {.kind = NN_OPTIM_ADADELTA},
    {.kind = NN_OPTIM_RMSPROP, .centered = true, .momentum = 0.9f},
    {.kind = NN_OPTIM_ADAM, .lr = 0.05f, .amsgrad = true},
    {.kind = NN_OPTIM_ADAMW, .lr = 0.05f},
    {.kind = NN_OPTIM_ADAFACTOR, .weight_decay = 0.1f},
};

static void fill_grads(nn_ctx *ctx, float *G, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        G[i] = nn_rand_normal(ctx);
}

static void state_restore_continues_exactly(void **state)
{
    (void)state;
    const int ndim[3] = {2, 1, 3};
    const int64_t dims[3][NN_MAX_DIMS] = {{4, 3}, {3}, {2, 2, 3}};
    enum { FIRST = 6, THEN = 6 };
    for (size_t k = 0; k < sizeof continuity_cfgs / sizeof continuity_cfgs[0]; k++) {
        const struct nn_optim_cfg *cfg = &continuity_cfgs[k];
        const char *kn = nn_optim_name(cfg->kind);
        struct pgraph a, b;
        pgraph_build(&a, 3, ndim, dims, 11);
        pgraph_build(&b, 3, ndim, dims, 99); /* different initial values */
        int64_t n = nn_graph_param_count(a.g);
        nn_optim *oa = nn_optim_new(a.g, cfg);
        assert_non_null(oa);
        assert_ok(a.ctx, nn_optim_set_decay(oa, a.p[1], false));
        float *PA = nn_graph_param_block(a.g), *GA = nn_graph_grad_block(a.g);
        for (int s = 0; s < FIRST; s++) {
            fill_grads(a.ctx, GA, n);
            assert_ok(a.ctx, nn_optim_step(oa));
        }
        /* checkpoint: parameters, state block, step count */
        int64_t ss = nn_optim_state_size(oa);
        float *ckp = malloc((size_t)n * sizeof *ckp);
        float *cks = malloc((size_t)(ss ? ss : 1) * sizeof *cks);
        memcpy(ckp, PA, (size_t)n * sizeof *ckp);
        memcpy(cks, nn_optim_state(oa), (size_t)ss * sizeof *cks);
        int64_t steps = nn_optim_steps(oa);
        assert_int_equal(steps, FIRST);
        float grads[THEN][27];
        assert_int_equal(n, 27);
        for (int s = 0; s < THEN; s++) {
            fill_grads(a.ctx, grads[s], n);
            memcpy(GA, grads[s], sizeof grads[s]);
            assert_ok(a.ctx, nn_optim_step(oa));
        }
        /* restore into a fresh optimizer on another graph */
        nn_optim *ob = nn_optim_new(b.g, cfg);
        assert_non_null(ob);
        assert_ok(b.ctx, nn_optim_set_decay(ob, b.p[1], false));
        assert_int_equal(nn_optim_state_size(ob), ss);
        float *PB = nn_graph_param_block(b.g), *GB = nn_graph_grad_block(b.g);
        memcpy(PB, ckp, (size_t)n * sizeof *ckp);
        memcpy(nn_optim_state(ob), cks, (size_t)ss * sizeof *cks);
        nn_optim_set_steps(ob, steps);
        for (int s = 0; s < THEN; s++) {
            memcpy(GB, grads[s], sizeof grads[s]);
            assert_ok(b.ctx, nn_optim_step(ob));
        }
        if (memcmp(PA, PB, (size_t)n * sizeof *PA) != 0)
            fail_msg("%s: parameters differ after restoring the state", kn);
        if (memcmp(nn_optim_state(oa), nn_optim_state(ob), (size_t)ss * sizeof(float)) != 0)
            fail_msg("%s: state differs after restoring it", kn);
        assert_int_equal(nn_optim_steps(ob), FIRST + THEN);

        /* Forgetting the step count must show (bias corrections, the
         * first-step buffer, Adagrad's decayed rate, Adafactor's beta2). */
        if (cfg->kind != NN_OPTIM_SGD && cfg->kind != NN_OPTIM_ADADELTA &&
            cfg->kind != NN_OPTIM_RMSPROP) {
            nn_optim *oc = nn_optim_new(b.g, cfg);
            memcpy(PB, ckp, (size_t)n * sizeof *ckp);
            memcpy(nn_optim_state(oc), cks, (size_t)ss * sizeof *cks);
            for (int s = 0; s < THEN; s++) {
                memcpy(GB, grads[s], sizeof grads[s]);
                assert_ok(b.ctx, nn_optim_step(oc));
            }
            if (memcmp(PA, PB, (size_t)n * sizeof *PA) == 0)
                fail_msg("%s: the step count made no difference", kn);
            nn_optim_free(oc);
        }
        nn_optim_free(oa);
        nn_optim_free(ob);
        free(ckp);
        free(cks);
        pgraph_free(&a);
        pgraph_free(&b);
    }
}

/* ---- weight-decay exclusion -------------------------------------------- */

static void decay_exclusion(void **state)
{
    (void)state;
    static const struct {
        struct nn_optim_cfg cfg;
        float w_after; /* W starts at 1 with a zero gradient */
    } cases[] = {
        /* coupled: W -= lr wd W */
        {{.kind = NN_OPTIM_SGD, .lr = 0.5f, .weight_decay = 0.1f}, 0.95f},
        /* decoupled: W *= 1 - lr wd */
        {{.kind = NN_OPTIM_SGD, .lr = 0.5f, .weight_decay = 0.2f, .decoupled = true}, 0.9f},
        /* Adam sees gradient wd W: its first step moves by lr */
        {{.kind = NN_OPTIM_ADAM, .lr = 0.01f, .weight_decay = 0.1f}, 0.99f},
        /* AdamW: the decay only, the zero gradient moves nothing */
        {{.kind = NN_OPTIM_ADAMW, .lr = 0.01f, .weight_decay = 0.5f}, 0.995f},
        {{.kind = NN_OPTIM_ADAFACTOR, .lr = 0.01f, .weight_decay = 0.5f}, 0.995f},
        {{.kind = NN_OPTIM_RMSPROP, .lr = 0.01f, .weight_decay = 0.1f, .centered = true}, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct pgraph pg;
        pgraph_build(&pg, 3, (int[]){2, 1, 2},
                     (const int64_t[][NN_MAX_DIMS]){{2, 3}, {3}, {3, 2}}, 1);
        int64_t n = nn_graph_param_count(pg.g);
        float *P = nn_graph_param_block(pg.g);
        for (int64_t i = 0; i < n; i++)
            P[i] = 1.0f;
        nn_zero_grad(pg.g);
        nn_optim *o = nn_optim_new(pg.g, &cases[k].cfg);
        assert_non_null(o);
        /* the middle parameter (a bias) is excluded */
        assert_ok(pg.ctx, nn_optim_set_decay(o, pg.p[1], false));
        assert_ok(pg.ctx, nn_optim_step(o));
        const char *kn = nn_optim_name(cases[k].cfg.kind);
        for (int64_t i = 6; i < 9; i++)
            if (P[i] != 1.0f)
                fail_msg("%s: excluded parameter changed to %.9g", kn, (double)P[i]);
        for (int64_t i = 0; i < n; i++) {
            if (i >= 6 && i < 9)
                continue;
            if (!(P[i] < 1.0f))
                fail_msg("%s: decayed parameter element %lld is %.9g, expected < 1", kn,
                         (long long)i, (double)P[i]);
            if (cases[k].w_after != 0)
                assert_close(P[i], cases[k].w_after, 1e-6, 0);
        }
        /* turned back on, it decays too */
        assert_ok(pg.ctx, nn_optim_set_decay(o, pg.p[1], true));
        assert_ok(pg.ctx, nn_optim_step(o));
        for (int64_t i = 6; i < 9; i++)
            if (!(P[i] < 1.0f))
                fail_msg("%s: re-enabled parameter did not decay (%.9g)", kn, (double)P[i]);
        nn_optim_free(o);
        pgraph_free(&pg);
    }

    /* Every parameter excluded: weight decay does nothing at all. */
    struct pgraph pg;
    pgraph_build(&pg, 2, (int[]){2, 1}, (const int64_t[][NN_MAX_DIMS]){{2, 2}, {2}}, 1);
    float *P = nn_graph_param_block(pg.g);
    float before[6];
    memcpy(before, P, sizeof before);
    nn_zero_grad(pg.g);
    nn_optim *o = nn_optim_new(pg.g, &(struct nn_optim_cfg){.kind = NN_OPTIM_SGD,
                                                           .lr = 0.1f, .weight_decay = 0.5f});
    assert_ok(pg.ctx, nn_optim_set_decay(o, pg.p[0], false));
    assert_ok(pg.ctx, nn_optim_set_decay(o, pg.p[1], false));
    assert_ok(pg.ctx, nn_optim_step(o));
    assert_memory_equal(before, P, sizeof before);
    nn_optim_free(o);
    pgraph_free(&pg);
}

/* ---- explicit zeros ------------------------------------------------------ */

/* A configuration that went through nn_optim_defaults keeps a 0 written
 * after it: momentum 0 is plain SGD, beta1 0 stays 0, ... (a zeroed struct
 * still means "the defaults"). */
static void explicit_zero_is_kept(void **state)
{
    (void)state;
    static const struct {
        nn_optim_kind kind;
        const char *field;
        size_t off;
    } cases[] = {
#define Z(k, f) {k, #f, offsetof(struct nn_optim_cfg, f)}
        Z(NN_OPTIM_SGD, lr),
        Z(NN_OPTIM_MOMENTUM, momentum),
        Z(NN_OPTIM_ADAM, beta1),
        Z(NN_OPTIM_ADAM, beta2),
        Z(NN_OPTIM_ADAM, eps),
        Z(NN_OPTIM_ADAMW, weight_decay),
        Z(NN_OPTIM_RMSPROP, alpha),
        Z(NN_OPTIM_ADADELTA, rho),
        Z(NN_OPTIM_ADAGRAD, eps),
#undef Z
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        struct pgraph pg;
        pgraph_build(&pg, 1, (int[]){2}, (const int64_t[][NN_MAX_DIMS]){{3, 2}}, 1);
        struct nn_optim_cfg c = {.kind = cases[k].kind};
        nn_optim_defaults(&c);
        float *f = (float *)(void *)((char *)&c + cases[k].off);
        if (*f == 0)
            fail_msg("%s: default %s is already 0", nn_optim_name(c.kind), cases[k].field);
        *f = 0;
        nn_optim *o = nn_optim_new(pg.g, &c);
        if (!o)
            fail_msg("%s with %s 0: %s", nn_optim_name(c.kind), cases[k].field,
                     nn_ctx_error(pg.ctx));
        float kept = *(const float *)(const void *)((const char *)nn_optim_config(o) +
                                                      cases[k].off);
        if (kept != 0)
            fail_msg("%s: %s 0 became %g", nn_optim_name(c.kind), cases[k].field,
                     (double)kept);
        nn_optim_free(o);
        pgraph_free(&pg);
    }
    /* a zeroed struct still takes the defaults */
    struct pgraph pg;
    pgraph_build(&pg, 1, (int[]){2}, (const int64_t[][NN_MAX_DIMS]){{3, 2}}, 1);
    nn_optim *o = nn_optim_new(pg.g, &(struct nn_optim_cfg){.kind = NN_OPTIM_MOMENTUM});
    assert_non_null(o);
    assert_true(nn_optim_config(o)->momentum == 0.9f && nn_optim_config(o)->lr == 0.01f);
    nn_optim_free(o);
    pgraph_free(&pg);
}

/* Parameters after 5 steps on the same random gradients. */
static void run_steps(const struct nn_optim_cfg *c, float *out, int64_t n)
{
    struct pgraph pg;
    pgraph_build(&pg, 2, (int[]){2, 1}, (const int64_t[][NN_MAX_DIMS]){{4, 3}, {4}}, 3);
    assert_int_equal(nn_graph_param_count(pg.g), n);
    nn_optim *o = nn_optim_new(pg.g, c);
    if (!o)
        fail_msg("%s", nn_ctx_error(pg.ctx));
    for (int s = 0; s < 5; s++) {
        fill_grads(pg.ctx, nn_graph_grad_block(pg.g), n);
        assert_ok(pg.ctx, nn_optim_step(o));
    }
    memcpy(out, nn_graph_param_block(pg.g), (size_t)n * sizeof *out);
    nn_optim_free(o);
    pgraph_free(&pg);
}

/* Momentum 0 is plain SGD, bit for bit; the default momentum is not. */
static void momentum_zero_is_sgd(void **state)
{
    (void)state;
    enum { N = 16 };
    float sgd[N], mom0[N], mom[N];
    struct nn_optim_cfg c = {.kind = NN_OPTIM_SGD, .lr = 0.1f};
    nn_optim_defaults(&c);
    run_steps(&c, sgd, N);
    c = (struct nn_optim_cfg){.kind = NN_OPTIM_MOMENTUM, .lr = 0.1f};
    nn_optim_defaults(&c);
    run_steps(&c, mom, N);
    c.momentum = 0;
    run_steps(&c, mom0, N);
    for (int i = 0; i < N; i++)
        if (memcmp(&sgd[i], &mom0[i], sizeof(float)) != 0)
            fail_msg("momentum 0 differs from sgd at parameter %d: %.9g and %.9g", i,
                     (double)mom0[i], (double)sgd[i]);
    assert_true(memcmp(sgd, mom, sizeof sgd) != 0);
}

NN_GROUP(optim,
         cmocka_unit_test(torch_fixtures),
         cmocka_unit_test(fixture_check_can_fail),
         cmocka_unit_test(convergence),
         cmocka_unit_test(validation_errors),
         cmocka_unit_test(names_and_defaults),
         cmocka_unit_test(state_restore_continues_exactly),
         cmocka_unit_test(decay_exclusion),
         cmocka_unit_test(explicit_zero_is_kept),
         cmocka_unit_test(momentum_zero_is_sgd))
