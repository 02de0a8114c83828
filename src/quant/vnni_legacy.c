/* AVX-512 VNNI kernels for the legacy quants: Q4_0·Q8_0, Q4_1·Q8_1,
 * Q5_0·Q8_0, Q5_1·Q8_1, Q8_0·Q8_0 dot products. The same layout as
 * avx512_legacy.c (two blocks per 512-bit register, four a step, the scales of
 * a step converted together), with VPDPBUSD (u8 x s8, four products summed
 * into each int32) in place of VPMADDUBSW + VPMADDWD:
 *  - 4- and 5-bit weights: q (unsigned) . y, minus offset . y for Q4_0 / Q5_0
 *    (a second VPDPBUSD with the offset bytes).
 *  - Q8_0 weights: (x + 128) . y - 128 . y, with x + 128 = x ^ 0x80 unsigned;
 *    exact for every x and y, -128 included.
 * The activation quantizers of the AVX-512 level stay in the table.
 * Nothing here allocates; every load is unaligned. */
#include "quant.h"

#if defined(__x86_64__)
#include <assert.h>
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "blocks.h"
#include "legacy_avx512.h"

/* ---- integer dots (the part that differs from avx512_legacy.c) -------------------- */

/* sum q*y - off*y per 4 bytes, q unsigned: 16 int32 lanes. */
static inline __m512i dot_offset(__m512i q, __m512i y, char off)
{
    const __m512i z = _mm512_setzero_si512();
    return _mm512_sub_epi32(_mm512_dpbusd_epi32(z, q, y), _mm512_dpbusd_epi32(z, _mm512_set1_epi8(off), y));
}

/* sum q*y per 4 bytes, q unsigned. */
static inline __m512i dot_unsigned(__m512i q, __m512i y)
{
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, y);
}

/* sum x*y per 4 bytes, both signed: (x + 128) . y - 128 . y. */
static inline __m512i dot_signed(__m512i x, __m512i y)
{
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    return dot_offset(_mm512_xor_si512(x, bias), y, (char)0x80);
}

/* ---- one block in 256 bits (the odd last block) ------------------------------------ */

static inline __m256i nibbles32(const uint8_t *qs)
{
    const __m128i t = loadu128(qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0f));
}

static inline __m256i fifth_bits32(const uint8_t *qh)
{
    uint32_t bits;
    memcpy(&bits, qh, 4);
    return _mm256_maskz_mov_epi8(bits, _mm256_set1_epi8(0x10));
}

static inline __m256 dot32_offset(__m256i q, __m256i y, char off)
{
    const __m256i z = _mm256_setzero_si256();
    const __m256i d = _mm256_sub_epi32(_mm256_dpbusd_epi32(z, q, y), _mm256_dpbusd_epi32(z, _mm256_set1_epi8(off), y));
    return _mm256_cvtepi32_ps(d);
}

static inline __m256 dot32_unsigned(__m256i q, __m256i y)
{
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), q, y));
}

static inline __m256 dot32_signed(__m256i x, __m256i y)
{
    return dot32_offset(_mm256_xor_si256(x, _mm256_set1_epi8((char)0x80)), y, (char)0x80);
}

/* ---- per-type pair and single-block dots -------------------------------------------- */

#define PAIR_Q4_0(x, y) dot_offset(nibbles_pair((x)[0].qs, (x)[1].qs), act_pair_nibble_order((y)[0].qs, (y)[1].qs), 8)
#define PAIR_Q4_1(x, y) dot_unsigned(nibbles_pair((x)[0].qs, (x)[1].qs), act_pair_nibble_order((y)[0].qs, (y)[1].qs))
#define PAIR_Q5_0(x, y)                                                                                     \
    dot_offset(add_fifth_bits(nibbles_pair((x)[0].qs, (x)[1].qs), (x)[0].qh, (x)[1].qh),                    \
               act_pair_nibble_order((y)[0].qs, (y)[1].qs), 16)
#define PAIR_Q5_1(x, y)                                                                                     \
    dot_unsigned(add_fifth_bits(nibbles_pair((x)[0].qs, (x)[1].qs), (x)[0].qh, (x)[1].qh),                  \
                 act_pair_nibble_order((y)[0].qs, (y)[1].qs))
#define PAIR_Q8_0(x, y) dot_signed(bytes_pair((x)[0].qs, (x)[1].qs), bytes_pair((y)[0].qs, (y)[1].qs))

#define ONE_Q4_0(x, y) dot32_offset(nibbles32((x)->qs), loadu256((y)->qs), 8)
#define ONE_Q4_1(x, y) dot32_unsigned(nibbles32((x)->qs), loadu256((y)->qs))
#define ONE_Q5_0(x, y) dot32_offset(_mm256_or_si256(nibbles32((x)->qs), fifth_bits32((x)->qh)), loadu256((y)->qs), 16)
#define ONE_Q5_1(x, y) dot32_unsigned(_mm256_or_si256(nibbles32((x)->qs), fifth_bits32((x)->qh)), loadu256((y)->qs))
#define ONE_Q8_0(x, y) dot32_signed(loadu256((x)->qs), loadu256((y)->qs))

/* Which block each of the 16 int32 sums of a pair belongs to, as indices into
 * the scales of a step: nibble types a x4, b x4, a x4, b x4; Q8_0 a x8, b x8. */
#define IDX_NIBBLE(k) _mm512_setr_epi32(k, k, k, k, k + 1, k + 1, k + 1, k + 1, k, k, k, k, k + 1, k + 1, k + 1, k + 1)
#define IDX_BYTES(k) _mm512_setr_epi32(k, k, k, k, k, k, k, k, k + 1, k + 1, k + 1, k + 1, k + 1, k + 1, k + 1, k + 1)

/* One dot kernel: PAIR / ONE / IDX as above; MIN 1 adds m_x * s_y. */
#define VEC_DOT(NAME, XT, YT, XIDX, YIDX, PAIR, ONE, IDX, MIN)                                                     \
    static void NAME(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)    \
    {                                                                                                 \
        const XT *x = vx;                                                                             \
        const YT *y = vy;                                                                             \
        const int64_t nb = n / 32;                                                                    \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;                                                     \
        __m128 am = _mm_setzero_ps();                                                                 \
        __m256 am8 = _mm256_setzero_ps();                                                             \
        int64_t i = 0;                                                                                \
        for (; i + 4 <= nb; i += 4) {                                                                 \
            /* [d_x d_y of blocks i..i+3 | m_x s_y of them (types with a minimum)] */                 \
            const __m256 p = SCALES4_##MIN(x + i, y + i, XT, YT, XIDX, YIDX);                          \
            MIN_TERM4(MIN, p);                                                                        \
            const __m512 d = _mm512_castps256_ps512(p);                                               \
            a0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(IDX(0), d), _mm512_cvtepi32_ps(PAIR(x + i, y + i)), a0); \
            a1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(IDX(2), d), _mm512_cvtepi32_ps(PAIR(x + i + 2, y + i + 2)), a1); \
        }                                                                                             \
        if (i + 2 <= nb) {                                                                            \
            const __m512 d = _mm512_castps128_ps512(_mm_mul_ps(HALVES2(x + i, d), HALVES2(y + i, d)));  \
            MIN_TERM2(MIN, x + i, y + i);                                                             \
            a0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(IDX(0), d), _mm512_cvtepi32_ps(PAIR(x + i, y + i)), a0); \
            i += 2;                                                                                   \
        }                                                                                             \
        float tail = 0.0f;                                                                            \
        if (i < nb) {                                                                                 \
            const float d = _cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d);                                    \
            tail = hsum_ps8(_mm256_mul_ps(_mm256_set1_ps(d), ONE(x + i, y + i)));                      \
            MIN_TERM1(MIN, x + i, y + i);                                                             \
        }                                                                                             \
        am = _mm_add_ps(am, _mm256_extractf128_ps(am8, 1));                                           \
        *s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + hsum_ps4(am) + tail;                       \
    }

/* The scales of 4 blocks, and the m_x * s_y terms (types with a minimum only:
 * the MIN argument picks). */
#define SCALES4_0(xp, yp, XT, YT, XIDX, YIDX) _mm256_castps128_ps256(_mm_mul_ps(HALVES4(xp, d), HALVES4(yp, d)))
#define SCALES4_1(xp, yp, XT, YT, XIDX, YIDX) \
    _mm256_mul_ps(scales_4blocks(xp, sizeof(XT), XIDX), scales_4blocks(yp, sizeof(YT), YIDX))
#define MIN_TERM4(MIN, p) MIN_TERM4_##MIN(p)
#define MIN_TERM2(MIN, xp, yp) MIN_TERM2_##MIN(xp, yp)
#define MIN_TERM1(MIN, xp, yp) MIN_TERM1_##MIN(xp, yp)
#define MIN_TERM4_0(p) ((void)0)
#define MIN_TERM2_0(xp, yp) ((void)0)
#define MIN_TERM1_0(xp, yp) ((void)0)
#define MIN_TERM4_1(p) (am8 = _mm256_add_ps(am8, (p)))
#define MIN_TERM2_1(xp, yp) (am = _mm_fmadd_ps(HALVES2(xp, m), HALVES2(yp, s), am))
#define MIN_TERM1_1(xp, yp) (tail += _cvtsh_ss((xp)->m) * _cvtsh_ss((yp)->s))

VEC_DOT(vec_dot_q4_0_vnni, block_q4_0, block_q8_0, none, none, PAIR_Q4_0, ONE_Q4_0, IDX_NIBBLE, 0)
VEC_DOT(vec_dot_q4_1_vnni, block_q4_1, block_q8_1, IDX_Q4_1, IDX_Q8_1, PAIR_Q4_1, ONE_Q4_1, IDX_NIBBLE, 1)
VEC_DOT(vec_dot_q5_0_vnni, block_q5_0, block_q8_0, none, none, PAIR_Q5_0, ONE_Q5_0, IDX_NIBBLE, 0)
VEC_DOT(vec_dot_q5_1_vnni, block_q5_1, block_q8_1, IDX_Q5_1, IDX_Q8_1, PAIR_Q5_1, ONE_Q5_1, IDX_NIBBLE, 1)
VEC_DOT(vec_dot_q8_0_vnni, block_q8_0, block_q8_0, none, none, PAIR_Q8_0, ONE_Q8_0, IDX_BYTES, 0)

void kt_register_vnni_legacy(kt_traits *table)
{
    table[KT_Q4_0].vec_dot = vec_dot_q4_0_vnni;
    table[KT_Q4_1].vec_dot = vec_dot_q4_1_vnni;
    table[KT_Q5_0].vec_dot = vec_dot_q5_0_vnni;
    table[KT_Q5_1].vec_dot = vec_dot_q5_1_vnni;
    table[KT_Q8_0].vec_dot = vec_dot_q8_0_vnni;
}

#else

void kt_register_vnni_legacy(kt_traits *table)
{
    (void)table;
}

#endif
