/*
 * test_cli_cols.c - issue 16's data items, run through the built nn
 * binary: a checkpoint remembers its CSV columns by name (eval and predict
 * find them in any order, leave out extra and --ignore'd ones, and name a
 * missing one; headerless files go by position with their column count
 * checked), labels are classes or targets by a stated rule (--task
 * overrides, the choice is printed), and images of another colour or size
 * are brought to the model's input.
 */
#include "test.h"

#include <sys/stat.h>
#include <unistd.h>

int stbi_write_png(char const *filename, int w, int h, int comp, const void *data,
                   int stride_in_bytes);

static char nn_bin[4200];
static char dir[256];
static char out[1 << 16];

#define run cli_run
#define write_file(name, text) cli_write(dir, name, text)

/* rows of "id,a,b,c,species" (three classes by the sign of a and b), and
 * the same rows with the columns in another order plus an extra one */
static void write_iris_like(void)
{
    char path[512], path2[512];
    snprintf(path, sizeof path, "%s/train.csv", dir);
    snprintf(path2, sizeof path2, "%s/shuffled.csv", dir);
    FILE *f = fopen(path, "w"), *g = fopen(path2, "w");
    assert_true(f && g);
    fprintf(f, "id,a,b,c,species\n");
    fprintf(g, "c,note,species,b,a\n");
    static const char *const names[] = {"setosa", "versicolor", "virginica"};
    unsigned s = 5;
    for (int i = 0; i < 90; i++) {
        int k = i % 3;
        double v[3];
        for (int j = 0; j < 3; j++) {
            s = s * 1103515245u + 12345u;
            v[j] = ((s >> 8) & 0xffff) / 65536.0 - 0.5 + (j == k ? 1.5 : 0);
        }
        fprintf(f, "%d,%.4f,%.4f,%.4f,%s\n", 1000 + i * 7, v[0], v[1], v[2], names[k]);
        fprintf(g, "%.4f,x%d,%s,%.4f,%.4f\n", v[2], i, names[k], v[1], v[0]);
    }
    fclose(f);
    fclose(g);
}

static int setup(void **state)
{
    (void)state;
    snprintf(nn_bin, sizeof nn_bin, "%s", cli_nn());
    if (cli_tmpdir(dir, sizeof dir, "clicols") != 0)
        return -1;
    write_iris_like();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return cli_rmdir(dir);
}

/* The first line of out that starts with prefix, into buf ("" if none). */
static const char *line_of(const char *prefix, char *buf, size_t cap)
{
    const char *p = strstr(out, prefix);
    size_t n = 0;
    while (p && p[n] && p[n] != '\n' && n + 1 < cap)
        n++;
    if (p)
        memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/* Train with --ignore id; eval on a file with the columns shuffled and an
 * extra one gives the same numbers; predict on it (label and all) gives
 * the same classes as on the training file; a missing column is named. */
static void columns_found_by_name(void **state)
{
    (void)state;
    int rc = run(out, sizeof out, "%s train --data %s/train.csv --ignore id --epochs 20 "
                 "--seed 3 --out %s/c.safetensors", nn_bin, dir, dir);
    if (rc)
        fail_msg("train: %s", out);
    if (!strstr(out, "columns left out: id") ||
        !strstr(out, "task: classification, 3 classes (setosa, versicolor, virginica), "
                     "label column species"))
        fail_msg("train does not say which columns it uses: %s", out);
    assert_non_null(strstr(out, "3 dense:64")); /* id is not a feature */
    char a[256], b[256];
    /* --val and --test files are read in the training file's columns too */
    rc = run(out, sizeof out, "%s train --data %s/train.csv --ignore id --epochs 1 --quiet "
             "--val %s/shuffled.csv --test %s/shuffled.csv --out %s/cv.safetensors", nn_bin,
             dir, dir, dir, dir);
    if (rc)
        fail_msg("--val and --test with the columns shuffled: %s", out);
    rc = run(out, sizeof out, "%s eval %s/c.safetensors --json", nn_bin, dir);
    assert_int_equal(rc, 0);
    line_of("{\"loss\"", a, sizeof a);
    rc = run(out, sizeof out, "%s eval %s/c.safetensors --data %s/shuffled.csv --json", nn_bin,
             dir, dir);
    if (rc)
        fail_msg("eval on the shuffled columns: %s", out);
    line_of("{\"loss\"", b, sizeof b);
    if (!a[0] || strcmp(a, b) != 0)
        fail_msg("eval differs with the columns in another order: '%s' vs '%s'", a, b);
    /* predict: same classes row by row */
    char p1[1 << 14];
    rc = run(p1, sizeof p1, "%s predict %s/c.safetensors --input %s/train.csv --top 1", nn_bin,
             dir, dir);
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, "%s predict %s/c.safetensors --input %s/shuffled.csv --top 1",
             nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    if (strcmp(p1, out) != 0 || cli_count_lines(out, "89: class") != 1)
        fail_msg("predict differs with the columns shuffled:\n%.300s\nvs\n%.300s", p1, out);
    /* a file without the label column predicts, cannot be evaluated */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cut -d, -f1,4,5 %s/shuffled.csv > %s/nolabel.csv", dir, dir);
    assert_int_equal(system(cmd), 0);
    rc = run(out, sizeof out, "%s predict %s/c.safetensors --input %s/nolabel.csv --top 1",
             nn_bin, dir, dir);
    if (rc || strcmp(p1, out) != 0)
        fail_msg("predict without the label column: %s", out);
    rc = run(out, sizeof out, "%s eval %s/c.safetensors --data %s/nolabel.csv", nn_bin, dir, dir);
    if (rc == 0 || !strstr(out, "label column 'species' is missing") ||
        !strstr(out, "nolabel.csv"))
        fail_msg("eval without the label column: %s", out);
    /* a feature column missing: named, with the file */
    snprintf(cmd, sizeof cmd, "cut -d, -f1,2,3,4 %s/shuffled.csv > %s/noa.csv", dir, dir);
    assert_int_equal(system(cmd), 0);
    rc = run(out, sizeof out, "%s predict %s/c.safetensors --input %s/noa.csv", nn_bin, dir, dir);
    if (rc == 0 || !strstr(out, "column 'a' is missing") || !strstr(out, "noa.csv"))
        fail_msg("predict without column a: %s", out);
    rc = run(out, sizeof out, "%s eval %s/c.safetensors --data %s/noa.csv", nn_bin, dir, dir);
    if (rc == 0 || !strstr(out, "column 'a' is missing"))
        fail_msg("eval without column a: %s", out);
}

/* --ignore: recorded and checked on --resume; an unknown column is an
 * error naming it with the nearest name. */
static void ignore_is_recorded_and_checked(void **state)
{
    (void)state;
    int rc = run(out, sizeof out, "%s train --data %s/train.csv --ignore idd --epochs 1 "
                 "--out %s/i.safetensors", nn_bin, dir, dir);
    if (rc == 0 || !strstr(out, "ignore column 'idd' not found") ||
        !strstr(out, "did you mean 'id'?"))
        fail_msg("--ignore idd: %s", out);
    /* a text column as a feature: the message says how to leave it out */
    rc = run(out, sizeof out, "%s train --data %s/train.csv --label a --epochs 1 "
             "--out %s/i.safetensors", nn_bin, dir, dir);
    if (rc == 0 || !strstr(out, "'setosa' is not a number") || !strstr(out, "--ignore COLUMN"))
        fail_msg("a text feature column: %s", out);
    rc = run(out, sizeof out, "%s train --data %s/train.csv --header yse --epochs 1 "
             "--out %s/i.safetensors", nn_bin, dir, dir);
    if (rc == 0 || !strstr(out, "not 'yse' (did you mean yes?)"))
        fail_msg("--header yse: %s", out);
    rc = run(out, sizeof out, "%s train --data %s/train.csv --ignore id --epochs 1 --quiet "
             "--out %s/i.safetensors", nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, "%s info %s/i.safetensors", nn_bin, dir);
    if (rc || !strstr(out, "ignore       id") ||
        !strstr(out, "task         auto (classification)") ||
        !strstr(out, "columns      id, a, b, c, species"))
        fail_msg("info does not show the columns: %s", out);
    rc = run(out, sizeof out, "%s train --resume %s/i.safetensors --ignore a --epochs 2",
             nn_bin, dir);
    if (rc == 0 || !strstr(out, "--ignore a contradicts") || !strstr(out, "ignore id"))
        fail_msg("resume with another --ignore: %s", out);
    rc = run(out, sizeof out, "%s train --resume %s/i.safetensors --optim adma --epochs 2",
             nn_bin, dir);
    if (rc == 0 || !strstr(out, "unknown optimizer 'adma' (did you mean adam?)"))
        fail_msg("resume with a mistyped optimizer: %s", out);
    rc = run(out, sizeof out, "%s train --resume %s/i.safetensors --epochs 2 --quiet", nn_bin,
             dir);
    if (rc)
        fail_msg("resume: %s", out);
    rc = run(out, sizeof out, "%s train --resume %s/i.safetensors --ignore id --epochs 3 "
             "--quiet", nn_bin, dir);
    if (rc)
        fail_msg("resume repeating --ignore id: %s", out);
}

/* A CSV without a header: columns by position; --ignore by index; a file
 * with another column count is an error giving both counts; predict takes
 * the file with or without its label column. */
static void headerless_goes_by_position(void **state)
{
    (void)state;
    write_file("nh.csv", "7,1,2,0\n8,3,4,1\n9,5,6,0\n10,7,8,1\n11,1,3,0\n12,6,8,1\n");
    write_file("nh3.csv", "1,2,0\n3,4,1\n");
    write_file("nh_in.csv", "7,1,2\n8,7,8\n");
    int rc = run(out, sizeof out, "%s train --data %s/nh.csv --ignore 0 --epochs 2 "
                 "--out %s/nh.safetensors", nn_bin, dir, dir);
    if (rc || !strstr(out, "columns left out: 0") ||
        !strstr(out, "task: classification, 2 classes (0, 1), label column 3 (0-based; no header)"))
        fail_msg("train headerless with --ignore 0: %s", out);
    assert_non_null(strstr(out, "2 dense:64"));
    rc = run(out, sizeof out, "%s eval %s/nh.safetensors --data %s/nh3.csv", nn_bin, dir, dir);
    if (rc == 0 || !strstr(out, "nh3.csv has 3 columns") || !strstr(out, "had 4"))
        fail_msg("eval on a headerless file of 3 columns: %s", out);
    rc = run(out, sizeof out, "%s eval %s/nh.safetensors --data %s/nh.csv --json", nn_bin, dir,
             dir);
    if (rc || !strstr(out, "\"n\": 6"))
        fail_msg("eval on the training file: %s", out);
    rc = run(out, sizeof out, "%s predict %s/nh.safetensors --input %s/nh_in.csv", nn_bin, dir,
             dir);
    if (rc || cli_count_lines(out, "1: class") != 1)
        fail_msg("predict without the label column: %s", out);

    write_file("nh5.csv", "1,2,3,4,5\n");
    rc = run(out, sizeof out, "%s predict %s/nh.safetensors --input %s/nh5.csv", nn_bin, dir,
             dir);
    if (rc == 0 || !strstr(out, "has 5 columns") || !strstr(out, "had 4, or 3 without the label"))
        fail_msg("predict on 5 columns: %s", out);
}

/* Labels written 0.00000/1.00000 are classes; many levels are a quantity;
 * --task overrides, is recorded, checked on resume, suggested when
 * mistyped; the choice is printed (not under --quiet). */
static void task_is_decided_and_printed(void **state)
{
    (void)state;
    write_file("flags.csv", "x,y\n1,0.00000\n2,1.00000\n3,1.00000\n4,0.00000\n");
    int rc = run(out, sizeof out, "%s train --data %s/flags.csv --epochs 1 --out %s/f.safetensors",
                 nn_bin, dir, dir);
    if (rc || !strstr(out, "task: classification, 2 classes (0, 1), label column y"))
        fail_msg("0.00000/1.00000 labels: %s", out);
    assert_non_null(strstr(out, "dense:2 softmax"));
    rc = run(out, sizeof out, "%s predict %s/f.safetensors --input %s/flags.csv --top 1", nn_bin,
             dir, dir);
    if (rc || cli_count_lines(out, "3: class ") != 1)
        fail_msg("predict: %s", out);
    rc = run(out, sizeof out, "%s train --data %s/flags.csv --task regress --epochs 1 "
             "--out %s/fr.safetensors", nn_bin, dir, dir);
    if (rc || !strstr(out, "task: regression, target column y"))
        fail_msg("--task regress: %s", out);
    rc = run(out, sizeof out, "%s eval %s/fr.safetensors --json", nn_bin, dir);
    if (rc || !strstr(out, "\"r2\""))
        fail_msg("eval of the regression model: %s", out);
    rc = run(out, sizeof out, "%s train --resume %s/fr.safetensors --task classify --epochs 2",
             nn_bin, dir);
    if (rc == 0 || !strstr(out, "--task classify contradicts") || !strstr(out, "task regress"))
        fail_msg("resume with another --task: %s", out);
    /* a run that chose classes itself agrees with --task classify, not regress */
    rc = run(out, sizeof out, "%s train --resume %s/f.safetensors --task classify --epochs 2 "
             "--quiet", nn_bin, dir);
    if (rc)
        fail_msg("resume of an auto run with the task it chose: %s", out);
    rc = run(out, sizeof out, "%s train --resume %s/f.safetensors --task regress --epochs 3",
             nn_bin, dir);
    if (rc == 0 || !strstr(out, "--task regress contradicts"))
        fail_msg("resume of an auto run with the other task: %s", out);
    rc = run(out, sizeof out, "%s train --data %s/flags.csv --task clasify --epochs 1 "
             "--out %s/fx.safetensors", nn_bin, dir, dir);
    if (rc == 0 || !strstr(out, "did you mean classify?"))
        fail_msg("--task clasify: %s", out);
    rc = run(out, sizeof out, "%s help train", nn_bin);
    if (!strstr(out, "--task") || !strstr(out, "at most 20"))
        fail_msg("help train does not document --task's rule: %s", out);
    /* 25 distinct whole numbers: a quantity */
    char text[2048];
    size_t k = (size_t)snprintf(text, sizeof text, "x,y\n");
    for (int i = 0; i < 50; i++)
        k += (size_t)snprintf(text + k, sizeof text - k, "%d,%d\n", i, 3 * (i % 25));
    write_file("levels.csv", text);
    rc = run(out, sizeof out, "%s train --data %s/levels.csv --epochs 1 --out %s/l.safetensors",
             nn_bin, dir, dir);
    if (rc || !strstr(out, "task: regression, target column y"))
        fail_msg("25 levels: %s", out);
    rc = run(out, sizeof out, "%s train --data %s/flags.csv --epochs 1 --quiet "
             "--out %s/fq.safetensors", nn_bin, dir, dir);
    if (rc || strstr(out, "task:"))
        fail_msg("--quiet prints the task: %s", out);
}

/* Image folders: --image-size WxH --resize is recorded, so predict
 * resizes another size itself; an RGB model takes a grey image; every line
 * names its file; a model trained without --resize names --resize. */
static void images_fit_the_model(void **state)
{
    (void)state;
    char path[600];
    uint8_t px[16 * 16 * 3];
    const char *cls[] = {"dark", "light"};
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < 4; i++) {
            snprintf(path, sizeof path, "%s/img/%s", dir, cls[c]);
            char cmd[700];
            snprintf(cmd, sizeof cmd, "mkdir -p %s", path);
            assert_int_equal(system(cmd), 0);
            for (int k = 0; k < 16 * 16 * 3; k++)
                px[k] = (uint8_t)(c ? 200 + i * 10 + k % 7 : 20 + i * 10 + k % 5);
            snprintf(path, sizeof path, "%s/img/%s/%d.png", dir, cls[c], i);
            assert_true(stbi_write_png(path, 16, 16, 3, px, 16 * 3));
        }
    int rc = run(out, sizeof out, "%s train --data %s/img --image-size 8x8 --resize "
                 "--model '3x8x8 flatten dense:2 softmax' --epochs 15 --lr 0.05 --quiet "
                 "--out %s/img.safetensors", nn_bin, dir, dir);
    if (rc)
        fail_msg("train on 16x16 images resized to 8x8: %s", out);
    /* a grey 32x32 image: made RGB and resized */
    uint8_t grey[32 * 32];
    memset(grey, 230, sizeof grey);
    snprintf(path, sizeof path, "%s/grey32.png", dir);
    assert_true(stbi_write_png(path, 32, 32, 1, grey, 32));
    rc = run(out, sizeof out, "%s predict %s/img.safetensors --input %s", nn_bin, dir, path);
    char want[700];
    snprintf(want, sizeof want, "%s: class 1 (light)", path);
    if (rc || !strstr(out, want))
        fail_msg("predict on a grey 32x32 image for an RGB 8x8 model: %s", out);
    /* without --resize at training time: the message names --resize */
    rc = run(out, sizeof out, "%s train --data %s/img --model '3x16x16 flatten dense:2 softmax' "
             "--epochs 1 --quiet --out %s/img16.safetensors", nn_bin, dir, dir);
    if (rc)
        fail_msg("train at 16x16: %s", out);
    rc = run(out, sizeof out, "%s predict %s/img16.safetensors --input %s", nn_bin, dir, path);
    if (rc == 0 || !strstr(out, "--resize") || !strstr(out, "grey32.png"))
        fail_msg("predict on 32x32 for a 16x16 model trained without --resize: %s", out);
    rc = run(out, sizeof out, "%s predict %s/img16.safetensors --input %s --resize", nn_bin, dir,
             path);
    if (rc || !strstr(out, "grey32.png: class"))
        fail_msg("predict --resize: %s", out);
}

/* A flat model of n = s * s inputs (an MLP trained on 4 x 4 grey images
 * written as CSV rows) reads an image as s x s grey pixels: an RGB PNG of
 * that size becomes grey (before, predict refused it: "has 48 features per
 * sample, but the model takes 16 inputs"), and another size names
 * --resize. */
static void flat_model_reads_images(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/px.csv", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < 40; i++) {
        int light = i % 2;
        for (int k = 0; k < 16; k++)
            fprintf(f, "%d,", light ? 180 + (i * 7 + k * 3) % 60 : 10 + (i * 5 + k) % 50);
        fprintf(f, "%s\n", light ? "light" : "dark");
    }
    fclose(f);
    int rc = run(out, sizeof out, "%s train --data %s --model '16 dense:2 softmax' --epochs 30 "
                 "--lr 0.05 --quiet --out %s/px.safetensors", nn_bin, path, dir);
    if (rc)
        fail_msg("train on 4x4 pixels as CSV rows: %s", out);
    uint8_t rgb[4 * 4 * 3];
    for (int k = 0; k < 4 * 4 * 3; k++)
        rgb[k] = (uint8_t)(k % 3 == 2 ? 150 : 230); /* light, a little blue */
    snprintf(path, sizeof path, "%s/light_rgb.png", dir);
    assert_true(stbi_write_png(path, 4, 4, 3, rgb, 4 * 3));
    rc = run(out, sizeof out, "%s predict %s/px.safetensors --input %s", nn_bin, dir, path);
    char want[700];
    snprintf(want, sizeof want, "%s: class 1 (light)", path);
    if (rc || !strstr(out, want))
        fail_msg("predict on a 4x4 RGB image for a 16-input model: %s", out);
    uint8_t big[8 * 8 * 3];
    memset(big, 230, sizeof big);
    snprintf(path, sizeof path, "%s/light8.png", dir);
    assert_true(stbi_write_png(path, 8, 8, 3, big, 8 * 3));
    rc = run(out, sizeof out, "%s predict %s/px.safetensors --input %s", nn_bin, dir, path);
    if (rc == 0 || !strstr(out, "--resize") || !strstr(out, "4 x 4"))
        fail_msg("predict on 8x8 for a 16-input model: %s", out);
    rc = run(out, sizeof out, "%s predict %s/px.safetensors --input %s --resize", nn_bin, dir,
             path);
    if (rc || !strstr(out, "light8.png: class 1 (light)"))
        fail_msg("predict --resize on 8x8 for a 16-input model: %s", out);
}

#define PYTHON "/usr/bin/python3"

/* examples/load_in_pytorch.py on a dense model trained on a CSV (string
 * class names, min-max normalization, a column left out), run on the file
 * with its columns shuffled: the accuracy nn eval prints; and a regression
 * model's mse and mae. */
static void pytorch_reads_csv_models(void **state)
{
    (void)state;
    if (access(PYTHON, X_OK) != 0)
        fail_msg(PYTHON " is missing: run scripts/install-deps.sh (python3-torch)");
    const char *script = nn_test_path("../examples/load_in_pytorch.py");
    int rc = run(out, sizeof out, "%s train --data %s/train.csv --ignore id --normalize minmax "
                 "--model '3 dense:16 tanh dense:3 softmax' --epochs 5 --seed 4 --quiet "
                 "--out %s/pt.safetensors", nn_bin, dir, dir);
    if (rc)
        fail_msg("train: %s", out);
    rc = run(out, sizeof out, "%s eval %s/pt.safetensors --data %s/shuffled.csv", nn_bin, dir,
             dir);
    if (rc)
        fail_msg("eval: %s", out);
    char want[64];
    double acc = strtod(out + strlen("accuracy "), NULL);
    snprintf(want, sizeof want, "accuracy %.4f on 90 rows", acc);
    rc = run(out, sizeof out, "%s %s %s/pt.safetensors %s/shuffled.csv", PYTHON, script, dir, dir);
    if (rc || !strstr(out, want) || !strstr(out, "classes: setosa, versicolor, virginica"))
        fail_msg("load_in_pytorch.py lacks nn eval's '%s': %s", want, out);
    /* regression: nn eval's mse and mae */
    rc = run(out, sizeof out, "%s train --data %s/train.csv --ignore species --label c "
             "--model '3 dense:8 relu dense:1' --epochs 3 --quiet --out %s/ptr.safetensors",
             nn_bin, dir, dir);
    if (rc)
        fail_msg("train regression: %s", out);
    rc = run(out, sizeof out, "%s eval %s/ptr.safetensors", nn_bin, dir);
    const char *m = strstr(out, "mse ");
    const char *e = m ? strstr(m, "  r2") : NULL;
    if (rc || !m || !e)
        fail_msg("eval regression: %s", out);
    snprintf(want, sizeof want, "%.*s", (int)(e - m), m); /* "mse X  mae Y" */
    rc = run(out, sizeof out, "%s %s %s/ptr.safetensors %s/train.csv", PYTHON, script, dir, dir);
    if (rc || !strstr(out, want))
        fail_msg("load_in_pytorch.py lacks nn eval's '%s': %s", want, out);
}

NN_GROUP_FIXTURE(cli_cols, setup, teardown,
                 cmocka_unit_test(pytorch_reads_csv_models),
                 cmocka_unit_test(columns_found_by_name),
                 cmocka_unit_test(ignore_is_recorded_and_checked),
                 cmocka_unit_test(headerless_goes_by_position),
                 cmocka_unit_test(task_is_decided_and_printed),
                 cmocka_unit_test(images_fit_the_model),
                 cmocka_unit_test(flat_model_reads_images))
