/*
 * spec.c - the model spec's text form, parsed into a list of layers
 * (spec.h). One table says which fields each layer kind takes; the parser
 * is generic over it: split into tokens (blanks, and commas by the rule in
 * spec.h), split a token into fields, put each field (positional or
 * NAME=VALUE) where the table says, check it.
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
    F_NUM,   /* a finite number in [lo, hi] (or open at an end: lo_open, hi_open) */
    F_INIT,  /* an initializer: a kind name */
    F_PAIR,  /* K or KHxKW, integers in [lo, hi], into int64_t[2] */
    F_PAD,   /* as F_PAIR, or "same" (sets pad_same) */
    F_BIAS   /* no (sets no_bias), yes, or an initializer */
};

#define NO_FLAG ((size_t)-1)
#define MAX_FIELDS 8
#define MAX_WIN (1 << 20) /* kernel, stride, padding, dilation, groups */

struct fdef {
    const char *name; /* for NAME=VALUE and messages */
    enum ftype type;
    size_t off;       /* where the value lands in struct nn_layer */
    size_t has;       /* the bool set when the field is given, or NO_FLAG */
    double lo, hi;
    bool hi_open;
    bool named;       /* only as NAME=VALUE, never positional */
    bool lo_open;
};

struct kdef {
    const char *name, *alias;
    const char *usage;  /* the token's form, for messages */
    int required;       /* leading fields that must be given */
    bool all_or_none;   /* every field or none (hardtanh's two bounds) */
    bool last_only;     /* must be the last layer (softmax) */
    struct fdef f[MAX_FIELDS]; /* in positional order; name NULL ends the list */
};

#define L(f) offsetof(struct nn_layer, f)
#define ARG1 (offsetof(struct nn_layer, arg) + sizeof(double))
#define WIN(name, type, field, has, lo) {name, type, L(field), has, lo, MAX_WIN, false, true, false}
static const struct kdef kinds[NN_LAYER_COUNT] = {
    [NN_LAYER_DENSE] = {"dense", NULL, "dense:UNITS[:INIT][:bias=no|INIT]", 1, false, false,
                        {{"units", F_COUNT, L(units), NO_FLAG, 1, 1 << 24, false, false, false},
                         {"init", F_INIT, L(init), L(has_init), 0, 0, false, false, false},
                         {"bias", F_BIAS, L(bias), L(has_bias), 0, 0, false, true, false}}},
    [NN_LAYER_RELU] = {"relu", NULL, "relu", 0, false, false, {{0}}},
    [NN_LAYER_LEAKY_RELU] = {"leaky_relu", NULL, "leaky_relu[:SLOPE]", 0, false, false,
                             {{"slope", F_NUM, L(arg), L(has_arg), -INFINITY, INFINITY,
                               false, false, false}}},
    [NN_LAYER_SIGMOID] = {"sigmoid", NULL, "sigmoid", 0, false, false, {{0}}},
    [NN_LAYER_TANH] = {"tanh", NULL, "tanh", 0, false, false, {{0}}},
    [NN_LAYER_HARDTANH] = {"hardtanh", NULL, "hardtanh or hardtanh:LO:HI", 0, true, false,
                           {{"lo", F_NUM, L(arg), L(has_arg), -INFINITY, INFINITY, false,
                             false, false},
                            {"hi", F_NUM, ARG1, L(has_arg), -INFINITY, INFINITY, false,
                             false, false}}},
    [NN_LAYER_SIGN] = {"sign", NULL, "sign", 0, false, false, {{0}}},
    [NN_LAYER_IDENTITY] = {"identity", "linear", "identity", 0, false, false, {{0}}},
    [NN_LAYER_DROPOUT] = {"dropout", NULL, "dropout[:P]", 0, false, false,
                          {{"p", F_NUM, L(arg), L(has_arg), 0, 1, true, false, false}}},
    [NN_LAYER_SOFTMAX] = {"softmax", NULL, "softmax", 0, false, true, {{0}}},
    [NN_LAYER_CONV] = {"conv", "conv2d",
                       "conv:CHANNELS,KERNEL[,stride=S][,pad=P|same][,dil=D][,groups=G]"
                       "[,bias=no|INIT][,init=INIT] (KERNEL, S, P, D: N or HxW)",
                       2, false, false,
                       {{"channels", F_COUNT, L(units), NO_FLAG, 1, 1 << 24, false, false,
                         false},
                        {"kernel", F_PAIR, L(kernel), NO_FLAG, 1, MAX_WIN, false, false, false},
                        WIN("stride", F_PAIR, stride, L(has_stride), 1),
                        WIN("pad", F_PAD, pad, L(has_pad), 0),
                        WIN("dil", F_PAIR, dil, L(has_dil), 1),
                        {"groups", F_COUNT, L(groups), L(has_groups), 1, MAX_WIN, false, true,
                         false},
                        {"bias", F_BIAS, L(bias), L(has_bias), 0, 0, false, true, false},
                        {"init", F_INIT, L(init), L(has_init), 0, 0, false, true, false}}},
    [NN_LAYER_MAXPOOL] = {"maxpool", NULL,
                          "maxpool:KERNEL[,stride=S][,pad=P] (N or HxW; stride: the kernel)",
                          1, false, false,
                          {{"kernel", F_PAIR, L(kernel), NO_FLAG, 1, MAX_WIN, false, false,
                            false},
                           WIN("stride", F_PAIR, stride, L(has_stride), 1),
                           WIN("pad", F_PAIR, pad, L(has_pad), 0)}},
    [NN_LAYER_AVGPOOL] = {"avgpool", NULL,
                          "avgpool:KERNEL[,stride=S][,pad=P] (N or HxW; stride: the kernel)",
                          1, false, false,
                          {{"kernel", F_PAIR, L(kernel), NO_FLAG, 1, MAX_WIN, false, false,
                            false},
                           WIN("stride", F_PAIR, stride, L(has_stride), 1),
                           WIN("pad", F_PAIR, pad, L(has_pad), 0)}},
    [NN_LAYER_GAP] = {"gap", "global_avgpool", "gap", 0, false, false, {{0}}},
    [NN_LAYER_BATCHNORM] = {"batchnorm", "bn", "batchnorm[:momentum=M][:eps=E]", 0, false,
                            false,
                            {{"momentum", F_NUM, L(arg), L(has_arg), 0, 1, false, true, true},
                             {"eps", F_NUM, ARG1, L(has_arg2), 0, INFINITY, true, true,
                              true}}},
    [NN_LAYER_FLATTEN] = {"flatten", NULL, "flatten", 0, false, false, {{0}}},
};
#undef L
#undef ARG1
#undef WIN

#define KNOWN_LAYERS "dense:N, conv:C,K, maxpool:K, avgpool:K, gap, batchnorm, flatten, " \
                     "relu, leaky_relu[:s], sigmoid, tanh, hardtanh[:lo:hi], sign, "        \
                     "identity, dropout[:p], softmax"

const char *nn_spec_kind_name(enum nn_layer_kind kind)
{
    return (int)kind >= 0 && kind < NN_LAYER_COUNT ? kinds[kind].name : "?";
}

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
    char why[400];
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
    return end != s && *end == '\0' && errno == 0 && isdigit((unsigned char)s[0]);
}

/* "K" or "KHxKW" into v[2], each in [lo, hi]. */
static bool parse_pair(const char *s, double lo, double hi, int64_t v[2])
{
    char buf[64];
    if (strlen(s) >= sizeof buf)
        return false;
    strcpy(buf, s);
    char *x = strchr(buf, 'x');
    if (x)
        *x = '\0';
    if (!parse_count(buf, &v[0]) || (x && !parse_count(x + 1, &v[1])))
        return false;
    if (!x)
        v[1] = v[0];
    return v[0] >= lo && v[0] <= hi && v[1] >= lo && v[1] <= hi;
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
    int64_t n, pair[2];
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
        if (v < f->lo || v > f->hi || (f->hi_open && v == f->hi) || (f->lo_open && v == f->lo))
            return terr(t, "%s %s is outside %s%g, %g%s (expected %s)", f->name, value,
                        f->lo_open ? "(" : "[", f->lo, f->hi, f->hi_open ? ")" : "]",
                        t->k->usage);
        memcpy(dst, &v, sizeof v);
        break;
    case F_PAD:
        if (strcmp(value, "same") == 0) {
            l->pad_same = true;
            memset(dst, 0, 2 * sizeof(int64_t));
            break;
        }
        /* fall through */
    case F_PAIR:
        if (!parse_pair(value, f->lo, f->hi, pair))
            return terr(t, "%s '%s' must be an integer N or a pair HxW, each from %.0f to "
                        "%.0f%s (expected %s)", f->name, value, f->lo, f->hi,
                        f->type == F_PAD ? ", or same" : "", t->k->usage);
        memcpy(dst, pair, sizeof pair);
        break;
    case F_BIAS:
        if (strcmp(value, "no") == 0 || strcmp(value, "none") == 0 ||
            strcmp(value, "false") == 0) {
            if (nnum > 0)
                return terr(t, "bias=%s takes no numbers (expected %s)", value, t->k->usage);
            l->no_bias = true;
            break; /* has_bias set below: the text keeps bias=no */
        }
        if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0) {
            if (nnum > 0)
                return terr(t, "bias=%s takes no numbers (expected %s)", value, t->k->usage);
            return NN_OK; /* the default: no flag, as if not given */
        }
        /* anything else is an initializer */
        {
            char why[256];
            struct nn_init probe;
            if (!nn_init_from_fields(value, nums, nnum, &probe, why, sizeof why))
                return terr(t, "bias=%s: it takes no, yes or an initializer (%s; expected "
                            "%s)", value, why, t->k->usage);
        }
        /* fall through */
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

static int field_count(const struct kdef *k)
{
    int n = 0;
    while (n < MAX_FIELDS && k->f[n].name)
        n++;
    return n;
}

static const struct fdef *field_named(const struct kdef *k, const char *name)
{
    for (int i = 0; i < field_count(k); i++)
        if (strcmp(k->f[i].name, name) == 0)
            return &k->f[i];
    return NULL;
}

static int positional_count(const struct kdef *k)
{
    int n = 0;
    while (n < MAX_FIELDS && k->f[n].name && !k->f[n].named)
        n++;
    return n;
}

/* Parses the fields after the kind: parts[0..n), split at ':' in place. */
static nn_status parse_fields(const struct tok *t, char **parts, int n, struct nn_layer *l)
{
    const struct kdef *k = t->k;
    int nf = field_count(k), npos = 0, npositional = positional_count(k);
    bool given[MAX_FIELDS] = {false};
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
        while ((f->type == F_INIT || f->type == F_BIAS) && i + 1 + nnum < n &&
               !strchr(parts[i + 1 + nnum], '='))
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

/* The checks of a window layer that need no shapes: the defaults filled
 * in, pad=same only where it keeps the size, pooling padding at most half
 * the kernel (as PyTorch requires), output channels in whole groups. */
static nn_status check_window(const struct tok *t, struct nn_layer *l)
{
    bool conv = l->kind == NN_LAYER_CONV;
    for (int a = 0; a < 2; a++) {
        if (!l->has_stride)
            l->stride[a] = conv ? 1 : l->kernel[a];
        if (!l->has_dil)
            l->dil[a] = 1;
        if (!l->has_pad)
            l->pad[a] = 0;
    }
    if (!l->has_groups)
        l->groups = 1;
    if (conv && l->pad_same) {
        if (l->stride[0] != 1 || l->stride[1] != 1)
            return terr(t, "pad=same needs stride 1 (as in PyTorch), not stride %lldx%lld",
                        (long long)l->stride[0], (long long)l->stride[1]);
        for (int a = 0; a < 2; a++) {
            int64_t span = l->dil[a] * (l->kernel[a] - 1);
            if (span % 2)
                return terr(t, "pad=same with kernel %lld and dilation %lld needs %lld "
                            "padding in all, which does not split evenly between the two "
                            "sides (use an odd kernel, or give pad=P)",
                            (long long)l->kernel[a], (long long)l->dil[a], (long long)span);
            l->pad[a] = span / 2;
        }
    }
    if (conv && l->units % l->groups)
        return terr(t, "its %lld output channels do not divide into %lld groups",
                    (long long)l->units, (long long)l->groups);
    if (!conv && (2 * l->pad[0] > l->kernel[0] || 2 * l->pad[1] > l->kernel[1]))
        return terr(t, "pad %lldx%lld is more than half the kernel %lldx%lld (as in PyTorch, "
                    "every window must hold an input element)", (long long)l->pad[0],
                    (long long)l->pad[1], (long long)l->kernel[0], (long long)l->kernel[1]);
    return NN_OK;
}

/* Parses one layer token (its fields joined by ':' in copy, which may be
 * split in place). */
static nn_status parse_layer(struct tok *t, char *copy, struct nn_layer *l)
{
    char *parts[24];
    int n = 0;
    parts[n++] = copy;
    for (char *p = copy; *p; p++)
        if (*p == ':') {
            if (n == 24)
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
    if (!t->k) {
        const char *names[2 * NN_LAYER_COUNT];
        for (int i = 0; i < NN_LAYER_COUNT; i++) {
            names[2 * i] = kinds[i].name;
            names[2 * i + 1] = kinds[i].alias;
        }
        const char *near = nn_nearest_name(parts[0], names, 2 * NN_LAYER_COUNT);
        if (near)
            return terr(t, "unknown layer '%s' (did you mean '%s'?)", parts[0], near);
    }
    if (!t->k)
        return terr(t, "unknown layer (" KNOWN_LAYERS "; after a comma, a piece that "
                    "starts with a digit or is NAME=VALUE continues the layer before it, "
                    "anything else starts a new layer)");
    nn_status st = parse_fields(t, parts + 1, n - 1, l);
    if (st == NN_OK && (l->kind == NN_LAYER_CONV || l->kind == NN_LAYER_MAXPOOL ||
                        l->kind == NN_LAYER_AVGPOOL))
        st = check_window(t, l);
    return st;
}

/* ---- tokens ------------------------------------------------------------- */

/* A run of text between blanks and commas, and the token it belongs to. */
struct piece {
    int start, len, tok;
};

static bool is_sep(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',';
}

/* Whether a piece that follows a comma continues the token before it: it
 * starts like a number or is NAME=VALUE. */
static bool continues(const char *p, int len)
{
    if (isdigit((unsigned char)p[0]) || p[0] == '-' || p[0] == '+' || p[0] == '.')
        return true;
    int i = 0;
    while (i < len && (isalnum((unsigned char)p[i]) || p[i] == '_'))
        i++;
    return i > 0 && i < len && p[i] == '=';
}

/* Splits text into pieces (into pc unless NULL) and groups them into
 * tokens: a piece starts a new token unless a comma precedes it (blanks
 * around the comma allowed) and it continues the one before. Returns the
 * number of pieces; *ntok receives the number of tokens. */
static int split(const char *text, struct piece *pc, int *ntok)
{
    int np = 0, nt = 0;
    bool comma = false;
    for (int i = 0; text[i];) {
        if (is_sep(text[i])) {
            comma |= text[i++] == ',';
            continue;
        }
        int s = i;
        while (text[i] && !is_sep(text[i]))
            i++;
        if (!(nt > 0 && comma && continues(text + s, i - s)))
            nt++;
        if (pc)
            pc[np] = (struct piece){s, i - s, nt - 1};
        np++;
        comma = false;
    }
    *ntok = nt;
    return np;
}

/* The first token: the input shape, N or CxHxW (after at least one layer). */
static nn_status parse_input(nn_ctx *ctx, const char *text, int nt, const char *tok_text,
                             int tok_len, const char *joined, struct nn_spec *s)
{
    if (nt < 2)
        return nn_fail(ctx, NN_ERR_INVALID,
                       "model spec '%s': needs an input shape and at least one layer, "
                       "e.g. \"784 dense:10 softmax\" or \"1x28x28 conv:8,5 relu flatten "
                       "dense:10\"", text);
    char buf[96];
    int n = 0;
    bool ok = strlen(joined) < sizeof buf;
    if (ok) {
        strcpy(buf, joined);
        for (char *p = buf, *x; ok && n < 4; p = x + 1) {
            x = strchr(p, 'x');
            if (x)
                *x = '\0';
            int64_t v = 0;
            ok = n < 3 && parse_count(p, &v) && v >= 1 && v <= (1 << 30);
            if (ok)
                s->in_dims[n++] = v;
            if (!x)
                break;
        }
    }
    int64_t prod = 1;
    for (int i = 0; ok && i < n; i++)
        ok = !__builtin_mul_overflow(prod, s->in_dims[i], &prod);
    if (!ok || (n != 1 && n != 3))
        return nn_fail(ctx, NN_ERR_INVALID, "model spec: token 1 '%.*s': the first token "
                       "must be the input shape: a number of features (e.g. 784) or an "
                       "image's CxHxW, channels x height x width (e.g. 1x28x28), each a "
                       "positive integer", tok_len, tok_text);
    s->in_ndim = n;
    s->inputs = prod;
    return NN_OK;
}

nn_status nn_spec_parse(nn_ctx *ctx, const char *text, struct nn_spec *out)
{
    *out = (struct nn_spec){0};
    if (!text)
        return nn_fail(ctx, NN_ERR_INVALID, "model spec: none given");
    int nt = 0, np = split(text, NULL, &nt);
    struct piece *pc = malloc((size_t)(np + 1) * sizeof *pc);
    char *copy = malloc(strlen(text) + 1); /* pieces joined by ':' never outgrow text */
    out->layers = calloc((size_t)(nt > 1 ? nt - 1 : 1), sizeof *out->layers);
    nn_status st = NN_OK;
    if (!pc || !copy || !out->layers)
        st = nn_fail(ctx, NN_ERR_NOMEM, "model spec: out of memory");
    if (st == NN_OK)
        split(text, pc, &nt);
    else
        nt = 0;
    if (st == NN_OK && nt < 2)
        st = parse_input(ctx, text, nt, text, 0, "", out);
    bool weights = false;
    for (int i = 0, p = 0; st == NN_OK && i < nt; i++) {
        int first = p;
        size_t k = 0;
        for (; p < np && pc[p].tok == i; p++) {
            if (k)
                copy[k++] = ':';
            memcpy(copy + k, text + pc[p].start, (size_t)pc[p].len);
            k += (size_t)pc[p].len;
        }
        copy[k] = '\0';
        int start = pc[first].start, len = pc[p - 1].start + pc[p - 1].len - start;
        if (i == 0) {
            st = parse_input(ctx, text, nt, text + start, len, copy, out);
            continue;
        }
        struct tok t = {ctx, text + start, len, i + 1, NULL};
        struct nn_layer *l = &out->layers[out->nlayers++];
        l->token = i + 1;
        l->start = start;
        l->len = len;
        st = parse_layer(&t, copy, l);
        if (st == NN_OK && t.k->last_only && i + 1 < nt)
            st = terr(&t, "%s must be the last layer", t.k->name);
        weights |= l->kind == NN_LAYER_DENSE || l->kind == NN_LAYER_CONV;
    }
    if (st == NN_OK && !weights)
        st = nn_fail(ctx, NN_ERR_INVALID, "model spec '%s': has no dense layer (nor a conv "
                     "layer): nothing to train", text);
    free(pc);
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

/* "5" or "5x3" */
static void pair_text(const int64_t *v, char *buf, size_t size)
{
    if (v[0] == v[1])
        snprintf(buf, size, "%lld", (long long)v[0]);
    else
        snprintf(buf, size, "%lldx%lld", (long long)v[0], (long long)v[1]);
}

/* One field's value as text. */
static void field_text(const struct fdef *f, const struct nn_layer *l, char *v, size_t size)
{
    const char *src = (const char *)l + f->off;
    int64_t count, pair[2];
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
    case F_PAD:
    case F_PAIR:
        memcpy(pair, src, sizeof pair);
        if (f->type == F_PAD && l->pad_same)
            snprintf(v, size, "same");
        else
            pair_text(pair, v, size);
        break;
    case F_BIAS:
        if (l->no_bias) {
            snprintf(v, size, "no");
            break;
        }
        /* fall through */
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
    append(buf, size, &n, "%lld", (long long)s->in_dims[0]);
    for (int i = 1; i < s->in_ndim; i++)
        append(buf, size, &n, "x%lld", (long long)s->in_dims[i]);
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
