/*
 * cmd_eval.c - `nn eval` (loss and accuracy of a checkpoint on data),
 * `nn predict` (classes and probabilities of new inputs) and `nn info`
 * (what a checkpoint holds). Without data, eval and predict use the data
 * source the checkpoint records.
 */
#include "cli.h"

#include <cjson/cJSON.h> /* quoting file names in --json output */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

bool cli_image_opts(const struct opts *o, struct nn_image_opts *io);

static nn_model *load(nn_ctx *ctx, const char *cmd, const char *path, int64_t max_batch)
{
    if (!path) {
        cli_fail(cmd, "give the checkpoint to use, e.g. nn %s model.safetensors", cmd);
        return NULL;
    }
    nn_model *m = nn_model_load(ctx, path, &(struct nn_model_cfg){.max_batch = max_batch});
    if (!m)
        cli_fail(cmd, "%s", nn_ctx_error(ctx));
    return m;
}

/* The checkpoint's normalization applied to a data set loaded for it. */
static bool apply_norm(nn_ctx *ctx, const char *cmd, nn_model *m, nn_dataset *ds)
{
    struct nn_norm_stats ns;
    if (!cli_check_input(cmd, m, ds, "the data"))
        return false;
    if (nn_model_norm(m, &ns) && nn_dataset_norm_set(ds, &ns) != NN_OK) {
        cli_fail(cmd, "%s", nn_ctx_error(ctx));
        return false;
    }
    return true;
}

int cmd_eval(int argc, char **argv)
{
    struct opts o = {.batch = 256};
    const char *path;
    if (!cli_parse(CMD_EVAL, argc, argv, &o, &path))
        return 2;
    if (o.nextra > 1 || (o.nextra == 1 && o.data))
        return cli_fail("eval", o.nextra > 1 ? "one data source after the model, not %d (a "
                        "folder of images is one)" : "give the data once: after the model or "
                        "with --data, not both", o.nextra), 2;
    if (o.nextra == 1) /* nn eval MODEL DATA */
        o.data = o.extra[0];
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.threads = (int)o.threads});
    if (!ctx)
        return 1;
    int rc = 1;
    nn_dataset *ds = NULL;
    struct cli_recorded rec = {0};
    struct cli_eval_report rep = {0};
    nn_model *m = NULL;
    if (o.plot && !cli_check_output("eval", "--plot", o.plot))
        goto done;
    m = load(ctx, "eval", path, o.batch);
    if (!m || !cli_recorded_open(ctx, "eval", path, &rec))
        goto done;
    if (!o.task) /* the labels read as the model's outputs: classes or targets */
        o.task = nn_model_loss_kind(m) == NN_LOSS_MSE ? "regress" : "classify";
    cli_recorded_defaults(&o, &rec);
    const char *data = o.data ? o.data : "fashion-mnist";
    const char *split = o.split ? o.split : "test";
    if (o.split && strcmp(data, "fashion-mnist") != 0) {
        cli_fail("eval", "--split chooses a part of the built-in fashion-mnist; %s has no "
                 "splits (give the file to evaluate with --data)", data);
        goto done;
    }
    if (strcmp(split, "test") != 0 && strcmp(split, "train") != 0) {
        cli_fail("eval", "--split must be test or train, not '%s'", split);
        goto done;
    }
    if (!(ds = cli_load_data(ctx, &o, data, split, true)) || !apply_norm(ctx, "eval", m, ds))
        goto done;
    const char *names[1024];
    int64_t nnames = 0;
    while (nnames < 1024 && nn_model_class_name(m, nnames)) {
        names[nnames] = nn_model_class_name(m, nnames);
        nnames++;
    }
    if (!cli_match_classes(ctx, ds, names, nnames, "eval"))
        goto done;
    nn_loss_kind lk = nn_model_loss_kind(m);
    struct nn_source src = nn_source_from_dataset(ds);
    if (lk == NN_LOSS_SOFTMAX_CE) {
        if (nn_dataset_label_kind(ds) != NN_LABELS_CLASS ||
            nn_dataset_check_classes(ds, nn_model_outputs(m)) != NN_OK) {
            cli_fail("eval", "%s: labels do not fit the model's %lld classes%s%s",
                     nn_dataset_source(ds), (long long)nn_model_outputs(m),
                     nn_ctx_error(ctx)[0] ? ": " : "", nn_ctx_error(ctx));
            goto done;
        }
    } else if ((lk != NN_LOSS_SIGMOID_BCE || nn_dataset_label_kind(ds) != NN_LABELS_CLASS) &&
               (nn_dataset_label_kind(ds) != NN_LABELS_TARGETS ||
                nn_dataset_targets(ds) != nn_model_outputs(m))) {
        /* (class labels 0/1 are a one-output sigmoid's targets: the source does that) */
        cli_fail("eval", "%s: targets do not fit the model's %lld outputs",
                 nn_dataset_source(ds), (long long)nn_model_outputs(m));
        goto done;
    }
    struct nn_metrics r;
    if (nn_evaluate(m, &src, &r) != NN_OK) {
        cli_fail("eval", "%s", nn_ctx_error(ctx));
        goto done;
    }
    bool regression = lk == NN_LOSS_MSE;
    if (!cli_eval_report(m, ds, o.batch, o.top ? o.top : 1, &rep))
        goto done;
    if (o.top && !rep.confusion) {
        cli_fail("eval", "--top %lld: top-k accuracy needs a classifier (softmax outputs)",
                 (long long)o.top);
        goto done;
    }
    if (o.top > rep.k) {
        cli_fail("eval", "--top %lld: the model has only %lld classes", (long long)o.top,
                 (long long)rep.k);
        goto done;
    }
    if (o.plot && !cli_plot_confusion(m, &rep, o.plot, nn_dataset_source(ds)))
        goto done;
    if (o.json) {
        if (regression)
            printf("{\"loss\": %.6f, \"mae\": %.6f, \"mse\": %.6f, \"r2\": %.6f, \"n\": %lld", r.loss,
                   r.mae, r.mse, isfinite(rep.r2) ? rep.r2 : 0.0, (long long)r.n);
        else
            printf("{\"loss\": %.6f, \"accuracy\": %.6f, \"n\": %lld", r.loss, r.accuracy,
                   (long long)r.n);
        cli_eval_report_json(m, &rep, o.confusion);
        printf("}\n");
    } else if (regression) {
        printf("loss %.4f  mse %.4f  mae %.4f  r2 %.4f  (%lld samples of %s)\n", r.loss, r.mse,
               r.mae, rep.r2, (long long)r.n, nn_dataset_source(ds));
    } else {
        printf("accuracy %.4f  loss %.4f  (%lld samples of %s)\n", r.accuracy, r.loss,
               (long long)r.n, nn_dataset_source(ds));
        cli_eval_report_print(m, &rep, o.confusion);
    }
    if (o.confusion && !rep.confusion)
        fprintf(stderr, "nn eval: --confusion: no confusion matrix for a %s\n",
                regression ? "regression model" : "model of several sigmoid outputs");
    rc = 0;
done:
    cli_eval_report_free(&rep);
    nn_dataset_free(ds);
    cli_recorded_close(&rec);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return rc;
}

/* The files directly in a folder (not starting with '.'), sorted, as
 * "dir/name" strings; NULL with *n = 0 if there are none. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether a file starts like an image the loader reads (PNG, JPEG, BMP,
 * GIF, PNM): a folder's other files are skipped, with a warning. */
static bool looks_like_image(const char *path)
{
    unsigned char m[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t k = fread(m, 1, sizeof m, f);
    fclose(f);
    if (k < 4)
        return false;
    return (m[0] == 0x89 && m[1] == 'P' && m[2] == 'N' && m[3] == 'G') ||
           (m[0] == 0xff && m[1] == 0xd8) || (m[0] == 'B' && m[1] == 'M') ||
           (m[0] == 'G' && m[1] == 'I' && m[2] == 'F' && m[3] == '8') ||
           (m[0] == 'P' && m[1] >= '1' && m[1] <= '6');
}

static char **folder_files(const char *dir, int64_t *n)
{
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **v = NULL;
    int64_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(len);
        struct stat sb;
        if (!p)
            break;
        size_t dl = strlen(dir);
        while (dl > 1 && dir[dl - 1] == '/') /* "dir/" names files "dir/f", not "dir//f" */
            dl--;
        snprintf(p, len, "%.*s/%s", (int)dl, dir, e->d_name);
        if (stat(p, &sb) != 0 || !S_ISREG(sb.st_mode)) {
            free(p);
            continue;
        }
        if (!looks_like_image(p)) {
            fprintf(stderr, "nn predict: warning: skipping %s: not an image (PNG, JPEG, BMP, "
                    "GIF or PNM)\n", p);
            free(p);
            continue;
        }
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                free(p);
                break;
            }
            v = nv;
        }
        v[(*n)++] = p;
    }
    closedir(d);
    if (v)
        qsort(v, (size_t)*n, sizeof *v, cmp_str);
    return v;
}

static void free_files(char **v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* A CSV of inputs: the columns of the file the model was trained on
 * (when the checkpoint records them), by name with a header, else by
 * position, with or without the label (read and ignored). Older
 * checkpoints: its columns are the features, or, when it has more than the
 * model takes and the checkpoint records a label column, every column but
 * that one. */
static nn_dataset *load_csv_inputs(nn_ctx *ctx, const char *in, const nn_model *m,
                                   const struct cli_recorded *rec, nn_csv_header header)
{
    if (rec->ncolumns > 0 && rec->label) /* the training file's columns, by name or count */
        return nn_dataset_load_csv(ctx, in, &(struct nn_csv_opts){
            .label = rec->label, .ignore = rec->ignore, .task = NN_CSV_CLASSIFY,
            .header = header, .columns = (const char *const *)rec->columns,
            .ncolumns = rec->ncolumns, .label_optional = true});
    nn_dataset *ds = nn_dataset_load_csv(ctx, in, &(struct nn_csv_opts){.header = header});
    if ((ds && nn_dataset_features(ds) == nn_model_inputs(m)) || !rec->label)
        return ds;
    char why[512];
    snprintf(why, sizeof why, "%s", nn_ctx_error(ctx));
    nn_dataset *dropped = nn_dataset_load_csv(
        ctx, in, &(struct nn_csv_opts){.label = rec->label, .task = NN_CSV_CLASSIFY, .header = header});
    if (dropped && nn_dataset_features(dropped) == nn_model_inputs(m)) {
        nn_dataset_free(ds);
        return dropped;
    }
    /* not a file with the label column: the first reading's result stands */
    nn_dataset_free(dropped);
    nn_ctx_clear_error(ctx);
    if (!ds)
        cli_fail("predict", "%s", why);
    return ds;
}

/* The image an image model takes, as (channels, height, width): its input
 * shape when that is 3-D; for a flat input of n features (an MLP trained
 * on 28 x 28 images takes 784), a square grey image of n pixels, or a
 * square colour one of n / 3. False when neither fits. */
static bool image_input(const nn_model *m, int64_t chw[NN_MAX_DIMS])
{
    if (nn_model_input_shape(m, chw) == 3)
        return chw[0] <= 4;
    int64_t n = nn_model_inputs(m);
    for (int64_t c = 1; c <= 3; c += 2) {
        int64_t side = (int64_t)(sqrt((double)(n / c)) + 0.5);
        if (n % c == 0 && side > 0 && side * side == n / c) {
            chw[0] = c;
            chw[1] = chw[2] = side;
            return true;
        }
    }
    return false;
}

static bool is_csv(const char *in)
{
    size_t n = strlen(in);
    return (n > 4 && strcmp(in + n - 4, ".csv") == 0) ||
           (n > 7 && strcmp(in + n - 7, ".csv.gz") == 0);
}

static bool is_idx(const char *in)
{
    return strncmp(in, "idx:", 4) == 0 ||
           (strrchr(in, '.') && (strstr(in, "-ubyte") || strstr(in, ".idx")));
}

/* The images of the n files, or of the folder files[0] (n == 1), read at
 * the model's input size; their names into *names. */
static nn_dataset *load_images(nn_ctx *ctx, struct opts *o, const char *const *files, int64_t n,
                               const nn_model *m, const struct cli_recorded *rec, char ***names,
                               int64_t *nnames)
{
    if (!o->image_size && rec->image_size[0]) { /* the size the model was trained at */
        o->image_size = rec->image_size;
        o->resize |= rec->resize;
    }
    struct nn_image_opts io;
    if (!cli_image_opts(o, &io))
        return NULL;
    int64_t chw[NN_MAX_DIMS];
    if (!o->image_size && image_input(m, chw)) {
        /* an image model: its input's channels (a colour image becomes
         * grey for a 1-channel model) and size (another size is an error
         * naming both, or resized with --resize) */
        io.channels = (int)chw[0];
        io.height = (int)chw[1];
        io.width = (int)chw[2];
    }
    struct stat sb;
    if (n == 1 && stat(files[0], &sb) == 0 && S_ISDIR(sb.st_mode)) {
        *names = folder_files(files[0], nnames);
        if (!*names) {
            cli_fail("predict", "%s: no images in this folder", files[0]);
            return NULL;
        }
    } else { /* images: each line names its file */
        *names = calloc((size_t)n, sizeof **names);
        for (int64_t i = 0; *names && i < n; i++)
            if (!((*names)[i] = strdup(files[i]))) {
                free_files(*names, i);
                *names = NULL;
            }
        if (!*names) {
            cli_fail("predict", "out of memory");
            return NULL;
        }
        *nnames = n;
    }
    nn_dataset *ds = nn_dataset_load_image_files(ctx, (const char *const *)*names, *nnames, &io);
    if (!ds && !io.resize && strstr(nn_ctx_error(ctx), "resizing")) {
        cli_fail("predict", "%s; give --resize to bring it to the model's %d x %d",
                 nn_ctx_error(ctx), io.width, io.height);
        nn_ctx_clear_error(ctx);
    }
    return ds;
}

/* Inputs to predict: a CSV of features, an IDX images file, or images. */
static nn_dataset *load_inputs1(nn_ctx *ctx, struct opts *o, const char *in, const nn_model *m,
                                const struct cli_recorded *rec, char ***names, int64_t *nnames)
{
    if (strncmp(in, "idx:", 4) == 0)
        return nn_dataset_load_idx(ctx, in + 4, NULL);
    if (is_csv(in)) {
        nn_csv_header header;
        if (!cli_csv_header(o, &header))
            return NULL;
        return load_csv_inputs(ctx, in, m, rec, header);
    }
    if (is_idx(in))
        return nn_dataset_load_idx(ctx, in, NULL);
    return load_images(ctx, o, &in, 1, m, rec, names, nnames);
}

/* The inputs to predict: --input, or the data source the checkpoint
 * records (its labels ignored); prints the error itself. */
static nn_dataset *load_inputs(nn_ctx *ctx, struct opts *o, const nn_model *m,
                               const struct cli_recorded *rec, char ***names, int64_t *nnames)
{
    if (o->nextra > 0 && o->input) {
        cli_fail("predict", "give the inputs either after the model or with --input, not both");
        return NULL;
    }
    if (o->nextra == 1)
        o->input = o->extra[0];
    if (o->nextra > 1) { /* several files: images (a shell's glob) */
        for (int i = 0; i < o->nextra; i++) {
            struct stat sb;
            if (is_csv(o->extra[i]) || is_idx(o->extra[i]) ||
                (stat(o->extra[i], &sb) == 0 && S_ISDIR(sb.st_mode))) {
                cli_fail("predict", "%s: several inputs must all be images; give a CSV, IDX "
                         "file or folder alone", o->extra[i]);
                return NULL;
            }
        }
        nn_ctx_clear_error(ctx);
        nn_dataset *ds = load_images(ctx, o, o->extra, o->nextra, m, rec, names, nnames);
        if (!ds && nn_ctx_error(ctx)[0])
            cli_fail("predict", "%s", nn_ctx_error(ctx));
        return ds;
    }
    if (!o->input) {
        cli_recorded_defaults(o, rec);
        if (!o->data) {
            cli_fail("predict", "give the inputs with --input FILE (CSV of features, an image, "
                     "or an IDX images file): %s records no data source", rec->info->path);
            return NULL;
        }
        return cli_load_data(ctx, o, o->data, "test", false);
    }
    nn_ctx_clear_error(ctx);
    nn_dataset *ds = load_inputs1(ctx, o, o->input, m, rec, names, nnames);
    if (!ds && nn_ctx_error(ctx)[0])
        cli_fail("predict", "%s", nn_ctx_error(ctx));
    return ds;
}

int cmd_predict(int argc, char **argv)
{
    struct opts o = {.batch = 256, .top = 3};
    const char *path;
    if (!cli_parse(CMD_PREDICT, argc, argv, &o, &path))
        return 2;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.threads = (int)o.threads});
    if (!ctx)
        return 1;
    int rc = 1;
    nn_dataset *ds = NULL;
    float *x = NULL, *p = NULL;
    char **files = NULL; /* inputs from a folder: each row's file */
    int64_t nfiles = 0;
    struct cli_recorded rec = {0};
    nn_model *m = load(ctx, "predict", path, o.batch);
    if (!m || !cli_recorded_open(ctx, "predict", path, &rec))
        goto done;
    if (!(ds = load_inputs(ctx, &o, m, &rec, &files, &nfiles)))
        goto done;
    if (!apply_norm(ctx, "predict", m, ds))
        goto done;
    int64_t n = nn_dataset_size(ds), f = nn_model_inputs(m), k = nn_model_outputs(m);
    x = malloc((size_t)(n * f) * sizeof *x);
    p = malloc((size_t)(n * k) * sizeof *p);
    if (!x || !p) {
        cli_fail("predict", "out of memory for %lld inputs", (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n; i++)
        if (nn_dataset_row(ds, i, x + i * f) != NN_OK) {
            cli_fail("predict", "%s", nn_ctx_error(ctx));
            goto done;
        }
    if (nn_model_predict(m, x, n, p) != NN_OK) {
        cli_fail("predict", "%s", nn_ctx_error(ctx));
        goto done;
    }
    nn_loss_kind lk = nn_model_loss_kind(m);
    for (int64_t i = 0; i < n; i++) {
        const float *q = p + i * k;
        if (lk == NN_LOSS_MSE) {
            if (o.json)
                printf("{\"row\": %lld, \"values\": [", (long long)i);
            else
                printf("%lld:", (long long)i);
            for (int64_t j = 0; j < k; j++)
                printf(o.json ? "%s%.6g" : "%s%.6g", o.json && j ? ", " : " ", (double)q[j]);
            printf(o.json ? "]}\n" : "\n");
            continue;
        }
        int64_t best = 0;
        if (lk == NN_LOSS_SIGMOID_BCE && k == 1)
            best = q[0] > 0.5f;
        else
            for (int64_t j = 1; j < k; j++)
                if (q[j] > q[best])
                    best = j;
        const char *name = nn_model_class_name(m, best);
        char idx[24];
        snprintf(idx, sizeof idx, "%lld", (long long)best);
        if (o.json) {
            printf("{\"row\": %lld, ", (long long)i);
            if (files && i < nfiles) {
                cJSON *js = cJSON_CreateString(files[i]);
                char *quoted = js ? cJSON_PrintUnformatted(js) : NULL;
                printf("\"file\": %s, ", quoted ? quoted : "null");
                cJSON_free(quoted);
                cJSON_Delete(js);
            }
            printf("\"class\": %lld", (long long)best);
            if (name)
                printf(", \"name\": \"%s\"", name);
            printf(", \"probabilities\": [");
            for (int64_t j = 0; j < k; j++)
                printf("%s%.6f", j ? ", " : "", (double)q[j]);
            printf("]}\n");
            continue;
        }
        if (files && i < nfiles)
            printf("%s: class %s%s%s%s", files[i], idx, name ? " (" : "", name ? name : "",
                   name ? ")" : "");
        else
            printf("%lld: class %s%s%s%s", (long long)i, idx, name ? " (" : "",
                   name ? name : "", name ? ")" : "");
        if (lk == NN_LOSS_SIGMOID_BCE && k == 1) {
            printf("  p(1) = %.4f\n", (double)q[0]);
            continue;
        }
        /* the top classes, most likely first */
        int64_t shown = o.top < k ? o.top : k;
        bool *used = calloc((size_t)k, 1);
        printf("  ");
        for (int64_t t = 0; used && t < shown; t++) {
            int64_t b = -1;
            for (int64_t j = 0; j < k; j++)
                if (!used[j] && (b < 0 || q[j] > q[b]))
                    b = j;
            used[b] = true;
            const char *nm = nn_model_class_name(m, b);
            if (nm)
                printf("%s%s %.4f", t ? ", " : "", nm, (double)q[b]);
            else
                printf("%s%lld %.4f", t ? ", " : "", (long long)b, (double)q[b]);
        }
        free(used);
        printf("\n");
    }
    rc = 0;
done:
    free(x);
    free(p);
    free_files(files, nfiles);
    nn_dataset_free(ds);
    cli_recorded_close(&rec);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return rc;
}

/* nn info on a safetensors file that is not a libnn checkpoint. */
static int info_foreign(nn_ctx *ctx, const char *path, const char *why)
{
    nn_safetensors *st = nn_safetensors_open(ctx, path);
    if (!st)
        return cli_fail("info", "%s", why);
    int64_t elements = 0;
    for (int i = 0; i < nn_safetensors_count(st); i++)
        elements += nn_safetensors_at(st, i)->numel;
    printf("file:        %s\n", path);
    printf("model:       (not a libnn checkpoint: no model spec)\n");
    printf("tensors:     %d (%lld elements)\n", nn_safetensors_count(st), (long long)elements);
    nn_safetensors_close(st);
    return 0;
}

/* The optimizer's hyperparameters that apply to its kind, as
 * "momentum 0.9, weight_decay 0" into buf (its defaults filled in). */
static void optim_params(const struct nn_optim_cfg *c, char *buf, size_t size)
{
    struct { const char *name; double v; unsigned kinds; } f[] = {
#define K(x) (1u << NN_OPTIM_##x)
        {"momentum", c->momentum, K(MOMENTUM) | K(NESTEROV) | K(RMSPROP)},
        {"dampening", c->dampening, K(MOMENTUM)},
        {"beta1", c->beta1, K(ADAM) | K(ADAMW)},
        {"beta2", c->beta2, K(ADAM) | K(ADAMW)},
        {"eps", c->eps, K(ADAM) | K(ADAMW) | K(ADAGRAD) | K(ADADELTA) | K(RMSPROP) | K(ADAFACTOR)},
        {"eps2", c->eps2, K(ADAFACTOR)},
        {"rho", c->rho, K(ADADELTA)},
        {"alpha", c->alpha, K(RMSPROP)},
        {"lr_decay", c->lr_decay, K(ADAGRAD)},
        {"initial_accumulator", c->initial_accumulator_value, K(ADAGRAD)},
        {"beta2_decay", c->beta2_decay, K(ADAFACTOR)},
        {"clip_threshold", c->clip_threshold, K(ADAFACTOR)},
        {"weight_decay", c->weight_decay, ~(1u << NN_OPTIM_LBFGS)},
#undef K
    };
    size_t k = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof f / sizeof f[0] && k < size; i++)
        if (f[i].kinds & (1u << c->kind))
            k += (size_t)snprintf(buf + k, size - k, "%s%s %g", k ? ", " : "", f[i].name, f[i].v);
    if (k < size && c->decoupled)
        k += (size_t)snprintf(buf + k, size - k, ", decoupled");
    if (k < size && c->amsgrad)
        k += (size_t)snprintf(buf + k, size - k, ", amsgrad");
    if (k < size && c->centered)
        k += (size_t)snprintf(buf + k, size - k, ", centered");
    if (k < size && c->kind == NN_OPTIM_LBFGS)
        snprintf(buf + k, size - k, "history_size %d, max_iter %d, max_eval %d, "
                 "tolerance_grad %g, tolerance_change %g, line_search %s", c->history_size,
                 c->max_iter, c->max_eval, (double)c->tolerance_grad,
                 (double)c->tolerance_change,
                 c->line_search == NN_LINE_SEARCH_STRONG_WOLFE ? "strong_wolfe" : "none");
}

static void info_training(const struct nn_checkpoint_info *in, bool regression)
{
    const struct nn_train_cfg *t = &in->train;
    char sched[256], hyper[512];
    nn_schedule_format(&t->schedule, sched, sizeof sched);
    optim_params(&t->optim, hyper, sizeof hyper);
    printf("optimizer:   %s, lr %g (configured), %lld steps\n", nn_optim_name(t->optim.kind),
           (double)t->optim.lr, (long long)in->optim_steps);
    if (hyper[0])
        printf("             %s\n", hyper);
    printf("schedule:    %s\n", sched);
    printf("training:    %d of %d epochs (batch %lld)\n", in->epochs_done, t->epochs,
           (long long)t->batch);
    if (in->epochs_done == 0)
        return;
    printf("  training loss and %s: %s\n", regression ? "errors" : "accuracy",
           t->train_eval ? "eval (whole training set in evaluation mode, epoch end)"
                         : "running (averages over the epoch's batches, dropout on)");
    if (regression)
        printf("  epoch      loss       mae      rmse   val_loss   val_mae  val_rmse\n");
    else
        printf("  epoch      loss  accuracy   val_loss   val_acc\n");
    for (int i = 0; i < in->epochs_done; i++) {
        const struct nn_epoch_stats *e = &in->history[i];
        double cols[6];
        int nc = regression ? 6 : 4, half = nc / 2;
        if (regression) {
            double v[6] = {e->train.loss, e->train.mae, sqrt(e->train.mse),
                           e->val.n ? e->val.loss : NAN, e->val.n ? e->val.mae : NAN,
                           e->val.n ? sqrt(e->val.mse) : NAN};
            memcpy(cols, v, sizeof v);
        } else {
            double v[4] = {e->train.loss, e->train.accuracy, e->val.n ? e->val.loss : NAN,
                           e->val.n ? e->val.accuracy : NAN};
            memcpy(cols, v, sizeof v);
        }
        printf("  %5d", e->epoch);
        for (int c = 0; c < nc; c++) {
            if (isfinite(cols[c]))
                printf(c == half ? "  %9.4f" : " %9.4f", cols[c]);
            else
                printf(c == half ? "  %9s" : " %9s", "-");
        }
        printf("\n");
    }
    if (in->best_epoch > 0)
        printf("best epoch:  %d%s\n", in->best_epoch, in->stopped_early ? " (stopped early)" : "");
}

/* A JSON string (quoted and escaped) to stdout; null for NULL. */
static void json_str(const char *s)
{
    cJSON *js = s ? cJSON_CreateString(s) : NULL;
    char *q = js ? cJSON_PrintUnformatted(js) : NULL;
    printf("%s", q ? q : "null");
    cJSON_free(q);
    cJSON_Delete(js);
}

static double json_num(double v) { return isfinite(v) ? v : 0; }

/* nn info --json: one object. */
static void info_json(nn_checkpoint *ck, const struct nn_checkpoint_info *in, const nn_model *m,
                      bool regression)
{
    static const char *const loss[] = {"auto", "cross_entropy", "bce", "mse"};
    printf("{\"file\": ");
    json_str(in->path);
    printf(", \"model\": ");
    json_str(in->spec);
    printf(", \"parameters\": %lld, \"loss\": \"%s\", ", (long long)in->parameters,
           loss[in->loss]);
    if (m) {
        cli_layer_table(stdout, m, true);
        printf(", ");
    }
    printf("\"classes\": [");
    for (int64_t i = 0; i < in->nclasses; i++) {
        printf(i ? ", " : "");
        json_str(in->class_names[i]);
    }
    printf("]");
    const char *keys[] = {"data", "label", "task", "header", "ignore", "columns", "seed", "init",
                          "created"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = nn_checkpoint_meta(ck, keys[i]);
        if (v) {
            printf(", \"%s\": ", keys[i]);
            if (strcmp(keys[i], "columns") == 0 && v[0] == '[')
                printf("%s", v); /* a JSON array already */
            else
                json_str(v);
        }
    }
    if (in->has_trainer) {
        const struct nn_train_cfg *t = &in->train;
        char sched[256], hyper[512];
        nn_schedule_format(&t->schedule, sched, sizeof sched);
        optim_params(&t->optim, hyper, sizeof hyper);
        printf(", \"optimizer\": {\"name\": \"%s\", \"lr\": %g, \"hyperparameters\": ",
               nn_optim_name(t->optim.kind), (double)t->optim.lr);
        json_str(hyper);
        printf(", \"steps\": %lld}, \"schedule\": ", (long long)in->optim_steps);
        json_str(sched);
        printf(", \"batch\": %lld, \"epochs\": %d, \"epochs_done\": %d, \"history\": [",
               (long long)t->batch, t->epochs, in->epochs_done);
        for (int i = 0; i < in->epochs_done; i++) {
            const struct nn_epoch_stats *e = &in->history[i];
            printf("%s{\"epoch\": %d, \"loss\": %.6g", i ? ", " : "", e->epoch,
                   json_num(e->train.loss));
            if (regression)
                printf(", \"mae\": %.6g, \"rmse\": %.6g", json_num(e->train.mae),
                       json_num(sqrt(e->train.mse)));
            else
                printf(", \"accuracy\": %.6g", json_num(e->train.accuracy));
            if (e->val.n) {
                printf(", \"val_loss\": %.6g", json_num(e->val.loss));
                if (regression)
                    printf(", \"val_mae\": %.6g, \"val_rmse\": %.6g", json_num(e->val.mae),
                           json_num(sqrt(e->val.mse)));
                else
                    printf(", \"val_accuracy\": %.6g", json_num(e->val.accuracy));
            }
            printf("}");
        }
        printf("]");
    }
    printf("}\n");
}

/* The training CSV's columns as recorded (a JSON array of names, null
 * without a header): "columns      id, a, b" or "columns      4 (no header)". */
static void info_columns(const char *json)
{
    cJSON *a = json ? cJSON_Parse(json) : NULL;
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    if (n > 0 && cJSON_IsString(cJSON_GetArrayItem(a, 0))) {
        printf("%-12s", "columns");
        for (int c = 0; c < n; c++) {
            const cJSON *it = cJSON_GetArrayItem(a, c);
            printf("%s%s", c ? ", " : " ", cJSON_IsString(it) ? it->valuestring : "?");
        }
        printf("\n");
    } else if (n > 0) {
        printf("%-12s %d (no header: matched by position)\n", "columns", n);
    }
    cJSON_Delete(a);
}

int cmd_info(int argc, char **argv)
{
    struct opts o = {0};
    const char *path;
    if (!cli_parse(CMD_INFO, argc, argv, &o, &path))
        return 2;
    if (o.model) { /* --spec SPEC: as nn summary */
        if (path)
            return cli_fail("info", "give a checkpoint or --spec, not both (%s)", path), 2;
        char *args[3] = {(char *)o.model, o.json ? "--json" : NULL, NULL};
        return cmd_summary(o.json ? 2 : 1, args);
    }
    if (!path)
        return cli_fail("info", "give a checkpoint, e.g. nn info model.safetensors"), 2;
    nn_ctx *ctx = nn_ctx_new(NULL);
    if (!ctx)
        return 1;
    nn_checkpoint *ck = nn_checkpoint_open(ctx, path);
    if (!ck) {
        char why[512];
        snprintf(why, sizeof why, "%s", nn_ctx_error(ctx));
        int rc = info_foreign(ctx, path, why);
        nn_ctx_free(ctx);
        return rc;
    }
    const struct nn_checkpoint_info *in = nn_checkpoint_info(ck);
    /* the layers' shapes (a model that no longer builds shows none) */
    nn_model *m = nn_model_new(ctx, in->spec, &(struct nn_model_cfg){.max_batch = 1,
                                                                     .loss = in->loss});
    nn_ctx_clear_error(ctx);
    bool regression = m ? nn_model_loss_kind(m) == NN_LOSS_MSE : in->loss == NN_LOSS_MSE;
    if (o.json) {
        info_json(ck, in, m, regression);
        nn_model_free(m);
        nn_checkpoint_close(ck);
        nn_ctx_free(ctx);
        return 0;
    }
    static const char *const loss[] = {"auto", "cross_entropy", "bce", "mse"};
    printf("file:        %s\n", path);
    printf("model:       %s\n", in->spec);
    printf("parameters:  %lld\n", (long long)in->parameters);
    if (m)
        cli_layer_table(stdout, m, false);
    printf("%-12s %s\n", "loss", loss[in->loss]);
    if (in->has_norm)
        printf("%-12s %s\n", "norm", nn_norm_name(in->norm.kind));
    const char *keys[] = {"image", "augment", "data", "label", "task", "header", "ignore",
                          "val_split", "val_data", "test_data",
                          "seed", "init", "dropout", "threads", "created", "test",
                          "imported_from", "stats", "layer_stats"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *v = nn_checkpoint_meta(ck, keys[i]);
        if (v && strcmp(keys[i], "task") == 0 && strcmp(v, "auto") == 0)
            printf("%-12s auto (%s)\n", keys[i], regression ? "regression" : "classification");
        else if (v)
            printf("%-12s %s\n", keys[i], v);
    }
    info_columns(nn_checkpoint_meta(ck, "columns"));
    if (in->nclasses > 0) {
        printf("classes:    ");
        for (int64_t i = 0; i < in->nclasses; i++)
            printf(" %s", in->class_names[i]);
        printf("\n");
    }
    if (in->has_trainer)
        info_training(in, regression);
    nn_model_free(m);
    nn_checkpoint_close(ck);
    nn_ctx_free(ctx);
    return 0;
}
