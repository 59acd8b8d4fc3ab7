/*
 * test_lbfgs.c - L-BFGS against torch.optim.LBFGS: every fixture written by
 * tests/ref/gen_lbfgs.py (a quadratic, a linear objective whose curvature
 * pairs all have y's = 0, and small tanh networks on fixed data; with and
 * without the strong-Wolfe line search, history shorter than the
 * iterations) is replayed through nn_optim_step_closure with a closure
 * evaluating the same problem, checking the loss each step returns, torch's
 * iteration and evaluation counts and the parameters after every step.
 * Also: exact continuation after a state save and restore, the weights of
 * the last good evaluation after a closure error, validation, and
 * nn_optim_step refusing lbfgs.
 *
 * Set NN_OPTIM_REPORT=1 to print each fixture's largest deviations.
 */
#include "test.h"

/* |x - ref| <= ATOL + RTOL |ref|, as the other optimizers' fixtures. */
#define RTOL 1e-5
#define ATOL 1e-6

/* The state block's header (src/optim/lbfgs.c): iterations and
 * evaluations as low and high 24-bit halves, pairs held. */
#define ST_ITERS 0
#define ST_EVALS 2
#define ST_COUNT 4

struct lfix {
    char name[64], problem[8];
    struct nn_optim_cfg cfg;
    int steps;
    int64_t P, D, H, N;
    double *data;
    const double *A, *b, *X, *Y, *init, *per_step; /* per step: loss, n_iter, evals, ref64, ref32 */
};

static bool set_field(struct lfix *fx, const char *key, const char *val)
{
    struct nn_optim_cfg *c = &fx->cfg;
    if (strcmp(key, "lr") == 0)
        c->lr = strtof(val, NULL);
    else if (strcmp(key, "tolerance_grad") == 0)
        c->tolerance_grad = strtof(val, NULL);
    else if (strcmp(key, "tolerance_change") == 0)
        c->tolerance_change = strtof(val, NULL);
    else if (strcmp(key, "history_size") == 0)
        c->history_size = atoi(val);
    else if (strcmp(key, "max_iter") == 0)
        c->max_iter = atoi(val);
    else if (strcmp(key, "max_eval") == 0)
        c->max_eval = atoi(val);
    else if (strcmp(key, "line_search") == 0 && strcmp(val, "strong_wolfe") == 0)
        c->line_search = NN_LINE_SEARCH_STRONG_WOLFE;
    else if (strcmp(key, "name") == 0)
        snprintf(fx->name, sizeof fx->name, "%s", val);
    else if (strcmp(key, "problem") == 0)
        snprintf(fx->problem, sizeof fx->problem, "%s", val);
    else if (strcmp(key, "steps") == 0)
        fx->steps = atoi(val);
    else if (strcmp(key, "P") == 0)
        fx->P = atoll(val);
    else if (strcmp(key, "D") == 0)
        fx->D = atoll(val);
    else if (strcmp(key, "H") == 0)
        fx->H = atoll(val);
    else if (strcmp(key, "N") == 0)
        fx->N = atoll(val);
    else
        return false;
    return true;
}

static void read_doubles(FILE *f, const char *path, double *out, size_t n)
{
    unsigned char b[8];
    for (size_t i = 0; i < n; i++) {
        if (fread(b, 1, 8, f) != 8)
            fail_msg("%s: data ends after %zu of %zu numbers", path, i, n);
        uint64_t u = 0;
        for (int k = 7; k >= 0; k--)
            u = u << 8 | b[k];
        memcpy(&out[i], &u, sizeof u);
    }
    if (fread(b, 1, 1, f) != 0)
        fail_msg("%s: data after the %zu numbers expected", path, n);
}

static void load(const char *name, struct lfix *fx)
{
    memset(fx, 0, sizeof *fx);
    fx->cfg.kind = NN_OPTIM_LBFGS;
    char rel[128];
    snprintf(rel, sizeof rel, "ref/optim/lbfgs_%s.bin", name);
    const char *path = nn_test_path(rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open fixture %s (run tests/ref/gen_lbfgs.py)", path);
    static char head[1024];
    if (!fgets(head, sizeof head, f) || !strchr(head, '\n'))
        fail_msg("%s: no header line", path);
    *strchr(head, '\n') = 0;
    char *save = NULL, *tok = strtok_r(head, " ", &save);
    if (!tok || strcmp(tok, "NNLBFGS1") != 0)
        fail_msg("%s: bad magic", path);
    while ((tok = strtok_r(NULL, " ", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq)
            fail_msg("%s: header token '%s' is not key=value", path, tok);
        *eq = 0;
        if (!set_field(fx, tok, eq + 1))
            fail_msg("%s: unknown header field '%s'", path, tok);
    }
    bool quad = strcmp(fx->problem, "quad") == 0;
    if (fx->steps < 1 || fx->P < 1 || (!quad && fx->P != fx->H * fx->D + 2 * fx->H + 1))
        fail_msg("%s: bad header", path);
    size_t nprob = quad ? (size_t)(fx->P * fx->P + fx->P) : (size_t)(fx->N * fx->D + fx->N);
    size_t n = nprob + (size_t)fx->P + (size_t)fx->steps * (3 + 2 * (size_t)fx->P);
    fx->data = malloc(n * sizeof(double));
    assert_non_null(fx->data);
    read_doubles(f, path, fx->data, n);
    fclose(f);
    fx->A = fx->X = fx->data;
    fx->b = fx->data + fx->P * fx->P;
    fx->Y = fx->data + fx->N * fx->D;
    fx->init = fx->data + nprob;
    fx->per_step = fx->init + fx->P;
}

/* ---- the problems, as closures --------------------------------------------- */

struct prob {
    const struct lfix *fx;
    nn_ctx *ctx;
    nn_graph *g;
    nn_node *loss;
    int calls, fail_at; /* a closure error on call fail_at (0: never) */
    float *seen;        /* (P) the parameters of the last successful call */
};

/* 1/2 x'Ax - b'x and its gradient Ax - b, in double. */
static nn_status quad_closure(void *user, double *loss)
{
    struct prob *p = user;
    const struct lfix *fx = p->fx;
    if (++p->calls == p->fail_at)
        return NN_ERR_NUMERIC; /* passed on by the step as it is */
    const float *x = nn_graph_param_block(p->g);
    float *g = nn_graph_grad_block(p->g);
    double f = 0;
    for (int64_t i = 0; i < fx->P; i++) {
        double ax = 0;
        for (int64_t j = 0; j < fx->P; j++)
            ax += fx->A[i * fx->P + j] * x[j];
        f += 0.5 * x[i] * ax - fx->b[i] * x[i];
        g[i] = (float)(ax - fx->b[i]);
    }
    *loss = (float)f;
    memcpy(p->seen, x, (size_t)fx->P * sizeof *x);
    return NN_OK;
}

/* The network's mean squared error: forward and backward of the graph. */
static nn_status mlp_closure(void *user, double *loss)
{
    struct prob *p = user;
    if (++p->calls == p->fail_at)
        return NN_ERR_NUMERIC; /* passed on by the step as it is */
    nn_status st = nn_forward_to(p->g, p->loss);
    if (st != NN_OK)
        return st;
    nn_zero_grad(p->g);
    if ((st = nn_backward(p->g, p->loss)) != NN_OK)
        return st;
    *loss = nn_value(p->loss)[0];
    memcpy(p->seen, nn_graph_param_block(p->g), (size_t)p->fx->P * sizeof(float));
    return NN_OK;
}

/* The graph of fx's problem, its parameters set to fx's start. */
static void prob_build(struct prob *p, const struct lfix *fx)
{
    memset(p, 0, sizeof *p);
    p->fx = fx;
    p->ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    p->g = nn_graph_new(p->ctx);
    struct nn_init z = {.kind = NN_INIT_ZEROS};
    if (strcmp(fx->problem, "quad") == 0) {
        nn_node *x = nn_param(p->g, "x", 1, (int64_t[]){fx->P}, z);
        assert_ok(p->ctx, nn_graph_compile(p->g, &x, 1, 1));
    } else {
        nn_graph *g = p->g;
        nn_node *x = nn_input(g, "x", 1, (int64_t[]){fx->D});
        nn_node *t = nn_input(g, "t", 1, (int64_t[]){1});
        nn_node *W1 = nn_param(g, "W1", 2, (int64_t[]){fx->H, fx->D}, z);
        nn_node *b1 = nn_param(g, "b1", 1, (int64_t[]){fx->H}, z);
        nn_node *W2 = nn_param(g, "W2", 2, (int64_t[]){1, fx->H}, z);
        nn_node *b2 = nn_param(g, "b2", 1, (int64_t[]){1}, z);
        nn_node *h = nn_tanh(g, nn_add(g, nn_matmul(g, x, W1, true), b1));
        p->loss = nn_mse(g, nn_add(g, nn_matmul(g, h, W2, true), b2), t);
        assert_ok(p->ctx, nn_graph_compile(g, &p->loss, 1, fx->N));
        float *X = malloc((size_t)(fx->N * fx->D) * sizeof *X), *Y = malloc((size_t)fx->N * sizeof *Y);
        assert_true(X && Y);
        for (int64_t i = 0; i < fx->N * fx->D; i++)
            X[i] = (float)fx->X[i];
        for (int64_t i = 0; i < fx->N; i++)
            Y[i] = (float)fx->Y[i];
        assert_ok(p->ctx, nn_feed(g, x, X, fx->N));
        assert_ok(p->ctx, nn_feed(g, t, Y, fx->N));
        free(X);
        free(Y);
    }
    assert_int_equal(nn_graph_param_count(p->g), fx->P);
    float *P = nn_graph_param_block(p->g);
    for (int64_t i = 0; i < fx->P; i++)
        P[i] = (float)fx->init[i];
    p->seen = calloc((size_t)fx->P, sizeof *p->seen);
    assert_non_null(p->seen);
}

static void prob_free(struct prob *p)
{
    free(p->seen);
    nn_graph_free(p->g);
    nn_ctx_free(p->ctx);
}

static nn_optim_closure closure_of(const struct lfix *fx)
{
    return strcmp(fx->problem, "quad") == 0 ? quad_closure : mlp_closure;
}

static int64_t counter(const nn_optim *o, int at)
{
    const float *s = nn_optim_state((nn_optim *)o);
    return (int64_t)s[at] + ((int64_t)s[at + 1] << 24);
}

/* Replays fx with cfg; returns the number of parameter elements off torch's
 * float64 trajectory (the first one described in msg), or -1 when the
 * losses or counts differ. */
static int replay(const struct lfix *fx, const struct nn_optim_cfg *cfg, bool report,
                  char *msg, size_t size)
{
    struct prob p;
    prob_build(&p, fx);
    nn_optim *o = nn_optim_new(p.g, cfg);
    if (!o)
        fail_msg("%s: %s", fx->name, nn_ctx_error(p.ctx));
    const float *P = nn_graph_param_block(p.g);
    int bad = 0;
    double max_abs = 0, used = 0, t32 = 0;
    msg[0] = 0;
    for (int s = 0; s < fx->steps && bad >= 0; s++) {
        const double *rs = fx->per_step + s * (3 + 2 * fx->P), *ref = rs + 3;
        double loss;
        assert_ok(p.ctx, nn_optim_step_closure(o, closure_of(fx), &p, &loss));
        if (!(fabs(loss - rs[0]) <= ATOL + RTOL * fabs(rs[0])) ||
            counter(o, ST_ITERS) != (int64_t)rs[1] || counter(o, ST_EVALS) != (int64_t)rs[2]) {
            snprintf(msg, size, "%s: step %d: loss %.9g, %lld iterations, %lld evaluations; "
                     "torch %.9g, %.0f, %.0f", fx->name, s + 1, loss,
                     (long long)counter(o, ST_ITERS), (long long)counter(o, ST_EVALS), rs[0],
                     rs[1], rs[2]);
            bad = -1;
            break;
        }
        for (int64_t i = 0; i < fx->P; i++) {
            double d = fabs(P[i] - ref[i]), tol = ATOL + RTOL * fabs(ref[i]);
            if (!(d <= tol) && bad++ == 0)
                snprintf(msg, size, "%s: step %d, parameter %lld: %.9g, torch (float64) %.9g",
                         fx->name, s + 1, (long long)i, (double)P[i], ref[i]);
            max_abs = d > max_abs ? d : max_abs;
            used = d / tol > used ? d / tol : used;
            double d32 = fabs(ref[fx->P + i] - ref[i]);
            t32 = d32 > t32 ? d32 : t32;
        }
    }
    if (report)
        print_message("lbfgs_%-14s max abs %.2e  %3.0f%% of tolerance  (torch float32: max "
                      "abs %.2e)\n", fx->name, max_abs, 100 * used, t32);
    nn_optim_free(o);
    prob_free(&p);
    return bad;
}

static const char *const fixtures[] = {"quad", "quad_wolfe", "quad_max_eval", "linear",
                                       "mlp", "mlp_wolfe", "mlp_defaults", "mlp2_tol"};

static void lbfgs_torch_fixtures(void **state)
{
    (void)state;
    bool report = getenv("NN_OPTIM_REPORT") != NULL;
    char msg[512];
    for (size_t k = 0; k < sizeof fixtures / sizeof fixtures[0]; k++) {
        struct lfix fx;
        load(fixtures[k], &fx);
        assert_string_equal(fx.name, fixtures[k]);
        if (replay(&fx, &fx.cfg, report, msg, sizeof msg) != 0)
            fail_msg("%s (rtol %g, atol %g)", msg, RTOL, ATOL);
        free(fx.data);
    }
}

/* A replay that disagrees must fail: the line search switched off, or a
 * shorter history, leaves torch's trajectory. */
static void lbfgs_fixture_check_can_fail(void **state)
{
    (void)state;
    char msg[512];
    struct lfix fx;
    load("quad_wolfe", &fx);
    struct nn_optim_cfg c = fx.cfg;
    c.line_search = NN_LINE_SEARCH_NONE;
    assert_int_not_equal(replay(&fx, &c, false, msg, sizeof msg), 0);
    free(fx.data);
    load("mlp", &fx);
    c = fx.cfg;
    c.history_size = 2;
    assert_int_not_equal(replay(&fx, &c, false, msg, sizeof msg), 0);
    free(fx.data);
}

/* y's = 0 for every pair (a linear objective): no pair is kept and nothing
 * becomes NaN, over many steps. */
static void lbfgs_zero_curvature(void **state)
{
    (void)state;
    struct lfix fx;
    load("linear", &fx);
    struct prob p;
    prob_build(&p, &fx);
    nn_optim *o = nn_optim_new(p.g, &fx.cfg);
    assert_non_null(o);
    for (int s = 0; s < 20; s++)
        assert_ok(p.ctx, nn_optim_step_closure(o, quad_closure, &p, NULL));
    assert_true(nn_optim_state(o)[ST_COUNT] == 0);
    for (int64_t i = 0; i < nn_optim_state_size(o); i++)
        if (!isfinite(nn_optim_state(o)[i]))
            fail_msg("state element %lld is %g", (long long)i, (double)nn_optim_state(o)[i]);
    for (int64_t i = 0; i < fx.P; i++)
        assert_true(isfinite(nn_graph_param_block(p.g)[i]));
    /* 2 iterations per step: max_eval 3 * 5 / 4 = 3 evaluations (torch's rule) */
    assert_int_equal(counter(o, ST_ITERS), 20 * 2);
    nn_optim_free(o);
    prob_free(&p);
    free(fx.data);
}

/* Steps 3 and 4 after restoring the parameters, state block and step count
 * saved after step 2 into a fresh optimizer equal an uninterrupted run's,
 * bit for bit (history 2: the ring has wrapped). */
static void lbfgs_state_restore_exact(void **state)
{
    (void)state;
    for (int ls = 0; ls < 2; ls++) {
        struct lfix fx;
        load("mlp", &fx);
        struct nn_optim_cfg c = fx.cfg;
        c.history_size = 2;
        c.line_search = (nn_line_search)ls;
        struct prob a, b;
        prob_build(&a, &fx);
        prob_build(&b, &fx);
        nn_optim *oa = nn_optim_new(a.g, &c), *ob = nn_optim_new(b.g, &c);
        assert_true(oa && ob);
        for (int s = 0; s < 2; s++)
            assert_ok(a.ctx, nn_optim_step_closure(oa, mlp_closure, &a, NULL));
        assert_true(nn_optim_state(oa)[ST_COUNT] == 2);
        memcpy(nn_graph_param_block(b.g), nn_graph_param_block(a.g),
               (size_t)fx.P * sizeof(float));
        memcpy(nn_optim_state(ob), nn_optim_state(oa),
               (size_t)nn_optim_state_size(oa) * sizeof(float));
        nn_optim_set_steps(ob, nn_optim_steps(oa));
        for (int s = 0; s < 2; s++) {
            assert_ok(a.ctx, nn_optim_step_closure(oa, mlp_closure, &a, NULL));
            assert_ok(b.ctx, nn_optim_step_closure(ob, mlp_closure, &b, NULL));
        }
        assert_int_equal(nn_optim_steps(ob), 4);
        assert_memory_equal(nn_graph_param_block(a.g), nn_graph_param_block(b.g),
                            (size_t)fx.P * sizeof(float));
        assert_memory_equal(nn_optim_state(oa), nn_optim_state(ob),
                            (size_t)nn_optim_state_size(oa) * sizeof(float));
        /* a restored state with an impossible pair count is refused */
        nn_optim_state(ob)[ST_COUNT] = 7;
        assert_int_equal(nn_optim_step_closure(ob, mlp_closure, &b, NULL), NN_ERR_STATE);
        assert_non_null(strstr(nn_ctx_error(b.ctx), "history_size 2"));
        nn_optim_free(oa);
        nn_optim_free(ob);
        prob_free(&a);
        prob_free(&b);
        free(fx.data);
    }
}

/* A closure error stops the step with its status and leaves the parameters
 * of the last evaluation that succeeded (in the line search too). */
static void lbfgs_closure_error(void **state)
{
    (void)state;
    for (int ls = 0; ls < 2; ls++) {
        for (int fail_at = 2; fail_at <= 6; fail_at += 2) {
            struct lfix fx;
            load("mlp", &fx);
            struct prob p;
            prob_build(&p, &fx);
            p.fail_at = fail_at;
            struct nn_optim_cfg c = fx.cfg;
            c.line_search = (nn_line_search)ls;
            nn_optim *o = nn_optim_new(p.g, &c);
            assert_non_null(o);
            assert_int_equal(nn_optim_step_closure(o, mlp_closure, &p, NULL), NN_ERR_NUMERIC);
            assert_int_equal(nn_optim_steps(o), 0);
            assert_memory_equal(nn_graph_param_block(p.g), p.seen,
                                (size_t)fx.P * sizeof(float));
            nn_optim_free(o);
            prob_free(&p);
            free(fx.data);
        }
    }
}

static void lbfgs_validation(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    nn_graph *g = nn_graph_new(ctx);
    nn_node *w = nn_param(g, "w", 1, (int64_t[]){4}, (struct nn_init){.kind = NN_INIT_ZEROS});
    assert_ok(ctx, nn_graph_compile(g, &w, 1, 1));
    struct nn_optim_cfg c = {.kind = NN_OPTIM_LBFGS};
    nn_optim_defaults(&c);
    assert_true(c.lr == 1.0f && c.history_size == 100 && c.max_iter == 20 && c.max_eval == 25);
    assert_true(c.tolerance_grad == 1e-7f && c.tolerance_change == 1e-9f);
    assert_int_equal(c.line_search, NN_LINE_SEARCH_NONE);
    static const struct {
        struct nn_optim_cfg cfg;
        const char *want1, *want2;
    } bad[] = {
        {{.kind = NN_OPTIM_LBFGS, .weight_decay = 0.1f}, "weight_decay", "lbfgs"},
        {{.kind = NN_OPTIM_LBFGS, .decoupled = true}, "decoupled", "other than lbfgs"},
        {{.kind = NN_OPTIM_LBFGS, .history_size = -1}, "history_size", "-1"},
        {{.kind = NN_OPTIM_LBFGS, .max_iter = -3}, "max_iter", "-3"},
        {{.kind = NN_OPTIM_LBFGS, .line_search = (nn_line_search)5}, "line_search", "5"},
        {{.kind = NN_OPTIM_LBFGS, .tolerance_grad = -1}, "tolerance_grad", "-1"},
        {{.kind = NN_OPTIM_ADAM, .history_size = 10}, "history_size", "only by lbfgs"},
        {{.kind = NN_OPTIM_SGD, .line_search = NN_LINE_SEARCH_STRONG_WOLFE}, "line_search",
         "lbfgs"},
        {{.kind = NN_OPTIM_SGD, .tolerance_change = 1e-3f}, "tolerance_change", "sgd"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nn_ctx_clear_error(ctx);
        nn_optim *o = nn_optim_new(g, &bad[i].cfg);
        const char *msg = nn_ctx_error(ctx);
        if (o)
            fail_msg("case %zu (%s) was accepted", i, bad[i].want1);
        if (!strstr(msg, bad[i].want1) || !strstr(msg, bad[i].want2))
            fail_msg("case %zu: message '%s' should name '%s' and '%s'", i, msg,
                     bad[i].want1, bad[i].want2);
    }
    /* filled: a 0 is taken as it stands, and refused where it makes no sense */
    c.max_eval = 0;
    assert_null(nn_optim_new(g, &c));
    assert_non_null(strstr(nn_ctx_error(ctx), "max_eval is 0"));
    /* state: header, ro, d, previous gradient, then y and s per pair */
    c = (struct nn_optim_cfg){.kind = NN_OPTIM_LBFGS, .history_size = 3};
    nn_optim *o = nn_optim_new(g, &c);
    assert_non_null(o);
    assert_int_equal(nn_optim_state_size(o), 9 + 3 + (2 + 2 * 3) * 4);
    /* nn_optim_step cannot evaluate the loss: refused, nothing done */
    assert_int_equal(nn_optim_step(o), NN_ERR_INVALID);
    assert_non_null(strstr(nn_ctx_error(ctx), "nn_optim_step_closure"));
    assert_int_equal(nn_optim_steps(o), 0);
    assert_int_equal(nn_optim_step_closure(o, NULL, NULL, NULL), NN_ERR_INVALID);
    nn_optim_free(o);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* Every other kind through nn_optim_step_closure: one evaluation, then
 * nn_optim_step, as torch's optimizer.step(closure). */
static void closure_step_of_other_kinds(void **state)
{
    (void)state;
    struct lfix fx;
    load("quad", &fx);
    for (int k = 0; k < NN_OPTIM_COUNT; k++) {
        if (k == NN_OPTIM_LBFGS)
            continue;
        struct nn_optim_cfg c = {.kind = (nn_optim_kind)k};
        struct prob a, b;
        prob_build(&a, &fx);
        prob_build(&b, &fx);
        nn_optim *oa = nn_optim_new(a.g, &c), *ob = nn_optim_new(b.g, &c);
        assert_true(oa && ob);
        for (int s = 0; s < 3; s++) {
            double la, lb;
            assert_ok(a.ctx, nn_optim_step_closure(oa, quad_closure, &a, &la));
            assert_ok(b.ctx, quad_closure(&b, &lb));
            assert_ok(b.ctx, nn_optim_step(ob));
            assert_true(la == lb);
        }
        assert_int_equal(a.calls, 3);
        assert_int_equal(nn_optim_steps(oa), 3);
        assert_memory_equal(nn_graph_param_block(a.g), nn_graph_param_block(b.g),
                            (size_t)fx.P * sizeof(float));
        /* a closure error: no step */
        a.fail_at = a.calls + 1;
        assert_int_equal(nn_optim_step_closure(oa, quad_closure, &a, NULL), NN_ERR_NUMERIC);
        assert_int_equal(nn_optim_steps(oa), 3);
        assert_memory_equal(nn_graph_param_block(a.g), nn_graph_param_block(b.g),
                            (size_t)fx.P * sizeof(float));
        nn_optim_free(oa);
        nn_optim_free(ob);
        prob_free(&a);
        prob_free(&b);
    }
    free(fx.data);
}

/* ---- the trainer ---------------------------------------------------------- */

static nn_status no_allreduce(void *u, float *b, int64_t n)
{
    (void)u, (void)b, (void)n;
    return NN_OK;
}
static nn_status no_allreduce_f64(void *u, double *b, int64_t n)
{
    (void)u, (void)b, (void)n;
    return NN_OK;
}
static nn_status no_allgather(void *u, float *b, const int64_t *c)
{
    (void)u, (void)b, (void)c;
    return NN_OK;
}

/* A 1-3-1 tanh model (seed 3) and its trainer with cfg; NULL trainer on error. */
static nn_trainer *sine_trainer(nn_ctx **ctx, nn_model **m, const struct nn_train_cfg *cfg)
{
    *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 3, .threads = 1});
    *m = nn_model_new(*ctx, "1 dense:3 tanh dense:1",
                      &(struct nn_model_cfg){.max_batch = 32, .loss = NN_LOSS_MSE});
    assert_non_null(*m);
    return nn_trainer_new(*m, cfg);
}

/* Full batch through nn_trainer_fit: a mini-batch is refused at fit, data-
 * parallel training at nn_trainer_new; the loss falls; fitting 2 epochs and
 * then 2 more gives the weights of one 4-epoch fit, bit for bit. */
static void lbfgs_trainer(void **state)
{
    (void)state;
    enum { N = 24 };
    float x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i / N;
        y[i] = sinf(6.2831853f * x[i]) + 0.05f * (float)((i * 7) % 5 - 2);
    }
    struct nn_train_cfg tc = {.epochs = 4, .batch = 8, .no_shuffle = true,
                              .optim = {.kind = NN_OPTIM_LBFGS, .max_iter = 10}};
    nn_ctx *ctx;
    nn_model *m;
    nn_trainer *t = sine_trainer(&ctx, &m, &tc);
    assert_non_null(t);
    nn_dataset *ds = nn_dataset_from_arrays(ctx, &(struct nn_array_data){
        .n = N, .ndim = 1, .dims = (int64_t[]){1}, .x = x, .targets = y, .ntargets = 1});
    assert_non_null(ds);
    struct nn_source src = nn_source_from_dataset(ds);
    assert_int_equal(nn_trainer_fit(t, &src, NULL), NN_ERR_INVALID);
    const char *msg = nn_ctx_error(ctx);
    if (!strstr(msg, "full-batch") || !strstr(msg, "8 of 24"))
        fail_msg("message '%s' should say lbfgs is full-batch and name 8 of 24", msg);
    nn_trainer_free(t);
    nn_model_free(m);

    struct nn_dist d = {.rank = 0, .size = 2, .allreduce = no_allreduce,
                        .allreduce_f64 = no_allreduce_f64, .allgather = no_allgather};
    nn_ctx *c2;
    tc.batch = N;
    tc.dist = &d;
    assert_null(sine_trainer(&c2, &m, &tc));
    if (!strstr(nn_ctx_error(c2), "lbfgs") || !strstr(nn_ctx_error(c2), "data-parallel"))
        fail_msg("message '%s' should refuse lbfgs with data-parallel training",
                 nn_ctx_error(c2));
    nn_model_free(m);
    nn_ctx_free(c2);
    tc.dist = NULL;

    float w4[10], w22[10];
    for (int split = 0; split < 2; split++) {
        t = sine_trainer(&c2, &m, &tc);
        assert_non_null(t);
        if (split) {
            assert_ok(c2, nn_trainer_set_epochs(t, 2));
            assert_ok(c2, nn_trainer_fit(t, &src, NULL));
            assert_ok(c2, nn_trainer_set_epochs(t, 4));
        }
        assert_ok(c2, nn_trainer_fit(t, &src, NULL));
        int nh;
        const struct nn_epoch_stats *h = nn_trainer_history(t, &nh);
        assert_int_equal(nh, 4);
        if (!(h[3].train.loss < 0.5 * h[0].train.loss))
            fail_msg("loss %g at epoch 1, %g at epoch 4: expected below half", h[0].train.loss,
                     h[3].train.loss);
        assert_int_equal(nn_optim_steps(nn_trainer_optim(t)), 4);
        assert_int_equal(nn_graph_param_count(nn_model_graph(m)), 10);
        memcpy(split ? w22 : w4, nn_graph_param_block(nn_model_graph(m)), sizeof w4);
        nn_trainer_free(t);
        nn_model_free(m);
        nn_ctx_free(c2);
    }
    assert_memory_equal(w4, w22, sizeof w4);
    nn_dataset_free(ds);
    nn_ctx_free(ctx);
}

NN_GROUP(lbfgs,
         cmocka_unit_test(lbfgs_trainer),
         cmocka_unit_test(lbfgs_torch_fixtures),
         cmocka_unit_test(lbfgs_fixture_check_can_fail),
         cmocka_unit_test(lbfgs_zero_curvature),
         cmocka_unit_test(lbfgs_state_restore_exact),
         cmocka_unit_test(lbfgs_closure_error),
         cmocka_unit_test(lbfgs_validation),
         cmocka_unit_test(closure_step_of_other_kinds))
