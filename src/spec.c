/*
 * spec.c - the model spec's text form, parsed into a list of layers
 * (spec.h). One table says which fields each layer kind takes; the parser
 * is generic over it: split into tokens, split a token into fields, put
 * each field (positional or NAME=VALUE) where the table says, check it.
 */
#include "spec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

enum ftype {
    F_COUNT, /* an integer in [lo, hi] */
    F_NUM,   /* a finite number in [lo, hi] (or [lo, hi) when hi_open) */
    F_INIT   /* an initializer: a kind name */
};

#define NO_FLAG ((size_t)-1)

struct fdef {
    const char *name; /* for NAME=VALUE and messages */
    enum ftype type;
    size_t off;       /* where the value lands in struct nn_layer */
    size_t has;       /* the bool set when the field is given, or NO_FLAG */
    double lo, hi;
    bool hi_open;
    bool named;       /* only as NAME=VALUE, never positional */
};

struct kdef {
    const char *name, *alias;
    const char *usage;  /* the token's form, for messages */
    int required;       /* leading fields that must be given */
    bool all_or_none;   /* every field or none (hardtanh's two bounds) */
    bool last_only;     /* must be the last layer (softmax) */
    struct fdef f[3];   /* in positional order; name NULL ends the list */
};

#define L(f) offsetof(struct nn_layer, f)
#define ARG1 (offsetof(struct nn_layer, arg) + sizeof(double))
static const struct kdef kinds[NN_LAYER_COUNT] = {
    [NN_LAYER_DENSE] = {"dense", NULL, "dense:UNITS[:INIT][:bias=INIT]", 1, false, false,
                        {{"units", F_COUNT, L(units), NO_FLAG, 1, 1 << 24, false, false},
                         {"init", F_INIT, L(init), L(has_init), 0, 0, false, false},
                         {"bias", F_INIT, L(bias), L(has_bias), 0, 0, false, true}}},
    [NN_LAYER_RELU] = {"relu", NULL, "relu", 0, false, false, {{0}}},
    [NN_LAYER_LEAKY_RELU] = {"leaky_relu", NULL, "leaky_relu[:SLOPE]", 0, false, false,
                             {{"slope", F_NUM, L(arg), L(has_arg), -INFINITY, INFINITY,
                               false}}},
    [NN_LAYER_SIGMOID] = {"sigmoid", NULL, "sigmoid", 0, false, false, {{0}}},
    [NN_LAYER_TANH] = {"tanh", NULL, "tanh", 0, false, false, {{0}}},
    [NN_LAYER_HARDTANH] = {"hardtanh", NULL, "hardtanh or hardtanh:LO:HI", 0, true, false,
                           {{"lo", F_NUM, L(arg), L(has_arg), -INFINITY, INFINITY, false},
                            {"hi", F_NUM, ARG1, L(has_arg), -INFINITY, INFINITY, false}}},
    [NN_LAYER_SIGN] = {"sign", NULL, "sign", 0, false, false, {{0}}},
    [NN_LAYER_IDENTITY] = {"identity", "linear", "identity", 0, false, false, {{0}}},
    [NN_LAYER_DROPOUT] = {"dropout", NULL, "dropout[:P]", 0, false, false,
                          {{"p", F_NUM, L(arg), L(has_arg), 0, 1, true}}},
    [NN_LAYER_SOFTMAX] = {"softmax", NULL, "softmax", 0, false, true, {{0}}},
};
#undef L
#undef ARG1

#define KNOWN_LAYERS "dense:N, relu, leaky_relu[:s], sigmoid, tanh, hardtanh[:lo:hi], " \
                     "sign, identity, dropout[:p], softmax"

/* The token being parsed, for messages. */
struct tok {
    nn_ctx *ctx;
    const char *text; /* as written (not split) */
    int len, pos;
    const struct kdef *k;
};

static nn_status terr(const struct tok *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* "model spec: token POS 'TOKEN': WHY" */
static nn_status terr(const struct tok *t, const char *fmt, ...)
{
    char why[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return nn_fail(t->ctx, NN_ERR_INVALID, "model spec: token %d '%.*s': %s", t->pos, t->len,
                   t->text, why);
}

static bool parse_double(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == '\0' && errno == 0 && isfinite(*v);
}

static bool parse_count(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    *v = x;
    return end != s && *end == '\0' && errno == 0;
}

/* An initializer field: VALUE names the kind, nums[0..n) its numbers. */
static nn_status set_init(const struct tok *t, const char *value, const char *const *nums,
                          int n, struct nn_init *out)
{
    char why[256];
    if (!nn_init_from_fields(value, nums, n, out, why, sizeof why))
        return terr(t, "%s", why);
    return NN_OK;
}

/* Stores one field's value (an initializer's numbers: nums[0..nnum)) into
 * the layer. */
static nn_status set_field(const struct tok *t, const struct fdef *f, const char *value,
                           const char *const *nums, int nnum, struct nn_layer *l)
{
    char *dst = (char *)l + f->off;
    double v;
    int64_t n;
    switch (f->type) {
    case F_COUNT:
        if (!parse_count(value, &n) || n < f->lo || n > f->hi)
            return terr(t, "%s '%s' must be an integer from %.0f to %.0f (expected %s)",
                        f->name, value, f->lo, f->hi, t->k->usage);
        memcpy(dst, &n, sizeof n);
        break;
    case F_NUM:
        if (!parse_double(value, &v))
            return terr(t, "%s '%s' is not a number (expected %s)", f->name, value,
                        t->k->usage);
        if (v < f->lo || v > f->hi || (f->hi_open && v == f->hi))
            return terr(t, "%s %s is outside [%g, %g%s (expected %s)", f->name, value, f->lo,
                        f->hi, f->hi_open ? ")" : "]", t->k->usage);
        memcpy(dst, &v, sizeof v);
        break;
    case F_INIT: {
        struct nn_init init;
        nn_status st = set_init(t, value, nums, nnum, &init);
        if (st != NN_OK)
            return st;
        memcpy(dst, &init, sizeof init);
        break;
    }
    }
    if (f->has != NO_FLAG)
        *(bool *)((char *)l + f->has) = true;
    return NN_OK;
}

static const struct fdef *field_named(const struct kdef *k, const char *name)
{
    for (int i = 0; i < 3 && k->f[i].name; i++)
        if (strcmp(k->f[i].name, name) == 0)
            return &k->f[i];
    return NULL;
}

static int field_count(const struct kdef *k)
{
    int n = 0;
    while (n < 3 && k->f[n].name)
        n++;
    return n;
}

static int positional_count(const struct kdef *k)
{
    int n = 0;
    while (n < 3 && k->f[n].name && !k->f[n].named)
        n++;
    return n;
}

/* Parses the fields after the kind: parts[0..n), split at ':' in place. */
static nn_status parse_fields(const struct tok *t, char **parts, int n, struct nn_layer *l)
{
    const struct kdef *k = t->k;
    int nf = field_count(k), npos = 0, npositional = positional_count(k);
    bool given[3] = {false, false, false};
    for (int i = 0; i < n; i++) {
        char *eq = strchr(parts[i], '=');
        const struct fdef *f;
        const char *value = parts[i];
        if (!*parts[i])
            return terr(t, "empty field (expected %s)", k->usage);
        if (eq) {
            *eq = '\0';
            value = eq + 1;
            if (!(f = field_named(k, parts[i])))
                return terr(t, "%s has no field '%s' (expected %s)", k->name, parts[i],
                            k->usage);
        } else {
            if (nf == 0)
                return terr(t, "%s takes no fields", k->name);
            if (npos >= npositional)
                return terr(t, "%s takes at most %d positional field%s (expected %s)",
                            k->name, npositional, npositional == 1 ? "" : "s", k->usage);
            f = &k->f[npos++];
        }
        if (given[f - k->f])
            return terr(t, "field %s given twice", f->name);
        given[f - k->f] = true;
        int nnum = 0; /* an initializer's numbers: the unnamed fields after it */
        while (f->type == F_INIT && i + 1 + nnum < n && !strchr(parts[i + 1 + nnum], '='))
            nnum++;
        nn_status st = set_field(t, f, value, (const char *const *)parts + i + 1, nnum, l);
        if (st != NN_OK)
            return st;
        i += nnum;
    }
    int ngiven = 0;
    for (int i = 0; i < nf; i++)
        ngiven += given[i];
    for (int i = 0; i < k->required; i++)
        if (!given[i])
            return terr(t, "%s is missing (expected %s)", k->f[i].name, k->usage);
    if (k->all_or_none && ngiven != 0 && ngiven != nf)
        return terr(t, "give every field or none (expected %s)", k->usage);
    return NN_OK;
}

/* Parses one layer token (a copy that may be split in place). */
static nn_status parse_layer(struct tok *t, char *copy, struct nn_layer *l)
{
    char *parts[16];
    int n = 0;
    parts[n++] = copy;
    for (char *p = copy; *p; p++)
        if (*p == ':') {
            if (n == 16)
                return terr(t, "too many fields");
            *p = '\0';
            parts[n++] = p + 1;
        }
    t->k = NULL;
    for (int i = 0; i < NN_LAYER_COUNT; i++)
        if (strcmp(parts[0], kinds[i].name) == 0 ||
            (kinds[i].alias && strcmp(parts[0], kinds[i].alias) == 0)) {
            t->k = &kinds[i];
            l->kind = (enum nn_layer_kind)i;
        }
    if (!t->k)
        return terr(t, "unknown layer (" KNOWN_LAYERS ")");
    return parse_fields(t, parts + 1, n - 1, l);
}

/* The tokens of text: start offsets and lengths; returns the count. */
static int tokenize(const char *text, int *start, int *len, int cap)
{
    int n = 0;
    for (int i = 0; text[i];) {
        while (text[i] && strchr(" \t\n,", text[i]))
            i++;
        if (!text[i])
            break;
        int s = i;
        while (text[i] && !strchr(" \t\n,", text[i]))
            i++;
        if (n < cap) {
            start[n] = s;
            len[n] = i - s;
        }
        n++;
    }
    return n;
}

/* The first token: the input size (after at least one layer). */
static nn_status check_input(nn_ctx *ctx, const char *text, int nt, const char *first,
                             int first_len, int64_t *inputs)
{
    char buf[32];
    if (nt < 2)
        return nn_fail(ctx, NN_ERR_INVALID,
                       "model spec '%s': needs an input size and at least one layer, "
                       "e.g. \"784 dense:10 softmax\"", text);
    snprintf(buf, sizeof buf, "%.*s", first_len, first);
    if (first_len >= (int)sizeof buf || !parse_count(buf, inputs) || *inputs < 1)
        return nn_fail(ctx, NN_ERR_INVALID, "model spec: token 1 '%.*s': the first token "
                       "must be the input size, a positive integer", first_len, first);
    return NN_OK;
}

nn_status nn_spec_parse(nn_ctx *ctx, const char *text, struct nn_spec *out)
{
    *out = (struct nn_spec){0};
    if (!text)
        return nn_fail(ctx, NN_ERR_INVALID, "model spec: none given");
    int nt = tokenize(text, NULL, NULL, 0);
    size_t tlen = strlen(text);
    int *start = malloc((size_t)(nt + 1) * sizeof *start);
    int *len = malloc((size_t)(nt + 1) * sizeof *len);
    char *copy = malloc(tlen + 1);
    out->layers = calloc((size_t)(nt > 1 ? nt - 1 : 1), sizeof *out->layers);
    nn_status st = NN_OK;
    if (!start || !len || !copy || !out->layers)
        st = nn_fail(ctx, NN_ERR_NOMEM, "model spec: out of memory");
    if (st == NN_OK) {
        tokenize(text, start, len, nt);
        st = check_input(ctx, text, nt, nt ? text + start[0] : text, nt ? len[0] : 0,
                         &out->inputs);
    }
    bool dense = false;
    for (int i = 1; st == NN_OK && i < nt; i++) {
        struct tok t = {ctx, text + start[i], len[i], i + 1, NULL};
        struct nn_layer *l = &out->layers[out->nlayers++];
        memcpy(copy, text + start[i], (size_t)len[i]);
        copy[len[i]] = '\0';
        l->token = i + 1;
        st = parse_layer(&t, copy, l);
        if (st == NN_OK && t.k->last_only && i + 1 < nt)
            st = terr(&t, "%s must be the last layer", t.k->name);
        dense |= l->kind == NN_LAYER_DENSE;
    }
    if (st == NN_OK && !dense)
        st = nn_fail(ctx, NN_ERR_INVALID, "model spec '%s': has no dense layer", text);
    free(start);
    free(len);
    free(copy);
    return st;
}

void nn_spec_free(struct nn_spec *s)
{
    if (!s)
        return;
    free(s->layers);
    *s = (struct nn_spec){0};
}

/* ---- text form ----------------------------------------------------------- */

/* The shortest decimal that reads back as the same float. */
static void put_float(char *num, size_t size, float v)
{
    for (int p = 1; p <= 9; p++) {
        snprintf(num, size, "%.*g", p, (double)v);
        if (strtof(num, NULL) == v)
            return;
    }
}

/* Appends to buf as snprintf would, counting the length needed in *n. */
static void append(char *buf, size_t size, size_t *n, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void append(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(*n < size ? buf + *n : NULL, *n < size ? size - *n : 0, fmt, ap);
    va_end(ap);
    *n += (size_t)(k > 0 ? k : 0);
}

/* One field's value as text. */
static void field_text(const struct fdef *f, const struct nn_layer *l, char *v, size_t size)
{
    const char *src = (const char *)l + f->off;
    int64_t count;
    double num;
    struct nn_init init;
    switch (f->type) {
    case F_COUNT:
        memcpy(&count, src, sizeof count);
        snprintf(v, size, "%lld", (long long)count);
        break;
    case F_NUM:
        memcpy(&num, src, sizeof num);
        put_float(v, size, (float)num);
        break;
    case F_INIT:
        memcpy(&init, src, sizeof init);
        nn_init_format(init, v, size);
        break;
    }
}

int nn_spec_format(const struct nn_spec *s, char *buf, size_t size)
{
    size_t n = 0;
    if (size)
        buf[0] = '\0';
    append(buf, size, &n, "%lld", (long long)s->inputs);
    for (int i = 0; i < s->nlayers; i++) {
        const struct nn_layer *l = &s->layers[i];
        const struct kdef *k = &kinds[l->kind];
        bool positional = true; /* no field left out so far */
        append(buf, size, &n, " %s", k->name);
        for (int j = 0; j < field_count(k); j++) {
            const struct fdef *f = &k->f[j];
            char v[64];
            if (f->has != NO_FLAG && !*(const bool *)((const char *)l + f->has)) {
                positional = false;
                continue;
            }
            field_text(f, l, v, sizeof v);
            positional &= !f->named;
            append(buf, size, &n, ":%s%s%s", positional ? "" : f->name, positional ? "" : "=",
                   v);
            positional &= f->type != F_INIT; /* would read as its numbers */
        }
    }
    return (int)n;
}
