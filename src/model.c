/*
 * model.c - sequential models built from a spec string
 * ("784 dense:256 relu dropout:0.2 dense:10 softmax"), their loss and
 * prediction nodes, and batched prediction.
 */
#include "nn_impl.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>

struct nn_model {
    nn_ctx *ctx;
    nn_graph *g;
    char *spec;
    nn_loss_kind loss_kind;
    int64_t inputs, outputs, max_batch;
    nn_node *x, *target, *loss, *logits, *out;
    nn_norm_kind norm_kind;
    float *shift, *scale; /* (inputs) or NULL */
    char **class_names;   /* (nclasses) or NULL */
    int64_t nclasses;     /* outputs, or 2 for a one-unit sigmoid */
};

static bool parse_num(const char *s, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == '\0' && errno == 0 && isfinite(*v);
}

static bool parse_int(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    *v = x;
    return end != s && *end == '\0' && errno == 0;
}

/* Splits "a:b:c" in place into at most 4 fields; returns the count. */
static int fields(char *tok, char **f)
{
    int k = 0;
    f[k++] = tok;
    for (char *p = tok; *p && k < 4; p++)
        if (*p == ':') {
            *p = '\0';
            f[k++] = p + 1;
        }
    return k;
}

static bool is_relu_family(const char *t)
{
    return strncmp(t, "relu", 4) == 0 || strncmp(t, "leaky_relu", 10) == 0;
}

/* The default initializer of a dense layer from the activation after it. */
static nn_init_kind default_init(const char *next)
{
    if (next && is_relu_family(next))
        return NN_INIT_HE_NORMAL;
    return NN_INIT_XAVIER_UNIFORM;
}

static nn_status spec_error(nn_ctx *ctx, const char *tok, int pos, const char *why)
{
    return nn_fail(ctx, NN_ERR_INVALID, "model spec: token %d '%s': %s", pos, tok, why);
}

nn_model *nn_model_new(nn_ctx *ctx, const char *spec, const struct nn_model_cfg *cfg)
{
    if (!ctx)
        return NULL;
    if (!spec) {
        nn_fail(ctx, NN_ERR_INVALID, "model spec: none given");
        return NULL;
    }
    struct nn_model_cfg c = cfg ? *cfg : (struct nn_model_cfg){0};
    if (c.max_batch <= 0)
        c.max_batch = 256;
    if (!c.has_dropout)
        c.dropout = 0.5f;
    else if (!(c.dropout >= 0 && c.dropout < 1)) {
        nn_fail(ctx, NN_ERR_INVALID, "model: dropout rate %g must be in [0, 1)", (double)c.dropout);
        return NULL;
    }
    if (c.has_init && ((int)c.init < 0 || c.init >= NN_INIT_COUNT)) {
        nn_fail(ctx, NN_ERR_INVALID, "model: unknown initializer %d", (int)c.init);
        return NULL;
    }
    nn_model *m = calloc(1, sizeof *m);
    size_t len = strlen(spec);
    char *buf = malloc(len + 1);
    char **tok = malloc((len / 2 + 2) * sizeof *tok);
    if (m)
        m->spec = malloc(len + 1);
    if (!m || !buf || !tok || !m->spec) {
        free(buf);
        free(tok);
        if (m)
            free(m->spec);
        free(m);
        nn_fail(ctx, NN_ERR_NOMEM, "model: out of memory");
        return NULL;
    }
    strcpy(m->spec, spec);
    strcpy(buf, spec);
    int nt = 0;
    for (char *p = strtok(buf, " \t\n,"); p; p = strtok(NULL, " \t\n,"))
        tok[nt++] = p;
    m->ctx = ctx;
    m->max_batch = c.max_batch;
    nn_status st = NN_OK;
    nn_graph *g = m->g = nn_graph_new(ctx);
    int64_t in = 0;
    if (!g)
        st = NN_ERR_NOMEM;
    else if (nt < 2)
        st = nn_fail(ctx, NN_ERR_INVALID,
                     "model spec '%s': needs an input size and at least one layer, "
                     "e.g. \"784 dense:10 softmax\"", spec);
    else if (!parse_int(tok[0], &in) || in < 1)
        st = spec_error(ctx, tok[0], 1, "the first token must be the input size, a positive integer");
    nn_node *h = NULL;
    if (st == NN_OK) {
        m->inputs = in;
        h = m->x = nn_input(g, "x", 1, (int64_t[]){in});
    }
    int dense_count = 0;
    enum { FINAL_NONE, FINAL_SOFTMAX, FINAL_SIGMOID } final = FINAL_NONE;
    nn_node *pre_final = NULL;
    for (int i = 1; st == NN_OK && i < nt; i++) {
        char *f[4];
        char copy[128];
        snprintf(copy, sizeof copy, "%s", tok[i]);
        int nf = fields(tok[i], f);
        const char *kind = f[0];
        const char *next = i + 1 < nt ? tok[i + 1] : NULL;
        double v1 = 0, v2 = 0;
        if (strcmp(kind, "dense") == 0) {
            int64_t units;
            if (nf < 2 || !parse_int(f[1], &units) || units < 1 || units > (1 << 24)) {
                st = spec_error(ctx, copy, i + 1, "expected dense:UNITS with UNITS a positive integer");
                break;
            }
            struct nn_init init = {.kind = c.has_init ? c.init : default_init(next)};
            if (nf >= 3) {
                int k = nn_init_parse(f[2]);
                if (k < 0) {
                    st = spec_error(ctx, copy, i + 1, "unknown initializer (zeros, constant, "
                                    "normal, uniform, xavier_uniform, xavier_normal, he_normal, he_uniform)");
                    break;
                }
                init.kind = (nn_init_kind)k;
                if (init.kind == NN_INIT_NORMAL) {
                    init.a = 0;
                    init.b = 0.01f;
                } else if (init.kind == NN_INIT_UNIFORM) {
                    init.a = -0.05f;
                    init.b = 0.05f;
                }
            }
            char name[32];
            snprintf(name, sizeof name, "dense%d", ++dense_count);
            h = nn_dense(g, h, units, init, name);
            m->outputs = units;
        } else if (strcmp(kind, "relu") == 0 && nf == 1) {
            h = nn_relu(g, h);
        } else if (strcmp(kind, "leaky_relu") == 0) {
            if (nf >= 2 && !parse_num(f[1], &v1)) {
                st = spec_error(ctx, copy, i + 1, "expected leaky_relu[:SLOPE]");
                break;
            }
            h = nn_leaky_relu(g, h, nf >= 2 ? (float)v1 : 0.01f);
        } else if (strcmp(kind, "sigmoid") == 0 || strcmp(kind, "softmax") == 0) {
            bool sm = kind[1] == 'o';
            if (next) {
                if (!sm) {
                    h = nn_sigmoid(g, h);
                    continue;
                }
                st = spec_error(ctx, copy, i + 1, "softmax must be the last layer");
                break;
            }
            final = sm ? FINAL_SOFTMAX : FINAL_SIGMOID;
            pre_final = h;
            h = sm ? nn_softmax(g, h) : nn_sigmoid(g, h);
        } else if (strcmp(kind, "tanh") == 0) {
            h = nn_tanh(g, h);
        } else if (strcmp(kind, "hardtanh") == 0) {
            v1 = -1, v2 = 1;
            if ((nf >= 2 && !parse_num(f[1], &v1)) || (nf >= 3 && !parse_num(f[2], &v2)) || nf == 2) {
                st = spec_error(ctx, copy, i + 1, "expected hardtanh or hardtanh:LO:HI");
                break;
            }
            h = nn_hardtanh(g, h, (float)v1, (float)v2);
        } else if (strcmp(kind, "sign") == 0) {
            h = nn_sign(g, h);
        } else if (strcmp(kind, "identity") == 0 || strcmp(kind, "linear") == 0) {
            h = nn_identity(g, h);
        } else if (strcmp(kind, "dropout") == 0) {
            v1 = c.dropout;
            if (nf >= 2 && (!parse_num(f[1], &v1) || v1 < 0 || v1 >= 1)) {
                st = spec_error(ctx, copy, i + 1, "expected dropout[:P] with 0 <= P < 1");
                break;
            }
            h = nn_dropout(g, h, (float)v1);
        } else {
            st = spec_error(ctx, copy, i + 1, "unknown layer (dense:N, relu, leaky_relu[:s], "
                            "sigmoid, tanh, hardtanh[:lo:hi], sign, identity, dropout[:p], softmax)");
            break;
        }
        if (!h)
            st = NN_ERR_INVALID; /* the op set the message */
    }
    if (st == NN_OK && dense_count == 0)
        st = nn_fail(ctx, NN_ERR_INVALID, "model spec '%s': has no dense layer", spec);

    /* The loss, fused with the final activation where one matches. */
    nn_loss_kind lk = c.loss;
    if (st == NN_OK) {
        if (lk == NN_LOSS_AUTO)
            lk = final == FINAL_SOFTMAX ? NN_LOSS_SOFTMAX_CE
               : final == FINAL_SIGMOID ? NN_LOSS_SIGMOID_BCE : NN_LOSS_MSE;
        m->loss_kind = lk;
        m->out = h;
        m->logits = pre_final ? pre_final : h;
        if (lk == NN_LOSS_SOFTMAX_CE) {
            if (final != FINAL_SOFTMAX && final != FINAL_NONE)
                st = nn_fail(ctx, NN_ERR_INVALID, "model: cross-entropy needs a final softmax "
                             "or no final activation, not sigmoid");
            else {
                if (m->outputs < 2)
                    st = nn_fail(ctx, NN_ERR_INVALID, "model: cross-entropy needs at least 2 "
                                 "output units, the last dense layer has %lld",
                                 (long long)m->outputs);
                m->target = nn_labels(g, "y");
                if (final == FINAL_NONE)
                    m->out = nn_softmax(g, h);
                m->loss = nn_softmax_cross_entropy(g, m->logits, m->target);
            }
        } else {
            m->target = nn_input(g, "t", 1, (int64_t[]){m->outputs});
            if (lk == NN_LOSS_SIGMOID_BCE) {
                if (final == FINAL_SOFTMAX)
                    st = nn_fail(ctx, NN_ERR_INVALID, "model: binary cross-entropy needs a "
                                 "final sigmoid, not softmax");
                else {
                    if (final == FINAL_NONE)
                        m->out = nn_sigmoid(g, h);
                    m->loss = nn_sigmoid_bce(g, m->logits, m->target);
                }
            } else {
                m->loss = nn_mse(g, m->out, m->target);
            }
        }
        if (st == NN_OK && !m->loss)
            st = NN_ERR_INVALID;
    }
    if (st == NN_OK) {
        nn_node *outs[2] = {m->loss, m->out};
        nn_graph_set_fuse(g, true);
        st = nn_graph_compile(g, outs, 2, c.max_batch);
    }
    free(buf);
    free(tok);
    if (st != NN_OK) {
        nn_model_free(m);
        return NULL;
    }
    return m;
}

void nn_model_free(nn_model *m)
{
    if (!m)
        return;
    nn_graph_free(m->g);
    free(m->spec);
    free(m->shift);
    free(m->scale);
    if (m->class_names)
        for (int64_t i = 0; i < m->nclasses; i++)
            free(m->class_names[i]);
    free(m->class_names);
    free(m);
}

nn_status nn_model_set_norm(nn_model *m, const struct nn_norm_stats *st)
{
    if (!st || st->nfeatures != m->inputs || !st->shift || !st->scale)
        return nn_fail(m->ctx, NN_ERR_SHAPE,
                       "model: normalization for %lld features, the model takes %lld",
                       st ? (long long)st->nfeatures : 0LL, (long long)m->inputs);
    for (int64_t j = 0; j < m->inputs; j++)
        if (!isfinite(st->shift[j]) || !isfinite(st->scale[j]) || st->scale[j] == 0)
            return nn_fail(m->ctx, NN_ERR_NUMERIC,
                           "model: normalization of feature %lld is not usable "
                           "(shift %g, scale %g)", (long long)j, (double)st->shift[j],
                           (double)st->scale[j]);
    size_t bytes = (size_t)m->inputs * sizeof(float);
    float *sh = malloc(bytes), *sc = malloc(bytes);
    if (!sh || !sc) {
        free(sh);
        free(sc);
        return nn_fail(m->ctx, NN_ERR_NOMEM, "model: out of memory");
    }
    memcpy(sh, st->shift, bytes);
    memcpy(sc, st->scale, bytes);
    free(m->shift);
    free(m->scale);
    m->shift = sh;
    m->scale = sc;
    m->norm_kind = st->kind;
    return NN_OK;
}

bool nn_model_norm(const nn_model *m, struct nn_norm_stats *out)
{
    if (!m->shift)
        return false;
    *out = (struct nn_norm_stats){m->norm_kind, m->inputs, m->shift, m->scale};
    return true;
}

void nn_model_normalize(const nn_model *m, float *x, int64_t n)
{
    if (!m->shift)
        return;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m->inputs; j++)
            x[i * m->inputs + j] = (x[i * m->inputs + j] - m->shift[j]) * m->scale[j];
}

nn_status nn_model_set_class_names(nn_model *m, const char *const *names, int64_t n)
{
    bool binary = m->outputs == 1 && m->loss_kind == NN_LOSS_SIGMOID_BCE && n == 2;
    if (n < 1 || (n != m->outputs && !binary))
        return nn_fail(m->ctx, NN_ERR_SHAPE, "model: %lld class names for %lld outputs",
                       (long long)n, (long long)m->outputs);
    for (int64_t i = 0; i < n; i++)
        if (!names || !names[i])
            return nn_fail(m->ctx, NN_ERR_INVALID, "model: class name %lld of %lld is NULL",
                           (long long)i, (long long)n);
    char **c = calloc((size_t)n, sizeof *c);
    for (int64_t i = 0; c && i < n; i++) {
        c[i] = malloc(strlen(names[i]) + 1);
        if (!c[i]) {
            for (int64_t j = 0; j < i; j++)
                free(c[j]);
            free(c);
            c = NULL;
        } else {
            strcpy(c[i], names[i]);
        }
    }
    if (!c)
        return nn_fail(m->ctx, NN_ERR_NOMEM, "model: out of memory");
    if (m->class_names)
        for (int64_t i = 0; i < m->nclasses; i++)
            free(m->class_names[i]);
    free(m->class_names);
    m->class_names = c;
    m->nclasses = n;
    return NN_OK;
}

const char *nn_model_class_name(const nn_model *m, int64_t i)
{
    return m->class_names && i >= 0 && i < m->nclasses ? m->class_names[i] : NULL;
}

nn_ctx *nn_model_ctx(const nn_model *m) { return m->ctx; }
nn_graph *nn_model_graph(const nn_model *m) { return m->g; }
const char *nn_model_spec(const nn_model *m) { return m->spec; }
nn_loss_kind nn_model_loss_kind(const nn_model *m) { return m->loss_kind; }
int64_t nn_model_inputs(const nn_model *m) { return m->inputs; }
int64_t nn_model_outputs(const nn_model *m) { return m->outputs; }
int64_t nn_model_max_batch(const nn_model *m) { return m->max_batch; }
nn_node *nn_model_input(const nn_model *m) { return m->x; }
nn_node *nn_model_target(const nn_model *m) { return m->target; }
nn_node *nn_model_loss(const nn_model *m) { return m->loss; }
nn_node *nn_model_logits(const nn_model *m) { return m->logits; }
nn_node *nn_model_output(const nn_model *m) { return m->out; }

/* Runs the model in evaluation mode on x (n, inputs) in chunks of
 * max_batch rows, each copied into the model's own input buffer (the
 * caller's rows are only read), and calls fn(m, first, k, arg) with the
 * chunk's predictions in m->out->val. */
static nn_status each_chunk(nn_model *m, const float *x, int64_t n,
                            void (*fn)(const nn_model *m, int64_t first, int64_t k, void *arg),
                            void *arg)
{
    bool training = m->g->training;
    nn_graph_set_training(m->g, false);
    nn_status st = NN_OK;
    for (int64_t i = 0; st == NN_OK && i < n; i += m->max_batch) {
        int64_t k = n - i < m->max_batch ? n - i : m->max_batch;
        st = nn_feed(m->g, m->x, x + i * m->inputs, k);
        if (st == NN_OK)
            st = nn_forward_to(m->g, m->out);
        if (st == NN_OK)
            fn(m, i, k, arg);
    }
    nn_graph_set_training(m->g, training);
    return st;
}

static void copy_out(const nn_model *m, int64_t first, int64_t k, void *arg)
{
    memcpy((float *)arg + first * m->outputs, m->out->val,
           (size_t)(k * m->outputs) * sizeof(float));
}

nn_status nn_model_predict(nn_model *m, const float *x, int64_t n, float *out)
{
    if (n < 0 || (n > 0 && (!x || !out)))
        return nn_fail(m->ctx, NN_ERR_INVALID, "predict: bad buffers or count %lld",
                       (long long)n);
    return each_chunk(m, x, n, copy_out, out);
}

/* ---- classes ------------------------------------------------------------ */

/* The classes a classifier's predictions range over: its outputs, or 2 for
 * a one-output sigmoid (p is class 1's probability). 0 for regression. */
static int64_t class_count(const nn_model *m)
{
    if (m->loss_kind == NN_LOSS_MSE)
        return 0;
    return m->outputs == 1 ? 2 : m->outputs;
}

/* Probability of class j for prediction row p. */
static float class_prob(const nn_model *m, const float *p, int64_t j)
{
    return m->outputs == 1 ? (j == 1 ? p[0] : 1 - p[0]) : p[j];
}

/* The ranking order: higher probability first, then the lower index; NaN
 * last. */
static bool ranks_before(float pa, int64_t a, float pb, int64_t b)
{
    if (isnan(pa) != isnan(pb))
        return !isnan(pa);
    if (pa != pb && !isnan(pa))
        return pa > pb;
    return a < b;
}

struct topk_job {
    int64_t k, *classes;
    float *probs;
};

/* Selects each row's k best classes in ranking order, without allocating:
 * the next one is the best of those ranked after the previous pick. */
static void topk_rows(const nn_model *m, int64_t first, int64_t rows, void *arg)
{
    struct topk_job *j = arg;
    int64_t c = class_count(m);
    for (int64_t r = 0; r < rows; r++) {
        const float *p = m->out->val + r * m->outputs;
        int64_t *cls = j->classes + (first + r) * j->k;
        float *pr = j->probs ? j->probs + (first + r) * j->k : NULL;
        for (int64_t t = 0; t < j->k; t++) {
            int64_t best = -1;
            for (int64_t q = 0; q < c; q++) {
                float pq = class_prob(m, p, q);
                if (t > 0 && !ranks_before(class_prob(m, p, cls[t - 1]), cls[t - 1], pq, q))
                    continue; /* ranked before the previous pick: taken */
                if (best < 0 || ranks_before(pq, q, class_prob(m, p, best), best))
                    best = q;
            }
            cls[t] = best;
            if (pr)
                pr[t] = class_prob(m, p, best);
        }
    }
}

static nn_status check_classifier(nn_model *m, const char *fn)
{
    if (class_count(m) == 0)
        return nn_fail(m->ctx, NN_ERR_STATE, "%s: the model is a regression (loss mse, %lld "
                       "outputs) and predicts no classes", fn, (long long)m->outputs);
    return NN_OK;
}

nn_status nn_model_topk(nn_model *m, const float *x, int64_t n, int64_t k, int64_t *classes,
                        float *probs)
{
    nn_status st = check_classifier(m, "topk");
    if (st != NN_OK)
        return st;
    if (k < 1 || k > class_count(m))
        return nn_fail(m->ctx, NN_ERR_INVALID, "topk: k is %lld, expected 1 to %lld (the "
                       "model's classes)", (long long)k, (long long)class_count(m));
    if (n < 0 || (n > 0 && (!x || !classes)))
        return nn_fail(m->ctx, NN_ERR_INVALID, "topk: bad buffers or count %lld",
                       (long long)n);
    struct topk_job j = {k, classes, probs};
    return each_chunk(m, x, n, topk_rows, &j);
}

nn_status nn_model_predict_class(nn_model *m, const float *x, int64_t n, int64_t *classes)
{
    nn_status st = check_classifier(m, "predict_class");
    if (st != NN_OK)
        return st;
    if (n < 0 || (n > 0 && (!x || !classes)))
        return nn_fail(m->ctx, NN_ERR_INVALID, "predict_class: bad buffers or count %lld",
                       (long long)n);
    struct topk_job j = {1, classes, NULL};
    return each_chunk(m, x, n, topk_rows, &j);
}
