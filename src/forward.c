/* The forward pass of a Llama-family transformer over a batch of tokens, top to
 * bottom. Every thread of the pool runs forward_thread; each step does its
 * share (rows, tokens or heads) of the work, and a barrier ends each step. */
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

static void forward_thread(void *arg, int ith, int nth)
{
    const pass *ps = arg;
    kestrel_context *ctx = ps->ctx;
    const kestrel_model *m = ctx->model;
    const hparams *hp = &m->hp;
    const int n_tok = ps->n_tok, n_embd = hp->n_embd;
    const int q_dim = hp->n_head * hp->head_dim, kv_dim = hp->n_head_kv * hp->head_dim;
    int t0, t1; /* this thread's share of the batch for per-token steps */
    rows_of(n_tok, ith, nth, &t0, &t1);

    /* token embedding: x[t] = row tokens[t] of token_embd */
    const kt_traits *et = kt_get_traits(m->tok_embd.type);
    for (int t = t0; t < t1; t++)
        et->to_float(m->tok_embd.data + (size_t)ps->tokens[t] * m->tok_embd.row_bytes, ctx->x + (size_t)t * n_embd,
                     n_embd);

    /* RoPE angles of this thread's tokens; the scores scratch holds them until attention. */
    float *rope_cos = ctx->scores + (size_t)ith * ctx->n_ctx, *rope_sin = rope_cos + hp->n_rot / 2;
    threadpool_barrier(ctx->pool);

    for (int l = 0; l < hp->n_layer; l++) {
        const layer_weights *w = &m->layers[l];

        /* attention sublayer: xb = rmsnorm(x) */
        for (int t = t0; t < t1; t++)
            rmsnorm(ctx->xb + (size_t)t * n_embd, ctx->x + (size_t)t * n_embd, (const float *)w->attn_norm.data,
                    n_embd, hp->rms_eps);
        threadpool_barrier(ctx->pool);

        /* q, k, v projections */
        matmul(ctx, &w->wq, ctx->xb, n_tok, ctx->q, ith, nth);
        matmul(ctx, &w->wk, ctx->xb, n_tok, ctx->k, ith, nth);
        matmul(ctx, &w->wv, ctx->xb, n_tok, ctx->v, ith, nth);

        /* RoPE on q and k at each token's position, then k, v into the cache */
        for (int t = t0; t < t1; t++) {
            rope_tables(ps->pos + t, hp->n_rot, hp->rope_freq_base, hp->rope_freq_scale, rope_cos, rope_sin);
            rope_apply(ctx->q + (size_t)t * q_dim, hp->n_head, hp->head_dim, hp->n_rot, hp->rope_layout, rope_cos,
                       rope_sin);
            rope_apply(ctx->k + (size_t)t * kv_dim, hp->n_head_kv, hp->head_dim, hp->n_rot, hp->rope_layout,
                       rope_cos, rope_sin);
        }
        if (t1 > t0)
            kv_cache_store(&ctx->kv, l, ps->pos + t0, t1 - t0, ctx->k + (size_t)t0 * kv_dim,
                           ctx->v + (size_t)t0 * kv_dim);
        threadpool_barrier(ctx->pool);

        /* att = softmax(q k^T / sqrt(d)) v, causal, grouped-query */
        attention(ctx, l, n_tok, ps->pos, ith, nth);

        /* x += wo . att; xb reused as the projection's output */
        matmul(ctx, &w->wo, ctx->att, n_tok, ctx->xb, ith, nth);
        for (int t = t0; t < t1; t++)
            for (int i = 0; i < n_embd; i++)
                ctx->x[(size_t)t * n_embd + i] += ctx->xb[(size_t)t * n_embd + i];
        threadpool_barrier(ctx->pool);

        /* feed-forward sublayer: xb = rmsnorm(x); x += down(silu(gate(xb)) * up(xb)) */
        for (int t = t0; t < t1; t++)
            rmsnorm(ctx->xb + (size_t)t * n_embd, ctx->x + (size_t)t * n_embd, (const float *)w->ffn_norm.data,
                    n_embd, hp->rms_eps);
        threadpool_barrier(ctx->pool);
        matmul(ctx, &w->w_gate, ctx->xb, n_tok, ctx->hb, ith, nth);
        matmul(ctx, &w->w_up, ctx->xb, n_tok, ctx->hb2, ith, nth);
        for (int t = t0; t < t1; t++)
            silu_mul(ctx->hb + (size_t)t * hp->n_ff, ctx->hb2 + (size_t)t * hp->n_ff, hp->n_ff);
        threadpool_barrier(ctx->pool);
        matmul(ctx, &w->w_down, ctx->hb, n_tok, ctx->xb, ith, nth);
        for (int t = t0; t < t1; t++)
            for (int i = 0; i < n_embd; i++)
                ctx->x[(size_t)t * n_embd + i] += ctx->xb[(size_t)t * n_embd + i];
        threadpool_barrier(ctx->pool);
    }

    /* output norm and projection, only for the tokens whose logits are wanted */
    const int first = ps->first_out, n_out = n_tok - first;
    rows_of(n_out, ith, nth, &t0, &t1);
    for (int t = t0; t < t1; t++)
        rmsnorm(ctx->xb + (size_t)t * n_embd, ctx->x + (size_t)(first + t) * n_embd,
                (const float *)m->output_norm.data, n_embd, hp->rms_eps);
    threadpool_barrier(ctx->pool);
    matmul(ctx, &m->output, ctx->xb, n_out, ctx->logits, ith, nth);
}

void forward(kestrel_context *ctx, const kestrel_token *tokens, int n, int pos, bool all_logits)
{
    pass ps = { ctx, tokens, n, pos, all_logits ? 0 : n - 1 };
    threadpool_run(ctx->pool, forward_thread, &ps);
    ctx->n_logits = n - ps.first_out;
}
