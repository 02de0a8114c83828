/* The plain C kernels: the specification every SIMD kernel is tested against.
 * One file per type (ref_<type>.c). For each type T:
 *   kt_to_float_T_ref    block -> float
 *   kt_from_float_T_ref  float -> block (llama.cpp's reference quantizer for T)
 *   kt_vec_dot_T_ref     dot of a T row with a row of T's vec_dot_type
 * All take n, a multiple of T's block size. */
#ifndef KESTREL_REF_H
#define KESTREL_REF_H

#include <stdint.h>

#define KT_REF_DECLARE(T)                                                                   \
    void kt_to_float_##T##_ref(const void *restrict src, float *restrict dst, int64_t n);   \
    void kt_from_float_##T##_ref(const float *restrict src, void *restrict dst, int64_t n); \
    void kt_vec_dot_##T##_ref(int64_t n, float *restrict s, const void *restrict x,         \
                              const void *restrict y);

KT_REF_DECLARE(f32)   /* vec_dot with F32 */
KT_REF_DECLARE(f16)   /* vec_dot with F16 */
KT_REF_DECLARE(bf16)  /* vec_dot with BF16 */
KT_REF_DECLARE(q4_0)  /* vec_dot with Q8_0 */
KT_REF_DECLARE(q4_1)  /* vec_dot with Q8_1 */
KT_REF_DECLARE(q5_0)  /* vec_dot with Q8_0 */
KT_REF_DECLARE(q5_1)  /* vec_dot with Q8_1 */
KT_REF_DECLARE(q8_0)  /* vec_dot with Q8_0 */
/* Q8_0 for weights, as llama-quantize (quantize_row_q8_0_ref: roundf(x / d));
 * kt_from_float_q8_0_ref rounds activations as ggml's x86 kernel does. */
void kt_quantize_q8_0_ref(const float *restrict src, void *restrict dst, int64_t n);
KT_REF_DECLARE(q8_1)  /* activations only: vec_dot is unused (NULL in the table) */
KT_REF_DECLARE(q2_k)  /* vec_dot with Q8_K */
KT_REF_DECLARE(q3_k)
KT_REF_DECLARE(q4_k)
KT_REF_DECLARE(q5_k)
KT_REF_DECLARE(q6_k)
KT_REF_DECLARE(q8_k)  /* activations only: vec_dot is unused (NULL in the table) */

#endif
