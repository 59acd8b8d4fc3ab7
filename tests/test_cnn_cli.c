/*
 * test_cnn_cli.c - convolutional networks through the nn program: a tiny
 * CNN learns synthetic bars and crosses, a batch-norm CNN resumes
 * bit-exactly, CSV rows feed an image-shaped model (augmented too), image
 * data of another shape is refused naming both shapes, predict reads a
 * PNG with a CNN checkpoint, and PyTorch rebuilds the checkpoint
 * (examples/load_in_pytorch.py) and reproduces nn eval's accuracy.
 */
#include "test.h"

#include <sys/wait.h>
#include <unistd.h>

/* stb_image_write (in Debian's libstb, which the library links). */
int stbi_write_png(char const *filename, int w, int h, int comp, const void *data,
                   int stride_in_bytes);

#define PYTHON "/usr/bin/python3"
#define SIDE 12
#define NTRAIN 600
#define NTEST 200

static char nn_bin[4200];
static char dir[256];

#define run(...) cli_run(out, sizeof out, __VA_ARGS__)
static char out[1 << 16];
static char train_idx[1200], test_idx[1200]; /* idx:IMAGES,LABELS */
static char test_images[600], test_labels[600];

/* One 12x12 image of class c: 0 a horizontal bar, 1 a vertical bar, 2 a
 * cross, at position (r, q), on a noisy background. */
static void draw(uint8_t *px, int c, int r, int q, unsigned *s)
{
    for (int k = 0; k < SIDE * SIDE; k++) {
        *s = *s * 1103515245u + 12345u;
        px[k] = (uint8_t)((*s >> 16) % 60);
    }
    for (int k = -3; k <= 3; k++) {
        if (c != 1)
            px[r * SIDE + q + k] = 255;
        if (c != 0)
            px[(r + k) * SIDE + q] = 255;
    }
}

static void make_set(const char *name, int n, unsigned seed, char *spec, char *img_path,
                     char *lab_path)
{
    uint8_t *px = malloc((size_t)n * SIDE * SIDE), *lbl = malloc((size_t)n);
    assert_non_null(px);
    assert_non_null(lbl);
    unsigned s = seed;
    for (int i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        lbl[i] = (uint8_t)(i % 3);
        draw(px + (size_t)i * SIDE * SIDE, lbl[i], 3 + (int)((s >> 16) % 6),
             3 + (int)((s >> 8) % 6), &s);
    }
    snprintf(img_path, 600, "%s/%s-images.idx", dir, name);
    snprintf(lab_path, 600, "%s/%s-labels.idx", dir, name);
    cli_write_idx(img_path, 3, (uint32_t[]){(uint32_t)n, SIDE, SIDE}, px, (size_t)n * SIDE * SIDE);
    cli_write_idx(lab_path, 1, (uint32_t[]){(uint32_t)n}, lbl, (size_t)n);
    snprintf(spec, 1200, "idx:%s,%s", img_path, lab_path);
    /* the same images as a CSV of 144 pixel columns and a label */
    char csv[600];
    snprintf(csv, sizeof csv, "%s/%s.csv", dir, name);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    for (int k = 0; k < SIDE * SIDE; k++)
        fprintf(f, "p%d,", k);
    fprintf(f, "label\n");
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < SIDE * SIDE; k++)
            fprintf(f, "%d,", px[i * SIDE * SIDE + k]);
        fprintf(f, "%d\n", lbl[i]);
    }
    fclose(f);
    free(px);
    free(lbl);
}

static int setup(void **state)
{
    (void)state;
    snprintf(nn_bin, sizeof nn_bin, "%s", cli_nn());
    if (cli_tmpdir(dir, sizeof dir, "cnncli") != 0)
        return -1;
    char img[600], lab[600];
    make_set("train", NTRAIN, 1, train_idx, img, lab);
    make_set("test", NTEST, 2, test_idx, test_images, test_labels);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return cli_rmdir(dir);
}

static double json_accuracy(const char *text)
{
    const char *j = strstr(text, "\"accuracy\": ");
    if (!j)
        fail_msg("no accuracy in: %s", text);
    return atof(j + 12);
}

#define TINY "1x12x12 conv:6,3 relu maxpool:2 flatten dense:3"

/* A tiny CNN learns bars and crosses through the CLI, and the spec is the
 * one the checkpoint records and nn info shows. */
static void tiny_cnn_learns(void **state)
{
    (void)state;
    int rc = run("%s train --data %s --test %s --model '" TINY "' --epochs 3 --batch 16 "
                 "--lr 0.005 --seed 1 --out %s/tiny.safetensors --quiet", nn_bin, train_idx,
                 test_idx, dir);
    if (rc)
        fail_msg("train: %s", out);
    rc = run("%s eval %s/tiny.safetensors --data %s --json", nn_bin, dir, test_idx);
    if (rc)
        fail_msg("eval: %s", out);
    double acc = json_accuracy(out);
    print_message("tiny CNN, 3 epochs: test accuracy %.4f\n", acc);
    if (!(acc > 0.9))
        fail_msg("a tiny CNN reached only %.4f on bars and crosses (chance 0.33)", acc);
    rc = run("%s info %s/tiny.safetensors", nn_bin, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "model:       " TINY));
}

/* A batch-norm CNN (dropout after conv) stopped after 2 of 4 epochs and
 * resumed ends bit-identical to the straight run: weights, running
 * statistics, num_batches_tracked, optimizer state. */
static void batchnorm_cnn_resume_is_exact(void **state)
{
    (void)state;
    const char *model = "1x12x12 conv:4,3,pad=same batchnorm relu dropout:0.2 maxpool:2 "
                        "conv:6,3 batchnorm relu gap dense:3";
    const char *runs[][2] = {{"--epochs 4", "full"}, {"--epochs 2", "part"}};
    for (int i = 0; i < 2; i++) {
        int rc = run("%s train --data %s --model '%s' --batch 32 --seed 3 --val-split 0.2 "
                     "%s --out %s/bn-%s.safetensors --quiet", nn_bin, train_idx, model,
                     runs[i][0], dir, runs[i][1]);
        if (rc)
            fail_msg("train %s: %s", runs[i][0], out);
    }
    int rc = run("%s train --resume %s/bn-part.safetensors --epochs 4 --out "
                 "%s/bn-resumed.safetensors --quiet", nn_bin, dir, dir);
    if (rc)
        fail_msg("resume: %s", out);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/bn-full.safetensors", dir);
    snprintf(b, sizeof b, "%s/bn-resumed.safetensors", dir);
    cli_same_tensors(a, b);
    /* the running statistics did move, and count the batches of 4 epochs */
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_safetensors *st = nn_safetensors_open(ctx, a);
    assert_non_null(st);
    const struct nn_st_view *nb = nn_safetensors_find(st, "bn2.num_batches_tracked");
    assert_non_null(nb);
    assert_string_equal(nb->dtype, "I64");
    assert_int_equal(*(const int64_t *)nb->data, 4 * ((NTRAIN - NTRAIN / 5 + 31) / 32));
    const float *rm = nn_safetensors_get_f32(st, "bn1.running_mean", 1, (int64_t[]){4});
    assert_non_null(rm);
    assert_true(rm[0] != 0 || rm[1] != 0 || rm[2] != 0 || rm[3] != 0);
    nn_safetensors_close(st);
    nn_ctx_free(ctx);
}

/* CSV rows of 144 pixels feed a 1x12x12 model (augmented too: the model's
 * input shape is the image shape); a count that does not fit is an error
 * naming both. */
static void csv_rows_feed_an_image_model(void **state)
{
    (void)state;
    int rc = run("%s train --data %s/train.csv --label label --test %s/test.csv --model '" TINY
                 "' --epochs 3 --batch 16 --lr 0.005 --seed 1 --normalize scale255 "
                 "--augment shift:1 --out %s/csv.safetensors --quiet", nn_bin, dir, dir, dir);
    if (rc)
        fail_msg("train on CSV: %s", out);
    rc = run("%s eval %s/csv.safetensors --data %s/test.csv --label label --json", nn_bin, dir,
             dir);
    if (rc)
        fail_msg("eval: %s", out);
    double acc = json_accuracy(out);
    if (!(acc > 0.9))
        fail_msg("a tiny CNN on CSV pixels reached only %.4f", acc);
    /* the same images read from the IDX files: the same result */
    rc = run("%s eval %s/csv.safetensors --data %s --json", nn_bin, dir, test_idx);
    if (rc)
        fail_msg("eval on IDX: %s", out);
    if (json_accuracy(out) != acc)
        fail_msg("the same images as IDX: %s, from CSV %.6f", out, acc);
    rc = run("%s train --data %s/train.csv --label label --model '1x12x13 conv:2,3 flatten "
             "dense:3' --epochs 1 --out %s/no.safetensors --quiet", nn_bin, dir, dir);
    assert_int_equal(rc, 1);
    if (!strstr(out, "has 144 values per sample (shape (144)), but the model's input "
                     "(1, 12, 13) (its first token 1x12x13) takes 156"))
        fail_msg("message: %s", out);
}

/* Image data must have the model's (C, H, W): same count, other shape,
 * and other channels are refused naming both shapes. */
static void image_shapes_must_match(void **state)
{
    (void)state;
    int rc = run("%s train --data %s --model '1x8x18 conv:2,3 flatten dense:3' --epochs 1 "
                 "--out %s/no.safetensors --quiet", nn_bin, train_idx, dir);
    assert_int_equal(rc, 1);
    if (!strstr(out, "has images of shape (1, 12, 12) (channels, height, width), but the "
                     "model's input is (1, 8, 18)"))
        fail_msg("same count, other shape: %s", out);
    const char *imgs = nn_test_path("data/images");
    rc = run("%s train --data %s/ --image-size 8x8x3 --resize --model '1x8x8 conv:2,3 flatten "
             "dense:2' --epochs 1 --out %s/no.safetensors --quiet", nn_bin, imgs, dir);
    assert_int_equal(rc, 1);
    if (!strstr(out, "has images of shape (3, 8, 8) (channels, height, width), but the model's "
                     "input is (1, 8, 8)") || !strstr(out, "--image-size 8x8x1"))
        fail_msg("3 channels for a 1-channel model: %s", out);
    /* an image folder loaded at the model's shape trains */
    rc = run("%s train --data %s/ --image-size 8x8x1 --resize --model '1x8x8 conv:2,3 flatten "
             "dense:2' --epochs 1 --out %s/folder.safetensors --quiet", nn_bin, imgs, dir);
    if (rc)
        fail_msg("folder at the model's shape: %s", out);
    /* eval of an IDX-trained CNN on data of another shape */
    rc = run("%s eval %s/folder.safetensors --data %s", nn_bin, dir, test_idx);
    assert_int_equal(rc, 1);
    if (!strstr(out, "has images of shape (1, 12, 12)") || !strstr(out, "(1, 8, 8)"))
        fail_msg("eval: %s", out);
}

/* nn predict on PNG files with a CNN trained on IDX: grey, colour (made
 * grey for a 1-channel model), and a size that does not fit. */
static void predict_png_with_cnn(void **state)
{
    (void)state;
    int rc = run("%s train --data %s --model '" TINY "' --epochs 3 --batch 16 --lr 0.005 "
                 "--seed 1 --out %s/png.safetensors --quiet", nn_bin, train_idx, dir);
    if (rc)
        fail_msg("train: %s", out);
    uint8_t grey[SIDE * SIDE], rgb[SIDE * SIDE * 3], big[20 * 20] = {0};
    unsigned s = 99;
    char cross[512], hbar[512], large[512];
    draw(grey, 2, 6, 5, &s);
    snprintf(cross, sizeof cross, "%s/cross.png", dir);
    assert_true(stbi_write_png(cross, SIDE, SIDE, 1, grey, SIDE));
    draw(grey, 0, 4, 7, &s);
    for (int k = 0; k < SIDE * SIDE; k++)
        rgb[3 * k] = rgb[3 * k + 1] = rgb[3 * k + 2] = grey[k];
    snprintf(hbar, sizeof hbar, "%s/hbar.png", dir);
    assert_true(stbi_write_png(hbar, SIDE, SIDE, 3, rgb, 3 * SIDE));
    snprintf(large, sizeof large, "%s/large.png", dir);
    assert_true(stbi_write_png(large, 20, 20, 1, big, 20));
    rc = run("%s predict %s/png.safetensors --input %s", nn_bin, dir, cross);
    char want[600];
    snprintf(want, sizeof want, "%s: class 2", cross); /* the line names its file */
    if (rc || !strstr(out, want))
        fail_msg("predict on a grey cross (class 2): %s", out);
    rc = run("%s predict %s/png.safetensors --input %s --json", nn_bin, dir, hbar);
    if (rc || !strstr(out, "\"class\": 0"))
        fail_msg("predict on a colour horizontal bar (class 0): %s", out);
    rc = run("%s predict %s/png.safetensors --input %s", nn_bin, dir, large);
    if (rc != 1 || !strstr(out, "20 x 20") || !strstr(out, "12 x 12") || !strstr(out, "--resize"))
        fail_msg("predict on a 20x20 image for a 12x12 model: %s", out);
    rc = run("%s predict %s/png.safetensors --input %s --resize", nn_bin, dir, large);
    if (rc || !strstr(out, "large.png: class"))
        fail_msg("predict with --resize: %s", out);
    /* a folder: a file that is not an image is skipped with a warning,
     * every line names its file */
    char folder[512], cmd[2700];
    snprintf(folder, sizeof folder, "%s/inputs", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s %s %s/ && echo notes > %s/README.txt",
             folder, cross, hbar, folder, folder);
    assert_int_equal(system(cmd), 0);
    rc = run("%s predict %s/png.safetensors --input %s/", nn_bin, dir, folder);
    if (rc || !strstr(out, "warning: skipping") || !strstr(out, "README.txt") ||
        !strstr(out, "/inputs/cross.png: class 2") || !strstr(out, "/inputs/hbar.png: class 0") ||
        strstr(out, "//"))
        fail_msg("predict on a folder with a text file: %s", out);
    /* the inputs as arguments, as a shell's glob gives them: one line per
     * file, in order; a folder alone; never both forms at once */
    rc = run("%s predict %s/png.safetensors %s %s", nn_bin, dir, cross, hbar);
    snprintf(want, sizeof want, "%s: class 2", cross);
    const char *first = strstr(out, want);
    snprintf(want, sizeof want, "%s: class 0", hbar);
    if (rc || !first || !strstr(first, want))
        fail_msg("predict with two images as arguments: %s", out);
    rc = run("%s predict %s/png.safetensors %s", nn_bin, dir, folder);
    if (rc || !strstr(out, "/inputs/cross.png: class 2"))
        fail_msg("predict with a folder as argument: %s", out);
    rc = run("%s predict %s/png.safetensors %s %s", nn_bin, dir, cross, folder);
    if (rc != 1 || !strstr(out, "must all be images"))
        fail_msg("predict with an image and a folder: %s", out);
    rc = run("%s predict %s/png.safetensors %s --input %s", nn_bin, dir, cross, hbar);
    if (rc != 1 || !strstr(out, "not both"))
        fail_msg("predict with an argument and --input: %s", out);
    /* nn eval MODEL DATA is nn eval MODEL --data DATA */
    static char with_flag[sizeof out];
    rc = run("%s eval %s/png.safetensors --data %s", nn_bin, dir, test_idx);
    snprintf(with_flag, sizeof with_flag, "%s", out);
    if (rc)
        fail_msg("eval --data: %s", out);
    rc = run("%s eval %s/png.safetensors %s", nn_bin, dir, test_idx);
    if (rc || strcmp(out, with_flag) != 0)
        fail_msg("eval with the data as argument: %s\nagainst --data: %s", out, with_flag);
    rc = run("%s eval %s/png.safetensors %s %s", nn_bin, dir, test_idx, test_idx);
    if (rc != 2 || !strstr(out, "not 2"))
        fail_msg("eval with two data sources: %s", out);
}

/* PyTorch rebuilds a CNN checkpoint (conv, batch norm 2-D and 1-D, both
 * poolings, groups, dropout, flatten, a dense layer without bias) from the file alone and gets the
 * accuracy nn eval reports, to the last printed digit. */
static void pytorch_reproduces_eval(void **state)
{
    (void)state;
    if (access(PYTHON, X_OK) != 0)
        fail_msg(PYTHON " is missing: run scripts/install-deps.sh (python3-torch)");
    const char *script = nn_test_path("../examples/load_in_pytorch.py");
    if (access(script, R_OK) != 0)
        fail_msg("%s not found (run from the repository root or set NN_TEST_DIR)", script);
    int rc = run("%s train --data %s --model '1x12x12,conv:4,3,pad=same,batchnorm,relu,"
                 "maxpool:2,conv:6,3,groups=2,bias=no,relu,avgpool:2,stride=1,flatten,"
                 "dropout:0.2,dense:8,bias=no,batchnorm:eps=0.001,relu,dense:3' --epochs 2 --batch 16 "
                 "--lr 0.005 --seed 2 --out %s/torch.safetensors --quiet", nn_bin, train_idx,
                 dir);
    if (rc)
        fail_msg("train: %s", out);
    rc = run("%s eval %s/torch.safetensors --data %s --json", nn_bin, dir, test_idx);
    if (rc)
        fail_msg("eval: %s", out);
    char want[32];
    snprintf(want, sizeof want, "accuracy %.4f", json_accuracy(out));
    rc = run("%s %s %s/torch.safetensors %s %s", PYTHON, script, dir, test_images, test_labels);
    if (rc)
        fail_msg("load_in_pytorch.py: %s", out);
    print_message("nn eval: %s; %s", want, out);
    if (!strstr(out, want))
        fail_msg("PyTorch's result '%s' lacks nn eval's '%s'", out, want);
}

static void help_model_documents_every_token(void **state)
{
    (void)state;
    int rc = run("%s help model", nn_bin);
    assert_int_equal(rc, 0);
    const char *forms[] = {"conv:C,K[,stride=S][,pad=P|same][,dil=D][,groups=G][,bias=no",
                           "maxpool:K[,stride=S][,pad=P]", "avgpool:K[,stride=S][,pad=P]",
                           "gap", "batchnorm[:momentum=M][:eps=E]", "flatten",
                           "floor((H + 2P - D(K-1) - 1) / S) + 1", "CxHxW", "dense:UNITS",
                           "continues the layer before it", "conv1.weight (C, in/G, KH, KW)",
                           "num_batches_tracked"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (!strstr(out, forms[i]))
            fail_msg("nn help model lacks '%s'", forms[i]);
    /* its examples are accepted */
    const char *examples[] = {
        "1x28x28 conv:8,5,pad=2 relu maxpool:2 conv:16,5 relu maxpool:2 flatten dense:120 relu "
        "dense:84 relu dense:10",
        "3x32x32 conv:32,3,pad=same batchnorm relu maxpool:2 conv:64,3,pad=same batchnorm relu "
        "gap dropout:0.2 dense:10"};
    for (size_t i = 0; i < 2; i++) {
        nn_ctx *ctx = nn_ctx_new(NULL);
        nn_model *m = nn_model_new(ctx, examples[i], &(struct nn_model_cfg){.max_batch = 1});
        if (!m)
            fail_msg("'%s': %s", examples[i], nn_ctx_error(ctx));
        nn_model_free(m);
        nn_ctx_free(ctx);
    }
}

NN_GROUP_FIXTURE(cnn_cli, setup, teardown,
                 cmocka_unit_test(tiny_cnn_learns),
                 cmocka_unit_test(batchnorm_cnn_resume_is_exact),
                 cmocka_unit_test(csv_rows_feed_an_image_model),
                 cmocka_unit_test(image_shapes_must_match),
                 cmocka_unit_test(predict_png_with_cnn),
                 cmocka_unit_test(pytorch_reproduces_eval),
                 cmocka_unit_test(help_model_documents_every_token))
