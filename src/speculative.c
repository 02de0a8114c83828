/* Speculative decoding: a draft proposes up to k tokens, the target evaluates the
 * last committed token and the k proposals in one batched decode, and the
 * longest prefix the target agrees with is kept, plus one token of the target's
 * own. Both KV caches "roll back" by position bookkeeping alone: a cache row is
 * overwritten when its position is evaluated again.
 *
 * Exactness. At temperature 0 a proposal is kept iff it is the target's greedy
 * token, so the output is the target's, provided a token's logits do not depend
 * on the batch it was evaluated in (tests/test_speculative.c checks that with
 * memcmp). Above 0 this is the modified rejection sampling of Leviathan et al.
 * (2023) and Chen et al. (2023): with p and q the target's and the draft's
 * distributions after the whole sampler chain, proposal x ~ q is kept with
 * probability min(1, p(x) / q(x)); on rejection the token is drawn from
 * norm(max(0, p - q)); when every proposal is kept the extra token is drawn from
 * p. Each emitted token then has exactly the target's distribution.
 *
 * Draft length. llama.cpp's semantics (--draft-max, --draft-min, --draft-p-min)
 * plus, by default, an adaptive cap: the length k that maximizes the expected
 * tokens per second, E(k) / cost(k), where E(k) = (1 - a^(k+1)) / (1 - a) for a
 * per-token acceptance rate a (a decayed running estimate) and cost(k) = k
 * draft steps + one target pass over k + 1 tokens, both timed as they run. A
 * target pass is timed per batch size (kernels make that far from linear);
 * a size not seen yet is estimated from the largest smaller size seen, each
 * extra token adding a quarter of that size's per-token time (weights are read
 * once per pass), so a draft length gets tried, timed, and kept or dropped. */
#include "speculative.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "context.h"
#include "error.h"
#include "model.h"
#include "ops.h"
#include "sampler_internal.h"
#include "vocab.h"

#define VOCAB_SIZE_TOLERANCE 128 /* as llama.cpp's speculative example */
#define VOCAB_FIRST_CHECKED 5    /* ids below this may be control tokens that differ */
#define DECAY 0.92               /* weight of the past per round in the running estimates */

struct kestrel_spec {
    kestrel_spec_params prm;
    kestrel_context *tgt, *dft;
    const kestrel_model *tm;
    int n_vocab, n_vocab_d, n_dense;
    kestrel_sampler *ts, *ds;
    bool greedy;       /* the target samples greedily */
    bool draft_greedy;
    int draft_window;  /* tokens of history the draft's penalties look at; -1 all */

    kestrel_token *hist; /* prompt and generated tokens */
    int n_hist, cap_hist;
    int dft_past;        /* draft cache rows [0, dft_past) hold hist */
    bool done, full;

    kestrel_token *draft; /* this round's proposals */
    kestrel_token *q_ids; /* [n_max][n_vocab_d]: the draft distribution of each proposal */
    float *q_probs;
    float *conf_buf; /* [n_vocab_d]: the exponentials of top_prob (greedy drafts with a p-min) */
    int *q_n;
    kestrel_token *p_ids; /* target distribution, n_vocab */
    float *p_probs;
    float *dense;         /* n_dense zeros between uses */
    kestrel_token *batch; /* n_max + 1 */
    kestrel_token *dbuf;  /* draft catch-up input, cap_hist */

    /* adaptive length */
    double acc_s, acc_f;          /* decayed accepted / rejected proposal counts */
    double td_ms;                 /* one draft step, running mean */
    bool td_known;
    double *tv;                   /* [n_max + 2]: running mean ms of a target pass over b tokens; 0 unseen */
    double *tv_est;               /* [n_max + 2]: scratch for the estimates */
    int n_obs, plain_streak;
    kestrel_spec_stats st;
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

kestrel_spec_params kestrel_spec_default_params(void)
{
    kestrel_spec_params p = {
        .n_max = 16, .n_min = 5, .p_min = 0.9f, .adaptive = true,
        .lookup = false, .ngram_max = 3, .ngram_min = 1, .draft_sampler = NULL,
    };
    return p;
}

/* ---- vocabulary compatibility ---------------------------------------------------- */

int kestrel_spec_check_vocab(const kestrel_model *t, const kestrel_model *d)
{
    const vocab *vt = t->vocab, *vd = d->vocab;
    const int nt = vocab_n_tokens(vt), nd = vocab_n_tokens(vd);
    if (vocab_get_kind(vt) != vocab_get_kind(vd))
        return kestrel_fail(d->name, "the draft's tokenizer type differs from the target's");
    if (abs(nt - nd) > VOCAB_SIZE_TOLERANCE)
        return kestrel_fail(d->name, "the draft has %d tokens and the target %d: more than %d apart", nd, nt,
                            VOCAB_SIZE_TOLERANCE);
    if (vocab_bos(vt) != vocab_bos(vd) || vocab_eos(vt) != vocab_eos(vd) || vocab_add_bos(vt) != vocab_add_bos(vd) ||
        vocab_add_eos(vt) != vocab_add_eos(vd))
        return kestrel_fail(d->name, "special tokens differ from the target's (BOS %d/%d, EOS %d/%d, add_bos %d/%d)",
                            vocab_bos(vd), vocab_bos(vt), vocab_eos(vd), vocab_eos(vt), vocab_add_bos(vd),
                            vocab_add_bos(vt));
    const int n = nt < nd ? nt : nd;
    for (int id = VOCAB_FIRST_CHECKED; id < n; id++) {
        size_t lt, ld;
        const char *st = vocab_text(vt, id, &lt), *sd = vocab_text(vd, id, &ld);
        if (lt != ld || memcmp(st, sd, lt) != 0)
            return kestrel_fail(d->name, "token %d is '%.*s' in the draft but '%.*s' in the target", id,
                                (int)(ld > 40 ? 40 : ld), sd, (int)(lt > 40 ? 40 : lt), st);
    }
    return 0;
}

/* ---- life cycle ------------------------------------------------------------------- */

kestrel_spec *kestrel_spec_new(kestrel_context *target, kestrel_context *draft, const kestrel_spec_params *params,
                               const kestrel_sampler_params *sampler)
{
    kestrel_spec_params p = params ? *params : kestrel_spec_default_params();
    kestrel_sampler_params sp = sampler ? *sampler : kestrel_sampler_default_params();
    if (p.n_max < 0 || p.n_max > 256 || p.n_min < 0 || p.ngram_min < 1 || p.ngram_max < p.ngram_min) {
        kestrel_fail("speculative", "bad parameters (draft max %d, min %d, n-grams %d..%d)", p.n_max, p.n_min,
                     p.ngram_min, p.ngram_max);
        return NULL;
    }
    if (!p.lookup && !draft) {
        kestrel_fail("speculative", "no draft model and no lookup");
        return NULL;
    }
    if (p.lookup)
        draft = NULL;
    if (draft && kestrel_spec_check_vocab(target->model, draft->model))
        return NULL;
    if (p.n_max + 1 > target->n_batch) {
        kestrel_fail("speculative", "a target batch holds %d tokens, fewer than draft max %d + 1", target->n_batch,
                     p.n_max);
        return NULL;
    }
    kestrel_spec *s = calloc(1, sizeof *s);
    if (!s) {
        kestrel_fail("speculative", "out of memory");
        return NULL;
    }
    s->prm = p;
    s->tgt = target;
    s->dft = draft;
    s->tm = target->model;
    s->n_vocab = target->model->hp.n_vocab;
    s->n_vocab_d = draft ? draft->model->hp.n_vocab : s->n_vocab;
    s->n_dense = s->n_vocab > s->n_vocab_d ? s->n_vocab : s->n_vocab_d;
    s->greedy = !(sp.temp > 0.0f);
    kestrel_sampler_params dp = p.draft_sampler ? *p.draft_sampler : sp;
    if (!p.draft_sampler && sp.seed != KESTREL_SEED_RANDOM)
        dp.seed = sp.seed ^ 0x5bd1e995u; /* its own stream */
    s->draft_greedy = !(dp.temp > 0.0f);
    s->draft_window = dp.repeat_last_n;
    s->ts = kestrel_sampler_new(&sp, s->n_vocab);
    s->ds = kestrel_sampler_new(&dp, s->n_vocab_d);
    s->cap_hist = target->n_ctx + 2;
    s->hist = malloc((size_t)s->cap_hist * sizeof *s->hist);
    s->dbuf = malloc((size_t)s->cap_hist * sizeof *s->dbuf);
    const size_t nm = (size_t)(p.n_max > 0 ? p.n_max : 1);
    s->draft = malloc(nm * sizeof *s->draft);
    s->batch = malloc((nm + 1) * sizeof *s->batch);
    s->q_n = calloc(nm, sizeof *s->q_n);
    const size_t q_width = draft ? (size_t)s->n_vocab_d : 1;
    s->q_ids = malloc(nm * q_width * sizeof *s->q_ids);
    s->q_probs = malloc(nm * q_width * sizeof *s->q_probs);
    s->conf_buf = malloc(q_width * sizeof *s->conf_buf);
    s->p_ids = malloc((size_t)s->n_vocab * sizeof *s->p_ids);
    s->p_probs = malloc((size_t)s->n_vocab * sizeof *s->p_probs);
    s->dense = calloc((size_t)s->n_dense, sizeof *s->dense);
    s->tv = calloc(nm + 2, sizeof *s->tv);
    s->tv_est = calloc(nm + 2, sizeof *s->tv_est);
    if (!s->tv || !s->tv_est ||!s->ts || !s->ds || !s->hist || !s->dbuf || !s->draft || !s->batch || !s->q_n || !s->q_ids || !s->q_probs || !s->conf_buf ||
        !s->p_ids || !s->p_probs || !s->dense) {
        kestrel_spec_free(s);
        kestrel_fail("speculative", "out of memory");
        return NULL;
    }
    s->acc_s = s->acc_f = 1.0;
    s->done = true;
    return s;
}

void kestrel_spec_free(kestrel_spec *s)
{
    if (!s)
        return;
    kestrel_sampler_free(s->ts);
    kestrel_sampler_free(s->ds);
    free(s->hist);
    free(s->dbuf);
    free(s->draft);
    free(s->batch);
    free(s->q_n);
    free(s->q_ids);
    free(s->q_probs);
    free(s->conf_buf);
    free(s->p_ids);
    free(s->p_probs);
    free(s->dense);
    free(s->tv);
    free(s->tv_est);
    free(s);
}

int kestrel_spec_begin(kestrel_spec *s, const kestrel_token *prompt, int n)
{
    if (n < 1 || n > s->tgt->n_ctx)
        return kestrel_fail("speculative", "a prompt of %d tokens does not fit a context of %d", n, s->tgt->n_ctx);
    memcpy(s->hist, prompt, (size_t)n * sizeof *prompt);
    s->n_hist = n;
    kestrel_sampler_clear_history(s->ts);
    for (int i = 0; i < n; i++)
        kestrel_sampler_accept(s->ts, prompt[i]);
    /* The target reads all but the last prompt token now; the last one opens the first verify batch. */
    if (n > 1) {
        double t0 = now_ms();
        if (kestrel_decode(s->tgt, prompt, n - 1, 0, false))
            return -1;
        s->st.t_target_ms += now_ms() - t0;
    }
    s->dft_past = 0;
    if (s->dft && n > 1 && n - 1 <= s->dft->n_ctx) { /* the draft reads the prompt now too */
        for (int i = 0; i < n - 1; i++)
            s->dbuf[i] = prompt[i] < s->n_vocab_d ? prompt[i] : 0;
        double t0 = now_ms();
        if (kestrel_decode(s->dft, s->dbuf, n - 1, 0, false))
            return -1;
        s->st.t_draft_ms += now_ms() - t0;
        s->dft_past = n - 1;
    }
    s->done = false;
    s->full = false;
    return 0;
}

bool kestrel_spec_context_full(const kestrel_spec *s) { return s->full; }

void kestrel_spec_get_stats(const kestrel_spec *s, kestrel_spec_stats *out)
{
    *out = s->st;
}

/* ---- drafting --------------------------------------------------------------------- */

int spec_lookup_draft(const kestrel_token *hist, int n, int ngram_max, int ngram_min, int max, kestrel_token *out)
{
    if (max <= 0)
        return 0;
    for (int g = ngram_max < n - 1 ? ngram_max : n - 1; g >= ngram_min && g >= 1; g--) {
        const kestrel_token *pat = hist + n - g;
        for (int j = n - g - 1; j >= 0; j--) {
            if (hist[j] != pat[0] || memcmp(hist + j, pat, (size_t)g * sizeof *pat) != 0)
                continue;
            /* What followed, continued periodically past the end: the match says
             * the text repeats with period n - g - j. */
            const int period = n - g - j;
            for (int i = 0; i < max; i++)
                out[i] = j + g + i < n ? hist[j + g + i] : out[i - period];
            return max;
        }
    }
    return 0;
}

/* Draws from a distribution with the sampler's random stream. */
static kestrel_token draw(kestrel_sampler *smp, const kestrel_token *ids, const float *probs, int n, double total)
{
    double r = kestrel_sampler_uniform(smp) * total, cum = 0.0;
    int last = 0;
    for (int i = 0; i < n; i++) {
        if (probs[i] > 0.0f)
            last = i;
        cum += probs[i];
        if (r < cum)
            return ids[i];
    }
    return ids[last];
}

/* The probability of the top token of softmax(logits); buf: n floats of scratch. */
static float top_prob(const float *logits, int n, float *buf)
{
    float max = logits[0];
    for (int i = 1; i < n; i++)
        max = logits[i] > max ? logits[i] : max;
    memcpy(buf, logits, (size_t)n * sizeof *buf);
    return (float)(1.0 / exp_sum(buf, n, max));
}

/* Lets the draft's penalties see the committed history (it forgets its own
 * proposals each round this way). */
static void draft_history(kestrel_spec *s)
{
    if (!kestrel_sampler_has_penalties(s->ds))
        return;
    kestrel_sampler_clear_history(s->ds);
    int from = s->draft_window < 0 || s->draft_window > s->n_hist ? 0 : s->n_hist - s->draft_window;
    for (int i = from; i < s->n_hist; i++)
        kestrel_sampler_accept(s->ds, s->hist[i]);
}

/* Runs the draft model for up to k proposals. Returns how many, -1 on error;
 * *n_decoded tells how many of them the draft's cache now holds. */
static int draft_with_model(kestrel_spec *s, int k, int *n_decoded)
{
    kestrel_context *d = s->dft;
    const int n = s->n_hist;
    *n_decoded = 0;
    if (k > d->n_ctx - n + 1)
        k = d->n_ctx - n + 1;
    if (k <= 0)
        return 0;
    const int m = n - s->dft_past;
    for (int i = 0; i < m; i++) { /* a token past the draft's vocabulary reads as id 0 */
        kestrel_token t = s->hist[s->dft_past + i];
        s->dbuf[i] = t < s->n_vocab_d ? t : 0;
    }
    if (kestrel_decode(d, s->dbuf, m, s->dft_past, false))
        return -1;
    s->dft_past = n;
    s->st.n_draft_passes++;
    draft_history(s);
    int nd = 0;
    for (int i = 0; i < k; i++) {
        const float *logits = kestrel_logits(d, -1);
        kestrel_token *qi = s->q_ids + (size_t)i * s->n_vocab_d;
        float *qp = s->q_probs + (size_t)i * s->n_vocab_d;
        int nq = kestrel_sampler_probs(s->ds, logits, qi, qp);
        float conf;
        if (s->draft_greedy) { /* (a p-min of 0 keeps every proposal: no need to know) */
            conf = s->prm.p_min > 0.0f ? top_prob(logits, s->n_vocab_d, s->conf_buf) : 1.0f;
        } else {
            conf = 0.0f;
            for (int j = 0; j < nq; j++)
                conf = qp[j] > conf ? qp[j] : conf;
        }
        if (conf < s->prm.p_min)
            break;
        kestrel_token x = s->draft_greedy ? qi[0] : draw(s->ds, qi, qp, nq, 1.0);
        if (x >= s->n_vocab)
            break; /* the target has no such token */
        s->q_n[i] = nq;
        s->draft[nd++] = x;
        if (i + 1 == k)
            break;
        kestrel_sampler_accept(s->ds, x);
        if (kestrel_decode(d, &x, 1, n + i, false))
            return -1;
        s->st.n_draft_passes++;
        *n_decoded = i + 1;
    }
    return nd;
}

/* ---- adaptive length -------------------------------------------------------------- */

int spec_best_len(double a, double t_draft, const double *t_verify, int n_max)
{
    if (a < 0.001)
        a = 0.001;
    if (a > 0.999)
        a = 0.999;
    int best = 0;
    double best_rate = 1.0 / t_verify[1];
    double ak = a; /* a^(k+1) */
    for (int k = 1; k <= n_max; k++) {
        ak *= a;
        double expected = (1.0 - ak) / (1.0 - a);
        double rate = expected / (k * t_draft + t_verify[k + 1]);
        if (rate > best_rate * 1.000001) {
            best_rate = rate;
            best = k;
        }
    }
    return best;
}

static void observe_target(kestrel_spec *s, int tokens, double ms)
{
    s->tv[tokens] = s->tv[tokens] > 0.0 ? s->tv[tokens] * DECAY + ms * (1.0 - DECAY) : ms;
    s->n_obs++;
}

static int choose_len(kestrel_spec *s)
{
    const int n_max = s->prm.n_max;
    if (!s->prm.adaptive || n_max == 0)
        return n_max;
    if (s->n_obs < 2 || (!s->td_known && !s->prm.lookup))
        return n_max < 4 ? n_max : 4;
    /* target pass times by batch size: measured, else from the nearest smaller size
     * seen plus a quarter of its per-token time for each extra token, else the
     * smallest size seen */
    double *t = s->tv_est;
    int first = 0;
    for (int b = 1; b <= n_max + 1 && !first; b++)
        if (s->tv[b] > 0.0)
            first = b;
    int last = first;
    for (int b = 1; b <= n_max + 1; b++) {
        if (s->tv[b] > 0.0) {
            t[b] = s->tv[b];
            last = b;
        } else if (b < first) {
            t[b] = s->tv[first];
        } else {
            t[b] = s->tv[last] * (1.0 + 0.25 * (b - last) / last);
        }
    }
    double a = s->acc_s / (s->acc_s + s->acc_f);
    int k = spec_best_len(a, s->td_known ? s->td_ms : 0.0, t, n_max);
    if (k == 0 && ++s->plain_streak >= 16) { /* probe now and then: the text may change */
        s->plain_streak = 0;
        k = 1;
    }
    if (k > 0)
        s->plain_streak = 0;
    return k;
}

/* ---- one round ---------------------------------------------------------------------- */

/* The probability of id in a sparse distribution. */
static float prob_of(const kestrel_token *ids, const float *probs, int n, kestrel_token id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return probs[i];
    return 0.0f;
}

static void emit(kestrel_spec *s, kestrel_token t, kestrel_token *out, int *n_out)
{
    out[(*n_out)++] = t;
    s->hist[s->n_hist++] = t;
    kestrel_sampler_accept(s->ts, t);
    if (kestrel_token_is_eog(s->tm, t))
        s->done = true;
}

int kestrel_spec_next(kestrel_spec *s, kestrel_token *out, int max_out)
{
    if (s->done || max_out <= 0)
        return 0;
    const int n = s->n_hist;
    if (n > s->tgt->n_ctx) { /* the last token has no room to be evaluated */
        s->full = true;
        s->done = true;
        return 0;
    }

    /* draft */
    int k = choose_len(s);
    s->st.draft_len = k;
    if (k > max_out - 1)
        k = max_out - 1;
    if (k > s->tgt->n_ctx - n)
        k = s->tgt->n_ctx - n;
    int nd = 0, n_decoded = 0;
    double t0 = now_ms();
    if (k > 0 && s->prm.lookup) {
        nd = spec_lookup_draft(s->hist, n, s->prm.ngram_max, s->prm.ngram_min, k, s->draft);
        for (int i = 0; i < nd; i++) {
            s->q_n[i] = 1;
            s->q_probs[i] = 1.0f; /* q is all on the proposal */
            s->q_ids[i] = s->draft[i];
        }
    } else if (k > 0) {
        int steps = (int)s->st.n_draft_passes;
        nd = draft_with_model(s, k, &n_decoded);
        if (nd < 0)
            return -1;
        steps = (int)s->st.n_draft_passes - steps;
        double dt = now_ms() - t0;
        s->st.t_draft_ms += dt;
        if (steps > 0) {
            double per = dt / steps;
            s->td_ms = s->td_known ? s->td_ms * DECAY + per * (1.0 - DECAY) : per;
            s->td_known = true;
        }
        int n_min = s->prm.n_min < k ? s->prm.n_min : k;
        if (nd > 0 && nd < n_min) { /* llama.cpp: too short to be worth a batch */
            s->st.n_discarded += (uint64_t)nd;
            nd = 0;
            n_decoded = 0;
        }
    }
    if (s->prm.lookup)
        s->st.t_draft_ms += now_ms() - t0;

    /* verify: the last committed token and the proposals, in one pass */
    s->batch[0] = s->hist[n - 1];
    memcpy(s->batch + 1, s->draft, (size_t)nd * sizeof *s->draft);
    t0 = now_ms();
    if (kestrel_decode(s->tgt, s->batch, nd + 1, n - 1, nd > 0))
        return -1;
    double dt = now_ms() - t0;
    s->st.t_target_ms += dt;
    s->st.n_target_passes++;
    observe_target(s, nd + 1, dt);

    int n_out = 0, a = 0;
    bool rejected = false;
    for (int i = 0; i < nd && !s->done; i++) {
        const float *logits = kestrel_logits(s->tgt, i);
        const kestrel_token x = s->draft[i];
        if (s->greedy) {
            kestrel_token y = kestrel_sampler_sample(s->ts, logits);
            emit(s, y, out, &n_out);
            if (y != x) {
                rejected = true;
                break;
            }
            a++;
            continue;
        }
        const int np = kestrel_sampler_probs(s->ts, logits, s->p_ids, s->p_probs);
        const size_t qw = s->dft ? (size_t)s->n_vocab_d : 1;
        const kestrel_token *qi = s->q_ids + (size_t)i * qw;
        const float *qp = s->q_probs + (size_t)i * qw;
        const int nq = s->q_n[i];
        const float px = prob_of(s->p_ids, s->p_probs, np, x), qx = prob_of(qi, qp, nq, x);
        if (kestrel_sampler_uniform(s->ts) * qx < px) {
            emit(s, x, out, &n_out);
            a++;
            continue;
        }
        /* rejected: draw from norm(max(0, p - q)) */
        for (int j = 0; j < nq; j++)
            s->dense[qi[j]] = qp[j];
        double total = 0.0;
        for (int j = 0; j < np; j++) {
            float r = s->p_probs[j] - s->dense[s->p_ids[j]];
            s->p_probs[j] = r > 0.0f ? r : 0.0f;
            total += s->p_probs[j];
        }
        for (int j = 0; j < nq; j++)
            s->dense[qi[j]] = 0.0f;
        kestrel_token y;
        if (total > 0.0) {
            y = draw(s->ts, s->p_ids, s->p_probs, np, total);
        } else { /* p <= q everywhere yet x was rejected: only rounding gets here */
            y = kestrel_sampler_sample(s->ts, logits);
        }
        emit(s, y, out, &n_out);
        rejected = true;
        break;
    }
    if (!rejected && !s->done) /* all kept: the target's next token comes free */
        emit(s, kestrel_sampler_sample(s->ts, kestrel_logits(s->tgt, nd)), out, &n_out);

    /* bookkeeping */
    if (nd > 0) {
        s->acc_s = s->acc_s * DECAY + a;
        s->acc_f = s->acc_f * DECAY + (a < nd ? 1.0 : 0.0);
    }
    s->st.n_drafted += (uint64_t)nd;
    s->st.n_accepted += (uint64_t)a;
    s->st.n_generated += (uint64_t)n_out;
    if (s->dft) {
        int valid = n + (a < n_decoded ? a : n_decoded);
        if (s->dft_past > valid)
            s->dft_past = valid;
    }
    return n_out;
}
