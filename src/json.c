/* JSON parsing and Python-compatible serialization (see json.h). */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 512

/* ---- values ------------------------------------------------------------------ */

static json_value *json_alloc(json_type type)
{
    json_value *v = calloc(1, sizeof *v);
    if (v)
        v->type = type;
    return v;
}

json_value *json_new_null(void) { return json_alloc(JSON_NULL); }

json_value *json_new_bool(bool b)
{
    json_value *v = json_alloc(JSON_BOOL);
    if (v)
        v->u.boolean = b;
    return v;
}

json_value *json_new_int(int64_t i)
{
    json_value *v = json_alloc(JSON_INT);
    if (v)
        v->u.integer = i;
    return v;
}

json_value *json_new_float(double d)
{
    json_value *v = json_alloc(JSON_FLOAT);
    if (v)
        v->u.number = d;
    return v;
}

json_value *json_new_string(const char *s, size_t len)
{
    json_value *v = json_alloc(JSON_STRING);
    if (!v)
        return NULL;
    v->u.string.ptr = malloc(len + 1);
    if (!v->u.string.ptr) {
        free(v);
        return NULL;
    }
    if (len)
        memcpy(v->u.string.ptr, s, len);
    v->u.string.ptr[len] = 0;
    v->u.string.len = len;
    return v;
}

json_value *json_new_array(void) { return json_alloc(JSON_ARRAY); }
json_value *json_new_object(void) { return json_alloc(JSON_OBJECT); }

void json_free(json_value *v)
{
    if (!v)
        return;
    switch (v->type) {
    case JSON_STRING:
        free(v->u.string.ptr);
        break;
    case JSON_ARRAY:
        for (size_t i = 0; i < v->u.array.count; i++)
            json_free(v->u.array.items[i]);
        free(v->u.array.items);
        break;
    case JSON_OBJECT:
        for (size_t i = 0; i < v->u.object.count; i++) {
            free(v->u.object.members[i].key);
            json_free(v->u.object.members[i].value);
        }
        free(v->u.object.members);
        break;
    default:
        break;
    }
    free(v);
}

int json_array_push(json_value *array, json_value *item)
{
    if (!array || array->type != JSON_ARRAY || !item) {
        json_free(item);
        return -1;
    }
    if (array->u.array.count == array->u.array.cap) {
        size_t cap = array->u.array.cap ? array->u.array.cap * 2 : 4;
        json_value **items = realloc(array->u.array.items, cap * sizeof *items);
        if (!items) {
            json_free(item);
            return -1;
        }
        array->u.array.items = items;
        array->u.array.cap = cap;
    }
    array->u.array.items[array->u.array.count++] = item;
    return 0;
}

static json_member *json_find_member(const json_value *object, const char *key, size_t key_len)
{
    for (size_t i = 0; i < object->u.object.count; i++) {
        json_member *m = &object->u.object.members[i];
        if (m->key_len == key_len && memcmp(m->key, key, key_len) == 0)
            return m;
    }
    return NULL;
}

int json_object_set(json_value *object, const char *key, size_t key_len, json_value *value)
{
    if (!object || object->type != JSON_OBJECT || !value) {
        json_free(value);
        return -1;
    }
    json_member *existing = json_find_member(object, key, key_len);
    if (existing) {
        json_free(existing->value);
        existing->value = value;
        return 0;
    }
    if (object->u.object.count == object->u.object.cap) {
        size_t cap = object->u.object.cap ? object->u.object.cap * 2 : 4;
        json_member *members = realloc(object->u.object.members, cap * sizeof *members);
        if (!members) {
            json_free(value);
            return -1;
        }
        object->u.object.members = members;
        object->u.object.cap = cap;
    }
    char *copy = malloc(key_len + 1);
    if (!copy) {
        json_free(value);
        return -1;
    }
    if (key_len)
        memcpy(copy, key, key_len);
    copy[key_len] = 0;
    json_member *m = &object->u.object.members[object->u.object.count++];
    m->key = copy;
    m->key_len = key_len;
    m->value = value;
    return 0;
}

json_value *json_object_get(const json_value *object, const char *key)
{
    if (!object || object->type != JSON_OBJECT)
        return NULL;
    json_member *m = json_find_member(object, key, strlen(key));
    return m ? m->value : NULL;
}

/* ---- growable byte buffer ------------------------------------------------------ */

typedef struct {
    char *data;
    size_t len, cap;
    bool oom;
} json_buf;

static void buf_reserve(json_buf *b, size_t extra)
{
    if (b->oom)
        return;
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->oom = true;
        return;
    }
    b->data = data;
    b->cap = cap;
}

static void buf_put(json_buf *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    if (b->oom)
        return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

static void buf_puts(json_buf *b, const char *s) { buf_put(b, s, strlen(s)); }
static void buf_putc(json_buf *b, char c) { buf_put(b, &c, 1); }

/* ---- parser ---------------------------------------------------------------------- */

typedef struct {
    const char *p, *end, *start;
    char *err;
    size_t err_cap;
    bool failed;
} json_parser;

static json_value *parse_fail(json_parser *ps, const char *fmt, ...)
{
    if (!ps->failed && ps->err && ps->err_cap) {
        char msg[160];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(ps->err, ps->err_cap, "%s at byte %zu", msg, (size_t)(ps->p - ps->start));
    }
    ps->failed = true;
    return NULL;
}

static void skip_ws(json_parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool literal(json_parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, word, n) == 0) {
        ps->p += n;
        return true;
    }
    return false;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

/* Encodes a code point as UTF-8; lone surrogates get the 3-byte form (WTF-8),
 * as Python keeps them in its str. */
static size_t utf8_put(char *out, uint32_t cp)
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

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_valid_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp, min;
    if ((c & 0xE0) == 0xC0) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static bool parse_string_raw(json_parser *ps, json_buf *out)
{
    ps->p++; /* opening quote */
    for (;;) {
        if (ps->p >= ps->end) {
            parse_fail(ps, "unterminated string");
            return false;
        }
        unsigned char c = (unsigned char)*ps->p;
        if (c == '"') {
            ps->p++;
            return true;
        }
        if (c < 0x20) {
            parse_fail(ps, "control character in string");
            return false;
        }
        if (c == '\\') {
            if (ps->end - ps->p < 2) {
                parse_fail(ps, "unterminated string");
                return false;
            }
            char e = ps->p[1];
            ps->p += 2;
            char simple = 0;
            switch (e) {
            case '"': simple = '"'; break;
            case '\\': simple = '\\'; break;
            case '/': simple = '/'; break;
            case 'b': simple = '\b'; break;
            case 'f': simple = '\f'; break;
            case 'n': simple = '\n'; break;
            case 'r': simple = '\r'; break;
            case 't': simple = '\t'; break;
            case 'u': break;
            default:
                parse_fail(ps, "invalid escape");
                return false;
            }
            if (simple) {
                buf_putc(out, simple);
                continue;
            }
            if (ps->end - ps->p < 4 || hex4(ps->p) < 0) {
                parse_fail(ps, "invalid \\u escape");
                return false;
            }
            uint32_t cp = (uint32_t)hex4(ps->p);
            ps->p += 4;
            /* A high surrogate followed by an escaped low one is one character. */
            if (cp >= 0xD800 && cp <= 0xDBFF && ps->end - ps->p >= 6 && ps->p[0] == '\\' &&
                ps->p[1] == 'u' && hex4(ps->p + 2) >= 0xDC00 && hex4(ps->p + 2) <= 0xDFFF) {
                uint32_t lo = (uint32_t)hex4(ps->p + 2);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                ps->p += 6;
            }
            char enc[4];
            buf_put(out, enc, utf8_put(enc, cp));
            continue;
        }
        size_t n = utf8_valid_len((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));
        if (!n) {
            parse_fail(ps, "invalid UTF-8 in string");
            return false;
        }
        buf_put(out, ps->p, n);
        ps->p += n;
    }
}

static json_value *parse_number(json_parser *ps)
{
    const char *s = ps->p;
    const char *q = s;
    bool is_float = false;
    if (q < ps->end && *q == '-')
        q++;
    if (q < ps->end && *q == '0') {
        q++;
    } else if (q < ps->end && *q >= '1' && *q <= '9') {
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
    } else {
        return parse_fail(ps, "invalid number");
    }
    if (q < ps->end && *q == '.') {
        q++;
        if (q >= ps->end || *q < '0' || *q > '9')
            return parse_fail(ps, "invalid number");
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
        is_float = true;
    }
    if (q < ps->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < ps->end && (*q == '+' || *q == '-'))
            q++;
        if (q >= ps->end || *q < '0' || *q > '9')
            return parse_fail(ps, "invalid number");
        while (q < ps->end && *q >= '0' && *q <= '9')
            q++;
        is_float = true;
    }
    char tmp[512];
    size_t n = (size_t)(q - s);
    if (n >= sizeof tmp)
        return parse_fail(ps, "number too long");
    memcpy(tmp, s, n);
    tmp[n] = 0;
    ps->p = q;
    if (!is_float) {
        errno = 0;
        long long v = strtoll(tmp, NULL, 10);
        /* Beyond 64 bits Python keeps an exact integer; a double is the closest we hold. */
        if (errno != ERANGE)
            return json_new_int((int64_t)v);
    }
    return json_new_float(strtod(tmp, NULL));
}

static json_value *parse_value(json_parser *ps, int depth);

static json_value *parse_array(json_parser *ps, int depth)
{
    json_value *arr = json_new_array();
    if (!arr)
        return parse_fail(ps, "out of memory");
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return arr;
    }
    for (;;) {
        json_value *item = parse_value(ps, depth + 1);
        if (!item || json_array_push(arr, item) < 0) {
            json_free(arr);
            return parse_fail(ps, "out of memory");
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return arr;
        }
        json_free(arr);
        return parse_fail(ps, "expected ',' or ']'");
    }
}

static json_value *parse_object(json_parser *ps, int depth)
{
    json_value *obj = json_new_object();
    if (!obj)
        return parse_fail(ps, "out of memory");
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return obj;
    }
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') {
            json_free(obj);
            return parse_fail(ps, "expected a string key");
        }
        json_buf key = {0};
        if (!parse_string_raw(ps, &key) || key.oom) {
            free(key.data);
            json_free(obj);
            return parse_fail(ps, "out of memory");
        }
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            free(key.data);
            json_free(obj);
            return parse_fail(ps, "expected ':'");
        }
        ps->p++;
        json_value *val = parse_value(ps, depth + 1);
        int rc = val ? json_object_set(obj, key.data ? key.data : "", key.len, val) : -1;
        free(key.data);
        if (rc < 0) {
            json_free(obj);
            return parse_fail(ps, "out of memory");
        }
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return obj;
        }
        json_free(obj);
        return parse_fail(ps, "expected ',' or '}'");
    }
}

static json_value *parse_value(json_parser *ps, int depth)
{
    if (depth > JSON_MAX_DEPTH)
        return parse_fail(ps, "nesting too deep");
    skip_ws(ps);
    if (ps->p >= ps->end)
        return parse_fail(ps, "unexpected end of input");
    char c = *ps->p;
    if (c == '{')
        return parse_object(ps, depth);
    if (c == '[')
        return parse_array(ps, depth);
    if (c == '"') {
        json_buf s = {0};
        if (!parse_string_raw(ps, &s)) {
            free(s.data);
            return NULL;
        }
        json_value *v = s.oom ? NULL : json_new_string(s.data ? s.data : "", s.len);
        free(s.data);
        return v ? v : parse_fail(ps, "out of memory");
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
        if (literal(ps, "-Infinity"))
            return json_new_float(-INFINITY);
        return parse_number(ps);
    }
    if (literal(ps, "true"))
        return json_new_bool(true);
    if (literal(ps, "false"))
        return json_new_bool(false);
    if (literal(ps, "null"))
        return json_new_null();
    if (literal(ps, "NaN"))
        return json_new_float(NAN);
    if (literal(ps, "Infinity"))
        return json_new_float(INFINITY);
    return parse_fail(ps, "unexpected character");
}

json_value *json_parse(const char *text, size_t len, char *err, size_t err_cap)
{
    json_parser ps = {text, text + len, text, err, err_cap, false};
    if (err && err_cap)
        err[0] = 0;
    json_value *v = parse_value(&ps, 0);
    if (!v) {
        if (!ps.failed)
            parse_fail(&ps, "out of memory");
        return NULL;
    }
    skip_ws(&ps);
    if (ps.p != ps.end) {
        json_free(v);
        return parse_fail(&ps, "trailing characters");
    }
    return v;
}

/* ---- Python float repr ------------------------------------------------------------- */

int json_format_python_float(double d, char *buf)
{
    if (isnan(d))
        return sprintf(buf, "nan");
    if (isinf(d))
        return sprintf(buf, d < 0 ? "-inf" : "inf");
    if (d == 0)
        return sprintf(buf, signbit(d) ? "-0.0" : "0.0");
    /* The shortest %e form that reads back exactly. */
    char e[40];
    for (int prec = 0; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec, d);
        if (strtod(e, NULL) == d)
            break;
    }
    /* e looks like "-1.2345e+05": split into sign, digits and exponent. */
    const char *p = e;
    bool neg = false;
    if (*p == '-') {
        neg = true;
        p++;
    }
    char digits[24];
    int nd = 0;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    int exp10 = atoi(p + 1);
    int decpt = exp10 + 1; /* digits[0] sits just left of this many places */
    char *o = buf;
    if (neg)
        *o++ = '-';
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -decpt; i++)
                *o++ = '0';
            memcpy(o, digits, (size_t)nd);
            o += nd;
        } else if (decpt >= nd) {
            memcpy(o, digits, (size_t)nd);
            o += nd;
            for (int i = nd; i < decpt; i++)
                *o++ = '0';
            *o++ = '.';
            *o++ = '0';
        } else {
            memcpy(o, digits, (size_t)decpt);
            o += decpt;
            *o++ = '.';
            memcpy(o, digits + decpt, (size_t)(nd - decpt));
            o += nd - decpt;
        }
        *o = 0;
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, digits + 1, (size_t)(nd - 1));
            o += nd - 1;
        }
        int x = decpt - 1;
        o += sprintf(o, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    }
    return (int)(o - buf);
}

/* ---- serializer -------------------------------------------------------------------------- */

json_dump_options json_default_options(void)
{
    json_dump_options o = {-1, NULL, NULL, false, false};
    return o;
}

static void dump_string(json_buf *b, const char *s, size_t n, bool ensure_ascii)
{
    buf_putc(b, '"');
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        char esc[16];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            buf_put(b, esc, 2);
            i++;
        } else if (c < 0x20) {
            const char *named = NULL;
            switch (c) {
            case '\b': named = "\\b"; break;
            case '\f': named = "\\f"; break;
            case '\n': named = "\\n"; break;
            case '\r': named = "\\r"; break;
            case '\t': named = "\\t"; break;
            default: break;
            }
            if (named) {
                buf_puts(b, named);
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", c);
                buf_puts(b, esc);
            }
            i++;
        } else if (c < 0x7F || !ensure_ascii) {
            buf_putc(b, (char)c);
            i++;
        } else if (c == 0x7F) {
            buf_puts(b, "\\u007f");
            i++;
        } else {
            /* Decode leniently (WTF-8 surrogates included) and write \u escapes. */
            uint32_t cp = c;
            size_t len = 1;
            if ((c & 0xE0) == 0xC0)
                cp = c & 0x1F, len = 2;
            else if ((c & 0xF0) == 0xE0)
                cp = c & 0x0F, len = 3;
            else if ((c & 0xF8) == 0xF0)
                cp = c & 0x07, len = 4;
            if (i + len > n)
                len = 1;
            for (size_t k = 1; k < len; k++)
                cp = (cp << 6) | ((unsigned char)s[i + k] & 0x3F);
            if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                snprintf(esc, sizeof esc, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
            } else {
                snprintf(esc, sizeof esc, "\\u%04x", cp);
            }
            buf_puts(b, esc);
            i += len;
        }
    }
    buf_putc(b, '"');
}

static void dump_newline(json_buf *b, const json_dump_options *o, int level)
{
    buf_putc(b, '\n');
    for (int i = 0; i < level * o->indent; i++)
        buf_putc(b, ' ');
}

static int cmp_members(const void *a, const void *b)
{
    const json_member *x = *(const json_member *const *)a, *y = *(const json_member *const *)b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static void dump_value(json_buf *b, const json_value *v, const json_dump_options *o, int level)
{
    const char *item_sep = o->item_sep ? o->item_sep : (o->indent >= 0 ? "," : ", ");
    const char *key_sep = o->key_sep ? o->key_sep : ": ";
    char num[40];
    switch (v->type) {
    case JSON_NULL:
        buf_puts(b, "null");
        break;
    case JSON_BOOL:
        buf_puts(b, v->u.boolean ? "true" : "false");
        break;
    case JSON_INT:
        snprintf(num, sizeof num, "%lld", (long long)v->u.integer);
        buf_puts(b, num);
        break;
    case JSON_FLOAT:
        if (isnan(v->u.number))
            buf_puts(b, "NaN");
        else if (isinf(v->u.number))
            buf_puts(b, v->u.number < 0 ? "-Infinity" : "Infinity");
        else {
            json_format_python_float(v->u.number, num);
            buf_puts(b, num);
        }
        break;
    case JSON_STRING:
        dump_string(b, v->u.string.ptr, v->u.string.len, o->ensure_ascii);
        break;
    case JSON_ARRAY:
        if (!v->u.array.count) {
            buf_puts(b, "[]");
            break;
        }
        buf_putc(b, '[');
        for (size_t i = 0; i < v->u.array.count; i++) {
            if (i)
                buf_puts(b, item_sep);
            if (o->indent >= 0)
                dump_newline(b, o, level + 1);
            dump_value(b, v->u.array.items[i], o, level + 1);
        }
        if (o->indent >= 0)
            dump_newline(b, o, level);
        buf_putc(b, ']');
        break;
    case JSON_OBJECT: {
        size_t n = v->u.object.count;
        if (!n) {
            buf_puts(b, "{}");
            break;
        }
        const json_member **order = malloc(n * sizeof *order);
        if (!order) {
            b->oom = true;
            break;
        }
        for (size_t i = 0; i < n; i++)
            order[i] = &v->u.object.members[i];
        if (o->sort_keys)
            qsort(order, n, sizeof *order, cmp_members);
        buf_putc(b, '{');
        for (size_t i = 0; i < n; i++) {
            if (i)
                buf_puts(b, item_sep);
            if (o->indent >= 0)
                dump_newline(b, o, level + 1);
            dump_string(b, order[i]->key, order[i]->key_len, o->ensure_ascii);
            buf_puts(b, key_sep);
            dump_value(b, order[i]->value, o, level + 1);
        }
        free(order);
        if (o->indent >= 0)
            dump_newline(b, o, level);
        buf_putc(b, '}');
        break;
    }
    }
}

char *json_dumps(const json_value *value, const json_dump_options *options, size_t *len)
{
    json_dump_options o = options ? *options : json_default_options();
    json_buf b = {0};
    buf_reserve(&b, 16);
    dump_value(&b, value, &o, 0);
    if (b.oom) {
        free(b.data);
        return NULL;
    }
    if (len)
        *len = b.len;
    return b.data;
}
