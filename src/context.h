/* An inference context: the KV cache, the scratch buffers of one forward pass
 * over at most n_batch tokens, and the worker threads. All allocated once. */
#ifndef KESTREL_CONTEXT_H
#define KESTREL_CONTEXT_H

#include "kv_cache.h"
#include "model.h"
#include "threadpool.h"

struct kestrel_context {
    kestrel_model *model;
    int n_ctx, n_batch;
    threadpool *pool;
    kv_cache kv;

    /* activations, [n_batch][width] row-major */
    float *x;      /* residual stream, n_embd */
    float *xb;     /* normed input of a sublayer, n_embd */
    float *q;      /* queries, then attention output, q_dim */
    float *k, *v;  /* this batch's keys and values, kv_dim */
    float *att;    /* attention output, q_dim */
    float *hb, *hb2; /* FFN hidden, n_ff */
    float *wide;   /* products of fused matrices (qkv, gate|up), when the model has them */
    float *scores; /* per thread: attention scores, or RoPE tables */
    size_t scores_per_thread;
    void *act_q;   /* activations converted to a weight's vec_dot_type */
    size_t act_q_row_cap; /* bytes per row reserved in act_q */

    float *logits;      /* [n_batch][n_vocab]; rows beyond what is asked are untouched */
    int n_logits;       /* rows of the last decode */
};

/* Runs the model over tokens[0..n) at positions pos.. (n <= n_batch), writing
 * logits for every token (all_logits) or only the last one into ctx->logits. */
void forward(kestrel_context *ctx, const kestrel_token *tokens, int n, int pos, bool all_logits);

#endif
