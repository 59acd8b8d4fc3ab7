/*
 * test_threads.c - the threading policy: products give bit-identical
 * results for any thread count at every shape class nn_gemm cuts
 * differently, and making a context leaves process-wide settings (OpenMP's
 * thread count, OpenBLAS's) as the caller set them.
 */
#include "test.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(NN_OPENBLAS)
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
#endif

/* y = x W^T and its gradients for one shape, on `threads` threads; returns
 * the output followed by dx and dW in one malloc'd array. */
static float *product(int threads, int64_t M, int64_t K, int64_t N, int64_t *len)
{
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = threads});
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){K});
    nn_input_requires_grad(x, true);
    nn_node *w = nn_param(g, "w", 2, (int64_t[]){N, K}, (struct nn_init){.kind = NN_INIT_ZEROS});
    nn_node *y = nn_matmul(g, x, w, true);
    nn_node *out = nn_sum(g, nn_square(g, y));
    if (nn_graph_compile(g, &out, 1, M) != NN_OK)
        fail_msg("compile: %s", nn_ctx_error(ctx));
    float *wv = nn_value_mut(w);
    for (int64_t i = 0; i < N * K; i++)
        wv[i] = (float)sin(0.37 * (double)i);
    float *xv = malloc((size_t)(M * K) * sizeof *xv);
    for (int64_t i = 0; i < M * K; i++)
        xv[i] = (float)cos(0.11 * (double)i);
    assert_int_equal(nn_feed(g, x, xv, M), NN_OK);
    assert_int_equal(nn_forward(g), NN_OK);
    assert_int_equal(nn_backward(g, out), NN_OK);
    *len = M * N + M * K + N * K;
    float *r = malloc((size_t)*len * sizeof *r);
    memcpy(r, nn_value(y), (size_t)(M * N) * sizeof *r);
    memcpy(r + M * N, nn_grad(x), (size_t)(M * K) * sizeof *r);
    memcpy(r + M * N + M * K, nn_grad(w), (size_t)(N * K) * sizeof *r);
    free(xv);
    nn_graph_free(g);
    nn_ctx_free(ctx);
    return r;
}

/* Shapes on each side of nn_gemm's cuts: too small to cut, cut along N
 * (short batches), along M (tall ones), odd sizes that leave a short last
 * block, and products cut into 2, 4 and 8 blocks. */
static void products_identical_for_any_thread_count(void **state)
{
    (void)state;
    static const int64_t shapes[][3] = {
        {3, 5, 7},     {64, 784, 256}, {64, 256, 10},  {37, 301, 203}, {600, 784, 256},
        {1000, 784, 256}, {513, 97, 130}, {64, 128, 1000}, {2048, 512, 300},
    };
    int bad = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2], len, len2;
        float *ref = product(1, M, K, N, &len);
        for (int t = 2; t <= 5; t++) {
            float *r = product(t, M, K, N, &len2);
            assert_int_equal(len, len2);
            for (int64_t i = 0; i < len; i++)
                if (memcmp(&ref[i], &r[i], sizeof *r) != 0) {
                    print_error("%lldx%lldx%lld: element %lld is %.9g on 1 thread, %.9g on %d\n",
                                (long long)M, (long long)K, (long long)N, (long long)i,
                                (double)ref[i], (double)r[i], t);
                    bad++;
                    break;
                }
            free(r);
        }
        free(ref);
    }
    assert_int_equal(bad, 0);
}

/* Making a context, and running products on it, leaves the caller's OpenMP
 * thread count (and OpenBLAS's, before the first product) as they were. */
static void contexts_leave_process_settings_alone(void **state)
{
    (void)state;
#if defined(NN_OPENBLAS)
    openblas_set_num_threads(3);
    nn_ctx *c0 = nn_ctx_new(&(struct nn_ctx_cfg){.threads = 2});
    int got = openblas_get_num_threads();
    openblas_set_num_threads(1); /* as nn_gemm's first product left it */
    assert_int_equal(got, 3);
    nn_ctx_free(c0);
#endif
#ifdef _OPENMP
    omp_set_num_threads(3);
    int64_t len;
    free(product(2, 64, 300, 200, &len));
    assert_int_equal(omp_get_max_threads(), 3);
    omp_set_num_threads(1);
    free(product(2, 64, 300, 200, &len));
    assert_int_equal(omp_get_max_threads(), 1);
#else
    skip();
#endif
}

NN_GROUP(threads,
         cmocka_unit_test(products_identical_for_any_thread_count),
         cmocka_unit_test(contexts_leave_process_settings_alone))
