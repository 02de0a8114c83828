/* SentencePiece (BPE by piece score), as llama.cpp's llm_tokenizer_spm does it:
 * start from UTF-8 characters, keep merging the adjacent pair whose
 * concatenation is the best-scoring piece (ties: leftmost), then emit each
 * final symbol as its piece or, failing that, as byte tokens.
 * A max-heap of candidate pairs keeps it O(n log n). */
#include "tokenizer_internal.h"

#include "error.h"

#include <stdlib.h>

typedef struct {
    int32_t prev, next; /* neighbours in the current segmentation, -1 at the ends */
    uint32_t off, n;    /* bytes of text; n == 0 once merged into the left neighbour */
} spm_symbol;

typedef struct {
    int32_t left, right;
    float score;
    uint32_t size; /* bytes of the pair when it was queued, to spot stale entries */
} spm_pair;

typedef struct {
    const vocab *v;
    const char *text;
    spm_symbol *sym;
    spm_pair *heap;
    size_t n_heap;
} spm_state;

/* Heap order: higher score first, then the leftmost pair. */
static bool pair_before(const spm_pair *a, const spm_pair *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(spm_state *st, spm_pair p)
{
    size_t i = st->n_heap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pair_before(&p, &st->heap[parent]))
            break;
        st->heap[i] = st->heap[parent];
        i = parent;
    }
    st->heap[i] = p;
}

static spm_pair heap_pop(spm_state *st)
{
    spm_pair top = st->heap[0];
    spm_pair last = st->heap[--st->n_heap];
    size_t n = st->n_heap, i = 0;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n)
            break;
        if (child + 1 < n && pair_before(&st->heap[child + 1], &st->heap[child]))
            child++;
        if (!pair_before(&st->heap[child], &last))
            break;
        st->heap[i] = st->heap[child];
        i = child;
    }
    if (n)
        st->heap[i] = last;
    return top;
}

static void try_add_pair(spm_state *st, int32_t left, int32_t right)
{
    if (left < 0 || right < 0)
        return;
    const spm_symbol *l = &st->sym[left], *r = &st->sym[right];
    uint32_t size = l->n + r->n;
    int32_t id = vocab_find(st->v, st->text + l->off, size);
    if (id < 0)
        return;
    heap_push(st, (spm_pair){ .left = left, .right = right, .score = st->v->scores[id], .size = size });
}

/* A final symbol: its piece if there is one, else one token per byte. */
static int emit_symbol(spm_state *st, const spm_symbol *s, token_sink *sink)
{
    int32_t id = vocab_find(st->v, st->text + s->off, s->n);
    if (id >= 0) {
        token_sink_push(sink, id);
        return 0;
    }
    for (uint32_t i = 0; i < s->n; i++) {
        id = st->v->byte_token[(uint8_t)st->text[s->off + i]];
        if (id < 0)
            id = st->v->unk;
        if (id < 0)
            return kestrel_fail(NULL, "tokenize: byte 0x%02x has no token and the vocab has no <unk>",
                                (uint8_t)st->text[s->off + i]);
        token_sink_push(sink, id);
    }
    return 0;
}

/* Merges the symbols [first, end) (linked among themselves) and emits them. */
static int merge_run(spm_state *st, int32_t first, int32_t end, token_sink *sink)
{
    st->sym[first].prev = -1;
    st->sym[end - 1].next = -1;
    st->n_heap = 0;
    for (int32_t i = first + 1; i < end; i++)
        try_add_pair(st, i - 1, i);

    while (st->n_heap) {
        spm_pair p = heap_pop(st);
        spm_symbol *l = &st->sym[p.left], *r = &st->sym[p.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != p.size)
            continue; /* one side changed since this pair was queued */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0)
            st->sym[r->next].prev = p.left;
        try_add_pair(st, l->prev, p.left);
        try_add_pair(st, p.left, l->next);
    }

    for (int32_t i = first; i != -1; i = st->sym[i].next)
        if (emit_symbol(st, &st->sym[i], sink))
            return -1;
    return 0;
}

int spm_tokenize(const vocab *v, const char *text, size_t len, token_sink *sink)
{
    if (len == 0)
        return 0;
    if (len > INT32_MAX / 4)
        return kestrel_fail(NULL, "tokenize: text of %zu bytes is too long", len);

    spm_state st = { .v = v, .text = text };
    /* Each merge queues at most two pairs on top of the initial n - 1. */
    st.sym = malloc(sizeof *st.sym * len);
    st.heap = malloc(sizeof *st.heap * 3 * len);
    if (!st.sym || !st.heap) {
        free(st.sym);
        free(st.heap);
        return kestrel_fail(NULL, "tokenize: out of memory");
    }

    /* One symbol per UTF-8 character (a truncated one at the end keeps what
     * is there). A symbol that can never merge ends a run: runs are merged
     * separately, which gives the same result with small, cache-friendly heaps. */
    int32_t n_sym = 0, run_start = 0;
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0;) {
        uint8_t c = (uint8_t)text[off];
        size_t n = utf8_seq_len(c);
        if (n > len - off)
            n = len - off;
        st.sym[n_sym] = (spm_symbol){ .prev = n_sym - 1, .next = n_sym + 1,
                                      .off = (uint32_t)off, .n = (uint32_t)n };
        off += n;
        n_sym++;
        if ((n == 1 && c < 128 && v->spm_isolated[c]) || off == len) {
            rc = merge_run(&st, run_start, n_sym, sink);
            run_start = n_sym;
        }
    }

    free(st.sym);
    free(st.heap);
    return rc;
}
