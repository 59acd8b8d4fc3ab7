/*
 * dropout.c - inverted dropout. Training mode: y = x * m with
 * m = 1/(1-p) with probability 1-p, else 0, drawn from the context's
 * generator; evaluation mode: y = x. The mask is kept for the backward pass.
 */
#include "ops.h"

#include <string.h>

nn_node *nn_dropout(nn_graph *g, nn_node *a, float p)
{
    if (g && !(p >= 0.0f && p < 1.0f)) {
        g->error = true;
        nn_fail(g->ctx, NN_ERR_INVALID, "dropout: rate %g must be in [0, 1)", (double)p);
        return NULL;
    }
    union nn_attr at = {.fi = {p, 0}};
    return nn_node_new(g, NN_OP_DROPOUT, NULL, &a, 1, &at);
}

int64_t nn_dropout_aux(const nn_node *n, int64_t max_batch)
{
    return n->sample_numel * (n->batched ? max_batch : 1);
}

nn_status nn_dropout_forward(nn_graph *g, nn_node *n)
{
    const float *x = n->in[0]->val;
    int64_t m = nn_numel(n);
    float p = n->attr.fi.f;
    n->attr.fi.i = g->training && p > 0; /* the mode the backward pass uses */
    if (!n->attr.fi.i) {
        memcpy(n->val, x, (size_t)m * sizeof(float));
        return NN_OK;
    }
    if (!g->freeze_masks) {
        float keep = 1.0f / (1.0f - p);
        for (int64_t i = 0; i < m; i++)
            n->aux[i] = nn_rng_uniform(&g->ctx->rng) >= p ? keep : 0.0f;
    }
    for (int64_t i = 0; i < m; i++)
        n->val[i] = x[i] * n->aux[i];
    return NN_OK;
}

void nn_dropout_backward(nn_graph *g, nn_node *n)
{
    (void)g;
    float *dx = n->in[0]->grad;
    if (!dx)
        return;
    int64_t m = nn_numel(n);
    if (n->attr.fi.i)
        for (int64_t i = 0; i < m; i++)
            dx[i] += n->grad[i] * n->aux[i];
    else
        for (int64_t i = 0; i < m; i++)
            dx[i] += n->grad[i];
}

nn_node *nn_dropout_example(nn_graph *g)
{
    nn_graph_set_training(g, true);
    return nn_dropout(g, nn_ex_input(g, "x", 1, (int64_t[]){8}), 0.3f);
}
