/*
 * data.c - resolving --data SRC into a data set, and matching its class
 * names to the training set's or the model's.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool parse_image_size(const char *s, struct nn_image_opts *io)
{
    int w = 0, h = 0, c = 0;
    char tail;
    int k = sscanf(s, "%dx%dx%d%c", &w, &h, &c, &tail);
    if (k == 2 || k == 3)
        ;
    else
        return false;
    if (w < 1 || h < 1 || w > 65536 || h > 65536 || (k == 3 && (c < 1 || c > 4)))
        return false;
    io->width = w;
    io->height = h;
    io->channels = k == 3 ? c : 0;
    return true;
}

bool cli_image_opts(const struct opts *o, struct nn_image_opts *io);
bool cli_image_opts(const struct opts *o, struct nn_image_opts *io)
{
    memset(io, 0, sizeof *io);
    io->resize = o->resize;
    if (o->image_size && !parse_image_size(o->image_size, io)) {
        fprintf(stderr, "nn: --image-size must be WxH or WxHxC (C 1-4), not '%s'\n",
                o->image_size);
        return false;
    }
    return true;
}

nn_dataset *cli_load_data(nn_ctx *ctx, const struct opts *o, const char *spec,
                          const char *split, bool labels_required)
{
    nn_dataset *ds = NULL;
    struct stat sb;
    if (strcmp(spec, "fashion-mnist") == 0) {
        ds = nn_dataset_load_named(ctx, spec, split);
    } else if (strncmp(spec, "idx:", 4) == 0) {
        const char *comma = strchr(spec + 4, ',');
        if (!comma) {
            ds = nn_dataset_load_idx(ctx, spec + 4, NULL);
        } else {
            char *img = malloc((size_t)(comma - spec - 4) + 1);
            if (img) {
                memcpy(img, spec + 4, (size_t)(comma - spec - 4));
                img[comma - spec - 4] = '\0';
                ds = nn_dataset_load_idx(ctx, img, comma + 1);
                free(img);
            }
        }
    } else if (stat(spec, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        struct nn_image_opts io;
        if (!cli_image_opts(o, &io))
            return NULL;
        ds = nn_dataset_load_images(ctx, spec, &io);
    } else {
        enum nn_csv_task task = NN_CSV_AUTO;
        if (o->task && strcmp(o->task, "classify") == 0)
            task = NN_CSV_CLASSIFY;
        else if (o->task && strcmp(o->task, "regress") == 0)
            task = NN_CSV_REGRESS;
        else if (o->task && strcmp(o->task, "auto") != 0) {
            fprintf(stderr, "nn: --task must be auto, classify or regress, not '%s'\n", o->task);
            return NULL;
        }
        struct nn_csv_opts co = {.label = o->label ? o->label : "-1", .task = task};
        ds = nn_dataset_load_csv(ctx, spec, &co);
    }
    if (!ds) {
        fprintf(stderr, "nn: %s\n", nn_ctx_error(ctx));
        return NULL;
    }
    if (labels_required && nn_dataset_label_kind(ds) == NN_LABELS_NONE) {
        fprintf(stderr, "nn: %s has no labels\n", spec);
        nn_dataset_free(ds);
        return NULL;
    }
    return ds;
}

bool cli_match_classes(nn_ctx *ctx, nn_dataset *ds, const char *const *names, int64_t n,
                       const char *what)
{
    if (n <= 0 || !nn_dataset_class_name(ds, 0))
        return true; /* unnamed classes are indices already */
    if (nn_dataset_map_classes(ds, names, n) != NN_OK) {
        fprintf(stderr, "nn: %s: %s\n", what, nn_ctx_error(ctx));
        return false;
    }
    return true;
}
