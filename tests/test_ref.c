/*
 * test_ref.c - libnn against PyTorch. tests/ref/gen.py (Debian's
 * python3-torch 1.13) writes one fixture per op case, plus a 3-layer
 * network, under tests/ref/ops/: the leaves, the forward output, a random
 * upstream gradient ("seed") and the gradient of every leaf under that seed,
 * all computed by torch autograd in float64 from float32 leaves and stored
 * as float32 (the format is described in gen.py and read below). For each
 * case this file builds the same graph with the public API, runs nn_forward
 * and nn_backward_seeded, and compares.
 *
 * Tolerance: |libnn - torch| <= atol + rtol |torch| per element, with
 * rtol 1e-5 and atol 1e-6 for every case, the network included. The
 * reference is the float64 result rounded once (relative error <= 6e-8),
 * so this leaves libnn's float32 arithmetic about 80 ulps, or 1e-6 absolute
 * for values that come out of cancellation (softmax backward, sums of mixed
 * signs). Measured (NN_REF_VERBOSE=1 prints each case): at most 11% of that
 * allowance on any op case (softmax_3d, log_softmax), under 1% on the
 * network. An error the GEMM backend or a reordered sum could not explain
 * (a wrong formula, a missed broadcast row) is orders of magnitude larger.
 *
 * tests/ref/gen_conv.py writes the convolutional ops' cases the same way
 * under tests/ref/conv/: conv2d (non-square inputs and kernels, stride 2,
 * padding, dilation, groups, depthwise, 1x1, batches of 2 to 9), max and
 * average pooling (windows that do not divide the input, padding,
 * overlapping and rectangular windows), global average pooling, reshape,
 * and batch norm 1-D and 2-D in training mode (whose running statistics
 * after the pass, "after:NAME", are compared too) and evaluation mode. The
 * same tolerance holds for them: at most 45% of it used (conv2d_same_5x5,
 * whose weight gradient sums 9 x 36 products per element), batch norm 5%
 * (its sums run in double), pooling under 2%.
 *
 * Convolutions add an allowance for cancellation: each of their outputs
 * and gradients is a sum of products, and float32 cannot compute a sum to
 * better than about u sum|terms| (u = 2^-24), however small the sum. In
 * conv2d_same_5x5 one weight gradient, -0.0767, is the sum of 324 terms
 * whose magnitudes add up to 127.5: oneDNN's kernel (8 images per call)
 * lands 1.8e-6 from torch's float64 result, just over ATOL + RTOL |torch|,
 * though within 0.24 u sum|terms|. So for conv2d the tolerance is ATOL +
 * RTOL |torch| + 2 u sum|terms|, with sum|terms| from the same graph run on
 * the absolute values of the leaves and the seed (exact for an op linear
 * in each leaf). A wrong or missing term costs about a term's size,
 * hundreds of times more.
 *
 * A missing or unreadable fixture fails its case, and a test walks the op
 * table so that every op except dropout (random, tested in test_graph.c)
 * must have a fixture.

 */
#include "test.h"

#include <dirent.h>

#define RTOL 1e-5
#define ATOL 1e-6
#define MAG_U (2.0 / 16777216.0) /* 2 u: the cancellation allowance per sum|terms| */

/* ---- the fixture reader ------------------------------------------------- */

#define REF_MAX_ARRAYS 32
#define REF_MAX_BYTES (1 << 20)

struct ref_array {
    char name[64];
    int ndim;
    int64_t dim[NN_MAX_DIMS];
    int64_t numel;
    float *data; /* (numel), owned */
};

struct ref_file {
    int n;
    struct ref_array a[REF_MAX_ARRAYS];
};

static uint32_t rd_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static int64_t rd_i64(const unsigned char *p)
{
    uint64_t v = rd_u32(p) | (uint64_t)rd_u32(p + 4) << 32;
    return (int64_t)v;
}

static void ref_free(struct ref_file *f)
{
    for (int i = 0; i < f->n; i++)
        free(f->a[i].data);
    f->n = 0;
}

/* Parses a fixture held in memory. On error returns false with a message
 * in err; f holds nothing then. */
static bool ref_parse(const unsigned char *b, size_t len, struct ref_file *f, char *err,
                      size_t errlen)
{
    size_t o = 0;
    f->n = 0;
#define NEED(k, what)                                                         \
    do {                                                                      \
        if (len - o < (size_t)(k)) {                                          \
            snprintf(err, errlen, "truncated at byte %zu reading %s", o, what); \
            goto bad;                                                         \
        }                                                                     \
    } while (0)
    NEED(12, "the header");
    if (memcmp(b, "NNREF01\n", 8) != 0) {
        snprintf(err, errlen, "bad magic (expected NNREF01)");
        goto bad;
    }
    uint32_t count = rd_u32(b + 8);
    o = 12;
    if (count > REF_MAX_ARRAYS) {
        snprintf(err, errlen, "%u arrays, at most %d supported", count, REF_MAX_ARRAYS);
        goto bad;
    }
    for (uint32_t k = 0; k < count; k++) {
        struct ref_array *a = &f->a[f->n];
        NEED(4, "a name length");
        uint32_t nl = rd_u32(b + o);
        o += 4;
        if (nl == 0 || nl >= sizeof a->name) {
            snprintf(err, errlen, "array %u: name length %u, expected 1 to %zu", k, nl,
                     sizeof a->name - 1);
            goto bad;
        }
        NEED(nl, "a name");
        memcpy(a->name, b + o, nl);
        a->name[nl] = '\0';
        o += nl;
        NEED(4, "ndim");
        uint32_t nd = rd_u32(b + o);
        o += 4;
        if (nd > NN_MAX_DIMS) {
            snprintf(err, errlen, "array '%s': ndim %u, expected at most %d", a->name, nd,
                     NN_MAX_DIMS);
            goto bad;
        }
        a->ndim = (int)nd;
        NEED(8 * nd, "dims");
        a->numel = 1;
        for (uint32_t d = 0; d < nd; d++, o += 8) {
            a->dim[d] = rd_i64(b + o);
            if (a->dim[d] < 0 || a->dim[d] > REF_MAX_BYTES) {
                snprintf(err, errlen, "array '%s': dimension %u is %lld", a->name, d,
                         (long long)a->dim[d]);
                goto bad;
            }
            a->numel *= a->dim[d];
            if (a->numel > REF_MAX_BYTES) {
                snprintf(err, errlen, "array '%s' is too large", a->name);
                goto bad;
            }
        }
        NEED(4 * a->numel, "data");
        a->data = malloc((size_t)(a->numel ? a->numel : 1) * sizeof(float));
        if (!a->data) {
            snprintf(err, errlen, "out of memory");
            goto bad;
        }
        for (int64_t i = 0; i < a->numel; i++, o += 4) {
            uint32_t u = rd_u32(b + o);
            memcpy(&a->data[i], &u, sizeof u);
        }
        f->n++;
    }
    if (o != len) {
        snprintf(err, errlen, "%zu bytes after the last array", len - o);
        goto bad;
    }
    return true;
#undef NEED
bad:
    ref_free(f);
    return false;
}

/* Reads tests/<rel>; false with a message in err if missing or corrupt. */
static bool ref_load(const char *rel, struct ref_file *f, char *err, size_t errlen)
{
    const char *path = nn_test_path(rel);
    f->n = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot open (run tests/ref/gen.py?)", path);
        return false;
    }
    unsigned char *buf = malloc(REF_MAX_BYTES + 1);
    size_t len = buf ? fread(buf, 1, REF_MAX_BYTES + 1, fp) : 0;
    bool rerr = ferror(fp);
    fclose(fp);
    bool ok = false;
    if (!buf)
        snprintf(err, errlen, "%s: out of memory", path);
    else if (rerr)
        snprintf(err, errlen, "%s: read error", path);
    else if (len > REF_MAX_BYTES)
        snprintf(err, errlen, "%s: larger than %d bytes", path, REF_MAX_BYTES);
    else {
        char why[200];
        ok = ref_parse(buf, len, f, why, sizeof why);
        if (!ok)
            snprintf(err, errlen, "%s: %s", path, why);
    }
    free(buf);
    return ok;
}

static struct ref_array *ref_get(struct ref_file *f, const char *name)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->a[i].name, name) == 0)
            return &f->a[i];
    return NULL;
}

/* ---- the cases ---------------------------------------------------------- */

struct ref_case {
    const char *file; /* tests/ref/<dir>/<file>.bin */
    const char *op;   /* the op under test (a name from the op table), or "net3" */
    const char *dir;  /* "ops" (gen.py) when NULL, or "conv" (gen_conv.py) */
};

static const struct ref_case cases[] = {
    {"matmul", "matmul", NULL}, {"matmul_tb", "matmul", NULL},
    {"matmul_const_b", "matmul", NULL}, {"matmul_params", "matmul", NULL},
    {"add", "add", NULL}, {"add_bias", "add", NULL}, {"add_bias_left", "add", NULL},
    {"add_bias_3d", "add", NULL}, {"add_scalar", "add", NULL}, {"sub", "sub", NULL},
    {"sub_bias", "sub", NULL}, {"sub_bias_left", "sub", NULL}, {"sub_bias_3d", "sub", NULL},
    {"sub_scalar", "sub", NULL}, {"mul", "mul", NULL}, {"mul_bias", "mul", NULL},
    {"mul_bias_left", "mul", NULL}, {"mul_bias_3d", "mul", NULL},
    {"mul_scalar", "mul", NULL}, {"scale", "scale", NULL}, {"sum", "sum", NULL},
    {"mean", "mean", NULL}, {"sum_axis_0", "sum_axis", NULL},
    {"sum_axis_1", "sum_axis", NULL}, {"sum_axis_2", "sum_axis", NULL},
    {"sum_axis_m1", "sum_axis", NULL}, {"sum_axis_param", "sum_axis", NULL},
    {"mean_axis_0", "mean_axis", NULL}, {"mean_axis_1", "mean_axis", NULL},
    {"mean_axis_2", "mean_axis", NULL}, {"mean_axis_m1", "mean_axis", NULL},
    {"mean_axis_param", "mean_axis", NULL}, {"relu", "relu", NULL},
    {"leaky_relu", "leaky_relu", NULL}, {"sigmoid", "sigmoid", NULL},
    {"tanh", "tanh", NULL}, {"hardtanh", "hardtanh", NULL}, {"sign", "sign", NULL},
    {"identity", "identity", NULL}, {"exp", "exp", NULL}, {"log", "log", NULL},
    {"square", "square", NULL}, {"abs", "abs", NULL}, {"softmax", "softmax", NULL},
    {"softmax_3d", "softmax", NULL}, {"log_softmax", "log_softmax", NULL},
    {"log_softmax_3d", "log_softmax", NULL},
    {"softmax_cross_entropy", "softmax_cross_entropy", NULL},
    {"sigmoid_bce", "sigmoid_bce", NULL}, {"bce", "bce", NULL},
    {"bce_const_target", "bce", NULL}, {"mse", "mse", NULL},
    {"mse_const_target", "mse", NULL}, {"net3", "net3", NULL},
    /* gen_conv.py */
#define CV(file, op) {file, op, "conv"}
    CV("conv2d_basic", "conv2d"), CV("conv2d_stride2_pad", "conv2d"),
    CV("conv2d_dilation", "conv2d"), CV("conv2d_groups", "conv2d"),
    CV("conv2d_depthwise", "conv2d"), CV("conv2d_1x1", "conv2d"),
    CV("conv2d_same_5x5", "conv2d"), CV("conv2d_stride_exceeds_kernel", "conv2d"),
    CV("maxpool_2x2", "maxpool2d"), CV("maxpool_nondiv", "maxpool2d"),
    CV("maxpool_pad", "maxpool2d"), CV("maxpool_overlap", "maxpool2d"),
    CV("maxpool_rect_pad", "maxpool2d"),
    CV("avgpool_2x2", "avgpool2d"), CV("avgpool_nondiv", "avgpool2d"),
    CV("avgpool_pad", "avgpool2d"), CV("avgpool_overlap", "avgpool2d"),
    CV("avgpool_rect_pad", "avgpool2d"),
    CV("global_avgpool", "global_avgpool"), CV("global_avgpool_1x1", "global_avgpool"),
    CV("reshape_flatten", "reshape"), CV("reshape_to_image", "reshape"),
    CV("batchnorm2d_train", "batchnorm"), CV("batchnorm2d_eval", "batchnorm"),
    CV("batchnorm1d_train", "batchnorm"), CV("batchnorm1d_eval", "batchnorm"),
    CV("batchnorm1d_train_ncl", "batchnorm"), CV("batchnorm1d_train_batch2", "batchnorm"),
#undef CV
};
static const char *const ref_dirs[] = {"ops", "conv"};

static const char *case_dir(const struct ref_case *c) { return c->dir ? c->dir : "ops"; }
#define NCASES (sizeof cases / sizeof cases[0])

struct unary_fn {
    const char *op;
    nn_node *(*fn)(nn_graph *, nn_node *);
};
static const struct unary_fn unary_fns[] = {
    {"relu", nn_relu}, {"sigmoid", nn_sigmoid}, {"tanh", nn_tanh}, {"sign", nn_sign},
    {"identity", nn_identity}, {"exp", nn_exp}, {"log", nn_log}, {"square", nn_square},
    {"abs", nn_abs}, {"softmax", nn_softmax}, {"log_softmax", nn_log_softmax},
    {"sum", nn_sum}, {"mean", nn_mean},
};

struct binary_fn {
    const char *op;
    nn_node *(*fn)(nn_graph *, nn_node *, nn_node *);
};
static const struct binary_fn binary_fns[] = {
    {"add", nn_add}, {"sub", nn_sub}, {"mul", nn_mul},
    {"softmax_cross_entropy", nn_softmax_cross_entropy},
    {"sigmoid_bce", nn_sigmoid_bce}, {"bce", nn_bce}, {"mse", nn_mse},
};

/* dense(x) = x W^T + b, torch.nn.Linear's layout: W (out, in), b (out). */
static nn_node *dense(nn_graph *g, nn_node *x, nn_node *W, nn_node *b)
{
    return nn_add(g, nn_matmul(g, x, W, true), b);
}

/* The case's graph on its leaves (in file order); NULL if the op is unknown
 * or the leaves do not fit it. */
static nn_node *build(nn_graph *g, const char *op, nn_node **L, int nl,
                      const struct ref_array *attr)
{
    float a0 = attr && attr->numel > 0 ? attr->data[0] : 0.0f;
    float a1 = attr && attr->numel > 1 ? attr->data[1] : 0.0f;
    for (size_t i = 0; i < sizeof unary_fns / sizeof unary_fns[0]; i++)
        if (strcmp(op, unary_fns[i].op) == 0 && nl == 1)
            return unary_fns[i].fn(g, L[0]);
    for (size_t i = 0; i < sizeof binary_fns / sizeof binary_fns[0]; i++)
        if (strcmp(op, binary_fns[i].op) == 0 && nl == 2)
            return binary_fns[i].fn(g, L[0], L[1]);
    if (strcmp(op, "matmul") == 0 && nl == 2 && attr)
        return nn_matmul(g, L[0], L[1], a0 != 0.0f);
    if (strcmp(op, "scale") == 0 && nl == 1 && attr)
        return nn_scale(g, L[0], a0);
    if (strcmp(op, "sum_axis") == 0 && nl == 1 && attr)
        return nn_sum_axis(g, L[0], (int)a0);
    if (strcmp(op, "mean_axis") == 0 && nl == 1 && attr)
        return nn_mean_axis(g, L[0], (int)a0);
    if (strcmp(op, "leaky_relu") == 0 && nl == 1 && attr)
        return nn_leaky_relu(g, L[0], a0);
    if (strcmp(op, "hardtanh") == 0 && nl == 1 && attr && attr->numel == 2)
        return nn_hardtanh(g, L[0], a0, a1);
    if (strcmp(op, "conv2d") == 0 && (nl == 2 || nl == 3) && attr && attr->numel == 7) {
        const float *a = attr->data;
        struct nn_conv2d_cfg c = {NULL, (int)a[0], (int)a[1], (int)a[2], (int)a[3],
                                  (int)a[4], (int)a[5], (int)a[6]};
        return nn_conv2d(g, L[0], L[1], nl == 3 ? L[2] : NULL, &c);
    }
    if ((strcmp(op, "maxpool2d") == 0 || strcmp(op, "avgpool2d") == 0) && nl == 1 && attr &&
        attr->numel == 6) {
        const float *a = attr->data;
        struct nn_pool2d_cfg c = {NULL, (int)a[0], (int)a[1], (int)a[2], (int)a[3], (int)a[4],
                                  (int)a[5]};
        return op[0] == 'm' ? nn_maxpool2d(g, L[0], &c) : nn_avgpool2d(g, L[0], &c);
    }
    if (strcmp(op, "global_avgpool") == 0 && nl == 1)
        return nn_global_avgpool(g, L[0]);
    if (strcmp(op, "reshape") == 0 && nl == 1 && attr && attr->numel <= NN_MAX_DIMS) {
        int64_t d[NN_MAX_DIMS];
        for (int64_t i = 0; i < attr->numel; i++)
            d[i] = (int64_t)attr->data[i];
        if (attr->numel == 1 && d[0] == -1)
            return nn_flatten(g, L[0]);
        return nn_reshape(g, L[0], (int)attr->numel, d);
    }
    if (strcmp(op, "batchnorm") == 0 && nl == 6 && attr && attr->numel == 3) {
        nn_graph_set_training(g, attr->data[2] != 0.0f);
        struct nn_batchnorm_cfg c = {NULL, attr->data[0], attr->data[1]};
        return nn_batchnorm(g, L[0], L[1], L[2], L[3], L[4], L[5], &c);
    }
    if (strcmp(op, "net3") == 0 && nl == 8) {
        /* x, W1, b1, W2, b2, W3, b3, y */
        nn_node *h1 = nn_tanh(g, dense(g, L[0], L[1], L[2]));
        nn_node *h2 = nn_relu(g, dense(g, h1, L[3], L[4]));
        return nn_softmax_cross_entropy(g, dense(g, h2, L[5], L[6]), L[7]);
    }
    return NULL;
}

/* ---- running and comparing ---------------------------------------------- */

struct ref_stats {
    double max_abs;   /* max |libnn - torch| */
    double max_rel;   /* max |libnn - torch| / |torch| over |torch| >= 1e-3 */
    double max_usage; /* max |libnn - torch| / (atol + rtol |torch|); <= 1 passes */
};

/* Compares got[0..n) with want; on the first element past tolerance writes
 * a message and returns false. Updates the statistics either way. mag, if
 * given, holds each element's sum|terms| (the cancellation allowance). */
static bool compare(const char *file, const char *what, const float *got,
                    const struct ref_array *want, double rtol, double atol,
                    const float *mag, struct ref_stats *st, char *err, size_t errlen)
{
    bool ok = true;
    for (int64_t i = 0; i < want->numel; i++) {
        double a = got[i], b = want->data[i], d = fabs(a - b);
        double usage = d / (atol + rtol * fabs(b) + (mag ? MAG_U * mag[i] : 0));
        if (d > st->max_abs)
            st->max_abs = d;
        if (fabs(b) >= 1e-3 && d / fabs(b) > st->max_rel)
            st->max_rel = d / fabs(b);
        if (!(usage <= st->max_usage))
            st->max_usage = usage; /* NaN lands here too */
        if (ok && !(usage <= 1.0)) {
            snprintf(err, errlen, "%s: %s[%lld] = %.9g, torch %.9g (rtol %g, atol %g)", file,
                     what, (long long)i, a, b, rtol, atol);
            ok = false;
        }
    }
    return ok;
}

static bool same_shape(const nn_node *n, const struct ref_array *a)
{
    if (nn_node_ndim(n) != a->ndim)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (nn_node_dim(n, d) != a->dim[d])
            return false;
    return true;
}

#define FAIL_CASE(...)                                                        \
    do {                                                                      \
        snprintf(err, errlen, __VA_ARGS__);                                   \
        goto done;                                                            \
    } while (0)

/* Sets the parameters and buffers and feeds the inputs and labels of a
 * case, with absval their absolute values (labels as they are). */
static bool feed_leaves(const struct ref_case *c, nn_graph *g, nn_node *const *leaf,
                        struct ref_array *const *leaf_arr, int nl, bool absval, char *err,
                        size_t errlen)
{
    nn_ctx *ctx = nn_graph_ctx(g);
    for (int i = 0; i < nl; i++) {
        struct ref_array *a = leaf_arr[i];
        nn_status s = NN_OK;
        float *dst = NULL;
        if (a->name[0] == 'p' || a->name[0] == 'b') {
            dst = nn_value_mut(leaf[i]);
            memcpy(dst, a->data, (size_t)a->numel * sizeof(float));
        } else if (a->name[0] == 'l') {
            int32_t y[64];
            if (a->numel > 64) {
                snprintf(err, errlen, "%s: too many labels", c->file);
                return false;
            }
            for (int64_t k = 0; k < a->numel; k++) {
                y[k] = (int32_t)a->data[k];
                if ((float)y[k] != a->data[k]) {
                    snprintf(err, errlen, "%s: label %g is not an integer", c->file,
                             (double)a->data[k]);
                    return false;
                }
            }
            s = nn_feed_labels(g, leaf[i], y, a->numel);
        } else if (a->name[0] != 'c') {
            s = nn_feed(g, leaf[i], a->data, a->dim[0]);
            dst = nn_input_buffer(g, leaf[i]);
        }
        if (s != NN_OK) {
            snprintf(err, errlen, "%s: feeding '%s' failed: %s", c->file, a->name,
                     nn_ctx_error(ctx));
            return false;
        }
        for (int64_t k = 0; absval && dst && k < a->numel; k++)
            dst[k] = fabsf(dst[k]);
    }
    return true;
}

/* Builds, runs and checks one loaded case. Returns true if everything is
 * within tolerance, else false with the first problem in err. */
static bool run_loaded(const struct ref_case *c, struct ref_file *f, struct ref_stats *st,
                       char *err, size_t errlen)
{
    memset(st, 0, sizeof *st);
    bool ok = false, is_net = strcmp(c->op, "net3") == 0;
    const double rtol = RTOL, atol = ATOL;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 5, .threads = 1});
    nn_graph *g = nn_graph_new(ctx);
    nn_node *leaf[REF_MAX_ARRAYS];
    struct ref_array *leaf_arr[REF_MAX_ARRAYS];
    float *mag = NULL, *mag_grad[REF_MAX_ARRAYS] = {NULL}; /* sum|terms| (conv2d) */
    int nl = 0;
    int64_t batch = -1;
    if (!g)
        FAIL_CASE("%s: out of memory", c->file);
    struct ref_array *out_a = ref_get(f, "out"), *seed_a = ref_get(f, "seed");
    if (!out_a || !seed_a || seed_a->numel != out_a->numel)
        FAIL_CASE("%s: the fixture lacks 'out' or a matching 'seed'", c->file);

    /* Leaves, in file order. */
    for (int i = 0; i < f->n; i++) {
        struct ref_array *a = &f->a[i];
        const char *colon = strchr(a->name, ':');
        if (!colon || strncmp(a->name, "grad:", 5) == 0 || strncmp(a->name, "after:", 6) == 0)
            continue;
        const char *nm = colon + 1;
        size_t rl = (size_t)(colon - a->name);
        nn_node *n = NULL;
        bool batched = (rl == 2 && strncmp(a->name, "in", 2) == 0) ||
                       (rl == 1 && a->name[0] == 'x') || rl == 3;
        if (batched) {
            if (a->ndim < 1 || (batch >= 0 && a->dim[0] != batch))
                FAIL_CASE("%s: '%s' disagrees on the batch size", c->file, a->name);
            batch = a->dim[0];
        }
        if (rl == 2 && strncmp(a->name, "in", 2) == 0) {
            n = nn_input(g, nm, a->ndim - 1, a->dim + 1);
            nn_input_requires_grad(n, true);
        } else if (rl == 1 && a->name[0] == 'x') {
            n = nn_input(g, nm, a->ndim - 1, a->dim + 1);
        } else if (rl == 1 && a->name[0] == 'p') {
            n = nn_param(g, nm, a->ndim, a->dim, (struct nn_init){.kind = NN_INIT_ZEROS});
        } else if (rl == 1 && a->name[0] == 'b') {
            n = nn_buffer(g, nm, a->ndim, a->dim, (struct nn_init){.kind = NN_INIT_ZEROS});
        } else if (rl == 1 && a->name[0] == 'c') {
            n = nn_const(g, nm, a->ndim, a->dim, a->data);
        } else if (rl == 3 && strncmp(a->name, "lab", 3) == 0) {
            if (a->ndim != 1)
                FAIL_CASE("%s: labels '%s' must be 1-D", c->file, a->name);
            n = nn_labels(g, nm);
        } else {
            FAIL_CASE("%s: unknown array role in '%s'", c->file, a->name);
        }
        if (!n)
            FAIL_CASE("%s: creating leaf '%s' failed: %s", c->file, a->name,
                      nn_ctx_error(ctx));
        leaf[nl] = n;
        leaf_arr[nl++] = a;
    }
    nn_node *out = build(g, c->op, leaf, nl, ref_get(f, "attr"));
    if (!out)
        FAIL_CASE("%s: building op '%s' failed: %s", c->file, c->op, nn_ctx_error(ctx));
    /* Compile for more samples than are fed, so the batch-size bookkeeping
     * (not the compiled maximum) must be what every op uses. */
    if (nn_graph_compile(g, &out, 1, batch > 0 ? batch + 2 : 1) != NN_OK)
        FAIL_CASE("%s: compile failed: %s", c->file, nn_ctx_error(ctx));
    /* An op linear in each leaf (conv2d): every output and gradient on the
     * absolute values of the leaves and the seed is its sum|terms|. */
    if (strcmp(c->op, "conv2d") == 0) {
        if (!feed_leaves(c, g, leaf, leaf_arr, nl, true, err, errlen))
            goto done;
        int64_t total = nn_node_numel(out);
        for (int i = 0; i < nl; i++)
            total += leaf_arr[i]->numel;
        float *abs_seed = malloc((size_t)seed_a->numel * sizeof *abs_seed);
        mag = malloc((size_t)total * sizeof *mag);
        if (!abs_seed || !mag) {
            free(abs_seed);
            FAIL_CASE("%s: out of memory", c->file);
        }
        for (int64_t k = 0; k < seed_a->numel; k++)
            abs_seed[k] = fabsf(seed_a->data[k]);
        nn_status ms = nn_forward(g);
        if (ms == NN_OK)
            ms = nn_backward_seeded(g, out, abs_seed);
        free(abs_seed);
        if (ms != NN_OK)
            FAIL_CASE("%s: the magnitude pass failed: %s", c->file, nn_ctx_error(ctx));
        memcpy(mag, nn_value(out), (size_t)nn_node_numel(out) * sizeof *mag);
        int64_t off = nn_node_numel(out);
        for (int i = 0; i < nl; i++) {
            mag_grad[i] = NULL;
            const float *gr = nn_grad(leaf[i]);
            if (gr) {
                mag_grad[i] = mag + off;
                memcpy(mag + off, gr, (size_t)leaf_arr[i]->numel * sizeof *mag);
            }
            off += leaf_arr[i]->numel;
        }
        nn_zero_grad(g);
    }
    if (!feed_leaves(c, g, leaf, leaf_arr, nl, false, err, errlen))
        goto done;

    /* Forward. */
    if (nn_forward(g) != NN_OK)
        FAIL_CASE("%s: forward failed: %s", c->file, nn_ctx_error(ctx));
    if (!same_shape(out, out_a))
        FAIL_CASE("%s: output has %d axes (dim 0 = %lld), torch's %d axes (dim 0 = %lld)",
                  c->file, nn_node_ndim(out), (long long)nn_node_dim(out, 0), out_a->ndim,
                  (long long)(out_a->ndim ? out_a->dim[0] : 0));
    bool cmp_ok = compare(c->file, "out", nn_value(out), out_a, rtol, atol, mag, st, err,
                          errlen);
    /* Buffers after the pass (batch norm's running statistics). */
    for (int i = 0; i < nl; i++) {
        if (leaf_arr[i]->name[0] != 'b')
            continue;
        char aname[80];
        snprintf(aname, sizeof aname, "after:%s", strchr(leaf_arr[i]->name, ':') + 1);
        struct ref_array *after = ref_get(f, aname);
        if (!after || after->numel != leaf_arr[i]->numel)
            FAIL_CASE("%s: the fixture lacks a matching '%s'", c->file, aname);
        if (cmp_ok)
            cmp_ok = compare(c->file, aname, nn_value(leaf[i]), after, rtol, atol, NULL, st,
                             err, errlen);
    }

    /* Backward: the network with nn_backward (its seed is 1), the ops with
     * the stored seed. */
    nn_status bs = is_net ? nn_backward(g, out) : nn_backward_seeded(g, out, seed_a->data);
    if (bs != NN_OK)
        FAIL_CASE("%s: backward failed: %s", c->file, nn_ctx_error(ctx));
    int ngrads = 0;
    for (int i = 0; i < nl; i++) {
        struct ref_array *a = leaf_arr[i];
        const char *nm = strchr(a->name, ':') + 1;
        char gname[80];
        snprintf(gname, sizeof gname, "grad:%s", nm);
        struct ref_array *ga = ref_get(f, gname);
        const float *gr = nn_grad(leaf[i]);
        bool wants = a->name[0] == 'p' || strncmp(a->name, "in:", 3) == 0;
        if (!wants) {
            if (gr && a->name[0] != 'l')
                FAIL_CASE("%s: '%s' has a gradient though none was asked for", c->file,
                          a->name);
            continue;
        }
        if (!ga || ga->numel != a->numel)
            FAIL_CASE("%s: the fixture lacks a matching '%s'", c->file, gname);
        if (!gr)
            FAIL_CASE("%s: no gradient for '%s'", c->file, a->name);
        ngrads++;
        if (cmp_ok)
            cmp_ok = compare(c->file, gname, gr, ga, rtol, atol, mag_grad[i], st, err, errlen);
        else
            compare(c->file, gname, gr, ga, rtol, atol, mag_grad[i], st, (char[256]){0}, 256);
    }
    if (ngrads == 0)
        FAIL_CASE("%s: no gradient was checked", c->file);
    ok = cmp_ok;
done:
    free(mag);
    nn_graph_free(g);
    nn_ctx_free(ctx);
    return ok;
}

static bool run_case(const struct ref_case *c, struct ref_stats *st, char *err,
                     size_t errlen)
{
    char rel[128];
    struct ref_file f;
    snprintf(rel, sizeof rel, "ref/%s/%s.bin", case_dir(c), c->file);
    memset(st, 0, sizeof *st);
    if (!ref_load(rel, &f, err, errlen))
        return false;
    bool ok = run_loaded(c, &f, st, err, errlen);
    ref_free(&f);
    return ok;
}

static const struct ref_case *find_case_in(const char *dir, const char *file)
{
    for (size_t i = 0; i < NCASES; i++)
        if (strcmp(cases[i].file, file) == 0 && strcmp(case_dir(&cases[i]), dir) == 0)
            return &cases[i];
    return NULL;
}

static const struct ref_case *find_case(const char *file)
{
    const struct ref_case *c = find_case_in("ops", file);
    return c ? c : find_case_in("conv", file);
}

/* ---- tests -------------------------------------------------------------- */

/* Every op case matches torch within RTOL/ATOL, forward and backward. */
static void ops_match_pytorch(void **state)
{
    (void)state;
    bool verbose = getenv("NN_REF_VERBOSE") != NULL;
    int failures = 0, ran = 0;
    for (size_t i = 0; i < NCASES; i++) {
        if (strcmp(cases[i].op, "net3") == 0)
            continue;
        struct ref_stats st;
        char err[512] = "";
        bool ok = run_case(&cases[i], &st, err, sizeof err);
        ran++;
        if (!ok) {
            print_error("%s\n", err);
            failures++;
        }
        if (verbose)
            print_message("ref %-22s max abs %.3g  max rel %.3g  tolerance used %.3f\n",
                          cases[i].file, st.max_abs, st.max_rel, st.max_usage);
    }
    assert_true(ran > 0);
    assert_int_equal(failures, 0);
}

/* x (8, 6) -> dense 5 -> tanh -> dense 4 -> relu -> dense 3 -> softmax CE:
 * the loss and every weight and bias gradient match torch. */
static void network_matches_pytorch(void **state)
{
    (void)state;
    struct ref_stats st;
    char err[512] = "";
    bool ok = run_case(find_case("net3"), &st, err, sizeof err);
    if (getenv("NN_REF_VERBOSE"))
        print_message("ref %-22s max abs %.3g  max rel %.3g  tolerance used %.3f\n", "net3",
                      st.max_abs, st.max_rel, st.max_usage);
    if (!ok)
        fail_msg("%s", err);
}

/* Every op in the table except dropout has a case and its fixture exists;
 * every fixture on disk belongs to a case; every case names a real op. */
static void every_op_has_fixture(void **state)
{
    (void)state;
    int missing = 0;
    for (int i = 4; i < nn_op_count(); i++) {
        const char *op = nn_op_name_at(i);
        if (strcmp(op, "dropout") == 0)
            continue; /* random: tested in test_graph.c */
        int found = 0;
        for (size_t k = 0; k < NCASES; k++)
            found += strcmp(cases[k].op, op) == 0;
        if (!found) {
            print_error("op '%s' has no PyTorch reference case\n", op);
            missing++;
        }
    }
    for (size_t k = 0; k < NCASES; k++) {
        bool real = strcmp(cases[k].op, "net3") == 0;
        for (int i = 4; i < nn_op_count() && !real; i++)
            real = strcmp(cases[k].op, nn_op_name_at(i)) == 0;
        if (!real) {
            print_error("case '%s' names unknown op '%s'\n", cases[k].file, cases[k].op);
            missing++;
        }
        char rel[128];
        snprintf(rel, sizeof rel, "ref/%s/%s.bin", case_dir(&cases[k]), cases[k].file);
        FILE *fp = fopen(nn_test_path(rel), "rb");
        if (!fp) {
            print_error("fixture %s is missing (run tests/ref/gen%s.py)\n", nn_test_path(rel),
                        cases[k].dir ? "_conv" : "");
            missing++;
        } else {
            fclose(fp);
        }
    }
    int files = 0;
    for (size_t k = 0; k < sizeof ref_dirs / sizeof ref_dirs[0]; k++) {
        char dir[4096], rel[64];
        snprintf(rel, sizeof rel, "ref/%s", ref_dirs[k]);
        snprintf(dir, sizeof dir, "%s", nn_test_path(rel));
        DIR *d = opendir(dir);
        if (!d)
            fail_msg("cannot open %s", dir);
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            size_t l = strlen(e->d_name);
            if (l < 5 || strcmp(e->d_name + l - 4, ".bin") != 0)
                continue;
            files++;
            char base[256];
            snprintf(base, sizeof base, "%.*s", (int)(l - 4), e->d_name);
            if (!find_case_in(ref_dirs[k], base)) {
                print_error("fixture %s/%s is not run by any case\n", dir, e->d_name);
                missing++;
            }
        }
        closedir(d);
    }
    assert_int_equal(files, (int)NCASES);
    assert_int_equal(missing, 0);
}

/* The checks can fail: a missing fixture fails its case, a corrupt file is
 * rejected, and a reference off by a little more than the tolerance in one
 * output or one gradient element is reported. */
static void checks_can_fail(void **state)
{
    (void)state;
    struct ref_stats st;
    char err[512] = "";
    const struct ref_case ghost = {"no_such_case", "relu", NULL};
    assert_false(run_case(&ghost, &st, err, sizeof err));
    assert_non_null(strstr(err, "no_such_case.bin"));

    /* Truncated and bad-magic buffers. */
    const unsigned char hdr[] = {'N', 'N', 'R', 'E', 'F', '0', '1', '\n', 1, 0, 0, 0};
    struct ref_file f;
    assert_false(ref_parse(hdr, sizeof hdr, &f, err, sizeof err));
    assert_non_null(strstr(err, "truncated"));
    unsigned char bad[sizeof hdr];
    memcpy(bad, hdr, sizeof hdr);
    bad[0] = 'X';
    assert_false(ref_parse(bad, sizeof bad, &f, err, sizeof err));
    assert_non_null(strstr(err, "magic"));

    /* A running statistic off by a little more than the tolerance. */
    assert_true(ref_load("ref/conv/batchnorm2d_train.bin", &f, err, sizeof err));
    struct ref_array *rv = ref_get(&f, "after:running_var");
    assert_non_null(rv);
    rv->data[2] += (float)(2 * (ATOL + RTOL * fabs(rv->data[2])));
    bool rv_ok = run_loaded(find_case("batchnorm2d_train"), &f, &st, err, sizeof err);
    ref_free(&f);
    if (rv_ok)
        fail_msg("a perturbed running variance was not detected");
    assert_non_null(strstr(err, "after:running_var"));

    const char *what[] = {"out", "grad:a"};
    for (int k = 0; k < 2; k++) {
        assert_true(ref_load("ref/ops/tanh.bin", &f, err, sizeof err));
        struct ref_array *a = ref_get(&f, what[k]);
        assert_non_null(a);
        float v = a->data[1];
        a->data[1] = v + (float)(2 * (ATOL + RTOL * fabs(v)));
        bool ok = run_loaded(find_case("tanh"), &f, &st, err, sizeof err);
        ref_free(&f);
        if (ok)
            fail_msg("a perturbed '%s' was not detected", what[k]);
        assert_non_null(strstr(err, what[k]));
        assert_true(st.max_usage > 1.0);
    }

    /* The cancellation allowance of conv2d is far below a term's size: a
     * weight gradient off by a thousandth of its largest term fails. */
    assert_true(ref_load("ref/conv/conv2d_same_5x5.bin", &f, err, sizeof err));
    struct ref_array *gw = ref_get(&f, "grad:w"), *x = ref_get(&f, "in:x");
    struct ref_array *sd = ref_get(&f, "seed");
    assert_non_null(gw);
    assert_non_null(x);
    assert_non_null(sd);
    double term = 0;
    for (int64_t i = 0; i < x->numel; i++)
        for (int64_t j = 0; j < sd->numel; j++)
            term = fmax(term, fabs((double)x->data[i] * sd->data[j]));
    gw->data[1] += (float)(1e-3 * term);
    bool gw_ok = run_loaded(find_case("conv2d_same_5x5"), &f, &st, err, sizeof err);
    ref_free(&f);
    if (gw_ok)
        fail_msg("a conv2d weight gradient off by %g was not detected", 1e-3 * term);
    assert_non_null(strstr(err, "grad:w"));
}

NN_GROUP(ref,
         cmocka_unit_test(ops_match_pytorch),
         cmocka_unit_test(network_matches_pytorch),
         cmocka_unit_test(every_op_has_fixture),
         cmocka_unit_test(checks_can_fail))
