/* AVX-512 VNNI tile kernels (kt_gemm, see quant.h): 16 weight rows x up to 8
 * tokens per register tile, for prompt processing and batched verification,
 * and the same kernels for one token (matmul uses them for every n_tok).
 *
 * Batch invariance. Each output (row r, token t) is one float chain over the
 * row's blocks in order, the same ops whatever the tile:
 *   Q4_0, Q8_0:  acc = fma((float)isum_b, d_x[b] * d_y[b], acc)
 *   Q4_K:        acc = fma((float)isum_b, d_x * d_y, acc); acc = fma((float)-msum_b, dmin_x * d_y, acc)
 *   Q6_K:        acc = fma((float)isum_b, d_x * d_y, acc)
 * starting from acc = 0, where isum_b / msum_b are the exact integer sums of
 * the block (as in the reference vec_dot). Integer arithmetic is exact, so how
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
 * lane with no horizontal reduction. Packing costs one pass over the 16 rows'
 * chunk (L1-resident) and is amortized over all tokens; the mmapped weights
 * are never copied as a whole.
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

#define ROWS 16 /* rows per tile: one per 32-bit lane */
#define TT 8    /* tokens per register tile */
#define KC 32   /* legacy blocks per packed chunk */
#define KCK 8   /* K-quant super-blocks per packed chunk */

static inline __m128i loadu128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

static inline int32_t load32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Bytes off..off+15 of 16 rows -> o[k], lane L = dword k of row L's 16 bytes. */
static inline void transpose16x4(const uint8_t *const *rp, size_t off, __m512i o[4])
{
    __m512i z[4];
    for (int g = 0; g < 4; g++) {
        /* 128-bit lane i of z[g] holds row 4i + g */
        __m512i v = _mm512_castsi128_si512(loadu128(rp[g] + off));
        v = _mm512_inserti32x4(v, loadu128(rp[4 + g] + off), 1);
        v = _mm512_inserti32x4(v, loadu128(rp[8 + g] + off), 2);
        z[g] = _mm512_inserti32x4(v, loadu128(rp[12 + g] + off), 3);
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

/* Packed block: NV vectors of weights (vector k pairs with activation bytes
 * 4k..4k+3; Q4_0 keeps nibbles, 4 vectors, unpacked in the kernel), then the
 * 16 rows' d as floats. */
#define NV_Q4_0 4
#define NV_Q8_0 8

static void pack_q4_0(const uint8_t *const *rp, int64_t b0, int kc, uint8_t *buf)
{
    const __m512i idx = row_offsets(rp);
    for (int b = 0; b < kc; b++) {
        const size_t off = (size_t)(b0 + b) * sizeof(block_q4_0);
        __m512i *p = (__m512i *)(buf + (size_t)b * (NV_Q4_0 + 1) * 64);
        __m512i o[4];
        transpose16x4(rp, off + offsetof(block_q4_0, qs), o);
        for (int k = 0; k < 4; k++)
            _mm512_store_si512(p + k, o[k]);
        _mm512_store_ps((float *)(p + 4), halves16(rp[0], idx, off));
    }
}

static void pack_q8_0(const uint8_t *const *rp, int64_t b0, int kc, uint8_t *buf)
{
    const __m512i idx = row_offsets(rp);
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    for (int b = 0; b < kc; b++) {
        const size_t off = (size_t)(b0 + b) * sizeof(block_q8_0);
        __m512i *p = (__m512i *)(buf + (size_t)b * (NV_Q8_0 + 1) * 64);
        __m512i o[4];
        for (int h = 0; h < 2; h++) {
            transpose16x4(rp, off + offsetof(block_q8_0, qs) + 16 * (size_t)h, o);
            for (int k = 0; k < 4; k++)
                _mm512_store_si512(p + 4 * h + k, _mm512_xor_si512(o[k], bias));
        }
        _mm512_store_ps((float *)(p + 8), halves16(rp[0], idx, off));
    }
}

/* One token tile over a packed chunk: acc[t] (16 rows) for T tokens.
 * y[t]: the token's Q8_0 blocks of the chunk; s[t]: their side entries. */
static inline __attribute__((always_inline)) void tile_legacy(const uint8_t *pk, int kc, int T, int nibbles,
                                                               const block_q8_0 *const *y, const act_side *const *s,
                                                               __m512 *acc)
{
    const int nv = nibbles ? NV_Q4_0 : NV_Q8_0;
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    for (int b = 0; b < kc; b++) {
        const __m512i *p = (const __m512i *)(pk + (size_t)b * (nv + 1) * 64);
        __m512i w[8];
        if (nibbles) {
            for (int k = 0; k < 4; k++) {
                const __m512i v = _mm512_load_si512(p + k);
                w[k] = _mm512_and_si512(v, m4);
                w[k + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
            }
        } else {
            for (int k = 0; k < 8; k++)
                w[k] = _mm512_load_si512(p + k);
        }
        const __m512 dx = _mm512_load_ps((const float *)(p + nv));
#pragma GCC unroll 8
        for (int t = 0; t < T; t++) {
            const int8_t *q = y[t][b].qs;
            __m512i i0 = _mm512_set1_epi32(s[t][b].off), i1 = _mm512_setzero_si512();
            i0 = _mm512_dpbusd_epi32(i0, w[0], _mm512_set1_epi32(load32(q + 0)));
            i1 = _mm512_dpbusd_epi32(i1, w[1], _mm512_set1_epi32(load32(q + 4)));
            i0 = _mm512_dpbusd_epi32(i0, w[2], _mm512_set1_epi32(load32(q + 8)));
            i1 = _mm512_dpbusd_epi32(i1, w[3], _mm512_set1_epi32(load32(q + 12)));
            i0 = _mm512_dpbusd_epi32(i0, w[4], _mm512_set1_epi32(load32(q + 16)));
            i1 = _mm512_dpbusd_epi32(i1, w[5], _mm512_set1_epi32(load32(q + 20)));
            i0 = _mm512_dpbusd_epi32(i0, w[6], _mm512_set1_epi32(load32(q + 24)));
            i1 = _mm512_dpbusd_epi32(i1, w[7], _mm512_set1_epi32(load32(q + 28)));
            const __m512 sc = _mm512_mul_ps(dx, _mm512_set1_ps(s[t][b].d));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(i0, i1)), sc, acc[t]);
        }
    }
}

/* Loads the accumulators of T tokens (zero for the first chunk), runs BODY,
 * stores them: the float chain continues across chunks through out. */
#define TILE_FN(NAME, T, BODY_CALL)                                                                          \
    static void NAME(const uint8_t *pk, int kc, const uint8_t *act, size_t act_stride, size_t side_off,    \
                     int64_t b0, float *out, size_t ldo, __mmask16 mask, int first)                         \
    {                                                                                                       \
        __m512 acc[T];                                                                                      \
        TILE_PTRS(T)                                                                                        \
        for (int t = 0; t < T; t++)                                                                         \
            acc[t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, out + (size_t)t * ldo);      \
        BODY_CALL;                                                                                          \
        for (int t = 0; t < T; t++)                                                                         \
            _mm512_mask_storeu_ps(out + (size_t)t * ldo, mask, acc[t]);                                     \
    }

#define TILE_PTRS(T)                                                                        \
    const block_q8_0 *y[T];                                                                 \
    const act_side *s[T];                                                                   \
    for (int t = 0; t < T; t++) {                                                           \
        y[t] = (const block_q8_0 *)(act + (size_t)t * act_stride) + b0;                     \
        s[t] = (const act_side *)(act + (size_t)t * act_stride + side_off) + b0;            \
    }

#define LEGACY_TILES(X)                                                                  \
    TILE_FN(tile_##X##_1, 1, tile_legacy(pk, kc, 1, NIB_##X, y, s, acc))                 \
    TILE_FN(tile_##X##_2, 2, tile_legacy(pk, kc, 2, NIB_##X, y, s, acc))                 \
    TILE_FN(tile_##X##_3, 3, tile_legacy(pk, kc, 3, NIB_##X, y, s, acc))                 \
    TILE_FN(tile_##X##_4, 4, tile_legacy(pk, kc, 4, NIB_##X, y, s, acc))                 \
    TILE_FN(tile_##X##_5, 5, tile_legacy(pk, kc, 5, NIB_##X, y, s, acc))                 \
    TILE_FN(tile_##X##_6, 6, tile_legacy(pk, kc, 6, NIB_##X, y, s, acc))                 \
    TILE_FN(tile_##X##_7, 7, tile_legacy(pk, kc, 7, NIB_##X, y, s, acc))                 \
    TILE_FN(tile_##X##_8, 8, tile_legacy(pk, kc, 8, NIB_##X, y, s, acc))                 \
    static const tile_fn tiles_##X[TT + 1] = { NULL, tile_##X##_1, tile_##X##_2, tile_##X##_3, tile_##X##_4, \
                                               tile_##X##_5, tile_##X##_6, tile_##X##_7, tile_##X##_8 };

typedef void (*tile_fn)(const uint8_t *pk, int kc, const uint8_t *act, size_t act_stride, size_t side_off,
                        int64_t b0, float *out, size_t ldo, __mmask16 mask, int first);
typedef void (*pack_fn)(const uint8_t *const *rp, int64_t b0, int kc, uint8_t *buf);

#define NIB_q4_0 1
#define NIB_q8_0 0
LEGACY_TILES(q4_0)
LEGACY_TILES(q8_0)

/* Software prefetch of the 16 rows' streams, a few hundred bytes ahead:
 * sixteen concurrent streams are more than the hardware prefetchers follow. */
#define PF_DIST 768
static inline void prefetch_rows(const uint8_t *const *rp, size_t off)
{
    for (int l = 0; l < ROWS; l++)
        _mm_prefetch((const char *)rp[l] + off, _MM_HINT_T0);
}

/* One token, no packing: each block's 16 rows are transposed in registers and
 * used at once (the same integers and float ops as the packed path). */
static void single_q4_0(const uint8_t *const *rp, int64_t nb, const uint8_t *act, size_t side_off, float *out,
                        __mmask16 mask)
{
    const __m512i idx = row_offsets(rp), m4 = _mm512_set1_epi8(0x0f);
    const block_q8_0 *y = (const block_q8_0 *)act;
    const act_side *s = (const act_side *)(act + side_off);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * sizeof(block_q4_0);
        if ((b & 3) == 0)
            prefetch_rows(rp, off + PF_DIST);
        __m512i o[4];
        transpose16x4(rp, off + offsetof(block_q4_0, qs), o);
        const __m512 dx = halves16(rp[0], idx, off);
        const int8_t *q = y[b].qs;
        __m512i i0 = _mm512_set1_epi32(s[b].off), i1 = _mm512_setzero_si512();
        for (int k = 0; k < 4; k++) {
            i0 = _mm512_dpbusd_epi32(i0, _mm512_and_si512(o[k], m4), _mm512_set1_epi32(load32(q + 4 * k)));
            i1 = _mm512_dpbusd_epi32(i1, _mm512_and_si512(_mm512_srli_epi16(o[k], 4), m4),
                                     _mm512_set1_epi32(load32(q + 16 + 4 * k)));
        }
        const __m512 sc = _mm512_mul_ps(dx, _mm512_set1_ps(s[b].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(i0, i1)), sc, acc);
    }
    _mm512_mask_storeu_ps(out, mask, acc);
}

static void single_q8_0(const uint8_t *const *rp, int64_t nb, const uint8_t *act, size_t side_off, float *out,
                        __mmask16 mask)
{
    const __m512i idx = row_offsets(rp), bias = _mm512_set1_epi8((char)0x80);
    const block_q8_0 *y = (const block_q8_0 *)act;
    const act_side *s = (const act_side *)(act + side_off);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * sizeof(block_q8_0);
        if ((b & 1) == 0)
            prefetch_rows(rp, off + PF_DIST);
        __m512i o[4], p[4];
        transpose16x4(rp, off + offsetof(block_q8_0, qs), o);
        transpose16x4(rp, off + offsetof(block_q8_0, qs) + 16, p);
        const __m512 dx = halves16(rp[0], idx, off);
        const int8_t *q = y[b].qs;
        __m512i i0 = _mm512_set1_epi32(s[b].off), i1 = _mm512_setzero_si512();
        for (int k = 0; k < 4; k++) {
            i0 = _mm512_dpbusd_epi32(i0, _mm512_xor_si512(o[k], bias), _mm512_set1_epi32(load32(q + 4 * k)));
            i1 = _mm512_dpbusd_epi32(i1, _mm512_xor_si512(p[k], bias), _mm512_set1_epi32(load32(q + 16 + 4 * k)));
        }
        const __m512 sc = _mm512_mul_ps(dx, _mm512_set1_ps(s[b].d));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(i0, i1)), sc, acc);
    }
    _mm512_mask_storeu_ps(out, mask, acc);
}

typedef void (*single_fn)(const uint8_t *const *rp, int64_t nb, const uint8_t *act, size_t side_off, float *out,
                          __mmask16 mask);

/* The driver shared by every type: row tiles of 16, chunks of kc_max blocks
 * packed once, token tiles of up to 8 over each chunk. */
static inline void gemm_driver(int64_t nb, size_t block_bytes, size_t side_off, int kc_max, size_t packed_block,
                               pack_fn pack, const tile_fn *tiles, single_fn single, const void *restrict w, size_t row_bytes,
                               int64_t nrows, const void *restrict act, size_t act_stride, int n_tok,
                               float *restrict out, size_t ldo, uint8_t *buf)
{
    (void)block_bytes;
    (void)packed_block;
    for (int64_t r0 = 0; r0 < nrows; r0 += ROWS) {
        const int nr = nrows - r0 < ROWS ? (int)(nrows - r0) : ROWS;
        const __mmask16 mask = (__mmask16)((1u << nr) - 1);
        const uint8_t *rp[ROWS];
        for (int l = 0; l < ROWS; l++) /* a missing row repeats the first: its lane is never stored */
            rp[l] = (const uint8_t *)w + (size_t)(r0 + (l < nr ? l : 0)) * row_bytes;
        if (n_tok == 1 && single) {
            single(rp, nb, act, side_off, out + r0, mask);
            continue;
        }
        for (int64_t b0 = 0; b0 < nb; b0 += kc_max) {
            const int kc = nb - b0 < kc_max ? (int)(nb - b0) : kc_max;
            pack(rp, b0, kc, buf);
            for (int t0 = 0; t0 < n_tok; t0 += TT) {
                const int T = n_tok - t0 < TT ? n_tok - t0 : TT;
                tiles[T](buf, kc, (const uint8_t *)act + (size_t)t0 * act_stride, act_stride, side_off, b0,
                         out + (size_t)t0 * ldo + r0, ldo, mask, b0 == 0);
            }
        }
    }
}

static void gemm_q4_0(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows, const void *restrict act,
                      size_t act_stride, int n_tok, float *restrict out, size_t ldo)
{
    _Alignas(64) uint8_t buf[KC * (NV_Q4_0 + 1) * 64];
    const int64_t nb = n / QK4_0;
    gemm_driver(nb, sizeof(block_q4_0), side_offset(nb, sizeof(block_q8_0)), KC, (NV_Q4_0 + 1) * 64, pack_q4_0,
                tiles_q4_0, single_q4_0, w, row_bytes, nrows, act, act_stride, n_tok, out, ldo, buf);
}

static void gemm_q8_0(int64_t n, const void *restrict w, size_t row_bytes, int64_t nrows, const void *restrict act,
                      size_t act_stride, int n_tok, float *restrict out, size_t ldo)
{
    _Alignas(64) uint8_t buf[KC * (NV_Q8_0 + 1) * 64];
    const int64_t nb = n / QK8_0;
    gemm_driver(nb, sizeof(block_q8_0), side_offset(nb, sizeof(block_q8_0)), KC, (NV_Q8_0 + 1) * 64, pack_q8_0,
                tiles_q8_0, single_q8_0, w, row_bytes, nrows, act, act_stride, n_tok, out, ldo, buf);
}

static const kt_gemm gemm_q4_0_vnni = { ROWS, prep_q4_0, gemm_q4_0 };
static const kt_gemm gemm_q8_0_vnni = { ROWS, prep_q8_0_w, gemm_q8_0 };

void kt_register_vnni_gemm(kt_traits *table)
{
    table[KT_Q4_0].gemm = &gemm_q4_0_vnni;
    table[KT_Q8_0].gemm = &gemm_q8_0_vnni;
}

#else

void kt_register_vnni_gemm(kt_traits *table)
{
    (void)table;
}

#endif
