/* Byte-level BPE tests: llama.cpp's vectors for every BPE vocab with a .gguf,
 * special tokens, BOS/EOS, round trips, invalid UTF-8, long pieces and speed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gguf.h"
#include "kestrel.h"
#include "pretokenize.h"
#include "test.h"
#include "vocab_util.h"
#include "tokenizer_internal.h"
#include "unicode.h"
#include "vocab.h"

#define SEPARATOR "\n__ggml_vocab_test__\n"

static vocab *load_shared(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-%s.gguf", test_shared_dir(), name);
    vocab *v = load_vocab(path);
    CHECK(v != NULL, "load %s: %s", path, kestrel_last_error());
    return v;
}

/* CPU time of this process: the machine may be busy with other builds. */
static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void print_ids(const char *label, const int32_t *ids, int n)
{
    fprintf(stderr, "  %s:", label);
    for (int i = 0; i < n && i < 200; i++)
        fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "%s\n", n > 200 ? " ..." : "");
}

/* Checks text -> ids on one vocab; prints the ids on a mismatch. */
static void expect(const vocab *v, const char *what, const char *text, size_t len, bool add_special,
                   bool parse_special, const int32_t *want, int n_want)
{
    int n;
    int32_t *got = tokenize(v, text, len, add_special, parse_special, &n);
    bool ok = got && ids_equal(got, n, want, n_want);
    CHECK(ok, "%s: got %d tokens, want %d (%s)", what, n, n_want,
          n == VOCAB_ERROR ? kestrel_last_error() : "");
    if (!ok && got) {
        print_ids("got ", got, n);
        print_ids("want", want, n_want);
    }
    free(got);
}

#define EXPECT(v, what, text, add_special, parse_special, ...)                                  \
    do {                                                                                       \
        static const int32_t want_[] = { __VA_ARGS__ };                                        \
        expect(v, what, text, strlen(text), add_special, parse_special, want_,                 \
               (int)(sizeof want_ / sizeof want_[0]));                                         \
    } while (0)

/* ---- llama.cpp's .inp/.out vectors ----------------------------------------- */

/* Returns the number of texts that match; one CHECK per text. */
static int check_vectors(const vocab *v, const char *inp_path, const char *out_path,
                         const char *name, int *n_tests_out)
{
    size_t inp_len, out_len;
    char *inp = read_file(inp_path, &inp_len);
    char *out = read_file(out_path, &out_len);
    CHECK(inp && out, "%s: cannot read %s / %s", name, inp_path, out_path);
    int n_tests = 0, n_ok = 0;
    if (!inp || !out)
        goto done;
    int32_t *want = malloc(sizeof *want * (out_len + 1));
    char *text = inp, *line = out;
    for (;;) {
        char *sep = strstr(text, SEPARATOR);
        if (!sep)
            break;
        char *eol = strchr(line, '\n');
        if (!eol)
            eol = line + strlen(line);
        int n_want = 0;
        for (char *p = line; p < eol;) {
            char *end;
            long id = strtol(p, &end, 10);
            if (end == p)
                break;
            want[n_want++] = (int32_t)id;
            p = end;
        }
        int n;
        size_t len = (size_t)(sep - text);
        int32_t *got = tokenize(v, text, len, false, false, &n);
        bool ok = got && ids_equal(got, n, want, n_want);
        CHECK(ok, "%s test %d ('%.*s'): got %d tokens, want %d", name, n_tests,
              (int)(len > 40 ? 40 : len), text, n, n_want);
        if (!ok && got) {
            print_ids("got ", got, n);
            print_ids("want", want, n_want);
        }
        n_ok += ok;
        free(got);
        n_tests++;
        text = sep + strlen(SEPARATOR);
        line = *eol ? eol + 1 : eol;
    }
    free(want);
done:
    free(inp);
    free(out);
    *n_tests_out = n_tests;
    return n_ok;
}

static void test_vocab_vectors(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/vocab", test_shared_dir());
    char names[64][128];
    int n_names = vocab_vector_names(dir, names, 64);
    CHECK(n_names >= 0, "cannot open %s", dir);

    int n_bpe = 0;
    for (int i = 0; i < n_names; i++) {
        const char *name = names[i];
        char gguf[1200], inp[1200], out[1200];
        snprintf(inp, sizeof inp, "%.1000s/ggml-vocab-%.100s.gguf.inp", dir, name);
        snprintf(out, sizeof out, "%.1000s/ggml-vocab-%.100s.gguf.out", dir, name);
        snprintf(gguf, sizeof gguf, "%.1000s/ggml-vocab-%.100s.gguf", dir, name);
        const char *note = "";
        /* The README: Qwen1.5 and Qwen2.5 tokenizers agree on all 46 texts. */
        if (strcmp(name, "deepseek-r1-qwen") == 0) {
            snprintf(gguf, sizeof gguf, "%s/ggml-vocab-qwen2.gguf", dir);
            note = " (on the qwen2 vocab)";
        }
        if (access(gguf, R_OK) != 0) {
            printf("%-20s skipped (no .gguf)\n", name);
            continue;
        }
        vocab *v = load_vocab(gguf);
        if (!v && strstr(kestrel_last_error(), "unsupported tokenizer")) {
            printf("%-20s not supported (%s)\n", name,
                   strcmp(name, "bert-bge") == 0 ? "WordPiece" : kestrel_last_error());
            continue;
        }
        CHECK(v != NULL, "load %s: %s", gguf, kestrel_last_error());
        if (!v)
            continue;
        if (vocab_get_kind(v) == VOCAB_BPE) {
            double t0 = now();
            int n_tests;
            int n_ok = check_vectors(v, inp, out, name, &n_tests);
            printf("%-20s %d/%d vectors match%s (%.1f ms)\n", name, n_ok, n_tests, note,
                   1e3 * (now() - t0));
            CHECK(n_tests == 46, "%s: %d tests read, expected 46", name, n_tests);
            n_bpe++;
        } /* SentencePiece vocabs: tests/test_tokenizer.c */
        vocab_free(v);
    }
    CHECK(n_bpe == 10, "expected 10 BPE vector sets (9 vocabs + deepseek-r1-qwen), ran %d", n_bpe);
}

/* ---- special tokens, BOS/EOS, vocab flags ---------------------------------- */

static void test_special(const vocab *llama3, const vocab *qwen2, const vocab *gpt2)
{
    EXPECT(llama3, "llama3 header", "<|start_header_id|>user<|end_header_id|>\n\n", false, true,
           128006, 882, 128007, 271);
    EXPECT(qwen2, "qwen2 im_start", "<|im_start|>user\n", false, true, 151644, 872, 198);
    EXPECT(qwen2, "qwen2 Hello world", "Hello world", false, false, 9707, 1879);
    EXPECT(qwen2, "qwen2 Hello world, add_special (no BOS)", "Hello world", true, false, 9707, 1879);
    EXPECT(llama3, "llama3 Hello world + BOS", "Hello world", true, false, 128000, 9906, 1917);
    EXPECT(llama3, "llama3 Hello world", "Hello world", false, false, 9906, 1917);
    EXPECT(llama3, "llama3 empty + BOS", "", true, false, 128000);
    EXPECT(llama3, "llama3 BOS text parsed", "<|begin_of_text|>Hi", true, true, 128000, 128000, 13347);

    /* Control tokens are text without parse_special ... */
    int n_plain, n_special;
    int32_t *plain = tokenize(qwen2, "<|im_start|>", 12, false, false, &n_plain);
    int32_t *special = tokenize(qwen2, "<|im_start|>", 12, false, true, &n_special);
    CHECK(n_special == 1 && special[0] == 151644, "<|im_start|> with parse_special");
    CHECK(n_plain > 1, "<|im_start|> without parse_special is plain text (%d tokens)", n_plain);
    for (int i = 0; i < n_plain && n_plain > 0; i++)
        CHECK(plain[i] < 151643, "plain <|im_start|> holds no added token (%d)", plain[i]);
    free(plain);
    free(special);
    /* ... but user-defined ones such as <tool_call> always match, as in llama.cpp. */
    EXPECT(qwen2, "qwen2 <tool_call> without parse_special", "<tool_call>", false, false, 151657);
    EXPECT(qwen2, "qwen2 <tool_call> inside text", "a<tool_call>{}</tool_call>", false, false,
           64, 151657, 6257, 151658);

    CHECK(vocab_add_bos(llama3) && !vocab_add_eos(llama3), "llama-bpe adds BOS only");
    CHECK(!vocab_add_bos(qwen2) && !vocab_add_eos(qwen2), "qwen2 adds neither");
    CHECK(!vocab_add_bos(gpt2) && !vocab_add_eos(gpt2), "gpt-2 adds neither (BPE default)");
    EXPECT(gpt2, "gpt-2 Hello world, add_special", "Hello world", true, false, 15496, 995);
    CHECK(llama3->ignore_merges && !qwen2->ignore_merges && !gpt2->ignore_merges,
          "ignore_merges only for llama3");

    /* Too small an output array: the negated count. */
    int32_t small[2];
    CHECK(vocab_tokenize(llama3, "Hello world", 11, small, 2, true, false) == -3,
          "tokenize reports the needed count when max is too small");
}

/* llama3's ignore_merges: a piece that is a token is emitted whole even where
 * merging would not reach it. Compare against the same vocab without the flag. */
static void test_ignore_merges(vocab *llama3)
{
    const char *texts[] = { " grabbed", " zdrav", "Hello", " the", "\n\n\n" };
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        int n;
        int32_t *ids = tokenize(llama3, texts[t], strlen(texts[t]), false, false, &n);
        char enc[64];
        size_t k = 0;
        for (const char *p = texts[t]; *p; p++)
            k += unicode_encode_utf8(unicode_byte_to_cpt((uint8_t)*p), enc + k);
        int32_t whole = vocab_find(llama3, enc, k);
        if (whole >= 0)
            CHECK(n == 1 && ids[0] == whole, "llama3 '%s' is one token %d (n=%d)", texts[t], whole, n);
        free(ids);
    }
    /* Find a token that plain merging does not produce and check both paths. */
    llama3->ignore_merges = false;
    int found = 0;
    for (int32_t id = 256; id < 128000 && !found; id++) {
        size_t len;
        const char *text = vocab_text(llama3, id, &len);
        char raw[256];
        size_t r = 0, used;
        bool ok = len < 200;
        for (size_t i = 0; ok && i < len; i += used) {
            int b = unicode_cpt_to_byte(unicode_decode_utf8(text + i, len - i, &used));
            ok = b >= 0;
            raw[r++] = (char)b;
        }
        if (!ok || !unicode_is_canonical_utf8(raw, r))
            continue; /* invalid UTF-8 would be tokenized as U+FFFD */
        /* Only pieces the pre-tokenizer keeps whole. */
        size_t ends[256];
        if (pretokenizer_split(llama3->pretok, raw, r, ends, 256) != 1)
            continue;
        int n;
        int32_t *ids = tokenize(llama3, raw, r, false, false, &n);
        if (n > 1) {
            found = 1;
            llama3->ignore_merges = true;
            int n2;
            int32_t *ids2 = tokenize(llama3, raw, r, false, false, &n2);
            CHECK(n2 == 1 && ids2[0] == id, "ignore_merges: token %d '%.*s' comes out whole", id,
                  (int)r, raw);
            free(ids2);
            llama3->ignore_merges = false;
        }
        free(ids);
    }
    llama3->ignore_merges = true;
    CHECK(found, "llama3 has a token that merging alone does not make");
}

/* Falcon has no token for some control bytes: llama.cpp then tries each byte of
 * the symbol's encoded (two-byte) spelling alone, finds none and drops it. */
static void test_missing_bytes(const vocab *falcon)
{
    int n_missing = 0;
    for (int b = 1; b < 0x80; b++) {
        if (falcon->byte_token[b] >= 0)
            continue;
        n_missing++;
        char text[3] = { 'a', (char)b, 'a' };
        int n, n_a;
        int32_t *ids = tokenize(falcon, text + 1, 1, false, false, &n);
        CHECK(n == 0, "falcon: byte 0x%02x has no token and gives none (n=%d)", b, n);
        free(ids);
        ids = tokenize(falcon, text, 3, false, false, &n);
        int32_t *a = tokenize(falcon, "a", 1, false, false, &n_a);
        CHECK(n == 2 && n_a == 1 && ids[0] == a[0] && ids[1] == a[0],
              "falcon: 'a' 0x%02x 'a' drops the byte (n=%d)", b, n);
        free(ids);
        free(a);
    }
    CHECK(n_missing > 0, "falcon lacks some control-byte tokens");
}

/* ---- round trips ------------------------------------------------------------ */

static const char *const round_trip_texts[] = {
    "Hello world", " leading space", "trailing  ", "   ", "\n", "\t\ttabs\n\nand lines",
    "multiple   spaces   here", "<s> looks special but is text </s>", "3.14159 + 2 = 5.14159",
    "\xf0\x9f\xa6\x99 llama \xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x92\xbb",
    "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c", "\xe1\x9e\x80\xe1\x9e\xb6\xe1\x9e\x9a",
    "caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9", "a", "\x01\x02\x7f\x1b[0m",
    "I've 'RE 'M 'D We'Ve a'lL", "12345678901234567890", "int main(void) { return 0; }\n",
    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xd0\xbc\xd0\xb8\xd1\x80",
    "\xe3\x80\x80\xe3\x80\x80 ideographic spaces", "\xc2\xa0nbsp\xc2\xa0", "\r\n\r\n",
    "a\xcc\x81\xcc\x82 combining", "<|im_start|> <|endoftext|> <|begin_of_text|>",
    "\xef\xbf\xbd replacement", "\xf4\x8f\xbf\xbf max code point",
};

static void check_round_trip(const vocab *v, const char *name, const char *text, size_t len,
                             const char *expect_text, size_t expect_len)
{
    int n;
    int32_t *ids = tokenize(v, text, len, false, false, &n);
    size_t out_len = 0;
    char *out = ids && n >= 0 ? detokenize_pieces(v, ids, n, &out_len, true) : NULL;
    bool ok = out && out_len == expect_len && memcmp(out, expect_text, expect_len) == 0;
    CHECK(ok, "%s: round trip of '%.*s' gave '%.*s'", name, (int)(len > 40 ? 40 : len), text,
          (int)(out_len > 40 ? 40 : out_len), out ? out : "");
    free(out);
    free(ids);
}

static void test_round_trips(const vocab *const *vocabs, const char *const *names, int n_vocabs,
                             const char *book, size_t book_len)
{
    int n_texts = (int)(sizeof round_trip_texts / sizeof round_trip_texts[0]);
    for (int k = 0; k < n_vocabs; k++) {
        for (int i = 0; i < n_texts; i++) {
            size_t len = strlen(round_trip_texts[i]);
            check_round_trip(vocabs[k], names[k], round_trip_texts[i], len, round_trip_texts[i], len);
        }
        /* Invalid UTF-8 comes back as llama.cpp tokenizes it: one U+FFFD per bad byte. */
        const char bad[] = "invalid \x80 bytes \xc3 and \xe4\xbd \xff\xfe end \xc0\xaf";
        char clean[3 * sizeof bad];
        size_t n_clean = unicode_sanitize_utf8(bad, sizeof bad - 1, clean);
        check_round_trip(vocabs[k], names[k], bad, sizeof bad - 1, clean, n_clean);
        /* Slices of the book. */
        for (size_t off = 0; book && off + 4096 < book_len; off += book_len / 7) {
            size_t s = off;
            while (s < book_len && ((uint8_t)book[s] & 0xc0) == 0x80)
                s++;
            size_t e = s + 4000;
            while (e < book_len && ((uint8_t)book[e] & 0xc0) == 0x80)
                e++;
            check_round_trip(vocabs[k], names[k], book + s, e - s, book + s, e - s);
        }
    }
}

/* ---- long pieces, speed ------------------------------------------------------- */

static void test_long_pieces(const vocab *gpt2, const vocab *llama3)
{
    /* One piece of 200k bytes (gpt-2 keeps runs of letters or digits whole):
     * must not be quadratic. */
    size_t n = 200000;
    char *text = malloc(n);
    const struct { const vocab *v; char c; const char *name; } cases[] = {
        { gpt2, 'a', "gpt-2 a*200000" }, { gpt2, '7', "gpt-2 7*200000" },
        { gpt2, ' ', "gpt-2 space*200000" }, { llama3, 'x', "llama3 x*200000" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        memset(text, cases[c].c, n);
        double t0 = now();
        int count;
        int32_t *ids = tokenize(cases[c].v, text, n, false, false, &count);
        double dt = now() - t0;
        size_t out_len = 0;
        char *out = ids && count > 0 ? detokenize_pieces(cases[c].v, ids, count, &out_len, true) : NULL;
        CHECK(out && out_len == n && memcmp(out, text, n) == 0, "%s round trip", cases[c].name);
        CHECK(dt < 5.0, "%s took %.2f s", cases[c].name, dt);
        printf("%-22s %7d tokens in %6.1f ms CPU\n", cases[c].name, count, 1e3 * dt);
        free(out);
        free(ids);
    }
    free(text);

    /* Merge order on a repetitive piece is the same whatever the piece length:
     * "aaaa..." of 2k letters tokenizes to the same ids as its halves' pattern. */
    int n1, n2;
    int32_t *a8 = tokenize(gpt2, "aaaaaaaa", 8, false, false, &n1);
    int32_t *a16 = tokenize(gpt2, "aaaaaaaaaaaaaaaa", 16, false, false, &n2);
    CHECK(n1 > 0 && n2 == 2 * n1 && ids_equal(a16, n1, a8, n1) && ids_equal(a16 + n1, n1, a8, n1),
          "gpt-2 a*16 is twice a*8 (%d, %d tokens)", n1, n2);
    free(a8);
    free(a16);
}

static void test_speed(const vocab *const *vocabs, const char *const *names, int n_vocabs,
                       const char *book, size_t book_len)
{
    if (!book) {
        printf("speed: skipped (no book text)\n");
        return;
    }
    /* 1 MB: the book repeated. */
    size_t mb = 1 << 20;
    char *text = malloc(mb);
    for (size_t w = 0; w < mb; w += book_len)
        memcpy(text + w, book, mb - w < book_len ? mb - w : book_len);
    size_t len = mb - 4; /* text[len] stays in bounds below */
    while (len > 0 && ((uint8_t)text[len] & 0xc0) == 0x80) /* end on a character boundary */
        len--;
    for (int k = 0; k < n_vocabs; k++) {
        double t0 = now();
        int n;
        int32_t *ids = tokenize(vocabs[k], text, len, false, false, &n);
        double one = now() - t0;
        free(ids);
        /* The same in 16 KiB prompts (each call starts with an empty piece cache). */
        t0 = now();
        long total = 0;
        for (size_t off = 0; off < len;) {
            size_t end = off + 16384 < len ? off + 16384 : len;
            while (end < len && ((uint8_t)text[end] & 0xc0) == 0x80)
                end++;
            int m;
            int32_t *part = tokenize(vocabs[k], text + off, end - off, false, false, &m);
            total += m;
            free(part);
            off = end;
        }
        double chunked = now() - t0;
        printf("speed %-14s 1 MB: %d tokens, %.0f ms CPU in one call, %.0f ms CPU in 16 KiB "
               "calls (%ld tokens)\n", names[k], n, 1e3 * one, 1e3 * chunked, total);
        /* Generous: sanitizers and slow machines run this too. */
        CHECK(n > 100000 && one < 20.0 && chunked < 20.0, "%s: 1 MB took %.2f s / %.2f s", names[k],
              one, chunked);
    }
    free(text);
}

/* ---- metadata -------------------------------------------------------------- */

static void set_pre(gguf_writer *w, const char *pre)
{
    gguf_writer_add_str(w, "tokenizer.ggml.pre", pre);
}

static void test_unknown_pre(void)
{
    char src[1024], path[64];
    snprintf(src, sizeof src, "%s/vocab/ggml-vocab-gpt-2.gguf", test_shared_dir());
    gguf_file *f = gguf_open(src);
    CHECK(f != NULL, "open %s", src);
    if (!f)
        return;
    const char *pres[] = { "no-such-pre", "default" };
    for (int k = 0; k < 2; k++) {
        gguf_writer *w = gguf_writer_new();
        for (int64_t i = 0; i < f->n_kv; i++)
            if (strcmp(f->kv[i].key, "tokenizer.ggml.pre") != 0)
                gguf_writer_copy_kv(w, &f->kv[i]);
        set_pre(w, pres[k]);
        strcpy(path, "/tmp/kestrel-test-bpe-XXXXXX");
        int fd = mkstemp(path);
        if (fd >= 0)
            close(fd);
        int rc = fd >= 0 ? gguf_writer_write(w, path) : -1;
        gguf_writer_free(w);
        CHECK(rc == 0, "write %s", path);
        vocab *v = rc == 0 ? load_vocab(path) : NULL;
        if (k == 0) {
            CHECK(!v && strstr(kestrel_last_error(), "unknown pre-tokenizer"),
                  "an unknown tokenizer.ggml.pre is refused: %s", kestrel_last_error());
        } else {
            CHECK(v != NULL, "pre = default loads");
            /* "default" splits digits in threes where gpt-2 keeps them whole. */
            if (v) {
                int n;
                int32_t *ids = tokenize(v, "123456", 6, false, false, &n);
                CHECK(n == 2, "default pre: '123456' is 2 pieces (n=%d)", n);
                free(ids);
            }
        }
        vocab_free(v);
        if (fd >= 0)
            unlink(path);
    }
    gguf_close(f);
}

int main(void)
{
    test_vocab_vectors();

    vocab *llama3 = load_shared("llama-bpe");
    vocab *qwen2 = load_shared("qwen2");
    vocab *gpt2 = load_shared("gpt-2");
    vocab *falcon = load_shared("falcon");
    vocab *dscoder = load_shared("deepseek-coder");
    char book_path[1024];
    snprintf(book_path, sizeof book_path, "%s/data/gutenberg-eval-austen-persuasion.txt",
             test_shared_dir());
    size_t book_len = 0;
    char *book = read_file(book_path, &book_len);
    CHECK(book && book_len > 100000, "read %s", book_path);

    if (llama3 && qwen2 && gpt2 && falcon && dscoder) {
        test_special(llama3, qwen2, gpt2);
        test_ignore_merges(llama3);
        test_missing_bytes(falcon);
        const vocab *vocabs[] = { llama3, qwen2, gpt2, falcon, dscoder };
        const char *names[] = { "llama-bpe", "qwen2", "gpt-2", "falcon", "deepseek-coder" };
        test_round_trips(vocabs, names, 5, book, book_len);
        test_long_pieces(gpt2, llama3);
        test_speed(vocabs, names, 3, book, book_len);
    }
    test_unknown_pre();

    free(book);
    vocab_free(llama3);
    vocab_free(qwen2);
    vocab_free(gpt2);
    vocab_free(falcon);
    vocab_free(dscoder);
    return test_report();
}
