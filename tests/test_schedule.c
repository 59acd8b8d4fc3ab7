/*
 * test_schedule.c - learning-rate schedules against torch.optim.lr_scheduler:
 * each line of tests/ref/optim/schedules.txt (written by
 * tests/ref/gen_optim.py) holds a schedule in libnn's text form and the rate
 * torch sets for each of 30 epochs (plateau lines are followed by the metric
 * sequence reported). Also: syntax and validation errors, the text form's
 * round trip, plateau state save/restore, and warm-up in front of a plateau.
 */
#include "test.h"

#define SCHED_RTOL 1e-6 /* the rate is returned as a float */

struct sched_line {
    char spec[256];
    double base;
    int64_t epochs;
    int n;
    double lr[64];
    int nmetrics;
    double metric[64];
};

/* Reads whitespace-separated numbers into out[0..n); false on a short line. */
static bool read_numbers(char **save, double *out, int n)
{
    for (int i = 0; i < n; i++) {
        char *tok = strtok_r(NULL, " \n", save);
        if (!tok)
            return false;
        out[i] = strtod(tok, NULL);
    }
    return true;
}

/* Loads every schedule of the fixture; returns the count. */
static int load_schedules(struct sched_line *out, int max)
{
    const char *path = nn_test_path("ref/optim/schedules.txt");
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s (run tests/ref/gen_optim.py)", path);
    static char line[8192];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        char *save = NULL, *tok = strtok_r(line, " \n", &save);
        if (strcmp(tok, "metrics") == 0) {
            assert_true(n > 0);
            struct sched_line *s = &out[n - 1];
            s->nmetrics = atoi(strtok_r(NULL, " \n", &save));
            assert_true(s->nmetrics > 0 && s->nmetrics <= 64);
            if (!read_numbers(&save, s->metric, s->nmetrics))
                fail_msg("%s: short metrics line after '%s'", path, s->spec);
            continue;
        }
        assert_true(n < max);
        struct sched_line *s = &out[n++];
        memset(s, 0, sizeof *s);
        snprintf(s->spec, sizeof s->spec, "%s", tok);
        char *b = strtok_r(NULL, " \n", &save), *e = strtok_r(NULL, " \n", &save);
        char *c = strtok_r(NULL, " \n", &save);
        if (!b || !e || !c)
            fail_msg("%s: short line for '%s'", path, s->spec);
        s->base = strtod(b, NULL);
        s->epochs = atoll(e);
        s->n = atoi(c);
        assert_true(s->n > 0 && s->n <= 64);
        if (!read_numbers(&save, s->lr, s->n))
            fail_msg("%s: short line for '%s'", path, s->spec);
    }
    fclose(f);
    return n;
}

static void torch_schedules(void **state)
{
    (void)state;
    static struct sched_line lines[64];
    int n = load_schedules(lines, 64);
    assert_true(n >= 18);
    nn_ctx *ctx = nn_ctx_new(NULL);
    bool kinds[NN_SCHED_COUNT] = {0}, warm = false;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const struct sched_line *L = &lines[i];
        struct nn_schedule_cfg cfg;
        if (nn_schedule_parse(ctx, L->spec, &cfg) != NN_OK)
            fail_msg("parse '%s': %s", L->spec, nn_ctx_error(ctx));
        kinds[cfg.kind] = true;
        warm |= cfg.warmup_epochs > 0;
        nn_schedule *s = nn_schedule_new(ctx, &cfg, L->base, L->epochs);
        if (!s)
            fail_msg("new '%s': %s", L->spec, nn_ctx_error(ctx));
        if (cfg.kind == NN_SCHED_PLATEAU)
            assert_int_equal(L->nmetrics, L->n);
        for (int e = 0; e < L->n; e++) {
            double got = nn_schedule_lr(s, e), want = L->lr[e];
            double d = fabs(got - want);
            if (!(d <= 1e-12 + SCHED_RTOL * fabs(want)))
                fail_msg("'%s' epoch %d: lr %.9g, torch %.9g", L->spec, e, got, want);
            if (want > 0 && d / want > worst)
                worst = d / want;
            if (L->nmetrics) {
                float next = nn_schedule_on_metric(s, e, L->metric[e]);
                assert_true(next == nn_schedule_lr(s, e + 1));
            }
        }
        nn_schedule_free(s);
    }
    for (int k = 0; k < NN_SCHED_COUNT; k++)
        if (!kinds[k])
            fail_msg("no fixture covers schedule %s", nn_schedule_name((nn_schedule_kind)k));
    assert_true(warm);
    if (getenv("NN_OPTIM_REPORT"))
        print_message("schedules: %d fixtures, max relative deviation %.2e\n", n, worst);
    nn_ctx_free(ctx);
}

static void parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"", "empty"},
        {"bogus", "bogus"},
        {"step", "step_size"},
        {"step:x", "'x'"},
        {"step:10:abc", "gamma"},
        {"step:0", "step_size"},
        {"step::0.5", "empty field"},
        {"step:10:0", "gamma"},
        {"exp", "gamma"},
        {"cos:-1", "t_max"},
        {"cos:10:0:7", "'7'"},
        {"step:5:gamma=0.5:foo=1", "foo"},
        {"step:5+cos", "twice"},
        {"warmup:2+warmup:3", "twice"},
        {"warmup:0+cos", "warmup"},
        {"warmup:3:0+cos", "start_factor"},
        {"warmup:3:1.5", "start_factor"},
        {"plateau:mode=up", "mode"},
        {"plateau:threshold_mode=x", "threshold_mode"},
        {"plateau:factor=-0.5", "factor"},
        {"plateau:patience=2.5", "patience"},
        {"cos+", "empty"},
        {"exp:0.9:step_size=3", "step_size"},
    };
    nn_ctx *ctx = nn_ctx_new(NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct nn_schedule_cfg cfg = {.kind = NN_SCHED_COSINE, .t_max = 5};
        nn_ctx_clear_error(ctx);
        if (nn_schedule_parse(ctx, bad[i].text, &cfg) == NN_OK)
            fail_msg("'%s' was accepted", bad[i].text);
        if (!strstr(nn_ctx_error(ctx), bad[i].want))
            fail_msg("'%s': message '%s' should mention '%s'", bad[i].text,
                     nn_ctx_error(ctx), bad[i].want);
        /* a failed parse leaves an all-zero configuration */
        assert_int_equal(cfg.kind, NN_SCHED_CONSTANT);
        assert_int_equal(cfg.t_max, 0);
    }
    nn_ctx_free(ctx);
}

static void validation(void **state)
{
    (void)state;
    static const struct {
        struct nn_schedule_cfg cfg;
        double base;
        int64_t epochs;
        const char *want1, *want2;
    } bad[] = {
        {{.kind = NN_SCHED_STEP}, 0.1, 0, "step_size", "0"},
        {{.kind = NN_SCHED_STEP, .step_size = 3, .gamma = -1}, 0.1, 0, "gamma", "-1"},
        {{.kind = NN_SCHED_EXPONENTIAL}, 0.1, 0, "gamma", "exp:0.95"},
        {{.kind = NN_SCHED_COSINE}, 0.1, 0, "t_max", "epochs"},
        {{.kind = NN_SCHED_COSINE, .warmup_epochs = 10}, 0.1, 10, "t_max", "warm-up"},
        {{.kind = NN_SCHED_COSINE, .t_max = 5, .eta_min = -1}, 0.1, 0, "eta_min", "-1"},
        {{.kind = NN_SCHED_COSINE, .t_max = 5, .gamma = 0.5}, 0.1, 0, "gamma", "cos"},
        {{.kind = NN_SCHED_PLATEAU, .factor = 1}, 0.1, 0, "factor", "(0, 1)"},
        {{.kind = NN_SCHED_PLATEAU, .cooldown = -2}, 0.1, 0, "cooldown", "-2"},
        {{.kind = NN_SCHED_PLATEAU, .min_lr = -1e-3}, 0.1, 0, "min_lr", "-0.001"},
        {{.kind = NN_SCHED_CONSTANT, .patience = 3}, 0.1, 0, "patience", "constant"},
        {{.kind = NN_SCHED_CONSTANT, .warmup_epochs = 3, .warmup_start = 2}, 0.1, 0,
         "warmup_start", "2"},
        {{.kind = NN_SCHED_CONSTANT, .warmup_epochs = -1}, 0.1, 0, "warmup_epochs", "-1"},
        {{.kind = NN_SCHED_CONSTANT}, -0.1, 0, "base learning rate", "-0.1"},
        {{.kind = NN_SCHED_CONSTANT}, NAN, 0, "base learning rate", "nan"},
        {{.kind = (nn_schedule_kind)42}, 0.1, 0, "kind", "42"},
    };
    nn_ctx *ctx = nn_ctx_new(NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nn_ctx_clear_error(ctx);
        nn_schedule *s = nn_schedule_new(ctx, &bad[i].cfg, bad[i].base, bad[i].epochs);
        const char *msg = nn_ctx_error(ctx);
        if (s)
            fail_msg("case %zu (%s) was accepted", i, bad[i].want1);
        if (!strstr(msg, bad[i].want1) || !strstr(msg, bad[i].want2))
            fail_msg("case %zu: message '%s' should name '%s' and '%s'", i, msg,
                     bad[i].want1, bad[i].want2);
    }
    assert_null(nn_schedule_new(ctx, NULL, 0.1, 0));
    assert_null(nn_schedule_new(NULL, &(struct nn_schedule_cfg){0}, 0.1, 0));
    /* defaults: step gamma 0.1, plateau factor 0.1 / patience 10 / threshold 1e-4 */
    struct nn_schedule_cfg c = {.kind = NN_SCHED_PLATEAU};
    nn_schedule_defaults(&c);
    assert_true(c.factor == 0.1 && c.patience == 10 && c.threshold == 1e-4);
    assert_true(c.cooldown == 0 && c.min_lr == 0 && !c.mode_max && !c.threshold_abs);
    c = (struct nn_schedule_cfg){.kind = NN_SCHED_STEP, .step_size = 4, .warmup_epochs = 2};
    nn_schedule_defaults(&c);
    assert_true(c.gamma == 0.1 && fabs(c.warmup_start - 1.0 / 3.0) < 1e-15);
    /* cosine t_max defaults to the epochs after the warm-up */
    nn_schedule *s = nn_schedule_new(
        ctx, &(struct nn_schedule_cfg){.kind = NN_SCHED_COSINE, .warmup_epochs = 5}, 0.1, 25);
    assert_non_null(s);
    assert_int_equal(nn_schedule_config(s)->t_max, 20);
    assert_true(nn_schedule_lr(s, 25) == 0.0f); /* cos(pi) = -1: exactly eta_min */
    assert_true(nn_schedule_lr(s, -3) == nn_schedule_lr(s, 0));
    nn_schedule_free(s);
    for (int k = 0; k < NN_SCHED_COUNT; k++)
        assert_non_null(nn_schedule_name((nn_schedule_kind)k));
    assert_null(nn_schedule_name(NN_SCHED_COUNT));
    nn_ctx_free(ctx);
}

static void format_round_trip(void **state)
{
    (void)state;
    static const char *const specs[] = {
        "constant", "none", "step:10", "step:7:0.5", "exp:0.95", "exponential:0.9",
        "cos", "cosine:12:0.001", "warmup:5+cos", "cos+warmup:5:0.1",
        "warmup:3:0.25+step:step_size=4:gamma=0.3", "plateau",
        "plateau:2:0.5:1e-5", "plateau:patience=0:threshold=0:cooldown=3:mode=max",
        "plateau:threshold_mode=abs:threshold=0.05", "warmup:2+plateau:factor=0.2"};
    nn_ctx *ctx = nn_ctx_new(NULL);
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        struct nn_schedule_cfg a, b;
        if (nn_schedule_parse(ctx, specs[i], &a) != NN_OK)
            fail_msg("'%s': %s", specs[i], nn_ctx_error(ctx));
        char buf[256];
        int len = nn_schedule_format(&a, buf, sizeof buf);
        assert_int_equal(len, (int)strlen(buf));
        if (nn_schedule_parse(ctx, buf, &b) != NN_OK)
            fail_msg("'%s' formatted as '%s': %s", specs[i], buf, nn_ctx_error(ctx));
        if (memcmp(&a, &b, sizeof a) != 0)
            fail_msg("'%s' -> '%s' does not parse back to the same configuration", specs[i],
                     buf);
        /* a short buffer gets a terminated prefix and the full length */
        char small[8];
        assert_int_equal(nn_schedule_format(&a, small, sizeof small), len);
        assert_int_equal(strlen(small), len < 8 ? (size_t)len : 7);
    }
    /* the explicit zeros of the text form survive */
    struct nn_schedule_cfg c;
    assert_ok(ctx, nn_schedule_parse(ctx, "plateau:patience=0:threshold=0", &c));
    assert_true(c.patience < 0 && c.threshold < 0);
    assert_ok(ctx, nn_schedule_parse(ctx, "warmup:4+cos:10", &c));
    assert_int_equal(c.kind, NN_SCHED_COSINE);
    assert_int_equal(c.warmup_epochs, 4);
    assert_int_equal(c.t_max, 10);
    nn_ctx_free(ctx);
}

/* A reduce-on-plateau schedule with a patience of zero cuts the rate on
 * every epoch without a significant improvement. */
static void plateau_zero_patience(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_schedule *s = nn_schedule_new(
        ctx, &(struct nn_schedule_cfg){.kind = NN_SCHED_PLATEAU, .patience = -1, .factor = 0.5},
        1.0, 0);
    assert_non_null(s);
    const double metric[6] = {3, 2, 2, 1, 1, 1};
    const float want[6] = {1, 1, 0.5f, 0.5f, 0.25f, 0.125f}; /* rate for the next epoch */
    for (int e = 0; e < 6; e++) {
        float next = nn_schedule_on_metric(s, e, metric[e]);
        if (next != want[e])
            fail_msg("after epoch %d (metric %g): lr %g, expected %g", e, metric[e],
                     (double)next, (double)want[e]);
    }
    /* a NaN metric counts as no improvement */
    assert_true(nn_schedule_on_metric(s, 6, NAN) == 0.0625f);
    nn_schedule_free(s);
    nn_ctx_free(ctx);
}

static void plateau_state_restore(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    struct nn_schedule_cfg cfg;
    assert_ok(ctx, nn_schedule_parse(ctx, "plateau:patience=2:factor=0.5:cooldown=1", &cfg));
    const double metric[20] = {5, 4, 4, 4, 4, 3.9, 3.9, 3.9, 3.9, 3.9,
                               3.9, 2, 2, 2, 2, 2, 2, 2, 1, 1};
    nn_schedule *a = nn_schedule_new(ctx, &cfg, 0.2, 0);
    assert_non_null(a);
    for (int e = 0; e < 8; e++)
        nn_schedule_on_metric(a, e, metric[e]);
    double st[NN_SCHEDULE_STATE_LEN];
    nn_schedule_get_state(a, st);
    assert_true(st[0] < 0.2); /* at least one cut happened */
    float rest_a[12];
    for (int e = 8; e < 20; e++)
        rest_a[e - 8] = nn_schedule_on_metric(a, e, metric[e]);
    nn_schedule *b = nn_schedule_new(ctx, &cfg, 0.2, 0);
    assert_ok(ctx, nn_schedule_set_state(b, st));
    for (int e = 8; e < 20; e++)
        if (nn_schedule_on_metric(b, e, metric[e]) != rest_a[e - 8])
            fail_msg("epoch %d: restored schedule differs", e);
    /* without the state the continuation differs */
    nn_schedule *c = nn_schedule_new(ctx, &cfg, 0.2, 0);
    bool differs = false;
    for (int e = 8; e < 20; e++)
        differs |= nn_schedule_on_metric(c, e, metric[e]) != rest_a[e - 8];
    assert_true(differs);
    /* impossible states are refused */
    const double bad[][NN_SCHEDULE_STATE_LEN] = {
        {-1, 1, 0, 0}, {INFINITY, 1, 0, 0}, {0.1, NAN, 0, 0}, {0.1, 1, -1, 0},
        {0.1, 1, 0.5, 0}, {0.1, 1, 0, -3}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(nn_schedule_set_state(b, bad[i]), NN_ERR_INVALID);
    double inf_best[NN_SCHEDULE_STATE_LEN] = {0.1, INFINITY, 0, 0};
    assert_ok(ctx, nn_schedule_set_state(b, inf_best));
    nn_schedule_free(a);
    nn_schedule_free(b);
    nn_schedule_free(c);
    nn_ctx_free(ctx);
}

/* warmup:4:0.5+plateau:patience=0:factor=0.5 - metrics during the warm-up
 * are ignored, however bad; the plateau logic starts at epoch 4. */
static void warmup_then_plateau(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    struct nn_schedule_cfg cfg;
    assert_ok(ctx, nn_schedule_parse(ctx, "warmup:4:0.5+plateau:patience=0:factor=0.5", &cfg));
    nn_schedule *s = nn_schedule_new(ctx, &cfg, 0.8, 0);
    assert_non_null(s);
    const float warm[4] = {0.4f, 0.5f, 0.6f, 0.7f};
    for (int e = 0; e < 4; e++) {
        assert_close(nn_schedule_lr(s, e), warm[e], 1e-6, 0);
        nn_schedule_on_metric(s, e, 100.0 + e); /* worsening, ignored */
    }
    assert_close(nn_schedule_lr(s, 4), 0.8, 1e-7, 0);
    assert_close(nn_schedule_on_metric(s, 4, 1.0), 0.8, 1e-7, 0); /* first: best */
    assert_close(nn_schedule_on_metric(s, 5, 1.0), 0.4, 1e-7, 0); /* no gain: cut */
    assert_close(nn_schedule_on_metric(s, 6, 0.5), 0.4, 1e-7, 0);
    nn_schedule_free(s);
    nn_ctx_free(ctx);
}

NN_GROUP(schedule,
         cmocka_unit_test(torch_schedules),
         cmocka_unit_test(parse_errors),
         cmocka_unit_test(validation),
         cmocka_unit_test(format_round_trip),
         cmocka_unit_test(plateau_zero_patience),
         cmocka_unit_test(plateau_state_restore),
         cmocka_unit_test(warmup_then_plateau))
