/*
 * pool.c - the library's own threads: one pool per context, sized to the
 * context's thread count, that runs a function on every thread at once.
 *
 * Why not OpenMP regions: between two products the trainer runs short
 * serial work, and libgomp's workers keep spinning through it (300k spins
 * by default, tunable only by an environment variable read at load time).
 * On the 2-core machine measured, that spinning slowed the serial parts so
 * much that 2 threads trained slower than 1 (0.90 s vs 0.78 s per epoch);
 * with a short spin (GOMP_SPINCOUNT=10000) the same split took 0.49 s. The
 * pool spins about that long and then sleeps on a condition variable (0.475
 * s), with no environment variable needed. Every backend call made on a
 * pool thread is single-threaded (nn_gemm), so the pool's size is the total.
 */
#include "nn_impl.h"

#include <pthread.h>
#include <stdatomic.h>


/* Polls before a worker sleeps. Measured on 2 cores (MLP epoch, 2 threads):
 * 5000-10000 polls 0.475 s, 50000 0.52 s, 2 million 0.91 s (the spinning
 * worker slows the other core's serial work), 2000 0.59 s (too many
 * wake-ups). */
#define SPINS 8000

struct nn_pool {
    int n; /* threads in all, the caller included */
    pthread_t *tids;
    _Atomic uint64_t gen;  /* job number; workers run each new one */
    _Atomic int pending;   /* workers still on the current job */
    _Atomic int stop;
    void (*fn)(void *arg, int t, int n);
    void *arg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

struct worker_arg {
    nn_pool *p;
    int t;
};

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *worker(void *v)
{
    struct worker_arg wa = *(struct worker_arg *)v;
    free(v);
    nn_pool *p = wa.p;
    uint64_t seen = 0;
    for (;;) {
        uint64_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               !atomic_load_explicit(&p->stop, memory_order_acquire)) {
            if (++spins < SPINS) {
                relax();
                continue;
            }
            pthread_mutex_lock(&p->mu);
            while (atomic_load_explicit(&p->gen, memory_order_acquire) == seen &&
                   !atomic_load_explicit(&p->stop, memory_order_acquire))
                pthread_cond_wait(&p->cv, &p->mu);
            pthread_mutex_unlock(&p->mu);
            spins = 0;
        }
        if (atomic_load_explicit(&p->stop, memory_order_acquire))
            return NULL;
        seen = g;
        p->fn(p->arg, wa.t, p->n);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel);
    }
}

nn_pool *nn_pool_new(int n)
{
    if (n < 2)
        return NULL;
    nn_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->tids = calloc((size_t)n, sizeof *p->tids);
    if (!p->tids || pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->tids);
        free(p);
        return NULL;
    }
    pthread_cond_init(&p->cv, NULL);
    p->n = 1;
    for (int t = 1; t < n; t++) {
        struct worker_arg *wa = malloc(sizeof *wa);
        if (!wa)
            break;
        *wa = (struct worker_arg){p, t};
        if (pthread_create(&p->tids[t], NULL, worker, wa) != 0) {
            free(wa);
            break;
        }
        p->n++;
    }
    if (p->n < 2) {
        nn_pool_free(p);
        return NULL;
    }
    return p;
}

void nn_pool_free(nn_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->n; t++)
        pthread_join(p->tids[t], NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p->tids);
    free(p);
}

int nn_pool_size(const nn_pool *p) { return p ? p->n : 1; }

void nn_pool_run(nn_pool *p, void (*fn)(void *arg, int t, int n), void *arg)
{
    if (!p) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    fn(arg, 0, p->n);
    while (atomic_load_explicit(&p->pending, memory_order_acquire) > 0)
        relax();
}

/* Thread t of n takes [lo, hi) of len items: equal runs, each a multiple of
 * quantum, the last thread taking the rest. */
void nn_split(int64_t len, int64_t quantum, int t, int n, int64_t *lo, int64_t *hi)
{
    int64_t per = (len / n + quantum - 1) / quantum * quantum;
    *lo = per * t < len ? per * t : len;
    *hi = t == n - 1 ? len : (per * (t + 1) < len ? per * (t + 1) : len);
}
