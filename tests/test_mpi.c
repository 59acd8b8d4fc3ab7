/*
 * test_mpi.c - `mpirun -np N nn train` end to end (issue 19): one process's
 * model on 2 ranks, --reproducible bit-identical on 1, 2 and 4 ranks and 1
 * or 2 threads, over shared memory and over TCP on the loopback, a
 * checkpoint of 2 ranks resumed on 4, batch norm (reproducible: the same
 * bits on 1, 2 and 4 ranks; plain: running statistics near one
 * process's), the optimizer state of the sharded step (whole in the
 * checkpoint), a missing file on one rank, and a rank killed mid-run. These run only when NN_TEST_MPI=1 (`make
 * test-mpi`, a leg of `make check`), where a missing mpirun is a failure.
 */
#include "test.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Sleeps ms milliseconds. */
static void nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char nn_bin[4200];
static char dir[256];

#define run cli_run
static const char *mpirun = "mpirun --oversubscribe --mca btl self,vader";
/* the sharded optimizer step (NN_MPI_SHARD=1, exported to every rank) */
static const char *mpirun_shard = "NN_MPI_SHARD=1 mpirun -x NN_MPI_SHARD --oversubscribe "
                                  "--mca btl self,vader";
static const char *mpirun_tcp = "mpirun --oversubscribe --mca btl self,tcp "
                                "--mca btl_tcp_if_include lo --mca oob_tcp_if_include lo";

static bool wanted(void)
{
    const char *e = getenv("NN_TEST_MPI");
    return e && strcmp(e, "1") == 0;
}

/* Three Gaussian blobs in 4 features, 300 samples, and a held-out 120. */
static bool write_blobs(const char *path, int n, uint64_t seed)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    fprintf(f, "a,b,c,d,kind\n");
    uint64_t s = seed;
    for (int i = 0; i < n; i++) {
        int k = i % 3;
        double x[4];
        for (int j = 0; j < 4; j++) {
            s = s * 6364136223846793005u + 1442695040888963407u;
            double u = (double)(s >> 11) / 9007199254740992.0;
            x[j] = (j == k ? 1.5 : 0.0) + 2.0 * (u - 0.5);
        }
        fprintf(f, "%.5f,%.5f,%.5f,%.5f,%s\n", x[0], x[1], x[2], x[3],
                k == 0 ? "red" : k == 1 ? "green" : "blue");
    }
    return fclose(f) == 0;
}

static int setup(void **state)
{
    (void)state;
    if (!wanted())
        return 0;
    snprintf(nn_bin, sizeof nn_bin, "%s", cli_nn());
    if (cli_tmpdir(dir, sizeof dir, "mpi") != 0)
        return -1;
    /* Open MPI refuses root without both */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    char p[512];
    snprintf(p, sizeof p, "%s/train.csv", dir);
    if (!write_blobs(p, 300, 7))
        return -1;
    snprintf(p, sizeof p, "%s/test.csv", dir);
    return write_blobs(p, 120, 99) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return dir[0] ? cli_rmdir(dir) : 0;
}

/* Skips unless asked; then mpirun must be there. */
#define NEED_MPI()                                                                \
    do {                                                                          \
        if (!wanted())                                                            \
            skip();                                                               \
        char out_[4096];                                                          \
        assert_int_equal(run(out_, sizeof out_, "mpirun --version"), 0);          \
    } while (0)

/* The training flags every run shares (a dropout layer: its streams too). */
#define COMMON "train --data %s/train.csv --test %s/test.csv --label kind --batch 24 " \
               "--lr 0.01 --seed 3 --model '4 dense:32 relu dropout:0.1 dense:3 softmax'"

/* The parameter block of a checkpoint (malloc'd), its length in n. */
static float *weights(const char *name, int64_t *n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    nn_ctx *ctx = nn_ctx_new(NULL);
    assert_non_null(ctx);
    nn_model *m = nn_model_load(ctx, p, NULL);
    if (!m)
        fail_msg("%s: %s", p, nn_ctx_error(ctx));
    nn_graph *g = nn_model_graph(m);
    *n = nn_graph_param_count(g);
    float *w = malloc((size_t)*n * sizeof *w);
    assert_non_null(w);
    memcpy(w, nn_graph_param_block(g), (size_t)*n * sizeof *w);
    nn_model_free(m);
    nn_ctx_free(ctx);
    return w;
}

static void assert_same_weights(const char *a, const char *b)
{
    int64_t na, nb;
    float *wa = weights(a, &na), *wb = weights(b, &nb);
    assert_int_equal(na, nb);
    for (int64_t i = 0; i < na; i++)
        if (memcmp(&wa[i], &wb[i], sizeof(float)) != 0)
            fail_msg("%s and %s differ at parameter %lld: %.9g vs %.9g", a, b, (long long)i,
                     (double)wa[i], (double)wb[i]);
    free(wa);
    free(wb);
}

/* The largest |difference| between tensor `name` of checkpoints a and b. */
static double tensor_gap(const char *a, const char *b, const char *name)
{
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s/%s", dir, a);
    snprintf(pb, sizeof pb, "%s/%s", dir, b);
    nn_ctx *ctx = nn_ctx_new(NULL);
    assert_non_null(ctx);
    nn_safetensors *x = nn_safetensors_open(ctx, pa), *y = nn_safetensors_open(ctx, pb);
    if (!x || !y)
        fail_msg("%s", nn_ctx_error(ctx));
    const struct nn_st_view *u = nn_safetensors_find(x, name), *v = nn_safetensors_find(y, name);
    if (!u || !v || strcmp(u->dtype, v->dtype) != 0 || u->numel != v->numel ||
        (strcmp(u->dtype, "F32") != 0 && strcmp(u->dtype, "I64") != 0))
        fail_msg("no F32 or I64 tensor %s of the same size in %s and %s", name, a, b);
    double gap = 0;
    for (int64_t i = 0; i < u->numel; i++) {
        double p, q;
        if (strcmp(u->dtype, "F32") == 0) {
            p = ((const float *)u->data)[i], q = ((const float *)v->data)[i];
        } else {
            int64_t pi, qi;
            memcpy(&pi, (const char *)u->data + 8 * i, 8);
            memcpy(&qi, (const char *)v->data + 8 * i, 8);
            p = (double)pi, q = (double)qi;
        }
        gap = fmax(gap, fabs(p - q));
    }
    nn_safetensors_close(x);
    nn_safetensors_close(y);
    nn_ctx_free(ctx);
    return gap;
}

static double test_accuracy(const char *out)
{
    const char *t = strstr(out, "test accuracy: ");
    if (!t)
        fail_msg("no test accuracy in:\n%s", out);
    return atof(t + 15);
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* 2 ranks train the model of one process (no dropout, whose streams
 * differ per rank): test accuracy within 0.3 points after 5 epochs,
 * weights equal up to the order of float sums, and only rank 0 prints.
 * With the sharded optimizer step: its state, gathered, in the
 * checkpoint. */
static void mpi_two_ranks_match_one(void **state)
{
    (void)state;
    NEED_MPI();
    static char o1[16384], o2[16384];
#define PLAIN COMMON " --epochs 5 --threads 1 --model '4 dense:32 relu dense:3 softmax'"
    assert_int_equal(run(o1, sizeof o1, "%s " PLAIN " --out %s/one.st", nn_bin, dir, dir, dir),
                     0);
    int rc = run(o2, sizeof o2, "%s -np 2 %s " PLAIN " --out %s/two.st", mpirun_shard, nn_bin,
                 dir, dir, dir);
    if (rc != 0)
        fail_msg("mpirun exited %d:\n%s", rc, o2);
    double a1 = test_accuracy(o1), a2 = test_accuracy(o2);
    if (fabs(a1 - a2) > 0.003)
        fail_msg("test accuracy %.4f on 1 process, %.4f on 2 ranks", a1, a2);
    assert_int_equal(count(o2, "model written to"), 1);
    assert_int_equal(count(o2, "epoch   5"), 1);
    int64_t n1, n2;
    float *w1 = weights("one.st", &n1), *w2 = weights("two.st", &n2);
    assert_int_equal(n1, n2);
    double md = 0;
    for (int64_t i = 0; i < n1; i++)
        md = fmax(md, fabs((double)w1[i] - w2[i]));
    free(w1);
    free(w2);
    /* the same steps; only the order of float sums differs */
    if (md > 1e-4)
        fail_msg("weights of 1 process and 2 ranks differ by %g", md);
    /* the sharded step's optimizer state, gathered whole for the checkpoint */
    double sg = tensor_gap("one.st", "two.st", "optim.state");
    if (sg > 1e-4)
        fail_msg("optimizer states of 1 process and 2 ranks differ by %g", sg);
}

/* --reproducible: the same bits for 1 process on 1 or 2 threads and for
 * 2 and 4 ranks over shared memory, and 2 ranks over TCP, for a model
 * with dropout and batch norm (whose running statistics are in the
 * compared block). */
static void mpi_reproducible_bit_identical(void **state)
{
    (void)state;
    NEED_MPI();
    static char o[16384];
#define REPRO COMMON " --epochs 3 --reproducible --quiet --model '4 dense:32 batchnorm relu " \
                     "dropout:0.1 dense:3 softmax'"
    assert_int_equal(run(o, sizeof o, "%s " REPRO " --threads 1 --out %s/r1.st", nn_bin, dir,
                         dir, dir), 0);
    assert_int_equal(run(o, sizeof o, "%s " REPRO " --threads 2 --out %s/r1t2.st", nn_bin, dir,
                         dir, dir), 0);
    int rc = run(o, sizeof o, "%s -np 2 %s " REPRO " --out %s/r2.st", mpirun, nn_bin, dir, dir,
                 dir);
    if (rc != 0)
        fail_msg("mpirun -np 2 exited %d:\n%s", rc, o);
    rc = run(o, sizeof o, "%s -np 4 %s " REPRO " --threads 1 --out %s/r4.st", mpirun, nn_bin,
             dir, dir, dir);
    if (rc != 0)
        fail_msg("mpirun -np 4 exited %d:\n%s", rc, o);
    rc = run(o, sizeof o, "%s -np 2 %s " REPRO " --out %s/r2tcp.st", mpirun_tcp, nn_bin, dir,
             dir, dir);
    if (rc != 0)
        fail_msg("mpirun over TCP exited %d:\n%s", rc, o);
    assert_same_weights("r1.st", "r1t2.st");
    assert_same_weights("r1.st", "r2.st");
    assert_same_weights("r1.st", "r4.st");
    assert_same_weights("r1.st", "r2tcp.st");
}

/* Batch norm on 2 ranks, each normalizing by its share's statistics:
 * the checkpoint keeps one process's running_mean of the inputs (up to
 * float sums) and nearly its running_var (the mean of the shares'
 * variances), and one update per step. (tests/test_dist.c checks that
 * the ranks' statistics are equal.) */
static void mpi_batchnorm(void **state)
{
    (void)state;
    NEED_MPI();
    static char o[16384];
#define BN COMMON " --epochs 2 --quiet --threads 1 --model '4 batchnorm dense:16 batchnorm " \
              "relu dense:3 softmax'"
    assert_int_equal(run(o, sizeof o, "%s " BN " --out %s/bnp1.st", nn_bin, dir, dir, dir), 0);
    int rc = run(o, sizeof o, "%s -np 2 %s " BN " --out %s/bnp2.st", mpirun_shard, nn_bin, dir,
                 dir, dir);
    if (rc != 0)
        fail_msg("mpirun -np 2 exited %d:\n%s", rc, o);
    double gm = tensor_gap("bnp1.st", "bnp2.st", "bn1.running_mean");
    double gv = tensor_gap("bnp1.st", "bnp2.st", "bn1.running_var");
    double gc = tensor_gap("bnp1.st", "bnp2.st", "bn1.num_batches_tracked");
    if (gm > 1e-5 || gv > 0.05 || gc != 0)
        fail_msg("2 ranks' running statistics of the inputs from 1 process's: mean %g, "
                 "var %g, count %g", gm, gv, gc);
}

/* A checkpoint of 2 ranks resumes on 4 (and on 1 process) where the
 * uninterrupted run would be. */
static void mpi_resume_on_other_rank_count(void **state)
{
    (void)state;
    NEED_MPI();
    static char o[16384];
    int rc = run(o, sizeof o, "%s -np 2 %s " COMMON " --epochs 2 --reproducible --quiet "
                 "--out %s/half.st", mpirun, nn_bin, dir, dir, dir);
    if (rc != 0)
        fail_msg("mpirun -np 2 exited %d:\n%s", rc, o);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp %s/half.st %s/half1.st", dir, dir);
    assert_int_equal(system(cmd), 0);
    rc = run(o, sizeof o, "%s -np 4 %s train --resume %s/half.st --epochs 4 --quiet", mpirun,
             nn_bin, dir);
    if (rc != 0)
        fail_msg("resume on 4 ranks exited %d:\n%s", rc, o);
    assert_int_equal(run(o, sizeof o, "%s train --resume %s/half1.st --epochs 4 --quiet",
                         nn_bin, dir), 0);
    assert_int_equal(run(o, sizeof o, "%s " COMMON " --epochs 4 --reproducible --quiet "
                         "--out %s/full.st", nn_bin, dir, dir, dir), 0);
    assert_same_weights("full.st", "half.st");
    assert_same_weights("full.st", "half1.st");
}

/* A data file missing on rank 1 only: an error naming the rank, the host
 * and the file, and every rank stopped. */
static void mpi_missing_file_names_rank(void **state)
{
    (void)state;
    NEED_MPI();
    static char o[16384];
    int rc = run(o, sizeof o, "timeout 60 %s -np 1 %s " COMMON " --epochs 2 --out %s/m.st : "
                 "-np 1 %s train --data %s/nowhere.csv --label kind --epochs 2 --out %s/m.st",
                 mpirun, nn_bin, dir, dir, dir, nn_bin, dir, dir);
    if (rc == 0 || rc == 124)
        fail_msg("mpirun exited %d:\n%s", rc, o);
    if (!strstr(o, "rank 1 of 2 on host ") || !strstr(o, "nowhere.csv"))
        fail_msg("no message naming rank 1, its host and the file:\n%s", o);
}

/* The pid of rank `rank` of the run writing `tag`, or 0. */
static pid_t find_rank(const char *tag, int rank)
{
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    char want[64];
    snprintf(want, sizeof want, "OMPI_COMM_WORLD_RANK=%d", rank);
    pid_t found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char p[300], buf[65536];
        snprintf(p, sizeof p, "/proc/%s/cmdline", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            buf[i] = buf[i] ? buf[i] : ' ';
        buf[n] = '\0';
        if (strncmp(buf, nn_bin, strlen(nn_bin)) != 0 || !strstr(buf, tag))
            continue;
        snprintf(p, sizeof p, "/proc/%s/environ", e->d_name);
        if (!(f = fopen(p, "r")))
            continue;
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        for (size_t i = 0; i < n; i++)
            buf[i] = buf[i] ? buf[i] : '\n';
        buf[n] = '\0';
        char line[80];
        snprintf(line, sizeof line, "\n%s\n", want);
        if (strncmp(buf, want, strlen(want)) == 0 || strstr(buf, line))
            found = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    return found;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A long 2-rank run writing DIR/NAME.st, its output to DIR/NAME.log
 * (paths into ck and log): mpirun's pid once the first checkpoint exists
 * (or after 30 s). */
static pid_t start_long_run(const char *name, char ck[512], char log[512])
{
    char cmd[8192];
    snprintf(ck, 512, "%s/%s.st", dir, name);
    snprintf(log, 512, "%s/%s.log", dir, name);
    snprintf(cmd, sizeof cmd, "exec %s -np 2 %s " COMMON " --batch 8 --epochs 100000 --quiet "
             "--out %s > %s 2>&1", mpirun, nn_bin, dir, dir, ck, log);
    pid_t pid = cli_spawn(cmd);
    double t0 = now();
    struct stat sb;
    while (stat(ck, &sb) != 0 && now() - t0 < 30)
        nap(20);
    return pid;
}

/* mpirun's status once it has ended, within 30 s of now (it is killed
 * and the test fails otherwise, naming what happened). */
static int wait_30s(pid_t pid, const char *after)
{
    double t0 = now();
    int st = 0;
    pid_t w = 0;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && now() - t0 < 30)
        nap(20);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("mpirun still running 30 s after %s", after);
    }
    return st;
}


/* Rank 1 killed mid-run: mpirun stops the others within 30 s, exits
 * non-zero naming the rank, and the last checkpoint loads and resumes. */
static void mpi_killed_rank_stops_all(void **state)
{
    (void)state;
    NEED_MPI();
    char ck[512], log[512];
    pid_t pid = start_long_run("killed", ck, log);
    nap(300); /* a few epochs on */
    pid_t victim = find_rank("killed.st", 1);
    if (!victim) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("no rank 1 found (checkpoint %s)", access(ck, F_OK) == 0 ? "written" : "missing");
    }
    assert_int_equal(kill(victim, SIGKILL), 0);
    int st = wait_30s(pid, "rank 1 was killed");
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
    static char o[16384];
    cli_read(log, o, sizeof o);
    if (!strstr(o, "rank 1"))
        fail_msg("mpirun's message does not name rank 1:\n%s", o);
    /* intact: loads, and training resumes from it */
    nn_ctx *ctx = nn_ctx_new(NULL);
    nn_checkpoint *c = nn_checkpoint_open(ctx, ck);
    if (!c)
        fail_msg("the last checkpoint does not open: %s", nn_ctx_error(ctx));
    int done = nn_checkpoint_info(c)->epochs_done;
    nn_checkpoint_close(c);
    nn_ctx_free(ctx);
    assert_true(done >= 1);
    int rc = run(o, sizeof o, "%s -np 2 %s train --resume %s --epochs %d --quiet", mpirun,
                 nn_bin, ck, done + 1);
    if (rc != 0)
        fail_msg("resume after the kill exited %d:\n%s", rc, o);
}

static int count_of(const char *s, const char *needle)
{
    int k = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        k++;
    return k;
}

/* Ctrl-C to mpirun (which sends SIGTERM to every rank): the ranks stop
 * after the same batch, rank 0 alone says so and how to continue, no rank
 * aborts the job, mpirun exits non-zero within 30 s, and the checkpoint
 * resumes. */
static void mpi_ctrl_c_stops_cleanly(void **state)
{
    (void)state;
    NEED_MPI();
    char ck[512], log[512];
    pid_t pid = start_long_run("ctrlc", ck, log);
    nap(200);
    assert_int_equal(kill(pid, SIGINT), 0);
    int st = wait_30s(pid, "Ctrl-C");
    static char o[16384];
    cli_read(log, o, sizeof o);
    if (!WIFEXITED(st) || WEXITSTATUS(st) == 0 || count_of(o, "interrupted after epoch ") != 1 ||
        count_of(o, "stopping after this batch") != 1 || strstr(o, "failed; stopping") ||
        strstr(o, "MPI_ABORT") || !strstr(o, "continue with: nn train --resume"))
        fail_msg("mpirun status %d after Ctrl-C:\n%s", st, o);
    int rc = run(o, sizeof o, "%s -np 2 %s train --resume %s --epochs %d --quiet", mpirun,
                 nn_bin, ck, atoi(strstr(o, "interrupted after epoch ") + 24) + 1);
    if (rc != 0)
        fail_msg("resume after Ctrl-C exited %d:\n%s", rc, o);
}

/* Commands other than train under mpirun: rank 0 alone runs them (one
 * report, not one per rank) and says so; the others end at once. */
static void mpi_eval_runs_once(void **state)
{
    (void)state;
    NEED_MPI();
    static char o[16384];
    int rc = run(o, sizeof o, "%s " COMMON " --epochs 1 --quiet --out %s/once.st", nn_bin, dir,
                 dir, dir);
    if (rc != 0)
        fail_msg("%s", o);
    rc = run(o, sizeof o, "%s -np 2 %s eval %s/once.st", mpirun, nn_bin, dir);
    if (rc != 0 || count_of(o, "accuracy ") != 1 || count_of(o, "rank 0 alone runs it") != 1)
        fail_msg("mpirun -np 2 nn eval exited %d:\n%s", rc, o);
}

/* An error every rank meets (a mistyped flag, found before MPI starts; a
 * setting the checkpoint contradicts, after) is printed once, by rank 0,
 * not once per rank; mpirun exits non-zero. */
static void mpi_common_error_printed_once(void **state)
{
    (void)state;
    NEED_MPI();
    static char o[16384];
    int rc = run(o, sizeof o, "%s -np 2 %s train --bacth 5", mpirun, nn_bin);
    if (rc == 0 || count_of(o, "unknown option '--bacth'") != 1)
        fail_msg("mpirun -np 2 nn train --bacth 5 exited %d:\n%s", rc, o);
    rc = run(o, sizeof o, "%s " COMMON " --epochs 1 --quiet --out %s/c64.st", nn_bin, dir, dir,
             dir);
    if (rc != 0)
        fail_msg("%s", o);
    rc = run(o, sizeof o, "%s -np 2 %s train --resume %s/c64.st --epochs 2 --batch 12", mpirun,
             nn_bin, dir);
    if (rc == 0 || count_of(o, "contradicts the checkpoint") != 1)
        fail_msg("a resume every rank refuses exited %d:\n%s", rc, o);
}

/* lbfgs evaluates the loss several times per step: refused on 2 ranks
 * with a message saying why, and mpirun ends (no rank left waiting). */
static void mpi_lbfgs_refused(void **state)
{
    (void)state;
    NEED_MPI();
    char o[16384];
    int rc = run(o, sizeof o, "%s -np 2 %s " COMMON " --batch 480 --optim lbfgs --epochs 1 "
                 "--out %s/lbfgs.st", mpirun, nn_bin, dir, dir, dir);
    if (rc == 0 || rc >= 1000 || !strstr(o, "lbfgs") || !strstr(o, "data-parallel"))
        fail_msg("mpirun -np 2 nn train --optim lbfgs exited %d:\n%s", rc, o);
}

NN_GROUP_FIXTURE(mpi, setup, teardown, cmocka_unit_test(mpi_two_ranks_match_one),
                 cmocka_unit_test(mpi_lbfgs_refused),
                 cmocka_unit_test(mpi_reproducible_bit_identical),
                 cmocka_unit_test(mpi_resume_on_other_rank_count),
                 cmocka_unit_test(mpi_batchnorm),
                 cmocka_unit_test(mpi_missing_file_names_rank),
                 cmocka_unit_test(mpi_killed_rank_stops_all),
                 cmocka_unit_test(mpi_ctrl_c_stops_cleanly),
                 cmocka_unit_test(mpi_eval_runs_once),
                 cmocka_unit_test(mpi_common_error_printed_once))
