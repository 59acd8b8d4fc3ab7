/**
 * @file nn/graph.h
 * @brief Initializers, the computation graph (leaves, compile, feed, forward,
 * backward, inspection), its DOT picture, and gradient checking.
 *
 * Part of libnn's public interface: programs include <nn.h>, which
 * includes every part; each part also compiles on its own.
 */
#ifndef NN_PUBLIC_GRAPH_H
#define NN_PUBLIC_GRAPH_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Initializers.                                                             */

/* The initializers' kinds; a and b are struct nn_init's numbers. */
typedef enum nn_init_kind {
    NN_INIT_ZEROS = 0,
    NN_INIT_CONSTANT,       /* a */
    NN_INIT_NORMAL,         /* N(a, b^2): mean a, standard deviation b */
    NN_INIT_UNIFORM,        /* U[a, b] */
    NN_INIT_XAVIER_UNIFORM, /* U[-r, r], r = gain * sqrt(6 / (fan_in + fan_out)) */
    NN_INIT_XAVIER_NORMAL,  /* N(0, s^2), s = gain * sqrt(2 / (fan_in + fan_out)) */
    NN_INIT_HE_NORMAL,      /* N(0, s^2), s = gain / sqrt(fan_in), gain sqrt(2) for relu */
    NN_INIT_HE_UNIFORM,     /* U[-r, r], r = gain * sqrt(3 / fan_in) */
    NN_INIT_COUNT
} nn_init_kind;

/* An initializer: kind plus its numbers, taken as they are (a, b as above:
 * {NN_INIT_NORMAL} alone is N(0, 0), every value 0). gain 0 means the
 * default: 1 for Xavier, sqrt(2) for He (a gain of 0 would give zeros).
 * fan_in and fan_out follow PyTorch: for a (out, in, ...) weight, fan_in =
 * in * receptive field, fan_out = out * receptive field; a 1-D parameter
 * (a bias of n units) has fan_in = fan_out = n.
 *
 * Text form (nn_init_parse, --init, --bias-init, and a dense layer's INIT in
 * a model spec), with the defaults of the lectures:
 *   zeros                    every value 0
 *   constant:C               every value C
 *   normal[:STD[:MEAN]]      N(MEAN, STD^2); STD 0.01, MEAN 0
 *   uniform[:A]              U[-A, A]; A 0.05
 *   uniform:LO:HI            U[LO, HI]
 *   xavier_uniform[:GAIN]    also xavier, glorot
 *   xavier_normal[:GAIN]
 *   he_normal[:GAIN]         also he, kaiming
 *   he_uniform[:GAIN]
 * e.g. "normal:0.1", "uniform:0.5", "constant:0.25", "he_uniform". */
struct nn_init {
    nn_init_kind kind;  /* the distribution */
    float a, b;         /* its numbers, as nn_init_kind says */
    float gain;         /* Xavier and He: the gain (0: the default) */
};

/* "zeros", "xavier_uniform", ... ; NULL for an unknown kind. */
NN_API const char *nn_init_name(nn_init_kind kind);
/* Parses the text form above into *out. NN_ERR_INVALID with a message
 * naming the text and what is wrong (an unknown kind, a value that is not
 * a number, too many values, a negative standard deviation or bound,
 * reversed bounds, a gain <= 0); *out is then unchanged. */
NN_API nn_status nn_init_parse(nn_ctx *ctx, const char *text, struct nn_init *out);
/* Writes the text form of init (parsable by nn_init_parse, every number
 * written out, e.g. "normal:0.01") into buf; returns the length it needs,
 * as snprintf. */
NN_API int nn_init_format(struct nn_init init, char *buf, size_t size);
/* Fills x[0..n) from the initializer using the context's generator.
 * NN_ERR_INVALID for an unknown kind or numbers out of range. */
NN_API nn_status nn_init_fill(nn_ctx *ctx, struct nn_init init, float *x, int64_t n,
                       int64_t fan_in, int64_t fan_out);

/* ------------------------------------------------------------------------ */
/* Computation graph.                                                        */

/* A computation graph (opaque): its nodes, and once compiled their
 * values, gradients and the parameter block. */
typedef struct nn_graph nn_graph;
/* A node of a graph (opaque): an input, a parameter, a constant or the
 * output of an op; owned by its graph. */
typedef struct nn_node nn_node;

/* A new, empty graph that reports errors to ctx (which must outlive it).
 * NULL if out of memory. */
NN_API nn_graph *nn_graph_new(nn_ctx *ctx);
NN_API void nn_graph_free(nn_graph *g);
NN_API nn_ctx *nn_graph_ctx(const nn_graph *g);

/* Leaves. Shapes exclude the batch axis for inputs and labels. */
/* A float input of per-sample shape dims[0..ndim); the batch axis is implicit. */
NN_API nn_node *nn_input(nn_graph *g, const char *name, int ndim, const int64_t *dims);
/* Integer class labels, one per sample (for nn_softmax_cross_entropy). */
NN_API nn_node *nn_labels(nn_graph *g, const char *name);
/* A trainable parameter of shape dims, filled by init at compile time. */
NN_API nn_node *nn_param(nn_graph *g, const char *name, int ndim, const int64_t *dims,
                  struct nn_init init);
/* A buffer: a non-trainable parameter (PyTorch's term), such as batch
 * norm's running statistics. It lives in the parameter block with the
 * parameters, in creation order (so checkpoints carry it), is filled by
 * init at compile time, and may be written by the ops that own it; it has
 * no gradient (nn_grad returns NULL; its part of the gradient block stays
 * zero) and optimizers, weight decay, L1/L2 penalties and gradient
 * clipping leave it alone. nn_node_is_param is true for it. */
NN_API nn_node *nn_buffer(nn_graph *g, const char *name, int ndim, const int64_t *dims,
                   struct nn_init init);
/* True for parameters made by nn_param, false for buffers and other nodes. */
NN_API bool nn_param_is_trainable(const nn_node *param);
/* A constant tensor of shape dims (no batch axis); values are copied. */
NN_API nn_node *nn_const(nn_graph *g, const char *name, int ndim, const int64_t *dims,
                  const float *values);
/* Asks for the gradient of an input (off by default). */
NN_API void nn_input_requires_grad(nn_node *input, bool on);

/* Compiles the graph for the given output nodes (losses and predictions):
 * orders the nodes they depend on, allocates every buffer for batches of up
 * to max_batch samples and initializes the parameters. Once per graph. */
NN_API nn_status nn_graph_compile(nn_graph *g, nn_node *const *outputs, int noutputs,
                           int64_t max_batch);

/* Before compile: fold each bias add (a row vector broadcast over a batch)
 * that feeds only a relu into that relu, so the pair is one pass over
 * memory forward and backward. The add then keeps no value or gradient of
 * its own (nn_value and nn_grad return NULL for it); every other node and
 * all results are unchanged. Off by default; models turn it on. */
NN_API void nn_graph_set_fuse(nn_graph *g, bool on);

/* Copies n samples into an input (n <= max_batch; the same n for every input
 * of a pass). */
NN_API nn_status nn_feed(nn_graph *g, nn_node *input, const float *data, int64_t n);
/* Copies n class labels; each must be in [0, classes) for the loss using them. */
NN_API nn_status nn_feed_labels(nn_graph *g, nn_node *labels, const int32_t *y, int64_t n);
/* The input's buffer, to fill in place, and the batch size it then holds. */
NN_API float *nn_input_buffer(nn_graph *g, nn_node *input);
NN_API int32_t *nn_labels_buffer(nn_graph *g, nn_node *labels);
NN_API nn_status nn_set_batch(nn_graph *g, int64_t n);
NN_API int64_t nn_graph_batch(const nn_graph *g);

/* Training mode turns dropout on and makes batch normalization use (and
 * update) batch statistics (the default is evaluation mode). */
NN_API void nn_graph_set_training(nn_graph *g, bool on);

/* Runs every compiled node in order. */
NN_API nn_status nn_forward(nn_graph *g);
/* Runs only the nodes out depends on (e.g. predictions without labels). */
NN_API nn_status nn_forward_to(nn_graph *g, nn_node *out);
/* Back-propagates from a scalar node (seed gradient 1), adding into the
 * gradients of parameters (and inputs that asked for them). Parameter
 * gradients accumulate across calls until nn_zero_grad. */
NN_API nn_status nn_backward(nn_graph *g, nn_node *loss);
/* Same from any node, with seed gradient seed (shape of out at this batch). */
NN_API nn_status nn_backward_seeded(nn_graph *g, nn_node *out, const float *seed);
NN_API void nn_zero_grad(nn_graph *g);

/* Node inspection. Values and gradients live as long as the graph; a
 * gradient is NULL for nodes that need none. Dimensions include the batch
 * axis at the current batch size. */
NN_API const float *nn_value(const nn_node *n);
NN_API float *nn_value_mut(nn_node *n);
NN_API const float *nn_grad(const nn_node *n);
NN_API int nn_node_ndim(const nn_node *n);
NN_API int64_t nn_node_dim(const nn_node *n, int axis);
NN_API int64_t nn_node_numel(const nn_node *n);
NN_API const char *nn_node_name(const nn_node *n);
NN_API const char *nn_node_op(const nn_node *n);
NN_API bool nn_node_is_param(const nn_node *n);
/* Renames a node (before or after compile): the name messages,
 * nn_graph_find and nn_graph_dot use, and a parameter's name in checkpoints.
 * E.g. "x + y" for the output of an add. NN_ERR_INVALID, naming both, if
 * name is empty or another node of the graph has it. */
NN_API nn_status nn_node_set_name(nn_node *n, const char *name);

/* Parameters live in one contiguous block in creation order, and so do
 * their gradients (valid after compile). */
NN_API int nn_graph_nparams(const nn_graph *g);
NN_API nn_node *nn_graph_param(const nn_graph *g, int i);
NN_API nn_node *nn_graph_find(const nn_graph *g, const char *name);
/* Every node of g (inputs, parameters, ops) in creation order, which is a
 * topological order: for a model, its layers in spec order (nn summary's
 * layer table walks them). NULL for i out of [0, nn_graph_nnodes). */
NN_API int nn_graph_nnodes(const nn_graph *g);
NN_API nn_node *nn_graph_node(const nn_graph *g, int i);
NN_API int64_t nn_graph_param_count(const nn_graph *g);
NN_API float *nn_graph_param_block(nn_graph *g);
NN_API float *nn_graph_grad_block(nn_graph *g);
/* Offset of a parameter's values inside the block. */
NN_API int64_t nn_param_offset(const nn_node *param);

/* The name of the first node in compiled order whose value holds a NaN or
 * infinity after the last forward pass, or NULL. */
NN_API const char *nn_graph_first_nonfinite(const nn_graph *g);

/* ------------------------------------------------------------------------ */
/* The graph as a picture (src/graph_dot.c): Graphviz DOT text, which
 * Graphviz's dot program or library renders (nn graph FILE.dot --png OUT
 * does). */

/* What nn_graph_dot shows; a zeroed struct: the structure only. */
struct nn_dot_cfg {
    bool values;       /* show each node's value from the last forward pass */
    bool grads;        /* show each node's gradient from the last backward
                          pass, where it has one (as nn_grad) */
    int entries;       /* a tensor of more elements than this shows its norm
                          and its first `entries` elements (0: 4) */
    const char *title; /* a caption for the picture, or NULL */
    const nn_node *from; /* the node the backward pass started from (the
                            loss), or NULL: with it, the nodes it does not
                            depend on (e.g. a model's predictions) show no
                            gradient, and the caption names it */
};

/* The compiled part of g (the nodes its outputs need) as a DOT digraph:
 * one node per graph node, with the graph's name for it (nn_node_name; in
 * a model "x", "dense1.weight", "dense1.matmul", "dense1", "relu1", "y",
 * "loss"), its op and its shape; one edge from each input to the node
 * using it, labelled with the input's shape: "(N, 4)", N the batch axis,
 * or the batch size when values are shown ("(1, 4)"). With cfg->values,
 * each node also shows "value V" in green, and with cfg->grads "grad G" in
 * red, G the gradient of the last backward pass with respect to the node
 * (from a loss L: dL/dnode, summed over every path from the node to L).
 * A tensor of at most `entries` elements is written out whole ("value 6",
 * "grad [2, 0.5, -1]"), a larger one as its norm (the square root of the
 * sum of squares) and its first `entries` elements ("value norm 3.21" and
 * "[0.1, -0.4, 0.3, 2, ...]"); numbers as printf's %.4g, zeros unsigned.
 * A bias add folded into its relu (nn_graph_set_fuse) shows the value and
 * gradient it stands for. cfg may be NULL: structure only. Nodes that
 * have no gradient (inputs that did not ask for one, labels, constants)
 * show none.
 * Returns a string the caller releases with free(), or NULL with a
 * message in the context: NN_ERR_STATE if g is not compiled, or if values
 * are asked for before any batch was fed; NN_ERR_INVALID if cfg->from is
 * not a compiled node of g; NN_ERR_NOMEM. */
NN_API char *nn_graph_dot(nn_graph *g, const struct nn_dot_cfg *cfg);

/* ------------------------------------------------------------------------ */
/* Gradient checking by central finite differences.                         */

/* The largest differences a gradient check found. */
struct nn_gradcheck_result {
    double max_rel_err; /* max over entries of |a - f| / max(|a|, |f|, floor) */
    double max_abs_err; /* max over entries of |a - f| */
    int64_t checked;    /* entries compared */
};

/* Compares the backward pass of out with central differences of
 * L = sum(r * out) for a fixed random r, over every parameter and every input
 * that asked for a gradient. The graph must be compiled and fed. eps is the
 * step (relative to max(1, |x|)). */
NN_API nn_status nn_gradcheck(nn_graph *g, nn_node *out, double eps,
                       struct nn_gradcheck_result *res);

/* The op table: count, names, and a self-contained gradient check of op i
 * on a small example graph built for it. tol is the op's tolerance on the
 * relative error. */
NN_API int nn_op_count(void);
NN_API const char *nn_op_name_at(int i);
NN_API bool nn_op_is_differentiable_at(int i);
NN_API nn_status nn_gradcheck_op(nn_ctx *ctx, int i, struct nn_gradcheck_result *res,
                          double *tol);

#ifdef __cplusplus
}
#endif
#endif /* NN_PUBLIC_GRAPH_H */
