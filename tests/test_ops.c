/*
 * test_ops.c - the op table is complete, and every op passes a central
 * finite-difference gradient check on its example graph.
 */
#include "test.h"

static void table_is_complete(void **state)
{
    (void)state;
    int n = nn_op_count();
    assert_true(n >= 37);
    int ops = 0;
    for (int i = 0; i < n; i++) {
        const char *name = nn_op_name_at(i);
        if (!name || !*name)
            fail_msg("op table row %d has no name", i);
        for (int j = 0; j < i; j++)
            if (strcmp(nn_op_name_at(j), name) == 0)
                fail_msg("op name '%s' appears twice", name);
        nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
        struct nn_gradcheck_result r;
        nn_status st = nn_gradcheck_op(ctx, i, &r, NULL);
        /* Leaves (the first four rows) have no example; every op must. */
        if (i >= 4) {
            if (st != NN_OK)
                fail_msg("op '%s' has no working example: %s", name, nn_ctx_error(ctx));
            ops++;
        } else if (st == NN_OK) {
            fail_msg("leaf '%s' unexpectedly has an example", name);
        }
        nn_ctx_free(ctx);
    }
    assert_int_equal(ops, n - 4);
}

static const char *const required[] = {
    "matmul", "add", "sub", "mul", "scale", "sum", "mean", "sum_axis", "mean_axis",
    "relu", "leaky_relu", "sigmoid", "tanh", "hardtanh", "sign", "identity", "exp",
    "log", "square", "abs", "softmax", "log_softmax", "dropout",
    "softmax_cross_entropy", "sigmoid_bce", "bce", "mse", "conv2d", "maxpool2d",
    "avgpool2d", "global_avgpool", "batchnorm", "reshape"};

static void required_ops_present(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof required / sizeof required[0]; k++) {
        bool found = false;
        for (int i = 0; i < nn_op_count(); i++)
            found |= strcmp(nn_op_name_at(i), required[k]) == 0;
        if (!found)
            fail_msg("required op '%s' is missing from the table", required[k]);
    }
}

static void every_op_gradcheck(void **state)
{
    (void)state;
    int failures = 0;
    for (int i = 4; i < nn_op_count(); i++) {
        for (uint64_t seed = 1; seed <= 3; seed++) {
            nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = seed, .threads = 1});
            struct nn_gradcheck_result r;
            double tol;
            assert_ok(ctx, nn_gradcheck_op(ctx, i, &r, &tol));
            if (!(r.max_rel_err <= tol) || r.checked == 0) {
                print_error("op %s seed %llu: max rel err %.3g (tol %.3g), %lld entries\n",
                            nn_op_name_at(i), (unsigned long long)seed, r.max_rel_err, tol,
                            (long long)r.checked);
                failures++;
            }
            nn_ctx_free(ctx);
        }
    }
    assert_int_equal(failures, 0);
}

/* The check itself must be able to fail: at a kink the backward pass gives
 * the one-sided derivative while the central difference averages both
 * sides, so a step across |x| at x = 1e-4 must be reported as a mismatch. */
static void gradcheck_detects_wrong_gradient(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 7, .threads = 1});
    nn_graph *g = nn_graph_new(ctx);
    nn_node *w = nn_param(g, "w", 1, (int64_t[]){3},
                          (struct nn_init){.kind = NN_INIT_CONSTANT, .a = 1e-4f});
    nn_node *y = nn_abs(g, w);
    assert_ok(ctx, nn_graph_compile(g, &y, 1, 1));
    struct nn_gradcheck_result r;
    assert_ok(ctx, nn_gradcheck(g, y, 1e-3, &r));
    assert_int_equal(r.checked, 3);
    assert_true(r.max_rel_err > 0.5);
    /* Away from the kink the same graph passes. */
    for (int i = 0; i < 3; i++)
        nn_value_mut(w)[i] = 0.5f + (float)i;
    assert_ok(ctx, nn_gradcheck(g, y, 1e-3, &r));
    assert_true(r.max_rel_err < 1e-3);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

NN_GROUP(ops,
         cmocka_unit_test(table_is_complete),
         cmocka_unit_test(required_ops_present),
         cmocka_unit_test(every_op_gradcheck),
         cmocka_unit_test(gradcheck_detects_wrong_gradient))
