/* AVX2 kernels for the legacy quants: the dot products (legacy_avx2.h, with
 * VPMADDUBSW + VPMADDWD) and the activation quantizers Q8_0 and Q8_1.
 *
 * Quantizers: bit-identical to kt_from_float_q8_0_ref / _q8_1_ref, including
 * NaN / Inf inputs: amax skips NaNs (MAXPS returns its second operand when
 * either is NaN), q = round-half-even(x * id) via VCVTPS2DQ in the default
 * rounding mode (as rintf), clamped to 127 above and saturated to -128 below by
 * the packs, NaN products -> 0. */
#include "quant.h"

#if defined(__x86_64__)
#include "legacy_avx2.h"

/* ---- activation quantizers -------------------------------------------------- */

/* One block of 32 floats -> 32 int8 in qs, rounded as the reference does;
 * d = amax / 127 (unrounded) in *d_out. Returns the 32 bytes (for Q8_1's sum). */
static inline __m256i quantize_block32(const float *src, int8_t *qs, float *d_out)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 v0 = _mm256_loadu_ps(src), v1 = _mm256_loadu_ps(src + 8);
    const __m256 v2 = _mm256_loadu_ps(src + 16), v3 = _mm256_loadu_ps(src + 24);
    /* max(|v|, acc): a NaN |v| yields acc, so NaNs are skipped as in the reference */
    __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_setzero_ps());
    m = _mm256_max_ps(_mm256_andnot_ps(sign, v1), m);
    m = _mm256_max_ps(_mm256_andnot_ps(sign, v2), m);
    m = _mm256_max_ps(_mm256_andnot_ps(sign, v3), m);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h);
    *d_out = amax / 127.0f;
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    const __m256 top = _mm256_set1_ps(127.0f);
    __m256i q[4];
    const __m256 vs[4] = { v0, v1, v2, v3 };
    for (int k = 0; k < 4; k++) {
        __m256 p = _mm256_mul_ps(vs[k], id);
        p = _mm256_min_ps(top, p);                                      /* +Inf -> 127, NaN stays NaN */
        p = _mm256_and_ps(p, _mm256_cmp_ps(p, p, _CMP_ORD_Q));          /* NaN -> 0 */
        q[k] = _mm256_cvtps_epi32(p);                                   /* rounds half to even */
    }
    /* packs interleave 128-bit lanes: [q0l q1l q0h q1h], [q2l q3l q2h q3h] ->
     * [q0l q1l q2l q3l | q0h q1h q2h q3h]; the dword permute restores order. */
    const __m256i w01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i w23 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i b = _mm256_packs_epi16(w01, w23);
    const __m256i out = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)qs, out);
    return out;
}

static void from_float_q8_0_avx2(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, src += QK8_0) {
        float d;
        quantize_block32(src, b[i].qs, &d);
        b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    }
}

static void from_float_q8_1_avx2(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK8_1; i++, src += QK8_1) {
        float d;
        const __m256i q = quantize_block32(src, b[i].qs, &d);
        /* sum of signed bytes: (q ^ 0x80) are q + 128 unsigned; SAD against 0 sums them */
        const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
        const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
        const int sum = (int)(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1)) - 128 * QK8_1;
        b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        b[i].s = _cvtss_sh(d * (float)sum, _MM_FROUND_TO_NEAREST_INT);
    }
}

void kt_register_avx2_legacy(kt_traits *table)
{
    legacy_avx2_register_dots(table);
    table[KT_Q8_0].from_float = from_float_q8_0_avx2;
    table[KT_Q8_1].from_float = from_float_q8_1_avx2;
}

#else

void kt_register_avx2_legacy(kt_traits *table)
{
    (void)table;
}

#endif
