/* kestrel logits: evaluate a sequence in one batch and print the top logits at
 * every position in the line format of ../shared/reference (kestrel reference v1),
 * so any sequence can be compared with llama.cpp the same way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kestrel.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kestrel logits [-m model.gguf] (-p TEXT | --tokens \"1 2 3\") [--top K] [--last]\n"
            "                      [-t N] [-ctk f16|f32]\n"
            "  prints 'tokens ...', then 'top <pos> id:logit ...' for every position (K pairs, default 20),\n"
            "  and with --last the full logit vector of the last position. The KV cache is F32 unless -ctk f16.\n");
}

/* Indices of the k largest values, descending; equal values lowest index first. */
static void top_k(const float *v, int n, int k, int *out)
{
    int m = 0;
    for (int i = 0; i < n; i++) {
        if (m == k && !(v[i] > v[out[k - 1]]))
            continue;
        int j = m < k ? m++ : k - 1;
        while (j > 0 && v[i] > v[out[j - 1]]) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = i;
    }
}

static int parse_tokens(const char *s, kestrel_token **out)
{
    size_t cap = 16, n = 0;
    kestrel_token *t = malloc(cap * sizeof *t);
    while (t && *s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s) {
            if (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n') {
                s++;
                continue;
            }
            free(t);
            return -1;
        }
        if (v < 0 || v > 0x7fffffff) {
            free(t);
            return -1;
        }
        if (n == cap) {
            kestrel_token *g = realloc(t, (cap *= 2) * sizeof *t);
            if (!g) {
                free(t);
                return -1;
            }
            t = g;
        }
        t[n++] = (kestrel_token)v;
        s = end;
    }
    *out = t;
    return t ? (int)n : -1;
}

int cli_logits(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *token_list = NULL;
    long top = 20, threads = 0;
    bool last = false;
    kestrel_kv_type kv_type = KESTREL_KV_F32;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--last") == 0) {
            last = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "kestrel: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0)
            model_path = v;
        else if (strcmp(a, "-p") == 0 || strcmp(a, "--prompt") == 0)
            prompt = v;
        else if (strcmp(a, "--tokens") == 0)
            token_list = v;
        else if (strcmp(a, "--top") == 0 && cli_parse_int(v, 1, 1 << 20, &top))
            ;
        else if ((strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) && cli_parse_int(v, 1, 1024, &threads))
            ;
        else if ((strcmp(a, "-ctk") == 0 || strcmp(a, "--cache-type-k") == 0) &&
                 (strcmp(v, "f16") == 0 || strcmp(v, "f32") == 0))
            kv_type = strcmp(v, "f16") == 0 ? KESTREL_KV_F16 : KESTREL_KV_F32;
        else {
            fprintf(stderr, "kestrel: bad option '%s %s'\n\n", a, v);
            usage(stderr);
            return 2;
        }
    }
    if (!prompt == !token_list) {
        usage(stderr);
        return 2;
    }
    kestrel_model *model = kestrel_model_load(model_path ? model_path : cli_default_model());
    if (!model)
        return cli_fail();

    int rc = 1;
    kestrel_token *tokens = NULL;
    kestrel_context *ctx = NULL;
    int n;
    if (token_list) {
        n = parse_tokens(token_list, &tokens);
        if (n < 0) {
            fprintf(stderr, "kestrel: --tokens takes space-separated token ids\n");
            rc = 2;
            goto done;
        }
    } else {
        tokens = kestrel_tokenize_alloc(model, prompt, strlen(prompt), true, false, &n);
        if (!tokens) {
            cli_fail();
            goto done;
        }
    }
    if (n <= 0) {
        fprintf(stderr, "kestrel: nothing to evaluate\n");
        goto done;
    }
    kestrel_context_params cp = kestrel_context_default_params();
    cp.n_ctx = n > 512 ? n : 512;
    cp.n_batch = n;
    cp.n_threads = (int)threads;
    cp.kv_type = kv_type;
    ctx = kestrel_context_new(model, &cp);
    if (!ctx || kestrel_decode(ctx, tokens, n, 0, true)) {
        cli_fail();
        goto done;
    }
    const int n_vocab = kestrel_n_vocab(model);
    if (top > n_vocab)
        top = n_vocab;
    int *best = malloc((size_t)top * sizeof *best);
    if (!best)
        goto done;
    printf("tokens");
    for (int i = 0; i < n; i++)
        printf(" %d", tokens[i]);
    printf("\n");
    for (int p = 0; p < n; p++) {
        const float *lg = kestrel_logits(ctx, p);
        top_k(lg, n_vocab, (int)top, best);
        printf("top %d", p);
        for (int j = 0; j < top; j++)
            printf(" %d:%.5f", best[j], lg[best[j]]);
        printf("\n");
    }
    if (last) {
        const float *lg = kestrel_logits(ctx, n - 1);
        printf("last");
        for (int j = 0; j < n_vocab; j++)
            printf(" %.5f", lg[j]);
        printf("\n");
    }
    free(best);
    rc = 0;
done:
    kestrel_context_free(ctx);
    free(tokens);
    kestrel_model_free(model);
    return rc;
}
