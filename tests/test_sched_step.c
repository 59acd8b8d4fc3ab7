/*
 * test_sched_step.c - learning-rate schedules stepped every batch
 * (nn_train_cfg.schedule_per_step, nn train --schedule-unit step): the rate
 * each batch trains with equals torch.optim.lr_scheduler's when the
 * scheduler is stepped after every optimizer step (fixtures written by
 * tests/ref/gen_sched_step.py), a resumed run continues the same rates
 * bit for bit, and plateau, which follows a per-epoch metric, is refused.
 */
#include "test.h"

#include "ref/sched_step.h"

#include <unistd.h>

enum { N = 20, B = 4, F = 3, EPOCHS = 3 }; /* 5 batches an epoch, 15 in all */

struct rec {
    nn_trainer *t;
    double lr[64];
    int n;
};

static bool on_batch(const struct nn_train_progress *p, void *user)
{
    (void)p;
    struct rec *r = user;
    if (r->n < 64)
        r->lr[r->n++] = nn_optim_lr(nn_trainer_optim(r->t));
    return true;
}

static float xs[N * F];
static float ys[N];

static struct nn_source source(struct nn_array_source *a)
{
    for (int i = 0; i < N * F; i++)
        xs[i] = (float)sin(0.9 * i);
    for (int i = 0; i < N; i++)
        ys[i] = (float)cos(0.4 * i);
    *a = (struct nn_array_source){.x = xs, .targets = ys, .n = N, .features = F, .ntargets = 1};
    return nn_source_from_arrays(a);
}

/* A trainer of a small regression model with the schedule spec, per step. */
static nn_trainer *trainer(nn_ctx *ctx, nn_model **m, const char *spec, int epochs,
                           struct rec *r)
{
    *m = nn_model_new(ctx, "3 dense:4 tanh dense:1", &(struct nn_model_cfg){.max_batch = B});
    assert_non_null(*m);
    struct nn_train_cfg tc = {.epochs = epochs, .batch = B, .no_shuffle = true,
                              .schedule_per_step = true,
                              .optim = {.kind = NN_OPTIM_SGD, .lr = (float)SCHED_STEP_BASE},
                              .on_batch = r ? on_batch : NULL, .user = r};
    assert_int_equal(nn_schedule_parse(ctx, spec, &tc.schedule), NN_OK);
    nn_trainer *t = nn_trainer_new(*m, &tc);
    if (!t)
        fail_msg("%s: %s", spec, nn_ctx_error(ctx));
    if (r)
        r->t = t;
    return t;
}

static void rates_match_torch_stepped_per_batch(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof sched_step_cases / sizeof sched_step_cases[0]; c++) {
        nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
        nn_model *m;
        struct rec r = {0};
        nn_trainer *t = trainer(ctx, &m, sched_step_cases[c].spec, EPOCHS, &r);
        struct nn_array_source a;
        struct nn_source src = source(&a);
        assert_int_equal(nn_trainer_fit(t, &src, NULL), NN_OK);
        assert_int_equal(r.n, SCHED_STEP_STEPS);
        for (int i = 0; i < SCHED_STEP_STEPS; i++) {
            double want = sched_step_cases[c].lr[i];
            if (fabs(r.lr[i] - want) > 1e-7 * want + 1e-12)
                fail_msg("%s: batch %d trains at lr %.9g, torch's is %.9g",
                         sched_step_cases[c].spec, i, r.lr[i], want);
        }
        /* the epoch's recorded rate is its first batch's */
        int ne;
        const struct nn_epoch_stats *h = nn_trainer_history(t, &ne);
        assert_int_equal(ne, EPOCHS);
        assert_true(fabs(h[1].lr - sched_step_cases[c].lr[5]) <= 1e-7 * h[1].lr);
        nn_trainer_free(t);
        nn_model_free(m);
        nn_ctx_free(ctx);
    }
}

/* 1 epoch, a checkpoint, then resumed to 3: the same weights and optimizer
 * state as 3 epochs straight, and the rates continue at batch 5. */
static void resume_continues_the_steps(void **state)
{
    (void)state;
    char dir[] = "/tmp/nn-sched-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    struct nn_array_source a;
    struct nn_source src = source(&a);
    float *straight = NULL, *resumed = NULL;
    int64_t np = 0;
    for (int run = 0; run < 2; run++) {
        nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 5, .threads = 1});
        nn_model *m;
        nn_trainer *t = trainer(ctx, &m, "warmup:4+cos", run ? 1 : EPOCHS, NULL);
        assert_int_equal(nn_trainer_fit(t, &src, NULL), NN_OK);
        if (run) {
            assert_int_equal(nn_checkpoint_save(path, m, t, NULL, NULL, 0), NN_OK);
            nn_trainer_free(t);
            nn_model_free(m);
            nn_model *m2;
            struct rec r = {0};
            t = trainer(ctx, &m2, "warmup:4+cos", EPOCHS, &r);
            m = m2;
            assert_int_equal(nn_trainer_resume(t, path), NN_OK);
            assert_int_equal(nn_trainer_fit(t, &src, NULL), NN_OK);
            assert_int_equal(r.n, 10);
            for (int i = 0; i < 10; i++)
                assert_true(fabs(r.lr[i] - sched_step_cases[3].lr[5 + i]) <=
                            1e-7 * sched_step_cases[3].lr[5 + i]);
        }
        nn_graph *g = nn_model_graph(m);
        np = nn_graph_param_count(g);
        float *w = malloc((size_t)np * sizeof *w);
        memcpy(w, nn_graph_param_block(g), (size_t)np * sizeof *w);
        *(run ? &resumed : &straight) = w;
        nn_trainer_free(t);
        nn_model_free(m);
        nn_ctx_free(ctx);
    }
    assert_memory_equal(straight, resumed, (size_t)np * sizeof(float));
    free(straight);
    free(resumed);
    unlink(path);
    rmdir(dir);
}

static void plateau_cannot_step_per_batch(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_model *m = nn_model_new(ctx, "3 dense:1", &(struct nn_model_cfg){.max_batch = B});
    struct nn_train_cfg tc = {.epochs = 2, .batch = B, .schedule_per_step = true,
                              .optim = {.kind = NN_OPTIM_SGD, .lr = 0.1f}};
    assert_int_equal(nn_schedule_parse(ctx, "plateau", &tc.schedule), NN_OK);
    assert_null(nn_trainer_new(m, &tc));
    assert_non_null(strstr(nn_ctx_error(ctx), "plateau"));
    assert_non_null(strstr(nn_ctx_error(ctx), "per batch"));
    nn_model_free(m);
    nn_ctx_free(ctx);
}

NN_GROUP(sched_step,
         cmocka_unit_test(rates_match_torch_stepped_per_batch),
         cmocka_unit_test(resume_continues_the_steps),
         cmocka_unit_test(plateau_cannot_step_per_batch))
