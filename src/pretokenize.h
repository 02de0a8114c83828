/* Pre-tokenization for byte-level BPE: split text into the pieces that BPE merges
 * never cross, by the regex list that `tokenizer.ggml.pre` names, exactly as
 * llama.cpp b4748 (unicode_regex_split) does.
 *
 * How llama.cpp applies a list: the whole text starts as one piece; each regex in
 * turn runs over every current piece separately (^/$ and lookahead see the piece's
 * ends), and each match and each unmatched gap between matches becomes a piece.
 * Pieces never split a code point.
 *
 * Semantics reproduced (ECMAScript std::regex as llama.cpp feeds it):
 *  - leftmost-first alternation, greedy quantifiers, atomic lookahead;
 *  - \s is Unicode White_Space (U+0009..000D, U+0020, U+0085, U+00A0, ...);
 *  - \p{L} \p{N} \p{P} \p{S} \p{M} are general categories, except that \p{S} does
 *    not match '~' (llama.cpp's ASCII stand-in for \p{S} omits it);
 *  - in literals and ranges a non-ASCII whitespace character reads as U+000B, so
 *    e.g. a class range covering U+3000 does not match U+3000 itself.
 *
 * For the BPE step: llama.cpp tokenizes what unicode_sanitize_utf8() (unicode.h)
 * makes of the text (each invalid byte becomes U+FFFD). Sanitize first, then split;
 * on valid UTF-8 that is a no-op (unicode_is_canonical_utf8 tells). Splitting
 * invalid bytes directly treats each one as a one-byte U+FFFD. */
#ifndef KESTREL_PRETOKENIZE_H
#define KESTREL_PRETOKENIZE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct pretokenizer pretokenizer;

/* Compiles the regex list of a pre-tokenizer type: "default", "gpt-2", "llama3"
 * ("llama-bpe", "llama-v3", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe"), "qwen2",
 * "deepseek-llm", "deepseek-coder", "deepseek-v3", "starcoder", "falcon", "mpt",
 * "refact", "smollm", "command-r", "tekken", "chameleon", "viking", "bloom", ... (every
 * name llama.cpp b4748 accepts). NULL or "" means "default", as llama.cpp treats a
 * missing key. Returns NULL with the error set (kestrel_fail) for an unknown name. */
pretokenizer *pretokenizer_new(const char *pre_name);

/* Compiles an explicit list of regexes (same dialect and semantics). NULL with the
 * error set if one does not parse or uses an unsupported construct. */
pretokenizer *pretokenizer_from_regexes(const char *const *regexes, int n);

void pretokenizer_free(pretokenizer *p);

/* Splits text[0..len) and writes the pieces' end offsets: piece i is the bytes
 * [i ? ends[i-1] : 0, ends[i]). The pieces cover the text in order, so the last end
 * is len. Returns the piece count n and writes min(n, max) ends; n never exceeds
 * len, so max = len always suffices. Empty text gives 0. Returns -1 (error set) when
 * out of memory. Safe to call from several threads on one pretokenizer. */
int pretokenizer_split(const pretokenizer *p, const char *text, size_t len, size_t *ends, int max);

/* One call: pretokenizer_new + pretokenizer_split + free. -1 for an unknown name. */
int pretokenize(const char *pre_name, const char *text, size_t len, size_t *ends, int max);

/* Whether pretokenizer_new knows the name. */
bool pretokenize_known(const char *pre_name);

#endif
