/* Loading tokenizer.ggml.* into a vocab, with llama.cpp's defaults and its
 * text-based detection of end-of-generation and FIM tokens. */
#include "tokenizer_internal.h"

#include "error.h"
#include "pretokenize.h"
#include "unicode.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- hashing -------------------------------------------------------------- */

/* Eight bytes at a time: the tokenizers hash every candidate pair. */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, s, n);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
    }
    h ^= h >> 32;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

static uint64_t hash_pair(uint64_t key)
{
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull;
    key ^= key >> 33;
    key *= 0xc4ceb9fe1a85ec53ull;
    key ^= key >> 33;
    return key;
}

static uint64_t table_capacity(uint64_t n)
{
    uint64_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    return cap;
}

static const char *token_text(const vocab *v, int32_t id, size_t *len)
{
    *len = v->text_len[id];
    return v->text + v->text_off[id];
}

int32_t vocab_find(const vocab *v, const char *text, size_t len)
{
    for (uint64_t i = hash_bytes(text, len) & v->index.mask;; i = (i + 1) & v->index.mask) {
        int32_t id = v->index.slots[i];
        if (id < 0)
            return -1;
        size_t n;
        const char *t = token_text(v, id, &n);
        if (n == len && memcmp(t, text, len) == 0)
            return id;
    }
}

/* Adds token id to the index; returns the id already there with the same text, or -1. */
static int32_t index_insert(vocab *v, int32_t id)
{
    size_t len;
    const char *text = token_text(v, id, &len);
    uint64_t i = hash_bytes(text, len) & v->index.mask;
    for (;; i = (i + 1) & v->index.mask) {
        int32_t other = v->index.slots[i];
        if (other < 0)
            break;
        size_t n;
        const char *t = token_text(v, other, &n);
        if (n == len && memcmp(t, text, len) == 0)
            return other;
    }
    v->index.slots[i] = id;
    return -1;
}

int32_t vocab_merge_rank(const vocab *v, int32_t left, int32_t right)
{
    if (!v->merges.keys || left < 0 || right < 0)
        return -1;
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    for (uint64_t i = hash_pair(key) & v->merges.mask;; i = (i + 1) & v->merges.mask) {
        if (v->merges.keys[i] == UINT64_MAX)
            return -1;
        if (v->merges.keys[i] == key)
            return v->merges.ranks[i];
    }
}

/* Like llama.cpp's map emplace: the first (lowest) rank of a repeated pair wins. */
static void merge_insert(vocab *v, int32_t left, int32_t right, int32_t rank)
{
    uint64_t key = (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
    uint64_t i = hash_pair(key) & v->merges.mask;
    for (; v->merges.keys[i] != UINT64_MAX; i = (i + 1) & v->merges.mask)
        if (v->merges.keys[i] == key)
            return;
    v->merges.keys[i] = key;
    v->merges.ranks[i] = rank;
    v->merges.n++;
}

/* ---- reading keys --------------------------------------------------------- */

/* An optional token id: absent keeps *id; u32 4294967295 or -1 means none.
 * Returns -1 (error set) for a value that is not a token id. */
static int read_token_id(const gguf_file *f, const char *key, int32_t n_tokens, int32_t *id)
{
    if (!gguf_find(f, key))
        return 0;
    int64_t value;
    if (!gguf_get_i64(f, key, &value))
        return kestrel_fail(f->path, "%s is not an integer", key);
    if (value == -1 || value == (int64_t)UINT32_MAX) {
        *id = -1;
        return 0;
    }
    if (value < 0 || value >= n_tokens)
        return kestrel_fail(f->path, "%s = %lld is not a token id (the vocab has %d tokens)", key,
                            (long long)value, n_tokens);
    *id = (int32_t)value;
    return 0;
}

static int read_bool(const gguf_file *f, const char *key, bool *out)
{
    if (!gguf_find(f, key))
        return 0;
    if (!gguf_get_bool(f, key, out))
        return kestrel_fail(f->path, "%s is not a bool", key);
    return 0;
}

static bool is_integer_type(uint32_t t)
{
    return t == GGUF_UINT8 || t == GGUF_INT8 || t == GGUF_UINT16 || t == GGUF_INT16 ||
           t == GGUF_UINT32 || t == GGUF_INT32 || t == GGUF_UINT64 || t == GGUF_INT64;
}

/* An optional per-token array: absent is fine; present must be an array of
 * n_tokens elements accepted by elem_ok. */
static int find_token_array(const gguf_file *f, const char *key, int32_t n_tokens,
                            bool (*elem_ok)(uint32_t), const char *what, const gguf_kv **out)
{
    const gguf_kv *kv = gguf_find(f, key);
    *out = NULL;
    if (!kv)
        return 0;
    if (kv->type != GGUF_ARRAY || !elem_ok(kv->elem_type))
        return kestrel_fail(f->path, "%s is not an array of %s", key, what);
    if (kv->n != (uint64_t)n_tokens)
        return kestrel_fail(f->path, "%s has %llu entries but there are %d tokens", key,
                            (unsigned long long)kv->n, n_tokens);
    *out = kv;
    return 0;
}

static bool is_float_type(uint32_t t) { return t == GGUF_FLOAT32 || t == GGUF_FLOAT64; }

/* ---- tokens ----------------------------------------------------------------- */

static int load_tokens(vocab *v, const gguf_file *f)
{
    const gguf_kv *tokens = gguf_find(f, "tokenizer.ggml.tokens");
    if (!tokens)
        return kestrel_fail(f->path, "no tokenizer.ggml.tokens");
    if (tokens->type != GGUF_ARRAY || tokens->elem_type != GGUF_STRING)
        return kestrel_fail(f->path, "tokenizer.ggml.tokens is not an array of strings");
    if (tokens->n == 0 || tokens->n >= INT32_MAX)
        return kestrel_fail(f->path, "tokenizer.ggml.tokens has %llu entries",
                            (unsigned long long)tokens->n);
    int32_t n = (int32_t)tokens->n;
    v->n_tokens = n;

    const gguf_kv *scores, *types;
    if (find_token_array(f, "tokenizer.ggml.scores", n, is_float_type, "floats", &scores) ||
        find_token_array(f, "tokenizer.ggml.token_type", n, is_integer_type, "integers", &types))
        return -1;

    /* An empty token gets llama.cpp's placeholder "[EMPTY_<id>]". */
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        gguf_string s = gguf_arr_str(tokens, (uint64_t)i);
        if (s.len > UINT32_MAX)
            return kestrel_fail(f->path, "token %d is %llu bytes long", i, (unsigned long long)s.len);
        total += s.len ? s.len : 24;
    }
    v->text = malloc(total ? total : 1);
    v->text_off = malloc(sizeof *v->text_off * (size_t)n);
    v->text_len = malloc(sizeof *v->text_len * (size_t)n);
    v->scores = malloc(sizeof *v->scores * (size_t)n);
    v->types = malloc((size_t)n);
    v->flags = calloc((size_t)n, 1);
    v->index.mask = table_capacity((uint64_t)n) - 1;
    v->index.slots = malloc(sizeof *v->index.slots * (v->index.mask + 1));
    if (!v->text || !v->text_off || !v->text_len || !v->scores || !v->types || !v->flags ||
        !v->index.slots)
        return kestrel_fail(f->path, "out of memory for %d tokens", n);
    memset(v->index.slots, 0xff, sizeof *v->index.slots * (v->index.mask + 1));

    uint64_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        gguf_string s = gguf_arr_str(tokens, (uint64_t)i);
        v->text_off[i] = off;
        if (s.len) {
            memcpy(v->text + off, s.ptr, s.len);
            v->text_len[i] = (uint32_t)s.len;
        } else {
            char tmp[24];
            int k = snprintf(tmp, sizeof tmp, "[EMPTY_%d]", i);
            memcpy(v->text + off, tmp, (size_t)k);
            v->text_len[i] = (uint32_t)k;
        }
        off += v->text_len[i];
        if (v->text_len[i] > v->max_token_len)
            v->max_token_len = v->text_len[i];

        v->scores[i] = scores ? (float)gguf_arr_num(scores, (uint64_t)i) : 0.0f;
        /* Without token types every token is normal; unknown codes are "undefined". */
        double t = types ? gguf_arr_num(types, (uint64_t)i) : TOKEN_NORMAL;
        v->types[i] = (t >= TOKEN_NORMAL && t <= TOKEN_BYTE) ? (uint8_t)t : 0;

        int32_t dup = index_insert(v, i);
        if (dup >= 0) {
            size_t len;
            const char *text = token_text(v, i, &len);
            return kestrel_fail(f->path, "tokens %d and %d have the same text '%.*s'", dup, i,
                                (int)(len > 64 ? 64 : len), text);
        }
    }
    return 0;
}

static int load_merges(vocab *v, const gguf_file *f)
{
    const gguf_kv *merges = gguf_find(f, "tokenizer.ggml.merges");
    if (!merges)
        return kestrel_fail(f->path, "no tokenizer.ggml.merges in a BPE vocab");
    if (merges->type != GGUF_ARRAY || merges->elem_type != GGUF_STRING)
        return kestrel_fail(f->path, "tokenizer.ggml.merges is not an array of strings");
    if (merges->n >= INT32_MAX)
        return kestrel_fail(f->path, "tokenizer.ggml.merges has %llu entries",
                            (unsigned long long)merges->n);
    v->merges.mask = table_capacity(merges->n) - 1;
    v->merges.keys = malloc(sizeof *v->merges.keys * (v->merges.mask + 1));
    v->merges.ranks = malloc(sizeof *v->merges.ranks * (v->merges.mask + 1));
    if (!v->merges.keys || !v->merges.ranks)
        return kestrel_fail(f->path, "out of memory for %llu merges", (unsigned long long)merges->n);
    memset(v->merges.keys, 0xff, sizeof *v->merges.keys * (v->merges.mask + 1));

    for (uint64_t i = 0; i < merges->n; i++) {
        gguf_string s = gguf_arr_str(merges, i);
        /* "left right", split at the first space after the first byte (a
         * left half may itself be a space). */
        const char *sep = s.len > 1 ? memchr(s.ptr + 1, ' ', s.len - 1) : NULL;
        if (!sep)
            continue;
        size_t left_len = (size_t)(sep - s.ptr);
        int32_t left = vocab_find(v, s.ptr, left_len);
        int32_t right = vocab_find(v, sep + 1, s.len - left_len - 1);
        if (left < 0 || right < 0)
            continue; /* a pair of non-tokens can never be formed */
        merge_insert(v, left, right, (int32_t)i);
    }
    return 0;
}

/* ---- special tokens --------------------------------------------------------- */

/* llama.cpp's workaround for ids the converter did not store: when *id is
 * unset, take the (lowest-id) token whose text is one of `texts` and make it a
 * control token. */
static void detect_by_text(vocab *v, int32_t *id, const char *const *texts)
{
    if (*id >= 0)
        return;
    for (; *texts; texts++) {
        int32_t found = vocab_find(v, *texts, strlen(*texts));
        if (found >= 0 && (*id < 0 || found < *id))
            *id = found;
    }
    if (*id >= 0)
        v->types[*id] = TOKEN_CONTROL;
}

static int u64_ascending(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool contains(const char *haystack, const char *needle)
{
    return strstr(haystack, needle) != NULL;
}

static void set_flag(vocab *v, const char *text, uint8_t flag, bool on)
{
    int32_t id = vocab_find(v, text, strlen(text));
    if (id < 0)
        return;
    v->flags[id] = on ? (uint8_t)(v->flags[id] | flag) : (uint8_t)(v->flags[id] & ~flag);
}

static int load_special(vocab *v, const gguf_file *f)
{
    int32_t n = v->n_tokens;
    int32_t fim_pre = -1, fim_suf = -1, fim_mid = -1, fim_pad = -1, fim_rep = -1, fim_sep = -1;
    int32_t mask = -1;
    const struct { const char *key; int32_t *id; } keys[] = {
        { "tokenizer.ggml.bos_token_id", &v->bos },
        { "tokenizer.ggml.eos_token_id", &v->eos },
        { "tokenizer.ggml.eot_token_id", &v->eot },
        { "tokenizer.ggml.eom_token_id", &v->eom },
        { "tokenizer.ggml.unknown_token_id", &v->unk },
        { "tokenizer.ggml.seperator_token_id", &v->sep },
        { "tokenizer.ggml.padding_token_id", &v->pad },
        { "tokenizer.ggml.mask_token_id", &mask },
        { "tokenizer.ggml.fim_pre_token_id", &fim_pre },
        { "tokenizer.ggml.fim_suf_token_id", &fim_suf },
        { "tokenizer.ggml.fim_mid_token_id", &fim_mid },
        { "tokenizer.ggml.fim_pad_token_id", &fim_pad },
        { "tokenizer.ggml.fim_rep_token_id", &fim_rep },
        { "tokenizer.ggml.fim_sep_token_id", &fim_sep },
        { "tokenizer.ggml.prefix_token_id", &fim_pre },  /* deprecated names */
        { "tokenizer.ggml.suffix_token_id", &fim_suf },
        { "tokenizer.ggml.middle_token_id", &fim_mid },
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (read_token_id(f, keys[i].key, n, keys[i].id))
            return -1;
    /* Defaults such as bos = 1 may not exist in a tiny vocab. */
    int32_t *ids[] = { &v->bos, &v->eos, &v->unk };
    for (size_t i = 0; i < 3; i++)
        if (*ids[i] >= n)
            *ids[i] = -1;

    if (read_bool(f, "tokenizer.ggml.add_bos_token", &v->add_bos) ||
        read_bool(f, "tokenizer.ggml.add_eos_token", &v->add_eos))
        return -1;

    static const char *const eot_texts[] = { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
        "<|endoftext|>", "<EOT>", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>",
        NULL };
    static const char *const eom_texts[] = { "<|eom_id|>", NULL };
    static const char *const fim_pre_texts[] = { "<|fim_prefix|>", "<fim-prefix>",
        "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>", NULL };
    static const char *const fim_suf_texts[] = { "<|fim_suffix|>", "<fim-suffix>",
        "<\xef\xbd\x9c" "fim\xe2\x96\x81" "hole\xef\xbd\x9c>", "<SUF>", NULL };
    static const char *const fim_mid_texts[] = { "<|fim_middle|>", "<fim-middle>",
        "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>", NULL };
    static const char *const fim_pad_texts[] = { "<|fim_pad|>", "<fim-pad>", "<PAD>", NULL };
    static const char *const fim_rep_texts[] = { "<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
        "<REPO>", NULL };
    static const char *const fim_sep_texts[] = { "<|file_sep|>", NULL };
    static const char *const eog_texts[] = { "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
        "<|endoftext|>", "<|eom_id|>", "<EOT>", NULL };

    detect_by_text(v, &v->eot, eot_texts);
    detect_by_text(v, &v->eom, eom_texts);
    detect_by_text(v, &fim_pre, fim_pre_texts);
    detect_by_text(v, &fim_suf, fim_suf_texts);
    detect_by_text(v, &fim_mid, fim_mid_texts);
    detect_by_text(v, &fim_pad, fim_pad_texts);
    detect_by_text(v, &fim_rep, fim_rep_texts);
    detect_by_text(v, &fim_sep, fim_sep_texts);

    /* End of generation: FIM pad/repo/file-sep, every token spelled like an end
     * marker (forced to control), and eos/eot/eom. */
    int32_t eog_ids[] = { fim_pad, fim_rep, fim_sep, v->eos, v->eot, v->eom };
    for (size_t i = 0; i < sizeof eog_ids / sizeof eog_ids[0]; i++)
        if (eog_ids[i] >= 0)
            v->flags[eog_ids[i]] |= TOKEN_FLAG_EOG;
    for (const char *const *t = eog_texts; *t; t++) {
        int32_t id = vocab_find(v, *t, strlen(*t));
        if (id >= 0) {
            v->flags[id] |= TOKEN_FLAG_EOG;
            v->types[id] = TOKEN_CONTROL;
        }
    }

    /* Tokens matched in the text before tokenizing, longest first (equal
     * lengths by id; llama.cpp's std::sort leaves that order unspecified). */
    uint64_t *order = malloc(sizeof *order * (size_t)n);
    v->special = malloc(sizeof *v->special * (size_t)n);
    if (!order || !v->special) {
        free(order);
        return kestrel_fail(f->path, "out of memory");
    }
    size_t n_order = 0;
    for (int32_t i = 0; i < n; i++)
        if (v->types[i] == TOKEN_CONTROL || v->types[i] == TOKEN_USER_DEFINED ||
            v->types[i] == TOKEN_UNKNOWN)
            order[n_order++] = (uint64_t)(UINT32_MAX - v->text_len[i]) << 32 | (uint32_t)i;
    qsort(order, n_order, sizeof *order, u64_ascending);
    for (size_t i = 0; i < n_order; i++)
        v->special[i] = (int32_t)(uint32_t)order[i];
    v->n_special = (int32_t)n_order;
    free(order);

    /* llama.cpp's per-model whitespace stripping around special tokens. */
    gguf_string name = { "", 0 };
    if (gguf_find(f, "general.name") && !gguf_get_str(f, "general.name", &name))
        name.len = 0;
    char lower[256];
    size_t nl = name.len < sizeof lower - 1 ? (size_t)name.len : sizeof lower - 1;
    for (size_t i = 0; i < nl; i++)
        lower[i] = (char)tolower((unsigned char)name.ptr[i]);
    lower[nl] = 0;
    if (contains(v->pre, "jina-v2-de") || contains(v->pre, "jina-v2-es") ||
        contains(v->pre, "jina-v2-code")) {
        set_flag(v, "<mask>", TOKEN_FLAG_LSTRIP, true);
    } else if (contains(lower, "phi-3") || contains(lower, "phi3")) {
        for (int32_t i = 0; i < v->n_special; i++)
            v->flags[v->special[i]] |= TOKEN_FLAG_RSTRIP;
        set_flag(v, "</s>", TOKEN_FLAG_RSTRIP, true);
        set_flag(v, "<unk>", TOKEN_FLAG_RSTRIP, false);
        set_flag(v, "<s>", TOKEN_FLAG_RSTRIP, false);
        set_flag(v, "<|endoftext|>", TOKEN_FLAG_RSTRIP, false);
    }
    return 0;
}

static void find_byte_tokens(vocab *v)
{
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char name[6] = { '<', '0', 'x', hex[b >> 4], hex[b & 15], '>' };
        int32_t id = vocab_find(v, name, sizeof name);
        if (id < 0) {
            char raw = (char)b;
            id = vocab_find(v, &raw, 1);
        }
        v->byte_token[b] = id;
    }
    for (int b = 0; b < 128; b++)
        v->spm_isolated[b] = true;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        size_t len;
        const char *t = token_text(v, i, &len);
        if (len >= 2)
            for (size_t k = 0; k < len; k++)
                if ((uint8_t)t[k] < 128)
                    v->spm_isolated[(uint8_t)t[k]] = false;
    }
}

/* ---- load ------------------------------------------------------------------- */

static int load(vocab *v, const gguf_file *f)
{
    gguf_string model;
    if (!gguf_find(f, "tokenizer.ggml.model"))
        return kestrel_fail(f->path, "no tokenizer (tokenizer.ggml.model is missing)");
    if (!gguf_get_str(f, "tokenizer.ggml.model", &model))
        return kestrel_fail(f->path, "tokenizer.ggml.model is not a string");

    gguf_string pre = { "", 0 };
    if (gguf_find(f, "tokenizer.ggml.pre") && !gguf_get_str(f, "tokenizer.ggml.pre", &pre))
        return kestrel_fail(f->path, "tokenizer.ggml.pre is not a string");
    v->pre = malloc(pre.len + 1);
    if (!v->pre)
        return kestrel_fail(f->path, "out of memory");
    memcpy(v->pre, pre.ptr, pre.len);
    v->pre[pre.len] = 0;
    if (strlen(v->pre) != pre.len)
        return kestrel_fail(f->path, "tokenizer.ggml.pre contains a NUL byte");

    v->eot = v->eom = v->pad = v->sep = -1;
    if (model.len == 5 && memcmp(model.ptr, "llama", 5) == 0) {
        v->kind = VOCAB_SPM;
        v->bos = 1, v->eos = 2, v->unk = 0;
        v->add_space_prefix = true;
        v->add_bos = true;
    } else if (model.len == 4 && memcmp(model.ptr, "gpt2", 4) == 0) {
        v->kind = VOCAB_BPE;
        v->bos = 11, v->eos = 11, v->unk = -1;
        v->clean_spaces = true;
        /* Per pre-tokenizer defaults, as llama.cpp sets them. */
        static const char *const adds_bos[] = { "llama3", "llama-v3", "llama-bpe", "falcon3",
                                                "tekken", "chameleon", NULL };
        static const char *const keeps_spaces[] = { "deepseek-llm", "deepseek-coder",
            "deepseek-v3", "command-r", "qwen2", "deepseek-r1-qwen", "poro-chat", "viking",
            "tekken", "smollm", "chameleon", NULL };
        for (const char *const *p = adds_bos; *p; p++)
            if (strcmp(v->pre, *p) == 0)
                v->add_bos = true;
        for (const char *const *p = keeps_spaces; *p; p++)
            if (strcmp(v->pre, *p) == 0)
                v->clean_spaces = false;
        static const char *const ignores_merges[] = { "llama3", "llama-v3", "llama-bpe",
                                                      "falcon3", "tekken", NULL };
        for (const char *const *p = ignores_merges; *p; p++)
            if (strcmp(v->pre, *p) == 0)
                v->ignore_merges = true;
        if (strcmp(v->pre, "chatglm-bpe") == 0)
            v->bos = -1;
    } else {
        return kestrel_fail(f->path, "unsupported tokenizer '%.*s' (only llama/SPM and gpt2/BPE)",
                            (int)(model.len > 64 ? 64 : model.len), model.ptr);
    }
    if (read_bool(f, "tokenizer.ggml.add_space_prefix", &v->add_space_prefix))
        return -1;

    if (load_tokens(v, f))
        return -1;
    if (v->kind == VOCAB_BPE && load_merges(v, f))
        return -1;
    if (load_special(v, f))
        return -1;
    if (v->kind == VOCAB_SPM) {
        find_byte_tokens(v);
    } else {
        /* Byte-level BPE starts from one symbol per byte, spelled in GPT-2's alphabet. */
        for (int b = 0; b < 256; b++) {
            char ch[4];
            size_t n = unicode_encode_utf8(unicode_byte_to_cpt((uint8_t)b), ch);
            v->byte_token[b] = vocab_find(v, ch, n);
        }
        /* llama.cpp refuses a pre-tokenizer type it does not know. */
        if (!pretokenize_known(v->pre))
            return kestrel_fail(f->path, "unknown pre-tokenizer type '%.64s' (tokenizer.ggml.pre)",
                                v->pre);
        v->pretok = pretokenizer_new(v->pre);
        if (!v->pretok)
            return -1;
    }
    return 0;
}

vocab *vocab_load(const gguf_file *f)
{
    vocab *v = calloc(1, sizeof *v);
    if (!v) {
        kestrel_fail(f->path, "out of memory");
        return NULL;
    }
    if (load(v, f)) {
        vocab_free(v);
        return NULL;
    }
    return v;
}

void vocab_free(vocab *v)
{
    if (!v)
        return;
    free(v->text);
    free(v->text_off);
    free(v->text_len);
    free(v->scores);
    free(v->types);
    free(v->flags);
    free(v->index.slots);
    free(v->merges.keys);
    free(v->merges.ranks);
    free(v->special);
    free(v->pre);
    pretokenizer_free(v->pretok);
    free(v);
}

/* ---- accessors -------------------------------------------------------------- */

static bool valid_id(const vocab *v, int32_t id) { return id >= 0 && id < v->n_tokens; }

int vocab_n_tokens(const vocab *v) { return v->n_tokens; }
enum vocab_kind vocab_get_kind(const vocab *v) { return v->kind; }
int32_t vocab_bos(const vocab *v) { return v->bos; }
int32_t vocab_eos(const vocab *v) { return v->eos; }
int32_t vocab_eot(const vocab *v) { return v->eot; }
int32_t vocab_eom(const vocab *v) { return v->eom; }
int32_t vocab_unk(const vocab *v) { return v->unk; }
int32_t vocab_pad(const vocab *v) { return v->pad; }
bool vocab_add_bos(const vocab *v) { return v->add_bos; }
bool vocab_add_eos(const vocab *v) { return v->add_eos; }
bool vocab_add_space_prefix(const vocab *v) { return v->add_space_prefix; }
const char *vocab_pre(const vocab *v) { return v->pre; }

bool vocab_is_eog(const vocab *v, int32_t id)
{
    return valid_id(v, id) && (v->flags[id] & TOKEN_FLAG_EOG);
}

const char *vocab_text(const vocab *v, int32_t id, size_t *len)
{
    if (!valid_id(v, id)) {
        *len = 0;
        return "";
    }
    return token_text(v, id, len);
}

int vocab_type(const vocab *v, int32_t id)
{
    return valid_id(v, id) ? v->types[id] : 0;
}

float vocab_score(const vocab *v, int32_t id)
{
    return valid_id(v, id) ? v->scores[id] : 0.0f;
}
