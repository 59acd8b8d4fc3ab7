/*
 * ctx.c - the context (error messages, warnings, random numbers, threads),
 * status names and the aligned allocator.
 */
#include "nn_impl.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

const char *nn_version(void) { return NN_VERSION_STRING; }

const char *nn_status_str(nn_status s)
{
    switch (s) {
    case NN_OK: return "ok";
    case NN_ERR_INVALID: return "invalid argument";
    case NN_ERR_SHAPE: return "shape mismatch";
    case NN_ERR_NOMEM: return "out of memory";
    case NN_ERR_IO: return "i/o error";
    case NN_ERR_FORMAT: return "bad format";
    case NN_ERR_STATE: return "wrong state";
    case NN_ERR_NUMERIC: return "non-finite number";
    case NN_ERR_RANGE: return "value out of range";
    }
    return "unknown status";
}

/* ---- random numbers: splitmix64 seeding, xoshiro256** ------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void nn_rng_seed(struct nn_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nn_rng_u64(struct nn_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

float nn_rng_uniform(struct nn_rng *r)
{
    return (float)(nn_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

double nn_rng_uniform_d(struct nn_rng *r)
{
    return (double)(nn_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

float nn_rng_normal(struct nn_rng *r)
{
    /* Box-Muller; u1 in (0, 1] so the log is finite. */
    double u1 = 1.0 - nn_rng_uniform_d(r);
    double u2 = nn_rng_uniform_d(r);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

__extension__ typedef unsigned __int128 u128;

uint64_t nn_rng_below(struct nn_rng *r, uint64_t n)
{
    /* Lemire's multiply-shift with rejection: unbiased. */
    uint64_t x = nn_rng_u64(r);
    u128 m = (u128)x * n;
    uint64_t l = (uint64_t)m;
    if (l < n) {
        uint64_t t = -n % n;
        while (l < t) {
            x = nn_rng_u64(r);
            m = (u128)x * n;
            l = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

/* ---- context ------------------------------------------------------------ */

nn_ctx *nn_ctx_new(const struct nn_ctx_cfg *cfg)
{
    nn_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    nn_rng_seed(&ctx->rng, cfg ? cfg->seed : 0);
    int t = cfg ? cfg->threads : 0;
    if (t <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        t = n > 0 ? (int)n : 1;
    }
    ctx->threads = t;
    return ctx;
}

void nn_ctx_free(nn_ctx *ctx)
{
    if (ctx)
        nn_pool_free(ctx->pool);
    free(ctx);
}

nn_pool *nn_ctx_pool(nn_ctx *ctx)
{
    if (!ctx->pool_tried && ctx->threads > 1) {
        ctx->pool_tried = true;
        ctx->pool = nn_pool_new(ctx->threads); /* NULL if threads cannot start */
    }
    return ctx->pool;
}

const char *nn_ctx_error(const nn_ctx *ctx) { return ctx ? ctx->err : "no context"; }

void nn_ctx_clear_error(nn_ctx *ctx) { ctx->err[0] = '\0'; }

void nn_ctx_seed(nn_ctx *ctx, uint64_t seed) { nn_rng_seed(&ctx->rng, seed); }

void nn_ctx_rng_get(const nn_ctx *ctx, uint64_t state[4])
{
    memcpy(state, ctx->rng.s, sizeof ctx->rng.s);
}

void nn_ctx_rng_set(nn_ctx *ctx, const uint64_t state[4])
{
    memcpy(ctx->rng.s, state, sizeof ctx->rng.s);
}

uint64_t nn_rand_u64(nn_ctx *ctx) { return nn_rng_u64(&ctx->rng); }
float nn_rand_uniform(nn_ctx *ctx) { return nn_rng_uniform(&ctx->rng); }
float nn_rand_normal(nn_ctx *ctx) { return nn_rng_normal(&ctx->rng); }
int nn_ctx_threads(const nn_ctx *ctx) { return ctx->threads; }

void nn_ctx_set_warning(nn_ctx *ctx, nn_warning_fn fn, void *user)
{
    ctx->warn = fn;
    ctx->warn_user = user;
}

void nn_warn(nn_ctx *ctx, const char *fmt, ...)
{
    if (!ctx || !ctx->warn)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->warn(msg, ctx->warn_user);
}

nn_status nn_fail(nn_ctx *ctx, nn_status status, const char *fmt, ...)
{
    if (ctx) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
        va_end(ap);
    }
    return status;
}

void *nn_aligned_alloc(size_t bytes)
{
    void *p = NULL;
    if (bytes == 0)
        bytes = NN_ALIGN;
    if (posix_memalign(&p, NN_ALIGN, bytes) != 0)
        return NULL;
    return p;
}

void nn_aligned_free(void *p) { free(p); }
