/* Helpers shared by the x86 K-quant kernel files (avx2_kquants.c,
 * avx512_kquants.c, vnni_kquants.c): unpacking the sub-block scales. Needs
 * AVX2; private to those files. */
#ifndef KESTREL_KQUANTS_X86_H
#define KESTREL_KQUANTS_X86_H

#if defined(__x86_64__) && defined(__AVX2__)
#include <immintrin.h>
#include <string.h>

#include "blocks.h"
#include "simd_x86.h"

#define KQ_ALWAYS_INLINE static inline __attribute__((always_inline))

/* Q4_K/Q5_K: the 8 six-bit scales (bytes 0-7) and 8 mins (bytes 8-15), as
 * kt_get_scale_min_k4 reads them from the 12 packed bytes at p. Reads 16
 * bytes: p must have 4 more bytes after the 12 (the rest of the block). */
KQ_ALWAYS_INLINE __m128i kq_k4_scales_mins(const uint8_t *p)
{
    const __m128i v = kt_loadu128(p);
    /* low bits: sc0-3 = b0-3 & 63, sc4-7 = b8-11 & 15, m0-3 = b4-7 & 63, m4-7 = b8-11 >> 4 */
    const __m128i a = _mm_shuffle_epi8(v, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i lo = _mm_or_si128(
        _mm_and_si128(a, _mm_setr_epi32(0x3F3F3F3F, 0x0F0F0F0F, 0x3F3F3F3F, 0)),
        _mm_and_si128(_mm_srli_epi16(a, 4), _mm_setr_epi32(0, 0, 0, 0x0F0F0F0F)));
    /* top 2 bits of sc4-7 / m4-7: bits 6-7 of b0-3 / b4-7, moved to bits 4-5 */
    const __m128i b = _mm_shuffle_epi8(v, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    return _mm_or_si128(lo, _mm_and_si128(_mm_srli_epi16(b, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030)));
}

/* The 16 signed 6-bit scales of a Q3_K block as int8 (ref_q3_k.c's get_scale):
 * scale s has its low nibble in byte s % 8 (low half for s < 8) and its top
 * 2 bits in byte 8 + s % 4 at bit 2 * (s / 4). */
KQ_ALWAYS_INLINE __m128i kq_q3_k_scales(const uint8_t *p)
{
    uint32_t a[3];
    memcpy(a, p, 12);
    const uint32_t lo = 0x0F0F0F0Fu, hi = 0x03030303u;
    const uint32_t w0 = (a[0] & lo) | ((a[2] & hi) << 4);
    const uint32_t w1 = (a[1] & lo) | (((a[2] >> 2) & hi) << 4);
    const uint32_t w2 = ((a[0] >> 4) & lo) | (((a[2] >> 4) & hi) << 4);
    const uint32_t w3 = ((a[1] >> 4) & lo) | (((a[2] >> 6) & hi) << 4);
    return _mm_sub_epi8(_mm_setr_epi32((int)w0, (int)w1, (int)w2, (int)w3), _mm_set1_epi8(32));
}

/* sum_j min[j] * (bsums[2j] + bsums[2j + 1]) as 8 int32 lanes (mins in bytes 8-15 of scm). */
KQ_ALWAYS_INLINE __m256i kq_k4_min_sums(__m128i scm, const int16_t *bsums)
{
    const __m128i dup = _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15);
    return _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_shuffle_epi8(scm, dup)), kt_loadu256(bsums));
}

/* 16 int8 scales (one per sub-block of 16) as int16, even ones in the low lane
 * and odd ones in the high lane: a 32-byte vector of levels covers sub-blocks
 * 2m (low lane) and 2m + 1 (high lane), so per-lane shuffles pick both. */
KQ_ALWAYS_INLINE __m256i kq_even_odd_scales(__m128i sc)
{
    const __m128i even_odd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc, even_odd));
}

/* Byte-shuffle control picking int16 element j in all 8 slots of each lane. */
KQ_ALWAYS_INLINE __m256i kq_pick1(int j) { return _mm256_set1_epi16((short)((2 * j + 1) << 8 | 2 * j)); }

/* Control picking int16 element a in slots 0-3 and b in slots 4-7 of each lane. */
KQ_ALWAYS_INLINE __m256i kq_pick2(int a, int b)
{
    const short sa = (short)((2 * a + 1) << 8 | 2 * a), sb = (short)((2 * b + 1) << 8 | 2 * b);
    return _mm256_setr_epi16(sa, sa, sa, sa, sb, sb, sb, sb, sa, sa, sa, sa, sb, sb, sb, sb);
}

/* Q6_K half h (elements 128h..128h+127) as its 4 groups of 32 levels (0..63):
 * ql[64h..+32] has the low nibbles of groups 0 and 2, ql[64h+32..+32] those
 * of groups 1 and 3; qh bits 2k..2k+1 are group k's top bits. */
KQ_ALWAYS_INLINE void kq_q6_k_levels(const block_q6_K *x, int h, __m256i l[4])
{
    const __m256i m4 = _mm256_set1_epi8(0xF), m30 = _mm256_set1_epi8(0x30);
    const __m256i ql0 = kt_loadu256(x->ql + 64 * h), ql1 = kt_loadu256(x->ql + 64 * h + 32);
    const __m256i qh = kt_loadu256(x->qh + 32 * h);
    l[0] = _mm256_or_si256(_mm256_and_si256(ql0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
    l[1] = _mm256_or_si256(_mm256_and_si256(ql1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
    l[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), m4), _mm256_and_si256(qh, m30));
    l[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
}

/* The block's fp16 pair (d, dmin) times the activations' d, in lanes 0 and 1. */
KQ_ALWAYS_INLINE __m128 kq_d_dmin(const void *pair, float yd)
{
    int32_t v;
    memcpy(&v, pair, 4);
    return _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(v)), _mm_set1_ps(yd));
}

#endif
#endif
