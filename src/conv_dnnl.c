/*
 * conv_dnnl.c - the oneDNN backend of the convolution and pooling entry
 * point (conv.h), the default build's: convolution forward, backward data
 * and backward weights (with the bias), and average pooling forward and
 * backward, as oneDNN primitives made once per compiled graph.
 *
 * A plan (one per convolution or average-pooling node, made by the op's
 * prepare when the graph is compiled) holds the primitives of each pass for
 * two batch sizes: CHUNK images and one image. A batch of n images is cut
 * into n / CHUNK chunks of CHUNK images and then n % CHUNK single images:
 * the cut depends on n alone. Each chunk is one primitive execution on one
 * of the context's threads, with oneDNN's OpenMP team set to one thread for
 * the call (as nn_gemm does for dnnl_sgemm), so that oneDNN's threads never
 * add to the pool's and every element is computed by the same code on the
 * same images whatever the number of threads. The weight gradient of each
 * chunk goes to its own partial, and the partials are added to dw in chunk
 * order. So results are bit-identical for any thread count.
 *
 * Layouts: the graph's activations stay NCHW. Each primitive is made with
 * its activations' and weights' layouts left to oneDNN ("any"), which picks
 * the blocked layouts its fast kernels want (nChw16c for most, plain NCHW
 * where its kernel reads it, e.g. a convolution's input with few
 * channels); an argument whose chosen layout differs from the caller's is
 * reordered per chunk into (inputs) or out of (outputs) a buffer of the
 * thread's scratch, weights once per call into a shared buffer. For each
 * pass a second candidate with channels-last (NHWC) activations is made
 * too, and the one whose kernel uses the wider vector ISA is kept (the
 * first on a tie): oneDNN 2.6 picks an AVX2 kernel in blocked layouts for
 * LeNet's second weight gradient (8 input channels), where its AVX-512
 * kernel in NHWC is 1.8x faster (measured: 8.4 and 4.6 us per image).
 * Outputs that accumulate (the data gradient) go through a reorder that
 * adds (a sum post-op), since the primitives overwrite.
 *
 * Memory: everything a call touches besides the caller's tensors comes
 * from the arena block sized by nn_conv_plan_scratch: weights in the
 * primitives' layouts, the partial weight gradients, and per thread the
 * reordered activations and the primitive's scratchpad (oneDNN's user
 * scratchpad mode). The memory objects are made with the plan, one set per
 * thread, and only their data handles change per call: libnn allocates
 * nothing per batch. (oneDNN's dnnl_primitive_execute itself makes a few
 * small allocations per call for its argument map, as dnnl_sgemm makes one
 * for its packing buffer: 536 per LeNet training step in all, counted apart
 * from libnn's own by tests/test_alloc.c, which requires none of those.)
 */
#if !defined(NN_GEMM_CBLAS)

#include "conv.h"

#include <dnnl.h>
#include <dnnl_debug.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* Images per primitive execution. Measured on LeNet (one thread, Zen 5):
 * the kernels run at the same speed per image from 8 to 64 images, and a
 * training step took the same time with chunks of 4, 8 or 16 (within the
 * noise of a shared machine); 8 gives a batch of 64 eight chunks to share
 * between threads. */
#define CHUNK 8

enum { FULL, ONE, NSIZES };               /* primitives for CHUNK images, one image */
enum { FWD, BWD_D, BWD_W, NPASSES };
#define MAX_SLOTS 4

/* What an argument of a primitive is, for the caller. */
enum role {
    ACT_IN,  /* activation read: reordered into the thread's scratch if needed */
    ACT_OUT, /* activation written: reordered out of the scratch if needed */
    ACT_ADD, /* activation added to: always through the scratch, by a summing reorder */
    W_IN,    /* weights: reordered once per call into the shared scratch */
    B_IN,    /* bias: read as given */
    W_OUT,   /* weight gradient: to the chunk's partial, reordered if needed */
    B_OUT    /* bias gradient: to the chunk's partial */
};

/* The caller's buffers of a call, by index. */
enum buf { X, Y, DY, DX, W, B, NBUFS };

struct slot {
    int arg;                       /* DNNL_ARG_* */
    enum role role;
    enum buf buf;                  /* the caller's buffer (activations, weights, bias) */
    int64_t stride;                /* activations: floats per image of the caller's rows */
    dnnl_memory_desc_t user, prim; /* the caller's layout and the primitive's */
    dnnl_primitive_t reorder;      /* between them; NULL when the primitive uses user */
    size_t off;                    /* prim's buffer in the thread's (W_IN: shared) scratch */
    size_t rpad_off, rpad_bytes;   /* the reorder's scratchpad in the thread's scratch */
};

/* One thread's memory objects of a step: only their handles change. */
struct mems {
    dnnl_memory_t user[MAX_SLOTS], prim[MAX_SLOTS], rpad[MAX_SLOTS], pad;
};

/* A pass at one batch size. */
struct step {
    dnnl_primitive_t p; /* NULL: not made */
    char impl[48];
    int64_t mb;         /* images per execution */
    int nslots;
    struct slot s[MAX_SLOTS];
    size_t pad_off, pad_bytes; /* the primitive's scratchpad in the thread's scratch */
    struct mems *m;            /* (threads) */
};

struct nn_conv_plan {
    struct nn_conv2d_geom q;
    bool pool, bias;
    int threads;
    int64_t max_batch;
    dnnl_engine_t eng;
    dnnl_stream_t *streams; /* (threads) */
    struct step st[NSIZES][NPASSES];
    /* The scratch: shared bytes (weights in the primitives' layouts), then
     * nparts partials of part_bytes (weight gradient (oc, c/g, kh, kw),
     * then bias gradient (oc)), then thread_bytes per thread. */
    size_t shared_bytes, part_bytes, part_b_off, thread_bytes;
    int64_t nparts;
};

const char *nn_conv_backend_name(void) { return "onednn"; }

static size_t round64(size_t x) { return (x + 63) / 64 * 64; }

/* oneDNN's OpenMP team at one thread for the calling thread (its setting
 * is per thread), returning the previous setting for restore_threads. */
static int one_thread(void)
{
#ifdef _OPENMP
    int prev = omp_get_max_threads();
    if (prev != 1)
        omp_set_num_threads(1);
    return prev;
#else
    return 1;
#endif
}

static void restore_threads(int prev)
{
#ifdef _OPENMP
    if (prev != 1)
        omp_set_num_threads(prev);
#else
    (void)prev;
#endif
}

/* ---- making a plan ------------------------------------------------------ */

struct maker {
    nn_ctx *ctx;
    const char *what, *name; /* "conv2d", the node's name: for messages */
    nn_conv_plan *p;
    dnnl_primitive_attr_t attr, sum_attr; /* user scratchpad; plus a sum post-op */
};

static nn_status dnnl_fail(struct maker *mk, dnnl_status_t s, const char *doing)
{
    return nn_fail(mk->ctx, s == dnnl_out_of_memory ? NN_ERR_NOMEM : NN_ERR_INVALID,
                   "%s '%s': oneDNN could not %s (%s)", mk->what, mk->name, doing,
                   dnnl_status2str(s));
}

/* The primitive's name for its kernel, scored by vector width: a
 * reference or GEMM-based kernel lowest, then plain JIT, AVX2, AVX-512. */
static int impl_score(const_dnnl_primitive_desc_t pd)
{
    const char *s = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s) != dnnl_success || !s)
        return -1;
    if (strncmp(s, "ref", 3) == 0)
        return 0;
    if (strstr(s, "gemm"))
        return 1;
    if (strstr(s, "avx512"))
        return 4;
    return strstr(s, "avx2") ? 3 : 2;
}

static void act_md(dnnl_memory_desc_t *d, int64_t mb, int64_t c, int64_t h, int64_t w,
                   dnnl_format_tag_t tag)
{
    dnnl_dims_t dims = {mb, c, h, w};
    dnnl_memory_desc_init_by_tag(d, 4, dims, dnnl_f32, tag);
}

/* Weights (oc, c/g, kh, kw), as (g, oc/g, c/g, kh, kw) with groups. */
static void weights_md(dnnl_memory_desc_t *d, const struct nn_conv2d_geom *q, bool any)
{
    const struct nn_win2d *k = &q->win;
    int64_t g = k->groups;
    if (g > 1) {
        dnnl_dims_t dims = {g, q->oc / g, q->c / g, k->kh, k->kw};
        dnnl_memory_desc_init_by_tag(d, 5, dims, dnnl_f32, any ? dnnl_format_tag_any : dnnl_goihw);
    } else {
        dnnl_dims_t dims = {q->oc, q->c, k->kh, k->kw};
        dnnl_memory_desc_init_by_tag(d, 4, dims, dnnl_f32, any ? dnnl_format_tag_any : dnnl_oihw);
    }
}

union op_desc {
    dnnl_convolution_desc_t conv;
    dnnl_pooling_desc_t pool;
};

/* The descriptor of pass `pass` of the plan's op at mb images with
 * activations in layout tag (any or a fixed one). */
static dnnl_status_t op_desc(const nn_conv_plan *p, int pass, int64_t mb, dnnl_format_tag_t tag,
                             bool training, union op_desc *d)
{
    const struct nn_conv2d_geom *q = &p->q;
    const struct nn_win2d *k = &q->win;
    dnnl_memory_desc_t src, dst, wei, bias;
    act_md(&src, mb, q->c, q->h, q->w, tag);
    act_md(&dst, mb, q->oc, q->oh, q->ow, tag);
    /* floor mode: the same padding on both sides gives the output size */
    dnnl_dims_t strides = {k->sh, k->sw}, pad = {k->ph, k->pw};
    if (p->pool) {
        dnnl_dims_t kernel = {k->kh, k->kw};
        if (pass == FWD)
            return dnnl_pooling_forward_desc_init(
                &d->pool, training ? dnnl_forward_training : dnnl_forward_inference,
                dnnl_pooling_avg_include_padding, &src, &dst, strides, kernel, pad, pad);
        return dnnl_pooling_backward_desc_init(&d->pool, dnnl_pooling_avg_include_padding,
                                               &src, &dst, strides, kernel, pad, pad);
    }
    dnnl_dims_t dil = {k->dh - 1, k->dw - 1}; /* oneDNN counts the gaps */
    dnnl_dims_t bdims = {q->oc};
    weights_md(&wei, q, true);
    dnnl_memory_desc_init_by_tag(&bias, 1, bdims, dnnl_f32, dnnl_x);
    const dnnl_memory_desc_t *b = p->bias ? &bias : NULL;
    switch (pass) {
    case FWD:
        return dnnl_dilated_convolution_forward_desc_init(
            &d->conv, training ? dnnl_forward_training : dnnl_forward_inference,
            dnnl_convolution_direct, &src, &wei, b, &dst, strides, dil, pad, pad);
    case BWD_D:
        return dnnl_dilated_convolution_backward_data_desc_init(
            &d->conv, dnnl_convolution_direct, &src, &wei, &dst, strides, dil, pad, pad);
    default:
        return dnnl_dilated_convolution_backward_weights_desc_init(
            &d->conv, dnnl_convolution_direct, &src, &wei, b, &dst, strides, dil, pad, pad);
    }
}

/* The primitive descriptor of a pass: for a convolution, the better of
 * "any" and NHWC activations; for pooling, NCHW. */
static dnnl_status_t make_pd(struct maker *mk, int pass, int64_t mb, bool training,
                             const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *out)
{
    static const dnnl_format_tag_t tags[2] = {dnnl_format_tag_any, dnnl_nhwc};
    int ntags = mk->p->pool ? 1 : 2;
    dnnl_primitive_desc_t best = NULL;
    int best_score = -2;
    dnnl_status_t st = dnnl_unimplemented;
    for (int i = 0; i < ntags; i++) {
        union op_desc d;
        dnnl_format_tag_t tag = mk->p->pool ? dnnl_nchw : tags[i];
        dnnl_primitive_desc_t pd = NULL;
        dnnl_status_t s = op_desc(mk->p, pass, mb, tag, training, &d);
        if (s == dnnl_success)
            s = dnnl_primitive_desc_create(&pd, &d, mk->attr, mk->p->eng, hint);
        if (s != dnnl_success) {
            if (i == 0)
                st = s;
            continue;
        }
        int score = impl_score(pd);
        if (score > best_score) {
            if (best)
                dnnl_primitive_desc_destroy(best);
            best = pd;
            best_score = score;
        } else {
            dnnl_primitive_desc_destroy(pd);
        }
    }
    *out = best;
    return best ? dnnl_success : st;
}

/* Sets up slot s of a step: the caller's layout user, the primitive's (from
 * pd's query (what, index)), and the reorder between them if they differ (always
 * for ACT_ADD); its buffer goes at *thread_off (or *shared_off for W_IN). */
static nn_status add_slot(struct maker *mk, struct step *st, int arg, enum role role,
                          enum buf buf, int64_t stride, const dnnl_memory_desc_t *user,
                          const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index,
                          size_t *thread_off)
{
    nn_conv_plan *p = mk->p;
    struct slot *s = &st->s[st->nslots++];
    s->arg = arg;
    s->role = role;
    s->buf = buf;
    s->stride = stride;
    s->user = *user;
    const dnnl_memory_desc_t *pm = dnnl_primitive_desc_query_md(pd, what, index);
    if (!pm)
        return dnnl_fail(mk, dnnl_runtime_error, "query an argument's layout");
    s->prim = *pm;
    if (role != ACT_ADD && dnnl_memory_desc_equal(&s->user, &s->prim))
        return NN_OK;
    bool in = role == ACT_IN || role == W_IN;
    dnnl_primitive_desc_t rpd;
    dnnl_status_t r = dnnl_reorder_primitive_desc_create(
        &rpd, in ? &s->user : &s->prim, p->eng, in ? &s->prim : &s->user, p->eng,
        role == ACT_ADD ? mk->sum_attr : mk->attr);
    if (r != dnnl_success)
        return dnnl_fail(mk, r, "make a reorder");
    const dnnl_memory_desc_t *rp = dnnl_primitive_desc_query_md(rpd, dnnl_query_scratchpad_md, 0);
    s->rpad_bytes = rp ? round64(dnnl_memory_desc_get_size(rp)) : 0;
    r = dnnl_primitive_create(&s->reorder, rpd);
    dnnl_primitive_desc_destroy(rpd);
    if (r != dnnl_success)
        return dnnl_fail(mk, r, "make a reorder");
    size_t bytes = round64(dnnl_memory_desc_get_size(&s->prim));
    if (role == W_IN) {
        s->off = p->shared_bytes;
        p->shared_bytes += bytes;
    } else {
        s->off = *thread_off;
        *thread_off += bytes;
    }
    s->rpad_off = *thread_off;
    *thread_off += s->rpad_bytes;
    return NN_OK;
}

/* Makes pass `pass` at mb images: its primitive and its slots. */
static nn_status make_step(struct maker *mk, int pass, int64_t mb, bool training,
                           const_dnnl_primitive_desc_t hint, dnnl_primitive_desc_t *pd_out)
{
    nn_conv_plan *p = mk->p;
    const struct nn_conv2d_geom *q = &p->q;
    struct step *st = &p->st[mb == 1 ? ONE : FULL][pass];
    static const char *const doing[NPASSES] = {"make the forward pass",
                                               "make the data-gradient pass",
                                               "make the weight-gradient pass"};
    dnnl_primitive_desc_t pd;
    dnnl_status_t r = make_pd(mk, pass, mb, training, hint, &pd);
    if (r != dnnl_success)
        return dnnl_fail(mk, r, doing[pass]);
    st->mb = mb;
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(st->impl, sizeof st->impl, "%s", impl ? impl : "?");
    const dnnl_memory_desc_t *pad = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    st->pad_bytes = pad ? round64(dnnl_memory_desc_get_size(pad)) : 0;
    size_t off = st->pad_bytes; /* the scratchpad first, then the slots' buffers */
    int64_t xs = q->c * q->h * q->w, ys = q->oc * q->oh * q->ow;
    dnnl_memory_desc_t xu, yu, wu, bu;
    act_md(&xu, mb, q->c, q->h, q->w, dnnl_nchw);
    act_md(&yu, mb, q->oc, q->oh, q->ow, dnnl_nchw);
    if (!p->pool)
        weights_md(&wu, q, false);
    dnnl_dims_t bdims = {q->oc};
    dnnl_memory_desc_init_by_tag(&bu, 1, bdims, dnnl_f32, dnnl_x);
    nn_status s = NN_OK;
#define SLOT(arg, role, buf, stride, user, what, index)                            \
    if (s == NN_OK)                                                                \
    s = add_slot(mk, st, arg, role, buf, stride, user, pd, what, index, &off)
    if (pass == FWD) {
        SLOT(DNNL_ARG_SRC, ACT_IN, X, xs, &xu, dnnl_query_src_md, 0);
        if (!p->pool)
            SLOT(DNNL_ARG_WEIGHTS, W_IN, W, 0, &wu, dnnl_query_weights_md, 0);
        if (p->bias)
            SLOT(DNNL_ARG_BIAS, B_IN, B, 0, &bu, dnnl_query_weights_md, 1);
        SLOT(DNNL_ARG_DST, ACT_OUT, Y, ys, &yu, dnnl_query_dst_md, 0);
    } else if (pass == BWD_D) {
        SLOT(DNNL_ARG_DIFF_DST, ACT_IN, DY, ys, &yu, dnnl_query_diff_dst_md, 0);
        if (!p->pool)
            SLOT(DNNL_ARG_WEIGHTS, W_IN, W, 0, &wu, dnnl_query_weights_md, 0);
        SLOT(DNNL_ARG_DIFF_SRC, ACT_ADD, DX, xs, &xu, dnnl_query_diff_src_md, 0);
    } else {
        SLOT(DNNL_ARG_SRC, ACT_IN, X, xs, &xu, dnnl_query_src_md, 0);
        SLOT(DNNL_ARG_DIFF_DST, ACT_IN, DY, ys, &yu, dnnl_query_diff_dst_md, 0);
        SLOT(DNNL_ARG_DIFF_WEIGHTS, W_OUT, W, 0, &wu, dnnl_query_diff_weights_md, 0);
        if (p->bias)
            SLOT(DNNL_ARG_DIFF_BIAS, B_OUT, B, 0, &bu, dnnl_query_diff_weights_md, 1);
    }
#undef SLOT
    if (s == NN_OK && (r = dnnl_primitive_create(&st->p, pd)) != dnnl_success)
        s = dnnl_fail(mk, r, doing[pass]);
    if (s != NN_OK) {
        dnnl_primitive_desc_destroy(pd);
        return s;
    }
    if (off > p->thread_bytes)
        p->thread_bytes = off;
    if (pd_out)
        *pd_out = pd;
    else
        dnnl_primitive_desc_destroy(pd);
    return NN_OK;
}

/* One set of memory objects per thread for every step made. */
static nn_status make_mems(struct maker *mk)
{
    nn_conv_plan *p = mk->p;
    for (int z = 0; z < NSIZES; z++)
        for (int pass = 0; pass < NPASSES; pass++) {
            struct step *st = &p->st[z][pass];
            if (!st->p)
                continue;
            st->m = calloc((size_t)p->threads, sizeof *st->m);
            if (!st->m)
                return nn_fail(mk->ctx, NN_ERR_NOMEM, "%s '%s': out of memory for its plan",
                               mk->what, mk->name);
            for (int t = 0; t < p->threads; t++) {
                struct mems *m = &st->m[t];
                dnnl_status_t r = dnnl_success;
                for (int i = 0; i < st->nslots && r == dnnl_success; i++) {
                    const struct slot *s = &st->s[i];
                    r = dnnl_memory_create(&m->user[i], &s->user, p->eng, DNNL_MEMORY_NONE);
                    if (r == dnnl_success && s->reorder)
                        r = dnnl_memory_create(&m->prim[i], &s->prim, p->eng,
                                               DNNL_MEMORY_NONE);
                    if (r == dnnl_success && s->rpad_bytes) {
                        const_dnnl_primitive_desc_t rpd;
                        dnnl_primitive_get_primitive_desc(s->reorder, &rpd);
                        r = dnnl_memory_create(
                            &m->rpad[i], dnnl_primitive_desc_query_md(rpd, dnnl_query_scratchpad_md, 0),
                            p->eng, DNNL_MEMORY_NONE);
                    }
                }
                if (r == dnnl_success && st->pad_bytes) {
                    const_dnnl_primitive_desc_t ppd;
                    dnnl_primitive_get_primitive_desc(st->p, &ppd);
                    r = dnnl_memory_create(&m->pad,
                                           dnnl_primitive_desc_query_md(ppd, dnnl_query_scratchpad_md, 0),
                                           p->eng, DNNL_MEMORY_NONE);
                }
                if (r != dnnl_success)
                    return dnnl_fail(mk, r, "make its memory objects");
            }
        }
    return NN_OK;
}

static nn_status plan_new(nn_ctx *ctx, const char *what, const char *name,
                          const struct nn_conv2d_geom *q, bool pool, bool bias, unsigned needs,
                          int64_t max_batch, nn_conv_plan **out)
{
    *out = NULL;
    nn_conv_plan *p = calloc(1, sizeof *p);
    if (!p)
        return nn_fail(ctx, NN_ERR_NOMEM, "%s '%s': out of memory for its plan", what, name);
    p->q = *q;
    p->pool = pool;
    p->bias = bias && !pool;
    p->threads = nn_ctx_threads(ctx);
    p->max_batch = max_batch;
    *out = p; /* freed by the caller's release, also after an error */
    struct maker mk = {ctx, what, name, p, NULL, NULL};
    int prev = one_thread(); /* kernels are chosen for the thread count they run on */
    nn_status s = NN_OK;
    dnnl_status_t r = dnnl_engine_create(&p->eng, dnnl_cpu, 0);
    dnnl_post_ops_t po = NULL;
    if (r == dnnl_success)
        r = dnnl_primitive_attr_create(&mk.attr);
    if (r == dnnl_success)
        r = dnnl_primitive_attr_set_scratchpad_mode(mk.attr, dnnl_scratchpad_mode_user);
    if (r == dnnl_success)
        r = dnnl_primitive_attr_create(&mk.sum_attr);
    if (r == dnnl_success)
        r = dnnl_primitive_attr_set_scratchpad_mode(mk.sum_attr, dnnl_scratchpad_mode_user);
    if (r == dnnl_success)
        r = dnnl_post_ops_create(&po);
    if (r == dnnl_success)
        r = dnnl_post_ops_append_sum(po, 1.0f);
    if (r == dnnl_success)
        r = dnnl_primitive_attr_set_post_ops(mk.sum_attr, po);
    if (r == dnnl_success) {
        p->streams = calloc((size_t)p->threads, sizeof *p->streams);
        for (int t = 0; p->streams && t < p->threads && r == dnnl_success; t++)
            r = dnnl_stream_create(&p->streams[t], p->eng, dnnl_stream_default_flags);
        if (!p->streams)
            s = nn_fail(ctx, NN_ERR_NOMEM, "%s '%s': out of memory for its plan", what, name);
    }
    if (r != dnnl_success)
        s = dnnl_fail(&mk, r, "set up its engine");
    bool training = needs != 0;
    for (int z = 0; z < NSIZES && s == NN_OK; z++) {
        int64_t mb = z == FULL ? CHUNK : 1;
        if (z == FULL && max_batch < CHUNK)
            continue; /* never a full chunk */
        dnnl_primitive_desc_t fwd = NULL;
        s = make_step(&mk, FWD, mb, training, NULL, &fwd);
        if (s == NN_OK && (needs & NN_CONV_DATA_GRAD))
            s = make_step(&mk, BWD_D, mb, training, fwd, NULL);
        if (s == NN_OK && !pool && (needs & NN_CONV_WEIGHT_GRAD))
            s = make_step(&mk, BWD_W, mb, training, fwd, NULL);
        if (fwd)
            dnnl_primitive_desc_destroy(fwd);
    }
    if (s == NN_OK)
        s = make_mems(&mk);
    if (s == NN_OK && !pool && (needs & NN_CONV_WEIGHT_GRAD)) {
        /* partials: one per chunk of the largest batch's cut */
        int64_t nw = q->oc * (q->c / q->win.groups) * q->win.kh * q->win.kw;
        p->part_b_off = round64((size_t)nw * sizeof(float));
        p->part_bytes = p->part_b_off + round64((size_t)q->oc * sizeof(float));
        p->nparts = max_batch / CHUNK + (max_batch < CHUNK ? max_batch : CHUNK - 1);
    }
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(mk.attr);
    dnnl_primitive_attr_destroy(mk.sum_attr);
    restore_threads(prev);
    return s;
}

nn_status nn_conv2d_plan_new(nn_ctx *ctx, const char *name, const struct nn_conv2d_geom *q,
                             bool bias, unsigned needs, int64_t max_batch, nn_conv_plan **out)
{
    return plan_new(ctx, "conv2d", name, q, false, bias, needs, max_batch, out);
}

nn_status nn_avgpool2d_plan_new(nn_ctx *ctx, const char *name, const struct nn_conv2d_geom *q,
                                unsigned needs, int64_t max_batch, nn_conv_plan **out)
{
    return plan_new(ctx, "avgpool2d", name, q, true, false, needs & NN_CONV_DATA_GRAD,
                    max_batch, out);
}

void nn_conv_plan_free(nn_conv_plan *p)
{
    if (!p)
        return;
    for (int z = 0; z < NSIZES; z++)
        for (int pass = 0; pass < NPASSES; pass++) {
            struct step *st = &p->st[z][pass];
            for (int t = 0; st->m && t < p->threads; t++)
                for (int i = 0; i < MAX_SLOTS; i++) {
                    dnnl_memory_destroy(st->m[t].user[i]);
                    dnnl_memory_destroy(st->m[t].prim[i]);
                    dnnl_memory_destroy(st->m[t].rpad[i]);
                    if (i == 0)
                        dnnl_memory_destroy(st->m[t].pad);
                }
            free(st->m);
            for (int i = 0; i < st->nslots; i++)
                dnnl_primitive_destroy(st->s[i].reorder);
            dnnl_primitive_destroy(st->p);
        }
    for (int t = 0; p->streams && t < p->threads; t++)
        dnnl_stream_destroy(p->streams[t]);
    free(p->streams);
    dnnl_engine_destroy(p->eng);
    free(p);
}

int64_t nn_conv_plan_scratch(const nn_conv_plan *p)
{
    size_t bytes = p->shared_bytes + (size_t)p->nparts * p->part_bytes +
                   (size_t)p->threads * p->thread_bytes;
    return (int64_t)((bytes + sizeof(float) - 1) / sizeof(float));
}

const char *nn_conv_plan_impl(const nn_conv_plan *p, int pass)
{
    if (pass < 0 || pass >= NPASSES)
        return NULL;
    const struct step *st = p->st[FULL][pass].p ? &p->st[FULL][pass] : &p->st[ONE][pass];
    return st->p ? st->impl : NULL;
}

/* ---- running ------------------------------------------------------------ */

struct call {
    const nn_conv_plan *p;
    unsigned passes;        /* 1 << pass for each pass, run per chunk in order */
    int64_t nfull, nchunks; /* n / CHUNK chunks of CHUNK images, then single images */
    void *buf[NBUFS];       /* the caller's buffers */
    char *scratch;
};

static char *thread_scratch(const struct call *c, int t)
{
    const nn_conv_plan *p = c->p;
    return c->scratch + p->shared_bytes + (size_t)p->nparts * p->part_bytes +
           (size_t)t * p->thread_bytes;
}

static void run_reorder(const struct slot *s, const struct mems *m, int i, dnnl_stream_t strm,
                        char *ts)
{
    bool in = s->role == ACT_IN || s->role == W_IN;
    dnnl_exec_arg_t a[3] = {{DNNL_ARG_FROM, in ? m->user[i] : m->prim[i]},
                            {DNNL_ARG_TO, in ? m->prim[i] : m->user[i]}};
    int na = 2;
    if (s->rpad_bytes) {
        dnnl_memory_set_data_handle(m->rpad[i], ts + s->rpad_off);
        a[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, m->rpad[i]};
    }
    dnnl_status_t r = dnnl_primitive_execute(s->reorder, strm, na, a);
    NN_ASSERT(r == dnnl_success, "a oneDNN reorder failed");
}

/* Chunk k (images i0 .. i0 + st->mb) of a call, on thread t. */
static void run_chunk(const struct call *c, const struct step *st, int t, int64_t k, int64_t i0)
{
    const nn_conv_plan *p = c->p;
    const struct mems *m = &st->m[t];
    dnnl_stream_t strm = p->streams[t];
    char *ts = thread_scratch(c, t);
    char *part = c->scratch + p->shared_bytes + (size_t)k * p->part_bytes;
    dnnl_exec_arg_t a[MAX_SLOTS + 1];
    int na = 0;
    for (int i = 0; i < st->nslots; i++) {
        const struct slot *s = &st->s[i];
        char *user;
        switch (s->role) {
        case W_OUT:
            user = part;
            break;
        case B_OUT:
            user = part + p->part_b_off;
            break;
        default:
            user = (char *)c->buf[s->buf] + (size_t)(i0 * s->stride) * sizeof(float);
        }
        dnnl_memory_set_data_handle(m->user[i], user);
        dnnl_memory_t use = m->user[i];
        if (s->reorder) {
            dnnl_memory_set_data_handle(m->prim[i], s->role == W_IN ? c->scratch + s->off
                                                                    : ts + s->off);
            use = m->prim[i];
            if (s->role == ACT_IN)
                run_reorder(s, m, i, strm, ts);
        }
        a[na++] = (dnnl_exec_arg_t){s->arg, use};
    }
    if (st->pad_bytes) {
        dnnl_memory_set_data_handle(m->pad, ts + st->pad_off);
        a[na++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, m->pad};
    }
    dnnl_status_t r = dnnl_primitive_execute(st->p, strm, na, a);
    NN_ASSERT(r == dnnl_success, "a oneDNN primitive failed");
    for (int i = 0; i < st->nslots; i++) {
        const struct slot *s = &st->s[i];
        if (s->reorder && (s->role == ACT_OUT || s->role == ACT_ADD || s->role == W_OUT))
            run_reorder(s, m, i, strm, ts);
    }
}

/* Chunk k, on whichever thread t claimed it (t picks the stream and the
 * scratch; the chunk's result does not depend on it). */
static void call_chunk(void *arg, int64_t k, int t)
{
    const struct call *c = arg;
    int prev = one_thread();
    bool full = k < c->nfull;
    int64_t i0 = full ? k * CHUNK : c->nfull * CHUNK + (k - c->nfull);
    for (int pass = 0; pass < NPASSES; pass++)
        if (c->passes & (1u << pass))
            run_chunk(c, &c->p->st[full ? FULL : ONE][pass], t, k, i0);
    restore_threads(prev);
}

/* Runs the passes in `passes` (1 << pass each) over n images: the weights
 * reordered once for each pass and batch size used, then the chunks on the
 * context's threads, each chunk through every pass while its rows are in
 * cache. */
static void run(nn_ctx *ctx, const nn_conv_plan *p, unsigned passes, int64_t n,
                void *const buf[NBUFS], float *scratch)
{
    struct call c = {p, passes, n / CHUNK, n / CHUNK + n % CHUNK, {0}, (char *)scratch};
    memcpy(c.buf, buf, sizeof c.buf);
    NN_ASSERT(n >= 1 && n <= p->max_batch, "batch outside the plan");
    int prev = one_thread();
    for (int pass = 0; pass < NPASSES; pass++)
        for (int z = 0; z < NSIZES && (passes & (1u << pass)); z++) {
            if (z == FULL ? c.nfull == 0 : c.nchunks == c.nfull)
                continue;
            const struct step *st = &p->st[z][pass];
            NN_ASSERT(st->p, "a pass the plan was not made for");
            for (int i = 0; i < st->nslots; i++) {
                const struct slot *s = &st->s[i];
                if (s->role != W_IN || !s->reorder)
                    continue;
                dnnl_memory_set_data_handle(st->m[0].user[i], c.buf[s->buf]);
                dnnl_memory_set_data_handle(st->m[0].prim[i], c.scratch + s->off);
                run_reorder(s, &st->m[0], i, p->streams[0], thread_scratch(&c, 0));
            }
        }
    restore_threads(prev);
    nn_pool_for(c.nchunks > 1 ? nn_ctx_pool(ctx) : NULL, c.nchunks, call_chunk, &c);
}

void nn_conv2d_fwd(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *x,
                   const float *w, const float *b, float *y, float *scratch)
{
    void *buf[NBUFS] = {[X] = (void *)x, [W] = (void *)w, [B] = (void *)b, [Y] = y};
    run(ctx, p, 1u << FWD, n, buf, scratch);
}

/* dw and db += the partials, in chunk order. */
NN_MULTIVERSION
static void add_partials(const nn_conv_plan *p, int64_t nchunks, const char *parts, float *dw,
                         float *db)
{
    const struct nn_conv2d_geom *q = &p->q;
    int64_t nw = q->oc * (q->c / q->win.groups) * q->win.kh * q->win.kw;
    for (int64_t k = 0; k < nchunks; k++) {
        const float *pw = (const float *)(const void *)(parts + (size_t)k * p->part_bytes);
        const float *pb = (const float *)(const void *)(parts + (size_t)k * p->part_bytes +
                                                        p->part_b_off);
        if (dw) {
            NN_SIMD
            for (int64_t e = 0; e < nw; e++)
                dw[e] += pw[e];
        }
        if (db && p->bias)
            for (int64_t o = 0; o < q->oc; o++)
                db[o] += pb[o];
    }
}

void nn_conv2d_bwd(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *x,
                   const float *w, const float *dy, float *dx, float *dw, float *db,
                   float *scratch)
{
    void *buf[NBUFS] = {[X] = (void *)x, [W] = (void *)w, [DY] = (void *)dy, [DX] = dx};
    unsigned passes = (dx ? 1u << BWD_D : 0) | (dw || db ? 1u << BWD_W : 0);
    if (!passes)
        return;
    run(ctx, p, passes, n, buf, scratch);
    if (passes & (1u << BWD_W))
        add_partials(p, n / CHUNK + n % CHUNK, (const char *)scratch + p->shared_bytes, dw,
                     db);
}

void nn_avgpool2d_fwd(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *x,
                      float *y, float *scratch)
{
    void *buf[NBUFS] = {[X] = (void *)x, [Y] = y};
    run(ctx, p, 1u << FWD, n, buf, scratch);
}

void nn_avgpool2d_bwd(nn_ctx *ctx, const nn_conv_plan *p, int64_t n, const float *dy,
                      float *dx, float *scratch)
{
    void *buf[NBUFS] = {[DY] = (void *)dy, [DX] = dx};
    run(ctx, p, 1u << BWD_D, n, buf, scratch);
}

#else
/* ISO C forbids an empty translation unit. */
typedef int nn_conv_dnnl_unused;
#endif /* !NN_GEMM_CBLAS */
