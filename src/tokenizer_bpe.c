/* Byte-level BPE (tokenizer.ggml.model = "gpt2") over one raw text fragment,
 * token for token as llama.cpp b4748's llm_tokenizer_bpe_session:
 *
 *  1. invalid UTF-8 becomes U+FFFD (unicode_sanitize_utf8);
 *  2. the vocab's pre-tokenizer cuts the text into pieces that merges never cross;
 *  3. each byte of a piece becomes its GPT-2 alphabet character (bytes_to_unicode),
 *     one symbol per byte;
 *  4. with ignore_merges (llama3, tekken) a piece that is itself a token is that token;
 *  5. otherwise adjacent symbols merge, lowest merge rank first and the leftmost pair
 *     on equal ranks, until no adjacent pair has a rank;
 *  6. each final symbol is looked up; one that is not a token falls back to the
 *     tokens of its single (encoded) bytes, skipping bytes without one.
 *
 * Merging uses a linked list of symbols and a binary heap of candidate pairs with
 * lazy invalidation, so a piece of n bytes costs O(n log n). Pieces repeat a lot in
 * real text, so one tokenize call remembers the tokens of the short pieces it has
 * already seen.
 *
 * One deliberate difference: ranks are keyed by token ids, so a merge whose halves
 * are not both tokens (never the case in a vocab that Hugging Face can load) is
 * ignored, where llama.cpp would still apply it. */
#include "tokenizer_internal.h"

#include "error.h"
#include "pretokenize.h"
#include "unicode.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint32_t off, n;      /* bytes of the encoded piece; n = 0 once merged away */
    int32_t id;           /* token of those bytes, -1 if none */
    int32_t prev, next;   /* neighbours in the list, -1 at the ends */
} bpe_symbol;

typedef struct {
    int32_t rank;
    int32_t left, right;
    uint32_t size;        /* encoded bytes of left + right when the pair was made */
} bpe_pair;

/* Remembered piece: the raw bytes live in key_arena, the tokens in tok_arena. */
typedef struct {
    uint64_t hash;
    size_t key_off, tok_off;
    uint32_t key_len, n_tok; /* key_len 0 = empty slot */
} bpe_cache_slot;

#define BPE_CACHE_MAX_PIECE 64    /* longer pieces are rare and not remembered */
#define BPE_CACHE_MAX_SLOTS (1u << 20)

struct bpe_session {
    const vocab *v;
    char enc_byte[256][2]; /* GPT-2 alphabet character of each byte, as UTF-8 */
    uint8_t enc_len[256];

    char *clean;         size_t clean_cap;   /* sanitized fragment */
    size_t *ends;        size_t ends_cap;    /* piece ends from the pre-tokenizer */
    char *enc;           size_t enc_cap;     /* the piece in the GPT-2 alphabet */
    bpe_symbol *sym;     size_t sym_cap;
    bpe_pair *heap;      size_t heap_cap, heap_n;
    int32_t *out;        size_t out_cap, out_n; /* tokens of the current piece */

    bpe_cache_slot *slots; size_t n_slots, slots_used;
    char *key_arena;     size_t key_n, key_cap;
    int32_t *tok_arena;  size_t tok_n, tok_cap;
};

/* ---- growable buffers --------------------------------------------------------- */

static int grow(void **buf, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t cap2 = *cap ? *cap : 64;
    while (cap2 < need) {
        if (cap2 > SIZE_MAX / 2 / elem)
            return kestrel_fail(NULL, "tokenize: out of memory");
        cap2 *= 2;
    }
    void *p = realloc(*buf, cap2 * elem);
    if (!p)
        return kestrel_fail(NULL, "tokenize: out of memory");
    *buf = p;
    *cap = cap2;
    return 0;
}

#define GROW(field, capfield, need) grow((void **)&(field), &(capfield), (need), sizeof *(field))

bpe_session *bpe_session_new(const vocab *v)
{
    bpe_session *s = calloc(1, sizeof *s);
    if (!s) {
        kestrel_fail(NULL, "tokenize: out of memory");
        return NULL;
    }
    s->v = v;
    for (int b = 0; b < 256; b++) {
        char tmp[4];
        size_t n = unicode_encode_utf8(unicode_byte_to_cpt((uint8_t)b), tmp);
        memcpy(s->enc_byte[b], tmp, n); /* the alphabet stays below U+0800: 1 or 2 bytes */
        s->enc_len[b] = (uint8_t)n;
    }
    return s;
}

void bpe_session_free(bpe_session *s)
{
    if (!s)
        return;
    free(s->clean);
    free(s->ends);
    free(s->enc);
    free(s->sym);
    free(s->heap);
    free(s->out);
    free(s->slots);
    free(s->key_arena);
    free(s->tok_arena);
    free(s);
}

/* ---- the pair heap: lowest rank on top, then the leftmost ------------------------ */

static bool pair_before(const bpe_pair *a, const bpe_pair *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(bpe_session *s, bpe_pair p)
{
    /* Capacity is reserved up front (at most 3 pushes per symbol). */
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &s->heap[parent]))
            break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = p;
}

static bpe_pair heap_pop(bpe_session *s)
{
    bpe_pair top = s->heap[0];
    bpe_pair last = s->heap[--s->heap_n];
    size_t n = s->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && pair_before(&s->heap[c + 1], &s->heap[c]))
            c++;
        if (!pair_before(&s->heap[c], &last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n)
        s->heap[i] = last;
    return top;
}

static void add_pair(bpe_session *s, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    int32_t rank = vocab_merge_rank(s->v, s->sym[left].id, s->sym[right].id);
    if (rank < 0)
        return;
    heap_push(s, (bpe_pair){ rank, left, right, s->sym[left].n + s->sym[right].n });
}

/* ---- one piece -------------------------------------------------------------------- */

static void out_push(bpe_session *s, int32_t id)
{
    s->out[s->out_n++] = id; /* capacity reserved: at most one token per encoded byte */
}

/* The tokens of one pre-tokenized piece (raw bytes) into s->out. */
static int bpe_piece(bpe_session *s, const uint8_t *piece, size_t n)
{
    const vocab *v = s->v;
    if (n > INT32_MAX / 4)
        return kestrel_fail(NULL, "tokenize: a piece of %zu bytes is too long", n);
    if (GROW(s->enc, s->enc_cap, 2 * n) || GROW(s->sym, s->sym_cap, n) ||
        GROW(s->heap, s->heap_cap, 3 * n) || GROW(s->out, s->out_cap, 2 * n))
        return -1;
    s->out_n = 0;
    if (n == 0)
        return 0;

    size_t enc_n = 0;
    for (size_t i = 0; i < n; i++) {
        bpe_symbol *sym = &s->sym[i];
        sym->off = (uint32_t)enc_n;
        sym->n = s->enc_len[piece[i]];
        sym->id = v->byte_token[piece[i]];
        sym->prev = (int32_t)i - 1;
        sym->next = i + 1 < n ? (int32_t)i + 1 : -1;
        memcpy(s->enc + enc_n, s->enc_byte[piece[i]], sym->n);
        enc_n += sym->n;
    }

    if (v->ignore_merges && n > 1) {
        int32_t id = vocab_find(v, s->enc, enc_n);
        if (id >= 0) {
            out_push(s, id);
            return 0;
        }
    }

    s->heap_n = 0;
    for (size_t i = 1; i < n; i++)
        add_pair(s, (int32_t)i - 1, (int32_t)i);
    while (s->heap_n) {
        bpe_pair p = heap_pop(s);
        bpe_symbol *l = &s->sym[p.left], *r = &s->sym[p.right];
        /* Stale: one side was merged away, or the right side grew since. While
         * both live, left is unchanged and right is still its neighbour. */
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size)
            continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            s->sym[r->next].prev = p.left;
        l->id = vocab_find(v, s->enc + l->off, l->n);
        add_pair(s, l->prev, p.left);
        add_pair(s, p.left, l->next);
    }

    for (int32_t i = 0; i >= 0; i = s->sym[i].next) {
        const bpe_symbol *sym = &s->sym[i];
        if (sym->id >= 0) {
            out_push(s, sym->id);
            continue;
        }
        /* Not a token: llama.cpp tries each byte of the encoded text alone. */
        for (uint32_t k = 0; k < sym->n; k++) {
            int32_t id = vocab_find(v, s->enc + sym->off + k, 1);
            if (id >= 0)
                out_push(s, id);
        }
    }
    return 0;
}

/* ---- the piece cache ------------------------------------------------------------ */

static uint64_t hash_piece(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h ^ (h >> 31);
}

static bpe_cache_slot *cache_find(bpe_session *s, const uint8_t *p, size_t n, uint64_t h)
{
    if (!s->n_slots)
        return NULL;
    size_t mask = s->n_slots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        bpe_cache_slot *slot = &s->slots[i];
        if (slot->key_len == 0)
            return slot;
        if (slot->hash == h && slot->key_len == n && memcmp(s->key_arena + slot->key_off, p, n) == 0)
            return slot;
    }
}

static int cache_rehash(bpe_session *s)
{
    size_t n2 = s->n_slots ? 2 * s->n_slots : 1024;
    bpe_cache_slot *old = s->slots;
    size_t n_old = s->n_slots;
    s->slots = calloc(n2, sizeof *s->slots);
    if (!s->slots) {
        s->slots = old;
        return kestrel_fail(NULL, "tokenize: out of memory");
    }
    s->n_slots = n2;
    for (size_t i = 0; i < n_old; i++) {
        if (!old[i].key_len)
            continue;
        for (size_t j = old[i].hash & (n2 - 1);; j = (j + 1) & (n2 - 1))
            if (!s->slots[j].key_len) {
                s->slots[j] = old[i];
                break;
            }
    }
    free(old);
    return 0;
}

/* Remembers s->out as the tokens of piece p (best effort: full tables just stop growing). */
static int cache_store(bpe_session *s, const uint8_t *p, size_t n, uint64_t h)
{
    if (s->slots_used >= BPE_CACHE_MAX_SLOTS / 2)
        return 0;
    if (2 * (s->slots_used + 1) > s->n_slots && cache_rehash(s))
        return -1;
    if (GROW(s->key_arena, s->key_cap, s->key_n + n) ||
        GROW(s->tok_arena, s->tok_cap, s->tok_n + s->out_n))
        return -1;
    bpe_cache_slot *slot = cache_find(s, p, n, h);
    memcpy(s->key_arena + s->key_n, p, n);
    if (s->out_n) /* a piece of bytes without tokens gives none */
        memcpy(s->tok_arena + s->tok_n, s->out, sizeof *s->out * s->out_n);
    *slot = (bpe_cache_slot){ h, s->key_n, s->tok_n, (uint32_t)n, (uint32_t)s->out_n };
    s->key_n += n;
    s->tok_n += s->out_n;
    s->slots_used++;
    return 0;
}

/* ---- one fragment ------------------------------------------------------------------ */

int bpe_tokenize(bpe_session *s, const char *text, size_t len, token_sink *sink)
{
    if (len == 0)
        return 0;
    if (len > (size_t)INT_MAX / 3)
        return kestrel_fail(NULL, "tokenize: a text fragment of %zu bytes is too long", len);

    /* llama.cpp splits the code points of the text, each invalid byte read as U+FFFD. */
    if (!unicode_is_canonical_utf8(text, len)) {
        if (GROW(s->clean, s->clean_cap, 3 * len))
            return -1;
        len = unicode_sanitize_utf8(text, len, s->clean);
        text = s->clean;
    }

    if (GROW(s->ends, s->ends_cap, len))
        return -1;
    int n_pieces = pretokenizer_split(s->v->pretok, text, len, s->ends, (int)len);
    if (n_pieces < 0)
        return -1;

    size_t start = 0;
    for (int k = 0; k < n_pieces; k++) {
        const uint8_t *p = (const uint8_t *)text + start;
        size_t n = s->ends[k] - start;
        start = s->ends[k];

        bool cacheable = n <= BPE_CACHE_MAX_PIECE;
        uint64_t h = 0;
        if (cacheable) {
            h = hash_piece(p, n);
            bpe_cache_slot *slot = cache_find(s, p, n, h);
            if (slot && slot->key_len) {
                for (uint32_t i = 0; i < slot->n_tok; i++)
                    token_sink_push(sink, s->tok_arena[slot->tok_off + i]);
                continue;
            }
        }
        if (bpe_piece(s, p, n))
            return -1;
        for (size_t i = 0; i < s->out_n; i++)
            token_sink_push(sink, s->out[i]);
        if (cacheable && cache_store(s, p, n, h))
            return -1;
    }
    return 0;
}
