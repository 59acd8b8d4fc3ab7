/*
 * graph_dot.c - the lectures' worked example of backpropagation as a
 * picture: f(x, y, z) = (x + y) * max(y, z) at (1, 2, 0), with every
 * node's value (green) and gradient df/dnode (red), written as Graphviz
 * DOT on standard output. max(y, z) is built as z + relu(y - z).
 *
 *   cc graph_dot.c $(pkg-config --cflags --libs nn) -o graph_dot
 *   ./graph_dot > example.dot
 *   nn graph example.dot --png example.png      (or: dot -Tpng example.dot)
 */
#include <nn.h>

#include <stdio.h>
#include <stdlib.h>

static nn_node *scalar(nn_graph *g, const char *name, float v)
{
    return nn_param(g, name, 1, (int64_t[]){1},
                    (struct nn_init){.kind = NN_INIT_CONSTANT, .a = v});
}

/* n renamed; NULL stays NULL (the builder's error is in the context). */
static nn_node *named(nn_node *n, const char *name)
{
    if (n && nn_node_set_name(n, name) != NN_OK)
        return NULL;
    return n;
}

int main(void)
{
    nn_ctx *ctx = nn_ctx_new(NULL);
    if (!ctx)
        return 1;
    nn_graph *g = nn_graph_new(ctx);
    nn_node *x = scalar(g, "x", 1), *y = scalar(g, "y", 2), *z = scalar(g, "z", 0);
    nn_node *q = named(nn_add(g, x, y), "q = x + y");
    nn_node *d = named(nn_sub(g, y, z), "y - z");
    nn_node *r = named(nn_relu(g, d), "relu(y - z)");
    nn_node *m = named(nn_add(g, z, r), "m = max(y, z)");
    nn_node *f = named(nn_mul(g, q, m), "f");
    char *dot = NULL;
    const char *title = "f = q m,  q = x + y,  m = max(y, z) = z + relu(y - z)\n"
                        "at (x, y, z) = (1, 2, 0)";
    if (nn_graph_compile(g, &f, 1, 1) == NN_OK && nn_forward(g) == NN_OK &&
        nn_backward(g, f) == NN_OK)
        dot = nn_graph_dot(g, &(struct nn_dot_cfg){
                                  .values = true, .grads = true, .from = f, .title = title});
    if (!dot) {
        fprintf(stderr, "graph_dot: %s\n", nn_ctx_error(ctx));
        nn_graph_free(g);
        nn_ctx_free(ctx);
        return 1;
    }
    fputs(dot, stdout);
    fprintf(stderr, "f = %g; df/dx = %g, df/dy = %g, df/dz = %g\n", (double)nn_value(f)[0],
            (double)nn_grad(x)[0], (double)nn_grad(y)[0], (double)nn_grad(z)[0]);
    free(dot);
    nn_graph_free(g);
    nn_ctx_free(ctx);
    return 0;
}
