/* Each architecture against llama.cpp: tests/data/arch/<name>.gguf are tiny
 * random-weight models made with `kestrel synth --arch ...`, and <name>.ref.txt
 * what llama.cpp b4748 computes for them (tests/data/arch/README.md says how).
 *
 * Teacher-forced as in test_reference.c: prompt ids identical, top-20 logits at
 * every prompt position and the full last vector within the shared README's
 * tolerance (F32 1e-4, quantized synth 5e-2), llama.cpp's greedy id within that
 * tolerance of our best at every generated step; then free-running greedy, one
 * token at a time (the cached path), up to the first near-tie.
 *
 * Every architecture feature must matter: each "ablation" switches one off in
 * the loaded model (an hparam, a weight pointer) and the logits must then miss
 * llama.cpp's by far more than the tolerance, so a passing test proves the
 * feature is computed as llama.cpp does, not merely that it is harmless.
 *
 * qwen3 is not in llama.cpp b4748: its reference comes from ik_llama.cpp
 * (2026-08), and test_qwen3 also checks it against an independent forward
 * pass. An unknown architecture must fail at load with one line naming it. */
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "gguf.h"
#include "kestrel.h"
#include "model.h"
#include "quant/quant.h"
#include "reference.h"
#include "synth.h"
#include "test.h"

#define DATA "tests/data/arch"
#define NEAR_TIE_GAP 1e-3f /* free-running greedy is compared up to the first top-2 gap below this */
#define MATTERS 20.0f      /* an ablated feature must move the logits by this many tolerances */

typedef void (*ablate_fn)(kestrel_model *m);

typedef struct {
    const char *what;
    ablate_fn fn;
} ablation;

typedef struct {
    const char *name;  /* tests/data/arch/<name>.gguf and .ref.txt */
    const char *arch;  /* general.architecture it must load as */
    float tol;
    ablation ablations[6];
    bool f16_cache;    /* the reference was made with an F16 KV cache (ik_llama.cpp) */
} arch_case;

/* ---- ablations: each undoes one feature of the loaded model ------------------ */

static void no_rope_freqs(kestrel_model *m) { m->hp.rope_freqs = NULL; }
static void rope_neox(kestrel_model *m) { m->hp.rope_layout = ROPE_NEOX; }
static void rope_norm(kestrel_model *m) { m->hp.rope_layout = ROPE_NORM; }
static void rope_full(kestrel_model *m) { m->hp.n_rot = m->hp.head_dim; }
static void no_window(kestrel_model *m) { m->hp.n_swa = 1 << 30; }
static void no_embd_scale(kestrel_model *m) { m->hp.embd_scale = 1.0f; }
static void silu_not_gelu(kestrel_model *m) { m->hp.ffn = FFN_SILU; }
static void no_attn_softcap(kestrel_model *m) { m->hp.attn_softcap = 0.0f; }
static void no_final_softcap(kestrel_model *m) { m->hp.final_softcap = 0.0f; }

/* Gemma 2 scales queries by 1/sqrt(head_dim), the 27B (46 layers) by 1/sqrt(n_embd/n_head) */
static void scale_27b(kestrel_model *m) { m->hp.attn_scale = 1.0f / sqrtf((float)(m->hp.n_embd / m->hp.n_head)); }
static void scale_2b(kestrel_model *m) { m->hp.attn_scale = 1.0f / sqrtf((float)m->hp.head_dim); }

static void no_qkv_bias(kestrel_model *m)
{
    for (int l = 0; l < m->hp.n_layer; l++)
        m->layers[l].bq.data = m->layers[l].bk.data = m->layers[l].bv.data = NULL;
}

static void no_qk_norm(kestrel_model *m)
{
    for (int l = 0; l < m->hp.n_layer; l++)
        m->layers[l].q_norm.data = m->layers[l].k_norm.data = NULL;
}

static void no_post_norms(kestrel_model *m)
{
    for (int l = 0; l < m->hp.n_layer; l++)
        m->layers[l].attn_post_norm.data = m->layers[l].ffn_post_norm.data = NULL;
}

static void window_on_odd_layers(kestrel_model *m)
{
    for (int l = 0; l < m->hp.n_layer; l++)
        m->layers[l].sliding = l % 2 == 1;
}

static const arch_case specs[] = {
    { "llama-ropefreqs-f32", "llama", 1e-4f,
      { { "rope_freqs.weight", no_rope_freqs }, { "adjacent-pair (NORM) rope", rope_neox } }, false },
    { "qwen2-f32", "qwen2", 1e-4f, { { "q/k/v biases", no_qkv_bias }, { "NeoX rope", rope_norm } }, false },
    { "qwen2-Q8_0", "qwen2", 5e-2f, { { "q/k/v biases", no_qkv_bias } }, false },
    { "phi3-f32", "phi3", 1e-4f,
      { { "sliding window", no_window }, { "partial rotary (rope dims < head dim)", rope_full },
        { "NeoX rope", rope_norm } }, false },
    { "gemma-f32", "gemma", 1e-4f,
      { { "embeddings x sqrt(n_embd)", no_embd_scale }, { "GeGLU", silu_not_gelu }, { "NeoX rope", rope_norm } }, false },
    /* GeGLU models: ggml's GELU reads an f16 table, so an input that f32 summation order
     * moves across an f16 rounding boundary changes the output by an f16 step. Rounding
     * kestrel's own rmsnorm outputs by +-1 ulp at random moves gemma-f32 by 5.5e-5 and
     * gemma2-f32 (26 layers) by up to 9.7e-4: the noise floor, hence 2e-3 for gemma2
     * (the shared README's rule: about twice the floor). */
    { "gemma2-f32", "gemma2", 2e-3f,
      { { "attention soft-capping", no_attn_softcap }, { "final soft-capping", no_final_softcap },
        { "sliding window", no_window }, { "window on even layers", window_on_odd_layers },
        { "post-norms", no_post_norms }, { "1/sqrt(head_dim) query scale", scale_27b } }, false },
    /* F16 weights: activations are rounded to f16 before each matmul (as llama.cpp does),
     * over 46 layers with the GELU table; the same +-1 ulp noise moves it by 2.6e-3. */
    { "gemma2-46L-f16", "gemma2", 5e-3f,
      { { "27B query scale 1/sqrt(n_embd/n_head)", scale_2b }, { "attention soft-capping", no_attn_softcap },
        { "sliding window", no_window }, { "GeGLU", silu_not_gelu } }, false },
    /* llama.cpp b4748 predates qwen3: this reference comes from ik_llama.cpp (2026-08), whose
     * CPU path accepts only an F16 cache without flash attention; it rounds queries to f16
     * for q.k where kestrel keeps them f32 (measured 4.3e-5; 1e-3 allows for that rounding). */
    { "qwen3-f32", "qwen3", 1e-3f, { { "q/k norms", no_qk_norm }, { "NeoX rope", rope_norm } }, true },
};

/* ---- the comparison ------------------------------------------------------------ */

static kestrel_context *new_context(kestrel_model *m, bool f16_cache)
{
    kestrel_context_params cp = kestrel_context_default_params();
    cp.n_ctx = 256;
    cp.n_batch = 256;
    cp.n_threads = 2;
    cp.kv_type = f16_cache ? KESTREL_KV_F16 : KESTREL_KV_F32; /* as the reference was made */
    return kestrel_context_new(m, &cp);
}

typedef struct {
    float max_diff;    /* over prompt positions: top-20 and the last vector */
    float step_worst;  /* largest (our best - llama.cpp's greedy id) over generated steps */
    int agree, n_pos;  /* argmax agreement at prompt positions and steps */
    bool ok;           /* decoding worked */
} case_result;

/* Teacher-forced: prompt + greedy[:-1] in one batch. */
static case_result compare_case(kestrel_context *ctx, const ref_case *rc, int n_vocab)
{
    case_result r = { 0, 0, 0, 0, false };
    int n_seq = rc->n_tokens + rc->n_greedy - 1;
    kestrel_token *seq = malloc((size_t)n_seq * sizeof *seq);
    for (int i = 0; i < rc->n_tokens; i++)
        seq[i] = rc->tokens[i];
    for (int i = 0; i + 1 < rc->n_greedy; i++)
        seq[rc->n_tokens + i] = rc->greedy[i];
    if (kestrel_decode(ctx, seq, n_seq, 0, true) == 0) {
        r.ok = true;
        for (int p = 0; p < rc->n_tokens; p++) {
            const float *lg = kestrel_logits(ctx, p);
            for (int j = 0; j < REF_TOP; j++)
                r.max_diff = fmaxf(r.max_diff, fabsf(lg[rc->top_id[p][j]] - rc->top_logit[p][j]));
            if (p == rc->n_tokens - 1)
                for (int j = 0; j < n_vocab; j++)
                    r.max_diff = fmaxf(r.max_diff, fabsf(lg[j] - rc->last[j]));
            r.agree += argmax(lg, n_vocab) == rc->top_id[p][0];
            r.n_pos++;
        }
        for (int i = 0; i < rc->n_greedy; i++) {
            const float *lg = kestrel_logits(ctx, rc->n_tokens - 1 + i);
            int best = argmax(lg, n_vocab);
            r.step_worst = fmaxf(r.step_worst, lg[best] - lg[rc->greedy[i]]);
            r.agree += best == rc->greedy[i];
            r.n_pos++;
        }
    }
    free(seq);
    return r;
}

/* Free-running greedy from a fresh cache, one token per decode. Returns how many
 * steps matched; *compared gets the steps before the first near-tie. */
static int free_running(kestrel_context *ctx, const ref_case *rc, int n_vocab, int *compared)
{
    *compared = rc->n_greedy;
    if (kestrel_decode(ctx, rc->tokens, rc->n_tokens, 0, false))
        return 0;
    int matched = 0;
    for (int i = 0; i < rc->n_greedy; i++) {
        const float *lg = kestrel_logits(ctx, -1);
        if (top2_gap(lg, n_vocab) < NEAR_TIE_GAP) {
            *compared = i;
            break;
        }
        kestrel_token t = argmax(lg, n_vocab);
        if (t != rc->greedy[i])
            break;
        matched++;
        if (i + 1 < rc->n_greedy && kestrel_decode(ctx, &t, 1, rc->n_tokens + i, false))
            break;
    }
    return matched;
}

/* Max |Δlogit| over all cases' prompt positions, or -1 when decoding failed. */
static float model_max_diff(kestrel_model *m, const ref_file *rf, bool f16_cache)
{
    kestrel_context *ctx = new_context(m, f16_cache);
    if (!ctx)
        return -1;
    float d = 0;
    for (int c = 0; c < rf->n_cases; c++) {
        case_result r = compare_case(ctx, &rf->cases[c], rf->n_vocab);
        d = r.ok ? fmaxf(d, r.max_diff) : -1;
        if (!r.ok)
            break;
    }
    kestrel_context_free(ctx);
    return d;
}

static bool load_pair(const char *name, kestrel_model **m, ref_file *rf)
{
    char model_path[256], ref_path[256];
    snprintf(model_path, sizeof model_path, DATA "/%s.gguf", name);
    snprintf(ref_path, sizeof ref_path, DATA "/%s.ref.txt", name);
    *m = NULL;
    if (ref_load(ref_path, rf)) {
        CHECK(0, "cannot read %s (run from the repo root)", ref_path);
        return false;
    }
    *m = kestrel_model_load(model_path);
    CHECK(*m != NULL, "load %s: %s", model_path, kestrel_last_error());
    if (!*m)
        ref_free(rf);
    return *m != NULL;
}

static void check_arch(const arch_case *spec)
{
    kestrel_model *m;
    ref_file rf;
    if (!load_pair(spec->name, &m, &rf))
        return;
    kestrel_model_info info;
    kestrel_model_get_info(m, &info);
    CHECK(strcmp(info.arch, spec->arch) == 0, "%s: architecture %s, expected %s", spec->name, info.arch, spec->arch);
    CHECK(kestrel_n_vocab(m) == rf.n_vocab, "%s: n_vocab %d, reference %d", spec->name, kestrel_n_vocab(m), rf.n_vocab);
    kestrel_context *ctx = new_context(m, spec->f16_cache);
    CHECK(ctx != NULL, "%s: context: %s", spec->name, kestrel_last_error());

    float max_diff = 0, step_worst = 0;
    int agree = 0, n_pos = 0, fr_matched = 0, fr_compared = 0, fr_total = 0;
    for (int c = 0; ctx && c < rf.n_cases; c++) {
        const ref_case *rc = &rf.cases[c];
        kestrel_token toks[512];
        int n = kestrel_tokenize(m, rc->prompt, rc->prompt_len, toks, 512, true, false);
        bool same = n == rc->n_tokens;
        for (int i = 0; same && i < n; i++)
            same = toks[i] == rc->tokens[i];
        CHECK(same, "%s case %d: prompt token ids differ from llama.cpp's", spec->name, c);

        case_result r = compare_case(ctx, rc, rf.n_vocab);
        CHECK(r.ok, "%s case %d: decode failed: %s", spec->name, c, kestrel_last_error());
        CHECK(r.max_diff <= spec->tol, "%s case %d: max |logit diff| %.6f > %.6f", spec->name, c, r.max_diff,
              spec->tol);
        CHECK(r.step_worst <= spec->tol, "%s case %d: a llama.cpp greedy id is %.6f below our best", spec->name, c,
              r.step_worst);
        max_diff = fmaxf(max_diff, r.max_diff);
        step_worst = fmaxf(step_worst, r.step_worst);
        agree += r.agree;
        n_pos += r.n_pos;

        int compared;
        int matched = free_running(ctx, rc, rf.n_vocab, &compared);
        CHECK(matched >= compared, "%s case %d: free-running greedy matches %d of %d steps", spec->name, c, matched,
              compared);
        fr_matched += matched;
        fr_compared += compared;
        fr_total += rc->n_greedy;
    }
    printf("%-20s %d cases, %d positions: max |diff| %.6f (tol %g), greedy steps within %.6f, argmax %d/%d, "
           "free-running %d/%d (compared %d)\n",
           spec->name, rf.n_cases, n_pos, max_diff, (double)spec->tol, step_worst, agree, n_pos, fr_matched, fr_total,
           fr_compared);
    kestrel_context_free(ctx);
    kestrel_model_free(m);

    /* each feature matters: switching it off moves the logits well past the tolerance */
    for (int a = 0; a < 6 && spec->ablations[a].fn; a++) {
        kestrel_model *am;
        ref_file unused;
        if (!load_pair(spec->name, &am, &unused))
            break;
        ref_free(&unused);
        spec->ablations[a].fn(am);
        float d = model_max_diff(am, &rf, spec->f16_cache);
        CHECK(d > MATTERS * spec->tol, "%s without %s: max |logit diff| %.6f, not above %g: the test does not see it",
              spec->name, spec->ablations[a].what, d, (double)(MATTERS * spec->tol));
        printf("  without %-38s max |diff| %.4f\n", spec->ablations[a].what, d);
        kestrel_model_free(am);
    }
    ref_free(&rf);
}

/* ---- qwen3: no llama.cpp reference, an independent forward pass instead --------- */

/* Qwen3 as Hugging Face's modeling_qwen3 defines it, in double precision and
 * written without looking at src/forward.c: per layer, h = RMSNorm(x);
 * q, k, v = W h; each head of q and k is RMS-normalized with its own weight
 * (q_norm, k_norm over head_dim) and THEN rotated (NeoX halves); causal GQA
 * attention scaled by 1/sqrt(head_dim); x += Wo att; x += Wdown(silu(Wgate h) *
 * Wup h) with h = RMSNorm(x); logits = Wout RMSNorm(x). F32 weights only.
 * rope_before_norm swaps the two steps (to show the test can tell them apart);
 * use_qk_norm = false leaves the norms out. */
static const float *F(const weight *w) { return (const float *)w->data; }

static void naive_rmsnorm(double *out, const double *x, const float *w, int n, double eps)
{
    double ss = 0;
    for (int i = 0; i < n; i++)
        ss += x[i] * x[i];
    const double r = 1.0 / sqrt(ss / n + eps);
    for (int i = 0; i < n; i++)
        out[i] = x[i] * r * w[i];
}

static void naive_matvec(double *out, const weight *w, const double *x)
{
    for (int64_t r = 0; r < w->ne1; r++) {
        const float *row = F(w) + r * w->ne0;
        double sum = 0;
        for (int64_t i = 0; i < w->ne0; i++)
            sum += row[i] * x[i];
        out[r] = sum;
    }
}

static void naive_rope_neox(double *v, int pos, int n_rot, double base)
{
    const int half = n_rot / 2;
    for (int i = 0; i < half; i++) {
        const double a = pos * pow(base, -2.0 * i / n_rot), c = cos(a), s = sin(a);
        const double x0 = v[i], x1 = v[i + half];
        v[i] = x0 * c - x1 * s;
        v[i + half] = x0 * s + x1 * c;
    }
}

/* logits: [n][n_vocab] */
static void naive_qwen3(const kestrel_model *m, const kestrel_token *toks, int n, double *logits, bool use_qk_norm,
                        bool rope_before_norm)
{
    const hparams *hp = &m->hp;
    const int E = hp->n_embd, hd = hp->head_dim, H = hp->n_head, HK = hp->n_head_kv, FF = hp->n_ff;
    const int qd = H * hd, kd = HK * hd;
    double *x = calloc((size_t)n * E, sizeof *x), *h = malloc(sizeof(double) * (size_t)(E > FF ? E : FF) * 2);
    double *q = malloc(sizeof(double) * (size_t)n * qd), *k = malloc(sizeof(double) * (size_t)n * kd);
    double *v = malloc(sizeof(double) * (size_t)n * kd), *att = malloc(sizeof(double) * (size_t)qd);
    double *g = malloc(sizeof(double) * (size_t)FF), *u = malloc(sizeof(double) * (size_t)FF);
    double *p = malloc(sizeof(double) * (size_t)n), *o = malloc(sizeof(double) * (size_t)E);
    for (int t = 0; t < n; t++)
        for (int i = 0; i < E; i++)
            x[(size_t)t * E + i] = F(&m->tok_embd)[(size_t)toks[t] * E + i];
    for (int l = 0; l < hp->n_layer; l++) {
        const layer_weights *w = &m->layers[l];
        for (int t = 0; t < n; t++) {
            naive_rmsnorm(h, x + (size_t)t * E, F(&w->attn_norm), E, hp->rms_eps);
            double *qt = q + (size_t)t * qd, *kt = k + (size_t)t * kd;
            naive_matvec(qt, &w->wq, h);
            naive_matvec(kt, &w->wk, h);
            naive_matvec(v + (size_t)t * kd, &w->wv, h);
            for (int j = 0; j < H + HK; j++) {
                double *head = j < H ? qt + j * hd : kt + (j - H) * hd;
                const float *nw = j < H ? F(&w->q_norm) : F(&w->k_norm);
                if (rope_before_norm)
                    naive_rope_neox(head, t, hp->n_rot, hp->rope_freq_base);
                if (use_qk_norm)
                    naive_rmsnorm(head, head, nw, hd, hp->rms_eps);
                if (!rope_before_norm)
                    naive_rope_neox(head, t, hp->n_rot, hp->rope_freq_base);
            }
        }
        for (int t = 0; t < n; t++) {
            for (int hh = 0; hh < H; hh++) {
                const int kh = hh / (H / HK);
                double mx = -INFINITY, sum = 0;
                for (int s2 = 0; s2 <= t; s2++) {
                    double d = 0;
                    for (int i = 0; i < hd; i++)
                        d += q[(size_t)t * qd + hh * hd + i] * k[(size_t)s2 * kd + kh * hd + i];
                    p[s2] = d / sqrt((double)hd);
                    mx = fmax(mx, p[s2]);
                }
                for (int s2 = 0; s2 <= t; s2++)
                    sum += (p[s2] = exp(p[s2] - mx));
                for (int i = 0; i < hd; i++) {
                    double a = 0;
                    for (int s2 = 0; s2 <= t; s2++)
                        a += p[s2] / sum * v[(size_t)s2 * kd + kh * hd + i];
                    att[hh * hd + i] = a;
                }
            }
            naive_matvec(o, &w->wo, att);
            for (int i = 0; i < E; i++)
                x[(size_t)t * E + i] += o[i];
        }
        for (int t = 0; t < n; t++) {
            naive_rmsnorm(h, x + (size_t)t * E, F(&w->ffn_norm), E, hp->rms_eps);
            naive_matvec(g, &w->w_gate, h);
            naive_matvec(u, &w->w_up, h);
            for (int i = 0; i < FF; i++)
                g[i] = g[i] / (1 + exp(-g[i])) * u[i];
            naive_matvec(o, &w->w_down, g);
            for (int i = 0; i < E; i++)
                x[(size_t)t * E + i] += o[i];
        }
    }
    for (int t = 0; t < n; t++) {
        naive_rmsnorm(h, x + (size_t)t * E, F(&m->output_norm), E, hp->rms_eps);
        naive_matvec(logits + (size_t)t * hp->n_vocab, &m->output, h);
    }
    free(x), free(h), free(q), free(k), free(v), free(att), free(g), free(u), free(p), free(o);
}

static float max_diff_vs(kestrel_context *ctx, const double *ref, int n, int n_vocab)
{
    float d = 0;
    for (int t = 0; t < n; t++) {
        const float *lg = kestrel_logits(ctx, t);
        for (int j = 0; j < n_vocab; j++)
            d = fmaxf(d, (float)fabs(lg[j] - ref[(size_t)t * n_vocab + j]));
    }
    return d;
}

/* Besides the ik_llama.cpp reference (b4748 has no qwen3), kestrel's qwen3 must match
 * the independent pass above, and that comparison must be able to see a missing
 * q/k norm and norms applied after RoPE instead of before. */
static void test_qwen3(void)
{
    const char *path = DATA "/qwen3-f32.gguf";
    kestrel_model *m = kestrel_model_load(path);
    CHECK(m != NULL, "load %s: %s", path, kestrel_last_error());
    if (!m)
        return;
    const hparams *hp = &m->hp;
    bool f32 = m->tok_embd.type == KT_F32 && m->output.type == KT_F32, norms_vary = false;
    for (int l = 0; l < hp->n_layer; l++) {
        const layer_weights *w = &m->layers[l];
        f32 &= w->wq.type == KT_F32 && w->wk.type == KT_F32 && w->wv.type == KT_F32 && w->wo.type == KT_F32 &&
               w->w_gate.type == KT_F32 && w->w_up.type == KT_F32 && w->w_down.type == KT_F32;
        for (int i = 0; w->q_norm.data && w->k_norm.data && i < hp->head_dim; i++)
            norms_vary |= fabsf(F(&w->q_norm)[i] - 1) > 0.05f && fabsf(F(&w->k_norm)[i] - 1) > 0.05f;
    }
    CHECK(f32 && norms_vary && hp->rope_layout == ROPE_NEOX, "qwen3 test model: F32, NeoX, q/k norms not ones");
    static const char prompt[] = "Lily and Ben went to the park. They saw a big dog and a little cat.";
    kestrel_token toks[128];
    int n = kestrel_tokenize(m, prompt, sizeof prompt - 1, toks, 128, true, false);
    for (int i = 0; n > 0 && i < 16; i++) /* a few more tokens, as if generated */
        toks[n++] = (kestrel_token)(100 + 23 * i);
    const int nv = hp->n_vocab;
    double *ref = malloc(sizeof(double) * (size_t)n * (size_t)nv);
    kestrel_context *ctx = new_context(m, false);
    CHECK(ctx && n > 20 && kestrel_decode(ctx, toks, n, 0, true) == 0, "qwen3 decode: %s", kestrel_last_error());
    if (ctx && n > 20) {
        naive_qwen3(m, toks, n, ref, true, false);
        float d = max_diff_vs(ctx, ref, n, nv);
        CHECK(d <= 1e-4f, "qwen3: max |logit diff| vs the independent pass %.6f > 1e-4", d);
        naive_qwen3(m, toks, n, ref, false, false);
        float d_no_norm = max_diff_vs(ctx, ref, n, nv);
        naive_qwen3(m, toks, n, ref, true, true);
        float d_order = max_diff_vs(ctx, ref, n, nv);
        CHECK(d_no_norm > MATTERS * 1e-4f && d_order > MATTERS * 1e-4f,
              "qwen3: the comparison cannot see the q/k norms (%.4f) or their order (%.4f)", d_no_norm, d_order);
        printf("qwen3-f32 vs an independent pass, %d positions: max |diff| vs an independent f64 pass %.6f; "
               "that pass without q/k norms %.4f, with RoPE before them %.4f\n",
               n, d, d_no_norm, d_order);
    }
    kestrel_context_free(ctx);
    free(ref);
    kestrel_model_free(m);
}

/* ---- hyperparameter defaults that only matter on long inputs -------------------- */

/* Phi-3 files converted before attention.sliding_window existed: llama.cpp gives
 * the 4k models (32 or 40 layers, context 4096) a window of 2047; the key, when
 * present, wins; kestrel runs other keyless files without a window (llama.cpp
 * refuses them). */
static int phi3_window(int n_layer, int n_ctx, int n_swa_key)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/kestrel-test-phi3-%d.gguf", (int)getpid());
    kestrel_synth_params p = kestrel_synth_default_params();
    p.shape = "micro";
    p.type = "Q4_0";
    p.n_layer = n_layer;
    p.n_threads = 2;
    p.synth_vocab = true;
    synth_arch_params a;
    memset(&a, 0, sizeof a);
    a.arch = "phi3";
    a.n_ctx = n_ctx;
    a.n_swa = n_swa_key;
    int n_swa = -1;
    if (synth_write(path, &p, &a) == 0) {
        kestrel_model *m = kestrel_model_load(path);
        if (m)
            n_swa = m->hp.n_swa;
        kestrel_model_free(m);
    }
    remove(path);
    return n_swa;
}

static void test_phi3_window_defaults(void)
{
    int w;
    CHECK((w = phi3_window(32, 4096, -1)) == 2047, "phi3 4k, 32 layers, no key: window %d, llama.cpp 2047", w);
    CHECK((w = phi3_window(40, 4096, -1)) == 2047, "phi3 4k, 40 layers, no key: window %d, llama.cpp 2047", w);
    CHECK((w = phi3_window(40, 131072, -1)) == 131072, "phi3 medium 128k, no key: window %d", w);
    CHECK((w = phi3_window(32, 4096, 100)) == 100, "phi3 with a key of 100: window %d", w);
    CHECK((w = phi3_window(2, 4096, -1)) == 1 << 30, "phi3 2 layers, no key: window %d, want none", w);
}

/* ---- unsupported architectures ------------------------------------------------- */

/* A GGUF with a valid vocab (copied from stories260K) and general.architecture = arch. */
static bool write_arch_file(const char *path, const char *arch)
{
    char vocab_path[512];
    snprintf(vocab_path, sizeof vocab_path, "%s/models/stories260K.gguf", test_shared_dir());
    gguf_file *f = gguf_open(vocab_path);
    gguf_writer *w = gguf_writer_new();
    bool ok = f && w;
    if (ok) {
        gguf_writer_add_str(w, "general.architecture", arch);
        for (int64_t i = 0; i < f->n_kv; i++)
            if (strncmp(f->kv[i].key, "tokenizer.", 10) == 0)
                gguf_writer_copy_kv(w, &f->kv[i]);
        ok = gguf_writer_begin(w, path) == 0 && gguf_writer_end(w) == 0;
    }
    gguf_writer_free(w);
    if (f)
        gguf_close(f);
    return ok;
}

static void test_unsupported(void)
{
    static const char *const archs[] = { "mamba", "bert", "gpt2", "qwen2moe", "llama4" };
    char path[64];
    snprintf(path, sizeof path, "/tmp/kestrel-test-arch-%d.gguf", (int)getpid());
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++) {
        if (!write_arch_file(path, archs[i])) {
            CHECK(0, "cannot write %s: %s", path, kestrel_last_error());
            break;
        }
        kestrel_model *m = kestrel_model_load(path);
        const char *err = kestrel_last_error();
        char quoted[64];
        snprintf(quoted, sizeof quoted, "'%s'", archs[i]);
        CHECK(m == NULL, "architecture %s loaded", archs[i]);
        CHECK(err && strstr(err, quoted) && strstr(err, "not supported") && !strchr(err, '\n'),
              "architecture %s: error '%s' is not one line naming it", archs[i], err ? err : "(null)");
        kestrel_model_free(m);
        /* the vocabulary alone still loads (tokenize works on any architecture) */
        m = kestrel_model_load_vocab(path);
        CHECK(m != NULL, "vocab of a %s file: %s", archs[i], kestrel_last_error());
        kestrel_model_free(m);
    }
    printf("unsupported architectures: %s\n", kestrel_last_error());
    remove(path);
}

int main(int argc, char **argv)
{
    /* Optional arguments name the models to check (default: all). */
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        bool wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            wanted |= strcmp(argv[a], specs[i].name) == 0;
        if (wanted)
            check_arch(&specs[i]);
    }
    if (argc < 2) {
        test_qwen3();
        test_phi3_window_defaults();
        test_unsupported();
    }
    return test_report();
}
