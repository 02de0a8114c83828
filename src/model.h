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
} weight;

typedef struct {
    weight attn_norm, wq, wk, wv, wo;
    weight ffn_norm, w_gate, w_up, w_down;
} layer_weights;

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
    float rms_eps;
} hparams;

struct kestrel_model {
    gguf_file *file;
    vocab *vocab;
    char *arch;
    char *name;
    hparams hp;
    weight tok_embd, output_norm, output; /* output = tok_embd when tied */
    layer_weights *layers;
    char **meta_strings;   /* NUL-terminated copies handed out by kestrel_model_meta_str */
    int n_meta_strings;
};

#endif
