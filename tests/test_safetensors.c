/*
 * test_safetensors.c - the safetensors reader and atomic writer: round
 * trips, the exact byte layout of a tiny file, one crafted file per kind of
 * corruption the reader must reject, the writer's argument checks, atomic
 * replacement under injected write and rename failures, and a check of a
 * written file by an independent reader (tests/check_safetensors.py with
 * numpy).
 */
#include "test.h"

#include "io/io.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define PYTHON "/usr/bin/python3"

/* ---- fixture: a fresh directory and context per test -------------------- */

struct fx {
    char dir[64];
    char path[320]; /* scratch for fpath */
    nn_ctx *ctx;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/nn_st_XXXXXX");
    if (!mkdtemp(f->dir) || !(f->ctx = nn_ctx_new(NULL))) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    DIR *d = opendir(f->dir);
    if (d) {
        struct dirent *e;
        char p[600];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(f->dir);
    nn_ctx_free(f->ctx);
    free(f);
    return 0;
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

/* dir/name in the fixture's scratch buffer (one at a time). */
static const char *fpath(struct fx *f, const char *name)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    return f->path;
}

static void write_bytes(const char *path, const void *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* The whole file, malloc'ed; NULL if it does not exist. */
static unsigned char *read_bytes(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return b;
}

/* A safetensors file with header text json and dlen data bytes 0, 1, 2 ... */
static void craft(const char *path, const char *json, size_t dlen)
{
    size_t hl = strlen(json);
    unsigned char *b = malloc(8 + hl + dlen + 1);
    assert_non_null(b);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, json, hl);
    for (size_t i = 0; i < dlen; i++)
        b[8 + hl + i] = (unsigned char)i;
    write_bytes(path, b, 8 + hl + dlen);
    free(b);
}

/* Opening must fail with a one-line message naming the file and containing
 * each of the NULL-terminated needles. */
static void expect_open_fails(struct fx *f, const char *path, const char *const *needles)
{
    nn_ctx_clear_error(f->ctx);
    nn_safetensors *st = nn_safetensors_open(f->ctx, path);
    const char *msg = nn_ctx_error(f->ctx);
    if (st) {
        nn_safetensors_close(st);
        fail_msg("'%s' opened, expected an error", path);
    }
    if (!strstr(msg, path))
        fail_msg("message does not name the file: %s", msg);
    if (strchr(msg, '\n'))
        fail_msg("message is not one line: %s", msg);
    for (int i = 0; needles[i]; i++)
        if (!strstr(msg, needles[i]))
            fail_msg("message lacks \"%s\": %s", needles[i], msg);
}

static void expect_bad(void **state, const char *json, size_t dlen, const char *const *needles)
{
    struct fx *f = *state;
    char path[320];
    snprintf(path, sizeof path, "%s/bad.safetensors", f->dir);
    craft(path, json, dlen);
    expect_open_fails(f, path, needles);
    /* The in-memory parser agrees. */
    size_t len;
    unsigned char *b = read_bytes(path, &len);
    nn_safetensors *st = nn_safetensors_parse(f->ctx, "mem", b, len);
    free(b);
    if (st) {
        nn_safetensors_close(st);
        fail_msg("the in-memory parser accepted %s", json);
    }
}

/* No "*.tmp.*" file is left in the directory. */
static void assert_no_temp(struct fx *f)
{
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp."))
            fail_msg("temporary file left behind: %s", e->d_name);
    closedir(d);
}

/* ---- round trips -------------------------------------------------------- */

static const float W[6] = {1.5f, -2.25f, 3e-8f, 1e30f, -0.0f, 7.0f};
static const float BIAS[1] = {0.125f};
static const int32_t LABELS[4] = {-1, 0, INT32_MAX, INT32_MIN};
static const int64_t STEP[1] = {1234567890123LL};
static const uint8_t MASK[3] = {0, 255, 7};

static const struct nn_st_tensor TENSORS[] = {
    {"layer1.weight", "F32", 2, {2, 3}, W},
    {"layer1.bias", "F32", 1, {1}, BIAS},
    {"labels", "I32", 1, {4}, LABELS},
    {"step", "I64", 0, {0}, STEP},
    {"mask", "U8", 1, {3}, MASK},
    {"empty", "F32", 2, {0, 3}, NULL},
};
#define NT ((int)(sizeof TENSORS / sizeof TENSORS[0]))

static const char *const MKEYS[] = {"format", "quote\"back\\slash", "unicode \xe2\x9c\x93",
                                    "ctrl", "empty"};
static const char *const MVALS[] = {"pt", "line\nbreak\ttab", "h\xc3\xa9llo \xf0\x9f\x8c\x8d",
                                    "\x01\x1f", ""};
#define NM ((int)(sizeof MKEYS / sizeof MKEYS[0]))

static void check_roundtrip_contents(const nn_safetensors *st)
{
    assert_int_equal(nn_safetensors_count(st), NT);
    for (int i = 0; i < NT; i++) {
        const struct nn_st_tensor *t = &TENSORS[i];
        const struct nn_st_view *v = nn_safetensors_find(st, t->name);
        assert_non_null(v);
        assert_ptr_equal(v, nn_safetensors_at(st, i)); /* header order kept */
        assert_string_equal(v->name, t->name);
        assert_string_equal(v->dtype, t->dtype);
        assert_int_equal(v->ndim, t->ndim);
        int64_t numel = 1;
        for (int j = 0; j < t->ndim; j++) {
            assert_int_equal(v->dims[j], t->dims[j]);
            numel *= t->dims[j];
        }
        assert_int_equal(v->numel, numel);
        size_t es = nn_st_dtype_size(t->dtype);
        assert_int_equal(v->nbytes, (size_t)numel * es);
        assert_non_null(v->data);
        assert_int_equal((uintptr_t)v->data % es, 0);
        if (numel)
            assert_memory_equal(v->data, t->data, v->nbytes);
    }
    assert_null(nn_safetensors_find(st, "nope"));
    assert_null(nn_safetensors_find(st, "layer1"));
    assert_null(nn_safetensors_at(st, -1));
    assert_null(nn_safetensors_at(st, NT));
    assert_int_equal(nn_safetensors_meta_count(st), NM);
    for (int i = 0; i < NM; i++) {
        assert_string_equal(nn_safetensors_meta_key(st, i), MKEYS[i]);
        assert_string_equal(nn_safetensors_meta(st, MKEYS[i]), MVALS[i]);
    }
    assert_null(nn_safetensors_meta(st, "missing"));
    assert_null(nn_safetensors_meta_key(st, NM));
}

static void roundtrip(void **state)
{
    struct fx *f = *state;
    const char *p = fpath(f, "rt.safetensors");
    assert_ok(f->ctx, nn_safetensors_save(f->ctx, p, TENSORS, NT, MKEYS, MVALS, NM));
    nn_safetensors *st = nn_safetensors_open(f->ctx, p);
    if (!st)
        fail_msg("%s", nn_ctx_error(f->ctx));
    assert_string_equal(nn_safetensors_path(st), p);
    check_roundtrip_contents(st);
    const float *w = nn_safetensors_get_f32(st, "layer1.weight", 2, (int64_t[]){2, 3});
    assert_non_null(w);
    assert_true(w[3] == 1e30f && w[2] == 3e-8f);
    nn_safetensors_close(st);

    /* The in-memory parser reads the same bytes the same way. */
    size_t len;
    unsigned char *b = read_bytes(p, &len);
    st = nn_safetensors_parse(f->ctx, "mem", b, len);
    free(b);
    if (!st)
        fail_msg("%s", nn_ctx_error(f->ctx));
    check_roundtrip_contents(st);
    nn_safetensors_close(st);
    assert_no_temp(f);
}

/* Metadata absent when none is given; a tensor of shape (1); a file with no
 * tensors at all. */
static void scalar_and_empty_metadata(void **state)
{
    struct fx *f = *state;
    const float v = 42.0f;
    struct nn_st_tensor t = {"x", "F32", 1, {1}, &v};
    const char *p = fpath(f, "one.safetensors");
    assert_ok(f->ctx, nn_safetensors_save(f->ctx, p, &t, 1, NULL, NULL, 0));
    size_t len;
    unsigned char *b = read_bytes(p, &len);
    assert_non_null(b);
    b[len - 4] = 0; /* the data is the last 4 bytes; keep strstr within the header */
    assert_null(strstr((char *)b + 8, "__metadata__"));
    free(b);
    nn_safetensors *st = nn_safetensors_open(f->ctx, p);
    assert_non_null(st);
    assert_int_equal(nn_safetensors_count(st), 1);
    assert_int_equal(nn_safetensors_meta_count(st), 0);
    assert_null(nn_safetensors_meta(st, "x"));
    const float *x = nn_safetensors_get_f32(st, "x", 1, (int64_t[]){1});
    assert_non_null(x);
    assert_true(x[0] == 42.0f);
    nn_safetensors_close(st);

    p = fpath(f, "none.safetensors");
    assert_ok(f->ctx, nn_safetensors_save(f->ctx, p, NULL, 0, NULL, NULL, 0));
    b = read_bytes(p, &len);
    assert_int_equal(len, 16);
    assert_memory_equal(b, "\x08\0\0\0\0\0\0\0{}      ", 16);
    free(b);
    st = nn_safetensors_open(f->ctx, p);
    assert_non_null(st);
    assert_int_equal(nn_safetensors_count(st), 0);
    nn_safetensors_close(st);
}

/* The exact bytes of a tiny file, computed by hand from the format:
 * header {"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],
 * "data_offsets":[0,8]}} is 79 bytes, padded with one space to 80 = 0x50;
 * then 1.0f = 0x3f800000 and -2.0f = 0xc0000000, little-endian. */
static void byte_layout(void **state)
{
    struct fx *f = *state;
    static const unsigned char want[] =
        "\x50\x00\x00\x00\x00\x00\x00\x00"
        "{\"__metadata__\":{\"k\":\"v\"},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
        "\"data_offsets\":[0,8]}} "
        "\x00\x00\x80\x3f\x00\x00\x00\xc0";
    const float a[2] = {1.0f, -2.0f};
    struct nn_st_tensor t = {"a", "F32", 1, {2}, a};
    const char *k = "k", *v = "v";
    const char *p = fpath(f, "tiny.safetensors");
    assert_ok(f->ctx, nn_safetensors_save(f->ctx, p, &t, 1, &k, &v, 1));
    size_t len;
    unsigned char *b = read_bytes(p, &len);
    assert_int_equal(len, sizeof want - 1);
    assert_int_equal(len, 96);
    assert_memory_equal(b, want, len);
    free(b);
}

/* Tensors are laid out by decreasing element size, so each is aligned. */
static void layout_by_element_size(void **state)
{
    struct fx *f = *state;
    const char *p = fpath(f, "lay.safetensors");
    assert_ok(f->ctx, nn_safetensors_save(f->ctx, p, TENSORS, NT, NULL, NULL, 0));
    size_t len;
    unsigned char *b = read_bytes(p, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = (hl << 8) | b[i];
    assert_int_equal(hl % 8, 0);
    cJSON *root = cJSON_ParseWithLength((const char *)b + 8, (size_t)hl);
    assert_non_null(root);
    /* I64 step first, then the 4-byte tensors in the given order, U8 last. */
    static const struct { const char *name; int b, e; } want[] = {
        {"step", 0, 8},     {"layer1.weight", 8, 32}, {"layer1.bias", 32, 36},
        {"labels", 36, 52}, {"empty", 52, 52},        {"mask", 52, 55}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cJSON *off = cJSON_GetObjectItem(cJSON_GetObjectItem(root, want[i].name),
                                         "data_offsets");
        assert_non_null(off);
        assert_int_equal(cJSON_GetArrayItem(off, 0)->valueint, want[i].b);
        assert_int_equal(cJSON_GetArrayItem(off, 1)->valueint, want[i].e);
    }
    assert_int_equal(len, 8 + hl + 55);
    cJSON_Delete(root);
    free(b);
}

/* Files from other writers: an unpadded header, and a float tensor at an
 * offset that is not a multiple of 4 (the reader hands out an aligned copy). */
static void reads_unpadded_and_misaligned(void **state)
{
    struct fx *f = *state;
    const char *p = fpath(f, "mis.safetensors");
    const char *json = "{\"m\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]},"
                       "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[3,11]}}";
    size_t hl = strlen(json);
    unsigned char buf[256] = {0};
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(hl >> (8 * i));
    memcpy(buf + 8, json, hl);
    unsigned char *d = buf + 8 + hl;
    d[0] = 9, d[1] = 8, d[2] = 7;
    memcpy(d + 3, "\x00\x00\x80\x3f\x00\x00\x00\x40", 8); /* 1.0f, 2.0f */
    write_bytes(p, buf, 8 + hl + 11);
    nn_safetensors *st = nn_safetensors_open(f->ctx, p);
    if (!st)
        fail_msg("%s", nn_ctx_error(f->ctx));
    const float *w = nn_safetensors_get_f32(st, "w", 1, (int64_t[]){2});
    assert_non_null(w);
    assert_int_equal((uintptr_t)w % 4, 0);
    assert_true(w[0] == 1.0f && w[1] == 2.0f);
    const struct nn_st_view *m = nn_safetensors_find(st, "m");
    assert_memory_equal(m->data, "\x09\x08\x07", 3);
    nn_safetensors_close(st);
}

static void get_f32_checks(void **state)
{
    struct fx *f = *state;
    const char *p = fpath(f, "g.safetensors");
    assert_ok(f->ctx, nn_safetensors_save(f->ctx, p, TENSORS, NT, NULL, NULL, 0));
    nn_safetensors *st = nn_safetensors_open(f->ctx, p);
    assert_non_null(st);
    assert_non_null(nn_safetensors_get_f32(st, "layer1.weight", 0, NULL));
    assert_null(nn_safetensors_get_f32(st, "layer1.weight", 2, (int64_t[]){3, 2}));
    assert_non_null(strstr(nn_ctx_error(f->ctx), "has shape (2, 3), expected (3, 2)"));
    assert_non_null(strstr(nn_ctx_error(f->ctx), p));
    assert_null(nn_safetensors_get_f32(st, "layer1.weight", 1, (int64_t[]){6}));
    assert_null(nn_safetensors_get_f32(st, "labels", 0, NULL));
    assert_non_null(strstr(nn_ctx_error(f->ctx), "'labels' has dtype I32, expected F32"));
    assert_null(nn_safetensors_get_f32(st, "nope", 0, NULL));
    assert_non_null(strstr(nn_ctx_error(f->ctx), "no tensor named 'nope'"));
    nn_safetensors_close(st);
}

/* ---- files the reader must reject, one kind per test -------------------- */

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define TENSOR_A(dt, shape, off) "\"a\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" off "}"

static void bad_missing_file(void **state)
{
    struct fx *f = *state;
    char p[320];
    snprintf(p, sizeof p, "%s/does-not-exist.safetensors", f->dir);
    expect_open_fails(f, p, NEEDLES("cannot open", "No such file or directory"));
}

static void bad_directory(void **state)
{
    struct fx *f = *state;
    expect_open_fails(f, f->dir, NEEDLES("not a regular file"));
}

static void bad_too_short(void **state)
{
    struct fx *f = *state;
    char p[320];
    snprintf(p, sizeof p, "%s/short.safetensors", f->dir);
    write_bytes(p, "\x02\0\0\0\0", 5);
    expect_open_fails(f, p, NEEDLES("5 bytes", "too few"));
}

static void bad_header_longer_than_file(void **state)
{
    struct fx *f = *state;
    char p[320];
    snprintf(p, sizeof p, "%s/long.safetensors", f->dir);
    write_bytes(p, "\xe8\x03\0\0\0\0\0\0{}", 10); /* claims 1000 bytes */
    expect_open_fails(f, p, NEEDLES("header length 1000 exceeds the 2 bytes"));
    write_bytes(p, "\xff\xff\xff\xff\xff\xff\xff\xff{}", 10); /* no wrap-around */
    expect_open_fails(f, p, NEEDLES("header length 18446744073709551615 exceeds"));
    /* a text file given as a checkpoint (a CSV: nn eval data.csv) says so */
    const char csv[] = "a,b,label\n1,2,cat\n";
    write_bytes(p, csv, sizeof csv - 1);
    expect_open_fails(f, p, NEEDLES("not a safetensors file", "begins with text ('a,b,labe"));
}

static void bad_not_json(void **state)
{
    expect_bad(state, "{not json}", 0, NEEDLES("not valid JSON"));
    expect_bad(state, "{\"a\":{\"dtype\":\"F32\",", 0, NEEDLES("not valid JSON"));
}

static void bad_not_an_object(void **state)
{
    expect_bad(state, "[1, 2]  ", 0, NEEDLES("does not begin with '{'"));
    expect_bad(state, "", 0, NEEDLES("does not begin with '{'"));
}

static void bad_text_after_json(void **state)
{
    expect_bad(state, "{}   x  ", 0, NEEDLES("unexpected text after the JSON header at byte 5"));
    expect_bad(state, "{}{}", 0, NEEDLES("unexpected text"));
}

static void bad_utf8(void **state)
{
    expect_bad(state, "{\"\xff\":1}", 0, NEEDLES("not valid UTF-8 (byte 2)"));
    expect_bad(state, "{\"\xc0\xaf\":1}", 0, NEEDLES("not valid UTF-8")); /* overlong '/' */
    expect_bad(state, "{\"\xed\xa0\x80\":1}", 0, NEEDLES("not valid UTF-8")); /* surrogate */
}

static void bad_nul_in_header(void **state)
{
    struct fx *f = *state;
    char p[320];
    snprintf(p, sizeof p, "%s/nul.safetensors", f->dir);
    write_bytes(p, "\x04\0\0\0\0\0\0\0{}\0 ", 12);
    expect_open_fails(f, p, NEEDLES("NUL byte at offset 2"));
}

static void bad_offsets_past_end(void **state)
{
    expect_bad(state, "{" TENSOR_A("F32", "[4]", "[0,16]") "}", 8,
               NEEDLES("tensor 'a'", "[0, 16] run past the end of the data section (8 bytes)"));
}

static void bad_overlap(void **state)
{
    expect_bad(state,
               "{" TENSOR_A("F32", "[2]", "[0,8]") ","
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               12, NEEDLES("tensors 'a' [0, 8) and 'b' [4, 12) overlap"));
}

static void bad_gap(void **state)
{
    expect_bad(state,
               "{" TENSOR_A("F32", "[1]", "[0,4]") ","
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
               12, NEEDLES("gap", "bytes [4, 8) between tensors 'a' and 'b'"));
    expect_bad(state, "{" TENSOR_A("F32", "[1]", "[4,8]") "}", 8,
               NEEDLES("gap", "bytes [0, 4)", "'a'"));
}

static void bad_trailing_data(void **state)
{
    expect_bad(state, "{" TENSOR_A("F32", "[1]", "[0,4]") "}", 8,
               NEEDLES("data section has 8 bytes but the tensors cover only 4"));
    expect_bad(state, "{}", 4, NEEDLES("has 4 bytes but the tensors cover only 0"));
}

static void bad_shape_byte_mismatch(void **state)
{
    expect_bad(state, "{" TENSOR_A("F32", "[3]", "[0,8]") "}", 8,
               NEEDLES("tensor 'a'", "shape (3) of F32 needs 12 bytes", "[0, 8] hold 8"));
    expect_bad(state, "{" TENSOR_A("I32", "[2,2]", "[0,8]") "}", 8,
               NEEDLES("shape (2, 2) of I32 needs 16 bytes"));
}

static void bad_duplicate_name(void **state)
{
    expect_bad(state,
               "{" TENSOR_A("F32", "[1]", "[0,4]") "," TENSOR_A("F32", "[1]", "[4,8]") "}", 8,
               NEEDLES("duplicate tensor name 'a'"));
}

static void bad_dtype(void **state)
{
    expect_bad(state, "{" TENSOR_A("F8_E4M3", "[2]", "[0,2]") "}", 2,
               NEEDLES("tensor 'a' has unsupported dtype 'F8_E4M3'",
                       "supported: F32, F64, F16, BF16, I32"));
    expect_bad(state, "{" TENSOR_A("BOOL", "[2]", "[0,2]") "}", 2,
               NEEDLES("unsupported dtype 'BOOL'"));
    expect_bad(state, "{" TENSOR_A("f32", "[1]", "[0,4]") "}", 4,
               NEEDLES("unsupported dtype 'f32'"));
    expect_bad(state, "{\"a\":{\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               NEEDLES("dtype is not a string"));
}

static void bad_negative_dim(void **state)
{
    expect_bad(state, "{" TENSOR_A("F32", "[2,-2]", "[0,0]") "}", 0,
               NEEDLES("tensor 'a'", "shape[1] is -2, expected >= 0"));
}

static void bad_non_integer_dim(void **state)
{
    expect_bad(state, "{" TENSOR_A("F32", "[1.5]", "[0,4]") "}", 4,
               NEEDLES("shape[0] is not an integer"));
    expect_bad(state, "{" TENSOR_A("F32", "[\"2\"]", "[0,8]") "}", 8,
               NEEDLES("shape[0] is not an integer"));
    expect_bad(state, "{" TENSOR_A("F32", "2", "[0,8]") "}", 8,
               NEEDLES("shape is not an array"));
}

static void bad_huge_shape(void **state)
{
    expect_bad(state, "{" TENSOR_A("F32", "[4294967296,4294967296,4294967296]", "[0,4]") "}", 4,
               NEEDLES("shape (4294967296, 4294967296, 4294967296) is too large"));
    expect_bad(state, "{" TENSOR_A("F32", "[1e300]", "[0,4]") "}", 4,
               NEEDLES("not an integer"));
}

static void bad_offsets_form(void **state)
{
    const char *const *n = NEEDLES("data_offsets must be [begin, end]");
    expect_bad(state, "{" TENSOR_A("F32", "[0]", "[8,0]") "}", 8, n);
    expect_bad(state, "{" TENSOR_A("F32", "[1]", "[0]") "}", 4, n);
    expect_bad(state, "{" TENSOR_A("F32", "[1]", "[0,4,8]") "}", 8, n);
    expect_bad(state, "{" TENSOR_A("F32", "[1]", "[0,\"4\"]") "}", 4, n);
    expect_bad(state, "{" TENSOR_A("F32", "[1]", "[-4,0]") "}", 4, n);
    expect_bad(state, "{" TENSOR_A("F32", "[1]", "{}") "}", 4, n);
}

static void bad_entry_fields(void **state)
{
    expect_bad(state, "{\"a\":5}", 0, NEEDLES("tensor 'a' is not an object"));
    expect_bad(state, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4,
               NEEDLES("tensor 'a' has no data_offsets"));
    expect_bad(state, "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               NEEDLES("tensor 'a' has no dtype"));
    expect_bad(state, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}",
               4, NEEDLES("unexpected key 'x'"));
    expect_bad(state,
               "{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
               4, NEEDLES("has key 'dtype' twice"));
}

static void bad_metadata_not_strings(void **state)
{
    expect_bad(state, "{\"__metadata__\":{\"k\":1}}", 0,
               NEEDLES("metadata value of key 'k' is not a string"));
    expect_bad(state, "{\"__metadata__\":{\"ok\":\"v\",\"n\":null}}", 0,
               NEEDLES("metadata value of key 'n' is not a string"));
    expect_bad(state, "{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0,
               NEEDLES("key 'k' is not a string"));
    expect_bad(state, "{\"__metadata__\":\"v\"}", 0, NEEDLES("not an object of strings"));
    expect_bad(state, "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
               NEEDLES("\"__metadata__\" appears twice"));
    expect_bad(state, "{\"__metadata__\":{\"k\":\"a\",\"k\":\"b\"}}", 0,
               NEEDLES("duplicate metadata key 'k'"));
}

/* ---- the writer's argument checks ---------------------------------------- */

static void save_rejects_bad_arguments(void **state)
{
    struct fx *f = *state;
    char p[320];
    snprintf(p, sizeof p, "%s/w.safetensors", f->dir);
    const float x[2] = {1, 2};
    const char *k2[] = {"k", "k"}, *v2[] = {"a", "b"}, *bad8[] = {"\xc3"};
    struct {
        struct nn_st_tensor t[2];
        int n;
        const char *const *mk, *const *mv;
        int nm;
        const char *needle;
    } cases[] = {
        {{{"a", "F32", 1, {2}, x}, {"a", "F32", 1, {2}, x}}, 2, NULL, NULL, 0,
         "duplicate tensor name 'a'"},
        {{{"__metadata__", "F32", 1, {2}, x}}, 1, NULL, NULL, 0, "reserved"},
        {{{"a", "C64", 1, {2}, x}}, 1, NULL, NULL, 0, "unsupported dtype 'C64'"},
        {{{"a", NULL, 1, {2}, x}}, 1, NULL, NULL, 0, "unsupported dtype '(null)'"},
        {{{"a", "F32", 5, {2}, x}}, 1, NULL, NULL, 0, "5 dimensions, expected 0 to 4"},
        {{{"a", "F32", 1, {-1}, x}}, 1, NULL, NULL, 0, "dimension 0 is -1"},
        {{{"a", "F32", 1, {2}, NULL}}, 1, NULL, NULL, 0, "has no data"},
        {{{NULL, "F32", 1, {2}, x}}, 1, NULL, NULL, 0, "tensor 0 has no name"},
        {{{"\xff", "F32", 1, {2}, x}}, 1, NULL, NULL, 0, "not valid UTF-8"},
        {{{"a", "F32", 1, {2}, x}}, 1, k2, v2, 2, "duplicate metadata key 'k'"},
        {{{"a", "F32", 1, {2}, x}}, 1, bad8, v2, 1, "metadata entry 0 is not valid UTF-8"},
        {{{"a", "F32", 1, {2}, x}}, -1, NULL, NULL, 0, "bad tensor or metadata list"},
        {{{"a", "F32", 1, {2}, x}}, 1, NULL, NULL, 1, "bad tensor or metadata list"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nn_status s = nn_safetensors_save(f->ctx, p, cases[i].t, cases[i].n, cases[i].mk,
                                          cases[i].mv, cases[i].nm);
        if (s != NN_ERR_INVALID || !strstr(nn_ctx_error(f->ctx), cases[i].needle) ||
            !strstr(nn_ctx_error(f->ctx), p))
            fail_msg("case %zu: status %d, message '%s', expected '%s'", i, s,
                     nn_ctx_error(f->ctx), cases[i].needle);
        assert_int_equal(access(p, F_OK), -1); /* nothing written */
    }
    assert_no_temp(f);
}

static void save_into_missing_directory(void **state)
{
    struct fx *f = *state;
    const char *p = fpath(f, "no/such/dir/x.safetensors");
    const float x = 1;
    struct nn_st_tensor t = {"x", "F32", 1, {1}, &x};
    assert_int_equal(nn_safetensors_save(f->ctx, p, &t, 1, NULL, NULL, 0), NN_ERR_IO);
    assert_non_null(strstr(nn_ctx_error(f->ctx), p));
    assert_non_null(strstr(nn_ctx_error(f->ctx), "No such file or directory"));
}

/* ---- atomic replacement -------------------------------------------------- */

static const float A_VALS[3] = {1, 2, 3};
static const float B_VALS[40] = {9, 8, 7};

/* Saves file A and returns its bytes (the caller frees them). */
static unsigned char *save_a(struct fx *f, const char *p, size_t *len)
{
    struct nn_st_tensor a = {"w", "F32", 1, {3}, A_VALS};
    const char *k = "which", *v = "A";
    assert_ok(f->ctx, nn_safetensors_save(f->ctx, p, &a, 1, &k, &v, 1));
    unsigned char *b = read_bytes(p, len);
    assert_non_null(b);
    return b;
}

/* Saves file B with the test-only failures o injected (NULL: none). */
static nn_status save_b(struct fx *f, const char *p, const struct nn_st_faults *o)
{
    struct nn_st_tensor b[2] = {{"w", "F32", 2, {5, 8}, B_VALS}, {"extra", "F32", 1, {3}, A_VALS}};
    const char *k = "which", *v = "B";
    nn_st_faults = o ? *o : (struct nn_st_faults){-1, false};
    nn_status s = nn_safetensors_save(f->ctx, p, b, 2, &k, &v, 1);
    nn_st_faults = (struct nn_st_faults){-1, false};
    return s;
}

/* path still holds exactly the bytes of A, reads back as A, and no
 * temporary file is left. */
static void assert_still_a(struct fx *f, const char *p, const unsigned char *a, size_t alen)
{
    size_t len;
    unsigned char *now = read_bytes(p, &len);
    assert_non_null(now);
    assert_int_equal(len, alen);
    assert_memory_equal(now, a, alen);
    free(now);
    nn_safetensors *st = nn_safetensors_open(f->ctx, p);
    assert_non_null(st);
    assert_string_equal(nn_safetensors_meta(st, "which"), "A");
    const float *w = nn_safetensors_get_f32(st, "w", 1, (int64_t[]){3});
    assert_non_null(w);
    assert_memory_equal(w, A_VALS, sizeof A_VALS);
    assert_int_equal(nn_safetensors_count(st), 1);
    nn_safetensors_close(st);
    assert_no_temp(f);
}

static void atomic_failure_mid_write(void **state)
{
    struct fx *f = *state;
    char p[320];
    snprintf(p, sizeof p, "%s/model.safetensors", f->dir);
    size_t alen;
    unsigned char *a = save_a(f, p, &alen);

    /* B's size, from a successful save elsewhere. */
    char q[340];
    snprintf(q, sizeof q, "%s/probe.safetensors", f->dir);
    assert_ok(f->ctx, save_b(f, q, NULL));
    size_t blen;
    free(read_bytes(q, &blen));
    unlink(q);
    assert_true(blen > alen);

    /* Inside the length, the header, the first tensor, the last byte. */
    const int64_t ks[] = {0, 1, 7, 8, 9, 40, (int64_t)blen / 2, (int64_t)blen - 1};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
        struct nn_st_faults o = {.fail_after = ks[i]};
        nn_ctx_clear_error(f->ctx);
        assert_int_equal(save_b(f, p, &o), NN_ERR_IO);
        const char *msg = nn_ctx_error(f->ctx);
        if (!strstr(msg, p) || !strstr(msg, strerror(EIO)) || !strstr(msg, "injected"))
            fail_msg("after %lld bytes: %s", (long long)ks[i], msg);
        assert_still_a(f, p, a, alen);
    }
    /* A limit at B's full size is never reached: the save goes through. */
    struct nn_st_faults o = {.fail_after = (int64_t)blen};
    assert_ok(f->ctx, save_b(f, p, &o));
    nn_safetensors *st = nn_safetensors_open(f->ctx, p);
    assert_non_null(st);
    assert_string_equal(nn_safetensors_meta(st, "which"), "B");
    nn_safetensors_close(st);
    assert_no_temp(f);
    free(a);
}

static void atomic_failure_at_rename(void **state)
{
    struct fx *f = *state;
    char p[320];
    snprintf(p, sizeof p, "%s/model.safetensors", f->dir);
    size_t alen;
    unsigned char *a = save_a(f, p, &alen);
    struct nn_st_faults o = {.fail_after = -1, .fail_rename = true};
    assert_int_equal(save_b(f, p, &o), NN_ERR_IO);
    const char *msg = nn_ctx_error(f->ctx);
    if (!strstr(msg, "cannot rename") || !strstr(msg, p) || !strstr(msg, strerror(EIO)))
        fail_msg("%s", msg);
    assert_still_a(f, p, a, alen);
    free(a);
}

/* A failed first save leaves no file at all. */
static void atomic_failure_without_old_file(void **state)
{
    struct fx *f = *state;
    char p[320];
    snprintf(p, sizeof p, "%s/new.safetensors", f->dir);
    struct nn_st_faults o = {.fail_after = 30};
    assert_int_equal(save_b(f, p, &o), NN_ERR_IO);
    assert_int_equal(access(p, F_OK), -1);
    o = (struct nn_st_faults){.fail_after = -1, .fail_rename = true};
    assert_int_equal(save_b(f, p, &o), NN_ERR_IO);
    assert_int_equal(access(p, F_OK), -1);
    assert_no_temp(f);
}

/* A new file gets 0666 less the umask (not mkstemp's 0600); a replaced
 * file keeps its permission bits. */
static void file_mode(void **state)
{
    struct fx *f = *state;
    char p[320];
    snprintf(p, sizeof p, "%s/m.safetensors", f->dir);
    mode_t old = umask(022);
    size_t alen;
    free(save_a(f, p, &alen));
    umask(old);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    assert_int_equal(chmod(p, 0600), 0);
    assert_ok(f->ctx, save_b(f, p, NULL));
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
}

/* ---- an independent reader: Python's json and numpy ---------------------- */

/* Runs argv; with err_path, the child's stderr goes to that file. */
static int run(char *const argv[], const char *err_path)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        if (err_path && !freopen(err_path, "w", stderr))
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void numpy_reads_our_file(void **state)
{
    struct fx *f = *state;
    if (access(PYTHON, X_OK) != 0)
        fail_msg(PYTHON " is missing: run scripts/install-deps.sh (python3, python3-numpy)");
    char script[512];
    snprintf(script, sizeof script, "%s", nn_test_path("check_safetensors.py"));
    if (access(script, R_OK) != 0)
        fail_msg("%s not found (run from the repository root or set NN_TEST_DIR)", script);
    char p[320];
    snprintf(p, sizeof p, "%s/py.safetensors", f->dir);
    assert_ok(f->ctx, nn_safetensors_save(f->ctx, p, TENSORS, NT, MKEYS, MVALS, NM));
    char *argv[64];
    int n = 0;
    argv[n++] = PYTHON;
    argv[n++] = script;
    argv[n++] = p;
    /* Expected values, written out by hand (%.9g round-trips a float). */
    char *expect[] = {
        "--tensor", "layer1.weight", "F32", "2x3", "1.5,-2.25,2.99999989e-08,1.00000002e+30,-0,7",
        "--tensor", "layer1.bias", "F32", "1", "0.125",
        "--tensor", "labels", "I32", "4", "-1,0,2147483647,-2147483648",
        "--tensor", "step", "I64", "-", "1234567890123",
        "--tensor", "mask", "U8", "3", "0,255,7",
        "--tensor", "empty", "F32", "0x3", "",
    };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++)
        argv[n++] = expect[i];
    for (int i = 0; i < NM; i++) {
        argv[n++] = "--meta";
        argv[n++] = (char *)MKEYS[i];
        argv[n++] = (char *)MVALS[i];
    }
    argv[n] = NULL;
    int rc = run(argv, NULL);
    if (rc != 0)
        fail_msg("check_safetensors.py exited %d on %s (2: numpy missing; run "
                 "scripts/install-deps.sh)", rc, p);
    /* The checker can fail: a wrong expected value must be caught, and its
     * complaint (kept out of the test log) must name the tensor. */
    argv[7] = "1.5,-2.25,2.99999989e-08,1.00000002e+30,-0,8";
    char err[352];
    snprintf(err, sizeof err, "%s/checker.err", f->dir);
    rc = run(argv, err);
    if (rc != 1)
        fail_msg("check_safetensors.py exited %d with a wrong expected value, expected 1", rc);
    FILE *fe = fopen(err, "r");
    assert_non_null(fe);
    char msg[1024] = "";
    size_t got = fread(msg, 1, sizeof msg - 1, fe);
    msg[got] = '\0';
    fclose(fe);
    remove(err);
    if (!strstr(msg, "layer1.weight"))
        fail_msg("check_safetensors.py's complaint does not name the tensor: %s", msg);
}

/* ---- private helpers ---------------------------------------------------- */

static void byte_swap_and_utf8(void **state)
{
    (void)state;
    const unsigned char in[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    unsigned char out[8];
    nn_st_swap_copy(out, in, 2, 4);
    assert_memory_equal(out, "\x04\x03\x02\x01\x08\x07\x06\x05", 8);
    nn_st_swap_copy(out, in, 1, 8);
    assert_memory_equal(out, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
    memcpy(out, in, 8);
    nn_st_swap_copy(out, out, 4, 2); /* in place */
    assert_memory_equal(out, "\x02\x01\x04\x03\x06\x05\x08\x07", 8);

    size_t bad = 99;
    assert_true(nn_utf8_valid("plain", 5, &bad));
    assert_true(nn_utf8_valid("\xc3\xa9\xe2\x9c\x93\xf0\x9f\x8c\x8d\xf4\x8f\xbf\xbf", 13, &bad));
    assert_false(nn_utf8_valid("ab\x80", 3, &bad));
    assert_int_equal(bad, 2);
    assert_false(nn_utf8_valid("a\xe2\x9c", 3, &bad)); /* truncated */
    assert_int_equal(bad, 1);
    assert_false(nn_utf8_valid("\xe0\x80\xaf", 3, NULL));     /* overlong */
    assert_false(nn_utf8_valid("\xf4\x90\x80\x80", 4, NULL)); /* past U+10FFFF */
    assert_false(nn_utf8_valid("\xed\xbf\xbf", 3, NULL));     /* surrogate */
    assert_false(nn_utf8_valid("\xf8\x88\x80\x80\x80", 5, NULL));
    assert_int_equal(nn_st_dtype_size("F32"), 4);
    assert_int_equal(nn_st_dtype_size("I64"), 8);
    assert_int_equal(nn_st_dtype_size("U8"), 1);
    assert_int_equal(nn_st_dtype_size("BF16"), 2);
    assert_int_equal(nn_st_dtype_size("F16"), 2);
    assert_int_equal(nn_st_dtype_size("F64"), 8);
    assert_int_equal(nn_st_dtype_size("F8_E4M3"), 0);
}

NN_GROUP(safetensors,
         T(roundtrip),
         T(scalar_and_empty_metadata),
         T(byte_layout),
         T(layout_by_element_size),
         T(reads_unpadded_and_misaligned),
         T(get_f32_checks),
         T(bad_missing_file),
         T(bad_directory),
         T(bad_too_short),
         T(bad_header_longer_than_file),
         T(bad_not_json),
         T(bad_not_an_object),
         T(bad_text_after_json),
         T(bad_utf8),
         T(bad_nul_in_header),
         T(bad_offsets_past_end),
         T(bad_overlap),
         T(bad_gap),
         T(bad_trailing_data),
         T(bad_shape_byte_mismatch),
         T(bad_duplicate_name),
         T(bad_dtype),
         T(bad_negative_dim),
         T(bad_non_integer_dim),
         T(bad_huge_shape),
         T(bad_offsets_form),
         T(bad_entry_fields),
         T(bad_metadata_not_strings),
         T(save_rejects_bad_arguments),
         T(save_into_missing_directory),
         T(atomic_failure_mid_write),
         T(atomic_failure_at_rename),
         T(atomic_failure_without_old_file),
         T(file_mode),
         T(numpy_reads_our_file),
         T(byte_swap_and_utf8))
