/* Q8_K: the activation format every K-quant weight is multiplied against.
 * from_float is exactly llama.cpp's quantize_row_q8_K_ref (b4748), so that
 * kestrel's logits round activations the way llama.cpp's do. */
#include <math.h>
#include <string.h>

#include "blocks.h"
#include "kquant_search.h"
#include "ref.h"

void kt_to_float_q8_k_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const block_q8_K *b = src;
    for (int64_t i = 0; i < n / QK_K; i++, dst += QK_K)
        for (int j = 0; j < QK_K; j++)
            dst[j] = b[i].d * b[i].qs[j];
}

void kt_from_float_q8_k_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_K *b = dst;
    for (int64_t i = 0; i < n / QK_K; i++, src += QK_K) {
        /* max is the signed value of largest magnitude (the first on ties). */
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            float ax = fabsf(src[j]);
            if (ax > amax) {
                amax = ax;
                max = src[j];
            }
        }
        if (!amax) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* -127 as in b4748 (older ggml used -128): q stays within [-127, 127]. */
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++)
            b[i].qs[j] = (int8_t)kt_clamp_int(kt_nearest_int(iscale * src[j]), -128, 127);
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int k = 0; k < 16; k++)
                sum += b[i].qs[16 * j + k];
            b[i].bsums[j] = (int16_t)sum;
        }
        b[i].d = 1 / iscale;
    }
}

/* Q8_K . Q8_K: not used by the engine (Q8_K is never a weight type), but
 * handy for checking activation rounding. */
void kt_vec_dot_q8_k_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const block_q8_K *bx = x, *by = y;
    float sum = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int isum = 0;
        for (int j = 0; j < QK_K; j++)
            isum += bx[i].qs[j] * by[i].qs[j];
        sum += bx[i].d * by[i].d * isum;
    }
    *s = sum;
}
