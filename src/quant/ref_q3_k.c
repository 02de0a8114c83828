/* Q3_K: 3-bit levels in 16 sub-blocks of 16, each with a signed 6-bit scale:
 * x = d * (scale[s] - 32) * (q - 4).
 * The low 2 bits of element e are packed as in Q2_K (qs[32 * (e / 128) + e % 32],
 * bit 2 * ((e / 32) % 4)); its high bit is bit e / 32 of hmask[e % 32].
 * Scale s keeps its low nibble in byte s % 8 (low half for s < 8, high half
 * after) and its top 2 bits in byte 8 + s % 4, at bit 2 * (s / 4). */
#include <math.h>
#include <string.h>

#include "blocks.h"
#include "kquant_search.h"
#include "ref.h"

static int get_scale(const uint8_t packed[12], int s)
{
    int low = s < 8 ? packed[s] & 0xF : packed[s - 8] >> 4;
    int high = (packed[8 + s % 4] >> (2 * (s / 4))) & 3;
    return (low | (high << 4)) - 32;
}

/* packed must start zeroed; v in [0, 63]. */
static void put_scale(uint8_t packed[12], int s, int v)
{
    if (s < 8)
        packed[s] |= (uint8_t)(v & 0xF);
    else
        packed[s - 8] |= (uint8_t)((v & 0xF) << 4);
    packed[8 + s % 4] |= (uint8_t)((v >> 4) << (2 * (s / 4)));
}

/* Signed levels in [-4, 3]. */
static void unpack_levels(const block_q3_K *b, int8_t q[QK_K])
{
    for (int e = 0; e < QK_K; e++) {
        int low = (b->qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
        int high = (b->hmask[e % 32] >> (e / 32)) & 1;
        q[e] = (int8_t)(low - (high ? 0 : 4));
    }
}

void kt_to_float_q3_k_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q3_K *b = src;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d_all = kt_half_to_f32(b[i].d);
        unpack_levels(&b[i], q);
        for (int s = 0; s < QK_K / 16; s++) {
            const float dl = d_all * get_scale(b[i].scales, s);
            for (int k = 0; k < 16; k++)
                *dst++ = dl * q[16 * s + k];
        }
    }
}

/* llama.cpp's quantize_row_q3_K_ref: an x^2-weighted symmetric fit per
 * sub-block, the 16 scales quantized to 6 bits against the one of largest
 * magnitude, then every element re-rounded with its decoded scale. */
void kt_from_float_q3_k_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q3_K *b = dst;
    int8_t L[QK_K];
    float scales[QK_K / 16];

    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        const float *x = src;
        float max_scale = 0, amax = 0;
        for (int s = 0; s < QK_K / 16; s++) {
            scales[s] = kt_make_q3_quants(16, 4, x + 16 * s, L + 16 * s);
            float a = fabsf(scales[s]);
            if (a > amax) {
                amax = a;
                max_scale = scales[s];
            }
        }

        memset(b[i].scales, 0, sizeof b[i].scales);
        if (max_scale) {
            const float iscale = -32.f / max_scale;
            for (int s = 0; s < QK_K / 16; s++)
                put_scale(b[i].scales, s, kt_clamp_int(kt_nearest_int(iscale * scales[s]), -32, 31) + 32);
            b[i].d = kt_f32_to_half(1 / iscale);
        } else {
            b[i].d = kt_f32_to_half(0.f);
        }

        for (int s = 0; s < QK_K / 16; s++) {
            const float d = kt_half_to_f32(b[i].d) * get_scale(b[i].scales, s);
            if (!d)
                continue; /* keep the search's levels */
            for (int k = 0; k < 16; k++)
                L[16 * s + k] = (int8_t)(kt_clamp_int(kt_nearest_int(x[16 * s + k] / d), -4, 3) + 4);
        }

        memset(b[i].hmask, 0, sizeof b[i].hmask);
        for (int e = 0; e < QK_K; e++)
            if (L[e] > 3) {
                b[i].hmask[e % 32] |= (uint8_t)(1u << (e / 32));
                L[e] -= 4;
            }
        for (int half = 0; half < 2; half++)
            for (int k = 0; k < 32; k++) {
                const int8_t *l = L + 128 * half + k;
                b[i].qs[32 * half + k] = (uint8_t)(l[0] | (l[32] << 2) | (l[64] << 4) | (l[96] << 6));
            }
    }
}

/* Integer dot per sub-block times its scale, then one float multiply per block. */
void kt_vec_dot_q3_k_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q3_K *bx = x;
    const block_q8_K *by = y;
    int8_t q[QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        unpack_levels(&bx[i], q);
        int isum = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            int sub = 0;
            for (int k = 16 * j; k < 16 * j + 16; k++)
                sub += by[i].qs[k] * q[k];
            isum += get_scale(bx[i].scales, j) * sub;
        }
        const float d = kt_half_to_f32(bx[i].d) * by[i].d;
        sum += d * isum;
    }
    *s = sum;
}
