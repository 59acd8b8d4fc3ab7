/*
 * safetensors.c - the safetensors reader and atomic writer.
 *
 * A file is an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * describing each tensor (dtype, shape, [begin, end) byte range in the data
 * section) plus optional string metadata, then the data section. The reader
 * loads the whole file, validates every rule before handing out a pointer
 * (so a corrupt file yields one message, never an out-of-bounds read) and
 * keeps the data in one aligned block. The writer builds the header with
 * cJSON, writes a temporary file next to the target, syncs it and renames
 * it over the target, so a crash or a failed write never leaves a
 * half-written file under the target's name.
 */
#include "io.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ST_MAX_HEADER ((uint64_t)100 << 20) /* the reference reader's limit */
#define ST_META "__metadata__"
#define ST_SUPPORTED "F32, F64, F16, BF16, I32, I64, U8"

struct st_dtype {
    const char *name;
    size_t size;
};

static const struct st_dtype st_dtypes[] = {
    {"F32", 4}, {"F64", 8}, {"F16", 2}, {"BF16", 2}, {"I32", 4}, {"I64", 8}, {"U8", 1}};

static const struct st_dtype *dtype_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (strcmp(st_dtypes[i].name, name) == 0)
            return &st_dtypes[i];
    return NULL;
}

size_t nn_st_dtype_size(const char *dtype)
{
    const struct st_dtype *d = dtype_find(dtype);
    return d ? d->size : 0;
}

/* ---- byte order and text helpers ---------------------------------------- */

static bool host_little_endian(void)
{
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

void nn_st_swap_copy(void *dst, const void *src, size_t nelem, size_t esize)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    unsigned char tmp[8];
    NN_ASSERT(esize >= 1 && esize <= 8, "element size out of range");
    for (size_t i = 0; i < nelem; i++) {
        memcpy(tmp, s + i * esize, esize); /* dst may equal src */
        for (size_t k = 0; k < esize; k++)
            d[i * esize + k] = tmp[esize - 1 - k];
    }
}

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void store_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

bool nn_utf8_valid(const char *s, size_t len, size_t *bad)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t k;
        unsigned lo = 0x80, hi = 0xBF; /* range of the first continuation byte */
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            if (c == 0xE0)
                lo = 0xA0; /* no overlong forms */
            else if (c == 0xED)
                hi = 0x9F; /* no surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F; /* nothing past U+10FFFF */
        } else {
            goto fail;
        }
        if (len - i - 1 < k)
            goto fail;
        for (size_t j = 1; j <= k; j++) {
            unsigned b = p[i + j];
            if (b < (j == 1 ? lo : 0x80u) || b > (j == 1 ? hi : 0xBFu))
                goto fail;
        }
        i += k + 1;
    }
    return true;
fail:
    if (bad)
        *bad = i;
    return false;
}

/* "(2, 3)" for messages; "()" for a scalar; "..." when it does not fit. */
static const char *shape_text(const int64_t *dims, int ndim, char *buf, size_t len)
{
    size_t at = 0;
    int w = snprintf(buf, len, "(");
    at = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < ndim && at < len; i++) {
        w = snprintf(buf + at, len - at, "%s%lld", i ? ", " : "", (long long)dims[i]);
        if (w < 0 || (size_t)w >= len - at) {
            if (len >= 5)
                memcpy(buf + len - 5, "...)", 5);
            return buf;
        }
        at += (size_t)w;
    }
    if (at < len)
        snprintf(buf + at, len - at, ")");
    return buf;
}

/* Elements in a shape, or -1 if the count does not fit in int64. */
static int64_t shape_numel(const int64_t *dims, int ndim)
{
    for (int i = 0; i < ndim; i++)
        if (dims[i] == 0)
            return 0;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (n > INT64_MAX / dims[i])
            return -1;
        n *= dims[i];
    }
    return n;
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- the reader --------------------------------------------------------- */

struct st_entry {
    struct nn_st_view v;
    int64_t begin, end; /* byte range in the data section */
    char *name;         /* owned; v.name points here */
    int64_t *dims;      /* owned; (ndim) */
    void *copy;         /* owned aligned copy of a misaligned range, or NULL */
};

struct nn_safetensors {
    nn_ctx *ctx;
    char *label;            /* path or label, for messages */
    int n;                  /* tensors */
    struct st_entry *t;     /* (n) in header order */
    struct st_entry **by_name; /* (n) sorted by name */
    int nmeta;
    char **mkey, **mval;    /* (nmeta) each, in header order */
    unsigned char *data;    /* (dlen) the data section, NN_ALIGN-aligned */
    size_t dlen;
};

void nn_safetensors_close(nn_safetensors *st)
{
    if (!st)
        return;
    for (int i = 0; i < st->n; i++) {
        free(st->t[i].name);
        free(st->t[i].dims);
        nn_aligned_free(st->t[i].copy);
    }
    for (int i = 0; i < st->nmeta; i++) {
        free(st->mkey[i]);
        free(st->mval[i]);
    }
    free(st->t);
    free(st->by_name);
    free(st->mkey);
    free(st->mval);
    nn_aligned_free(st->data);
    free(st->label);
    free(st);
}

/* An integral JSON number within +-2^53 (exact in a double). */
static bool json_int(const cJSON *j, int64_t *out)
{
    if (!cJSON_IsNumber(j))
        return false;
    double d = j->valuedouble;
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
        return false;
    *out = (int64_t)d;
    return true;
}

static bool parse_meta(nn_safetensors *st, const cJSON *m)
{
    nn_ctx *ctx = st->ctx;
    const char *L = st->label;
    if (!cJSON_IsObject(m)) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: \"" ST_META "\" is not an object of strings", L);
        return false;
    }
    int n = cJSON_GetArraySize(m);
    st->mkey = calloc((size_t)n + 1, sizeof *st->mkey);
    st->mval = calloc((size_t)n + 1, sizeof *st->mval);
    if (!st->mkey || !st->mval)
        goto nomem;
    for (const cJSON *c = m->child; c; c = c->next) {
        const char *key = c->string ? c->string : "";
        if (!cJSON_IsString(c) || !c->valuestring) {
            nn_fail(ctx, NN_ERR_FORMAT,
                    "%s: metadata value of key '%.80s' is not a string", L, key);
            return false;
        }
        st->mkey[st->nmeta] = strdup(key);
        st->mval[st->nmeta] = strdup(c->valuestring);
        st->nmeta++;
        if (!st->mkey[st->nmeta - 1] || !st->mval[st->nmeta - 1])
            goto nomem;
    }
    /* Duplicate keys: sort a copy of the key pointers. */
    char **keys = malloc(((size_t)st->nmeta + 1) * sizeof *keys);
    if (!keys)
        goto nomem;
    memcpy(keys, st->mkey, (size_t)st->nmeta * sizeof *keys);
    qsort(keys, (size_t)st->nmeta, sizeof *keys, cmp_str_ptr);
    for (int i = 1; i < st->nmeta; i++)
        if (strcmp(keys[i - 1], keys[i]) == 0) {
            nn_fail(ctx, NN_ERR_FORMAT, "%s: duplicate metadata key '%.80s'", L, keys[i]);
            free(keys);
            return false;
        }
    free(keys);
    return true;
nomem:
    nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory reading the metadata", L);
    return false;
}

/* Fills e from the header entry c, checking everything that concerns the
 * entry alone. */
static bool parse_entry(nn_safetensors *st, struct st_entry *e, const cJSON *c)
{
    nn_ctx *ctx = st->ctx;
    const char *L = st->label;
    e->name = strdup(c->string ? c->string : "");
    if (!e->name) {
        nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", L);
        return false;
    }
    const char *N = e->name;
    if (!cJSON_IsObject(c)) {
        nn_fail(ctx, NN_ERR_FORMAT,
                "%s: tensor '%.80s' is not an object with dtype, shape and data_offsets", L, N);
        return false;
    }
    const cJSON *dt = NULL, *sh = NULL, *off = NULL;
    for (const cJSON *k = c->child; k; k = k->next) {
        const char *key = k->string ? k->string : "";
        const cJSON **slot = strcmp(key, "dtype") == 0          ? &dt
                             : strcmp(key, "shape") == 0        ? &sh
                             : strcmp(key, "data_offsets") == 0 ? &off
                                                                : NULL;
        if (!slot) {
            nn_fail(ctx, NN_ERR_FORMAT, "%s: tensor '%.80s' has an unexpected key '%.40s'",
                    L, N, key);
            return false;
        }
        if (*slot) {
            nn_fail(ctx, NN_ERR_FORMAT, "%s: tensor '%.80s' has key '%s' twice", L, N, key);
            return false;
        }
        *slot = k;
    }
    if (!dt || !sh || !off) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: tensor '%.80s' has no %s", L, N,
                !dt ? "dtype" : !sh ? "shape" : "data_offsets");
        return false;
    }
    if (!cJSON_IsString(dt) || !dt->valuestring) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: tensor '%.80s': dtype is not a string", L, N);
        return false;
    }
    const struct st_dtype *d = dtype_find(dt->valuestring);
    if (!d) {
        nn_fail(ctx, NN_ERR_FORMAT,
                "%s: tensor '%.80s' has unsupported dtype '%.20s' (supported: " ST_SUPPORTED ")",
                L, N, dt->valuestring);
        return false;
    }
    if (!cJSON_IsArray(sh)) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: tensor '%.80s': shape is not an array", L, N);
        return false;
    }
    int ndim = cJSON_GetArraySize(sh);
    e->dims = malloc(((size_t)ndim + 1) * sizeof *e->dims);
    if (!e->dims) {
        nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", L);
        return false;
    }
    int j = 0;
    for (const cJSON *k = sh->child; k; k = k->next, j++) {
        if (!json_int(k, &e->dims[j])) {
            nn_fail(ctx, NN_ERR_FORMAT, "%s: tensor '%.80s': shape[%d] is not an integer",
                    L, N, j);
            return false;
        }
        if (e->dims[j] < 0) {
            nn_fail(ctx, NN_ERR_FORMAT, "%s: tensor '%.80s': shape[%d] is %lld, expected >= 0",
                    L, N, j, (long long)e->dims[j]);
            return false;
        }
    }
    char sbuf[96];
    int64_t numel = shape_numel(e->dims, ndim);
    if (numel < 0 || numel > INT64_MAX / (int64_t)d->size) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: tensor '%.80s': shape %s is too large", L, N,
                shape_text(e->dims, ndim, sbuf, sizeof sbuf));
        return false;
    }
    int64_t b = -1, en = -1;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        !json_int(cJSON_GetArrayItem(off, 0), &b) ||
        !json_int(cJSON_GetArrayItem(off, 1), &en) || b < 0 || en < b) {
        nn_fail(ctx, NN_ERR_FORMAT,
                "%s: tensor '%.80s': data_offsets must be [begin, end] with integers "
                "0 <= begin <= end",
                L, N);
        return false;
    }
    if ((uint64_t)en > st->dlen) {
        nn_fail(ctx, NN_ERR_FORMAT,
                "%s: tensor '%.80s': data_offsets [%lld, %lld] run past the end of the "
                "data section (%zu bytes)",
                L, N, (long long)b, (long long)en, st->dlen);
        return false;
    }
    int64_t nbytes = numel * (int64_t)d->size;
    if (en - b != nbytes) {
        nn_fail(ctx, NN_ERR_FORMAT,
                "%s: tensor '%.80s': shape %s of %s needs %lld bytes but data_offsets "
                "[%lld, %lld] hold %lld",
                L, N, shape_text(e->dims, ndim, sbuf, sizeof sbuf), d->name,
                (long long)nbytes, (long long)b, (long long)en, (long long)(en - b));
        return false;
    }
    e->begin = b;
    e->end = en;
    e->v.name = e->name;
    e->v.dtype = d->name;
    e->v.ndim = ndim;
    e->v.dims = e->dims;
    e->v.numel = numel;
    e->v.nbytes = (size_t)nbytes;
    return true;
}

static int cmp_entry_name(const void *a, const void *b)
{
    const struct st_entry *x = *(const struct st_entry *const *)a;
    const struct st_entry *y = *(const struct st_entry *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_entry_range(const void *a, const void *b)
{
    const struct st_entry *x = *(const struct st_entry *const *)a;
    const struct st_entry *y = *(const struct st_entry *const *)b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Checks that the ranges tile [0, dlen) exactly. ord is scratch of n. */
static bool check_tiling(nn_safetensors *st, struct st_entry **ord)
{
    const char *L = st->label;
    for (int i = 0; i < st->n; i++)
        ord[i] = &st->t[i];
    qsort(ord, (size_t)st->n, sizeof *ord, cmp_entry_range);
    int64_t pos = 0;
    for (int i = 0; i < st->n; i++) {
        const struct st_entry *e = ord[i], *p = i ? ord[i - 1] : NULL;
        if (e->begin > pos) {
            if (!p)
                nn_fail(st->ctx, NN_ERR_FORMAT,
                        "%s: gap in the data section: bytes [0, %lld) belong to no tensor "
                        "(the first, '%.80s', begins at %lld)",
                        L, (long long)e->begin, e->name, (long long)e->begin);
            else
                nn_fail(st->ctx, NN_ERR_FORMAT,
                        "%s: gap in the data section: bytes [%lld, %lld) between tensors "
                        "'%.80s' and '%.80s' belong to none",
                        L, (long long)pos, (long long)e->begin, p->name, e->name);
            return false;
        }
        if (e->begin < pos) {
            nn_fail(st->ctx, NN_ERR_FORMAT,
                    "%s: tensors '%.80s' [%lld, %lld) and '%.80s' [%lld, %lld) overlap", L,
                    p->name, (long long)p->begin, (long long)p->end, e->name,
                    (long long)e->begin, (long long)e->end);
            return false;
        }
        pos = e->end;
    }
    if ((uint64_t)pos != st->dlen) {
        nn_fail(st->ctx, NN_ERR_FORMAT,
                "%s: the data section has %zu bytes but the tensors cover only %lld "
                "(trailing bytes belong to no tensor)",
                L, st->dlen, (long long)pos);
        return false;
    }
    return true;
}

/* Builds a handle from a NUL-terminated header hdr[0..hlen) and the data
 * section (NN_ALIGN-aligned, owned: freed on failure too). */
static nn_safetensors *st_build(nn_ctx *ctx, const char *label, const char *hdr,
                                size_t hlen, unsigned char *data, size_t dlen)
{
    cJSON *root = NULL;
    struct st_entry **ord = NULL;
    nn_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        nn_aligned_free(data);
        nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", label);
        return NULL;
    }
    st->ctx = ctx;
    st->data = data;
    st->dlen = dlen;
    st->label = strdup(label);
    if (!st->label) {
        nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", label);
        goto fail;
    }
    const char *L = st->label;

    size_t bad = 0;
    const char *nul = memchr(hdr, 0, hlen);
    if (hlen == 0 || hdr[0] != '{') {
        nn_fail(ctx, NN_ERR_FORMAT,
                "%s: the header does not begin with '{' (not a safetensors file?)", L);
        goto fail;
    }
    if (nul) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: the header has a NUL byte at offset %zu", L,
                (size_t)(nul - hdr));
        goto fail;
    }
    if (!nn_utf8_valid(hdr, hlen, &bad)) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: the header is not valid UTF-8 (byte %zu)", L, bad);
        goto fail;
    }
    const char *end = NULL;
    root = cJSON_ParseWithOpts(hdr, &end, 0);
    if (!root) {
        size_t at = end && end >= hdr && end <= hdr + hlen ? (size_t)(end - hdr) : 0;
        nn_fail(ctx, NN_ERR_FORMAT,
                "%s: the header is not valid JSON (error near byte %zu of %zu)", L, at, hlen);
        goto fail;
    }
    for (const char *p = end; p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            nn_fail(ctx, NN_ERR_FORMAT,
                    "%s: unexpected text after the JSON header at byte %zu", L,
                    (size_t)(p - hdr));
            goto fail;
        }
    if (!cJSON_IsObject(root)) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: the header is not a JSON object", L);
        goto fail;
    }

    int nt = 0;
    const cJSON *meta = NULL;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c->string && strcmp(c->string, ST_META) == 0) {
            if (meta) {
                nn_fail(ctx, NN_ERR_FORMAT, "%s: \"" ST_META "\" appears twice", L);
                goto fail;
            }
            meta = c;
        } else {
            nt++;
        }
    }
    if (meta && !parse_meta(st, meta))
        goto fail;

    st->t = calloc((size_t)nt + 1, sizeof *st->t);
    st->by_name = calloc((size_t)nt + 1, sizeof *st->by_name);
    ord = calloc((size_t)nt + 1, sizeof *ord);
    if (!st->t || !st->by_name || !ord) {
        nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory for %d tensors", L, nt);
        goto fail;
    }
    for (const cJSON *c = root->child; c; c = c->next) {
        if (c == meta)
            continue;
        struct st_entry *e = &st->t[st->n++];
        if (!parse_entry(st, e, c))
            goto fail;
        st->by_name[st->n - 1] = e;
    }
    qsort(st->by_name, (size_t)st->n, sizeof *st->by_name, cmp_entry_name);
    for (int i = 1; i < st->n; i++)
        if (strcmp(st->by_name[i - 1]->name, st->by_name[i]->name) == 0) {
            nn_fail(ctx, NN_ERR_FORMAT, "%s: duplicate tensor name '%.80s'", L,
                    st->by_name[i]->name);
            goto fail;
        }
    if (!check_tiling(st, ord))
        goto fail;

    /* Host byte order, then pointers aligned to the element size. */
    bool le = host_little_endian();
    for (int i = 0; i < st->n; i++) {
        struct st_entry *e = &st->t[i];
        size_t es = nn_st_dtype_size(e->v.dtype);
        unsigned char *p = st->data + e->begin;
        if (!le && es > 1)
            nn_st_swap_copy(p, p, (size_t)e->v.numel, es);
        if ((uintptr_t)p % es != 0) {
            e->copy = nn_aligned_alloc(e->v.nbytes);
            if (!e->copy) {
                nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", L);
                goto fail;
            }
            memcpy(e->copy, p, e->v.nbytes);
            p = e->copy;
        }
        e->v.data = p;
    }
    free(ord);
    cJSON_Delete(root);
    return st;
fail:
    free(ord);
    cJSON_Delete(root);
    nn_safetensors_close(st);
    return NULL;
}

/* Checks a header length read from the first 8 bytes against the size. */
static bool check_header_len(nn_ctx *ctx, const char *label, uint64_t n, uint64_t size)
{
    char text[9]; /* the 8 bytes, when they are text (a CSV or a script given as a model) */
    bool is_text = true;
    for (int i = 0; i < 8; i++) {
        unsigned char c = (unsigned char)(n >> (8 * i));
        is_text &= (c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n' || c == '\r';
        text[i] = c < 0x20 ? ' ' : (char)c;
    }
    text[8] = '\0';
    if (n > size - 8 && is_text) {
        nn_fail(ctx, NN_ERR_FORMAT,
                "%s: not a safetensors file: it begins with text ('%s...'), where a "
                "safetensors file (a checkpoint) begins with its header's length",
                label, text);
        return false;
    }
    if (n > size - 8) {
        nn_fail(ctx, NN_ERR_FORMAT,
                "%s: header length %llu exceeds the %llu bytes that follow it "
                "(truncated, or not a safetensors file)",
                label, (unsigned long long)n, (unsigned long long)(size - 8));
        return false;
    }
    if (n > ST_MAX_HEADER) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: header length %llu exceeds the limit of %llu",
                label, (unsigned long long)n, (unsigned long long)ST_MAX_HEADER);
        return false;
    }
    return true;
}

nn_safetensors *nn_safetensors_parse(nn_ctx *ctx, const char *label, const void *buf,
                                     size_t len)
{
    const unsigned char *b = buf;
    if (!label)
        label = "(memory)";
    if (len < 8) {
        nn_fail(ctx, NN_ERR_FORMAT,
                "%s: %zu bytes are too few for a safetensors file (8-byte header length first)",
                label, len);
        return NULL;
    }
    uint64_t n = load_le64(b);
    if (!check_header_len(ctx, label, n, len))
        return NULL;
    size_t dlen = len - 8 - (size_t)n;
    char *hdr = malloc((size_t)n + 1);
    unsigned char *data = nn_aligned_alloc(dlen);
    if (!hdr || !data) {
        free(hdr);
        nn_aligned_free(data);
        nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", label);
        return NULL;
    }
    memcpy(hdr, b + 8, (size_t)n);
    hdr[n] = '\0';
    if (dlen)
        memcpy(data, b + 8 + n, dlen);
    nn_safetensors *st = st_build(ctx, label, hdr, (size_t)n, data, dlen);
    free(hdr);
    return st;
}

/* Reads exactly n bytes; false with a message on error or early end. */
static bool read_exact(nn_ctx *ctx, const char *path, FILE *f, void *p, size_t n)
{
    if (n == 0 || fread(p, 1, n, f) == n)
        return true;
    if (ferror(f))
        nn_fail(ctx, NN_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
    else
        nn_fail(ctx, NN_ERR_IO, "cannot read '%s': the file ended early (changed while read?)",
                path);
    return false;
}

nn_safetensors *nn_safetensors_open(nn_ctx *ctx, const char *path)
{
    if (!path) {
        nn_fail(ctx, NN_ERR_INVALID, "safetensors: no path given");
        return NULL;
    }
    char *hdr = NULL;
    unsigned char *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        nn_fail(ctx, NN_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        nn_fail(ctx, NN_ERR_IO, "cannot stat '%s': %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(sb.st_mode)) {
        nn_fail(ctx, NN_ERR_IO, "'%s' is not a regular file", path);
        goto fail;
    }
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8) {
        nn_fail(ctx, NN_ERR_FORMAT,
                "%s: the file has %llu bytes, too few for a safetensors file "
                "(8-byte header length first)",
                path, (unsigned long long)size);
        goto fail;
    }
    unsigned char lenb[8];
    if (!read_exact(ctx, path, f, lenb, 8))
        goto fail;
    uint64_t n = load_le64(lenb);
    if (!check_header_len(ctx, path, n, size))
        goto fail;
    if (size - 8 - n > (uint64_t)SIZE_MAX) {
        nn_fail(ctx, NN_ERR_NOMEM, "%s: the data section is too large to load", path);
        goto fail;
    }
    size_t dlen = (size_t)(size - 8 - n);
    hdr = malloc((size_t)n + 1);
    data = nn_aligned_alloc(dlen);
    if (!hdr || !data) {
        nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory loading %llu bytes", path,
                (unsigned long long)size);
        goto fail;
    }
    if (!read_exact(ctx, path, f, hdr, (size_t)n) || !read_exact(ctx, path, f, data, dlen))
        goto fail;
    hdr[n] = '\0';
    fclose(f);
    nn_safetensors *st = st_build(ctx, path, hdr, (size_t)n, data, dlen);
    free(hdr);
    return st;
fail:
    free(hdr);
    nn_aligned_free(data);
    fclose(f);
    return NULL;
}

/* ---- accessors ---------------------------------------------------------- */

int nn_safetensors_count(const nn_safetensors *st) { return st ? st->n : 0; }

const struct nn_st_view *nn_safetensors_at(const nn_safetensors *st, int i)
{
    return st && i >= 0 && i < st->n ? &st->t[i].v : NULL;
}

int64_t nn_st_offset(const nn_safetensors *st, int i)
{
    return st && i >= 0 && i < st->n ? st->t[i].begin : -1;
}

const struct nn_st_view *nn_safetensors_find(const nn_safetensors *st, const char *name)
{
    if (!st || !name)
        return NULL;
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(name, st->by_name[mid]->name);
        if (c == 0)
            return &st->by_name[mid]->v;
        if (c < 0)
            hi = mid - 1;
        else
            lo = mid + 1;
    }
    return NULL;
}

const float *nn_safetensors_get_f32(const nn_safetensors *st, const char *name, int ndim,
                                    const int64_t *dims)
{
    if (!st || !name)
        return NULL;
    const struct nn_st_view *v = nn_safetensors_find(st, name);
    if (!v) {
        nn_fail(st->ctx, NN_ERR_FORMAT, "%s: no tensor named '%.80s'", st->label, name);
        return NULL;
    }
    if (strcmp(v->dtype, "F32") != 0) {
        nn_fail(st->ctx, NN_ERR_FORMAT, "%s: tensor '%.80s' has dtype %s, expected F32",
                st->label, name, v->dtype);
        return NULL;
    }
    if (dims) {
        bool same = v->ndim == ndim;
        for (int i = 0; same && i < ndim; i++)
            same = v->dims[i] == dims[i];
        if (!same) {
            char a[96], b[96];
            nn_fail(st->ctx, NN_ERR_SHAPE, "%s: tensor '%.80s' has shape %s, expected %s",
                    st->label, name, shape_text(v->dims, v->ndim, a, sizeof a),
                    shape_text(dims, ndim, b, sizeof b));
            return NULL;
        }
    }
    return v->data;
}

const char *nn_safetensors_meta(const nn_safetensors *st, const char *key)
{
    if (!st || !key)
        return NULL;
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->mkey[i], key) == 0)
            return st->mval[i];
    return NULL;
}

int nn_safetensors_meta_count(const nn_safetensors *st) { return st ? st->nmeta : 0; }

const char *nn_safetensors_meta_key(const nn_safetensors *st, int i)
{
    return st && i >= 0 && i < st->nmeta ? st->mkey[i] : NULL;
}

const char *nn_safetensors_path(const nn_safetensors *st) { return st ? st->label : NULL; }

/* ---- the writer --------------------------------------------------------- */

/* The layout order: decreasing element size, stable, so each tensor starts
 * at a multiple of its element size (the header is padded to 8). */
static void layout_order(const struct nn_st_tensor *t, int n, int *order)
{
    int k = 0;
    static const size_t sizes[] = {8, 4, 2, 1};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int i = 0; i < n; i++)
            if (nn_st_dtype_size(t[i].dtype) == sizes[s])
                order[k++] = i;
    NN_ASSERT(k == n, "every dtype has a listed size");
}

/* Adds an integer to a JSON array as raw text: cJSON would print large
 * values in exponent form, which readers of the format reject. */
static bool add_int(cJSON *arr, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    cJSON *r = cJSON_CreateRaw(buf);
    if (!r)
        return false;
    if (!cJSON_AddItemToArray(arr, r)) {
        cJSON_Delete(r);
        return false;
    }
    return true;
}

/* Checks the save arguments; NN_OK or NN_ERR_INVALID with a message. */
static nn_status check_save_args(nn_ctx *ctx, const char *path, const struct nn_st_tensor *t,
                                 int n, const char *const *mk, const char *const *mv,
                                 int nmeta)
{
    if (n < 0 || nmeta < 0 || (n > 0 && !t) || (nmeta > 0 && (!mk || !mv)))
        return nn_fail(ctx, NN_ERR_INVALID, "%s: bad tensor or metadata list (n %d, nmeta %d)",
                       path, n, nmeta);
    for (int i = 0; i < n; i++) {
        const struct nn_st_tensor *x = &t[i];
        if (!x->name)
            return nn_fail(ctx, NN_ERR_INVALID, "%s: tensor %d has no name", path, i);
        if (!nn_utf8_valid(x->name, strlen(x->name), NULL))
            return nn_fail(ctx, NN_ERR_INVALID, "%s: the name of tensor %d is not valid UTF-8",
                           path, i);
        if (strcmp(x->name, ST_META) == 0)
            return nn_fail(ctx, NN_ERR_INVALID,
                           "%s: tensor %d: the name \"" ST_META "\" is reserved", path, i);
        if (!dtype_find(x->dtype))
            return nn_fail(ctx, NN_ERR_INVALID,
                           "%s: tensor '%.80s': unsupported dtype '%.20s' (supported: "
                           ST_SUPPORTED ")",
                           path, x->name, x->dtype ? x->dtype : "(null)");
        if (x->ndim < 0 || x->ndim > NN_MAX_DIMS)
            return nn_fail(ctx, NN_ERR_INVALID,
                           "%s: tensor '%.80s': %d dimensions, expected 0 to %d", path,
                           x->name, x->ndim, NN_MAX_DIMS);
        for (int j = 0; j < x->ndim; j++)
            if (x->dims[j] < 0)
                return nn_fail(ctx, NN_ERR_INVALID,
                               "%s: tensor '%.80s': dimension %d is %lld, expected >= 0", path,
                               x->name, j, (long long)x->dims[j]);
        int64_t numel = shape_numel(x->dims, x->ndim);
        if (numel < 0 || numel > INT64_MAX / 8)
            return nn_fail(ctx, NN_ERR_INVALID, "%s: tensor '%.80s' is too large", path,
                           x->name);
        if (numel > 0 && !x->data)
            return nn_fail(ctx, NN_ERR_INVALID, "%s: tensor '%.80s' has no data", path,
                           x->name);
    }
    for (int i = 0; i < nmeta; i++) {
        if (!mk[i] || !mv[i])
            return nn_fail(ctx, NN_ERR_INVALID, "%s: metadata entry %d is NULL", path, i);
        if (!nn_utf8_valid(mk[i], strlen(mk[i]), NULL) ||
            !nn_utf8_valid(mv[i], strlen(mv[i]), NULL))
            return nn_fail(ctx, NN_ERR_INVALID, "%s: metadata entry %d is not valid UTF-8",
                           path, i);
    }
    return NN_OK;
}

/* Sorted copies of the strings; NN_ERR_INVALID naming a duplicate. */
static nn_status check_unique(nn_ctx *ctx, const char *path, const char **s, int n,
                              const char *what)
{
    qsort(s, (size_t)n, sizeof *s, cmp_str_ptr);
    for (int i = 1; i < n; i++)
        if (strcmp(s[i - 1], s[i]) == 0)
            return nn_fail(ctx, NN_ERR_INVALID, "%s: duplicate %s '%.80s'", path, what, s[i]);
    return NN_OK;
}

nn_status nn_st_build_header(nn_ctx *ctx, const char *path, const struct nn_st_tensor *t,
                             int n, const char *const *meta_keys,
                             const char *const *meta_values, int nmeta, char **hdr,
                             size_t *hlen, int64_t *begin, int64_t *nbytes)
{
    *hdr = NULL;
    *hlen = 0;
    nn_status s = check_save_args(ctx, path, t, n, meta_keys, meta_values, nmeta);
    if (s != NN_OK)
        return s;
    int most = n > nmeta ? n : nmeta;
    const char **names = malloc(((size_t)most + 1) * sizeof *names);
    int *order = malloc(((size_t)n + 1) * sizeof *order);
    cJSON *root = cJSON_CreateObject();
    char *text = NULL;
    if (!names || !order || !root)
        goto nomem;
    for (int i = 0; i < n; i++)
        names[i] = t[i].name;
    if ((s = check_unique(ctx, path, names, n, "tensor name")) != NN_OK)
        goto out;
    for (int i = 0; i < nmeta; i++)
        names[i] = meta_keys[i];
    if ((s = check_unique(ctx, path, names, nmeta, "metadata key")) != NN_OK)
        goto out;

    layout_order(t, n, order);
    int64_t pos = 0;
    for (int k = 0; k < n; k++) {
        int i = order[k];
        int64_t nb = shape_numel(t[i].dims, t[i].ndim) *
                     (int64_t)nn_st_dtype_size(t[i].dtype);
        if (pos > INT64_MAX - nb) {
            s = nn_fail(ctx, NN_ERR_INVALID, "%s: the tensors are too large together", path);
            goto out;
        }
        begin[i] = pos;
        nbytes[i] = nb;
        pos += nb;
    }

    if (nmeta > 0) {
        cJSON *m = cJSON_AddObjectToObject(root, ST_META);
        if (!m)
            goto nomem;
        for (int i = 0; i < nmeta; i++)
            if (!cJSON_AddStringToObject(m, meta_keys[i], meta_values[i]))
                goto nomem;
    }
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_AddObjectToObject(root, t[i].name);
        if (!o || !cJSON_AddStringToObject(o, "dtype", t[i].dtype))
            goto nomem;
        cJSON *shape = cJSON_AddArrayToObject(o, "shape");
        if (!shape)
            goto nomem;
        for (int j = 0; j < t[i].ndim; j++)
            if (!add_int(shape, t[i].dims[j]))
                goto nomem;
        cJSON *off = cJSON_AddArrayToObject(o, "data_offsets");
        if (!off || !add_int(off, begin[i]) || !add_int(off, begin[i] + nbytes[i]))
            goto nomem;
    }
    text = cJSON_PrintUnformatted(root);
    if (!text)
        goto nomem;
    size_t len = strlen(text), padded = (len + 7) & ~(size_t)7;
    char *grown = realloc(text, padded + 1);
    if (!grown)
        goto nomem;
    text = grown;
    memset(text + len, ' ', padded - len);
    text[padded] = '\0';
    *hdr = text;
    *hlen = padded;
    text = NULL;
    s = NN_OK;
    goto out;
nomem:
    s = nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory building the header", path);
out:
    free(text);
    cJSON_Delete(root);
    free(order);
    free(names);
    return s;
}

#ifdef NN_TESTING
struct nn_st_faults nn_st_faults = {-1, false};
#define INJECTED(o) ((o)->injected ? " (injected failure for testing)" : "")
#else
#define INJECTED(o) ""
#endif

/* The output file, counting what it has written. */
struct st_out {
    int fd;
    int64_t written;
#ifdef NN_TESTING
    bool injected; /* the last failure was injected */
#endif
};

static int out_write(struct st_out *o, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
#ifdef NN_TESTING
        int64_t limit = nn_st_faults.fail_after;
        if (limit >= 0) {
            if (o->written >= limit) {
                o->injected = true;
                errno = EIO;
                return -1;
            }
            if ((uint64_t)(limit - o->written) < chunk)
                chunk = (size_t)(limit - o->written);
        }
#endif
        ssize_t w = write(o->fd, p, chunk);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
        o->written += w;
    }
    return 0;
}

/* Writes a tensor's data little-endian. */
static int out_tensor(struct st_out *o, const struct nn_st_tensor *x, int64_t nbytes)
{
    size_t es = nn_st_dtype_size(x->dtype);
    if (nbytes == 0)
        return 0;
    if (host_little_endian() || es == 1)
        return out_write(o, x->data, (size_t)nbytes);
    unsigned char buf[1 << 16];
    const unsigned char *src = x->data;
    size_t left = (size_t)nbytes;
    while (left > 0) {
        size_t take = left < sizeof buf ? left : sizeof buf;
        nn_st_swap_copy(buf, src, take / es, es);
        if (out_write(o, buf, take) != 0)
            return -1;
        src += take;
        left -= take;
    }
    return 0;
}

/* A fresh name "path.tmp.XXXXXXXX" opened with O_EXCL, so the umask applies
 * as for any new file (mkstemp would force mode 0600). */
static int open_temp(const char *path, char *tmp, size_t len)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^
                 ((uint64_t)getpid() << 20) ^ (uint64_t)(uintptr_t)&ts;
    for (int attempt = 0; attempt < 100; attempt++) {
        x += 0x9e3779b97f4a7c15ULL;
        uint64_t z = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        snprintf(tmp, len, "%s.tmp.%08x", path, (unsigned)(z >> 32));
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1;
}

static nn_status write_atomic(nn_ctx *ctx, const char *path, const char *hdr, size_t hlen,
                              const struct nn_st_tensor *t, int n, const int *order,
                              const int64_t *nbytes)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32), *dir = malloc(plen + 2);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        return nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", path);
    }
    const char *slash = strrchr(path, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == path)
        strcpy(dir, "/");
    else {
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
    }

    nn_status s = NN_OK;
    bool created = false, renamed = false;
    struct st_out o = {.fd = -1};
    struct stat old;
    bool have_old = stat(path, &old) == 0 && S_ISREG(old.st_mode);
    o.fd = open_temp(path, tmp, plen + 32);
    if (o.fd < 0) {
        s = nn_fail(ctx, NN_ERR_IO, "cannot create a temporary file next to '%s': %s", path,
                    strerror(errno));
        goto out;
    }
    created = true;
    if (have_old) /* best effort: keep the old file's permission bits */
        (void)fchmod(o.fd, old.st_mode & 07777);

    unsigned char lenb[8];
    store_le64(lenb, (uint64_t)hlen);
    bool ok = out_write(&o, lenb, 8) == 0 && out_write(&o, hdr, hlen) == 0;
    for (int k = 0; ok && k < n; k++)
        ok = out_tensor(&o, &t[order[k]], nbytes[order[k]]) == 0;
    if (!ok) {
        s = nn_fail(ctx, NN_ERR_IO, "cannot write '%s': %s%s", path, strerror(errno),
                    INJECTED(&o));
        goto out;
    }
    if (fsync(o.fd) != 0) {
        s = nn_fail(ctx, NN_ERR_IO, "cannot write '%s': fsync: %s", path, strerror(errno));
        goto out;
    }
    int fd = o.fd;
    o.fd = -1;
    if (close(fd) != 0) {
        s = nn_fail(ctx, NN_ERR_IO, "cannot write '%s': close: %s", path, strerror(errno));
        goto out;
    }
#ifdef NN_TESTING
    if (nn_st_faults.fail_rename) {
        s = nn_fail(ctx, NN_ERR_IO, "cannot rename '%s' to '%s': %s (injected failure for "
                    "testing)", tmp, path, strerror(EIO));
        goto out;
    }
#endif
    if (rename(tmp, path) != 0) {
        s = nn_fail(ctx, NN_ERR_IO, "cannot rename '%s' to '%s': %s", tmp, path,
                    strerror(errno));
        goto out;
    }
    renamed = true;
    /* Make the rename itself durable. Some file systems cannot sync a
     * directory (EINVAL); the file is complete either way. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || (fsync(dfd) != 0 && errno != EINVAL)) {
        s = nn_fail(ctx, NN_ERR_IO, "wrote '%s' but cannot sync its directory '%s': %s", path,
                    dir, strerror(errno));
    }
    if (dfd >= 0)
        close(dfd);
out:
    if (o.fd >= 0)
        close(o.fd);
    if (created && !renamed)
        unlink(tmp);
    free(tmp);
    free(dir);
    return s;
}

nn_status nn_safetensors_save(nn_ctx *ctx, const char *path, const struct nn_st_tensor *t,
                              int n, const char *const *meta_keys,
                              const char *const *meta_values, int nmeta)
{
    if (!path || !*path)
        return nn_fail(ctx, NN_ERR_INVALID, "safetensors: no path given to save to");
    size_t cnt = n > 0 ? (size_t)n : 1;
    int64_t *begin = calloc(cnt, sizeof *begin), *nbytes = calloc(cnt, sizeof *nbytes);
    int *order = calloc(cnt, sizeof *order);
    char *hdr = NULL;
    size_t hlen = 0;
    nn_status s;
    if (!begin || !nbytes || !order) {
        s = nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", path);
        goto out;
    }
    s = nn_st_build_header(ctx, path, t, n, meta_keys, meta_values, nmeta, &hdr, &hlen, begin,
                           nbytes);
    if (s != NN_OK)
        goto out;
    layout_order(t, n, order);
    s = write_atomic(ctx, path, hdr, hlen, t, n, order, nbytes);
out:
    free(hdr);
    free(order);
    free(begin);
    free(nbytes);
    return s;
}
