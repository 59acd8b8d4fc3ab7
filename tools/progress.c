/*
 * progress.c - training progress: a live bar on a terminal (batches,
 * loss, accuracy, examples/s, ETA), one line per epoch otherwise.
 */
#include "cli.h"

#include <math.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

bool cli_on_batch(const struct nn_train_progress *p, void *user)
{
    double *last = user; /* time of the last redraw */
    double t = now_s();
    if (p->batch != p->batches && t - *last < 0.1)
        return true;
    *last = t;
    enum { W = 28 };
    int fill = (int)(W * p->batch / p->batches);
    char bar[W + 1];
    for (int i = 0; i < W; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[W] = '\0';
    double rate = p->seconds > 0 ? (double)p->samples_done / p->seconds : 0;
    double eta = p->batch > 0 ? p->seconds * (double)(p->batches - p->batch) / (double)p->batch : 0;
    fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %lld/%lld  loss %.4f", p->epoch, p->epochs, bar,
            (long long)p->batch, (long long)p->batches, p->loss);
    if (isfinite(p->accuracy) && p->accuracy > 0)
        fprintf(stderr, "  acc %.4f", p->accuracy);
    fprintf(stderr, "  %.0f ex/s  ETA %.0fs", rate, eta);
    fflush(stderr);
    return true;
}

void cli_print_epoch(const struct nn_epoch_stats *s, bool regression, bool tty)
{
    if (tty)
        fprintf(stderr, "\r\033[K");
    printf("epoch %3d  loss %.4f", s->epoch, s->train.loss);
    if (s->train.penalty > 0)
        printf(" (+%.4f penalty)", s->train.penalty);
    if (regression)
        printf("  mae %.4f", s->train.mae);
    else
        printf("  acc %.4f", s->train.accuracy);
    if (s->val.n > 0) {
        printf("  val_loss %.4f", s->val.loss);
        if (regression)
            printf("  val_mae %.4f", s->val.mae);
        else
            printf("  val_acc %.4f", s->val.accuracy);
    }
    printf("  lr %.3g  %.1fs\n", s->lr, s->seconds);
    fflush(stdout);
}
