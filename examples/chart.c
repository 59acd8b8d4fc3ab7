/*
 * chart.c - line charts with cairo for the examples (see chart.h): axes
 * with "nice" ticks, grid, title, axis labels, legend, log-scale option.
 */
#include "chart.h"

#include <math.h>
#include <stdio.h>

#define PI 3.14159265358979323846

void chart_color(int i, double rgb[3])
{
    static const double pal[8][3] = {
        {0.12, 0.47, 0.71}, {0.85, 0.37, 0.01}, {0.17, 0.63, 0.17}, {0.84, 0.15, 0.16},
        {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29}, {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50},
    };
    for (int k = 0; k < 3; k++)
        rgb[k] = pal[i % 8][k];
}

double chart_px(const struct chart_frame *f, double x)
{
    return f->x0 + (x - f->xmin) / (f->xmax - f->xmin) * f->w;
}

double chart_py(const struct chart_frame *f, double y)
{
    double v = f->logy ? log10(y) : y;
    return f->y0 + f->h - (v - f->ymin) / (f->ymax - f->ymin) * f->h;
}

void chart_text(cairo_t *cr, double x, double y, const char *s, double ax, double ay)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, s);
}

static double nice_step(double range, int n)
{
    double raw = range / n, mag = pow(10, floor(log10(raw))), fr = raw / mag;
    return (fr < 1.5 ? 1 : fr < 3.5 ? 2 : fr < 7.5 ? 5 : 10) * mag;
}

/* The data ranges of the series (y in log10 units when logy). */
static void data_range(const struct chart *c, const struct chart_series *s, int ns,
                       struct chart_frame *f)
{
    f->xmin = f->ymin = INFINITY;
    f->xmax = f->ymax = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            double y = s[k].y[i];
            if (!isfinite(y) || (c->logy && y <= 0))
                continue;
            y = c->logy ? log10(y) : y;
            f->xmin = fmin(f->xmin, s[k].x[i]);
            f->xmax = fmax(f->xmax, s[k].x[i]);
            f->ymin = fmin(f->ymin, y);
            f->ymax = fmax(f->ymax, y);
        }
    if (!isfinite(f->xmin))
        f->xmin = 0, f->xmax = 1, f->ymin = 0, f->ymax = 1;
    if (c->fix_x)
        f->xmin = c->xmin, f->xmax = c->xmax;
    if (c->fix_y) {
        f->ymin = c->logy ? log10(c->ymin) : c->ymin;
        f->ymax = c->logy ? log10(c->ymax) : c->ymax;
    } else {
        double pad = (f->ymax - f->ymin) * 0.06;
        if (pad <= 0)
            pad = fabs(f->ymax) * 0.05 + 0.05;
        f->ymin -= pad;
        f->ymax += pad;
    }
    if (f->xmax <= f->xmin)
        f->xmax = f->xmin + 1;
}

/* One horizontal grid line at v (log10 units when logy) with its label. */
static void grid_line_y(cairo_t *cr, const struct chart_frame *f, double v, const char *label)
{
    double yy = f->y0 + f->h - (v - f->ymin) / (f->ymax - f->ymin) * f->h;
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, f->x0, yy + 0.5);
    cairo_line_to(cr, f->x0 + f->w, yy + 0.5);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    chart_text(cr, f->x0 - 6, yy, label, 1, 0.5);
}

static void grid_y(cairo_t *cr, const struct chart_frame *f)
{
    char buf[32];
    if (f->logy && f->ymax - f->ymin < 2) {
        /* less than two decades: 1, 2 and 5 (or every digit) times 10^k */
        bool all = f->ymax - f->ymin < 0.8;
        for (double k = floor(f->ymin); k <= f->ymax; k++)
            for (int m = 1; m <= 9; m++) {
                double v = k + log10(m);
                if ((all || m == 1 || m == 2 || m == 5) && v >= f->ymin && v <= f->ymax) {
                    snprintf(buf, sizeof buf, "%g", m * pow(10, k));
                    grid_line_y(cr, f, v, buf);
                }
            }
        return;
    }
    double st = f->logy ? fmax(1, round(nice_step(f->ymax - f->ymin, 6))) : nice_step(f->ymax - f->ymin, 6);
    for (double v = ceil(f->ymin / st) * st; v <= f->ymax + 1e-12; v += st) {
        if (f->logy)
            snprintf(buf, sizeof buf, "1e%+.0f", v);
        else
            snprintf(buf, sizeof buf, "%g", fabs(v) < st * 1e-6 ? 0.0 : v);
        grid_line_y(cr, f, v, buf);
    }
}

static void grid_x(cairo_t *cr, const struct chart_frame *f, bool int_x)
{
    char buf[32];
    double st = nice_step(f->xmax - f->xmin, 8);
    if (int_x)
        st = fmax(1, round(st));
    for (double v = ceil(f->xmin / st) * st; v <= f->xmax + 1e-9; v += st) {
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
        cairo_move_to(cr, chart_px(f, v) + 0.5, f->y0);
        cairo_line_to(cr, chart_px(f, v) + 0.5, f->y0 + f->h);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        snprintf(buf, sizeof buf, "%g", fabs(v) < st * 1e-6 ? 0.0 : v);
        chart_text(cr, chart_px(f, v), f->y0 + f->h + 6, buf, 0.5, 0);
    }
}

struct chart_frame chart_axes(cairo_t *cr, double x, double y, double w, double h,
                              const struct chart *c, const struct chart_series *s, int ns)
{
    struct chart_frame f = {.x0 = x + 70, .y0 = y + 36, .w = w - 90, .h = h - 86,
                            .logy = c->logy};
    data_range(c, s, ns, &f);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_rectangle(cr, f.x0, f.y0, f.w, f.h);
    cairo_fill(cr);
    cairo_set_line_width(cr, 1);
    cairo_set_font_size(cr, 12);
    grid_y(cr, &f);
    grid_x(cr, &f, c->int_x);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_rectangle(cr, f.x0 + 0.5, f.y0 + 0.5, f.w, f.h);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_set_font_size(cr, 13);
    if (c->xlabel)
        chart_text(cr, f.x0 + f.w / 2, f.y0 + f.h + 28, c->xlabel, 0.5, 0);
    if (c->ylabel) {
        cairo_save(cr);
        cairo_translate(cr, x + 16, f.y0 + f.h / 2);
        cairo_rotate(cr, -PI / 2);
        chart_text(cr, 0, 0, c->ylabel, 0.5, 0.5);
        cairo_restore(cr);
    }
    if (c->title) {
        cairo_set_font_size(cr, 15);
        chart_text(cr, f.x0 + f.w / 2, y + 12, c->title, 0.5, 0);
    }
    return f;
}

static void one_series(cairo_t *cr, const struct chart_frame *f, const struct chart_series *s)
{
    double dash[] = {7, 4};
    cairo_set_source_rgb(cr, s->rgb[0], s->rgb[1], s->rgb[2]);
    cairo_set_line_width(cr, 2);
    cairo_set_dash(cr, dash, s->dashed ? 2 : 0, 0);
    bool pen = false;
    for (int i = 0; i < s->n && !s->no_line; i++) {
        if (!isfinite(s->y[i]) || (f->logy && s->y[i] <= 0)) {
            pen = false;
            continue;
        }
        if (pen)
            cairo_line_to(cr, chart_px(f, s->x[i]), chart_py(f, s->y[i]));
        else
            cairo_move_to(cr, chart_px(f, s->x[i]), chart_py(f, s->y[i]));
        pen = true;
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, dash, 0, 0);
    for (int i = 0; i < s->n && (s->dots || s->no_line); i++)
        if (isfinite(s->y[i]) && !(f->logy && s->y[i] <= 0)) {
            cairo_arc(cr, chart_px(f, s->x[i]), chart_py(f, s->y[i]), 3, 0, 2 * PI);
            cairo_fill(cr);
        }
}

static void legend_mark(cairo_t *cr, const struct chart_series *s, double x, double y);

static void legend(cairo_t *cr, const struct chart_frame *f, const struct chart *c,
                   const struct chart_series *s, int ns)
{
    int n = 0;
    double wmax = 0;
    cairo_set_font_size(cr, 12);
    for (int k = 0; k < ns; k++)
        if (s[k].label) {
            cairo_text_extents_t e;
            cairo_text_extents(cr, s[k].label, &e);
            wmax = fmax(wmax, e.x_advance);
            n++;
        }
    if (!n || c->legend_pos < 0)
        return;
    double bw = wmax + 52, bh = 20.0 * n + 8;
    double lx = (c->legend_pos & 2) ? f->x0 + 10 : f->x0 + f->w - bw - 10;
    double ly = (c->legend_pos & 1) ? f->y0 + f->h - bh - 10 : f->y0 + 10;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.88);
    cairo_rectangle(cr, lx, ly, bw, bh);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    double yy = ly + 14;
    for (int k = 0; k < ns; k++) {
        if (!s[k].label)
            continue;
        legend_mark(cr, &s[k], lx + 8, yy);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        chart_text(cr, lx + 46, yy, s[k].label, 0, 0.5);
        yy += 20;
    }
}

/* The sample of one series in a legend: a line, or a dot, at (x, y). */
static void legend_mark(cairo_t *cr, const struct chart_series *s, double x, double y)
{
    double dash[] = {7, 4};
    cairo_set_source_rgb(cr, s->rgb[0], s->rgb[1], s->rgb[2]);
    cairo_set_line_width(cr, 2);
    cairo_set_dash(cr, dash, s->dashed ? 2 : 0, 0);
    if (s->no_line) {
        cairo_arc(cr, x + 16, y, 3.5, 0, 2 * PI);
        cairo_fill(cr);
    } else {
        cairo_move_to(cr, x, y);
        cairo_line_to(cr, x + 32, y);
        cairo_stroke(cr);
    }
    cairo_set_dash(cr, dash, 0, 0);
}

void chart_legend_row(cairo_t *cr, double cx, double y, const struct chart_series *s, int ns)
{
    double total = 0, w[64];
    cairo_set_font_size(cr, 13);
    for (int k = 0; k < ns && k < 64; k++) {
        cairo_text_extents_t e;
        cairo_text_extents(cr, s[k].label ? s[k].label : "", &e);
        w[k] = s[k].label ? e.x_advance + 64 : 0;
        total += w[k];
    }
    double x = cx - total / 2;
    for (int k = 0; k < ns && k < 64; k++) {
        if (!s[k].label)
            continue;
        legend_mark(cr, &s[k], x, y);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        chart_text(cr, x + 38, y, s[k].label, 0, 0.5);
        x += w[k];
    }
}

void chart_lines(cairo_t *cr, const struct chart_frame *f, const struct chart *c,
                 const struct chart_series *s, int ns)
{
    cairo_save(cr);
    cairo_rectangle(cr, f->x0, f->y0, f->w, f->h);
    cairo_clip(cr);
    for (int k = 0; k < ns; k++)
        one_series(cr, f, &s[k]);
    cairo_restore(cr);
    legend(cr, f, c, s, ns);
}

void chart_draw(cairo_t *cr, double x, double y, double w, double h, const struct chart *c,
                const struct chart_series *s, int ns)
{
    struct chart_frame f = chart_axes(cr, x, y, w, h, c, s, ns);
    chart_lines(cr, &f, c, s, ns);
}

cairo_t *chart_begin(int w, int h)
{
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    cairo_t *cr = cairo_create(sf);
    cairo_surface_destroy(sf); /* cr holds its own reference */
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "chart: cannot create a %dx%d image\n", w, h);
        cairo_destroy(cr);
        return NULL;
    }
    cairo_set_source_rgb(cr, 0.97, 0.97, 0.97);
    cairo_paint(cr);
    cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    return cr;
}

int chart_save(cairo_t *cr, const char *path)
{
    cairo_status_t st = cairo_surface_write_to_png(cairo_get_target(cr), path);
    cairo_destroy(cr);
    if (st != CAIRO_STATUS_SUCCESS) {
        fprintf(stderr, "chart: cannot write %s: %s\n", path, cairo_status_to_string(st));
        return -1;
    }
    printf("wrote %s\n", path);
    return 0;
}
