/* Every matrix product of the forward pass goes through here. */
#ifndef KESTREL_MATMUL_H
#define KESTREL_MATMUL_H

#include "context.h"

/* out[t * w->ne1 + r] = (row r of w) . x[t * w->ne0 ...] for t < n_tok.
 * The activations are first converted to the weight type's vec_dot_type (8-bit
 * blocks for quantized weights). Called by every thread ith of nth of a pass;
 * returns after a barrier, with all of out written. Each output is one vec_dot
 * call whatever n_tok is, or, where the type has a tile kernel (kt_gemm), one
 * lane of it computed with the same float ops whatever n_tok and the thread
 * split are, so a token's result does not depend on its batch. */
void matmul(kestrel_context *ctx, const weight *w, const float *x, int n_tok, float *out, int ith, int nth);

/* outs[i] = ws[i] . x for i < nw, the same x: its activations are quantized
 * once and the rows of all the matrices are split between the threads as one
 * range, with one barrier after the quantization and one at the end (where
 * the matrices want different activation formats, one matmul each). */
void matmul_many(kestrel_context *ctx, const weight *const *ws, float *const *outs, int nw, const float *x,
                 int n_tok, int ith, int nth);

/* Bytes per activation row that matmul needs for a row of n values, any weight type. */
size_t matmul_act_row_bytes(int64_t n);

#endif
