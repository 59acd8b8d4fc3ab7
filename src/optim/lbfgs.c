/*
 * lbfgs.c - L-BFGS with torch.optim.LBFGS's semantics (PyTorch 1.13): one
 * step runs up to max_iter iterations, each a two-loop recursion over the
 * last history_size curvature pairs (s = step, y = gradient change) and a
 * move along the direction found, by a fixed step (lr; lr * min(1, 1/|g|_1)
 * the very first time) or by a strong-Wolfe line search; the objective is
 * re-evaluated through the caller's closure. The vectors are the trainable
 * parameters' runs in block order (buffers such as running statistics are
 * neither read nor moved), as torch's flattened parameter list.
 *
 * Arithmetic: vectors in float32 as torch's; dot products summed in double
 * and rounded to float (torch sums in float32); the line search's scalars
 * in double. A pair whose y's is not above 1e-10 (no curvature, e.g. a
 * step that did not move) is skipped, as torch does, so ro = 1 / y's is
 * never infinite.
 *
 * State block (floats), so that a checkpoint restores a run exactly:
 *   [0, 1] iterations done, [2, 3] loss evaluations (each as low and high
 *   24-bit halves, exact to 2^48), [4] pairs held, [5] ring position of the
 *   oldest, [6] the last step length t, [7] H_diag, [8] the last loss,
 *   then ro[history], d[m], prev_g[m], y[history][m], s[history][m].
 */
#include "optim.h"

#include <math.h>
#include <string.h>

enum { H_ITERS = 0, H_EVALS = 2, H_COUNT = 4, H_HEAD = 5, H_T = 6, H_HDIAG = 7, H_LOSS = 8 };
_Static_assert(H_LOSS + 1 == NN_LBFGS_HDR, "header size");

struct nn_lbfgs {
    int64_t m;     /* trainable floats */
    float *g;      /* (m) the current flat gradient */
    float *x0;     /* (m) the parameters where the iteration began */
    float *al;     /* (history) two-loop coefficients */
    float *gs[3];  /* (m) each: line-search gradients (strong Wolfe only) */
};

/* ---- the state block ------------------------------------------------------ */

static int64_t get_count(const float *h)
{
    return (int64_t)h[0] + ((int64_t)h[1] << 24);
}

static void set_count(float *h, int64_t v)
{
    h[0] = (float)(v & ((1 << 24) - 1));
    h[1] = (float)(v >> 24);
}

static float *ro_of(nn_optim *o) { return o->state + NN_LBFGS_HDR; }
static float *d_of(nn_optim *o) { return ro_of(o) + o->cfg.history_size; }
static float *pg_of(nn_optim *o) { return d_of(o) + o->lb->m; }
static float *y_of(nn_optim *o, int64_t j) { return pg_of(o) + o->lb->m * (1 + j); }
static float *s_of(nn_optim *o, int64_t j)
{
    return y_of(o, o->cfg.history_size) + o->lb->m * j;
}

static int64_t trainable(const nn_optim *o)
{
    int64_t m = 0;
    for (int s = 0; s < o->nsegs; s++)
        m += o->segs[s].len;
    return m;
}

int64_t nn_lbfgs_state_size(const nn_optim *o)
{
    int64_t h = o->cfg.history_size;
    return NN_LBFGS_HDR + h + (2 + 2 * h) * trainable(o);
}

void nn_lbfgs_free(struct nn_lbfgs *lb)
{
    if (!lb)
        return;
    free(lb->g);
    free(lb->x0);
    free(lb->al);
    for (int i = 0; i < 3; i++)
        free(lb->gs[i]);
    free(lb);
}

bool nn_lbfgs_setup(nn_optim *o)
{
    struct nn_lbfgs *lb = o->lb = calloc(1, sizeof *lb);
    if (!lb)
        return false;
    lb->m = trainable(o);
    size_t bytes = (size_t)(lb->m > 0 ? lb->m : 1) * sizeof(float);
    lb->g = malloc(bytes);
    lb->x0 = malloc(bytes);
    lb->al = malloc((size_t)o->cfg.history_size * sizeof(float));
    bool ok = lb->g && lb->x0 && lb->al;
    for (int i = 0; i < 3 && o->cfg.line_search == NN_LINE_SEARCH_STRONG_WOLFE; i++)
        ok = (lb->gs[i] = malloc(bytes)) != NULL && ok;
    return ok;
}

/* ---- vectors ------------------------------------------------------------- */

static float dot(const float *a, const float *b, int64_t m)
{
    double s = 0;
    for (int64_t i = 0; i < m; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}

static float max_abs(const float *a, int64_t m)
{
    float r = 0;
    for (int64_t i = 0; i < m; i++)
        r = fabsf(a[i]) > r ? fabsf(a[i]) : r;
    return r;
}

/* dst = the trainable runs of a block (parameters or gradients). */
static void gather(const nn_optim *o, float *dst, const float *block)
{
    for (int s = 0; s < o->nsegs; s++) {
        memcpy(dst, block + o->segs[s].off, (size_t)o->segs[s].len * sizeof *dst);
        dst += o->segs[s].len;
    }
}

/* The parameters = x + t d (x NULL: the parameters themselves). */
static void move_params(nn_optim *o, const float *x, float t, const float *d)
{
    float *p = nn_graph_param_block(o->g);
    for (int s = 0; s < o->nsegs; s++) {
        float *q = p + o->segs[s].off;
        const float *xs = x ? x : q;
        for (int64_t i = 0; i < o->segs[s].len; i++)
            q[i] = xs[i] + t * d[i];
        d += o->segs[s].len;
        if (x)
            x += o->segs[s].len;
    }
}

/* Runs the closure: the loss into *f, the flat gradient into g. */
static nn_status evaluate(nn_optim *o, nn_optim_closure fn, void *user, double *f, float *g)
{
    nn_status st = fn(user, f);
    if (st != NN_OK)
        return st;
    set_count(o->state + H_EVALS, get_count(o->state + H_EVALS) + 1);
    gather(o, g, nn_graph_grad_block(o->g));
    return NN_OK;
}

/* ---- the direction: two-loop recursion ------------------------------------ */

/* Adds the pair (y, s) = (g - prev_g, t d) unless y's <= 1e-10, then sets
 * d to -H g. */
static void direction(nn_optim *o, const float *g)
{
    float *hd = o->state, *ro = ro_of(o), *d = d_of(o), *pg = pg_of(o), *al = o->lb->al;
    int64_t m = o->lb->m, h = o->cfg.history_size;
    int64_t count = (int64_t)hd[H_COUNT], head = (int64_t)hd[H_HEAD];
    float t = hd[H_T];
    double ys = 0, yy = 0;
    for (int64_t i = 0; i < m; i++) {
        float y = g[i] - pg[i], s = d[i] * t;
        ys += (double)y * s;
        yy += (double)y * y;
    }
    if ((float)ys > 1e-10f) {
        int64_t j = count == h ? head : (head + count) % h;
        if (count == h)
            head = (head + 1) % h;
        else
            count++;
        float *Y = y_of(o, j), *S = s_of(o, j);
        for (int64_t i = 0; i < m; i++) {
            Y[i] = g[i] - pg[i];
            S[i] = d[i] * t;
        }
        ro[j] = 1.0f / (float)ys;
        hd[H_HDIAG] = (float)ys / (float)yy;
        hd[H_COUNT] = (float)count;
        hd[H_HEAD] = (float)head;
    }
    for (int64_t i = 0; i < m; i++)
        d[i] = -g[i];
    for (int64_t k = count - 1; k >= 0; k--) {
        int64_t j = (head + k) % h;
        const float *Y = y_of(o, j);
        al[k] = dot(s_of(o, j), d, m) * ro[j];
        for (int64_t i = 0; i < m; i++)
            d[i] += -al[k] * Y[i];
    }
    float hdiag = hd[H_HDIAG];
    for (int64_t i = 0; i < m; i++)
        d[i] *= hdiag;
    for (int64_t k = 0; k < count; k++) {
        int64_t j = (head + k) % h;
        const float *S = s_of(o, j);
        float be = dot(y_of(o, j), d, m) * ro[j], a = al[k] - be;
        for (int64_t i = 0; i < m; i++)
            d[i] += a * S[i];
    }
}

/* ---- strong Wolfe line search ------------------------------------------------ */

struct ls {
    nn_optim *o;
    nn_optim_closure fn;
    void *user;
    const float *d;
    float *gv[4]; /* [0] the gradient at t = 0, [1..3] gradients of trial steps */
    int evals;
};

/* The loss and gradient (into gv[k]) at x0 + t d; the parameters are x0 again
 * afterwards, error or not. */
static nn_status ls_eval(struct ls *s, double t, int k, double *f, double *gtd)
{
    struct nn_lbfgs *lb = s->o->lb;
    move_params(s->o, lb->x0, (float)t, s->d);
    nn_status st = evaluate(s->o, s->fn, s->user, f, s->gv[k]);
    move_params(s->o, lb->x0, 0, s->d);
    if (st != NN_OK)
        return st;
    s->evals++;
    *gtd = dot(s->gv[k], s->d, lb->m);
    return NN_OK;
}

/* A slot of gv[1..3] that is neither a nor b. */
static int free_slot(int a, int b)
{
    for (int k = 1; k < 3; k++)
        if (k != a && k != b)
            return k;
    return 3;
}

/* The minimizer of the cubic through (x1, f1, g1) and (x2, f2, g2), clamped
 * to [lo, hi]; their middle when the cubic has none. */
static double cubic_min(double x1, double f1, double g1, double x2, double f2, double g2,
                        double lo, double hi)
{
    double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2), d2sq = d1 * d1 - g1 * g2;
    if (!(d2sq >= 0))
        return (lo + hi) / 2;
    double d2 = sqrt(d2sq), pos;
    if (x1 <= x2)
        pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2));
    else
        pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
    return fmin(fmax(pos, lo), hi);
}

/* A bracket [a[0], a[1]] of step lengths with their losses, directional
 * derivatives and gradient slots. */
struct bracket {
    double t[2], f[2], gtd[2];
    int g[2];
    int n; /* 1: a point satisfying the conditions, 2: an interval */
};

#define LS_MAX 25
#define LS_C1 1e-4
#define LS_C2 0.9
#define LS_TOL 1e-9 /* torch's _strong_wolfe default, not the step's tolerance */

/* Phase 1: grows the step until it brackets a point satisfying the
 * conditions (or finds one). *iter counts the evaluations after the first. */
static nn_status ls_bracket(struct ls *s, double t, double f, double gtd, struct bracket *b,
                            int *iter)
{
    double fn, gn, tp = 0, fp = f, gp = gtd;
    int kp = 0, kn = 1;
    nn_status st = ls_eval(s, t, kn, &fn, &gn);
    for (*iter = 0; st == NN_OK && *iter < LS_MAX; ++*iter) {
        bool up = fn > f + LS_C1 * t * gtd || (*iter > 1 && fn >= fp);
        if (!up && fabs(gn) <= -LS_C2 * gtd) {
            *b = (struct bracket){{t, t}, {fn, fn}, {gn, gn}, {kn, kn}, 1};
            return NN_OK;
        }
        if (up || gn >= 0) {
            *b = (struct bracket){{tp, t}, {fp, fn}, {gp, gn}, {kp, kn}, 2};
            return NN_OK;
        }
        double lo = t + 0.01 * (t - tp), hi = t * 10, tn = cubic_min(tp, fp, gp, t, fn, gn, lo, hi);
        tp = t, fp = fn, gp = gn, kp = kn;
        t = tn;
        kn = free_slot(kp, 0);
        st = ls_eval(s, t, kn, &fn, &gn);
    }
    /* torch leaves the derivatives of this bracket unset: the zoom does not run */
    *b = (struct bracket){{0, t}, {f, fn}, {gtd, gn}, {0, kn}, 2};
    return st;
}

/* Chooses the zoom's next trial step inside the bracket, away from its
 * ends when progress is slow (torch's insufficient-progress rule). */
static double zoom_step(const struct bracket *b, bool *insuf)
{
    double t = cubic_min(b->t[0], b->f[0], b->gtd[0], b->t[1], b->f[1], b->gtd[1],
                         fmin(b->t[0], b->t[1]), fmax(b->t[0], b->t[1]));
    double hi = fmax(b->t[0], b->t[1]), lo = fmin(b->t[0], b->t[1]), eps = 0.1 * (hi - lo);
    if (fmin(hi - t, t - lo) < eps) {
        if (*insuf || t >= hi || t <= lo) {
            t = fabs(t - hi) < fabs(t - lo) ? hi - eps : lo + eps;
            *insuf = false;
        } else {
            *insuf = true;
        }
    } else {
        *insuf = false;
    }
    return t;
}

/* Phase 2: shrinks the bracket until a point satisfies the conditions. The
 * result is the bracket's low end, b->t[*low]. */
static nn_status ls_zoom(struct ls *s, double f, double gtd, float d_norm, struct bracket *b,
                         int iter, int *low)
{
    bool done = b->n == 1, insuf = false;
    int lo = b->f[0] <= b->f[1] ? 0 : 1, hi = 1 - lo;
    while (!done && iter < LS_MAX) {
        if (fabs(b->t[1] - b->t[0]) * d_norm < LS_TOL)
            break;
        double t = zoom_step(b, &insuf), fn, gn;
        int k = free_slot(b->g[0], b->g[1]);
        nn_status st = ls_eval(s, t, k, &fn, &gn);
        if (st != NN_OK)
            return st;
        iter++;
        if (fn > f + LS_C1 * t * gtd || fn >= b->f[lo]) {
            b->t[hi] = t, b->f[hi] = fn, b->gtd[hi] = gn, b->g[hi] = k;
            lo = b->f[0] <= b->f[1] ? 0 : 1, hi = 1 - lo;
            continue;
        }
        if (fabs(gn) <= -LS_C2 * gtd)
            done = true;
        else if (gn * (b->t[hi] - b->t[lo]) >= 0) {
            b->t[hi] = b->t[lo], b->f[hi] = b->f[lo], b->gtd[hi] = b->gtd[lo];
            b->g[hi] = b->g[lo];
        }
        b->t[lo] = t, b->f[lo] = fn, b->gtd[lo] = gn, b->g[lo] = k;
    }
    *low = lo;
    return NN_OK;
}

/* Searches along d from x0 (the parameters) with loss *f and gradient g:
 * sets *t, *f and g to the point chosen (the parameters stay x0). */
static nn_status strong_wolfe(nn_optim *o, nn_optim_closure fn, void *user, double *t,
                              double *f, float *g, float gtd, int *evals)
{
    struct nn_lbfgs *lb = o->lb;
    const float *d = d_of(o);
    struct ls s = {o, fn, user, d, {g, lb->gs[0], lb->gs[1], lb->gs[2]}, 0};
    struct bracket b;
    int iter, low;
    nn_status st = ls_bracket(&s, *t, *f, gtd, &b, &iter);
    if (st == NN_OK)
        st = ls_zoom(&s, *f, gtd, max_abs(d, lb->m), &b, iter, &low);
    *evals = s.evals;
    if (st != NN_OK)
        return st;
    *t = b.t[low];
    *f = b.f[low];
    if (b.g[low] != 0)
        memcpy(g, s.gv[b.g[low]], (size_t)lb->m * sizeof *g);
    return NN_OK;
}

/* ---- the step ----------------------------------------------------------------- */

/* Moves from x0 along d by t: by a fixed step and a new evaluation (unless
 * the iteration is the step's last), or by the line search's choice.
 * *evals gets the evaluations made. */
static nn_status advance(nn_optim *o, nn_optim_closure fn, void *user, float *t, double *loss,
                         float gtd, bool last, int *evals)
{
    struct nn_lbfgs *lb = o->lb;
    const float *d = d_of(o);
    *evals = 0;
    if (o->cfg.line_search == NN_LINE_SEARCH_STRONG_WOLFE) {
        double tt = *t;
        nn_status st = strong_wolfe(o, fn, user, &tt, loss, lb->g, gtd, evals);
        if (st != NN_OK)
            return st;
        *t = (float)tt;
        move_params(o, NULL, *t, d);
        return NN_OK;
    }
    move_params(o, NULL, *t, d);
    if (last)
        return NN_OK;
    *evals = 1;
    return evaluate(o, fn, user, loss, lb->g);
}

/* Whether the state's counts are ones this optimizer can hold (a state
 * block restored from a file is not trusted blindly). */
static bool state_ok(const nn_optim *o)
{
    const float *hd = o->state;
    float c = hd[H_COUNT], h = hd[H_HEAD];
    return c >= 0 && c <= (float)o->cfg.history_size && c == floorf(c) && h >= 0 &&
           h < (float)o->cfg.history_size && h == floorf(h) && hd[H_ITERS] >= 0 &&
           hd[H_ITERS + 1] >= 0 && hd[H_ITERS] < (float)(1 << 24);
}

/* The iteration loop of one step, after the first evaluation. */
static nn_status iterate(nn_optim *o, nn_optim_closure fn, void *user, double loss)
{
    const struct nn_optim_cfg *c = &o->cfg;
    struct nn_lbfgs *lb = o->lb;
    float *hd = o->state, *d = d_of(o);
    int64_t m = lb->m, evals_here = 1;
    for (int n_iter = 1; n_iter <= c->max_iter; n_iter++) {
        int64_t iters = get_count(hd + H_ITERS) + 1;
        set_count(hd + H_ITERS, iters);
        if (iters == 1) {
            for (int64_t i = 0; i < m; i++)
                d[i] = -lb->g[i];
            hd[H_COUNT] = hd[H_HEAD] = 0;
            hd[H_HDIAG] = 1;
        } else {
            direction(o, lb->g);
        }
        memcpy(pg_of(o), lb->g, (size_t)m * sizeof(float));
        double prev_loss = loss;
        float t = c->lr;
        if (iters == 1) {
            double l1 = 0;
            for (int64_t i = 0; i < m; i++)
                l1 += fabsf(lb->g[i]);
            float inv = 1.0f / (float)l1;
            t = (inv < 1.0f ? inv : 1.0f) * c->lr;
        }
        hd[H_T] = t;
        float gtd = dot(lb->g, d, m);
        if (gtd > -c->tolerance_change)
            break;
        gather(o, lb->x0, nn_graph_param_block(o->g));
        int evals;
        nn_status st = advance(o, fn, user, &t, &loss, gtd, n_iter == c->max_iter, &evals);
        hd[H_T] = t;
        hd[H_LOSS] = (float)loss;
        if (st != NN_OK) { /* back to the last point evaluated */
            move_params(o, lb->x0, 0, d);
            return st;
        }
        evals_here += evals;
        float step = 0;
        for (int64_t i = 0; i < m; i++)
            step = fabsf(d[i] * t) > step ? fabsf(d[i] * t) : step;
        if (n_iter == c->max_iter || evals_here >= c->max_eval ||
            max_abs(lb->g, m) <= c->tolerance_grad || step <= c->tolerance_change ||
            fabs(loss - prev_loss) < c->tolerance_change)
            break;
    }
    return NN_OK;
}

nn_status nn_lbfgs_step(nn_optim *o, nn_optim_closure fn, void *user, double *loss)
{
    if (!state_ok(o))
        return nn_fail(o->ctx, NN_ERR_STATE, "optimizer lbfgs: its state block holds %g "
                       "pairs at position %g, expected at most history_size %d: the state "
                       "restored is not an lbfgs state of this configuration",
                       (double)o->state[H_COUNT], (double)o->state[H_HEAD],
                       o->cfg.history_size);
    nn_status st = evaluate(o, fn, user, loss, o->lb->g);
    if (st != NN_OK)
        return st;
    o->state[H_LOSS] = (float)*loss;
    if (max_abs(o->lb->g, o->lb->m) <= o->cfg.tolerance_grad)
        return NN_OK;
    return iterate(o, fn, user, *loss);
}
