/*
 * fuzz_safetensors.c - libFuzzer target for the in-memory safetensors
 * parser. Every input must either be rejected with a message or yield a
 * handle whose views stay inside their buffers; an accepted file is then
 * written back through the writer's header builder and parsed again, and
 * the two must agree tensor for tensor and key for key.
 *
 * Seeds (fuzz/corpus/safetensors/): an empty file "{}", one F32 tensor,
 * metadata, every dtype with a scalar and a zero-sized tensor, an unpadded
 * header with a misaligned F32 tensor, JSON escapes and a 5-d shape, F64, F16
 * and BF16 tensors (halves.st: the halves misaligned), and two
 * rejects (overlapping ranges, dtype F8_E4M3).
 */
#include "io/io.h"

#include <string.h>

#define CHECK(c)                                                              \
    do {                                                                      \
        if (!(c)) {                                                           \
            fprintf(stderr, "fuzz_safetensors: check failed: %s (line %d)\n", \
                    #c, __LINE__);                                            \
            abort();                                                          \
        }                                                                     \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every byte of every tensor (ASan catches any overrun). */
static unsigned walk(const nn_safetensors *st)
{
    unsigned sum = 0;
    for (int i = 0; i < nn_safetensors_count(st); i++) {
        const struct nn_st_view *v = nn_safetensors_at(st, i);
        CHECK(v && v->name && v->dtype && v->data);
        size_t es = nn_st_dtype_size(v->dtype);
        CHECK(es > 0 && (uintptr_t)v->data % es == 0);
        CHECK((size_t)v->numel * es == v->nbytes);
        int64_t n = 1;
        for (int j = 0; j < v->ndim; j++)
            n *= v->dims[j];
        CHECK(n == v->numel);
        for (size_t k = 0; k < v->nbytes; k++)
            sum += ((const unsigned char *)v->data)[k];
        CHECK(nn_safetensors_find(st, v->name) == v);
    }
    for (int i = 0; i < nn_safetensors_meta_count(st); i++) {
        const char *k = nn_safetensors_meta_key(st, i);
        CHECK(k && nn_safetensors_meta(st, k));
    }
    return sum;
}

/* Writes st back (header builder + data at the offsets it chose), parses
 * the image and compares. Skips files with more dimensions than the writer
 * takes. */
static void roundtrip(nn_ctx *ctx, const nn_safetensors *st)
{
    int n = nn_safetensors_count(st), nm = nn_safetensors_meta_count(st);
    for (int i = 0; i < n; i++)
        if (nn_safetensors_at(st, i)->ndim > NN_MAX_DIMS)
            return;
    struct nn_st_tensor *t = calloc((size_t)n + 1, sizeof *t);
    const char **mk = calloc((size_t)nm + 1, sizeof *mk);
    const char **mv = calloc((size_t)nm + 1, sizeof *mv);
    int64_t *begin = calloc((size_t)n + 1, sizeof *begin);
    int64_t *nbytes = calloc((size_t)n + 1, sizeof *nbytes);
    CHECK(t && mk && mv && begin && nbytes);
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const struct nn_st_view *v = nn_safetensors_at(st, i);
        t[i].name = v->name;
        t[i].dtype = v->dtype;
        t[i].ndim = v->ndim;
        memcpy(t[i].dims, v->dims, (size_t)v->ndim * sizeof *v->dims);
        t[i].data = v->data;
        total += v->nbytes;
    }
    for (int i = 0; i < nm; i++) {
        mk[i] = nn_safetensors_meta_key(st, i);
        mv[i] = nn_safetensors_meta(st, mk[i]);
    }
    char *hdr = NULL;
    size_t hlen = 0;
    nn_status s = nn_st_build_header(ctx, "fuzz-out", t, n, mk, mv, nm, &hdr, &hlen, begin,
                                     nbytes);
    if (s != NN_OK) {
        fprintf(stderr, "fuzz_safetensors: writer refused a file the reader took: %s\n",
                nn_ctx_error(ctx));
        abort();
    }
    CHECK(hlen % 8 == 0);
    unsigned char *img = malloc(8 + hlen + total + 1);
    CHECK(img);
    for (int i = 0; i < 8; i++)
        img[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(img + 8, hdr, hlen);
    for (int i = 0; i < n; i++) {
        CHECK((size_t)begin[i] + (size_t)nbytes[i] <= total);
        if (nbytes[i])
            memcpy(img + 8 + hlen + begin[i], t[i].data, (size_t)nbytes[i]);
    }
    nn_safetensors *back = nn_safetensors_parse(ctx, "fuzz-back", img, 8 + hlen + total);
    if (!back) {
        fprintf(stderr, "fuzz_safetensors: own output rejected: %s\n", nn_ctx_error(ctx));
        abort();
    }
    CHECK(nn_safetensors_count(back) == n && nn_safetensors_meta_count(back) == nm);
    for (int i = 0; i < n; i++) {
        const struct nn_st_view *a = nn_safetensors_at(st, i), *b = nn_safetensors_at(back, i);
        CHECK(strcmp(a->name, b->name) == 0 && strcmp(a->dtype, b->dtype) == 0);
        CHECK(a->ndim == b->ndim && a->nbytes == b->nbytes);
        CHECK(memcmp(a->dims, b->dims, (size_t)a->ndim * sizeof *a->dims) == 0);
        CHECK(a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0);
    }
    for (int i = 0; i < nm; i++) {
        const char *k = nn_safetensors_meta_key(back, i);
        CHECK(strcmp(k, mk[i]) == 0 && strcmp(nn_safetensors_meta(back, k), mv[i]) == 0);
    }
    nn_safetensors_close(back);
    free(img);
    free(hdr);
    free(nbytes);
    free(begin);
    free(mv);
    free(mk);
    free(t);
}

static void one(nn_ctx *ctx, const uint8_t *data, size_t size)
{
    nn_ctx_clear_error(ctx);
    nn_safetensors *st = nn_safetensors_parse(ctx, "fuzz", data, size);
    if (!st) {
        const char *msg = nn_ctx_error(ctx);
        CHECK(msg[0] != '\0');
        CHECK(strncmp(msg, "fuzz", 4) == 0); /* names the input */
        return;
    }
    volatile unsigned sink = walk(st);
    (void)sink;
    roundtrip(ctx, st);
    nn_safetensors_close(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static nn_ctx *ctx; /* one context for the whole run */
    if (!ctx)
        ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    one(ctx, data, size);
    /* The same input with its length prefix recomputed to end the header
     * at the last '}', so that mutations inside the JSON (which change its
     * length) still reach the JSON checks instead of failing the prefix. */
    if (size > 8) {
        const uint8_t *brace = NULL;
        for (size_t i = size; i > 8; i--)
            if (data[i - 1] == '}') {
                brace = data + i - 1;
                break;
            }
        if (brace) {
            uint8_t *copy = malloc(size);
            CHECK(copy);
            memcpy(copy, data, size);
            uint64_t hlen = (uint64_t)(brace - (data + 8)) + 1;
            for (int i = 0; i < 8; i++)
                copy[i] = (uint8_t)(hlen >> (8 * i));
            one(ctx, copy, size);
            free(copy);
        }
    }
    return 0;
}
