/* AVX2 tile kernels (kt_gemm, see quant.h) for Q8_0 and Q4_0 weights against
 * Q8_0 activations: up to 2 rows x 4 tokens per register tile, for prompt
 * processing and batched verification on CPUs without AVX-512, and the same
 * kernels for one token (matmul uses them for every n_tok).
 *
 * Why: vec_dot per (row, token) redoes the per-block work of the weight row
 * (load, |x| or the nibble unpack, the scale) for every token, and its loop
 * runs about 5 cycles a block; a verification batch of 5 tokens then costs 3-4
 * times one token, which leaves speculative decoding nothing. Here a weight
 * block is loaded and prepared once for the tile's tokens, and the tokens'
 * blocks once for its rows.
 *
 * Batch invariance. Each output (row r, token t) is one chain of 8-lane float
 * vectors over the row's blocks in order, starting from 0:
 *   acc = fma(float(isum8_b), broadcast(d_x[b] * d_y[b]), acc)
 * where isum8_b holds the block's exact integer dot as 8 partial sums (lane j:
 * elements 4j..4j+3 and 16+4j..16+4j+3, as VPMADDUBSW + VPMADDWD pair them),
 * then out = kt_hsum256_ps(acc). Integer arithmetic is exact, so these are the
 * same ops whatever the tile size, the output's slot in it, the number of
 * tokens or the thread split.
 *  - Q8_0: |x| times y with x's sign (VPSIGNB), exact for y in -127..127
 *    (all the activation quantizer writes), as in legacy_avx2.h.
 *  - Q4_0: the unsigned levels 0..15 times y, minus 8 times y (the second
 *    byte dot is per token and block, shared by the tile's rows).
 * Tokens go in blocks of TOKEN_BLOCK, so that their activations stay in L2
 * while the thread's rows stream past them once per block. */
#include "quant.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "blocks.h"
#include "simd_x86.h"

#define TILE_ROWS 2    /* rows per register tile (and the row-tile height) */
#define TILE_TOKENS 4  /* tokens per register tile */
#define TOKEN_BLOCK 32 /* tokens whose activations one pass over the rows serves */

/* 16 bytes of packed nibbles -> 32 levels: elements 0..15 (low nibbles), then 16..31. */
static inline __m256i nibble_levels(const uint8_t *qs)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0f));
}

/* One register tile: R rows (R <= TILE_ROWS) x T tokens (T <= TILE_TOKENS),
 * all blocks. Row i at w + i * row_bytes, token j's activation row at act[j]. */
static inline __attribute__((always_inline)) void tile(int nibbles, int R, int T, int64_t nb, const uint8_t *w,
                                                        size_t row_bytes, const block_q8_0 *const *act,
                                                        float *out, size_t ldo)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[TILE_ROWS][TILE_TOKENS];
    #pragma GCC unroll 4
    for (int i = 0; i < R; i++)
        #pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            acc[i][j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        float dy[TILE_TOKENS];
        __m256i y[TILE_TOKENS], off[TILE_TOKENS];
        #pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            y[j] = kt_loadu256(act[j][b].qs);
            dy[j] = _cvtsh_ss(act[j][b].d);
            if (nibbles) /* 8 * y in int16 pairs: the Q4_0 offset, shared by the rows */
                off[j] = _mm256_maddubs_epi16(_mm256_set1_epi8(8), y[j]);
        }
        #pragma GCC unroll 4
        for (int i = 0; i < R; i++) {
            const uint8_t *row = w + (size_t)i * row_bytes;
            float dx;
            __m256i u, x = _mm256_setzero_si256();
            if (nibbles) {
                const block_q4_0 *blk = (const block_q4_0 *)row + b;
                dx = _cvtsh_ss(blk->d);
                u = nibble_levels(blk->qs);
            } else {
                const block_q8_0 *blk = (const block_q8_0 *)row + b;
                dx = _cvtsh_ss(blk->d);
                x = kt_loadu256(blk->qs);
                u = _mm256_abs_epi8(x);
            }
            #pragma GCC unroll 4
            for (int j = 0; j < T; j++) {
                const __m256i p = nibbles ? _mm256_sub_epi16(_mm256_maddubs_epi16(u, y[j]), off[j])
                                          : _mm256_maddubs_epi16(u, _mm256_sign_epi8(y[j], x));
                const __m256 f = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
                acc[i][j] = _mm256_fmadd_ps(f, _mm256_set1_ps(dx * dy[j]), acc[i][j]);
            }
        }
    }
    #pragma GCC unroll 4
    for (int i = 0; i < R; i++)
        #pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            out[(size_t)j * ldo + (size_t)i] = kt_hsum256_ps(acc[i][j]);
}

typedef void (*tile_fn)(int64_t nb, const uint8_t *w, size_t row_bytes, const block_q8_0 *const *act, float *out,
                        size_t ldo);

#define TILE_FN(NAME, NIB, R, T)                                                                               \
    static void NAME(int64_t nb, const uint8_t *w, size_t row_bytes, const block_q8_0 *const *act, float *out, \
                     size_t ldo)                                                                               \
    {                                                                                                          \
        tile(NIB, R, T, nb, w, row_bytes, act, out, ldo);                                                     \
    }

#define TILES(X, NIB)                                                                                          \
    TILE_FN(X##_1x1, NIB, 1, 1)                                                                                \
    TILE_FN(X##_1x2, NIB, 1, 2)                                                                                \
    TILE_FN(X##_1x3, NIB, 1, 3)                                                                                \
    TILE_FN(X##_1x4, NIB, 1, 4)                                                                                \
    TILE_FN(X##_2x1, NIB, 2, 1)                                                                                \
    TILE_FN(X##_2x2, NIB, 2, 2)                                                                                \
    TILE_FN(X##_2x3, NIB, 2, 3)                                                                                \
    TILE_FN(X##_2x4, NIB, 2, 4)                                                                                \
    static const tile_fn X##_tiles[TILE_ROWS][TILE_TOKENS] = { { X##_1x1, X##_1x2, X##_1x3, X##_1x4 },         \
                                                               { X##_2x1, X##_2x2, X##_2x3, X##_2x4 } };

TILES(q8_0, 0)
TILES(q4_0, 1)

static void run_tiles(const tile_fn tiles[TILE_ROWS][TILE_TOKENS], int64_t n, const void *restrict w,
                      size_t row_bytes, int64_t nrows, const void *restrict act, size_t act_stride, int n_tok,
                      float *restrict out, size_t ldo)
{
    const int64_t nb = n / QK8_0;
    const uint8_t *wb = w, *ab = act;
    for (int t0 = 0; t0 < n_tok; t0 += TOKEN_BLOCK) {
        const int t_end = t0 + TOKEN_BLOCK < n_tok ? t0 + TOKEN_BLOCK : n_tok;
        for (int64_t r = 0; r < nrows; r += TILE_ROWS) {
            const int R = nrows - r < TILE_ROWS ? (int)(nrows - r) : TILE_ROWS;
            if (n_tok == 1) { /* one row at a time: one read stream */
                const block_q8_0 *one = (const block_q8_0 *)ab;
                for (int i = 0; i < R; i++)
                    tiles[0][0](nb, wb + (size_t)(r + i) * row_bytes, row_bytes, &one, out + r + i, ldo);
                continue;
            }
            for (int t = t0; t < t_end; t += TILE_TOKENS) {
                const int T = t_end - t < TILE_TOKENS ? t_end - t : TILE_TOKENS;
                const block_q8_0 *rows_act[TILE_TOKENS];
                for (int j = 0; j < T; j++)
                    rows_act[j] = (const block_q8_0 *)(ab + (size_t)(t + j) * act_stride);
                tiles[R - 1][T - 1](nb, wb + (size_t)r * row_bytes, row_bytes, rows_act, out + (size_t)t * ldo + r,
                                    ldo);
            }
        }
    }
}

static void gemm_q8_0(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows, const void *restrict act,
                      size_t act_stride, int n_tok, float *restrict out, size_t ldo, int packed)
{
    (void)packed;
    run_tiles(q8_0_tiles, n, w, row_bytes, nrows, act, act_stride, n_tok, out, ldo);
}

static void gemm_q4_0(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows, const void *restrict act,
                      size_t act_stride, int n_tok, float *restrict out, size_t ldo, int packed)
{
    (void)packed;
    run_tiles(q4_0_tiles, n, w, row_bytes, nrows, act, act_stride, n_tok, out, ldo);
}

static const kt_gemm gemm_q8_0_avx2 = { TILE_ROWS, NULL, gemm_q8_0, NULL };
static const kt_gemm gemm_q4_0_avx2 = { TILE_ROWS, NULL, gemm_q4_0, NULL };

void kt_register_avx2_gemm(kt_traits *table)
{
    table[KT_Q8_0].gemm = &gemm_q8_0_avx2;
    table[KT_Q4_0].gemm = &gemm_q4_0_avx2;
}

#else

void kt_register_avx2_gemm(kt_traits *table)
{
    (void)table;
}

#endif
