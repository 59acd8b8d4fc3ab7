/*
 * test_cli_user.c - the nn program as a Keras or PyTorch user meets it
 * (issue 16): CSV files without a header, Ctrl-C during training, output
 * paths checked before any work, refusing to overwrite another model, and
 * messages that suggest the word meant. Each test drives the built nn
 * binary the way a user types it.
 */
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char nn_bin[4200];
static char dir[256];

#define run cli_run
#define write_file(name, text) cli_write(dir, name, text)
#define count_lines cli_count_lines
static char out[1 << 16];

static int setup(void **state)
{
    (void)state;
    snprintf(nn_bin, sizeof nn_bin, "%s", cli_nn());
    if (cli_tmpdir(dir, sizeof dir, "cli16") != 0)
        return -1;
    /* two numeric features and a 0/1 class, no header */
    write_file("nohdr.csv", "1,2,0\n3,4,1\n5,6,0\n7,8,1\n");
    write_file("in3.csv", "1,2\n3,4\n5,6\n");
    /* a larger headerless set of two blobs, for runs of many batches */
    char path[512];
    snprintf(path, sizeof path, "%s/big.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    unsigned s = 11;
    for (int i = 0; i < 4000; i++) {
        int c = i % 2;
        s = s * 1103515245u + 12345u;
        double u = ((s >> 8) & 0xffff) / 65536.0 - 0.5;
        s = s * 1103515245u + 12345u;
        double v = ((s >> 8) & 0xffff) / 65536.0 - 0.5;
        fprintf(f, "%.4f,%.4f,%d\n", u + c, v - c, c);
    }
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return cli_rmdir(dir);
}

/* A CSV without a header keeps its first row: 4 rows train as 4, and
 * predict on a 3-row file prints 3 lines. --header yes forces the old
 * reading; a bad --header value is named. */
static void headerless_csv_keeps_first_row(void **state)
{
    (void)state;
    int rc = run(out, sizeof out, "%s train --data %s/nohdr.csv --label 2 --model '2 dense:2 softmax' "
                 "--epochs 1 --out %s/h.safetensors", nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "4 training samples"));
    assert_non_null(strstr(out, "no header row"));
    rc = run(out, sizeof out, "%s eval %s/h.safetensors --json", nn_bin, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"n\": 4"));
    rc = run(out, sizeof out, "%s predict %s/h.safetensors --input %s/in3.csv", nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    assert_int_equal(count_lines(out, "2: class"), 1);
    assert_int_equal(count_lines(out, "0: class"), 1);
    /* the first row as names on request: 3 rows, and a header '1,2,0' */
    rc = run(out, sizeof out, "%s train --data %s/nohdr.csv --label 2 --header yes "
             "--model '2 dense:9 softmax' --epochs 1 --out %s/y.safetensors", nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "3 training samples"));
    rc = run(out, sizeof out, "%s train --data %s/nohdr.csv --header maybe --epochs 1 "
             "--out %s/z.safetensors", nn_bin, dir, dir);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "--header must be yes, no or auto, not 'maybe'"));
    /* a header is still found: text above numbers */
    write_file("hdr.csv", "x,y,label\n1,2,0\n3,4,1\n5,6,0\n");
    rc = run(out, sizeof out, "%s train --data %s/hdr.csv --label label --model '2 dense:2 softmax' "
             "--epochs 1 --out %s/w.safetensors", nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "3 training samples"));
    assert_null(strstr(out, "no header row"));
}

/* Starts nn train with args (a shell word list) in the background, its
 * output to log; returns its pid. */
static pid_t spawn_train(const char *args, const char *log)
{
    char cmd[10000];
    snprintf(cmd, sizeof cmd, "exec %s train %s >%s 2>&1", nn_bin, args, log);
    return cli_spawn(cmd);
}

/* Waits (up to 60 s) for path to exist; false if pid ended first. */
static bool wait_for_file(const char *path, pid_t pid)
{
    for (int i = 0; i < 6000; i++) {
        if (access(path, F_OK) == 0)
            return true;
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return false;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}


/* Ctrl-C during nn train: the current batch ends, the checkpoint holds the
 * last whole epoch, the plot is drawn, the message says how to continue,
 * the exit status is 130; resuming gives the weights of a run that was
 * never interrupted, bit for bit. */
static void ctrl_c_stops_cleanly_and_resumes_exactly(void **state)
{
    (void)state;
    char args[4096], ck[512], log[512], plot[512];
    const char *flags = "--data %s/big.csv --label 2 --model '2 dense:16 relu dense:2 softmax' "
                        "--batch 4 --seed 3 --threads 1 --optim sgd --lr 0.01";
    char f[1024];
    snprintf(f, sizeof f, flags, dir);
    snprintf(ck, sizeof ck, "%s/int.safetensors", dir);
    snprintf(plot, sizeof plot, "%s/int.png", dir);
    snprintf(log, sizeof log, "%s/int.out", dir);
    snprintf(args, sizeof args, "%s --epochs 100000 --out %s --plot %s --log %s/int.csv", f, ck,
             plot, dir);
    pid_t pid = spawn_train(args, log);
    assert_true(wait_for_file(ck, pid));
    assert_int_equal(kill(pid, SIGINT), 0);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    cli_read(log, out, sizeof out);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 130)
        fail_msg("status %d, output:\n%s", st, out);
    const char *m = strstr(out, "interrupted after epoch ");
    if (!m)
        fail_msg("%s", out);
    int k = atoi(m + strlen("interrupted after epoch "));
    assert_true(k >= 1);
    assert_non_null(strstr(m, "of 100000"));
    char want[700];
    snprintf(want, sizeof want, "continue with: nn train --resume %s", ck);
    assert_non_null(strstr(out, want));
    assert_int_equal(access(plot, F_OK), 0);
    char csv[512];
    snprintf(csv, sizeof csv, "%s/int.csv", dir);
    cli_read(csv, out, sizeof out);
    assert_int_equal(count_lines(out, ""), k + 1); /* the header and every whole epoch */
    /* resume to k + 2 epochs = a fresh run of k + 2 epochs */
    int rc = run(out, sizeof out, "%s train --resume %s --epochs %d --quiet", nn_bin, ck, k + 2);
    if (rc || strstr(out, "warning")) /* the trainer is rebuilt as saved: no resume warning */
        fail_msg("%s", out);
    rc = run(out, sizeof out, "%s train %s --epochs %d --quiet --out %s/fresh.safetensors",
             nn_bin, f, k + 2, dir);
    if (rc)
        fail_msg("%s", out);
    char fresh[512];
    snprintf(fresh, sizeof fresh, "%s/fresh.safetensors", dir);
    if (!cli_tensor_equal(ck, fresh, "dense1.weight") || !cli_tensor_equal(ck, fresh, "optim.state"))
        fail_msg("interrupted at epoch %d and resumed to %d differs from a fresh run", k, k + 2);
}

/* A second Ctrl-C ends the process at once (it dies of SIGINT in the
 * middle of a long batch) and leaves the last checkpoint whole. */
static void second_ctrl_c_quits_at_once(void **state)
{
    (void)state;
    char args[2048], ck[512], log[512];
    snprintf(ck, sizeof ck, "%s/twice.safetensors", dir);
    snprintf(log, sizeof log, "%s/twice.out", dir);
    /* one batch of 4000 through two 2048-wide layers: a second or so */
    snprintf(args, sizeof args, "--data %s/big.csv --label 2 --model '2 dense:2048 relu "
             "dense:2048 relu dense:2 softmax' --batch 4000 --threads 1 --epochs 1000 --out %s",
             dir, ck);
    /* The first signal must land inside a batch: a little after the
     * first checkpoint, and again if it hit the end of an epoch and the
     * run ended before the second (a loaded machine). */
    int st = 0;
    for (int attempt = 0; attempt < 4; attempt++) {
        unlink(ck);
        pid_t pid = spawn_train(args, log);
        assert_true(wait_for_file(ck, pid));
        struct timespec ts = {0, 150 * 1000 * 1000};
        nanosleep(&ts, NULL);
        assert_int_equal(kill(pid, SIGINT), 0);
        ts.tv_nsec = 30 * 1000 * 1000;
        nanosleep(&ts, NULL);
        kill(pid, SIGINT);
        assert_int_equal(waitpid(pid, &st, 0), pid);
        if (!(WIFEXITED(st) && WEXITSTATUS(st) == 130))
            break;
    }
    cli_read(log, out, sizeof out);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGINT)
        fail_msg("status %d, output:\n%s", st, out);
    assert_non_null(strstr(out, "press Ctrl-C again to quit at once"));
    int rc = run(out, sizeof out, "%s info %s", nn_bin, ck);
    if (rc)
        fail_msg("%s", out);
    assert_non_null(strstr(out, "dense:2048"));
}

/* Ctrl-C in the middle of the matrix products of a Fashion-MNIST-sized
 * network (784-256-128-10, batch 256, random 28 x 28 images): each of 8
 * signals, sent at staggered moments, ends the run with status 130 and
 * its message. (Before the handler had a stack of its own, the signal's
 * frame landed where oneDNN's kernels keep data below the stack pointer,
 * and most such runs died of "corrupted size vs. prev_size".) */
static void ctrl_c_during_products(void **state)
{
    (void)state;
    enum { N = 8192 };
    static uint8_t px[N * 784], lbl[N];
    uint32_t s = 5;
    for (size_t i = 0; i < sizeof px; i++)
        px[i] = (uint8_t)((s = s * 1103515245u + 12345u) >> 24);
    for (int i = 0; i < N; i++)
        lbl[i] = (uint8_t)(i % 10);
    char img[512], lab[512], ck[512], log[512], args[2048];
    snprintf(img, sizeof img, "%s/noise-images.idx", dir);
    snprintf(lab, sizeof lab, "%s/noise-labels.idx", dir);
    cli_write_idx(img, 3, (uint32_t[]){N, 28, 28}, px, sizeof px);
    cli_write_idx(lab, 1, (uint32_t[]){N}, lbl, sizeof lbl);
    snprintf(ck, sizeof ck, "%s/noise.safetensors", dir);
    snprintf(log, sizeof log, "%s/noise.out", dir);
    snprintf(args, sizeof args, "--data idx:%s,%s --batch 256 --threads 1 --epochs 100000 "
             "--out %s --force", img, lab, ck);
    for (int attempt = 0; attempt < 8; attempt++) {
        unlink(ck);
        pid_t pid = spawn_train(args, log);
        assert_true(wait_for_file(ck, pid));
        struct timespec ts = {0, (3 + 7 * attempt) * 1000 * 1000};
        nanosleep(&ts, NULL);
        assert_int_equal(kill(pid, SIGINT), 0);
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        cli_read(log, out, sizeof out);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 130)
            fail_msg("signal %d: status %d, output:\n%s", attempt + 1, st, out);
        assert_non_null(strstr(out, "interrupted after epoch "));
    }
}

/* A loss that becomes NaN: exit 1, the node where it began, and what the
 * disk holds, consistent with the file: "OUT holds epoch N" and OUT has N
 * epochs, or "nothing was written" and there is no OUT. Two learning rates,
 * one that blows up after some epochs and one in the first (on this
 * machine epoch 2 and epoch 1; the test does not depend on which). */
static void nan_loss_says_what_is_saved(void **state)
{
    (void)state;
    const double lrs[] = {1000, 100000};
    for (int i = 0; i < 2; i++) {
        char ck[512];
        snprintf(ck, sizeof ck, "%s/nan%d.safetensors", dir, i);
        unlink(ck);
        int rc = run(out, sizeof out, "%s train --data %s/big.csv --label 2 --model '2 dense:16 "
                     "relu dense:2 softmax' --batch 500 --seed 3 --threads 1 --optim sgd --lr %g "
                     "--epochs 5 --out %s --quiet", nn_bin, dir, lrs[i], ck);
        if (rc != 1 || !strstr(out, "the loss became") ||
            !strstr(out, "the first non-finite value was in node 'dense"))
            fail_msg("--lr %g: exit %d: %s", lrs[i], rc, out);
        const char *held = strstr(out, "holds epoch ");
        if (held) {
            int n = atoi(held + strlen("holds epoch "));
            nn_ctx *ctx = nn_ctx_new(NULL);
            nn_checkpoint *c = nn_checkpoint_open(ctx, ck);
            if (!c || nn_checkpoint_info(c)->epochs_done != n)
                fail_msg("--lr %g says %s holds epoch %d: %s", lrs[i], ck, n,
                         c ? "it holds another" : nn_ctx_error(ctx));
            nn_checkpoint_close(c);
            nn_ctx_free(ctx);
        } else if (!strstr(out, "nothing was written: no epoch finished") ||
                   access(ck, F_OK) == 0) {
            fail_msg("--lr %g: no word of what is saved, or a file when it says none: %s",
                     lrs[i], out);
        }
    }
}

/* Every output path is checked before the data is read, with the reason;
 * an existing checkpoint of another model is not replaced without
 * --force, while one of the same model is (training again). */
static void outputs_checked_first(void **state)
{
    (void)state;
    /* a missing data file would be the first error if outputs came later */
    int rc = run(out, sizeof out, "%s train --data %s/missing.csv --out %s/nodir/m.safetensors",
                 nn_bin, dir, dir);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "--out"));
    assert_non_null(strstr(out, "No such file or directory"));
    assert_null(strstr(out, "missing.csv"));
    rc = run(out, sizeof out, "%s train --data %s/missing.csv --out %s/ok.safetensors "
             "--plot %s/nodir/p.png", nn_bin, dir, dir, dir);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "--plot"));
    assert_non_null(strstr(out, "No such file or directory"));
    rc = run(out, sizeof out, "%s train --data %s/missing.csv --out %s/ok.safetensors "
             "--log %s/nohdr.csv/log.csv", nn_bin, dir, dir, dir);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "--log"));
    assert_non_null(strstr(out, "is not a folder"));
    if (geteuid() != 0) { /* root writes anywhere */
        char ro[512];
        snprintf(ro, sizeof ro, "%s/ro", dir);
        assert_int_equal(mkdir(ro, 0555), 0);
        rc = run(out, sizeof out, "%s train --data %s/missing.csv --out %s/m.safetensors", nn_bin,
                 dir, ro);
        assert_int_equal(rc, 1);
        assert_non_null(strstr(out, "Permission denied"));
    }
    /* overwriting: another spec is refused, the same one and --force are not */
    const char *f = "%s train --data %s/nohdr.csv --label 2 --epochs 1 --quiet "
                    "--out %s/same.safetensors --model '%s'%s";
    rc = run(out, sizeof out, f, nn_bin, dir, dir, "2 dense:2 softmax", "");
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, f, nn_bin, dir, dir, "2 dense:2 softmax", "");
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, f, nn_bin, dir, dir, "2 dense:5 relu dense:2 softmax", "");
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "holds another model (\"2 dense:2 softmax\")"));
    assert_non_null(strstr(out, "--force"));
    rc = run(out, sizeof out, "%s info %s/same.safetensors", nn_bin, dir);
    assert_null(strstr(out, "dense:5")); /* untouched */
    rc = run(out, sizeof out, f, nn_bin, dir, dir, "2 dense:5 relu dense:2 softmax", " --force");
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, "%s info %s/same.safetensors", nn_bin, dir);
    assert_non_null(strstr(out, "dense:5"));
}

/* Mistyped names get the nearest known one; counts read as English;
 * an unknown class lists the known ones; --split on a CSV is an error. */
/* text with every DIR replaced by the test's directory, into buf */
static void with_dir(char *buf, size_t cap, const char *text)
{
    char *w = buf;
    for (const char *p = text; *p && w < buf + cap - 300;) {
        if (strncmp(p, "DIR", 3) == 0) {
            w += sprintf(w, "%s", dir);
            p += 3;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
}

static void messages_suggest_and_list(void **state)
{
    (void)state;
    static const struct { const char *args, *needle; } cases[] = {
        {"train --data DIR/nohdr.csv --label 2 --optim adma --out DIR/s.safetensors",
         "unknown optimizer 'adma' (did you mean adam?)"},
        {"train --data DIR/nohdr.csv --label 2 --schedule coss --out DIR/s.safetensors",
         "unknown schedule 'coss' (did you mean 'cos'?)"},
        {"train --data DIR/nohdr.csv --label 2 --schedule warmup:2+coss --out DIR/s.safetensors",
         "schedule 'warmup:2+coss': unknown part 'coss' (did you mean 'cos'?)"},
        {"train --data DIR/nohdr.csv --label 2 --model '2 dens:10' --out DIR/s.safetensors",
         "unknown layer 'dens' (did you mean 'dense'?)"},
        {"train --data DIR/nohdr.csv --label 2 --model '2 rleu dense:2' --out DIR/s.safetensors",
         "(did you mean 'relu'?)"},
        {"eval DIR/ab.safetensors --data DIR/one.csv --label y", "has 1 feature per sample"},
        {"eval DIR/ab.safetensors --data DIR/ab2.csv",
         "class 'shirt' is not one of the 3 classes it is compared with ('bird', 'cat', 'dog')"},
        {"eval DIR/ab.safetensors --data DIR/ab.csv --split train", "--split"},
        {"gradcheck --op rleu", "no op named 'rleu' (did you mean relu?)"},
        /* other libraries' names for the options */
        {"train --learning_rate 0.1", "unknown option '--learning_rate' (did you mean --lr?)"},
        {"train --num-epochs 3", "(did you mean --epochs?)"},
        /* data errors name the command, as every other message does */
        {"train --data DIR/short.csv --label kind --out DIR/s.safetensors",
         "nn train: DIR/short.csv line 3: 2 fields"},
        {"eval DIR/ab.safetensors DIR/short.csv", "nn eval: DIR/short.csv line 3: 2 fields"},
        {"predict DIR/ab.safetensors --input DIR/short.csv --header perhaps",
         "nn predict: --header must be yes, no or auto, not 'perhaps'"},
    };
    write_file("short.csv", "a,b,kind\n1,2,cat\n1,2\n");
    write_file("ab.csv", "a,b,kind\n1,2,cat\n3,4,dog\n5,6,bird\n");
    write_file("ab2.csv", "a,b,kind\n1,2,shirt\n");
    write_file("one.csv", "a,y\n1,0\n2,1\n");
    int rc = run(out, sizeof out, "%s train --data %s/ab.csv --label kind --model '2 dense:3 "
                 "softmax' --epochs 1 --quiet --out %s/ab.safetensors", nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[2048], needle[1024];
        with_dir(args, sizeof args, cases[i].args);
        with_dir(needle, sizeof needle, cases[i].needle);
        rc = run(out, sizeof out, "%s %s", nn_bin, args);
        if (rc == 0 || !strstr(out, needle))
            fail_msg("nn %s: exit %d, lacks '%s': %s", args, rc, needle, out);
    }
    /* no suggestion for a word far from every name */
    rc = run(out, sizeof out, "%s train --data %s/nohdr.csv --optim zzzzzz --out %s/s.safetensors",
             nn_bin, dir, dir);
    assert_null(strstr(out, "did you mean"));
}

NN_GROUP_FIXTURE(cli_user, setup, teardown,
                 cmocka_unit_test(messages_suggest_and_list),
                 cmocka_unit_test(outputs_checked_first),
                 cmocka_unit_test(headerless_csv_keeps_first_row),
                 cmocka_unit_test(ctrl_c_stops_cleanly_and_resumes_exactly),
                 cmocka_unit_test(second_ctrl_c_quits_at_once),
                 cmocka_unit_test(ctrl_c_during_products),
                 cmocka_unit_test(nan_loss_says_what_is_saved))
