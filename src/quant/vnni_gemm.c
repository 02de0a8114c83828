/* AVX-512 VNNI tile kernels (kt_gemm, see quant.h): 16 weight rows x up to 8
 * tokens per register tile, for prompt processing and batched verification,
 * and the same kernels for one token (matmul uses them for every n_tok).
 *
 * Batch invariance. Each output (row r, token t) is one float chain over the
 * row's blocks in order, the same ops whatever the tile:
 *   Q4_0, Q8_0, Q6_K:  acc = fma((float)isum_b, d_x[b] * d_y[b], acc)
 *   Q4_K:              acc = fma((float)isum_b, d_x[b] * d_y[b], acc);
 *                      acc = fnmadd((float)msum_b, dmin_x[b] * d_y[b], acc)
 *   (fnmadd(a, b, c) = -(a * b) + c, one rounding; msum_b: the mins against
 *   the activation sums of the sub-blocks, see the Q4_K section)
 * starting from acc = 0, where isum_b is the exact integer sum of the block
 * (as in the reference vec_dot). Integer arithmetic is exact, so how
 * the integers are formed (lanes, partial sums, packing) does not matter; the
 * float ops above run one per (row, token) in a vector lane, and the lanes of
 * a vector never mix. A row's lane, its neighbours in the tile, the token's
 * slot in the tile and the thread that computes it change nothing.
 *
 * Layout. A tile keeps one row per 32-bit lane of a 512-bit register: the
 * weights of 16 rows are packed, a chunk of blocks at a time, into a small
 * buffer where vector k of a block holds bytes 4k..4k+3 of each row (a 16 x 4
 * dword transpose), so VPDPBUSD with the token's 4 activation bytes broadcast
 * makes 16 rows' partial dots at once, and the block's sum per row ends in its
 * lane with no horizontal reduction. A packed 16-row block takes exactly the
 * file bytes of its 16 rows' blocks (Q4_0, Q8_0, Q4_K), so whole matrices are
 * repacked once at load (repack, src/repack.c) and the tiles then read them
 * in place, as one sequential stream, for any number of tokens. Without that
 * (Q6_K, rows past the last full group, KESTREL_REPACK=0), each chunk is
 * packed on the fly (one L1-resident pass, amortized over the tokens).
 *
 * With 2-8 tokens (batched verification) the kernels are fast enough that
 * the weight stream decides: the tokens' activations are first copied side
 * by side, block by block (interleave), so that they are one read stream, not
 * two a token, and the packed weights are prefetched ahead at the pace of the
 * blocks (kt_prefetch_bytes).
 *
 * Below a few tokens, unrepacked rows skip the packing: 4 rows at a time, 4
 * blocks a step, the same integers by another route (see SINGLE4) and the
 * same float chain on 4 lanes; the next 4 rows are prefetched as one
 * sequential stream. The K-quants (single4_q4_k, single4_q6_k) form the
 * integers per row as their vec_dot does, row after row (one sequential
 * stream), then run the chains.
 *
 * VPDPBUSD multiplies unsigned by signed bytes: weights are made unsigned
 * (Q4_0 levels 0..15, Q8_0 x ^ 0x80 = x + 128) and the offset times the
 * block's activation sum (prep, once per activation row) starts the integer
 * accumulator. */
#include "quant.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <stddef.h>
#include <string.h>

#include "blocks.h"
#include "kquants_x86.h"

#define ROWS 16 /* rows per tile: one per 32-bit lane */
#define TT 8    /* tokens per register tile */
#define KC 32   /* legacy blocks per packed chunk */

/* Bytes off..off+15 of 16 rows -> o[k], lane L = dword k of row L's 16 bytes. */
static inline void transpose16x4(const uint8_t *const *rp, size_t off, __m512i o[4])
{
    __m512i z[4];
    for (int g = 0; g < 4; g++) {
        /* 128-bit lane i of z[g] holds row 4i + g */
        __m512i v = _mm512_castsi128_si512(kt_loadu128(rp[g] + off));
        v = _mm512_inserti32x4(v, kt_loadu128(rp[4 + g] + off), 1);
        v = _mm512_inserti32x4(v, kt_loadu128(rp[8 + g] + off), 2);
        z[g] = _mm512_inserti32x4(v, kt_loadu128(rp[12 + g] + off), 3);
    }
    const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]), t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]), t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    o[0] = _mm512_unpacklo_epi64(t0, t2);
    o[1] = _mm512_unpackhi_epi64(t0, t2);
    o[2] = _mm512_unpacklo_epi64(t1, t3);
    o[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* The f16 at byte off of each of 16 rows (lane L: rp[0] + idx[L] + off) as floats. */
static inline __m512 halves16(const uint8_t *base, __m512i idx, size_t off)
{
    const __m512i v = _mm512_i32gather_epi32(idx, (const void *)(base + off), 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
}

/* The same for the lanes of mask only (the others 0): reads nothing else. */
static inline __m512 halves16_mask(const uint8_t *base, __m512i idx, size_t off, __mmask16 mask)
{
    const __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), mask, idx, (const void *)(base + off), 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
}

/* Byte offsets of the 16 rows from rp[0]. */
static inline __m512i row_offsets(const uint8_t *const *rp)
{
    int32_t o[ROWS];
    for (int l = 0; l < ROWS; l++)
        o[l] = (int32_t)(rp[l] - rp[0]);
    return _mm512_loadu_si512(o);
}

/* ---- legacy: Q4_0 and Q8_0 weights, Q8_0 activations ------------------------------------ */

/* The side table after the blocks of an activation row: per block, the
 * integer that starts the block's accumulator and d_y as a float. */
typedef struct { int32_t off; float d; } act_side;

static inline size_t side_offset(int64_t nb, size_t block_bytes) { return ((size_t)nb * block_bytes + 63) & ~(size_t)63; }

static inline void prep_q8_0(int64_t n, void *row, int c)
{
    const int64_t nb = n / QK8_0;
    const block_q8_0 *y = row;
    act_side *s = (act_side *)((uint8_t *)row + side_offset(nb, sizeof(block_q8_0)));
    const __m256i bias = _mm256_set1_epi8((char)0x80);
    for (int64_t b = 0; b < nb; b++) {
        /* sum of (y + 128) by SAD against zero, minus 32 * 128 */
        const __m256i u = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)y[b].qs), bias);
        const __m256i sad = _mm256_sad_epu8(u, _mm256_setzero_si256());
        const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
        const int sum = (int)(_mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1)) - 32 * 128;
        s[b].off = -c * sum;
        s[b].d = _cvtsh_ss(y[b].d);
    }
}

static void prep_q4_0(int64_t n, void *row) { prep_q8_0(n, row, 8); }
static void prep_q8_0_w(int64_t n, void *row) { prep_q8_0(n, row, 128); }

/* Packed chunk of kc blocks, in pairs of blocks: the NV weight vectors of
 * each (vector k pairs with activation bytes 4k..4k+3; Q4_0 keeps nibbles, 4
 * vectors, unpacked in the kernel), then the two blocks' 16 d as f16 (32 bytes
 * each), so that the weights are read as one sequential stream; an odd last
 * block is followed by its own d. 16 rows of a block take exactly the bytes of
 * 16 file rows' blocks, so a whole row group packed chunk after chunk (repack,
 * at load) fills the bytes the group had in the file (not necessarily 64-byte
 * aligned: unaligned loads and stores). */
#define NV_Q4_0 4
#define NV_Q8_0 8

/* Offsets in a chunk of kc blocks of block b's weights and d (q: its weight bytes). */
static inline size_t legacy_qs_at(int b, size_t q) { return (size_t)(b >> 1) * (2 * q + 64) + (size_t)(b & 1) * q; }
static inline size_t legacy_d_at(int b, int kc, size_t q)
{
    return (size_t)(b >> 1) * (2 * q + 64) + (b & 1 ? 2 * q + 32 : b + 1 < kc ? 2 * q : q);
}

/* The 16 rows' d (an f16 at byte off of each row) into 32 bytes at dst. */
static inline void store_d16(const uint8_t *const *rp, __m512i idx, size_t off, uint8_t *dst)
{
    const __m512i v = _mm512_i32gather_epi32(idx, (const void *)(rp[0] + off), 1);
    _mm256_storeu_si256((__m256i *)dst, _mm512_cvtepi32_epi16(v));
}

static void pack_q4_0(const uint8_t *const *rp, int64_t b0, int kc, uint8_t *buf)
{
    const __m512i idx = row_offsets(rp);
    for (int b = 0; b < kc; b++) {
        const size_t off = (size_t)(b0 + b) * sizeof(block_q4_0);
        __m512i *p = (__m512i *)(buf + legacy_qs_at(b, NV_Q4_0 * 64));
        __m512i o[4];
        transpose16x4(rp, off + offsetof(block_q4_0, qs), o);
        for (int k = 0; k < 4; k++)
            _mm512_storeu_si512(p + k, o[k]);
        store_d16(rp, idx, off, buf + legacy_d_at(b, kc, NV_Q4_0 * 64));
    }
}

static void pack_q8_0(const uint8_t *const *rp, int64_t b0, int kc, uint8_t *buf)
{
    const __m512i idx = row_offsets(rp);
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    for (int b = 0; b < kc; b++) {
        const size_t off = (size_t)(b0 + b) * sizeof(block_q8_0);
        __m512i *p = (__m512i *)(buf + legacy_qs_at(b, NV_Q8_0 * 64));
        __m512i o[4];
        for (int h = 0; h < 2; h++) {
            transpose16x4(rp, off + offsetof(block_q8_0, qs) + 16 * (size_t)h, o);
            for (int k = 0; k < 4; k++)
                _mm512_storeu_si512(p + 4 * h + k, _mm512_xor_si512(o[k], bias));
        }
        store_d16(rp, idx, off, buf + legacy_d_at(b, kc, NV_Q8_0 * 64));
    }
}

/* Block b's share (bytes a block) of the weight stream ahead: pf is the
 * chunk's start plus the prefetch distance. Paced by the blocks, so the lines
 * in flight stay the same however many tokens a block serves. */
static inline __attribute__((always_inline)) void prefetch_span(const char *pf, int b, size_t bytes)
{
    for (size_t o = 0; o < bytes; o += 64) /* asm: GCC's dead-code pass dropped _mm_prefetch here */
        __asm__ volatile("prefetcht0 %0" : : "m"(*(pf + (size_t)b * bytes + o)));
}

/* BODY twice, with and without the prefetches (with_pf a constant in each):
 * no test per block. */
#define WITH_OR_WITHOUT_PREFETCH(BODY) \
    do {                               \
        if (pf) {                      \
            const int with_pf = 1;     \
            BODY;                      \
        } else {                       \
            const int with_pf = 0;     \
            BODY;                      \
        }                              \
    } while (0)

/* Where a token tile's activations are: token t's block b (counted from the
 * matrix's first block) at q[t] + b * qstep, its side entry at s[t] + b *
 * sstep. Either the rows as matmul wrote them or, for a few tokens, a copy
 * with the tokens interleaved block by block (see interleave). */
typedef struct {
    const uint8_t *q[TT], *s[TT];
    size_t qstep, sstep;
} tile_act;

static inline float loadf32(const void *p)
{
    float v;
    memcpy(&v, p, 4);
    return v;
}

/* One token tile over a packed chunk starting at block b0: acc[t] (16 rows) for T tokens. */
static inline __attribute__((always_inline)) void tile_legacy_run(const uint8_t *pk, int kc, int T, int nibbles,
                                                                   const tile_act *a, int64_t b0, __m512 *acc,
                                                                   const char *pf, int with_pf)
{
    const int nv = nibbles ? NV_Q4_0 : NV_Q8_0;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const size_t qstep = a->qstep, sstep = a->sstep;
    const uint8_t *qp[TT], *sp[TT];
    for (int t = 0; t < T; t++) {
        qp[t] = a->q[t] + (size_t)b0 * qstep + offsetof(block_q8_0, qs);
        sp[t] = a->s[t] + (size_t)b0 * sstep;
    }
    for (int b = 0; b < kc; b++) {
        const __m512i *p = (const __m512i *)(pk + legacy_qs_at(b, (size_t)nv * 64));
        if (with_pf)
            prefetch_span(pf, b, (size_t)nv * 64 + 32);
        __m512i w[8];
        if (nibbles) {
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const __m512i v = _mm512_loadu_si512(p + k);
                w[k] = _mm512_and_si512(v, m4);
                w[k + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            }
        } else {
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++)
                w[k] = _mm512_loadu_si512(p + k);
        }
        const __m512 dx = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(pk + legacy_d_at(b, kc, (size_t)nv * 64))));
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const uint8_t *q = qp[t] + (size_t)b * qstep, *side = sp[t] + (size_t)b * sstep;
            __m512i i0 = _mm512_set1_epi32(kt_load32(side + offsetof(act_side, off))), i1 = _mm512_setzero_si512();
            i0 = _mm512_dpbusd_epi32(i0, w[0], _mm512_set1_epi32(kt_load32(q + 0)));
            i1 = _mm512_dpbusd_epi32(i1, w[1], _mm512_set1_epi32(kt_load32(q + 4)));
            i0 = _mm512_dpbusd_epi32(i0, w[2], _mm512_set1_epi32(kt_load32(q + 8)));
            i1 = _mm512_dpbusd_epi32(i1, w[3], _mm512_set1_epi32(kt_load32(q + 12)));
            i0 = _mm512_dpbusd_epi32(i0, w[4], _mm512_set1_epi32(kt_load32(q + 16)));
            i1 = _mm512_dpbusd_epi32(i1, w[5], _mm512_set1_epi32(kt_load32(q + 20)));
            i0 = _mm512_dpbusd_epi32(i0, w[6], _mm512_set1_epi32(kt_load32(q + 24)));
            i1 = _mm512_dpbusd_epi32(i1, w[7], _mm512_set1_epi32(kt_load32(q + 28)));
            const __m512 sc = _mm512_mul_ps(dx, _mm512_set1_ps(loadf32(side + offsetof(act_side, d))));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(i0, i1)), sc, acc[t]);
        }
    }
}

static inline __attribute__((always_inline)) void tile_legacy(const uint8_t *pk, int kc, int T, int nibbles,
                                                               const tile_act *a, int64_t b0, __m512 *acc,
                                                               const char *pf)
{
    WITH_OR_WITHOUT_PREFETCH(tile_legacy_run(pk, kc, T, nibbles, a, b0, acc, pf, with_pf));
}

/* Loads the accumulators of T tokens (zero for the first chunk), runs BODY,
 * stores them: the float chain continues across chunks through out. */
#define TILE_FN(NAME, T, BODY_CALL)                                                                          \
    static void NAME(const uint8_t *pk, int kc, const tile_act *a, int64_t b0, float *out, size_t ldo,     \
                     __mmask16 mask, int first, const char *pf)                                             \
    {                                                                                                       \
        __m512 acc[T];                                                                                      \
        for (int t = 0; t < T; t++)                                                                         \
            acc[t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out + (size_t)t * ldo);      \
        BODY_CALL;                                                                                          \
        for (int t = 0; t < T; t++)                                                                         \
            _mm512_mask_storeu_ps(out + (size_t)t * ldo, mask, acc[t]);                                     \
    }

#define LEGACY_TILES(X)                                                                  \
    TILE_FN(tile_##X##_1, 1, tile_legacy(pk, kc, 1, NIB_##X, a, b0, acc, pf))                 \
    TILE_FN(tile_##X##_2, 2, tile_legacy(pk, kc, 2, NIB_##X, a, b0, acc, pf))                 \
    TILE_FN(tile_##X##_3, 3, tile_legacy(pk, kc, 3, NIB_##X, a, b0, acc, pf))                 \
    TILE_FN(tile_##X##_4, 4, tile_legacy(pk, kc, 4, NIB_##X, a, b0, acc, pf))                 \
    TILE_FN(tile_##X##_5, 5, tile_legacy(pk, kc, 5, NIB_##X, a, b0, acc, pf))                 \
    TILE_FN(tile_##X##_6, 6, tile_legacy(pk, kc, 6, NIB_##X, a, b0, acc, pf))                 \
    TILE_FN(tile_##X##_7, 7, tile_legacy(pk, kc, 7, NIB_##X, a, b0, acc, pf))                 \
    TILE_FN(tile_##X##_8, 8, tile_legacy(pk, kc, 8, NIB_##X, a, b0, acc, pf))                 \
    static const tile_fn tiles_##X[TT + 1] = { NULL, tile_##X##_1, tile_##X##_2, tile_##X##_3, tile_##X##_4, \
                                               tile_##X##_5, tile_##X##_6, tile_##X##_7, tile_##X##_8 };

typedef void (*tile_fn)(const uint8_t *pk, int kc, const tile_act *a, int64_t b0, float *out, size_t ldo,
                        __mmask16 mask, int first, const char *pf);
typedef void (*pack_fn)(const uint8_t *const *rp, int64_t b0, int kc, uint8_t *buf);

#define NIB_q4_0 1
#define NIB_q8_0 0
LEGACY_TILES(q4_0)
LEGACY_TILES(q8_0)

/* One token, no packing, 4 rows at a time (4 read streams, as few as the
 * hardware prefetchers follow well): for 4 blocks, 128-bit lane i of a
 * register holds row i's 16 bytes, VPDPBUSD with the token's bytes broadcast
 * to every lane makes 4 partial sums per row, and one transpose-add of the 4
 * blocks' registers leaves (block g, row i) in lane 4g + i. The float chain
 * then runs on 4 lanes (rows) per block in order: per lane the same ops as the
 * 16-lane tile. */
static const int32_t BLOCK_MAJOR[16] = { 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15 };
static const int32_t SIDE_OFF[16] = { 0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6 };
static const int32_t SIDE_D[16] = { 1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 5, 5, 7, 7, 7, 7 };

/* 16 bytes at off of 4 rows, row i in 128-bit lane i. */
static inline __m512i rows4(const uint8_t *const *rp, size_t off)
{
    __m512i v = _mm512_castsi128_si512(kt_loadu128(rp[0] + off));
    v = _mm512_inserti32x4(v, kt_loadu128(rp[1] + off), 1);
    v = _mm512_inserti32x4(v, kt_loadu128(rp[2] + off), 2);
    return _mm512_inserti32x4(v, kt_loadu128(rp[3] + off), 3);
}

static inline __m512i bcast128(const void *p) { return _mm512_broadcast_i32x4(kt_loadu128(p)); }

/* Partial integer dots of 4 rows with one activation block: 4 per 128-bit lane. */
static inline __m512i part4_q4_0(const uint8_t *const *rp, size_t off, const int8_t *q)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), z = rows4(rp, off + offsetof(block_q4_0, qs));
    const __m512i d = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(z, m4), bcast128(q));
    return _mm512_dpbusd_epi32(d, _mm512_and_si512(_mm512_srli_epi16(z, 4), m4), bcast128(q + 16));
}

/* Q8_0: two rows' 32 bytes per register (fewer inserts than 128-bit rows),
 * then the 256-bit halves are regrouped so that 128-bit lane i is row i. */
static inline __m512i part4_q8_0(const uint8_t *const *rp, size_t off, const int8_t *q)
{
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    const size_t o = off + offsetof(block_q8_0, qs);
    const __m512i a = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(rp[0] + o))),
                                         _mm256_loadu_si256((const __m256i *)(rp[1] + o)), 1);
    const __m512i b = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(rp[2] + o))),
                                         _mm256_loadu_si256((const __m256i *)(rp[3] + o)), 1);
    const __m512i y = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)q));
    const __m512i da = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(a, bias), y);
    const __m512i db = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(b, bias), y);
    return _mm512_add_epi32(_mm512_shuffle_i64x2(da, db, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i64x2(da, db, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* The 4 lanes of a 128-bit lane as one sum each: lane 4g + i = (block g, row i). */
static inline __m512i reduce4x4(__m512i p0, __m512i p1, __m512i p2, __m512i p3)
{
    const __m512i t0 = _mm512_add_epi32(_mm512_unpacklo_epi32(p0, p1), _mm512_unpackhi_epi32(p0, p1));
    const __m512i t1 = _mm512_add_epi32(_mm512_unpacklo_epi32(p2, p3), _mm512_unpackhi_epi32(p2, p3));
    const __m512i r = _mm512_add_epi32(_mm512_unpacklo_epi64(t0, t1), _mm512_unpackhi_epi64(t0, t1));
    return _mm512_permutexvar_epi32(_mm512_loadu_si512(BLOCK_MAJOR), r);
}

#define SINGLE4(NAME, BT, PART)                                                                             \
    static void NAME(const uint8_t *const *rp, int64_t nb, const uint8_t *act, size_t side_off, float *out, \
                     __mmask16 mask)                                                                        \
    {                                                                                                       \
        /* The next 4 rows (rows are contiguous), prefetched as one sequential stream \
         * over this pass: four short streams are picked up late by the hardware. */   \
        const char *pf = (const char *)rp[0] + 4 * (size_t)nb * sizeof(BT), *pf_end = pf + 4 * (size_t)nb * sizeof(BT); \
        const block_q8_0 *y = (const block_q8_0 *)act;                                                      \
        const act_side *s = (const act_side *)(act + side_off);                                             \
        int32_t o[16];                                                                                      \
        for (int g = 0; g < 4; g++)                                                                         \
            for (int i = 0; i < 4; i++)                                                                     \
                o[4 * g + i] = (int32_t)(rp[i] - rp[0]) + g * (int32_t)sizeof(BT);                          \
        const __m512i gidx = _mm512_loadu_si512(o);                                                         \
        const __m512i ioff = _mm512_loadu_si512(SIDE_OFF), id = _mm512_loadu_si512(SIDE_D);                 \
        __m128 acc = _mm_setzero_ps();                                                                      \
        int64_t b = 0;                                                                                      \
        for (; b + 4 <= nb; b += 4) {                                                                       \
            const size_t off = (size_t)b * sizeof(BT);                                                      \
            for (int i = 0; i < ((int)sizeof(BT) + 3) / 4 && pf < pf_end; i++, pf += 64)                   \
                _mm_prefetch(pf, _MM_HINT_T1);                                                              \
            const __m512i p0 = PART(rp, off, y[b].qs), p1 = PART(rp, off + sizeof(BT), y[b + 1].qs);        \
            const __m512i p2 = PART(rp, off + 2 * sizeof(BT), y[b + 2].qs);                                 \
            const __m512i p3 = PART(rp, off + 3 * sizeof(BT), y[b + 3].qs);                                 \
            const __m512i side = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(s + b)));      \
            const __m512i isum = _mm512_add_epi32(reduce4x4(p0, p1, p2, p3), _mm512_permutexvar_epi32(ioff, side)); \
            const __m512 f = _mm512_cvtepi32_ps(isum);                                                      \
            const __m512 dy = _mm512_castsi512_ps(_mm512_permutexvar_epi32(id, side));                      \
            const __m512 sc = _mm512_mul_ps(halves16(rp[0], gidx, off), dy);                               \
            acc = _mm_fmadd_ps(_mm512_castps512_ps128(f), _mm512_castps512_ps128(sc), acc);                 \
            acc = _mm_fmadd_ps(_mm512_extractf32x4_ps(f, 1), _mm512_extractf32x4_ps(sc, 1), acc);           \
            acc = _mm_fmadd_ps(_mm512_extractf32x4_ps(f, 2), _mm512_extractf32x4_ps(sc, 2), acc);           \
            acc = _mm_fmadd_ps(_mm512_extractf32x4_ps(f, 3), _mm512_extractf32x4_ps(sc, 3), acc);           \
        }                                                                                                   \
        for (; b < nb; b++) {                                                                               \
            const size_t off = (size_t)b * sizeof(BT);                                                      \
            const __m512i p = PART(rp, off, y[b].qs), z = _mm512_setzero_si512();                           \
            const __m512i isum = _mm512_add_epi32(reduce4x4(p, z, z, z), _mm512_set1_epi32(s[b].off));      \
            const __m512 sc = _mm512_mul_ps(halves16_mask(rp[0], gidx, off, 15), _mm512_set1_ps(s[b].d));            \
            acc = _mm_fmadd_ps(_mm512_castps512_ps128(_mm512_cvtepi32_ps(isum)), _mm512_castps512_ps128(sc), acc); \
        }                                                                                                   \
        _mm_mask_storeu_ps(out, (__mmask8)(mask & 15), acc);                                                \
    }

SINGLE4(single4_q4_0, block_q4_0, part4_q4_0)
SINGLE4(single4_q8_0, block_q8_0, part4_q8_0)

typedef void (*single_fn)(const uint8_t *const *rp, int64_t nb, const uint8_t *act, size_t side_off, float *out,
                          __mmask16 mask);

/* An activation row's format: blocks of `block` bytes, then, from side_off,
 * a side entry of `side` bytes per block (0: none). */
typedef struct {
    size_t block, side, side_off;
} act_format;

/* Tokens t0 .. t0 + T - 1 where matmul wrote them. (Filled in place: a
 * returned struct, copied with wide moves over narrow stores, stalled.) */
static inline void rows_act(tile_act *a, const uint8_t *act, size_t act_stride, act_format f, int t0, int T)
{
    a->qstep = f.block;
    a->sstep = f.side;
    for (int t = 0; t < T; t++) {
        a->q[t] = act + (size_t)(t0 + t) * act_stride;
        a->s[t] = a->q[t] + f.side_off;
    }
}

/* A few tokens' activations, copied block by block into one record per
 * (block, token), the tile's tokens side by side: the kernel then reads one
 * stream of activations instead of two a token. Measured on Zen 4: with 5-8
 * tokens and the weights streaming from memory, the many streams left the
 * tiles 2-3x slower than the same tiles with the weights in cache; one stream
 * brings them near whichever of memory and arithmetic is slower. */
#define IL_BYTES (128 * 1024) /* on the stack of each call */
static inline size_t il_record(act_format f) { return ((f.block + 3) & ~(size_t)3) + f.side; }

static inline __attribute__((always_inline)) void interleave(tile_act *a, const uint8_t *act, size_t act_stride,
                                                             act_format f, int64_t nb, int T, uint8_t *dst)
{
    const size_t rec = il_record(f), soff = rec - f.side;
    for (int64_t b = 0; b < nb; b++)
        for (int t = 0; t < T; t++) {
            const uint8_t *row = act + (size_t)t * act_stride;
            uint8_t *r = dst + ((size_t)b * (size_t)T + (size_t)t) * rec;
            memcpy(r, row + (size_t)b * f.block, f.block);
            memcpy(r + soff, row + f.side_off + (size_t)b * f.side, f.side);
        }
    a->qstep = a->sstep = (size_t)T * rec;
    for (int t = 0; t < T; t++) {
        a->q[t] = dst + (size_t)t * rec;
        a->s[t] = a->q[t] + soff;
    }
}

/* The driver shared by every type: row tiles of 16, chunks of kc_max blocks
 * packed once, token tiles of up to 8 over each chunk. Below min_tile_tokens
 * (where packing costs more than it saves: measured on Zen 4, TinyLlama-shape
 * rows) each token runs the single-token chain over rows still in cache.
 * packed: full row tiles are already packed (repack at load, legacy types):
 * the tiles read them in place, for any number of tokens. */
#define FEW_Q4_0 4
#define FEW_Q8_0 4
#define FEW_K 4 /* Q4_K, Q6_K */
static inline __attribute__((always_inline)) void gemm_driver(int64_t nb, act_format f, int kc_max, pack_fn pack,
                                                               const tile_fn *tiles, single_fn single,
                                                               int min_tile_tokens, const void *restrict w,
                                                               size_t row_bytes, int64_t nrows,
                                                               const void *restrict act, size_t act_stride, int n_tok,
                                                               float *restrict out, size_t ldo, uint8_t *buf,
                                                               int packed)
{
    /* Up to TT tokens: one token tile, its activations found once here
     * (interleaved where they fit and the tiles will run); more: per tile. */
    _Alignas(64) uint8_t il[IL_BYTES];
    tile_act one, many;
    if (n_tok >= 2 && n_tok <= TT && (size_t)nb * (size_t)n_tok * il_record(f) <= sizeof il &&
        (packed || n_tok >= min_tile_tokens || !single))
        interleave(&one, act, act_stride, f, nb, n_tok, il);
    else if (n_tok <= TT)
        rows_act(&one, act, act_stride, f, 0, n_tok);
    /* The packed rows: one sequential stream, left to the hardware
     * prefetchers or prefetched ahead where that measured faster. */
    const int ahead = kt_prefetch_bytes(n_tok);
    for (int64_t r0 = 0; r0 < nrows; r0 += ROWS) {
        const int nr = nrows - r0 < ROWS ? (int)(nrows - r0) : ROWS;
        const __mmask16 mask = (__mmask16)((1u << nr) - 1);
        const uint8_t *rp[ROWS];
        for (int l = 0; l < ROWS; l++) /* a missing row repeats the first: its lane is never stored */
            rp[l] = (const uint8_t *)w + (size_t)(r0 + (l < nr ? l : 0)) * row_bytes;
        if (packed && nr == ROWS) {
            const size_t block_bytes = (size_t)ROWS * row_bytes / (size_t)nb; /* packed, per block of 16 rows */
            for (int64_t b0 = 0; b0 < nb; b0 += kc_max) {
                const int kc = nb - b0 < kc_max ? (int)(nb - b0) : kc_max;
                const uint8_t *chunk = rp[0] + (size_t)b0 * block_bytes;
                for (int t0 = 0; t0 < n_tok; t0 += TT) {
                    const int T = n_tok - t0 < TT ? n_tok - t0 : TT;
                    if (n_tok > TT)
                        rows_act(&many, act, act_stride, f, t0, T);
                    tiles[T](chunk, kc, n_tok > TT ? &many : &one, b0, out + (size_t)t0 * ldo + r0, ldo, mask, b0 == 0,
                             ahead > 0 && t0 == 0 ? (const char *)chunk + ahead : NULL);
                }
            }
            continue;
        }
        /* Fewer tokens than min_tile_tokens: the single-token chain for each token
         * while these 4 rows are still in cache (read from memory once, no
         * packing); the same bits as a tile would give. */
        if (n_tok < min_tile_tokens && single) {
            for (int q = 0; q < nr; q += 4) {
                const uint8_t *rq[4];
                for (int l = 0; l < 4; l++) /* a missing row repeats the first: its lane is never stored */
                    rq[l] = rp[q + l < nr ? q + l : 0];
                for (int t = 0; t < n_tok; t++)
                    single(rq, nb, (const uint8_t *)act + (size_t)t * act_stride, f.side_off,
                           out + (size_t)t * ldo + r0 + q, (__mmask16)(mask >> q));
            }
            continue;
        }
        /* The next row tile (rows are contiguous) is prefetched as one
         * sequential stream while this one is packed: 16 short row streams
         * alone are picked up late by the hardware prefetchers, which matters
         * when few tokens share each chunk. */
        const char *pf = (const char *)w + (size_t)(r0 + nr) * row_bytes;
        const char *pf_end = (const char *)w + (size_t)(nrows < r0 + nr + ROWS ? nrows : r0 + nr + ROWS) * row_bytes;
        for (int64_t b0 = 0; b0 < nb; b0 += kc_max) {
            const int kc = nb - b0 < kc_max ? (int)(nb - b0) : kc_max;
            const char *pf_stop = pf + (size_t)ROWS * row_bytes * (size_t)kc / (size_t)nb + 64;
            for (; pf < pf_stop && pf < pf_end; pf += 64)
                _mm_prefetch(pf, _MM_HINT_T1);
            pack(rp, b0, kc, buf);
            for (int t0 = 0; t0 < n_tok; t0 += TT) {
                const int T = n_tok - t0 < TT ? n_tok - t0 : TT;
                if (n_tok > TT)
                    rows_act(&many, act, act_stride, f, t0, T);
                tiles[T](buf, kc, n_tok > TT ? &many : &one, b0, out + (size_t)t0 * ldo + r0, ldo, mask, b0 == 0, NULL);
            }
        }
    }
}

/* Repack (legacy types): every full group of 16 rows becomes its packed
 * chunks, chunk after chunk, in the group's own bytes of dst; the rows of a
 * last partial group are copied as they are. */
static void repack_driver(int64_t nb, int kc_max, pack_fn pack, const void *src, size_t row_bytes, int64_t nrows,
                          void *dst)
{
    const int64_t full = nrows / ROWS * ROWS;
    const size_t block_bytes = (size_t)ROWS * row_bytes / (size_t)nb;
    for (int64_t r0 = 0; r0 < full; r0 += ROWS) {
        const uint8_t *rp[ROWS];
        for (int l = 0; l < ROWS; l++)
            rp[l] = (const uint8_t *)src + (size_t)(r0 + l) * row_bytes;
        uint8_t *group = (uint8_t *)dst + (size_t)r0 * row_bytes;
        for (int64_t b0 = 0; b0 < nb; b0 += kc_max)
            pack(rp, b0, nb - b0 < kc_max ? (int)(nb - b0) : kc_max, group + (size_t)b0 * block_bytes);
    }
    memcpy((uint8_t *)dst + (size_t)full * row_bytes, (const uint8_t *)src + (size_t)full * row_bytes,
           (size_t)(nrows - full) * row_bytes);
}

/* ---- K-quants: Q4_K weights, Q8_K activations ----------------------------------------------
 *
 * Chain per output and 256-block b (from acc = 0, blocks in order):
 *   acc = fma((float)isum_b, d_x * d_y, acc); acc = fnmadd((float)msum_b, dmin_x * d_y, acc)
 * isum_b = sum over the 8 sub-blocks j of sc_j * (levels . activations) and
 * msum_b = sum of m_j * (activation sum of sub-block j), both exact integers. */

#define KC_K 4     /* K blocks per packed chunk */
#define NV_Q4_K 36 /* 32 nibble vectors, 3 scale vectors, d and dmin */

/* The side table of a Q8_K row for Q4_K: the 8 sums of 32 activations per
 * block, then the blocks' d_y in a row (4 at a time for the single-token path). */
typedef struct { int16_t s[8]; } k4_side;

static void prep_q4_k(int64_t n, void *row)
{
    const int64_t nb = n / QK_K;
    const block_q8_K *y = row;
    k4_side *s = (k4_side *)((uint8_t *)row + side_offset(nb, sizeof(block_q8_K)));
    float *dy = (float *)(s + nb);
    for (int64_t b = 0; b < nb; b++) {
        for (int j = 0; j < 8; j++)
            s[b].s[j] = (int16_t)(y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
        dy[b] = y[b].d;
    }
}

/* Packed chunk of kc blocks, as for the legacy types exactly the file's bytes
 * for 16 rows (so whole groups can be repacked at load): per block, vector
 * 8c + m holds bytes 4m..4m+3 of qs chunk c (32 bytes) of each row (low
 * nibbles pair with activations 64c + 4m, high ones with 64c + 32 + 4m), then
 * the 12 scale bytes of each row as 3 dword vectors; after the kc blocks, per
 * block the 16 rows' d and then dmin as f16 (64 bytes). */
static void pack_q4_k(const uint8_t *const *rp, int64_t b0, int kc, uint8_t *buf)
{
    const __m512i idx = row_offsets(rp);
    for (int b = 0; b < kc; b++) {
        const size_t off = (size_t)(b0 + b) * sizeof(block_q4_K);
        __m512i *p = (__m512i *)(buf + (size_t)b * NV_Q4_K * 64);
        (void)kc;
        for (int c = 0; c < 4; c++)
            for (int h = 0; h < 2; h++) {
                __m512i o[4];
                transpose16x4(rp, off + offsetof(block_q4_K, qs) + 32 * (size_t)c + 16 * (size_t)h, o);
                for (int k = 0; k < 4; k++)
                    _mm512_storeu_si512(p + 8 * c + 4 * h + k, o[k]);
            }
        for (int k = 0; k < 3; k++)
            _mm512_storeu_si512(p + 32 + k, _mm512_i32gather_epi32(idx, (const void *)(rp[0] + off + offsetof(block_q4_K, scales) + 4 * (size_t)k), 1));
        /* d | dmin << 16 of each row, split into the two f16 arrays */
        const __m512i dd = _mm512_i32gather_epi32(idx, (const void *)(rp[0] + off + offsetof(block_q4_K, d)), 1);
        uint8_t *dp = (uint8_t *)(p + 35);
        _mm256_storeu_si256((__m256i *)dp, _mm512_cvtepi32_epi16(dd));
        _mm256_storeu_si256((__m256i *)(dp + 32), _mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16)));
    }
}

/* The 6-bit scales and mins of 16 rows from their 3 scale dwords d0, d1, d2
 * (bytes 0..3, 4..7, 8..11 of each row's scales; the layout that
 * get_scale_min_k4 in ggml-quants.c reads): byte j of *sc_lo / *sc_hi is sc_j /
 * sc_(4+j), byte j of *m_lo / *m_hi is m_j / m_(4+j). */
static inline __attribute__((always_inline)) void q4_k_scale_bytes(const __m512i *p, __m512i *sc_lo, __m512i *sc_hi,
                                                                    __m512i *m_lo, __m512i *m_hi)
{
    const __m512i d0 = _mm512_loadu_si512(p), d1 = _mm512_loadu_si512(p + 1), d2 = _mm512_loadu_si512(p + 2);
    const __m512i m6 = _mm512_set1_epi8(0x3f), m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    *sc_lo = _mm512_and_si512(d0, m6);
    *m_lo = _mm512_and_si512(d1, m6);
    *sc_hi = _mm512_or_si512(_mm512_and_si512(d2, m4), _mm512_and_si512(_mm512_srli_epi32(d0, 2), m30));
    *m_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(d2, 4), m4), _mm512_and_si512(_mm512_srli_epi32(d1, 2), m30));
}

/* Byte j of each dword, zero-extended. */
static inline __m512i dword_byte(__m512i v, int j)
{
    return _mm512_and_si512(_mm512_srli_epi32(v, 8 * j), _mm512_set1_epi32(0xff));
}

/* Bytes 2i and 2i + 1 (i = 0, 1) of each dword as an int16 pair (low, high). */
static inline __m512i dword_byte_pair(__m512i v, int i)
{
    const __m512i lo = _mm512_set1_epi32(0xff), hi = _mm512_set1_epi32(0xff0000);
    if (i == 0)
        return _mm512_or_si512(_mm512_and_si512(v, lo), _mm512_and_si512(_mm512_slli_epi32(v, 8), hi));
    return _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(v, 16), lo), _mm512_and_si512(_mm512_srli_epi32(v, 8), hi));
}

static inline __attribute__((always_inline)) void tile_q4_k_run(const uint8_t *pk, int kc, int T,
                                                                 const tile_act *a, int64_t b0, __m512 *acc,
                                                                 const char *pf, int with_pf)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    for (int b = 0; b < kc; b++) {
        const __m512i *p = (const __m512i *)(pk + (size_t)b * NV_Q4_K * 64);
        const block_q8_K *y[TT];
        const k4_side *s[TT];
        for (int t = 0; t < T; t++) {
            y[t] = (const block_q8_K *)(a->q[t] + (size_t)(b0 + b) * a->qstep);
            s[t] = (const k4_side *)(a->s[t] + (size_t)(b0 + b) * a->sstep);
        }
        if (with_pf)
            prefetch_span(pf, b, NV_Q4_K * 64);
        __m512i sc_lo, sc_hi, m_lo, m_hi;
        q4_k_scale_bytes(p + 32, &sc_lo, &sc_hi, &m_lo, &m_hi);
        __m512i isum[TT];
        for (int t = 0; t < T; t++)
            isum[t] = _mm512_setzero_si512();
        for (int j = 0; j < 8; j++) {
            const int c = j >> 1;
            __m512i w[8];
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) {
                const __m512i v = _mm512_loadu_si512(p + 8 * c + k);
                w[k] = _mm512_and_si512(j & 1 ? _mm512_srli_epi16(v, 4) : v, m4);
            }
            const __m512i sc = dword_byte(j < 4 ? sc_lo : sc_hi, j & 3);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const int8_t *q = y[t]->qs + 32 * j;
                __m512i i0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[0], _mm512_set1_epi32(kt_load32(q + 0)));
                __m512i i1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[1], _mm512_set1_epi32(kt_load32(q + 4)));
                i0 = _mm512_dpbusd_epi32(i0, w[2], _mm512_set1_epi32(kt_load32(q + 8)));
                i1 = _mm512_dpbusd_epi32(i1, w[3], _mm512_set1_epi32(kt_load32(q + 12)));
                i0 = _mm512_dpbusd_epi32(i0, w[4], _mm512_set1_epi32(kt_load32(q + 16)));
                i1 = _mm512_dpbusd_epi32(i1, w[5], _mm512_set1_epi32(kt_load32(q + 20)));
                i0 = _mm512_dpbusd_epi32(i0, w[6], _mm512_set1_epi32(kt_load32(q + 24)));
                i1 = _mm512_dpbusd_epi32(i1, w[7], _mm512_set1_epi32(kt_load32(q + 28)));
                isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(_mm512_add_epi32(i0, i1), sc));
            }
        }
        const __m512i mp0 = dword_byte_pair(m_lo, 0), mp1 = dword_byte_pair(m_lo, 1);
        const __m512i mp2 = dword_byte_pair(m_hi, 0), mp3 = dword_byte_pair(m_hi, 1);
        const uint8_t *dp = (const uint8_t *)(p + 35);
        const __m512 dx = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dp));
        const __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(dp + 32)));
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const int16_t *bs = s[t]->s;
            __m512i ms = _mm512_dpwssd_epi32(_mm512_setzero_si512(), mp0, _mm512_set1_epi32(kt_load32(bs + 0)));
            ms = _mm512_dpwssd_epi32(ms, mp1, _mm512_set1_epi32(kt_load32(bs + 2)));
            ms = _mm512_dpwssd_epi32(ms, mp2, _mm512_set1_epi32(kt_load32(bs + 4)));
            ms = _mm512_dpwssd_epi32(ms, mp3, _mm512_set1_epi32(kt_load32(bs + 6)));
            const __m512 dy = _mm512_set1_ps(y[t]->d);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(dx, dy), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_mul_ps(dm, dy), acc[t]);
        }
    }
}

static inline __attribute__((always_inline)) void tile_q4_k(const uint8_t *pk, int kc, int T, const tile_act *a,
                                                             int64_t b0, __m512 *acc, const char *pf)
{
    WITH_OR_WITHOUT_PREFETCH(tile_q4_k_run(pk, kc, T, a, b0, acc, pf, with_pf));
}

#define K_TILES(X)                                                                       \
    TILE_FN(tile_##X##_1, 1, tile_##X(pk, kc, 1, a, b0, acc, pf))                             \
    TILE_FN(tile_##X##_2, 2, tile_##X(pk, kc, 2, a, b0, acc, pf))                             \
    TILE_FN(tile_##X##_3, 3, tile_##X(pk, kc, 3, a, b0, acc, pf))                             \
    TILE_FN(tile_##X##_4, 4, tile_##X(pk, kc, 4, a, b0, acc, pf))                             \
    TILE_FN(tile_##X##_5, 5, tile_##X(pk, kc, 5, a, b0, acc, pf))                             \
    TILE_FN(tile_##X##_6, 6, tile_##X(pk, kc, 6, a, b0, acc, pf))                             \
    TILE_FN(tile_##X##_7, 7, tile_##X(pk, kc, 7, a, b0, acc, pf))                             \
    TILE_FN(tile_##X##_8, 8, tile_##X(pk, kc, 8, a, b0, acc, pf))                             \
    static const tile_fn tiles_##X[TT + 1] = { NULL, tile_##X##_1, tile_##X##_2, tile_##X##_3, tile_##X##_4, \
                                               tile_##X##_5, tile_##X##_6, tile_##X##_7, tile_##X##_8 };

K_TILES(q4_k)

/* acc + sub-blocks 2c, 2c + 1 of one row times their scales (int16 in sc). */
static inline __attribute__((always_inline)) __m256i chunk_q4_k(__m256i acc, const uint8_t *qs, const int8_t *q8,
                                                                 __m256i sc, int c)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i qv = kt_loadu256(qs + 32 * c);
    const __m256i lo = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_and_si256(qv, m4), kt_loadu256(q8 + 64 * c));
    const __m256i hi = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4),
                                           kt_loadu256(q8 + 64 * c + 32));
    return _mm256_dpwssd_epi32(acc, _mm256_packs_epi32(lo, hi), _mm256_shuffle_epi8(sc, kq_pick2(2 * c, 2 * c + 1)));
}

/* One Q4_K row against one Q8_K block, as vec_dot does it: 8 partial isums
 * (4-sums packed to int16, times the scales by VPDPWSSD) and 8 partial msums. */
static inline __attribute__((always_inline)) __m256i row_q4_k(const block_q4_K *x, const block_q8_K *y,
                                                               __m256i *msum)
{
    const __m128i scm = kq_k4_scales_mins(x->scales);
    *msum = kq_k4_min_sums(scm, y->bsums);
    const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(scm));
    const __m256i a0 = chunk_q4_k(_mm256_setzero_si256(), x->qs, y->qs, sc, 0);
    const __m256i a1 = chunk_q4_k(_mm256_setzero_si256(), x->qs, y->qs, sc, 1);
    return _mm256_add_epi32(chunk_q4_k(a0, x->qs, y->qs, sc, 2), chunk_q4_k(a1, x->qs, y->qs, sc, 3));
}

/* One token, 4 rows: first each row's blocks in order (one sequential
 * stream over the 4 contiguous rows), per group of 4 blocks the isums and
 * msums as vec_dot forms them, reduced to one lane per block, converted and
 * stored with d * d_y and dmin * d_y; then the 4 rows' chains over those, in
 * block order, interleaved (4 independent chains): per output the same float
 * ops as the tile's lane. */
#define SB 64 /* blocks per pass */

/* A row's block: isum partials (4 lanes, folded) | msum partials (4 lanes). */
static inline __attribute__((always_inline)) __m256i fold_q4_k(const block_q4_K *x, const block_q8_K *y)
{
    __m256i ms;
    const __m256i is = row_q4_k(x, y, &ms);
    return _mm256_add_epi32(_mm256_permute2x128_si256(is, ms, 0x20), _mm256_permute2x128_si256(is, ms, 0x31));
}

static void single4_q4_k(const uint8_t *const *rp, int64_t nb, const uint8_t *act, size_t side_off, float *out,
                         __mmask16 mask)
{
    const block_q8_K *y = (const block_q8_K *)act;
    const float *dys = (const float *)((const k4_side *)(act + side_off) + nb);
    const __m256i dsel = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    _Alignas(32) float fv[4][SB * 2], sv[4][SB * 2]; /* per 4 blocks: 4 isums, 4 msums */
    /* all 4 rows are computed (a missing row repeats the first, see gemm_driver), the
     * chains in registers; only the rows of mask are stored */
    __m128 a0 = _mm_setzero_ps(), a1 = _mm_setzero_ps(), a2 = _mm_setzero_ps(), a3 = _mm_setzero_ps();
    for (int64_t b0 = 0; b0 < nb; b0 += SB) {
        const int nbc = nb - b0 < SB ? (int)(nb - b0) : SB;
        for (int r = 0; r < 4; r++) {
            const block_q4_K *x = (const block_q4_K *)rp[r] + b0;
            const block_q8_K *yc = y + b0;
            for (int b = 0; b < nbc; b += 4) {
                __m256i v[4];
                __m128i dp;
                __m128 dyv;
                if (nbc - b >= 4) {
#pragma GCC unroll 4
                    for (int g = 0; g < 4; g++)
                        v[g] = fold_q4_k(&x[b + g], &yc[b + g]);
                    dp = _mm_setr_epi32(kt_load32(&x[b].d), kt_load32(&x[b + 1].d), kt_load32(&x[b + 2].d), kt_load32(&x[b + 3].d));
                    dyv = _mm_loadu_ps(dys + b0 + b);
                } else {
                    int32_t dpa[4] = { 0, 0, 0, 0 };
                    float dya[4] = { 0, 0, 0, 0 };
                    for (int g = 0; g < 4; g++) {
                        v[g] = b + g < nbc ? fold_q4_k(&x[b + g], &yc[b + g]) : _mm256_setzero_si256();
                        if (b + g < nbc) {
                            dpa[g] = kt_load32(&x[b + g].d);
                            dya[g] = yc[b + g].d;
                        }
                    }
                    dp = _mm_loadu_si128((const __m128i *)dpa);
                    dyv = _mm_loadu_ps(dya);
                }
                const __m256i t0 = _mm256_add_epi32(_mm256_unpacklo_epi32(v[0], v[1]), _mm256_unpackhi_epi32(v[0], v[1]));
                const __m256i t1 = _mm256_add_epi32(_mm256_unpacklo_epi32(v[2], v[3]), _mm256_unpackhi_epi32(v[2], v[3]));
                const __m256i is = _mm256_add_epi32(_mm256_unpacklo_epi64(t0, t1), _mm256_unpackhi_epi64(t0, t1));
                const __m256 dd = _mm256_permutevar8x32_ps(_mm256_cvtph_ps(dp), dsel);
                _mm256_store_ps(&fv[r][2 * b], _mm256_cvtepi32_ps(is));
                _mm256_store_ps(&sv[r][2 * b], _mm256_mul_ps(dd, _mm256_set_m128(dyv, dyv)));
            }
        }
        for (int b = 0; b < nbc; b++) {
            const int i = 2 * (b & ~3) + (b & 3);
#define CHAIN4K(R)                                                                                  \
    a##R = _mm_fmadd_ss(_mm_load_ss(&fv[R][i]), _mm_load_ss(&sv[R][i]), a##R);                      \
    a##R = _mm_fnmadd_ss(_mm_load_ss(&fv[R][i + 4]), _mm_load_ss(&sv[R][i + 4]), a##R);
            CHAIN4K(0) CHAIN4K(1) CHAIN4K(2) CHAIN4K(3)
#undef CHAIN4K
        }
    }
    const __m128 r01 = _mm_unpacklo_ps(a0, a1), r23 = _mm_unpacklo_ps(a2, a3);
    _mm_mask_storeu_ps(out, (__mmask8)(mask & 15), _mm_movelh_ps(r01, r23));
}

static void gemm_q4_k(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows, const void *restrict act,
                      size_t act_stride, int n_tok, float *restrict out, size_t ldo, int packed)
{
    _Alignas(64) uint8_t buf[KC_K * NV_Q4_K * 64];
    const int64_t nb = n / QK_K;
    const act_format f = { sizeof(block_q8_K), sizeof(k4_side), side_offset(nb, sizeof(block_q8_K)) };
    gemm_driver(nb, f, KC_K, pack_q4_k, tiles_q4_k, single4_q4_k, FEW_K, w, row_bytes,
                nrows, act, act_stride, n_tok, out, ldo, buf, packed);
}

/* ---- Q6_K weights, Q8_K activations ------------------------------------------------------
 *
 * Chain per output and 256-block b: acc = fma((float)isum_b, d_x * d_y, acc),
 * isum_b = sum over the 16 sub-blocks j of sc_j * ((q - 32) . activations),
 * exact: levels q in [0, 63] go unsigned into VPDPBUSD and 32 * sum_j sc_j *
 * bsum_j is subtracted. */

#define KC_Q6 2    /* blocks per packed chunk */
#define NV_Q6_K 73 /* 64 level vectors, 8 scale pairs, d */

/* Packed block: vector 4j + k holds levels 16j + 4k..+3 (q, unpacked) of
 * each row, then (sc_2i, sc_2i+1) as int16 pairs (8 vectors), then d. */
static void pack_q6_k(const uint8_t *const *rp, int64_t b0, int kc, uint8_t *buf)
{
    const __m512i idx = row_offsets(rp);
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    _Alignas(64) uint8_t lv[ROWS][QK_K];
    const uint8_t *lp[ROWS];
    for (int l = 0; l < ROWS; l++)
        lp[l] = lv[l];
    for (int b = 0; b < kc; b++) {
        const size_t off = (size_t)(b0 + b) * sizeof(block_q6_K);
        __m512i *p = (__m512i *)(buf + (size_t)b * NV_Q6_K * 64);
        int32_t *pv = (int32_t *)(p + 64);
        for (int l = 0; l < ROWS; l++) {
            const block_q6_K *x = (const block_q6_K *)(rp[l] + off);
            for (int h = 0; h < 2; h++) {
                const __m256i ql0 = kt_loadu256(x->ql + 64 * h), ql1 = kt_loadu256(x->ql + 64 * h + 32);
                const __m256i qh = kt_loadu256(x->qh + 32 * h);
                __m256i *o = (__m256i *)(lv[l] + 128 * h);
                _mm256_store_si256(o + 0, _mm256_or_si256(_mm256_and_si256(ql0, m4),
                                                          _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30)));
                _mm256_store_si256(o + 1, _mm256_or_si256(_mm256_and_si256(ql1, m4),
                                                          _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30)));
                _mm256_store_si256(o + 2, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4),
                                                          _mm256_and_si256(qh, m30)));
                _mm256_store_si256(o + 3, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                                          _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30)));
            }
            for (int i = 0; i < 8; i++)
                pv[16 * i + l] = (int32_t)((uint32_t)(uint16_t)x->scales[2 * i] |
                                           (uint32_t)(uint16_t)x->scales[2 * i + 1] << 16);
        }
        for (int j = 0; j < 16; j++) {
            __m512i o[4];
            transpose16x4(lp, 16 * (size_t)j, o);
            for (int k = 0; k < 4; k++)
                _mm512_store_si512(p + 4 * j + k, o[k]);
        }
        /* d is the last 2 bytes of the block: the dword ending there, high half */
        const __m512i dv = _mm512_i32gather_epi32(idx, (const void *)(rp[0] + off + offsetof(block_q6_K, d) - 2), 1);
        _mm512_store_ps((float *)(p + 72), _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dv, 16))));
    }
}

static inline __attribute__((always_inline)) void tile_q6_k(const uint8_t *pk, int kc, int T,
                                                             const tile_act *a, int64_t b0, __m512 *acc)
{
    for (int b = 0; b < kc; b++) {
        const __m512i *p = (const __m512i *)(pk + (size_t)b * NV_Q6_K * 64);
        const block_q8_K *y[TT];
        for (int t = 0; t < T; t++)
            y[t] = (const block_q8_K *)(a->q[t] + (size_t)(b0 + b) * a->qstep);
        __m512i isum[TT];
        for (int t = 0; t < T; t++)
            isum[t] = _mm512_setzero_si512();
        for (int j = 0; j < 16; j++) {
            const __m512i w0 = _mm512_load_si512(p + 4 * j), w1 = _mm512_load_si512(p + 4 * j + 1);
            const __m512i w2 = _mm512_load_si512(p + 4 * j + 2), w3 = _mm512_load_si512(p + 4 * j + 3);
            const __m512i pair = _mm512_load_si512(p + 64 + (j >> 1));
            const __m512i sc = j & 1 ? _mm512_srai_epi32(pair, 16) : _mm512_srai_epi32(_mm512_slli_epi32(pair, 16), 16);
#pragma GCC unroll 8
            for (int t = 0; t < T; t++) {
                const int8_t *q = y[t]->qs + 16 * j;
                __m512i i0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w0, _mm512_set1_epi32(kt_load32(q + 0)));
                __m512i i1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w1, _mm512_set1_epi32(kt_load32(q + 4)));
                i0 = _mm512_dpbusd_epi32(i0, w2, _mm512_set1_epi32(kt_load32(q + 8)));
                i1 = _mm512_dpbusd_epi32(i1, w3, _mm512_set1_epi32(kt_load32(q + 12)));
                isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(_mm512_add_epi32(i0, i1), sc));
            }
        }
        const __m512 dx = _mm512_load_ps((const float *)(p + 72));
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const int16_t *bs = y[t]->bsums;
            __m512i o = _mm512_setzero_si512();
            for (int i = 0; i < 8; i++)
                o = _mm512_dpwssd_epi32(o, _mm512_load_si512(p + 64 + i), _mm512_set1_epi32(kt_load32(bs + 2 * i)));
            const __m512i is = _mm512_sub_epi32(isum[t], _mm512_slli_epi32(o, 5));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(dx, _mm512_set1_ps(y[t]->d)), acc[t]);
        }
    }
}

#define Q6_TILE(T) TILE_FN(tile_q6_k_##T, T, ((void)pf, tile_q6_k(pk, kc, T, a, b0, acc)))
Q6_TILE(1)
Q6_TILE(2)
Q6_TILE(3)
Q6_TILE(4)
Q6_TILE(5)
Q6_TILE(6)
Q6_TILE(7)
Q6_TILE(8)
static const tile_fn tiles_q6_k[TT + 1] = { NULL, tile_q6_k_1, tile_q6_k_2, tile_q6_k_3, tile_q6_k_4,
                                            tile_q6_k_5, tile_q6_k_6, tile_q6_k_7, tile_q6_k_8 };

/* One Q6_K row against one Q8_K block, as vec_dot does it: 8 partial isums. */
static inline __attribute__((always_inline)) __m256i half_q6_k(__m256i acc, const block_q6_K *x, const int8_t *y8,
                                                                __m256i sc, int h)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    const __m256i ql0 = kt_loadu256(x->ql + 64 * h), ql1 = kt_loadu256(x->ql + 64 * h + 32);
    const __m256i qh = kt_loadu256(x->qh + 32 * h);
    const __m256i l0 = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
    const __m256i l1 = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
    const __m256i l2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
    const __m256i l3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4),
                                       _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
    y8 += 128 * h;
    const __m256i z = _mm256_setzero_si256();
    acc = _mm256_dpwssd_epi32(acc, _mm256_packs_epi32(_mm256_dpbusd_epi32(z, l0, kt_loadu256(y8)),
                                                      _mm256_dpbusd_epi32(z, l1, kt_loadu256(y8 + 32))),
                              _mm256_shuffle_epi8(sc, kq_pick2(4 * h, 4 * h + 1)));
    return _mm256_dpwssd_epi32(acc, _mm256_packs_epi32(_mm256_dpbusd_epi32(z, l2, kt_loadu256(y8 + 64)),
                                                       _mm256_dpbusd_epi32(z, l3, kt_loadu256(y8 + 96))),
                               _mm256_shuffle_epi8(sc, kq_pick2(4 * h + 2, 4 * h + 3)));
}

/* The block's isum partials folded to 4 lanes. */
static inline __attribute__((always_inline)) __m128i fold_q6_k(const block_q6_K *x, const block_q8_K *y)
{
    const __m128i sc8 = kt_loadu128(x->scales);
    const __m256i sc = kq_even_odd_scales(sc8);
    const __m256i offs = _mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), kt_loadu256(y->bsums));
    const __m256i s0 = half_q6_k(_mm256_setzero_si256(), x, y->qs, sc, 0);
    const __m256i s1 = half_q6_k(_mm256_setzero_si256(), x, y->qs, sc, 1);
    const __m256i is = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), _mm256_slli_epi32(offs, 5));
    return _mm_add_epi32(_mm256_castsi256_si128(is), _mm256_extracti128_si256(is, 1));
}

/* One token, 4 rows, as single4_q4_k. */
static void single4_q6_k(const uint8_t *const *rp, int64_t nb, const uint8_t *act, size_t side_off, float *out,
                         __mmask16 mask)
{
    (void)side_off;
    const block_q8_K *y = (const block_q8_K *)act;
    _Alignas(16) float fv[4][SB], sv[4][SB];
    /* all 4 rows are computed (a missing row repeats the first, see gemm_driver), the
     * chains in registers; only the rows of mask are stored */
    __m128 a0 = _mm_setzero_ps(), a1 = _mm_setzero_ps(), a2 = _mm_setzero_ps(), a3 = _mm_setzero_ps();
    for (int64_t b0 = 0; b0 < nb; b0 += SB) {
        const int nbc = nb - b0 < SB ? (int)(nb - b0) : SB;
        for (int r = 0; r < 4; r++) {
            const block_q6_K *x = (const block_q6_K *)rp[r] + b0;
            const block_q8_K *yc = y + b0;
            for (int b = 0; b < nbc; b += 4) {
                __m128i v[4];
                __m128i dh;
                __m128 dyv;
                if (nbc - b >= 4) {
#pragma GCC unroll 4
                    for (int g = 0; g < 4; g++)
                        v[g] = fold_q6_k(&x[b + g], &yc[b + g]);
                    dh = _mm_setr_epi16((short)x[b].d, (short)x[b + 1].d, (short)x[b + 2].d, (short)x[b + 3].d, 0, 0, 0, 0);
                    dyv = _mm_setr_ps(yc[b].d, yc[b + 1].d, yc[b + 2].d, yc[b + 3].d);
                } else {
                    uint16_t dha[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
                    float dya[4] = { 0, 0, 0, 0 };
                    for (int g = 0; g < 4; g++) {
                        v[g] = b + g < nbc ? fold_q6_k(&x[b + g], &yc[b + g]) : _mm_setzero_si128();
                        if (b + g < nbc) {
                            dha[g] = (uint16_t)x[b + g].d;
                            dya[g] = yc[b + g].d;
                        }
                    }
                    dh = _mm_loadu_si128((const __m128i *)dha);
                    dyv = _mm_loadu_ps(dya);
                }
                const __m128i t0 = _mm_add_epi32(_mm_unpacklo_epi32(v[0], v[1]), _mm_unpackhi_epi32(v[0], v[1]));
                const __m128i t1 = _mm_add_epi32(_mm_unpacklo_epi32(v[2], v[3]), _mm_unpackhi_epi32(v[2], v[3]));
                const __m128i is = _mm_add_epi32(_mm_unpacklo_epi64(t0, t1), _mm_unpackhi_epi64(t0, t1));
                _mm_store_ps(&fv[r][b], _mm_cvtepi32_ps(is));
                _mm_store_ps(&sv[r][b], _mm_mul_ps(_mm_cvtph_ps(dh), dyv));
            }
        }
        for (int b = 0; b < nbc; b++) {
            a0 = _mm_fmadd_ss(_mm_load_ss(&fv[0][b]), _mm_load_ss(&sv[0][b]), a0);
            a1 = _mm_fmadd_ss(_mm_load_ss(&fv[1][b]), _mm_load_ss(&sv[1][b]), a1);
            a2 = _mm_fmadd_ss(_mm_load_ss(&fv[2][b]), _mm_load_ss(&sv[2][b]), a2);
            a3 = _mm_fmadd_ss(_mm_load_ss(&fv[3][b]), _mm_load_ss(&sv[3][b]), a3);
        }
    }
    const __m128 r01 = _mm_unpacklo_ps(a0, a1), r23 = _mm_unpacklo_ps(a2, a3);
    _mm_mask_storeu_ps(out, (__mmask8)(mask & 15), _mm_movelh_ps(r01, r23));
}

static void gemm_q6_k(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows, const void *restrict act,
                      size_t act_stride, int n_tok, float *restrict out, size_t ldo, int packed)
{
    _Alignas(64) uint8_t buf[KC_Q6 * NV_Q6_K * 64];
    const int64_t nb = n / QK_K;
    const act_format f = { sizeof(block_q8_K), 0, 0 }; /* no side table (no prep) */
    gemm_driver(nb, f, KC_Q6, pack_q6_k, tiles_q6_k, single4_q6_k, FEW_K, w, row_bytes,
                nrows, act, act_stride, n_tok, out, ldo, buf, packed);
}

static void gemm_q4_0(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows, const void *restrict act,
                      size_t act_stride, int n_tok, float *restrict out, size_t ldo, int packed)
{
    _Alignas(64) uint8_t buf[KC * (NV_Q4_0 * 64 + 32)]; /* blocks, then d */
    const int64_t nb = n / QK4_0;
    const act_format f = { sizeof(block_q8_0), sizeof(act_side), side_offset(nb, sizeof(block_q8_0)) };
    gemm_driver(nb, f, KC, pack_q4_0,
                tiles_q4_0, single4_q4_0, FEW_Q4_0, w, row_bytes, nrows, act, act_stride, n_tok, out, ldo, buf, packed);
}

static void gemm_q8_0(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows, const void *restrict act,
                      size_t act_stride, int n_tok, float *restrict out, size_t ldo, int packed)
{
    _Alignas(64) uint8_t buf[KC * (NV_Q8_0 * 64 + 32)]; /* blocks, then d */
    const int64_t nb = n / QK8_0;
    const act_format f = { sizeof(block_q8_0), sizeof(act_side), side_offset(nb, sizeof(block_q8_0)) };
    gemm_driver(nb, f, KC, pack_q8_0,
                tiles_q8_0, single4_q8_0, FEW_Q8_0, w, row_bytes, nrows, act, act_stride, n_tok, out, ldo, buf, packed);
}

static void repack_q4_0(int64_t n, const void *src, size_t row_bytes, int64_t nrows, void *dst)
{
    repack_driver(n / QK4_0, KC, pack_q4_0, src, row_bytes, nrows, dst);
}

static void repack_q8_0(int64_t n, const void *src, size_t row_bytes, int64_t nrows, void *dst)
{
    repack_driver(n / QK8_0, KC, pack_q8_0, src, row_bytes, nrows, dst);
}

static const kt_gemm gemm_q4_0_vnni = { ROWS, prep_q4_0, gemm_q4_0, repack_q4_0 };
static const kt_gemm gemm_q8_0_vnni = { ROWS, prep_q8_0_w, gemm_q8_0, repack_q8_0 };
static void repack_q4_k(int64_t n, const void *src, size_t row_bytes, int64_t nrows, void *dst)
{
    repack_driver(n / QK_K, KC_K, pack_q4_k, src, row_bytes, nrows, dst);
}

static const kt_gemm gemm_q4_k_vnni = { ROWS, prep_q4_k, gemm_q4_k, repack_q4_k };
static const kt_gemm gemm_q6_k_vnni = { ROWS, NULL, gemm_q6_k, NULL };

void kt_register_vnni_gemm(kt_traits *table)
{
    table[KT_Q4_0].gemm = &gemm_q4_0_vnni;
    table[KT_Q8_0].gemm = &gemm_q8_0_vnni;
    table[KT_Q4_K].gemm = &gemm_q4_k_vnni;
    table[KT_Q6_K].gemm = &gemm_q6_k_vnni;
}

#else

void kt_register_vnni_gemm(kt_traits *table)
{
    (void)table;
}

#endif
