/* kestrel [run]: load a model, evaluate the prompt, stream generated text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kestrel.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kestrel [-m model.gguf] [-p PROMPT | -f FILE] [options]\n"
            "\n"
            "  -m, --model FILE          GGUF model (default: %s)\n"
            "  -p, --prompt TEXT         prompt text\n"
            "  -f, --file FILE           read the prompt from a file (bytes as they are)\n"
            "  -e, --escape              process \\n \\t \\\\ \\\" \\xHH escapes in the prompt\n"
            "  -n, --n-predict N         tokens to generate (-1: until end of text or context; default -1)\n"
            "  -c, --ctx-size N          context length (0: the model's; default 0)\n"
            "  -b, --batch-size N        tokens per forward pass when reading the prompt (default 512)\n"
            "  -t, --threads N           threads (default: physical cores)\n"
            "  -ctk, --cache-type-k T    KV cache type, f16 or f32 (default f16; -ctv is the same setting)\n"
            "  --temp T                  temperature; 0 = greedy (default 0.8)\n"
            "  --top-k K                 keep the K most likely tokens; 0 = off (default 40)\n"
            "  --top-p P                 nucleus sampling; 1 = off (default 0.95)\n"
            "  --min-p P                 drop tokens below P x the top probability; 0 = off (default 0.05)\n"
            "  --repeat-penalty R        penalize repeated tokens; 1 = off (default 1.0)\n"
            "  --repeat-last-n N         window of the penalties; -1 = whole context (default 64)\n"
            "  --frequency-penalty F     subtract F x count (default 0)\n"
            "  --presence-penalty P      subtract P once a token appeared (default 0)\n"
            "  -s, --seed S              random seed (default: random)\n"
            "  --parse-special           read control-token text such as <s> in the prompt as those tokens\n"
            "  --no-display-prompt       do not echo the prompt\n"
            "  --ids                     print generated token ids instead of text\n"
            "\n"
            "speculative decoding (output as the target alone would give, see README):\n"
            "  -md, --model-draft FILE   draft model (same tokenizer as the target)\n"
            "  --draft-self TYPE         draft with an in-memory TYPE copy of the target (e.g. Q4_0)\n"
            "  --draft-self-layers K     ... using only its first K layers, then the output head\n"
            "  --lookup                  draft from n-grams of the prompt and text so far (no model)\n"
            "  --draft-max, --draft N    most tokens drafted per target pass (default 16)\n"
            "  --draft-min N             model drafts shorter than N are not verified (default 5)\n"
            "  --draft-p-min P           stop drafting when the draft's top probability < P (default 0.9)\n"
            "  --draft-fixed             always draft up to --draft-max (default: adapt the length\n"
            "                            to the measured acceptance rate and costs)\n"
            "  -td, --threads-draft N    threads of the draft model (default: as -t)\n"
            "  --verbose                 print model details\n"
            "  -h, --help                this text\n"
            "\n"
            "other commands: kestrel info | tokenize | logits | template (kestrel help)\n",
            KESTREL_DEFAULT_MODEL);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct {
    const char *model, *prompt, *prompt_file;
    bool escape, parse_special, display_prompt, ids, verbose;
    cli_draft_options draft;
    long n_predict;
    kestrel_context_params cparams;
    kestrel_sampler_params sparams;
} run_options;

static bool is_option(const char *arg, const char *name, const char *alias)
{
    return strcmp(arg, name) == 0 || (alias && strcmp(arg, alias) == 0);
}

/* Returns 0, or 2 after printing what is wrong. */
static int parse_args(int argc, char **argv, run_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        bool used_value = true;
#define IS(s1, s2) is_option(a, s1, s2)
#define NEED(cond) do { if (!v || !(cond)) { fprintf(stderr, "kestrel: bad or missing value for %s\n", a); return 2; } } while (0)
        int shared = cli_shared_option(a, v, &o->cparams, &o->sparams);
        if (shared == 2)
            return 2;
        if (shared == 1) {
            i++;
            continue;
        }
        int drafting = cli_draft_option(a, v, &o->draft);
        if (drafting < 0)
            return 2;
        if (drafting > 0) {
            i += drafting - 1;
            continue;
        }
        if (IS("-h", "--help")) {
            usage(stdout);
            exit(0);
        } else if (IS("-m", "--model")) { NEED(1); o->model = v;
        } else if (IS("-p", "--prompt")) { NEED(1); o->prompt = v;
        } else if (IS("-f", "--file")) { NEED(1); o->prompt_file = v;
        } else if (IS("-n", "--n-predict")) { NEED(cli_parse_int(v, -1, 1L << 30, &n)); o->n_predict = n;
        } else {
            used_value = false;
            if (IS("-e", "--escape")) o->escape = true;
            else if (IS("--parse-special", NULL)) o->parse_special = true;
            else if (IS("--no-display-prompt", NULL)) o->display_prompt = false;
            else if (IS("--ids", NULL)) o->ids = true;
            else if (IS("--verbose", "-v")) o->verbose = true;
            else {
                fprintf(stderr, "kestrel: unknown option '%s'\n\n", a);
                usage(stderr);
                return 2;
            }
        }
        if (used_value)
            i++;
#undef IS
#undef NEED
    }
    if (cli_draft_wanted(&o->draft) < 0)
        return 2;
    if (o->prompt && o->prompt_file) {
        fprintf(stderr, "kestrel: give -p or -f, not both\n");
        return 2;
    }
    return 0;
}

/* Writes a token the way the run was asked to: its id, or its text as soon as
 * it forms complete UTF-8. */
static void emit(const kestrel_model *model, kestrel_utf8_stream *stream, kestrel_token tok, bool ids, bool first)
{
    if (ids) {
        printf(first ? "%d" : " %d", tok);
    } else {
        char piece[512];
        int n = kestrel_detokenize_stream(model, stream, tok, piece, sizeof piece);
        if (n > 0)
            fwrite(piece, 1, (size_t)n, stdout);
    }
    fflush(stdout);
}

/* The generation loop with a draft (-md, --draft-self or --lookup). */
static int run_speculative(const run_options *o, kestrel_model *model, kestrel_context *ctx,
                           const kestrel_token *tokens, int n_prompt)
{
    int rc = 1;
    kestrel_model *draft = NULL;
    kestrel_context *dctx = NULL;
    kestrel_spec *spec = NULL;
    kestrel_token *out = NULL;
    const kestrel_spec_params sp = o->draft.spec;
    const char *what = o->draft.model ? o->draft.model : "lookup";
    if (cli_draft_open(&o->draft, model, ctx, &o->cparams, &draft, &dctx))
        goto out;
    if (draft) {
        kestrel_model_info di;
        kestrel_model_get_info(draft, &di);
        if (o->draft.self_type)
            what = di.name;
        fprintf(stderr, "kestrel: draft %s (%s, %d layers, %.1fM params)\n", di.name, di.type_name, di.n_layer,
                di.n_params / 1e6);
    }
    spec = kestrel_spec_new(ctx, dctx, &sp, &o->sparams);
    out = malloc(((size_t)sp.n_max + 1) * sizeof *out);
    if (!spec || !out)
        goto fail;

    double t0 = now_ms();
    if (kestrel_spec_begin(spec, tokens, n_prompt))
        goto fail;
    double t_prompt = now_ms() - t0;

    kestrel_utf8_stream stream = { 0 };
    long n_gen = 0;
    bool stop = false;
    t0 = now_ms();
    while (!stop && (o->n_predict < 0 || n_gen < o->n_predict)) {
        long want = o->n_predict < 0 ? sp.n_max + 1 : o->n_predict - n_gen;
        int got = kestrel_spec_next(spec, out, want < sp.n_max + 1 ? (int)want : sp.n_max + 1);
        if (got < 0)
            goto fail;
        if (got == 0)
            break;
        for (int i = 0; i < got && !stop; i++) {
            n_gen++;
            bool eog = kestrel_token_is_eog(model, out[i]);
            if (!eog || o->ids)
                emit(model, &stream, out[i], o->ids, n_gen == 1);
            stop = eog;
        }
    }
    double t_gen = now_ms() - t0;
    if (o->ids || !o->display_prompt || n_gen > 0)
        printf("\n");
    fflush(stdout);
    if (kestrel_spec_context_full(spec))
        fprintf(stderr, "kestrel: stopped: the context of %d tokens is full (use -c for more)\n", kestrel_n_ctx(ctx));
    kestrel_spec_stats st;
    kestrel_spec_get_stats(spec, &st);
    fprintf(stderr, "kestrel: prompt %d tokens in %.1f ms\n", n_prompt, t_prompt);
    fprintf(stderr, "kestrel: speculative (%s): drafted %llu, accepted %llu (%.1f%%), discarded %llu; "
                    "%llu target passes, %.2f tokens per pass; draft length now %d%s\n",
            what, (unsigned long long)st.n_drafted, (unsigned long long)st.n_accepted,
            st.n_drafted ? 100.0 * (double)st.n_accepted / (double)st.n_drafted : 0.0,
            (unsigned long long)st.n_discarded, (unsigned long long)st.n_target_passes,
            st.n_target_passes ? (double)st.n_generated / (double)st.n_target_passes : 0.0, st.draft_len,
            sp.adaptive ? " (adaptive)" : "");
    fprintf(stderr, "kestrel: time in target %.1f ms, in draft %.1f ms\n", st.t_target_ms, st.t_draft_ms);
    fprintf(stderr, "kestrel: generated %ld tokens in %.1f ms (%.1f tokens/s)\n", n_gen, t_gen,
            n_gen * 1e3 / (t_gen > 0 ? t_gen : 1e-9));
    rc = 0;
    goto out;
fail:
    cli_fail();
out:
    free(out);
    kestrel_spec_free(spec);
    kestrel_context_free(dctx);
    kestrel_model_free(draft);
    return rc;
}

int cli_run(int argc, char **argv)
{
    run_options o = { 0 };
    o.n_predict = -1;
    o.display_prompt = true;
    o.cparams = kestrel_context_default_params();
    o.sparams = kestrel_sampler_default_params();
    o.draft = cli_draft_default_options();
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    if (!o.model)
        o.model = cli_default_model();

    /* the prompt, as bytes */
    char *text = NULL;
    size_t text_len = 0;
    if (o.prompt_file) {
        text = cli_read_file(o.prompt_file, &text_len);
        if (!text)
            return 1;
    } else {
        const char *p = o.prompt ? o.prompt : "";
        text_len = strlen(p);
        text = malloc(text_len + 1);
        if (!text)
            return 1;
        memcpy(text, p, text_len + 1);
    }
    if (o.escape)
        text_len = cli_unescape(text, text_len);

    double t_start = now_ms();
    kestrel_model *model = kestrel_model_load(o.model);
    if (!model) {
        free(text);
        return cli_fail();
    }
    kestrel_context *ctx = kestrel_context_new(model, &o.cparams);
    kestrel_sampler *sampler = NULL;
    kestrel_token *tokens = NULL;
    if (!ctx)
        goto fail;
    double t_loaded = now_ms();

    const int n_ctx = kestrel_n_ctx(ctx);
    int n_prompt = 0;
    tokens = kestrel_tokenize_alloc(model, text, text_len, true, o.parse_special, &n_prompt);
    if (!tokens)
        goto fail;
    if (n_prompt == 0) {
        fprintf(stderr, "kestrel: the prompt is empty and the model adds no BOS token\n");
        goto fail_quiet;
    }
    if (n_prompt > n_ctx) {
        fprintf(stderr, "kestrel: the prompt has %d tokens, more than the context of %d (use -c)\n", n_prompt, n_ctx);
        goto fail_quiet;
    }
    sampler = kestrel_sampler_new(&o.sparams, kestrel_n_vocab(model));
    if (!sampler)
        goto fail;

    kestrel_model_info info;
    kestrel_model_get_info(model, &info);
    fprintf(stderr, "kestrel: %s (%s, %s, %.1fM params, %.1f MiB), kernels %s, %d threads, context %d\n",
            info.name, info.arch, info.type_name, info.n_params / 1e6, info.file_size / 1048576.0, kestrel_isa(),
            kestrel_n_threads(ctx), n_ctx);
    if (o.verbose)
        fprintf(stderr,
                "kestrel: n_vocab %d, n_embd %d, n_layer %d, n_head %d, n_head_kv %d, n_ff %d, n_ctx_train %d\n",
                info.n_vocab, info.n_embd, info.n_layer, info.n_head, info.n_head_kv, info.n_ff,
                info.n_ctx_train);
    if (o.display_prompt && !o.ids) {
        fwrite(text, 1, text_len, stdout);
        fflush(stdout);
    }

    if (cli_draft_wanted(&o.draft)) {
        rc = run_speculative(&o, model, ctx, tokens, n_prompt);
        goto done;
    }

    /* prompt */
    double t0 = now_ms();
    if (kestrel_decode(ctx, tokens, n_prompt, 0, false))
        goto fail;
    for (int i = 0; i < n_prompt; i++)
        kestrel_sampler_accept(sampler, tokens[i]);
    double t_prompt = now_ms() - t0;

    /* generation */
    kestrel_utf8_stream stream = { 0 };
    int n_past = n_prompt, n_gen = 0;
    bool context_full = false;
    t0 = now_ms();
    while (o.n_predict < 0 || n_gen < o.n_predict) {
        kestrel_token tok = kestrel_sampler_sample(sampler, kestrel_logits(ctx, -1));
        kestrel_sampler_accept(sampler, tok);
        n_gen++;
        bool eog = kestrel_token_is_eog(model, tok);
        if (!eog || o.ids)
            emit(model, &stream, tok, o.ids, n_gen == 1);
        if (eog)
            break;
        if (o.n_predict >= 0 && n_gen == o.n_predict)
            break;
        if (n_past >= n_ctx) {
            context_full = true;
            break;
        }
        if (kestrel_decode(ctx, &tok, 1, n_past, false))
            goto fail;
        n_past++;
    }
    double t_gen = now_ms() - t0;
    if (o.ids || !o.display_prompt || n_gen > 0)
        printf("\n");
    fflush(stdout);
    if (context_full)
        fprintf(stderr, "kestrel: stopped: the context of %d tokens is full (use -c for more)\n", n_ctx);
    fprintf(stderr, "kestrel: load %.1f ms\n", t_loaded - t_start);
    fprintf(stderr, "kestrel: prompt %d tokens in %.1f ms (%.1f tokens/s)\n", n_prompt, t_prompt,
            n_prompt * 1e3 / (t_prompt > 0 ? t_prompt : 1e-9));
    fprintf(stderr, "kestrel: generated %d tokens in %.1f ms (%.1f tokens/s)\n", n_gen, t_gen,
            n_gen * 1e3 / (t_gen > 0 ? t_gen : 1e-9));
    rc = 0;
    goto done;
fail:
    cli_fail();
fail_quiet:
    rc = 1;
done:
    kestrel_sampler_free(sampler);
    kestrel_context_free(ctx);
    kestrel_model_free(model);
    free(tokens);
    free(text);
    return rc;
}
