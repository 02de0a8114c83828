/* F16: IEEE half, converted with round to nearest even (fp16.h). The product of
 * two halves is exact in float (11 + 11 significant bits); the sum is in double. */
#include "ref.h"

#include "fp16.h"

void kt_to_float_f16_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    const kt_half *h = src;
    for (int64_t i = 0; i < n; i++)
        dst[i] = kt_half_to_f32(h[i]);
}

void kt_from_float_f16_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    kt_half *h = dst;
    for (int64_t i = 0; i < n; i++)
        h[i] = kt_f32_to_half(src[i]);
}

void kt_vec_dot_f16_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const kt_half *a = x, *b = y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(kt_half_to_f32(a[i]) * kt_half_to_f32(b[i]));
    *s = (float)sum;
}
