/*
 * xor.c - backpropagation by hand and by the library, on XOR.
 *
 *   cc xor.c $(pkg-config --cflags --libs nn) -o xor && ./xor
 *
 * Builds the 2-4-1 network h = tanh(x W1^T + b1), p = sigmoid(h W2^T + b2)
 * with the graph API, trains it with plain gradient descent on the four XOR
 * points, checks the library's gradients against central finite
 * differences before training, and prints the four predictions after.
 */
#include <nn.h>

#include <stdio.h>

int main(void)
{
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = nn_input(g, "x", 1, (int64_t[]){2});
    nn_node *t = nn_input(g, "t", 1, (int64_t[]){1});
    nn_node *h = nn_tanh(g, nn_dense(g, x, 4, (struct nn_init){.kind = NN_INIT_XAVIER_UNIFORM}, "hidden"));
    nn_node *z = nn_dense(g, h, 1, (struct nn_init){.kind = NN_INIT_XAVIER_UNIFORM}, "out");
    nn_node *loss = nn_sigmoid_bce(g, z, t); /* sigmoid and log loss, fused */
    nn_node *p = nn_sigmoid(g, z);
    nn_node *outs[2] = {loss, p};
    if (nn_graph_compile(g, outs, 2, 4) != NN_OK) {
        fprintf(stderr, "xor: %s\n", nn_ctx_error(ctx));
        return 1;
    }
    const float X[8] = {0, 0, 0, 1, 1, 0, 1, 1}, T[4] = {0, 1, 1, 0};
    nn_feed(g, x, X, 4);
    nn_feed(g, t, T, 4);

    /* The backward pass against central differences, before any training. */
    struct nn_gradcheck_result r;
    if (nn_gradcheck(g, loss, 1e-3, &r) != NN_OK || r.max_rel_err > 1e-2) {
        fprintf(stderr, "xor: gradient check failed: %s (max rel err %g)\n",
                nn_ctx_error(ctx), r.max_rel_err);
        return 1;
    }
    printf("gradient check: %lld entries, max relative error %.1e\n", (long long)r.checked,
           r.max_rel_err);

    /* Full-batch gradient descent: w -= lr * dL/dw over the one parameter block. */
    float *w = nn_graph_param_block(g);
    int64_t n = nn_graph_param_count(g);
    for (int step = 0; step <= 3000; step++) {
        nn_forward(g);
        nn_zero_grad(g);
        nn_backward(g, loss);
        const float *dw = nn_graph_grad_block(g);
        for (int64_t i = 0; i < n; i++)
            w[i] -= 0.5f * dw[i];
        if (step % 1000 == 0)
            printf("step %4d  loss %.4f\n", step, nn_value(loss)[0]);
    }
    nn_forward(g);
    int right = 0;
    for (int i = 0; i < 4; i++) {
        printf("xor(%g, %g) = %.3f\n", X[2 * i], X[2 * i + 1], nn_value(p)[i]);
        right += (nn_value(p)[i] > 0.5f) == (T[i] > 0.5f);
    }
    printf("%d of 4 right\n", right);
    nn_graph_free(g);
    nn_ctx_free(ctx);
    return right == 4 ? 0 : 1;
}
