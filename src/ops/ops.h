/*
 * ops.h - the forward, backward, shape-inference and example functions of
 * every op family, gathered into the op table by op_table.c.
 */
#ifndef NN_OPS_H
#define NN_OPS_H

#include "../nn_impl.h"

#define NN_OP_FNS(x)                                                          \
    nn_status nn_##x##_infer(nn_graph *g, nn_node *n);                        \
    nn_status nn_##x##_forward(nn_graph *g, nn_node *n);                      \
    void nn_##x##_backward(nn_graph *g, nn_node *n);                          \
    nn_node *nn_##x##_example(nn_graph *g);

/* matmul.c */
NN_OP_FNS(matmul)
/* binary.c: add, sub, mul share infer; scale is unary with a constant */
nn_status nn_binary_infer(nn_graph *g, nn_node *n);
nn_status nn_add_forward(nn_graph *g, nn_node *n);
void nn_add_backward(nn_graph *g, nn_node *n);
nn_node *nn_add_example(nn_graph *g);
nn_status nn_sub_forward(nn_graph *g, nn_node *n);
void nn_sub_backward(nn_graph *g, nn_node *n);
nn_node *nn_sub_example(nn_graph *g);
nn_status nn_mul_forward(nn_graph *g, nn_node *n);
void nn_mul_backward(nn_graph *g, nn_node *n);
nn_node *nn_mul_example(nn_graph *g);
nn_status nn_scale_forward(nn_graph *g, nn_node *n);
void nn_scale_backward(nn_graph *g, nn_node *n);
nn_node *nn_scale_example(nn_graph *g);
/* reduce.c */
nn_status nn_reduce_all_infer(nn_graph *g, nn_node *n);
nn_status nn_reduce_axis_infer(nn_graph *g, nn_node *n);
nn_status nn_sum_forward(nn_graph *g, nn_node *n);
void nn_sum_backward(nn_graph *g, nn_node *n);
nn_node *nn_sum_example(nn_graph *g);
nn_node *nn_mean_example(nn_graph *g);
nn_status nn_sum_axis_forward(nn_graph *g, nn_node *n);
void nn_sum_axis_backward(nn_graph *g, nn_node *n);
nn_node *nn_sum_axis_example(nn_graph *g);
nn_node *nn_mean_axis_example(nn_graph *g);
/* unary.c: one forward and one backward dispatching on the op */
nn_status nn_unary_forward(nn_graph *g, nn_node *n);
void nn_unary_backward(nn_graph *g, nn_node *n);
nn_node *nn_relu_example(nn_graph *g);
nn_node *nn_leaky_relu_example(nn_graph *g);
nn_node *nn_sigmoid_example(nn_graph *g);
nn_node *nn_tanh_example(nn_graph *g);
nn_node *nn_hardtanh_example(nn_graph *g);
nn_node *nn_sign_example(nn_graph *g);
nn_node *nn_identity_example(nn_graph *g);
nn_node *nn_exp_example(nn_graph *g);
nn_node *nn_log_example(nn_graph *g);
nn_node *nn_square_example(nn_graph *g);
nn_node *nn_abs_example(nn_graph *g);
/* softmax.c */
nn_status nn_softmax_forward(nn_graph *g, nn_node *n);
void nn_softmax_backward(nn_graph *g, nn_node *n);
nn_node *nn_softmax_example(nn_graph *g);
nn_status nn_log_softmax_forward(nn_graph *g, nn_node *n);
void nn_log_softmax_backward(nn_graph *g, nn_node *n);
nn_node *nn_log_softmax_example(nn_graph *g);
/* log sum_j e^{x_j} over x[0..c), computed stably (max subtracted) in double. */
double nn_logsumexp(const float *x, int64_t c);
/* dropout.c */
int64_t nn_dropout_aux(const nn_node *n, int64_t max_batch);
nn_status nn_dropout_forward(nn_graph *g, nn_node *n);
void nn_dropout_backward(nn_graph *g, nn_node *n);
nn_node *nn_dropout_example(nn_graph *g);
/* loss.c */
nn_status nn_softmax_ce_infer(nn_graph *g, nn_node *n);
int64_t nn_softmax_ce_aux(const nn_node *n, int64_t max_batch);
nn_status nn_softmax_ce_forward(nn_graph *g, nn_node *n);
void nn_softmax_ce_backward(nn_graph *g, nn_node *n);
nn_node *nn_softmax_ce_example(nn_graph *g);
nn_status nn_pair_loss_infer(nn_graph *g, nn_node *n);
nn_status nn_sigmoid_bce_forward(nn_graph *g, nn_node *n);
void nn_sigmoid_bce_backward(nn_graph *g, nn_node *n);
nn_node *nn_sigmoid_bce_example(nn_graph *g);
nn_status nn_bce_forward(nn_graph *g, nn_node *n);
void nn_bce_backward(nn_graph *g, nn_node *n);
nn_node *nn_bce_example(nn_graph *g);
nn_status nn_mse_forward(nn_graph *g, nn_node *n);
void nn_mse_backward(nn_graph *g, nn_node *n);
nn_node *nn_mse_example(nn_graph *g);

/* conv2d.c */
NN_OP_FNS(conv2d)
int64_t nn_conv2d_aux(const nn_node *n, int64_t max_batch);
nn_status nn_conv2d_prepare(nn_graph *g, nn_node *n, int64_t max_batch);
void nn_conv2d_release(nn_node *n);
/* pool2d.c: maxpool2d and avgpool2d share infer; global_avgpool */
nn_status nn_pool2d_infer(nn_graph *g, nn_node *n);
int64_t nn_maxpool2d_aux(const nn_node *n, int64_t max_batch);
nn_status nn_maxpool2d_forward(nn_graph *g, nn_node *n);
void nn_maxpool2d_backward(nn_graph *g, nn_node *n);
nn_node *nn_maxpool2d_example(nn_graph *g);
nn_status nn_avgpool2d_prepare(nn_graph *g, nn_node *n, int64_t max_batch);
void nn_avgpool2d_release(nn_node *n);
int64_t nn_avgpool2d_aux(const nn_node *n, int64_t max_batch);
nn_status nn_avgpool2d_forward(nn_graph *g, nn_node *n);
void nn_avgpool2d_backward(nn_graph *g, nn_node *n);
nn_node *nn_avgpool2d_example(nn_graph *g);
NN_OP_FNS(global_avgpool)
/* batchnorm.c */
NN_OP_FNS(batchnorm)
int64_t nn_batchnorm_aux(const nn_node *n, int64_t max_batch);
/* reshape.c: a view (no forward) */
nn_status nn_reshape_infer(nn_graph *g, nn_node *n);
void nn_reshape_backward(nn_graph *g, nn_node *n);
nn_node *nn_reshape_example(nn_graph *g);

/* Example helpers (gradcheck.c): an input of per-sample shape that asks for
 * its gradient, and a parameter; values are filled by the gradient check. */
nn_node *nn_ex_input(nn_graph *g, const char *name, int ndim, const int64_t *dims);
nn_node *nn_ex_param(nn_graph *g, const char *name, int ndim, const int64_t *dims);

#endif
