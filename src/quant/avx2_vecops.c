/* AVX2 + FMA + F16C versions of the attention primitives (see vecops.h): the
 * same fused operations per element as the reference, 8 lanes at a time. */
#include "vecops.h"

#include "kt_expf.h"
#include "simd_x86.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

static void axpy_f32(int64_t n, float a, const float *restrict x, float *restrict y)
{
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] = fmaf(a, x[i], y[i]);
}

static void axpy_f16(int64_t n, float a, const kt_half *restrict x, float *restrict y)
{
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 vx = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, vx, _mm256_loadu_ps(y + i)));
    }
    for (; i < n; i++)
        y[i] = fmaf(a, kt_half_to_f32(x[i]), y[i]);
}

/* Partial sums finish in the reference's order (vecops.c). */
static float dot_f32(int64_t n, const float *restrict x, const float *restrict y)
{
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc);
    float l[8];
    _mm256_storeu_ps(l, acc);
    for (int j = 0; i < n; i++, j++)
        l[j] = fmaf(x[i], y[i], l[j]);
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

static float dot_f16(int64_t n, const float *restrict x, const kt_half *restrict y)
{
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 vy = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), vy, acc);
    }
    float l[8];
    _mm256_storeu_ps(l, acc);
    for (int j = 0; i < n; i++, j++)
        l[j] = fmaf(x[i], kt_half_to_f32(y[i]), l[j]);
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

/* The n (< 8) halves at x as floats in the low lanes, zeros above. */
static inline __m256 load_tail_f16(const kt_half *x, int64_t n)
{
    kt_half t[8] = { 0 };
    for (int64_t i = 0; i < n; i++)
        t[i] = x[i];
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)t));
}

/* Lanes below n set. */
static inline __m256 tail_mask(int64_t n)
{
    static const int32_t ramp[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    return _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_loadu_si256((const __m256i *)ramp)));
}

/* Scores of M (1..4) query rows over 16 positions at a time: the accumulators
 * stay in registers for the whole chain over d, and each K vector is converted
 * once for all rows (GQA heads share K). Per element: fma over d in order from
 * 0, as axpy_f16 does on a zeroed row (the last < 8 positions too, through a
 * zero-padded copy). M is a constant in each instance, so that the
 * accumulators are registers. */
static inline __attribute__((always_inline)) void qk_rows(int M, int64_t n, int hd, const float *q, size_t q_stride,
                                                          const kt_half *k, size_t k_stride, float *s, size_t s_stride)
{
    int64_t p = 0;
    for (; p + 16 <= n; p += 16) {
        __m256 a[4][2];
#pragma GCC unroll 4
        for (int j = 0; j < M; j++)
            a[j][0] = a[j][1] = _mm256_setzero_ps();
        for (int d = 0; d < hd; d++) {
            const kt_half *kd = k + (size_t)d * k_stride + p;
            const __m256 k0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)kd));
            const __m256 k1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kd + 8)));
#pragma GCC unroll 4
            for (int j = 0; j < M; j++) {
                const __m256 qd = _mm256_broadcast_ss(q + (size_t)j * q_stride + d);
                a[j][0] = _mm256_fmadd_ps(qd, k0, a[j][0]);
                a[j][1] = _mm256_fmadd_ps(qd, k1, a[j][1]);
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < M; j++) {
            _mm256_storeu_ps(s + (size_t)j * s_stride + p, a[j][0]);
            _mm256_storeu_ps(s + (size_t)j * s_stride + p + 8, a[j][1]);
        }
    }
    for (; p < n; p += 8) {
        const int64_t w = n - p < 8 ? n - p : 8;
        __m256 a[4];
#pragma GCC unroll 4
        for (int j = 0; j < M; j++)
            a[j] = _mm256_setzero_ps();
        for (int d = 0; d < hd; d++) {
            const kt_half *kd = k + (size_t)d * k_stride + p;
            const __m256 k0 = w == 8 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)kd)) : load_tail_f16(kd, w);
#pragma GCC unroll 4
            for (int j = 0; j < M; j++)
                a[j] = _mm256_fmadd_ps(_mm256_broadcast_ss(q + (size_t)j * q_stride + d), k0, a[j]);
        }
#pragma GCC unroll 4
        for (int j = 0; j < M; j++) {
            float t[8];
            _mm256_storeu_ps(t, a[j]);
            for (int64_t i = 0; i < w; i++)
                s[(size_t)j * s_stride + p + i] = t[i];
        }
    }
}

static void qk_f16(int64_t n, int hd, int m, const float *q, size_t q_stride, const kt_half *k, size_t k_stride,
                   float *s, size_t s_stride)
{
    for (int j = 0; j < m; j += 4) {
        const float *qj = q + (size_t)j * q_stride;
        float *sj = s + (size_t)j * s_stride;
        switch (m - j < 4 ? m - j : 4) {
        case 1: qk_rows(1, n, hd, qj, q_stride, k, k_stride, sj, s_stride); break;
        case 2: qk_rows(2, n, hd, qj, q_stride, k, k_stride, sj, s_stride); break;
        case 3: qk_rows(3, n, hd, qj, q_stride, k, k_stride, sj, s_stride); break;
        default: qk_rows(4, n, hd, qj, q_stride, k, k_stride, sj, s_stride); break;
        }
    }
}

/* Outputs of M (1..8) weight rows: each V row converted once for all of them,
 * each output the 8-lane dot of dot_f16 (same lanes, same tail: the last < 8
 * positions go into lanes 0.., the others untouched; same final order). */
static inline __attribute__((always_inline)) void pv_rows(int M, int64_t n, int hd, const float *s, size_t s_stride,
                                                          const kt_half *v, size_t v_stride, float *o, size_t o_stride)
{
    const int64_t body = n / 8 * 8;
    const __m256 keep = tail_mask(n - body);
    for (int d = 0; d < hd; d++) {
        const kt_half *vd = v + (size_t)d * v_stride;
        __m256 a[8];
#pragma GCC unroll 8
        for (int j = 0; j < M; j++)
            a[j] = _mm256_setzero_ps();
        for (int64_t i = 0; i < body; i += 8) {
            const __m256 vv = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vd + i)));
#pragma GCC unroll 8
            for (int j = 0; j < M; j++)
                a[j] = _mm256_fmadd_ps(_mm256_loadu_ps(s + (size_t)j * s_stride + i), vv, a[j]);
        }
        if (body < n) {
            const __m256 vv = load_tail_f16(vd + body, n - body);
#pragma GCC unroll 8
            for (int j = 0; j < M; j++) {
                float x[8] = { 0 };
                for (int64_t i = body; i < n; i++)
                    x[i - body] = s[(size_t)j * s_stride + i];
                a[j] = _mm256_blendv_ps(a[j], _mm256_fmadd_ps(_mm256_loadu_ps(x), vv, a[j]), keep);
            }
        }
#pragma GCC unroll 8
        for (int j = 0; j < M; j++) /* ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)), as dot_f16 */
            o[(size_t)j * o_stride + d] = kt_hsum256_ps(a[j]);
    }
}

static void pv_f16(int64_t n, int hd, int m, const float *s, size_t s_stride, const kt_half *v, size_t v_stride,
                   float *o, size_t o_stride)
{
    for (int j = 0; j < m; j += 8) {
        const float *sj = s + (size_t)j * s_stride;
        float *oj = o + (size_t)j * o_stride;
        switch (m - j < 8 ? m - j : 8) {
        case 1: pv_rows(1, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;
        case 2: pv_rows(2, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;
        case 3: pv_rows(3, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;
        case 4: pv_rows(4, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;
        case 5: pv_rows(5, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;
        case 6: pv_rows(6, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;
        case 7: pv_rows(7, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;
        default: pv_rows(8, n, hd, sj, s_stride, v, v_stride, oj, o_stride); break;
        }
    }
}

/* kt_expf on 8 lanes, op for op. */
static inline __m256 exp8(__m256 x)
{
    const __m256 t = _mm256_mul_ps(x, _mm256_set1_ps(KT_EXP_LOG2E));
    const __m256 n = _mm256_sub_ps(_mm256_add_ps(t, _mm256_set1_ps(KT_EXP_ROUND)), _mm256_set1_ps(KT_EXP_ROUND));
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-KT_EXP_LN2_HI), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(-KT_EXP_LN2_LO), r);
    __m256 p = _mm256_set1_ps(KT_EXP_P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(KT_EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(KT_EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(KT_EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(KT_EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(KT_EXP_P5));
    p = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256 in_range = _mm256_andnot_ps(_mm256_cmp_ps(x, _mm256_set1_ps(KT_EXP_HI), _CMP_GT_OQ),
                                             _mm256_cmp_ps(x, _mm256_set1_ps(KT_EXP_LO), _CMP_GE_OQ));
    /* n / 2 rounded toward zero, as C's integer division */
    const __m256i ni = _mm256_cvttps_epi32(_mm256_and_ps(n, in_range));
    const __m256i half = _mm256_srai_epi32(_mm256_sub_epi32(ni, _mm256_srai_epi32(ni, 31)), 1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(half, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, half), bias), 23));
    const __m256 e = _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
    /* above HI: inf; below LO: 0; NaN: NaN (p is NaN) */
    const __m256 big = _mm256_cmp_ps(x, _mm256_set1_ps(KT_EXP_HI), _CMP_GT_OQ);
    const __m256 small = _mm256_cmp_ps(x, _mm256_set1_ps(KT_EXP_LO), _CMP_LT_OQ);
    return _mm256_andnot_ps(small, _mm256_blendv_ps(e, _mm256_set1_ps(INFINITY), big));
}

/* Lanes below n (< 8) of x, zeros above. */
static inline __m256 load_tail_f32(const float *x, int64_t n)
{
    return _mm256_maskload_ps(x, _mm256_castps_si256(tail_mask(n)));
}

static double exp_sum(float *x, int64_t n, float max)
{
    const __m256 vmax = _mm256_set1_ps(max);
    __m256d part = _mm256_setzero_pd(); /* lane k: partial sum k */
    for (int64_t i = 0; i < n; i += 8) {
        const int64_t w = n - i < 8 ? n - i : 8;
        const __m256 keep = tail_mask(w);
        const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(w == 8 ? _mm256_loadu_ps(x + i) : load_tail_f32(x + i, w), vmax)),
                                       keep);
        _mm256_maskstore_ps(x + i, _mm256_castps_si256(keep), e);
        part = _mm256_add_pd(part, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        part = _mm256_add_pd(part, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    double p[4];
    _mm256_storeu_pd(p, part);
    return (p[0] + p[2]) + (p[1] + p[3]);
}

static void silu_mul(float *out, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i += 8) {
        const int64_t w = n - i < 8 ? n - i : 8;
        const __m256 g = w == 8 ? _mm256_loadu_ps(gate + i) : load_tail_f32(gate + i, w);
        const __m256 u = w == 8 ? _mm256_loadu_ps(up + i) : load_tail_f32(up + i, w);
        const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
        const __m256 y = _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
        _mm256_maskstore_ps(out + i, _mm256_castps_si256(tail_mask(w)), y);
    }
}

void kt_vecops_avx2(kt_vecops *ops)
{
    ops->exp_sum = exp_sum;
    ops->silu_mul = silu_mul;
    ops->axpy_f32 = axpy_f32;
    ops->axpy_f16 = axpy_f16;
    ops->dot_f32 = dot_f32;
    ops->dot_f16 = dot_f16;
    ops->qk_f16 = qk_f16;
    ops->pv_f16 = pv_f16;
}
#else
void kt_vecops_avx2(kt_vecops *ops)
{
    (void)ops;
}
#endif
