/* Q2_K: 2-bit levels in 16 sub-blocks of 16, each with a 4-bit scale and a
 * 4-bit min: x = d * (scales[s] & 15) * q - dmin * (scales[s] >> 4).
 * Element e of a block sits in qs[32 * (e / 128) + e % 32], at bit
 * 2 * ((e / 32) % 4): each byte holds four elements 32 apart. */
#include <math.h>
#include <string.h>

#include "blocks.h"
#include "kquant_search.h"
#include "ref.h"

static void unpack_levels(const block_q2_K *b, uint8_t q[QK_K])
{
    for (int e = 0; e < QK_K; e++)
        q[e] = (b->qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3;
}

void kt_to_float_q2_k_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q2_K *b = src;
    uint8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = kt_half_to_f32(b[i].d), dmin = kt_half_to_f32(b[i].dmin);
        unpack_levels(&b[i], q);
        for (int s = 0; s < QK_K / 16; s++) {
            const float dl = d * (b[i].scales[s] & 0xF), ml = dmin * (b[i].scales[s] >> 4);
            for (int k = 0; k < 16; k++)
                *dst++ = dl * q[16 * s + k] - ml;
        }
    }
}

/* llama.cpp's quantize_row_q2_K_ref: per sub-block, fit scale and min by
 * minimising the |x|-weighted absolute error; quantize the 16 scales and 16
 * mins to 4 bits against their maxima; then re-round every element with the
 * scales it will actually be decoded with. */
void kt_from_float_q2_k_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q2_K *b = dst;
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];

    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        const float *x = src;
        float max_scale = 0, max_min = 0; /* the min is subtracted, so scales are >= 0 */
        for (int s = 0; s < QK_K / 16; s++) {
            for (int k = 0; k < 16; k++)
                weights[k] = fabsf(x[16 * s + k]);
            scales[s] = kt_make_qkx2_quants(16, 3, x + 16 * s, weights, L + 16 * s, &mins[s], Laux,
                                            -0.5f, 0.1f, 15, 1);
            if (scales[s] > max_scale) max_scale = scales[s];
            if (mins[s] > max_min) max_min = mins[s];
        }

        if (max_scale > 0) {
            const float iscale = 15.f / max_scale;
            for (int s = 0; s < QK_K / 16; s++)
                b[i].scales[s] = (uint8_t)kt_nearest_int(iscale * scales[s]);
            b[i].d = kt_f32_to_half(max_scale / 15.f);
        } else {
            memset(b[i].scales, 0, sizeof b[i].scales);
            b[i].d = kt_f32_to_half(0.f);
        }
        if (max_min > 0) {
            const float iscale = 15.f / max_min;
            for (int s = 0; s < QK_K / 16; s++)
                b[i].scales[s] |= (uint8_t)((unsigned)kt_nearest_int(iscale * mins[s]) << 4);
            b[i].dmin = kt_f32_to_half(max_min / 15.f);
        } else {
            b[i].dmin = kt_f32_to_half(0.f);
        }

        for (int s = 0; s < QK_K / 16; s++) {
            const float d = kt_half_to_f32(b[i].d) * (b[i].scales[s] & 0xF);
            if (!d)
                continue; /* keep the search's levels */
            const float dm = kt_half_to_f32(b[i].dmin) * (b[i].scales[s] >> 4);
            for (int k = 0; k < 16; k++)
                L[16 * s + k] = (uint8_t)kt_clamp_int(kt_nearest_int((x[16 * s + k] + dm) / d), 0, 3);
        }

        for (int half = 0; half < 2; half++)
            for (int k = 0; k < 32; k++) {
                const uint8_t *l = L + 128 * half + k;
                b[i].qs[32 * half + k] = (uint8_t)(l[0] | (l[32] << 2) | (l[64] << 4) | (l[96] << 6));
            }
    }
}

/* Integer dot per sub-block times its 4-bit scale; the mins meet the Q8_K
 * block sums. Only the two super-block scales are applied in float. */
void kt_vec_dot_q2_k_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q2_K *bx = x;
    const block_q8_K *by = y;
    uint8_t q[QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const uint8_t *sc = bx[i].scales;
        unpack_levels(&bx[i], q);
        int summs = 0, isum = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            summs += by[i].bsums[j] * (sc[j] >> 4);
            int sub = 0;
            for (int k = 16 * j; k < 16 * j + 16; k++)
                sub += by[i].qs[k] * q[k];
            isum += (sc[j] & 0xF) * sub;
        }
        const float dall = by[i].d * kt_half_to_f32(bx[i].d);
        const float dmin = by[i].d * kt_half_to_f32(bx[i].dmin);
        sum += dall * isum - dmin * summs;
    }
    *s = sum;
}
