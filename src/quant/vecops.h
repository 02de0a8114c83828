/* Vector primitives of the attention loop, chosen per ISA like the kernels.
 * Each output element's arithmetic depends only on n and the values (never on
 * alignment or on where the vector body ends), so results are batch-invariant. */
#ifndef KESTREL_VECOPS_H
#define KESTREL_VECOPS_H

#include <stdint.h>

#include "fp16.h"

typedef struct {
    /* y[i] = fma(a, x[i], y[i]) */
    void (*axpy_f32)(int64_t n, float a, const float *restrict x, float *restrict y);
    void (*axpy_f16)(int64_t n, float a, const kt_half *restrict x, float *restrict y);
    /* sum of x[i] * y[i] */
    float (*dot_f32)(int64_t n, const float *restrict x, const float *restrict y);
    float (*dot_f16)(int64_t n, const float *restrict x, const kt_half *restrict y);
} kt_vecops;

/* The primitives for the active ISA (kt_active_isa()). */
const kt_vecops *kt_get_vecops(void);

/* Overwrites the reference entries with a level's versions. */
void kt_vecops_avx2(kt_vecops *ops);

#endif
