/*
 * bench_model.c - the libnn side of `make bench`: the MLP 784-256-128-10
 * (relu, softmax cross-entropy, Adam 1e-3, batch 64) or the LeNet-style CNN
 * of issue 17, on Fashion-MNIST held in memory as uint8, built by
 * nn_model_new from its spec and trained by the trainer `nn train` uses.
 * Prints one JSON line: seconds per epoch (each, and the median), test
 * accuracy, inference throughput at batch 1000 and latency at batch 1.
 *
 *   bench_model [--model mlp|lenet] [--threads N] [--epochs N] [--seed N]
 *               [--max-batch N] [--infer-only | --train-only]
 *
 * Built twice by the Makefile: build/bench_mlp and build/bench_cnn differ
 * only in their default --model. The MLP is compiled for batches of 1000
 * (inference in one pass); the CNN, by default, for 256, as `nn train`
 * compiles it for a batch of 64, so batch-1000 inference runs in passes.
 */
#include "nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef BENCH_DEFAULT_MODEL
#define BENCH_DEFAULT_MODEL "mlp"
#endif

struct bench_model {
    const char *name, *spec;
    double gflop_per_epoch; /* forward and backward arithmetic of one epoch */
    int epochs;             /* default */
    int64_t max_batch;      /* default */
    nn_loss_kind loss;
};

static const struct bench_model MODELS[] = {
    {"mlp", "784 dense:256 relu dense:128 relu dense:10 softmax", 60.4, 5, 1000, NN_LOSS_AUTO},
    {"lenet",
     "1x28x28 conv:8,5,pad=2 relu maxpool:2 conv:16,5 relu maxpool:2 flatten "
     "dense:120 relu dense:84 relu dense:10",
     175.0, 3, 256, NN_LOSS_SOFTMAX_CE},
};

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
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int die(nn_ctx *ctx, const char *what)
{
    fprintf(stderr, "bench_model: %s: %s\n", what, ctx ? nn_ctx_error(ctx) : "");
    return 1;
}

struct opts {
    const struct bench_model *model;
    int threads, epochs;
    int64_t max_batch;
    uint64_t seed;
    bool infer_only, train_only;
};

static int parse(int argc, char **argv, struct opts *o)
{
    const char *model = BENCH_DEFAULT_MODEL;
    *o = (struct opts){.threads = 1, .epochs = -1, .max_batch = -1, .seed = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--model") == 0 && v)
            model = argv[++i];
        else if (strcmp(a, "--threads") == 0 && v)
            o->threads = atoi(argv[++i]);
        else if (strcmp(a, "--epochs") == 0 && v)
            o->epochs = atoi(argv[++i]);
        else if (strcmp(a, "--seed") == 0 && v)
            o->seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(a, "--max-batch") == 0 && v)
            o->max_batch = atoll(argv[++i]);
        else if (strcmp(a, "--infer-only") == 0)
            o->infer_only = true;
        else if (strcmp(a, "--train-only") == 0)
            o->train_only = true;
        else
            return -1;
    }
    for (size_t k = 0; k < sizeof MODELS / sizeof MODELS[0]; k++)
        if (strcmp(model, MODELS[k].name) == 0)
            o->model = &MODELS[k];
    if (!o->model)
        return -1;
    if (o->epochs < 0)
        o->epochs = o->model->epochs;
    if (o->epochs > 64)
        o->epochs = 64;
    if (o->max_batch <= 0)
        o->max_batch = o->model->max_batch;
    return 0;
}

/* Trains o->epochs epochs; the seconds of each into ep, the test accuracy
 * into acc. */
static int train(nn_model *m, const struct opts *o, nn_dataset *train, nn_dataset *test,
                 double *ep, int *nep, double *acc)
{
    nn_ctx *ctx = nn_model_ctx(m);
    struct nn_source tr = nn_source_from_dataset(train), te = nn_source_from_dataset(test);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = o->epochs, .batch = 64, .optim = {.kind = NN_OPTIM_ADAM, .lr = 1e-3f}});
    if (!t || nn_trainer_fit(t, &tr, NULL) != NN_OK)
        return die(ctx, "train");
    const struct nn_epoch_stats *h = nn_trainer_history(t, nep);
    for (int i = 0; i < *nep && i < 64; i++)
        ep[i] = h[i].seconds;
    struct nn_metrics r;
    if (nn_evaluate(m, &te, &r) != NN_OK)
        return die(ctx, "evaluate");
    *acc = r.accuracy;
    nn_trainer_free(t);
    return 0;
}

/* Median images/s over 9 passes of the test set in batches of 1000, and
 * the median microseconds of 2000 single-image calls. */
static void infer(nn_model *m, const float *x, int64_t n, int64_t f, float *p, double *b1000,
                  double *b1)
{
    double passes[9];
    for (int r = 0; r < 9; r++) {
        double t0 = now_s();
        for (int64_t i = 0; i < n; i += 1000)
            nn_model_predict(m, x + i * f, n - i < 1000 ? n - i : 1000, p + i * 10);
        passes[r] = (double)n / (now_s() - t0);
    }
    *b1000 = median(passes, 9);
    enum { CALLS = 2000 };
    static double lat[CALLS];
    for (int i = 0; i < 200; i++) /* warm up */
        nn_model_predict(m, x + (i % n) * f, 1, p);
    for (int i = 0; i < CALLS; i++) {
        double t0 = now_s();
        nn_model_predict(m, x + (i % n) * f, 1, p);
        lat[i] = (now_s() - t0) * 1e6;
    }
    *b1 = median(lat, CALLS);
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: bench_model [--model mlp|lenet] [--threads N] [--epochs N] "
                        "[--seed N] [--max-batch N] [--infer-only | --train-only]\n");
        return 2;
    }
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = o.seed, .threads = o.threads});
    if (!ctx)
        return die(NULL, "context");
    nn_dataset *trn = nn_dataset_load_named(ctx, "fashion-mnist", "train");
    nn_dataset *tst = nn_dataset_load_named(ctx, "fashion-mnist", "test");
    if (!trn || !tst)
        return die(ctx, "data");
    nn_model *m = nn_model_new(ctx, o.model->spec, &(struct nn_model_cfg){.max_batch = o.max_batch,
                                                                          .loss = o.model->loss});
    if (!m)
        return die(ctx, "model");
    double ep[64] = {0}, acc = -1, b1000 = 0, b1 = 0;
    int nep = 0;
    if (!o.infer_only && train(m, &o, trn, tst, ep, &nep, &acc) != 0)
        return 1;
    /* inference on the normalized test images */
    int64_t n = nn_dataset_size(tst), f = nn_dataset_features(tst);
    float *x = malloc((size_t)(n * f) * sizeof *x), *p = malloc((size_t)n * 10 * sizeof *p);
    int64_t *idx = malloc((size_t)n * sizeof *idx);
    if (!x || !p || !idx)
        return die(ctx, "out of memory");
    for (int64_t i = 0; i < n; i++)
        idx[i] = i;
    if (nn_dataset_gather(tst, idx, n, x, NULL, NULL) != NN_OK)
        return die(ctx, "gather");
    if (!o.train_only)
        infer(m, x, n, f, p, &b1000, &b1);
    double med = median(ep, nep);
    printf("{\"impl\": \"libnn\", \"model\": \"%s\", \"threads\": %d, \"backend\": \"%s\", "
           "\"max_batch\": %lld, \"epochs\": %d, \"epoch_s\": [",
           o.model->name, o.threads, nn_gemm_backend_name(), (long long)o.max_batch, nep);
    for (int i = 0; i < nep; i++)
        printf("%s%.4f", i ? ", " : "", ep[i]);
    printf("], \"epoch_s_median\": %.4f, \"gflops\": %.1f, \"test_acc\": %.4f, "
           "\"infer_b1000_img_s\": %.0f, \"infer_b1_us\": %.2f}\n",
           med, med > 0 ? o.model->gflop_per_epoch / med : 0, acc, b1000, b1);
    free(x);
    free(p);
    free(idx);
    nn_model_free(m);
    nn_dataset_free(trn);
    nn_dataset_free(tst);
    nn_ctx_free(ctx);
    return 0;
}
