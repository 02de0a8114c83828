/* AVX2 + FMA + F16C kernels for the float types: F32·F32, F16·F16, BF16·BF16
 * dot products, and the F16 / BF16 conversions (activations to F16/BF16 rows,
 * and back to float).
 *
 * Dot products: every product is formed in f32 (exact for F16 and BF16, whose
 * significands are short) and summed by FMA into four 8-lane accumulators, 32
 * elements a step; the accumulators are added at the end, the last n % 32
 * elements one by one. Only the summation order differs from the reference.
 *
 * Conversions give the reference's bits exactly:
 *  - float -> f16: VCVTPS2PH rounds to nearest even like kt_f32_to_half, but
 *    keeps a NaN's payload where the reference writes the bare quiet NaN
 *    (sign | 0x7e00); NaN lanes are masked down to that.
 *  - f16 -> float: VCVTPH2PS quiets a signalling NaN (sets bit 22), the
 *    reference keeps it signalling; when a group of 8 has one, bit 22 of those
 *    lanes is cleared again.
 *  - float <-> bf16: integer ops, the same formula as fp16.h.
 * Nothing here allocates; every load is unaligned. */
#include "quant.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "fp16.h"
#include "simd_x86.h"

static inline __m256 sum4_ps8(__m256 a0, __m256 a1, __m256 a2, __m256 a3)
{
    return _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
}

/* ---- F32 ------------------------------------------------------------------ */

static void vec_dot_f32_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const float *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    float sum = kt_hsum256_ps(sum4_ps8(a0, a1, a2, a3));
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

/* ---- F16 ------------------------------------------------------------------ */

static inline __m256 load_f16x8(const kt_half *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static void vec_dot_f16_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const kt_half *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(load_f16x8(x + i), load_f16x8(y + i), a0);
        a1 = _mm256_fmadd_ps(load_f16x8(x + i + 8), load_f16x8(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(load_f16x8(x + i + 16), load_f16x8(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(load_f16x8(x + i + 24), load_f16x8(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(load_f16x8(x + i), load_f16x8(y + i), a0);
    float sum = kt_hsum256_ps(sum4_ps8(a0, a1, a2, a3));
    for (; i < n; i++)
        sum += _cvtsh_ss(x[i]) * _cvtsh_ss(y[i]);
    *s = sum;
}

/* 8 halves -> 8 floats, bit-exact with kt_half_to_f32 (signalling NaNs kept). */
static inline __m256 f16x8_to_f32_exact(__m128i h)
{
    __m256 f = _mm256_cvtph_ps(h);
    const __m128i mag = _mm_and_si128(h, _mm_set1_epi16(0x7fff));
    /* signalling NaN: exponent all ones, quiet bit (0x200) clear, payload != 0 */
    const __m128i snan = _mm_and_si128(_mm_cmpgt_epi16(mag, _mm_set1_epi16(0x7c00)),
                                       _mm_cmpgt_epi16(_mm_set1_epi16(0x7e00), mag));
    if (!_mm_testz_si128(snan, snan)) {
        const __m256i lanes = _mm256_cvtepi16_epi32(snan); /* 0 or -1 per lane */
        const __m256i quiet = _mm256_and_si256(lanes, _mm256_set1_epi32(0x00400000));
        f = _mm256_castsi256_ps(_mm256_andnot_si256(quiet, _mm256_castps_si256(f)));
    }
    return f;
}

static void to_float_f16_avx2(const void *restrict src, float *restrict dst, int64_t n)
{
    const kt_half *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, f16x8_to_f32_exact(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++)
        dst[i] = kt_half_to_f32(h[i]);
}

/* 8 floats -> 8 halves, bit-exact with kt_f32_to_half (NaN -> sign | 0x7e00). */
static inline __m128i f32x8_to_f16_exact(__m256 f)
{
    const __m128i h = _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 nan32 = _mm256_cmp_ps(f, f, _CMP_UNORD_Q);
    const __m128i nan16 = _mm_packs_epi32(_mm256_castsi256_si128(_mm256_castps_si256(nan32)),
                                          _mm256_extracti128_si256(_mm256_castps_si256(nan32), 1));
    return _mm_andnot_si128(_mm_and_si128(nan16, _mm_set1_epi16(0x01ff)), h);
}

static void from_float_f16_avx2(const float *restrict src, void *restrict dst, int64_t n)
{
    kt_half *h = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm_storeu_si128((__m128i *)(h + i), f32x8_to_f16_exact(_mm256_loadu_ps(src + i)));
        _mm_storeu_si128((__m128i *)(h + i + 8), f32x8_to_f16_exact(_mm256_loadu_ps(src + i + 8)));
    }
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i), f32x8_to_f16_exact(_mm256_loadu_ps(src + i)));
    for (; i < n; i++)
        h[i] = kt_f32_to_half(src[i]);
}

/* ---- BF16 ----------------------------------------------------------------- */

/* 16 bf16 values as two vectors of 8 floats: the even-indexed elements (low
 * halves of each 32-bit pair, shifted up) and the odd ones (high halves, low
 * bits cleared). A dot product only needs x and y split the same way. */
#define BF16_EVEN(v) _mm256_castsi256_ps(_mm256_slli_epi32((v), 16))
#define BF16_ODD(v) _mm256_castsi256_ps(_mm256_and_si256((v), _mm256_set1_epi32((int)0xffff0000u)))

static void vec_dot_bf16_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const kt_bf16 *x = vx, *y = vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + i));
        const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y + i));
        const __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + i + 16));
        const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y + i + 16));
        a0 = _mm256_fmadd_ps(BF16_EVEN(x0), BF16_EVEN(y0), a0);
        a1 = _mm256_fmadd_ps(BF16_ODD(x0), BF16_ODD(y0), a1);
        a2 = _mm256_fmadd_ps(BF16_EVEN(x1), BF16_EVEN(y1), a2);
        a3 = _mm256_fmadd_ps(BF16_ODD(x1), BF16_ODD(y1), a3);
    }
    for (; i + 16 <= n; i += 16) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + i));
        const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y + i));
        a0 = _mm256_fmadd_ps(BF16_EVEN(x0), BF16_EVEN(y0), a0);
        a1 = _mm256_fmadd_ps(BF16_ODD(x0), BF16_ODD(y0), a1);
    }
    float sum = kt_hsum256_ps(sum4_ps8(a0, a1, a2, a3));
    for (; i < n; i++)
        sum += kt_bf16_to_f32(x[i]) * kt_bf16_to_f32(y[i]);
    *s = sum;
}

static void to_float_bf16_avx2(const void *restrict src, float *restrict dst, int64_t n)
{
    const kt_bf16 *h = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(w, 16));
    }
    for (; i < n; i++)
        dst[i] = kt_bf16_to_f32(h[i]);
}

/* 8 floats -> 8 bf16 as 32-bit lanes (high halves zero), as kt_f32_to_bf16:
 * round to nearest even; a NaN keeps its top bits and is made quiet. */
static inline __m256i f32x8_to_bf16_lanes(__m256 f)
{
    const __m256i x = _mm256_castps_si256(f);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(x, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(64));
    const __m256 nan = _mm256_cmp_ps(f, f, _CMP_UNORD_Q);
    return _mm256_blendv_epi8(rounded, quiet, _mm256_castps_si256(nan));
}

static void from_float_bf16_avx2(const float *restrict src, void *restrict dst, int64_t n)
{
    kt_bf16 *h = dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i lo = f32x8_to_bf16_lanes(_mm256_loadu_ps(src + i));
        const __m256i hi = f32x8_to_bf16_lanes(_mm256_loadu_ps(src + i + 8));
        /* packus works per 128-bit lane: [lo0 hi0 lo1 hi1] -> reorder the quads */
        const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), _MM_SHUFFLE(3, 1, 2, 0));
        _mm256_storeu_si256((__m256i *)(h + i), packed);
    }
    for (; i < n; i++)
        h[i] = kt_f32_to_bf16(src[i]);
}

void kt_register_avx2_float(kt_traits *table)
{
    table[KT_F32].vec_dot = vec_dot_f32_avx2;
    table[KT_F16].vec_dot = vec_dot_f16_avx2;
    table[KT_F16].to_float = to_float_f16_avx2;
    table[KT_F16].from_float = from_float_f16_avx2;
    table[KT_F16].quantize = from_float_f16_avx2;
    table[KT_BF16].vec_dot = vec_dot_bf16_avx2;
    table[KT_BF16].to_float = to_float_bf16_avx2;
    table[KT_BF16].from_float = from_float_bf16_avx2;
    table[KT_BF16].quantize = from_float_bf16_avx2;
}

#else

void kt_register_avx2_float(kt_traits *table)
{
    (void)table;
}

#endif
