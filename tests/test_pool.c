/*
 * test_pool.c - the thread pool's claiming (src/pool.c): every item of a
 * job runs exactly once, and a worker that does not run (held by the test
 * hook, as if another process had its core) delays nothing: the caller
 * claims and runs every item itself. No assertion here is about time; the
 * timeouts only turn a stall into a failure instead of a hang.
 */
#include "test.h"
#include "nn_impl.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

#define MAX_ITEMS 64
#define TIMEOUT_S 10

struct record {
    _Atomic int runs[MAX_ITEMS]; /* times item i ran */
    _Atomic int by[8];           /* items thread t ran */
    _Atomic int bad_t;           /* runs with t out of range */
    int size;
};

static void record_item(void *arg, int64_t i, int t)
{
    struct record *r = arg;
    atomic_fetch_add(&r->runs[i], 1);
    if (t < 0 || t >= r->size)
        atomic_fetch_add(&r->bad_t, 1);
    else
        atomic_fetch_add(&r->by[t], 1);
}

/* A watchdog that releases worker 1 of pool after TIMEOUT_S unless
 * stopped first: a pool that waited for the held worker finishes late
 * instead of never, and the counts show who ran what. */
struct watchdog {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    nn_pool *pool;
};

static void *watch(void *v)
{
    struct watchdog *w = v;
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += TIMEOUT_S;
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    while (!w->stop && rc == 0)
        rc = pthread_cond_timedwait(&w->cv, &w->mu, &until);
    pthread_mutex_unlock(&w->mu);
    if (rc != 0)
        nn_pool_hold(w->pool, 1, false);
    return NULL;
}

static void watch_start(struct watchdog *w, nn_pool *pool)
{
    *w = (struct watchdog){.pool = pool};
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    assert_int_equal(pthread_create(&w->tid, NULL, watch, w), 0);
}

static void watch_stop(struct watchdog *w)
{
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->tid, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

/* Worker 1 of 2 held: the caller runs all 8 blocks of a job, and both
 * parts of an nn_pool_run, each once. */
static void held_worker_delays_nothing(void **state)
{
    (void)state;
    nn_pool *p = nn_pool_new(2);
    assert_non_null(p);
    assert_int_equal(nn_pool_size(p), 2);
    struct record r = {.size = 2};
    struct watchdog w;
    nn_pool_hold(p, 1, true);
    watch_start(&w, p);
    nn_pool_for(p, 8, record_item, &r);
    watch_stop(&w);
    for (int i = 0; i < 8; i++)
        assert_int_equal(atomic_load(&r.runs[i]), 1);
    assert_int_equal(atomic_load(&r.bad_t), 0);
    assert_int_equal(atomic_load(&r.by[0]), 8);
    assert_int_equal(atomic_load(&r.by[1]), 0);
    nn_pool_hold(p, 1, false);
    nn_pool_free(p);
}

/* Records the part and the thread count nn_pool_run passed. */
static void record_part(void *arg, int t, int n)
{
    struct record *r = arg;
    record_item(r, t, 0);
    if (n != r->size)
        atomic_fetch_add(&r->bad_t, 1);
}

static void held_worker_parts_run_on_caller(void **state)
{
    (void)state;
    nn_pool *p = nn_pool_new(3);
    assert_non_null(p);
    struct record r = {.size = 3};
    struct watchdog w;
    nn_pool_hold(p, 1, true);
    watch_start(&w, p);
    nn_pool_run(p, record_part, &r); /* parts 0..2; worker 2 may take some */
    watch_stop(&w);
    for (int i = 0; i < 3; i++)
        assert_int_equal(atomic_load(&r.runs[i]), 1);
    assert_int_equal(atomic_load(&r.bad_t), 0);
    nn_pool_hold(p, 1, false);
    nn_pool_free(p);
}

/* Many jobs of every small size back to back (a stale worker must never
 * run an item of a finished job or twice): each item exactly once. */
static void every_item_runs_once(void **state)
{
    (void)state;
    nn_pool *p = nn_pool_new(3);
    assert_non_null(p);
    struct record r = {.size = 3};
    int64_t total = 0;
    for (int job = 0; job < 3000; job++) {
        int64_t count = job % 18;
        nn_pool_for(p, count, record_item, &r);
        total += count;
        for (int64_t i = 0; i < count; i++)
            assert_int_equal(atomic_exchange(&r.runs[i], 0), 1);
    }
    assert_int_equal(atomic_load(&r.bad_t), 0);
    assert_int_equal(atomic_load(&r.by[0]) + atomic_load(&r.by[1]) + atomic_load(&r.by[2]),
                     total);
    nn_pool_free(p);
}

/* Two items that each wait (up to TIMEOUT_S) for the other to start: they
 * can only both finish on two threads at once, so a worker released from a
 * hold must be claiming again. */
struct meet {
    _Atomic int arrived, met;
};

static void meet_item(void *arg, int64_t i, int t)
{
    (void)i, (void)t;
    struct meet *m = arg;
    atomic_fetch_add(&m->arrived, 1);
    time_t end = time(NULL) + TIMEOUT_S;
    while (atomic_load(&m->arrived) < 2 && time(NULL) < end)
        ;
    if (atomic_load(&m->arrived) >= 2)
        atomic_fetch_add(&m->met, 1);
}

static void released_worker_claims_again(void **state)
{
    (void)state;
    nn_pool *p = nn_pool_new(2);
    assert_non_null(p);
    struct record r = {.size = 2};
    nn_pool_hold(p, 1, true);
    nn_pool_for(p, 4, record_item, &r);
    assert_int_equal(atomic_load(&r.by[1]), 0);
    nn_pool_hold(p, 1, false);
    struct meet m = {0, 0};
    nn_pool_for(p, 2, meet_item, &m);
    assert_int_equal(atomic_load(&m.met), 2);
    nn_pool_free(p);
}

struct masks {
    _Atomic int on_workers;  /* items a worker ran */
    _Atomic int unblocked;   /* of those, with SIGINT or SIGTERM deliverable */
};

static void record_mask(void *arg, int64_t i, int t)
{
    (void)i;
    struct masks *m = arg;
    struct timespec ts = {0, 100 * 1000}; /* long enough for the worker to claim some */
    nanosleep(&ts, NULL);
    if (t == 0)
        return;
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    atomic_fetch_add(&m->on_workers, 1);
    if (!sigismember(&cur, SIGINT) || !sigismember(&cur, SIGTERM))
        atomic_fetch_add(&m->unblocked, 1);
}

/* Ctrl-C reaches the program's threads, never the pool's workers (where a
 * handler run in a oneDNN product would corrupt the heap), and creating
 * the pool leaves the caller's signal mask as it was. */
static void workers_block_async_signals(void **state)
{
    (void)state;
    sigset_t before, after;
    pthread_sigmask(SIG_BLOCK, NULL, &before);
    nn_pool *p = nn_pool_new(2);
    assert_non_null(p);
    pthread_sigmask(SIG_BLOCK, NULL, &after);
    assert_int_equal(sigismember(&before, SIGINT), sigismember(&after, SIGINT));
    assert_int_equal(sigismember(&before, SIGTERM), sigismember(&after, SIGTERM));
    struct masks m = {0};
    for (int round = 0; round < 100 && atomic_load(&m.on_workers) == 0; round++)
        nn_pool_for(p, 32, record_mask, &m);
    nn_pool_free(p);
    assert_true(atomic_load(&m.on_workers) > 0);
    assert_int_equal(atomic_load(&m.unblocked), 0);
}

NN_GROUP(pool,
         cmocka_unit_test(held_worker_delays_nothing),
         cmocka_unit_test(held_worker_parts_run_on_caller),
         cmocka_unit_test(every_item_runs_once),
         cmocka_unit_test(released_worker_claims_again),
         cmocka_unit_test(workers_block_async_signals))
