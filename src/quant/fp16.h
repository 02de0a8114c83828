/* IEEE half and bfloat16 <-> float, round to nearest even, NaN and Inf kept. */
#ifndef KESTREL_FP16_H
#define KESTREL_FP16_H

#include <stdint.h>
#include <string.h>

typedef uint16_t kt_half;
typedef uint16_t kt_bf16;

static inline uint32_t kt_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float kt_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static inline float kt_half_to_f32(kt_half h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f)                      /* Inf, NaN */
        return kt_bits_f32(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0)
            return kt_bits_f32(sign);
        /* subnormal: man * 2^-24 is exact in float */
        float f = (float)man * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    return kt_bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

static inline kt_half kt_f32_to_half(float f)
{
    uint32_t x = kt_f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u)                /* Inf or NaN (keep a quiet NaN) */
        return (kt_half)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u)                /* rounds to >= 65520: overflow to Inf */
        return (kt_half)(sign | 0x7c00);
    if (ax < 0x38800000u) {               /* below the smallest normal half: 2^-14 */
        /* Adding 0.5 makes the FPU round the mantissa to a multiple of 2^-24. */
        float r = kt_bits_f32(ax) + 0.5f;
        return (kt_half)(sign | (kt_f32_bits(r) - 0x3f000000u));
    }
    uint32_t odd = (ax >> 13) & 1;        /* round to nearest, ties to even */
    ax += 0xc8000fffu + odd;              /* rebias exponent (-112 << 23) and round */
    return (kt_half)(sign | (ax >> 13));
}

static inline float kt_bf16_to_f32(kt_bf16 h) { return kt_bits_f32((uint32_t)h << 16); }

static inline kt_bf16 kt_f32_to_bf16(float f)
{
    uint32_t x = kt_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)  /* NaN: keep it a quiet NaN */
        return (kt_bf16)((x >> 16) | 64);
    return (kt_bf16)((x + (0x7fff + ((x >> 16) & 1))) >> 16);
}

#endif
