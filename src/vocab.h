/* The vocabulary of a model (tokenizer.ggml.*) and the tokenizers over it. */
#ifndef KESTREL_VOCAB_H
#define KESTREL_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "kestrel.h"

enum vocab_kind { VOCAB_SPM = 1, VOCAB_BPE = 2 };

/* tokenizer.ggml.token_type */
enum token_type {
    TOKEN_NORMAL = 1, TOKEN_UNKNOWN = 2, TOKEN_CONTROL = 3,
    TOKEN_USER_DEFINED = 4, TOKEN_UNUSED = 5, TOKEN_BYTE = 6
};

typedef struct vocab vocab;

/* Reads tokenizer.ggml.* from an open file. NULL on error (message set, naming
 * the file). A file without a tokenizer is an error. */
vocab *vocab_load(const gguf_file *f);
void vocab_free(vocab *v);

int vocab_n_tokens(const vocab *v);
enum vocab_kind vocab_get_kind(const vocab *v);
int32_t vocab_bos(const vocab *v);   /* -1 when none */
int32_t vocab_eos(const vocab *v);
int32_t vocab_eot(const vocab *v);
int32_t vocab_eom(const vocab *v);
int32_t vocab_unk(const vocab *v);
int32_t vocab_pad(const vocab *v);
bool vocab_add_bos(const vocab *v);
bool vocab_add_eos(const vocab *v);
bool vocab_add_space_prefix(const vocab *v);
const char *vocab_pre(const vocab *v); /* tokenizer.ggml.pre, "" when absent */
float vocab_score(const vocab *v, int32_t id);
bool vocab_is_eog(const vocab *v, int32_t id);
/* The token's text as stored ("▁the", "<0x0A>", "<s>"), not NUL-terminated. */
const char *vocab_text(const vocab *v, int32_t id, size_t *len);
int vocab_type(const vocab *v, int32_t id); /* enum token_type */

/* Same contract as kestrel_tokenize, plus: VOCAB_ERROR (message set) when the
 * text cannot be tokenized (e.g. a tokenizer kind not supported yet). */
#define VOCAB_ERROR INT32_MIN
int vocab_tokenize(const vocab *v, const char *text, size_t len, int32_t *out, int max,
                   bool add_special, bool parse_special);
/* Same contract as kestrel_token_to_piece. */
int vocab_token_to_piece(const vocab *v, int32_t id, char *buf, int len, bool special);

/* kestrel_detokenize_stream: appends the piece of `id` (control tokens give
 * nothing) to what the stream holds back, writes the longest prefix that is
 * complete UTF-8 to out and NUL-terminates it; an unfinished trailing sequence
 * (at most 3 bytes) stays in the stream for the next token. Invalid bytes come
 * out as U+FFFD (one per maximal invalid subpart, as the Unicode standard
 * recommends), so out is always valid UTF-8. id < 0 flushes: held-back bytes
 * come out as U+FFFD. Returns the length written; if cap is too small, nothing
 * is written, the stream is unchanged and the negated needed cap (including
 * the NUL) is returned. */
int vocab_detokenize_stream(const vocab *v, kestrel_utf8_stream *s, int32_t id, char *out, int cap);

#endif
