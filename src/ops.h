/* The small per-row operations of the forward pass, in plain C. Their float
 * arithmetic follows ggml's CPU ops so that logits agree with llama.cpp's. */
#ifndef KESTREL_OPS_H
#define KESTREL_OPS_H

#include "model.h"

/* out = x / rms(x) * w over n values (x and out may alias). */
void rmsnorm(float *out, const float *x, const float *w, int n, float eps);

/* Rotates the first n_rot dims of each of n_heads heads (head_dim apart) of one
 * token at position pos. cos/sin tables hold n_rot/2 entries for that position. */
void rope_apply(float *x, int n_heads, int head_dim, int n_rot, enum rope_layout layout,
                const float *cos_table, const float *sin_table);

/* cos/sin of pos * freq_scale * base^(-2i/n_rot) / freq_factors[i] (NULL: 1) for
 * i < n_rot/2, computed as ggml does. */
void rope_tables(int pos, int n_rot, float freq_base, float freq_scale, const float *freq_factors, float *cos_table,
                 float *sin_table);

/* out[i] = act(gate[i]) * up[i]; out may alias gate. */
void gated_activation(float *out, const float *gate, const float *up, int n, enum ffn_activation act);

/* x[i] = cap * tanh(x[i] / cap) */
void softcap(float *x, int n, float cap);

/* x[i] += b[i] */
void add_bias(float *x, const float *b, int n);

/* x[i] = exp(x[i] - max) / sum over n values. */
void softmax(float *x, int n);
/* x[i] = exp(x[i] - max) in place (kt_expf.h); returns their sum, in double:
 * 4 partial sums added in a fixed order (attention's online softmax uses it
 * per block, through vecops exp_sum). */
double exp_sum(float *x, int n, float max);

#endif
