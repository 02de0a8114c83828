/* Contexts: allocate once, then decode batches with no allocation. */
#include "context.h"

#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "error.h"
#include "matmul.h"

kestrel_context_params kestrel_context_default_params(void)
{
    kestrel_context_params p = { .n_ctx = 0, .n_batch = 512, .n_threads = 0, .kv_type = KESTREL_KV_F16 };
    return p;
}

static float *alloc_floats(size_t rows, size_t width)
{
    return calloc(rows * width, sizeof(float));
}

kestrel_context *kestrel_context_new(kestrel_model *model, const kestrel_context_params *params)
{
    if (!model->layers) {
        kestrel_fail(model->name, "the model was loaded without weights (vocabulary only)");
        return NULL;
    }
    const hparams *hp = &model->hp;
    kestrel_context_params p = params ? *params : kestrel_context_default_params();
    if (p.n_ctx <= 0)
        p.n_ctx = hp->n_ctx_train;
    if (p.n_batch <= 0)
        p.n_batch = 512;
    if (p.n_batch > p.n_ctx)
        p.n_batch = p.n_ctx;
    if (p.n_threads <= 0)
        p.n_threads = kestrel_physical_cores();
    if (p.n_ctx > (1 << 24) || p.n_threads > 1024) {
        kestrel_fail(NULL, "context of %d positions or %d threads is too large", p.n_ctx, p.n_threads);
        return NULL;
    }

    kestrel_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        kestrel_fail(NULL, "out of memory");
        return NULL;
    }
    ctx->model = model;
    ctx->n_ctx = p.n_ctx;
    ctx->n_batch = p.n_batch;
    const size_t nb = (size_t)p.n_batch;
    const size_t q_dim = (size_t)hp->n_head * hp->head_dim, kv_dim = (size_t)hp->n_head_kv * hp->head_dim;
    size_t widest = (size_t)hp->n_embd;
    if (q_dim > widest)
        widest = q_dim;
    if ((size_t)hp->n_ff > widest)
        widest = (size_t)hp->n_ff;
    /* attention's scratch (src/attention.c), also the RoPE tables' (n_rot <= head_dim) */
    ctx->scores_per_thread = attention_scratch(hp->n_head, hp->n_head_kv, hp->head_dim);
    size_t wide = 0; /* fused products: q | k | v, or gate | up */
    for (int l = 0; l < hp->n_layer; l++) {
        if (model->layers[l].wqkv.data && q_dim + 2 * kv_dim > wide)
            wide = q_dim + 2 * kv_dim;
        if (!model->layers[l].w_gate.data && 2 * (size_t)hp->n_ff > wide)
            wide = 2 * (size_t)hp->n_ff;
    }

    ctx->x = alloc_floats(nb, (size_t)hp->n_embd);
    ctx->xb = alloc_floats(nb, (size_t)hp->n_embd);
    ctx->q = alloc_floats(nb, q_dim);
    ctx->att = alloc_floats(nb, q_dim);
    ctx->k = alloc_floats(nb, kv_dim);
    ctx->v = alloc_floats(nb, kv_dim);
    ctx->hb = alloc_floats(nb, (size_t)hp->n_ff);
    ctx->hb2 = alloc_floats(nb, (size_t)hp->n_ff);
    ctx->scores = alloc_floats((size_t)p.n_threads, ctx->scores_per_thread);
    ctx->wide = wide ? alloc_floats(nb, wide) : NULL;
    ctx->act_q_row_cap = matmul_act_row_bytes((int64_t)widest);
    ctx->act_q = calloc(nb, ctx->act_q_row_cap);
    ctx->logits = alloc_floats(nb, (size_t)hp->n_vocab);
    if (!ctx->x || !ctx->xb || !ctx->q || !ctx->att || !ctx->k || !ctx->v || !ctx->hb || !ctx->hb2 ||
        !ctx->scores || !ctx->act_q || !ctx->logits || (wide && !ctx->wide)) {
        kestrel_fail(NULL, "out of memory for a batch of %d tokens", p.n_batch);
        goto fail;
    }
    if (kv_cache_init(&ctx->kv, p.kv_type, hp->n_layer, p.n_ctx, (int)kv_dim))
        goto fail;
    ctx->pool = threadpool_new(p.n_threads);
    if (!ctx->pool)
        goto fail;
    return ctx;
fail:
    kestrel_context_free(ctx);
    return NULL;
}

void kestrel_context_free(kestrel_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->pool)
        threadpool_free(ctx->pool);
    kv_cache_free(&ctx->kv);
    free(ctx->x);
    free(ctx->xb);
    free(ctx->q);
    free(ctx->att);
    free(ctx->k);
    free(ctx->v);
    free(ctx->hb);
    free(ctx->hb2);
    free(ctx->scores);
    free(ctx->wide);
    free(ctx->act_q);
    free(ctx->logits);
    free(ctx);
}

int kestrel_n_ctx(const kestrel_context *ctx) { return ctx->n_ctx; }
int kestrel_n_threads(const kestrel_context *ctx) { return threadpool_size(ctx->pool); }

int kestrel_decode(kestrel_context *ctx, const kestrel_token *tokens, int n_tokens, int pos, bool all_logits)
{
    const int n_vocab = ctx->model->hp.n_vocab;
    if (n_tokens <= 0 || pos < 0 || pos > ctx->n_ctx - n_tokens)
        return kestrel_fail(NULL, "cannot evaluate %d tokens at position %d: the context holds %d", n_tokens, pos,
                            ctx->n_ctx);
    if (all_logits && n_tokens > ctx->n_batch)
        return kestrel_fail(NULL, "all logits of %d tokens asked, but a batch holds at most %d", n_tokens,
                            ctx->n_batch);
    for (int i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return kestrel_fail(NULL, "token id %d is outside the vocabulary (%d tokens)", tokens[i], n_vocab);
    /* Longer batches go through in chunks; only the last chunk's logits are kept. */
    for (int done = 0; done < n_tokens; done += ctx->n_batch) {
        int n = n_tokens - done < ctx->n_batch ? n_tokens - done : ctx->n_batch;
        forward(ctx, tokens + done, n, pos + done, all_logits);
    }
    return 0;
}

const float *kestrel_logits(const kestrel_context *ctx, int i)
{
    if (i < 0)
        i = ctx->n_logits - 1;
    if (i >= ctx->n_logits)
        return NULL;
    return ctx->logits + (size_t)i * ctx->model->hp.n_vocab;
}
