/*
 * test_cli_lbfgs.c - nn train --optim lbfgs end to end: full-batch fits of
 * noisy sin(2 pi x) with one tanh hidden layer of 3 units, where L-BFGS
 * reaches a low training loss that plain SGD with as many steps does not;
 * exact resume; its flags recorded in the checkpoint and checked on
 * --resume; and the clear refusals (a mini-batch, flags of other
 * optimizers, an unknown line search, chunked training).
 */
#include "test.h"

#include <unistd.h>

static char dir[256];
static char out[16384];

/* 40 samples of sin(2 pi x) + noise (sd about 0.1), x in [0, 1). */
static int setup(void **state)
{
    (void)state;
    if (cli_tmpdir(dir, sizeof dir, "lbfgs") != 0)
        return -1;
    return cli_write_sine(dir);
}

static int teardown(void **state)
{
    (void)state;
    return cli_rmdir(dir);
}

#define FIT "--data %s/sine.csv --label y --model '1 dense:3 tanh dense:1' --seed 4 " \
            "--threads 1 --train-metrics eval --quiet"

/* The last epoch's training loss (whole set, evaluation mode) in a checkpoint. */
static double final_loss(const char *name, int *epochs)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_checkpoint *ck = nn_checkpoint_open(ctx, path);
    if (!ck)
        fail_msg("%s", nn_ctx_error(ctx));
    const struct nn_checkpoint_info *in = nn_checkpoint_info(ck);
    *epochs = in->epochs_done;
    double l = in->epochs_done > 0 ? in->history[in->epochs_done - 1].train.loss : NAN;
    nn_checkpoint_close(ck);
    nn_ctx_free(ctx);
    return l;
}

static void lbfgs_fits_where_sgd_does_not(void **state)
{
    (void)state;
    static const struct {
        const char *flags, *file;
    } runs[] = {
        {"--optim lbfgs", "lb.safetensors"},
        {"--optim lbfgs --line-search strong_wolfe --history 10", "lbw.safetensors"},
        {"--optim sgd --lr 0.1 --batch 40", "sgd.safetensors"},
    };
    double loss[3];
    for (int i = 0; i < 3; i++) {
        int rc = cli_run(out, sizeof out, "%s train " FIT " %s --epochs 10 --out %s/%s", cli_nn(),
                     dir, runs[i].flags, dir, runs[i].file);
        if (rc != 0)
            fail_msg("nn train %s: %s", runs[i].flags, out);
        int epochs;
        loss[i] = final_loss(runs[i].file, &epochs);
        assert_int_equal(epochs, 10);
        if (getenv("NN_OPTIM_REPORT"))
            print_message("%-50s training loss after 10 steps %.5f\n", runs[i].flags, loss[i]);
    }
    /* the noise's variance is about 0.01: a good fit of the sine is near it */
    for (int i = 0; i < 2; i++)
        if (!(loss[i] < 0.03))
            fail_msg("%s: training loss %g after 10 steps, expected < 0.03", runs[i].flags,
                     loss[i]);
    if (!(loss[2] > 0.1 && loss[2] > 5 * loss[0]))
        fail_msg("sgd: training loss %g after 10 full-batch steps, expected > 0.1 and > 5 "
                 "x lbfgs's %g", loss[2], loss[0]);
}

/* Whether tensor name holds the same bytes in two checkpoints of dir. */
static bool same_tensor(const char *a, const char *b, const char *name)
{
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    return cli_tensor_equal(pa, pb, name);
}

/* 3 epochs, then --resume to 6, equal a 6-epoch run bit for bit: weights
 * and the whole L-BFGS state (history 4 < the iterations: the ring wraps). */
static void lbfgs_resume_is_exact(void **state)
{
    (void)state;
    for (int ls = 0; ls < 2; ls++) {
        const char *flags = ls ? "--optim lbfgs --history 4 --max-iter 6 --line-search "
                                 "strong_wolfe"
                               : "--optim lbfgs --history 4 --max-iter 6 --lr 0.5";
        int rc = cli_run(out, sizeof out, "%s train " FIT " %s --epochs 6 --out %s/full.safetensors",
                     cli_nn(), dir, flags, dir);
        if (rc == 0)
            rc = cli_run(out, sizeof out,
                     "%s train " FIT " %s --epochs 3 --out %s/part.safetensors", cli_nn(), dir,
                     flags, dir);
        if (rc == 0) /* repeating the run's flags is allowed */
            rc = cli_run(out, sizeof out, "%s train %s --resume %s/part.safetensors --epochs 6 --quiet",
                     cli_nn(), flags, dir);
        if (rc != 0)
            fail_msg("%s: %s", flags, out);
        assert_true(same_tensor("full.safetensors", "part.safetensors", "dense1.weight"));
        assert_true(same_tensor("full.safetensors", "part.safetensors", "dense2.bias"));
        assert_true(same_tensor("full.safetensors", "part.safetensors", "optim.state"));
        /* the check can fail: another seed's run differs */
        rc = cli_run(out, sizeof out, "%s train " FIT " %s --epochs 6 --seed 5 --out "
                 "%s/other.safetensors", cli_nn(), dir, flags, dir);
        assert_int_equal(rc, 0);
        assert_false(same_tensor("full.safetensors", "other.safetensors", "optim.state"));
    }
}

/* Every lbfgs flag reaches the checkpoint's configuration, and --resume
 * refuses one that contradicts it. */
static void lbfgs_flags_recorded(void **state)
{
    (void)state;
    int rc = cli_run(out, sizeof out,
                 "%s train " FIT " --optim lbfgs --lr 0.5 --history 7 --max-iter 9 "
                 "--tolerance-grad 1e-5 --tolerance-change 1e-6 --line-search strong_wolfe "
                 "--epochs 1 --out %s/f.safetensors", cli_nn(), dir, dir);
    if (rc != 0)
        fail_msg("%s", out);
    char path[512];
    snprintf(path, sizeof path, "%s/f.safetensors", dir);
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_checkpoint *ck = nn_checkpoint_open(ctx, path);
    assert_non_null(ck);
    const struct nn_checkpoint_info *in = nn_checkpoint_info(ck);
    const struct nn_optim_cfg *c = &in->train.optim;
    assert_int_equal(c->kind, NN_OPTIM_LBFGS);
    assert_true(c->lr == 0.5f && c->tolerance_grad == 1e-5f && c->tolerance_change == 1e-6f);
    assert_int_equal(c->history_size, 7);
    assert_int_equal(c->max_iter, 9);
    assert_int_equal(c->max_eval, 11); /* torch's max_iter * 5 // 4 */
    assert_int_equal(c->line_search, NN_LINE_SEARCH_STRONG_WOLFE);
    assert_int_equal(in->train.batch, 40); /* the training set's size */
    nn_checkpoint_close(ck);
    nn_ctx_free(ctx);
    rc = cli_run(out, sizeof out, "%s train --resume %s --epochs 2 --max-eval 3", cli_nn(), path);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "--max-eval 3 contradicts"));
    assert_non_null(strstr(out, "max-eval 11"));
    rc = cli_run(out, sizeof out, "%s train --resume %s --epochs 2 --line-search none", cli_nn(), path);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "line-search strong_wolfe"));
    rc = cli_run(out, sizeof out, "%s help train", cli_nn());
    assert_int_equal(rc, 0);
    const char *want[] = {"--history", "--max-iter", "--max-eval", "--tolerance-grad",
                          "--tolerance-change", "--line-search", "lbfgs", "strong_wolfe"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out, want[i]))
            fail_msg("nn help train does not mention %s", want[i]);
}

static void lbfgs_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *flags, *want1, *want2;
    } bad[] = {
        {"--optim lbfgs --batch 16", "--batch 16 is smaller than the 40", "full-batch"},
        {"--optim lbfgs --line-search strong_wolf", "strong_wolf'", "did you mean strong_wolfe"},
        {"--optim lbfgs --weight-decay 0.1", "--weight-decay", "lbfgs"},
        {"--optim lbfgs --momentum 0.9", "--momentum", "lbfgs"},
        {"--optim adam --history 5", "--history", "only of lbfgs"},
        {"--optim sgd --line-search none", "--line-search", "only of lbfgs"},
        {"--optim lbfg", "lbfg'", "did you mean lbfgs"},
        {"--optim lbfgs --histroy 5", "--histroy", "did you mean --history"},
        {"--optim lbfgs --reproducible", "lbfgs", "reproducible"},
        {"--optim lbfgs --max-iter 0", "--max-iter", "0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = cli_run(out, sizeof out, "%s train " FIT " %s --epochs 1 --out %s/bad.safetensors",
                     cli_nn(), dir, bad[i].flags, dir);
        if (rc == 0 || rc >= 1000)
            fail_msg("%s: exit %d, expected an error: %s", bad[i].flags, rc, out);
        if (!strstr(out, bad[i].want1) || !strstr(out, bad[i].want2))
            fail_msg("%s: message '%s' should name '%s' and '%s'", bad[i].flags, out,
                     bad[i].want1, bad[i].want2);
    }
    /* a batch as large as the data is the full batch: accepted */
    int rc = cli_run(out, sizeof out, "%s train " FIT " --optim lbfgs --batch 40 --epochs 1 --out "
                 "%s/ok.safetensors", cli_nn(), dir, dir);
    if (rc != 0)
        fail_msg("--batch 40: %s", out);
}

NN_GROUP_FIXTURE(cli_lbfgs, setup, teardown,
                 cmocka_unit_test(lbfgs_fits_where_sgd_does_not),
                 cmocka_unit_test(lbfgs_resume_is_exact),
                 cmocka_unit_test(lbfgs_flags_recorded),
                 cmocka_unit_test(lbfgs_refusals))
