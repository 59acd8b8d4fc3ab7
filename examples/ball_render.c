/*
 * ball_render.c - the "Is there a ball?" data set of the lectures, which
 * ships nowhere, rendered with cairo: 64x64 RGB PNG images of textured
 * backgrounds (stripes, checks, gradients, noise, in random colours), half
 * of them with a disc of random radius, colour and position on top. Writes
 *   OUTDIR/train/{background,ball}/NNNNN.png   (NTRAIN images)
 *   OUTDIR/test/{background,ball}/NNNNN.png    (NTEST images)
 * and SHEET.png, a labelled sheet of samples,
 * for `nn train --data OUTDIR/train --test OUTDIR/test` (class 0 background,
 * class 1 ball, by the folders' sorted names). Deterministic for a seed.
 *
 *   ball_render OUTDIR NTRAIN NTEST SHEET.png [SEED]
 */
#include "chart.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define S 64
#define PI 3.14159265358979323846

static uint64_t rng_state;

static double uniform(void) /* [0, 1) by xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static void random_rgb(double c[3])
{
    for (int k = 0; k < 3; k++)
        c[k] = uniform();
}

/* A textured background: one of stripes, checks, a gradient or blotches,
 * then pixel noise. */
static void background(cairo_t *cr)
{
    double a[3], b[3];
    random_rgb(a);
    random_rgb(b);
    int kind = (int)(uniform() * 4);
    double period = 4 + uniform() * 12, angle = uniform() * PI;
    cairo_set_source_rgb(cr, a[0], a[1], a[2]);
    cairo_paint(cr);
    cairo_set_source_rgb(cr, b[0], b[1], b[2]);
    if (kind == 0 || kind == 1) { /* stripes at an angle, or checks */
        cairo_save(cr);
        cairo_translate(cr, S / 2.0, S / 2.0);
        cairo_rotate(cr, angle);
        for (double x = -S; x < S; x += 2 * period)
            for (double y = -S; y < S; y += kind ? 2 * period : 2.0 * S) {
                cairo_rectangle(cr, x, y, period, kind ? period : 2.0 * S);
                if (kind)
                    cairo_rectangle(cr, x + period, y + period, period, period);
            }
        cairo_fill(cr);
        cairo_restore(cr);
    } else if (kind == 2) { /* a linear gradient */
        cairo_pattern_t *p = cairo_pattern_create_linear(0, uniform() * S, S, uniform() * S);
        cairo_pattern_add_color_stop_rgb(p, 0, a[0], a[1], a[2]);
        cairo_pattern_add_color_stop_rgb(p, 1, b[0], b[1], b[2]);
        cairo_set_source(cr, p);
        cairo_paint(cr);
        cairo_pattern_destroy(p);
    } else { /* blotches: squares and lines, never round */
        for (int i = 0; i < 12; i++) {
            cairo_set_source_rgba(cr, b[0], b[1], b[2], 0.3 + 0.5 * uniform());
            cairo_rectangle(cr, uniform() * S, uniform() * S, 3 + uniform() * 12, 3 + uniform() * 12);
            cairo_fill(cr);
        }
    }
}

/* Uniform noise of amplitude amp on every channel. */
static void noise(cairo_surface_t *sf, double amp)
{
    cairo_surface_flush(sf);
    unsigned char *d = cairo_image_surface_get_data(sf);
    int stride = cairo_image_surface_get_stride(sf);
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            for (int k = 0; k < 3; k++) {
                unsigned char *p = d + y * stride + 4 * x + k;
                double v = *p + (uniform() - 0.5) * 2 * amp;
                *p = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    cairo_surface_mark_dirty(sf);
}

/* A disc of radius 5..18 px, wholly or mostly inside, lightly shaded. */
static void ball(cairo_t *cr)
{
    double r = 5 + uniform() * 13, cx = r * 0.6 + uniform() * (S - 1.2 * r),
           cy = r * 0.6 + uniform() * (S - 1.2 * r), c[3];
    random_rgb(c);
    cairo_pattern_t *p = cairo_pattern_create_radial(cx - r / 3, cy - r / 3, r / 8, cx, cy, r);
    cairo_pattern_add_color_stop_rgb(p, 0, fmin(1, c[0] + 0.3), fmin(1, c[1] + 0.3),
                                     fmin(1, c[2] + 0.3));
    cairo_pattern_add_color_stop_rgb(p, 1, c[0] * 0.7, c[1] * 0.7, c[2] * 0.7);
    cairo_set_source(cr, p);
    cairo_arc(cr, cx, cy, r, 0, 2 * PI);
    cairo_fill(cr);
    cairo_pattern_destroy(p);
}

static cairo_surface_t *render(bool with_ball)
{
    cairo_surface_t *sf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, S, S);
    cairo_t *cr = cairo_create(sf);
    background(cr);
    if (with_ball)
        ball(cr);
    cairo_destroy(cr);
    noise(sf, 20);
    return sf;
}

static int mkdir_p(const char *path)
{
    if (mkdir(path, 0777) && errno != EEXIST) {
        fprintf(stderr, "ball_render: cannot create %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* n images, alternately background and ball, into dir/split/CLASS/. */
static int write_split(const char *dir, const char *split, int n)
{
    static const char *cls[2] = {"background", "ball"};
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, split);
    if (mkdir_p(dir) || mkdir_p(path))
        return -1;
    for (int c = 0; c < 2; c++) {
        snprintf(path, sizeof path, "%s/%s/%s", dir, split, cls[c]);
        if (mkdir_p(path))
            return -1;
    }
    for (int i = 0; i < n; i++) {
        cairo_surface_t *sf = render(i % 2);
        snprintf(path, sizeof path, "%s/%s/%s/%05d.png", dir, split, cls[i % 2], i / 2);
        cairo_status_t st = cairo_surface_write_to_png(sf, path);
        cairo_surface_destroy(sf);
        if (st != CAIRO_STATUS_SUCCESS) {
            fprintf(stderr, "ball_render: cannot write %s: %s\n", path, cairo_status_to_string(st));
            return -1;
        }
    }
    return 0;
}

/* A sheet of 8 x 3 samples, each scaled up 2x, labelled. */
static int sample_sheet(const char *path)
{
    cairo_t *cr = chart_begin(8 * 140 + 20, 3 * 160 + 60);
    if (!cr)
        return -1;
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_set_font_size(cr, 16);
    chart_text(cr, (8 * 140 + 20) / 2.0, 12,
               "\"Is there a ball?\": rendered 64x64 samples (shown at 2x), with their labels", 0.5, 0);
    cairo_set_font_size(cr, 13);
    for (int i = 0; i < 24; i++) {
        double x = 20 + (i % 8) * 140, y = 50 + (i / 8) * 160;
        cairo_surface_t *sf = render(i % 3 != 0);
        cairo_save(cr);
        cairo_translate(cr, x, y);
        cairo_scale(cr, 2, 2);
        cairo_set_source_surface(cr, sf, 0, 0);
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
        cairo_paint(cr);
        cairo_restore(cr);
        cairo_surface_destroy(sf);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        chart_text(cr, x + 64, y + 134, i % 3 != 0 ? "ball" : "background", 0.5, 0);
    }
    return chart_save(cr, path);
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: ball_render OUTDIR NTRAIN NTEST SHEET.png [SEED]\n");
        return 2;
    }
    int ntrain = atoi(argv[2]), ntest = atoi(argv[3]);
    if (ntrain < 2 || ntest < 2) {
        fprintf(stderr, "ball_render: NTRAIN and NTEST must be at least 2, not %s and %s\n",
                argv[2], argv[3]);
        return 2;
    }
    rng_state = 0x9E3779B97F4A7C15ULL ^ (argc > 5 ? strtoull(argv[5], NULL, 10) : 1);
    if (write_split(argv[1], "train", ntrain) || write_split(argv[1], "test", ntest) ||
        sample_sheet(argv[4]))
        return 1;
    printf("ball_render: %d training and %d test images (half with a ball) in %s\n", ntrain, ntest,
           argv[1]);
    return 0;
}
