/* Reference vector primitives and the choice among ISA versions.
 * The dot products accumulate in 8 interleaved partial sums (lane i % 8), then
 * add them pairwise, so the SIMD versions can do exactly the same arithmetic. */
#include "vecops.h"

#include <math.h>
#include <pthread.h>

#include "kt_expf.h"
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

/* The many-row forms as loops over the one-row primitives of the same table,
 * so that a level which does not provide its own gets the same bits. */
static kt_vecops active;

static void qk_f32_loop(int64_t n, int hd, int m, const float *q, size_t q_stride, const float *k, size_t k_stride,
                        float *s, size_t s_stride)
{
    for (int j = 0; j < m; j++) {
        float *row = s + (size_t)j * s_stride;
        for (int64_t p = 0; p < n; p++)
            row[p] = 0.0f;
        for (int d = 0; d < hd; d++)
            active.axpy_f32(n, q[(size_t)j * q_stride + d], k + (size_t)d * k_stride, row);
    }
}

static void qk_f16_loop(int64_t n, int hd, int m, const float *q, size_t q_stride, const kt_half *k,
                        size_t k_stride, float *s, size_t s_stride)
{
    for (int j = 0; j < m; j++) {
        float *row = s + (size_t)j * s_stride;
        for (int64_t p = 0; p < n; p++)
            row[p] = 0.0f;
        for (int d = 0; d < hd; d++)
            active.axpy_f16(n, q[(size_t)j * q_stride + d], k + (size_t)d * k_stride, row);
    }
}

static void pv_f32_loop(int64_t n, int hd, int m, const float *s, size_t s_stride, const float *v, size_t v_stride,
                        float *o, size_t o_stride)
{
    for (int j = 0; j < m; j++)
        for (int d = 0; d < hd; d++)
            o[(size_t)j * o_stride + d] = active.dot_f32(n, s + (size_t)j * s_stride, v + (size_t)d * v_stride);
}

static void pv_f16_loop(int64_t n, int hd, int m, const float *s, size_t s_stride, const kt_half *v,
                        size_t v_stride, float *o, size_t o_stride)
{
    for (int j = 0; j < m; j++)
        for (int d = 0; d < hd; d++)
            o[(size_t)j * o_stride + d] = active.dot_f16(n, s + (size_t)j * s_stride, v + (size_t)d * v_stride);
}

static double exp_sum_ref(float *x, int64_t n, float max)
{
    double part[4] = { 0, 0, 0, 0 };
    for (int64_t i = 0; i < n; i++) {
        x[i] = kt_expf(x[i] - max);
        part[i % 4] += x[i];
    }
    return (part[0] + part[2]) + (part[1] + part[3]);
}

static void silu_mul_ref(float *out, const float *gate, const float *up, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = gate[i] / (1.0f + kt_expf(-gate[i])) * up[i];
}

void kt_vecops_ref(kt_vecops *ops)
{
    *ops = (kt_vecops){ .axpy_f32 = axpy_f32_ref,
                        .axpy_f16 = axpy_f16_ref,
                        .dot_f32 = dot_f32_ref,
                        .dot_f16 = dot_f16_ref,
                        .exp_sum = exp_sum_ref,
                        .silu_mul = silu_mul_ref };
}

bool kt_vecops_for_isa(int isa, kt_vecops *ops)
{
    if (!kt_isa_supported(isa))
        return false;
    kt_vecops_ref(ops);
#if defined(__x86_64__)
    if (isa >= KT_ISA_AVX2 && isa <= KT_ISA_AVX512VNNI)
        kt_vecops_avx2(ops);
    if (isa >= KT_ISA_AVX512 && isa <= KT_ISA_AVX512VNNI)
        kt_vecops_avx512(ops);
#endif
    return true;
}

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    if (!kt_vecops_for_isa(kt_active_isa(), &active))
        kt_vecops_ref(&active);
    active.qk_f32 = active.qk_f32 ? active.qk_f32 : qk_f32_loop;
    active.qk_f16 = active.qk_f16 ? active.qk_f16 : qk_f16_loop;
    active.pv_f32 = active.pv_f32 ? active.pv_f32 : pv_f32_loop;
    active.pv_f16 = active.pv_f16 ? active.pv_f16 : pv_f16_loop;
}

const kt_vecops *kt_get_vecops(void)
{
    pthread_once(&once, choose);
    return &active;
}
