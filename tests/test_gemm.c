/* Tile kernels (kt_gemm) and batch invariance of matmul.
 *
 * 1. Kernels, every type x every ISA level this CPU runs that has a tile
 *    kernel (Q4_0, Q8_0, Q4_K, Q6_K on avx512vnni): random weights (reference
 *    quantizer) and activations, and once extreme ones (largest integer sums),
 *    many row and block counts (partial row tiles, chunk tails), a tile of 19 tokens x 37
 *    rows against every (row, token) computed alone (nrows = 1, n_tok = 1) and
 *    against random sub-tiles that put each output in another lane and token
 *    slot (and 2-8 tokens through the interleaved activations, or not where
 *    they outgrow its buffer): memcmp. Against the reference vec_dot: |tile - ref| <= 1e-4 * E,
 *    E = sum of |x * y| over the row. Outputs outside the tile stay untouched.
 *    Where the kernel repacks (kt_gemm.repack): the repacked matrix gives
 *    the same bits, whole and in row-tile-aligned ranges.
 * 2. Whole model, every synth-kernels file (all 13 types): the logits of each
 *    token evaluated alone with 1 thread are bit-identical to those inside
 *    batches of 1..16 (every start), with 1 and 2 threads; and over 600
 *    positions (several attention blocks), alone vs in batches of 37 and 100.
 * KESTREL_GEMM_BENCH=1 prints single-thread timings of tile kernel vs
 * vec_dot loop for n_tok = 1 and 64 (never checked). KESTREL_TEST_QUICK=1
 * runs fewer batch sizes. */
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "kestrel.h"
#include "matmul.h"
#include "quant/quant.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static float rng_gauss(void)
{
    const double u1 = ((double)(rng_u64() >> 11) + 1.0) / 9007199254740993.0;
    const double u2 = (double)(rng_u64() >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static int rng_int(int n) { return (int)(rng_u64() % (uint64_t)n); }

typedef struct {
    int64_t n, nrows;
    int n_tok;
    size_t row_bytes, act_stride;
    uint8_t *w, *act;
    float *wf, *af; /* dequantized, for the tolerance */
} problem;

/* extreme: every weight and activation of one magnitude, signs shared by
 * position (s_i), so every product is positive and the integer sums of each
 * block, sub-block and lane reach their largest values (levels at the ends of
 * their range): what would overflow an int16 or int32 partial sum shows. */
static float sign_at(int64_t i) { return (((uint64_t)i * 0x9e3779b97f4a7c15ull) >> 40) & 1 ? 1.0f : -1.0f; }

static void problem_make(problem *p, const kt_traits *tab, int type, int64_t n, int64_t nrows, int n_tok,
                         bool extreme)
{
    const kt_traits *wt = &tab[type], *at = &tab[wt->vec_dot_type];
    const kt_traits *wref = kt_ref_traits(type);
    p->n = n;
    p->nrows = nrows;
    p->n_tok = n_tok;
    p->row_bytes = kt_row_size(type, n);
    p->act_stride = matmul_act_row_bytes(n);
    p->w = malloc(p->row_bytes * (size_t)nrows + 64);
    p->act = calloc((size_t)n_tok, p->act_stride);
    p->wf = malloc(sizeof(float) * (size_t)(n * nrows));
    p->af = malloc(sizeof(float) * (size_t)(n * n_tok));
    float *src = malloc(sizeof(float) * (size_t)n);
    for (int64_t r = 0; r < nrows; r++) {
        const float scale = 0.01f + (float)rng_int(100) * 0.01f;
        for (int64_t i = 0; i < n; i++)
            src[i] = extreme ? sign_at(i) * scale : rng_gauss() * scale;
        wref->quantize(src, p->w + (size_t)r * p->row_bytes, n);
        wref->to_float(p->w + (size_t)r * p->row_bytes, p->wf + r * n, n);
    }
    for (int t = 0; t < n_tok; t++) {
        uint8_t *row = p->act + (size_t)t * p->act_stride;
        for (int64_t i = 0; i < n; i++)
            src[i] = (extreme ? sign_at(i) : rng_gauss()) * (t % 3 == 0 ? 10.0f : 1.0f);
        at->from_float(src, row, n);
        kt_ref_traits(wt->vec_dot_type)->to_float(row, p->af + t * n, n);
        if (wt->gemm->prep)
            wt->gemm->prep(n, row);
    }
    free(src);
}

static void problem_free(problem *p)
{
    free(p->w);
    free(p->act);
    free(p->wf);
    free(p->af);
}

/* Tile rows [r0, r0 + nr) x tokens [t0, t0 + nt) of w (the problem's matrix,
 * or its repacked copy: packed = 1) into out (ldo = nrows). */
static void run_tile_of(const kt_gemm *g, const problem *p, const uint8_t *w, int packed, int64_t r0, int64_t nr,
                        int t0, int nt, float *out)
{
    g->run(p->n, w + (size_t)r0 * p->row_bytes, p->row_bytes, nr, p->act + (size_t)t0 * p->act_stride,
           p->act_stride, nt, out + (size_t)t0 * p->nrows + r0, (size_t)p->nrows, packed);
}

static void run_tile(const kt_gemm *g, const problem *p, int64_t r0, int64_t nr, int t0, int nt, float *out)
{
    run_tile_of(g, p, p->w, 0, r0, nr, t0, nt, out);
}

/* A sub-tile into a buffer of sentinels: the outputs inside that differ from
 * full (memcmp) plus the outputs outside that were touched. */
static int sub_tile_mismatches(const kt_gemm *g, const problem *p, const uint8_t *w, int packed, int64_t r0,
                               int64_t nr, int t0, int nt, const float *full, float *one, float sentinel)
{
    const size_t nout = (size_t)p->nrows * (size_t)p->n_tok;
    for (size_t i = 0; i < nout; i++)
        one[i] = sentinel;
    run_tile_of(g, p, w, packed, r0, nr, t0, nt, one);
    int bad = 0;
    for (int t = 0; t < p->n_tok; t++)
        for (int64_t r = 0; r < p->nrows; r++) {
            const size_t i = (size_t)t * (size_t)p->nrows + (size_t)r;
            const bool in = r >= r0 && r < r0 + nr && t >= t0 && t < t0 + nt;
            if (in ? memcmp(&one[i], &full[i], sizeof(float)) != 0 : one[i] != sentinel)
                bad++;
        }
    return bad;
}

static void test_kernel(const kt_traits *tab, int type, int isa, int64_t nb, bool extreme)
{
    const kt_traits *wt = &tab[type];
    const kt_gemm *g = wt->gemm;
    const int64_t n = nb * wt->block_size, nrows = 37;
    const int n_tok = 19;
    problem p;
    problem_make(&p, tab, type, n, nrows, n_tok, extreme);
    const size_t nout = (size_t)nrows * n_tok;
    float *full = malloc(sizeof(float) * nout), *one = malloc(sizeof(float) * nout);
    const float sentinel = -12345.0f;
    for (size_t i = 0; i < nout; i++)
        full[i] = one[i] = sentinel;
    run_tile(g, &p, 0, nrows, 0, n_tok, full);

    /* every output alone */
    int bad_alone = 0, bad_ref = 0, bad_sub = 0;
    for (int t = 0; t < n_tok; t++)
        for (int64_t r = 0; r < nrows; r++)
            run_tile(g, &p, r, 1, t, 1, one);
    bad_alone = memcmp(full, one, sizeof(float) * nout) != 0;

    /* random sub-tiles, outputs outside them untouched */
    for (int k = 0; k < 24; k++) {
        const int64_t r0 = rng_int((int)nrows), nr = 1 + rng_int((int)(nrows - r0));
        const int t0 = rng_int(n_tok), nt = 1 + rng_int(n_tok - t0);
        bad_sub += sub_tile_mismatches(g, &p, p.w, 0, r0, nr, t0, nt, full, one, sentinel);
    }

    /* repacked (where the kernel has a layout of its own): the same bits for
     * the whole matrix and for row ranges that start on a row tile, with 1,
     * a few and all tokens */
    int bad_packed = 0;
    if (g->repack) {
        uint8_t *packed = malloc(p.row_bytes * (size_t)nrows + 64);
        g->repack(n, p.w, p.row_bytes, nrows, packed);
        for (int k = 0; k < 8; k++) {
            const int64_t r0 = k == 0 ? 0 : g->rows * rng_int((int)(nrows / g->rows) + 1);
            const int64_t nr = k == 0 ? nrows : nrows - r0 < g->rows ? nrows - r0 : g->rows * (1 + rng_int(2));
            const int t0 = k == 0 ? 0 : rng_int(n_tok), nt = k == 0 ? n_tok : k < 3 ? 1 : 1 + rng_int(n_tok - t0);
            if (nr <= 0)
                continue;
            const int64_t nr_in = r0 + nr > nrows ? nrows - r0 : nr;
            bad_packed += sub_tile_mismatches(g, &p, packed, 1, r0, nr_in, t0, nt, full, one, sentinel);
        }
        free(packed);
    }

    /* the reference */
    double worst = 0;
    for (int t = 0; t < n_tok; t++)
        for (int64_t r = 0; r < nrows; r++) {
            float ref;
            kt_ref_traits(type)->vec_dot(n, &ref, p.w + (size_t)r * p.row_bytes, p.act + (size_t)t * p.act_stride);
            double e = 0;
            for (int64_t i = 0; i < n; i++)
                e += fabs((double)p.wf[r * n + i] * p.af[t * n + i]);
            const double err = fabs((double)full[(size_t)t * nrows + r] - ref);
            if (!(err <= 1e-4 * e + 1e-30)) {
                if (bad_ref++ < 2)
                    fprintf(stderr, "%s %s nb %lld row %lld tok %d: tile %.9g ref %.9g (E %.3g)\n", wt->name,
                            kt_isa_name(isa), (long long)nb, (long long)r, t, full[(size_t)t * nrows + r], ref, e);
            }
            worst = fmax(worst, e > 0 ? err / e : 0);
        }
    CHECK(!bad_alone && !bad_sub && !bad_packed && !bad_ref,
          "%s %s nb %lld%s: alone %d, sub-tiles %d, repacked %d, vs ref %d", wt->name, kt_isa_name(isa),
          (long long)nb, extreme ? " (extreme)" : "", bad_alone, bad_sub, bad_packed, bad_ref);
    free(full);
    free(one);
    problem_free(&p);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void bench_kernel(const kt_traits *tab, int type, int isa)
{
    const kt_traits *wt = &tab[type];
    const int64_t n = 5632, nrows = 1024;
    const int toks[] = { 1, 64, 512 };
    problem p;
    problem_make(&p, tab, type, n, nrows, 512, false);
    float *out = malloc(sizeof(float) * (size_t)(nrows * 512));
    uint8_t *packed = NULL;
    if (wt->gemm->repack) {
        packed = aligned_alloc(64, (p.row_bytes * (size_t)nrows + 63) & ~(size_t)63);
        wt->gemm->repack(n, p.w, p.row_bytes, nrows, packed);
    }
    for (int ti = 0; ti < 3; ti++) {
        const int nt = toks[ti];
        double best_g = 1e9, best_v = 1e9, best_p = 0;
        for (int rep = 0; rep < (nt > 64 ? 2 : 5); rep++) {
            double t0 = now_s();
            run_tile(wt->gemm, &p, 0, nrows, 0, nt, out);
            best_g = fmin(best_g, now_s() - t0);
            if (packed) {
                t0 = now_s();
                wt->gemm->run(n, packed, p.row_bytes, nrows, p.act, p.act_stride, nt, out, (size_t)nrows, 1);
                best_p = fmin(best_p > 0 ? best_p : 1e9, now_s() - t0);
            }
            t0 = now_s();
            for (int64_t r = 0; r < nrows; r++)
                for (int t = 0; t < nt; t++)
                    wt->vec_dot(n, &out[(size_t)t * nrows + r], p.w + (size_t)r * p.row_bytes,
                                p.act + (size_t)t * p.act_stride);
            best_v = fmin(best_v, now_s() - t0);
        }
        const double macs = (double)n * nrows * nt;
        printf("bench %-5s %-10s n_tok %3d: tile %7.3f ms (%6.1f GMAC/s)  vec_dot %7.3f ms (%6.1f GMAC/s)"
               "  repacked %7.3f ms\n", wt->name, kt_isa_name(isa), nt, best_g * 1e3, macs / best_g * 1e-9,
               best_v * 1e3, macs / best_v * 1e-9, best_p * 1e3);
    }
    free(packed);
    free(out);
    problem_free(&p);

    /* one token, weights past the L3 (memory-bound, as generation is) */
    problem_make(&p, tab, type, 4096, 16384, 1, false);
    out = malloc(sizeof(float) * 16384);
    double best_g = 1e9, best_v = 1e9;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = now_s();
        run_tile(wt->gemm, &p, 0, p.nrows, 0, 1, out);
        best_g = fmin(best_g, now_s() - t0);
        t0 = now_s();
        for (int64_t r = 0; r < p.nrows; r++)
            wt->vec_dot(p.n, &out[r], p.w + (size_t)r * p.row_bytes, p.act);
        best_v = fmin(best_v, now_s() - t0);
    }
    double best_p = 0;
    if (wt->gemm->repack) {
        uint8_t *repacked = aligned_alloc(64, (p.row_bytes * (size_t)p.nrows + 63) & ~(size_t)63);
        wt->gemm->repack(p.n, p.w, p.row_bytes, p.nrows, repacked);
        best_p = 1e9;
        for (int rep = 0; rep < 5; rep++) {
            const double t0 = now_s();
            wt->gemm->run(p.n, repacked, p.row_bytes, p.nrows, p.act, p.act_stride, 1, out, (size_t)p.nrows, 1);
            best_p = fmin(best_p, now_s() - t0);
        }
        free(repacked);
    }
    const double bytes = (double)p.row_bytes * (double)p.nrows;
    printf("bench %-5s %-10s n_tok   1, %3.0f MB: tile %7.3f ms (%5.1f GB/s)  vec_dot %7.3f ms (%5.1f GB/s)"
           "  repacked %7.3f ms\n", wt->name, kt_isa_name(isa), bytes * 1e-6, best_g * 1e3, bytes / best_g * 1e-9,
           best_v * 1e3, bytes / best_v * 1e-9, best_p * 1e3);
    free(out);
    problem_free(&p);
}

/* ---- 2. whole model ------------------------------------------------------------------------ */

static kestrel_context *new_ctx(kestrel_model *m, int n_threads)
{
    kestrel_context_params cp = kestrel_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 64;
    cp.n_threads = n_threads;
    return kestrel_context_new(m, &cp);
}

/* The shared synth-kernels model of a weight type (a failed check if it does not load). */
static kestrel_model *load_synth_kernels(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/models/synth-kernels-%s.gguf", test_shared_dir(), name);
    kestrel_model *m = kestrel_model_load(path);
    CHECK(m != NULL, "load %s: %s", path, kestrel_last_error());
    return m;
}

static void test_model(const char *name, const int *sizes, int n_sizes)
{
    kestrel_model *m = load_synth_kernels(name);
    if (!m)
        return;
    const int nv = kestrel_n_vocab(m), n_tok = 20;
    kestrel_token toks[20];
    for (int i = 0; i < n_tok; i++)
        toks[i] = (kestrel_token)(i == 0 ? 1 : (2654435761u * (unsigned)i + 7u) % (unsigned)nv);
    float *ref = malloc(sizeof(float) * (size_t)n_tok * nv);
    kestrel_context *c1 = new_ctx(m, 1);
    for (int i = 0; i < n_tok; i++) {
        kestrel_decode(c1, &toks[i], 1, i, false);
        memcpy(ref + (size_t)i * nv, kestrel_logits(c1, -1), sizeof(float) * nv);
    }
    kestrel_context_free(c1);
    for (int nt = 1; nt <= 2; nt++) {
        kestrel_context *ctx = new_ctx(m, nt);
        int bad = 0;
        for (int si = 0; si < n_sizes; si++) {
            const int b = sizes[si];
            for (int start = 0; start < n_tok; start += b) {
                const int k = start + b <= n_tok ? b : n_tok - start;
                kestrel_decode(ctx, toks + start, k, start, true);
                for (int i = 0; i < k; i++)
                    bad += memcmp(kestrel_logits(ctx, i), ref + (size_t)(start + i) * nv, sizeof(float) * nv) != 0;
            }
        }
        CHECK(bad == 0, "synth-kernels-%s, %d thread(s): %d logit rows differ from the token alone", name, nt, bad);
        kestrel_context_free(ctx);
    }
    free(ref);
    kestrel_model_free(m);
}

/* Past the attention's online-softmax blocks (ATT_BLOCK positions): 600
 * positions fed one at a time, and in batches of 37 and 100, give the same
 * logits bit for bit (the blocks start at the query's first position, so a
 * token's arithmetic does not depend on its batch). */
static void test_long_context(const char *name)
{
    kestrel_model *m = load_synth_kernels(name);
    if (!m)
        return;
    enum { N = 600 };
    const int nv = kestrel_n_vocab(m);
    static kestrel_token toks[N];
    for (int i = 0; i < N; i++)
        toks[i] = (kestrel_token)(i == 0 ? 1 : (2654435761u * (unsigned)i + 7u) % (unsigned)nv);
    kestrel_context_params cp = kestrel_context_default_params();
    cp.n_ctx = N;
    cp.n_batch = 128;
    cp.n_threads = 2;
    float *ref = malloc(sizeof(float) * (size_t)N * nv);
    kestrel_context *c1 = kestrel_context_new(m, &cp);
    for (int i = 0; i < N; i++) {
        kestrel_decode(c1, &toks[i], 1, i, false);
        memcpy(ref + (size_t)i * nv, kestrel_logits(c1, -1), sizeof(float) * nv);
    }
    kestrel_context_free(c1);
    const int batches[] = { 37, 100 };
    for (int bi = 0; bi < 2; bi++) {
        kestrel_context *ctx = kestrel_context_new(m, &cp);
        int bad = 0;
        for (int start = 0; start < N; start += batches[bi]) {
            const int k = start + batches[bi] <= N ? batches[bi] : N - start;
            kestrel_decode(ctx, toks + start, k, start, true);
            for (int i = 0; i < k; i++)
                bad += memcmp(kestrel_logits(ctx, i), ref + (size_t)(start + i) * nv, sizeof(float) * nv) != 0;
        }
        CHECK(bad == 0, "synth-kernels-%s, %d positions in batches of %d: %d logit rows differ from one at a time",
              name, N, batches[bi], bad);
        kestrel_context_free(ctx);
    }
    free(ref);
    kestrel_model_free(m);
}

int main(void)
{
    const bool quick = getenv("KESTREL_TEST_QUICK") != NULL;
    const bool bench = getenv("KESTREL_GEMM_BENCH") != NULL;
    static kt_traits tab[KT_ISA_COUNT][KT_TYPE_COUNT];
    for (int isa = 0; isa < KT_ISA_COUNT; isa++) {
        if (!kt_isa_table(isa, tab[isa]))
            continue;
        for (int type = 0; type < KT_TYPE_COUNT; type++) {
            if (!tab[isa][type].name || !tab[isa][type].gemm)
                continue;
            /* 400: a few tokens' interleaved copy outgrows its buffer at 8 (not at 7) */
            const int64_t nbs_legacy[] = { 1, 2, 3, 7, 31, 32, 33, 65, 100, 400 };
            /* K: tails of the 4-block groups and of the packed chunks (2 and 4
             * blocks), and past the 64-block passes of the single-token path */
            const int64_t nbs_k[] = { 1, 2, 3, 7, 8, 9, 17, 65 };
            const bool k = tab[isa][type].block_size == 256;
            const int cnt = k ? (int)(sizeof nbs_k / sizeof *nbs_k) : (int)(sizeof nbs_legacy / sizeof *nbs_legacy);
            for (int i = 0; i < cnt; i++)
                test_kernel(tab[isa], type, isa, k ? nbs_k[i] : nbs_legacy[i], false);
            test_kernel(tab[isa], type, isa, k ? 9 : 33, true);
            if (bench)
                bench_kernel(tab[isa], type, isa);
        }
    }
    static const char *synth[] = { "f32", "f16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                   "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K" };
    static const int all_sizes[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
    static const int few_sizes[] = { 3, 8, 16 };
    for (size_t i = 0; i < sizeof synth / sizeof *synth; i++)
        test_model(synth[i], quick ? few_sizes : all_sizes, quick ? 3 : 16);
    test_long_context("Q8_0");
    test_long_context("f16");
    return test_report();
}
