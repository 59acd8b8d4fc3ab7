/*
 * test_augment.c - data augmentation: the transform of one image against
 * its definition (pixels land exactly where they should, zero fill, flips),
 * the identity at shift 0, the draws (reproducible, per epoch and seed,
 * uniform within binomial bounds), the data-set path that transforms stored
 * pixels before their normalization, batches that do not depend on the
 * thread count, augmentation of training batches only (never validation or
 * evaluation), and clear errors for bad settings.
 */
#include "test.h"

#include "data/data.h"

/* ---- helpers ------------------------------------------------------------- */

/* Stored pixel j of sample s with f pixels per sample: 1..255, never the 0
 * of the fill. */
static uint8_t u8_pixel(int64_t s, int64_t j, int64_t f)
{
    size_t i = (size_t)(s * f + j);
    return (uint8_t)(1 + (i * 37 + i / 7) % 255);
}

/* n images of (c, h, w) uint8 pixels u8_pixel, labels i % 3; through the
 * IDX reader, so stored as uint8. */
static nn_dataset *u8_images(nn_ctx *ctx, int64_t n, int c, int h, int w)
{
    size_t f = (size_t)(c * h * w), hdr = 4 + 4 * 4;
    uint8_t *img = malloc(hdr + (size_t)n * f), *lbl = malloc(8 + (size_t)n);
    assert_non_null(img);
    assert_non_null(lbl);
    uint32_t dims[4] = {(uint32_t)n, (uint32_t)c, (uint32_t)h, (uint32_t)w};
    img[0] = img[1] = 0, img[2] = 8, img[3] = 4;
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++)
            img[4 + 4 * i + b] = (uint8_t)(dims[i] >> (24 - 8 * b));
    for (size_t i = 0; i < (size_t)n * f; i++)
        img[hdr + i] = u8_pixel(0, (int64_t)i, 0);
    lbl[0] = lbl[1] = 0, lbl[2] = 8, lbl[3] = 1;
    for (int b = 0; b < 4; b++)
        lbl[4 + b] = (uint8_t)((uint32_t)n >> (24 - 8 * b));
    for (int64_t i = 0; i < n; i++)
        lbl[8 + i] = (uint8_t)(i % 3);
    nn_dataset *ds = nn_idx_load_mem(ctx, "imgs", img, hdr + (size_t)n * f, "lbls", lbl,
                                     8 + (size_t)n);
    if (!ds)
        fail_msg("idx: %s", nn_ctx_error(ctx));
    free(img);
    free(lbl);
    return ds;
}

/* The definition, written out: out[k][y][x] = J[k][y - dy][x - dx] or 0,
 * J = I mirrored when flip. */
static void reference(const float *in, float *out, int c, int h, int w,
                      struct nn_augment_draw d)
{
    for (int k = 0; k < c; k++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int sy = y - d.dy, sx = x - d.dx;
                bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
                out[(k * h + y) * w + x] =
                    inside ? in[(k * h + sy) * w + (d.flip ? w - 1 - sx : sx)] : 0.0f;
            }
}

static bool same_bits(const float *a, const float *b, int64_t n)
{
    return memcmp(a, b, (size_t)n * sizeof *a) == 0;
}

/* ---- the transform of one image ------------------------------------------ */

/* One lit pixel per channel on a 2 x 5 x 7 image: where it lands, worked
 * out by hand for each draw; everything else must be 0. */
static void shift_moves_one_pixel_exactly(void **state)
{
    (void)state;
    enum { C = 2, H = 5, W = 7 };
    /* channel 0: value 1 at (2, 1); channel 1: value 2 at (0, 6) */
    static const struct {
        struct nn_augment_draw d;
        int y0, x0, y1, x1; /* where they land; -1: gone */
    } cases[] = {
        {{0, 0, false}, 2, 1, 0, 6},   {{1, 2, false}, 3, 3, 1, -1},
        {{-2, -1, false}, 0, 0, -1, 5}, {{2, 5, false}, 4, 6, 2, -1},
        {{0, 0, true}, 2, 5, 0, 0},    {{1, 1, true}, 3, 6, 1, 1},
        {{-1, -5, true}, 1, 0, -1, -1}, {{0, -2, false}, 2, -1, 0, 4},
        {{3, 0, false}, -1, 0, 3, 6},  {{0, 2, true}, 2, -1, 0, 2},
        {{4, -6, false}, -1, 0, 4, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float img[C * H * W] = {0}, want[C * H * W] = {0};
        img[2 * W + 1] = 1;
        img[H * W + 0 * W + 6] = 2;
        if (cases[i].y0 >= 0 && cases[i].x0 >= 0)
            want[cases[i].y0 * W + cases[i].x0] = 1;
        if (cases[i].y1 >= 0 && cases[i].x1 >= 0)
            want[H * W + cases[i].y1 * W + cases[i].x1] = 2;
        nn_augment_image(img, C, H, W, cases[i].d);
        for (int j = 0; j < C * H * W; j++)
            if (img[j] != want[j])
                fail_msg("draw %zu (dy %d, dx %d, flip %d): pixel (%d, %d, %d) is %g, "
                         "expected %g", i, cases[i].d.dy, cases[i].d.dx, cases[i].d.flip,
                         j / (H * W), j / W % H, j % W, (double)img[j], (double)want[j]);
    }
}

/* Every draw, up to past the edges, on a 3 x 4 x 6 image of distinct values: the
 * definition, pixel for pixel; and on an image of ones, exactly the
 * (H - |dy|) (W - |dx|) pixels that stay are 1, the rest 0. */
static void transform_matches_its_definition(void **state)
{
    (void)state;
    enum { C = 3, H = 4, W = 6, N = C * H * W };
    for (int flip = 0; flip < 2; flip++)
        for (int dy = -5; dy <= 5; dy++)
            for (int dx = -7; dx <= 7; dx++) {
                struct nn_augment_draw d = {dy, dx, flip};
                float in[N], got[N], want[N], ones[N];
                for (int j = 0; j < N; j++)
                    in[j] = got[j] = (float)(j + 1), ones[j] = 1;
                reference(in, want, C, H, W, d);
                nn_augment_image(got, C, H, W, d);
                if (!same_bits(got, want, N))
                    fail_msg("dy %d dx %d flip %d differs from the definition", dy, dx, flip);
                nn_augment_image(ones, C, H, W, d);
                int lit = 0;
                for (int j = 0; j < N; j++) {
                    int y = j / W % H, x = j % W;
                    bool stays = y - dy >= 0 && y - dy < H && x - dx >= 0 && x - dx < W;
                    assert_true(ones[j] == (stays ? 1.0f : 0.0f));
                    lit += ones[j] == 1.0f;
                }
                int rows = H - abs(dy), cols = W - abs(dx);
                assert_int_equal(lit, rows > 0 && cols > 0 ? C * rows * cols : 0);
            }
}

static void flip_mirrors(void **state)
{
    (void)state;
    enum { W = 5 };
    float img[2 * 1 * W] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    const float want[2 * W] = {5, 4, 3, 2, 1, 10, 9, 8, 7, 6};
    struct nn_augment_draw d = {0, 0, true};
    nn_augment_image(img, 2, 1, W, d);
    assert_memory_equal(img, want, sizeof want);
    nn_augment_image(img, 2, 1, W, d); /* twice: the image again */
    for (int j = 0; j < 2 * W; j++)
        assert_true(img[j] == (float)(j + 1));
}

/* ---- sources ------------------------------------------------------------- */

/* shift:0 without flip: every draw is the identity, and a training pass
 * gives the plain batch bit for bit, on the data-set path (uint8 and
 * float rows, fitted normalization) and on the generic one. */
static void zero_shift_without_flip_is_identity(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    struct nn_augment_cfg cfg = {.seed = 9};
    assert_ok(ctx, nn_augment_parse(ctx, "shift:0", &cfg));
    assert_int_equal(cfg.shift, 0);
    assert_false(cfg.flip);
    assert_true(cfg.seed == 9); /* kept */
    for (int64_t i = 0; i < 1000; i++) {
        struct nn_augment_draw d = nn_augment_draw(&cfg, (int)(i % 5), i);
        assert_true(d.dx == 0 && d.dy == 0 && !d.flip);
    }
    nn_dataset *u8 = u8_images(ctx, 40, 2, 5, 7);
    float xs[40 * 70];
    for (int i = 0; i < 40 * 70; i++)
        xs[i] = (float)sin(0.3 * i);
    nn_dataset *f32 = nn_dataset_from_arrays(ctx, &(struct nn_array_data){
        .n = 40, .ndim = 3, .dims = (int64_t[]){2, 5, 7}, .x = xs});
    assert_non_null(f32);
    assert_ok(ctx, nn_dataset_fit_norm(f32, NN_NORM_STANDARD));
    struct nn_array_source arr = {.x = xs, .n = 40, .features = 70};
    int64_t idx[40];
    for (int i = 0; i < 40; i++)
        idx[i] = (i * 7) % 40;
    float plain[40 * 70], got[40 * 70];
    for (int which = 0; which < 3; which++) {
        struct nn_source s = which == 0   ? nn_source_from_dataset(u8)
                             : which == 1 ? nn_source_from_dataset(f32)
                                          : nn_source_from_arrays(&arr);
        struct nn_augment_source a;
        struct nn_source aug;
        assert_ok(ctx, nn_source_augment(ctx, &a, &s, which == 2 ? (int64_t[]){2, 5, 7} : NULL,
                                         &cfg, &aug));
        assert_ok(ctx, s.gather(s.self, idx, 40, plain, NULL, NULL));
        aug.begin_pass(aug.self, 3);
        assert_ok(ctx, aug.gather(aug.self, idx, 40, got, NULL, NULL));
        if (!same_bits(plain, got, 40 * 70))
            fail_msg("source %d: shift:0 changed the batch", which);
    }
    nn_dataset_free(u8);
    nn_dataset_free(f32);
    nn_ctx_free(ctx);
}

/* The same (seed, epoch, sample) gives the same draw and batch; another
 * epoch or seed gives other ones. */
static void draws_follow_seed_epoch_and_sample(void **state)
{
    (void)state;
    struct nn_augment_cfg c1 = {.shift = 2, .flip = true, .seed = 1}, c2 = c1;
    c2.seed = 2;
    int other_epoch = 0, other_seed = 0;
    for (int64_t i = 0; i < 500; i++) {
        struct nn_augment_draw a = nn_augment_draw(&c1, 4, i), b = nn_augment_draw(&c1, 4, i);
        assert_true(a.dy == b.dy && a.dx == b.dx && a.flip == b.flip);
        struct nn_augment_draw e = nn_augment_draw(&c1, 5, i), s = nn_augment_draw(&c2, 4, i);
        other_epoch += e.dy != a.dy || e.dx != a.dx || e.flip != a.flip;
        other_seed += s.dy != a.dy || s.dx != a.dx || s.flip != a.flip;
    }
    /* two independent draws agree with probability 1/50 */
    assert_in_range(other_epoch, 440, 500);
    assert_in_range(other_seed, 440, 500);

    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    nn_dataset *ds = u8_images(ctx, 30, 1, 6, 6);
    struct nn_source s = nn_source_from_dataset(ds), aug;
    struct nn_augment_source a;
    assert_ok(ctx, nn_source_augment(ctx, &a, &s, NULL, &c1, &aug));
    int64_t idx[30];
    for (int i = 0; i < 30; i++)
        idx[i] = 29 - i;
    float b0[30 * 36], b0again[30 * 36], b1[30 * 36], part[30 * 36];
    aug.begin_pass(aug.self, 0);
    assert_ok(ctx, aug.gather(aug.self, idx, 30, b0, NULL, NULL));
    aug.begin_pass(aug.self, 1);
    assert_ok(ctx, aug.gather(aug.self, idx, 30, b1, NULL, NULL));
    aug.begin_pass(aug.self, 0);
    assert_ok(ctx, aug.gather(aug.self, idx, 30, b0again, NULL, NULL));
    /* gathered in two pieces, as two threads would */
    assert_ok(ctx, aug.gather(aug.self, idx, 11, part, NULL, NULL));
    assert_ok(ctx, aug.gather(aug.self, idx + 11, 19, part + 11 * 36, NULL, NULL));
    assert_true(same_bits(b0, b0again, 30 * 36));
    assert_true(same_bits(b0, part, 30 * 36));
    assert_false(same_bits(b0, b1, 30 * 36));
    nn_dataset_free(ds);
    nn_ctx_free(ctx);
}

/* Over many samples (and over many epochs of one sample) every shift in
 * [-2, 2] occurs about 1/5 of the time along each axis and jointly 1/25,
 * none outside, and flips about half the time: within 6 standard
 * deviations of the binomial counts. Without flip, never a flip. */
static void draw_statistics(void **state)
{
    (void)state;
    enum { N = 20000 };
    struct nn_augment_cfg cfg = {.shift = 2, .flip = true, .seed = 12345};
    for (int pass = 0; pass < 2; pass++) {
        int dy[5] = {0}, dx[5] = {0}, joint[5][5] = {{0}}, flips = 0;
        for (int i = 0; i < N; i++) {
            struct nn_augment_draw d = pass == 0 ? nn_augment_draw(&cfg, 3, i)
                                                 : nn_augment_draw(&cfg, i, 7);
            if (d.dy < -2 || d.dy > 2 || d.dx < -2 || d.dx > 2)
                fail_msg("draw %d: shift (%d, %d) outside [-2, 2]", i, d.dy, d.dx);
            dy[d.dy + 2]++;
            dx[d.dx + 2]++;
            joint[d.dy + 2][d.dx + 2]++;
            flips += d.flip;
        }
        double sd5 = sqrt(N * 0.2 * 0.8), sd25 = sqrt(N * 0.04 * 0.96), sd2 = sqrt(N * 0.25);
        for (int v = 0; v < 5; v++) {
            assert_close(dy[v], N / 5.0, 0, 6 * sd5);
            assert_close(dx[v], N / 5.0, 0, 6 * sd5);
            for (int u = 0; u < 5; u++)
                assert_close(joint[v][u], N / 25.0, 0, 6 * sd25);
        }
        assert_close(flips, N / 2.0, 0, 6 * sd2);
    }
    cfg.flip = false;
    cfg.shift = 1;
    for (int i = 0; i < 1000; i++) {
        struct nn_augment_draw d = nn_augment_draw(&cfg, 0, i);
        assert_false(d.flip);
        assert_in_range(d.dy + 1, 0, 2);
        assert_in_range(d.dx + 1, 0, 2);
    }
}

/* A data set's stored pixels are transformed before their normalization:
 * with a per-pixel standard normalization, pixel j of the batch is
 * (v - shift[j]) * scale[j] with v the stored pixel that lands on j, or 0
 * for a vacated one. With the uniform scale255, that is the generic path
 * over the normalized rows, bit for bit. */
static void dataset_transforms_before_normalizing(void **state)
{
    (void)state;
    enum { C = 2, H = 5, W = 7, F = C * H * W, N = 24 };
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    nn_dataset *ds = u8_images(ctx, N, C, H, W);
    struct nn_augment_cfg cfg = {.shift = 2, .flip = true, .seed = 5};
    int64_t idx[N];
    for (int i = 0; i < N; i++)
        idx[i] = (i * 5) % N;
    /* scale255: the same as transforming the normalized rows */
    static float rows[N * F], got[N * F], want[N * F], raw[F], ref[F];
    assert_ok(ctx, nn_dataset_gather(ds, idx, N, rows, NULL, NULL));
    struct nn_array_source arr = {.x = rows, .n = N, .features = F};
    struct nn_source s = nn_source_from_dataset(ds), sa = nn_source_from_arrays(&arr), aug, augb;
    struct nn_augment_source a, b;
    assert_ok(ctx, nn_source_augment(ctx, &a, &s, NULL, &cfg, &aug));
    assert_ok(ctx, nn_source_augment(ctx, &b, &sa, (int64_t[]){C, H, W}, &cfg, &augb));
    aug.begin_pass(aug.self, 2);
    augb.begin_pass(augb.self, 2);
    assert_ok(ctx, aug.gather(aug.self, idx, N, got, NULL, NULL));
    int64_t seq[N];
    for (int i = 0; i < N; i++)
        seq[i] = i;
    /* the arrays hold the samples in idx order: their sample i is idx[i]
     * of the data set, so draw them with the data set's indices */
    for (int i = 0; i < N; i++) {
        memcpy(want + i * F, rows + i * F, sizeof raw);
        nn_augment_image(want + i * F, C, H, W, nn_augment_draw(&cfg, 2, idx[i]));
    }
    assert_true(same_bits(got, want, N * F));
    assert_ok(ctx, augb.gather(augb.self, seq, N, want, NULL, NULL));
    int moved = 0;
    for (int i = 0; i < N; i++) {
        reference(rows + i * F, ref, C, H, W, nn_augment_draw(&cfg, 2, i));
        assert_true(same_bits(want + i * F, ref, F));
        moved += !same_bits(want + i * F, rows + i * F, F);
    }
    assert_true(moved > N / 2);

    /* a fitted per-pixel normalization */
    assert_ok(ctx, nn_dataset_fit_norm(ds, NN_NORM_STANDARD));
    struct nn_norm_stats ns;
    nn_dataset_norm_get(ds, &ns);
    assert_ok(ctx, aug.gather(aug.self, idx, N, got, NULL, NULL));
    int vacated_nonzero = 0;
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < F; j++)
            raw[j] = u8_pixel(idx[i], j, F);
        struct nn_augment_draw d = nn_augment_draw(&cfg, 2, idx[i]);
        reference(raw, ref, C, H, W, d);
        for (int j = 0; j < F; j++) {
            float e = (ref[j] - ns.shift[j]) * ns.scale[j];
            if (memcmp(&e, &got[i * F + j], sizeof e) != 0)
                fail_msg("sample %lld pixel %d: %.9g, expected %.9g", (long long)idx[i], j,
                         (double)got[i * F + j], (double)e);
            vacated_nonzero += ref[j] == 0 && e != 0;
        }
    }
    assert_true(vacated_nonzero > 0); /* the fill is not simply 0 here */

    /* the same pixels stored as floats take the other code path, to the
     * same bits */
    static float fx[N * F], fgot[N * F];
    for (int i = 0; i < N; i++)
        for (int j = 0; j < F; j++)
            fx[i * F + j] = u8_pixel(i, j, F);
    nn_dataset *fds = nn_dataset_from_arrays(ctx, &(struct nn_array_data){
        .n = N, .ndim = 3, .dims = (int64_t[]){C, H, W}, .x = fx});
    assert_non_null(fds);
    assert_ok(ctx, nn_dataset_fit_norm(fds, NN_NORM_STANDARD));
    struct nn_source fs = nn_source_from_dataset(fds), faug;
    struct nn_augment_source fa;
    assert_ok(ctx, nn_source_augment(ctx, &fa, &fs, NULL, &cfg, &faug));
    faug.begin_pass(faug.self, 2);
    assert_ok(ctx, faug.gather(faug.self, idx, N, fgot, NULL, NULL));
    assert_true(same_bits(fgot, got, N * F));
    nn_dataset_free(fds);
    nn_dataset_free(ds);
    nn_ctx_free(ctx);
}

/* Images larger than the stack buffer of the common path: the definition
 * still, pixel for pixel (scale255). */
static void large_images_follow_the_definition(void **state)
{
    (void)state;
    enum { H = 131, W = 127, F = H * W, N = 3 };
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    nn_dataset *ds = u8_images(ctx, N, 1, H, W);
    struct nn_source s = nn_source_from_dataset(ds), aug;
    struct nn_augment_source a;
    struct nn_augment_cfg cfg = {.shift = 40, .flip = true, .seed = 2};
    assert_ok(ctx, nn_source_augment(ctx, &a, &s, NULL, &cfg, &aug));
    static float got[N * F], raw[F], ref[F];
    struct nn_norm_stats ns;
    nn_dataset_norm_get(ds, &ns);
    for (int e = 0; e < 4; e++) {
        aug.begin_pass(aug.self, e);
        int64_t idx[N] = {2, 0, 1};
        assert_ok(ctx, aug.gather(aug.self, idx, N, got, NULL, NULL));
        for (int i = 0; i < N; i++) {
            for (int j = 0; j < F; j++)
                raw[j] = u8_pixel(idx[i], j, F);
            reference(raw, ref, 1, H, W, nn_augment_draw(&cfg, e, idx[i]));
            for (int j = 0; j < F; j++) {
                float v = (ref[j] - ns.shift[j]) * ns.scale[j];
                if (memcmp(&v, &got[i * F + j], sizeof v) != 0)
                    fail_msg("epoch %d sample %lld pixel %d: %.9g, expected %.9g", e,
                             (long long)idx[i], j, (double)got[i * F + j], (double)v);
            }
        }
    }
    nn_dataset_free(ds);
    nn_ctx_free(ctx);
}

/* ---- in the trainer ------------------------------------------------------ */

struct recorder {
    nn_model *m;
    float *buf; /* every training batch's input, one after another */
    int64_t used, cap;
    const struct nn_source *plain; /* validation: evaluate this and compare */
    int val_checked;
};

static bool record_batch(const struct nn_train_progress *p, void *user)
{
    (void)p;
    struct recorder *r = user;
    nn_node *x = nn_model_input(r->m);
    int64_t n = nn_node_numel(x);
    assert_true(r->used + n <= r->cap);
    memcpy(r->buf + r->used, nn_value(x), (size_t)n * sizeof(float));
    r->used += n;
    return true;
}

/* The validation loss the trainer reports is that of the plain samples. */
static bool check_val(const struct nn_epoch_stats *s, void *user)
{
    struct recorder *r = user;
    if (!r->plain)
        return true;
    struct nn_metrics m;
    assert_ok(nn_model_ctx(r->m), nn_evaluate(r->m, r->plain, &m));
    if (memcmp(&m.loss, &s->val.loss, sizeof m.loss) != 0)
        fail_msg("epoch %d: validation loss %.9g, but the plain samples give %.9g", s->epoch,
                 s->val.loss, m.loss);
    r->val_checked++;
    return true;
}

/* Two epochs of training on `threads` threads (shuffled, batches of 64 so
 * that the threads share each gather); returns every batch's input. */
static float *train_batches(int threads, bool dataset, int64_t *len)
{
    enum { N = 150, F = 2 * 5 * 7 };
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 3, .threads = threads});
    nn_dataset *ds = u8_images(ctx, N, 2, 5, 7);
    static float rows[N * F];
    static int32_t labels[N];
    int64_t all[N];
    for (int i = 0; i < N; i++)
        all[i] = i;
    assert_ok(ctx, nn_dataset_gather(ds, all, N, rows, labels, NULL));
    struct nn_array_source arr = {.x = rows, .labels = labels, .n = N, .features = F};
    struct nn_source s = dataset ? nn_source_from_dataset(ds) : nn_source_from_arrays(&arr), aug;
    struct nn_augment_source a;
    struct nn_augment_cfg cfg = {.shift = 2, .flip = true, .seed = 11};
    assert_ok(ctx, nn_source_augment(ctx, &a, &s, (int64_t[]){2, 5, 7}, &cfg, &aug));
    nn_model *m = nn_model_new(ctx, "70 dense:8 relu dense:3", &(struct nn_model_cfg){
        .loss = NN_LOSS_SOFTMAX_CE});
    assert_non_null(m);
    struct recorder r = {.m = m, .cap = 2 * N * F};
    r.buf = malloc((size_t)r.cap * sizeof *r.buf);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = 2, .batch = 64, .optim = {.kind = NN_OPTIM_ADAM}, .on_batch = record_batch,
        .user = &r});
    assert_ok(ctx, nn_trainer_fit(t, &aug, NULL));
    assert_int_equal(r.used, 2 * N * F);
    *len = r.used;
    nn_trainer_free(t);
    nn_model_free(m);
    nn_dataset_free(ds);
    nn_ctx_free(ctx);
    return r.buf;
}

static void batches_identical_for_1_2_3_threads(void **state)
{
    (void)state;
    for (int dataset = 0; dataset < 2; dataset++) {
        int64_t n1, n;
        float *one = train_batches(1, dataset, &n1);
        for (int th = 2; th <= 3; th++) {
            float *b = train_batches(th, dataset, &n);
            assert_int_equal(n, n1);
            if (!same_bits(one, b, n))
                fail_msg("%s source: the augmented batches on %d threads differ from those "
                         "on 1", dataset ? "data-set" : "array", th);
            free(b);
        }
        free(one);
    }
}

/* In order (no shuffling), training batch b of epoch e holds samples
 * b*B.. transformed by their draws for e: the trainer passes the epoch,
 * 0-based and continuing over a second fit, and the samples' own indices.
 * Validation on the very same source, and nn_evaluate, see the plain
 * samples. */
static void trainer_augments_training_batches_only(void **state)
{
    (void)state;
    enum { N = 50, C = 1, H = 6, W = 6, F = C * H * W, B = 16 };
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 3, .threads = 2});
    nn_dataset *ds = u8_images(ctx, N, C, H, W);
    struct nn_source plain = nn_source_from_dataset(ds), aug;
    struct nn_augment_source a;
    struct nn_augment_cfg cfg = {.shift = 2, .flip = true, .seed = 4};
    assert_ok(ctx, nn_source_augment(ctx, &a, &plain, NULL, &cfg, &aug));
    nn_model *m = nn_model_new(ctx, "36 dense:5 relu dense:3", &(struct nn_model_cfg){
        .loss = NN_LOSS_SOFTMAX_CE, .max_batch = B});
    assert_non_null(m);
    struct recorder r = {.m = m, .cap = 3 * N * F, .plain = &plain};
    r.buf = malloc((size_t)r.cap * sizeof *r.buf);
    nn_trainer *t = nn_trainer_new(m, &(struct nn_train_cfg){
        .epochs = 2, .batch = B, .no_shuffle = true, .optim = {.kind = NN_OPTIM_SGD},
        .on_batch = record_batch, .on_epoch = check_val, .user = &r});
    assert_ok(ctx, nn_trainer_fit(t, &aug, &aug));
    assert_ok(ctx, nn_trainer_set_epochs(t, 3));
    assert_ok(ctx, nn_trainer_fit(t, &aug, &aug));
    assert_int_equal(r.val_checked, 3);
    assert_int_equal(r.used, 3 * N * F);
    static float rows[N * F], want[F];
    int64_t all[N];
    for (int i = 0; i < N; i++)
        all[i] = i;
    assert_ok(ctx, nn_dataset_gather(ds, all, N, rows, NULL, NULL));
    int changed = 0;
    for (int e = 0; e < 3; e++)
        for (int i = 0; i < N; i++) {
            reference(rows + i * F, want, C, H, W, nn_augment_draw(&cfg, e, i));
            const float *got = r.buf + ((int64_t)e * N + i) * F;
            if (!same_bits(got, want, F))
                fail_msg("epoch %d, sample %d: the training input is not the sample "
                         "transformed by its draw for epoch %d", e + 1, i, e);
            changed += !same_bits(got, rows + i * F, F);
        }
    assert_true(changed > 3 * N / 2);
    /* after training, evaluating the augmented source gives the plain result */
    struct nn_metrics ma, mp;
    assert_ok(ctx, nn_evaluate(m, &aug, &ma));
    assert_ok(ctx, nn_evaluate(m, &plain, &mp));
    assert_memory_equal(&ma.loss, &mp.loss, sizeof ma.loss);
    assert_memory_equal(&ma.accuracy, &mp.accuracy, sizeof ma.accuracy);
    free(r.buf);
    nn_trainer_free(t);
    nn_model_free(m);
    nn_dataset_free(ds);
    nn_ctx_free(ctx);
}

/* ---- errors -------------------------------------------------------------- */

static void expect_error(nn_ctx *ctx, nn_status got, nn_status want, const char *a,
                         const char *b)
{
    if (got != want)
        fail_msg("status %s, expected %s (%s)", nn_status_str(got), nn_status_str(want),
                 nn_ctx_error(ctx));
    if (!strstr(nn_ctx_error(ctx), a) || (b && !strstr(nn_ctx_error(ctx), b)))
        fail_msg("message '%s' lacks '%s' or '%s'", nn_ctx_error(ctx), a, b ? b : "");
}

static void bad_settings_fail_clearly(void **state)
{
    (void)state;
    nn_ctx *ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    struct nn_augment_cfg c = {.shift = 3, .flip = true, .seed = 8};
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"shift:-1", "'-1'"},  {"spin", "'spin'"},     {"shift:2,,flip", "empty item"},
        {"flip,flip", "twice"}, {"shift:x", "'x'"},    {"shift", "shift"},
        {"shift:1,shift:2", "twice"}, {"flip:1", "'flip:1'"}, {"shift:5000", "'5000'"},
        {"", "empty"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        expect_error(ctx, nn_augment_parse(ctx, bad[i].text, &c), NN_ERR_INVALID,
                     bad[i].needle, NULL);
        assert_int_equal(c.shift, 3); /* unchanged on error */
        assert_true(c.flip);
    }
    /* the text form reads back */
    const char *good[] = {"shift:2,flip", "flip", "shift:4", "none"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        char buf[32];
        assert_ok(ctx, nn_augment_parse(ctx, good[i], &c));
        nn_augment_format(&c, buf, sizeof buf);
        assert_string_equal(buf, good[i]);
        assert_true(c.seed == 8);
    }
    assert_ok(ctx, nn_augment_parse(ctx, "flip,shift:1", &c));
    assert_true(c.flip && c.shift == 1);

    /* sources: no image shape, shapes that do not fit, shifts too large */
    float xs[6 * 12] = {0};
    nn_dataset *flat = nn_dataset_from_arrays(ctx, &(struct nn_array_data){
        .n = 6, .ndim = 1, .dims = (int64_t[]){12}, .x = xs});
    nn_dataset *img = nn_dataset_from_arrays(ctx, &(struct nn_array_data){
        .n = 6, .ndim = 3, .dims = (int64_t[]){1, 3, 4}, .x = xs});
    assert_non_null(flat);
    assert_non_null(img);
    struct nn_array_source arr = {.x = xs, .n = 6, .features = 12};
    struct nn_source sf = nn_source_from_dataset(flat), si = nn_source_from_dataset(img),
                     sa = nn_source_from_arrays(&arr), out;
    struct nn_augment_source a;
    c = (struct nn_augment_cfg){.shift = 1, .flip = true};
    expect_error(ctx, nn_source_augment(ctx, &a, &sf, NULL, &c, &out), NN_ERR_SHAPE,
                 "(C, H, W)", "shape (12)");
    expect_error(ctx, nn_source_augment(ctx, &a, &sa, NULL, &c, &out), NN_ERR_INVALID,
                 "image shape", NULL);
    expect_error(ctx, nn_source_augment(ctx, &a, &sa, (int64_t[]){1, 3, 5}, &c, &out),
                 NN_ERR_SHAPE, "(1, 3, 5)", "12 features");
    c.shift = 3;
    expect_error(ctx, nn_source_augment(ctx, &a, &si, NULL, &c, &out), NN_ERR_INVALID,
                 "shift of 3", "3 x 4");
    c.shift = -1;
    expect_error(ctx, nn_source_augment(ctx, &a, &sa, (int64_t[]){1, 3, 4}, &c, &out),
                 NN_ERR_INVALID, "shift of -1", NULL);
    c.shift = 2;
    assert_ok(ctx, nn_source_augment(ctx, &a, &si, NULL, &c, &out));
    assert_ok(ctx, nn_source_augment(ctx, &a, &sa, (int64_t[]){3, 2, 2}, &(struct nn_augment_cfg){
        .shift = 1}, &out));
    nn_dataset_free(flat);
    nn_dataset_free(img);
    nn_ctx_free(ctx);
}

NN_GROUP(augment,
         cmocka_unit_test(shift_moves_one_pixel_exactly),
         cmocka_unit_test(transform_matches_its_definition),
         cmocka_unit_test(flip_mirrors),
         cmocka_unit_test(zero_shift_without_flip_is_identity),
         cmocka_unit_test(draws_follow_seed_epoch_and_sample),
         cmocka_unit_test(draw_statistics),
         cmocka_unit_test(dataset_transforms_before_normalizing),
         cmocka_unit_test(large_images_follow_the_definition),
         cmocka_unit_test(batches_identical_for_1_2_3_threads),
         cmocka_unit_test(trainer_augments_training_batches_only),
         cmocka_unit_test(bad_settings_fail_clearly))
