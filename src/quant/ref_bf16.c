/* BF16: the top half of a float, rounded to nearest even (fp16.h), as ggml's
 * ggml_fp32_to_bf16_row_ref. Products of two bf16 are exact in float (8 + 8
 * significant bits); the sum is in double. */
#include "ref.h"

#include "fp16.h"

void kt_to_float_bf16_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const kt_bf16 *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = kt_bf16_to_f32(h[i]);
}

void kt_from_float_bf16_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    kt_bf16 *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = kt_f32_to_bf16(src[i]);
}

void kt_vec_dot_bf16_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const kt_bf16 *a = x, *b = y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(kt_bf16_to_f32(a[i]) * kt_bf16_to_f32(b[i]));
    *s = (float)sum;
}
