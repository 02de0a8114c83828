/* NEON kernels (aarch64) for the legacy 32-element blocks: Q4_0·Q8_0,
 * Q4_1·Q8_1, Q5_0·Q8_0, Q5_1·Q8_1, Q8_0·Q8_0.
 *
 * Each block's weights are unpacked to 32 signed bytes and dotted with the 32
 * activation bytes in int32 (exact); the block's float arithmetic is then the
 * reference's, term for term and in the same order, so the result equals the
 * reference kernel's bit for bit.
 *
 * The kernels are written once (the second half of this file) in terms of
 * DOT(acc, a, b), which adds the 16 byte products of a and b into the int32x4
 * acc, and this file includes itself twice to build them:
 *   - with DOT as SMULL + SADALP: any ARMv8-A CPU;
 *   - with DOT as SDOT, in a region compiled for armv8.2-a+dotprod: only
 *     installed when the CPU reports dotprod in its hwcaps.
 * Only that region gets the extra target flags, so the library still runs on
 * any ARMv8-A CPU. (clang before 17 only declares vdotq_s32 when the whole
 * file is compiled with dotprod; it then uses SDOT throughout, else only the
 * baseline.) On other architectures the file compiles to an empty register
 * function. */
#include "quant.h"

#if defined(__aarch64__)
#ifndef KT_NEON_LEGACY_BODY
/* ---- first pass: helpers, the two instantiations, the register function ---- */

#include <arm_neon.h>
#include <string.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif

#include "blocks.h"

#if defined(__linux__) && !defined(HWCAP_ASIMDDP)
#define HWCAP_ASIMDDP (1UL << 20)
#endif

/* Exact, as kt_half_to_f32 (one FCVT). */
static inline float h2f(kt_half h)
{
    __fp16 f;
    memcpy(&f, &h, sizeof f);
    return (float)f;
}

/* acc += the 16 products a[i] * b[i], widened through int16 (|a * b| <= 2^14). */
static inline int32x4_t dot_base(int32x4_t acc, int8x16_t a, int8x16_t b)
{
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

/* Bit 4 of element j of a Q5 block is bit j of qh: spread it to the two
 * 16-byte halves as 0x10 or 0. */
static inline void q5_high_bits(const uint8_t qh[4], uint8x16_t *lo, uint8x16_t *hi)
{
    uint32_t bits;
    memcpy(&bits, qh, 4);
    static const uint8_t idx_lo[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1 };
    static const uint8_t idx_hi[16] = { 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3 };
    static const uint8_t bit[16] = { 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128 };
    const uint8x16_t v = vreinterpretq_u8_u32(vdupq_n_u32(bits));
    const uint8x16_t mask = vld1q_u8(bit), b4 = vdupq_n_u8(0x10);
    *lo = vandq_u8(vtstq_u8(vqtbl1q_u8(v, vld1q_u8(idx_lo)), mask), b4);
    *hi = vandq_u8(vtstq_u8(vqtbl1q_u8(v, vld1q_u8(idx_hi)), mask), b4);
}

#define KT_NEON_LEGACY_BODY 1

#define DOT(acc, a, b) dot_base(acc, a, b)
#define KFN(name) name##_neon
#include "neon_legacy.c"
#undef DOT
#undef KFN

#if defined(__ARM_FEATURE_DOTPROD)
#define HAVE_DOTPROD_VARIANT 1
#define DOT(acc, a, b) vdotq_s32(acc, a, b)
#define KFN(name) name##_dotprod
#include "neon_legacy.c"
#undef DOT
#undef KFN
#elif !defined(__clang__)
#define HAVE_DOTPROD_VARIANT 1
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
#define DOT(acc, a, b) vdotq_s32(acc, a, b)
#define KFN(name) name##_dotprod
#include "neon_legacy.c"
#undef DOT
#undef KFN
#pragma GCC pop_options
#endif

#ifdef HAVE_DOTPROD_VARIANT
/* Whether the CPU has SDOT/UDOT: Linux reports it in hwcaps; every Apple arm64 CPU has it. */
static inline int cpu_has_dotprod(void)
{
#if defined(__linux__)
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#elif defined(__APPLE__)
    return 1;
#else
    return 0;
#endif
}
#endif

void kt_register_neon_legacy(kt_traits *table)
{
#ifdef HAVE_DOTPROD_VARIANT
    if (cpu_has_dotprod()) {
        table[KT_Q4_0].vec_dot = vec_dot_q4_0_dotprod;
        table[KT_Q4_1].vec_dot = vec_dot_q4_1_dotprod;
        table[KT_Q5_0].vec_dot = vec_dot_q5_0_dotprod;
        table[KT_Q5_1].vec_dot = vec_dot_q5_1_dotprod;
        table[KT_Q8_0].vec_dot = vec_dot_q8_0_dotprod;
        return;
    }
#endif
    table[KT_Q4_0].vec_dot = vec_dot_q4_0_neon;
    table[KT_Q4_1].vec_dot = vec_dot_q4_1_neon;
    table[KT_Q5_0].vec_dot = vec_dot_q5_0_neon;
    table[KT_Q5_1].vec_dot = vec_dot_q5_1_neon;
    table[KT_Q8_0].vec_dot = vec_dot_q8_0_neon;
}

#else
/* ---- second pass (included twice): the kernels, with DOT and KFN set ---- */

static void KFN(vec_dot_q4_0)(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q4_0 *bx = x;
    const block_q8_0 *by = y;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_0; i++, bx++, by++) {
        const uint8x16_t q = vld1q_u8(bx->qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), eight);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), eight);
        int32x4_t acc = DOT(vdupq_n_s32(0), lo, vld1q_s8(by->qs));
        acc = DOT(acc, hi, vld1q_s8(by->qs + 16));
        const int sumi = vaddvq_s32(acc);
        const float term = h2f(bx->d) * h2f(by->d) * (float)sumi;
        sum += term;
    }
    *s = sum;
}

static void KFN(vec_dot_q4_1)(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q4_1 *bx = x;
    const block_q8_1 *by = y;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK4_1; i++, bx++, by++) {
        const uint8x16_t q = vld1q_u8(bx->qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(q, m4));
        const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
        int32x4_t acc = DOT(vdupq_n_s32(0), lo, vld1q_s8(by->qs));
        acc = DOT(acc, hi, vld1q_s8(by->qs + 16));
        const int sumi = vaddvq_s32(acc);
        const float scaled = h2f(bx->d) * h2f(by->d) * (float)sumi;
        const float offset = h2f(bx->m) * h2f(by->s);
        sum += scaled + offset;
    }
    *s = sum;
}

static void KFN(vec_dot_q5_0)(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q5_0 *bx = x;
    const block_q8_0 *by = y;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t sixteen = vdupq_n_s8(16);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK5_0; i++, bx++, by++) {
        uint8x16_t h_lo, h_hi;
        q5_high_bits(bx->qh, &h_lo, &h_hi);
        const uint8x16_t q = vld1q_u8(bx->qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), h_lo)), sixteen);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), h_hi)), sixteen);
        int32x4_t acc = DOT(vdupq_n_s32(0), lo, vld1q_s8(by->qs));
        acc = DOT(acc, hi, vld1q_s8(by->qs + 16));
        const int sumi = vaddvq_s32(acc);
        const float term = h2f(bx->d) * h2f(by->d) * (float)sumi;
        sum += term;
    }
    *s = sum;
}

static void KFN(vec_dot_q5_1)(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q5_1 *bx = x;
    const block_q8_1 *by = y;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK5_1; i++, bx++, by++) {
        uint8x16_t h_lo, h_hi;
        q5_high_bits(bx->qh, &h_lo, &h_hi);
        const uint8x16_t q = vld1q_u8(bx->qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), h_lo));
        const int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), h_hi));
        int32x4_t acc = DOT(vdupq_n_s32(0), lo, vld1q_s8(by->qs));
        acc = DOT(acc, hi, vld1q_s8(by->qs + 16));
        const int sumi = vaddvq_s32(acc);
        const float scaled = h2f(bx->d) * h2f(by->d) * (float)sumi;
        const float offset = h2f(bx->m) * h2f(by->s);
        sum += scaled + offset;
    }
    *s = sum;
}

static void KFN(vec_dot_q8_0)(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q8_0 *bx = x;
    const block_q8_0 *by = y;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / QK8_0; i++, bx++, by++) {
        int32x4_t acc = DOT(vdupq_n_s32(0), vld1q_s8(bx->qs), vld1q_s8(by->qs));
        acc = DOT(acc, vld1q_s8(bx->qs + 16), vld1q_s8(by->qs + 16));
        const int sumi = vaddvq_s32(acc);
        const float term = h2f(bx->d) * h2f(by->d) * (float)sumi;
        sum += term;
    }
    *s = sum;
}

#endif /* KT_NEON_LEGACY_BODY */
#else

void kt_register_neon_legacy(kt_traits *table)
{
    (void)table;
}

#endif
