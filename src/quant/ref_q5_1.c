/* Q5_1: blocks of 32 with an f16 scale and minimum; x = q * d + m, q in 0..31,
 * packed as Q5_0. The quantizer is llama.cpp's quantize_row_q5_1_ref.
 * Activations are Q8_1, whose s = d * sum(q) meets m. */
#include "ref.h"

#include <float.h>

#include "blocks.h"

static inline uint32_t load_qh(const uint8_t qh[4])
{
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

/* The 5-bit value of element j of a block. */
static inline int q5_level(const block_q5_1 *b, uint32_t qh, int j)
{
    const int half = QK5_1 / 2;
    const int lo = j < half ? b->qs[j] & 15 : b->qs[j - half] >> 4;
    return lo | (int)((qh >> j) & 1) << 4;
}

void kt_to_float_q5_1_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q5_1 *b = src;
    for (int64_t i = 0; i < n / QK5_1; i++, b++, dst += QK5_1) {
        const float d = kt_half_to_f32(b->d);
        const float m = kt_half_to_f32(b->m);
        const uint32_t qh = load_qh(b->qh);
        for (int j = 0; j < QK5_1; j++) {
            const float scaled = (float)q5_level(b, qh, j) * d;
            dst[j] = scaled + m;
        }
    }
}

/* ggml writes (uint8_t)v: truncation toward zero. v is in [0, 31.5) for any
 * finite block, so clamping to [0, 31] gives the same value, and NaN (whose
 * conversion to an integer is undefined) becomes 0. */
static inline int trunc_to_level(float v, int hi)
{
    if (!(v > 0.0f))
        return 0;
    if (v >= (float)hi)
        return hi;
    return (int)v;
}

void kt_from_float_q5_1_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q5_1 *b = dst;
    for (int64_t i = 0; i < n / QK5_1; i++, b++, src += QK5_1) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < QK5_1; j++) {
            if (src[j] < min)
                min = src[j];
            if (src[j] > max)
                max = src[j];
        }
        const float d = (max - min) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = kt_f32_to_half(d);
        b->m = kt_f32_to_half(min);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            /* Separate statements: a fused multiply-add would round differently. */
            const float x0 = (src[j] - min) * id;
            const float x1 = (src[j + QK5_1 / 2] - min) * id;
            const int lo = trunc_to_level(x0 + 0.5f, 31);
            const int hi = trunc_to_level(x1 + 0.5f, 31);
            b->qs[j] = (uint8_t)((lo & 15) | (hi & 15) << 4);
            qh |= (uint32_t)(lo >> 4) << j;
            qh |= (uint32_t)(hi >> 4) << (j + QK5_1 / 2);
        }
        for (int k = 0; k < 4; k++)
            b->qh[k] = (uint8_t)(qh >> 8 * k);
    }
}

/* Per block: exact integer dot, then (d_x * d_y) * sumi + m_x * s_y in float,
 * as ggml's scalar kernel. */
void kt_vec_dot_q5_1_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q5_1 *bx = x;
    const block_q8_1 *by = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK5_1; i++, bx++, by++) {
        const uint32_t qh = load_qh(bx->qh);
        int sumi = 0;
        for (int j = 0; j < QK5_1; j++)
            sumi += q5_level(bx, qh, j) * by->qs[j];
        const float scaled = kt_half_to_f32(bx->d) * kt_half_to_f32(by->d) * (float)sumi;
        const float offset = kt_half_to_f32(bx->m) * kt_half_to_f32(by->s);
        sum += scaled + offset;
    }
    *s = sum;
}
