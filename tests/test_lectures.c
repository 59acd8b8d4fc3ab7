/*
 * test_lectures.c - the hand calculations of the backpropagation lectures,
 * checked against what the library computes: tanh as a rescaled sigmoid,
 * the chain rule on z = 3y, y = x^2, the gradient of s = u . f(Wx + b) with
 * respect to b, the parameter counts of the lectures' networks, a stack of
 * linear layers collapsing to one matrix, and one SGD step with an L2
 * penalty as (1 - a l) W - a dJ/dW.
 */
#include "test.h"

static nn_node *vector_input(nn_graph *g, const char *name, int64_t n)
{
    nn_node *x = nn_input(g, name, 1, (int64_t[]){n});
    nn_input_requires_grad(x, true);
    return x;
}

/* tanh z = 2 sigma(2z) - 1, values and derivatives, over [-20, 20]. */
static void tanh_is_a_rescaled_sigmoid(void **state)
{
    (void)state;
    enum { N = 401 };
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.threads = 1});
    nn_graph *g = nn_graph_new(ctx);
    nn_node *za = vector_input(g, "za", 1), *zb = vector_input(g, "zb", 1);
    nn_node *t = nn_tanh(g, za);
    nn_node *s = nn_sub(g, nn_scale(g, nn_sigmoid(g, nn_scale(g, zb, 2.0f)), 2.0f),
                        nn_const(g, "one", 1, (int64_t[]){1}, (float[]){1.0f}));
    nn_node *loss = nn_add(g, nn_sum(g, t), nn_sum(g, s));
    assert_ok(ctx, nn_graph_compile(g, &loss, 1, N));
    float z[N];
    for (int i = 0; i < N; i++)
        z[i] = -20.0f + 0.1f * (float)i;
    assert_ok(ctx, nn_feed(g, za, z, N));
    assert_ok(ctx, nn_feed(g, zb, z, N));
    assert_ok(ctx, nn_forward(g));
    assert_ok(ctx, nn_backward(g, loss));
    double worst_v = 0, worst_d = 0;
    for (int i = 0; i < N; i++) {
        worst_v = fmax(worst_v, fabs((double)nn_value(t)[i] - nn_value(s)[i]));
        /* d/dz tanh = 1 - tanh^2 = 4 sigma'(2z) */
        worst_d = fmax(worst_d, fabs((double)nn_grad(za)[i] - nn_grad(zb)[i]));
        double exact = tanh((double)z[i]);
        assert_true(fabs(nn_value(t)[i] - exact) <= 2e-7);
        assert_true(fabs(nn_grad(za)[i] - (1.0 - exact * exact)) <= 4e-7);
    }
    print_message("tanh vs 2 sigma(2z) - 1: values within %.1e, derivatives within %.1e\n",
                  worst_v, worst_d);
    assert_true(worst_v <= 5e-7);
    assert_true(worst_d <= 5e-7);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* z = 3y, y = x^2: dz/dx = dz/dy dy/dx = 3 . 2x = 6x, exactly in floats. */
static void chain_rule_six_x(void **state)
{
    (void)state;
    enum { N = 9 };
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = vector_input(g, "x", 1);
    nn_node *zsum = nn_sum(g, nn_scale(g, nn_square(g, x), 3.0f));
    assert_ok(ctx, nn_graph_compile(g, &zsum, 1, N));
    float xv[N] = {-3, -1.5f, -0.25f, 0, 0.1f, 1, 2, 7.5f, 1e-3f};
    assert_ok(ctx, nn_feed(g, x, xv, N));
    assert_ok(ctx, nn_forward(g));
    assert_ok(ctx, nn_backward(g, zsum));
    for (int i = 0; i < N; i++)
        assert_true(nn_grad(x)[i] == 6.0f * xv[i]);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* s = u . f(z), z = W x + b: ds/db = u o f'(z) (elementwise), here with
 * f = sigmoid, f' = f (1 - f); and ds/dW = (u o f'(z)) x^T. */
static void gradient_of_the_bias(void **state)
{
    (void)state;
    enum { IN = 3, OUT = 4 };
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){IN});
    nn_node *w = nn_param(g, "W", 2, (int64_t[]){OUT, IN}, (struct nn_init){.kind = NN_INIT_ZEROS});
    nn_node *b = nn_param(g, "b", 1, (int64_t[]){OUT}, (struct nn_init){.kind = NN_INIT_ZEROS});
    float uv[OUT] = {0.5f, -1.25f, 2.0f, 0.75f};
    nn_node *u = nn_const(g, "u", 1, (int64_t[]){OUT}, uv);
    nn_node *s = nn_sum(g, nn_mul(g, nn_sigmoid(g, nn_add(g, nn_matmul(g, x, w, true), b)), u));
    assert_ok(ctx, nn_graph_compile(g, &s, 1, 1));
    float Wv[OUT * IN] = {0.1f, -0.2f, 0.3f, 0.4f, 0.5f, -0.6f, -0.7f, 0.8f, 0.9f, 0.05f, 0.0f, -1.0f};
    float bv[OUT] = {0.1f, -0.3f, 0.2f, 0.0f};
    float xv[IN] = {1.0f, -2.0f, 0.5f};
    memcpy(nn_value_mut(w), Wv, sizeof Wv);
    memcpy(nn_value_mut(b), bv, sizeof bv);
    assert_ok(ctx, nn_feed(g, x, xv, 1));
    assert_ok(ctx, nn_forward(g));
    assert_ok(ctx, nn_backward(g, s));
    for (int j = 0; j < OUT; j++) {
        double z = bv[j];
        for (int k = 0; k < IN; k++)
            z += (double)Wv[j * IN + k] * xv[k];
        double f = 1.0 / (1.0 + exp(-z));
        double dsdb = uv[j] * f * (1.0 - f);
        assert_true(fabs(nn_grad(b)[j] - dsdb) <= 1e-6);
        for (int k = 0; k < IN; k++)
            assert_true(fabs(nn_grad(w)[j * IN + k] - dsdb * xv[k]) <= 1e-6);
    }
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

static int64_t params_of(const char *spec)
{
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_model *m = nn_model_new(ctx, spec, &(struct nn_model_cfg){.max_batch = 1});
    if (!m)
        fail_msg("%s: %s", spec, nn_ctx_error(ctx));
    int64_t n = nn_graph_param_count(nn_model_graph(m));
    nn_model_free(m);
    nn_ctx_free(ctx);
    return n;
}

/* The lectures' counts: n-3-2-1 has 3n + 14 parameters (weights and
 * biases), 12288-3-2-1 has 36,878 and 784-16-16-10 has 13,002. */
static void parameter_counts(void **state)
{
    (void)state;
    for (int n = 1; n <= 64; n *= 4) {
        char spec[96];
        snprintf(spec, sizeof spec, "%d dense:3 sigmoid dense:2 sigmoid dense:1 sigmoid", n);
        assert_int_equal(params_of(spec), 3 * n + 14);
    }
    assert_int_equal(params_of("12288 dense:3 sigmoid dense:2 sigmoid dense:1 sigmoid"), 36878);
    assert_int_equal(params_of("784 dense:16 relu dense:16 relu dense:10 softmax"), 13002);
}

/* Without activations, three dense layers are one affine map:
 * W3 (W2 (W1 x + b1) + b2) + b3 = (W3 W2 W1) x + (W3 W2 b1 + W3 b2 + b3). */
static void linear_layers_collapse(void **state)
{
    (void)state;
    enum { N = 5, IN = 6 };
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 3, .threads = 1});
    nn_model *m = nn_model_new(ctx, "6 dense:5:normal:0.5:bias=normal:0.5 identity "
                                    "dense:4:normal:0.5:bias=normal:0.5 dense:3:normal:0.5:bias=normal:0.5",
                               &(struct nn_model_cfg){.max_batch = N, .loss = NN_LOSS_MSE});
    if (!m)
        fail_msg("%s", nn_ctx_error(ctx));
    nn_graph *g = nn_model_graph(m);
    const float *W[3], *B[3];
    const char *names[3] = {"dense1", "dense2", "dense3"};
    for (int l = 0; l < 3; l++) {
        char nm[32];
        snprintf(nm, sizeof nm, "%s.weight", names[l]);
        W[l] = nn_value(nn_graph_find(g, nm));
        snprintf(nm, sizeof nm, "%s.bias", names[l]);
        B[l] = nn_value(nn_graph_find(g, nm));
        assert_non_null(W[l]);
        assert_non_null(B[l]);
    }
    /* the collapsed map, in double: A = W3 W2 W1 (3x6), c = W3 W2 b1 + W3 b2 + b3 */
    double A21[4][6] = {{0}}, A[3][6] = {{0}}, c2[4], c[3];
    for (int i = 0; i < 4; i++) {
        c2[i] = B[1][i];
        for (int k = 0; k < 5; k++) {
            c2[i] += (double)W[1][i * 5 + k] * B[0][k];
            for (int j = 0; j < IN; j++)
                A21[i][j] += (double)W[1][i * 5 + k] * W[0][k * IN + j];
        }
    }
    for (int i = 0; i < 3; i++) {
        c[i] = B[2][i];
        for (int k = 0; k < 4; k++) {
            c[i] += (double)W[2][i * 4 + k] * c2[k];
            for (int j = 0; j < IN; j++)
                A[i][j] += (double)W[2][i * 4 + k] * A21[k][j];
        }
    }
    float x[N * IN], out[N * 3];
    for (int i = 0; i < N * IN; i++)
        x[i] = (float)sin(0.7 * i);
    assert_ok(ctx, nn_model_predict(m, x, N, out));
    double worst = 0;
    for (int n = 0; n < N; n++)
        for (int i = 0; i < 3; i++) {
            double y = c[i];
            for (int j = 0; j < IN; j++)
                y += A[i][j] * x[n * IN + j];
            worst = fmax(worst, fabs(out[n * 3 + i] - y) / (1.0 + fabs(y)));
        }
    assert_true(worst <= 1e-6);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* One step of gradient descent on J + (l/2)|W|^2 is
 * W <- W - a (dJ/dW + l W) = (1 - a l) W - a dJ/dW: through the trainer's
 * L2 penalty (weights only; biases unpenalized by default) and through
 * the optimizer's coupled weight decay. */
static void sgd_step_with_l2(void **state)
{
    (void)state;
    enum { N = 8, IN = 3 };
    const float a = 0.1f, l = 0.05f;
    float x[N * IN];
    int32_t y[N];
    for (int i = 0; i < N * IN; i++)
        x[i] = (float)cos(1.3 * i);
    for (int i = 0; i < N; i++)
        y[i] = i % 2;
    for (int path = 0; path < 2; path++) {
        nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 9, .threads = 1});
        nn_model *m = nn_model_new(ctx, "3 dense:2 softmax", &(struct nn_model_cfg){.max_batch = N});
        assert_non_null(m);
        nn_graph *g = nn_model_graph(m);
        nn_node *w = nn_graph_find(g, "dense1.weight"), *b = nn_graph_find(g, "dense1.bias");
        float W0[2 * IN], B0[2], dW[2 * IN], dB[2];
        memcpy(W0, nn_value(w), sizeof W0);
        memcpy(B0, nn_value(b), sizeof B0);
        /* dJ/dW of the mean cross-entropy, from the library's own backward
         * pass (checked against PyTorch elsewhere) */
        nn_graph_set_training(g, true);
        assert_ok(ctx, nn_feed(g, nn_model_input(m), x, N));
        assert_ok(ctx, nn_feed_labels(g, nn_graph_find(g, "y"), y, N));
        nn_zero_grad(g);
        assert_ok(ctx, nn_forward(g));
        assert_ok(ctx, nn_backward(g, nn_model_loss(m)));
        memcpy(dW, nn_grad(w), sizeof dW);
        memcpy(dB, nn_grad(b), sizeof dB);
        struct nn_train_cfg tc = {.epochs = 1, .batch = N, .no_shuffle = true,
                                  .optim = {.kind = NN_OPTIM_SGD, .lr = a}};
        if (path == 0)
            tc.l2 = l;
        else
            tc.optim.weight_decay = l;
        /* weight decay in the optimizer applies to biases too unless told */
        nn_trainer *t = nn_trainer_new(m, &tc);
        assert_non_null(t);
        if (path == 1)
            assert_ok(ctx, nn_optim_set_decay(nn_trainer_optim(t), b, false));
        struct nn_array_source as = {.x = x, .labels = y, .n = N, .features = IN};
        struct nn_source src = nn_source_from_arrays(&as);
        assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
        for (int i = 0; i < 2 * IN; i++) {
            double want = (1.0 - (double)a * l) * W0[i] - (double)a * dW[i];
            if (fabs(nn_value(w)[i] - want) > 1e-6 * (1.0 + fabs(want)))
                fail_msg("%s: W[%d] %.9g, (1 - al) W - a dJ %.9g",
                         path ? "weight decay" : "l2", i, (double)nn_value(w)[i], want);
        }
        for (int i = 0; i < 2; i++)
            assert_true(fabs(nn_value(b)[i] - (B0[i] - (double)a * dB[i])) <= 1e-6);
        nn_trainer_free(t);
        nn_model_free(m);
        nn_ctx_free(ctx);
    }
}

NN_GROUP(lectures,
         cmocka_unit_test(tanh_is_a_rescaled_sigmoid),
         cmocka_unit_test(chain_rule_six_x),
         cmocka_unit_test(gradient_of_the_bias),
         cmocka_unit_test(parameter_counts),
         cmocka_unit_test(linear_layers_collapse),
         cmocka_unit_test(sgd_step_with_l2))
