/*
 * softmax.c - softmax and log-softmax along the last axis, in the stable
 * form that subtracts each row's maximum first.
 *   softmax(x)_i = e^{x_i - m} / sum_j e^{x_j - m}
 *   log_softmax(x)_i = x_i - m - log sum_j e^{x_j - m}
 */
#include "ops.h"

#include <math.h>

nn_node *nn_softmax(nn_graph *g, nn_node *a) { return nn_unary_new(g, NN_OP_SOFTMAX, a); }
nn_node *nn_log_softmax(nn_graph *g, nn_node *a)
{
    return nn_unary_new(g, NN_OP_LOG_SOFTMAX, a);
}

double nn_logsumexp(const float *x, int64_t c)
{
    float m = x[0];
    for (int64_t j = 1; j < c; j++)
        m = x[j] > m ? x[j] : m;
    double s = 0;
    for (int64_t j = 0; j < c; j++)
        s += exp((double)(x[j] - m));
    return (double)m + log(s);
}

nn_status nn_softmax_forward(nn_graph *g, nn_node *n)
{
    (void)g;
    int64_t c = n->dim[n->ndim - 1], rows = nn_numel(n) / c;
    for (int64_t r = 0; r < rows; r++) {
        const float *x = n->in[0]->val + r * c;
        float *y = n->val + r * c;
        /* one exponential per element: e^{x - max}, then divided by the sum */
        float m = x[0];
        for (int64_t j = 1; j < c; j++)
            m = x[j] > m ? x[j] : m;
        double s = 0;
        for (int64_t j = 0; j < c; j++) {
            y[j] = expf(x[j] - m);
            s += y[j];
        }
        float inv = (float)(1.0 / s);
        for (int64_t j = 0; j < c; j++)
            y[j] *= inv;
    }
    return NN_OK;
}

void nn_softmax_backward(nn_graph *g, nn_node *n)
{
    (void)g;
    if (!n->in[0]->grad)
        return;
    int64_t c = n->dim[n->ndim - 1], rows = nn_numel(n) / c;
    for (int64_t r = 0; r < rows; r++) {
        const float *y = n->val + r * c, *dy = n->grad + r * c;
        float *dx = n->in[0]->grad + r * c;
        double dot = 0;
        for (int64_t j = 0; j < c; j++)
            dot += (double)dy[j] * y[j];
        for (int64_t j = 0; j < c; j++)
            dx[j] += y[j] * (dy[j] - (float)dot);
    }
}

nn_status nn_log_softmax_forward(nn_graph *g, nn_node *n)
{
    (void)g;
    int64_t c = n->dim[n->ndim - 1], rows = nn_numel(n) / c;
    for (int64_t r = 0; r < rows; r++) {
        const float *x = n->in[0]->val + r * c;
        float *y = n->val + r * c;
        float lse = (float)nn_logsumexp(x, c);
        for (int64_t j = 0; j < c; j++)
            y[j] = x[j] - lse;
    }
    return NN_OK;
}

void nn_log_softmax_backward(nn_graph *g, nn_node *n)
{
    (void)g;
    if (!n->in[0]->grad)
        return;
    int64_t c = n->dim[n->ndim - 1], rows = nn_numel(n) / c;
    for (int64_t r = 0; r < rows; r++) {
        const float *y = n->val + r * c, *dy = n->grad + r * c;
        float *dx = n->in[0]->grad + r * c;
        double s = 0;
        for (int64_t j = 0; j < c; j++)
            s += dy[j];
        for (int64_t j = 0; j < c; j++)
            dx[j] += dy[j] - expf(y[j]) * (float)s;
    }
}

nn_node *nn_softmax_example(nn_graph *g)
{
    return nn_softmax(g, nn_ex_input(g, "x", 1, (int64_t[]){5}));
}

nn_node *nn_log_softmax_example(nn_graph *g)
{
    return nn_log_softmax(g, nn_ex_input(g, "x", 1, (int64_t[]){5}));
}
