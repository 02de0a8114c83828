#include "attention.h"

#include <math.h>
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
    const float scale = 1.0f / sqrtf((float)hd);
    float *scores = ctx->scores + (size_t)ith * ctx->n_ctx;

    /* Items interleave across threads: later tokens see more positions. */
    for (int item = ith; item < n_tok * hp->n_head; item += nth) {
        const int t = item / hp->n_head, h = item % hp->n_head;
        const int n_pos = pos + t + 1;
        const int kv_off = (h / group) * hd;
        const float *q = ctx->q + (size_t)t * q_dim + (size_t)h * hd;
        float *out = ctx->att + (size_t)t * q_dim + (size_t)h * hd;

        for (int p = 0; p < n_pos; p++)
            scores[p] = dot_row(kv, kv_cache_k_row(kv, layer, p) + kv_off * kv->elem_size, q, hd) * scale;
        softmax(scores, n_pos);
        memset(out, 0, (size_t)hd * sizeof *out);
        for (int p = 0; p < n_pos; p++)
            add_scaled_row(kv, kv_cache_v_row(kv, layer, p) + kv_off * kv->elem_size, scores[p], out, hd);
    }
    threadpool_barrier(ctx->pool);
}
