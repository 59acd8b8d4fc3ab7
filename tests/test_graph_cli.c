/*
 * test_graph_cli.c - `nn graph` (DOT text, PNG and SVG pictures, values
 * and gradients for one input) and `nn plot --boundary` (a 2-input
 * classifier's decision regions) end to end, with one clear error for
 * each kind of bad input.
 */
#include "test.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#include <sys/wait.h>
#include <unistd.h>

static char nn_bin[4200];
static char dir[256];

#define run(...) cli_run(out, sizeof out, __VA_ARGS__)
#define write_file(name, text) cli_write(dir, name, text)
static char out[1 << 16];

/* Two classes left and right of x = 0 in 2 features; three features; a
 * 2x2 RGB image. The models are trained by the tests that need them. */
static int setup(void **state)
{
    (void)state;
    snprintf(nn_bin, sizeof nn_bin, "%s", cli_nn());
    if (cli_tmpdir(dir, sizeof dir, "graph") != 0)
        return -1;
    char path[512];
    snprintf(path, sizeof path, "%s/xy.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "u,v,side\n");
    unsigned s = 11;
    for (int i = 0; i < 200; i++) {
        s = s * 1103515245u + 12345u;
        double a = ((s >> 8) & 0xffff) / 65536.0, b = ((s >> 4) & 0xfff) / 4096.0;
        double u = (i % 2 ? 1 : -1) * (0.5 + 2 * a), v = 4 * b - 2;
        fprintf(f, "%.4f,%.4f,%s\n", u, v, i % 2 ? "right" : "left");
    }
    fclose(f);
    snprintf(path, sizeof path, "%s/three.csv", dir);
    f = fopen(path, "w");
    fprintf(f, "a,b,c,y\n");
    for (int i = 0; i < 40; i++)
        fprintf(f, "%d,%d,%d,%d\n", i % 3, i % 5, i % 7, i % 2);
    fclose(f);
    const unsigned char px[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    snprintf(path, sizeof path, "%s/img.png", dir);
    return stbi_write_png(path, 2, 2, 3, px, 6) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return cli_rmdir(dir);
}

static void has(const char *what)
{
    if (!strstr(out, what))
        fail_msg("output lacks '%s': %s", what, out);
}

/* The first bytes of a file into buf (NUL-terminated); its size. */
static long head_of(const char *name, char *buf, size_t cap)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("%s was not written", path);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    return size;
}

static void spec_as_dot(void **state)
{
    (void)state;
    int rc = run("%s graph '4 dense:3 relu dense:2 softmax' --dot", nn_bin);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, out);
    assert_true(strncmp(out, "digraph ", 8) == 0);
    const char *edges[] = {"\"x\" -> \"dense1.matmul\" [label=\"(N, 4)\"]",
                           "\"dense1.weight\" -> \"dense1.matmul\" [label=\"(3, 4)\"]",
                           "\"dense1\" -> \"relu1\" [label=\"(N, 3)\"]",
                           "\"relu1\" -> \"dense2.matmul\" [label=\"(N, 3)\"]",
                           "\"dense2\" -> \"softmax1\" [label=\"(N, 2)\"]",
                           "\"y\" -> \"loss\" [label=\"(N)\"]"};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        has(edges[i]);
    assert_null(strstr(out, ">value "));
    /* DOT is the default output */
    char first[1 << 16];
    memcpy(first, out, sizeof first);
    assert_int_equal(run("%s graph '4 dense:3 relu dense:2 softmax'", nn_bin), 0);
    assert_string_equal(out, first);
}

/* --values: the row's values and gradients; the label from the row, from
 * --label-value or the predicted class. */
static void values_and_labels(void **state)
{
    (void)state;
    const char *spec = "'4 dense:3 relu dense:2 softmax'";
    int rc = run("%s graph %s --values '1,2,3,4' --label-value 1", nn_bin, spec);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, out);
    has(">value [1, 2, 3, 4]<");
    has(">grad 1<"); /* d loss / d loss */
    has("loss for label 1, from --label-value");
    has("\"x\" -> \"dense1.matmul\" [label=\"(1, 4)\"]");
    assert_int_equal(run("%s graph %s --values '1 2 3 4 0'", nn_bin, spec), 0);
    has("loss for label 0, given in the row");
    assert_int_equal(run("%s graph %s --values 1,2,3,4", nn_bin, spec), 0);
    has("the class predicted");
    /* a CSV file's first data row; an image for an image-sized model */
    write_file("row.csv", "a,b,c,d\n0.5,1,1.5,2\n9,9,9,9\n");
    assert_int_equal(run("%s graph %s --values %s/row.csv", nn_bin, spec, dir), 0);
    has(">value [0.5, 1, 1.5, 2]<");
    rc = run("%s graph '12 dense:2 softmax' --values %s/img.png --label-value 1", nn_bin, dir);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, out);
    /* red, green, blue and white pixels scaled to [0, 1], as (C, H, W):
     * the red plane (1, 0, 0, 1) first; six ones in all */
    has(">value norm 2.449<");
    has(">[1, 0, 0, 1, ...]<");
    /* regression: the targets, given */
    assert_int_equal(run("%s graph '2 dense:2' --values '1,2' --label-value '0.5,-1'", nn_bin), 0);
    has("targets from --label-value");
    assert_int_equal(run("%s graph '2 dense:1' --values '1,2,0.25' --dot", nn_bin), 0);
    has("targets given in the row");
    has(">value 0.25<"); /* the target t */
}

static void checkpoint_with_recorded_label(void **state)
{
    (void)state;
    int rc = run("%s train --data %s/xy.csv --label side --model '2 dense:6 tanh dense:2 "
                 "softmax' --epochs 30 --lr 0.02 --seed 1 --out %s/xy.safetensors --quiet",
                 nn_bin, dir, dir);
    if (rc != 0)
        fail_msg("train: exit %d: %s", rc, out);
    /* the file's first row, its label column found by the recorded name */
    write_file("first.csv", "side,u,v\nright,1.5,0.25\n");
    rc = run("%s graph %s/xy.safetensors --values %s/first.csv", nn_bin, dir, dir);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, out);
    has("loss for label 1 (right), given in the row");
    assert_int_equal(run("%s graph %s/xy.safetensors --values 0.5,1 --label-value left", nn_bin,
                         dir), 0);
    has("loss for label 0 (left), from --label-value");
}

/* Pictures: a PNG (its signature) and an SVG (its root element, with the
 * nodes' names drawn), from a spec and from a DOT file. */
static void png_and_svg(void **state)
{
    (void)state;
    int rc = run("%s graph '4 dense:3 relu dense:2 softmax' --values 1,2,3,4 --png %s/g.png "
                 "--svg %s/g.svg", nn_bin, dir, dir);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, out);
    assert_null(strstr(out, "digraph")); /* pictures only, unless --dot */
    char buf[1 << 16];
    assert_true(head_of("g.png", buf, 9) > 1000);
    assert_memory_equal(buf, "\x89PNG\r\n\x1a\n", 8);
    head_of("g.svg", buf, sizeof buf);
    const char *root = strstr(buf, "<svg");
    assert_non_null(root);
    assert_non_null(strstr(root, "</svg>"));
    assert_non_null(strstr(root, "dense1.matmul"));
    assert_non_null(strstr(root, "relu1"));
    /* the DOT text saved, then drawn */
    rc = run("%s graph '4 dense:3 relu dense:2 softmax' > %s/g.dot && %s graph %s/g.dot --png "
             "%s/d.png", nn_bin, dir, nn_bin, dir, dir);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, out);
    assert_true(head_of("d.png", buf, 9) > 1000);
    assert_memory_equal(buf, "\x89PNG\r\n\x1a\n", 8);
}

/* nn plot --boundary: the regions left and right of the data's divide
 * take the colours of classes 0 (left) and 1 (right). Pixels near the
 * plot area's top corners (boundary.c puts the area at x 90-670, y
 * 70-650) lie in the 8% margin around the points. */
static void boundary_picture(void **state)
{
    (void)state;
    int rc = run("%s train --data %s/xy.csv --label side --model '2 dense:8 tanh dense:2 "
                 "softmax' --epochs 40 --lr 0.02 --seed 2 --out %s/b.safetensors --quiet",
                 nn_bin, dir, dir);
    if (rc != 0)
        fail_msg("train: exit %d: %s", rc, out);
    rc = run("%s plot %s/b.safetensors --boundary --data %s/xy.csv --out %s/b.png", nn_bin, dir,
             dir, dir);
    if (rc != 0)
        fail_msg("plot: exit %d: %s", rc, out);
    has("b.png");
    char path[512];
    snprintf(path, sizeof path, "%s/b.png", dir);
    int w, h, c;
    unsigned char *img = stbi_load(path, &w, &h, &c, 3);
    if (!img)
        fail_msg("%s is not a PNG stb_image reads", path);
    assert_true(w > 700 && h > 660);
    const unsigned char *left = img + (75 * w + 95) * 3, *right = img + (75 * w + 665) * 3;
    /* class 0 is blue (0.12, 0.47, 0.71), class 1 orange (1, 0.5, 0.05) */
    if (!(left[2] > left[0] + 20 && right[0] > right[2] + 20))
        fail_msg("left region (%d, %d, %d), right region (%d, %d, %d)", left[0], left[1],
                 left[2], right[0], right[1], right[2]);
    stbi_image_free(img);
    /* the default output: beside the model; the recorded data */
    assert_int_equal(run("%s plot %s/b.safetensors --boundary", nn_bin, dir), 0);
    char buf[16];
    head_of("b-boundary.png", buf, 9);
    assert_memory_equal(buf, "\x89PNG\r\n\x1a\n", 8);
}

/* nn plot MODEL draws the learning curves the checkpoint records: the
 * picture nn train --plot drew of the same run, pixel for pixel (the same
 * history, title and test line); --curves with --boundary is refused. */
static void plot_curves_from_checkpoint(void **state)
{
    (void)state;
    int rc = run("%s train --data %s/xy.csv --label side --model '2 dense:8 tanh dense:2 "
                 "softmax' --epochs 4 --val-split 0.25 --test %s/xy.csv --seed 2 "
                 "--out %s/c.safetensors --plot %s/c-train.png --quiet", nn_bin, dir, dir, dir,
                 dir);
    if (rc != 0)
        fail_msg("train: exit %d: %s", rc, out);
    rc = run("%s plot %s/c.safetensors", nn_bin, dir);
    if (rc != 0 || !strstr(out, "learning curves of 4 epochs written to"))
        fail_msg("plot: exit %d: %s", rc, out);
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/c-train.png", dir);
    snprintf(b, sizeof b, "%s/c-curves.png", dir);
    int wa, ha, ca, wb, hb, cb;
    unsigned char *ia = stbi_load(a, &wa, &ha, &ca, 3), *ib = stbi_load(b, &wb, &hb, &cb, 3);
    if (!ia || !ib)
        fail_msg("%s or %s is not a PNG stb_image reads", a, b);
    assert_int_equal(wa, wb);
    assert_int_equal(ha, hb);
    long differ = 0;
    for (long i = 0; i < (long)wa * ha * 3; i++)
        differ += ia[i] != ib[i];
    stbi_image_free(ia);
    stbi_image_free(ib);
    if (differ)
        fail_msg("nn plot's curves differ from nn train --plot's in %ld bytes", differ);
    rc = run("%s plot %s/c.safetensors --curves --boundary", nn_bin, dir);
    if (rc != 2 || !strstr(out, "one of --curves, --boundary and --fit"))
        fail_msg("--curves with --boundary: exit %d: %s", rc, out);
}

/* A title longer than the picture (a long spec) is drawn smaller, inside
 * it: the 20 pixels at each side of the title's band stay background. */
static void long_title_fits(void **state)
{
    (void)state;
    int rc = run("%s train --data %s/xy.csv --label side --model '2 dense:8 tanh dropout:0.1 "
                 "dense:8 tanh dropout:0.1 dense:8 tanh dropout:0.1 dense:8 tanh dropout:0.1 "
                 "dense:2 softmax' --epochs 2 --out %s/long.safetensors --plot %s/long.png --quiet",
                 nn_bin, dir, dir, dir);
    if (rc != 0)
        fail_msg("train: exit %d: %s", rc, out);
    char p[512];
    snprintf(p, sizeof p, "%s/long.png", dir);
    int w, h, c;
    unsigned char *img = stbi_load(p, &w, &h, &c, 3);
    if (!img)
        fail_msg("%s is not a PNG stb_image reads", p);
    int inked = 0, band = 0;
    for (int y = 0; y < 40; y++)
        for (int x = 0; x < w; x++) {
            const unsigned char *q = img + (y * w + x) * 3;
            bool ink = q[0] < 200;
            band += ink;
            inked += ink && (x < 20 || x >= w - 20);
        }
    stbi_image_free(img);
    assert_true(band > 100); /* the title is there */
    if (inked)
        fail_msg("the title runs into the picture's sides (%d dark pixels there)", inked);
}

static void bad_inputs_fail_clearly(void **state)
{
    (void)state;
    int rc = run("%s train --data %s/three.csv --label y --model '3 dense:2 softmax' --epochs 1 "
                 "--out %s/three.safetensors --quiet", nn_bin, dir, dir);
    if (rc != 0)
        fail_msg("train: exit %d: %s", rc, out);
    write_file("bad.dot", "digraph { a -> \n");
    struct { const char *args, *needles[3]; } cases[] = {
        {"graph '4 dense:3 softmax' --values 1,2,3", {"--values has 3 values", "takes 4 inputs"}},
        {"graph '4 dense:3 softmax' --values 1,2,3,4,5,6", {"6 values", "4 inputs"}},
        {"graph '13 dense:2 softmax' --values DIR/img.png", {"12 values", "13 inputs"}},
        {"graph /nonexistent.safetensors", {"/nonexistent.safetensors"}},
        {"graph '4 dense:3' --values /nonexistent.csv", {"/nonexistent.csv"}},
        {"graph '4 dense:3 softmax' --values 1,2,3,4 --label-value 7", {"'7'", "3 classes"}},
        {"graph '2 dense:2' --values 1,2", {"regression", "--label-value"}},
        {"graph '4 dense:3 frob'", {"frob"}},
        {"graph '4 dense:3' --bogus", {"--bogus"}},
        {"graph '4 dense:3' --vals 1,2,3,4", {"did you mean --values?"}},
        {"graph DIR/bad.dot --png DIR/bad.png", {"bad.dot", "syntax error"}},
        {"graph '4 dense:3' --png /nonexistent/dir/x.png", {"/nonexistent/dir/x.png"}},
        {"graph", {"give a checkpoint"}},
        {"plot DIR/three.safetensors --boundary --data DIR/three.csv --label y",
         {"2 inputs", "takes 3"}},
        {"plot DIR/three.safetensors --data DIR/three.csv", {"--boundary"}},
        {"plot DIR/three.safetensors --boundary --bogus", {"--bogus"}},
        {"plot /nonexistent.safetensors --boundary", {"/nonexistent.safetensors"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[1024] = "", *w = args;
        for (const char *p = cases[i].args; *p;)
            if (strncmp(p, "DIR", 3) == 0) {
                w += sprintf(w, "%s", dir);
                p += 3;
            } else {
                *w++ = *p++;
                *w = '\0';
            }
        rc = run("%s %s", nn_bin, args);
        if (rc == 0 || rc >= 1000)
            fail_msg("nn %s: exit %d (expected an error exit): %s", args, rc, out);
        for (int k = 0; k < 3 && cases[i].needles[k]; k++)
            if (!strstr(out, cases[i].needles[k]))
                fail_msg("nn %s: message lacks '%s': %s", args, cases[i].needles[k], out);
        if (strstr(out, "Sanitizer") || strstr(out, "runtime error"))
            fail_msg("nn %s: sanitizer report: %s", args, out);
    }
}

static void help_documents_every_flag(void **state)
{
    (void)state;
    assert_int_equal(run("%s help graph", nn_bin), 0);
    const char *graph[] = {"--dot", "--png", "--svg", "--values", "--label-value", "--seed"};
    for (size_t i = 0; i < sizeof graph / sizeof graph[0]; i++)
        has(graph[i]);
    assert_int_equal(run("%s help plot", nn_bin), 0);
    const char *plot[] = {"--boundary", "--data", "--label", "--out", "--task"};
    for (size_t i = 0; i < sizeof plot / sizeof plot[0]; i++)
        has(plot[i]);
    assert_int_equal(run("%s help", nn_bin), 0);
    has("graph");
    has("plot");
}

NN_GROUP_FIXTURE(graph_cli, setup, teardown,
                 cmocka_unit_test(spec_as_dot),
                 cmocka_unit_test(values_and_labels),
                 cmocka_unit_test(checkpoint_with_recorded_label),
                 cmocka_unit_test(png_and_svg),
                 cmocka_unit_test(boundary_picture),
                 cmocka_unit_test(plot_curves_from_checkpoint),
                 cmocka_unit_test(long_title_fits),
                 cmocka_unit_test(bad_inputs_fail_clearly),
                 cmocka_unit_test(help_documents_every_flag))
