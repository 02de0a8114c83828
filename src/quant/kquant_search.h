/* Scale searches shared by the K-quant quantizers, and the 6-bit scale/min
 * packing of Q4_K and Q5_K.
 *
 * These reproduce llama.cpp's (ggml-quants.c, b4748) reference quantizer
 * arithmetic operation for operation, so that kestrel's quantized bytes equal
 * llama-quantize's: the float expressions keep ggml's evaluation order on
 * purpose, and must not be "simplified". */
#ifndef KESTREL_KQUANT_SEARCH_H
#define KESTREL_KQUANT_SEARCH_H

#include <stdint.h>
#include <string.h>

#include "fp16.h"

/* Blocks whose largest magnitude is below this count as all zero. */
#define KT_GROUP_MAX_EPS 1e-15f

/* Round to nearest, ties to even, for |x| < 2^22: adding 1.5 * 2^23 leaves the
 * rounded integer in the low mantissa bits. NaN, Inf and huge values give some
 * meaningless int instead of the undefined behaviour of a float->int cast. */
static inline int kt_nearest_int(float x)
{
    float biased = x + 12582912.0f;
    uint32_t bits;
    memcpy(&bits, &biased, sizeof bits);
    return (int)(bits & 0x007fffffu) - 0x00400000;
}

static inline int kt_clamp_int(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Symmetric levels L[i] in [0, 2*nmax) meaning L - nmax, weighted by x^2
 * (ggml's make_qx_quants with rmse_type 1 and no importance weights): tries
 * 19 scales around nmax/max and keeps the best least-squares fit. Returns the
 * scale (0 for an all-zero group). */
float kt_make_qx_quants(int n, int nmax, const float *restrict x, int8_t *restrict L);

/* Q3_K's symmetric search (ggml's make_q3_quants with do_rmse): start from
 * nmax/max, then move single levels while the x^2-weighted fit improves.
 * L[i] in [0, 2*nmax). Returns the scale (0 for an all-zero group). */
float kt_make_q3_quants(int n, int nmax, const float *restrict x, int8_t *restrict L);

/* Asymmetric levels L[i] in [0, nmax] with x ~ scale * L - *the_min (ggml's
 * make_qkx2_quants): tries nstep+1 scales from (nmax + rmin) / (max - min) in
 * steps of rdelta, fitting scale and min by weighted least squares, and keeps
 * the one with the smallest weighted error (absolute if use_mad, else squared).
 * Laux is scratch of n levels. Returns the scale; *the_min >= 0. */
float kt_make_qkx2_quants(int n, int nmax, const float *restrict x, const float *restrict weights,
                          uint8_t *restrict L, float *restrict the_min, uint8_t *restrict Laux,
                          float rmin, float rdelta, int nstep, int use_mad);

/* Q4_K/Q5_K keep 8 six-bit scales and 8 six-bit mins in 12 bytes: bytes 0-3
 * hold scales 0-3 and bytes 4-7 mins 0-3 in their low 6 bits; bytes 8-11 hold
 * the low nibbles of scale and min 4-7, whose top 2 bits sit in the top bits of
 * bytes 0-3 (scales) and 4-7 (mins). */
static inline void kt_get_scale_min_k4(int j, const uint8_t *q, uint8_t *scale, uint8_t *min)
{
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *min = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* The inverse of kt_get_scale_min_k4: scale[j] and min[j] must be below 64. */
static inline void kt_put_scale_min_k4(uint8_t q[12], const uint8_t scale[8], const uint8_t min[8])
{
    for (int j = 0; j < 4; j++) {
        q[j] = (uint8_t)(scale[j] | ((scale[j + 4] >> 4) << 6));
        q[j + 4] = (uint8_t)(min[j] | ((min[j + 4] >> 4) << 6));
        q[j + 8] = (uint8_t)((scale[j + 4] & 0xF) | ((min[j + 4] & 0xF) << 4));
    }
}

/* The block search shared by Q4_K (nmax 15, rmin -1, nstep 20) and Q5_K
 * (nmax 31, rmin -0.5, nstep 15), as llama.cpp's quantize_row_q{4,5}_K_ref:
 * a scale and min per sub-block of 32 from kt_make_qkx2_quants weighted by
 * rms(x) + |x|, both quantized to 6 bits against their maxima (packed into
 * scales, super-scales into d and dmin), then every element re-rounded to
 * L[e] in [0, nmax] with the scale and min it will be decoded with. */
void kt_quantize_k4_block(const float *restrict x, int nmax, float rmin, int nstep,
                          uint8_t *restrict L, uint8_t scales[12], kt_half *d, kt_half *dmin);

#endif
