/*
 * test_graph.c - graph-level behaviour and bad input: shape mismatches named
 * in the message, NULL propagation through builders, feeding and running in
 * the wrong order or with too many samples, out-of-range labels, losses at
 * logits of +-1000, batch sizes that change between passes, forward_to
 * without labels, backward from a non-scalar, dropout in both modes, and two
 * contexts in one process.
 */
#include "test.h"

/* ---- helpers ------------------------------------------------------------ */

static nn_ctx *new_ctx(uint64_t seed)
{
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = seed, .threads = 1});
    assert_non_null(ctx);
    return ctx;
}

static const struct nn_init ZEROS = {.kind = NN_INIT_ZEROS};

/* The context's message contains every needle and is one line. */
static void expect_msg(const nn_ctx *ctx, const char *const *needles, int n)
{
    const char *m = nn_ctx_error(ctx);
    for (int i = 0; i < n; i++)
        if (!strstr(m, needles[i]))
            fail_msg("message \"%s\" does not contain \"%s\"", m, needles[i]);
    if (strchr(m, '\n'))
        fail_msg("message \"%s\" spans more than one line", m);
}
#define EXPECT_MSG(ctx, ...)                                                  \
    expect_msg(ctx, (const char *const[]){__VA_ARGS__},                       \
               (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

/* A builder returned NULL with a message naming needles; then compiling
 * the graph (on any valid node) is refused with NN_ERR_STATE. */
static void expect_build_error(nn_ctx *ctx, nn_graph *g, nn_node *made, nn_node *valid,
                               const char *const *needles, int n)
{
    if (made)
        fail_msg("a mismatched builder call returned a node");
    expect_msg(ctx, needles, n);
    char first[512];
    snprintf(first, sizeof first, "%s", nn_ctx_error(ctx));
    assert_int_equal(nn_graph_compile(g, &valid, 1, 4), NN_ERR_STATE);
    /* compile's message carries the original one */
    if (!strstr(nn_ctx_error(ctx), first))
        fail_msg("compile's message \"%s\" lost \"%s\"", nn_ctx_error(ctx), first);
}
#define EXPECT_BUILD_ERROR(ctx, g, made, valid, ...)                          \
    expect_build_error(ctx, g, made, valid, (const char *const[]){__VA_ARGS__}, \
                       (int)(sizeof((const char *const[]){__VA_ARGS__}) /     \
                             sizeof(const char *)))

static void fill_uniform(nn_ctx *r, float *x, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * nn_rand_uniform(r);
}

static bool all_finite(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return false;
    return true;
}

/* ---- (a) shape mismatches at build time --------------------------------- */

static void shape_mismatch_messages(void **state)
{
    (void)state;
    for (int k = 0; k < 10; k++) {
        nn_ctx *ctx = new_ctx(1);
        nn_graph *g = nn_graph_new(ctx);
        nn_node *x = nn_input(g, "x", 1, (int64_t[]){5});
        assert_non_null(x);
        switch (k) {
        case 0: { /* x (N, 5) . W (4, 6) */
            nn_node *W = nn_param(g, "W", 2, (int64_t[]){4, 6}, ZEROS);
            EXPECT_BUILD_ERROR(ctx, g, nn_matmul(g, x, W, false), x, "matmul", "(N, 5)",
                               "(4, 6)");
            break;
        }
        case 1: { /* x (N, 5) . W^T with W (4, 6) */
            nn_node *W = nn_param(g, "W", 2, (int64_t[]){4, 6}, ZEROS);
            EXPECT_BUILD_ERROR(ctx, g, nn_matmul(g, x, W, true), x, "matmul", "(N, 5)",
                               "(4, 6)");
            break;
        }
        case 2: { /* b with a batch axis */
            nn_node *y = nn_input(g, "y", 1, (int64_t[]){5});
            EXPECT_BUILD_ERROR(ctx, g, nn_matmul(g, x, y, true), x, "matmul", "(N, 5)");
            break;
        }
        case 3: { /* bias of the wrong length */
            nn_node *b = nn_param(g, "b", 1, (int64_t[]){4}, ZEROS);
            EXPECT_BUILD_ERROR(ctx, g, nn_add(g, x, b), x, "add", "(N, 5)", "(4)");
            break;
        }
        case 4: { /* two batched operands of different widths, either order */
            nn_node *y = nn_input(g, "y", 1, (int64_t[]){4});
            EXPECT_BUILD_ERROR(ctx, g, nn_mul(g, y, x), x, "mul", "(N, 4)", "(N, 5)");
            break;
        }
        case 5: { /* (2, 5) is not a trailing part of (N, 5) */
            nn_node *b = nn_param(g, "b", 2, (int64_t[]){2, 5}, ZEROS);
            EXPECT_BUILD_ERROR(ctx, g, nn_sub(g, x, b), x, "sub", "(N, 5)", "(2, 5)");
            break;
        }
        case 6: {
            nn_node *t = nn_input(g, "t", 1, (int64_t[]){4});
            EXPECT_BUILD_ERROR(ctx, g, nn_mse(g, x, t), x, "mse", "(N, 5)", "(N, 4)");
            break;
        }
        case 7: {
            nn_node *t = nn_input(g, "t", 2, (int64_t[]){5, 1});
            EXPECT_BUILD_ERROR(ctx, g, nn_sigmoid_bce(g, x, t), x, "sigmoid_bce", "(N, 5)",
                               "(N, 5, 1)");
            break;
        }
        case 8: { /* labels that are not a labels node */
            nn_node *y = nn_input(g, "not_labels", 1, (int64_t[]){1});
            EXPECT_BUILD_ERROR(ctx, g, nn_softmax_cross_entropy(g, x, y), x,
                               "softmax_cross_entropy", "not_labels");
            break;
        }
        case 9: { /* an axis past the end */
            EXPECT_BUILD_ERROR(ctx, g, nn_sum_axis(g, x, 2), x, "sum_axis", "2", "(N, 5)");
            break;
        }
        }
        nn_graph_free(g);
        nn_ctx_free(ctx);
    }
}

/* ---- (b) NULL inputs propagate ------------------------------------------ */

static void null_inputs_propagate(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){3});
    nn_node *y = nn_labels(g, "y");
    assert_non_null(x);
    nn_ctx_clear_error(ctx);
    nn_node *made[] = {
        nn_relu(g, NULL), nn_sigmoid(g, NULL), nn_softmax(g, NULL), nn_abs(g, NULL),
        nn_add(g, NULL, x), nn_add(g, x, NULL), nn_mul(g, NULL, NULL),
        nn_matmul(g, NULL, x, true), nn_scale(g, NULL, 2.0f), nn_sum(g, NULL),
        nn_mean_axis(g, NULL, 0), nn_leaky_relu(g, NULL, 0.1f),
        nn_hardtanh(g, NULL, -1.0f, 1.0f), nn_dropout(g, NULL, 0.5f),
        nn_softmax_cross_entropy(g, NULL, y), nn_mse(g, x, NULL), nn_bce(g, NULL, x),
        /* no graph at all */
        nn_relu(NULL, x), nn_relu(NULL, NULL), nn_input(NULL, "z", 1, (int64_t[]){1}),
    };
    for (size_t i = 0; i < sizeof made / sizeof made[0]; i++)
        if (made[i])
            fail_msg("builder call %zu with a NULL input returned a node", i);
    /* Propagation adds no message of its own ... */
    assert_string_equal(nn_ctx_error(ctx), "");
    /* ... so a chain reports its first error only. */
    nn_node *W = nn_param(g, "W", 2, (int64_t[]){4, 7}, ZEROS);
    nn_node *h = nn_relu(g, nn_tanh(g, nn_matmul(g, x, W, true)));
    assert_null(h);
    EXPECT_MSG(ctx, "matmul", "(N, 3)", "(4, 7)");
    /* and the graph refuses to compile */
    assert_int_equal(nn_graph_compile(g, &x, 1, 2), NN_ERR_STATE);

    /* A node from another graph is refused with a message. */
    nn_graph *g2 = nn_graph_new(ctx);
    nn_node *x2 = nn_input(g2, "x2", 1, (int64_t[]){3});
    assert_null(nn_add(g, x, x2));
    EXPECT_MSG(ctx, "add", "another graph");
    nn_graph_free(g2);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* ---- (c) feeding and running in the wrong order -------------------------- */

static void feed_and_run_errors(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){3});
    nn_node *u = nn_input(g, "u", 1, (int64_t[]){3});
    nn_node *y = nn_labels(g, "y");
    nn_node *w = nn_param(g, "w", 1, (int64_t[]){3}, ZEROS);
    nn_node *s = nn_sum(g, nn_mul(g, nn_add(g, x, u), w));
    assert_non_null(s);
    float data[5 * 3] = {0};

    /* before compile */
    assert_int_equal(nn_feed(g, x, data, 1), NN_ERR_STATE);
    EXPECT_MSG(ctx, "feed", "compile");
    assert_int_equal(nn_forward(g), NN_ERR_STATE);
    EXPECT_MSG(ctx, "forward", "compile");
    assert_int_equal(nn_backward(g, s), NN_ERR_STATE);
    assert_int_equal(nn_set_batch(g, 1), NN_ERR_STATE);
    assert_null(nn_input_buffer(g, x));

    assert_int_equal(nn_graph_compile(g, &s, 1, 0), NN_ERR_INVALID);
    EXPECT_MSG(ctx, "max_batch", "0");
    assert_ok(ctx, nn_graph_compile(g, &s, 1, 4));
    assert_int_equal(nn_graph_compile(g, &s, 1, 4), NN_ERR_STATE);
    EXPECT_MSG(ctx, "already compiled");
    /* no more nodes once compiled */
    assert_null(nn_relu(g, x));
    EXPECT_MSG(ctx, "relu", "compiled");

    /* forward before any feed */
    assert_int_equal(nn_forward(g), NN_ERR_STATE);
    EXPECT_MSG(ctx, "forward", "no batch");
    assert_int_equal(nn_forward_to(g, s), NN_ERR_STATE);

    /* more samples than the compiled maximum, none, or the wrong node kind */
    assert_int_not_equal(nn_feed(g, x, data, 5), NN_OK);
    EXPECT_MSG(ctx, "feed", "'x'", "5", "4");
    assert_int_not_equal(nn_feed(g, x, data, 0), NN_OK);
    EXPECT_MSG(ctx, "feed", "0");
    assert_int_not_equal(nn_feed(g, y, data, 1), NN_OK);
    EXPECT_MSG(ctx, "'y'", "not an input");
    assert_int_not_equal(nn_feed_labels(g, x, (int32_t[]){0}, 1), NN_OK);
    EXPECT_MSG(ctx, "'x'", "not a labels");
    assert_int_not_equal(nn_set_batch(g, 5), NN_OK);
    EXPECT_MSG(ctx, "5", "4");
    /* labels not used by the compiled output */
    assert_int_not_equal(nn_feed_labels(g, y, (int32_t[]){0}, 1), NN_OK);
    EXPECT_MSG(ctx, "'y'", "not used");

    /* two inputs fed with different batch sizes */
    assert_ok(ctx, nn_feed(g, x, data, 3));
    assert_ok(ctx, nn_feed(g, u, data, 2));
    assert_int_equal(nn_forward(g), NN_ERR_STATE);
    EXPECT_MSG(ctx, "'x'", "3", "2");
    assert_ok(ctx, nn_feed(g, x, data, 2));
    assert_ok(ctx, nn_forward(g));
    assert_int_equal(nn_graph_batch(g), 2);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* ---- (d) labels out of range --------------------------------------------- */

static void label_out_of_range(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *z = nn_input(g, "z", 1, (int64_t[]){10});
    nn_node *y = nn_labels(g, "y");
    nn_node *L = nn_softmax_cross_entropy(g, z, y);
    assert_ok(ctx, nn_graph_compile(g, &L, 1, 4));
    float zv[2 * 10];
    for (int i = 0; i < 20; i++)
        zv[i] = 0.1f * (float)i;
    assert_ok(ctx, nn_feed(g, z, zv, 2));
    const int32_t bad[][2] = {{3, 10}, {3, -1}, {3, 1000000}};
    const char *needle[] = {"label 10", "label -1", "label 1000000"};
    for (int k = 0; k < 3; k++) {
        assert_ok(ctx, nn_feed_labels(g, y, bad[k], 2));
        nn_ctx_clear_error(ctx);
        assert_int_equal(nn_forward(g), NN_ERR_RANGE);
        EXPECT_MSG(ctx, "softmax_cross_entropy", needle[k], "[0, 10)");
    }
    /* The graph stays usable: a valid label gives logsumexp(z) - z[9]. */
    assert_ok(ctx, nn_feed(g, z, zv, 1));
    assert_ok(ctx, nn_feed_labels(g, y, (int32_t[]){9}, 1));
    assert_ok(ctx, nn_forward(g));
    double s = 0;
    for (int j = 0; j < 10; j++)
        s += exp((double)zv[j]);
    assert_close(nn_value(L)[0], log(s) - zv[9], 1e-6, 1e-6);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* ---- (e) logits of +-1000 ------------------------------------------------ */

static void extreme_logits(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    /* softmax cross-entropy: row [1000, -1000, 0] with label 1 costs exactly
     * 2000; [-1000, 1000, 0] with label 1 costs 0. d/dz = (softmax - onehot)
     * / rows = [1, -1, 0] / rows and [0, 0, 0]. */
    nn_graph *g = nn_graph_new(ctx);
    nn_node *z = nn_input(g, "z", 1, (int64_t[]){3});
    nn_input_requires_grad(z, true);
    nn_node *y = nn_labels(g, "y");
    nn_node *L = nn_softmax_cross_entropy(g, z, y);
    assert_ok(ctx, nn_graph_compile(g, &L, 1, 2));
    const float zv[6] = {1000, -1000, 0, -1000, 1000, 0};
    assert_ok(ctx, nn_feed(g, z, zv, 1));
    assert_ok(ctx, nn_feed_labels(g, y, (int32_t[]){1, 1}, 1));
    assert_ok(ctx, nn_forward(g));
    assert_close(nn_value(L)[0], 2000.0, 1e-7, 0);
    assert_ok(ctx, nn_backward(g, L));
    const float want1[3] = {1, -1, 0};
    for (int j = 0; j < 3; j++)
        assert_close(nn_grad(z)[j], want1[j], 0, 1e-7);
    assert_ok(ctx, nn_feed(g, z, zv, 2));
    assert_ok(ctx, nn_feed_labels(g, y, (int32_t[]){1, 1}, 2));
    assert_ok(ctx, nn_forward(g));
    assert_close(nn_value(L)[0], 1000.0, 1e-7, 0);
    assert_ok(ctx, nn_backward(g, L));
    const float want2[6] = {0.5f, -0.5f, 0, 0, 0, 0};
    for (int j = 0; j < 6; j++)
        assert_close(nn_grad(z)[j], want2[j], 0, 1e-7);
    nn_graph_free(g);

    /* sigmoid_bce on logits [1000, -1000, 1000, -1000] with targets
     * [1, 0, 0, 1]: losses [0, 0, 1000, 1000], mean 500; d/dz = (sigmoid(z)
     * - t) / 4 = [0, 0, 1/4, -1/4]; d/dt = -z / 4. */
    g = nn_graph_new(ctx);
    z = nn_input(g, "z", 1, (int64_t[]){4});
    nn_node *t = nn_input(g, "t", 1, (int64_t[]){4});
    nn_input_requires_grad(z, true);
    nn_input_requires_grad(t, true);
    L = nn_sigmoid_bce(g, z, t);
    assert_ok(ctx, nn_graph_compile(g, &L, 1, 1));
    const float z4[4] = {1000, -1000, 1000, -1000}, t4[4] = {1, 0, 0, 1};
    assert_ok(ctx, nn_feed(g, z, z4, 1));
    assert_ok(ctx, nn_feed(g, t, t4, 1));
    assert_ok(ctx, nn_forward(g));
    assert_close(nn_value(L)[0], 500.0, 1e-7, 0);
    assert_ok(ctx, nn_backward(g, L));
    const float dz[4] = {0, 0, 0.25f, -0.25f};
    for (int j = 0; j < 4; j++) {
        assert_close(nn_grad(z)[j], dz[j], 0, 1e-7);
        assert_close(nn_grad(t)[j], -z4[j] / 4, 1e-7, 0);
    }
    nn_graph_free(g);

    /* bce on sigmoid(+-1000) = exactly 1 and 0: the clamp to [1e-7, 1 - 1e-7]
     * keeps the loss finite, and the gradient through the clamped
     * probabilities is 0 (and finite). */
    g = nn_graph_new(ctx);
    z = nn_input(g, "z", 1, (int64_t[]){4});
    t = nn_input(g, "t", 1, (int64_t[]){4});
    nn_input_requires_grad(z, true);
    nn_input_requires_grad(t, true);
    nn_node *p = nn_sigmoid(g, z);
    L = nn_bce(g, p, t);
    assert_ok(ctx, nn_graph_compile(g, &L, 1, 1));
    assert_ok(ctx, nn_feed(g, z, z4, 1));
    assert_ok(ctx, nn_feed(g, t, t4, 1));
    assert_ok(ctx, nn_forward(g));
    assert_true(nn_value(p)[0] == 1.0f && nn_value(p)[1] == 0.0f);
    const float eps = 1e-7f, hi = 1.0f - 1e-7f;
    double want = (-log((double)hi) - log(1.0 - (double)eps) - log(1.0 - (double)hi) -
                   log((double)eps)) / 4;
    assert_true(isfinite(nn_value(L)[0]));
    assert_close(nn_value(L)[0], want, 1e-5, 0);
    assert_ok(ctx, nn_backward(g, L));
    assert_true(all_finite(nn_grad(z), 4));
    assert_true(all_finite(nn_grad(t), 4));
    for (int j = 0; j < 4; j++)
        assert_true(nn_grad(z)[j] == 0.0f);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* ---- (f) batch sizes that change between passes --------------------------- */

struct small_net {
    nn_ctx *ctx;
    nn_graph *g;
    nn_node *x, *t, *pred, *loss;
};

/* x (N, 6) -> dense 5 -> tanh -> dense 3 -> softmax, MSE against t. */
static void small_net_new(struct small_net *s, uint64_t seed, int64_t max_batch)
{
    s->ctx = new_ctx(seed);
    nn_graph *g = s->g = nn_graph_new(s->ctx);
    struct nn_init he = {.kind = NN_INIT_HE_NORMAL}, xu = {.kind = NN_INIT_XAVIER_UNIFORM};
    s->x = nn_input(g, "x", 1, (int64_t[]){6});
    s->t = nn_input(g, "t", 1, (int64_t[]){3});
    nn_node *W1 = nn_param(g, "W1", 2, (int64_t[]){5, 6}, he);
    nn_node *b1 = nn_param(g, "b1", 1, (int64_t[]){5}, xu);
    nn_node *W2 = nn_param(g, "W2", 2, (int64_t[]){3, 5}, xu);
    nn_node *b2 = nn_param(g, "b2", 1, (int64_t[]){3}, xu);
    nn_node *h = nn_tanh(g, nn_add(g, nn_matmul(g, s->x, W1, true), b1));
    s->pred = nn_softmax(g, nn_add(g, nn_matmul(g, h, W2, true), b2));
    s->loss = nn_mse(g, s->pred, s->t);
    nn_node *outs[2] = {s->loss, s->pred};
    assert_ok(s->ctx, nn_graph_compile(g, outs, 2, max_batch));
}

static void small_net_free(struct small_net *s)
{
    nn_graph_free(s->g);
    nn_ctx_free(s->ctx);
}

/* Runs one pass on rows [0, n) of X and T; returns the loss and copies the
 * predictions and the parameter gradients out. */
static float small_net_run(struct small_net *s, const float *X, const float *T, int64_t n,
                           float *pred, float *grads)
{
    assert_ok(s->ctx, nn_feed(s->g, s->x, X, n));
    assert_ok(s->ctx, nn_feed(s->g, s->t, T, n));
    assert_ok(s->ctx, nn_forward(s->g));
    nn_zero_grad(s->g);
    assert_ok(s->ctx, nn_backward(s->g, s->loss));
    assert_int_equal(nn_node_dim(s->pred, 0), n);
    memcpy(pred, nn_value(s->pred), (size_t)(n * 3) * sizeof(float));
    memcpy(grads, nn_graph_grad_block(s->g),
           (size_t)nn_graph_param_count(s->g) * sizeof(float));
    return nn_value(s->loss)[0];
}

static void varying_batch_sizes(void **state)
{
    (void)state;
    nn_ctx *r = new_ctx(77);
    float X[8 * 6], T[8 * 3];
    fill_uniform(r, X, 8 * 6, -2, 2);
    fill_uniform(r, T, 8 * 3, 0, 1);
    nn_ctx_free(r);

    struct small_net a;
    small_net_new(&a, 11, 8);
    int64_t np = nn_graph_param_count(a.g);
    assert_int_equal(np, 5 * 6 + 5 + 3 * 5 + 3);
    float pa[8 * 3], ga[64], pb[8 * 3], gb[64];
    /* The same graph at 5, 2, 8 and 5 rows again; each result must equal a
     * fresh graph (same seed, so the same parameters) run at that size. The
     * second pass at 5 follows a larger one: nothing stale may leak in. */
    const int64_t sizes[] = {5, 2, 8, 5};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        int64_t n = sizes[k];
        float la = small_net_run(&a, X, T, n, pa, ga);
        struct small_net b;
        small_net_new(&b, 11, n);
        assert_memory_equal(nn_graph_param_block(a.g), nn_graph_param_block(b.g),
                            (size_t)np * sizeof(float));
        float lb = small_net_run(&b, X, T, n, pb, gb);
        small_net_free(&b);
        assert_close(la, lb, 1e-6, 1e-7);
        for (int64_t i = 0; i < n * 3; i++)
            assert_close(pa[i], pb[i], 1e-6, 1e-7);
        for (int64_t i = 0; i < np; i++)
            assert_close(ga[i], gb[i], 1e-5, 1e-7);
    }
    /* The batch-2 loss is not the batch-5 loss: the rows really changed. */
    float l2 = small_net_run(&a, X, T, 2, pa, ga);
    float l5 = small_net_run(&a, X, T, 5, pa, ga);
    assert_true(l2 != l5);
    small_net_free(&a);
}

/* ---- (g) forward_to without labels --------------------------------------- */

static void forward_to_without_labels(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    nn_graph *g = nn_graph_new(ctx);
    const float W[3 * 4] = {0.5f, -1, 0.25f, 2, -0.5f, 0, 1, 1, 0.75f, 0.125f, -2, 0.5f};
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){4});
    nn_node *Wn = nn_const(g, "W", 2, (int64_t[]){3, 4}, W);
    nn_node *b = nn_param(g, "b", 1, (int64_t[]){3}, ZEROS);
    nn_node *logits = nn_add(g, nn_matmul(g, x, Wn, true), b);
    nn_node *pred = nn_softmax(g, logits);
    nn_node *y = nn_labels(g, "y");
    nn_node *loss = nn_softmax_cross_entropy(g, logits, y);
    nn_node *unused = nn_relu(g, logits);
    nn_node *outs[2] = {loss, pred};
    assert_ok(ctx, nn_graph_compile(g, outs, 2, 4));
    const float X[2 * 4] = {1, 2, 3, 4, -1, 0.5f, 0, 2};
    assert_ok(ctx, nn_feed(g, x, X, 2));
    /* the whole graph needs the labels ... */
    assert_int_equal(nn_forward(g), NN_ERR_STATE);
    EXPECT_MSG(ctx, "'y'");
    /* ... the predictions do not */
    assert_ok(ctx, nn_forward_to(g, pred));
    for (int r = 0; r < 2; r++) {
        double zr[3], m = -INFINITY, s = 0;
        for (int i = 0; i < 3; i++) {
            zr[i] = 0;
            for (int k = 0; k < 4; k++)
                zr[i] += (double)W[i * 4 + k] * X[r * 4 + k];
            m = zr[i] > m ? zr[i] : m;
        }
        for (int i = 0; i < 3; i++)
            s += exp(zr[i] - m);
        for (int i = 0; i < 3; i++)
            assert_close(nn_value(pred)[r * 3 + i], exp(zr[i] - m) / s, 1e-5, 1e-7);
    }
    /* a node the compiled outputs do not need, and no node */
    assert_int_equal(nn_forward_to(g, unused), NN_ERR_INVALID);
    EXPECT_MSG(ctx, "forward_to", "not compiled");
    assert_int_equal(nn_forward_to(g, NULL), NN_ERR_INVALID);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* ---- (h) backward from a non-scalar --------------------------------------- */

static void backward_needs_scalar(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){3});
    nn_node *w = nn_param(g, "w", 1, (int64_t[]){3},
                          (struct nn_init){.kind = NN_INIT_CONSTANT, .a = 2});
    nn_node *out = nn_mul(g, x, w);
    nn_node *c = nn_relu(g, x); /* depends on no parameter */
    nn_node *outs[2] = {out, c};
    assert_ok(ctx, nn_graph_compile(g, outs, 2, 2));
    const float X[6] = {1, 2, 3, 4, 5, 6};
    assert_ok(ctx, nn_feed(g, x, X, 2));
    assert_ok(ctx, nn_forward(g));
    assert_int_equal(nn_backward(g, out), NN_ERR_SHAPE);
    EXPECT_MSG(ctx, "backward", "6 elements");
    /* a parameter-free node has nothing to differentiate */
    const float seed[6] = {1, 1, 1, 1, 1, 1};
    assert_int_equal(nn_backward_seeded(g, c, seed), NN_ERR_STATE);
    /* the seeded form works: dw = sum over rows of seed * x */
    const float s2[6] = {1, 0, -1, 0.5f, 2, 1};
    assert_ok(ctx, nn_backward_seeded(g, out, s2));
    for (int j = 0; j < 3; j++)
        assert_close(nn_grad(w)[j], s2[j] * X[j] + s2[3 + j] * X[3 + j], 1e-6, 0);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* ---- (i) dropout ---------------------------------------------------------- */

enum { DROP_ROWS = 100, DROP_COLS = 1000, DROP_N = DROP_ROWS * DROP_COLS };

static void dropout_modes(void **state)
{
    (void)state;
    const float p = 0.3f;
    nn_ctx *ctx = new_ctx(2024);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){DROP_COLS});
    nn_input_requires_grad(x, true);
    nn_node *y = nn_dropout(g, x, p);
    assert_ok(ctx, nn_graph_compile(g, &y, 1, DROP_ROWS));
    float *X = malloc(DROP_N * sizeof *X), *S = malloc(DROP_N * sizeof *S);
    float *Y1 = malloc(DROP_N * sizeof *Y1);
    assert_non_null(X);
    assert_non_null(S);
    assert_non_null(Y1);
    fill_uniform(ctx, X, DROP_N, 0.5f, 1.5f);
    fill_uniform(ctx, S, DROP_N, -1, 1);
    assert_ok(ctx, nn_feed(g, x, X, DROP_ROWS));

    /* Evaluation mode (the default): exactly the identity, both ways. */
    assert_ok(ctx, nn_forward(g));
    assert_memory_equal(nn_value(y), X, DROP_N * sizeof(float));
    assert_ok(ctx, nn_backward_seeded(g, y, S));
    assert_memory_equal(nn_grad(x), S, DROP_N * sizeof(float));

    /* Training mode: each element is 0 or x / (1 - p); the gradient uses
     * the same mask; the kept fraction and the mean are within 5 standard
     * errors of 1 - p and of the input's mean. */
    nn_graph_set_training(g, true);
    assert_ok(ctx, nn_forward(g));
    assert_ok(ctx, nn_backward_seeded(g, y, S));
    const float *Y = nn_value(y), *dX = nn_grad(x);
    double keep = 1.0 / (1.0 - p), sx = 0, sy = 0, sx2 = 0;
    int64_t zeros = 0;
    for (int64_t i = 0; i < DROP_N; i++) {
        if (Y[i] == 0.0f) {
            zeros++;
            if (dX[i] != 0.0f)
                fail_msg("element %lld dropped but its gradient is %g", (long long)i,
                         (double)dX[i]);
        } else {
            if (fabs(Y[i] - X[i] * keep) > 1e-6 * X[i] * keep)
                fail_msg("element %lld: %g, expected 0 or %g", (long long)i, (double)Y[i],
                         X[i] * keep);
            if (fabs(dX[i] - S[i] * keep) > 1e-6 * keep)
                fail_msg("element %lld: gradient %g, expected %g", (long long)i,
                         (double)dX[i], S[i] * keep);
        }
        sx += X[i];
        sy += Y[i];
        sx2 += (double)X[i] * X[i];
    }
    double frac = (double)zeros / DROP_N, se_frac = sqrt(p * (1.0 - p) / DROP_N);
    if (fabs(frac - p) > 5 * se_frac)
        fail_msg("dropped fraction %g, expected %g +- %g", frac, (double)p, 5 * se_frac);
    /* mean(y) - mean(x) has variance sum x_i^2 p / (1 - p) / n^2 */
    double se_mean = sqrt(sx2 * p / (1.0 - p)) / DROP_N;
    double diff = (sy - sx) / DROP_N;
    if (fabs(diff) > 5 * se_mean)
        fail_msg("mean changed by %g, more than 5 standard errors (%g)", diff, 5 * se_mean);

    /* A new pass draws a new mask. */
    memcpy(Y1, Y, DROP_N * sizeof(float));
    assert_ok(ctx, nn_forward(g));
    assert_true(memcmp(Y1, nn_value(y), DROP_N * sizeof(float)) != 0);
    /* Back to evaluation: the identity again. */
    nn_graph_set_training(g, false);
    assert_ok(ctx, nn_forward(g));
    assert_memory_equal(nn_value(y), X, DROP_N * sizeof(float));
    nn_graph_free(g);

    /* Rates outside [0, 1) are refused; p = 0 in training is the identity. */
    g = nn_graph_new(ctx);
    x = nn_input(g, "x", 1, (int64_t[]){DROP_COLS});
    assert_null(nn_dropout(g, x, 1.0f));
    EXPECT_MSG(ctx, "dropout", "1");
    nn_graph_free(g);
    g = nn_graph_new(ctx);
    x = nn_input(g, "x", 1, (int64_t[]){DROP_COLS});
    assert_null(nn_dropout(g, x, -0.1f));
    assert_null(nn_dropout(g, x, NAN));
    nn_graph_free(g);
    g = nn_graph_new(ctx);
    x = nn_input(g, "x", 1, (int64_t[]){DROP_COLS});
    y = nn_dropout(g, x, 0.0f);
    assert_ok(ctx, nn_graph_compile(g, &y, 1, DROP_ROWS));
    nn_graph_set_training(g, true);
    assert_ok(ctx, nn_feed(g, x, X, DROP_ROWS));
    assert_ok(ctx, nn_forward(g));
    assert_memory_equal(nn_value(y), X, DROP_N * sizeof(float));
    nn_graph_free(g);
    free(X);
    free(S);
    free(Y1);
    nn_ctx_free(ctx);
}

/* ---- (j) two contexts in one process ------------------------------------- */

static nn_graph *init_graph(nn_ctx *ctx, nn_node **drop, nn_node **in)
{
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){16});
    nn_node *W = nn_param(g, "W", 2, (int64_t[]){8, 16}, (struct nn_init){.kind = NN_INIT_HE_NORMAL});
    nn_node *b = nn_param(g, "b", 1, (int64_t[]){8},
                          (struct nn_init){.kind = NN_INIT_UNIFORM, .a = -1, .b = 1});
    nn_node *d = nn_dropout(g, nn_add(g, nn_matmul(g, x, W, true), b), 0.5f);
    assert_non_null(d);
    assert_ok(ctx, nn_graph_compile(g, &d, 1, 4));
    nn_graph_set_training(g, true);
    *drop = d;
    *in = x;
    return g;
}

static void two_contexts_independent(void **state)
{
    (void)state;
    nn_ctx *a = new_ctx(42), *b = new_ctx(42), *c = new_ctx(43);
    nn_node *da, *db, *dc, *xa, *xb, *xc;
    /* Interleaved: a, then c (another seed), then b. */
    nn_graph *ga = init_graph(a, &da, &xa);
    nn_graph *gc = init_graph(c, &dc, &xc);
    nn_graph *gb = init_graph(b, &db, &xb);
    int64_t np = nn_graph_param_count(ga);
    assert_int_equal(np, 8 * 16 + 8);
    assert_memory_equal(nn_graph_param_block(ga), nn_graph_param_block(gb),
                        (size_t)np * sizeof(float));
    assert_true(memcmp(nn_graph_param_block(ga), nn_graph_param_block(gc),
                       (size_t)np * sizeof(float)) != 0);
    /* Dropout masks come from each graph's own context: running c in
     * between does not shift a's or b's streams. */
    float X[4 * 16];
    for (int i = 0; i < 4 * 16; i++)
        X[i] = 1.0f + 0.01f * (float)i;
    assert_ok(a, nn_feed(ga, xa, X, 4));
    assert_ok(b, nn_feed(gb, xb, X, 4));
    assert_ok(c, nn_feed(gc, xc, X, 4));
    for (int pass = 0; pass < 3; pass++) {
        assert_ok(a, nn_forward(ga));
        assert_ok(c, nn_forward(gc));
        assert_ok(c, nn_forward(gc));
        assert_ok(b, nn_forward(gb));
        assert_memory_equal(nn_value(da), nn_value(db), 4 * 8 * sizeof(float));
    }
    /* An error in one context leaves the other's message alone. */
    nn_ctx_clear_error(b);
    assert_null(nn_relu(ga, xa)); /* ga is compiled */
    assert_string_not_equal(nn_ctx_error(a), "");
    assert_string_equal(nn_ctx_error(b), "");
    /* Freeing one graph and context leaves the other working. */
    nn_graph_free(ga);
    nn_ctx_free(a);
    assert_ok(b, nn_forward(gb));
    nn_graph_free(gb);
    nn_graph_free(gc);
    nn_ctx_free(b);
    nn_ctx_free(c);
}

/* ---- softmax_cross_entropy at a full batch -------------------------------- */

/* 64 rows of 3 classes: the loss and its gradient against a double
 * computation (the scratch must hold every row: 768 bytes). */
static void softmax_ce_full_batch(void **state)
{
    (void)state;
    enum { R = 64, C = 3 };
    nn_ctx *ctx = new_ctx(3);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *z = nn_input(g, "z", 1, (int64_t[]){C});
    nn_input_requires_grad(z, true);
    nn_node *y = nn_labels(g, "y");
    nn_node *L = nn_softmax_cross_entropy(g, z, y);
    assert_ok(ctx, nn_graph_compile(g, &L, 1, R));
    float Z[R * C];
    int32_t Y[R];
    fill_uniform(ctx, Z, R * C, -3, 3);
    for (int r = 0; r < R; r++)
        Y[r] = r % C;
    assert_ok(ctx, nn_feed(g, z, Z, R));
    assert_ok(ctx, nn_feed_labels(g, y, Y, R));
    assert_ok(ctx, nn_forward(g));
    assert_ok(ctx, nn_backward(g, L));
    double total = 0;
    for (int r = 0; r < R; r++) {
        double s = 0;
        for (int j = 0; j < C; j++)
            s += exp((double)Z[r * C + j]);
        total += log(s) - Z[r * C + Y[r]];
        for (int j = 0; j < C; j++) {
            double want = (exp((double)Z[r * C + j]) / s - (j == Y[r])) / R;
            assert_close(nn_grad(z)[r * C + j], want, 1e-5, 1e-7);
        }
    }
    assert_close(nn_value(L)[0], total / R, 1e-6, 1e-7);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

NN_GROUP(graph,
         cmocka_unit_test(shape_mismatch_messages),
         cmocka_unit_test(null_inputs_propagate),
         cmocka_unit_test(feed_and_run_errors),
         cmocka_unit_test(label_out_of_range),
         cmocka_unit_test(extreme_logits),
         cmocka_unit_test(varying_batch_sizes),
         cmocka_unit_test(forward_to_without_labels),
         cmocka_unit_test(backward_needs_scalar),
         cmocka_unit_test(dropout_modes),
         cmocka_unit_test(two_contexts_independent),
         cmocka_unit_test(softmax_ce_full_batch))
