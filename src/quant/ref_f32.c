/* F32: rows are plain floats, so conversion is a copy. The dot product forms
 * each product exactly in double and sums in double: the reference should be
 * more exact than any SIMD kernel checked against it. */
#include "ref.h"

#include <string.h>

void kt_to_float_f32_ref(const void *restrict src, float *restrict dst, int64_t n)
{
    if (n > 0)
        memcpy(dst, src, (size_t)n * sizeof(float));
}

void kt_from_float_f32_ref(const float *restrict src, void *restrict dst, int64_t n)
{
    if (n > 0)
        memcpy(dst, src, (size_t)n * sizeof(float));
}

void kt_vec_dot_f32_ref(int64_t n, float *restrict s, const void *restrict x, const void *restrict y)
{
    const float *a = x, *b = y;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)a[i] * (double)b[i];
    *s = (float)sum;
}
