/*
 * test_cli_user.c - the nn program as a Keras or PyTorch user meets it
 * (issue 16): CSV files without a header, Ctrl-C during training, output
 * paths checked before any work, refusing to overwrite another model, and
 * messages that suggest the word meant. Each test drives the built nn
 * binary the way a user types it.
 */
#include "test.h"

#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char nn_bin[4200];
static char dir[256];
static char out[1 << 16];

/* build/nn beside this runner (build/, build-asan/, ...). */
static void setup_paths(void)
{
    if (nn_bin[0])
        return;
    char self[4096];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(k > 0);
    self[k] = '\0';
    char *slash = strrchr(self, '/');
    assert_non_null(slash);
    *slash = '\0';
    snprintf(nn_bin, sizeof nn_bin, "%s/nn", self);
    assert_int_equal(access(nn_bin, X_OK), 0);
}

/* Runs a shell command, capturing stdout+stderr into o; returns the exit
 * status (128 + signal as sh reports a signal). */
static int run(char *o, size_t cap, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[8400];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    assert_non_null(p);
    size_t n = fread(o, 1, cap - 1, p);
    o[n] = '\0';
    int st = pclose(p);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Lines of s that start with prefix. */
static int count_lines(const char *s, const char *prefix)
{
    int n = 0;
    size_t pl = strlen(prefix);
    for (const char *p = s; p && *p;) {
        if (strncmp(p, prefix, pl) == 0)
            n++;
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return n;
}

static int setup(void **state)
{
    (void)state;
    setup_paths();
    snprintf(dir, sizeof dir, "/tmp/nn-cli16-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    /* two numeric features and a 0/1 class, no header */
    write_file("nohdr.csv", "1,2,0\n3,4,1\n5,6,0\n7,8,1\n");
    write_file("in3.csv", "1,2\n3,4\n5,6\n");
    /* a larger headerless set of two blobs, for runs of many batches */
    char path[512];
    snprintf(path, sizeof path, "%s/big.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    unsigned s = 11;
    for (int i = 0; i < 4000; i++) {
        int c = i % 2;
        s = s * 1103515245u + 12345u;
        double u = ((s >> 8) & 0xffff) / 65536.0 - 0.5;
        s = s * 1103515245u + 12345u;
        double v = ((s >> 8) & 0xffff) / 65536.0 - 0.5;
        fprintf(f, "%.4f,%.4f,%d\n", u + c, v - c, c);
    }
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A CSV without a header keeps its first row: 4 rows train as 4, and
 * predict on a 3-row file prints 3 lines. --header yes forces the old
 * reading; a bad --header value is named. */
static void headerless_csv_keeps_first_row(void **state)
{
    (void)state;
    int rc = run(out, sizeof out, "%s train --data %s/nohdr.csv --label 2 --model '2 dense:2 softmax' "
                 "--epochs 1 --out %s/h.safetensors", nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "4 training samples"));
    assert_non_null(strstr(out, "no header row"));
    rc = run(out, sizeof out, "%s eval %s/h.safetensors --json", nn_bin, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "\"n\": 4"));
    rc = run(out, sizeof out, "%s predict %s/h.safetensors --input %s/in3.csv", nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    assert_int_equal(count_lines(out, "2: class"), 1);
    assert_int_equal(count_lines(out, "0: class"), 1);
    /* the first row as names on request: 3 rows, and a header '1,2,0' */
    rc = run(out, sizeof out, "%s train --data %s/nohdr.csv --label 2 --header yes "
             "--model '2 dense:9 softmax' --epochs 1 --out %s/y.safetensors", nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "3 training samples"));
    rc = run(out, sizeof out, "%s train --data %s/nohdr.csv --header maybe --epochs 1 "
             "--out %s/z.safetensors", nn_bin, dir, dir);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(out, "--header must be yes, no or auto, not 'maybe'"));
    /* a header is still found: text above numbers */
    write_file("hdr.csv", "x,y,label\n1,2,0\n3,4,1\n5,6,0\n");
    rc = run(out, sizeof out, "%s train --data %s/hdr.csv --label label --model '2 dense:2 softmax' "
             "--epochs 1 --out %s/w.safetensors", nn_bin, dir, dir);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "3 training samples"));
    assert_null(strstr(out, "no header row"));
}

NN_GROUP_FIXTURE(cli_user, setup, teardown,
                 cmocka_unit_test(headerless_csv_keeps_first_row))
