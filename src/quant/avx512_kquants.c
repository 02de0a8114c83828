/* AVX-512 (F/BW/VL/DQ) kernels for the K-quants: the Q8_K activation
 * quantizer, 16 floats a step.
 *
 * The vec_dots stay AVX2's at this level: 512-bit maddubs/madd versions
 * measured slower than the AVX2 ones on the development machine (AMD Zen 4,
 * which runs 512-bit operations at 256-bit throughput), and without VNNI
 * there is nothing else AVX-512 shortens. With VNNI see vnni_kquants.c. */
#include "quant.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "blocks.h"
#include "ref.h"
#include "simd_x86.h"

/* Byte for byte kt_from_float_q8_k_ref (see avx2_kquants.c for why): vpmovsdb
 * saturates as the reference clamps, and a -128 marks a non-finite product,
 * whose block the reference redoes. */
static void from_float_q8_k_avx512(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_K *b = dst;
    const __m512 absmask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    const __m512i bias = _mm512_set1_epi8((char)0x80), ones16 = _mm512_set1_epi16(1);
    const __m512i off = _mm512_set1_epi32(16 * 128);
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        __m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
        for (int j = 0; j < QK_K; j += 32) {
            m0 = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(src + j), absmask), m0);
            m1 = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(src + j + 16), absmask), m1);
        }
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(m0, m1));
        if (amax == 0.f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        const __m512 va = _mm512_set1_ps(amax);
        int first = 0;
        for (int j = 0; j < QK_K; j += 16) {
            const unsigned k = _mm512_cmp_ps_mask(_mm512_and_ps(_mm512_loadu_ps(src + j), absmask), va, _CMP_EQ_OQ);
            if (k) {
                first = j + __builtin_ctz(k);
                break;
            }
        }
        const float iscale = -127.f / src[first];
        const __m512 vs = _mm512_set1_ps(iscale);
        __m512i lowest = _mm512_set1_epi8(127);
        __m128i s8[4];
        for (int j = 0; j < 4; j++) {
            const float *p = src + 64 * j;
            const __m128i q0 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(p), vs)));
            const __m128i q1 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(p + 16), vs)));
            const __m128i q2 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(p + 32), vs)));
            const __m128i q3 = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(p + 48), vs)));
            const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(q1, q0)), _mm256_set_m128i(q3, q2), 1);
            _mm512_storeu_si512(b[i].qs + 64 * j, q);
            lowest = _mm512_min_epi8(lowest, q);
            /* sums of 8 (q + 128), two per sub-block of 16 */
            s8[j] = _mm512_cvtepi64_epi16(_mm512_sad_epu8(_mm512_xor_si512(q, bias), _mm512_setzero_si512()));
        }
        if (_mm512_cmpeq_epi8_mask(lowest, _mm512_set1_epi8(-128))) {
            kt_from_float_q8_k_ref(src, &b[i], QK_K);
            continue;
        }
        const __m512i sums = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(s8[1], s8[0])),
                                                _mm256_set_m128i(s8[3], s8[2]), 1);
        const __m512i bs = _mm512_sub_epi32(_mm512_madd_epi16(sums, ones16), off);
        _mm256_storeu_si256((__m256i *)b[i].bsums, _mm512_cvtepi32_epi16(bs));
        b[i].d = 1 / iscale;
    }
}

void kt_register_avx512_kquants(kt_traits *table)
{
    table[KT_Q8_K].from_float = from_float_q8_k_avx512;
}

#else
void kt_register_avx512_kquants(kt_traits *table)
{
    (void)table;
}
#endif
