/*
 * io.h - private entry points of the file formats in src/io/: the in-memory
 * safetensors parser (for the fuzzer and tests), the header builder the
 * writer uses, the byte-order helpers, the test-only failure injection of
 * the writer, and the checkpoint reader's object.
 */
#ifndef NN_IO_H
#define NN_IO_H

#include "nn_impl.h"

/* Parses a whole safetensors image buf[0..len) with the same checks as
 * nn_safetensors_open; label names it in messages. The data is copied, so
 * buf may be freed afterwards. NULL on error (message in ctx). */
nn_safetensors *nn_safetensors_parse(nn_ctx *ctx, const char *label,
                                     const void *buf, size_t len);

/* Validates the tensors and metadata of a save and builds the header: a
 * malloc'ed JSON text padded with spaces to a multiple of 8 bytes (*hdr,
 * *hlen, the caller frees it) and the tensors' byte ranges in the data
 * section (begin[i], nbytes[i], arrays of n the caller provides). The
 * layout orders tensors by decreasing element size, stable otherwise.
 * Returns NN_ERR_INVALID naming the bad entry, or NN_ERR_NOMEM. */
nn_status nn_st_build_header(nn_ctx *ctx, const char *path,
                             const struct nn_st_tensor *t, int n,
                             const char *const *meta_keys,
                             const char *const *meta_values, int nmeta,
                             char **hdr, size_t *hlen, int64_t *begin,
                             int64_t *nbytes);

/* Bytes of one element of a dtype name ("F32" -> 4), 0 if unsupported. */
size_t nn_st_dtype_size(const char *dtype);

/* Copies nelem elements of esize bytes (1, 2, 4 or 8) from src to dst,
 * reversing the bytes of each: little-endian <-> big-endian. */
void nn_st_swap_copy(void *dst, const void *src, size_t nelem, size_t esize);

/* True if s[0..len) is valid UTF-8 (no overlong forms, surrogates or code
 * points past U+10FFFF); else false and *bad is the offset of the first
 * bad byte (bad may be NULL). */
bool nn_utf8_valid(const char *s, size_t len, size_t *bad);

/* The byte offset of tensor i's data in the file's data section (its
 * data_offsets begin), i in header order as nn_safetensors_at; -1 if i is
 * out of range. */
int64_t nn_st_offset(const nn_safetensors *st, int i);

/* ---- dtype conversions (dtype.c) ---- */

/* IEEE half (binary16) and bfloat16 bits to float32, exactly: normals,
 * subnormals, signed zeros, infinities and NaNs (a half NaN's payload is
 * kept and the result made quiet, as F16C hardware and PyTorch convert;
 * bfloat16 is the upper half of a float32, NaNs as they are). */
float nn_f16_to_f32(uint16_t h);
float nn_bf16_to_f32(uint16_t b);
/* float64 to float32, rounded to nearest (ties to even); a finite value
 * beyond float32's range becomes an infinity of its sign. */
float nn_f64_to_f32(double d);
/* Whether tensors of dtype convert to float32 (every dtype the reader
 * knows: F32, F64, F16, BF16, I32, I64, U8), and whether it is a
 * floating-point one. */
bool nn_st_dtype_is_float(const char *dtype);
/* Converts v's numel elements to float32 into out (numel floats): F32
 * copied, F64 rounded to nearest, F16 and BF16 exactly, integers to the
 * nearest float. false (nothing written) for a dtype it does not know. */
bool nn_st_to_f32(const struct nn_st_view *v, float *out);
/* Element i of v as a double (exact except for I64 beyond 2^53), for
 * messages; NAN for a dtype it does not know. */
double nn_st_elem_f64(const struct nn_st_view *v, int64_t i);

/* ---- import.c ---- */

/* The natural module order of two state_dict names (see nn_import_torch
 * in nn.h): negative, 0 or positive as a sorts before, with or after b. */
int nn_import_name_cmp(const char *a, const char *b);

#ifdef NN_TESTING
/* Failure injection for nn_safetensors_save, only in the copy of
 * safetensors.c built with -DNN_TESTING for the test runner (the library
 * that is built and installed has none): fail_after >= 0 makes the write
 * that would take the temporary file past that many bytes fail with EIO (a
 * file no larger is written in full), as a full disk or a dying device
 * would; fail_rename fails the rename step with EIO. Off: {-1, false}.
 * Tests set it, and reset it before they return. */
struct nn_st_faults {
    int64_t fail_after;
    bool fail_rename;
};
extern struct nn_st_faults nn_st_faults;
#endif

/* ---- checkpoints (checkpoint.c, checkpoint_read.c) ---- */

#define NN_CHECKPOINT_FORMAT "libnn-checkpoint-1"

/* A checkpoint read by nn_checkpoint_open: the public info, and what
 * nn_trainer_resume needs besides. */
struct nn_checkpoint {
    nn_ctx *ctx;
    nn_safetensors *st;             /* the file: tensors and metadata strings */
    struct nn_checkpoint_info info; /* its pointers point into st, names, hist */
    char **names;                   /* (info.nclasses) class names */
    struct nn_epoch_stats *hist;    /* (info.epochs_done) */
    struct nn_trainer_state tstate; /* position and early-stopping counters */
    uint64_t rng[4];                /* the context's generator at the save */
    double sched_state[NN_SCHEDULE_STATE_LEN];
};

/* nn_checkpoint_open, and in *why the status of a failure: NN_ERR_IO (the
 * file cannot be read as safetensors), NN_ERR_FORMAT, NN_ERR_NOMEM. */
nn_checkpoint *nn_checkpoint_read(nn_ctx *ctx, const char *path, nn_status *why);
/* "cross_entropy", "bce", "mse" ("auto" for NN_LOSS_AUTO); NULL if unknown. */
const char *nn_checkpoint_loss_name(nn_loss_kind k);

#endif /* NN_IO_H */
