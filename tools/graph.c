/*
 * graph.c - `nn graph`: a model's computation graph (from a checkpoint or
 * a spec) as Graphviz DOT (nn_graph_dot), optionally with every node's
 * value for one input and its gradient after a backward pass from the
 * loss, drawn to PNG or SVG through Graphviz's library (libgvc), which is
 * linked into the command-line program only.
 */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <gvc.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

bool cli_image_opts(const struct opts *o, struct nn_image_opts *io);

#define MAX_TOKENS 100000

/* ---- reading files and rows --------------------------------------------- */

static char *read_text(const char *file, const char *what)
{
    FILE *f = fopen(file, "rb");
    if (!f) {
        cli_fail("graph", "cannot read %s %s: %s", what, file, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *s = malloc(cap);
    while (s) {
        len += fread(s + len, 1, cap - 1 - len, f);
        if (len < cap - 1)
            break;
        char *t = cap < ((size_t)1 << 30) ? realloc(s, cap *= 2) : NULL;
        if (!t)
            free(s);
        s = t;
    }
    bool err = ferror(f);
    fclose(f);
    if (!s || err) {
        free(s);
        cli_fail("graph", "cannot read %s %s: %s", what, file, s ? "read error" : "too large");
        return NULL;
    }
    s[len] = '\0';
    return s;
}

static bool has_ext(const char *file, const char *const *exts, int n)
{
    const char *dot = strrchr(file, '.');
    for (int i = 0; dot && i < n; i++)
        if (strcasecmp(dot + 1, exts[i]) == 0)
            return true;
    return false;
}

static bool is_file(const char *file)
{
    struct stat sb;
    return stat(file, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* A DOT file: named .dot or .gv, or starting with a graph keyword. */
static bool is_dot_file(const char *file)
{
    static const char *const exts[] = {"dot", "gv"};
    if (has_ext(file, exts, 2))
        return true;
    FILE *f = fopen(file, "rb");
    char head[16] = "";
    if (f) {
        size_t n = fread(head, 1, sizeof head - 1, f);
        head[n] = '\0';
        fclose(f);
    }
    return strncmp(head, "digraph", 7) == 0 || strncmp(head, "strict", 6) == 0;
}

/* Splits s in place at commas and blanks into tok[0..*n). */
static bool split(char *s, char **tok, int *n)
{
    *n = 0;
    for (char *p = s; *p;) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        if (*n == MAX_TOKENS)
            return false;
        tok[(*n)++] = p;
        while (*p && *p != ',' && !isspace((unsigned char)*p))
            p++;
        if (*p)
            *p++ = '\0';
    }
    return true;
}

static bool number(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && !*end && !errno && isfinite(*v);
}

/* The input of --values: the tokens of one row, the recorded label
 * column when the row came from a CSV file with a header (else -1), and
 * an image path instead when it names an image. */
struct row {
    char *mem;
    char **tok;
    int n;
    int label_col;
    const char *image;
};

/* Reads --values: a literal row, a CSV file's first data row (after a
 * header of names, if any) or an image file. */
static bool read_row(const char *in, const char *label_name, struct row *r)
{
    static const char *const images[] = {"png", "jpg", "jpeg", "bmp", "gif", "pgm", "ppm", "pnm"};
    memset(r, 0, sizeof *r);
    r->label_col = -1;
    if (is_file(in) && has_ext(in, images, 8)) {
        r->image = in;
        return true;
    }
    r->tok = malloc(MAX_TOKENS * sizeof *r->tok);
    if (!r->tok)
        return cli_fail("graph", "out of memory"), false;
    if (!is_file(in)) {
        /* a literal row, unless it looks like a file name */
        double v;
        if (!(r->mem = strdup(in)) || !split(r->mem, r->tok, &r->n))
            return cli_fail("graph", "--values: too many values"), false;
        int numeric = 0;
        for (int i = 0; i < r->n; i++)
            numeric += number(r->tok[i], &v);
        if (numeric > 0 && numeric >= r->n - 1)
            return true;
        cli_fail("graph", "--values: '%s' is neither a row of numbers nor a file that can be "
                 "read: %s", in, strerror(ENOENT));
        return false;
    }
    if (!(r->mem = read_text(in, "--values file")))
        return false;
    char *line = r->mem, *next;
    bool header_seen = false;
    for (; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        if (!split(line, r->tok, &r->n))
            return cli_fail("graph", "--values: %s: too many values in a row", in), false;
        if (r->n == 0)
            continue;
        double v;
        int numeric = 0;
        for (int i = 0; i < r->n; i++)
            numeric += number(r->tok[i], &v);
        if (numeric > 0 || header_seen)
            return true;
        header_seen = true; /* names only: a header; find the label column in it */
        for (int i = 0; label_name && i < r->n; i++)
            if (strcmp(r->tok[i], label_name) == 0)
                r->label_col = i;
    }
    cli_fail("graph", "--values: %s holds no row of values", in);
    return false;
}

static void row_free(struct row *r)
{
    free(r->mem);
    free(r->tok);
}

/* ---- the label for the backward pass ------------------------------------ */

/* A class given as an index in [0, classes) or by name. */
static bool parse_class(const nn_model *m, int64_t classes, const char *s, int32_t *out)
{
    char *end;
    long long k = strtoll(s, &end, 10);
    if (end != s && !*end && k >= 0 && k < classes) {
        *out = (int32_t)k;
        return true;
    }
    for (int64_t i = 0; i < classes; i++) {
        const char *name = nn_model_class_name(m, i);
        if (name && strcmp(name, s) == 0) {
            *out = (int32_t)i;
            return true;
        }
    }
    cli_fail("graph", "the label '%s' is not one of the model's %lld classes (0 to %lld%s)", s,
             (long long)classes, (long long)classes - 1,
             nn_model_class_name(m, 0) ? ", or their names" : "");
    return false;
}

/* How many label values the model's loss takes per sample: one class
 * (cross-entropy, or one sigmoid output), else one target per output. */
static int64_t label_width(const nn_model *m)
{
    nn_loss_kind lk = nn_model_loss_kind(m);
    if (lk == NN_LOSS_SOFTMAX_CE || (lk == NN_LOSS_SIGMOID_BCE && nn_model_outputs(m) == 1))
        return 1;
    return nn_model_outputs(m);
}

/* The label from text tokens tok[0..n) into *cls or t[0..outputs). */
static bool parse_label(const nn_model *m, char **tok, int n, int32_t *cls, float *t)
{
    nn_loss_kind lk = nn_model_loss_kind(m);
    int64_t k = nn_model_outputs(m);
    if (lk == NN_LOSS_SOFTMAX_CE || (lk == NN_LOSS_SIGMOID_BCE && k == 1)) { /* one class */
        int32_t c = 0;
        if (n != 1)
            return cli_fail("graph", "the label is one class, not %d values", n), false;
        if (!parse_class(m, lk == NN_LOSS_SOFTMAX_CE ? k : 2, tok[0], &c))
            return false;
        if (lk == NN_LOSS_SOFTMAX_CE)
            *cls = c;
        else
            t[0] = (float)c; /* a one-output sigmoid's target */
        return true;
    }
    if (n != k)
        return cli_fail("graph", "the model's loss takes %lld targets, the label has %d",
                        (long long)k, n), false;
    for (int i = 0; i < n; i++) {
        double v;
        if (!number(tok[i], &v))
            return cli_fail("graph", "target %d is '%s', not a number", i + 1, tok[i]), false;
        t[i] = (float)v;
    }
    return true;
}

/* ---- values ------------------------------------------------------------- */

/* The input row x (inputs) in the model's input space, and the label
 * tokens of the row (*lab, *nlab) if it has them. */
static bool row_input(nn_ctx *ctx, const struct opts *o, const nn_model *m, struct row *r,
                      float *x, char ***lab, int *nlab)
{
    int64_t f = nn_model_inputs(m), lw = label_width(m);
    *lab = NULL;
    *nlab = 0;
    if (r->image) {
        struct nn_image_opts io;
        if (!cli_image_opts(o, &io))
            return false;
        int64_t dims[3];
        float *px = nn_image_load_file(ctx, r->image, &io, dims);
        if (!px)
            return cli_fail("graph", "%s", nn_ctx_error(ctx)), false;
        int64_t got = dims[0] * dims[1] * dims[2];
        if (got != f) {
            cli_fail("graph", "--values: %s holds %lldx%lldx%lld = %lld values but the model "
                     "takes %lld inputs", r->image, (long long)dims[2], (long long)dims[1],
                     (long long)dims[0], (long long)got, (long long)f);
            free(px);
            return false;
        }
        struct nn_norm_stats ns;
        memcpy(x, px, (size_t)f * sizeof *x);
        free(px);
        if (nn_model_norm(m, &ns))
            nn_model_normalize(m, x, 1);
        else
            for (int64_t i = 0; i < f; i++) /* pixels in [0, 1], as the image loaders give */
                x[i] /= 255.0f;
        return true;
    }
    /* the label: the recorded column of a CSV header, else the last lw tokens */
    int n = r->n, lc = r->label_col;
    if (lc >= 0 && n == f + 1) {
        char *t = r->tok[lc];
        memmove(r->tok + lc, r->tok + lc + 1, (size_t)(n - lc - 1) * sizeof *r->tok);
        r->tok[n - 1] = t;
        *lab = r->tok + n - 1;
        *nlab = 1;
    } else if (n == f + lw) {
        *lab = r->tok + f;
        *nlab = (int)lw;
    } else if (n != f) {
        cli_fail("graph", "--values has %d values but the model takes %lld inputs (or %lld "
                 "with the label)", n, (long long)f, (long long)(f + lw));
        return false;
    }
    for (int64_t i = 0; i < f; i++) {
        double v;
        if (!number(r->tok[i], &v))
            return cli_fail("graph", "--values: value %lld is '%s', not a number",
                            (long long)i + 1, r->tok[i]), false;
        x[i] = (float)v;
    }
    nn_model_normalize(m, x, 1); /* raw units, as in the training data */
    return true;
}

/* Runs the model forward on x and backward from its loss for the label
 * (given, or the predicted class); writes what the label was into why. */
static bool run_values(nn_ctx *ctx, const struct opts *o, nn_model *m, const float *x,
                       char **lab, int nlab, char *why, size_t whylen)
{
    nn_loss_kind lk = nn_model_loss_kind(m);
    int64_t k = nn_model_outputs(m);
    int32_t cls = 0;
    float *t = calloc((size_t)k + 1, sizeof *t), *p = calloc((size_t)k + 1, sizeof *p);
    char *mem = NULL, **tok = NULL;
    bool ok = false;
    if (!t || !p)
        goto done;
    const char *source = "given in the row";
    if (o->label_value) {
        int n = 0;
        tok = malloc(MAX_TOKENS * sizeof *tok);
        if (!tok || !(mem = strdup(o->label_value)) || !split(mem, tok, &n)) {
            cli_fail("graph", "--label-value: out of memory or too many values");
            goto done;
        }
        if (!parse_label(m, tok, n, &cls, t))
            goto done;
        source = "from --label-value";
    } else if (nlab) {
        if (!parse_label(m, lab, nlab, &cls, t))
            goto done;
    } else if (lk == NN_LOSS_MSE) {
        cli_fail("graph", "--values on a regression model needs the targets of the backward "
                 "pass: add them to the row or give --label-value");
        goto done;
    } else { /* a classifier: the class it predicts */
        if (nn_model_predict(m, x, 1, p) != NN_OK)
            goto fail;
        if (lk == NN_LOSS_SOFTMAX_CE) {
            for (int64_t j = 1; j < k; j++)
                cls = p[j] > p[cls] ? (int32_t)j : cls;
        } else {
            for (int64_t j = 0; j < k; j++)
                t[j] = p[j] > 0.5f;
        }
        source = "the class predicted (--label-value sets another)";
    }
    nn_graph *g = nn_model_graph(m);
    if (nn_feed(g, nn_model_input(m), x, 1) != NN_OK)
        goto fail;
    if (lk == NN_LOSS_SOFTMAX_CE ? nn_feed_labels(g, nn_model_target(m), &cls, 1) != NN_OK
                                 : nn_feed(g, nn_model_target(m), t, 1) != NN_OK)
        goto fail;
    nn_graph_set_training(g, false);
    if (nn_forward(g) != NN_OK)
        goto fail;
    nn_zero_grad(g);
    if (nn_backward(g, nn_model_loss(m)) != NN_OK)
        goto fail;
    if (lk == NN_LOSS_SOFTMAX_CE || (lk == NN_LOSS_SIGMOID_BCE && k == 1)) {
        int32_t c = lk == NN_LOSS_SOFTMAX_CE ? cls : (int32_t)t[0];
        const char *name = nn_model_class_name(m, c);
        snprintf(why, whylen, "label %d%s%s%s, %s", c, name ? " (" : "", name ? name : "",
                 name ? ")" : "", source);
    } else {
        snprintf(why, whylen, "targets %s", source);
    }
    ok = true;
    goto done;
fail:
    cli_fail("graph", "%s", nn_ctx_error(ctx));
done:
    if (!t || !p)
        cli_fail("graph", "out of memory");
    free(t);
    free(p);
    free(mem);
    free(tok);
    return ok;
}

/* ---- rendering ---------------------------------------------------------- */

static char gv_err[1024];

/* Graphviz's messages, kept for ours instead of printed. */
static int gv_error(char *msg)
{
    size_t len = strlen(gv_err);
    snprintf(gv_err + len, sizeof gv_err - len, "%s", msg);
    return 0;
}

/* gv_err without its "Error: " prefix and trailing newline. */
static const char *gv_message(void)
{
    size_t n = strlen(gv_err);
    while (n && (gv_err[n - 1] == '\n' || gv_err[n - 1] == ' '))
        gv_err[--n] = '\0';
    return strncmp(gv_err, "Error: ", 7) == 0 ? gv_err + 7 : n ? gv_err : "unknown error";
}

/* Lays out the DOT text and writes it to file in format (png, svg). */
static bool render(GVC_t *gvc, const char *dot, const char *format, const char *file,
                   const char *source)
{
    gv_err[0] = '\0';
    agseterrf(gv_error);
    Agraph_t *gr = agmemread(dot);
    if (!gr)
        return cli_fail("graph", "%s is not a graph Graphviz can read: %s", source,
                        gv_message()), false;
    char *data = NULL;
    unsigned int len = 0;
    bool ok = false;
    if (gvLayout(gvc, gr, "dot") != 0) {
        cli_fail("graph", "Graphviz cannot lay out %s: %s", source, gv_message());
    } else if (gvRenderData(gvc, gr, format, &data, &len) != 0 || !data) {
        cli_fail("graph", "Graphviz cannot draw %s as %s: %s", source, format, gv_message());
    } else {
        FILE *f = fopen(file, "wb");
        if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
            cli_fail("graph", "cannot write %s: %s", file, strerror(errno));
            if (f)
                fclose(f);
        } else {
            ok = true;
        }
    }
    gvFreeRenderData(data);
    gvFreeLayout(gvc, gr);
    agclose(gr);
    return ok;
}

/* ---- the command -------------------------------------------------------- */

/* The model to draw: a checkpoint (with what it records), or a spec. */
static nn_model *open_model(nn_ctx *ctx, const char *what, struct cli_recorded *rec)
{
    nn_model *m;
    if (is_file(what)) {
        m = nn_model_load(ctx, what, &(struct nn_model_cfg){.max_batch = 1});
        if (m && !cli_recorded_open(ctx, "graph", what, rec)) {
            nn_model_free(m);
            return NULL;
        }
    } else if (isdigit((unsigned char)what[0])) {
        m = nn_model_new(ctx, what, &(struct nn_model_cfg){.max_batch = 1});
    } else {
        cli_fail("graph", "cannot read %s: %s (a model spec starts with its input size, e.g. "
                 "\"4 dense:8 relu dense:3\")", what, strerror(ENOENT));
        return NULL;
    }
    if (!m)
        cli_fail("graph", "%s", nn_ctx_error(ctx));
    return m;
}

/* The DOT text of the model, with values when asked; NULL after an error. */
static char *model_dot(nn_ctx *ctx, struct opts *o, const char *what)
{
    struct cli_recorded rec = {0};
    nn_model *m = open_model(ctx, what, &rec);
    char *dot = NULL, why[256] = "";
    float *x = NULL;
    struct row r = {0};
    if (!m)
        goto done;
    if (rec.ck)
        cli_recorded_defaults(o, &rec); /* the image size it was trained at */
    const char *spec = nn_model_spec(m);
    char title[1400];
    if (o->values) {
        char **lab;
        int nlab;
        x = malloc((size_t)nn_model_inputs(m) * sizeof *x);
        if (!x) {
            cli_fail("graph", "out of memory");
            goto done;
        }
        if (!read_row(o->values, rec.label, &r) || !row_input(ctx, o, m, &r, x, &lab, &nlab) ||
            !run_values(ctx, o, m, x, lab, nlab, why, sizeof why))
            goto done;
    }
    snprintf(title, sizeof title, "%s%s%s", spec, o->values ? "\nloss for " : "", why);
    dot = nn_graph_dot(nn_model_graph(m),
                       &(struct nn_dot_cfg){.values = o->values, .grads = o->values,
                                            .title = title, .from = nn_model_loss(m)});
    if (!dot)
        cli_fail("graph", "%s", nn_ctx_error(ctx));
done:
    row_free(&r);
    free(x);
    cli_recorded_close(&rec);
    nn_model_free(m);
    return dot;
}

int cmd_graph(int argc, char **argv)
{
    struct opts o = {.seed = 1};
    const char *what;
    if (!cli_parse(CMD_GRAPH, argc, argv, &o, &what))
        return 2;
    if (!what)
        return cli_fail("graph", "give a checkpoint, a model spec or a DOT file, e.g. nn graph "
                        "model.safetensors --png graph.png"), 2;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = o.seed, .threads = 1});
    if (!ctx)
        return 1;
    char *dot = NULL;
    int rc = 1;
    if (is_file(what) && is_dot_file(what)) {
        if (o.values || o.label_value) {
            cli_fail("graph", "--values needs a model, not the DOT file %s", what);
            goto done;
        }
        dot = read_text(what, "DOT file");
    } else {
        if (o.label_value && !o.values) {
            cli_fail("graph", "--label-value goes with --values");
            goto done;
        }
        dot = model_dot(ctx, &o, what);
    }
    if (!dot)
        goto done;
    if (o.dot || (!o.png && !o.svg))
        fputs(dot, stdout);
    if (o.png || o.svg) {
        GVC_t *gvc = gvContext();
        if (!gvc) {
            cli_fail("graph", "cannot start Graphviz");
            goto done;
        }
        bool ok = (!o.png || render(gvc, dot, "png", o.png, what)) &&
                  (!o.svg || render(gvc, dot, "svg", o.svg, what));
        gvFreeContext(gvc);
        if (!ok)
            goto done;
    }
    rc = 0;
done:
    free(dot);
    nn_ctx_free(ctx);
    return rc;
}
