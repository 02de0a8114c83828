/* The vocab struct and the helpers the tokenizers (SPM now, BPE later) share.
 * Private to src/vocab.c and src/tokenizer*.c. */
#ifndef KESTREL_TOKENIZER_INTERNAL_H
#define KESTREL_TOKENIZER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vocab.h"

/* Per-token flags beyond the GGUF token type (llama.cpp's LSTRIP/RSTRIP attrs):
 * whitespace next to a matched special token is swallowed. */
enum { TOKEN_FLAG_LSTRIP = 1, TOKEN_FLAG_RSTRIP = 2, TOKEN_FLAG_EOG = 4 };

/* Open-addressing hash set of token ids keyed by the token's text. */
typedef struct {
    int32_t *slots;  /* -1 = empty */
    uint64_t mask;   /* capacity - 1, capacity a power of two */
} token_index;

/* Open-addressing map (left id, right id) -> merge rank, for BPE. */
typedef struct {
    uint64_t *keys;  /* (uint64)left << 32 | right; UINT64_MAX = empty */
    int32_t *ranks;
    uint64_t mask;
    int64_t n;
} merge_index;

struct vocab {
    enum vocab_kind kind;
    int32_t n_tokens;
    char *text;           /* all token texts back to back (owned copy) */
    uint64_t *text_off;   /* token i is text[text_off[i] .. text_off[i] + text_len[i]) */
    uint32_t *text_len;
    float *scores;
    uint8_t *types;       /* enum token_type; 0 = undefined */
    uint8_t *flags;       /* TOKEN_FLAG_* */
    token_index index;
    merge_index merges;
    size_t max_token_len;

    int32_t bos, eos, unk, eot, eom, pad, sep;  /* -1 = none */
    bool add_bos, add_eos, add_space_prefix, clean_spaces;
    bool ignore_merges;   /* BPE: llama3/tekken look a whole word up before merging */
    char *pre;            /* tokenizer.ggml.pre, "" when absent */
    struct pretokenizer *pretok; /* BPE: the regexes that `pre` names */

    /* Tokens whose text is matched in the input before the tokenizer runs
     * (control, user-defined, unknown), longest text first. */
    int32_t *special;
    int32_t n_special;

    /* SPM byte fallback: <0xXX> (or the raw byte); BPE: the token of the byte's
     * GPT-2 alphabet character. -1 if none. */
    int32_t byte_token[256];
    /* ASCII bytes that occur in no token of two or more bytes: SPM can never
     * merge them, so the text splits there into independent runs. */
    bool spm_isolated[128];
};

/* Token id for exactly this text, or -1. */
int32_t vocab_find(const vocab *v, const char *text, size_t len);
/* BPE merge rank of the pair, or -1. */
int32_t vocab_merge_rank(const vocab *v, int32_t left, int32_t right);

/* Where tokenizers write ids: the first `max` go to out, the rest are only
 * counted, so the caller learns the size it needs. */
typedef struct {
    int32_t *out;
    int64_t max;
    int64_t n;
} token_sink;

static inline void token_sink_push(token_sink *s, int32_t id)
{
    if (s->n < s->max)
        s->out[s->n] = id;
    s->n++;
}

/* SentencePiece over one text fragment (spaces already escaped to U+2581).
 * Returns 0, or -1 with the error set. */
int spm_tokenize(const vocab *v, const char *text, size_t len, token_sink *sink);

/* Byte-level BPE over raw text fragments. A session holds the scratch buffers
 * and a cache of pieces already seen; use one per tokenize call (or thread). */
typedef struct bpe_session bpe_session;
bpe_session *bpe_session_new(const vocab *v); /* NULL (error set) when out of memory */
void bpe_session_free(bpe_session *s);
/* Tokenizes one fragment (no special tokens in it). Returns 0, or -1 with the error set. */
int bpe_tokenize(bpe_session *s, const char *text, size_t len, token_sink *sink);

/* Bytes in the UTF-8 sequence that starts with this byte (1 for stray bytes). */
static inline size_t utf8_seq_len(uint8_t c)
{
    static const uint8_t lookup[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4 };
    return lookup[c >> 4];
}

#endif
