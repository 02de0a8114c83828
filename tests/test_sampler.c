/* Sampler: the filters keep exactly the sets llama.cpp keeps, penalties move the
 * logits as specified, draws are reproducible and follow softmax(logits / T). */
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "kestrel.h"
#include "rng.h"
#include "sampler_internal.h"
#include "test.h"

/* Filters off, so each test turns on only what it examines. */
static kestrel_sampler_params plain_params(void)
{
    kestrel_sampler_params p = kestrel_sampler_default_params();
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = 1234;
    return p;
}

/* The ids kept by the filters, as a bitmask over the first 64 tokens. */
static uint64_t kept_mask(const kestrel_sampler_params *p, const float *logits, int n)
{
    kestrel_sampler *s = kestrel_sampler_new(p, n);
    kestrel_token ids[64];
    int k = kestrel_sampler_filter(s, logits, ids, NULL);
    uint64_t mask = 0;
    for (int i = 0; i < k; i++)
        mask |= 1ull << ids[i];
    kestrel_sampler_free(s);
    return mask;
}

#define BIT(i) (1ull << (i))

/* Probabilities 0.5 0.2 0.15 0.1 0.05, shuffled over ids 0..4. */
static void five_way(float *logits)
{
    static const float probs[5] = {0.1f, 0.5f, 0.05f, 0.2f, 0.15f};
    for (int i = 0; i < 5; i++)
        logits[i] = logf(probs[i]) + 3.0f; /* the shift must not matter */
}

static void test_defaults_and_errors(void)
{
    kestrel_sampler_params p = kestrel_sampler_default_params();
    CHECK(p.temp == 0.8f && p.top_k == 40 && p.top_p == 0.95f && p.min_p == 0.05f,
          "default temp/top_k/top_p/min_p");
    CHECK(p.repeat_penalty == 1.0f && p.repeat_last_n == 64 && p.frequency_penalty == 0.0f &&
              p.presence_penalty == 0.0f,
          "default penalties");
    CHECK(p.seed == KESTREL_SEED_RANDOM, "default seed is random");

    CHECK(kestrel_sampler_new(&p, 0) == NULL, "n_vocab 0 refused");
    CHECK(strstr(kestrel_last_error(), "n_vocab") != NULL, "error names n_vocab: %s",
          kestrel_last_error());
    p.repeat_last_n = -2;
    CHECK(kestrel_sampler_new(&p, 10) == NULL, "repeat_last_n -2 refused");
    kestrel_sampler *s = kestrel_sampler_new(NULL, 10);
    CHECK(s != NULL, "NULL params means defaults");
    kestrel_sampler_free(s);
    kestrel_sampler_free(NULL);
}

static void test_top_k(void)
{
    const float logits[8] = {1, 5, 3, 4, 2, 0, -1, 3};
    kestrel_sampler_params p = plain_params();
    p.top_k = 1;
    CHECK(kept_mask(&p, logits, 8) == BIT(1), "top-k 1");
    p.top_k = 2;
    CHECK(kept_mask(&p, logits, 8) == (BIT(1) | BIT(3)), "top-k 2");
    p.top_k = 3; /* ids 2 and 7 tie at 3: the lower id stays */
    CHECK(kept_mask(&p, logits, 8) == (BIT(1) | BIT(3) | BIT(2)), "top-k 3, tie to lower id");
    p.top_k = 4;
    CHECK(kept_mask(&p, logits, 8) == (BIT(1) | BIT(3) | BIT(2) | BIT(7)), "top-k 4");
    p.top_k = 8;
    CHECK(kept_mask(&p, logits, 8) == 0xff, "top-k = n keeps all");
    p.top_k = 100;
    CHECK(kept_mask(&p, logits, 8) == 0xff, "top-k > n keeps all");
    p.top_k = 0;
    CHECK(kept_mask(&p, logits, 8) == 0xff, "top-k 0 is off");

    /* best first, ties by id */
    kestrel_sampler *s = kestrel_sampler_new(&p, 8);
    kestrel_token ids[8];
    float kl[8];
    int n = kestrel_sampler_filter(s, logits, ids, kl);
    const kestrel_token order[8] = {1, 3, 2, 7, 4, 0, 5, 6};
    CHECK(n == 8 && memcmp(ids, order, sizeof order) == 0, "survivors come best first");
    CHECK(kl[0] == 5.0f && kl[7] == -1.0f, "survivor logits");
    kestrel_sampler_free(s);
}

static void test_top_p(void)
{
    float logits[5];
    five_way(logits);
    kestrel_sampler_params p = plain_params();
    /* sorted: id1 .5, id3 .2, id4 .15, id0 .1, id2 .05 */
    p.top_p = 0.4f;
    CHECK(kept_mask(&p, logits, 5) == BIT(1), "top-p 0.4");
    p.top_p = 0.5f - 1e-4f;
    CHECK(kept_mask(&p, logits, 5) == BIT(1), "top-p just under the first");
    p.top_p = 0.6f;
    CHECK(kept_mask(&p, logits, 5) == (BIT(1) | BIT(3)), "top-p 0.6");
    p.top_p = 0.75f;
    CHECK(kept_mask(&p, logits, 5) == (BIT(1) | BIT(3) | BIT(4)), "top-p 0.75");
    p.top_p = 0.9f;
    CHECK(kept_mask(&p, logits, 5) == (BIT(1) | BIT(3) | BIT(4) | BIT(0)), "top-p 0.9");
    p.top_p = 0.96f;
    CHECK(kept_mask(&p, logits, 5) == 0x1f, "top-p 0.96");
    p.top_p = 0.0f;
    CHECK(kept_mask(&p, logits, 5) == BIT(1), "top-p 0 keeps one");
    p.top_p = 1.0f;
    CHECK(kept_mask(&p, logits, 5) == 0x1f, "top-p 1 is off");

    /* after top-k 3 top-p renormalizes: .588 .235 .176, so 0.8 needs only two */
    p.top_k = 3;
    p.top_p = 0.8f;
    CHECK(kept_mask(&p, logits, 5) == (BIT(1) | BIT(3)), "top-p renormalizes after top-k");
}

static void test_min_p(void)
{
    float logits[5];
    five_way(logits);
    kestrel_sampler_params p = plain_params();
    p.min_p = 0.25f; /* threshold .125 */
    CHECK(kept_mask(&p, logits, 5) == (BIT(1) | BIT(3) | BIT(4)), "min-p 0.25");
    p.min_p = 0.15f; /* threshold .075 */
    CHECK(kept_mask(&p, logits, 5) == (BIT(1) | BIT(3) | BIT(4) | BIT(0)), "min-p 0.15");
    p.min_p = 0.05f;
    CHECK(kept_mask(&p, logits, 5) == 0x1f, "min-p 0.05");
    p.min_p = 0.5f; /* threshold .25 */
    CHECK(kept_mask(&p, logits, 5) == BIT(1), "min-p 0.5");
    p.min_p = 2.0f;
    CHECK(kept_mask(&p, logits, 5) == BIT(1), "min-p > 1 still keeps the best");

    p.min_p = 0.35f; /* keeps 2 */
    p.top_p = 0.75f; /* keeps 3 */
    CHECK(kept_mask(&p, logits, 5) == (BIT(1) | BIT(3)), "min-p narrower than top-p");
    p.min_p = 0.15f; /* keeps 4 */
    p.top_p = 0.6f;  /* keeps 2 */
    CHECK(kept_mask(&p, logits, 5) == (BIT(1) | BIT(3)), "top-p narrower than min-p");
    p.top_k = 1;
    CHECK(kept_mask(&p, logits, 5) == BIT(1), "top-k narrowest");
}

/* The chain written the obvious way (full sort, llama.cpp's order), to compare
 * against on random vocabularies. */
typedef struct {
    int id;
    float logit;
} ref_cand;

static int ref_cmp(const void *a, const void *b)
{
    const ref_cand *x = a, *y = b;
    if (x->logit != y->logit)
        return x->logit > y->logit ? -1 : 1;
    return x->id - y->id;
}

static int reference_filter(const float *logits, int n, const kestrel_sampler_params *p,
                            ref_cand *c)
{
    for (int i = 0; i < n; i++)
        c[i] = (ref_cand){i, logits[i]};
    qsort(c, (size_t)n, sizeof *c, ref_cmp);
    if (p->top_k > 0 && p->top_k < n)
        n = p->top_k;
    if (p->top_p < 1.0f) {
        float sum = 0.0f;
        for (int i = 0; i < n; i++)
            sum += expf(c[i].logit - c[0].logit);
        float cum = 0.0f;
        for (int i = 0; i < n; i++) {
            cum += expf(c[i].logit - c[0].logit) / sum;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        int i = 1;
        while (i < n && c[i].logit >= c[0].logit + logf(p->min_p))
            i++;
        n = i;
    }
    return n;
}

static void test_filters_match_reference(void)
{
    enum { N = 2000 };
    static float logits[N];
    static ref_cand ref[N];
    static kestrel_token ids[N];
    kestrel_rng rng;
    kestrel_rng_seed(&rng, 7);
    const int top_ks[] = {0, 1, 5, 40, 300, N};
    const float top_ps[] = {1.0f, 0.95f, 0.5f, 0.1f};
    const float min_ps[] = {0.0f, 0.05f, 0.3f};
    int mismatches = 0, cases = 0;
    for (int trial = 0; trial < 4; trial++) {
        float spread = 2.0f + 4.0f * (float)trial;
        for (int i = 0; i < N; i++)
            logits[i] = spread * (kestrel_rng_float(&rng) - 0.5f);
        logits[N / 2] = logits[N / 3]; /* ties, signed zeros, masked tokens */
        logits[N - 1] = logits[0];
        logits[3] = 0.0f;
        logits[N - 3] = -0.0f;
        logits[11] = logits[N - 11] = -INFINITY;
        for (size_t a = 0; a < sizeof top_ks / sizeof *top_ks; a++)
            for (size_t b = 0; b < sizeof top_ps / sizeof *top_ps; b++)
                for (size_t m = 0; m < sizeof min_ps / sizeof *min_ps; m++) {
                    kestrel_sampler_params p = plain_params();
                    p.top_k = top_ks[a];
                    p.top_p = top_ps[b];
                    p.min_p = min_ps[m];
                    int nr = reference_filter(logits, N, &p, ref);
                    kestrel_sampler *s = kestrel_sampler_new(&p, N);
                    int n = kestrel_sampler_filter(s, logits, ids, NULL);
                    kestrel_sampler_free(s);
                    bool same = n == nr;
                    for (int i = 0; same && i < n; i++)
                        same = ids[i] == ref[i].id;
                    if (!same && mismatches++ < 5)
                        fprintf(stderr, "k=%d p=%g min_p=%g: %d kept, reference %d\n", p.top_k,
                                (double)p.top_p, (double)p.min_p, n, nr);
                    cases++;
                }
    }
    CHECK(mismatches == 0, "%d of %d filter settings differ from the reference", mismatches, cases);
}

static float penalized_logit(kestrel_sampler *s, const float *logits, int n, kestrel_token id)
{
    static kestrel_token ids[64];
    static float kl[64];
    int k = kestrel_sampler_filter(s, logits, ids, kl);
    for (int i = 0; i < k && i < n; i++)
        if (ids[i] == id)
            return kl[i];
    return NAN;
}

static void test_penalties(void)
{
    const float logits[6] = {4.0f, -1.0f, 0.0f, 2.0f, 1.0f, 3.0f};
    kestrel_sampler_params p = plain_params();
    p.repeat_penalty = 2.0f;
    kestrel_sampler *s = kestrel_sampler_new(&p, 6);
    kestrel_sampler_accept(s, 0);
    kestrel_sampler_accept(s, 1);
    kestrel_sampler_accept(s, 2);
    kestrel_sampler_accept(s, 0);
    CHECK(penalized_logit(s, logits, 6, 0) == 2.0f, "positive logit divided");
    CHECK(penalized_logit(s, logits, 6, 1) == -2.0f, "negative logit multiplied");
    CHECK(penalized_logit(s, logits, 6, 2) == 0.0f, "zero logit stays");
    CHECK(penalized_logit(s, logits, 6, 3) == 2.0f, "unseen token untouched");
    kestrel_sampler_accept(s, 99); /* out of range: ignored */
    kestrel_sampler_accept(s, -1);
    kestrel_sampler_reset(s);
    CHECK(penalized_logit(s, logits, 6, 0) == 4.0f, "reset forgets history");
    kestrel_sampler_free(s);

    p.repeat_penalty = 1.0f;
    p.frequency_penalty = 0.5f;
    p.presence_penalty = 0.25f;
    s = kestrel_sampler_new(&p, 6);
    for (int i = 0; i < 3; i++)
        kestrel_sampler_accept(s, 3);
    kestrel_sampler_accept(s, 1);
    CHECK(penalized_logit(s, logits, 6, 3) == 2.0f - 1.5f - 0.25f, "frequency x3 + presence");
    CHECK(penalized_logit(s, logits, 6, 1) == -1.0f - 0.5f - 0.25f, "frequency x1 + presence");
    kestrel_sampler_free(s);

    /* all three at once: repeat first, then subtract */
    p.repeat_penalty = 1.5f;
    s = kestrel_sampler_new(&p, 6);
    kestrel_sampler_accept(s, 5);
    kestrel_sampler_accept(s, 5);
    CHECK(penalized_logit(s, logits, 6, 5) == 3.0f / 1.5f - 1.0f - 0.25f, "repeat then freq");
    kestrel_sampler_free(s);

    /* the window: only the last repeat_last_n tokens count */
    p = plain_params();
    p.frequency_penalty = 1.0f;
    p.repeat_last_n = 3;
    s = kestrel_sampler_new(&p, 6);
    const kestrel_token seq[] = {4, 5, 5, 3, 5};
    for (int i = 0; i < 5; i++)
        kestrel_sampler_accept(s, seq[i]); /* window now 5 3 5 */
    CHECK(penalized_logit(s, logits, 6, 4) == 1.0f, "token out of the window is free");
    CHECK(penalized_logit(s, logits, 6, 5) == 1.0f, "count 2 inside the window");
    CHECK(penalized_logit(s, logits, 6, 3) == 1.0f, "count 1 inside the window");
    for (int i = 0; i < 1000; i++)
        kestrel_sampler_accept(s, i % 6);
    /* the last three of 0..999 mod 6 are 1 2 3 */
    CHECK(penalized_logit(s, logits, 6, 2) == -1.0f && penalized_logit(s, logits, 6, 3) == 1.0f &&
              penalized_logit(s, logits, 6, 0) == 4.0f && penalized_logit(s, logits, 6, 5) == 3.0f,
          "window after wrapping");
    kestrel_sampler_free(s);

    p.repeat_last_n = -1; /* everything seen */
    s = kestrel_sampler_new(&p, 6);
    for (int i = 0; i < 100; i++)
        kestrel_sampler_accept(s, 0);
    CHECK(penalized_logit(s, logits, 6, 0) == 4.0f - 100.0f, "repeat_last_n -1 counts all");
    kestrel_sampler_free(s);

    p.repeat_last_n = 0; /* off */
    s = kestrel_sampler_new(&p, 6);
    kestrel_sampler_accept(s, 0);
    CHECK(penalized_logit(s, logits, 6, 0) == 4.0f, "repeat_last_n 0 is off");
    kestrel_sampler_free(s);
}

static void draw_n(kestrel_sampler *s, const float *logits, int n, kestrel_token *out)
{
    for (int i = 0; i < n; i++)
        out[i] = kestrel_sampler_sample(s, logits);
}

static void test_reproducible(void)
{
    enum { V = 100, DRAWS = 1000 };
    float logits[V];
    for (int i = 0; i < V; i++)
        logits[i] = sinf((float)i) * 2.0f;
    static kestrel_token a[DRAWS], b[DRAWS], c[DRAWS];
    kestrel_sampler_params p = kestrel_sampler_default_params();
    p.seed = 42;
    kestrel_sampler *s1 = kestrel_sampler_new(&p, V), *s2 = kestrel_sampler_new(&p, V);
    draw_n(s1, logits, DRAWS, a);
    draw_n(s2, logits, DRAWS, b);
    CHECK(memcmp(a, b, sizeof a) == 0, "same seed, same 1000 draws");
    kestrel_sampler_reset(s1);
    draw_n(s1, logits, DRAWS, c);
    CHECK(memcmp(a, c, sizeof a) == 0, "reset re-seeds");
    kestrel_sampler_free(s2);
    p.seed = 43;
    s2 = kestrel_sampler_new(&p, V);
    draw_n(s2, logits, DRAWS, b);
    CHECK(memcmp(a, b, sizeof a) != 0, "different seed, different draws");
    kestrel_sampler_free(s2);
    p.seed = 0;
    s2 = kestrel_sampler_new(&p, V);
    draw_n(s2, logits, DRAWS, b);
    CHECK(memcmp(a, b, sizeof a) != 0, "seed 0 is an ordinary seed");
    kestrel_sampler_free(s2);

    p.seed = KESTREL_SEED_RANDOM;
    s2 = kestrel_sampler_new(&p, V);
    kestrel_sampler *s3 = kestrel_sampler_new(&p, V);
    draw_n(s2, logits, DRAWS, b);
    draw_n(s3, logits, DRAWS, c);
    CHECK(memcmp(b, c, sizeof b) != 0, "two random seeds differ");
    kestrel_sampler_free(s1);
    kestrel_sampler_free(s2);
    kestrel_sampler_free(s3);
}

static void test_greedy(void)
{
    enum { V = 500 };
    float logits[V];
    kestrel_rng rng;
    kestrel_rng_seed(&rng, 99);
    kestrel_sampler_params p = kestrel_sampler_default_params();
    p.temp = 0.0f;
    kestrel_sampler *s = kestrel_sampler_new(&p, V);
    int wrong = 0;
    for (int t = 0; t < 50; t++) {
        for (int i = 0; i < V; i++)
            logits[i] = 10.0f * kestrel_rng_float(&rng);
        int best = 0;
        for (int i = 1; i < V; i++)
            best = logits[i] > logits[best] ? i : best;
        wrong += kestrel_sampler_sample(s, logits) != best;
    }
    CHECK(wrong == 0, "temp 0 is argmax (%d wrong)", wrong);

    for (int i = 0; i < V; i++)
        logits[i] = 1.0f;
    logits[7] = logits[300] = 2.0f;
    CHECK(kestrel_sampler_sample(s, logits) == 7, "argmax tie goes to the lower id");
    p.temp = -1.0f;
    kestrel_sampler *neg = kestrel_sampler_new(&p, V);
    CHECK(kestrel_sampler_sample(neg, logits) == 7, "negative temp is greedy too");
    kestrel_sampler_free(neg);
    kestrel_sampler_free(s);

    /* greedy sees the penalties */
    p.temp = 0.0f;
    p.repeat_penalty = 1.5f;
    s = kestrel_sampler_new(&p, V);
    kestrel_sampler_accept(s, 7);
    CHECK(kestrel_sampler_sample(s, logits) == 300, "penalty moves the argmax");
    kestrel_sampler_free(s);

    /* a near-zero temperature agrees with greedy */
    p = kestrel_sampler_default_params();
    p.temp = 1e-3f;
    p.seed = 5;
    s = kestrel_sampler_new(&p, V);
    logits[300] = 2.5f;
    int hits = 0;
    for (int i = 0; i < 100; i++)
        hits += kestrel_sampler_sample(s, logits) == 300;
    CHECK(hits == 100, "tiny temperature always picks the max (%d/100)", hits);
    kestrel_sampler_free(s);
}

/* Pearson's chi-square of observed counts against expected probabilities. */
static double chi_square(const int *counts, const double *probs, int n, int total)
{
    double chi = 0.0;
    for (int i = 0; i < n; i++) {
        double e = probs[i] * total;
        chi += (counts[i] - e) * (counts[i] - e) / e;
    }
    return chi;
}

static void test_distribution(void)
{
    enum { V = 8, DRAWS = 100000 };
    const float logits[V] = {1.0f, 0.5f, -0.3f, 2.0f, 0.0f, 1.5f, -1.0f, 0.8f};
    const float temp = 0.7f;
    double probs[V], sum = 0.0;
    for (int i = 0; i < V; i++)
        sum += probs[i] = exp((double)logits[i] / temp);
    for (int i = 0; i < V; i++)
        probs[i] /= sum;

    kestrel_sampler_params p = plain_params();
    p.temp = temp;
    p.seed = 2024;
    kestrel_sampler *s = kestrel_sampler_new(&p, V);
    int counts[V] = {0};
    for (int i = 0; i < DRAWS; i++)
        counts[kestrel_sampler_sample(s, logits)]++;
    kestrel_sampler_free(s);
    double chi = chi_square(counts, probs, V, DRAWS);
    /* 7 degrees of freedom: 24.32 is the 0.1% tail */
    CHECK(chi < 24.32, "draws follow softmax(logits/T): chi-square %.2f", chi);
    printf("softmax draws: chi-square %.2f (7 dof)\n", chi);

    /* top-k 3 then T: only ids 3 5 0, renormalized */
    p.top_k = 3;
    s = kestrel_sampler_new(&p, V);
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < DRAWS; i++)
        counts[kestrel_sampler_sample(s, logits)]++;
    kestrel_sampler_free(s);
    const int top[3] = {3, 5, 0};
    int top_counts[3], outside = DRAWS;
    double top_probs[3], top_sum = probs[3] + probs[5] + probs[0];
    for (int i = 0; i < 3; i++) {
        top_counts[i] = counts[top[i]];
        top_probs[i] = probs[top[i]] / top_sum;
        outside -= top_counts[i];
    }
    CHECK(outside == 0, "top-k 3 never draws outside the three (%d did)", outside);
    chi = chi_square(top_counts, top_probs, 3, DRAWS);
    CHECK(chi < 13.82, "top-k 3 draws renormalized: chi-square %.2f (2 dof)", chi);

    /* draws stay inside what top-p and min-p keep */
    float five[5];
    five_way(five);
    p = plain_params();
    p.top_p = 0.75f; /* keeps ids 1 3 4 */
    p.min_p = 0.1f;
    s = kestrel_sampler_new(&p, 5);
    int seen[5] = {0};
    for (int i = 0; i < 10000; i++)
        seen[kestrel_sampler_sample(s, five)]++;
    kestrel_sampler_free(s);
    CHECK(seen[0] == 0 && seen[2] == 0 && seen[1] > 0 && seen[3] > 0 && seen[4] > 0,
          "top-p draws only from its set: %d %d %d %d %d", seen[0], seen[1], seen[2], seen[3],
          seen[4]);
}

static void test_inputs_untouched(void)
{
    enum { V = 1000 };
    static float logits[V], copy[V];
    static kestrel_token ids[V];
    for (int i = 0; i < V; i++)
        logits[i] = cosf((float)i * 0.37f) * 5.0f;
    logits[10] = NAN; /* never chosen */
    memcpy(copy, logits, sizeof logits);
    kestrel_sampler_params p = kestrel_sampler_default_params();
    p.seed = 3;
    p.repeat_penalty = 1.3f;
    p.frequency_penalty = 0.2f;
    kestrel_sampler *s = kestrel_sampler_new(&p, V);
    int nan_picked = 0;
    for (int i = 0; i < 200; i++) {
        kestrel_token t = kestrel_sampler_sample(s, logits);
        nan_picked += t == 10;
        kestrel_sampler_accept(s, t);
    }
    kestrel_sampler_filter(s, logits, ids, NULL);
    CHECK(memcmp(logits, copy, sizeof logits) == 0, "caller's logits not modified");
    CHECK(nan_picked == 0, "a NaN logit is never drawn");
    kestrel_sampler_free(s);

    p.temp = 0.0f;
    for (int i = 0; i < V; i++)
        logits[i] = NAN;
    logits[500] = -INFINITY;
    s = kestrel_sampler_new(&p, V);
    kestrel_token g = kestrel_sampler_sample(s, logits);
    CHECK(g >= 0 && g < V, "all-NaN logits still give a token");
    kestrel_sampler_free(s);

    p.temp = 1.0f;
    for (int i = 0; i < V; i++)
        logits[i] = -INFINITY;
    logits[77] = INFINITY;
    s = kestrel_sampler_new(&p, V);
    CHECK(kestrel_sampler_sample(s, logits) == 77, "+inf logit wins");
    logits[77] = -INFINITY;
    g = kestrel_sampler_sample(s, logits);
    CHECK(g >= 0 && g < V, "all -inf logits still give a token");
    kestrel_sampler_free(s);
}

static void time_large_vocab(void)
{
    enum { V = 128256, DRAWS = 200 };
    float *logits = malloc(V * sizeof *logits);
    kestrel_rng rng;
    kestrel_rng_seed(&rng, 11);
    for (int i = 0; i < V; i++)
        logits[i] = 8.0f * kestrel_rng_float(&rng) - 4.0f;
    kestrel_sampler_params p = kestrel_sampler_default_params();
    p.seed = 1;
    p.repeat_penalty = 1.1f;
    kestrel_sampler *s = kestrel_sampler_new(&p, V);
    for (int i = 0; i < 20; i++) /* warm up: first touch of the arrays */
        kestrel_sampler_accept(s, kestrel_sampler_sample(s, logits));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < DRAWS; i++)
        kestrel_sampler_accept(s, kestrel_sampler_sample(s, logits));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3;
    printf("default chain on %d logits: %.1f us/token\n", V, us / DRAWS);
    p.top_k = 0;
    kestrel_sampler *s2 = kestrel_sampler_new(&p, V);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < DRAWS / 10; i++)
        kestrel_sampler_sample(s2, logits);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3;
    printf("top-k off on %d logits: %.1f us/token\n", V, us / (DRAWS / 10));
    kestrel_sampler_free(s);
    kestrel_sampler_free(s2);
    free(logits);
}

int main(void)
{
    test_defaults_and_errors();
    test_top_k();
    test_top_p();
    test_min_p();
    test_filters_match_reference();
    test_penalties();
    test_reproducible();
    test_greedy();
    test_distribution();
    test_inputs_untouched();
    time_large_vocab();
    return test_report();
}
