/*
 * test_dist.c - the trainer's data-parallel path without MPI: two "ranks"
 * as two threads of this process, each with its own context, model and
 * trainer, joined by collectives over shared memory and a barrier (struct
 * nn_dist). Reproducible mode gives one process's bits; plain mode one
 * process's weights up to the order of float sums; a bad nn_dist is
 * refused by name.
 */
#include "test.h"

#include <pthread.h>

#define NS 90
#define NF 4
#define SPEC_DROP "4 dense:16 relu dropout:0.2 dense:3 softmax"
#define SPEC_PLAIN "4 dense:16 relu dense:3 softmax"

static float xs[NS * NF];
static int32_t ys[NS];

static void make_data(void)
{
    uint64_t s = 11;
    for (int i = 0; i < NS; i++) {
        ys[i] = i % 3;
        for (int j = 0; j < NF; j++) {
            s = s * 6364136223846793005u + 1442695040888963407u;
            xs[i * NF + j] = (j == ys[i] ? 1.5f : 0.0f) + (float)((s >> 40) % 1000) / 500.0f - 1;
        }
    }
}

/* The shared side of the fake collectives. */
struct world {
    pthread_barrier_t bar;
    float *slot[2];  /* each rank's contribution */
    double *dslot[2];
    int size;
};

struct rank {
    struct world *w;
    int rank;
    struct nn_dist d;
    const char *spec;
    bool reproducible;
    float *out; /* the final parameter block */
    int64_t nout;
    nn_status st;
};

static nn_status fake_reduce(void *user, float *buf, int64_t n)
{
    struct rank *r = user;
    struct world *w = r->w;
    memcpy(w->slot[r->rank], buf, (size_t)n * sizeof *buf);
    pthread_barrier_wait(&w->bar);
    for (int64_t i = 0; i < n; i++) /* the same order on every rank */
        buf[i] = w->slot[0][i] + w->slot[1][i];
    pthread_barrier_wait(&w->bar);
    return NN_OK;
}

static nn_status fake_reduce_f64(void *user, double *buf, int64_t n)
{
    struct rank *r = user;
    struct world *w = r->w;
    memcpy(w->dslot[r->rank], buf, (size_t)n * sizeof *buf);
    pthread_barrier_wait(&w->bar);
    for (int64_t i = 0; i < n; i++)
        buf[i] = w->dslot[0][i] + w->dslot[1][i];
    pthread_barrier_wait(&w->bar);
    return NN_OK;
}

static nn_status fake_gather(void *user, float *buf, const int64_t *counts)
{
    struct rank *r = user;
    struct world *w = r->w;
    int64_t off = r->rank ? counts[0] : 0, total = counts[0] + counts[1];
    memcpy(w->slot[0] + off, buf + off, (size_t)counts[r->rank] * sizeof *buf);
    pthread_barrier_wait(&w->bar);
    memcpy(buf, w->slot[0], (size_t)total * sizeof *buf);
    pthread_barrier_wait(&w->bar);
    return NN_OK;
}

/* Trains 3 epochs at batch 20 (the last batch 10) as rank r of w (w NULL:
 * one process); the weights into r->out. */
static void *train_rank(void *arg)
{
    struct rank *r = arg;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 5, .threads = 1});
    nn_model *m = ctx ? nn_model_new(ctx, r->spec, &(struct nn_model_cfg){.max_batch = 32})
                      : NULL;
    if (!m) {
        r->st = NN_ERR_NOMEM;
        nn_ctx_free(ctx);
        return NULL;
    }
    struct nn_train_cfg tc = {.epochs = 3, .batch = 20, .reproducible = r->reproducible};
    /* SGD: unlike Adam, a wrongly scaled gradient changes its steps */
    tc.optim = (struct nn_optim_cfg){.kind = NN_OPTIM_SGD};
    nn_optim_defaults(&tc.optim);
    tc.optim.lr = 0.1f;
    if (r->w) {
        r->d = (struct nn_dist){.rank = r->rank, .size = r->w->size, .allreduce = fake_reduce,
                                .allreduce_f64 = fake_reduce_f64, .allgather = fake_gather,
                                .user = r};
        tc.dist = &r->d;
    }
    struct nn_array_source a = {.x = xs, .labels = ys, .n = NS, .features = NF};
    struct nn_source src = nn_source_from_arrays(&a);
    nn_trainer *t = nn_trainer_new(m, &tc);
    r->st = t ? nn_trainer_fit(t, &src, &src) : NN_ERR_INVALID;
    if (r->st != NN_OK)
        fprintf(stderr, "rank %d: %s\n", r->rank, nn_ctx_error(ctx));
    nn_graph *g = nn_model_graph(m);
    r->nout = nn_graph_param_count(g);
    r->out = malloc((size_t)r->nout * sizeof *r->out);
    if (r->out)
        memcpy(r->out, nn_graph_param_block(g), (size_t)r->nout * sizeof *r->out);
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return NULL;
}

/* The weights of one process and of 2 thread-ranks; max |difference|. */
static double one_vs_two(const char *spec, bool reproducible)
{
    make_data();
    struct rank one = {.spec = spec, .reproducible = reproducible};
    train_rank(&one);
    assert_int_equal(one.st, NN_OK);
    struct world w = {.size = 2};
    for (int i = 0; i < 2; i++) {
        w.slot[i] = calloc(4 * 4096, sizeof(float)); /* chunks x the block, and more */
        w.dslot[i] = calloc(16, sizeof(double));
        assert_true(w.slot[i] && w.dslot[i]);
    }
    assert_true(one.nout * 4 <= 4 * 4096);
    pthread_barrier_init(&w.bar, NULL, 2);
    struct rank two[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        two[i] = (struct rank){.w = &w, .rank = i, .spec = spec, .reproducible = reproducible};
        assert_int_equal(pthread_create(&th[i], NULL, train_rank, &two[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&w.bar);
    double md = 0;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(two[i].st, NN_OK);
        assert_int_equal(two[i].nout, one.nout);
        for (int64_t j = 0; j < one.nout; j++)
            md = fmax(md, fabs((double)two[i].out[j] - one.out[j]));
    }
    /* the ranks agree with each other exactly */
    assert_memory_equal(two[0].out, two[1].out, (size_t)one.nout * sizeof(float));
    for (int i = 0; i < 2; i++) {
        free(two[i].out);
        free(w.slot[i]);
        free(w.dslot[i]);
    }
    free(one.out);
    return md;
}

static void dist_reproducible_matches_one_process_bitwise(void **state)
{
    (void)state;
    double md = one_vs_two(SPEC_DROP, true);
    if (md != 0)
        fail_msg("reproducible: 2 ranks differ from 1 process by %g", md);
}

static void dist_plain_matches_one_process(void **state)
{
    (void)state;
    double md = one_vs_two(SPEC_PLAIN, false);
    if (md > 1e-5)
        fail_msg("2 ranks differ from 1 process by %g", md);
}

static void dist_bad_config_refused(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    nn_model *m = nn_model_new(ctx, SPEC_PLAIN, NULL);
    assert_non_null(m);
    struct nn_dist d = {.rank = 2, .size = 2, .allreduce = fake_reduce,
                        .allreduce_f64 = fake_reduce_f64, .allgather = fake_gather};
    struct nn_train_cfg tc = {.dist = &d};
    assert_null(nn_trainer_new(m, &tc));
    assert_non_null(strstr(nn_ctx_error(ctx), "rank < size"));
    d.rank = 0;
    d.size = 8;
    tc.reproducible = true; /* 4 chunks for 8 ranks */
    assert_null(nn_trainer_new(m, &tc));
    assert_non_null(strstr(nn_ctx_error(ctx), "at least as many chunks as ranks"));
    nn_model_free(m);
    nn_ctx_free(ctx);
}

NN_GROUP(dist, cmocka_unit_test(dist_reproducible_matches_one_process_bitwise),
         cmocka_unit_test(dist_plain_matches_one_process),
         cmocka_unit_test(dist_bad_config_refused))
