/*
 * test.h - shared helpers of the test suite (cmocka). Each test file
 * declares its groups with NN_GROUP(name, cmocka_unit_test(...), ...); the
 * runner finds them through a generated list.
 */
#ifndef NN_TEST_H
#define NN_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h> /* pid_t */

#include "nn.h"

/* Skipped tests, counted by skip() below (cmocka reports only failures to
 * the caller; the runner subtracts these from the passed). */
extern int nn_test_skipped;
#undef skip
#define skip()                                                                \
    do {                                                                      \
        nn_test_skipped++;                                                    \
        _skip(__FILE__, __LINE__);                                            \
    } while (0)

#define NN_GROUP(name, ...)                                                   \
    int nn_group_##name(int *ntests);                                         \
    int nn_group_##name(int *ntests)                                          \
    {                                                                         \
        const struct CMUnitTest t[] = {__VA_ARGS__};                          \
        *ntests = (int)(sizeof t / sizeof t[0]);                              \
        return _cmocka_run_group_tests(#name, t, (size_t)*ntests, NULL, NULL); \
    }

/* The same with group setup and teardown functions. */
#define NN_GROUP_FIXTURE(name, setup, teardown, ...)                          \
    int nn_group_##name(int *ntests);                                         \
    int nn_group_##name(int *ntests)                                          \
    {                                                                         \
        const struct CMUnitTest t[] = {__VA_ARGS__};                          \
        *ntests = (int)(sizeof t / sizeof t[0]);                              \
        return _cmocka_run_group_tests(#name, t, (size_t)*ntests, setup, teardown); \
    }

/* Asserts |a - b| <= atol + rtol |b|, printing both on failure. */
#define assert_close(a, b, rtol, atol)                                        \
    do {                                                                      \
        double a_ = (a), b_ = (b);                                            \
        if (!(fabs(a_ - b_) <= (atol) + (rtol) * fabs(b_)))                   \
            fail_msg("%s = %.9g, expected %s = %.9g (rtol %g, atol %g)", #a,  \
                     a_, #b, b_, (double)(rtol), (double)(atol));             \
    } while (0)

/* Asserts a call returned NN_OK, printing the context's message if not. */
#define assert_ok(ctx, call)                                                  \
    do {                                                                      \
        nn_status st_ = (call);                                               \
        if (st_ != NN_OK)                                                     \
            fail_msg("%s failed: %s: %s", #call, nn_status_str(st_),          \
                     nn_ctx_error(ctx));                                      \
    } while (0)

/* An initializer's text form and what it must give on a (256, 784) weight
 * (fan_in 784, fan_out 256): mean, standard deviation, kurtosis (3 for a
 * normal, 1.8 for a uniform) and the range [lo, hi] every value lies in.
 * A standard deviation of 0: every value exactly the mean. */
struct init_case {
    const char *form;
    double mean, std, kurtosis, lo, hi;
};
#define INIT_OUT 256
#define INIT_IN 784
extern const struct init_case nn_test_init_cases[];
extern const int nn_test_init_ncases;
/* Fails (naming what) unless w[0..n) has the case's mean and standard
 * deviation within 3 standard errors (the standard error of the sample
 * standard deviation being std sqrt((kurtosis - 1) / 4n)), or every value
 * equal to the mean when std is 0, and lies in [lo, hi]. */
void nn_test_check_init(const char *what, const struct init_case *c, const float *w, int64_t n);

/* Path of a file under tests/ (the runner is started from the repo root,
 * or NN_TEST_DIR points at tests/). */
const char *nn_test_path(const char *rel);

/* test_optim.c's torch.optim fixtures (tests/ref/optim): their names, the
 * configuration one holds, and a replay of one with another configuration
 * (failing the test off torch's trajectory). */
int nn_test_optim_fixtures(const char *const **names);
void nn_test_optim_fixture_cfg(const char *name, struct nn_optim_cfg *cfg);
void nn_test_optim_replay(const char *name, const struct nn_optim_cfg *cfg);

/* cli_util.c: the tests of the nn program. */
/* The nn binary beside this runner (build/, build-asan/, ...). */
const char *cli_nn(void);
/* Runs a shell command with stderr joined to stdout, its first cap - 1
 * bytes into out (out may be NULL); returns the exit status, or 1000 +
 * signal if it died of one (also when sh reports a signal as 128 + it). */
int cli_run(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A new directory /tmp/nn-TAG-XXXXXX into dir; 0, or -1 on failure. */
int cli_tmpdir(char *dir, size_t cap, const char *tag);
/* Removes dir and everything in it; 0, or -1 on failure. */
int cli_rmdir(const char *dir);
/* Starts the shell command cmd in the background (sh -c; "exec" in front
 * makes its pid the program's); its pid. */
pid_t cli_spawn(const char *cmd);
/* The text of the file at path (at most cap - 1 bytes, NUL-terminated) into
 * buf; fails the test if it cannot be read. */
void cli_read(const char *path, char *buf, size_t cap);
/* An IDX file of unsigned bytes with the given dimensions. */
void cli_write_idx(const char *path, int ndim, const uint32_t *dims, const uint8_t *data,
                   size_t n);
/* dir/sine.csv: 40 samples "x,y" of sin(2 pi x) + noise (sd about 0.1),
 * x in [0, 1), from a fixed generator; 0, or -1 on failure. */
int cli_write_sine(const char *dir);
/* Each spec is refused by nn_model_new with a message containing its
 * needle (fails naming the spec otherwise). */
struct nn_test_bad_spec {
    const char *spec, *needle;
};
void nn_test_bad_specs(const struct nn_test_bad_spec *bad, size_t n);
/* Writes text to dir/name. */
void cli_write(const char *dir, const char *name, const char *text);
/* The lines of s that start with prefix. */
int cli_count_lines(const char *s, const char *prefix);
/* Whether tensor name holds the same bytes in two checkpoints (both must
 * open and hold it). */
bool cli_tensor_equal(const char *a, const char *b, const char *name);
/* A malloc'd copy of tensor name's data, its element count in n. */
float *cli_tensor_copy(const char *file, const char *name, int64_t *n);
/* Every tensor of a and b holds the same bytes; fails naming the first
 * float that differs, with its index and both values. */
void cli_same_tensors(const char *a, const char *b);

#endif
