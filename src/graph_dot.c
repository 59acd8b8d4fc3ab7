/*
 * graph_dot.c - the compiled graph as Graphviz DOT text (nn_graph_dot):
 * one node per graph node with its name, op and shape, one edge per input
 * labelled with the input's shape, and, when asked, each node's value in
 * green and gradient in red, as the lectures draw a circuit.
 */
#include "nn_impl.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

#define COLOR_VALUE "#1b7a2e"
#define COLOR_GRAD "#c62828"
#define COLOR_OP "#5f6368"

/* A growing string; oom records a failed allocation (later appends are
 * dropped). */
struct buf {
    char *p;
    size_t len, cap;
    bool oom;
};

static void put(struct buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static bool reserve(struct buf *b, size_t more)
{
    if (b->oom)
        return false;
    if (b->len + more + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + more + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

static void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* s inside a DOT quoted string: '"' and '\' escaped. */
static void put_id(struct buf *b, const char *s)
{
    put(b, "\"");
    for (; *s; s++)
        put(b, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
    put(b, "\"");
}

/* s as text of an HTML-like label. */
static void put_html(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': put(b, "&amp;"); break;
        case '<': put(b, "&lt;"); break;
        case '>': put(b, "&gt;"); break;
        case '"': put(b, "&quot;"); break;
        case '\n': put(b, "<BR/>"); break;
        default: put(b, "%c", *s);
        }
    }
}

/* The shape of n: "(N, 4)", or with the batch size fed when batch > 0. */
static void put_shape(struct buf *b, const nn_node *n, int64_t batch)
{
    put(b, "(");
    for (int i = 0; i < n->ndim; i++) {
        if (i == 0 && n->batched && batch <= 0)
            put(b, "N");
        else
            put(b, "%lld", (long long)(i == 0 && n->batched ? batch : n->dim[i]));
        if (i + 1 < n->ndim)
            put(b, ", ");
    }
    put(b, ")");
}

/* Where a node's numbers come from. A fused bias add (no buffer of its
 * own) is computed from its inputs: value x + b (b broadcast over rows),
 * gradient that of its relu where the value is positive, else 0. */
struct tensor {
    const float *v;      /* values, or NULL (fused: from x and b) */
    const int32_t *lab;  /* class labels instead of floats */
    const float *x, *b;  /* fused add: (rows, c) and (c) */
    int64_t c;
    const float *relu_grad; /* fused add's gradient source, or NULL */
    int64_t n;           /* elements */
};

static double value_at(const struct tensor *t, int64_t i)
{
    if (t->lab)
        return t->lab[i];
    if (t->v)
        return t->v[i];
    return (double)(t->x[i] + t->b[i % t->c]);
}

static double grad_at(const struct tensor *t, int64_t i)
{
    if (t->v)
        return t->v[i];
    float z = t->x[i] + t->b[i % t->c];
    return z > 0 ? t->relu_grad[i] : 0;
}

/* A number as %.4g, with -0 written as 0. */
static void put_num(struct buf *b, double v)
{
    put(b, "%.4g", v == 0 ? 0.0 : v);
}

/* One coloured row: "what V" for a tensor of at most entries elements,
 * else "what norm R" and a row of its first entries elements. */
static void put_numbers(struct buf *b, const char *what, const char *color,
                        const struct tensor *t, bool grad, int entries)
{
    double (*at)(const struct tensor *, int64_t) = grad ? grad_at : value_at;
    put(b, "<TR><TD><FONT COLOR=\"%s\">%s ", color, what);
    if (t->n <= entries) {
        if (t->n > 1)
            put(b, "[");
        for (int64_t i = 0; i < t->n; i++) {
            put(b, "%s", i ? ", " : "");
            put_num(b, at(t, i));
        }
        put(b, t->n > 1 ? "]</FONT></TD></TR>" : "</FONT></TD></TR>");
        return;
    }
    double ss = 0;
    for (int64_t i = 0; i < t->n; i++) {
        double v = at(t, i);
        ss += v * v;
    }
    put(b, "norm ");
    put_num(b, sqrt(ss));
    put(b, "</FONT></TD></TR><TR><TD><FONT COLOR=\"%s\">[", color);
    for (int i = 0; i < entries; i++) {
        put(b, "%s", i ? ", " : "");
        put_num(b, at(t, i));
    }
    put(b, ", ...]</FONT></TD></TR>");
}

/* The relu a fused add folds into (its one user). */
static const nn_node *fused_relu(const nn_graph *g, const nn_node *add)
{
    for (int i = 0; i < g->norder; i++)
        if (g->order[i]->op == NN_OP_RELU && g->order[i]->in[0] == add)
            return g->order[i];
    return NULL;
}

static bool is_output(const nn_graph *g, const nn_node *n)
{
    for (int i = 0; i < g->norder; i++)
        for (int j = 0; j < g->order[i]->nin; j++)
            if (g->order[i]->in[j] == n)
                return false;
    return true;
}

static void put_node(struct buf *b, nn_graph *g, nn_node *n, const struct nn_dot_cfg *c,
                     int entries)
{
    int64_t batch = c->values ? g->batch : 0;
    const char *style;
    switch (n->op) {
    case NN_OP_INPUT:
    case NN_OP_LABELS: style = "shape=box, style=\"rounded,filled\", fillcolor=\"#e3f2fd\""; break;
    case NN_OP_CONST: style = "shape=box, style=\"rounded,filled\", fillcolor=\"#eceff1\""; break;
    case NN_OP_PARAM:
        style = n->trainable ? "shape=box, style=filled, fillcolor=\"#fff8e1\""
                             : "shape=box, style=filled, fillcolor=\"#eeeeee\"";
        break;
    default: style = "shape=box, style=rounded";
    }
    put(b, "  ");
    put_id(b, n->name);
    put(b, " [%s%s, label=<<TABLE BORDER=\"0\" CELLBORDER=\"0\" CELLSPACING=\"0\" "
        "CELLPADDING=\"1\"><TR><TD><B>", style, is_output(g, n) ? ", peripheries=2" : "");
    put_html(b, n->name);
    put(b, "</B></TD></TR><TR><TD><FONT POINT-SIZE=\"10\" COLOR=\"%s\">%s ", COLOR_OP,
        n->op == NN_OP_PARAM && !n->trainable ? "buffer" : nn_op_table[n->op].name);
    put_shape(b, n, batch);
    const nn_node *relu = n->fused ? fused_relu(g, n) : NULL;
    if (relu) {
        put(b, ", computed in ");
        put_html(b, relu->name);
    }
    put(b, "</FONT></TD></TR>");
    struct tensor t = {.n = nn_numel(n)};
    if (c->values) {
        if (n->fused) {
            t.x = n->in[0]->val;
            t.b = n->in[1]->val;
            t.c = n->dim[1];
        } else if (n->op == NN_OP_LABELS) {
            t.lab = (const int32_t *)(const void *)n->val;
        } else {
            t.v = n->val;
        }
        if (t.v || t.lab || t.x)
            put_numbers(b, "value", COLOR_VALUE, &t, false, entries);
    }
    if (c->grads && (!c->from || n->mark)) {
        t.lab = NULL;
        t.v = nn_grad(n);
        if (n->fused && relu && relu->grad) {
            t.x = n->in[0]->val;
            t.b = n->in[1]->val;
            t.c = n->dim[1];
            t.relu_grad = relu->grad;
        }
        if (t.v || t.relu_grad)
            put_numbers(b, "grad", COLOR_GRAD, &t, true, entries);
    }
    put(b, "</TABLE>>];\n");
}

char *nn_graph_dot(nn_graph *g, const struct nn_dot_cfg *cfg)
{
    if (!g)
        return NULL;
    struct nn_dot_cfg c = cfg ? *cfg : (struct nn_dot_cfg){0};
    int entries = c.entries > 0 ? c.entries : 4;
    if (!g->compiled) {
        nn_fail(g->ctx, NN_ERR_STATE, "graph_dot: compile the graph first");
        return NULL;
    }
    if ((c.values || c.grads) && g->batch < 1) {
        nn_fail(g->ctx, NN_ERR_STATE, "graph_dot: values asked for, but no batch was fed: "
                "feed the inputs and run forward (and backward) first");
        return NULL;
    }
    if (c.from && (c.from->g != g || !c.from->in_order)) {
        nn_fail(g->ctx, NN_ERR_INVALID, "graph_dot: cfg->from, '%s', is not a compiled node "
                "of this graph", c.from->name);
        return NULL;
    }
    /* mark: the nodes the gradients were taken of (from depends on them) */
    for (int i = g->norder - 1; i >= 0; i--)
        g->order[i]->mark = g->order[i] == c.from;
    for (int i = g->norder - 1; i >= 0; i--)
        for (int j = 0; g->order[i]->mark && j < g->order[i]->nin; j++)
            g->order[i]->in[j]->mark = true;
    struct buf b = {0};
    put(&b, "digraph \"nn\" {\n  rankdir=LR;\n  fontname=\"Helvetica\";\n"
        "  node [fontname=\"Helvetica\", fontsize=12];\n"
        "  edge [fontname=\"Helvetica\", fontsize=10, color=\"#555555\", "
        "fontcolor=\"#333333\"];\n");
    if (c.title || c.values || c.grads) {
        put(&b, "  labelloc=t;\n  label=<");
        if (c.title)
            put_html(&b, c.title);
        if (c.values || c.grads)
            put(&b, "%s<FONT POINT-SIZE=\"11\">%s%s%s", c.title ? "<BR/>" : "",
                c.values ? "<FONT COLOR=\"" COLOR_VALUE "\">value</FONT>: forward pass" : "",
                c.values && c.grads ? "; " : "",
                c.grads ? "<FONT COLOR=\"" COLOR_GRAD "\">grad</FONT>: backward pass, d(" : "");
        if (c.grads) {
            put_html(&b, c.from ? c.from->name : "output");
            put(&b, ")/d(node)");
        }
        put(&b, "%s>;\n", c.values || c.grads ? "</FONT>" : "");
    }
    for (int i = 0; i < g->norder; i++)
        put_node(&b, g, g->order[i], &c, entries);
    for (int i = 0; i < g->norder; i++) {
        const nn_node *n = g->order[i];
        for (int j = 0; j < n->nin; j++) {
            put(&b, "  ");
            put_id(&b, n->in[j]->name);
            put(&b, " -> ");
            put_id(&b, n->name);
            put(&b, " [label=\"");
            put_shape(&b, n->in[j], c.values ? g->batch : 0);
            put(&b, "\"];\n");
        }
    }
    put(&b, "}\n");
    if (b.oom || !b.p) {
        free(b.p);
        nn_fail(g->ctx, NN_ERR_NOMEM, "graph_dot: out of memory for the DOT text");
        return NULL;
    }
    return b.p;
}
