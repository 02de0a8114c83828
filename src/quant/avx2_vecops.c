/* AVX2 + FMA + F16C versions of the attention primitives (see vecops.h): the
 * same fused operations per element as the reference, 8 lanes at a time. */
#include "vecops.h"

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

void kt_vecops_avx2(kt_vecops *ops)
{
    ops->axpy_f32 = axpy_f32;
    ops->axpy_f16 = axpy_f16;
    ops->dot_f32 = dot_f32;
    ops->dot_f16 = dot_f16;
}
#else
void kt_vecops_avx2(kt_vecops *ops)
{
    (void)ops;
}
#endif
