/*
 * cmd_import.c - `nn import`: a libnn checkpoint from PyTorch weights (a
 * state_dict saved as safetensors) and a model spec, with what serving the
 * model needs besides the weights: the input normalization, class names,
 * the task. The assignment of tensors to parameters is the library's
 * (nn_import_torch); this file turns flags into its configuration and the
 * normalization statistics, prints what went where, and writes the
 * checkpoint that nn eval, nn predict, nn info and nn_model_load read.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cmd_import_help(void)
{
    printf("\nThe model's parameters and buffers (dense1.weight, dense1.bias, dense2...,\n"
           "named by layer) take the file's tensors in order: layer by layer, weight\n"
           "then bias, then batch norm's running_mean, running_var, num_batches_tracked,\n"
           "as a state_dict lists them. The file's order is that of the tensors' data;\n"
           "a file whose data is sorted by name (the safetensors package's save_file) is\n"
           "taken in natural module order instead (features.3 before features.10,\n"
           "weight, bias, running_mean, running_var, num_batches_tracked); if shapes\n"
           "then do not fit, the one order of the top-level modules under which they\n"
           "all fit is taken (features before classifier). --map FILE assigns pairs\n"
           "first, one per line:\n"
           "  dense1.weight = encoder.fc.weight\n"
           "  - = aux.weight                      (left out)\n"
           "F64, F16 and BF16 tensors are converted to float32. A tensor left over, a\n"
           "parameter without a tensor, or a shape that does not fit is an error.\n"
           "Inputs: --normalize scale255 divides pixels by 255 (torchvision's ToTensor);\n"
           "ToTensor + Normalize(m, s) is --normalize standard --mean 255*m --std 255*s.\n"
           "Example:\n"
           "  nn import mlp.safetensors --model \"784 dense:256 relu dense:10\" \\\n"
           "     --normalize scale255 --classes T-shirt,Trouser,... --out model.safetensors\n");
}

/* Splits a comma-separated list of numbers into v (at most max); the count,
 * or -1 after a message. */
static int64_t parse_list(const char *flag, const char *text, float *v, int64_t max)
{
    int64_t n = 0;
    const char *p = text;
    for (;;) {
        char *end;
        errno = 0;
        double x = strtod(p, &end);
        if (end == p || errno || !isfinite(x) || (*end && *end != ',')) {
            cli_fail("import", "--%s: '%s' is not a comma-separated list of numbers", flag,
                     text);
            return -1;
        }
        if (n == max) {
            cli_fail("import", "--%s: more than %lld numbers", flag, (long long)max);
            return -1;
        }
        v[n++] = (float)x;
        if (!*end)
            return n;
        p = end + 1;
    }
}

/* Spreads the list given for --flag over the model's features: one number
 * for all, one per channel of (C, ...) inputs, or one per feature. */
static bool spread(const char *flag, const float *v, int64_t n, const nn_model *m, float *out)
{
    const nn_node *x = nn_model_input(m);
    int64_t f = nn_model_inputs(m);
    int64_t c = nn_node_ndim(x) > 2 ? nn_node_dim(x, 1) : 0; /* (N, C, ...): channels */
    if (n != 1 && n != f && n != c) {
        if (c > 0)
            cli_fail("import", "--%s has %lld numbers; the model's input (%lld channels, %lld "
                     "features) takes 1, %lld or %lld", flag, (long long)n, (long long)c,
                     (long long)f, (long long)c, (long long)f);
        else
            cli_fail("import", "--%s has %lld numbers; the model's input of %lld features "
                     "takes 1 or %lld", flag, (long long)n, (long long)f, (long long)f);
        return false;
    }
    for (int64_t j = 0; j < f; j++)
        out[j] = n == 1 ? v[0] : n == f ? v[j] : v[j / (f / c)];
    return true;
}

/* The normalization flags, checked before anything is read. */
static bool check_norm_flags(const struct opts *o)
{
    if (!o->normalize) {
        cli_fail("import", "say how inputs are normalized: --normalize scale255 (pixels / 255, "
                 "as torchvision's ToTensor), standard --mean M --std S, or none");
        return false;
    }
    int kind = nn_norm_parse(o->normalize);
    if (kind != NN_NORM_SCALE255 && kind != NN_NORM_STANDARD && kind != NN_NORM_NONE) {
        cli_fail("import", "--normalize must be scale255, standard or none, not '%s'%s",
                 o->normalize, kind == NN_NORM_MINMAX ? " (minmax is standard with --mean MIN "
                 "--std MAX-MIN)" : "");
        return false;
    }
    if (kind != NN_NORM_STANDARD && (o->mean || o->std)) {
        cli_fail("import", "--mean and --std go with --normalize standard, not %s", o->normalize);
        return false;
    }
    if (kind == NN_NORM_STANDARD && (!o->mean || !o->std)) {
        cli_fail("import", "--normalize standard needs --mean and --std (in the data's raw "
                 "units: pixels 0-255)");
        return false;
    }
    return true;
}

/* The normalization the flags describe (checked), set on the model. */
static bool set_norm(nn_ctx *ctx, const struct opts *o, nn_model *m)
{
    int kind = nn_norm_parse(o->normalize);
    int64_t f = nn_model_inputs(m);
    float *shift = malloc((size_t)f * sizeof *shift), *scale = malloc((size_t)f * sizeof *scale);
    float *list = malloc((size_t)f * sizeof *list);
    bool ok = shift && scale && list;
    if (!ok)
        cli_fail("import", "out of memory");
    for (int64_t j = 0; ok && j < f; j++) {
        shift[j] = 0;
        scale[j] = kind == NN_NORM_SCALE255 ? 1.0f / 255.0f : 1.0f;
    }
    if (ok && kind == NN_NORM_STANDARD) {
        int64_t n = parse_list("mean", o->mean, list, f);
        ok = n > 0 && spread("mean", list, n, m, shift);
        n = ok ? parse_list("std", o->std, list, f) : -1;
        ok = n > 0 && spread("std", list, n, m, scale);
        for (int64_t j = 0; ok && j < f; j++) {
            if (!(scale[j] > 0)) {
                cli_fail("import", "--std: %g is not a standard deviation (must be > 0)",
                         (double)scale[j]);
                ok = false;
            }
            scale[j] = 1.0f / scale[j];
        }
    }
    struct nn_norm_stats ns = {(nn_norm_kind)kind, f, shift, scale};
    if (ok && nn_model_set_norm(m, &ns) != NN_OK) {
        cli_fail("import", "%s", nn_ctx_error(ctx));
        ok = false;
    }
    free(shift);
    free(scale);
    free(list);
    return ok;
}

/* --classes a,b,c as the model's class names. */
static bool set_classes(nn_ctx *ctx, const char *text, nn_model *m)
{
    char *copy = strdup(text);
    size_t n = 1;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    const char **names = malloc(n * sizeof *names);
    bool ok = copy && names;
    if (!ok)
        cli_fail("import", "out of memory");
    size_t k = 0;
    for (char *p = copy, *save = NULL; ok && k < n; p = NULL) {
        char *t = strtok_r(p, ",", &save);
        if (!t)
            break;
        names[k++] = t;
    }
    if (ok && k != n) {
        cli_fail("import", "--classes: '%s' has an empty class name", text);
        ok = false;
    }
    nn_status st = ok ? nn_model_set_class_names(m, names, (int64_t)n) : NN_OK;
    if (st == NN_ERR_SHAPE)
        cli_fail("import", "--classes: %zu names for a model of %lld outputs", n,
                 (long long)nn_model_outputs(m));
    else if (st != NN_OK)
        cli_fail("import", "--classes: %s", nn_ctx_error(ctx));
    ok = ok && st == NN_OK;
    free(names);
    free(copy);
    return ok;
}

static void print_assign(const struct nn_import_info *a, void *user)
{
    (void)user;
    char shape[96];
    size_t at = 0;
    at += (size_t)snprintf(shape, sizeof shape, "(");
    for (int i = 0; i < a->ndim && at < sizeof shape; i++)
        at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%lld", i ? ", " : "",
                               (long long)a->dims[i]);
    if (at < sizeof shape)
        snprintf(shape + at, sizeof shape - at, ")");
    printf("  %-24s %-16s <- %-28s %-4s (%s)\n", a->param, shape, a->tensor, a->dtype, a->by);
}

static bool loss_of(const struct opts *o, nn_loss_kind *lk)
{
    *lk = NN_LOSS_AUTO;
    if (o->task && strcmp(o->task, "classify") != 0 && strcmp(o->task, "regress") != 0 &&
        strcmp(o->task, "auto") != 0) {
        cli_fail("import", "--task must be classify or regress, not '%s'", o->task);
        return false;
    }
    if (o->task && strcmp(o->task, "regress") == 0)
        *lk = NN_LOSS_MSE;
    if (!o->loss)
        return true;
    if (strcmp(o->loss, "cross_entropy") == 0)
        *lk = NN_LOSS_SOFTMAX_CE;
    else if (strcmp(o->loss, "bce") == 0)
        *lk = NN_LOSS_SIGMOID_BCE;
    else if (strcmp(o->loss, "mse") == 0)
        *lk = NN_LOSS_MSE;
    else {
        cli_fail("import", "--loss must be cross_entropy, bce or mse, not '%s'", o->loss);
        return false;
    }
    return true;
}

int cmd_import(int argc, char **argv)
{
    struct opts o = {0};
    const char *path;
    if (!cli_parse(CMD_IMPORT, argc, argv, &o, &path))
        return 2;
    if (!path)
        return cli_fail("import", "give the PyTorch weights, e.g. nn import mlp.safetensors "
                        "--model SPEC --normalize scale255 --out model.safetensors"), 2;
    if (!o.model)
        return cli_fail("import", "give the model the weights belong to with --model SPEC, "
                        "e.g. \"784 dense:256 relu dense:10\" for nn.Sequential(nn.Linear(784, "
                        "256), nn.ReLU(), nn.Linear(256, 10)) (see nn help model)"), 2;
    if (!o.out)
        return cli_fail("import", "give the checkpoint to write with --out FILE"), 2;
    nn_loss_kind lk;
    if (!loss_of(&o, &lk) || !check_norm_flags(&o))
        return 2;
    nn_ctx *ctx = nn_ctx_new(NULL);
    if (!ctx)
        return 1;
    int rc = 1;
    nn_model *m = NULL;
    char *src = NULL;
    struct nn_import_cfg cfg = {.loss = lk, .map_file = o.map,
                                .on_assign = o.quiet ? NULL : print_assign};
    if (!o.quiet)
        printf("%s -> %s\n", path, o.model);
    if (nn_import_torch(ctx, path, o.model, &cfg, &m) != NN_OK) {
        const char *msg = nn_ctx_error(ctx); /* "import FILE: ..." after "nn import: " */
        if (strncmp(msg, "import", 6) == 0 && (msg[6] == ' ' || msg[6] == ':'))
            msg += msg[6] == ':' ? 8 : 7;
        cli_fail("import", "%s", msg);
        goto done;
    }
    if (!set_norm(ctx, &o, m) || (o.classes && !set_classes(ctx, o.classes, m)))
        goto done;
    src = realpath(path, NULL);
    char created[32];
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    const char *task = o.task ? o.task : nn_model_loss_kind(m) == NN_LOSS_MSE ? "regress"
                                                                               : "auto";
    const char *keys[] = {"task", "imported_from", "created"};
    const char *vals[] = {task, src ? src : path, created};
    if (nn_checkpoint_save(o.out, m, NULL, keys, vals, 3) != NN_OK) {
        cli_fail("import", "%s", nn_ctx_error(ctx));
        goto done;
    }
    if (!o.quiet) {
        nn_loss_kind k = nn_model_loss_kind(m);
        nn_graph *g = nn_model_graph(m);
        printf("wrote %s: %d tensors, %lld values, loss %s, normalization %s%s\n", o.out,
               nn_graph_nparams(g), (long long)nn_graph_param_count(g),
               k == NN_LOSS_MSE ? "mse" : k == NN_LOSS_SIGMOID_BCE ? "bce" : "cross_entropy",
               o.normalize, o.classes ? ", class names" : "");
    }
    rc = 0;
done:
    free(src);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return rc;
}
