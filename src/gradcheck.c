/*
 * gradcheck.c - central finite-difference checks of the backward pass, for
 * any compiled graph and for each op of the table on an example graph.
 */
#include "ops/ops.h"

#include <math.h>
#include <string.h>

#define GC_BATCH 3
#define GC_FLOOR 0.1 /* relative errors are taken against max(|a|, |f|, this) */

nn_node *nn_ex_input(nn_graph *g, const char *name, int ndim, const int64_t *dims)
{
    nn_node *x = nn_input(g, name, ndim, dims);
    nn_input_requires_grad(x, true);
    return x;
}

nn_node *nn_ex_param(nn_graph *g, const char *name, int ndim, const int64_t *dims)
{
    return nn_param(g, name, ndim, dims, (struct nn_init){.kind = NN_INIT_ZEROS});
}

/* L = sum(r * out), in double. */
static double project(const nn_node *out, const float *r)
{
    int64_t m = nn_numel(out);
    double s = 0;
    for (int64_t i = 0; i < m; i++)
        s += (double)r[i] * out->val[i];
    return s;
}

/* Collects the tensors to check: parameters and inputs that asked. */
static int targets(nn_graph *g, nn_node **t)
{
    int k = 0;
    for (int i = 0; i < g->norder; i++) {
        nn_node *n = g->order[i];
        if ((n->op == NN_OP_PARAM || n->user_grad) && n->grad)
            t[k++] = n;
    }
    return k;
}

nn_status nn_gradcheck(nn_graph *g, nn_node *out, double eps,
                       struct nn_gradcheck_result *res)
{
    nn_ctx *ctx = g->ctx;
    memset(res, 0, sizeof *res);
    if (!g->compiled || !out || out->g != g || !out->in_order)
        return nn_fail(ctx, NN_ERR_STATE, "gradcheck: compile the graph with its output first");
    if (!(eps > 0))
        return nn_fail(ctx, NN_ERR_INVALID, "gradcheck: step %g must be > 0", eps);
    nn_status st = nn_forward(g);
    if (st != NN_OK)
        return st;
    int64_t m = nn_numel(out);
    nn_node **t = malloc((size_t)g->norder * sizeof *t);
    float *r = malloc((size_t)m * sizeof *r);
    int nt = t ? targets(g, t) : 0;
    int64_t total = 0;
    for (int i = 0; i < nt; i++)
        total += nn_numel(t[i]);
    float *analytic = malloc((size_t)(total ? total : 1) * sizeof *analytic);
    if (!t || !r || !analytic) {
        free(t);
        free(r);
        free(analytic);
        return nn_fail(ctx, NN_ERR_NOMEM, "gradcheck: out of memory");
    }
    for (int64_t i = 0; i < m; i++)
        r[i] = nn_rng_normal(&ctx->rng);
    nn_zero_grad(g);
    st = nn_backward_seeded(g, out, r);
    int64_t k = 0;
    for (int i = 0; st == NN_OK && i < nt; i++) {
        memcpy(analytic + k, t[i]->grad, (size_t)nn_numel(t[i]) * sizeof(float));
        k += nn_numel(t[i]);
    }
    bool frozen = g->freeze_masks;
    g->freeze_masks = true; /* dropout keeps the mask of the pass above */
    k = 0;
    for (int i = 0; st == NN_OK && i < nt; i++) {
        float *x = t[i]->val;
        for (int64_t j = 0; st == NN_OK && j < nn_numel(t[i]); j++, k++) {
            float x0 = x[j];
            double h = eps * fmax(1.0, fabs((double)x0));
            x[j] = (float)(x0 + h);
            double hp = (double)x[j] - x0; /* the step actually taken */
            st = nn_forward(g);
            double lp = project(out, r);
            x[j] = (float)(x0 - h);
            double hm = x0 - (double)x[j];
            if (st == NN_OK)
                st = nn_forward(g);
            double lm = project(out, r);
            x[j] = x0;
            double f = (lp - lm) / (hp + hm);
            double a = analytic[k];
            double ae = fabs(a - f);
            double re = ae / fmax(GC_FLOOR, fmax(fabs(a), fabs(f)));
            if (!(ae <= res->max_abs_err))
                res->max_abs_err = ae; /* NaN propagates */
            if (!(re <= res->max_rel_err))
                res->max_rel_err = re;
            res->checked++;
        }
    }
    if (st == NN_OK)
        st = nn_forward(g); /* leave the graph's values consistent */
    g->freeze_masks = frozen;
    free(t);
    free(r);
    free(analytic);
    return st;
}

/* Values away from the kinks at -1, 0 and 1 (relu, abs, hardtanh, sign),
 * so that a step of eps never crosses one. */
static float away_from_kinks(float v)
{
    for (int k = -1; k <= 1; k++)
        if (fabsf(v - (float)k) < 0.05f)
            v = (float)k + (v >= (float)k ? 0.05f : -0.05f);
    return v;
}

static void fill(nn_ctx *ctx, float *x, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = away_from_kinks(lo + (hi - lo) * nn_rng_uniform(&ctx->rng));
}

/* n distinct values spread evenly over [lo, hi] in random order, so that no
 * two are closer than a step of the check: max pooling has a kink wherever
 * two elements of a window tie, which fill's snapping away from the other
 * kinks would make common. */
static void fill_distinct(nn_ctx *ctx, float *x, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * ((float)i + 0.5f) / (float)n;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)nn_rng_below(&ctx->rng, (uint64_t)i + 1);
        float t = x[i];
        x[i] = x[j];
        x[j] = t;
    }
}

nn_status nn_gradcheck_op(nn_ctx *ctx, int i, struct nn_gradcheck_result *res,
                          double *tol)
{
    memset(res, 0, sizeof *res);
    if (i < 0 || i >= NN_OP_COUNT)
        return nn_fail(ctx, NN_ERR_INVALID, "gradcheck: no op %d", i);
    const struct nn_op_def *d = &nn_op_table[i];
    if (tol)
        *tol = d->gc_tol;
    if (!d->example)
        return nn_fail(ctx, NN_ERR_INVALID, "gradcheck: '%s' is a leaf, not an op", d->name);
    nn_graph *g = nn_graph_new(ctx);
    if (!g)
        return NN_ERR_NOMEM;
    nn_node *out = d->example(g);
    nn_status st = out ? nn_graph_compile(g, &out, 1, GC_BATCH) : NN_ERR_STATE;
    if (st == NN_OK && out->op != (enum nn_op)i)
        st = nn_fail(ctx, NN_ERR_STATE, "gradcheck: the example of '%s' ends in '%s'",
                     d->name, nn_op_table[out->op].name);
    /* Probabilities for bce, positive numbers for log, else [-2, 2]; inputs
     * of max pooling without ties. */
    float lo = -2.0f, hi = 2.0f;
    if (i == NN_OP_BCE)
        lo = 0.06f, hi = 0.94f;
    else if (i == NN_OP_LOG)
        lo = 0.2f, hi = 3.0f;
    for (int k = 0; st == NN_OK && k < g->norder; k++) {
        nn_node *n = g->order[k];
        if (n->op == NN_OP_PARAM && n->trainable) /* buffers keep their initializer */
            fill(ctx, n->val, n->sample_numel, lo, hi);
        else if (n->op == NN_OP_INPUT) {
            (i == NN_OP_MAXPOOL2D ? fill_distinct : fill)(ctx, n->val,
                                                          GC_BATCH * n->sample_numel, lo, hi);
            n->fed = GC_BATCH;
        } else if (n->op == NN_OP_LABELS) {
            int32_t *y = (int32_t *)(void *)n->val;
            for (int64_t j = 0; j < GC_BATCH; j++)
                y[j] = (int32_t)nn_rng_below(&ctx->rng, 3);
            n->fed = GC_BATCH;
        }
    }
    if (st == NN_OK) {
        g->batch = GC_BATCH;
        st = nn_gradcheck(g, out, d->gc_step > 0 ? d->gc_step : 1e-3, res);
    }
    nn_graph_free(g);
    return st;
}
