/*
 * sweep_plot.c - nn sweep's picture, the lectures' model-selection scatter
 * plot: validation loss against the setting, one dot per restart, the mean
 * over restarts as a line, the chosen setting marked; a PNG drawn with
 * cairo (the helpers of plot.c).
 */
#include "cli.h"
#include "sweep.h"

#include <cairo.h>
#include <math.h>
#include <string.h>

#define W 960
#define H 600
#define PI 3.14159265358979323846

struct frame {
    double x0, y0, w, h;
    double xmin, xmax, ymin, ymax;
    bool logy;
};

static double fx(const struct frame *f, double x)
{
    return f->x0 + (x - f->xmin) / (f->xmax - f->xmin) * f->w;
}

static double fy(const struct frame *f, double y)
{
    double v = f->logy ? log10(y) : y;
    return f->y0 + f->h - (v - f->ymin) / (f->ymax - f->ymin) * f->h;
}

/* The ranges: x padded by half the smallest gap, y over the finite
 * losses, on a log scale when they span more than a factor of 30. */
static bool ranges(const struct sweep_plot *sp, struct frame *f)
{
    double lo = INFINITY, hi = -INFINITY, gap = INFINITY;
    f->xmin = INFINITY;
    f->xmax = -INFINITY;
    for (long k = 0; k < sp->settings; k++) {
        f->xmin = fmin(f->xmin, sp->x[k]);
        f->xmax = fmax(f->xmax, sp->x[k]);
        if (k > 0 && sp->x[k] != sp->x[k - 1])
            gap = fmin(gap, fabs(sp->x[k] - sp->x[k - 1]));
        for (int r = 0; r < sp->restarts; r++) {
            double v = sp->loss[k * sp->restarts + r];
            if (isfinite(v))
                lo = fmin(lo, v), hi = fmax(hi, v);
        }
    }
    if (!isfinite(lo))
        return false;
    if (!isfinite(gap))
        gap = 1;
    f->xmin -= gap / 2;
    f->xmax += gap / 2;
    f->logy = lo > 0 && hi / lo > 30;
    f->ymin = f->logy ? log10(lo) : lo;
    f->ymax = f->logy ? log10(hi) : hi;
    double pad = (f->ymax - f->ymin) * 0.06;
    if (pad <= 0)
        pad = fabs(f->ymax) * 0.05 + 1e-6;
    f->ymin -= pad;
    f->ymax += pad;
    return true;
}

static void y_axis(cairo_t *cr, const struct frame *f)
{
    char buf[32];
    if (f->logy) { /* 1, 2, 5 per decade */
        for (double e = floor(f->ymin); e <= ceil(f->ymax); e++)
            for (int m = 1; m <= 5; m += (m == 1 ? 1 : 3)) {
                double v = m * pow(10, e), lv = log10(v);
                if (lv < f->ymin || lv > f->ymax)
                    continue;
                cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
                cairo_move_to(cr, f->x0, fy(f, v) + 0.5);
                cairo_line_to(cr, f->x0 + f->w, fy(f, v) + 0.5);
                cairo_stroke(cr);
                cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
                snprintf(buf, sizeof buf, "%g", v);
                cli_plot_text(cr, f->x0 - 8, fy(f, v), buf, 1, 0.5);
            }
        return;
    }
    double step = cli_nice_step(f->ymax - f->ymin, 6);
    for (double v = ceil(f->ymin / step) * step; v <= f->ymax + 1e-12; v += step) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, f->x0, fy(f, v) + 0.5);
        cairo_line_to(cr, f->x0 + f->w, fy(f, v) + 0.5);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, "%g", fabs(v) < step * 1e-6 ? 0.0 : v);
        cli_plot_text(cr, f->x0 - 8, fy(f, v), buf, 1, 0.5);
    }
}

/* A tick and label under each setting (every n-th when crowded). */
static void x_axis(cairo_t *cr, const struct frame *f, const struct sweep_plot *sp)
{
    long every = sp->settings > 24 ? (sp->settings + 23) / 24 : 1;
    for (long k = 0; k < sp->settings; k += every) {
        double x = fx(f, sp->x[k]);
        cairo_set_source_rgb(cr, 0.93, 0.93, 0.93);
        cairo_move_to(cr, x + 0.5, f->y0);
        cairo_line_to(cr, x + 0.5, f->y0 + f->h);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        char buf[16];
        snprintf(buf, sizeof buf, "%.12s", sp->labels[k]);
        cli_plot_text(cr, x, f->y0 + f->h + 8, buf, 0.5, 0);
    }
}

/* A setting's mean validation loss; NAN when a run is missing or diverged
 * (the setting's mean is then not drawn). */
static double mean_of(const struct sweep_plot *sp, long k)
{
    double sum = 0;
    for (int r = 0; r < sp->restarts; r++)
        sum += sp->loss[k * sp->restarts + r];
    return isfinite(sum) ? sum / sp->restarts : NAN;
}

static void points(cairo_t *cr, const struct frame *f, const struct sweep_plot *sp)
{
    /* the chosen setting: a pale band */
    double bx = fx(f, sp->x[sp->best]);
    cairo_set_source_rgb(cr, 0.86, 0.95, 0.86);
    cairo_rectangle(cr, bx - 10, f->y0, 20, f->h);
    cairo_fill(cr);
    cairo_set_source_rgba(cr, 0.12, 0.38, 0.75, 0.55);
    for (long k = 0; k < sp->settings; k++)
        for (int r = 0; r < sp->restarts; r++) {
            double v = sp->loss[k * sp->restarts + r];
            if (!isfinite(v))
                continue;
            cairo_arc(cr, fx(f, sp->x[k]), fy(f, v), 3.2, 0, 2 * PI);
            cairo_fill(cr);
        }
    cairo_set_source_rgb(cr, 0.85, 0.2, 0.1);
    cairo_set_line_width(cr, 2);
    bool on = false;
    for (long k = 0; k < sp->settings; k++) {
        double mean = mean_of(sp, k);
        if (!isfinite(mean) || (f->logy && mean <= 0)) {
            on = false;
            continue;
        }
        if (on)
            cairo_line_to(cr, fx(f, sp->x[k]), fy(f, mean));
        else
            cairo_move_to(cr, fx(f, sp->x[k]), fy(f, mean));
        on = true;
    }
    cairo_stroke(cr);
    for (long k = 0; k < sp->settings; k++) {
        double mean = mean_of(sp, k);
        if (isfinite(mean) && !(f->logy && mean <= 0)) {
            cairo_rectangle(cr, fx(f, sp->x[k]) - 4, fy(f, mean) - 4, 8, 8);
            cairo_fill(cr);
        }
    }
}

/* How many dots the legend's box at (x, y) would cover. */
static int covered(const struct frame *f, const struct sweep_plot *sp, double x, double y)
{
    int n = 0;
    for (long k = 0; k < sp->settings; k++) {
        double px = fx(f, sp->x[k]);
        if (px < x - 18 || px > x + 192)
            continue;
        for (int r = 0; r < sp->restarts; r++) {
            double v = sp->loss[k * sp->restarts + r];
            n += isfinite(v) && v > 0 && fy(f, v) >= y - 6 && fy(f, v) <= y + 54;
        }
    }
    return n;
}

/* In the top corner that hides fewer dots. */
static void legend(cairo_t *cr, const struct frame *f, const struct sweep_plot *sp)
{
    double x = f->x0 + f->w - 190, y = f->y0 + 12;
    if (covered(f, sp, f->x0 + 16, y) < covered(f, sp, x, y))
        x = f->x0 + 16;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, x - 8, y - 6, 190, 60);
    cairo_fill(cr);
    cairo_set_source_rgba(cr, 0.12, 0.38, 0.75, 0.55);
    cairo_arc(cr, x + 8, y + 6, 3.2, 0, 2 * PI);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.85, 0.2, 0.1);
    cairo_rectangle(cr, x + 4, y + 22, 8, 8);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.86, 0.95, 0.86);
    cairo_rectangle(cr, x + 2, y + 38, 12, 12);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    cli_plot_text(cr, x + 22, y + 6, "one restart", 0, 0.5);
    cli_plot_text(cr, x + 22, y + 26, "mean over restarts", 0, 0.5);
    cli_plot_text(cr, x + 22, y + 44, "chosen (lowest mean)", 0, 0.5);
}

static void labels(cairo_t *cr, const struct frame *f, const struct sweep_plot *sp)
{
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_set_font_size(cr, 14);
    char title[200];
    snprintf(title, sizeof title, "%.190s", sp->title);
    cli_plot_text(cr, W / 2.0, 22, title, 0.5, 0.5);
    cairo_set_font_size(cr, 13);
    char xl[120];
    snprintf(xl, sizeof xl, "%.110s", sp->xlabel);
    cli_plot_text(cr, f->x0 + f->w / 2, H - 22, xl, 0.5, 0.5);
    cairo_save(cr);
    cairo_translate(cr, 22, f->y0 + f->h / 2);
    cairo_rotate(cr, -PI / 2);
    cli_plot_text(cr, 0, 0, f->logy ? "validation loss (log scale)" : "validation loss", 0.5,
                  0.5);
    cairo_restore(cr);
}

bool sweep_plot_png(const struct sweep_plot *sp)
{
    struct frame f = {.x0 = 90, .y0 = 48, .w = W - 120, .h = H - 130};
    if (!ranges(sp, &f)) {
        cli_fail("sweep", "%s: no run has a finite validation loss to plot", sp->path);
        return false;
    }
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 0.97, 0.97, 0.97);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, f.x0, f.y0, f.w, f.h);
    cairo_fill(cr);
    cairo_set_line_width(cr, 1);
    cairo_set_font_size(cr, 12);
    y_axis(cr, &f);
    x_axis(cr, &f, sp);
    points(cr, &f, sp);
    cairo_set_line_width(cr, 1);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_rectangle(cr, f.x0 + 0.5, f.y0 + 0.5, f.w, f.h);
    cairo_stroke(cr);
    cairo_set_font_size(cr, 12);
    legend(cr, &f, sp);
    labels(cr, &f, sp);
    cairo_destroy(cr);
    cairo_status_t st = cairo_surface_write_to_png(s, sp->path);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS) {
        cli_fail("sweep", "cannot write %s: %s", sp->path, cairo_status_to_string(st));
        return false;
    }
    return true;
}
