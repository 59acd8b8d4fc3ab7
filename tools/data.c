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
        cli_fail(cli_cmd, "--image-size must be WxH or WxHxC (C 1-4), not '%s'", o->image_size);
        return false;
    }
    return true;
}

bool cli_csv_header(const struct opts *o, nn_csv_header *out)
{
    static const char *const names[] = {"auto", "yes", "no"};
    *out = NN_CSV_HEADER_AUTO;
    if (!o->header)
        return true;
    for (int i = 0; i < 3; i++)
        if (strcmp(o->header, names[i]) == 0) {
            *out = (nn_csv_header)i;
            return true;
        }
    const char *near = nn_nearest_name(o->header, names, 3);
    cli_fail(cli_cmd, "--header must be yes, no or auto, not '%s'%s%s%s", o->header,
             near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
    return false;
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
            static const char *const kinds[] = {"auto", "classify", "regress"};
            const char *near = nn_nearest_name(o->task, kinds, 3);
            cli_fail(cli_cmd, "--task must be auto, classify or regress, not '%s'%s%s%s",
                     o->task, near ? " (did you mean " : "", near ? near : "", near ? "?)" : "");
            return NULL;
        }
        struct nn_csv_opts co = {.label = o->label ? o->label : "-1", .task = task,
                                 .ignore = o->ignore, .columns = o->layout,
                                 .ncolumns = o->nlayout,
                                 .label_optional = o->label_optional};
        if (!cli_csv_header(o, &co.header))
            return NULL;
        ds = nn_dataset_load_csv(ctx, spec, &co);
    }
    if (!ds) {
        /* a text column read as a feature (a name, an id with letters):
         * training can leave it out */
        bool text = !o->layout && strstr(nn_ctx_error(ctx), "is not a number") &&
                    !strstr(nn_ctx_error(ctx), "target");
        cli_fail(cli_cmd, "%s%s", nn_ctx_error(ctx),
                text ? " (if that column is not a feature, leave it out with nn train "
                       "--ignore COLUMN, or name the label with --label COLUMN)" : "");
        return NULL;
    }
    if (labels_required && nn_dataset_label_kind(ds) == NN_LABELS_NONE) {
        cli_fail(cli_cmd, "%s has no labels", spec);
        nn_dataset_free(ds);
        return NULL;
    }
    return ds;
}

/* "(1, 28, 28)" and "1x28x28" */
static void shape_texts(const int64_t *d, int nd, char *paren, char *by, size_t size)
{
    size_t a = (size_t)snprintf(paren, size, "("), b = 0;
    by[0] = '\0';
    for (int i = 0; i < nd && a < size && b < size; i++) {
        a += (size_t)snprintf(paren + a, size - a, "%s%lld", i ? ", " : "", (long long)d[i]);
        b += (size_t)snprintf(by + b, size - b, "%s%lld", i ? "x" : "", (long long)d[i]);
    }
    if (a < size)
        snprintf(paren + a, size - a, ")");
}

bool cli_check_input(const char *cmd, const nn_model *m, const nn_dataset *ds, const char *what)
{
    int64_t md[NN_MAX_DIMS], dd[NN_MAX_DIMS];
    int mn = nn_model_input_shape(m, md), dn = nn_dataset_shape(ds, dd);
    int64_t f = nn_dataset_features(ds), in = nn_model_inputs(m);
    char ms[96], mx[96], ds_[96], dx[96];
    shape_texts(md, mn, ms, mx, sizeof ms);
    shape_texts(dd, dn, ds_, dx, sizeof ds_);
    bool same = mn == dn;
    for (int i = 0; same && i < mn; i++)
        same = md[i] == dd[i];
    if (mn == 3 && dn == 3 && !same) {
        cli_fail(cmd, "%s (%s) has images of shape %s (channels, height, width), but the "
                 "model's input is %s (its first token %s); train a model for %s images, or "
                 "load an image folder at the model's size with --image-size %lldx%lldx%lld "
                 "--resize (width x height x channels)", what, nn_dataset_source(ds), ds_, ms,
                 mx, dx, (long long)md[2], (long long)md[1], (long long)md[0]);
        return false;
    }
    if (f == in)
        return true; /* (features) rows reshape to (C, H, W), images flatten */
    if (mn == 3)
        cli_fail(cmd, "%s (%s) has %lld values per sample (shape %s), but the model's input "
                 "%s (its first token %s) takes %lld", what, nn_dataset_source(ds),
                 (long long)f, ds_, ms, mx, (long long)in);
    else
        cli_fail(cmd, "%s (%s) has %lld feature%s per sample (shape %s), but the model takes "
                 "%lld input%s (the first token of its spec)", what, nn_dataset_source(ds),
                 (long long)f, f == 1 ? "" : "s", ds_, (long long)in, in == 1 ? "" : "s");
    return false;
}

bool cli_match_classes(nn_ctx *ctx, nn_dataset *ds, const char *const *names, int64_t n,
                       const char *what)
{
    if (n <= 0 || !nn_dataset_class_name(ds, 0))
        return true; /* unnamed classes are indices already */
    if (nn_dataset_map_classes(ds, names, n) != NN_OK) {
        cli_fail(cli_cmd, "%s: %s", what, nn_ctx_error(ctx));
        return false;
    }
    return true;
}
