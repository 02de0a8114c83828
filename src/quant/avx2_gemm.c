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
#include "kquants_x86.h"
#include "simd_x86.h"

#define MAX_TOKENS 4    /* tokens per register tile */
#define LEGACY_TOKENS 4 /* legacy: 8 accumulators */
#define K_TOKENS 4      /* K-quants: 8 accumulators and 4 sums */
#define TOKEN_BLOCK 32  /* tokens whose activations one pass over the rows serves */

/* An integer running sum, added to as it goes: without this the compiler
 * reassociates a tile's sums into trees that keep every product live, and
 * spills them. */
#define KEEP_IN_REGISTER(v) __asm__("" : "+x"(v))

/* ---- legacy: Q8_0 and Q4_0 weights, Q8_0 activations ---------------------
 * prep writes a side table after the activation row's blocks: per block d_y
 * as a float and, for Q4_0, the 8 partial sums of 8 * y that the offset of the
 * levels takes off (exact integers, so the same as subtracting them before
 * the pairwise VPMADDWD, as vec_dot does). */
typedef struct {
    int32_t off[8];
    float d;
} act_side;

static inline size_t side_offset(int64_t nb) { return ((size_t)nb * sizeof(block_q8_0) + 63) & ~(size_t)63; }

static inline void prep_legacy(int64_t n, void *row, int nibbles)
{
    const int64_t nb = n / QK8_0;
    const block_q8_0 *y = row;
    act_side *side = (act_side *)((uint8_t *)row + side_offset(nb));
    for (int64_t b = 0; b < nb; b++) {
        const __m256i off = nibbles ? _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), kt_loadu256(y[b].qs)),
                                                        _mm256_set1_epi16(1))
                                    : _mm256_setzero_si256();
        _mm256_storeu_si256((__m256i *)side[b].off, off);
        side[b].d = _cvtsh_ss(y[b].d);
    }
}

static void prep_q8_0(int64_t n, void *row) { prep_legacy(n, row, 0); }
static void prep_q4_0(int64_t n, void *row) { prep_legacy(n, row, 1); }

/* 16 bytes of packed nibbles -> 32 levels: elements 0..15 (low nibbles), then 16..31. */
static inline __m256i nibble_levels(const uint8_t *qs)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0f));
}

/* Block b of one row (w) against T tokens (activation rows act[j], prepped),
 * into acc[j]. */
static inline __attribute__((always_inline)) void legacy_block(int nibbles, int T, int64_t b, const uint8_t *w,
                                                                const uint8_t *const *act, size_t side_at,
                                                                __m256 *acc)
{
    const __m256i ones = _mm256_set1_epi16(1);
    float dx;
    __m256i u, x = _mm256_setzero_si256();
    if (nibbles) {
        const block_q4_0 *blk = (const block_q4_0 *)w + b;
        dx = _cvtsh_ss(blk->d);
        u = nibble_levels(blk->qs);
    } else {
        const block_q8_0 *blk = (const block_q8_0 *)w + b;
        dx = _cvtsh_ss(blk->d);
        x = kt_loadu256(blk->qs);
        u = _mm256_abs_epi8(x);
    }
#pragma GCC unroll 4
    for (int j = 0; j < T; j++) {
        const __m256i y = kt_loadu256(((const block_q8_0 *)act[j] + b)->qs);
        const act_side *side = (const act_side *)(act[j] + side_at) + b;
        const __m256i isum = nibbles
            ? _mm256_sub_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(u, y), ones), kt_loadu256(side->off))
            : _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(y, x)), ones);
        acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dx * side->d), acc[j]);
    }
}

/* One row against T tokens, all blocks: per output two chains, even and odd
 * blocks (one chain's FMA latency would bound a single token), then
 * out = hsum(even + odd). */
static inline __attribute__((always_inline)) void tile_legacy(int nibbles, int T, int64_t nb, const uint8_t *w,
                                                               const uint8_t *const *act, float *out, size_t ldo)
{
    const size_t side_at = side_offset(nb);
    __m256 even[LEGACY_TOKENS], odd[LEGACY_TOKENS];
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
        even[j] = odd[j] = _mm256_setzero_ps();
    int64_t b = 0;
    for (; b + 2 <= nb; b += 2) {
        legacy_block(nibbles, T, b, w, act, side_at, even);
        legacy_block(nibbles, T, b + 1, w, act, side_at, odd);
    }
    if (b < nb)
        legacy_block(nibbles, T, b, w, act, side_at, even);
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
        out[(size_t)j * ldo] = kt_hsum256_ps(_mm256_add_ps(even[j], odd[j]));
}

/* ---- K-quants: Q4_K and Q6_K weights, Q8_K activations, K_TOKENS a tile ----
 * Per output the float ops of the type's vec_dot (avx2_kquants.c), so a
 * tile's outputs are also bit-identical to it; the row's levels and scales are
 * unpacked once per block for all the tile's tokens. */

static inline __attribute__((always_inline)) void tile_q4_k(int T, int64_t nb, const uint8_t *w,
                                                             const block_q8_K *const *y, float *out, size_t ldo)
{
    const block_q4_K *x = (const block_q4_K *)w;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc[K_TOKENS], accm[K_TOKENS];
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
        acc[j] = accm[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m128i scm = kq_k4_scales_mins(x[b].scales);
        const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scm));
        __m256i s[K_TOKENS];
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            s[j] = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m256i qv = kt_loadu256(x[b].qs + 32 * c);
            const __m256i lo = _mm256_and_si256(qv, m4), hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
            const __m256i sc_lo = _mm256_shuffle_epi8(sc, kq_pick1(2 * c));
            const __m256i sc_hi = _mm256_shuffle_epi8(sc, kq_pick1(2 * c + 1));
#pragma GCC unroll 4
            for (int j = 0; j < T; j++) {
                const int8_t *y8 = y[j][b].qs + 64 * c;
                const __m256i p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, kt_loadu256(y8)), sc_lo);
                const __m256i p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, kt_loadu256(y8 + 32)), sc_hi);
                s[j] = _mm256_add_epi32(s[j], _mm256_add_epi32(p0, p1));
                KEEP_IN_REGISTER(s[j]);
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            const __m128 dd = kq_d_dmin(&x[b].d, y[j][b].d);
            const __m256i summs = kq_k4_min_sums(scm, y[j][b].bsums);
            accm[j] = _mm256_fmadd_ps(_mm256_broadcastss_ps(_mm_movehdup_ps(dd)), _mm256_cvtepi32_ps(summs), accm[j]);
            acc[j] = _mm256_fmadd_ps(_mm256_broadcastss_ps(dd), _mm256_cvtepi32_ps(s[j]), acc[j]);
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
        out[(size_t)j * ldo] = kt_hsum256_ps(acc[j]) - kt_hsum256_ps(accm[j]);
}

static inline __attribute__((always_inline)) void tile_q6_k(int T, int64_t nb, const uint8_t *w,
                                                             const block_q8_K *const *y, float *out, size_t ldo)
{
    const block_q6_K *x = (const block_q6_K *)w;
    __m256 acc[K_TOKENS];
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
        acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m128i sc8 = kt_loadu128(x[b].scales);
        const __m256i sc = kq_even_odd_scales(sc8);
        __m256i s[K_TOKENS];
#pragma GCC unroll 4
        for (int j = 0; j < T; j++)
            s[j] = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m256i l[4];
            kq_q6_k_levels(&x[b], h, l);
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++) {
                const __m256i scg = _mm256_shuffle_epi8(sc, kq_pick1(4 * h + g));
#pragma GCC unroll 4
                for (int j = 0; j < T; j++) {
                    const __m256i p = _mm256_maddubs_epi16(l[g], kt_loadu256(y[j][b].qs + 128 * h + 32 * g));
                    s[j] = _mm256_add_epi32(s[j], _mm256_madd_epi16(p, scg));
                    KEEP_IN_REGISTER(s[j]);
                }
            }
        }
        const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
#pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            /* levels are q - 32: minus 32 * (scales . bsums) */
            const float d = y[j][b].d * _cvtsh_ss(x[b].d);
            const __m256i offs = _mm256_madd_epi16(sc16, kt_loadu256(y[j][b].bsums));
            const __m256i isum = _mm256_sub_epi32(s[j], _mm256_slli_epi32(offs, 5));
            acc[j] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc[j]);
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
        out[(size_t)j * ldo] = kt_hsum256_ps(acc[j]);
}

/* A tile: one weight row (w) against T activation rows (act[j]); n_blocks of
 * the weight type; out[j * ldo] for token j. */
typedef void (*tile_fn)(int64_t n_blocks, const uint8_t *w, const uint8_t *const *act, float *out, size_t ldo);

#define TILE_FN(NAME, CALL)                                                                                 \
    static void NAME(int64_t nb, const uint8_t *w, const uint8_t *const *act, float *out, size_t ldo) \
    {                                                                                                   \
        CALL;                                                                                           \
    }
#define LEGACY_TILES(X, NIB)                                                                          \
    TILE_FN(X##_t1, tile_legacy(NIB, 1, nb, w, act, out, ldo))                                        \
    TILE_FN(X##_t2, tile_legacy(NIB, 2, nb, w, act, out, ldo))                                        \
    TILE_FN(X##_t3, tile_legacy(NIB, 3, nb, w, act, out, ldo))                                        \
    TILE_FN(X##_t4, tile_legacy(NIB, 4, nb, w, act, out, ldo))                                        \
    static const tile_fn X##_tiles[MAX_TOKENS] = { X##_t1, X##_t2, X##_t3, X##_t4 };
#define K_TILES(X)                                                                                    \
    TILE_FN(X##_t1, tile_##X(1, nb, w, (const block_q8_K *const *)act, out, ldo))                     \
    TILE_FN(X##_t2, tile_##X(2, nb, w, (const block_q8_K *const *)act, out, ldo))                     \
    TILE_FN(X##_t3, tile_##X(3, nb, w, (const block_q8_K *const *)act, out, ldo))                     \
    TILE_FN(X##_t4, tile_##X(4, nb, w, (const block_q8_K *const *)act, out, ldo))                     \
    static const tile_fn X##_tiles[MAX_TOKENS] = { X##_t1, X##_t2, X##_t3, X##_t4 };

LEGACY_TILES(q8_0, 0)
LEGACY_TILES(q4_0, 1)
K_TILES(q4_k)
K_TILES(q6_k)

/* Every row, one at a time (one read stream: two rows side by side measured
 * slower for one token), against tiles of up to tt tokens, in blocks of
 * TOKEN_BLOCK tokens. */
static void run_rows(const tile_fn *tiles, int tt, int64_t nb, const void *restrict w, size_t row_bytes,
                     int64_t nrows, const void *restrict act, size_t act_stride, int n_tok, float *restrict out,
                     size_t ldo)
{
    const uint8_t *wb = w, *ab = act;
    for (int t0 = 0; t0 < n_tok; t0 += TOKEN_BLOCK) {
        const int t_end = t0 + TOKEN_BLOCK < n_tok ? t0 + TOKEN_BLOCK : n_tok;
        for (int64_t r = 0; r < nrows; r++)
            for (int t = t0; t < t_end; t += tt) {
                const int T = t_end - t < tt ? t_end - t : tt;
                const uint8_t *rows_act[MAX_TOKENS];
                for (int j = 0; j < T; j++)
                    rows_act[j] = ab + (size_t)(t + j) * act_stride;
                tiles[T - 1](nb, wb + (size_t)r * row_bytes, rows_act, out + (size_t)t * ldo + r, ldo);
            }
    }
}

#define GEMM_FN(NAME, TILES, TT, BLOCK)                                                                       \
    static void NAME(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows,                     \
                     const void *restrict act, size_t act_stride, int n_tok, float *restrict out, size_t ldo, \
                     int packed)                                                                             \
    {                                                                                                        \
        (void)packed;                                                                                        \
        run_rows(TILES, TT, n / (BLOCK), w, row_bytes, nrows, act, act_stride, n_tok, out, ldo);             \
    }

GEMM_FN(gemm_q8_0, q8_0_tiles, LEGACY_TOKENS, QK8_0)
GEMM_FN(gemm_q4_0, q4_0_tiles, LEGACY_TOKENS, QK8_0)
GEMM_FN(gemm_q4_k, q4_k_tiles, K_TOKENS, QK_K)
GEMM_FN(gemm_q6_k, q6_k_tiles, K_TOKENS, QK_K)

static const kt_gemm gemm_q8_0_avx2 = { 1, prep_q8_0, gemm_q8_0, NULL };
static const kt_gemm gemm_q4_0_avx2 = { 1, prep_q4_0, gemm_q4_0, NULL };
static const kt_gemm gemm_q4_k_avx2 = { 1, NULL, gemm_q4_k, NULL };
static const kt_gemm gemm_q6_k_avx2 = { 1, NULL, gemm_q6_k, NULL };

void kt_register_avx2_gemm(kt_traits *table)
{
    table[KT_Q8_0].gemm = &gemm_q8_0_avx2;
    table[KT_Q4_0].gemm = &gemm_q4_0_avx2;
    table[KT_Q4_K].gemm = &gemm_q4_k_avx2;
    table[KT_Q6_K].gemm = &gemm_q6_k_avx2;
}

#else

void kt_register_avx2_gemm(kt_traits *table)
{
    (void)table;
}

#endif
