/*
 * boundary.c - `nn plot MODEL --boundary`: the decision regions of a
 * 2-input classifier, drawn with cairo. Every pixel of the plot area is
 * classified (its colour the predicted class, paler where the model is
 * less sure, grey where the class changes: the decision boundary) and the
 * data's points are drawn over it in the colours of their true classes.
 */
#include "cli.h"

#include <cairo.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

#define W 960
#define H 720
#define PX0 90  /* plot area */
#define PY0 70
#define PW 580
#define PH 580

/* Colours of classes 0-9 (then again). */
static const double palette[10][3] = {
    {0.12, 0.47, 0.71}, {1.00, 0.50, 0.05}, {0.17, 0.63, 0.17}, {0.84, 0.15, 0.16},
    {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29}, {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50},
    {0.74, 0.74, 0.13}, {0.09, 0.75, 0.81}};

struct view {
    double x0, x1, y0, y1; /* data range shown */
};

static double to_px(const struct view *v, double x)
{
    return PX0 + (x - v->x0) / (v->x1 - v->x0) * PW;
}
static double to_py(const struct view *v, double y)
{
    return PY0 + PH - (y - v->y0) / (v->y1 - v->y0) * PH;
}

/* The predicted class and its probability of each of n rows of
 * probabilities p (n, k); a one-output sigmoid gives p(class 1). */
static void decide(const float *p, int64_t n, int64_t k, int32_t *cls, float *conf)
{
    for (int64_t i = 0; i < n; i++) {
        const float *q = p + i * k;
        if (k == 1) {
            cls[i] = q[0] > 0.5f;
            conf[i] = cls[i] ? q[0] : 1 - q[0];
            continue;
        }
        int64_t b = 0;
        for (int64_t j = 1; j < k; j++)
            b = q[j] > q[b] ? j : b;
        cls[i] = (int32_t)b;
        conf[i] = q[b];
    }
}

/* Classifies every pixel of the plot area (row by row) into cls and conf
 * (PH, PW); false if out of memory or the model fails. */
static bool classify_grid(nn_model *m, const struct view *v, int32_t *cls, float *conf)
{
    int64_t k = nn_model_outputs(m);
    float *x = malloc(2 * PW * sizeof *x), *p = malloc((size_t)(PW * k) * sizeof *p);
    bool ok = x && p;
    for (int r = 0; ok && r < PH; r++) {
        double yv = v->y1 - (r + 0.5) / PH * (v->y1 - v->y0);
        for (int c = 0; c < PW; c++) {
            x[2 * c] = (float)(v->x0 + (c + 0.5) / PW * (v->x1 - v->x0));
            x[2 * c + 1] = (float)yv;
        }
        nn_model_normalize(m, x, PW); /* the grid is in the data's raw units */
        ok = nn_model_predict(m, x, PW, p) == NN_OK;
        if (ok)
            decide(p, PW, k, cls + (int64_t)r * PW, conf + (int64_t)r * PW);
    }
    free(x);
    free(p);
    return ok;
}

/* The regions into the image's pixels: the class colour mixed with white,
 * from 15% (as unsure as can be) to 60% (certain); grey where a neighbour
 * left or above has another class. */
static void paint_regions(cairo_surface_t *s, const int32_t *cls, const float *conf, int64_t k)
{
    cairo_surface_flush(s);
    unsigned char *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    double chance = k == 1 ? 0.5 : 1.0 / (double)k;
    for (int r = 0; r < PH; r++)
        for (int c = 0; c < PW; c++) {
            int64_t i = (int64_t)r * PW + c;
            const double *col = palette[cls[i] % 10];
            double t = (conf[i] - chance) / (1 - chance);
            double a = 0.15 + 0.45 * fmin(1, fmax(0, t)), rgb[3];
            bool edge = (c > 0 && cls[i - 1] != cls[i]) || (r > 0 && cls[i - PW] != cls[i]);
            for (int j = 0; j < 3; j++)
                rgb[j] = edge ? 0.35 : 1 - a + a * col[j];
            uint32_t px = 0xff000000u | (uint32_t)lround(rgb[0] * 255) << 16 |
                          (uint32_t)lround(rgb[1] * 255) << 8 | (uint32_t)lround(rgb[2] * 255);
            memcpy(data + (size_t)(PY0 + r) * (size_t)stride + (size_t)(PX0 + c) * 4, &px, 4);
        }
    cairo_surface_mark_dirty(s);
}

static void axes(cairo_t *cr, const struct view *v, const char *xname, const char *yname)
{
    char buf[32];
    cairo_set_font_size(cr, 13);
    cairo_set_line_width(cr, 1);
    double xs = cli_nice_step(v->x1 - v->x0, 7), ys = cli_nice_step(v->y1 - v->y0, 7);
    for (double t = ceil(v->x0 / xs) * xs; t <= v->x1 + 1e-12; t += xs) {
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_move_to(cr, floor(to_px(v, t)) + 0.5, PY0 + PH);
        cairo_line_to(cr, floor(to_px(v, t)) + 0.5, PY0 + PH + 5);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%g", fabs(t) < xs * 1e-6 ? 0.0 : t);
        cli_plot_text(cr, to_px(v, t), PY0 + PH + 9, buf, 0.5, 0);
    }
    for (double t = ceil(v->y0 / ys) * ys; t <= v->y1 + 1e-12; t += ys) {
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_move_to(cr, PX0 - 5, floor(to_py(v, t)) + 0.5);
        cairo_line_to(cr, PX0, floor(to_py(v, t)) + 0.5);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%g", fabs(t) < ys * 1e-6 ? 0.0 : t);
        cli_plot_text(cr, PX0 - 9, to_py(v, t), buf, 1, 0.5);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_rectangle(cr, PX0 + 0.5, PY0 + 0.5, PW - 1, PH - 1);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_set_font_size(cr, 14);
    cli_plot_text(cr, PX0 + PW / 2.0, PY0 + PH + 34, xname, 0.5, 0);
    cairo_save(cr);
    cairo_translate(cr, PX0 - 62, PY0 + PH / 2.0);
    cairo_rotate(cr, -PI / 2);
    cli_plot_text(cr, 0, 0, yname, 0.5, 0.5);
    cairo_restore(cr);
}

static void point(cairo_t *cr, double x, double y, int32_t c)
{
    const double *col = palette[c % 10];
    cairo_arc(cr, x, y, 4.2, 0, 2 * PI);
    cairo_set_source_rgb(cr, col[0], col[1], col[2]);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_set_line_width(cr, 0.9);
    cairo_stroke(cr);
}

static void legend(cairo_t *cr, const nn_model *m, int64_t classes, double accuracy, int64_t n)
{
    double x = PX0 + PW + 30, y = PY0 + 8;
    char buf[160];
    cairo_set_font_size(cr, 14);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cli_plot_text(cr, x, y, "class", 0, 0);
    y += 26;
    cairo_set_font_size(cr, 13);
    int64_t shown = classes < 20 ? classes : 20;
    for (int64_t c = 0; c < shown; c++, y += 24) {
        const double *col = palette[c % 10];
        /* the region's colour where the model is sure */
        cairo_set_source_rgb(cr, 0.4 + 0.6 * col[0], 0.4 + 0.6 * col[1], 0.4 + 0.6 * col[2]);
        cairo_rectangle(cr, x, y - 8, 26, 16);
        cairo_fill(cr);
        point(cr, x + 13, y, (int32_t)c);
        const char *name = nn_model_class_name(m, c);
        snprintf(buf, sizeof buf, "%lld%s%s", (long long)c, name ? "  " : "", name ? name : "");
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        cli_plot_text(cr, x + 36, y, buf, 0, 0.5);
    }
    y += 14;
    static const char *const notes[] = {"regions: the predicted class", "(paler where less sure)",
                                        "grey line: decision boundary", "points: the data,",
                                        "coloured by their true class"};
    cairo_set_font_size(cr, 12);
    cairo_set_source_rgb(cr, 0.25, 0.25, 0.25);
    for (size_t i = 0; i < sizeof notes / sizeof notes[0]; i++, y += 18)
        cli_plot_text(cr, x, y, notes[i], 0, 0.5);
    y += 10;
    snprintf(buf, sizeof buf, "accuracy %.4f", accuracy);
    cli_plot_text(cr, x, y, buf, 0, 0.5);
    snprintf(buf, sizeof buf, "on %lld points", (long long)n);
    cli_plot_text(cr, x, y + 18, buf, 0, 0.5);
}

/* The shown range of the points' coordinates: their extent, padded by 8%
 * on each side (1 when they all coincide). */
static struct view view_of(const float *x, int64_t n)
{
    double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < 2; j++) {
            lo[j] = fmin(lo[j], x[2 * i + j]);
            hi[j] = fmax(hi[j], x[2 * i + j]);
        }
    for (int j = 0; j < 2; j++) {
        double pad = hi[j] > lo[j] ? 0.08 * (hi[j] - lo[j]) : 1;
        lo[j] -= pad;
        hi[j] += pad;
    }
    return (struct view){lo[0], hi[0], lo[1], hi[1]};
}

bool cli_plot_boundary(nn_model *m, const nn_dataset *ds, const char *path, const char *title)
{
    int64_t n = nn_dataset_size(ds), k = nn_model_outputs(m);
    int64_t classes = k == 1 ? 2 : k;
    float *x = malloc((size_t)(2 * n) * sizeof *x), *p = malloc((size_t)(n * k) * sizeof *p);
    float *conf = malloc((size_t)PW * PH * sizeof *conf);
    float *pconf = malloc((size_t)n * sizeof *pconf);
    int32_t *y = malloc((size_t)n * sizeof *y), *pred = malloc((size_t)n * sizeof *pred);
    int32_t *cls = malloc((size_t)PW * PH * sizeof *cls);
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    bool ok = false;
    cairo_surface_t *s = NULL;
    cairo_t *cr = NULL;
    if (!x || !p || !conf || !pconf || !y || !pred || !cls || !idx) {
        fprintf(stderr, "nn plot: out of memory for %lld points\n", (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    /* the points in raw units (the data set's normalization is none) */
    if (nn_dataset_gather(ds, idx, n, x, y, NULL) != NN_OK) {
        fprintf(stderr, "nn plot: %s\n", nn_ctx_error(nn_model_ctx(m)));
        goto done;
    }
    struct view v = view_of(x, n);
    /* accuracy on the points: predictions on their normalized copies */
    float *xn = malloc((size_t)(2 * n) * sizeof *xn);
    if (!xn) {
        fprintf(stderr, "nn plot: out of memory for %lld points\n", (long long)n);
        goto done;
    }
    memcpy(xn, x, (size_t)(2 * n) * sizeof *xn);
    nn_model_normalize(m, xn, n);
    bool pred_ok = nn_model_predict(m, xn, n, p) == NN_OK;
    free(xn);
    if (!pred_ok || !classify_grid(m, &v, cls, conf)) {
        fprintf(stderr, "nn plot: %s\n", nn_ctx_error(nn_model_ctx(m)));
        goto done;
    }
    decide(p, n, k, pred, pconf);
    int64_t right = 0;
    for (int64_t i = 0; i < n; i++)
        right += pred[i] == y[i];

    s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0.97, 0.97, 0.97);
    cairo_paint(cr);
    paint_regions(s, cls, conf, k);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    const char *xname = nn_dataset_feature_name(ds, 0), *yname = nn_dataset_feature_name(ds, 1);
    axes(cr, &v, xname ? xname : "feature 1", yname ? yname : "feature 2");
    cairo_rectangle(cr, PX0, PY0, PW, PH);
    cairo_clip(cr);
    for (int64_t i = 0; i < n; i++)
        point(cr, to_px(&v, x[2 * i]), to_py(&v, x[2 * i + 1]), y[i]);
    cairo_reset_clip(cr);
    cairo_set_font_size(cr, 17);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cli_plot_text(cr, W / 2.0, 22, title, 0.5, 0.5);
    legend(cr, m, classes, (double)right / (double)n, n);
    cairo_destroy(cr);
    cairo_status_t st = cairo_surface_write_to_png(s, path);
    if (st != CAIRO_STATUS_SUCCESS)
        fprintf(stderr, "nn plot: cannot write %s: %s\n", path, cairo_status_to_string(st));
    ok = st == CAIRO_STATUS_SUCCESS;
done:
    if (s)
        cairo_surface_destroy(s);
    free(x);
    free(p);
    free(conf);
    free(pconf);
    free(y);
    free(pred);
    free(cls);
    free(idx);
    return ok;
}

char *cli_beside(const char *model, const char *suffix)
{
    size_t n = strlen(model);
    const char *ext = ".safetensors";
    if (n > strlen(ext) && strcmp(model + n - strlen(ext), ext) == 0)
        n -= strlen(ext);
    size_t len = n + strlen(suffix) + 1;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%.*s%s", (int)n, model, suffix);
    return out;
}

int cmd_plot(int argc, char **argv)
{
    struct opts o = {0};
    const char *path;
    if (!cli_parse(CMD_PLOT, argc, argv, &o, &path))
        return 2;
    if (!path)
        return cli_fail("plot", "give a checkpoint, e.g. nn plot model.safetensors --boundary "
                        "--data points.csv"), 2;
    if (o.fit + o.boundary + o.curves > 1)
        return cli_fail("plot", "give one of --curves, --boundary and --fit"), 2;
    if (o.fit)
        return cli_plot_fits(&o, path);
    if (!o.boundary) /* the learning curves, by default */
        return cli_plot_curves(&o, path);
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.threads = 1});
    if (!ctx)
        return 1;
    int rc = 1;
    char *out = NULL;
    nn_dataset *ds = NULL;
    struct cli_recorded rec = {0};
    nn_model *m = nn_model_load(ctx, path, &(struct nn_model_cfg){.max_batch = PW});
    if (!m) {
        cli_fail("plot", "%s", nn_ctx_error(ctx));
        goto done;
    }
    nn_loss_kind lk = nn_model_loss_kind(m);
    int64_t inputs = nn_model_inputs(m), k = nn_model_outputs(m);
    if (inputs != 2) {
        cli_fail("plot", "--boundary draws the decision regions of a model of 2 inputs; %s "
                 "takes %lld", path, (long long)inputs);
        goto done;
    }
    if (lk == NN_LOSS_MSE || (lk == NN_LOSS_SIGMOID_BCE && k > 1)) {
        cli_fail("plot", "--boundary needs a classifier of one class per point (softmax, or "
                 "one sigmoid output); %s %s", path,
                 lk == NN_LOSS_MSE ? "is a regression model (loss mse)"
                                   : "has independent sigmoid outputs");
        goto done;
    }
    if (!cli_recorded_open(ctx, "plot", path, &rec))
        goto done;
    cli_recorded_defaults(&o, &rec);
    if (!o.data) {
        cli_fail("plot", "give the points with --data FILE.csv: %s records no data source",
                 path);
        goto done;
    }
    if (!(ds = cli_load_data(ctx, &o, o.data, "test", true)))
        goto done;
    if (nn_dataset_features(ds) != 2 || nn_dataset_label_kind(ds) != NN_LABELS_CLASS) {
        cli_fail("plot", "%s: --boundary needs points of 2 features with a class label; it has "
                 "%lld features%s", nn_dataset_source(ds), (long long)nn_dataset_features(ds),
                 nn_dataset_label_kind(ds) != NN_LABELS_CLASS ? " and no class labels" : "");
        goto done;
    }
    const char *names[1024];
    int64_t nnames = 0;
    while (nnames < 1024 && nn_model_class_name(m, nnames)) {
        names[nnames] = nn_model_class_name(m, nnames);
        nnames++;
    }
    int64_t classes = k == 1 ? 2 : k;
    if (!cli_match_classes(ctx, ds, names, nnames, "plot"))
        goto done;
    if (nn_dataset_check_classes(ds, classes) != NN_OK) {
        cli_fail("plot", "%s: labels do not fit the model's %lld classes: %s",
                 nn_dataset_source(ds), (long long)classes, nn_ctx_error(ctx));
        goto done;
    }
    if (nn_dataset_fit_norm(ds, NN_NORM_NONE) != NN_OK) { /* raw units */
        cli_fail("plot", "%s", nn_ctx_error(ctx));
        goto done;
    }
    out = o.out ? strdup(o.out) : cli_beside(path, "-boundary.png");
    if (!out) {
        cli_fail("plot", "out of memory");
        goto done;
    }
    char title[512];
    snprintf(title, sizeof title, "decision regions of %s", nn_model_spec(m));
    if (!cli_plot_boundary(m, ds, out, title))
        goto done;
    printf("decision regions written to %s\n", out);
    rc = 0;
done:
    free(out);
    nn_dataset_free(ds);
    cli_recorded_close(&rec);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return rc;
}
