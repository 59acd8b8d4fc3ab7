/*
 * bench_cnn.c - the libnn side of `make bench`'s CNN table: the LeNet-style
 * net of issue 17 (softmax cross-entropy, Adam 1e-3, batch 64) on
 * Fashion-MNIST held in memory as uint8. Prints one JSON line: seconds per
 * epoch (each, and the median), test accuracy, inference throughput at
 * batch 1000 and latency at batch 1.
 *
 *   bench_cnn [--threads N] [--epochs N] [--seed N] [--max-batch N]
 *             [--infer-only | --train-only]
 *
 * The model is compiled for batches of up to --max-batch images (default
 * 256, what `nn train` compiles for a batch of 64); nn_model_predict runs
 * the 1000-image batches in passes of that many.
 * The model is nn_model_new(SPEC), trained by the trainer `nn train` uses.
 * If this build's model spec does not know convolutional layers yet, the
 * same network is built with the C API (the layers the spec builder uses,
 * the same initializers) and trained by a loop doing what the trainer does
 * per batch (shuffle with the context's generator, gather, forward to the
 * loss, zero the gradients, backward, Adam step); the JSON line then says
 * "built": "c-api" instead of "spec".
 */
#include "nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SPEC                                                                  \
    "1x28x28 conv:8,5,pad=2 relu maxpool:2 conv:16,5 relu maxpool:2 flatten " \
    "dense:120 relu dense:84 relu dense:10"
#define GFLOP_PER_EPOCH 175.0 /* forward and backward arithmetic of one epoch */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int die(nn_ctx *ctx, const char *what)
{
    fprintf(stderr, "bench_cnn: %s: %s\n", what, nn_ctx_error(ctx));
    return 1;
}

/* ---- the network through the C API (until the spec knows conv layers) -- */

struct net {
    nn_graph *g;
    int64_t max_batch;
    nn_node *x, *y, *logits, *loss;
};

static nn_status build_net(nn_ctx *ctx, struct net *n, int64_t max_batch)
{
    const struct nn_init he = {.kind = NN_INIT_HE_NORMAL};
    nn_graph *g = n->g = nn_graph_new(ctx);
    n->max_batch = max_batch;
    if (!g)
        return NN_ERR_NOMEM;
    nn_node *h = n->x = nn_input(g, "x", 3, (int64_t[]){1, 28, 28});
    h = nn_conv2d_layer(g, h, 8, 5, 5, &(struct nn_conv2d_cfg){.pad_h = 2, .pad_w = 2}, true,
                        he, "conv1");
    h = nn_maxpool2d(g, nn_relu(g, h), &(struct nn_pool2d_cfg){.kernel_h = 2, .kernel_w = 2});
    h = nn_conv2d_layer(g, h, 16, 5, 5, NULL, true, he, "conv2");
    h = nn_maxpool2d(g, nn_relu(g, h), &(struct nn_pool2d_cfg){.kernel_h = 2, .kernel_w = 2});
    h = nn_relu(g, nn_dense(g, nn_flatten(g, h), 120, he, "dense1"));
    h = nn_relu(g, nn_dense(g, h, 84, he, "dense2"));
    n->logits = nn_dense(g, h, 10, (struct nn_init){.kind = NN_INIT_XAVIER_UNIFORM}, "dense3");
    n->y = nn_labels(g, "y");
    n->loss = nn_softmax_cross_entropy(g, n->logits, n->y);
    nn_graph_set_fuse(g, true);
    nn_node *outs[2] = {n->loss, n->logits};
    return nn_graph_compile(g, outs, 2, max_batch);
}

/* One epoch as the trainer runs it; the seconds it took. */
static double train_epoch(nn_ctx *ctx, struct net *n, nn_optim *opt, const nn_dataset *ds,
                          int64_t *perm, nn_status *st)
{
    int64_t N = nn_dataset_size(ds), B = 64;
    double t0 = now_s();
    for (int64_t i = 0; i < N; i++)
        perm[i] = i;
    for (int64_t i = N - 1; i > 0; i--) {
        int64_t j = (int64_t)(nn_rand_u64(ctx) % (uint64_t)(i + 1));
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    nn_graph_set_training(n->g, true);
    float *xb = nn_input_buffer(n->g, n->x);
    int32_t *yb = nn_labels_buffer(n->g, n->y);
    for (int64_t b = 0; b < N && *st == NN_OK; b += B) {
        int64_t k = N - b < B ? N - b : B;
        *st = nn_dataset_gather(ds, perm + b, k, xb, yb, NULL);
        if (*st == NN_OK)
            *st = nn_set_batch(n->g, k);
        if (*st == NN_OK)
            *st = nn_forward_to(n->g, n->loss);
        nn_zero_grad(n->g);
        if (*st == NN_OK)
            *st = nn_backward(n->g, n->loss);
        if (*st == NN_OK)
            *st = nn_optim_step(opt);
    }
    nn_graph_set_training(n->g, false);
    return now_s() - t0;
}

/* Logits of x (n, 784) in passes of up to the compiled maximum. */
static nn_status predict(nn_model *m, struct net *n, const float *x, int64_t count, float *out)
{
    if (m)
        return nn_model_predict(m, x, count, out);
    int64_t mb = n->max_batch;
    for (int64_t i = 0; i < count; i += mb) {
        int64_t k = count - i < mb ? count - i : mb;
        nn_status st = nn_feed(n->g, n->x, x + i * 784, k);
        if (st == NN_OK)
            st = nn_forward_to(n->g, n->logits);
        if (st != NN_OK)
            return st;
        memcpy(out + i * 10, nn_value(n->logits), (size_t)k * 10 * sizeof *out);
    }
    return NN_OK;
}

int main(int argc, char **argv)
{
    int threads = 1, epochs = 3;
    int64_t max_batch = 256;
    uint64_t seed = 1;
    bool infer_only = false, train_only = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--max-batch") == 0 && i + 1 < argc)
            max_batch = atoll(argv[++i]);
        else if (strcmp(argv[i], "--infer-only") == 0)
            infer_only = true;
        else if (strcmp(argv[i], "--train-only") == 0)
            train_only = true;
        else {
            fprintf(stderr, "usage: bench_cnn [--threads N] [--epochs N] [--seed N] "
                            "[--max-batch N] [--infer-only | --train-only]\n");
            return 2;
        }
    }
    if (epochs < 0 || epochs > 64)
        epochs = 64;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = seed, .threads = threads});
    nn_dataset *train = nn_dataset_load_named(ctx, "fashion-mnist", "train");
    nn_dataset *test = nn_dataset_load_named(ctx, "fashion-mnist", "test");
    if (!train || !test)
        return die(ctx, "data");
    nn_model *m = nn_model_new(ctx, SPEC, &(struct nn_model_cfg){.max_batch = max_batch,
                                                                .loss = NN_LOSS_SOFTMAX_CE});
    struct net net = {0};
    if (!m && build_net(ctx, &net, max_batch) != NN_OK)
        return die(ctx, "model");
    double ep[64] = {0};
    int nep = 0;
    double acc = -1;
    int64_t n = nn_dataset_size(test), f = nn_dataset_features(test);
    float *x = malloc((size_t)(n * f) * sizeof *x), *p = malloc((size_t)n * 10 * sizeof *p);
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    int64_t *perm = malloc((size_t)nn_dataset_size(train) * sizeof *perm);
    if (!x || !p || !idx || !lab || !perm)
        return die(ctx, "out of memory");
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    if (nn_dataset_gather(test, idx, n, x, lab, NULL) != NN_OK)
        return die(ctx, "gather");
    if (!infer_only) {
        if (m) {
            struct nn_source tr = nn_source_from_dataset(train);
            struct nn_source te = nn_source_from_dataset(test);
            nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
                .epochs = epochs, .batch = 64, .optim = {.kind = NN_OPTIM_ADAM, .lr = 1e-3f}});
            if (!t || nn_trainer_fit(t, &tr, NULL) != NN_OK)
                return die(ctx, "train");
            const struct nn_epoch_stats *h = nn_trainer_history(t, &nep);
            for (int i = 0; i < nep && i < 64; i++)
                ep[i] = h[i].seconds;
            struct nn_metrics r;
            if (nn_evaluate(m, &te, &r) != NN_OK)
                return die(ctx, "evaluate");
            acc = r.accuracy;
            nn_trainer_free(t);
        } else {
            nn_optim *opt = nn_optim_new(net.g, &(struct nn_optim_cfg){.kind = NN_OPTIM_ADAM,
                                                                      .lr = 1e-3f});
            if (!opt)
                return die(ctx, "optimizer");
            nn_status st = NN_OK;
            for (nep = 0; nep < epochs && st == NN_OK; nep++)
                ep[nep] = train_epoch(ctx, &net, opt, train, perm, &st);
            if (st != NN_OK)
                return die(ctx, "train");
            if (predict(NULL, &net, x, n, p) != NN_OK)
                return die(ctx, "evaluate");
            int64_t hits = 0;
            for (int64_t i = 0; i < n; i++) {
                int best = 0;
                for (int c = 1; c < 10; c++)
                    best = p[i * 10 + c] > p[i * 10 + best] ? c : best;
                hits += best == lab[i];
            }
            acc = (double)hits / (double)n;
            nn_optim_free(opt);
        }
    }
    /* Inference on the normalized test images. */
    double passes[9];
    int npasses = train_only ? 0 : 9;
    for (int r = 0; r < npasses; r++) {
        double t0 = now_s();
        if (predict(m, &net, x, n, p) != NN_OK)
            return die(ctx, "predict");
        passes[r] = (double)n / (now_s() - t0);
    }
    double b1000 = npasses ? median(passes, npasses) : 0;
    enum { CALLS = 2000 };
    static double lat[CALLS];
    int calls = train_only ? 0 : CALLS;
    for (int i = 0; i < 200 && calls; i++) /* warm up */
        predict(m, &net, x + (i % n) * f, 1, p);
    for (int i = 0; i < calls; i++) {
        double t0 = now_s();
        predict(m, &net, x + (i % n) * f, 1, p);
        lat[i] = (now_s() - t0) * 1e6;
    }
    double b1 = calls ? median(lat, calls) : 0;
    double med = nep ? median(ep, nep) : 0;
    printf("{\"impl\": \"libnn\", \"model\": \"lenet\", \"built\": \"%s\", \"threads\": %d, "
           "\"backend\": \"%s\", \"max_batch\": %lld, \"epochs\": %d, \"epoch_s\": [",
           m ? "spec" : "c-api", threads, nn_gemm_backend_name(), (long long)max_batch, nep);
    for (int i = 0; i < nep; i++)
        printf("%s%.4f", i ? ", " : "", ep[i]);
    printf("], \"epoch_s_median\": %.4f, \"gflops\": %.1f, \"test_acc\": %.4f, "
           "\"infer_b1000_img_s\": %.0f, \"infer_b1_us\": %.2f}\n",
           med, med > 0 ? GFLOP_PER_EPOCH / med : 0, acc, b1000, b1);
    free(x);
    free(p);
    free(idx);
    free(lab);
    free(perm);
    nn_model_free(m);
    nn_graph_free(net.g);
    nn_dataset_free(train);
    nn_dataset_free(test);
    nn_ctx_free(ctx);
    return 0;
}
