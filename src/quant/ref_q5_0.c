/* Q5_0: blocks of 32 with one f16 scale; x = (q - 16) * d, q in 0..31. The low
 * 4 bits are packed as in Q4_0; bit 4 of element j is bit j of qh (read as a
 * little-endian 32-bit word). The quantizer is llama.cpp's quantize_row_q5_0_ref. */
#include "ref.h"

#include <math.h>

#include "blocks.h"

static inline uint32_t load_qh(const uint8_t qh[4])
{
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

/* The 5-bit value of element j of a block. */
static inline int q5_level(const block_q5_0 *b, uint32_t qh, int j)
{
    const int half = QK5_0 / 2;
    const int lo = j < half ? b->qs[j] & 15 : b->qs[j - half] >> 4;
    return lo | (int)((qh >> j) & 1) << 4;
}

void kt_to_float_q5_0_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q5_0 *b = src;
    for (int64_t i = 0; i < n / QK5_0; i++, b++, dst += QK5_0) {
        const float d = kt_half_to_f32(b->d);
        const uint32_t qh = load_qh(b->qh);
        for (int j = 0; j < QK5_0; j++)
            dst[j] = (float)(q5_level(b, qh, j) - 16) * d;
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

void kt_from_float_q5_0_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q5_0 *b = dst;
    for (int64_t i = 0; i < n / QK5_0; i++, b++, src += QK5_0) {
        /* The signed value of largest magnitude (the first one on ties) maps to
         * level 0, i.e. -16 * d. */
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QK5_0; j++) {
            if (amax < fabsf(src[j])) {
                amax = fabsf(src[j]);
                max = src[j];
            }
        }
        const float d = max / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = kt_f32_to_half(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            /* Separate statements: a fused multiply-add would round differently. */
            const float x0 = src[j] * id;
            const float x1 = src[j + QK5_0 / 2] * id;
            const int lo = trunc_to_level(x0 + 16.5f, 31);
            const int hi = trunc_to_level(x1 + 16.5f, 31);
            b->qs[j] = (uint8_t)((lo & 15) | (hi & 15) << 4);
            qh |= (uint32_t)(lo >> 4) << j;
            qh |= (uint32_t)(hi >> 4) << (j + QK5_0 / 2);
        }
        for (int k = 0; k < 4; k++)
            b->qh[k] = (uint8_t)(qh >> 8 * k);
    }
}

/* Per block: exact integer dot, then (d_x * d_y) * sumi in float, as ggml. */
void kt_vec_dot_q5_0_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q5_0 *bx = x;
    const block_q8_0 *by = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK5_0; i++, bx++, by++) {
        const uint32_t qh = load_qh(bx->qh);
        int sumi = 0;
        for (int j = 0; j < QK5_0; j++)
            sumi += (q5_level(bx, qh, j) - 16) * by->qs[j];
        const float term = kt_half_to_f32(bx->d) * kt_half_to_f32(by->d) * (float)sumi;
        sum += term;
    }
    *s = sum;
}
