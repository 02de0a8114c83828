/* A small seeded PRNG: xoshiro256** (Blackman & Vigna), seeded through
 * splitmix64 so that any 64-bit seed, 0 included, gives a well-mixed state.
 * Same seed, same stream, on every platform. */
#ifndef KESTREL_RNG_H
#define KESTREL_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} kestrel_rng;

static inline uint64_t kestrel_splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline void kestrel_rng_seed(kestrel_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = kestrel_splitmix64(&seed);
}

static inline uint64_t kestrel_rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t kestrel_rng_next(kestrel_rng *rng)
{
    uint64_t *s = rng->s;
    const uint64_t result = kestrel_rotl64(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = kestrel_rotl64(s[3], 45);
    return result;
}

/* Uniform in [0, 1): the top 24 bits, so every value is exact in a float. */
static inline float kestrel_rng_float(kestrel_rng *rng)
{
    return (float)(kestrel_rng_next(rng) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform in [0, 1) with 53 bits, for drawing from long cumulative sums. */
static inline double kestrel_rng_double(kestrel_rng *rng)
{
    return (double)(kestrel_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
