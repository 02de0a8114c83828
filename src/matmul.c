#include "matmul.h"

#include "quant/quant.h"

size_t matmul_act_row_bytes(int64_t n)
{
    /* The widest activation types are F32 (4 bytes a value) and Q8_K (292 per 256). */
    return (size_t)n * sizeof(float) + 64;
}

/* [begin, end) of n items for thread ith of nth. */
static void split(int64_t n, int ith, int nth, int64_t *begin, int64_t *end)
{
    *begin = n * ith / nth;
    *end = n * (ith + 1) / nth;
}

void matmul(kestrel_context *ctx, const weight *w, const float *x, int n_tok, float *out, int ith, int nth)
{
    const kt_traits *wt = kt_get_traits(w->type);
    const int act_type = wt->vec_dot_type;
    const size_t act_row = ctx->act_q_row_cap;
    const uint8_t *act = (const uint8_t *)x;
    size_t act_stride = (size_t)w->ne0 * sizeof(float);

    const kt_gemm *g = wt->gemm;

    if (act_type != KT_F32) {
        const kt_traits *at = kt_get_traits(act_type);
        int64_t t0, t1;
        split(n_tok, ith, nth, &t0, &t1);
        for (int64_t t = t0; t < t1; t++) {
            uint8_t *row = (uint8_t *)ctx->act_q + t * act_row;
            at->from_float(x + t * w->ne0, row, w->ne0);
            if (g && g->prep)
                g->prep(w->ne0, row);
        }
        threadpool_barrier(ctx->pool);
        act = ctx->act_q;
        act_stride = act_row;
    }

    if (g) {
        /* Row tiles of g->rows, split evenly; each output's float ops do not
         * depend on the tile, the token count or the split (quant.h). */
        const int64_t ntiles = (w->ne1 + g->rows - 1) / g->rows;
        int64_t k0, k1;
        split(ntiles, ith, nth, &k0, &k1);
        const int64_t r0 = k0 * g->rows, r1 = k1 * g->rows < w->ne1 ? k1 * g->rows : w->ne1;
        if (r1 > r0)
            g->run(w->ne0, (w->packed ? w->packed : w->data) + (size_t)r0 * w->row_bytes, w->row_bytes, r1 - r0, act,
                   act_stride, n_tok, out + r0, (size_t)w->ne1, w->packed != NULL);
        threadpool_barrier(ctx->pool);
        return;
    }

    int64_t r0, r1;
    split(w->ne1, ith, nth, &r0, &r1);
    for (int64_t r = r0; r < r1; r++) {
        const uint8_t *row = w->data + (size_t)r * w->row_bytes;
        for (int t = 0; t < n_tok; t++)
            wt->vec_dot(w->ne0, &out[(size_t)t * w->ne1 + r], row, act + (size_t)t * act_stride);
    }
    threadpool_barrier(ctx->pool);
}
