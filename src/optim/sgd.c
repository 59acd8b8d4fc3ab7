/*
 * sgd.c - stochastic gradient descent with optional heavy-ball or Nesterov
 * momentum, as torch.optim.SGD (PyTorch 1.13):
 *
 *   d = g + wd p                                   (coupled weight decay)
 *   buf = d at the first step, else momentum buf + (1 - dampening) d
 *   d = d + momentum buf (nesterov), or buf (heavy ball), or d (no momentum)
 *   p = keep p - lr d                              (keep = 1 - lr wd when decoupled)
 *
 * The mini-batch, batch or stochastic flavour is only the caller's batch size.
 */
#include "optim.h"

NN_MULTIVERSION void nn_optim_sgd_update(nn_optim *o, const struct nn_optim_args *a, int64_t off,
                         int64_t len)
{
    const struct nn_optim_cfg *c = &o->cfg;
    float *restrict p = nn_graph_param_block(o->g) + off;
    const float *restrict g = nn_graph_grad_block(o->g) + off;
    const float lr = c->lr, wd = a->wd_coupled, keep = a->keep;
    if (c->momentum == 0) {
        NN_SIMD
        for (int64_t i = 0; i < len; i++)
            p[i] = keep * p[i] - lr * (g[i] + wd * p[i]);
        return;
    }
    float *restrict buf = o->state + off;
    const float mom = c->momentum, damp = 1.0f - c->dampening;
    const bool nesterov = c->kind == NN_OPTIM_NESTEROV;
    if (o->steps == 1) { /* torch starts the buffer at the first gradient */
        if (nesterov)
            NN_SIMD
            for (int64_t i = 0; i < len; i++) {
                float d = g[i] + wd * p[i];
                buf[i] = d;
                p[i] = keep * p[i] - lr * (d + mom * d);
            }
        else
            NN_SIMD
            for (int64_t i = 0; i < len; i++) {
                float d = g[i] + wd * p[i];
                buf[i] = d;
                p[i] = keep * p[i] - lr * d;
            }
    } else if (nesterov) {
        NN_SIMD
        for (int64_t i = 0; i < len; i++) {
            float d = g[i] + wd * p[i];
            float b = mom * buf[i] + damp * d;
            buf[i] = b;
            p[i] = keep * p[i] - lr * (d + mom * b);
        }
    } else {
        NN_SIMD
        for (int64_t i = 0; i < len; i++) {
            float d = g[i] + wd * p[i];
            float b = mom * buf[i] + damp * d;
            buf[i] = b;
            p[i] = keep * p[i] - lr * b;
        }
    }
}
