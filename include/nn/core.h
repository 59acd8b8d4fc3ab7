/**
 * @file nn/core.h
 * @brief Status codes, the version, and the context: error messages, the random
 * number generator, the thread count, warnings.
 *
 * Part of libnn's public interface: programs include <nn.h>, which
 * includes every part; each part also compiles on its own.
 */
#ifndef NN_PUBLIC_CORE_H
#define NN_PUBLIC_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the library's public functions: the shared library is built with
 * hidden visibility, so exactly the functions declared here are exported
 * (a test compares the two lists). */
#if defined(__GNUC__) || defined(__clang__)
#define NN_API __attribute__((visibility("default")))
#else
#define NN_API
#endif

/* The library's version: major (the ABI, as in the SONAME libnn.so.MAJOR),
 * minor, patch, and all three as text. */
#define NN_VERSION_MAJOR 0
#define NN_VERSION_MINOR 1
#define NN_VERSION_PATCH 0
#define NN_VERSION_STRING "0.1.0"

/* The most dimensions a tensor has, batch axis included. */
#define NN_MAX_DIMS 4

/* What a call that can fail returns; the message is in the context. */
typedef enum nn_status {
    NN_OK = 0,      /* success */
    NN_ERR_INVALID, /* a bad argument or option value */
    NN_ERR_SHAPE,   /* shapes that do not fit together */
    NN_ERR_NOMEM,   /* an allocation failed */
    NN_ERR_IO,      /* a file could not be opened, read or written */
    NN_ERR_FORMAT,  /* a file's contents are corrupt or not what was expected */
    NN_ERR_STATE,   /* a call made in the wrong order (e.g. run before compile) */
    NN_ERR_NUMERIC, /* a NaN or infinity where a finite number was required */
    NN_ERR_RANGE    /* a value out of its allowed range (e.g. a class label) */
} nn_status;

/* A short constant name for a status, e.g. "shape mismatch". */
NN_API const char *nn_status_str(nn_status s);

/* The library's version string, e.g. "0.1.0". */
NN_API const char *nn_version(void);
/* The matrix-product backend compiled in: "onednn" or "cblas". */
NN_API const char *nn_gemm_backend_name(void);

/* ------------------------------------------------------------------------ */
/* Context: error messages, the random number generator, thread count.      */

/* A context (opaque): the last error message, the random generator, the
 * thread count and the warning handler, shared by what is made from it. */
typedef struct nn_ctx nn_ctx;

/* The settings of a new context (nn_ctx_new). */
struct nn_ctx_cfg {
    uint64_t seed; /* seed of the context's random number generator */
    int threads;   /* cores to use in total; 0 = all available */
};

/* A new context; cfg may be NULL (seed 0, all cores). NULL if out of memory.
 * The caller owns it and releases it with nn_ctx_free. */
NN_API nn_ctx *nn_ctx_new(const struct nn_ctx_cfg *cfg);
NN_API void nn_ctx_free(nn_ctx *ctx);
/* The message of the last error, or "" if none. Owned by the context. */
NN_API const char *nn_ctx_error(const nn_ctx *ctx);
NN_API void nn_ctx_clear_error(nn_ctx *ctx);
/* Reseeds the context's generator. */
NN_API void nn_ctx_seed(nn_ctx *ctx, uint64_t seed);
/* The generator's full state (4 words), to save and restore exactly. */
NN_API void nn_ctx_rng_get(const nn_ctx *ctx, uint64_t state[4]);
NN_API void nn_ctx_rng_set(nn_ctx *ctx, const uint64_t state[4]);
/* Uniform 64-bit integer, uniform float in [0, 1), standard normal. */
NN_API uint64_t nn_rand_u64(nn_ctx *ctx);
NN_API float nn_rand_uniform(nn_ctx *ctx);
NN_API float nn_rand_normal(nn_ctx *ctx);
/* The number of threads the context uses (resolved: never 0). */
NN_API int nn_ctx_threads(const nn_ctx *ctx);
/* Receives each warning of the library: one line, without a newline, valid
 * only during the call. */
typedef void (*nn_warning_fn)(const char *msg, void *user);
/* Sets the context's warning handler (NULL: none, the default: warnings are
 * dropped). Warnings are things that work but are likely mistakes, e.g. a
 * dense layer of several units whose weights all start at one value. */
NN_API void nn_ctx_set_warning(nn_ctx *ctx, nn_warning_fn fn, void *user);

/* The edit distance between a and b (insertions, deletions,
 * substitutions), capped at 9: what "did you mean ...?" ranks by. */
NN_API int nn_edit_distance(const char *a, const char *b);
/* "Did you mean ...?", as the library's own messages suggest: the name
 * among names[0..n) (NULL entries skipped) within two edits of word and
 * fewer edits than its length, the nearest first; NULL if none. */
NN_API const char *nn_nearest_name(const char *word, const char *const *names, int n);

#ifdef __cplusplus
}
#endif
#endif /* NN_PUBLIC_CORE_H */
