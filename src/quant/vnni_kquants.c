/* AVX-512 VNNI kernels for the K-quants (Q2_K..Q6_K rows with Q8_K
 * activations), 256 bits wide (AVX512VL forms of the VNNI instructions).
 *
 * vpdpbusd sums 4 products of unsigned levels and signed activations per int32
 * lane; those sums stay below 4 * 63 * 128 < 2^15, so two vectors of them pack
 * (packssdw, exact) into one of int16, and vpdpwssd multiplies those by the
 * sub-block scales and accumulates in one instruction. Per 64 levels that is 2
 * vpdpbusd, 1 pack, 1 shuffle for the scales and 1 vpdpwssd, where AVX2 needs
 * 2 maddubs, 2 madd, 2 shuffles and 2 adds. The integer part is exact, as in
 * the reference; the mins and the level offsets of the signed types go
 * through Q8_K's bsums, and d, dmin are applied in float once per block.
 * The Q8_K quantizer of the avx512 level stays. */
#include "quant.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kquants_x86.h"
#include "simd_x86.h"

/* 8 int32 sums of 4 consecutive q * y. */
KQ_ALWAYS_INLINE __m256i dot4(__m256i q, const int8_t *y)
{
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), q, kt_loadu256(y));
}

/* acc + the 4-sums of two level vectors (each 2 sub-blocks of 16, one per lane,
 * or one sub-block of 32) times their int16 scales, picked from sc by ctl. */
KQ_ALWAYS_INLINE __m256i scale_pair(__m256i acc, __m256i pa, __m256i pb, __m256i sc, __m256i ctl)
{
    return _mm256_dpwssd_epi32(acc, _mm256_packs_epi32(pa, pb), _mm256_shuffle_epi8(sc, ctl));
}

/* Q2_K ------------------------------------------------------------------- */

KQ_ALWAYS_INLINE __m256i q2_k_level(__m256i qv, int k)
{
    return _mm256_and_si256(_mm256_srli_epi16(qv, 2 * k), _mm256_set1_epi8(3));
}

/* Half h: groups k, k + 1 cover sub-blocks 8h + 2k .. 8h + 2k + 3; with the even/odd
 * scale layout the pair's scales are int16 elements 4h + k, 4h + k + 1 of each lane. */
KQ_ALWAYS_INLINE __m256i q2_k_half(__m256i acc, __m256i qv, const int8_t *y8, __m256i sc, int h)
{
    y8 += 128 * h;
    acc = scale_pair(acc, dot4(q2_k_level(qv, 0), y8), dot4(q2_k_level(qv, 1), y8 + 32), sc, kq_pick2(4 * h, 4 * h + 1));
    return scale_pair(acc, dot4(q2_k_level(qv, 2), y8 + 64), dot4(q2_k_level(qv, 3), y8 + 96), sc,
                      kq_pick2(4 * h + 2, 4 * h + 3));
}

static void vec_dot_q2_k_vnni(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
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
        const __m256i s0 = q2_k_half(_mm256_setzero_si256(), kt_loadu256(x[i].qs), y[i].qs, sc, 0);
        const __m256i s1 = q2_k_half(_mm256_setzero_si256(), kt_loadu256(x[i].qs + 32), y[i].qs, sc, 1);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    *s = kt_hsum256_ps(acc) - kt_hsum256_ps(accm);
}

/* Q3_K ------------------------------------------------------------------- */

/* q = low | high << 2 of group g = 4h + k, in [0, 7] (levels are q - 4). */
KQ_ALWAYS_INLINE __m256i q3_k_level(__m256i qv, __m256i hm, int h, int k)
{
    const int g = 4 * h + k;
    const __m256i low = _mm256_and_si256(_mm256_srli_epi16(qv, 2 * k), _mm256_set1_epi8(3));
    /* bit g to bit 2; a 16-bit shift brings nothing into bit 2 of a byte from its neighbour */
    const __m256i hv = g < 2 ? _mm256_slli_epi16(hm, 2 - g) : g > 2 ? _mm256_srli_epi16(hm, g - 2) : hm;
    return _mm256_or_si256(low, _mm256_and_si256(hv, _mm256_set1_epi8(4)));
}

KQ_ALWAYS_INLINE __m256i q3_k_half(__m256i acc, __m256i qv, __m256i hm, const int8_t *y8, __m256i sc, int h)
{
    y8 += 128 * h;
    acc = scale_pair(acc, dot4(q3_k_level(qv, hm, h, 0), y8), dot4(q3_k_level(qv, hm, h, 1), y8 + 32), sc,
                     kq_pick2(4 * h, 4 * h + 1));
    return scale_pair(acc, dot4(q3_k_level(qv, hm, h, 2), y8 + 64), dot4(q3_k_level(qv, hm, h, 3), y8 + 96), sc,
                      kq_pick2(4 * h + 2, 4 * h + 3));
}

static void vec_dot_q3_k_vnni(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q3_K *x = vx;
    const block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * _cvtsh_ss(x[i].d);
        const __m128i sc8 = kq_q3_k_scales(x[i].scales);
        const __m256i sc = kq_even_odd_scales(sc8);
        const __m256i offs = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), kt_loadu256(y[i].bsums));
        const __m256i hm = kt_loadu256(x[i].hmask);
        const __m256i s0 = q3_k_half(_mm256_setzero_si256(), kt_loadu256(x[i].qs), hm, y[i].qs, sc, 0);
        const __m256i s1 = q3_k_half(_mm256_setzero_si256(), kt_loadu256(x[i].qs + 32), hm, y[i].qs, sc, 1);
        const __m256i isum = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), _mm256_slli_epi32(offs, 2));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
    }
    *s = kt_hsum256_ps(acc);
}

/* Q4_K and Q5_K ------------------------------------------------------------ */

/* Chunk c: lo is sub-block 2c, hi 2c + 1; sc holds the 8 scales as int16 in both lanes. */
KQ_ALWAYS_INLINE __m256i k4_chunk(__m256i acc, __m256i lo, __m256i hi, const int8_t *y8, __m256i sc, int c)
{
    return scale_pair(acc, dot4(lo, y8 + 64 * c), dot4(hi, y8 + 64 * c + 32), sc, kq_pick2(2 * c, 2 * c + 1));
}

KQ_ALWAYS_INLINE __m256i q4_k_chunk(__m256i acc, const uint8_t *q4, const int8_t *y8, __m256i sc, int c)
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    const __m256i qv = kt_loadu256(q4 + 32 * c);
    return k4_chunk(acc, _mm256_and_si256(qv, m4), _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4), y8, sc, c);
}

static void vec_dot_q4_k_vnni(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
{
    const block_q4_K *x = vx;
    const block_q8_K *y = vy;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const __m128 dd = kq_d_dmin(&x[i].d, y[i].d);
        const __m128i scm = kq_k4_scales_mins(x[i].scales);
        const __m256i summs = kq_k4_min_sums(scm, y[i].bsums);
        accm = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dd)), _mm256_cvtepi32_ps(summs), accm);
        const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scm));
        __m256i s0 = q4_k_chunk(_mm256_setzero_si256(), x[i].qs, y[i].qs, sc, 0);
        __m256i s1 = q4_k_chunk(_mm256_setzero_si256(), x[i].qs, y[i].qs, sc, 1);
        s0 = q4_k_chunk(s0, x[i].qs, y[i].qs, sc, 2);
        s1 = q4_k_chunk(s1, x[i].qs, y[i].qs, sc, 3);
        acc = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    *s = kt_hsum256_ps(acc) - kt_hsum256_ps(accm);
}

/* Fifth bits 2c (low nibbles) and 2c + 1 (high nibbles) of qh moved to bit 4. */
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

static void vec_dot_q5_k_vnni(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
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

/* Half h, as in avx2_kquants.c: groups 0/2 from ql[64h..+32], 1/3 from ql[64h+32..+32]. */
KQ_ALWAYS_INLINE __m256i q6_k_half(__m256i acc, const block_q6_K *x, const int8_t *y8, __m256i sc, int h)
{
    const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
    const __m256i ql0 = kt_loadu256(x->ql + 64 * h), ql1 = kt_loadu256(x->ql + 64 * h + 32);
    const __m256i qh = kt_loadu256(x->qh + 32 * h);
    const __m256i l0 = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
    const __m256i l1 = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
    const __m256i l2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
    const __m256i l3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                       _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
    y8 += 128 * h;
    acc = scale_pair(acc, dot4(l0, y8), dot4(l1, y8 + 32), sc, kq_pick2(4 * h, 4 * h + 1));
    return scale_pair(acc, dot4(l2, y8 + 64), dot4(l3, y8 + 96), sc, kq_pick2(4 * h + 2, 4 * h + 3));
}

static void vec_dot_q6_k_vnni(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)
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

void kt_register_vnni_kquants(kt_traits *table)
{
    table[KT_Q2_K].vec_dot = vec_dot_q2_k_vnni;
    table[KT_Q3_K].vec_dot = vec_dot_q3_k_vnni;
    table[KT_Q4_K].vec_dot = vec_dot_q4_k_vnni;
    table[KT_Q5_K].vec_dot = vec_dot_q5_k_vnni;
    table[KT_Q6_K].vec_dot = vec_dot_q6_k_vnni;
}

#else
void kt_register_vnni_kquants(kt_traits *table)
{
    (void)table;
}
#endif
