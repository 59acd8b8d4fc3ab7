/*
 * init.c - why initialization matters, on a deep relu network (8 hidden
 * layers of 64 units) trained on Fashion-MNIST with SGD and momentum:
 * zeros, a constant, N(0, 0.01) and He normal. The per-layer statistics
 * (nn_model_layer_stats, what `nn train --stats` writes) at initialization
 * show why the first three fail: zeros and a constant make every unit of a
 * layer compute the same function (their spread across units, unit_std, is
 * 0: the symmetry is never broken), and N(0, 0.01) shrinks the activations
 * by about 0.01 * sqrt(64 / 2) per layer until they and the gradients
 * vanish. Prints the table, draws the statistics and the test accuracy per
 * epoch (PNG), and fails unless He learns and the others show their defect.
 *
 *   init OUTDIR [--quick]
 */
#include "chart.h"

#include <nn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH 8
#define NINIT 4
#define MAX_EPOCHS 20
#define NSTAT 128

static const char *init_text[NINIT] = {"zeros", "constant:0.015", "normal:0.01", "he_normal"};
static const char *init_label[NINIT] = {"zeros", "constant 0.015", "N(0, 0.01)", "He normal"};

struct result {
    double act_std[DEPTH], unit_ratio[DEPTH], dead[DEPTH], grad[DEPTH + 1];
    double test[MAX_EPOCHS];
    int epochs;
    double final_test;
};

struct epoch_ctx {
    nn_model *m;
    const struct nn_source *test;
    struct result *r;
};

static bool on_epoch(const struct nn_epoch_stats *s, void *user)
{
    struct epoch_ctx *e = user;
    struct nn_metrics te;
    if (s->epoch > MAX_EPOCHS || nn_evaluate(e->m, e->test, &te) != NN_OK)
        return false;
    e->r->test[s->epoch - 1] = te.accuracy;
    e->r->epochs = s->epoch;
    return true;
}

/* The statistics at initialization: per relu layer its activations' std,
 * unit_std / std and dead fraction; per dense layer its weight's gradient norm. */
static int init_stats(nn_model *m, const struct nn_source *src, struct result *r)
{
    static struct nn_layer_stat st[NSTAT];
    int n = 0, relu = 0, dense = 0;
    if (nn_model_layer_stats(m, src, 256, st, NSTAT, &n) != NN_OK)
        return -1;
    for (int i = 0; i < n && i < NSTAT; i++) {
        if (!strcmp(st[i].op, "relu") && relu < DEPTH) {
            r->act_std[relu] = st[i].std;
            r->unit_ratio[relu] = st[i].std > 0 ? st[i].unit_std / st[i].std : NAN;
            r->dead[relu++] = st[i].dead;
        } else if (st[i].is_param && strstr(st[i].name, ".weight") && dense <= DEPTH) {
            r->grad[dense++] = st[i].grad_norm;
        }
    }
    return relu == DEPTH && dense == DEPTH + 1 ? 0 : -1;
}

static char *spec(const char *init)
{
    static char buf[1024];
    int k = snprintf(buf, sizeof buf, "784");
    for (int i = 0; i < DEPTH; i++)
        k += snprintf(buf + k, sizeof buf - (size_t)k, " dense:64:%s relu", init);
    snprintf(buf + k, sizeof buf - (size_t)k, " dense:10:%s softmax", init);
    return buf;
}

static int run_one(int which, const struct nn_source *train, const struct nn_source *test,
                   int epochs, struct result *r)
{
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    nn_model *m = ctx ? nn_model_new(ctx, spec(init_text[which]), NULL) : NULL;
    struct epoch_ctx e = {m, test, r};
    struct nn_train_cfg tc = {.epochs = epochs, .batch = 64,
                              .optim = {.kind = NN_OPTIM_MOMENTUM, .lr = 0.01f},
                              .on_epoch = on_epoch, .user = &e};
    nn_trainer *t = NULL;
    struct nn_metrics te;
    int rc = -1;
    if (m && init_stats(m, train, r) == 0 && (t = nn_trainer_new(m, &tc)) &&
        nn_trainer_fit(t, train, NULL) == NN_OK && nn_evaluate(m, test, &te) == NN_OK) {
        r->final_test = te.accuracy;
        rc = 0;
    } else {
        fprintf(stderr, "init: %s: %s\n", init_label[which], ctx ? nn_ctx_error(ctx) : "no context");
    }
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return rc;
}

static void print_table(const struct result r[NINIT])
{
    printf("\nAt initialization, per hidden layer (relu1 .. relu%d), on 256 training images:\n",
           DEPTH);
    const char *what[3] = {"activation std", "unit_std / std (0: all units alike)",
                           "|dL/dW| of dense1 .. dense9"};
    for (int q = 0; q < 3; q++) {
        printf("%s\n", what[q]);
        for (int k = 0; k < NINIT; k++) {
            printf("  %-14s", init_label[k]);
            for (int l = 0; l < (q == 2 ? DEPTH + 1 : DEPTH); l++)
                printf(" %8.2g", q == 0 ? r[k].act_std[l] : q == 1 ? r[k].unit_ratio[l]
                                                                     : r[k].grad[l]);
            printf("\n");
        }
    }
    printf("\ninit            test accuracy after %d epochs\n", r[0].epochs);
    for (int k = 0; k < NINIT; k++)
        printf("  %-14s %.4f\n", init_label[k], r[k].final_test);
}

static void panel(cairo_t *cr, int pos, const struct chart *c, const double *x, const double *y,
                  int stride, int n)
{
    /* He first, so that the dashed failures drawn over it stay visible
     * where they coincide */
    struct chart_series s[NINIT];
    for (int k = 0; k < NINIT; k++) {
        int j = NINIT - 1 - k;
        s[k] = (struct chart_series){x, y + (size_t)j * stride, n, init_label[j], {0, 0, 0},
                                     j < 3, true, false};
        chart_color(j, s[k].rgb);
    }
    chart_draw(cr, 600 * (pos % 2), 56 + 400 * (pos / 2), 600, 400, c, s, NINIT);
    if (pos == 0) {
        struct chart_series row[NINIT];
        for (int k = 0; k < NINIT; k++)
            row[k] = s[NINIT - 1 - k];
        chart_legend_row(cr, 600, 44, row, NINIT);
    }
}

static int plot(const char *path, const struct result r[NINIT])
{
    cairo_t *cr = chart_begin(1200, 866);
    if (!cr)
        return -1;
    double layer[DEPTH + 1], ep[MAX_EPOCHS], a[NINIT][DEPTH + 1], u[NINIT][DEPTH + 1],
        g[NINIT][DEPTH + 1], t[NINIT][MAX_EPOCHS];
    for (int l = 0; l <= DEPTH; l++)
        layer[l] = l + 1;
    for (int i = 0; i < MAX_EPOCHS; i++)
        ep[i] = i + 1;
    for (int k = 0; k < NINIT; k++) {
        memcpy(a[k], r[k].act_std, sizeof r[k].act_std);
        memcpy(u[k], r[k].unit_ratio, sizeof r[k].unit_ratio);
        memcpy(g[k], r[k].grad, sizeof r[k].grad);
        memcpy(t[k], r[k].test, sizeof r[k].test);
    }
    struct chart c1 = {.title = "activation std at init (zeros: all 0, not drawn)",
                       .xlabel = "hidden layer (relu)", .ylabel = "std (log scale)", .logy = true,
                       .legend_pos = -1, .int_x = true};
    struct chart c2 = {.title = "gradient norm of each weight at init (zeros: all 0)",
                       .xlabel = "dense layer", .ylabel = "|dL/dW| (log scale)", .logy = true,
                       .legend_pos = -1, .int_x = true};
    struct chart c3 = {.title = "spread across a layer's units / std (0: symmetric)",
                       .xlabel = "hidden layer (relu)", .ylabel = "unit_std / std", .fix_y = true,
                       .ymin = -0.05, .ymax = 1.5, .legend_pos = -1, .int_x = true};
    struct chart c4 = {.title = "test accuracy while training (SGD, momentum 0.9)",
                       .xlabel = "epoch", .ylabel = "accuracy", .fix_y = true, .ymin = 0,
                       .ymax = 1, .legend_pos = -1, .int_x = true};
    panel(cr, 0, &c1, layer, a[0], DEPTH + 1, DEPTH);
    panel(cr, 1, &c2, layer, g[0], DEPTH + 1, DEPTH + 1);
    panel(cr, 2, &c3, layer, u[0], DEPTH + 1, DEPTH);
    panel(cr, 3, &c4, ep, t[0], MAX_EPOCHS, r[0].epochs);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_set_font_size(cr, 16);
    chart_text(cr, 600, 8, "Initializing a deep relu network: 784-(64 relu)x8-10 on Fashion-MNIST",
               0.5, 0);
    return chart_save(cr, path);
}

/* The claims: He learns; zeros stays at chance; the constant's hidden units
 * are all alike; N(0, 0.01) shrinks the activations by orders of magnitude. */
static int check(const struct result r[NINIT])
{
    int bad = 0;
    double max_ratio = 0;
    for (int l = 0; l < DEPTH; l++)
        max_ratio = fmax(max_ratio, r[1].unit_ratio[l]);
    if (r[3].final_test < 0.7)
        bad = fprintf(stderr, "init: He reached only %.4f\n", r[3].final_test);
    if (r[0].final_test > 0.2)
        bad = fprintf(stderr, "init: zeros learned (%.4f)\n", r[0].final_test);
    if (max_ratio > 1e-4)
        bad = fprintf(stderr, "init: the constant's units differ (%g)\n", max_ratio);
    if (!(r[2].act_std[DEPTH - 1] < 1e-6 * r[3].act_std[DEPTH - 1]))
        bad = fprintf(stderr, "init: N(0, 0.01) did not vanish (%g vs He %g)\n",
                      r[2].act_std[DEPTH - 1], r[3].act_std[DEPTH - 1]);
    if (r[2].final_test >= r[3].final_test || r[1].final_test >= r[3].final_test)
        bad = fprintf(stderr, "init: a failing init beat He\n");
    return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (argc > 2 && strcmp(argv[2], "--quick"))) {
        fprintf(stderr, "usage: init OUTDIR [--quick]\n");
        return 2;
    }
    bool quick = argc > 2;
    int epochs = quick ? 3 : 10, ntrain = quick ? 5000 : 20000;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1});
    nn_dataset *all = ctx ? nn_dataset_load_named(ctx, "fashion-mnist", "train") : NULL;
    nn_dataset *test = ctx ? nn_dataset_load_named(ctx, "fashion-mnist", "test") : NULL;
    int64_t *idx = malloc(sizeof *idx * (size_t)ntrain);
    nn_dataset *train = NULL;
    if (all && test && idx) {
        for (int i = 0; i < ntrain; i++)
            idx[i] = i;
        train = nn_dataset_subset(all, idx, ntrain);
    }
    free(idx);
    if (!train) {
        fprintf(stderr, "init: %s\n", ctx ? nn_ctx_error(ctx) : "no context");
        return 1;
    }
    struct nn_source tr = nn_source_from_dataset(train), te = nn_source_from_dataset(test);
    printf("784-(64 relu)x%d-10, SGD lr 0.01 momentum 0.9, batch 64, %d epochs on %d training "
           "images, 10,000 test images\n", DEPTH, epochs, ntrain);
    static struct result r[NINIT];
    int bad = 0;
    for (int k = 0; k < NINIT && !bad; k++)
        bad = run_one(k, &tr, &te, epochs, &r[k]);
    char path[1024];
    snprintf(path, sizeof path, "%s/init.png", argv[1]);
    if (!bad) {
        print_table(r);
        bad = plot(path, r) || check(r);
    }
    if (!bad)
        printf("init: zeros and the constant stay symmetric, N(0, 0.01) vanishes, He learns\n");
    nn_dataset_free(train);
    nn_dataset_free(all);
    nn_dataset_free(test);
    nn_ctx_free(ctx);
    return bad;
}
