/*
 * nn.c - the libnn command-line program.
 */
#include "nn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(FILE *f)
{
    fprintf(f,
            "usage: nn <command> [options]\n"
            "\n"
            "commands:\n"
            "  gradcheck --all   check every op's backward pass against central\n"
            "                    finite differences; one line per op\n"
            "  help [command]    this text, or a command's options\n"
            "  --version         the library version\n");
    return f == stderr ? 2 : 0;
}

static int cmd_gradcheck(int argc, char **argv)
{
    const char *only = NULL;
    bool all = false;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0)
            all = true;
        else if (strcmp(argv[i], "--op") == 0 && i + 1 < argc)
            only = argv[++i];
        else {
            fprintf(stderr, "nn gradcheck: unknown option '%s' (see: nn help gradcheck)\n",
                    argv[i]);
            return 2;
        }
    }
    if (!all && !only) {
        fprintf(stderr, "nn gradcheck: give --all or --op NAME\n");
        return 2;
    }
    int failed = 0, checked = 0;
    for (int i = 0; i < nn_op_count(); i++) {
        const char *name = nn_op_name_at(i);
        if (only && strcmp(only, name) != 0)
            continue;
        nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
        if (!ctx) {
            fprintf(stderr, "nn gradcheck: out of memory\n");
            return 1;
        }
        struct nn_gradcheck_result r;
        double tol = 0;
        nn_status st = nn_gradcheck_op(ctx, i, &r, &tol);
        if (st == NN_ERR_INVALID && !only) { /* a leaf: nothing to check */
            nn_ctx_free(ctx);
            continue;
        }
        checked++;
        if (st != NN_OK) {
            printf("%-24s error: %s\n", name, nn_ctx_error(ctx));
            failed++;
        } else {
            bool ok = r.max_rel_err <= tol;
            printf("%-24s max rel err %.2e  (tol %.0e, %3lld entries)  %s\n", name,
                   r.max_rel_err, tol, (long long)r.checked, ok ? "pass" : "FAIL");
            failed += !ok;
        }
        nn_ctx_free(ctx);
    }
    if (only && checked == 0) {
        fprintf(stderr, "nn gradcheck: no op named '%s'\n", only);
        return 2;
    }
    printf("%d ops checked, %d failed\n", checked, failed);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(stderr);
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("nn %s\n", nn_version());
        return 0;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)
        return usage(stdout);
    if (strcmp(cmd, "gradcheck") == 0)
        return cmd_gradcheck(argc - 2, argv + 2);
    fprintf(stderr, "nn: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
