/* Q4_1: blocks of 32 with an f16 scale and minimum; x = q * d + m, q in 0..15.
 * The quantizer is llama.cpp's quantize_row_q4_1_ref (what llama-quantize uses
 * without an imatrix). Activations are Q8_1, whose s = d * sum(q) meets m. */
#include "ref.h"

#include <float.h>

#include "blocks.h"

void kt_to_float_q4_1_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q4_1 *b = src;
    for (int64_t i = 0; i < n / QK4_1; i++, b++, dst += QK4_1) {
        const float d = kt_half_to_f32(b->d);
        const float m = kt_half_to_f32(b->m);
        for (int j = 0; j < QK4_1 / 2; j++) {
            const float x0 = (float)(b->qs[j] & 15) * d;
            const float x1 = (float)(b->qs[j] >> 4) * d;
            dst[j] = x0 + m;
            dst[j + QK4_1 / 2] = x1 + m;
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

void kt_from_float_q4_1_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / QK4_1; i++, b++, src += QK4_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK4_1; j++) {
            if (src[j] < min)
                min = src[j];
            if (src[j] > max)
                max = src[j];
        }
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = kt_f32_to_half(d);
        b->m = kt_f32_to_half(min);
        for (int j = 0; j < QK4_1 / 2; j++) {
            /* Separate statements: a fused multiply-add would round differently. */
            const float x0 = (src[j] - min) * id;
            const float x1 = (src[j + QK4_1 / 2] - min) * id;
            const int lo = trunc_to_level(x0 + 0.5f, 15);
            const int hi = trunc_to_level(x1 + 0.5f, 15);
            b->qs[j] = (uint8_t)(lo | hi << 4);
        }
    }
}

/* Per block: exact integer dot, then (d_x * d_y) * sumi + m_x * s_y in float,
 * as ggml's scalar kernel. */
void kt_vec_dot_q4_1_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q4_1 *bx = x;
    const block_q8_1 *by = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_1; i++, bx++, by++) {
        int sumi = 0;
        for (int j = 0; j < QK4_1 / 2; j++) {
            sumi += (bx->qs[j] & 15) * by->qs[j];
            sumi += (bx->qs[j] >> 4) * by->qs[j + QK4_1 / 2];
        }
        const float scaled = kt_half_to_f32(bx->d) * kt_half_to_f32(by->d) * (float)sumi;
        const float offset = kt_half_to_f32(bx->m) * kt_half_to_f32(by->s);
        sum += scaled + offset;
    }
    *s = sum;
}
