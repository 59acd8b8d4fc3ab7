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
    dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M,
                                  N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    NN_ASSERT(st == dnnl_success, "dnnl_sgemm rejected its arguments");
#endif
}

/* Below this many multiply-adds a product runs on one thread: splitting it
 * costs more than it saves. */
#define PARALLEL_MIN_FMA (1 << 18)

/* The threading policy: the product is cut into one block of C per thread
 * (along N when it is the wider side, else along M, at multiples of 16
 * columns or 8 rows) and each block is one single-threaded backend call.
 * At the batch-sized products of training this beats the backends' own
 * threading, which here was slower on 2 threads than on 1 (measured:
 * bench/RESULTS.md), and it keeps the thread count exactly the context's. */
void nn_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
             float alpha, const float *A, int64_t lda, const float *B,
             int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M == 0 || N == 0)
        return;
    int T = 1;
#ifdef _OPENMP
    if (!omp_in_parallel() && M * N * K >= PARALLEL_MIN_FMA)
        T = omp_get_max_threads();
#endif
    bool along_n = N >= M;
    int64_t len = along_n ? N : M, quantum = along_n ? 16 : 8;
    if (T > len / quantum)
        T = (int)(len / quantum);
    if (T <= 1) {
        gemm1(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(T)
    {
        int t = omp_get_thread_num();
        int64_t per = (len / T + quantum - 1) / quantum * quantum;
        int64_t lo = per * t, hi = t == T - 1 ? len : lo + per;
        if (hi > len)
            hi = len;
        if (lo < hi) {
            if (along_n)
                gemm1(trans_a, trans_b, M, hi - lo, K, alpha, A, lda,
                      trans_b ? B + lo * ldb : B + lo, ldb, beta, C + lo, ldc);
            else
                gemm1(trans_a, trans_b, hi - lo, N, K, alpha,
                      trans_a ? A + lo : A + lo * lda, lda, B, ldb, beta, C + lo * ldc, ldc);
        }
    }
#endif
}

const char *nn_gemm_backend(void)
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

void nn_threads_apply(int threads)
{
    if (threads < 1)
        threads = 1;
#ifdef _OPENMP
    omp_set_num_threads(threads);
#endif
#if defined(NN_GEMM_CBLAS) && defined(NN_OPENBLAS)
    /* nn_gemm does the splitting: OpenBLAS's own threads would oversubscribe */
    openblas_set_num_threads(1);
#endif
#if !defined(NN_GEMM_CBLAS)
    /* no VTune/perf JIT annotations: they cost a call per product */
    dnnl_set_jit_profiling_flags(0);
#endif
}

const char *nn_gemm_backend_name(void) { return nn_gemm_backend(); }
