#include "attention.h"

#include <math.h>
#include <string.h>

#include "ops.h"
#include "quant/kt_expf.h"
#include "quant/vecops.h"

/* With the cache transposed (kv_cache.h), both products run over positions:
 *   scores[p] = sum_d q[d] * K[d][p]  -- an fma chain over d per position
 *   out[d]    = sum_p w[p] * V[d][p]  -- head_dim dot products over the run
 * The query heads that share a KV head (grouped-query attention) are computed
 * together, so each K and V row is read and converted once for all of them
 * (vecops qk/pv). The positions go by in blocks of ATT_BLOCK with an online
 * softmax (running max and sum, earlier blocks rescaled when the max grows),
 * so the scores of one block per head are all the scratch it needs, in L1,
 * whatever the context length.
 *
 * Batch invariance: the blocks start at the query's first visible position
 * and every element's arithmetic depends only on its own position's values,
 * the block it is in and the run length, never on the batch, so a token's
 * result is the same alone or in a batch. */
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
    /* the thread's scratch (attention_scratch): scores, then partial outputs */
    const int max_m = group < ATT_MAX_GROUP ? group : ATT_MAX_GROUP;
    float *scores = ctx->scores + (size_t)ith * ctx->scores_per_thread;
    float *part = scores + (size_t)max_m * ATT_BLOCK;
    float run_max[ATT_MAX_GROUP];
    double run_sum[ATT_MAX_GROUP];

    /* Work items: (token, KV head, part of its group); a group is split when
     * there are fewer (token, KV head) pairs than threads, or when it has more
     * than ATT_MAX_GROUP heads. Items interleave across threads: later tokens
     * see more positions. */
    const int pairs = n_tok * hp->n_head_kv;
    int parts = pairs >= nth ? 1 : (nth + pairs - 1) / pairs;
    parts = parts > group ? group : parts;
    parts = parts < (group + ATT_MAX_GROUP - 1) / ATT_MAX_GROUP ? (group + ATT_MAX_GROUP - 1) / ATT_MAX_GROUP : parts;
    for (int item = ith; item < pairs * parts; item += nth) {
        const int t = item / (hp->n_head_kv * parts), kvh = item / parts % hp->n_head_kv, prt = item % parts;
        const int h0 = kvh * group + prt * group / parts, m = kvh * group + (prt + 1) * group / parts - h0;
        const int n_pos = pos + t + 1;
        /* a sliding-window layer sees only the last n_swa positions (itself included) */
        const int first = sliding && n_pos > hp->n_swa ? n_pos - hp->n_swa : 0;
        const int n = n_pos - first;
        const int channel = kvh * hd;
        const float *q = ctx->q + (size_t)t * q_dim + (size_t)h0 * hd;
        float *out = ctx->att + (size_t)t * q_dim + (size_t)h0 * hd;

        for (int b0 = 0; b0 < n; b0 += ATT_BLOCK) {
            const int nb = n - b0 < ATT_BLOCK ? n - b0 : ATT_BLOCK;
            const int at = first + b0;
            if (f16)
                ops->qk_f16(nb, hd, m, q, (size_t)hd, kv_cache_k(kv, layer, channel, at), (size_t)kv->stride, scores,
                            ATT_BLOCK);
            else
                ops->qk_f32(nb, hd, m, q, (size_t)hd, kv_cache_k(kv, layer, channel, at), (size_t)kv->stride, scores,
                            ATT_BLOCK);
            float rescale[ATT_MAX_GROUP];
            for (int j = 0; j < m; j++) {
                float *sj = scores + (size_t)j * ATT_BLOCK;
                for (int p = 0; p < nb; p++)
                    sj[p] *= hp->attn_scale;
                if (hp->attn_softcap > 0.0f)
                    softcap(sj, nb, hp->attn_softcap);
                float mx = b0 == 0 ? -INFINITY : run_max[j];
                for (int p = 0; p < nb; p++)
                    mx = sj[p] > mx ? sj[p] : mx;
                rescale[j] = b0 == 0 ? 0.0f : kt_expf(run_max[j] - mx);
                const double sum = ops->exp_sum(sj, nb, mx);
                run_sum[j] = b0 == 0 ? sum : run_sum[j] * rescale[j] + sum;
                run_max[j] = mx;
            }
            if (f16)
                ops->pv_f16(nb, hd, m, scores, ATT_BLOCK, kv_cache_v(kv, layer, channel, at), (size_t)kv->stride,
                            b0 == 0 ? out : part, (size_t)hd);
            else
                ops->pv_f32(nb, hd, m, scores, ATT_BLOCK, kv_cache_v(kv, layer, channel, at), (size_t)kv->stride,
                            b0 == 0 ? out : part, (size_t)hd);
            if (b0 > 0)
                for (int j = 0; j < m; j++)
                    for (int d = 0; d < hd; d++)
                        out[j * hd + d] = out[j * hd + d] * rescale[j] + part[j * hd + d];
        }
        for (int j = 0; j < m; j++) {
            const float inv = (float)(1.0 / run_sum[j]);
            for (int d = 0; d < hd; d++)
                out[j * hd + d] *= inv;
        }
    }
    threadpool_barrier(ctx->pool);
}
