#include "attention.h"

#include <string.h>

#include "ops.h"
#include "quant/vecops.h"

/* With the cache transposed (kv_cache.h), both products run over positions:
 *   scores[p] = sum_d q[d] * K[d][p]  -- an fma chain over d per position
 *   out[d]    = sum_p s[p] * V[d][p]  -- head_dim dot products over the run
 * Every element's arithmetic depends only on its own position's values and on
 * the run length, never on the batch, so a token's result is the same alone or
 * in a batch. The query heads that share a KV head (grouped-query attention)
 * are computed together, so each K and V row is read and converted once for
 * all of them (vecops qk/pv: the same arithmetic per element as one head). */
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
    const size_t row = (size_t)ctx->n_ctx; /* a head's scores in the thread's buffer */

    /* Work items: (token, KV head, part of its group); a group is split only
     * when there are fewer (token, KV head) pairs than threads. Items
     * interleave across threads: later tokens see more positions. */
    const int pairs = n_tok * hp->n_head_kv;
    int parts = pairs >= nth ? 1 : (nth + pairs - 1) / pairs;
    parts = parts > group ? group : parts;
    for (int item = ith; item < pairs * parts; item += nth) {
        const int t = item / (hp->n_head_kv * parts), kvh = item / parts % hp->n_head_kv, part = item % parts;
        const int h0 = kvh * group + part * group / parts, m = kvh * group + (part + 1) * group / parts - h0;
        const int n_pos = pos + t + 1;
        /* a sliding-window layer sees only the last n_swa positions (itself included) */
        const int first = sliding && n_pos > hp->n_swa ? n_pos - hp->n_swa : 0;
        const int n = n_pos - first;
        const int channel = kvh * hd;
        const float *q = ctx->q + (size_t)t * q_dim + (size_t)h0 * hd;
        float *out = ctx->att + (size_t)t * q_dim + (size_t)h0 * hd;

        if (f16)
            ops->qk_f16(n, hd, m, q, (size_t)hd, kv_cache_k(kv, layer, channel, first), (size_t)kv->stride, scores,
                        row);
        else
            ops->qk_f32(n, hd, m, q, (size_t)hd, kv_cache_k(kv, layer, channel, first), (size_t)kv->stride, scores,
                        row);
        for (int j = 0; j < m; j++) {
            float *sj = scores + (size_t)j * row;
            for (int p = 0; p < n; p++)
                sj[p] *= hp->attn_scale;
            if (hp->attn_softcap > 0.0f)
                softcap(sj, n, hp->attn_softcap);
            softmax(sj, n);
        }
        if (f16)
            ops->pv_f16(n, hd, m, scores, row, kv_cache_v(kv, layer, channel, first), (size_t)kv->stride, out,
                        (size_t)hd);
        else
            ops->pv_f32(n, hd, m, scores, row, kv_cache_v(kv, layer, channel, first), (size_t)kv->stride, out,
                        (size_t)hd);
    }
    threadpool_barrier(ctx->pool);
}
