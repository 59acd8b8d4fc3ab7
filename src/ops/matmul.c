/*
 * matmul.c - matrix product through the one GEMM entry point.
 * matmul(a, b) = a . b, or a . b^T when trans_b (attr.i[0]).
 */
#include "ops.h"

nn_node *nn_matmul(nn_graph *g, nn_node *a, nn_node *b, bool trans_b)
{
    nn_node *in[2] = {a, b};
    union nn_attr at = {.i = {trans_b}};
    return nn_node_new(g, NN_OP_MATMUL, NULL, in, 2, &at);
}

nn_status nn_matmul_infer(nn_graph *g, nn_node *n)
{
    nn_node *a = n->in[0], *b = n->in[1];
    bool tb = n->attr.i[0];
    char sa[64], sb[64];
    if (a->ndim != 2 || b->ndim != 2 || b->batched) {
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "matmul: needs a 2-D a and a 2-D b without a batch axis; got a %s "
                       "and b %s", nn_shape_str(a, sa, 64), nn_shape_str(b, sb, 64));
    }
    int64_t K = a->dim[1];
    int64_t bk = tb ? b->dim[1] : b->dim[0];
    int64_t N = tb ? b->dim[0] : b->dim[1];
    if (K != bk)
        return nn_fail(g->ctx, NN_ERR_SHAPE,
                       "matmul: a %s and b%s %s do not fit: a has %lld columns, b%s has "
                       "%lld rows", nn_shape_str(a, sa, 64), tb ? "^T of" : "",
                       nn_shape_str(b, sb, 64), (long long)K, tb ? "^T" : "",
                       (long long)bk);
    nn_set_shape(n, a->batched, 2, (int64_t[]){a->dim[0], N});
    return NN_OK;
}

nn_status nn_matmul_forward(nn_graph *g, nn_node *n)
{
    nn_node *a = n->in[0], *b = n->in[1];
    bool tb = n->attr.i[0];
    int64_t M = nn_dim0(a), K = a->dim[1], N = n->dim[1];
    nn_gemm(g->ctx, false, tb, M, N, K, 1.0f, a->val, K, b->val, tb ? K : N, 0.0f, n->val, N);
    return NN_OK;
}

void nn_matmul_backward(nn_graph *g, nn_node *n)
{
    nn_node *a = n->in[0], *b = n->in[1];
    bool tb = n->attr.i[0];
    int64_t M = nn_dim0(a), K = a->dim[1], N = n->dim[1];
    if (a->grad) /* dA (M, K) += dC (M, N) . op(B)^T */
        nn_gemm(g->ctx, false, !tb, M, K, N, 1.0f, n->grad, N, b->val, tb ? K : N, 1.0f,
                a->grad, K);
    if (b->grad) {
        /* a stale (zeroed-by-promise) gradient is overwritten, not read */
        float beta = b->grad_stale ? 0.0f : 1.0f;
        b->grad_stale = false;
        if (tb) /* dB (N, K) += dC^T . A */
            nn_gemm(g->ctx, true, false, N, K, M, 1.0f, n->grad, N, a->val, K, beta, b->grad, K);
        else /* dB (K, N) += A^T . dC */
            nn_gemm(g->ctx, true, false, K, N, M, 1.0f, a->val, K, n->grad, N, beta, b->grad, N);
    }
}

nn_node *nn_matmul_example(nn_graph *g)
{
    nn_node *x = nn_ex_input(g, "x", 1, (int64_t[]){5});
    nn_node *w = nn_ex_param(g, "w", 2, (int64_t[]){4, 5});
    return nn_matmul(g, x, w, true);
}
