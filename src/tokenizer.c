/* Text <-> tokens over a loaded vocab: special-token partitioning, dispatch by
 * tokenizer kind, BOS/EOS, pieces, and UTF-8-safe streaming detokenization.
 * Behaviour follows llama.cpp's llama_vocab (b4748). */
#include "tokenizer_internal.h"

#include "error.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- special-token partitioning ----------------------------------------- */

/* A run of the input: raw text, or a token already decided. */
typedef struct {
    int32_t token; /* -1 for text */
    size_t off, len;
} fragment;

typedef struct {
    fragment *items;
    size_t n, cap;
} fragment_list;

static int fragment_add(fragment_list *l, int32_t token, size_t off, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        fragment *items = realloc(l->items, sizeof *items * cap);
        if (!items)
            return kestrel_fail(NULL, "tokenize: out of memory");
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = (fragment){ token, off, len };
    return 0;
}

/* isspace() of the C locale, which is what llama.cpp's strip sees. */
static bool is_c_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Splits one text fragment on every occurrence of token `id`, appending to out. */
static int split_fragment(const vocab *v, const char *text, fragment frag, int32_t id,
                          fragment_list *out)
{
    const char *needle = v->text + v->text_off[id];
    size_t needle_len = v->text_len[id];
    uint8_t flags = v->flags[id];
    size_t cur = frag.off, end = frag.off + frag.len;

    for (;;) {
        const char *hit = end - cur >= needle_len ? memmem(text + cur, end - cur, needle, needle_len) : NULL;
        if (!hit)
            break;
        size_t match = (size_t)(hit - text);
        size_t left_len = match - cur;
        if (flags & TOKEN_FLAG_LSTRIP)
            while (left_len > 0 && is_c_space(text[cur + left_len - 1]))
                left_len--;
        if (left_len > 0 && fragment_add(out, -1, cur, left_len))
            return -1;
        if (fragment_add(out, id, 0, 0))
            return -1;
        cur = match + needle_len;
        if (flags & TOKEN_FLAG_RSTRIP)
            while (cur < end && is_c_space(text[cur]))
                cur++;
    }
    if (cur < end && fragment_add(out, -1, cur, end - cur))
        return -1;
    return 0;
}

/* llama.cpp's tokenizer_st_partition: for each special token, longest text
 * first, cut every text fragment at its occurrences. Control and unknown
 * tokens only count with parse_special; user-defined ones always do. */
static int partition(const vocab *v, const char *text, size_t len, bool parse_special,
                     fragment_list *frags)
{
    fragment_list next = { 0 };
    if (len > 0 && fragment_add(frags, -1, 0, len))
        return -1;
    for (int32_t s = 0; s < v->n_special; s++) {
        int32_t id = v->special[s];
        if (!parse_special && (v->types[id] == TOKEN_CONTROL || v->types[id] == TOKEN_UNKNOWN))
            continue;
        next.n = 0;
        for (size_t i = 0; i < frags->n; i++) {
            fragment f = frags->items[i];
            int rc = f.token >= 0 ? fragment_add(&next, f.token, 0, 0)
                                  : split_fragment(v, text, f, id, &next);
            if (rc) {
                free(next.items);
                return -1;
            }
        }
        fragment_list swap = *frags;
        *frags = next;
        next = swap;
    }
    free(next.items);
    return 0;
}

/* ---- tokenize ----------------------------------------------------------------- */

/* SPM sees spaces as U+2581; the prefix space marks the start of a "word run". */
static size_t spm_escape(const char *text, size_t len, bool prefix_space, char *out)
{
    size_t n = 0;
    if (prefix_space) {
        memcpy(out, "\xe2\x96\x81", 3);
        n = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(out + n, "\xe2\x96\x81", 3);
            n += 3;
        } else {
            out[n++] = text[i];
        }
    }
    return n;
}

static int tokenize_spm(const vocab *v, const char *text, const fragment_list *frags,
                        bool add_special, token_sink *sink)
{
    size_t longest = 0;
    for (size_t i = 0; i < frags->n; i++)
        if (frags->items[i].token < 0 && frags->items[i].len > longest)
            longest = frags->items[i].len;
    char *escaped = NULL;
    if (longest) {
        escaped = malloc(3 * longest + 3);
        if (!escaped)
            return kestrel_fail(NULL, "tokenize: out of memory");
    }

    bool prev_special = true; /* the start counts as "after a special token" */
    if (add_special && v->add_bos && v->bos >= 0)
        token_sink_push(sink, v->bos);
    for (size_t i = 0; i < frags->n; i++) {
        fragment f = frags->items[i];
        if (f.token >= 0) {
            token_sink_push(sink, f.token);
            prev_special = true;
            continue;
        }
        size_t n = spm_escape(text + f.off, f.len, v->add_space_prefix && prev_special, escaped);
        if (spm_tokenize(v, escaped, n, sink)) {
            free(escaped);
            return -1;
        }
        prev_special = false;
    }
    if (add_special && v->add_eos && v->eos >= 0)
        token_sink_push(sink, v->eos);
    free(escaped);
    return 0;
}

/* Byte-level BPE: no space prefix; BOS/EOS only where the vocab asks for them. */
static int tokenize_bpe(const vocab *v, const char *text, const fragment_list *frags,
                        bool add_special, token_sink *sink)
{
    bpe_session *session = bpe_session_new(v);
    if (!session)
        return -1;
    if (add_special && v->add_bos && v->bos >= 0)
        token_sink_push(sink, v->bos);
    for (size_t i = 0; i < frags->n; i++) {
        fragment f = frags->items[i];
        if (f.token >= 0) {
            token_sink_push(sink, f.token);
        } else if (bpe_tokenize(session, text + f.off, f.len, sink)) {
            bpe_session_free(session);
            return -1;
        }
    }
    if (add_special && v->add_eos && v->eos >= 0)
        token_sink_push(sink, v->eos);
    bpe_session_free(session);
    return 0;
}

int vocab_tokenize(const vocab *v, const char *text, size_t len, int32_t *out, int max,
                   bool add_special, bool parse_special)
{
    if (!text && len)
        return kestrel_fail(NULL, "tokenize: NULL text"), VOCAB_ERROR;
    if (v->kind != VOCAB_SPM && v->kind != VOCAB_BPE)
        return kestrel_fail(NULL, "tokenize: unsupported tokenizer kind"), VOCAB_ERROR;

    fragment_list frags = { 0 };
    if (partition(v, text, len, parse_special, &frags)) {
        free(frags.items);
        return VOCAB_ERROR;
    }
    token_sink sink = { .out = out, .max = out && max > 0 ? max : 0, .n = 0 };
    int rc = v->kind == VOCAB_BPE ? tokenize_bpe(v, text, &frags, add_special, &sink)
                                  : tokenize_spm(v, text, &frags, add_special, &sink);
    free(frags.items);
    if (rc)
        return VOCAB_ERROR;
    if (sink.n > INT_MAX)
        return kestrel_fail(NULL, "tokenize: more than %d tokens", INT_MAX), VOCAB_ERROR;
    return sink.n <= sink.max ? (int)sink.n : -(int)sink.n;
}

/* ---- token -> piece ----------------------------------------------------------- */

/* GPT-2's byte-level alphabet backwards: the byte a code point stands for, or -1. */
static int gpt2_cpt_to_byte(uint32_t cpt)
{
    if ((cpt >= 0x21 && cpt <= 0x7e) || (cpt >= 0xa1 && cpt <= 0xac) || (cpt >= 0xae && cpt <= 0xff))
        return (int)cpt;
    if (cpt < 256 || cpt >= 256 + 68)
        return -1;
    /* The 68 bytes without a printable self are numbered 256.. in byte order. */
    uint32_t k = cpt - 256;
    if (k < 33)
        return (int)k;              /* 0x00..0x20 */
    if (k < 33 + 34)
        return (int)(k - 33 + 0x7f); /* 0x7f..0xa0 */
    return 0xad;
}

/* Decodes one code point; invalid bytes decode to themselves, one at a time. */
static uint32_t utf8_next(const uint8_t *s, size_t n, size_t *used)
{
    size_t need = utf8_seq_len(s[0]);
    if (need == 1 || need > n) {
        *used = 1;
        return s[0];
    }
    uint32_t cpt = s[0] & (0x7f >> need);
    for (size_t i = 1; i < need; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *used = 1;
            return s[0];
        }
        cpt = cpt << 6 | (s[i] & 0x3f);
    }
    *used = need;
    return cpt;
}

/* Writes (or, with out NULL, measures) a byte-level BPE piece, with
 * llama.cpp's "[UNK_BYTE_0x..<text>]" for characters outside the alphabet. */
static size_t bpe_decode(const char *text, size_t len, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t used;
        uint32_t cpt = utf8_next((const uint8_t *)text + i, len - i, &used);
        int byte = gpt2_cpt_to_byte(cpt);
        if (byte >= 0) {
            if (out)
                out[n] = (char)byte;
            n++;
        } else {
            const char *head = "[UNK_BYTE_0x";
            if (out)
                memcpy(out + n, head, 12);
            n += 12;
            for (size_t k = 0; k < used; k++, n += 2)
                if (out) {
                    out[n] = hex[(uint8_t)text[i + k] >> 4];
                    out[n + 1] = hex[(uint8_t)text[i + k] & 15];
                }
            if (out) {
                memcpy(out + n, text, len);
                out[n + len] = ']';
            }
            n += len + 1;
        }
        i += used;
    }
    return n;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The byte of an SPM byte token "<0xXX>": the hex digits at [3, 5). */
static uint8_t byte_token_value(const char *text, size_t len)
{
    int value = 0;
    for (size_t i = 3; i < 5 && i < len && hex_digit(text[i]) >= 0; i++)
        value = value * 16 + hex_digit(text[i]);
    return (uint8_t)value;
}

static int copy_piece(const char *src, size_t n, char *buf, int len)
{
    if (n > (size_t)INT_MAX)
        n = INT_MAX;
    if (len < 0 || (size_t)len < n)
        return -(int)n;
    if (n)
        memcpy(buf, src, n);
    return (int)n;
}

int vocab_token_to_piece(const vocab *v, int32_t id, char *buf, int len, bool special)
{
    if (id < 0 || id >= v->n_tokens)
        return 0;
    int type = v->types[id];
    if (!special && (type == TOKEN_CONTROL || type == TOKEN_UNKNOWN))
        return 0;
    const char *text = v->text + v->text_off[id];
    size_t n = v->text_len[id];

    if (type == TOKEN_CONTROL || type == TOKEN_UNKNOWN || type == TOKEN_USER_DEFINED)
        return copy_piece(text, n, buf, len);
    if (v->kind == VOCAB_SPM && type == TOKEN_BYTE) {
        char byte = (char)byte_token_value(text, n);
        return copy_piece(&byte, 1, buf, len);
    }
    if (type != TOKEN_NORMAL)
        return 0; /* unused and undefined tokens print nothing, as in llama.cpp */

    if (v->kind == VOCAB_BPE) {
        size_t need = bpe_decode(text, n, NULL);
        if (need > (size_t)INT_MAX)
            return -INT_MAX;
        if (len < 0 || (size_t)len < need)
            return -(int)need;
        bpe_decode(text, n, buf);
        return (int)need;
    }

    /* SPM: U+2581 stands for a space. */
    size_t need = n;
    for (size_t i = 0; i + 2 < n; i++)
        if (memcmp(text + i, "\xe2\x96\x81", 3) == 0)
            need -= 2, i += 2;
    if (len < 0 || (size_t)len < need)
        return -(int)need;
    size_t w = 0;
    for (size_t i = 0; i < n;) {
        if (i + 2 < n && memcmp(text + i, "\xe2\x96\x81", 3) == 0) {
            buf[w++] = ' ';
            i += 3;
        } else {
            buf[w++] = text[i++];
        }
    }
    return (int)w;
}

/* ---- streaming detokenization ------------------------------------------------- */

/* The well-formed UTF-8 sequence at s: its length if complete; 0 if s ends
 * inside a sequence that is well-formed so far; -k if the first k bytes are a
 * maximal ill-formed subpart (Unicode 3.9, table 3-7). */
static int utf8_check(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    int need;
    uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 3;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 4;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else {
        return -1;
    }
    for (int k = 1; k < need; k++) {
        if ((size_t)k >= n)
            return 0;
        if (s[k] < (k == 1 ? lo : 0x80) || s[k] > (k == 1 ? hi : 0xbf))
            return -k;
    }
    return need;
}

/* Converts in[0..n) to valid UTF-8 in out (NULL: only measure). An unfinished
 * sequence at the end is left out and its length put in *held, unless flush. */
static size_t utf8_sanitize(const uint8_t *in, size_t n, bool flush, char *out, size_t *held)
{
    size_t w = 0, i = 0;
    *held = 0;
    while (i < n) {
        int r = utf8_check(in + i, n - i);
        if (r == 0 && !flush) {
            *held = n - i;
            break;
        }
        if (r > 0) {
            if (out)
                memcpy(out + w, in + i, (size_t)r);
            w += (size_t)r;
            i += (size_t)r;
        } else {
            if (out)
                memcpy(out + w, "\xef\xbf\xbd", 3);
            w += 3;
            i += r == 0 ? n - i : (size_t)-r;
        }
    }
    return w;
}

int vocab_detokenize_stream(const vocab *v, kestrel_utf8_stream *s, int32_t id, char *out, int cap)
{
    char local[256];
    char *joined = local;
    int pending = s->n_pending >= 0 && s->n_pending <= 3 ? s->n_pending : 0;

    int piece = 0;
    if (id >= 0) {
        piece = vocab_token_to_piece(v, id, local + pending, (int)sizeof local - pending, false);
        if (piece < 0) {
            joined = malloc((size_t)pending + (size_t)-piece);
            if (!joined)
                return kestrel_fail(NULL, "detokenize: out of memory"), INT_MIN;
            piece = vocab_token_to_piece(v, id, joined + pending, -piece, false);
        }
    }
    memcpy(joined, s->pending, (size_t)pending);
    size_t n = (size_t)pending + (size_t)piece, held;

    size_t need = utf8_sanitize((const uint8_t *)joined, n, id < 0, NULL, &held);
    int rc;
    if (need >= (size_t)INT_MAX || cap < 0 || (size_t)cap < need + 1 || !out) {
        rc = need >= (size_t)INT_MAX ? INT_MIN : -(int)(need + 1);
    } else {
        utf8_sanitize((const uint8_t *)joined, n, id < 0, out, &held);
        out[need] = 0;
        memmove(s->pending, joined + n - held, held);
        s->n_pending = (int)held;
        rc = (int)need;
    }
    if (joined != local)
        free(joined);
    return rc;
}
