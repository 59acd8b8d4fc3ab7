/*
 * csv.c - CSV data sets through libcsv (quoted fields, any delimiter):
 * a header row (given, absent, or detected from the first two rows), one
 * or more label columns chosen by name or index, columns left out, float
 * features (or those of a training file's layout, found by name or by
 * position), and labels decided after the whole file is read (class
 * indices, class names in sorted order, or regression targets). Every
 * problem is reported with the file, line and column.
 */
#include "data/data.h"

#include <csv.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <zlib.h>

struct csvs {
    nn_ctx *ctx;
    const char *name;
    struct nn_csv_opts opts;
    nn_status st;          /* the first error; parsing stops there */
    int64_t line;          /* physical line being read, 1-based */
    int64_t rec_line;      /* line where the current record started */
    bool pending_cr;       /* the last terminator was '\r' */
    bool first_field;      /* no field seen yet in the file (BOM check) */
    /* the current record: NUL-terminated fields back to back */
    char *rb;
    size_t rb_len, rb_cap;
    size_t *rf;            /* (rnf) field offsets into rb */
    int64_t rnf, rf_cap;
    /* header detection: the first record, held until the second decides */
    bool held;
    char *hb;
    size_t hb_len, hb_cap;
    size_t *hf;
    int64_t hnf, hf_cap, h_line;
    bool no_header;        /* decided: the first row is data */
    /* the layout, fixed by the first record */
    bool have_layout;
    int64_t ncols, nfeat, nlab;
    char **colnames;       /* (ncols) with a header, else NULL */
    int64_t *labcol;       /* (nlab) label columns in the order given */
    int64_t *featcol;      /* (nfeat) the column of each feature */
    unsigned char *islab;  /* (ncols) nn_column_role of each column */
    /* the rows */
    int64_t nrows, rows_cap;
    float *x;              /* (rows_cap, nfeat) */
    int64_t *rowline;      /* (rows_cap) line of each row */
    char *lb;              /* label strings back to back */
    size_t lb_len, lb_cap;
    size_t *lo;            /* (rows_cap, nlab) offsets into lb */
};

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t nc = *cap ? *cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / elem)
            return false;
        nc *= 2;
    }
    void *q = realloc(*p, nc * elem);
    if (!q)
        return false;
    *p = q;
    *cap = nc;
    return true;
}

static void oom(struct csvs *s)
{
    if (s->st == NN_OK)
        s->st = nn_fail(s->ctx, NN_ERR_NOMEM, "%s: out of memory", s->name);
}

/* Records running out of memory and leaves the (void) caller. */
#define OOM_RETURN(s)                                                         \
    do {                                                                      \
        oom(s);                                                               \
        return;                                                               \
    } while (0)

/* Text from the file, fit for a one-line message: at most 40 characters,
 * control characters shown as '?'. */
static const char *clean(const char *t, char *buf)
{
    size_t k = 0;
    for (; t[k] && k < 40; k++)
        buf[k] = (unsigned char)t[k] < 0x20 || t[k] == 0x7f ? '?' : t[k];
    buf[k] = '\0';
    if (t[k])
        memcpy(buf + k, "...", 4);
    return buf;
}

/* "column 3 ('price')" (1-based) into buf. */
static const char *col_str(const struct csvs *s, int64_t c, char *buf, size_t len)
{
    char t[48];
    if (s->colnames)
        snprintf(buf, len, "column %lld ('%s')", (long long)c + 1, clean(s->colnames[c], t));
    else
        snprintf(buf, len, "column %lld", (long long)c + 1);
    return buf;
}

static void on_field(void *data, size_t len, void *vs)
{
    struct csvs *s = vs;
    if (s->st != NN_OK)
        return;
    const char *f = data ? data : "";
    if (s->first_field) {
        s->first_field = false;
        if (len >= 3 && memcmp(f, "\xEF\xBB\xBF", 3) == 0) { /* UTF-8 BOM */
            f += 3;
            len -= 3;
        }
    }
    if (s->rnf == 0)
        s->rec_line = s->line;
    for (size_t i = 0; i < len; i++) /* newlines inside quoted fields */
        s->line += f[i] == '\n';
    size_t cap = (size_t)s->rf_cap;
    if (!grow((void **)&s->rb, &s->rb_cap, s->rb_len + len + 1, 1) ||
        !grow((void **)&s->rf, &cap, (size_t)s->rnf + 1, sizeof(size_t))) {
        oom(s);
        return;
    }
    s->rf_cap = (int64_t)cap;
    s->rf[s->rnf++] = s->rb_len;
    memcpy(s->rb + s->rb_len, f, len);
    s->rb[s->rb_len + len] = '\0';
    s->rb_len += len + 1;
}

static bool is_int_text(const char *t, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(t, &end, 10);
    if (end == t || errno)
        return false;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return false;
    *v = x;
    return true;
}

/* "columns: a, b, c" (or a hint without names) for a message, into buf. */
static const char *name_list(char *const *names, int64_t n, char *buf, size_t len)
{
    char nb[48];
    if (!names) {
        snprintf(buf, len, "no header; give a 0-based index");
        return buf;
    }
    size_t o = (size_t)snprintf(buf, len, "columns: ");
    for (int64_t k = 0; k < n && o < len; k++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", k ? ", " : "", clean(names[k], nb));
    if (o >= len - 1 && len > 4)
        memcpy(buf + len - 4, "...", 4);
    return buf;
}

/* Column tok among names[0..n) (NULL: no header), or as a 0-based index
 * (negative from the end); -1 after setting the error. */
static int64_t find_col(struct csvs *s, const char *tok, char *const *names, int64_t n,
                        const char *what)
{
    char tb[48], nb[48], list[200];
    int64_t v;
    for (int64_t k = 0; names && k < n; k++)
        if (names[k] && strcmp(names[k], tok) == 0)
            return k;
    if (is_int_text(tok, &v)) {
        if (v >= -n && v < n)
            return v < 0 ? n + v : v;
        s->st = nn_fail(s->ctx, NN_ERR_INVALID, "%s: %s column index %lld is out of range "
                        "for %lld columns", s->name, what, (long long)v, (long long)n);
        return -1;
    }
    const char *near = names ? nn_nearest_name(tok, (const char *const *)names, (int)n) : NULL;
    char hint[80] = "";
    if (near)
        snprintf(hint, sizeof hint, " (did you mean '%s'?)", clean(near, nb));
    s->st = nn_fail(s->ctx, NN_ERR_INVALID, "%s: %s column '%s' not found%s (%s)", s->name,
                    what, clean(tok, tb), hint, name_list(names, n, list, sizeof list));
    return -1;
}

/* Marks the columns of spec (the whole text as one name, else a comma
 * list of names and indices) as role in roles[0..n), resolved against
 * names (NULL: no header), appending them to cols[*k] in the order given.
 * false after setting the error. */
static bool resolve_cols(struct csvs *s, const char *spec, char *const *names, int64_t n,
                         unsigned char role, unsigned char *roles, int64_t *cols, int64_t *k)
{
    const char *what = role == NN_COLUMN_LABEL ? "label" : "ignore";
    char tb[48];
    for (int64_t c = 0; names && c < n; c++)
        if (names[c] && strcmp(names[c], spec) == 0 && roles[c] == NN_COLUMN_FEATURE) {
            roles[c] = role;
            cols[(*k)++] = c;
            return true;
        }
    char *tok = malloc(strlen(spec) + 1);
    if (!tok) {
        oom(s);
        return false;
    }
    for (const char *p = spec; s->st == NN_OK;) {
        const char *q = strchr(p, ',');
        size_t tl = q ? (size_t)(q - p) : strlen(p);
        while (tl && (*p == ' ' || *p == '\t'))
            p++, tl--;
        while (tl && (p[tl - 1] == ' ' || p[tl - 1] == '\t'))
            tl--;
        memcpy(tok, p, tl);
        tok[tl] = '\0';
        int64_t c = find_col(s, tok, names, n, what);
        if (c >= 0 && roles[c] != NN_COLUMN_FEATURE)
            s->st = nn_fail(s->ctx, NN_ERR_INVALID, "%s: %s column '%s' given twice (or "
                            "both as a label and ignored)", s->name, what, clean(tok, tb));
        if (s->st != NN_OK)
            break;
        roles[c] = role;
        cols[(*k)++] = c;
        if (!q)
            break;
        p = q + 1;
    }
    free(tok);
    return s->st == NN_OK;
}

/* The label and ignored columns of opts over a layout of n columns named
 * names (NULL: no header) into roles (zeroed: features) and labcol. */
static bool resolve_roles(struct csvs *s, char *const *names, int64_t n, unsigned char *roles,
                          int64_t *labcol, int64_t *nlab)
{
    int64_t nign = 0;
    int64_t *ign = malloc((size_t)n * sizeof *ign);
    if (!ign) {
        oom(s);
        return false;
    }
    *nlab = 0;
    bool ok = (!s->opts.label || resolve_cols(s, s->opts.label, names, n, NN_COLUMN_LABEL,
                                              roles, labcol, nlab)) &&
              (!s->opts.ignore || resolve_cols(s, s->opts.ignore, names, n,
                                               NN_COLUMN_IGNORED, roles, ign, &nign));
    free(ign);
    return ok;
}

/* With a layout (opts.columns): this file's columns matched to it by
 * name, else by position. roles/labcol/nlab describe the layout. */
static void match_layout(struct csvs *s, const unsigned char *lroles, const int64_t *llab,
                         int64_t lnlab)
{
    const char *const *ln = s->opts.columns;
    int64_t n = s->opts.ncolumns;
    char tb[48], list[200];
    if (ln && s->colnames) {
        bool lab_missing = false;
        memset(s->islab, NN_COLUMN_IGNORED, (size_t)s->ncols); /* unless matched */
        for (int64_t k = 0; k < lnlab && !lab_missing; k++) {
            int64_t c = 0;
            while (c < s->ncols && strcmp(s->colnames[c], ln[llab[k]]) != 0)
                c++;
            if (c == s->ncols && s->opts.label_optional) {
                lab_missing = true;
            } else if (c == s->ncols) {
                s->st = nn_fail(s->ctx, NN_ERR_INVALID, "%s: label column '%s' is missing "
                                "(%s)", s->name, clean(ln[llab[k]], tb),
                                name_list(s->colnames, s->ncols, list, sizeof list));
                return;
            } else {
                s->islab[c] = NN_COLUMN_LABEL;
                s->labcol[s->nlab++] = c;
            }
        }
        if (lab_missing) { /* no labels at all */
            for (int64_t k = 0; k < s->nlab; k++)
                s->islab[s->labcol[k]] = NN_COLUMN_IGNORED;
            s->nlab = 0;
        }
        for (int64_t r = 0; r < n; r++) {
            if (lroles[r] != NN_COLUMN_FEATURE)
                continue;
            int64_t c = 0;
            while (c < s->ncols && strcmp(s->colnames[c], ln[r]) != 0)
                c++;
            if (c == s->ncols) {
                s->st = nn_fail(s->ctx, NN_ERR_INVALID, "%s: column '%s' is missing: the "
                                "model reads it (%s)", s->name, clean(ln[r], tb),
                                name_list(s->colnames, s->ncols, list, sizeof list));
                return;
            }
            s->islab[c] = NN_COLUMN_FEATURE;
            s->featcol[s->nfeat++] = c;
        }
        return;
    }
    /* by position: this file's columns are the layout's (maybe less its labels) */
    bool all = s->ncols == n, nolab = s->opts.label_optional && lnlab && s->ncols == n - lnlab;
    if (!all && !nolab) {
        char alt[64] = "";
        if (s->opts.label_optional && lnlab)
            snprintf(alt, sizeof alt, ", or %lld without the label", (long long)(n - lnlab));
        s->st = nn_fail(s->ctx, NN_ERR_FORMAT, "%s has %lld columns, but the file the model "
                        "was trained on had %lld%s (%s, so columns are matched by position)",
                        s->name, (long long)s->ncols, (long long)n, alt,
                        ln ? "this file has no header" : "that file had no header");
        return;
    }
    for (int64_t r = 0, c = 0; r < n; r++) {
        if (lroles[r] == NN_COLUMN_LABEL && nolab)
            continue;
        s->islab[c] = lroles[r];
        if (lroles[r] == NN_COLUMN_FEATURE)
            s->featcol[s->nfeat++] = c;
        c++;
    }
    for (int64_t k = 0; all && k < lnlab; k++)
        s->labcol[s->nlab++] = llab[k];
}

/* Resolves opts.label and opts.ignore (against opts.columns when given)
 * against the first record into featcol, labcol and islab. */
static void layout(struct csvs *s)
{
    s->ncols = s->rnf;
    s->islab = calloc((size_t)s->ncols, 1);
    s->labcol = calloc((size_t)s->ncols, sizeof(int64_t));
    s->featcol = calloc((size_t)s->ncols, sizeof(int64_t));
    if (!s->islab || !s->labcol || !s->featcol)
        OOM_RETURN(s);
    if (!s->no_header) {
        s->colnames = calloc((size_t)s->ncols, sizeof(char *));
        if (!s->colnames)
            OOM_RETURN(s);
        for (int64_t c = 0; c < s->ncols; c++)
            if (!(s->colnames[c] = nn_data_strdup(s->ctx, s->rb + s->rf[c])))
                OOM_RETURN(s);
    }
    if (s->opts.ncolumns > 0) {
        int64_t n = s->opts.ncolumns, lnlab = 0;
        unsigned char *lroles = calloc((size_t)n, 1);
        int64_t *llab = calloc((size_t)n, sizeof *llab);
        if (!lroles || !llab)
            oom(s);
        else if (resolve_roles(s, (char *const *)s->opts.columns, n, lroles, llab, &lnlab))
            match_layout(s, lroles, llab, lnlab);
        free(lroles);
        free(llab);
    } else if (resolve_roles(s, s->colnames, s->ncols, s->islab, s->labcol, &s->nlab)) {
        for (int64_t c = 0; c < s->ncols; c++)
            if (s->islab[c] == NN_COLUMN_FEATURE)
                s->featcol[s->nfeat++] = c;
    }
    if (s->st != NN_OK)
        return;
    if (s->nlab > 1 && s->opts.task == NN_CSV_CLASSIFY) {
        s->st = nn_fail(s->ctx, NN_ERR_INVALID, "%s: %lld label columns; "
                        "classification takes one", s->name, (long long)s->nlab);
        return;
    }
    if (s->nfeat < 1) {
        s->st = nn_fail(s->ctx, NN_ERR_FORMAT, "%s: no feature columns (every column "
                        "is a label or ignored)", s->name);
        return;
    }
    s->have_layout = true;
}

static void data_row(struct csvs *s)
{
    char cb[96], tb[48];
    if (s->rnf != s->ncols) {
        s->st = nn_fail(s->ctx, NN_ERR_FORMAT, "%s line %lld: %lld fields, expected "
                        "%lld (as in %s)", s->name, (long long)s->rec_line,
                        (long long)s->rnf, (long long)s->ncols,
                        s->no_header ? "the first row" : "the header");
        return;
    }
    size_t cap = (size_t)s->rows_cap, cap2 = cap, cap3 = cap;
    if (!grow((void **)&s->x, &cap, (size_t)s->nrows + 1, (size_t)s->nfeat * sizeof(float)) ||
        !grow((void **)&s->rowline, &cap2, (size_t)s->nrows + 1, sizeof(int64_t)) ||
        (s->nlab && !grow((void **)&s->lo, &cap3, (size_t)s->nrows + 1,
                          (size_t)s->nlab * sizeof(size_t))))
        OOM_RETURN(s);
    s->rows_cap = (int64_t)cap; /* the three arrays grow in step */
    float *xr = s->x + s->nrows * s->nfeat;
    for (int64_t j = 0; j < s->nfeat; j++) {
        int64_t c = s->featcol[j];
        const char *f = s->rb + s->rf[c];
        while (*f == ' ' || *f == '\t')
            f++;
        if (!*f) {
            s->st = nn_fail(s->ctx, NN_ERR_FORMAT, "%s line %lld, %s: empty field, "
                            "expected a number", s->name, (long long)s->rec_line,
                            col_str(s, c, cb, sizeof cb));
            return;
        }
        char *end;
        double v = strtod(f, &end);
        while (end != f && (*end == ' ' || *end == '\t'))
            end++;
        if (end == f || *end) {
            s->st = nn_fail(s->ctx, NN_ERR_FORMAT, "%s line %lld, %s: '%s' is not "
                            "a number", s->name, (long long)s->rec_line,
                            col_str(s, c, cb, sizeof cb), clean(f, tb));
            return;
        }
        if (!isfinite(v) || !isfinite((float)v)) {
            s->st = nn_fail(s->ctx, NN_ERR_NUMERIC, "%s line %lld, %s: '%s' is not "
                            "a finite float", s->name, (long long)s->rec_line,
                            col_str(s, c, cb, sizeof cb), clean(f, tb));
            return;
        }
        xr[j] = (float)v;
    }
    for (int64_t k = 0; k < s->nlab; k++) {
        const char *f = s->rb + s->rf[s->labcol[k]];
        size_t len = strlen(f) + 1;
        if (!grow((void **)&s->lb, &s->lb_cap, s->lb_len + len, 1))
            OOM_RETURN(s);
        s->lo[s->nrows * s->nlab + k] = s->lb_len;
        memcpy(s->lb + s->lb_len, f, len);
        s->lb_len += len;
    }
    s->rowline[s->nrows++] = s->rec_line;
}

/* A field that reads as one finite or infinite number, blanks around it
 * allowed; "" is not one. */
static bool is_num_text(const char *f)
{
    while (*f == ' ' || *f == '\t')
        f++;
    char *end;
    strtod(f, &end);
    if (end == f)
        return false;
    while (*end == ' ' || *end == '\t')
        end++;
    return !*end;
}

/* Swaps the current record with the held one. */
static void swap_held(struct csvs *s)
{
#define SWAP(T, a, b) do { T t_ = a; a = b; b = t_; } while (0)
    SWAP(char *, s->rb, s->hb);
    SWAP(size_t, s->rb_len, s->hb_len);
    SWAP(size_t, s->rb_cap, s->hb_cap);
    SWAP(size_t *, s->rf, s->hf);
    SWAP(int64_t, s->rnf, s->hnf);
    SWAP(int64_t, s->rf_cap, s->hf_cap);
    SWAP(int64_t, s->rec_line, s->h_line);
#undef SWAP
}

/* Header auto: keeps the first record aside (the current buffers become
 * the held ones; the next record fills the others). */
static void hold_first(struct csvs *s)
{
    swap_held(s);
    s->held = true;
}

/* Decides whether the held first record is a header, comparing it with the
 * current record (have_second), lays the file out with it and, if it is
 * data, stores it as the first row. */
static void release_first(struct csvs *s, bool have_second)
{
    bool header = false;
    const char *lab = s->opts.label;
    for (int64_t c = 0; c < s->hnf && !header; c++) {
        const char *f1 = s->hb + s->hf[c];
        if (is_num_text(f1))
            continue;
        if (!have_second && !s->opts.columns)
            header = true; /* (with a layout: when it names one of its columns) */
        else if (c < s->rnf && is_num_text(s->rb + s->rf[c]))
            header = true; /* text above a number */
        else if (lab && strcmp(lab, f1) == 0)
            header = true; /* the label column's name */
        for (int64_t k = 0; s->opts.columns && k < s->opts.ncolumns && !header; k++)
            header = s->opts.columns[k] && strcmp(s->opts.columns[k], f1) == 0;
    }
    s->no_header = !header;
    s->held = false;
    swap_held(s); /* the first record is current */
    layout(s);
    if (s->st == NN_OK && s->no_header)
        data_row(s);
    swap_held(s);
}

static void on_row(int c, void *vs)
{
    struct csvs *s = vs;
    if (s->st == NN_OK) {
        /* A record of one empty field is a blank line. */
        bool blank = s->rnf == 0 || (s->rnf == 1 && s->rb[0] == '\0');
        if (!blank) {
            if (!s->have_layout && s->opts.header == NN_CSV_HEADER_AUTO && !s->opts.no_header &&
                !s->held) {
                hold_first(s);
            } else if (!s->have_layout && s->held) {
                release_first(s, true);
                if (s->st == NN_OK)
                    data_row(s);
            } else if (!s->have_layout) {
                layout(s);
                if (s->st == NN_OK && s->no_header)
                    data_row(s);
            } else {
                data_row(s);
            }
        }
    }
    if (c == '\r') {
        s->line++;
        s->pending_cr = true;
    } else if (c == '\n') {
        if (!(s->pending_cr && s->rnf == 0))
            s->line++;
        s->pending_cr = false;
    }
    s->rnf = 0;
    s->rb_len = 0;
}

/* ---- labels --------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A label that reads as one finite number into *v. */
static bool num_value(const char *f, double *v)
{
    char *end;
    *v = strtod(f, &end);
    while (end != f && (*end == ' ' || *end == '\t'))
        end++;
    return end != f && !*end && isfinite(*v);
}

/* Numeric labels by value, equal values by text (a total order). */
static int cmp_num(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    double u, v;
    num_value(x, &u);
    num_value(y, &v);
    return u < v ? -1 : u > v ? 1 : strcmp(x, y);
}

static int cmp_double(const void *a, const void *b)
{
    double u = *(const double *)a, v = *(const double *)b;
    return (u > v) - (u < v);
}

/* A whole-number label that can be a class index. */
static bool index_value(const char *f, int64_t *k)
{
    double v;
    if (!num_value(f, &v) || v != floor(v) || v < 0 || v >= NN_CSV_MAX_CLASSES)
        return false;
    *k = (int64_t)v;
    return true;
}

static const char *label_at(const struct csvs *s, int64_t i, int64_t k)
{
    return s->lb + s->lo[i * s->nlab + k];
}

/* Fills the data set's labels or targets from the label strings. */
static nn_status finish_labels(struct csvs *s, nn_dataset *ds)
{
    char cb[96], tb[48];
    struct nn_ds_store *st = ds->store;
    if (ds->kind == NN_LABELS_TARGETS) {
        for (int64_t i = 0; i < s->nrows; i++)
            for (int64_t k = 0; k < s->nlab; k++) {
                const char *f = label_at(s, i, k);
                char *end;
                double v = strtod(f, &end);
                while (end != f && (*end == ' ' || *end == '\t'))
                    end++;
                if (end == f || *end)
                    return nn_fail(s->ctx, NN_ERR_FORMAT, "%s line %lld, %s: target "
                                   "'%s' is not a number", s->name,
                                   (long long)s->rowline[i],
                                   col_str(s, s->labcol[k], cb, sizeof cb), clean(f, tb));
                if (!isfinite(v) || !isfinite((float)v))
                    return nn_fail(s->ctx, NN_ERR_NUMERIC, "%s line %lld, %s: target "
                                   "'%s' is not a finite float", s->name,
                                   (long long)s->rowline[i],
                                   col_str(s, s->labcol[k], cb, sizeof cb), clean(f, tb));
                st->targets[i * s->nlab + k] = (float)v;
            }
        return NN_OK;
    }
    /* Classification: indices if every label is a whole number >= 0. */
    bool all_int = true, all_num = true;
    for (int64_t i = 0; i < s->nrows && all_int; i++) {
        int64_t v;
        all_int = index_value(label_at(s, i, 0), &v);
    }
    if (all_int) {
        for (int64_t i = 0; i < s->nrows; i++) {
            int64_t v = 0;
            index_value(label_at(s, i, 0), &v);
            st->labels[i] = (int32_t)v;
        }
        nn_ds_count_classes(ds);
        return NN_OK;
    }
    for (int64_t i = 0; i < s->nrows && all_num; i++) {
        double v;
        all_num = num_value(label_at(s, i, 0), &v);
    }
    int (*cmp)(const void *, const void *) = all_num ? cmp_num : cmp_str;
    /* Class names: the distinct strings in sorted order. */
    const char **p = malloc((size_t)s->nrows * sizeof *p);
    if (!p)
        return nn_fail(s->ctx, NN_ERR_NOMEM, "%s: out of memory", s->name);
    for (int64_t i = 0; i < s->nrows; i++) {
        p[i] = label_at(s, i, 0);
        if (!*p[i]) {
            free(p);
            return nn_fail(s->ctx, NN_ERR_FORMAT, "%s line %lld, %s: empty label",
                           s->name, (long long)s->rowline[i],
                           col_str(s, s->labcol[0], cb, sizeof cb));
        }
    }
    qsort(p, (size_t)s->nrows, sizeof *p, cmp);
    int64_t nu = 0;
    for (int64_t i = 0; i < s->nrows; i++)
        if (i == 0 || strcmp(p[i], p[nu - 1]) != 0)
            p[nu++] = p[i];
    if (nu > NN_CSV_MAX_CLASSES) {
        free(p);
        return nn_fail(s->ctx, NN_ERR_RANGE, "%s: %lld distinct labels, more than %d "
                       "classes", s->name, (long long)nu, NN_CSV_MAX_CLASSES);
    }
    st->class_names = calloc((size_t)nu, sizeof(char *));
    if (!st->class_names) {
        free(p);
        return nn_fail(s->ctx, NN_ERR_NOMEM, "%s: out of memory", s->name);
    }
    for (int64_t k = 0; k < nu; k++) {
        if (!(st->class_names[k] = nn_data_strdup(s->ctx, p[k]))) {
            free(p);
            return NN_ERR_NOMEM;
        }
        st->nclass_names = k + 1;
    }
    for (int64_t i = 0; i < s->nrows; i++) {
        const char *key = label_at(s, i, 0);
        const char **hit = bsearch(&key, p, (size_t)nu, sizeof *p, cmp);
        NN_ASSERT(hit, "label among the sorted names");
        st->labels[i] = (int32_t)(hit - p);
    }
    free(p);
    ds->classes = nu;
    return NN_OK;
}

/* The label kind per the task and the label texts: under NN_CSV_AUTO,
 * whole numbers of at most NN_CSV_AUTO_MAX_LEVELS distinct values are
 * classes, other numbers targets, and anything else class names. */
static nn_label_kind decide_kind(const struct csvs *s)
{
    if (s->nlab == 0)
        return NN_LABELS_NONE;
    if (s->opts.task == NN_CSV_REGRESS || s->nlab > 1)
        return NN_LABELS_TARGETS;
    if (s->opts.task == NN_CSV_CLASSIFY)
        return NN_LABELS_CLASS;
    double *v = malloc((size_t)s->nrows * sizeof *v);
    bool whole = true;
    for (int64_t i = 0; i < s->nrows; i++) {
        double d;
        if (!num_value(label_at(s, i, 0), &d)) {
            free(v);
            return NN_LABELS_CLASS; /* names */
        }
        whole = whole && d == floor(d) && fabs(d) < NN_CSV_AUTO_MAX_CLASSES;
        if (v)
            v[i] = d;
    }
    if (!whole || !v) { /* (out of memory: a quantity, as the safe guess) */
        free(v);
        return NN_LABELS_TARGETS;
    }
    qsort(v, (size_t)s->nrows, sizeof *v, cmp_double);
    int64_t levels = 0;
    for (int64_t i = 0; i < s->nrows && levels <= NN_CSV_AUTO_MAX_LEVELS; i++)
        levels += i == 0 || v[i] != v[i - 1];
    free(v);
    return levels <= NN_CSV_AUTO_MAX_LEVELS ? NN_LABELS_CLASS : NN_LABELS_TARGETS;
}

static void csvs_free(struct csvs *s)
{
    free(s->rb);
    free(s->rf);
    free(s->hb);
    free(s->hf);
    if (s->colnames)
        for (int64_t c = 0; c < s->ncols; c++)
            free(s->colnames[c]);
    free(s->colnames);
    free(s->labcol);
    free(s->featcol);
    free(s->islab);
    free(s->x);
    free(s->rowline);
    free(s->lb);
    free(s->lo);
}

static nn_dataset *csvs_build(struct csvs *s)
{
    if (s->st == NN_OK && s->held)
        release_first(s, false); /* a file of one record */
    if (s->st != NN_OK)
        return NULL;
    if (!s->have_layout) {
        nn_fail(s->ctx, NN_ERR_FORMAT, "%s: empty file (no header, no rows)", s->name);
        return NULL;
    }
    if (s->nrows == 0) {
        nn_fail(s->ctx, NN_ERR_FORMAT, "%s: no data rows after the header", s->name);
        return NULL;
    }
    nn_label_kind kind = decide_kind(s);
    nn_dataset *ds = nn_ds_alloc(s->ctx, s->name, s->nrows, 1, &s->nfeat, false, kind,
                                 s->nlab);
    if (!ds)
        return NULL;
    struct nn_ds_store *st = ds->store;
    free(st->f32); /* hand the rows read over instead of copying them */
    st->f32 = s->x;
    s->x = NULL;
    st->column_roles = s->islab; /* the file's columns, as read */
    s->islab = NULL;
    st->ncolumns = s->ncols;
    if (s->colnames) {
        st->feature_names = calloc((size_t)s->nfeat, sizeof(char *));
        if (!st->feature_names)
            goto oom;
        for (int64_t j = 0; j < s->nfeat; j++)
            if (!(st->feature_names[j] = nn_data_strdup(s->ctx, s->colnames[s->featcol[j]])))
                goto fail;
    }
    if (kind != NN_LABELS_NONE && finish_labels(s, ds) != NN_OK)
        goto fail;
    st->column_names = s->colnames; /* NULL without a header */
    s->colnames = NULL;
    if (nn_dataset_fit_norm(ds, NN_NORM_STANDARD) != NN_OK)
        goto fail;
    return ds;
oom:
    nn_fail(s->ctx, NN_ERR_NOMEM, "%s: out of memory", s->name);
fail:
    nn_dataset_free(ds);
    return NULL;
}

static bool csvs_init(struct csvs *s, struct csv_parser *p, nn_ctx *ctx,
                      const char *name, const struct nn_csv_opts *opts)
{
    memset(s, 0, sizeof *s);
    s->ctx = ctx;
    s->name = name;
    if (opts)
        s->opts = *opts;
    s->no_header = s->opts.no_header || s->opts.header == NN_CSV_HEADER_NO;
    s->line = 1;
    s->first_field = true;
    if (csv_init(p, CSV_STRICT | CSV_STRICT_FINI | CSV_REPALL_NL) != 0) {
        nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", name);
        return false;
    }
    if (s->opts.delimiter)
        csv_set_delim(p, (unsigned char)s->opts.delimiter);
    return true;
}

/* Feeds a chunk to libcsv; false (message set) on a parse error. */
static bool feed(struct csvs *s, struct csv_parser *p, const void *buf, size_t len)
{
    if (csv_parse(p, buf, len, on_field, on_row, s) != len && s->st == NN_OK) {
        int e = csv_error(p);
        s->st = nn_fail(s->ctx, e == CSV_ENOMEM ? NN_ERR_NOMEM : NN_ERR_FORMAT,
                        "%s line %lld: %s (a quote inside an unquoted field, or "
                        "text after a closing quote)", s->name, (long long)s->line,
                        csv_strerror(e));
    }
    return s->st == NN_OK;
}

static void finish(struct csvs *s, struct csv_parser *p)
{
    if (s->st == NN_OK && csv_fini(p, on_field, on_row, s) != 0 && s->st == NN_OK)
        s->st = nn_fail(s->ctx, NN_ERR_FORMAT, "%s line %lld: quoted field not closed "
                        "at the end of the file", s->name, (long long)s->line);
    csv_free(p);
}

nn_dataset *nn_csv_load_mem(nn_ctx *ctx, const char *name, const uint8_t *buf,
                            size_t len, const struct nn_csv_opts *opts)
{
    struct csvs s;
    struct csv_parser p;
    if (!csvs_init(&s, &p, ctx, name, opts))
        return NULL;
    feed(&s, &p, buf, len);
    finish(&s, &p);
    nn_dataset *ds = csvs_build(&s);
    csvs_free(&s);
    return ds;
}

nn_dataset *nn_dataset_load_csv(nn_ctx *ctx, const char *path,
                                const struct nn_csv_opts *opts)
{
    if (!path) {
        nn_fail(ctx, NN_ERR_INVALID, "no CSV file given");
        return NULL;
    }
    errno = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz) {
        nn_fail(ctx, NN_ERR_IO, "%s: cannot open: %s", path,
                errno ? strerror(errno) : "out of memory");
        return NULL;
    }
    struct csvs s;
    struct csv_parser p;
    if (!csvs_init(&s, &p, ctx, path, opts)) {
        gzclose(gz);
        return NULL;
    }
    char *buf = malloc(1 << 16);
    if (!buf)
        s.st = nn_fail(ctx, NN_ERR_NOMEM, "%s: out of memory", path);
    while (s.st == NN_OK) {
        int r = gzread(gz, buf, 1 << 16);
        int err = 0;
        const char *msg = gzerror(gz, &err);
        if (r < 0 || (err != Z_OK && err != Z_STREAM_END)) {
            s.st = nn_fail(ctx, NN_ERR_IO, "%s: cannot read: %s", path,
                           err == Z_ERRNO ? strerror(errno) : msg);
            break;
        }
        if (r == 0 || !feed(&s, &p, buf, (size_t)r))
            break;
    }
    free(buf);
    gzclose(gz);
    finish(&s, &p);
    nn_dataset *ds = csvs_build(&s);
    csvs_free(&s);
    return ds;
}
