/*
 * overfit.c - over-fitting and three cures, as the lectures show them: an
 * MLP trained on 1,000 Fashion-MNIST images until its training accuracy is
 * far above its test accuracy, then the same with an L2 penalty, with
 * dropout and with early stopping (on 1,000 other training images held out
 * for validation). Prints a table of final training and test accuracy and
 * their gap, draws train and test accuracy per epoch for each (PNG), and
 * fails unless each cure reduces the gap of the baseline, for every seed.
 *
 *   overfit OUTDIR [--quick] [--seeds N] [--epochs N] [--lr F] [--l2 F]
 * (quick: 40 epochs and 2,000 test images instead of 60 and 10,000).
 */
#include "chart.h"

#include <nn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NTRAIN 1000
#define NVAL 1000
#define MAX_EPOCHS 200

/* The settings, changeable from the command line to explore. */
static float g_lr = 3e-4f, g_l2 = 1e-2f;
static int g_patience = 5;

enum { BASE, L2, DROPOUT, EARLY, NCFG };
static const char *cfg_name[NCFG] = {"baseline", "L2 penalty", "dropout 0.5",
                                     "early stopping"};
static const char *spec_plain = "784 dense:256 relu dense:256 relu dense:10 softmax";
static const char *spec_drop =
    "784 dense:256 relu dropout:0.5 dense:256 relu dropout:0.5 dense:10 softmax";

struct run {
    int epochs;                     /* run */
    double train[MAX_EPOCHS], test[MAX_EPOCHS];
    double final_train, final_test; /* of the weights kept */
    int best_epoch;
};

struct data {
    nn_dataset *train, *val, *test;
    struct nn_source train_src, val_src, test_src;
};

struct epoch_ctx {
    nn_model *m;
    struct data *d;
    struct run *r;
};

static bool on_epoch(const struct nn_epoch_stats *s, void *user)
{
    struct epoch_ctx *e = user;
    struct nn_metrics te;
    if (s->epoch > MAX_EPOCHS || nn_evaluate(e->m, &e->d->test_src, &te) != NN_OK)
        return false;
    e->r->train[s->epoch - 1] = s->train.accuracy;
    e->r->test[s->epoch - 1] = te.accuracy;
    e->r->epochs = s->epoch;
    return true;
}

/* Trains one configuration with the given seed; 0 or -1. */
static int run_one(struct data *d, int cfg, uint64_t seed, int epochs, struct run *r)
{
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = seed, .threads = 1});
    nn_model *m = ctx ? nn_model_new(ctx, cfg == DROPOUT ? spec_drop : spec_plain,
                                     &(struct nn_model_cfg){.max_batch = 256})
                      : NULL;
    struct epoch_ctx e = {m, d, r};
    struct nn_train_cfg tc = {.epochs = epochs, .batch = 32, .train_eval = true,
                              .optim = {.kind = NN_OPTIM_ADAM, .lr = g_lr},
                              .on_epoch = on_epoch, .user = &e};
    if (cfg == L2)
        tc.l2 = g_l2;
    if (cfg == EARLY)
        tc.patience = g_patience;
    nn_trainer *t = m ? nn_trainer_new(m, &tc) : NULL;
    struct nn_metrics tr, te;
    int rc = -1;
    memset(r, 0, sizeof *r);
    if (t && nn_trainer_fit(t, &d->train_src, cfg == EARLY ? &d->val_src : NULL) == NN_OK &&
        nn_evaluate(m, &d->train_src, &tr) == NN_OK && nn_evaluate(m, &d->test_src, &te) == NN_OK) {
        r->final_train = tr.accuracy;
        r->final_test = te.accuracy;
        r->best_epoch = cfg == EARLY ? nn_trainer_best_epoch(t) : r->epochs;
        rc = 0;
    } else {
        fprintf(stderr, "overfit: %s: %s\n", cfg_name[cfg], ctx ? nn_ctx_error(ctx) : "no context");
    }
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return rc;
}

/* 1,000 training and 1,000 validation images drawn from the training set
 * (disjoint), and ntest test images. */
static int load(nn_ctx *ctx, struct data *d, int64_t ntest)
{
    nn_dataset *all = nn_dataset_load_named(ctx, "fashion-mnist", "train");
    nn_dataset *test = nn_dataset_load_named(ctx, "fashion-mnist", "test");
    int64_t *idx = malloc(sizeof *idx * (NTRAIN + NVAL + ntest));
    if (!all || !test || !idx) {
        fprintf(stderr, "overfit: %s\n", nn_ctx_error(ctx));
        free(idx);
        nn_dataset_free(all);
        nn_dataset_free(test);
        return -1;
    }
    for (int64_t i = 0; i < NTRAIN + NVAL + ntest; i++)
        idx[i] = i;
    d->train = nn_dataset_subset(all, idx, NTRAIN);
    d->val = nn_dataset_subset(all, idx + NTRAIN, NVAL);
    d->test = nn_dataset_subset(test, idx, ntest);
    free(idx);
    nn_dataset_free(all);
    nn_dataset_free(test);
    if (!d->train || !d->val || !d->test)
        return -1;
    d->train_src = nn_source_from_dataset(d->train);
    d->val_src = nn_source_from_dataset(d->val);
    d->test_src = nn_source_from_dataset(d->test);
    return 0;
}

static int plot(const char *path, const struct run runs[NCFG])
{
    cairo_t *cr = chart_begin(1200, 820);
    if (!cr)
        return -1;
    for (int c = 0; c < NCFG; c++) {
        double ep[MAX_EPOCHS], rgb[3];
        for (int i = 0; i < runs[c].epochs; i++)
            ep[i] = i + 1;
        char title[128];
        snprintf(title, sizeof title, "%s: gap %.1f points at the end", cfg_name[c],
                 100 * (runs[c].final_train - runs[c].final_test));
        chart_color(c, rgb);
        struct chart_series s[2] = {
            {ep, runs[c].train, runs[c].epochs, "training (1,000 images)", {rgb[0], rgb[1], rgb[2]},
             false, false, false},
            {ep, runs[c].test, runs[c].epochs, "test", {rgb[0], rgb[1], rgb[2]}, true, false, false},
        };
        struct chart ch = {.title = title, .xlabel = "epoch", .ylabel = "accuracy", .fix_y = true,
                           .ymin = 0.6, .ymax = 1.01, .legend_pos = 1,
                           .int_x = true};
        chart_draw(cr, 600 * (c % 2), 20 + 400 * (c / 2), 600, 400, &ch, s, 2);
    }
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_set_font_size(cr, 16);
    chart_text(cr, 600, 8, "784-256-256-10 relu MLP on 1,000 Fashion-MNIST images: train vs test "
               "accuracy", 0.5, 0);
    return chart_save(cr, path);
}

static void print_table(const struct run runs[NCFG], uint64_t seed)
{
    printf("seed %llu       | epochs | train acc | test acc | gap (points)\n",
           (unsigned long long)seed);
    for (int c = 0; c < NCFG; c++)
        printf("%-17s| %3d%s | %9.4f | %8.4f | %6.1f\n", cfg_name[c], runs[c].epochs,
               c == EARLY ? "*" : " ", runs[c].final_train, runs[c].final_test,
               100 * (runs[c].final_train - runs[c].final_test));
    printf("(* early stopping ran %d epochs and kept epoch %d's weights)\n", runs[EARLY].epochs,
           runs[EARLY].best_epoch);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: overfit OUTDIR [--quick] [--seeds N] [--epochs N] [--lr F] [--l2 F]\n");
        return 2;
    }
    bool quick = false;
    int seeds = 1, epochs = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            quick = true;
        else if (!strcmp(argv[i], "--seeds") && i + 1 < argc)
            seeds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--epochs") && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lr") && i + 1 < argc)
            g_lr = strtof(argv[++i], NULL);
        else if (!strcmp(argv[i], "--l2") && i + 1 < argc)
            g_l2 = strtof(argv[++i], NULL);
        else {
            fprintf(stderr, "overfit: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1});
    struct data d = {0};
    if (!ctx || load(ctx, &d, quick ? 2000 : 10000))
        return 1;
    static struct run runs[NCFG];
    int bad = 0;
    if (epochs <= 0 || epochs > MAX_EPOCHS)
        epochs = quick ? 40 : 60;
    printf("784-256-256-10 relu MLP, Adam lr %g, batch 32, %d epochs, %d training images, "
           "%lld test images;\nL2: (lambda/2)|W|^2 with lambda %g; dropout: p = 0.5 after each "
           "hidden layer;\nearly stopping: patience %d on %d held-out training images, best "
           "weights restored\n", g_lr, epochs, NTRAIN, (long long)nn_dataset_size(d.test), g_l2,
           g_patience, NVAL);
    for (int s = 1; s <= seeds && !bad; s++) {
        for (int c = 0; c < NCFG && !bad; c++)
            bad = run_one(&d, c, (uint64_t)s, epochs, &runs[c]);
        if (bad)
            break;
        print_table(runs, (uint64_t)s);
        fflush(stdout);
        double gap0 = runs[BASE].final_train - runs[BASE].final_test;
        for (int c = L2; c < NCFG; c++)
            if (runs[c].final_train - runs[c].final_test >= gap0) {
                fprintf(stderr, "overfit: seed %d: %s does not reduce the gap (%.4f >= %.4f)\n", s,
                        cfg_name[c], runs[c].final_train - runs[c].final_test, gap0);
                bad = 1;
            }
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/overfit.png", argv[1]);
    if (!bad)
        bad = plot(path, runs) != 0;
    if (!bad)
        printf("overfit: L2, dropout and early stopping each reduce the train-test gap\n");
    nn_dataset_free(d.train);
    nn_dataset_free(d.val);
    nn_dataset_free(d.test);
    nn_ctx_free(ctx);
    return bad;
}
