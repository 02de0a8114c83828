/* AVX-512 versions of attention's many-row primitives (see vecops.h), with
 * the reference's bits:
 *   qk: every score is its own fma chain over d, so 16 positions per register
 *       change nothing; q_j[d] is broadcast from memory into the fma.
 *   pv: every output is the 8-lane dot of dot_f16/dot_f32 (lane i % 8, then
 *       the pairwise sum). A register holds two such dots side by side --
 *       lanes 0-7 channel d, lanes 8-15 channel d + 1, the same 8 positions --
 *       so each lane keeps exactly its reference chain, at half the
 *       instructions; the weights of 8 positions are loaded once per row for
 *       several channel pairs.
 * The one-row primitives stay AVX2's (vectors of 8 are their definition). */
#include "vecops.h"

#include "kt_expf.h"
#include "simd_x86.h"

#if defined(__x86_64__)
#include <immintrin.h>

/* ---- qk: scores of M (1..4) rows over 64 positions per step -------------------------------- */

static inline __m512 load16_f16(const kt_half *p) { return _mm512_cvtph_ps(kt_loadu256(p)); }

static inline __m512 load16_f16_mask(const kt_half *p, __mmask16 m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

static inline __m512 load16_f32_mask(const float *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }

#define QK_ROWS(NAME, ELEM, LOAD, LOAD_MASK)                                                                      \
    static inline __attribute__((always_inline)) void NAME(int M, int64_t n, int hd, const float *q,           \
                                                           size_t q_stride, const ELEM *k, size_t k_stride,      \
                                                           float *s, size_t s_stride)                            \
    {                                                                                                           \
        int64_t p = 0;                                                                                          \
        for (; p + 64 <= n; p += 64) {                                                                          \
            __m512 a[4][4];                                                                                     \
            _Pragma("GCC unroll 4") for (int j = 0; j < M; j++) a[j][0] = a[j][1] = a[j][2] = a[j][3] =         \
                _mm512_setzero_ps();                                                                            \
            for (int d = 0; d < hd; d++) {                                                                      \
                const ELEM *kd = k + (size_t)d * k_stride + p;                                                  \
                const __m512 k0 = LOAD(kd), k1 = LOAD(kd + 16), k2 = LOAD(kd + 32), k3 = LOAD(kd + 48);         \
                _Pragma("GCC unroll 4") for (int j = 0; j < M; j++)                                             \
                {                                                                                               \
                    const __m512 qd = _mm512_set1_ps(q[(size_t)j * q_stride + d]);                             \
                    a[j][0] = _mm512_fmadd_ps(qd, k0, a[j][0]);                                                 \
                    a[j][1] = _mm512_fmadd_ps(qd, k1, a[j][1]);                                                 \
                    a[j][2] = _mm512_fmadd_ps(qd, k2, a[j][2]);                                                 \
                    a[j][3] = _mm512_fmadd_ps(qd, k3, a[j][3]);                                                 \
                }                                                                                               \
            }                                                                                                   \
            _Pragma("GCC unroll 4") for (int j = 0; j < M; j++) for (int i = 0; i < 4; i++)                     \
                _mm512_storeu_ps(s + (size_t)j * s_stride + p + 16 * i, a[j][i]);                               \
        }                                                                                                       \
        for (; p < n; p += 16) {                                                                                \
            const __mmask16 live = n - p >= 16 ? 0xffff : (__mmask16)((1u << (n - p)) - 1);                     \
            __m512 a[4];                                                                                        \
            _Pragma("GCC unroll 4") for (int j = 0; j < M; j++) a[j] = _mm512_setzero_ps();                     \
            for (int d = 0; d < hd; d++) {                                                                      \
                const __m512 k0 = LOAD_MASK(k + (size_t)d * k_stride + p, live);                                \
                _Pragma("GCC unroll 4") for (int j = 0; j < M; j++) a[j] =                                      \
                    _mm512_fmadd_ps(_mm512_set1_ps(q[(size_t)j * q_stride + d]), k0, a[j]);                      \
            }                                                                                                   \
            _Pragma("GCC unroll 4") for (int j = 0; j < M; j++)                                                 \
                _mm512_mask_storeu_ps(s + (size_t)j * s_stride + p, live, a[j]);                                \
        }                                                                                                       \
    }

QK_ROWS(qk_rows_f16, kt_half, load16_f16, load16_f16_mask)
QK_ROWS(qk_rows_f32, float, _mm512_loadu_ps, load16_f32_mask)

#define QK_FN(NAME, ROWS, ELEM)                                                                                  \
    static void NAME(int64_t n, int hd, int m, const float *q, size_t q_stride, const ELEM *k, size_t k_stride, \
                     float *s, size_t s_stride)                                                                 \
    {                                                                                                           \
        for (int j = 0; j < m; j += 4) {                                                                        \
            const float *qj = q + (size_t)j * q_stride;                                                         \
            float *sj = s + (size_t)j * s_stride;                                                               \
            switch (m - j < 4 ? m - j : 4) {                                                                    \
            case 1: ROWS(1, n, hd, qj, q_stride, k, k_stride, sj, s_stride); break;                             \
            case 2: ROWS(2, n, hd, qj, q_stride, k, k_stride, sj, s_stride); break;                             \
            case 3: ROWS(3, n, hd, qj, q_stride, k, k_stride, sj, s_stride); break;                             \
            default: ROWS(4, n, hd, qj, q_stride, k, k_stride, sj, s_stride); break;                            \
            }                                                                                                   \
        }                                                                                                       \
    }

QK_FN(qk_f16, qk_rows_f16, kt_half)
QK_FN(qk_f32, qk_rows_f32, float)

/* ---- pv: outputs of M rows for DP channel pairs at a time ---------------------------------- */

/* Positions p..p+7 (the live ones) of channels d (lanes 0-7) and d + 1 (lanes 8-15; zero when
 * there is none). */
static inline __m512 pair_f16(const kt_half *vd, size_t v_stride, int has_next, __mmask8 live)
{
    const __m128i lo = _mm_maskz_loadu_epi16(live, vd);
    const __m128i hi = has_next ? _mm_maskz_loadu_epi16(live, vd + v_stride) : _mm_setzero_si128();
    return _mm512_cvtph_ps(_mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1));
}

static inline __m512 pair_f32(const float *vd, size_t v_stride, int has_next, __mmask8 live)
{
    const __m256 lo = _mm256_maskz_loadu_ps(live, vd);
    const __m256 hi = has_next ? _mm256_maskz_loadu_ps(live, vd + v_stride) : _mm256_setzero_ps();
    return _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
}

/* The weights of positions p..p+7 of a row in both halves. */
static inline __m512 weights8(const float *s, __mmask8 live)
{
    const __m256 w = _mm256_maskz_loadu_ps(live, s);
    return _mm512_insertf32x8(_mm512_castps256_ps512(w), w, 1);
}

/* Channels d0 .. d0 + 2 * DP - 1 (DP pairs; the last may lack its second
 * channel: odd) of M rows. */
#define PV_BLOCK(NAME, ELEM, PAIR)                                                                                \
    static inline __attribute__((always_inline)) void NAME(int M, int DP, int odd, int64_t n, const float *s,    \
                                                           size_t s_stride, const ELEM *v, size_t v_stride,      \
                                                           float *o, size_t o_stride)                            \
    {                                                                                                           \
        __m512 a[8][4];                                                                                         \
        _Pragma("GCC unroll 8") for (int j = 0; j < M; j++) _Pragma("GCC unroll 4") for (int i = 0; i < DP; i++) \
            a[j][i] = _mm512_setzero_ps();                                                                      \
        for (int64_t p = 0; p < n; p += 8) {                                                                    \
            const __mmask8 live8 = n - p >= 8 ? 0xff : (__mmask8)((1u << (n - p)) - 1);                         \
            const __mmask16 live = (__mmask16)(live8 | (live8 << 8));                                           \
            __m512 w[8], vv[4];                                                                                 \
            _Pragma("GCC unroll 8") for (int j = 0; j < M; j++) w[j] = weights8(s + (size_t)j * s_stride + p, live8); \
            _Pragma("GCC unroll 4") for (int i = 0; i < DP; i++) vv[i] =                                        \
                PAIR(v + (size_t)(2 * i) * v_stride + p, v_stride, !(odd && i == DP - 1), live8);               \
            _Pragma("GCC unroll 8") for (int j = 0; j < M; j++) _Pragma("GCC unroll 4") for (int i = 0; i < DP; i++) \
                a[j][i] = _mm512_mask3_fmadd_ps(w[j], vv[i], a[j][i], live);                                    \
        }                                                                                                       \
        _Pragma("GCC unroll 8") for (int j = 0; j < M; j++) _Pragma("GCC unroll 4") for (int i = 0; i < DP; i++) \
        {                                                                                                       \
            float *oj = o + (size_t)j * o_stride + 2 * i;                                                       \
            oj[0] = kt_hsum256_ps(_mm512_castps512_ps256(a[j][i]));                                             \
            if (!(odd && i == DP - 1))                                                                          \
                oj[1] = kt_hsum256_ps(_mm512_extractf32x8_ps(a[j][i], 1));                                      \
        }                                                                                                       \
    }

PV_BLOCK(pv_block_f16, kt_half, pair_f16)
PV_BLOCK(pv_block_f32, float, pair_f32)

/* All hd channels of M rows: blocks of DP pairs, then pair by pair. */
#define PV_ROWS(NAME, ELEM, BLOCK)                                                                                \
    static inline __attribute__((always_inline)) void NAME(int M, int DP, int64_t n, int hd, const float *s,     \
                                                           size_t s_stride, const ELEM *v, size_t v_stride,      \
                                                           float *o, size_t o_stride)                            \
    {                                                                                                           \
        int d = 0;                                                                                              \
        for (; d + 2 * DP <= hd; d += 2 * DP)                                                                   \
            BLOCK(M, DP, 0, n, s, s_stride, v + (size_t)d * v_stride, v_stride, o + d, o_stride);               \
        for (; d + 2 <= hd; d += 2)                                                                             \
            BLOCK(M, 1, 0, n, s, s_stride, v + (size_t)d * v_stride, v_stride, o + d, o_stride);                \
        if (d < hd)                                                                                             \
            BLOCK(M, 1, 1, n, s, s_stride, v + (size_t)d * v_stride, v_stride, o + d, o_stride);                \
    }

PV_ROWS(pv_rows_f16, kt_half, pv_block_f16)
PV_ROWS(pv_rows_f32, float, pv_block_f32)

/* Up to 4 rows take 4 channel pairs a step, up to 8 rows 2 (accumulators within 16 registers). */
#define PV_FN(NAME, ROWS, ELEM)                                                                                  \
    static void NAME(int64_t n, int hd, int m, const float *s, size_t s_stride, const ELEM *v, size_t v_stride, \
                     float *o, size_t o_stride)                                                                 \
    {                                                                                                           \
        for (int j = 0; j < m; j += 8) {                                                                        \
            const float *sj = s + (size_t)j * s_stride;                                                         \
            float *oj = o + (size_t)j * o_stride;                                                               \
            switch (m - j < 8 ? m - j : 8) {                                                                    \
            case 1: ROWS(1, 4, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;                          \
            case 2: ROWS(2, 4, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;                          \
            case 3: ROWS(3, 4, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;                          \
            case 4: ROWS(4, 4, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;                          \
            case 5: ROWS(5, 2, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;                          \
            case 6: ROWS(6, 2, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;                          \
            case 7: ROWS(7, 2, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;                          \
            default: ROWS(8, 2, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;                         \
            }                                                                                                   \
        }                                                                                                       \
    }

PV_FN(pv_f16, pv_rows_f16, kt_half)
PV_FN(pv_f32, pv_rows_f32, float)

/* ---- exp: kt_expf on 16 lanes, op for op --------------------------------------------------- */

static inline __m512 exp16(__m512 x)
{
    const __m512 t = _mm512_mul_ps(x, _mm512_set1_ps(KT_EXP_LOG2E));
    const __m512 n = _mm512_sub_ps(_mm512_add_ps(t, _mm512_set1_ps(KT_EXP_ROUND)), _mm512_set1_ps(KT_EXP_ROUND));
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-KT_EXP_LN2_HI), x);
    r = _mm512_fmadd_ps(n, _mm512_set1_ps(-KT_EXP_LN2_LO), r);
    __m512 p = _mm512_set1_ps(KT_EXP_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(KT_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(KT_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(KT_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(KT_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(KT_EXP_P5));
    p = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    const __mmask16 big = _mm512_cmp_ps_mask(x, _mm512_set1_ps(KT_EXP_HI), _CMP_GT_OQ);
    const __mmask16 small = _mm512_cmp_ps_mask(x, _mm512_set1_ps(KT_EXP_LO), _CMP_LT_OQ);
    const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    /* n / 2 rounded toward zero, as C's integer division (0 outside the range and for NaN) */
    const __m512i ni = _mm512_maskz_cvttps_epi32((__mmask16)~(big | small | nan), n);
    const __m512i half = _mm512_srai_epi32(_mm512_sub_epi32(ni, _mm512_srai_epi32(ni, 31)), 1);
    const __m512i bias = _mm512_set1_epi32(127);
    const __m512 s1 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(half, bias), 23));
    const __m512 s2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(ni, half), bias), 23));
    const __m512 e = _mm512_mul_ps(_mm512_mul_ps(p, s1), s2);
    return _mm512_maskz_mov_ps((__mmask16)~small, _mm512_mask_mov_ps(e, big, _mm512_set1_ps(INFINITY)));
}

static double exp_sum(float *x, int64_t n, float max)
{
    const __m512 vmax = _mm512_set1_ps(max);
    __m256d part = _mm256_setzero_pd(); /* lane k: partial sum k */
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 live = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 e = _mm512_maskz_mov_ps(live, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(live, x + i), vmax)));
        _mm512_mask_storeu_ps(x + i, live, e);
        const __m256 lo = _mm512_castps512_ps256(e), hi = _mm512_extractf32x8_ps(e, 1);
        part = _mm256_add_pd(part, _mm256_cvtps_pd(_mm256_castps256_ps128(lo)));
        part = _mm256_add_pd(part, _mm256_cvtps_pd(_mm256_extractf128_ps(lo, 1)));
        part = _mm256_add_pd(part, _mm256_cvtps_pd(_mm256_castps256_ps128(hi)));
        part = _mm256_add_pd(part, _mm256_cvtps_pd(_mm256_extractf128_ps(hi, 1)));
    }
    double p[4];
    _mm256_storeu_pd(p, part);
    return (p[0] + p[2]) + (p[1] + p[3]);
}

static void silu_mul(float *out, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 live = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 g = _mm512_maskz_loadu_ps(live, gate + i), u = _mm512_maskz_loadu_ps(live, up + i);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
        _mm512_mask_storeu_ps(out + i, live, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e)), u));
    }
}

void kt_vecops_avx512(kt_vecops *ops)
{
    ops->exp_sum = exp_sum;
    ops->silu_mul = silu_mul;
    ops->qk_f16 = qk_f16;
    ops->qk_f32 = qk_f32;
    ops->pv_f16 = pv_f16;
    ops->pv_f32 = pv_f32;
}
#else
void kt_vecops_avx512(kt_vecops *ops)
{
    (void)ops;
}
#endif
