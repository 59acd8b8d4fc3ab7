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

/* Path of a file under tests/ (the runner is started from the repo root,
 * or NN_TEST_DIR points at tests/). */
const char *nn_test_path(const char *rel);

#endif
