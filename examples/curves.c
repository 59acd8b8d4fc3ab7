/*
 * curves.c - the training accuracy per epoch of several `nn train --log`
 * CSV files in one chart, each with its held-out accuracy as a dashed
 * line of the same colour (the "is there a ball?" example's comparison).
 *
 *   curves OUT.png TITLE LABEL FILE.csv TEST_ACC [LABEL FILE.csv TEST_ACC ...]
 */
#include "chart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXS 6
#define MAXE 500

/* The accuracy column (the third) of an nn train log; epochs read or -1. */
static int read_log(const char *path, double *acc)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        return -1;
    }
    char line[512];
    int n = 0;
    if (!fgets(line, sizeof line, f) || strncmp(line, "epoch,loss,accuracy", 19)) {
        fprintf(stderr, "curves: %s is not an nn train --log file\n", path);
        fclose(f);
        return -1;
    }
    while (n < MAXE && fgets(line, sizeof line, f)) {
        double e, l, a;
        if (sscanf(line, "%lf,%lf,%lf", &e, &l, &a) != 3)
            break;
        acc[n++] = a;
    }
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 6 || (argc - 3) % 3 || (argc - 3) / 3 > MAXS) {
        fprintf(stderr, "usage: curves OUT.png TITLE LABEL FILE.csv TEST_ACC ... (at most %d)\n",
                MAXS);
        return 2;
    }
    int ns = (argc - 3) / 3;
    static double acc[MAXS][MAXE], ep[MAXE], test[MAXS][MAXE];
    struct chart_series s[2 * MAXS];
    char labels[MAXS][160];
    int emax = 1;
    for (int i = 0; i < MAXE; i++)
        ep[i] = i + 1;
    for (int k = 0; k < ns; k++) {
        int n = read_log(argv[4 + 3 * k], acc[k]);
        double t = strtod(argv[5 + 3 * k], NULL);
        if (n <= 0)
            return 1;
        emax = n > emax ? n : emax;
        for (int i = 0; i < MAXE; i++)
            test[k][i] = t;
        snprintf(labels[k], sizeof labels[k], "%s (held-out %.3f: dashed)", argv[3 + 3 * k], t);
        s[2 * k] = (struct chart_series){ep, acc[k], n, labels[k], {0, 0, 0}, false, true, false};
        chart_color(k, s[2 * k].rgb);
        s[2 * k + 1] = (struct chart_series){ep, test[k], MAXE, NULL, {0, 0, 0}, true, false, false};
        chart_color(k, s[2 * k + 1].rgb);
    }
    cairo_t *cr = chart_begin(1000, 560);
    if (!cr)
        return 1;
    struct chart c = {.title = argv[2], .xlabel = "epoch", .ylabel = "accuracy",
                      .fix_x = true, .xmin = 1, .xmax = emax, .fix_y = true, .ymin = 0.4,
                      .ymax = 1.0, .legend_pos = 3, .int_x = true};
    chart_draw(cr, 0, 0, 1000, 560, &c, s, 2 * ns);
    return chart_save(cr, argv[1]) ? 1 : 0;
}
