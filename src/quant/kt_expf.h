/* kestrel's exp for softmax and SiLU: the specification that the vector
 * versions (avx2_vecops.c, avx512_vecops.c) follow op for op, so every ISA
 * gets the same bits. Within about 1 ulp of exp:
 *   n = round(x * log2(e))                  (round half to even, by a magic add)
 *   r = x - n * ln2                         (two fmas: ln2 split high | low)
 *   e^r = 1 + r + r^2 * P(r)                (Horner, |r| <= ln2 / 2)
 *   e^x = e^r * 2^(n/2) * 2^(n - n/2)       (two exact scalings: no overflow of
 *                                            the exponent field for n in [-150, 128])
 * Inputs above 88.73 give +inf, below -104 give 0 (-inf included), NaN stays NaN. */
#ifndef KESTREL_KT_EXPF_H
#define KESTREL_KT_EXPF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF /* each op rounds on its own, as in the vector versions */
#endif

#define KT_EXP_HI 88.73f
#define KT_EXP_LO (-104.0f)
#define KT_EXP_LOG2E 1.44269504088896341f
#define KT_EXP_ROUND 12582912.0f /* 1.5 * 2^23: adding and subtracting it rounds to an integer */
#define KT_EXP_LN2_HI 0.693145751953125f
#define KT_EXP_LN2_LO 1.42860682030941723212e-6f
#define KT_EXP_P0 1.9875691500e-4f
#define KT_EXP_P1 1.3981999507e-3f
#define KT_EXP_P2 8.3334519073e-3f
#define KT_EXP_P3 4.1665795894e-2f
#define KT_EXP_P4 1.6666665459e-1f
#define KT_EXP_P5 5.0000001201e-1f

/* 2^e for e in [-126, 127]. */
static inline float kt_exp2i(int32_t e)
{
    const uint32_t bits = (uint32_t)(e + 127) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline float kt_expf(float x)
{
    if (x > KT_EXP_HI)
        return INFINITY;
    if (x < KT_EXP_LO)
        return 0.0f;
    const float t = x * KT_EXP_LOG2E;
    const float n = (t + KT_EXP_ROUND) - KT_EXP_ROUND;
    float r = fmaf(n, -KT_EXP_LN2_HI, x);
    r = fmaf(n, -KT_EXP_LN2_LO, r);
    float p = KT_EXP_P0;
    p = fmaf(p, r, KT_EXP_P1);
    p = fmaf(p, r, KT_EXP_P2);
    p = fmaf(p, r, KT_EXP_P3);
    p = fmaf(p, r, KT_EXP_P4);
    p = fmaf(p, r, KT_EXP_P5);
    p = fmaf(p, r * r, r) + 1.0f;
    const int32_t ni = x == x ? (int32_t)n : 0, half = ni / 2; /* NaN: p is NaN already */
    return p * kt_exp2i(half) * kt_exp2i(ni - half);
}

#endif
