/*
 * test_api.c - the C API's bounds: every entry point that takes a size or a
 * shape checks it against the model or graph and names both numbers in its
 * message; training on after a finished fit; prediction helpers.
 */
#include "test.h"

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

NN_GROUP(api,
         cmocka_unit_test(source_features_must_match_model),
         cmocka_unit_test(labels_for_a_regression_model),
         cmocka_unit_test(targets_for_a_classifier),
         cmocka_unit_test(targets_must_match_outputs),
         cmocka_unit_test(validation_source_is_checked),
         cmocka_unit_test(evaluate_checks_the_source),
         cmocka_unit_test(dataset_source_classes),
         cmocka_unit_test(binary_labels_out_of_range),
         cmocka_unit_test(dataset_source_equals_array_source))
