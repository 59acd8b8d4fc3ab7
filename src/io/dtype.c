/*
 * dtype.c - the element types of safetensors files as float32: IEEE half
 * and bfloat16 widened exactly (bit manipulation, no rounding involved),
 * float64 rounded to nearest, integers to the nearest float. The importer
 * of PyTorch weights (import.c) fills float32 parameters with them.
 */
#include "io.h"

#include <float.h>
#include <math.h>
#include <string.h>

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* binary16: sign 1, exponent 5 (bias 15), fraction 10 bits. */
float nn_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, frac = h & 0x3ffu;
    if (exp == 0x1f) /* infinity (frac 0), or NaN: payload kept, made quiet
                        as the processor's conversion (F16C) and PyTorch do */
        return from_bits(sign | 0x7f800000u | (frac << 13) | (frac ? 0x400000u : 0));
    if (exp != 0) /* normal: rebias the exponent from 15 to 127 */
        return from_bits(sign | ((exp + 127 - 15) << 23) | (frac << 13));
    /* zero or subnormal: frac * 2^-24, exact in float32 (a 10-bit integer
     * times a power of two that stays within float32's normal range) */
    float mag = (float)frac * 0x1p-24f;
    return sign ? -mag : mag;
}

/* bfloat16: the upper half of a float32. */
float nn_bf16_to_f32(uint16_t b)
{
    return from_bits((uint32_t)b << 16);
}

float nn_f64_to_f32(double d)
{
    /* Values from FLT_MAX + half an ulp (2^128 - 2^103) up round to
     * infinity; converting them with a cast would be undefined in C. */
    if (d >= 0x1.ffffffp127)
        return INFINITY;
    if (d <= -0x1.ffffffp127)
        return -INFINITY;
    return (float)d; /* NaN stays NaN */
}

bool nn_st_dtype_is_float(const char *dtype)
{
    return dtype && (strcmp(dtype, "F32") == 0 || strcmp(dtype, "F64") == 0 ||
                     strcmp(dtype, "F16") == 0 || strcmp(dtype, "BF16") == 0);
}

/* The reader hands out data in host byte order, aligned to the element
 * size, so elements are read as their C types. */
bool nn_st_to_f32(const struct nn_st_view *v, float *out)
{
    const char *t = v->dtype;
    int64_t n = v->numel;
    if (strcmp(t, "F32") == 0) {
        memcpy(out, v->data, (size_t)n * sizeof *out);
    } else if (strcmp(t, "F64") == 0) {
        const double *x = v->data;
        for (int64_t i = 0; i < n; i++)
            out[i] = nn_f64_to_f32(x[i]);
    } else if (strcmp(t, "F16") == 0) {
        const uint16_t *x = v->data;
        for (int64_t i = 0; i < n; i++)
            out[i] = nn_f16_to_f32(x[i]);
    } else if (strcmp(t, "BF16") == 0) {
        const uint16_t *x = v->data;
        for (int64_t i = 0; i < n; i++)
            out[i] = nn_bf16_to_f32(x[i]);
    } else if (strcmp(t, "I64") == 0) {
        const int64_t *x = v->data;
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)x[i];
    } else if (strcmp(t, "I32") == 0) {
        const int32_t *x = v->data;
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)x[i];
    } else if (strcmp(t, "U8") == 0) {
        const uint8_t *x = v->data;
        for (int64_t i = 0; i < n; i++)
            out[i] = (float)x[i];
    } else {
        return false;
    }
    return true;
}

double nn_st_elem_f64(const struct nn_st_view *v, int64_t i)
{
    const char *t = v->dtype;
    if (i < 0 || i >= v->numel)
        return NAN;
    if (strcmp(t, "F32") == 0)
        return ((const float *)v->data)[i];
    if (strcmp(t, "F64") == 0)
        return ((const double *)v->data)[i];
    if (strcmp(t, "F16") == 0)
        return nn_f16_to_f32(((const uint16_t *)v->data)[i]);
    if (strcmp(t, "BF16") == 0)
        return nn_bf16_to_f32(((const uint16_t *)v->data)[i]);
    if (strcmp(t, "I64") == 0)
        return (double)((const int64_t *)v->data)[i];
    if (strcmp(t, "I32") == 0)
        return ((const int32_t *)v->data)[i];
    if (strcmp(t, "U8") == 0)
        return ((const uint8_t *)v->data)[i];
    return NAN;
}
