/*
 * test_api.c - the C API's bounds: every entry point that takes a size or a
 * shape checks it against the model or graph and names both numbers in its
 * message; training on after a finished fit; prediction helpers.
 */
#include "test.h"

#if defined(__SANITIZE_ADDRESS__)
#define NN_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NN_TEST_ASAN 1
#endif
#endif
#ifdef NN_TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

static nn_ctx *new_ctx(uint64_t seed)
{
    return nn_ctx_new(&(struct nn_ctx_cfg){.seed = seed, .threads = 1});
}

/* Asserts that call returned status and left a message containing a and b. */
#define expect_fail(ctx, status, call, a, b)                                  \
    do {                                                                      \
        nn_ctx_clear_error(ctx);                                              \
        nn_status s_ = (call);                                                \
        const char *m_ = nn_ctx_error(ctx);                                   \
        if (s_ != (status))                                                   \
            fail_msg("%s returned %s, expected %s (message: %s)", #call,      \
                     nn_status_str(s_), nn_status_str(status), m_);           \
        if (!strstr(m_, a) || ((b) && !strstr(m_, (const char *)(b))))        \
            fail_msg("%s: message '%s' lacks '%s' or '%s'", #call, m_, a,     \
                     (b) ? (const char *)(b) : "");                           \
        print_message("%s\n", m_);                                            \
    } while (0)

/* Rows of 3 features given to a model of 2 inputs: refused before anything
 * is copied into the input buffer. */
static void source_features_must_match_model(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    nn_model *m = nn_model_new(ctx, "2 dense:4 tanh dense:1",
                               &(struct nn_model_cfg){.max_batch = 8});
    assert_non_null(m);
    float x[4 * 3] = {0}, y[4] = {0};
    struct nn_array_source a = {.x = x, .targets = y, .n = 4, .features = 3, .ntargets = 1};
    struct nn_source src = nn_source_from_arrays(&a);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){.epochs = 1, .batch = 4});
    assert_non_null(t);
    expect_fail(ctx, NN_ERR_SHAPE, nn_trainer_fit(t, &src, NULL), "3 features", "2 inputs");
    assert_int_equal(nn_trainer_epoch(t), 0);
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
}


/* Trains spec for one epoch on the arrays; returns the status of the fit
 * (the message is in ctx). */
static nn_status fit_arrays(nn_ctx *ctx, const char *spec, struct nn_array_source *a,
                            struct nn_array_source *val)
{
    nn_model *m = nn_model_new(ctx, spec, &(struct nn_model_cfg){.max_batch = 8});
    if (!m)
        fail_msg("model '%s': %s", spec, nn_ctx_error(ctx));
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){.epochs = 1, .batch = 4});
    assert_non_null(t);
    struct nn_source src = nn_source_from_arrays(a), vs;
    if (val)
        vs = nn_source_from_arrays(val);
    nn_ctx_clear_error(ctx);
    nn_status st = nn_trainer_fit(t, &src, val ? &vs : NULL);
    nn_trainer_free(t);
    nn_model_free(m);
    return st;
}

static float X8[8 * 2] = {0, 0, 0, 1, 1, 0, 1, 1, 0.5f, 0.5f, 1, 2, 2, 1, 3, 3};
static int32_t Y8[8] = {0, 1, 1, 0, 1, 0, 0, 1};
static float T8[8 * 2] = {0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0, 1};

/* Class labels given to a regression model: an error that says so, naming
 * the loss, not "could not provide 4 samples". */
static void labels_for_a_regression_model(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    struct nn_array_source a = {.x = X8, .labels = Y8, .n = 8, .features = 2};
    expect_fail(ctx, NN_ERR_INVALID, fit_arrays(ctx, "2 dense:4 relu dense:1", &a, NULL),
                "class labels", "mean squared error");
    nn_ctx_free(ctx);
}

/* Regression targets given to a cross-entropy model. */
static void targets_for_a_classifier(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    struct nn_array_source a = {.x = X8, .targets = T8, .n = 8, .features = 2, .ntargets = 2};
    expect_fail(ctx, NN_ERR_INVALID, fit_arrays(ctx, "2 dense:4 relu dense:2 softmax", &a, NULL),
                "regression targets (2 per sample)", "cross-entropy");
    nn_ctx_free(ctx);
}

/* Targets per sample must equal the model's outputs. */
static void targets_must_match_outputs(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    struct nn_array_source a = {.x = X8, .targets = T8, .n = 4, .features = 2, .ntargets = 2};
    expect_fail(ctx, NN_ERR_SHAPE, fit_arrays(ctx, "2 dense:4 relu dense:1", &a, NULL),
                "2 targets per sample", "1 output");
    nn_ctx_free(ctx);
}

/* The validation source is checked before the first epoch, not after it. */
static void validation_source_is_checked(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    float xv[4 * 3] = {0};
    struct nn_array_source a = {.x = X8, .targets = T8, .n = 8, .features = 2, .ntargets = 1};
    struct nn_array_source v = {.x = xv, .targets = T8, .n = 4, .features = 3, .ntargets = 1};
    expect_fail(ctx, NN_ERR_SHAPE, fit_arrays(ctx, "2 dense:4 relu dense:1", &a, &v),
                "validation data", "3 features");
    nn_ctx_free(ctx);
}

/* nn_evaluate checks its source as the trainer does. */
static void evaluate_checks_the_source(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    nn_model *m = nn_model_new(ctx, "2 dense:3 softmax", &(struct nn_model_cfg){.max_batch = 8});
    assert_non_null(m);
    float x5[8 * 5] = {0};
    struct nn_array_source a = {.x = x5, .labels = Y8, .n = 8, .features = 5};
    struct nn_source src = nn_source_from_arrays(&a);
    struct nn_metrics r;
    expect_fail(ctx, NN_ERR_SHAPE, nn_evaluate(m, &src, &r), "5 features", "2 inputs");
    a = (struct nn_array_source){.x = X8, .targets = T8, .n = 8, .features = 2, .ntargets = 1};
    src = nn_source_from_arrays(&a);
    expect_fail(ctx, NN_ERR_INVALID, nn_evaluate(m, &src, &r), "regression targets",
                "cross-entropy");
    a = (struct nn_array_source){.x = X8, .labels = Y8, .n = 8, .features = 2};
    src = nn_source_from_arrays(&a);
    assert_ok(ctx, nn_evaluate(m, &src, &r));
    assert_int_equal(r.n, 8);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* A data set's class count is checked against a classifier's outputs, and
 * a one-output sigmoid model takes class labels 0/1 from a data set. */
static void dataset_source_classes(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    int32_t y[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    nn_dataset *ds = nn_dataset_from_arrays(ctx, &(struct nn_array_data){
        .n = 8, .ndim = 1, .dims = (int64_t[]){2}, .x = X8, .labels = y});
    assert_non_null(ds);
    nn_model *m = nn_model_new(ctx, "2 dense:3 softmax", &(struct nn_model_cfg){.max_batch = 8});
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){.epochs = 1, .batch = 4});
    struct nn_source src = nn_source_from_dataset(ds);
    assert_int_equal(src.features, 2);
    assert_int_equal(src.classes, 4);
    expect_fail(ctx, NN_ERR_SHAPE, nn_trainer_fit(t, &src, NULL), "4 classes", "3 outputs");
    nn_trainer_free(t);
    nn_model_free(m);
    /* four classes for a one-output sigmoid */
    m = nn_model_new(ctx, "2 dense:1 sigmoid", &(struct nn_model_cfg){.max_batch = 8});
    t = nn_trainer_new(m, &(struct nn_train_cfg){.epochs = 1, .batch = 4});
    expect_fail(ctx, NN_ERR_SHAPE, nn_trainer_fit(t, &src, NULL), "4 classes",
                "labels 0 and 1");
    nn_dataset_free(ds);
    /* two classes: trained as 0/1 targets */
    ds = nn_dataset_from_arrays(ctx, &(struct nn_array_data){
        .n = 8, .ndim = 1, .dims = (int64_t[]){2}, .x = X8, .labels = Y8});
    src = nn_source_from_dataset(ds);
    assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
    struct nn_metrics r;
    assert_ok(ctx, nn_evaluate(m, &src, &r));
    assert_int_equal(r.n, 8);
    nn_trainer_free(t);
    nn_model_free(m);
    nn_dataset_free(ds);
    nn_ctx_free(ctx);
}

/* Class labels other than 0 and 1 from a source whose class count is not
 * known: refused at the batch that holds one, naming the sample. */
static void binary_labels_out_of_range(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    int32_t y[8] = {0, 1, 0, 1, 0, 1, 2, 1};
    struct nn_array_source a = {.x = X8, .labels = y, .n = 8, .features = 2};
    expect_fail(ctx, NN_ERR_RANGE, fit_arrays(ctx, "2 dense:1 sigmoid", &a, NULL),
                "sample 6 has class label 2", "labels 0 and 1");
    nn_ctx_free(ctx);
}

/* A data set as a source trains exactly as the same arrays do. */
static void dataset_source_equals_array_source(void **state)
{
    (void)state;
    float w[2][64];
    int64_t np = 0;
    for (int pass = 0; pass < 2; pass++) {
        nn_ctx *ctx = new_ctx(3);
        nn_model *m = nn_model_new(ctx, "2 dense:4 tanh dense:2",
                                   &(struct nn_model_cfg){.max_batch = 8});
        nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
            .epochs = 5, .batch = 3, .optim = {.kind = NN_OPTIM_ADAM, .lr = 0.05f}});
        assert_non_null(t);
        struct nn_array_source a = {.x = X8, .targets = T8, .n = 8, .features = 2,
                                    .ntargets = 2};
        nn_dataset *ds = nn_dataset_from_arrays(ctx, &(struct nn_array_data){
            .n = 8, .ndim = 1, .dims = (int64_t[]){2}, .x = X8, .targets = T8, .ntargets = 2});
        assert_non_null(ds);
        struct nn_source src = pass ? nn_source_from_dataset(ds) : nn_source_from_arrays(&a);
        assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
        nn_graph *g = nn_model_graph(m);
        np = nn_graph_param_count(g);
        assert_true(np <= 64);
        memcpy(w[pass], nn_graph_param_block(g), (size_t)np * sizeof(float));
        nn_dataset_free(ds);
        nn_trainer_free(t);
        nn_model_free(m);
        nn_ctx_free(ctx);
    }
    for (int64_t i = 0; i < np; i++)
        if (w[0][i] != w[1][i])
            fail_msg("weight %lld: %.9g from arrays, %.9g from the data set", (long long)i,
                     (double)w[0][i], (double)w[1][i]);
}

/* A compiled graph x (N, 3) -> dense 2 -> softmax cross-entropy with y,
 * max_batch 4. */
struct small {
    nn_ctx *ctx;
    nn_graph *g;
    nn_node *x, *y, *loss;
};

static void small_graph(struct small *s)
{
    s->ctx = new_ctx(1);
    s->g = nn_graph_new(s->ctx);
    s->x = nn_input(s->g, "x", 1, (int64_t[]){3});
    s->y = nn_labels(s->g, "y");
    nn_node *z = nn_dense(s->g, s->x, 2, (struct nn_init){.kind = NN_INIT_XAVIER_UNIFORM}, "d");
    s->loss = nn_softmax_cross_entropy(s->g, z, s->y);
    assert_ok(s->ctx, nn_graph_compile(s->g, &s->loss, 1, 4));
}

static void small_free(struct small *s)
{
    nn_graph_free(s->g);
    nn_ctx_free(s->ctx);
}

static void feed_checks_count_and_data(void **state)
{
    (void)state;
    struct small s;
    small_graph(&s);
    float x[5 * 3] = {0};
    expect_fail(s.ctx, NN_ERR_INVALID, nn_feed(s.g, s.x, x, 5), "5 samples", "1 to 4");
    expect_fail(s.ctx, NN_ERR_INVALID, nn_feed(s.g, s.x, x, 0), "0 samples", "1 to 4");
    expect_fail(s.ctx, NN_ERR_INVALID, nn_feed(s.g, s.x, NULL, 2), "no data", "2 samples");
    expect_fail(s.ctx, NN_ERR_INVALID, nn_feed(s.g, s.y, x, 2), "'y'", "not an input");
    assert_ok(s.ctx, nn_feed(s.g, s.x, x, 4));
    small_free(&s);
}

static void feed_labels_checks_count_and_data(void **state)
{
    (void)state;
    struct small s;
    small_graph(&s);
    int32_t y[5] = {0};
    expect_fail(s.ctx, NN_ERR_INVALID, nn_feed_labels(s.g, s.y, y, 5), "5 samples", "1 to 4");
    expect_fail(s.ctx, NN_ERR_INVALID, nn_feed_labels(s.g, s.y, NULL, 2), "no labels",
                "2 samples");
    expect_fail(s.ctx, NN_ERR_INVALID, nn_feed_labels(s.g, s.x, y, 2), "'x'",
                "not a labels node");
    /* a label outside [0, classes) is refused by the loss, naming both */
    float x[2 * 3] = {0};
    y[1] = 2;
    assert_ok(s.ctx, nn_feed(s.g, s.x, x, 2));
    assert_ok(s.ctx, nn_feed_labels(s.g, s.y, y, 2));
    expect_fail(s.ctx, NN_ERR_RANGE, nn_forward(s.g), "label 2", "[0, 2)");
    small_free(&s);
}

static void set_batch_checks_count(void **state)
{
    (void)state;
    struct small s;
    small_graph(&s);
    expect_fail(s.ctx, NN_ERR_INVALID, nn_set_batch(s.g, 5), "batch of 5", "1 to 4");
    expect_fail(s.ctx, NN_ERR_INVALID, nn_set_batch(s.g, -1), "batch of -1", "1 to 4");
    assert_ok(s.ctx, nn_set_batch(s.g, 4));
    assert_int_equal(nn_graph_batch(s.g), 4);
    small_free(&s);
}

/* Shapes whose element counts overflow are refused where they are given:
 * a leaf's own shape, and a buffer at the compiled batch size. */
static void shapes_that_overflow(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    nn_graph *g = nn_graph_new(ctx);
    nn_ctx_clear_error(ctx);
    assert_null(nn_input(g, "big", 2, (int64_t[]){(int64_t)1 << 30, (int64_t)1 << 30}));
    if (!strstr(nn_ctx_error(ctx), "'big'") || !strstr(nn_ctx_error(ctx), "1099511627776"))
        fail_msg("message: %s", nn_ctx_error(ctx));
    nn_graph_free(g);
    /* 2^44 rows of 2^20 floats: 2^66 bytes, which wrapped to an empty arena
     * (compile returned NN_OK) */
    g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){(int64_t)1 << 20});
    nn_node *o = nn_sum(g, x);
    assert_non_null(o);
    expect_fail(ctx, NN_ERR_SHAPE, nn_graph_compile(g, &o, 1, (int64_t)1 << 44),
                "node 'x'", "max_batch 17592186044416");
    nn_graph_free(g);
    /* a product of two parameters each in range: (2^21, 1) . (1, 2^21) */
    g = nn_graph_new(ctx);
    nn_node *a = nn_param(g, "a", 2, (int64_t[]){(int64_t)1 << 21, 1},
                          (struct nn_init){.kind = NN_INIT_ZEROS});
    nn_node *b = nn_param(g, "b", 2, (int64_t[]){1, (int64_t)1 << 21},
                          (struct nn_init){.kind = NN_INIT_ZEROS});
    o = nn_sum(g, nn_matmul(g, a, b, false));
    assert_non_null(o);
    expect_fail(ctx, NN_ERR_SHAPE, nn_graph_compile(g, &o, 1, 1), "matmul", "more than");
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

static void dataset_gather_checks_its_arguments(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    nn_dataset *ds = nn_dataset_from_arrays(ctx, &(struct nn_array_data){
        .n = 8, .ndim = 1, .dims = (int64_t[]){2}, .x = X8, .labels = Y8});
    assert_non_null(ds);
    float x[4 * 2];
    int32_t y[4];
    expect_fail(ctx, NN_ERR_RANGE, nn_dataset_gather(ds, (int64_t[]){0, 8}, 2, x, y, NULL),
                "index 8", "[0, 8)");
    expect_fail(ctx, NN_ERR_INVALID, nn_dataset_gather(ds, NULL, 2, x, y, NULL), "2 samples",
                "without indices");
    expect_fail(ctx, NN_ERR_INVALID, nn_dataset_gather(ds, (int64_t[]){0}, -1, x, y, NULL),
                "-1 samples", ">= 0");
    expect_fail(ctx, NN_ERR_RANGE, nn_dataset_row(ds, -1, x), "index -1", "[0, 8)");
    nn_ctx_clear_error(ctx);
    assert_null(nn_dataset_subset(ds, (int64_t[]){3, 9}, 2));
    if (!strstr(nn_ctx_error(ctx), "index 9") || !strstr(nn_ctx_error(ctx), "[0, 8)"))
        fail_msg("message: %s", nn_ctx_error(ctx));
    nn_dataset_free(ds);
    /* a sample shape with a zero dimension names it */
    nn_ctx_clear_error(ctx);
    assert_null(nn_dataset_from_arrays(ctx, &(struct nn_array_data){
        .n = 8, .ndim = 2, .dims = (int64_t[]){2, 0}, .x = X8}));
    if (!strstr(nn_ctx_error(ctx), "dimension 1") || !strstr(nn_ctx_error(ctx), "is 0"))
        fail_msg("message: %s", nn_ctx_error(ctx));
    nn_ctx_free(ctx);
}

static void model_setters_check_counts(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    nn_model *m = nn_model_new(ctx, "2 dense:3 softmax", &(struct nn_model_cfg){.max_batch = 4});
    assert_non_null(m);
    const char *names[4] = {"a", "b", "c", "d"};
    expect_fail(ctx, NN_ERR_SHAPE, nn_model_set_class_names(m, names, 4), "4 class names",
                "3 outputs");
    expect_fail(ctx, NN_ERR_INVALID, nn_model_set_class_names(m, NULL, 3), "class name 0",
                "NULL");
    float sh[3] = {0}, sc[3] = {1, 1, 1};
    struct nn_norm_stats ns = {NN_NORM_STANDARD, 3, sh, sc};
    expect_fail(ctx, NN_ERR_SHAPE, nn_model_set_norm(m, &ns), "3 features", "takes 2");
    float x[2], p[3];
    expect_fail(ctx, NN_ERR_INVALID, nn_model_predict(m, x, -1, p), "-1", "predict");
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* Data for the continuation tests: y = sin(x0) + x1 / 2 with noise. */
enum { CN = 40, CV = 12 };
static float CX[(CN + CV) * 2], CY[CN + CV];

static void continuation_data(void)
{
    nn_ctx *ctx = new_ctx(7);
    for (int i = 0; i < CN + CV; i++) {
        CX[2 * i] = 3 * nn_rand_uniform(ctx) - 1.5f;
        CX[2 * i + 1] = nn_rand_normal(ctx);
        CY[i] = sinf(CX[2 * i]) + 0.5f * CX[2 * i + 1] + 0.1f * nn_rand_normal(ctx);
    }
    nn_ctx_free(ctx);
}

/* Trains with the epochs cut into parts: fit for parts[0] epochs, then
 * nn_trainer_set_epochs to the running total and fit again for each other
 * part. Copies the weights and the validation losses out. */
static int64_t train_in_parts(const int *parts, int nparts, float *w, double *val_loss)
{
    nn_ctx *ctx = new_ctx(21);
    nn_model *m = nn_model_new(ctx, "2 dense:8 relu dropout:0.2 dense:1",
                               &(struct nn_model_cfg){.max_batch = 16});
    assert_non_null(m);
    struct nn_train_cfg tc = {.epochs = parts[0], .batch = 16, .l2 = 1e-3f,
                              .optim = {.kind = NN_OPTIM_MOMENTUM, .lr = 0.05f}};
    assert_ok(ctx, nn_schedule_parse(ctx, "step:1:0.7", &tc.schedule));
    nn_trainer *t = nn_trainer_new(m, &tc);
    assert_non_null(t);
    struct nn_array_source at = {.x = CX, .targets = CY, .n = CN, .features = 2, .ntargets = 1};
    struct nn_array_source av = {.x = CX + 2 * CN, .targets = CY + CN, .n = CV, .features = 2,
                                 .ntargets = 1};
    struct nn_source tr = nn_source_from_arrays(&at), va = nn_source_from_arrays(&av);
    int total = 0;
    for (int p = 0; p < nparts; p++) {
        total += parts[p];
        if (p > 0)
            assert_ok(ctx, nn_trainer_set_epochs(t, total));
        assert_ok(ctx, nn_trainer_fit(t, &tr, &va));
        assert_int_equal(nn_trainer_epoch(t), total);
    }
    int n;
    const struct nn_epoch_stats *h = nn_trainer_history(t, &n);
    for (int i = 0; i < n; i++)
        val_loss[i] = h[i].val.loss;
    nn_graph *g = nn_model_graph(m);
    int64_t np = nn_graph_param_count(g);
    memcpy(w, nn_graph_param_block(g), (size_t)np * sizeof(float));
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return np;
}

/* Fitting 2 epochs and then 2 more gives the weights of one 4-epoch fit,
 * bit for bit (shuffles, dropout masks, momentum and the schedule carry
 * on), and the same per-epoch history. */
static void fit_twice_equals_one_longer_fit(void **state)
{
    (void)state;
    continuation_data();
    float w1[64], w2[64];
    double v1[4], v2[4];
    int64_t np = train_in_parts((const int[]){4}, 1, w1, v1);
    assert_true(np <= 64);
    train_in_parts((const int[]){2, 2}, 2, w2, v2);
    for (int64_t i = 0; i < np; i++)
        if (w1[i] != w2[i])
            fail_msg("weight %lld: %.9g after 4 epochs, %.9g after 2 + 2", (long long)i,
                     (double)w1[i], (double)w2[i]);
    for (int i = 0; i < 4; i++)
        if (v1[i] != v2[i])
            fail_msg("epoch %d: validation loss %.9g after 4, %.9g after 2 + 2", i + 1, v1[i],
                     v2[i]);
    train_in_parts((const int[]){1, 1, 2}, 3, w2, v2);
    assert_memory_equal(w1, w2, (size_t)np * sizeof(float));
}

/* fit on a trainer with nothing left to do says so instead of returning
 * NN_OK having done nothing; set_epochs refuses fewer epochs than done. */
static void fit_when_finished_is_an_error(void **state)
{
    (void)state;
    continuation_data();
    nn_ctx *ctx = new_ctx(1);
    nn_model *m = nn_model_new(ctx, "2 dense:4 tanh dense:1", &(struct nn_model_cfg){.max_batch = 8});
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){.epochs = 2, .batch = 8});
    struct nn_array_source a = {.x = CX, .targets = CY, .n = CN, .features = 2, .ntargets = 1};
    struct nn_source src = nn_source_from_arrays(&a);
    assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
    expect_fail(ctx, NN_ERR_STATE, nn_trainer_fit(t, &src, NULL), "2 of 2 epochs",
                "nn_trainer_set_epochs");
    assert_int_equal(nn_trainer_epoch(t), 2);
    expect_fail(ctx, NN_ERR_INVALID, nn_trainer_set_epochs(t, 1), "1 epochs", "2 are done");
    expect_fail(ctx, NN_ERR_INVALID, nn_trainer_set_epochs(t, 0), "0 epochs", "2 are done");
    assert_ok(ctx, nn_trainer_set_epochs(t, 3));
    assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
    assert_int_equal(nn_trainer_epoch(t), 3);
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* nn_model_predict reads the caller's rows and writes only out, across
 * several chunks of max_batch, and the result does not depend on where the
 * rows sit in memory (an unaligned copy predicts the same). */
static void predict_leaves_input_unchanged(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(5);
    nn_model *m = nn_model_new(ctx, "3 dense:5 relu dropout:0.5 dense:4 softmax",
                               &(struct nn_model_cfg){.max_batch = 4});
    assert_non_null(m);
    enum { N = 11 };
    float x[N * 3 + 1], x0[N * 3], p[N * 4], q[N * 4];
    for (int i = 0; i < N * 3; i++)
        x[i] = x0[i] = nn_rand_normal(ctx);
    assert_ok(ctx, nn_model_predict(m, x, N, p));
    assert_memory_equal(x, x0, sizeof x0);
    memmove(x + 1, x, sizeof x0); /* the same rows 4 bytes further on */
    assert_ok(ctx, nn_model_predict(m, x + 1, N, q));
    assert_memory_equal(p, q, sizeof p);
    assert_memory_equal(x + 1, x0, sizeof x0);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* A model whose input feeds only its first product predicts straight from
 * the caller's rows (the model's own input buffer is not written), with
 * the same bits as feeding a copy and running the graph, at the MLP's
 * sizes, for batches that take the products' single-row, small and split
 * paths and for rows at any float offset; the buffer is the input's again
 * afterwards. */
static void predict_reads_rows_in_place(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(7);
    nn_model *m = nn_model_new(ctx, "784 dense:256 relu dense:128 relu dense:10 softmax",
                               &(struct nn_model_cfg){.max_batch = 600});
    assert_non_null(m);
    nn_graph *g = nn_model_graph(m);
    float *buf = nn_input_buffer(g, nn_model_input(m));
    assert_non_null(buf);
    enum { F = 784, R = 600, O = 10 };
    float *x = malloc((R * F + 3) * sizeof *x), *p = malloc(R * O * sizeof *p);
    float *q = malloc(R * O * sizeof *q);
    assert_true(x && p && q);
    const int64_t batches[] = {1, 7, 64, 600};
    for (int off = 0; off < 3; off++)
        for (int b = 0; b < 4; b++) {
            int64_t n = batches[b];
            for (int64_t i = 0; i < n * F; i++)
                x[off + i] = nn_rand_normal(ctx);
            for (int64_t i = 0; i < n * F; i++)
                buf[i] = -1.0f; /* predict must leave it alone */
            assert_ok(ctx, nn_model_predict(m, x + off, n, p));
            for (int64_t i = 0; i < n * F; i++)
                assert_true(buf[i] == -1.0f);
            assert_ptr_equal(nn_input_buffer(g, nn_model_input(m)), buf);
            nn_graph_set_training(g, false);
            assert_ok(ctx, nn_feed(g, nn_model_input(m), x + off, n));
            assert_ok(ctx, nn_forward_to(g, nn_model_output(m)));
            memcpy(q, nn_value(nn_model_output(m)), (size_t)(n * O) * sizeof *q);
            assert_memory_equal(p, q, (size_t)(n * O) * sizeof *p);
        }
    free(x);
    free(p);
    free(q);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* Sets every parameter of m from w (in block order). */
static void set_weights(nn_model *m, const float *w, int64_t n)
{
    nn_graph *g = nn_model_graph(m);
    assert_int_equal(nn_graph_param_count(g), n);
    memcpy(nn_graph_param_block(g), w, (size_t)n * sizeof(float));
}

/* predict_class and topk agree with the probabilities predict gives, rank
 * ties to the lower index, and handle a one-output sigmoid as two classes. */
static void predict_class_and_topk(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(9);
    nn_model *m = nn_model_new(ctx, "2 dense:3 softmax", &(struct nn_model_cfg){.max_batch = 2});
    assert_non_null(m);
    /* logits (x0, x1, -x0 - x1): weight (3, 2) then bias (3) */
    set_weights(m, (const float[]){1, 0, 0, 1, -1, -1, 0, 0, 0}, 9);
    float x[5 * 2] = {2, 1, -1, 3, -2, -1, 0, 0, 0.5f, 0.25f};
    int64_t want[5][3] = {{0, 1, 2}, {1, 0, 2}, {2, 1, 0}, {0, 1, 2}, {0, 1, 2}};
    float p[5 * 3], tp[5 * 3];
    int64_t c1[5], tc[5 * 3];
    assert_ok(ctx, nn_model_predict(m, x, 5, p));
    assert_ok(ctx, nn_model_predict_class(m, x, 5, c1));
    assert_ok(ctx, nn_model_topk(m, x, 5, 3, tc, tp));
    for (int i = 0; i < 5; i++) {
        assert_int_equal(c1[i], want[i][0]);
        for (int t = 0; t < 3; t++) {
            assert_int_equal(tc[i * 3 + t], want[i][t]);
            assert_true(tp[i * 3 + t] == p[i * 3 + want[i][t]]);
        }
    }
    assert_close(tp[3 * 3], 1.0 / 3, 1e-6, 0); /* x = (0, 0): a three-way tie */
    int64_t two[5 * 2];
    assert_ok(ctx, nn_model_topk(m, x, 5, 2, two, NULL));
    assert_int_equal(two[2], 1);
    assert_int_equal(two[3], 0);
    expect_fail(ctx, NN_ERR_INVALID, nn_model_topk(m, x, 5, 4, two, NULL), "k is 4", "1 to 3");
    expect_fail(ctx, NN_ERR_INVALID, nn_model_topk(m, x, 5, 0, two, NULL), "k is 0", "1 to 3");
    nn_model_free(m);

    /* one sigmoid output: p = sigmoid(x0) is class 1's probability */
    m = nn_model_new(ctx, "2 dense:1 sigmoid", &(struct nn_model_cfg){.max_batch = 2});
    set_weights(m, (const float[]){1, 0, 0}, 3);
    float xb[3 * 2] = {2, 0, -2, 0, 0, 5};
    assert_ok(ctx, nn_model_predict_class(m, xb, 3, c1));
    assert_int_equal(c1[0], 1);
    assert_int_equal(c1[1], 0);
    assert_int_equal(c1[2], 0); /* p = 0.5 exactly: the tie goes to class 0 */
    assert_ok(ctx, nn_model_topk(m, xb, 3, 2, tc, tp));
    assert_int_equal(tc[0], 1);
    assert_int_equal(tc[1], 0);
    assert_close(tp[0], 1 / (1 + exp(-2.0)), 1e-6, 0);
    assert_close(tp[1], 1 - 1 / (1 + exp(-2.0)), 1e-6, 0);
    assert_int_equal(tc[2], 0);
    expect_fail(ctx, NN_ERR_INVALID, nn_model_topk(m, xb, 3, 3, tc, NULL), "k is 3", "1 to 2");
    nn_model_free(m);

    /* regression: no classes */
    m = nn_model_new(ctx, "2 dense:2", &(struct nn_model_cfg){.max_batch = 2});
    expect_fail(ctx, NN_ERR_STATE, nn_model_predict_class(m, xb, 3, c1), "regression",
                "loss mse");
    expect_fail(ctx, NN_ERR_STATE, nn_model_topk(m, xb, 3, 1, tc, NULL), "regression",
                "loss mse");
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* Under AddressSanitizer (make asan) each arena buffer is followed by a
 * poisoned red zone, so an overflow from one activation into the next is
 * reported; other builds skip this test. */
static void arena_red_zones_under_asan(void **state)
{
    (void)state;
#ifndef NN_TEST_ASAN
    skip();
#else
    struct small s;
    small_graph(&s);
    const char *x = (const char *)nn_input_buffer(s.g, s.x);
    size_t bytes = 4 * 3 * sizeof(float); /* max_batch 4 rows of 3 */
    assert_false(__asan_address_is_poisoned(x));
    assert_false(__asan_address_is_poisoned(x + bytes - 1));
    assert_true(__asan_address_is_poisoned(x + bytes));
    small_free(&s);
#endif
}

/* The did-you-mean the library's and the CLI's messages share. */
static void nearest_names(void **state)
{
    (void)state;
    assert_int_equal(nn_edit_distance("relu", "relu"), 0);
    assert_int_equal(nn_edit_distance("rleu", "relu"), 2);
    assert_int_equal(nn_edit_distance("", "abc"), 3);
    assert_int_equal(nn_edit_distance("adam", "adamw"), 1);
    assert_int_equal(nn_edit_distance("aaaaaaaaaaaaaaaa", "b"), 9); /* capped */
    const char *names[] = {"relu", NULL, "tanh", "leaky_relu"};
    assert_string_equal(nn_nearest_name("rleu", names, 4), "relu");
    assert_string_equal(nn_nearest_name("tahn", names, 4), "tanh");
    assert_null(nn_nearest_name("softmax", names, 4)); /* none within two edits */
    assert_null(nn_nearest_name("re", names, 4));      /* not fewer edits than letters */
}

NN_GROUP(api,
         cmocka_unit_test(nearest_names),
         cmocka_unit_test(source_features_must_match_model),
         cmocka_unit_test(labels_for_a_regression_model),
         cmocka_unit_test(targets_for_a_classifier),
         cmocka_unit_test(targets_must_match_outputs),
         cmocka_unit_test(validation_source_is_checked),
         cmocka_unit_test(evaluate_checks_the_source),
         cmocka_unit_test(dataset_source_classes),
         cmocka_unit_test(binary_labels_out_of_range),
         cmocka_unit_test(dataset_source_equals_array_source),
         cmocka_unit_test(feed_checks_count_and_data),
         cmocka_unit_test(feed_labels_checks_count_and_data),
         cmocka_unit_test(set_batch_checks_count),
         cmocka_unit_test(shapes_that_overflow),
         cmocka_unit_test(dataset_gather_checks_its_arguments),
         cmocka_unit_test(model_setters_check_counts),
         cmocka_unit_test(fit_twice_equals_one_longer_fit),
         cmocka_unit_test(fit_when_finished_is_an_error),
         cmocka_unit_test(predict_leaves_input_unchanged),
         cmocka_unit_test(predict_reads_rows_in_place),
         cmocka_unit_test(predict_class_and_topk),
         cmocka_unit_test(arena_red_zones_under_asan))
