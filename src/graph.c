/*
 * graph.c - building the computation graph, compiling it (topological order,
 * shape bookkeeping, one arena for every buffer, parameter blocks), feeding
 * inputs, and running forward and backward passes.
 */
#include "nn_impl.h"

#include <math.h>
#include <string.h>

static void arena_free(nn_graph *g);

nn_graph *nn_graph_new(nn_ctx *ctx)
{
    if (!ctx)
        return NULL;
    nn_graph *g = calloc(1, sizeof *g);
    if (!g) {
        nn_fail(ctx, NN_ERR_NOMEM, "out of memory creating a graph");
        return NULL;
    }
    g->ctx = ctx;
    return g;
}

void nn_graph_free(nn_graph *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->nnodes; i++) {
        if (g->nodes[i]->state && nn_op_table[g->nodes[i]->op].release)
            nn_op_table[g->nodes[i]->op].release(g->nodes[i]);
        free(g->nodes[i]->name);
        free(g->nodes[i]->const_values);
        free(g->nodes[i]);
    }
    free(g->nodes);
    free(g->order);
    free(g->params);
    nn_aligned_free(g->param_block);
    nn_aligned_free(g->grad_block);
    arena_free(g);
    free(g);
}

nn_ctx *nn_graph_ctx(const nn_graph *g) { return g->ctx; }

const char *nn_shape_str(const nn_node *n, char *buf, size_t len)
{
    size_t off = 0;
    off += (size_t)snprintf(buf + off, len - off, "(");
    for (int i = 0; i < n->ndim && off < len; i++) {
        if (i == 0 && n->batched)
            off += (size_t)snprintf(buf + off, len - off, "N");
        else
            off += (size_t)snprintf(buf + off, len - off, "%lld", (long long)n->dim[i]);
        if (i + 1 < n->ndim && off < len)
            off += (size_t)snprintf(buf + off, len - off, ", ");
    }
    if (off < len)
        snprintf(buf + off, len - off, ")");
    return buf;
}

void nn_set_shape(nn_node *n, bool batched, int ndim, const int64_t *dim)
{
    n->batched = batched;
    n->ndim = ndim;
    int64_t s = 1;
    for (int i = 0; i < ndim; i++) {
        n->dim[i] = dim[i];
        if (!(batched && i == 0) && __builtin_mul_overflow(s, dim[i], &s))
            s = INT64_MAX; /* refused by compile (numel_fits) */
    }
    n->sample_numel = s;
}

/* Registers a node. For op nodes, propagates NULL inputs and runs shape
 * inference; on failure the node is discarded and NULL returned. */
nn_node *nn_node_new(nn_graph *g, enum nn_op op, const char *name,
                     nn_node *const *in, int nin, const union nn_attr *attr)
{
    if (!g)
        return NULL;
    NN_ASSERT(nin >= 0 && nin <= NN_MAX_IN, "too many inputs for a node");
    for (int i = 0; i < nin; i++) {
        if (!in[i]) {
            g->error = true; /* the failing builder already set the message */
            return NULL;
        }
        if (in[i]->g != g) {
            g->error = true;
            nn_fail(g->ctx, NN_ERR_INVALID, "%s: input %d belongs to another graph",
                    nn_op_table[op].name, i);
            return NULL;
        }
    }
    if (g->compiled) {
        g->error = true;
        nn_fail(g->ctx, NN_ERR_STATE, "%s: the graph is already compiled",
                nn_op_table[op].name);
        return NULL;
    }
    char auto_name[64];
    if (!name) {
        snprintf(auto_name, sizeof auto_name, "%s_%d", nn_op_table[op].name, g->nnodes);
        name = auto_name;
    } else if (nn_graph_find(g, name)) {
        g->error = true;
        nn_fail(g->ctx, NN_ERR_INVALID, "node name '%s' is already used", name);
        return NULL;
    }
    nn_node *n = calloc(1, sizeof *n);
    char *nm = n ? malloc(strlen(name) + 1) : NULL;
    if (g->nnodes == g->cap) {
        int cap = g->cap ? 2 * g->cap : 32;
        nn_node **nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
        if (nodes) {
            g->nodes = nodes;
            g->cap = cap;
        }
    }
    if (!n || !nm || g->nnodes == g->cap) {
        free(n);
        free(nm);
        g->error = true;
        nn_fail(g->ctx, NN_ERR_NOMEM, "out of memory adding node '%s'", name);
        return NULL;
    }
    strcpy(nm, name);
    n->name = nm;
    n->op = op;
    n->g = g;
    n->id = g->nnodes;
    n->nin = nin;
    if (attr)
        n->attr = *attr;
    for (int i = 0; i < nin; i++) {
        n->in[i] = in[i];
        if (in[i]->requires_grad && nn_op_table[op].differentiable)
            n->requires_grad = true;
    }
    if (nn_op_table[op].infer) {
        nn_status st = nn_op_table[op].infer(g, n);
        if (st != NN_OK) {
            free(n->name);
            free(n);
            g->error = true;
            return NULL;
        }
    }
    g->nodes[g->nnodes++] = n;
    return n;
}

nn_node *nn_graph_find(const nn_graph *g, const char *name)
{
    for (int i = 0; i < g->nnodes; i++)
        if (strcmp(g->nodes[i]->name, name) == 0)
            return g->nodes[i];
    return NULL;
}

static bool check_dims(nn_graph *g, const char *what, const char *name, int ndim,
                       const int64_t *dims, int max_ndim)
{
    if (ndim < 1 || ndim > max_ndim || !dims) {
        g->error = true;
        nn_fail(g->ctx, NN_ERR_SHAPE, "%s '%s': %d dimensions given, expected 1 to %d",
                what, name ? name : "?", ndim, max_ndim);
        return false;
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 1 || dims[i] > NN_MAX_NUMEL) {
            g->error = true;
            nn_fail(g->ctx, NN_ERR_SHAPE, "%s '%s': dimension %d is %lld, expected 1 to %lld",
                    what, name ? name : "?", i, (long long)dims[i], (long long)NN_MAX_NUMEL);
            return false;
        }
        numel *= dims[i]; /* both factors <= 2^40: no overflow before the check */
        if (numel > NN_MAX_NUMEL) {
            g->error = true;
            nn_fail(g->ctx, NN_ERR_SHAPE, "%s '%s': the first %d dimensions hold more than "
                    "%lld elements", what, name ? name : "?", i + 1, (long long)NN_MAX_NUMEL);
            return false;
        }
    }
    return true;
}

nn_node *nn_input(nn_graph *g, const char *name, int ndim, const int64_t *dims)
{
    if (!g || !check_dims(g, "input", name, ndim, dims, NN_MAX_DIMS - 1))
        return NULL;
    nn_node *n = nn_node_new(g, NN_OP_INPUT, name, NULL, 0, NULL);
    if (!n)
        return NULL;
    int64_t full[NN_MAX_DIMS] = {1};
    memcpy(full + 1, dims, (size_t)ndim * sizeof *dims);
    nn_set_shape(n, true, ndim + 1, full);
    return n;
}

nn_node *nn_labels(nn_graph *g, const char *name)
{
    nn_node *n = nn_node_new(g, NN_OP_LABELS, name, NULL, 0, NULL);
    if (n)
        nn_set_shape(n, true, 1, (int64_t[]){1});
    return n;
}

static nn_node *new_param(nn_graph *g, const char *what, const char *name, int ndim,
                          const int64_t *dims, struct nn_init init, bool trainable)
{
    if (!g || !check_dims(g, what, name, ndim, dims, NN_MAX_DIMS))
        return NULL;
    if ((int)init.kind < 0 || init.kind >= NN_INIT_COUNT) {
        g->error = true;
        nn_fail(g->ctx, NN_ERR_INVALID, "%s '%s': unknown initializer %d", what,
                name ? name : "?", (int)init.kind);
        return NULL;
    }
    nn_node *n = nn_node_new(g, NN_OP_PARAM, name, NULL, 0, NULL);
    if (!n)
        return NULL;
    nn_set_shape(n, false, ndim, dims);
    n->init = init;
    n->trainable = trainable;
    n->requires_grad = trainable;
    nn_node **p = realloc(g->params, (size_t)(g->nparams + 1) * sizeof *p);
    if (!p) {
        g->error = true;
        nn_fail(g->ctx, NN_ERR_NOMEM, "out of memory adding %s '%s'", what, n->name);
        return NULL;
    }
    g->params = p;
    n->param_offset = g->param_count;
    g->params[g->nparams++] = n;
    g->param_count += n->sample_numel;
    return n;
}

nn_node *nn_param(nn_graph *g, const char *name, int ndim, const int64_t *dims,
                  struct nn_init init)
{
    return new_param(g, "parameter", name, ndim, dims, init, true);
}

nn_node *nn_buffer(nn_graph *g, const char *name, int ndim, const int64_t *dims,
                   struct nn_init init)
{
    return new_param(g, "buffer", name, ndim, dims, init, false);
}

bool nn_param_is_trainable(const nn_node *p)
{
    return p && p->op == NN_OP_PARAM && p->trainable;
}

nn_node *nn_const(nn_graph *g, const char *name, int ndim, const int64_t *dims,
                  const float *values)
{
    if (!g || !check_dims(g, "constant", name, ndim, dims, NN_MAX_DIMS))
        return NULL;
    if (!values) {
        g->error = true;
        nn_fail(g->ctx, NN_ERR_INVALID, "constant '%s': no values given", name ? name : "?");
        return NULL;
    }
    nn_node *n = nn_node_new(g, NN_OP_CONST, name, NULL, 0, NULL);
    if (!n)
        return NULL;
    nn_set_shape(n, false, ndim, dims);
    n->const_values = malloc((size_t)n->sample_numel * sizeof(float));
    if (!n->const_values) {
        g->error = true;
        nn_fail(g->ctx, NN_ERR_NOMEM, "out of memory for constant '%s'", n->name);
        return NULL;
    }
    memcpy(n->const_values, values, (size_t)n->sample_numel * sizeof(float));
    return n;
}

void nn_input_requires_grad(nn_node *input, bool on)
{
    if (input && input->op == NN_OP_INPUT && !input->g->compiled) {
        input->user_grad = on;
        input->requires_grad = on;
    }
}

nn_node *nn_unary_new(nn_graph *g, enum nn_op op, nn_node *a)
{
    return nn_node_new(g, op, NULL, &a, 1, NULL);
}

nn_status nn_infer_same(nn_graph *g, nn_node *n)
{
    (void)g;
    nn_set_shape(n, n->in[0]->batched, n->in[0]->ndim, n->in[0]->dim);
    return NN_OK;
}

/* ---- compile ------------------------------------------------------------ */

static void visit(nn_node *n, nn_node **order, int *k)
{
    /* Iterative post-order would avoid recursion depth limits; graphs here
     * are shallow (a few hundred nodes) so recursion is fine. */
    if (n->mark)
        return;
    n->mark = true;
    for (int i = 0; i < n->nin; i++)
        visit(n->in[i], order, k);
    order[(*k)++] = n;
}

/* Marks the adds that can be folded into the relu after them: a batched
 * (N, C) add of a 1-D (C) parameter, used by that relu alone and not an
 * output. */
static void fuse_bias_relu(nn_graph *g, nn_node *const *outputs, int noutputs)
{
    for (int i = 0; i < g->norder; i++) {
        nn_node *r = g->order[i], *a = r->nin ? r->in[0] : NULL;
        if (r->op != NN_OP_RELU || !a || a->op != NN_OP_ADD || a->ndim != 2 || !a->batched)
            continue;
        nn_node *x = a->in[0], *b = a->in[1];
        if (b->op != NN_OP_PARAM || b->ndim != 1 || b->dim[0] != a->dim[1] ||
            x->ndim != 2 || !x->batched || x->dim[1] != a->dim[1])
            continue;
        bool single = true;
        for (int j = 0; j < noutputs; j++)
            single &= outputs[j] != a;
        for (int j = 0; j < g->norder && single; j++)
            for (int q = 0; q < g->order[j]->nin; q++)
                single &= g->order[j] == r || g->order[j]->in[q] != a;
        if (single)
            a->fused = true;
    }
}

/* Whether n's buffer at a batch of max_batch rows holds at most
 * NN_MAX_NUMEL elements (products of shapes that are each in range, as a
 * matmul's, may not be). */
static bool numel_fits(const nn_node *n, int64_t max_batch)
{
    int64_t e = n->batched ? max_batch : 1;
    for (int i = n->batched ? 1 : 0; i < n->ndim; i++)
        if (__builtin_mul_overflow(e, n->dim[i], &e) || e > NN_MAX_NUMEL)
            return false;
    return e <= NN_MAX_NUMEL;
}

static size_t round_up(size_t x) { return (x + NN_ALIGN - 1) / NN_ALIGN * NN_ALIGN; }

/* Under AddressSanitizer every arena buffer is followed by a poisoned red
 * zone (from its last byte to the next buffer): a write past the end of
 * one activation, which would land silently in the next, is reported. */
#if defined(__SANITIZE_ADDRESS__)
#define NN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NN_ASAN 1
#endif
#endif
#ifdef NN_ASAN
#include <sanitizer/asan_interface.h>
#define NN_REDZONE NN_ALIGN
#else
#define NN_REDZONE 0
#endif

/* Bytes a buffer of the given size takes in the arena, red zone included. */
static size_t span(size_t bytes) { return round_up(bytes) + NN_REDZONE; }

/* The next buffer of the arena, of the given size, at base + *off (NULL
 * while base is NULL: the sizing pass); poisons its red zone. */
static float *place(char *base, size_t *off, size_t bytes)
{
    char *p = base ? base + *off : NULL;
    *off += span(bytes);
#ifdef NN_ASAN
    if (p)
        ASAN_POISON_MEMORY_REGION(p + bytes, span(bytes) - bytes);
#endif
    return (float *)(void *)p;
}

static void arena_free(nn_graph *g)
{
#ifdef NN_ASAN
    if (g->arena)
        ASAN_UNPOISON_MEMORY_REGION(g->arena, g->arena_size);
#endif
    free(g->arena_block);
    g->arena = g->arena_block = NULL;
}

nn_status nn_graph_compile(nn_graph *g, nn_node *const *outputs, int noutputs,
                           int64_t max_batch)
{
    if (!g)
        return NN_ERR_INVALID;
    nn_ctx *ctx = g->ctx;
    if (g->compiled)
        return nn_fail(ctx, NN_ERR_STATE, "compile: the graph is already compiled");
    if (g->error) {
        char first[sizeof ctx->err];
        snprintf(first, sizeof first, "%s", ctx->err[0] ? ctx->err : "(message cleared)");
        return nn_fail(ctx, NN_ERR_STATE, "compile: an earlier call building the graph "
                       "failed: %s", first);
    }
    if (max_batch < 1)
        return nn_fail(ctx, NN_ERR_INVALID, "compile: max_batch is %lld, expected >= 1",
                       (long long)max_batch);
    if (noutputs < 1 || !outputs)
        return nn_fail(ctx, NN_ERR_INVALID, "compile: no output nodes given");
    for (int i = 0; i < noutputs; i++)
        if (!outputs[i] || outputs[i]->g != g)
            return nn_fail(ctx, NN_ERR_INVALID, "compile: output %d is %s", i,
                           outputs[i] ? "from another graph" : "NULL");
    for (int i = 0; i < g->nnodes; i++)
        if (!numel_fits(g->nodes[i], max_batch)) {
            char sh[64];
            return nn_fail(ctx, NN_ERR_SHAPE, "compile: node '%s' of shape %s at max_batch "
                           "%lld would hold more than %lld elements", g->nodes[i]->name,
                           nn_shape_str(g->nodes[i], sh, sizeof sh), (long long)max_batch,
                           (long long)NN_MAX_NUMEL);
        }

    free(g->order); /* from a compile that failed after this point */
    g->order = malloc((size_t)g->nnodes * sizeof *g->order);
    if (!g->order)
        return nn_fail(ctx, NN_ERR_NOMEM, "compile: out of memory");
    for (int i = 0; i < g->nnodes; i++)
        g->nodes[i]->mark = false;
    int k = 0;
    for (int i = 0; i < noutputs; i++)
        visit(outputs[i], g->order, &k);
    g->norder = k;
    for (int i = 0; i < k; i++)
        g->order[i]->in_order = true;
    if (g->fuse)
        fuse_bias_relu(g, outputs, noutputs);
    /* Op state (the convolution backend's primitives), made once here and
     * reused by every pass; a failed compile leaves it to nn_graph_free. */
    for (int i = 0; i < k; i++) {
        nn_node *n = g->order[i];
        if (nn_op_table[n->op].prepare && !n->state) {
            nn_status st = nn_op_table[n->op].prepare(g, n, max_batch);
            if (st != NN_OK)
                return st;
        }
    }

    /* Arena: values, gradients and scratch of every non-parameter node.
     * Views (reshape) share their input's value, and its gradient unless
     * the input is a parameter. */
    g->max_batch = max_batch;
    size_t total = 0;
    for (int pass = 0; pass < 2; pass++) {
        char *base = g->arena;
        size_t off = 0;
        for (int i = 0; i < k; i++) {
            nn_node *n = g->order[i];
            int64_t rows = n->batched ? max_batch : 1;
            size_t vbytes = (size_t)(rows * n->sample_numel) * sizeof(float);
            bool view = nn_op_table[n->op].view;
            if (n->op != NN_OP_PARAM && !n->fused && !view)
                n->val = place(base, &off, vbytes);
            /* a view's gradient aliases its input's, except a view of a
             * parameter (parameter gradients are zeroed lazily) */
            if (n->op != NN_OP_PARAM && !n->fused && n->requires_grad &&
                (!view || n->in[0]->op == NN_OP_PARAM))
                n->grad = place(base, &off, vbytes);
            if (nn_op_table[n->op].aux_size) {
                int64_t a = nn_op_table[n->op].aux_size(n, max_batch);
                n->aux = place(base, &off, (size_t)a * sizeof(float));
            }
        }
        if (!pass) {
            total = off;
            /* Zeroed by calloc, which for a large block takes fresh pages
             * from the system and does not write them: the pages of rows
             * no batch reaches are never touched. (A memset here made every
             * page resident at compile time: the LeNet graph compiled for
             * batches of 1000 took 0.87 s and 158 MB of resident memory
             * before the first batch, whose 64 rows need a sixteenth of
             * it.) */
            g->arena_block = calloc(1, total + NN_ALIGN);
            if (!g->arena_block)
                return nn_fail(ctx, NN_ERR_NOMEM,
                               "compile: out of memory for %zu bytes of activations", total);
            g->arena = (void *)(((uintptr_t)g->arena_block + NN_ALIGN - 1) /
                                NN_ALIGN * NN_ALIGN);
        }
    }
    g->arena_size = total;

    /* Parameter and gradient blocks, then initialization in creation order. */
    size_t pbytes = (size_t)g->param_count * sizeof(float);
    g->param_block = nn_aligned_alloc(pbytes);
    g->grad_block = nn_aligned_alloc(pbytes + NN_GRAD_SPARE * sizeof(float));
    if (!g->param_block || !g->grad_block)
        return nn_fail(ctx, NN_ERR_NOMEM, "compile: out of memory for %lld parameters",
                       (long long)g->param_count);
    memset(g->grad_block, 0, pbytes + NN_GRAD_SPARE * sizeof(float));
    for (int i = 0; i < g->nparams; i++) {
        nn_node *p = g->params[i];
        p->val = g->param_block + p->param_offset;
        /* a buffer's part of the gradient block stays zero */
        p->grad = p->trainable ? g->grad_block + p->param_offset : NULL;
        int64_t fan_in = p->ndim > 1 ? p->dim[1] : p->dim[0];
        int64_t fan_out = p->dim[0];
        for (int d = 2; d < p->ndim; d++) {
            fan_in *= p->dim[d];
            fan_out *= p->dim[d];
        }
        nn_status st = nn_init_fill(ctx, p->init, p->val, p->sample_numel, fan_in, fan_out);
        if (st != NN_OK)
            return st;
    }
    for (int i = 0; i < k; i++) { /* in order: a view of a view follows it */
        nn_node *n = g->order[i];
        if (!nn_op_table[n->op].view)
            continue;
        n->val = n->in[0]->val;
        if (n->requires_grad && n->in[0]->op != NN_OP_PARAM)
            n->grad = n->in[0]->grad;
    }
    for (int i = 0; i < k; i++) {
        nn_node *n = g->order[i];
        if (n->op == NN_OP_CONST) {
            memcpy(n->val, n->const_values, (size_t)n->sample_numel * sizeof(float));
            free(n->const_values);
            n->const_values = NULL;
        }
    }
    /* A graph without inputs (parameters and constants only) runs at once. */
    g->batch = 1;
    for (int i = 0; i < k; i++)
        if (g->order[i]->op == NN_OP_INPUT || g->order[i]->op == NN_OP_LABELS)
            g->batch = 0;
    g->compiled = true;
    return NN_OK;
}

/* ---- feeding ------------------------------------------------------------ */

static nn_status check_leaf(nn_graph *g, nn_node *n, enum nn_op op, int64_t count,
                            const char *fn)
{
    if (!g->compiled)
        return nn_fail(g->ctx, NN_ERR_STATE, "%s: compile the graph first", fn);
    if (!n || n->g != g || n->op != op)
        return nn_fail(g->ctx, NN_ERR_INVALID, "%s: node '%s' is not %s", fn,
                       n ? n->name : "NULL", op == NN_OP_INPUT ? "an input" : "a labels node");
    if (count < 1 || count > g->max_batch)
        return nn_fail(g->ctx, NN_ERR_INVALID,
                       "%s: %lld samples for '%s', expected 1 to %lld (the compiled maximum)",
                       fn, (long long)count, n->name, (long long)g->max_batch);
    return NN_OK;
}

nn_status nn_set_batch(nn_graph *g, int64_t n)
{
    if (!g->compiled)
        return nn_fail(g->ctx, NN_ERR_STATE, "set_batch: compile the graph first");
    if (n < 1 || n > g->max_batch)
        return nn_fail(g->ctx, NN_ERR_INVALID,
                       "set_batch: batch of %lld, expected 1 to %lld", (long long)n,
                       (long long)g->max_batch);
    g->batch = n;
    for (int i = 0; i < g->norder; i++)
        if (g->order[i]->op == NN_OP_INPUT || g->order[i]->op == NN_OP_LABELS)
            g->order[i]->fed = n;
    return NN_OK;
}

int64_t nn_graph_batch(const nn_graph *g) { return g->batch; }

nn_status nn_feed(nn_graph *g, nn_node *input, const float *data, int64_t n)
{
    nn_status st = check_leaf(g, input, NN_OP_INPUT, n, "feed");
    if (st != NN_OK)
        return st;
    if (!input->val)
        return nn_fail(g->ctx, NN_ERR_INVALID,
                       "feed: input '%s' is not used by the compiled outputs", input->name);
    if (!data)
        return nn_fail(g->ctx, NN_ERR_INVALID, "feed: no data given for '%s' (%lld samples)",
                       input->name, (long long)n);
    memcpy(input->val, data, (size_t)(n * input->sample_numel) * sizeof(float));
    input->fed = n;
    g->batch = n;
    return NN_OK;
}

/* Whether every compiled consumer of input reads it only as the left
 * operand of a product (so its rows can stay in the caller's memory). */
static bool read_by_products_only(const nn_graph *g, const nn_node *input)
{
    for (int i = 0; i < g->norder; i++) {
        const nn_node *n = g->order[i];
        for (int j = 0; j < n->nin; j++)
            if (n->in[j] == input && (n->op != NN_OP_MATMUL || j != 0))
                return false;
    }
    return true;
}

nn_status nn_feed_ref(nn_graph *g, nn_node *input, const float *data, int64_t n,
                      float **own)
{
    *own = NULL;
    if (g->training || !g->compiled || !input || input->g != g ||
        input->op != NN_OP_INPUT || !input->val || !data || n < 1 || n > g->max_batch ||
        !read_by_products_only(g, input))
        return nn_feed(g, input, data, n); /* checks and copies */
    *own = input->val;
    input->val = (float *)(uintptr_t)data; /* read only: see read_by_products_only */
    input->fed = n;
    g->batch = n;
    return NN_OK;
}

nn_status nn_feed_labels(nn_graph *g, nn_node *labels, const int32_t *y, int64_t n)
{
    nn_status st = check_leaf(g, labels, NN_OP_LABELS, n, "feed_labels");
    if (st != NN_OK)
        return st;
    if (!labels->val)
        return nn_fail(g->ctx, NN_ERR_INVALID,
                       "feed_labels: '%s' is not used by the compiled outputs", labels->name);
    if (!y)
        return nn_fail(g->ctx, NN_ERR_INVALID,
                       "feed_labels: no labels given for '%s' (%lld samples)", labels->name,
                       (long long)n);
    memcpy(labels->val, y, (size_t)n * sizeof(int32_t));
    labels->fed = n;
    g->batch = n;
    return NN_OK;
}

float *nn_input_buffer(nn_graph *g, nn_node *input)
{
    if (!g->compiled || !input || input->op != NN_OP_INPUT)
        return NULL;
    return input->val;
}

int32_t *nn_labels_buffer(nn_graph *g, nn_node *labels)
{
    if (!g->compiled || !labels || labels->op != NN_OP_LABELS)
        return NULL;
    return (int32_t *)(void *)labels->val;
}

void nn_graph_set_training(nn_graph *g, bool on) { g->training = on; }

void nn_graph_set_fuse(nn_graph *g, bool on)
{
    if (g && !g->compiled)
        g->fuse = on;
}

/* ---- running ------------------------------------------------------------ */

static nn_status run_node(nn_graph *g, nn_node *n)
{
    if (n->op == NN_OP_INPUT || n->op == NN_OP_LABELS) {
        if (n->fed != g->batch)
            return nn_fail(g->ctx, NN_ERR_STATE,
                           "forward: '%s' holds %lld samples but the batch is %lld",
                           n->name, (long long)n->fed, (long long)g->batch);
        return NN_OK;
    }
    if (!nn_op_table[n->op].forward || n->fused) /* a fused add runs in its relu */
        return NN_OK;
    return nn_op_table[n->op].forward(g, n);
}

static nn_status check_run(nn_graph *g, const char *fn)
{
    if (!g->compiled)
        return nn_fail(g->ctx, NN_ERR_STATE, "%s: compile the graph first", fn);
    if (g->batch < 1)
        return nn_fail(g->ctx, NN_ERR_STATE, "%s: no batch fed yet", fn);
    return NN_OK;
}

nn_status nn_forward(nn_graph *g)
{
    nn_status st = check_run(g, "forward");
    for (int i = 0; st == NN_OK && i < g->norder; i++)
        st = run_node(g, g->order[i]);
    return st;
}

nn_status nn_forward_to(nn_graph *g, nn_node *out)
{
    nn_status st = check_run(g, "forward_to");
    if (st != NN_OK)
        return st;
    if (!out || out->g != g || !out->in_order)
        return nn_fail(g->ctx, NN_ERR_INVALID, "forward_to: node '%s' was not compiled",
                       out ? out->name : "NULL");
    for (int i = 0; i < g->norder; i++)
        g->order[i]->mark = false;
    out->mark = true;
    int pos = 0;
    while (g->order[pos] != out)
        pos++;
    for (int i = pos; i >= 0; i--) {
        nn_node *n = g->order[i];
        if (!n->mark)
            continue;
        for (int j = 0; j < n->nin; j++)
            n->in[j]->mark = true;
    }
    for (int i = 0; i <= pos; i++)
        if (g->order[i]->mark && (st = run_node(g, g->order[i])) != NN_OK)
            return st;
    return NN_OK;
}

/* Below this many gradient elements in all, one thread zeroes them. */
#define ZERO_PARALLEL_MIN (1 << 16)

/* Thread t's share of every activation gradient, zeroed. The shares follow
 * the batch's split among the threads, as the kernels' do, so each thread
 * finds its part of a gradient in its own cache. Measured on LeNet at
 * batch 64, two threads: the zeroing 67-99 us on one thread, 47-51 on
 * both; the first relu's backward after it 42-65 us, then 37-38. */
static void zero_grads_part(void *arg, int t, int nt)
{
    const nn_graph *g = arg;
    for (int i = 0; i < g->norder; i++) {
        nn_node *n = g->order[i];
        if (!n->grad || n->op == NN_OP_PARAM)
            continue;
        int64_t lo, hi;
        nn_split(nn_numel(n), 16, t, nt, &lo, &hi);
        if (hi > lo)
            memset(n->grad + lo, 0, (size_t)(hi - lo) * sizeof(float));
    }
}

nn_status nn_backward_seeded(nn_graph *g, nn_node *out, const float *seed)
{
    nn_status st = check_run(g, "backward");
    if (st != NN_OK)
        return st;
    if (!out || out->g != g || !out->in_order)
        return nn_fail(g->ctx, NN_ERR_INVALID, "backward: node '%s' was not compiled",
                       out ? out->name : "NULL");
    if (!out->requires_grad)
        return nn_fail(g->ctx, NN_ERR_STATE,
                       "backward: '%s' does not depend on any parameter", out->name);
    /* Activation gradients are per pass; parameter gradients accumulate. */
    int pos = 0;
    int64_t zeros = 0;
    for (int i = 0; i < g->norder; i++) {
        nn_node *n = g->order[i];
        if (n == out)
            pos = i;
        if (n->grad && n->op != NN_OP_PARAM)
            zeros += nn_numel(n);
    }
    nn_pool_run(zeros >= ZERO_PARALLEL_MIN ? nn_ctx_pool(g->ctx) : NULL, zero_grads_part, g);
    int64_t m = nn_numel(out);
    for (int64_t i = 0; i < m; i++)
        out->grad[i] += seed ? seed[i] : 1.0f;
    for (int i = pos; i >= 0; i--) {
        nn_node *n = g->order[i];
        if (!n->requires_grad || !nn_op_table[n->op].backward)
            continue;
        if (n->fused) /* its relu back-propagated through it already */
            continue;
        /* A stale parameter gradient must be zeroed before an op adds to it,
         * except matmul's b, which the product overwrites (beta = 0). */
        for (int j = 0; j < n->nin; j++)
            if (n->in[j]->grad_stale &&
                !(n->op == NN_OP_MATMUL && j == 1 && n->in[0] != n->in[1]))
                nn_grad_materialize(n->in[j]);
        if (n->nin && n->in[0]->fused) /* a relu also writing its add's bias */
            nn_grad_materialize(n->in[0]->in[1]);
        nn_op_table[n->op].backward(g, n);
    }
    for (int i = 0; i < g->nparams; i++) /* parameters this pass did not reach */
        nn_grad_materialize(g->params[i]);
    return NN_OK;
}

nn_status nn_backward(nn_graph *g, nn_node *loss)
{
    if (loss && loss->g == g && nn_numel(loss) != 1)
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "backward: '%s' has %lld elements; a loss must be a scalar "
                       "(use nn_backward_seeded for others)",
                       loss->name, (long long)nn_numel(loss));
    return nn_backward_seeded(g, loss, NULL);
}

/* Zeroing is deferred: the first backward writer of each parameter
 * overwrites instead of adding, which saves a pass over the gradient block
 * and the products' read of it. Every reader materializes the zeros. */
void nn_zero_grad(nn_graph *g)
{
    for (int i = 0; g->grad_block && i < g->nparams; i++)
        g->params[i]->grad_stale = true;
}

void nn_grad_materialize(nn_node *p)
{
    if (p->grad_stale && p->grad) {
        memset(p->grad, 0, (size_t)p->sample_numel * sizeof(float));
        p->grad_stale = false;
    }
}

/* ---- inspection --------------------------------------------------------- */

const float *nn_value(const nn_node *n) { return n ? n->val : NULL; }
float *nn_value_mut(nn_node *n) { return n ? n->val : NULL; }
const float *nn_grad(const nn_node *n)
{
    if (!n)
        return NULL;
    nn_grad_materialize((nn_node *)n); /* logically zero already: not a visible change */
    return n->grad;
}
int nn_node_ndim(const nn_node *n) { return n->ndim; }
int64_t nn_node_dim(const nn_node *n, int axis)
{
    if (axis < 0)
        axis += n->ndim;
    if (axis < 0 || axis >= n->ndim)
        return 0;
    return axis == 0 ? nn_dim0(n) : n->dim[axis];
}
int64_t nn_node_numel(const nn_node *n) { return nn_numel(n); }
const char *nn_node_name(const nn_node *n) { return n->name; }
const char *nn_node_op(const nn_node *n) { return nn_op_table[n->op].name; }
bool nn_node_is_param(const nn_node *n) { return n->op == NN_OP_PARAM; }
int nn_graph_nparams(const nn_graph *g) { return g->nparams; }
int nn_graph_nnodes(const nn_graph *g) { return g->nnodes; }
nn_node *nn_graph_node(const nn_graph *g, int i)
{
    return i >= 0 && i < g->nnodes ? g->nodes[i] : NULL;
}
nn_node *nn_graph_param(const nn_graph *g, int i)
{
    return i >= 0 && i < g->nparams ? g->params[i] : NULL;
}
int64_t nn_graph_param_count(const nn_graph *g) { return g->param_count; }
float *nn_graph_param_block(nn_graph *g) { return g->param_block; }
float *nn_graph_grad_block(nn_graph *g)
{
    for (int i = 0; i < g->nparams; i++)
        nn_grad_materialize(g->params[i]);
    return g->grad_block;
}
int64_t nn_param_offset(const nn_node *p) { return p->param_offset; }

nn_status nn_node_set_name(nn_node *n, const char *name)
{
    if (!n)
        return NN_ERR_INVALID;
    nn_ctx *ctx = n->g->ctx;
    if (!name || !*name)
        return nn_fail(ctx, NN_ERR_INVALID, "set_name: node '%s': the new name is empty",
                       n->name);
    nn_node *other = nn_graph_find(n->g, name);
    if (other == n)
        return NN_OK;
    if (other)
        return nn_fail(ctx, NN_ERR_INVALID, "set_name: cannot rename '%s' to '%s': another "
                       "node (%s) has that name", n->name, name, nn_op_table[other->op].name);
    char *nm = malloc(strlen(name) + 1);
    if (!nm)
        return nn_fail(ctx, NN_ERR_NOMEM, "set_name: out of memory renaming '%s'", n->name);
    strcpy(nm, name);
    free(n->name);
    n->name = nm;
    return NN_OK;
}

bool nn_node_auto_named(const nn_node *n)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%s_%d", nn_op_table[n->op].name, n->id);
    return strcmp(n->name, buf) == 0;
}
