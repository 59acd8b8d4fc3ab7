/*
 * dist.c - the nn program's data-parallel side: MPI started only when
 * mpirun launched the process (OMPI_COMM_WORLD_SIZE set), the library's
 * collectives (struct nn_dist) over MPI_COMM_WORLD, and the abort that
 * stops every rank when one fails. Built without MPI (no libopenmpi-dev),
 * the same functions refuse a multi-rank launch.
 */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef NN_MPI
#include <mpi.h>

static nn_status reduce(void *user, float *buf, int64_t n)
{
    (void)user;
    for (int64_t off = 0; off < n; off += 1 << 30) { /* counts are int */
        int len = (int)(n - off < (1 << 30) ? n - off : 1 << 30);
        if (MPI_Allreduce(MPI_IN_PLACE, buf + off, len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) !=
            MPI_SUCCESS)
            return NN_ERR_IO;
    }
    return NN_OK;
}

static nn_status reduce_f64(void *user, double *buf, int64_t n)
{
    (void)user;
    return MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD) ==
                   MPI_SUCCESS ? NN_OK : NN_ERR_IO;
}

static nn_status gather(void *user, float *buf, const int64_t *counts)
{
    struct cli_dist *d = user;
    int64_t off = 0;
    for (int r = 0; r < d->size; r++) {
        d->counts[r] = (int)counts[r];
        d->displs[r] = (int)off;
        off += counts[r];
    }
    return MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, d->counts, d->displs,
                          MPI_FLOAT, MPI_COMM_WORLD) == MPI_SUCCESS ? NN_OK : NN_ERR_IO;
}
#endif

bool cli_dist_start(const char *cmd, struct cli_dist *d)
{
    memset(d, 0, sizeof *d);
    d->size = 1;
    const char *ws = getenv("OMPI_COMM_WORLD_SIZE");
    if (!ws || atoi(ws) <= 1)
        return true; /* one process: no MPI at all */
#ifdef NN_MPI
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
        return cli_fail(cmd, "MPI_Init failed under mpirun") == 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    int len = 0;
    MPI_Get_processor_name(d->host, &len);
    d->counts = malloc((size_t)d->size * sizeof *d->counts);
    d->displs = malloc((size_t)d->size * sizeof *d->displs);
    if (!d->counts || !d->displs) {
        cli_fail(cmd, "out of memory");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    d->on = d->size > 1;
    d->d = (struct nn_dist){.rank = d->rank, .size = d->size, .allreduce = reduce,
                            .allreduce_f64 = reduce_f64, .allgather = gather, .user = d};
    snprintf(d->where, sizeof d->where, "rank %d of %d on host %s", d->rank, d->size, d->host);
    cli_fail_where = d->where;
    return true;
#else
    return cli_fail(cmd, "launched by mpirun as %s processes, but this nn was built without "
                    "MPI (install libopenmpi-dev and rebuild)", ws) == 0;
#endif
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
#ifdef NN_MPI
    fprintf(stderr, "nn %s: %s failed; stopping every rank\n", cmd, d->where);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, rc ? rc : 1);
#else
    (void)cmd, (void)rc;
#endif
}

void cli_dist_end(struct cli_dist *d)
{
#ifdef NN_MPI
    if (d->on) {
        cli_fail_where = NULL;
        MPI_Finalize();
    }
    free(d->counts);
    free(d->displs);
#endif
    d->on = false;
}
