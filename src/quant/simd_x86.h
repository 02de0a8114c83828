/* Small inline helpers shared by the x86 kernel files (avx2_*.c, avx512_*.c,
 * vnni_*.c): unaligned loads and horizontal sums. Each helper is only defined
 * when the including file is compiled with the instructions it needs, so any
 * of those files may include this header. Nothing here on other targets. */
#ifndef KESTREL_SIMD_X86_H
#define KESTREL_SIMD_X86_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* 4 bytes at any address as an int32 (to broadcast them). */
static inline int32_t kt_load32(const void *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

#if defined(__AVX2__)
static inline __m128i kt_loadu128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }
static inline __m256i kt_loadu256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }

/* 16 bytes of packed nibbles -> 32 levels: elements 0..15 (low nibbles), then 16..31. */
static inline __m256i kt_nibbles32(const uint8_t *qs)
{
    const __m128i t = kt_loadu128(qs);
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(0x0f));
}

static inline float kt_hsum128_ps(__m128 v)
{
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}

static inline float kt_hsum256_ps(__m256 v)
{
    return kt_hsum128_ps(_mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1)));
}

static inline int kt_hsum128_epi32(__m128i v)
{
    v = _mm_add_epi32(v, _mm_unpackhi_epi64(v, v));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(v);
}

static inline int kt_hsum256_epi32(__m256i v)
{
    return kt_hsum128_epi32(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}

static inline float kt_hmax256_ps(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
#endif

#if defined(__AVX512F__)
static inline __m512i kt_loadu512(const void *p) { return _mm512_loadu_si512(p); }

static inline float kt_hsum512_ps(__m512 v)
{
    return kt_hsum256_ps(_mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}
#endif

#endif /* __x86_64__ */
#endif
