/* Random-weight Llama-architecture GGUF files of real model shapes, for
 * benchmarks and tests (kestrel synth). The public entry point is
 * kestrel_synth() in kestrel.h; this header exposes the tables for tests. */
#ifndef KESTREL_SYNTH_H
#define KESTREL_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *name;
    const char *description;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    float rope_base, rms_eps;
    bool tied;                 /* no output.weight: token_embd is the output matrix */
    const char *vocab_file;    /* default vocab (a file in <shared>/vocab/), NULL = synthesized */
    bool vocab_follows_file;   /* a --vocab of another size changes n_vocab instead of failing */
} synth_shape;

/* A quantization recipe as llama-quantize names it ("Q4_K_M"). */
typedef struct {
    const char *name;
    int ftype;                 /* general.file_type (llama_ftype) */
    int base;                  /* the matrix type (enum kt_type) */
    int mix;                   /* enum synth_mix */
} synth_ftype;

enum synth_mix { MIX_NONE, MIX_OUTPUT, MIX_Q2_K, MIX_Q3_K_M, MIX_Q4_K_M };

/* The built-in shapes and recipes; NULL when the name is unknown. */
const synth_shape *synth_find_shape(const char *name);
const synth_ftype *synth_find_ftype(const char *name);

/* Which tensor a matrix is, for the type mix. */
enum synth_role { ROLE_TOKEN_EMBD, ROLE_OUTPUT, ROLE_ATTN_Q, ROLE_ATTN_K, ROLE_ATTN_V, ROLE_ATTN_OUT,
                  ROLE_FFN_GATE, ROLE_FFN_UP, ROLE_FFN_DOWN };

/* The type of one matrix under a recipe, following llama.cpp's default mix
 * (llama_tensor_get_type, no imatrix), simplified: the output matrix (token_embd
 * when tied) is Q6_K for quantized recipes other than Q8_0; the _M recipes give
 * some attn_v / ffn_down / attn_output more bits; rows that are not a multiple
 * of 256 fall back from K-quants to legacy types. pure: every matrix in base. */
int synth_matrix_type(const synth_ftype *ft, enum synth_role role, int layer, int n_layer, int n_gqa,
                      int64_t ne0, bool tied, bool pure);

#endif
