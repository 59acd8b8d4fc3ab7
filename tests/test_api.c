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

NN_GROUP(api,
         cmocka_unit_test(source_features_must_match_model))
