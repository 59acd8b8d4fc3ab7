/*
 * runner.c - runs every test group (or those named on the command line) and
 * ends with the line "N passed, N failed, N skipped"; exits non-zero on any
 * failure.
 */
#include "test.h"

#define X(name) int nn_group_##name(int *ntests);
#include "groups.h"
#undef X

struct group {
    const char *name;
    int (*run)(int *ntests);
};

static const struct group groups[] = {
#define X(name) {#name, nn_group_##name},
#include "groups.h"
#undef X
};

int nn_test_skipped;

const char *nn_test_path(const char *rel)
{
    static char buf[4096];
    const char *dir = getenv("NN_TEST_DIR");
    snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "tests", rel);
    return buf;
}

int main(int argc, char **argv)
{
    int passed = 0, failed = 0, skipped = 0, ran = 0;
    for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++) {
        bool wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            wanted |= strcmp(argv[a], groups[i].name) == 0;
        if (!wanted)
            continue;
        int n = 0, s0 = nn_test_skipped;
        int f = groups[i].run(&n);
        int s = nn_test_skipped - s0;
        passed += n - f - s;
        failed += f;
        skipped += s;
        ran++;
    }
    if (argc >= 2 && ran == 0) {
        fprintf(stderr, "runner: no test group matches the names given\n");
        failed++;
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
