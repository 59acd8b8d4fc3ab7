/*
 * fit_plot.c - `nn plot A.safetensors[,B,...] --fit`: the curves of
 * 1-input, 1-output regression models over their data's points, drawn
 * with cairo (the helpers of plot.c): how a sine fit looks with 1, 3 or
 * 10 hidden units.
 */
#include "cli.h"

#include <cairo.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define W 960
#define H 600
#define PI 3.14159265358979323846
#define NGRID 400
#define MAXFIT 8

static const double colours[MAXFIT][3] = {
    {0.85, 0.33, 0.10}, {0.13, 0.55, 0.13}, {0.12, 0.38, 0.75}, {0.58, 0.40, 0.74},
    {0.89, 0.47, 0.76}, {0.55, 0.34, 0.29}, {0.74, 0.74, 0.13}, {0.09, 0.75, 0.81}};

struct fit_view {
    double x0, y0, w, h;     /* plot area in pixels */
    double xa, xb, ya, yb;   /* data range shown */
};

static double vx(const struct fit_view *v, double x)
{
    return v->x0 + (x - v->xa) / (v->xb - v->xa) * v->w;
}

static double vy(const struct fit_view *v, double y)
{
    return v->y0 + v->h - (y - v->ya) / (v->yb - v->ya) * v->h;
}

struct fits {
    int n;
    nn_model *m[MAXFIT];
    const char *path[MAXFIT];
    float *curve[MAXFIT]; /* (NGRID) */
    double mse[MAXFIT];   /* on the points */
    float grid[NGRID];
    const float *x, *y;   /* the points, raw units */
    int64_t np;
};

/* Each model's curve on the grid and its mean squared error on the points. */
static bool predict_all(struct fits *f)
{
    float xs[NGRID];
    float *xp = malloc((size_t)f->np * sizeof *xp), *yp = malloc((size_t)f->np * sizeof *yp);
    bool ok = xp && yp;
    for (int i = 0; ok && i < f->n; i++) {
        memcpy(xs, f->grid, sizeof xs);
        nn_model_normalize(f->m[i], xs, NGRID);
        ok = (f->curve[i] = malloc(NGRID * sizeof(float))) &&
             nn_model_predict(f->m[i], xs, NGRID, f->curve[i]) == NN_OK;
        memcpy(xp, f->x, (size_t)f->np * sizeof *xp);
        nn_model_normalize(f->m[i], xp, f->np);
        ok = ok && nn_model_predict(f->m[i], xp, f->np, yp) == NN_OK;
        double s = 0;
        for (int64_t j = 0; ok && j < f->np; j++)
            s += (yp[j] - f->y[j]) * (double)(yp[j] - f->y[j]);
        f->mse[i] = s / (double)f->np;
    }
    free(xp);
    free(yp);
    return ok;
}

/* The range: the points' x (5% margins); y over the points, and the
 * curves within half the points' spread beyond them. */
static void view_of(const struct fits *f, struct fit_view *v)
{
    double xa = INFINITY, xb = -INFINITY, ya = INFINITY, yb = -INFINITY;
    for (int64_t j = 0; j < f->np; j++) {
        xa = fmin(xa, f->x[j]), xb = fmax(xb, f->x[j]);
        ya = fmin(ya, f->y[j]), yb = fmax(yb, f->y[j]);
    }
    double sp = yb - ya > 0 ? yb - ya : 1, lo = ya - sp / 2, hi = yb + sp / 2;
    for (int i = 0; i < f->n; i++)
        for (int g = 0; g < NGRID; g++)
            if (isfinite(f->curve[i][g])) {
                ya = fmin(ya, fmax(lo, f->curve[i][g]));
                yb = fmax(yb, fmin(hi, f->curve[i][g]));
            }
    double px = (xb - xa > 0 ? xb - xa : 1) * 0.05, py = (yb - ya > 0 ? yb - ya : 1) * 0.06;
    *v = (struct fit_view){.x0 = 80, .y0 = 50, .w = W - 110, .h = H - 120, .xa = xa - px,
                           .xb = xb + px, .ya = ya - py, .yb = yb + py};
}

static void fit_axes(cairo_t *cr, const struct fit_view *v, const char *xn, const char *yn)
{
    char buf[32];
    cairo_set_font_size(cr, 12);
    cairo_set_line_width(cr, 1);
    double xs = cli_nice_step(v->xb - v->xa, 8), ys = cli_nice_step(v->yb - v->ya, 7);
    for (double t = ceil(v->xa / xs) * xs; t <= v->xb + 1e-12; t += xs) {
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, floor(vx(v, t)) + 0.5, v->y0);
        cairo_line_to(cr, floor(vx(v, t)) + 0.5, v->y0 + v->h);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, "%g", fabs(t) < xs * 1e-6 ? 0.0 : t);
        cli_plot_text(cr, vx(v, t), v->y0 + v->h + 8, buf, 0.5, 0);
    }
    for (double t = ceil(v->ya / ys) * ys; t <= v->yb + 1e-12; t += ys) {
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, v->x0, floor(vy(v, t)) + 0.5);
        cairo_line_to(cr, v->x0 + v->w, floor(vy(v, t)) + 0.5);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, "%g", fabs(t) < ys * 1e-6 ? 0.0 : t);
        cli_plot_text(cr, v->x0 - 8, vy(v, t), buf, 1, 0.5);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_rectangle(cr, v->x0 + 0.5, v->y0 + 0.5, v->w, v->h);
    cairo_stroke(cr);
    cairo_set_font_size(cr, 13);
    cli_plot_text(cr, v->x0 + v->w / 2, H - 30, xn, 0.5, 0.5);
    cairo_save(cr);
    cairo_translate(cr, 22, v->y0 + v->h / 2);
    cairo_rotate(cr, -PI / 2);
    cli_plot_text(cr, 0, 0, yn, 0.5, 0.5);
    cairo_restore(cr);
}

static void fit_draw(cairo_t *cr, const struct fits *f, const struct fit_view *v)
{
    cairo_save(cr);
    cairo_rectangle(cr, v->x0, v->y0, v->w, v->h);
    cairo_clip(cr);
    cairo_set_source_rgba(cr, 0.25, 0.25, 0.25, 0.75);
    for (int64_t j = 0; j < f->np; j++) {
        cairo_arc(cr, vx(v, f->x[j]), vy(v, f->y[j]), 3.5, 0, 2 * PI);
        cairo_fill(cr);
    }
    cairo_set_line_width(cr, 2.5);
    for (int i = 0; i < f->n; i++) {
        cairo_set_source_rgb(cr, colours[i][0], colours[i][1], colours[i][2]);
        bool on = false;
        for (int g = 0; g < NGRID; g++) {
            double y = f->curve[i][g];
            if (!isfinite(y)) {
                on = false;
                continue;
            }
            (on ? cairo_line_to : cairo_move_to)(cr, vx(v, f->grid[g]), vy(v, y));
            on = true;
        }
        cairo_stroke(cr);
    }
    cairo_restore(cr);
    /* the legend: each model's spec and its error on the points, in the
     * corner with the fewest points under it */
    cairo_set_font_size(cr, 12);
    double bw = 420, bh = 20.0 * (f->n + 1), lx = v->x0 + 12, ly = v->y0 + 14;
    int fewest = -1;
    for (int c = 0; c < 4; c++) {
        double cx = c & 1 ? v->x0 + v->w - bw - 6 : v->x0 + 12;
        double cy = c & 2 ? v->y0 + v->h - bh : v->y0 + 14;
        int under = 0;
        for (int64_t j = 0; j < f->np; j++) {
            double px = vx(v, f->x[j]), py = vy(v, f->y[j]);
            under += px >= cx - 6 && px <= cx - 6 + bw && py >= cy - 10 && py <= cy - 10 + bh;
        }
        if (fewest < 0 || under < fewest)
            fewest = under, lx = cx, ly = cy;
    }
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, lx - 6, ly - 10, bw, bh);
    cairo_fill(cr);
    cairo_set_source_rgba(cr, 0.25, 0.25, 0.25, 0.75);
    cairo_arc(cr, lx + 10, ly, 3.5, 0, 2 * PI);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    char buf[300];
    snprintf(buf, sizeof buf, "data (%lld points)", (long long)f->np);
    cli_plot_text(cr, lx + 26, ly, buf, 0, 0.5);
    for (int i = 0; i < f->n; i++) {
        double y = ly + 20.0 * (i + 1);
        cairo_set_source_rgb(cr, colours[i][0], colours[i][1], colours[i][2]);
        cairo_move_to(cr, lx, y);
        cairo_line_to(cr, lx + 20, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        snprintf(buf, sizeof buf, "%.48s   (mse on the points %.4g)", nn_model_spec(f->m[i]),
                 f->mse[i]);
        cli_plot_text(cr, lx + 26, y, buf, 0, 0.5);
    }
}

static bool fit_png(struct fits *f, const char *path, const char *xn, const char *yn)
{
    struct fit_view v;
    view_of(f, &v);
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    fit_axes(cr, &v, xn, yn);
    fit_draw(cr, f, &v);
    cairo_set_font_size(cr, 14);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cli_plot_text(cr, W / 2.0, 22, "fitted curves over the data", 0.5, 0.5);
    cairo_destroy(cr);
    cairo_status_t st = cairo_surface_write_to_png(s, path);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS)
        return cli_fail("plot", "cannot write %s: %s", path, cairo_status_to_string(st)), false;
    return true;
}

/* The models of list (comma-separated), each of 1 input and 1 output
 * regressing (mse); false after printing the error. */
static bool load_models(nn_ctx *ctx, char *list, struct fits *f)
{
    for (char *p = strtok(list, ","); p; p = strtok(NULL, ",")) {
        if (f->n == MAXFIT)
            return cli_fail("plot", "--fit draws at most %d models", MAXFIT), false;
        nn_model *m = nn_model_load(ctx, p, &(struct nn_model_cfg){.max_batch = NGRID});
        if (!m)
            return cli_fail("plot", "%s", nn_ctx_error(ctx)), false;
        f->m[f->n] = m;
        f->path[f->n++] = p;
        if (nn_model_inputs(m) != 1 || nn_model_outputs(m) != 1 ||
            nn_model_loss_kind(m) != NN_LOSS_MSE)
            return cli_fail("plot", "--fit draws regression models of 1 input and 1 output "
                            "(loss mse); %s has %lld inputs, %lld outputs and loss %s", p,
                            (long long)nn_model_inputs(m), (long long)nn_model_outputs(m),
                            nn_model_loss_kind(m) == NN_LOSS_MSE ? "mse" : "of a classifier"),
                   false;
    }
    if (f->n == 0)
        return cli_fail("plot", "give the checkpoints to draw, e.g. nn plot a.safetensors,"
                        "b.safetensors --fit"), false;
    return true;
}

/* The points (raw units), from --data or the data the first model
 * records; rec (zeroed by the caller, closed by it after the last use of o)
 * owns the strings cli_recorded_defaults puts into o, such as the label's
 * name. */
static nn_dataset *fit_data(nn_ctx *ctx, struct opts *o, const struct fits *f,
                            struct cli_recorded *rec)
{
    if (!cli_recorded_open(ctx, "plot", f->path[0], rec))
        return NULL;
    cli_recorded_defaults(o, rec);
    nn_dataset *ds = NULL;
    if (!o->data)
        cli_fail("plot", "give the points with --data FILE.csv: %s records no data source",
                 f->path[0]);
    else if ((ds = cli_load_data(ctx, o, o->data, "test", true)) &&
             (nn_dataset_features(ds) != 1 || nn_dataset_label_kind(ds) != NN_LABELS_TARGETS ||
              nn_dataset_targets(ds) != 1)) {
        cli_fail("plot", "%s: --fit needs points of 1 feature and 1 numeric target",
                 nn_dataset_source(ds));
        nn_dataset_free(ds);
        ds = NULL;
    }
    if (ds && nn_dataset_fit_norm(ds, NN_NORM_NONE) != NN_OK) {
        cli_fail("plot", "%s", nn_ctx_error(ctx));
        nn_dataset_free(ds);
        ds = NULL;
    }
    return ds;
}

int cli_plot_fits(struct opts *o, const char *list)
{
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.threads = 1});
    char *paths = strdup(list);
    struct fits f = {0};
    struct cli_recorded rec = {0};
    nn_dataset *ds = NULL;
    int rc = 1;
    float *x = NULL, *y = NULL;
    char *out = NULL; /* the default picture's path */
    if (!ctx || !paths) {
        cli_fail("plot", "out of memory");
        goto done;
    }
    if (!load_models(ctx, paths, &f) || !(ds = fit_data(ctx, o, &f, &rec)))
        goto done;
    f.np = nn_dataset_size(ds);
    x = malloc((size_t)f.np * sizeof *x);
    y = malloc((size_t)f.np * sizeof *y);
    int64_t *idx = malloc((size_t)f.np * sizeof *idx);
    for (int64_t j = 0; idx && j < f.np; j++)
        idx[j] = j;
    nn_status st = x && y && idx ? nn_dataset_gather(ds, idx, f.np, x, NULL, y) : NN_ERR_NOMEM;
    free(idx);
    if (st != NN_OK) {
        cli_fail("plot", "%s", st == NN_ERR_NOMEM ? "out of memory" : nn_ctx_error(ctx));
        goto done;
    }
    f.x = x;
    f.y = y;
    double xa = INFINITY, xb = -INFINITY;
    for (int64_t j = 0; j < f.np; j++)
        xa = fmin(xa, x[j]), xb = fmax(xb, x[j]);
    double pad = (xb - xa > 0 ? xb - xa : 1) * 0.05;
    for (int g = 0; g < NGRID; g++)
        f.grid[g] = (float)(xa - pad + (xb - xa + 2 * pad) * g / (NGRID - 1));
    out = o->out ? NULL : cli_beside(f.path[0], "-fit.png");
    const char *path = o->out ? o->out : out;
    if (!path) {
        cli_fail("plot", "out of memory");
        goto done;
    }
    const char *xn = nn_dataset_feature_name(ds, 0);
    if (!predict_all(&f)) {
        cli_fail("plot", "%s", nn_ctx_error(ctx));
        goto done;
    }
    if (!fit_png(&f, path, xn ? xn : "x", o->label ? o->label : "target"))
        goto done;
    printf("fitted curves written to %s\n", path);
    rc = 0;
done:
    for (int i = 0; i < f.n; i++) {
        nn_model_free(f.m[i]);
        free(f.curve[i]);
    }
    nn_dataset_free(ds);
    free(x);
    free(y);
    free(paths);
    free(out);
    cli_recorded_close(&rec);
    nn_ctx_free(ctx);
    return rc;
}
