/*
 * eval_report.c - what nn eval shows beyond loss and accuracy: for a
 * classifier, each class's accuracy (recall), the confusion matrix (as a
 * table, in --json, and drawn with cairo to a PNG) and the top-k accuracy;
 * for a regression model, R^2 next to MSE and MAE.
 */
#include "cli.h"

#include <cairo.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Predicts every sample of ds in batches of at most batch and gathers
 * its label or targets: the confusion matrix (k x k, rows true) and the
 * samples whose true class is among the top most likely, or the sums R^2
 * needs. */
bool cli_eval_report(nn_model *m, const nn_dataset *ds, int64_t batch, int64_t top,
                     struct cli_eval_report *r)
{
    memset(r, 0, sizeof *r);
    nn_loss_kind lk = nn_model_loss_kind(m);
    int64_t n = nn_dataset_size(ds), f = nn_model_inputs(m), k = nn_model_outputs(m);
    r->regression = lk == NN_LOSS_MSE;
    bool binary = lk == NN_LOSS_SIGMOID_BCE && k == 1;
    if (!r->regression && !(lk == NN_LOSS_SOFTMAX_CE || binary))
        return true; /* several sigmoid outputs: no single class per sample */
    r->k = r->regression ? k : binary ? 2 : k;
    r->top = top;
    r->n = n;
    float *x = malloc((size_t)(batch * f) * sizeof *x);
    float *p = malloc((size_t)(batch * k) * sizeof *p);
    float *t = malloc((size_t)(batch * k) * sizeof *t);
    int32_t *y = malloc((size_t)batch * sizeof *y);
    int64_t *idx = malloc((size_t)batch * sizeof *idx);
    double *sum = calloc((size_t)(2 * k), sizeof *sum); /* regression: sum t, sum t^2 */
    if (!r->regression)
        r->confusion = calloc((size_t)(r->k * r->k), sizeof *r->confusion);
    bool ok = x && p && t && y && idx && sum && (r->regression || r->confusion);
    if (!ok)
        cli_fail("eval", "out of memory for the confusion matrix of %lld classes", (long long)r->k);
    double sse = 0;
    for (int64_t i0 = 0; ok && i0 < n; i0 += batch) {
        int64_t b = n - i0 < batch ? n - i0 : batch;
        for (int64_t i = 0; i < b; i++)
            idx[i] = i0 + i;
        if (nn_dataset_gather(ds, idx, b, x, y, t) != NN_OK ||
            nn_model_predict(m, x, b, p) != NN_OK) {
            cli_fail("eval", "%s", nn_ctx_error(nn_graph_ctx(nn_model_graph(m))));
            ok = false;
            break;
        }
        for (int64_t i = 0; i < b; i++) {
            const float *q = p + i * k;
            if (r->regression) {
                for (int64_t j = 0; j < k; j++) {
                    double tv = t[i * k + j], d = q[j] - tv;
                    sse += d * d;
                    sum[j] += tv;
                    sum[k + j] += tv * tv;
                }
                continue;
            }
            int64_t truth = binary && nn_dataset_label_kind(ds) != NN_LABELS_CLASS
                                ? (int64_t)(t[i] > 0.5f)
                                : y[i];
            int64_t best = 0, above = 0;
            if (binary) {
                best = q[0] > 0.5f;
                above = best != truth; /* classes more likely than the true one */
            } else {
                for (int64_t j = 1; j < k; j++)
                    if (q[j] > q[best])
                        best = j;
                for (int64_t j = 0; j < k; j++)
                    above += q[j] > q[truth] || (q[j] == q[truth] && j < truth);
            }
            if (truth >= 0 && truth < r->k)
                r->confusion[truth * r->k + best]++;
            r->top_correct += above < top;
        }
    }
    if (ok && r->regression) {
        double sst = 0;
        for (int64_t j = 0; j < k; j++)
            sst += sum[k + j] - sum[j] * sum[j] / (double)n;
        r->r2 = sst > 0 ? 1 - sse / sst : NAN;
    }
    free(x);
    free(p);
    free(t);
    free(y);
    free(idx);
    free(sum);
    if (!ok)
        cli_eval_report_free(r);
    return ok;
}

void cli_eval_report_free(struct cli_eval_report *r)
{
    free(r->confusion);
    r->confusion = NULL;
}

/* Class c's name: the model's, else its index. */
static const char *class_name(const nn_model *m, int64_t c, char buf[24])
{
    const char *s = nn_model_class_name(m, c);
    if (s)
        return s;
    snprintf(buf, 24, "%lld", (long long)c);
    return buf;
}

static int64_t row_total(const struct cli_eval_report *r, int64_t c)
{
    int64_t s = 0;
    for (int64_t j = 0; j < r->k; j++)
        s += r->confusion[c * r->k + j];
    return s;
}

void cli_eval_report_print(const nn_model *m, const struct cli_eval_report *r, bool confusion)
{
    if (!r->confusion)
        return;
    char b1[24];
    if (r->top > 1)
        printf("top-%lld accuracy %.4f\n", (long long)r->top,
               r->n ? (double)r->top_correct / (double)r->n : 0.0);
    if (!confusion)
        return;
    int w = 6;
    for (int64_t c = 0; c < r->k; c++) {
        int len = (int)strlen(class_name(m, c, b1));
        w = len > w ? len : w;
    }
    w = w > 16 ? 16 : w;
    printf("confusion matrix (rows: true class, columns: predicted)\n%-*s", w + 2, "");
    for (int64_t c = 0; c < r->k; c++)
        printf(" %*.*s", w, w, class_name(m, c, b1));
    printf("  %8s\n", "accuracy");
    for (int64_t c = 0; c < r->k; c++) {
        printf("  %-*.*s", w, w, class_name(m, c, b1));
        for (int64_t j = 0; j < r->k; j++)
            printf(" %*lld", w, (long long)r->confusion[c * r->k + j]);
        int64_t tot = row_total(r, c);
        if (tot)
            printf("  %8.4f\n", (double)r->confusion[c * r->k + c] / (double)tot);
        else
            printf("  %8s\n", "-");
    }
}

void cli_eval_report_json(const nn_model *m, const struct cli_eval_report *r, bool confusion)
{
    if (!r->confusion)
        return;
    char b1[24];
    if (r->top > 1)
        printf(", \"top_k\": %lld, \"top_k_accuracy\": %.6f", (long long)r->top,
               r->n ? (double)r->top_correct / (double)r->n : 0.0);
    if (!confusion)
        return;
    printf(", \"classes\": [");
    for (int64_t c = 0; c < r->k; c++) {
        const char *s = class_name(m, c, b1);
        printf("%s\"", c ? ", " : "");
        for (; *s; s++) { /* class names are plain text; escape what JSON needs */
            if (*s == '"' || *s == '\\')
                putchar('\\');
            putchar((unsigned char)*s < 32 ? '?' : *s);
        }
        printf("\"");
    }
    printf("], \"per_class_accuracy\": [");
    for (int64_t c = 0; c < r->k; c++) {
        int64_t tot = row_total(r, c);
        if (tot)
            printf("%s%.6f", c ? ", " : "", (double)r->confusion[c * r->k + c] / (double)tot);
        else
            printf("%snull", c ? ", " : "");
    }
    printf("], \"confusion\": [");
    for (int64_t c = 0; c < r->k; c++) {
        printf("%s[", c ? ", " : "");
        for (int64_t j = 0; j < r->k; j++)
            printf("%s%lld", j ? ", " : "", (long long)r->confusion[c * r->k + j]);
        printf("]");
    }
    printf("]");
}

bool cli_plot_confusion(const nn_model *m, const struct cli_eval_report *r, const char *path,
                        const char *title)
{
    if (!r->confusion) {
        cli_fail("eval", "--plot %s: draws a classifier's confusion matrix; this model %s",
                 path, r->regression ? "is a regression model" : "has no single class per sample");
        return false;
    }
    int64_t k = r->k;
    double cell = k <= 10 ? 56 : k <= 30 ? 24 : 12, left = 170, top = 130;
    int width = (int)(left + k * cell + 60), height = (int)(top + k * cell + 60);
    width = width < 480 ? 480 : width;
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cairo_t *cr = cairo_create(s);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 15);
    cli_plot_text(cr, width / 2.0, 24, title, 0.5, 0.5);
    cairo_set_font_size(cr, 12);
    cli_plot_text(cr, left + k * cell / 2, 52, "predicted class", 0.5, 0.5);
    char b1[24], num[32];
    for (int64_t c = 0; c < k; c++) {
        int64_t tot = row_total(r, c);
        for (int64_t j = 0; j < k; j++) {
            int64_t v = r->confusion[c * k + j];
            /* shade: the row's fraction, blue on the diagonal, red off it */
            double fr = tot ? (double)v / (double)tot : 0;
            if (c == j)
                cairo_set_source_rgb(cr, 1 - 0.8 * fr, 1 - 0.55 * fr, 1 - 0.1 * fr);
            else
                cairo_set_source_rgb(cr, 1 - 0.1 * fr, 1 - 0.75 * fr, 1 - 0.75 * fr);
            cairo_rectangle(cr, left + j * cell, top + c * cell, cell, cell);
            cairo_fill(cr);
            if (cell >= 24) {
                cairo_set_source_rgb(cr, fr > 0.6 ? 1 : 0, fr > 0.6 ? 1 : 0, fr > 0.6 ? 1 : 0);
                snprintf(num, sizeof num, "%lld", (long long)v);
                cli_plot_text(cr, left + (j + 0.5) * cell, top + (c + 0.5) * cell, num, 0.5, 0.5);
            }
        }
        cairo_set_source_rgb(cr, 0, 0, 0);
        snprintf(num, sizeof num, "%.0f%%", tot ? 100.0 * (double)r->confusion[c * k + c] / (double)tot : 0);
        char label[64];
        snprintf(label, sizeof label, "%.16s (%s)", class_name(m, c, b1), num);
        cli_plot_text(cr, left - 8, top + (c + 0.5) * cell, label, 1, 0.5);
        cairo_save(cr);
        cairo_move_to(cr, left + (c + 0.5) * cell, top - 8);
        cairo_rotate(cr, -3.14159265358979 / 4);
        cairo_show_text(cr, class_name(m, c, b1));
        cairo_restore(cr);
    }
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 1);
    cairo_rectangle(cr, left, top, k * cell, k * cell);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_save(cr);
    cairo_move_to(cr, 16, top + k * cell / 2 + 30);
    cairo_rotate(cr, -3.14159265358979 / 2);
    cairo_show_text(cr, "true class (accuracy)");
    cairo_restore(cr);
    int64_t diag = 0;
    for (int64_t c = 0; c < k; c++)
        diag += r->confusion[c * k + c];
    snprintf(num, sizeof num, "%.4f", r->n ? (double)diag / (double)r->n : 0.0);
    char foot[160];
    snprintf(foot, sizeof foot, "accuracy %s over %lld samples", num, (long long)r->n);
    cli_plot_text(cr, left + k * cell / 2, top + k * cell + 30, foot, 0.5, 0.5);
    cairo_destroy(cr);
    cairo_status_t st = cairo_surface_write_to_png(s, path);
    cairo_surface_destroy(s);
    if (st != CAIRO_STATUS_SUCCESS) {
        cli_fail("eval", "cannot write --plot %s: %s", path, cairo_status_to_string(st));
        return false;
    }
    return true;
}
