/* The gate for every SIMD kernel: each ISA level this CPU runs (kt_isa_table)
 * is compared with the reference kernels (kt_ref_traits), type by type, for
 * every type in the table.
 *
 *  - vec_dot on random rows (weights from the reference quantizer and, for
 *    block types, raw random bytes with sane scales; activations from the
 *    reference from_float of the vec_dot_type), for block counts that hit every
 *    unroll tail: |simd - ref| <= 1e-5 * E + 1e-30, where E bounds the sum of
 *    the magnitudes of all terms (4 * sum over blocks of max|x| * sum|y|, from
 *    the dequantized rows). One CHECK per (type, level, block count).
 *  - from_float, quantize and to_float, where the level overrides them, must
 *    write exactly the reference's bytes: random data at many scales, zeros,
 *    ties, huge/tiny/subnormal magnitudes, and Inf/NaN; to_float also on raw
 *    random bytes. Guard bytes after every output catch overruns. One CHECK
 *    per (type, level, function, input kind).
 *
 * Every buffer starts a few bytes past a 64-byte boundary (by the element
 * alignment, 2 or 4: rows in a GGUF file are only 2-byte aligned) so aligned
 * loads would fault. KESTREL_KERNEL_BENCH=1 also prints ns/row and GB/s of
 * every vec_dot and activation quantizer on rows of 4096 (timings are never
 * checked). */
#include "test.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "quant/blocks.h"
#include "quant/fp16.h"
#include "quant/quant.h"

/* ---- deterministic random numbers ------------------------------------------ */

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int rng_int(int n) { return (int)(rng_u64() % (uint64_t)n); }

static float rng_uniform(float lo, float hi)
{
    return lo + (hi - lo) * (float)((double)(rng_u64() >> 40) / 16777216.0);
}

static float rng_gauss(void)
{
    const double u1 = ((double)(rng_u64() >> 11) + 1.0) / 9007199254740993.0;
    const double u2 = (double)(rng_u64() >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ---- buffers ------------------------------------------------------------------ */

#define MAX_ELEMS 8192
#define GUARD 64
#define SLACK 128

/* A buffer of cap bytes starting off bytes past a 64-byte boundary, GUARD
 * bytes of pattern after [0, used). */
typedef struct {
    unsigned char *raw;
    unsigned char *p;
    size_t cap;
} buf;

static buf buf_new(size_t cap)
{
    buf b = { malloc(cap + SLACK + GUARD), NULL, cap };
    if (!b.raw) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    b.p = b.raw;
    return b;
}

/* Place the buffer off bytes past a 64-byte boundary; off is a multiple of
 * the element alignment. */
static void *buf_at(buf *b, size_t off)
{
    uintptr_t a = ((uintptr_t)b->raw + 63) & ~(uintptr_t)63;
    b->p = (unsigned char *)a + off;
    return b->p;
}

static void buf_guard(buf *b, size_t used)
{
    memset(b->p + used, 0xA5, GUARD);
}

static bool buf_guard_ok(const buf *b, size_t used)
{
    for (size_t i = 0; i < GUARD; i++)
        if (b->p[used + i] != 0xA5)
            return false;
    return true;
}

/* Alignment of the first field of a block: 4 for float and Q8_K (float d), else 2. */
static size_t type_align(int type)
{
    return type == KT_F32 || type == KT_Q8_K ? 4 : 2;
}

static size_t random_offset(int type)
{
    const size_t a = type_align(type);
    return a * (size_t)(1 + rng_int((int)(60 / a)));
}

/* ---- inputs -------------------------------------------------------------------- */

enum { GEN_GAUSS, GEN_UNIFORM_OUTLIERS, GEN_BLOCK_SCALES, GEN_COUNT };

/* Random floats of kind g; blocks of bs see scales from 1e-4 to 1e2 in GEN_BLOCK_SCALES (f16 scales and Q8_1 sums stay finite). */
static void gen_floats(float *x, int64_t n, int g, int bs)
{
    float scale = 1.0f;
    for (int64_t i = 0; i < n; i++) {
        if (g == GEN_BLOCK_SCALES && i % bs == 0)
            scale = powf(10.0f, rng_uniform(-4.0f, 2.0f));
        switch (g) {
        case GEN_GAUSS: x[i] = rng_gauss(); break;
        case GEN_UNIFORM_OUTLIERS:
            x[i] = rng_uniform(-1.0f, 1.0f) * (rng_int(100) == 0 ? 50.0f : 1.0f);
            break;
        default: x[i] = rng_gauss() * scale; break;
        }
    }
}

/* The f16 fields of each block type, so raw random blocks can have sane scales. */
typedef struct {
    int type;
    int n;
    size_t off[2];
} half_fields;

static const half_fields HALF_FIELDS[] = {
    { KT_Q4_0, 1, { offsetof(block_q4_0, d) } },
    { KT_Q4_1, 2, { offsetof(block_q4_1, d), offsetof(block_q4_1, m) } },
    { KT_Q5_0, 1, { offsetof(block_q5_0, d) } },
    { KT_Q5_1, 2, { offsetof(block_q5_1, d), offsetof(block_q5_1, m) } },
    { KT_Q8_0, 1, { offsetof(block_q8_0, d) } },
    { KT_Q2_K, 2, { offsetof(block_q2_K, d), offsetof(block_q2_K, dmin) } },
    { KT_Q3_K, 1, { offsetof(block_q3_K, d) } },
    { KT_Q4_K, 2, { offsetof(block_q4_K, d), offsetof(block_q4_K, dmin) } },
    { KT_Q5_K, 2, { offsetof(block_q5_K, d), offsetof(block_q5_K, dmin) } },
    { KT_Q6_K, 1, { offsetof(block_q6_K, d) } },
};

static const half_fields *find_half_fields(int type)
{
    for (size_t i = 0; i < sizeof HALF_FIELDS / sizeof HALF_FIELDS[0]; i++)
        if (HALF_FIELDS[i].type == type)
            return &HALF_FIELDS[i];
    return NULL;
}

/* Raw random bytes for nb blocks of a block type, its scales replaced by
 * random finite halves; false if the type's scales are unknown here. */
static bool gen_raw_blocks(int type, void *dst, int64_t nb)
{
    const kt_traits *t = kt_ref_traits(type);
    const half_fields *hf = find_half_fields(type);
    if (!hf)
        return false;
    unsigned char *p = dst;
    for (size_t i = 0; i < (size_t)nb * t->type_size; i++)
        p[i] = (unsigned char)rng_u64();
    for (int64_t b = 0; b < nb; b++) {
        for (int k = 0; k < hf->n; k++) {
            const kt_half h = kt_f32_to_half(rng_gauss() * 0.05f);
            memcpy(p + (size_t)b * t->type_size + hf->off[k], &h, 2);
        }
    }
    return true;
}

/* Awkward values for the converters. */
enum { AWK_ZEROS, AWK_TIES, AWK_SPECIAL, AWK_HUGE, AWK_TINY, AWK_SUBNORMAL, AWK_NONFINITE, AWK_RANDOM, AWK_COUNT };
static const char *const AWK_NAMES[AWK_COUNT] = { "zeros", "ties", "special", "huge", "tiny", "subnormal", "nonfinite", "random" };

static const float SPECIAL_VALUES[] = {
    0.0f, -0.0f, 0.5f, 1.5f, 2.5f, -2.5f, 3.5f, -0.5f, 126.5f, -126.5f, 127.0f, -127.0f,
    1.0f + 0x1p-11f, 1.0f + 3 * 0x1p-11f, -(1.0f + 0x1p-11f),        /* f16 ties */
    1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -(1.0f + 0x1p-8f),           /* bf16 ties */
    65504.0f, 65519.0f, 65520.0f, -65520.0f, 65536.0f,               /* f16 overflow edge */
    0x1p-14f, 0x1p-24f, 0x1p-25f, 0x1.8p-25f, 0x1p-26f, 0x1.8p-24f,  /* f16 subnormal edges */
    FLT_MIN, FLT_MAX, -FLT_MAX, 1e-38f, 3.4e38f, 1e-10f, 1e10f,
};

static void gen_awkward(float *x, int64_t n, int kind, int bs)
{
    const int nspecial = (int)(sizeof SPECIAL_VALUES / sizeof SPECIAL_VALUES[0]);
    for (int64_t i = 0; i < n; i++) {
        float v;
        switch (kind) {
        case AWK_ZEROS: v = (rng_int(2) ? -0.0f : 0.0f); break;
        case AWK_TIES: {
            /* Blocks with amax 127 (so x * 127 / amax = x exactly) and half-integer
             * values: every level is a rounding tie. Also ties at other scales. */
            const int64_t j = i % bs;
            if (j == 0)
                v = rng_int(2) ? 127.0f : -127.0f;
            else if (j % 3 == 0)
                v = (float)(rng_int(254) - 127) + 0.5f;
            else
                v = ((float)(rng_int(254) - 127) + 0.5f) * (rng_int(2) ? 0.25f : 1.0f);
            break;
        }
        case AWK_SPECIAL: v = SPECIAL_VALUES[rng_int(nspecial)]; break;
        case AWK_HUGE: v = rng_gauss() * 1e37f; break;
        case AWK_TINY: v = rng_gauss() * 1e-36f; break;
        case AWK_SUBNORMAL: v = rng_gauss() * 1e-41f; break;
        case AWK_NONFINITE: {
            const int r = rng_int(10);
            if (r == 0)
                v = INFINITY;
            else if (r == 1)
                v = -INFINITY;
            else if (r == 2) {
                /* NaNs: quiet, signalling, with payloads, both signs */
                uint32_t bits = 0x7f800000u | (uint32_t)(1 + rng_int(0x7fffff));
                if (rng_int(2))
                    bits |= 0x80000000u;
                memcpy(&v, &bits, 4);
            } else
                v = rng_gauss();
            break;
        }
        default: v = rng_gauss() * powf(10.0f, rng_uniform(-3.0f, 3.0f)); break;
        }
        x[i] = v;
    }
}

/* ---- levels ------------------------------------------------------------------ */

static kt_traits tables[KT_ISA_COUNT][KT_TYPE_COUNT];
static bool level_ok[KT_ISA_COUNT];

/* Block counts that hit every unroll tail of 1..4 blocks (or 8..64 elements). */
static const int64_t COUNTS[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 23, 31, 32, 33,
                                  47, 48, 49, 63, 64, 65, 95, 127, 128, 129, 255, 256, 257, 1000, 1023,
                                  4095, 4096, 4097, 8191, 8192 };
#define NCOUNTS (sizeof COUNTS / sizeof COUNTS[0])

/* ---- vec_dot ----------------------------------------------------------------- */

static buf bx, by, bf, bfx, bfy;

/* Largest |simd - ref| / tol seen per level and type (printed: the margin). */
static double worst_ratio[KT_ISA_COUNT][KT_TYPE_COUNT];

/* 4 * sum over weight blocks of max|x| * sum|y|, from the dequantized rows. */
static double term_bound(const float *x, const float *y, int64_t n, int bs)
{
    double e = 0.0;
    for (int64_t b = 0; b < n; b += bs) {
        double amax = 0.0, ysum = 0.0;
        for (int j = 0; j < bs; j++) {
            if (fabs(x[b + j]) > amax)
                amax = fabs(x[b + j]);
            ysum += fabs(y[b + j]);
        }
        e += amax * ysum;
    }
    return 4.0 * e;
}

static void test_vec_dot(int type, int isa)
{
    const kt_traits *rt = kt_ref_traits(type);
    const kt_traits *st = &tables[isa][type];
    if (!rt->vec_dot || !st->vec_dot)
        return;
    const kt_traits *ry = kt_ref_traits(rt->vec_dot_type);
    const int bs = rt->block_size;
    const bool is_block = bs > 1;
    for (size_t c = 0; c < NCOUNTS; c++) {
        const int64_t nb = COUNTS[c];
        const int64_t n = nb * bs;
        if (n > MAX_ELEMS)
            continue;
        bool ok = true;
        char why[256] = "";
        const int trials = is_block ? GEN_COUNT + 2 : GEN_COUNT + 1;
        for (int trial = 0; trial < trials && ok; trial++) {
            void *x = buf_at(&bx, random_offset(type));
            void *y = buf_at(&by, random_offset(rt->vec_dot_type));
            float *f = buf_at(&bf, 0);
            const char *what;
            if (trial < GEN_COUNT) {
                gen_floats(f, n, trial, bs);
                rt->quantize(f, x, n);
                what = trial == 0 ? "gauss" : trial == 1 ? "outliers" : "block scales";
            } else if (trial == GEN_COUNT && is_block) {
                if (!gen_raw_blocks(type, x, nb)) {
                    gen_floats(f, n, GEN_GAUSS, bs);
                    rt->quantize(f, x, n);
                }
                what = "raw bytes";
            } else {
                /* zero weights: the result must be (nearly) 0 */
                for (int64_t i = 0; i < n; i++)
                    f[i] = 0.0f;
                rt->quantize(f, x, n);
                what = "zeros";
            }
            gen_floats(f, n, rng_int(GEN_COUNT), bs);
            ry->from_float(f, y, n);

            float r = NAN, s = NAN;
            rt->vec_dot(n, &r, x, y);
            st->vec_dot(n, &s, x, y);
            float *fx = buf_at(&bfx, 0), *fy = buf_at(&bfy, 0);
            rt->to_float(x, fx, n);
            ry->to_float(y, fy, n);
            const double tol = 1e-5 * term_bound(fx, fy, n, bs) + 1e-30;
            const double err = fabs((double)s - (double)r);
            if (err / tol > worst_ratio[isa][type])
                worst_ratio[isa][type] = err / tol;
            if (!(err <= tol)) {
                ok = false;
                snprintf(why, sizeof why, "%s: simd %.9g ref %.9g |diff| %.3g > tol %.3g", what, s, r, err, tol);
            }
        }
        CHECK(ok, "%s %s vec_dot n=%lld (%lld blocks): %s", kt_isa_name(isa), rt->name, (long long)n,
              (long long)nb, why);
    }
}

/* ---- from_float / quantize / to_float ---------------------------------------- */

/* Sizes for the converters: the tail counts up to 4096 elements. */
static bool conv_size(int64_t nb, int bs)
{
    return nb * bs <= 4096;
}

/* from_float or quantize (which = 0 or 1) of type against the reference. */
static void test_from(int type, int isa, int which)
{
    const kt_traits *rt = kt_ref_traits(type);
    const kt_traits *st = &tables[isa][type];
    const kt_from_float_fn rf = which ? rt->quantize : rt->from_float;
    const kt_from_float_fn sf = which ? st->quantize : st->from_float;
    const char *fname = which ? "quantize" : "from_float";
    if (!sf || sf == rf)
        return;
    const int bs = rt->block_size;
    for (int kind = 0; kind < AWK_COUNT; kind++) {
        bool ok = true;
        char why[256] = "";
        for (size_t c = 0; c < NCOUNTS && ok; c++) {
            const int64_t nb = COUNTS[c];
            if (!conv_size(nb, bs))
                continue;
            const int64_t n = nb * bs;
            const size_t bytes = kt_row_size(type, n);
            float *f = buf_at(&bf, 4 * (size_t)rng_int(8));
            gen_awkward(f, n, kind, bs);
            unsigned char *a = buf_at(&bx, 0);
            unsigned char *b = buf_at(&by, random_offset(type));
            memset(a, 0x5A, bytes);
            memset(b, 0x5A, bytes);
            buf_guard(&by, bytes);
            rf(f, a, n);
            sf(f, b, n);
            if (!buf_guard_ok(&by, bytes)) {
                ok = false;
                snprintf(why, sizeof why, "n=%lld: wrote past the end of the row", (long long)n);
            } else if (memcmp(a, b, bytes) != 0) {
                size_t i = 0;
                while (a[i] == b[i])
                    i++;
                ok = false;
                snprintf(why, sizeof why, "n=%lld: byte %zu (block %zu + %zu): ref %02x simd %02x", (long long)n, i,
                         i / rt->type_size, i % rt->type_size, a[i], b[i]);
            }
        }
        CHECK(ok, "%s %s %s on %s: %s", kt_isa_name(isa), rt->name, fname, AWK_NAMES[kind], why);
    }
}

static void test_to_float(int type, int isa)
{
    const kt_traits *rt = kt_ref_traits(type);
    const kt_traits *st = &tables[isa][type];
    if (!st->to_float || st->to_float == rt->to_float)
        return;
    const int bs = rt->block_size;
    /* 0: reference-quantized random data; 1: raw random bytes (finite scales for
     * block types; any bits, NaN and Inf included, for F16/BF16/F32) */
    for (int kind = 0; kind < 2; kind++) {
        bool ok = true;
        char why[256] = "";
        for (size_t c = 0; c < NCOUNTS && ok; c++) {
            const int64_t nb = COUNTS[c];
            if (!conv_size(nb, bs))
                continue;
            const int64_t n = nb * bs;
            const size_t bytes = kt_row_size(type, n);
            unsigned char *q = buf_at(&bx, random_offset(type));
            float *f = buf_at(&bf, 0);
            if (kind == 0 || (bs > 1 && !find_half_fields(type))) {
                gen_floats(f, n, rng_int(GEN_COUNT), bs);
                rt->quantize(f, q, n);
            } else if (bs > 1) {
                gen_raw_blocks(type, q, nb);
            } else {
                for (size_t i = 0; i < bytes; i++)
                    q[i] = (unsigned char)rng_u64();
            }
            float *a = buf_at(&bfx, 0);
            float *b = buf_at(&bfy, 4 * (size_t)(1 + rng_int(15)));
            buf_guard(&bfy, (size_t)n * sizeof(float));
            rt->to_float(q, a, n);
            st->to_float(q, b, n);
            if (!buf_guard_ok(&bfy, (size_t)n * sizeof(float))) {
                ok = false;
                snprintf(why, sizeof why, "n=%lld: wrote past the end", (long long)n);
            } else if (memcmp(a, b, (size_t)n * sizeof(float)) != 0) {
                int64_t i = 0;
                while (memcmp(&a[i], &b[i], sizeof(float)) == 0)
                    i++;
                ok = false;
                snprintf(why, sizeof why, "n=%lld: element %lld: ref %.9g (%08x) simd %.9g (%08x)", (long long)n,
                         (long long)i, a[i], kt_f32_bits(a[i]), b[i], kt_f32_bits(b[i]));
            }
        }
        CHECK(ok, "%s %s to_float on %s: %s", kt_isa_name(isa), rt->name, kind ? "raw bytes" : "quantized rows", why);
    }
}

/* ---- bench (KESTREL_KERNEL_BENCH=1) ------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static volatile float bench_sink;

/* Seconds per call of fn over rows [0, nrows) of w (stride rb), calls calls at
 * a time: the best of several rounds, as the machine is shared. */
static double time_dot(kt_vec_dot_fn fn, int64_t n, const unsigned char *w, size_t rb, int nrows, const void *act,
                       int calls)
{
    double best = 1e30;
    for (int round = 0; round < 9; round++) {
        float s = 0.0f, acc = 0.0f;
        const double t0 = now_s();
        for (int k = 0; k < calls; k++) {
            fn(n, &s, w + (size_t)(k % nrows) * rb, act);
            acc += s;
        }
        const double t = (now_s() - t0) / calls;
        bench_sink += acc;
        if (t < best)
            best = t;
    }
    return best;
}

static void bench(void)
{
    const int64_t n = 4096;
    const int rows = 4096; /* streamed: 4096 different rows of 4096 (4.7 MB for Q4_0 .. 64 MB for F32) */
    printf("\nbench: n = %lld, best of 9 rounds; hot = one row again and again (L1/L2), stream = %d different rows\n",
           (long long)n, rows);
    printf("%-6s %-11s %12s %9s %12s %9s %8s\n", "type", "level", "hot ns/row", "hot GB/s", "strm ns/row", "strm GB/s",
           "x scalar");
    float *f = malloc((size_t)n * sizeof(float));
    unsigned char *act = malloc(kt_row_size(KT_F32, n) + 64);
    for (int type = 0; type < KT_TYPE_COUNT; type++) {
        const kt_traits *rt = kt_ref_traits(type);
        if (!rt || !rt->vec_dot)
            continue;
        const size_t rb = kt_row_size(type, n);
        unsigned char *w = malloc(rb * (size_t)rows + 64);
        for (int r = 0; r < rows; r++) {
            if (r < 8) {
                gen_floats(f, n, GEN_GAUSS, rt->block_size);
                rt->quantize(f, w + (size_t)r * rb, n);
            } else {
                memcpy(w + (size_t)r * rb, w + (size_t)(r % 8) * rb, rb);
            }
        }
        gen_floats(f, n, GEN_GAUSS, rt->block_size);
        kt_ref_traits(rt->vec_dot_type)->from_float(f, act, n);
        double hot_scalar = 0.0;
        for (int isa = 0; isa < KT_ISA_COUNT; isa++) {
            if (!level_ok[isa])
                continue;
            const kt_vec_dot_fn fn = tables[isa][type].vec_dot;
            const double hot = time_dot(fn, n, w, rb, 1, act, isa == KT_ISA_SCALAR ? 50 : 500);
            const double strm = time_dot(fn, n, w, rb, rows, act, isa == KT_ISA_SCALAR ? rows / 8 : rows);
            if (isa == KT_ISA_SCALAR)
                hot_scalar = hot;
            printf("%-6s %-11s %12.1f %9.2f %12.1f %9.2f %8.1f\n", rt->name, kt_isa_name(isa), hot * 1e9,
                   rb / hot * 1e-9, strm * 1e9, rb / strm * 1e-9, hot_scalar / hot);
        }
        free(w);
    }
    printf("\n%-6s %-11s %12s %8s\n", "type", "level", "from_float ns", "x scalar");
    for (int type = 0; type < KT_TYPE_COUNT; type++) {
        const kt_traits *rt = kt_ref_traits(type);
        if (!rt || n % rt->block_size || type == KT_F32)
            continue;
        bool any = false;
        for (int isa = 1; isa < KT_ISA_COUNT; isa++)
            any |= level_ok[isa] && tables[isa][type].from_float != rt->from_float;
        if (!any)
            continue;
        gen_floats(f, n, GEN_GAUSS, rt->block_size);
        double base = 0.0;
        for (int isa = 0; isa < KT_ISA_COUNT; isa++) {
            if (!level_ok[isa])
                continue;
            double best = 1e30;
            for (int round = 0; round < 9; round++) {
                const int reps = 200;
                const double t0 = now_s();
                for (int k = 0; k < reps; k++) {
                    tables[isa][type].from_float(f, act, n);
                    bench_sink += (float)act[k % 64];
                }
                const double t = (now_s() - t0) / reps;
                if (t < best)
                    best = t;
            }
            if (isa == KT_ISA_SCALAR)
                base = best;
            printf("%-6s %-11s %12.1f %8.1f\n", rt->name, kt_isa_name(isa), best * 1e9, base / best);
        }
    }
    free(act);
    free(f);
}

/* ---- main -------------------------------------------------------------------- */

static const char *const FIELD_NAMES[4] = { "vec_dot", "from_float", "quantize", "to_float" };

int main(void)
{
    const size_t cap = (size_t)MAX_ELEMS * sizeof(float) + 4096;
    bx = buf_new(cap);
    by = buf_new(cap);
    bf = buf_new(cap);
    bfx = buf_new(cap);
    bfy = buf_new(cap);

    for (int isa = 0; isa < KT_ISA_COUNT; isa++)
        level_ok[isa] = kt_isa_table(isa, tables[isa]);

    printf("levels:");
    for (int isa = 0; isa < KT_ISA_COUNT; isa++)
        printf(" %s (%s)", kt_isa_name(isa),
               isa == KT_ISA_SCALAR ? "reference" : level_ok[isa] ? "tested" : "skipped: not on this CPU");
    printf("\n");

    for (int isa = KT_ISA_SCALAR + 1; isa < KT_ISA_COUNT; isa++) {
        if (!level_ok[isa])
            continue;
        /* which kernels this level replaces */
        printf("%s overrides:", kt_isa_name(isa));
        int count = 0;
        for (int type = 0; type < KT_TYPE_COUNT; type++) {
            const kt_traits *rt = kt_ref_traits(type);
            if (!rt)
                continue;
            const kt_traits *st = &tables[isa][type];
            const void *r4[4] = { (const void *)rt->vec_dot, (const void *)rt->from_float, (const void *)rt->quantize,
                                  (const void *)rt->to_float };
            const void *s4[4] = { (const void *)st->vec_dot, (const void *)st->from_float, (const void *)st->quantize,
                                  (const void *)st->to_float };
            for (int k = 0; k < 4; k++) {
                if (s4[k] != r4[k]) {
                    printf(" %s.%s", rt->name, FIELD_NAMES[k]);
                    count++;
                }
            }
        }
        printf(count ? "\n" : " none\n");

        for (int type = 0; type < KT_TYPE_COUNT; type++) {
            const kt_traits *rt = kt_ref_traits(type);
            if (!rt)
                continue;
            const kt_traits *st = &tables[isa][type];
            CHECK(st->name == rt->name && st->block_size == rt->block_size && st->type_size == rt->type_size &&
                      st->vec_dot_type == rt->vec_dot_type && (rt->vec_dot == NULL) == (st->vec_dot == NULL),
                  "%s %s: geometry or vec_dot presence differs from the reference", kt_isa_name(isa), rt->name);
            test_vec_dot(type, isa);
            test_from(type, isa, 0);
            test_from(type, isa, 1);
            test_to_float(type, isa);
        }
        printf("%s vec_dot worst |diff|/tol:", kt_isa_name(isa));
        for (int type = 0; type < KT_TYPE_COUNT; type++)
            if (kt_ref_traits(type) && kt_ref_traits(type)->vec_dot)
                printf(" %s %.2g", kt_type_name(type), worst_ratio[isa][type]);
        printf("\n");
    }

    const char *b = getenv("KESTREL_KERNEL_BENCH");
    if (b && *b && strcmp(b, "0") != 0)
        bench();

    free(bx.raw);
    free(by.raw);
    free(bf.raw);
    free(bfx.raw);
    free(bfy.raw);
    return test_report();
}
