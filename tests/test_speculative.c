/* Speculative decoding: exact at temperature 0, the target's distribution above it.
 *
 * 1. Batch invariance: a token's logits are bit-identical (memcmp) whether it is
 *    evaluated alone or inside a batch of 1..16, for every weight type (the 13
 *    synth-kernels files, stories260K, the 41M target) and both KV cache types.
 * 2. Greedy: draft model, lookup and self-draft give the target's own tokens on
 *    every Gutenberg reference prompt, for the F16 and Q4_K_M targets.
 * 3. Sampling: chi-square of the 1st/2nd/3rd generated token against the exact
 *    marginals of the target alone (stories260K, a top-k-3 hot draft, lookup).
 * 4. Lookup, adaptive length, vocabulary check, --deepen, CLI.
 * KESTREL_TEST_QUICK=1 (ASan) runs a smaller set of each. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kestrel.h"
#include "test.h"

#include "reference.h"
#include "run_cli.h"
#include "sampler_internal.h"
#include "speculative.h"

static bool quick;

static char *model_path(const char *name)
{
    static char buf[8][512];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "%s/models/%s.gguf", test_shared_dir(), name);
    return b;
}

static kestrel_context *new_ctx(kestrel_model *m, int n_ctx, kestrel_kv_type kv, int n_threads)
{
    kestrel_context_params cp = kestrel_context_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = 64;
    cp.kv_type = kv;
    cp.n_threads = n_threads;
    return kestrel_context_new(m, &cp);
}

/* ---- 1. batch invariance ------------------------------------------------------------- */

static void test_batch_invariance(const char *name, int n_tok, const int *sizes, int n_sizes)
{
    kestrel_model *m = kestrel_model_load(model_path(name));
    CHECK(m != NULL, "load %s: %s", name, kestrel_last_error());
    if (!m)
        return;
    const int nv = kestrel_n_vocab(m);
    kestrel_token toks[32];
    for (int i = 0; i < n_tok; i++) /* a fixed pseudo-random sequence */
        toks[i] = (kestrel_token)(i == 0 ? 1 : (1000003u * (unsigned)i + 12345u) % (unsigned)nv);
    float *ref = malloc((size_t)n_tok * nv * sizeof *ref);
    for (int kv = 0; kv < 2; kv++) {
        kestrel_context *ctx = new_ctx(m, 64, kv ? KESTREL_KV_F32 : KESTREL_KV_F16, 2);
        for (int i = 0; i < n_tok; i++) { /* one token at a time */
            kestrel_decode(ctx, &toks[i], 1, i, false);
            memcpy(ref + (size_t)i * nv, kestrel_logits(ctx, -1), (size_t)nv * sizeof *ref);
        }
        int bad = 0;
        for (int si = 0; si < n_sizes; si++) {
            const int b = sizes[si];
            for (int start = 0; start < n_tok; start += b) {
                int n = start + b <= n_tok ? b : n_tok - start;
                kestrel_decode(ctx, toks + start, n, start, true);
                for (int i = 0; i < n; i++)
                    if (memcmp(kestrel_logits(ctx, i), ref + (size_t)(start + i) * nv, (size_t)nv * sizeof *ref)) {
                        if (bad++ < 3)
                            fprintf(stderr, "%s kv %s: token %d differs in a batch of %d\n", name,
                                    kv ? "f32" : "f16", start + i, b);
                    }
            }
            /* the last-token-only path of a batch too */
            kestrel_decode(ctx, toks, b < n_tok ? b : n_tok, 0, false);
            int last = (b < n_tok ? b : n_tok) - 1;
            bad += memcmp(kestrel_logits(ctx, -1), ref + (size_t)last * nv, (size_t)nv * sizeof *ref) != 0;
        }
        CHECK(bad == 0, "%s (kv %s): %d logit rows depend on the batch", name, kv ? "f32" : "f16", bad);
        kestrel_context_free(ctx);
    }
    free(ref);
    kestrel_model_free(m);
}

static void batch_invariance(void)
{
    static const char *synth[] = { "f32", "f16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1",
                                   "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K" };
    static const int all_sizes[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
    static const int few_sizes[] = { 2, 5, 16 };
    char name[64];
    for (size_t i = 0; i < sizeof synth / sizeof *synth; i++) {
        snprintf(name, sizeof name, "synth-kernels-%s", synth[i]);
        if (quick)
            test_batch_invariance(name, 17, few_sizes, 3);
        else
            test_batch_invariance(name, 20, all_sizes, 16);
    }
    test_batch_invariance("stories260K", 20, quick ? few_sizes : all_sizes, quick ? 3 : 16);
    test_batch_invariance("gutenberg-41M-Q4_K_M", 17, few_sizes, quick ? 1 : 3);
    if (!quick) {
        test_batch_invariance("gutenberg-41M-f16", 17, few_sizes, 3);
        test_batch_invariance("gutenberg-11M-draft-Q8_0", 17, few_sizes, 3);
    }
}

/* ---- generation helpers --------------------------------------------------------------- */

/* The target alone, as `kestrel run` does it. Returns the token count. */
static int gen_alone(kestrel_context *ctx, const kestrel_model *m, const kestrel_sampler_params *sp,
                     const kestrel_token *prompt, int n_prompt, int n_gen, kestrel_token *out)
{
    kestrel_sampler *s = kestrel_sampler_new(sp, kestrel_n_vocab(m));
    kestrel_decode(ctx, prompt, n_prompt, 0, false);
    for (int i = 0; i < n_prompt; i++)
        kestrel_sampler_accept(s, prompt[i]);
    int n = 0, n_past = n_prompt;
    while (n < n_gen) {
        kestrel_token t = kestrel_sampler_sample(s, kestrel_logits(ctx, -1));
        kestrel_sampler_accept(s, t);
        out[n++] = t;
        if (kestrel_token_is_eog(m, t) || n == n_gen || n_past >= kestrel_n_ctx(ctx))
            break;
        kestrel_decode(ctx, &t, 1, n_past++, false);
    }
    kestrel_sampler_free(s);
    return n;
}

static int gen_spec(kestrel_spec *spec, const kestrel_model *m, const kestrel_token *prompt, int n_prompt, int n_gen,
                    kestrel_token *out)
{
    if (kestrel_spec_begin(spec, prompt, n_prompt))
        return -1;
    int n = 0;
    while (n < n_gen) {
        int got = kestrel_spec_next(spec, out + n, n_gen - n);
        if (got <= 0)
            break;
        n += got;
        if (kestrel_token_is_eog(m, out[n - 1]))
            break;
    }
    return n;
}

static int common_prefix(const kestrel_token *a, int na, const kestrel_token *b, int nb)
{
    int i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

/* ---- 2. greedy exactness --------------------------------------------------------------- */

static void greedy_exactness(const char *target_name)
{
    char ref_path[512];
    snprintf(ref_path, sizeof ref_path, "%s/reference/%s.ref.txt", test_shared_dir(), target_name);
    ref_file rf;
    if (ref_load(ref_path, &rf)) {
        CHECK(0, "cannot read %s", ref_path);
        return;
    }
    kestrel_model *tm = kestrel_model_load(model_path(target_name));
    kestrel_model *dm = kestrel_model_load(model_path("gutenberg-11M-draft-Q8_0"));
    kestrel_model *self = tm ? kestrel_model_self_draft(tm, "Q4_0", 4) : NULL;
    CHECK(tm && dm && self, "load: %s", kestrel_last_error());
    if (!tm || !dm || !self)
        goto out;
    {
        CHECK(kestrel_spec_check_vocab(tm, dm) == 0, "41M and 11M share a vocabulary: %s", kestrel_last_error());
        kestrel_context *tc = new_ctx(tm, 512, KESTREL_KV_F16, 2), *dc = new_ctx(dm, 512, KESTREL_KV_F16, 2);
        kestrel_context *sc = new_ctx(self, 512, KESTREL_KV_F16, 2);
        kestrel_sampler_params sp = kestrel_sampler_default_params();
        sp.temp = 0.0f;
        sp.seed = 7;
        const int n_gen = quick ? 24 : 64;
        kestrel_token alone[128], spec_out[128];
        uint64_t drafted = 0, accepted = 0;
        for (int c = 0; c < rf.n_cases; c++) {
            if (quick && c != 0 && c != 2)
                continue;
            const ref_case *rc = &rf.cases[c];
            int na = gen_alone(tc, tm, &sp, rc->tokens, rc->n_tokens, n_gen, alone);
            int agree_ref = common_prefix(alone, na, rc->greedy, rc->n_greedy);
            if (c == 0)
                printf("%s case %d: kestrel's greedy agrees with llama.cpp's for %d of %d tokens\n", target_name, c,
                       agree_ref, na);
            /* several drafters and settings, each must reproduce the target */
            /* every case: the default draft and a fixed one; then one more per case, in turn */
            const int variants[3] = { 0, 1, 2 + c % 4 };
            for (int vi = 0; vi < 3; vi++) {
                const int v = quick ? vi : variants[vi];
                kestrel_spec_params p = kestrel_spec_default_params();
                kestrel_context *d = dc;
                const char *what = "draft model, defaults";
                if (v == 1) {
                    p.adaptive = false, p.n_max = 4, p.n_min = 0, p.p_min = 0.0f;
                    what = "draft model, fixed 4, p-min 0";
                } else if (v == 2) {
                    p.lookup = true, d = NULL;
                    what = "lookup";
                } else if (v == 3) {
                    d = sc, p.adaptive = false, p.n_max = 3, p.n_min = 0, p.p_min = 0.0f;
                    what = "self-draft Q4_0 4 layers, fixed 3";
                } else if (v == 4) {
                    p.adaptive = false, p.n_max = 16, p.n_min = 0, p.p_min = 0.3f;
                    what = "draft model, fixed 16, p-min 0.3";
                } else if (v == 5) {
                    p.lookup = true, d = NULL, p.adaptive = false, p.n_max = 8;
                    what = "lookup, fixed 8";
                }
                kestrel_spec *s = kestrel_spec_new(tc, d, &p, &sp);
                CHECK(s != NULL, "spec_new: %s", kestrel_last_error());
                if (!s)
                    continue;
                int ns = gen_spec(s, tm, rc->tokens, rc->n_tokens, n_gen, spec_out);
                int same = common_prefix(alone, na, spec_out, ns);
                CHECK(ns == na && same == na, "%s case %d (%s): speculative output differs at token %d of %d/%d",
                      target_name, c, what, same, ns, na);
                kestrel_spec_stats st;
                kestrel_spec_get_stats(s, &st);
                CHECK(st.n_generated == (uint64_t)ns, "stats count the tokens returned");
                if (v == 1) {
                    drafted += st.n_drafted;
                    accepted += st.n_accepted;
                }
                kestrel_spec_free(s);
            }
        }
        printf("%s greedy, 11M draft fixed 4: %llu of %llu drafted tokens accepted\n", target_name,
               (unsigned long long)accepted, (unsigned long long)drafted);
        CHECK(drafted > 0 && accepted > 0, "the draft proposes and some proposals are kept");

        /* repetition penalties on, a short context that fills up, and a token limit */
        kestrel_sampler_params pen = sp;
        pen.repeat_penalty = 1.3f;
        pen.frequency_penalty = 0.2f;
        const ref_case *rc = &rf.cases[0];
        kestrel_context *tc_short = new_ctx(tm, rc->n_tokens + 21, KESTREL_KV_F32, 2);
        kestrel_context *dc_short = new_ctx(dm, rc->n_tokens + 21, KESTREL_KV_F32, 2);
        int na = gen_alone(tc_short, tm, &pen, rc->tokens, rc->n_tokens, 100, alone);
        CHECK(na == 22, "the target alone fills the context: %d tokens", na);
        kestrel_spec_params p = kestrel_spec_default_params();
        p.adaptive = false, p.n_max = 5, p.n_min = 0, p.p_min = 0.0f;
        kestrel_spec *s = kestrel_spec_new(tc_short, dc_short, &p, &pen);
        int ns = s ? gen_spec(s, tm, rc->tokens, rc->n_tokens, 100, spec_out) : -1;
        CHECK(ns == na && common_prefix(alone, na, spec_out, ns) == na,
              "penalties and a full context: %d tokens, %d the same of %d", ns, common_prefix(alone, na, spec_out, ns),
              na);
        CHECK(s && kestrel_spec_context_full(s), "the context is reported full");
        kestrel_spec_free(s);
        kestrel_context_free(tc_short);
        kestrel_context_free(dc_short);
        kestrel_context_free(tc);
        kestrel_context_free(dc);
        kestrel_context_free(sc);
    }
out:
    kestrel_model_free(self);
    kestrel_model_free(dm);
    kestrel_model_free(tm);
    ref_free(&rf);
}

/* ---- 3. the distribution above temperature 0 --------------------------------------------- */

/* chi-square critical value for df degrees of freedom at the upper z quantile (Wilson-Hilferty) */
static double chi2_critical(int df, double z)
{
    if (df <= 0)
        return 1e-9; /* one cell: nothing to test, and the test must not pass by accident */
    double h = 2.0 / (9.0 * df);
    double t = 1.0 - h + z * sqrt(h);
    return df * t * t * t;
}

/* Pearson's statistic of counts against exact probabilities; cells expected
 * fewer than 5 times are pooled. Returns the statistic, *df the degrees of freedom. */
static double chi2(const int *counts, const double *probs, int n_cells, int n, int *df)
{
    double stat = 0.0, pool_e = 0.0, pool_o = 0.0;
    int cells = 0;
    for (int i = 0; i < n_cells; i++) {
        double e = probs[i] * n;
        if (e >= 5.0) {
            stat += (counts[i] - e) * (counts[i] - e) / e;
            cells++;
        } else {
            pool_e += e;
            pool_o += counts[i];
        }
    }
    if (pool_e > 0.5) {
        stat += (pool_o - pool_e) * (pool_o - pool_e) / pool_e;
        cells++;
    } else if (pool_o > 0) {
        stat += 1e9; /* something that should (almost) never happen happened */
    }
    *df = cells - 1;
    return stat;
}

/* p(. | prefix) after the chain, dense over the vocabulary */
static void target_dist(kestrel_context *ctx, kestrel_sampler *s, const kestrel_token *toks, int n, double *out, int nv,
                        kestrel_token *ids, float *probs)
{
    kestrel_decode(ctx, toks, n, 0, false);
    memset(out, 0, (size_t)nv * sizeof *out);
    int k = kestrel_sampler_probs(s, kestrel_logits(ctx, -1), ids, probs);
    for (int i = 0; i < k; i++)
        out[ids[i]] = probs[i];
}

static void distribution_test(bool lookup)
{
    kestrel_model *m = kestrel_model_load(model_path("stories260K"));
    CHECK(m != NULL, "load stories260K");
    if (!m)
        return;
    const int nv = kestrel_n_vocab(m);
    /* prompts after which the next token is far from certain */
    const char *text = lookup ? "Tom saw a big red ball. Tom saw a big" : "She saw a big";
    int n_prompt;
    kestrel_token *prompt = kestrel_tokenize_alloc(m, text, strlen(text), true, false, &n_prompt);
    kestrel_context *tc = new_ctx(m, 128, KESTREL_KV_F32, 1), *dc = new_ctx(m, 128, KESTREL_KV_F32, 1);
    kestrel_sampler_params sp = kestrel_sampler_default_params();
    sp.temp = 0.9f, sp.top_k = 20, sp.top_p = 0.95f, sp.min_p = 0.02f, sp.seed = 4242;
    kestrel_sampler_params dp = sp;
    dp.temp = 1.6f, dp.top_k = 3, dp.top_p = 1.0f, dp.min_p = 0.0f, dp.seed = 99;

    /* exact marginals of tokens 1..3 of the target alone */
    double *m1 = calloc((size_t)nv, sizeof *m1), *m2 = calloc((size_t)nv, sizeof *m2),
           *m3 = calloc((size_t)nv, sizeof *m3), *d1 = malloc((size_t)nv * sizeof *d1),
           *d2 = malloc((size_t)nv * sizeof *d2), *d3 = malloc((size_t)nv * sizeof *d3);
    kestrel_token *ids = malloc((size_t)nv * sizeof *ids), seq[160];
    float *probs = malloc((size_t)nv * sizeof *probs);
    kestrel_sampler *exact = kestrel_sampler_new(&sp, nv);
    memcpy(seq, prompt, (size_t)n_prompt * sizeof *seq);
    target_dist(tc, exact, seq, n_prompt, d1, nv, ids, probs);
    for (int a = 0; a < nv; a++) {
        if (d1[a] == 0.0)
            continue;
        m1[a] += d1[a];
        seq[n_prompt] = a;
        target_dist(tc, exact, seq, n_prompt + 1, d2, nv, ids, probs);
        for (int b = 0; b < nv; b++) {
            if (d2[b] == 0.0)
                continue;
            m2[b] += d1[a] * d2[b];
            seq[n_prompt + 1] = b;
            target_dist(tc, exact, seq, n_prompt + 2, d3, nv, ids, probs);
            for (int c = 0; c < nv; c++)
                m3[c] += d1[a] * d2[b] * d3[c];
        }
    }

    kestrel_spec_params p = kestrel_spec_default_params();
    p.adaptive = false, p.n_max = 3, p.n_min = 0, p.p_min = 0.0f, p.draft_sampler = &dp, p.lookup = lookup;
    kestrel_spec *s = kestrel_spec_new(tc, lookup ? NULL : dc, &p, &sp);
    int runs = quick ? 2000 : 4000;
    const char *r_env = getenv("KESTREL_SPEC_RUNS"); /* for looking closer by hand */
    if (r_env && atoi(r_env) > 0)
        runs = atoi(r_env);
    int *c1 = calloc((size_t)nv, sizeof *c1), *c2 = calloc((size_t)nv, sizeof *c2), *c3 = calloc((size_t)nv, sizeof *c3);
    kestrel_token out[8];
    int short_runs = 0;
    for (int r = 0; r < runs && s; r++) {
        int n = gen_spec(s, m, prompt, n_prompt, 3, out);
        if (n < 3) { /* an end of text among the first tokens */
            short_runs++;
            continue;
        }
        c1[out[0]]++, c2[out[1]]++, c3[out[2]]++;
    }
    kestrel_spec_stats st;
    if (s)
        kestrel_spec_get_stats(s, &st);
    const int n_ok = runs - short_runs;
    const char *what = lookup ? "lookup" : "top-k-3 draft";
    int df1, df2, df3;
    double x1 = chi2(c1, m1, nv, n_ok, &df1), x2 = chi2(c2, m2, nv, n_ok, &df2), x3 = chi2(c3, m3, nv, n_ok, &df3);
    /* z = 3.7: a 1e-4 false alarm rate per statistic; with a fixed seed the result is fixed anyway */
    printf("sampling (%s): %d runs, acceptance %.1f%%; chi2 token 1: %.1f (df %d, crit %.1f), token 2: %.1f (df %d, "
           "crit %.1f), token 3: %.1f (df %d, crit %.1f)\n",
           what, n_ok, s && st.n_drafted ? 100.0 * st.n_accepted / st.n_drafted : 0.0, x1, df1,
           chi2_critical(df1, 3.7), x2, df2, chi2_critical(df2, 3.7), x3, df3, chi2_critical(df3, 3.7));
    CHECK(short_runs * 20 < runs, "few runs end early (%d)", short_runs);
    CHECK(s && st.n_drafted > 0 && st.n_accepted > 0 && st.n_accepted < st.n_drafted,
          "%s: drafts are made, some kept and some not", what);
    CHECK(x1 < chi2_critical(df1, 3.7), "%s: token 1 follows the target's distribution", what);
    CHECK(x2 < chi2_critical(df2, 3.7), "%s: token 2 follows the target's distribution", what);
    CHECK(x3 < chi2_critical(df3, 3.7), "%s: token 3 follows the target's distribution", what);

    if (!lookup) {
        /* power: the draft's own distribution must be told apart by the same test */
        kestrel_sampler *ds = kestrel_sampler_new(&dp, nv);
        int *cq = calloc((size_t)nv, sizeof *cq);
        kestrel_decode(tc, prompt, n_prompt, 0, false);
        int k = kestrel_sampler_probs(ds, kestrel_logits(tc, -1), ids, probs);
        for (int r = 0; r < n_ok; r++) {
            double u = kestrel_sampler_uniform(ds), cum = 0.0;
            for (int i = 0; i < k; i++)
                if (u < (cum += probs[i]) || i == k - 1) {
                    cq[ids[i]]++;
                    break;
                }
        }
        int dfq;
        double xq = chi2(cq, m1, nv, n_ok, &dfq);
        CHECK(xq > chi2_critical(dfq, 3.7), "the test rejects the draft's own distribution (%.1f)", xq);
        free(cq);
        kestrel_sampler_free(ds);
    }
    kestrel_spec_free(s);
    kestrel_sampler_free(exact);
    free(c1), free(c2), free(c3), free(m1), free(m2), free(m3), free(d1), free(d2), free(d3);
    free(ids), free(probs), free(prompt);
    kestrel_context_free(tc);
    kestrel_context_free(dc);
    kestrel_model_free(m);
}

/* ---- 4. pieces -------------------------------------------------------------------------- */

static void lookup_unit(void)
{
    kestrel_token out[8];
    const kestrel_token h1[] = { 5, 6, 7, 8, 9, 1, 5, 6, 7 };
    int n = spec_lookup_draft(h1, 9, 3, 1, 4, out);
    CHECK(n == 4 && out[0] == 8 && out[1] == 9 && out[2] == 1 && out[3] == 5, "3-gram match and its continuation");
    const kestrel_token h2[] = { 4, 4, 4, 4 };
    n = spec_lookup_draft(h2, 4, 3, 1, 5, out);
    CHECK(n == 5 && out[0] == 4 && out[4] == 4, "a run continues periodically");
    const kestrel_token h3[] = { 1, 2, 3, 4 };
    CHECK(spec_lookup_draft(h3, 4, 3, 1, 5, out) == 0, "no repeat, no draft");
    const kestrel_token h4[] = { 9, 7, 1, 2, 7, 3, 1, 2, 7 };
    n = spec_lookup_draft(h4, 9, 3, 1, 2, out);
    CHECK(n == 2 && out[0] == 3 && out[1] == 1, "the most recent match wins: %d %d", out[0], out[1]);
    const kestrel_token h5[] = { 3, 8, 5, 6, 2, 8 };
    n = spec_lookup_draft(h5, 6, 3, 1, 1, out);
    CHECK(n == 1 && out[0] == 5, "falls back to a 1-gram");
    CHECK(spec_lookup_draft(h5, 6, 3, 2, 1, out) == 0, "ngram_min is respected");

    /* adaptive length: long drafts when they are kept and cheap, none when useless */
    double lin[18], flat[18], cliff[18];
    for (int b = 0; b < 18; b++) {
        lin[b] = 10.0 + 1.0 * b;
        flat[b] = 10.0;
        cliff[b] = b <= 4 ? 10.0 : 40.0; /* batches over 4 cost four times as much */
    }
    CHECK(spec_best_len(0.95, 0.05, flat, 16) >= 8, "high acceptance, cheap draft: long drafts");
    CHECK(spec_best_len(0.05, 2.0, lin, 16) == 0, "low acceptance: no drafting");
    int k1 = spec_best_len(0.6, 1.0, lin, 16), k2 = spec_best_len(0.8, 1.0, lin, 16);
    CHECK(k1 >= 1 && k2 > k1, "more acceptance, longer drafts (%d, %d)", k1, k2);
    CHECK(spec_best_len(0.99, 0.0, flat, 7) == 7, "capped by n_max");
    CHECK(spec_best_len(0.8, 0.5, cliff, 16) == 3, "stops before a cost cliff (%d)", spec_best_len(0.8, 0.5, cliff, 16));

    CHECK(spec_type_from_name("q4_0") == spec_type_from_name("Q4_0") && spec_type_from_name("Q4_0") >= 0, "type names");
    CHECK(spec_type_from_name("Q4_K_M") == spec_type_from_name("Q4_K"), "mix names");
    CHECK(spec_type_from_name("Q9_9") < 0 && spec_type_from_name("Q8_K") < 0, "unknown or compute-less types");
}

static void vocab_check(void)
{
    kestrel_model *a = kestrel_model_load_vocab(model_path("gutenberg-41M-Q4_K_M"));
    kestrel_model *b = kestrel_model_load_vocab(model_path("stories260K"));
    kestrel_model *c = kestrel_model_load_vocab(model_path("gutenberg-11M-draft-Q4_0"));
    CHECK(a && b && c, "load vocabularies");
    if (a && b && c) {
        CHECK(kestrel_spec_check_vocab(a, c) == 0, "same tokenizer: compatible");
        CHECK(kestrel_spec_check_vocab(a, b) != 0 && strstr(kestrel_last_error(), "tokens"),
              "32000 vs 512 tokens: refused (%s)", kestrel_last_error());
        CHECK(strchr(kestrel_last_error(), '\n') == NULL, "a one-line message");
    }
    kestrel_model_free(a);
    kestrel_model_free(b);
    kestrel_model_free(c);
}

static void self_draft(void)
{
    kestrel_model *t = kestrel_model_load(model_path("gutenberg-41M-f16"));
    if (!t) {
        CHECK(0, "load");
        return;
    }
    kestrel_model *d = kestrel_model_self_draft(t, "Q4_0", 3);
    CHECK(d != NULL, "self-draft: %s", kestrel_last_error());
    if (d) {
        kestrel_model_info info;
        kestrel_model_get_info(d, &info);
        CHECK(info.n_layer == 3, "its first 3 layers (%d)", info.n_layer);
        CHECK(kestrel_spec_check_vocab(t, d) == 0, "compatible with its target");
    }
    kestrel_model_free(d);
    CHECK(kestrel_model_self_draft(t, "Q9_9", 0) == NULL, "bad type refused");
    CHECK(kestrel_model_self_draft(t, "Q4_0", 99) == NULL, "too many layers refused");
    kestrel_model_free(t);
}

/* A deepened model speaks like the original. */
static void deepen_one(const char *name, const char *type, int extra, int n_gen, const char *dir)
{
    char out_path[600];
    snprintf(out_path, sizeof out_path, "%s/%s-deep.gguf", dir, name);
    kestrel_deepen_params dp = kestrel_deepen_default_params();
    dp.extra_layers = extra;
    dp.type = type;
    int rc = kestrel_deepen(model_path(name), out_path, &dp);
    CHECK(rc == 0, "deepen %s: %s", name, kestrel_last_error());
    kestrel_model *a = kestrel_model_load(model_path(name)), *b = rc == 0 ? kestrel_model_load(out_path) : NULL;
    CHECK(a && b, "load the deepened %s: %s", name, kestrel_last_error());
    if (a && b) {
        kestrel_model_info ia, ib;
        kestrel_model_get_info(a, &ia);
        kestrel_model_get_info(b, &ib);
        CHECK(ib.n_layer == ia.n_layer + extra, "%d + %d layers (%d)", ia.n_layer, extra, ib.n_layer);
        const char *text = "Once upon a time";
        int np;
        kestrel_token *prompt = kestrel_tokenize_alloc(a, text, strlen(text), true, false, &np);
        kestrel_context *ca = new_ctx(a, 128, KESTREL_KV_F32, 2), *cb = new_ctx(b, 128, KESTREL_KV_F32, 2);
        kestrel_sampler_params sp = kestrel_sampler_default_params();
        sp.temp = 0.0f;
        kestrel_token ta[128], tb[128];
        int na = gen_alone(ca, a, &sp, prompt, np, n_gen, ta), nb = gen_alone(cb, b, &sp, prompt, np, n_gen, tb);
        int same = common_prefix(ta, na, tb, nb);
        CHECK(na == nb && same == na, "%s deepened by %d: greedy text the same (%d of %d)", name, extra, same, na);
        float maxdiff = 0.0f;
        kestrel_decode(ca, prompt, np, 0, false);
        kestrel_decode(cb, prompt, np, 0, false);
        for (int i = 0; i < kestrel_n_vocab(a); i++) {
            float d = fabsf(kestrel_logits(ca, -1)[i] - kestrel_logits(cb, -1)[i]);
            maxdiff = d > maxdiff ? d : maxdiff;
        }
        CHECK(maxdiff > 0.0f && maxdiff < 0.05f, "%s: the logits move a little (%g)", name, (double)maxdiff);
        free(prompt);
        kestrel_context_free(ca);
        kestrel_context_free(cb);
    }
    kestrel_model_free(a);
    kestrel_model_free(b);
    unlink(out_path);
}

static void deepen(void)
{
    char dir[] = "/tmp/kestrel-deepen-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    deepen_one("stories260K", NULL, 4, 64, dir);
    if (!quick)
        deepen_one("gutenberg-41M-f16", "F16", 4, 32, dir);
    kestrel_deepen_params dp = kestrel_deepen_default_params();
    dp.extra_layers = 1;
    dp.type = "Q7_7";
    CHECK(kestrel_deepen(model_path("stories260K"), "/tmp/never.gguf", &dp) != 0, "bad type refused");
    rmdir(dir);
}

static void cli(void)
{
    const char *t = model_path("gutenberg-41M-Q4_K_M"), *d = model_path("gutenberg-11M-draft-Q4_0");
    const char *plain[] = { "kestrel", "-m", t, "-p", "The old captain", "-n", "20", "--temp", "0", "--ids", NULL };
    const char *spec[] = { "kestrel", "-m", t, "-md", d, "-p", "The old captain", "-n", "20", "--temp", "0",
                           "--ids", "--draft-max", "4", "--draft-min", "0", "--draft-p-min", "0", "-td", "1", NULL };
    const char *look[] = { "kestrel", "-m", t, "--lookup", "-p", "The old captain", "-n", "20", "--temp", "0", "--ids",
                           NULL };
    cli_result a = run_kestrel(plain), b = run_kestrel(spec), c = run_kestrel(look);
    CHECK(a.status == 0 && b.status == 0 && c.status == 0, "runs succeed (%d %d %d): %s", a.status, b.status, c.status,
          b.err);
    CHECK(strcmp(a.out, b.out) == 0 && strcmp(a.out, c.out) == 0, "same ids with -md (one draft thread) and --lookup");
    CHECK(strstr(b.err, "accepted") && strstr(b.err, "tokens per pass"), "stats in the summary");
    cli_result_free(&a);
    cli_result_free(&b);
    cli_result_free(&c);
    const char *bad[] = { "kestrel", "-m", t, "-md", model_path("stories260K"), "-p", "x", "-n", "2", NULL };
    cli_result e = run_kestrel(bad);
    CHECK(e.status == 1 && count_lines(e.err) >= 1 && strstr(e.err, "draft cannot be used"),
          "mismatched vocabularies: one clear line (%s)", e.err);
    cli_result_free(&e);
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define TIMED(call)                                                      \
    do {                                                                 \
        double t0_ = seconds();                                          \
        call;                                                            \
        printf("  %-40s %.1f s\n", #call, seconds() - t0_);              \
    } while (0)

int main(void)
{
    const char *q = getenv("KESTREL_TEST_QUICK");
    quick = q && *q && strcmp(q, "0") != 0;
    TIMED(lookup_unit());
    TIMED(vocab_check());
    TIMED(batch_invariance());
    TIMED(greedy_exactness("gutenberg-41M-Q4_K_M"));
    if (!quick)
        TIMED(greedy_exactness("gutenberg-41M-f16"));
    TIMED(distribution_test(false));
    TIMED(distribution_test(true));
    TIMED(self_draft());
    TIMED(deepen());
    TIMED(cli());
    return test_report();
}
