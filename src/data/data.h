/*
 * data.h - private to src/data/: the data set structure shared by the
 * loaders, the constructors they use, and parse-from-memory entry points
 * (used by the file loaders and by the fuzz targets in fuzz/).
 */
#ifndef NN_DATA_H
#define NN_DATA_H

#include "nn_impl.h"

/* The rows and labels, shared (reference-counted) by a data set and every
 * view made from it. Immutable once built. */
struct nn_ds_store {
    int refs;
    int64_t n;            /* samples stored */
    int64_t features;     /* per sample */
    uint8_t *u8;          /* (n, features) pixels, or NULL */
    float *f32;           /* (n, features) values, or NULL */
    int32_t *labels;      /* (n) class indices, or NULL */
    float *targets;       /* (n, ntargets), or NULL */
    char **class_names;   /* (nclass_names) owned strings, or NULL */
    int64_t nclass_names;
    char **feature_names; /* (features) owned strings, or NULL */
    int64_t ncolumns;     /* CSV: the file's columns, else 0 */
    char **column_names;  /* (ncolumns) owned strings, or NULL (no header) */
    unsigned char *column_roles; /* (ncolumns) nn_column_role */
};

struct nn_dataset {
    nn_ctx *ctx;
    struct nn_ds_store *store;
    int64_t *rows;        /* (n) indices into the store, or NULL: identity */
    int64_t n;            /* samples in this set (or view) */
    int64_t features;
    int ndim;             /* per-sample shape */
    int64_t dim[NN_MAX_DIMS];
    nn_label_kind kind;
    int64_t classes;      /* classification */
    int64_t ntargets;     /* regression */
    nn_norm_kind norm;
    float *shift;         /* (features) */
    float *scale;         /* (features) */
    char *source;         /* owned: file or folder, for messages */
};

/* A new data set over a new, empty store of n samples with the given
 * per-sample shape; allocates the feature rows (u8 or f32), and labels or
 * targets per kind, and sets the normalization kind (NONE or SCALE255:
 * data-independent) . NULL with a message if out of memory. */
nn_dataset *nn_ds_alloc(nn_ctx *ctx, const char *source, int64_t n, int ndim,
                        const int64_t *dims, bool u8, nn_label_kind kind,
                        int64_t ntargets);
/* classes = max label + 1 (0 if there are no samples). */
void nn_ds_count_classes(nn_dataset *ds);
/* Checked 64-bit product a * b into *out; false on overflow or negatives. */
bool nn_mul_ok(int64_t a, int64_t b, int64_t *out);
/* strdup that reports running out of memory; NULL then. */
char *nn_data_strdup(nn_ctx *ctx, const char *s);

/* ---- IDX --------------------------------------------------------------- */

/* Images and labels from memory (each gzip-compressed or raw); names are
 * used in messages. labels may be NULL (features only). */
nn_dataset *nn_idx_load_mem(nn_ctx *ctx, const char *img_name, const uint8_t *img,
                            size_t img_len, const char *lbl_name,
                            const uint8_t *lbl, size_t lbl_len);
/* nn_dataset_load_named with the data sets looked up under root instead of
 * /usr/share/datasets (tests). */
nn_dataset *nn_dataset_load_named_in(nn_ctx *ctx, const char *root,
                                     const char *name, const char *split);

/* ---- CSV --------------------------------------------------------------- */

/* A CSV document from memory (not compressed); name is used in messages. */
nn_dataset *nn_csv_load_mem(nn_ctx *ctx, const char *name, const uint8_t *buf,
                            size_t len, const struct nn_csv_opts *opts);

/* ---- images ------------------------------------------------------------ */

/* Decodes an encoded image (PNG, JPEG, BMP, GIF, PNM) from memory into
 * *out (C, H, W) uint8, owned by the caller (free). The size policy is that
 * of opts; a zero width/height/channels in opts is filled from this image
 * (opts is updated, so the next image must match it). Images of more than
 * max_pixels pixels are refused before decoding. */
nn_status nn_image_decode_mem(nn_ctx *ctx, const char *name, const uint8_t *buf,
                              size_t len, struct nn_image_opts *opts,
                              int64_t max_pixels, uint8_t **out);
/* Resizes a (C, sh, sw) uint8 image to (C, dh, dw): bilinear, with the
 * filter widened by the scale factor when shrinking (area-like). Returns
 * false if out of memory. */
bool nn_image_resize(const uint8_t *src, int c, int sh, int sw, uint8_t *dst,
                     int dh, int dw);

#endif /* NN_DATA_H */
