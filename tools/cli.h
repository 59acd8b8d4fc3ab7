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

enum { CMD_TRAIN = 1, CMD_EVAL = 2, CMD_PREDICT = 4, CMD_INFO = 8, CMD_GRADCHECK = 16 };

struct opts {
    /* data */
    const char *data, *label, *val, *test, *split, *normalize, *task, *image_size, *input;
    double val_split;
    bool resize;
    /* model */
    const char *model, *init, *loss;
    double dropout;
    /* training */
    int64_t epochs, batch, threads, patience;
    uint64_t seed;
    bool drop_last, no_shuffle, keep_last, penalize_biases, decay_biases;
    const char *optim, *schedule, *augment;
    double lr, momentum, dampening, weight_decay, beta1, beta2, eps, rho, alpha;
    double l1, l2, clip_norm, min_delta;
    bool decoupled, amsgrad, centered;
    /* files and output */
    const char *out, *resume, *config, *log, *plot;
    bool quiet, json, all;
    const char *op;
    int64_t top;
    /* which options were given (by index in the table), for "flags override" */
    bool given[96];
    char pool[16384]; /* string values read from --config */
    size_t pool_used;
};

/* Parses argv (after the command) into o, reading --config first so that
 * flags override it. Prints a message and returns false on any error.
 * positional receives at most one positional argument (a model file). */
bool cli_parse(int cmd, int argc, char **argv, struct opts *o, const char **positional);
/* Prints the options of one command. */
void cli_help(FILE *f, int cmd);
/* Whether option NAME (without dashes) was given. */
bool cli_given(const struct opts *o, const char *name);

/* Loads the data set named by --data (fashion-mnist, FILE.csv, DIR/,
 * idx:IMAGES,LABELS) for a command; split is "train" or "test" for the
 * built-in sets. NULL after printing the error. */
nn_dataset *cli_load_data(nn_ctx *ctx, const struct opts *o, const char *spec,
                          const char *split, bool labels_required);
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

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_info(int argc, char **argv);

/* Prints "nn CMD: MESSAGE" to stderr and returns exit code 1. */
int cli_fail(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
