/*
 * conv.c - the portable kernels of the convolution and pooling entry point
 * (conv.h): on the CBLAS build, convolution by im2col + nn_gemm and average
 * pooling by direct loops; on every build, max pooling and global average
 * pooling by direct loops.
 *
 * Convolution of one image and one group g is a matrix product:
 *   col (kg, oh*ow)      the input patches, kg = c/groups * kh * kw
 *                        (row (ci*kh + i)*kw + j holds x[ci][oh*sh - ph + i*dh]
 *                        [ow*sw - pw + j*dw] for every output position, 0 in
 *                        the padding)
 *   y_g (oc/groups, oh*ow) = w_g (oc/groups, kg) . col
 *   dcol = w_g^T . dy_g, scattered back (col2im) into dx
 *   dw_g += dy_g . col^T
 * A 1x1 kernel with stride 1 and no padding needs no col: it is the input.
 *
 * Threads: the work is cut into blocks whose shapes do not depend on the
 * thread count: one (image, group) per block for the output and the input
 * gradient, and for the weight gradient one (chunk of CHUNK images, group)
 * per block, each chunk summing into its own partial, the partials then
 * added in chunk order. Each block's products are single-threaded nn_gemm
 * calls made on the block's thread (a one-thread context), so every element
 * is computed the same way whatever the number of threads: results are
 * bit-identical for any thread count. Pooling works per plane.
 *
 * Scratch (from the graph's arena, sized at compile time): the partial
 * weight gradients of ceil(n / CHUNK) chunks, then one col buffer per
 * thread. Nothing is allocated per batch.
 *
 * Max pooling stays here on the oneDNN build too: oneDNN 2.6's max pooling
 * lets a NaN lose to any number (measured: a window {1, NaN, 0, 0} gives 1),
 * where PyTorch's, and this one, return the NaN; and the vectorized 2x2
 * path below (0.7 us per 8x28x28 image forward, 0.8 backward, one thread,
 * Zen 5) is faster than oneDNN's NCHW kernels (1.6 and 2.3).
 */
#include "conv.h"

#include <math.h>
#include <string.h>


/* Below this many multiply-adds (or window reads) a call runs on one thread. */
#define PARALLEL_MIN_WORK (1 << 17)

int64_t nn_win_out(int64_t in, int k, int stride, int pad, int dil)
{
    int64_t num = in + 2 * (int64_t)pad - (int64_t)dil * (k - 1) - 1;
    return num < 0 ? 0 : num / stride + 1;
}


/* The pool when the work is worth splitting, else NULL (the caller alone). */
static nn_pool *pool_for(nn_ctx *ctx, int64_t work)
{
    return work >= PARALLEL_MIN_WORK ? nn_ctx_pool(ctx) : NULL;
}


/* ---- pooling ------------------------------------------------------------ */

struct pool_job {
    const struct nn_conv2d_geom *q;
    int64_t planes;
    const float *x, *dy;
    float *y, *dx;
    int32_t *idx;
    const int32_t *cidx;
};

static nn_pool *pool_for_planes(nn_ctx *ctx, const struct nn_conv2d_geom *q, int64_t planes)
{
    return pool_for(ctx, planes * q->oh * q->ow * q->win.kh * q->win.kw);
}

#if defined(NN_GEMM_CBLAS) /* the portable convolution and average pooling */

#define CHUNK 4 /* images per partial weight gradient */

static int64_t pad16(int64_t x) { return (x + 15) / 16 * 16; } /* 64-byte multiples */
static int64_t nchunks(int64_t n) { return (n + CHUNK - 1) / CHUNK; }

/* Per-group sizes. */
struct sizes {
    int64_t g, cg, ocg, kg, hw, ohw;
    bool pointwise; /* 1x1, stride 1, no padding: col is the input itself */
};

static struct sizes sizes_of(const struct nn_conv2d_geom *q)
{
    const struct nn_win2d *k = &q->win;
    struct sizes s;
    s.g = k->groups;
    s.cg = q->c / s.g;
    s.ocg = q->oc / s.g;
    s.kg = s.cg * k->kh * k->kw;
    s.hw = q->h * q->w;
    s.ohw = q->oh * q->ow;
    s.pointwise = k->kh == 1 && k->kw == 1 && k->sh == 1 && k->sw == 1 && k->ph == 0 &&
                  k->pw == 0;
    return s;
}


/* The outputs [*lo, *hi) of n_out whose input o * stride + off lies in
 * [0, n_in): the rows or columns of a window position inside the input. */
static void valid_range(int64_t n_in, int64_t n_out, int stride, int64_t off, int64_t *lo,
                        int64_t *hi)
{
    int64_t l = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t h = n_in - 1 - off < 0 ? 0 : (n_in - 1 - off) / stride + 1;
    l = l < n_out ? l : n_out;
    h = h < n_out ? h : n_out;
    *lo = l;
    *hi = h > l ? h : l;
}

/* d[0..n) = s[0..n). */
static inline void copy_run(float *restrict d, const float *restrict s, int64_t n)
{
    NN_SIMD
    for (int64_t i = 0; i < n; i++)
        d[i] = s[i];
}

/* col (cg*kh*kw, oh*ow) from x (cg, h, w). Each row of col is an (oh, ow)
 * plane: its rows that fall in the padding are zeroed in one run, and each
 * other row is a copy between zero margins. (Measured with callgrind on a
 * LeNet-sized batch: this costs about as much as the products themselves,
 * for outputs only 10 to 28 wide.) */
NN_MULTIVERSION
static void im2col(const struct nn_conv2d_geom *q, int64_t cg, const float *x, float *col)
{
    const struct nn_win2d *k = &q->win;
    const int64_t H = q->h, W = q->w, OH = q->oh, OW = q->ow, sw = k->sw, sh = k->sh;
    float *r = col;
    for (int64_t c = 0; c < cg; c++)
        for (int i = 0; i < k->kh; i++) {
            int64_t roff = (int64_t)i * k->dh - k->ph, rlo, rhi;
            valid_range(H, OH, k->sh, roff, &rlo, &rhi);
            for (int j = 0; j < k->kw; j++, r += OH * OW) {
                int64_t off = (int64_t)j * k->dw - k->pw, lo, hi;
                valid_range(W, OW, k->sw, off, &lo, &hi);
                if (rlo > 0)
                    memset(r, 0, (size_t)(rlo * OW) * sizeof *r);
                if (rhi < OH)
                    memset(r + rhi * OW, 0, (size_t)((OH - rhi) * OW) * sizeof *r);
                const float *xs = x + c * H * W + (rlo * sh + roff) * W + off;
                float *d = r + rlo * OW;
                for (int64_t oh = rlo; oh < rhi; oh++, d += OW, xs += sh * W) {
                    for (int64_t ow = 0; ow < lo; ow++)
                        d[ow] = 0.0f;
                    if (sw == 1)
                        copy_run(d + lo, xs + lo, hi - lo);
                    else
                        for (int64_t ow = lo; ow < hi; ow++)
                            d[ow] = xs[ow * sw];
                    for (int64_t ow = hi; ow < OW; ow++)
                        d[ow] = 0.0f;
                }
            }
        }
}

/* dx (cg, h, w) += the adjoint of im2col applied to dcol, in a fixed order. */
NN_MULTIVERSION
static void col2im(const struct nn_conv2d_geom *q, int64_t cg, const float *dcol, float *dx)
{
    const struct nn_win2d *k = &q->win;
    const int64_t H = q->h, W = q->w, OH = q->oh, OW = q->ow, sw = k->sw, sh = k->sh;
    const float *r = dcol;
    for (int64_t c = 0; c < cg; c++)
        for (int i = 0; i < k->kh; i++) {
            int64_t roff = (int64_t)i * k->dh - k->ph, rlo, rhi;
            valid_range(H, OH, k->sh, roff, &rlo, &rhi);
            for (int j = 0; j < k->kw; j++, r += OH * OW) {
                int64_t off = (int64_t)j * k->dw - k->pw, lo, hi;
                valid_range(W, OW, k->sw, off, &lo, &hi);
                float *ds = dx + c * H * W + (rlo * sh + roff) * W + off;
                const float *s = r + rlo * OW;
                for (int64_t oh = rlo; oh < rhi; oh++, s += OW, ds += sh * W) {
                    if (sw == 1) {
                        NN_SIMD
                        for (int64_t ow = lo; ow < hi; ow++)
                            ds[ow] += s[ow];
                    } else {
                        for (int64_t ow = lo; ow < hi; ow++)
                            ds[ow * sw] += s[ow];
                    }
                }
            }
        }
}

struct conv_job {
    const struct nn_conv2d_geom *q;
    struct sizes s;
    int64_t n;
    const float *x, *w, *b, *dy;
    float *y, *dx, *dw, *db;
    float *part; /* (nchunks, oc, kg) partial weight gradients */
    float *cols; /* one (kg, oh*ow) buffer per thread */
};

static void job_init(struct conv_job *j, const struct nn_conv2d_geom *q, int64_t n,
                     float *scratch)
{
    memset(j, 0, sizeof *j);
    j->q = q;
    j->s = sizes_of(q);
    j->n = n;
    j->part = scratch;
    j->cols = scratch + nchunks(n) * pad16(q->oc * j->s.kg);
}


/* ---- the plan: the geometry and what it was made for ----------------- */

struct nn_conv_plan {
    struct nn_conv2d_geom q;
    int64_t max_batch;
    int threads;
    bool pool;     /* average pooling (no scratch) */
    unsigned needs;
};

const char *nn_conv_backend_name(void) { return "im2col"; }

static nn_status plan_new(nn_ctx *ctx, const char *name, const struct nn_conv2d_geom *q,
                          bool pool, unsigned needs, int64_t max_batch, nn_conv_plan **out)
{
    nn_conv_plan *p = calloc(1, sizeof *p);
    if (!p)
        return nn_fail(ctx, NN_ERR_NOMEM, "%s '%s': out of memory for its plan",
                       pool ? "avgpool2d" : "conv2d", name);
    *p = (nn_conv_plan){*q, max_batch, nn_ctx_threads(ctx), pool, needs};
    *out = p;
    return NN_OK;
}

nn_status nn_conv2d_plan_new(nn_ctx *ctx, const char *name, const struct nn_conv2d_geom *q,
                             bool bias, unsigned needs, int64_t max_batch, nn_conv_plan **out)
{
    (void)bias;
    return plan_new(ctx, name, q, false, needs, max_batch, out);
}

nn_status nn_avgpool2d_plan_new(nn_ctx *ctx, const char *name, const struct nn_conv2d_geom *q,
                                unsigned needs, int64_t max_batch, nn_conv_plan **out)
{
    return plan_new(ctx, name, q, true, needs, max_batch, out);
}

void nn_conv_plan_free(nn_conv_plan *p) { free(p); }

/* The partial weight gradients of every chunk, then one col buffer per
 * thread. */
int64_t nn_conv_plan_scratch(const nn_conv_plan *p)
{
    if (p->pool)
        return 0;
    struct sizes s = sizes_of(&p->q);
    return nchunks(p->max_batch) * pad16(p->q.oc * s.kg) +
           (int64_t)p->threads * pad16(s.kg * s.ohw);
}

const char *nn_conv_plan_impl(const nn_conv_plan *p, int pass)
{
    if (pass < 0 || pass > 2 || (pass == 1 && !(p->needs & NN_CONV_DATA_GRAD)) ||
        (pass == 2 && (p->pool || !(p->needs & NN_CONV_WEIGHT_GRAD))))
        return NULL;
    return p->pool ? "direct" : "im2col+gemm";
}

/* Inside a block, the block's thread does the whole product: nn_gemm with
 * no context runs on the calling thread alone. */

static void fwd_part(void *arg, int t, int nt)
{
    const struct conv_job *j = arg;
    const struct sizes *s = &j->s;
    const struct nn_conv2d_geom *q = j->q;
    float *col = j->cols + t * pad16(s->kg * s->ohw);
    int64_t lo, hi;
    nn_split(j->n * s->g, 1, t, nt, &lo, &hi);
    for (int64_t it = lo; it < hi; it++) {
        int64_t i = it / s->g, g = it % s->g;
        const float *xg = j->x + (i * q->c + g * s->cg) * s->hw;
        float *yg = j->y + (i * q->oc + g * s->ocg) * s->ohw;
        if (!s->pointwise)
            im2col(q, s->cg, xg, col);
        nn_gemm(NULL, false, false, s->ocg, s->ohw, s->kg, 1.0f, j->w + g * s->ocg * s->kg,
                s->kg, s->pointwise ? xg : col, s->ohw, 0.0f, yg, s->ohw);
        if (j->b)
            for (int64_t o = 0; o < s->ocg; o++) {
                float bo = j->b[g * s->ocg + o], *yr = yg + o * s->ohw;
                NN_SIMD
                for (int64_t p = 0; p < s->ohw; p++)
                    yr[p] += bo;
            }
    }
}

void nn_conv2d_fwd(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *x,
                   const float *w, const float *b, float *y, float *scratch)
{
    const struct nn_conv2d_geom *q = &p->q;
    struct conv_job j;
    job_init(&j, q, n, scratch);
    j.x = x, j.w = w, j.b = b, j.y = y;
    nn_pool_run(pool_for(ctx, n * q->oc * j.s.kg * j.s.ohw), fwd_part, &j);
}

static void bwd_data_part(void *arg, int t, int nt)
{
    const struct conv_job *j = arg;
    const struct sizes *s = &j->s;
    const struct nn_conv2d_geom *q = j->q;
    float *col = j->cols + t * pad16(s->kg * s->ohw);
    int64_t lo, hi;
    nn_split(j->n * s->g, 1, t, nt, &lo, &hi);
    for (int64_t it = lo; it < hi; it++) {
        int64_t i = it / s->g, g = it % s->g;
        const float *dyg = j->dy + (i * q->oc + g * s->ocg) * s->ohw;
        float *dxg = j->dx + (i * q->c + g * s->cg) * s->hw;
        const float *wg = j->w + g * s->ocg * s->kg;
        if (s->pointwise) { /* dx_g (cg, hw) += w_g^T . dy_g */
            nn_gemm(NULL, true, false, s->kg, s->ohw, s->ocg, 1.0f, wg, s->kg, dyg, s->ohw,
                    1.0f, dxg, s->ohw);
        } else {
            nn_gemm(NULL, true, false, s->kg, s->ohw, s->ocg, 1.0f, wg, s->kg, dyg, s->ohw,
                    0.0f, col, s->ohw);
            col2im(q, s->cg, col, dxg);
        }
    }
}

static void bwd_data(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *dy,
                     const float *w, float *dx, float *scratch)
{
    const struct nn_conv2d_geom *q = &p->q;
    struct conv_job j;
    job_init(&j, q, n, scratch);
    j.dy = dy, j.w = w, j.dx = dx;
    nn_pool_run(pool_for(ctx, n * q->oc * j.s.kg * j.s.ohw), bwd_data_part, &j);
}

/* Partial weight gradients: block (chunk k, group g) sums its images'
 * products into partial k, rows of group g. */
static void bwd_weights_part(void *arg, int t, int nt)
{
    const struct conv_job *j = arg;
    const struct sizes *s = &j->s;
    const struct nn_conv2d_geom *q = j->q;
    float *col = j->cols + t * pad16(s->kg * s->ohw);
    int64_t lo, hi;
    nn_split(nchunks(j->n) * s->g, 1, t, nt, &lo, &hi);
    for (int64_t it = lo; it < hi; it++) {
        int64_t k = it / s->g, g = it % s->g;
        float *pk = j->part + k * pad16(q->oc * s->kg) + g * s->ocg * s->kg;
        int64_t end = (k + 1) * CHUNK < j->n ? (k + 1) * CHUNK : j->n;
        for (int64_t i = k * CHUNK; i < end; i++) {
            const float *xg = j->x + (i * q->c + g * s->cg) * s->hw;
            const float *dyg = j->dy + (i * q->oc + g * s->ocg) * s->ohw;
            if (!s->pointwise)
                im2col(q, s->cg, xg, col);
            nn_gemm(NULL, false, true, s->ocg, s->kg, s->ohw, 1.0f, dyg, s->ohw,
                    s->pointwise ? xg : col, s->ohw, i == k * CHUNK ? 0.0f : 1.0f, pk, s->kg);
        }
    }
}

/* dw += the partials in chunk order, db += dy summed; rows split by output
 * channel. */
NN_MULTIVERSION
static void bwd_reduce_part(void *arg, int t, int nt)
{
    const struct conv_job *j = arg;
    int64_t oc = j->q->oc, kg = j->s.kg, ohw = j->s.ohw;
    int64_t lo, hi, nk = nchunks(j->n), pstride = pad16(oc * kg);
    nn_split(oc, 1, t, nt, &lo, &hi);
    for (int64_t o = lo; o < hi; o++) {
        if (j->dw) {
            float *dwo = j->dw + o * kg;
            for (int64_t k = 0; k < nk; k++) {
                const float *pk = j->part + k * pstride + o * kg;
                NN_SIMD
                for (int64_t e = 0; e < kg; e++)
                    dwo[e] += pk[e];
            }
        }
        if (j->db) {
            double acc = 0;
            for (int64_t i = 0; i < j->n; i++) {
                const float *dyo = j->dy + (i * oc + o) * ohw;
                double s = 0;
                NN_SIMD_SUM
                for (int64_t p = 0; p < ohw; p++)
                    s += dyo[p];
                acc += s;
            }
            j->db[o] += (float)acc;
        }
    }
}

static void bwd_weights(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *x,
                        const float *dy, float *dw, float *db, float *scratch)
{
    const struct nn_conv2d_geom *q = &p->q;
    struct conv_job j;
    job_init(&j, q, n, scratch);
    j.x = x, j.dy = dy, j.dw = dw, j.db = db;
    int64_t work = n * q->oc * j.s.kg * j.s.ohw;
    if (dw)
        nn_pool_run(pool_for(ctx, work), bwd_weights_part, &j);
    nn_pool_run(pool_for(ctx, work / (j.s.kg > 0 ? j.s.kg : 1)), bwd_reduce_part, &j);
}

void nn_conv2d_bwd(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *x,
                   const float *w, const float *dy, float *dx, float *dw, float *db,
                   float *scratch)
{
    if (dx)
        bwd_data(ctx, p, n, dy, w, dx, scratch);
    if (dw || db)
        bwd_weights(ctx, p, n, x, dy, dw, db, scratch);
}

/* The window of output (oh, ow) clipped to the input: rows [*h0, *h1),
 * columns [*w0, *w1); *size is its size in the padded input. */
static inline void window(const struct nn_conv2d_geom *q, int64_t oh, int64_t ow, int64_t *h0,
                          int64_t *h1, int64_t *w0, int64_t *w1, int64_t *size)
{
    const struct nn_win2d *k = &q->win;
    int64_t hs = oh * k->sh - k->ph, ws = ow * k->sw - k->pw;
    int64_t he = hs + k->kh, we = ws + k->kw;
    int64_t hp = q->h + k->ph, wp = q->w + k->pw;
    *size = ((he < hp ? he : hp) - hs) * ((we < wp ? we : wp) - ws);
    *h0 = hs > 0 ? hs : 0;
    *w0 = ws > 0 ? ws : 0;
    *h1 = he < q->h ? he : q->h;
    *w1 = we < q->w ? we : q->w;
}

static void avgpool_fwd_part(void *arg, int t, int nt)
{
    const struct pool_job *j = arg;
    const struct nn_conv2d_geom *q = j->q;
    int64_t lo, hi, W = q->w, hw = q->h * W, ohw = q->oh * q->ow;
    nn_split(j->planes, 1, t, nt, &lo, &hi);
    for (int64_t p = lo; p < hi; p++) {
        const float *xp = j->x + p * hw;
        float *yp = j->y + p * ohw;
        for (int64_t oh = 0; oh < q->oh; oh++)
            for (int64_t ow = 0; ow < q->ow; ow++) {
                int64_t h0, h1, w0, w1, size;
                window(q, oh, ow, &h0, &h1, &w0, &w1, &size);
                float s = 0.0f;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++)
                        s += xp[ih * W + iw];
                yp[oh * q->ow + ow] = s / (float)size;
            }
    }
}

void nn_avgpool2d_fwd(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *x,
                      float *y, float *scratch)
{
    (void)scratch;
    const struct nn_conv2d_geom *q = &p->q;
    struct pool_job j = {.q = q, .planes = n * q->c, .x = x, .y = y};
    nn_pool_run(pool_for_planes(ctx, q, j.planes), avgpool_fwd_part, &j);
}

static void avgpool_bwd_part(void *arg, int t, int nt)
{
    const struct pool_job *j = arg;
    const struct nn_conv2d_geom *q = j->q;
    int64_t lo, hi, W = q->w, hw = q->h * W, ohw = q->oh * q->ow;
    nn_split(j->planes, 1, t, nt, &lo, &hi);
    for (int64_t p = lo; p < hi; p++) {
        const float *dyp = j->dy + p * ohw;
        float *dxp = j->dx + p * hw;
        for (int64_t oh = 0; oh < q->oh; oh++)
            for (int64_t ow = 0; ow < q->ow; ow++) {
                int64_t h0, h1, w0, w1, size;
                window(q, oh, ow, &h0, &h1, &w0, &w1, &size);
                float d = dyp[oh * q->ow + ow] / (float)size;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++)
                        dxp[ih * W + iw] += d;
            }
    }
}

void nn_avgpool2d_bwd(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *dy,
                      float *dx, float *scratch)
{
    (void)scratch;
    const struct nn_conv2d_geom *q = &p->q;
    struct pool_job j = {.q = q, .planes = n * q->c, .dy = dy, .dx = dx};
    nn_pool_run(pool_for_planes(ctx, q, j.planes), avgpool_bwd_part, &j);
}

#endif /* NN_GEMM_CBLAS */

/* ---- max pooling and global average pooling (every build) ---------- */

/* A later element x[i] of a window wins over the maximum m so far (index
 * a) if it is greater or NaN (PyTorch's rule), chosen without branches. */
#define MAX_TAKE(m, a, v, i)                                                  \
    do {                                                                      \
        bool take_ = (v) > (m) || (v) != (v);                                 \
        (m) = take_ ? (v) : (m);                                              \
        (a) = take_ ? (i) : (a);                                              \
    } while (0)

/* Outputs [ow0, ow0 + K) of one output row of the 2x2 windows of stride 2
 * (input rows r0, r1 at plane offsets b0, b1): a loop of fixed length that
 * vectorizes whole, the two input rows read with stride 2. */
#define MAXPOOL_2X2_BLOCK(K)                                                  \
    static inline void maxpool_2x2_##K(const float *restrict r0, const float *restrict r1,   \
                                       float *restrict y, int32_t *restrict ix, int32_t b0,  \
                                       int32_t b1, int64_t ow0)                              \
    {                                                                         \
        NN_SIMD                                                               \
        for (int64_t k = 0; k < K; k++) {                                     \
            int64_t ow = ow0 + k;                                             \
            int32_t c = 2 * (int32_t)ow, a = b0 + c;                          \
            float m = r0[2 * ow], v = r0[2 * ow + 1];                         \
            MAX_TAKE(m, a, v, b0 + c + 1);                                    \
            v = r1[2 * ow];                                                   \
            MAX_TAKE(m, a, v, b1 + c);                                        \
            v = r1[2 * ow + 1];                                               \
            MAX_TAKE(m, a, v, b1 + c + 1);                                    \
            y[ow] = m;                                                        \
            ix[ow] = a;                                                       \
        }                                                                     \
    }
MAXPOOL_2X2_BLOCK(16)
MAXPOOL_2X2_BLOCK(8)
MAXPOOL_2X2_BLOCK(4)
#undef MAXPOOL_2X2_BLOCK

/* The 2x2 windows of stride 2 without padding (LeNet's pooling): every
 * window lies inside the input. Each output row is covered by blocks of
 * 16, 8 or 4 outputs, the last block moved back to end at the row's end
 * (outputs computed twice are the same): a loop over a row of 14 or 5
 * outputs left GCC's vectorized loop to a scalar remainder whose
 * data-dependent branches (the NaN test) mispredicted on real images,
 * 14.6 us per 8x28x28 image; the blocks take 0.7. */
NN_MULTIVERSION
static void maxpool_2x2(const struct pool_job *j, int64_t lo, int64_t hi)
{
    const struct nn_conv2d_geom *q = j->q;
    const int64_t H = q->h, W = q->w, OH = q->oh, OW = q->ow;
    for (int64_t p = lo; p < hi; p++)
        for (int64_t oh = 0; oh < OH; oh++) {
            const float *r0 = j->x + p * H * W + 2 * oh * W, *r1 = r0 + W;
            float *y = j->y + (p * OH + oh) * OW;
            int32_t *ix = j->idx + (p * OH + oh) * OW;
            const int32_t b0 = (int32_t)(2 * oh * W), b1 = b0 + (int32_t)W;
            if (OW >= 16) {
                int64_t o = 0;
                for (; o + 16 <= OW; o += 16)
                    maxpool_2x2_16(r0, r1, y, ix, b0, b1, o);
                if (o < OW)
                    maxpool_2x2_16(r0, r1, y, ix, b0, b1, OW - 16);
            } else if (OW >= 8) {
                maxpool_2x2_8(r0, r1, y, ix, b0, b1, 0);
                maxpool_2x2_8(r0, r1, y, ix, b0, b1, OW - 8);
            } else if (OW >= 4) {
                maxpool_2x2_4(r0, r1, y, ix, b0, b1, 0);
                maxpool_2x2_4(r0, r1, y, ix, b0, b1, OW - 4);
            } else {
                for (int64_t ow = 0; ow < OW; ow++) {
                    int32_t c = 2 * (int32_t)ow, a = b0 + c;
                    float m = r0[2 * ow], v = r0[2 * ow + 1];
                    MAX_TAKE(m, a, v, b0 + c + 1);
                    v = r1[2 * ow];
                    MAX_TAKE(m, a, v, b1 + c);
                    v = r1[2 * ow + 1];
                    MAX_TAKE(m, a, v, b1 + c + 1);
                    y[ow] = m;
                    ix[ow] = a;
                }
            }
        }
}

/* Each window's maximum and its index, the window scanned in row-major
 * order from its first element (MAX_TAKE). */
NN_MULTIVERSION
static void maxpool_fwd_part(void *arg, int t, int nt)
{
    const struct pool_job *j = arg;
    const struct nn_conv2d_geom *q = j->q;
    const struct nn_win2d *k = &q->win;
    int64_t lo, hi, H = q->h, W = q->w, hw = H * W, OH = q->oh, OW = q->ow;
    nn_split(j->planes, 1, t, nt, &lo, &hi);
    if (k->kh == 2 && k->kw == 2 && k->sh == 2 && k->sw == 2 && k->ph == 0 && k->pw == 0) {
        maxpool_2x2(j, lo, hi);
        return;
    }
    for (int64_t p = lo; p < hi; p++) {
        const float *xp = j->x + p * hw;
        float *yp = j->y + p * OH * OW;
        int32_t *ip = j->idx + p * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t hs = oh * k->sh - k->ph, he = hs + k->kh;
            int64_t h0 = hs > 0 ? hs : 0, h1 = he < H ? he : H;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t ws = ow * k->sw - k->pw, we = ws + k->kw;
                int64_t w0 = ws > 0 ? ws : 0, w1 = we < W ? we : W;
                const int32_t base = (int32_t)(h0 * W + w0);
                int32_t a = base;
                float m = xp[a];
#define MAX_STEP(idx)                                                         \
    do {                                                                      \
        int32_t i_ = (int32_t)(idx);                                          \
        float v_ = xp[i_];                                                    \
        MAX_TAKE(m, a, v_, i_);                                               \
    } while (0)
                if (h1 - h0 == 2 && w1 - w0 == 2) { /* the common 2x2 window */
                    MAX_STEP(base + 1);
                    MAX_STEP(base + W);
                    MAX_STEP(base + W + 1);
                } else {
                    for (int64_t ih = h0; ih < h1; ih++)
                        for (int64_t iw = w0; iw < w1; iw++)
                            MAX_STEP(ih * W + iw);
                }
#undef MAX_STEP
                yp[oh * OW + ow] = m;
                ip[oh * OW + ow] = a;
            }
        }
    }
}

void nn_maxpool2d_fwd(nn_ctx *ctx, const struct nn_conv2d_geom *q, int64_t n, const float *x,
                      float *y, int32_t *argmax)
{
    struct pool_job j = {.q = q, .planes = n * q->c, .x = x, .y = y, .idx = argmax};
    nn_pool_run(pool_for_planes(ctx, q, j.planes), maxpool_fwd_part, &j);
}

static void maxpool_bwd_part(void *arg, int t, int nt)
{
    const struct pool_job *j = arg;
    const struct nn_conv2d_geom *q = j->q;
    int64_t lo, hi, hw = q->h * q->w, ohw = q->oh * q->ow;
    nn_split(j->planes, 1, t, nt, &lo, &hi);
    for (int64_t p = lo; p < hi; p++) {
        const float *dyp = j->dy + p * ohw;
        const int32_t *ip = j->cidx + p * ohw;
        float *dxp = j->dx + p * hw;
        for (int64_t o = 0; o < ohw; o++)
            dxp[ip[o]] += dyp[o];
    }
}

void nn_maxpool2d_bwd(nn_ctx *ctx, const struct nn_conv2d_geom *q, int64_t n, const float *dy,
                      const int32_t *argmax, float *dx)
{
    struct pool_job j = {.q = q, .planes = n * q->c, .dy = dy, .dx = dx, .cidx = argmax};
    nn_pool_run(pool_for(ctx, j.planes * q->oh * q->ow), maxpool_bwd_part, &j);
}

struct gap_job {
    int64_t planes, hw;
    const float *x, *dy;
    float *y, *dx;
};

NN_MULTIVERSION
static void gap_fwd_part(void *arg, int t, int nt)
{
    const struct gap_job *j = arg;
    int64_t lo, hi;
    nn_split(j->planes, 1, t, nt, &lo, &hi);
    for (int64_t p = lo; p < hi; p++) {
        const float *xp = j->x + p * j->hw;
        double s = 0;
        NN_SIMD_SUM
        for (int64_t i = 0; i < j->hw; i++)
            s += xp[i];
        j->y[p] = (float)(s / (double)j->hw);
    }
}

void nn_global_avgpool_fwd(nn_ctx *ctx, int64_t planes, int64_t hw, const float *x, float *y)
{
    struct gap_job j = {.planes = planes, .hw = hw, .x = x, .y = y};
    nn_pool_run(pool_for(ctx, planes * hw), gap_fwd_part, &j);
}

NN_MULTIVERSION
static void gap_bwd_part(void *arg, int t, int nt)
{
    const struct gap_job *j = arg;
    int64_t lo, hi;
    nn_split(j->planes, 1, t, nt, &lo, &hi);
    for (int64_t p = lo; p < hi; p++) {
        float d = j->dy[p] / (float)j->hw, *dxp = j->dx + p * j->hw;
        NN_SIMD
        for (int64_t i = 0; i < j->hw; i++)
            dxp[i] += d;
    }
}

void nn_global_avgpool_bwd(nn_ctx *ctx, int64_t planes, int64_t hw, const float *dy,
                           float *dx)
{
    struct gap_job j = {.planes = planes, .hw = hw, .dy = dy, .dx = dx};
    nn_pool_run(pool_for(ctx, planes * hw), gap_bwd_part, &j);
}
