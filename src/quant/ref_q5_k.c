/* Q5_K: as Q4_K with 5-bit levels: the low 4 bits of element e are placed as
 * in Q4_K, its fifth bit is bit e / 32 of qh[e % 32].
 * x = d * scale[s] * q - dmin * min[s], 8 sub-blocks of 32. */
#include <string.h>

#include "blocks.h"
#include "kquant_search.h"
#include "ref.h"

static void unpack_levels(const block_q5_K *b, uint8_t q[QK_K])
{
    for (int e = 0; e < QK_K; e++) {
        int low = (b->qs[32 * (e / 64) + e % 32] >> (4 * ((e / 32) % 2))) & 0xF;
        int high = (b->qh[e % 32] >> (e / 32)) & 1;
        q[e] = (uint8_t)(low | (high << 4));
    }
}

void kt_to_float_q5_k_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q5_K *b = src;
    uint8_t q[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = kt_half_to_f32(b[i].d), dmin = kt_half_to_f32(b[i].dmin);
        unpack_levels(&b[i], q);
        for (int s = 0; s < QK_K / 32; s++) {
            uint8_t sc, m;
            kt_get_scale_min_k4(s, b[i].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            for (int k = 0; k < 32; k++)
                *dst++ = dl * q[32 * s + k] - ml;
        }
    }
}

/* llama.cpp's quantize_row_q5_K_ref (see kt_quantize_k4_block). */
void kt_from_float_q5_k_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q5_K *b = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        kt_quantize_k4_block(src, 31, -0.5f, 15, L, b[i].scales, &b[i].d, &b[i].dmin);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int e = 0; e < QK_K; e++)
            b[i].qh[e % 32] |= (uint8_t)((L[e] >> 4) << (e / 32));
        for (int c = 0; c < QK_K / 64; c++)
            for (int k = 0; k < 32; k++)
                b[i].qs[32 * c + k] = (uint8_t)((L[64 * c + k] & 0xF) | ((L[64 * c + 32 + k] & 0xF) << 4));
    }
}

/* Integer dot per sub-block times its scale; the mins meet the Q8_K block
 * sums. Only the two super-block scales are applied in float. */
void kt_vec_dot_q5_k_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q5_K *bx = x;
    const block_q8_K *by = y;
    uint8_t q[QK_K];
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        unpack_levels(&bx[i], q);
        int isum = 0, summs = 0;
        for (int j = 0; j < QK_K / 32; j++) {
            uint8_t sc, m;
            kt_get_scale_min_k4(j, bx[i].scales, &sc, &m);
            summs += m * (by[i].bsums[2 * j] + by[i].bsums[2 * j + 1]);
            int sub = 0;
            for (int k = 32 * j; k < 32 * j + 32; k++)
                sub += by[i].qs[k] * q[k];
            isum += sc * sub;
        }
        const float d = kt_half_to_f32(bx[i].d) * by[i].d;
        const float dmin = kt_half_to_f32(bx[i].dmin) * by[i].d;
        sum += d * isum - dmin * summs;
    }
    *s = sum;
}
