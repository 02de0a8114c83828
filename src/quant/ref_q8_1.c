/* Q8_1: the activation type for Q4_1 and Q5_1 weights. Blocks of 32 as Q8_0,
 * plus s = d * sum(q) in f16, which meets the weight block's minimum m.
 * Quantized as ggml's x86 AVX/AVX2 quantize_row_q8_1 (what produced the
 * reference logits): q = round-half-even(x * (127 / amax)), d = amax / 127,
 * s = f16(d * sum(q)) with the unrounded float d. quantize_row_q8_1_ref
 * instead uses roundf(x * (1 / d)); see ref_q8_0.c. */
#include "ref.h"

#include <math.h>

#include "blocks.h"

void kt_to_float_q8_1_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q8_1 *b = src;
    for (int64_t i = 0; i < n / QK8_1; i++, b++, dst += QK8_1) {
        const float d = kt_half_to_f32(b->d);
        for (int j = 0; j < QK8_1; j++)
            dst[j] = (float)b->qs[j] * d;
    }
}

/* v rounded half to even (the default mode) to an int8, saturating as the AVX2
 * pack instructions do; NaN (only reachable from Inf/NaN input, where
 * converting to an integer is undefined) becomes 0. */
static inline int8_t round_to_int8(float v)
{
    if (!(v == v))
        return 0;
    if (v <= -128.0f)
        return -128;
    if (v >= 127.0f)
        return 127;
    return (int8_t)rintf(v);
}

void kt_from_float_q8_1_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK8_1; i++, b++, src += QK8_1) {
        float amax = 0.0f;
        for (int j = 0; j < QK8_1; j++)
            if (fabsf(src[j]) > amax)
                amax = fabsf(src[j]);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            b->qs[j] = round_to_int8(src[j] * id);
            sum += b->qs[j];
        }
        b->d = kt_f32_to_half(d);
        b->s = kt_f32_to_half(d * (float)sum);
    }
}

/* Not used by the engine (Q8_1 is never a weight type); the dot of two Q8_1
 * rows, (d_x * d_y) * sumi per block, for completeness and tests. */
void kt_vec_dot_q8_1_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q8_1 *bx = x;
    const block_q8_1 *by = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK8_1; i++, bx++, by++) {
        int sumi = 0;
        for (int j = 0; j < QK8_1; j++)
            sumi += bx->qs[j] * by->qs[j];
        const float term = kt_half_to_f32(bx->d) * kt_half_to_f32(by->d) * (float)sumi;
        sum += term;
    }
    *s = sum;
}
