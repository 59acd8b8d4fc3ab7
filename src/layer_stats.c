/* Per-layer statistics of a compiled graph (nn_layer_stats): the mean and
 * standard deviation of each activation, the spread across a sample's
 * units, the fraction of dead relu units and each node's gradient norm,
 * from the values and gradients the last forward and backward pass left. */
#include "nn_impl.h"

#include <math.h>
#include <stdlib.h>

static bool wanted(const nn_node *n)
{
    if (n->fused || !n->val)
        return false;
    if (n->op == NN_OP_PARAM)
        return n->trainable;
    return n->batched && n->op != NN_OP_INPUT && n->op != NN_OP_LABELS &&
           n->op != NN_OP_CONST;
}

static void fill(const nn_node *n, bool reached, struct nn_layer_stat *s)
{
    bool param = n->op == NN_OP_PARAM;
    int64_t total = nn_numel(n);
    int64_t units = param ? total : n->sample_numel;
    int64_t rows = units > 0 ? total / units : 0;
    const float *v = n->val;
    s->name = n->name;
    s->op = nn_node_op(n);
    s->is_param = param;
    s->units = units;
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < total; i++)
        sum += v[i];
    s->mean = total > 0 ? sum / (double)total : NAN;
    for (int64_t i = 0; i < total; i++)
        sq += ((double)v[i] - s->mean) * ((double)v[i] - s->mean);
    s->std = total > 0 ? sqrt(sq / (double)total) : NAN;
    s->unit_std = NAN;
    if (!param && rows > 0 && units > 0) {
        double acc = 0;
        for (int64_t r = 0; r < rows; r++) {
            const float *x = v + r * units;
            double m = 0, d = 0;
            for (int64_t j = 0; j < units; j++)
                m += x[j];
            m /= (double)units;
            for (int64_t j = 0; j < units; j++)
                d += ((double)x[j] - m) * ((double)x[j] - m);
            acc += sqrt(d / (double)units);
        }
        s->unit_std = acc / (double)rows;
    }
    s->dead = NAN;
    if (n->op == NN_OP_RELU && rows > 0 && units > 0) {
        int64_t dead = 0;
        for (int64_t j = 0; j < units; j++) {
            bool zero = true;
            for (int64_t r = 0; r < rows && zero; r++)
                zero = v[r * units + j] == 0.0f;
            dead += zero;
        }
        s->dead = (double)dead / (double)units;
    }
    s->grad_norm = NAN;
    if (!reached) {
        /* the backward pass did not reach it: its buffer holds no gradient */
    } else if (n->grad && !n->grad_stale) {
        double g2 = 0;
        for (int64_t i = 0; i < total; i++)
            g2 += (double)n->grad[i] * (double)n->grad[i];
        s->grad_norm = sqrt(g2);
    } else if (n->grad) {
        s->grad_norm = 0; /* zeroed and not written since */
    }
}

int nn_layer_stats(const nn_graph *g, const nn_node *from, struct nn_layer_stat *out, int cap)
{
    if (!g->compiled) {
        nn_fail(g->ctx, NN_ERR_STATE, "layer statistics: the graph is not compiled");
        return -1;
    }
    /* the nodes from depends on: the order is topological, so one sweep
     * from its end marks every ancestor */
    bool *reach = NULL;
    if (from && out && cap > 0) {
        if (!(reach = calloc((size_t)g->nnodes, sizeof *reach))) {
            nn_fail(g->ctx, NN_ERR_NOMEM, "layer statistics: out of memory");
            return -1;
        }
        reach[from->id] = true;
        for (int i = g->norder - 1; i >= 0; i--) {
            const nn_node *n = g->order[i];
            if (reach[n->id])
                for (int k = 0; k < n->nin; k++)
                    reach[n->in[k]->id] = true;
        }
    }
    int count = 0;
    for (int i = 0; i < g->norder; i++) {
        const nn_node *n = g->order[i];
        if (!wanted(n))
            continue;
        if (out && count < cap)
            fill(n, !reach || reach[n->id], &out[count]);
        count++;
    }
    free(reach);
    return count;
}
