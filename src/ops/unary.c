/*
 * unary.c - elementwise activations and functions. Each op's forward and
 * derivative sit side by side in the two switch statements below.
 *   relu(x) = max(0, x)             d = x > 0
 *   leaky_relu(x) = x > 0 ? x : s x d = x > 0 ? 1 : s
 *   sigmoid(x) = 1 / (1 + e^-x)     d = y (1 - y)
 *   tanh(x)                          d = 1 - y^2
 *   hardtanh(x) = clamp(x, lo, hi)   d = lo < x < hi
 *   sign(x)                          d = 0 (documented: no straight-through)
 *   identity(x) = x                  d = 1
 *   exp(x)                           d = y
 *   log(x)                           d = 1 / x
 *   square(x) = x^2                  d = 2 x
 *   abs(x) = |x|                     d = sign(x)
 */
#include "ops.h"

#include <math.h>

nn_node *nn_relu(nn_graph *g, nn_node *a) { return nn_unary_new(g, NN_OP_RELU, a); }
nn_node *nn_sigmoid(nn_graph *g, nn_node *a) { return nn_unary_new(g, NN_OP_SIGMOID, a); }
nn_node *nn_tanh(nn_graph *g, nn_node *a) { return nn_unary_new(g, NN_OP_TANH, a); }
nn_node *nn_sign(nn_graph *g, nn_node *a) { return nn_unary_new(g, NN_OP_SIGN, a); }
nn_node *nn_identity(nn_graph *g, nn_node *a) { return nn_unary_new(g, NN_OP_IDENTITY, a); }
nn_node *nn_exp(nn_graph *g, nn_node *a) { return nn_unary_new(g, NN_OP_EXP, a); }
nn_node *nn_log(nn_graph *g, nn_node *a) { return nn_unary_new(g, NN_OP_LOG, a); }
nn_node *nn_square(nn_graph *g, nn_node *a) { return nn_unary_new(g, NN_OP_SQUARE, a); }
nn_node *nn_abs(nn_graph *g, nn_node *a) { return nn_unary_new(g, NN_OP_ABS, a); }

nn_node *nn_leaky_relu(nn_graph *g, nn_node *a, float slope)
{
    union nn_attr at = {.f = {slope}};
    return nn_node_new(g, NN_OP_LEAKY_RELU, NULL, &a, 1, &at);
}

nn_node *nn_hardtanh(nn_graph *g, nn_node *a, float lo, float hi)
{
    if (g && !(lo < hi)) {
        g->error = true;
        nn_fail(g->ctx, NN_ERR_INVALID, "hardtanh: bounds lo=%g, hi=%g need lo < hi",
                (double)lo, (double)hi);
        return NULL;
    }
    union nn_attr at = {.f = {lo, hi}};
    return nn_node_new(g, NN_OP_HARDTANH, NULL, &a, 1, &at);
}

static inline float sigmoidf(float x)
{
    /* never overflows: e^-|x| <= 1 */
    float e = expf(-fabsf(x));
    return x >= 0 ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

/* relu(x + b) for a bias add folded into this relu (graph.c): x (N, C) is
 * the add's input, b (C) its bias; rows [lo, hi) of thread t of nt. */
NN_MULTIVERSION
static void relu_bias_rows(void *arg, int t, int nt)
{
    nn_node *n = arg;
    const nn_node *a = n->in[0];
    const float *x = a->in[0]->val, *b = a->in[1]->val;
    int64_t c = a->dim[1], lo, hi;
    nn_split(nn_numel(n) / c, 1, t, nt, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        const float *xr = x + r * c;
        float *yr = n->val + r * c;
        NN_SIMD
        for (int64_t j = 0; j < c; j++) {
            float v = xr[j] + b[j];
            yr[j] = v < 0 ? 0.0f : v;
        }
    }
}

/* The gradient through the folded add: g = dy where y > 0, added to x's
 * gradient and, summed over the rows, to the bias's. */
NN_MULTIVERSION
static void relu_bias_backward(nn_node *n)
{
    const nn_node *a = n->in[0];
    float *dx = a->in[0]->grad, *db = a->in[1]->grad;
    int64_t c = a->dim[1], rows = nn_numel(n) / c;
    for (int64_t r = 0; r < rows; r++) {
        const float *yr = n->val + r * c, *dyr = n->grad + r * c;
        if (dx) {
            float *dxr = dx + r * c;
            NN_SIMD
            for (int64_t j = 0; j < c; j++)
                dxr[j] += yr[j] > 0 ? dyr[j] : 0.0f;
        }
        if (db) {
            NN_SIMD
            for (int64_t j = 0; j < c; j++)
                db[j] += yr[j] > 0 ? dyr[j] : 0.0f;
        }
    }
}

/* Large batches (prediction) share the forward pass across the threads. */
#define PARALLEL_MIN_ELEMS (1 << 16)

static void relu_bias_forward(nn_graph *g, nn_node *n)
{
    nn_pool *pool = nn_numel(n) >= PARALLEL_MIN_ELEMS ? nn_ctx_pool(g->ctx) : NULL;
    nn_pool_run(pool, relu_bias_rows, n);
}

/* Elements [lo, m) of the forward pass. */
NN_MULTIVERSION
static void unary_forward_range(const nn_node *n, int64_t lo, int64_t m)
{
    const float *x = n->in[0]->val + lo;
    float *y = n->val + lo;
    m -= lo;
    float s = n->attr.f[0], hi = n->attr.f[1];
    switch (n->op) {
    case NN_OP_RELU:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) y[i] = x[i] < 0 ? 0.0f : x[i]; /* NaN stays NaN */
        break;
    case NN_OP_LEAKY_RELU:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) y[i] = x[i] > 0 ? x[i] : s * x[i];
        break;
    case NN_OP_SIGMOID:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) y[i] = sigmoidf(x[i]);
        break;
    case NN_OP_TANH:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) y[i] = tanhf(x[i]);
        break;
    case NN_OP_HARDTANH:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) y[i] = x[i] < s ? s : x[i] > hi ? hi : x[i];
        break;
    case NN_OP_SIGN:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) y[i] = (float)((x[i] > 0) - (x[i] < 0));
        break;
    case NN_OP_IDENTITY:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) y[i] = x[i];
        break;
    case NN_OP_EXP:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) y[i] = expf(x[i]);
        break;
    case NN_OP_LOG:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) y[i] = logf(x[i]);
        break;
    case NN_OP_SQUARE:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) y[i] = x[i] * x[i];
        break;
    case NN_OP_ABS:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) y[i] = fabsf(x[i]);
        break;
    default:
        NN_ASSERT(0, "not a unary op");
    }
}

/* Thread t's share of the elements, cut at 64-byte multiples. */
static void unary_forward_part(void *arg, int t, int nt)
{
    const nn_node *n = arg;
    int64_t lo, hi;
    nn_split(nn_numel(n), 16, t, nt, &lo, &hi);
    unary_forward_range(n, lo, hi);
}

/* Large tensors (a convolution's output) are shared across the threads:
 * the element split follows the batch's, so each thread mostly reads what
 * it wrote (on two threads a relu of LeNet's first layer took 119 us on
 * one thread reading the other's half, 44 on one thread alone). */
static nn_pool *unary_pool(nn_graph *g, const nn_node *n)
{
    return nn_numel(n) >= PARALLEL_MIN_ELEMS ? nn_ctx_pool(g->ctx) : NULL;
}

nn_status nn_unary_forward(nn_graph *g, nn_node *n)
{
    if (n->in[0]->fused) {
        relu_bias_forward(g, n);
        return NN_OK;
    }
    nn_pool_run(unary_pool(g, n), unary_forward_part, n);
    return NN_OK;
}

/* Elements [lo, m) of the backward pass. */
NN_MULTIVERSION
static void unary_backward_range(const nn_node *n, int64_t lo, int64_t m)
{
    float *dx = n->in[0]->grad + lo;
    const float *x = n->in[0]->val + lo, *y = n->val + lo, *dy = n->grad + lo;
    m -= lo;
    float s = n->attr.f[0], hi = n->attr.f[1];
    switch (n->op) {
    case NN_OP_RELU:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) dx[i] += x[i] > 0 ? dy[i] : 0.0f;
        break;
    case NN_OP_LEAKY_RELU:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) dx[i] += x[i] > 0 ? dy[i] : s * dy[i];
        break;
    case NN_OP_SIGMOID:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
        break;
    case NN_OP_TANH:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
        break;
    case NN_OP_HARDTANH:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) dx[i] += x[i] > s && x[i] < hi ? dy[i] : 0.0f;
        break;
    case NN_OP_SIGN:
        break; /* zero derivative wherever it exists */
    case NN_OP_IDENTITY:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) dx[i] += dy[i];
        break;
    case NN_OP_EXP:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) dx[i] += dy[i] * y[i];
        break;
    case NN_OP_LOG:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) dx[i] += dy[i] / x[i];
        break;
    case NN_OP_SQUARE:
        NN_SIMD
        for (int64_t i = 0; i < m; i++) dx[i] += 2.0f * x[i] * dy[i];
        break;
    case NN_OP_ABS:
        NN_SIMD
        for (int64_t i = 0; i < m; i++)
            dx[i] += (float)((x[i] > 0) - (x[i] < 0)) * dy[i];
        break;
    default:
        NN_ASSERT(0, "not a unary op");
    }
}

static void unary_backward_part(void *arg, int t, int nt)
{
    const nn_node *n = arg;
    int64_t lo, hi;
    nn_split(nn_numel(n), 16, t, nt, &lo, &hi);
    unary_backward_range(n, lo, hi);
}

void nn_unary_backward(nn_graph *g, nn_node *n)
{
    if (n->in[0]->fused) {
        relu_bias_backward(n);
        return;
    }
    if (n->in[0]->grad)
        nn_pool_run(unary_pool(g, n), unary_backward_part, n);
}

static nn_node *ex_x(nn_graph *g) { return nn_ex_input(g, "x", 2, (int64_t[]){2, 3}); }
nn_node *nn_relu_example(nn_graph *g) { return nn_relu(g, ex_x(g)); }
nn_node *nn_leaky_relu_example(nn_graph *g) { return nn_leaky_relu(g, ex_x(g), 0.1f); }
nn_node *nn_sigmoid_example(nn_graph *g) { return nn_sigmoid(g, ex_x(g)); }
nn_node *nn_tanh_example(nn_graph *g) { return nn_tanh(g, ex_x(g)); }
nn_node *nn_hardtanh_example(nn_graph *g) { return nn_hardtanh(g, ex_x(g), -1.0f, 1.0f); }
nn_node *nn_sign_example(nn_graph *g) { return nn_sign(g, ex_x(g)); }
nn_node *nn_identity_example(nn_graph *g) { return nn_identity(g, ex_x(g)); }
nn_node *nn_exp_example(nn_graph *g) { return nn_exp(g, ex_x(g)); }
nn_node *nn_log_example(nn_graph *g) { return nn_log(g, ex_x(g)); }
nn_node *nn_square_example(nn_graph *g) { return nn_square(g, ex_x(g)); }
nn_node *nn_abs_example(nn_graph *g) { return nn_abs(g, ex_x(g)); }
