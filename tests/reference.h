/* Reader for ../shared/reference/<model>.ref.txt ("kestrel reference v1"). */
#ifndef KESTREL_TEST_REFERENCE_H
#define KESTREL_TEST_REFERENCE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REF_TOP 20

typedef struct {
    int n_tokens;
    int *tokens;
    int (*top_id)[REF_TOP];  /* [n_tokens][20] */
    float (*top_logit)[REF_TOP];
    float *last;             /* n_vocab */
    int n_greedy;
    int *greedy;
    char *prompt;            /* unescaped */
    size_t prompt_len;
    char *text;              /* unescaped */
    size_t text_len;
} ref_case;

typedef struct {
    int n_vocab;
    int n_cases;
    ref_case cases[16];
} ref_file;

static int ref_parse_ints(char *s, int **out)
{
    int cap = 64, n = 0;
    int *v = malloc(cap * sizeof *v);
    char *end;
    for (;;) {
        long x = strtol(s, &end, 10);
        if (end == s)
            break;
        if (n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = (int)x;
        s = end;
    }
    *out = v;
    return n;
}

static size_t ref_unescape(const char *s, char *out)
{
    size_t n = 0;
    if (*s == '"')
        s++;
    for (; *s && *s != '\n'; s++) {
        if (*s == '"' && (s[1] == 0 || s[1] == '\n'))
            break;
        if (*s != '\\') {
            out[n++] = *s;
            continue;
        }
        s++;
        if (*s == 'n') out[n++] = '\n';
        else if (*s == 't') out[n++] = '\t';
        else if (*s == 'u') { out[n++] = (char)strtol((char[]){ s[3], s[4], 0 }, NULL, 16); s += 4; }
        else out[n++] = *s;
    }
    out[n] = 0;
    return n;
}

/* Returns 0 on success. Lines can be very long (the `last` line). */
static int ref_load(const char *path, ref_file *rf)
{
    memset(rf, 0, sizeof *rf);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    ref_case *c = NULL;
    while ((len = getline(&line, &cap, f)) > 0) {
        if (strncmp(line, "n_vocab ", 8) == 0) {
            rf->n_vocab = atoi(line + 8);
        } else if (strncmp(line, "case ", 5) == 0) {
            if (rf->n_cases == 16)
                break;
            c = &rf->cases[rf->n_cases++];
        } else if (c && strncmp(line, "tokens ", 7) == 0) {
            c->n_tokens = ref_parse_ints(line + 7, &c->tokens);
            c->top_id = calloc(c->n_tokens, sizeof *c->top_id);
            c->top_logit = calloc(c->n_tokens, sizeof *c->top_logit);
        } else if (c && strncmp(line, "top ", 4) == 0) {
            char *s = line + 4, *end;
            long pos = strtol(s, &end, 10);
            s = end;
            for (int j = 0; j < REF_TOP && pos < c->n_tokens; j++) {
                c->top_id[pos][j] = (int)strtol(s, &end, 10);
                s = end + 1; /* ':' */
                c->top_logit[pos][j] = strtof(s, &end);
                s = end;
            }
        } else if (c && strncmp(line, "last ", 5) == 0) {
            c->last = malloc(rf->n_vocab * sizeof *c->last);
            char *s = line + 5, *end;
            for (int j = 0; j < rf->n_vocab; j++) {
                c->last[j] = strtof(s, &end);
                s = end;
            }
        } else if (c && strncmp(line, "greedy ", 7) == 0) {
            c->n_greedy = ref_parse_ints(line + 7, &c->greedy);
        } else if (c && strncmp(line, "prompt ", 7) == 0) {
            c->prompt = malloc(len + 1);
            c->prompt_len = ref_unescape(line + 7, c->prompt);
        } else if (c && strncmp(line, "text ", 5) == 0) {
            c->text = malloc(len + 1);
            c->text_len = ref_unescape(line + 5, c->text);
        }
    }
    free(line);
    fclose(f);
    return rf->n_cases > 0 && rf->n_vocab > 0 ? 0 : -1;
}

/* The best id (lowest on ties, as llama.cpp's reference argmax). */
static inline int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* Best logit minus the second best. */
static inline float top2_gap(const float *v, int n)
{
    int best = argmax(v, n);
    float second = -INFINITY;
    for (int i = 0; i < n; i++)
        if (i != best && v[i] > second)
            second = v[i];
    return v[best] - second;
}

static void ref_free(ref_file *rf)
{
    for (int i = 0; i < rf->n_cases; i++) {
        ref_case *c = &rf->cases[i];
        free(c->tokens);
        free(c->top_id);
        free(c->top_logit);
        free(c->last);
        free(c->greedy);
        free(c->text);
        free(c->prompt);
    }
}

#endif
