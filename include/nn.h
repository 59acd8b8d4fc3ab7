/*
 * nn.h - the public interface of libnn, a C11 library for defining and
 * training feed-forward neural networks with reverse-mode automatic
 * differentiation.
 *
 * The interface is split by subject into include/nn/: core.h (status,
 * version, context), graph.h (initializers, the graph, its DOT picture,
 * gradient checking), ops.h, optim.h (optimizers, schedules), data.h,
 * model.h (layers, models), train.h (sources, evaluation, the trainer) and
 * io.h (safetensors, checkpoints, PyTorch import). This file includes them
 * all; each also compiles on its own.
 *
 * Conventions:
 *  - Every handle is opaque. Objects are created by *_new and released by
 *    *_free; *_free(NULL) is a no-op.
 *  - Calls that can fail return an nn_status (NN_OK on success) or NULL, and
 *    leave a one-line message in the context: nn_ctx_error(ctx). The library
 *    never exits or aborts on a user error.
 *  - Tensors are float32, row-major, contiguous, at most NN_MAX_DIMS
 *    dimensions. Inputs carry an implicit batch dimension as their first
 *    axis; every shape reported by the library includes it.
 *  - A context and everything made from it (graphs, models, trainers,
 *    optimizers) is used by one thread at a time; the library's own worker
 *    threads (the context's `threads`) are internal. Two contexts may be
 *    used from two threads at once. Data sets may be gathered from by
 *    several threads at once.
 *  - Graph builders accept NULL inputs and then return NULL without adding
 *    to the message, so a chain such as nn_relu(g, nn_matmul(g, x, w, 1))
 *    reports the first error only; nn_graph_compile then fails as well.
 *  - Configuration structs (nn_ctx_cfg, nn_optim_cfg, nn_schedule_cfg,
 *    nn_model_cfg, nn_train_cfg) may be zero-initialized: a field left 0
 *    takes its documented default. An explicit value is always kept: where
 *    0 is itself a meaningful value of a field whose default is not 0, the
 *    struct says how to ask for it (nn_optim_cfg: start from
 *    nn_optim_defaults, after which every field, zeros included, is taken
 *    as it stands; nn_schedule_cfg: -1; nn_model_cfg: the has_* flags).
 *    A field whose 0 would be meaningless (a batch size, a gain) simply
 *    treats 0 as "the default".
 *  - The library never prints. Warnings (e.g. an initialization that makes
 *    every unit of a layer learn the same thing) go to the context's
 *    warning handler (nn_ctx_set_warning), if one is set.
 */
#ifndef NN_H
#define NN_H

#include "nn/core.h"
#include "nn/graph.h"
#include "nn/ops.h"
#include "nn/optim.h"
#include "nn/data.h"
#include "nn/model.h"
#include "nn/train.h"
#include "nn/io.h"

#endif /* NN_H */
