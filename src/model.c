/*
 * model.c - sequential models built from a spec string
 * ("784 dense:256 relu dropout:0.2 dense:10 softmax"): the builder that
 * turns the parsed layer list (spec.c) and the configuration into a graph
 * with its loss and prediction nodes, the warning for layers whose units
 * start alike, normalization, class names and batched prediction.
 */
#include "spec.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

struct nn_model {
    nn_ctx *ctx;
    nn_graph *g;
    char *spec;
    nn_loss_kind loss_kind;
    int64_t inputs, outputs, max_batch;
    int in_ndim;          /* the input's per-sample shape: (features) or (C, H, W) */
    int64_t in_dims[3];
    nn_node *x, *target, *loss, *logits, *out;
    nn_norm_kind norm_kind;
    float *shift, *scale; /* (inputs) or NULL */
    char **class_names;   /* (nclasses) or NULL */
    int64_t nclasses;     /* outputs, or 2 for a one-unit sigmoid */
};

/* The configuration with its defaults, checked. */
static nn_status resolve_cfg(nn_ctx *ctx, const struct nn_model_cfg *cfg,
                             struct nn_model_cfg *c)
{
    *c = cfg ? *cfg : (struct nn_model_cfg){0};
    if (c->max_batch <= 0)
        c->max_batch = 256;
    if (!c->has_dropout)
        c->dropout = 0.5f;
    else if (!(c->dropout >= 0 && c->dropout < 1))
        return nn_fail(ctx, NN_ERR_INVALID, "model: dropout rate %g must be in [0, 1)",
                       (double)c->dropout);
    const struct nn_init *inits[2] = {c->has_init ? &c->init : NULL,
                                      c->has_bias_init ? &c->bias_init : NULL};
    for (int i = 0; i < 2; i++) {
        char why[160];
        if (inits[i] && nn_init_problem(*inits[i], why, sizeof why))
            return nn_fail(ctx, NN_ERR_INVALID, "model: %s initializer: %s",
                           i ? "bias" : "weight", why);
    }
    return NN_OK;
}

/* Writes the configuration's initializers and dropout rate into the layers
 * that give none, so that the spec's text holds them; true if it did. */
static bool fold_cfg(struct nn_spec *s, const struct nn_model_cfg *c)
{
    bool changed = false;
    for (int i = 0; i < s->nlayers; i++) {
        struct nn_layer *l = &s->layers[i];
        bool weights = l->kind == NN_LAYER_DENSE || l->kind == NN_LAYER_CONV;
        if (weights && c->has_init && !l->has_init) {
            l->init = c->init;
            changed = l->has_init = true;
        }
        if (weights && c->has_bias_init && !l->has_bias) { /* (bias=no sets has_bias) */
            l->bias = c->bias_init;
            changed = l->has_bias = true;
        }
        if (l->kind == NN_LAYER_DROPOUT && c->has_dropout && !l->has_arg) {
            l->arg[0] = c->dropout;
            changed = l->has_arg = true;
        }
    }
    return changed;
}

/* The model's spec text: as given, or the parsed spec written out when the
 * configuration added to it. */
static nn_status set_spec_text(nn_model *m, const char *given, const struct nn_spec *s,
                               bool folded)
{
    size_t len = folded ? (size_t)nn_spec_format(s, NULL, 0) : strlen(given);
    if (!(m->spec = malloc(len + 1)))
        return nn_fail(m->ctx, NN_ERR_NOMEM, "model: out of memory");
    if (folded)
        nn_spec_format(s, m->spec, len + 1);
    else
        strcpy(m->spec, given);
    return NN_OK;
}

/* The layer after l that decides its initializer: the next one past any
 * batchnorm and pooling (which keep a relu after them a relu of this
 * layer's outputs, give or take a scale), or NULL. */
static const struct nn_layer *next_act(const struct nn_spec *s, const struct nn_layer *l)
{
    for (const struct nn_layer *n = l + 1; n < s->layers + s->nlayers; n++)
        if (n->kind != NN_LAYER_BATCHNORM && n->kind != NN_LAYER_MAXPOOL &&
            n->kind != NN_LAYER_AVGPOOL)
            return n;
    return NULL;
}

/* A dense or conv layer's weight initializer (its own or the
 * configuration's, folded into it): He normal when the next layer past
 * any batchnorm and pooling is of the relu family, Xavier uniform
 * otherwise. */
static struct nn_init weight_init(const struct nn_spec *s, const struct nn_layer *l)
{
    if (l->has_init)
        return l->init;
    const struct nn_layer *next = next_act(s, l);
    bool relu = next && (next->kind == NN_LAYER_RELU || next->kind == NN_LAYER_LEAKY_RELU);
    return (struct nn_init){.kind = relu ? NN_INIT_HE_NORMAL : NN_INIT_XAVIER_UNIFORM};
}

/* The model being built from a parsed spec. */
struct builder {
    nn_model *m;
    const struct nn_spec *s;
    const struct nn_model_cfg *c;
    const char *text;            /* the spec as given: the layers' tokens point into it */
    int count[NN_LAYER_COUNT];   /* layers of each naming family so far */
};

/* The name of a layer that has one: dense1, conv1, pool1 (max and average
 * pooling count together), bn1, gap1, flatten1; NULL for the others. */
static const char *layer_name(struct builder *b, const struct nn_layer *l, char buf[32])
{
    static const char *const prefix[NN_LAYER_COUNT] = {
        [NN_LAYER_DENSE] = "dense", [NN_LAYER_CONV] = "conv", [NN_LAYER_MAXPOOL] = "pool",
        [NN_LAYER_AVGPOOL] = "pool", [NN_LAYER_BATCHNORM] = "bn", [NN_LAYER_GAP] = "gap",
        [NN_LAYER_FLATTEN] = "flatten"};
    enum nn_layer_kind family = l->kind == NN_LAYER_AVGPOOL ? NN_LAYER_MAXPOOL : l->kind;
    if (!prefix[l->kind])
        return NULL;
    snprintf(buf, 32, "%s%d", prefix[l->kind], ++b->count[family]);
    return buf;
}

static nn_node *lerr(struct builder *b, const struct nn_layer *l, const char *name,
                     const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* "model spec: token POS 'TOKEN' (NAME): WHY", as NN_ERR_SHAPE; NULL. */
static nn_node *lerr(struct builder *b, const struct nn_layer *l, const char *name,
                     const char *fmt, ...)
{
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    nn_fail(b->m->ctx, NN_ERR_SHAPE, "model spec: token %d '%.*s' (%s): %s", l->token, l->len,
            b->text + l->start, name ? name : nn_spec_kind_name(l->kind), why);
    b->m->g->error = true;
    return NULL;
}

/* Gives a node made without a name its layer's name. */
static nn_node *rename_node(nn_node *n, const char *name)
{
    char *nm = n ? malloc(strlen(name) + 1) : NULL;
    if (nm && !nn_graph_find(n->g, name)) {
        strcpy(nm, name);
        free(n->name);
        n->name = nm;
    } else {
        free(nm); /* out of memory or taken: the automatic name stays */
    }
    return n;
}

/* Image layers need (N, C, H, W); NULL with a message otherwise. */
static bool need_image(struct builder *b, const struct nn_layer *l, const char *name,
                       const nn_node *h)
{
    char sh[64];
    if (h->ndim == 4)
        return true;
    lerr(b, l, name, "its input is %s, not images (N, C, H, W): %s layers need an image "
         "input shape (CxHxW, e.g. \"1x28x28\") and go before flatten and dense",
         nn_shape_str(h, sh, sizeof sh), nn_spec_kind_name(l->kind));
    return false;
}

/* The output size of a window along both axes (0 where the kernel does
 * not fit), and the message when it does not. */
static bool window_fits(struct builder *b, const struct nn_layer *l, const char *name,
                        const nn_node *h)
{
    int64_t H = h->dim[2], W = h->dim[3];
    int64_t oh = nn_conv_output_size(H, (int)l->kernel[0], (int)l->stride[0], (int)l->pad[0],
                                     (int)l->dil[0]);
    int64_t ow = nn_conv_output_size(W, (int)l->kernel[1], (int)l->stride[1], (int)l->pad[1],
                                     (int)l->dil[1]);
    if (oh >= 1 && ow >= 1)
        return true;
    char sh[64], span[80] = "";
    if (l->dil[0] > 1 || l->dil[1] > 1)
        snprintf(span, sizeof span, " (dilation %lldx%lld: it spans %lldx%lld)",
                 (long long)l->dil[0], (long long)l->dil[1],
                 (long long)(l->dil[0] * (l->kernel[0] - 1) + 1),
                 (long long)(l->dil[1] * (l->kernel[1] - 1) + 1));
    lerr(b, l, name, "the kernel %lldx%lld%s exceeds the padded input %lldx%lld (input %s, "
         "padding %lldx%lld)", (long long)l->kernel[0], (long long)l->kernel[1], span,
         (long long)(H + 2 * l->pad[0]), (long long)(W + 2 * l->pad[1]),
         nn_shape_str(h, sh, sizeof sh), (long long)l->pad[0], (long long)l->pad[1]);
    return false;
}

static nn_node *add_dense(struct builder *b, const struct nn_layer *l, const char *name,
                          nn_node *h)
{
    char sh[64];
    if (h->ndim != 2)
        return lerr(b, l, name, "its input is %s, an image per sample, but a dense layer takes "
                    "a vector (N, features): put flatten (or gap) before it",
                    nn_shape_str(h, sh, sizeof sh));
    struct nn_init bias = l->has_bias ? l->bias : (struct nn_init){.kind = NN_INIT_ZEROS};
    return nn_dense_layer(b->m->g, h, l->units, weight_init(b->s, l),
                          l->no_bias ? NULL : &bias, name);
}

/* conv = its weight NAME.weight (out, C/groups, kh, kw), its bias
 * NAME.bias (out) unless bias=no, and the conv2d op named NAME. */
static nn_node *add_conv(struct builder *b, const struct nn_layer *l, const char *name,
                         nn_node *h)
{
    char sh[64], wn[64], bn[64];
    if (!need_image(b, l, name, h))
        return NULL;
    int64_t C = h->dim[1];
    if (C % l->groups)
        return lerr(b, l, name, "the input's %lld channels (input %s) do not divide into "
                    "%lld groups", (long long)C, nn_shape_str(h, sh, sizeof sh),
                    (long long)l->groups);
    if (!window_fits(b, l, name, h))
        return NULL;
    nn_graph *g = b->m->g;
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    nn_node *w = nn_param(g, wn, 4, (int64_t[]){l->units, C / l->groups, l->kernel[0],
                                                l->kernel[1]}, weight_init(b->s, l));
    nn_node *bias = NULL;
    if (!l->no_bias && !(bias = nn_param(g, bn, 1, (int64_t[]){l->units},
                                         l->has_bias ? l->bias
                                                     : (struct nn_init){.kind = NN_INIT_ZEROS})))
        return NULL;
    struct nn_conv2d_cfg cc = {.name = name,
                               .stride_h = (int)l->stride[0], .stride_w = (int)l->stride[1],
                               .pad_h = (int)l->pad[0], .pad_w = (int)l->pad[1],
                               .dil_h = (int)l->dil[0], .dil_w = (int)l->dil[1],
                               .groups = (int)l->groups};
    return nn_conv2d(g, h, w, bias, &cc);
}

static nn_node *add_pool(struct builder *b, const struct nn_layer *l, const char *name,
                         nn_node *h)
{
    if (!need_image(b, l, name, h) || !window_fits(b, l, name, h))
        return NULL;
    struct nn_pool2d_cfg pc = {.name = name,
                               .kernel_h = (int)l->kernel[0], .kernel_w = (int)l->kernel[1],
                               .stride_h = (int)l->stride[0], .stride_w = (int)l->stride[1],
                               .pad_h = (int)l->pad[0], .pad_w = (int)l->pad[1]};
    return l->kind == NN_LAYER_MAXPOOL ? nn_maxpool2d(b->m->g, h, &pc)
                                       : nn_avgpool2d(b->m->g, h, &pc);
}

/* Adds layer l on h; NULL on error (the message names the layer). */
static nn_node *add_layer(struct builder *b, const struct nn_layer *l, nn_node *h)
{
    nn_graph *g = b->m->g;
    const float a0 = (float)l->arg[0], a1 = (float)l->arg[1];
    char name[32];
    const char *nm = layer_name(b, l, name);
    switch (l->kind) {
    case NN_LAYER_DENSE: return add_dense(b, l, nm, h);
    case NN_LAYER_CONV: return add_conv(b, l, nm, h);
    case NN_LAYER_MAXPOOL:
    case NN_LAYER_AVGPOOL: return add_pool(b, l, nm, h);
    case NN_LAYER_GAP:
        return need_image(b, l, nm, h) ? rename_node(nn_global_avgpool(g, h), nm) : NULL;
    case NN_LAYER_FLATTEN: return rename_node(nn_flatten(g, h), nm);
    case NN_LAYER_BATCHNORM:
        return nn_batchnorm_layer(g, h, &(struct nn_batchnorm_cfg){
                                      .momentum = l->has_arg ? a0 : 0,
                                      .eps = l->has_arg2 ? a1 : 0}, nm);
    case NN_LAYER_RELU: return nn_relu(g, h);
    case NN_LAYER_LEAKY_RELU: return nn_leaky_relu(g, h, l->has_arg ? a0 : 0.01f);
    case NN_LAYER_SIGMOID: return nn_sigmoid(g, h);
    case NN_LAYER_TANH: return nn_tanh(g, h);
    case NN_LAYER_HARDTANH: return nn_hardtanh(g, h, l->has_arg ? a0 : -1, l->has_arg ? a1 : 1);
    case NN_LAYER_SIGN: return nn_sign(g, h);
    case NN_LAYER_IDENTITY: return nn_identity(g, h);
    case NN_LAYER_DROPOUT: return nn_dropout(g, h, l->has_arg ? a0 : b->c->dropout);
    case NN_LAYER_SOFTMAX: return nn_softmax(g, h);
    default: return NULL;
    }
}

/* Tells the warning handler when the units of the hidden dense layer
 * s->layers[i] (named name) start identical: weights and biases each of one
 * value. They then get the same gradient except through what tells them
 * apart downstream; when the next dense layer starts alike too, with no
 * dropout between, nothing does: every unit learns the same thing. */
static void warn_symmetric(nn_model *m, const struct nn_spec *s, int i, const char *name)
{
    const struct nn_layer *l = &s->layers[i], *next = NULL;
    bool dropout = false;
    for (int j = i + 1; j < s->nlayers && !next; j++) {
        if (s->layers[j].kind == NN_LAYER_DENSE)
            next = &s->layers[j];
        if (s->layers[j].kind == NN_LAYER_DROPOUT) /* a rate left out is 0.5 (folded) */
            dropout |= !s->layers[j].has_arg || s->layers[j].arg[0] > 0;
    }
    if (!next || l->units < 2)
        return;
    struct nn_init w = weight_init(s, l), b = l->has_bias ? l->bias : (struct nn_init){0};
    if (!nn_init_is_constant(w) || !nn_init_is_constant(b))
        return;
    struct nn_init nw = weight_init(s, next);
    char wt[64], bt[64], nt[64];
    nn_init_format(w, wt, sizeof wt);
    nn_init_format(b, bt, sizeof bt);
    nn_init_format(nw, nt, sizeof nt);
    if (nn_init_is_constant(nw) && !dropout)
        nn_warn(m->ctx, "%s: its %lld units start identical (weights %s, biases %s) and the "
                "next layer's weights are alike too (%s): every unit computes the same output "
                "and gets the same gradient, so all %lld learn the same thing (the symmetry "
                "problem); training goes on, but a random initializer such as normal:0.01, "
                "xavier_uniform or he_normal breaks the symmetry", name, (long long)l->units,
                wt, bt, nt, (long long)l->units);
    else
        nn_warn(m->ctx, "%s: its %lld units start identical (weights %s, biases %s): they get "
                "the same gradient except for what tells them apart downstream (the next "
                "layer's weights%s), a weak start (the symmetry problem); training goes on, but "
                "a random initializer such as normal:0.01, xavier_uniform or he_normal breaks "
                "the symmetry", name, (long long)l->units, wt, bt, dropout ? ", dropout" : "");
}

/* A final softmax or sigmoid, fused with the loss where it matches. */
enum final_act { FINAL_NONE, FINAL_SOFTMAX, FINAL_SIGMOID };

/* The graph of the layers, from the input x to *out; *pre_final is the
 * node before a final softmax or sigmoid. */
static nn_status build_layers(nn_model *m, const struct nn_spec *s, const struct nn_model_cfg *c,
                              const char *text, enum final_act *final, nn_node **pre_final,
                              nn_node **out)
{
    struct builder b = {m, s, c, text, {0}};
    nn_node *h = m->x = nn_input(m->g, "x", s->in_ndim, s->in_dims);
    m->inputs = s->inputs;
    m->in_ndim = s->in_ndim;
    memcpy(m->in_dims, s->in_dims, sizeof m->in_dims);
    *final = FINAL_NONE;
    *pre_final = NULL;
    for (int i = 0; h && i < s->nlayers; i++) {
        const struct nn_layer *l = &s->layers[i];
        bool last = i + 1 == s->nlayers;
        if (last && (l->kind == NN_LAYER_SOFTMAX || l->kind == NN_LAYER_SIGMOID)) {
            *final = l->kind == NN_LAYER_SOFTMAX ? FINAL_SOFTMAX : FINAL_SIGMOID;
            *pre_final = h;
        }
        nn_node *in = h;
        if (!(h = add_layer(&b, l, h)) && strncmp(nn_ctx_error(m->ctx), "model spec", 10) != 0) {
            char why[400], sh[64];
            snprintf(why, sizeof why, "%s", nn_ctx_error(m->ctx));
            nn_fail(m->ctx, NN_ERR_SHAPE, "model spec: token %d '%.*s' (input %s): %s", l->token,
                    l->len, text + l->start, nn_shape_str(in, sh, sizeof sh), why);
        }
        if (h && l->kind == NN_LAYER_DENSE) {
            char name[32];
            snprintf(name, sizeof name, "dense%d", b.count[NN_LAYER_DENSE]);
            warn_symmetric(m, s, i, name);
        }
    }
    char sh[64];
    if (h && h->ndim != 2) {
        const struct nn_layer *l = &s->layers[s->nlayers - 1];
        nn_fail(m->ctx, NN_ERR_SHAPE, "model spec: token %d '%.*s': the model ends with "
                "outputs of shape %s, images rather than one vector per sample: end it with "
                "flatten and dense, or gap", l->token, l->len, text + l->start,
                nn_shape_str(h, sh, sizeof sh));
        h = NULL;
    }
    if (h)
        m->outputs = h->dim[1];
    *out = h;
    return h ? NN_OK : NN_ERR_SHAPE; /* the message is set */
}

/* Softmax cross-entropy on the logits, with integer labels. */
static nn_status attach_cross_entropy(nn_model *m, enum final_act final, nn_node *h)
{
    if (final == FINAL_SIGMOID)
        return nn_fail(m->ctx, NN_ERR_INVALID, "model: cross-entropy needs a final softmax "
                       "or no final activation, not sigmoid");
    nn_status st = NN_OK;
    if (m->outputs < 2)
        st = nn_fail(m->ctx, NN_ERR_INVALID, "model: cross-entropy needs at least 2 output "
                     "units, the last dense layer has %lld", (long long)m->outputs);
    m->target = nn_labels(m->g, "y");
    if (final == FINAL_NONE)
        m->out = nn_softmax(m->g, h);
    m->loss = nn_softmax_cross_entropy(m->g, m->logits, m->target);
    return st;
}

/* Binary cross-entropy on the logits, or mean squared error on the
 * outputs, with float targets. */
static nn_status attach_target_loss(nn_model *m, nn_loss_kind lk, enum final_act final,
                                    nn_node *h)
{
    m->target = nn_input(m->g, "t", 1, (int64_t[]){m->outputs});
    if (lk == NN_LOSS_MSE) {
        m->loss = nn_mse(m->g, m->out, m->target);
        return NN_OK;
    }
    if (final == FINAL_SOFTMAX)
        return nn_fail(m->ctx, NN_ERR_INVALID, "model: binary cross-entropy needs a final "
                       "sigmoid, not softmax");
    if (final == FINAL_NONE)
        m->out = nn_sigmoid(m->g, h);
    m->loss = nn_sigmoid_bce(m->g, m->logits, m->target);
    return NN_OK;
}

/* The loss (chosen from the final activation unless lk says), the target
 * node and the predictions, on the layers' output h. */
static nn_status attach_loss(nn_model *m, nn_loss_kind lk, enum final_act final,
                             nn_node *pre_final, nn_node *h)
{
    if (lk == NN_LOSS_AUTO)
        lk = final == FINAL_SOFTMAX ? NN_LOSS_SOFTMAX_CE
           : final == FINAL_SIGMOID ? NN_LOSS_SIGMOID_BCE : NN_LOSS_MSE;
    m->loss_kind = lk;
    m->out = h;
    m->logits = pre_final ? pre_final : h;
    nn_status st = lk == NN_LOSS_SOFTMAX_CE ? attach_cross_entropy(m, final, h)
                                            : attach_target_loss(m, lk, final, h);
    if (st == NN_OK && !m->loss)
        st = NN_ERR_INVALID; /* the op set the message */
    return st;
}

/* Names the nodes that have no name of their own after their layer kind
 * ("relu1", "dropout2", "softmax1": the op and its count), and the loss
 * "loss", so that messages and pictures (nn_graph_dot) say which layer. */
static nn_status name_nodes(nn_model *m)
{
    int count[NN_OP_COUNT] = {0};
    for (int i = 0; i < m->g->nnodes; i++) {
        nn_node *n = m->g->nodes[i];
        if (n == m->loss && !nn_graph_find(m->g, "loss")) {
            if (nn_node_set_name(n, "loss") != NN_OK)
                return NN_ERR_NOMEM;
            continue;
        }
        if (n->op == NN_OP_PARAM || !nn_node_auto_named(n))
            continue;
        char name[64];
        do
            snprintf(name, sizeof name, "%s%d", nn_op_table[n->op].name, ++count[n->op]);
        while (nn_graph_find(m->g, name));
        if (nn_node_set_name(n, name) != NN_OK)
            return NN_ERR_NOMEM;
    }
    return NN_OK;
}

/* The graph of a parsed spec, with its loss, compiled. */
static nn_status build(nn_model *m, const struct nn_spec *s, const struct nn_model_cfg *c,
                       const char *text)
{
    enum final_act final;
    nn_node *pre_final, *h;
    nn_status st = build_layers(m, s, c, text, &final, &pre_final, &h);
    if (st == NN_OK)
        st = attach_loss(m, c->loss, final, pre_final, h);
    if (st == NN_OK)
        st = name_nodes(m);
    if (st == NN_OK) {
        nn_node *outs[2] = {m->loss, m->out};
        nn_graph_set_fuse(m->g, true);
        st = nn_graph_compile(m->g, outs, 2, c->max_batch);
    }
    return st;
}

nn_model *nn_model_new(nn_ctx *ctx, const char *spec, const struct nn_model_cfg *cfg)
{
    if (!ctx)
        return NULL;
    if (!spec) {
        nn_fail(ctx, NN_ERR_INVALID, "model spec: none given");
        return NULL;
    }
    struct nn_model_cfg c;
    if (resolve_cfg(ctx, cfg, &c) != NN_OK)
        return NULL;
    nn_model *m = calloc(1, sizeof *m);
    if (m)
        m->g = nn_graph_new(ctx);
    if (!m || !m->g) {
        nn_model_free(m);
        nn_fail(ctx, NN_ERR_NOMEM, "model: out of memory");
        return NULL;
    }
    m->ctx = ctx;
    m->max_batch = c.max_batch;
    struct nn_spec s;
    nn_status st = nn_spec_parse(ctx, spec, &s);
    if (st == NN_OK)
        st = set_spec_text(m, spec, &s, fold_cfg(&s, &c));
    if (st == NN_OK)
        st = build(m, &s, &c, spec);
    nn_spec_free(&s);
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

int nn_model_input_shape(const nn_model *m, int64_t dims[NN_MAX_DIMS])
{
    for (int i = 0; i < NN_MAX_DIMS; i++)
        dims[i] = i < m->in_ndim ? m->in_dims[i] : 0;
    return m->in_ndim;
}
int64_t nn_model_outputs(const nn_model *m) { return m->outputs; }
int64_t nn_model_max_batch(const nn_model *m) { return m->max_batch; }
nn_node *nn_model_input(const nn_model *m) { return m->x; }
nn_node *nn_model_target(const nn_model *m) { return m->target; }
nn_node *nn_model_loss(const nn_model *m) { return m->loss; }
nn_node *nn_model_logits(const nn_model *m) { return m->logits; }
nn_node *nn_model_output(const nn_model *m) { return m->out; }

/* Runs the model in evaluation mode on x (n, inputs) in chunks of
 * max_batch rows, each read in place or copied into the model's own input
 * buffer (nn_feed_ref; the caller's rows are only read), and calls
 * fn(m, first, k, arg) with the chunk's predictions in m->out->val. */
static nn_status each_chunk(nn_model *m, const float *x, int64_t n,
                            void (*fn)(const nn_model *m, int64_t first, int64_t k, void *arg),
                            void *arg)
{
    bool training = m->g->training;
    nn_graph_set_training(m->g, false);
    nn_status st = NN_OK;
    for (int64_t i = 0; st == NN_OK && i < n; i += m->max_batch) {
        int64_t k = n - i < m->max_batch ? n - i : m->max_batch;
        float *own;
        st = nn_feed_ref(m->g, m->x, x + i * m->inputs, k, &own);
        if (st == NN_OK)
            st = nn_forward_to(m->g, m->out);
        if (own)
            m->x->val = own;
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
