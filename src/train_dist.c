/*
 * train_dist.c - data-parallel and reproducible training (docs/scale-out.md):
 * each rank's share of a global batch, the collective sum of the gradient
 * block (one allreduce, or the sharded step's reduce-scatter and
 * allgather), the fixed chunks of --reproducible, batch norm's running
 * statistics kept the same on every rank, and the agreement to stop.
 * The training loop (train.c) calls it for every step of a run with
 * cfg.dist or cfg.reproducible.
 */
#include "train_impl.h"

#include <math.h>
#include <string.h>

/* ---- data-parallel and reproducible training ---------------------------- *
 * Each global batch is cut into contiguous shares of one shuffled order
 * (the same on every rank: the generator is shared). Plain: each rank
 * computes the mean gradient of its share, scaled by share / batch, and
 * one allreduce sums the block. Reproducible: the batch is cut into
 * cfg.chunks fixed chunks whatever the rank count; each chunk's gradient
 * is computed alone (its own dropout stream) into its row of cbuf, the
 * rows are gathered on every rank and added in chunk order. */

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15u;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
    return x ^ (x >> 31);
}

/* Reseeds the shared generator for one stream of the epoch: its dropout. */
static void par_stream(nn_trainer *t, uint64_t a, uint64_t b)
{
    uint64_t h = mix64(a) ^ mix64(b + 0x632be59bd9b4e019u);
    for (int i = 0; i < 4; i++)
        h = mix64(h ^ t->rng_epoch[i]);
    nn_ctx_seed(nn_model_ctx(t->m), h);
}

static int dist_rank(const nn_trainer *t) { return t->cfg.dist ? t->cfg.dist->rank : 0; }
int nn_dist_size(const nn_trainer *t) { return t->cfg.dist ? t->cfg.dist->size : 1; }

/* The buffers' list and copy, once. */
static nn_status par_buffers(nn_trainer *t)
{
    nn_graph *g = nn_model_graph(t->m);
    int64_t nb = 0;
    for (int i = 0; i < g->nparams; i++)
        if (!g->params[i]->trainable)
            t->nbufs++, nb += g->params[i]->sample_numel;
    t->bufs = malloc((size_t)(t->nbufs ? t->nbufs : 1) * sizeof *t->bufs);
    t->bsave = malloc((size_t)(nb ? nb : 1) * sizeof *t->bsave);
    if (!t->bufs || !t->bsave)
        return nn_fail(g->ctx, NN_ERR_NOMEM, "train: out of memory");
    t->nbufs = 0;
    for (int i = 0; i < g->nparams; i++)
        if (!g->params[i]->trainable)
            t->bufs[t->nbufs++] = i;
    return NN_OK;
}

/* The shares of the sharded step, once: equal to 16 floats for an
 * element-wise optimizer, at the parameter whose middle is nearest for
 * Adafactor (which computes per tensor). */
static nn_status par_shards(nn_trainer *t)
{
    nn_graph *g = nn_model_graph(t->m);
    int size = nn_dist_size(t);
    int64_t P = g->param_count;
    t->bound = malloc((size_t)(size + 1) * sizeof *t->bound);
    t->scount = malloc((size_t)(2 * size) * sizeof *t->scount);
    t->flags = malloc((size_t)(2 + size) * sizeof *t->flags);
    if (!t->bound || !t->scount || !t->flags)
        return nn_fail(g->ctx, NN_ERR_NOMEM, "train: out of memory");
    bool elementwise = nn_optim_shard_kind(t->opt) == NN_SHARD_ELEMENTS;
    int i = 0;
    for (int r = 0; r < size; r++) {
        int64_t target = P * r / size;
        if (elementwise) {
            t->bound[r] = target / 16 * 16;
            continue;
        }
        while (i < g->nparams &&
               g->params[i]->param_offset + g->params[i]->sample_numel / 2 < target)
            i++;
        t->bound[r] = i < g->nparams ? g->params[i]->param_offset : P;
    }
    t->bound[0] = 0;
    t->bound[size] = P;
    for (int r = 0; r < size; r++)
        t->scount[r] = t->bound[r + 1] - t->bound[r];
    return NN_OK;
}

/* The buffers and the shares of data-parallel training and the chunk
 * buffer of reproducible training, once. */
nn_status nn_par_check(nn_trainer *t)
{
    nn_graph *g = nn_model_graph(t->m);
    int size = nn_dist_size(t);
    nn_status st;
    if (!t->bufs && (st = par_buffers(t)) != NN_OK)
        return st;
    if (t->shard && !t->bound && (st = par_shards(t)) != NN_OK)
        return st;
    if (!t->cfg.reproducible || t->cbuf)
        return NN_OK;
    int64_t P = g->param_count, K = t->cfg.chunks;
    if (size > 1 && K * P > 2147483647)
        return nn_fail(g->ctx, NN_ERR_INVALID,
                       "train: reproducible mode gathers %lld chunks of %lld parameters, "
                       "more than one MPI message holds; use fewer chunks", (long long)K,
                       (long long)P);
    t->cbuf = nn_aligned_alloc((size_t)(K * P) * sizeof(float));
    t->counts = malloc((size_t)size * sizeof *t->counts);
    if (!t->cbuf || !t->counts)
        return nn_fail(g->ctx, NN_ERR_NOMEM,
                       "train: out of memory for %lld chunk gradients of %lld floats",
                       (long long)K, (long long)P);
    for (int r = 0; r < size; r++) {
        int64_t c0, c1;
        nn_split(K, 1, r, size, &c0, &c1);
        t->counts[r] = (c1 - c0) * P;
    }
    return NN_OK;
}

/* Buffers (batch norm's running statistics) are updated by every forward
 * pass in training mode. To keep them the same on every rank, and the
 * same whatever the number of ranks in reproducible mode, each share (or
 * chunk) starts from the values before the step and puts its change,
 * scaled by its part of the batch, into the buffer's place in the
 * gradient block (which no gradient uses): the collective sum then gives
 * the step's change, the changes of the shares averaged, one update per
 * step as one process makes. */
static void buffers_save(nn_trainer *t)
{
    nn_graph *g = nn_model_graph(t->m);
    float *s = t->bsave;
    for (int i = 0; i < t->nbufs; i++) {
        const nn_node *p = g->params[t->bufs[i]];
        memcpy(s, p->val, (size_t)p->sample_numel * sizeof *s);
        s += p->sample_numel;
    }
}

static void buffers_restore(nn_trainer *t)
{
    nn_graph *g = nn_model_graph(t->m);
    const float *s = t->bsave;
    for (int i = 0; i < t->nbufs; i++) {
        nn_node *p = g->params[t->bufs[i]];
        memcpy(p->val, s, (size_t)p->sample_numel * sizeof *s);
        s += p->sample_numel;
    }
}

/* Writes w x (change of each buffer) into its place in row (laid out as
 * the gradient block). */
static void buffers_delta(nn_trainer *t, float *row, float w)
{
    nn_graph *g = nn_model_graph(t->m);
    const float *s = t->bsave;
    for (int i = 0; i < t->nbufs; i++) {
        const nn_node *p = g->params[t->bufs[i]];
        float *d = row + p->param_offset;
        for (int64_t j = 0; j < p->sample_numel; j++)
            d[j] = w * (p->val[j] - s[j]);
        s += p->sample_numel;
    }
}

/* The buffers' elements in [lo, hi) of the block become their values
 * before the step plus the summed change in gb (a count, batch norm's
 * num_batches_tracked, rounded), and their places in gb zeros again. */
static void buffers_apply(nn_trainer *t, float *gb, int64_t lo, int64_t hi)
{
    nn_graph *g = nn_model_graph(t->m);
    const float *s = t->bsave;
    for (int i = 0; i < t->nbufs; i++) {
        nn_node *p = g->params[t->bufs[i]];
        int64_t off = p->param_offset, n = p->sample_numel;
        int64_t a = lo > off ? lo - off : 0, b = hi < off + n ? hi - off : n;
        for (int64_t j = a; j < b; j++) {
            float v = s[j] + gb[off + j];
            p->val[j] = p->int_count ? roundf(v) : v;
            gb[off + j] = 0;
        }
        s += n;
    }
}

/* A step given up (every rank stops before it): the buffers as before the
 * step, their places in the gradient block zeros again. */
static void buffers_undo(nn_trainer *t)
{
    nn_graph *g = nn_model_graph(t->m);
    buffers_restore(t);
    for (int i = 0; i < t->nbufs; i++) {
        const nn_node *p = g->params[t->bufs[i]];
        memset(g->grad_block + p->param_offset, 0, (size_t)p->sample_numel * sizeof(float));
    }
}

/* Forward and backward over perm[lo, hi) of batch b, the gradient of the
 * loss seeded with w (the share's part of the batch: the scaled gradient
 * without a pass over the block); the loss and metrics of the share are
 * added to sums. *bad names the node if the loss is not finite (the
 * gradient is then left unset). */
static nn_status par_share(nn_trainer *t, const struct nn_source *src, enum nn_feed_kind kind,
                           int64_t lo, int64_t hi, float w, double sums[5], const char **bad)
{
    nn_model *m = t->m;
    nn_graph *g = nn_model_graph(m);
    nn_node *loss = nn_model_loss(m);
    int64_t k = hi - lo;
    nn_status st = nn_train_feed(m, src, kind, t->scratch, t->perm + lo, k);
    if (st == NN_OK)
        st = nn_forward_to(g, loss);
    if (st != NN_OK)
        return st;
    if (!isfinite(loss->val[0])) {
        const char *where = nn_graph_first_nonfinite(g);
        *bad = where ? where : "?";
        return NN_OK;
    }
    nn_zero_grad(g);
    if ((st = nn_backward_seeded(g, loss, &w)) != NN_OK)
        return st;
    sums[0] += (double)loss->val[0] * (double)k;
    nn_train_batch_metrics(m, k, &sums[1], &sums[2], &sums[3]);
    sums[4] += (double)k;
    return NN_OK;
}

NN_MULTIVERSION
static void scale_into(float *dst, const float *x, int64_t n, float f)
{
    NN_SIMD
    for (int64_t i = 0; i < n; i++)
        dst[i] = x[i] * f;
}

NN_MULTIVERSION
static void add_into(float *dst, const float *x, int64_t n)
{
    NN_SIMD
    for (int64_t i = 0; i < n; i++)
        dst[i] += x[i];
}

/* This rank's share of batch b in plain data-parallel training: the
 * gradient scaled by share / k (by 1 when every share is equal: the
 * sharded step scales the sum), the buffers' changes alongside; a zero
 * gradient for no share, NaN in its first element if the loss was not
 * finite (*bad names the node). */
static nn_status plain_share(nn_trainer *t, const struct nn_source *src, enum nn_feed_kind kind,
                             int64_t b, int64_t k, bool equal, double sums[5], const char **bad)
{
    nn_graph *g = nn_model_graph(t->m);
    int rank = dist_rank(t), size = nn_dist_size(t);
    int64_t B = t->cfg.batch, base = b * B, P = g->param_count, lo, hi;
    nn_split(k, 1, rank, size, &lo, &hi);
    if (b == 0) /* this rank's dropout stream for the epoch */
        par_stream(t, (uint64_t)rank, 0);
    if (src->prefetch && base + B < t->perm_n) {
        int64_t kn = t->perm_n - base - B < B ? t->perm_n - base - B : B, l2, h2;
        nn_split(kn, 1, rank, size, &l2, &h2);
        if (h2 > l2)
            src->prefetch(src->self, t->perm + base + B + l2, h2 - l2);
    }
    nn_status st = NN_OK;
    float w = equal ? 1.0f : (float)((double)(hi - lo) / (double)k);
    if (hi > lo)
        st = par_share(t, src, kind, base + lo, base + hi, w, sums, bad);
    if (st != NN_OK)
        return st;
    float *gb = nn_graph_grad_block(g); /* zeros when this rank had no share */
    if (hi == lo || *bad)
        memset(gb, 0, (size_t)P * sizeof(float));
    if (*bad && !t->shard)
        gb[0] = NAN; /* every rank then stops at the same step (sharded: by the flags) */
    if (!*bad)
        buffers_delta(t, gb, w);
    return NN_OK;
}

/* This rank's chunks of batch b in reproducible training, each from the
 * buffers as they were before the step, into their rows of cbuf. */
static nn_status repro_chunks(nn_trainer *t, const struct nn_source *src,
                              enum nn_feed_kind kind, int64_t b, int64_t k, double sums[5],
                              const char **bad)
{
    nn_graph *g = nn_model_graph(t->m);
    int64_t K = t->cfg.chunks, P = g->param_count, base = b * t->cfg.batch, c0, c1;
    nn_split(K, 1, dist_rank(t), nn_dist_size(t), &c0, &c1);
    for (int64_t j = c0; j < c1; j++) {
        int64_t lo, hi;
        nn_split(k, 1, (int)j, (int)K, &lo, &hi);
        float *row = t->cbuf + j * P;
        const char *bj = NULL;
        if (j > c0)
            buffers_restore(t);
        par_stream(t, (uint64_t)b, (uint64_t)j + 1);
        nn_status st = NN_OK;
        if (hi > lo)
            st = par_share(t, src, kind, base + lo, base + hi, 1.0f, sums, &bj);
        if (st != NN_OK)
            return st;
        if (hi == lo || bj) {
            memset(row, 0, (size_t)P * sizeof(float));
            if (bj)
                row[0] = NAN, *bad = bj;
            continue;
        }
        float w = (float)((double)(hi - lo) / (double)k);
        scale_into(row, nn_graph_grad_block(g), P, w);
        buffers_delta(t, row, w);
    }
    return NN_OK;
}

/* The sharded step after this rank's share: the reduce-scatter of the
 * gradient block, on this rank's part of it the buffers, the penalties
 * and the check, one allreduce of the sum of squares and of every rank's
 * failure (so that every rank stops at the same step, before any update),
 * the clipping and the optimizer step of this part, and the allgather of
 * the parameter block. The optimizer state of the other parts is left
 * old (par_gather_state). */
static nn_status shard_step(nn_trainer *t, int epoch, int64_t b, bool equal, const char *bad,
                            bool *stop)
{
    nn_graph *g = nn_model_graph(t->m);
    const struct nn_dist *d = t->cfg.dist;
    int rank = d->rank, size = d->size;
    int64_t lo = t->bound[rank], hi = t->bound[rank + 1];
    float *gb = g->grad_block;
    nn_status st = d->reduce_scatter(d->user, gb, t->scount);
    if (st != NN_OK)
        return nn_fail(g->ctx, st, "train: the reduce-scatter of the gradients failed at "
                       "epoch %d, batch %lld", epoch, (long long)b + 1);
    if (equal && hi > lo)
        scale_into(gb + lo, gb + lo, hi - lo, 1.0f / (float)size);
    buffers_apply(t, gb, lo, hi);
    double sq = 0;
    bool ok = !bad && nn_train_regularize_range(t, lo, hi, &sq);
    for (int r = 0; r <= size + 1; r++)
        t->flags[r] = 0;
    t->flags[0] = ok ? sq : 0;
    t->flags[1 + rank] = bad ? 2 : !ok;
    t->flags[1 + size] = t->stop_req;
    if ((st = d->allreduce_f64(d->user, t->flags, 2 + size)) != NN_OK)
        return nn_fail(g->ctx, st, "train: the allreduce of the gradient norm failed");
    if (t->flags[1 + size] > 0) { /* a rank asked to stop after the last batch */
        buffers_undo(t);
        *stop = true;
        return NN_OK;
    }
    for (int r = 0; r < size; r++)
        if (t->flags[1 + r] > 0) {
            t->agreed = true;
            if (!ok || bad)
                return NN_ERR_NUMERIC; /* the message is set (bad: by par_step) */
            return nn_fail(g->ctx, NN_ERR_NUMERIC,
                           "the %s on rank %d was not finite at epoch %d, batch %lld; "
                           "training stopped before the update, keeping the last good "
                           "weights", t->flags[1 + r] > 1 ? "loss" : "gradient", r, epoch,
                           (long long)b + 1);
        }
    nn_train_clip_range(t, t->flags[0], lo, hi);
    if ((st = nn_optim_step_range(t->opt, lo, hi)) != NN_OK)
        return st;
    t->state_stale = true;
    if ((st = d->allgather(d->user, g->param_block, t->scount)) != NN_OK)
        return nn_fail(g->ctx, st, "train: the allgather of the parameters failed at epoch "
                       "%d, batch %lld", epoch, (long long)b + 1);
    return NN_OK;
}

static nn_status loss_fail(nn_ctx *ctx, int epoch, int64_t b, int rank, const char *bad)
{
    return nn_fail(ctx, NN_ERR_NUMERIC,
                   "the loss became non-finite at epoch %d, batch %lld on rank %d; the first "
                   "non-finite value was in node '%s'. Training stopped before the update, "
                   "keeping the last good weights (try a smaller learning rate or gradient "
                   "clipping)", epoch, (long long)b + 1, rank, bad);
}

/* One training step on batch b (k samples from perm[b * batch]): this
 * rank's share or chunks, the collective sum, the penalties and the check
 * of the global gradient, the optimizer step (sharded or whole). The sum
 * carries stop_req, each rank's wish to stop after the previous batch: if
 * any rank has it, every rank gives this step up (the weights, buffers and
 * sums as after the previous batch) and sets *stop. */
nn_status nn_par_step(nn_trainer *t, const struct nn_source *src, enum nn_feed_kind kind,
                          int epoch, int64_t b, int64_t k, double sums[5], bool *stop)
{
    nn_graph *g = nn_model_graph(t->m);
    nn_ctx *ctx = g->ctx;
    const struct nn_dist *d = t->cfg.dist;
    int rank = dist_rank(t), size = nn_dist_size(t);
    int64_t P = g->param_count;
    const char *bad = NULL;
    nn_status st;
    bool equal = t->shard && k % size == 0;
    double before[5];
    memcpy(before, sums, sizeof before);
    buffers_save(t);
    if (!t->cfg.reproducible) {
        if ((st = plain_share(t, src, kind, b, k, equal, sums, &bad)) != NN_OK)
            return st;
        if (t->shard) {
            if (bad)
                loss_fail(ctx, epoch, b, rank, bad);
            st = shard_step(t, epoch, b, equal, bad, stop);
            if (*stop)
                memcpy(sums, before, sizeof before);
            return st;
        }
        float *gb = g->grad_block; /* the spare float after it: the stop flag */
        gb[P] = t->stop_req;
        if ((st = d->allreduce(d->user, gb, P + 1)) != NN_OK)
            return nn_fail(ctx, st, "train: the allreduce of the gradients failed at epoch "
                           "%d, batch %lld", epoch, (long long)b + 1);
        if (gb[P] > 0) {
            buffers_undo(t);
            memcpy(sums, before, sizeof before);
            *stop = true;
            return NN_OK;
        }
    } else {
        if ((st = repro_chunks(t, src, kind, b, k, sums, &bad)) != NN_OK)
            return st;
        if (size > 1 && (st = d->allgather(d->user, t->cbuf, t->counts)) != NN_OK)
            return nn_fail(ctx, st, "train: the gather of the chunk gradients failed at epoch "
                           "%d, batch %lld", epoch, (long long)b + 1);
        float *gb = nn_graph_grad_block(g);
        memcpy(gb, t->cbuf, (size_t)P * sizeof(float));
        for (int64_t j = 1; j < t->cfg.chunks; j++)
            add_into(gb, t->cbuf + j * P, P);
    }
    buffers_apply(t, g->grad_block, 0, P);
    if (bad)
        return loss_fail(ctx, epoch, b, rank, bad);
    if (!nn_train_regularize_and_check(t))
        return NN_ERR_NUMERIC;
    return nn_optim_step(t->opt);
}

/* A stop asked by any rank stops all of them. */
nn_status nn_par_agree(nn_trainer *t, bool *stop)
{
    const struct nn_dist *d = t->cfg.dist;
    if (!d || d->size < 2)
        return NN_OK;
    double f = *stop;
    nn_status st = d->allreduce_f64(d->user, &f, 1);
    if (st != NN_OK)
        return nn_fail(nn_model_ctx(t->m), st, "train: the allreduce of the stop flag failed");
    *stop = f > 0;
    return NN_OK;
}

/* The optimizer state of every share on every rank after sharded steps
 * (each rank updated its share's): what a checkpoint saves. */
nn_status nn_par_gather_state(nn_trainer *t)
{
    const struct nn_dist *d = t->cfg.dist;
    if (!t->shard || !t->state_stale)
        return NN_OK;
    float *state = nn_optim_state(t->opt);
    int size = d->size;
    int64_t *cnt = t->scount + size, first, lo, hi;
    for (int run = 0; run < nn_optim_state_runs(t->opt); run++) {
        nn_optim_state_span(t->opt, run, t->bound[0], t->bound[1], &first, &hi);
        for (int r = 0; r < size; r++) {
            nn_optim_state_span(t->opt, run, t->bound[r], t->bound[r + 1], &lo, &hi);
            cnt[r] = hi - lo;
        }
        nn_status st = d->allgather(d->user, state + first, cnt);
        if (st != NN_OK)
            return nn_fail(nn_model_ctx(t->m), st,
                           "train: the allgather of the optimizer state failed");
    }
    t->state_stale = false;
    return NN_OK;
}

/* The epoch's metric sums over every rank, and the whole optimizer state
 * on every rank. (Buffers are the same on every rank after every step.) */
nn_status nn_par_epoch_end(nn_trainer *t, double sums[5])
{
    const struct nn_dist *d = t->cfg.dist;
    nn_graph *g = nn_model_graph(t->m);
    if (!d || d->size < 2)
        return NN_OK;
    nn_status st = d->allreduce_f64(d->user, sums, 5);
    if (st != NN_OK)
        return nn_fail(g->ctx, st, "train: the allreduce of the epoch's metrics failed");
    return nn_par_gather_state(t);
}
