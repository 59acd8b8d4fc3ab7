/*
 * test_data.c - the data layer: IDX, CSV and image-folder loaders on small
 * committed fixtures (tests/data/, written by tests/data/gen_data.py) and on
 * bad files written at run time into a mkdtemp() folder, one test per kind
 * of bad input; normalization, views, splits and gathering; and the real
 * Fashion-MNIST files from the Debian package.
 */
#include "test.h"

#include "data/data.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct fx {
    nn_ctx *ctx;
    char dir[64];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    snprintf(f->dir, sizeof f->dir, "/tmp/nn_test_data_XXXXXX");
    if (!f->ctx || !mkdtemp(f->dir))
        return -1;
    *state = f;
    return 0;
}

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int teardown(void **state)
{
    struct fx *f = *state;
    rm_rf(f->dir);
    nn_ctx_free(f->ctx);
    free(f);
    return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* dir/name in one of a few rotating buffers. */
static const char *pth(const struct fx *f, const char *name)
{
    static char buf[6][512];
    static int k;
    k = (k + 1) % 6;
    snprintf(buf[k], sizeof buf[k], "%s/%s", f->dir, name);
    return buf[k];
}

static const char *put(const struct fx *f, const char *name, const void *data, size_t len)
{
    const char *p = pth(f, name);
    FILE *o = fopen(p, "wb");
    assert_non_null(o);
    assert_int_equal(fwrite(data, 1, len, o), len);
    fclose(o);
    return p;
}

static const char *put_text(const struct fx *f, const char *name, const char *text)
{
    return put(f, name, text, strlen(text));
}

static void mkdir_in(const struct fx *f, const char *name)
{
    assert_int_equal(mkdir(pth(f, name), 0755), 0);
}

/* The context's message must be one line containing a and b (if given). */
static void expect_msg(nn_ctx *ctx, const char *a, const char *b)
{
    const char *m = nn_ctx_error(ctx);
    if (!*m || strchr(m, '\n'))
        fail_msg("message '%s' is empty or not one line", m);
    if (a && !strstr(m, a))
        fail_msg("message '%s' does not contain '%s'", m, a);
    if (b && !strstr(m, b))
        fail_msg("message '%s' does not contain '%s'", m, b);
}

#define EXPECT_FAIL(ctx, expr, a, b)                                          \
    do {                                                                      \
        nn_ctx_clear_error(ctx);                                              \
        nn_dataset *d_ = (expr);                                              \
        if (d_) {                                                             \
            nn_dataset_free(d_);                                              \
            fail_msg("%s succeeded", #expr);                                  \
        }                                                                     \
        expect_msg(ctx, a, b);                                                \
    } while (0)

/* An IDX file: header (type, dims) then data. */
static size_t idx_make(uint8_t *buf, int type, int ndim, const uint32_t *dims,
                       const uint8_t *data, size_t ndata)
{
    size_t o = 0;
    buf[o++] = 0;
    buf[o++] = 0;
    buf[o++] = (uint8_t)type;
    buf[o++] = (uint8_t)ndim;
    for (int i = 0; i < ndim; i++) {
        buf[o++] = (uint8_t)(dims[i] >> 24);
        buf[o++] = (uint8_t)(dims[i] >> 16);
        buf[o++] = (uint8_t)(dims[i] >> 8);
        buf[o++] = (uint8_t)dims[i];
    }
    if (ndata)
        memcpy(buf + o, data, ndata);
    return o + ndata;
}

/* A good pair: 4 images of 2 x 3, labels 0 1 2 1. */
static const char *good_images(const struct fx *f)
{
    uint8_t px[24], buf[64];
    for (int i = 0; i < 24; i++)
        px[i] = (uint8_t)(i * 10);
    size_t n = idx_make(buf, 8, 3, (uint32_t[]){4, 2, 3}, px, 24);
    return put(f, "img.idx", buf, n);
}

static const char *good_labels(const struct fx *f)
{
    uint8_t buf[32];
    size_t n = idx_make(buf, 8, 1, (uint32_t[]){4}, (uint8_t[]){0, 1, 2, 1}, 4);
    return put(f, "lbl.idx", buf, n);
}

/* ---- IDX ------------------------------------------------------------------ */

static void idx_fixture_gzip_and_raw(void **state)
{
    struct fx *f = *state;
    char img[512], lbl[512];
    snprintf(img, sizeof img, "%s", nn_test_path("data/tiny-images-idx3-ubyte.gz"));
    snprintf(lbl, sizeof lbl, "%s", nn_test_path("data/tiny-labels-idx1-ubyte"));
    nn_dataset *ds = nn_dataset_load_idx(f->ctx, img, lbl);
    if (!ds)
        fail_msg("%s", nn_ctx_error(f->ctx));
    int64_t d[NN_MAX_DIMS];
    assert_int_equal(nn_dataset_shape(ds, d), 3);
    assert_true(d[0] == 1 && d[1] == 3 && d[2] == 4);
    assert_int_equal(nn_dataset_size(ds), 5);
    assert_int_equal(nn_dataset_features(ds), 12);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_CLASS);
    assert_int_equal(nn_dataset_classes(ds), 5); /* max label 4 + 1 */
    float x[5 * 12];
    int32_t y[5];
    assert_ok(f->ctx, nn_dataset_gather(ds, (int64_t[]){0, 1, 2, 3, 4}, 5, x, y, NULL));
    const int32_t want[5] = {0, 4, 1, 4, 2};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(y[i], want[i]);
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) /* the generator's formula, over 255 */
                assert_close(x[i * 12 + r * 4 + c], ((i * 50 + r * 4 + c * 3) % 256) / 255.0,
                             1e-6, 1e-7);
    }
    struct nn_norm_stats ns;
    nn_dataset_norm_get(ds, &ns);
    assert_int_equal(ns.kind, NN_NORM_SCALE255);
    nn_dataset_free(ds);

    /* The same images uncompressed, and without labels. */
    gzFile gz = gzopen(img, "rb");
    uint8_t raw[256];
    int n = gzread(gz, raw, sizeof raw);
    gzclose(gz);
    assert_int_equal(n, 16 + 60);
    ds = nn_dataset_load_idx(f->ctx, put(f, "raw.idx", raw, (size_t)n), NULL);
    assert_non_null(ds);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_NONE);
    assert_int_equal(nn_dataset_classes(ds), 0);
    float x2[12];
    assert_ok(f->ctx, nn_dataset_row(ds, 3, x2));
    assert_memory_equal(x2, x + 3 * 12, sizeof x2);
    nn_dataset_free(ds);
}

static void idx_missing_file(void **state)
{
    struct fx *f = *state;
    const char *p = pth(f, "nope-images.gz");
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), p, "No such file");
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, good_images(f), p), p, "cannot open");
}

static void idx_empty_file(void **state)
{
    struct fx *f = *state;
    const char *p = put(f, "empty", "", 0);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), p, "empty file");
}

static void idx_truncated_header(void **state)
{
    struct fx *f = *state;
    const char *p = put(f, "short", "\0\0\x08", 3);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), p, "truncated IDX header");
    /* Dimension sizes cut short: 3 promised, 1 and a half present. */
    p = put(f, "short2", "\0\0\x08\x03\0\0\0\x04\0\0", 10);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), p, "6 of 12 dimension bytes");
}

static void idx_truncated_data(void **state)
{
    struct fx *f = *state;
    uint8_t buf[64], px[30] = {0};
    size_t n = idx_make(buf, 8, 3, (uint32_t[]){10, 2, 2}, px, 30);
    const char *p = put(f, "trunc", buf, n);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), "promises 40 data bytes",
                "has 30");
    /* The same cut inside a gzip stream. */
    uint8_t full[64];
    n = idx_make(full, 8, 3, (uint32_t[]){10, 2, 2}, (uint8_t[40]){0}, 40);
    uLongf zl = sizeof buf;
    gzFile gz = gzopen(pth(f, "t.gz"), "wb");
    gzwrite(gz, full, (unsigned)n);
    gzclose(gz);
    FILE *in = fopen(pth(f, "t.gz"), "rb");
    zl = fread(buf, 1, sizeof buf, in);
    fclose(in);
    p = put(f, "cut.gz", buf, zl - 10); /* drop the trailer and more */
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), p, NULL);
}

static void idx_trailing_data(void **state)
{
    struct fx *f = *state;
    uint8_t buf[64], px[11] = {0};
    size_t n = idx_make(buf, 8, 2, (uint32_t[]){5, 2}, px, 11);
    const char *p = put(f, "long", buf, n);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), "more data than the 10 bytes",
                p);
}

static void idx_bad_magic(void **state)
{
    struct fx *f = *state;
    const char *p = put(f, "magic", "\x01\x02\x08\x01\0\0\0\x01\x05", 9);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), "not an IDX file", "01 02");
    /* A text file is not an IDX file either. */
    p = put_text(f, "text", "hello world\n");
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), "not an IDX file", p);
}

static void idx_bad_type(void **state)
{
    struct fx *f = *state;
    uint8_t buf[64];
    size_t n = idx_make(buf, 0x0D, 1, (uint32_t[]){1}, (uint8_t[4]){0}, 4);
    const char *p = put(f, "float", buf, n);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), "0x0D (32-bit float)",
                "expected 0x08");
    n = idx_make(buf, 0x07, 1, (uint32_t[]){1}, (uint8_t[1]){0}, 1);
    p = put(f, "weird", buf, n);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), "unknown IDX type code 0x07",
                p);
}

static void idx_bad_dimensions(void **state)
{
    struct fx *f = *state;
    uint8_t buf[64];
    /* Images of 5 dimensions, images of 0 dimensions. */
    size_t n = idx_make(buf, 8, 5, (uint32_t[]){1, 1, 1, 1, 1}, (uint8_t[1]){0}, 1);
    const char *p = put(f, "five", buf, n);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), "5 dimensions",
                "expected 1 to 4");
    n = idx_make(buf, 8, 0, NULL, NULL, 0);
    p = put(f, "zero", buf, n);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), "0 dimensions", NULL);
    /* Labels must have one dimension. */
    n = idx_make(buf, 8, 2, (uint32_t[]){4, 2}, (uint8_t[8]){0}, 8);
    p = put(f, "lbl2d", buf, n);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, good_images(f), p), "labels file",
                "2 dimensions, expected 1");
    /* A zero size. */
    n = idx_make(buf, 8, 3, (uint32_t[]){4, 0, 3}, NULL, 0);
    p = put(f, "zerodim", buf, n);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), "dimension 1 is 0", p);
}

static void idx_huge_header(void **state)
{
    struct fx *f = *state;
    /* Sizes whose product overflows, and sizes that promise 16 GB from a
     * 20-byte file: rejected without allocating that much. */
    uint8_t buf[64];
    size_t n = idx_make(buf, 8, 4, (uint32_t[]){0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 2},
                        NULL, 0);
    const char *p = put(f, "overflow", buf, n);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), "too large", p);
    n = idx_make(buf, 8, 2, (uint32_t[]){0x40000000, 16}, (uint8_t[4]){0}, 4);
    p = put(f, "liar", buf, n);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, p, NULL), "truncated", "has 4");
}

static void idx_count_mismatch(void **state)
{
    struct fx *f = *state;
    uint8_t buf[64];
    size_t n = idx_make(buf, 8, 1, (uint32_t[]){3}, (uint8_t[]){0, 1, 2}, 3);
    const char *l = put(f, "lbl3", buf, n);
    EXPECT_FAIL(f->ctx, nn_dataset_load_idx(f->ctx, good_images(f), l), "holds 4 samples",
                "holds 3");
}

static void idx_declared_classes(void **state)
{
    struct fx *f = *state;
    nn_dataset *ds = nn_dataset_load_idx(f->ctx, good_images(f), good_labels(f));
    assert_non_null(ds);
    assert_int_equal(nn_dataset_classes(ds), 3);
    nn_ctx_clear_error(f->ctx);
    assert_int_equal(nn_dataset_check_classes(ds, 2), NN_ERR_RANGE);
    expect_msg(f->ctx, "sample 2 has label 2", "expected 0..1");
    assert_int_equal(nn_dataset_classes(ds), 3);
    assert_ok(f->ctx, nn_dataset_check_classes(ds, 10));
    assert_int_equal(nn_dataset_classes(ds), 10);
    assert_int_equal(nn_dataset_check_classes(ds, 0), NN_ERR_INVALID);
    nn_dataset_free(ds);
}

static void idx_named_missing(void **state)
{
    struct fx *f = *state;
    EXPECT_FAIL(f->ctx, nn_dataset_load_named_in(f->ctx, f->dir, "fashion-mnist", "train"),
                "apt-get install dataset-fashion-mnist", "not installed");
    EXPECT_FAIL(f->ctx, nn_dataset_load_named(f->ctx, "cifar-1000", "train"),
                "unknown data set 'cifar-1000'", "fashion-mnist");
    EXPECT_FAIL(f->ctx, nn_dataset_load_named(f->ctx, "fashion-mnist", "valid"),
                "unknown split 'valid'", NULL);
}

/* Sum of the pixels of training image 0, read with zlib alone. */
static long zlib_image0_sum(const char *path)
{
    gzFile gz = gzopen(path, "rb");
    assert_non_null(gz);
    uint8_t b[16 + 784];
    assert_int_equal(gzread(gz, b, sizeof b), (int)sizeof b);
    gzclose(gz);
    assert_true(b[2] == 8 && b[3] == 3 && b[14] == 0 && b[15] == 28);
    long s = 0;
    for (int i = 16; i < 16 + 784; i++)
        s += b[i];
    return s;
}

static void fashion_mnist(void **state)
{
    struct fx *f = *state;
    const char *train_img = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
    if (access(train_img, R_OK) != 0)
        skip(); /* scripts/install-deps.sh installs dataset-fashion-mnist */
    FILE *rf = fopen(nn_test_path("data/fashion-mnist-ref.txt"), "r");
    assert_non_null(rf);
    long ref_label0, ref_sum0, ref_labels[10];
    long long ref_test_sum;
    assert_int_equal(fscanf(rf, "train0_label %ld\ntrain0_sum %ld\ntrain_labels10",
                            &ref_label0, &ref_sum0), 2);
    for (int i = 0; i < 10; i++)
        assert_int_equal(fscanf(rf, " %ld", &ref_labels[i]), 1);
    assert_int_equal(fscanf(rf, " test_sum %lld", &ref_test_sum), 1);
    fclose(rf);

    nn_dataset *tr = nn_dataset_load_named(f->ctx, "fashion-mnist", "train");
    if (!tr)
        fail_msg("%s", nn_ctx_error(f->ctx));
    nn_dataset *te = nn_dataset_load_named(f->ctx, "fashion-mnist", "test");
    assert_non_null(te);
    assert_int_equal(nn_dataset_size(tr), 60000);
    assert_int_equal(nn_dataset_size(te), 10000);
    assert_int_equal(nn_dataset_features(tr), 784);
    assert_int_equal(nn_dataset_classes(tr), 10);
    assert_string_equal(nn_dataset_class_name(tr, 0), "T-shirt/top");
    assert_string_equal(nn_dataset_class_name(tr, 9), "Ankle boot");

    enum { B = 500 };
    int64_t idx[B];
    int32_t y[B];
    float *x = malloc(sizeof(float) * B * 784);
    assert_non_null(x);
    long hist[10] = {0};
    for (int64_t s = 0; s < 60000; s += B) {
        for (int i = 0; i < B; i++)
            idx[i] = s + i;
        assert_ok(f->ctx, nn_dataset_gather(tr, idx, B, s == 0 ? x : NULL, y, NULL));
        if (s == 0) {
            double sum = 0;
            for (int j = 0; j < 784; j++)
                sum += x[j] * 255.0;
            assert_close(sum, (double)ref_sum0, 0, 0.01);
            assert_close(sum, (double)zlib_image0_sum(train_img), 0, 0.01);
            for (int i = 0; i < 10; i++)
                assert_int_equal(y[i], ref_labels[i]);
            assert_int_equal(y[0], ref_label0);
        }
        for (int i = 0; i < B; i++) {
            assert_true(y[i] >= 0 && y[i] < 10);
            hist[y[i]]++;
        }
    }
    for (int k = 0; k < 10; k++)
        assert_int_equal(hist[k], 6000);
    long long test_sum = 0;
    for (int64_t s = 0; s < 10000; s += B) {
        for (int i = 0; i < B; i++)
            idx[i] = s + i;
        assert_ok(f->ctx, nn_dataset_gather(te, idx, B, x, y, NULL));
        for (int i = 0; i < B * 784; i++)
            test_sum += (long long)lrintf(x[i] * 255.0f);
    }
    assert_true(test_sum == ref_test_sum);
    free(x);
    nn_dataset_free(tr);
    nn_dataset_free(te);
}

/* ---- CSV -------------------------------------------------------------------- */

static void csv_iris_fixture(void **state)
{
    struct fx *f = *state;
    nn_dataset *ds = nn_dataset_load_csv(f->ctx, nn_test_path("data/iris-mini.csv"),
                                         &(struct nn_csv_opts){.label = "species"});
    if (!ds)
        fail_msg("%s", nn_ctx_error(f->ctx));
    assert_int_equal(nn_dataset_size(ds), 9);
    assert_int_equal(nn_dataset_features(ds), 4);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_CLASS);
    assert_int_equal(nn_dataset_classes(ds), 3);
    assert_string_equal(nn_dataset_class_name(ds, 0), "setosa");
    assert_string_equal(nn_dataset_class_name(ds, 1), "versicolor");
    assert_string_equal(nn_dataset_class_name(ds, 2), "virginica");
    assert_null(nn_dataset_class_name(ds, 3));
    assert_string_equal(nn_dataset_feature_name(ds, 2), "petal length");
    /* Rows in file order: virginica, setosa, versicolor, ... */
    const int32_t want[9] = {2, 0, 1, 0, 2, 1, 0, 2, 1};
    const double col0[9] = {6.3, 5.1, 7.0, 4.9, 5.8, 6.4, 4.7, 7.1, 6.9};
    int64_t idx[9];
    for (int i = 0; i < 9; i++)
        idx[i] = i;
    float x[9 * 4];
    int32_t y[9];
    /* Default normalization: standard, fitted on the file. */
    struct nn_norm_stats ns;
    nn_dataset_norm_get(ds, &ns);
    assert_int_equal(ns.kind, NN_NORM_STANDARD);
    double mean = 0, var = 0;
    for (int i = 0; i < 9; i++)
        mean += col0[i] / 9;
    for (int i = 0; i < 9; i++)
        var += (col0[i] - mean) * (col0[i] - mean) / 9;
    assert_close(ns.shift[0], mean, 1e-6, 0);
    assert_close(ns.scale[0], 1 / sqrt(var), 1e-5, 0);
    assert_ok(f->ctx, nn_dataset_gather(ds, idx, 9, x, y, NULL));
    for (int i = 0; i < 9; i++) {
        assert_int_equal(y[i], want[i]);
        assert_close(x[i * 4], (col0[i] - mean) / sqrt(var), 1e-5, 1e-5);
    }
    /* Raw values with the normalization off. */
    assert_ok(f->ctx, nn_dataset_fit_norm(ds, NN_NORM_NONE));
    assert_ok(f->ctx, nn_dataset_gather(ds, idx, 9, x, NULL, NULL));
    assert_true(x[0] == 6.3f && x[3] == 2.5f && x[4 * 4 + 2] == 5.1f);
    nn_dataset_free(ds);
}

static nn_dataset *csv_text(struct fx *f, const char *text, const struct nn_csv_opts *o)
{
    return nn_dataset_load_csv(f->ctx, put_text(f, "t.csv", text), o);
}

static void csv_label_kinds(void **state)
{
    struct fx *f = *state;
    /* Integer labels by negative index: class indices, classes = max + 1. */
    nn_dataset *ds = csv_text(f, "a,b,y\n1,2,3\n3,4,0\n5,6,3\n", &(struct nn_csv_opts){.label = "-1"});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_CLASS);
    assert_int_equal(nn_dataset_classes(ds), 4);
    assert_null(nn_dataset_class_name(ds, 0));
    int32_t y[3];
    float t[6];
    assert_ok(f->ctx, nn_dataset_gather(ds, (int64_t[]){0, 1, 2}, 3, NULL, y, NULL));
    assert_true(y[0] == 3 && y[1] == 0 && y[2] == 3);
    nn_dataset_free(ds);
    /* Fractional labels: regression (auto), one target. */
    ds = csv_text(f, "y,a\n0.5,1\n1.5,2\n", &(struct nn_csv_opts){.label = "0"});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_TARGETS);
    assert_int_equal(nn_dataset_targets(ds), 1);
    assert_int_equal(nn_dataset_classes(ds), 0);
    assert_ok(f->ctx, nn_dataset_gather(ds, (int64_t[]){1, 0}, 2, NULL, y, t));
    assert_true(t[0] == 1.5f && t[1] == 0.5f);
    nn_dataset_free(ds);
    /* Integer labels forced to regression; two target columns. */
    ds = csv_text(f, "a,y1,b,y2\n1,2,3,4\n5,6,7,8\n",
                  &(struct nn_csv_opts){.label = "y2, y1", .task = NN_CSV_REGRESS});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_targets(ds), 2);
    assert_int_equal(nn_dataset_features(ds), 2);
    assert_string_equal(nn_dataset_feature_name(ds, 1), "b");
    assert_ok(f->ctx, nn_dataset_gather(ds, (int64_t[]){1}, 1, NULL, NULL, t));
    assert_true(t[0] == 8.0f && t[1] == 6.0f);
    nn_dataset_free(ds);
    /* Fractional labels forced to classification: sorted names. */
    ds = csv_text(f, "a,y\n1,0.5\n2,-1\n3,0.5\n",
                  &(struct nn_csv_opts){.label = "y", .task = NN_CSV_CLASSIFY});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_classes(ds), 2);
    assert_string_equal(nn_dataset_class_name(ds, 0), "-1");
    assert_ok(f->ctx, nn_dataset_gather(ds, (int64_t[]){0, 1, 2}, 3, NULL, y, NULL));
    assert_true(y[0] == 1 && y[1] == 0 && y[2] == 1);
    nn_dataset_free(ds);
    /* Large integers (>= 1000) in auto mode are a regression target. */
    ds = csv_text(f, "a,y\n1,5000\n2,7\n", &(struct nn_csv_opts){.label = "y"});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_TARGETS);
    nn_dataset_free(ds);
}

static void csv_features_only_and_no_header(void **state)
{
    struct fx *f = *state;
    /* Inputs to predict: no label column. Quoted fields, a tab delimiter. */
    nn_dataset *ds = csv_text(f, "a\tb\n\"1.5\"\t 2\n3\t4e1\n",
                              &(struct nn_csv_opts){.delimiter = '\t'});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_NONE);
    assert_int_equal(nn_dataset_features(ds), 2);
    assert_ok(f->ctx, nn_dataset_fit_norm(ds, NN_NORM_NONE));
    float x[4];
    assert_ok(f->ctx, nn_dataset_gather(ds, (int64_t[]){0, 1}, 2, x, NULL, NULL));
    assert_true(x[0] == 1.5f && x[1] == 2.0f && x[2] == 3.0f && x[3] == 40.0f);
    nn_dataset_free(ds);
    /* No header: the first row is data, the label is by index. */
    ds = csv_text(f, "7,1,2\n8,0,3\n", &(struct nn_csv_opts){.label = "1", .no_header = true});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_size(ds), 2);
    assert_int_equal(nn_dataset_classes(ds), 2);
    assert_null(nn_dataset_feature_name(ds, 0));
    assert_ok(f->ctx, nn_dataset_fit_norm(ds, NN_NORM_NONE));
    int32_t y[2];
    assert_ok(f->ctx, nn_dataset_gather(ds, (int64_t[]){0, 1}, 2, x, y, NULL));
    assert_true(x[0] == 7.0f && x[1] == 2.0f && y[0] == 1 && y[1] == 0);
    nn_dataset_free(ds);
    /* gzip-compressed CSV. */
    gzFile gz = gzopen(pth(f, "c.csv.gz"), "wb");
    gzputs(gz, "p,q\n1,2\n");
    gzclose(gz);
    ds = nn_dataset_load_csv(f->ctx, pth(f, "c.csv.gz"), NULL);
    assert_non_null(ds);
    assert_int_equal(nn_dataset_features(ds), 2);
    nn_dataset_free(ds);
}

static void csv_missing_file(void **state)
{
    struct fx *f = *state;
    const char *p = pth(f, "none.csv");
    EXPECT_FAIL(f->ctx, nn_dataset_load_csv(f->ctx, p, NULL), p, "cannot open");
}

static void csv_ragged_rows(void **state)
{
    struct fx *f = *state;
    /* CRLF ends, a blank line and a quoted newline before the bad row: the
     * line number must still be the physical line. */
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b,y\r\n1,2,\"x\ny\"\r\n\r\n3,4\r\n",
                                 &(struct nn_csv_opts){.label = "y"}),
                "t.csv line 5: 2 fields, expected 3", "header");
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b\n1,2\n3,4,5\n", NULL), "line 3: 3 fields", NULL);
    /* A field value with a newline is quoted in the message on one line. */
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b\n1,\"x\ny\"\n", NULL), "line 2, column 2",
                "'x?y' is not a number");
}

static void csv_non_numeric(void **state)
{
    struct fx *f = *state;
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b,y\n1,2,0\n1,abc,1\n", &(struct nn_csv_opts){.label = "y"}),
                "line 3, column 2 ('b')", "'abc' is not a number");
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b\n1,2x\n", NULL), "line 2, column 2", "'2x'");
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b\n1,\n", NULL), "line 2, column 2", "empty field");
    /* A forced regression target that is not a number. */
    EXPECT_FAIL(f->ctx, csv_text(f, "a,y\n1,2\n2,cat\n",
                                 &(struct nn_csv_opts){.label = "y", .task = NN_CSV_REGRESS}),
                "line 3, column 2 ('y')", "target 'cat' is not a number");
}

static void csv_nan_inf(void **state)
{
    struct fx *f = *state;
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b\n1,2\n3,nan\n", NULL), "line 3, column 2 ('b')",
                "not a finite");
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b\n-inf,2\n", NULL), "line 2, column 1 ('a')",
                "'-inf'");
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b\n1e39,2\n", NULL), "line 2, column 1", "finite");
    EXPECT_FAIL(f->ctx, csv_text(f, "a,y\n1,2\n2,inf\n",
                                 &(struct nn_csv_opts){.label = "y", .task = NN_CSV_REGRESS}),
                "line 3", "not a finite");
}

static void csv_empty_and_header_only(void **state)
{
    struct fx *f = *state;
    EXPECT_FAIL(f->ctx, csv_text(f, "", NULL), "t.csv: empty file", NULL);
    EXPECT_FAIL(f->ctx, csv_text(f, "\n\n", NULL), "empty file", NULL);
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b,label\n", &(struct nn_csv_opts){.label = "label"}),
                "no data rows after the header", NULL);
}

static void csv_label_missing(void **state)
{
    struct fx *f = *state;
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b\n1,2\n", &(struct nn_csv_opts){.label = "class"}),
                "label column 'class' not found", "columns: a, b");
    /* Header names with control characters are listed on one line (a fuzzer
     * finding). */
    EXPECT_FAIL(f->ctx, csv_text(f, "\"a\nb\",c\n1,2\n", &(struct nn_csv_opts){.label = "y"}),
                "columns: a?b, c", NULL);
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b\n1,2\n", &(struct nn_csv_opts){.label = "2"}),
                "index 2 is out of range for 2 columns", NULL);
    EXPECT_FAIL(f->ctx, csv_text(f, "1,2\n", &(struct nn_csv_opts){.label = "y", .no_header = true}),
                "label column 'y' not found", "no header");
    EXPECT_FAIL(f->ctx, csv_text(f, "a\n1\n", &(struct nn_csv_opts){.label = "a"}),
                "no feature columns", NULL);
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b,c\n1,2,3\n",
                                 &(struct nn_csv_opts){.label = "b,c", .task = NN_CSV_CLASSIFY}),
                "2 label columns", "classification takes one");
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b,y\n1,2,\n", &(struct nn_csv_opts){.label = "y",
                                                                          .task = NN_CSV_CLASSIFY}),
                "line 2, column 3 ('y')", "empty label");
}

static void csv_bad_quotes(void **state)
{
    struct fx *f = *state;
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b\n1,2\n3,\"4\"x\n", NULL), "line 3", "quote");
    EXPECT_FAIL(f->ctx, csv_text(f, "a,b\n1,\"2\n", NULL), "not closed", NULL);
}

/* ---- images --------------------------------------------------------------- */

/* The generator's pixel formula. */
static int gen_px(int k, int y, int x) { return (x * 40 + y * 70 + k * 90) % 256; }

static void images_fixture_folder(void **state)
{
    struct fx *f = *state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s", nn_test_path("data/images"));
    nn_dataset *ds = nn_dataset_load_images(f->ctx, dir, NULL);
    if (!ds)
        fail_msg("%s", nn_ctx_error(f->ctx));
    int64_t d[NN_MAX_DIMS];
    assert_int_equal(nn_dataset_shape(ds, d), 3);
    assert_true(d[0] == 3 && d[1] == 3 && d[2] == 4); /* RGB of the first image */
    assert_int_equal(nn_dataset_size(ds), 5);
    assert_int_equal(nn_dataset_classes(ds), 2);
    assert_string_equal(nn_dataset_class_name(ds, 0), "circle");
    assert_string_equal(nn_dataset_class_name(ds, 1), "square");
    assert_ok(f->ctx, nn_dataset_fit_norm(ds, NN_NORM_NONE));
    float x[5 * 36];
    int32_t y[5];
    assert_ok(f->ctx, nn_dataset_gather(ds, (int64_t[]){0, 1, 2, 3, 4}, 5, x, y, NULL));
    /* circle/a.png, circle/b.bmp, square/a.png (grey), b.pgm (grey), c.png (RGBA). */
    const int32_t want_y[5] = {0, 0, 1, 1, 1};
    const bool grey[5] = {false, false, true, true, false};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(y[i], want_y[i]);
        for (int k = 0; k < 3; k++)
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 4; c++)
                    if (x[i * 36 + k * 12 + r * 4 + c] != (float)gen_px(grey[i] ? 0 : k, r, c))
                        fail_msg("image %d (%d, %d, %d) = %g, expected %d", i, k, r, c,
                                 (double)x[i * 36 + k * 12 + r * 4 + c],
                                 gen_px(grey[i] ? 0 : k, r, c));
    }
    nn_dataset_free(ds);
    /* Forced grey: one channel. */
    ds = nn_dataset_load_images(f->ctx, dir, &(struct nn_image_opts){.channels = 1});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_features(ds), 12);
    nn_dataset_free(ds);
}

/* A binary PGM of w x h, all pixels v. */
static void put_pgm(const struct fx *f, const char *name, int w, int h, int v)
{
    char head[64];
    int n = snprintf(head, sizeof head, "P5\n%d %d\n255\n", w, h);
    uint8_t *b = malloc((size_t)n + (size_t)(w * h));
    memcpy(b, head, (size_t)n);
    memset(b + n, v, (size_t)(w * h));
    put(f, name, b, (size_t)n + (size_t)(w * h));
    free(b);
}

static void images_not_an_image(void **state)
{
    struct fx *f = *state;
    mkdir_in(f, "a");
    mkdir_in(f, "b");
    put_pgm(f, "a/1.pgm", 2, 2, 10);
    put_text(f, "b/notes.txt", "not a picture\n");
    EXPECT_FAIL(f->ctx, nn_dataset_load_images(f->ctx, f->dir, NULL), "b/notes.txt",
                "not an image");
    /* A PNG signature with garbage after it. */
    unlink(pth(f, "b/notes.txt"));
    put(f, "b/bad.png", "\x89PNG\r\n\x1a\n\0\0\0\0garbage", 20);
    EXPECT_FAIL(f->ctx, nn_dataset_load_images(f->ctx, f->dir, NULL), "b/bad.png", "PNG");
}

/* Fuzzer findings in stb_image 2.27, guarded in image.c. */
static void images_hostile_files(void **state)
{
    struct fx *f = *state;
    /* A JPEG Huffman table declaring 16 x 32 = 512 codes: stb would write
     * past its 256-entry table. */
    uint8_t jpg[4 + 4 + 17 + 2] = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x02, 0xFF, 0xC4, 0x00, 0x13};
    jpg[10] = 0x00; /* class 0, table 0 */
    for (int i = 0; i < 16; i++)
        jpg[11 + i] = 0x20;
    int64_t d[3];
    const char *p = put(f, "dht.jpg", jpg, 4 + 2 + 2 + 2 + 17);
    nn_ctx_clear_error(f->ctx);
    assert_null(nn_image_load_file(f->ctx, p, NULL, d));
    expect_msg(f->ctx, "dht.jpg", "more than 256 codes");
    /* The same table hidden behind junk bytes and a truncated segment. */
    uint8_t jpg2[32] = {0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x02, 0x12, 0x34,
                        0xFF, 0xC4, 0x7F, 0xFF, 0x10};
    for (int i = 0; i < 10; i++)
        jpg2[13 + i] = 0xFF;
    p = put(f, "dht2.jpg", jpg2, 23);
    nn_ctx_clear_error(f->ctx);
    assert_null(nn_image_load_file(f->ctx, p, NULL, d));
    expect_msg(f->ctx, "dht2.jpg", "more than 256 codes");
    /* A PNM whose width overflows a 32-bit int. */
    p = put_text(f, "wide.pgm", "P5\n44000000000 3\n255\n");
    nn_ctx_clear_error(f->ctx);
    assert_null(nn_image_load_file(f->ctx, p, NULL, d));
    expect_msg(f->ctx, "wide.pgm", "corrupt PNM header");
    /* A PNG whose data chunk claims 2 GB (stb would allocate it). */
    const uint8_t bigidat[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                               0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 4, 0, 0, 0, 3,
                               8, 2, 0, 0, 0, 0, 0, 0, 0,
                               0x7f, 0xff, 0xff, 0xf0, 'I', 'D', 'A', 'T', 0x78, 0xda};
    p = put(f, "big.png", bigidat, sizeof bigidat);
    nn_ctx_clear_error(f->ctx);
    assert_null(nn_image_load_file(f->ctx, p, NULL, d));
    expect_msg(f->ctx, "big.png", "runs past the end");
    /* A 16-bit PNM. */
    p = put(f, "deep.pgm", "P5\n1 1\n65535\n\x01\x02", 16);
    nn_ctx_clear_error(f->ctx);
    assert_null(nn_image_load_file(f->ctx, p, &(struct nn_image_opts){.channels = 3}, d));
    expect_msg(f->ctx, "deep.pgm", "16-bit PNM (maximum value 65535)");
    /* A PNG with a critical chunk named by control bytes: stb quotes the
     * name in its reason; the message must stay on one line. */
    const uint8_t png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n',
                           0, 0, 0, 13, 'I', 'H', 'D', 'R', 0, 0, 0, 4, 0, 0, 0, 3,
                           8, 2, 0, 0, 0, 0, 0, 0, 0,
                           0, 0, 0, 0, '\n', '\n', '\n', '\n', 0, 0, 0, 0};
    p = put(f, "chunk.png", png, sizeof png);
    nn_ctx_clear_error(f->ctx);
    assert_null(nn_image_load_file(f->ctx, p, NULL, d));
    expect_msg(f->ctx, "chunk.png", "????");
}

static void images_sizes_differ(void **state)
{
    struct fx *f = *state;
    mkdir_in(f, "a");
    mkdir_in(f, "b");
    put_pgm(f, "a/1.pgm", 4, 2, 10);
    put_pgm(f, "b/1.pgm", 4, 2, 20);
    put_pgm(f, "b/2.pgm", 6, 3, 30);
    EXPECT_FAIL(f->ctx, nn_dataset_load_images(f->ctx, f->dir, NULL), "b/2.pgm",
                "image is 6 x 3, expected 4 x 2");
    /* With resizing, every image gets the first one's size. */
    nn_dataset *ds = nn_dataset_load_images(f->ctx, f->dir, &(struct nn_image_opts){.resize = true});
    assert_non_null(ds);
    int64_t d[NN_MAX_DIMS];
    nn_dataset_shape(ds, d);
    assert_true(d[0] == 1 && d[1] == 2 && d[2] == 4);
    float x[8];
    assert_ok(f->ctx, nn_dataset_row(ds, 2, x));
    for (int i = 0; i < 8; i++)
        assert_close(x[i], 30 / 255.0, 1e-6, 0); /* a flat image stays flat */
    nn_dataset_free(ds);
    /* The same area transposed (2 x 4 against 4 x 2) still resizes (a
     * fuzzer finding: the destination was not allocated). */
    put_pgm(f, "b/3.pgm", 2, 4, 40);
    ds = nn_dataset_load_images(f->ctx, f->dir, &(struct nn_image_opts){.resize = true});
    assert_non_null(ds);
    assert_ok(f->ctx, nn_dataset_row(ds, 3, x));
    for (int i = 0; i < 8; i++)
        assert_close(x[i], 40 / 255.0, 1e-6, 0);
    nn_dataset_free(ds);
    unlink(pth(f, "b/3.pgm"));
    /* A fixed size given in the options. */
    ds = nn_dataset_load_images(f->ctx, f->dir,
                                &(struct nn_image_opts){.width = 3, .height = 5, .channels = 3,
                                                        .resize = true});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_features(ds), 45);
    nn_dataset_free(ds);
    EXPECT_FAIL(f->ctx, nn_dataset_load_images(f->ctx, f->dir,
                                               &(struct nn_image_opts){.width = 3}),
                "give both width and height", NULL);
}

static void images_empty_and_one_class(void **state)
{
    struct fx *f = *state;
    EXPECT_FAIL(f->ctx, nn_dataset_load_images(f->ctx, f->dir, NULL), "no class folders", f->dir);
    put_pgm(f, "stray.pgm", 2, 2, 1); /* files at the top are not classes */
    mkdir_in(f, "only");
    put_pgm(f, "only/1.pgm", 2, 2, 1);
    EXPECT_FAIL(f->ctx, nn_dataset_load_images(f->ctx, f->dir, NULL), "only one class folder",
                "'only'");
    mkdir_in(f, "void");
    EXPECT_FAIL(f->ctx, nn_dataset_load_images(f->ctx, f->dir, NULL), "class folder 'void'",
                "no image files");
    const char *p = pth(f, "missing");
    EXPECT_FAIL(f->ctx, nn_dataset_load_images(f->ctx, p, NULL), p, "cannot open folder");
}

static void image_single_file(void **state)
{
    struct fx *f = *state;
    char png[512];
    snprintf(png, sizeof png, "%s", nn_test_path("data/images/circle/a.png"));
    int64_t d[3];
    float *x = nn_image_load_file(f->ctx, png, NULL, d);
    assert_non_null(x);
    assert_true(d[0] == 3 && d[1] == 3 && d[2] == 4);
    for (int k = 0; k < 3; k++)
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++)
                assert_true(x[k * 12 + r * 4 + c] == (float)gen_px(k, r, c));
    free(x);
    x = nn_image_load_file(f->ctx, png, &(struct nn_image_opts){.width = 8, .height = 6, .resize = true}, d);
    assert_non_null(x);
    assert_true(d[0] == 3 && d[1] == 6 && d[2] == 8);
    free(x);
    nn_ctx_clear_error(f->ctx);
    assert_null(nn_image_load_file(f->ctx, png, &(struct nn_image_opts){.width = 8, .height = 6}, d));
    expect_msg(f->ctx, "image is 4 x 3, expected 8 x 6", "a.png");
    const char *txt = put_text(f, "x.txt", "hello");
    assert_null(nn_image_load_file(f->ctx, txt, NULL, d));
    expect_msg(f->ctx, txt, "not an image");
    /* A list of files for prediction, with its normalization set. */
    const char *paths[2] = {png, png};
    nn_dataset *ds = nn_dataset_load_image_files(f->ctx, paths, 2, NULL);
    assert_non_null(ds);
    assert_int_equal(nn_dataset_label_kind(ds), NN_LABELS_NONE);
    float row[36];
    assert_ok(f->ctx, nn_dataset_row(ds, 1, row));
    assert_close(row[5], gen_px(0, 1, 1) / 255.0, 1e-6, 0);
    nn_dataset_free(ds);
}

static void image_resize_values(void **state)
{
    (void)state;
    /* Enlarging 1 x 2 -> 1 x 4 is bilinear with pixel centres aligned:
     * 0, 25, 75, 100 (as PyTorch's align_corners=False). */
    uint8_t a[2] = {0, 100}, b[4];
    assert_true(nn_image_resize(a, 1, 1, 2, b, 1, 4));
    assert_true(b[0] == 0 && b[1] == 25 && b[2] == 75 && b[3] == 100);
    /* Shrinking 1 x 4 -> 1 x 2 widens the triangle to radius 2: output 0
     * sits at 0.5 and reads pixels 0, 1, 2 with weights .75 .75 .25. */
    uint8_t c[4] = {0, 100, 200, 250}, e[2];
    assert_true(nn_image_resize(c, 1, 1, 4, e, 1, 2));
    assert_int_equal(e[0], (int)lround((100 * .75 + 200 * .25) / 1.75));
    assert_int_equal(e[1], (int)lround((100 * .25 + 200 * .75 + 250 * .75) / 1.75));
    /* A flat two-channel image stays flat at any size. */
    uint8_t flat[2 * 5 * 7], out[2 * 3 * 11];
    memset(flat, 77, 35);
    memset(flat + 35, 200, 35);
    assert_true(nn_image_resize(flat, 2, 5, 7, out, 3, 11));
    for (int i = 0; i < 33; i++)
        assert_true(out[i] == 77 && out[33 + i] == 200);
}

/* ---- the data set type ------------------------------------------------------- */

/* Named classes renumbered to another set's order; unknown names refused. */
static void map_classes(void **state)
{
    struct fx *f = *state;
    char path[512];
    snprintf(path, sizeof path, "%s/map.csv", f->dir);
    FILE *o = fopen(path, "w");
    fprintf(o, "a,kind\n1,virginica\n2,setosa\n3,virginica\n");
    fclose(o);
    nn_dataset *ds = nn_dataset_load_csv(f->ctx, path, &(struct nn_csv_opts){.label = "kind"});
    assert_non_null(ds);
    assert_int_equal(nn_dataset_classes(ds), 2); /* setosa 0, virginica 1 on its own */
    const char *names[3] = {"setosa", "versicolor", "virginica"};
    assert_ok(f->ctx, nn_dataset_map_classes(ds, names, 3));
    assert_int_equal(nn_dataset_classes(ds), 3);
    assert_string_equal(nn_dataset_class_name(ds, 2), "virginica");
    int32_t y[3];
    assert_ok(f->ctx, nn_dataset_gather(ds, (int64_t[]){0, 1, 2}, 3, NULL, y, NULL));
    assert_true(y[0] == 2 && y[1] == 0 && y[2] == 2);
    const char *other[2] = {"setosa", "lily"};
    assert_int_equal(nn_dataset_map_classes(ds, other, 2), NN_ERR_RANGE);
    expect_msg(f->ctx, "'versicolor'", NULL); /* the first name not among them */
    assert_string_equal(nn_dataset_class_name(ds, 1), "versicolor"); /* unchanged */
    nn_dataset_free(ds);
}

static void arrays_and_gather(void **state)
{
    struct fx *f = *state;
    float x[6] = {1, 2, 3, 4, 5, 6};
    int32_t lab[3] = {2, 0, 1};
    nn_dataset *ds = nn_dataset_from_arrays(f->ctx, &(struct nn_array_data){
        .n = 3, .ndim = 1, .dims = (int64_t[]){2}, .x = x, .labels = lab});
    assert_non_null(ds);
    x[0] = 99; /* copied */
    assert_int_equal(nn_dataset_classes(ds), 3);
    float o[4] = {-1, -1, -1, -1};
    int32_t y[2];
    assert_ok(f->ctx, nn_dataset_gather(ds, (int64_t[]){2, 0}, 2, o, y, NULL));
    assert_true(o[0] == 5 && o[1] == 6 && o[2] == 1 && o[3] == 2 && y[0] == 1 && y[1] == 2);
    float keep[4];
    memcpy(keep, o, sizeof o);
    nn_ctx_clear_error(f->ctx);
    assert_int_equal(nn_dataset_gather(ds, (int64_t[]){0, 3}, 2, o, y, NULL), NN_ERR_RANGE);
    expect_msg(f->ctx, "index 3 out of range [0, 3)", NULL);
    assert_memory_equal(o, keep, sizeof o); /* nothing written */
    assert_int_equal(nn_dataset_gather(ds, (int64_t[]){-1}, 1, o, y, NULL), NN_ERR_RANGE);
    /* prefetching is only a hint: indices out of range are skipped, and the
     * data set's contents are unchanged */
    nn_dataset_prefetch(ds, (int64_t[]){2, -1, 3, 1 << 30, 0}, 5);
    assert_ok(f->ctx, nn_dataset_gather(ds, (int64_t[]){2, 0}, 2, o, y, NULL));
    assert_true(o[0] == 5 && o[1] == 6 && o[2] == 1 && o[3] == 2);
    nn_dataset_free(ds);

    x[0] = NAN;
    EXPECT_FAIL(f->ctx, nn_dataset_from_arrays(f->ctx, &(struct nn_array_data){
                    .n = 3, .ndim = 1, .dims = (int64_t[]){2}, .x = x}),
                "x[0]", "finite");
    x[0] = 1;
    lab[1] = -3;
    EXPECT_FAIL(f->ctx, nn_dataset_from_arrays(f->ctx, &(struct nn_array_data){
                    .n = 3, .ndim = 1, .dims = (int64_t[]){2}, .x = x, .labels = lab}),
                "sample 1 is -3", NULL);
    lab[1] = 0;
    EXPECT_FAIL(f->ctx, nn_dataset_from_arrays(f->ctx, &(struct nn_array_data){
                    .n = 3, .ndim = 1, .dims = (int64_t[]){2}, .x = x, .labels = lab,
                    .classes = 2}),
                "sample 0 is 2", "expected 0..1");
    EXPECT_FAIL(f->ctx, nn_dataset_from_arrays(f->ctx, &(struct nn_array_data){
                    .n = 3, .ndim = 1, .dims = (int64_t[]){2}, .x = x, .labels = lab,
                    .targets = x, .ntargets = 1}),
                "not both", NULL);
    /* Regression targets. */
    float tg[6] = {1, 2, 3, 4, 5, 6}, to[2];
    ds = nn_dataset_from_arrays(f->ctx, &(struct nn_array_data){
        .n = 3, .ndim = 1, .dims = (int64_t[]){2}, .x = x, .targets = tg, .ntargets = 2});
    assert_non_null(ds);
    assert_ok(f->ctx, nn_dataset_gather(ds, (int64_t[]){1}, 1, NULL, y, to));
    assert_true(to[0] == 3 && to[1] == 4);
    nn_dataset_free(ds);
}

static void normalization(void **state)
{
    struct fx *f = *state;
    /* Feature 0 varies, feature 1 is constant. */
    float x[8] = {1, 5, 2, 5, 4, 5, 9, 5};
    nn_dataset *ds = nn_dataset_from_arrays(f->ctx, &(struct nn_array_data){
        .n = 4, .ndim = 1, .dims = (int64_t[]){2}, .x = x});
    assert_non_null(ds);
    struct nn_norm_stats ns;
    nn_dataset_norm_get(ds, &ns);
    assert_int_equal(ns.kind, NN_NORM_NONE);
    assert_ok(f->ctx, nn_dataset_fit_norm(ds, NN_NORM_STANDARD));
    nn_dataset_norm_get(ds, &ns);
    double var = ((1 - 4.) * (1 - 4.) + 4 + 0 + 25) / 4;
    assert_close(ns.shift[0], 4.0, 1e-7, 0);
    assert_close(ns.scale[0], 1 / sqrt(var), 1e-6, 0);
    assert_true(ns.shift[1] == 5.0f && ns.scale[1] == 1.0f); /* std 0 -> 1 */
    assert_ok(f->ctx, nn_dataset_fit_norm(ds, NN_NORM_MINMAX));
    nn_dataset_norm_get(ds, &ns);
    assert_true(ns.shift[0] == 1.0f && ns.scale[0] == 1.0f / 8 && ns.scale[1] == 1.0f);
    float o[8];
    int64_t all[4] = {0, 1, 2, 3};
    assert_ok(f->ctx, nn_dataset_gather(ds, all, 4, o, NULL, NULL));
    assert_true(o[0] == 0.0f && o[6] == 1.0f && o[1] == 0.0f);
    /* nn_norm_apply computes what gather does. */
    float raw[8];
    memcpy(raw, x, sizeof raw);
    nn_norm_apply(&ns, raw, 4);
    assert_memory_equal(raw, o, sizeof o);
    /* Export and re-import into another set. */
    nn_dataset *other = nn_dataset_from_arrays(f->ctx, &(struct nn_array_data){
        .n = 4, .ndim = 1, .dims = (int64_t[]){2}, .x = x});
    assert_ok(f->ctx, nn_dataset_norm_set(other, &ns));
    float o2[8];
    assert_ok(f->ctx, nn_dataset_gather(other, all, 4, o2, NULL, NULL));
    assert_memory_equal(o, o2, sizeof o);
    struct nn_norm_stats got;
    nn_dataset_norm_get(other, &got);
    assert_int_equal(got.kind, NN_NORM_MINMAX);
    /* Bad statistics. */
    float sh[3] = {0, 0, 0}, sc[3] = {1, 0, 1};
    assert_int_equal(nn_dataset_norm_set(other, &(struct nn_norm_stats){
                         NN_NORM_STANDARD, 3, sh, sc}), NN_ERR_SHAPE);
    expect_msg(f->ctx, "3 features", "have 2");
    assert_int_equal(nn_dataset_norm_set(other, &(struct nn_norm_stats){
                         NN_NORM_STANDARD, 2, sh, sc}), NN_ERR_NUMERIC);
    expect_msg(f->ctx, "feature 1", "non-zero scale");
    sc[1] = INFINITY;
    assert_int_equal(nn_dataset_norm_set(other, &(struct nn_norm_stats){
                         NN_NORM_STANDARD, 2, sh, sc}), NN_ERR_NUMERIC);
    assert_int_equal(nn_dataset_fit_norm(other, (nn_norm_kind)42), NN_ERR_INVALID);
    /* Names. */
    assert_int_equal(nn_norm_parse("minmax"), NN_NORM_MINMAX);
    assert_int_equal(nn_norm_parse("zscore"), -1);
    assert_string_equal(nn_norm_name(NN_NORM_SCALE255), "scale255");
    assert_ok(f->ctx, nn_dataset_fit_norm(other, NN_NORM_SCALE255));
    assert_ok(f->ctx, nn_dataset_gather(other, all, 1, o2, NULL, NULL));
    assert_close(o2[1], 5 / 255.0, 1e-6, 0);
    nn_dataset_free(ds);
    nn_dataset_free(other);
}

static void split_views(void **state)
{
    struct fx *f = *state;
    enum { N = 100 };
    float x[N];
    int32_t lab[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i;
        lab[i] = i % 3;
    }
    nn_dataset *ds = nn_dataset_from_arrays(f->ctx, &(struct nn_array_data){
        .n = N, .ndim = 1, .dims = (int64_t[]){1}, .x = x, .labels = lab});
    assert_ok(f->ctx, nn_dataset_fit_norm(ds, NN_NORM_STANDARD));
    nn_dataset *tr, *va, *tr2, *va2, *tr3, *va3;
    assert_ok(f->ctx, nn_dataset_split(ds, 0.25f, 7, &tr, &va));
    assert_ok(f->ctx, nn_dataset_split(ds, 0.25f, 7, &tr2, &va2));
    assert_ok(f->ctx, nn_dataset_split(ds, 0.25f, 8, &tr3, &va3));
    nn_dataset_free(ds); /* the views keep the rows alive */
    assert_int_equal(nn_dataset_size(tr), 75);
    assert_int_equal(nn_dataset_size(va), 25);
    assert_int_equal(nn_dataset_classes(tr), 3);
    /* Raw values through the views: a partition of 0..N-1, the same for
     * the same seed, another order for another seed. */
    struct nn_norm_stats ns, nv;
    nn_dataset_norm_get(tr, &ns);
    nn_dataset_norm_get(va, &nv);
    assert_int_equal(ns.kind, NN_NORM_STANDARD);
    float shift = ns.shift[0], scale = ns.scale[0];
    assert_true(nv.shift[0] == shift && nv.scale[0] == scale); /* the training stats */
    int64_t idx[N];
    for (int i = 0; i < N; i++)
        idx[i] = i;
    float a[75], b[25], a2[75], a3[75];
    int32_t ya[75];
    assert_ok(f->ctx, nn_dataset_gather(tr, idx, 75, a, ya, NULL));
    assert_ok(f->ctx, nn_dataset_gather(va, idx, 25, b, NULL, NULL));
    assert_ok(f->ctx, nn_dataset_gather(tr2, idx, 75, a2, NULL, NULL));
    assert_ok(f->ctx, nn_dataset_gather(tr3, idx, 75, a3, NULL, NULL));
    assert_memory_equal(a, a2, sizeof a);
    assert_memory_not_equal(a, a3, sizeof a);
    int seen[N] = {0};
    double mean = 0, var = 0;
    for (int i = 0; i < 100; i++) {
        float v = i < 75 ? a[i] : b[i - 75];
        int k = (int)lrint(v / scale + shift);
        assert_true(k >= 0 && k < N);
        seen[k]++;
        if (i < 75) {
            assert_int_equal(ya[i], k % 3); /* labels travel with their rows */
            mean += k / 75.0;
        }
    }
    for (int k = 0; k < N; k++)
        assert_int_equal(seen[k], 1);
    for (int i = 0; i < 75; i++) {
        double k = lrint(a[i] / scale + shift);
        var += (k - mean) * (k - mean) / 75;
    }
    assert_close(shift, mean, 1e-6, 0); /* fitted on the training part only */
    assert_close(scale, 1 / sqrt(var), 1e-5, 0);
    /* A subset of a view, and bad requests. */
    nn_dataset *sub = nn_dataset_subset(tr, (int64_t[]){74, 0}, 2);
    float s2[2];
    assert_ok(f->ctx, nn_dataset_gather(sub, (int64_t[]){0, 1}, 2, s2, NULL, NULL));
    assert_true(s2[0] == a[74] && s2[1] == a[0]);
    nn_dataset_free(sub);
    assert_null(nn_dataset_subset(tr, (int64_t[]){75}, 1));
    nn_dataset_free(tr2);
    nn_dataset_free(va2);
    assert_int_equal(nn_dataset_split(tr, 0.0f, 1, &tr2, &va2), NN_ERR_INVALID);
    assert_int_equal(nn_dataset_split(tr, 1.0f, 1, &tr2, &va2), NN_ERR_INVALID);
    assert_null(tr2);
    assert_int_equal(nn_dataset_split(tr, 0.001f, 1, &tr2, &va2), NN_ERR_INVALID);
    expect_msg(f->ctx, "leaves 0 for validation", NULL);
    nn_dataset_free(tr);
    nn_dataset_free(va);
    nn_dataset_free(tr3);
    nn_dataset_free(va3);
}

NN_GROUP(data,
         T(idx_fixture_gzip_and_raw), T(idx_missing_file), T(idx_empty_file),
         T(idx_truncated_header), T(idx_truncated_data), T(idx_trailing_data),
         T(idx_bad_magic), T(idx_bad_type), T(idx_bad_dimensions), T(idx_huge_header),
         T(idx_count_mismatch), T(idx_declared_classes), T(idx_named_missing),
         T(fashion_mnist),
         T(csv_iris_fixture), T(csv_label_kinds), T(csv_features_only_and_no_header),
         T(csv_missing_file), T(csv_ragged_rows), T(csv_non_numeric), T(csv_nan_inf),
         T(csv_empty_and_header_only), T(csv_label_missing), T(csv_bad_quotes),
         T(images_fixture_folder), T(images_not_an_image), T(images_hostile_files),
         T(images_sizes_differ),
         T(images_empty_and_one_class), T(image_single_file), T(image_resize_values),
         T(arrays_and_gather), T(map_classes), T(normalization), T(split_views))
