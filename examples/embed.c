/*
 * embed.c - using a trained libnn model from another C program.
 *
 *   cc embed.c $(pkg-config --cflags --libs nn) -o embed
 *   ./embed model.safetensors < rows.txt
 *
 * Each input line holds one sample's raw features (as in the training
 * data, separated by spaces or commas); the program prints the predicted
 * class (and its name, when the checkpoint has class names) with its
 * probability. The checkpoint's normalization is applied first.
 */
#include <nn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL.safetensors < rows\n", argv[0]);
        return 2;
    }
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.threads = 1});
    nn_model *m = ctx ? nn_model_load(ctx, argv[1], NULL) : NULL;
    if (!m) {
        fprintf(stderr, "embed: %s\n", ctx ? nn_ctx_error(ctx) : "out of memory");
        nn_ctx_free(ctx);
        return 1;
    }
    int64_t nin = nn_model_inputs(m);
    float *x = malloc((size_t)nin * sizeof *x);
    char line[65536];
    int rc = 0;
    for (long row = 1; x && fgets(line, sizeof line, stdin); row++) {
        int64_t k = 0;
        for (char *t = strtok(line, " ,\t\n"); t && k < nin; t = strtok(NULL, " ,\t\n"))
            x[k++] = strtof(t, NULL);
        if (k != nin) {
            fprintf(stderr, "embed: line %ld has %lld features, the model takes %lld\n", row,
                    (long long)k, (long long)nin);
            rc = 1;
            break;
        }
        nn_model_normalize(m, x, 1); /* raw units -> the model's inputs */
        int64_t best;
        float p;
        if (nn_model_topk(m, x, 1, 1, &best, &p) != NN_OK) { /* the most probable class */
            fprintf(stderr, "embed: %s\n", nn_ctx_error(ctx));
            rc = 1;
            break;
        }
        const char *name = nn_model_class_name(m, best);
        printf("%lld %s %.4f\n", (long long)best, name ? name : "-", (double)p);
    }
    free(x);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return rc;
}
