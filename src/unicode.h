/* Unicode for the tokenizers: UTF-8 decoding with llama.cpp's rules, general
 * categories, whitespace, simple case mapping, and GPT-2's byte <-> code point map. */
#ifndef KESTREL_UNICODE_H
#define KESTREL_UNICODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UNICODE_REPLACEMENT 0xFFFDu

/* ---- UTF-8 ---- */

/* Decodes the code point at s[0..len) (len >= 1) and stores the bytes it took in
 * *used. Follows llama.cpp (unicode_cpt_from_utf8): overlong forms and surrogates
 * are accepted as written; a byte that cannot start a complete sequence (stray
 * continuation byte, F8..FF, truncated or broken sequence) decodes to U+FFFD and
 * takes exactly one byte. One deviation: a 4-byte form above U+10FFFF (which makes
 * llama.cpp throw) is also treated as one invalid byte. */
uint32_t unicode_decode_utf8(const char *s, size_t len, size_t *used);

/* Writes cpt (<= U+10FFFF) as 1..4 bytes into out and returns the count; other
 * values are written as U+FFFD. */
size_t unicode_encode_utf8(uint32_t cpt, char out[4]);

/* What llama.cpp tokenizes instead of raw bytes: every code point decoded with
 * unicode_decode_utf8 and encoded again, so each invalid byte becomes EF BF BD and
 * overlong forms become canonical. out needs room for 3 * len bytes; returns the
 * bytes written. Valid UTF-8 comes out unchanged. */
size_t unicode_sanitize_utf8(const char *in, size_t len, char *out);

/* True when unicode_sanitize_utf8 would return the text unchanged. */
bool unicode_is_canonical_utf8(const char *s, size_t len);

/* ---- Character properties ---- */

/* General categories; UCAT_CN (unassigned) is 0. Order is the generator's. */
enum unicode_category {
    UCAT_Cn, UCAT_Lu, UCAT_Ll, UCAT_Lt, UCAT_Lm, UCAT_Lo, UCAT_Mn, UCAT_Mc, UCAT_Me,
    UCAT_Nd, UCAT_Nl, UCAT_No, UCAT_Pc, UCAT_Pd, UCAT_Ps, UCAT_Pe, UCAT_Pi, UCAT_Pf,
    UCAT_Po, UCAT_Sm, UCAT_Sc, UCAT_Sk, UCAT_So, UCAT_Zs, UCAT_Zl, UCAT_Zp, UCAT_Cc,
    UCAT_Cf, UCAT_Cs, UCAT_Co, UCAT_COUNT
};

/* Major classes as bits, so a regex class can test several at once. */
enum unicode_flag {
    UFLAG_LETTER = 1 << 0,      /* \p{L} */
    UFLAG_MARK = 1 << 1,        /* \p{M} */
    UFLAG_NUMBER = 1 << 2,      /* \p{N} */
    UFLAG_PUNCTUATION = 1 << 3, /* \p{P} */
    UFLAG_SYMBOL = 1 << 4,      /* \p{S} */
    UFLAG_SEPARATOR = 1 << 5,   /* \p{Z} */
    UFLAG_OTHER = 1 << 6,       /* \p{C}: Cc Cf Cs Co Cn */
    UFLAG_WHITESPACE = 1 << 7   /* \s as llama.cpp defines it: White_Space */
};

/* Category of a code point; values above U+10FFFF are UCAT_Cn. */
enum unicode_category unicode_category(uint32_t cpt);
/* The UFLAG_* bits of a code point: one major class, plus UFLAG_WHITESPACE. */
unsigned unicode_flags(uint32_t cpt);
unsigned unicode_category_flag(enum unicode_category cat);
bool unicode_is_whitespace(uint32_t cpt);
/* Two-letter name ("Lu"), for messages and tests. */
const char *unicode_category_name(enum unicode_category cat);

/* Simple (one-to-one) case mappings from UnicodeData; unmapped code points map to
 * themselves. unicode_tolower is llama.cpp's unicode_tolower. */
uint32_t unicode_tolower(uint32_t cpt);
uint32_t unicode_toupper(uint32_t cpt);

/* ---- GPT-2 byte-level alphabet (bytes_to_unicode) ----
 * Byte-level BPE vocabularies spell each byte as one printable code point: the
 * bytes ! .. ~, 0xA1 .. 0xAC and 0xAE .. 0xFF stand for themselves, the other 68
 * bytes (in order) for U+0100, U+0101, ... */
uint32_t unicode_byte_to_cpt(uint8_t byte);
/* The byte a code point of that alphabet stands for, or -1 if it is none. */
int unicode_cpt_to_byte(uint32_t cpt);

/* ---- Generated tables (src/unicode_tables.c) ---- */
struct unicode_category_run { uint32_t first; uint8_t category; };
struct unicode_case_pair { uint32_t from, to; };
extern const char unicode_tables_version[];
extern const struct unicode_category_run unicode_category_runs[];
extern const size_t unicode_category_runs_len;
extern const uint32_t unicode_white_space[];
extern const size_t unicode_white_space_len;
extern const struct unicode_case_pair unicode_to_lower[];
extern const size_t unicode_to_lower_len;
extern const struct unicode_case_pair unicode_to_upper[];
extern const size_t unicode_to_upper_len;

#endif
