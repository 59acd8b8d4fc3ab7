/*
 * allreduce.c - `make bench-mpi`: the time of one MPI_Allreduce (sum, in
 * place) of the MLP's gradient block (235,146 floats) between the ranks,
 * median of 200 after 20 warm-up calls. Run under mpirun; rank 0 prints.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 235146, reps = 200, rank;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    float *buf = calloc((size_t)n, sizeof *buf);
    double *t = malloc(reps * sizeof *t);
    if (!buf || !t)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int i = -20; i < reps; i++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (i >= 0)
            t[i] = MPI_Wtime() - t0;
    }
    qsort(t, reps, sizeof *t, cmp);
    if (rank == 0)
        printf("{\"floats\": %d, \"bytes\": %d, \"us\": %.1f}\n", n, 4 * n, 1e6 * t[reps / 2]);
    free(buf);
    free(t);
    MPI_Finalize();
    return 0;
}
