/*
 * test_cnnspec.c - convolutional networks in the model spec: the image
 * input shape, conv / pooling / gap / batchnorm / flatten tokens in both
 * comma styles, the output-size formula on stride, padding and dilation,
 * errors that name the token, the layer and the shapes, default
 * initializers, and checkpoints in PyTorch's layout (num_batches_tracked
 * an int64 scalar) that load back exactly.
 */
#include "test.h"

#include <unistd.h>

static nn_ctx *new_ctx(uint64_t seed)
{
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = seed, .threads = 1});
    assert_non_null(ctx);
    return ctx;
}

static nn_model *build(nn_ctx *ctx, const char *spec)
{
    nn_model *m = nn_model_new(ctx, spec, &(struct nn_model_cfg){
        .max_batch = 8, .loss = NN_LOSS_SOFTMAX_CE});
    if (!m)
        fail_msg("spec '%s': %s", spec, nn_ctx_error(ctx));
    return m;
}

/* Fails unless node name of m has the per-sample shape d[0..nd) after
 * the batch axis. */
static void expect_shape(nn_model *m, const char *name, int nd, const int64_t *d)
{
    nn_node *n = nn_graph_find(nn_model_graph(m), name);
    if (!n)
        fail_msg("no node '%s' in '%s'", name, nn_model_spec(m));
    if (nn_node_ndim(n) != nd + 1)
        fail_msg("%s: %d axes, expected %d", name, nn_node_ndim(n), nd + 1);
    for (int i = 0; i < nd; i++)
        if (nn_node_dim(n, i + 1) != d[i])
            fail_msg("%s: axis %d is %lld, expected %lld", name, i + 1,
                     (long long)nn_node_dim(n, i + 1), (long long)d[i]);
}

/* The LeNet-style spec: every parameter named and shaped as
 * torch's state dict, every layer's output shape. */
static void lenet_names_and_shapes(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    nn_model *m = build(ctx, "1x28x28 conv:8,5,pad=2 relu maxpool:2 conv:16,5 relu maxpool:2 "
                             "flatten dense:120 relu dense:84 relu dense:10");
    int64_t d[NN_MAX_DIMS];
    assert_int_equal(nn_model_input_shape(m, d), 3);
    assert_true(d[0] == 1 && d[1] == 28 && d[2] == 28 && d[3] == 0);
    assert_int_equal(nn_model_inputs(m), 784);
    assert_int_equal(nn_model_outputs(m), 10);
    static const struct {
        const char *name;
        int nd;
        int64_t d[4];
    } params[] = {
        {"conv1.weight", 4, {8, 1, 5, 5}},   {"conv1.bias", 1, {8}},
        {"conv2.weight", 4, {16, 8, 5, 5}},  {"conv2.bias", 1, {16}},
        {"dense1.weight", 2, {120, 400}},    {"dense1.bias", 1, {120}},
        {"dense2.weight", 2, {84, 120}},     {"dense2.bias", 1, {84}},
        {"dense3.weight", 2, {10, 84}},      {"dense3.bias", 1, {10}},
    };
    nn_graph *g = nn_model_graph(m);
    assert_int_equal(nn_graph_nparams(g), 10);
    for (int i = 0; i < 10; i++) {
        nn_node *p = nn_graph_param(g, i);
        assert_string_equal(nn_node_name(p), params[i].name);
        assert_int_equal(nn_node_ndim(p), params[i].nd);
        for (int k = 0; k < params[i].nd; k++)
            assert_int_equal(nn_node_dim(p, k), params[i].d[k]);
    }
    assert_int_equal(nn_graph_param_count(g), 62558); /* torch's count for this net */
    expect_shape(m, "conv1", 3, (int64_t[]){8, 28, 28});
    expect_shape(m, "pool1", 3, (int64_t[]){8, 14, 14});
    expect_shape(m, "conv2", 3, (int64_t[]){16, 10, 10});
    expect_shape(m, "pool2", 3, (int64_t[]){16, 5, 5});
    expect_shape(m, "flatten1", 1, (int64_t[]){400});
    /* a flat input feeds it: rows of 784 are images of 1x28x28 */
    float *x = calloc(2 * 784, sizeof *x), p[20];
    assert_non_null(x);
    x[784 + 300] = 1;
    assert_ok(ctx, nn_model_predict(m, x, 2, p));
    for (int k = 0; k < 20; k++)
        assert_true(isfinite(p[k]));
    free(x);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* Spaces, commas, ':' and NAME=VALUE: the same model from each style. */
static void comma_styles_build_the_same_model(void **state)
{
    (void)state;
    static const char *const same[][5] = {
        {"1x12x12 conv:4,3,pad=1 relu maxpool:2 flatten dense:3",
         "1x12x12 conv:4:3:pad=1 relu maxpool:2 flatten dense:3",
         "1x12x12,conv:4,3,pad=1,relu,maxpool:2,flatten,dense:3",
         "1x12x12, conv:4, 3, pad=1, relu, maxpool:2, flatten, dense:3",
         "1x12x12 conv:channels=4,kernel=3x3,pad=1x1 relu maxpool:kernel=2:stride=2 flatten "
         "dense:units=3"},
        {"784,dense:16,relu,dense:3", "784 dense:16 relu dense:3", "784 dense:16, relu dense:3",
         "784,dense:units=16,relu,dense:3", NULL},
        {"4 dense:8,init=normal,0.5 relu dense:3", "4 dense:8:normal:0.5 relu dense:3",
         "4 dense:8:init=normal:0.5 relu,dense:3", NULL, NULL},
        {"4 dense:8 hardtanh:-2,3 dense:3", "4 dense:8 hardtanh:-2:3 dense:3",
         "4,dense:8,hardtanh:lo=-2,hi=3,dense:3", NULL, NULL},
        {"2x6x6 conv:4,3x1,stride=2x1,groups=2,bias=no batchnorm:momentum=0.2,eps=0.001 "
         "leaky_relu:0.1 avgpool:2,stride=1 gap dense:3",
         "2x6x6 conv:4:3x1:groups=2:stride=2x1:bias=no bn:eps=0.001:momentum=0.2 "
         "leaky_relu:slope=0.1 avgpool:2:stride=1x1 global_avgpool dense:3", NULL, NULL, NULL},
    };
    for (size_t c = 0; c < sizeof same / sizeof same[0]; c++) {
        nn_ctx *ctx = new_ctx(5);
        nn_model *a = build(ctx, same[c][0]);
        nn_graph *ga = nn_model_graph(a);
        int64_t f = nn_model_inputs(a);
        float *x = malloc((size_t)(3 * f) * sizeof *x), pa[9], pb[9];
        assert_non_null(x);
        for (int64_t k = 0; k < 3 * f; k++)
            x[k] = (float)((k * 7) % 11) / 5.0f - 1.0f;
        assert_ok(ctx, nn_model_predict(a, x, 3, pa));
        for (int s = 1; s < 5 && same[c][s]; s++) {
            nn_ctx_seed(ctx, 5);
            nn_model *b = build(ctx, same[c][s]);
            nn_graph *gb = nn_model_graph(b);
            if (nn_graph_nparams(ga) != nn_graph_nparams(gb))
                fail_msg("'%s' and '%s': %d and %d parameters", same[c][0], same[c][s],
                         nn_graph_nparams(ga), nn_graph_nparams(gb));
            for (int k = 0; k < nn_graph_nparams(ga); k++)
                assert_string_equal(nn_node_name(nn_graph_param(ga, k)),
                                    nn_node_name(nn_graph_param(gb, k)));
            assert_int_equal(nn_graph_param_count(ga), nn_graph_param_count(gb));
            if (memcmp(nn_graph_param_block(ga), nn_graph_param_block(gb),
                       (size_t)nn_graph_param_count(ga) * sizeof(float)) != 0)
                fail_msg("'%s' and '%s' start from different weights", same[c][0], same[c][s]);
            assert_ok(ctx, nn_model_predict(b, x, 3, pb));
            if (memcmp(pa, pb, (size_t)(3 * nn_model_outputs(a)) * sizeof(float)) != 0)
                fail_msg("'%s' and '%s' predict differently", same[c][0], same[c][s]);
            nn_model_free(b);
        }
        free(x);
        nn_model_free(a);
        nn_ctx_free(ctx);
    }
}

/* floor((H + 2P - D(K-1) - 1) / S) + 1 per axis, worked out by hand for
 * each case: stride, padding, dilation, non-square kernels and inputs,
 * pad=same, pooling windows that do not divide the input. */
static void output_size_formula(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *node;
        int64_t c, h, w;
    } cases[] = {
        {"1x28x28 conv:4,5 flatten dense:2", "conv1", 4, 24, 24},
        {"1x28x28 conv:4,3,stride=2 flatten dense:2", "conv1", 4, 13, 13},   /* 25/2 + 1 */
        {"1x28x28 conv:4,3,stride=2,pad=1 flatten dense:2", "conv1", 4, 14, 14},
        {"1x28x28 conv:4,3,dil=2 flatten dense:2", "conv1", 4, 24, 24},    /* spans 5 */
        {"1x10x15 conv:4,3x5,stride=1x2,pad=1x0,dil=2x1 flatten dense:2", "conv1", 4, 8, 6},
        {"1x9x9 conv:4,5,pad=same,dil=2 flatten dense:2", "conv1", 4, 9, 9}, /* pad 4 */
        {"1x8x7 conv:4,3x5,pad=same flatten dense:2", "conv1", 4, 8, 7},
        {"2x9x9 conv:6,3,stride=3,groups=2 flatten dense:2", "conv1", 6, 3, 3},
        {"3x7x7 maxpool:2 flatten dense:2", "pool1", 3, 3, 3},                /* floor */
        {"3x7x7 maxpool:3,stride=2,pad=1 flatten dense:2", "pool1", 3, 4, 4},
        {"3x7x7 avgpool:3x2,stride=2x1 flatten dense:2", "pool1", 3, 3, 6},
        {"3x5x8 avgpool:2,pad=1 flatten dense:2", "pool1", 3, 3, 5},
        {"1x6x6 conv:2,3 maxpool:2 conv:3,2 avgpool:1 flatten dense:2", "pool2", 3, 1, 1},
    };
    nn_ctx *ctx = new_ctx(1);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nn_model *m = build(ctx, cases[i].spec);
        expect_shape(m, cases[i].node, 3, (int64_t[]){cases[i].c, cases[i].h, cases[i].w});
        nn_model_free(m);
    }
    assert_int_equal(nn_conv_output_size(10, 3, 1, 1, 2), 8);
    assert_int_equal(nn_conv_output_size(15, 5, 2, 0, 1), 6);
    nn_model *m = build(ctx, "2x5x6 gap dense:2");
    expect_shape(m, "gap1", 1, (int64_t[]){2});
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* Every kind of mistake: the message names the token and, for a layer
 * that does not fit its input, the layer and the shapes. */
static void errors_name_layer_and_shapes(void **state)
{
    (void)state;
    static const struct nn_test_bad_spec bad[] = {
        {"1x4x4 conv:4,5 flatten dense:2",
         "model spec: token 2 'conv:4,5' (conv1): the kernel 5x5 exceeds the padded input 4x4 "
         "(input (N, 1, 4, 4), padding 0x0)"},
        {"1x4x4 conv:4,3,dil=2 flatten dense:2",
         "(conv1): the kernel 3x3 (dilation 2x2: it spans 5x5) exceeds the padded input 4x4"},
        {"1x8x8 conv:2,3 relu conv:2,7,pad=0x1 flatten dense:2",
         "token 4 'conv:2,7,pad=0x1' (conv2): the kernel 7x7 exceeds the padded input 6x8 "
         "(input (N, 2, 6, 6), padding 0x1)"},
        {"1x2x2 conv:2,1 maxpool:3 flatten dense:2",
         "token 3 'maxpool:3' (pool1): the kernel 3x3 exceeds the padded input 2x2 (input "
         "(N, 2, 2, 2), padding 0x0)"},
        {"3x8x8 conv:4,3,groups=2 flatten dense:2",
         "token 2 'conv:4,3,groups=2' (conv1): the input's 3 channels (input (N, 3, 8, 8)) do "
         "not divide into 2 groups"},
        {"4x8x8 conv:3,3,groups=2 flatten dense:2",
         "token 2 'conv:3,3,groups=2': its 3 output channels do not divide into 2 groups"},
        {"1x28x28 conv:8,5 relu maxpool:2 dense:10",
         "token 5 'dense:10' (dense1): its input is (N, 8, 12, 12), an image per sample, but "
         "a dense layer takes a vector (N, features): put flatten (or gap) before it"},
        {"784 conv:3,3 flatten dense:2",
         "token 2 'conv:3,3' (conv1): its input is (N, 784), not images (N, C, H, W)"},
        {"1x8x8 flatten maxpool:2 dense:2", "token 3 'maxpool:2' (pool1): its input is (N, 64)"},
        {"784 dense:10 gap", "token 3 'gap' (gap1): its input is (N, 10), not images"},
        {"1x8x8 conv:2,3 relu", "token 3 'relu': the model ends with outputs of shape "
                                "(N, 2, 6, 6)"},
        {"1x8x8 conv:2,3,pad=same,stride=2 flatten dense:2", "pad=same needs stride 1"},
        {"1x8x8 conv:2,4,pad=same flatten dense:2", "does not split evenly"},
        {"1x8x8 maxpool:3,pad=2 flatten dense:2", "pad 2x2 is more than half the kernel 3x3"},
        {"1x8 dense:2", "token 1 '1x8': the first token must be the input shape"},
        {"0x8x8 dense:2", "token 1 '0x8x8'"},
        {"1x8x8 conv:0,3 flatten dense:2", "channels '0' must be an integer from 1"},
        {"1x8x8 conv:2 flatten dense:2", "kernel is missing"},
        {"1x8x8 conv:2,3,strid=2 flatten dense:2", "conv has no field 'strid'"},
        {"1x8x8 conv:2,3x flatten dense:2", "kernel '3x' must be an integer N or a pair HxW"},
        {"1x8x8 conv:2,3,3 flatten dense:2", "conv takes at most 2 positional fields"},
        {"1x8x8 conv:2,3,pad=-1 flatten dense:2", "pad '-1' must be"},
        {"1x8x8 conv:2,3,bias=maybe flatten dense:2", "unknown initializer 'maybe'"},
        {"1x8x8 batchnorm:momentum=0 flatten dense:2", "momentum 0 is outside (0, 1]"},
        {"1x8x8 flatten:2 dense:2", "flatten takes no fields"},
        {"784,dense:10,normal,0.1", "token 3 'normal,0.1': unknown layer"},
        {"1x8x8 gap", "has no dense layer"},
    };
    nn_test_bad_specs(bad, sizeof bad / sizeof bad[0]);
}

/* The configuration's initializers and dropout rate are written into the
 * spec's text (conv layers included, not a bias=no one), which reads back
 * as itself and rebuilds the same weights. */
static void spec_text_round_trip(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(3);
    struct nn_model_cfg c = {.max_batch = 4, .has_init = true, .has_bias_init = true,
                             .has_dropout = true, .dropout = 0.25f};
    assert_ok(ctx, nn_init_parse(ctx, "normal:0.1", &c.init));
    assert_ok(ctx, nn_init_parse(ctx, "constant:0.5", &c.bias_init));
    static const char *const cases[][2] = {
        {"1x9x9,conv:4,3x5,stride=1x2,pad=1x2,dil=2,bias=no batchnorm:momentum=0.2 relu "
         "maxpool:2,stride=1 avgpool:2,pad=1 flatten dropout dense:3",
         "1x9x9 conv:4:3x5:stride=1x2:pad=1x2:dil=2:bias=no:init=normal:0.1 "
         "batchnorm:momentum=0.2 relu maxpool:2:stride=1 avgpool:2:pad=1 flatten dropout:0.25 "
         "dense:3:normal:0.1:bias=constant:0.5"},
        {"2x9x9 conv:4,3,pad=same,groups=2,bias=constant:0.25 relu conv:6,3 gap dense:3",
         "2x9x9 conv:4:3:pad=same:groups=2:bias=constant:0.25:init=normal:0.1 relu "
         "conv:6:3:bias=constant:0.5:init=normal:0.1 gap dense:3:normal:0.1:bias=constant:0.5"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nn_ctx_seed(ctx, 3);
        nn_model *m = nn_model_new(ctx, cases[i][0], &c);
        if (!m)
            fail_msg("%s", nn_ctx_error(ctx));
        assert_string_equal(nn_model_spec(m), cases[i][1]);
        nn_ctx_seed(ctx, 3);
        nn_model *again = nn_model_new(ctx, nn_model_spec(m), NULL);
        if (!again)
            fail_msg("%s", nn_ctx_error(ctx));
        assert_string_equal(nn_model_spec(again), cases[i][1]);
        nn_graph *g = nn_model_graph(m), *ga = nn_model_graph(again);
        assert_int_equal(nn_graph_param_count(g), nn_graph_param_count(ga));
        assert_memory_equal(nn_graph_param_block(g), nn_graph_param_block(ga),
                            (size_t)nn_graph_param_count(g) * sizeof(float));
        nn_model_free(again);
        nn_model_free(m);
    }
    /* bias=no: no conv1.bias at all; bias=constant: its value */
    nn_model *m = build(ctx, "2x9x9 conv:4,3,bias=no relu conv:2,3,bias=constant:0.25 flatten "
                             "dense:2");
    assert_null(nn_graph_find(nn_model_graph(m), "conv1.bias"));
    const float *b2 = nn_value(nn_graph_find(nn_model_graph(m), "conv2.bias"));
    assert_non_null(b2);
    assert_true(b2[0] == 0.25f && b2[1] == 0.25f);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* Sample standard deviation of n values. */
static double stddev(const float *v, int64_t n)
{
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++)
        s += v[i];
    for (int64_t i = 0; i < n; i++)
        s2 += (v[i] - s / n) * (v[i] - s / n);
    return sqrt(s2 / (n - 1));
}

/* He normal for conv (fan_in = in/groups kh kw) and dense before the relu
 * family, past batchnorm and pooling; Xavier uniform elsewhere. */
static void default_initializers(void **state)
{
    (void)state;
    static const struct {
        const char *spec, *param;
        bool he;
        double fan_in, fan_out;
    } cases[] = {
        {"1x8x8 conv:64,5 relu flatten dense:2", "conv1.weight", true, 25, 1600},
        {"1x8x8 conv:64,5 batchnorm maxpool:2 relu flatten dense:2", "conv1.weight", true, 25,
         1600},
        {"4x8x8 conv:64,3,groups=2 leaky_relu flatten dense:2", "conv1.weight", true, 18, 576},
        {"1x8x8 conv:64,5 tanh flatten dense:2", "conv1.weight", false, 25, 1600},
        {"1x8x8 flatten dense:400 batchnorm relu dense:2", "dense1.weight", true, 64, 400},
        {"1x8x8 flatten dense:400 dense:2", "dense1.weight", false, 64, 400},
    };
    nn_ctx *ctx = new_ctx(11);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nn_model *m = build(ctx, cases[i].spec);
        nn_node *w = nn_graph_find(nn_model_graph(m), cases[i].param);
        assert_non_null(w);
        double s = stddev(nn_value(w), nn_node_numel(w));
        double want = cases[i].he ? sqrt(2.0 / cases[i].fan_in)
                                  : sqrt(6.0 / (cases[i].fan_in + cases[i].fan_out)) / sqrt(3.0);
        if (fabs(s - want) > 0.1 * want)
            fail_msg("'%s': %s has standard deviation %g, expected %g (%s)", cases[i].spec,
                     cases[i].param, s, want, cases[i].he ? "He normal" : "Xavier uniform");
        nn_model_free(m);
    }
    nn_ctx_free(ctx);
}

/* Two-class images: a bright left half or a bright right half, with noise. */
enum { NS = 64, IMG = 6 * 6 };
static float IX[NS * IMG];
static int32_t IY[NS];

static void make_images(void)
{
    unsigned s = 12345;
    for (int i = 0; i < NS; i++) {
        IY[i] = i % 2;
        for (int p = 0; p < IMG; p++) {
            s = s * 1103515245u + 12345u;
            float noise = (float)((s >> 16) & 0xff) / 255.0f - 0.5f;
            IX[i * IMG + p] = ((p % 6 < 3) == (IY[i] == 0) ? 1.0f : 0.0f) + 0.3f * noise;
        }
    }
}

/* Batch norm after conv (2-D, per channel) and after dense (1-D, per
 * feature) and dropout after conv train; the running statistics move and
 * count the batches; evaluation is deterministic. */
static void batchnorm_and_dropout_train(void **state)
{
    (void)state;
    make_images();
    nn_ctx *ctx = new_ctx(2);
    nn_model *m = build(ctx, "1x6x6 conv:4,3 batchnorm relu dropout:0.3 flatten dense:5 "
                             "batchnorm relu dense:2");
    nn_graph *g = nn_model_graph(m);
    nn_node *rm1 = nn_graph_find(g, "bn1.running_mean"), *rm2 = nn_graph_find(g, "bn2.running_mean");
    assert_non_null(rm1);
    assert_non_null(rm2);
    assert_int_equal(nn_node_dim(rm1, 0), 4); /* channels */
    assert_int_equal(nn_node_dim(rm2, 0), 5); /* features */
    assert_false(nn_param_is_trainable(rm1));
    struct nn_array_source as = {IX, IY, NULL, NS, IMG, 0};
    struct nn_source src = nn_source_from_arrays(&as);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = 6, .batch = 8, .optim = {.kind = NN_OPTIM_ADAM, .lr = 0.02f}});
    assert_non_null(t);
    assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
    const float *nb = nn_value(nn_graph_find(g, "bn1.num_batches_tracked"));
    assert_true(nb[0] == 6 * (NS / 8));
    bool moved = false;
    for (int c = 0; c < 4; c++)
        moved |= nn_value(rm1)[c] != 0;
    assert_true(moved);
    struct nn_metrics r;
    assert_ok(ctx, nn_evaluate(m, &src, &r));
    if (!(r.accuracy > 0.9))
        fail_msg("accuracy %g on an easy two-class set", r.accuracy);
    float p1[2 * NS], p2[2 * NS];
    assert_ok(ctx, nn_model_predict(m, IX, NS, p1));
    assert_ok(ctx, nn_model_predict(m, IX, NS, p2));
    assert_memory_equal(p1, p2, sizeof p1);
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

static char dir[64];

static int setup(void **state)
{
    (void)state;
    return cli_tmpdir(dir, sizeof dir, "cnnspec");
}

static int teardown(void **state)
{
    (void)state;
    return cli_rmdir(dir);
}

/* The checkpoint of a conv + batch norm model holds every tensor under
 * torch's state-dict name and shape, num_batches_tracked as an int64
 * scalar (shape ()), and loads back bit for bit, running statistics and
 * count included. */
static void checkpoint_in_pytorch_layout(void **state)
{
    (void)state;
    make_images();
    nn_ctx *ctx = new_ctx(4);
    nn_model *m = build(ctx, "1x6x6 conv:4,3,groups=1 batchnorm relu maxpool:2 flatten "
                             "dense:3 batchnorm relu dense:2");
    struct nn_array_source as = {IX, IY, NULL, NS, IMG, 0};
    struct nn_source src = nn_source_from_arrays(&as);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = 3, .batch = 8, .optim = {.kind = NN_OPTIM_ADAM, .lr = 0.01f}});
    if (!t)
        fail_msg("%s", nn_ctx_error(ctx));
    assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
    char p[128];
    snprintf(p, sizeof p, "%s/bn.safetensors", dir);
    assert_ok(ctx, nn_checkpoint_save(p, m, t, NULL, NULL, 0));
    static const struct {
        const char *name, *dtype;
        int nd;
        int64_t d[4];
    } want[] = {
        {"conv1.weight", "F32", 4, {4, 1, 3, 3}}, {"conv1.bias", "F32", 1, {4}},
        {"bn1.weight", "F32", 1, {4}},            {"bn1.bias", "F32", 1, {4}},
        {"bn1.running_mean", "F32", 1, {4}},      {"bn1.running_var", "F32", 1, {4}},
        {"bn1.num_batches_tracked", "I64", 0, {0}},
        {"dense1.weight", "F32", 2, {3, 16}},     {"dense1.bias", "F32", 1, {3}},
        {"bn2.weight", "F32", 1, {3}},            {"bn2.running_var", "F32", 1, {3}},
        {"bn2.num_batches_tracked", "I64", 0, {0}},
        {"dense2.weight", "F32", 2, {2, 3}},
    };
    nn_safetensors *st = nn_safetensors_open(ctx, p);
    if (!st)
        fail_msg("%s", nn_ctx_error(ctx));
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct nn_st_view *v = nn_safetensors_find(st, want[i].name);
        if (!v)
            fail_msg("%s: no tensor '%s'", p, want[i].name);
        assert_string_equal(v->dtype, want[i].dtype);
        assert_int_equal(v->ndim, want[i].nd);
        for (int k = 0; k < want[i].nd; k++)
            assert_int_equal(v->dims[k], want[i].d[k]);
    }
    const struct nn_st_view *nb = nn_safetensors_find(st, "bn1.num_batches_tracked");
    assert_int_equal(*(const int64_t *)nb->data, 3 * (NS / 8));
    nn_safetensors_close(st);
    /* parameters counted as torch counts them: 40 + 8 + 51 + 6 + 8, the
     * running statistics (9 + 7 values) not among them */
    nn_checkpoint *ck = nn_checkpoint_open(ctx, p);
    assert_non_null(ck);
    assert_int_equal(nn_checkpoint_info(ck)->parameters, 113);
    assert_int_equal(nn_graph_param_count(nn_model_graph(m)), 113 + 16);
    nn_checkpoint_close(ck);
    /* back into a model: every value of the block, buffers included */
    nn_model *back = nn_model_load(ctx, p, NULL);
    if (!back)
        fail_msg("%s", nn_ctx_error(ctx));
    nn_graph *g = nn_model_graph(m), *gb = nn_model_graph(back);
    assert_int_equal(nn_graph_param_count(g), nn_graph_param_count(gb));
    assert_memory_equal(nn_graph_param_block(g), nn_graph_param_block(gb),
                        (size_t)nn_graph_param_count(g) * sizeof(float));
    assert_true(nn_value(nn_graph_find(gb, "bn2.num_batches_tracked"))[0] == 3 * (NS / 8));
    float p1[2 * NS], p2[2 * NS];
    assert_ok(ctx, nn_model_predict(m, IX, NS, p1));
    assert_ok(ctx, nn_model_predict(back, IX, NS, p2));
    assert_memory_equal(p1, p2, sizeof p1);
    nn_model_free(back);
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* A file whose count is the float (1) of older checkpoints still loads; a
 * negative count or another integer type is an error naming the tensor. */
static void num_batches_tracked_forms(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(4);
    nn_model *m = build(ctx, "1x6x6 conv:2,3 batchnorm relu flatten dense:2");
    nn_graph *g = nn_model_graph(m);
    nn_value_mut(nn_graph_find(g, "bn1.num_batches_tracked"))[0] = 7;
    char p[128];
    snprintf(p, sizeof p, "%s/forms.safetensors", dir);
    assert_ok(ctx, nn_checkpoint_save(p, m, NULL, NULL, NULL, 0));
    nn_safetensors *st = nn_safetensors_open(ctx, p);
    assert_non_null(st);
    /* the same file with the count rewritten in each form */
    int n = nn_safetensors_count(st), nmeta = nn_safetensors_meta_count(st);
    struct nn_st_tensor *ts = calloc((size_t)n, sizeof *ts);
    const char *mk[16], *mv[16];
    assert_non_null(ts);
    assert_true(nmeta <= 16);
    for (int i = 0; i < nmeta; i++) {
        mk[i] = nn_safetensors_meta_key(st, i);
        mv[i] = nn_safetensors_meta(st, mk[i]);
    }
    int count_at = -1;
    for (int i = 0; i < n; i++) {
        const struct nn_st_view *v = nn_safetensors_at(st, i);
        ts[i] = (struct nn_st_tensor){v->name, v->dtype, v->ndim, {0}, v->data};
        for (int k = 0; k < v->ndim; k++)
            ts[i].dims[k] = v->dims[k];
        if (strcmp(v->name, "bn1.num_batches_tracked") == 0)
            count_at = i;
    }
    assert_true(count_at >= 0);
    float f7 = 7;
    int64_t neg = -3;
    int32_t i7 = 7;
    struct {
        const char *dtype;
        int ndim;
        const void *data;
        const char *needle; /* NULL: loads, with the count 7 */
    } forms[] = {
        {"F32", 1, &f7, NULL},
        {"I64", 0, &neg, "holds -3, expected a count"},
        {"I32", 0, &i7, "'bn1.num_batches_tracked' must be an int64 scalar"},
    };
    char q[128];
    snprintf(q, sizeof q, "%s/forms2.safetensors", dir);
    for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
        ts[count_at].dtype = forms[f].dtype;
        ts[count_at].ndim = forms[f].ndim;
        ts[count_at].dims[0] = 1;
        ts[count_at].data = forms[f].data;
        assert_ok(ctx, nn_safetensors_save(ctx, q, ts, n, mk, mv, nmeta));
        nn_ctx_clear_error(ctx);
        nn_model *back = nn_model_load(ctx, q, NULL);
        if (!forms[f].needle) {
            if (!back)
                fail_msg("%s count: %s", forms[f].dtype, nn_ctx_error(ctx));
            assert_true(nn_value(nn_graph_find(nn_model_graph(back),
                                               "bn1.num_batches_tracked"))[0] == 7);
        } else if (back || !strstr(nn_ctx_error(ctx), forms[f].needle)) {
            fail_msg("%s count: %s, message '%s' lacks '%s'", forms[f].dtype,
                     back ? "loaded" : "refused", nn_ctx_error(ctx), forms[f].needle);
        }
        nn_model_free(back);
    }
    free(ts);
    nn_safetensors_close(st);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

NN_GROUP_FIXTURE(cnnspec, setup, teardown,
                 cmocka_unit_test(lenet_names_and_shapes),
                 cmocka_unit_test(comma_styles_build_the_same_model),
                 cmocka_unit_test(output_size_formula),
                 cmocka_unit_test(errors_name_layer_and_shapes),
                 cmocka_unit_test(spec_text_round_trip),
                 cmocka_unit_test(default_initializers),
                 cmocka_unit_test(batchnorm_and_dropout_train),
                 cmocka_unit_test(checkpoint_in_pytorch_layout),
                 cmocka_unit_test(num_batches_tracked_forms))
