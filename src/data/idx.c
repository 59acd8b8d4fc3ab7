/*
 * idx.c - the IDX format of the MNIST family: a header of two zero bytes, a
 * type code, a dimension count and that many big-endian uint32 sizes, then
 * the values. Files are read through zlib, so gzip-compressed and raw files
 * both work; memory buffers (fuzzing) are inflated when they start with the
 * gzip magic. Also the data sets shipped by Debian packages, by name.
 */
#include "data/data.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* A byte source: a zlib file, or memory (raw or gzip). */
struct src {
    const char *name; /* for messages */
    const char *role; /* "images" or "labels" */
    gzFile gz;
    const uint8_t *mem;
    size_t len, pos;
    z_stream z;
    bool inflating, zend;
};

static nn_status src_open_mem(nn_ctx *ctx, struct src *s, const uint8_t *buf, size_t len)
{
    s->mem = buf;
    s->len = len;
    if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b) {
        memset(&s->z, 0, sizeof s->z);
        if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
            return nn_fail(ctx, NN_ERR_NOMEM, "%s file '%s': cannot start inflating",
                           s->role, s->name);
        s->z.next_in = (Bytef *)(uintptr_t)buf; /* zlib does not write it */
        s->z.avail_in = len > UINT_MAX ? UINT_MAX : (uInt)len;
        s->pos = s->z.avail_in;
        s->inflating = true;
    }
    return NN_OK;
}

static void src_close(struct src *s)
{
    if (s->gz)
        gzclose(s->gz);
    if (s->inflating)
        inflateEnd(&s->z);
    s->gz = NULL;
    s->inflating = false;
}

/* Reads up to n bytes into buf; fewer only at the end of the data. Returns
 * the count, or -1 with a message (corrupt or truncated compression). */
static int64_t src_read(nn_ctx *ctx, struct src *s, uint8_t *buf, size_t n)
{
    size_t got = 0;
    if (s->gz) {
        while (got < n) {
            size_t want = n - got > (1u << 30) ? (1u << 30) : n - got;
            int r = gzread(s->gz, buf + got, (unsigned)want);
            if (r < 0 || (r == 0 && !gzeof(s->gz))) {
                int err = 0;
                const char *msg = gzerror(s->gz, &err);
                nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': %s", s->role, s->name,
                        err == Z_ERRNO ? strerror(errno) : msg);
                return -1;
            }
            if (r == 0)
                break;
            got += (size_t)r;
        }
        /* zlib reports a gzip stream cut short as an error at its end. */
        int err = 0;
        const char *msg = gzerror(s->gz, &err);
        if (err != Z_OK && err != Z_STREAM_END) {
            nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': %s (truncated or corrupt "
                    "gzip data)", s->role, s->name, msg);
            return -1;
        }
        return (int64_t)got;
    }
    if (!s->inflating) {
        size_t k = s->len - s->pos < n ? s->len - s->pos : n;
        memcpy(buf, s->mem + s->pos, k);
        s->pos += k;
        return (int64_t)k;
    }
    while (got < n && !s->zend) {
        size_t want = n - got > UINT_MAX ? UINT_MAX : n - got;
        if (s->z.avail_in == 0 && s->pos < s->len) {
            size_t k = s->len - s->pos > UINT_MAX ? UINT_MAX : s->len - s->pos;
            s->z.next_in = (Bytef *)(uintptr_t)(s->mem + s->pos);
            s->z.avail_in = (uInt)k;
            s->pos += k;
        }
        s->z.next_out = buf + got;
        s->z.avail_out = (uInt)want;
        int r = inflate(&s->z, Z_NO_FLUSH);
        got += want - s->z.avail_out;
        if (r == Z_STREAM_END) {
            s->zend = true; /* bytes after the first gzip member are ignored */
        } else if (r == Z_BUF_ERROR && s->z.avail_in == 0 && s->pos >= s->len) {
            nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': truncated gzip data", s->role,
                    s->name);
            return -1;
        } else if (r != Z_OK && r != Z_BUF_ERROR) {
            nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': corrupt gzip data (%s)", s->role,
                    s->name, s->z.msg ? s->z.msg : "inflate failed");
            return -1;
        }
    }
    return (int64_t)got;
}

/* ---- the IDX container ------------------------------------------------------ */

struct idx {
    int ndim;
    int64_t dim[4];
    int64_t total; /* values = bytes (type 0x08) */
    uint8_t *data; /* (total), owned */
};

static const char *idx_type_name(int code)
{
    switch (code) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "16-bit integer";
    case 0x0C: return "32-bit integer";
    case 0x0D: return "32-bit float";
    case 0x0E: return "64-bit float";
    }
    return NULL;
}

static void dims_str(const struct idx *x, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    for (int i = 0; i < x->ndim && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%lld", i ? " x " : "",
                                (long long)x->dim[i]);
}

/* Reads one IDX file of unsigned bytes with 1..max_ndim dimensions (labels:
 * exactly 1). Frees nothing on error: the caller frees x->data. */
static nn_status idx_read(nn_ctx *ctx, struct src *s, int min_ndim, int max_ndim,
                          struct idx *x)
{
    uint8_t h[16];
    int64_t got = src_read(ctx, s, h, 4);
    if (got < 0)
        return NN_ERR_FORMAT;
    if (got == 0)
        return nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': empty file, expected an "
                       "IDX header", s->role, s->name);
    if (got < 4)
        return nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': truncated IDX header "
                       "(%lld of 4 bytes)", s->role, s->name, (long long)got);
    if (h[0] != 0 || h[1] != 0)
        return nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': not an IDX file (magic "
                       "%02x %02x %02x %02x, expected 00 00 08 NN)", s->role, s->name,
                       h[0], h[1], h[2], h[3]);
    if (h[2] != 0x08) {
        const char *tn = idx_type_name(h[2]);
        if (tn)
            return nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': IDX type 0x%02X (%s) "
                           "is not supported, expected 0x08 (unsigned byte)", s->role,
                           s->name, h[2], tn);
        return nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': unknown IDX type code "
                       "0x%02X, expected 0x08 (unsigned byte)", s->role, s->name, h[2]);
    }
    if (h[3] < min_ndim || h[3] > max_ndim) {
        if (min_ndim == max_ndim)
            return nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': %d dimensions, "
                           "expected %d", s->role, s->name, h[3], min_ndim);
        return nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': %d dimensions, expected "
                       "%d to %d", s->role, s->name, h[3], min_ndim, max_ndim);
    }
    x->ndim = h[3];
    got = src_read(ctx, s, h, (size_t)(4 * x->ndim));
    if (got < 0)
        return NN_ERR_FORMAT;
    if (got < 4 * x->ndim)
        return nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': truncated IDX header "
                       "(%lld of %d dimension bytes)", s->role, s->name,
                       (long long)got, 4 * x->ndim);
    x->total = 1;
    for (int i = 0; i < x->ndim; i++) {
        const uint8_t *p = h + 4 * i;
        x->dim[i] = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                              (uint32_t)p[2] << 8 | p[3]);
        if (x->dim[i] == 0)
            return nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': dimension %d is 0",
                           s->role, s->name, i);
        if (!nn_mul_ok(x->total, x->dim[i], &x->total) || x->total > (INT64_MAX >> 2))
            return nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': header sizes are too "
                           "large", s->role, s->name);
    }
    /* Grow the buffer as data arrives, so a header that lies about the size
     * costs no more memory than the data really present. */
    char dbuf[96];
    size_t cap = 0, pos = 0, total = (size_t)x->total;
    while (pos < total) {
        if (pos == cap) {
            size_t ncap = cap ? cap * 2 : (size_t)1 << 16;
            ncap = ncap > total ? total : ncap;
            uint8_t *d = realloc(x->data, ncap);
            if (!d)
                return nn_fail(ctx, NN_ERR_NOMEM, "%s file '%s': out of memory",
                               s->role, s->name);
            x->data = d;
            cap = ncap;
        }
        got = src_read(ctx, s, x->data + pos, cap - pos);
        if (got < 0)
            return NN_ERR_FORMAT;
        pos += (size_t)got;
        if (pos < cap) {
            dims_str(x, dbuf, sizeof dbuf);
            return nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': truncated: the header "
                           "promises %lld data bytes (%s), the file has %zu",
                           s->role, s->name, (long long)x->total, dbuf, pos);
        }
    }
    got = src_read(ctx, s, h, 1);
    if (got < 0)
        return NN_ERR_FORMAT;
    if (got > 0) {
        dims_str(x, dbuf, sizeof dbuf);
        return nn_fail(ctx, NN_ERR_FORMAT, "%s file '%s': more data than the %lld "
                       "bytes its header promises (%s)", s->role, s->name,
                       (long long)x->total, dbuf);
    }
    return NN_OK;
}

/* Builds the data set from the parsed images and (optional) labels; takes
 * ownership of img->data. */
static nn_dataset *idx_build(nn_ctx *ctx, const char *img_name, struct idx *img,
                             const char *lbl_name, const struct idx *lbl)
{
    if (lbl && lbl->dim[0] != img->dim[0]) {
        nn_fail(ctx, NN_ERR_SHAPE, "images file '%s' holds %lld samples but labels "
                "file '%s' holds %lld", img_name, (long long)img->dim[0], lbl_name,
                (long long)lbl->dim[0]);
        return NULL;
    }
    int64_t shape[3];
    int ndim;
    if (img->ndim == 1) {
        ndim = 1;
        shape[0] = 1;
    } else if (img->ndim == 3) { /* (N, H, W): one channel */
        ndim = 3;
        shape[0] = 1;
        shape[1] = img->dim[1];
        shape[2] = img->dim[2];
    } else {
        ndim = img->ndim - 1;
        for (int i = 0; i < ndim; i++)
            shape[i] = img->dim[i + 1];
    }
    nn_dataset *ds = nn_ds_alloc(ctx, img_name, img->dim[0], ndim, shape, true,
                                 lbl ? NN_LABELS_CLASS : NN_LABELS_NONE, 0);
    if (!ds)
        return NULL;
    /* Hand the buffer read over to the store instead of copying it. */
    free(ds->store->u8);
    ds->store->u8 = img->data;
    img->data = NULL;
    if (lbl) {
        for (int64_t i = 0; i < lbl->dim[0]; i++)
            ds->store->labels[i] = lbl->data[i];
        nn_ds_count_classes(ds);
    }
    return ds;
}

/* Reads the images source and, when sl is given, the labels source (both
 * opened when ok), builds the set, and closes both. */
static nn_dataset *idx_load_opened(nn_ctx *ctx, bool ok, struct src *si, struct src *sl,
                                   const char *img_name, const char *lbl_name)
{
    struct idx xi = {0}, xl = {0};
    nn_dataset *ds = NULL;
    if (ok && idx_read(ctx, si, 1, 4, &xi) == NN_OK &&
        (!sl || idx_read(ctx, sl, 1, 1, &xl) == NN_OK))
        ds = idx_build(ctx, img_name, &xi, lbl_name, sl ? &xl : NULL);
    src_close(si);
    if (sl)
        src_close(sl);
    free(xi.data);
    free(xl.data);
    return ds;
}

nn_dataset *nn_idx_load_mem(nn_ctx *ctx, const char *img_name, const uint8_t *img,
                            size_t img_len, const char *lbl_name,
                            const uint8_t *lbl, size_t lbl_len)
{
    struct src si = {.name = img_name, .role = "images"};
    struct src sl = {.name = lbl_name ? lbl_name : "", .role = "labels"};
    bool ok = src_open_mem(ctx, &si, img, img_len) == NN_OK &&
              (!lbl || src_open_mem(ctx, &sl, lbl, lbl_len) == NN_OK);
    return idx_load_opened(ctx, ok, &si, lbl ? &sl : NULL, img_name, lbl_name);
}

static nn_status src_open_file(nn_ctx *ctx, struct src *s, const char *path)
{
    s->name = path;
    s->gz = gzopen(path, "rb");
    if (!s->gz)
        return nn_fail(ctx, NN_ERR_IO, "%s file '%s': cannot open: %s", s->role, path,
                       errno ? strerror(errno) : "out of memory");
    gzbuffer(s->gz, 1u << 17);
    return NN_OK;
}

nn_dataset *nn_dataset_load_idx(nn_ctx *ctx, const char *images_path,
                                const char *labels_path)
{
    if (!images_path) {
        nn_fail(ctx, NN_ERR_INVALID, "no images file given");
        return NULL;
    }
    struct src si = {.role = "images"}, sl = {.role = "labels"};
    errno = 0;
    bool ok = src_open_file(ctx, &si, images_path) == NN_OK;
    errno = 0;
    ok = ok && (!labels_path || src_open_file(ctx, &sl, labels_path) == NN_OK);
    return idx_load_opened(ctx, ok, &si, labels_path ? &sl : NULL, images_path, labels_path);
}

/* ---- data sets by name ------------------------------------------------------- */

static const char *const fashion_classes[10] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
};

/* root/dir/stem-kind-ubyte.gz, or without .gz if only that exists. */
static bool find_file(char *buf, size_t len, const char *root, const char *dir,
                      const char *stem, const char *kind)
{
    snprintf(buf, len, "%s/%s/%s-%s-ubyte.gz", root, dir, stem, kind);
    if (access(buf, R_OK) == 0)
        return true;
    snprintf(buf, len, "%s/%s/%s-%s-ubyte", root, dir, stem, kind);
    if (access(buf, R_OK) == 0)
        return true;
    snprintf(buf, len, "%s/%s/%s-%s-ubyte.gz", root, dir, stem, kind);
    return false;
}

nn_dataset *nn_dataset_load_named_in(nn_ctx *ctx, const char *root,
                                     const char *name, const char *split)
{
    if (!name || (strcmp(name, "fashion-mnist") != 0 && strcmp(name, "fashion_mnist") != 0)) {
        nn_fail(ctx, NN_ERR_INVALID, "unknown data set '%s'; known: fashion-mnist",
                name ? name : "(null)");
        return NULL;
    }
    const char *stem = NULL;
    if (split && strcmp(split, "train") == 0)
        stem = "train";
    else if (split && (strcmp(split, "test") == 0 || strcmp(split, "t10k") == 0))
        stem = "t10k";
    if (!stem) {
        nn_fail(ctx, NN_ERR_INVALID, "fashion-mnist: unknown split '%s', expected "
                "train or test", split ? split : "(null)");
        return NULL;
    }
    char img[4096], lbl[4096];
    if (!find_file(img, sizeof img, root, "fashion-mnist", stem, "images-idx3") ||
        !find_file(lbl, sizeof lbl, root, "fashion-mnist", stem, "labels-idx1")) {
        nn_fail(ctx, NN_ERR_IO, "fashion-mnist is not installed (%s not found); "
                "install it with: apt-get install dataset-fashion-mnist "
                "(or scripts/install-deps.sh)",
                access(img, R_OK) != 0 ? img : lbl);
        return NULL;
    }
    nn_dataset *ds = nn_dataset_load_idx(ctx, img, lbl);
    if (!ds)
        return NULL;
    struct nn_ds_store *s = ds->store;
    s->class_names = calloc(10, sizeof(char *));
    if (!s->class_names) {
        nn_dataset_free(ds);
        nn_fail(ctx, NN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int k = 0; k < 10; k++) {
        s->class_names[k] = nn_data_strdup(ctx, fashion_classes[k]);
        if (!s->class_names[k]) {
            nn_dataset_free(ds);
            return NULL;
        }
        s->nclass_names = k + 1;
    }
    if (nn_dataset_check_classes(ds, 10) != NN_OK) {
        nn_dataset_free(ds);
        return NULL;
    }
    return ds;
}

nn_dataset *nn_dataset_load_named(nn_ctx *ctx, const char *name, const char *split)
{
    return nn_dataset_load_named_in(ctx, "/usr/share/datasets", name, split);
}
