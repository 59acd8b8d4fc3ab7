/*
 * layers.c - layers as compositions of ops with their own named
 * parameters: dense = matmul + bias add; conv2d and batchnorm with their
 * parameters named as PyTorch's state dicts name them.
 */
#include "nn_impl.h"

#include <string.h>

nn_node *nn_dense_ex(nn_graph *g, nn_node *x, int64_t units, struct nn_init w_init,
                     struct nn_init b_init, const char *name)
{
    return nn_dense_layer(g, x, units, w_init, &b_init, name);
}

nn_node *nn_dense_layer(nn_graph *g, nn_node *x, int64_t units, struct nn_init w_init,
                        const struct nn_init *b_init, const char *name)
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
    char mn[128];
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    snprintf(mn, sizeof mn, "%s.matmul", name);
    /* the layer's nodes are NAME.matmul and NAME (its output) */
    const char *used = nn_graph_find(g, name) ? name : nn_graph_find(g, mn) ? mn : NULL;
    if (used) {
        g->error = true;
        nn_fail(g->ctx, NN_ERR_INVALID, "dense '%s': node name '%s' is already used", name,
                used);
        return NULL;
    }
    nn_node *w = nn_param(g, wn, 2, (int64_t[]){units, x->dim[1]}, w_init);
    nn_node *xw = nn_matmul(g, x, w, true);
    if (!b_init) { /* no bias: the product is the layer's output, NAME */
        if (xw && nn_node_set_name(xw, name) != NN_OK)
            return g->error = true, NULL;
        return xw;
    }
    nn_node *b = nn_param(g, bn, 1, (int64_t[]){units}, *b_init);
    if (xw && nn_node_set_name(xw, mn) != NN_OK)
        return g->error = true, NULL;
    nn_node *y = nn_add(g, xw, b);
    if (y && nn_node_set_name(y, name) != NN_OK)
        return g->error = true, NULL;
    return y;
}

nn_node *nn_dense(nn_graph *g, nn_node *x, int64_t units, struct nn_init w_init,
                  const char *name)
{
    return nn_dense_ex(g, x, units, w_init, (struct nn_init){.kind = NN_INIT_ZEROS}, name);
}

/* NAME.SUFFIX into buf (of 128); false (message set) if NAME is unusable. */
static bool param_name(nn_graph *g, const char *layer, const char *name, const char *suffix,
                       char *buf)
{
    if (!name || !*name || strlen(name) > 100) {
        g->error = true;
        nn_fail(g->ctx, NN_ERR_INVALID, "%s: needs a name of 1-100 characters", layer);
        return false;
    }
    snprintf(buf, 128, "%s.%s", name, suffix);
    return true;
}

nn_node *nn_conv2d_layer(nn_graph *g, nn_node *x, int64_t out_channels, int kernel_h,
                         int kernel_w, const struct nn_conv2d_cfg *cfg, bool bias,
                         struct nn_init w_init, const char *name)
{
    if (!g || !x)
        return NULL;
    char wn[128], bn[128], s[64];
    if (!param_name(g, "conv2d", name, "weight", wn) ||
        !param_name(g, "conv2d", name, "bias", bn))
        return NULL;
    struct nn_conv2d_cfg c = cfg ? *cfg : (struct nn_conv2d_cfg){0};
    c.name = name;
    int64_t groups = c.groups > 0 ? c.groups : 1;
    if (x->ndim != 4 || out_channels < 1 || kernel_h < 1 || kernel_w < 1 ||
        x->dim[1] % groups) {
        g->error = true;
        if (x->ndim != 4)
            nn_fail(g->ctx, NN_ERR_SHAPE, "conv2d '%s': the input must be 4-D (N, C, H, W), "
                    "got %s", name, nn_shape_str(x, s, sizeof s));
        else if (x->dim[1] % groups)
            nn_fail(g->ctx, NN_ERR_SHAPE, "conv2d '%s': the input's %lld channels (input "
                    "%s) do not divide into %lld groups", name, (long long)x->dim[1],
                    nn_shape_str(x, s, sizeof s), (long long)groups);
        else
            nn_fail(g->ctx, NN_ERR_INVALID, "conv2d '%s': %lld output channels and kernel "
                    "%dx%d, expected all >= 1", name, (long long)out_channels, kernel_h,
                    kernel_w);
        return NULL;
    }
    nn_node *w = nn_param(g, wn, 4,
                          (int64_t[]){out_channels, x->dim[1] / groups, kernel_h, kernel_w},
                          w_init);
    nn_node *b = bias ? nn_param(g, bn, 1, (int64_t[]){out_channels},
                                 (struct nn_init){.kind = NN_INIT_ZEROS})
                      : NULL;
    if (bias && !b)
        return NULL;
    return nn_conv2d(g, x, w, b, &c);
}

nn_node *nn_batchnorm_layer(nn_graph *g, nn_node *x, const struct nn_batchnorm_cfg *cfg,
                            const char *name)
{
    if (!g || !x)
        return NULL;
    char n[5][128], s[64];
    static const char *const suffix[5] = {"weight", "bias", "running_mean", "running_var",
                                          "num_batches_tracked"};
    for (int i = 0; i < 5; i++)
        if (!param_name(g, "batchnorm", name, suffix[i], n[i]))
            return NULL;
    if (x->ndim < 2) {
        g->error = true;
        nn_fail(g->ctx, NN_ERR_SHAPE, "batchnorm '%s': the input must be (N, C), (N, C, L) "
                "or (N, C, H, W), got %s", name, nn_shape_str(x, s, sizeof s));
        return NULL;
    }
    int64_t c[1] = {x->dim[1]}, one[1] = {1};
    struct nn_init zeros = {.kind = NN_INIT_ZEROS}, ones = {.kind = NN_INIT_CONSTANT, .a = 1};
    nn_node *w = nn_param(g, n[0], 1, c, ones);
    nn_node *b = nn_param(g, n[1], 1, c, zeros);
    nn_node *rm = nn_buffer(g, n[2], 1, c, zeros);
    nn_node *rv = nn_buffer(g, n[3], 1, c, ones);
    nn_node *nb = nn_buffer(g, n[4], 1, one, zeros);
    struct nn_batchnorm_cfg bc = cfg ? *cfg : (struct nn_batchnorm_cfg){0};
    bc.name = name;
    return nn_batchnorm(g, x, w, b, rm, rv, nb, &bc);
}
