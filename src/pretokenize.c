/* Pre-tokenizer regexes and the small backtracking regex engine that runs them.
 *
 * The engine covers what llama.cpp's pre-tokenizer regexes use: literals,
 * alternation, groups ( ) (?: ) (?i: ), lookahead (?= ) (?! ), classes with ranges,
 * negation, \s and \p{..}, the quantifiers ? * + {n} {n,} {n,m} (greedy), ^ $ and .
 * A pattern compiles to a program for a backtracking VM (split = try x, else y),
 * which gives ECMAScript's leftmost-first, greedy semantics. */
#include "pretokenize.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "unicode.h"

/* ------------------------------------------------------------------------ */
/* The regex lists of llama.cpp b4748 (src/llama-vocab.cpp), by pre-type name. */

#define RX_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RX_CONTRACTIONS_ANY_CASE "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RX_LLAMA3 RX_CONTRACTIONS_ANY_CASE "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}" \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_QWEN2 RX_CONTRACTIONS_ANY_CASE "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RX_CJK "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+"
#define RX_BLOOM " ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+"

struct pre_type {
    const char *names[14];
    const char *regexes[7];
};

static const struct pre_type pre_types[] = {
    {{"default"},
     {"[\\p{P}\\$\\+<=>\\^~\\|]+", RX_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {{"llama3", "llama-v3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe"},
     {RX_LLAMA3}},
    {{"deepseek-llm"},
     {"[\r\n]",
      "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293"
      "\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C"
      "\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5"
      "\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77"
      "\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57"
      "\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4"
      "\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC"
      "\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D"
      "\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B"
      "\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F"
      "\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A"
      "\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3\U000104D8-\U000104FB"
      "\U00010C80-\U00010CB2\U00010CC0-\U00010CF2\U000118A0-\U000118DF"
      "\U0001E900-\U0001E943]+",
      "\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+",
      "\\s+$", RX_CJK, "\\p{N}+"}},
    {{"deepseek-coder"},
     {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RX_CJK, "\\p{N}"}},
    {{"deepseek-v3"},
     {"\\p{N}{1,3}", "[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
      "| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
    {{"falcon"},
     {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RX_GPT2, "[0-9][0-9][0-9]"}},
    {{"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b"},
     {"\\p{N}", RX_GPT2}},
    {{"gpt-2", "mpt", "olmo", "jais", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en",
      "jina-v2-es", "jina-v2-de", "jina-v2-code", "roberta-bpe"},
     {RX_GPT2}},
    {{"qwen2", "deepseek-r1-qwen", "megrez", "stablelm2"}, {RX_QWEN2}},
    {{"poro-chat", "bloom", "gpt3-finnish"}, {RX_BLOOM}},
    {{"viking"}, {RX_BLOOM, "\\p{N}"}},
    {{"tekken"},
     {"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+"
      "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*"
      "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {{"chameleon"},
     {"<sentinel:[0-9]+>", "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z", "([\\t\\n]|    |  )",
      "\\p{N}", "[\\p{P}!-/:-@\\[-`{-~]", RX_GPT2}},
};

static const struct pre_type *find_pre_type(const char *name)
{
    if (!name || !*name) name = "default";
    for (size_t i = 0; i < sizeof pre_types / sizeof pre_types[0]; i++)
        for (int j = 0; j < 14 && pre_types[i].names[j]; j++)
            if (!strcmp(pre_types[i].names[j], name)) return &pre_types[i];
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The subject: one entry per code point of the text. */

/* prop byte: general category in the low 5 bits, plus these. */
#define PROP_CATEGORY 0x1F
#define PROP_MAPPED 0x40 /* non-ASCII whitespace that literals see as U+000B */
#define PROP_SPACE 0x80  /* \s */

struct subject {
    uint32_t *cpt; /* as literals and ranges see it */
    uint8_t *prop;
};

/* ------------------------------------------------------------------------ */
/* Character classes. */

struct range { uint32_t lo, hi; };

struct char_class {
    bool negate, icase;
    bool space;           /* \s */
    bool tilde_excluded;  /* from \p{S}: llama.cpp's ASCII stand-in lacks '~' */
    uint32_t categories;  /* bit (1 << enum unicode_category) */
    struct range *ranges; /* sorted, disjoint after class_finish */
    size_t n_ranges, cap_ranges;
    uint64_t ascii[2];    /* the answer for ASCII subjects, precomputed */
};

static bool in_ranges(const struct char_class *k, uint32_t c)
{
    size_t lo = 0, hi = k->n_ranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k->ranges[mid].hi < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < k->n_ranges && k->ranges[lo].lo <= c;
}

static bool class_match_slow(const struct char_class *k, uint32_t c, unsigned prop)
{
    bool hit = (k->space && (prop & PROP_SPACE)) ||
               (((k->categories >> (prop & PROP_CATEGORY)) & 1u) && !(c == '~' && k->tilde_excluded)) ||
               in_ranges(k, c);
    if (!hit && k->icase) {
        uint32_t lower = unicode_tolower(c), upper = unicode_toupper(c);
        hit = (lower != c && in_ranges(k, lower)) || (upper != c && in_ranges(k, upper));
    }
    return hit != k->negate;
}

static inline bool class_match(const struct char_class *k, uint32_t c, unsigned prop)
{
    if (c < 128 && !(prop & PROP_MAPPED)) return (k->ascii[c >> 6] >> (c & 63)) & 1u;
    return class_match_slow(k, c, prop);
}

static unsigned subject_prop(uint32_t cpt)
{
    unsigned prop = (unsigned)unicode_category(cpt);
    if (unicode_is_whitespace(cpt)) prop |= PROP_SPACE | (cpt >= 0x80 ? PROP_MAPPED : 0);
    return prop;
}

static int cmp_range(const void *a, const void *b)
{
    const struct range *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static void class_finish(struct char_class *k)
{
    if (k->n_ranges > 1) {
        qsort(k->ranges, k->n_ranges, sizeof *k->ranges, cmp_range);
        size_t n = 0;
        for (size_t i = 1; i < k->n_ranges; i++) {
            if (k->ranges[i].lo <= k->ranges[n].hi + 1) {
                if (k->ranges[i].hi > k->ranges[n].hi) k->ranges[n].hi = k->ranges[i].hi;
            } else {
                k->ranges[++n] = k->ranges[i];
            }
        }
        k->n_ranges = n + 1;
    }
    for (uint32_t c = 0; c < 128; c++)
        if (class_match_slow(k, c, subject_prop(c))) k->ascii[c >> 6] |= (uint64_t)1 << (c & 63);
}

/* ------------------------------------------------------------------------ */
/* Syntax tree and program. */

enum node_kind { N_CHAR, N_CLASS, N_BOL, N_EOL, N_SEQ, N_ALT, N_REPEAT, N_LOOK };

struct node {
    enum node_kind kind;
    bool flag;        /* N_CHAR: ignore case; N_LOOK: negative */
    uint32_t c;       /* N_CHAR: code point (lowercased when ignoring case); N_CLASS: index */
    int min, max;     /* N_REPEAT; max -1 = unbounded */
    int child, next;  /* first child; next sibling (-1 = none) */
};

enum op { OP_CHAR, OP_CLASS, OP_SPLIT, OP_JMP, OP_BOL, OP_EOL, OP_LOOK, OP_MATCH };

struct inst {
    enum op op;
    bool flag;  /* OP_CHAR: ignore case; OP_LOOK: negative */
    uint32_t c; /* OP_CHAR: code point; OP_CLASS: class index; OP_SPLIT: its number */
    int x, y;   /* OP_SPLIT: try x, then y; OP_JMP: x; OP_LOOK: x = after the body */
};

struct regex {
    struct char_class *classes;
    size_t n_classes, cap_classes;
    struct node *nodes;
    size_t n_nodes, cap_nodes;
    struct inst *prog;
    size_t n_prog, cap_prog;
    uint32_t n_splits;
};

#define MAX_PROGRAM 100000 /* instructions; counted repeats are unrolled */
#define MAX_COUNT 1000     /* largest {n,m} bound */
#define MAX_DEPTH 200      /* group nesting */

static bool grow(void *ptr, size_t *cap, size_t need, size_t elem)
{
    void **p = ptr;
    if (need <= *cap) return true;
    size_t cap2 = *cap ? *cap * 2 : 16;
    while (cap2 < need) cap2 *= 2;
    void *q = realloc(*p, cap2 * elem);
    if (!q) return false;
    *p = q;
    *cap = cap2;
    return true;
}

static void regex_free(struct regex *re)
{
    if (!re) return;
    for (size_t i = 0; i < re->n_classes; i++) free(re->classes[i].ranges);
    free(re->classes);
    free(re->nodes);
    free(re->prog);
    free(re);
}

/* ------------------------------------------------------------------------ */
/* Parser: pattern text -> syntax tree. Every function returns a node index, or -1
 * with p->error set. */

struct parser {
    struct regex *re;
    const char *s;
    size_t len, pos;
    bool icase;
    int depth;
    const char *error;
};

static int fail_at(struct parser *p, const char *what)
{
    if (!p->error) p->error = what;
    return -1;
}

static int new_node(struct parser *p, enum node_kind kind)
{
    struct regex *re = p->re;
    if (!grow(&re->nodes, &re->cap_nodes, re->n_nodes + 1, sizeof *re->nodes))
        return fail_at(p, "out of memory");
    struct node *n = &re->nodes[re->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->child = n->next = -1;
    return (int)re->n_nodes++;
}

static int new_class(struct parser *p)
{
    struct regex *re = p->re;
    if (!grow(&re->classes, &re->cap_classes, re->n_classes + 1, sizeof *re->classes))
        return fail_at(p, "out of memory");
    memset(&re->classes[re->n_classes], 0, sizeof *re->classes);
    re->classes[re->n_classes].icase = p->icase;
    return (int)re->n_classes++;
}

static bool add_range(struct parser *p, int k, uint32_t lo, uint32_t hi)
{
    struct char_class *cls = &p->re->classes[k];
    if (!grow(&cls->ranges, &cls->cap_ranges, cls->n_ranges + 1, sizeof *cls->ranges))
        return fail_at(p, "out of memory"), false;
    cls->ranges[cls->n_ranges++] = (struct range){lo, hi};
    return true;
}

static int peek(const struct parser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

static bool eat(struct parser *p, const char *lit)
{
    size_t n = strlen(lit);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, lit, n) != 0) return false;
    p->pos += n;
    return true;
}

static uint32_t next_cpt(struct parser *p)
{
    size_t used;
    uint32_t c = unicode_decode_utf8(p->s + p->pos, p->len - p->pos, &used);
    p->pos += used;
    return c;
}

/* \p{..} name -> category bits; 0 if unknown. */
static uint32_t category_bits(const char *name, size_t n)
{
    uint32_t bits = 0;
    for (int cat = 0; cat < UCAT_COUNT; cat++) {
        const char *cn = unicode_category_name((enum unicode_category)cat);
        if ((n == 1 && cn[0] == name[0]) || (n == 2 && cn[0] == name[0] && cn[1] == name[1]))
            bits |= 1u << cat;
    }
    return bits;
}

static int hex_value(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Escapes that stand for one code point: \r \n \t \f \v \0 \xHH \uHHHH and escaped
 * punctuation. Returns false (error unset) when the escape is something else. */
static bool escape_char(struct parser *p, int ch, uint32_t *out)
{
    switch (ch) {
    case 'r': *out = '\r'; return true;
    case 'n': *out = '\n'; return true;
    case 't': *out = '\t'; return true;
    case 'f': *out = '\f'; return true;
    case 'v': *out = '\v'; return true;
    case '0': *out = 0; return true;
    case 'x': case 'u': {
        int digits = ch == 'x' ? 2 : 4;
        uint32_t v = 0;
        for (int i = 0; i < digits; i++) {
            int h = hex_value(peek(p));
            if (h < 0) return false;
            v = v * 16 + (uint32_t)h;
            p->pos++;
        }
        *out = v;
        return true;
    }
    default:
        if (ch < 128 && (ch < '0' || ch > '9') && (ch < 'a' || ch > 'z') && (ch < 'A' || ch > 'Z')) {
            *out = (uint32_t)ch;
            return true;
        }
        return false;
    }
}

/* Adds a class escape (\s \d \w \p{..}) to class k; *negated tells whether it was
 * the upper-case form. Returns false when ch is not a class escape. */
static bool class_escape(struct parser *p, int k, int ch, bool *negated)
{
    struct char_class *cls = &p->re->classes[k];
    *negated = ch == 'S' || ch == 'D' || ch == 'W' || ch == 'P';
    switch (ch) {
    case 's': case 'S':
        cls->space = true;
        return true;
    case 'd': case 'D':
        return add_range(p, k, '0', '9');
    case 'w': case 'W':
        return add_range(p, k, 'a', 'z') && add_range(p, k, 'A', 'Z') && add_range(p, k, '0', '9') &&
               add_range(p, k, '_', '_');
    case 'p': case 'P': {
        if (!eat(p, "{")) return fail_at(p, "expected { after \\p"), true;
        const char *name = p->s + p->pos;
        size_t n = 0;
        while (p->pos < p->len && p->s[p->pos] != '}') p->pos++, n++;
        if (!eat(p, "}")) return fail_at(p, "unterminated \\p{"), true;
        uint32_t bits = n >= 1 && n <= 2 ? category_bits(name, n) : 0;
        if (!bits) return fail_at(p, "unknown \\p{} category"), true;
        cls = &p->re->classes[k];
        cls->categories |= bits;
        if (n == 1 && name[0] == 'S') cls->tilde_excluded = true;
        return true;
    }
    default:
        return false;
    }
}

static int class_node(struct parser *p, int k)
{
    class_finish(&p->re->classes[k]);
    int n = new_node(p, N_CLASS);
    if (n >= 0) p->re->nodes[n].c = (uint32_t)k;
    return n;
}

static int parse_class(struct parser *p)
{
    int k = new_class(p);
    if (k < 0) return -1;
    if (eat(p, "^")) p->re->classes[k].negate = true;
    bool first = true;
    for (;;) {
        if (p->pos >= p->len) return fail_at(p, "unterminated [");
        if (peek(p) == ']' && !first) { p->pos++; break; }
        first = false;
        uint32_t lo;
        if (eat(p, "\\")) {
            int ch = peek(p);
            if (ch < 0) return fail_at(p, "trailing \\");
            p->pos++;
            bool negated;
            if (class_escape(p, k, ch, &negated)) {
                if (p->error) return -1;
                if (negated) return fail_at(p, "negated escape inside [] is not supported");
                continue;
            }
            if (ch == 'b') lo = '\b';
            else if (!escape_char(p, ch, &lo)) return fail_at(p, "unknown escape in []");
        } else {
            lo = next_cpt(p);
        }
        uint32_t hi = lo;
        /* A '-' between two characters makes a range; before ']' it is literal. */
        if (peek(p) == '-' && p->pos + 1 < p->len && p->s[p->pos + 1] != ']') {
            p->pos++;
            if (eat(p, "\\")) {
                int ch = peek(p);
                if (ch < 0) return fail_at(p, "trailing \\");
                p->pos++;
                if (ch == 'b') hi = '\b';
                else if (!escape_char(p, ch, &hi)) return fail_at(p, "bad range end in []");
            } else {
                hi = next_cpt(p);
            }
            if (hi < lo) return fail_at(p, "range out of order in []");
        }
        if (!add_range(p, k, lo, hi)) return -1;
    }
    return class_node(p, k);
}

static int parse_alt(struct parser *p);

static int char_node(struct parser *p, uint32_t c)
{
    int n = new_node(p, N_CHAR);
    if (n < 0) return -1;
    p->re->nodes[n].flag = p->icase;
    p->re->nodes[n].c = p->icase ? unicode_tolower(c) : c;
    return n;
}

static int parse_group(struct parser *p)
{
    bool saved_icase = p->icase;
    int look = -1;
    if (eat(p, "?:")) {
    } else if (eat(p, "?i:")) {
        p->icase = true;
    } else if (eat(p, "?=") || eat(p, "?!")) {
        look = new_node(p, N_LOOK);
        if (look < 0) return -1;
        p->re->nodes[look].flag = p->s[p->pos - 1] == '!';
    } else if (peek(p) == '?') {
        return fail_at(p, "unsupported (? group");
    }
    if (++p->depth > MAX_DEPTH) return fail_at(p, "groups nested too deep");
    int inner = parse_alt(p);
    p->depth--;
    p->icase = saved_icase;
    if (inner < 0) return -1;
    if (!eat(p, ")")) return fail_at(p, "missing )");
    if (look < 0) return inner;
    p->re->nodes[look].child = inner;
    return look;
}

static int parse_atom(struct parser *p)
{
    int ch = peek(p);
    switch (ch) {
    case '(':
        p->pos++;
        return parse_group(p);
    case '[':
        p->pos++;
        return parse_class(p);
    case '^':
        p->pos++;
        return new_node(p, N_BOL);
    case '$':
        p->pos++;
        return new_node(p, N_EOL);
    case '.': {
        /* ECMAScript: anything but a line terminator. */
        p->pos++;
        int k = new_class(p);
        if (k < 0) return -1;
        p->re->classes[k].negate = true;
        if (!add_range(p, k, '\n', '\n') || !add_range(p, k, '\r', '\r') || !add_range(p, k, 0x2028, 0x2029))
            return -1;
        return class_node(p, k);
    }
    case '*': case '+': case '?': case '{':
        return fail_at(p, "nothing to repeat");
    case '\\': {
        p->pos++;
        ch = peek(p);
        if (ch < 0) return fail_at(p, "trailing \\");
        p->pos++;
        uint32_t c;
        if (escape_char(p, ch, &c)) return char_node(p, c);
        int k = new_class(p);
        if (k < 0) return -1;
        bool negated;
        if (!class_escape(p, k, ch, &negated)) return fail_at(p, "unknown escape");
        if (p->error) return -1;
        p->re->classes[k].negate = negated;
        return class_node(p, k);
    }
    default:
        return char_node(p, next_cpt(p));
    }
}

static bool parse_number(struct parser *p, int *out)
{
    int v = 0, digits = 0;
    while (peek(p) >= '0' && peek(p) <= '9') {
        v = v * 10 + (peek(p) - '0');
        if (v > MAX_COUNT) return false;
        p->pos++, digits++;
    }
    *out = v;
    return digits > 0;
}

static int parse_repeat(struct parser *p)
{
    int atom = parse_atom(p);
    if (atom < 0) return -1;
    int min, max;
    switch (peek(p)) {
    case '*': min = 0, max = -1; p->pos++; break;
    case '+': min = 1, max = -1; p->pos++; break;
    case '?': min = 0, max = 1; p->pos++; break;
    case '{':
        p->pos++;
        if (!parse_number(p, &min)) return fail_at(p, "bad {n,m}");
        max = min;
        if (eat(p, ",")) {
            max = -1;
            if (peek(p) != '}' && (!parse_number(p, &max) || max < min)) return fail_at(p, "bad {n,m}");
        }
        if (!eat(p, "}")) return fail_at(p, "bad {n,m}");
        break;
    default:
        return atom;
    }
    if (peek(p) == '?') return fail_at(p, "lazy quantifiers are not supported");
    if (peek(p) == '*' || peek(p) == '+' || peek(p) == '{') return fail_at(p, "nothing to repeat");
    int n = new_node(p, N_REPEAT);
    if (n < 0) return -1;
    struct node *r = &p->re->nodes[n];
    r->min = min, r->max = max, r->child = atom;
    return n;
}

static int parse_seq(struct parser *p)
{
    int seq = new_node(p, N_SEQ), last = -1;
    if (seq < 0) return -1;
    while (p->pos < p->len && peek(p) != '|' && peek(p) != ')') {
        int item = parse_repeat(p);
        if (item < 0) return -1;
        if (last < 0) p->re->nodes[seq].child = item;
        else p->re->nodes[last].next = item;
        last = item;
    }
    return seq;
}

static int parse_alt(struct parser *p)
{
    int first = parse_seq(p);
    if (first < 0 || peek(p) != '|') return first;
    int alt = new_node(p, N_ALT), last = first;
    if (alt < 0) return -1;
    p->re->nodes[alt].child = first;
    while (eat(p, "|")) {
        int next = parse_seq(p);
        if (next < 0) return -1;
        p->re->nodes[last].next = next;
        last = next;
    }
    return alt;
}

/* Whether a node can match without consuming anything. */
static bool nullable(const struct regex *re, int n)
{
    const struct node *x = &re->nodes[n];
    switch (x->kind) {
    case N_CHAR: case N_CLASS: return false;
    case N_BOL: case N_EOL: case N_LOOK: return true;
    case N_REPEAT: return x->min == 0 || nullable(re, x->child);
    case N_SEQ:
        for (int c = x->child; c >= 0; c = re->nodes[c].next)
            if (!nullable(re, c)) return false;
        return true;
    case N_ALT:
        for (int c = x->child; c >= 0; c = re->nodes[c].next)
            if (nullable(re, c)) return true;
        return false;
    }
    return true;
}

/* An unbounded loop whose body can match empty could spin; no pre-tokenizer needs one. */
static bool has_empty_loop(const struct regex *re, int n)
{
    const struct node *x = &re->nodes[n];
    if (x->kind == N_REPEAT && x->max < 0 && nullable(re, x->child)) return true;
    for (int c = x->child; c >= 0; c = re->nodes[c].next)
        if (has_empty_loop(re, c)) return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Compiler: syntax tree -> program. */

static int emit(struct regex *re, enum op op)
{
    if (re->n_prog >= MAX_PROGRAM) return -1;
    if (!grow(&re->prog, &re->cap_prog, re->n_prog + 1, sizeof *re->prog)) return -1;
    re->prog[re->n_prog] = (struct inst){.op = op, .x = -1, .y = -1};
    return (int)re->n_prog++;
}

static bool compile(struct regex *re, int n)
{
    const struct node x = re->nodes[n];
    int pc;
    switch (x.kind) {
    case N_CHAR:
        if ((pc = emit(re, OP_CHAR)) < 0) return false;
        re->prog[pc].c = x.c;
        re->prog[pc].flag = x.flag;
        return true;
    case N_CLASS:
        if ((pc = emit(re, OP_CLASS)) < 0) return false;
        re->prog[pc].c = x.c;
        return true;
    case N_BOL: return emit(re, OP_BOL) >= 0;
    case N_EOL: return emit(re, OP_EOL) >= 0;
    case N_SEQ:
        for (int c = x.child; c >= 0; c = re->nodes[c].next)
            if (!compile(re, c)) return false;
        return true;
    case N_ALT: {
        /* split L1,L2; L1: a; jmp end; L2: split ...; last: z; end: */
        int first_jmp = -1;
        for (int c = x.child; c >= 0; c = re->nodes[c].next) {
            int split = -1;
            if (re->nodes[c].next >= 0) {
                if ((split = emit(re, OP_SPLIT)) < 0) return false;
                re->prog[split].x = split + 1;
            }
            if (!compile(re, c)) return false;
            if (split >= 0) {
                int jmp = emit(re, OP_JMP);
                if (jmp < 0) return false;
                re->prog[jmp].x = first_jmp; /* chain the jumps; patched below */
                first_jmp = jmp;
                re->prog[split].y = (int)re->n_prog;
            }
        }
        for (int j = first_jmp; j >= 0;) {
            int prev = re->prog[j].x;
            re->prog[j].x = (int)re->n_prog;
            j = prev;
        }
        return true;
    }
    case N_REPEAT: {
        for (int i = 0; i < x.min; i++)
            if (!compile(re, x.child)) return false;
        if (x.max < 0) {
            /* loop: split body,out; body; jmp loop; out: */
            int loop = emit(re, OP_SPLIT);
            if (loop < 0) return false;
            re->prog[loop].x = loop + 1;
            if (!compile(re, x.child)) return false;
            int jmp = emit(re, OP_JMP);
            if (jmp < 0) return false;
            re->prog[jmp].x = loop;
            re->prog[loop].y = (int)re->n_prog;
            return true;
        }
        /* Optional copies nest, x{0,2} = (x(x)?)?, so every split leaves to the end. */
        int first_split = -1;
        for (int i = x.min; i < x.max; i++) {
            int split = emit(re, OP_SPLIT);
            if (split < 0) return false;
            re->prog[split].x = split + 1;
            re->prog[split].y = first_split; /* chained, patched below */
            first_split = split;
            if (!compile(re, x.child)) return false;
        }
        for (int s = first_split; s >= 0;) {
            int prev = re->prog[s].y;
            re->prog[s].y = (int)re->n_prog;
            s = prev;
        }
        return true;
    }
    case N_LOOK: {
        int look = emit(re, OP_LOOK);
        if (look < 0) return false;
        re->prog[look].flag = x.flag;
        if (!compile(re, x.child) || emit(re, OP_MATCH) < 0) return false;
        re->prog[look].x = (int)re->n_prog;
        return true;
    }
    }
    return false;
}

static struct regex *regex_compile(const char *pattern)
{
    struct regex *re = calloc(1, sizeof *re);
    if (!re) {
        kestrel_fail(NULL, "out of memory");
        return NULL;
    }
    struct parser p = {.re = re, .s = pattern, .len = strlen(pattern)};
    int root = parse_alt(&p);
    if (root >= 0 && p.pos < p.len) root = fail_at(&p, "unbalanced )");
    if (root >= 0 && nullable(re, root)) root = fail_at(&p, "pattern can match the empty string");
    if (root >= 0 && has_empty_loop(re, root)) root = fail_at(&p, "loop over a pattern that can match empty");
    if (root >= 0 && (!compile(re, root) || emit(re, OP_MATCH) < 0))
        root = fail_at(&p, "pattern too large or out of memory");
    if (root < 0) {
        kestrel_fail(NULL, "pre-tokenizer regex \"%s\": %s (at byte %zu)", pattern, p.error, p.pos);
        regex_free(re);
        return NULL;
    }
    for (size_t i = 0; i < re->n_prog; i++)
        if (re->prog[i].op == OP_SPLIT) re->prog[i].c = re->n_splits++;
    free(re->nodes); /* only the program and classes are needed from here on */
    re->nodes = NULL;
    re->n_nodes = re->cap_nodes = 0;
    return re;
}

/* ------------------------------------------------------------------------ */
/* The backtracking VM.
 *
 * Memo: a split at a position, once tried, is never tried again within a piece
 * (RE2's "bit state"). Tried and not returned means it failed: patterns cannot match
 * empty, so no later search reaches it on a successful path either. This keeps
 * searches such as \s+$ over a long run of spaces linear. Lookahead bodies are
 * not memoized: their successes do not end the search. */

struct frame { int pc; size_t sp; };

struct vm {
    struct frame *stack;
    size_t n, cap;
    uint64_t *tried;     /* bit split * stride + (sp - begin) */
    size_t cap_tried;    /* in words */
    size_t stride;       /* piece length + 1 */
};

#define NO_MATCH ((size_t)-1)
#define OUT_OF_MEMORY ((size_t)-2)

/* Runs the program from pc at position sp of the piece [begin, end). Returns the end
 * of the first match in backtracking order, NO_MATCH, or OUT_OF_MEMORY. */
static size_t vm_run(const struct regex *re, const struct subject *s, size_t begin, size_t end, int pc,
                     size_t sp, struct vm *vm, bool memo)
{
    const size_t base = vm->n;
    for (;;) {
        const struct inst *in = &re->prog[pc];
        switch (in->op) {
        case OP_CHAR:
            if (sp < end && (s->cpt[sp] == in->c || (in->flag && unicode_tolower(s->cpt[sp]) == in->c))) {
                pc++, sp++;
                continue;
            }
            break;
        case OP_CLASS:
            if (sp < end && class_match(&re->classes[in->c], s->cpt[sp], s->prop[sp])) {
                pc++, sp++;
                continue;
            }
            break;
        case OP_SPLIT:
            if (memo) {
                size_t bit = in->c * vm->stride + (sp - begin);
                uint64_t mask = (uint64_t)1 << (bit & 63);
                if (vm->tried[bit >> 6] & mask) break;
                vm->tried[bit >> 6] |= mask;
            }
            if (!grow(&vm->stack, &vm->cap, vm->n + 1, sizeof *vm->stack)) return OUT_OF_MEMORY;
            vm->stack[vm->n++] = (struct frame){in->y, sp};
            pc = in->x;
            continue;
        case OP_JMP:
            pc = in->x;
            continue;
        case OP_BOL:
            if (sp == begin) { pc++; continue; }
            break;
        case OP_EOL:
            if (sp == end) { pc++; continue; }
            break;
        case OP_LOOK: {
            /* The body runs on its own; its leftover alternatives are dropped (atomic). */
            size_t r = vm_run(re, s, begin, end, pc + 1, sp, vm, false);
            if (r == OUT_OF_MEMORY) return r;
            if ((r != NO_MATCH) != in->flag) { pc = in->x; continue; }
            break;
        }
        case OP_MATCH:
            vm->n = base;
            return sp;
        }
        /* This path failed: resume the latest alternative. */
        if (vm->n == base) return NO_MATCH;
        vm->n--;
        pc = vm->stack[vm->n].pc;
        sp = vm->stack[vm->n].sp;
    }
}

/* Splits the piece [begin, end) like std::regex_iterator: each match, and each gap
 * before a match or at the end, becomes a piece. Appends piece ends to out. */
static bool split_piece(const struct regex *re, const struct subject *s, size_t begin, size_t end,
                        size_t *out, size_t *n_out, struct vm *vm)
{
    vm->stride = end - begin + 1;
    size_t words = (re->n_splits * vm->stride + 63) / 64;
    if (!grow(&vm->tried, &vm->cap_tried, words, sizeof *vm->tried)) return false;
    if (words) memset(vm->tried, 0, words * sizeof *vm->tried);

    size_t done = begin; /* end of the last piece written */
    size_t pos = begin;
    while (pos < end) {
        size_t m = NO_MATCH, at;
        for (at = pos; at < end; at++) {
            m = vm_run(re, s, begin, end, 0, at, vm, true);
            if (m == OUT_OF_MEMORY) return false;
            if (m != NO_MATCH) break;
        }
        if (m == NO_MATCH) break;
        if (at > done) out[(*n_out)++] = at;
        out[(*n_out)++] = m;
        done = pos = m;
    }
    if (done < end) out[(*n_out)++] = end;
    return true;
}

/* ------------------------------------------------------------------------ */
/* Public API. */

#define MAX_REGEXES 8

struct pretokenizer {
    int n;
    struct regex *regexes[MAX_REGEXES];
};

void pretokenizer_free(pretokenizer *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) regex_free(p->regexes[i]);
    free(p);
}

pretokenizer *pretokenizer_from_regexes(const char *const *regexes, int n)
{
    if (n < 1 || n > MAX_REGEXES) {
        kestrel_fail(NULL, "a pre-tokenizer takes 1 to %d regexes, not %d", MAX_REGEXES, n);
        return NULL;
    }
    pretokenizer *p = calloc(1, sizeof *p);
    if (!p) {
        kestrel_fail(NULL, "out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        p->regexes[i] = regex_compile(regexes[i]);
        if (!p->regexes[i]) {
            pretokenizer_free(p);
            return NULL;
        }
        p->n = i + 1;
    }
    return p;
}

pretokenizer *pretokenizer_new(const char *pre_name)
{
    const struct pre_type *t = find_pre_type(pre_name);
    if (!t) {
        kestrel_fail(NULL, "unknown pre-tokenizer type '%s'", pre_name);
        return NULL;
    }
    int n = 0;
    while (n < 7 && t->regexes[n]) n++;
    return pretokenizer_from_regexes(t->regexes, n);
}

bool pretokenize_known(const char *pre_name) { return find_pre_type(pre_name) != NULL; }

int pretokenizer_split(const pretokenizer *p, const char *text, size_t len, size_t *ends, int max)
{
    if (len == 0) return 0;
    if (len > (size_t)INT_MAX) return kestrel_fail(NULL, "text too long to pre-tokenize (%zu bytes)", len);

    struct subject s = {malloc(len * sizeof *s.cpt), malloc(len)};
    size_t *cur = malloc(len * sizeof *cur), *next = malloc(len * sizeof *next);
    struct vm vm = {0};
    int result = -1;
    if (!s.cpt || !s.prop || !cur || !next) {
        kestrel_fail(NULL, "out of memory");
        goto done;
    }

    size_t n_cpt = 0;
    for (size_t i = 0; i < len; n_cpt++) {
        size_t used;
        uint32_t c = unicode_decode_utf8(text + i, len - i, &used);
        unsigned prop = subject_prop(c);
        s.cpt[n_cpt] = prop & PROP_MAPPED ? 0x0B : c;
        s.prop[n_cpt] = (uint8_t)prop;
        i += used;
    }

    /* Piece ends, in code points: the whole text, then each regex refines them. */
    size_t n_cur = 1;
    cur[0] = n_cpt;
    for (int r = 0; r < p->n; r++) {
        size_t n_next = 0, begin = 0;
        for (size_t i = 0; i < n_cur; i++) {
            if (!split_piece(p->regexes[r], &s, begin, cur[i], next, &n_next, &vm)) {
                kestrel_fail(NULL, "out of memory");
                goto done;
            }
            begin = cur[i];
        }
        size_t *t = cur;
        cur = next, next = t;
        n_cur = n_next;
    }

    /* Code point ends -> byte ends, decoding again in step. */
    size_t k = 0, byte = 0, room = max > 0 ? (size_t)max : 0;
    for (size_t i = 0; i < n_cur; i++) {
        while (k < cur[i]) {
            size_t used;
            unicode_decode_utf8(text + byte, len - byte, &used);
            byte += used, k++;
        }
        if (i < room) ends[i] = byte;
    }
    result = (int)n_cur;

done:
    free(s.cpt);
    free(s.prop);
    free(cur);
    free(next);
    free(vm.stack);
    free(vm.tried);
    return result;
}

int pretokenize(const char *pre_name, const char *text, size_t len, size_t *ends, int max)
{
    pretokenizer *p = pretokenizer_new(pre_name);
    if (!p) return -1;
    int n = pretokenizer_split(p, text, len, ends, max);
    pretokenizer_free(p);
    return n;
}
