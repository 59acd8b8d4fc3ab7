/*
 * opts.c - the command-line options of nn: one table that drives parsing,
 * validation, INI config files (libinih) and the help text.
 */
#include "cli.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum type { T_STR, T_INT, T_U64, T_NUM, T_BOOL };

struct opt {
    const char *name, *meta;
    enum type type;
    size_t off;
    double lo, hi; /* accepted range of numbers */
    int cmds;
    const char *help;
};

#define TR CMD_TRAIN
#define EV CMD_EVAL
#define PR CMD_PREDICT
#define IM CMD_IMPORT
#define DATA (CMD_TRAIN | CMD_EVAL)
#define GR CMD_GRAPH
#define PL CMD_PLOT
#define O(f) offsetof(struct opts, f)
#define BIG 1e18

static const struct opt table[] = {
    {"data", "SRC", T_STR, O(data), 0, 0, DATA | PL,
     "data: fashion-mnist (train's default; eval's and plot's is the data the checkpoint "
     "records), FILE.csv, DIR/ (one subfolder per class) or "
     "idx:IMAGES,LABELS"},
    {"label", "COL", T_STR, O(label), 0, 0, DATA | PL,
     "CSV label column: header name or 0-based index (-1 = last); default: the last column "
     "(eval: the checkpoint's)"},
    {"task", "KIND", T_STR, O(task), 0, 0, DATA | PL | IM,
     "CSV labels: auto, classify or regress (default auto: whole numbers below 1000 with at "
     "most 20 distinct values, or names, are classes; other numbers are regression "
     "targets); import: classify (cross-entropy, or bce after a final sigmoid) or regress "
     "(mse), recorded for eval's CSV labels"},
    {"ignore", "COL,...", T_STR, O(ignore), 0, 0, TR,
     "CSV columns to leave out, such as an id: header names or 0-based indices, "
     "comma-separated (recorded: eval and predict leave them out too)"},
    {"header", "yes|no|auto", T_STR, O(header), 0, 0, DATA | PR | PL,
     "whether a CSV file's first row names the columns; auto (default): it does when it "
     "has text above numbers"},
    {"normalize", "KIND", T_STR, O(normalize), 0, 0, TR | IM,
     "standard, minmax, scale255 or none (default: standard for CSV, scale255 for images); "
     "import: required, scale255, standard (with --mean and --std) or none"},
    {"mean", "LIST", T_STR, O(mean), 0, 0, IM,
     "import --normalize standard: the mean subtracted, in the data's raw units (pixels "
     "0-255): one number, one per channel, or one per feature, comma-separated"},
    {"std", "LIST", T_STR, O(std), 0, 0, IM,
     "import --normalize standard: the standard deviation divided by, as --mean"},
    {"classes", "A,B,...", T_STR, O(classes), 0, 0, IM,
     "import: the class names, one per output (shown by predict)"},
    {"map", "FILE", T_STR, O(map), 0, 0, IM,
     "import: 'libnn_name = torch_name' lines assigned before the file's order ('- = NAME' "
     "leaves a tensor out)"},
    {"image-size", "WxH[xC]", T_STR, O(image_size), 0, 0, DATA | PR,
     "image size, e.g. 64x64x3 (default: the first image's)"},
    {"resize", NULL, T_BOOL, O(resize), 0, 0, DATA | PR,
     "resize images of another size instead of rejecting them"},
    {"val", "SRC", T_STR, O(val), 0, 0, TR, "validation data (same forms as --data)"},
    {"val-split", "F", T_NUM, O(val_split), 0, 0.9, TR,
     "hold out this fraction of the training data for validation (seeded)"},
    {"split-seed", "N", T_INT, O(split_seed), 0, 1e18, TR,
     "the seed of --val-split's choice of samples (default: --seed), so that runs of "
     "different seeds can share one validation set (as nn sweep's restarts do)"},
    {"test", "SRC", T_STR, O(test), 0, 0, TR,
     "test data to evaluate at the end (fashion-mnist: its test split by default)"},
    {"split", "NAME", T_STR, O(split), 0, 0, EV,
     "built-in data split to evaluate: test (default) or train"},
    {"model", "SPEC", T_STR, O(model), 0, 0, TR | IM,
     "model spec, e.g. \"784 dense:256 relu dropout:0.2 dense:10 softmax\" (see nn help "
     "model)"},
    {"init", "INIT", T_STR, O(init), 0, 0, TR,
     "weights of every dense layer that names none (see nn help init): zeros, constant:C, "
     "normal[:STD] (0.01), uniform[:A] (0.05), xavier_uniform, xavier_normal, he_normal, "
     "he_uniform (default: he_normal before relu, xavier_uniform otherwise)"},
    {"bias-init", "INIT", T_STR, O(bias_init), 0, 0, TR,
     "biases of every dense layer that names none, same forms as --init (default zeros)"},
    {"loss", "NAME", T_STR, O(loss), 0, 0, TR | IM,
     "cross_entropy, bce or mse (default: cross_entropy for class labels unless the "
     "model ends in sigmoid, else mse)"},
    {"dropout", "P", T_NUM, O(dropout), 0, 0.99, TR,
     "rate of dropout layers written without one (default 0.5)"},
    {"epochs", "N", T_INT, O(epochs), 1, 1e6, TR, "epochs to train (default 10)"},
    {"batch", "N", T_INT, O(batch), 1, 1 << 20, TR | EV | PR,
     "train: mini-batch size (default 64; 1 = stochastic gradient descent, the data "
     "size = full-batch); eval, predict: samples per forward pass (default 256; the "
     "results do not depend on it)"},
    {"drop-last", NULL, T_BOOL, O(drop_last), 0, 0, TR, "skip the last partial batch"},
    {"no-shuffle", NULL, T_BOOL, O(no_shuffle), 0, 0, TR, "keep the data order every epoch"},
    {"augment", "SPEC", T_STR, O(augment), 0, 0, TR,
     "augment training images, never validation or test ones: shift:N moves each by up to "
     "N pixels along each axis (vacated pixels 0), flip mirrors it left-right with "
     "probability 1/2, e.g. shift:2,flip; drawn anew each epoch from --seed; kept by "
     "--resume (none: off)"},
    {"seed", "N", T_U64, O(seed), 0, 0, TR | GR,
     "random seed (default 1; graph: of a spec's initial weights)"},
    {"threads", "N", T_INT, O(threads), 0, 1024, TR | EV | PR,
     "cores to use in total (default 0 = all)"},
    {"optim", "NAME", T_STR, O(optim), 0, 0, TR,
     "sgd momentum nesterov adagrad adadelta rmsprop adam adamw adafactor lbfgs (default "
     "adam); lbfgs is full-batch: --batch defaults to the training set's size, and each "
     "epoch is one step of up to --max-iter iterations"},
    {"lr", "F", T_NUM, O(lr), 0, 1e6, TR, "learning rate (default: sgd, momentum, nesterov, adagrad, rmsprop, "
     "adafactor 0.01; adadelta, lbfgs 1; adam, adamw 1e-3)"},
    {"momentum", "F", T_NUM, O(momentum), 0, 0.999999, TR,
     "momentum (momentum, nesterov: default 0.9; rmsprop: 0)"},
    {"dampening", "F", T_NUM, O(dampening), 0, 1, TR, "momentum dampening (default 0)"},
    {"weight-decay", "F", T_NUM, O(weight_decay), 0, 1e3, TR,
     "weight decay (coupled L2 in the gradient; decoupled for adamw or with --decoupled); "
     "default 0, adamw 0.01"},
    {"decoupled", NULL, T_BOOL, O(decoupled), 0, 0, TR,
     "decoupled weight decay: w -= lr * wd * w before the update"},
    {"beta1", "F", T_NUM, O(beta1), 0, 0.999999, TR, "adam first-moment decay (0.9)"},
    {"beta2", "F", T_NUM, O(beta2), 0, 0.999999, TR, "adam second-moment decay (0.999)"},
    {"eps", "F", T_NUM, O(eps), 0, 1, TR,
     "denominator epsilon (adam, adamw, rmsprop 1e-8; adagrad 1e-10; adadelta 1e-6; "
     "adafactor eps1: float32 machine epsilon)"},
    {"rho", "F", T_NUM, O(rho), 0, 0.999999, TR, "adadelta decay (0.9)"},
    {"alpha", "F", T_NUM, O(alpha), 0, 0.999999, TR, "rmsprop smoothing (0.99)"},
    {"eps2", "F", T_NUM, O(eps2), 0, 1, TR,
     "adafactor: floor of the parameter scale in the relative step (1e-3)"},
    {"beta2-decay", "F", T_NUM, O(beta2_decay), -1e6, 0, TR,
     "adafactor: second-moment decay exponent, negative (-0.8)"},
    {"clip-threshold", "F", T_NUM, O(clip_threshold), 1, 1e9, TR,
     "adafactor: update clipping threshold d, >= 1 (1.0)"},
    {"lr-decay", "F", T_NUM, O(lr_decay), 0, 1e6, TR,
     "adagrad: learning-rate decay, lr / (1 + (t - 1) lr_decay) (0)"},
    {"initial-accumulator", "F", T_NUM, O(initial_accumulator), 0, 1e6, TR,
     "adagrad: initial value of the squared-gradient sums (0)"},
    {"amsgrad", NULL, T_BOOL, O(amsgrad), 0, 0, TR, "adam/adamw: the amsgrad variant"},
    {"centered", NULL, T_BOOL, O(centered), 0, 0, TR, "rmsprop: the centered variant"},
    {"history", "N", T_INT, O(history), 1, 1e6, TR,
     "lbfgs: curvature pairs kept (torch's history_size, default 100)"},
    {"max-iter", "N", T_INT, O(max_iter), 1, 1e6, TR,
     "lbfgs: iterations per step, i.e. per epoch (default 20)"},
    {"max-eval", "N", T_INT, O(max_eval), 1, 1e7, TR,
     "lbfgs: loss evaluations per step (default --max-iter * 5 / 4)"},
    {"tolerance-grad", "F", T_NUM, O(tolerance_grad), 0, 1e9, TR,
     "lbfgs: a step ends when no gradient element exceeds F in size (1e-7)"},
    {"tolerance-change", "F", T_NUM, O(tolerance_change), 0, 1e9, TR,
     "lbfgs: a step ends when the loss or the parameters change by less than F (1e-9)"},
    {"line-search", "KIND", T_STR, O(line_search), 0, 0, TR,
     "lbfgs: none (a fixed step of --lr along the direction) or strong_wolfe (default "
     "none)"},
    {"l1", "F", T_NUM, O(l1), 0, 1e3, TR, "L1 penalty l1 * |W|_1 on weights"},
    {"l2", "F", T_NUM, O(l2), 0, 1e3, TR, "L2 penalty (l2 / 2) * |W|^2 on weights"},
    {"penalize-biases", NULL, T_BOOL, O(penalize_biases), 0, 0, TR,
     "apply --l1/--l2 to biases too"},
    {"decay-biases", NULL, T_BOOL, O(decay_biases), 0, 0, TR,
     "apply --weight-decay to biases too"},
    {"clip-norm", "F", T_NUM, O(clip_norm), 0, 1e9, TR,
     "clip the global gradient norm to F (default off)"},
    {"schedule", "SPEC", T_STR, O(schedule), 0, 0, TR,
     "learning-rate schedule (see nn help schedule): constant, step:N:G, exp:G, cos, "
     "warmup:N, plateau"},
    {"patience", "N", T_INT, O(patience), 0, 1e6, TR,
     "early stopping: epochs without validation improvement (default off)"},
    {"min-delta", "F", T_NUM, O(min_delta), 0, 1e9, TR,
     "early stopping: improvement that resets the patience (default 0)"},
    {"monitor", "WHAT", T_STR, O(monitor), 0, 0, TR,
     "what early stopping (--patience) and the plateau schedule watch: val_loss or "
     "val_acc (default val_loss; val_acc needs validation data)"},
    {"tol", "T", T_NUM, O(tol), 0, 1e9, TR,
     "stop at convergence when the training loss improved by less than T relative to "
     "its best for --patience epochs (default 1); no validation needed (default 0 = off)"},
    {"schedule-unit", "UNIT", T_STR, O(schedule_unit), 0, 0, TR,
     "how often the --schedule's rate changes: epoch, or step (every batch, as a "
     "torch.optim.lr_scheduler stepped after each optimizer step; the schedule's counts "
     "are then in batches, a cosine spans every batch of the run; not plateau) "
     "(default epoch)"},
    {"train-metrics", "KIND", T_STR, O(train_metrics), 0, 0, TR,
     "training loss and accuracy per epoch: running (averages over the epoch's batches, "
     "dropout on) or eval (the whole training set in evaluation mode at the epoch's end) "
     "(default running)"},
    {"keep-last", NULL, T_BOOL, O(keep_last), 0, 0, TR,
     "early stopping: keep the last weights instead of the best"},
    {"reproducible", NULL, T_BOOL, O(reproducible), 0, 0, TR,
     "the same weights, bit for bit, for any number of mpirun ranks (1, 2, 4) and "
     "threads: each batch's gradient is summed over 4 fixed chunks in order (batch norm's "
     "batch statistics are each chunk's)"},
    {"out", "FILE", T_STR, O(out), 0, 0, TR | PL | IM,
     "train: the checkpoint to write after every epoch (default model.safetensors; with "
     "--resume, the file resumed); plot: the PNG to write (default: beside the model, "
     "MODEL-curves.png, MODEL-boundary.png or MODEL-fit.png); import: the checkpoint to write (required)"},
    {"save-every", "N", T_INT, O(save_every), 1, 1e6, TR,
     "write the checkpoint every N epochs and after the last (default 1; a long full-batch "
     "run of a small model spends most of its time writing checkpoints otherwise); Ctrl-C "
     "keeps the last one written"},
    {"resume", "FILE", T_STR, O(resume), 0, 0, TR,
     "continue a run from its checkpoint with all its settings (data, model, optimizer, "
     "schedule, ...); only --epochs and the outputs may be given, or flags repeating them"},
    {"log", "FILE", T_STR, O(log), 0, 0, TR, "write per-epoch metrics as CSV"},
    {"stats", "FILE", T_STR, O(stats), 0, 0, TR,
     "write per-layer statistics after every epoch as CSV (columns epoch, layer, op, kind, "
     "units, mean, std, unit_std, dead, grad_norm), measured in evaluation mode on the training set's first "
     "batch (its first --batch samples, at most 256), so training is unchanged: each "
     "activation's mean and standard deviation, unit_std the spread across a sample's units "
     "(0: every unit the same, as after a constant initialization), dead the fraction of relu "
     "units 0 for every sample of that batch, grad_norm the L2 norm of each node's gradient "
     "of the loss (vanishing toward the input with deep sigmoid nets). nn info shows the last "
     "epoch's; a resumed run appends to the recorded file"},
    {"force", NULL, T_BOOL, O(force), 0, 0, TR,
     "replace an --out file that holds another model (default: refuse)"},
    {"plot", "FILE", T_STR, O(plot), 0, 0, TR | EV,
     "train: draw loss and accuracy per epoch to a PNG; eval: draw the confusion matrix "
     "(classifiers) to a PNG"},
    {"confusion", NULL, T_BOOL, O(confusion), 0, 0, EV,
     "eval: print the confusion matrix (rows: true class, columns: predicted) and each "
     "class's accuracy"},
    {"spec", "SPEC", T_STR, O(model), 0, 0, CMD_INFO,
     "info: the layer table of a model spec instead of a checkpoint (as nn summary)"},
    {"input", "FILE", T_STR, O(input), 0, 0, PR,
     "inputs to predict: a CSV of features (a label column the model was trained with is "
     "dropped), an image, a folder of images, or an IDX images file (default: the data the "
     "checkpoint records)"},
    {"top", "K", T_INT, O(top), 1, 1000, PR | EV,
     "predict: show the K most likely classes (default 3); eval: also the top-K accuracy, "
     "the fraction whose true class is among the K most likely (default: off)"},
    {"json", NULL, T_BOOL, O(json), 0, 0, EV | PR | CMD_INFO | CMD_SUMMARY,
     "machine-readable output"},
    {"quiet", NULL, T_BOOL, O(quiet), 0, 0, TR | EV | PR | IM,
     "print only results, warnings and errors"},
    {"config", "FILE", T_STR, O(config), 0, 0, TR | EV | PR | IM,
     "read options from an INI file (key = value, keys as the long options); "
     "flags given on the command line override it"},
    {"dot", NULL, T_BOOL, O(dot), 0, 0, GR,
     "write the graph as Graphviz DOT to standard output (the default without --png and "
     "--svg)"},
    {"png", "FILE", T_STR, O(png), 0, 0, GR, "draw the graph to a PNG file (with Graphviz)"},
    {"svg", "FILE", T_STR, O(svg), 0, 0, GR, "draw the graph to an SVG file (with Graphviz)"},
    {"values", "INPUT", T_STR, O(values), 0, 0, GR,
     "show each node's value for one input (green) and its gradient after a backward pass "
     "from the loss (red): a row of numbers (\"0.5,1,-2\", or a CSV file's first data row) of "
     "the model's inputs, optionally followed by the label (the recorded label column of a "
     "CSV file with a header), or an image file for an image model"},
    {"label-value", "V", T_STR, O(label_value), 0, 0, GR,
     "the label of --values' input when the row has none: a class (index or name) or the "
     "targets (comma-separated); default for a classifier: the class it predicts (a "
     "regression model needs one)"},
    {"boundary", NULL, T_BOOL, O(boundary), 0, 0, PL,
     "draw a 2-input classifier's decision regions (a fine grid coloured by the predicted "
     "class, paler where the model is less sure, boundaries in grey) with the data's points "
     "over them, coloured by their true class"},
    {"restarts", "N", T_INT, O(restarts), 1, 10000, CMD_SWEEP,
     "sweep: runs of each setting, restart r (0, 1, ...) with seed --seed + r (default 1)"},
    {"jobs", "N", T_INT, O(jobs), 1, 1024, CMD_SWEEP,
     "sweep: runs in parallel, each on one core (default: the number of cores)"},
    {"out-dir", "DIR", T_STR, O(out_dir), 0, 0, CMD_SWEEP,
     "sweep: the folder of its results (created; required): sweep.csv, best.safetensors, "
     "sweep.png and each setting's best model under models/"},
    {"curves", NULL, T_BOOL, O(curves), 0, 0, PL,
     "draw the learning curves the checkpoint records (loss and accuracy, or MAE, per epoch, "
     "training and validation, and the test result), as nn train --plot does; what nn plot "
     "draws when neither --boundary nor --fit is given"},
    {"fit", NULL, T_BOOL, O(fit), 0, 0, PL,
     "draw the curves of 1-input, 1-output regression models (give several checkpoints "
     "separated by commas: A.safetensors,B.safetensors) over the data's points, each "
     "with its mean squared error on them"},
    {"all", NULL, T_BOOL, O(all), 0, 0, CMD_GRADCHECK, "check every op"},
    {"op", "NAME", T_STR, O(op), 0, 0, CMD_GRADCHECK, "check one op"},
};
#define NOPT ((int)(sizeof table / sizeof table[0]))
_Static_assert(sizeof table / sizeof table[0] <= CLI_MAX_OPTS, "struct opts.given is too small");

const char *cli_fail_where;

const char *cli_cmd;

int cli_fail(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (cmd)
        fprintf(stderr, "nn %s: ", cmd);
    else
        fputs("nn: ", stderr);
    if (cli_fail_where)
        fprintf(stderr, "%s: ", cli_fail_where);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

/* nn sweep takes nn train's options but those naming one run's files,
 * its threads (each run has one) and --config (the sweep is its command
 * line), and adds its own. */
static const char *const not_in_sweep[] = {"out", "resume", "log", "plot", "stats",
                                           "force", "threads", "config", "save-every"};

static bool applies(const struct opt *p, int cmd)
{
    if (p->cmds & cmd)
        return true;
    if (cmd != CMD_SWEEP || !(p->cmds & CMD_TRAIN))
        return false;
    for (size_t i = 0; i < sizeof not_in_sweep / sizeof not_in_sweep[0]; i++)
        if (strcmp(p->name, not_in_sweep[i]) == 0)
            return false;
    return true;
}

static const char *cmd_name(int cmd)
{
    switch (cmd) {
    case CMD_TRAIN: return "train";
    case CMD_EVAL: return "eval";
    case CMD_PREDICT: return "predict";
    case CMD_INFO: return "info";
    case CMD_GRAPH: return "graph";
    case CMD_PLOT: return "plot";
    case CMD_IMPORT: return "import";
    case CMD_SWEEP: return "sweep";
    default: return "gradcheck";
    }
}

static const struct opt *find(const char *name)
{
    for (int i = 0; i < NOPT; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

bool cli_given(const struct opts *o, const char *name)
{
    const struct opt *p = find(name);
    return p && o->given[p - table];
}

int cli_given_names(const struct opts *o, const char **names, int max)
{
    int n = 0;
    for (int i = 0; i < NOPT && n < max; i++)
        if (o->given[i])
            names[n++] = table[i].name;
    return n;
}

/* Stores one option value; where says where it came from for messages. */
static bool set(int cmd, struct opts *o, const struct opt *p, const char *val, const char *where)
{
    char *base = (char *)o;
    char *end = NULL;
    errno = 0;
    switch (p->type) {
    case T_STR:
        if (!*val) {
            cli_fail(cmd_name(cmd), "%s--%s needs a non-empty value", where, p->name);
            return false;
        }
        *(const char **)(void *)(base + p->off) = val;
        break;
    case T_BOOL:
        if (!val || strcmp(val, "1") == 0 || strcmp(val, "true") == 0 || strcmp(val, "yes") == 0)
            *(bool *)(base + p->off) = true;
        else if (strcmp(val, "0") == 0 || strcmp(val, "false") == 0 || strcmp(val, "no") == 0)
            *(bool *)(base + p->off) = false;
        else {
            cli_fail(cmd_name(cmd), "%s--%s takes true or false, not '%s'", where, p->name, val);
            return false;
        }
        break;
    case T_INT: {
        long long v = strtoll(val, &end, 10);
        if (end == val || *end || errno || v < p->lo || v > p->hi) {
            cli_fail(cmd_name(cmd), "%s--%s must be an integer from %.0f to %.0f, not '%s'",
                     where, p->name, p->lo, p->hi, val);
            return false;
        }
        *(int64_t *)(void *)(base + p->off) = v;
        break;
    }
    case T_U64: {
        unsigned long long v = strtoull(val, &end, 10);
        if (end == val || *end || errno || val[0] == '-') {
            cli_fail(cmd_name(cmd), "%s--%s must be a non-negative integer, not '%s'", where,
                     p->name, val);
            return false;
        }
        *(uint64_t *)(void *)(base + p->off) = v;
        break;
    }
    case T_NUM: {
        double v = strtod(val, &end);
        if (end == val || *end || errno || !isfinite(v) || v < p->lo || v > p->hi) {
            cli_fail(cmd_name(cmd), "%s--%s must be a number from %g to %g, not '%s'", where,
                     p->name, p->lo, p->hi, val);
            return false;
        }
        *(double *)(void *)(base + p->off) = v;
        break;
    }
    }
    o->given[p - table] = true;
    return true;
}

/* " (did you mean --NAME?)" for the option of cmd nearest to name, if one is
 * within two edits (or name is a prefix of exactly one); "" otherwise. */
static const char *suggest(int cmd, const char *name, char *buf, size_t size)
{
    /* other libraries' names for ours, too far from them to be found by
     * spelling (Keras's learning_rate, a num_epochs, a bs ...) */
    static const char *const synonyms[][2] = {
        {"learning-rate", "lr"}, {"rate", "lr"}, {"step-size", "lr"},
        {"num-epochs", "epochs"}, {"n-epochs", "epochs"}, {"max-epochs", "epochs"},
        {"bs", "batch"}, {"mini-batch", "batch"}, {"minibatch", "batch"},
        {"early-stopping", "patience"}, {"early-stop", "patience"},
        {"layers", "model"}, {"arch", "model"}, {"architecture", "model"}, {"net", "model"},
        {"num-threads", "threads"}, {"nthreads", "threads"}, {"jobs", "threads"},
        {"checkpoint", "out"}, {"output", "out"}, {"save", "out"},
        {"continue", "resume"}, {"load", "resume"}, {"target", "label"}, {"labels", "label"},
    };
    char norm[64]; /* '_' read as '-' */
    snprintf(norm, sizeof norm, "%s", name);
    for (char *c = norm; *c; c++)
        *c = *c == '_' ? '-' : *c;
    for (size_t i = 0; i < sizeof synonyms / sizeof synonyms[0]; i++) {
        const struct opt *p = strcmp(norm, synonyms[i][0]) == 0 ? find(synonyms[i][1]) : NULL;
        if (p && applies(p, cmd)) {
            snprintf(buf, size, " (did you mean --%s?)", p->name);
            return buf;
        }
    }
    const char *best = NULL;
    int bd = 3, prefixes = 0;
    const char *prefix = NULL;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (!applies(&table[i], cmd))
            continue;
        int d = nn_edit_distance(name, table[i].name);
        if (d < bd)
            bd = d, best = table[i].name;
        size_t tl = strlen(table[i].name);
        /* --epo for --epochs, --optimizer for --optim */
        if ((*name && strncmp(table[i].name, name, strlen(name)) == 0) ||
            (tl >= 4 && strncmp(name, table[i].name, tl) == 0))
            prefixes++, prefix = table[i].name;
    }
    if (prefixes == 1 && strlen(name) >= 3)
        best = prefix;
    if (!best)
        return "";
    snprintf(buf, size, " (did you mean --%s?)", best);
    return buf;
}

struct ini_state {
    int cmd;
    struct opts *o;
    bool cmdline[CLI_MAX_OPTS]; /* given on the command line: the file must not override */
    const char *path;
    bool ok;
};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct ini_state *s = user;
    (void)section; /* sections only group keys for the reader */
    char where[600];
    const struct opt *p = find(name);
    if (!p || !applies(p, s->cmd) || strcmp(name, "config") == 0) {
        char hint[96];
        cli_fail(cmd_name(s->cmd), "%s: unknown option '%s' for nn %s%s (see: nn help %s)",
                 s->path, name, cmd_name(s->cmd), suggest(s->cmd, name, hint, sizeof hint),
                 cmd_name(s->cmd));
        s->ok = false;
        return 0;
    }
    if (s->cmdline[p - table])
        return 1;
    /* inih reuses its buffers: keep a copy of the value in the options */
    size_t len = strlen(value) + 1;
    if (len > sizeof s->o->pool - s->o->pool_used) {
        cli_fail(cmd_name(s->cmd), "%s: the values add up to more than %zu bytes", s->path,
                 sizeof s->o->pool);
        s->ok = false;
        return 0;
    }
    char *v = s->o->pool + s->o->pool_used;
    memcpy(v, value, len);
    s->o->pool_used += len;
    snprintf(where, sizeof where, "%s: ", s->path);
    if (!set(s->cmd, s->o, p, v, where)) {
        s->ok = false;
        return 0;
    }
    return 1;
}

bool cli_parse(int cmd, int argc, char **argv, struct opts *o, const char **positional)
{
    *positional = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] != '-') {
            if (a[0] == '-' && a[1]) {
                cli_fail(cmd_name(cmd), "unknown option '%s' (options are long: --name; see: "
                         "nn help %s)", a, cmd_name(cmd));
                return false;
            }
            if (!*positional) {
                *positional = a;
            } else if ((cmd == CMD_EVAL || cmd == CMD_PREDICT) && o->nextra < CLI_MAX_EXTRA) {
                o->extra[o->nextra++] = a; /* nn eval MODEL DATA, nn predict MODEL INPUT... */
            } else {
                cli_fail(cmd_name(cmd), "unexpected argument '%s'%s", a,
                         cmd == CMD_PREDICT ? " (more inputs than one call takes: give a "
                                              "folder)" : "");
                return false;
            }
            continue;
        }
        char name[64];
        const char *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), a + 2);
        const struct opt *p = find(name);
        if (!p || !applies(p, cmd)) {
            char hint[96];
            cli_fail(cmd_name(cmd), "unknown option '--%s'%s (see: nn help %s)", name,
                     suggest(cmd, name, hint, sizeof hint), cmd_name(cmd));
            return false;
        }
        const char *val = NULL;
        if (eq)
            val = eq + 1;
        else if (p->type != T_BOOL) {
            if (i + 1 >= argc) {
                cli_fail(cmd_name(cmd), "--%s needs a value (%s)", p->name, p->meta);
                return false;
            }
            val = argv[++i];
        }
        if (!set(cmd, o, p, val, ""))
            return false;
    }
    if (o->config) {
        struct ini_state s = {.cmd = cmd, .o = o, .path = o->config, .ok = true};
        memcpy(s.cmdline, o->given, sizeof s.cmdline);
        int rc = ini_parse(o->config, on_ini, &s);
        if (rc < 0)
            return cli_fail(cmd_name(cmd), "cannot read config file %s", o->config), false;
        if (rc > 0 && s.ok)
            return cli_fail(cmd_name(cmd), "%s: line %d is not 'key = value'", o->config, rc),
                   false;
        if (!s.ok)
            return false;
    }
    return true;
}

int cli_help(FILE *f, int cmd)
{
    int n = 0;
    for (int i = 0; i < NOPT; i++) {
        const struct opt *p = &table[i];
        if (!applies(p, cmd))
            continue;
        char left[48];
        snprintf(left, sizeof left, "--%s%s%s", p->name, p->meta ? " " : "",
                 p->meta ? p->meta : "");
        if (f)
            fprintf(f, "  %-22s %s\n", left, p->help);
        n++;
    }
    return n;
}
