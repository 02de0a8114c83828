/* Causal multi-head attention with grouped-query heads over the KV cache. */
#ifndef KESTREL_ATTENTION_H
#define KESTREL_ATTENTION_H

#include "context.h"

/* For each batch token t < n_tok (at position pos + t) and head h:
 * att[t][h] = softmax(q[t][h] . K[0..pos+t] * attn_scale) . V[0..pos+t]
 * (only the last n_swa positions on sliding-window layers; scores soft-capped
 * when the model asks),
 * where query head h reads KV head h / (n_head / n_head_kv). The keys and
 * values of the batch must already be in the cache. Called by every thread of
 * a pass; returns after a barrier. */
void attention(kestrel_context *ctx, int layer, int n_tok, int pos, int ith, int nth);

/* Positions per online-softmax step, and most query heads computed together. */
#define ATT_BLOCK 256
#define ATT_MAX_GROUP 16
/* Floats of scratch a thread needs: scores and partial outputs of one step. */
static inline size_t attention_scratch(int n_head, int n_head_kv, int head_dim)
{
    const int group = n_head / n_head_kv;
    const int m = group < ATT_MAX_GROUP ? group : ATT_MAX_GROUP;
    return (size_t)m * (ATT_BLOCK + (size_t)head_dim);
}

#endif
