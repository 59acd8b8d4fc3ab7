/*
 * test_textbook.c - the classic worked examples of backpropagation:
 * a node with two outgoing edges, the closed-form gradients of an n-3-2-1
 * sigmoid network with log loss, and a hand-set XOR network.
 */
#include "test.h"

static nn_node *scalar_param(nn_graph *g, const char *name, float v)
{
    return nn_param(g, name, 1, (int64_t[]){1},
                    (struct nn_init){.kind = NN_INIT_CONSTANT, .a = v});
}

/* f(x, y, z) = (x + y) * max(y, z), with max(y, z) = z + relu(y - z).
 * At (1, 2, 0): f = 6, df/dx = 2, df/dy = 5 (y feeds both factors; the two
 * paths' gradients are summed), df/dz = 0. */
static void two_outgoing_edges(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = scalar_param(g, "x", 1), *y = scalar_param(g, "y", 2);
    nn_node *z = scalar_param(g, "z", 0);
    nn_node *mx = nn_add(g, z, nn_relu(g, nn_sub(g, y, z)));
    nn_node *f = nn_mul(g, nn_add(g, x, y), mx);
    assert_ok(ctx, nn_graph_compile(g, &f, 1, 1));
    assert_ok(ctx, nn_forward(g));
    assert_ok(ctx, nn_backward(g, f));
    assert_true(nn_value(f)[0] == 6.0f);
    assert_true(nn_grad(x)[0] == 2.0f);
    assert_true(nn_grad(y)[0] == 5.0f);
    assert_true(nn_grad(z)[0] == 0.0f);
    /* A second backward without zero_grad accumulates, as documented. */
    assert_ok(ctx, nn_backward(g, f));
    assert_true(nn_grad(y)[0] == 10.0f);
    nn_zero_grad(g);
    assert_true(nn_grad(y)[0] == 0.0f);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

static double sig(double v) { return 1.0 / (1.0 + exp(-v)); }

/* a_l = sigmoid(W_l a_{l-1} + b_l), L = -(y log a3 + (1 - y) log(1 - a3)).
 * Closed forms: d3 = a3 - y; dW3 = d3 a2^T; db3 = d3;
 * d2 = (W3^T d3) o a2 (1 - a2); dW2 = d2 a1^T; db2 = d2;
 * d1 = (W2^T d2) o a1 (1 - a1); dW1 = d1 x^T; db1 = d1. */
static void closed_form_sigmoid_network(void **state)
{
    (void)state;
    enum { N = 4 };
    const double xin[N] = {0.5, -1.0, 2.0, 0.25};
    for (int label = 0; label <= 1; label++) {
        nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 3 + (uint64_t)label});
        nn_graph *g = nn_graph_new(ctx);
        struct nn_init init = {.kind = NN_INIT_NORMAL, .a = 0, .b = 1};
        nn_node *x = nn_input(g, "x", 1, (int64_t[]){N});
        nn_node *t = nn_input(g, "t", 1, (int64_t[]){1});
        nn_node *W1 = nn_param(g, "W1", 2, (int64_t[]){3, N}, init);
        nn_node *b1 = nn_param(g, "b1", 1, (int64_t[]){3}, init);
        nn_node *W2 = nn_param(g, "W2", 2, (int64_t[]){2, 3}, init);
        nn_node *b2 = nn_param(g, "b2", 1, (int64_t[]){2}, init);
        nn_node *W3 = nn_param(g, "W3", 2, (int64_t[]){1, 2}, init);
        nn_node *b3 = nn_param(g, "b3", 1, (int64_t[]){1}, init);
        nn_node *a1 = nn_sigmoid(g, nn_add(g, nn_matmul(g, x, W1, true), b1));
        nn_node *a2 = nn_sigmoid(g, nn_add(g, nn_matmul(g, a1, W2, true), b2));
        nn_node *a3 = nn_sigmoid(g, nn_add(g, nn_matmul(g, a2, W3, true), b3));
        nn_node *L = nn_bce(g, a3, t);
        assert_ok(ctx, nn_graph_compile(g, &L, 1, 1));
        assert_int_equal(nn_graph_param_count(g), 3 * N + 14);
        float xf[N], tf = (float)label;
        for (int i = 0; i < N; i++)
            xf[i] = (float)xin[i];
        assert_ok(ctx, nn_feed(g, x, xf, 1));
        assert_ok(ctx, nn_feed(g, t, &tf, 1));
        assert_ok(ctx, nn_forward(g));
        assert_ok(ctx, nn_backward(g, L));

        /* The same forward pass in double, from the same parameters. */
        const float *w1 = nn_value(W1), *w2 = nn_value(W2), *w3 = nn_value(W3);
        const float *c1 = nn_value(b1), *c2 = nn_value(b2), *c3 = nn_value(b3);
        double h1[3], h2[2], h3;
        for (int i = 0; i < 3; i++) {
            double s = c1[i];
            for (int j = 0; j < N; j++)
                s += w1[i * N + j] * xin[j];
            h1[i] = sig(s);
        }
        for (int i = 0; i < 2; i++) {
            double s = c2[i];
            for (int j = 0; j < 3; j++)
                s += w2[i * 3 + j] * h1[j];
            h2[i] = sig(s);
        }
        h3 = sig(c3[0] + w3[0] * h2[0] + w3[1] * h2[1]);
        assert_close(nn_value(a3)[0], h3, 1e-5, 1e-6);
        double d3 = h3 - label, d2[2], d1[3];
        for (int j = 0; j < 2; j++) {
            assert_close(nn_grad(W3)[j], d3 * h2[j], 1e-4, 1e-6);
            d2[j] = w3[j] * d3 * h2[j] * (1 - h2[j]);
        }
        assert_close(nn_grad(b3)[0], d3, 1e-4, 1e-6);
        for (int i = 0; i < 2; i++) {
            assert_close(nn_grad(b2)[i], d2[i], 1e-4, 1e-6);
            for (int j = 0; j < 3; j++)
                assert_close(nn_grad(W2)[i * 3 + j], d2[i] * h1[j], 1e-4, 1e-6);
        }
        for (int j = 0; j < 3; j++) {
            double s = 0;
            for (int i = 0; i < 2; i++)
                s += w2[i * 3 + j] * d2[i];
            d1[j] = s * h1[j] * (1 - h1[j]);
            assert_close(nn_grad(b1)[j], d1[j], 1e-4, 1e-6);
            for (int k = 0; k < N; k++)
                assert_close(nn_grad(W1)[j * N + k], d1[j] * xin[k], 1e-4, 1e-6);
        }
        nn_graph_free(g);
        nn_ctx_free(ctx);
    }
}

/* f(x) = v^T relu(W^T x + b), W = [[1,1],[1,1]], b = [0,-1], v = [1,-2]:
 * exactly 0, 1, 1, 0 on (0,0), (0,1), (1,0), (1,1). */
static void hand_set_xor(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_graph *g = nn_graph_new(ctx);
    const float W[4] = {1, 1, 1, 1}, b[2] = {0, -1}, v[2] = {1, -2};
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){2});
    nn_node *Wn = nn_const(g, "W", 2, (int64_t[]){2, 2}, W);
    nn_node *bn = nn_const(g, "b", 1, (int64_t[]){2}, b);
    nn_node *vn = nn_const(g, "v", 2, (int64_t[]){2, 1}, v);
    /* each row x^T W is (W^T x)^T */
    nn_node *h = nn_relu(g, nn_add(g, nn_matmul(g, x, Wn, false), bn));
    nn_node *f = nn_matmul(g, h, vn, false);
    assert_ok(ctx, nn_graph_compile(g, &f, 1, 4));
    const float X[8] = {0, 0, 0, 1, 1, 0, 1, 1};
    assert_ok(ctx, nn_feed(g, x, X, 4));
    assert_ok(ctx, nn_forward(g));
    assert_int_equal(nn_node_dim(f, 0), 4);
    assert_int_equal(nn_node_dim(f, 1), 1);
    const float want[4] = {0, 1, 1, 0};
    for (int i = 0; i < 4; i++)
        if (nn_value(f)[i] != want[i])
            fail_msg("xor(%g, %g) = %g, expected %g", (double)X[2 * i],
                     (double)X[2 * i + 1], (double)nn_value(f)[i], (double)want[i]);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

NN_GROUP(textbook,
         cmocka_unit_test(two_outgoing_edges),
         cmocka_unit_test(closed_form_sigmoid_network),
         cmocka_unit_test(hand_set_xor))
