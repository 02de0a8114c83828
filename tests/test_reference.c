/* Differential test against llama.cpp: ../shared/reference/<model>.ref.txt.
 *
 * Teacher-forced: each case's prompt plus llama.cpp's greedy ids goes through
 * one batch, and the logits at every position are compared with llama.cpp's
 * (top-20 per prompt position, the full vector at the last one, and the greedy
 * id at each generated step). Tolerances are those ../shared/reference/README.md
 * derives from each file's noise floor. Free-running greedy text is compared
 * where it is well defined (F32, and F16 up to the first near-tie). */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kestrel.h"
#include "reference.h"
#include "test.h"

enum greedy_check { GREEDY_NONE, GREEDY_ALL, GREEDY_UNTIL_NEAR_TIE };

typedef struct {
    const char *name;
    float tol_max;          /* max |logit - reference| over every compared logit */
    float tol_median;       /* median over positions of their max |Δ| (0: not checked) */
    float min_agree;        /* fraction of positions whose argmax must agree (1: all clear ones) */
    enum greedy_check greedy;
} model_spec;

static const model_spec specs[] = {
    { "stories260K", 1e-4f, 0, 1, GREEDY_ALL },
    { "synth-kernels-f32", 1e-4f, 0, 1, GREEDY_NONE },
    { "synth-kernels-f16", 2e-3f, 0, 1, GREEDY_NONE },
    { "synth-kernels-BF16", 1e-2f, 0, 1, GREEDY_NONE },
    { "synth-kernels-Q8_0", 5e-2f, 0, 1, GREEDY_NONE },
    { "synth-kernels-Q4_0", 5e-2f, 0, 1, GREEDY_NONE },
    { "synth-kernels-Q4_1", 5e-2f, 0, 1, GREEDY_NONE },
    { "synth-kernels-Q5_0", 5e-2f, 0, 1, GREEDY_NONE },
    { "synth-kernels-Q5_1", 5e-2f, 0, 1, GREEDY_NONE },
    { "synth-kernels-Q2_K", 5e-2f, 0, 1, GREEDY_NONE },
    { "synth-kernels-Q3_K_M", 5e-2f, 0, 1, GREEDY_NONE },
    { "synth-kernels-Q4_K_M", 5e-2f, 0, 1, GREEDY_NONE },
    { "synth-kernels-Q5_K_M", 5e-2f, 0, 1, GREEDY_NONE },
    { "synth-kernels-Q6_K", 5e-2f, 0, 1, GREEDY_NONE },
    { "gutenberg-11M-draft-f16", 1e-2f, 0, 1, GREEDY_UNTIL_NEAR_TIE },
    { "gutenberg-41M-f16", 3e-2f, 0, 1, GREEDY_UNTIL_NEAR_TIE },
    { "gutenberg-11M-draft-Q8_0", 0.5f, 0.15f, 0.95f, GREEDY_NONE },
    { "gutenberg-11M-draft-Q4_0", 0.5f, 0.15f, 0.95f, GREEDY_NONE },
    { "gutenberg-41M-Q4_K_M", 1.2f, 0.4f, 0.95f, GREEDY_NONE },
};

#define CLEAR_GAP 0.01f      /* argmax must agree where llama.cpp's top-2 gap exceeds this */
#define NEAR_TIE_GAP 0.05f   /* free-running F16 greedy is compared up to the first gap below this */

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

typedef struct {
    float max_diff;
    float *pos_diffs; /* per compared position */
    int n_pos;
    int agree, clear;
} stats;

static void check_case(const model_spec *spec, kestrel_model *model, kestrel_context *ctx, const ref_case *rc,
                       int case_no, int n_vocab, stats *st)
{
    /* prompt tokens must be identical */
    kestrel_token toks[1024];
    int n = kestrel_tokenize(model, rc->prompt, rc->prompt_len, toks, 1024, true, false);
    bool same = n == rc->n_tokens;
    for (int i = 0; same && i < n; i++)
        same = toks[i] == rc->tokens[i];
    CHECK(same, "%s case %d: prompt token ids differ from llama.cpp's", spec->name, case_no);

    /* teacher-forced batch: prompt + greedy[:-1] */
    int n_seq = rc->n_tokens + rc->n_greedy - 1;
    kestrel_token *seq = malloc((size_t)n_seq * sizeof *seq);
    for (int i = 0; i < rc->n_tokens; i++)
        seq[i] = rc->tokens[i];
    for (int i = 0; i + 1 < rc->n_greedy; i++)
        seq[rc->n_tokens + i] = rc->greedy[i];
    if (kestrel_decode(ctx, seq, n_seq, 0, true)) {
        CHECK(0, "%s case %d: decode failed: %s", spec->name, case_no, kestrel_last_error());
        free(seq);
        return;
    }

    float case_max = 0;
    for (int p = 0; p < rc->n_tokens; p++) {
        const float *lg = kestrel_logits(ctx, p);
        float d = 0;
        for (int j = 0; j < REF_TOP; j++)
            d = fmaxf(d, fabsf(lg[rc->top_id[p][j]] - rc->top_logit[p][j]));
        if (p == rc->n_tokens - 1 && rc->last)
            for (int j = 0; j < n_vocab; j++)
                d = fmaxf(d, fabsf(lg[j] - rc->last[j]));
        st->pos_diffs[st->n_pos++] = d;
        case_max = fmaxf(case_max, d);
        if (rc->top_logit[p][0] - rc->top_logit[p][1] > CLEAR_GAP) {
            st->clear++;
            st->agree += argmax(lg, n_vocab) == rc->top_id[p][0];
        }
    }
    st->max_diff = fmaxf(st->max_diff, case_max);
    CHECK(case_max <= spec->tol_max, "%s case %d: max |logit diff| %.5f > %.5f", spec->name, case_no, case_max,
          spec->tol_max);

    /* generated steps: llama.cpp's greedy id must be (within tolerance) our best */
    int near_tie_step = rc->n_greedy;
    for (int i = 0; i < rc->n_greedy; i++) {
        const float *lg = kestrel_logits(ctx, rc->n_tokens - 1 + i);
        int best = argmax(lg, n_vocab);
        if (near_tie_step == rc->n_greedy && top2_gap(lg, n_vocab) < NEAR_TIE_GAP)
            near_tie_step = i;
        if (spec->min_agree < 1) {
            st->clear++;
            st->agree += best == rc->greedy[i];
        } else {
            CHECK(lg[rc->greedy[i]] >= lg[best] - spec->tol_max, "%s case %d step %d: llama.cpp's id %d is %.5f below our best %d",
                  spec->name, case_no, i, rc->greedy[i], lg[best] - lg[rc->greedy[i]], best);
        }
    }

    /* free-running greedy, one token at a time, from a fresh cache */
    if (spec->greedy != GREEDY_NONE) {
        int steps = spec->greedy == GREEDY_ALL ? rc->n_greedy : near_tie_step;
        int matched = 0;
        kestrel_decode(ctx, rc->tokens, rc->n_tokens, 0, false);
        for (int i = 0; i < steps; i++) {
            kestrel_token t = argmax(kestrel_logits(ctx, -1), n_vocab);
            if (t != rc->greedy[i])
                break;
            matched++;
            if (i + 1 < steps)
                kestrel_decode(ctx, &t, 1, rc->n_tokens + i, false);
        }
        CHECK(matched == steps, "%s case %d: free-running greedy matches %d of %d steps", spec->name, case_no,
              matched, steps);
        printf("  %s case %d: free-running greedy identical for %d/%d steps (compared up to %d)\n", spec->name,
               case_no, matched, rc->n_greedy, steps);
    }
    free(seq);
}

static void check_model(const model_spec *spec)
{
    char model_path[512], ref_path[512];
    snprintf(model_path, sizeof model_path, "%s/models/%s.gguf", test_shared_dir(), spec->name);
    snprintf(ref_path, sizeof ref_path, "%s/reference/%s.ref.txt", test_shared_dir(), spec->name);
    ref_file rf;
    if (ref_load(ref_path, &rf)) {
        CHECK(0, "cannot read %s", ref_path);
        return;
    }
    kestrel_model *model = kestrel_model_load(model_path);
    CHECK(model != NULL, "load %s: %s", model_path, kestrel_last_error());
    if (!model) {
        ref_free(&rf);
        return;
    }
    CHECK(kestrel_n_vocab(model) == rf.n_vocab, "%s: n_vocab %d, reference %d", spec->name, kestrel_n_vocab(model),
          rf.n_vocab);
    kestrel_context_params cp = kestrel_context_default_params();
    cp.n_ctx = 1024;
    cp.n_batch = 1024;
    cp.kv_type = KESTREL_KV_F32; /* the reference was made with an F32 cache */
    kestrel_context *ctx = kestrel_context_new(model, &cp);
    CHECK(ctx != NULL, "context for %s: %s", spec->name, kestrel_last_error());

    stats st = { 0 };
    st.pos_diffs = calloc(4096, sizeof(float));
    for (int c = 0; ctx && c < rf.n_cases; c++)
        check_case(spec, model, ctx, &rf.cases[c], c, rf.n_vocab, &st);

    qsort(st.pos_diffs, (size_t)st.n_pos, sizeof(float), cmp_float);
    float median = st.n_pos ? st.pos_diffs[st.n_pos / 2] : 0;
    if (spec->tol_median > 0)
        CHECK(median <= spec->tol_median, "%s: median |logit diff| %.5f > %.5f", spec->name, median, spec->tol_median);
    if (spec->min_agree < 1)
        CHECK(st.agree >= spec->min_agree * st.clear, "%s: argmax agrees at %d of %d positions", spec->name, st.agree,
              st.clear);
    else
        CHECK(st.agree == st.clear, "%s: argmax agrees at %d of %d clear positions", spec->name, st.agree, st.clear);
    printf("%-26s %d cases, %d prompt positions: max |diff| %.5f (tol %.5f), median %.5f, argmax %d/%d\n",
           spec->name, rf.n_cases, st.n_pos, st.max_diff, spec->tol_max, median, st.agree, st.clear);
    free(st.pos_diffs);
    kestrel_context_free(ctx);
    kestrel_model_free(model);
    ref_free(&rf);
}

int main(int argc, char **argv)
{
    /* Optional arguments name the models to check (default: all). KESTREL_TEST_QUICK
     * (set by make test-asan, where everything runs several times slower) leaves
     * out the 41M-parameter target. */
    const char *quick = getenv("KESTREL_TEST_QUICK");
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        bool wanted = argc < 2 && !(quick && *quick && strstr(specs[i].name, "41M"));
        for (int a = 1; a < argc; a++)
            wanted |= strcmp(argv[a], specs[i].name) == 0;
        if (wanted)
            check_model(&specs[i]);
    }
    return test_report();
}
