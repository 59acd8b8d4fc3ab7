/*
 * nn_mpi.c - the nn program's MPI plugin (nn-mpi.so): MPI_Init, the
 * library's collectives (struct nn_dist) over MPI_COMM_WORLD, abort and
 * finalize. A separate shared object so that nn loads Open MPI (some
 * 25 ms of dynamic loading) only when mpirun launched it (tools/dist.c).
 */
#include "../cli.h"

#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

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

/* counts and offsets as MPI's ints; false if one does not fit. */
static bool segments(struct cli_dist *d, const int64_t *counts)
{
    int64_t off = 0;
    for (int r = 0; r < d->size; r++) {
        if (counts[r] > INT_MAX || off > INT_MAX)
            return false;
        d->counts[r] = (int)counts[r];
        d->displs[r] = (int)off;
        off += counts[r];
    }
    return true;
}

static nn_status gather(void *user, float *buf, const int64_t *counts)
{
    struct cli_dist *d = user;
    if (!segments(d, counts))
        return NN_ERR_RANGE;
    return MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, d->counts, d->displs,
                          MPI_FLOAT, MPI_COMM_WORLD) == MPI_SUCCESS ? NN_OK : NN_ERR_IO;
}

/* MPI_Reduce_scatter into a buffer of this rank's segment (allocated at
 * the first call: the block keeps its size), copied into place. (A ring
 * of MPI_Sendrecv calls was 1.4-1.8x slower over shared memory.) */
static nn_status reduce_scatter(void *user, float *buf, const int64_t *counts)
{
    struct cli_dist *d = user;
    if (!segments(d, counts))
        return NN_ERR_RANGE;
    int64_t mine = counts[d->rank];
    if (mine > d->cap) {
        free(d->tmp);
        d->cap = 0;
        if (!(d->tmp = malloc((size_t)mine * sizeof *d->tmp)))
            return NN_ERR_NOMEM;
        d->cap = mine;
    }
    if (MPI_Reduce_scatter(buf, d->tmp, d->counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) !=
        MPI_SUCCESS)
        return NN_ERR_IO;
    if (mine > 0) /* an Adafactor share may be empty */
        memcpy(buf + d->displs[d->rank], d->tmp, (size_t)mine * sizeof *buf);
    return NN_OK;
}

int nn_mpi_start(struct cli_dist *d);
void nn_mpi_abort(int rc);
void nn_mpi_end(void);

/* 0, or 1 if MPI_Init failed, 2 if out of memory. */
int nn_mpi_start(struct cli_dist *d)
{
    /* Shared memory between ranks: copy through the shared segment rather
     * than with a single-copy mechanism (CMA), unless the user chose one.
     * The gradient block's allreduce measured 96 us this way and 194-219 us
     * with Open MPI 4.1's default on the 2-core Zen 5 host (2026-11-30,
     * bench/allreduce.c); the variable is read by MPI_Init below. */
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
    if (MPI_Init(NULL, NULL) != MPI_SUCCESS)
        return 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
    int len = 0;
    MPI_Get_processor_name(d->host, &len);
    d->counts = malloc((size_t)d->size * sizeof *d->counts);
    d->displs = malloc((size_t)d->size * sizeof *d->displs);
    if (!d->counts || !d->displs)
        return 2;
    /* NN_MPI_SHARD=1: the sharded optimizer step (reduce-scatter, each rank
     * steps its share, allgather); by default one allreduce and the whole
     * step on every rank, which measured faster here (docs/scale-out.md) */
    const char *shard = getenv("NN_MPI_SHARD");
    d->d = (struct nn_dist){.rank = d->rank, .size = d->size, .allreduce = reduce,
                            .allreduce_f64 = reduce_f64, .allgather = gather, .user = d,
                            .reduce_scatter = shard && strcmp(shard, "1") == 0
                                                  ? reduce_scatter : NULL};
    return 0;
}

void nn_mpi_abort(int rc) { MPI_Abort(MPI_COMM_WORLD, rc); }
void nn_mpi_end(void) { MPI_Finalize(); }
