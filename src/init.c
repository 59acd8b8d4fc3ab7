/*
 * init.c - parameter initializers: zeros, constant, normal, uniform,
 * Xavier/Glorot and He/Kaiming (uniform and normal), with PyTorch's
 * definitions of fan-in, fan-out and gain; their text form ("normal:0.01",
 * "uniform:0.05", "constant:0.5", "he_normal") read and written.
 */
#include "nn_impl.h"

#include <errno.h>
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

static int kind_of(const char *name)
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

const char *nn_init_problem(struct nn_init init, char *why, size_t size)
{
    if (!nn_init_name(init.kind))
        snprintf(why, size, "unknown initializer kind %d", (int)init.kind);
    else if (!isfinite(init.a) || !isfinite(init.b) || !isfinite(init.gain))
        snprintf(why, size, "its numbers (%g, %g, gain %g) must be finite", (double)init.a,
                 (double)init.b, (double)init.gain);
    else if (init.kind == NN_INIT_NORMAL && init.b < 0)
        snprintf(why, size, "standard deviation %g must be >= 0", (double)init.b);
    else if (init.kind == NN_INIT_UNIFORM && init.a > init.b)
        snprintf(why, size, "bounds [%g, %g] are reversed", (double)init.a, (double)init.b);
    else if (init.gain < 0)
        snprintf(why, size, "gain %g must be > 0 (0: the default)", (double)init.gain);
    else
        return NULL;
    return why;
}

bool nn_init_is_constant(struct nn_init init)
{
    switch (init.kind) {
    case NN_INIT_ZEROS:
    case NN_INIT_CONSTANT: return true;
    case NN_INIT_NORMAL: return init.b == 0;
    case NN_INIT_UNIFORM: return init.a == init.b;
    default: return false;
    }
}

/* ---- text form ----------------------------------------------------------- */

static const char *const usage[NN_INIT_COUNT] = {
    [NN_INIT_ZEROS] = "zeros",
    [NN_INIT_CONSTANT] = "constant:C",
    [NN_INIT_NORMAL] = "normal[:STD[:MEAN]]",
    [NN_INIT_UNIFORM] = "uniform[:A] or uniform:LO:HI",
    [NN_INIT_XAVIER_UNIFORM] = "xavier_uniform[:GAIN]",
    [NN_INIT_XAVIER_NORMAL] = "xavier_normal[:GAIN]",
    [NN_INIT_HE_NORMAL] = "he_normal[:GAIN]",
    [NN_INIT_HE_UNIFORM] = "he_uniform[:GAIN]",
};

/* The initializer named name with the numbers v[0..n) (n <= 2), with the
 * defaults for the numbers left out; false with why set if they do not fit. */
static bool from_numbers(int k, const double *v, int n, struct nn_init *out, char *why,
                         size_t size)
{
    static const int most[NN_INIT_COUNT] = {0, 1, 2, 2, 1, 1, 1, 1};
    struct nn_init i = {.kind = (nn_init_kind)k};
    if (n > most[k]) {
        if (most[k] == 0)
            snprintf(why, size, "%s takes no numbers", init_names[k]);
        else
            snprintf(why, size, "%s takes at most %d number%s (%s)", init_names[k], most[k],
                     most[k] > 1 ? "s" : "", usage[k]);
        return false;
    }
    if (k == NN_INIT_CONSTANT && n == 0) {
        snprintf(why, size, "constant needs its value, e.g. constant:0.1");
        return false;
    }
    switch (k) {
    case NN_INIT_CONSTANT: i.a = (float)v[0]; break;
    case NN_INIT_NORMAL:
        i.b = n > 0 ? (float)v[0] : 0.01f;
        i.a = n > 1 ? (float)v[1] : 0.0f;
        break;
    case NN_INIT_UNIFORM:
        i.a = n == 2 ? (float)v[0] : n == 1 ? -(float)v[0] : -0.05f;
        i.b = n == 2 ? (float)v[1] : n == 1 ? (float)v[0] : 0.05f;
        if (n == 1 && v[0] < 0) {
            snprintf(why, size, "bound %g must be >= 0 (uniform:A is U[-A, A])", v[0]);
            return false;
        }
        break;
    case NN_INIT_ZEROS: break;
    default:
        i.gain = n ? (float)v[0] : 0.0f;
        if (n && !(v[0] > 0)) {
            snprintf(why, size, "gain %g must be > 0", v[0]);
            return false;
        }
        break;
    }
    if (nn_init_problem(i, why, size))
        return false;
    *out = i;
    return true;
}

bool nn_init_from_fields(const char *name, const char *const *nums, int n,
                         struct nn_init *out, char *why, size_t size)
{
    int k = kind_of(name);
    if (k < 0) {
        snprintf(why, size, "unknown initializer '%s' (zeros, constant:C, normal[:STD], "
                 "uniform[:A], xavier_uniform, xavier_normal, he_normal, he_uniform)", name);
        return false;
    }
    double v[2];
    for (int j = 0; j < n && j < 2; j++) {
        char *end;
        errno = 0;
        v[j] = strtod(nums[j], &end);
        if (end == nums[j] || *end || errno || !isfinite(v[j])) {
            snprintf(why, size, "'%s' is not a number (expected %s)", nums[j], usage[k]);
            return false;
        }
    }
    return from_numbers(k, v, n, out, why, size);
}

nn_status nn_init_parse(nn_ctx *ctx, const char *text, struct nn_init *out)
{
    char buf[128], why[256];
    const char *nums[3];
    int n = 0;
    if (!text || !out)
        return nn_fail(ctx, NN_ERR_INVALID, "initializer: no text given");
    if (strlen(text) >= sizeof buf)
        return nn_fail(ctx, NN_ERR_INVALID, "initializer '%.40s...': too long", text);
    strcpy(buf, text);
    for (char *p = strchr(buf, ':'); p && n < 3; p = strchr(p + 1, ':')) {
        *p = '\0';
        nums[n++] = p + 1; /* a third is refused as one too many */
    }
    if (!nn_init_from_fields(buf, nums, n, out, why, sizeof why))
        return kind_of(buf) < 0 ? nn_fail(ctx, NN_ERR_INVALID, "%s", why)
                                : nn_fail(ctx, NN_ERR_INVALID, "initializer '%s': %s", text, why);
    return NN_OK;
}

/* The shortest decimal that reads back as the same float. */
static void put_float(char *num, size_t size, float v)
{
    for (int p = 1; p <= 9; p++) {
        snprintf(num, size, "%.*g", p, (double)v);
        if (strtof(num, NULL) == v)
            return;
    }
}

int nn_init_format(struct nn_init init, char *buf, size_t size)
{
    const char *name = nn_init_name(init.kind);
    char x[32] = "", y[32] = "";
    int n = 0;
    if (!name)
        name = "?";
    switch (init.kind) {
    case NN_INIT_ZEROS: break;
    case NN_INIT_CONSTANT: put_float(x, sizeof x, init.a), n = 1; break;
    case NN_INIT_NORMAL:
        put_float(x, sizeof x, init.b);
        put_float(y, sizeof y, init.a);
        n = init.a != 0 ? 2 : 1;
        break;
    case NN_INIT_UNIFORM:
        put_float(x, sizeof x, init.a == -init.b ? init.b : init.a);
        put_float(y, sizeof y, init.b);
        n = init.a == -init.b ? 1 : 2;
        break;
    default:
        if (init.gain != 0)
            put_float(x, sizeof x, init.gain), n = 1;
        break;
    }
    return snprintf(buf, size, "%s%s%s%s%s", name, n ? ":" : "", n ? x : "",
                    n > 1 ? ":" : "", n > 1 ? y : "");
}

/* ---- filling ------------------------------------------------------------- */

nn_status nn_init_fill(nn_ctx *ctx, struct nn_init init, float *x, int64_t n,
                       int64_t fan_in, int64_t fan_out)
{
    struct nn_rng *r = &ctx->rng;
    double fi = fan_in > 0 ? (double)fan_in : 1.0;
    double fo = fan_out > 0 ? (double)fan_out : 1.0;
    double lo, hi, mean, std, gain;
    char why[160];
    if (nn_init_problem(init, why, sizeof why))
        return nn_fail(ctx, NN_ERR_INVALID, "%s initializer: %s",
                       nn_init_name(init.kind) ? nn_init_name(init.kind) : "an", why);
    gain = init.gain;
    switch (init.kind) {
    case NN_INIT_ZEROS:
        memset(x, 0, (size_t)n * sizeof *x);
        return NN_OK;
    case NN_INIT_CONSTANT:
        for (int64_t i = 0; i < n; i++)
            x[i] = init.a;
        return NN_OK;
    case NN_INIT_NORMAL:
        mean = init.a;
        std = init.b;
        goto normal;
    case NN_INIT_UNIFORM:
        lo = init.a;
        hi = init.b;
        goto uniform;
    case NN_INIT_XAVIER_UNIFORM:
        hi = (gain > 0 ? gain : 1.0) * sqrt(6.0 / (fi + fo));
        lo = -hi;
        goto uniform;
    case NN_INIT_XAVIER_NORMAL:
        mean = 0;
        std = (gain > 0 ? gain : 1.0) * sqrt(2.0 / (fi + fo));
        goto normal;
    case NN_INIT_HE_NORMAL:
        mean = 0;
        std = (gain > 0 ? gain : sqrt(2.0)) / sqrt(fi);
        goto normal;
    default: /* NN_INIT_HE_UNIFORM */
        hi = (gain > 0 ? gain : sqrt(2.0)) * sqrt(3.0 / fi);
        lo = -hi;
        goto uniform;
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
