#include "attention.h"

#include <string.h>

#include "ops.h"
#include "quant/fp16.h"

static float dot_row(const kv_cache *kv, const uint8_t *row, const float *q, int n)
{
    float sum = 0.0f;
    if (kv->type == KESTREL_KV_F32) {
        const float *k = (const float *)row;
        for (int i = 0; i < n; i++)
            sum += k[i] * q[i];
    } else {
        const kt_half *k = (const kt_half *)row;
        for (int i = 0; i < n; i++)
            sum += kt_half_to_f32(k[i]) * q[i];
    }
    return sum;
}

static void add_scaled_row(const kv_cache *kv, const uint8_t *row, float p, float *out, int n)
{
    if (kv->type == KESTREL_KV_F32) {
        const float *v = (const float *)row;
        for (int i = 0; i < n; i++)
            out[i] += p * v[i];
    } else {
        const kt_half *v = (const kt_half *)row;
        for (int i = 0; i < n; i++)
            out[i] += p * kt_half_to_f32(v[i]);
    }
}

void attention(kestrel_context *ctx, int layer, int n_tok, int pos, int ith, int nth)
{
    const hparams *hp = &ctx->model->hp;
    const kv_cache *kv = &ctx->kv;
    const int hd = hp->head_dim;
    const int q_dim = hp->n_head * hd;
    const int group = hp->n_head / hp->n_head_kv;
    const float scale = hp->attn_scale;
    const bool sliding = ctx->model->layers[layer].sliding;
    float *scores = ctx->scores + (size_t)ith * ctx->scores_per_thread;

    /* Items interleave across threads: later tokens see more positions. */
    for (int item = ith; item < n_tok * hp->n_head; item += nth) {
        const int t = item / hp->n_head, h = item % hp->n_head;
        const int n_pos = pos + t + 1;
        /* a sliding-window layer sees only the last n_swa positions (itself included) */
        const int first = sliding && n_pos > hp->n_swa ? n_pos - hp->n_swa : 0;
        const int kv_off = (h / group) * hd;
        const float *q = ctx->q + (size_t)t * q_dim + (size_t)h * hd;
        float *out = ctx->att + (size_t)t * q_dim + (size_t)h * hd;

        const int n = n_pos - first;
        for (int p = first; p < n_pos; p++)
            scores[p - first] = dot_row(kv, kv_cache_k_row(kv, layer, p) + kv_off * kv->elem_size, q, hd) * scale;
        if (hp->attn_softcap > 0.0f)
            softcap(scores, n, hp->attn_softcap);
        softmax(scores, n);
        memset(out, 0, (size_t)hd * sizeof *out);
        for (int p = first; p < n_pos; p++)
            add_scaled_row(kv, kv_cache_v_row(kv, layer, p) + kv_off * kv->elem_size, scores[p - first], out, hd);
    }
    threadpool_barrier(ctx->pool);
}
