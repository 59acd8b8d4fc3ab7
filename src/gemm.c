/*
 * gemm.c - the one matrix-product entry point. The backend is chosen at
 * build time: oneDNN's dnnl_sgemm (NN_GEMM_ONEDNN, the default; fastest here)
 * or any CBLAS (NN_GEMM_CBLAS, e.g. OpenBLAS). Both are row-major.
 */
#include "nn_impl.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(NN_GEMM_CBLAS)
#include <cblas.h>
#else
#include <dnnl.h>
#endif

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

/* Below this many multiply-adds a product runs on one thread: splitting it
 * costs more than it saves. */
#define PARALLEL_MIN_FMA (1 << 18)

struct gemm_job {
    bool trans_a, trans_b, along_n;
    int64_t M, N, K, lda, ldb, ldc, len, quantum;
    float alpha, beta;
    const float *A, *B;
    float *C;
};

static void gemm_part(void *arg, int t, int n)
{
    const struct gemm_job *j = arg;
    int64_t lo, hi;
    nn_split(j->len, j->quantum, t, n, &lo, &hi);
    if (lo >= hi)
        return;
    if (j->along_n)
        gemm1(j->trans_a, j->trans_b, j->M, hi - lo, j->K, j->alpha, j->A, j->lda,
              j->trans_b ? j->B + lo * j->ldb : j->B + lo, j->ldb, j->beta, j->C + lo, j->ldc);
    else
        gemm1(j->trans_a, j->trans_b, hi - lo, j->N, j->K, j->alpha,
              j->trans_a ? j->A + lo : j->A + lo * j->lda, j->lda, j->B, j->ldb, j->beta,
              j->C + lo * j->ldc, j->ldc);
}

/* The threading policy: the product is cut into one block of C per thread
 * of the context's pool (along M for tall products, else along N, at
 * multiples of 8 rows or 16 columns) and each block is one
 * single-threaded backend call. At the batch-sized products of training
 * this beats the backends' own threading (measured: bench/RESULTS.md), and
 * the thread count is exactly the context's. Every element of C is computed
 * by the same kernel whatever the split, so results do not depend on the
 * thread count. */
void nn_gemm(nn_ctx *ctx, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
             float alpha, const float *A, int64_t lda, const float *B,
             int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M == 0 || N == 0)
        return;
    nn_pool *pool = M * N * K >= PARALLEL_MIN_FMA ? nn_ctx_pool(ctx) : NULL;
    /* Tall products (large batches) are cut along M: each thread reads only
     * its rows of A. Short ones are cut along N, so that each thread packs
     * only its part of B. Measured at 2 threads: 1000x256x784 cut along M
     * 198 GFLOP/s, along N 149; 64x256x784 both about 175; the weight
     * gradient 256x784x64 (A transposed) is much slower cut along M. */
    bool along_n = M < 512 && (N >= 64 || N >= M);
    struct gemm_job j = {trans_a, trans_b, along_n, M, N, K, lda, ldb, ldc,
                         along_n ? N : M, along_n ? 16 : 8, alpha, beta, A, B, C};
    if (!pool || j.len < 2 * j.quantum) {
        gemm1(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    nn_pool_run(pool, gemm_part, &j);
}

const char *nn_gemm_backend_name(void)
{
#if defined(NN_GEMM_CBLAS)
    return "cblas";
#else
    return "onednn";
#endif
}

#if defined(NN_GEMM_CBLAS) && defined(NN_OPENBLAS)
void openblas_set_num_threads(int);
#endif

void nn_threads_apply(void)
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
