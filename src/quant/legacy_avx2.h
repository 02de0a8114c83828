/* The AVX2 dot products of the legacy quants (Q4_0·Q8_0, Q4_1·Q8_1,
 * Q5_0·Q8_0, Q5_1·Q8_1, Q8_0·Q8_0), as one template: avx2_legacy.c includes
 * it as it is, avxvnni_legacy.c with LEGACY_AVX2_VNNI 1, where the byte dots
 * are one VPDPBUSD (AVX-VNNI) instead of VPMADDUBSW + VPMADDWD. The integers
 * are exact either way, so both give the same bits.
 *
 * Per block of 32: the weights are unpacked to 32 bytes, the integer dot with
 * the activation bytes is exact, and the 8 int32 are converted to float and
 * multiplied by d_x * d_y with one FMA into an accumulator. The scales of 4
 * blocks are converted together (VCVTPH2PS); the loop does 4 blocks a step
 * into 4 accumulators, added once at the end.
 *  - Q4_0 / Q5_0 weights have an offset (q - 8, q - 16): the unsigned level q
 *    goes into the byte dot directly and offset * (y sums), made by a second
 *    byte dot, is subtracted.
 *  - Q8_0 weights are signed: |x| times y with x's sign (VPSIGNB). Exact for
 *    every x, and for y in -127..127, which is all our activation quantizer
 *    writes (y = -128 would be negated into itself).
 *  - Q4_1 / Q5_1 add m_x * s_y per block, 4 blocks at a time in a __m128.
 * Nothing here allocates; every load is unaligned. */
#ifndef KESTREL_LEGACY_AVX2_H
#define KESTREL_LEGACY_AVX2_H

#include <immintrin.h>
#include <string.h>

#include "blocks.h"
#include "quant.h"
#include "simd_x86.h"

#ifndef LEGACY_AVX2_VNNI
#define LEGACY_AVX2_VNNI 0
#endif

/* The f16 field f of blocks p[0..3] as 4 floats. */
/* The four halves are packed in a general register first: scalar ALU ops
 * instead of four vector inserts on the shuffle port the dot products need. */
#define HALVES4(p, f)                                                                            \
    _mm_cvtph_ps(_mm_cvtsi64_si128((long long)((uint64_t)(p)[0].f | (uint64_t)(p)[1].f << 16 |   \
                                               (uint64_t)(p)[2].f << 32 | (uint64_t)(p)[3].f << 48)))

/* Lane k (0..3) of v in all 8 lanes. */
static inline __m256 lane8(__m128 v, int k)
{
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(v), _mm256_set1_epi32(k));
}

/* Bit j of the little-endian 32-bit word at qh -> 0x10 in byte j (else 0). */
static inline __m256i fifth_bits32(const uint8_t *qh)
{
    uint32_t bits;
    memcpy(&bits, qh, 4);
    /* byte j takes byte j / 8 of the word, keeps bit j % 8 */
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
                                               _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                                                  0x0202020202020202, 0x0303030303030303));
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, sel), sel);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

/* Sums of 4 products of unsigned u and signed s bytes, as 8 int32 lanes:
 * one VPDPBUSD with AVX-VNNI, else VPMADDUBSW (int16 pairs, which cannot
 * saturate for the operands used here) then VPMADDWD. Exact either way. */
static inline __m256i udot32(__m256i u, __m256i s)
{
#if LEGACY_AVX2_VNNI
    return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* sum over j of q[j] * y[j] - off * y[j], q unsigned (q <= 31, off <= 16),
 * as 8 int32 lanes converted to float. */
static inline __m256 dot_offset(__m256i q, __m256i y, char off)
{
#if LEGACY_AVX2_VNNI
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(udot32(q, y), udot32(_mm256_set1_epi8(off), y)));
#else
    const __m256i pq = _mm256_maddubs_epi16(q, y);
    const __m256i po = _mm256_maddubs_epi16(_mm256_set1_epi8(off), y);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_sub_epi16(pq, po), _mm256_set1_epi16(1)));
#endif
}

/* sum over j of q[j] * y[j], q unsigned (<= 31). */
static inline __m256 dot_unsigned(__m256i q, __m256i y)
{
    return _mm256_cvtepi32_ps(udot32(q, y));
}

static inline __m256 block_q4_0_dot(const block_q4_0 *x, const block_q8_0 *y)
{
    return dot_offset(kt_nibbles32(x->qs), kt_loadu256(y->qs), 8);
}

static inline __m256 block_q5_0_dot(const block_q5_0 *x, const block_q8_0 *y)
{
    const __m256i q = _mm256_or_si256(kt_nibbles32(x->qs), fifth_bits32(x->qh));
    return dot_offset(q, kt_loadu256(y->qs), 16);
}

static inline __m256 block_q4_1_dot(const block_q4_1 *x, const block_q8_1 *y)
{
    return dot_unsigned(kt_nibbles32(x->qs), kt_loadu256(y->qs));
}

static inline __m256 block_q5_1_dot(const block_q5_1 *x, const block_q8_1 *y)
{
    const __m256i q = _mm256_or_si256(kt_nibbles32(x->qs), fifth_bits32(x->qh));
    return dot_unsigned(q, kt_loadu256(y->qs));
}

static inline __m256 block_q8_0_dot(const block_q8_0 *x, const block_q8_0 *y)
{
    const __m256i qx = kt_loadu256(x->qs);
    const __m256i qy = kt_loadu256(y->qs);
    return _mm256_cvtepi32_ps(udot32(_mm256_abs_epi8(qx), _mm256_sign_epi8(qy, qx)));
}

/* The dot of a row of XT blocks with a row of YT blocks, 4 blocks a step. */
#define VEC_DOT_SYM(NAME, XT, YT, BLOCK_DOT)                                                       \
    static void NAME(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) \
    {                                                                                              \
        const XT *x = vx;                                                                          \
        const YT *y = vy;                                                                          \
        const int64_t nb = n / 32;                                                                 \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                \
        int64_t i = 0;                                                                             \
        for (; i + 4 <= nb; i += 4) {                                                              \
            const __m128 d = _mm_mul_ps(HALVES4(x + i, d), HALVES4(y + i, d));                     \
            a0 = _mm256_fmadd_ps(lane8(d, 0), BLOCK_DOT(x + i, y + i), a0);                        \
            a1 = _mm256_fmadd_ps(lane8(d, 1), BLOCK_DOT(x + i + 1, y + i + 1), a1);                \
            a2 = _mm256_fmadd_ps(lane8(d, 2), BLOCK_DOT(x + i + 2, y + i + 2), a2);                \
            a3 = _mm256_fmadd_ps(lane8(d, 3), BLOCK_DOT(x + i + 3, y + i + 3), a3);                \
        }                                                                                          \
        for (; i < nb; i++) {                                                                      \
            const float d = _cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d);                                 \
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(d), BLOCK_DOT(x + i, y + i), a0);                  \
        }                                                                                          \
        *s = kt_hsum256_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));                \
    }

/* As VEC_DOT_SYM, plus m_x * s_y per block. */
#define VEC_DOT_MIN(NAME, XT, YT, BLOCK_DOT)                                                       \
    static void NAME(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) \
    {                                                                                              \
        const XT *x = vx;                                                                          \
        const YT *y = vy;                                                                          \
        const int64_t nb = n / 32;                                                                 \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                \
        __m128 am = _mm_setzero_ps();                                                              \
        int64_t i = 0;                                                                             \
        for (; i + 4 <= nb; i += 4) {                                                              \
            const __m128 d = _mm_mul_ps(HALVES4(x + i, d), HALVES4(y + i, d));                     \
            am = _mm_fmadd_ps(HALVES4(x + i, m), HALVES4(y + i, s), am);                           \
            a0 = _mm256_fmadd_ps(lane8(d, 0), BLOCK_DOT(x + i, y + i), a0);                        \
            a1 = _mm256_fmadd_ps(lane8(d, 1), BLOCK_DOT(x + i + 1, y + i + 1), a1);                \
            a2 = _mm256_fmadd_ps(lane8(d, 2), BLOCK_DOT(x + i + 2, y + i + 2), a2);                \
            a3 = _mm256_fmadd_ps(lane8(d, 3), BLOCK_DOT(x + i + 3, y + i + 3), a3);                \
        }                                                                                          \
        float sm = 0.0f;                                                                           \
        for (; i < nb; i++) {                                                                      \
            const float d = _cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d);                                 \
            sm += _cvtsh_ss(x[i].m) * _cvtsh_ss(y[i].s);                                           \
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(d), BLOCK_DOT(x + i, y + i), a0);                  \
        }                                                                                          \
        *s = kt_hsum256_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) + kt_hsum128_ps(am) + sm; \
    }

VEC_DOT_SYM(vec_dot_q4_0_legacy, block_q4_0, block_q8_0, block_q4_0_dot)
VEC_DOT_SYM(vec_dot_q5_0_legacy, block_q5_0, block_q8_0, block_q5_0_dot)
VEC_DOT_SYM(vec_dot_q8_0_legacy, block_q8_0, block_q8_0, block_q8_0_dot)
VEC_DOT_MIN(vec_dot_q4_1_legacy, block_q4_1, block_q8_1, block_q4_1_dot)
VEC_DOT_MIN(vec_dot_q5_1_legacy, block_q5_1, block_q8_1, block_q5_1_dot)

/* The dot products above into a kernel table. */
static inline void legacy_avx2_register_dots(kt_traits *table)
{
    table[KT_Q4_0].vec_dot = vec_dot_q4_0_legacy;
    table[KT_Q4_1].vec_dot = vec_dot_q4_1_legacy;
    table[KT_Q5_0].vec_dot = vec_dot_q5_0_legacy;
    table[KT_Q5_1].vec_dot = vec_dot_q5_1_legacy;
    table[KT_Q8_0].vec_dot = vec_dot_q8_0_legacy;
}

#endif
