/**
 * @file nn/model.h
 * @brief Layers with their own parameters, and sequential models built from a
 * spec: prediction, classes, normalization.
 *
 * Part of libnn's public interface: programs include <nn.h>, which
 * includes every part; each part also compiles on its own.
 */
#ifndef NN_PUBLIC_MODEL_H
#define NN_PUBLIC_MODEL_H

#include "ops.h"
#include "data.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Layers, models and training (src/layers.c, src/model.c, src/train.c).    */

/* dense(x) = x . W^T + b with W (units, in) named NAME.weight and b (units)
 * named NAME.bias (zeros); the product is the node NAME.matmul and the sum,
 * the layer's output, the node NAME. x must be (N, in). NULL on error (a
 * name already used included). */
NN_API nn_node *nn_dense(nn_graph *g, nn_node *x, int64_t units, struct nn_init w_init,
                  const char *name);
/* The same with the biases drawn from b_init (fans: see struct nn_init). */
NN_API nn_node *nn_dense_ex(nn_graph *g, nn_node *x, int64_t units, struct nn_init w_init,
                     struct nn_init b_init, const char *name);

/* conv2d with its own parameters, named as torch's nn.Conv2d state dict:
 * NAME.weight (out, C/groups, kh, kw) from w_init (fan_in = C/groups kh kw)
 * and, when bias is true, NAME.bias (out) of zeros; the node is NAME
 * (cfg->name is ignored). x must be (N, C, H, W). NULL on error. */
NN_API nn_node *nn_conv2d_layer(nn_graph *g, nn_node *x, int64_t out_channels, int kernel_h,
                         int kernel_w, const struct nn_conv2d_cfg *cfg, bool bias,
                         struct nn_init w_init, const char *name);
/* batchnorm with its own parameters, named as torch's nn.BatchNorm1d/2d
 * state dict: NAME.weight (ones), NAME.bias (zeros), and the buffers
 * NAME.running_mean (zeros), NAME.running_var (ones) and
 * NAME.num_batches_tracked (1, zero; a float here, an int64 scalar in
 * torch); the node is NAME (cfg->name is ignored). NULL on error. */
NN_API nn_node *nn_batchnorm_layer(nn_graph *g, nn_node *x, const struct nn_batchnorm_cfg *cfg,
                            const char *name);

/* A model's loss. */
typedef enum nn_loss_kind {
    NN_LOSS_AUTO = 0,      /* from the final activation: softmax -> cross-entropy,
                              sigmoid -> binary cross-entropy, else mse */
    NN_LOSS_SOFTMAX_CE,    /* integer class labels */
    NN_LOSS_SIGMOID_BCE,   /* targets in [0, 1], one per output unit */
    NN_LOSS_MSE            /* regression targets, one per output unit */
} nn_loss_kind;

/* Options of nn_model_new; NULL or a zeroed struct: the defaults. */
struct nn_model_cfg {
    int64_t max_batch;    /* largest batch the model runs (default 256) */
    bool has_dropout;     /* use dropout for "dropout" layers written without a
                             rate; otherwise 0.5 */
    float dropout;        /* the rate, when has_dropout */
    bool has_init;        /* use init for the weights of every dense and conv
                             layer that gives none; otherwise He normal before
                             the relu family, Xavier uniform elsewhere */
    struct nn_init init;  /* the weights' initializer, when has_init */
    bool has_bias_init;   /* use bias_init for the biases of every dense and conv
                             layer that gives none (and has one); otherwise zeros */
    struct nn_init bias_init; /* the biases' initializer, when has_bias_init */
    nn_loss_kind loss;    /* default NN_LOSS_AUTO: from the final activation */
};

/* A sequential model (opaque): its graph, compiled, with its input,
 * loss and prediction nodes, normalization and class names. */
typedef struct nn_model nn_model;

/* Builds a sequential model from a spec such as
 *   "784 dense:256 relu dropout:0.2 dense:128 relu dense:10 softmax"
 *   "1x28x28 conv:8,5,pad=2 relu maxpool:2 conv:16,5 relu maxpool:2 flatten
 *    dense:120 relu dense:84 relu dense:10"
 * The first token is the per-sample input shape: a number of features
 * (784) or an image's CxHxW, channels x height x width (1x28x28; the input
 * is then (N, C, H, W), and nn_model_inputs is C*H*W). Each further token
 * is a layer: a kind and its fields, positional or NAME=VALUE (field names
 * in parentheses). Tokens are separated by blanks or commas; fields by ':'
 * or ','. The rule for commas: a comma-separated piece that starts like a
 * number (a digit, '-', '+', '.') or is NAME=VALUE continues the layer
 * before it, any other piece starts a new layer. So "conv:8,5,pad=2,relu"
 * is conv:8:5:pad=2 followed by relu, and "784,dense:256,relu,dense:10" is
 * four tokens; an initializer's name after a comma needs NAME=
 * ("dense:256,init=normal,0.02", or "dense:256:normal:0.02").
 *   dense:UNITS[:INIT][:bias=INIT]   (units, init, bias) dense1, dense2 ...:
 *                    NAME.weight (units, in), NAME.bias (units); its input
 *                    must be (N, features): flatten images first
 *   conv:C,K[,stride=S][,pad=P|same][,dil=D][,groups=G][,bias=no|INIT][,init=INIT]
 *                    (channels, kernel, stride, pad, dil, groups, bias, init)
 *                    conv1, conv2 ...: C output channels, kernel K; K, S, P
 *                    and D are N or HxW (non-square); defaults stride 1, pad
 *                    0, dilation 1, groups 1, a bias of zeros; pad=same is
 *                    D(K-1)/2 on each side (stride 1, D(K-1) even). Parameters
 *                    NAME.weight (C, in/groups, KH, KW) and NAME.bias (C), as
 *                    torch's nn.Conv2d
 *   maxpool:K[,stride=S][,pad=P]     (kernel, stride, pad) pool1, pool2 ...
 *   avgpool:K[,stride=S][,pad=P]     stride defaults to the kernel, padding
 *                    at most half the kernel (floor mode, as torch's
 *                    MaxPool2d / AvgPool2d with count_include_pad)
 *   gap              global average pooling (N, C, H, W) -> (N, C): gap1 ...
 *   batchnorm[:momentum=M][:eps=E]   bn1, bn2 ...: over channels after an
 *                    image layer (BatchNorm2d), over features after dense
 *                    (BatchNorm1d); M 0.1, E 1e-5; NAME.weight, NAME.bias and
 *                    the buffers NAME.running_mean, NAME.running_var,
 *                    NAME.num_batches_tracked
 *   flatten          (N, C, H, W) -> (N, C*H*W), a view: flatten1 ...
 *   relu  leaky_relu[:SLOPE] (slope)  sigmoid  tanh  hardtanh[:LO:HI] (lo, hi)
 *   sign  identity  dropout[:P] (p)   softmax (last only)
 * Output size of conv and pooling per axis, for input size H, padding P,
 * dilation D (1 for pooling), kernel K and stride S:
 *   floor((H + 2P - D(K-1) - 1) / S) + 1
 * INIT is an initializer's text form (see struct nn_init), its numbers as
 * further fields: "dense:256:normal:0.02", "dense:10:he_uniform:bias=constant:0.1",
 * "dense:64:init=uniform:-0.1:0.3". A layer's own initializers win over
 * cfg's. Weights default to He normal when the next layer past any
 * batchnorm and pooling is relu or leaky_relu, Xavier uniform otherwise.
 * A hidden dense layer (one followed by another) of several units
 * whose weights and biases each start at one value (zeros, constant, a
 * normal of standard deviation 0, a uniform of width 0) has units that
 * start identical: the context's warning handler is told, naming the
 * layer (the symmetry problem), and the model is built all the same.
 * A final softmax or sigmoid is fused with its loss; predictions are the
 * probabilities. cfg may be NULL. NULL on error: a syntax error names the
 * token, its position and what was expected; a layer that does not fit
 * its input (a kernel larger than the padded input, input channels that
 * do not divide into the groups, dense on images without flatten, conv or
 * pooling after flatten) names the token, the layer (conv2) and the
 * shapes. Free with nn_model_free. */
NN_API nn_model *nn_model_new(nn_ctx *ctx, const char *spec, const struct nn_model_cfg *cfg);
NN_API void nn_model_free(nn_model *m);
NN_API nn_ctx *nn_model_ctx(const nn_model *m);
NN_API nn_graph *nn_model_graph(const nn_model *m);
/* The spec as given; or, when cfg supplied initializers or a dropout rate
 * that layers use, the spec with them written into those layers (e.g.
 * "2 dense:4:normal:0.1 tanh dense:1:normal:0.1 sigmoid"), so that it alone
 * rebuilds the same model and a checkpoint records them. */
NN_API const char *nn_model_spec(const nn_model *m);
NN_API nn_loss_kind nn_model_loss_kind(const nn_model *m);
NN_API int64_t nn_model_inputs(const nn_model *m);   /* features per sample */
/* The per-sample input shape of the spec's first token into
 * dims[NN_MAX_DIMS] (unused entries 0): (features) or (C, H, W); returns
 * its dimension count, 1 or 3. Inputs are fed as nn_model_inputs floats
 * per sample either way (row-major (C, H, W)). */
NN_API int nn_model_input_shape(const nn_model *m, int64_t dims[NN_MAX_DIMS]);
NN_API int64_t nn_model_outputs(const nn_model *m);  /* output units */
NN_API int64_t nn_model_max_batch(const nn_model *m);
/* Nodes: the input, the labels (cross-entropy) or targets (others), the
 * loss (data term, mean over the batch), the logits before a fused final
 * activation, and the predictions (probabilities or values). */
NN_API nn_node *nn_model_input(const nn_model *m);
NN_API nn_node *nn_model_target(const nn_model *m);
NN_API nn_node *nn_model_loss(const nn_model *m);
NN_API nn_node *nn_model_logits(const nn_model *m);
NN_API nn_node *nn_model_output(const nn_model *m);
/* Predictions for n samples x (n, inputs) into out (n, outputs), in
 * evaluation mode, in chunks of max_batch. x is in the model's input space:
 * normalized as its training data was (see nn_model_normalize). x is only
 * read (each chunk is copied into the model); out must not overlap it. */
NN_API nn_status nn_model_predict(nn_model *m, const float *x, int64_t n, float *out);
/* For classifiers (loss cross-entropy or sigmoid): the classes are the
 * outputs, or classes 0 and 1 for a one-output sigmoid (p is class 1's
 * probability); ranked by probability, ties to the lower index. For a
 * multi-output sigmoid the probabilities are per output, independent. */
/* The predicted class of each of n samples x (n, inputs) into classes (n).
 * NN_ERR_STATE for a regression model (loss mse). */
NN_API nn_status nn_model_predict_class(nn_model *m, const float *x, int64_t n, int64_t *classes);
/* The k most probable classes of each sample, most probable first, into
 * classes (n, k), and their probabilities into probs (n, k) unless probs
 * is NULL. NN_ERR_INVALID naming k and the class count unless 1 <= k <=
 * classes; NN_ERR_STATE for a regression model. Allocates nothing. */
NN_API nn_status nn_model_topk(nn_model *m, const float *x, int64_t n, int64_t k, int64_t *classes,
                        float *probs);
/* The input normalization the model was trained with (stored in its
 * checkpoint): set (copied), get (false if none; arrays owned by the
 * model), and apply to n raw rows in place. */
NN_API nn_status nn_model_set_norm(nn_model *m, const struct nn_norm_stats *st);
NN_API bool nn_model_norm(const nn_model *m, struct nn_norm_stats *out);
NN_API void nn_model_normalize(const nn_model *m, float *x, int64_t n);
/* Class names (copied; n must equal the output units, or be 2 for a
 * one-unit sigmoid); name of class i or NULL if the classes have no names. */
NN_API nn_status nn_model_set_class_names(nn_model *m, const char *const *names, int64_t n);
NN_API const char *nn_model_class_name(const nn_model *m, int64_t i);

#ifdef __cplusplus
}
#endif
#endif /* NN_PUBLIC_MODEL_H */
