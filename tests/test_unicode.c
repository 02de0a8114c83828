/* Unicode tables, UTF-8, the GPT-2 byte alphabet, and the pre-tokenizers against
 * splits measured with llama.cpp (tests/data/pretok/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kestrel.h"
#include "pretokenize.h"
#include "test.h"
#include "unicode.h"

#define SEPARATOR "\n__ggml_vocab_test__\n"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n + 65536 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *b = realloc(buf, cap + 1);
            if (!b) break;
            buf = b;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

/* ---- categories, whitespace, case ---- */

static void check_category(uint32_t cpt, const char *want)
{
    const char *got = unicode_category_name(unicode_category(cpt));
    CHECK(!strcmp(got, want), "U+%04X: category %s, want %s", cpt, got, want);
}

static void test_categories(void)
{
    static const struct { uint32_t cpt; const char *cat; } cases[] = {
        {'A', "Lu"}, {'z', "Ll"}, {'0', "Nd"}, {' ', "Zs"}, {'\n', "Cc"}, {0, "Cc"}, {0x7F, "Cc"},
        {'!', "Po"}, {'$', "Sc"}, {'+', "Sm"}, {'~', "Sm"}, {'^', "Sk"}, {'`', "Sk"}, {'_', "Pc"},
        {'-', "Pd"}, {'(', "Ps"}, {')', "Pe"}, {'|', "Sm"},
        {0xA0, "Zs"}, {0xAD, "Cf"}, {0xB5, "Ll"}, {0xBD, "No"}, {0xC0, "Lu"}, {0xDF, "Ll"},
        {0xD7, "Sm"}, {0xAB, "Pi"}, {0xBB, "Pf"}, {0x85, "Cc"},
        {0x01C5, "Lt"}, {0x02B0, "Lm"}, {0x0301, "Mn"}, {0x0410, "Lu"}, {0x0430, "Ll"},
        {0x0661, "Nd"}, {0x0915, "Lo"}, {0x093F, "Mc"}, {0x20DD, "Me"}, {0x2167, "Nl"},
        {0x1780, "Lo"}, {0x17B6, "Mc"}, {0x17C1, "Mc"}, {0x17D2, "Mn"}, {0x17C6, "Mn"}, {0x17E0, "Nd"},
        {0x4E00, "Lo"}, {0x9FA5, "Lo"}, {0x3000, "Zs"}, {0x3002, "Po"}, {0xAC00, "Lo"}, {0xD7A3, "Lo"},
        {0x3042, "Lo"}, {0x30A2, "Lo"}, {0xFF01, "Po"}, {0xFF21, "Lu"},
        {0x1F600, "So"}, {0x1F3FD, "Sk"}, {0x200D, "Cf"}, {0xFE0F, "Mn"}, {0x2764, "So"},
        {0xD800, "Cs"}, {0xE000, "Co"}, {0x10FFFD, "Co"}, {0x0378, "Cn"}, {0xFFFD, "So"},
        {0x10FFFF, "Cn"}, {0x110000, "Cn"}, {0xFFFFFFFF, "Cn"},
        /* Unicode 15.1 additions, which llama.cpp's tables have. */
        {0x2FFC, "So"}, {0x31EF, "So"}, {0x2EBF0, "Lo"}, {0x2EE5D, "Lo"}, {0x2EE5E, "Cn"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_category(cases[i].cpt, cases[i].cat);

    CHECK(unicode_flags('a') == UFLAG_LETTER, "flags of a");
    CHECK(unicode_flags(' ') == (UFLAG_SEPARATOR | UFLAG_WHITESPACE), "flags of space");
    CHECK(unicode_flags('\t') == (UFLAG_OTHER | UFLAG_WHITESPACE), "flags of tab");
    CHECK(unicode_flags(0x0301) == UFLAG_MARK, "flags of U+0301");
    CHECK(unicode_flags(0x1F600) == UFLAG_SYMBOL, "flags of U+1F600");
    CHECK(unicode_flags(0x2167) == UFLAG_NUMBER, "flags of U+2167");
    CHECK(unicode_flags(0x3002) == UFLAG_PUNCTUATION, "flags of U+3002");

    /* llama.cpp's whitespace: White_Space, so not U+001C..001F, U+200B or U+180E. */
    static const uint32_t spaces[] = {9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x1680, 0x2000, 0x200A,
                                      0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
    static const uint32_t not_spaces[] = {0, 8, 14, 0x1C, 0x1F, 0x21, 0x84, 0x86, 0x200B, 0x180E,
                                          0xFEFF, 0x2060, 0x110000};
    for (size_t i = 0; i < sizeof spaces / sizeof spaces[0]; i++)
        CHECK(unicode_is_whitespace(spaces[i]), "U+%04X should be whitespace", spaces[i]);
    for (size_t i = 0; i < sizeof not_spaces / sizeof not_spaces[0]; i++)
        CHECK(!unicode_is_whitespace(not_spaces[i]), "U+%04X should not be whitespace", not_spaces[i]);

    static const struct { uint32_t upper, lower; } pairs[] = {
        {'A', 'a'}, {'Z', 'z'}, {0xC0, 0xE0}, {0xDE, 0xFE}, {0x0410, 0x0430}, {0x042F, 0x044F},
        {0x0391, 0x03B1}, {0x10A0, 0x2D00}, {0xFF21, 0xFF41}, {0x10400, 0x10428}, {0x1E900, 0x1E922},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        CHECK(unicode_tolower(pairs[i].upper) == pairs[i].lower, "tolower U+%04X", pairs[i].upper);
        CHECK(unicode_toupper(pairs[i].lower) == pairs[i].upper, "toupper U+%04X", pairs[i].lower);
    }
    /* Simple mappings only: İ -> i, K (Kelvin) -> k, ß and digits unchanged; ÿ -> Ÿ. */
    CHECK(unicode_tolower(0x0130) == 'i', "tolower U+0130");
    CHECK(unicode_tolower(0x212A) == 'k', "tolower U+212A");
    CHECK(unicode_toupper(0xDF) == 0xDF, "toupper U+00DF");
    CHECK(unicode_toupper(0xFF) == 0x178, "toupper U+00FF");
    CHECK(unicode_tolower(0x01C5) == 0x01C6 && unicode_toupper(0x01C5) == 0x01C4, "U+01C5 Dž");
    CHECK(unicode_tolower('5') == '5' && unicode_toupper(0x4E00) == 0x4E00, "unmapped");

    /* The run table is sorted and starts at 0; the case tables are sorted. */
    bool sorted = unicode_category_runs[0].first == 0;
    for (size_t i = 1; i < unicode_category_runs_len; i++)
        sorted = sorted && unicode_category_runs[i - 1].first < unicode_category_runs[i].first &&
                 unicode_category_runs[i - 1].category != unicode_category_runs[i].category;
    for (size_t i = 1; i < unicode_to_lower_len; i++)
        sorted = sorted && unicode_to_lower[i - 1].from < unicode_to_lower[i].from;
    for (size_t i = 1; i < unicode_to_upper_len; i++)
        sorted = sorted && unicode_to_upper[i - 1].from < unicode_to_upper[i].from;
    CHECK(sorted, "generated tables are sorted");
    CHECK(!strcmp(unicode_tables_version, "15.1.0"), "tables are Unicode %s", unicode_tables_version);
}

/* ---- UTF-8 ---- */

static void check_decode(const char *bytes, size_t len, uint32_t want, size_t want_used)
{
    size_t used = 0;
    uint32_t got = unicode_decode_utf8(bytes, len, &used);
    CHECK(got == want && used == want_used, "decode %02X..(%zu bytes): U+%04X/%zu, want U+%04X/%zu",
          (unsigned char)bytes[0], len, got, used, want, want_used);
}

static void test_utf8(void)
{
    /* Every code point survives encode + decode. */
    bool ok = true;
    for (uint32_t c = 0; c <= 0x10FFFF && ok; c++) {
        char buf[4];
        size_t n = unicode_encode_utf8(c, buf), used;
        ok = n == (c < 0x80 ? 1u : c < 0x800 ? 2u : c < 0x10000 ? 3u : 4u) &&
             unicode_decode_utf8(buf, n, &used) == c && used == n;
        if (!ok) CHECK(false, "round trip U+%04X", c);
    }
    CHECK(ok, "UTF-8 round trip of all code points");
    char buf[4];
    CHECK(unicode_encode_utf8(0x110000, buf) == 3 && !memcmp(buf, "\xEF\xBF\xBD", 3), "encode out of range");

    check_decode("\xC3\xA9", 2, 0xE9, 2);
    check_decode("\xE2\x82\xAC", 3, 0x20AC, 3);
    check_decode("\xF0\x9F\x98\x80", 4, 0x1F600, 4);
    check_decode("\x80", 1, 0xFFFD, 1);             /* stray continuation byte */
    check_decode("\xBF\x80", 2, 0xFFFD, 1);
    check_decode("\xC3", 1, 0xFFFD, 1);             /* truncated */
    check_decode("\xE2\x82", 2, 0xFFFD, 1);
    check_decode("\xF0\x9F\x98", 3, 0xFFFD, 1);
    check_decode("\xC3\x41", 2, 0xFFFD, 1);         /* broken sequence */
    check_decode("\xE2\x82\x41", 3, 0xFFFD, 1);
    check_decode("\xF8\x88\x80\x80\x80", 5, 0xFFFD, 1); /* 5-byte forms do not exist */
    check_decode("\xFF", 1, 0xFFFD, 1);
    check_decode("\xC1\x81", 2, 'A', 2);            /* overlong: accepted, as llama.cpp does */
    check_decode("\xE0\x80\x80", 3, 0, 3);
    check_decode("\xED\xA0\x80", 3, 0xD800, 3);     /* surrogate: accepted */
    check_decode("\xF4\x8F\xBF\xBF", 4, 0x10FFFF, 4);
    check_decode("\xF4\x90\x80\x80", 4, 0xFFFD, 1); /* above U+10FFFF */

    /* Sanitizing: what llama.cpp feeds the BPE step. */
    static const struct { const char *in; size_t len; const char *out; } cases[] = {
        {"abc", 3, "abc"},
        {"a\xFF" "b", 3, "a\xEF\xBF\xBD" "b"},
        {"\xE2\x82", 2, "\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\xC1\x81z", 3, "Az"},
        {"\xC3\xA9\x80", 3, "\xC3\xA9\xEF\xBF\xBD"},
        {"\xEF\xBF\xBD", 3, "\xEF\xBF\xBD"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        size_t n = unicode_sanitize_utf8(cases[i].in, cases[i].len, out);
        bool same = n == strlen(cases[i].out) && !memcmp(out, cases[i].out, n);
        CHECK(same, "sanitize case %zu", i);
        CHECK(unicode_is_canonical_utf8(cases[i].in, cases[i].len) ==
                  (n == cases[i].len && !memcmp(out, cases[i].in, n)),
              "canonical case %zu", i);
    }
}

/* ---- GPT-2 byte alphabet ---- */

static void test_byte_alphabet(void)
{
    bool seen[324] = {false}, ok = true;
    for (int b = 0; b < 256; b++) {
        uint32_t c = unicode_byte_to_cpt((uint8_t)b);
        ok = ok && c < 324 && !seen[c] && unicode_cpt_to_byte(c) == b;
        if (c < 324) seen[c] = true;
    }
    CHECK(ok, "byte alphabet is a bijection");
    CHECK(unicode_byte_to_cpt(' ') == 0x120, "space -> U+0120 (Ġ)");
    CHECK(unicode_byte_to_cpt('\n') == 0x10A, "newline -> U+010A (Ċ)");
    CHECK(unicode_byte_to_cpt('\t') == 0x109, "tab -> U+0109 (ĉ)");
    CHECK(unicode_byte_to_cpt(0) == 0x100, "0 -> U+0100");
    CHECK(unicode_byte_to_cpt(0x7F) == 0x121, "0x7F -> U+0121");
    CHECK(unicode_byte_to_cpt(0xA0) == 0x142, "0xA0 -> U+0142");
    CHECK(unicode_byte_to_cpt(0xAD) == 0x143, "0xAD -> U+0143");
    CHECK(unicode_byte_to_cpt('A') == 'A' && unicode_byte_to_cpt(0xE9) == 0xE9, "printable bytes");
    CHECK(unicode_cpt_to_byte(' ') == -1 && unicode_cpt_to_byte(0xAD) == -1 &&
              unicode_cpt_to_byte(0x144) == -1 && unicode_cpt_to_byte(0x4E00) == -1,
          "code points outside the alphabet");
}

/* ---- pre-tokenizers against llama.cpp ---- */

/* Splits a .inp file into its texts (pointers into buf, which is modified). */
static int split_inp(char *buf, size_t len, char **texts, size_t *lens, int max)
{
    int n = 0;
    size_t seplen = strlen(SEPARATOR);
    char *p = buf, *end = buf + len;
    while (n < max) {
        char *s = memmem(p, (size_t)(end - p), SEPARATOR, seplen);
        if (!s) break;
        texts[n] = p;
        lens[n++] = (size_t)(s - p);
        p = s + seplen;
    }
    return n;
}

#define MAX_TEXTS 128

static int n_texts;
static char *texts[MAX_TEXTS];
static size_t text_lens[MAX_TEXTS];

static bool load_texts(char **shared_buf, char **extra_buf)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/vocab/ggml-vocab-gpt-2.gguf.inp", test_shared_dir());
    *shared_buf = read_file(path, &len);
    CHECK(*shared_buf != NULL, "cannot read %s", path);
    if (!*shared_buf) return false;
    n_texts = split_inp(*shared_buf, len, texts, text_lens, MAX_TEXTS);
    CHECK(n_texts == 46, "%s: %d texts, want 46", path, n_texts);
    *extra_buf = read_file("tests/data/pretok/extra.inp", &len);
    CHECK(*extra_buf != NULL, "cannot read tests/data/pretok/extra.inp (run from the repo root)");
    if (!*extra_buf) return false;
    int n_extra = split_inp(*extra_buf, len, texts + n_texts, text_lens + n_texts, MAX_TEXTS - n_texts);
    CHECK(n_extra == 22, "extra.inp: %d texts, want 22", n_extra);
    n_texts += n_extra;
    return n_texts == 68;
}

/* Checks every pre-type named in one expectation file against its lines. */
static void check_expectations(const char *file)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/pretok/%s.txt", file);
    size_t len;
    char *buf = read_file(path, &len);
    CHECK(buf != NULL, "cannot read %s", path);
    if (!buf) return;

    char names[512] = "";
    char *lines[MAX_TEXTS];
    int n_lines = 0;
    for (char *line = buf; line < buf + len;) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        if (nl) *nl = 0;
        if (!strncmp(line, "# pre: ", 7)) snprintf(names, sizeof names, "%s", line + 7);
        else if (line[0] != '#' && n_lines < MAX_TEXTS) lines[n_lines++] = line;
        line = nl ? nl + 1 : buf + len;
    }
    CHECK(n_lines == n_texts, "%s: %d lines for %d texts", path, n_lines, n_texts);
    CHECK(names[0] != 0, "%s: no '# pre:' line", path);

    size_t *ends = malloc(4096 * sizeof *ends);
    for (char *name = strtok(names, " "); name; name = strtok(NULL, " ")) {
        pretokenizer *p = pretokenizer_new(name);
        CHECK(p != NULL, "pretokenizer_new(%s): %s", name, kestrel_last_error());
        if (!p) continue;
        for (int t = 0; t < n_lines && t < n_texts; t++) {
            int n = pretokenizer_split(p, texts[t], text_lens[t], ends, 4096);
            char got[8192];
            size_t used = 0;
            got[0] = 0;
            for (int i = 0; i < n && i < 4096 && used < sizeof got - 16; i++)
                used += (size_t)snprintf(got + used, sizeof got - used, i ? " %zu" : "%zu",
                                         ends[i] - (i ? ends[i - 1] : 0));
            CHECK(n >= 0 && !strcmp(got, lines[t]), "%s, text %d:\n  got  %s\n  want %s", name, t, got,
                  lines[t]);
        }
        pretokenizer_free(p);
    }
    free(ends);
    free(buf);
}

static void test_against_llama_cpp(void)
{
    char *shared_buf = NULL, *extra_buf = NULL;
    if (load_texts(&shared_buf, &extra_buf)) {
        static const char *files[] = {"default", "gpt-2", "llama3", "qwen2", "deepseek-llm", "deepseek-coder",
                                      "deepseek-v3", "starcoder", "falcon", "poro-chat", "viking", "tekken",
                                      "chameleon"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) check_expectations(files[i]);
    }
    free(shared_buf);
    free(extra_buf);
}

/* ---- API contract and the regex engine ---- */

/* Splits text with one regex list and compares to "a|b|c" (pieces joined by |). */
static void check_split(const char *const *regexes, int n_regexes, const char *text, const char *want)
{
    pretokenizer *p = pretokenizer_from_regexes(regexes, n_regexes);
    CHECK(p != NULL, "compile /%s/: %s", regexes[0], kestrel_last_error());
    if (!p) return;
    size_t ends[256];
    int n = pretokenizer_split(p, text, strlen(text), ends, 256);
    char got[1024];
    size_t used = 0;
    for (int i = 0; i < n && i < 256; i++) {
        size_t start = i ? ends[i - 1] : 0;
        used += (size_t)snprintf(got + used, sizeof got - used, "%s%.*s", i ? "|" : "", (int)(ends[i] - start),
                                 text + start);
    }
    got[used] = 0;
    CHECK(!strcmp(got, want), "/%s/ on \"%s\": got \"%s\", want \"%s\"", regexes[0], text, got, want);
    pretokenizer_free(p);
}

static void check_one(const char *regex, const char *text, const char *want)
{
    check_split(&regex, 1, text, want);
}

static void check_bad_regex(const char *regex)
{
    pretokenizer *p = pretokenizer_from_regexes(&regex, 1);
    CHECK(p == NULL, "/%s/ should not compile", regex);
    pretokenizer_free(p);
}

static void test_engine(void)
{
    check_one("(?i:'s|'t|'re)", "IT'S it's 'RE 'Re", "IT|'S| it|'s| |'RE| |'Re");
    check_one("a{2,3}", "aaaaaaa", "aaa|aaa|a");
    check_one("a{2}", "aaaaa", "aa|aa|a");
    check_one("a{2,}b", "aaaab ab", "aaaab| ab");
    check_one("\\s+(?!\\S)|\\s+", "a   b  ", "a|  | |b|  ");
    check_one("x(?=y)", "xxyxy", "x|x|y|x|y");
    check_one("\\s+$", "  a  \n ", "  a|  \n ");
    check_one("^a", "aaa", "a|aa");
    check_one("b.d", "abcd b\nd", "a|bcd| b\nd");
    check_one("\\p{Lu}\\p{Ll}+", "HelloWorld ABc", "Hello|World| A|Bc");
    check_one("[\\p{L}\\p{M}]+", "e\xCC\x81t\xC3\xA9 x", "e\xCC\x81t\xC3\xA9| |x");
    check_one("[^a-c]+", "abcdefabc", "abc|def|abc");
    check_one("[a\\-z]+", "a-z-b", "a-z-|b");
    check_one("[\\x41-\\x43]+|\\u00e9", "ABCD\xC3\xA9", "ABC|D|\xC3\xA9");
    check_one("(ab|a)(c|bcd)", "abcd", "abc|d");
    check_one("\\p{S}+", "a+~$b", "a|+|~|$|b");      /* llama.cpp's \p{S} lacks '~' */
    check_one("[\\s]+", "a\xE3\x80\x80 b", "a|\xE3\x80\x80 |b");
    check_one("[\\x0b]", "a\xE3\x80\x80", "a|\xE3\x80\x80"); /* non-ASCII space reads as U+000B */

    /* Several regexes refine each other's pieces. */
    static const char *const two[] = {"\\p{N}", "[a-z]+"};
    check_split(two, 2, "ab12cd", "ab|1|2|cd");

    check_bad_regex("a*?");
    check_bad_regex("a?");       /* can match empty */
    check_bad_regex("(a|)");
    check_bad_regex("(?<=a)b");
    check_bad_regex("(a");
    check_bad_regex("a)");
    check_bad_regex("[abc");
    check_bad_regex("\\p{Xy}");
    check_bad_regex("\\q");
    check_bad_regex("[z-a]");
    check_bad_regex("(?:a*)*b");
    check_bad_regex("*a");
    check_bad_regex("a{3,2}");

    /* Names, errors, and the size contract. */
    CHECK(pretokenize_known("gpt-2") && pretokenize_known("llama-bpe") && pretokenize_known("megrez") &&
              pretokenize_known(NULL) && pretokenize_known(""),
          "known names");
    CHECK(!pretokenize_known("no-such-pre") && !pretokenize_known("GPT-2"), "unknown names");
    size_t ends[64];
    CHECK(pretokenize("no-such-pre", "abc", 3, ends, 64) == -1, "unknown pre-type fails");
    CHECK(strstr(kestrel_last_error(), "no-such-pre") != NULL, "error names the pre-type: %s",
          kestrel_last_error());
    CHECK(pretokenize("gpt-2", "", 0, ends, 64) == 0, "empty text gives no pieces");
    const char *text = "Hello world, it's 2024!";
    int n = pretokenize("gpt-2", text, strlen(text), ends, 64);
    CHECK(n == 7 && ends[n - 1] == strlen(text), "gpt-2 split: %d pieces", n);
    size_t small[3] = {0, 0, 99};
    CHECK(pretokenize("gpt-2", text, strlen(text), small, 2) == 7, "too small: needed count returned");
    CHECK(small[0] == 5 && small[1] == 11 && small[2] == 99, "too small: only max written");
    CHECK(pretokenize(NULL, text, strlen(text), ends, 64) == pretokenize("default", text, strlen(text), ends, 64),
          "NULL means default");

    /* Invalid bytes are one-byte U+FFFD code points; sanitized text splits the same way. */
    const char *bad = "ab\xFF\xFEzz \xC3";
    n = pretokenize("gpt-2", bad, strlen(bad), ends, 64);
    CHECK(n == 4 && ends[0] == 2 && ends[1] == 4 && ends[2] == 6 && ends[3] == 8,
          "invalid bytes: %d pieces", n);
    char clean[64];
    size_t clean_len = unicode_sanitize_utf8(bad, strlen(bad), clean);
    size_t ends2[64];
    int n2 = pretokenize("gpt-2", clean, clean_len, ends2, 64);
    CHECK(n2 == 4 && ends2[1] == 8 && ends2[3] == clean_len, "sanitized: %d pieces", n2);
}

/* ---- random bytes, valid or not: the split is a partition on code point bounds ---- */

static void test_random_bytes(void)
{
    static const char *pres[] = {"default", "gpt-2", "llama3", "qwen2", "deepseek-llm", "deepseek-coder",
                                 "deepseek-v3", "starcoder", "falcon", "bloom", "viking", "tekken", "chameleon"};
    static const unsigned char alphabet[] = {' ', '\t', '\n', '\r', 'a', 'Z', '7', '\'', 's', '~', '!',
                                             0xC3, 0xA9, 0xE3, 0x80, 0x80, 0xF0, 0x9F, 0x98, 0x80, 0xFF,
                                             0xC1, 0xE2, 0x85, 0xA0, 0xBF};
    uint32_t seed = 12345;
    int bad = 0;
    for (size_t k = 0; k < sizeof pres / sizeof pres[0]; k++) {
        pretokenizer *p = pretokenizer_new(pres[k]);
        for (int t = 0; t < 150 && p; t++) {
            char text[256];
            size_t ends[256];
            seed = seed * 1103515245u + 12345u;
            size_t len = (seed >> 16) % 200;
            for (size_t i = 0; i < len; i++) {
                seed = seed * 1103515245u + 12345u;
                unsigned r = seed >> 16;
                text[i] = (char)(r & 0x100 ? alphabet[r % sizeof alphabet] : r & 0xFF);
            }
            int n = pretokenizer_split(p, text, len, ends, 256);
            bool ok = n >= 0 && n <= (int)len && (n == 0 ? len == 0 : ends[n - 1] == len);
            /* Every end must fall where decoding from the start lands. */
            size_t pos = 0;
            for (int i = 0; ok && i < n; i++) {
                ok = ends[i] > (i ? ends[i - 1] : 0);
                while (ok && pos < ends[i]) {
                    size_t used;
                    unicode_decode_utf8(text + pos, len - pos, &used);
                    pos += used;
                }
                ok = ok && pos == ends[i];
            }
            if (!ok) bad++;
        }
        pretokenizer_free(p);
    }
    CHECK(bad == 0, "%d random texts were not split into whole code points", bad);
}

/* ---- speed: 1 MB of English text ---- */

static void test_speed(void)
{
    char path[512];
    size_t len;
    snprintf(path, sizeof path, "%s/data/gutenberg-eval-austen-persuasion.txt", test_shared_dir());
    char *book = read_file(path, &len);
    CHECK(book != NULL, "cannot read %s", path);
    if (!book) return;
    size_t total = 0, want = 1 << 20;
    char *text = malloc(want);
    while (total < want) {
        size_t n = len < want - total ? len : want - total;
        memcpy(text + total, book, n);
        total += n;
    }
    size_t *ends = malloc(total * sizeof *ends);
    static const char *pres[] = {"gpt-2", "llama3", "qwen2", "deepseek-llm", "tekken"};
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) {
        struct timespec t0, t1;
        pretokenizer *p = pretokenizer_new(pres[i]);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int n = pretokenizer_split(p, text, total, ends, (int)total);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        printf("%-13s 1 MiB in %.3f s, %d pieces\n", pres[i], s, n);
        /* Loose bound so that sanitizer builds pass; -O2 takes well under 1 s. */
        CHECK(n > 100000 && ends[n - 1] == total && s < 10.0, "%s: %d pieces in %.3f s", pres[i], n, s);
        pretokenizer_free(p);
    }
    free(ends);
    free(text);
    free(book);
}

int main(void)
{
    test_categories();
    test_utf8();
    test_byte_alphabet();
    test_against_llama_cpp();
    test_engine();
    test_random_bytes();
    test_speed();
    return test_report();
}
