/*
 * test_init.c - initializers: the text form (parse, format, errors), the
 * sample statistics of every kind on a 784x256 layer against the stated
 * distribution, the warning for a layer whose units start alike, bias
 * initializers, and the model spec that records the initializers a
 * configuration supplied. The same cases run through the CLI in test_cli.c.
 */
#include "test.h"

#define SQ3 1.7320508075688772
#define XU 0.075955452531275 /* sqrt(6 / (784 + 256)): Xavier uniform bound */
#define HU 0.08748177652797065 /* sqrt(6 / 784): He uniform bound (gain sqrt 2) */

const struct init_case nn_test_init_cases[] = {
    {"zeros", 0, 0, 0, 0, 0},
    {"constant:0.25", 0.25, 0, 0, 0.25, 0.25},
    {"constant:-1.5", -1.5, 0, 0, -1.5, -1.5},
    {"normal", 0, 0.01, 3, -1, 1},
    {"normal:0.1", 0, 0.1, 3, -10, 10},
    {"normal:0.2:-0.5", -0.5, 0.2, 3, -10, 10},
    {"normal:0", 0, 0, 0, 0, 0},
    {"uniform", 0, 0.05 / SQ3, 1.8, -0.05, 0.05},
    {"uniform:0.5", 0, 0.5 / SQ3, 1.8, -0.5, 0.5},
    {"uniform:-1:3", 1, 2 / SQ3, 1.8, -1, 3},
    {"xavier_uniform", 0, XU / SQ3, 1.8, -XU, XU},
    {"xavier_uniform:2", 0, 2 * XU / SQ3, 1.8, -2 * XU, 2 * XU},
    {"glorot", 0, XU / SQ3, 1.8, -XU, XU},
    {"xavier_normal", 0, 0.043852900965351466, 3, -1, 1}, /* sqrt(2 / 1040) */
    {"xavier_normal:0.5", 0, 0.021926450482675733, 3, -1, 1},
    {"he_normal", 0, 0.050507627227610534, 3, -1, 1}, /* sqrt(2 / 784) */
    {"kaiming", 0, 0.050507627227610534, 3, -1, 1},
    {"he_normal:1", 0, 1.0 / 28, 3, -1, 1},
    {"he_uniform", 0, HU / SQ3, 1.8, -HU, HU},
    {"he_uniform:1", 0, 0.061858957413174 / SQ3, 1.8, -0.061858957413174,
     0.061858957413174}, /* sqrt(3 / 784) */
};
const int nn_test_init_ncases = (int)(sizeof nn_test_init_cases / sizeof nn_test_init_cases[0]);

void nn_test_check_init(const char *what, const struct init_case *c, const float *w, int64_t n)
{
    double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        s += w[i];
        lo = fmin(lo, w[i]);
        hi = fmax(hi, w[i]);
    }
    double mean = s / (double)n;
    for (int64_t i = 0; i < n; i++)
        s2 += (w[i] - mean) * (w[i] - mean);
    double std = sqrt(s2 / (double)(n - 1));
    if (c->std == 0) {
        for (int64_t i = 0; i < n; i++)
            if (w[i] != (float)c->mean)
                fail_msg("%s: value %lld is %.9g, expected exactly %.9g", what, (long long)i,
                         (double)w[i], c->mean);
        return;
    }
    double se_mean = c->std / sqrt((double)n);
    double se_std = c->std * sqrt((c->kurtosis - 1) / (4.0 * (double)n));
    double z_mean = (mean - c->mean) / se_mean, z_std = (std - c->std) / se_std;
    if (getenv("NN_INIT_REPORT"))
        print_message("%-24s mean %+.6f (z %+.2f)  std %.6f (z %+.2f)\n", what, mean, z_mean,
                      std, z_std);
    if (fabs(z_mean) > 3 || fabs(z_std) > 3)
        fail_msg("%s: mean %.6g, std %.6g; expected %.6g and %.6g within 3 standard errors "
                 "(%.3g and %.3g): off by %.2f and %.2f", what, mean, std, c->mean, c->std,
                 se_mean, se_std, z_mean, z_std);
    if (lo < c->lo || hi > c->hi)
        fail_msg("%s: values in [%.9g, %.9g], outside [%.9g, %.9g]", what, lo, hi, c->lo, c->hi);
}

/* Every case through nn_init_parse and nn_init_fill, and its text form
 * written back and read again. */
static void statistics_of_every_kind(void **state)
{
    (void)state;
    enum { N = INIT_OUT * INIT_IN };
    float *w = malloc(N * sizeof *w);
    assert_non_null(w);
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 11, .threads = 1});
    for (int c = 0; c < nn_test_init_ncases; c++) {
        const struct init_case *k = &nn_test_init_cases[c];
        struct nn_init init, back;
        char text[64];
        assert_ok(ctx, nn_init_parse(ctx, k->form, &init));
        assert_ok(ctx, nn_init_fill(ctx, init, w, N, INIT_IN, INIT_OUT));
        nn_test_check_init(k->form, k, w, N);
        int len = nn_init_format(init, text, sizeof text);
        assert_int_equal(len, (int)strlen(text));
        assert_ok(ctx, nn_init_parse(ctx, text, &back));
        if (memcmp(&init, &back, sizeof init) != 0)
            fail_msg("%s: written as '%s', which reads back differently", k->form, text);
    }
    /* the check can fail: uniform:0.5 is not normal:0.1 */
    struct nn_init init;
    assert_ok(ctx, nn_init_parse(ctx, "uniform:0.5", &init));
    assert_ok(ctx, nn_init_fill(ctx, init, w, N, INIT_IN, INIT_OUT));
    double s2 = 0;
    for (int i = 0; i < N; i++)
        s2 += (double)w[i] * w[i];
    assert_true(fabs(sqrt(s2 / N) - 0.1) > 0.1);
    nn_ctx_free(ctx);
    free(w);
}

static void text_forms(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    struct nn_init i;
    assert_ok(ctx, nn_init_parse(ctx, "normal", &i));
    assert_true(i.kind == NN_INIT_NORMAL && i.a == 0 && i.b == 0.01f);
    assert_ok(ctx, nn_init_parse(ctx, "uniform", &i));
    assert_true(i.kind == NN_INIT_UNIFORM && i.a == -0.05f && i.b == 0.05f);
    assert_ok(ctx, nn_init_parse(ctx, "uniform:0.3", &i));
    assert_true(i.a == -0.3f && i.b == 0.3f);
    assert_ok(ctx, nn_init_parse(ctx, "constant:0", &i));
    assert_true(i.kind == NN_INIT_CONSTANT && i.a == 0);
    assert_ok(ctx, nn_init_parse(ctx, "he", &i));
    assert_true(i.kind == NN_INIT_HE_NORMAL && i.gain == 0);
    char buf[64];
    nn_init_format((struct nn_init){NN_INIT_NORMAL, 0.5f, 0.25f, 0}, buf, sizeof buf);
    assert_string_equal(buf, "normal:0.25:0.5");
    nn_init_format((struct nn_init){NN_INIT_UNIFORM, -0.1f, 0.1f, 0}, buf, sizeof buf);
    assert_string_equal(buf, "uniform:0.1");
    nn_init_format((struct nn_init){NN_INIT_XAVIER_NORMAL, 0, 0, 0}, buf, sizeof buf);
    assert_string_equal(buf, "xavier_normal");
    assert_int_equal(nn_init_format((struct nn_init){NN_INIT_CONSTANT, 0.5f, 0, 0}, NULL, 0), 12);
    static const struct { const char *text, *needle; } bad[] = {
        {"gaussian", "unknown initializer 'gaussian'"},
        {"normal:x", "'x' is not a number"},
        {"normal:-0.1", "standard deviation -0.1"},
        {"normal:1:2:3", "at most 2 numbers"},
        {"uniform:-1", "bound -1"},
        {"uniform:3:1", "reversed"},
        {"constant", "constant needs its value"},
        {"zeros:1", "zeros takes no numbers"},
        {"he_normal:0", "gain 0"},
        {"xavier_uniform:1:2", "at most 1 number"},
        {"normal:inf", "'inf' is not a number"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        struct nn_init before = {NN_INIT_HE_UNIFORM, 1, 2, 3}, x = before;
        if (nn_init_parse(ctx, bad[k].text, &x) != NN_ERR_INVALID)
            fail_msg("'%s' was accepted", bad[k].text);
        if (!strstr(nn_ctx_error(ctx), bad[k].needle))
            fail_msg("'%s': message '%s' lacks '%s'", bad[k].text, nn_ctx_error(ctx),
                     bad[k].needle);
        assert_memory_equal(&x, &before, sizeof x);
    }
    /* a struct with numbers out of range is refused when filled */
    float w[4];
    assert_int_equal(nn_init_fill(ctx, (struct nn_init){NN_INIT_NORMAL, 0, -1, 0}, w, 4, 2, 2),
                     NN_ERR_INVALID);
    assert_int_equal(nn_init_fill(ctx, (struct nn_init){NN_INIT_HE_NORMAL, 0, 0, -2}, w, 4, 2, 2),
                     NN_ERR_INVALID);
    assert_non_null(strstr(nn_ctx_error(ctx), "gain -2"));
    nn_ctx_free(ctx);
}

/* ---- the symmetry warning ------------------------------------------------ */

struct warnings {
    int n;
    char text[4][512];
};

static void collect(const char *msg, void *user)
{
    struct warnings *w = user;
    if (w->n < 4)
        snprintf(w->text[w->n], sizeof w->text[0], "%s", msg);
    w->n++;
}

/* Warnings while building spec with cfg; the model must still build. */
static struct warnings warnings_of(const char *spec, const struct nn_model_cfg *cfg)
{
    struct warnings w = {0};
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    nn_ctx_set_warning(ctx, collect, &w);
    nn_model *m = nn_model_new(ctx, spec, cfg);
    if (!m)
        fail_msg("%s: %s", spec, nn_ctx_error(ctx));
    nn_model_free(m);
    nn_ctx_free(ctx);
    return w;
}

static void symmetric_layers_warn(void **state)
{
    (void)state;
    /* a hidden layer whose units start alike: told apart only downstream */
    struct warnings w = warnings_of("4 dense:3:constant:0.5 relu dense:2", NULL);
    assert_int_equal(w.n, 1);
    assert_non_null(strstr(w.text[0], "dense1"));
    assert_non_null(strstr(w.text[0], "constant:0.5"));
    assert_non_null(strstr(w.text[0], "symmetry"));
    assert_non_null(strstr(w.text[0], "3 units"));
    assert_null(strstr(w.text[0], "learn the same thing"));
    /* the whole network alike: every unit learns the same thing */
    struct nn_model_cfg c = {.has_init = true, .init = {.kind = NN_INIT_ZEROS}};
    w = warnings_of("4 dense:3 relu dense:5 tanh dense:2 softmax", &c);
    assert_int_equal(w.n, 2); /* dense1, dense2; the output layer's units have their targets */
    assert_non_null(strstr(w.text[0], "dense1"));
    assert_non_null(strstr(w.text[0], "all 3 learn the same thing"));
    assert_non_null(strstr(w.text[1], "dense2"));
    c.init = (struct nn_init){NN_INIT_NORMAL, 0.1f, 0, 0}; /* standard deviation 0 */
    w = warnings_of("4 dense:3 relu dense:2 softmax", &c);
    assert_int_equal(w.n, 1);
    assert_non_null(strstr(w.text[0], "normal:0:0.1"));
    /* dropout tells the units apart as well (a rate of 0 does not) */
    w = warnings_of("4 dense:3:zeros dropout:0.5 dense:2:zeros", NULL);
    assert_int_equal(w.n, 1);
    assert_non_null(strstr(w.text[0], "dropout"));
    w = warnings_of("4 dense:3:zeros dropout:0 dense:2:zeros", NULL);
    assert_int_equal(w.n, 1);
    assert_non_null(strstr(w.text[0], "all 3 learn the same thing"));
    /* nothing to warn of: random weights, random biases, one unit, an output layer */
    static const char *const quiet[] = {
        "4 dense:3 relu dense:2 softmax", "4 dense:3:normal relu dense:2:uniform:0.1 softmax",
        "4 dense:3:zeros:bias=normal:0.1 relu dense:2", "4 dense:1:zeros relu dense:2",
        "4 dense:3:zeros softmax"};
    for (size_t i = 0; i < sizeof quiet / sizeof quiet[0]; i++) {
        w = warnings_of(quiet[i], NULL);
        if (w.n)
            fail_msg("%s: warned '%s'", quiet[i], w.text[0]);
    }
    /* constant biases alone: no warning */
    c = (struct nn_model_cfg){.has_bias_init = true, .bias_init = {NN_INIT_CONSTANT, 0.1f, 0, 0}};
    w = warnings_of("4 dense:3 relu dense:2 softmax", &c);
    assert_int_equal(w.n, 0);
}

/* The spread between the rows (units) of a (units, in) weight. */
static double unit_spread(const nn_model *m, const char *param, int units, int in)
{
    const float *w = nn_value(nn_graph_find(nn_model_graph(m), param));
    double d = 0;
    for (int u = 1; u < units; u++)
        for (int j = 0; j < in; j++)
            d = fmax(d, fabs((double)w[u * in + j] - w[j]));
    return d;
}

/* Such a model trains all the same; with every layer alike its units stay
 * alike, with a random next layer they come apart. */
static void symmetric_layer_trains_anyway(void **state)
{
    (void)state;
    const char *specs[2] = {"2 dense:4:constant:0.5 tanh dense:1:constant:0.5",
                            "2 dense:4:constant:0.5 tanh dense:1"};
    for (int k = 0; k < 2; k++) {
        nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 2, .threads = 1});
        nn_model *m = nn_model_new(ctx, specs[k], &(struct nn_model_cfg){.max_batch = 4});
        assert_non_null(m);
        float x[8] = {0, 0, 0, 1, 1, 0, 1, 1}, y[4] = {0, 1, 1, 0};
        struct nn_array_source a = {.x = x, .targets = y, .n = 4, .features = 2, .ntargets = 1};
        struct nn_source src = nn_source_from_arrays(&a);
        nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
            .epochs = 20, .batch = 4, .optim = {.kind = NN_OPTIM_SGD, .lr = 0.5f}});
        assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
        const float *w = nn_value(nn_graph_find(nn_model_graph(m), "dense1.weight"));
        assert_true(fabs(w[0] - 0.5) > 1e-3); /* it trained */
        double spread = unit_spread(m, "dense1.weight", 4, 2);
        if (k == 0 && spread > 1e-6)
            fail_msg("%s: units differ by %g", specs[k], spread);
        if (k == 1 && spread < 1e-3)
            fail_msg("%s: units stayed within %g", specs[k], spread);
        nn_trainer_free(t);
        nn_model_free(m);
        nn_ctx_free(ctx);
    }
}

/* ---- biases and the spec text -------------------------------------------- */

static void bias_init_and_spec_text(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 3, .threads = 1});
    struct nn_model_cfg c = {.has_init = true, .has_bias_init = true, .has_dropout = true,
                             .dropout = 0.25f};
    assert_ok(ctx, nn_init_parse(ctx, "normal:0.1", &c.init));
    assert_ok(ctx, nn_init_parse(ctx, "constant:0.5", &c.bias_init));
    const char *spec = "4 dense:8:he_uniform relu dropout dense:6:bias=zeros relu "
                       "dense:3 softmax";
    nn_model *m = nn_model_new(ctx, spec, &c);
    if (!m)
        fail_msg("%s", nn_ctx_error(ctx));
    /* the configuration's numbers are written where layers give none */
    assert_string_equal(nn_model_spec(m),
                        "4 dense:8:he_uniform:bias=constant:0.5 relu dropout:0.25 "
                        "dense:6:normal:0.1:bias=zeros relu "
                        "dense:3:normal:0.1:bias=constant:0.5 softmax");
    nn_graph *g = nn_model_graph(m);
    const float *b1 = nn_value(nn_graph_find(g, "dense1.bias"));
    const float *b2 = nn_value(nn_graph_find(g, "dense2.bias"));
    for (int i = 0; i < 8; i++)
        assert_true(b1[i] == 0.5f);
    for (int i = 0; i < 6; i++)
        assert_true(b2[i] == 0.0f);
    /* that text alone rebuilds the same weights, and reads back as itself */
    nn_ctx_seed(ctx, 3);
    nn_model *again = nn_model_new(ctx, nn_model_spec(m), NULL);
    assert_non_null(again);
    assert_string_equal(nn_model_spec(again), nn_model_spec(m));
    assert_memory_equal(nn_graph_param_block(g), nn_graph_param_block(nn_model_graph(again)),
                        (size_t)nn_graph_param_count(g) * sizeof(float));
    nn_model_free(again);
    /* with the configuration again: nothing left to add */
    nn_model *twice = nn_model_new(ctx, nn_model_spec(m), &c);
    assert_string_equal(nn_model_spec(twice), nn_model_spec(m));
    nn_model_free(twice);
    nn_model_free(m);
    /* a configuration that adds nothing leaves the text as written */
    m = nn_model_new(ctx, "4  dense:3,softmax", NULL);
    assert_string_equal(nn_model_spec(m), "4  dense:3,softmax");
    nn_model_free(m);
    /* bias initializers with numbers in the spec, drawn from their own distribution */
    m = nn_model_new(ctx, "784 dense:256:bias=normal:0.5:2 relu dense:2 softmax", NULL);
    assert_non_null(m);
    const struct init_case k = {"bias=normal:0.5:2", 2, 0.5, 3, -10, 10};
    nn_test_check_init(k.form, &k, nn_value(nn_graph_find(nn_model_graph(m), "dense1.bias")),
                       256);
    nn_model_free(m);
    /* a configuration with numbers out of range is refused up front */
    c = (struct nn_model_cfg){.has_init = true, .init = {NN_INIT_UNIFORM, 1, -1, 0}};
    assert_null(nn_model_new(ctx, "4 dense:3 softmax", &c));
    assert_non_null(strstr(nn_ctx_error(ctx), "reversed"));
    nn_ctx_free(ctx);
}

NN_GROUP(init,
         cmocka_unit_test(statistics_of_every_kind),
         cmocka_unit_test(text_forms),
         cmocka_unit_test(symmetric_layers_warn),
         cmocka_unit_test(symmetric_layer_trains_anyway),
         cmocka_unit_test(bias_init_and_spec_text))
