/* Tokenizer tests: llama.cpp's vectors token for token, special tokens, pieces,
 * round trips, streaming UTF-8, and malformed vocab metadata. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gguf.h"
#include "kestrel.h"
#include "test.h"
#include "vocab_util.h"
#include "tokenizer_internal.h"
#include "vocab.h"

#define SEPARATOR "\n__ggml_vocab_test__\n"

static vocab *load_shared(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", test_shared_dir(), rel);
    vocab *v = load_vocab(path);
    CHECK(v != NULL, "load %s: %s", path, kestrel_last_error());
    return v;
}

/* ---- llama.cpp's .inp/.out vectors ----------------------------------------- */

static void check_vectors(const vocab *v, const char *inp_path, const char *out_path,
                          const char *name)
{
    size_t inp_len, out_len;
    char *inp = read_file(inp_path, &inp_len);
    char *out = read_file(out_path, &out_len);
    CHECK(inp && out, "%s: cannot read %s / %s", name, inp_path, out_path);
    if (!inp || !out) {
        free(inp);
        free(out);
        return;
    }
    int n_tests = 0, n_ok = 0;
    char *text = inp, *line = out;
    for (;;) {
        char *sep = strstr(text, SEPARATOR);
        if (!sep)
            break;
        char *eol = strchr(line, '\n');
        if (!eol)
            eol = line + strlen(line);

        int32_t want[4096];
        int n_want = 0;
        for (char *p = line; p < eol && n_want < 4096;) {
            char *end;
            long id = strtol(p, &end, 10);
            if (end == p)
                break;
            want[n_want++] = (int32_t)id;
            p = end;
        }

        int n;
        int32_t *got = tokenize(v, text, (size_t)(sep - text), false, false, &n);
        bool ok = got && ids_equal(got, n, want, n_want);
        CHECK(ok, "%s test %d ('%.*s'): got %d tokens, want %d", name, n_tests,
              (int)(sep - text > 40 ? 40 : sep - text), text, n, n_want);
        if (!ok && got) {
            fprintf(stderr, "  got: ");
            for (int i = 0; i < n; i++)
                fprintf(stderr, " %d", got[i]);
            fprintf(stderr, "\n  want:");
            for (int i = 0; i < n_want; i++)
                fprintf(stderr, " %d", want[i]);
            fprintf(stderr, "\n");
        }
        n_ok += ok;
        free(got);
        n_tests++;
        text = sep + strlen(SEPARATOR);
        line = *eol ? eol + 1 : eol;
    }
    printf("%-34s %d/%d vectors match\n", name, n_ok, n_tests);
    CHECK(n_tests == 46, "%s: %d tests read, expected 46", name, n_tests);
    free(inp);
    free(out);
}

static void test_vocab_vectors(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/vocab", test_shared_dir());
    char names[64][128];
    int n_names = vocab_vector_names(dir, names, 64);
    CHECK(n_names >= 0, "cannot open %s", dir);

    int n_spm = 0;
    for (int i = 0; i < n_names; i++) {
        char gguf[1200], inp[1200], out[1200];
        snprintf(gguf, sizeof gguf, "%.1000s/ggml-vocab-%.100s.gguf", dir, names[i]);
        snprintf(inp, sizeof inp, "%.1000s/ggml-vocab-%.100s.gguf.inp", dir, names[i]);
        snprintf(out, sizeof out, "%.1000s/ggml-vocab-%.100s.gguf.out", dir, names[i]);
        /* Vocabs without a .gguf, BPE and WordPiece ones are reported by
         * test_tokenizer_bpe; this file runs the SentencePiece vectors. */
        if (access(gguf, R_OK) != 0)
            continue;
        vocab *v = load_vocab(gguf);
        if (!v && strstr(kestrel_last_error(), "unsupported tokenizer"))
            continue;
        CHECK(v != NULL, "load %s: %s", gguf, kestrel_last_error());
        if (!v)
            continue;
        if (vocab_get_kind(v) == VOCAB_SPM) {
            check_vectors(v, inp, out, names[i]);
            n_spm++;
        }
        vocab_free(v);
    }
    CHECK(n_spm == 2, "expected the llama-spm and phi-3 vectors, ran %d", n_spm);
}

static void test_stories_vectors(void)
{
    char gguf[1024], inp[1100], out[1100];
    snprintf(gguf, sizeof gguf, "%s/models/stories260K.gguf", test_shared_dir());
    snprintf(inp, sizeof inp, "%s.inp", gguf);
    snprintf(out, sizeof out, "%s.out", gguf);
    vocab *v = load_vocab(gguf);
    CHECK(v != NULL, "load %s: %s", gguf, kestrel_last_error());
    if (!v)
        return;
    check_vectors(v, inp, out, "stories260K.gguf.inp");
    CHECK(vocab_n_tokens(v) == 512 && vocab_bos(v) == 1 && vocab_eos(v) == 2 && vocab_unk(v) == 0,
          "stories260K special ids");
    CHECK(vocab_pad(v) == -1, "padding_token_id 4294967295 means none, got %d", vocab_pad(v));
    CHECK(vocab_add_bos(v) && !vocab_add_eos(v), "stories260K: SPM defaults add BOS only");

    /* Byte fallback: 你 (E4 BD A0) is not one of the 512 pieces. */
    int n;
    int32_t *ids = tokenize(v, "\xe4\xbd\xa0", 3, false, false, &n);
    CHECK(n == 4 && ids[1] == 0xe4 + 3 && ids[2] == 0xbd + 3 && ids[3] == 0xa0 + 3,
          "byte fallback for U+4F60: n=%d", n);
    free(ids);
    vocab_free(v);
}

/* ---- special tokens, BOS/EOS ------------------------------------------------ */

static void test_special(const vocab *spm, const vocab *phi3)
{
    int n;
    int32_t *ids = tokenize(spm, "Hello world", 11, true, false, &n);
    int32_t with_bos[] = { 1, 15043, 3186 };
    CHECK(ids && ids_equal(ids, n, with_bos, 3), "BOS + Hello world");
    free(ids);

    ids = tokenize(spm, "", 0, true, false, &n);
    CHECK(n == 1 && ids[0] == 1, "empty text with add_special is just BOS (n=%d)", n);
    free(ids);
    ids = tokenize(spm, "", 0, false, false, &n);
    CHECK(n == 0, "empty text gives nothing (n=%d)", n);
    free(ids);

    /* "<s>hi</s>": with parse_special the markers are tokens and "hi" gets
     * the space prefix that follows a special token. */
    int n_hi;
    int32_t *hi = tokenize(spm, "hi", 2, false, false, &n_hi);
    ids = tokenize(spm, "<s>hi</s>", 9, false, true, &n);
    bool ok = ids && n == n_hi + 2 && ids[0] == 1 && ids[n - 1] == 2 &&
              memcmp(ids + 1, hi, sizeof *hi * (size_t)n_hi) == 0;
    CHECK(ok, "parse_special on <s>hi</s> (n=%d)", n);
    free(ids);
    ids = tokenize(spm, "<s>hi</s>", 9, false, false, &n);
    ok = ids && n > 3;
    for (int i = 0; ok && i < n; i++)
        ok = ids[i] != 1 && ids[i] != 2;
    CHECK(ok, "without parse_special <s> and </s> stay text");
    free(ids);
    ids = tokenize(spm, "<s>hi</s>", 9, true, true, &n);
    CHECK(ids && n == n_hi + 3 && ids[0] == 1 && ids[1] == 1, "BOS + parsed <s> gives two BOS");
    free(ids);
    free(hi);

    /* Text before a special token gets no prefix after it: "a<s>b" ends "▁b"? no: "b" follows
     * a special token, so it does get one; "a" is at the start and gets one too. */
    int n_a, n_b;
    int32_t *a = tokenize(spm, "a", 1, false, false, &n_a);
    int32_t *b = tokenize(spm, "b", 1, false, false, &n_b);
    ids = tokenize(spm, "a<s>b", 5, false, true, &n);
    ok = ids && n == n_a + 1 + n_b && ids[n_a] == 1 && memcmp(ids, a, sizeof *a * (size_t)n_a) == 0 &&
         memcmp(ids + n_a + 1, b, sizeof *b * (size_t)n_b) == 0;
    CHECK(ok, "a<s>b splits into a, <s>, b with space prefixes (n=%d)", n);
    free(ids);

    /* phi-3: </s> is user-defined, so it is split out even without
     * parse_special, and (llama.cpp's phi-3 rule) swallows following spaces. */
    int32_t end_s = vocab_find(phi3, "</s>", 4);
    CHECK(end_s == 2 && vocab_type(phi3, end_s) == TOKEN_USER_DEFINED, "phi-3 </s> is user-defined");
    int32_t *p1 = tokenize(phi3, "a</s>  b", 8, false, false, &n);
    int n2;
    int32_t *p2 = tokenize(phi3, "a</s>b", 6, false, false, &n2);
    CHECK(p1 && p2 && ids_equal(p1, n, p2, n2) && n >= 3 && p1[n_a] == 2,
          "phi-3 </s> is split without parse_special and strips spaces after it");
    free(p1);
    free(p2);
    free(a);
    free(b);

    /* End of generation. */
    CHECK(vocab_is_eog(spm, 2) && !vocab_is_eog(spm, 1) && !vocab_is_eog(spm, 100), "llama-spm EOG");
    int32_t end = vocab_find(phi3, "<|end|>", 7);
    CHECK(end >= 0 && vocab_is_eog(phi3, end) && vocab_type(phi3, end) == TOKEN_CONTROL,
          "phi-3 <|end|> is a control EOG token");
    CHECK(vocab_eos(phi3) == 32000 && vocab_is_eog(phi3, 32000), "phi-3 eos 32000 is EOG");
    /* llama.cpp takes whichever marker its hash map yields first; we take the lowest id. */
    CHECK(vocab_eot(phi3) == 32000 || vocab_eot(phi3) == end, "phi-3 eot detected by text (%d)",
          vocab_eot(phi3));
    CHECK(!vocab_is_eog(phi3, -1) && !vocab_is_eog(phi3, 1 << 30), "EOG of bad ids is false");

    /* Too small an output array: nothing useful, the negated count. */
    int32_t small[2];
    CHECK(vocab_tokenize(spm, "Hello world", 11, small, 2, true, false) == -3,
          "tokenize reports the needed count when max is too small");
}

/* add_eos_token = true and malformed metadata, through rewritten vocab files. */
typedef struct {
    const char *drop;   /* key left out */
    void (*add)(gguf_writer *w);
} rewrite;

static const char *rewrite_vocab(const char *src, rewrite r, char *path)
{
    gguf_file *f = gguf_open(src);
    if (!f)
        return NULL;
    gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < f->n_kv; i++)
        if (!r.drop || strcmp(f->kv[i].key, r.drop) != 0)
            gguf_writer_copy_kv(w, &f->kv[i]);
    if (r.add)
        r.add(w);
    strcpy(path, "/tmp/kestrel-test-vocab-XXXXXX");
    int fd = mkstemp(path);
    if (fd >= 0)
        close(fd);
    int rc = fd >= 0 ? gguf_writer_write(w, path) : -1;
    gguf_writer_free(w);
    gguf_close(f);
    return rc == 0 ? path : NULL;
}

static void add_eos_true(gguf_writer *w) { gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", true); }
static void bos_out_of_range(gguf_writer *w) { gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 99999); }
static void bos_none(gguf_writer *w) { gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 4294967295u); }
static void short_scores(gguf_writer *w)
{
    float s[3] = { 0, 0, 0 };
    gguf_writer_add_arr_f32(w, "tokenizer.ggml.scores", s, 3);
}
static void types_as_strings(gguf_writer *w)
{
    const char *t[1] = { "x" };
    gguf_writer_add_arr_str(w, "tokenizer.ggml.token_type", t, 1);
}
static void model_bert(gguf_writer *w) { gguf_writer_add_str(w, "tokenizer.ggml.model", "bert"); }

static void test_metadata(void)
{
    char src[1024], path[64];
    snprintf(src, sizeof src, "%s/models/stories260K.gguf", test_shared_dir());

    const char *p = rewrite_vocab(src, (rewrite){ "tokenizer.ggml.add_eos_token", add_eos_true }, path);
    CHECK(p != NULL, "rewrite: %s", kestrel_last_error());
    vocab *v = p ? load_vocab(p) : NULL;
    CHECK(v != NULL, "load add_eos vocab: %s", kestrel_last_error());
    if (v) {
        int n;
        int32_t *ids = tokenize(v, "a", 1, true, false, &n);
        CHECK(n >= 3 && ids[0] == 1 && ids[n - 1] == 2, "add_eos_token adds EOS at the end");
        free(ids);
        ids = tokenize(v, "a", 1, false, false, &n);
        CHECK(n >= 1 && ids[0] != 1 && ids[n - 1] != 2, "no BOS/EOS without add_special");
        free(ids);
        vocab_free(v);
    }
    if (p)
        unlink(p);

    p = rewrite_vocab(src, (rewrite){ "tokenizer.ggml.bos_token_id", bos_none }, path);
    v = p ? load_vocab(p) : NULL;
    CHECK(v && vocab_bos(v) == -1, "bos_token_id 4294967295 means no BOS");
    if (v) {
        int n;
        int32_t *ids = tokenize(v, "a", 1, true, false, &n);
        CHECK(n >= 1 && ids[0] != 1, "no BOS added when there is none");
        free(ids);
    }
    vocab_free(v);
    if (p)
        unlink(p);

    struct { rewrite r; const char *want; } bad[] = {
        { { "tokenizer.ggml.bos_token_id", bos_out_of_range }, "not a token id" },
        { { "tokenizer.ggml.scores", short_scores }, "tokenizer.ggml.scores has 3 entries" },
        { { "tokenizer.ggml.token_type", types_as_strings }, "not an array of integers" },
        { { "tokenizer.ggml.tokens", NULL }, "no tokenizer.ggml.tokens" },
        { { "tokenizer.ggml.model", NULL }, "no tokenizer" },
        { { "tokenizer.ggml.model", model_bert }, "unsupported tokenizer 'bert'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        p = rewrite_vocab(src, bad[i].r, path);
        v = p ? load_vocab(p) : NULL;
        const char *err = kestrel_last_error();
        CHECK(p && !v && strstr(err, bad[i].want) && strstr(err, path),
              "bad vocab %zu: want '%s', got '%s'", i, bad[i].want, err);
        vocab_free(v);
        if (p)
            unlink(p);
    }
}

/* ---- pieces, round trips, streaming --------------------------------------------- */

static void test_pieces(const vocab *spm, const vocab *gpt2)
{
    char buf[64];
    CHECK(vocab_token_to_piece(spm, 15043, buf, sizeof buf, false) == 6 && memcmp(buf, " Hello", 6) == 0,
          "piece of ▁Hello is ' Hello'");
    CHECK(vocab_token_to_piece(spm, 15043, buf, 5, false) == -6, "too small a buffer gives -6");
    CHECK(vocab_token_to_piece(spm, 15043, buf, 6, false) == 6, "an exact buffer is enough");
    CHECK(vocab_token_to_piece(spm, 1, buf, sizeof buf, false) == 0, "<s> prints nothing");
    CHECK(vocab_token_to_piece(spm, 1, buf, sizeof buf, true) == 3 && memcmp(buf, "<s>", 3) == 0,
          "<s> with special");
    CHECK(vocab_token_to_piece(spm, 0, buf, sizeof buf, false) == 0, "<unk> prints nothing");
    CHECK(vocab_token_to_piece(spm, 0, buf, sizeof buf, true) == 5, "<unk> with special");
    CHECK(vocab_token_to_piece(spm, 13, buf, sizeof buf, false) == 1 && buf[0] == '\n',
          "<0x0A> is a newline");
    CHECK(vocab_token_to_piece(spm, 3 + 0xf0, buf, 0, false) == -1, "a byte token needs 1 byte");
    CHECK(vocab_token_to_piece(spm, -1, buf, sizeof buf, true) == 0 &&
          vocab_token_to_piece(spm, 32000, buf, sizeof buf, true) == 0, "bad ids print nothing");

    /* Byte-level BPE pieces (BPE tokenizing is tested in test_tokenizer_bpe.c). */
    int32_t the = vocab_find(gpt2, "\xc4\xa0the", 5);
    CHECK(the == 262, "gpt-2 Ġthe is 262 (%d)", the);
    CHECK(vocab_token_to_piece(gpt2, the, buf, sizeof buf, false) == 4 && memcmp(buf, " the", 4) == 0,
          "gpt-2 piece of Ġthe is ' the'");
    int32_t nl = vocab_find(gpt2, "\xc4\x8a", 2);
    CHECK(vocab_token_to_piece(gpt2, nl, buf, sizeof buf, false) == 1 && buf[0] == '\n', "gpt-2 Ċ is newline");
    CHECK(vocab_merge_rank(gpt2, vocab_find(gpt2, "\xc4\xa0", 2), vocab_find(gpt2, "t", 1)) == 0,
          "gpt-2 merge 'Ġ t' has rank 0");
    CHECK(vocab_merge_rank(gpt2, vocab_find(gpt2, "t", 1), vocab_find(gpt2, "\xc4\xa0", 2)) == -1,
          "no merge 't Ġ'");
}

static void check_round_trip(const vocab *v, const char *text, size_t len, const char *what)
{
    int n;
    int32_t *ids = tokenize(v, text, len, false, false, &n);
    size_t out_len;
    char *out = detokenize_pieces(v, ids, n, &out_len, false);
    /* SPM adds one leading space to non-empty text. */
    bool ok = len == 0 ? out_len == 0
                       : out_len == len + 1 && out[0] == ' ' && memcmp(out + 1, text, len) == 0;
    CHECK(ok, "round trip of %s ('%.*s'): got '%.*s'", what, (int)(len > 40 ? 40 : len), text,
          (int)(out_len > 40 ? 40 : out_len), out);
    free(out);
    free(ids);
}

static void test_round_trips(const vocab *spm, const vocab *stories)
{
    static const char *const texts[] = {
        "Hello world", " leading space", "trailing  ", "   ", "\n", "\t\ttabs\n\nand lines",
        "multiple   spaces   here", "<s> looks special but is text </s>", "3.14159 + 2 = 5.14159",
        "\xf0\x9f\xa6\x99 llama \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb", "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c",
        "\xe1\x9e\x80\xe1\x9e\xb6\xe1\x9e\x9a", "caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9",
        "invalid \x80 bytes \xc3", "a", "\x01\x02\x7f",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        check_round_trip(spm, texts[i], strlen(texts[i]), "llama-spm");
        check_round_trip(stories, texts[i], strlen(texts[i]), "stories260K");
    }
    /* Every 46-test input too. */
    char path[1024];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-llama-spm.gguf.inp", test_shared_dir());
    size_t len;
    char *inp = read_file(path, &len);
    for (char *t = inp, *sep; t && (sep = strstr(t, SEPARATOR)); t = sep + strlen(SEPARATOR))
        check_round_trip(spm, t, (size_t)(sep - t), "vector text");
    free(inp);
}

static void test_stream(const vocab *spm)
{
    kestrel_utf8_stream s = { 0 };
    char out[64];
    const uint8_t llama[4] = { 0xf0, 0x9f, 0xa6, 0x99 }; /* U+1F999 over four byte tokens */
    for (int i = 0; i < 3; i++)
        CHECK(vocab_detokenize_stream(spm, &s, spm->byte_token[llama[i]], out, sizeof out) == 0 &&
              out[0] == 0, "byte %d of the emoji is held back", i);
    CHECK(vocab_detokenize_stream(spm, &s, spm->byte_token[llama[3]], out, sizeof out) == 4 &&
          memcmp(out, llama, 4) == 0 && out[4] == 0 && s.n_pending == 0, "emoji completed");

    CHECK(vocab_detokenize_stream(spm, &s, 15043, out, sizeof out) == 6 && strcmp(out, " Hello") == 0,
          "a normal piece");
    CHECK(vocab_detokenize_stream(spm, &s, 1, out, sizeof out) == 0 && out[0] == 0, "<s> prints nothing");

    /* A lone 0xFF and a lead byte followed by ASCII come out as U+FFFD. */
    CHECK(vocab_detokenize_stream(spm, &s, spm->byte_token[0xff], out, sizeof out) == 3 &&
          strcmp(out, "\xef\xbf\xbd") == 0, "0xFF becomes U+FFFD");
    CHECK(vocab_detokenize_stream(spm, &s, spm->byte_token[0xe4], out, sizeof out) == 0, "lead byte held");
    CHECK(vocab_detokenize_stream(spm, &s, spm->byte_token['a'], out, sizeof out) == 4 &&
          strcmp(out, "\xef\xbf\xbd" "a") == 0, "broken sequence becomes U+FFFD then the ASCII");

    /* Too small an output: nothing written, the state kept. */
    CHECK(vocab_detokenize_stream(spm, &s, spm->byte_token[0xe4], out, sizeof out) == 0, "lead byte held");
    CHECK(vocab_detokenize_stream(spm, &s, 15043, out, 4) == -10 && s.n_pending == 1,
          "cap too small: the negated needed cap, state unchanged");
    /* Flush: what is held comes out as U+FFFD. */
    CHECK(vocab_detokenize_stream(spm, &s, -1, out, sizeof out) == 3 && s.n_pending == 0, "flush");
}

/* ---- speed and the CLI -------------------------------------------------------------- */

static void test_speed(const vocab *spm)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/data/gutenberg-eval-austen-persuasion.txt", test_shared_dir());
    size_t len;
    char *book = read_file(path, &len);
    CHECK(book != NULL, "read %s", path);
    if (!book)
        return;
    size_t total = 1 << 20;
    char *text = malloc(total);
    for (size_t off = 0; off < total; off += len)
        memcpy(text + off, book, off + len <= total ? len : total - off);

    int32_t *ids = malloc(sizeof *ids * total);
    struct timespec t0, t1, c0, c1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    int n = vocab_tokenize(spm, text, total, ids, (int)total, true, false);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) * 1e-9;
    printf("speed: 1 MiB of English -> %d tokens in %.3f s wall, %.3f s CPU (%.1f MB/s)\n", n,
           wall, cpu, total / cpu / 1e6);
    CHECK(n > 200000, "1 MiB of English is more than 200k tokens (%d)", n);
    free(ids);
    free(text);
    free(book);
}

static void test_cli(void)
{
    const char *bin = test_kestrel_bin();
    if (access(bin, X_OK) != 0) {
        printf("cli: skipped (no %s)\n", bin);
        return;
    }
    char cmd[2048], line[256];
    snprintf(cmd, sizeof cmd, "%s tokenize -m %s/vocab/ggml-vocab-llama-spm.gguf -p 'Hello world' --ids",
             bin, test_shared_dir());
    FILE *p = popen(cmd, "r");
    bool ok = p && fgets(line, sizeof line, p) && strcmp(line, "[1, 15043, 3186]\n") == 0;
    CHECK(p && pclose(p) == 0 && ok, "kestrel tokenize --ids");
    snprintf(cmd, sizeof cmd, "%s tokenize -m %s/vocab/ggml-vocab-llama-spm.gguf -p 'Hello' --no-bos",
             bin, test_shared_dir());
    p = popen(cmd, "r");
    ok = p && fgets(line, sizeof line, p) && strcmp(line, " 15043 -> ' Hello'\n") == 0;
    CHECK(p && pclose(p) == 0 && ok, "kestrel tokenize pieces: got '%s'", line);
    snprintf(cmd, sizeof cmd, "%s tokenize -p x --bogus 2>/dev/null", bin);
    p = popen(cmd, "r");
    CHECK(p && pclose(p) == 2 << 8, "usage error exits 2");
    snprintf(cmd, sizeof cmd, "%s tokenize -m /nonexistent.gguf -p x 2>/dev/null", bin);
    p = popen(cmd, "r");
    CHECK(p && pclose(p) == 1 << 8, "load error exits 1");
}

int main(void)
{
    test_vocab_vectors();
    test_stories_vectors();
    vocab *spm = load_shared("vocab/ggml-vocab-llama-spm.gguf");
    vocab *phi3 = load_shared("vocab/ggml-vocab-phi-3.gguf");
    vocab *gpt2 = load_shared("vocab/ggml-vocab-gpt-2.gguf");
    vocab *stories = load_shared("models/stories260K.gguf");
    if (spm && phi3 && gpt2 && stories) {
        test_special(spm, phi3);
        test_pieces(spm, gpt2);
        test_round_trips(spm, stories);
        test_stream(spm);
        test_speed(spm);
    }
    test_metadata();
    test_cli();
    vocab_free(spm);
    vocab_free(phi3);
    vocab_free(gpt2);
    vocab_free(stories);
    return test_report();
}
