/* The render arena, output buffers, errors, and the value model with Python's
 * semantics for truth, equality, ordering, str() and repr(). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja_internal.h"

/* ---- errors ----------------------------------------------------------------------- */

void jfail(jctx *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->err && c->err_cap) {
        if (c->line > 0)
            snprintf(c->err, c->err_cap, "line %d: %s", c->line, msg);
        else
            snprintf(c->err, c->err_cap, "%s", msg);
    }
    c->status = JINJA_ERROR;
    longjmp(c->on_error, 1);
}

void jraise(jctx *c, const char *msg, size_t len)
{
    if (c->err && c->err_cap) {
        size_t n = len < c->err_cap - 1 ? len : c->err_cap - 1;
        memcpy(c->err, msg, n);
        c->err[n] = 0;
    }
    c->status = JINJA_RAISED;
    longjmp(c->on_error, 1);
}

/* ---- arena ------------------------------------------------------------------------ */

struct jarena_block {
    jarena_block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

#define JARENA_BLOCK (64u << 10)

void *jalloc(jctx *c, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0)
        n = 16;
    jarena_block *b = c->blocks;
    if (!b || b->size - b->used < n) {
        size_t size = n > JARENA_BLOCK / 4 ? n : JARENA_BLOCK;
        if (c->arena_bytes + size > JINJA_MAX_MEMORY)
            jfail(c, "template needs more than %u MiB of memory", JINJA_MAX_MEMORY >> 20);
        jarena_block *nb = malloc(sizeof *nb + size);
        if (!nb)
            jfail(c, "out of memory");
        c->arena_bytes += size;
        nb->size = size;
        nb->used = 0;
        if (b && size != JARENA_BLOCK) {
            /* A big one-off block goes behind the current one so the current
             * block keeps serving small allocations. */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            c->blocks = nb;
        }
        b = nb;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

char *jstrndup(jctx *c, const char *s, size_t n)
{
    char *p = jalloc(c, n + 1);
    if (n)
        memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void jarena_free(jctx *c)
{
    jarena_block *b = c->blocks;
    while (b) {
        jarena_block *next = b->next;
        free(b);
        b = next;
    }
    c->blocks = NULL;
    c->arena_bytes = 0;
}

/* ---- buffers -------------------------------------------------------------------------- */

void jbuf_put(jctx *c, jbuf *b, const char *s, size_t n)
{
    if (n == 0)
        return;
    if (b->n + n > JINJA_MAX_OUTPUT)
        jfail(c, "rendered text exceeds %u MiB", JINJA_MAX_OUTPUT >> 20);
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n)
            cap *= 2;
        jarena_block *blk = c->blocks;
        /* Grow in place when the buffer is the newest allocation of its block. */
        size_t grow = ((cap + 15) & ~(size_t)15) - ((b->cap + 15) & ~(size_t)15);
        if (b->p && blk && (unsigned char *)b->p + ((b->cap + 15) & ~(size_t)15) == blk->data + blk->used &&
            blk->size - blk->used >= grow) {
            blk->used += grow;
            b->cap = cap;
        } else {
            char *p = jalloc(c, cap);
            if (b->n)
                memcpy(p, b->p, b->n);
            b->p = p;
            b->cap = cap;
        }
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

void jbuf_puts(jctx *c, jbuf *b, const char *s) { jbuf_put(c, b, s, strlen(s)); }
void jbuf_putc(jctx *c, jbuf *b, char ch) { jbuf_put(c, b, &ch, 1); }

void jbuf_printf(jctx *c, jbuf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        jbuf_put(c, b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* ---- constructors ----------------------------------------------------------------------- */

jv jv_cstr(const char *s) { return jv_strn(s, strlen(s)); }

jv jv_list(jctx *c, size_t cap)
{
    jlist *l = jalloc(c, sizeof *l);
    if (cap) {
        l->items = jalloc(c, cap * sizeof(jv));
        l->cap = cap;
    }
    jv v = {.kind = JV_LIST, .u = {.l = l}};
    return v;
}

void jlist_push(jctx *c, jlist *l, jv item)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        jv *items = jalloc(c, cap * sizeof(jv));
        if (l->n)
            memcpy(items, l->items, l->n * sizeof(jv));
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = item;
}

jv jv_dict(jctx *c)
{
    jdict *d = jalloc(c, sizeof *d);
    jv v = {.kind = JV_DICT, .u = {.d = d}};
    return v;
}

bool jdict_get(const jdict *d, jv key, jv *out)
{
    for (size_t i = 0; i < d->n; i++) {
        if (jv_equal(d->keys[i], key)) {
            if (out)
                *out = d->vals[i];
            return true;
        }
    }
    return false;
}

bool jdict_get_str(const jdict *d, const char *key, size_t n, jv *out)
{
    for (size_t i = 0; i < d->n; i++) {
        jv k = d->keys[i];
        if (k.kind == JV_STR && k.u.s.n == n && memcmp(k.u.s.p, key, n) == 0) {
            if (out)
                *out = d->vals[i];
            return true;
        }
    }
    return false;
}

void jdict_set(jctx *c, jdict *d, jv key, jv val)
{
    for (size_t i = 0; i < d->n; i++) {
        if (jv_equal(d->keys[i], key)) {
            d->vals[i] = val;
            return;
        }
    }
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 8;
        jv *keys = jalloc(c, cap * sizeof(jv));
        jv *vals = jalloc(c, cap * sizeof(jv));
        if (d->n) {
            memcpy(keys, d->keys, d->n * sizeof(jv));
            memcpy(vals, d->vals, d->n * sizeof(jv));
        }
        d->keys = keys;
        d->vals = vals;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
}

/* ---- Python semantics ---------------------------------------------------------------------- */

const char *jv_type_name(jv v)
{
    switch (v.kind) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return v.u.l->generator ? "generator" : v.u.l->tuple ? "tuple" : "list";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_FUNC: return v.u.fn->kind == FN_MACRO ? "Macro" : "builtin_function_or_method";
    case JV_LOOP: return "LoopContext";
    }
    return "object";
}

bool jv_truthy(jv v)
{
    switch (v.kind) {
    case JV_UNDEF:
    case JV_NONE:
        return false;
    case JV_BOOL:
        return v.u.b;
    case JV_INT:
        return v.u.i != 0;
    case JV_FLOAT:
        return v.u.f != 0;
    case JV_STR:
        return v.u.s.n != 0;
    case JV_LIST:
        return v.u.l->generator || v.u.l->n != 0;
    case JV_DICT:
        return v.u.d->n != 0;
    default:
        return true;
    }
}

bool jv_is_number(jv v) { return v.kind == JV_INT || v.kind == JV_FLOAT || v.kind == JV_BOOL; }

double jv_as_double(jv v)
{
    switch (v.kind) {
    case JV_BOOL: return v.u.b;
    case JV_INT: return (double)v.u.i;
    case JV_FLOAT: return v.u.f;
    default: return 0;
    }
}

static int64_t jv_as_int_exact(jv v) { return v.kind == JV_BOOL ? v.u.b : v.u.i; }

bool jv_equal(jv a, jv b)
{
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a.kind != JV_FLOAT && b.kind != JV_FLOAT)
            return jv_as_int_exact(a) == jv_as_int_exact(b);
        return jv_as_double(a) == jv_as_double(b);
    }
    if (a.kind != b.kind)
        return false;
    switch (a.kind) {
    case JV_UNDEF:
    case JV_NONE:
        return true;
    case JV_STR:
        return a.u.s.n == b.u.s.n && memcmp(a.u.s.p, b.u.s.p, a.u.s.n) == 0;
    case JV_LIST: {
        jlist *x = a.u.l, *y = b.u.l;
        if (x == y)
            return true;
        if (x->generator || y->generator || x->tuple != y->tuple || x->is_range != y->is_range ||
            x->n != y->n)
            return false;
        for (size_t i = 0; i < x->n; i++)
            if (!jv_equal(x->items[i], y->items[i]))
                return false;
        return true;
    }
    case JV_DICT: {
        jdict *x = a.u.d, *y = b.u.d;
        if (x == y)
            return true;
        if (x->n != y->n)
            return false;
        for (size_t i = 0; i < x->n; i++) {
            jv other;
            if (!jdict_get(y, x->keys[i], &other) || !jv_equal(x->vals[i], other))
                return false;
        }
        return true;
    }
    case JV_NS:
        return a.u.d == b.u.d;
    case JV_FUNC:
        return a.u.fn == b.u.fn;
    case JV_LOOP:
        return a.u.loop == b.u.loop;
    default:
        return false;
    }
}

int jv_compare(jctx *c, jv a, jv b)
{
    if (a.kind == JV_UNDEF || b.kind == JV_UNDEF)
        jfail(c, "'%s' is undefined", a.kind == JV_UNDEF && a.u.undef_name ? a.u.undef_name
                                       : b.kind == JV_UNDEF && b.u.undef_name ? b.u.undef_name
                                                                              : "value");
    if (jv_is_number(a) && jv_is_number(b)) {
        if (a.kind != JV_FLOAT && b.kind != JV_FLOAT) {
            int64_t x = jv_as_int_exact(a), y = jv_as_int_exact(b);
            return x < y ? -1 : x > y;
        }
        double x = jv_as_double(a), y = jv_as_double(b);
        return x < y ? -1 : x > y;
    }
    if (a.kind == JV_STR && b.kind == JV_STR) {
        size_t n = a.u.s.n < b.u.s.n ? a.u.s.n : b.u.s.n;
        int r = n ? memcmp(a.u.s.p, b.u.s.p, n) : 0;
        if (r)
            return r < 0 ? -1 : 1;
        return a.u.s.n < b.u.s.n ? -1 : a.u.s.n > b.u.s.n;
    }
    if (a.kind == JV_LIST && b.kind == JV_LIST && a.u.l->tuple == b.u.l->tuple &&
        !a.u.l->generator && !b.u.l->generator) {
        jlist *x = a.u.l, *y = b.u.l;
        for (size_t i = 0; i < x->n && i < y->n; i++) {
            if (!jv_equal(x->items[i], y->items[i]))
                return jv_compare(c, x->items[i], y->items[i]);
        }
        return x->n < y->n ? -1 : x->n > y->n;
    }
    jfail(c, "'<' not supported between instances of '%s' and '%s'", jv_type_name(a),
          jv_type_name(b));
}

/* ---- str() and repr() ------------------------------------------------------------------------- */

static void write_str_repr(jctx *c, jbuf *b, const char *s, size_t n)
{
    bool has_single = memchr(s, '\'', n) != NULL, has_double = memchr(s, '"', n) != NULL;
    char quote = has_single && !has_double ? '"' : '\'';
    jbuf_putc(c, b, quote);
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        uint32_t cp = ju_utf8_next(s, n, &i);
        if (cp == (uint32_t)quote || cp == '\\') {
            jbuf_putc(c, b, '\\');
            jbuf_putc(c, b, (char)cp);
        } else if (cp == '\t') {
            jbuf_puts(c, b, "\\t");
        } else if (cp == '\n') {
            jbuf_puts(c, b, "\\n");
        } else if (cp == '\r') {
            jbuf_puts(c, b, "\\r");
        } else if (cp < 0x80 && cp >= 0x20 && cp != 0x7F) {
            jbuf_putc(c, b, (char)cp);
        } else if (ju_isprintable(cp)) {
            jbuf_put(c, b, s + start, i - start);
        } else if (cp <= 0xFF) {
            jbuf_printf(c, b, "\\x%02x", cp);
        } else if (cp <= 0xFFFF) {
            jbuf_printf(c, b, "\\u%04x", cp);
        } else {
            jbuf_printf(c, b, "\\U%08x", cp);
        }
    }
    jbuf_putc(c, b, quote);
}

static void write_value(jctx *c, jbuf *b, jv v, bool repr, int depth)
{
    if (depth > 200)
        jfail(c, "value nested too deeply to print");
    char num[40];
    switch (v.kind) {
    case JV_UNDEF:
        if (repr)
            jbuf_puts(c, b, "Undefined");
        break;
    case JV_NONE:
        jbuf_puts(c, b, "None");
        break;
    case JV_BOOL:
        jbuf_puts(c, b, v.u.b ? "True" : "False");
        break;
    case JV_INT:
        jbuf_printf(c, b, "%lld", (long long)v.u.i);
        break;
    case JV_FLOAT:
        json_format_python_float(v.u.f, num);
        jbuf_puts(c, b, num);
        break;
    case JV_STR:
        if (repr && v.safe) {
            jbuf_puts(c, b, "Markup(");
            write_str_repr(c, b, v.u.s.p, v.u.s.n);
            jbuf_putc(c, b, ')');
        } else if (repr)
            write_str_repr(c, b, v.u.s.p, v.u.s.n);
        else
            jbuf_put(c, b, v.u.s.p, v.u.s.n);
        break;
    case JV_LIST: {
        jlist *l = v.u.l;
        if (l->generator) {
            jbuf_printf(c, b, "<generator object at %p>", (void *)l);
            break;
        }
        if (l->is_range) {
            if (l->range_step == 1)
                jbuf_printf(c, b, "range(%lld, %lld)", (long long)l->range_start, (long long)l->range_stop);
            else
                jbuf_printf(c, b, "range(%lld, %lld, %lld)", (long long)l->range_start,
                            (long long)l->range_stop, (long long)l->range_step);
            break;
        }
        jbuf_putc(c, b, l->tuple ? '(' : '[');
        for (size_t i = 0; i < l->n; i++) {
            if (i)
                jbuf_puts(c, b, ", ");
            write_value(c, b, l->items[i], true, depth + 1);
        }
        if (l->tuple && l->n == 1)
            jbuf_putc(c, b, ',');
        jbuf_putc(c, b, l->tuple ? ')' : ']');
        break;
    }
    case JV_DICT:
    case JV_NS: {
        jdict *d = v.u.d;
        if (v.kind == JV_NS)
            jbuf_puts(c, b, "<Namespace ");
        jbuf_putc(c, b, '{');
        for (size_t i = 0; i < d->n; i++) {
            if (i)
                jbuf_puts(c, b, ", ");
            write_value(c, b, d->keys[i], true, depth + 1);
            jbuf_puts(c, b, ": ");
            write_value(c, b, d->vals[i], true, depth + 1);
        }
        jbuf_putc(c, b, '}');
        if (v.kind == JV_NS)
            jbuf_putc(c, b, '>');
        break;
    }
    case JV_FUNC:
        if (v.u.fn->kind == FN_MACRO)
            jbuf_printf(c, b, "<Macro '%s'>", v.u.fn->name);
        else
            jbuf_printf(c, b, "<built-in method %s>", v.u.fn->name);
        break;
    case JV_LOOP:
        jbuf_printf(c, b, "<LoopContext %zu/%zu>", v.u.loop->index0 + 1, v.u.loop->items->n);
        break;
    }
}

void jv_write_str(jctx *c, jbuf *b, jv v) { write_value(c, b, v, false, 0); }
void jv_write_repr(jctx *c, jbuf *b, jv v) { write_value(c, b, v, true, 0); }

jv jv_to_string(jctx *c, jv v)
{
    if (v.kind == JV_STR)
        return v;
    jbuf b = {0};
    jv_write_str(c, &b, v);
    return jv_strn(b.p ? b.p : "", b.n);
}

/* ---- iteration and length ------------------------------------------------------------------- */

jlist *jv_iterate(jctx *c, jv v)
{
    switch (v.kind) {
    case JV_UNDEF:
        return jv_list(c, 0).u.l;
    case JV_LIST:
        if (v.u.l->generator) {
            if (v.u.l->consumed)
                return jv_list(c, 0).u.l;
            v.u.l->consumed = true;
        }
        return v.u.l;
    case JV_DICT: {
        jlist *keys = jv_list(c, v.u.d->n).u.l;
        for (size_t i = 0; i < v.u.d->n; i++)
            jlist_push(c, keys, v.u.d->keys[i]);
        return keys;
    }
    case JV_STR: {
        jlist *chars = jv_list(c, v.u.s.n).u.l;
        size_t i = 0;
        while (i < v.u.s.n) {
            size_t start = i;
            ju_utf8_next(v.u.s.p, v.u.s.n, &i);
            jlist_push(c, chars, jv_strn(v.u.s.p + start, i - start));
        }
        return chars;
    }
    default:
        jfail(c, "'%s' object is not iterable", jv_type_name(v));
    }
}

int64_t jv_length(jctx *c, jv v)
{
    switch (v.kind) {
    case JV_UNDEF:
        return 0;
    case JV_STR:
        return (int64_t)ju_utf8_count(v.u.s.p, v.u.s.n);
    case JV_LIST:
        if (!v.u.l->generator)
            return (int64_t)v.u.l->n;
        break;
    case JV_DICT:
        return (int64_t)v.u.d->n;
    default:
        break;
    }
    jfail(c, "object of type '%s' has no len()", jv_type_name(v));
}

/* ---- JSON conversion -------------------------------------------------------------------------- */

jv jv_from_json(jctx *c, const json_value *j)
{
    switch (j->type) {
    case JSON_NULL:
        return jv_none();
    case JSON_BOOL:
        return jv_bool(j->u.boolean);
    case JSON_INT:
        return jv_int(j->u.integer);
    case JSON_FLOAT:
        return jv_float(j->u.number);
    case JSON_STRING:
        /* The JSON tree outlives the render, so strings are used in place. */
        return jv_strn(j->u.string.ptr, j->u.string.len);
    case JSON_ARRAY: {
        jv l = jv_list(c, j->u.array.count);
        for (size_t i = 0; i < j->u.array.count; i++)
            jlist_push(c, l.u.l, jv_from_json(c, j->u.array.items[i]));
        return l;
    }
    case JSON_OBJECT: {
        jv d = jv_dict(c);
        jdict *dd = d.u.d;
        size_t n = j->u.object.count;
        dd->keys = jalloc(c, (n ? n : 1) * sizeof(jv));
        dd->vals = jalloc(c, (n ? n : 1) * sizeof(jv));
        dd->cap = n ? n : 1;
        /* Keys are already unique (json_object_set replaces). */
        for (size_t i = 0; i < n; i++) {
            const json_member *m = &j->u.object.members[i];
            dd->keys[i] = jv_strn(m->key, m->key_len);
            dd->vals[i] = jv_from_json(c, m->value);
        }
        dd->n = n;
        return d;
    }
    }
    return jv_none();
}

static json_value *to_json_rec(jctx *c, jv v, const char **bad, int depth)
{
    if (depth > 500) {
        *bad = "deeply nested value";
        return NULL;
    }
    switch (v.kind) {
    case JV_NONE:
        return json_new_null();
    case JV_BOOL:
        return json_new_bool(v.u.b);
    case JV_INT:
        return json_new_int(v.u.i);
    case JV_FLOAT:
        return json_new_float(v.u.f);
    case JV_STR:
        return json_new_string(v.u.s.p, v.u.s.n);
    case JV_LIST: {
        if (v.u.l->generator)
            break;
        json_value *arr = json_new_array();
        for (size_t i = 0; arr && i < v.u.l->n; i++) {
            json_value *item = to_json_rec(c, v.u.l->items[i], bad, depth + 1);
            if (!item || json_array_push(arr, item) < 0) {
                json_free(arr);
                return NULL;
            }
        }
        return arr;
    }
    case JV_DICT: {
        json_value *obj = json_new_object();
        for (size_t i = 0; obj && i < v.u.d->n; i++) {
            jv k = v.u.d->keys[i];
            char num[40];
            const char *kp;
            size_t kn;
            /* json.dumps turns these key types into strings; others raise. */
            if (k.kind == JV_STR) {
                kp = k.u.s.p, kn = k.u.s.n;
            } else if (k.kind == JV_INT) {
                kn = (size_t)snprintf(num, sizeof num, "%lld", (long long)k.u.i), kp = num;
            } else if (k.kind == JV_FLOAT) {
                kn = (size_t)json_format_python_float(k.u.f, num), kp = num;
            } else if (k.kind == JV_BOOL) {
                kp = k.u.b ? "true" : "false", kn = strlen(kp);
            } else if (k.kind == JV_NONE) {
                kp = "null", kn = 4;
            } else {
                *bad = "keys must be str, int, float, bool or None";
                json_free(obj);
                return NULL;
            }
            json_value *val = to_json_rec(c, v.u.d->vals[i], bad, depth + 1);
            if (!val || json_object_set(obj, kp, kn, val) < 0) {
                json_free(obj);
                return NULL;
            }
        }
        return obj;
    }
    default:
        break;
    }
    if (!*bad)
        *bad = jv_type_name(v);
    return NULL;
}

json_value *jv_to_json(jctx *c, jv v, const char **bad_type)
{
    const char *bad = NULL;
    json_value *j = to_json_rec(c, v, &bad, 0);
    if (bad_type)
        *bad_type = bad ? bad : "value (out of memory)";
    return j;
}
