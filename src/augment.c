/*
 * augment.c - data augmentation of image samples: the text form of the
 * settings, the per-sample random draw (a counter-based hash of seed, epoch
 * and sample index, so there is no generator state to save and no
 * dependence on which thread gathers what), the in-place transform of one
 * image, and the source that applies them to another source's samples in
 * training passes only.
 */
#include "nn_impl.h"

#include <errno.h>
#include <string.h>

/* ---- text form ---------------------------------------------------------- */

nn_status nn_augment_parse(nn_ctx *ctx, const char *text, struct nn_augment_cfg *cfg)
{
    const char *hint = "expected comma-separated shift:N and flip, e.g. shift:2,flip, or none";
    if (!text || !*text)
        return nn_fail(ctx, NN_ERR_INVALID, "augmentation: empty setting (%s)", hint);
    struct nn_augment_cfg c = {.seed = cfg->seed};
    if (strcmp(text, "none") == 0) {
        *cfg = c;
        return NN_OK;
    }
    bool have_shift = false, have_flip = false;
    for (const char *p = text;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char item[64];
        if (len == 0)
            return nn_fail(ctx, NN_ERR_INVALID, "augmentation '%s': empty item (%s)", text,
                           hint);
        snprintf(item, sizeof item, "%.*s", (int)(len < 63 ? len : 63), p);
        if (strcmp(item, "flip") == 0) {
            if (have_flip)
                return nn_fail(ctx, NN_ERR_INVALID, "augmentation '%s': flip given twice",
                               text);
            have_flip = c.flip = true;
        } else if (strncmp(item, "shift", 5) == 0 && (item[5] == ':' || !item[5])) {
            if (have_shift)
                return nn_fail(ctx, NN_ERR_INVALID, "augmentation '%s': shift given twice",
                               text);
            const char *v = item[5] ? item + 6 : "";
            char *e = NULL;
            errno = 0;
            long long n = strtoll(v, &e, 10);
            if (!*v || *e || errno || len > 63 || n < 0 || n > NN_AUGMENT_MAX_SHIFT)
                return nn_fail(ctx, NN_ERR_INVALID,
                               "augmentation '%s': shift must be an integer number of pixels "
                               "from 0 to %d, not '%s' (e.g. shift:2)", text,
                               NN_AUGMENT_MAX_SHIFT, v);
            c.shift = (int)n;
            have_shift = true;
        } else {
            return nn_fail(ctx, NN_ERR_INVALID, "augmentation '%s': unknown item '%s' (%s)",
                           text, item, hint);
        }
        if (!end)
            break;
        p = end + 1;
    }
    *cfg = c;
    return NN_OK;
}

int nn_augment_format(const struct nn_augment_cfg *cfg, char *buf, size_t size)
{
    if (cfg->shift > 0 && cfg->flip)
        return snprintf(buf, size, "shift:%d,flip", cfg->shift);
    if (cfg->shift > 0)
        return snprintf(buf, size, "shift:%d", cfg->shift);
    return snprintf(buf, size, "%s", cfg->flip ? "flip" : "none");
}

/* ---- the draw ----------------------------------------------------------- */

/* splitmix64's output function: a bijective mix of all 64 bits. */
static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A uniform integer in [0, n) from 32 random bits (bias below n / 2^32). */
static int below(uint32_t r, int n)
{
    return (int)(((uint64_t)r * (uint64_t)n) >> 32);
}

struct nn_augment_draw nn_augment_draw(const struct nn_augment_cfg *cfg, int epoch,
                                       int64_t sample)
{
    /* a fixed constant keeps this stream apart from the shuffling generator
     * seeded with the same number */
    uint64_t h = mix(mix(mix(cfg->seed ^ 0x61756731u) ^ (uint64_t)(int64_t)epoch) ^
                     (uint64_t)sample);
    struct nn_augment_draw d = {0, 0, false};
    if (cfg->shift > 0) {
        int span = 2 * cfg->shift + 1;
        d.dy = below((uint32_t)h, span) - cfg->shift;
        d.dx = below((uint32_t)(h >> 32), span) - cfg->shift;
    }
    if (cfg->flip)
        d.flip = mix(h) >> 63;
    return d;
}

/* ---- the transform ------------------------------------------------------ */

/* Moves the m items of size sz at p by k places (k > 0: towards the end),
 * zeroing the places left empty; |k| < m. */
static void slide(float *p, int64_t m, int64_t k, int64_t sz)
{
    if (k > 0) {
        memmove(p + k * sz, p, (size_t)((m - k) * sz) * sizeof *p);
        memset(p, 0, (size_t)(k * sz) * sizeof *p);
    } else if (k < 0) {
        memmove(p, p - k * sz, (size_t)((m + k) * sz) * sizeof *p);
        memset(p + (m + k) * sz, 0, (size_t)(-k * sz) * sizeof *p);
    }
}

void nn_augment_image(float *img, int64_t c, int64_t h, int64_t w, struct nn_augment_draw d)
{
    int64_t dy = d.dy, dx = d.dx;
    for (int64_t k = 0; k < c; k++) {
        float *plane = img + k * h * w;
        if (dy >= h || -dy >= h || dx >= w || -dx >= w) { /* nothing stays */
            memset(plane, 0, (size_t)(h * w) * sizeof *plane);
            continue;
        }
        for (int64_t y = 0; y < h; y++) {
            float *row = plane + y * w;
            if (d.flip)
                for (int64_t a = 0, b = w - 1; a < b; a++, b--) {
                    float t = row[a];
                    row[a] = row[b];
                    row[b] = t;
                }
            slide(row, w, dx, 1);
        }
        slide(plane, h, dy, w);
    }
}

/* ---- the source --------------------------------------------------------- */

static nn_status aug_gather(void *self, const int64_t *idx, int64_t n, float *x,
                            int32_t *labels, float *targets)
{
    struct nn_augment_source *a = self;
    if (a->epoch < 0)
        return a->inner.gather(a->inner.self, idx, n, x, labels, targets);
    if (a->ds) { /* the stored pixels, transformed before the normalization */
        nn_status st = labels || targets
                           ? nn_dataset_gather(a->ds, idx, n, NULL, labels, targets)
                           : NN_OK;
        return st == NN_OK ? nn_ds_gather_augmented(a->ds, idx, n, x, a->c, a->h, a->w, &a->cfg,
                                                    a->epoch)
                           : st;
    }
    nn_status st = a->inner.gather(a->inner.self, idx, n, x, labels, targets);
    if (st != NN_OK)
        return st;
    int64_t f = a->c * a->h * a->w;
    for (int64_t i = 0; i < n; i++)
        nn_augment_image(x + i * f, a->c, a->h, a->w,
                         nn_augment_draw(&a->cfg, a->epoch, idx[i]));
    return NN_OK;
}

static void aug_prefetch(void *self, const int64_t *idx, int64_t n)
{
    struct nn_augment_source *a = self;
    a->inner.prefetch(a->inner.self, idx, n);
}

static void aug_begin_pass(void *self, int epoch)
{
    struct nn_augment_source *a = self;
    a->epoch = epoch < 0 ? -1 : epoch;
    if (a->inner.begin_pass)
        a->inner.begin_pass(a->inner.self, epoch);
}

/* "(1, 28, 28)" */
static const char *shape_text(const int64_t *d, int nd, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len, "(");
    for (int i = 0; i < nd && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? ", " : "", (long long)d[i]);
    if (k < len)
        snprintf(buf + k, len - k, ")");
    return buf;
}

nn_status nn_source_augment(nn_ctx *ctx, struct nn_augment_source *a,
                            const struct nn_source *src, const int64_t *chw,
                            const struct nn_augment_cfg *cfg, struct nn_source *out)
{
    char s1[96];
    if (!src || !src->gather || !cfg || !out || !a)
        return nn_fail(ctx, NN_ERR_INVALID, "augmentation: no source, settings or storage");
    const nn_dataset *ds = nn_source_dataset(src);
    const char *what = ds ? nn_dataset_source(ds) : "the source";
    int64_t dims[NN_MAX_DIMS] = {0};
    if (chw) {
        memcpy(dims, chw, 3 * sizeof *dims);
    } else if (!ds) {
        return nn_fail(ctx, NN_ERR_INVALID, "augmentation: the source is not a data set, so "
                       "give its image shape (C, H, W)");
    } else {
        int nd = nn_dataset_shape(ds, dims);
        if (nd != 3)
            return nn_fail(ctx, NN_ERR_SHAPE, "augmentation needs image samples of shape "
                           "(C, H, W), but %s has samples of shape %s", what,
                           shape_text(dims, nd, s1, sizeof s1));
    }
    int64_t f = 0;
    if (dims[0] < 1 || dims[1] < 1 || dims[2] < 1 ||
        __builtin_mul_overflow(dims[0], dims[1], &f) ||
        __builtin_mul_overflow(f, dims[2], &f) || f != src->features)
        return nn_fail(ctx, NN_ERR_SHAPE, "augmentation: an image shape of %s does not fit "
                       "%s's %lld features per sample", shape_text(dims, 3, s1, sizeof s1),
                       what, (long long)src->features);
    if (cfg->shift < 0 || cfg->shift >= dims[1] || cfg->shift >= dims[2])
        return nn_fail(ctx, NN_ERR_INVALID, "augmentation: a shift of %d pixels does not fit "
                       "images of %lld x %lld (height x width) from %s: it must be from 0 to "
                       "%lld", cfg->shift, (long long)dims[1], (long long)dims[2], what,
                       (long long)((dims[1] < dims[2] ? dims[1] : dims[2]) - 1));
    *a = (struct nn_augment_source){.inner = *src, .ds = ds, .cfg = *cfg, .c = dims[0],
                                    .h = dims[1], .w = dims[2], .epoch = -1};
    *out = *src;
    out->self = a;
    out->gather = aug_gather;
    out->prefetch = src->prefetch ? aug_prefetch : NULL;
    out->begin_pass = aug_begin_pass;
    return NN_OK;
}
