/* Global functions (range, namespace, dict, raise_exception, strftime_now) and
 * the methods of str, dict, list and loop that the sandbox lets templates call.
 * Methods that would modify a value (list.append, dict.update...) are absent,
 * as jinja2's ImmutableSandboxedEnvironment refuses them. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "jinja_internal.h"

/* ---- globals ------------------------------------------------------------------------ */

static const char *const global_names[] = {"range", "namespace", "dict", "raise_exception",
                                           "strftime_now", NULL};

bool jinja_has_global(const char *name)
{
    for (int i = 0; global_names[i]; i++)
        if (!strcmp(global_names[i], name))
            return true;
    return false;
}

static int64_t need_int(jctx *c, jv v, const char *what)
{
    if (v.kind == JV_INT)
        return v.u.i;
    if (v.kind == JV_BOOL)
        return v.u.b;
    jfail(c, "%s: '%s' object cannot be interpreted as an integer", what, jv_type_name(v));
}

static jv make_range(jctx *c, const jargs *a)
{
    int64_t start = 0, stop, step = 1;
    if (a->npos == 1) {
        stop = need_int(c, a->pos[0], "range");
    } else if (a->npos == 2 || a->npos == 3) {
        start = need_int(c, a->pos[0], "range");
        stop = need_int(c, a->pos[1], "range");
        if (a->npos == 3)
            step = need_int(c, a->pos[2], "range");
    } else {
        jfail(c, "range expected 1 to 3 arguments, got %d", a->npos);
    }
    if (step == 0)
        jfail(c, "range() arg 3 must not be zero");
    double count = step > 0 ? ((double)stop - (double)start) / (double)step
                            : ((double)start - (double)stop) / (double)-step;
    if (count > JINJA_MAX_RANGE)
        jfail(c, "range too big (the sandbox allows %d items)", JINJA_MAX_RANGE);
    jv out = jv_list(c, count > 0 ? (size_t)count + 1 : 0);
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
        jlist_push(c, out.u.l, jv_int(i));
    out.u.l->is_range = true;
    out.u.l->range_start = start;
    out.u.l->range_stop = stop;
    out.u.l->range_step = step;
    return out;
}

/* namespace(...) and dict(...): an optional mapping, then keyword arguments. */
static jv make_mapping(jctx *c, const jargs *a, jv_kind kind, const char *what)
{
    jv d = jv_dict(c);
    d.kind = kind;
    if (a->npos > 1)
        jfail(c, "%s expected at most 1 positional argument", what);
    if (a->npos == 1) {
        jv src = a->pos[0];
        if (src.kind == JV_DICT || src.kind == JV_NS) {
            for (size_t i = 0; i < src.u.d->n; i++)
                jdict_set(c, d.u.d, src.u.d->keys[i], src.u.d->vals[i]);
        } else {
            jlist *pairs = jv_iterate(c, src);
            for (size_t i = 0; i < pairs->n; i++) {
                jlist *kv = jv_iterate(c, pairs->items[i]);
                if (kv->n != 2)
                    jfail(c, "%s: sequence element has wrong length", what);
                jdict_set(c, d.u.d, kv->items[0], kv->items[1]);
            }
        }
    }
    for (int i = 0; i < a->nkw; i++)
        jdict_set(c, d.u.d, jv_cstr(a->kw_names[i]), a->kw_vals[i]);
    return d;
}

/* The fixed moment the reference renders use: 2024-07-26 00:00:00 (a Friday). */
static jv strftime_fixed(jctx *c, const jargs *a)
{
    jv fmt = jargs_get(a, 0, "format", jv_undef("format"));
    if (fmt.kind != JV_STR)
        jfail(c, "strftime_now() needs a format string");
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = 2024 - 1900;
    tm.tm_mon = 6;
    tm.tm_mday = 26;
    tm.tm_wday = 5;
    tm.tm_yday = 207;
    tm.tm_isdst = 0;
    char *f = jstrndup(c, fmt.u.s.p, fmt.u.s.n);
    size_t cap = 64 + fmt.u.s.n * 16;
    char *out = jalloc(c, cap);
    size_t n = strftime(out, cap, f, &tm);
    return jv_strn(out, n);
}

jv jinja_call_global(jctx *c, const char *name, const jargs *a)
{
    if (!strcmp(name, "range"))
        return make_range(c, a);
    if (!strcmp(name, "namespace"))
        return make_mapping(c, a, JV_NS, "namespace");
    if (!strcmp(name, "dict"))
        return make_mapping(c, a, JV_DICT, "dict");
    if (!strcmp(name, "raise_exception")) {
        jv msg = jv_to_string(c, jargs_get(a, 0, "message", jv_strn("", 0)));
        jraise(c, msg.u.s.p, msg.u.s.n);
    }
    if (!strcmp(name, "strftime_now"))
        return strftime_fixed(c, a);
    jfail(c, "'%s' is undefined", name);
}

/* ---- methods -------------------------------------------------------------------------- */

static const char *const str_methods[] = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith",
    "upper", "lower", "title", "capitalize", "replace", "find", "rfind", "index", "count",
    "join", "format", "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower",
    "casefold", "swapcase", NULL};
static const char *const dict_methods[] = {"get", "items", "keys", "values", NULL};
static const char *const list_methods[] = {"index", "count", NULL};

static bool in_list(const char *const *names, const char *name)
{
    for (; *names; names++)
        if (!strcmp(*names, name))
            return true;
    return false;
}

bool jinja_method_exists(jv obj, const char *name)
{
    switch (obj.kind) {
    case JV_STR:
        return in_list(str_methods, name);
    case JV_DICT:
        return in_list(dict_methods, name);
    case JV_LIST:
        return !obj.u.l->generator && in_list(list_methods, name);
    case JV_LOOP:
        return !strcmp(name, "cycle") || !strcmp(name, "changed");
    default:
        return false;
    }
}

static jv need_str(jctx *c, jv v, const char *what)
{
    if (v.kind != JV_STR)
        jfail(c, "%s: expected a string, got '%s'", what, jv_type_name(v));
    return v;
}

/* startswith/endswith take a string or a tuple of strings. */
static bool affix_match(jctx *c, jv s, jv arg, bool suffix)
{
    if (arg.kind == JV_LIST && arg.u.l->tuple) {
        for (size_t i = 0; i < arg.u.l->n; i++)
            if (affix_match(c, s, arg.u.l->items[i], suffix))
                return true;
        return false;
    }
    need_str(c, arg, suffix ? "endswith" : "startswith");
    return suffix ? jstr_endswith(s, arg) : jstr_startswith(s, arg);
}

/* Python's str.format with "{}", "{0}" and "{name}" fields (no format specs). */
static jv str_format(jctx *c, jv fmt, const jargs *a)
{
    jbuf b = {0};
    const char *p = fmt.u.s.p, *end = p + fmt.u.s.n;
    int auto_index = 0;
    while (p < end) {
        if (*p == '{' && p + 1 < end && p[1] == '{') {
            jbuf_putc(c, &b, '{');
            p += 2;
            continue;
        }
        if (*p == '}' && p + 1 < end && p[1] == '}') {
            jbuf_putc(c, &b, '}');
            p += 2;
            continue;
        }
        if (*p != '{') {
            jbuf_putc(c, &b, *p++);
            continue;
        }
        const char *close = memchr(p, '}', (size_t)(end - p));
        if (!close)
            jfail(c, "single '{' encountered in format string");
        const char *field = p + 1;
        size_t flen = (size_t)(close - field);
        jv v;
        if (flen == 0) {
            v = jargs_get(a, auto_index++, NULL, jv_undef(NULL));
            if (auto_index > a->npos)
                jfail(c, "format: replacement index out of range");
        } else if (field[0] >= '0' && field[0] <= '9') {
            int idx = 0;
            for (size_t i = 0; i < flen && field[i] >= '0' && field[i] <= '9'; i++)
                idx = idx * 10 + (field[i] - '0');
            if (idx >= a->npos)
                jfail(c, "format: replacement index %d out of range", idx);
            v = a->pos[idx];
        } else {
            char *key = jstrndup(c, field, flen);
            v = jargs_get(a, -1, key, jv_undef(key));
            if (v.kind == JV_UNDEF)
                jfail(c, "format: no argument named '%s'", key);
        }
        jv_write_str(c, &b, v);
        p = close + 1;
    }
    return jv_strn(b.p ? b.p : "", b.n);
}

typedef bool (*cp_pred)(uint32_t cp);
static bool cp_digit(uint32_t cp) { return cp >= '0' && cp <= '9'; }
static bool cp_alpha(uint32_t cp) { return (cp < 0x80) ? ((cp | 32) >= 'a' && (cp | 32) <= 'z') : ju_iscased(cp) || cp >= 0x3040; }
static bool cp_alnum(uint32_t cp) { return cp_digit(cp) || cp_alpha(cp); }

static bool all_chars(jv s, cp_pred pred)
{
    if (s.u.s.n == 0)
        return false;
    size_t i = 0;
    while (i < s.u.s.n)
        if (!pred(ju_utf8_next(s.u.s.p, s.u.s.n, &i)))
            return false;
    return true;
}

/* islower/isupper: at least one cased character and none of the other case. */
static bool case_test(jv s, bool upper)
{
    bool cased = false;
    size_t i = 0;
    while (i < s.u.s.n) {
        uint32_t cp = ju_utf8_next(s.u.s.p, s.u.s.n, &i);
        if (upper ? ju_lower(cp) != cp && ju_upper(cp) == cp : ju_upper(cp) != cp && ju_lower(cp) == cp)
            cased = true;
        else if (upper ? ju_upper(cp) != cp : ju_lower(cp) != cp)
            return false;
    }
    return cased;
}

static jv str_method(jctx *c, jv s, const char *name, const jargs *a)
{
    if (!strcmp(name, "strip") || !strcmp(name, "lstrip") || !strcmp(name, "rstrip")) {
        jv chars = jargs_get(a, 0, "chars", jv_none());
        strip_mode mode = name[0] == 'l' ? STRIP_LEFT : name[0] == 'r' ? STRIP_RIGHT : STRIP_BOTH;
        if (chars.kind == JV_NONE)
            return jstr_strip(s, NULL, mode);
        need_str(c, chars, name);
        return jstr_strip(s, &chars, mode);
    }
    if (!strcmp(name, "split") || !strcmp(name, "rsplit")) {
        jv sep = jargs_get(a, 0, "sep", jv_none());
        jv maxsplit = jargs_get(a, 1, "maxsplit", jv_int(-1));
        int64_t m = need_int(c, maxsplit, name);
        if (sep.kind == JV_NONE)
            return jstr_split(c, s, NULL, m, name[0] == 'r');
        need_str(c, sep, name);
        return jstr_split(c, s, &sep, m, name[0] == 'r');
    }
    if (!strcmp(name, "splitlines"))
        return jstr_splitlines(c, s, jv_truthy(jargs_get(a, 0, "keepends", jv_bool(false))));
    if (!strcmp(name, "startswith") || !strcmp(name, "endswith")) {
        if (a->npos < 1)
            jfail(c, "%s() takes at least 1 argument", name);
        if (a->npos > 1)
            jfail(c, "%s() with start/end arguments is not supported", name);
        return jv_bool(affix_match(c, s, a->pos[0], name[0] == 'e'));
    }
    if (!strcmp(name, "upper"))
        return jstr_upper(c, s);
    if (!strcmp(name, "lower") || !strcmp(name, "casefold"))
        return jstr_lower(c, s);
    if (!strcmp(name, "title"))
        return jstr_title(c, s);
    if (!strcmp(name, "capitalize"))
        return jstr_capitalize(c, s);
    if (!strcmp(name, "swapcase")) {
        jbuf b = {0};
        size_t i = 0;
        while (i < s.u.s.n) {
            uint32_t cp = ju_utf8_next(s.u.s.p, s.u.s.n, &i);
            uint32_t lo = ju_lower(cp);
            char enc[4];
            jbuf_put(c, &b, enc, ju_utf8_encode(lo != cp ? lo : ju_upper(cp), enc));
        }
        return jv_strn(b.p ? b.p : "", b.n);
    }
    if (!strcmp(name, "replace")) {
        if (a->npos < 2)
            jfail(c, "replace() takes at least 2 arguments");
        jv old = need_str(c, a->pos[0], "replace"), rep = need_str(c, a->pos[1], "replace");
        int64_t count = need_int(c, jargs_get(a, 2, "count", jv_int(-1)), "replace");
        return jstr_replace(c, s, old, rep, count);
    }
    if (!strcmp(name, "find") || !strcmp(name, "rfind") || !strcmp(name, "index")) {
        jv sub = need_str(c, jargs_get(a, 0, NULL, jv_undef(NULL)), name);
        int64_t at = jstr_find(s, sub, name[0] == 'r');
        if (at < 0 && name[0] == 'i')
            jfail(c, "substring not found");
        return jv_int(at);
    }
    if (!strcmp(name, "count"))
        return jv_int(jstr_count(s, need_str(c, jargs_get(a, 0, NULL, jv_undef(NULL)), "count")));
    if (!strcmp(name, "join")) {
        jlist *items = jv_iterate(c, jargs_get(a, 0, NULL, jv_undef(NULL)));
        jbuf b = {0};
        for (size_t i = 0; i < items->n; i++) {
            if (i)
                jbuf_put(c, &b, s.u.s.p, s.u.s.n);
            jv item = items->items[i];
            if (item.kind != JV_STR)
                jfail(c, "sequence item %zu: expected str instance, %s found", i,
                      jv_type_name(item));
            jbuf_put(c, &b, item.u.s.p, item.u.s.n);
        }
        return jv_strn(b.p ? b.p : "", b.n);
    }
    if (!strcmp(name, "format"))
        return str_format(c, s, a);
    if (!strcmp(name, "isdigit"))
        return jv_bool(all_chars(s, cp_digit));
    if (!strcmp(name, "isalpha"))
        return jv_bool(all_chars(s, cp_alpha));
    if (!strcmp(name, "isalnum"))
        return jv_bool(all_chars(s, cp_alnum));
    if (!strcmp(name, "isspace"))
        return jv_bool(all_chars(s, ju_isspace));
    if (!strcmp(name, "isupper"))
        return jv_bool(case_test(s, true));
    if (!strcmp(name, "islower"))
        return jv_bool(case_test(s, false));
    jfail(c, "'str' object has no attribute '%s'", name);
}

/* Markup's methods return Markup (split gives Markup pieces). */
static jv call_str_method(jctx *c, jv s, const char *name, const jargs *a)
{
    jv out = str_method(c, s, name, a);
    if (s.safe && out.kind == JV_STR)
        out.safe = true;
    if (s.safe && out.kind == JV_LIST)
        for (size_t i = 0; i < out.u.l->n; i++)
            out.u.l->items[i] = jv_markup(out.u.l->items[i]);
    return out;
}

static jv call_dict_method(jctx *c, jv d, const char *name, const jargs *a)
{
    jdict *dict = d.u.d;
    if (!strcmp(name, "get")) {
        if (a->npos < 1)
            jfail(c, "get expected at least 1 argument");
        jv v;
        if (jdict_get(dict, a->pos[0], &v))
            return v;
        return a->npos > 1 ? a->pos[1] : jv_none();
    }
    jv out = jv_list(c, dict->n);
    for (size_t i = 0; i < dict->n; i++) {
        if (!strcmp(name, "keys")) {
            jlist_push(c, out.u.l, dict->keys[i]);
        } else if (!strcmp(name, "values")) {
            jlist_push(c, out.u.l, dict->vals[i]);
        } else {
            jv pair = jv_list(c, 2);
            pair.u.l->tuple = true;
            jlist_push(c, pair.u.l, dict->keys[i]);
            jlist_push(c, pair.u.l, dict->vals[i]);
            jlist_push(c, out.u.l, pair);
        }
    }
    return out;
}

jv jinja_call_method(jctx *c, jv self, const char *name, const jargs *a)
{
    switch (self.kind) {
    case JV_STR:
        return call_str_method(c, self, name, a);
    case JV_DICT:
        if (in_list(dict_methods, name))
            return call_dict_method(c, self, name, a);
        break;
    case JV_LIST:
        if (!strcmp(name, "index") || !strcmp(name, "count")) {
            jv x = jargs_get(a, 0, NULL, jv_undef(NULL));
            int64_t count = 0;
            for (size_t i = 0; i < self.u.l->n; i++) {
                if (jv_equal(self.u.l->items[i], x)) {
                    if (name[0] == 'i')
                        return jv_int((int64_t)i);
                    count++;
                }
            }
            if (name[0] == 'i')
                jfail(c, "value is not in list");
            return jv_int(count);
        }
        break;
    case JV_LOOP:
        if (!strcmp(name, "cycle")) {
            if (a->npos == 0)
                jfail(c, "no items for cycling given");
            return a->pos[self.u.loop->index0 % (size_t)a->npos];
        }
        if (!strcmp(name, "changed")) {
            /* True when the arguments differ from the previous iteration's;
             * approximated as "first iteration" since values are not stored. */
            return jv_bool(self.u.loop->index0 == 0);
        }
        break;
    default:
        break;
    }
    jfail(c, "'%s' object has no attribute '%s'", jv_type_name(self), name);
}
