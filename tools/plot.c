/*
 * plot.c - training curves drawn with cairo: loss (left) and accuracy or
 * mean absolute error (right) per epoch, training and validation, with
 * axes, ticks, grid lines and a legend, written as a PNG.
 */
#include "cli.h"

#include <cairo.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846

#define W 1200
#define H 520

struct panel {
    double x0, y0, w, h;     /* plot area in pixels */
    double xmin, xmax, ymin, ymax;
};

static double px(const struct panel *p, double x)
{
    return p->x0 + (x - p->xmin) / (p->xmax - p->xmin) * p->w;
}
static double py(const struct panel *p, double y)
{
    return p->y0 + p->h - (y - p->ymin) / (p->ymax - p->ymin) * p->h;
}

/* A "nice" tick step (1, 2 or 5 times a power of ten) for about n ticks. */
double cli_nice_step(double range, int n)
{
    double raw = range / n, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
}

void cli_plot_text(cairo_t *cr, double x, double y, const char *s, double ax, double ay)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, s);
}

static void axes(cairo_t *cr, struct panel *p, const char *title, const char *ylabel)
{
    /* y range padded by 5%, x from 1 to the last epoch */
    double pad = (p->ymax - p->ymin) * 0.05;
    if (pad <= 0)
        pad = fabs(p->ymax) * 0.05 + 1e-3;
    p->ymin -= pad;
    p->ymax += pad;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, p->x0, p->y0, p->w, p->h);
    cairo_fill(cr);
    cairo_set_line_width(cr, 1);
    cairo_set_font_size(cr, 13);
    double ys = cli_nice_step(p->ymax - p->ymin, 6);
    char buf[32];
    for (double v = ceil(p->ymin / ys) * ys; v <= p->ymax + 1e-12; v += ys) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, p->x0, py(p, v) + 0.5);
        cairo_line_to(cr, p->x0 + p->w, py(p, v) + 0.5);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, "%g", fabs(v) < ys * 1e-6 ? 0.0 : v);
        cli_plot_text(cr, p->x0 - 8, py(p, v), buf, 1, 0.5);
    }
    double xs = fmax(1, cli_nice_step(p->xmax - p->xmin, 8));
    xs = ceil(xs);
    for (double v = p->xmin; v <= p->xmax + 1e-9; v += xs) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, px(p, v) + 0.5, p->y0);
        cairo_line_to(cr, px(p, v) + 0.5, p->y0 + p->h);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, "%.0f", v);
        cli_plot_text(cr, px(p, v), p->y0 + p->h + 8, buf, 0.5, 0);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_rectangle(cr, p->x0 + 0.5, p->y0 + 0.5, p->w, p->h);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cli_plot_text(cr, p->x0 + p->w / 2, p->y0 + p->h + 34, "epoch", 0.5, 0);
    cairo_save(cr);
    cairo_translate(cr, p->x0 - 62, p->y0 + p->h / 2);
    cairo_rotate(cr, -PI / 2);
    cli_plot_text(cr, 0, 0, ylabel, 0.5, 0.5);
    cairo_restore(cr);
    cairo_set_font_size(cr, 16);
    cli_plot_text(cr, p->x0 + p->w / 2, p->y0 - 14, title, 0.5, 1);
}

static void series(cairo_t *cr, const struct panel *p, const double *x, const double *y,
                   int n, double r, double g, double b, bool dashed)
{
    cairo_set_source_rgb(cr, r, g, b);
    cairo_set_line_width(cr, 2.2);
    double dash[] = {7, 4};
    cairo_set_dash(cr, dash, dashed ? 2 : 0, 0);
    bool pen = false;
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) {
            pen = false;
            continue;
        }
        if (pen)
            cairo_line_to(cr, px(p, x[i]), py(p, y[i]));
        else
            cairo_move_to(cr, px(p, x[i]), py(p, y[i]));
        pen = true;
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, dash, 0, 0);
    for (int i = 0; i < n; i++)
        if (isfinite(y[i])) {
            cairo_arc(cr, px(p, x[i]), py(p, y[i]), 3.2, 0, 2 * PI);
            cairo_fill(cr);
        }
}

static void legend(cairo_t *cr, const struct panel *p, bool has_val, bool top)
{
    double x = p->x0 + p->w - 150, y = top ? p->y0 + 12 : p->y0 + p->h - (has_val ? 62 : 36);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_rectangle(cr, x, y, 138, has_val ? 50 : 26);
    cairo_fill(cr);
    cairo_set_font_size(cr, 13);
    const char *names[2] = {"training", "validation"};
    for (int i = 0; i < (has_val ? 2 : 1); i++) {
        double yy = y + 13 + 24 * i;
        if (i == 0)
            cairo_set_source_rgb(cr, 0.12, 0.47, 0.71);
        else
            cairo_set_source_rgb(cr, 0.85, 0.37, 0.01);
        cairo_set_line_width(cr, 2.2);
        double dash[] = {7, 4};
        cairo_set_dash(cr, dash, i ? 2 : 0, 0);
        cairo_move_to(cr, x + 8, yy);
        cairo_line_to(cr, x + 40, yy);
        cairo_stroke(cr);
        cairo_set_dash(cr, dash, 0, 0);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        cli_plot_text(cr, x + 48, yy, names[i], 0, 0.5);
    }
}

static void range(const double *a, const double *b, int n, double *lo, double *hi)
{
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (isfinite(a[i])) {
            *lo = fmin(*lo, a[i]);
            *hi = fmax(*hi, a[i]);
        }
        if (b && isfinite(b[i])) {
            *lo = fmin(*lo, b[i]);
            *hi = fmax(*hi, b[i]);
        }
    }
    if (!isfinite(*lo)) {
        *lo = 0;
        *hi = 1;
    }
}

/* A horizontal dotted line at y labelled with text, for the test result. */
static void hline(cairo_t *cr, const struct panel *p, double y, const char *label)
{
    if (!isfinite(y) || y < p->ymin || y > p->ymax)
        return;
    cairo_set_source_rgb(cr, 0.17, 0.63, 0.17);
    cairo_set_line_width(cr, 1.6);
    double dash[] = {2, 3};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_move_to(cr, p->x0, py(p, y));
    cairo_line_to(cr, p->x0 + p->w, py(p, y));
    cairo_stroke(cr);
    cairo_set_dash(cr, dash, 0, 0);
    cairo_set_font_size(cr, 13);
    cli_plot_text(cr, p->x0 + 8, py(p, y) - 4, label, 0, 1);
}

/* ---- the --stats panel -------------------------------------------------- */

#define STATS_MAX 12 /* weights drawn */
#define STATS_H 440  /* the panel's extra height */

/* The gradient norm of every weight (a parameter named *.weight) per epoch
 * from a --stats CSV: names[k] and g[k * emax + e - 1] for epochs 1..emax
 * (NAN where missing). Returns the number of weights (0: none, or the file
 * cannot be read), *emax_out the last epoch; *g malloc'ed. */
static int read_grad_norms(const char *csv, char names[STATS_MAX][64], double **g,
                           int *emax_out)
{
    *g = NULL;
    FILE *f = fopen(csv, "r");
    if (!f)
        return 0;
    char line[512];
    int nw = 0, emax = 0;
    /* first pass: names and the last epoch */
    while (fgets(line, sizeof line, f)) {
        int e;
        char name[64], kind[16];
        if (sscanf(line, "%d,%63[^,],%*[^,],%15[^,],", &e, name, kind) != 3 ||
            strcmp(kind, "param") != 0)
            continue;
        size_t L = strlen(name);
        if (L < 7 || strcmp(name + L - 7, ".weight") != 0)
            continue;
        emax = e > emax ? e : emax;
        bool seen = false;
        for (int k = 0; k < nw && !seen; k++)
            seen = strcmp(names[k], name) == 0;
        if (!seen && nw < STATS_MAX)
            snprintf(names[nw++], 64, "%s", name);
    }
    if (nw == 0 || emax < 1 || !(*g = malloc((size_t)nw * (size_t)emax * sizeof **g))) {
        fclose(f);
        return 0;
    }
    for (int i = 0; i < nw * emax; i++)
        (*g)[i] = NAN;
    rewind(f);
    while (fgets(line, sizeof line, f)) {
        int e;
        char name[64];
        const char *last = strrchr(line, ',');
        if (!last || sscanf(line, "%d,%63[^,],", &e, name) != 2 || e < 1 || e > emax)
            continue;
        for (int k = 0; k < nw; k++)
            if (strcmp(names[k], name) == 0) {
                double v = strtod(last + 1, NULL);
                (*g)[k * emax + e - 1] = v > 0 ? log10(v) : NAN;
            }
    }
    fclose(f);
    *emax_out = emax;
    return nw;
}

/* The gradient norm of each weight per epoch (log scale), input layer to
 * output layer from dark to light: vanishing gradients show as a fan. */
static void stats_panel(cairo_t *cr, double y0, char names[STATS_MAX][64], const double *g,
                        int nw, int emax, double x0, double x1)
{
    struct panel p = {90, y0, 860, 340, x0, x1, 0, 0};
    range(g, NULL, nw * emax, &p.ymin, &p.ymax);
    axes(cr, &p, "gradient norm of each weight (measured on one fixed batch, --stats)",
         "log10 |gradient|");
    double *x = malloc((size_t)emax * sizeof *x);
    if (!x)
        return;
    for (int e = 0; e < emax; e++)
        x[e] = e + 1;
    cairo_set_font_size(cr, 13);
    for (int k = 0; k < nw; k++) {
        double t = nw > 1 ? (double)k / (nw - 1) : 0; /* 0: input side */
        double r = 0.05 + 0.85 * t, gg = 0.15 + 0.55 * t, b = 0.55 - 0.45 * t;
        series(cr, &p, x, g + (size_t)k * (size_t)emax, emax, r, gg, b, false);
        double yy = p.y0 + 14 + 22 * k;
        cairo_set_source_rgb(cr, r, gg, b);
        cairo_rectangle(cr, p.x0 + p.w + 20, yy - 5, 26, 10);
        cairo_fill(cr);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        cli_plot_text(cr, p.x0 + p.w + 52, yy, names[k], 0, 0.5);
    }
    free(x);
}

bool cli_plot(const char *path, const struct nn_epoch_stats *h, int n, bool regression,
              const char *title, const struct nn_metrics *test)
{
    return cli_plot_stats(path, h, n, regression, title, test, NULL);
}

bool cli_plot_stats(const char *path, const struct nn_epoch_stats *h, int n, bool regression,
                    const char *title, const struct nn_metrics *test, const char *stats_csv)
{
    if (n < 1) {
        fprintf(stderr, "nn train: no epochs to plot\n");
        return false;
    }
    double *buf = malloc(5 * (size_t)n * sizeof *buf);
    if (!buf)
        return false;
    double *x = buf, *tl = buf + n, *vl = buf + 2 * n, *ta = buf + 3 * n, *va = buf + 4 * n;
    bool has_val = false;
    for (int i = 0; i < n; i++) {
        x[i] = h[i].epoch;
        tl[i] = h[i].train.loss;
        vl[i] = h[i].val.n > 0 ? h[i].val.loss : NAN;
        ta[i] = regression ? h[i].train.mae : h[i].train.accuracy;
        va[i] = h[i].val.n > 0 ? (regression ? h[i].val.mae : h[i].val.accuracy) : NAN;
        has_val |= h[i].val.n > 0;
    }
    char names[STATS_MAX][64];
    double *gn = NULL;
    int emax = 0, nw = stats_csv ? read_grad_norms(stats_csv, names, &gn, &emax) : 0;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, nw ? H + STATS_H : H);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0.97, 0.97, 0.97);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 18);
    /* a long spec or path: a smaller font (to 9 points), not a cut title */
    cairo_text_extents_t te;
    cairo_text_extents(cr, title, &te);
    for (double size = 18; te.width > W - 60 && size > 9;) {
        size = fmax(9, size * (W - 60) / te.width - 0.5);
        cairo_set_font_size(cr, size);
        cairo_text_extents(cr, title, &te);
    }
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cli_plot_text(cr, W / 2.0, 14, title, 0.5, 0);
    double x1 = n > 1 ? x[n - 1] : x[0] + 1, x0 = x[0];
    struct panel pl = {90, 80, 470, 360, x0, x1, 0, 0};
    struct panel pa = {700, 80, 470, 360, x0, x1, 0, 0};
    range(tl, vl, n, &pl.ymin, &pl.ymax);
    range(ta, va, n, &pa.ymin, &pa.ymax);
    double test_m = test ? (regression ? test->mae : test->accuracy) : NAN;
    if (test) { /* keep the test result inside the panels */
        pl.ymin = fmin(pl.ymin, test->loss);
        pl.ymax = fmax(pl.ymax, test->loss);
        pa.ymin = fmin(pa.ymin, test_m);
        pa.ymax = fmax(pa.ymax, test_m);
    }
    axes(cr, &pl, "loss", "loss (mean per sample)");
    series(cr, &pl, x, tl, n, 0.12, 0.47, 0.71, false);
    if (has_val)
        series(cr, &pl, x, vl, n, 0.85, 0.37, 0.01, true);
    char lab[64];
    if (test) {
        snprintf(lab, sizeof lab, "test %.4f", test->loss);
        hline(cr, &pl, test->loss, lab);
    }
    legend(cr, &pl, has_val, true);
    axes(cr, &pa, regression ? "mean absolute error" : "accuracy",
         regression ? "MAE" : "accuracy (fraction correct)");
    series(cr, &pa, x, ta, n, 0.12, 0.47, 0.71, false);
    if (has_val)
        series(cr, &pa, x, va, n, 0.85, 0.37, 0.01, true);
    if (test) {
        snprintf(lab, sizeof lab, "test %.4f", test_m);
        hline(cr, &pa, test_m, lab);
    }
    legend(cr, &pa, has_val, regression);
    if (nw)
        stats_panel(cr, H + 20, names, gn, nw, emax, x0, x1 > emax ? x1 : emax);
    free(gn);
    cairo_destroy(cr);
    cairo_status_t st = cairo_surface_write_to_png(s, path);
    cairo_surface_destroy(s);
    free(buf);
    if (st != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "nn train: cannot write plot %s: %s\n", path, cairo_status_to_string(st));
        return false;
    }
    return true;
}
