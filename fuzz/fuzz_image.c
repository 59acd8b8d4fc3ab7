/*
 * fuzz_image.c - libFuzzer target for image decoding: bytes 0..2 pick the
 * channels, the resize flag and a required size, the rest is an encoded
 * image decoded from memory (PNG, JPEG, BMP, GIF, PNM) and, when the size
 * differs and resizing is on, resized.
 *
 * The library links Debian's libstb.so, which is not instrumented, so a
 * fuzzer would be blind inside the decoder. This harness therefore compiles
 * the same stb_image.h (same package, same version) into itself with the
 * sanitizers and coverage on; the library's calls bind to this copy, so the
 * decoder is fuzzed with feedback. (Only here: the library itself never
 * defines STB_IMAGE_IMPLEMENTATION.) Bugs found in stb are guarded against
 * in src/data/image.c; the inputs are kept in fuzz/corpus/image/regress-*.
 */
#include "data/data.h"

#include <string.h>

#define STB_IMAGE_IMPLEMENTATION
#include <stb/stb_image.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* stb computes NULL + 0 when a PNG's first IDAT chunk is empty (undefined
 * by the letter, harmless: it then copies 0 bytes; legal PNGs may do
 * this, so the library accepts them). Such inputs are skipped here so that
 * UBSan's report of it does not stop the search for real bugs. */
static bool png_empty_idat(const uint8_t *b, size_t n)
{
    if (n < 8 || memcmp(b, "\x89PNG", 4) != 0)
        return false;
    for (size_t p = 8; p + 8 <= n;) {
        uint32_t len = (uint32_t)b[p] << 24 | (uint32_t)b[p + 1] << 16 |
                       (uint32_t)b[p + 2] << 8 | b[p + 3];
        if (len == 0 && memcmp(b + p + 4, "IDAT", 4) == 0)
            return true;
        if (len > n - p - 8)
            break;
        p += 12 + (size_t)len;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static nn_ctx *ctx;
    if (!ctx)
        ctx = nn_ctx_new(&(struct nn_ctx_cfg){.seed = 1, .threads = 1});
    if (size < 3)
        return 0;
    struct nn_image_opts o = {
        .channels = data[0] % 5,
        .resize = (data[0] >> 3) & 1,
        .width = data[1] % 64,
        .height = data[2] % 64,
    };
    if (!o.width || !o.height)
        o.width = o.height = 0;
    if (png_empty_idat(data + 3, size - 3))
        return 0;
    uint8_t *px = NULL;
    /* A small pixel limit keeps each run fast; the logic is the same. */
    nn_status st = nn_image_decode_mem(ctx, "fuzz.img", data + 3, size - 3, &o,
                                       1 << 18, &px);
    if (st == NN_OK) {
        size_t n = (size_t)o.channels * (size_t)o.width * (size_t)o.height;
        unsigned sum = 0;
        for (size_t i = 0; i < n; i++) /* every byte must be readable */
            sum += px[i];
        if (o.channels < 1 || o.channels > 4 || (sum == 0 && n == 0))
            abort();
    } else if (!*nn_ctx_error(ctx) || strchr(nn_ctx_error(ctx), '\n')) {
        abort();
    }
    free(px);
    nn_ctx_clear_error(ctx);
    return 0;
}
