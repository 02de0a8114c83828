/* The tokenizer, with jinja2's whitespace rules as transformers configures them:
 * trim_blocks (one newline after a block or comment tag is dropped),
 * lstrip_blocks (spaces and tabs before a block or comment tag at the start of a
 * line are dropped), "-" and "+" markers, newlines normalized to \n and the
 * template's final newline removed (keep_trailing_newline=False). */
#include <stdlib.h>
#include <string.h>

#include "jinja_internal.h"

typedef struct {
    jctx *c;
    const char *s; /* normalized source */
    size_t n;
    size_t pos;
    int line;
    jtoken *toks;
    size_t ntoks, cap;
} lexer;

static void emit(lexer *lx, jtoken_kind kind, const char *p, size_t n, int line)
{
    if (lx->ntoks == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 256;
        jtoken *t = jalloc(lx->c, cap * sizeof *t);
        if (lx->ntoks)
            memcpy(t, lx->toks, lx->ntoks * sizeof *t);
        lx->toks = t;
        lx->cap = cap;
    }
    jtoken *t = &lx->toks[lx->ntoks++];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->p = p;
    t->n = n;
    t->line = line;
}

static int count_lines(const char *p, size_t n)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += p[i] == '\n';
    return k;
}

/* Python's \s over UTF-8: the byte length of the whitespace character at i, or 0. */
static size_t space_at(const char *s, size_t n, size_t i)
{
    size_t k = i;
    uint32_t cp = ju_utf8_next(s, n, &k);
    return ju_isspace(cp) ? k - i : 0;
}

static size_t skip_spaces(const char *s, size_t n, size_t i)
{
    size_t w;
    while (i < n && (w = space_at(s, n, i)) > 0)
        i += w;
    return i;
}

/* Length of text once trailing whitespace is removed (str.rstrip()). */
static size_t rstrip_len(const char *s, size_t n)
{
    jv v = jstr_strip(jv_strn(s, n), NULL, STRIP_RIGHT);
    return v.u.s.n;
}

/* Text before a tag, trimmed as the tag's marker and lstrip_blocks ask. */
static void emit_text(lexer *lx, size_t start, size_t end, char sign, bool is_block_or_comment,
                      bool line_starting)
{
    const char *t = lx->s + start;
    size_t n = end - start;
    int line = lx->line;
    lx->line += count_lines(t, n);
    if (sign == '-') {
        n = rstrip_len(t, n);
    } else if (sign != '+' && is_block_or_comment) {
        size_t l = n;
        while (l > 0 && t[l - 1] != '\n')
            l--;
        if (l > 0 || line_starting) {
            size_t ws = skip_spaces(t, n, l);
            if (ws == n && n > l)
                n = l;
        }
    }
    if (n)
        emit(lx, TK_TEXT, t, n, line);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Decodes a string literal's body with Python's unicode-escape rules. */
static void decode_string(lexer *lx, const char *p, size_t n, jtoken *tok)
{
    jbuf b = {0};
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch != '\\' || i + 1 >= n) {
            jbuf_putc(lx->c, &b, ch);
            continue;
        }
        char e = p[++i];
        char simple = 0;
        switch (e) {
        case '\n': continue; /* line continuation */
        case '\\': simple = '\\'; break;
        case '\'': simple = '\''; break;
        case '"': simple = '"'; break;
        case 'a': simple = '\a'; break;
        case 'b': simple = '\b'; break;
        case 'f': simple = '\f'; break;
        case 'n': simple = '\n'; break;
        case 'r': simple = '\r'; break;
        case 't': simple = '\t'; break;
        case 'v': simple = '\v'; break;
        default: break;
        }
        if (simple) {
            jbuf_putc(lx->c, &b, simple);
            continue;
        }
        if (e >= '0' && e <= '7') {
            uint32_t v = 0;
            int k = 0;
            while (k < 3 && i < n && p[i] >= '0' && p[i] <= '7') {
                v = v * 8 + (uint32_t)(p[i] - '0');
                i++, k++;
            }
            i--;
            char enc[4];
            jbuf_put(lx->c, &b, enc, ju_utf8_encode(v, enc));
            continue;
        }
        int digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
        if (digits) {
            uint32_t v = 0;
            for (int k = 1; k <= digits; k++) {
                int h = i + (size_t)k < n ? hexval(p[i + (size_t)k]) : -1;
                if (h < 0) {
                    lx->c->line = lx->line;
                    jfail(lx->c, "truncated \\%c escape in string literal", e);
                }
                v = v * 16 + (uint32_t)h;
            }
            if (v > 0x10FFFF) {
                lx->c->line = lx->line;
                jfail(lx->c, "illegal Unicode character in string literal");
            }
            i += (size_t)digits;
            char enc[4];
            jbuf_put(lx->c, &b, enc, ju_utf8_encode(v, enc));
            continue;
        }
        if (e == 'N') {
            lx->c->line = lx->line;
            jfail(lx->c, "\\N{...} escapes are not supported");
        }
        jbuf_putc(lx->c, &b, '\\');
        jbuf_putc(lx->c, &b, e);
    }
    tok->p = b.p ? b.p : "";
    tok->n = b.n;
}

static bool is_name_start(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_'; }
static bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

/* digits with single underscores between them ("1_000"); returns the end. */
static size_t scan_digits(const char *s, size_t n, size_t i)
{
    if (i >= n || !is_digit(s[i]))
        return i;
    while (i < n) {
        if (is_digit(s[i]))
            i++;
        else if (s[i] == '_' && i + 1 < n && is_digit(s[i + 1]))
            i++;
        else
            break;
    }
    return i;
}

static double parse_number_text(lexer *lx, const char *p, size_t n, bool *is_float, int64_t *ival)
{
    char tmp[128];
    size_t k = 0;
    for (size_t i = 0; i < n && k < sizeof tmp - 1; i++)
        if (p[i] != '_')
            tmp[k++] = p[i];
    tmp[k] = 0;
    if (*is_float)
        return strtod(tmp, NULL);
    int base = 10;
    const char *digits = tmp;
    if (k > 1 && tmp[0] == '0' && (tmp[1] == 'x' || tmp[1] == 'X'))
        base = 16, digits = tmp + 2;
    else if (k > 1 && tmp[0] == '0' && (tmp[1] == 'o' || tmp[1] == 'O'))
        base = 8, digits = tmp + 2;
    else if (k > 1 && tmp[0] == '0' && (tmp[1] == 'b' || tmp[1] == 'B'))
        base = 2, digits = tmp + 2;
    char *end;
    unsigned long long v = strtoull(digits, &end, base);
    if (v > (unsigned long long)INT64_MAX) {
        lx->c->line = lx->line;
        jfail(lx->c, "integer literal too large");
    }
    *ival = (int64_t)v;
    return (double)v;
}

static const char *const operators[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*",
                                        "%",  "~",  "[",  "]",  "(",  ")",  "{", "}", ">", "<",
                                        "=",  ".",  ":",  "|",  ",",  ";"};

/* Lexes the inside of {{ }} or {% %} up to and including its end marker.
 * Returns whether the end marker left the source at the start of a line. */
static bool lex_tag(lexer *lx, bool is_block)
{
    jctx *c = lx->c;
    const char *s = lx->s;
    size_t n = lx->n;
    int balance = 0;
    int open_line = lx->line;
    for (;;) {
        size_t i = lx->pos;
        if (i >= n) {
            c->line = open_line;
            jfail(c, "unexpected end of template, expected '%s'", is_block ? "%}" : "}}");
        }
        if (balance == 0) {
            char close = is_block ? '%' : '}';
            /* "+%}" (blocks only), "-%}" / "-}}" then whitespace, or the plain marker. */
            if (is_block && s[i] == '+' && i + 2 < n && s[i + 1] == '%' && s[i + 2] == '}') {
                emit(lx, TK_BLOCK_END, s + i, 3, lx->line);
                lx->pos = i + 3;
                return false;
            }
            if (s[i] == '-' && i + 2 < n && s[i + 1] == close && s[i + 2] == '}') {
                emit(lx, is_block ? TK_BLOCK_END : TK_VAR_END, s + i, 3, lx->line);
                size_t j = skip_spaces(s, n, i + 3);
                lx->line += count_lines(s + i, j - i);
                lx->pos = j;
                return j > i + 3 && s[j - 1] == '\n';
            }
            if (s[i] == close && i + 1 < n && s[i + 1] == '}') {
                emit(lx, is_block ? TK_BLOCK_END : TK_VAR_END, s + i, 2, lx->line);
                lx->pos = i + 2;
                if (is_block && lx->pos < n && s[lx->pos] == '\n') { /* trim_blocks */
                    lx->pos++;
                    lx->line++;
                    return true;
                }
                return false;
            }
        }
        size_t w = space_at(s, n, i);
        if (w) {
            size_t j = skip_spaces(s, n, i);
            lx->line += count_lines(s + i, j - i);
            lx->pos = j;
            continue;
        }
        char ch = s[i];
        if (is_digit(ch)) {
            /* float: digits ("." digits)? e[+-]digits | digits "." digits; not right after "." */
            size_t j = scan_digits(s, n, i);
            bool is_float = false;
            bool after_dot = i > 0 && s[i - 1] == '.';
            if (!after_dot) {
                size_t k = j;
                if (k + 1 < n && s[k] == '.' && is_digit(s[k + 1])) {
                    k = scan_digits(s, n, k + 1);
                    is_float = true;
                }
                if (k < n && (s[k] == 'e' || s[k] == 'E')) {
                    size_t e = k + 1;
                    if (e < n && (s[e] == '+' || s[e] == '-'))
                        e++;
                    if (e < n && is_digit(s[e])) {
                        k = scan_digits(s, n, e);
                        is_float = true;
                    }
                }
                if (is_float)
                    j = k;
            }
            if (!is_float && ch == '0' && j == i + 1 && i + 2 < n &&
                (s[i + 1] == 'x' || s[i + 1] == 'X' || s[i + 1] == 'o' || s[i + 1] == 'O' ||
                 s[i + 1] == 'b' || s[i + 1] == 'B')) {
                j = i + 2;
                while (j < n && (hexval(s[j]) >= 0 || s[j] == '_'))
                    j++;
            }
            emit(lx, is_float ? TK_FLOAT : TK_INT, s + i, j - i, lx->line);
            jtoken *t = &lx->toks[lx->ntoks - 1];
            t->f = parse_number_text(lx, s + i, j - i, &is_float, &t->i);
            lx->pos = j;
            continue;
        }
        if (is_name_start(ch)) {
            size_t j = i + 1;
            while (j < n && (is_name_start(s[j]) || is_digit(s[j])))
                j++;
            emit(lx, TK_NAME, s + i, j - i, lx->line);
            lx->pos = j;
            continue;
        }
        if (ch == '\'' || ch == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != ch) {
                if (s[j] == '\\' && j + 1 < n)
                    j++;
                j++;
            }
            if (j >= n) {
                c->line = lx->line;
                jfail(c, "unterminated string literal");
            }
            emit(lx, TK_STRING, s + i, j + 1 - i, lx->line);
            decode_string(lx, s + i + 1, j - i - 1, &lx->toks[lx->ntoks - 1]);
            lx->line += count_lines(s + i, j + 1 - i);
            lx->pos = j + 1;
            continue;
        }
        size_t opn = 0;
        for (size_t k = 0; k < sizeof operators / sizeof *operators; k++) {
            size_t len = strlen(operators[k]);
            if (i + len <= n && memcmp(s + i, operators[k], len) == 0) {
                opn = len;
                break;
            }
        }
        if (!opn) {
            c->line = lx->line;
            jfail(c, "unexpected character '%c' in tag", ch);
        }
        if (opn == 1 && (ch == '(' || ch == '[' || ch == '{'))
            balance++;
        if (opn == 1 && (ch == ')' || ch == ']' || ch == '}')) {
            if (balance == 0) {
                c->line = lx->line;
                jfail(c, "unexpected '%c'", ch);
            }
            balance--;
        }
        emit(lx, TK_OP, s + i, opn, lx->line);
        lx->pos = i + opn;
    }
}

/* {% raw %} ... {% endraw %}: if the tag at i (after "{%" and its sign) is a raw
 * opener, returns the offset just past it, else 0. */
static size_t raw_open_end(const char *s, size_t n, size_t i)
{
    size_t j = skip_spaces(s, n, i);
    if (j + 3 > n || memcmp(s + j, "raw", 3) != 0)
        return 0;
    j = skip_spaces(s, n, j + 3);
    if (j + 3 <= n && s[j] == '-' && s[j + 1] == '%' && s[j + 2] == '}')
        return skip_spaces(s, n, j + 3);
    if (j + 2 <= n && s[j] == '%' && s[j + 1] == '}')
        return j + 2;
    return 0;
}

static bool lex_raw(lexer *lx, size_t body_start)
{
    const char *s = lx->s;
    size_t n = lx->n;
    for (size_t i = body_start; i + 1 < n; i++) {
        if (s[i] != '{' || s[i + 1] != '%')
            continue;
        size_t j = i + 2;
        char sign = 0;
        if (j < n && (s[j] == '-' || s[j] == '+'))
            sign = s[j++];
        j = skip_spaces(s, n, j);
        if (j + 6 > n || memcmp(s + j, "endraw", 6) != 0)
            continue;
        j = skip_spaces(s, n, j + 6);
        size_t end = 0;
        bool at_line_start = false;
        if (j + 3 <= n && s[j] == '+' && s[j + 1] == '%' && s[j + 2] == '}') {
            end = j + 3;
        } else if (j + 3 <= n && s[j] == '-' && s[j + 1] == '%' && s[j + 2] == '}') {
            end = skip_spaces(s, n, j + 3);
            at_line_start = end > j + 3 && s[end - 1] == '\n';
        } else if (j + 2 <= n && s[j] == '%' && s[j + 1] == '}') {
            end = j + 2;
            if (end < n && s[end] == '\n') {
                end++;
                at_line_start = true;
            }
        } else {
            continue;
        }
        emit_text(lx, body_start, i, sign, true, false);
        lx->line += count_lines(s + i, end - i);
        lx->pos = end;
        return at_line_start;
    }
    lx->c->line = lx->line;
    jfail(lx->c, "missing end of raw directive");
}

jtoken *jinja_lex(jctx *c, const char *src, size_t len, size_t *ntokens)
{
    /* Normalize \r\n and \r to \n, then drop one final newline. */
    char *s = jalloc(c, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            s[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n')
                i++;
        } else {
            s[n++] = src[i];
        }
    }
    if (n > 0 && s[n - 1] == '\n')
        n--;
    s[n] = 0;

    lexer lx = {c, s, n, 0, 1, NULL, 0, 0};
    bool line_starting = true;
    while (lx.pos < n) {
        /* The next "{{", "{%" or "{#". */
        size_t i = lx.pos;
        const char *hit = NULL;
        while (i + 1 < n) {
            const char *p = memchr(s + i, '{', n - i - 1);
            if (!p)
                break;
            char next = p[1];
            if (next == '{' || next == '%' || next == '#') {
                hit = p;
                break;
            }
            i = (size_t)(p - s) + 1;
        }
        if (!hit) {
            emit_text(&lx, lx.pos, n, 0, false, line_starting);
            break;
        }
        size_t at = (size_t)(hit - s);
        char kind = hit[1];
        size_t after = at + 2;
        char sign = 0;
        if (after < n && (s[after] == '-' || s[after] == '+'))
            sign = s[after++];
        if (kind == '%') {
            size_t raw_end = raw_open_end(s, n, after);
            if (raw_end) {
                emit_text(&lx, lx.pos, at, sign, true, line_starting);
                lx.line += count_lines(s + at, raw_end - at);
                line_starting = lex_raw(&lx, raw_end);
                continue;
            }
        }
        emit_text(&lx, lx.pos, at, sign, kind != '{', line_starting);
        lx.pos = after;
        if (kind == '#') {
            /* Comment: up to the first "#}", with its "-"/"+" and trim_blocks. */
            size_t j = after;
            size_t end = 0;
            for (; j + 1 < n; j++) {
                if (s[j] == '+' && j + 2 < n && s[j + 1] == '#' && s[j + 2] == '}') {
                    end = j + 3;
                    line_starting = false;
                    break;
                }
                if (s[j] == '-' && j + 2 < n && s[j + 1] == '#' && s[j + 2] == '}') {
                    end = skip_spaces(s, n, j + 3);
                    line_starting = end > j + 3 && s[end - 1] == '\n';
                    break;
                }
                if (s[j] == '#' && s[j + 1] == '}') {
                    end = j + 2;
                    line_starting = false;
                    if (end < n && s[end] == '\n') {
                        end++;
                        line_starting = true;
                    }
                    break;
                }
            }
            if (!end) {
                c->line = lx.line;
                jfail(c, "missing end of comment tag");
            }
            lx.line += count_lines(s + at, end - at);
            lx.pos = end;
            continue;
        }
        bool is_block = kind == '%';
        emit(&lx, is_block ? TK_BLOCK_BEGIN : TK_VAR_BEGIN, hit, after - at, lx.line);
        line_starting = lex_tag(&lx, is_block);
    }
    emit(&lx, TK_EOF, s + n, 0, lx.line);
    *ntokens = lx.ntoks;
    return lx.toks;
}
