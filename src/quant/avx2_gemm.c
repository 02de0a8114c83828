/* AVX2 tile kernels (kt_gemm, see quant.h) for Q8_0, Q4_0, Q4_K and Q6_K
 * weights: prompt processing and batched verification on CPUs without
 * AVX-512, and the same kernels for one token (matmul uses them for every
 * n_tok, so a token's outputs do not depend on its batch).
 *
 * Why: vec_dot per (row, token) redoes the per-block work of the weight row
 * (load, |x| or the nibble unpack, the scales) for every token, about 5
 * cycles a block on a Zen 3 class core; a verification batch of 5 tokens then
 * cost 3-4 times one token. Here a weight block is loaded and prepared once
 * for up to MAX_TOKENS tokens.
 *
 * Batch invariance: each output (row r, token t) is one chain of float ops
 * over the row's blocks in order, whatever the tile, the output's slot in it,
 * the number of tokens and the thread split; integer sums are exact, so how
 * they are formed does not matter.
 *  - Q8_0, Q4_0: 8 rows per register, one per lane, repacked at load into
 *    groups of 8 rows (see group_run): a scalar chain per output,
 *    acc = fma(float(isum_b), d_x[b] * d_y[b], acc), no horizontal sum.
 *  - Q4_K, Q6_K: one row at a time (one read stream; two rows side by side
 *    measured slower for one token), the tokens' activations reused from L1;
 *    per output the float ops of their vec_dot (avx2_kquants.c), so also its
 *    bits.
 * Tokens go in blocks of TOKEN_BLOCK, so that their activations stay in L2
 * while the thread's rows stream past them once per block. */
#include "quant.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "blocks.h"
#include "kquants_x86.h"
#include "simd_x86.h"

#define MAX_TOKENS 4    /* tokens per register tile (K-quants: 8 accumulators and 4 sums) */
#define TOKEN_BLOCK 32  /* tokens whose activations one pass over the rows serves */

/* An integer running sum, added to as it goes: without this the compiler
 * reassociates a tile's sums into trees that keep every product live, and
 * spills them. */
#define KEEP_IN_REGISTER(v) __asm__("" : "+x"(v))

/* ---- Q8_0 and Q4_0 weights, Q8_0 activations ----------------------------
 * prep writes a side table after the activation row's blocks: per block d_y
 * as a float and, for Q4_0 weights, the integer sum of its 32 levels times 8
 * (the offset of the Q4_0 levels). */
typedef struct {
    int32_t off;
    float d;
} act_side;

static inline size_t side_offset(int64_t nb) { return ((size_t)nb * sizeof(block_q8_0) + 63) & ~(size_t)63; }

static inline void prep_legacy(int64_t n, void *row, int nibbles)
{
    const int64_t nb = n / QK8_0;
    const block_q8_0 *y = row;
    act_side *side = (act_side *)((uint8_t *)row + side_offset(nb));
    for (int64_t b = 0; b < nb; b++) {
        side[b].off = 0;
        if (nibbles) {
            const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), kt_loadu256(y[b].qs)),
                                                _mm256_set1_epi16(1));
            side[b].off = kt_hsum128_epi32(_mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)));
        }
        side[b].d = _cvtsh_ss(y[b].d);
    }
}

static void prep_q8_0(int64_t n, void *row) { prep_legacy(n, row, 0); }
static void prep_q4_0(int64_t n, void *row) { prep_legacy(n, row, 1); }

/* Q8_0 and Q4_0: 8 rows per register, one per 32-bit lane, so that a block's
 * integer dot ends in its row's lane with no horizontal sum. Packed group of
 * 8 rows: per block the 8 rows' d (f16, 16 bytes), then vectors where dword L
 * of vector k is bytes 4k..4k+3 of row L's quants (Q4_0: 4 vectors, nibbles
 * of elements 4k..4k+3 low, 16+4k.. high; Q8_0: 8 vectors): exactly the 8
 * rows' blocks (144 or 272 bytes), so whole matrices are repacked at load
 * (repack) and read as one stream; otherwise groups are packed on the fly, a
 * chunk of blocks at a time. Per output (row, token) the
 * float chain is acc = fma(float(isum_b), d_x[b] * d_y[b], acc) over the
 * blocks in order, from 0: one lane of the group kernel, or the scalar chain
 * of the rows past the last full group, the same ops either way.
 * Q4_0: VPMADDUBSW of the unsigned levels (0..15) with the token's 4 bytes
 * broadcast gives pair sums of at most 2 * 15 * 127; the 8 of a block add up
 * in int16 without overflow, then one VPMADDWD, minus 8 * sum(y). */
#define GROUP 8
#define CHUNK 16 /* blocks packed at a time on the fly */

/* 16 bytes at x[l] + off of each of the 8 rows -> 4 vectors at dst, dword L
 * of vector k = bytes 4k..4k+3 of row L. */
static inline void transpose8x4(const uint8_t *const *x, size_t off, uint8_t *dst)
{
#define ROW16(l) kt_loadu128(x[l] + off)
    const __m256i a0 = _mm256_set_m128i(ROW16(4), ROW16(0)), a1 = _mm256_set_m128i(ROW16(5), ROW16(1));
    const __m256i a2 = _mm256_set_m128i(ROW16(6), ROW16(2)), a3 = _mm256_set_m128i(ROW16(7), ROW16(3));
#undef ROW16
    /* 128-bit lane h of t0: dwords 0, 1 of rows 4h, 4h+1 interleaved; t2 the same for rows 4h+2, 4h+3 */
    const __m256i t0 = _mm256_unpacklo_epi32(a0, a1), t1 = _mm256_unpackhi_epi32(a0, a1);
    const __m256i t2 = _mm256_unpacklo_epi32(a2, a3), t3 = _mm256_unpackhi_epi32(a2, a3);
    __m256i *v = (__m256i *)dst;
    _mm256_storeu_si256(v + 0, _mm256_unpacklo_epi64(t0, t2));
    _mm256_storeu_si256(v + 1, _mm256_unpackhi_epi64(t0, t2));
    _mm256_storeu_si256(v + 2, _mm256_unpacklo_epi64(t1, t3));
    _mm256_storeu_si256(v + 3, _mm256_unpackhi_epi64(t1, t3));
}

/* Block b of 8 rows (file layout at w) into its packed form at dst: the 8 d,
 * then the quants transposed, 16 bytes of each row at a time. */
static inline void pack_group_block(const uint8_t *w, size_t row_bytes, size_t block_bytes, int64_t b, uint8_t *dst)
{
    const uint8_t *x[GROUP];
    for (int l = 0; l < GROUP; l++) {
        x[l] = w + (size_t)l * row_bytes + (size_t)b * block_bytes;
        memcpy(dst + 2 * l, x[l], 2);
    }
    for (size_t h = 0; 2 + 16 * h < block_bytes; h++)
        transpose8x4(x, 2 + 16 * h, dst + 16 + 128 * h);
}

/* Blocks b0..b0+kc of a packed group against T tokens; acc[j] carries the
 * 8 rows' chains. Q8_0 (nibbles = 0): per 4 bytes |x| times y with x's
 * sign, VPMADDWD per vector (int16 pair sums reach 2 * 128 * 127). */
static inline __attribute__((always_inline)) void group_run(int nibbles, int T, const uint8_t *pk, int64_t b0,
                                                             int64_t kc, const uint8_t *const *act, size_t side_at,
                                                             __m256 *acc)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    const size_t packed_block = GROUP * (nibbles ? sizeof(block_q4_0) : sizeof(block_q8_0));
    for (int64_t b = 0; b < kc; b++) {
        const uint8_t *blk = pk + (size_t)b * packed_block;
        const __m256 dx = _mm256_cvtph_ps(kt_loadu128(blk));
        __m256i isum[MAX_TOKENS];
        if (nibbles) {
            __m256i lv[8];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const __m256i v = kt_loadu256(blk + 16 + 32 * k);
                lv[k] = _mm256_and_si256(v, m4);
                lv[4 + k] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
            }
#pragma GCC unroll 4
            for (int j = 0; j < T; j++) {
                const int8_t *y = ((const block_q8_0 *)act[j] + b0 + b)->qs;
                __m256i s = _mm256_maddubs_epi16(lv[0], _mm256_set1_epi32(kt_load32(y)));
#pragma GCC unroll 8
                for (int k = 1; k < 8; k++) {
                    s = _mm256_add_epi16(s, _mm256_maddubs_epi16(lv[k], _mm256_set1_epi32(kt_load32(y + 4 * k))));
                    KEEP_IN_REGISTER(s);
                }
                const act_side *side = (const act_side *)(act[j] + side_at) + b0 + b;
                isum[j] = _mm256_sub_epi32(_mm256_madd_epi16(s, ones), _mm256_set1_epi32(side->off));
            }
        } else {
#pragma GCC unroll 4
            for (int j = 0; j < T; j++)
                isum[j] = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) {
                const __m256i x = kt_loadu256(blk + 16 + 32 * k), u = _mm256_abs_epi8(x);
#pragma GCC unroll 4
                for (int j = 0; j < T; j++) {
                    const int8_t *y = ((const block_q8_0 *)act[j] + b0 + b)->qs;
                    const __m256i yk = _mm256_sign_epi8(_mm256_set1_epi32(kt_load32(y + 4 * k)), x);
                    isum[j] = _mm256_add_epi32(isum[j], _mm256_madd_epi16(_mm256_maddubs_epi16(u, yk), ones));
                    KEEP_IN_REGISTER(isum[j]);
                }
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            const act_side *side = (const act_side *)(act[j] + side_at) + b0 + b;
            acc[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[j]), _mm256_mul_ps(dx, _mm256_set1_ps(side->d)), acc[j]);
        }
    }
}

/* 8 rows at w (packed, or file layout packed here chunk by chunk) against T tokens. */
static inline __attribute__((always_inline)) void tile_group(int nibbles, int T, int64_t nb, const uint8_t *w,
                                                              size_t row_bytes, int packed,
                                                              const uint8_t *const *act, float *out, size_t ldo)
{
    const size_t side_at = side_offset(nb);
    const size_t block_bytes = nibbles ? sizeof(block_q4_0) : sizeof(block_q8_0);
    __m256 acc[MAX_TOKENS];
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
        acc[j] = _mm256_setzero_ps();
    if (packed) {
        group_run(nibbles, T, w, 0, nb, act, side_at, acc);
    } else {
        uint8_t buf[CHUNK * GROUP * sizeof(block_q8_0)];
        for (int64_t b0 = 0; b0 < nb; b0 += CHUNK) {
            const int64_t kc = nb - b0 < CHUNK ? nb - b0 : CHUNK;
            for (int64_t b = 0; b < kc; b++)
                pack_group_block(w, row_bytes, block_bytes, b0 + b, buf + (size_t)b * GROUP * block_bytes);
            group_run(nibbles, T, buf, b0, kc, act, side_at, acc);
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
        _mm256_storeu_ps(out + (size_t)j * ldo, acc[j]);
}

/* A row past the last full group (file layout) against one token: the same
 * integers, then the same chain as a group lane. */
static inline float row_chain(int nibbles, int64_t nb, const uint8_t *w, const uint8_t *act)
{
    const size_t side_at = side_offset(nb);
    __m128 acc = _mm_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const act_side *side = (const act_side *)(act + side_at) + b;
        const __m256i y = kt_loadu256(((const block_q8_0 *)act + b)->qs);
        float dx;
        __m256i p;
        if (nibbles) {
            const block_q4_0 *x = (const block_q4_0 *)w + b;
            dx = _cvtsh_ss(x->d);
            p = _mm256_maddubs_epi16(kt_nibbles32(x->qs), y);
        } else {
            const block_q8_0 *x = (const block_q8_0 *)w + b;
            const __m256i q = kt_loadu256(x->qs);
            dx = _cvtsh_ss(x->d);
            p = _mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(y, q));
        }
        const __m256i s = _mm256_madd_epi16(p, _mm256_set1_epi16(1));
        const int isum = kt_hsum128_epi32(_mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1))) -
                         (nibbles ? side->off : 0);
        acc = _mm_fmadd_ss(_mm_set_ss((float)isum), _mm_set_ss(dx * side->d), acc);
    }
    return _mm_cvtss_f32(acc);
}

/* ---- K-quants: Q4_K and Q6_K weights, Q8_K activations, MAX_TOKENS a tile ----
 * Per output the float ops of the type's vec_dot (avx2_kquants.c), so a
 * tile's outputs are also bit-identical to it; the row's levels and scales are
 * unpacked once per block for all the tile's tokens. */

static inline __attribute__((always_inline)) void tile_q4_k(int T, int64_t nb, const uint8_t *w,
                                                             const block_q8_K *const *y, float *out, size_t ldo)
{
    const block_q4_K *x = (const block_q4_K *)w;
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256 acc[MAX_TOKENS], accm[MAX_TOKENS];
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
        acc[j] = accm[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m128i scm = kq_k4_scales_mins(x[b].scales);
        const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scm));
        __m256i s[MAX_TOKENS];
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
    __m256 acc[MAX_TOKENS];
#pragma GCC unroll 4
    for (int j = 0; j < T; j++)
        acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m128i sc8 = kt_loadu128(x[b].scales);
        const __m256i sc = kq_even_odd_scales(sc8);
        __m256i s[MAX_TOKENS];
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
#define ROW_TILES(X, ACT)                                                                             \
    TILE_FN(X##_t1, tile_##X(1, nb, w, (ACT)act, out, ldo))                                           \
    TILE_FN(X##_t2, tile_##X(2, nb, w, (ACT)act, out, ldo))                                           \
    TILE_FN(X##_t3, tile_##X(3, nb, w, (ACT)act, out, ldo))                                           \
    TILE_FN(X##_t4, tile_##X(4, nb, w, (ACT)act, out, ldo))                                           \
    static const tile_fn X##_tiles[MAX_TOKENS] = { X##_t1, X##_t2, X##_t3, X##_t4 };

ROW_TILES(q4_k, const block_q8_K *const *)
ROW_TILES(q6_k, const block_q8_K *const *)

/* Every row, one at a time (one read stream: two rows side by side measured
 * slower for one token), against tiles of up to MAX_TOKENS tokens, in blocks of
 * TOKEN_BLOCK tokens. */
static void run_rows(const tile_fn *tiles, int64_t nb, const void *restrict w, size_t row_bytes,
                     int64_t nrows, const void *restrict act, size_t act_stride, int n_tok, float *restrict out,
                     size_t ldo)
{
    const uint8_t *wb = w, *ab = act;
    for (int t0 = 0; t0 < n_tok; t0 += TOKEN_BLOCK) {
        const int t_end = t0 + TOKEN_BLOCK < n_tok ? t0 + TOKEN_BLOCK : n_tok;
        for (int64_t r = 0; r < nrows; r++)
            for (int t = t0; t < t_end; t += MAX_TOKENS) {
                const int T = t_end - t < MAX_TOKENS ? t_end - t : MAX_TOKENS;
                const uint8_t *rows_act[MAX_TOKENS];
                for (int j = 0; j < T; j++)
                    rows_act[j] = ab + (size_t)(t + j) * act_stride;
                tiles[T - 1](nb, wb + (size_t)r * row_bytes, rows_act, out + (size_t)t * ldo + r, ldo);
            }
    }
}

#define GEMM_FN(NAME, TILES, BLOCK)                                                                       \
    static void NAME(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows,                     \
                     const void *restrict act, size_t act_stride, int n_tok, float *restrict out, size_t ldo, \
                     int packed)                                                                             \
    {                                                                                                        \
        (void)packed;                                                                                        \
        run_rows(TILES, n / (BLOCK), w, row_bytes, nrows, act, act_stride, n_tok, out, ldo);             \
    }

GEMM_FN(gemm_q4_k, q4_k_tiles, QK_K)
GEMM_FN(gemm_q6_k, q6_k_tiles, QK_K)

typedef void (*group_fn)(int64_t nb, const uint8_t *w, size_t row_bytes, int packed, const uint8_t *const *act,
                         float *out, size_t ldo);
#define GROUP_FN(X, NIB, T)                                                                                     \
    static void X##_group_t##T(int64_t nb, const uint8_t *w, size_t row_bytes, int packed,                      \
                               const uint8_t *const *act, float *out, size_t ldo)                               \
    {                                                                                                           \
        tile_group(NIB, T, nb, w, row_bytes, packed, act, out, ldo);                                            \
    }
#define GROUPS(X, NIB)                                                                                          \
    GROUP_FN(X, NIB, 1)                                                                                         \
    GROUP_FN(X, NIB, 2)                                                                                         \
    GROUP_FN(X, NIB, 3)                                                                                         \
    GROUP_FN(X, NIB, 4)                                                                                         \
    static const group_fn X##_groups[MAX_TOKENS] = { X##_group_t1, X##_group_t2, X##_group_t3, X##_group_t4 };
GROUPS(q4_0, 1)
GROUPS(q8_0, 0)

/* Groups of 8 rows (packed: as repacked at load, the rows of every full
 * group; the rows past the last full group keep the file layout) against
 * token tiles, in blocks of TOKEN_BLOCK tokens; the last rows one by one. */
static void run_groups(int nibbles, const group_fn *groups, int64_t nb, const void *restrict w, size_t row_bytes,
                       int64_t nrows, const void *restrict act, size_t act_stride, int n_tok, float *restrict out,
                       size_t ldo, int packed)
{
    const uint8_t *wb = w, *ab = act;
    const int64_t full = nrows / GROUP * GROUP;
    for (int t0 = 0; t0 < n_tok; t0 += TOKEN_BLOCK) {
        const int t_end = t0 + TOKEN_BLOCK < n_tok ? t0 + TOKEN_BLOCK : n_tok;
        for (int64_t r = 0; r < full; r += GROUP)
            for (int t = t0; t < t_end; t += MAX_TOKENS) {
                const int T = t_end - t < MAX_TOKENS ? t_end - t : MAX_TOKENS;
                const uint8_t *rows_act[MAX_TOKENS];
                for (int j = 0; j < T; j++)
                    rows_act[j] = ab + (size_t)(t + j) * act_stride;
                groups[T - 1](nb, wb + (size_t)r * row_bytes, row_bytes, packed, rows_act, out + (size_t)t * ldo + r,
                              ldo);
            }
    }
    for (int64_t r = full; r < nrows; r++)
        for (int t = 0; t < n_tok; t++)
            out[(size_t)t * ldo + r] = row_chain(nibbles, nb, wb + (size_t)r * row_bytes, ab + (size_t)t * act_stride);
}

static void gemm_q4_0(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows, const void *restrict act,
                      size_t act_stride, int n_tok, float *restrict out, size_t ldo, int packed)
{
    run_groups(1, q4_0_groups, n / QK4_0, w, row_bytes, nrows, act, act_stride, n_tok, out, ldo, packed);
}

static void gemm_q8_0(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows, const void *restrict act,
                      size_t act_stride, int n_tok, float *restrict out, size_t ldo, int packed)
{
    run_groups(0, q8_0_groups, n / QK8_0, w, row_bytes, nrows, act, act_stride, n_tok, out, ldo, packed);
}

/* Every full group of 8 rows into its packed layout, in place of the same
 * bytes; the rows past the last full group copied as they are. */
static void repack_groups(size_t block_bytes, int64_t nb, const void *src, size_t row_bytes, int64_t nrows, void *dst)
{
    const int64_t full = nrows / GROUP * GROUP;
    const uint8_t *s = src;
    uint8_t *d = dst;
    for (int64_t r = 0; r < full; r += GROUP)
        for (int64_t b = 0; b < nb; b++)
            pack_group_block(s + (size_t)r * row_bytes, row_bytes, block_bytes, b,
                             d + (size_t)r * row_bytes + (size_t)b * GROUP * block_bytes);
    memcpy(d + (size_t)full * row_bytes, s + (size_t)full * row_bytes, (size_t)(nrows - full) * row_bytes);
}

static void repack_q4_0(int64_t n, const void *src, size_t row_bytes, int64_t nrows, void *dst)
{
    repack_groups(sizeof(block_q4_0), n / QK4_0, src, row_bytes, nrows, dst);
}

static void repack_q8_0(int64_t n, const void *src, size_t row_bytes, int64_t nrows, void *dst)
{
    repack_groups(sizeof(block_q8_0), n / QK8_0, src, row_bytes, nrows, dst);
}

static const kt_gemm gemm_q8_0_avx2 = { GROUP, prep_q8_0, gemm_q8_0, repack_q8_0 };
static const kt_gemm gemm_q4_0_avx2 = { GROUP, prep_q4_0, gemm_q4_0, repack_q4_0 };
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
