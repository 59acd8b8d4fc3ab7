/**
 * @file nn/data.h
 * @brief Data sets: IDX, CSV and image-folder loaders, normalization, splits and
 * batch gathering.
 *
 * Part of libnn's public interface: programs include <nn.h>, which
 * includes every part; each part also compiles on its own.
 */
#ifndef NN_PUBLIC_DATA_H
#define NN_PUBLIC_DATA_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Data sets (src/data/): IDX (MNIST family, gzip or raw), CSV and image
 * folders, normalization, splits and batch gathering.
 *
 * A data set holds n samples. Each sample's features are stored in their
 * compact type (uint8 for IDX files and images, float32 for CSV and arrays)
 * and converted to float32 with the data set's normalization only when a
 * batch is gathered. Labels are int32 class indices (classification) or
 * float targets, one or more per sample (regression), or absent (features
 * only, e.g. inputs to predict).
 *
 * Every loader returns a new data set owned by the caller (nn_dataset_free),
 * or NULL with a one-line message in the context naming the file and the
 * problem. The context must outlive the data set. Data sets are read-only
 * after loading except for their normalization, so several threads may
 * gather from one data set at once.
 */

/* A data set (opaque): samples, their labels and their normalization. */
typedef struct nn_dataset nn_dataset;

/* What a data set holds besides the features. */
typedef enum nn_label_kind {
    NN_LABELS_NONE = 0, /* features only */
    NN_LABELS_CLASS,    /* one int32 class index in [0, classes) per sample */
    NN_LABELS_TARGETS   /* ntargets floats per sample (regression) */
} nn_label_kind;

/* Feature normalization: x' = (x - shift[j]) * scale[j] per feature j. */
typedef enum nn_norm_kind {
    NN_NORM_NONE = 0,  /* shift 0, scale 1 */
    NN_NORM_SCALE255,  /* shift 0, scale 1/255: pixels to [0, 1] */
    NN_NORM_STANDARD,  /* shift = mean, scale = 1/std (population std; 0 -> 1) */
    NN_NORM_MINMAX,    /* shift = min, scale = 1/(max - min) (equal -> 1) */
    NN_NORM_COUNT
} nn_norm_kind;

/* The normalization of a data set, to store in a checkpoint and reapply at
 * evaluation or prediction time. shift and scale hold nfeatures floats. */
struct nn_norm_stats {
    nn_norm_kind kind; /* how shift and scale were fitted */
    int64_t nfeatures; /* features per sample */
    const float *shift; /* (nfeatures) */
    const float *scale; /* (nfeatures) */
};

/* "none", "scale255", "standard", "minmax"; NULL if unknown. */
NN_API const char *nn_norm_name(nn_norm_kind kind);
/* Parses a name as above; -1 if unknown. */
NN_API int nn_norm_parse(const char *name);

/* IDX files, each gzip-compressed or raw (read through zlib). The images
 * file holds unsigned bytes (type code 0x08) of 1 to 4 dimensions (N, ...);
 * the labels file unsigned bytes of one dimension (N), so labels are 0..255
 * and classes = max label + 1 (narrow it with nn_dataset_check_classes).
 * labels_path may be NULL: features only. Per-sample shape: (1, H, W) for a
 * 3-D file (N, H, W) (one channel, NCHW-ready), otherwise the file's
 * dimensions after N. Normalization NN_NORM_SCALE255. Rejected with a
 * message: a missing file, a truncated header or data, a wrong magic
 * number, type code or dimension count, a zero dimension, data after the
 * promised bytes, image and label counts that differ. */
NN_API nn_dataset *nn_dataset_load_idx(nn_ctx *ctx, const char *images_path,
                                const char *labels_path);

/* A data set shipped by a Debian package, by name: "fashion-mnist" with
 * split "train" (60000) or "test" (10000), from
 * /usr/share/datasets/fashion-mnist/. If it is missing, the message says
 * how to install it (apt-get install dataset-fashion-mnist). */
NN_API nn_dataset *nn_dataset_load_named(nn_ctx *ctx, const char *name, const char *split);

/* How a CSV file's label column is read (struct nn_csv_opts). */
typedef enum nn_csv_task {
    NN_CSV_AUTO = 0, /* classification if every label is a whole number
                        (written 1, 1.0 or 1.00000 alike) of magnitude below
                        NN_CSV_AUTO_MAX_CLASSES and there are at most
                        NN_CSV_AUTO_MAX_LEVELS distinct ones, or if some
                        label is not a number (class names); regression
                        otherwise (other numbers, or more levels) */
    NN_CSV_CLASSIFY, /* classification: non-negative whole-number labels are
                        class indices (classes = max + 1); otherwise each
                        distinct string is a class named as written, indexed
                        in sorted order (by value when every label is a
                        number, e.g. -1 and 1; else strcmp order) */
    NN_CSV_REGRESS   /* regression: every label must be a finite number */
} nn_csv_task;

/* NN_CSV_AUTO: whole-number labels with at most this many distinct values
 * are classes (0/1 flags, a 1-5 rating, digits); more are a quantity. */
#define NN_CSV_AUTO_MAX_LEVELS 20
/* NN_CSV_AUTO reads whole-number labels below this (in magnitude) as classes. */
#define NN_CSV_AUTO_MAX_CLASSES 1000
#define NN_CSV_MAX_CLASSES 1000000 /* classes by index or by name, at most */

/* Whether a CSV file's first row is a header. AUTO: it is when one of its
 * fields is not a number where the second row's field in the same column is
 * (or, in a one-row file without opts.columns, when any field is not a
 * number), or when it holds the label column's name (opts.label) or one of
 * opts.columns as text; else the first row is data. */
typedef enum nn_csv_header {
    NN_CSV_HEADER_AUTO = 0,
    NN_CSV_HEADER_YES,
    NN_CSV_HEADER_NO
} nn_csv_header;

/* CSV options; NULL or a zeroed struct gives the defaults. */
struct nn_csv_opts {
    /* The label column: a header name, or a 0-based index ("0"; negative
     * counts from the end: "-1" is the last column). For regression, a
     * comma-separated list of columns gives several targets. NULL: no label
     * column, every column is a feature (inputs to predict). */
    const char *label;
    bool no_header;    /* the first row is data (same as header = NN_CSV_HEADER_NO) */
    nn_csv_task task;  /* how the label column is read (default: NN_CSV_AUTO) */
    char delimiter;    /* 0 = ',' */
    nn_csv_header header; /* whether the first row names the columns (default:
                             NN_CSV_HEADER_AUTO) */
    /* Columns left out, such as an id: names or 0-based indices as for
     * label, comma-separated. An unknown one is an error naming it (and the
     * nearest column name). NULL: none. */
    const char *ignore;
    /* The layout of the file a model was trained on (nn_dataset_columns and
     * nn_dataset_column of its training set), to read another file the same
     * way: columns holds its ncolumns names in order, or is NULL when it had
     * no header; label and ignore are resolved against it. When both files
     * have a header, the features are the layout's feature columns taken by
     * name, in the layout's order, wherever they are in this file; its other
     * columns are left out, and a missing one is an error naming it and the
     * file. Otherwise columns are matched by position and the file must have
     * ncolumns columns (an error giving both counts). ncolumns 0: no layout. */
    const char *const *columns;
    int64_t ncolumns; /* the number of names in columns (0: no layout) */
    /* With a layout: a file may lack the label column(s) (inputs to
     * predict): by name, or by position with ncolumns minus the label
     * columns. Such a file has no labels. */
    bool label_optional;
};

/* A CSV file (gzip-compressed or not; quoted fields allowed). Every
 * non-label column is a float feature; per-sample shape (features). Fields
 * are decimal numbers; empty fields, NaN and infinities are errors naming
 * the line and column, and so are ragged rows, an empty file, a header
 * without rows and a label column that does not exist. Normalization:
 * NN_NORM_STANDARD fitted on the whole file (nn_dataset_split refits it on
 * the training part; at evaluation time set the training statistics with
 * nn_dataset_norm_set). */
NN_API nn_dataset *nn_dataset_load_csv(nn_ctx *ctx, const char *path,
                                const struct nn_csv_opts *opts);

/* Image options; NULL or a zeroed struct gives the defaults. */
struct nn_image_opts {
    int width, height; /* 0: the size of the first image */
    int channels;      /* 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA; 0: the first
                          image's; other images are converted to it */
    bool resize;       /* resize images of another size (bilinear, area-
                          filtered when shrinking); false: such an image is
                          an error naming the file and both sizes */
};

/* Images larger than this many pixels are refused (before decoding). */
#define NN_IMAGE_MAX_PIXELS (1 << 26)

/* An image folder: dir/CLASS/FILE, one subfolder per class (at least two);
 * classes are the subfolder names in sorted (strcmp) order, files are read
 * in sorted order; names starting with '.' and files directly in dir are
 * skipped. PNG, JPEG, BMP, GIF (first frame) and PNM (P5/P6) files are read;
 * any other file in a class folder is an error naming it. Per-sample shape
 * (C, H, W), stored as uint8; normalization NN_NORM_SCALE255. */
NN_API nn_dataset *nn_dataset_load_images(nn_ctx *ctx, const char *dir,
                                   const struct nn_image_opts *opts);

/* Image files given by path, without labels (inputs to predict), with the
 * same size policy as nn_dataset_load_images. */
NN_API nn_dataset *nn_dataset_load_image_files(nn_ctx *ctx, const char *const *paths,
                                        int64_t n, const struct nn_image_opts *opts);

/* One image file as raw float pixel values in [0, 255], layout (C, H, W),
 * with the size policy of opts (required size, or resize). dims receives
 * {C, H, W}. Returns memory the caller releases with free(), or NULL. */
NN_API float *nn_image_load_file(nn_ctx *ctx, const char *path,
                          const struct nn_image_opts *opts, int64_t dims[3]);

/* Arrays a program already holds; everything is copied. */
struct nn_array_data {
    int64_t n;             /* samples */
    int ndim;              /* per-sample shape dims[0..ndim), 1..NN_MAX_DIMS-1 */
    const int64_t *dims;   /* (ndim) */
    const float *x;        /* (n, prod dims) features, finite */
    const int32_t *labels; /* (n) class indices >= 0, or NULL */
    int64_t classes;       /* 0: max label + 1 */
    const float *targets;  /* (n, ntargets) regression targets, or NULL */
    int64_t ntargets;      /* targets per sample */
};
/* A data set from arrays (labels or targets or neither, not both).
 * Normalization NN_NORM_NONE. */
NN_API nn_dataset *nn_dataset_from_arrays(nn_ctx *ctx, const struct nn_array_data *a);

/* Releases a data set (views and the set they came from may be freed in any
 * order: the rows are shared and freed with the last of them). NULL is a
 * no-op. */
NN_API void nn_dataset_free(nn_dataset *ds);

/* Samples. */
NN_API int64_t nn_dataset_size(const nn_dataset *ds);
/* Features per sample (the product of the per-sample shape). */
NN_API int64_t nn_dataset_features(const nn_dataset *ds);
/* Per-sample shape, without the batch axis, into dims[NN_MAX_DIMS]; returns
 * its dimension count. */
NN_API int nn_dataset_shape(const nn_dataset *ds, int64_t dims[NN_MAX_DIMS]);
NN_API nn_label_kind nn_dataset_label_kind(const nn_dataset *ds);
/* Number of classes; 0 unless classification. */
NN_API int64_t nn_dataset_classes(const nn_dataset *ds);
/* Targets per sample; 0 unless regression. */
NN_API int64_t nn_dataset_targets(const nn_dataset *ds);
/* The name of class i (CSV string labels, image folders), or NULL if the
 * classes have no names or i is out of range. Owned by the data set. */
NN_API const char *nn_dataset_class_name(const nn_dataset *ds, int64_t i);
/* The name of feature j (a CSV header), or NULL. Owned by the data set. */
NN_API const char *nn_dataset_feature_name(const nn_dataset *ds, int64_t j);
/* What a column of a CSV file was read as. */
typedef enum nn_column_role {
    NN_COLUMN_FEATURE = 0,
    NN_COLUMN_LABEL,   /* a label or regression target */
    NN_COLUMN_IGNORED  /* left out (nn_csv_opts.ignore, or not in its layout) */
} nn_column_role;
/* The columns of the CSV file a data set was read from (features, labels
 * and columns left out, in the file's order); 0 for other sources. */
NN_API int64_t nn_dataset_columns(const nn_dataset *ds);
/* Column c's name (NULL without a header, or c out of range), and its role
 * into *role (if not NULL). Owned by the data set. */
NN_API const char *nn_dataset_column(const nn_dataset *ds, int64_t c, nn_column_role *role);
/* The file or folder it was loaded from (for messages). */
NN_API const char *nn_dataset_source(const nn_dataset *ds);

/* Renumbers the classes of a set with named classes (CSV strings, image
 * folders) to the order of names[0..n), e.g. a model's or a training set's,
 * so that a test file lacking some class still uses the same indices.
 * NN_ERR_RANGE naming a class that is not among names. For integer labels it
 * only checks them against n (nn_dataset_check_classes). Call it before
 * making views of ds. */
NN_API nn_status nn_dataset_map_classes(nn_dataset *ds, const char *const *names, int64_t n);
/* Declares the class count: NN_ERR_RANGE naming the first sample whose
 * label is >= classes; on success nn_dataset_classes returns classes. */
NN_API nn_status nn_dataset_check_classes(nn_dataset *ds, int64_t classes);

/* Fits the normalization of the given kind on this data set's own rows
 * (shift and scale computed in double precision). */
NN_API nn_status nn_dataset_fit_norm(nn_dataset *ds, nn_norm_kind kind);
/* The current normalization; its arrays are owned by the data set and valid
 * until its normalization next changes or it is freed. */
NN_API void nn_dataset_norm_get(const nn_dataset *ds, struct nn_norm_stats *out);
/* Sets the normalization (copied), e.g. the training set's on a test set or
 * one read from a checkpoint. NN_ERR_SHAPE if nfeatures differs,
 * NN_ERR_NUMERIC if a value is not finite or a scale is 0. */
NN_API nn_status nn_dataset_norm_set(nn_dataset *ds, const struct nn_norm_stats *st);
/* Applies st to rows of st->nfeatures floats in place. */
NN_API void nn_norm_apply(const struct nn_norm_stats *st, float *x, int64_t rows);

/* A view of the samples idx[0..n) of ds (indices into ds, repeats allowed),
 * sharing its rows, with a copy of its normalization. Owned by the caller. */
NN_API nn_dataset *nn_dataset_subset(const nn_dataset *ds, const int64_t *idx, int64_t n);

/* Shuffles the samples with a generator seeded by seed and cuts them into
 * a training view (the first n - round(n * val_fraction)) and a validation
 * view (the rest); val_fraction in (0, 1) and both parts non-empty. A
 * fitted normalization (standard, minmax) is refitted on the training part
 * and copied to the validation part; others are kept. Both views are owned
 * by the caller and independent of ds (which may be freed first). On error
 * *train and *val are NULL. */
NN_API nn_status nn_dataset_split(const nn_dataset *ds, float val_fraction, uint64_t seed,
                           nn_dataset **train, nn_dataset **val);

/* The batch path: converts samples idx[0..n) to float32 with the
 * normalization applied into x_out (n, features), their class labels into
 * labels_out (n) and their targets into targets_out (n, ntargets). Any out
 * buffer may be NULL; labels_out and targets_out are written only when the
 * data set has that kind of label. Allocates nothing. NN_ERR_RANGE (and
 * nothing written) if an index is outside [0, size). */
NN_API nn_status nn_dataset_gather(const nn_dataset *ds, const int64_t *idx, int64_t n,
                            float *x_out, int32_t *labels_out, float *targets_out);
/* Asks the processor to start loading the rows of samples idx[0..n) (a
 * hint: the next batch's rows arrive while the current one trains). */
NN_API void nn_dataset_prefetch(const nn_dataset *ds, const int64_t *idx, int64_t n);
/* Sample i's normalized features into x_out (features). */
NN_API nn_status nn_dataset_row(const nn_dataset *ds, int64_t i, float *x_out);

#ifdef __cplusplus
}
#endif
#endif /* NN_PUBLIC_DATA_H */
