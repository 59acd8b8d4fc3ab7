/*
 * test_layer_stats.c - per-layer statistics (nn_layer_stats,
 * nn_model_layer_stats): values against a hand computation, vanishing
 * gradients with sigmoid, the symmetry of a constant initialization, and
 * training that gathers them keeps its weights bit for bit.
 */
#include "test.h"

#include <string.h>

static nn_ctx *new_ctx(uint64_t seed)
{
    return nn_ctx_new(&(struct nn_ctx_cfg){.seed = seed, .threads = 1});
}

static const struct nn_layer_stat *find(const struct nn_layer_stat *s, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(s[i].name, name) == 0)
            return &s[i];
    fail_msg("no statistics for node '%s'", name);
    return NULL;
}

/* x = [[1, 2], [3, -1]], W = [[1, 0], [0, 1], [-1, -1]], h = relu(x W^T),
 * loss = sum(h). By hand: z = [[1, 2, -3], [3, -1, -2]], h = [[1, 2, 0],
 * [3, 0, 0]]: mean 1, variance 8/6; unit 3 is 0 for both samples (dead
 * 1/3), unit 2 is not; the std across units is sqrt(2/3) for sample 1 and
 * sqrt(2) for sample 2. dL/dW = mask^T x = [[4, 1], [1, 2], [0, 0]], norm
 * sqrt(22); W has mean 0 and standard deviation sqrt(4/6). */
static void hand_computed_values(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){2});
    nn_node *w = nn_param(g, "w", 2, (int64_t[]){3, 2}, (struct nn_init){NN_INIT_ZEROS, 0, 0, 0});
    nn_node *z = nn_matmul(g, x, w, true);
    nn_node *h = nn_relu(g, z);
    assert_ok(ctx, nn_node_set_name(h, "relu1"));
    nn_node *loss = nn_sum(g, h);
    nn_node *side = nn_tanh(g, z); /* an output the loss does not depend on */
    assert_ok(ctx, nn_graph_compile(g, (nn_node *[]){loss, side}, 2, 2));
    assert_int_equal(nn_layer_stats(g, NULL, NULL, 0), 4); /* w, matmul, relu1, tanh */
    const float W[6] = {1, 0, 0, 1, -1, -1}, X[4] = {1, 2, 3, -1};
    memcpy(nn_value_mut(w), W, sizeof W);
    assert_ok(ctx, nn_feed(g, x, X, 2));
    assert_ok(ctx, nn_forward(g));
    nn_zero_grad(g);
    assert_ok(ctx, nn_backward(g, loss));
    struct nn_layer_stat s[8];
    int n = nn_layer_stats(g, loss, s, 8);
    assert_int_equal(n, 4);
    /* the backward pass from the loss never reached the side output */
    assert_true(isnan(find(s, n, nn_node_name(side))->grad_norm));
    assert_false(isnan(find(s, n, nn_node_name(side))->mean));
    const struct nn_layer_stat *r = find(s, n, "relu1"), *p = find(s, n, "w");
    assert_string_equal(r->op, "relu");
    assert_false(r->is_param);
    assert_int_equal(r->units, 3);
    assert_close(r->mean, 1.0, 1e-12, 1e-12);
    assert_close(r->std, sqrt(8.0 / 6.0), 1e-12, 1e-12);
    assert_close(r->unit_std, (sqrt(2.0 / 3.0) + sqrt(2.0)) / 2, 1e-12, 1e-12);
    assert_close(r->dead, 1.0 / 3.0, 1e-12, 1e-12);
    assert_close(r->grad_norm, sqrt(6.0), 1e-12, 1e-12); /* dL/dh = 1 everywhere */
    assert_true(p->is_param);
    assert_int_equal(p->units, 6);
    assert_close(p->mean, 0.0, 1e-12, 1e-12);
    assert_close(p->std, sqrt(4.0 / 6.0), 1e-12, 1e-12);
    assert_close(p->grad_norm, sqrt(22.0), 1e-12, 1e-12);
    assert_true(isnan(p->dead) && isnan(p->unit_std));
    assert_true(isnan(find(s, n, nn_node_name(z))->dead)); /* not a relu */
    /* a capacity smaller than the count writes only what fits */
    struct nn_layer_stat one[2];
    memset(one, 0, sizeof one);
    assert_int_equal(nn_layer_stats(g, loss, one, 1), 4);
    assert_null(one[1].name);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

static void not_compiled_is_an_error(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    nn_graph *g = nn_graph_new(ctx);
    assert_int_equal(nn_layer_stats(g, NULL, NULL, 0), -1);
    assert_non_null(strstr(nn_ctx_error(ctx), "not compiled"));
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

#define N 64
#define F 8

static void make_data(float *x, float *t)
{
    uint64_t s = 12345;
    for (int i = 0; i < N * F; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2 - 1);
    }
    for (int i = 0; i < N; i++)
        t[i] = x[i * F] * x[i * F + 1] > 0 ? 1.0f : 0.0f;
}

/* Per-layer statistics of a fresh model on the data's first 32 samples. */
static int model_stats(const char *spec, const struct nn_model_cfg *cfg,
                       struct nn_layer_stat *s, int cap, nn_ctx **ctxp, nn_model **mp)
{
    static float x[N * F], t[N];
    make_data(x, t);
    nn_ctx *ctx = new_ctx(3);
    nn_model *m = nn_model_new(ctx, spec, cfg);
    if (!m)
        fail_msg("model '%s': %s", spec, nn_ctx_error(ctx));
    struct nn_array_source a = {.x = x, .targets = t, .n = N, .features = F, .ntargets = 1};
    struct nn_source src = nn_source_from_arrays(&a);
    int n = 0;
    assert_ok(ctx, nn_model_layer_stats(m, &src, 32, s, cap, &n));
    assert_true(n > 0 && n <= cap);
    *ctxp = ctx, *mp = m;
    return n;
}

/* The lectures' vanishing gradient: through six sigmoids, the first
 * layer's weight gradient is far smaller than the last one's. */
static void sigmoid_gradients_vanish_toward_input(void **state)
{
    (void)state;
    struct nn_layer_stat s[64];
    nn_ctx *ctx;
    nn_model *m;
    int n = model_stats("8 dense:16 sigmoid dense:16 sigmoid dense:16 sigmoid dense:16 sigmoid "
                        "dense:16 sigmoid dense:16 sigmoid dense:1 sigmoid",
                        &(struct nn_model_cfg){.max_batch = 64}, s, 64, &ctx, &m);
    const struct nn_layer_stat *first = NULL, *last = NULL;
    for (int i = 0; i < n; i++)
        if (s[i].is_param && strstr(s[i].name, "weight")) {
            if (!first)
                first = &s[i];
            last = &s[i];
        }
    assert_non_null(first);
    assert_true(first != last);
    print_message("sigmoid x6: |grad %s| = %.3g, |grad %s| = %.3g\n", first->name,
                  first->grad_norm, last->name, last->grad_norm);
    assert_true(first->grad_norm > 0);
    assert_true(first->grad_norm * 100 < last->grad_norm);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* Constant initialization: every hidden unit computes the same function,
 * so the spread across a sample's units is 0 in every hidden layer, while
 * He initialization spreads them. */
static void constant_init_has_no_spread_across_units(void **state)
{
    (void)state;
    const char *spec = "8 dense:16 tanh dense:16 tanh dense:1 sigmoid";
    struct nn_layer_stat s[32];
    nn_ctx *ctx;
    nn_model *m;
    for (int constant = 0; constant <= 1; constant++) {
        struct nn_model_cfg cfg = {.max_batch = 64, .has_init = true,
                                   .init = {constant ? NN_INIT_CONSTANT : NN_INIT_HE_NORMAL,
                                            0.1f, 0, 0}};
        int n = model_stats(spec, &cfg, s, 32, &ctx, &m);
        int tanh_layers = 0;
        for (int i = 0; i < n; i++)
            if (strcmp(s[i].op, "tanh") == 0) {
                tanh_layers++;
                assert_true(s[i].std > 0); /* samples still differ */
                if (constant)
                    assert_true(s[i].unit_std == 0);
                else
                    assert_true(s[i].unit_std > 0.01);
            }
        assert_int_equal(tanh_layers, 2);
        nn_model_free(m);
        nn_ctx_free(ctx);
    }
}

/* A relu layer whose weights and bias make every unit negative is all dead. */
static void relu_all_dead_with_negative_bias(void **state)
{
    (void)state;
    struct nn_layer_stat s[32];
    nn_ctx *ctx;
    nn_model *m;
    struct nn_model_cfg cfg = {.max_batch = 64, .has_init = true,
                               .init = {NN_INIT_UNIFORM, 0, 0.01f, 0},
                               .has_bias_init = true,
                               .bias_init = {NN_INIT_CONSTANT, -1, 0, 0}};
    int n = model_stats("8 dense:16 relu dense:1 sigmoid", &cfg, s, 32, &ctx, &m);
    int relus = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(s[i].op, "relu") == 0) {
            relus++;
            assert_close(s[i].dead, 1.0, 0, 0);
            assert_close(s[i].mean, 0.0, 0, 0);
        }
    assert_int_equal(relus, 1);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

struct gather {
    nn_model *m;
    const struct nn_source *src;
    int calls;
};

static bool on_epoch(const struct nn_epoch_stats *es, void *user)
{
    (void)es;
    struct gather *g = user;
    struct nn_layer_stat s[32];
    int n = 0;
    if (nn_model_layer_stats(g->m, g->src, 16, s, 32, &n) != NN_OK || n == 0)
        return false;
    g->calls++;
    return true;
}

/* Gathering statistics after every epoch does not change the training
 * trajectory (dropout's random stream, gradients, batch order). */
static void gathering_keeps_weights_bit_identical(void **state)
{
    (void)state;
    static float x[N * F], t[N];
    make_data(x, t);
    float *w[2] = {NULL, NULL};
    int64_t count = 0;
    for (int with = 0; with <= 1; with++) {
        nn_ctx *ctx = new_ctx(7);
        nn_model *m = nn_model_new(ctx, "8 dense:16 relu dropout:0.3 dense:16 tanh dense:1 sigmoid",
                                   &(struct nn_model_cfg){.max_batch = 64});
        assert_non_null(m);
        struct nn_array_source a = {.x = x, .targets = t, .n = N, .features = F, .ntargets = 1};
        struct nn_source src = nn_source_from_arrays(&a);
        struct gather gth = {m, &src, 0};
        nn_trainer *tr = nn_trainer_new(m, &(struct nn_train_cfg){
            .epochs = 5, .batch = 16, .optim = {.kind = NN_OPTIM_ADAM, .lr = 0.01f},
            .on_epoch = with ? on_epoch : NULL, .user = &gth});
        assert_non_null(tr);
        assert_ok(ctx, nn_trainer_fit(tr, &src, NULL));
        assert_int_equal(gth.calls, with ? 5 : 0);
        nn_graph *g = nn_model_graph(m);
        count = nn_graph_param_count(g);
        w[with] = malloc((size_t)count * sizeof(float));
        assert_non_null(w[with]);
        memcpy(w[with], nn_graph_param_block(g), (size_t)count * sizeof(float));
        nn_trainer_free(tr);
        nn_model_free(m);
        nn_ctx_free(ctx);
    }
    assert_memory_equal(w[0], w[1], (size_t)count * sizeof(float));
    free(w[0]);
    free(w[1]);
}

NN_GROUP(layer_stats,
         cmocka_unit_test(hand_computed_values),
         cmocka_unit_test(not_compiled_is_an_error),
         cmocka_unit_test(sigmoid_gradients_vanish_toward_input),
         cmocka_unit_test(constant_init_has_no_spread_across_units),
         cmocka_unit_test(relu_all_dead_with_negative_bias),
         cmocka_unit_test(gathering_keeps_weights_bit_identical))
