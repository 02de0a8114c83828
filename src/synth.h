/* Random-weight GGUF files of real model shapes, for benchmarks and tests
 * (kestrel synth): Llama architecture by default, or one of the other
 * architectures kestrel runs (qwen2, qwen3, phi3, gemma, gemma2). The public
 * entry point is kestrel_synth() in kestrel.h (Llama only); synth_write() adds
 * the architecture options; this header also exposes the tables for tests. */
#ifndef KESTREL_SYNTH_H
#define KESTREL_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

#include "kestrel.h"

typedef struct {
    const char *name;
    const char *description;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx;
    float rope_base, rms_eps;
    bool tied;                 /* no output.weight: token_embd is the output matrix */
    const char *vocab_file;    /* default vocab (a file in <shared>/vocab/), NULL = synthesized */
    bool vocab_follows_file;   /* a --vocab of another size changes n_vocab instead of failing */
    float sigma;               /* 0: matrices N(0, 0.02^2), token_embd N(0, 0.05^2); else both N(0, sigma^2) */
    float sigma_norm;          /* 0: norms 1 + N(0, 0.01^2); else 1 + N(0, sigma_norm^2) */
} synth_shape;

/* What synth_write adds to a shape: the architecture and its features. The
 * architecture decides which tensors exist: qwen2 adds q/k/v biases, qwen3
 * per-head q/k norms, phi3 fuses attn_qkv and ffn_up (gate | up) and always has
 * output.weight, gemma and gemma2 tie the output to token_embd, gemma2 adds
 * post-attention and post-FFN norms. Biases are N(0, (sigma*sqrt(n_embd)/2)^2),
 * about half a projection's output; q/k norms are drawn like the other norms. */
typedef struct {
    const char *arch;        /* NULL or "llama", "qwen2", "qwen3", "phi3", "gemma", "gemma2" */
    const char *rope_freqs;  /* llama: add rope_freqs.weight with Llama 3.1's factors: "llama3"
                                (8,1,4,8192) or "FACTOR,LOW,HIGH,ORIG_CTX"; NULL: none */
    int head_dim;            /* 0: n_embd / n_head; else written as attention.key_length/value_length */
    int n_rot;               /* 0: the head dimension; else rope.dimension_count (partial rotary) */
    int n_swa;               /* attention.sliding_window (phi3, gemma2); 0: phi3 gets the context
                                length, gemma2 no key (llama.cpp's default 4096); -1: no key */
    int n_ctx;               /* 0: the shape's context_length; else this one */
    float attn_softcap;      /* gemma2: attn_logit_softcapping; 0: not written (50) */
    float final_softcap;     /* gemma2: final_logit_softcapping; 0: not written (30) */
    bool tied;               /* no output.weight even if the shape has one (not for phi3) */
} synth_arch_params;

/* kestrel_synth with architecture options (a NULL a: plain Llama, the same
 * bytes as kestrel_synth). Returns 0 or -1 with the error set. */
int synth_write(const char *path, const kestrel_synth_params *p, const synth_arch_params *a);

/* Llama 3.1's RoPE frequency factors for n_rot/2 frequencies base^(-2i/n_rot):
 * 1 for wavelengths below ORIG_CTX/HIGH, FACTOR above ORIG_CTX/LOW, and a smooth
 * blend between. spec is "llama3" or "FACTOR,LOW,HIGH,ORIG_CTX". Returns 0, or
 * -1 for a malformed spec. */
int synth_llama3_rope_freqs(const char *spec, int n_rot, float base, float *out);

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
