/*
 * adam.c - Adam and AdamW as torch.optim.Adam / AdamW (PyTorch 1.13):
 *
 *   d = g + wd p                          (Adam's coupled weight decay)
 *   m = beta1 m + (1 - beta1) d
 *   v = beta2 v + (1 - beta2) d^2
 *   vmax = max(vmax, v), used instead of v  (amsgrad)
 *   p = keep p - lr / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 *
 * AdamW is the same with decoupled decay, keep = 1 - lr wd (and no coupled
 * term). The bias corrections are computed in double once per step.
 */
#include "optim.h"

#include <math.h>

NN_MULTIVERSION void nn_optim_adam_update(nn_optim *o, const struct nn_optim_args *a, int64_t off,
                          int64_t len)
{
    const struct nn_optim_cfg *c = &o->cfg;
    float *restrict p = nn_graph_param_block(o->g) + off;
    const float *restrict g = nn_graph_grad_block(o->g) + off;
    float *restrict m = o->state + off;
    float *restrict v = o->state + o->n + off;
    const double t = (double)o->steps;
    const double bc1 = 1.0 - pow(c->beta1, t), bc2 = 1.0 - pow(c->beta2, t);
    const float step = (float)(c->lr / bc1), inv_bc2 = (float)(1.0 / sqrt(bc2));
    const float b1 = c->beta1, b11 = 1.0f - c->beta1, b2 = c->beta2, b21 = 1.0f - c->beta2;
    const float eps = c->eps, wd = a->wd_coupled, keep = a->keep;
    if (c->amsgrad) {
        float *restrict vmax = o->state + 2 * o->n + off;
        NN_SIMD
        for (int64_t i = 0; i < len; i++) {
            float d = g[i] + wd * p[i];
            float mi = b1 * m[i] + b11 * d;
            float vi = b2 * v[i] + b21 * d * d;
            float vm = vmax[i] > vi ? vmax[i] : vi; /* NaN in v propagates */
            m[i] = mi;
            v[i] = vi;
            vmax[i] = vm;
            p[i] = keep * p[i] - step * mi / (sqrtf(vm) * inv_bc2 + eps);
        }
    } else {
        NN_SIMD
        for (int64_t i = 0; i < len; i++) {
            float d = g[i] + wd * p[i];
            float mi = b1 * m[i] + b11 * d;
            float vi = b2 * v[i] + b21 * d * d;
            m[i] = mi;
            v[i] = vi;
            p[i] = keep * p[i] - step * mi / (sqrtf(vi) * inv_bc2 + eps);
        }
    }
}
