/*
 * test_train.c - layers, the model builder, initializers and the training
 * loop: XOR, symmetry, early stopping, L2, dropout, determinism, partial
 * batches, non-finite losses.
 */
#include "test.h"

static nn_ctx *new_ctx(uint64_t seed)
{
    return nn_ctx_new(&(struct nn_ctx_cfg){.seed = seed, .threads = 1});
}

static const float XOR_X[8] = {0, 0, 0, 1, 1, 0, 1, 1};
static const float XOR_T[4] = {0, 1, 1, 0};

/* Trains spec on XOR (Adam, lr 0.1, 2000 full-batch epochs); returns how
 * many of the 4 points are classified right, and the final loss over the
 * 4 points in *loss if not NULL. */
static int xor_run(const char *spec, uint64_t seed, double *loss)
{
    nn_ctx *ctx = new_ctx(seed);
    nn_model *m = nn_model_new(ctx, spec, &(struct nn_model_cfg){.max_batch = 4});
    if (!m)
        fail_msg("model '%s': %s", spec, nn_ctx_error(ctx));
    struct nn_array_source a = {.x = XOR_X, .targets = XOR_T, .n = 4, .features = 2,
                                .ntargets = 1};
    struct nn_source src = nn_source_from_arrays(&a);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = 2000, .batch = 4,
        .optim = {.kind = NN_OPTIM_ADAM, .lr = 0.1f}});
    assert_non_null(t);
    assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
    float p[4];
    assert_ok(ctx, nn_model_predict(m, XOR_X, 4, p));
    int ok = 0;
    for (int i = 0; i < 4; i++)
        ok += (p[i] > 0.5f) == (XOR_T[i] > 0.5f);
    if (loss) {
        struct nn_metrics r;
        assert_ok(ctx, nn_evaluate(m, &src, &r));
        *loss = r.loss;
    }
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return ok;
}

static void xor_hidden_layer_learns(void **state)
{
    (void)state;
    int solved = 0, first10 = 0;
    for (uint64_t seed = 1; seed <= 100; seed++) {
        bool ok = xor_run("2 dense:4 tanh dense:1 sigmoid", seed, NULL) == 4;
        solved += ok;
        first10 += ok && seed <= 10;
    }
    print_message("XOR 2-4-1: %d of seeds 1-10 and %d of 100 classify all four points\n",
                  first10, solved);
    assert_true(first10 >= 9);
    assert_true(solved >= 90);
}

/* No linear model fits XOR: the binary cross-entropy of any w.x + b on
 * the four points is at least ln 2 (reached at w = 0, b = 0). So logistic
 * regression's loss must end in [ln 2 - 0.01, ln 2 + 0.01]: below means the
 * loss or the model is wrong, above that the trainer failed to reach the
 * optimum of a convex problem. The same trainer must take the 2-4-1
 * network's loss below 0.05 on the same data, seed by seed. */
static void xor_logistic_regression_cannot(void **state)
{
    (void)state;
    int net_fit = 0;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        double lr_loss, net_loss;
        xor_run("2 dense:1 sigmoid", seed, &lr_loss);
        xor_run("2 dense:4 tanh dense:1 sigmoid", seed, &net_loss);
        print_message("seed %llu: logistic regression loss %.6f, 2-4-1 loss %.6f\n",
                      (unsigned long long)seed, lr_loss, net_loss);
        if (!(fabs(lr_loss - log(2.0)) <= 0.01))
            fail_msg("seed %llu: logistic regression's loss %.6f is not within 0.01 of "
                     "ln 2 = %.6f", (unsigned long long)seed, lr_loss, log(2.0));
        net_fit += net_loss < 0.05;
    }
    assert_true(net_fit >= 9);
}

/* Two hidden units' incoming weight rows. */
static double max_row_diff(const nn_node *w, int64_t rows, int64_t cols)
{
    double d = 0;
    for (int64_t r = 1; r < rows; r++)
        for (int64_t j = 0; j < cols; j++)
            d = fmax(d, fabs((double)nn_value(w)[r * cols + j] - nn_value(w)[j]));
    return d;
}

static double train_symmetry(bool constant_init)
{
    nn_ctx *ctx = new_ctx(5);
    nn_model *m = nn_model_new(ctx, "2 dense:4 tanh dense:1 sigmoid",
                               &(struct nn_model_cfg){.max_batch = 4});
    assert_non_null(m);
    nn_graph *g = nn_model_graph(m);
    if (constant_init)
        for (int i = 0; i < nn_graph_nparams(g); i++) {
            nn_node *p = nn_graph_param(g, i);
            for (int64_t j = 0; j < nn_node_numel(p); j++)
                nn_value_mut(p)[j] = 0.3f;
        }
    struct nn_array_source a = {.x = XOR_X, .targets = XOR_T, .n = 4, .features = 2,
                                .ntargets = 1};
    struct nn_source src = nn_source_from_arrays(&a);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = 300, .batch = 4, .optim = {.kind = NN_OPTIM_SGD, .lr = 0.5f}});
    assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
    nn_node *w1 = nn_graph_find(g, "dense1.weight");
    assert_non_null(w1);
    double d = max_row_diff(w1, 4, 2);
    /* the weights did move */
    if (constant_init)
        assert_true(fabs(nn_value(w1)[0] - 0.3f) > 1e-3);
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return d;
}

static void symmetry_constant_init_stays(void **state)
{
    (void)state;
    double d = train_symmetry(true);
    print_message("constant init: hidden rows differ by at most %g\n", d);
    assert_true(d <= 1e-6);
    d = train_symmetry(false);
    print_message("random init: hidden rows differ by up to %g\n", d);
    assert_true(d > 1e-2);
}

/* Noisy targets, few samples, a wide net: validation loss turns up. */
static void early_stopping_restores_best(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(11);
    enum { NT = 24, NV = 200, F = 4 };
    float *x = malloc((NT + NV) * F * sizeof *x), *y = malloc((NT + NV) * sizeof *y);
    for (int i = 0; i < NT + NV; i++) {
        float s = 0;
        for (int j = 0; j < F; j++) {
            x[i * F + j] = nn_rand_normal(ctx);
            s += x[i * F + j];
        }
        y[i] = 0.5f * s + 0.8f * nn_rand_normal(ctx);
    }
    nn_model *m = nn_model_new(ctx, "4 dense:128 relu dense:128 relu dense:1",
                               &(struct nn_model_cfg){.max_batch = 256});
    assert_non_null(m);
    struct nn_array_source at = {.x = x, .targets = y, .n = NT, .features = F, .ntargets = 1};
    struct nn_array_source av = {.x = x + NT * F, .targets = y + NT, .n = NV, .features = F,
                                 .ntargets = 1};
    struct nn_source tr = nn_source_from_arrays(&at), va = nn_source_from_arrays(&av);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = 500, .batch = 8, .patience = 10,
        .optim = {.kind = NN_OPTIM_ADAM, .lr = 0.01f}});
    assert_ok(ctx, nn_trainer_fit(t, &tr, &va));
    int n;
    const struct nn_epoch_stats *h = nn_trainer_history(t, &n);
    print_message("early stopping: stopped after %d epochs, best epoch %d\n", n,
                  nn_trainer_best_epoch(t));
    assert_true(nn_trainer_stopped_early(t));
    assert_true(n < 500);
    double best = INFINITY;
    int best_epoch = 0;
    for (int i = 0; i < n; i++)
        if (h[i].val.loss < best) {
            best = h[i].val.loss;
            best_epoch = h[i].epoch;
        }
    assert_int_equal(nn_trainer_best_epoch(t), best_epoch);
    assert_int_equal(n, best_epoch + 10);
    struct nn_metrics mv;
    assert_ok(ctx, nn_evaluate(m, &va, &mv));
    assert_close(mv.loss, best, 1e-6, 1e-7);
    /* and the last epoch was worse than the restored one */
    assert_true(h[n - 1].val.loss > best);
    nn_trainer_free(t);
    nn_model_free(m);

    /* keep_last: the same run ends with the last epoch's weights instead */
    m = nn_model_new(ctx, "4 dense:128 relu dense:128 relu dense:1",
                     &(struct nn_model_cfg){.max_batch = 256});
    t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = 500, .batch = 8, .patience = 10, .keep_last = true,
        .optim = {.kind = NN_OPTIM_ADAM, .lr = 0.01f}});
    assert_ok(ctx, nn_trainer_fit(t, &tr, &va));
    h = nn_trainer_history(t, &n);
    assert_true(nn_trainer_stopped_early(t));
    assert_ok(ctx, nn_evaluate(m, &va, &mv));
    assert_close(mv.loss, h[n - 1].val.loss, 1e-6, 1e-7);
    assert_true(mv.loss > h[nn_trainer_best_epoch(t) - 1].val.loss);
    nn_trainer_free(t);
    nn_model_free(m);
    free(x);
    free(y);
    nn_ctx_free(ctx);
}

static double weight_norm2(nn_graph *g)
{
    double s = 0;
    for (int i = 0; i < nn_graph_nparams(g); i++) {
        nn_node *p = nn_graph_param(g, i);
        if (nn_node_ndim(p) < 2)
            continue;
        for (int64_t j = 0; j < nn_node_numel(p); j++)
            s += (double)nn_value(p)[j] * nn_value(p)[j];
    }
    return s;
}

static double l2_run(float l2, double *reported, double *independent)
{
    nn_ctx *ctx = new_ctx(21);
    enum { N = 64, F = 3 };
    float x[N * F];
    int32_t y[N];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < F; j++)
            x[i * F + j] = nn_rand_normal(ctx);
        y[i] = x[i * F] + 0.5f * x[i * F + 1] > 0;
    }
    nn_model *m = nn_model_new(ctx, "3 dense:16 tanh dense:2 softmax",
                               &(struct nn_model_cfg){.max_batch = 64});
    struct nn_array_source a = {.x = x, .labels = y, .n = N, .features = F};
    struct nn_source src = nn_source_from_arrays(&a);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = 200, .batch = 16, .l2 = l2, .optim = {.kind = NN_OPTIM_SGD, .lr = 0.1f}});
    assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
    int n;
    const struct nn_epoch_stats *h = nn_trainer_history(t, &n);
    double w2 = weight_norm2(nn_model_graph(m));
    *reported = h[n - 1].train.penalty;
    *independent = 0.5 * l2 * w2;
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return w2;
}

static void l2_shrinks_weights(void **state)
{
    (void)state;
    double rep0, ind0, rep1, ind1;
    double w0 = l2_run(0.0f, &rep0, &ind0);
    double w1 = l2_run(0.05f, &rep1, &ind1);
    print_message("L2: |W|^2 = %g without, %g with lambda 0.05; penalty %g\n", w0, w1, rep1);
    assert_true(w1 < w0);
    assert_true(rep0 == 0.0);
    assert_true(ind1 > 0);
    assert_close(rep1, ind1, 1e-9, 0);
}

static void dropout_eval_mode(void **state)
{
    (void)state;
    nn_ctx *c1 = new_ctx(3), *c2 = new_ctx(3);
    nn_model *a = nn_model_new(c1, "6 dense:32 relu dropout:0.5 dense:3 softmax", NULL);
    nn_model *b = nn_model_new(c2, "6 dense:32 relu dense:3 softmax", NULL);
    assert_non_null(a);
    assert_non_null(b);
    float x[5 * 6], pa[15], pa2[15], pb[15];
    for (int i = 0; i < 30; i++)
        x[i] = (float)sin(i);
    assert_ok(c1, nn_model_predict(a, x, 5, pa));
    assert_ok(c1, nn_model_predict(a, x, 5, pa2));
    assert_ok(c2, nn_model_predict(b, x, 5, pb));
    for (int i = 0; i < 15; i++) {
        assert_true(pa[i] == pa2[i]);
        assert_true(pa[i] == pb[i]);
    }
    /* training mode: the dropout node's mean activation is preserved */
    nn_graph *g = nn_model_graph(a);
    nn_graph_set_training(g, true);
    /* a model names its layers' nodes after them */
    nn_node *drop = nn_graph_find(g, "dropout1");
    assert_non_null(drop);
    assert_string_equal(nn_node_op(drop), "dropout");
    double sum_in = 0, sum_out = 0;
    int zeros = 0, total = 0;
    const nn_node *pre = nn_graph_find(g, "relu1");
    assert_non_null(pre);
    assert_string_equal(nn_node_op(pre), "relu");
    for (int rep = 0; rep < 400; rep++) {
        assert_ok(c1, nn_feed(g, nn_model_input(a), x, 5));
        assert_ok(c1, nn_forward_to(g, nn_model_output(a)));
        for (int64_t j = 0; j < nn_node_numel(drop); j++) {
            sum_in += nn_value(pre)[j];
            sum_out += nn_value(drop)[j];
            zeros += nn_value(drop)[j] == 0 && nn_value(pre)[j] != 0;
            total += nn_value(pre)[j] != 0;
        }
    }
    print_message("dropout 0.5: mean in %g, mean out %g, zeroed %.3f\n", sum_in / 64000,
                  sum_out / 64000, (double)zeros / total);
    assert_close(sum_out, sum_in, 0.03, 0);
    assert_close((double)zeros / total, 0.5, 0.05, 0);
    nn_model_free(a);
    nn_model_free(b);
    nn_ctx_free(c1);
    nn_ctx_free(c2);
}

static void run_trajectory(uint64_t seed, double *losses, int epochs)
{
    nn_ctx *ctx = new_ctx(seed);
    enum { N = 100, F = 5 };
    float x[N * F];
    int32_t y[N];
    for (int i = 0; i < N * F; i++)
        x[i] = (float)sin(0.37 * i * i);
    for (int i = 0; i < N; i++)
        y[i] = (x[i * F] > 0) + (x[i * F + 1] > 0.5f);
    nn_model *m = nn_model_new(ctx, "5 dense:16 relu dropout:0.2 dense:3 softmax",
                               &(struct nn_model_cfg){.max_batch = 32});
    struct nn_array_source a = {.x = x, .labels = y, .n = N, .features = F};
    struct nn_source src = nn_source_from_arrays(&a);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = epochs, .batch = 32, .optim = {.kind = NN_OPTIM_ADAM, .lr = 0.01f}});
    assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
    int n;
    const struct nn_epoch_stats *h = nn_trainer_history(t, &n);
    assert_int_equal(n, epochs);
    for (int i = 0; i < n; i++) {
        losses[i] = h[i].train.loss;
        assert_int_equal(h[i].train.n, N); /* the partial last batch is trained on */
    }
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

static void same_seed_same_trajectory(void **state)
{
    (void)state;
    double a[8], b[8], c[8];
    run_trajectory(42, a, 8);
    run_trajectory(42, b, 8);
    run_trajectory(43, c, 8);
    bool differs = false;
    for (int i = 0; i < 8; i++) {
        assert_memory_equal(&a[i], &b[i], sizeof a[i]);
        differs |= a[i] != c[i];
    }
    assert_true(differs);
    assert_true(a[7] < a[0]);
}

/* Products and optimizer steps split across threads compute every element
 * the same way: losses and weights are bit-identical for 1, 2, 3 and 4
 * threads (more threads than this machine's cores included). A difference
 * is reported as numbers: the two losses, or the first differing weight
 * with its index. */
static void threads_do_not_change_results(void **state)
{
    (void)state;
    enum { N = 256, F = 784, RUNS = 4 };
    float *x = malloc((size_t)N * F * sizeof *x);
    int32_t y[N];
    for (int i = 0; i < N * F; i++)
        x[i] = (float)sin(0.01 * i);
    for (int i = 0; i < N; i++)
        y[i] = i % 10;
    float *w[RUNS];
    double loss[RUNS];
    int64_t np = 0;
    for (int k = 0; k < RUNS; k++) {
        nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 4, .threads = k + 1});
        nn_model *m = nn_model_new(ctx, "784 dense:256 relu dense:128 relu dense:10 softmax",
                                   &(struct nn_model_cfg){.max_batch = 64});
        struct nn_array_source a = {.x = x, .labels = y, .n = N, .features = F};
        struct nn_source src = nn_source_from_arrays(&a);
        nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
            .epochs = 2, .batch = 64, .optim = {.kind = NN_OPTIM_ADAM}});
        assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
        int n;
        loss[k] = nn_trainer_history(t, &n)[1].train.loss;
        nn_graph *g = nn_model_graph(m);
        np = nn_graph_param_count(g);
        w[k] = malloc((size_t)np * sizeof(float));
        memcpy(w[k], nn_graph_param_block(g), (size_t)np * sizeof(float));
        assert_int_equal(nn_ctx_threads(ctx), k + 1);
        nn_trainer_free(t);
        nn_model_free(m);
        nn_ctx_free(ctx);
    }
    assert_int_equal(np, 235146);
    int bad = 0;
    for (int k = 1; k < RUNS; k++) {
        if (memcmp(&loss[0], &loss[k], sizeof loss[0]) != 0) {
            print_error("loss after 2 epochs: %.17g on 1 thread, %.17g on %d\n", loss[0],
                        loss[k], k + 1);
            bad++;
        }
        for (int64_t i = 0; i < np; i++)
            if (memcmp(&w[0][i], &w[k][i], sizeof(float)) != 0) {
                print_error("weight %lld: %.9g on 1 thread, %.9g on %d\n", (long long)i,
                            (double)w[0][i], (double)w[k][i], k + 1);
                bad++;
                break;
            }
    }
    for (int k = 0; k < RUNS; k++)
        free(w[k]);
    free(x);
    assert_int_equal(bad, 0);
}

/* Folding bias adds into their relus changes no result: the same net,
 * compiled with and without fusion, gives bit-identical losses and
 * gradients, and the folded add reports no value of its own. */
static void fusion_changes_nothing(void **state)
{
    (void)state;
    float x[6 * 5];
    int32_t y[6] = {0, 1, 2, 0, 1, 2};
    for (int i = 0; i < 30; i++)
        x[i] = (float)sin(1.7 * i);
    float loss[2], grads[2][200];
    int64_t np = 0;
    for (int fuse = 0; fuse < 2; fuse++) {
        nn_ctx *ctx = new_ctx(12);
        nn_graph *g = nn_graph_new(ctx);
        nn_node *in = nn_input(g, "x", 1, (int64_t[]){5});
        nn_node *lab = nn_labels(g, "y");
        nn_node *h = nn_dense(g, in, 8, (struct nn_init){.kind = NN_INIT_HE_NORMAL}, "l1");
        nn_node *bias_add = h;
        h = nn_relu(g, h);
        h = nn_relu(g, nn_dense(g, h, 6, (struct nn_init){.kind = NN_INIT_HE_NORMAL}, "l2"));
        nn_node *z = nn_dense(g, h, 3, (struct nn_init){.kind = NN_INIT_XAVIER_UNIFORM}, "l3");
        nn_node *L = nn_softmax_cross_entropy(g, z, lab);
        /* biases away from zero so they matter */
        nn_graph_set_fuse(g, fuse);
        assert_ok(ctx, nn_graph_compile(g, &L, 1, 8));
        for (int i = 0; i < nn_graph_nparams(g); i++) {
            nn_node *p = nn_graph_param(g, i);
            if (nn_node_ndim(p) == 1)
                for (int64_t j = 0; j < nn_node_numel(p); j++)
                    nn_value_mut(p)[j] = 0.1f * (float)(j % 3) - 0.1f;
        }
        assert_ok(ctx, nn_feed(g, in, x, 6));
        assert_ok(ctx, nn_feed_labels(g, lab, y, 6));
        assert_ok(ctx, nn_forward(g));
        nn_zero_grad(g);
        assert_ok(ctx, nn_backward(g, L));
        loss[fuse] = nn_value(L)[0];
        np = nn_graph_param_count(g);
        assert_true(np <= 200);
        memcpy(grads[fuse], nn_graph_grad_block(g), (size_t)np * sizeof(float));
        if (fuse)
            assert_null(nn_value(bias_add));
        else
            assert_non_null(nn_value(bias_add));
        nn_graph_free(g);
        nn_ctx_free(ctx);
    }
    assert_memory_equal(&loss[0], &loss[1], sizeof(float));
    assert_memory_equal(grads[0], grads[1], (size_t)np * sizeof(float));
    double s = 0;
    for (int64_t i = 0; i < np; i++)
        s += fabs(grads[0][i]);
    assert_true(s > 0);
}

/* An add with a second consumer is not folded: its value is still needed. */
static void fusion_needs_a_single_consumer(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(13);
    nn_graph *g = nn_graph_new(ctx);
    nn_node *in = nn_input(g, "x", 1, (int64_t[]){4});
    nn_node *a = nn_dense(g, in, 4, (struct nn_init){.kind = NN_INIT_HE_NORMAL}, "l1");
    nn_node *r = nn_relu(g, a);
    nn_node *out = nn_sum(g, nn_mul(g, r, a)); /* a used twice */
    nn_graph_set_fuse(g, true);
    assert_ok(ctx, nn_graph_compile(g, &out, 1, 2));
    float x[8] = {1, -2, 3, -4, 0.5f, 0.25f, -1, 2};
    assert_ok(ctx, nn_feed(g, in, x, 2));
    assert_ok(ctx, nn_forward(g));
    assert_non_null(nn_value(a));
    double s = 0;
    for (int i = 0; i < 8; i++) {
        float v = nn_value(a)[i];
        s += (v > 0 ? v : 0) * v;
    }
    assert_close(nn_value(out)[0], s, 1e-6, 1e-6);
    nn_graph_free(g);
    nn_ctx_free(ctx);
}

/* Counts the batches of an epoch and checks each one's size. */
struct batch_count {
    int64_t batches, last_done, want_batch;
    int64_t sizes[8];
};

static bool count_batch(const struct nn_train_progress *p, void *user)
{
    struct batch_count *c = user;
    if (c->batches < 8)
        c->sizes[c->batches] = p->samples_done - c->last_done;
    c->batches++;
    c->last_done = p->samples_done;
    assert_int_equal(p->batch, c->batches);
    return true;
}

/* 10 samples in batches of 4: two full batches with drop_last, and a third
 * of 2 without. */
static void drop_last_batch(void **state)
{
    (void)state;
    for (int drop = 1; drop >= 0; drop--) {
        nn_ctx *ctx = new_ctx(1);
        float x[10 * 2] = {0};
        int32_t y[10] = {0, 1, 0, 1, 0, 1, 0, 1, 0, 1};
        nn_model *m = nn_model_new(ctx, "2 dense:2 softmax",
                                   &(struct nn_model_cfg){.max_batch = 4});
        struct nn_array_source a = {.x = x, .labels = y, .n = 10, .features = 2};
        struct nn_source src = nn_source_from_arrays(&a);
        struct batch_count bc = {0};
        nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
            .epochs = 1, .batch = 4, .drop_last = drop, .optim = {.kind = NN_OPTIM_SGD},
            .on_batch = count_batch, .user = &bc});
        assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
        int n;
        const struct nn_epoch_stats *h = nn_trainer_history(t, &n);
        assert_int_equal(bc.batches, drop ? 2 : 3);
        assert_int_equal(bc.sizes[0], 4);
        assert_int_equal(bc.sizes[1], 4);
        if (!drop)
            assert_int_equal(bc.sizes[2], 2);
        assert_int_equal(h[0].train.n, drop ? 8 : 10);
        nn_trainer_free(t);
        nn_model_free(m);
        nn_ctx_free(ctx);
    }
}

static void nan_loss_stops_with_message(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    float x[8 * 2], y[8];
    for (int i = 0; i < 16; i++)
        x[i] = (float)(i % 5) * 100.0f;
    for (int i = 0; i < 8; i++)
        y[i] = 1e4f * (float)i;
    nn_model *m = nn_model_new(ctx, "2 dense:8 relu dense:1", &(struct nn_model_cfg){.max_batch = 8});
    struct nn_array_source a = {.x = x, .targets = y, .n = 8, .features = 2, .ntargets = 1};
    struct nn_source src = nn_source_from_arrays(&a);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = 50, .batch = 8, .optim = {.kind = NN_OPTIM_SGD, .lr = 10.0f}});
    nn_status st = nn_trainer_fit(t, &src, NULL);
    assert_int_equal(st, NN_ERR_NUMERIC);
    const char *msg = nn_ctx_error(ctx);
    print_message("the message a user sees: %s\n", msg);
    assert_non_null(strstr(msg, "epoch"));
    assert_true(strstr(msg, "node '") || strstr(msg, "gradient of '"));
    nn_graph *g = nn_model_graph(m);
    for (int64_t j = 0; j < nn_graph_param_count(g); j++)
        assert_true(isfinite(nn_graph_param_block(g)[j]));
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

static void spec_and_param_count(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(1);
    for (int n = 1; n <= 7; n += 3) {
        char spec[96];
        snprintf(spec, sizeof spec, "%d dense:3 sigmoid dense:2 sigmoid dense:1 sigmoid", n);
        nn_model *m = nn_model_new(ctx, spec, NULL);
        assert_non_null(m);
        assert_int_equal(nn_graph_param_count(nn_model_graph(m)), 3 * n + 14);
        assert_int_equal(nn_model_loss_kind(m), NN_LOSS_SIGMOID_BCE);
        nn_model_free(m);
    }
    static const struct nn_test_bad_spec bad[] = {
        {"784 dense:abc", "dense:UNITS"},
        {"784 conv9", "unknown layer"},
        {"x dense:10", "input shape"},
        {"784 dense:10 softmax relu", "softmax must be the last"},
        {"784", "at least one layer"},
        {"784 relu", "no dense layer"},
        {"784 dense:10 dropout:1.5 dense:2", "dropout"},
        {"784 dense:1 softmax", "at least 2"},
        {"4 dense:3 tanh:5 dense:2", "tanh takes no fields"},
        {"4 dense:3 hardtanh:-2 dense:2", "every field or none"},
        {"4 dense:3 dropout:p=0.1:p=0.2 dense:2", "given twice"},
        {"4 dense:3 dropout:q=0.1 dense:2", "no field 'q'"},
        {"4 dense:3 dropout: dense:2", "empty field"},
        {"4 dense:3:he_normal:2:1 dense:2", "token 2"},
    };
    nn_test_bad_specs(bad, sizeof bad / sizeof bad[0]);
    nn_ctx_free(ctx);
}

/* A field may be given by position or by name: the same model. */
static void spec_fields_by_name(void **state)
{
    (void)state;
    static const char *const pairs[][2] = {
        {"4 dense:6 leaky_relu:0.2 dropout:0.3 hardtanh:-2:3 dense:2",
         "4 dense:units=6 leaky_relu:slope=0.2 dropout:p=0.3 hardtanh:hi=3:lo=-2 dense:2"},
        {"4 dense:6:he_uniform relu dense:2", "4 dense:init=he_uniform:units=6 relu dense:2"},
    };
    nn_ctx *ctx = new_ctx(1);
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        nn_ctx_seed(ctx, 5);
        nn_model *a = nn_model_new(ctx, pairs[i][0], NULL);
        nn_ctx_seed(ctx, 5);
        nn_model *b = nn_model_new(ctx, pairs[i][1], NULL);
        if (!a || !b)
            fail_msg("%s", nn_ctx_error(ctx));
        nn_graph *ga = nn_model_graph(a), *gb = nn_model_graph(b);
        assert_int_equal(nn_graph_param_count(ga), nn_graph_param_count(gb));
        assert_memory_equal(nn_graph_param_block(ga), nn_graph_param_block(gb),
                            (size_t)nn_graph_param_count(ga) * sizeof(float));
        assert_int_equal(nn_graph_nparams(ga), nn_graph_nparams(gb));
        for (int k = 0; k < nn_graph_nparams(ga); k++)
            assert_string_equal(nn_node_name(nn_graph_param(ga, k)),
                                nn_node_name(nn_graph_param(gb, k)));
        /* the activations' numbers too: the same predictions */
        float x[3 * 4], pa[3 * 2], pb[3 * 2];
        for (int k = 0; k < 12; k++)
            x[k] = (float)(k % 5) - 2.0f;
        assert_ok(ctx, nn_model_predict(a, x, 3, pa));
        assert_ok(ctx, nn_model_predict(b, x, 3, pb));
        assert_memory_equal(pa, pb, sizeof pa);
        nn_model_free(a);
        nn_model_free(b);
    }
    nn_ctx_free(ctx);
}

/* Sample mean and standard deviation of each initializer on a 256x784 weight. */
static void initializer_statistics(void **state)
{
    (void)state;
    enum { OUT = 256, IN = 784, N = OUT * IN };
    float *w = malloc(N * sizeof *w);
    nn_ctx *ctx = new_ctx(9);
    struct { struct nn_init init; double mean, std; } cases[] = {
        {{NN_INIT_ZEROS, 0, 0, 0}, 0, 0},
        {{NN_INIT_CONSTANT, 0.25f, 0, 0}, 0.25, 0},
        {{NN_INIT_NORMAL, 1.0f, 0.5f, 0}, 1.0, 0.5},
        {{NN_INIT_UNIFORM, -1.0f, 3.0f, 0}, 1.0, 4.0 / sqrt(12.0)},
        {{NN_INIT_XAVIER_UNIFORM, 0, 0, 0}, 0, sqrt(6.0 / (IN + OUT)) / sqrt(3.0)},
        {{NN_INIT_XAVIER_NORMAL, 0, 0, 0}, 0, sqrt(2.0 / (IN + OUT))},
        {{NN_INIT_HE_NORMAL, 0, 0, 0}, 0, sqrt(2.0 / IN)},
        {{NN_INIT_HE_UNIFORM, 0, 0, 0}, 0, sqrt(6.0 / IN) / sqrt(3.0)},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        assert_ok(ctx, nn_init_fill(ctx, cases[c].init, w, N, IN, OUT));
        double s = 0, s2 = 0, lo = INFINITY, hi = -INFINITY;
        for (int i = 0; i < N; i++) {
            s += w[i];
            lo = fmin(lo, w[i]);
            hi = fmax(hi, w[i]);
        }
        double mean = s / N;
        for (int i = 0; i < N; i++)
            s2 += (w[i] - mean) * (w[i] - mean);
        double std = sqrt(s2 / (N - 1));
        double se = cases[c].std / sqrt((double)N);
        if (fabs(mean - cases[c].mean) > 5 * se + 1e-12 ||
            fabs(std - cases[c].std) > 0.01 * cases[c].std + 1e-12)
            fail_msg("%s: mean %g std %g, expected %g and %g",
                     nn_init_name(cases[c].init.kind), mean, std, cases[c].mean, cases[c].std);
        if (cases[c].init.kind == NN_INIT_UNIFORM)
            assert_true(lo >= -1.0 && hi <= 3.0);
        if (cases[c].init.kind == NN_INIT_XAVIER_UNIFORM)
            assert_true(fmax(-lo, hi) <= sqrt(6.0 / (IN + OUT)));
    }
    /* He before relu, Xavier otherwise: the model's default choices */
    nn_model *m = nn_model_new(ctx, "784 dense:256 relu dense:10 softmax", NULL);
    nn_graph *g = nn_model_graph(m);
    const nn_node *w1 = nn_graph_find(g, "dense1.weight"), *w2 = nn_graph_find(g, "dense2.weight");
    const nn_node *b1 = nn_graph_find(g, "dense1.bias");
    double s2 = 0;
    for (int i = 0; i < N; i++)
        s2 += (double)nn_value(w1)[i] * nn_value(w1)[i];
    assert_close(sqrt(s2 / N), sqrt(2.0 / 784), 0.01, 0);
    double mx = 0;
    for (int i = 0; i < 2560; i++)
        mx = fmax(mx, fabs(nn_value(w2)[i]));
    assert_true(mx <= sqrt(6.0 / (256 + 10)));
    assert_true(mx > 0.9 * sqrt(6.0 / (256 + 10)));
    for (int i = 0; i < 256; i++)
        assert_true(nn_value(b1)[i] == 0.0f);
    nn_model_free(m);
    nn_ctx_free(ctx);
    free(w);
}

static void regression_learns_line(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(2);
    enum { N = 64 };
    float x[N], y[N];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i / N * 4 - 2;
        y[i] = 2 * x[i] + 1;
    }
    nn_model *m = nn_model_new(ctx, "1 dense:1", &(struct nn_model_cfg){.max_batch = 16});
    assert_int_equal(nn_model_loss_kind(m), NN_LOSS_MSE);
    struct nn_array_source a = {.x = x, .targets = y, .n = N, .features = 1, .ntargets = 1};
    struct nn_source src = nn_source_from_arrays(&a);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = 100, .batch = 16, .optim = {.kind = NN_OPTIM_SGD, .lr = 0.05f}});
    assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
    struct nn_metrics r;
    assert_ok(ctx, nn_evaluate(m, &src, &r));
    assert_true(r.mae < 1e-3);
    assert_true(isnan(r.accuracy));
    nn_graph *g = nn_model_graph(m);
    assert_close(nn_value(nn_graph_find(g, "dense1.weight"))[0], 2.0, 1e-3, 0);
    assert_close(nn_value(nn_graph_find(g, "dense1.bias"))[0], 1.0, 1e-3, 0);
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* With SGD the step is lr * clipped gradient: its norm is at most lr * clip. */
static void gradient_clipping_bounds_step(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(4);
    float x[8] = {100, 200, 300, 400, 500, 600, 700, 800}, y[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    nn_model *m = nn_model_new(ctx, "1 dense:1", &(struct nn_model_cfg){.max_batch = 8});
    nn_graph *g = nn_model_graph(m);
    int64_t np = nn_graph_param_count(g);
    float before[2];
    memcpy(before, nn_graph_param_block(g), sizeof before);
    assert_int_equal(np, 2);
    struct nn_array_source a = {.x = x, .targets = y, .n = 8, .features = 1, .ntargets = 1};
    struct nn_source src = nn_source_from_arrays(&a);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = 1, .batch = 8, .clip_norm = 0.5f, .optim = {.kind = NN_OPTIM_SGD, .lr = 0.1f}});
    assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
    double d = 0;
    for (int i = 0; i < 2; i++)
        d += pow(nn_graph_param_block(g)[i] - before[i], 2);
    assert_close(sqrt(d), 0.1 * 0.5, 1e-4, 0);
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

/* The trainer applies the schedule per epoch: step:2:0.5 halves the rate
 * every two epochs, and the history records the rate each epoch used. */
static void schedule_sets_epoch_rates(void **state)
{
    (void)state;
    nn_ctx *ctx = new_ctx(8);
    float x[8] = {0, 1, 2, 3, 4, 5, 6, 7}, y[8] = {1, 3, 5, 7, 9, 11, 13, 15};
    nn_model *m = nn_model_new(ctx, "1 dense:1", &(struct nn_model_cfg){.max_batch = 8});
    struct nn_array_source a = {.x = x, .targets = y, .n = 8, .features = 1, .ntargets = 1};
    struct nn_source src = nn_source_from_arrays(&a);
    struct nn_train_cfg tc = {.epochs = 6, .batch = 8,
                              .optim = {.kind = NN_OPTIM_SGD, .lr = 0.01f}};
    assert_ok(ctx, nn_schedule_parse(ctx, "step:2:0.5", &tc.schedule));
    nn_trainer *t = nn_trainer_new(m, &tc);
    assert_non_null(t);
    assert_ok(ctx, nn_trainer_fit(t, &src, NULL));
    int n;
    const struct nn_epoch_stats *h = nn_trainer_history(t, &n);
    assert_int_equal(n, 6);
    for (int i = 0; i < n; i++)
        assert_close(h[i].lr, 0.01 * pow(0.5, i / 2), 1e-6, 0);
    nn_trainer_free(t);
    nn_model_free(m);
    nn_ctx_free(ctx);
}

NN_GROUP(train,
         cmocka_unit_test(schedule_sets_epoch_rates),
         cmocka_unit_test(spec_and_param_count),
         cmocka_unit_test(spec_fields_by_name),
         cmocka_unit_test(initializer_statistics),
         cmocka_unit_test(xor_hidden_layer_learns),
         cmocka_unit_test(xor_logistic_regression_cannot),
         cmocka_unit_test(symmetry_constant_init_stays),
         cmocka_unit_test(early_stopping_restores_best),
         cmocka_unit_test(l2_shrinks_weights),
         cmocka_unit_test(dropout_eval_mode),
         cmocka_unit_test(same_seed_same_trajectory),
         cmocka_unit_test(drop_last_batch),
         cmocka_unit_test(fusion_changes_nothing),
         cmocka_unit_test(fusion_needs_a_single_consumer),
         cmocka_unit_test(threads_do_not_change_results),
         cmocka_unit_test(nan_loss_stops_with_message),
         cmocka_unit_test(regression_learns_line),
         cmocka_unit_test(gradient_clipping_bounds_step))
