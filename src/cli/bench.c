/* kestrel bench: prompt-processing and generation speed, as llama-bench
 * measures them, plus this machine's read bandwidth and how close generation
 * comes to the bandwidth roofline.
 *
 * pp<P>: one decode of P random tokens (BOS first when the model adds one).
 * tg<N>: N decodes of one random token each, at positions 0..N-1.
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

enum fmt { FMT_MD, FMT_CSV, FMT_JSON };

typedef struct {
    const char *filename;
    char model_type[160];
    uint64_t model_size, n_params;
    int n_batch, n_threads, n_prompt, n_gen, reps;
    char test_time[32];
    double *samples_ns; /* reps */
    double avg_ns, stddev_ns, avg_ts, stddev_ts;
    uint64_t bytes_per_token; /* tg: weights + KV at the mean position; pp: 0 */
    double roofline;          /* tg: avg_ts * bytes_per_token / bandwidth; < 0: unknown */
} result;

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
            "  -t, --threads N      threads (default: physical cores)\n"
            "  -r, --repetitions N  measured runs per test (default 5)\n"
            "  -o, --output FMT     md, csv or json (default md)\n"
            "  --bw-mib N           bandwidth probe buffer in MiB (default 1024; 0 = skip)\n"
            "  --no-warmup          skip the warm-up run of each test\n");
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

/* One test: n_prompt tokens in one decode, or n_gen decodes of one token. */
static int run_once(kestrel_context *ctx, const kestrel_model *model, int n_prompt, int n_gen, uint64_t *rng,
                    kestrel_token *tokens, double *ns)
{
    const int n_vocab = kestrel_n_vocab(model);
    const kestrel_token bos = kestrel_add_bos(model) ? kestrel_token_bos(model) : -1;
    if (n_prompt > 0) {
        for (int i = 0; i < n_prompt; i++)
            tokens[i] = (kestrel_token)(next_rand(rng) % (uint64_t)n_vocab);
        if (bos >= 0)
            tokens[0] = bos;
        double t0 = now_ns();
        if (kestrel_decode(ctx, tokens, n_prompt, 0, false))
            return -1;
        *ns = now_ns() - t0;
        return 0;
    }
    kestrel_token tok = bos >= 0 ? bos : (kestrel_token)(next_rand(rng) % (uint64_t)n_vocab);
    double t0 = now_ns();
    for (int i = 0; i < n_gen; i++) {
        if (kestrel_decode(ctx, &tok, 1, i, false))
            return -1;
        tok = (kestrel_token)(next_rand(rng) % (uint64_t)n_vocab);
    }
    *ns = now_ns() - t0;
    return 0;
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
} run_info;

static const char *csv_fields[] = {
    "build_commit", "build_number", "cpu_info", "gpu_info", "backends", "model_filename", "model_type",
    "model_size", "model_n_params", "n_batch", "n_ubatch", "n_threads", "type_k", "type_v", "n_prompt",
    "n_gen", "test_time", "avg_ns", "stddev_ns", "avg_ts", "stddev_ts", "isa", "bandwidth_bps",
    "bytes_per_token", "roofline_fraction",
};

static void print_csv(FILE *out, const result *rs, int n, const run_info *ri)
{
    for (size_t i = 0; i < sizeof csv_fields / sizeof csv_fields[0]; i++) {
        fputs(i ? "," : "", out);
        csv_str(out, csv_fields[i]);
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
        fprintf(out, ",\"%llu\",\"%llu\",\"%d\",\"%d\",\"%d\",\"f16\",\"f16\",\"%d\",\"%d\",",
                (unsigned long long)r->model_size, (unsigned long long)r->n_params, r->n_batch, r->n_batch,
                r->n_threads, r->n_prompt, r->n_gen);
        csv_str(out, r->test_time);
        fprintf(out, ",\"%.0f\",\"%.0f\",\"%.6f\",\"%.6f\",", r->avg_ns, r->stddev_ns, r->avg_ts, r->stddev_ts);
        csv_str(out, ri->isa);
        snprintf(v, sizeof v, "%.0f", ri->bandwidth > 0 ? ri->bandwidth : 0.0);
        fprintf(out, ",\"%s\",\"%llu\",", v, (unsigned long long)r->bytes_per_token);
        if (r->roofline >= 0)
            fprintf(out, "\"%.6f\"\n", r->roofline);
        else
            fputs("\"\"\n", out);
    }
}

static void print_json(FILE *out, const result *rs, int n, const run_info *ri)
{
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
                "    \"n_prompt\": %d,\n    \"n_gen\": %d,\n    \"test_time\": ",
                (unsigned long long)r->model_size, (unsigned long long)r->n_params, r->n_batch, r->n_batch,
                r->n_threads, r->n_prompt, r->n_gen);
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
            fprintf(out, "%.6f\n", r->roofline);
        else
            fputs("null\n", out);
        fprintf(out, "  }%s\n", k + 1 < n ? "," : "");
    }
    fputs("]\n", out);
}

static void print_md(FILE *out, const result *rs, int n, const run_info *ri)
{
    fprintf(out, "| %-30s | %11s | %10s | %-11s | %7s | %13s | %20s | %9s |\n", "model", "size", "params", "isa",
            "threads", "test", "t/s", "roofline");
    static const int widths[] = { 30, 11, 10, 11, 7, 13, 20, 9 }; /* 0: left-aligned */
    for (size_t c = 0; c < sizeof widths / sizeof widths[0]; c++) {
        fputs("| ", out);
        for (int i = 0; i < widths[c] - 1; i++)
            fputc('-', out);
        fputc(c == 0 || c == 3 ? '-' : ':', out);
        fputc(' ', out);
    }
    fputs("|\n", out);
    for (int k = 0; k < n; k++) {
        const result *r = &rs[k];
        char size[32], params[32], test[32], ts[48], roof[32];
        snprintf(size, sizeof size, "%.2f MiB", (double)r->model_size / (1024.0 * 1024.0));
        snprintf(params, sizeof params, "%.2f B", (double)r->n_params / 1e9);
        if (r->n_prompt)
            snprintf(test, sizeof test, "pp%d", r->n_prompt);
        else
            snprintf(test, sizeof test, "tg%d", r->n_gen);
        snprintf(ts, sizeof ts, "%.2f ± %.2f", r->avg_ts, r->stddev_ts);
        if (r->roofline >= 0)
            snprintf(roof, sizeof roof, "%.1f%%", 100.0 * r->roofline);
        else
            snprintf(roof, sizeof roof, "-");
        /* "±" is two bytes but one column: pad by one more */
        fprintf(out, "| %-30s | %11s | %10s | %-11s | %7d | %13s | %21s | %9s |\n", r->model_type, size, params,
                ri->isa, r->n_threads, test, ts, roof);
    }
    fputc('\n', out);
    if (ri->bandwidth > 0)
        fprintf(out,
                "read bandwidth: %.2f GB/s (%d threads, %zu MiB buffer, best of %d passes in %d probes)\n"
                "roofline: tg t/s x (weight bytes read per token + KV cache at the mean position) / bandwidth\n",
                ri->bandwidth / 1e9, rs && n ? rs[0].n_threads : 0, ri->bw_bytes >> 20, ri->bw_passes * ri->n_probes,
                ri->n_probes);
    fprintf(out, "build: kestrel %s (%s)\n", KESTREL_VERSION, ri->isa);
}

/* ---- driver ------------------------------------------------------------------- */

static int bench_model(const char *path, int n_prompt, int n_gen, int n_threads, int reps, bool warmup,
                       result *rs, int *n_rs)
{
    kestrel_model *model = kestrel_model_load(path);
    if (!model)
        return -1;
    kestrel_model_info info;
    kestrel_model_get_info(model, &info);
    kestrel_context_params cp = kestrel_context_default_params();
    cp.n_ctx = n_prompt + n_gen;
    cp.n_batch = n_prompt > 0 ? (n_prompt < 512 ? n_prompt : 512) : 1;
    cp.n_threads = n_threads;
    cp.kv_type = KESTREL_KV_F16;
    kestrel_context *ctx = kestrel_context_new(model, &cp);
    kestrel_token *tokens = malloc(((size_t)n_prompt + 1) * sizeof *tokens);
    if (!ctx || !tokens) {
        free(tokens);
        kestrel_context_free(ctx);
        kestrel_model_free(model);
        return ctx ? -2 : -1;
    }
    char label[32];
    size_label(info.n_params, label, sizeof label);
    uint64_t weights_per_token = kestrel_model_bytes_per_token(model);
    uint64_t kv_per_pos = kestrel_model_kv_bytes_per_pos(model, cp.kv_type);
    uint64_t rng = 0x6b657374726c31ull; /* the same tokens every run */
    int rc = 0;
    for (int test = 0; test < 2 && rc == 0; test++) {
        int np = test == 0 ? n_prompt : 0, ng = test == 1 ? n_gen : 0;
        if (np + ng == 0)
            continue;
        result *r = &rs[(*n_rs)++];
        memset(r, 0, sizeof *r);
        r->filename = path;
        snprintf(r->model_type, sizeof r->model_type, "%s %s %s", info.arch, label, kestrel_model_ftype_name(model));
        r->model_size = info.weight_bytes;
        r->n_params = info.n_params;
        r->n_batch = cp.n_batch;
        r->n_threads = kestrel_n_threads(ctx);
        r->n_prompt = np;
        r->n_gen = ng;
        r->reps = reps;
        r->roofline = -1;
        time_t now = time(NULL);
        struct tm tmv;
        gmtime_r(&now, &tmv);
        strftime(r->test_time, sizeof r->test_time, "%Y-%m-%dT%H:%M:%SZ", &tmv);
        r->samples_ns = calloc((size_t)reps, sizeof *r->samples_ns);
        if (!r->samples_ns) {
            rc = -1;
            break;
        }
        double ns;
        if (warmup && run_once(ctx, model, np, ng ? 1 : 0, &rng, tokens, &ns)) {
            rc = -1;
            break;
        }
        for (int i = 0; i < reps && rc == 0; i++) {
            if (run_once(ctx, model, np, ng, &rng, tokens, &ns))
                rc = -1;
            r->samples_ns[i] = ns > 1 ? ns : 1;
        }
        if (rc)
            break;
        stats(r);
        if (ng) {
            /* the token at position i reads i + 1 cache rows: (ng + 1) / 2 on average */
            r->bytes_per_token = weights_per_token + (uint64_t)((double)kv_per_pos * (ng + 1) / 2.0);
        }
    }
    free(tokens);
    kestrel_context_free(ctx);
    kestrel_model_free(model);
    return rc;
}

int cli_bench(int argc, char **argv)
{
    const char *models[MAX_MODELS];
    int n_models = 0, n_prompt = 512, n_gen = 128, n_threads = 0, reps = 5;
    long bw_mib = 1024;
    bool warmup = true;
    enum fmt fmt = FMT_MD;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return usage(stdout);
        if (!strcmp(a, "--no-warmup")) {
            warmup = false;
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
            n_prompt = (int)v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-gen")) {
            if (!cli_parse_int(val, 0, 1 << 20, &v))
                goto bad;
            n_gen = (int)v;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_parse_int(val, 1, 1024, &v))
                goto bad;
            n_threads = (int)v;
        } else if (!strcmp(a, "-r") || !strcmp(a, "--repetitions")) {
            if (!cli_parse_int(val, 1, MAX_REPS, &v))
                goto bad;
            reps = (int)v;
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
    if (n_prompt + n_gen == 0) {
        fprintf(stderr, "kestrel bench: nothing to do (-p 0 -n 0)\n");
        return 2;
    }

    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    run_info ri = { cpu, kestrel_isa(), 0.0, (size_t)bw_mib << 20, 5, 0 };
    result *rs = calloc((size_t)n_models * 2, sizeof *rs);
    if (!rs) {
        fprintf(stderr, "kestrel bench: out of memory\n");
        return 1;
    }
    /* The bandwidth is probed before the first model and after each one, and the
     * best is kept: on a shared machine one probe may catch a busy moment. */
    int n_rs = 0, rc = 0;
    for (int i = 0; i <= n_models && rc == 0; i++) {
        if (bw_mib > 0) {
            double bw = kestrel_read_bandwidth(n_threads, ri.bw_bytes, ri.bw_passes);
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
        int e = bench_model(models[i], n_prompt, n_gen, n_threads, reps, warmup, rs, &n_rs);
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
        if (rs[i].n_gen && ri.bandwidth > 0)
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
