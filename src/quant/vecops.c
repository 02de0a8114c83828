/* Reference vector primitives and the choice among ISA versions.
 * The dot products accumulate in 8 interleaved partial sums (lane i % 8), then
 * add them pairwise, so the SIMD versions can do exactly the same arithmetic. */
#include "vecops.h"

#include <math.h>
#include <pthread.h>

#include "quant.h"

static void axpy_f32_ref(int64_t n, float a, const float *restrict x, float *restrict y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = fmaf(a, x[i], y[i]);
}

static void axpy_f16_ref(int64_t n, float a, const kt_half *restrict x, float *restrict y)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = fmaf(a, kt_half_to_f32(x[i]), y[i]);
}

/* Sums 8 lanes as ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)): the order of a 256-bit horizontal add. */
static float sum_lanes(const float l[8])
{
    return ((l[0] + l[4]) + (l[2] + l[6])) + ((l[1] + l[5]) + (l[3] + l[7]));
}

static float dot_f32_ref(int64_t n, const float *restrict x, const float *restrict y)
{
    float lane[8] = { 0 };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            lane[j] = fmaf(x[i + j], y[i + j], lane[j]);
    for (int j = 0; i < n; i++, j++)
        lane[j] = fmaf(x[i], y[i], lane[j]);
    return sum_lanes(lane);
}

static float dot_f16_ref(int64_t n, const float *restrict x, const kt_half *restrict y)
{
    float lane[8] = { 0 };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            lane[j] = fmaf(x[i + j], kt_half_to_f32(y[i + j]), lane[j]);
    for (int j = 0; i < n; i++, j++)
        lane[j] = fmaf(x[i], kt_half_to_f32(y[i]), lane[j]);
    return sum_lanes(lane);
}

static kt_vecops active;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    active = (kt_vecops){ axpy_f32_ref, axpy_f16_ref, dot_f32_ref, dot_f16_ref };
    int isa = kt_active_isa();
#if defined(__x86_64__)
    if (isa >= KT_ISA_AVX2 && isa <= KT_ISA_AVX512VNNI)
        kt_vecops_avx2(&active);
#else
    (void)isa;
#endif
}

const kt_vecops *kt_get_vecops(void)
{
    pthread_once(&once, choose);
    return &active;
}
