/*
 * allreduce.c - `make bench-mpi`: the time of one MPI_Allreduce (sum, in
 * place) of the MLP's gradient block (235,146 floats) between the ranks,
 * and of the sharded step's pair that moves the same bytes: a
 * reduce-scatter of the block into each rank's share, then an allgather
 * of the shares, as the nn-mpi plugin makes them (MPI_Reduce_scatter into
 * a buffer copied into place, MPI_Allgatherv in place); median of 200
 * after 20 warm-up calls. Run under mpirun; rank 0 prints. (A ring of
 * MPI_Sendrecv calls made the same pair 1.4-1.8x slower than
 * MPI_Reduce_scatter and MPI_Allgatherv over shared memory.)
 */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct shares {
    int n, rank;
    int *counts, *displs;
};

/* Median microseconds of reps calls of the allreduce of n floats (pair
 * 0) or of the reduce-scatter and allgather of the shares (pair 1). */
static double median_us(int pair, struct shares *sh, float *buf, float *tmp, int reps,
                        double *t)
{
    for (int i = -20; i < reps; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        if (pair == 0) {
            MPI_Allreduce(MPI_IN_PLACE, buf, sh->n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        } else {
            int r = sh->rank;
            MPI_Reduce_scatter(buf, tmp, sh->counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            memcpy(buf + sh->displs[r], tmp, (size_t)sh->counts[r] * sizeof *buf);
            MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, sh->counts, sh->displs,
                           MPI_FLOAT, MPI_COMM_WORLD);
        }
        if (i >= 0)
            t[i] = MPI_Wtime() - t0;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp);
    return 1e6 * t[reps / 2];
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 235146, reps = 200, rank, size;
    /* as nn-mpi.so does (tools/mpi/nn_mpi.c): no single-copy mechanism */
    setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    float *buf = calloc((size_t)n, sizeof *buf), *tmp = calloc((size_t)n, sizeof *tmp);
    double *t = malloc(reps * sizeof *t);
    int *counts = malloc((size_t)size * sizeof *counts);
    int *displs = malloc((size_t)size * sizeof *displs);
    if (!buf || !tmp || !t || !counts || !displs)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int r = 0, off = 0; r < size; r++) {
        counts[r] = (int)((long long)n * (r + 1) / size - (long long)n * r / size);
        displs[r] = off;
        off += counts[r];
    }
    struct shares sh = {n, rank, counts, displs};
    double ar = median_us(0, &sh, buf, tmp, reps, t);
    double mpi = median_us(1, &sh, buf, tmp, reps, t);
    if (rank == 0)
        printf("{\"floats\": %d, \"bytes\": %d, \"us\": %.1f, \"rs_ag_us\": %.1f}\n", n,
               4 * n, ar, mpi);
    free(buf);
    free(tmp);
    free(t);
    free(counts);
    free(displs);
    MPI_Finalize();
    return 0;
}
