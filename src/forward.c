/* The forward pass of a Llama-family transformer over a batch of tokens, top to
 * bottom. Every thread of the pool runs forward_thread; each step does its
 * share (rows, tokens or heads) of the work, and a barrier ends each step.
 * Architecture differences (biases, q/k norms, fused projections, post-norms,
 * GELU, soft-capping, sliding windows) are optional steps, marked as such. */
#include <string.h>

#include "attention.h"
#include "context.h"
#include "matmul.h"
#include "ops.h"
#include "quant/quant.h"

typedef struct {
    kestrel_context *ctx;
    const kestrel_token *tokens;
    int n_tok, pos;
    int first_out; /* logits are computed for tokens first_out .. n_tok-1 */
} pass;

static void rows_of(int n, int ith, int nth, int *begin, int *end)
{
    *begin = (int)((int64_t)n * ith / nth);
    *end = (int)((int64_t)n * (ith + 1) / nth);
}

#define ROW(buf, t, width) ((buf) + (size_t)(t) * (size_t)(width))

/* Copies columns [col, col + n) of each row of a [n_tok][width] buffer into a [n_tok][n] one. */
static void take_columns(float *dst, const float *src, int width, int col, int n, int t0, int t1)
{
    for (int t = t0; t < t1; t++)
        memcpy(ROW(dst, t, n), ROW(src, t, width) + col, (size_t)n * sizeof(float));
}

static void forward_thread(void *arg, int ith, int nth)
{
    const pass *ps = arg;
    kestrel_context *ctx = ps->ctx;
    const kestrel_model *m = ctx->model;
    const hparams *hp = &m->hp;
    const int n_tok = ps->n_tok, n_embd = hp->n_embd, n_ff = hp->n_ff, hd = hp->head_dim;
    const int q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd;
    int t0, t1; /* this thread's share of the batch for per-token steps */
    rows_of(n_tok, ith, nth, &t0, &t1);

    /* token embedding: x[t] = row tokens[t] of token_embd (scaled, for Gemma) */
    const kt_traits *et = kt_get_traits(m->tok_embd.type);
    for (int t = t0; t < t1; t++) {
        float *x = ROW(ctx->x, t, n_embd);
        et->to_float(m->tok_embd.data + (size_t)ps->tokens[t] * m->tok_embd.row_bytes, x, n_embd);
        if (hp->embd_scale != 1.0f)
            for (int i = 0; i < n_embd; i++)
                x[i] *= hp->embd_scale;
    }

    /* RoPE angles of this thread's tokens; the scores scratch holds them until attention. */
    float *rope_cos = ctx->scores + (size_t)ith * ctx->scores_per_thread, *rope_sin = rope_cos + hp->n_rot / 2;
    threadpool_barrier(ctx->pool);

    for (int l = 0; l < hp->n_layer; l++) {
        const layer_weights *w = &m->layers[l];

        /* attention sublayer: xb = rmsnorm(x) */
        for (int t = t0; t < t1; t++)
            rmsnorm(ROW(ctx->xb, t, n_embd), ROW(ctx->x, t, n_embd), (const float *)w->attn_norm.data, n_embd,
                    hp->rms_eps);
        threadpool_barrier(ctx->pool);

        /* q, k, v projections (one fused matrix for phi3), plus biases (qwen2) */
        if (w->wqkv.data) {
            matmul(ctx, &w->wqkv, ctx->xb, n_tok, ctx->wide, ith, nth);
            const int width = q_dim + 2 * kv_dim;
            take_columns(ctx->q, ctx->wide, width, 0, q_dim, t0, t1);
            take_columns(ctx->k, ctx->wide, width, q_dim, kv_dim, t0, t1);
            take_columns(ctx->v, ctx->wide, width, q_dim + kv_dim, kv_dim, t0, t1);
        } else {
            const weight *qkv[3] = { &w->wq, &w->wk, &w->wv };
            float *const qkv_out[3] = { ctx->q, ctx->k, ctx->v };
            matmul_many(ctx, qkv, qkv_out, 3, ctx->xb, n_tok, ith, nth);
        }
        for (int t = t0; t < t1 && w->bq.data; t++) {
            add_bias(ROW(ctx->q, t, q_dim), (const float *)w->bq.data, q_dim);
            add_bias(ROW(ctx->k, t, kv_dim), (const float *)w->bk.data, kv_dim);
            add_bias(ROW(ctx->v, t, kv_dim), (const float *)w->bv.data, kv_dim);
        }

        /* per-head RMSNorm of q and k (qwen3), RoPE at each token's position, then k, v into the cache */
        for (int t = t0; t < t1; t++) {
            float *q = ROW(ctx->q, t, q_dim), *k = ROW(ctx->k, t, kv_dim);
            for (int h = 0; h < hp->n_head && w->q_norm.data; h++)
                rmsnorm(q + h * hd, q + h * hd, (const float *)w->q_norm.data, hd, hp->rms_eps);
            for (int h = 0; h < hp->n_head_kv && w->k_norm.data; h++)
                rmsnorm(k + h * hd, k + h * hd, (const float *)w->k_norm.data, hd, hp->rms_eps);
            rope_tables(ps->pos + t, hp->n_rot, hp->rope_freq_base, hp->rope_freq_scale, hp->rope_freqs, rope_cos,
                        rope_sin);
            rope_apply(q, hp->n_head, hd, hp->n_rot, hp->rope_layout, rope_cos, rope_sin);
            rope_apply(k, hp->n_head_kv, hd, hp->n_rot, hp->rope_layout, rope_cos, rope_sin);
        }
        if (t1 > t0)
            kv_cache_store(&ctx->kv, l, ps->pos + t0, t1 - t0, ROW(ctx->k, t0, kv_dim), ROW(ctx->v, t0, kv_dim));
        threadpool_barrier(ctx->pool);

        /* att = softmax(q k^T * scale) v: causal, grouped-query, optionally windowed and soft-capped */
        attention(ctx, l, n_tok, ps->pos, ith, nth);

        /* x += wo . att (through a post-norm for gemma2); xb holds the projection */
        matmul(ctx, &w->wo, ctx->att, n_tok, ctx->xb, ith, nth);
        for (int t = t0; t < t1; t++) {
            float *out = ROW(ctx->xb, t, n_embd), *x = ROW(ctx->x, t, n_embd);
            if (w->attn_post_norm.data)
                rmsnorm(out, out, (const float *)w->attn_post_norm.data, n_embd, hp->rms_eps);
            for (int i = 0; i < n_embd; i++)
                x[i] += out[i];
        }
        threadpool_barrier(ctx->pool);

        /* feed-forward sublayer: xb = rmsnorm(x); x += down(act(gate(xb)) * up(xb)) */
        for (int t = t0; t < t1; t++)
            rmsnorm(ROW(ctx->xb, t, n_embd), ROW(ctx->x, t, n_embd), (const float *)w->ffn_norm.data, n_embd,
                    hp->rms_eps);
        threadpool_barrier(ctx->pool);
        if (w->w_gate.data) {
            const weight *gate_up[2] = { &w->w_gate, &w->w_up };
            float *const gate_up_out[2] = { ctx->hb, ctx->hb2 };
            matmul_many(ctx, gate_up, gate_up_out, 2, ctx->xb, n_tok, ith, nth);
            for (int t = t0; t < t1; t++)
                gated_activation(ROW(ctx->hb, t, n_ff), ROW(ctx->hb, t, n_ff), ROW(ctx->hb2, t, n_ff), n_ff, hp->ffn);
        } else { /* fused: each row of the product is gate | up (phi3) */
            matmul(ctx, &w->w_up, ctx->xb, n_tok, ctx->wide, ith, nth);
            for (int t = t0; t < t1; t++)
                gated_activation(ROW(ctx->hb, t, n_ff), ROW(ctx->wide, t, 2 * n_ff), ROW(ctx->wide, t, 2 * n_ff) + n_ff,
                                 n_ff, hp->ffn);
        }
        threadpool_barrier(ctx->pool);
        matmul(ctx, &w->w_down, ctx->hb, n_tok, ctx->xb, ith, nth);
        for (int t = t0; t < t1; t++) {
            float *out = ROW(ctx->xb, t, n_embd), *x = ROW(ctx->x, t, n_embd);
            if (w->ffn_post_norm.data)
                rmsnorm(out, out, (const float *)w->ffn_post_norm.data, n_embd, hp->rms_eps);
            for (int i = 0; i < n_embd; i++)
                x[i] += out[i];
        }
        threadpool_barrier(ctx->pool);
    }

    /* output norm and projection, only for the tokens whose logits are wanted */
    const int first = ps->first_out, n_out = n_tok - first;
    rows_of(n_out, ith, nth, &t0, &t1);
    for (int t = t0; t < t1; t++)
        rmsnorm(ROW(ctx->xb, t, n_embd), ROW(ctx->x, first + t, n_embd), (const float *)m->output_norm.data, n_embd,
                hp->rms_eps);
    threadpool_barrier(ctx->pool);
    matmul(ctx, &m->output, ctx->xb, n_out, ctx->logits, ith, nth);
    if (hp->final_softcap > 0.0f) /* gemma2 */
        for (int t = t0; t < t1; t++)
            softcap(ROW(ctx->logits, t, hp->n_vocab), hp->n_vocab, hp->final_softcap);
}

void forward(kestrel_context *ctx, const kestrel_token *tokens, int n, int pos, bool all_logits)
{
    pass ps = { ctx, tokens, n, pos, all_logits ? 0 : n - 1 };
    threadpool_run(ctx->pool, forward_thread, &ps);
    ctx->n_logits = n - ps.first_out;
}
