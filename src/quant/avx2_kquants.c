/* AVX2 kernels for the K-quants: Q2_K..Q6_K rows dotted with Q8_K activations,
 * and the Q8_K activation quantizer.
 *
 * The dots keep the reference's arithmetic: per sub-block an exact integer dot
 * (maddubs of the unsigned levels with the signed activations, then madd with
 * the sub-block's scale as int16), the mins (Q2_K, Q4_K, Q5_K) and the level
 * offsets of the signed types (Q3_K: 4, Q6_K: 32) through Q8_K's bsums, and
 * float only once per block: d * isum - dmin * summs. maddubs cannot saturate
 * here: its pair sums stay below 2 * 63 * 128 in magnitude. */
#include "quant.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "blocks.h"
#include "ref.h"
#include "kquants_x86.h"
#include "simd_x86.h"

/* Q2_K ------------------------------------------------------------------- */

/* Levels of group k (elements 32k..32k+31 of half h) times the activations,
 * times the scales of their two sub-blocks, added to acc. */
KQ_ALWAYS_INLINE __m256i q2_k_group(__m256i acc, __m256i qv, const int8_t *y8, __m256i sc, int h, int k)
{
    const __m256i l = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * k), _mm256_set1_epi8(3));
    const __m256i p = _mm256_maddubs_epi16(l, kt_loadu256(y8 + 128 * h + 32 * k));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_shuffle_epi8(sc, kq_pick1(4 * h + k))));
}

static void vec_dot_q2_k_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q2_K *x = vx;
    const block_q8_K *y = vy;
    const __m128i m4 = _mm_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m128 dd = kq_d_dmin(&x[i].d, y[i].d);
        const __m128i sc8 = kt_loadu128(x[i].scales);
        const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
        const __m256i summs = _mm256_madd_epi16(mins, kt_loadu256(y[i].bsums));
        accm = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dd)), _mm256_cvtepi32_ps(summs), accm);
        const __m256i sc = kq_even_odd_scales(_mm_and_si128(sc8, m4));
        const __m256i q0 = kt_loadu256(x[i].qs), q1 = kt_loadu256(x[i].qs + 32);
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        s0 = q2_k_group(s0, q0, y[i].qs, sc, 0, 0);
        s1 = q2_k_group(s1, q0, y[i].qs, sc, 0, 1);
        s0 = q2_k_group(s0, q0, y[i].qs, sc, 0, 2);
        s1 = q2_k_group(s1, q0, y[i].qs, sc, 0, 3);
        s0 = q2_k_group(s0, q1, y[i].qs, sc, 1, 0);
        s1 = q2_k_group(s1, q1, y[i].qs, sc, 1, 1);
        s0 = q2_k_group(s0, q1, y[i].qs, sc, 1, 2);
        s1 = q2_k_group(s1, q1, y[i].qs, sc, 1, 3);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    *s = kt_hsum256_ps(acc) - kt_hsum256_ps(accm);
}

/* Q3_K ------------------------------------------------------------------- */

/* Bit g of every byte moved to bit 2 (the rest cleared); bits entering a byte
 * from its neighbour in the 16-bit shifts land outside bit 2. */
KQ_ALWAYS_INLINE __m256i q3_k_high(__m256i hm, int g)
{
    const __m256i v = g < 2 ? _mm256_slli_epi16(hm, 2 - g) : g > 2 ? _mm256_srli_epi16(hm, g - 2) : hm;
    return _mm256_and_si256(v, _mm256_set1_epi8(4));
}

KQ_ALWAYS_INLINE __m256i q3_k_group(__m256i acc, __m256i qv, __m256i hm, const int8_t *y8, __m256i sc, int h, int k)
{
    const __m256i low = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * k), _mm256_set1_epi8(3));
    const __m256i l = _mm256_or_si256(low, q3_k_high(hm, 4 * h + k));
    const __m256i p = _mm256_maddubs_epi16(l, kt_loadu256(y8 + 128 * h + 32 * k));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_shuffle_epi8(sc, kq_pick1(4 * h + k))));
}

static void vec_dot_q3_k_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * _cvtsh_ss(x[i].d);
        const __m128i sc8 = kq_q3_k_scales(x[i].scales);
        const __m256i sc = kq_even_odd_scales(sc8);
        /* Levels are q - 4 with q = low | high << 2 in [0, 7]. */
        const __m256i offs = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), kt_loadu256(y[i].bsums));
        const __m256i hm = kt_loadu256(x[i].hmask);
        const __m256i q0 = kt_loadu256(x[i].qs), q1 = kt_loadu256(x[i].qs + 32);
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        s0 = q3_k_group(s0, q0, hm, y[i].qs, sc, 0, 0);
        s1 = q3_k_group(s1, q0, hm, y[i].qs, sc, 0, 1);
        s0 = q3_k_group(s0, q0, hm, y[i].qs, sc, 0, 2);
        s1 = q3_k_group(s1, q0, hm, y[i].qs, sc, 0, 3);
        s0 = q3_k_group(s0, q1, hm, y[i].qs, sc, 1, 0);
        s1 = q3_k_group(s1, q1, hm, y[i].qs, sc, 1, 1);
        s0 = q3_k_group(s0, q1, hm, y[i].qs, sc, 1, 2);
        s1 = q3_k_group(s1, q1, hm, y[i].qs, sc, 1, 3);
        const __m256i isum = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), _mm256_slli_epi32(offs, 2));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    *s = kt_hsum256_ps(acc);
}

/* Q4_K and Q5_K ------------------------------------------------------------ */

/* Chunk c (elements 64c..64c+63): levels lo (sub-block 2c) and hi (2c + 1). */
KQ_ALWAYS_INLINE __m256i k4_chunk(__m256i acc, __m256i lo, __m256i hi, const int8_t *y8, __m256i sc, int c)
{
    const __m256i p0 = _mm256_maddubs_epi16(lo, kt_loadu256(y8 + 64 * c));
    const __m256i p1 = _mm256_maddubs_epi16(hi, kt_loadu256(y8 + 64 * c + 32));
    return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(p0, _mm256_shuffle_epi8(sc, kq_pick1(2 * c))),
                                                  _mm256_madd_epi16(p1, _mm256_shuffle_epi8(sc, kq_pick1(2 * c + 1)))));
}

KQ_ALWAYS_INLINE __m256i q4_k_chunk(__m256i acc, const uint8_t *q4, const int8_t *y8, __m256i sc, int c)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const __m256i qv = kt_loadu256(q4 + 32 * c);
    return k4_chunk(acc, _mm256_and_si256(qv, m4), _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4), y8, sc, c);
}

static void vec_dot_q4_k_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m128 dd = kq_d_dmin(&x[i].d, y[i].d);
        const __m128i scm = kq_k4_scales_mins(x[i].scales);
        const __m256i summs = kq_k4_min_sums(scm, y[i].bsums);
        accm = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dd)), _mm256_cvtepi32_ps(summs), accm);
        /* The 8 scales as int16 in both lanes. */
        const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scm));
        __m256i s0 = q4_k_chunk(_mm256_setzero_si256(), x[i].qs, y[i].qs, sc, 0);
        __m256i s1 = q4_k_chunk(_mm256_setzero_si256(), x[i].qs, y[i].qs, sc, 1);
        s0 = q4_k_chunk(s0, x[i].qs, y[i].qs, sc, 2);
        s1 = q4_k_chunk(s1, x[i].qs, y[i].qs, sc, 3);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    *s = kt_hsum256_ps(acc) - kt_hsum256_ps(accm);
}

/* Fifth bits: bit 2c of qh for the low nibbles, 2c + 1 for the high ones,
 * moved to bit 4 (what a 16-bit shift brings in from the neighbour byte is
 * masked off). */
KQ_ALWAYS_INLINE __m256i q5_k_chunk(__m256i acc, const uint8_t *q4, __m256i qh, const int8_t *y8, __m256i sc, int c)
{
    const __m256i m4 = _mm256_set1_epi8(0xF), m16 = _mm256_set1_epi8(0x10);
    const __m256i qv = kt_loadu256(q4 + 32 * c);
    const int b = 2 * c;
    const __m256i h0 = b <= 4 ? _mm256_slli_epi16(qh, 4 - b) : _mm256_srli_epi16(qh, b - 4);
    const __m256i h1 = b + 1 <= 4 ? _mm256_slli_epi16(qh, 3 - b) : _mm256_srli_epi16(qh, b - 3);
    const __m256i lo = _mm256_or_si256(_mm256_and_si256(qv, m4), _mm256_and_si256(h0, m16));
    const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 4), m4), _mm256_and_si256(h1, m16));
    return k4_chunk(acc, lo, hi, y8, sc, c);
}

static void vec_dot_q5_k_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q5_K *x = vx;
    const block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m128 dd = kq_d_dmin(&x[i].d, y[i].d);
        const __m128i scm = kq_k4_scales_mins(x[i].scales);
        const __m256i summs = kq_k4_min_sums(scm, y[i].bsums);
        accm = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dd)), _mm256_cvtepi32_ps(summs), accm);
        const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scm));
        const __m256i qh = kt_loadu256(x[i].qh);
        __m256i s0 = q5_k_chunk(_mm256_setzero_si256(), x[i].qs, qh, y[i].qs, sc, 0);
        __m256i s1 = q5_k_chunk(_mm256_setzero_si256(), x[i].qs, qh, y[i].qs, sc, 1);
        s0 = q5_k_chunk(s0, x[i].qs, qh, y[i].qs, sc, 2);
        s1 = q5_k_chunk(s1, x[i].qs, qh, y[i].qs, sc, 3);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    *s = kt_hsum256_ps(acc) - kt_hsum256_ps(accm);
}

/* Q6_K ------------------------------------------------------------------- */

/* Half h (elements 128h..128h+127) of a Q6_K block against the activations. */
KQ_ALWAYS_INLINE __m256i q6_k_half(__m256i acc, const block_q6_K *x, const int8_t *y8, __m256i sc, int h)
{
    __m256i l[4];
    kq_q6_k_levels(x, h, l);
    y8 += 128 * h;
    const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(l[0], kt_loadu256(y8)), _mm256_shuffle_epi8(sc, kq_pick1(4 * h)));
    const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(l[1], kt_loadu256(y8 + 32)), _mm256_shuffle_epi8(sc, kq_pick1(4 * h + 1)));
    const __m256i p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(l[2], kt_loadu256(y8 + 64)), _mm256_shuffle_epi8(sc, kq_pick1(4 * h + 2)));
    const __m256i p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(l[3], kt_loadu256(y8 + 96)), _mm256_shuffle_epi8(sc, kq_pick1(4 * h + 3)));
    return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_add_epi32(p0, p1), _mm256_add_epi32(p2, p3)));
}

static void vec_dot_q6_k_avx2(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q6_K *x = vx;
    const block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * _cvtsh_ss(x[i].d);
        const __m128i sc8 = kt_loadu128(x[i].scales);
        const __m256i sc = kq_even_odd_scales(sc8);
        /* Levels are q - 32 with q in [0, 63]. */
        const __m256i offs = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), kt_loadu256(y[i].bsums));
        const __m256i s0 = q6_k_half(_mm256_setzero_si256(), &x[i], y[i].qs, sc, 0);
        const __m256i s1 = q6_k_half(_mm256_setzero_si256(), &x[i], y[i].qs, sc, 1);
        const __m256i isum = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), _mm256_slli_epi32(offs, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    *s = kt_hsum256_ps(acc);
}

/* Q8_K activations ---------------------------------------------------------- */

/* Byte for byte kt_from_float_q8_k_ref: the same max (first of the largest
 * magnitudes; NaN never wins), the same float iscale and products, and
 * cvtps's round-half-even is the reference's nearest-int for |v| <= 127.
 * A level of -128 can only come from a non-finite product (NaN or Inf input,
 * or an infinite iscale); such a block is redone by the reference, which
 * defines what those give. */
static void from_float_q8_k_avx2(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_K *b = dst;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        __m256 m0 = _mm256_setzero_ps(), m1 = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 16) {
            /* maxps returns its second operand when either is NaN. */
            m0 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(src + j), absmask), m0);
            m1 = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(src + j + 8), absmask), m1);
        }
        const float amax = kt_hmax256_ps(_mm256_max_ps(m0, m1));
        if (amax == 0.f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        const __m256 va = _mm256_set1_ps(amax);
        int first = 0;
        for (int j = 0; j < QK_K; j += 8) {
            const int mk = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(src + j), absmask), va, _CMP_EQ_OQ));
            if (mk) {
                first = j + __builtin_ctz((unsigned)mk);
                break;
            }
        }
        const float iscale = -127.f / src[first];
        const __m256 vs = _mm256_set1_ps(iscale);
        __m256i lowest = _mm256_set1_epi8(127);
        __m256i sums[8];
        for (int j = 0; j < 8; j++) {
            const float *p = src + 32 * j;
            const __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(p), vs));
            const __m256i bb = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(p + 8), vs));
            const __m256i c = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(p + 16), vs));
            const __m256i dd = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(p + 24), vs));
            const __m256i q = _mm256_permutevar8x32_epi32(
                _mm256_packs_epi16(_mm256_packs_epi32(a, bb), _mm256_packs_epi32(c, dd)), order);
            _mm256_storeu_si256((__m256i *)(b[i].qs + 32 * j), q);
            lowest = _mm256_min_epi8(lowest, q);
            /* 4 sums of 4 per lane: elements 32j + 0..15 low, 32j + 16..31 high. */
            sums[j] = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q), ones16);
        }
        if (_mm256_movemask_epi8(_mm256_cmpeq_epi8(lowest, _mm256_set1_epi8(-128)))) {
            kt_from_float_q8_k_ref(src, &b[i], QK_K);
            continue;
        }
        /* low lane: bsums 0, 2, 4, 6 | high lane: 1, 3, 5, 7; then 8..15 alike. */
        const __m256i e0 = _mm256_hadd_epi32(_mm256_hadd_epi32(sums[0], sums[1]), _mm256_hadd_epi32(sums[2], sums[3]));
        const __m256i e1 = _mm256_hadd_epi32(_mm256_hadd_epi32(sums[4], sums[5]), _mm256_hadd_epi32(sums[6], sums[7]));
        const __m256i p = _mm256_packs_epi32(e0, e1);
        const __m128i even = _mm256_castsi256_si128(p), odd = _mm256_extracti128_si256(p, 1);
        _mm_storeu_si128((__m128i *)b[i].bsums, _mm_unpacklo_epi16(even, odd));
        _mm_storeu_si128((__m128i *)(b[i].bsums + 8), _mm_unpackhi_epi16(even, odd));
        b[i].d = 1 / iscale;
    }
}

void kt_register_avx2_kquants(kt_traits *table)
{
    table[KT_Q2_K].vec_dot = vec_dot_q2_k_avx2;
    table[KT_Q3_K].vec_dot = vec_dot_q3_k_avx2;
    table[KT_Q4_K].vec_dot = vec_dot_q4_k_avx2;
    table[KT_Q5_K].vec_dot = vec_dot_q5_k_avx2;
    table[KT_Q6_K].vec_dot = vec_dot_q6_k_avx2;
    table[KT_Q8_K].from_float = from_float_q8_k_avx2;
}

#else
void kt_register_avx2_kquants(kt_traits *table)
{
    (void)table;
}
#endif
