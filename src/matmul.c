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

/* The prep of a weight type's tile kernel, or NULL. */
static kt_gemm_prep_fn prep_of(const kt_traits *wt) { return wt->gemm ? wt->gemm->prep : NULL; }

/* Units of work of a matrix: row tiles where it has a tile kernel, else rows. */
static int64_t units_of(const weight *w)
{
    const kt_gemm *g = kt_get_traits(w->type)->gemm;
    return g ? (w->ne1 + g->rows - 1) / g->rows : w->ne1;
}

/* Units [u0, u1) of w into out. Each output's float ops do not depend on the
 * tile, the token count or the split (quant.h). */
static void run_units(const weight *w, const uint8_t *act, size_t act_stride, int n_tok, float *out, int64_t u0,
                      int64_t u1)
{
    const kt_traits *wt = kt_get_traits(w->type);
    const kt_gemm *g = wt->gemm;
    if (g) {
        const int64_t r0 = u0 * g->rows, r1 = u1 * g->rows < w->ne1 ? u1 * g->rows : w->ne1;
        if (r1 > r0)
            g->run(w->ne0, (w->packed ? w->packed : w->data) + (size_t)r0 * w->row_bytes, w->row_bytes, r1 - r0, act,
                   act_stride, n_tok, out + r0, (size_t)w->ne1, w->packed != NULL);
        return;
    }
    for (int64_t r = u0; r < u1; r++) {
        const uint8_t *row = w->data + (size_t)r * w->row_bytes;
        for (int t = 0; t < n_tok; t++)
            wt->vec_dot(w->ne0, &out[(size_t)t * w->ne1 + r], row, act + (size_t)t * act_stride);
    }
}

void matmul_many(kestrel_context *ctx, const weight *const *ws, float *const *outs, int nw, const float *x,
                 int n_tok, int ith, int nth)
{
    /* One activation format for all (same width, type and prep), else one by one. */
    const kt_traits *wt0 = kt_get_traits(ws[0]->type);
    for (int i = 1; i < nw; i++) {
        const kt_traits *wt = kt_get_traits(ws[i]->type);
        if (ws[i]->ne0 != ws[0]->ne0 || wt->vec_dot_type != wt0->vec_dot_type || prep_of(wt) != prep_of(wt0)) {
            for (int k = 0; k < nw; k++)
                matmul(ctx, ws[k], x, n_tok, outs[k], ith, nth);
            return;
        }
    }
    const int64_t ne0 = ws[0]->ne0;
    const int act_type = wt0->vec_dot_type;
    const uint8_t *act = (const uint8_t *)x;
    size_t act_stride = (size_t)ne0 * sizeof(float);
    if (act_type != KT_F32) {
        const kt_traits *at = kt_get_traits(act_type);
        const kt_gemm_prep_fn prep = prep_of(wt0);
        const size_t act_row = ctx->act_q_row_cap;
        int64_t t0, t1;
        split(n_tok, ith, nth, &t0, &t1);
        for (int64_t t = t0; t < t1; t++) {
            uint8_t *row = (uint8_t *)ctx->act_q + t * act_row;
            at->from_float(x + t * ne0, row, ne0);
            if (prep)
                prep(ne0, row);
        }
        threadpool_barrier(ctx->pool);
        act = ctx->act_q;
        act_stride = act_row;
    }

    /* The units of all the matrices as one range, split evenly. */
    int64_t total = 0;
    for (int i = 0; i < nw; i++)
        total += units_of(ws[i]);
    int64_t b, e;
    split(total, ith, nth, &b, &e);
    int64_t base = 0;
    for (int i = 0; i < nw && b < e; i++) {
        const int64_t n_units = units_of(ws[i]);
        const int64_t u0 = b > base ? b - base : 0, u1 = e - base < n_units ? e - base : n_units;
        if (u1 > u0)
            run_units(ws[i], act, act_stride, n_tok, outs[i], u0, u1);
        base += n_units;
    }
    threadpool_barrier(ctx->pool);
}

void matmul(kestrel_context *ctx, const weight *w, const float *x, int n_tok, float *out, int ith, int nth)
{
    matmul_many(ctx, &w, &out, 1, x, n_tok, ith, nth);
}
