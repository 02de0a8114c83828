/* kestrel bench: prompt-processing and generation speed, as llama-bench
 * measures them, plus this machine's read bandwidth and how close generation
 * comes to the bandwidth roofline.
 *
 * pp<P>: one decode of P random tokens (BOS first when the model adds one).
 * tg<N>: N decodes of one random token each, at positions 0..N-1.
 * With a draft (--draft, --draft-self or --lookup) tg is instead greedy
 * generation of N tokens after a short fixed English prompt (speculation on
 * random tokens would measure nothing), and tg<N>+draft generates the same N
 * tokens through kestrel_spec_*: same prompt, same context, so the speedup is
 * measured against the target alone in the same run, and the tokens must match.
 * Each test runs once to warm up, then -r times; t/s is the mean ± standard
 * deviation of the per-repetition rates. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kestrel.h"

#define MAX_MODELS 32
#define MAX_REPS 1000
#define SPEC_PROMPT "It was a dark and stormy night, and"

enum fmt { FMT_MD, FMT_CSV, FMT_JSON };

typedef struct {
    const char *filename;
    char model_type[160];
    uint64_t model_size, n_params;
    int n_batch, n_threads, n_prompt, n_gen, reps;
    char test_time[32];
    double *samples_ns; /* reps */
    double avg_ns, stddev_ns, avg_ts, stddev_ts;
    int n_depth;              /* tokens in the cache before the timed part (the prompt with a draft) */
    uint64_t bytes_per_token; /* tg: weights + KV at the mean position; pp, tg+draft: 0 */
    double roofline;          /* tg: avg_ts * bytes_per_token / bandwidth; < 0: unknown */
    bool spec;                /* tg+draft */
    double speedup;           /* tg+draft: avg_ts / that of tg on the same model in this run */
    double acceptance;        /* tg+draft: accepted / drafted tokens; < 0: nothing drafted */
    double tokens_per_pass;   /* tg+draft: generated tokens / target decodes */
} result;

/* What bench was asked to do. */
typedef struct {
    int n_prompt, n_gen, n_threads, reps;
    int n_depth; /* random tokens put in the cache before pp and tg (llama-bench's -d) */
    bool warmup;
    int drafting; /* 1: a draft was given */
    cli_draft_options draft;
} bench_options;

static int usage(FILE *out)
{
    fprintf(out,
            "usage: kestrel bench -m model.gguf [-m model2.gguf ...] [options]\n"
            "Measures prompt processing (pp) and generation (tg) speed like llama-bench, and\n"
            "the machine's read bandwidth, to give tg as a fraction of the roofline.\n\n"
            "options:\n"
            "  -m, --model F        model to test (repeatable; default: the shipped model)\n"
            "  -p, --n-prompt N     prompt tokens for pp (default 512; 0 = no pp test)\n"
            "  -n, --n-gen N        generated tokens for tg (default 128; 0 = no tg test)\n"
            "  -d, --n-depth N      random tokens in the cache before pp and tg (default 0)\n"
            "  -t, --threads N      threads (default: physical cores)\n"
            "  -r, --repetitions N  measured runs per test (default 5)\n"
            "  -o, --output FMT     md, csv or json (default md)\n"
            "  --bw-mib N           bandwidth probe buffer in MiB (default 1024; 0 = skip)\n"
            "  --no-warmup          skip the warm-up run of each test\n\n"
            "speculative decoding: with a draft, tg is greedy generation after a fixed prompt,\n"
            "and a tg+draft test generates the same tokens with the draft; its row gives the\n"
            "speedup over tg, the acceptance rate and the tokens per target pass:\n"
            "  -md, --draft F       draft model (same tokenizer as the targets)\n"
            "  --draft-self TYPE    draft with an in-memory TYPE copy of each target (e.g. Q4_0)\n"
            "  --draft-self-layers K  ... using only its first K layers\n"
            "  --lookup             draft from n-grams of the text so far (no model)\n"
            "  --draft-max N        most tokens drafted per target pass (default 16)\n"
            "  --draft-min N        model drafts shorter than N are not verified (default 5)\n"
            "  --draft-p-min P      stop drafting when the draft's top probability < P (default 0.9)\n"
            "  --draft-fixed        always draft up to --draft-max (default: adaptive)\n"
            "  -td, --threads-draft N  threads of the draft model (default: as -t)\n");
    return out == stdout ? 0 : 2;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* A small deterministic generator for the random tokens. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void cpu_model(char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *c = strchr(line, ':');
            if (c) {
                c++;
                while (*c == ' ' || *c == '\t')
                    c++;
                c[strcspn(c, "\n")] = 0;
                snprintf(buf, cap, "%s", c);
            }
            break;
        }
    }
    fclose(f);
}

static void size_label(uint64_t n_params, char *buf, size_t cap)
{
    if (n_params >= 1000000000ull)
        snprintf(buf, cap, "%.1fB", (double)n_params / 1e9);
    else if (n_params >= 1000000ull)
        snprintf(buf, cap, "%.0fM", (double)n_params / 1e6);
    else
        snprintf(buf, cap, "%.0fK", (double)n_params / 1e3);
}

static void stats(result *r)
{
    int n = r->reps;
    double sum_ns = 0, sum_ts = 0;
    for (int i = 0; i < n; i++) {
        sum_ns += r->samples_ns[i];
        sum_ts += (double)(r->n_prompt + r->n_gen) * 1e9 / r->samples_ns[i];
    }
    r->avg_ns = sum_ns / n;
    r->avg_ts = sum_ts / n;
    double var_ns = 0, var_ts = 0;
    for (int i = 0; i < n; i++) {
        double ts = (double)(r->n_prompt + r->n_gen) * 1e9 / r->samples_ns[i];
        var_ns += (r->samples_ns[i] - r->avg_ns) * (r->samples_ns[i] - r->avg_ns);
        var_ts += (ts - r->avg_ts) * (ts - r->avg_ts);
    }
    r->stddev_ns = n > 1 ? sqrt(var_ns / (n - 1)) : 0;
    r->stddev_ts = n > 1 ? sqrt(var_ts / (n - 1)) : 0;
}

/* n random tokens to be decoded from position pos: BOS first at position 0
 * when the model adds one. */
static void random_tokens(const kestrel_model *model, uint64_t *rng, kestrel_token *tokens, int n, int pos)
{
    for (int i = 0; i < n; i++)
        tokens[i] = (kestrel_token)(next_rand(rng) % (uint64_t)kestrel_n_vocab(model));
    if (n > 0 && pos == 0 && kestrel_add_bos(model))
        tokens[0] = kestrel_token_bos(model);
}

/* Fills positions 0..n-1 of the cache with random tokens, untimed. */
static int fill_depth(kestrel_context *ctx, const kestrel_model *model, int n, int n_batch, uint64_t *rng,
                      kestrel_token *tokens)
{
    for (int done = 0; done < n;) {
        const int k = n - done < n_batch ? n - done : n_batch;
        random_tokens(model, rng, tokens, k, done);
        if (kestrel_decode(ctx, tokens, k, done, false))
            return -1;
        done += k;
    }
    return 0;
}

/* One test at position pos: n_prompt tokens in one decode, or n_gen decodes of one token. */
static int run_once(kestrel_context *ctx, const kestrel_model *model, int pos, int n_prompt, int n_gen,
                    uint64_t *rng, kestrel_token *tokens, double *ns)
{
    if (n_prompt > 0) {
        random_tokens(model, rng, tokens, n_prompt, pos);
        double t0 = now_ns();
        if (kestrel_decode(ctx, tokens, n_prompt, pos, false))
            return -1;
        *ns = now_ns() - t0;
        return 0;
    }
    kestrel_token tok;
    random_tokens(model, rng, &tok, 1, pos);
    double t0 = now_ns();
    for (int i = 0; i < n_gen; i++) {
        if (kestrel_decode(ctx, &tok, 1, pos + i, false))
            return -1;
        random_tokens(model, rng, &tok, 1, pos + i + 1);
    }
    *ns = now_ns() - t0;
    return 0;
}

/* tg with a draft given: greedy generation of up to n_gen tokens after the
 * prompt. As in kestrel_spec_begin, the last prompt token opens the timed part,
 * so both tests time the same decodes. Returns the count generated (fewer at an
 * end-of-generation token, where the draft run stops too), or -1. */
static int greedy_once(kestrel_context *ctx, const kestrel_model *model, kestrel_sampler *smp,
                       const kestrel_token *prompt, int n_prompt, int n_gen, kestrel_token *out, double *ns)
{
    if (n_prompt > 1 && kestrel_decode(ctx, prompt, n_prompt - 1, 0, false))
        return -1;
    kestrel_token tok = prompt[n_prompt - 1];
    int n = 0;
    double t0 = now_ns();
    while (n < n_gen) {
        if (kestrel_decode(ctx, &tok, 1, n_prompt - 1 + n, false))
            return -1;
        tok = out[n++] = kestrel_sampler_sample(smp, kestrel_logits(ctx, -1));
        if (kestrel_token_is_eog(model, tok))
            break;
    }
    *ns = now_ns() - t0;
    return n;
}

/* The same generation through kestrel_spec_*. A fresh kestrel_spec each time,
 * so every repetition starts as a user's run does (the adaptive draft length
 * learns from scratch); its statistics are added to *st. Returns the count or -1. */
static int spec_once(kestrel_context *ctx, kestrel_context *dctx, const kestrel_spec_params *sp,
                     const kestrel_sampler_params *smp, const kestrel_token *prompt, int n_prompt, int n_gen,
                     kestrel_token *out, double *ns, kestrel_spec_stats *st)
{
    kestrel_spec *spec = kestrel_spec_new(ctx, dctx, sp, smp);
    if (!spec || kestrel_spec_begin(spec, prompt, n_prompt)) {
        kestrel_spec_free(spec);
        return -1;
    }
    int n = 0;
    double t0 = now_ns();
    while (n < n_gen) {
        int got = kestrel_spec_next(spec, out + n, n_gen - n < sp->n_max + 1 ? n_gen - n : sp->n_max + 1);
        if (got < 0)
            n = -1;
        if (got <= 0)
            break;
        n += got;
    }
    *ns = now_ns() - t0;
    kestrel_spec_stats one;
    kestrel_spec_get_stats(spec, &one);
    kestrel_spec_free(spec);
    st->n_generated += one.n_generated;
    st->n_drafted += one.n_drafted;
    st->n_accepted += one.n_accepted;
    st->n_target_passes += one.n_target_passes;
    return n;
}

/* ---- output ------------------------------------------------------------------- */

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void csv_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

typedef struct {
    const char *cpu_info, *isa;
    double bandwidth; /* bytes/s; <= 0: not measured */
    size_t bw_bytes;
    int bw_passes, n_probes;
    const bench_options *opt;
    char draft[192];  /* the draft model's type ("llama 11M Q8_0"), "self Q4_0 ..." or "lookup" */
    const char *test; /* the tg+draft test's suffix: "draft", "self" or "lookup" */
} run_info;

static const char *csv_fields[] = {
    "build_commit", "build_number", "cpu_info", "gpu_info", "backends", "model_filename", "model_type",
    "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads", "type_k", "type_v", "n_prompt",
    "n_gen", "n_depth", "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts", "isa", "bandwidth_bps",
    "bytes_per_token", "roofline_fraction",
};
/* added after those when a draft is given (empty but in tg+draft rows) */
static const char *csv_draft_fields[] = {
    "draft_filename", "draft", "draft_max", "draft_min", "draft_p_min", "draft_adaptive", "speedup", "acceptance",
    "tokens_per_pass",
};
#define N_DRAFT_FIELDS (sizeof csv_draft_fields / sizeof csv_draft_fields[0])

static void print_csv(FILE *out, const result *rs, int n, const run_info *ri)
{
    const cli_draft_options *d = &ri->opt->draft;
    for (size_t i = 0; i < sizeof csv_fields / sizeof csv_fields[0]; i++) {
        fputs(i ? "," : "", out);
        csv_str(out, csv_fields[i]);
    }
    for (size_t i = 0; ri->opt->drafting && i < N_DRAFT_FIELDS; i++) {
        fputc(',', out);
        csv_str(out, csv_draft_fields[i]);
    }
    fputc('\n', out);
    for (int k = 0; k < n; k++) {
        const result *r = &rs[k];
        char v[64];
        csv_str(out, KESTREL_VERSION);
        fputs(",\"0\",", out);
        csv_str(out, ri->cpu_info);
        fputs(",\"\",\"CPU\",", out);
        csv_str(out, r->filename);
        fputc(',', out);
        csv_str(out, r->model_type);
        fprintf(out, ",\"%llu\",\"%llu\",\"%d\",\"%d\",\"%d\",\"f16\",\"f16\",\"%d\",\"%d\",\"%d\",",
                (unsigned long long)r->model_size, (unsigned long long)r->n_params, r->n_batch, r->n_batch,
                r->n_threads, r->n_prompt, r->n_gen, r->n_depth);
        csv_str(out, r->test_time);
        fprintf(out, ",\"%.0f\",\"%.0f\",\"%.6f\",\"%.6f\",", r->avg_ns, r->stddev_ns, r->avg_ts, r->stddev_ts);
        csv_str(out, ri->isa);
        snprintf(v, sizeof v, "%.0f", ri->bandwidth > 0 ? ri->bandwidth : 0.0);
        fprintf(out, ",\"%s\",\"%llu\",", v, (unsigned long long)r->bytes_per_token);
        if (r->roofline >= 0)
            fprintf(out, "\"%.6f\"", r->roofline);
        else
            fputs("\"\"", out);
        if (ri->opt->drafting && !r->spec) {
            for (size_t i = 0; i < N_DRAFT_FIELDS; i++)
                fputs(",\"\"", out);
        } else if (r->spec) {
            fputc(',', out);
            csv_str(out, d->model ? d->model : "");
            fputc(',', out);
            csv_str(out, ri->draft);
            fprintf(out, ",\"%d\",\"%d\",\"%.6f\",\"%d\",\"%.6f\",", d->spec.n_max, d->spec.n_min,
                    (double)d->spec.p_min, d->spec.adaptive, r->speedup);
            if (r->acceptance >= 0)
                fprintf(out, "\"%.6f\"", r->acceptance);
            else
                fputs("\"\"", out);
            fprintf(out, ",\"%.6f\"", r->tokens_per_pass);
        }
        fputc('\n', out);
    }
}

static void print_json(FILE *out, const result *rs, int n, const run_info *ri)
{
    const cli_draft_options *d = &ri->opt->draft;
    fputs("[\n", out);
    for (int k = 0; k < n; k++) {
        const result *r = &rs[k];
        fputs("  {\n    \"build_commit\": ", out);
        json_str(out, KESTREL_VERSION);
        fputs(",\n    \"build_number\": 0,\n    \"cpu_info\": ", out);
        json_str(out, ri->cpu_info);
        fputs(",\n    \"gpu_info\": \"\",\n    \"backends\": \"CPU\",\n    \"model_filename\": ", out);
        json_str(out, r->filename);
        fputs(",\n    \"model_type\": ", out);
        json_str(out, r->model_type);
        fprintf(out,
                ",\n    \"model_size\": %llu,\n    \"model_n_params\": %llu,\n    \"n_batch\": %d,\n"
                "    \"n_ubatch\": %d,\n    \"n_threads\": %d,\n    \"type_k\": \"f16\",\n    \"type_v\": \"f16\",\n"
                "    \"n_prompt\": %d,\n    \"n_gen\": %d,\n    \"n_depth\": %d,\n    \"test_time\": ",
                (unsigned long long)r->model_size, (unsigned long long)r->n_params, r->n_batch, r->n_batch,
                r->n_threads, r->n_prompt, r->n_gen, r->n_depth);
        json_str(out, r->test_time);
        fprintf(out,
                ",\n    \"avg_ns\": %.0f,\n    \"stddev_ns\": %.0f,\n    \"avg_ts\": %.6f,\n"
                "    \"stddev_ts\": %.6f,\n    \"samples_ns\": [ ",
                r->avg_ns, r->stddev_ns, r->avg_ts, r->stddev_ts);
        for (int i = 0; i < r->reps; i++)
            fprintf(out, "%s%.0f", i ? ", " : "", r->samples_ns[i]);
        fputs(" ],\n    \"samples_ts\": [ ", out);
        for (int i = 0; i < r->reps; i++)
            fprintf(out, "%s%.6f", i ? ", " : "", (double)(r->n_prompt + r->n_gen) * 1e9 / r->samples_ns[i]);
        fputs(" ],\n    \"isa\": ", out);
        json_str(out, ri->isa);
        fprintf(out, ",\n    \"bandwidth_bps\": %.0f,\n    \"bytes_per_token\": %llu,\n    \"roofline_fraction\": ",
                ri->bandwidth > 0 ? ri->bandwidth : 0.0, (unsigned long long)r->bytes_per_token);
        if (r->roofline >= 0)
            fprintf(out, "%.6f", r->roofline);
        else
            fputs("null", out);
        if (r->spec) {
            fputs(",\n    \"draft_filename\": ", out);
            json_str(out, d->model ? d->model : "");
            fputs(",\n    \"draft\": ", out);
            json_str(out, ri->draft);
            fprintf(out,
                    ",\n    \"draft_max\": %d,\n    \"draft_min\": %d,\n    \"draft_p_min\": %.6f,\n"
                    "    \"draft_adaptive\": %s,\n    \"speedup\": %.6f,\n    \"acceptance\": ",
                    d->spec.n_max, d->spec.n_min, (double)d->spec.p_min, d->spec.adaptive ? "true" : "false",
                    r->speedup);
            if (r->acceptance >= 0)
                fprintf(out, "%.6f", r->acceptance);
            else
                fputs("null", out);
            fprintf(out, ",\n    \"tokens_per_pass\": %.6f", r->tokens_per_pass);
        }
        fprintf(out, "\n  }%s\n", k + 1 < n ? "," : "");
    }
    fputs("]\n", out);
}

static void print_md(FILE *out, const result *rs, int n, const run_info *ri)
{
    /* the last three columns only with a draft; column 0 and 3 left-aligned */
    static const char *heads[] = { "model", "size", "params", "isa", "threads", "test", "t/s", "roofline",
                                   "speedup", "accept", "tok/pass" };
    static const int widths[] = { 30, 11, 10, 11, 7, 13, 20, 9, 7, 6, 8 };
    const size_t n_cols = ri->opt->drafting ? 11 : 8;
    for (size_t c = 0; c < n_cols; c++)
        fprintf(out, c == 0 || c == 3 ? "| %-*s " : "| %*s ", widths[c], heads[c]);
    fputs("|\n", out);
    for (size_t c = 0; c < n_cols; c++) {
        fputs("| ", out);
        for (int i = 0; i < widths[c] - 1; i++)
            fputc('-', out);
        fputc(c == 0 || c == 3 ? '-' : ':', out);
        fputc(' ', out);
    }
    fputs("|\n", out);
    for (int k = 0; k < n; k++) {
        const result *r = &rs[k];
        char size[32], params[32], test[48], ts[48], roof[32];
        snprintf(size, sizeof size, "%.2f MiB", (double)r->model_size / (1024.0 * 1024.0));
        snprintf(params, sizeof params, "%.2f B", (double)r->n_params / 1e9);
        if (r->n_prompt)
            snprintf(test, sizeof test, "pp%d", r->n_prompt);
        else
            snprintf(test, sizeof test, "tg%d%s%s", r->n_gen, r->spec ? "+" : "", r->spec ? ri->test : "");
        if (!ri->opt->drafting && r->n_depth > 0) /* llama-bench's label (-d) */
            snprintf(test + strlen(test), sizeof test - strlen(test), " @ d%d", r->n_depth);
        snprintf(ts, sizeof ts, "%.2f ± %.2f", r->avg_ts, r->stddev_ts);
        if (r->roofline >= 0)
            snprintf(roof, sizeof roof, "%.1f%%", 100.0 * r->roofline);
        else
            snprintf(roof, sizeof roof, "-");
        /* "±" is two bytes but one column: pad by one more */
        fprintf(out, "| %-30s | %11s | %10s | %-11s | %7d | %13s | %21s | %9s |", r->model_type, size, params,
                ri->isa, r->n_threads, test, ts, roof);
        if (n_cols > 8) {
            char speedup[32] = "-", accept[32] = "-", per_pass[32] = "-";
            if (r->spec) {
                snprintf(speedup, sizeof speedup, "%.2fx", r->speedup);
                if (r->acceptance >= 0)
                    snprintf(accept, sizeof accept, "%.1f%%", 100.0 * r->acceptance);
                snprintf(per_pass, sizeof per_pass, "%.2f", r->tokens_per_pass);
            }
            fprintf(out, " %7s | %6s | %8s |", speedup, accept, per_pass);
        }
        fputc('\n', out);
    }
    fputc('\n', out);
    if (ri->opt->drafting) {
        const kestrel_spec_params *sp = &ri->opt->draft.spec;
        if (ri->opt->draft.model)
            fprintf(out, "draft: %s (%s)", ri->opt->draft.model, ri->draft);
        else
            fprintf(out, "draft: %s", ri->draft);
        fprintf(out, "; draft-max %d, draft-min %d, draft-p-min %.2f, %s length\n", sp->n_max, sp->n_min,
                (double)sp->p_min, sp->adaptive ? "adaptive" : "fixed");
        fprintf(out,
                "tg and tg+%s: greedy generation after the prompt \"%s\"; speedup: tg+%s t/s over tg t/s; "
                "accept: accepted / drafted tokens\n",
                ri->test, SPEC_PROMPT, ri->test);
    }
    if (ri->bandwidth > 0)
        fprintf(out,
                "read bandwidth: %.2f GB/s (%d threads, %zu MiB buffer, best of %d passes in %d probes)\n"
                "roofline: tg t/s x (weight bytes read per token + KV cache at the mean position) / bandwidth\n",
                ri->bandwidth / 1e9, rs && n ? rs[0].n_threads : 0, ri->bw_bytes >> 20, ri->bw_passes * ri->n_probes,
                ri->n_probes);
    fprintf(out, "build: kestrel %s (%s)\n", KESTREL_VERSION, ri->isa);
}

/* ---- driver ------------------------------------------------------------------- */

/* "llama 41M Q4_K - Medium": architecture, parameters, file type. */
static void type_label(const kestrel_model *model, char *buf, size_t cap)
{
    kestrel_model_info info;
    kestrel_model_get_info(model, &info);
    char label[32];
    size_label(info.n_params, label, sizeof label);
    snprintf(buf, cap, "%s %s %s", info.arch, label, kestrel_model_ftype_name(model));
}

/* A row for one test, its samples still to be taken. */
static result *new_result(result *rs, int *n_rs, const char *path, const kestrel_model *model,
                          const kestrel_context *ctx, const kestrel_context_params *cp, int reps)
{
    result *r = &rs[(*n_rs)++];
    memset(r, 0, sizeof *r);
    kestrel_model_info info;
    kestrel_model_get_info(model, &info);
    r->filename = path;
    type_label(model, r->model_type, sizeof r->model_type);
    r->model_size = info.weight_bytes;
    r->n_params = info.n_params;
    r->n_batch = cp->n_batch;
    r->n_threads = kestrel_n_threads(ctx);
    r->reps = reps;
    r->roofline = -1;
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(r->test_time, sizeof r->test_time, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    r->samples_ns = calloc((size_t)reps, sizeof *r->samples_ns);
    return r->samples_ns ? r : NULL;
}

/* tg and tg+draft: greedy generation after the prompt, alone and with the
 * draft (dctx NULL: lookup), the same tokens expected. Returns 0 or -1. */
static int bench_spec(const char *path, const bench_options *o, kestrel_model *model, kestrel_context *ctx,
                      kestrel_context *dctx, const kestrel_context_params *cp, const kestrel_token *prompt,
                      int n_prompt, result *rs, int *n_rs)
{
    kestrel_sampler *smp = NULL;
    kestrel_token *ref = malloc((size_t)o->n_gen * sizeof *ref), *out = malloc((size_t)o->n_gen * sizeof *out);
    int rc = -1;
    if (!ref || !out)
        goto done;
    kestrel_sampler_params sp = kestrel_sampler_default_params();
    sp.temp = 0.0f; /* greedy: the draft run must give the target's own tokens */
    sp.seed = 1;
    smp = kestrel_sampler_new(&sp, kestrel_n_vocab(model));
    if (!smp)
        goto done;
    const uint64_t kv_per_pos = kestrel_model_kv_bytes_per_pos(model, cp->kv_type);

    /* the target alone */
    result *tg = new_result(rs, n_rs, path, model, ctx, cp, o->reps);
    if (!tg)
        goto done;
    double ns;
    int n_ref = 0;
    if (o->warmup && greedy_once(ctx, model, smp, prompt, n_prompt, 1, ref, &ns) < 0)
        goto done;
    for (int i = 0; i < o->reps; i++) {
        n_ref = greedy_once(ctx, model, smp, prompt, n_prompt, o->n_gen, ref, &ns);
        if (n_ref < 0)
            goto done;
        tg->samples_ns[i] = ns > 1 ? ns : 1;
    }
    if (n_ref < o->n_gen)
        fprintf(stderr, "kestrel bench: %s: the text ends after %d tokens; tg measures those\n", path, n_ref);
    tg->n_gen = n_ref;
    tg->n_depth = n_prompt - 1;
    stats(tg);
    /* the token at position d + i reads d + i + 1 cache rows */
    tg->bytes_per_token = kestrel_model_bytes_per_token(model) +
                          (uint64_t)((double)kv_per_pos * (tg->n_depth + (n_ref + 1) / 2.0));

    /* with the draft */
    result *r = new_result(rs, n_rs, path, model, ctx, cp, o->reps);
    if (!r)
        goto done;
    kestrel_spec_stats st = { 0 };
    const int n_warm = o->n_gen < o->draft.spec.n_max + 1 ? o->n_gen : o->draft.spec.n_max + 1; /* a round or so */
    if (o->warmup && spec_once(ctx, dctx, &o->draft.spec, &sp, prompt, n_prompt, n_warm, out, &ns, &st) < 0)
        goto done;
    memset(&st, 0, sizeof st);
    bool warned = false;
    int n_out = 0;
    for (int i = 0; i < o->reps; i++) {
        n_out = spec_once(ctx, dctx, &o->draft.spec, &sp, prompt, n_prompt, o->n_gen, out, &ns, &st);
        if (n_out < 0)
            goto done;
        r->samples_ns[i] = ns > 1 ? ns : 1;
        int same = 0;
        while (same < n_out && same < n_ref && out[same] == ref[same])
            same++;
        if (!warned && (same < n_out || same < n_ref)) {
            fprintf(stderr, "kestrel bench: warning: %s: with the draft, token %d is %d, alone it is %d\n", path,
                    same, same < n_out ? out[same] : -1, same < n_ref ? ref[same] : -1);
            warned = true;
        }
    }
    r->spec = true;
    r->n_gen = n_out;
    r->n_depth = tg->n_depth;
    stats(r);
    r->speedup = r->avg_ts / tg->avg_ts;
    r->acceptance = st.n_drafted ? (double)st.n_accepted / (double)st.n_drafted : -1.0;
    r->tokens_per_pass = st.n_target_passes ? (double)st.n_generated / (double)st.n_target_passes : 0.0;
    rc = 0;
done:
    kestrel_sampler_free(smp);
    free(ref);
    free(out);
    return rc;
}

static int bench_model(const char *path, const bench_options *o, run_info *ri, result *rs, int *n_rs)
{
    kestrel_model *model = kestrel_model_load(path);
    if (!model)
        return -1;
    kestrel_token *prompt = NULL;
    int n_spec_prompt = 0;
    if (o->drafting) {
        prompt = kestrel_tokenize_alloc(model, SPEC_PROMPT, strlen(SPEC_PROMPT), true, false, &n_spec_prompt);
        if (!prompt) {
            kestrel_model_free(model);
            return -1;
        }
    }
    const int n_prompt = o->n_prompt, n_gen = o->drafting ? 0 : o->n_gen; /* the draft tests do tg */
    kestrel_context_params cp = kestrel_context_default_params();
    cp.n_ctx = o->n_depth + n_prompt + n_gen + (o->drafting ? n_spec_prompt + o->n_gen : 0);
    cp.n_batch = n_prompt > 0 ? (n_prompt < 512 ? n_prompt : 512) : 1;
    if (o->n_depth > 0 && cp.n_batch < 64) /* filling the depth in batches */
        cp.n_batch = o->n_depth < 64 ? o->n_depth : 64;
    if (o->drafting && cp.n_batch < o->draft.spec.n_max + 1) { /* a verify pass is one batch */
        cp.n_batch = o->draft.spec.n_max + 1;
        if (cp.n_ctx < cp.n_batch) /* a context caps the batch */
            cp.n_ctx = cp.n_batch;
    }
    cp.n_threads = o->n_threads;
    cp.kv_type = KESTREL_KV_F16;
    kestrel_context *ctx = kestrel_context_new(model, &cp);
    kestrel_token *tokens = malloc(((size_t)(n_prompt > cp.n_batch ? n_prompt : cp.n_batch) + 1) * sizeof *tokens);
    kestrel_model *draft = NULL;
    kestrel_context *dctx = NULL;
    int rc = ctx && tokens ? 0 : ctx ? -2 : -1;
    /* the draft before any test, so that a mismatch fails at once */
    if (rc == 0 && o->drafting && cli_draft_open(&o->draft, model, ctx, &cp, &draft, &dctx))
        rc = 1;
    if (draft && o->draft.model)
        type_label(draft, ri->draft, sizeof ri->draft);
    uint64_t weights_per_token = kestrel_model_bytes_per_token(model);
    uint64_t kv_per_pos = kestrel_model_kv_bytes_per_pos(model, cp.kv_type);
    uint64_t rng = 0x6b657374726c31ull; /* the same tokens every run */
    for (int test = 0; test < 2 && rc == 0; test++) {
        int np = test == 0 ? n_prompt : 0, ng = test == 1 ? n_gen : 0;
        if (np + ng == 0)
            continue;
        result *r = new_result(rs, n_rs, path, model, ctx, &cp, o->reps);
        if (!r) {
            rc = -1;
            break;
        }
        r->n_prompt = np;
        r->n_gen = ng;
        r->n_depth = o->n_depth;
        double ns;
        if (o->n_depth > 0 && fill_depth(ctx, model, o->n_depth, cp.n_batch, &rng, tokens)) {
            rc = -1;
            break;
        }
        if (o->warmup && run_once(ctx, model, o->n_depth, np, ng ? 1 : 0, &rng, tokens, &ns)) {
            rc = -1;
            break;
        }
        for (int i = 0; i < o->reps && rc == 0; i++) {
            if (run_once(ctx, model, o->n_depth, np, ng, &rng, tokens, &ns))
                rc = -1;
            r->samples_ns[i] = ns > 1 ? ns : 1;
        }
        if (rc)
            break;
        stats(r);
        if (ng) {
            /* the token at position d + i reads d + i + 1 cache rows: d + (ng + 1) / 2 on average */
            r->bytes_per_token = weights_per_token + (uint64_t)((double)kv_per_pos * (o->n_depth + (ng + 1) / 2.0));
        }
    }
    if (rc == 0 && o->drafting)
        rc = bench_spec(path, o, model, ctx, dctx, &cp, prompt, n_spec_prompt, rs, n_rs);
    kestrel_context_free(dctx);
    kestrel_model_free(draft);
    free(tokens);
    free(prompt);
    kestrel_context_free(ctx);
    kestrel_model_free(model);
    return rc;
}

int cli_bench(int argc, char **argv)
{
    const char *models[MAX_MODELS];
    int n_models = 0;
    bench_options o = { .n_prompt = 512, .n_gen = 128, .reps = 5, .warmup = true };
    o.draft = cli_draft_default_options();
    long bw_mib = 1024;
    enum fmt fmt = FMT_MD;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return usage(stdout);
        if (!strcmp(a, "--no-warmup")) {
            o.warmup = false;
            continue;
        }
        /* here --draft names the draft file (run keeps llama.cpp's --draft = --draft-max) */
        int drafting = cli_draft_option(strcmp(a, "--draft") ? a : "-md", i + 1 < argc ? argv[i + 1] : NULL, &o.draft);
        if (drafting < 0)
            return 2;
        if (drafting > 0) {
            i += drafting - 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "kestrel bench: unknown option or missing value: %s\n", a);
            return usage(stderr);
        }
        const char *val = argv[++i];
        if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (n_models == MAX_MODELS) {
                fprintf(stderr, "kestrel bench: at most %d models\n", MAX_MODELS);
                return 2;
            }
            models[n_models++] = val;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--n-prompt")) {
            if (!cli_parse_int(val, 0, 1 << 20, &v))
                goto bad;
            o.n_prompt = (int)v;
        } else if (!strcmp(a, "-d") || !strcmp(a, "--n-depth")) {
            if (!cli_parse_int(val, 0, 1 << 20, &v))
                goto bad;
            o.n_depth = (int)v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) {
            if (!cli_parse_int(val, 0, 1 << 20, &v))
                goto bad;
            o.n_gen = (int)v;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_parse_int(val, 1, 1024, &v))
                goto bad;
            o.n_threads = (int)v;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) {
            if (!cli_parse_int(val, 1, MAX_REPS, &v))
                goto bad;
            o.reps = (int)v;
        } else if (!strcmp(a, "--bw-mib")) {
            if (!cli_parse_int(val, 0, 1 << 20, &bw_mib))
                goto bad;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!strcmp(val, "md"))
                fmt = FMT_MD;
            else if (!strcmp(val, "csv"))
                fmt = FMT_CSV;
            else if (!strcmp(val, "json"))
                fmt = FMT_JSON;
            else
                goto bad;
        } else {
            fprintf(stderr, "kestrel bench: unknown option %s\n", a);
            return usage(stderr);
        }
        continue;
    bad:
        fprintf(stderr, "kestrel bench: bad value for %s: '%s'\n", a, val);
        return 2;
    }
    if (n_models == 0)
        models[n_models++] = cli_default_model();
    if (o.n_prompt + o.n_gen == 0) {
        fprintf(stderr, "kestrel bench: nothing to do (-p 0 -n 0)\n");
        return 2;
    }
    o.drafting = cli_draft_wanted(&o.draft);
    if (o.drafting < 0)
        return 2;
    if (o.drafting && o.n_depth > 0) {
        fprintf(stderr, "kestrel bench: -d does not apply to the draft tests (they start after a fixed prompt)\n");
        return 2;
    }
    if (o.drafting && o.n_gen == 0) {
        fprintf(stderr, "kestrel bench: a draft needs a tg test (-n > 0)\n");
        return 2;
    }

    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    run_info ri = { cpu, kestrel_isa(), 0.0, (size_t)bw_mib << 20, 5, 0, &o, "", "draft" };
    if (o.draft.spec.lookup) {
        snprintf(ri.draft, sizeof ri.draft, "lookup");
        ri.test = "lookup";
    } else if (o.draft.self_type) {
        snprintf(ri.draft, sizeof ri.draft, "self %s", o.draft.self_type);
        if (o.draft.self_layers)
            snprintf(ri.draft + strlen(ri.draft), sizeof ri.draft - strlen(ri.draft), " %d layers",
                     o.draft.self_layers);
        ri.test = "self";
    }
    result *rs = calloc((size_t)n_models * 3, sizeof *rs);
    if (!rs) {
        fprintf(stderr, "kestrel bench: out of memory\n");
        return 1;
    }
    /* The bandwidth is probed before the first model and after each one, and the
     * best is kept: on a shared machine one probe may catch a busy moment. */
    int n_rs = 0, rc = 0;
    for (int i = 0; i <= n_models && rc == 0; i++) {
        if (bw_mib > 0) {
            double bw = kestrel_read_bandwidth(o.n_threads, ri.bw_bytes, ri.bw_passes);
            if (bw < 0) {
                rc = cli_fail();
                break;
            }
            ri.n_probes++;
            if (bw > ri.bandwidth)
                ri.bandwidth = bw;
        }
        if (i == n_models)
            break;
        int e = bench_model(models[i], &o, &ri, rs, &n_rs);
        if (e == -2)
            fprintf(stderr, "kestrel bench: %s: out of memory\n", models[i]);
        if (e == -1) {
            fprintf(stderr, "kestrel: %s\n", kestrel_last_error());
            rc = 1;
        } else if (e) {
            rc = 1;
        }
    }
    for (int i = 0; i < n_rs; i++)
        if (rs[i].n_gen && !rs[i].spec && ri.bandwidth > 0)
            rs[i].roofline = rs[i].avg_ts * (double)rs[i].bytes_per_token / ri.bandwidth;
    if (rc == 0) {
        if (fmt == FMT_MD)
            print_md(stdout, rs, n_rs, &ri);
        else if (fmt == FMT_CSV)
            print_csv(stdout, rs, n_rs, &ri);
        else
            print_json(stdout, rs, n_rs, &ri);
    }
    for (int i = 0; i < n_rs; i++)
        free(rs[i].samples_ns);
    free(rs);
    return rc;
}
