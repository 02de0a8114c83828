/* The sampler chain, with llama.cpp's semantics and default order:
 * penalties → top-k → top-p → min-p → temperature → draw from the softmax.
 *
 * Everything is allocated in kestrel_sampler_new; sampling a token touches only
 * those arrays. Ties are broken by the lower token id everywhere, so results do
 * not depend on sort stability. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "kestrel.h"
#include "rng.h"
#include "sampler_internal.h"

typedef struct {
    kestrel_token id;
    float logit;
} candidate;

struct kestrel_sampler {
    kestrel_sampler_params params;
    int n_vocab;
    bool penalties_on;
    candidate *cand;         /* n_vocab working candidates */
    candidate *scratch;      /* n_vocab, for the radix sort */
    int32_t *counts;         /* n_vocab: occurrences of each token in the window */
    uint64_t *in_window;     /* bit per token: counts[id] > 0, small enough for L1 */
    kestrel_token *window;   /* ring of the last repeat_last_n tokens; NULL when unbounded */
    int window_len, window_head;
    kestrel_rng rng;
};

kestrel_sampler_params kestrel_sampler_default_params(void)
{
    kestrel_sampler_params p = {
        .temp = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .frequency_penalty = 0.0f,
        .presence_penalty = 0.0f,
        .seed = KESTREL_SEED_RANDOM,
    };
    return p;
}

/* A seed nobody chose: /dev/urandom when it can be read, mixed with the clock,
 * the pid and a counter so two samplers made in the same instant still differ. */
static uint64_t random_seed(void)
{
    static atomic_uint_fast64_t calls;
    uint64_t seed = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        if (fread(&seed, sizeof seed, 1, f) != 1)
            seed = 0;
        fclose(f);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t mix = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
    mix ^= (uint64_t)getpid() << 32;
    mix += atomic_fetch_add(&calls, 1);
    return seed ^ kestrel_splitmix64(&mix);
}

static void reseed(kestrel_sampler *s)
{
    uint64_t seed = s->params.seed == KESTREL_SEED_RANDOM ? random_seed() : s->params.seed;
    kestrel_rng_seed(&s->rng, seed);
}

kestrel_sampler *kestrel_sampler_new(const kestrel_sampler_params *params, int n_vocab)
{
    kestrel_sampler_params p = params ? *params : kestrel_sampler_default_params();
    if (n_vocab <= 0) {
        kestrel_fail("sampler", "n_vocab must be positive, got %d", n_vocab);
        return NULL;
    }
    if (p.repeat_last_n < -1) {
        kestrel_fail("sampler", "repeat_last_n must be -1 (all) or >= 0, got %d", p.repeat_last_n);
        return NULL;
    }
    kestrel_sampler *s = calloc(1, sizeof *s);
    if (!s) {
        kestrel_fail("sampler", "out of memory");
        return NULL;
    }
    s->params = p;
    s->n_vocab = n_vocab;
    s->penalties_on = p.repeat_last_n != 0 &&
                      (p.repeat_penalty != 1.0f || p.frequency_penalty != 0.0f ||
                       p.presence_penalty != 0.0f);
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->scratch = malloc((size_t)n_vocab * sizeof *s->scratch);
    s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
    s->in_window = calloc(((size_t)n_vocab + 63) / 64, sizeof *s->in_window);
    if (p.repeat_last_n > 0)
        s->window = malloc((size_t)p.repeat_last_n * sizeof *s->window);
    if (!s->cand || !s->scratch || !s->counts || !s->in_window || (p.repeat_last_n > 0 && !s->window)) {
        kestrel_sampler_free(s);
        kestrel_fail("sampler", "out of memory for a vocabulary of %d", n_vocab);
        return NULL;
    }
    reseed(s);
    return s;
}

void kestrel_sampler_free(kestrel_sampler *s)
{
    if (!s)
        return;
    free(s->cand);
    free(s->scratch);
    free(s->counts);
    free(s->in_window);
    free(s->window);
    free(s);
}

void kestrel_sampler_accept(kestrel_sampler *s, kestrel_token token)
{
    if (token < 0 || token >= s->n_vocab || s->params.repeat_last_n == 0)
        return;
    if (s->counts[token]++ == 0)
        s->in_window[token >> 6] |= 1ull << (token & 63);
    if (!s->window)
        return; /* repeat_last_n == -1: every token seen stays counted */
    int cap = s->params.repeat_last_n;
    if (s->window_len < cap) {
        s->window[(s->window_head + s->window_len) % cap] = token;
        s->window_len++;
    } else {
        kestrel_token old = s->window[s->window_head];
        if (--s->counts[old] == 0)
            s->in_window[old >> 6] &= ~(1ull << (old & 63));
        s->window[s->window_head] = token;
        s->window_head = (s->window_head + 1) % cap;
    }
}

void kestrel_sampler_reset(kestrel_sampler *s)
{
    memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    memset(s->in_window, 0, ((size_t)s->n_vocab + 63) / 64 * sizeof *s->in_window);
    s->window_len = 0;
    s->window_head = 0;
    reseed(s);
}

/* ---- the chain ------------------------------------------------------------------ */

/* Repeat penalty pushes toward less likely whatever the sign: divide positive
 * logits, multiply the others. Then frequency and presence subtract. */
static float penalized(const kestrel_sampler *s, kestrel_token id, float logit)
{
    if (logit != logit)
        return -INFINITY; /* a NaN would break the ordering everything relies on */
    if (!s->penalties_on || s->counts[id] == 0)
        return logit;
    const kestrel_sampler_params *p = &s->params;
    int count = s->counts[id];
    logit = logit <= 0.0f ? logit * p->repeat_penalty : logit / p->repeat_penalty;
    logit -= (float)count * p->frequency_penalty + p->presence_penalty;
    return logit != logit ? -INFINITY : logit;
}

/* Higher logit first, then lower id: a strict total order. */
static bool better(const candidate *a, const candidate *b)
{
    return a->logit > b->logit || (a->logit == b->logit && a->id < b->id);
}

/* Heap whose root is the worst element (each parent no better than its children). */
static void sift_down(candidate *h, int n, int i)
{
    for (;;) {
        int worst = i, l = 2 * i + 1, r = l + 1;
        if (l < n && better(&h[worst], &h[l]))
            worst = l;
        if (r < n && better(&h[worst], &h[r]))
            worst = r;
        if (worst == i)
            return;
        candidate t = h[i];
        h[i] = h[worst];
        h[worst] = t;
        i = worst;
    }
}

static void heapify(candidate *c, int n)
{
    for (int i = n / 2 - 1; i >= 0; i--)
        sift_down(c, n, i);
}

/* Heapsort; the worst goes to the back each step, so the front ends up best. */
static void sort_heap(candidate *c, int n)
{
    for (int end = n - 1; end > 0; end--) {
        candidate t = c[0];
        c[0] = c[end];
        c[end] = t;
        sift_down(c, end, 0);
    }
}

/* A float's bits as an unsigned key that sorts descending by value (-0 as +0,
 * so it ties with 0 the way `better` says). */
static uint32_t descending_key(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if (u == 0x80000000u)
        u = 0;
    uint32_t ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~ascending;
}

/* Sorts c[0..n) best first. c must be in ascending id order: the radix sort is
 * stable, which then breaks ties by the lower id, the same order as `better`.
 * Large sets go through four 8-bit LSD passes (O(n), scratch preallocated);
 * small ones through the heap. */
static void sort_best_first(kestrel_sampler *s, candidate *c, int n)
{
    if (n <= 512) {
        heapify(c, n);
        sort_heap(c, n);
        return;
    }
    uint32_t hist[4][256];
    memset(hist, 0, sizeof hist);
    for (int i = 0; i < n; i++) {
        uint32_t key = descending_key(c[i].logit);
        for (int d = 0; d < 4; d++)
            hist[d][(key >> (8 * d)) & 255]++;
    }
    candidate *src = c, *dst = s->scratch;
    for (int d = 0; d < 4; d++) {
        uint32_t sum = 0;
        bool one_bucket = false;
        for (int b = 0; b < 256; b++) {
            uint32_t count = hist[d][b];
            one_bucket |= count == (uint32_t)n;
            hist[d][b] = sum;
            sum += count;
        }
        if (one_bucket)
            continue; /* every key has this digit: the pass would change nothing */
        for (int i = 0; i < n; i++) {
            uint32_t digit = (descending_key(src[i].logit) >> (8 * d)) & 255;
            dst[hist[d][digit]++] = src[i];
        }
        candidate *t = src;
        src = dst;
        dst = t;
    }
    if (src != c)
        memcpy(c, src, (size_t)n * sizeof *c);
}

/* top-k straight from the logits: a heap of the k best so far, whose root (the
 * k-th best) most logits fail to beat with a single comparison. O(n log k) at
 * worst, about n in practice, and only k candidates are ever written. Later ids
 * never beat an equal logit, so ties keep the lower id. */
static void load_top_k(kestrel_sampler *s, const float *logits, int k)
{
    candidate *c = s->cand;
    for (int i = 0; i < k; i++) {
        c[i].id = i;
        c[i].logit = penalized(s, i, logits[i]);
    }
    heapify(c, k);
    const bool penalties_on = s->penalties_on;
    const uint64_t *in_window = s->in_window;
    float kth = c[0].logit;
    for (int i = k; i < s->n_vocab; i++) {
        float l = logits[i];
        if (penalties_on && (in_window[i >> 6] >> (i & 63) & 1))
            l = penalized(s, i, l);
        if (l > kth) { /* false for NaN too */
            c[0].id = i;
            c[0].logit = l;
            sift_down(c, k, 0);
            kth = c[0].logit;
        }
    }
    sort_heap(c, k);
}

/* exp(logit - max) that stays defined when both are the same infinity. */
static float weight(float logit, float max)
{
    return logit >= max ? 1.0f : expf(logit - max);
}

/* Penalties, top-k, top-p, min-p into s->cand. Returns the survivor count and
 * whether they are sorted best first.
 *
 * top-p keeps the shortest sorted prefix whose probability reaches p; min-p
 * keeps logit >= max + log(min_p), also a sorted prefix (the max is the same
 * before and after top-p). The result is the shorter prefix, so min-p is applied
 * first here, which leaves less to sort; top-p still normalizes over the whole
 * set it would have seen. */
static int apply_filters(kestrel_sampler *s, const float *logits, bool *sorted_out)
{
    const kestrel_sampler_params *p = &s->params;
    candidate *c = s->cand;
    int n = s->n_vocab;
    bool sorted = false;

    if (p->top_k > 0 && p->top_k < n) {
        load_top_k(s, logits, p->top_k);
        n = p->top_k;
        sorted = true;
    } else {
        for (int i = 0; i < n; i++) {
            c[i].id = i;
            c[i].logit = penalized(s, i, logits[i]);
        }
    }

    bool top_p_on = p->top_p < 1.0f;
    bool min_p_on = p->min_p > 0.0f;
    if (top_p_on || min_p_on) {
        float max = c[0].logit;
        for (int i = 1; i < n && !sorted; i++)
            max = c[i].logit > max ? c[i].logit : max;

        int n_before = n;
        if (min_p_on) {
            float threshold = max + logf(p->min_p);
            if (threshold > max)
                threshold = max; /* min_p > 1: still keep the best */
            /* Survivors to the front in their order; the rest stay behind them
             * because top-p still counts them in its normalizer. */
            int kept = 0;
            for (int i = 0; i < n; i++) {
                if (c[i].logit >= threshold) {
                    candidate t = c[kept];
                    c[kept++] = c[i];
                    c[i] = t;
                }
            }
            n = kept;
        }

        if (top_p_on) {
            if (!sorted) {
                sort_best_first(s, c, n);
                sorted = true;
            }
            /* Summed best first like llama.cpp (the survivors are the sorted
             * prefix), so the float rounding at the cut matches too. */
            float sum = 0.0f;
            for (int i = 0; i < n_before; i++)
                sum += weight(c[i].logit, max);
            float cum = 0.0f;
            for (int i = 0; i < n; i++) {
                cum += weight(c[i].logit, max) / sum;
                if (cum >= p->top_p) {
                    n = i + 1;
                    break;
                }
            }
        }
    }
    *sorted_out = sorted;
    return n;
}

/* temp <= 0: the highest penalized logit, lowest id on ties. The filters never
 * drop it, so they can be skipped. */
static kestrel_token greedy(const kestrel_sampler *s, const float *logits)
{
    const bool penalties_on = s->penalties_on;
    const uint64_t *in_window = s->in_window;
    kestrel_token best = 0;
    float best_logit = -INFINITY;
    for (int i = 0; i < s->n_vocab; i++) {
        float l = logits[i];
        if (penalties_on && (in_window[i >> 6] >> (i & 63) & 1))
            l = penalized(s, i, l);
        if (l > best_logit) { /* false for NaN */
            best_logit = l;
            best = i;
        }
    }
    return best;
}

kestrel_token kestrel_sampler_sample(kestrel_sampler *s, const float *logits)
{
    if (!(s->params.temp > 0.0f))
        return greedy(s, logits);

    bool sorted;
    int n = apply_filters(s, logits, &sorted);
    candidate *c = s->cand;

    /* temperature, then the softmax weights in place of the logits */
    float max = -INFINITY;
    for (int i = 0; i < n; i++) {
        c[i].logit /= s->params.temp;
        max = c[i].logit > max ? c[i].logit : max;
    }
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        c[i].logit = weight(c[i].logit, max);
        total += c[i].logit;
    }

    double r = kestrel_rng_double(&s->rng) * total;
    double cum = 0.0;
    int last_nonzero = 0;
    for (int i = 0; i < n; i++) {
        if (c[i].logit > 0.0f)
            last_nonzero = i;
        cum += c[i].logit;
        if (r < cum)
            return c[i].id;
    }
    return c[last_nonzero].id; /* r rounded up to total */
}

int kestrel_sampler_filter(kestrel_sampler *s, const float *logits, kestrel_token *kept_ids,
                           float *kept_logits)
{
    bool sorted;
    int n = apply_filters(s, logits, &sorted);
    if (!sorted)
        sort_best_first(s, s->cand, n);
    for (int i = 0; i < n; i++) {
        kept_ids[i] = s->cand[i].id;
        if (kept_logits)
            kept_logits[i] = s->cand[i].logit;
    }
    return n;
}

/* ---- for speculative decoding (src/speculative.c) -------------------------------- */

int kestrel_sampler_probs(kestrel_sampler *s, const float *logits, kestrel_token *ids, float *probs)
{
    if (!(s->params.temp > 0.0f)) {
        ids[0] = greedy(s, logits);
        probs[0] = 1.0f;
        return 1;
    }
    bool sorted;
    int n = apply_filters(s, logits, &sorted);
    const candidate *c = s->cand;
    /* the same arithmetic as kestrel_sampler_sample: scale, float weights, double total */
    float max = -INFINITY;
    for (int i = 0; i < n; i++) {
        float l = c[i].logit / s->params.temp;
        max = l > max ? l : max;
    }
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        probs[i] = weight(c[i].logit / s->params.temp, max);
        total += probs[i];
    }
    for (int i = 0; i < n; i++) {
        ids[i] = c[i].id;
        probs[i] = (float)(probs[i] / total);
    }
    return n;
}

double kestrel_sampler_uniform(kestrel_sampler *s)
{
    return kestrel_rng_double(&s->rng);
}

void kestrel_sampler_clear_history(kestrel_sampler *s)
{
    memset(s->counts, 0, (size_t)s->n_vocab * sizeof *s->counts);
    memset(s->in_window, 0, ((size_t)s->n_vocab + 63) / 64 * sizeof *s->in_window);
    s->window_len = 0;
    s->window_head = 0;
}

bool kestrel_sampler_has_penalties(const kestrel_sampler *s)
{
    return s->penalties_on;
}
