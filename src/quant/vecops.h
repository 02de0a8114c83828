/* Vector primitives of attention, softmax and SwiGLU, chosen per ISA like the kernels.
 * Each output element's arithmetic depends only on n and the values (never on
 * alignment or on where the vector body ends), so results are batch-invariant. */
#ifndef KESTREL_VECOPS_H
#define KESTREL_VECOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fp16.h"

typedef struct {
    /* y[i] = fma(a, x[i], y[i]) */
    void (*axpy_f32)(int64_t n, float a, const float *restrict x, float *restrict y);
    void (*axpy_f16)(int64_t n, float a, const kt_half *restrict x, float *restrict y);
    /* sum of x[i] * y[i] */
    float (*dot_f32)(int64_t n, const float *restrict x, const float *restrict y);
    float (*dot_f16)(int64_t n, const float *restrict x, const kt_half *restrict y);
    /* Attention scores of m query rows sharing one K (rows of the transposed
     * cache, k_stride apart): s_j[p] = the fma chain over d < hd, in order, of
     * q_j[d] * K[d][p] from 0 -- exactly hd axpy calls on a zeroed row -- for
     * p < n, j < m; q_j = q + j * q_stride, s_j = s + j * s_stride. */
    void (*qk_f32)(int64_t n, int hd, int m, const float *q, size_t q_stride, const float *k, size_t k_stride,
                   float *s, size_t s_stride);
    void (*qk_f16)(int64_t n, int hd, int m, const float *q, size_t q_stride, const kt_half *k, size_t k_stride,
                   float *s, size_t s_stride);
    /* Attention outputs of m rows of weights sharing one V: o_j[d] = dot(s_j, V[d])
     * over n positions -- exactly the dot above -- for d < hd, j < m. */
    void (*pv_f32)(int64_t n, int hd, int m, const float *s, size_t s_stride, const float *v, size_t v_stride,
                   float *o, size_t o_stride);
    void (*pv_f16)(int64_t n, int hd, int m, const float *s, size_t s_stride, const kt_half *v, size_t v_stride,
                   float *o, size_t o_stride);
    /* x[i] = kt_expf(x[i] - max) (kt_expf.h) for i < n; returns their sum,
     * in doubles: partial sum i % 4 in order, then (p0 + p2) + (p1 + p3). */
    double (*exp_sum)(float *x, int64_t n, float max);
    /* out[i] = gate[i] / (1 + kt_expf(-gate[i])) * up[i]: SiLU-gated (SwiGLU). */
    void (*silu_mul)(float *out, const float *gate, const float *up, int64_t n);
} kt_vecops;

/* The primitives for the active ISA (kt_active_isa()). */
const kt_vecops *kt_get_vecops(void);

/* The reference (plain C) primitives. */
void kt_vecops_ref(kt_vecops *ops);
/* Overwrites the reference entries with a level's versions. */
void kt_vecops_avx2(kt_vecops *ops);
void kt_vecops_avx512(kt_vecops *ops);
/* The table of an ISA level this CPU runs (false if it does not); entries a
 * level lacks stay NULL for the many-row forms. */
bool kt_vecops_for_isa(int isa, kt_vecops *ops);

#endif
