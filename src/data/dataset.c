/*
 * dataset.c - the data set type: construction from arrays, accessors,
 * normalization (fit, get, set, apply), views, seeded splits and the
 * per-batch gather that turns stored rows into normalized float32, plain
 * or transformed as images (augmentation) before the normalization.
 */
#include "data/data.h"

#include <math.h>
#include <string.h>

/* `#pragma omp simd` where OpenMP is on (the fuzz build turns it off). */
#ifdef _OPENMP
#define NN_SIMD _Pragma("omp simd")
#else
#define NN_SIMD
#endif

bool nn_mul_ok(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0)
        return false;
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return false;
    *out = r;
    return true;
}

char *nn_data_strdup(nn_ctx *ctx, const char *s)
{
    size_t len = strlen(s) + 1;
    char *d = malloc(len);
    if (!d) {
        nn_fail(ctx, NN_ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(d, s, len);
    return d;
}

const char *nn_norm_name(nn_norm_kind kind)
{
    switch (kind) {
    case NN_NORM_NONE: return "none";
    case NN_NORM_SCALE255: return "scale255";
    case NN_NORM_STANDARD: return "standard";
    case NN_NORM_MINMAX: return "minmax";
    case NN_NORM_COUNT: break;
    }
    return NULL;
}

int nn_norm_parse(const char *name)
{
    for (int k = 0; k < NN_NORM_COUNT; k++)
        if (name && strcmp(name, nn_norm_name((nn_norm_kind)k)) == 0)
            return k;
    return -1;
}

/* ---- construction and release ------------------------------------------ */

static void store_release(struct nn_ds_store *s)
{
    if (!s || --s->refs > 0)
        return;
    free(s->u8);
    free(s->f32);
    free(s->labels);
    free(s->targets);
    if (s->class_names) {
        for (int64_t k = 0; k < s->nclass_names; k++)
            free(s->class_names[k]);
        free(s->class_names);
    }
    if (s->feature_names) {
        for (int64_t j = 0; j < s->features; j++)
            free(s->feature_names[j]);
        free(s->feature_names);
    }
    if (s->column_names) {
        for (int64_t c = 0; c < s->ncolumns; c++)
            free(s->column_names[c]);
        free(s->column_names);
    }
    free(s->column_roles);
    free(s);
}

void nn_dataset_free(nn_dataset *ds)
{
    if (!ds)
        return;
    store_release(ds->store);
    free(ds->rows);
    free(ds->shift);
    free(ds->scale);
    free(ds->source);
    free(ds);
}

static void norm_fill_const(nn_dataset *ds, nn_norm_kind kind)
{
    float sc = kind == NN_NORM_SCALE255 ? 1.0f / 255.0f : 1.0f;
    for (int64_t j = 0; j < ds->features; j++) {
        ds->shift[j] = 0.0f;
        ds->scale[j] = sc;
    }
    ds->norm = kind;
}

/* A data set header (no store) with its own norm arrays. */
static nn_dataset *ds_header(nn_ctx *ctx, const char *source, int64_t features)
{
    nn_dataset *ds = calloc(1, sizeof *ds);
    if (ds) {
        ds->ctx = ctx;
        ds->features = features;
        ds->shift = malloc((size_t)features * sizeof(float));
        ds->scale = malloc((size_t)features * sizeof(float));
        ds->source = malloc(strlen(source) + 1);
        if (ds->source)
            memcpy(ds->source, source, strlen(source) + 1);
    }
    if (!ds || !ds->shift || !ds->scale || !ds->source) {
        nn_dataset_free(ds);
        nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", source);
        return NULL;
    }
    return ds;
}

nn_dataset *nn_ds_alloc(nn_ctx *ctx, const char *source, int64_t n, int ndim,
                        const int64_t *dims, bool u8, nn_label_kind kind,
                        int64_t ntargets)
{
    NN_ASSERT(ndim >= 1 && ndim < NN_MAX_DIMS, "per-sample dimensions");
    int64_t features = 1, total, tt = 0;
    for (int i = 0; i < ndim; i++)
        if (dims[i] <= 0 || !nn_mul_ok(features, dims[i], &features)) {
            nn_fail(ctx, NN_ERR_FORMAT, "%s: dimension %d of the sample shape is %lld%s",
                    source, i, (long long)dims[i],
                    dims[i] <= 0 ? ", expected >= 1" : ", too large");
            return NULL;
        }
    if (n <= 0 || !nn_mul_ok(n, features, &total) ||
        !nn_mul_ok(total, u8 ? 1 : 4, &total) || total > INT64_MAX / 2 ||
        (kind == NN_LABELS_TARGETS &&
         (ntargets <= 0 || !nn_mul_ok(n, ntargets, &tt) || tt > INT64_MAX / 8))) {
        nn_fail(ctx, NN_ERR_FORMAT, "%s: %lld samples of %lld features is too large",
                source, (long long)n, (long long)features);
        return NULL;
    }
    nn_dataset *ds = ds_header(ctx, source, features);
    if (!ds)
        return NULL;
    struct nn_ds_store *s = calloc(1, sizeof *s);
    ds->store = s;
    if (s) {
        s->refs = 1;
        s->n = n;
        s->features = features;
        if (u8)
            s->u8 = malloc((size_t)total);
        else
            s->f32 = malloc((size_t)total);
        if (kind == NN_LABELS_CLASS)
            s->labels = malloc((size_t)n * sizeof(int32_t));
        if (kind == NN_LABELS_TARGETS)
            s->targets = malloc((size_t)tt * sizeof(float));
    }
    if (!s || (u8 ? !s->u8 : !s->f32) || (kind == NN_LABELS_CLASS && !s->labels) ||
        (kind == NN_LABELS_TARGETS && !s->targets)) {
        nn_dataset_free(ds);
        nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory for %lld samples", source,
                (long long)n);
        return NULL;
    }
    ds->n = n;
    ds->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        ds->dim[i] = dims[i];
    ds->kind = kind;
    ds->ntargets = kind == NN_LABELS_TARGETS ? ntargets : 0;
    norm_fill_const(ds, u8 ? NN_NORM_SCALE255 : NN_NORM_NONE);
    return ds;
}

static inline int64_t row_of(const nn_dataset *ds, int64_t i)
{
    return ds->rows ? ds->rows[i] : i;
}

void nn_ds_count_classes(nn_dataset *ds)
{
    int64_t mx = -1;
    for (int64_t i = 0; i < ds->n; i++) {
        int32_t y = ds->store->labels[row_of(ds, i)];
        if (y > mx)
            mx = y;
    }
    ds->classes = mx + 1;
}

nn_dataset *nn_dataset_from_arrays(nn_ctx *ctx, const struct nn_array_data *a)
{
    if (!a || a->n <= 0 || !a->x || !a->dims || a->ndim < 1 || a->ndim >= NN_MAX_DIMS) {
        nn_fail(ctx, NN_ERR_INVALID, "arrays: need n > 0, features x and a shape of "
                "1 to %d dimensions", NN_MAX_DIMS - 1);
        return NULL;
    }
    if (a->labels && a->targets) {
        nn_fail(ctx, NN_ERR_INVALID, "arrays: give labels or targets, not both");
        return NULL;
    }
    if (a->targets && a->ntargets <= 0) {
        nn_fail(ctx, NN_ERR_INVALID, "arrays: ntargets is %lld, expected >= 1",
                (long long)a->ntargets);
        return NULL;
    }
    nn_label_kind kind = a->labels ? NN_LABELS_CLASS
                         : a->targets ? NN_LABELS_TARGETS : NN_LABELS_NONE;
    nn_dataset *ds = nn_ds_alloc(ctx, "arrays", a->n, a->ndim, a->dims, false, kind,
                                 a->ntargets);
    if (!ds)
        return NULL;
    int64_t nx = a->n * ds->features;
    for (int64_t i = 0; i < nx; i++)
        if (!isfinite(a->x[i])) {
            nn_fail(ctx, NN_ERR_NUMERIC, "arrays: x[%lld] (sample %lld, feature %lld) "
                    "is %g, expected a finite number", (long long)i,
                    (long long)(i / ds->features), (long long)(i % ds->features),
                    (double)a->x[i]);
            goto fail;
        }
    memcpy(ds->store->f32, a->x, (size_t)nx * sizeof(float));
    if (a->labels) {
        for (int64_t i = 0; i < a->n; i++)
            if (a->labels[i] < 0 || (a->classes > 0 && a->labels[i] >= a->classes)) {
                nn_fail(ctx, NN_ERR_RANGE, "arrays: label of sample %lld is %d, "
                        "expected 0..%lld", (long long)i, (int)a->labels[i],
                        (long long)(a->classes > 0 ? a->classes - 1 : INT32_MAX));
                goto fail;
            }
        memcpy(ds->store->labels, a->labels, (size_t)a->n * sizeof(int32_t));
        nn_ds_count_classes(ds);
        if (a->classes > 0)
            ds->classes = a->classes;
    }
    if (a->targets) {
        int64_t nt = a->n * a->ntargets;
        for (int64_t i = 0; i < nt; i++)
            if (!isfinite(a->targets[i])) {
                nn_fail(ctx, NN_ERR_NUMERIC, "arrays: targets[%lld] is %g, expected "
                        "a finite number", (long long)i, (double)a->targets[i]);
                goto fail;
            }
        memcpy(ds->store->targets, a->targets, (size_t)nt * sizeof(float));
    }
    return ds;
fail:
    nn_dataset_free(ds);
    return NULL;
}

/* ---- accessors ------------------------------------------------------------ */

int64_t nn_dataset_size(const nn_dataset *ds) { return ds->n; }
int64_t nn_dataset_features(const nn_dataset *ds) { return ds->features; }
nn_label_kind nn_dataset_label_kind(const nn_dataset *ds) { return ds->kind; }
int64_t nn_dataset_classes(const nn_dataset *ds)
{
    return ds->kind == NN_LABELS_CLASS ? ds->classes : 0;
}
int64_t nn_dataset_targets(const nn_dataset *ds) { return ds->ntargets; }
const char *nn_dataset_source(const nn_dataset *ds) { return ds->source; }

int nn_dataset_shape(const nn_dataset *ds, int64_t dims[NN_MAX_DIMS])
{
    for (int i = 0; i < NN_MAX_DIMS; i++)
        dims[i] = i < ds->ndim ? ds->dim[i] : 0;
    return ds->ndim;
}

const char *nn_dataset_class_name(const nn_dataset *ds, int64_t i)
{
    /* There may be fewer names than classes after nn_dataset_check_classes
     * widened the count. */
    if (ds->kind != NN_LABELS_CLASS || !ds->store->class_names || i < 0 ||
        i >= ds->store->nclass_names)
        return NULL;
    return ds->store->class_names[i];
}

const char *nn_dataset_feature_name(const nn_dataset *ds, int64_t j)
{
    if (!ds->store->feature_names || j < 0 || j >= ds->features)
        return NULL;
    return ds->store->feature_names[j];
}

int64_t nn_dataset_columns(const nn_dataset *ds)
{
    return ds->store->ncolumns;
}

const char *nn_dataset_column(const nn_dataset *ds, int64_t c, nn_column_role *role)
{
    const struct nn_ds_store *s = ds->store;
    if (c < 0 || c >= s->ncolumns)
        return NULL;
    if (role)
        *role = (nn_column_role)s->column_roles[c];
    return s->column_names ? s->column_names[c] : NULL;
}

nn_status nn_dataset_check_classes(nn_dataset *ds, int64_t classes)
{
    if (ds->kind != NN_LABELS_CLASS)
        return nn_fail(ds->ctx, NN_ERR_STATE, "%s: has no class labels", ds->source);
    if (classes < 1 || classes > INT32_MAX)
        return nn_fail(ds->ctx, NN_ERR_INVALID, "%s: class count %lld, expected "
                       "1..%d", ds->source, (long long)classes, INT32_MAX);
    for (int64_t i = 0; i < ds->n; i++) {
        int32_t y = ds->store->labels[row_of(ds, i)];
        if (y >= classes)
            return nn_fail(ds->ctx, NN_ERR_RANGE, "%s: sample %lld has label %d, "
                           "expected 0..%lld for %lld classes", ds->source,
                           (long long)i, (int)y, (long long)(classes - 1),
                           (long long)classes);
    }
    ds->classes = classes;
    return NN_OK;
}

nn_status nn_dataset_map_classes(nn_dataset *ds, const char *const *names, int64_t n)
{
    struct nn_ds_store *s = ds->store;
    if (ds->kind != NN_LABELS_CLASS)
        return nn_fail(ds->ctx, NN_ERR_STATE, "%s: has no class labels", ds->source);
    if (!s->class_names) /* integer labels are indices already */
        return nn_dataset_check_classes(ds, n);
    if (s->refs > 1)
        return nn_fail(ds->ctx, NN_ERR_STATE, "%s: its rows are shared with another view; "
                       "map classes before making views", ds->source);
    int32_t *map = malloc((size_t)s->nclass_names * sizeof *map);
    char **copy = calloc((size_t)(n > 0 ? n : 1), sizeof *copy);
    if (!map || !copy) {
        free(map);
        free(copy);
        return nn_fail(ds->ctx, NN_ERR_NOMEM, "%s: out of memory", ds->source);
    }
    nn_status st = NN_OK;
    for (int64_t k = 0; k < s->nclass_names && st == NN_OK; k++) {
        map[k] = -1;
        for (int64_t j = 0; j < n && map[k] < 0; j++)
            if (strcmp(s->class_names[k], names[j]) == 0)
                map[k] = (int32_t)j;
        if (map[k] < 0) {
            char list[400] = "";
            size_t used = 0;
            for (int64_t j = 0; j < n && used < sizeof list - 1; j++)
                used += (size_t)snprintf(list + used, sizeof list - used, "%s'%s'",
                                         j ? ", " : "", names[j]);
            if (used >= sizeof list - 1)
                memcpy(list + sizeof list - 4, "...", 4);
            st = nn_fail(ds->ctx, NN_ERR_RANGE, "%s: class '%s' is not one of the %lld "
                         "class%s it is compared with (%s)", ds->source, s->class_names[k],
                         (long long)n, n == 1 ? "" : "es", list);
        }
    }
    for (int64_t j = 0; j < n && st == NN_OK; j++)
        if (!(copy[j] = nn_data_strdup(ds->ctx, names[j])))
            st = NN_ERR_NOMEM;
    if (st != NN_OK) {
        for (int64_t j = 0; j < n; j++)
            free(copy[j]);
        free(copy);
        free(map);
        return st;
    }
    for (int64_t i = 0; i < s->n; i++)
        s->labels[i] = map[s->labels[i]];
    for (int64_t k = 0; k < s->nclass_names; k++)
        free(s->class_names[k]);
    free(s->class_names);
    s->class_names = copy;
    s->nclass_names = n;
    ds->classes = n;
    free(map);
    return NN_OK;
}

/* ---- normalization ---------------------------------------------------------- */

/* Feature j of a stored row, either type (slow path, used only by fitting). */
static inline double value_at(const uint8_t *u8r, const float *f32r, int64_t j)
{
    return u8r ? (double)u8r[j] : (double)f32r[j];
}

nn_status nn_dataset_fit_norm(nn_dataset *ds, nn_norm_kind kind)
{
    if ((int)kind < 0 || kind >= NN_NORM_COUNT)
        return nn_fail(ds->ctx, NN_ERR_INVALID, "normalization kind %d is unknown",
                       (int)kind);
    if (kind == NN_NORM_NONE || kind == NN_NORM_SCALE255) {
        norm_fill_const(ds, kind);
        return NN_OK;
    }
    int64_t F = ds->features;
    double *a = calloc((size_t)F, sizeof(double)), *b = calloc((size_t)F, sizeof(double));
    if (!a || !b) {
        free(a);
        free(b);
        return nn_fail(ds->ctx, NN_ERR_NOMEM, "%s: out of memory fitting the "
                       "normalization", ds->source);
    }
    const struct nn_ds_store *s = ds->store;
    if (kind == NN_NORM_STANDARD) {
        /* Two passes in double: the mean, then the mean squared deviation. */
        for (int64_t i = 0; i < ds->n; i++) {
            int64_t r = row_of(ds, i);
            const uint8_t *u = s->u8 ? s->u8 + r * F : NULL;
            const float *f = s->f32 ? s->f32 + r * F : NULL;
            for (int64_t j = 0; j < F; j++)
                a[j] += value_at(u, f, j);
        }
        for (int64_t j = 0; j < F; j++)
            a[j] /= (double)ds->n;
        for (int64_t i = 0; i < ds->n; i++) {
            int64_t r = row_of(ds, i);
            const uint8_t *u = s->u8 ? s->u8 + r * F : NULL;
            const float *f = s->f32 ? s->f32 + r * F : NULL;
            for (int64_t j = 0; j < F; j++) {
                double d = value_at(u, f, j) - a[j];
                b[j] += d * d;
            }
        }
        for (int64_t j = 0; j < F; j++) {
            double sd = sqrt(b[j] / (double)ds->n);
            ds->shift[j] = (float)a[j];
            ds->scale[j] = sd > 0 && isfinite(1.0 / sd) && (float)(1.0 / sd) != 0.0f
                               ? (float)(1.0 / sd) : 1.0f;
        }
    } else { /* NN_NORM_MINMAX: a = min, b = max */
        for (int64_t j = 0; j < F; j++) {
            a[j] = INFINITY;
            b[j] = -INFINITY;
        }
        for (int64_t i = 0; i < ds->n; i++) {
            int64_t r = row_of(ds, i);
            const uint8_t *u = s->u8 ? s->u8 + r * F : NULL;
            const float *f = s->f32 ? s->f32 + r * F : NULL;
            for (int64_t j = 0; j < F; j++) {
                double v = value_at(u, f, j);
                a[j] = v < a[j] ? v : a[j];
                b[j] = v > b[j] ? v : b[j];
            }
        }
        for (int64_t j = 0; j < F; j++) {
            double range = b[j] - a[j];
            ds->shift[j] = (float)a[j];
            ds->scale[j] = range > 0 && isfinite(1.0 / range) &&
                                   (float)(1.0 / range) != 0.0f
                               ? (float)(1.0 / range) : 1.0f;
        }
    }
    free(a);
    free(b);
    ds->norm = kind;
    return NN_OK;
}

void nn_dataset_norm_get(const nn_dataset *ds, struct nn_norm_stats *out)
{
    out->kind = ds->norm;
    out->nfeatures = ds->features;
    out->shift = ds->shift;
    out->scale = ds->scale;
}

nn_status nn_dataset_norm_set(nn_dataset *ds, const struct nn_norm_stats *st)
{
    if (!st || (int)st->kind < 0 || st->kind >= NN_NORM_COUNT || !st->shift || !st->scale)
        return nn_fail(ds->ctx, NN_ERR_INVALID, "%s: normalization statistics "
                       "missing or of an unknown kind", ds->source);
    if (st->nfeatures != ds->features)
        return nn_fail(ds->ctx, NN_ERR_SHAPE, "%s: normalization for %lld features, "
                       "but the data have %lld", ds->source, (long long)st->nfeatures,
                       (long long)ds->features);
    for (int64_t j = 0; j < st->nfeatures; j++)
        if (!isfinite(st->shift[j]) || !isfinite(st->scale[j]) || st->scale[j] == 0.0f)
            return nn_fail(ds->ctx, NN_ERR_NUMERIC, "%s: normalization of feature "
                           "%lld is shift %g, scale %g; expected finite numbers and a "
                           "non-zero scale", ds->source, (long long)j,
                           (double)st->shift[j], (double)st->scale[j]);
    if (st->shift != ds->shift)
        memmove(ds->shift, st->shift, (size_t)ds->features * sizeof(float));
    if (st->scale != ds->scale)
        memmove(ds->scale, st->scale, (size_t)ds->features * sizeof(float));
    ds->norm = st->kind;
    return NN_OK;
}

/* x' = (x - shift) * scale over one row; vectorized. */
static void norm_row_f32(const float *restrict src, const float *restrict shift,
                         const float *restrict scale, float *restrict dst, int64_t F)
{
    NN_SIMD
    for (int64_t j = 0; j < F; j++)
        dst[j] = (src[j] - shift[j]) * scale[j];
}

static void norm_row_u8(const uint8_t *restrict src, const float *restrict shift,
                        const float *restrict scale, float *restrict dst, int64_t F)
{
    NN_SIMD
    for (int64_t j = 0; j < F; j++)
        dst[j] = ((float)src[j] - shift[j]) * scale[j];
}

void nn_norm_apply(const struct nn_norm_stats *st, float *x, int64_t rows)
{
    int64_t F = st->nfeatures;
    for (int64_t i = 0; i < rows; i++) {
        float *r = x + i * F;
        NN_SIMD
        for (int64_t j = 0; j < F; j++)
            r[j] = (r[j] - st->shift[j]) * st->scale[j];
    }
}

/* ---- views and splits --------------------------------------------------------- */

nn_dataset *nn_dataset_subset(const nn_dataset *ds, const int64_t *idx, int64_t n)
{
    if (n <= 0 || !idx) {
        nn_fail(ds->ctx, NN_ERR_INVALID, "%s: a subset needs at least one index",
                ds->source);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= ds->n) {
            nn_fail(ds->ctx, NN_ERR_RANGE, "%s: index %lld out of range [0, %lld)",
                    ds->source, (long long)idx[i], (long long)ds->n);
            return NULL;
        }
    nn_dataset *v = ds_header(ds->ctx, ds->source, ds->features);
    if (!v)
        return NULL;
    v->rows = malloc((size_t)n * sizeof(int64_t));
    if (!v->rows) {
        nn_dataset_free(v);
        nn_fail(ds->ctx, NN_ERR_NOMEM, "%s: out of memory", ds->source);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        v->rows[i] = row_of(ds, idx[i]);
    v->store = ds->store;
    v->store->refs++;
    v->n = n;
    v->ndim = ds->ndim;
    memcpy(v->dim, ds->dim, sizeof v->dim);
    v->kind = ds->kind;
    v->classes = ds->classes;
    v->ntargets = ds->ntargets;
    v->norm = ds->norm;
    memcpy(v->shift, ds->shift, (size_t)ds->features * sizeof(float));
    memcpy(v->scale, ds->scale, (size_t)ds->features * sizeof(float));
    return v;
}

nn_status nn_dataset_split(const nn_dataset *ds, float val_fraction, uint64_t seed,
                           nn_dataset **train, nn_dataset **val)
{
    *train = *val = NULL;
    if (!(val_fraction > 0.0f && val_fraction < 1.0f))
        return nn_fail(ds->ctx, NN_ERR_INVALID, "validation fraction %g, expected "
                       "a number in (0, 1)", (double)val_fraction);
    int64_t nval = (int64_t)llround((double)ds->n * (double)val_fraction);
    if (nval < 1 || nval >= ds->n)
        return nn_fail(ds->ctx, NN_ERR_INVALID, "%s: a validation fraction of %g of "
                       "%lld samples leaves %lld for validation and %lld for "
                       "training; both must be at least 1", ds->source,
                       (double)val_fraction, (long long)ds->n, (long long)nval,
                       (long long)(ds->n - nval));
    int64_t *perm = malloc((size_t)ds->n * sizeof(int64_t));
    if (!perm)
        return nn_fail(ds->ctx, NN_ERR_NOMEM, "%s: out of memory", ds->source);
    for (int64_t i = 0; i < ds->n; i++)
        perm[i] = i;
    struct nn_rng rng;
    nn_rng_seed(&rng, seed);
    for (int64_t i = ds->n - 1; i > 0; i--) { /* Fisher-Yates */
        int64_t j = (int64_t)nn_rng_below(&rng, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    int64_t ntr = ds->n - nval;
    nn_dataset *tr = nn_dataset_subset(ds, perm, ntr);
    nn_dataset *va = tr ? nn_dataset_subset(ds, perm + ntr, nval) : NULL;
    free(perm);
    nn_status st = tr && va ? NN_OK : NN_ERR_NOMEM;
    if (st == NN_OK && (ds->norm == NN_NORM_STANDARD || ds->norm == NN_NORM_MINMAX)) {
        st = nn_dataset_fit_norm(tr, ds->norm);
        struct nn_norm_stats ns;
        nn_dataset_norm_get(tr, &ns);
        if (st == NN_OK)
            st = nn_dataset_norm_set(va, &ns);
    }
    if (st != NN_OK) {
        nn_dataset_free(tr);
        nn_dataset_free(va);
        return st;
    }
    *train = tr;
    *val = va;
    return NN_OK;
}

/* ---- the batch path -------------------------------------------------------------- */

/* The normalized features of samples idx[0..n) (checked) into x. One clone
 * per instruction set: the uint8 -> float conversion and the normalization
 * run in the widest vectors the CPU has, with the same arithmetic. */
NN_MULTIVERSION
static void gather_rows(const nn_dataset *ds, const int64_t *idx, int64_t n, float *x)
{
    const struct nn_ds_store *s = ds->store;
    const int64_t F = ds->features;
    size_t rowbytes = (size_t)F * (s->u8 ? 1 : sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        int64_t r = row_of(ds, idx[i]);
        if (i + 1 < n) { /* rows are scattered: fetch the next one early */
            const char *nx = s->u8 ? (const char *)(s->u8 + row_of(ds, idx[i + 1]) * F)
                                   : (const char *)(s->f32 + row_of(ds, idx[i + 1]) * F);
            for (size_t o = 0; o < rowbytes; o += 64)
                __builtin_prefetch(nx + o);
        }
        if (s->u8)
            norm_row_u8(s->u8 + r * F, ds->shift, ds->scale, x + i * F, F);
        else
            norm_row_f32(s->f32 + r * F, ds->shift, ds->scale, x + i * F, F);
    }
}

nn_status nn_dataset_gather(const nn_dataset *ds, const int64_t *idx, int64_t n,
                            float *x_out, int32_t *labels_out, float *targets_out)
{
    if (n < 0 || (n > 0 && !idx))
        return nn_fail(ds->ctx, NN_ERR_INVALID, "%s: gather of %lld samples %s", ds->source,
                       (long long)n, n < 0 ? "(expected >= 0)" : "without indices");
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= ds->n)
            return nn_fail(ds->ctx, NN_ERR_RANGE, "%s: sample index %lld out of "
                           "range [0, %lld)", ds->source, (long long)idx[i],
                           (long long)ds->n);
    const struct nn_ds_store *s = ds->store;
    if (x_out)
        gather_rows(ds, idx, n, x_out);
    if (labels_out && s->labels && ds->kind == NN_LABELS_CLASS)
        for (int64_t i = 0; i < n; i++)
            labels_out[i] = s->labels[row_of(ds, idx[i])];
    if (targets_out && s->targets && ds->kind == NN_LABELS_TARGETS)
        for (int64_t i = 0; i < n; i++)
            memcpy(targets_out + i * ds->ntargets,
                   s->targets + row_of(ds, idx[i]) * ds->ntargets,
                   (size_t)ds->ntargets * sizeof(float));
    return NN_OK;
}

void nn_dataset_prefetch(const nn_dataset *ds, const int64_t *idx, int64_t n)
{
    const struct nn_ds_store *s = ds->store;
    size_t rowbytes = (size_t)ds->features * (s->u8 ? 1 : sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= ds->n)
            continue;
        int64_t r = row_of(ds, idx[i]);
        const char *p = s->u8 ? (const char *)(s->u8 + r * ds->features)
                              : (const char *)(s->f32 + r * ds->features);
        for (size_t off = 0; off < rowbytes; off += 64)
            __builtin_prefetch(p + off, 0, 1);
    }
}

nn_status nn_dataset_row(const nn_dataset *ds, int64_t i, float *x_out)
{
    return nn_dataset_gather(ds, &i, 1, x_out, NULL, NULL);
}

/* ---- augmentation ------------------------------------------------------------ */

/* dst[x] = (v - shift[x]) * scale[x] over a run of pixels, v the stored
 * values src[x] (step 1) or src[-x] (step -1, a mirrored run), or 0 where
 * src is NULL (vacated pixels); vectorized. */
static void norm_run_u8(const uint8_t *restrict src, int step, const float *restrict shift,
                        const float *restrict scale, float *restrict dst, int64_t len)
{
    if (!src) {
        NN_SIMD
        for (int64_t x = 0; x < len; x++)
            dst[x] = (0.0f - shift[x]) * scale[x];
    } else if (step > 0) {
        NN_SIMD
        for (int64_t x = 0; x < len; x++)
            dst[x] = ((float)src[x] - shift[x]) * scale[x];
    } else {
        NN_SIMD
        for (int64_t x = 0; x < len; x++)
            dst[x] = ((float)src[-x] - shift[x]) * scale[x];
    }
}

static void norm_run_f32(const float *restrict src, int step, const float *restrict shift,
                         const float *restrict scale, float *restrict dst, int64_t len)
{
    if (!src) {
        NN_SIMD
        for (int64_t x = 0; x < len; x++)
            dst[x] = (0.0f - shift[x]) * scale[x];
    } else if (step > 0) {
        NN_SIMD
        for (int64_t x = 0; x < len; x++)
            dst[x] = (src[x] - shift[x]) * scale[x];
    } else {
        NN_SIMD
        for (int64_t x = 0; x < len; x++)
            dst[x] = (src[-x] - shift[x]) * scale[x];
    }
}

/* One sample's stored row (c, h, w), u8 or f32 (the other NULL),
 * transformed by d and normalized into dst: dst[j] = (v - shift[j]) *
 * scale[j], v the stored value that lands on j, or 0 where none does. Each
 * output row is at most three runs: vacated, moved, vacated. */
static void augment_row(const uint8_t *u8, const float *f32, const float *shift,
                        const float *scale, float *dst, int64_t c, int64_t h, int64_t w,
                        struct nn_augment_draw d)
{
    int64_t x0 = d.dx > 0 ? d.dx : 0, x1 = d.dx < 0 ? w + d.dx : w; /* moved: [x0, x1) */
    if (x0 > w)
        x0 = w;
    if (x1 < x0)
        x1 = x0;
    for (int64_t k = 0; k < c; k++)
        for (int64_t y = 0; y < h; y++) {
            int64_t j = (k * h + y) * w, sy = y - d.dy;
            bool inside = sy >= 0 && sy < h && x1 > x0;
            /* the stored pixel landing on x0: column x0 - dx, or its mirror */
            int64_t sx = x0 - d.dx, from = (k * h + sy) * w + (d.flip ? w - 1 - sx : sx);
            int step = d.flip ? -1 : 1;
            int64_t lo = inside ? x0 : w, hi = inside ? x1 : w;
            if (u8) {
                norm_run_u8(NULL, 1, shift + j, scale + j, dst + j, lo);
                if (inside)
                    norm_run_u8(u8 + from, step, shift + j + lo, scale + j + lo, dst + j + lo,
                                hi - lo);
                norm_run_u8(NULL, 1, shift + j + hi, scale + j + hi, dst + j + hi, w - hi);
            } else {
                norm_run_f32(NULL, 1, shift + j, scale + j, dst + j, lo);
                if (inside)
                    norm_run_f32(f32 + from, step, shift + j + lo, scale + j + lo, dst + j + lo,
                                 hi - lo);
                norm_run_f32(NULL, 1, shift + j + hi, scale + j + hi, dst + j + hi, w - hi);
            }
        }
}

/* Images of up to this many uint8 pixels are transformed in a buffer on
 * the stack and then normalized in one pass (the common case); larger ones
 * and float rows run by run. */
#define AUG_BUF 16384

/* augment_row for a uint8 image of at most AUG_BUF pixels. */
static void augment_row_small(const uint8_t *src, const float *shift, const float *scale,
                              float *dst, int64_t c, int64_t h, int64_t w,
                              struct nn_augment_draw d)
{
    uint8_t buf[AUG_BUF];
    memset(buf, 0, (size_t)(c * h * w));
    int64_t x0 = d.dx > 0 ? d.dx : 0, x1 = d.dx < 0 ? w + d.dx : w; /* moved: [x0, x1) */
    int64_t y0 = d.dy > 0 ? d.dy : 0, y1 = d.dy < 0 ? h + d.dy : h;
    for (int64_t k = 0; k < c && x1 > x0; k++)
        for (int64_t y = y0; y < y1; y++) {
            uint8_t *o = buf + (k * h + y) * w + x0;
            const uint8_t *row = src + (k * h + y - d.dy) * w;
            if (d.flip)
                for (int64_t x = 0; x < x1 - x0; x++)
                    o[x] = row[w - 1 - (x0 + x - d.dx)];
            else
                memcpy(o, row + x0 - d.dx, (size_t)(x1 - x0));
        }
    norm_row_u8(buf, shift, scale, dst, c * h * w);
}

nn_status nn_ds_gather_augmented(const nn_dataset *ds, const int64_t *idx, int64_t n,
                                 float *x_out, int64_t c, int64_t h, int64_t w,
                                 const struct nn_augment_cfg *cfg, int epoch)
{
    nn_status st = nn_dataset_gather(ds, idx, n, NULL, NULL, NULL); /* checks the indices */
    if (st != NN_OK || !x_out)
        return st;
    NN_ASSERT(c * h * w == ds->features, "augmented gather: the image shape does not fit");
    const struct nn_ds_store *s = ds->store;
    const int64_t F = ds->features;
    for (int64_t i = 0; i < n; i++) {
        int64_t r = row_of(ds, idx[i]);
        struct nn_augment_draw d = nn_augment_draw(cfg, epoch, idx[i]);
        if (s->u8 && F <= AUG_BUF)
            augment_row_small(s->u8 + r * F, ds->shift, ds->scale, x_out + i * F, c, h, w, d);
        else
            augment_row(s->u8 ? s->u8 + r * F : NULL, s->u8 ? NULL : s->f32 + r * F,
                        ds->shift, ds->scale, x_out + i * F, c, h, w, d);
    }
    return NN_OK;
}
