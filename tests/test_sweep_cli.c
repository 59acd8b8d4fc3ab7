/*
 * test_sweep_cli.c - nn sweep (issue 18 item 2), driving the built nn:
 * the CSV's rows, the best setting against the CSV's own means, the saved
 * model and plot, resuming after lost rows, the same results for any
 * --jobs, Ctrl-C, the errors for bad lists and commands; nn train's
 * --split-seed, which the sweep's restarts share, and --save-every, which
 * long full-batch runs such as examples/sine.sh need; nn plot --fit.
 */
#include "test.h"

#include <signal.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256];
static char out[1 << 16];
#define run cli_run

/* Noisy sin(2 pi x) at 40 points, from a fixed generator. */
static int setup(void **state)
{
    (void)state;
    if (cli_tmpdir(dir, sizeof dir, "sweep") != 0)
        return -1;
    return cli_write_sine(dir);
}

static int teardown(void **state)
{
    (void)state;
    return cli_rmdir(dir);
}

#define SWEEP "%s sweep --model '1 dense:{2,6} tanh dense:1' --restarts 3 --data %s/sine.csv " \
              "--label y --val-split 0.3 --epochs 4 --batch 28 --lr 0.05"

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    char *copy = strdup(buf);
    assert_non_null(copy);
    return copy;
}

/* Runs the small sweep into DIR/name; its output in out. */
static void small_sweep(const char *name, int jobs)
{
    int rc = run(out, sizeof out, SWEEP " --jobs %d --out-dir %s/%s", cli_nn(), dir, jobs, dir,
                 name);
    if (rc != 0)
        fail_msg("nn sweep exited %d:\n%s", rc, out);
}

/* The CSV's rows: setting, restart, seed and validation loss of each. */
struct csv_row {
    int setting, restart;
    unsigned long long seed;
    double val_loss;
};

static int read_rows(const char *csv, struct csv_row *rows, int max)
{
    char *text = slurp(csv), *line = strchr(text, '\n');
    assert_non_null(line);
    static const char header[] = "setting,model,restart,seed,train_loss,train_accuracy,"
                                 "train_mae,val_loss,val_accuracy,val_mae,epochs\n";
    assert_int_equal((size_t)(line - text) + 1, strlen(header));
    assert_memory_equal(text, header, strlen(header));
    int n = 0;
    for (char *p = line + 1; *p && n < max; n++) {
        char model[32];
        double tl, vl;
        if (sscanf(p, "%d,%31[^,],%d,%llu,%lf,,%*[^,],%lf", &rows[n].setting, model,
                   &rows[n].restart, &rows[n].seed, &tl, &vl) != 6)
            fail_msg("bad row: %.80s", p);
        rows[n].val_loss = vl;
        p = strchr(p, '\n');
        assert_non_null(p);
        p++;
    }
    free(text);
    return n;
}

static void test_sweep_rows_best_model_plot(void **state)
{
    (void)state;
    small_sweep("a", 2);
    char path[512];
    snprintf(path, sizeof path, "%s/a/sweep.csv", dir);
    struct csv_row rows[16];
    int n = read_rows(path, rows, 16);
    assert_int_equal(n, 6);
    double mean[2] = {0, 0};
    for (int i = 0; i < n; i++) { /* in order: setting 1 restarts 0-2, then setting 2 */
        assert_int_equal(rows[i].setting, 1 + i / 3);
        assert_int_equal(rows[i].restart, i % 3);
        assert_int_equal(rows[i].seed, 1 + i % 3);
        assert_true(isfinite(rows[i].val_loss) && rows[i].val_loss > 0);
        mean[i / 3] += rows[i].val_loss / 3;
    }
    assert_true(mean[0] != mean[1]);
    int best = mean[0] < mean[1] ? 1 : 2;
    char want[64];
    snprintf(want, sizeof want, "best setting: %d (model=%s)", best, best == 1 ? "2" : "6");
    if (!strstr(out, want))
        fail_msg("expected '%s' in:\n%s", want, out);
    /* the best model loads, and is its setting's kept model */
    char best_path[512], kept[512];
    snprintf(best_path, sizeof best_path, "%s/a/best.safetensors", dir);
    snprintf(kept, sizeof kept, "%s/a/models/setting-%d.safetensors", dir, best);
    nn_ctx *ctx = nn_ctx_new(NULL);
    assert_non_null(ctx);
    nn_model *m = nn_model_load(ctx, best_path, NULL);
    if (!m)
        fail_msg("%s", nn_ctx_error(ctx));
    assert_int_equal(nn_model_outputs(m), 1);
    nn_model_free(m);
    nn_ctx_free(ctx);
    cli_same_tensors(best_path, kept);
    /* the plot is a PNG */
    snprintf(path, sizeof path, "%s/a/sweep.png", dir);
    char *png = slurp(path);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    free(png);
}

/* Its best restart's model is what nn train gives for that run: the
 * sweep's run is an nn train with the restart's seed and the shared split. */
static void test_sweep_run_is_train(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/a/sweep.csv", dir);
    struct csv_row rows[16];
    assert_int_equal(read_rows(path, rows, 16), 6);
    int k = 0; /* setting 1's best restart */
    for (int i = 1; i < 3; i++)
        if (rows[i].val_loss < rows[k].val_loss)
            k = i;
    int rc = run(out, sizeof out, "%s train --model '1 dense:2 tanh dense:1' --data %s/sine.csv "
                 "--label y --val-split 0.3 --split-seed 1 --seed %llu --epochs 4 --batch 28 "
                 "--lr 0.05 --threads 1 --quiet --out %s/one.safetensors", cli_nn(), dir,
                 rows[k].seed, dir);
    if (rc != 0)
        fail_msg("nn train exited %d:\n%s", rc, out);
    char one[512], kept[512];
    snprintf(one, sizeof one, "%s/one.safetensors", dir);
    snprintf(kept, sizeof kept, "%s/a/models/setting-1.safetensors", dir);
    cli_same_tensors(one, kept);
}

static void test_sweep_resume_and_jobs(void **state)
{
    (void)state;
    char full[512], path[512], cut[512];
    snprintf(full, sizeof full, "%s/a/sweep.csv", dir);
    char *whole = slurp(full);
    /* another folder with --jobs 1: the same rows, the same best model */
    small_sweep("b", 1);
    snprintf(path, sizeof path, "%s/b/sweep.csv", dir);
    char *b = slurp(path);
    assert_string_equal(b, whole);
    free(b);
    char m1[512], m2[512];
    snprintf(m1, sizeof m1, "%s/a/best.safetensors", dir);
    snprintf(m2, sizeof m2, "%s/b/best.safetensors", dir);
    cli_same_tensors(m1, m2);
    /* the last two rows lost: only those two run again */
    size_t len = strlen(whole);
    int nl = 0;
    while (len > 0 && nl < 3)
        nl += whole[--len] == '\n';
    snprintf(cut, sizeof cut, "%.*s", (int)len + 1, whole);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(cut, f);
    fclose(f);
    assert_int_equal(cli_count_lines(cut, ""), 5);
    small_sweep("b", 2);
    if (!strstr(out, "resuming: 4 of 6 runs") || !strstr(out, "6 runs, 2 to do"))
        fail_msg("expected a resumed sweep of 2 runs:\n%s", out);
    b = slurp(path);
    assert_string_equal(b, whole);
    free(b);
    /* a third time: nothing to run */
    small_sweep("b", 2);
    assert_null(strstr(out, "to do"));
    assert_non_null(strstr(out, "resuming: 6 of 6 runs"));
    free(whole);
}

/* Ctrl-C: the runs finished are in the CSV, the rest are not, no run's
 * files are left, and the exit code is 130. */
static void test_sweep_interrupt(void **state)
{
    (void)state;
    char cmd[2048], csv[512];
    snprintf(csv, sizeof csv, "%s/c/sweep.csv", dir);
    snprintf(cmd, sizeof cmd, "exec %s sweep --model '1 dense:2 tanh dense:1' --epochs "
             "'{3,300000}' --data %s/sine.csv --label y --val-split 0.3 --jobs 1 --quiet "
             "--out-dir %s/c > %s/c.out 2>&1", cli_nn(), dir, dir, dir);
    pid_t pid = cli_spawn(cmd);
    /* wait for the first run's row (up to 60 s on a busy machine) */
    bool row = false;
    for (int i = 0; i < 600 && !row; i++) {
        nap_ms(100);
        FILE *f = fopen(csv, "r");
        if (f) {
            char line[512];
            int n = 0;
            while (fgets(line, sizeof line, f))
                n++;
            fclose(f);
            row = n >= 2;
        }
    }
    nap_ms(300); /* the second run under way */
    kill(pid, SIGINT);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(row);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 130);
    char *text = slurp(csv);
    assert_int_equal(cli_count_lines(text, ""), 2);
    assert_int_equal(cli_count_lines(text, "1,3,0,1,"), 1);
    free(text);
    char path[512];
    snprintf(path, sizeof path, "%s/c.out", dir);
    text = slurp(path);
    assert_non_null(strstr(text, "sweep interrupted: 1 of 2 runs"));
    free(text);
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s/c/runs)\"", dir);
    assert_int_equal(system(cmd), 0);
}

static void expect_error(const char *args, const char *message)
{
    int rc = run(out, sizeof out, "%s sweep --data %s/sine.csv --label y --out-dir %s/e %s",
                 cli_nn(), dir, dir, args);
    if (rc == 0 || rc >= 1000 || !strstr(out, message))
        fail_msg("nn sweep %s: exit %d, expected a message with '%s':\n%s", args, rc, message,
                 out);
}

static void test_sweep_errors(void **state)
{
    (void)state;
    const char *vs = "--val-split 0.3";
    char a[512];
    static const struct {
        const char *model, *message;
    } lists[] = {
        {"{1..}", "'{1..}' in '1 dense:{1..} tanh dense:1' is not a range"},
        {"{a..3}", "'{a..3}' in '1 dense:{a..3} tanh dense:1' is not a range"},
        {"{1..3", "has a '{' without its '}'"},
        {"1..3}", "has a '}' without its '{'"},
        {"{2,}", "has an empty item"},
        {"{5..1}", "zero combinations"},
        {"{1..4..0}", "the step must be positive"},
    };
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        snprintf(a, sizeof a, "--model '1 dense:%s tanh dense:1' %s", lists[i].model, vs);
        expect_error(a, lists[i].message);
    }
    expect_error("--model '1 dense:{1..3} tanh dense:1'", "give --val-split F");
    expect_error("--model '1 dense:{1..200} tanh dense:1' --restarts 60 --val-split 0.3",
                 "200 settings x 60 restarts = 12000 runs, more than 10000");
    expect_error("--lr '{0.1,x}' --val-split 0.3", "--lr must be a number");
    expect_error("--restarts '{1,2}' --val-split 0.3", "--restarts cannot be a list");
    expect_error("--restart 3 --val-split 0.3", "did you mean --restarts?");
    expect_error("--log x.csv --val-split 0.3", "unknown option '--log'");
    /* the folder of another sweep */
    int rc = run(out, sizeof out, SWEEP " --out-dir %s/a --epochs 5", cli_nn(), dir, dir);
    assert_int_not_equal(rc, 0);
    if (!strstr(out, "written by a different sweep: --epochs was '4', now '5'"))
        fail_msg("expected the difference named:\n%s", out);
}

/* nn train --split-seed: recorded, and checked on --resume. */
static void test_train_split_seed(void **state)
{
    (void)state;
    int rc = run(out, sizeof out, "%s train --model '1 dense:2 tanh dense:1' --data %s/sine.csv "
                 "--label y --val-split 0.3 --split-seed 7 --epochs 1 --quiet "
                 "--out %s/ss.safetensors",
                 cli_nn(), dir, dir);
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, "%s train --resume %s/ss.safetensors --split-seed 8 --epochs 2",
             cli_nn(), dir);
    assert_int_not_equal(rc, 0);
    if (!strstr(out, "--split-seed 8 contradicts") || !strstr(out, "split-seed 7"))
        fail_msg("expected the split seed refused:\n%s", out);
    rc = run(out, sizeof out, "%s train --resume %s/ss.safetensors --split-seed 7 --epochs 2 "
             "--quiet", cli_nn(), dir);
    if (rc != 0)
        fail_msg("resume with the same --split-seed: exit %d\n%s", rc, out);
}

/* nn train --save-every N: a checkpoint every N epochs and after the last,
 * which --resume continues from; the flag may change on resume. */
static void test_train_save_every(void **state)
{
    (void)state;
    int rc = run(out, sizeof out, "%s train --model '1 dense:2 tanh dense:1' --data %s/sine.csv "
                 "--label y --epochs 3 --save-every 2 --out %s/se.safetensors", cli_nn(), dir, dir);
    if (rc != 0)
        fail_msg("exit %d\n%s", rc, out);
    rc = run(out, sizeof out, "%s train --resume %s/se.safetensors --epochs 5 --save-every 10",
             cli_nn(), dir);
    if (rc != 0 || !strstr(out, "after epoch 3") || !strstr(out, "epoch   5"))
        fail_msg("expected a resume after epoch 3 to epoch 5: exit %d\n%s", rc, out);
    rc = run(out, sizeof out, "%s train --model '1 dense:2 tanh dense:1' --data %s/sine.csv "
             "--save-every 0 --out %s/se0.safetensors", cli_nn(), dir, dir);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--save-every must be an integer from 1"));
}

/* nn plot A,B --fit: the curves of 1-input regression models over the
 * points, as a PNG naming each model's error; other models are refused. */
static void test_plot_fit(void **state)
{
    (void)state;
    for (int m = 1; m <= 3; m += 2) {
        int rc = run(out, sizeof out, "%s train --model '1 dense:%d tanh dense:1' --data "
                     "%s/sine.csv --label y --epochs 3 --batch 40 --quiet "
                     "--out %s/fit%d.safetensors",
                     cli_nn(), m, dir, dir, m);
        if (rc != 0)
            fail_msg("exit %d\n%s", rc, out);
    }
    int rc = run(out, sizeof out, "%s plot %s/fit1.safetensors,%s/fit3.safetensors --fit "
                 "--out %s/fits.png", cli_nn(), dir, dir, dir);
    if (rc != 0 || !strstr(out, "fitted curves written to"))
        fail_msg("exit %d\n%s", rc, out);
    char path[512];
    snprintf(path, sizeof path, "%s/fits.png", dir);
    char *png = slurp(path);
    assert_memory_equal(png, "\x89PNG\r\n\x1a\n", 8);
    free(png);
    /* a model of 2 inputs, and a classifier */
    cli_write(dir, "two.csv", "a,b,y\n0,1,0.5\n1,0,0.25\n0.5,0.5,1\n1,1,0\n");
    rc = run(out, sizeof out, "%s train --model '2 dense:2 tanh dense:1' --data %s/two.csv "
             "--label y --epochs 1 --quiet --out %s/two.safetensors", cli_nn(), dir, dir);
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, "%s plot %s/fit1.safetensors,%s/two.safetensors --fit", cli_nn(),
             dir, dir);
    if (rc == 0 || !strstr(out, "two.safetensors has 2 inputs, 1 outputs"))
        fail_msg("expected the 2-input model refused: exit %d\n%s", rc, out);
    rc = run(out, sizeof out, "%s plot %s/fit1.safetensors --fit --boundary", cli_nn(), dir);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "one of --curves, --boundary and --fit"));
}

NN_GROUP_FIXTURE(sweep_cli, setup, teardown,
                 cmocka_unit_test(test_sweep_rows_best_model_plot),
                 cmocka_unit_test(test_sweep_run_is_train),
                 cmocka_unit_test(test_sweep_resume_and_jobs),
                 cmocka_unit_test(test_sweep_interrupt),
                 cmocka_unit_test(test_sweep_errors),
                 cmocka_unit_test(test_train_split_seed),
                 cmocka_unit_test(test_train_save_every),
                 cmocka_unit_test(test_plot_fit))
