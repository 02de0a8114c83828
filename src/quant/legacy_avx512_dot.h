/* The per-type block dots and the vec_dot loop shared by avx512_legacy.c and
 * vnni_legacy.c: each file defines its integer primitives (dot_offset,
 * dot_unsigned, dot_signed and their 32-value forms) first, includes this, then
 * instantiates VEC_DOT with its own names. */
#ifndef KESTREL_LEGACY_AVX512_DOT_H
#define KESTREL_LEGACY_AVX512_DOT_H

/* ---- per-type pair and single-block dots -------------------------------------------- */

#define PAIR_Q4_0(x, y) dot_offset(nibbles_pair((x)[0].qs, (x)[1].qs), act_pair_nibble_order((y)[0].qs, (y)[1].qs), 8)
#define PAIR_Q4_1(x, y) dot_unsigned(nibbles_pair((x)[0].qs, (x)[1].qs), act_pair_nibble_order((y)[0].qs, (y)[1].qs))
#define PAIR_Q5_0(x, y)                                                                                     \
    dot_offset(add_fifth_bits(nibbles_pair((x)[0].qs, (x)[1].qs), (x)[0].qh, (x)[1].qh),                    \
               act_pair_nibble_order((y)[0].qs, (y)[1].qs), 16)
#define PAIR_Q5_1(x, y)                                                                                     \
    dot_unsigned(add_fifth_bits(nibbles_pair((x)[0].qs, (x)[1].qs), (x)[0].qh, (x)[1].qh),                  \
                 act_pair_nibble_order((y)[0].qs, (y)[1].qs))
#define PAIR_Q8_0(x, y) dot_signed(bytes_pair((x)[0].qs, (x)[1].qs), bytes_pair((y)[0].qs, (y)[1].qs))

#define ONE_Q4_0(x, y) dot32_offset(kt_nibbles32((x)->qs), kt_loadu256((y)->qs), 8)
#define ONE_Q4_1(x, y) dot32_unsigned(kt_nibbles32((x)->qs), kt_loadu256((y)->qs))
#define ONE_Q5_0(x, y) dot32_offset(_mm256_or_si256(kt_nibbles32((x)->qs), fifth_bits32((x)->qh)), kt_loadu256((y)->qs), 16)
#define ONE_Q5_1(x, y) dot32_unsigned(_mm256_or_si256(kt_nibbles32((x)->qs), fifth_bits32((x)->qh)), kt_loadu256((y)->qs))
#define ONE_Q8_0(x, y) dot32_signed(kt_loadu256((x)->qs), kt_loadu256((y)->qs))

/* Which block each of the 16 int32 sums of a pair belongs to, as indices into
 * the scales of a step: nibble types a x4, b x4, a x4, b x4; Q8_0 a x8, b x8. */
#define IDX_NIBBLE(k) _mm512_setr_epi32(k, k, k, k, k + 1, k + 1, k + 1, k + 1, k, k, k, k, k + 1, k + 1, k + 1, k + 1)
#define IDX_BYTES(k) _mm512_setr_epi32(k, k, k, k, k, k, k, k, k + 1, k + 1, k + 1, k + 1, k + 1, k + 1, k + 1, k + 1)

/* One dot kernel: PAIR / ONE / IDX as above; MIN 1 adds m_x * s_y. */
#define VEC_DOT(NAME, XT, YT, XIDX, YIDX, PAIR, ONE, IDX, MIN)                                                     \
    static void NAME(int64_t n, float *restrict s, const void *restrict vx, const void *restrict vy)    \
    {                                                                                                 \
        const XT *x = vx;                                                                             \
        const YT *y = vy;                                                                             \
        const int64_t nb = n / 32;                                                                    \
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;                                                     \
        __m128 am = _mm_setzero_ps();                                                                 \
        __m256 am8 = _mm256_setzero_ps();                                                             \
        int64_t i = 0;                                                                                \
        for (; i + 4 <= nb; i += 4) {                                                                 \
            /* [d_x d_y of blocks i..i+3 | m_x s_y of them (types with a minimum)] */                 \
            const __m256 p = SCALES4_##MIN(x + i, y + i, XT, YT, XIDX, YIDX);                          \
            MIN_TERM4(MIN, p);                                                                        \
            const __m512 d = _mm512_castps256_ps512(p);                                               \
            a0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(IDX(0), d), _mm512_cvtepi32_ps(PAIR(x + i, y + i)), a0); \
            a1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(IDX(2), d), _mm512_cvtepi32_ps(PAIR(x + i + 2, y + i + 2)), a1); \
        }                                                                                             \
        if (i + 2 <= nb) {                                                                            \
            const __m512 d = _mm512_castps128_ps512(_mm_mul_ps(HALVES2(x + i, d), HALVES2(y + i, d)));  \
            MIN_TERM2(MIN, x + i, y + i);                                                             \
            a0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(IDX(0), d), _mm512_cvtepi32_ps(PAIR(x + i, y + i)), a0); \
            i += 2;                                                                                   \
        }                                                                                             \
        float tail = 0.0f;                                                                            \
        if (i < nb) {                                                                                 \
            const float d = _cvtsh_ss(x[i].d) * _cvtsh_ss(y[i].d);                                    \
            tail = kt_hsum256_ps(_mm256_mul_ps(_mm256_set1_ps(d), ONE(x + i, y + i)));                      \
            MIN_TERM1(MIN, x + i, y + i);                                                             \
        }                                                                                             \
        am = _mm_add_ps(am, _mm256_extractf128_ps(am8, 1));                                           \
        *s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1)) + kt_hsum128_ps(am) + tail;                       \
    }

/* The scales of 4 blocks, and the m_x * s_y terms (types with a minimum only:
 * the MIN argument picks). */
#define SCALES4_0(xp, yp, XT, YT, XIDX, YIDX) _mm256_castps128_ps256(_mm_mul_ps(HALVES4(xp, d), HALVES4(yp, d)))
#define SCALES4_1(xp, yp, XT, YT, XIDX, YIDX) \
    _mm256_mul_ps(scales_4blocks(xp, sizeof(XT), XIDX), scales_4blocks(yp, sizeof(YT), YIDX))
#define MIN_TERM4(MIN, p) MIN_TERM4_##MIN(p)
#define MIN_TERM2(MIN, xp, yp) MIN_TERM2_##MIN(xp, yp)
#define MIN_TERM1(MIN, xp, yp) MIN_TERM1_##MIN(xp, yp)
#define MIN_TERM4_0(p) ((void)0)
#define MIN_TERM2_0(xp, yp) ((void)0)
#define MIN_TERM1_0(xp, yp) ((void)0)
#define MIN_TERM4_1(p) (am8 = _mm256_add_ps(am8, (p)))
#define MIN_TERM2_1(xp, yp) (am = _mm_fmadd_ps(HALVES2(xp, m), HALVES2(yp, s), am))
#define MIN_TERM1_1(xp, yp) (tail += _cvtsh_ss((xp)->m) * _cvtsh_ss((yp)->s))

#endif
