/*
 * fuzz_csv.c - libFuzzer target for the CSV loader: byte 0 picks the options
 * (header, task, delimiter, label column), the rest is the document, parsed
 * from memory; a data set that loads is gathered and split.
 */
#include "data/data.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const labels[8] = {NULL, "0", "-1", "label", "y,1", "1,0", "2", "a"};
static const char delims[4] = {0, ';', '\t', ' '};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static nn_ctx *ctx;
    if (!ctx)
        ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    if (size < 1)
        return 0;
    uint8_t o = data[0];
    struct nn_csv_opts opts = {
        .label = labels[o & 7],
        .no_header = (o >> 3) & 1,
        .task = (nn_csv_task)((o >> 4) % 3),
        .delimiter = delims[o >> 6],
    };
    nn_dataset *ds = nn_csv_load_mem(ctx, "fuzz.csv", data + 1, size - 1, &opts);
    if (!ds) {
        if (!*nn_ctx_error(ctx) || strchr(nn_ctx_error(ctx), '\n'))
            abort(); /* every failure leaves a one-line message */
        nn_ctx_clear_error(ctx);
        return 0;
    }
    int64_t n = nn_dataset_size(ds), F = nn_dataset_features(ds);
    int64_t T = nn_dataset_targets(ds);
    float *x = malloc((size_t)(n * F) * sizeof(float));
    float *t = malloc((size_t)(n * (T ? T : 1)) * sizeof(float));
    int32_t *y = malloc((size_t)n * sizeof(int32_t));
    int64_t *idx = malloc((size_t)n * sizeof(int64_t));
    if (x && t && y && idx) {
        for (int64_t i = 0; i < n; i++)
            idx[i] = i;
        if (nn_dataset_gather(ds, idx, n, x, y, t) != NN_OK)
            abort();
        for (int64_t i = 0; i < n * F; i++)
            if (x[i] != x[i]) /* NaN out of a validated file */
                abort();
        if (nn_dataset_label_kind(ds) == NN_LABELS_CLASS)
            for (int64_t i = 0; i < n; i++)
                if (y[i] < 0 || y[i] >= nn_dataset_classes(ds))
                    abort();
        for (int64_t c = 0; c < nn_dataset_classes(ds); c++)
            (void)nn_dataset_class_name(ds, c);
    }
    free(x);
    free(t);
    free(y);
    free(idx);
    nn_dataset *tr, *va;
    if (nn_dataset_split(ds, 0.3f, 2, &tr, &va) == NN_OK) {
        nn_dataset_free(tr);
        nn_dataset_free(va);
    }
    nn_dataset_free(ds);
    nn_ctx_clear_error(ctx);
    return 0;
}
