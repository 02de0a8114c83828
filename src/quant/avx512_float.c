/* AVX-512 (F/BW/VL/DQ) kernels for the float types: F32·F32 and BF16·BF16
 * dot products, float -> F16 and the BF16 conversions.
 *
 * F16·F16 and f16 -> float stay with the AVX2 kernels: on this family (Sapphire /
 * Emerald Rapids) the 512-bit VCVTPH2PS converts fewer halves per cycle than
 * two 256-bit ones, and the 512-bit F16 dot measured ~1.6x slower than AVX2's.
 *
 * Dot products: products in f32 (exact for F16 and BF16), summed by FMA into
 * four 16-lane accumulators, 64 elements a step; the last n % 16 elements go
 * through masked loads (zeros beyond n), so there is no scalar tail.
 * BF16 needs no conversion instruction: a 32-bit lane holding two bf16 values
 * gives the odd one as a float by clearing the low half and the even one by
 * shifting left 16. VDPBF16PS is not used: dispatch does not check for
 * AVX512_BF16, and it flushes subnormals.
 *
 * Conversions are bit-identical to fp16.h (see avx2_float.c for the NaN
 * details): float -> f16 masks NaN lanes down to sign | 0x7e00; bf16 both ways
 * by integer ops. Nothing here allocates; every load is unaligned. */
#include "quant.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "fp16.h"

static inline float sum4_ps16(__m512 a0, __m512 a1, __m512 a2, __m512 a3)
{
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

/* Mask of the first r (0..16) lanes. */
static inline __mmask16 first_lanes(int64_t r)
{
    return (__mmask16)((1u << r) - 1u);
}

/* ---- F32 ------------------------------------------------------------------ */

static void vec_dot_f32_avx512(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const float *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
    if (i < n) {
        const __mmask16 m = first_lanes(n - i);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), a1);
    }
    *s = sum4_ps16(a0, a1, a2, a3);
}

/* ---- F16 ------------------------------------------------------------------ */

/* 16 floats -> 16 halves, bit-exact with kt_f32_to_half (NaN -> sign | 0x7e00). */
static inline __m256i f32x16_to_f16_exact(__m512 f)
{
    const __m256i h = _mm512_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __mmask16 nan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
    return _mm256_mask_blend_epi16(nan, h, _mm256_and_si256(h, _mm256_set1_epi16((short)0xfe00)));
}

static void from_float_f16_avx512(const float *restrict src, void *restrict dst, int64_t n)
{
    kt_half *h = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(h + i), f32x16_to_f16_exact(_mm512_loadu_ps(src + i)));
    if (i < n) {
        const __mmask16 m = first_lanes(n - i);
        _mm256_mask_storeu_epi16(h + i, m, f32x16_to_f16_exact(_mm512_maskz_loadu_ps(m, src + i)));
    }
}

/* ---- BF16 ----------------------------------------------------------------- */

#define BF16_EVEN(v) _mm512_castsi512_ps(_mm512_slli_epi32((v), 16))
#define BF16_ODD(v) _mm512_castsi512_ps(_mm512_and_si512((v), _mm512_set1_epi32((int)0xffff0000u)))

static void vec_dot_bf16_avx512(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const kt_bf16 *x = vx, *y = vy;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512i x0 = _mm512_loadu_si512(x + i), y0 = _mm512_loadu_si512(y + i);
        const __m512i x1 = _mm512_loadu_si512(x + i + 32), y1 = _mm512_loadu_si512(y + i + 32);
        a0 = _mm512_fmadd_ps(BF16_EVEN(x0), BF16_EVEN(y0), a0);
        a1 = _mm512_fmadd_ps(BF16_ODD(x0), BF16_ODD(y0), a1);
        a2 = _mm512_fmadd_ps(BF16_EVEN(x1), BF16_EVEN(y1), a2);
        a3 = _mm512_fmadd_ps(BF16_ODD(x1), BF16_ODD(y1), a3);
    }
    for (; i + 32 <= n; i += 32) {
        const __m512i x0 = _mm512_loadu_si512(x + i), y0 = _mm512_loadu_si512(y + i);
        a0 = _mm512_fmadd_ps(BF16_EVEN(x0), BF16_EVEN(y0), a0);
        a1 = _mm512_fmadd_ps(BF16_ODD(x0), BF16_ODD(y0), a1);
    }
    if (i < n) {
        const __mmask32 m = (__mmask32)((1ull << (n - i)) - 1);
        const __m512i x0 = _mm512_maskz_loadu_epi16(m, x + i), y0 = _mm512_maskz_loadu_epi16(m, y + i);
        a2 = _mm512_fmadd_ps(BF16_EVEN(x0), BF16_EVEN(y0), a2);
        a3 = _mm512_fmadd_ps(BF16_ODD(x0), BF16_ODD(y0), a3);
    }
    *s = sum4_ps16(a0, a1, a2, a3);
}

static void to_float_bf16_avx512(const void *restrict src, float *restrict dst, int64_t n)
{
    const kt_bf16 *h = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(h + i)));
        _mm512_storeu_si512(dst + i, _mm512_slli_epi32(w, 16));
    }
    if (i < n) {
        const __mmask16 m = first_lanes(n - i);
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, h + i));
        _mm512_mask_storeu_epi32(dst + i, m, _mm512_slli_epi32(w, 16));
    }
}

/* 16 floats -> 16 bf16, as kt_f32_to_bf16: round to nearest even; a NaN keeps
 * its top bits and is made quiet. */
static inline __m256i f32x16_to_bf16(__m512 f)
{
    const __m512i x = _mm512_castps_si512(f);
    const __m512i hi = _mm512_srli_epi32(x, 16);
    const __m512i lsb = _mm512_and_si512(hi, _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(x, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
    const __m512i r = _mm512_mask_or_epi32(rounded, nan, hi, _mm512_set1_epi32(64));
    return _mm512_cvtepi32_epi16(r);
}

static void from_float_bf16_avx512(const float *restrict src, void *restrict dst, int64_t n)
{
    kt_bf16 *h = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(h + i), f32x16_to_bf16(_mm512_loadu_ps(src + i)));
    if (i < n) {
        const __mmask16 m = first_lanes(n - i);
        _mm256_mask_storeu_epi16(h + i, m, f32x16_to_bf16(_mm512_maskz_loadu_ps(m, src + i)));
    }
}

void kt_register_avx512_float(kt_traits *table)
{
    table[KT_F32].vec_dot = vec_dot_f32_avx512;
    table[KT_F16].from_float = from_float_f16_avx512;
    table[KT_F16].quantize = from_float_f16_avx512;
    table[KT_BF16].vec_dot = vec_dot_bf16_avx512;
    table[KT_BF16].to_float = to_float_bf16_avx512;
    table[KT_BF16].from_float = from_float_bf16_avx512;
    table[KT_BF16].quantize = from_float_bf16_avx512;
}

#else

void kt_register_avx512_float(kt_traits *table)
{
    (void)table;
}

#endif
