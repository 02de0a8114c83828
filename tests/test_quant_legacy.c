/* The reference kernels of the float types and the legacy quants (Q4_0, Q4_1,
 * Q5_0, Q5_1, Q8_0, Q8_1): f16/bf16 conversion against slow exact references,
 * block layouts on hand-made blocks, quantization error bounds, dot products
 * against the dequantized rows, and byte equality with llama-quantize's output
 * in the shared synth-kernels files. */
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gguf.h"
#include "quant/blocks.h"
#include "quant/fp16.h"
#include "quant/quant.h"
#include "quant/ref.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86 1
#endif

/* ---- deterministic random numbers ------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rng_uniform(float lo, float hi) /* [lo, hi) */
{
    return lo + (hi - lo) * (float)((double)(rng_u64() >> 40) / 16777216.0);
}

static float rng_gauss(void)
{
    const double u1 = ((double)(rng_u64() >> 11) + 1.0) / 9007199254740993.0;
    const double u2 = (double)(rng_u64() >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ---- f16 / bf16 against slow references -------------------------------------- */

/* Value of a non-negative half bit pattern 0..0x7c00, decoded independently of
 * fp16.h; 0x7c00 stands for 65536, the next value after the largest finite. */
static double half_value(uint32_t h)
{
    const int e = (int)(h >> 10), m = (int)(h & 0x3ff);
    return e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
}

/* Round to nearest, ties to even mantissa, by searching the ordered halves. */
static kt_half slow_f32_to_half(float f)
{
    const uint32_t sign = (kt_f32_bits(f) >> 16) & 0x8000;
    if (isnan(f))
        return 0x7e00 | sign;
    const double a = fabs((double)f);
    if (a >= 65536.0)
        return (kt_half)(0x7c00 | sign);
    uint32_t lo = 0, hi = 0x7c00; /* half_value(lo) <= a < half_value(hi) */
    while (hi - lo > 1) {
        const uint32_t mid = (lo + hi) / 2;
        if (half_value(mid) <= a)
            lo = mid;
        else
            hi = mid;
    }
    /* 2a and lo + hi are exact in double, unlike the two distances. */
    const double twice = 2.0 * a, sum = half_value(lo) + half_value(hi);
    const uint32_t r = twice < sum ? lo : twice > sum ? hi : (lo & 1 ? hi : lo);
    return (kt_half)(r | sign);
}

/* The same for bf16: the candidates are the truncation and the next pattern up. */
static kt_bf16 slow_f32_to_bf16(float f)
{
    const uint32_t x = kt_f32_bits(f);
    if (isnan(f))
        return (kt_bf16)((x >> 16) | 0x40);
    const uint32_t sign = x & 0x80000000u, lo = (x & 0x7fffffffu) >> 16;
    if (isinf(f))
        return (kt_bf16)((sign >> 16) | 0x7f80);
    const double a = fabs((double)f);
    const double vlo = fabs((double)kt_bits_f32(lo << 16));
    /* The pattern after the largest finite one stands for 2^128. */
    const double vhi = lo + 1 == 0x7f80 ? ldexp(1.0, 128) : fabs((double)kt_bits_f32((lo + 1) << 16));
    const double twice = 2.0 * a, sum = vlo + vhi;
    const uint32_t r = twice < sum ? lo : twice > sum ? lo + 1 : (lo & 1 ? lo + 1 : lo);
    return (kt_bf16)((sign >> 16) | r);
}

#ifdef HAVE_X86
__attribute__((target("f16c"))) static kt_half hw_f32_to_half(float f)
{
    return (kt_half)_cvtss_sh(f, 0);
}

/* F16C is VEX-encoded: it needs the CPU flag and the OS saving the AVX state.
 * (Older clang's __builtin_cpu_supports does not know "f16c".) */
static bool cpu_has_f16c(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return false;
    const unsigned need = 1u << 29 | 1u << 28 | 1u << 27; /* F16C, AVX, OSXSAVE */
    if ((c & need) != need)
        return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 6) == 6;
}
#endif

static bool half_is_nan(kt_half h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff); }
static bool bf16_is_nan(kt_bf16 h) { return (h & 0x7f80) == 0x7f80 && (h & 0x7f); }

/* Compares kt_f32_to_half and kt_f32_to_bf16 with the slow references (and F16C
 * when the CPU has it) on one value; returns the number of disagreements. */
static int conv_check_one(float f, bool use_hw)
{
    int bad = 0;
    const kt_half h = kt_f32_to_half(f), want = slow_f32_to_half(f);
    if (isnan(f) ? !(half_is_nan(h) && (h & 0x8000) == (want & 0x8000)) : h != want) {
        if (bad++ == 0)
            fprintf(stderr, "f16: %a (0x%08x) -> 0x%04x, want 0x%04x\n", (double)f, kt_f32_bits(f), h, want);
    }
#ifdef HAVE_X86
    if (use_hw && !isnan(f) && h != hw_f32_to_half(f)) {
        if (bad++ == 0)
            fprintf(stderr, "f16: %a -> 0x%04x, F16C 0x%04x\n", (double)f, h, hw_f32_to_half(f));
    }
#else
    (void)use_hw;
#endif
    const kt_bf16 b = kt_f32_to_bf16(f), bwant = slow_f32_to_bf16(f);
    if (isnan(f) ? !(bf16_is_nan(b) && (b & 0x8000) == (bwant & 0x8000)) : b != bwant) {
        if (bad++ == 0)
            fprintf(stderr, "bf16: %a (0x%08x) -> 0x%04x, want 0x%04x\n", (double)f, kt_f32_bits(f), b, bwant);
    }
    return bad;
}

static void test_fp16_roundtrip(void)
{
    int bad_half = 0, bad_bf16 = 0;
    for (uint32_t i = 0; i < 65536; i++) {
        const kt_half h = (kt_half)i;
        const float f = kt_half_to_f32(h);
        if (half_is_nan(h)) {
            bad_half += !isnan(f) || !half_is_nan(kt_f32_to_half(f)) || (signbit(f) != 0) != ((i & 0x8000) != 0);
        } else {
            const uint32_t mag = i & 0x7fff;
            bad_half += kt_f32_to_half(f) != h;
            /* the decoded value is the one the half stands for */
            const double v = mag == 0x7c00 ? INFINITY : half_value(mag);
            bad_half += (double)fabsf(f) != v || (signbit(f) != 0) != ((i & 0x8000) != 0);
        }
        const kt_bf16 b = (kt_bf16)i;
        const float g = kt_bf16_to_f32(b);
        if (bf16_is_nan(b))
            bad_bf16 += !isnan(g) || !bf16_is_nan(kt_f32_to_bf16(g));
        else
            bad_bf16 += kt_f32_to_bf16(g) != b || kt_f32_bits(g) != (uint32_t)i << 16;
    }
    CHECK(bad_half == 0, "%d of 65536 halves do not round-trip through float", bad_half);
    CHECK(bad_bf16 == 0, "%d of 65536 bf16 do not round-trip through float", bad_bf16);
}

static void test_fp16_rounding(void)
{
    bool use_hw = false;
#ifdef HAVE_X86
    use_hw = cpu_has_f16c();
#endif
    int bad = 0;
    long count = 0;
    /* Every midpoint between neighbouring halves, and one float either side. */
    for (uint32_t h = 0; h < 0x7c00; h++) {
        const float mid = (float)((half_value(h) + half_value(h + 1)) / 2);
        const float probes[3] = { nextafterf(mid, 0.0f), mid, nextafterf(mid, INFINITY) };
        for (int k = 0; k < 3; k++) {
            bad += conv_check_one(probes[k], use_hw);
            bad += conv_check_one(-probes[k], use_hw);
            count += 2;
        }
    }
    /* Every midpoint between neighbouring bf16 (finite), and one float either side. */
    for (uint32_t b = 0; b < 0x7f80; b += 7) {
        const double lo = kt_bits_f32(b << 16);
        const double hi = b + 1 == 0x7f80 ? ldexp(1.0, 128) : kt_bits_f32((b + 1) << 16);
        const double midd = (lo + hi) / 2;
        if (midd >= 0x1.fffffep127)
            continue;
        const float mid = (float)midd;
        const float probes[3] = { nextafterf(mid, 0.0f), mid, nextafterf(mid, INFINITY) };
        for (int k = 0; k < 3; k++) {
            bad += conv_check_one(probes[k], use_hw);
            bad += conv_check_one(-probes[k], use_hw);
            count += 2;
        }
    }
    static const float edges[] = {
        0.0f, -0.0f, 65504.0f, 65519.996f, 65520.0f, 65535.0f, 65536.0f, 1e10f, FLT_MAX,
        INFINITY, -INFINITY, NAN, -NAN, 6.103515625e-05f /* 2^-14 */, 5.9604645e-08f /* 2^-24 */,
        2.9802322e-08f /* 2^-25: tie to 0 */, 2.9802326e-08f, 8.940697e-08f /* 1.5 * 2^-24 */,
        FLT_MIN, 1e-45f, 0x1.fffffep127f, 0x1.ff7fffp127f, 0x1.ff8000p127f, 1.0f, 1.00048828125f,
        1.0009765625f, 1.00146484375f, 2049.0f, 2051.0f, 4097.0f,
    };
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        bad += conv_check_one(edges[i], use_hw);
        bad += conv_check_one(-edges[i], use_hw);
        count += 2;
    }
    /* Random bit patterns (every exponent, NaNs included) and random values in
     * and near the half range. */
    for (int i = 0; i < 600000; i++) {
        const uint32_t u = (uint32_t)rng_u64();
        bad += conv_check_one(kt_bits_f32(u), use_hw);
        const uint32_t e = 100 + (uint32_t)(rng_u64() % 46); /* 2^-27 .. 2^18 */
        bad += conv_check_one(kt_bits_f32((u & 0x807fffffu) | e << 23), use_hw);
        count += 2;
    }
    CHECK(bad == 0, "%d of %ld float->f16/bf16 conversions disagree with the reference%s", bad, count,
          use_hw ? " or F16C" : "");
    CHECK(kt_f32_to_half(65504.0f) == 0x7bff && kt_f32_to_half(65520.0f) == 0x7c00 &&
          kt_f32_to_half(65519.996f) == 0x7bff, "f16 overflow boundary");
    CHECK(kt_f32_to_half(2.9802322e-08f) == 0 && kt_f32_to_half(2.9802326e-08f) == 1 &&
          kt_f32_to_half(8.940697e-08f) == 2, "f16 subnormal rounding");
    if (!use_hw)
        printf("note: no F16C on this CPU; f16 checked against the slow reference only\n");
}

/* ---- hand-made blocks pin the layouts ---------------------------------------- */

static void test_layouts(void)
{
    float out[64];

    block_q4_0 q40 = { .d = kt_f32_to_half(0.5f) };
    for (int j = 0; j < 16; j++)
        q40.qs[j] = (uint8_t)(j | (15 - j) << 4);
    kt_to_float_q4_0_ref(&q40, out, 32);
    int bad = 0;
    for (int j = 0; j < 16; j++)
        bad += out[j] != (j - 8) * 0.5f || out[j + 16] != (7 - j) * 0.5f;
    CHECK(bad == 0, "Q4_0 layout: low nibble is element j, high nibble j + 16");

    block_q4_1 q41 = { .d = kt_f32_to_half(0.25f), .m = kt_f32_to_half(-1.0f) };
    for (int j = 0; j < 16; j++)
        q41.qs[j] = (uint8_t)(j | (15 - j) << 4);
    kt_to_float_q4_1_ref(&q41, out, 32);
    bad = 0;
    for (int j = 0; j < 16; j++)
        bad += out[j] != j * 0.25f - 1.0f || out[j + 16] != (15 - j) * 0.25f - 1.0f;
    CHECK(bad == 0, "Q4_1 layout: x = q * d + m");

    /* qh bit j is bit 4 of element j: set bits 0, 9, 16 and 31. */
    block_q5_0 q50 = { .d = kt_f32_to_half(2.0f), .qh = { 0x01, 0x02, 0x01, 0x80 } };
    for (int j = 0; j < 16; j++)
        q50.qs[j] = (uint8_t)(j | (15 - j) << 4);
    kt_to_float_q5_0_ref(&q50, out, 32);
    bad = 0;
    for (int j = 0; j < 32; j++) {
        const int lo = j < 16 ? j : 15 - (j - 16);
        const int hibit = j == 0 || j == 9 || j == 16 || j == 31;
        bad += out[j] != (float)((lo | hibit << 4) - 16) * 2.0f;
    }
    CHECK(bad == 0, "Q5_0 layout: qh is a little-endian word, bit j for element j");

    block_q5_1 q51 = { .d = kt_f32_to_half(1.0f), .m = kt_f32_to_half(3.0f), .qh = { 0x00, 0x80, 0x00, 0x01 } };
    for (int j = 0; j < 16; j++)
        q51.qs[j] = (uint8_t)((15 - j) | j << 4);
    kt_to_float_q5_1_ref(&q51, out, 32);
    bad = 0;
    for (int j = 0; j < 32; j++) {
        const int lo = j < 16 ? 15 - j : j - 16;
        const int hibit = j == 15 || j == 24;
        bad += out[j] != (float)(lo | hibit << 4) + 3.0f;
    }
    CHECK(bad == 0, "Q5_1 layout");

    block_q8_0 q80 = { .d = kt_f32_to_half(0.125f) };
    for (int j = 0; j < 32; j++)
        q80.qs[j] = (int8_t)(j * 8 - 127);
    kt_to_float_q8_0_ref(&q80, out, 32);
    bad = 0;
    for (int j = 0; j < 32; j++)
        bad += out[j] != (j * 8 - 127) * 0.125f;
    CHECK(bad == 0, "Q8_0 layout");

    /* Q4_0 quantizer on a ramp: the value of largest magnitude (-16) becomes
     * level 0 and d = 2, so x = j - 16 gives q = floor((j + 1) / 2). */
    float ramp[32];
    for (int j = 0; j < 32; j++)
        ramp[j] = (float)(j - 16);
    kt_from_float_q4_0_ref(ramp, &q40, 32);
    bad = kt_half_to_f32(q40.d) != 2.0f;
    for (int j = 0; j < 16; j++)
        bad += q40.qs[j] != (uint8_t)((j + 1) / 2 | ((j + 17) / 2 > 15 ? 15 : (j + 17) / 2) << 4);
    CHECK(bad == 0, "Q4_0 quantizer on a ramp");
}

/* Activation rounding (half to even, scale 127/amax) vs llama-quantize's
 * Q8_0 (halves away from zero): amax = 127 makes both scales exactly 1. */
static void test_q8_rounding(void)
{
    float x[32] = { 0 };
    const float ties[] = { 0.5f, 1.5f, 2.5f, -0.5f, -2.5f, 126.5f, -3.5f, 127.0f };
    memcpy(x, ties, sizeof(ties));
    x[31] = -127.0f;
    const int8_t want_act[] = { 0, 2, 2, 0, -2, 126, -4, 127 };
    const int8_t want_ref[] = { 1, 2, 3, -1, -3, 127, -4, 127 };
    block_q8_0 act, ref;
    block_q8_1 act1;
    kt_from_float_q8_0_ref(x, &act, 32);
    kt_quantize_q8_0_ref(x, &ref, 32);
    kt_from_float_q8_1_ref(x, &act1, 32);
    CHECK(memcmp(act.qs, want_act, sizeof(want_act)) == 0 && act.qs[31] == -127,
          "Q8_0 activations round half to even");
    CHECK(memcmp(ref.qs, want_ref, sizeof(want_ref)) == 0 && ref.qs[31] == -127,
          "Q8_0 weights round half away from zero");
    CHECK(memcmp(act1.qs, act.qs, 32) == 0 && act1.d == act.d && kt_half_to_f32(act.d) == 1.0f,
          "Q8_1 quants and scale equal Q8_0's");
    int sum = 0;
    for (int j = 0; j < 32; j++)
        sum += act1.qs[j];
    CHECK(act1.s == kt_f32_to_half((float)sum), "Q8_1 s = d * sum(q): %g vs %d", kt_half_to_f32(act1.s), sum);

    const kt_traits *t = kt_ref_traits(KT_Q8_0);
    CHECK(t && t->from_float == kt_from_float_q8_0_ref && t->quantize == kt_quantize_q8_0_ref,
          "Q8_0 traits: activation from_float, weight quantize");
}

/* ---- quantization error -------------------------------------------------------- */

enum { NDIST = 12 };

/* Fills one block of 32 from distribution `dist`. */
static void fill_block(float *x, int dist)
{
    const int single = (int)(rng_u64() % 32);
    for (int j = 0; j < 32; j++) {
        switch (dist) {
        case 0: x[j] = rng_gauss(); break;
        case 1: x[j] = rng_uniform(-1.0f, 1.0f); break;
        case 2: x[j] = 0.0f; break;
        case 3: x[j] = 0.37f; break;
        case 4: x[j] = -1.3e-3f; break;
        case 5: x[j] = 1e3f * rng_gauss(); break;     /* huge */
        case 6: x[j] = 1e-4f * rng_gauss(); break;    /* scales are f16 subnormals */
        case 7: x[j] = j == single ? 40.0f : rng_gauss(); break; /* one outlier */
        case 8: x[j] = rng_uniform(1.0f, 2.0f); break; /* far from zero */
        case 9: x[j] = j == single ? -0.75f : 0.0f; break;
        case 10: x[j] = (float)(j - 15) * 0.25f; break; /* exact ties */
        default: x[j] = 0.02f * rng_gauss(); break;   /* like the synth weights */
        }
    }
}

static float block_amax(const float *x)
{
    float a = 0.0f;
    for (int j = 0; j < 32; j++)
        a = fmaxf(a, fabsf(x[j]));
    return a;
}

/* Largest error allowed for element j of a block x quantized to `blk`:
 * rounding to a level (half a step, or more for the levels the symmetric types
 * lack on one side), the f16 rounding of the stored scale and minimum, and a
 * little float slack. */
static double allowed_error(int type, const float *x, const void *blk, int j)
{
    const double amax = block_amax(x), xj = fabs((double)x[j]);
    double mn = x[0], mx = x[0];
    for (int k = 1; k < 32; k++) {
        mn = fmin(mn, x[k]);
        mx = fmax(mx, x[k]);
    }
    const double slack = 1e-6 * (amax + 1e-30);
    switch (type) {
    case KT_Q4_0: {
        const double d = amax / 8, dh = fabs((double)kt_half_to_f32(((const block_q4_0 *)blk)->d));
        return fmax(0.5 * d, xj - 7 * d) + 8 * fabs(d - dh) + slack;
    }
    case KT_Q5_0: {
        const double d = amax / 16, dh = fabs((double)kt_half_to_f32(((const block_q5_0 *)blk)->d));
        return fmax(0.5 * d, xj - 15 * d) + 16 * fabs(d - dh) + slack;
    }
    case KT_Q4_1: case KT_Q5_1: {
        const int levels = type == KT_Q4_1 ? 15 : 31;
        const kt_half *dm = blk; /* d and m lead both structs */
        const double d = (mx - mn) / levels;
        return 0.5 * d + levels * fabs(d - kt_half_to_f32(dm[0])) + fabs(mn - kt_half_to_f32(dm[1])) +
               1e-6 * (fabs(mx) + fabs(mn));
    }
    case KT_Q8_0: case KT_Q8_1: {
        const double d = amax / 127, dh = kt_half_to_f32(*(const kt_half *)blk);
        return 0.5 * d + 127 * fabs(d - dh) + slack;
    }
    case KT_F16:
        return xj * 0x1p-11 + 0x1p-25;
    case KT_BF16:
        return xj * 0x1p-8;
    default:
        return 0.0;
    }
}

#define NMAX 4096

static float xs[NMAX], ys[NMAX], xd[NMAX], yd[NMAX];
static _Alignas(64) uint8_t xq[NMAX * 4], yq[NMAX * 4];

static const int legacy_types[] = { KT_F32, KT_F16, KT_BF16, KT_Q4_0, KT_Q4_1, KT_Q5_0, KT_Q5_1, KT_Q8_0, KT_Q8_1 };
enum { NTYPES = sizeof(legacy_types) / sizeof(legacy_types[0]) };

/* quantize -> dequantize stays within the bound, with both quantizers. */
static void test_roundtrip_error(void)
{
    for (int ti = 0; ti < NTYPES; ti++) {
        const int type = legacy_types[ti];
        const kt_traits *t = kt_ref_traits(type);
        for (int which = 0; which < 2; which++) {
            const kt_from_float_fn quant = which ? t->quantize : t->from_float;
            int bad = 0;
            for (int rep = 0; rep < 8; rep++) {
                const int n = NMAX;
                for (int b = 0; b < n / 32; b++)
                    fill_block(xs + 32 * b, (b + rep) % NDIST);
                quant(xs, xq, n);
                t->to_float(xq, xd, n);
                const int bs = t->block_size;
                for (int i = 0; i < n; i++) {
                    const int blk = i / 32;
                    const void *qb = xq + (size_t)(i / bs) * t->type_size;
                    const double err = fabs((double)xd[i] - xs[i]);
                    const double lim = allowed_error(type, xs + 32 * blk, qb, i % 32);
                    if (!(err <= lim)) {
                        if (bad++ == 0)
                            fprintf(stderr, "%s: x[%d] = %g -> %g, error %g > %g\n", t->name, i,
                                    (double)xs[i], (double)xd[i], err, lim);
                    }
                }
            }
            CHECK(bad == 0, "%s %s: %d elements beyond the error bound", t->name,
                  which ? "quantize" : "from_float", bad);
        }
    }
}

/* All-zero and constant blocks come back exactly (up to the f16 of the constant). */
static void test_special_blocks(void)
{
    for (int ti = 0; ti < NTYPES; ti++) {
        const int type = legacy_types[ti];
        const kt_traits *t = kt_ref_traits(type);
        for (int j = 0; j < 64; j++)
            xs[j] = 0.0f;
        t->from_float(xs, xq, 64);
        t->to_float(xq, xd, 64);
        int bad = 0;
        for (int j = 0; j < 64; j++)
            bad += xd[j] != 0.0f;
        CHECK(bad == 0, "%s: zeros stay zeros", t->name);
        /* Exact except for Q8, whose step 0.5/127 is rounded to f16. */
        const bool q8 = type == KT_Q8_0 || type == KT_Q8_1;
        for (int j = 0; j < 64; j++)
            xs[j] = 0.5f;
        t->quantize(xs, xq, 64);
        t->to_float(xq, xd, 64);
        bad = 0;
        for (int j = 0; j < 64; j++)
            bad += !(fabsf(xd[j] - 0.5f) <= (q8 ? 0x1p-11f : 0.0f));
        CHECK(bad == 0, "%s: a constant block of 0.5 comes back", t->name);
    }
}

/* Inf, NaN, huge and denormal inputs: no crash, no undefined behaviour (the
 * sanitizer build checks that), and finite blocks beside them are unaffected. */
static void test_hostile_input(void)
{
    static const float nasty[] = { INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX, 1e-45f, -1e-40f, 1e30f };
    for (int ti = 0; ti < NTYPES; ti++) {
        const kt_traits *t = kt_ref_traits(legacy_types[ti]);
        for (int k = 0; k < (int)(sizeof(nasty) / sizeof(nasty[0])); k++) {
            for (int j = 0; j < 64; j++)
                xs[j] = j < 32 ? (j % 3 ? 1.0f : nasty[k]) : (j % 5 == 0 ? nasty[k] : 1e-45f * j);
            for (int j = 64; j < 96; j++)
                xs[j] = (float)(j - 80) / 16.0f;
            t->from_float(xs, xq, 96);
            t->to_float(xq, xd, 96);
            t->quantize(xs, yq, 96);
            t->to_float(yq, yd, 96);
            int bad = 0;
            for (int j = 64; j < 96; j++)
                bad += !(fabsf(xd[j] - xs[j]) <= 0.07f) || !(fabsf(yd[j] - xs[j]) <= 0.07f);
            CHECK(bad == 0, "%s: a finite block after hostile input (%g) is unaffected", t->name,
                  (double)nasty[k]);
            if (t->vec_dot) {
                float s;
                const kt_traits *v = kt_ref_traits(t->vec_dot_type);
                v->from_float(xs, yq, 96);
                t->vec_dot(96, &s, xq, yq);
                (void)s;
            }
        }
    }
}

/* ---- dot products ------------------------------------------------------------- */

static void test_vec_dot(void)
{
    static const int sizes[] = { 32, 64, 96, 256, 1024, 4096 };
    for (int ti = 0; ti < NTYPES; ti++) {
        const kt_traits *t = kt_ref_traits(legacy_types[ti]);
        const kt_traits *v = kt_ref_traits(t->vec_dot_type);
        if (!t->vec_dot && legacy_types[ti] != KT_Q8_1)
            continue;
        const kt_vec_dot_fn dot = t->vec_dot ? t->vec_dot : kt_vec_dot_q8_1_ref;
        int bad = 0, runs = 0;
        for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
            for (int rep = 0; rep < 6; rep++) {
                const int n = sizes[si];
                for (int b = 0; b < n / 32; b++) {
                    fill_block(xs + 32 * b, (b + rep) % NDIST);
                    fill_block(ys + 32 * b, (b + 3 * rep + 1) % NDIST);
                }
                t->quantize(xs, xq, n);
                v->from_float(ys, yq, n);
                t->to_float(xq, xd, n);
                v->to_float(yq, yd, n);
                double want = 0.0, mag = 0.0;
                for (int i = 0; i < n; i++) {
                    want += (double)xd[i] * yd[i];
                    mag += fabs((double)xd[i] * yd[i]);
                }
                /* Q8_1's s is d * sum(q) rounded to f16, not the sum of the
                 * dequantized values: allow that difference times the minimum. */
                double extra = 0.0;
                if (t->vec_dot_type == KT_Q8_1 && legacy_types[ti] != KT_Q8_1) {
                    for (int b = 0; b < n / 32; b++) {
                        const block_q8_1 *yb = (const block_q8_1 *)yq + b;
                        const kt_half m = ((const kt_half *)(xq + (size_t)b * t->type_size))[1];
                        int sum = 0;
                        for (int j = 0; j < 32; j++)
                            sum += yb->qs[j];
                        extra += fabs((double)kt_half_to_f32(m)) *
                                 fabs((double)kt_half_to_f32(yb->s) - (double)kt_half_to_f32(yb->d) * sum);
                    }
                }
                float got;
                dot(n, &got, xq, yq);
                const double tol = 2e-6 * mag + extra + 1e-30;
                runs++;
                if (!(fabs(got - want) <= tol)) {
                    if (bad++ == 0)
                        fprintf(stderr, "%s . %s, n=%d: %.9g, want %.9g (tol %g)\n", t->name, v->name, n,
                                (double)got, want, tol);
                }
            }
        }
        CHECK(bad == 0, "%s vec_dot: %d of %d dots off", t->name, bad, runs);
    }
}

/* Q8_1's s against its definition, on random data. */
static void test_q8_1_sum(void)
{
    int bad = 0;
    for (int b = 0; b < NMAX / 32; b++)
        fill_block(xs + 32 * b, b % NDIST);
    kt_from_float_q8_1_ref(xs, xq, NMAX);
    kt_from_float_q8_0_ref(xs, yq, NMAX);
    for (int b = 0; b < NMAX / 32; b++) {
        const block_q8_1 *q = (const block_q8_1 *)xq + b;
        const block_q8_0 *r = (const block_q8_0 *)yq + b;
        int sum = 0;
        for (int j = 0; j < 32; j++)
            sum += q->qs[j];
        const float d = block_amax(xs + 32 * b) / 127.0f;
        bad += q->s != kt_f32_to_half(d * (float)sum) || q->d != r->d || memcmp(q->qs, r->qs, 32) != 0;
    }
    CHECK(bad == 0, "Q8_1: %d blocks where s != f16(d * sum(q)) or quants differ from Q8_0", bad);
}

/* ---- against llama.cpp's files ------------------------------------------------ */

static gguf_file *open_model(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/models/%s", test_shared_dir(), name);
    gguf_file *f = gguf_open(path);
    CHECK(f != NULL, "cannot open %s", path);
    return f;
}

/* Dequantizes a tensor to a fresh float buffer (NULL on a size mismatch). */
static float *tensor_to_float(const gguf_tensor *t, int64_t *n_out)
{
    const kt_traits *tr = kt_ref_traits((int)t->type);
    int64_t n = 1;
    for (int i = 0; i < GGUF_MAX_DIMS; i++)
        n *= t->ne[i];
    if (!tr || kt_row_size((int)t->type, n) != t->nbytes)
        return NULL;
    float *out = malloc((size_t)n * sizeof(float));
    if (out)
        tr->to_float(t->data, out, n);
    *n_out = n;
    return out;
}

/* Every tensor of type `type` in `quant_name` must equal, byte for byte, its
 * f16 source from synth-kernels-f16.gguf requantized with our quantizer; and
 * its dequantized values must be close to the unrounded f32 weights. */
static void test_against_file(gguf_file *f16, gguf_file *f32, const char *quant_name, int type)
{
    gguf_file *q = open_model(quant_name);
    if (!q || !f16 || !f32) {
        gguf_close(q);
        return;
    }
    const kt_traits *t = kt_ref_traits(type);
    int tensors = 0, bad_bytes = 0, bad_close = 0, act_same = 0;
    for (int64_t i = 0; i < q->n_tensors; i++) {
        const gguf_tensor *qt = &q->tensors[i];
        if ((int)qt->type != type)
            continue;
        const gguf_tensor *src = gguf_find_tensor(f16, qt->name);
        const gguf_tensor *ref = gguf_find_tensor(f32, qt->name);
        int64_t n = 0, n32 = 0;
        float *x = src ? tensor_to_float(src, &n) : NULL;
        float *x32 = ref ? tensor_to_float(ref, &n32) : NULL;
        uint8_t *mine = malloc(qt->nbytes + 1);
        CHECK(x && x32 && mine && n == n32 && kt_row_size(type, n) == qt->nbytes,
              "%s: %s has no matching f16/f32 source", quant_name, qt->name);
        if (x && x32 && mine && n == n32 && kt_row_size(type, n) == qt->nbytes) {
            tensors++;
            t->quantize(x, mine, n);
            if (memcmp(mine, qt->data, qt->nbytes) != 0) {
                size_t at = 0;
                while (mine[at] == ((const uint8_t *)qt->data)[at])
                    at++;
                fprintf(stderr, "%s: %s differs from llama-quantize at byte %zu (block %zu)\n", quant_name,
                        qt->name, at, at / t->type_size);
                bad_bytes++;
            }
            if (t->from_float != t->quantize) {
                t->from_float(x, mine, n);
                act_same += memcmp(mine, qt->data, qt->nbytes) == 0;
            }
            /* The file's values vs the f32 weights: quantization error of the
             * f16 source plus the f16 rounding of the source itself. */
            float *deq = malloc((size_t)n * sizeof(float));
            if (deq) {
                t->to_float(qt->data, deq, n);
                for (int64_t k = 0; k < n; k++) {
                    const int64_t b0 = k / 32 * 32;
                    const double lim = allowed_error(type, x + b0, (const uint8_t *)qt->data +
                                                     (size_t)(k / 32) * t->type_size, (int)(k - b0)) +
                                       fabs((double)x[k] - x32[k]);
                    if (!(fabs((double)deq[k] - x32[k]) <= lim)) {
                        if (bad_close++ == 0)
                            fprintf(stderr, "%s: %s[%lld] = %g, f32 %g, limit %g\n", quant_name, qt->name,
                                    (long long)k, (double)deq[k], (double)x32[k], lim);
                    }
                }
                free(deq);
            }
        }
        free(x);
        free(x32);
        free(mine);
    }
    CHECK(tensors >= 9, "%s: only %d tensors of type %s compared", quant_name, tensors, t->name);
    CHECK(bad_bytes == 0, "%s: %d of %d tensors differ from llama-quantize's bytes", quant_name, bad_bytes, tensors);
    CHECK(bad_close == 0, "%s: %d values far from the f32 weights", quant_name, bad_close);
    if (t->from_float != t->quantize)
        printf("note: %s: the activation quantizer reproduces %d of %d tensors of llama-quantize\n",
               quant_name, act_same, tensors);
    gguf_close(q);
}

/* f32 weights rounded to f16 give the f16 file; f16 to bf16 gives the BF16 file. */
static void test_float_files(gguf_file *f16, gguf_file *f32)
{
    gguf_file *bf = open_model("synth-kernels-BF16.gguf");
    if (!bf || !f16 || !f32) {
        gguf_close(bf);
        return;
    }
    int compared_h = 0, bad_h = 0, compared_b = 0, bad_b = 0;
    for (int64_t i = 0; i < f16->n_tensors; i++) {
        const gguf_tensor *h = &f16->tensors[i];
        if (h->type != KT_F16)
            continue;
        const gguf_tensor *r = gguf_find_tensor(f32, h->name);
        const gguf_tensor *b = gguf_find_tensor(bf, h->name);
        int64_t n = 0, n32 = 0;
        float *x = tensor_to_float(h, &n);
        float *x32 = r ? tensor_to_float(r, &n32) : NULL;
        uint8_t *buf = malloc((size_t)n * 2 + 1);
        if (x && x32 && buf && n == n32) {
            kt_from_float_f16_ref(x32, buf, n);
            compared_h++;
            bad_h += memcmp(buf, h->data, (size_t)n * 2) != 0;
            if (b && b->type == KT_BF16 && b->nbytes == (uint64_t)n * 2) {
                kt_from_float_bf16_ref(x, buf, n);
                compared_b++;
                bad_b += memcmp(buf, b->data, (size_t)n * 2) != 0;
            }
            float s16, s32;
            kt_vec_dot_f16_ref(n, &s16, h->data, h->data);
            kt_vec_dot_f32_ref(n, &s32, x, x);
            CHECK(s16 == s32, "%s: f16 and f32 self-dot of the same values differ", h->name);
        }
        free(x);
        free(x32);
        free(buf);
    }
    CHECK(compared_h >= 9 && bad_h == 0, "f32 -> f16: %d of %d tensors differ from synth-kernels-f16",
          bad_h, compared_h);
    CHECK(compared_b >= 9 && bad_b == 0, "f16 -> bf16: %d of %d tensors differ from synth-kernels-BF16",
          bad_b, compared_b);
    gguf_close(bf);
}

static void test_files(void)
{
    gguf_file *f16 = open_model("synth-kernels-f16.gguf");
    gguf_file *f32 = open_model("synth-kernels-f32.gguf");
    test_against_file(f16, f32, "synth-kernels-Q8_0.gguf", KT_Q8_0);
    test_against_file(f16, f32, "synth-kernels-Q4_0.gguf", KT_Q4_0);
    test_against_file(f16, f32, "synth-kernels-Q4_1.gguf", KT_Q4_1);
    test_against_file(f16, f32, "synth-kernels-Q5_0.gguf", KT_Q5_0);
    test_against_file(f16, f32, "synth-kernels-Q5_1.gguf", KT_Q5_1);
    test_float_files(f16, f32);
    gguf_close(f16);
    gguf_close(f32);
}

int main(void)
{
    test_fp16_roundtrip();
    test_fp16_rounding();
    test_layouts();
    test_q8_rounding();
    test_roundtrip_error();
    test_special_blocks();
    test_hostile_input();
    test_vec_dot();
    test_q8_1_sum();
    test_files();
    return test_report();
}
