/*
 * init.c - parameter initializers: zeros, constant, normal, uniform,
 * Xavier/Glorot and He/Kaiming (uniform and normal), with PyTorch's
 * definitions of fan-in, fan-out and gain.
 */
#include "nn_impl.h"

#include <math.h>
#include <string.h>

static const char *const init_names[NN_INIT_COUNT] = {
    [NN_INIT_ZEROS] = "zeros",
    [NN_INIT_CONSTANT] = "constant",
    [NN_INIT_NORMAL] = "normal",
    [NN_INIT_UNIFORM] = "uniform",
    [NN_INIT_XAVIER_UNIFORM] = "xavier_uniform",
    [NN_INIT_XAVIER_NORMAL] = "xavier_normal",
    [NN_INIT_HE_NORMAL] = "he_normal",
    [NN_INIT_HE_UNIFORM] = "he_uniform",
};

const char *nn_init_name(nn_init_kind kind)
{
    if ((int)kind < 0 || kind >= NN_INIT_COUNT)
        return NULL;
    return init_names[kind];
}

int nn_init_parse(const char *name)
{
    for (int i = 0; i < NN_INIT_COUNT; i++)
        if (strcmp(name, init_names[i]) == 0)
            return i;
    if (strcmp(name, "xavier") == 0 || strcmp(name, "glorot") == 0)
        return NN_INIT_XAVIER_UNIFORM;
    if (strcmp(name, "he") == 0 || strcmp(name, "kaiming") == 0)
        return NN_INIT_HE_NORMAL;
    return -1;
}

nn_status nn_init_fill(nn_ctx *ctx, struct nn_init init, float *x, int64_t n,
                       int64_t fan_in, int64_t fan_out)
{
    struct nn_rng *r = &ctx->rng;
    double fi = fan_in > 0 ? (double)fan_in : 1.0;
    double fo = fan_out > 0 ? (double)fan_out : 1.0;
    double lo, hi, mean, std;
    switch (init.kind) {
    case NN_INIT_ZEROS:
        memset(x, 0, (size_t)n * sizeof *x);
        return NN_OK;
    case NN_INIT_CONSTANT:
        for (int64_t i = 0; i < n; i++)
            x[i] = init.a;
        return NN_OK;
    case NN_INIT_NORMAL:
        if (!(init.b >= 0))
            return nn_fail(ctx, NN_ERR_INVALID,
                           "normal initializer: standard deviation %g must be >= 0",
                           (double)init.b);
        mean = init.a;
        std = init.b;
        goto normal;
    case NN_INIT_UNIFORM:
        if (!(init.a <= init.b))
            return nn_fail(ctx, NN_ERR_INVALID,
                           "uniform initializer: bounds [%g, %g] are reversed",
                           (double)init.a, (double)init.b);
        lo = init.a;
        hi = init.b;
        goto uniform;
    case NN_INIT_XAVIER_UNIFORM: {
        double gain = init.gain > 0 ? init.gain : 1.0;
        hi = gain * sqrt(6.0 / (fi + fo));
        lo = -hi;
        goto uniform;
    }
    case NN_INIT_XAVIER_NORMAL: {
        double gain = init.gain > 0 ? init.gain : 1.0;
        mean = 0;
        std = gain * sqrt(2.0 / (fi + fo));
        goto normal;
    }
    case NN_INIT_HE_NORMAL: {
        double gain = init.gain > 0 ? init.gain : sqrt(2.0);
        mean = 0;
        std = gain / sqrt(fi);
        goto normal;
    }
    case NN_INIT_HE_UNIFORM: {
        double gain = init.gain > 0 ? init.gain : sqrt(2.0);
        hi = gain * sqrt(3.0 / fi);
        lo = -hi;
        goto uniform;
    }
    default:
        return nn_fail(ctx, NN_ERR_INVALID, "unknown initializer kind %d",
                       (int)init.kind);
    }
uniform:
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * nn_rng_uniform_d(r));
    return NN_OK;
normal:
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(mean + std * nn_rng_normal(r));
    return NN_OK;
}
