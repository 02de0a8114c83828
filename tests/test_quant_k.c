/* The reference K-quant kernels (Q2_K..Q6_K, Q8_K): round-trip error, dot
 * products against float, robustness on hostile input, and byte equality with
 * llama-quantize's output on the shared synth-kernels models. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "quant/ref.h"
#include "test.h"

static const int k_types[] = { KT_Q2_K, KT_Q3_K, KT_Q4_K, KT_Q5_K, KT_Q6_K };
#define N_K_TYPES (int)(sizeof k_types / sizeof k_types[0])

/* ---- deterministic random numbers ------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_uniform(void) { return (double)(rng_next() >> 11) * (1.0 / 9007199254740992.0); }

static float rng_gauss(void)
{
    double u = rng_uniform(), v = rng_uniform();
    return (float)(sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v));
}

enum dist { D_GAUSS, D_UNIFORM, D_OUTLIERS, D_POSITIVE, D_ZEROS, D_CONST, D_NEG_CONST, D_SPARSE,
            D_TINY, D_COUNT };
static const char *dist_name[D_COUNT] = { "gauss", "uniform", "outliers", "positive", "zeros",
                                          "const", "neg-const", "sparse", "tiny" };

static void fill(float *x, int64_t n, enum dist d)
{
    for (int64_t i = 0; i < n; i++) {
        switch (d) {
        case D_GAUSS:     x[i] = 0.02f * rng_gauss(); break;
        case D_UNIFORM:   x[i] = (float)(rng_uniform() * 2 - 1); break;
        case D_OUTLIERS:  x[i] = rng_gauss() * (rng_next() % 64 == 0 ? 30.f : 1.f); break;
        case D_POSITIVE:  x[i] = (float)(1 + rng_uniform()); break;
        case D_ZEROS:     x[i] = 0; break;
        case D_CONST:     x[i] = 0.75f; break;
        case D_NEG_CONST: x[i] = -3.25f; break;
        case D_SPARSE:    x[i] = rng_next() % 8 == 0 ? rng_gauss() : 0.f; break;
        case D_TINY:      x[i] = 1e-20f * rng_gauss(); break; /* below ggml's all-zero threshold */
        default:          x[i] = 0; break;
        }
    }
}

static double rms(const float *x, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return sqrt(s / (double)n);
}

static double rms_diff(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s / (double)n);
}

static int all_finite(const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* Largest relative round-trip error (RMS error / RMS of x) we accept per type.
 * Measured on Gaussian data (and on the synth-kernels weights) the errors are
 * about 3/4 of these: 0.29, 0.15, 0.072, 0.036, 0.018. */
static double max_rel_rms(int type)
{
    switch (type) {
    case KT_Q2_K: return 0.40;
    case KT_Q3_K: return 0.20;
    case KT_Q4_K: return 0.10;
    case KT_Q5_K: return 0.05;
    case KT_Q6_K: return 0.025;
    default:      return 0;
    }
}

/* ---- round trip and dot product on synthetic data ------------------------ */

static void test_round_trip(void)
{
    static const int64_t sizes[] = { 256, 512, 4096 };
    for (int t = 0; t < N_K_TYPES; t++) {
        const kt_traits *tr = kt_ref_traits(k_types[t]);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            const int64_t n = sizes[si];
            float *x = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
            void *q = malloc(kt_row_size(k_types[t], n));
            for (int d = 0; d < D_COUNT; d++) {
                fill(x, n, (enum dist)d);
                memset(y, 0xff, sizeof(float) * n); /* NaN: every element must be written */
                tr->from_float(x, q, n);
                tr->to_float(q, y, n);
                double err = rms_diff(x, y, n), ref = rms(x, n);
                CHECK(all_finite(y, n), "%s n=%lld %s: non-finite output", tr->name, (long long)n,
                      dist_name[d]);
                if (d == D_ZEROS || d == D_TINY) {
                    /* ggml treats both as all zero (tiny: its scale search sees amax < 1e-15) */
                    CHECK(err <= ref, "%s n=%lld %s: rms error %g", tr->name, (long long)n,
                          dist_name[d], err);
                    int zero = 1;
                    for (int64_t i = 0; i < n && d == D_ZEROS; i++)
                        zero &= y[i] == 0;
                    CHECK(zero, "%s n=%lld zeros: output not all zero", tr->name, (long long)n);
                } else if (d == D_CONST || d == D_NEG_CONST) {
                    /* one value per block: only the fp16 scales round it */
                    CHECK(err <= 0.02 * ref, "%s n=%lld %s: rms error %g of %g", tr->name,
                          (long long)n, dist_name[d], err, ref);
                } else {
                    double bound = max_rel_rms(k_types[t]) * (d == D_OUTLIERS || d == D_SPARSE ? 1.5 : 1);
                    CHECK(err <= bound * ref, "%s n=%lld %s: relative rms error %.4f > %.4f", tr->name,
                          (long long)n, dist_name[d], err / ref, bound);
                }
            }
            free(x);
            free(y);
            free(q);
        }
    }
}

/* llama.cpp's test-quantize-fns: data 0.1 + 2 cos(i + offset), its error
 * measure sqrt(sum d^2) / n and its thresholds. */
static void test_llama_thresholds(void)
{
    enum { N = 32 * 128 };
    static float x[N], x2[N], y[N];
    static block_q8_K q8[N / QK_K];
    static uint8_t q[N * 2];
    for (int i = 0; i < N; i++) {
        x[i] = (float)(0.1 + 2 * cosf((float)i));
        x2[i] = (float)(0.1 + 2 * cosf((float)i + 1.0f));
    }
    for (int t = 0; t < N_K_TYPES; t++) {
        const kt_traits *tr = kt_ref_traits(k_types[t]);
        int low_bit = k_types[t] == KT_Q2_K || k_types[t] == KT_Q3_K;
        double max_err = k_types[t] == KT_Q2_K ? 0.0075 : k_types[t] == KT_Q3_K ? 0.0040 : 0.002;
        tr->from_float(x, q, N);
        tr->to_float(q, y, N);
        double s = 0;
        for (int i = 0; i < N; i++)
            s += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
        double err = sqrt(s) / N;
        CHECK(err < max_err, "%s: llama.cpp total quantization error %g >= %g", tr->name, err, max_err);

        kt_from_float_q8_k_ref(x2, q8, N);
        float dot = INFINITY;
        tr->vec_dot(N, &dot, q, q8);
        double ref = 0;
        for (int i = 0; i < N; i++)
            ref += x[i] * x2[i];
        double dot_err = fabs(dot - ref) / N;
        CHECK(dot_err < (low_bit ? 0.04 : 0.02), "%s: llama.cpp dot product error %g", tr->name, dot_err);
    }
}

/* vec_dot(x, q8k(y)) must equal the float dot of the two dequantized rows up
 * to float rounding: the integer part is exact, only scales are floats. */
static void test_vec_dot(void)
{
    static const int64_t sizes[] = { 256, 512, 4096, 8192 };
    for (int t = 0; t < N_K_TYPES; t++) {
        const kt_traits *tr = kt_ref_traits(k_types[t]);
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            const int64_t n = sizes[si];
            float *x = malloc(sizeof(float) * n), *a = malloc(sizeof(float) * n);
            float *xd = malloc(sizeof(float) * n), *ad = malloc(sizeof(float) * n);
            void *qx = malloc(kt_row_size(k_types[t], n));
            block_q8_K *qa = malloc(sizeof(block_q8_K) * (size_t)(n / QK_K));
            for (int d = 0; d < D_COUNT; d++) {
                fill(x, n, (enum dist)d);
                fill(a, n, (enum dist)((d + 3) % D_COUNT));
                tr->from_float(x, qx, n);
                kt_from_float_q8_k_ref(a, qa, n);
                tr->to_float(qx, xd, n);
                kt_to_float_q8_k_ref(qa, ad, n);
                double ref = 0, mag = 0;
                for (int64_t i = 0; i < n; i++) {
                    ref += (double)xd[i] * ad[i];
                    mag += fabs((double)xd[i] * ad[i]);
                }
                float got = NAN;
                tr->vec_dot(n, &got, qx, qa);
                CHECK(fabs(got - ref) <= 1e-5 * mag + 1e-30, "%s n=%lld %s: vec_dot %.9g, float %.9g",
                      tr->name, (long long)n, dist_name[d], got, ref);
            }
            free(x); free(a); free(xd); free(ad); free(qx); free(qa);
        }
    }
}

/* ---- Q8_K: the activation rounding must be llama.cpp's exactly ------------ */

static void test_q8_k(void)
{
    /* Hand-made block: max is -127, so iscale = 1 and rounding ties are visible. */
    static float x[2 * QK_K];
    static block_q8_K b[2];
    x[0] = -127.f;
    x[1] = 2.5f;   /* ties go to even */
    x[2] = 3.5f;
    x[3] = -0.5f;
    x[4] = 126.5f;
    x[5] = 0.49999997f;
    for (int i = 6; i < QK_K; i++)
        x[i] = (float)(i % 7) - 3;
    /* Second block: two values of equal magnitude: the first one is max. */
    x[QK_K] = 3.f;
    x[QK_K + 1] = -3.f;
    kt_from_float_q8_k_ref(x, b, 2 * QK_K);
    CHECK(b[0].d == 1.f, "q8_k d %g, want 1", b[0].d);
    CHECK(b[0].qs[0] == -127 && b[0].qs[1] == 2 && b[0].qs[2] == 4 && b[0].qs[3] == 0 &&
              b[0].qs[4] == 126 && b[0].qs[5] == 0,
          "q8_k ties: %d %d %d %d %d %d", b[0].qs[0], b[0].qs[1], b[0].qs[2], b[0].qs[3], b[0].qs[4],
          b[0].qs[5]);
    CHECK(b[1].d == 1 / (-127.f / 3.f) && b[1].qs[0] == -127 && b[1].qs[1] == 127 && b[1].qs[2] == 0,
          "q8_k first max: d %g q %d %d", b[1].d, b[1].qs[0], b[1].qs[1]);

    /* Random data against a plain restatement of the rule. */
    enum { N = 64 * QK_K };
    static float r[N];
    static block_q8_K qb[N / QK_K];
    int bad_q = 0, bad_sum = 0, bad_d = 0;
    for (int i = 0; i < N; i++)
        r[i] = rng_gauss() * (i / QK_K % 3 == 0 ? 100.f : 0.01f);
    memset(r + 5 * QK_K, 0, sizeof(float) * QK_K); /* an all-zero block */
    kt_from_float_q8_k_ref(r, qb, N);
    for (int i = 0; i < N / QK_K; i++) {
        const float *xb = r + i * QK_K;
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++)
            if (fabsf(xb[j]) > amax) {
                amax = fabsf(xb[j]);
                max = xb[j];
            }
        float iscale = amax ? -127.f / max : 0;
        bad_d += qb[i].d != (amax ? 1 / iscale : 0);
        for (int j = 0; j < QK_K; j += 16) {
            int sum = 0;
            for (int k = j; k < j + 16; k++) {
                long v = lrintf(iscale * xb[k]); /* default rounding: to nearest even */
                bad_q += qb[i].qs[k] != (v > 127 ? 127 : v);
                sum += qb[i].qs[k];
            }
            bad_sum += qb[i].bsums[j / 16] != sum;
        }
    }
    CHECK(!bad_q && !bad_sum && !bad_d, "q8_k: %d levels, %d bsums, %d scales differ", bad_q, bad_sum,
          bad_d);

    /* Round trip within half a step. */
    static float back[N];
    kt_to_float_q8_k_ref(qb, back, N);
    int far = 0;
    for (int i = 0; i < N; i++)
        far += fabsf(back[i] - r[i]) > 0.5001f * fabsf(qb[i / QK_K].d);
    CHECK(!far, "q8_k: %d values off by more than half a step", far);

    float dot = NAN;
    kt_vec_dot_q8_k_ref(N, &dot, qb, qb);
    double ref = 0;
    for (int i = 0; i < N; i++)
        ref += (double)back[i] * back[i];
    CHECK(fabs(dot - ref) <= 1e-5 * ref, "q8_k self dot %g vs %g", dot, ref);
}

/* ---- hostile input -------------------------------------------------------- */

/* NaN, Inf and huge values must not crash or trip the sanitizers, and must not
 * leak into the neighbouring blocks. */
static void test_non_finite_input(void)
{
    static const float specials[] = { NAN, INFINITY, -INFINITY, 3e38f, -3e38f, 1e-45f };
    enum { N = 3 * QK_K };
    static float x[N], clean[QK_K], y[N], y_clean[QK_K], a[N];
    static uint8_t q[N * 2], q_clean[QK_K * 2];
    static block_q8_K q8[N / QK_K];
    fill(clean, QK_K, D_GAUSS);
    for (int t = 0; t < N_K_TYPES; t++) {
        const kt_traits *tr = kt_ref_traits(k_types[t]);
        size_t bs = tr->type_size;
        tr->from_float(clean, q_clean, QK_K);
        tr->to_float(q_clean, y_clean, QK_K);
        for (size_t s = 0; s < sizeof specials / sizeof specials[0]; s++) {
            for (int all = 0; all < 2; all++) {
                fill(x, N, D_GAUSS);
                memcpy(x + 2 * QK_K, clean, sizeof clean);
                for (int i = 0; i < QK_K; i++)
                    if (all || i % 37 == 5)
                        x[QK_K + i] = specials[s];
                tr->from_float(x, q, N);
                tr->to_float(q, y, N);
                CHECK(memcmp(q + 2 * bs, q_clean, bs) == 0 && memcmp(y + 2 * QK_K, y_clean, sizeof y_clean) == 0,
                      "%s: special %g leaked into the next block", tr->name, specials[s]);
                CHECK(all_finite(y, QK_K), "%s: special %g leaked into the previous block", tr->name,
                      specials[s]);
                /* Q8_K too, and a dot over all of it. */
                memcpy(a, x, sizeof a);
                kt_from_float_q8_k_ref(a, q8, N);
                float dot;
                tr->vec_dot(N, &dot, q, q8);
                kt_to_float_q8_k_ref(q8, y, N);
                CHECK(all_finite(y, QK_K) && all_finite(y + 2 * QK_K, QK_K),
                      "q8_k: special %g leaked into a neighbouring block", specials[s]);
            }
        }
    }
}

/* Random bytes are valid blocks of every K type; decoding them and dotting
 * them must be safe, and finite wherever the fp16 scales are. */
static void test_random_blocks(void)
{
    enum { NB = 64 };
    static uint8_t raw[NB * 256];
    static float y[NB * QK_K];
    static block_q8_K q8[NB];
    static float a[NB * QK_K];
    fill(a, NB * QK_K, D_UNIFORM);
    kt_from_float_q8_k_ref(a, q8, NB * QK_K);
    for (int t = 0; t < N_K_TYPES; t++) {
        const kt_traits *tr = kt_ref_traits(k_types[t]);
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (uint8_t)rng_next();
        /* Clear the fp16 exponent's top bit: finite scales (at most 2). */
        for (int b = 0; b < NB; b++) {
            uint8_t *blk = raw + (size_t)b * tr->type_size;
            size_t d_at = k_types[t] == KT_Q2_K ? 80 : k_types[t] == KT_Q3_K ? 108
                        : k_types[t] == KT_Q6_K ? 208 : 0;
            blk[d_at + 1] &= 0xbf;
            if (k_types[t] == KT_Q2_K || k_types[t] == KT_Q4_K || k_types[t] == KT_Q5_K)
                blk[d_at + 3] &= 0xbf;
        }
        tr->to_float(raw, y, NB * QK_K);
        CHECK(all_finite(y, NB * QK_K), "%s: random blocks decode to non-finite values", tr->name);
        double ref = 0, mag = 0;
        kt_to_float_q8_k_ref(q8, a, NB * QK_K);
        for (int i = 0; i < NB * QK_K; i++) {
            ref += (double)y[i] * a[i];
            mag += fabs((double)y[i] * a[i]);
        }
        float dot = NAN;
        tr->vec_dot(NB * QK_K, &dot, raw, q8);
        CHECK(fabs(dot - ref) <= 1e-5 * mag, "%s: random blocks vec_dot %g, float %g", tr->name, dot, ref);
        fill(a, NB * QK_K, D_UNIFORM); /* restore the activations for the next type */
        kt_from_float_q8_k_ref(a, q8, NB * QK_K);
    }
}

/* A decoded row is (nearly) a fixed point of quantization: quantizing it
 * again must land on (almost) the same values. A field packed in the wrong
 * place would break that. */
static void test_requantize_fixed_point(void)
{
    enum { N = 16 * QK_K };
    static float x[N], y[N], z[N];
    static uint8_t q[N * 2], q2[N * 2];
    for (int t = 0; t < N_K_TYPES; t++) {
        const kt_traits *tr = kt_ref_traits(k_types[t]);
        fill(x, N, D_GAUSS);
        tr->from_float(x, q, N);
        tr->to_float(q, y, N);
        tr->from_float(y, q2, N);
        tr->to_float(q2, z, N);
        double e1 = rms_diff(x, y, N), e2 = rms_diff(y, z, N);
        CHECK(e2 <= 0.5 * e1, "%s: requantizing decoded values moves them by %g (first error %g)",
              tr->name, e2, e1);
    }
}

/* ---- against llama-quantize's bytes ---------------------------------------- */

static float *tensor_to_float(const gguf_tensor *t, int64_t *n_out)
{
    int64_t n = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++)
        n *= t->ne[d];
    const kt_traits *tr = kt_ref_traits((int)t->type);
    if (!tr || kt_row_size((int)t->type, n) != t->nbytes)
        return NULL;
    float *f = malloc(sizeof(float) * (size_t)n);
    if (f)
        tr->to_float(t->data, f, n);
    *n_out = n;
    return f;
}

static void test_llama_quantize_bytes(void)
{
    static const char *files[] = { "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K" };
    char path[1024];
    snprintf(path, sizeof path, "%s/models/synth-kernels-f16.gguf", test_shared_dir());
    gguf_file *f16 = gguf_open(path);
    snprintf(path, sizeof path, "%s/models/synth-kernels-f32.gguf", test_shared_dir());
    gguf_file *f32 = gguf_open(path);
    CHECK(f16 && f32, "cannot open the synth-kernels f16/f32 models under %s", test_shared_dir());
    if (!f16 || !f32) {
        gguf_close(f16);
        gguf_close(f32);
        return;
    }
    int64_t blocks[KT_TYPE_COUNT] = { 0 }, same[KT_TYPE_COUNT] = { 0 }, tensors[KT_TYPE_COUNT] = { 0 };

    for (size_t fi = 0; fi < sizeof files / sizeof files[0]; fi++) {
        snprintf(path, sizeof path, "%s/models/synth-kernels-%s.gguf", test_shared_dir(), files[fi]);
        gguf_file *qf = gguf_open(path);
        CHECK(qf, "cannot open %s", path);
        if (!qf)
            continue;
        for (int64_t ti = 0; ti < qf->n_tensors; ti++) {
            const gguf_tensor *tq = &qf->tensors[ti];
            if (tq->type < KT_Q2_K || tq->type > KT_Q6_K)
                continue;
            const kt_traits *tr = kt_ref_traits((int)tq->type);
            const gguf_tensor *th = gguf_find_tensor(f16, tq->name);
            const gguf_tensor *tf = gguf_find_tensor(f32, tq->name);
            int64_t n = 0, n32 = 0;
            float *x = th ? tensor_to_float(th, &n) : NULL;
            float *x32 = tf ? tensor_to_float(tf, &n32) : NULL;
            CHECK(x && x32 && n == n32 && kt_row_size((int)tq->type, n) == tq->nbytes,
                  "%s %s: no matching f16/f32 tensor", files[fi], tq->name);
            if (x && x32 && n == n32 && kt_row_size((int)tq->type, n) == tq->nbytes) {
                /* Our quantizer on llama-quantize's input: the same bytes. */
                uint8_t *mine = malloc(tq->nbytes);
                tr->from_float(x, mine, n);
                int64_t nb = n / QK_K, eq = 0;
                for (int64_t b = 0; b < nb; b++)
                    eq += memcmp(mine + b * tr->type_size, (const uint8_t *)tq->data + b * tr->type_size,
                                 tr->type_size) == 0;
                CHECK(eq == nb, "%s %s (%s): %lld of %lld blocks differ from llama-quantize", files[fi],
                      tq->name, tr->name, (long long)(nb - eq), (long long)nb);
                blocks[tq->type] += nb;
                same[tq->type] += eq;
                tensors[tq->type]++;

                /* llama-quantize's bytes decoded: as close to the f32 weights as
                 * our own round trip says this type gets. */
                float *y = malloc(sizeof(float) * (size_t)n);
                tr->to_float(tq->data, y, n);
                double err = rms_diff(x32, y, n), ref = rms(x32, n);
                CHECK(all_finite(y, n) && err <= max_rel_rms((int)tq->type) * ref,
                      "%s %s (%s): dequantized rms error %g of %g", files[fi], tq->name, tr->name, err, ref);
                free(y);
                free(mine);
            }
            free(x);
            free(x32);
        }
        gguf_close(qf);
    }
    for (int t = 0; t < N_K_TYPES; t++) {
        int type = k_types[t];
        CHECK(tensors[type] > 0, "%s: no tensor of this type in the synth-kernels files", kt_type_name(type));
        if (getenv("KESTREL_TEST_VERBOSE"))
            printf("%s: %lld tensors, %lld/%lld blocks identical to llama-quantize\n", kt_type_name(type),
                   (long long)tensors[type], (long long)same[type], (long long)blocks[type]);
    }
    gguf_close(f16);
    gguf_close(f32);
}

int main(void)
{
    test_q8_k();
    test_round_trip();
    test_llama_thresholds();
    test_vec_dot();
    test_non_finite_input();
    test_random_blocks();
    test_requantize_fixed_point();
    test_llama_quantize_bytes();
    return test_report();
}
