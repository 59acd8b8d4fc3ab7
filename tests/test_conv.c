/*
 * test_conv.c - the convolutional ops beyond their PyTorch fixtures
 * (test_ref.c) and finite-difference checks (test_ops.c): shape errors that
 * name the node and the shapes, the output-size and same-padding helpers,
 * results that do not depend on the thread count, reshape as a view,
 * buffers (batch norm's running statistics) that no optimizer touches,
 * batch norm's two modes, max pooling's ties and NaNs, the layer helpers'
 * parameter names, and which backend runs the convolutions.
 */
#include "test.h"

#include "conv.h"
#include "nn_impl.h"

static const struct nn_init ZEROS = {.kind = NN_INIT_ZEROS};

static nn_ctx *new_ctx(uint64_t seed, int threads)
{
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = seed, .threads = threads});
    assert_non_null(ctx);
    return ctx;
}

static void fill_uniform(nn_ctx *r, float *x, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * nn_rand_uniform(r);
}

/* The builder returned NULL with status st (checked through compile: an
 * earlier builder failed) and a one-line message containing every needle. */
static void expect_error(nn_ctx *ctx, const nn_node *made, const char *const *needles, int n)
{
    if (made)
        fail_msg("a bad builder call returned a node");
    const char *m = nn_ctx_error(ctx);
    for (int i = 0; i < n; i++)
        if (!strstr(m, needles[i]))
            fail_msg("message \"%s\" does not contain \"%s\"", m, needles[i]);
    if (strchr(m, '\n'))
        fail_msg("message \"%s\" spans more than one line", m);
}
#define EXPECT_ERROR(ctx, made, ...)                                          \
    expect_error(ctx, made, (const char *const[]){__VA_ARGS__},               \
                 (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

static nn_node *input4(nn_graph *g, int64_t c, int64_t h, int64_t w)
{
    return nn_input(g, "x", 3, (int64_t[]){c, h, w});
}

static nn_node *param4(nn_graph *g, const char *name, int64_t o, int64_t i, int64_t kh,
                       int64_t kw)
{
    return nn_param(g, name, 4, (int64_t[]){o, i, kh, kw}, ZEROS);
}

/* ---- shape and argument errors ------------------------------------------ */

static void conv_errors_name_node_and_shapes(void **state)
{
    (void)state;
    for (int k = 0; k < 9; k++) {
        nn_ctx *ctx = new_ctx(1, 1);
        nn_graph *g = nn_graph_new(ctx);
        struct nn_conv2d_cfg cfg = {.name = "c1"};
        nn_node *y;
        switch (k) {
        case 0: /* a flat input */
            y = nn_conv2d(g, nn_input(g, "x", 1, (int64_t[]){784}), param4(g, "w", 4, 1, 3, 3),
                          NULL, &cfg);
            EXPECT_ERROR(ctx, y, "conv2d 'c1'", "4-D", "(N, 784)");
            break;
        case 1: /* weight channels do not match the input's */
            y = nn_conv2d(g, input4(g, 3, 8, 8), param4(g, "w", 4, 2, 3, 3), NULL, &cfg);
            EXPECT_ERROR(ctx, y, "conv2d 'c1'", "(4, 2, 3, 3)", "(N, 3, 8, 8)",
                         "takes 2 input channels", "has 3");
            break;
        case 2: /* channels that do not divide into the groups */
            cfg.groups = 2;
            y = nn_conv2d(g, input4(g, 3, 8, 8), param4(g, "w", 4, 1, 3, 3), NULL, &cfg);
            EXPECT_ERROR(ctx, y, "conv2d 'c1'", "3 channels", "(N, 3, 8, 8)", "2 groups");
            break;
        case 3:
            cfg.groups = 2;
            y = nn_conv2d(g, input4(g, 4, 8, 8), param4(g, "w", 3, 2, 3, 3), NULL, &cfg);
            EXPECT_ERROR(ctx, y, "conv2d 'c1'", "3 output channels", "(3, 2, 3, 3)", "2 groups");
            break;
        case 4: /* kernel larger than the padded input */
            cfg.pad_h = cfg.pad_w = 0;
            y = nn_conv2d(g, input4(g, 1, 4, 6), param4(g, "w", 2, 1, 5, 5), NULL, &cfg);
            EXPECT_ERROR(ctx, y, "conv2d 'c1'", "kernel 5x5", "padded input 4x6",
                         "(N, 1, 4, 6)");
            break;
        case 5: /* the same through dilation: a 3x3 kernel spanning 7x7 */
            cfg.dil_h = cfg.dil_w = 3;
            y = nn_conv2d(g, input4(g, 1, 6, 6), param4(g, "w", 2, 1, 3, 3), NULL, &cfg);
            EXPECT_ERROR(ctx, y, "conv2d 'c1'", "spans 7x7", "padded input 6x6");
            break;
        case 6: /* a bias that does not match the output channels */
            y = nn_conv2d(g, input4(g, 1, 6, 6), param4(g, "w", 4, 1, 3, 3),
                          nn_param(g, "b", 1, (int64_t[]){3}, ZEROS), &cfg);
            EXPECT_ERROR(ctx, y, "conv2d 'c1'", "bias must be (4)", "(3)");
            break;
        case 7: /* out-of-range settings */
            cfg.stride_w = -1;
            y = nn_conv2d(g, input4(g, 1, 6, 6), param4(g, "w", 4, 1, 3, 3), NULL, &cfg);
            EXPECT_ERROR(ctx, y, "conv2d 'c1'", "stride_w is -1");
            break;
        default: /* a weight with a batch axis */
            y = nn_conv2d(g, input4(g, 1, 6, 6), nn_input(g, "wx", 3, (int64_t[]){1, 3, 3}),
                          NULL, &cfg);
            EXPECT_ERROR(ctx, y, "conv2d 'c1'", "weight must be 4-D", "(N, 1, 3, 3)");
            break;
        }
        nn_node *ok = nn_input(g, "ok", 1, (int64_t[]){2});
        assert_int_equal(nn_graph_compile(g, &ok, 1, 2), NN_ERR_STATE);
        nn_graph_free(g);
        nn_ctx_free(ctx);
    }
}

static void pool_norm_reshape_errors(void **state)
{
    (void)state;
    for (int k = 0; k < 9; k++) {
        nn_ctx *ctx = new_ctx(1, 1);
        nn_graph *g = nn_graph_new(ctx);
        struct nn_pool2d_cfg pc = {.name = "p1", .kernel_h = 2, .kernel_w = 2};
        nn_node *y;
        int64_t c3[1] = {3}, one[1] = {1};
        switch (k) {
        case 0: /* padding beyond half the kernel */
            pc.pad_h = pc.pad_w = 2;
            y = nn_maxpool2d(g, input4(g, 1, 6, 6), &pc);
            EXPECT_ERROR(ctx, y, "maxpool2d 'p1'", "padding 2x2", "half the kernel 2x2");
            break;
        case 1: /* a window larger than the padded input */
            pc.kernel_h = 4;
            y = nn_avgpool2d(g, input4(g, 1, 3, 5), &pc);
            EXPECT_ERROR(ctx, y, "avgpool2d 'p1'", "kernel 4x2", "padded input 3x5",
                         "(N, 1, 3, 5)");
            break;
        case 2:
            y = nn_maxpool2d(g, nn_input(g, "x", 1, (int64_t[]){16}), &pc);
            EXPECT_ERROR(ctx, y, "maxpool2d 'p1'", "4-D", "(N, 16)");
            break;
        case 3:
            pc.kernel_w = 0;
            y = nn_avgpool2d(g, input4(g, 1, 6, 6), &pc);
            EXPECT_ERROR(ctx, y, "avgpool2d 'p1'", "kernel_w is 0");
            break;
        case 4:
            y = nn_global_avgpool(g, nn_input(g, "x", 2, (int64_t[]){3, 4}));
            EXPECT_ERROR(ctx, y, "global_avgpool", "4-D", "(N, 3, 4)");
            break;
        case 5: { /* running statistics that are trainable parameters */
            nn_node *x = input4(g, 3, 2, 2);
            nn_node *w = nn_param(g, "w", 1, c3, ZEROS), *b = nn_param(g, "b", 1, c3, ZEROS);
            nn_node *rm = nn_param(g, "rm", 1, c3, ZEROS);
            nn_node *rv = nn_buffer(g, "rv", 1, c3, ZEROS);
            nn_node *nb = nn_buffer(g, "nb", 1, one, ZEROS);
            y = nn_batchnorm(g, x, w, b, rm, rv, nb, &(struct nn_batchnorm_cfg){.name = "bn1"});
            EXPECT_ERROR(ctx, y, "batchnorm 'bn1'", "running_mean 'rm'", "buffer",
                         "trainable parameter");
            break;
        }
        case 6: { /* a weight that does not match the channels */
            nn_node *x = input4(g, 3, 2, 2);
            nn_node *w = nn_param(g, "w", 1, (int64_t[]){4}, ZEROS);
            nn_node *b = nn_param(g, "b", 1, c3, ZEROS);
            nn_node *rm = nn_buffer(g, "rm", 1, c3, ZEROS);
            nn_node *rv = nn_buffer(g, "rv", 1, c3, ZEROS);
            nn_node *nb = nn_buffer(g, "nb", 1, one, ZEROS);
            y = nn_batchnorm(g, x, w, b, rm, rv, nb, &(struct nn_batchnorm_cfg){.name = "bn1"});
            EXPECT_ERROR(ctx, y, "batchnorm 'bn1'", "weight 'w' must be (3)", "(4)");
            break;
        }
        case 7:
            y = nn_reshape(g, nn_input(g, "x", 2, (int64_t[]){2, 3}), 1, (int64_t[]){4});
            EXPECT_ERROR(ctx, y, "reshape of 'x'", "(N, 2, 3)", "(N, 4)", "6 elements",
                         "holds 4");
            break;
        default:
            y = nn_reshape(g, nn_input(g, "x", 2, (int64_t[]){2, 3}), 2, (int64_t[]){4, -1});
            EXPECT_ERROR(ctx, y, "reshape of 'x'", "(N, 4, -1)", "do not divide by 4");
            break;
        }
        nn_graph_free(g);
        nn_ctx_free(ctx);
    }
}

static void output_size_and_same_padding(void **state)
{
    (void)state;
    assert_int_equal(nn_conv_output_size(28, 5, 1, 0, 1), 24);
    assert_int_equal(nn_conv_output_size(28, 5, 1, 2, 1), 28);
    assert_int_equal(nn_conv_output_size(7, 3, 2, 1, 1), 4);   /* floor(6 / 2) + 1 */
    assert_int_equal(nn_conv_output_size(8, 3, 1, 2, 3), 6);   /* span 7 */
    assert_int_equal(nn_conv_output_size(10, 3, 3, 0, 1), 3);  /* floor(7 / 3) + 1 */
    assert_int_equal(nn_conv_output_size(4, 5, 1, 0, 1), 0);   /* does not fit */
    assert_int_equal(nn_conv_output_size(4, 3, 0, 0, 1), 0);   /* bad stride */
    nn_ctx *ctx = new_ctx(1, 1);
    int pad = -1;
    assert_ok(ctx, nn_conv2d_same_pad(ctx, 5, 1, &pad));
    assert_int_equal(pad, 2);
    assert_ok(ctx, nn_conv2d_same_pad(ctx, 3, 2, &pad));
    assert_int_equal(pad, 2);
    assert_int_equal(nn_conv_output_size(13, 3, 1, pad, 2), 13);
    pad = -1;
    assert_int_equal(nn_conv2d_same_pad(ctx, 4, 1, &pad), NN_ERR_INVALID);
    assert_int_equal(pad, -1);
    assert_non_null(strstr(nn_ctx_error(ctx), "kernel 4"));
    assert_int_equal(nn_conv2d_same_pad(ctx, 0, 1, &pad), NN_ERR_INVALID);
    nn_ctx_free(ctx);
}

/* ---- threads ------------------------------------------------------------ */

/* A small conv net whose products are large enough to be split: conv,
 * relu, max pool, grouped and dilated conv with stride, avg pool with
 * padding, batch norm (training), global average pool, flatten. */
struct tnet {
    nn_ctx *ctx;
    nn_graph *g;
    nn_node *x, *out;
};

/* batch: two full chunks of the oneDNN backend (8 images) and three single
 * images; four chunks and a partial one of the im2col backend's weight
 * gradient (4 images) */
enum { TN = 19 };

static void tnet_build(struct tnet *t, int threads)
{
    t->ctx = new_ctx(3, threads);
    nn_graph *g = t->g = nn_graph_new(t->ctx);
    t->x = input4(g, 4, 18, 17);
    nn_input_requires_grad(t->x, true);
    struct nn_init he = {.kind = NN_INIT_HE_NORMAL};
    nn_node *h = nn_conv2d_layer(g, t->x, 8, 3, 3, &(struct nn_conv2d_cfg){.pad_h = 1,
                                 .pad_w = 1}, true, he, "conv1");
    h = nn_maxpool2d(g, nn_relu(g, h), &(struct nn_pool2d_cfg){.kernel_h = 2, .kernel_w = 2});
    h = nn_conv2d_layer(g, h, 6, 3, 2, &(struct nn_conv2d_cfg){.stride_h = 2, .dil_w = 2,
                        .groups = 2}, true, he, "conv2");
    h = nn_avgpool2d(g, h, &(struct nn_pool2d_cfg){.kernel_h = 3, .kernel_w = 2,
                                                   .stride_h = 1, .pad_h = 1});
    h = nn_batchnorm_layer(g, h, NULL, "bn");
    t->out = nn_flatten(g, nn_global_avgpool(g, h));
    assert_non_null(t->out);
    assert_ok(t->ctx, nn_graph_compile(g, &t->out, 1, 24));
    nn_graph_set_training(g, true);
}

static void threads_do_not_change_conv_results(void **state)
{
    (void)state;
    float *ref = NULL;
    int64_t len = 0;
    /* 1-4 threads, then 2 and 3 with worker 1 held (pool.c's test hook): the
     * other threads claim its chunks and parts, in another order */
    for (int v = 1; v <= 6; v++) {
        int threads = v <= 4 ? v : v - 3;
        struct tnet t;
        tnet_build(&t, threads);
        assert_int_equal(nn_ctx_threads(t.ctx), threads);
        if (v > 4)
            nn_pool_hold(nn_ctx_pool(t.ctx), 1, true);
        nn_ctx *r = new_ctx(9, 1); /* the same data for every thread count */
        float *x = nn_input_buffer(t.g, t.x);
        fill_uniform(r, x, TN * 4 * 18 * 17, -1, 1);
        assert_ok(t.ctx, nn_set_batch(t.g, TN));
        float seed[TN * 6];
        fill_uniform(r, seed, TN * 6, -1, 1);
        nn_ctx_free(r);
        assert_ok(t.ctx, nn_forward(t.g));
        assert_ok(t.ctx, nn_backward_seeded(t.g, t.out, seed));
        /* the output, the input's gradient, then every parameter, buffer
         * and gradient */
        int64_t np = nn_graph_param_count(t.g), nx = nn_node_numel(t.x);
        int64_t n = TN * 6 + nx + 2 * np;
        float *got = malloc((size_t)n * sizeof *got);
        memcpy(got, nn_value(t.out), TN * 6 * sizeof *got);
        memcpy(got + TN * 6, nn_grad(t.x), (size_t)nx * sizeof *got);
        memcpy(got + TN * 6 + nx, nn_graph_param_block(t.g), (size_t)np * sizeof *got);
        memcpy(got + TN * 6 + nx + np, nn_graph_grad_block(t.g), (size_t)np * sizeof *got);
        if (!ref) {
            ref = got;
            len = n;
        } else {
            assert_int_equal(n, len);
            for (int64_t i = 0; i < n; i++)
                if (memcmp(&got[i], &ref[i], sizeof *got) != 0)
                    fail_msg("%d threads%s: value %lld is %.9g, with 1 thread %.9g", threads,
                             v > 4 ? " (one held)" : "", (long long)i, (double)got[i],
                             (double)ref[i]);
            free(got);
        }
        if (v > 4)
            nn_pool_hold(nn_ctx_pool(t.ctx), 1, false);
        nn_graph_free(t.g);
        nn_ctx_free(t.ctx);
    }
    free(ref);
}

/* ---- reshape is a view -------------------------------------------------- */

static void reshape_shares_storage_and_gradient(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1, 1);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 2, (int64_t[]){2, 3});
    nn_input_requires_grad(x, true);
    float cv[6] = {1, -2, 3, 0.5f, -1, 2};
    nn_node *c = nn_const(g, "c", 2, (int64_t[]){3, 2}, cv);
    nn_node *r = nn_reshape(g, x, 2, (int64_t[]){3, 2});
    nn_node *rr = nn_flatten(g, r); /* a view of a view */
    /* L = sum(r * c) + sum(x^2) + 3 sum(rr): x reaches L directly and through
     * both views */
    nn_node *L = nn_add(g, nn_add(g, nn_sum(g, nn_mul(g, r, c)), nn_sum(g, nn_square(g, x))),
                        nn_scale(g, nn_sum(g, rr), 3.0f));
    assert_non_null(L);
    assert_int_equal(nn_node_ndim(rr), 2);
    assert_ok(ctx, nn_graph_compile(g, &L, 1, 4));
    assert_ptr_equal(nn_value(r), nn_value(x));
    assert_ptr_equal(nn_value(rr), nn_value(x));
    assert_ptr_equal(nn_grad(r), nn_grad(x));
    float xv[12];
    for (int i = 0; i < 12; i++)
        xv[i] = 0.25f * (float)i - 1.0f;
    assert_ok(ctx, nn_feed(g, x, xv, 2));
    assert_int_equal(nn_node_dim(r, 0), 2);
    assert_int_equal(nn_node_dim(rr, 1), 6);
    assert_ok(ctx, nn_forward(g));
    assert_ok(ctx, nn_backward(g, L));
    for (int i = 0; i < 12; i++)
        assert_close(nn_grad(x)[i], cv[i % 6] + 2 * xv[i] + 3, 1e-6, 1e-6);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* A view of a parameter keeps its own gradient and adds it in: deferred
 * zeroing (nn_zero_grad) must not leak an old gradient into the next. */
static void reshape_of_parameter(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1, 1);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *w = nn_param(g, "w", 2, (int64_t[]){2, 3},
                          (struct nn_init){.kind = NN_INIT_CONSTANT, .a = 0.5f});
    float cv[6] = {1, 2, 3, 4, 5, 6};
    nn_node *c = nn_const(g, "c", 1, (int64_t[]){6}, cv);
    nn_node *v = nn_reshape(g, w, 1, (int64_t[]){-1});
    nn_node *L = nn_sum(g, nn_mul(g, v, c));
    assert_ok(ctx, nn_graph_compile(g, &L, 1, 1));
    assert_ptr_equal(nn_value(v), nn_value(w));
    assert_true(nn_grad(v) != nn_grad(w));
    for (int pass = 1; pass <= 3; pass++) {
        if (pass != 2)
            nn_zero_grad(g); /* pass 2 accumulates onto pass 1 */
        assert_ok(ctx, nn_forward(g));
        assert_ok(ctx, nn_backward(g, L));
        for (int i = 0; i < 6; i++)
            assert_close(nn_grad(w)[i], (pass == 2 ? 2 : 1) * cv[i], 0, 0);
    }
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* ---- buffers and batch norm --------------------------------------------- */

/* x (N, 3, 4, 5) -> batchnorm "bn" -> mean of squares against a shift. */
struct bnet {
    nn_ctx *ctx;
    nn_graph *g;
    nn_node *x, *bn, *loss;
};

static void bnet_build(struct bnet *b, bool training)
{
    b->ctx = new_ctx(2, 1);
    nn_graph *g = b->g = nn_graph_new(b->ctx);
    b->x = input4(g, 3, 4, 5);
    nn_input_requires_grad(b->x, true);
    b->bn = nn_batchnorm_layer(g, b->x, NULL, "bn");
    float sh[3 * 4 * 5];
    for (int i = 0; i < 60; i++)
        sh[i] = 0.1f * (float)(i % 7) - 0.3f;
    nn_node *c = nn_const(g, "shift", 3, (int64_t[]){3, 4, 5}, sh);
    b->loss = nn_mean(g, nn_square(g, nn_sub(g, b->bn, c)));
    assert_ok(b->ctx, nn_graph_compile(g, &b->loss, 1, 8));
    nn_graph_set_training(g, training);
    float *x = nn_input_buffer(g, b->x);
    for (int i = 0; i < 6 * 60; i++)
        x[i] = (float)sin(0.37 * i) * (1.0f + 0.2f * (float)(i % 3));
    assert_ok(b->ctx, nn_set_batch(g, 6));
}

static const char *const bn_names[5] = {"bn.weight", "bn.bias", "bn.running_mean",
                                        "bn.running_var", "bn.num_batches_tracked"};

static void batchnorm_layer_parameters(void **state)
{
    (void)state;
    struct bnet b;
    bnet_build(&b, true);
    assert_int_equal(nn_graph_nparams(b.g), 5);
    const float init[5] = {1, 0, 0, 1, 0};
    for (int i = 0; i < 5; i++) {
        nn_node *p = nn_graph_find(b.g, bn_names[i]);
        assert_non_null(p);
        assert_ptr_equal(p, nn_graph_param(b.g, i));
        assert_true(nn_node_is_param(p));
        assert_int_equal(nn_param_is_trainable(p), i < 2);
        assert_int_equal(nn_node_dim(p, 0), i == 4 ? 1 : 3);
        assert_true(nn_value(p)[0] == init[i]);
        if (i >= 2)
            assert_null(nn_grad(p));
    }
    assert_string_equal(nn_node_name(b.bn), "bn");
    assert_false(nn_param_is_trainable(b.x));
    nn_graph_free(b.g);
    nn_ctx_free(b.ctx);

    /* conv2d_layer: torch's names and shapes (out, in/groups, kh, kw) */
    nn_ctx *ctx = new_ctx(1, 1);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *y = nn_conv2d_layer(g, input4(g, 4, 9, 9), 6, 5, 3,
                                 &(struct nn_conv2d_cfg){.groups = 2, .name = "ignored"}, true,
                                 (struct nn_init){.kind = NN_INIT_HE_NORMAL}, "conv1");
    assert_non_null(y);
    assert_string_equal(nn_node_name(y), "conv1");
    nn_node *w = nn_graph_find(g, "conv1.weight"), *bias = nn_graph_find(g, "conv1.bias");
    assert_non_null(w);
    assert_non_null(bias);
    const int64_t wd[4] = {6, 2, 5, 3};
    for (int d = 0; d < 4; d++)
        assert_int_equal(nn_node_dim(w, d), wd[d]);
    assert_int_equal(nn_node_dim(y, 2), 5);
    assert_int_equal(nn_node_dim(y, 3), 7);
    nn_node *nb = nn_conv2d_layer(g, y, 2, 1, 1, NULL, false, ZEROS, "conv2");
    assert_non_null(nb);
    assert_null(nn_graph_find(g, "conv2.bias"));
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* No optimizer, decay or penalty moves a buffer; the trainable parameters
 * do move. */
static void buffers_are_not_trained(void **state)
{
    (void)state;
    const struct nn_optim_cfg cfgs[] = {
        {.kind = NN_OPTIM_SGD, .lr = 0.1f, .weight_decay = 0.5f},
        {.kind = NN_OPTIM_MOMENTUM, .lr = 0.1f, .weight_decay = 0.5f},
        {.kind = NN_OPTIM_ADAM, .weight_decay = 0.5f},
        {.kind = NN_OPTIM_ADAMW, .weight_decay = 0.5f},
        {.kind = NN_OPTIM_RMSPROP, .weight_decay = 0.5f},
        {.kind = NN_OPTIM_ADAGRAD, .weight_decay = 0.5f},
        {.kind = NN_OPTIM_ADADELTA, .weight_decay = 0.5f},
        {.kind = NN_OPTIM_ADAFACTOR, .weight_decay = 0.5f},
    };
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++) {
        struct bnet b;
        bnet_build(&b, true);
        nn_optim *o = nn_optim_new(b.g, &cfgs[k]);
        assert_non_null(o);
        float before[13], grads[13];
        for (int step = 0; step < 3; step++) {
            nn_zero_grad(b.g);
            assert_ok(b.ctx, nn_forward(b.g));
            assert_ok(b.ctx, nn_backward(b.g, b.loss));
            memcpy(before, nn_graph_param_block(b.g), sizeof before);
            memcpy(grads, nn_graph_grad_block(b.g), sizeof grads);
            assert_ok(b.ctx, nn_optim_step(o));
            const float *after = nn_graph_param_block(b.g);
            for (int i = 6; i < 13; i++) { /* running mean, var, count */
                if (grads[i] != 0.0f)
                    fail_msg("%s: a buffer has gradient %g", nn_optim_name(cfgs[k].kind),
                             (double)grads[i]);
                if (after[i] != before[i])
                    fail_msg("%s step %d: buffer element %d moved from %g to %g",
                             nn_optim_name(cfgs[k].kind), step, i, (double)before[i],
                             (double)after[i]);
            }
            bool moved = false;
            for (int i = 0; i < 6; i++)
                moved |= after[i] != before[i];
            if (!moved)
                fail_msg("%s: the trainable parameters did not move",
                         nn_optim_name(cfgs[k].kind));
        }
        /* three training passes: counted, and the running mean moved */
        assert_true(nn_value(nn_graph_find(b.g, "bn.num_batches_tracked"))[0] == 3.0f);
        assert_true(nn_value(nn_graph_find(b.g, "bn.running_mean"))[0] != 0.0f);
        nn_optim_free(o);
        nn_graph_free(b.g);
        nn_ctx_free(b.ctx);
    }
}

/* Evaluation mode: running statistics, no update, gradients by finite
 * differences; training mode refuses one value per channel. */
static void batchnorm_modes(void **state)
{
    (void)state;
    struct bnet b;
    bnet_build(&b, false);
    float *rm = nn_value_mut(nn_graph_find(b.g, "bn.running_mean"));
    float *rv = nn_value_mut(nn_graph_find(b.g, "bn.running_var"));
    const float m[3] = {0.2f, -0.4f, 0.1f}, v[3] = {0.5f, 2.0f, 1.5f};
    memcpy(rm, m, sizeof m);
    memcpy(rv, v, sizeof v);
    nn_value_mut(nn_graph_find(b.g, "bn.weight"))[1] = 1.5f;
    assert_ok(b.ctx, nn_forward(b.g));
    /* y = (x - m) / sqrt(v + eps) * w + b, element (sample 1, channel 1, 0, 0) */
    float x = nn_value(b.x)[60 + 20];
    assert_close(nn_value(b.bn)[60 + 20], (x - m[1]) / sqrt(v[1] + 1e-5) * 1.5, 1e-6, 1e-6);
    struct nn_gradcheck_result r;
    assert_ok(b.ctx, nn_gradcheck(b.g, b.loss, 1e-2, &r));
    assert_int_equal(r.checked, 6 * 60 + 6); /* x, weight and bias; no buffer */
    if (!(r.max_rel_err < 3e-3))
        fail_msg("evaluation-mode batch norm: max relative error %g", r.max_rel_err);
    assert_memory_equal(rm, m, sizeof m); /* no update in evaluation mode */
    assert_memory_equal(rv, v, sizeof v);
    assert_true(nn_value(nn_graph_find(b.g, "bn.num_batches_tracked"))[0] == 0.0f);
    /* a batch of one (N, C) sample: fine to evaluate, not to train on */
    nn_graph_free(b.g);
    nn_ctx_free(b.ctx);
    nn_ctx *ctx = new_ctx(1, 1);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x1 = nn_input(g, "x", 1, (int64_t[]){3});
    nn_node *y = nn_batchnorm_layer(g, x1, NULL, "bn1");
    assert_ok(ctx, nn_graph_compile(g, &y, 1, 4));
    assert_ok(ctx, nn_feed(g, x1, (float[]){1, 2, 3}, 1));
    assert_ok(ctx, nn_forward(g));
    nn_graph_set_training(g, true);
    assert_int_equal(nn_forward(g), NN_ERR_SHAPE);
    EXPECT_ERROR(ctx, NULL, "batchnorm 'bn1'", "more than one value per channel", "(N, 3)");
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* ---- max pooling's ties and NaNs ---------------------------------------- */

static void maxpool_ties_and_nan(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1, 1);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = input4(g, 1, 2, 4);
    nn_input_requires_grad(x, true);
    nn_node *y = nn_maxpool2d(g, x, &(struct nn_pool2d_cfg){.kernel_h = 2, .kernel_w = 2});
    assert_ok(ctx, nn_graph_compile(g, &y, 1, 1));
    /* window 1: 3 twice (the first, row-major, wins); window 2: a NaN */
    const float xv[8] = {1, 3, 5, NAN, 3, 0, 7, 2};
    assert_ok(ctx, nn_feed(g, x, xv, 1));
    assert_ok(ctx, nn_forward(g));
    assert_true(nn_value(y)[0] == 3.0f);
    assert_true(isnan(nn_value(y)[1]));
    assert_ok(ctx, nn_backward_seeded(g, y, (float[]){10, 20}));
    const float want[8] = {0, 10, 0, 20, 0, 0, 0, 0};
    assert_memory_equal(nn_grad(x), want, sizeof want);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* ---- the backend ---------------------------------------------------- */

/* The default build runs convolutions and average pooling in oneDNN's
 * primitives, made at compile time for the passes each node needs; the
 * CBLAS build in im2col + nn_gemm. On a CPU with AVX2 oneDNN must have
 * picked one of its JIT kernels, not its reference or GEMM-based code. */
static void conv_backend_in_use(void **state)
{
    (void)state;
    bool onednn = strcmp(nn_gemm_backend_name(), "onednn") == 0;
    assert_string_equal(nn_conv_backend_name(), onednn ? "onednn" : "im2col");
    nn_ctx *ctx = new_ctx(1, 2);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = input4(g, 1, 28, 28);
    struct nn_init he = {.kind = NN_INIT_HE_NORMAL};
    nn_node *c1 = nn_conv2d_layer(g, x, 8, 5, 5, &(struct nn_conv2d_cfg){.pad_h = 2, .pad_w = 2},
                                  true, he, "conv1");
    nn_node *p1 = nn_maxpool2d(g, nn_relu(g, c1),
                               &(struct nn_pool2d_cfg){.kernel_h = 2, .kernel_w = 2});
    nn_node *c2 = nn_conv2d_layer(g, p1, 16, 5, 5, NULL, true, he, "conv2");
    nn_node *a2 = nn_avgpool2d(g, c2, &(struct nn_pool2d_cfg){.kernel_h = 2, .kernel_w = 2});
    nn_node *out = nn_sum(g, a2);
    assert_ok(ctx, nn_graph_compile(g, &out, 1, 32));
    const nn_conv_plan *pc1 = c1->state, *pc2 = c2->state, *pa = a2->state;
    assert_non_null(pc1);
    assert_non_null(pc2);
    assert_non_null(pa);
    /* the passes each node needs: conv1's input takes no gradient */
    assert_non_null(nn_conv_plan_impl(pc1, 0));
    assert_null(nn_conv_plan_impl(pc1, 1));
    assert_non_null(nn_conv_plan_impl(pc1, 2));
    for (int pass = 0; pass < 3; pass++)
        assert_non_null(nn_conv_plan_impl(pc2, pass));
    assert_non_null(nn_conv_plan_impl(pa, 1));
    assert_null(nn_conv_plan_impl(pa, 2));
#if defined(__x86_64__) && defined(__GNUC__)
    if (onednn && __builtin_cpu_supports("avx2"))
        for (int pass = 0; pass < 3; pass++) {
            const char *impl = nn_conv_plan_impl(pass == 1 ? pc2 : pc1, pass);
            if (!strstr(impl, "jit") && !strstr(impl, "brg"))
                fail_msg("pass %d of %s runs oneDNN's \"%s\", not a JIT kernel", pass,
                         pass == 1 ? "conv2" : "conv1", impl);
        }
#endif
    if (!onednn)
        assert_string_equal(nn_conv_plan_impl(pc2, 0), "im2col+gemm");
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

NN_GROUP(conv,
         cmocka_unit_test(conv_errors_name_node_and_shapes),
         cmocka_unit_test(pool_norm_reshape_errors),
         cmocka_unit_test(output_size_and_same_padding),
         cmocka_unit_test(threads_do_not_change_conv_results),
         cmocka_unit_test(reshape_shares_storage_and_gradient),
         cmocka_unit_test(reshape_of_parameter),
         cmocka_unit_test(batchnorm_layer_parameters),
         cmocka_unit_test(buffers_are_not_trained),
         cmocka_unit_test(batchnorm_modes),
         cmocka_unit_test(maxpool_ties_and_nan),
         cmocka_unit_test(conv_backend_in_use))
