/* Scale loading shared by the AVX-512 kernels with and without VNNI
 * (avx512_legacy.c, vnni_legacy.c; loads and horizontal sums are simd_x86.h's).
 * Include only from files compiled with AVX-512 flags, inside their
 * #if defined(__x86_64__). */
#ifndef KESTREL_LEGACY_AVX512_H
#define KESTREL_LEGACY_AVX512_H

#include "simd_x86.h"

/* The scales of 4 consecutive blocks, as [d_x d_y of the 4 | m_x s_y of the 4].
 *  - Types without a minimum: the 4 halves of x, and of y, are gathered in a
 *    general register (scalar loads, shifts, ors) and moved over with one MOVQ:
 *    cheaper on the shuffle port than vector inserts.
 *  - Types with a minimum need 4 fields per row: two 64-byte loads inside the 4
 *    blocks (at 0 and WIN1) and one VPERMT2W pick field f0 of blocks 0..3 into
 *    words 0..3 and field f1 into words 4..7, then one VCVTPH2PS. */
#define HALVES4(p, f)                                                                            \
    _mm_cvtph_ps(_mm_cvtsi64_si128((long long)((uint64_t)(p)[0].f | (uint64_t)(p)[1].f << 16 |   \
                                               (uint64_t)(p)[2].f << 32 | (uint64_t)(p)[3].f << 48)))
#define WIN1(S) (4 * (S) - 64 < 64 ? 4 * (S) - 64 : 64)
#define WORD(o, S) ((o) + 2 <= 64 ? (o) / 2 : 32 + ((o) > WIN1(S) ? (o) - WIN1(S) : 0) / 2)
#define FIELD_WORDS(S, o) WORD(o, S), WORD((o) + (S), S), WORD((o) + 2 * (S), S), WORD((o) + 3 * (S), S)
#define SCALE_IDX(T, f0, f1)                                                          \
    { FIELD_WORDS((int)sizeof(T), (int)offsetof(T, f0)), FIELD_WORDS((int)sizeof(T), (int)offsetof(T, f1)) }

static const uint16_t IDX_Q4_1[32] = SCALE_IDX(block_q4_1, d, m);
static const uint16_t IDX_Q5_1[32] = SCALE_IDX(block_q5_1, d, m);
static const uint16_t IDX_Q8_1[32] = SCALE_IDX(block_q8_1, d, s);

static_assert(4 * sizeof(block_q4_1) >= 64 && 3 * sizeof(block_q5_1) + 4 <= 128 &&
                  3 * sizeof(block_q8_1) + 4 <= 128,
              "scales_4blocks: the two windows must lie inside 4 blocks and cover every field");

static inline __m256 scales_4blocks(const void *p, size_t stride, const uint16_t *idx)
{
    const char *c = p;
    const __m512i w0 = _mm512_loadu_si512(c);
    const __m512i w1 = _mm512_loadu_si512(c + WIN1(stride));
    const __m512i words = _mm512_permutex2var_epi16(w0, _mm512_loadu_si512(idx), w1);
    return _mm256_cvtph_ps(_mm512_castsi512_si128(words));
}

/* The f16 field f of blocks p[0..1] as floats (lanes 0, 1). */
#define HALVES2(p, f) _mm_cvtph_ps(_mm_cvtsi32_si128((int)((uint32_t)(p)[0].f | (uint32_t)(p)[1].f << 16)))

/* ---- unpacking ------------------------------------------------------------------- */

/* Nibbles of two blocks -> bytes in 128-bit lanes [a lo | b lo | a hi | b hi]. */
static inline __m512i nibbles_pair(const uint8_t *qa, const uint8_t *qb)
{
    const __m256i ab = _mm256_inserti128_si256(_mm256_castsi128_si256(kt_loadu128(qa)), kt_loadu128(qb), 1);
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(ab), _mm256_srli_epi16(ab, 4), 1);
    return _mm512_and_si512(z, _mm512_set1_epi8(0x0f));
}

/* Activations of two blocks in the order of nibbles_pair. */
static inline __m512i act_pair_nibble_order(const int8_t *ya, const int8_t *yb)
{
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(kt_loadu256(ya)), kt_loadu256(yb), 1);
    return _mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0));
}

/* Two blocks of bytes side by side: [a 0..31 | b 0..31]. */
static inline __m512i bytes_pair(const int8_t *a, const int8_t *b)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(kt_loadu256(a)), kt_loadu256(b), 1);
}

/* The fifth bits of two blocks as a mask in the order of nibbles_pair. */
static inline __mmask64 fifth_bits_pair(const uint8_t *qha, const uint8_t *qhb)
{
    uint32_t a, b;
    memcpy(&a, qha, 4);
    memcpy(&b, qhb, 4);
    return (uint64_t)(a & 0xffff) | (uint64_t)(b & 0xffff) << 16 | (uint64_t)(a >> 16) << 32 |
           (uint64_t)(b >> 16) << 48;
}

static inline __m512i add_fifth_bits(__m512i q, const uint8_t *qha, const uint8_t *qhb)
{
    return _mm512_mask_add_epi8(q, fifth_bits_pair(qha, qhb), q, _mm512_set1_epi8(0x10));
}


#endif
