/*
 * test_alloc.c - the per-batch path allocates nothing: training steps
 * (forward, backward, Adam step) and inference of a small convolutional
 * net and of an MLP, counted by a malloc that this test program defines
 * in front of the C library's.
 *
 * The counting malloc sees every allocation of the process: libnn's own
 * (linked statically into the test runner, so their calls return into its
 * text) and those of the shared libraries (oneDNN's primitive execution
 * makes a few small ones per call for its argument map, dnnl_sgemm one for
 * a packing buffer). The test requires none of libnn's own, and reports
 * the others' count when it fails. Under AddressSanitizer, whose allocator
 * must stay in charge, the test is skipped.
 */
#include "test.h"

#include <stdatomic.h>

#if defined(__SANITIZE_ADDRESS__)
#define NN_NO_MALLOC_HOOK 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NN_NO_MALLOC_HOOK 1
#endif
#endif

#if !defined(NN_NO_MALLOC_HOOK) && defined(__GLIBC__)

/* glibc's allocator under its internal names. */
void *__libc_malloc(size_t n);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t align, size_t n);

/* The runner's own text (libnn and the tests), from the linker. */
extern char __executable_start[], etext[];

static atomic_bool counting;
static atomic_long own_allocs, other_allocs;

static void count(const void *caller)
{
    if (!atomic_load_explicit(&counting, memory_order_relaxed))
        return;
    const char *c = caller;
    if (c >= __executable_start && c < etext)
        atomic_fetch_add(&own_allocs, 1);
    else
        atomic_fetch_add(&other_allocs, 1);
}

void *malloc(size_t n);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t n);
int posix_memalign(void **p, size_t align, size_t n);
void *aligned_alloc(size_t align, size_t n);

void *malloc(size_t n)
{
    count(__builtin_return_address(0));
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    count(__builtin_return_address(0));
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    count(__builtin_return_address(0));
    return __libc_realloc(p, n);
}

int posix_memalign(void **p, size_t align, size_t n)
{
    count(__builtin_return_address(0));
    if (align < sizeof(void *) || (align & (align - 1)))
        return 22; /* EINVAL */
    void *q = __libc_memalign(align, n);
    if (!q)
        return 12; /* ENOMEM */
    *p = q;
    return 0;
}

void *aligned_alloc(size_t align, size_t n)
{
    count(__builtin_return_address(0));
    return __libc_memalign(align, n);
}

#define HOOKED 1
#endif

/* A small conv net (every convolution pass, max and average pooling, the
 * dense layers) or an MLP, trained with Adam for a few batches, then run
 * at two batch sizes; *own and *other count the allocations of the steps
 * after the first (which may make lazy state: the thread pool). */
static void steps(bool cnn, int threads, long *own, long *other)
{
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 5, .threads = threads});
    assert_non_null(ctx);
    nn_graph *g = nn_graph_new(ctx);
    struct nn_init he = {.kind = NN_INIT_HE_NORMAL};
    nn_node *x, *h;
    if (cnn) {
        x = nn_input(g, "x", 3, (int64_t[]){1, 12, 12});
        h = nn_conv2d_layer(g, x, 4, 3, 3, &(struct nn_conv2d_cfg){.pad_h = 1, .pad_w = 1},
                            true, he, "conv1");
        h = nn_maxpool2d(g, nn_relu(g, h), &(struct nn_pool2d_cfg){.kernel_h = 2, .kernel_w = 2});
        h = nn_conv2d_layer(g, h, 6, 3, 3, NULL, true, he, "conv2");
        h = nn_avgpool2d(g, nn_relu(g, h), &(struct nn_pool2d_cfg){.kernel_h = 2, .kernel_w = 2});
        h = nn_flatten(g, h);
    } else {
        x = h = nn_input(g, "x", 1, (int64_t[]){144});
    }
    h = nn_relu(g, nn_dense(g, h, 16, he, "dense1"));
    nn_node *logits = nn_dense(g, h, 3, he, "dense2");
    nn_node *y = nn_labels(g, "y");
    nn_node *loss = nn_softmax_cross_entropy(g, logits, y);
    nn_graph_set_fuse(g, true);
    nn_node *outs[2] = {loss, logits};
    assert_ok(ctx, nn_graph_compile(g, outs, 2, 40));
    nn_optim *opt = nn_optim_new(g, &(struct nn_optim_cfg){.kind = NN_OPTIM_ADAM, .lr = 1e-3f});
    assert_non_null(opt);
    float *xb = nn_input_buffer(g, x);
    int32_t *yb = nn_labels_buffer(g, y);
    for (int i = 0; i < 40 * 144; i++)
        xb[i] = (float)((i * 37) % 23) / 23.0f - 0.4f;
    for (int i = 0; i < 40; i++)
        yb[i] = i % 3;
#ifdef HOOKED
    atomic_store(&own_allocs, 0);
    atomic_store(&other_allocs, 0);
#endif
    for (int step = 0; step < 4; step++) {
#ifdef HOOKED
        atomic_store(&counting, step > 0);
#endif
        nn_graph_set_training(g, true);
        assert_ok(ctx, nn_set_batch(g, 37)); /* full chunks and single images */
        assert_ok(ctx, nn_forward_to(g, loss));
        nn_zero_grad(g);
        assert_ok(ctx, nn_backward(g, loss));
        assert_ok(ctx, nn_optim_step(opt));
        nn_graph_set_training(g, false);
        assert_ok(ctx, nn_set_batch(g, 1));
        assert_ok(ctx, nn_forward_to(g, logits));
        assert_ok(ctx, nn_set_batch(g, 40));
        assert_ok(ctx, nn_forward_to(g, logits));
    }
#ifdef HOOKED
    atomic_store(&counting, false);
    *own = atomic_load(&own_allocs);
    *other = atomic_load(&other_allocs);
#else
    *own = *other = 0;
#endif
    nn_optim_free(opt);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

static void per_batch_path_allocates_nothing(void **state)
{
    (void)state;
#ifndef HOOKED
    skip();
#else
    /* the hook works: an allocation made here is counted as libnn's */
    atomic_store(&own_allocs, 0);
    atomic_store(&counting, true);
    void *volatile probe = malloc(16);
    atomic_store(&counting, false);
    free(probe);
    assert_int_equal(atomic_load(&own_allocs), 1);
    for (int cnn = 0; cnn < 2; cnn++)
        for (int threads = 1; threads <= 2; threads++) {
            long own, other;
            steps(cnn, threads, &own, &other);
            if (own != 0)
                fail_msg("%s on %d thread(s): libnn allocated %ld times in 3 training and "
                         "inference rounds (the shared libraries: %ld)",
                         cnn ? "conv net" : "MLP", threads, own, other);
        }
#endif
}

struct lbfgs_job {
    nn_graph *g;
    nn_node *loss;
};

static nn_status lbfgs_closure(void *user, double *loss)
{
    struct lbfgs_job *j = user;
    nn_status st = nn_forward_to(j->g, j->loss);
    if (st != NN_OK)
        return st;
    nn_zero_grad(j->g);
    *loss = nn_value(j->loss)[0];
    return nn_backward(j->g, j->loss);
}

/* L-BFGS steps (each several evaluations, the line search's included)
 * allocate nothing either: its buffers are made with the optimizer. */
static void lbfgs_step_allocates_nothing(void **state)
{
    (void)state;
#ifndef HOOKED
    skip();
#else
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 5, .threads = 1});
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){4}), *t = nn_input(g, "t", 1, (int64_t[]){1});
    nn_node *h = nn_tanh(g, nn_dense(g, x, 5, (struct nn_init){.kind = NN_INIT_XAVIER_UNIFORM},
                                     "dense1"));
    nn_node *out = nn_dense(g, h, 1, (struct nn_init){.kind = NN_INIT_XAVIER_UNIFORM}, "dense2");
    struct lbfgs_job j = {g, nn_mse(g, out, t)};
    assert_ok(ctx, nn_graph_compile(g, &j.loss, 1, 20));
    float *xb = nn_input_buffer(g, x), *tb = nn_input_buffer(g, t);
    for (int i = 0; i < 80; i++)
        xb[i] = (float)((i * 37) % 23) / 23.0f - 0.4f;
    for (int i = 0; i < 20; i++)
        tb[i] = (float)(i % 5) / 5.0f;
    assert_ok(ctx, nn_set_batch(g, 20));
    for (int ls = 0; ls < 2; ls++) {
        nn_optim *o = nn_optim_new(g, &(struct nn_optim_cfg){
                                          .kind = NN_OPTIM_LBFGS, .history_size = 3,
                                          .max_iter = 6, .line_search = (nn_line_search)ls});
        assert_non_null(o);
        atomic_store(&own_allocs, 0);
        atomic_store(&other_allocs, 0);
        for (int step = 0; step < 4; step++) {
            atomic_store(&counting, step > 0);
            assert_ok(ctx, nn_optim_step_closure(o, lbfgs_closure, &j, NULL));
        }
        atomic_store(&counting, false);
        if (atomic_load(&own_allocs) != 0)
            fail_msg("lbfgs (line search %d): libnn allocated %ld times in 3 steps", ls,
                     atomic_load(&own_allocs));
        nn_optim_free(o);
    }
    nn_graph_free(g);
    nn_ctx_free(ctx);
#endif
}

NN_GROUP(alloc, cmocka_unit_test(per_batch_path_allocates_nothing),
         cmocka_unit_test(lbfgs_step_allocates_nothing))
