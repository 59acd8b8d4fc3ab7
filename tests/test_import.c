/*
 * test_import.c - PyTorch weights into libnn (nn_import_torch, nn import):
 * the dtype conversions against an independent formula and against
 * PyTorch's own, the assignment orders (state_dict order, the safetensors
 * package's sorted layout, a sorted header over unsorted data, a map),
 * the imported MLP's and CNN's (conv, batch norm with its running
 * statistics, pooling) outputs against PyTorch's (tests/ref/gen_import.py
 * writes the fixtures under tests/ref/import/), every error through the C
 * API and the command line, and the Fashion-MNIST round trip: PyTorch's
 * test accuracy reproduced by nn eval.
 */
#include "test.h"

#include "io/io.h"

#include <float.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SPEC "20 dense:16 relu dropout:0.1 dense:12 tanh dense:8 relu dense:5"
#define NX 7 /* rows of x in expected.safetensors */

static char tmp[64];

static int setup(void **state)
{
    (void)state;
    return cli_tmpdir(tmp, sizeof tmp, "import");
}

static int teardown(void **state)
{
    (void)state;
    return cli_rmdir(tmp);
}

/* tests/ref/import/NAME into buf. */
static const char *ref(const char *name, char *buf, size_t n)
{
    char rel[256];
    snprintf(rel, sizeof rel, "ref/import/%s", name);
    snprintf(buf, n, "%s", nn_test_path(rel));
    return buf;
}

/* tmp/NAME into buf. */
static const char *tpath(const char *name, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s", tmp, name);
    return buf;
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* ---- dtype conversions --------------------------------------------------- */

/* Every half, against its value computed from the definition in double. */
static void f16_every_value(void **state)
{
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        int sign = h >> 15, e = (h >> 10) & 31, f = h & 1023;
        float got = nn_f16_to_f32((uint16_t)h);
        if (e == 31) {
            if (f == 0) {
                assert_true(isinf(got));
            } else { /* NaN: quiet, payload in the top fraction bits */
                assert_true(isnan(got));
                assert_int_equal(bits(got) & 0x7fffffffu, 0x7fc00000u | ((uint32_t)f << 13));
            }
            assert_int_equal(signbit(got) != 0, sign);
            continue;
        }
        double mag = e == 0 ? ldexp(f, -24) : ldexp(1024 + f, e - 25);
        double want = sign ? -mag : mag;
        if ((double)got != want || (signbit(got) != 0) != sign)
            fail_msg("half 0x%04x: got %.10g, expected %.10g", h, (double)got, want);
    }
    assert_int_equal(bits(nn_f16_to_f32(0x0001)), bits(0x1p-24f)); /* smallest subnormal */
    assert_true(nn_f16_to_f32(0x7bff) == 65504.0f);
}

static void bf16_and_f64_edges(void **state)
{
    (void)state;
    assert_true(nn_bf16_to_f32(0x3f80) == 1.0f);
    assert_true(nn_bf16_to_f32(0xc049) == -3.140625f);
    assert_int_equal(bits(nn_bf16_to_f32(0x0001)), 0x00010000u); /* subnormal */
    assert_true(isinf(nn_bf16_to_f32(0xff80)) && nn_bf16_to_f32(0xff80) < 0);
    assert_true(nn_f64_to_f32((double)FLT_MAX) == FLT_MAX);
    assert_true(nn_f64_to_f32(0x1.fffffefffffffp127) == FLT_MAX); /* below the midpoint */
    assert_true(isinf(nn_f64_to_f32(0x1.ffffffp127)));           /* the midpoint: to even */
    assert_true(isinf(nn_f64_to_f32(-1e300)) && nn_f64_to_f32(-1e300) < 0);
    assert_true(nn_f64_to_f32(1 + 0x1p-24) == 1.0f);                /* a tie, to even */
    assert_true(nn_f64_to_f32(1 + 0x3p-24) == 1 + 0x1p-22f);
    assert_true(isnan(nn_f64_to_f32(NAN)));
}

/* F16, BF16 and F64 special values and random patterns, converted as
 * PyTorch converts them (its float32 results in the same file). */
static void conversions_match_pytorch(void **state)
{
    (void)state;
    char p[512];
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_safetensors *st = nn_safetensors_open(ctx, ref("dtypes.safetensors", p, sizeof p));
    if (!st)
        fail_msg("%s (run tests/ref/gen_import.py)", nn_ctx_error(ctx));
    const char *names[] = {"f16", "bf16", "f64"}, *dtypes[] = {"F16", "BF16", "F64"};
    for (int k = 0; k < 3; k++) {
        char want_name[16];
        snprintf(want_name, sizeof want_name, "%s.f32", names[k]);
        const struct nn_st_view *v = nn_safetensors_find(st, names[k]);
        assert_non_null(v);
        assert_string_equal(v->dtype, dtypes[k]);
        const float *want = nn_safetensors_get_f32(st, want_name, 1, v->dims);
        assert_non_null(want);
        float *got = malloc((size_t)v->numel * sizeof *got);
        assert_non_null(got);
        assert_true(nn_st_to_f32(v, got));
        int64_t specials = 0;
        for (int64_t i = 0; i < v->numel; i++) {
            specials += !isfinite(want[i]) || (want[i] != 0 && fabsf(want[i]) < FLT_MIN);
            if (bits(got[i]) != bits(want[i]))
                fail_msg("%s[%lld] = %.9g: libnn 0x%08x, PyTorch 0x%08x", names[k],
                         (long long)i, nn_st_elem_f64(v, i), bits(got[i]), bits(want[i]));
        }
        assert_true(specials >= 4); /* infinities, NaNs, subnormals are among them */
        free(got);
    }
    nn_safetensors_close(st);
    nn_ctx_free(ctx);
}

/* ---- the order ----------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
    return nn_import_name_cmp(*(const char *const *)a, *(const char *const *)b);
}

/* Names in byte order sort into state_dict order (batch norm's buffers
 * after its parameters, a module's own tensors before its children's). */
static void natural_module_order(void **state)
{
    (void)state;
    const char *want[] = {"scale", "fc2.weight", "fc10.weight", "features.0.weight",
                          "features.0.bias", "features.1.weight", "features.1.bias",
                          "features.1.running_mean", "features.1.running_var",
                          "features.1.num_batches_tracked", "features.1.zeta",
                          "features.1.0.weight", "features.3.weight", "features.10.weight",
                          "features.10.bias", "features.010.bias", "layer2.0.weight",
                          "layer10.0.weight"};
    enum { N = sizeof want / sizeof want[0] };
    const char *got[N];
    memcpy(got, want, sizeof want);
    qsort(got, N, sizeof *got, (int (*)(const void *, const void *))strcmp);
    qsort(got, N, sizeof *got, cmp_names);
    for (int i = 0; i < N; i++)
        if (strcmp(got[i], want[i]) != 0)
            fail_msg("position %d: %s, expected %s", i, got[i], want[i]);
}

/* ---- the MLP against PyTorch --------------------------------------------- */

struct expected {
    nn_safetensors *st;
    const float *x; /* (NX, 20) */
};

static void open_expected(nn_ctx *ctx, struct expected *e)
{
    char p[512];
    e->st = nn_safetensors_open(ctx, ref("expected.safetensors", p, sizeof p));
    if (!e->st)
        fail_msg("%s (run tests/ref/gen_import.py)", nn_ctx_error(ctx));
    e->x = nn_safetensors_get_f32(e->st, "x", 2, (int64_t[]){NX, 20});
    assert_non_null(e->x);
}

static const double *expected_f64(const struct expected *e, const char *name)
{
    const struct nn_st_view *v = nn_safetensors_find(e->st, name);
    assert_non_null(v);
    assert_string_equal(v->dtype, "F64");
    assert_int_equal(v->numel, NX * 5);
    return v->data;
}

/* The logits of x (NX, 20) into z (NX, 5). */
static void logits(nn_model *m, const float *x, float *z)
{
    nn_graph *g = nn_model_graph(m);
    assert_ok(nn_model_ctx(m), nn_feed(g, nn_model_input(m), x, NX));
    assert_ok(nn_model_ctx(m), nn_forward_to(g, nn_model_logits(m)));
    memcpy(z, nn_value(nn_model_logits(m)), NX * 5 * sizeof *z);
}

struct seen {
    int n;
    char by[48];
    char tensor[32][40];
};

static void on_assign(const struct nn_import_info *a, void *user)
{
    struct seen *s = user;
    snprintf(s->by, sizeof s->by, "%s", a->by);
    if (s->n < 32)
        snprintf(s->tensor[s->n], sizeof s->tensor[0], "%s", a->tensor);
    s->n++;
}

static nn_model *import_ref(nn_ctx *ctx, const char *file, struct seen *seen)
{
    char p[512];
    nn_model *m = NULL;
    struct nn_import_cfg c = {.on_assign = on_assign, .user = seen};
    nn_status st = nn_import_torch(ctx, ref(file, p, sizeof p), SPEC, &c, &m);
    if (st != NN_OK)
        fail_msg("%s: %s", file, nn_ctx_error(ctx));
    return m;
}

/* Each float32 layout gives PyTorch's logits to 1e-5, through the order
 * its layout calls for. */
static void mlp_layouts_match_pytorch(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    struct expected e;
    open_expected(ctx, &e);
    const double *y = expected_f64(&e, "y.f32");
    const char *files[] = {"mlp_f32.safetensors", "mlp_keys_sorted.safetensors",
                           "mlp_sorted.safetensors"};
    const char *by[] = {"file order", "file order", "natural order"};
    static const char *const sd_order[8] = {"1.weight", "1.bias", "4.weight", "4.bias",
                                            "6.weight", "6.bias", "10.weight", "10.bias"};
    for (int f = 0; f < 3; f++) {
        struct seen seen = {0};
        nn_model *m = import_ref(ctx, files[f], &seen);
        assert_int_equal(seen.n, 8);
        assert_string_equal(seen.by, by[f]);
        for (int i = 0; i < 8; i++)
            assert_string_equal(seen.tensor[i], sd_order[i]);
        assert_int_equal(nn_model_loss_kind(m), NN_LOSS_SOFTMAX_CE);
        float z[NX * 5];
        logits(m, e.x, z);
        for (int i = 0; i < NX * 5; i++)
            assert_close(z[i], y[i], 0, 1e-5);
        /* the predicted classes are PyTorch's argmax */
        int64_t cls[NX];
        assert_ok(ctx, nn_model_predict_class(m, e.x, NX, cls));
        for (int r = 0; r < NX; r++) {
            int best = 0;
            for (int j = 1; j < 5; j++)
                best = y[r * 5 + j] > y[r * 5 + best] ? j : best;
            assert_int_equal(cls[r], best);
        }
        nn_model_free(m);
    }
    nn_safetensors_close(e.st);
    nn_ctx_free(ctx);
}

/* Float16 and bfloat16 weights: PyTorch's logits from the same rounded
 * weights to 1e-5 (the conversion is exact), and the float32 model's
 * within the bound the rounding of the weights implies (plus 1e-5 for
 * float32 arithmetic); float64 weights: PyTorch's float64 logits to 1e-5. */
static void mlp_low_precision_match_pytorch(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    struct expected e;
    open_expected(ctx, &e);
    const double *y32 = expected_f64(&e, "y.f32");
    const char *names[] = {"f16", "bf16", "f64"};
    for (int k = 0; k < 3; k++) {
        char file[64], yn[16], bn[16];
        snprintf(file, sizeof file, "mlp_%s.safetensors", names[k]);
        snprintf(yn, sizeof yn, "y.%s", names[k]);
        snprintf(bn, sizeof bn, "bound.%s", names[k]);
        struct seen seen = {0};
        nn_model *m = import_ref(ctx, file, &seen);
        float z[NX * 5];
        logits(m, e.x, z);
        const double *y = expected_f64(&e, yn);
        double worst = 0, widest = 0;
        for (int i = 0; i < NX * 5; i++) {
            assert_close(z[i], y[i], 0, 1e-5);
            if (k < 2) {
                const double *bound = expected_f64(&e, bn);
                assert_close(z[i], y32[i], 0, bound[i] + 1e-5);
                worst = fmax(worst, fabs(z[i] - y32[i]));
                widest = fmax(widest, bound[i]);
            }
        }
        if (k < 2) /* the rounding is visible, and the bound not vacuous */
            assert_true(worst > 1e-5 && widest < (k == 0 ? 0.05 : 0.3));
        nn_model_free(m);
    }
    nn_safetensors_close(e.st);
    nn_ctx_free(ctx);
}

/* The import leaves the context's generator as it was, and the model runs
 * the same after a save and nn_model_load. */
static void checkpoint_round_trip(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 9, .threads = 1});
    uint64_t before[4], after[4];
    nn_ctx_rng_get(ctx, before);
    struct seen seen = {0};
    nn_model *m = import_ref(ctx, "mlp_sorted.safetensors", &seen);
    nn_ctx_rng_get(ctx, after);
    assert_memory_equal(before, after, sizeof before);
    struct expected e;
    open_expected(ctx, &e);
    char p[512];
    assert_ok(ctx, nn_checkpoint_save(tpath("rt.safetensors", p, sizeof p), m, NULL, NULL, NULL,
                                      0));
    nn_model *back = nn_model_load(ctx, p, NULL);
    if (!back)
        fail_msg("%s", nn_ctx_error(ctx));
    float a[NX * 5], b[NX * 5];
    logits(m, e.x, a);
    logits(back, e.x, b);
    assert_memory_equal(a, b, sizeof a);
    nn_model_free(back);
    nn_model_free(m);
    nn_safetensors_close(e.st);
    nn_ctx_free(ctx);
}

/* ---- files made here ----------------------------------------------------- */

/* The weights of "3 dense:4 relu dense:2" as a state_dict, named by names[]
 * in the order given (values i + 0.5 * k, distinct). */
static void write_small(nn_ctx *ctx, const char *path, const char *const names[4],
                        const int order[4])
{
    static float w1[12], b1[4], w2[8], b2[2];
    for (int i = 0; i < 12; i++)
        w1[i] = 0.1f * (float)(i - 6);
    for (int i = 0; i < 4; i++)
        b1[i] = 0.05f * (float)i;
    for (int i = 0; i < 8; i++)
        w2[i] = 0.2f * (float)(4 - i);
    b2[0] = 0.3f, b2[1] = -0.3f;
    struct nn_st_tensor all[4] = {{names[0], "F32", 2, {4, 3}, w1},
                                  {names[1], "F32", 1, {4}, b1},
                                  {names[2], "F32", 2, {2, 4}, w2},
                                  {names[3], "F32", 1, {2}, b2}};
    struct nn_st_tensor t[4];
    for (int i = 0; i < 4; i++)
        t[i] = all[order[i]];
    assert_ok(ctx, nn_safetensors_save(ctx, path, t, 4, NULL, NULL, 0));
}

#define SMALL "3 dense:4 relu dense:2"

/* Checks that m holds write_small's weights. */
static void check_small(nn_model *m)
{
    nn_graph *g = nn_model_graph(m);
    const float *w2 = nn_value(nn_graph_find(g, "dense2.weight"));
    const float *b1 = nn_value(nn_graph_find(g, "dense1.bias"));
    assert_true(w2[1] == 0.2f * 3 && b1[3] == 0.05f * 3);
}

static nn_status import_file(nn_ctx *ctx, const char *path, const char *spec,
                             const struct nn_import_cfg *c, nn_model **m)
{
    nn_status st = nn_import_torch(ctx, path, spec, c, m);
    assert_true((st == NN_OK) == (*m != NULL));
    return st;
}

/* Fails unless the message holds every needle. */
static void expect_msg(nn_ctx *ctx, const char *const *needles, int n)
{
    for (int i = 0; i < n; i++)
        if (!strstr(nn_ctx_error(ctx), needles[i]))
            fail_msg("message '%s' lacks '%s'", nn_ctx_error(ctx), needles[i]);
}
#define EXPECT(ctx, ...)                                                      \
    expect_msg(ctx, (const char *const[]){__VA_ARGS__},                       \
               (int)(sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)))

/* Names that do not follow the model's order: by order, a shape error;
 * with a map, the right weights, the map's pairs reported as such. */
static void map_assigns_first(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    char p[512], mp[512];
    const char *names[4] = {"enc.weight", "enc.bias", "head.weight", "head.bias"};
    write_small(ctx, tpath("swapped.safetensors", p, sizeof p), names, (int[]){2, 3, 0, 1});
    nn_model *m = NULL;
    assert_int_equal(import_file(ctx, p, SMALL, NULL, &m), NN_ERR_SHAPE);
    EXPECT(ctx, "parameter 'dense1.weight' of shape (4, 3) does not fit tensor 'head.weight' "
           "of shape (2, 4)", "assigned by file order", "the file has 4 tensors, the model 4");
    /* two pairs from the file, the rest by order */
    FILE *f = fopen(tpath("swap.map", mp, sizeof mp), "w");
    assert_non_null(f);
    fprintf(f, "# libnn = torch\n\n  dense1.weight = enc.weight  # the encoder\ndense1.bias=enc.bias\n");
    fclose(f);
    struct seen seen = {0};
    struct nn_import_cfg c = {.map_file = mp, .on_assign = on_assign, .user = &seen};
    assert_int_equal(import_file(ctx, p, SMALL, &c, &m), NN_OK);
    check_small(m);
    assert_string_equal(seen.tensor[0], "enc.weight");
    assert_string_equal(seen.tensor[2], "head.weight");
    assert_string_equal(seen.by, "file order"); /* the last one */
    nn_model_free(m);
    /* the same with pairs in code */
    struct nn_import_pair pairs[] = {{"dense2.bias", "head.bias"}, {"dense2.weight", "head.weight"}};
    c = (struct nn_import_cfg){.map = pairs, .nmap = 2};
    assert_int_equal(import_file(ctx, p, SMALL, &c, &m), NN_OK);
    check_small(m);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* A tensor the model has no place for; a parameter the file lacks. */
static void leftover_and_missing(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    char p[512];
    nn_model *m = NULL;
    assert_int_equal(import_file(ctx, ref("mlp_f32.safetensors", p, sizeof p),
                                 "20 dense:16 relu dense:12 tanh dense:8 relu", NULL, &m),
                     NN_ERR_SHAPE);
    EXPECT(ctx, "tensor '10.weight' of shape (5, 8) is claimed by no parameter",
           "2 tensors left over", "the file has 8 tensors, the model 6", "'- = 10.weight'");
    assert_int_equal(import_file(ctx, p, SPEC " relu dense:3", NULL, &m), NN_ERR_SHAPE);
    EXPECT(ctx, "parameter 'dense5.weight' of shape (3, 5) has no tensor",
           "the file has 8 tensors, the model 10");
    /* in the natural order the same */
    assert_int_equal(import_file(ctx, ref("mlp_sorted.safetensors", p, sizeof p),
                                 "20 dense:16 relu dense:13 tanh dense:8 relu dense:5", NULL, &m),
                     NN_ERR_SHAPE);
    EXPECT(ctx, "parameter 'dense2.weight' of shape (13, 16) does not fit tensor '4.weight' of "
           "shape (12, 16)", "assigned by natural order");
    /* "- = NAME" leaves a tensor out */
    struct nn_import_pair skip[] = {{NULL, "10.weight"}, {NULL, "10.bias"}};
    struct nn_import_cfg c = {.map = skip, .nmap = 2};
    assert_int_equal(import_file(ctx, ref("mlp_f32.safetensors", p, sizeof p),
                                 "20 dense:16 relu dense:12 tanh dense:8 relu", &c, &m), NN_OK);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

static void write_map(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void map_errors(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    char p[512], mp[512];
    const char *names[4] = {"a.weight", "a.bias", "b.weight", "b.bias"};
    write_small(ctx, tpath("small.safetensors", p, sizeof p), names, (int[]){0, 1, 2, 3});
    tpath("bad.map", mp, sizeof mp);
    struct {
        const char *map;
        nn_status st;
        const char *needle[2];
    } cases[] = {
        {"dense9.weight = a.weight\n", NN_ERR_INVALID,
         {"line 1: 'dense9.weight' is not a parameter of the model", "dense1.weight, "
          "dense1.bias, dense2.weight, dense2.bias"}},
        {"dense1.weight = fc.weight\n", NN_ERR_INVALID,
         {"line 1: tensor 'fc.weight' is not in the file", ""}},
        {"dense1.weight = a.weight\ndense1.weight = b.weight\n", NN_ERR_INVALID,
         {"line 2: parameter 'dense1.weight' is mapped twice (to 'a.weight' and 'b.weight')",
          ""}},
        {"dense1.weight = a.weight\ndense2.weight = a.weight\n", NN_ERR_INVALID,
         {"line 2: tensor 'a.weight' is mapped twice (also to 'dense1.weight')", ""}},
        {"- = a.bias\ndense1.bias = a.bias\n", NN_ERR_INVALID,
         {"tensor 'a.bias' is mapped twice (also left out)", ""}},
        {"# fine\ndense1.weight a.weight\n", NN_ERR_FORMAT,
         {"line 2: expected 'libnn_name = torch_name'", "got 'dense1.weight a.weight'"}},
        {"dense1.weight = \n", NN_ERR_FORMAT, {"line 1: expected", ""}},
        {"a = b = c\n", NN_ERR_FORMAT, {"line 1: expected", ""}},
        {"- = a.bias\n", NN_ERR_SHAPE, /* then dense1.bias takes b.weight */
         {"parameter 'dense1.bias' of shape (4) does not fit tensor 'b.weight' of shape (2, 4)",
          ""}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_map(mp, cases[i].map);
        nn_model *m = NULL;
        nn_status st = import_file(ctx, p, SMALL, &(struct nn_import_cfg){.map_file = mp}, &m);
        if (st != cases[i].st)
            fail_msg("map '%s': %s (%s)", cases[i].map, nn_status_str(st), nn_ctx_error(ctx));
        EXPECT(ctx, cases[i].needle[0], cases[i].needle[1],
               cases[i].st == NN_ERR_SHAPE ? "small.safetensors" : "bad.map line");
    }
    nn_model *m = NULL;
    assert_int_equal(import_file(ctx, p, SMALL,
                                 &(struct nn_import_cfg){.map_file = "/nonexistent/x.map"}, &m),
                     NN_ERR_IO);
    EXPECT(ctx, "cannot open map file '/nonexistent/x.map'");
    struct nn_import_pair bad[] = {{"dense1.weight", NULL}};
    assert_int_equal(import_file(ctx, p, SMALL, &(struct nn_import_cfg){.map = bad, .nmap = 1},
                                 &m), NN_ERR_INVALID);
    EXPECT(ctx, "map pair 0 has no tensor name");
    nn_ctx_free(ctx);
}

/* Dtypes: integers only for buffers, values finite as floats, a scalar
 * for a (1) parameter; files that are not there or not safetensors. */
static void values_and_files(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    char p[512];
    nn_model *m = NULL;
    int64_t iw[3] = {1, 2, 3};
    float b = 0.5f;
    struct nn_st_tensor ints[2] = {{"0.weight", "I64", 2, {1, 3}, iw}, {"0.bias", "F32", 0, {0}, &b}};
    assert_ok(ctx, nn_safetensors_save(ctx, tpath("ints.safetensors", p, sizeof p), ints, 2,
                                       NULL, NULL, 0));
    assert_int_equal(import_file(ctx, p, "3 dense:1 sigmoid", NULL, &m), NN_ERR_FORMAT);
    EXPECT(ctx, "tensor '0.weight' of dtype I64 cannot fill parameter 'dense1.weight'",
           "integer tensors fill buffers only");
    /* F64 weights and a scalar bias for a (1) parameter */
    double dw[3] = {0.25, -1.5, 1e-3};
    struct nn_st_tensor f64[2] = {{"0.weight", "F64", 2, {1, 3}, dw}, {"0.bias", "F32", 0, {0}, &b}};
    assert_ok(ctx, nn_safetensors_save(ctx, p, f64, 2, NULL, NULL, 0));
    assert_int_equal(import_file(ctx, p, "3 dense:1 sigmoid", NULL, &m), NN_OK);
    nn_graph *g = nn_model_graph(m);
    assert_true(nn_value(nn_graph_find(g, "dense1.weight"))[2] == 1e-3f &&
                nn_value(nn_graph_find(g, "dense1.bias"))[0] == 0.5f);
    nn_model_free(m);
    /* a float64 beyond float32's range, a half infinity, a NaN */
    dw[1] = -1e300;
    assert_ok(ctx, nn_safetensors_save(ctx, p, f64, 2, NULL, NULL, 0));
    assert_int_equal(import_file(ctx, p, "3 dense:1 sigmoid", NULL, &m), NN_ERR_NUMERIC);
    EXPECT(ctx, "tensor '0.weight' (F64) holds -1.0000000000000001e+300 at (0, 1), beyond "
           "float32's range (parameter 'dense1.weight')");
    uint16_t hw[6] = {0x3c00, 0x3c00, 0x3c00, 0x3c00, 0x3c00, 0x7c00};
    struct nn_st_tensor halves[2] = {{"0.weight", "F16", 2, {2, 3}, hw},
                                     {"0.bias", "F16", 1, {2}, hw}};
    assert_ok(ctx, nn_safetensors_save(ctx, p, halves, 2, NULL, NULL, 0));
    assert_int_equal(import_file(ctx, p, "3 dense:2", NULL, &m), NN_ERR_NUMERIC);
    EXPECT(ctx, "tensor '0.weight' (F16) holds inf at (1, 2): weights must be finite");
    hw[5] = 0x3c00;
    hw[1] = 0xfe00;
    assert_ok(ctx, nn_safetensors_save(ctx, p, halves, 2, NULL, NULL, 0));
    assert_int_equal(import_file(ctx, p, "3 dense:2", NULL, &m), NN_ERR_NUMERIC);
    EXPECT(ctx, "holds nan at (0, 1)");
    /* files */
    assert_int_equal(import_file(ctx, "/nonexistent/w.safetensors", "3 dense:2", NULL, &m),
                     NN_ERR_IO);
    EXPECT(ctx, "cannot open '/nonexistent/w.safetensors'");
    write_map(tpath("not.safetensors", p, sizeof p), "not a safetensors file\n");
    assert_int_equal(import_file(ctx, p, "3 dense:2", NULL, &m), NN_ERR_FORMAT);
    EXPECT(ctx, "not.safetensors");
    assert_int_equal(import_file(ctx, ref("mlp_f32.safetensors", p, sizeof p), "20 dense:0",
                                 NULL, &m), NN_ERR_INVALID);
    EXPECT(ctx, "import: the model spec does not build");
    assert_int_equal(nn_import_torch(ctx, p, SPEC, NULL, NULL), NN_ERR_INVALID);
    nn_ctx_free(ctx);
}

/* The sorted layout with a second dtype block (an I64 scalar first, as
 * the safetensors package puts 8-byte types first) is still recognized,
 * and the loss follows the final activation. */
static void sorted_blocks_and_loss(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    char p[512];
    const char *names[4] = {"m.2.weight", "m.2.bias", "m.10.weight", "m.10.bias"};
    static float w1[12], b1[4], w2[8], b2[2];
    int64_t count = 7;
    for (int i = 0; i < 12; i++)
        w1[i] = (float)i;
    /* byte order: m.10.bias, m.10.weight, m.2.bias, m.2.weight */
    struct nn_st_tensor t[5] = {{"m.1.num_batches_tracked", "I64", 0, {0}, &count},
                                {names[3], "F32", 1, {2}, b2}, {names[2], "F32", 2, {2, 4}, w2},
                                {names[1], "F32", 1, {4}, b1}, {names[0], "F32", 2, {4, 3}, w1}};
    assert_ok(ctx, nn_safetensors_save(ctx, tpath("blocks.safetensors", p, sizeof p), t, 5,
                                       NULL, NULL, 0));
    struct seen seen = {0};
    struct nn_import_pair skip[] = {{NULL, "m.1.num_batches_tracked"}};
    struct nn_import_cfg c = {.map = skip, .nmap = 1, .on_assign = on_assign, .user = &seen};
    nn_model *m = NULL;
    assert_int_equal(import_file(ctx, p, "3 dense:4 relu dense:2 sigmoid", &c, &m), NN_OK);
    assert_string_equal(seen.by, "natural order");
    assert_string_equal(seen.tensor[0], "m.2.weight");
    assert_true(nn_value(nn_graph_find(nn_model_graph(m), "dense1.weight"))[11] == 11.0f);
    assert_int_equal(nn_model_loss_kind(m), NN_LOSS_SIGMOID_BCE);
    nn_model_free(m);
    c.loss = NN_LOSS_MSE;
    assert_int_equal(import_file(ctx, p, "3 dense:4 relu dense:2", &c, &m), NN_OK);
    assert_int_equal(nn_model_loss_kind(m), NN_LOSS_MSE);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* ---- the CNN against PyTorch --------------------------------------------- */

/* As tests/ref/gen_import.py's CNN_SPEC and NAMED_SPEC. */
#define CNN_SPEC                                                                            \
    "3x12x12 conv:8,3,pad=1 batchnorm relu maxpool:2 "                                      \
    "conv:8,3,pad=2,dil=2,groups=4,bias=no batchnorm relu avgpool:2 "                       \
    "conv:16,3,pad=1,bias=no relu batchnorm gap dropout:0.1 dense:10 batchnorm relu dense:5"
#define NAMED_SPEC                                                                          \
    "3x12x12 conv:8,3,pad=1 batchnorm relu maxpool:2 conv:8,3,pad=1,groups=2 "              \
    "batchnorm relu gap dense:6 relu dense:4"
#define CX 6             /* rows of x in cnn_expected.safetensors */
#define CIN (3 * 12 * 12) /* features per row */

struct cnn_expected {
    nn_safetensors *st;
    const float *x;  /* (CX, 3, 12, 12) */
    const double *y; /* (CX, 5) from CNN */
    const double *yn; /* (CX, 4) from NAMED */
};

static void open_cnn_expected(nn_ctx *ctx, struct cnn_expected *e)
{
    char p[512];
    e->st = nn_safetensors_open(ctx, ref("cnn_expected.safetensors", p, sizeof p));
    if (!e->st)
        fail_msg("%s (run tests/ref/gen_import.py)", nn_ctx_error(ctx));
    e->x = nn_safetensors_get_f32(e->st, "x", 4, (int64_t[]){CX, 3, 12, 12});
    assert_non_null(e->x);
    const struct nn_st_view *y = nn_safetensors_find(e->st, "y"),
                            *yn = nn_safetensors_find(e->st, "y.named");
    assert_true(y && yn && strcmp(y->dtype, "F64") == 0 && strcmp(yn->dtype, "F64") == 0);
    assert_true(y->numel == CX * 5 && yn->numel == CX * 4);
    e->y = y->data;
    e->yn = yn->data;
}

/* The largest |logit - PyTorch's| of m on x (nout outputs per row). */
static double cnn_error(nn_model *m, const float *x, const double *y, int nout)
{
    nn_graph *g = nn_model_graph(m);
    assert_ok(nn_model_ctx(m), nn_feed(g, nn_model_input(m), x, CX));
    assert_ok(nn_model_ctx(m), nn_forward_to(g, nn_model_logits(m)));
    const float *z = nn_value(nn_model_logits(m));
    double worst = 0;
    for (int i = 0; i < CX * nout; i++)
        worst = fmax(worst, fabs((double)z[i] - y[i]));
    return worst;
}

static double value_of(nn_model *m, const char *name, int64_t i)
{
    nn_node *p = nn_graph_find(nn_model_graph(m), name);
    if (!p)
        fail_msg("no parameter %s", name);
    return nn_value(p)[i];
}

/* Both layouts of the CNN (state_dict order; the safetensors package's,
 * whose natural order puts classifier before features) give PyTorch's
 * eval-mode outputs to 1e-5: batch norm's running statistics and
 * num_batches_tracked come over, and in training mode (batch statistics)
 * the outputs differ. */
static void cnn_layouts_match_pytorch(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    struct cnn_expected e;
    open_cnn_expected(ctx, &e);
    const char *files[] = {"cnn.safetensors", "cnn_sorted.safetensors"};
    const char *by[] = {"file order", "natural order, modules by shape"};
    static const char *const want[28] = {
        "features.0.weight", "features.0.bias", "features.1.weight", "features.1.bias",
        "features.1.running_mean", "features.1.running_var", "features.1.num_batches_tracked",
        "features.4.weight", "features.5.weight", "features.5.bias", "features.5.running_mean",
        "features.5.running_var", "features.5.num_batches_tracked", "features.8.weight",
        "features.10.weight", "features.10.bias", "features.10.running_mean",
        "features.10.running_var", "features.10.num_batches_tracked", "classifier.1.weight",
        "classifier.1.bias", "classifier.2.weight", "classifier.2.bias",
        "classifier.2.running_mean", "classifier.2.running_var",
        "classifier.2.num_batches_tracked", "classifier.4.weight", "classifier.4.bias"};
    char p[512];
    for (int f = 0; f < 2; f++) {
        struct seen seen = {0};
        nn_model *m = NULL;
        struct nn_import_cfg c = {.on_assign = on_assign, .user = &seen};
        if (import_file(ctx, ref(files[f], p, sizeof p), CNN_SPEC, &c, &m) != NN_OK)
            fail_msg("%s: %s", files[f], nn_ctx_error(ctx));
        assert_int_equal(seen.n, 28);
        assert_string_equal(seen.by, by[f]);
        for (int i = 0; i < 28; i++)
            assert_string_equal(seen.tensor[i], want[i]);
        /* the buffers as PyTorch left them after 6 training steps */
        for (int k = 1; k <= 4; k++) {
            char name[48];
            snprintf(name, sizeof name, "bn%d.num_batches_tracked", k);
            assert_true(value_of(m, name, 0) == 6.0);
            snprintf(name, sizeof name, "bn%d.running_var", k);
            assert_true(value_of(m, name, 0) != 1.0);
            snprintf(name, sizeof name, "bn%d.running_mean", k);
            assert_true(value_of(m, name, 0) != 0.0);
        }
        nn_graph_set_training(nn_model_graph(m), false);
        assert_true(cnn_error(m, e.x, e.y, 5) <= 1e-5);
        /* and through a libnn checkpoint */
        assert_ok(ctx, nn_checkpoint_save(tpath("cnn.safetensors", p, sizeof p), m, NULL, NULL,
                                          NULL, 0));
        nn_model *back = nn_model_load(ctx, p, NULL);
        if (!back)
            fail_msg("%s", nn_ctx_error(ctx));
        assert_true(value_of(back, "bn3.num_batches_tracked", 0) == 6.0);
        assert_true(cnn_error(back, e.x, e.y, 5) <= 1e-5);
        nn_model_free(back);
        /* batch statistics (training mode, which also moves the buffers) differ */
        nn_graph_set_training(nn_model_graph(m), true);
        assert_true(cnn_error(m, e.x, e.y, 5) > 1e-3);
        assert_true(value_of(m, "bn1.num_batches_tracked", 0) == 7.0);
        nn_model_free(m);
    }
    nn_safetensors_close(e.st);
    nn_ctx_free(ctx);
}

/* Modules named conv1, bn1, conv2, bn2, fc1, fc2: in state_dict order they
 * import as they are; sorted by name, two orders of them fit (bn1 and bn2
 * have the same shapes), which is an error naming both, and the map
 * settles it. */
static void cnn_named_needs_map(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    struct cnn_expected e;
    open_cnn_expected(ctx, &e);
    char p[512], mp[512];
    nn_model *m = NULL;
    assert_ok(ctx, import_file(ctx, ref("cnn_named.safetensors", p, sizeof p), NAMED_SPEC, NULL,
                               &m));
    assert_true(cnn_error(m, e.x, e.yn, 4) <= 1e-5);
    nn_model_free(m);
    assert_int_equal(import_file(ctx, ref("cnn_named_sorted.safetensors", p, sizeof p),
                                 NAMED_SPEC, NULL, &m), NN_ERR_SHAPE);
    EXPECT(ctx, "cnn_named_sorted.safetensors", "2 orders of them fit the model's shapes "
           "(conv1 bn1 conv2 bn2 fc1 fc2; conv1 bn2 conv2 bn1 fc1 fc2): give a map");
    struct seen seen = {0};
    struct nn_import_cfg c = {.map_file = ref("cnn_named.map", mp, sizeof mp),
                              .on_assign = on_assign, .user = &seen};
    assert_ok(ctx, import_file(ctx, p, NAMED_SPEC, &c, &m));
    assert_string_equal(seen.by, "map");
    assert_string_equal(seen.tensor[9], "bn2.weight");
    assert_true(value_of(m, "bn2.num_batches_tracked", 0) == 6.0);
    assert_true(cnn_error(m, e.x, e.yn, 4) <= 1e-5);
    nn_model_free(m);
    nn_safetensors_close(e.st);
    nn_ctx_free(ctx);
}

/* A conv weight that does not fit names both shapes; bias=no against a
 * file with a conv bias leaves the bias over. */
static void cnn_shape_errors(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    char p[512];
    nn_model *m = NULL;
    ref("cnn.safetensors", p, sizeof p);
    struct {
        const char *spec, *needle;
    } cases[] = {
        {"3x12x12 conv:8,5,pad=2 batchnorm relu maxpool:2 conv:8,3,pad=2,dil=2,groups=4,bias=no "
         "batchnorm relu avgpool:2 conv:16,3,pad=1,bias=no relu batchnorm gap dense:10 "
         "batchnorm relu dense:5", "parameter 'conv1.weight' of shape (8, 3, 5, 5) does not fit "
         "tensor 'features.0.weight' of shape (8, 3, 3, 3) (assigned by file order"},
        {"3x12x12 conv:8,3,pad=1 batchnorm relu maxpool:2 conv:8,3,pad=2,dil=2,bias=no "
         "batchnorm relu avgpool:2 conv:16,3,pad=1,bias=no relu batchnorm gap dense:10 "
         "batchnorm relu dense:5", "parameter 'conv2.weight' of shape (8, 8, 3, 3) does not fit "
         "tensor 'features.4.weight' of shape (8, 2, 3, 3)"},
        {"3x12x12 conv:8,3,pad=1,bias=no batchnorm relu maxpool:2 "
         "conv:8,3,pad=2,dil=2,groups=4,bias=no batchnorm relu avgpool:2 "
         "conv:16,3,pad=1,bias=no relu batchnorm gap dense:10 batchnorm relu dense:5",
         "parameter 'bn1.num_batches_tracked' of shape (1) does not fit tensor "
         "'features.1.running_var' of shape (8)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(import_file(ctx, p, cases[i].spec, NULL, &m), NN_ERR_SHAPE);
        EXPECT(ctx, "cnn.safetensors", cases[i].needle);
    }
    /* the sorted layout: no order of its modules fits, natural order's misfit */
    assert_int_equal(import_file(ctx, ref("cnn_sorted.safetensors", p, sizeof p),
                                 cases[1].spec, NULL, &m), NN_ERR_SHAPE);
    EXPECT(ctx, "cnn_sorted.safetensors", "(assigned by natural order;");
    nn_ctx_free(ctx);
}

/* ---- the command line ---------------------------------------------------- */

/* Runs nn with the arguments fmt (a string literal) formats, output into
 * out; its exit status (cli_util.c's cli_run). */
#define RUN(out, fmt, ...) cli_run(out, sizeof(out), "%s " fmt, cli_nn(), __VA_ARGS__)

static void must_hold(const char *out, const char *needle)
{
    if (!strstr(out, needle))
        fail_msg("output lacks '%s':\n%s", needle, out);
}

/* nn import, then nn eval, nn predict and nn info on the result: eval on
 * PyTorch's own classes is exact, predict gives PyTorch's classes. */
static void cli_import_eval_predict(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    struct expected e;
    open_expected(ctx, &e);
    const double *y = expected_f64(&e, "y.f32");
    char csv[512], in[512], model[512], src[512], out[16384];
    FILE *f = fopen(tpath("x.csv", csv, sizeof csv), "w");
    FILE *g = fopen(tpath("in.csv", in, sizeof in), "w");
    assert_true(f && g);
    for (int j = 0; j < 20; j++) {
        fprintf(f, "f%d,", j);
        fprintf(g, "%sf%d", j ? "," : "", j);
    }
    fprintf(f, "label\n");
    fprintf(g, "\n");
    int want[NX];
    for (int r = 0; r < NX; r++) {
        want[r] = 0;
        for (int j = 1; j < 5; j++)
            want[r] = y[r * 5 + j] > y[r * 5 + want[r]] ? j : want[r];
        for (int j = 0; j < 20; j++) {
            fprintf(f, "%.9g,", (double)e.x[r * 20 + j]);
            fprintf(g, "%s%.9g", j ? "," : "", (double)e.x[r * 20 + j]);
        }
        fprintf(f, "%d\n", want[r]);
        fprintf(g, "\n");
    }
    fclose(f);
    fclose(g);
    tpath("mlp.safetensors", model, sizeof model);
    ref("mlp_sorted.safetensors", src, sizeof src);
    assert_int_equal(RUN(out, "import %s --model '%s' --normalize none --classes a,b,c,d,e "
                         "--out %s", src, SPEC, model), 0);
    must_hold(out, "dense4.weight            (5, 8)           <- 10.weight");
    must_hold(out, "(natural order)");
    must_hold(out, "wrote");
    assert_int_equal(RUN(out, "eval %s --data %s --label label --json", model, csv), 0);
    must_hold(out, "\"accuracy\": 1.000000, \"n\": 7");
    assert_int_equal(RUN(out, "predict %s --input %s --json", model, in), 0);
    for (int r = 0; r < NX; r++) {
        char needle[64];
        snprintf(needle, sizeof needle, "{\"row\": %d, \"class\": %d, \"name\": \"%c\"", r,
                 want[r], 'a' + want[r]);
        must_hold(out, needle);
    }
    assert_int_equal(RUN(out, "info %s", model), 0);
    must_hold(out, "model:       " SPEC);
    must_hold(out, "imported_from");
    must_hold(out, "mlp_sorted.safetensors");
    must_hold(out, "norm         none");
    must_hold(out, "classes:     a b c d e");
    /* weights only: no learning curves to draw, said so */
    assert_int_equal(RUN(out, "plot %s", model), 1);
    must_hold(out, "records no training history (weights only)");
    /* standard normalization, per feature, stored in the checkpoint */
    assert_int_equal(RUN(out, "import %s --model '%s' --normalize standard --mean 1 --std 2 "
                         "--quiet --out %s", src, SPEC, model), 0);
    assert_string_equal(out, "");
    nn_model *m = nn_model_load(ctx, model, NULL);
    assert_non_null(m);
    struct nn_norm_stats ns;
    assert_true(nn_model_norm(m, &ns));
    assert_int_equal(ns.kind, NN_NORM_STANDARD);
    assert_true(ns.nfeatures == 20 && ns.shift[19] == 1.0f && ns.scale[0] == 0.5f);
    nn_model_free(m);
    nn_safetensors_close(e.st);
    nn_ctx_free(ctx);
}

/* Every error of nn import: one line naming what is wrong, exit status
 * 1 or 2, no file written. */
static void cli_import_errors(void **state)
{
    (void)state;
    char src[512], model[512], mp[512], out[8192];
    ref("mlp_f32.safetensors", src, sizeof src);
    tpath("never.safetensors", model, sizeof model);
    write_map(tpath("cli.map", mp, sizeof mp), "dense1.weight = nothing.weight\n");
    struct {
        const char *args;
        const char *needle;
    } cases[] = {
        {"import %s --model '20 dense:16 relu dense:12 tanh dense:8 relu' --normalize none "
         "--out %s", "tensor '10.weight' of shape (5, 8) is claimed by no parameter"},
        {"import %s --model '" SPEC " relu dense:3' --normalize none --out %s",
         "parameter 'dense5.weight' of shape (3, 5) has no tensor"},
        {"import %s --model '20 dense:16 relu dense:13 dense:8 dense:5' --normalize none "
         "--out %s", "parameter 'dense2.weight' of shape (13, 16) does not fit tensor "
         "'4.weight' of shape (12, 16)"},
        {"import %s --model '" SPEC "' --out %s", "say how inputs are normalized"},
        {"import %s --model '" SPEC "' --normalize minmax --out %s",
         "minmax is standard with --mean MIN --std MAX-MIN"},
        {"import %s --model '" SPEC "' --normalize standard --mean 0.5 --out %s",
         "--normalize standard needs --mean and --std"},
        {"import %s --model '" SPEC "' --normalize standard --mean 1,2 --std 1 --out %s",
         "--mean has 2 numbers; the model's input of 20 features takes 1 or 20"},
        {"import %s --model '" SPEC "' --normalize standard --mean 1 --std 0 --out %s",
         "--std: 0 is not a standard deviation"},
        {"import %s --model '" SPEC "' --normalize standard --mean x --std 1 --out %s",
         "--mean: 'x' is not a comma-separated list of numbers"},
        {"import %s --model '" SPEC "' --normalize scale255 --mean 1 --out %s",
         "--mean and --std go with --normalize standard"},
        {"import %s --model '" SPEC "' --normalize none --classes a,b --out %s",
         "--classes: 2 names for a model of 5 outputs"},
        {"import %s --model '" SPEC "' --normalize none --classes a,,b,c,d --out %s",
         "--classes: 'a,,b,c,d' has an empty class name"},
        {"import %s --model '" SPEC "' --normalize none --task cluster --out %s",
         "--task must be classify or regress, not 'cluster'"},
        {"import %s --model '" SPEC "' --normalize none --loss hinge --out %s",
         "--loss must be cross_entropy, bce or mse, not 'hinge'"},
        {"import %s --normalize none --out %s", "give the model the weights belong to"},
        {"import %s --model '" SPEC "' --normalize none --outt %s",
         "unknown option '--outt' (did you mean --out?)"},
        {"import %s.missing --model '" SPEC "' --normalize none --out %s", "cannot open"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[2048];
        snprintf(args, sizeof args, cases[i].args, src, model);
        int rc = RUN(out, "%s", args);
        if (rc != 1 && rc != 2)
            fail_msg("nn %s: exit %d\n%s", args, rc, out);
        must_hold(out, cases[i].needle);
        must_hold(out, "nn import: ");
        assert_int_equal(access(model, F_OK), -1);
    }
    int rc = RUN(out, "import %s --model '" SPEC "' --normalize none --map %s --out %s", src,
                 mp, model);
    assert_int_equal(rc, 1);
    must_hold(out, "map file ");
    must_hold(out, "cli.map line 1: tensor 'nothing.weight' is not in the file");
    rc = RUN(out, "import --model '" SPEC "' --normalize none --out %s", model);
    assert_int_equal(rc, 2);
    must_hold(out, "give the PyTorch weights");
    assert_int_equal(access(model, F_OK), -1);
}

static bool have_fashion_mnist(void)
{
    struct stat sb;
    return stat("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", &sb) == 0;
}

/* The value of "key": NUMBER in a JSON text. */
static double json_num(const char *text, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *at = strstr(text, k);
    if (!at)
        fail_msg("no %s in %s", key, text);
    return strtod(at + strlen(k), NULL);
}

/* The CNN through the command line: nn import from the sorted layout, then
 * nn eval on a CSV of the fixed inputs gives PyTorch's cross-entropy (to
 * the 6 decimals printed) and nn predict its softmax probabilities; the
 * named CNN imports with --map and not without. */
static void cli_cnn_import_eval_predict(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    struct cnn_expected e;
    open_cnn_expected(ctx, &e);
    char csv[512], in[512], model[512], src[512], mp[512], out[16384];
    FILE *f = fopen(tpath("cnn.csv", csv, sizeof csv), "w");
    FILE *g = fopen(tpath("cnn_in.csv", in, sizeof in), "w");
    assert_true(f && g);
    for (int j = 0; j < CIN; j++) {
        fprintf(f, "p%d,", j);
        fprintf(g, "%sp%d", j ? "," : "", j);
    }
    fprintf(f, "label\n");
    fprintf(g, "\n");
    double loss = 0, prob[CX][5];
    int want[CX];
    for (int r = 0; r < CX; r++) {
        const double *y = e.y + r * 5;
        int best = 0;
        double top = y[0], sum = 0;
        for (int j = 1; j < 5; j++) {
            best = y[j] > y[best] ? j : best;
            top = fmax(top, y[j]);
        }
        for (int j = 0; j < 5; j++)
            sum += exp(y[j] - top);
        for (int j = 0; j < 5; j++)
            prob[r][j] = exp(y[j] - top) / sum;
        loss += (top + log(sum) - y[best]) / CX;
        want[r] = best;
        for (int j = 0; j < CIN; j++) {
            fprintf(f, "%.9g,", (double)e.x[r * CIN + j]);
            fprintf(g, "%s%.9g", j ? "," : "", (double)e.x[r * CIN + j]);
        }
        fprintf(f, "%d\n", best);
        fprintf(g, "\n");
    }
    fclose(f);
    fclose(g);
    tpath("cnn_model.safetensors", model, sizeof model);
    ref("cnn_sorted.safetensors", src, sizeof src);
    assert_int_equal(RUN(out, "import %s --model '%s' --normalize none --classes a,b,c,d,e "
                         "--out %s", src, CNN_SPEC, model), 0);
    must_hold(out, "bn1.num_batches_tracked  (1)              <- "
                   "features.1.num_batches_tracked I64");
    must_hold(out, "(natural order, modules by shape)");
    assert_int_equal(RUN(out, "eval %s --data %s --label label --json", model, csv), 0);
    must_hold(out, "\"accuracy\": 1.000000, \"n\": 6");
    assert_close(json_num(out, "loss"), loss, 0, 1e-6);
    assert_int_equal(RUN(out, "predict %s --input %s --json", model, in), 0);
    for (int r = 0; r < CX; r++) {
        char key[48];
        snprintf(key, sizeof key, "{\"row\": %d, \"class\": %d, \"name\": \"%c\"", r,
                 want[r], 'a' + want[r]);
        const char *row = strstr(out, key); /* PyTorch's class */
        if (!row)
            fail_msg("no '%s' in %s", key, out);
        const char *at = strstr(row, "\"probabilities\": [");
        assert_non_null(at);
        at += strlen("\"probabilities\": [");
        for (int j = 0; j < 5; j++) {
            char *end;
            assert_close(strtod(at, &end), prob[r][j], 0, 1e-6);
            at = end + (j < 4 ? 2 : 0);
        }
    }
    /* named modules, sorted: --map settles what the shapes cannot */
    ref("cnn_named_sorted.safetensors", src, sizeof src);
    assert_int_equal(RUN(out, "import %s --model '%s' --normalize none --out %s", src,
                         NAMED_SPEC, model), 1);
    must_hold(out, "2 orders of them fit the model's shapes");
    assert_int_equal(RUN(out, "import %s --model '%s' --normalize none --map %s --out %s", src,
                         NAMED_SPEC, ref("cnn_named.map", mp, sizeof mp), model), 0);
    must_hold(out, "dense2.weight            (4, 6)           <- fc2.weight");
    must_hold(out, "(map)");
    nn_safetensors_close(e.st);
    nn_ctx_free(ctx);
}

/* The reduced round trip of examples/export_from_pytorch.py: a small MLP
 * PyTorch trained on Fashion-MNIST, imported from float32 and float16
 * weights; nn eval on the 10000 test images gives PyTorch's accuracy
 * (within 0.001, and for float16 within 0.005 of the float32 model's). */
static void fashion_mnist_round_trip(void **state)
{
    (void)state;
    if (!have_fashion_mnist())
        skip();
    char p[512], json[1024], model[512], out[4096];
    FILE *f = fopen(ref("fm_tiny.json", p, sizeof p), "r");
    assert_non_null(f);
    size_t n = fread(json, 1, sizeof json - 1, f);
    json[n] = '\0';
    fclose(f);
    double acc[2] = {json_num(json, "accuracy_f32"), json_num(json, "accuracy_f16")};
    const char *files[2] = {"fm_tiny_f32.safetensors", "fm_tiny_f16.safetensors"};
    for (int k = 0; k < 2; k++) {
        tpath("fm.safetensors", model, sizeof model);
        assert_int_equal(RUN(out, "import %s --model '784 dense:16 relu dense:10' --normalize "
                             "scale255 --classes 'T-shirt/top,Trouser,Pullover,Dress,Coat,"
                             "Sandal,Shirt,Sneaker,Bag,Ankle boot' --quiet --out %s",
                             ref(files[k], p, sizeof p), model), 0);
        assert_int_equal(RUN(out, "eval %s --data fashion-mnist --json", model), 0);
        double got = json_num(out, "accuracy");
        assert_close(got, acc[k], 0, 0.001);
        assert_close(got, acc[0], 0, 0.005);
        assert_true(got > 0.5); /* trained, not chance */
    }
}

NN_GROUP_FIXTURE(import, setup, teardown,
                 cmocka_unit_test(f16_every_value),
                 cmocka_unit_test(bf16_and_f64_edges),
                 cmocka_unit_test(conversions_match_pytorch),
                 cmocka_unit_test(natural_module_order),
                 cmocka_unit_test(mlp_layouts_match_pytorch),
                 cmocka_unit_test(mlp_low_precision_match_pytorch),
                 cmocka_unit_test(checkpoint_round_trip),
                 cmocka_unit_test(cnn_layouts_match_pytorch),
                 cmocka_unit_test(cnn_named_needs_map),
                 cmocka_unit_test(cnn_shape_errors),
                 cmocka_unit_test(map_assigns_first),
                 cmocka_unit_test(leftover_and_missing),
                 cmocka_unit_test(map_errors),
                 cmocka_unit_test(values_and_files),
                 cmocka_unit_test(sorted_blocks_and_loss),
                 cmocka_unit_test(cli_import_eval_predict),
                 cmocka_unit_test(cli_import_errors),
                 cmocka_unit_test(cli_cnn_import_eval_predict),
                 cmocka_unit_test(fashion_mnist_round_trip))
