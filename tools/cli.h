/*
 * cli.h - shared pieces of the nn command-line program: the options, data
 * source resolution, progress display and plotting.
 */
#ifndef NN_CLI_H
#define NN_CLI_H

#include "nn.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { CMD_TRAIN = 1, CMD_EVAL = 2, CMD_PREDICT = 4, CMD_INFO = 8, CMD_GRADCHECK = 16,
       CMD_GRAPH = 32, CMD_PLOT = 64, CMD_IMPORT = 128,
       CMD_SUMMARY = 256, CMD_SWEEP = 512 };

/* The most options the table (opts.c) may hold: it has 94. */
#define CLI_MAX_OPTS 128
/* The most inputs nn predict takes as arguments (a shell's glob of images). */
#define CLI_MAX_EXTRA 4096

struct opts {
    /* data */
    const char *data, *label, *val, *test, *split, *normalize, *task, *image_size, *input;
    const char *header; /* CSV: yes, no or auto */
    const char *ignore; /* CSV: columns left out */
    /* CSV: the training file's layout (eval, predict: from the checkpoint):
     * its column names (NULL: no header) and count (0: none) */
    const char *const *layout;
    int64_t nlayout;
    bool label_optional; /* predict: the file may lack the label column */
    double val_split;
    int64_t split_seed; /* --val-split's shuffle; -1: --seed */
    bool resize;
    /* model */
    const char *model, *init, *bias_init, *loss;
    double dropout;
    /* training */
    int64_t epochs, batch, threads, patience;
    int64_t save_every; /* train: checkpoint every N epochs (and the last) */
    uint64_t seed;
    bool drop_last, no_shuffle, keep_last, penalize_biases, decay_biases;
    bool reproducible; /* train: the same weights for any rank or thread count */
    const char *optim, *schedule, *augment, *monitor, *train_metrics, *schedule_unit;
    double tol;
    double lr, momentum, dampening, weight_decay, beta1, beta2, eps, rho, alpha;
    double l1, l2, clip_norm, min_delta;
    double eps2, beta2_decay, clip_threshold, lr_decay, initial_accumulator;
    bool decoupled, amsgrad, centered;
    int64_t history, max_iter, max_eval; /* lbfgs */
    double tolerance_grad, tolerance_change;
    const char *line_search;
    /* files and output */
    const char *out, *resume, *config, *log, *plot;
    const char *stats; /* train: per-layer statistics CSV */
    bool quiet, json, all, force;
    bool confusion; /* eval */
    const char *op;
    int64_t top;
    /* graph and plot */
    const char *png, *svg, *values, *label_value;
    bool dot, boundary, fit, curves;
    /* sweep */
    int64_t restarts, jobs;
    const char *out_dir;
    /* import */
    const char *map, *mean, *std, *classes;
    /* eval and predict: the arguments after MODEL (the data to evaluate, the
     * inputs to predict), pointers into argv */
    const char *extra[CLI_MAX_EXTRA];
    int nextra;
    /* which options were given (by index in the table), for "flags override" */
    bool given[CLI_MAX_OPTS];
    char pool[16384]; /* string values read from --config */
    size_t pool_used;
};

/* Parses argv (after the command) into o, reading --config first so that
 * flags override it. Prints a message and returns false on any error.
 * positional receives the first positional argument (a model file); eval's
 * and predict's further ones go to o->extra. */
bool cli_parse(int cmd, int argc, char **argv, struct opts *o, const char **positional);
/* Prints the options of one command. */
int cli_help(FILE *f, int cmd); /* the number of options listed */
/* Whether option NAME (without dashes) was given. */
bool cli_given(const struct opts *o, const char *name);
/* The names (without dashes) of the options given, on the command line or
 * in --config, into names[0..max); returns how many. */
int cli_given_names(const struct opts *o, const char **names, int max);

/* Loads the data set named by --data (fashion-mnist, FILE.csv, DIR/,
 * idx:IMAGES,LABELS) for a command; split is "train" or "test" for the
 * built-in sets. NULL after printing the error. */
nn_dataset *cli_load_data(nn_ctx *ctx, const struct opts *o, const char *spec,
                          const char *split, bool labels_required);
/* --header's value as the library's enum (auto when not given); false
 * after printing the error for a value not yes, no or auto. */
bool cli_csv_header(const struct opts *o, nn_csv_header *out);
/* Checks that ds's samples fit the model's input: as many values per
 * sample, and when both are images (C, H, W), the same shape; a (features)
 * row of the right size feeds a CxHxW model (reshaped), and images feed a
 * model of flat inputs (flattened). Otherwise prints "nn CMD: ..." naming
 * what (e.g. "the training data"), the source and both shapes, and returns
 * false. */
bool cli_check_input(const char *cmd, const nn_model *m, const nn_dataset *ds, const char *what);
/* Renumbers ds's named classes to names[0..n) (the training set's or the
 * model's), so that a file lacking a class keeps the same indices; prints
 * the error and returns false if ds has a class not among them. */
bool cli_match_classes(nn_ctx *ctx, nn_dataset *ds, const char *const *names, int64_t n,
                       const char *what);
/* Progress display: a live bar on a TTY, one line per epoch otherwise. */
bool cli_on_batch(const struct nn_train_progress *p, void *user);
void cli_print_epoch(const struct nn_epoch_stats *s, bool regression, bool tty);

/* Draws loss and accuracy (or MAE) per epoch, training and validation, and
 * the test result as a line when test is not NULL, to a PNG file. Returns false after printing an error. */
bool cli_plot(const char *path, const struct nn_epoch_stats *h, int n, bool regression,
              const char *title, const struct nn_metrics *test);
/* The same with a third panel below, when stats_csv (an nn train --stats
 * file) can be read and holds weights: each weight's gradient norm per
 * epoch on a log scale. */
bool cli_plot_stats(const char *path, const struct nn_epoch_stats *h, int n, bool regression,
                    const char *title, const struct nn_metrics *test, const char *stats_csv);

/* ---- record.c: what nn train records in a checkpoint about its run ---- */

/* A data source (--data form) with its files made absolute (realpath), so
 * that a checkpoint's record holds wherever it is read from; a missing
 * file stays as given. Malloc'ed (the caller frees it); NULL for NULL or
 * out of memory. */
char *cli_resolve_source(const char *spec);

/* The extra metadata pairs nn train adds to its checkpoints. */
#define CLI_RECORD_MAX 24
struct cli_record {
    const char *keys[CLI_RECORD_MAX], *vals[CLI_RECORD_MAX];
    int n;
    char *owned[CLI_RECORD_MAX]; /* the values it allocated */
    int nowned;
    bool failed; /* out of memory */
};
/* The run's data source, label column and task (CSV), validation split or
 * file, test file, seed, initializer, dropout rate (has_dropout), image
 * size (image folders), threads and creation time. false if out of memory
 * (after which cli_record_free is still due). */
bool cli_record_build(struct cli_record *r, const struct opts *o, bool has_dropout,
                      const nn_dataset *train, int threads);
void cli_record_free(struct cli_record *r);

/* A checkpoint opened for what it records: the library's part (info) and
 * nn train's (NULL where not recorded). Strings are owned by ck. */
struct cli_recorded {
    nn_checkpoint *ck;
    const struct nn_checkpoint_info *info;
    const char *data, *label, *task, *val, *test, *init, *seed, *augment, *header;
    const char *ignore;     /* the --ignore given to train, or NULL */
    char **columns;         /* the training CSV's column names (ncolumns), or
                               NULL (no header, or not recorded) */
    int64_t ncolumns;       /* 0: not recorded */
    const char *stats; /* the --stats CSV, NULL if none */
    const char *split_seed; /* --split-seed, NULL if not given */
    double val_split;       /* 0: none */
    bool has_dropout;
    float dropout;          /* 0.5 when not recorded */
    char image_size[40];    /* "WxHxC", or "" */
    bool resize;
};
/* Opens path; false after printing the error for command cmd. */
bool cli_recorded_open(nn_ctx *ctx, const char *cmd, const char *path, struct cli_recorded *r);
void cli_recorded_close(struct cli_recorded *r);
/* eval, predict: the recorded data source with its label column and task
 * when o gives no --data, the recorded label column for another CSV given
 * without --label, and the recorded image size. */
void cli_recorded_defaults(struct opts *o, const struct cli_recorded *r);
/* train --resume: checks every flag given against the checkpoint (one that
 * contradicts it is an error naming the flag and both values; a flag the
 * checkpoint cannot check is refused) and then sets o to the recorded run:
 * model, loss, data, label, task, validation, test, seed, initializer,
 * dropout, normalization, image size, batch and, unless given, epochs.
 * The optimizer, schedule, penalties and clipping come from
 * r->info->train. false after printing the error. */
bool cli_resume_settings(nn_ctx *ctx, struct opts *o, struct cli_recorded *r);
/* train --resume: the loaded training data normalizes and names its
 * classes as the checkpoint does (else it is not the same data); false
 * after printing the error. */
bool cli_resume_check_data(const struct cli_recorded *r, const nn_dataset *train);

int cmd_train(int argc, char **argv);
/* One nn train run invoked with an argv (the options after "train"), as a
 * step of another command (nn sweep): what it did, for res's caller. */
struct cli_train_result {
    bool embedded;   /* in: leave Ctrl-C and SIGTERM to the default action,
                        and write the checkpoint at the end only */
    bool done;       /* out: trained to the end and wrote its checkpoint */
    int epochs;      /* epochs run (fewer than asked after early stopping) */
    bool regression; /* mae, not accuracy */
    struct nn_metrics train, val; /* the final weights, evaluation mode; val's
                                     loss NAN without validation data */
};
/* nn train's exit code (0, 1 error, 2 usage, 128 + signal when
 * interrupted); res (may be NULL) is filled when it returns 0. */
int cli_train_run(int argc, char **argv, struct cli_train_result *res);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_info(int argc, char **argv);
/* eval_report.c: nn eval's per-class accuracy, confusion matrix, top-k
 * accuracy (classifiers) and R^2 (regression). */
struct cli_eval_report {
    bool regression;
    int64_t k;          /* classes (2 for one sigmoid output), or outputs */
    int64_t *confusion; /* (k, k): rows the true class, columns the predicted;
                           NULL for regression */
    int64_t n, top, top_correct;
    double r2;          /* regression: 1 - SSE / SST over every output */
};
/* Predicts ds (normalized, classes matched) in batches of at most batch;
 * false after printing the error. */
bool cli_eval_report(nn_model *m, const nn_dataset *ds, int64_t batch, int64_t top,
                     struct cli_eval_report *r);
void cli_eval_report_free(struct cli_eval_report *r);
/* The top-k accuracy (top > 1) and, with confusion, the table with each
 * class's accuracy; as text, or as members appended to a JSON object. */
void cli_eval_report_print(const nn_model *m, const struct cli_eval_report *r, bool confusion);
void cli_eval_report_json(const nn_model *m, const struct cli_eval_report *r, bool confusion);
/* The confusion matrix drawn to a PNG; false after printing the error. */
bool cli_plot_confusion(const nn_model *m, const struct cli_eval_report *r, const char *path,
                        const char *title);
/* summary.c: nn summary "SPEC", and the layer table nn info prints (as
 * members of a JSON object when json). */
int cmd_summary(int argc, char **argv);
void cli_layer_table(FILE *f, const nn_model *m, bool json);
int cmd_graph(int argc, char **argv);
/* cmd_sweep.c: nn sweep, model selection over lists of settings. */
int cmd_sweep(int argc, char **argv);
int cmd_plot(int argc, char **argv);
/* fit_plot.c: nn plot A[,B...] --fit, the curves of 1-input regression
 * models (list: their checkpoints, comma-separated) over the points. */
int cli_plot_fits(struct opts *o, const char *list);
/* The picture beside a model: MODEL.safetensors -> MODEL{suffix}, e.g.
 * MODEL-boundary.png (malloc'd; NULL when out of memory). */
char *cli_beside(const char *model, const char *suffix);
/* curves.c: nn plot MODEL [--curves], the learning curves the checkpoint
 * records, to --out or MODEL-curves.png; the exit code. */
int cli_plot_curves(const struct opts *o, const char *path);

/* plot.c's drawing helpers, shared with boundary.c: text anchored at
 * (x, y) by fractions (ax, ay) of its extent, and a tick step of 1, 2 or 5
 * times a power of ten giving about n ticks over range. */
typedef struct _cairo cairo_t;
void cli_plot_text(cairo_t *cr, double x, double y, const char *s, double ax, double ay);
double cli_nice_step(double range, int n);
/* The decision regions of a 2-input classifier over the points of ds
 * (its features in raw units), to a PNG; false after printing an error. */
bool cli_plot_boundary(nn_model *m, const nn_dataset *ds, const char *path, const char *title);
int cmd_import(int argc, char **argv);
void cmd_import_help(void); /* the assignment rule, after the options */

/* ---- outputs.c: the files a command will write, checked first ---- */

/* Whether path can be written: its folder exists and is writable, and it
 * is not a folder or a read-only file. Else prints "nn CMD: FLAG PATH:
 * ..." with the reason (strerror) and returns false. */
bool cli_check_output(const char *cmd, const char *flag, const char *path);
/* Whether nn train may write its checkpoint to path: it does not exist,
 * or holds a checkpoint of the same model (the same parameters by name and
 * shape, however the spec is spelled), or force. Else prints why
 * (naming both specs) and returns false. */
bool cli_check_overwrite(nn_ctx *ctx, const char *path, const nn_model *m, bool force);

/* Prints "nn CMD: MESSAGE" to stderr and returns exit code 1. */
/* When set (a rank of a data-parallel run: "rank 1 of 2 on host h"),
 * cli_fail names it after the command. */
extern const char *cli_fail_where;
/* The command running ("train", "eval" ...), for messages from code the
 * commands share (data loading): "nn train: ...". NULL: "nn: ...". */
extern const char *cli_cmd;

/* Data-parallel runs (dist.c): MPI is started only under mpirun. */
struct cli_dist {
    bool on; /* more than one rank */
    int rank, size;
    char host[256];
    char where[300];
    int *counts, *displs; /* (size) for the gather and the reduce-scatter */
    float *tmp;           /* (cap) this rank's segment of a reduce-scatter */
    int64_t cap;
    struct nn_dist d;
};
/* false after printing an error (e.g. mpirun but no MPI support). */
bool cli_dist_start(const char *cmd, struct cli_dist *d);
/* The ranks but 0 of a data-parallel nn train hold their messages
 * (stderr fully buffered, before anything is printed) and linger 2 seconds
 * before they end on an error: an error every rank meets (a bad
 * flag, a setting the checkpoint contradicts) is then printed once, by
 * rank 0, whose failure makes mpirun end the others meanwhile; an error of
 * one rank's own (a file missing on its host) is printed late, not lost
 * (mpirun ends the other ranks about a second after the first failure). */
void cli_dist_hold(void);
void cli_dist_linger(void);
/* Processes this host runs (1 outside mpirun). */
int cli_dist_local_size(void);
/* A failed rank: names it and stops every rank (no return) when on. */
void cli_dist_abort(struct cli_dist *d, const char *cmd, int rc);
void cli_dist_end(struct cli_dist *d);

int cli_fail(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
