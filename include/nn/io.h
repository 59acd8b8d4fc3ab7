/**
 * @file nn/io.h
 * @brief Files: safetensors reading and writing, checkpoints, and importing
 * PyTorch weights.
 *
 * Part of libnn's public interface: programs include <nn.h>, which
 * includes every part; each part also compiles on its own.
 */
#ifndef NN_PUBLIC_IO_H
#define NN_PUBLIC_IO_H

#include "train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Safetensors files (src/io/safetensors.c): the generic reader and atomic
 * writer that checkpoints are built on.
 *
 * Format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON
 * (tensor name -> {"dtype", "shape", "data_offsets": [begin, end)}, plus an
 * optional "__metadata__" object of string -> string), then the tensors'
 * bytes, little-endian and row-major. Supported dtypes: "F32", "F64", "F16"
 * (IEEE half), "BF16" (bfloat16), "I32", "I64" and "U8"; the reader rejects
 * the others with a message naming the dtype. Checkpoints hold F32 weights;
 * the other float types are read for nn_import_torch, which converts them. */

/* A safetensors file read into memory and validated (opaque). */
typedef struct nn_safetensors nn_safetensors;

/* One tensor to write. name must be valid UTF-8, unique within the file and
 * not "__metadata__"; data holds numel (product of dims; 1 when ndim is 0)
 * elements of dtype in host byte order (written little-endian). */
struct nn_st_tensor {
    const char *name;  /* the tensor's name in the file */
    const char *dtype; /* "F32", "F64", "F16", "BF16", "I32", "I64" or "U8" */
    int ndim;          /* 0 (a scalar) to NN_MAX_DIMS */
    int64_t dims[NN_MAX_DIMS]; /* its shape, dims[0..ndim) */
    const void *data;  /* may be NULL only when numel is 0 */
};

/* Writes n tensors and nmeta metadata pairs (meta_keys[i] -> meta_values[i],
 * valid UTF-8, unique keys; both arrays may be NULL when nmeta is 0, and
 * then no "__metadata__" entry is written) to path, atomically: the bytes go
 * to a new temporary file "path.tmp.*" in the same directory, which is
 * flushed, fsync'ed and renamed over path; then the directory is fsync'ed.
 * The tensors are laid out by decreasing element size (each stays aligned)
 * and the header is padded with spaces to a multiple of 8 bytes. An
 * existing file keeps its permission bits; a new one gets 0666 less the
 * umask. Returns NN_OK; NN_ERR_INVALID for a bad tensor or metadata entry
 * (nothing is written); NN_ERR_IO (message naming the path and the system's
 * reason) if any step fails, in which case the temporary file is removed
 * and the previous file at path is left untouched; NN_ERR_NOMEM. */
NN_API nn_status nn_safetensors_save(nn_ctx *ctx, const char *path,
                              const struct nn_st_tensor *t, int n,
                              const char *const *meta_keys,
                              const char *const *meta_values, int nmeta);

/* Reads a whole file and validates it: header length within the file,
 * UTF-8 JSON object (trailing whitespace allowed), every entry with a known
 * dtype, a shape of non-negative integers and data_offsets [begin, end]
 * with end - begin = numel * element size, unique names, the tensors'
 * ranges covering the data section exactly (no gap, no overlap), metadata
 * values all strings. Returns a handle the caller releases with
 * nn_safetensors_close; NULL on error with a one-line message naming the
 * file and the problem (NN_ERR_IO for a file that cannot be read,
 * NN_ERR_FORMAT for bad contents, NN_ERR_NOMEM). ctx must outlive the
 * handle (nn_safetensors_get_f32 reports to it). */
NN_API nn_safetensors *nn_safetensors_open(nn_ctx *ctx, const char *path);
NN_API void nn_safetensors_close(nn_safetensors *st);

/* A tensor of an open file. Every pointer stays valid until the handle is
 * closed; data is in host byte order and aligned to the element size. */
struct nn_st_view {
    const char *name;    /* the tensor's name in the file */
    const char *dtype;   /* "F32", "F64", "F16", "BF16", "I32", "I64" or "U8" */
    int ndim;            /* 0 for a scalar; may exceed NN_MAX_DIMS */
    const int64_t *dims; /* (ndim) */
    int64_t numel;       /* product of dims, 1 for a scalar */
    size_t nbytes;       /* numel * element size */
    const void *data;    /* (dims...) row-major */
};

/* The number of tensors, and tensor i (0 <= i < count) in header order;
 * NULL if i is out of range. */
NN_API int nn_safetensors_count(const nn_safetensors *st);
NN_API const struct nn_st_view *nn_safetensors_at(const nn_safetensors *st, int i);
/* The tensor named name, or NULL if there is none (no message). */
NN_API const struct nn_st_view *nn_safetensors_find(const nn_safetensors *st,
                                             const char *name);
/* The float data of tensor name, checked: it exists, has dtype F32 and,
 * unless dims is NULL, exactly the shape dims[0..ndim). NULL otherwise,
 * with a message in the handle's context naming the file, the tensor, and
 * what was found and expected. Owned by the handle. */
NN_API const float *nn_safetensors_get_f32(const nn_safetensors *st, const char *name,
                                    int ndim, const int64_t *dims);
/* Metadata: the value for key or NULL; the number of pairs and key i (NULL
 * if out of range). Strings are owned by the handle. */
NN_API const char *nn_safetensors_meta(const nn_safetensors *st, const char *key);
NN_API int nn_safetensors_meta_count(const nn_safetensors *st);
NN_API const char *nn_safetensors_meta_key(const nn_safetensors *st, int i);
/* The path the handle was opened from (or the label of an in-memory parse). */
NN_API const char *nn_safetensors_path(const nn_safetensors *st);

/* ---- Checkpoints (src/io/checkpoint.c, src/io/checkpoint_read.c):
 * safetensors files holding every parameter under its node name
 * ("dense1.weight"), and in __metadata__ the model spec, loss,
 * normalization kind, class names, and, when a trainer is given, its whole
 * configuration (optimizer and its hyperparameters, schedule, batch,
 * penalties, clipping, early stopping), the optimizer's step count, the
 * training position (epochs done, the context's generator state,
 * early-stopping counters) and the per-epoch history. The normalization
 * statistics ("norm.shift", "norm.scale"), the optimizer state
 * ("optim.state") and the early-stopping best weights ("train.best") are
 * tensors. Any safetensors reader can load the weights; the metadata
 * formats are the library's own: read them with nn_checkpoint_open. */

/* Writes the checkpoint atomically (see nn_safetensors_save). t may be
 * NULL (weights only); keys/values add nextra (at most 64) metadata pairs
 * of the caller's own, read back with nn_checkpoint_meta; their keys must
 * not be the library's (see nn_checkpoint_meta). */
NN_API nn_status nn_checkpoint_save(const char *path, nn_model *m, const nn_trainer *t,
                             const char *const *keys, const char *const *values,
                             int nextra);
/* Rebuilds the model from a checkpoint's spec and loads its weights,
 * normalization and class names. NULL on error (message names the file and
 * what is wrong). cfg may be NULL; its max_batch is used if set. */
NN_API nn_model *nn_model_load(nn_ctx *ctx, const char *path, const struct nn_model_cfg *cfg);
/* Restores a trainer (made for the same model spec and optimizer kind) to
 * the position saved in path: weights, optimizer state and steps, epochs
 * done, history, early-stopping state, schedule state and the context's
 * generator, so that training continues exactly as if it had not stopped
 * provided the trainer was made with the checkpoint's configuration
 * (nn_checkpoint_info's train, with any epoch count). Each setting that
 * differs (the batch, a penalty, an optimizer hyperparameter, the
 * schedule ...) is reported through the context's warning handler, naming
 * both values; the trainer keeps its own. */
NN_API nn_status nn_trainer_resume(nn_trainer *t, const char *path);

/* A checkpoint opened to read what it records (opaque). */
typedef struct nn_checkpoint nn_checkpoint;

/* What a checkpoint records, without building its model. Every pointer is
 * owned by the nn_checkpoint it came from and valid until it is closed. */
struct nn_checkpoint_info {
    const char *path;        /* the file */
    const char *spec;        /* the model spec, for nn_model_new */
    nn_loss_kind loss;       /* the model's loss (NN_LOSS_AUTO if the file has none) */
    int64_t max_batch;       /* the model's max_batch */
    int64_t parameters;      /* trainable parameters */
    bool has_norm;           /* norm is the input normalization (else unset) */
    struct nn_norm_stats norm; /* when has_norm */
    int64_t nclasses;        /* named classes, 0 if the classes have no names */
    const char *const *class_names; /* (nclasses) */
    /* A trainer's state, when one was saved (else the fields below are 0): */
    bool has_trainer;
    /* The trainer's configuration: optim with its defaults filled in and
     * lr its base learning rate (before the schedule), schedule with its
     * defaults filled in (a cosine's t_max resolved), epochs the planned
     * count; on_batch, on_epoch and user are NULL. */
    struct nn_train_cfg train;
    int epochs_done;         /* epochs trained */
    int64_t optim_steps;     /* the optimizer's step count */
    double lr;               /* the optimizer's rate at the save (the last epoch's) */
    int best_epoch;          /* early stopping: 0 if none */
    bool stopped_early;      /* early stopping ended the training */
    const struct nn_epoch_stats *history; /* (epochs_done) */
};

/* Opens a checkpoint and reads its metadata: NULL on error with a message
 * naming the file and the problem (a file that cannot be read, a valid
 * safetensors file that is not a libnn checkpoint, a malformed entry).
 * The caller releases it with nn_checkpoint_close; ctx must outlive it. */
NN_API nn_checkpoint *nn_checkpoint_open(nn_ctx *ctx, const char *path);
NN_API void nn_checkpoint_close(nn_checkpoint *ck);
/* What it records (owned by ck). */
NN_API const struct nn_checkpoint_info *nn_checkpoint_info(const nn_checkpoint *ck);
/* The value of an extra metadata pair given to nn_checkpoint_save, or NULL
 * if there is none. The library's own keys ("format", "spec", "loss",
 * "max_batch", "parameters", "norm", "classes", "optim", "train") are not
 * extra: NULL for them (use nn_checkpoint_info). Owned by ck. */
NN_API const char *nn_checkpoint_meta(const nn_checkpoint *ck, const char *key);

/* ---- Importing PyTorch weights (src/io/import.c, src/io/dtype.c): a
 * model from a spec with every parameter and buffer filled from a
 * safetensors file written from a PyTorch state_dict, e.g. of
 *   torch.nn.Sequential(nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
 * ("0.weight", "0.bias", "2.weight", "2.bias") for the spec
 *   "784 dense:128 relu dense:10".
 *
 * Which tensor fills which parameter. The model's parameters and buffers
 * are taken in their order (nn_graph_param: layer after layer; a layer's
 * weight, then bias, then batch norm's running_mean, running_var and
 * num_batches_tracked: the order of a state_dict of the same layers).
 *  1. The map's pairs are assigned first (cfg->map_file, then cfg->map).
 *  2. Every other parameter takes the next tensor the map does not name,
 *     in the file's order, which is
 *     - the order of the tensors' data in the file (their data_offsets):
 *       the state_dict's own order when the writer kept it (the writer of
 *       examples/export_from_pytorch.py and tests/ref/gen_import.py does);
 *     - unless that data is sorted by name within each dtype, dtypes in
 *       blocks: that is what a sorting writer produces (the safetensors
 *       package's save_file: dtypes by size, then names in byte order, so
 *       "10.weight" comes before "2.weight"). The state_dict's order is
 *       then lost, and the natural module order stands in for it: names
 *       compared by module path (the name up to its last '.'), component by
 *       component, runs of digits by their value (features.3 before
 *       features.10, fc2 before fc10, a module's own tensors before its
 *       children's), then by the last component in state_dict order:
 *       weight, bias, running_mean, running_var, num_batches_tracked, then
 *       any other by name. This recovers numbered modules (Sequential
 *       indices, fc1 fc2 ...), not the declaration order of modules named
 *       otherwise (conv1 before bn1, features before classifier). So when
 *       a shape does not fit in natural order, the other orders of the
 *       top-level modules (the first name component: features,
 *       classifier; conv1, bn1, ...; at most 6 of them) are tried, and the
 *       one order under which every shape fits is taken ("natural order,
 *       modules by shape"): torchvision's features and classifier come
 *       back. If several orders fit (bn1 and bn2 of the same width), it is
 *       an error naming two of them: a map says where those go.
 * A tensor fits a parameter of the same shape; a scalar () also fits a
 * parameter of shape (1) (torch's num_batches_tracked). F32 is copied, F64
 * rounded to the nearest float, F16 and BF16 converted exactly (subnormals,
 * infinities and NaNs included); integer tensors (I64, I32, U8) fill
 * buffers only. Every value must be finite as a float.
 *
 * The map file: one pair per line, "libnn_name = torch_name", e.g.
 * "dense1.weight = encoder.fc.weight"; "- = torch_name" leaves a tensor
 * out on purpose; '#' starts a comment; blank lines are skipped. */
struct nn_import_pair {
    const char *param;  /* a model parameter ("dense1.weight"), or NULL: the
                           tensor is left out */
    const char *tensor; /* a tensor of the file */
};

/* One parameter as filled, for cfg->on_assign. Valid during the call. */
struct nn_import_info {
    const char *param;   /* the model's parameter or buffer */
    int ndim;            /* its shape */
    const int64_t *dims; /* (ndim) */
    bool trainable;      /* false for a buffer */
    const char *tensor;  /* the file's tensor that filled it */
    const char *dtype;   /* that tensor's dtype in the file */
    const char *by;      /* "map", "file order", "natural order" or "natural
                            order, modules by shape" */
};

/* Options of nn_import_torch; NULL or a zeroed struct: the defaults. */
struct nn_import_cfg {
    int64_t max_batch;     /* largest batch the model runs (default 256) */
    /* The loss, for nn_evaluate and the predictions. NN_LOSS_AUTO: binary
     * cross-entropy after a final sigmoid, else softmax cross-entropy
     * (a final linear layer gives a classifier's logits, as nn.Linear
     * before nn.CrossEntropyLoss). A regression needs NN_LOSS_MSE. */
    nn_loss_kind loss;
    const char *map_file;  /* NULL, or the map as a file (see above) */
    const struct nn_import_pair *map; /* nmap more pairs, or NULL */
    int nmap;              /* the number of pairs in map */
    /* Called once per parameter, in the model's order, after every one is
     * filled (optional). */
    void (*on_assign)(const struct nn_import_info *a, void *user);
    void *user;            /* passed to on_assign */
};

/* Builds the model of spec (see nn_model_new) and fills every parameter
 * and buffer from the safetensors file at path as described above; cfg may
 * be NULL. On success *out is the model (the caller frees it with
 * nn_model_free; set its normalization and class names with
 * nn_model_set_norm and nn_model_set_class_names, and save it with
 * nn_checkpoint_save). The context's random generator is left as it was.
 * On error *out is NULL and the message names the file and:
 *   NN_ERR_IO      the file (or the map file) cannot be read;
 *   NN_ERR_FORMAT  the file is not safetensors, a dtype is unsupported, or
 *                  a line of the map is not "NAME = NAME";
 *   NN_ERR_INVALID the spec does not build; a map pair names a parameter
 *                  the model lacks, a tensor the file lacks, or either one
 *                  twice;
 *   NN_ERR_SHAPE   a tensor's shape does not fit its parameter (naming both
 *                  and both shapes); several orders of a sorted file's
 *                  top-level modules fit; a parameter is left without a tensor
 *                  (naming it and its shape); a tensor is claimed by no
 *                  parameter (naming it and its shape);
 *   NN_ERR_FORMAT  an integer tensor for a trainable parameter;
 *   NN_ERR_NUMERIC a value that is not finite as a float (naming the tensor,
 *                  the element and the value);
 *   NN_ERR_NOMEM. */
NN_API nn_status nn_import_torch(nn_ctx *ctx, const char *path, const char *spec,
                                 const struct nn_import_cfg *cfg, nn_model **out);

#ifdef __cplusplus
}
#endif
#endif /* NN_PUBLIC_IO_H */
