/* NEON tile kernels with the int8 matrix multiply of ARMv8.6 (i8mm, SMMLA):
 * Q8_0 and Q4_0 weights against Q8_0 activations, 2 rows x 2 tokens at a time
 * (kt_gemm, see quant.h), for prompt processing and batched verification.
 *
 * SMMLA multiplies a 2x8 by an 8x2 int8 matrix into 2x2 int32 sums: 8 bytes of
 * two weight rows against 8 bytes of two activation rows. Four of them make a
 * block's 4 exact integer dots (row r, token t). The float arithmetic per
 * output is then vec_dot's (neon_legacy.c) and the reference's, term for term:
 * sum += (d_x * d_y) * (float)isum over the blocks in order, without FMA
 * contraction. So every output has the reference's bits whether it comes from
 * a 2x2 tile or, at an odd row or token, from the reference vec_dot: the
 * result never depends on the batch or the thread split.
 *
 * Compiled in a region for armv8.2-a+i8mm (GCC) and installed only when the
 * CPU reports i8mm in its hwcaps; the rest of the library runs on any ARMv8-A
 * CPU. */
#include "quant.h"

#if defined(__aarch64__) && (defined(__ARM_FEATURE_MATMUL_INT8) || !defined(__clang__))
#include <arm_neon.h>
#include <string.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif

#include "blocks.h"

#if defined(__linux__) && !defined(HWCAP2_I8MM)
#define HWCAP2_I8MM (1UL << 13)
#endif

#if !defined(__ARM_FEATURE_MATMUL_INT8)
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+i8mm")
#endif

/* Exact, as kt_half_to_f32 (one FCVT). */
static inline float h2f_i8mm(kt_half h)
{
    __fp16 f;
    memcpy(&f, &h, sizeof f);
    return (float)f;
}

/* The 2x2 integer dots of 16 bytes of two weight rows (a0, a1) and two
 * activation rows (b0, b1), added to acc = [r0.t0, r0.t1, r1.t0, r1.t1]. */
static inline int32x4_t mmla16(int32x4_t acc, int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1)
{
    const int64x2_t x0 = vreinterpretq_s64_s8(a0), x1 = vreinterpretq_s64_s8(a1);
    const int64x2_t y0 = vreinterpretq_s64_s8(b0), y1 = vreinterpretq_s64_s8(b1);
    acc = vmmlaq_s32(acc, vreinterpretq_s8_s64(vzip1q_s64(x0, x1)), vreinterpretq_s8_s64(vzip1q_s64(y0, y1)));
    return vmmlaq_s32(acc, vreinterpretq_s8_s64(vzip2q_s64(x0, x1)), vreinterpretq_s8_s64(vzip2q_s64(y0, y1)));
}

/* Block b of a Q4_0 row as its 32 signed levels (q - 8): elements 0..15, 16..31. */
static inline void q4_0_levels(const block_q4_0 *x, int8x16_t *lo, int8x16_t *hi)
{
    const uint8x16_t q = vld1q_u8(x->qs), m4 = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    *lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight);
    *hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
}

/* The float step of one block for the 4 outputs: sum += (d_x * d_y) * isum. */
static inline float32x4_t block_step(float32x4_t sum, kt_half dx0, kt_half dx1, kt_half dy0, kt_half dy1,
                                     int32x4_t isum)
{
    const float x0 = h2f_i8mm(dx0), x1 = h2f_i8mm(dx1), y0 = h2f_i8mm(dy0), y1 = h2f_i8mm(dy1);
    const float dd[4] = { x0 * y0, x0 * y1, x1 * y0, x1 * y1 };
    return vaddq_f32(sum, vmulq_f32(vld1q_f32(dd), vcvtq_f32_s32(isum)));
}

#define GEMM_I8MM(NAME, WT, TYPE_ID, LEVELS)                                                                           \
    static void NAME(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows,                      \
                     const void *restrict act, size_t act_stride, int n_tok, float *restrict out, size_t ldo, \
                     int packed)                                                                              \
    {                                                                                                         \
        (void)packed;                                                                                         \
        const kt_vec_dot_fn one = kt_ref_traits(TYPE_ID)->vec_dot; /* odd rows and tokens: the same bits */   \
        const int64_t nb = n / 32;                                                                            \
        const uint8_t *wb = w, *ab = act;                                                                     \
        for (int64_t r = 0; r < nrows; r += 2) {                                                              \
            const block_##WT *x0 = (const block_##WT *)(wb + (size_t)r * row_bytes);                          \
            int t = 0;                                                                                        \
            if (r + 1 < nrows) {                                                                              \
                const block_##WT *x1 = (const block_##WT *)(wb + (size_t)(r + 1) * row_bytes);                \
                for (; t + 1 < n_tok; t += 2) {                                                               \
                    const block_q8_0 *y0 = (const block_q8_0 *)(ab + (size_t)t * act_stride);               \
                    const block_q8_0 *y1 = (const block_q8_0 *)(ab + (size_t)(t + 1) * act_stride);         \
                    float32x4_t sum = vdupq_n_f32(0.0f);                                                      \
                    for (int64_t b = 0; b < nb; b++) {                                                        \
                        int8x16_t a0l, a0h, a1l, a1h;                                                         \
                        LEVELS(&x0[b], &a0l, &a0h);                                                           \
                        LEVELS(&x1[b], &a1l, &a1h);                                                           \
                        int32x4_t acc = mmla16(vdupq_n_s32(0), a0l, a1l, vld1q_s8(y0[b].qs), vld1q_s8(y1[b].qs)); \
                        acc = mmla16(acc, a0h, a1h, vld1q_s8(y0[b].qs + 16), vld1q_s8(y1[b].qs + 16));        \
                        sum = block_step(sum, x0[b].d, x1[b].d, y0[b].d, y1[b].d, acc);                       \
                    }                                                                                         \
                    float v[4];                                                                               \
                    vst1q_f32(v, sum);                                                                        \
                    out[(size_t)t * ldo + r] = v[0];                                                          \
                    out[(size_t)(t + 1) * ldo + r] = v[1];                                                    \
                    out[(size_t)t * ldo + r + 1] = v[2];                                                      \
                    out[(size_t)(t + 1) * ldo + r + 1] = v[3];                                                \
                }                                                                                             \
            }                                                                                                 \
            for (; t < n_tok; t++)                                                                            \
                for (int64_t i = r; i < r + 2 && i < nrows; i++)                                              \
                    one(n, &out[(size_t)t * ldo + i], wb + (size_t)i * row_bytes, ab + (size_t)t * act_stride); \
        }                                                                                                     \
    }

static inline void q8_0_levels(const block_q8_0 *x, int8x16_t *lo, int8x16_t *hi)
{
    *lo = vld1q_s8(x->qs);
    *hi = vld1q_s8(x->qs + 16);
}

GEMM_I8MM(gemm_q8_0_i8mm, q8_0, KT_Q8_0, q8_0_levels)
GEMM_I8MM(gemm_q4_0_i8mm, q4_0, KT_Q4_0, q4_0_levels)

#if !defined(__ARM_FEATURE_MATMUL_INT8)
#pragma GCC pop_options
#endif

static const kt_gemm gemm_q8_0_neon = { 2, NULL, gemm_q8_0_i8mm, NULL };
static const kt_gemm gemm_q4_0_neon = { 2, NULL, gemm_q4_0_i8mm, NULL };

static int cpu_has_i8mm(void)
{
#if defined(__linux__)
    return (getauxval(AT_HWCAP2) & HWCAP2_I8MM) != 0;
#else
    return 0;
#endif
}

void kt_register_neon_gemm(kt_traits *table)
{
    if (!cpu_has_i8mm())
        return;
    table[KT_Q8_0].gemm = &gemm_q8_0_neon;
    table[KT_Q4_0].gemm = &gemm_q4_0_neon;
}

#else

void kt_register_neon_gemm(kt_traits *table)
{
    (void)table;
}

#endif
