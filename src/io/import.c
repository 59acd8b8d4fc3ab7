/*
 * import.c - PyTorch weights into a libnn model (nn_import_torch): builds
 * the model of a spec, decides which tensor of a state_dict saved as
 * safetensors fills which parameter or buffer (a map first, then the
 * file's order: its data order, or the natural module order when a
 * sorting writer lost the state_dict's, its top-level modules reordered
 * when exactly one order of them fits the shapes), checks every shape, converts
 * every dtype to float32 (dtype.c) and reports the first problem naming
 * the tensor, the parameter and both shapes. The rule is documented at
 * nn_import_torch in nn.h.
 */
#include "io.h"
#include "spec.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>

/* A tensor of the file. */
struct slot {
    const struct nn_st_view *v;
    int64_t offset; /* of its data in the data section */
    int index;      /* in header order */
    int param;      /* the parameter it fills, -1 none yet, -2 left out by the map */
};

/* What the import works on. */
struct job {
    nn_ctx *ctx;
    const char *path;
    nn_graph *g;
    int np, nt;
    struct slot *slots;    /* (nt) */
    struct slot **ord;     /* (nt) the file's order */
    int *tensor_of;        /* (np) slot index per parameter, -1 none */
    const char **by;       /* (np) how it was assigned */
    const char *order;     /* "file order" or "natural order" */
};

/* ---- messages ------------------------------------------------------------ */

static const char *shape_str(const int64_t *d, int ndim, char *buf, size_t n)
{
    size_t at = 0;
    int w = snprintf(buf, n, "(");
    at = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < ndim && at < n; i++) {
        w = snprintf(buf + at, n - at, "%s%lld", i ? ", " : "", (long long)d[i]);
        if (w < 0)
            break;
        at += (size_t)w;
    }
    if (at < n)
        snprintf(buf + at, n - at, ")");
    return buf;
}

/* Element i of a shape as "(3, 7)"; "()" for a scalar. */
static const char *index_str(int64_t i, const int64_t *d, int ndim, char *buf, size_t n)
{
    int64_t idx[16];
    int k = ndim < 16 ? ndim : 16;
    for (int j = k - 1; j >= 0; j--) {
        idx[j] = d[j] > 0 ? i % d[j] : 0;
        i = d[j] > 0 ? i / d[j] : 0;
    }
    return shape_str(idx, k, buf, n);
}

/* ---- the natural module order ------------------------------------------- */

/* Compares a[0..an) and b[0..bn) with runs of digits taken by their value
 * (leading zeros aside; equal values then by length), other bytes as
 * unsigned characters. */
static int natural_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t i = 0, j = 0;
    while (i < an && j < bn) {
        unsigned char ca = (unsigned char)a[i], cb = (unsigned char)b[j];
        if (isdigit(ca) && isdigit(cb)) {
            size_t i0 = i, j0 = j;
            while (i0 < an && a[i0] == '0')
                i0++;
            while (j0 < bn && b[j0] == '0')
                j0++;
            size_t ie = i0, je = j0;
            while (ie < an && isdigit((unsigned char)a[ie]))
                ie++;
            while (je < bn && isdigit((unsigned char)b[je]))
                je++;
            if (ie - i0 != je - j0) /* more significant digits: larger */
                return ie - i0 < je - j0 ? -1 : 1;
            int c = memcmp(a + i0, b + j0, ie - i0);
            if (c)
                return c < 0 ? -1 : 1;
            if (ie - i != je - j) /* "03" after "3" */
                return ie - i < je - j ? -1 : 1;
            i = ie;
            j = je;
            continue;
        }
        if (ca != cb)
            return ca < cb ? -1 : 1;
        i++;
        j++;
    }
    return (i < an) - (j < bn);
}

/* The rank of a state_dict attribute within its module. */
static int attr_rank(const char *a)
{
    static const char *const order[] = {"weight", "bias", "running_mean", "running_var",
                                        "num_batches_tracked"};
    for (int i = 0; i < 5; i++)
        if (strcmp(a, order[i]) == 0)
            return i;
    return 5;
}

/* Natural module order of two tensor names: module path component by
 * component (a parent before its children), then the attribute. */
int nn_import_name_cmp(const char *a, const char *b)
{
    const char *da = strrchr(a, '.'), *db = strrchr(b, '.');
    const char *pa = a, *pb = b;
    const char *ea = da ? da : a, *eb = db ? db : b; /* ends of the paths */
    while (pa < ea && pb < eb) {
        const char *ca = memchr(pa, '.', (size_t)(ea - pa)), *cb = memchr(pb, '.', (size_t)(eb - pb));
        if (!ca)
            ca = ea;
        if (!cb)
            cb = eb;
        int c = natural_cmp(pa, (size_t)(ca - pa), pb, (size_t)(cb - pb));
        if (c)
            return c;
        pa = ca < ea ? ca + 1 : ea;
        pb = cb < eb ? cb + 1 : eb;
    }
    if ((pa < ea) != (pb < eb)) /* one path is a prefix of the other */
        return pa < ea ? 1 : -1;
    const char *ta = da ? da + 1 : a, *tb = db ? db + 1 : b;
    int ra = attr_rank(ta), rb = attr_rank(tb);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    int c = natural_cmp(ta, strlen(ta), tb, strlen(tb));
    return c ? c : strcmp(a, b);
}

static int cmp_offset(const void *x, const void *y)
{
    const struct slot *a = *(const struct slot *const *)x, *b = *(const struct slot *const *)y;
    if (a->offset != b->offset)
        return a->offset < b->offset ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static int cmp_module(const void *x, const void *y)
{
    const struct slot *a = *(const struct slot *const *)x, *b = *(const struct slot *const *)y;
    return nn_import_name_cmp(a->v->name, b->v->name);
}

/* Whether tensors in data order ord[0..n) are what a sorting writer lays
 * out: dtypes in blocks, names in byte order within each block. */
static bool sorted_by_writer(struct slot *const *ord, int n)
{
    const char *done[16];
    int ndone = 0;
    for (int i = 1; i < n; i++) {
        const struct nn_st_view *p = ord[i - 1]->v, *c = ord[i]->v;
        if (strcmp(p->dtype, c->dtype) == 0) {
            if (strcmp(p->name, c->name) >= 0)
                return false;
            continue;
        }
        if (ndone < 16)
            done[ndone++] = p->dtype;
        for (int k = 0; k < ndone; k++)
            if (strcmp(done[k], c->dtype) == 0)
                return false; /* a dtype seen in an earlier block */
    }
    return n >= 2;
}

/* The file's order into j->ord (see nn_import_torch). */
static void file_order(struct job *j)
{
    for (int i = 0; i < j->nt; i++)
        j->ord[i] = &j->slots[i];
    qsort(j->ord, (size_t)j->nt, sizeof *j->ord, cmp_offset);
    j->order = "file order";
    if (sorted_by_writer(j->ord, j->nt)) {
        qsort(j->ord, (size_t)j->nt, sizeof *j->ord, cmp_module);
        j->order = "natural order";
    }
}

/* ---- the map ------------------------------------------------------------- */

static int find_param(const struct job *j, const char *name)
{
    for (int i = 0; i < j->np; i++)
        if (strcmp(j->g->params[i]->name, name) == 0)
            return i;
    return -1;
}

static int find_slot(const struct job *j, const char *name)
{
    for (int i = 0; i < j->nt; i++)
        if (strcmp(j->slots[i].v->name, name) == 0)
            return i;
    return -1;
}

/* The model's parameter names, "a, b, c" (shortened), for messages. */
static const char *param_list(const struct job *j, char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < j->np && at + 8 < n; i++) {
        int w = snprintf(buf + at, n - at, "%s%s", i ? ", " : "", j->g->params[i]->name);
        if (w < 0 || (size_t)w >= n - at) {
            snprintf(buf + (n > 5 ? n - 5 : 0), 5, "...");
            break;
        }
        at += (size_t)w;
    }
    return buf;
}

/* Assigns one map pair; where names it in messages ("map FILE line 3"). */
static nn_status map_pair(struct job *j, const char *param, const char *tensor,
                          const char *where)
{
    char list[400];
    int t = find_slot(j, tensor);
    if (t < 0)
        return nn_fail(j->ctx, NN_ERR_INVALID, "import %s: %s: tensor '%.100s' is not in the "
                       "file", j->path, where, tensor);
    struct slot *s = &j->slots[t];
    if (s->param != -1)
        return nn_fail(j->ctx, NN_ERR_INVALID, "import %s: %s: tensor '%.100s' is mapped "
                       "twice (also %s%.100s%s)", j->path, where, tensor,
                       s->param >= 0 ? "to '" : "", s->param >= 0 ?
                       j->g->params[s->param]->name : "left out", s->param >= 0 ? "'" : "");
    if (!param) {
        s->param = -2;
        return NN_OK;
    }
    int p = find_param(j, param);
    if (p < 0)
        return nn_fail(j->ctx, NN_ERR_INVALID, "import %s: %s: '%.100s' is not a parameter "
                       "of the model (its parameters and buffers: %s)", j->path, where, param,
                       param_list(j, list, sizeof list));
    if (j->tensor_of[p] >= 0)
        return nn_fail(j->ctx, NN_ERR_INVALID, "import %s: %s: parameter '%.100s' is mapped "
                       "twice (to '%.100s' and '%.100s')", j->path, where, param,
                       j->slots[j->tensor_of[p]].v->name, tensor);
    s->param = p;
    j->tensor_of[p] = t;
    j->by[p] = "map";
    return NN_OK;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Reads and assigns the pairs of a map file. */
static nn_status map_file(struct job *j, const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return nn_fail(j->ctx, NN_ERR_IO, "import: cannot open map file '%s': %s", file,
                       strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    nn_status st = NN_OK;
    for (int no = 1; st == NN_OK && getline(&line, &cap, f) >= 0; no++) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = trim(line);
        if (!*s)
            continue;
        char where[300];
        snprintf(where, sizeof where, "map file %.200s line %d", file, no);
        char *eq = strchr(s, '=');
        if (eq)
            *eq = '\0';
        char *lhs = trim(s), *rhs = eq ? trim(eq + 1) : NULL;
        if (!eq || !*lhs || !*rhs || strchr(rhs, '=') || strpbrk(lhs, " \t") ||
            strpbrk(rhs, " \t")) {
            st = nn_fail(j->ctx, NN_ERR_FORMAT, "import %s: %s: expected 'libnn_name = "
                         "torch_name' (or '- = torch_name'), got '%.100s%s%.100s'", j->path,
                         where, lhs, eq ? " = " : "", rhs ? rhs : "");
            break;
        }
        st = map_pair(j, strcmp(lhs, "-") == 0 ? NULL : lhs, rhs, where);
    }
    if (st == NN_OK && ferror(f))
        st = nn_fail(j->ctx, NN_ERR_IO, "import: cannot read map file '%s': %s", file,
                     strerror(errno));
    free(line);
    fclose(f);
    return st;
}

/* ---- filling the parameters ---------------------------------------------- */

static bool fits(const nn_node *p, const struct nn_st_view *v)
{
    if (v->ndim == 0) /* a scalar fills a (1) */
        return p->ndim == 1 && p->dim[0] == 1;
    if (v->ndim != p->ndim)
        return false;
    for (int i = 0; i < p->ndim; i++)
        if (v->dims[i] != p->dim[i])
            return false;
    return true;
}

/* The counts, for messages about assignments by order. */
static void counts(const struct job *j, char *buf, size_t n)
{
    snprintf(buf, n, "the file has %d tensor%s, the model %d parameter%s and buffers", j->nt,
             j->nt == 1 ? "" : "s", j->np, j->np == 1 ? "" : "s");
}

/* Checks that tensor t fits parameter i, and converts it into it. */
static nn_status fill(struct job *j, int i, int t)
{
    nn_node *p = j->g->params[i];
    const struct nn_st_view *v = j->slots[t].v;
    char ps[96], ts[96], why[160];
    counts(j, why, sizeof why);
    if (!fits(p, v))
        return nn_fail(j->ctx, NN_ERR_SHAPE, "import %s: parameter '%s' of shape %s does not "
                       "fit tensor '%.100s' of shape %s (assigned by %s; %s)", j->path,
                       p->name, shape_str(p->dim, p->ndim, ps, sizeof ps), v->name,
                       shape_str(v->dims, v->ndim, ts, sizeof ts), j->by[i], why);
    if (p->trainable && !nn_st_dtype_is_float(v->dtype))
        return nn_fail(j->ctx, NN_ERR_FORMAT, "import %s: tensor '%.100s' of dtype %s cannot "
                       "fill parameter '%s' (assigned by %s): a trainable parameter takes "
                       "F32, F64, F16 or BF16; integer tensors fill buffers only", j->path,
                       v->name, v->dtype, p->name, j->by[i]);
    if (!nn_st_to_f32(v, p->val))
        return nn_fail(j->ctx, NN_ERR_FORMAT, "import %s: tensor '%.100s' has dtype %s, which "
                       "does not convert to float32", j->path, v->name, v->dtype);
    for (int64_t k = 0; k < v->numel; k++)
        if (!isfinite(p->val[k])) {
            double x = nn_st_elem_f64(v, k);
            char at[96];
            index_str(k, v->dims, v->ndim, at, sizeof at);
            if (isfinite(x))
                return nn_fail(j->ctx, NN_ERR_NUMERIC, "import %s: tensor '%.100s' (%s) holds "
                               "%.17g at %s, beyond float32's range (parameter '%s')",
                               j->path, v->name, v->dtype, x, at, p->name);
            return nn_fail(j->ctx, NN_ERR_NUMERIC, "import %s: tensor '%.100s' (%s) holds %s "
                           "at %s: weights must be finite (parameter '%s')", j->path, v->name,
                           v->dtype, isnan(x) ? "nan" : x > 0 ? "inf" : "-inf", at, p->name);
        }
    return NN_OK;
}

/* Gives every parameter the map left open the next tensor in the file's
 * order, and fills them all; the first problem in the model's order is
 * the one reported, then a tensor left over. */
static nn_status assign(struct job *j)
{
    int next = 0;
    char ps[96], ts[96], why[160];
    counts(j, why, sizeof why);
    for (int i = 0; i < j->np; i++) {
        if (j->tensor_of[i] < 0) {
            while (next < j->nt && j->ord[next]->param != -1)
                next++;
            if (next == j->nt) {
                nn_node *p = j->g->params[i];
                return nn_fail(j->ctx, NN_ERR_SHAPE, "import %s: parameter '%s' of shape %s "
                               "has no tensor: every tensor of the file is taken (%s)",
                               j->path, p->name, shape_str(p->dim, p->ndim, ps, sizeof ps),
                               why);
            }
            struct slot *s = j->ord[next];
            s->param = i;
            j->tensor_of[i] = (int)(s - j->slots);
            j->by[i] = j->order;
        }
        nn_status st = fill(j, i, j->tensor_of[i]);
        if (st != NN_OK)
            return st;
    }
    for (int k = 0; k < j->nt; k++) {
        const struct slot *s = j->ord[k];
        if (s->param != -1)
            continue;
        int left = 0;
        for (int m = k; m < j->nt; m++)
            left += j->ord[m]->param == -1;
        return nn_fail(j->ctx, NN_ERR_SHAPE, "import %s: tensor '%.100s' of shape %s is "
                       "claimed by no parameter of the model (%d tensor%s left over; %s): "
                       "extend the model spec, or leave it out with '- = %.100s' in the map",
                       j->path, s->v->name, shape_str(s->v->dims, s->v->ndim, ts, sizeof ts),
                       left, left == 1 ? "" : "s", why, s->v->name);
    }
    return NN_OK;
}

/* ---- when the natural order does not fit ---------------------------------- */

#define MAX_TOP 6 /* top-level modules whose orders are tried (720 orders) */

/* Whether the parameters the map left open, given the tensors of ord in
 * turn, all fit (the map's own pairs too). */
static bool order_fits(const struct job *j, struct slot *const *ord)
{
    int next = 0;
    for (int i = 0; i < j->np; i++) {
        const nn_node *p = j->g->params[i];
        const struct nn_st_view *v;
        if (j->tensor_of[i] >= 0) {
            v = j->slots[j->tensor_of[i]].v;
        } else {
            while (next < j->nt && ord[next]->param != -1)
                next++;
            if (next == j->nt)
                return false;
            v = ord[next++]->v;
        }
        if (!fits(p, v) || (p->trainable && !nn_st_dtype_is_float(v->dtype)))
            return false;
    }
    return true;
}

/* The length of a name's first component ("features" of
 * "features.0.weight"). */
static size_t top_len(const char *name)
{
    const char *dot = strchr(name, '.');
    return dot ? (size_t)(dot - name) : strlen(name);
}

/* ord[0..n) in the order of the top-level modules perm[] names (group k is
 * ord[start[k] .. start[k + 1])) into out. */
static void arrange(struct slot *const *ord, const int *start, const int *perm, int ng,
                    struct slot **out)
{
    int at = 0;
    for (int k = 0; k < ng; k++)
        for (int i = start[perm[k]]; i < start[perm[k] + 1]; i++)
            out[at++] = ord[i];
}

/* The names of the top-level modules in the order perm gives, for messages. */
static const char *top_names(struct slot *const *ord, const int *start, const int *perm,
                             int ng, char *buf, size_t n)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int k = 0; k < ng && at < n; k++) {
        const char *name = ord[start[perm[k]]]->v->name;
        int w = snprintf(buf + at, n - at, "%s%.*s", k ? " " : "", (int)top_len(name), name);
        if (w < 0)
            break;
        at += (size_t)w;
    }
    return buf;
}

/* Steps perm[0..n) to the next permutation in lexicographic order; false
 * after the last. */
static bool next_perm(int *perm, int n)
{
    int i = n - 2;
    while (i >= 0 && perm[i] >= perm[i + 1])
        i--;
    if (i < 0)
        return false;
    int k = n - 1;
    while (perm[k] <= perm[i])
        k--;
    int t = perm[i];
    perm[i] = perm[k], perm[k] = t;
    for (int a = i + 1, b = n - 1; a < b; a++, b--)
        t = perm[a], perm[a] = perm[b], perm[b] = t;
    return true;
}

/* A sorting writer loses the order of the top-level modules as well: the
 * natural order puts torchvision's classifier before its features, bn1
 * before conv1. When the natural order leaves a shape that does not fit,
 * every other order of the top-level modules (the natural order's runs of
 * one first name component, at most MAX_TOP of them) is tried; the one
 * under which every shape fits is taken. None: the natural order stands
 * and assign() reports its first misfit. Several: an error naming two of
 * them, for only a map can tell. */
static nn_status top_level_by_shape(struct job *j)
{
    if (strcmp(j->order, "natural order") != 0 || order_fits(j, j->ord))
        return NN_OK;
    int start[MAX_TOP + 1], ng = 0;
    for (int i = 0; i < j->nt; i++) {
        const char *a = j->ord[i]->v->name;
        const char *b = i ? j->ord[i - 1]->v->name : NULL;
        size_t la = top_len(a);
        if (b && top_len(b) == la && memcmp(a, b, la) == 0)
            continue;
        if (ng == MAX_TOP)
            return NN_OK; /* too many to try */
        start[ng++] = i;
    }
    start[ng] = j->nt;
    if (ng < 2)
        return NN_OK;
    struct slot **trial = malloc((size_t)j->nt * sizeof *trial);
    if (!trial)
        return nn_fail(j->ctx, NN_ERR_NOMEM, "import %s: out of memory", j->path);
    int perm[MAX_TOP], found[2][MAX_TOP], nfound = 0;
    for (int k = 0; k < ng; k++)
        perm[k] = k;
    while (next_perm(perm, ng)) { /* the identity, first, is known not to fit */
        arrange(j->ord, start, perm, ng, trial);
        if (!order_fits(j, trial))
            continue;
        if (nfound < 2)
            memcpy(found[nfound], perm, sizeof perm);
        nfound++;
    }
    nn_status st = NN_OK;
    if (nfound == 1) {
        arrange(j->ord, start, found[0], ng, trial);
        memcpy(j->ord, trial, (size_t)j->nt * sizeof *trial);
        j->order = "natural order, modules by shape";
    } else if (nfound > 1) {
        char a[200], b[200];
        st = nn_fail(j->ctx, NN_ERR_SHAPE, "import %s: the file's tensors are sorted by name, "
                     "which loses the order of its top-level modules, and %d orders of them "
                     "fit the model's shapes (%s; %s%s): give a map saying which tensor fills "
                     "which parameter", j->path, nfound,
                     top_names(j->ord, start, found[0], ng, a, sizeof a),
                     top_names(j->ord, start, found[1], ng, b, sizeof b),
                     nfound > 2 ? "; ..." : "");
    }
    free(trial);
    return st;
}

/* ---- the model ---------------------------------------------------------- */

/* The loss for NN_LOSS_AUTO: bce after a final sigmoid, else cross-entropy. */
static nn_status resolve_loss(nn_ctx *ctx, const char *spec, nn_loss_kind *lk)
{
    if (*lk != NN_LOSS_AUTO)
        return NN_OK;
    struct nn_spec s;
    nn_status st = nn_spec_parse(ctx, spec, &s);
    if (st == NN_OK)
        *lk = s.nlayers > 0 && s.layers[s.nlayers - 1].kind == NN_LAYER_SIGMOID
                  ? NN_LOSS_SIGMOID_BCE
                  : NN_LOSS_SOFTMAX_CE;
    nn_spec_free(&s);
    return st;
}

static nn_status build_model(nn_ctx *ctx, const char *spec, const struct nn_import_cfg *c,
                             nn_model **m)
{
    struct nn_model_cfg mc = {.max_batch = c->max_batch, .loss = c->loss};
    nn_status st = resolve_loss(ctx, spec, &mc.loss);
    if (st == NN_OK) {
        uint64_t rng[4];
        nn_ctx_rng_get(ctx, rng); /* the weights drawn here are all replaced */
        *m = nn_model_new(ctx, spec, &mc);
        nn_ctx_rng_set(ctx, rng);
        if (!*m)
            st = NN_ERR_INVALID;
    }
    if (st != NN_OK) {
        char why[400];
        snprintf(why, sizeof why, "%s", nn_ctx_error(ctx));
        st = nn_fail(ctx, st == NN_ERR_NOMEM ? st : NN_ERR_INVALID, "import: the model spec "
                     "does not build: %s", why);
    }
    return st;
}

static void report(const struct job *j, const struct nn_import_cfg *c)
{
    for (int i = 0; c->on_assign && i < j->np; i++) {
        const nn_node *p = j->g->params[i];
        const struct nn_st_view *v = j->slots[j->tensor_of[i]].v;
        struct nn_import_info a = {p->name, p->ndim, p->dim, p->trainable, v->name, v->dtype,
                                   j->by[i]};
        c->on_assign(&a, c->user);
    }
}

nn_status nn_import_torch(nn_ctx *ctx, const char *path, const char *spec,
                          const struct nn_import_cfg *cfg, nn_model **out)
{
    if (!out)
        return nn_fail(ctx, NN_ERR_INVALID, "import: no place for the model (out is NULL)");
    *out = NULL;
    if (!path || !spec)
        return nn_fail(ctx, NN_ERR_INVALID, "import: no %s given", path ? "model spec" : "file");
    struct nn_import_cfg c = cfg ? *cfg : (struct nn_import_cfg){0};
    if (c.nmap < 0 || (c.nmap > 0 && !c.map))
        return nn_fail(ctx, NN_ERR_INVALID, "import: bad map (%d pairs)", c.nmap);
    FILE *f = fopen(path, "rb"); /* to tell a missing file from a bad one */
    if (!f)
        return nn_fail(ctx, NN_ERR_IO, "import: cannot open '%s': %s", path, strerror(errno));
    fclose(f);
    nn_safetensors *st = nn_safetensors_open(ctx, path);
    if (!st)
        return NN_ERR_FORMAT; /* the reader's message names the file and the problem */
    nn_model *m = NULL;
    struct job j = {.ctx = ctx, .path = path};
    nn_status s = build_model(ctx, spec, &c, &m);
    if (s != NN_OK)
        goto done;
    j.g = nn_model_graph(m);
    j.np = j.g->nparams;
    j.nt = nn_safetensors_count(st);
    j.slots = calloc((size_t)j.nt + 1, sizeof *j.slots);
    j.ord = calloc((size_t)j.nt + 1, sizeof *j.ord);
    j.tensor_of = malloc(((size_t)j.np + 1) * sizeof *j.tensor_of);
    j.by = calloc((size_t)j.np + 1, sizeof *j.by);
    if (!j.slots || !j.ord || !j.tensor_of || !j.by) {
        s = nn_fail(ctx, NN_ERR_NOMEM, "import %s: out of memory", path);
        goto done;
    }
    for (int i = 0; i < j.nt; i++)
        j.slots[i] = (struct slot){nn_safetensors_at(st, i), nn_st_offset(st, i), i, -1};
    for (int i = 0; i < j.np; i++)
        j.tensor_of[i] = -1;
    file_order(&j);
    if (c.map_file && (s = map_file(&j, c.map_file)) != NN_OK)
        goto done;
    for (int i = 0; i < c.nmap; i++) {
        char where[48];
        snprintf(where, sizeof where, "map pair %d", i);
        if (!c.map[i].tensor) {
            s = nn_fail(ctx, NN_ERR_INVALID, "import %s: %s has no tensor name", path, where);
            goto done;
        }
        if ((s = map_pair(&j, c.map[i].param, c.map[i].tensor, where)) != NN_OK)
            goto done;
    }
    if ((s = top_level_by_shape(&j)) != NN_OK || (s = assign(&j)) != NN_OK)
        goto done;
    report(&j, &c);
    *out = m;
    m = NULL;
done:
    nn_model_free(m);
    free(j.slots);
    free(j.ord);
    free(j.tensor_of);
    free(j.by);
    nn_safetensors_close(st);
    return s;
}
