/* Q4_0: blocks of 32 with one f16 scale; x = (q - 8) * d, q in 0..15.
 * The quantizer is llama.cpp's quantize_row_q4_0_ref, which llama-quantize
 * uses when there is no imatrix, so our bytes equal the published files'. */
#include "ref.h"

#include <math.h>

#include "blocks.h"

void kt_to_float_q4_0_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q4_0 *b = src;
    for (int64_t i = 0; i < n / QK4_0; i++, b++, dst += QK4_0) {
        const float d = kt_half_to_f32(b->d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            dst[j] = (float)((b->qs[j] & 15) - 8) * d;
            dst[j + QK4_0 / 2] = (float)((b->qs[j] >> 4) - 8) * d;
        }
    }
}

/* ggml writes MIN(hi, (int8_t)v): truncation toward zero. v is >= 0 for any
 * finite block, so clamping to [0, hi] gives the same value, and NaN (whose
 * conversion to an integer is undefined) becomes 0. */
static inline int trunc_to_level(float v, int hi)
{
    if (!(v > 0.0f))
        return 0;
    if (v >= (float)hi)
        return hi;
    return (int)v;
}

void kt_from_float_q4_0_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / QK4_0; i++, b++, src += QK4_0) {
        /* The signed value of largest magnitude (the first one on ties) maps to
         * level 0, i.e. -8 * d: that end of the range is represented exactly. */
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK4_0; j++) {
            if (amax < fabsf(src[j])) {
                amax = fabsf(src[j]);
                max = src[j];
            }
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = kt_f32_to_half(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            /* Separate statements: a fused multiply-add would round differently. */
            const float x0 = src[j] * id;
            const float x1 = src[j + QK4_0 / 2] * id;
            const int lo = trunc_to_level(x0 + 8.5f, 15);
            const int hi = trunc_to_level(x1 + 8.5f, 15);
            b->qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

/* Per block: exact integer dot, then (d_x * d_y) * sumi in float, as ggml. */
void kt_vec_dot_q4_0_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q4_0 *bx = x;
    const block_q8_0 *by = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_0; i++, bx++, by++) {
        int sumi = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            sumi += ((bx->qs[j] & 15) - 8) * by->qs[j];
            sumi += ((bx->qs[j] >> 4) - 8) * by->qs[j + QK4_0 / 2];
        }
        const float term = kt_half_to_f32(bx->d) * kt_half_to_f32(by->d) * (float)sumi;
        sum += term;
    }
    *s = sum;
}
