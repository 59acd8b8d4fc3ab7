/*
 * test_cli.c - the nn program end to end: training on a small CSV,
 * checkpoints that eval reproduces, exact resume (with augmentation too),
 * atomic checkpoint writes under injected failures and SIGKILL, config
 * files, and one clear error (never a crash) for each kind of bad input.
 */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char nn_bin[4200];
static char dir[256];

#define run cli_run

/* Three Gaussian blobs in 4 features with string labels, and a regression
 * file; written once per run into a temporary directory. */
static int setup(void **state)
{
    (void)state;
    snprintf(nn_bin, sizeof nn_bin, "%s", cli_nn());
    if (cli_tmpdir(dir, sizeof dir, "cli") != 0)
        return -1;
    char path[512];
    snprintf(path, sizeof path, "%s/blobs.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "a,b,area,d,kind\n");
    const char *names[3] = {"setosa", "versicolor", "virginica"};
    unsigned s = 7;
    for (int i = 0; i < 600; i++) {
        int c = i % 3;
        double v[4];
        for (int j = 0; j < 4; j++) {
            s = s * 1103515245u + 12345u;
            double u = ((s >> 8) & 0xffff) / 65536.0 - 0.5;
            v[j] = (c == j % 3 ? 1.5 : -0.5) + u;
        }
        /* a feature in raw units of thousands must train as well */
        fprintf(f, "%.4f,%.4f,%.1f,%.4f,%s\n", v[0], v[1], 2000 + 1000 * v[2], v[3], names[c]);
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/binary.csv", dir);
    f = fopen(path, "w");
    fprintf(f, "u,v,answer\n");
    for (int i = 0; i < 300; i++) {
        double u = (i % 17) / 8.0 - 1, v = (i % 23) / 11.0 - 1;
        fprintf(f, "%.3f,%.3f,%s\n", u, v, u + v > 0 ? "yes" : "no");
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/sin.csv", dir);
    f = fopen(path, "w");
    fprintf(f, "x,y\n");
    for (int i = 0; i < 200; i++)
        fprintf(f, "%.4f,%.4f\n", -3 + 6.0 * i / 199, sin(-3 + 6.0 * i / 199));
    fclose(f);
    /* 784 features, for initializer statistics on a 784x256 layer */
    snprintf(path, sizeof path, "%s/wide.csv", dir);
    f = fopen(path, "w");
    for (int j = 0; j < 784; j++)
        fprintf(f, "f%d,", j);
    fprintf(f, "y\n");
    for (int i = 0; i < 8; i++) {
        for (int j = 0; j < 784; j++)
            fprintf(f, "%d,", (i * 31 + j * 7) % 13);
        fprintf(f, "%s\n", i % 2 ? "odd" : "even");
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/line.csv", dir);
    f = fopen(path, "w");
    fprintf(f, "x,y\n");
    for (int i = 0; i < 200; i++)
        fprintf(f, "%.3f,%.3f\n", i / 50.0, 3.0 * i / 50.0 - 1.0);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return cli_rmdir(dir);
}

static char out[1 << 16];

static void trains_and_eval_reproduces(void **state)
{
    (void)state;
    int rc = run(out, sizeof out,
                 "%s train --data %s/blobs.csv --label kind --model '4 dense:16 relu dense:3 softmax' "
                 "--epochs 10 --lr 0.01 --batch 32 --seed 3 --val-split 0.2 --test %s/blobs.csv "
                 "--out %s/m.safetensors --log %s/log.csv --plot %s/plot.png",
                 nn_bin, dir, dir, dir, dir, dir);
    if (rc != 0)
        fail_msg("train failed (%d): %s", rc, out);
    const char *acc = strstr(out, "test accuracy: ");
    assert_non_null(acc);
    double a = atof(acc + 15);
    assert_true(a > 0.95);
    rc = run(out, sizeof out, "%s eval %s/m.safetensors --data %s/blobs.csv --label kind --json",
             nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    const char *j = strstr(out, "\"accuracy\": ");
    assert_non_null(j);
    assert_close(atof(j + 12), a, 0, 5e-5);
    /* the log has a header and one line per epoch; the plot is a PNG */
    char path[512];
    snprintf(path, sizeof path, "%s/log.csv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int lines = 0;
    char line[512];
    while (fgets(line, sizeof line, f))
        lines++;
    fclose(f);
    assert_int_equal(lines, 11);
    snprintf(path, sizeof path, "%s/plot.png", dir);
    f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char sig[8];
    assert_int_equal(fread(sig, 1, 8, f), 8);
    fclose(f);
    assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
    /* predict names the class, from the checkpoint's mapping */
    snprintf(path, sizeof path, "%s/in.csv", dir);
    f = fopen(path, "w");
    fprintf(f, "a,b,area,d\n-0.5,1.5,1500,-0.5\n");
    fclose(f);
    rc = run(out, sizeof out, "%s predict %s/m.safetensors --input %s", nn_bin, dir, path);
    assert_int_equal(rc, 0);
    if (!strstr(out, "versicolor"))
        fail_msg("predict: %s", out);
    rc = run(out, sizeof out, "%s info %s/m.safetensors", nn_bin, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "4 dense:16 relu dense:3 softmax"));
    assert_non_null(strstr(out, "parameters:  131"));
}

/* A classifier written as PyTorch users do, ending in a linear layer: the
 * CLI trains it with cross-entropy on the logits. */
static void linear_head_means_cross_entropy(void **state)
{
    (void)state;
    int rc = run(out, sizeof out,
                 "%s train --data %s/blobs.csv --label kind --model '4 dense:16 relu dense:3' "
                 "--epochs 10 --lr 0.01 --batch 32 --test %s/blobs.csv --out %s/lin.safetensors",
                 nn_bin, dir, dir, dir);
    if (rc != 0)
        fail_msg("train failed (%d): %s", rc, out);
    const char *acc = strstr(out, "test accuracy: ");
    assert_non_null(acc);
    assert_true(atof(acc + 15) > 0.95);
    rc = run(out, sizeof out, "%s info %s/lin.safetensors", nn_bin, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "cross_entropy"));
}

/* An image folder: train, then predict one image at the size the
 * checkpoint remembers (no --image-size needed). */
static void image_folder_and_predict(void **state)
{
    (void)state;
    const char *imgs = nn_test_path("data/images");
    char abs[2048], cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    if (imgs[0] == '/')
        snprintf(abs, sizeof abs, "%s", imgs);
    else
        snprintf(abs, sizeof abs, "%s/%s", cwd, imgs);
    int rc = run(out, sizeof out,
                 "%s train --data %s/ --image-size 8x8x1 --resize --epochs 40 --lr 0.01 "
                 "--batch 5 --out %s/img.safetensors --quiet", nn_bin, abs, dir);
    if (rc != 0)
        fail_msg("train failed (%d): %s", rc, out);
    rc = run(out, sizeof out, "%s info %s/img.safetensors", nn_bin, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "8x8x1 resize"));
    rc = run(out, sizeof out, "%s predict %s/img.safetensors --input %s/circle/a.png", nn_bin,
             dir, abs);
    if (rc != 0)
        fail_msg("predict failed (%d): %s", rc, out);
    if (!strstr(out, "circle/a.png: class 0 (circle)"))
        fail_msg("circle/a.png: %s", out);
    /* a folder of images: one line per file, named. In grey, square/c.png
     * (RGBA) has the pixels of both circles, so the model gives it their
     * majority class; the two grey squares are told apart. */
    rc = run(out, sizeof out, "%s predict %s/img.safetensors --input %s/square", nn_bin, dir, abs);
    if (rc != 0)
        fail_msg("predict failed (%d): %s", rc, out);
    if (!strstr(out, "square/a.png: class 1 (square)") ||
        !strstr(out, "square/b.pgm: class 1 (square)") ||
        !strstr(out, "square/c.png: class 0 (circle)"))
        fail_msg("square/: %s", out);
}

/* Two classes and a one-unit sigmoid: a binary problem end to end. */
static void binary_sigmoid_csv(void **state)
{
    (void)state;
    int rc = run(out, sizeof out,
                 "%s train --data %s/binary.csv --label answer --model '2 dense:8 tanh dense:1 sigmoid' "
                 "--epochs 30 --lr 0.01 --batch 16 --out %s/b.safetensors --quiet",
                 nn_bin, dir, dir);
    if (rc != 0)
        fail_msg("train failed (%d): %s", rc, out);
    rc = run(out, sizeof out, "%s eval %s/b.safetensors --data %s/binary.csv --label answer --json",
             nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    const char *j = strstr(out, "\"accuracy\": ");
    assert_non_null(j);
    assert_true(atof(j + 12) > 0.95);
    char in[512];
    snprintf(in, sizeof in, "%s/bin-in.csv", dir);
    FILE *f = fopen(in, "w");
    fprintf(f, "u,v\n0.9,0.8\n-0.9,-0.8\n");
    fclose(f);
    rc = run(out, sizeof out, "%s predict %s/b.safetensors --input %s", nn_bin, dir, in);
    assert_int_equal(rc, 0);
    if (!strstr(out, "0: class 1 (yes)") || !strstr(out, "1: class 0 (no)"))
        fail_msg("predict: %s", out);
}

/* A test file that lacks a class keeps the training set's class indices. */
static void test_file_missing_a_class(void **state)
{
    (void)state;
    char sub[512];
    snprintf(sub, sizeof sub, "%s/only-virginica.csv", dir);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "(head -n 1 %s/blobs.csv; grep virginica %s/blobs.csv) > %s", dir,
             dir, sub);
    assert_int_equal(system(cmd), 0);
    int rc = run(out, sizeof out, "%s eval %s/m.safetensors --data %s --label kind --json",
                 nn_bin, dir, sub);
    if (rc != 0)
        fail_msg("eval failed (%d): %s", rc, out);
    const char *j = strstr(out, "\"accuracy\": ");
    assert_non_null(j);
    /* with its own numbering virginica would be class 0 and score near 0 */
    assert_true(atof(j + 12) > 0.9);
    rc = run(out, sizeof out,
             "%s train --data %s/blobs.csv --label kind --epochs 2 --test %s --out %s/t.safetensors",
             nn_bin, dir, sub, dir);
    assert_int_equal(rc, 0);
    /* a class the model never saw is an error naming it */
    snprintf(cmd, sizeof cmd, "(head -n 1 %s/blobs.csv; sed -n 2p %s/blobs.csv | sed 's/,[a-z]*$/,lily/') > %s",
             dir, dir, sub);
    assert_int_equal(system(cmd), 0);
    rc = run(out, sizeof out, "%s eval %s/m.safetensors --data %s --label kind", nn_bin, dir, sub);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "'lily'"));
}

static void regression_csv(void **state)
{
    (void)state;
    int rc = run(out, sizeof out,
                 "%s train --data %s/line.csv --label y --model '1 dense:1' --optim sgd --lr 0.1 "
                 "--epochs 30 --batch 20 --test %s/line.csv --out %s/r.safetensors --quiet",
                 nn_bin, dir, dir, dir);
    if (rc != 0)
        fail_msg("train failed (%d): %s", rc, out);
    const char *mae = strstr(out, "mae ");
    assert_non_null(mae);
    assert_true(atof(mae + 4) < 0.05);
}

/* Reads a whole file; returns its size. */
static long slurp(const char *path, char **buf)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc((size_t)n + 1);
    if (fread(*buf, 1, (size_t)n, f) != (size_t)n)
        n = -2;
    fclose(f);
    return n;
}

static void same_tensor(const char *a, const char *b, const char *name)
{
    if (!cli_tensor_equal(a, b, name))
        fail_msg("tensor %s differs between %s and %s", name, a, b);
}

static void resume_is_exact(void **state)
{
    (void)state;
    const char *common = "--data %s/blobs.csv --label kind --model '4 dense:32 relu dropout:0.2 "
                         "dense:3 softmax' --batch 16 --seed 5 --val-split 0.25 --optim adam "
                         "--schedule step:2:0.5 --threads 1 --quiet";
    char flags[1024];
    snprintf(flags, sizeof flags, common, dir);
    int rc = run(out, sizeof out, "%s train %s --epochs 6 --out %s/full.safetensors", nn_bin,
                 flags, dir);
    if (rc)
        fail_msg("%s", out);
    rc = run(out, sizeof out, "%s train %s --epochs 3 --out %s/part.safetensors", nn_bin, flags,
             dir);
    if (rc)
        fail_msg("%s", out);
    rc = run(out, sizeof out,
             "%s train %s --epochs 6 --resume %s/part.safetensors --out %s/resumed.safetensors",
             nn_bin, flags, dir, dir);
    if (rc)
        fail_msg("%s", out);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/full.safetensors", dir);
    snprintf(b, sizeof b, "%s/resumed.safetensors", dir);
    same_tensor(a, b, "dense1.weight");
    same_tensor(a, b, "dense2.bias");
    same_tensor(a, b, "optim.state");
    /* and a run with another seed is not the same (the check can fail) */
    rc = run(out, sizeof out,
             "%s train %s --epochs 6 --seed 6 --out %s/other.safetensors", nn_bin, flags, dir);
    assert_int_equal(rc, 0);
    snprintf(b, sizeof b, "%s/other.safetensors", dir);
    assert_false(cli_tensor_equal(a, b, "dense1.weight"));
}

/* --resume without --model takes the checkpoint's spec; --dropout 0 turns
 * bare dropout layers off (the run equals one without them). */
static void resume_defaults_and_dropout_zero(void **state)
{
    (void)state;
    int rc = run(out, sizeof out,
                 "%s train --data %s/blobs.csv --label kind --model '4 dense:8 relu dropout dense:3 softmax' "
                 "--dropout 0 --epochs 2 --seed 4 --threads 1 --out %s/d0.safetensors --quiet",
                 nn_bin, dir, dir);
    if (rc)
        fail_msg("%s", out);
    rc = run(out, sizeof out,
             "%s train --data %s/blobs.csv --label kind --model '4 dense:8 relu dense:3 softmax' "
             "--epochs 2 --seed 4 --threads 1 --out %s/nod.safetensors --quiet", nn_bin, dir, dir);
    if (rc)
        fail_msg("%s", out);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/d0.safetensors", dir);
    snprintf(b, sizeof b, "%s/nod.safetensors", dir);
    same_tensor(a, b, "dense1.weight");
    same_tensor(a, b, "dense2.weight");
    rc = run(out, sizeof out,
             "%s train --data %s/blobs.csv --label kind --dropout 0 --epochs 3 --seed 4 "
             "--threads 1 --resume %s --out %s/d0r.safetensors", nn_bin, dir, a, dir);
    if (rc)
        fail_msg("resume without --model: %s", out);
    assert_non_null(strstr(out, "resumed from"));
    assert_non_null(strstr(out, "epoch   3"));
    assert_null(strstr(out, "epoch   2"));
    /* a finished run: a message that says how to train on, in CLI terms */
    rc = run(out, sizeof out, "%s train --resume %s/d0r.safetensors", nn_bin, dir);
    assert_int_equal(rc, 1);
    if (!strstr(out, "has done 3 of 3 epochs") || !strstr(out, "--epochs 6") ||
        strstr(out, "nn_trainer"))
        fail_msg("resuming a finished run: %s", out);
}

/* The settings of the run that a regression checkpoint records: a
 * schedule, a validation split, a non-default seed, optimizer, momentum,
 * normalization, dropout rate, penalties and clipping. */
#define SIN_RUN "--model '1 dense:8 tanh dropout dense:1' --schedule step:1:0.5 --lr 0.02 " \
                "--batch 32 --val-split 0.2 --data %s/sin.csv --label y --seed 7 "          \
                "--optim momentum --momentum 0.8 --normalize minmax --dropout 0.1 "          \
                "--l2 0.001 --l1 0.0001 --weight-decay 0.001 --clip-norm 1"

/* A run stopped after 2 of 4 epochs and resumed with only --resume FILE
 * --epochs 4 ends bit-identical to the uninterrupted run: every setting
 * comes back from the checkpoint (before, the resumed run fell back to
 * Fashion-MNIST, lr 0.001, no schedule, batch 64, no validation split). */
static void resume_restores_every_setting(void **state)
{
    (void)state;
    char flags[1024], full[512], part[512];
    snprintf(flags, sizeof flags, SIN_RUN, dir);
    snprintf(full, sizeof full, "%s/sin4.safetensors", dir);
    snprintf(part, sizeof part, "%s/sin2.safetensors", dir);
    int rc = run(out, sizeof out, "%s train %s --epochs 4 --out %s", nn_bin, flags, full);
    if (rc)
        fail_msg("%s", out);
    rc = run(out, sizeof out, "%s train %s --epochs 2 --out %s", nn_bin, flags, part);
    if (rc)
        fail_msg("%s", out);
    /* run from another directory: the data path is recorded, not the cwd's */
    rc = run(out, sizeof out, "cd / && %s train --resume %s --epochs 4", nn_bin, part);
    if (rc)
        fail_msg("resume: %s", out);
    if (!strstr(out, "160 training samples, validation held out") ||
        !strstr(out, "epoch   3") || !strstr(out, "lr 0.005") || strstr(out, "epoch   2"))
        fail_msg("resume: unexpected progress: %s", out);
    cli_same_tensors(full, part);
    /* the check can fail: one more epoch is not the same */
    rc = run(out, sizeof out, "%s train --resume %s --epochs 5 --quiet", nn_bin, part);
    if (rc)
        fail_msg("resume: %s", out);
    int64_t n1, n2;
    float *w1 = cli_tensor_copy(full, "dense1.weight", &n1), *w2 = cli_tensor_copy(part, "dense1.weight", &n2);
    assert_int_equal(n1, n2);
    assert_true(memcmp(w1, w2, (size_t)n1 * sizeof *w1) != 0);
    free(w1);
    free(w2);
}

/* On --resume a flag may repeat the checkpoint's value; one that
 * contradicts it is an error naming the flag and both values. */
static void resume_rejects_contradicting_flags(void **state)
{
    (void)state;
    char flags[1024], ck[512], copy[512];
    snprintf(flags, sizeof flags, SIN_RUN, dir);
    snprintf(ck, sizeof ck, "%s/sinc.safetensors", dir);
    snprintf(copy, sizeof copy, "%s/sinc2.safetensors", dir);
    int rc = run(out, sizeof out, "%s train %s --epochs 1 --out %s --quiet", nn_bin, flags, ck);
    if (rc)
        fail_msg("%s", out);
    struct { const char *flag, *given, *saved; } cases[] = {
        {"--lr", "0.1", "0.02"},
        {"--batch", "16", "32"},
        {"--schedule", "step:2:0.5", "step"},
        {"--val-split", "0.3", "0.2"},
        {"--label", "x", "y"},
        {"--seed", "8", "7"},
        {"--optim", "adam", "momentum"},
        {"--momentum", "0.9", "0.8"},
        {"--normalize", "standard", "minmax"},
        {"--dropout", "0.2", "0.1"},
        {"--l2", "0.01", "0.001"},
        {"--clip-norm", "2", "1"},
        {"--model", "'1 dense:8 tanh dense:1'", "1 dense:8 tanh dropout:0.1 dense:1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rc = run(out, sizeof out, "%s train --resume %s --epochs 2 --out %s %s %s --quiet",
                 nn_bin, ck, copy, cases[i].flag, cases[i].given);
        const char *g = cases[i].given[0] == '\'' ? "1 dense:8 tanh dense:1" : cases[i].given;
        if (rc == 0 || rc >= 1000 || !strstr(out, cases[i].flag) || !strstr(out, g) ||
            !strstr(out, cases[i].saved))
            fail_msg("--resume with %s %s: exit %d: %s", cases[i].flag, cases[i].given, rc, out);
    }
    /* repeating the recorded values is fine */
    rc = run(out, sizeof out, "%s train --resume %s --epochs 2 --out %s --lr 0.02 --batch 32 "
             "--data %s/sin.csv --label y --val-split 0.2 --schedule step:1:0.5 --quiet",
             nn_bin, ck, copy, dir);
    if (rc)
        fail_msg("resume repeating the settings: %s", out);
    /* so is repeating the whole original command line */
    rc = run(out, sizeof out, "%s train " SIN_RUN " --resume %s --epochs 2 --out %s --quiet",
             nn_bin, dir, ck, copy);
    if (rc)
        fail_msg("resume repeating the original command line: %s", out);
}

/* eval and predict without data take the checkpoint's data source and
 * label column; a CSV given to predict that still has the label column
 * gets it dropped. */
static void eval_and_predict_use_recorded_data(void **state)
{
    (void)state;
    char ck[512];
    snprintf(ck, sizeof ck, "%s/rec.safetensors", dir);
    int rc = run(out, sizeof out, "%s train --data %s/blobs.csv --label kind --model "
                 "'4 dense:16 relu dense:3 softmax' --epochs 5 --lr 0.01 --seed 2 --out %s "
                 "--quiet", nn_bin, dir, ck);
    if (rc)
        fail_msg("%s", out);
    static char with[sizeof out];
    rc = run(out, sizeof out, "%s eval %s --data %s/blobs.csv --label kind --json", nn_bin, ck,
             dir);
    if (rc)
        fail_msg("eval with --data: %s", out);
    snprintf(with, sizeof with, "%s", out);
    rc = run(out, sizeof out, "cd / && %s eval %s --json", nn_bin, ck);
    if (rc)
        fail_msg("eval without --data: %s", out);
    assert_string_equal(out, with);
    assert_non_null(strstr(out, "\"n\": 600"));
    /* predict on the labelled file: the kind column is dropped */
    rc = run(out, sizeof out, "%s predict %s --input %s/blobs.csv", nn_bin, ck, dir);
    if (rc)
        fail_msg("predict on a file with the label column: %s", out);
    assert_non_null(strstr(out, "599: class"));
    snprintf(with, sizeof with, "%s", out);
    /* without --input: the recorded data source */
    rc = run(out, sizeof out, "cd / && %s predict %s", nn_bin, ck);
    if (rc)
        fail_msg("predict without --input: %s", out);
    assert_string_equal(out, with);
    /* the same rows without the label column predict the same */
    char feats[512];
    snprintf(feats, sizeof feats, "%s/blobs-x.csv", dir);
    rc = run(out, sizeof out, "cut -d, -f1-4 %s/blobs.csv > %s", dir, feats);
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, "%s predict %s --input %s", nn_bin, ck, feats);
    if (rc)
        fail_msg("predict: %s", out);
    assert_string_equal(out, with);
    /* a regression checkpoint: the label column by name, dropped too */
    snprintf(ck, sizeof ck, "%s/sinp.safetensors", dir);
    rc = run(out, sizeof out, "%s train --data %s/sin.csv --label y --model '1 dense:4 tanh "
             "dense:1' --epochs 2 --out %s --quiet", nn_bin, dir, ck);
    if (rc)
        fail_msg("%s", out);
    rc = run(out, sizeof out, "%s predict %s --input %s/sin.csv", nn_bin, ck, dir);
    if (rc)
        fail_msg("predict: %s", out);
    assert_non_null(strstr(out, "199:"));
    assert_null(strstr(out, "200:"));
}

/* 64 images of 8 x 8: a bright bar in the top half (class 0) or the bottom
 * half (class 1), at varying places; returns "idx:IMAGES,LABELS". */
static const char *bars_idx(void)
{
    static char spec[1100];
    static uint8_t px[64 * 64], lbl[64];
    for (int i = 0; i < 64; i++) {
        lbl[i] = (uint8_t)(i % 2);
        int y = 1 + (i / 2) % 2 + 4 * lbl[i], x = 1 + (i / 4) % 4;
        for (int r = y; r < y + 2; r++)
            for (int c = x; c < x + 3; c++)
                px[i * 64 + r * 8 + c] = (uint8_t)(150 + i);
    }
    char img[512], lab[512];
    snprintf(img, sizeof img, "%s/bars-images.idx", dir);
    snprintf(lab, sizeof lab, "%s/bars-labels.idx", dir);
    cli_write_idx(img, 3, (uint32_t[]){64, 8, 8}, px, sizeof px);
    cli_write_idx(lab, 1, (uint32_t[]){64}, lbl, sizeof lbl);
    snprintf(spec, sizeof spec, "idx:%s,%s", img, lab);
    return spec;
}

/* --augment: a run stopped after 2 of 4 epochs and resumed (without the
 * flag, and with another --seed: the checkpoint keeps the setting and the
 * seed of its draws) ends with the tensors of the uninterrupted run; the
 * augmentation changes the result, and --augment none on resume turns it
 * off. Two threads share each batch's gather. */
static void augment_resume_is_exact(void **state)
{
    (void)state;
    char flags[2048];
    snprintf(flags, sizeof flags, "--data %s --model '64 dense:16 relu dense:2' --batch 32 "
             "--seed 3 --threads 2 --quiet", bars_idx());
    const char *runs[][2] = {
        {"--epochs 4 --augment shift:2,flip", "afull"},
        {"--epochs 2 --augment shift:2,flip", "apart"},
        {"--epochs 4 --resume DIR/apart.safetensors", "aresumed"},
        {"--epochs 4", "anone"},
        {"--epochs 4 --resume DIR/apart.safetensors --augment flip,shift:2", "asame"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char extra[600];
        const char *d = strstr(runs[i][0], "DIR");
        if (d)
            snprintf(extra, sizeof extra, "%.*s%s%s", (int)(d - runs[i][0]), runs[i][0], dir,
                     d + 3);
        else
            snprintf(extra, sizeof extra, "%s", runs[i][0]);
        int rc = run(out, sizeof out, "%s train %s %s --out %s/%s.safetensors", nn_bin, flags,
                     extra, dir, runs[i][1]);
        if (rc)
            fail_msg("nn train %s: %s", extra, out);
    }
    char a[512], b[512], c[512], e[512];
    snprintf(a, sizeof a, "%s/afull.safetensors", dir);
    snprintf(b, sizeof b, "%s/aresumed.safetensors", dir);
    snprintf(c, sizeof c, "%s/anone.safetensors", dir);
    snprintf(e, sizeof e, "%s/asame.safetensors", dir);
    same_tensor(a, b, "dense1.weight");
    same_tensor(a, b, "dense2.bias");
    same_tensor(a, b, "optim.state");
    same_tensor(a, e, "dense1.weight"); /* the same setting, written otherwise */
    assert_false(cli_tensor_equal(a, c, "dense1.weight"));
    /* a resumed run keeps its augmentation: another one contradicts it */
    int rc0 = run(out, sizeof out, "%s train --resume %s/apart.safetensors --epochs 4 "
                  "--augment none --out %s/aoff.safetensors", nn_bin, dir, dir);
    if (rc0 != 1 || !strstr(out, "--augment") || !strstr(out, "shift:2,flip"))
        fail_msg("--resume with --augment none: exit %d: %s", rc0, out);
    int rc = run(out, sizeof out, "%s info %s", nn_bin, b);
    assert_int_equal(rc, 0);
    if (!strstr(out, "shift:2,flip"))
        fail_msg("nn info does not show the augmentation: %s", out);
}

/* Bad --augment settings: an error exit naming the flag and what is wrong. */
static void augment_bad_flags_fail_clearly(void **state)
{
    (void)state;
    const char *idx = bars_idx();
    char blobs[512];
    snprintf(blobs, sizeof blobs, "%s/blobs.csv --label kind", dir);
    struct { const char *data, *flag, *needle; } cases[] = {
        {idx, "shift:-1", "'-1'"},
        {idx, "spin", "'spin'"},
        {idx, "shift:2,,flip", "empty item"},
        {idx, "shift:8", "8 x 8"},
        {blobs, "shift:2,flip", "blobs.csv"}, /* not images */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = run(out, sizeof out, "%s train --data %s --augment '%s' --epochs 1 --out "
                     "%s/bad.safetensors", nn_bin, cases[i].data, cases[i].flag, dir);
        if (rc == 0 || rc >= 1000)
            fail_msg("--augment %s: exit %d (expected an error exit): %s", cases[i].flag, rc,
                     out);
        if (!strstr(out, "--augment") || !strstr(out, cases[i].needle))
            fail_msg("--augment %s: the message lacks '--augment' or '%s': %s", cases[i].flag,
                     cases[i].needle, out);
    }
}

static void failed_write_keeps_last_checkpoint(void **state)
{
    (void)state;
    char good[512], *before = NULL, *after = NULL;
    snprintf(good, sizeof good, "%s/keep.safetensors", dir);
    int rc = run(out, sizeof out,
                 "%s train --data %s/blobs.csv --label kind --epochs 1 --out %s --quiet",
                 nn_bin, dir, good);
    assert_int_equal(rc, 0);
    long n0 = slurp(good, &before);
    assert_true(n0 > 100);
    /* a real failure, with no hook in the program: files are limited to
     * one or two kilobytes (ulimit -f counts 512- or 1024-byte blocks), so
     * the next checkpoint's write fails with EFBIG (SIGXFSZ ignored) */
    rc = run(out, sizeof out,
             "trap '' XFSZ; ulimit -f 2 && %s train --data %s/blobs.csv --label kind --epochs 2 "
             "--seed 9 --out %s --quiet", nn_bin, dir, good);
    assert_int_equal(rc, 1);
    if (!strstr(out, good) || !strstr(out, strerror(EFBIG)))
        fail_msg("the message does not name the checkpoint and the reason: %s", out);
    long n1 = slurp(good, &after);
    assert_int_equal(n1, n0);
    assert_memory_equal(before, after, (size_t)n0);
    free(after);
    free(before);
    /* no temporary files are left behind */
    rc = run(out, sizeof out, "ls %s | grep -c tmp", dir);
    assert_string_equal(out, "0\n");
}

/* SIGKILL at random moments while checkpoints are written every epoch: the
 * file is always absent or a complete, valid checkpoint. */
static void killed_training_leaves_valid_checkpoint(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/kill.safetensors", dir);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    srand((unsigned)ts.tv_nsec);
    /* a good checkpoint first: whatever moment a kill lands on (even in the
     * middle of a write), the file must then still be a valid checkpoint */
    int rc = run(out, sizeof out, "%s train --data %s/blobs.csv --label kind --epochs 1 "
                 "--out %s --quiet", nn_bin, dir, path);
    assert_int_equal(rc, 0);
    int valid = 0;
    for (int round = 0; round < 6; round++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            dup2(fd, 1);
            dup2(fd, 2);
            char data[512];
            snprintf(data, sizeof data, "%s/blobs.csv", dir);
            execl(nn_bin, "nn", "train", "--data", data, "--label", "kind", "--model",
                  "4 dense:512 relu dense:512 relu dense:3 softmax", "--epochs", "1000",
                  "--batch", "8", "--out", path, "--threads", "1", (char *)NULL);
            _exit(127);
        }
        struct timespec nap = {0, (50 + rand() % 400) * 1000000L};
        nanosleep(&nap, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        if (access(path, F_OK) == 0) {
            nn_ctx *ctx = nn_ctx_new(NULL);
            nn_model *m = nn_model_load(ctx, path, NULL);
            if (!m)
                fail_msg("round %d: checkpoint unreadable after SIGKILL: %s", round,
                         nn_ctx_error(ctx));
            nn_model_free(m);
            nn_ctx_free(ctx);
            valid++;
        }
    }
    assert_int_equal(valid, 6);
}

static void config_file_and_flags_override(void **state)
{
    (void)state;
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%s/train.ini", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f, "[train]\nmodel = 4 dense:8 relu dense:3 softmax\nepochs = 2\nlabel = kind\n"
               "optim = sgd\nlr = 0.05\n");
    fclose(f);
    int rc = run(out, sizeof out, "%s train --config %s --data %s/blobs.csv --epochs 3 "
                 "--out %s/c.safetensors", nn_bin, cfg, dir, dir);
    if (rc)
        fail_msg("%s", out);
    assert_non_null(strstr(out, "epoch   3"));
    assert_null(strstr(out, "epoch   4"));
    assert_non_null(strstr(out, "lr 0.05"));
    f = fopen(cfg, "w");
    fprintf(f, "model = 4 dense:8 relu dense:3 softmax\nlearning_rate = 0.1\n");
    fclose(f);
    rc = run(out, sizeof out, "%s train --config %s --data %s/blobs.csv", nn_bin, cfg, dir);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "learning_rate"));
}

/* The value of metadata key in a checkpoint (a static copy; "" if none). */
static const char *meta_of(const char *path, const char *key)
{
    static char buf[4096];
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_safetensors *st = nn_safetensors_open(ctx, path);
    if (!st)
        fail_msg("%s", nn_ctx_error(ctx));
    const char *v = nn_safetensors_meta(st, key);
    snprintf(buf, sizeof buf, "%s", v ? v : "");
    nn_safetensors_close(st);
    nn_ctx_free(ctx);
    return buf;
}

/* --momentum 0 is kept: the run is bit-identical to plain SGD at the same
 * rate, and the checkpoint records 0; --beta1 0 is recorded as 0. */
static void explicit_zero_flags_are_kept(void **state)
{
    (void)state;
    const char *common = "--data %s/blobs.csv --label kind --model '4 dense:8 relu dense:3 "
                         "softmax' --epochs 2 --batch 16 --seed 4 --threads 1 --quiet";
    char flags[1024], a[512], b[512], c[512];
    snprintf(flags, sizeof flags, common, dir);
    snprintf(a, sizeof a, "%s/sgd.safetensors", dir);
    snprintf(b, sizeof b, "%s/mom0.safetensors", dir);
    snprintf(c, sizeof c, "%s/mom.safetensors", dir);
    int rc = run(out, sizeof out, "%s train %s --optim sgd --lr 0.05 --out %s", nn_bin, flags, a);
    if (rc)
        fail_msg("%s", out);
    rc = run(out, sizeof out, "%s train %s --optim momentum --momentum 0 --lr 0.05 --out %s",
             nn_bin, flags, b);
    if (rc)
        fail_msg("%s", out);
    rc = run(out, sizeof out, "%s train %s --optim momentum --lr 0.05 --out %s", nn_bin, flags, c);
    if (rc)
        fail_msg("%s", out);
    const char *names[] = {"dense1.weight", "dense1.bias", "dense2.weight", "dense2.bias"};
    for (int i = 0; i < 4; i++)
        same_tensor(a, b, names[i]);
    assert_false(cli_tensor_equal(a, c, "dense1.weight")); /* the default momentum 0.9 */
    /* a resumed run keeps the zero: 1 epoch, then resumed to 2, equals sgd */
    char r1[512];
    snprintf(r1, sizeof r1, "%s/mom0r.safetensors", dir);
    rc = run(out, sizeof out, "%s train %s --optim momentum --momentum 0 --lr 0.05 --epochs 1 "
             "--out %s", nn_bin, flags, r1);
    if (rc)
        fail_msg("%s", out);
    rc = run(out, sizeof out, "%s train --resume %s --epochs 2 --quiet", nn_bin, r1);
    if (rc)
        fail_msg("resume with momentum 0: %s", out);
    for (int i = 0; i < 4; i++)
        same_tensor(a, r1, names[i]);
    const char *optim = meta_of(b, "optim");
    if (!strstr(optim, "\"kind\":\"momentum\"") || !strstr(optim, "\"momentum\":0,"))
        fail_msg("--momentum 0 recorded as %s", optim);
    rc = run(out, sizeof out, "%s train %s --optim adam --beta1 0 --epochs 1 --out %s", nn_bin,
             flags, b);
    if (rc)
        fail_msg("%s", out);
    optim = meta_of(b, "optim");
    if (!strstr(optim, "\"beta1\":0,") || !strstr(optim, "\"beta2\":0.999"))
        fail_msg("--beta1 0 recorded as %s", optim);
}

/* Every initializer form, given with --init and inside the model spec,
 * gives a 784x256 first layer of the stated distribution (see
 * test_init.c), and the checkpoint's spec records it; --bias-init likewise;
 * nn info shows the forms; a hidden layer that starts constant is warned
 * of, naming it, and trains anyway. */
static void init_forms_through_the_cli(void **state)
{
    (void)state;
    char path[512], spec[256], canon[64], label[128];
    snprintf(path, sizeof path, "%s/init.safetensors", dir);
    nn_ctx *ctx = nn_ctx_new(NULL);
    for (int c = 0; c < nn_test_init_ncases; c++) {
        const struct init_case *k = &nn_test_init_cases[c];
        struct nn_init init;
        assert_ok(ctx, nn_init_parse(ctx, k->form, &init));
        nn_init_format(init, canon, sizeof canon);
        for (int in_spec = 0; in_spec < 2; in_spec++) {
            int rc = run(out, sizeof out,
                         "%s train --data %s/wide.csv --label y --model '784 dense:256%s%s relu "
                         "dense:2 softmax' %s%s --optim sgd --lr 0 --epochs 1 --batch 8 "
                         "--threads 1 --quiet --force --out %s", /* one file, many specs */
                         nn_bin, dir, in_spec ? ":" : "", in_spec ? k->form : "",
                         in_spec ? "" : "--init ", in_spec ? "" : k->form, path);
            snprintf(label, sizeof label, "%s %s", in_spec ? "spec dense:256:" : "--init",
                     k->form);
            if (rc)
                fail_msg("%s: exit %d: %s", label, rc, out);
            bool alike = k->std == 0;
            if (alike != (strstr(out, "warning: dense1: its 256 units start identical") != NULL))
                fail_msg("%s: %s", label, alike ? "no warning" : out);
            if (strstr(out, "dense2:"))
                fail_msg("%s: the output layer was warned of: %s", label, out);
            nn_safetensors *st = nn_safetensors_open(ctx, path);
            if (!st)
                fail_msg("%s", nn_ctx_error(ctx));
            const float *w = nn_safetensors_get_f32(st, "dense1.weight", 2,
                                                    (int64_t[]){INIT_OUT, INIT_IN});
            assert_non_null(w);
            nn_test_check_init(label, k, w, INIT_OUT * INIT_IN);
            snprintf(spec, sizeof spec, "784 dense:256:%s relu dense:2%s%s softmax",
                     in_spec ? k->form : canon, in_spec ? "" : ":", in_spec ? "" : canon);
            if (strcmp(nn_safetensors_meta(st, "spec"), spec) != 0)
                fail_msg("%s: the checkpoint's spec is '%s', expected '%s'", label,
                         nn_safetensors_meta(st, "spec"), spec);
            nn_safetensors_close(st);
        }
    }
    /* biases: --bias-init and bias= in the spec */
    static const struct { const char *flags; struct init_case k; } biases[] = {
        {"--bias-init normal:0.5:2", {"normal:0.5:2", 2, 0.5, 3, -10, 10}},
        {"--bias-init constant:0.25", {"constant:0.25", 0.25, 0, 0, 0.25, 0.25}},
        {"--model '784 dense:256:bias=uniform:-1:3 relu dense:2 softmax'",
         {"uniform:-1:3", 1, 2 / 1.7320508075688772, 1.8, -1, 3}},
    };
    for (size_t i = 0; i < sizeof biases / sizeof biases[0]; i++) {
        int rc = run(out, sizeof out,
                     "%s train --data %s/wide.csv --label y --model '784 dense:256 relu dense:2 "
                     "softmax' %s --optim sgd --lr 0 --epochs 1 --batch 8 --threads 1 --quiet "
                     "--force --out %s", nn_bin, dir, biases[i].flags, path);
        if (rc)
            fail_msg("%s: exit %d: %s", biases[i].flags, rc, out);
        nn_safetensors *st = nn_safetensors_open(ctx, path);
        assert_non_null(st);
        nn_test_check_init(biases[i].flags, &biases[i].k,
                           nn_safetensors_get_f32(st, "dense1.bias", 1, (int64_t[]){256}), 256);
        assert_non_null(strstr(nn_safetensors_meta(st, "spec"), "bias="));
        nn_safetensors_close(st);
    }
    /* nn info shows the initializers; a flag's bad form is named */
    int rc = run(out, sizeof out,
                 "%s train --data %s/blobs.csv --label kind --model '4 dense:8 relu dense:3 softmax' "
                 "--init normal:0.1 --bias-init constant:0.01 --epochs 1 --quiet --force --out %s",
                 nn_bin, dir, path);
    if (rc)
        fail_msg("%s", out);
    rc = run(out, sizeof out, "%s info %s", nn_bin, path);
    assert_int_equal(rc, 0);
    if (!strstr(out, "4 dense:8:normal:0.1:bias=constant:0.01 relu "
                     "dense:3:normal:0.1:bias=constant:0.01 softmax"))
        fail_msg("nn info: %s", out);
    rc = run(out, sizeof out, "%s train --data %s/blobs.csv --label kind --init normal:-1 "
             "--epochs 1 --out %s", nn_bin, dir, path);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(out, "--init"));
    assert_non_null(strstr(out, "standard deviation -1"));
    nn_ctx_free(ctx);
}

/* nn help init and nn help model show every form. */
static void help_documents_init_forms(void **state)
{
    (void)state;
    int rc = run(out, sizeof out, "%s help init", nn_bin);
    assert_int_equal(rc, 0);
    const char *forms[] = {"zeros", "constant:C", "normal[:STD[:MEAN]]", "uniform[:A]",
                           "uniform:LO:HI", "xavier_uniform[:GAIN]", "xavier_normal[:GAIN]",
                           "he_normal[:GAIN]", "he_uniform[:GAIN]", "STD 0.01", "A 0.05",
                           "--bias-init", "symmetry"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (!strstr(out, forms[i]))
            fail_msg("nn help init does not show %s: %s", forms[i], out);
    rc = run(out, sizeof out, "%s help model", nn_bin);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "dense:UNITS[:INIT][:bias=no|INIT]"));
    rc = run(out, sizeof out, "%s help train", nn_bin);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "--bias-init"));
    assert_non_null(strstr(out, "normal[:STD]"));
}

/* Each bad input: a non-zero exit (not a signal) and a message naming it. */
static void bad_inputs_fail_clearly(void **state)
{
    (void)state;
    char trunc[512], csvbad[512];
    snprintf(trunc, sizeof trunc, "%s/trunc.safetensors", dir);
    snprintf(csvbad, sizeof csvbad, "%s/bad.csv", dir);
    FILE *f = fopen(csvbad, "w");
    fprintf(f, "a,b,kind\n1,2,x\n3,oops,y\n");
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "head -c 300 %s/m.safetensors > %s", dir, trunc);
    assert_int_equal(system(cmd), 0);
    /* a checkpoint written through the library: it records no data source */
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_model *bm = nn_model_new(ctx, "4 dense:3 softmax", NULL);
    assert_non_null(bm);
    snprintf(cmd, sizeof cmd, "%s/bare.safetensors", dir);
    assert_ok(ctx, nn_checkpoint_save(cmd, bm, NULL, NULL, NULL, 0));
    nn_model_free(bm);
    nn_ctx_free(ctx);
    struct { const char *args, *needle; } cases[] = {
        {"train --lr abc", "--lr"},
        {"train --epochs 0", "--epochs"},
        {"train --bogus 1", "--bogus"},
        {"train --epoch 3", "did you mean --epochs?"},
        {"train --optimizer adam", "did you mean --optim?"},
        {"eval MODEL --bach 3", "did you mean --batch?"},
        {"train --optim adamx --data BLOBS --label kind", "adamx"},
        {"train --data /nonexistent.csv", "/nonexistent.csv"},
        {"train --data BLOBS --label nosuch", "nosuch"},
        {"train --data BAD --label kind", "bad.csv"},
        {"train --data BLOBS --label kind --model '3 dense:3 softmax'", "4 features"},
        {"train --data BLOBS --label kind --model '4 dense:2 softmax'", "3 classes"},
        {"train --data BLOBS --label kind --model '4 dense:3 frob'", "frob"},
        {"train --data BLOBS --label kind --schedule step:x", "schedule"},
        {"train --data BLOBS --label kind --model '4 dense:3' --loss mse", "class labels"},
        {"train --data BLOBS --label kind --resume TRUNC", "trunc.safetensors"},
        {"eval TRUNC --data BLOBS --label kind", "trunc.safetensors"},
        {"eval /nonexistent.safetensors", "/nonexistent.safetensors"},
        {"eval MODEL --data DIR/line.csv --label y", "1 feature per sample"},
        {"predict MODEL --input /nonexistent.csv", "/nonexistent.csv"},
        {"predict BARE", "--input"},
        {"info TRUNC", "trunc.safetensors"},
        {"frobnicate", "frobnicate"},
        {"trian --epochs 1", "did you mean 'train'?"},
        {"help frobnicate", "frobnicate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* substitute the placeholders */
        char args[1024] = "", *w = args;
        for (const char *p = cases[i].args; *p;) {
            const char *subst = NULL;
            size_t skip = 0;
            static char blobs[512], model[512], bare[512];
            snprintf(blobs, sizeof blobs, "%s/blobs.csv", dir);
            snprintf(bare, sizeof bare, "%s/bare.safetensors", dir);
            snprintf(model, sizeof model, "%s/m.safetensors", dir);
            if (strncmp(p, "BLOBS", 5) == 0)
                subst = blobs, skip = 5;
            else if (strncmp(p, "BAD", 3) == 0)
                subst = csvbad, skip = 3;
            else if (strncmp(p, "TRUNC", 5) == 0)
                subst = trunc, skip = 5;
            else if (strncmp(p, "BARE", 4) == 0)
                subst = bare, skip = 4;
            else if (strncmp(p, "MODEL", 5) == 0)
                subst = model, skip = 5;
            else if (strncmp(p, "DIR", 3) == 0)
                subst = dir, skip = 3;
            if (subst) {
                w += sprintf(w, "%s", subst);
                p += skip;
            } else {
                *w++ = *p++;
                *w = '\0';
            }
        }
        int rc = run(out, sizeof out, "%s %s", nn_bin, args);
        if (rc == 0 || rc >= 1000)
            fail_msg("nn %s: exit %d (expected an error exit): %s", args, rc, out);
        if (!strstr(out, cases[i].needle))
            fail_msg("nn %s: message lacks '%s': %s", args, cases[i].needle, out);
        if (strstr(out, "Sanitizer") || strstr(out, "runtime error"))
            fail_msg("nn %s: sanitizer report: %s", args, out);
    }
}

/* Every schedule form that nn help schedule shows is accepted. */
static void help_schedule_examples_parse(void **state)
{
    (void)state;
    const char *specs[] = {"constant", "step:10:0.5", "exp:0.95", "cos", "cos:20:0.0001",
                           "plateau", "plateau:3:0.5", "plateau:patience=3:factor=0.5",
                           "warmup:2+cos", "warmup:3:0.1+step:10:0.5"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        int rc = run(out, sizeof out,
                     "%s train --data %s/line.csv --label y --model '1 dense:1' --epochs 4 "
                     "--schedule '%s' --out %s/sched.safetensors --quiet",
                     nn_bin, dir, specs[i], dir);
        if (rc != 0)
            fail_msg("--schedule %s: exit %d: %s", specs[i], rc, out);
    }
    int rc = run(out, sizeof out, "%s help schedule", nn_bin);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "warmup:EPOCHS[:START_FACTOR]+"));
}

static void help_documents_every_flag(void **state)
{
    (void)state;
    int rc = run(out, sizeof out, "%s help train", nn_bin);
    assert_int_equal(rc, 0);
    const char *flags[] = {"--data", "--label", "--val-split", "--val", "--test", "--model",
                           "--optim", "--lr", "--momentum", "--weight-decay", "--l1", "--l2",
                           "--dropout", "--schedule", "--patience", "--threads", "--init",
                           "--epochs", "--batch", "--seed", "--out", "--resume", "--log",
                           "--plot", "--config", "--quiet", "--normalize", "--clip-norm",
                           "--augment"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        if (!strstr(out, flags[i]))
            fail_msg("nn help train does not document %s", flags[i]);
    rc = run(out, sizeof out, "%s --version", nn_bin);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, nn_version()));
    /* eval's batch is not train's; info has no options, so no empty list */
    rc = run(out, sizeof out, "%s help eval", nn_bin);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "default 256"));
    rc = run(out, sizeof out, "%s help info", nn_bin);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "--spec")); /* info has options now */
    rc = run(out, sizeof out, "%s help predict", nn_bin);
    assert_non_null(strstr(out, "most likely classes (default 3)"));
}

/* Counts the lines of a file that start with prefix. */
static int lines_starting(const char *path, const char *prefix)
{
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot read %s", path);
    char line[1024];
    int n = 0;
    while (fgets(line, sizeof line, f))
        n += strncmp(line, prefix, strlen(prefix)) == 0;
    fclose(f);
    return n;
}

/* nn train --stats: the per-layer CSV after every epoch, the same weights
 * as without it (dropout included), nn info shows the last epoch's, and a
 * resumed run appends to the recorded file. */
static void stats_flag_csv_info_resume(void **state)
{
    (void)state;
    const char *common = "--data %s/blobs.csv --label kind --model '4 dense:16 relu dropout:0.3 "
                         "dense:8 sigmoid dense:3' --batch 32 --seed 3 --optim adam "
                         "--threads 1 --quiet";
    char flags[1024], a[512], b[512], st[512], st2[512];
    snprintf(flags, sizeof flags, common, dir);
    snprintf(a, sizeof a, "%s/stats_a.safetensors", dir);
    snprintf(b, sizeof b, "%s/stats_b.safetensors", dir);
    snprintf(st, sizeof st, "%s/stats.csv", dir);
    snprintf(st2, sizeof st2, "%s/stats2.csv", dir);
    int rc = run(out, sizeof out, "%s train %s --epochs 3 --stats %s --out %s", nn_bin, flags,
                 st, a);
    if (rc)
        fail_msg("%s", out);
    rc = run(out, sizeof out, "%s train %s --epochs 3 --out %s", nn_bin, flags, b);
    if (rc)
        fail_msg("%s", out);
    cli_same_tensors(a, b);
    assert_int_equal(lines_starting(st, "epoch,layer,op,kind,units,mean,std,unit_std,dead,"
                                        "grad_norm\n"), 1);
    for (int e = 1; e <= 3; e++) {
        char pre[64];
        snprintf(pre, sizeof pre, "%d,relu1,relu,activation,16,", e);
        assert_int_equal(lines_starting(st, pre), 1);
        snprintf(pre, sizeof pre, "%d,dense1.weight,param,param,64,", e);
        assert_int_equal(lines_starting(st, pre), 1);
    }
    assert_int_equal(lines_starting(st, "4,"), 0);
    /* --plot with --stats: a third panel makes the PNG taller (IHDR height) */
    unsigned heights[2];
    for (int with = 0; with <= 1; with++) {
        char png[512];
        snprintf(png, sizeof png, "%s/stats_plot%d.png", dir, with);
        rc = run(out, sizeof out,
                 "%s train %s --epochs 2 %s%s --plot %s --out %s/stats_p.safetensors --force",
                 nn_bin, flags, with ? "--stats " : "", with ? st2 : "", png, dir);
        if (rc)
            fail_msg("%s", out);
        char *buf = NULL;
        long n = slurp(png, &buf);
        assert_true(n > 24);
        const unsigned char *u = (const unsigned char *)buf;
        heights[with] =
            (unsigned)u[20] << 24 | (unsigned)u[21] << 16 | (unsigned)u[22] << 8 | u[23];
        free(buf);
    }
    print_message("plot heights: %u without --stats, %u with\n", heights[0], heights[1]);
    assert_true(heights[1] > heights[0] + 200);
    rc = run(out, sizeof out, "%s info %s", nn_bin, a);
    assert_int_equal(rc, 0);
    if (!strstr(out, "layer_stats  epoch 3") || !strstr(out, "relu1") ||
        !strstr(out, "dead ") || !strstr(out, "|grad| "))
        fail_msg("nn info lacks the last epoch's statistics:\n%s", out);
    /* resume: the recorded --stats file goes on, and the weights are those
     * of the uninterrupted run */
    char part[512];
    snprintf(part, sizeof part, "%s/stats_part.safetensors", dir);
    rc = run(out, sizeof out, "%s train %s --epochs 2 --stats %s --out %s", nn_bin, flags, st2,
             part);
    if (rc)
        fail_msg("%s", out);
    assert_int_equal(lines_starting(st2, "3,"), 0);
    rc = run(out, sizeof out, "%s train --resume %s --epochs 3 --quiet", nn_bin, part);
    if (rc)
        fail_msg("%s", out);
    assert_int_equal(lines_starting(st2, "epoch,"), 1);
    assert_int_equal(lines_starting(st2, "3,relu1,relu,activation,16,"), 1);
    cli_same_tensors(a, part);
}

NN_GROUP_FIXTURE(cli, setup, teardown,
                 cmocka_unit_test(trains_and_eval_reproduces),
                 cmocka_unit_test(stats_flag_csv_info_resume),
                 cmocka_unit_test(test_file_missing_a_class),
                 cmocka_unit_test(regression_csv),
                 cmocka_unit_test(binary_sigmoid_csv),
                 cmocka_unit_test(linear_head_means_cross_entropy),
                 cmocka_unit_test(image_folder_and_predict),
                 cmocka_unit_test(resume_is_exact),
                 cmocka_unit_test(resume_defaults_and_dropout_zero),
                 cmocka_unit_test(resume_restores_every_setting),
                 cmocka_unit_test(resume_rejects_contradicting_flags),
                 cmocka_unit_test(eval_and_predict_use_recorded_data),
                 cmocka_unit_test(augment_resume_is_exact),
                 cmocka_unit_test(augment_bad_flags_fail_clearly),
                 cmocka_unit_test(failed_write_keeps_last_checkpoint),
                 cmocka_unit_test(killed_training_leaves_valid_checkpoint),
                 cmocka_unit_test(config_file_and_flags_override),
                 cmocka_unit_test(explicit_zero_flags_are_kept),
                 cmocka_unit_test(init_forms_through_the_cli),
                 cmocka_unit_test(help_documents_init_forms),
                 cmocka_unit_test(bad_inputs_fail_clearly),
                 cmocka_unit_test(help_schedule_examples_parse),
                 cmocka_unit_test(help_documents_every_flag))
