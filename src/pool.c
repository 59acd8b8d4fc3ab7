/*
 * pool.c - the library's own threads: one pool per context, sized to the
 * context's thread count. A job is a count of items (the blocks of a
 * product, the parts of an elementwise op); every running thread, the
 * caller included, claims the next unclaimed item from one atomic counter
 * until none is left, so a worker that does not get a core delays nothing
 * it has not claimed: the caller runs the rest itself and then waits only
 * for items already claimed by a worker.
 *
 * Why not a static split (thread t runs part t): when another process held
 * the second core, the caller finished its half and then waited for a
 * worker that was not running (perf: 38% of the epoch in that wait, 28% in
 * the worker's spin), and the MLP trained 6-7x slower on 2 threads than on
 * 1 (bench/RESULTS.md). Why not OpenMP regions: between two products the
 * trainer runs short serial work, and libgomp's workers keep spinning
 * through it (300k spins by default, tunable only by an environment
 * variable read at load time); on 2 cores 2 threads trained slower than 1.
 *
 * Workers spin a while for the next job and then sleep on a condition
 * variable. The spin adapts: a worker that arrives to find every item
 * already claimed halves its spin (it is not getting a core in time, and
 * its spinning may be what keeps the caller from one); a worker that
 * claims work doubles it, up to SPINS. Every 256 polls it also yields its
 * core if the caller last ran on the same one: on a loaded machine the
 * scheduler can put both on one core, and the spin then delays the
 * caller's serial work (the worker's spin was 19% of the samples of a
 * 2-thread MLP run at a load of 14). Yielding always, wherever the worker
 * runs, gave its share of the other core to whatever else ran there (with
 * a busy process on core 1: 2.8-3.6 s per MLP epoch; 2.2-3.4 s when it
 * yields only to the caller; bench/RESULTS.md). Every backend call made on
 * a pool thread is single-threaded (nn_gemm), so the pool's size is the
 * total.
 */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_getcpu */
#endif
#include "nn_impl.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>

/* Most polls before a worker sleeps. Measured on 2 cores (MLP epoch, 2
 * threads, static split): 5000-10000 polls 0.475 s, 50000 0.52 s, 2
 * million 0.91 s (the spinning worker slows the other core's serial work),
 * 2000 0.59 s (too many wake-ups). */
#define SPINS 8000
#define MIN_SPINS 64
/* Polls before the caller, waiting for a worker's claimed item, yields. */
#define WAIT_SPINS 2000

struct nn_pool {
    int n; /* threads in all, the caller included */
    pthread_t *tids;
    /* The job: (generation << 32) | next item to claim, and (generation
     * << 32) | item count. The caller writes limit, then work (release);
     * a claim checks that both carry the generation it saw. */
    _Atomic uint64_t work;
    _Atomic uint64_t limit;
    _Atomic int64_t done; /* items of the current job finished */
    _Atomic int sleepers; /* workers asleep (or about to be) on cv */
    _Atomic int stop;
    _Atomic int caller_cpu; /* the CPU the caller last posted a job from, or -1 */
    _Atomic unsigned held; /* test hook: bit t holds worker t before it claims */
    void (*fn)(void *arg, int64_t i, int t); /* stable while items are unclaimed */
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

/* The CPU the calling thread runs on, or -1 where that is unknown. */
static int this_cpu(void)
{
#if defined(__linux__)
    return sched_getcpu();
#else
    return -1;
#endif
}

/* Every 256 polls a spinning worker yields its core if the caller last ran
 * there: its spin would otherwise delay the caller's serial work. */
static void spin_poll(nn_pool *p, int s)
{
    if (s % 256 == 255) {
        int cpu = this_cpu();
        if (cpu >= 0 && cpu == atomic_load_explicit(&p->caller_cpu, memory_order_relaxed)) {
            sched_yield();
            return;
        }
    }
    relax();
}

static uint32_t gen_of(uint64_t w) { return (uint32_t)(w >> 32); }

/* Claims the next item of job gen into *item; false when that job has no
 * unclaimed item left (or is over). A claim that succeeds holds the job
 * open (its done count cannot reach the total), so its fn and arg stay. */
static bool claim(nn_pool *p, uint32_t gen, int64_t *item)
{
    uint64_t w = atomic_load_explicit(&p->work, memory_order_acquire);
    for (;;) {
        uint64_t lim = atomic_load_explicit(&p->limit, memory_order_acquire);
        if (gen_of(w) != gen || gen_of(lim) != gen || (uint32_t)w >= (uint32_t)lim)
            return false;
        if (atomic_compare_exchange_weak_explicit(&p->work, &w, w + 1, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            *item = (int64_t)(uint32_t)w;
            return true;
        }
    }
}

/* Runs items of job gen on thread t until none is left unclaimed; returns
 * how many it ran. */
static int64_t run_items(nn_pool *p, uint32_t gen, int t)
{
    int64_t i, ran = 0;
    while (claim(p, gen, &i)) {
        p->fn(p->arg, i, t);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
        ran++;
    }
    return ran;
}

/* Waits for a job newer than *gen (spinning up to spins polls, then
 * asleep) and stores its generation in *gen; false once the pool stops. */
static bool next_job(nn_pool *p, uint32_t *gen, int spins)
{
    uint32_t seen = *gen;
    for (int s = 0; s < spins; s++) {
        *gen = gen_of(atomic_load_explicit(&p->work, memory_order_acquire));
        if (*gen != seen)
            return true;
        if (atomic_load_explicit(&p->stop, memory_order_relaxed))
            return false;
        spin_poll(p, s);
    }
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add(&p->sleepers, 1); /* seq_cst: pairs with nn_pool_for's check */
    while ((*gen = gen_of(atomic_load(&p->work))) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cv, &p->mu);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->mu);
    return !atomic_load(&p->stop);
}

/* The test hook: a held worker sees the job but claims nothing until
 * released, as if it had lost its core. */
static void wait_if_held(nn_pool *p, int t)
{
    if (!(atomic_load_explicit(&p->held, memory_order_acquire) & (1u << t)))
        return;
    pthread_mutex_lock(&p->mu);
    while ((atomic_load(&p->held) & (1u << t)) && !atomic_load(&p->stop))
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

static void *worker(void *v)
{
    struct worker_arg wa = *(struct worker_arg *)v;
    free(v);
    nn_pool *p = wa.p;
    uint32_t seen = 0;
    int spins = SPINS;
    for (;;) {
        if (!next_job(p, &seen, spins))
            return NULL;
        if (wa.t < 32)
            wait_if_held(p, wa.t);
        if (run_items(p, seen, wa.t) > 0)
            spins = spins * 2 < SPINS ? spins * 2 : SPINS;
        else
            spins = spins / 2 > MIN_SPINS ? spins / 2 : MIN_SPINS;
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
    if (pthread_cond_init(&p->cv, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p->tids);
        free(p);
        return NULL;
    }
    atomic_init(&p->caller_cpu, -1); /* no job posted yet */
    p->n = 1;
    /* The workers are born with the process's asynchronous signals blocked
     * (a thread inherits its creator's mask), so Ctrl-C and its kind reach
     * the program's own threads: a handler run on a worker in the middle
     * of a oneDNN product would write its frame where the kernel has
     * pointed the stack pointer, into a heap buffer (oneDNN issue 4845). */
    sigset_t async, old;
    sigemptyset(&async);
    const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGALRM, SIGUSR1, SIGUSR2, SIGCHLD,
                        SIGPROF, SIGWINCH};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaddset(&async, sigs[i]);
    pthread_sigmask(SIG_BLOCK, &async, &old);
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
    pthread_sigmask(SIG_SETMASK, &old, NULL);
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
    atomic_store(&p->stop, 1);
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

/* Waits for the items claimed by workers: spinning, then yielding the core
 * (to the worker, if it waits for this one). */
static void wait_done(nn_pool *p, int64_t count)
{
    int s = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < count) {
        if (++s < WAIT_SPINS)
            relax();
        else
            sched_yield();
    }
}

void nn_pool_for(nn_pool *p, int64_t count, void (*fn)(void *arg, int64_t i, int t), void *arg)
{
    NN_ASSERT(count >= 0 && count < (INT64_C(1) << 31), "too many items for the pool");
    if (!p || count <= 1) {
        for (int64_t i = 0; i < count; i++)
            fn(arg, i, 0);
        return;
    }
    uint32_t gen = gen_of(atomic_load_explicit(&p->work, memory_order_relaxed)) + 1;
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_store_explicit(&p->caller_cpu, this_cpu(), memory_order_relaxed);
    atomic_store_explicit(&p->limit, (uint64_t)gen << 32 | (uint64_t)count,
                          memory_order_release);
    atomic_store(&p->work, (uint64_t)gen << 32); /* seq_cst: pairs with next_job */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    run_items(p, gen, 0);
    wait_done(p, count);
}

struct parts {
    void (*fn)(void *arg, int t, int n);
    void *arg;
    int n;
};

static void run_part(void *arg, int64_t i, int t)
{
    (void)t;
    const struct parts *s = arg;
    s->fn(s->arg, (int)i, s->n);
}

void nn_pool_run(nn_pool *p, void (*fn)(void *arg, int t, int n), void *arg)
{
    if (!p) {
        fn(arg, 0, 1);
        return;
    }
    struct parts s = {fn, arg, p->n};
    nn_pool_for(p, p->n, run_part, &s);
}

void nn_pool_hold(nn_pool *p, int t, bool held)
{
    NN_ASSERT(t >= 1 && t < 32, "only workers 1-31 can be held");
    pthread_mutex_lock(&p->mu);
    if (held)
        atomic_fetch_or(&p->held, 1u << t);
    else
        atomic_fetch_and(&p->held, ~(1u << t));
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Thread t of n takes [lo, hi) of len items: equal runs, each a multiple of
 * quantum, the last thread taking the rest. */
void nn_split(int64_t len, int64_t quantum, int t, int n, int64_t *lo, int64_t *hi)
{
    int64_t per = (len / n + quantum - 1) / quantum * quantum;
    *lo = per * t < len ? per * t : len;
    *hi = t == n - 1 ? len : (per * (t + 1) < len ? per * (t + 1) : len);
}
