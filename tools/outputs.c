/*
 * outputs.c - the files nn train will write, checked before any work: the
 * folder of each output path must exist and be writable (else the reason,
 * as the system gives it), and an existing checkpoint of another model is
 * not replaced without --force.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool cli_check_output(const char *cmd, const char *flag, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        cli_fail(cmd, "%s %s: cannot write: it is a folder (give a file name)", flag, path);
        return false;
    }
    /* the folder: everything up to the last '/', or "." */
    size_t len = strlen(path);
    char *folder = malloc(len + 2);
    if (!folder) {
        cli_fail(cmd, "out of memory");
        return false;
    }
    const char *slash = strrchr(path, '/');
    if (!slash)
        strcpy(folder, ".");
    else if (slash == path)
        strcpy(folder, "/");
    else {
        memcpy(folder, path, (size_t)(slash - path));
        folder[slash - path] = '\0';
    }
    bool ok = true;
    errno = 0;
    if (stat(folder, &sb) != 0) {
        cli_fail(cmd, "%s %s: cannot write: folder %s: %s", flag, path, folder, strerror(errno));
        ok = false;
    } else if (!S_ISDIR(sb.st_mode)) {
        cli_fail(cmd, "%s %s: cannot write: %s is not a folder", flag, path, folder);
        ok = false;
    } else if (access(folder, W_OK | X_OK) != 0) {
        cli_fail(cmd, "%s %s: cannot write in folder %s: %s", flag, path, folder,
                 strerror(errno));
        ok = false;
    } else if (access(path, F_OK) == 0 && access(path, W_OK) != 0) {
        cli_fail(cmd, "%s %s: cannot write: %s", flag, path, strerror(errno));
        ok = false;
    }
    free(folder);
    return ok;
}

/* The same architecture: the same parameters (and buffers), by name and
 * shape, in the same order; two spellings of one spec (dense:8,bias=no and
 * dense:8:bias=no) are the same model. */
static bool same_model(nn_ctx *ctx, const char *old_spec, const nn_model *m)
{
    nn_model *old = old_spec ? nn_model_new(ctx, old_spec, &(struct nn_model_cfg){.max_batch = 1})
                             : NULL;
    nn_ctx_clear_error(ctx);
    if (!old)
        return false;
    const nn_graph *a = nn_model_graph(old), *b = nn_model_graph(m);
    bool same = nn_graph_nparams(a) == nn_graph_nparams(b);
    for (int i = 0; same && i < nn_graph_nparams(a); i++) {
        const nn_node *p = nn_graph_param(a, i), *q = nn_graph_param(b, i);
        same = strcmp(nn_node_name(p), nn_node_name(q)) == 0 &&
               nn_node_ndim(p) == nn_node_ndim(q);
        for (int d = 0; same && d < nn_node_ndim(p); d++)
            same = nn_node_dim(p, d) == nn_node_dim(q, d);
    }
    nn_model_free(old);
    return same;
}

bool cli_check_overwrite(nn_ctx *ctx, const char *path, const nn_model *m, bool force)
{
    const char *spec = nn_model_spec(m);
    if (force || access(path, F_OK) != 0)
        return true;
    nn_checkpoint *ck = nn_checkpoint_open(ctx, path);
    if (!ck) {
        cli_fail("train", "--out %s exists and is not a checkpoint nn can read (%s); give "
                 "--force to replace it, or --out another file", path, nn_ctx_error(ctx));
        nn_ctx_clear_error(ctx);
        return false;
    }
    const char *old = nn_checkpoint_info(ck)->spec;
    bool same = old && (strcmp(old, spec) == 0 || same_model(ctx, old, m));
    if (!same)
        cli_fail("train", "--out %s holds another model (\"%s\"), not \"%s\"; give --force "
                 "to replace it, or --out another file", path, old ? old : "?", spec);
    nn_checkpoint_close(ck);
    return same;
}
