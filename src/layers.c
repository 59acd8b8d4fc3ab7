/*
 * layers.c - layers as compositions of ops: dense = matmul + bias add.
 */
#include "nn_impl.h"

#include <string.h>

nn_node *nn_dense_ex(nn_graph *g, nn_node *x, int64_t units, struct nn_init w_init,
                     struct nn_init b_init, const char *name)
{
    if (!g || !x)
        return NULL;
    char wn[128], bn[128];
    if (!name || !*name || strlen(name) > 100 || units < 1 || x->ndim != 2) {
        g->error = true;
        char s[64];
        if (x->ndim != 2)
            nn_fail(g->ctx, NN_ERR_SHAPE, "dense '%s': input must be (N, features), got %s",
                    name ? name : "?", nn_shape_str(x, s, sizeof s));
        else
            nn_fail(g->ctx, NN_ERR_INVALID, "dense: needs a name of 1-100 characters and "
                    "units >= 1 (got %lld)", (long long)units);
        return NULL;
    }
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    nn_node *w = nn_param(g, wn, 2, (int64_t[]){units, x->dim[1]}, w_init);
    nn_node *b = nn_param(g, bn, 1, (int64_t[]){units}, b_init);
    return nn_add(g, nn_matmul(g, x, w, true), b);
}

nn_node *nn_dense(nn_graph *g, nn_node *x, int64_t units, struct nn_init w_init,
                  const char *name)
{
    return nn_dense_ex(g, x, units, w_init, (struct nn_init){.kind = NN_INIT_ZEROS}, name);
}
