/* AVX2 kernels for the legacy quants: Q4_0·Q8_0, Q4_1·Q8_1, Q5_0·Q8_0,
 * Q5_1·Q8_1, Q8_0·Q8_0 dot products, and the activation quantizers Q8_0 and
 * Q8_1 (from_float).
 *
 * Dot products, per block of 32: the weights are unpacked to 32 bytes, the
 * integer dot with the activation bytes is exact (VPMADDUBSW makes int16 pairs
 * that cannot saturate here, VPMADDWD sums them to 8 int32), and the 8 int32
 * are converted to float and multiplied by d_x * d_y with one FMA into an
 * accumulator. The scales of 4 blocks are converted together (VCVTPH2PS); the
 * loop does 4 blocks a step into 4 accumulators, added once at the end.
 *  - Q4_0 / Q5_0 weights have an offset (q - 8, q - 16): the unsigned level q
 *    goes into VPMADDUBSW directly and offset * (y pair sums), made by a
 *    second VPMADDUBSW, is subtracted from the int16 pairs.
 *  - Q8_0 weights are signed: |x| times y with x's sign (VPSIGNB). Exact for
 *    every x, and for y in -127..127, which is all our activation quantizer
 *    writes (y = -128 would be negated into itself).
 *  - Q4_1 / Q5_1 add m_x * s_y per block, 4 blocks at a time in a __m128.
 *
 * Quantizers: bit-identical to kt_from_float_q8_0_ref / _q8_1_ref, including
 * NaN / Inf inputs: amax skips NaNs (MAXPS returns its second operand when
 * either is NaN), q = round-half-even(x * id) via VCVTPS2DQ in the default
 * rounding mode (as rintf), clamped to 127 above and saturated to -128 below by
 * the packs, NaN products -> 0.
 * Nothing here allocates; every load is unaligned. */
#include "quant.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#include "blocks.h"

static inline float hsum_ps8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hsum_ps4(__m128 s)
{
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline __m256i loadu256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* The f16 field f of blocks p[0..3] as 4 floats. */
/* The four halves are packed in a general register first: scalar ALU ops
 * instead of four vector inserts on the shuffle port the dot products need. */
#define HALVES4(p, f)                                                                            \
    _mm_cvtph_ps(_mm_cvtsi64_si128((long long)((uint64_t)(p)[0].f | (uint64_t)(p)[1].f << 16 |   \
                                               (uint64_t)(p)[2].f << 32 | (uint64_t)(p)[3].f << 48)))

/* Lane k (0..3) of v in all 8 lanes. */
static inline __m256 lane8(__m128 v, int k)
{
    return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(v), _mm256_set1_epi32(k));
}

/* 16 bytes of packed nibbles -> 32 bytes: elements 0..15 (low nibbles), then 16..31. */
static inline __m256i nibbles32(const uint8_t *qs)
{
    const __m128i t = _mm_loadu_si128((const __m128i *)qs);
    const __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* Bit j of the little-endian 32-bit word at qh -> 0x10 in byte j (else 0). */
static inline __m256i fifth_bits32(const uint8_t *qh)
{
    uint32_t bits;
    memcpy(&bits, qh, 4);
    /* byte j takes byte j / 8 of the word, keeps bit j % 8 */
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits),
                                               _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                                                  0x0202020202020202, 0x0303030303030303));
    const __m256i sel = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, sel), sel);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

/* sum over j of q[j] * y[j] - off * y[j], q unsigned (q <= 31, off <= 16),
 * as 8 int32 lanes converted to float. */
static inline __m256 dot_offset(__m256i q, __m256i y, char off)
{
    const __m256i pq = _mm256_maddubs_epi16(q, y);
    const __m256i po = _mm256_maddubs_epi16(_mm256_set1_epi8(off), y);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_sub_epi16(pq, po), _mm256_set1_epi16(1)));
}

/* sum over j of q[j] * y[j], q unsigned (<= 31). */
static inline __m256 dot_unsigned(__m256i q, __m256i y)
{
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(q, y), _mm256_set1_epi16(1)));
}

static inline __m256 block_q4_0_dot(const block_q4_0 *x, const block_q8_0 *y)
{
    return dot_offset(nibbles32(x->qs), loadu256(y->qs), 8);
}

static inline __m256 block_q5_0_dot(const block_q5_0 *x, const block_q8_0 *y)
{
    const __m256i q = _mm256_or_si256(nibbles32(x->qs), fifth_bits32(x->qh));
    return dot_offset(q, loadu256(y->qs), 16);
}

static inline __m256 block_q4_1_dot(const block_q4_1 *x, const block_q8_1 *y)
{
    return dot_unsigned(nibbles32(x->qs), loadu256(y->qs));
}

static inline __m256 block_q5_1_dot(const block_q5_1 *x, const block_q8_1 *y)
{
    const __m256i q = _mm256_or_si256(nibbles32(x->qs), fifth_bits32(x->qh));
    return dot_unsigned(q, loadu256(y->qs));
}

static inline __m256 block_q8_0_dot(const block_q8_0 *x, const block_q8_0 *y)
{
    const __m256i qx = loadu256(x->qs);
    const __m256i qy = loadu256(y->qs);
    const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(qx), _mm256_sign_epi8(qy, qx));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}

/* The dot of a row of XT blocks with a row of YT blocks, 4 blocks a step. */
#define VEC_DOT_SYM(NAME, XT, YT, BLOCK_DOT)                                                       \
    static void NAME(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) \
    {                                                                                              \
        const XT *x = vx;                                                                          \
        const YT *y = vy;                                                                          \
        const int64_t nb = n / 32;                                                                 \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                \
        int64_t i = 0;                                                                             \
        for (; i + 4 <= nb; i += 4) {                                                              \
            const __m128 d = _mm_mul_ps(HALVES4(x + i, d), HALVES4(y + i, d));                     \
            a0 = _mm256_fmadd_ps(lane8(d, 0), BLOCK_DOT(x + i, y + i), a0);                        \
            a1 = _mm256_fmadd_ps(lane8(d, 1), BLOCK_DOT(x + i + 1, y + i + 1), a1);                \
            a2 = _mm256_fmadd_ps(lane8(d, 2), BLOCK_DOT(x + i + 2, y + i + 2), a2);                \
            a3 = _mm256_fmadd_ps(lane8(d, 3), BLOCK_DOT(x + i + 3, y + i + 3), a3);                \
        }                                                                                          \
        for (; i < nb; i++) {                                                                      \
            const float d = _cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d);                                 \
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(d), BLOCK_DOT(x + i, y + i), a0);                  \
        }                                                                                          \
        *s = hsum_ps8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));                \
    }

/* As VEC_DOT_SYM, plus m_x * s_y per block. */
#define VEC_DOT_MIN(NAME, XT, YT, BLOCK_DOT)                                                       \
    static void NAME(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy) \
    {                                                                                              \
        const XT *x = vx;                                                                          \
        const YT *y = vy;                                                                          \
        const int64_t nb = n / 32;                                                                 \
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                                \
        __m128 am = _mm_setzero_ps();                                                              \
        int64_t i = 0;                                                                             \
        for (; i + 4 <= nb; i += 4) {                                                              \
            const __m128 d = _mm_mul_ps(HALVES4(x + i, d), HALVES4(y + i, d));                     \
            am = _mm_fmadd_ps(HALVES4(x + i, m), HALVES4(y + i, s), am);                           \
            a0 = _mm256_fmadd_ps(lane8(d, 0), BLOCK_DOT(x + i, y + i), a0);                        \
            a1 = _mm256_fmadd_ps(lane8(d, 1), BLOCK_DOT(x + i + 1, y + i + 1), a1);                \
            a2 = _mm256_fmadd_ps(lane8(d, 2), BLOCK_DOT(x + i + 2, y + i + 2), a2);                \
            a3 = _mm256_fmadd_ps(lane8(d, 3), BLOCK_DOT(x + i + 3, y + i + 3), a3);                \
        }                                                                                          \
        float sm = 0.0f;                                                                           \
        for (; i < nb; i++) {                                                                      \
            const float d = _cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d);                                 \
            sm += _cvtsh_ss(x[i].m) * _cvtsh_ss(y[i].s);                                           \
            a0 = _mm256_fmadd_ps(_mm256_set1_ps(d), BLOCK_DOT(x + i, y + i), a0);                  \
        }                                                                                          \
        *s = hsum_ps8(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))) + hsum_ps4(am) + sm; \
    }

VEC_DOT_SYM(vec_dot_q4_0_avx2, block_q4_0, block_q8_0, block_q4_0_dot)
VEC_DOT_SYM(vec_dot_q5_0_avx2, block_q5_0, block_q8_0, block_q5_0_dot)
VEC_DOT_SYM(vec_dot_q8_0_avx2, block_q8_0, block_q8_0, block_q8_0_dot)
VEC_DOT_MIN(vec_dot_q4_1_avx2, block_q4_1, block_q8_1, block_q4_1_dot)
VEC_DOT_MIN(vec_dot_q5_1_avx2, block_q5_1, block_q8_1, block_q5_1_dot)

/* ---- activation quantizers -------------------------------------------------- */

/* One block of 32 floats -> 32 int8 in qs, rounded as the reference does;
 * d = amax / 127 (unrounded) in *d_out. Returns the 32 bytes (for Q8_1's sum). */
static inline __m256i quantize_block32(const float *src, int8_t *qs, float *d_out)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256 v0 = _mm256_loadu_ps(src), v1 = _mm256_loadu_ps(src + 8);
    const __m256 v2 = _mm256_loadu_ps(src + 16), v3 = _mm256_loadu_ps(src + 24);
    /* max(|v|, acc): a NaN |v| yields acc, so NaNs are skipped as in the reference */
    __m256 m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_setzero_ps());
    m = _mm256_max_ps(_mm256_andnot_ps(sign, v1), m);
    m = _mm256_max_ps(_mm256_andnot_ps(sign, v2), m);
    m = _mm256_max_ps(_mm256_andnot_ps(sign, v3), m);
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    const float amax = _mm_cvtss_f32(h);
    *d_out = amax / 127.0f;
    const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
    const __m256 top = _mm256_set1_ps(127.0f);
    __m256i q[4];
    const __m256 vs[4] = { v0, v1, v2, v3 };
    for (int k = 0; k < 4; k++) {
        __m256 p = _mm256_mul_ps(vs[k], id);
        p = _mm256_min_ps(top, p);                                      /* +Inf -> 127, NaN stays NaN */
        p = _mm256_and_ps(p, _mm256_cmp_ps(p, p, _CMP_ORD_Q));          /* NaN -> 0 */
        q[k] = _mm256_cvtps_epi32(p);                                   /* rounds half to even */
    }
    /* packs interleave 128-bit lanes: [q0l q1l q0h q1h], [q2l q3l q2h q3h] ->
     * [q0l q1l q2l q3l | q0h q1h q2h q3h]; the dword permute restores order. */
    const __m256i w01 = _mm256_packs_epi32(q[0], q[1]);
    const __m256i w23 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i b = _mm256_packs_epi16(w01, w23);
    const __m256i out = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)qs, out);
    return out;
}

static void from_float_q8_0_avx2(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, src += QK8_0) {
        float d;
        quantize_block32(src, b[i].qs, &d);
        b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
    }
}

static void from_float_q8_1_avx2(const float *restrict src, void *restrict dst, int64_t n)
{
    block_q8_1 *b = dst;
    for (int64_t i = 0; i < n / QK8_1; i++, src += QK8_1) {
        float d;
        const __m256i q = quantize_block32(src, b[i].qs, &d);
        /* sum of signed bytes: (q ^ 0x80) are q + 128 unsigned; SAD against 0 sums them */
        const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
        const __m128i s2 = _mm_add_epi64(_mm256_castsi256_si128(sad), _mm256_extracti128_si256(sad, 1));
        const int sum = (int)(_mm_cvtsi128_si64(s2) + _mm_extract_epi64(s2, 1)) - 128 * QK8_1;
        b[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        b[i].s = _cvtss_sh(d * (float)sum, _MM_FROUND_TO_NEAREST_INT);
    }
}

void kt_register_avx2_legacy(kt_traits *table)
{
    table[KT_Q4_0].vec_dot = vec_dot_q4_0_avx2;
    table[KT_Q4_1].vec_dot = vec_dot_q4_1_avx2;
    table[KT_Q5_0].vec_dot = vec_dot_q5_0_avx2;
    table[KT_Q5_1].vec_dot = vec_dot_q5_1_avx2;
    table[KT_Q8_0].vec_dot = vec_dot_q8_0_avx2;
    table[KT_Q8_0].from_float = from_float_q8_0_avx2;
    table[KT_Q8_1].from_float = from_float_q8_1_avx2;
}

#else

void kt_register_avx2_legacy(kt_traits *table)
{
    (void)table;
}

#endif
