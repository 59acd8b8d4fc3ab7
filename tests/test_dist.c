/*
 * test_dist.c - the trainer's data-parallel path without MPI: two "ranks"
 * as two threads of this process, each with its own context, model and
 * trainer, joined by collectives over shared memory and a barrier (struct
 * nn_dist). Reproducible mode gives one process's bits, batch norm's
 * running statistics included; plain mode one process's weights up to the
 * order of float sums, with the optimizer step whole (allreduce) or
 * sharded (reduce_scatter: each rank steps its share, the optimizer state
 * gathered for checkpoints) for element-wise optimizers and Adafactor; the
 * ranks' weights, buffers and optimizer states agree exactly; a bad
 * nn_dist is refused by name.
 */
#include "test.h"

#include <pthread.h>

#define NS 91 /* the last batch of 11: unequal shares */
#define NF 4
#define SPEC_DROP "4 dense:16 relu dropout:0.2 dense:3 softmax"
#define SPEC_PLAIN "4 dense:16 relu dense:3 softmax"
#define SPEC_BN "4 dense:16 batchnorm relu dense:8 batchnorm relu dense:3 softmax"
/* batch norm of the inputs: its batch statistics do not depend on weights */
#define SPEC_BN_IN "4 batchnorm dense:16 relu dense:3 softmax"

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
    bool shard;          /* provide reduce_scatter */
    nn_optim_kind kind;  /* 0: SGD */
    int stop_epoch, stop_batch; /* on_batch asks to stop there (0: never): on rank 1, or
                                 * on one process */
    int epochs_done;
    float *out; /* the final parameter block */
    int64_t nout;
    float *state; /* the final optimizer state */
    int64_t nstate;
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

/* Rank r's segment of the sums; the others left as they are. */
static nn_status fake_reduce_scatter(void *user, float *buf, const int64_t *counts)
{
    struct rank *r = user;
    struct world *w = r->w;
    int64_t off = r->rank ? counts[0] : 0, total = counts[0] + counts[1];
    memcpy(w->slot[r->rank], buf, (size_t)total * sizeof *buf);
    pthread_barrier_wait(&w->bar);
    for (int64_t i = off; i < off + counts[r->rank]; i++)
        buf[i] = w->slot[0][i] + w->slot[1][i];
    pthread_barrier_wait(&w->bar);
    return NN_OK;
}

/* Stops rank 1 (or one process) after r->stop_batch of r->stop_epoch. */
static bool stop_at(const struct nn_train_progress *p, void *user)
{
    const struct rank *r = user;
    return !((!r->w || r->rank == 1) && p->epoch == r->stop_epoch && p->batch == r->stop_batch);
}

/* The optimizer of r (defaults, SGD at lr 0.1). */
static struct nn_optim_cfg optim_of(const struct rank *r)
{
    struct nn_optim_cfg o = {.kind = r->kind};
    nn_optim_defaults(&o);
    if (r->kind == NN_OPTIM_SGD)
        o.lr = 0.1f;
    return o;
}

/* Trains 3 epochs at batch 20 (the last batch 11) as rank r of w (w NULL:
 * one process); the weights into r->out, the optimizer state into
 * r->state. */
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
    /* SGD by default: unlike Adam, a wrongly scaled gradient changes its steps */
    tc.optim = optim_of(r);
    if (r->stop_epoch)
        tc.on_batch = stop_at, tc.user = r;
    if (r->w) {
        r->d = (struct nn_dist){.rank = r->rank, .size = r->w->size, .allreduce = fake_reduce,
                                .allreduce_f64 = fake_reduce_f64, .allgather = fake_gather,
                                .user = r,
                                .reduce_scatter = r->shard ? fake_reduce_scatter : NULL};
        tc.dist = &r->d;
    }
    struct nn_array_source a = {.x = xs, .labels = ys, .n = NS, .features = NF};
    struct nn_source src = nn_source_from_arrays(&a);
    nn_trainer *t = nn_trainer_new(m, &tc);
    r->st = t ? nn_trainer_fit(t, &src, &src) : NN_ERR_INVALID;
    if (t)
        r->epochs_done = nn_trainer_epoch(t);
    if (r->st != NN_OK)
        fprintf(stderr, "rank %d: %s\n", r->rank, nn_ctx_error(ctx));
    nn_graph *g = nn_model_graph(m);
    r->nout = nn_graph_param_count(g);
    r->out = malloc((size_t)r->nout * sizeof *r->out);
    if (r->out)
        memcpy(r->out, nn_graph_param_block(g), (size_t)r->nout * sizeof *r->out);
    if (t) {
        nn_optim *o = nn_trainer_optim(t);
        r->nstate = nn_optim_state_size(o);
        r->state = malloc((size_t)(r->nstate ? r->nstate : 1) * sizeof *r->state);
        if (r->state)
            memcpy(r->state, nn_optim_state(o), (size_t)r->nstate * sizeof *r->state);
    }
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return NULL;
}

/* How far 2 thread-ranks are from one process, each rank alike. */
struct gap {
    double weights, state;   /* max |difference| of the trainable parameters, the state */
    double mean, var, count; /* of the first batch norm's buffers (0 without) */
    int epochs;              /* completed, the same on one process and every rank */
};

/* Adds the max |differences| between a and b, blocks of model m, to gp. */
static void measure(const float *a, const float *b, nn_model *m, struct gap *gp)
{
    nn_graph *g = nn_model_graph(m);
    for (int i = 0; i < nn_graph_nparams(g); i++) {
        const nn_node *p = nn_graph_param(g, i);
        const char *name = nn_node_name(p);
        double other = 0;
        double *to = nn_param_is_trainable(p)                ? &gp->weights
                     : strncmp(name, "bn1.", 4) != 0         ? &other
                     : strstr(name, "running_mean")          ? &gp->mean
                     : strstr(name, "running_var")           ? &gp->var
                                                             : &gp->count;
        int64_t off = nn_param_offset(p);
        for (int64_t j = off; j < off + nn_node_numel(p); j++)
            *to = fmax(*to, fabs((double)a[j] - b[j]));
    }
}

/* One process and 2 thread-ranks configured as proto (spec, reproducible,
 * shard, kind); how far apart. The ranks must agree exactly. */
static struct gap one_vs_two(struct rank proto)
{
    make_data();
    struct rank one = proto;
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
        two[i] = proto;
        two[i].w = &w;
        two[i].rank = i;
        assert_int_equal(pthread_create(&th[i], NULL, train_rank, &two[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&w.bar);
    struct gap gp = {.epochs = one.epochs_done};
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 5, .threads = 1});
    nn_model *m = nn_model_new(ctx, proto.spec, &(struct nn_model_cfg){.max_batch = 32});
    assert_non_null(m);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(two[i].st, NN_OK);
        assert_int_equal(two[i].nout, one.nout);
        assert_int_equal(two[i].nstate, one.nstate);
        assert_int_equal(two[i].epochs_done, one.epochs_done);
        measure(two[i].out, one.out, m, &gp);
        for (int64_t j = 0; j < one.nstate; j++)
            gp.state = fmax(gp.state, fabs((double)two[i].state[j] - one.state[j]));
    }
    /* the ranks agree with each other exactly: weights, buffers, state */
    assert_memory_equal(two[0].out, two[1].out, (size_t)one.nout * sizeof(float));
    assert_memory_equal(two[0].state, two[1].state, (size_t)one.nstate * sizeof(float));
    nn_model_free(m);
    nn_ctx_free(ctx);
    for (int i = 0; i < 2; i++) {
        free(two[i].out);
        free(two[i].state);
        free(w.slot[i]);
        free(w.dslot[i]);
    }
    free(one.out);
    free(one.state);
    return gp;
}

static void dist_reproducible_matches_one_process_bitwise(void **state)
{
    (void)state;
    struct gap gp = one_vs_two((struct rank){.spec = SPEC_DROP, .reproducible = true});
    if (gp.weights != 0 || gp.state != 0)
        fail_msg("reproducible: 2 ranks differ from 1 process by %g (state %g)", gp.weights,
                 gp.state);
}

/* Batch norm: the batch statistics of each chunk whatever the ranks, and
 * the running statistics one update per step from the chunks' in chunk
 * order: the same bits on 2 ranks as on 1 process. */
static void dist_reproducible_batchnorm_bitwise(void **state)
{
    (void)state;
    struct gap gp = one_vs_two((struct rank){.spec = SPEC_BN, .reproducible = true});
    if (gp.weights != 0 || gp.mean != 0 || gp.var != 0 || gp.count != 0)
        fail_msg("reproducible batch norm: 2 ranks differ from 1 process by %g (weights), %g "
                 "(running_mean), %g (running_var), %g (num_batches_tracked)", gp.weights,
                 gp.mean, gp.var, gp.count);
}

static void dist_plain_matches_one_process(void **state)
{
    (void)state;
    for (int shard = 0; shard < 2; shard++) {
        struct gap gp = one_vs_two((struct rank){.spec = SPEC_PLAIN, .shard = shard});
        if (gp.weights > 1e-5 || gp.state > 1e-5)
            fail_msg("2 ranks (%s step) differ from 1 process by %g (state %g)",
                     shard ? "sharded" : "whole", gp.weights, gp.state);
    }
}

/* The sharded step with a state per element (Adam, momentum) and per
 * tensor (Adafactor): one process's weights and optimizer state. */
static void dist_sharded_state_matches_one_process(void **state)
{
    (void)state;
    const nn_optim_kind kinds[] = {NN_OPTIM_ADAM, NN_OPTIM_MOMENTUM, NN_OPTIM_ADAFACTOR};
    for (int i = 0; i < 3; i++) {
        struct gap gp = one_vs_two((struct rank){.spec = SPEC_PLAIN, .shard = true,
                                                 .kind = kinds[i]});
        if (gp.weights > 1e-4 || gp.state > 1e-4)
            fail_msg("sharded %s: 2 ranks differ from 1 process by %g (state %g)",
                     nn_optim_name(kinds[i]), gp.weights, gp.state);
    }
}

/* Batch norm on 2 ranks, each normalizing by its share's statistics: the
 * running statistics the same on both ranks (one_vs_two), and, for batch
 * norm of the inputs, near one process's: running_mean up to float sums
 * (the mean of the shares' means is the batch's), running_var the mean of
 * the shares' variances (without the spread of the shares' means). */
static void dist_batchnorm_running_stats(void **state)
{
    (void)state;
    for (int shard = 0; shard < 2; shard++) {
        struct gap gp = one_vs_two((struct rank){.spec = SPEC_BN_IN, .shard = shard});
        if (gp.count != 0 || gp.mean > 1e-6 || gp.var > 0.05)
            fail_msg("batch norm (%s step): running_mean %g, running_var %g, "
                     "num_batches_tracked %g from 1 process", shard ? "sharded" : "whole",
                     gp.mean, gp.var, gp.count);
    }
}

/* on_batch asks rank 1 alone to stop after batch 3 of epoch 2 (of 5): the
 * flag rides on the next step's sum, which every rank then gives up, so
 * both ranks stop with one process's weights after the same batch (the
 * step given up would move them by lr x a gradient), batch norm's
 * running statistics and step count as after 8 steps, one epoch done. */
static void dist_stop_mid_epoch(void **state)
{
    (void)state;
    for (int shard = 0; shard < 2; shard++) {
        struct gap gp = one_vs_two((struct rank){.spec = SPEC_PLAIN, .shard = shard,
                                                 .stop_epoch = 2, .stop_batch = 3});
        assert_int_equal(gp.epochs, 1);
        if (gp.weights > 1e-5 || gp.state > 1e-5)
            fail_msg("stopped 2 ranks (%s step) differ from 1 process by %g (state %g)",
                     shard ? "sharded" : "whole", gp.weights, gp.state);
        gp = one_vs_two((struct rank){.spec = SPEC_BN_IN, .shard = shard, .stop_epoch = 2,
                                      .stop_batch = 3});
        if (gp.count != 0 || gp.mean > 1e-6)
            fail_msg("stopped batch norm (%s step): num_batches_tracked %g, running_mean %g "
                     "from 1 process", shard ? "sharded" : "whole", gp.count, gp.mean);
    }
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
         cmocka_unit_test(dist_reproducible_batchnorm_bitwise),
         cmocka_unit_test(dist_plain_matches_one_process),
         cmocka_unit_test(dist_sharded_state_matches_one_process),
         cmocka_unit_test(dist_batchnorm_running_stats),
         cmocka_unit_test(dist_stop_mid_epoch),
         cmocka_unit_test(dist_bad_config_refused))
