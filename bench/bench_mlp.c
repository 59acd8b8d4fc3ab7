/*
 * bench_mlp.c - the libnn side of `make bench`: the MLP 784-256-128-10
 * (ReLU, softmax cross-entropy, Adam 1e-3, batch 64) on Fashion-MNIST held
 * in memory as uint8, trained through the same trainer `nn train` uses.
 * Prints one JSON line: seconds per epoch (each, and the median), test
 * accuracy, inference throughput at batch 1000 and latency at batch 1.
 *
 *   bench_mlp [--threads N] [--epochs N] [--seed N] [--infer-only | --train-only]
 */
#include "nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SPEC "784 dense:256 relu dense:128 relu dense:10 softmax"
#define GFLOP_PER_EPOCH 60.4 /* forward and backward GEMMs of one epoch */

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
    fprintf(stderr, "bench_mlp: %s: %s\n", what, nn_ctx_error(ctx));
    return 1;
}

int main(int argc, char **argv)
{
    int threads = 1, epochs = 5;
    uint64_t seed = 1;
    bool infer_only = false, train_only = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--epochs") == 0 && i + 1 < argc)
            epochs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--infer-only") == 0)
            infer_only = true;
        else if (strcmp(argv[i], "--train-only") == 0)
            train_only = true;
        else {
            fprintf(stderr, "usage: bench_mlp [--threads N] [--epochs N] [--seed N] "
                            "[--infer-only | --train-only]\n");
            return 2;
        }
    }
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = seed, .threads = threads});
    nn_dataset *train = nn_dataset_load_named(ctx, "fashion-mnist", "train");
    nn_dataset *test = nn_dataset_load_named(ctx, "fashion-mnist", "test");
    if (!train || !test)
        return die(ctx, "data");
    nn_model *m = nn_model_new(ctx, SPEC, &(struct nn_model_cfg){.max_batch = 1000});
    if (!m)
        return die(ctx, "model");
    struct nn_source tr = nn_source_from_dataset(train);
    struct nn_source te = nn_source_from_dataset(test);
    double ep[64] = {0};
    int nep = 0;
    double acc = -1;
    if (!infer_only) {
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
    }
    /* Inference on the normalized test images. */
    int64_t n = nn_dataset_size(test), f = nn_dataset_features(test);
    float *x = malloc((size_t)(n * f) * sizeof *x), *p = malloc((size_t)n * 10 * sizeof *p);
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    if (!x || !p || !idx || nn_dataset_gather(test, idx, n, x, NULL, NULL) != NN_OK)
        return die(ctx, "gather");
    double passes[9];
    int npasses = train_only ? 0 : 9;
    for (int r = 0; r < npasses; r++) {
        double t0 = now_s();
        for (int64_t i = 0; i < n; i += 1000)
            nn_model_predict(m, x + i * f, 1000, p + i * 10);
        passes[r] = (double)n / (now_s() - t0);
    }
    double b1000 = npasses ? median(passes, npasses) : 0;
    enum { CALLS = 2000 };
    static double lat[CALLS];
    int calls = train_only ? 0 : CALLS;
    for (int i = 0; i < 200 && calls; i++) /* warm up */
        nn_model_predict(m, x + (i % n) * f, 1, p);
    for (int i = 0; i < calls; i++) {
        double t0 = now_s();
        nn_model_predict(m, x + (i % n) * f, 1, p);
        lat[i] = (now_s() - t0) * 1e6;
    }
    double b1 = calls ? median(lat, calls) : 0;
    double med = nep ? median(ep, nep) : 0;
    printf("{\"impl\": \"libnn\", \"threads\": %d, \"backend\": \"%s\", \"epochs\": %d, "
           "\"epoch_s\": [", threads, nn_gemm_backend_name(), nep);
    for (int i = 0; i < nep; i++)
        printf("%s%.4f", i ? ", " : "", ep[i]);
    printf("], \"epoch_s_median\": %.4f, \"gflops\": %.1f, \"test_acc\": %.4f, "
           "\"infer_b1000_img_s\": %.0f, \"infer_b1_us\": %.2f}\n",
           med, med > 0 ? GFLOP_PER_EPOCH / med : 0, acc, b1000, b1);
    free(x);
    free(p);
    free(idx);
    nn_model_free(m);
    nn_dataset_free(train);
    nn_dataset_free(test);
    nn_ctx_free(ctx);
    return 0;
}
