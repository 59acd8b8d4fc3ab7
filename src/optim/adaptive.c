/*
 * adaptive.c - the per-coordinate adaptive methods of torch.optim
 * (PyTorch 1.13), each with d = g + wd p (coupled weight decay) and
 * p = keep p - ... (keep = 1 - lr wd when decoupled, else 1):
 *
 * Adagrad:  clr = lr / (1 + (t - 1) lr_decay); sum += d^2;
 *           p -= clr d / (sqrt(sum) + eps)
 * Adadelta: v = rho v + (1 - rho) d^2; delta = sqrt(u + eps) / sqrt(v + eps) d;
 *           u = rho u + (1 - rho) delta^2; p -= lr delta
 * RMSprop:  v = alpha v + (1 - alpha) d^2;
 *           centered: m = alpha m + (1 - alpha) d, avg = sqrt(v - m^2) + eps,
 *           else avg = sqrt(v) + eps;
 *           momentum > 0: buf = momentum buf + d / avg, p -= lr buf,
 *           else p -= lr d / avg
 * (v - m^2 is clamped at 0 so that rounding cannot produce a NaN.)
 */
#include "optim.h"

#include <math.h>

/* max(x, 0) that keeps a NaN (and vectorizes, unlike fmaxf). */
static inline float clamp0(float x) { return x < 0 ? 0 : x; }

NN_MULTIVERSION void nn_optim_adagrad_update(nn_optim *o, const struct nn_optim_args *a, int64_t off,
                             int64_t len)
{
    const struct nn_optim_cfg *c = &o->cfg;
    float *restrict p = nn_graph_param_block(o->g) + off;
    const float *restrict g = nn_graph_grad_block(o->g) + off;
    float *restrict sum = o->state + off;
    const float clr = (float)((double)c->lr / (1.0 + (double)(o->steps - 1) * c->lr_decay));
    const float wd = a->wd_coupled, keep = a->keep, eps = c->eps;
    NN_SIMD
    for (int64_t i = 0; i < len; i++) {
        float d = g[i] + wd * p[i];
        float s = sum[i] + d * d;
        sum[i] = s;
        p[i] = keep * p[i] - clr * d / (sqrtf(s) + eps);
    }
}

NN_MULTIVERSION void nn_optim_adadelta_update(nn_optim *o, const struct nn_optim_args *a, int64_t off,
                              int64_t len)
{
    const struct nn_optim_cfg *c = &o->cfg;
    float *restrict p = nn_graph_param_block(o->g) + off;
    const float *restrict g = nn_graph_grad_block(o->g) + off;
    float *restrict v = o->state + off;
    float *restrict u = o->state + o->n + off;
    const float rho = c->rho, rho1 = 1.0f - c->rho, eps = c->eps, lr = c->lr;
    const float wd = a->wd_coupled, keep = a->keep;
    NN_SIMD
    for (int64_t i = 0; i < len; i++) {
        float d = g[i] + wd * p[i];
        float vi = rho * v[i] + rho1 * d * d;
        v[i] = vi;
        float delta = sqrtf(u[i] + eps) / sqrtf(vi + eps) * d;
        u[i] = rho * u[i] + rho1 * delta * delta;
        p[i] = keep * p[i] - lr * delta;
    }
}

NN_MULTIVERSION void nn_optim_rmsprop_update(nn_optim *o, const struct nn_optim_args *a, int64_t off,
                             int64_t len)
{
    const struct nn_optim_cfg *c = &o->cfg;
    float *restrict p = nn_graph_param_block(o->g) + off;
    const float *restrict g = nn_graph_grad_block(o->g) + off;
    float *restrict v = o->state + off;
    float *slot = o->state + o->n;
    float *restrict m = NULL, *restrict buf = NULL;
    if (c->centered) {
        m = slot + off;
        slot += o->n;
    }
    if (c->momentum > 0)
        buf = slot + off;
    const float al = c->alpha, al1 = 1.0f - c->alpha, eps = c->eps, lr = c->lr;
    const float mom = c->momentum, wd = a->wd_coupled, keep = a->keep;
    if (m && buf) {
        NN_SIMD
        for (int64_t i = 0; i < len; i++) {
            float d = g[i] + wd * p[i];
            float vi = al * v[i] + al1 * d * d;
            float mi = al * m[i] + al1 * d;
            v[i] = vi;
            m[i] = mi;
            float b = mom * buf[i] + d / (sqrtf(clamp0(vi - mi * mi)) + eps);
            buf[i] = b;
            p[i] = keep * p[i] - lr * b;
        }
    } else if (m) {
        NN_SIMD
        for (int64_t i = 0; i < len; i++) {
            float d = g[i] + wd * p[i];
            float vi = al * v[i] + al1 * d * d;
            float mi = al * m[i] + al1 * d;
            v[i] = vi;
            m[i] = mi;
            p[i] = keep * p[i] - lr * d / (sqrtf(clamp0(vi - mi * mi)) + eps);
        }
    } else if (buf) {
        NN_SIMD
        for (int64_t i = 0; i < len; i++) {
            float d = g[i] + wd * p[i];
            float vi = al * v[i] + al1 * d * d;
            v[i] = vi;
            float b = mom * buf[i] + d / (sqrtf(vi) + eps);
            buf[i] = b;
            p[i] = keep * p[i] - lr * b;
        }
    } else {
        NN_SIMD
        for (int64_t i = 0; i < len; i++) {
            float d = g[i] + wd * p[i];
            float vi = al * v[i] + al1 * d * d;
            v[i] = vi;
            p[i] = keep * p[i] - lr * d / (sqrtf(vi) + eps);
        }
    }
}
