/* Python str semantics on UTF-8: code point indexing, Unicode whitespace, case
 * mapping for the common alphabets, and the str methods templates call. */
#include <string.h>

#include "jinja_internal.h"
#include "unicode.h"

/* ---- UTF-8 ---------------------------------------------------------------------------- */

uint32_t ju_utf8_next(const char *s, size_t n, size_t *i)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char c = u[*i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
        (*i)++;
        return c;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, cp = c & 0x07;
    } else {
        (*i)++;
        return 0xFFFD;
    }
    if (*i + len > n) {
        (*i)++;
        return 0xFFFD;
    }
    for (size_t k = 1; k < len; k++) {
        if ((u[*i + k] & 0xC0) != 0x80) {
            (*i)++;
            return 0xFFFD;
        }
        cp = (cp << 6) | (u[*i + k] & 0x3F);
    }
    *i += len;
    return cp;
}

size_t ju_utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t ju_utf8_count(const char *s, size_t n)
{
    size_t count = 0, i = 0;
    while (i < n) {
        ju_utf8_next(s, n, &i);
        count++;
    }
    return count;
}

size_t ju_utf8_offset(const char *s, size_t n, size_t index)
{
    size_t i = 0;
    while (index > 0 && i < n) {
        ju_utf8_next(s, n, &i);
        index--;
    }
    return i;
}

/* ---- character classes ------------------------------------------------------------------- */

bool ju_isspace(uint32_t cp)
{
    return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
           cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
           cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Simple case mappings and categories come from the tokenizer's Unicode tables. */
uint32_t ju_lower(uint32_t cp) { return unicode_tolower(cp); }
uint32_t ju_upper(uint32_t cp) { return unicode_toupper(cp); }

bool ju_iscased(uint32_t cp)
{
    enum unicode_category cat = unicode_category(cp);
    return cat == UCAT_Lu || cat == UCAT_Ll || cat == UCAT_Lt;
}

bool ju_isprintable(uint32_t cp)
{
    if (cp == ' ')
        return true;
    switch (unicode_category(cp)) {
    case UCAT_Cc: case UCAT_Cf: case UCAT_Cs: case UCAT_Co: case UCAT_Cn:
    case UCAT_Zl: case UCAT_Zp: case UCAT_Zs:
        return false;
    default:
        return true;
    }
}

/* ---- methods ------------------------------------------------------------------------------- */

static bool in_chars(uint32_t cp, const jv *chars)
{
    if (!chars)
        return ju_isspace(cp);
    size_t i = 0;
    while (i < chars->u.s.n)
        if (ju_utf8_next(chars->u.s.p, chars->u.s.n, &i) == cp)
            return true;
    return false;
}

jv jstr_strip(jv s, const jv *chars, strip_mode mode)
{
    const char *p = s.u.s.p;
    size_t start = 0, end = s.u.s.n;
    if (mode != STRIP_RIGHT) {
        while (start < end) {
            size_t i = start;
            uint32_t cp = ju_utf8_next(p, end, &i);
            if (!in_chars(cp, chars))
                break;
            start = i;
        }
    }
    if (mode != STRIP_LEFT) {
        while (end > start) {
            size_t k = end - 1;
            while (k > start && ((unsigned char)p[k] & 0xC0) == 0x80)
                k--;
            size_t i = k;
            uint32_t cp = ju_utf8_next(p, end, &i);
            if (!in_chars(cp, chars))
                break;
            end = k;
        }
    }
    return jv_strn(p + start, end - start);
}

typedef uint32_t (*case_fn)(uint32_t);

static jv map_case(jctx *c, jv s, case_fn fn, bool upper)
{
    jbuf b = {0};
    size_t i = 0;
    while (i < s.u.s.n) {
        uint32_t cp = ju_utf8_next(s.u.s.p, s.u.s.n, &i);
        if (upper && cp == 0xDF) { /* ß has no single upper case letter */
            jbuf_put(c, &b, "SS", 2);
            continue;
        }
        char enc[4];
        jbuf_put(c, &b, enc, ju_utf8_encode(fn(cp), enc));
    }
    return jv_strn(b.p ? b.p : "", b.n);
}

jv jstr_upper(jctx *c, jv s) { return map_case(c, s, ju_upper, true); }
jv jstr_lower(jctx *c, jv s) { return map_case(c, s, ju_lower, false); }

jv jstr_title(jctx *c, jv s)
{
    jbuf b = {0};
    size_t i = 0;
    bool prev_cased = false;
    while (i < s.u.s.n) {
        uint32_t cp = ju_utf8_next(s.u.s.p, s.u.s.n, &i);
        uint32_t out = prev_cased ? ju_lower(cp) : ju_upper(cp);
        char enc[4];
        if (!prev_cased && cp == 0xDF)
            jbuf_put(c, &b, "Ss", 2);
        else
            jbuf_put(c, &b, enc, ju_utf8_encode(out, enc));
        prev_cased = ju_iscased(cp);
    }
    return jv_strn(b.p ? b.p : "", b.n);
}

jv jstr_capitalize(jctx *c, jv s)
{
    jbuf b = {0};
    size_t i = 0;
    bool first = true;
    while (i < s.u.s.n) {
        uint32_t cp = ju_utf8_next(s.u.s.p, s.u.s.n, &i);
        char enc[4];
        jbuf_put(c, &b, enc, ju_utf8_encode(first ? ju_upper(cp) : ju_lower(cp), enc));
        first = false;
    }
    return jv_strn(b.p ? b.p : "", b.n);
}

static const char *find_bytes(const char *hay, size_t hn, const char *needle, size_t nn)
{
    if (nn == 0)
        return hay;
    if (nn > hn)
        return NULL;
    for (size_t i = 0; i + nn <= hn; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, nn) == 0)
            return hay + i;
    return NULL;
}

static const char *rfind_bytes(const char *hay, size_t hn, const char *needle, size_t nn)
{
    if (nn > hn)
        return NULL;
    for (size_t i = hn - nn + 1; i-- > 0;)
        if (memcmp(hay + i, needle, nn) == 0)
            return hay + i;
    return NULL;
}

jv jstr_replace(jctx *c, jv s, jv old, jv rep, int64_t count)
{
    jbuf b = {0};
    const char *p = s.u.s.p, *end = p + s.u.s.n;
    if (old.u.s.n == 0) {
        /* Python inserts the replacement before every character and at the end. */
        size_t i = 0;
        int64_t done = 0;
        while (count < 0 || done < count) {
            jbuf_put(c, &b, rep.u.s.p, rep.u.s.n);
            done++;
            if (i >= s.u.s.n)
                break;
            size_t start = i;
            ju_utf8_next(p, s.u.s.n, &i);
            jbuf_put(c, &b, p + start, i - start);
        }
        jbuf_put(c, &b, p + i, s.u.s.n - i);
        return jv_strn(b.p ? b.p : "", b.n);
    }
    int64_t done = 0;
    while (p < end && (count < 0 || done < count)) {
        const char *hit = find_bytes(p, (size_t)(end - p), old.u.s.p, old.u.s.n);
        if (!hit)
            break;
        jbuf_put(c, &b, p, (size_t)(hit - p));
        jbuf_put(c, &b, rep.u.s.p, rep.u.s.n);
        p = hit + old.u.s.n;
        done++;
    }
    if (done == 0)
        return s;
    jbuf_put(c, &b, p, (size_t)(end - p));
    return jv_strn(b.p ? b.p : "", b.n);
}

jv jstr_split(jctx *c, jv s, const jv *sep, int64_t maxsplit, bool from_right)
{
    jv out = jv_list(c, 4);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    if (sep) {
        if (sep->u.s.n == 0)
            jfail(c, "empty separator");
        jlist *parts = out.u.l;
        if (!from_right) {
            const char *cur = p, *end = p + n;
            int64_t done = 0;
            for (;;) {
                const char *hit = (maxsplit < 0 || done < maxsplit)
                                      ? find_bytes(cur, (size_t)(end - cur), sep->u.s.p, sep->u.s.n)
                                      : NULL;
                if (!hit) {
                    jlist_push(c, parts, jv_strn(cur, (size_t)(end - cur)));
                    break;
                }
                jlist_push(c, parts, jv_strn(cur, (size_t)(hit - cur)));
                cur = hit + sep->u.s.n;
                done++;
            }
            return out;
        }
        /* rsplit: collect from the right, then reverse. */
        size_t end = n;
        int64_t done = 0;
        for (;;) {
            const char *hit = (maxsplit < 0 || done < maxsplit)
                                  ? rfind_bytes(p, end, sep->u.s.p, sep->u.s.n)
                                  : NULL;
            if (!hit) {
                jlist_push(c, parts, jv_strn(p, end));
                break;
            }
            size_t at = (size_t)(hit - p);
            jlist_push(c, parts, jv_strn(hit + sep->u.s.n, end - at - sep->u.s.n));
            end = at;
            done++;
        }
        for (size_t i = 0; i < parts->n / 2; i++) {
            jv t = parts->items[i];
            parts->items[i] = parts->items[parts->n - 1 - i];
            parts->items[parts->n - 1 - i] = t;
        }
        return out;
    }
    /* Whitespace split: runs of whitespace separate, ends are ignored. */
    if (from_right) {
        jlist *parts = out.u.l;
        size_t end = n;
        int64_t done = 0;
        for (;;) {
            /* skip trailing whitespace */
            while (end > 0) {
                size_t k = end - 1;
                while (k > 0 && ((unsigned char)p[k] & 0xC0) == 0x80)
                    k--;
                size_t i = k;
                if (!ju_isspace(ju_utf8_next(p, end, &i)))
                    break;
                end = k;
            }
            if (end == 0)
                break;
            if (maxsplit >= 0 && done >= maxsplit) {
                jlist_push(c, parts, jv_strn(p, end));
                break;
            }
            size_t start = end;
            while (start > 0) {
                size_t k = start - 1;
                while (k > 0 && ((unsigned char)p[k] & 0xC0) == 0x80)
                    k--;
                size_t i = k;
                if (ju_isspace(ju_utf8_next(p, end, &i)))
                    break;
                start = k;
            }
            jlist_push(c, parts, jv_strn(p + start, end - start));
            end = start;
            done++;
        }
        for (size_t i = 0; i < parts->n / 2; i++) {
            jv t = parts->items[i];
            parts->items[i] = parts->items[parts->n - 1 - i];
            parts->items[parts->n - 1 - i] = t;
        }
        return out;
    }
    size_t i = 0;
    int64_t done = 0;
    for (;;) {
        while (i < n) {
            size_t k = i;
            if (!ju_isspace(ju_utf8_next(p, n, &k)))
                break;
            i = k;
        }
        if (i >= n)
            break;
        if (maxsplit >= 0 && done >= maxsplit) {
            /* The rest, with its trailing whitespace stripped. */
            jv rest = jstr_strip(jv_strn(p + i, n - i), NULL, STRIP_RIGHT);
            jlist_push(c, out.u.l, rest);
            break;
        }
        size_t start = i;
        while (i < n) {
            size_t k = i;
            if (ju_isspace(ju_utf8_next(p, n, &k)))
                break;
            i = k;
        }
        jlist_push(c, out.u.l, jv_strn(p + start, i - start));
        done++;
    }
    return out;
}

jv jstr_splitlines(jctx *c, jv s, bool keepends)
{
    jv out = jv_list(c, 4);
    const char *p = s.u.s.p;
    size_t n = s.u.s.n, i = 0, start = 0;
    while (i < n) {
        size_t k = i;
        uint32_t cp = ju_utf8_next(p, n, &k);
        bool brk = cp == '\n' || cp == '\r' || cp == 0x0B || cp == 0x0C || cp == 0x1C ||
                   cp == 0x1D || cp == 0x1E || cp == 0x85 || cp == 0x2028 || cp == 0x2029;
        if (!brk) {
            i = k;
            continue;
        }
        size_t line_end = i;
        if (cp == '\r' && k < n && p[k] == '\n')
            k++;
        jlist_push(c, out.u.l, jv_strn(p + start, (keepends ? k : line_end) - start));
        i = start = k;
    }
    if (start < n)
        jlist_push(c, out.u.l, jv_strn(p + start, n - start));
    return out;
}

bool jstr_startswith(jv s, jv prefix)
{
    return prefix.u.s.n <= s.u.s.n && memcmp(s.u.s.p, prefix.u.s.p, prefix.u.s.n) == 0;
}

bool jstr_endswith(jv s, jv suffix)
{
    return suffix.u.s.n <= s.u.s.n &&
           memcmp(s.u.s.p + s.u.s.n - suffix.u.s.n, suffix.u.s.p, suffix.u.s.n) == 0;
}

int64_t jstr_find(jv s, jv sub, bool from_right)
{
    const char *hit = from_right ? rfind_bytes(s.u.s.p, s.u.s.n, sub.u.s.p, sub.u.s.n)
                                 : find_bytes(s.u.s.p, s.u.s.n, sub.u.s.p, sub.u.s.n);
    if (!hit)
        return -1;
    return (int64_t)ju_utf8_count(s.u.s.p, (size_t)(hit - s.u.s.p));
}

int64_t jstr_count(jv s, jv sub)
{
    if (sub.u.s.n == 0)
        return (int64_t)ju_utf8_count(s.u.s.p, s.u.s.n) + 1;
    int64_t count = 0;
    const char *p = s.u.s.p, *end = p + s.u.s.n;
    for (;;) {
        const char *hit = find_bytes(p, (size_t)(end - p), sub.u.s.p, sub.u.s.n);
        if (!hit)
            return count;
        count++;
        p = hit + sub.u.s.n;
    }
}

jv jstr_concat(jctx *c, jv a, jv b)
{
    if (a.u.s.n == 0)
        return b;
    if (b.u.s.n == 0)
        return a;
    if (a.u.s.n + b.u.s.n > JINJA_MAX_OUTPUT)
        jfail(c, "string longer than %u MiB", JINJA_MAX_OUTPUT >> 20);
    char *p = jalloc(c, a.u.s.n + b.u.s.n);
    memcpy(p, a.u.s.p, a.u.s.n);
    memcpy(p + a.u.s.n, b.u.s.p, b.u.s.n);
    return jv_strn(p, a.u.s.n + b.u.s.n);
}

jv jstr_slice_index(jctx *c, jv s, int64_t index, bool *ok)
{
    (void)c;
    int64_t len = (int64_t)ju_utf8_count(s.u.s.p, s.u.s.n);
    if (index < 0)
        index += len;
    if (index < 0 || index >= len) {
        *ok = false;
        return jv_undef(NULL);
    }
    size_t start = ju_utf8_offset(s.u.s.p, s.u.s.n, (size_t)index);
    size_t end = start;
    ju_utf8_next(s.u.s.p, s.u.s.n, &end);
    *ok = true;
    return jv_strn(s.u.s.p + start, end - start);
}

jv jstr_html_escape(jctx *c, jv s)
{
    jbuf b = {0};
    for (size_t i = 0; i < s.u.s.n; i++) {
        char ch = s.u.s.p[i];
        switch (ch) {
        case '&': jbuf_puts(c, &b, "&amp;"); break;
        case '<': jbuf_puts(c, &b, "&lt;"); break;
        case '>': jbuf_puts(c, &b, "&gt;"); break;
        case '"': jbuf_puts(c, &b, "&#34;"); break;
        case '\'': jbuf_puts(c, &b, "&#39;"); break;
        default: jbuf_putc(c, &b, ch);
        }
    }
    return jv_strn(b.p ? b.p : "", b.n);
}
