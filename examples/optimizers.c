/*
 * optimizers.c - SGD, momentum, Nesterov, RMSProp and Adam side by side:
 *  1. their paths on the ill-conditioned quadratic f(p) = (p1^2 + 25 p2^2) / 2
 *     (condition number 25), each driving libnn's own optimizer (nn_optim_*)
 *     on a graph whose one parameter is the 2-vector p, drawn over the
 *     contour lines of f;
 *  2. the training loss per epoch of a small network (784-64-10 relu on
 *     Fashion-MNIST) with each of them.
 * Writes OUTDIR/optimizers.png, prints the final loss of each, and fails if
 * an optimizer did not reduce the loss.
 *
 *   optimizers OUTDIR [--quick]
 */
#include "chart.h"

#include <nn.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOPT 5
#define STEPS 80
#define MAX_EPOCHS 20
#define PI 3.14159265358979323846

static const char *opt_label[NOPT] = {"SGD lr 0.07", "momentum lr 0.02, 0.9",
                                      "Nesterov lr 0.02, 0.9", "RMSProp lr 0.1", "Adam lr 0.3"};
static const nn_optim_kind opt_kind[NOPT] = {NN_OPTIM_SGD, NN_OPTIM_MOMENTUM, NN_OPTIM_NESTEROV,
                                             NN_OPTIM_RMSPROP, NN_OPTIM_ADAM};
static const float opt_lr[NOPT] = {0.07f, 0.02f, 0.02f, 0.1f, 0.3f};
/* on the network */
static const char *net_label[NOPT] = {"SGD lr 0.05", "momentum lr 0.01, 0.9",
                                      "Nesterov lr 0.01, 0.9", "RMSProp lr 1e-3", "Adam lr 1e-3"};
static const float net_lr[NOPT] = {0.05f, 0.01f, 0.01f, 1e-3f, 1e-3f};

static const float curv[2] = {1, 25};
static const float start[2] = {-4.5f, 1.2f};

/* The path of optimizer k from start: px, py (STEPS + 1); returns the final f. */
static double quad_path(int k, double *px, double *py)
{
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    nn_graph *g = ctx ? nn_graph_new(ctx) : NULL;
    if (!g)
        return NAN;
    nn_node *p = nn_param(g, "p", 1, (int64_t[]){2}, (struct nn_init){.kind = NN_INIT_ZEROS});
    nn_node *c = nn_const(g, "curvature", 1, (int64_t[]){2}, curv);
    nn_node *f = nn_scale(g, nn_sum(g, nn_mul(g, c, nn_square(g, p))), 0.5f);
    nn_optim *o = NULL;
    double fin = NAN;
    if (nn_graph_compile(g, &f, 1, 1) == NN_OK &&
        (o = nn_optim_new(g, &(struct nn_optim_cfg){.kind = opt_kind[k], .lr = opt_lr[k]}))) {
        float *w = nn_value_mut(p);
        w[0] = start[0];
        w[1] = start[1];
        for (int s = 0; s <= STEPS; s++) {
            px[s] = w[0];
            py[s] = w[1];
            nn_forward(g);
            fin = nn_value(f)[0];
            if (s == STEPS)
                break;
            nn_zero_grad(g);
            nn_backward(g, f);
            nn_optim_step(o);
        }
    } else {
        fprintf(stderr, "optimizers: %s\n", nn_ctx_error(ctx));
    }
    nn_optim_free(o);
    nn_graph_free(g);
    nn_ctx_free(ctx);
    return fin;
}

/* The contour lines f = level: ellipses p1 = sqrt(2 level) cos t, p2 =
 * sqrt(2 level / 25) sin t, and the minimum. */
static void contours(cairo_t *cr, const struct chart_frame *fr)
{
    cairo_save(cr);
    cairo_rectangle(cr, fr->x0, fr->y0, fr->w, fr->h);
    cairo_clip(cr);
    cairo_set_line_width(cr, 1);
    for (double level = 0.02; level < 100; level *= 2) {
        double shade = 0.45 + 0.4 * log(level / 0.02) / log(5000);
        cairo_set_source_rgb(cr, shade, shade, 0.9);
        for (int i = 0; i <= 200; i++) {
            double t = 2 * PI * i / 200;
            double x = sqrt(2 * level / curv[0]) * cos(t), y = sqrt(2 * level / curv[1]) * sin(t);
            if (i)
                cairo_line_to(cr, chart_px(fr, x), chart_py(fr, y));
            else
                cairo_move_to(cr, chart_px(fr, x), chart_py(fr, y));
        }
        cairo_stroke(cr);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, chart_px(fr, 0) - 6, chart_py(fr, 0));
    cairo_line_to(cr, chart_px(fr, 0) + 6, chart_py(fr, 0));
    cairo_move_to(cr, chart_px(fr, 0), chart_py(fr, 0) - 6);
    cairo_line_to(cr, chart_px(fr, 0), chart_py(fr, 0) + 6);
    cairo_stroke(cr);
    cairo_restore(cr);
}

struct epoch_ctx {
    double *loss;
    int n;
};

static bool on_epoch(const struct nn_epoch_stats *s, void *user)
{
    struct epoch_ctx *e = user;
    if (s->epoch > MAX_EPOCHS)
        return false;
    e->loss[s->epoch - 1] = s->train.loss;
    e->n = s->epoch;
    return true;
}

/* Trains the small network with optimizer k; loss per epoch into loss. */
static int net_run(int k, const struct nn_source *src, int epochs, double *loss)
{
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    nn_model *m = ctx ? nn_model_new(ctx, "784 dense:64 relu dense:10 softmax", NULL) : NULL;
    struct epoch_ctx e = {loss, 0};
    struct nn_train_cfg tc = {.epochs = epochs, .batch = 64, .train_eval = true,
                              .optim = {.kind = opt_kind[k], .lr = net_lr[k]},
                              .on_epoch = on_epoch, .user = &e};
    nn_trainer *t = m ? nn_trainer_new(m, &tc) : NULL;
    int rc = t && nn_trainer_fit(t, src, NULL) == NN_OK && e.n == epochs ? 0 : -1;
    if (rc)
        fprintf(stderr, "optimizers: %s: %s\n", net_label[k], ctx ? nn_ctx_error(ctx) : "");
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return rc;
}

static int plot(const char *path, double px[NOPT][STEPS + 1], double py[NOPT][STEPS + 1],
                double loss[NOPT][MAX_EPOCHS], int epochs)
{
    cairo_t *cr = chart_begin(1400, 620);
    if (!cr)
        return -1;
    struct chart_series s[NOPT], l[NOPT];
    double ep[MAX_EPOCHS];
    for (int i = 0; i < MAX_EPOCHS; i++)
        ep[i] = i + 1;
    for (int k = 0; k < NOPT; k++) {
        s[k] = (struct chart_series){px[k], py[k], STEPS + 1, opt_label[k], {0, 0, 0},
                                     false, true, false};
        l[k] = (struct chart_series){ep, loss[k], epochs, net_label[k], {0, 0, 0},
                                     false, true, false};
        chart_color(k, s[k].rgb);
        chart_color(k, l[k].rgb);
    }
    struct chart c1 = {.title = "paths on f = (p1^2 + 25 p2^2) / 2, 80 steps from (-4.5, 1.2)",
                       .xlabel = "p1", .ylabel = "p2", .fix_x = true, .xmin = -5, .xmax = 1.5,
                       .fix_y = true, .ymin = -1.6, .ymax = 1.6, .legend_pos = 1};
    struct chart c2 = {.title = "784-64-10 relu on 5,000 Fashion-MNIST images: training loss",
                       .xlabel = "epoch", .ylabel = "cross-entropy (log scale)", .logy = true,
                       .int_x = true};
    struct chart_frame fr = chart_axes(cr, 0, 20, 760, 600, &c1, s, NOPT);
    contours(cr, &fr);
    chart_lines(cr, &fr, &c1, s, NOPT);
    chart_draw(cr, 760, 20, 640, 600, &c2, l, NOPT);
    return chart_save(cr, path);
}

static nn_dataset *load_subset(nn_ctx *ctx, int n)
{
    nn_dataset *all = nn_dataset_load_named(ctx, "fashion-mnist", "train");
    int64_t *idx = malloc(sizeof *idx * (size_t)n);
    nn_dataset *ds = NULL;
    if (all && idx) {
        for (int i = 0; i < n; i++)
            idx[i] = i;
        ds = nn_dataset_subset(all, idx, n);
    }
    free(idx);
    nn_dataset_free(all);
    if (!ds)
        fprintf(stderr, "optimizers: %s\n", nn_ctx_error(ctx));
    return ds;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (argc > 2 && strcmp(argv[2], "--quick"))) {
        fprintf(stderr, "usage: optimizers OUTDIR [--quick]\n");
        return 2;
    }
    int epochs = argc > 2 ? 4 : 12, bad = 0;
    static double px[NOPT][STEPS + 1], py[NOPT][STEPS + 1], loss[NOPT][MAX_EPOCHS];
    double f0 = 0.5 * (curv[0] * start[0] * start[0] + curv[1] * start[1] * start[1]);
    printf("f(p) = (p1^2 + 25 p2^2) / 2 from (%g, %g), f = %g; after %d steps:\n", start[0],
           start[1], f0, STEPS);
    for (int k = 0; k < NOPT; k++) {
        double fin = quad_path(k, px[k], py[k]);
        printf("  %-24s p = (%9.2e, %9.2e)  f = %.3e\n", opt_label[k], px[k][STEPS], py[k][STEPS],
               fin);
        if (!(fin < 0.01 * f0))
            bad = fprintf(stderr, "optimizers: %s did not reach 1%% of f(start)\n", opt_label[k]);
    }
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1});
    nn_dataset *ds = ctx ? load_subset(ctx, 5000) : NULL;
    struct nn_source src;
    if (ds)
        src = nn_source_from_dataset(ds);
    printf("784-64-10 relu, batch 64, %d epochs on 5,000 Fashion-MNIST images; training loss "
           "(evaluation mode) after epoch 1 and %d:\n", epochs, epochs);
    for (int k = 0; k < NOPT && ds && !bad; k++) {
        bad = net_run(k, &src, epochs, loss[k]);
        if (!bad)
            printf("  %-24s %.4f -> %.4f\n", net_label[k], loss[k][0], loss[k][epochs - 1]);
        if (!bad && !(loss[k][epochs - 1] < loss[k][0]))
            bad = fprintf(stderr, "optimizers: %s: the loss did not fall\n", net_label[k]);
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/optimizers.png", argv[1]);
    if (!ds || bad || plot(path, px, py, loss, epochs))
        bad = 1;
    nn_dataset_free(ds);
    nn_ctx_free(ctx);
    return bad ? 1 : 0;
}
