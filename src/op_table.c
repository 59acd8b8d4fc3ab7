/*
 * op_table.c - every op, indexed by enum nn_op: name, arity, shape
 * inference, scratch size, forward, backward, gradient-check example and
 * tolerance, and for the ops with backend state (convolution, average
 * pooling) the compile-time prepare and its release. Adding an op = one enum value + one row here + its tests.
 */
#include "ops/ops.h"

_Static_assert(NN_OP_COUNT == 37, "an op was added: give it a row in nn_op_table");

#define TOL 3e-3

const struct nn_op_def nn_op_table[NN_OP_COUNT] = {
    [NN_OP_INPUT] = {.name = "input"},
    [NN_OP_LABELS] = {.name = "labels"},
    [NN_OP_PARAM] = {.name = "param"},
    [NN_OP_CONST] = {.name = "const"},
#define ROW(op, nm, ar, inf, aux, fwd, bwd, ex) \
    [op] = {nm, ar, true, inf, aux, fwd, bwd, ex, TOL, .gc_step = 0}
/* Sums of many products: with the default step the check measured errors of
 * 1.5e-3 to 5.6e-3 over 10 seeds (conv2d) and 1.6e-3 to 3.9e-3 (batchnorm),
 * all float32 rounding of the outputs divided by the step (they fall
 * tenfold with a tenfold step); at 1e-2 they are at most 5e-4. */
#define ROW_STEP(op, nm, ar, inf, aux, fwd, bwd, ex) \
    [op] = {nm, ar, true, inf, aux, fwd, bwd, ex, TOL, .gc_step = 1e-2}
    ROW(NN_OP_MATMUL, "matmul", 2, nn_matmul_infer, NULL, nn_matmul_forward,
        nn_matmul_backward, nn_matmul_example),
    ROW(NN_OP_ADD, "add", 2, nn_binary_infer, NULL, nn_add_forward, nn_add_backward,
        nn_add_example),
    ROW(NN_OP_SUB, "sub", 2, nn_binary_infer, NULL, nn_sub_forward, nn_sub_backward,
        nn_sub_example),
    ROW(NN_OP_MUL, "mul", 2, nn_binary_infer, NULL, nn_mul_forward, nn_mul_backward,
        nn_mul_example),
    ROW(NN_OP_SCALE, "scale", 1, nn_infer_same, NULL, nn_scale_forward, nn_scale_backward,
        nn_scale_example),
    ROW(NN_OP_SUM, "sum", 1, nn_reduce_all_infer, NULL, nn_sum_forward, nn_sum_backward,
        nn_sum_example),
    ROW(NN_OP_MEAN, "mean", 1, nn_reduce_all_infer, NULL, nn_sum_forward, nn_sum_backward,
        nn_mean_example),
    ROW(NN_OP_SUM_AXIS, "sum_axis", 1, nn_reduce_axis_infer, NULL, nn_sum_axis_forward,
        nn_sum_axis_backward, nn_sum_axis_example),
    ROW(NN_OP_MEAN_AXIS, "mean_axis", 1, nn_reduce_axis_infer, NULL, nn_sum_axis_forward,
        nn_sum_axis_backward, nn_mean_axis_example),
    ROW(NN_OP_RELU, "relu", 1, nn_infer_same, NULL, nn_unary_forward, nn_unary_backward,
        nn_relu_example),
    ROW(NN_OP_LEAKY_RELU, "leaky_relu", 1, nn_infer_same, NULL, nn_unary_forward,
        nn_unary_backward, nn_leaky_relu_example),
    ROW(NN_OP_SIGMOID, "sigmoid", 1, nn_infer_same, NULL, nn_unary_forward,
        nn_unary_backward, nn_sigmoid_example),
    ROW(NN_OP_TANH, "tanh", 1, nn_infer_same, NULL, nn_unary_forward, nn_unary_backward,
        nn_tanh_example),
    ROW(NN_OP_HARDTANH, "hardtanh", 1, nn_infer_same, NULL, nn_unary_forward,
        nn_unary_backward, nn_hardtanh_example),
    ROW(NN_OP_SIGN, "sign", 1, nn_infer_same, NULL, nn_unary_forward, nn_unary_backward,
        nn_sign_example),
    ROW(NN_OP_IDENTITY, "identity", 1, nn_infer_same, NULL, nn_unary_forward,
        nn_unary_backward, nn_identity_example),
    ROW(NN_OP_EXP, "exp", 1, nn_infer_same, NULL, nn_unary_forward, nn_unary_backward,
        nn_exp_example),
    ROW(NN_OP_LOG, "log", 1, nn_infer_same, NULL, nn_unary_forward, nn_unary_backward,
        nn_log_example),
    ROW(NN_OP_SQUARE, "square", 1, nn_infer_same, NULL, nn_unary_forward,
        nn_unary_backward, nn_square_example),
    ROW(NN_OP_ABS, "abs", 1, nn_infer_same, NULL, nn_unary_forward, nn_unary_backward,
        nn_abs_example),
    ROW(NN_OP_SOFTMAX, "softmax", 1, nn_infer_same, NULL, nn_softmax_forward,
        nn_softmax_backward, nn_softmax_example),
    ROW(NN_OP_LOG_SOFTMAX, "log_softmax", 1, nn_infer_same, NULL,
        nn_log_softmax_forward, nn_log_softmax_backward, nn_log_softmax_example),
    ROW(NN_OP_DROPOUT, "dropout", 1, nn_infer_same, nn_dropout_aux, nn_dropout_forward,
        nn_dropout_backward, nn_dropout_example),
    ROW(NN_OP_SOFTMAX_CE, "softmax_cross_entropy", 2, nn_softmax_ce_infer,
        nn_softmax_ce_aux, nn_softmax_ce_forward, nn_softmax_ce_backward,
        nn_softmax_ce_example),
    ROW(NN_OP_SIGMOID_BCE, "sigmoid_bce", 2, nn_pair_loss_infer, NULL,
        nn_sigmoid_bce_forward, nn_sigmoid_bce_backward, nn_sigmoid_bce_example),
    ROW(NN_OP_BCE, "bce", 2, nn_pair_loss_infer, NULL, nn_bce_forward, nn_bce_backward,
        nn_bce_example),
    ROW(NN_OP_MSE, "mse", 2, nn_pair_loss_infer, NULL, nn_mse_forward, nn_mse_backward,
        nn_mse_example),
    /* conv2d's arity is 3 with a bias, 2 without */
    [NN_OP_CONV2D] = {"conv2d", 3, true, nn_conv2d_infer, nn_conv2d_aux, nn_conv2d_forward,
                      nn_conv2d_backward, nn_conv2d_example, TOL, .gc_step = 1e-2,
                      .prepare = nn_conv2d_prepare, .release = nn_conv2d_release},
    ROW(NN_OP_MAXPOOL2D, "maxpool2d", 1, nn_pool2d_infer, nn_maxpool2d_aux,
        nn_maxpool2d_forward, nn_maxpool2d_backward, nn_maxpool2d_example),
    [NN_OP_AVGPOOL2D] = {"avgpool2d", 1, true, nn_pool2d_infer, nn_avgpool2d_aux,
                         nn_avgpool2d_forward, nn_avgpool2d_backward, nn_avgpool2d_example, TOL,
                         .prepare = nn_avgpool2d_prepare, .release = nn_avgpool2d_release},
    ROW(NN_OP_GLOBAL_AVGPOOL, "global_avgpool", 1, nn_global_avgpool_infer, NULL,
        nn_global_avgpool_forward, nn_global_avgpool_backward, nn_global_avgpool_example),
    ROW_STEP(NN_OP_BATCHNORM, "batchnorm", 6, nn_batchnorm_infer, nn_batchnorm_aux,
        nn_batchnorm_forward, nn_batchnorm_backward, nn_batchnorm_example),
#undef ROW
#undef ROW_STEP
    /* a view: no forward work, no buffer of its own (graph.c) */
    [NN_OP_RESHAPE] = {"reshape", 1, true, nn_reshape_infer, NULL, NULL, nn_reshape_backward,
                       nn_reshape_example, TOL, .view = true},
};

int nn_op_count(void) { return NN_OP_COUNT; }

const char *nn_op_name_at(int i)
{
    return i >= 0 && i < NN_OP_COUNT ? nn_op_table[i].name : NULL;
}

bool nn_op_is_differentiable_at(int i)
{
    return i >= 0 && i < NN_OP_COUNT && nn_op_table[i].differentiable;
}
