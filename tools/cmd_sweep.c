/*
 * cmd_sweep.c - `nn sweep`: model selection on validation data. Every
 * combination of the lists in the command line (a setting) is trained
 * --restarts times (restart r with seed --seed + r, all on one validation
 * split), each run an nn train in a forked worker on one core, --jobs at a
 * time. Each finished run is a row of DIR/sweep.csv (so an interrupted
 * sweep run again skips it) and each setting keeps its best restart's
 * model; at the end the table of mean and spread per setting, the best
 * setting by mean validation loss, its best model and the scatter plot.
 */
#include "cli.h"
#include "sweep.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* One run's outcome, as a CSV row holds it. */
struct row {
    bool have;
    uint64_t seed;
    double tl, ta, tm, vl, va, vm; /* train and validation loss, accuracy, mae */
    int epochs;
};

struct sweep {
    struct sweep_plan plan;
    struct opts o;  /* setting 0's options: restarts, jobs, out-dir, seed */
    long settings;
    int restarts;
    long runs;
    bool regression, tty;
    char dir[4096], csv[4200], cmdfile[4200];
    char *command; /* sweep_command_text */
    struct row *rows; /* (settings, restarts) */
    int *best; /* (settings) the restart whose model models/ holds, -1 none */
    long done_before; /* rows read from the CSV */
    FILE *out; /* the CSV, appended to */
};

/* Ctrl-C or SIGTERM: no new runs; the running ones are stopped (their rows
 * are not written, so the next sweep runs them again). */
static volatile sig_atomic_t stop_sig;

static void on_stop(int sig)
{
    stop_sig = sig;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool is_sweep_flag(const char *a, size_t *len)
{
    static const char *const own[] = {"--restarts", "--jobs", "--out-dir"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        size_t n = strlen(own[i]);
        if (strncmp(a, own[i], n) == 0 && (a[n] == '\0' || a[n] == '=')) {
            *len = a[n] == '=' ? 1 : 2; /* arguments it spans */
            return true;
        }
    }
    return false;
}

/* Restart r of setting k as nn train arguments: the setting's own, less
 * the sweep's flags, then the run's seed, the shared split, one thread,
 * quiet, and its checkpoint. */
static char **run_argv(const struct sweep *s, char **set, int r, const char *out, int *argc)
{
    int n = s->plan.argc;
    char **v = calloc((size_t)n + 12, sizeof *v);
    if (!v)
        return NULL;
    int m = 0;
    for (int i = 0; i < n; i++) {
        size_t span;
        if (is_sweep_flag(set[i], &span)) {
            i += (int)span - 1;
            continue;
        }
        v[m++] = set[i];
    }
    static char seed[32], split[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)(s->o.seed + (uint64_t)r));
    snprintf(split, sizeof split, "%llu", (unsigned long long)s->o.seed);
    v[m++] = "--seed";
    v[m++] = seed;
    if (!cli_given(&s->o, "split-seed") && cli_given(&s->o, "val-split")) {
        v[m++] = "--split-seed";
        v[m++] = split;
    }
    v[m++] = "--threads";
    v[m++] = "1";
    v[m++] = "--quiet";
    v[m++] = "--out";
    v[m++] = (char *)out;
    *argc = m;
    return v;
}

static void run_path(const struct sweep *s, long k, int r, char *buf, size_t n)
{
    snprintf(buf, n, "%s/runs/setting-%ld-restart-%d.safetensors", s->dir, k + 1, r);
}

static void model_path(const struct sweep *s, long k, char *buf, size_t n)
{
    snprintf(buf, n, "%s/models/setting-%ld.safetensors", s->dir, k + 1);
}

/* The worker: one nn train run; its result goes up the pipe. */
static void worker(const struct sweep *s, long k, int r, int fd)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    char out[4300];
    run_path(s, k, r, out, sizeof out);
    char **set = sweep_setting_argv(&s->plan, k);
    int argc = 0;
    char **argv = set ? run_argv(s, set, r, out, &argc) : NULL;
    struct cli_train_result res = {.embedded = true};
    int rc = argv ? cli_train_run(argc, argv, &res) : cli_fail("sweep", "out of memory");
    if (rc == 0 && write(fd, &res, sizeof res) != (ssize_t)sizeof res)
        rc = 1;
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
}

/* Setting k as "model=3, lr=0.1". */
static void describe(const struct sweep *s, long k, char *buf, size_t n)
{
    size_t used = 0;
    snprintf(buf, n, "the only setting");
    for (int a = 0; a < s->plan.naxes && used < n; a++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s=%s", a ? ", " : "",
                                 s->plan.axes[a].name, sweep_value(&s->plan, k, a));
}

/* Removes what runs in flight left in DIR/runs (a stopped run's files). */
static void clear_runs(const struct sweep *s)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/runs", s->dir);
    DIR *d = opendir(path);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));)
        if (strncmp(e->d_name, "setting-", 8) == 0) {
            snprintf(path, sizeof path, "%s/runs/%s", s->dir, e->d_name);
            unlink(path);
        }
    closedir(d);
}

static void csv_header(const struct sweep *s, FILE *f)
{
    fprintf(f, "setting");
    for (int a = 0; a < s->plan.naxes; a++)
        fprintf(f, ",%s", s->plan.axes[a].name);
    fprintf(f, ",restart,seed,train_loss,train_accuracy,train_mae,val_loss,val_accuracy,"
               "val_mae,epochs\n");
}

static void put_num(FILE *f, double v)
{
    if (isnan(v))
        fputc(',', f);
    else
        fprintf(f, ",%.9g", v);
}

static void csv_row(const struct sweep *s, FILE *f, long k, int r)
{
    const struct row *w = &s->rows[k * s->restarts + r];
    fprintf(f, "%ld", k + 1);
    for (int a = 0; a < s->plan.naxes; a++)
        fprintf(f, ",%s", sweep_value(&s->plan, k, a));
    fprintf(f, ",%d,%llu", r, (unsigned long long)w->seed);
    put_num(f, w->tl);
    put_num(f, w->ta);
    put_num(f, w->tm);
    put_num(f, w->vl);
    put_num(f, w->va);
    put_num(f, w->vm);
    fprintf(f, ",%d\n", w->epochs);
}


/* The CSV's header line, as this sweep writes it (malloc'ed). */
static char *header_text(const struct sweep *s)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    csv_header(s, f);
    fclose(f);
    return text;
}

static double field_num(const char *f)
{
    return *f ? strtod(f, NULL) : NAN;
}

/* One row of a resumed sweep's CSV; false (after a message) if it is not
 * one of this sweep's runs. */
static bool parse_row(struct sweep *s, char *line, int lineno)
{
    char *f[SWEEP_MAX_AXES + 16];
    int n = 0, want = s->plan.naxes + 10;
    for (char *p = line;; p++) {
        if (n < (int)(sizeof f / sizeof f[0]))
            f[n++] = p;
        p = strchr(p, ',');
        if (!p)
            break;
        *p = '\0';
    }
    long k = n == want ? strtol(f[0], NULL, 10) - 1 : -1;
    int r = n == want ? atoi(f[s->plan.naxes + 1]) : -1;
    bool ok = k >= 0 && k < s->settings && r >= 0 && r < s->restarts;
    for (int a = 0; ok && a < s->plan.naxes; a++)
        ok = strcmp(f[1 + a], sweep_value(&s->plan, k, a)) == 0;
    if (!ok) {
        cli_fail("sweep", "%s line %d is not a run of this sweep (a different sweep wrote it; "
                 "give another --out-dir, or delete the file to start over)", s->csv, lineno);
        return false;
    }
    struct row *w = &s->rows[k * s->restarts + r];
    char **v = f + s->plan.naxes + 2;
    *w = (struct row){.have = true, .seed = strtoull(v[0], NULL, 10), .tl = field_num(v[1]),
                      .ta = field_num(v[2]), .tm = field_num(v[3]), .vl = field_num(v[4]),
                      .va = field_num(v[5]), .vm = field_num(v[6]), .epochs = atoi(v[7])};
    s->regression = isnan(w->va);
    return true;
}

/* A resumed sweep: the same command (else the difference), and its rows. */
static bool read_previous(struct sweep *s)
{
    FILE *f = fopen(s->cmdfile, "r");
    char saved[16384], diff[600];
    size_t n = f ? fread(saved, 1, sizeof saved - 1, f) : 0;
    if (f)
        fclose(f);
    saved[n] = '\0';
    if (!f)
        return cli_fail("sweep", "%s exists but %s does not: not a sweep's folder, or a "
                        "damaged one (give another --out-dir)", s->csv, s->cmdfile), false;
    if (sweep_command_diff(saved, s->command, diff, sizeof diff))
        return cli_fail("sweep", "%s was written by a different sweep: %s (give another "
                        "--out-dir, or delete %s to start over)", s->csv, diff, s->csv), false;
    if (!(f = fopen(s->csv, "r")))
        return cli_fail("sweep", "cannot read %s: %s", s->csv, strerror(errno)), false;
    char *line = NULL, *header = header_text(s);
    size_t cap = 0;
    ssize_t len;
    int lineno = 0;
    bool ok = header != NULL;
    while (ok && (len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (lineno == 1) {
            if (strcmp(line, header) != 0)
                ok = cli_fail("sweep", "%s has other columns than this sweep's: a different "
                              "sweep wrote it", s->csv) == 0;
            continue;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len > 0)
            ok = parse_row(s, line, lineno);
    }
    free(line);
    free(header);
    fclose(f);
    return ok;
}

/* Each setting's best restart so far (lowest validation loss, then the
 * lowest restart), whose model models/ must hold: when the file is
 * missing that restart runs again. */
static void find_bests(struct sweep *s)
{
    for (long k = 0; k < s->settings; k++) {
        s->best[k] = -1;
        for (int r = 0; r < s->restarts; r++) {
            const struct row *w = &s->rows[k * s->restarts + r];
            if (w->have && (s->best[k] < 0 || w->vl < s->rows[k * s->restarts + s->best[k]].vl))
                s->best[k] = r;
        }
        char path[4300];
        model_path(s, k, path, sizeof path);
        if (s->best[k] >= 0 && access(path, R_OK) != 0) {
            s->rows[k * s->restarts + s->best[k]].have = false;
            s->best[k] = -1; /* the restart runs again and writes it */
        }
    }
}

/* The CSV rewritten from the rows (atomically), in setting and restart
 * order whatever order the runs finished in. */
static bool write_csv(const struct sweep *s)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->csv);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return cli_fail("sweep", "cannot write %s: %s", tmp, strerror(errno)), false;
    csv_header(s, f);
    for (long k = 0; k < s->settings; k++)
        for (int r = 0; r < s->restarts; r++)
            if (s->rows[k * s->restarts + r].have)
                csv_row(s, f, k, r);
    bool ok = fclose(f) == 0 && rename(tmp, s->csv) == 0;
    if (!ok)
        cli_fail("sweep", "cannot write %s: %s", s->csv, strerror(errno));
    return ok;
}

/* A validation loss to compare: NAN (a diverged run) as the worst. */
static double key(double v)
{
    return isnan(v) ? INFINITY : v;
}

struct slot {
    pid_t pid; /* 0: free */
    int fd;
    long k;
    int r;
};

static bool start_run(const struct sweep *s, struct slot *sl, long k, int r)
{
    int p[2];
    if (pipe(p) != 0)
        return cli_fail("sweep", "pipe: %s", strerror(errno)), false;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return cli_fail("sweep", "fork: %s", strerror(errno)), false;
    }
    if (pid == 0) {
        close(p[0]);
        worker(s, k, r, p[1]);
    }
    close(p[1]);
    *sl = (struct slot){.pid = pid, .fd = p[0], .k = k, .r = r};
    return true;
}

/* A finished run: its row, and its model kept when it is its setting's
 * best so far. false when it failed (unless the sweep is stopping). */
static bool finish_run(struct sweep *s, const struct slot *sl, int status)
{
    struct cli_train_result res;
    ssize_t n = read(sl->fd, &res, sizeof res);
    close(sl->fd);
    char run[4300], keep[4300], text[512];
    run_path(s, sl->k, sl->r, run, sizeof run);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || n != (ssize_t)sizeof res) {
        unlink(run);
        if (stop_sig)
            return true;
        describe(s, sl->k, text, sizeof text);
        cli_fail("sweep", "the run of setting %ld (%s), restart %d failed (%s %d; its message "
                 "is above): no new runs", sl->k + 1, text, sl->r,
                 WIFEXITED(status) ? "exit code" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return false;
    }
    struct row *w = &s->rows[sl->k * s->restarts + sl->r];
    *w = (struct row){.have = true, .seed = s->o.seed + (uint64_t)sl->r, .tl = res.train.loss,
                      .ta = res.train.accuracy, .tm = res.train.mae, .vl = res.val.loss,
                      .va = res.val.accuracy, .vm = res.val.mae, .epochs = res.epochs};
    s->regression = res.regression;
    int b = s->best[sl->k];
    double kb = b < 0 ? 0 : key(s->rows[sl->k * s->restarts + b].vl);
    if (b < 0 || key(w->vl) < kb || (key(w->vl) == kb && sl->r < b)) {
        model_path(s, sl->k, keep, sizeof keep);
        if (rename(run, keep) != 0)
            return cli_fail("sweep", "cannot move %s to %s: %s", run, keep, strerror(errno)),
                   false;
        s->best[sl->k] = sl->r;
    } else {
        unlink(run);
    }
    csv_row(s, s->out, sl->k, sl->r);
    if (fflush(s->out) != 0)
        return cli_fail("sweep", "cannot write %s: %s", s->csv, strerror(errno)), false;
    return true;
}

/* runs done of the whole sweep, and the time left at this session's pace. */
static void progress(const struct sweep *s, long done, long todo, double t0)
{
    long all = s->done_before + done;
    double t = now_s() - t0, eta = done > 0 ? t / (double)done * (double)(todo - done) : 0;
    if (s->tty) {
        enum { W = 30 };
        char bar[W + 1];
        for (int i = 0; i < W; i++)
            bar[i] = i < (int)(W * all / s->runs) ? '#' : '.';
        bar[W] = '\0';
        fprintf(stderr, "\r\033[Ksweep [%s] %ld/%ld runs  %.0fs  ETA %.0fs", bar, all, s->runs,
                t, eta);
        fflush(stderr);
    } else if (!s->o.quiet && todo >= 10 && done > 0 &&
               done * 10 / todo != (done - 1) * 10 / todo) { /* every tenth */
        printf("sweep: %ld/%ld runs done, %.0fs, ETA %.0fs\n", all, s->runs, t, eta);
        fflush(stdout);
    }
}

static int jobs_of(const struct sweep *s, long todo)
{
    long n = s->o.jobs > 0 ? (long)s->o.jobs : sysconf(_SC_NPROCESSORS_ONLN);
    if (n > todo)
        n = todo;
    return n < 1 ? 1 : (int)n;
}

static void stop_all(struct slot *slots, int n)
{
    for (int i = 0; i < n; i++)
        if (slots[i].pid > 0)
            kill(slots[i].pid, SIGTERM);
}

/* Every run not yet in the CSV, jobs at a time. */
static bool run_all(struct sweep *s)
{
    long todo = s->runs - s->done_before, next = 0, done = 0;
    int jobs = jobs_of(s, todo), running = 0;
    struct slot *slots = calloc((size_t)jobs, sizeof *slots);
    if (!slots)
        return cli_fail("sweep", "out of memory"), false;
    bool ok = true, killed = false;
    double t0 = now_s();
    if (!s->o.quiet && todo > 0)
        printf("sweep: %ld settings x %d restarts = %ld runs, %ld to do, %d at a time\n",
               s->settings, s->restarts, s->runs, todo, jobs);
    for (;;) {
        while (ok && !stop_sig && running < jobs && next < s->runs) {
            if (s->rows[next].have) {
                next++;
                continue;
            }
            int i = 0;
            while (slots[i].pid > 0)
                i++;
            if (!(ok = start_run(s, &slots[i], next / s->restarts, (int)(next % s->restarts))))
                break;
            running++;
            next++;
        }
        if (running == 0)
            break;
        int st;
        pid_t pid = waitpid(-1, &st, 0);
        if (pid < 0) {
            if (errno != EINTR)
                break;
            if (stop_sig && !killed)
                stop_all(slots, jobs), killed = true;
            continue;
        }
        for (int i = 0; i < jobs; i++)
            if (slots[i].pid == pid) {
                ok = finish_run(s, &slots[i], st) && ok;
                slots[i].pid = 0;
                running--;
                done++;
                progress(s, done, todo, t0);
            }
    }
    if (s->tty)
        fprintf(stderr, "\r\033[K");
    free(slots);
    clear_runs(s);
    return ok;
}

struct summary {
    int n;                       /* runs */
    double mean, std;            /* validation loss */
    double train, metric;        /* mean training loss; mean val accuracy or mae */
};

static void summarize(const struct sweep *s, long k, struct summary *m)
{
    double sum = 0, sq = 0, tr = 0, met = 0;
    int n = 0;
    for (int r = 0; r < s->restarts; r++) {
        const struct row *w = &s->rows[k * s->restarts + r];
        if (!w->have)
            continue;
        n++;
        sum += key(w->vl);
        tr += w->tl;
        met += s->regression ? w->vm : w->va;
    }
    m->n = n;
    m->mean = n ? sum / n : INFINITY;
    for (int r = 0; r < s->restarts; r++) {
        const struct row *w = &s->rows[k * s->restarts + r];
        if (w->have)
            sq += (key(w->vl) - m->mean) * (key(w->vl) - m->mean);
    }
    m->std = n > 1 ? sqrt(sq / (n - 1)) : 0;
    m->train = n ? tr / n : NAN;
    m->metric = n ? met / n : NAN;
}

/* The table of every setting; returns the best by mean validation loss. */
static long print_table(const struct sweep *s)
{
    long best = 0;
    struct summary m, mb;
    summarize(s, 0, &mb);
    for (long k = 1; k < s->settings; k++) {
        summarize(s, k, &m);
        if (m.mean < mb.mean)
            best = k, mb = m;
    }
    char names[256] = "";
    for (int a = 0, used = 0; a < s->plan.naxes && used < (int)sizeof names; a++)
        used += snprintf(names + used, sizeof names - (size_t)used, "%s%s", a ? "/" : "",
                         s->plan.axes[a].name);
    printf("%7s  %-24s %4s  %-12s %-10s %-12s %s\n", "setting", names,
           "runs", "val_loss", "std", "train_loss", s->regression ? "val_mae" : "val_accuracy");
    for (long k = 0; k < s->settings; k++) {
        char text[512];
        sweep_setting_text(&s->plan, k, text, sizeof text);
        summarize(s, k, &m);
        printf("%7ld  %-24s %4d  %-12.6g %-10.4g %-12.6g %.4g%s\n", k + 1, text, m.n, m.mean,
               m.std, m.train, m.metric, k == best ? "  <- best" : "");
    }
    return best;
}

static bool copy_file(const char *from, const char *to)
{
    char tmp[4400];
    snprintf(tmp, sizeof tmp, "%s.tmp", to);
    FILE *in = fopen(from, "rb"), *out = in ? fopen(tmp, "wb") : NULL;
    char buf[65536];
    size_t n;
    bool ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    ok = ok && !ferror(in);
    if (in)
        fclose(in);
    if (out)
        ok = fclose(out) == 0 && ok;
    if (!ok || rename(tmp, to) != 0) {
        cli_fail("sweep", "cannot copy %s to %s: %s", from, to, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

/* x positions: the values of a single numeric list, else 1..S. */
static bool plot(const struct sweep *s, long best)
{
    size_t S = (size_t)s->settings, R = (size_t)s->restarts;
    double *x = malloc(S * sizeof *x), *loss = malloc(S * R * sizeof *loss);
    char **labels = calloc(S, sizeof *labels), path[4300], xlabel[600] = "setting", title[700];
    bool ok = x && loss && labels, numeric = s->plan.naxes == 1;
    for (size_t k = 0; ok && k < S; k++) {
        char text[512], *end;
        sweep_setting_text(&s->plan, (long)k, text, sizeof text);
        x[k] = strtod(text, &end);
        numeric = numeric && end != text && *end == '\0';
        ok = (labels[k] = strdup(text)) != NULL;
        for (size_t r = 0; r < R; r++)
            loss[k * R + r] = s->rows[k * R + r].have ? s->rows[k * R + r].vl : NAN;
    }
    for (size_t k = 0; ok && !numeric && k < S; k++)
        x[k] = (double)k + 1;
    if (s->plan.naxes == 1) {
        const struct sweep_axis *a = &s->plan.axes[0];
        snprintf(xlabel, sizeof xlabel, "--%s %s", a->name, s->plan.argv[a->arg]);
    }
    snprintf(path, sizeof path, "%s/sweep.png", s->dir);
    char text[512];
    describe(s, best, text, sizeof text);
    snprintf(title, sizeof title, "validation loss of %d restart%s per setting (dots) and their "
             "mean (line); chosen: %s", s->restarts, s->restarts > 1 ? "s" : "", text);
    struct sweep_plot sp = {.path = path, .title = title, .xlabel = xlabel,
                            .settings = s->settings, .restarts = s->restarts, .x = x,
                            .labels = (const char *const *)labels, .loss = loss, .best = best};
    if (!ok)
        cli_fail("sweep", "out of memory");
    ok = ok && sweep_plot_png(&sp);
    if (ok && !s->o.quiet)
        printf("plot written to %s\n", path);
    for (size_t k = 0; labels && k < S; k++)
        free(labels[k]);
    free(labels);
    free(x);
    free(loss);
    return ok;
}

/* The table, the best setting and its best restart's model, the plot. */
static bool report(struct sweep *s)
{
    if (!write_csv(s))
        return false;
    long best = print_table(s);
    struct summary m;
    summarize(s, best, &m);
    char text[512], from[4300], to[4300];
    describe(s, best, text, sizeof text);
    int r = s->best[best];
    if (r < 0 || !isfinite(m.mean))
        return cli_fail("sweep", "no setting has a finite validation loss"), false;
    model_path(s, best, from, sizeof from);
    snprintf(to, sizeof to, "%s/best.safetensors", s->dir);
    if (!copy_file(from, to))
        return false;
    printf("best setting: %ld (%s): mean validation loss %.6g (std %.3g over %d restarts)\n",
           best + 1, text, m.mean, m.std, m.n);
    printf("its best restart: %d (seed %llu), validation loss %.6g: model written to %s\n", r,
           (unsigned long long)s->rows[best * s->restarts + r].seed,
           s->rows[best * s->restarts + r].vl, to);
    if (!s->o.quiet)
        printf("results written to %s\n", s->csv);
    return plot(s, best);
}

/* Every setting's arguments parse as nn sweep's options; setting 0's are
 * kept (s->o points into s->argv0). */
static bool check_settings(struct sweep *s, char ***argv0)
{
    static const char *const fixed[] = {"restarts", "jobs", "out-dir", "quiet", "seed",
                                        "split-seed"};
    for (int a = 0; a < s->plan.naxes; a++)
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
            if (strcmp(s->plan.axes[a].name, fixed[i]) == 0)
                return cli_fail("sweep", "--%s cannot be a list (restart r runs with seed "
                                "--seed + r)", fixed[i]), false;
    if (s->plan.settings > SWEEP_MAX_RUNS)
        return cli_fail("sweep", "more than %d settings: narrow the lists", SWEEP_MAX_RUNS),
               false;
    for (long k = 0; k < s->plan.settings; k++) {
        char **v = sweep_setting_argv(&s->plan, k);
        if (!v)
            return cli_fail("sweep", "out of memory"), false;
        struct opts *o = &s->o;
        *o = (struct opts){.seed = 1, .epochs = 10, .batch = 64, .split_seed = -1,
                           .restarts = 1};
        const char *pos;
        bool ok = cli_parse(CMD_SWEEP, s->plan.argc, v, o, &pos);
        if (ok && pos)
            ok = cli_fail("sweep", "unexpected argument '%s' (see: nn help sweep)", pos) == 0;
        if (k == 0 && ok) {
            *argv0 = v;
            continue;
        }
        sweep_argv_free(v, s->plan.argc);
        if (!ok)
            return false;
    }
    /* s->o: setting 0's, parsed again (the others overwrote it) */
    const char *pos;
    s->o = (struct opts){.seed = 1, .epochs = 10, .batch = 64, .split_seed = -1, .restarts = 1};
    if (!cli_parse(CMD_SWEEP, s->plan.argc, *argv0, &s->o, &pos))
        return false;
    if (!s->o.out_dir)
        return cli_fail("sweep", "give --out-dir DIR, the folder of its results"), false;
    if (!cli_given(&s->o, "val-split") && !cli_given(&s->o, "val"))
        return cli_fail("sweep", "give --val-split F (or --val SRC): a sweep selects on "
                        "validation data"), false;
    s->settings = s->plan.settings;
    s->restarts = (int)s->o.restarts;
    s->runs = s->settings * s->restarts;
    if (s->runs > SWEEP_MAX_RUNS)
        return cli_fail("sweep", "%ld settings x %d restarts = %ld runs, more than %d: narrow "
                        "the lists or the restarts", s->settings, s->restarts, s->runs,
                        SWEEP_MAX_RUNS), false;
    return true;
}

static bool make_dir(const char *path)
{
    if (mkdir(path, 0777) == 0 || errno == EEXIST)
        return true;
    return cli_fail("sweep", "cannot create the folder %s: %s", path, strerror(errno)), false;
}

/* The folder, the command file, and the runs a previous sweep did. */
static bool setup(struct sweep *s)
{
    const char *d = s->o.out_dir;
    char sub[4300];
    snprintf(s->dir, sizeof s->dir, "%s", d);
    snprintf(s->csv, sizeof s->csv, "%s/sweep.csv", d);
    snprintf(s->cmdfile, sizeof s->cmdfile, "%s/sweep.cmd", d);
    if (!make_dir(d))
        return false;
    snprintf(sub, sizeof sub, "%s/models", d);
    if (!make_dir(sub))
        return false;
    snprintf(sub, sizeof sub, "%s/runs", d);
    if (!make_dir(sub))
        return false;
    s->command = sweep_command_text(s->plan.argc, s->plan.argv);
    s->rows = calloc((size_t)s->runs, sizeof *s->rows);
    s->best = calloc((size_t)s->settings, sizeof *s->best);
    if (!s->command || !s->rows || !s->best)
        return cli_fail("sweep", "out of memory"), false;
    if (access(s->csv, F_OK) == 0) {
        if (!read_previous(s))
            return false;
    } else {
        FILE *f = fopen(s->cmdfile, "w");
        if (!f || fputs(s->command, f) < 0 || fclose(f) != 0)
            return cli_fail("sweep", "cannot write %s: %s", s->cmdfile, strerror(errno)), false;
    }
    find_bests(s);
    clear_runs(s);
    for (long i = 0; i < s->runs; i++)
        s->done_before += s->rows[i].have;
    if (s->done_before > 0 && !s->o.quiet)
        printf("sweep: resuming: %ld of %ld runs are in %s\n", s->done_before, s->runs, s->csv);
    if (!write_csv(s))
        return false;
    if (!(s->out = fopen(s->csv, "a")))
        return cli_fail("sweep", "cannot write %s: %s", s->csv, strerror(errno)), false;
    return true;
}

static void catch_stop(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop; /* no SA_RESTART: waitpid returns to see it */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cmd_sweep(int argc, char **argv)
{
    struct sweep *s = calloc(1, sizeof *s);
    if (!s)
        return cli_fail("sweep", "out of memory");
    char **argv0 = NULL;
    int rc = 2;
    if (!sweep_plan_parse(argc, argv, &s->plan) || !check_settings(s, &argv0))
        goto done;
    rc = 1;
    s->tty = isatty(2) && !s->o.quiet;
    catch_stop();
    if (!setup(s) || !run_all(s))
        goto done;
    if (stop_sig) {
        long n = 0;
        for (long i = 0; i < s->runs; i++)
            n += s->rows[i].have;
        printf("sweep interrupted: %ld of %ld runs are in %s; run the same command again to "
               "do the rest\n", n, s->runs, s->csv);
        rc = 128 + stop_sig;
        goto done;
    }
    if (report(s))
        rc = 0;
done:
    if (s->out)
        fclose(s->out);
    sweep_argv_free(argv0, s->plan.argc);
    sweep_plan_free(&s->plan);
    free(s->command);
    free(s->rows);
    free(s->best);
    free(s);
    return rc;
}
