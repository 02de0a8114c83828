#include "attention.h"

#include <string.h>

#include "ops.h"
#include "quant/vecops.h"

/* With the cache transposed (kv_cache.h), both products run over positions:
 *   scores[p] = sum_d q[d] * K[d][p]  -- head_dim axpy's over the position run
 *   out[d]    = sum_p s[p] * V[d][p]  -- head_dim dot products over the run
 * Every element's arithmetic depends only on its own position's values and on
 * the run length, never on the batch, so a token's result is the same alone or
 * in a batch. */
void attention(kestrel_context *ctx, int layer, int n_tok, int pos, int ith, int nth)
{
    const hparams *hp = &ctx->model->hp;
    const kv_cache *kv = &ctx->kv;
    const kt_vecops *ops = kt_get_vecops();
    const bool f16 = kv->type == KESTREL_KV_F16;
    const int hd = hp->head_dim;
    const int q_dim = hp->n_head * hd;
    const int group = hp->n_head / hp->n_head_kv;
    const bool sliding = ctx->model->layers[layer].sliding;
    float *scores = ctx->scores + (size_t)ith * ctx->scores_per_thread;

    /* Items interleave across threads: later tokens see more positions. */
    for (int item = ith; item < n_tok * hp->n_head; item += nth) {
        const int t = item / hp->n_head, h = item % hp->n_head;
        const int n_pos = pos + t + 1;
        /* a sliding-window layer sees only the last n_swa positions (itself included) */
        const int first = sliding && n_pos > hp->n_swa ? n_pos - hp->n_swa : 0;
        const int n = n_pos - first;
        const int channel = (h / group) * hd;
        const float *q = ctx->q + (size_t)t * q_dim + (size_t)h * hd;
        float *out = ctx->att + (size_t)t * q_dim + (size_t)h * hd;

        memset(scores, 0, (size_t)n * sizeof *scores);
        for (int d = 0; d < hd; d++) {
            const void *k = kv_cache_k(kv, layer, channel + d, first);
            if (f16)
                ops->axpy_f16(n, q[d], k, scores);
            else
                ops->axpy_f32(n, q[d], k, scores);
        }
        for (int p = 0; p < n; p++)
            scores[p] *= hp->attn_scale;
        if (hp->attn_softcap > 0.0f)
            softcap(scores, n, hp->attn_softcap);
        softmax(scores, n);
        for (int d = 0; d < hd; d++) {
            const void *v = kv_cache_v(kv, layer, channel + d, first);
            out[d] = f16 ? ops->dot_f16(n, scores, v) : ops->dot_f32(n, scores, v);
        }
    }
    threadpool_barrier(ctx->pool);
}
