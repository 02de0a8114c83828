/* A loaded model: hyperparameters and weights bound in place in the mmapped GGUF. */
#ifndef KESTREL_MODEL_H
#define KESTREL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "gguf.h"
#include "kestrel.h"
#include "vocab.h"

/* A weight matrix (or vector) as stored: ne0 elements per row, ne1 rows. */
typedef struct {
    const char *name;
    int type;             /* enum kt_type */
    int64_t ne0, ne1;
    size_t row_bytes;
    const uint8_t *data;  /* in the mapping */
    const uint8_t *packed; /* the same matrix in the tile kernel's layout (src/repack.c), or NULL */
} weight;

/* Optional weights have data == NULL when the architecture has none. */
typedef struct {
    weight attn_norm;
    weight wq, wk, wv;       /* or one fused wqkv (phi3): rows q | k | v */
    weight wqkv;
    weight bq, bk, bv;       /* projection biases (qwen2) */
    weight q_norm, k_norm;   /* RMSNorm of each head of q and k, before RoPE (qwen3) */
    weight wo;
    weight attn_post_norm;   /* RMSNorm of the attention output before the residual (gemma2) */
    weight ffn_norm;
    weight w_gate, w_up;     /* or one fused w_up with rows gate | up and no w_gate (phi3) */
    weight w_down;
    weight ffn_post_norm;    /* (gemma2) */
    bool sliding;            /* attends to the last n_swa positions only */
} layer_weights;

enum ffn_activation {
    FFN_SILU = 0, /* SwiGLU: silu(gate) * up */
    FFN_GELU = 1  /* GeGLU with tanh-approximated GELU, rounded through f16 as ggml does */
};

enum rope_layout {
    ROPE_NORM = 0, /* rotate adjacent pairs (x[2i], x[2i+1]): Llama as Meta stores it */
    ROPE_NEOX = 1  /* rotate halves (x[i], x[i + n_rot/2]): GPT-NeoX, Qwen, Phi, Gemma */
};

typedef struct {
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx_train;
    int n_rot;              /* leading dims of each head that RoPE rotates */
    enum rope_layout rope_layout;
    float rope_freq_base;
    float rope_freq_scale; /* linear scaling: positions are multiplied by this */
    const float *rope_freqs; /* n_rot/2 divisors of the angles (Llama 3.1+), or NULL */
    float rms_eps;
    enum ffn_activation ffn;
    float embd_scale;      /* embeddings are multiplied by this (gemma: sqrt(n_embd)) */
    float attn_scale;      /* q.k is multiplied by this: 1/sqrt(head_dim) unless the model says */
    float attn_softcap;    /* scores become cap * tanh(s / cap) before softmax; 0 = off */
    float final_softcap;   /* the same on the logits */
    int n_swa;             /* sliding-window length of the layers marked sliding */
} hparams;

typedef struct arch_spec arch_spec;

struct kestrel_model {
    gguf_file *file;
    const arch_spec *spec;
    vocab *vocab;
    char *arch;
    char *name;
    hparams hp;
    weight tok_embd, output_norm, output; /* output = tok_embd when tied */
    layer_weights *layers;
    char **meta_strings;   /* NUL-terminated copies handed out by kestrel_model_meta_str */
    int n_meta_strings;
    void *owned;           /* weights held in memory rather than mapped (src/self_draft.c); freed with the model */
    void *packed;          /* the repacked matrices (src/repack.c); freed with the model */
    size_t packed_bytes;
};

/* src/repack.c: the matrices whose tile kernel has its own layout get a packed
 * copy (weight.packed); -1 (reported) when out of memory. */
int model_repack(kestrel_model *m);
/* kestrel_model_load without the repacking (src/self_draft.c converts first). */
kestrel_model *model_load_unpacked(const char *path);
void model_free_packed(kestrel_model *m);

#endif
