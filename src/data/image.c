/*
 * image.c - image data sets: decoding through stb_image (the Debian libstb
 * build provides the implementation), conversion to (C, H, W) uint8, the
 * size policy (one fixed size, or resizing with a separable triangle
 * filter), class folders, lists of files and single files for prediction.
 */
#include "data/data.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_image.h>

/* The formats accepted, by their first bytes; stb_image would also try
 * TGA, which has no signature and so would take almost any file. */
static const char *sniff(const uint8_t *b, size_t n)
{
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0)
        return "PNG";
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return "JPEG";
    if (n >= 2 && b[0] == 'B' && b[1] == 'M')
        return "BMP";
    if (n >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
        return "GIF";
    if (n >= 3 && b[0] == 'P' && (b[1] == '5' || b[1] == '6') &&
        (b[2] == ' ' || b[2] == '\n' || b[2] == '\r' || b[2] == '\t'))
        return "PNM";
    return NULL;
}

/* Two stb_image 2.27 (Debian's libstb) JPEG bugs, found by fuzzing an
 * instrumented copy: a DHT segment declaring more than 256 codes is written
 * past the 256-entry value table, and a scan may use a Huffman table that
 * was never defined (stb decodes with uninitialized memory). This walks the
 * file the way stb does (junk between segments skipped, bytes past the end
 * read as 0, tables read while the segment length says more follow) and
 * returns the problem, or NULL if stb may decode the file. */
static const char *jpeg_check(const uint8_t *b, size_t n)
{
    bool progressive = false, dc_def[4] = {0}, ac_def[4] = {0};
    size_t p = 2; /* after FF D8 */
    while (p + 1 < n) {
        uint8_t m = b[p + 1];
        if (b[p] != 0xFF || m == 0xFF) { /* junk or fill: stb skips it too */
            p++;
            continue;
        }
        if (m == 0x00 || m == 0x01 || m == 0xD8 || (m >= 0xD0 && m <= 0xD7)) {
            p += 2; /* markers without a length */
            continue;
        }
        if (m == 0xD9 || p + 4 > n)
            return NULL;
        size_t len = (size_t)b[p + 2] << 8 | b[p + 3];
        if (m == 0xC2)
            progressive = true;
        if (m == 0xC4) {
            long left = (long)len - 2;
            size_t q = p + 4;
            while (left > 0 && q < n) {
                size_t codes = 0;
                for (size_t i = 1; i <= 16; i++)
                    codes += q + i < n ? b[q + i] : 0;
                if (codes > 256)
                    return "a Huffman table with more than 256 codes";
                int tc = b[q] >> 4, th = b[q] & 15;
                if (tc <= 1 && th <= 3)
                    (tc ? ac_def : dc_def)[th] = true;
                left -= 17 + (long)codes;
                q += 17 + codes;
            }
        }
        if (m == 0xDA) { /* the tables each scanned component will use */
            size_t q = p + 4, ns = q < n ? b[q] : 0, tail = q + 1 + 2 * ns;
            int ss = tail < n ? b[tail] : 0, ah = tail + 2 < n ? b[tail + 2] >> 4 : 0;
            for (size_t c = 0; c < ns && ns <= 4; c++) {
                int t = q + 2 + 2 * c < n ? b[q + 2 + 2 * c] : 0;
                int td = t >> 4, ta = t & 15;
                bool dc = !progressive || (ss == 0 && ah == 0), ac = !progressive || ss > 0;
                if ((dc && (td > 3 || !dc_def[td])) || (ac && (ta > 3 || !ac_def[ta])))
                    return "a scan uses an undefined Huffman table";
            }
        }
        p += 2 + (len < 2 ? 2 : len);
        if (m == 0xDA) /* entropy-coded data up to the next real marker */
            while (p + 1 < n && !(b[p] == 0xFF && b[p + 1] != 0x00 && b[p + 1] != 0xFF &&
                                  !(b[p + 1] >= 0xD0 && b[p + 1] <= 0xD7)))
                p++;
    }
    return NULL;
}

/* stb_image grows its PNG data buffer to a chunk's declared length before
 * reading it, so a tiny file can make it allocate gigabytes. A chunk whose
 * data runs past the end of the file is corrupt anyway: returns false for
 * one (up to IEND; a missing final CRC is tolerated, as stb does). */
static bool png_chunks_ok(const uint8_t *b, size_t n)
{
    for (size_t p = 8; p + 8 <= n;) {
        uint32_t len = (uint32_t)b[p] << 24 | (uint32_t)b[p + 1] << 16 |
                       (uint32_t)b[p + 2] << 8 | b[p + 3];
        if (len > n - p - 8)
            return false;
        if (memcmp(b + p + 4, "IEND", 4) == 0)
            break;
        p += 12 + (size_t)len;
    }
    return true;
}

/* Two stb_image 2.27 bugs on PNM headers, found by fuzzing: a header
 * number of ten or more digits overflows a signed int (undefined
 * behaviour), and a 16-bit file (maximum value over 255) converted to other
 * channels is read past its buffer. Reads the three header numbers (width,
 * height, maximum value) the way stb does; returns false if one exceeds
 * 2^24 (more than stb accepts anyway), else the maximum value in *maxv. */
static bool pnm_header(const uint8_t *b, size_t n, uint64_t *maxv)
{
    size_t p = 2;
    uint64_t v = 0;
    for (int k = 0; k < 3; k++) {
        for (;;) { /* whitespace and # comments */
            while (p < n && (b[p] == ' ' || (b[p] >= '\t' && b[p] <= '\r')))
                p++;
            if (p >= n || b[p] != '#')
                break;
            while (p < n && b[p] != '\n' && b[p] != '\r')
                p++;
        }
        v = 0;
        while (p < n && b[p] >= '0' && b[p] <= '9') {
            v = v * 10 + (uint64_t)(b[p++] - '0');
            if (v > (1u << 24))
                return false;
        }
    }
    *maxv = v;
    return true;
}

/* ---- resizing ---------------------------------------------------------------- */

/* Weights of one axis: output o reads source pixels first[o] ..
 * first[o] + count[o] - 1 with weights w[o * maxn ...]. A triangle filter of
 * radius max(1, src/dst) around the source position of o's centre:
 * bilinear when enlarging, an area-like average when shrinking. */
struct axis {
    int *first, *count, maxn;
    float *w;
};

static bool axis_init(struct axis *a, int src, int dst)
{
    double scale = (double)src / dst, radius = scale > 1.0 ? scale : 1.0;
    a->maxn = (int)ceil(2.0 * radius) + 2;
    a->first = malloc((size_t)dst * sizeof(int));
    a->count = malloc((size_t)dst * sizeof(int));
    a->w = malloc((size_t)dst * (size_t)a->maxn * sizeof(float));
    if (!a->first || !a->count || !a->w)
        return false;
    for (int o = 0; o < dst; o++) {
        double c = (o + 0.5) * scale - 0.5;
        int lo = (int)ceil(c - radius), hi = (int)floor(c + radius);
        lo = lo < 0 ? 0 : lo;
        hi = hi > src - 1 ? src - 1 : hi;
        float *w = a->w + (size_t)o * (size_t)a->maxn;
        double sum = 0;
        int k = 0;
        a->first[o] = lo;
        for (int i = lo; i <= hi && k < a->maxn; i++, k++) {
            double v = 1.0 - fabs(i - c) / radius;
            w[k] = (float)(v > 0 ? v : 0);
            sum += w[k];
        }
        if (sum <= 0) { /* cannot happen for radius >= 1; stay safe */
            int nearest = (int)floor(c + 0.5);
            a->first[o] = nearest < 0 ? 0 : nearest > src - 1 ? src - 1 : nearest;
            w[0] = 1.0f;
            k = 1;
            sum = 1;
        }
        for (int i = 0; i < k; i++)
            w[i] = (float)(w[i] / sum);
        a->count[o] = k;
    }
    return true;
}

static void axis_free(struct axis *a)
{
    free(a->first);
    free(a->count);
    free(a->w);
}

bool nn_image_resize(const uint8_t *src, int c, int sh, int sw, uint8_t *dst,
                     int dh, int dw)
{
    struct axis ax = {0}, ay = {0};
    float *tmp = malloc((size_t)sh * (size_t)dw * sizeof(float)); /* (sh, dw) */
    bool ok = tmp && axis_init(&ax, sw, dw) && axis_init(&ay, sh, dh);
    for (int ch = 0; ok && ch < c; ch++) {
        const uint8_t *s = src + (size_t)ch * (size_t)sh * (size_t)sw;
        uint8_t *d = dst + (size_t)ch * (size_t)dh * (size_t)dw;
        for (int y = 0; y < sh; y++)
            for (int x = 0; x < dw; x++) {
                const float *w = ax.w + (size_t)x * (size_t)ax.maxn;
                const uint8_t *row = s + (size_t)y * (size_t)sw + ax.first[x];
                float acc = 0;
                for (int k = 0; k < ax.count[x]; k++)
                    acc += w[k] * row[k];
                tmp[(size_t)y * (size_t)dw + (size_t)x] = acc;
            }
        for (int y = 0; y < dh; y++) {
            const float *w = ay.w + (size_t)y * (size_t)ay.maxn;
            for (int x = 0; x < dw; x++) {
                float acc = 0;
                for (int k = 0; k < ay.count[y]; k++)
                    acc += w[k] * tmp[(size_t)(ay.first[y] + k) * (size_t)dw + (size_t)x];
                acc = acc < 0 ? 0 : acc > 255 ? 255 : acc;
                d[(size_t)y * (size_t)dw + (size_t)x] = (uint8_t)(acc + 0.5f);
            }
        }
    }
    free(tmp);
    axis_free(&ax);
    axis_free(&ay);
    return ok;
}

/* ---- decoding ------------------------------------------------------------------ */

/* stb's reason for the last failure, fit for a one-line message: it may
 * quote bytes of the file (an unknown PNG chunk type). */
static const char *stb_reason(char *buf, size_t len)
{
    const char *r = stbi_failure_reason();
    size_t k = 0;
    for (; r && r[k] && k + 1 < len; k++)
        buf[k] = (unsigned char)r[k] < 0x20 || r[k] == 0x7f ? '?' : r[k];
    buf[k] = '\0';
    return k ? buf : "unknown error";
}

static nn_status check_opts(nn_ctx *ctx, const struct nn_image_opts *o)
{
    if (o->width < 0 || o->height < 0 || (o->width == 0) != (o->height == 0))
        return nn_fail(ctx, NN_ERR_INVALID, "image size %d x %d: give both width and "
                       "height (positive), or neither", o->width, o->height);
    if (o->channels < 0 || o->channels > 4)
        return nn_fail(ctx, NN_ERR_INVALID, "image channels %d, expected 1 to 4 (or 0: "
                       "those of the first image)", o->channels);
    if ((int64_t)o->width * o->height > NN_IMAGE_MAX_PIXELS)
        return nn_fail(ctx, NN_ERR_INVALID, "image size %d x %d is over the limit of "
                       "%d pixels", o->width, o->height, NN_IMAGE_MAX_PIXELS);
    return NN_OK;
}

nn_status nn_image_decode_mem(nn_ctx *ctx, const char *name, const uint8_t *buf,
                              size_t len, struct nn_image_opts *opts,
                              int64_t max_pixels, uint8_t **out)
{
    *out = NULL;
    nn_status st = check_opts(ctx, opts);
    if (st != NN_OK)
        return st;
    const char *fmt = sniff(buf, len);
    if (!fmt)
        return nn_fail(ctx, NN_ERR_FORMAT, "%s: not an image (expected a PNG, JPEG, "
                       "BMP, GIF or PNM file)", name);
    if (len > INT_MAX)
        return nn_fail(ctx, NN_ERR_FORMAT, "%s: file too large", name);
    const char *bad = fmt[0] == 'J' ? jpeg_check(buf, len) : NULL;
    if (bad)
        return nn_fail(ctx, NN_ERR_FORMAT, "%s: corrupt JPEG (%s)", name, bad);
    if (fmt[1] == 'N' && fmt[2] == 'G' && !png_chunks_ok(buf, len)) /* "PNG" */
        return nn_fail(ctx, NN_ERR_FORMAT, "%s: corrupt PNG (a chunk runs past the "
                       "end of the file)", name);
    uint64_t maxv = 0;
    if (fmt[0] == 'P' && fmt[1] == 'N' && !pnm_header(buf, len, &maxv)) /* "PNM" */
        return nn_fail(ctx, NN_ERR_FORMAT, "%s: corrupt PNM header (a size or "
                       "maximum value over 2^24)", name);
    if (maxv > 255)
        return nn_fail(ctx, NN_ERR_FORMAT, "%s: 16-bit PNM (maximum value %llu) is "
                       "not supported; expected 8-bit (at most 255)", name,
                       (unsigned long long)maxv);
    int w, h, comp;
    char why[64];
    if (!stbi_info_from_memory(buf, (int)len, &w, &h, &comp))
        return nn_fail(ctx, NN_ERR_FORMAT, "%s: unreadable %s header: %s", name, fmt,
                       stb_reason(why, sizeof why));
    if (w <= 0 || h <= 0 || (int64_t)w * h > max_pixels)
        return nn_fail(ctx, NN_ERR_FORMAT, "%s: image of %d x %d pixels, more than the "
                       "limit of %lld", name, w, h, (long long)max_pixels);
    int c = opts->channels ? opts->channels : comp;
    if (c < 1 || c > 4)
        return nn_fail(ctx, NN_ERR_FORMAT, "%s: %d channels", name, c);
    int lw, lh, lc;
    uint8_t *px = stbi_load_from_memory(buf, (int)len, &lw, &lh, &lc, c);
    if (!px)
        return nn_fail(ctx, NN_ERR_FORMAT, "%s: cannot decode the %s image: %s", name,
                       fmt, stb_reason(why, sizeof why));
    if (lw != w || lh != h) { /* the header said otherwise: trust nothing */
        stbi_image_free(px);
        return nn_fail(ctx, NN_ERR_FORMAT, "%s: corrupt %s image", name, fmt);
    }
    if (!opts->width) {
        opts->width = w;
        opts->height = h;
    }
    opts->channels = c;
    if ((w != opts->width || h != opts->height) && !opts->resize) {
        stbi_image_free(px);
        return nn_fail(ctx, NN_ERR_SHAPE, "%s: image is %d x %d, expected %d x %d (the "
                       "size asked for, or else the first image's), and resizing is off",
                       name, w, h, opts->width, opts->height);
    }
    size_t plane = (size_t)w * (size_t)h;
    size_t oplane = (size_t)opts->width * (size_t)opts->height;
    bool resize = w != opts->width || h != opts->height; /* even at equal areas */
    uint8_t *chw = malloc(plane * (size_t)c);
    uint8_t *res = chw && resize ? malloc(oplane * (size_t)c) : NULL;
    if (!chw || (resize && !res)) {
        stbi_image_free(px);
        free(chw);
        return nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", name);
    }
    for (size_t p = 0; p < plane; p++) /* (H, W, C) -> (C, H, W) */
        for (int k = 0; k < c; k++)
            chw[(size_t)k * plane + p] = px[p * (size_t)c + (size_t)k];
    stbi_image_free(px);
    if (resize) {
        bool ok = nn_image_resize(chw, c, h, w, res, opts->height, opts->width);
        free(chw);
        chw = res;
        if (!ok) {
            free(chw);
            return nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory resizing", name);
        }
    }
    *out = chw;
    return NN_OK;
}

/* Reads a whole file; NULL with a message on error. */
static uint8_t *read_file(nn_ctx *ctx, const char *path, size_t *len)
{
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        nn_fail(ctx, NN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || cap >= (size_t)INT_MAX)
            break;
        uint8_t *b = realloc(buf, cap * 2);
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    if (!buf)
        nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", path);
    else if (ferror(f)) {
        nn_fail(ctx, NN_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

static nn_status decode_file(nn_ctx *ctx, const char *path, struct nn_image_opts *o,
                             uint8_t **out)
{
    size_t len;
    uint8_t *buf = read_file(ctx, path, &len);
    if (!buf)
        return NN_ERR_IO;
    nn_status st = nn_image_decode_mem(ctx, path, buf, len, o, NN_IMAGE_MAX_PIXELS, out);
    free(buf);
    return st;
}

float *nn_image_load_file(nn_ctx *ctx, const char *path,
                          const struct nn_image_opts *opts, int64_t dims[3])
{
    struct nn_image_opts o = opts ? *opts : (struct nn_image_opts){0};
    uint8_t *px;
    if (decode_file(ctx, path, &o, &px) != NN_OK)
        return NULL;
    size_t n = (size_t)o.channels * (size_t)o.height * (size_t)o.width;
    float *x = malloc(n * sizeof(float));
    if (!x) {
        free(px);
        nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = px[i];
    free(px);
    dims[0] = o.channels;
    dims[1] = o.height;
    dims[2] = o.width;
    return x;
}

/* ---- lists of files and class folders ------------------------------------------- */

/* Decodes paths[0..n) into one uint8 data set; labels may be NULL. */
static nn_dataset *load_list(nn_ctx *ctx, const char *source, char *const *paths,
                             const int32_t *labels, int64_t n, int64_t classes,
                             const struct nn_image_opts *opts)
{
    struct nn_image_opts o = opts ? *opts : (struct nn_image_opts){0};
    uint8_t *px;
    if (decode_file(ctx, paths[0], &o, &px) != NN_OK)
        return NULL;
    int64_t shape[3] = {o.channels, o.height, o.width};
    nn_dataset *ds = nn_ds_alloc(ctx, source, n, 3, shape, true,
                                 labels ? NN_LABELS_CLASS : NN_LABELS_NONE, 0);
    if (!ds) {
        free(px);
        return NULL;
    }
    size_t F = (size_t)ds->features;
    memcpy(ds->store->u8, px, F);
    free(px);
    for (int64_t i = 1; i < n; i++) {
        if (decode_file(ctx, paths[i], &o, &px) != NN_OK) {
            nn_dataset_free(ds);
            return NULL;
        }
        memcpy(ds->store->u8 + (size_t)i * F, px, F);
        free(px);
    }
    if (labels) {
        memcpy(ds->store->labels, labels, (size_t)n * sizeof(int32_t));
        ds->classes = classes;
    }
    return ds;
}

nn_dataset *nn_dataset_load_image_files(nn_ctx *ctx, const char *const *paths,
                                        int64_t n, const struct nn_image_opts *opts)
{
    if (!paths || n <= 0) {
        nn_fail(ctx, NN_ERR_INVALID, "no image files given");
        return NULL;
    }
    /* load_list takes char *const *: the strings are only read. */
    char **p = malloc((size_t)n * sizeof(char *));
    if (!p) {
        nn_fail(ctx, NN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        memcpy(&p[i], &paths[i], sizeof(char *));
    nn_dataset *ds = load_list(ctx, n == 1 ? paths[0] : "image files", p, NULL, n, 0, opts);
    free(p);
    return ds;
}

struct names {
    char **v;
    size_t n, cap;
};

static void names_free(struct names *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entries of dir that are folders (want_dirs) or regular files, with
 * names not starting with '.'; each as dir/name when full. */
static nn_status list_dir(nn_ctx *ctx, const char *dir, bool want_dirs, bool full,
                          struct names *out)
{
    errno = 0;
    DIR *d = opendir(dir);
    if (!d)
        return nn_fail(ctx, NN_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    nn_status st = NN_OK;
    struct dirent *e;
    size_t dl = strlen(dir), start = out->n;
    while (st == NN_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        size_t nl = strlen(e->d_name);
        char *path = malloc(dl + nl + 2);
        if (!path) {
            st = nn_fail(ctx, NN_ERR_NOMEM, "out of memory");
            break;
        }
        snprintf(path, dl + nl + 2, "%s/%s", dir, e->d_name);
        struct stat sb;
        bool keep = stat(path, &sb) == 0 &&
                    (want_dirs ? S_ISDIR(sb.st_mode) : S_ISREG(sb.st_mode));
        if (keep && !full)
            memmove(path, path + dl + 1, nl + 1);
        if (keep && out->n == out->cap) {
            size_t nc = out->cap ? out->cap * 2 : 16;
            char **v = realloc(out->v, nc * sizeof(char *));
            if (!v) {
                free(path);
                st = nn_fail(ctx, NN_ERR_NOMEM, "out of memory");
                break;
            }
            out->v = v;
            out->cap = nc;
        }
        if (keep)
            out->v[out->n++] = path;
        else
            free(path);
    }
    closedir(d);
    if (st == NN_OK && out->n > start) /* only the entries added here */
        qsort(out->v + start, out->n - start, sizeof(char *), cmp_name);
    return st;
}

nn_dataset *nn_dataset_load_images(nn_ctx *ctx, const char *dir,
                                   const struct nn_image_opts *opts)
{
    if (!dir) {
        nn_fail(ctx, NN_ERR_INVALID, "no image folder given");
        return NULL;
    }
    struct nn_image_opts o = opts ? *opts : (struct nn_image_opts){0};
    if (check_opts(ctx, &o) != NN_OK)
        return NULL;
    struct names cls = {0}, files = {0};
    int32_t *labels = NULL;
    nn_dataset *ds = NULL;
    if (list_dir(ctx, dir, true, false, &cls) != NN_OK)
        goto done;
    if (cls.n == 0) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: no class folders (expected %s/CLASS/IMAGE "
                "files, one folder per class)", dir, dir);
        goto done;
    }
    if (cls.n == 1) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: only one class folder ('%s'); a classifier "
                "needs at least two", dir, cls.v[0]);
        goto done;
    }
    if (cls.n > INT32_MAX) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: too many class folders", dir);
        goto done;
    }
    size_t lcap = 0;
    for (size_t k = 0; k < cls.n; k++) {
        size_t before = files.n;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", dir, cls.v[k]);
        if (list_dir(ctx, sub, false, true, &files) != NN_OK)
            goto done;
        if (files.n == before) {
            nn_fail(ctx, NN_ERR_FORMAT, "%s: class folder '%s' has no image files", dir,
                    cls.v[k]);
            goto done;
        }
        if (files.n > lcap) {
            lcap = files.cap;
            int32_t *l = realloc(labels, lcap * sizeof(int32_t));
            if (!l) {
                nn_fail(ctx, NN_ERR_NOMEM, "out of memory");
                goto done;
            }
            labels = l;
        }
        for (size_t i = before; i < files.n; i++)
            labels[i] = (int32_t)k;
    }
    ds = load_list(ctx, dir, files.v, labels, (int64_t)files.n, (int64_t)cls.n, &o);
    if (ds) { /* the class folder names become the class names */
        ds->store->class_names = cls.v;
        ds->store->nclass_names = (int64_t)cls.n;
        cls.v = NULL;
        cls.n = 0;
    }
done:
    names_free(&cls);
    names_free(&files);
    free(labels);
    return ds;
}
