/*
 * train.c - the training loop: per-epoch shuffling, mini-batches gathered
 * straight into the graph's input buffers, L1/L2 penalties, gradient
 * clipping, non-finite detection, validation, early stopping with restore
 * of the best weights, and evaluation. Data-parallel and reproducible
 * steps are train_dist.c's; the trainer's state is in train_impl.h.
 */
#include "train_impl.h"

#include <math.h>
#include <string.h>
#include <time.h>

static nn_status make_chunks(nn_trainer *t, nn_graph *g);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- helpers ------------------------------------------------------------ */

const char *nn_graph_first_nonfinite(const nn_graph *g)
{
    for (int i = 0; i < g->norder; i++) {
        const nn_node *n = g->order[i];
        if (n->op == NN_OP_LABELS || !n->val)
            continue;
        int64_t m = nn_numel(n);
        for (int64_t j = 0; j < m; j++)
            if (!isfinite(n->val[j]))
                return n->name;
    }
    return NULL;
}

struct feed_job {
    const struct nn_source *src;
    const int64_t *idx;
    int64_t k, features, ntargets;
    float *x, *targets;
    int32_t *labels;
    nn_status st[64];
};

static void feed_part(void *arg, int t, int n)
{
    struct feed_job *j = arg;
    int64_t lo, hi;
    nn_split(j->k, 1, t, n, &lo, &hi);
    j->st[t] = lo < hi ? j->src->gather(j->src->self, j->idx + lo, hi - lo,
                                        j->x + lo * j->features,
                                        j->labels ? j->labels + lo : NULL,
                                        j->targets ? j->targets + lo * j->ntargets : NULL)
                       : NN_OK;
}

/* Feeds samples idx[0..k) of src (checked by nn_source_check, which chose
 * kind) into the model's input and target; a parallel source is gathered
 * by all of the context's threads. scratch holds max_batch labels for
 * NN_FEED_BINARY_LABELS. */
nn_status nn_train_feed(nn_model *m, const struct nn_source *src, enum nn_feed_kind kind,
                      int32_t *scratch, const int64_t *idx, int64_t k)
{
    nn_graph *g = nn_model_graph(m);
    nn_node *t = nn_model_target(m);
    float *tv = kind == NN_FEED_LABELS ? NULL : nn_input_buffer(g, t);
    int32_t *lv = kind == NN_FEED_LABELS ? nn_labels_buffer(g, t)
                : kind == NN_FEED_BINARY_LABELS ? scratch : NULL;
    struct feed_job j = {src, idx, k, nn_model_inputs(m), nn_model_outputs(m),
                         nn_input_buffer(g, nn_model_input(m)),
                         kind == NN_FEED_TARGETS ? tv : NULL, lv, {NN_OK}};
    nn_pool *pool = src->parallel && k >= 32 ? nn_ctx_pool(g->ctx) : NULL;
    nn_ctx_clear_error(g->ctx); /* so a source that fails silently gets a message */
    if (pool && nn_pool_size(pool) > 64)
        pool = NULL;
    nn_pool_run(pool, feed_part, &j);
    nn_status st = NN_OK;
    for (int i = 0; i < nn_pool_size(pool) && st == NN_OK; i++)
        st = j.st[i];
    if (st != NN_OK) {
        if (!g->ctx->err[0])
            nn_fail(g->ctx, st, "the data source could not provide %lld samples (%s)",
                    (long long)k, nn_status_str(st));
        return st;
    }
    if (kind == NN_FEED_BINARY_LABELS)
        for (int64_t i = 0; i < k; i++) {
            if (scratch[i] != 0 && scratch[i] != 1)
                return nn_fail(g->ctx, NN_ERR_RANGE,
                               "sample %lld has class label %d, but a one-output sigmoid "
                               "model takes labels 0 and 1 only", (long long)idx[i],
                               (int)scratch[i]);
            tv[i] = (float)scratch[i];
        }
    return nn_set_batch(g, k);
}

/* Adds this batch's metric sums: correct predictions, absolute and squared
 * errors. */
void nn_train_batch_metrics(nn_model *m, int64_t k, double *correct, double *abs_err,
                          double *sq_err)
{
    nn_node *out = nn_model_output(m), *t = nn_model_target(m);
    int64_t c = nn_model_outputs(m);
    if (nn_model_loss_kind(m) == NN_LOSS_SOFTMAX_CE) {
        const int32_t *y = (const int32_t *)(const void *)t->val;
        const float *z = nn_model_logits(m)->val;
        for (int64_t i = 0; i < k; i++) {
            int64_t best = 0;
            for (int64_t j = 1; j < c; j++)
                if (z[i * c + j] > z[i * c + best])
                    best = j;
            *correct += best == y[i];
        }
    } else if (nn_model_loss_kind(m) == NN_LOSS_SIGMOID_BCE) {
        /* binary accuracy: every unit's prediction on the right side of 0.5 */
        const float *z = nn_model_logits(m)->val;
        for (int64_t i = 0; i < k; i++) {
            bool ok = true;
            for (int64_t j = 0; j < c; j++)
                ok &= (z[i * c + j] > 0) == (t->val[i * c + j] > 0.5f);
            *correct += ok;
        }
    } else {
        for (int64_t i = 0; i < k * c; i++) {
            double e = (double)out->val[i] - t->val[i];
            *abs_err += fabs(e);
            *sq_err += e * e;
        }
    }
}

static void finish_metrics(nn_model *m, struct nn_metrics *r, double loss_sum,
                           double correct, double abs_err, double sq_err, int64_t n)
{
    bool regression = nn_model_loss_kind(m) == NN_LOSS_MSE;
    double nd = n > 0 ? (double)n : NAN;
    r->n = n;
    r->loss = loss_sum / nd;
    r->accuracy = regression ? NAN : correct / nd;
    r->mae = regression ? abs_err / (nd * (double)nn_model_outputs(m)) : NAN;
    r->mse = regression ? sq_err / (nd * (double)nn_model_outputs(m)) : NAN;
}

/* The sums of nn_evaluate (loss x samples, correct, absolute and squared
 * errors) over samples [lo, hi) of src (checked: kind). */
static nn_status evaluate_range(nn_model *m, const struct nn_source *src,
                                enum nn_feed_kind kind, int64_t lo, int64_t hi,
                                double sums[4])
{
    nn_graph *g = nn_model_graph(m);
    nn_status st = NN_OK;
    int64_t mb = nn_model_max_batch(m);
    int64_t *idx = malloc((size_t)mb * sizeof *idx);
    int32_t *scratch = malloc((size_t)mb * sizeof *scratch);
    if (!idx || !scratch) {
        free(idx);
        free(scratch);
        return nn_fail(g->ctx, NN_ERR_NOMEM, "evaluate: out of memory");
    }
    bool training = g->training;
    nn_graph_set_training(g, false);
    if (src->begin_pass) /* an evaluation pass: samples as they are */
        src->begin_pass(src->self, -1);
    double loss = 0, correct = 0, ae = 0, se = 0;
    for (int64_t i = lo; st == NN_OK && i < hi; i += mb) {
        int64_t k = hi - i < mb ? hi - i : mb;
        for (int64_t j = 0; j < k; j++)
            idx[j] = i + j;
        st = nn_train_feed(m, src, kind, scratch, idx, k);
        if (st == NN_OK)
            st = nn_forward(g);
        if (st == NN_OK) {
            loss += (double)nn_model_loss(m)->val[0] * (double)k;
            nn_train_batch_metrics(m, k, &correct, &ae, &se);
        }
    }
    nn_graph_set_training(g, training);
    free(idx);
    free(scratch);
    sums[0] = loss, sums[1] = correct, sums[2] = ae, sums[3] = se;
    return st;
}

nn_status nn_model_layer_stats(nn_model *m, const struct nn_source *src, int64_t n,
                               struct nn_layer_stat *out, int cap, int *count)
{
    nn_graph *g = nn_model_graph(m);
    *count = 0;
    enum nn_feed_kind kind;
    nn_status st = nn_source_check(m, src, "layer statistics", &kind);
    if (st != NN_OK)
        return st;
    int64_t k = n < nn_model_max_batch(m) ? n : nn_model_max_batch(m);
    if (k > src->n)
        k = src->n;
    if (k < 1)
        return nn_fail(g->ctx, NN_ERR_INVALID,
                       "layer statistics: need at least 1 sample, got %lld (the source "
                       "has %lld)", (long long)n, (long long)src->n);
    int64_t *idx = malloc((size_t)k * sizeof *idx);
    int32_t *scratch = malloc((size_t)k * sizeof *scratch);
    if (!idx || !scratch) {
        free(idx);
        free(scratch);
        return nn_fail(g->ctx, NN_ERR_NOMEM, "layer statistics: out of memory");
    }
    for (int64_t j = 0; j < k; j++)
        idx[j] = j;
    bool training = g->training;
    nn_graph_set_training(g, false);
    if (src->begin_pass) /* samples as they are */
        src->begin_pass(src->self, -1);
    st = nn_train_feed(m, src, kind, scratch, idx, k);
    if (st == NN_OK)
        st = nn_forward(g);
    if (st == NN_OK) {
        nn_zero_grad(g);
        st = nn_backward(g, nn_model_loss(m));
    }
    if (st == NN_OK)
        *count = nn_layer_stats(g, nn_model_loss(m), out, cap);
    nn_zero_grad(g);
    nn_graph_set_training(g, training);
    free(idx);
    free(scratch);
    return st;
}

nn_status nn_evaluate(nn_model *m, const struct nn_source *src, struct nn_metrics *out)
{
    return nn_evaluate_dist(m, src, NULL, out);
}

nn_status nn_evaluate_dist(nn_model *m, const struct nn_source *src, const struct nn_dist *d,
                           struct nn_metrics *out)
{
    memset(out, 0, sizeof *out);
    enum nn_feed_kind kind;
    nn_status st = nn_source_check(m, src, "evaluate", &kind);
    if (st != NN_OK)
        return st;
    double sums[5] = {0};
    int64_t lo = 0, hi = src->n;
    if (d && d->size > 1)
        nn_split(src->n, 1, d->rank, d->size, &lo, &hi);
    if (lo < hi)
        st = evaluate_range(m, src, kind, lo, hi, sums);
    if (d && d->size > 1) {
        /* every rank reaches the allreduce; a failed rank adds its flag */
        sums[4] = st != NN_OK;
        nn_status rs = d->allreduce_f64(d->user, sums, 5);
        if (st == NN_OK && rs != NN_OK)
            st = nn_fail(nn_model_ctx(m), rs, "evaluate: the allreduce of the metrics failed");
        if (st == NN_OK && sums[4] > 0)
            st = nn_fail(nn_model_ctx(m), NN_ERR_STATE,
                         "evaluate: another rank failed to evaluate its share");
    }
    finish_metrics(m, out, sums[0], sums[1], sums[2], sums[3], src->n);
    return st;
}

/* ---- trainer ------------------------------------------------------------ */

static bool penalized(const nn_trainer *t, const nn_node *p)
{
    return p->trainable && (p->ndim >= 2 || t->cfg.penalize_biases);
}

double nn_trainer_penalty(const nn_trainer *t)
{
    if (t->cfg.l1 == 0 && t->cfg.l2 == 0)
        return 0;
    nn_graph *g = nn_model_graph(t->m);
    double l1 = 0, l2 = 0;
    for (int i = 0; i < g->nparams; i++) {
        const nn_node *p = g->params[i];
        if (!penalized(t, p))
            continue;
        for (int64_t j = 0; j < p->sample_numel; j++) {
            l1 += fabs((double)p->val[j]);
            l2 += (double)p->val[j] * p->val[j];
        }
    }
    return t->cfg.l1 * l1 + 0.5 * t->cfg.l2 * l2;
}

nn_trainer *nn_trainer_new(nn_model *m, const struct nn_train_cfg *cfg)
{
    nn_ctx *ctx = nn_model_ctx(m);
    nn_graph *g = nn_model_graph(m);
    struct nn_train_cfg c = cfg ? *cfg : (struct nn_train_cfg){0};
    if (c.epochs == 0)
        c.epochs = 10;
    if (c.batch == 0)
        c.batch = 64;
    const char *bad = NULL;
    if (c.epochs < 0)
        bad = "epochs must be >= 1";
    else if (c.batch < 1)
        bad = "batch must be >= 1";
    else if (c.batch > nn_model_max_batch(m))
        bad = "batch exceeds the model's max_batch";
    else if (!(c.l1 >= 0) || !(c.l2 >= 0))
        bad = "l1 and l2 must be >= 0";
    else if (!(c.clip_norm >= 0))
        bad = "clip_norm must be >= 0";
    else if (c.patience < 0 || !(c.min_delta >= 0))
        bad = "patience and min_delta must be >= 0";
    else if (!(c.tol >= 0) || !isfinite(c.tol))
        bad = "tol must be a finite number >= 0";
    else if (c.monitor_acc && nn_model_loss_kind(m) == NN_LOSS_MSE)
        bad = "monitor_acc needs a classifier (a regression model has no accuracy)";
    else if (c.dist && (c.dist->size < 1 || c.dist->rank < 0 || c.dist->rank >= c.dist->size ||
                        !c.dist->allreduce || !c.dist->allreduce_f64 || !c.dist->allgather))
        bad = "dist needs 0 <= rank < size and its three collectives (reduce_scatter is "
              "optional)";
    else if (c.chunks < 0 || c.chunks > 4096)
        bad = "chunks must be between 0 (default 4) and 4096";
    if (!bad && c.reproducible && c.chunks == 0)
        c.chunks = 4;
    if (!bad && c.reproducible && c.dist && c.chunks < c.dist->size)
        bad = "reproducible training needs at least as many chunks as ranks";
    if (!bad && c.optim.kind == NN_OPTIM_LBFGS && ((c.dist && c.dist->size > 1) || c.reproducible))
        bad = "lbfgs trains full-batch in one process: it evaluates the loss several times "
              "per step, which data-parallel (dist) and reproducible (chunked) training do "
              "not support";
    if (bad) {
        nn_fail(ctx, NN_ERR_INVALID, "trainer: %s (epochs %d, batch %lld, max_batch %lld)",
                bad, c.epochs, (long long)c.batch, (long long)nn_model_max_batch(m));
        return NULL;
    }
    nn_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        nn_fail(ctx, NN_ERR_NOMEM, "trainer: out of memory");
        return NULL;
    }
    t->m = m;
    t->cfg = c;
    t->best_val = INFINITY;
    t->tol_best = INFINITY;
    if (c.monitor_acc && c.schedule.kind == NN_SCHED_PLATEAU)
        c.schedule.mode_max = t->cfg.schedule.mode_max = true; /* accuracy should rise */
    t->par = (c.dist && c.dist->size > 1) || c.reproducible;
    t->opt = nn_optim_new(g, &c.optim);
    if (!t->opt) {
        free(t);
        return NULL;
    }
    t->shard = c.dist && c.dist->size > 1 && !c.reproducible && c.dist->reduce_scatter &&
               nn_optim_shard_kind(t->opt) != NN_SHARD_NONE;
    if (c.schedule_per_step && c.schedule.kind == NN_SCHED_PLATEAU) {
        nn_fail(ctx, NN_ERR_INVALID, "trainer: the plateau schedule follows the validation "
                "metric once per epoch; it cannot be stepped per batch");
        nn_optim_free(t->opt);
        free(t);
        return NULL;
    }
    /* per batch: the horizon (a cosine's default t_max) is set at fit time,
     * when the number of batches is known */
    t->sched = nn_schedule_new(ctx, &c.schedule, nn_optim_lr(t->opt),
                               c.schedule_per_step ? INT64_C(1) << 40 : c.epochs);
    t->scratch = malloc((size_t)c.batch * sizeof *t->scratch);
    if (!t->scratch)
        nn_fail(ctx, NN_ERR_NOMEM, "trainer: out of memory");
    if (!t->sched || !t->scratch || make_chunks(t, g) != NN_OK) {
        nn_schedule_free(t->sched);
        free(t->scratch);
        free(t->chunks);
        free(t->partial);
        nn_optim_free(t->opt);
        free(t);
        return NULL;
    }
    if (!c.decay_biases)
        for (int i = 0; i < g->nparams; i++)
            if (g->params[i]->ndim < 2)
                nn_optim_set_decay(t->opt, g->params[i], false);
    return t;
}

void nn_trainer_free(nn_trainer *t)
{
    if (!t)
        return;
    nn_optim_free(t->opt);
    nn_schedule_free(t->sched);
    free(t->chunks);
    free(t->partial);
    free(t->perm);
    free(t->scratch);
    nn_aligned_free(t->best);
    nn_aligned_free(t->cbuf);
    free(t->counts);
    free(t->bound);
    free(t->scount);
    free(t->flags);
    free(t->bufs);
    free(t->bsave);
    free(t->hist);
    free(t->hist_json.text);
    free(t);
}

const struct nn_epoch_stats *nn_trainer_history(const nn_trainer *t, int *n)
{
    *n = t->nhist;
    return t->hist;
}
nn_optim *nn_trainer_optim(nn_trainer *t) { return t->opt; }
nn_schedule *nn_trainer_schedule(nn_trainer *t) { return t->sched; }
int nn_trainer_epoch(const nn_trainer *t) { return t->nhist; }
int nn_trainer_best_epoch(const nn_trainer *t) { return t->best_epoch; }
bool nn_trainer_stopped_early(const nn_trainer *t) { return t->stopped_early; }
bool nn_trainer_converged(const nn_trainer *t) { return t->converged; }

/* Sum of squares of x[0..n), vectorized in float; exact enough for a norm. */
NN_MULTIVERSION
static float sum_sq(const float *x, int64_t n)
{
    float s = 0;
    NN_SIMD_SUM
    for (int64_t j = 0; j < n; j++)
        s += x[j] * x[j];
    return s;
}

NN_MULTIVERSION
static void add_penalty_grad(float *d, const float *w, int64_t n, float l1, float l2)
{
    NN_SIMD
    for (int64_t j = 0; j < n; j++)
        d[j] += l2 * w[j] + l1 * (float)((w[j] > 0) - (w[j] < 0));
}

/* The parameter block is checked in chunks of a fixed size, each chunk's
 * sum of squares kept apart and added in a fixed order: the threads share
 * the work, and the result does not depend on how many there are. */
#define CHUNK 16384

struct chunk {
    int param;
    int64_t off, len; /* within the parameter */
};

struct check_job {
    nn_trainer *t;
    nn_graph *g;
    int64_t lo, hi; /* the part of the block to check */
};

/* Chunk k's part [*a, *b) within its parameter that lies in [lo, hi) of
 * the block; false if none. */
static bool chunk_part(const nn_graph *g, const struct chunk *k, int64_t lo, int64_t hi,
                       int64_t *a, int64_t *b)
{
    int64_t base = g->params[k->param]->param_offset;
    *a = k->off > lo - base ? k->off : lo - base;
    *b = k->off + k->len < hi - base ? k->off + k->len : hi - base;
    return *a < *b;
}

static void check_part(void *arg, int th, int nth)
{
    struct check_job *j = arg;
    nn_trainer *t = j->t;
    float l1 = t->cfg.l1, l2 = t->cfg.l2;
    int64_t lo, hi, a, b;
    nn_split(t->nchunks, 1, th, nth, &lo, &hi);
    for (int64_t c = lo; c < hi; c++) {
        const struct chunk *k = &t->chunks[c];
        nn_node *p = j->g->params[k->param];
        t->partial[c] = 0;
        if (!chunk_part(j->g, k, j->lo, j->hi, &a, &b))
            continue;
        if ((l1 > 0 || l2 > 0) && penalized(t, p))
            add_penalty_grad(p->grad + a, p->val + a, b - a, l1, l2);
        t->partial[c] = sum_sq(p->grad + a, b - a);
    }
}

static nn_status make_chunks(nn_trainer *t, nn_graph *g)
{
    int64_t n = 0; /* buffers (no gradient) are not checked */
    for (int i = 0; i < g->nparams; i++)
        if (g->params[i]->trainable)
            n += (g->params[i]->sample_numel + CHUNK - 1) / CHUNK;
    t->chunks = malloc((size_t)(n ? n : 1) * sizeof *t->chunks);
    t->partial = malloc((size_t)(n ? n : 1) * sizeof *t->partial);
    if (!t->chunks || !t->partial)
        return nn_fail(g->ctx, NN_ERR_NOMEM, "trainer: out of memory");
    t->nchunks = 0;
    for (int i = 0; i < g->nparams; i++)
        for (int64_t off = 0; g->params[i]->trainable && off < g->params[i]->sample_numel;
             off += CHUNK) {
            int64_t len = g->params[i]->sample_numel - off;
            t->chunks[t->nchunks++] = (struct chunk){i, off, len < CHUNK ? len : CHUNK};
        }
    return NN_OK;
}

/* Adds the penalties' gradients to [lo, hi) of the block and sets *sq to
 * its sum of squares. Returns false (message set) if a gradient is not
 * finite. */
bool nn_train_regularize_range(nn_trainer *t, int64_t lo, int64_t hi, double *sq_out)
{
    nn_graph *g = nn_model_graph(t->m);
    nn_graph_grad_block(g); /* deferred zeros, before the threads read */
    struct check_job j = {t, g, lo, hi};
    nn_pool_run(hi - lo >= 4 * CHUNK ? nn_ctx_pool(g->ctx) : NULL, check_part, &j);
    double sq = 0;
    for (int64_t c = 0; c < t->nchunks; c++) {
        if (isfinite(t->partial[c])) {
            sq += t->partial[c];
            continue;
        }
        /* overflow of the float sum, or a NaN / infinity in the gradient */
        const struct chunk *k = &t->chunks[c];
        nn_node *p = g->params[k->param];
        double sd = 0;
        int64_t a, b;
        chunk_part(g, k, lo, hi, &a, &b);
        for (int64_t i = a; i < b; i++) {
            if (!isfinite(p->grad[i])) {
                nn_fail(g->ctx, NN_ERR_NUMERIC,
                        "the gradient of '%s' is not finite; training stopped before "
                        "the update, keeping the last good weights", p->name);
                return false;
            }
            sd += (double)p->grad[i] * p->grad[i];
        }
        sq += sd;
    }
    *sq_out = sq;
    return true;
}

/* Clips [lo, hi) of the gradient block to the global norm sqrt(sq). */
void nn_train_clip_range(nn_trainer *t, double sq, int64_t lo, int64_t hi)
{
    nn_graph *g = nn_model_graph(t->m);
    double norm = sqrt(sq);
    if (t->cfg.clip_norm > 0 && norm > t->cfg.clip_norm) {
        float f = (float)(t->cfg.clip_norm / (norm + 1e-6));
        NN_SIMD
        for (int64_t i = lo; i < hi; i++)
            g->grad_block[i] *= f;
    }
}

/* Adds the penalties' gradients, then checks and clips the global norm.
 * Returns false (message set) if a gradient is not finite. */
bool nn_train_regularize_and_check(nn_trainer *t)
{
    int64_t P = nn_model_graph(t->m)->param_count;
    double sq;
    if (!nn_train_regularize_range(t, 0, P, &sq))
        return false;
    nn_train_clip_range(t, sq, 0, P);
    return true;
}

static nn_status push_history(nn_trainer *t, const struct nn_epoch_stats *s)
{
    if (t->nhist == t->cap) {
        int cap = t->cap ? 2 * t->cap : 16;
        struct nn_epoch_stats *h = realloc(t->hist, (size_t)cap * sizeof *h);
        if (!h)
            return nn_fail(nn_model_ctx(t->m), NN_ERR_NOMEM, "trainer: out of memory");
        t->hist = h;
        t->cap = cap;
    }
    t->hist[t->nhist++] = *s;
    return NN_OK;
}

nn_status nn_trainer_set_epochs(nn_trainer *t, int epochs)
{
    if (epochs < 1 || epochs < t->nhist)
        return nn_fail(nn_model_ctx(t->m), NN_ERR_INVALID,
                       "trainer: cannot train to %d epochs when %d are done", epochs, t->nhist);
    t->cfg.epochs = epochs;
    return NN_OK;
}

/* Before an nn_trainer_fit: the trainer can train on, the sources fit the
 * model, and the index and best-weights buffers are allocated (only when
 * the data size changes: never per batch). */
static nn_status fit_prepare(nn_trainer *t, const struct nn_source *train,
                             const struct nn_source *val, enum nn_feed_kind *kind)
{
    nn_model *m = t->m;
    nn_graph *g = nn_model_graph(m);
    nn_ctx *ctx = g->ctx;
    const struct nn_train_cfg *c = &t->cfg;
    if (t->converged)
        return nn_fail(ctx, NN_ERR_STATE,
                       "train: training converged after epoch %d (training loss improved by "
                       "less than %g for %d epochs); nothing to train", t->nhist,
                       (double)c->tol, c->patience > 0 ? c->patience : 1);
    if (t->stopped_early)
        return nn_fail(ctx, NN_ERR_STATE,
                       "train: training stopped early after epoch %d (no validation "
                       "improvement for %d epochs); nothing to train", t->nhist, c->patience);
    if (t->nhist >= c->epochs)
        return nn_fail(ctx, NN_ERR_STATE,
                       "train: %d of %d epochs are done already; raise the count with "
                       "nn_trainer_set_epochs to train on", t->nhist, c->epochs);
    enum nn_feed_kind vkind;
    nn_status st = nn_source_check(m, train, "training data", kind);
    if (st != NN_OK)
        return st;
    if (val && (st = nn_source_check(m, val, "validation data", &vkind)) != NN_OK)
        return st;
    if (c->monitor_acc && !val)
        return nn_fail(ctx, NN_ERR_INVALID,
                       "train: monitoring the validation accuracy needs validation data");
    if (c->optim.kind == NN_OPTIM_LBFGS && c->batch < train->n)
        return nn_fail(ctx, NN_ERR_INVALID,
                       "train: lbfgs is a full-batch optimizer (it evaluates the loss of the "
                       "same batch several times per step), but the batch is %lld of %lld "
                       "training samples; use a batch of at least %lld", (long long)c->batch,
                       (long long)train->n, (long long)train->n);
    if (c->patience > 0 && !val && !(c->tol > 0))
        return nn_fail(ctx, NN_ERR_INVALID,
                       "train: early stopping (patience %d) needs validation data",
                       c->patience);
    if (t->perm_n != train->n) {
        free(t->perm);
        t->perm = malloc((size_t)train->n * sizeof *t->perm);
        t->perm_n = t->perm ? train->n : 0;
        if (!t->perm)
            return nn_fail(ctx, NN_ERR_NOMEM, "train: out of memory for %lld indices",
                           (long long)train->n);
    }
    bool early = c->patience > 0 && val; /* early stopping on validation */
    if (early && !t->best) {
        t->best = nn_aligned_alloc((size_t)g->param_count * sizeof(float));
        if (!t->best)
            return nn_fail(ctx, NN_ERR_NOMEM, "train: out of memory");
    }
    if (t->par && (st = nn_par_check(t)) != NN_OK)
        return st;
    t->agreed = false;
    return NN_OK;
}

/* The message for a non-finite loss at batch b (0-based) of an epoch. */
static nn_status nonfinite_loss(nn_graph *g, const nn_node *loss, int epoch, int64_t b)
{
    const char *where = nn_graph_first_nonfinite(g);
    return nn_fail(g->ctx, NN_ERR_NUMERIC,
                   "the loss became %s at epoch %d, batch %lld; the first "
                   "non-finite value was in node '%s'. Training stopped before "
                   "the update, keeping the last good weights (try a smaller "
                   "learning rate or gradient clipping)",
                   isnan(loss->val[0]) ? "NaN" : "infinite", epoch, (long long)b + 1,
                   where ? where : "?");
}

/* What the closure of an optimizer that re-evaluates the loss (lbfgs)
 * needs: the fed batch, and the first evaluation's metrics. */
struct closure_job {
    nn_trainer *t;
    nn_node *loss;
    int epoch;
    int64_t k;
    int calls;
    double loss0, correct, abs_err, sq_err;
};

/* Forward and backward on the batch fed, penalties and clipping as for any
 * step; the loss returned includes the penalties (the objective whose
 * gradient the optimizer gets). */
static nn_status train_closure(void *user, double *out)
{
    struct closure_job *j = user;
    nn_trainer *t = j->t;
    nn_graph *g = nn_model_graph(t->m);
    nn_status st = nn_forward_to(g, j->loss);
    if (st != NN_OK)
        return st;
    if (!isfinite(j->loss->val[0]))
        return nonfinite_loss(g, j->loss, j->epoch, 0);
    nn_zero_grad(g);
    if ((st = nn_backward(g, j->loss)) != NN_OK)
        return st;
    if (!nn_train_regularize_and_check(t))
        return NN_ERR_NUMERIC;
    double pen = t->cfg.l1 > 0 || t->cfg.l2 > 0 ? nn_trainer_penalty(t) : 0;
    *out = (double)j->loss->val[0] + pen;
    if (j->calls++ == 0) { /* the epoch's metrics: before the step, as for the others */
        j->loss0 = j->loss->val[0];
        nn_train_batch_metrics(t->m, j->k, &j->correct, &j->abs_err, &j->sq_err);
    }
    return NN_OK;
}

/* The epoch's sample order: 0..n-1, shuffled from the context's
 * generator unless no_shuffle. */
static void epoch_order(nn_trainer *t, nn_ctx *ctx, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        t->perm[i] = i;
    if (t->cfg.no_shuffle)
        return;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)nn_rng_below(&ctx->rng, (uint64_t)i + 1);
        int64_t tmp = t->perm[i];
        t->perm[i] = t->perm[j];
        t->perm[j] = tmp;
    }
}

/* The running sums of an epoch's training metrics. */
struct epoch_sums {
    double loss, correct, abs_err, sq_err; /* loss weighted by batch size */
    int64_t seen;
};

/* Batch b (0-based) of an epoch on one process: feed it (and prefetch the
 * next), forward to the loss, check it, backward, penalties and clipping,
 * the optimizer step (lbfgs: its closure evaluations), and the metrics. */
static nn_status train_batch(nn_trainer *t, const struct nn_source *train,
                             enum nn_feed_kind kind, nn_node *loss, int epoch, int64_t b,
                             int64_t batches, struct epoch_sums *s)
{
    nn_model *m = t->m;
    nn_graph *g = nn_model_graph(m);
    int64_t n = train->n, B = t->cfg.batch, k = n - b * B < B ? n - b * B : B;
    nn_status st = nn_train_feed(m, train, kind, t->scratch, t->perm + b * B, k);
    if (train->prefetch && b + 1 < batches) /* loads while this batch trains */
        train->prefetch(train->self, t->perm + (b + 1) * B,
                        n - (b + 1) * B < B ? n - (b + 1) * B : B);
    if (st != NN_OK)
        return st;
    if (t->cfg.optim.kind == NN_OPTIM_LBFGS) { /* one full batch */
        struct closure_job j = {.t = t, .loss = loss, .epoch = epoch, .k = k};
        if ((st = nn_optim_step_closure(t->opt, train_closure, &j, NULL)) != NN_OK)
            return st;
        s->loss += j.loss0 * (double)k, s->correct += j.correct, s->abs_err += j.abs_err;
        s->sq_err += j.sq_err, s->seen += k;
        return NN_OK;
    }
    /* the loss and what it needs: not the probabilities */
    if ((st = nn_forward_to(g, loss)) != NN_OK)
        return st;
    if (!isfinite(loss->val[0]))
        return nonfinite_loss(g, loss, epoch, b);
    nn_zero_grad(g);
    if ((st = nn_backward(g, loss)) != NN_OK)
        return st;
    if (!nn_train_regularize_and_check(t))
        return NN_ERR_NUMERIC;
    if ((st = nn_optim_step(t->opt)) != NN_OK)
        return st;
    s->loss += (double)loss->val[0] * (double)k;
    nn_train_batch_metrics(m, k, &s->correct, &s->abs_err, &s->sq_err);
    s->seen += k;
    return NN_OK;
}

/* The sums of every rank, as par_step and par_epoch_end leave them. */
static void sums_from_par(struct epoch_sums *s, const double psums[5])
{
    *s = (struct epoch_sums){psums[0], psums[1], psums[2], psums[3], (int64_t)psums[4]};
}

/* One epoch's batches, training mode on; *stop when on_batch asks it.
 * The epoch's sums are over every rank. */
static nn_status train_batches(nn_trainer *t, const struct nn_source *train,
                               enum nn_feed_kind kind, int epoch, int64_t batches, double t0,
                               struct epoch_sums *s, double psums[5], bool *stop)
{
    const struct nn_train_cfg *c = &t->cfg;
    nn_node *loss = nn_model_loss(t->m);
    int64_t n = train->n, B = c->batch;
    nn_status st = NN_OK;
    /* plain data-parallel steps carry the stop flag in their sum (a
     * collective of its own costs a round trip per step) */
    bool carry = t->par && !c->reproducible && nn_dist_size(t) > 1;
    t->stop_req = false;
    for (int64_t b = 0; b < batches; b++) {
        int64_t k = n - b * B < B ? n - b * B : B;
        if (c->schedule_per_step)
            nn_optim_set_lr(t->opt, nn_schedule_lr(t->sched, (int64_t)t->nhist * batches + b));
        if (t->par) { /* this rank's share, the sum over every rank */
            if ((st = nn_par_step(t, train, kind, epoch, b, k, psums, stop)) != NN_OK)
                return st;
            sums_from_par(s, psums);
            if (*stop)
                return NN_OK;
        } else if ((st = train_batch(t, train, kind, loss, epoch, b, batches, s)) != NN_OK) {
            return st;
        }
        if (c->on_batch) {
            struct nn_train_progress p = {
                .epoch = epoch, .epochs = c->epochs, .batch = b + 1, .batches = batches,
                .samples_done = s->seen, .loss = s->loss / (double)s->seen,
                .accuracy = s->correct / (double)s->seen, .seconds = now_s() - t0};
            *stop = !c->on_batch(&p, c->user);
            if (carry && b + 1 < batches) /* agreed by the next step's sum */
                t->stop_req = *stop, *stop = false;
            else if (t->par && (st = nn_par_agree(t, stop)) != NN_OK)
                return st;
            if (*stop)
                return NN_OK;
        }
    }
    return NN_OK;
}

/* The epoch's metrics: training (running, or the whole set again when
 * train_eval), the penalty, validation. */
static nn_status epoch_metrics(nn_trainer *t, const struct nn_source *train,
                               const struct nn_source *val, const struct epoch_sums *s,
                               struct nn_epoch_stats *es)
{
    nn_status st = NN_OK;
    finish_metrics(t->m, &es->train, s->loss, s->correct, s->abs_err, s->sq_err, s->seen);
    if (t->cfg.train_eval && /* the whole training set as it stands, dropout off */
        (st = nn_evaluate(t->m, train, &es->train)) != NN_OK)
        return st;
    es->train.penalty = nn_trainer_penalty(t);
    if (val)
        st = nn_evaluate_dist(t->m, val, t->cfg.dist, &es->val);
    return st;
}

/* After an epoch's history entry: the plateau schedule, convergence on the
 * training loss (tol), early stopping on validation (keeping the best
 * weights). */
static void epoch_watch(nn_trainer *t, const struct nn_epoch_stats *es, bool early)
{
    const struct nn_train_cfg *c = &t->cfg;
    nn_graph *g = nn_model_graph(t->m);
    /* the monitored quantity, made one to minimize for early stopping */
    double watched = c->monitor_acc ? es->val.accuracy : es->val.n > 0 ? es->val.loss
                                                                       : es->train.loss;
    nn_schedule_on_metric(t->sched, es->epoch - 1, watched);
    if (c->tol > 0) {
        /* convergence: relative improvement of the training loss on its best */
        double L = es->train.loss;
        bool better = isfinite(t->tol_best) ? (t->tol_best - L) > c->tol * fabs(t->tol_best)
                                            : true;
        if (better)
            t->tol_bad = 0;
        else if (++t->tol_bad >= (c->patience > 0 ? c->patience : 1))
            t->converged = t->stopped_early = true;
        if (L < t->tol_best)
            t->tol_best = L;
    }
    if (early) {
        double v = c->monitor_acc ? -es->val.accuracy : es->val.loss;
        if (v < t->best_val - c->min_delta) {
            t->best_val = v;
            t->best_epoch = es->epoch;
            t->bad_epochs = 0;
            memcpy(t->best, g->param_block, (size_t)g->param_count * sizeof(float));
        } else if (++t->bad_epochs >= c->patience) {
            t->stopped_early = true;
        }
    }
}

nn_status nn_trainer_fit(nn_trainer *t, const struct nn_source *train,
                         const struct nn_source *val)
{
    nn_model *m = t->m;
    nn_graph *g = nn_model_graph(m);
    nn_ctx *ctx = g->ctx;
    const struct nn_train_cfg *c = &t->cfg;
    enum nn_feed_kind kind;
    nn_status st = fit_prepare(t, train, val, &kind);
    if (st != NN_OK)
        return st;
    bool early = c->patience > 0 && val; /* early stopping on validation */
    int64_t n = train->n, B = c->batch;
    int64_t batches = c->drop_last ? n / B : (n + B - 1) / B;
    if (batches < 1)
        return nn_fail(ctx, NN_ERR_INVALID,
                       "train: %lld samples make no full batch of %lld (drop_last is on)",
                       (long long)n, (long long)B);
    if (c->schedule_per_step) {
        /* counted in batches: a cosine's default t_max is every batch */
        nn_schedule *s = nn_schedule_new(ctx, &c->schedule, nn_schedule_base_lr(t->sched),
                                         (int64_t)c->epochs * batches);
        if (!s)
            return NN_ERR_INVALID;
        nn_schedule_free(t->sched);
        t->sched = s;
    }
    bool stop = false;
    while (!stop && t->nhist < c->epochs && !t->stopped_early) {
        nn_optim_set_lr(t->opt, nn_schedule_lr(t->sched, c->schedule_per_step
                                                             ? (int64_t)t->nhist * batches
                                                             : t->nhist));
        struct nn_epoch_stats es = {.epoch = t->nhist + 1, .lr = nn_optim_lr(t->opt)};
        double t0 = now_s(), psums[5] = {0};
        struct epoch_sums sums = {0};
        epoch_order(t, ctx, n);
        if (t->par) /* the shared generator, back in step after the epoch */
            nn_ctx_rng_get(ctx, t->rng_epoch);
        if (train->begin_pass) /* e.g. augmentation keyed to the epoch */
            train->begin_pass(train->self, t->nhist);
        nn_graph_set_training(g, true);
        st = train_batches(t, train, kind, es.epoch, batches, t0, &sums, psums, &stop);
        nn_graph_set_training(g, false);
        if (t->par)
            nn_ctx_rng_set(ctx, t->rng_epoch);
        if (st != NN_OK || stop)
            break;
        if (t->par) {
            if ((st = nn_par_epoch_end(t, psums)) != NN_OK)
                break;
            sums_from_par(&sums, psums);
        }
        if ((st = epoch_metrics(t, train, val, &sums, &es)) != NN_OK)
            break;
        es.seconds = now_s() - t0;
        if ((st = push_history(t, &es)) != NN_OK)
            break;
        epoch_watch(t, &es, early);
        if (c->on_epoch && !c->on_epoch(&es, c->user))
            stop = true;
        if (c->dist && c->dist->size > 1 && (st = nn_par_agree(t, &stop)) != NN_OK)
            break;
    }
    if (t->shard && (st == NN_OK || t->agreed)) { /* stopped mid-epoch: the whole state */
        nn_status gs = nn_par_gather_state(t);
        st = st == NN_OK ? gs : st;
    }
    nn_graph_set_training(g, false);
    if (train->begin_pass)
        train->begin_pass(train->self, -1);
    bool finished = t->stopped_early || t->nhist >= c->epochs;
    if (st == NN_OK && finished && early && !c->keep_last && t->best_epoch > 0)
        memcpy(g->param_block, t->best, (size_t)g->param_count * sizeof(float));
    return st;
}

/* ---- state for checkpoints ---------------------------------------------- */

void nn_trainer_get_state(const nn_trainer *t, struct nn_trainer_state *s)
{
    *s = (struct nn_trainer_state){t->nhist,         t->best_epoch, t->best_val,
                                   t->bad_epochs,    t->stopped_early, t->tol_best,
                                   t->tol_bad,       t->converged};
}

nn_status nn_trainer_set_state(nn_trainer *t, const struct nn_trainer_state *s,
                               const struct nn_epoch_stats *hist, int nhist,
                               const float *best)
{
    nn_graph *g = nn_model_graph(t->m);
    if (nhist != s->epochs_done || nhist < 0)
        return nn_fail(g->ctx, NN_ERR_FORMAT, "trainer: history of %d epochs for %d done",
                       nhist, s->epochs_done);
    struct nn_epoch_stats *h = NULL;
    if (nhist > 0 && !(h = malloc((size_t)nhist * sizeof *h)))
        return nn_fail(g->ctx, NN_ERR_NOMEM, "trainer: out of memory");
    if (nhist > 0)
        memcpy(h, hist, (size_t)nhist * sizeof *h);
    if (best) {
        if (!t->best && !(t->best = nn_aligned_alloc((size_t)g->param_count * sizeof(float)))) {
            free(h);
            return nn_fail(g->ctx, NN_ERR_NOMEM, "trainer: out of memory");
        }
        memcpy(t->best, best, (size_t)g->param_count * sizeof(float));
    }
    free(t->hist);
    t->hist = h;
    t->nhist = t->cap = nhist;
    t->hist_json.n = 0, t->hist_json.len = 0; /* another history */
    t->best_epoch = s->best_epoch;
    t->best_val = s->best_val;
    t->bad_epochs = s->bad_epochs;
    t->stopped_early = s->stopped_early;
    t->tol_best = s->tol_best;
    t->tol_bad = s->tol_bad;
    t->converged = s->converged;
    return NN_OK;
}

const float *nn_trainer_best_weights(const nn_trainer *t)
{
    return t->best_epoch > 0 ? t->best : NULL;
}
const struct nn_train_cfg *nn_trainer_config(const nn_trainer *t) { return &t->cfg; }
struct nn_json_cache *nn_trainer_json_cache(nn_trainer *t) { return &t->hist_json; }
nn_model *nn_trainer_model(const nn_trainer *t) { return t->m; }
