/* NEON kernels (aarch64) for the K-quants against Q8_K: Q2_K, Q3_K, Q4_K,
 * Q5_K, Q6_K.
 *
 * Per 256-element super-block the weights are unpacked to signed bytes, one
 * int32x4 accumulator per sub-block (16 or 32 elements); pairwise adds
 * (ADDP) fold four accumulators into the four sub-block sums, which meet the
 * sub-block scales in int32; the mins meet the Q8_K block sums in int32 too.
 * All of that is exact, and the super-block's float arithmetic is then the
 * reference's, term for term and in the same order, so the result equals the
 * reference kernel's bit for bit.
 *
 * As in neon_legacy.c, the kernels are written once (second half of the file)
 * in terms of DOT(acc, a, b) (acc += the 16 byte products of a and b) and this
 * file includes itself twice: a baseline ARMv8-A build (SMULL + SADALP) and an
 * armv8.2-a+dotprod build (SDOT), the latter only installed when hwcaps report
 * dotprod. On other architectures the file compiles to an empty register
 * function. */
#include "quant.h"

#if defined(__aarch64__)
#ifndef KT_NEON_KQUANTS_BODY
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

/* The four totals of four accumulators, in order. */
static inline int32x4_t fold4(int32x4_t p0, int32x4_t p1, int32x4_t p2, int32x4_t p3)
{
    return vpaddq_s32(vpaddq_s32(p0, p1), vpaddq_s32(p2, p3));
}

/* Sixteen signed bytes as four int32x4 (the unsigned scales passed here are all < 128). */
static inline void widen16_s8(int8x16_t v, int32x4_t out[4])
{
    const int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_high_s8(v);
    out[0] = vmovl_s16(vget_low_s16(lo));
    out[1] = vmovl_high_s16(lo);
    out[2] = vmovl_s16(vget_low_s16(hi));
    out[3] = vmovl_high_s16(hi);
}

/* sum(bsums[i] * m[i]) over 16 sub-blocks, exact in int32. */
static inline int32_t bsums_dot16(const int16_t bsums[16], int16x8_t m_lo, int16x8_t m_hi)
{
    const int16x8_t b0 = vld1q_s16(bsums), b1 = vld1q_s16(bsums + 8);
    int32x4_t acc = vmull_s16(vget_low_s16(b0), vget_low_s16(m_lo));
    acc = vmlal_high_s16(acc, b0, m_lo);
    acc = vmlal_s16(acc, vget_low_s16(b1), vget_low_s16(m_hi));
    acc = vmlal_high_s16(acc, b1, m_hi);
    return vaddvq_s32(acc);
}

/* Q4_K/Q5_K: the 8 six-bit scales and mins (the layout kt_get_scale_min_k4
 * reads), unpacked four at a time from the three little-endian words. */
static inline void k4_scales_mins(const uint8_t packed[12], uint8x8_t *sc, uint8x8_t *mn)
{
    uint32_t w[3];
    memcpy(w, packed, 12);
    const uint32_t s03 = w[0] & 0x3f3f3f3fu;
    const uint32_t m03 = w[1] & 0x3f3f3f3fu;
    const uint32_t s47 = (w[2] & 0x0f0f0f0fu) | ((w[0] >> 6) & 0x03030303u) << 4;
    const uint32_t m47 = ((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 6) & 0x03030303u) << 4;
    *sc = vreinterpret_u8_u32(vset_lane_u32(s47, vdup_n_u32(s03), 1));
    *mn = vreinterpret_u8_u32(vset_lane_u32(m47, vdup_n_u32(m03), 1));
}

/* Q3_K: the 16 signed scales (value - 32). Scale s keeps its low nibble in
 * byte s % 8 (low half for s < 8) and its top two bits in byte 8 + s % 4 at
 * bit 2 * (s / 4). */
static inline int8x16_t q3_scales(const uint8_t packed[12])
{
    static const int8_t shifts[16] = { 0, 0, 0, 0, -2, -2, -2, -2, -4, -4, -4, -4, -6, -6, -6, -6 };
    const uint8x8_t low8 = vld1_u8(packed);
    const uint8x16_t low = vcombine_u8(vand_u8(low8, vdup_n_u8(0x0F)), vshr_n_u8(low8, 4));
    uint32_t top;
    memcpy(&top, packed + 8, 4);
    const uint8x16_t t = vreinterpretq_u8_u32(vdupq_n_u32(top)); /* byte s = packed[8 + s % 4] */
    const uint8x16_t high = vandq_u8(vshlq_u8(t, vld1q_s8(shifts)), vdupq_n_u8(3));
    return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low, vshlq_n_u8(high, 4))), vdupq_n_s8(32));
}

/* Q4_K/Q5_K: sum(min[j] * (bsums[2j] + bsums[2j + 1])), the pairs added in
 * int32 (SADDLP) so that any int16 sums stay exact. */
static inline int32_t k4_mins_dot(const int16_t bsums[16], uint8x8_t mn8)
{
    const int32x4_t pair_lo = vpaddlq_s16(vld1q_s16(bsums)), pair_hi = vpaddlq_s16(vld1q_s16(bsums + 8));
    const int16x8_t mn = vreinterpretq_s16_u16(vmovl_u8(mn8));
    int32x4_t acc = vmulq_s32(pair_lo, vmovl_s16(vget_low_s16(mn)));
    acc = vmlaq_s32(acc, pair_hi, vmovl_high_s16(mn));
    return vaddvq_s32(acc);
}

/* The loops over sub-blocks are unrolled so that their accumulators stay in registers. */
#if defined(__clang__)
#define UNROLL _Pragma("unroll")
#else
#define UNROLL _Pragma("GCC unroll 8")
#endif

#define KT_NEON_KQUANTS_BODY 1

#define DOT(acc, a, b) dot_base(acc, a, b)
#define KFN(name) name##_neon
#include "neon_kquants.c"
#undef DOT
#undef KFN

#if defined(__ARM_FEATURE_DOTPROD)
#define HAVE_DOTPROD_VARIANT 1
#define DOT(acc, a, b) vdotq_s32(acc, a, b)
#define KFN(name) name##_dotprod
#include "neon_kquants.c"
#undef DOT
#undef KFN
#elif !defined(__clang__)
#define HAVE_DOTPROD_VARIANT 1
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")
#define DOT(acc, a, b) vdotq_s32(acc, a, b)
#define KFN(name) name##_dotprod
#include "neon_kquants.c"
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

void kt_register_neon_kquants(kt_traits *table)
{
#ifdef HAVE_DOTPROD_VARIANT
    if (cpu_has_dotprod()) {
        table[KT_Q2_K].vec_dot = vec_dot_q2_k_dotprod;
        table[KT_Q3_K].vec_dot = vec_dot_q3_k_dotprod;
        table[KT_Q4_K].vec_dot = vec_dot_q4_k_dotprod;
        table[KT_Q5_K].vec_dot = vec_dot_q5_k_dotprod;
        table[KT_Q6_K].vec_dot = vec_dot_q6_k_dotprod;
        return;
    }
#endif
    table[KT_Q2_K].vec_dot = vec_dot_q2_k_neon;
    table[KT_Q3_K].vec_dot = vec_dot_q3_k_neon;
    table[KT_Q4_K].vec_dot = vec_dot_q4_k_neon;
    table[KT_Q5_K].vec_dot = vec_dot_q5_k_neon;
    table[KT_Q6_K].vec_dot = vec_dot_q6_k_neon;
}

#else
/* ---- second pass (included twice): the kernels, with DOT and KFN set ---- */

/* Q2_K: element e is bits 2 * ((e / 32) % 4) of qs[32 * (e / 128) + e % 32];
 * each 16 bytes of levels is one sub-block of 16. */
static void KFN(vec_dot_q2_k)(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q2_K *bx = x;
    const block_q8_K *by = y;
    const uint8x16_t m2 = vdupq_n_u8(3);
    const int32x4_t zero = vdupq_n_s32(0);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8x16_t sc = vld1q_u8(bx[i].scales);
        /* mins (high nibbles) against the block sums */
        const uint8x16_t mins = vshrq_n_u8(sc, 4);
        const int16x8_t m_lo = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins)));
        const int16x8_t m_hi = vreinterpretq_s16_u16(vmovl_high_u8(mins));
        const int summs = bsums_dot16(by[i].bsums, m_lo, m_hi);
        int32x4_t scale[4];
        widen16_s8(vreinterpretq_s8_u8(vandq_u8(sc, vdupq_n_u8(0x0F))), scale);

        int32x4_t isum = zero;
        const int8_t *q8 = by[i].qs;
        UNROLL
        for (int h = 0; h < 2; h++) {
            const uint8x16_t q0 = vld1q_u8(bx[i].qs + 32 * h), q1 = vld1q_u8(bx[i].qs + 32 * h + 16);
            int32x4_t p[8];
            UNROLL
            for (int k = 0; k < 4; k++, q8 += 32) {
                const int shift = 2 * k;
                const uint8x16_t l0 = vandq_u8(vshlq_u8(q0, vdupq_n_s8((int8_t)-shift)), m2);
                const uint8x16_t l1 = vandq_u8(vshlq_u8(q1, vdupq_n_s8((int8_t)-shift)), m2);
                p[2 * k] = DOT(zero, vreinterpretq_s8_u8(l0), vld1q_s8(q8));
                p[2 * k + 1] = DOT(zero, vreinterpretq_s8_u8(l1), vld1q_s8(q8 + 16));
            }
            isum = vmlaq_s32(isum, fold4(p[0], p[1], p[2], p[3]), scale[2 * h]);
            isum = vmlaq_s32(isum, fold4(p[4], p[5], p[6], p[7]), scale[2 * h + 1]);
        }
        const int isum_all = vaddvq_s32(isum);
        const float dall = by[i].d * h2f(bx[i].d);
        const float dmin = by[i].d * h2f(bx[i].dmin);
        sum += dall * isum_all - dmin * summs;
    }
    *s = sum;
}

/* Q3_K: low two bits as Q2_K; the high bit of element e is bit e / 32 of
 * hmask[e % 32], and a clear bit means level - 4. */
static void KFN(vec_dot_q3_k)(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q3_K *bx = x;
    const block_q8_K *by = y;
    const uint8x16_t m2 = vdupq_n_u8(3), four = vdupq_n_u8(4);
    const int32x4_t zero = vdupq_n_s32(0);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32x4_t scale[4];
        widen16_s8(q3_scales(bx[i].scales), scale);
        const uint8x16_t hm0 = vld1q_u8(bx[i].hmask), hm1 = vld1q_u8(bx[i].hmask + 16);

        int32x4_t isum = zero;
        const int8_t *q8 = by[i].qs;
        UNROLL
        for (int h = 0; h < 2; h++) {
            const uint8x16_t q0 = vld1q_u8(bx[i].qs + 32 * h), q1 = vld1q_u8(bx[i].qs + 32 * h + 16);
            int32x4_t p[8];
            UNROLL
            for (int k = 0; k < 4; k++, q8 += 32) {
                const int shift = 2 * k;
                const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * h + k)));
                const uint8x16_t l0 = vandq_u8(vshlq_u8(q0, vdupq_n_s8((int8_t)-shift)), m2);
                const uint8x16_t l1 = vandq_u8(vshlq_u8(q1, vdupq_n_s8((int8_t)-shift)), m2);
                const int8x16_t v0 = vsubq_s8(vreinterpretq_s8_u8(l0), vreinterpretq_s8_u8(vbicq_u8(four, vtstq_u8(hm0, bit))));
                const int8x16_t v1 = vsubq_s8(vreinterpretq_s8_u8(l1), vreinterpretq_s8_u8(vbicq_u8(four, vtstq_u8(hm1, bit))));
                p[2 * k] = DOT(zero, v0, vld1q_s8(q8));
                p[2 * k + 1] = DOT(zero, v1, vld1q_s8(q8 + 16));
            }
            isum = vmlaq_s32(isum, fold4(p[0], p[1], p[2], p[3]), scale[2 * h]);
            isum = vmlaq_s32(isum, fold4(p[4], p[5], p[6], p[7]), scale[2 * h + 1]);
        }
        const int isum_all = vaddvq_s32(isum);
        const float d = h2f(bx[i].d) * by[i].d;
        sum += d * isum_all;
    }
    *s = sum;
}

/* Q4_K: element e is nibble (e / 32) % 2 of qs[32 * (e / 64) + e % 32]; a
 * sub-block of 32 is one nibble of 32 bytes. */
static void KFN(vec_dot_q4_k)(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q4_K *bx = x;
    const block_q8_K *by = y;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int32x4_t zero = vdupq_n_s32(0);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8x8_t sc8, mn8;
        k4_scales_mins(bx[i].scales, &sc8, &mn8);
        const int summs = k4_mins_dot(by[i].bsums, mn8);
        const int16x8_t sc16 = vreinterpretq_s16_u16(vmovl_u8(sc8));
        const int32x4_t scale_lo = vmovl_s16(vget_low_s16(sc16)), scale_hi = vmovl_high_s16(sc16);

        const int8_t *q8 = by[i].qs;
        int32x4_t p[8];
        UNROLL
        for (int c = 0; c < 4; c++, q8 += 64) {
            const uint8x16_t q0 = vld1q_u8(bx[i].qs + 32 * c), q1 = vld1q_u8(bx[i].qs + 32 * c + 16);
            int32x4_t a = DOT(zero, vreinterpretq_s8_u8(vandq_u8(q0, m4)), vld1q_s8(q8));
            p[2 * c] = DOT(a, vreinterpretq_s8_u8(vandq_u8(q1, m4)), vld1q_s8(q8 + 16));
            a = DOT(zero, vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), vld1q_s8(q8 + 32));
            p[2 * c + 1] = DOT(a, vreinterpretq_s8_u8(vshrq_n_u8(q1, 4)), vld1q_s8(q8 + 48));
        }
        int32x4_t isum = vmulq_s32(fold4(p[0], p[1], p[2], p[3]), scale_lo);
        isum = vmlaq_s32(isum, fold4(p[4], p[5], p[6], p[7]), scale_hi);
        const int isum_all = vaddvq_s32(isum);
        const float d = h2f(bx[i].d) * by[i].d;
        const float dmin = h2f(bx[i].dmin) * by[i].d;
        sum += d * isum_all - dmin * summs;
    }
    *s = sum;
}

/* Q5_K: Q4_K's nibbles plus a fifth bit, bit e / 32 of qh[e % 32]. */
static void KFN(vec_dot_q5_k)(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q5_K *bx = x;
    const block_q8_K *by = y;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b4 = vdupq_n_u8(0x10);
    const int32x4_t zero = vdupq_n_s32(0);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8x8_t sc8, mn8;
        k4_scales_mins(bx[i].scales, &sc8, &mn8);
        const int summs = k4_mins_dot(by[i].bsums, mn8);
        const int16x8_t sc16 = vreinterpretq_s16_u16(vmovl_u8(sc8));
        const int32x4_t scale_lo = vmovl_s16(vget_low_s16(sc16)), scale_hi = vmovl_high_s16(sc16);
        const uint8x16_t qh0 = vld1q_u8(bx[i].qh), qh1 = vld1q_u8(bx[i].qh + 16);

        const int8_t *q8 = by[i].qs;
        int32x4_t p[8];
        UNROLL
        for (int c = 0; c < 4; c++, q8 += 64) {
            const uint8x16_t q0 = vld1q_u8(bx[i].qs + 32 * c), q1 = vld1q_u8(bx[i].qs + 32 * c + 16);
            const uint8x16_t bl = vdupq_n_u8((uint8_t)(1u << (2 * c)));
            const uint8x16_t bh = vdupq_n_u8((uint8_t)(1u << (2 * c + 1)));
            const uint8x16_t l0 = vorrq_u8(vandq_u8(q0, m4), vandq_u8(vtstq_u8(qh0, bl), b4));
            const uint8x16_t l1 = vorrq_u8(vandq_u8(q1, m4), vandq_u8(vtstq_u8(qh1, bl), b4));
            const uint8x16_t h0 = vorrq_u8(vshrq_n_u8(q0, 4), vandq_u8(vtstq_u8(qh0, bh), b4));
            const uint8x16_t h1 = vorrq_u8(vshrq_n_u8(q1, 4), vandq_u8(vtstq_u8(qh1, bh), b4));
            int32x4_t a = DOT(zero, vreinterpretq_s8_u8(l0), vld1q_s8(q8));
            p[2 * c] = DOT(a, vreinterpretq_s8_u8(l1), vld1q_s8(q8 + 16));
            a = DOT(zero, vreinterpretq_s8_u8(h0), vld1q_s8(q8 + 32));
            p[2 * c + 1] = DOT(a, vreinterpretq_s8_u8(h1), vld1q_s8(q8 + 48));
        }
        int32x4_t isum = vmulq_s32(fold4(p[0], p[1], p[2], p[3]), scale_lo);
        isum = vmlaq_s32(isum, fold4(p[4], p[5], p[6], p[7]), scale_hi);
        const int isum_all = vaddvq_s32(isum);
        const float d = h2f(bx[i].d) * by[i].d;
        const float dmin = h2f(bx[i].dmin) * by[i].d;
        sum += d * isum_all - dmin * summs;
    }
    *s = sum;
}

/* Q6_K: in each half of 128, the 32-element run k (0..3) takes its low
 * nibbles from ql[32 * (k % 2) .. +31] (low for k < 2, high after) and its
 * top two bits from bits 2k of qh[0..31]; level - 32. One 16-byte vector is
 * one sub-block of 16. */
static void KFN(vec_dot_q6_k)(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q6_K *bx = x;
    const block_q8_K *by = y;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m2 = vdupq_n_u8(0x30);
    const int8x16_t off = vdupq_n_s8(32);
    const int32x4_t zero = vdupq_n_s32(0);
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int32x4_t scale[4];
        widen16_s8(vld1q_s8(bx[i].scales), scale);

        int32x4_t isum = zero;
        const int8_t *q8 = by[i].qs;
        UNROLL
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = bx[i].ql + 64 * h, *qh = bx[i].qh + 32 * h;
            const uint8x16_t a0 = vld1q_u8(ql), a1 = vld1q_u8(ql + 16);
            const uint8x16_t c0 = vld1q_u8(ql + 32), c1 = vld1q_u8(ql + 48);
            const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
            /* the four runs' levels, 32 bytes each */
            uint8x16_t lv[8];
            lv[0] = vorrq_u8(vandq_u8(a0, m4), vandq_u8(vshlq_n_u8(h0, 4), m2));
            lv[1] = vorrq_u8(vandq_u8(a1, m4), vandq_u8(vshlq_n_u8(h1, 4), m2));
            lv[2] = vorrq_u8(vandq_u8(c0, m4), vandq_u8(vshlq_n_u8(h0, 2), m2));
            lv[3] = vorrq_u8(vandq_u8(c1, m4), vandq_u8(vshlq_n_u8(h1, 2), m2));
            lv[4] = vorrq_u8(vshrq_n_u8(a0, 4), vandq_u8(h0, m2));
            lv[5] = vorrq_u8(vshrq_n_u8(a1, 4), vandq_u8(h1, m2));
            lv[6] = vorrq_u8(vshrq_n_u8(c0, 4), vandq_u8(vshrq_n_u8(h0, 2), m2));
            lv[7] = vorrq_u8(vshrq_n_u8(c1, 4), vandq_u8(vshrq_n_u8(h1, 2), m2));
            int32x4_t p[8];
            UNROLL
            for (int k = 0; k < 8; k++, q8 += 16)
                p[k] = DOT(zero, vsubq_s8(vreinterpretq_s8_u8(lv[k]), off), vld1q_s8(q8));
            isum = vmlaq_s32(isum, fold4(p[0], p[1], p[2], p[3]), scale[2 * h]);
            isum = vmlaq_s32(isum, fold4(p[4], p[5], p[6], p[7]), scale[2 * h + 1]);
        }
        const int isum_all = vaddvq_s32(isum);
        const float d = h2f(bx[i].d) * by[i].d;
        sum += d * isum_all;
    }
    *s = sum;
}

#endif /* KT_NEON_KQUANTS_BODY */
#else

void kt_register_neon_kquants(kt_traits *table)
{
    (void)table;
}

#endif
