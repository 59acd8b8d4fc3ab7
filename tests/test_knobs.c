/*
 * test_knobs.c - issue 20's knobs through the nn program: every optimizer
 * hyperparameter set by its flag reaches the update (checked against the
 * torch.optim fixtures), flags an optimizer does not read are refused,
 * dense layers without a bias, per-step schedules, what early stopping
 * watches, stopping at convergence, and training metrics measured in
 * evaluation mode; each recorded so that --resume restores it.
 */
#include "test.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char nn_bin[4200];
static char dir[256];

#define run cli_run
static char out[1 << 16];

/* Three separable blobs in 4 features: blobs.csv (300 rows). */
static int setup(void **state)
{
    (void)state;
    snprintf(nn_bin, sizeof nn_bin, "%s", cli_nn());
    if (cli_tmpdir(dir, sizeof dir, "knobs") != 0)
        return -1;
    char path[512];
    snprintf(path, sizeof path, "%s/blobs.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "a,b,c,d,kind\n");
    unsigned s = 11;
    for (int i = 0; i < 300; i++) {
        int c = i % 3;
        for (int j = 0; j < 4; j++) {
            s = s * 1103515245u + 12345u;
            double u = ((s >> 8) & 0xffff) / 65536.0 - 0.5;
            fprintf(f, "%.4f,", (c == j % 3 ? 1.0 : -0.5) + 1.5 * u);
        }
        fprintf(f, "k%d\n", c);
    }
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return cli_rmdir(dir);
}

/* ---- item 1: every optimizer hyperparameter from the command line ---- */

#define K(x) (1u << NN_OPTIM_##x)
/* lbfgs evaluates its own loss: its fixtures (gen_lbfgs.py) replay through
 * a closure, not these, and its flags are checked by test_cli_lbfgs.c */
#define ALL (((1u << NN_OPTIM_COUNT) - 1) & ~K(LBFGS))
/* Every field of nn_optim_cfg but kind and filled, its flag, and the kinds
 * that read it (torch.optim's arguments). */
static const struct {
    const char *field, *flag;
    size_t off;
    bool is_bool;
    unsigned kinds;
} fields[] = {
#define F(f, flag, kinds) {#f, flag, offsetof(struct nn_optim_cfg, f), false, kinds}
#define B(f, flag, kinds) {#f, flag, offsetof(struct nn_optim_cfg, f), true, kinds}
    F(lr, "lr", ALL),
    F(momentum, "momentum", K(SGD) | K(MOMENTUM) | K(NESTEROV) | K(RMSPROP)),
    F(dampening, "dampening", K(SGD) | K(MOMENTUM)), /* nesterov needs 0 (torch) */
    F(weight_decay, "weight-decay", ALL),
    B(decoupled, "decoupled", ALL & ~K(ADAMW) & ~K(ADAFACTOR)), /* always on there */
    F(beta1, "beta1", K(ADAM) | K(ADAMW)),
    F(beta2, "beta2", K(ADAM) | K(ADAMW)),
    F(eps, "eps", ALL & ~(K(SGD) | K(MOMENTUM) | K(NESTEROV))),
    F(eps2, "eps2", K(ADAFACTOR)),
    F(rho, "rho", K(ADADELTA)),
    F(alpha, "alpha", K(RMSPROP)),
    F(lr_decay, "lr-decay", K(ADAGRAD)),
    F(initial_accumulator_value, "initial-accumulator", K(ADAGRAD)),
    F(beta2_decay, "beta2-decay", K(ADAFACTOR)),
    F(clip_threshold, "clip-threshold", K(ADAFACTOR)),
    B(amsgrad, "amsgrad", K(ADAM) | K(ADAMW)),
    B(centered, "centered", K(RMSPROP)),
#undef F
#undef B
};
#define NFIELDS (sizeof fields / sizeof fields[0])
/* A new field of nn_optim_cfg changes its size: add it to the table above
 * (14 floats, 4 bools and the kind on the ABIs libnn builds for; plus
 * lbfgs's 3 ints, 2 floats and line-search enum, see above). */
_Static_assert(sizeof(struct nn_optim_cfg) == 96, "nn_optim_cfg changed: update fields[]");

static double field_value(const struct nn_optim_cfg *c, size_t i)
{
    const char *p = (const char *)c + fields[i].off;
    return fields[i].is_bool ? (double)*(const bool *)p : (double)*(const float *)p;
}

/* Each fixture's configuration given as flags to nn train, whose
 * checkpoint's optimizer (what the trainer ran with) then replays the
 * fixture on torch's trajectory; every field every kind reads is set away
 * from its default by at least one fixture. */
static void every_optim_flag_reaches_the_update(void **state)
{
    (void)state;
    const char *const *names;
    int nfix = nn_test_optim_fixtures(&names);
    bool covered[NFIELDS][NN_OPTIM_COUNT] = {{false}};
    nn_ctx *ctx = nn_ctx_new(NULL);
    for (int k = 0; k < nfix; k++) {
        struct nn_optim_cfg fc, def;
        nn_test_optim_fixture_cfg(names[k], &fc);
        def = (struct nn_optim_cfg){.kind = fc.kind};
        nn_optim_defaults(&def);
        char flags[1024] = "";
        size_t n = 0;
        for (size_t i = 0; i < NFIELDS; i++) {
            double v = field_value(&fc, i);
            if (v == 0)
                continue; /* not in the fixture: the default */
            if (fields[i].is_bool)
                n += (size_t)snprintf(flags + n, sizeof flags - n, " --%s", fields[i].flag);
            else
                n += (size_t)snprintf(flags + n, sizeof flags - n, " --%s %.9g",
                                      fields[i].flag, v);
            if (v != field_value(&def, i))
                covered[i][fc.kind] = true;
        }
        int rc = run(out, sizeof out,
                     "%s train --data %s/blobs.csv --model '4 dense:8 relu dense:3' "
                     "--epochs 1 --batch 300 --optim %s%s --out %s/o.safetensors --quiet",
                     nn_bin, dir, nn_optim_name(fc.kind), flags, dir);
        if (rc != 0)
            fail_msg("%s: nn train --optim %s%s failed: %s", names[k],
                     nn_optim_name(fc.kind), flags, out);
        char path[512];
        snprintf(path, sizeof path, "%s/o.safetensors", dir);
        nn_checkpoint *ck = nn_checkpoint_open(ctx, path);
        assert_non_null(ck);
        const struct nn_checkpoint_info *in = nn_checkpoint_info(ck);
        assert_true(in->has_trainer);
        assert_int_equal(in->optim_steps, 1);
        nn_test_optim_replay(names[k], &in->train.optim);
        nn_checkpoint_close(ck);
    }
    for (size_t i = 0; i < NFIELDS; i++)
        for (int k = 0; k < NN_OPTIM_COUNT; k++)
            if ((fields[i].kinds & (1u << k)) && !covered[i][k])
                fail_msg("no fixture sets %s (--%s) of %s away from its default",
                         fields[i].field, fields[i].flag, nn_optim_name((nn_optim_kind)k));
    nn_ctx_free(ctx);
}

/* A flag the optimizer does not read is refused, naming it and the kind
 * (0 included: a value that would change nothing is still a mistake). */
static void unused_optim_flags_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *optim, *flag;
    } bad[] = {
        {"adam", "--eps2 1e-3"}, {"adamw", "--beta2-decay -0.8"},
        {"sgd", "--clip-threshold 1"}, {"rmsprop", "--lr-decay 0"},
        {"adafactor", "--initial-accumulator 0.1"}, {"adam", "--rho 0.9"},
        {"adagrad", "--eps2 0.01"}, {"sgd", "--eps 1e-8"},
        {"adafactor", "--beta1 0.9"}, {"adam", "--centered"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = run(out, sizeof out,
                     "%s train --data %s/blobs.csv --epochs 1 --optim %s %s --out "
                     "%s/bad.safetensors", nn_bin, dir, bad[i].optim, bad[i].flag, dir);
        char flag[64];
        sscanf(bad[i].flag, "%63s", flag);
        if (rc != 1 || !strstr(out, flag) || !strstr(out, bad[i].optim) ||
            !strstr(out, "not a hyperparameter"))
            fail_msg("--optim %s %s: exit %d, output: %s", bad[i].optim, bad[i].flag, rc, out);
    }
    /* and the flags are documented with their defaults */
    assert_int_equal(run(out, sizeof out, "%s help train", nn_bin), 0);
    const char *doc[] = {"--eps2 F", "(1e-3)", "--beta2-decay F", "(-0.8)",
                         "--clip-threshold F", "(1.0)", "--lr-decay F",
                         "--initial-accumulator F"};
    for (size_t i = 0; i < sizeof doc / sizeof doc[0]; i++)
        if (!strstr(out, doc[i]))
            fail_msg("nn help train lacks '%s'", doc[i]);
}

/* The new flags are recorded: repeating them on --resume agrees, another
 * value is refused, and the INI file sets them too. */
static void optim_flags_resume_and_ini(void **state)
{
    (void)state;
    char ini[512];
    snprintf(ini, sizeof ini, "%s/k.ini", dir);
    FILE *f = fopen(ini, "w");
    assert_non_null(f);
    fprintf(f, "optim = adafactor\neps2 = 0.02\nbeta2-decay = -0.7\nclip-threshold = 1.25\n");
    fclose(f);
    int rc = run(out, sizeof out,
                 "%s train --data %s/blobs.csv --epochs 1 --config %s --out %s/r.safetensors "
                 "--quiet", nn_bin, dir, ini, dir);
    assert_int_equal(rc, 0);
    nn_ctx *ctx = nn_ctx_new(NULL);
    char path[512];
    snprintf(path, sizeof path, "%s/r.safetensors", dir);
    nn_checkpoint *ck = nn_checkpoint_open(ctx, path);
    assert_non_null(ck);
    const struct nn_optim_cfg *oc = &nn_checkpoint_info(ck)->train.optim;
    assert_int_equal(oc->kind, NN_OPTIM_ADAFACTOR);
    assert_true(oc->eps2 == 0.02f && oc->beta2_decay == -0.7f && oc->clip_threshold == 1.25f);
    nn_checkpoint_close(ck);
    nn_ctx_free(ctx);
    rc = run(out, sizeof out, "%s train --resume %s --epochs 2 --eps2 0.02 --quiet", nn_bin,
             path);
    if (rc != 0)
        fail_msg("resume repeating --eps2: %s", out);
    rc = run(out, sizeof out, "%s train --resume %s --epochs 3 --clip-threshold 2", nn_bin, path);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "--clip-threshold 2 contradicts"));
}

/* ---- item 2: dense layers without a bias ---- */

static void dense_without_bias(void **state)
{
    (void)state;
    const char *specs[] = {"4 dense:8,bias=no relu dense:3,bias=no",
                           "4 dense:8:bias=no relu dense:3:bias=no"};
    nn_ctx *ctx = nn_ctx_new(NULL);
    for (int k = 0; k < 2; k++) {
        int rc = run(out, sizeof out,
                     "%s train --data %s/blobs.csv --model '%s' --epochs 20 --lr 0.01 "
                     "--val-split 0.2 --out %s/nb.safetensors --quiet", nn_bin, dir, specs[k],
                     dir);
        if (rc != 0)
            fail_msg("%s: %s", specs[k], out);
        char path[512];
        snprintf(path, sizeof path, "%s/nb.safetensors", dir);
        nn_model *m = nn_model_load(ctx, path, NULL);
        if (!m)
            fail_msg("%s: %s", specs[k], nn_ctx_error(ctx));
        nn_graph *g = nn_model_graph(m);
        assert_int_equal(nn_graph_nparams(g), 2); /* the two weights alone */
        assert_null(nn_graph_find(g, "dense1.bias"));
        assert_null(nn_graph_find(g, "dense2.bias"));
        assert_int_equal(nn_graph_param_count(g), 4 * 8 + 8 * 3);
        assert_non_null(strstr(nn_model_spec(m), "bias=no"));
        nn_model_free(m);
        /* it learned without: eval agrees the blobs separate */
        rc = run(out, sizeof out, "%s eval %s --data %s/blobs.csv --json", nn_bin, path, dir);
        assert_int_equal(rc, 0);
        const char *a = strstr(out, "\"accuracy\": ");
        assert_non_null(a);
        if (!(atof(a + 12) > 0.9))
            fail_msg("%s: eval accuracy %s", specs[k], a);
    }
    nn_ctx_free(ctx);
    int rc = run(out, sizeof out, "%s train --data %s/blobs.csv --model '4 dense:3,bias=maybe' "
                 "--epochs 1", nn_bin, dir);
    if (rc != 1 || !strstr(out, "bias=maybe") || !strstr(out, "takes no, yes or an initializer"))
        fail_msg("bias=maybe: exit %d: %s", rc, out);
}

/* ---- items 4-6: what early stopping watches, convergence, eval metrics ---- */

static void monitor_tol_and_train_metrics(void **state)
{
    (void)state;
    /* --tol stops at convergence without validation data, and says so */
    int rc = run(out, sizeof out, "%s train --data %s/blobs.csv --epochs 200 --tol 0.2 "
                 "--out %s/tol.safetensors", nn_bin, dir, dir);
    if (rc != 0 || !strstr(out, "converged after epoch"))
        fail_msg("--tol 0.2: exit %d: %s", rc, out);
    assert_null(strstr(out, "epoch 200 "));
    rc = run(out, sizeof out, "%s train --data %s/blobs.csv --tol -0.1", nn_bin, dir);
    if (rc == 0 || !strstr(out, "--tol") || !strstr(out, "-0.1"))
        fail_msg("--tol -0.1: exit %d: %s", rc, out);
    /* --monitor val_acc needs validation data; an unknown value is named */
    rc = run(out, sizeof out, "%s train --data %s/blobs.csv --monitor val_acc --patience 2",
             nn_bin, dir);
    if (rc != 1 || !strstr(out, "--monitor val_acc needs validation data"))
        fail_msg("--monitor val_acc without validation: exit %d: %s", rc, out);
    rc = run(out, sizeof out, "%s train --data %s/blobs.csv --monitor accuracy", nn_bin, dir);
    if (rc != 1 || !strstr(out, "'accuracy'"))
        fail_msg("--monitor accuracy: exit %d: %s", rc, out);
    /* early stopping on the validation accuracy, with eval-mode training metrics */
    rc = run(out, sizeof out,
             "%s train --data %s/blobs.csv --model '4 dense:16 relu dropout:0.5 dense:3' "
             "--val-split 0.2 --epochs 60 --monitor val_acc --patience 3 --train-metrics eval "
             "--log %s/m.csv --out %s/m.safetensors", nn_bin, dir, dir, dir);
    if (rc != 0 || !strstr(out, "best validation accuracy at epoch"))
        fail_msg("--monitor val_acc: exit %d: %s", rc, out);
    char path[512];
    snprintf(path, sizeof path, "%s/m.csv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[256];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_non_null(strstr(line, "epoch,eval_loss,eval_accuracy,"));
    rc = run(out, sizeof out, "%s info %s/m.safetensors", nn_bin, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "training loss and accuracy: eval"));
    nn_ctx *ctx = nn_ctx_new(NULL);
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    nn_checkpoint *ck = nn_checkpoint_open(ctx, path);
    assert_non_null(ck);
    const struct nn_checkpoint_info *in = nn_checkpoint_info(ck);
    assert_true(in->train.monitor_acc && in->train.train_eval);
    assert_true(in->stopped_early && in->best_epoch > 0);
    /* the best epoch is the one of highest validation accuracy (first of ties) */
    int best = 0;
    for (int i = 0; i < in->epochs_done; i++)
        if (!best || in->history[i].val.accuracy > in->history[best - 1].val.accuracy)
            best = i + 1;
    assert_int_equal(in->best_epoch, best);
    /* the recorded settings are checked on resume */
    nn_checkpoint_close(ck);
    nn_ctx_free(ctx);
    rc = run(out, sizeof out, "%s train --resume %s/tol.safetensors --epochs 300 --tol 0.3",
             nn_bin, dir);
    if (rc != 1 || !strstr(out, "--tol 0.3 contradicts"))
        fail_msg("resume --tol 0.3: exit %d: %s", rc, out);
    rc = run(out, sizeof out, "%s train --resume %s/tol.safetensors --epochs 300 "
             "--train-metrics eval", nn_bin, dir);
    if (rc != 1 || !strstr(out, "--train-metrics eval contradicts"))
        fail_msg("resume --train-metrics: exit %d: %s", rc, out);
    /* eval-mode training metrics are what nn eval measures on the training data */
    rc = run(out, sizeof out, "%s train --data %s/blobs.csv --model '4 dense:16 relu "
             "dropout:0.5 dense:3' --epochs 3 --train-metrics eval --log %s/e.csv --out "
             "%s/e.safetensors --quiet", nn_bin, dir, dir, dir);
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, "tail -1 %s/e.csv", dir);
    double loss = 0, acc = 0;
    assert_int_equal(sscanf(out, "3,%lf,%lf", &loss, &acc), 2);
    rc = run(out, sizeof out, "%s eval %s/e.safetensors --data %s/blobs.csv --json", nn_bin,
             dir, dir);
    assert_int_equal(rc, 0);
    const char *a = strstr(out, "\"accuracy\": "), *l = strstr(out, "\"loss\": ");
    assert_non_null(a);
    assert_non_null(l);
    assert_close(atof(a + 12), acc, 0, 1e-6);
    assert_close(atof(l + 8), loss, 1e-5, 1e-6);
}

NN_GROUP_FIXTURE(knobs, setup, teardown,
                 cmocka_unit_test(every_optim_flag_reaches_the_update),
                 cmocka_unit_test(unused_optim_flags_are_refused),
                 cmocka_unit_test(optim_flags_resume_and_ini),
                 cmocka_unit_test(dense_without_bias),
                 cmocka_unit_test(monitor_tol_and_train_metrics))
