/*
 * sweep.h - nn sweep's pieces: the lists of its command line and the
 * settings they span (sweep_list.c), and its scatter plot (sweep_plot.c).
 */
#ifndef NN_SWEEP_H
#define NN_SWEEP_H

#include <stdbool.h>
#include <stddef.h>

#define SWEEP_MAX_AXES 8
#define SWEEP_MAX_RUNS 10000

/* One list {a,b,c} or range {A..B[..S]} in an argument of the command. */
struct sweep_axis {
    int arg;           /* index in argv of the argument holding it */
    size_t start, end; /* its braces in that argument: [start, end) */
    char name[48];     /* the flag ("model"), "model#2" for its second list */
    int n;
    char **vals; /* (n) the values, owned */
};

/* The settings a command line spans: every combination of its lists,
 * the first list varying slowest. */
struct sweep_plan {
    int argc;
    char **argv; /* the command as given, after "sweep" (not owned) */
    int naxes;
    struct sweep_axis axes[SWEEP_MAX_AXES];
    long settings; /* the product of the lists' lengths */
};

/* Finds and expands every list of argv; false after printing an error
 * naming the argument and what is wrong (unbalanced braces, an empty item,
 * a range that is not A..B or A..B..S of integers, an empty range, too many
 * values). sweep_plan_free is due either way. */
bool sweep_plan_parse(int argc, char **argv, struct sweep_plan *p);
void sweep_plan_free(struct sweep_plan *p);
/* The value of axis a in setting k. */
const char *sweep_value(const struct sweep_plan *p, long k, int a);
/* Setting k's values joined by '/', into buf. */
void sweep_setting_text(const struct sweep_plan *p, long k, char *buf, size_t n);
/* Setting k's arguments (p->argc of them, each malloc'ed, the array too):
 * every list replaced by its value. NULL when out of memory. */
char **sweep_setting_argv(const struct sweep_plan *p, long k);
void sweep_argv_free(char **argv, int argc);

/* The command as "flag=value" lines (value empty for a switch), sorted,
 * leaving out the flags that do not change results (--jobs, --quiet):
 * what resuming compares. Malloc'ed; NULL when out of memory. */
char *sweep_command_text(int argc, char **argv);
/* Where two such texts differ, as "--lr was '0.1', now '0.01'", into buf;
 * false when they agree. */
bool sweep_command_diff(const char *saved, const char *now, char *buf, size_t n);

/* The lectures' scatter plot: the validation loss of every restart (a dot)
 * and the mean (a line) against the setting, the best one marked. x holds
 * each setting's position (its value for one numeric list, else 1..S),
 * labels their tick text; loss is (settings, restarts), NAN where a run is
 * missing or diverged. false after printing an error. */
struct sweep_plot {
    const char *path, *title, *xlabel;
    long settings;
    int restarts;
    const double *x;
    const char *const *labels;
    const double *loss;
    long best;
};
bool sweep_plot_png(const struct sweep_plot *sp);

#endif
