/* Q8_0: blocks of 32 with one f16 scale; x = q * d, q in -127..127. It is both
 * a weight type and the activation type for Q4_0, Q5_0 and Q8_0 weights, and
 * llama.cpp rounds the two differently:
 *
 *  - kt_from_float_q8_0_ref (activations) follows ggml's x86 AVX/AVX2
 *    quantize_row_q8_0, which is what produced the reference logits:
 *    q = round-half-even(x * (127 / amax)).
 *  - kt_quantize_q8_0_ref (weights) is quantize_row_q8_0_ref, which
 *    llama-quantize uses: q = roundf(x * (1 / d)), halves away from zero, with
 *    d = amax / 127. The two multipliers can differ in the last bit, and ties
 *    round differently, so each is kept where llama.cpp uses it.
 *
 * Both store d = amax / 127 rounded to f16. */
#include "ref.h"

#include <math.h>

#include "blocks.h"

void kt_to_float_q8_0_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QK8_0; i++, b++, dst += QK8_0) {
        const float d = kt_half_to_f32(b->d);
        for (int j = 0; j < QK8_0; j++)
            dst[j] = (float)b->qs[j] * d;
    }
}

/* Largest |x| of a block; NaNs are skipped. */
static inline float block_amax(const float *x)
{
    float amax = 0.0f;
    for (int j = 0; j < QK8_0; j++)
        if (fabsf(x[j]) > amax)
            amax = fabsf(x[j]);
    return amax;
}

/* v rounded to an int8 by round_fn (rintf or roundf), saturating as the AVX2
 * pack instructions do; NaN (only reachable from Inf/NaN input, where
 * converting to an integer is undefined) becomes 0. */
static inline int8_t to_int8(float v, float (*round_fn)(float))
{
    if (!(v == v))
        return 0;
    if (v <= -128.0f)
        return -128;
    if (v >= 127.0f)
        return 127;
    return (int8_t)round_fn(v);
}

void kt_from_float_q8_0_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, b++, src += QK8_0) {
        const float amax = block_amax(src);
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b->d = kt_f32_to_half(d);
        for (int j = 0; j < QK8_0; j++)
            b->qs[j] = to_int8(src[j] * id, rintf); /* default mode: half to even */
    }
}

void kt_quantize_q8_0_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, b++, src += QK8_0) {
        const float amax = block_amax(src);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b->d = kt_f32_to_half(d);
        for (int j = 0; j < QK8_0; j++)
            b->qs[j] = to_int8(src[j] * id, roundf);
    }
}

/* Per block: exact integer dot, then (d_x * d_y) * sumi in float, as ggml. */
void kt_vec_dot_q8_0_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q8_0 *bx = x;
    const block_q8_0 *by = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK8_0; i++, bx++, by++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++)
            sumi += bx->qs[j] * by->qs[j];
        const float term = kt_half_to_f32(bx->d) * kt_half_to_f32(by->d) * (float)sumi;
        sum += term;
    }
    *s = sum;
}
