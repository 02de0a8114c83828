/* Q6_K: 6-bit levels in 16 sub-blocks of 16, each with an int8 scale:
 * x = d * scales[s] * (q - 32).
 * In each half of 128, element r (0..127) keeps its low nibble in
 * ql[32 * ((r / 32) % 2) + r % 32] (low half for r < 64, high half after) and
 * its top 2 bits in qh[r % 32] at bit 2 * (r / 32). */
#include <math.h>
#include <string.h>

#include "blocks.h"
#include "kquant_search.h"
#include "ref.h"

/* Signed levels in [-32, 31]. */
static void unpack_levels(const block_q6_K *b, int8_t q[QK_K])
{
    for (int e = 0; e < QK_K; e++) {
        const int h = e / 128, r = e % 128;
        int low = (b->ql[64 * h + 32 * ((r / 32) % 2) + r % 32] >> (4 * (r / 64))) & 0xF;
        int high = (b->qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
        q[e] = (int8_t)((low | (high << 4)) - 32);
    }
}

void kt_to_float_q6_k_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q6_K *b = src;
    int8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = kt_half_to_f32(b[i].d);
        unpack_levels(&b[i], q);
        for (int s = 0; s < QK_K / 16; s++) {
            const float dl = d * b[i].scales[s];
            for (int k = 0; k < 16; k++)
                *dst++ = dl * q[16 * s + k];
        }
    }
}

/* llama.cpp's quantize_row_q6_K_ref: an x^2-weighted symmetric fit per
 * sub-block, the 16 scales quantized to int8 against the one of largest
 * magnitude, then every element re-rounded with its decoded scale. */
void kt_from_float_q6_k_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q6_K *b = dst;
    int8_t L[QK_K];
    float scales[QK_K / 16];

    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        const float *x = src;
        float max_scale = 0, max_abs_scale = 0;
        for (int s = 0; s < QK_K / 16; s++) {
            scales[s] = kt_make_qx_quants(16, 32, x + 16 * s, L + 16 * s);
            const float a = fabsf(scales[s]);
            if (a > max_abs_scale) {
                max_abs_scale = a;
                max_scale = scales[s];
            }
        }
        if (max_abs_scale < KT_GROUP_MAX_EPS) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }

        const float iscale = -128.f / max_scale;
        b[i].d = kt_f32_to_half(1 / iscale);
        for (int s = 0; s < QK_K / 16; s++)
            b[i].scales[s] = (int8_t)kt_clamp_int(kt_nearest_int(iscale * scales[s]), -128, 127);

        for (int s = 0; s < QK_K / 16; s++) {
            const float d = kt_half_to_f32(b[i].d) * b[i].scales[s];
            if (!d)
                continue; /* keep the search's levels */
            for (int k = 0; k < 16; k++)
                L[16 * s + k] = (int8_t)(kt_clamp_int(kt_nearest_int(x[16 * s + k] / d), -32, 31) + 32);
        }

        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 32; k++) {
                const int8_t *l = L + 128 * h + k;
                b[i].ql[64 * h + k] = (uint8_t)((l[0] & 0xF) | ((l[64] & 0xF) << 4));
                b[i].ql[64 * h + 32 + k] = (uint8_t)((l[32] & 0xF) | ((l[96] & 0xF) << 4));
                b[i].qh[32 * h + k] = (uint8_t)((l[0] >> 4) | ((l[32] >> 4) << 2) | ((l[64] >> 4) << 4) |
                                                ((l[96] >> 4) << 6));
            }
    }
}

/* Integer dot per sub-block times its scale, then one float multiply per block. */
void kt_vec_dot_q6_k_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q6_K *bx = x;
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
            isum += bx[i].scales[j] * sub;
        }
        const float d = kt_half_to_f32(bx[i].d) * by[i].d;
        sum += d * isum;
    }
    *s = sum;
}
