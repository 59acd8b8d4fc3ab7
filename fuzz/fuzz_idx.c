/*
 * fuzz_idx.c - libFuzzer target for the IDX reader: the input is split into
 * an images file and a labels file (each raw or gzip) and parsed from
 * memory; a data set that loads is then gathered, normalized and split.
 */
#include "data/data.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Touches every loaded byte through the public API. */
static void exercise(nn_dataset *ds)
{
    int64_t n = nn_dataset_size(ds), F = nn_dataset_features(ds);
    int64_t idx[4];
    int k = n < 4 ? (int)n : 4;
    for (int i = 0; i < k; i++)
        idx[i] = n - 1 - i;
    float *x = malloc((size_t)(k * F) * sizeof(float));
    int32_t y[4];
    if (x && nn_dataset_gather(ds, idx, k, x, y, NULL) != NN_OK)
        abort();
    free(x);
    if (nn_dataset_label_kind(ds) == NN_LABELS_CLASS) {
        if (nn_dataset_classes(ds) < 1 || nn_dataset_classes(ds) > 256)
            abort();
        (void)nn_dataset_check_classes(ds, 3);
    }
    if (n * F <= (1 << 16))
        (void)nn_dataset_fit_norm(ds, NN_NORM_STANDARD);
    nn_dataset *tr, *va;
    if (nn_dataset_split(ds, 0.5f, 1, &tr, &va) == NN_OK) {
        if (nn_dataset_size(tr) + nn_dataset_size(va) != n)
            abort();
        nn_dataset_free(tr);
        nn_dataset_free(va);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static nn_ctx *ctx;
    if (!ctx)
        ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    if (size < 2)
        return 0;
    /* Byte 0..1: where the labels start; 0xFFFF: no labels file. */
    size_t cut = (size_t)data[0] | (size_t)data[1] << 8;
    data += 2;
    size -= 2;
    bool labels = cut != 0xFFFF;
    if (cut > size)
        cut = size;
    nn_dataset *ds = nn_idx_load_mem(ctx, "images", data, labels ? cut : size,
                                     "labels", labels ? data + cut : NULL,
                                     labels ? size - cut : 0);
    if (ds)
        exercise(ds);
    else if (!*nn_ctx_error(ctx) || strchr(nn_ctx_error(ctx), '\n'))
        abort(); /* every failure leaves a one-line message */
    nn_dataset_free(ds);
    nn_ctx_clear_error(ctx);
    return 0;
}
