/* The table of types: block geometry and the reference kernels. */
#include "quant.h"

#include <string.h>

#include "blocks.h"
#include "ref.h"

#define REF(T) kt_to_float_##T##_ref, kt_from_float_##T##_ref, kt_from_float_##T##_ref, kt_vec_dot_##T##_ref, NULL
#define REF_NODOT(T) kt_to_float_##T##_ref, kt_from_float_##T##_ref, kt_from_float_##T##_ref, NULL, NULL

static const kt_traits ref_table[KT_TYPE_COUNT] = {
    [KT_F32]  = { "F32",  1,     sizeof(float),      KT_F32,  REF(f32) },
    [KT_F16]  = { "F16",  1,     sizeof(kt_half),    KT_F16,  REF(f16) },
    [KT_BF16] = { "BF16", 1,     sizeof(kt_bf16),    KT_BF16, REF(bf16) },
    [KT_Q4_0] = { "Q4_0", QK4_0, sizeof(block_q4_0), KT_Q8_0, REF(q4_0) },
    [KT_Q4_1] = { "Q4_1", QK4_1, sizeof(block_q4_1), KT_Q8_1, REF(q4_1) },
    [KT_Q5_0] = { "Q5_0", QK5_0, sizeof(block_q5_0), KT_Q8_0, REF(q5_0) },
    [KT_Q5_1] = { "Q5_1", QK5_1, sizeof(block_q5_1), KT_Q8_1, REF(q5_1) },
    [KT_Q8_0] = { "Q8_0", QK8_0, sizeof(block_q8_0), KT_Q8_0, kt_to_float_q8_0_ref, kt_from_float_q8_0_ref, kt_quantize_q8_0_ref, kt_vec_dot_q8_0_ref, NULL },
    [KT_Q8_1] = { "Q8_1", QK8_1, sizeof(block_q8_1), KT_Q8_1, REF_NODOT(q8_1) },
    [KT_Q2_K] = { "Q2_K", QK_K,  sizeof(block_q2_K), KT_Q8_K, REF(q2_k) },
    [KT_Q3_K] = { "Q3_K", QK_K,  sizeof(block_q3_K), KT_Q8_K, REF(q3_k) },
    [KT_Q4_K] = { "Q4_K", QK_K,  sizeof(block_q4_K), KT_Q8_K, REF(q4_k) },
    [KT_Q5_K] = { "Q5_K", QK_K,  sizeof(block_q5_K), KT_Q8_K, REF(q5_k) },
    [KT_Q6_K] = { "Q6_K", QK_K,  sizeof(block_q6_K), KT_Q8_K, REF(q6_k) },
    [KT_Q8_K] = { "Q8_K", QK_K,  sizeof(block_q8_K), KT_Q8_K, REF_NODOT(q8_k) },
};

const kt_traits *kt_ref_traits(int type)
{
    if (type < 0 || type >= KT_TYPE_COUNT || !ref_table[type].name)
        return NULL;
    return &ref_table[type];
}

const char *kt_type_name(int type)
{
    const kt_traits *t = kt_ref_traits(type);
    return t ? t->name : "?";
}

int kt_type_from_name(const char *name)
{
    for (int i = 0; i < KT_TYPE_COUNT; i++)
        if (ref_table[i].name && strcmp(ref_table[i].name, name) == 0)
            return i;
    return -1;
}

size_t kt_row_size(int type, int64_t n)
{
    const kt_traits *t = kt_ref_traits(type);
    if (!t || n < 0 || n % t->block_size)
        return 0;
    return (size_t)(n / t->block_size) * t->type_size;
}
