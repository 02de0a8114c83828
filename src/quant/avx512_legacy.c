/* AVX-512 (F/BW/VL/DQ) kernels for the legacy quants: Q4_0·Q8_0, Q4_1·Q8_1,
 * Q5_0·Q8_0, Q5_1·Q8_1, Q8_0·Q8_0 dot products, and the Q8_0 / Q8_1
 * activation quantizers.
 *
 * Dot products take two blocks (64 values) per 512-bit register, four blocks a
 * step into two accumulators:
 *  - 4- and 5-bit weights: the packed nibbles of blocks a and b are loaded
 *    together and unpacked to 128-bit lanes [a 0..15 | b 0..15 | a 16..31 |
 *    b 16..31]; the activations are shuffled to the same order (VSHUFI64X2).
 *    The fifth bits become a 64-bit mask in the same order and are added as
 *    +16 with a masked byte add. The level q is unsigned; Q4_0 / Q5_0 subtract
 *    offset * (pair sums of y) in int16 before VPMADDWD (no saturation: |q y
 *    pair| <= 2 * 31 * 128).
 *  - Q8_0 weights: |x| times y with x's sign applied by a masked subtract;
 *    exact for all x and for y != -128 (our activations are in -127..127).
 *  - Each block's 8 (or 2 x 4) int32 sums become floats and meet d_x * d_y in
 *    one FMA; the 4 scales of a step are converted together and spread to the
 *    lanes with VPERMPS. Q4_1 / Q5_1 add m_x * s_y, 4 blocks at a time.
 * A last odd block is done with 256-bit AVX2 ops.
 *
 * Quantizers: bit-identical to kt_from_float_q8_0_ref / _q8_1_ref, NaN and Inf
 * included (see avx2_legacy.c); VPMOVSDB saturates to int8.
 * Nothing here allocates; every load is unaligned. */
#include "quant.h"

#if defined(__x86_64__)
#include <assert.h>
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "blocks.h"
#include "legacy_avx512.h"

/* ---- integer dots (the part that differs from vnni_legacy.c) ------------------------ */

/* sum q*y - off*y per 4 bytes, q unsigned (<= 31), off <= 16: 16 int32 lanes. */
static inline __m512i dot_offset(__m512i q, __m512i y, char off)
{
    const __m512i pq = _mm512_maddubs_epi16(q, y);
    const __m512i po = _mm512_maddubs_epi16(_mm512_set1_epi8(off), y);
    return _mm512_madd_epi16(_mm512_sub_epi16(pq, po), _mm512_set1_epi16(1));
}

/* sum q*y per 4 bytes, q unsigned (<= 31). */
static inline __m512i dot_unsigned(__m512i q, __m512i y)
{
    return _mm512_madd_epi16(_mm512_maddubs_epi16(q, y), _mm512_set1_epi16(1));
}

/* sum x*y per 4 bytes, both signed, y != -128. */
static inline __m512i dot_signed(__m512i x, __m512i y)
{
    const __m512i sy = _mm512_mask_sub_epi8(y, _mm512_movepi8_mask(x), _mm512_setzero_si512(), y);
    return _mm512_madd_epi16(_mm512_maddubs_epi16(_mm512_abs_epi8(x), sy), _mm512_set1_epi16(1));
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
    const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, y), _mm256_maddubs_epi16(_mm256_set1_epi8(off), y));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

static inline __m256 dot32_unsigned(__m256i q, __m256i y)
{
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(q, y), _mm256_set1_epi16(1)));
}

static inline __m256 dot32_signed(__m256i x, __m256i y)
{
    const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

#include "legacy_avx512_dot.h"

VEC_DOT(vec_dot_q4_0_avx512, block_q4_0, block_q8_0, none, none, PAIR_Q4_0, ONE_Q4_0, IDX_NIBBLE, 0)
VEC_DOT(vec_dot_q4_1_avx512, block_q4_1, block_q8_1, IDX_Q4_1, IDX_Q8_1, PAIR_Q4_1, ONE_Q4_1, IDX_NIBBLE, 1)
VEC_DOT(vec_dot_q5_0_avx512, block_q5_0, block_q8_0, none, none, PAIR_Q5_0, ONE_Q5_0, IDX_NIBBLE, 0)
VEC_DOT(vec_dot_q5_1_avx512, block_q5_1, block_q8_1, IDX_Q5_1, IDX_Q8_1, PAIR_Q5_1, ONE_Q5_1, IDX_NIBBLE, 1)
VEC_DOT(vec_dot_q8_0_avx512, block_q8_0, block_q8_0, none, none, PAIR_Q8_0, ONE_Q8_0, IDX_BYTES, 0)

/* ---- activation quantizers ------------------------------------------------------------ */

/* One block of 32 floats -> 32 int8 in qs, rounded as the reference does;
 * d = amax / 127 (unrounded) in *d_out; returns the sum of the 32 levels. */
static inline int quantize_block32(const float *src, int8_t *qs, float *d_out)
{
    const __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
    /* max(|v|, acc): a NaN |v| yields acc, so NaNs are skipped as in the reference */
    __m512 m = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_setzero_ps());
    m = _mm512_max_ps(_mm512_abs_ps(v1), m);
    const float amax = _mm512_reduce_max_ps(m);
    *d_out = amax / 127.0f;
    const __m512 id = _mm512_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    const __m512 top = _mm512_set1_ps(127.0f);
    const __m512i low = _mm512_set1_epi32(-128);
    __m512 p0 = _mm512_min_ps(top, _mm512_mul_ps(v0, id)); /* +Inf -> 127, NaN stays NaN */
    __m512 p1 = _mm512_min_ps(top, _mm512_mul_ps(v1, id));
    /* NaN -> 0, round half to even (default mode, as rintf), -Inf/-huge -> -128 */
    const __m512i q0 = _mm512_max_epi32(_mm512_maskz_cvtps_epi32(_mm512_cmp_ps_mask(p0, p0, _CMP_ORD_Q), p0), low);
    const __m512i q1 = _mm512_max_epi32(_mm512_maskz_cvtps_epi32(_mm512_cmp_ps_mask(p1, p1, _CMP_ORD_Q), p1), low);
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtepi32_epi8(q1));
    return _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
}

static void from_float_q8_0_avx512(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, src += QK8_0) {
        float d;
        quantize_block32(src, b[i].qs, &d);
        b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    }
}

static void from_float_q8_1_avx512(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK8_1; i++, src += QK8_1) {
        float d;
        const int sum = quantize_block32(src, b[i].qs, &d);
        b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        b[i].s = _cvtss_sh(d * (float)sum, _MM_FROUND_TO_NEAREST_INT);
    }
}

void kt_register_avx512_legacy(kt_traits *table)
{
    table[KT_Q4_0].vec_dot = vec_dot_q4_0_avx512;
    table[KT_Q4_1].vec_dot = vec_dot_q4_1_avx512;
    table[KT_Q5_0].vec_dot = vec_dot_q5_0_avx512;
    table[KT_Q5_1].vec_dot = vec_dot_q5_1_avx512;
    table[KT_Q8_0].vec_dot = vec_dot_q8_0_avx512;
    table[KT_Q8_0].from_float = from_float_q8_0_avx512;
    table[KT_Q8_1].from_float = from_float_q8_1_avx512;
}

#else

void kt_register_avx512_legacy(kt_traits *table)
{
    (void)table;
}

#endif
