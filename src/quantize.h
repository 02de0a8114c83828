/* kestrel quantize: F32/F16/BF16 GGUF -> a llama-quantize type mix.
 *
 * The public entry point is kestrel_quantize() in kestrel.h. This header
 * exposes the parts tests (and kestrel synth) may want: the recipes and the
 * per-tensor type choice, which follows llama.cpp's llama_tensor_get_type
 * (b4748, no imatrix, no overrides) so that the output equals llama-quantize's
 * byte for byte. */
#ifndef KESTREL_QUANTIZE_H
#define KESTREL_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf.h"

/* llama.cpp's llama_ftype numbers (general.file_type). */
enum kq_ftype {
    KQ_FTYPE_ALL_F32 = 0, KQ_FTYPE_F16 = 1, KQ_FTYPE_Q4_0 = 2, KQ_FTYPE_Q4_1 = 3,
    KQ_FTYPE_Q8_0 = 7, KQ_FTYPE_Q5_0 = 8, KQ_FTYPE_Q5_1 = 9, KQ_FTYPE_Q2_K = 10,
    KQ_FTYPE_Q3_K_S = 11, KQ_FTYPE_Q3_K_M = 12, KQ_FTYPE_Q3_K_L = 13, KQ_FTYPE_Q4_K_S = 14,
    KQ_FTYPE_Q4_K_M = 15, KQ_FTYPE_Q5_K_S = 16, KQ_FTYPE_Q5_K_M = 17, KQ_FTYPE_Q6_K = 18,
    KQ_FTYPE_BF16 = 32
};

/* A recipe as llama-quantize names it. */
typedef struct {
    const char *name;   /* "Q4_K_M" */
    int ftype;          /* enum kq_ftype */
    int base;           /* the default matrix type (enum kt_type) */
} kq_recipe;

/* By name (case-insensitive; llama-quantize's aliases Q3_K/Q4_K/Q5_K for the
 * _M recipes and its ftype numbers work too). NULL when unknown. */
const kq_recipe *kq_find_recipe(const char *name);
/* The i-th recipe; NULL past the end. */
const kq_recipe *kq_recipe_at(int i);

/* What the type choice needs to know about the model. */
typedef struct {
    bool falcon;        /* general.architecture == "falcon" */
    bool is_70b;        /* llama.cpp's LLM_TYPE_70B (llama, 80 layers, GQA) */
    bool has_output;    /* an output.weight exists (else token_embd is the output) */
    int n_layer;        /* <arch>.block_count */
    int n_gqa;          /* head_count / head_count_kv of layer 0 (0 when kv is 0) */
    int n_expert;       /* <arch>.expert_count, 0 when absent */
    int n_attention_wv; /* tensors named *attn_v.weight, *attn_qkv.weight, *attn_kv_b.weight */
} kq_model;

/* The counters llama_tensor_get_type keeps while it walks the tensors in
 * output order; start zeroed. */
typedef struct {
    int i_attention_wv, i_ffn_down, i_ffn_gate, i_ffn_up;
} kq_counters;

/* Fills m from the file's metadata and tensor names. -1 (error set) when a
 * key it needs has the wrong type. */
int kq_model_info(const gguf_file *f, kq_model *m);

/* Whether llama-quantize quantizes this tensor at all (a name ending in
 * "weight", at least 2 dimensions, not a norm, ...). */
bool kq_tensor_is_quantizable(const char *name, int n_dims_effective);

/* The type of one quantizable tensor under a quantized recipe: the rules of
 * llama_tensor_get_type, then its fallback when ne0 is not a multiple of the
 * chosen type's block size. Advances c. Returns the type id (which may be one
 * kestrel has no kernels for, such as IQ4_NL = 20), or -1 with the error set
 * when llama.cpp has no fallback ("Unsupported tensor size"). */
int kq_tensor_type(const kq_model *m, kq_counters *c, const kq_recipe *r, const char *name, int64_t ne0);

/* llama-quantize writes tensors ordered by layer number (tensors outside
 * blk.N. first), then by name: fills order[n] with the indices of f's tensors. */
void kq_tensor_order(const gguf_file *f, int64_t *order);

#endif
