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

#include "legacy_avx512_dot.h"

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
