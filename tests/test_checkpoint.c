/*
 * test_checkpoint.c - model checkpoints: round trip of weights,
 * normalization and class names; exact trainer resume through the library
 * API; and a clear error for each kind of mismatched or foreign file.
 */
#include "test.h"

#include <math.h>

#include <unistd.h>

static char dir[64];

static int setup(void **state)
{
    (void)state;
    return cli_tmpdir(dir, sizeof dir, "ckpt");
}

static int teardown(void **state)
{
    (void)state;
    return cli_rmdir(dir);
}

static const char *path(const char *name)
{
    static char buf[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

enum { N = 60, F = 3 };
static float X[N * F];
static int32_t Y[N];

static void make_data(void)
{
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < F; j++)
            X[i * F + j] = (float)sin(0.9 * i + j);
        Y[i] = X[i * F] + X[i * F + 1] > 0;
    }
}

static nn_trainer *train(nn_model *m, int epochs, struct nn_source *src)
{
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = epochs, .batch = 8, .optim = {.kind = NN_OPTIM_ADAM, .lr = 0.01f}});
    assert_non_null(t);
    assert_ok(nn_model_ctx(m), nn_trainer_fit(t, src, NULL));
    return t;
}

/* Checkpoints keep the text of the history they wrote (so that a save per
 * epoch formats only the new epoch): a trainer that wrote its own 2 epochs
 * and then resumed another run's 5 writes that run's 5, each as it was. */
static void history_text_follows_resume(void **state)
{
    (void)state;
    make_data();
    struct nn_array_source a = {.x = X, .labels = Y, .n = N, .features = F};
    struct nn_source src = nn_source_from_arrays(&a);
    const char *spec = "3 dense:4 relu dense:2 softmax";
    nn_ctx *c1 = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 3, .threads = 1});
    nn_model *m1 = nn_model_new(c1, spec, NULL);
    nn_trainer *t1 = train(m1, 5, &src);
    assert_ok(c1, nn_checkpoint_save(path("five.safetensors"), m1, t1, NULL, NULL, 0));
    nn_ctx *c2 = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 4, .threads = 1});
    nn_model *m2 = nn_model_new(c2, spec, NULL);
    nn_trainer *t2 = train(m2, 2, &src);
    assert_ok(c2, nn_checkpoint_save(path("two.safetensors"), m2, t2, NULL, NULL, 0));
    assert_ok(c2, nn_trainer_resume(t2, path("five.safetensors")));
    assert_ok(c2, nn_checkpoint_save(path("again.safetensors"), m2, t2, NULL, NULL, 0));
    nn_checkpoint *ck = nn_checkpoint_open(c2, path("again.safetensors"));
    if (!ck)
        fail_msg("%s", nn_ctx_error(c2));
    const struct nn_checkpoint_info *in = nn_checkpoint_info(ck);
    int n1;
    const struct nn_epoch_stats *h1 = nn_trainer_history(t1, &n1);
    assert_int_equal(in->epochs_done, 5);
    /* the file's values are the run's to the bit (written with %.17g) */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(in->history[i].epoch, h1[i].epoch);
        if (memcmp(&in->history[i].train.loss, &h1[i].train.loss, sizeof(double)) != 0 ||
            memcmp(&in->history[i].seconds, &h1[i].seconds, sizeof(double)) != 0)
            fail_msg("epoch %d: loss %.17g, seconds %.17g in the file; the run's %.17g, %.17g",
                     i + 1, in->history[i].train.loss, in->history[i].seconds,
                     h1[i].train.loss, h1[i].seconds);
    }
    nn_checkpoint_close(ck);
    nn_trainer_free(t2);
    nn_model_free(m2);
    nn_ctx_free(c2);
    nn_trainer_free(t1);
    nn_model_free(m1);
    nn_ctx_free(c1);
}

static void round_trip(void **state)
{
    (void)state;
    make_data();
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 2, .threads = 1});
    nn_model *m = nn_model_new(ctx, "3 dense:5 relu dropout:0.1 dense:2 softmax", NULL);
    assert_non_null(m);
    float shift[F] = {0.5f, -1, 2}, scale[F] = {2, 0.5f, 1};
    assert_ok(ctx, nn_model_set_norm(m, &(struct nn_norm_stats){NN_NORM_STANDARD, F, shift, scale}));
    const char *names[2] = {"no", "yes \"quoted\""};
    assert_ok(ctx, nn_model_set_class_names(m, names, 2));
    struct nn_array_source a = {.x = X, .labels = Y, .n = N, .features = F};
    struct nn_source src = nn_source_from_arrays(&a);
    nn_trainer *t = train(m, 3, &src);
    assert_ok(ctx, nn_checkpoint_save(path("a.safetensors"), m, t, NULL, NULL, 0));

    nn_model *b = nn_model_load(ctx, path("a.safetensors"), NULL);
    if (!b)
        fail_msg("%s", nn_ctx_error(ctx));
    assert_string_equal(nn_model_spec(b), nn_model_spec(m));
    nn_graph *gm = nn_model_graph(m), *gb = nn_model_graph(b);
    assert_int_equal(nn_graph_param_count(gb), nn_graph_param_count(gm));
    assert_memory_equal(nn_graph_param_block(gb), nn_graph_param_block(gm),
                        (size_t)nn_graph_param_count(gm) * sizeof(float));
    struct nn_norm_stats ns;
    assert_true(nn_model_norm(b, &ns));
    assert_int_equal(ns.kind, NN_NORM_STANDARD);
    assert_memory_equal(ns.shift, shift, sizeof shift);
    assert_memory_equal(ns.scale, scale, sizeof scale);
    assert_string_equal(nn_model_class_name(b, 1), "yes \"quoted\"");
    float pa[N * 2], pb[N * 2];
    assert_ok(ctx, nn_model_predict(m, X, N, pa));
    assert_ok(ctx, nn_model_predict(b, X, N, pb));
    assert_memory_equal(pa, pb, sizeof pa);
    nn_model_free(b);
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* Collects warnings: how many, and the last. */
struct warned {
    int n;
    char last[512];
};

static void on_warning(const char *msg, void *user)
{
    struct warned *w = user;
    w->n++;
    snprintf(w->last, sizeof w->last, "%s", msg);
}

/* Through the library API: 6 epochs straight equal 3, save, resume, 3
 * (without a warning: the trainer is made as the saved one was); a
 * trainer made with another learning rate resumes, with a warning naming
 * the setting and both values. */
static void resume_through_the_api(void **state)
{
    (void)state;
    make_data();
    struct nn_array_source a = {.x = X, .labels = Y, .n = N, .features = F};
    struct nn_source src = nn_source_from_arrays(&a);
    const char *spec = "3 dense:16 relu dropout:0.3 dense:2 softmax";
    nn_ctx *c1 = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 9, .threads = 1});
    nn_model *m1 = nn_model_new(c1, spec, NULL);
    nn_trainer *t1 = train(m1, 6, &src);

    nn_ctx *c2 = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 9, .threads = 1});
    nn_model *m2 = nn_model_new(c2, spec, NULL);
    nn_trainer *t2 = train(m2, 3, &src);
    assert_ok(c2, nn_checkpoint_save(path("half.safetensors"), m2, t2, NULL, NULL, 0));
    nn_trainer_free(t2);
    nn_model_free(m2);
    nn_ctx_free(c2);

    nn_ctx *c3 = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 12345, .threads = 1});
    struct warned w = {0};
    nn_ctx_set_warning(c3, on_warning, &w);
    nn_model *m3 = nn_model_new(c3, spec, NULL);
    nn_trainer *t3 = nn_trainer_new(m3, &(struct nn_train_cfg){
        .epochs = 6, .batch = 8, .optim = {.kind = NN_OPTIM_ADAM, .lr = 0.01f}});
    assert_ok(c3, nn_trainer_resume(t3, path("half.safetensors")));
    if (w.n != 0)
        fail_msg("resume with the saved configuration warned: %s", w.last);
    nn_trainer *t4 = nn_trainer_new(m3, &(struct nn_train_cfg){
        .epochs = 6, .batch = 8, .optim = {.kind = NN_OPTIM_ADAM, .lr = 0.005f}});
    assert_ok(c3, nn_trainer_resume(t4, path("half.safetensors")));
    if (w.n != 1 || !strstr(w.last, "optim.lr is 0.005 here but 0.01 in"))
        fail_msg("%d warnings, the last: %s", w.n, w.last);
    nn_trainer_free(t4);
    assert_ok(c3, nn_trainer_resume(t3, path("half.safetensors"))); /* t4 moved m3's weights */
    assert_int_equal(nn_trainer_epoch(t3), 3);
    assert_ok(c3, nn_trainer_fit(t3, &src, NULL));
    int n1, n3;
    const struct nn_epoch_stats *h1 = nn_trainer_history(t1, &n1), *h3 = nn_trainer_history(t3, &n3);
    assert_int_equal(n1, 6);
    assert_int_equal(n3, 6);
    assert_memory_equal(&h1[5].train.loss, &h3[5].train.loss, sizeof(double));
    assert_memory_equal(nn_graph_param_block(nn_model_graph(m1)),
                        nn_graph_param_block(nn_model_graph(m3)),
                        (size_t)nn_graph_param_count(nn_model_graph(m1)) * sizeof(float));
    nn_trainer_free(t1);
    nn_model_free(m1);
    nn_ctx_free(c1);
    nn_trainer_free(t3);
    nn_model_free(m3);
    nn_ctx_free(c3);
}

static void expect_error(nn_ctx *ctx, const char *needle1, const char *needle2)
{
    const char *msg = nn_ctx_error(ctx);
    if (!strstr(msg, needle1) || (needle2 && !strstr(msg, needle2)))
        fail_msg("message '%s' lacks '%s'%s%s", msg, needle1, needle2 ? " or " : "",
                 needle2 ? needle2 : "");
}

static void mismatched_and_foreign_files(void **state)
{
    (void)state;
    make_data();
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 4, .threads = 1});
    nn_model *m = nn_model_new(ctx, "3 dense:5 relu dense:2 softmax", NULL);
    struct nn_array_source a = {.x = X, .labels = Y, .n = N, .features = F};
    struct nn_source src = nn_source_from_arrays(&a);
    nn_trainer *t = train(m, 1, &src);
    assert_ok(ctx, nn_checkpoint_save(path("good.safetensors"), m, t, NULL, NULL, 0));
    assert_ok(ctx, nn_checkpoint_save(path("weights.safetensors"), m, NULL, NULL, NULL, 0));

    /* a file whose spec promises other shapes than its tensors hold */
    nn_safetensors *st = nn_safetensors_open(ctx, path("good.safetensors"));
    assert_non_null(st);
    int nt = nn_safetensors_count(st), nm = nn_safetensors_meta_count(st);
    struct nn_st_tensor ts[16];
    const char *keys[32], *vals[32];
    for (int i = 0; i < nt; i++) {
        const struct nn_st_view *v = nn_safetensors_at(st, i);
        ts[i] = (struct nn_st_tensor){.name = v->name, .dtype = v->dtype, .ndim = v->ndim,
                                      .data = v->data};
        memcpy(ts[i].dims, v->dims, (size_t)v->ndim * sizeof(int64_t));
    }
    for (int i = 0; i < nm; i++) {
        keys[i] = nn_safetensors_meta_key(st, i);
        vals[i] = strcmp(keys[i], "spec") == 0 ? "3 dense:6 relu dense:2 softmax"
                                                : nn_safetensors_meta(st, keys[i]);
    }
    assert_ok(ctx, nn_safetensors_save(ctx, path("lying.safetensors"), ts, nt, keys, vals, nm));
    /* and one that is valid safetensors but not a libnn checkpoint */
    assert_ok(ctx, nn_safetensors_save(ctx, path("foreign.safetensors"), ts, 1, NULL, NULL, 0));
    nn_safetensors_close(st);

    nn_ctx_clear_error(ctx);
    assert_null(nn_model_load(ctx, path("lying.safetensors"), NULL));
    expect_error(ctx, "dense1.weight", "lying.safetensors");
    nn_ctx_clear_error(ctx);
    assert_null(nn_model_load(ctx, path("foreign.safetensors"), NULL));
    expect_error(ctx, "not a libnn checkpoint", "foreign.safetensors");
    nn_ctx_clear_error(ctx);
    assert_null(nn_model_load(ctx, path("missing.safetensors"), NULL));
    expect_error(ctx, "missing.safetensors", NULL);

    /* resume: another spec, weights only, another optimizer */
    nn_model *other = nn_model_new(ctx, "3 dense:7 relu dense:2 softmax", NULL);
    nn_trainer *to = nn_trainer_new(other, &(struct nn_train_cfg){.optim = {.kind = NN_OPTIM_ADAM}});
    assert_int_not_equal(nn_trainer_resume(to, path("good.safetensors")), NN_OK);
    expect_error(ctx, "differs", "3 dense:7");
    nn_trainer *tw = nn_trainer_new(m, &(struct nn_train_cfg){.optim = {.kind = NN_OPTIM_ADAM}});
    assert_int_not_equal(nn_trainer_resume(tw, path("weights.safetensors")), NN_OK);
    expect_error(ctx, "weights only", NULL);
    nn_trainer *ts2 = nn_trainer_new(m, &(struct nn_train_cfg){.optim = {.kind = NN_OPTIM_SGD}});
    assert_int_not_equal(nn_trainer_resume(ts2, path("good.safetensors")), NN_OK);
    expect_error(ctx, "adam", "sgd");
    nn_trainer_free(to);
    nn_trainer_free(tw);
    nn_trainer_free(ts2);
    nn_model_free(other);
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* nn_checkpoint_info gives back the trainer's whole configuration (the
 * optimizer's base learning rate, not the schedule's current one), and a
 * trainer made from it and resumed continues exactly. */
static void info_restores_the_configuration(void **state)
{
    (void)state;
    make_data();
    struct nn_array_source a = {.x = X, .labels = Y, .n = N, .features = F};
    struct nn_source src = nn_source_from_arrays(&a);
    const char *spec = "3 dense:8 tanh dense:2 softmax";
    struct nn_train_cfg cfg = {
        .epochs = 4, .batch = 8, .l1 = 1e-4f, .l2 = 1e-3f, .clip_norm = 0.5f,
        .penalize_biases = true, .decay_biases = true, .keep_last = true, .drop_last = true,
        .optim = {.kind = NN_OPTIM_MOMENTUM, .lr = 0.05f, .momentum = 0.7f,
                  .weight_decay = 1e-3f},
        .schedule = {.kind = NN_SCHED_STEP, .step_size = 1, .gamma = 0.5}};
    nn_ctx *c1 = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 3, .threads = 1});
    nn_model *m1 = nn_model_new(c1, spec, NULL);
    nn_trainer *t1 = nn_trainer_new(m1, &cfg);
    assert_ok(c1, nn_trainer_fit(t1, &src, NULL));

    nn_ctx *c2 = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 3, .threads = 1});
    nn_model *m2 = nn_model_new(c2, spec, NULL);
    struct nn_train_cfg half = cfg;
    half.epochs = 2;
    nn_trainer *t2 = nn_trainer_new(m2, &half);
    assert_ok(c2, nn_trainer_fit(t2, &src, NULL));
    const char *k[2] = {"data", "note"}, *v[2] = {"blobs.csv", "x"};
    assert_ok(c2, nn_checkpoint_save(path("cfg.safetensors"), m2, t2, k, v, 2));
    nn_trainer_free(t2);
    nn_model_free(m2);
    nn_ctx_free(c2);

    nn_ctx *c3 = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 99, .threads = 1});
    nn_checkpoint *ck = nn_checkpoint_open(c3, path("cfg.safetensors"));
    if (!ck)
        fail_msg("%s", nn_ctx_error(c3));
    const struct nn_checkpoint_info *in = nn_checkpoint_info(ck);
    assert_string_equal(in->spec, spec);
    assert_int_equal(in->loss, NN_LOSS_SOFTMAX_CE);
    assert_int_equal(in->parameters, 3 * 8 + 8 + 8 * 2 + 2);
    assert_true(in->has_trainer);
    assert_int_equal(in->epochs_done, 2);
    assert_int_equal(in->train.epochs, 2);
    assert_int_equal(in->train.batch, 8);
    assert_true(in->train.optim.kind == NN_OPTIM_MOMENTUM);
    assert_true(in->train.optim.lr == 0.05f);   /* the base rate */
    assert_close(in->lr, 0.05 * 0.5, 1e-6, 0);  /* the second epoch's */
    assert_true(in->train.optim.momentum == 0.7f);
    assert_true(in->train.optim.weight_decay == 1e-3f);
    assert_true(in->train.l1 == 1e-4f && in->train.l2 == 1e-3f && in->train.clip_norm == 0.5f);
    assert_true(in->train.penalize_biases && in->train.decay_biases && in->train.keep_last &&
                in->train.drop_last && !in->train.no_shuffle);
    assert_int_equal(in->train.schedule.kind, NN_SCHED_STEP);
    assert_int_equal(in->train.schedule.step_size, 1);
    assert_true(in->train.schedule.gamma == 0.5);
    assert_non_null(in->history);
    assert_int_equal(in->history[1].epoch, 2);
    assert_string_equal(nn_checkpoint_meta(ck, "data"), "blobs.csv");
    assert_string_equal(nn_checkpoint_meta(ck, "note"), "x");
    assert_null(nn_checkpoint_meta(ck, "train"));
    assert_null(nn_checkpoint_meta(ck, "nosuch"));

    struct nn_train_cfg again = in->train;
    again.epochs = 4;
    nn_model *m3 = nn_model_new(c3, in->spec, NULL);
    nn_trainer *t3 = nn_trainer_new(m3, &again);
    nn_checkpoint_close(ck);
    assert_ok(c3, nn_trainer_resume(t3, path("cfg.safetensors")));
    assert_ok(c3, nn_trainer_fit(t3, &src, NULL));
    const float *w1 = nn_graph_param_block(nn_model_graph(m1));
    const float *w3 = nn_graph_param_block(nn_model_graph(m3));
    for (int64_t i = 0; i < nn_graph_param_count(nn_model_graph(m1)); i++)
        if (memcmp(&w1[i], &w3[i], sizeof *w1) != 0)
            fail_msg("parameter %lld: %.9g straight, %.9g resumed", (long long)i,
                     (double)w1[i], (double)w3[i]);

    /* weights only: no trainer; a foreign file: an error naming it */
    assert_ok(c3, nn_checkpoint_save(path("w.safetensors"), m3, NULL, NULL, NULL, 0));
    ck = nn_checkpoint_open(c3, path("w.safetensors"));
    assert_non_null(ck);
    assert_false(nn_checkpoint_info(ck)->has_trainer);
    assert_int_equal(nn_checkpoint_info(ck)->epochs_done, 0);
    nn_checkpoint_close(ck);
    struct nn_st_tensor one = {"w", "F32", 1, {1}, X};
    assert_ok(c3, nn_safetensors_save(c3, path("plain.safetensors"), &one, 1, NULL, NULL, 0));
    assert_null(nn_checkpoint_open(c3, path("plain.safetensors")));
    expect_error(c3, "not a libnn checkpoint", "plain.safetensors");
    nn_trainer_free(t1);
    nn_model_free(m1);
    nn_ctx_free(c1);
    nn_trainer_free(t3);
    nn_model_free(m3);
    nn_ctx_free(c3);
}

NN_GROUP_FIXTURE(checkpoint, setup, teardown,
                 cmocka_unit_test(round_trip),
                 cmocka_unit_test(history_text_follows_resume),
                 cmocka_unit_test(resume_through_the_api),
                 cmocka_unit_test(mismatched_and_foreign_files),
                 cmocka_unit_test(info_restores_the_configuration))
