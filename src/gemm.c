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

void nn_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
             float alpha, const float *A, int64_t lda, const float *B,
             int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M == 0 || N == 0)
        return;
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
    openblas_set_num_threads(threads);
#endif
}

const char *nn_gemm_backend_name(void) { return nn_gemm_backend(); }
