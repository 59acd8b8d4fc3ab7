/*
 * dist.c - the nn program's data-parallel side. MPI is started only when
 * mpirun launched the process (OMPI_COMM_WORLD_SIZE above 1): then the
 * MPI plugin nn-mpi.so (tools/mpi/nn_mpi.c, built when Open MPI is
 * installed) is loaded from beside the program or from ../lib/nn/, and
 * provides the library's collectives; run without mpirun, nn neither
 * loads nor starts MPI. A failing rank stops every rank.
 */
#include "cli.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *plugin;
static int (*p_start)(struct cli_dist *d);
static void (*p_abort)(int rc);
static void (*p_end)(void);

/* dlopen of nn-mpi.so beside the program, then in ../lib/nn/. */
static bool load_plugin(char *why, size_t cap)
{
    char self[4096];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0) {
        snprintf(why, cap, "cannot find the program's own path");
        return false;
    }
    self[k] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    const char *rel[] = {"/nn-mpi.so", "/../lib/nn/nn-mpi.so"};
    char path[4200];
    why[0] = '\0';
    for (size_t i = 0; i < 2 && !plugin; i++) {
        snprintf(path, sizeof path, "%s%s", self, rel[i]);
        if (access(path, R_OK) != 0)
            continue;
        if (!(plugin = dlopen(path, RTLD_NOW | RTLD_GLOBAL)))
            snprintf(why, cap, "%s", dlerror());
    }
    if (!plugin) {
        if (!why[0])
            snprintf(why, cap, "no nn-mpi.so in %s or its ../lib/nn (build nn with "
                     "libopenmpi-dev installed)", self);
        return false;
    }
    *(void **)&p_start = dlsym(plugin, "nn_mpi_start");
    *(void **)&p_abort = dlsym(plugin, "nn_mpi_abort");
    *(void **)&p_end = dlsym(plugin, "nn_mpi_end");
    if (!p_start || !p_abort || !p_end) {
        snprintf(why, cap, "%s lacks the plugin's functions", path);
        return false;
    }
    return true;
}

bool cli_dist_start(const char *cmd, struct cli_dist *d)
{
    memset(d, 0, sizeof *d);
    d->size = 1;
    const char *ws = getenv("OMPI_COMM_WORLD_SIZE");
    if (!ws || atoi(ws) <= 1)
        return true; /* one process: no MPI at all */
    char why[4400];
    if (!load_plugin(why, sizeof why))
        return cli_fail(cmd, "launched by mpirun as %s processes, but MPI support could not "
                        "be loaded: %s", ws, why) == 0;
    int rc = p_start(d);
    if (rc != 0) {
        cli_fail(cmd, "%s", rc == 1 ? "MPI_Init failed under mpirun" : "out of memory");
        if (rc == 2)
            p_abort(1);
        return false;
    }
    d->on = d->size > 1;
    snprintf(d->where, sizeof d->where, "rank %d of %d on host %s", d->rank, d->size, d->host);
    cli_fail_where = d->where;
    return true;
}

void cli_dist_hold(void)
{
    static char held[1 << 16];
    setvbuf(stderr, held, _IOFBF, sizeof held);
}

void cli_dist_linger(void)
{
    /* mpirun ends the other ranks about a second after the first fails */
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL);
}

int cli_dist_local_size(void)
{
    const char *ls = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    int n = ls ? atoi(ls) : 1;
    return n > 0 ? n : 1;
}

void cli_dist_abort(struct cli_dist *d, const char *cmd, int rc)
{
    if (!d->on)
        return;
    if (d->rank != 0) /* its messages are held: see cli_dist_hold */
        cli_dist_linger();
    fprintf(stderr, "nn %s: %s failed; stopping every rank\n", cmd, d->where);
    fflush(stderr);
    p_abort(rc ? rc : 1);
}

void cli_dist_end(struct cli_dist *d)
{
    if (d->on) {
        cli_fail_where = NULL;
        p_end();
    }
    free(d->counts);
    free(d->displs);
    free(d->tmp);
    d->on = false;
}
