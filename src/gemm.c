/*
 * gemm.c - the one matrix-product entry point. The backend is chosen at
 * build time: oneDNN's dnnl_sgemm (NN_GEMM_ONEDNN, the default; fastest here)
 * or any CBLAS (NN_GEMM_CBLAS, e.g. OpenBLAS). Both are row-major.
 */
#include "nn_impl.h"

#include <pthread.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(NN_GEMM_CBLAS)
#include <cblas.h>
#else
#include <dnnl.h>
#endif

#if defined(NN_GEMM_CBLAS) && defined(NN_OPENBLAS)
void openblas_set_num_threads(int);
#endif

/* The backend's process-wide settings, made once, when the first product
 * runs (not when a context is made: a program that never multiplies, or
 * sets its BLAS up itself before using libnn's data functions, is left
 * alone). */
static void backend_setup(void)
{
#if defined(NN_GEMM_CBLAS) && defined(NN_OPENBLAS)
    /* nn_gemm does the splitting: OpenBLAS's own threads would oversubscribe */
    openblas_set_num_threads(1);
#endif
#if !defined(NN_GEMM_CBLAS)
    /* no VTune/perf JIT annotations: they cost a call per product */
    dnnl_set_jit_profiling_flags(0);
#endif
}

static pthread_once_t backend_once = PTHREAD_ONCE_INIT;

/* One backend call on the calling thread's share of the cores. */
static void gemm1(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                  float alpha, const float *A, int64_t lda, const float *B,
                  int64_t ldb, float beta, float *C, int64_t ldc)
{
#if defined(NN_GEMM_CBLAS)
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
                alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
#else
#ifdef _OPENMP
    /* oneDNN sizes its OpenMP team from the calling thread's setting: one
     * thread here (the pool does the splitting), and the caller's own
     * setting is left as it was */
    int prev = omp_get_max_threads();
    if (prev != 1)
        omp_set_num_threads(1);
#endif
    dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M,
                                  N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#ifdef _OPENMP
    if (prev != 1)
        omp_set_num_threads(prev);
#endif
    NN_ASSERT(st == dnnl_success, "dnnl_sgemm rejected its arguments");
#endif
}

/* Below this many multiply-adds a product is one backend call: cutting it
 * costs more than it saves. */
#define PARALLEL_MIN_FMA (1 << 18)

/* How many blocks a product is cut into: a function of its size alone.
 * Each block repacks the operand it shares with the others, so blocks stay
 * large: measured on the MLP epoch (1 thread), four blocks per batch-64
 * product cost 20% over one, two cost nothing measurable. Two blocks
 * occupy the two cores of the machines measured; the largest products
 * (batch-1000 inference) are cut finer so that more threads can share them. */
static int64_t gemm_blocks(int64_t fma)
{
    if (fma < PARALLEL_MIN_FMA)
        return 1;
    if (fma < (INT64_C(1) << 25))
        return 2;
    return fma < (INT64_C(1) << 27) ? 4 : 8;
}

struct gemm_job {
    bool trans_a, trans_b, along_n;
    int64_t M, N, K, lda, ldb, ldc;
    int64_t len;    /* rows (along M) or columns (along N) of C */
    int64_t block;  /* rows or columns per block; the last may be shorter */
    int64_t blocks; /* ceil(len / block) */
    float alpha, beta;
    const float *A, *B;
    float *C;
};

/* One block of C: rows or columns [lo, hi). */
static void gemm_block(const struct gemm_job *j, int64_t lo, int64_t hi)
{
    if (j->along_n)
        gemm1(j->trans_a, j->trans_b, j->M, hi - lo, j->K, j->alpha, j->A, j->lda,
              j->trans_b ? j->B + lo * j->ldb : j->B + lo, j->ldb, j->beta, j->C + lo, j->ldc);
    else
        gemm1(j->trans_a, j->trans_b, hi - lo, j->N, j->K, j->alpha,
              j->trans_a ? j->A + lo : j->A + lo * j->lda, j->lda, j->B, j->ldb, j->beta,
              j->C + lo * j->ldc, j->ldc);
}

/* Block b, on whichever thread claimed it. */
static void gemm_item(void *arg, int64_t b, int t)
{
    (void)t;
    const struct gemm_job *j = arg;
    int64_t lo = b * j->block, hi = lo + j->block;
    gemm_block(j, lo, hi < j->len ? hi : j->len);
}

/* The threading policy: a large product is cut into blocks of C (along M
 * for tall products, else along N) whose shapes depend only on the
 * product's shape, never on the thread count; each block is one
 * single-threaded backend call, and the context's threads claim whole
 * blocks as they come free (on one thread, the same blocks run one after
 * another; a thread that loses its core delays only the block it holds).
 * So every element of C is computed by the same backend call with the same
 * arguments whatever the number of threads, and results are bit-identical
 * for any thread count on any backend and CPU. (Cutting at the thread count
 * instead changed which kernel edge case an element fell in: OpenBLAS on a
 * Zen 5 gave different low bits on 1 and 2 threads.) At the batch-sized
 * products of training this beats the backends' own threading (measured:
 * bench/RESULTS.md), and the thread count is exactly the context's. */
void nn_gemm(nn_ctx *ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
             float alpha, const float *A, int64_t lda, const float *B,
             int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M == 0 || N == 0)
        return;
    pthread_once(&backend_once, backend_setup);
    /* Tall products (large batches) are cut along M: each block reads only
     * its rows of A. Short ones are cut along N, so that each block packs
     * only its part of B. Measured at 2 threads: 1000x256x784 cut along M
     * 198 GFLOP/s, along N 149; 64x256x784 both about 175; the weight
     * gradient 256x784x64 (A transposed) is much slower cut along M. */
    bool along_n = M < 512 && (N >= 64 || N >= M);
    int64_t len = along_n ? N : M, quantum = along_n ? 16 : 8;
    int64_t nb = gemm_blocks(M * N * K);
    int64_t block = (len + nb - 1) / nb;
    block = (block + quantum - 1) / quantum * quantum;
    if (block >= len) {
        gemm1(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    struct gemm_job j = {trans_a, trans_b, along_n, M, N, K, lda, ldb, ldc, len, block,
                         (len + block - 1) / block, alpha, beta, A, B, C};
    nn_pool_for(ctx ? nn_ctx_pool(ctx) : NULL, j.blocks, gemm_item, &j);
}

const char *nn_gemm_backend_name(void)
{
#if defined(NN_GEMM_CBLAS)
    return "cblas";
#else
    return "onednn";
#endif
}

