/* NEON kernels (aarch64) for the float types: F32·F32, F16·F16, BF16·BF16.
 *
 * Every product is formed in f32 and summed with FMA into four f32x4
 * accumulators (16 elements a step), which are added together at the end;
 * elements past the last multiple of 16 are added one by one. F16 and BF16
 * widen to f32 first (FCVTL, a 16-bit shift), so their products are exact and
 * only the summation order differs from the reference's double sum.
 * Everything here is baseline ARMv8-A NEON. On other architectures the file
 * compiles to an empty register function. */
#include "quant.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#include "fp16.h"

/* The four accumulators summed in a fixed order. */
static inline float sum4(float32x4_t a0, float32x4_t a1, float32x4_t a2, float32x4_t a3)
{
    return vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
}

static void vec_dot_f32_neon(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const float *a = x, *b = y;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = vfmaq_f32(acc0, vld1q_f32(a + i), vld1q_f32(b + i));
        acc1 = vfmaq_f32(acc1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        acc2 = vfmaq_f32(acc2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        acc3 = vfmaq_f32(acc3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    float sum = sum4(acc0, acc1, acc2, acc3);
    for (; i < n; i++)
        sum += a[i] * b[i];
    *s = sum;
}

/* Eight halves to two f32x4 (exact). */
static inline void load_f16x8(const kt_half *p, float32x4_t *lo, float32x4_t *hi)
{
    const float16x8_t h = vreinterpretq_f16_u16(vld1q_u16(p));
    *lo = vcvt_f32_f16(vget_low_f16(h));
    *hi = vcvt_high_f32_f16(h);
}

static inline float half_to_float(kt_half h)
{
    __fp16 f;
    memcpy(&f, &h, sizeof f);
    return (float)f;
}

static void vec_dot_f16_neon(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const kt_half *a = x, *b = y;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t a0, a1, a2, a3, b0, b1, b2, b3;
        load_f16x8(a + i, &a0, &a1);
        load_f16x8(a + i + 8, &a2, &a3);
        load_f16x8(b + i, &b0, &b1);
        load_f16x8(b + i + 8, &b2, &b3);
        acc0 = vfmaq_f32(acc0, a0, b0);
        acc1 = vfmaq_f32(acc1, a1, b1);
        acc2 = vfmaq_f32(acc2, a2, b2);
        acc3 = vfmaq_f32(acc3, a3, b3);
    }
    float sum = sum4(acc0, acc1, acc2, acc3);
    for (; i < n; i++)
        sum += half_to_float(a[i]) * half_to_float(b[i]);
    *s = sum;
}

/* Eight bf16 to two f32x4: each is the top half of its float. */
static inline void load_bf16x8(const kt_bf16 *p, float32x4_t *lo, float32x4_t *hi)
{
    const uint16x8_t h = vld1q_u16(p);
    *lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
    *hi = vreinterpretq_f32_u32(vshll_high_n_u16(h, 16));
}

static void vec_dot_bf16_neon(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const kt_bf16 *a = x, *b = y;
    float32x4_t acc0 = vdupq_n_f32(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float32x4_t a0, a1, a2, a3, b0, b1, b2, b3;
        load_bf16x8(a + i, &a0, &a1);
        load_bf16x8(a + i + 8, &a2, &a3);
        load_bf16x8(b + i, &b0, &b1);
        load_bf16x8(b + i + 8, &b2, &b3);
        acc0 = vfmaq_f32(acc0, a0, b0);
        acc1 = vfmaq_f32(acc1, a1, b1);
        acc2 = vfmaq_f32(acc2, a2, b2);
        acc3 = vfmaq_f32(acc3, a3, b3);
    }
    float sum = sum4(acc0, acc1, acc2, acc3);
    for (; i < n; i++)
        sum += kt_bf16_to_f32(a[i]) * kt_bf16_to_f32(b[i]);
    *s = sum;
}

void kt_register_neon_float(kt_traits *table)
{
    table[KT_F32].vec_dot = vec_dot_f32_neon;
    table[KT_F16].vec_dot = vec_dot_f16_neon;
    table[KT_BF16].vec_dot = vec_dot_bf16_neon;
}

#else

void kt_register_neon_float(kt_traits *table)
{
    (void)table;
}

#endif
