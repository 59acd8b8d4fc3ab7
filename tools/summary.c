/*
 * summary.c - the layer table of a model (name, output shape, parameters,
 * activation), as `nn summary "SPEC"` prints it for a spec and `nn info`
 * for a checkpoint. Uses the public graph API only: the model's nodes in
 * creation order, those named after a layer (dense1, relu1, pool1, ...).
 */
#include "cli.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* Layer families as the model names their nodes; the activations last. */
static const char *const families[] = {
    "dense", "conv", "pool", "bn", "gap", "flatten", "dropout", "reshape",
    /* activations from here */
    "relu", "leaky_relu", "sigmoid", "tanh", "hardtanh", "sign", "identity", "softmax"};
#define NFAM (int)(sizeof families / sizeof families[0])
#define FIRST_ACT 8

/* The family index of a layer node's name (FAMILY + digits), or -1. */
static int family_of(const char *name)
{
    for (int f = 0; f < NFAM; f++) {
        size_t len = strlen(families[f]);
        if (strncmp(name, families[f], len) != 0 || !name[len])
            continue;
        const char *p = name + len;
        while (isdigit((unsigned char)*p))
            p++;
        if (!*p)
            return f;
    }
    return -1;
}

struct layer_row {
    const nn_node *node, *out; /* the layer, and its activation's output */
    int64_t params;   /* trainable parameters named NAME.* */
    const char *act;  /* the activation after it (dense, conv), or NULL */
};

/* The trainable parameters named "prefix.*". */
static int64_t params_of(const nn_graph *g, const char *prefix)
{
    int64_t n = 0;
    size_t len = strlen(prefix);
    for (int i = 0; i < nn_graph_nparams(g); i++) {
        const nn_node *p = nn_graph_param(g, i);
        if (nn_param_is_trainable(p) && strncmp(nn_node_name(p), prefix, len) == 0 &&
            nn_node_name(p)[len] == '.')
            n += nn_node_numel(p);
    }
    return n;
}

/* The layer rows of m, in order, up to the target node ("y" or "t") that
 * the loss is attached after; returns how many (at most max). */
static int layer_rows(const nn_model *m, struct layer_row *rows, int max)
{
    const nn_graph *g = nn_model_graph(m);
    int n = 0;
    for (int i = 0; i < nn_graph_nnodes(g) && n < max; i++) {
        const nn_node *x = nn_graph_node(g, i);
        const char *name = nn_node_name(x);
        if (strcmp(name, "y") == 0 || strcmp(name, "t") == 0)
            break;
        if (nn_node_is_param(x))
            continue;
        int f = family_of(name);
        if (f < 0)
            continue;
        if (f >= FIRST_ACT && n > 0 && !rows[n - 1].act &&
            (strncmp(nn_node_name(rows[n - 1].node), "dense", 5) == 0 ||
             strncmp(nn_node_name(rows[n - 1].node), "conv", 4) == 0 ||
             strncmp(nn_node_name(rows[n - 1].node), "bn", 2) == 0)) {
            /* an activation right after dense, conv or batchnorm: that
             * layer's activation column, its output the layer's */
            rows[n - 1].act = families[f];
            rows[n - 1].out = x;
            continue;
        }
        rows[n++] = (struct layer_row){x, x, params_of(g, name), NULL};
    }
    return n;
}

/* "(N, 28, 28)": the shape without the batch axis, as "(28, 28)". */
static void shape_str(const nn_node *x, char *buf, size_t size)
{
    size_t k = (size_t)snprintf(buf, size, "(");
    for (int a = 1; a < nn_node_ndim(x) && k < size; a++)
        k += (size_t)snprintf(buf + k, size - k, "%s%lld", a > 1 ? ", " : "",
                              (long long)nn_node_dim(x, a));
    if (k < size)
        snprintf(buf + k, size - k, "%s)", nn_node_ndim(x) == 2 ? "," : "");
}

void cli_layer_table(FILE *f, const nn_model *m, bool json)
{
    struct layer_row rows[512];
    int n = layer_rows(m, rows, 512);
    const nn_graph *g = nn_model_graph(m);
    int64_t trainable = 0, buffers = 0;
    for (int i = 0; i < nn_graph_nparams(g); i++) {
        const nn_node *p = nn_graph_param(g, i);
        if (nn_param_is_trainable(p))
            trainable += nn_node_numel(p);
        else
            buffers += nn_node_numel(p);
    }
    const nn_node *in = nn_model_input(m);
    char sh[96];
    shape_str(in, sh, sizeof sh);
    if (json) {
        fprintf(f, "\"input\": \"%s\", \"layers\": [", sh);
        for (int i = 0; i < n; i++) {
            shape_str(rows[i].out, sh, sizeof sh);
            fprintf(f, "%s{\"name\": \"%s\", \"shape\": \"%s\", \"parameters\": %lld, "
                    "\"activation\": ", i ? ", " : "", nn_node_name(rows[i].node), sh,
                    (long long)rows[i].params);
            if (rows[i].act)
                fprintf(f, "\"%s\"}", rows[i].act);
            else
                fprintf(f, "null}");
        }
        fprintf(f, "], \"trainable_parameters\": %lld, \"buffers\": %lld", (long long)trainable,
                (long long)buffers);
        return;
    }
    fprintf(f, "  %-14s %-18s %12s  %s\n", "layer", "output shape", "parameters", "activation");
    fprintf(f, "  %-14s %-18s %12s  %s\n", "input", sh, "0", "-");
    for (int i = 0; i < n; i++) {
        shape_str(rows[i].out, sh, sizeof sh);
        fprintf(f, "  %-14s %-18s %12lld  %s\n", nn_node_name(rows[i].node), sh,
                (long long)rows[i].params, rows[i].act ? rows[i].act : "-");
    }
    fprintf(f, "  %-14s %-18s %12lld", "total", "", (long long)trainable);
    if (buffers)
        fprintf(f, "  (and %lld in buffers)", (long long)buffers);
    fprintf(f, "\n");
}

int cmd_summary(int argc, char **argv)
{
    struct opts o = {0};
    const char *spec;
    if (!cli_parse(CMD_SUMMARY, argc, argv, &o, &spec))
        return 2;
    if (!spec)
        spec = o.model;
    if (!spec)
        return cli_fail("summary", "give a model spec, e.g. nn summary \"784 dense:10 softmax\""), 2;
    nn_ctx *ctx = nn_ctx_new(NULL);
    if (!ctx)
        return 1;
    nn_model *m = nn_model_new(ctx, spec, &(struct nn_model_cfg){.max_batch = 1});
    if (!m) {
        cli_fail("summary", "%s", nn_ctx_error(ctx));
        nn_ctx_free(ctx);
        return 1;
    }
    if (o.json) {
        printf("{\"model\": \"");
        for (const char *c = nn_model_spec(m); *c; c++) { /* JSON-escaped */
            if (*c == '"' || *c == '\\')
                putchar('\\');
            putchar((unsigned char)*c < 32 ? ' ' : *c);
        }
        printf("\", ");
        cli_layer_table(stdout, m, true);
        printf("}\n");
    } else {
        printf("model:       %s\n", nn_model_spec(m));
        cli_layer_table(stdout, m, false);
    }
    nn_model_free(m);
    nn_ctx_free(ctx);
    return 0;
}
