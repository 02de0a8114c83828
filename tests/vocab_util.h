/* Helpers shared by the tokenizer tests: files, vocabularies, tokenize and
 * detokenize into fresh arrays. */
#ifndef KESTREL_TEST_VOCAB_UTIL_H
#define KESTREL_TEST_VOCAB_UTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>

#include "gguf.h"
#include "kestrel.h"
#include "vocab.h"

/* The whole file, NUL-terminated (NULL when unreadable). */
static inline char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *len = (size_t)n;
    }
    return buf;
}

static inline vocab *load_vocab(const char *path)
{
    gguf_file *f = gguf_open(path);
    if (!f) {
        fprintf(stderr, "%s\n", kestrel_last_error());
        return NULL;
    }
    vocab *v = vocab_load(f);
    gguf_close(f); /* the vocab keeps its own copy */
    return v;
}

/* Tokenizes into a fresh array (caller frees); *n gets the count, or VOCAB_ERROR. */
static inline int32_t *tokenize(const vocab *v, const char *text, size_t len, bool add_special, bool parse_special, int *n)
{
    int need = vocab_tokenize(v, text, len, NULL, 0, add_special, parse_special);
    if (need == VOCAB_ERROR) {
        *n = need;
        return NULL;
    }
    int cap = need < 0 ? -need : need;
    int32_t *ids = malloc(sizeof *ids * (size_t)(cap + 1));
    *n = vocab_tokenize(v, text, len, ids, cap, add_special, parse_special);
    return ids;
}

static inline bool ids_equal(const int32_t *got, int n, const int32_t *want, int n_want)
{
    return n == n_want && (n == 0 || memcmp(got, want, sizeof *got * (size_t)n) == 0);
}

/* The concatenated pieces (control tokens shown when special) in a malloc'd string. */
static inline char *detokenize_pieces(const vocab *v, const int32_t *ids, int n, size_t *len, bool special)
{
    size_t cap = 64, w = 0;
    char *out = malloc(cap);
    for (int i = 0; i < n; i++) {
        int k = vocab_token_to_piece(v, ids[i], out + w, (int)(cap - w), special);
        if (k < 0) {
            cap = 2 * cap + (size_t)-k;
            out = realloc(out, cap);
            k = vocab_token_to_piece(v, ids[i], out + w, (int)(cap - w), special);
        }
        w += (size_t)k;
    }
    *len = w;
    return out;
}

static inline int vocab_name_cmp(const void *a, const void *b) { return strcmp(a, b); }

/* The NAMEs of dir/ggml-vocab-NAME.gguf.inp, sorted; -1 when dir cannot be read. */
static inline int vocab_vector_names(const char *dir, char names[][128], int max)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        size_t len = strlen(e->d_name);
        if (len > 20 && len < 120 && strncmp(e->d_name, "ggml-vocab-", 11) == 0 &&
            strcmp(e->d_name + len - 9, ".gguf.inp") == 0) {
            memcpy(names[n], e->d_name + 11, len - 20);
            names[n++][len - 20] = 0;
        }
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], vocab_name_cmp);
    return n;
}

#endif
