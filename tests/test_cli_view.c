/*
 * test_cli_view.c - what a user looks at (issue 16): nn summary and nn
 * info's layer table, optimizer and regression columns, nn eval's
 * per-class accuracy, confusion matrix, top-k accuracy and regression
 * metrics, and the manual page and bash completion the build produces.
 * Drives the built nn binary; also checks the graph's node iteration
 * (nn_graph_nnodes, nn_graph_node) that the layer table walks.
 */
#include "test.h"

#include <math.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char nn_bin[4200], build_dir[4200];
static char dir[256];
static char out[1 << 16];

#define run cli_run
static int class_count[3];            /* cls.csv's rows of each class */
static double target_var;             /* reg.csv's target variance (population) */

/* The line of s that starts with prefix (after spaces), or NULL. */
static const char *line_of(const char *s, const char *prefix)
{
    size_t pl = strlen(prefix);
    for (const char *p = s; p && *p;) {
        const char *q = p;
        while (*q == ' ')
            q++;
        if (strncmp(q, prefix, pl) == 0)
            return q;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

static int setup(void **state)
{
    (void)state;
    snprintf(nn_bin, sizeof nn_bin, "%s", cli_nn());
    snprintf(build_dir, sizeof build_dir, "%s", nn_bin);
    *strrchr(build_dir, '/') = '\0';
    if (cli_tmpdir(dir, sizeof dir, "view16") != 0)
        return -1;
    /* three classes by quadrant, and a linear regression target */
    char path[512];
    snprintf(path, sizeof path, "%s/cls.csv", dir);
    FILE *f = fopen(path, "w");
    snprintf(path, sizeof path, "%s/reg.csv", dir);
    FILE *g = fopen(path, "w");
    if (!f || !g)
        return -1;
    fprintf(f, "a,b,kind\n");
    fprintf(g, "a,b,t\n");
    static const char *const names[] = {"cat", "dog", "emu"};
    unsigned s = 7;
    double sum = 0, sum2 = 0;
    for (int i = 0; i < 300; i++) {
        s = s * 1103515245u + 12345u;
        double u = ((s >> 8) & 0xffff) / 32768.0 - 1;
        s = s * 1103515245u + 12345u;
        double v = ((s >> 8) & 0xffff) / 32768.0 - 1;
        fprintf(f, "%.4f,%.4f,%s\n", u, v, names[(u > 0) + (v > 0)]);
        fprintf(g, "%.4f,%.4f,%.4f\n", u, v, 2 * u - v + 0.5);
        char txt[32];
        snprintf(txt, sizeof txt, "%.4f", 2 * u - v + 0.5);
        double t = atof(txt); /* the value as written */
        sum += t;
        sum2 += t * t;
        class_count[(u > 0) + (v > 0)]++;
    }
    target_var = sum2 / 300 - (sum / 300) * (sum / 300);
    fclose(f);
    fclose(g);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return cli_rmdir(dir);
}

/* The graph's nodes in creation order: a model's layers in spec order. */
static void graph_nodes_in_order(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(NULL);
    assert_non_null(ctx);
    nn_model *m = nn_model_new(ctx, "3 dense:5 relu dense:2",
                               &(struct nn_model_cfg){.max_batch = 1});
    assert_non_null(m);
    nn_graph *g = nn_model_graph(m);
    int n = nn_graph_nnodes(g), d1 = -1, r1 = -1, d2 = -1;
    assert_true(n > 5);
    for (int i = 0; i < n; i++) {
        const char *name = nn_node_name(nn_graph_node(g, i));
        if (strcmp(name, "dense1") == 0)
            d1 = i;
        if (strcmp(name, "relu1") == 0)
            r1 = i;
        if (strcmp(name, "dense2") == 0)
            d2 = i;
    }
    assert_true(d1 >= 0 && d1 < r1 && r1 < d2);
    assert_ptr_equal(nn_graph_node(g, d2), nn_graph_find(g, "dense2"));
    assert_null(nn_graph_node(g, n));
    assert_null(nn_graph_node(g, -1));
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* nn summary: one row per layer with its output shape and parameters,
 * the activation folded into the layer before it, and a total. */
static void summary_layer_table(void **state)
{
    (void)state;
    const char *spec = "1x8x8 conv:4,3,pad=1 relu maxpool:2 flatten dense:5 tanh dense:3 softmax";
    int rc = run(out, sizeof out, "%s summary \"%s\"", nn_bin, spec);
    assert_int_equal(rc, 0);
    const char *l = line_of(out, "conv1");
    assert_non_null(l);
    assert_non_null(strstr(l, "(4, 8, 8)"));
    assert_non_null(strstr(l, " 40 ")); /* 4*1*3*3 + 4 */
    assert_non_null(strstr(l, "relu"));
    assert_non_null((l = line_of(out, "pool1")));
    assert_non_null(strstr(l, "(4, 4, 4)"));
    assert_non_null((l = line_of(out, "flatten1")));
    assert_non_null(strstr(l, "(64,)"));
    assert_non_null((l = line_of(out, "dense1")));
    assert_non_null(strstr(l, "325")); /* 64*5 + 5 */
    assert_non_null(strstr(l, "tanh"));
    assert_non_null((l = line_of(out, "dense2")));
    assert_non_null(strstr(l, "(3,)"));
    assert_non_null(strstr(l, "18"));
    assert_null(line_of(out, "relu1")); /* folded into conv1 */
    assert_non_null((l = line_of(out, "total")));
    assert_non_null(strstr(l, "383"));
    /* info --spec is the same table; --json has the layers */
    rc = run(out, sizeof out, "%s info --spec \"%s\" --json", nn_bin, spec);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "{\"name\": \"dense1\", \"shape\": \"(5,)\", \"parameters\": 325, "
                                "\"activation\": \"tanh\"}"));
    assert_non_null(strstr(out, "\"trainable_parameters\": 383"));
    /* a wrong spec is an error with a suggestion */
    rc = run(out, sizeof out, "%s summary \"2 dens:4\"", nn_bin);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "did you mean 'dense'"));
}

/* nn info: the layer table, the configured rate and schedule (not the
 * last scheduled one), the optimizer's hyperparameters; a regression
 * model's history shows MAE and RMSE, not empty accuracy columns. */
static void info_layers_optimizer_regression(void **state)
{
    (void)state;
    int rc = run(out, sizeof out,
                 "%s train --data %s/cls.csv --label kind --model \"2 dense:6 relu dense:3 softmax\" "
                 "--optim momentum --lr 0.2 --momentum 0.8 --schedule step:1:0.5 --epochs 3 "
                 "--out %s/c.safetensors --quiet",
                 nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, "%s info %s/c.safetensors", nn_bin, dir);
    assert_int_equal(rc, 0);
    const char *l = line_of(out, "dense1");
    assert_non_null(l);
    assert_non_null(strstr(l, "(6,)"));
    assert_non_null(strstr(l, "18"));
    assert_non_null((l = line_of(out, "optimizer:")));
    assert_non_null(strstr(l, "lr 0.2 ")); /* the rate after 3 halvings is 0.025 */
    assert_non_null(strstr(out, "momentum 0.8, dampening 0"));
    assert_non_null((l = line_of(out, "schedule:")));
    assert_non_null(strstr(l, "step"));
    rc = run(out, sizeof out, "%s info %s/c.safetensors --json", nn_bin, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"optimizer\": {\"name\": \"momentum\", \"lr\": 0.2,"));
    assert_non_null(strstr(out, "\"classes\": [\"cat\", \"dog\", \"emu\"]"));
    assert_non_null(strstr(out, "\"accuracy\": "));

    rc = run(out, sizeof out,
             "%s train --data %s/reg.csv --label t --model \"2 dense:4 relu dense:1\" --epochs 2 "
             "--val-split 0.2 --out %s/r.safetensors --quiet",
             nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, "%s info %s/r.safetensors", nn_bin, dir);
    assert_int_equal(rc, 0);
    assert_non_null((l = line_of(out, "epoch ")));
    assert_non_null(strstr(l, "mae"));
    assert_non_null(strstr(l, "val_rmse"));
    assert_null(strstr(l, "acc"));
    l = line_of(out, "1 ");
    assert_non_null(l);
    assert_null(strstr(l, " - ")); /* every column has a value */
    rc = run(out, sizeof out, "%s info %s/r.safetensors --json", nn_bin, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"val_rmse\": "));
    assert_null(strstr(out, "\"accuracy\""));
}

/* The number after "key": in a JSON text, or NAN. */
static double json_num(const char *s, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(s, k);
    return p ? atof(p + strlen(k)) : NAN;
}

/* nn eval on a classifier: the confusion matrix's rows hold each class's
 * samples and its diagonal the accuracy; top-k accuracy grows with k up to
 * 1; the table names the classes; --plot draws a PNG. */
static void eval_confusion_top_k(void **state)
{
    (void)state;
    int rc = run(out, sizeof out,
                 "%s train --data %s/cls.csv --label kind --model \"2 dense:6 relu dense:3 softmax\" "
                 "--epochs 2 --out %s/e.safetensors --quiet",
                 nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, "%s eval %s/e.safetensors --confusion --top 2 --json", nn_bin, dir);
    assert_int_equal(rc, 0);
    double acc = json_num(out, "accuracy"), top2 = json_num(out, "top_k_accuracy");
    assert_true(isfinite(acc) && isfinite(top2));
    assert_true(top2 >= acc);
    const char *p = strstr(out, "\"confusion\": [");
    assert_non_null(p);
    p += strlen("\"confusion\": [");
    long long cm[3][3], diag = 0;
    for (int c = 0; c < 3; c++) {
        assert_int_equal(sscanf(p, " [%lld, %lld, %lld]", &cm[c][0], &cm[c][1], &cm[c][2]), 3);
        assert_int_equal(cm[c][0] + cm[c][1] + cm[c][2], class_count[c]);
        diag += cm[c][c];
        p = strchr(p, ']') + 1;
        if (*p == ',')
            p++;
    }
    assert_float_equal(acc, diag / 300.0, 1e-6);
    assert_non_null(strstr(out, "\"classes\": [\"cat\", \"dog\", \"emu\"]"));
    assert_non_null(strstr(out, "\"per_class_accuracy\": ["));
    /* the 3 most likely classes always hold the true one */
    rc = run(out, sizeof out, "%s eval %s/e.safetensors --top 3 --json", nn_bin, dir);
    assert_int_equal(rc, 0);
    assert_float_equal(json_num(out, "top_k_accuracy"), 1.0, 1e-9);
    rc = run(out, sizeof out, "%s eval %s/e.safetensors --top 4", nn_bin, dir);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "only 3 classes"));
    /* the table */
    char png[300];
    snprintf(png, sizeof png, "%s/cm.png", dir);
    rc = run(out, sizeof out, "%s eval %s/e.safetensors --confusion --plot %s", nn_bin, dir, png);
    assert_int_equal(rc, 0);
    const char *l = line_of(out, "cat ");
    assert_non_null(l);
    char row[64];
    snprintf(row, sizeof row, "%lld", cm[0][0]);
    assert_non_null(strstr(l, row));
    assert_non_null(line_of(out, "emu "));
    assert_non_null(strstr(out, "accuracy\n"));
    FILE *f = fopen(png, "rb");
    assert_non_null(f);
    unsigned char hdr[24];
    assert_int_equal(fread(hdr, 1, 24, f), 24);
    fclose(f);
    assert_memory_equal(hdr + 1, "PNG", 3);
    assert_true(hdr[18] * 256 + hdr[19] >= 400); /* width */
    /* a plot that cannot be written fails before any work */
    rc = run(out, sizeof out, "%s eval %s/e.safetensors --plot %s/none/cm.png", nn_bin, dir, dir);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "No such file or directory"));
}

/* nn eval on a regression model: MSE, MAE and R^2 = 1 - MSE / Var(t). */
static void eval_regression_r2(void **state)
{
    (void)state;
    int rc = run(out, sizeof out,
                 "%s train --data %s/reg.csv --label t --model \"2 dense:4 relu dense:1\" "
                 "--epochs 3 --out %s/q.safetensors --quiet",
                 nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    rc = run(out, sizeof out, "%s eval %s/q.safetensors --json", nn_bin, dir);
    assert_int_equal(rc, 0);
    double mse = json_num(out, "mse"), r2 = json_num(out, "r2");
    assert_true(isfinite(mse) && isfinite(r2) && isfinite(json_num(out, "mae")));
    assert_float_equal(r2, 1 - mse / target_var, 1e-4);
    rc = run(out, sizeof out, "%s eval %s/q.safetensors", nn_bin, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, " r2 "));
    rc = run(out, sizeof out, "%s eval %s/q.safetensors --top 2", nn_bin, dir);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "needs a classifier"));
}

/* The build's manual page and bash completion (make test builds them from
 * nn's help texts): the page documents every command and a new flag; the
 * completion completes commands, train's flags, optimizer and schedule
 * names; make install puts both under PREFIX/share and uninstall removes
 * them. */
static void man_page_and_completion(void **state)
{
    (void)state;
    char path[4300];
    snprintf(path, sizeof path, "%s/nn.1", build_dir);
    if (access(path, R_OK) != 0)
        fail_msg("%s missing: make test builds it (scripts/gen-man.sh)", path);
    int rc = run(out, sizeof out, "cat %s", path);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, ".TH NN 1"));
    assert_non_null(strstr(out, ".SH \"NN SUMMARY\""));
    assert_non_null(strstr(out, ".SH \"NN EVAL\""));
    assert_non_null(strstr(out, ".B \\-\\-confusion"));
    assert_non_null(strstr(out, ".SH \"MODEL SPECS\""));
    if (system("command -v groff >/dev/null 2>&1") == 0) {
        rc = run(out, sizeof out, "groff -man -Tutf8 -ww -z %s", path);
        assert_int_equal(rc, 0);
        assert_string_equal(out, ""); /* no roff warnings */
    }
    snprintf(path, sizeof path, "%s/nn.bash", build_dir);
    if (access(path, R_OK) != 0)
        fail_msg("%s missing: make test builds it (scripts/gen-completion.sh)", path);
    static const struct { const char *words; int cword; const char *want, *not; } cases[] = {
        {"nn su", 1, "summary", "train"},
        {"nn train --opt", 2, "--optim", "--confusion"},
        {"nn train --epo", 2, "--epochs", NULL},
        {"nn eval --con", 2, "--confusion", NULL},
        {"nn train --optim ada", 3, "adam adamw", "sgd"},
        {"nn train --schedule c", 3, "constant cos", "step"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rc = run(out, sizeof out,
                 "bash -c 'source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _nn; echo \"${COMPREPLY[*]}\"'",
                 path, cases[i].words, cases[i].cword);
        if (rc != 0 || !strstr(out, cases[i].want) || (cases[i].not && strstr(out, cases[i].not)))
            fail_msg("completing '%s': '%s' (want '%s')", cases[i].words, out, cases[i].want);
    }
    /* every flag nn help train lists is offered after "nn train --" */
    rc = run(out, sizeof out,
             "bash -c 'source %s; COMP_WORDS=(nn train --); COMP_CWORD=2; _nn; "
             "printf \"%%s\\n\" \"${COMPREPLY[@]}\"' | sort > %s/got && "
             "%s help train | awk \"/^  --/ {print \\$1}\" | sort > %s/want && "
             "diff %s/want %s/got",
             path, dir, nn_bin, dir, dir, dir);
    if (rc != 0)
        fail_msg("train's flags and their completion differ: %s", out);
    /* make install and uninstall (dry run) name both files */
    rc = run(out, sizeof out, "make -n -C %s/.. BUILD=%s install uninstall PREFIX=/stage",
             build_dir, strrchr(build_dir, '/') + 1);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "/stage/share/man/man1/nn.1"));
    assert_non_null(strstr(out, "/stage/share/bash-completion/completions/nn"));
    const char *rm = strstr(out, "rm -f");
    assert_non_null(rm);
    assert_non_null(strstr(rm, "/stage/share/man/man1/nn.1"));
    assert_non_null(strstr(rm, "/stage/share/bash-completion/completions/nn"));
}

NN_GROUP_FIXTURE(cli_view, setup, teardown,
                 cmocka_unit_test(graph_nodes_in_order),
                 cmocka_unit_test(summary_layer_table),
                 cmocka_unit_test(info_layers_optimizer_regression),
                 cmocka_unit_test(eval_confusion_top_k),
                 cmocka_unit_test(eval_regression_r2),
                 cmocka_unit_test(man_page_and_completion))
