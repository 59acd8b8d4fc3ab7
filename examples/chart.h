/*
 * chart.h - the small cairo line-chart helper the examples share: a panel
 * with a title, axis labels, ticks, grid lines, an optional logarithmic y
 * axis and a legend, with lines, dashed lines or dots per series.
 */
#ifndef EXAMPLES_CHART_H
#define EXAMPLES_CHART_H

#include <cairo.h>
#include <stdbool.h>

struct chart_series {
    const double *x, *y; /* (n); non-finite y values are skipped */
    int n;
    const char *label;   /* in the legend; NULL: not listed */
    double rgb[3];
    bool dashed;
    bool dots;           /* a dot at every point */
    bool no_line;        /* dots only */
};

struct chart {
    const char *title, *xlabel, *ylabel;
    bool logy;
    bool fix_x, fix_y;   /* use the ranges below instead of the data's */
    double xmin, xmax, ymin, ymax;
    int legend_pos;      /* 0 top right, 1 bottom right, 2 top left, 3 bottom left,
                            -1 none (see chart_legend_row) */
    bool int_x;          /* x ticks at whole numbers only (epochs, layers) */
};

/* The plot area of a drawn panel and its data ranges, to draw more on it. */
struct chart_frame {
    double x0, y0, w, h;
    double xmin, xmax, ymin, ymax; /* ymin/ymax in log10 units when logy */
    bool logy;
};

/* A palette of distinguishable colours, index modulo its size. */
void chart_color(int i, double rgb[3]);
/* Draws the panel's frame (background, grid, ticks, labels, title) into the
 * rectangle (x, y, w, h) of cr, with the ranges from the series unless
 * fixed; returns the frame. */
struct chart_frame chart_axes(cairo_t *cr, double x, double y, double w, double h,
                              const struct chart *c, const struct chart_series *s, int ns);
/* Draws the series on a frame, then the legend. */
void chart_lines(cairo_t *cr, const struct chart_frame *f, const struct chart *c,
                 const struct chart_series *s, int ns);
/* chart_axes then chart_lines. */
void chart_draw(cairo_t *cr, double x, double y, double w, double h, const struct chart *c,
                const struct chart_series *s, int ns);
/* A one-row legend of the labelled series, centred at (cx, y). */
void chart_legend_row(cairo_t *cr, double cx, double y, const struct chart_series *s, int ns);
/* Pixel coordinates of a data point on a frame. */
double chart_px(const struct chart_frame *f, double x);
double chart_py(const struct chart_frame *f, double y);
/* Text at (x, y) anchored by (ax, ay) in [0, 1] of its extent. */
void chart_text(cairo_t *cr, double x, double y, const char *s, double ax, double ay);
/* A white image surface of w x h pixels with a cairo context on it and the
 * examples' font; chart_save writes it as PNG and frees both (0 or -1,
 * with a message on stderr). */
cairo_t *chart_begin(int w, int h);
int chart_save(cairo_t *cr, const char *path);

#endif
