/* jinja2's built-in filters and tests (plus transformers' tojson), with their
 * Python behaviour: soft str() of undefined, generators from map/select/...,
 * case-insensitive unique/sort by default, json.dumps for tojson. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jinja_internal.h"

/* ---- helpers ---------------------------------------------------------------------------- */

static jv soft_str(jctx *c, jv v) { return jv_to_string(c, v); }

static jv generator(jctx *c)
{
    jv g = jv_list(c, 0);
    g.u.l->generator = true;
    return g;
}

static int64_t int_arg(jctx *c, jv v, const char *what)
{
    if (v.kind == JV_INT)
        return v.u.i;
    if (v.kind == JV_BOOL)
        return v.u.b;
    jfail(c, "%s: expected an integer, got '%s'", what, jv_type_name(v));
}

/* "a.b.0" as jinja2's make_attrgetter walks it: getitem per dotted part. */
static jv attr_get(jctx *c, jv item, jv attribute)
{
    if (attribute.kind == JV_INT)
        return jinja_getitem(c, item, attribute);
    jv a = soft_str(c, attribute);
    const char *p = a.u.s.p, *end = p + a.u.s.n;
    for (;;) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        const char *part_end = dot ? dot : end;
        jv key = jv_strn(p, (size_t)(part_end - p));
        bool numeric = part_end > p;
        int64_t num = 0;
        for (const char *q = p; q < part_end; q++) {
            if (*q < '0' || *q > '9') {
                numeric = false;
                break;
            }
            num = num * 10 + (*q - '0');
        }
        item = jinja_getitem(c, item, numeric ? jv_int(num) : key);
        if (!dot)
            return item;
        p = dot + 1;
    }
}

/* Lower-cases strings for case-insensitive comparisons. */
static jv fold_case(jctx *c, jv v, bool case_sensitive)
{
    return (!case_sensitive && v.kind == JV_STR) ? jstr_lower(c, v) : v;
}

/* Stable merge sort by jv_compare on keys. */
static void sort_by_keys(jctx *c, jv *items, jv *keys, size_t n, bool reverse)
{
    if (n < 2)
        return;
    jv *tmp_items = jalloc(c, n * sizeof(jv));
    jv *tmp_keys = jalloc(c, n * sizeof(jv));
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                int cmp = jv_compare(c, keys[j], keys[i]);
                bool take_right = reverse ? cmp > 0 : cmp < 0;
                if (take_right) {
                    tmp_items[k] = items[j];
                    tmp_keys[k++] = keys[j++];
                } else {
                    tmp_items[k] = items[i];
                    tmp_keys[k++] = keys[i++];
                }
            }
            while (i < mid) {
                tmp_items[k] = items[i];
                tmp_keys[k++] = keys[i++];
            }
            while (j < hi) {
                tmp_items[k] = items[j];
                tmp_keys[k++] = keys[j++];
            }
        }
        memcpy(items, tmp_items, n * sizeof(jv));
        memcpy(keys, tmp_keys, n * sizeof(jv));
    }
}

/* The rest of the arguments after the first `skip` positional ones. */
static jargs args_tail(const jargs *a, int skip)
{
    jargs t = *a;
    if (skip > t.npos)
        skip = t.npos;
    t.pos += skip;
    t.npos -= skip;
    return t;
}

/* ---- tojson ------------------------------------------------------------------------------- */

static jv filter_tojson(jctx *c, jv value, const jargs *a)
{
    json_dump_options o = json_default_options();
    jv indent = jargs_get(a, 0, "indent", jv_none());
    jv ensure_ascii = jargs_get(a, -1, "ensure_ascii", jv_bool(false));
    jv separators = jargs_get(a, -1, "separators", jv_none());
    jv sort_keys = jargs_get(a, -1, "sort_keys", jv_bool(false));
    if (indent.kind != JV_NONE)
        o.indent = (int)int_arg(c, indent, "tojson indent");
    if (o.indent > 64)
        jfail(c, "tojson indent too large");
    o.ensure_ascii = jv_truthy(ensure_ascii);
    o.sort_keys = jv_truthy(sort_keys);
    if (separators.kind != JV_NONE) {
        jlist *seps = jv_iterate(c, separators);
        if (seps->n != 2 || seps->items[0].kind != JV_STR || seps->items[1].kind != JV_STR)
            jfail(c, "tojson separators must be two strings");
        o.item_sep = jstrndup(c, seps->items[0].u.s.p, seps->items[0].u.s.n);
        o.key_sep = jstrndup(c, seps->items[1].u.s.p, seps->items[1].u.s.n);
    }
    const char *bad = NULL;
    json_value *j = jv_to_json(c, value, &bad);
    if (!j)
        jfail(c, "Object of type %s is not JSON serializable", bad);
    size_t n;
    char *text = json_dumps(j, &o, &n);
    json_free(j);
    if (!text)
        jfail(c, "out of memory");
    if (n > JINJA_MAX_OUTPUT) {
        free(text);
        jfail(c, "tojson output too large");
    }
    char *copy = jstrndup(c, text, n);
    free(text);
    return jv_strn(copy, n);
}

/* ---- select / reject / map ---------------------------------------------------------------- */

static jv select_or_reject(jctx *c, jv value, const jargs *a, bool by_attr, bool want)
{
    jv out = generator(c);
    if (!jv_truthy(value)) /* jinja2 skips falsy input (None included) */
        return out;
    jlist *items = jv_iterate(c, value);
    jv attribute = jv_undef(NULL);
    int next = 0;
    if (by_attr) {
        if (a->npos < 1)
            jfail(c, "missing attribute for %sattr", want ? "select" : "reject");
        attribute = a->pos[0];
        next = 1;
    }
    const char *test = NULL;
    if (a->npos > next) {
        jv t = a->pos[next];
        if (t.kind != JV_STR)
            jfail(c, "test name must be a string");
        test = jstrndup(c, t.u.s.p, t.u.s.n);
    }
    jargs rest = args_tail(a, next + 1);
    for (size_t i = 0; i < items->n; i++) {
        jv item = items->items[i];
        jv subject = by_attr ? attr_get(c, item, attribute) : item;
        bool ok = test ? jinja_test(c, test, subject, &rest) : jv_truthy(subject);
        if (ok == want)
            jlist_push(c, out.u.l, item);
    }
    return out;
}

static jv filter_map(jctx *c, jv value, const jargs *a)
{
    jv out = generator(c);
    if (!jv_truthy(value)) /* jinja2 skips falsy input (None included) */
        return out;
    jlist *items = jv_iterate(c, value);
    jv attribute = jargs_get(a, -1, "attribute", jv_undef(NULL));
    if (a->npos == 0 && attribute.kind != JV_UNDEF) {
        jv def = jargs_get(a, -1, "default", jv_none());
        for (size_t i = 0; i < items->n; i++) {
            jv v = attr_get(c, items->items[i], attribute);
            if (v.kind == JV_UNDEF && def.kind != JV_NONE)
                v = def;
            jlist_push(c, out.u.l, v);
        }
        return out;
    }
    if (a->npos == 0 || a->pos[0].kind != JV_STR)
        jfail(c, "map requires a filter argument");
    const char *name = jstrndup(c, a->pos[0].u.s.p, a->pos[0].u.s.n);
    jargs rest = args_tail(a, 1);
    for (size_t i = 0; i < items->n; i++)
        jlist_push(c, out.u.l, jinja_filter(c, name, items->items[i], &rest));
    return out;
}

/* ---- text filters --------------------------------------------------------------------------- */

static jv filter_indent(jctx *c, jv s, const jargs *a)
{
    jv width = jargs_get(a, 0, "width", jv_int(4));
    bool first = jv_truthy(jargs_get(a, 1, "first", jv_bool(false)));
    bool blank = jv_truthy(jargs_get(a, 2, "blank", jv_bool(false)));
    if (s.kind != JV_STR) {
        if (s.kind == JV_UNDEF)
            jfail(c, "'%s' is undefined", s.u.undef_name ? s.u.undef_name : "value");
        jfail(c, "indent: unsupported operand type(s) for +=: '%s' and 'str'", jv_type_name(s));
    }
    jv indention;
    if (width.kind == JV_STR) {
        indention = width;
    } else {
        int64_t w = int_arg(c, width, "indent width");
        if (w > 4096)
            jfail(c, "indent width too large");
        indention = jv_strn("", 0);
        if (w > 0) {
            char *sp = jalloc(c, (size_t)w);
            memset(sp, ' ', (size_t)w);
            indention = jv_strn(sp, (size_t)w);
        }
    }
    /* s + "\n", split into lines, as jinja2 does. */
    jv lines_v = jstr_splitlines(c, jstr_concat(c, s, jv_strn("\n", 1)), false);
    jlist *lines = lines_v.u.l;
    jbuf b = {0};
    if (first)
        jbuf_put(c, &b, indention.u.s.p, indention.u.s.n);
    for (size_t i = 0; i < lines->n; i++) {
        jv line = lines->items[i];
        if (i > 0) {
            jbuf_putc(c, &b, '\n');
            if (blank || line.u.s.n)
                jbuf_put(c, &b, indention.u.s.p, indention.u.s.n);
        }
        jbuf_put(c, &b, line.u.s.p, line.u.s.n);
    }
    jv out = jv_strn(b.p ? b.p : "", b.n);
    out.safe = s.safe;
    return out;
}

/* jinja2's |title: capitalize each piece after "-", whitespace or an opening bracket. */
static jv filter_title(jctx *c, jv s)
{
    jbuf b = {0};
    size_t i = 0;
    bool at_word_start = true;
    while (i < s.u.s.n) {
        uint32_t cp = ju_utf8_next(s.u.s.p, s.u.s.n, &i);
        bool sep = cp == '-' || ju_isspace(cp) || cp == '(' || cp == '{' || cp == '[' || cp == '<';
        uint32_t out = cp;
        char enc[4];
        if (at_word_start) {
            if (cp == 0xDF) {
                jbuf_put(c, &b, "SS", 2);
                at_word_start = false;
                continue;
            }
            out = ju_upper(cp);
        } else {
            out = ju_lower(cp);
        }
        jbuf_put(c, &b, enc, ju_utf8_encode(out, enc));
        /* A separator run is its own chunk, so the character after it starts a word
         * and a character right after a word start continues it. */
        at_word_start = sep;
    }
    return jv_strn(b.p ? b.p : "", b.n);
}

static jv filter_truncate(jctx *c, jv s, const jargs *a)
{
    int64_t length = int_arg(c, jargs_get(a, 0, "length", jv_int(255)), "truncate");
    bool killwords = jv_truthy(jargs_get(a, 1, "killwords", jv_bool(false)));
    jv end = soft_str(c, jargs_get(a, 2, "end", jv_cstr("...")));
    jv leeway_v = jargs_get(a, 3, "leeway", jv_int(5));
    int64_t leeway = leeway_v.kind == JV_NONE ? 5 : int_arg(c, leeway_v, "truncate");
    int64_t n = (int64_t)ju_utf8_count(s.u.s.p, s.u.s.n);
    int64_t end_n = (int64_t)ju_utf8_count(end.u.s.p, end.u.s.n);
    if (n <= length + leeway)
        return s;
    int64_t keep = length - end_n;
    if (keep < 0)
        keep = 0;
    jv head = jv_strn(s.u.s.p, ju_utf8_offset(s.u.s.p, s.u.s.n, (size_t)keep));
    if (!killwords) {
        /* Drop the last (partial) word: rsplit(" ", 1)[0]. */
        const char *sp = NULL;
        for (size_t i = head.u.s.n; i-- > 0;)
            if (head.u.s.p[i] == ' ') {
                sp = head.u.s.p + i;
                break;
            }
        if (sp)
            head.u.s.n = (size_t)(sp - head.u.s.p);
    }
    return jstr_concat(c, head, end);
}

static jv filter_center(jctx *c, jv s, const jargs *a)
{
    int64_t width = int_arg(c, jargs_get(a, 0, "width", jv_int(80)), "center");
    int64_t n = (int64_t)ju_utf8_count(s.u.s.p, s.u.s.n);
    if (width <= n)
        return s;
    if (width > 65536)
        jfail(c, "center width too large");
    int64_t pad = width - n;
    /* Python puts the extra space on the right, unless both the padding and the width are odd. */
    int64_t left = pad / 2 + (pad & width & 1);
    jbuf b = {0};
    for (int64_t i = 0; i < left; i++)
        jbuf_putc(c, &b, ' ');
    jbuf_put(c, &b, s.u.s.p, s.u.s.n);
    for (int64_t i = 0; i < pad - left; i++)
        jbuf_putc(c, &b, ' ');
    return jv_strn(b.p, b.n);
}

static jv parse_number_str(jctx *c, jv s, bool want_float, bool *ok)
{
    char *text = jstrndup(c, s.u.s.p, s.u.s.n);
    jv t = jstr_strip(jv_cstr(text), NULL, STRIP_BOTH);
    char *clean = jalloc(c, t.u.s.n + 1);
    size_t k = 0;
    for (size_t i = 0; i < t.u.s.n; i++)
        if (t.u.s.p[i] != '_')
            clean[k++] = t.u.s.p[i];
    clean[k] = 0;
    char *end;
    *ok = false;
    if (k == 0)
        return jv_none();
    if (!want_float) {
        long long v = strtoll(clean, &end, 10);
        if (*end == 0) {
            *ok = true;
            return jv_int(v);
        }
    }
    double d = strtod(clean, &end);
    if (*end == 0) {
        *ok = true;
        return want_float ? jv_float(d) : jv_int((int64_t)d);
    }
    return jv_none();
}

/* ---- the filter table ----------------------------------------------------------------------- */

jv jinja_filter(jctx *c, const char *name, jv value, const jargs *a)
{
    jinja_step(c);
    if (!strcmp(name, "tojson"))
        return filter_tojson(c, value, a);
    if (!strcmp(name, "trim")) {
        jv chars = jargs_get(a, 0, "chars", jv_none());
        jv s = soft_str(c, value);
        jv out;
        if (chars.kind == JV_NONE) {
            out = jstr_strip(s, NULL, STRIP_BOTH);
        } else {
            chars = soft_str(c, chars);
            out = jstr_strip(s, &chars, STRIP_BOTH);
        }
        out.safe = s.safe; /* Markup.strip() stays Markup */
        return out;
    }
    if (!strcmp(name, "length") || !strcmp(name, "count"))
        return jv_int(jv_length(c, value));
    if (!strcmp(name, "string"))
        return soft_str(c, value);
    if (!strcmp(name, "lower") || !strcmp(name, "upper") || !strcmp(name, "capitalize")) {
        jv s = soft_str(c, value);
        jv out = name[0] == 'l' ? jstr_lower(c, s) : name[0] == 'u' ? jstr_upper(c, s)
                                                                   : jstr_capitalize(c, s);
        out.safe = s.safe;
        return out;
    }
    if (!strcmp(name, "title"))
        return filter_title(c, soft_str(c, value));
    if (!strcmp(name, "safe"))
        return jv_markup(soft_str(c, value));
    if ((!strcmp(name, "escape") || !strcmp(name, "e")) && value.safe)
        return value;
    if (!strcmp(name, "escape") || !strcmp(name, "e") || !strcmp(name, "forceescape"))
        return jv_markup(jstr_html_escape(c, soft_str(c, value)));
    if (!strcmp(name, "default") || !strcmp(name, "d")) {
        jv def = jargs_get(a, 0, "default_value", jv_strn("", 0));
        bool boolean = jv_truthy(jargs_get(a, 1, "boolean", jv_bool(false)));
        if (value.kind == JV_UNDEF || (boolean && !jv_truthy(value)))
            return def;
        return value;
    }
    if (!strcmp(name, "list")) {
        jlist *items = jv_iterate(c, value);
        jv out = jv_list(c, items->n);
        for (size_t i = 0; i < items->n; i++)
            jlist_push(c, out.u.l, items->items[i]);
        return out;
    }
    if (!strcmp(name, "items")) {
        if (value.kind == JV_UNDEF)
            return generator(c);
        if (value.kind != JV_DICT)
            jfail(c, "Can only get item pairs from a mapping.");
        jv out = generator(c);
        for (size_t i = 0; i < value.u.d->n; i++) {
            jv pair = jv_list(c, 2);
            pair.u.l->tuple = true;
            jlist_push(c, pair.u.l, value.u.d->keys[i]);
            jlist_push(c, pair.u.l, value.u.d->vals[i]);
            jlist_push(c, out.u.l, pair);
        }
        return out;
    }
    if (!strcmp(name, "join")) {
        jv sep = soft_str(c, jargs_get(a, 0, "d", jv_strn("", 0)));
        jv attribute = jargs_get(a, 1, "attribute", jv_none());
        jlist *items = jv_iterate(c, value);
        jbuf b = {0};
        for (size_t i = 0; i < items->n; i++) {
            if (i)
                jbuf_put(c, &b, sep.u.s.p, sep.u.s.n);
            jv item = items->items[i];
            if (attribute.kind != JV_NONE)
                item = attr_get(c, item, attribute);
            jv_write_str(c, &b, item);
        }
        return jv_strn(b.p ? b.p : "", b.n);
    }
    if (!strcmp(name, "first")) {
        jlist *items = jv_iterate(c, value);
        return items->n ? items->items[0] : jv_undef("first item");
    }
    if (!strcmp(name, "last")) {
        if (value.kind == JV_LIST && value.u.l->generator)
            jfail(c, "'generator' object is not reversible");
        jlist *items = jv_iterate(c, value);
        return items->n ? items->items[items->n - 1] : jv_undef("last item");
    }
    if (!strcmp(name, "reverse")) {
        if (value.kind == JV_STR) {
            jlist *chars = jv_iterate(c, value);
            jbuf b = {0};
            for (size_t i = chars->n; i-- > 0;)
                jbuf_put(c, &b, chars->items[i].u.s.p, chars->items[i].u.s.n);
            return jv_strn(b.p ? b.p : "", b.n);
        }
        jlist *items = jv_iterate(c, value);
        jv out = generator(c);
        for (size_t i = items->n; i-- > 0;)
            jlist_push(c, out.u.l, items->items[i]);
        return out;
    }
    if (!strcmp(name, "map"))
        return filter_map(c, value, a);
    if (!strcmp(name, "select"))
        return select_or_reject(c, value, a, false, true);
    if (!strcmp(name, "reject"))
        return select_or_reject(c, value, a, false, false);
    if (!strcmp(name, "selectattr"))
        return select_or_reject(c, value, a, true, true);
    if (!strcmp(name, "rejectattr"))
        return select_or_reject(c, value, a, true, false);
    if (!strcmp(name, "unique")) {
        bool case_sensitive = jv_truthy(jargs_get(a, 0, "case_sensitive", jv_bool(false)));
        jv attribute = jargs_get(a, 1, "attribute", jv_none());
        jlist *items = jv_iterate(c, value);
        jv out = generator(c);
        jv seen = jv_list(c, 0);
        for (size_t i = 0; i < items->n; i++) {
            jv key = items->items[i];
            if (attribute.kind != JV_NONE)
                key = attr_get(c, key, attribute);
            key = fold_case(c, key, case_sensitive);
            if (key.kind == JV_LIST && !key.u.l->tuple)
                jfail(c, "unhashable type: 'list'");
            if (key.kind == JV_DICT || key.kind == JV_UNDEF)
                jfail(c, "unhashable type: '%s'", jv_type_name(key));
            bool dup = false;
            for (size_t k = 0; k < seen.u.l->n && !dup; k++)
                dup = jv_equal(seen.u.l->items[k], key);
            if (!dup) {
                jlist_push(c, seen.u.l, key);
                jlist_push(c, out.u.l, items->items[i]);
            }
        }
        return out;
    }
    if (!strcmp(name, "replace")) {
        if (a->npos < 2)
            jfail(c, "replace needs old and new strings");
        jv count = jargs_get(a, 2, "count", jv_none());
        /* Without autoescape jinja2 replaces on str(value): the result is plain. */
        return jv_plain(jstr_replace(c, soft_str(c, value), soft_str(c, a->pos[0]),
                                     soft_str(c, a->pos[1]),
                                     count.kind == JV_NONE ? -1 : int_arg(c, count, "replace")));
    }
    if (!strcmp(name, "indent"))
        return filter_indent(c, value, a);
    if (!strcmp(name, "sort") || !strcmp(name, "dictsort")) {
        bool dict = name[0] == 'd';
        bool reverse = jv_truthy(jargs_get(a, dict ? 2 : 0, "reverse", jv_bool(false)));
        bool case_sensitive = jv_truthy(jargs_get(a, dict ? 0 : 1, "case_sensitive", jv_bool(false)));
        jv attribute = dict ? jv_none() : jargs_get(a, 2, "attribute", jv_none());
        jv by = dict ? jargs_get(a, 1, "by", jv_cstr("key")) : jv_none();
        jlist *items;
        if (dict) {
            if (value.kind != JV_DICT)
                jfail(c, "You can only sort by either \"key\" or \"value\" of a mapping");
            items = jv_list(c, value.u.d->n).u.l;
            for (size_t i = 0; i < value.u.d->n; i++) {
                jv pair = jv_list(c, 2);
                pair.u.l->tuple = true;
                jlist_push(c, pair.u.l, value.u.d->keys[i]);
                jlist_push(c, pair.u.l, value.u.d->vals[i]);
                jlist_push(c, items, pair);
            }
        } else {
            jlist *src = jv_iterate(c, value);
            items = jv_list(c, src->n).u.l;
            for (size_t i = 0; i < src->n; i++)
                jlist_push(c, items, src->items[i]);
        }
        jv *keys = jalloc(c, (items->n ? items->n : 1) * sizeof(jv));
        bool by_value = by.kind == JV_STR && by.u.s.n == 5 && !memcmp(by.u.s.p, "value", 5);
        for (size_t i = 0; i < items->n; i++) {
            jv k = items->items[i];
            if (dict)
                k = k.u.l->items[by_value ? 1 : 0];
            else if (attribute.kind != JV_NONE)
                k = attr_get(c, k, attribute);
            keys[i] = fold_case(c, k, case_sensitive);
        }
        sort_by_keys(c, items->items, keys, items->n, reverse);
        jv out = {.kind = JV_LIST, .u = {.l = items}};
        return out;
    }
    if (!strcmp(name, "min") || !strcmp(name, "max")) {
        bool case_sensitive = jv_truthy(jargs_get(a, 0, "case_sensitive", jv_bool(false)));
        jv attribute = jargs_get(a, 1, "attribute", jv_none());
        jlist *items = jv_iterate(c, value);
        if (!items->n)
            return jv_undef("min/max of an empty sequence");
        size_t best = 0;
        jv best_key = jv_none();
        for (size_t i = 0; i < items->n; i++) {
            jv k = items->items[i];
            if (attribute.kind != JV_NONE)
                k = attr_get(c, k, attribute);
            k = fold_case(c, k, case_sensitive);
            if (i == 0) {
                best_key = k;
                continue;
            }
            int cmp = jv_compare(c, k, best_key);
            if (name[1] == 'i' ? cmp < 0 : cmp > 0) {
                best = i;
                best_key = k;
            }
        }
        return items->items[best];
    }
    if (!strcmp(name, "sum")) {
        jv attribute = jargs_get(a, 0, "attribute", jv_none());
        jv total = jargs_get(a, 1, "start", jv_int(0));
        jlist *items = jv_iterate(c, value);
        for (size_t i = 0; i < items->n; i++) {
            jv v = items->items[i];
            if (attribute.kind != JV_NONE)
                v = attr_get(c, v, attribute);
            total = jinja_binop(c, OP_ADD, total, v);
        }
        return total;
    }
    if (!strcmp(name, "abs")) {
        if (value.kind == JV_INT)
            return jv_int(value.u.i < 0 ? -value.u.i : value.u.i);
        if (value.kind == JV_BOOL)
            return jv_int(value.u.b);
        if (value.kind == JV_FLOAT)
            return jv_float(fabs(value.u.f));
        jfail(c, "bad operand type for abs(): '%s'", jv_type_name(value));
    }
    if (!strcmp(name, "int") || !strcmp(name, "float")) {
        bool want_float = name[0] == 'f';
        jv def = jargs_get(a, 0, "default", want_float ? jv_float(0) : jv_int(0));
        if (value.kind == JV_UNDEF) /* int(Undefined) raises */
            jfail(c, "'%s' is undefined", value.u.undef_name ? value.u.undef_name : "value");
        if (value.kind == JV_INT || value.kind == JV_BOOL)
            return want_float ? jv_float((double)(value.kind == JV_BOOL ? value.u.b : value.u.i))
                              : jv_int(value.kind == JV_BOOL ? value.u.b : value.u.i);
        if (value.kind == JV_FLOAT) {
            if (want_float)
                return value;
            if (!isfinite(value.u.f) || fabs(value.u.f) > 9.2e18)
                return def;
            return jv_int((int64_t)value.u.f);
        }
        if (value.kind == JV_STR) {
            bool ok;
            jv v = parse_number_str(c, value, want_float, &ok);
            return ok ? v : def;
        }
        return def;
    }
    if (!strcmp(name, "round")) {
        int64_t precision = int_arg(c, jargs_get(a, 0, "precision", jv_int(0)), "round");
        jv method = soft_str(c, jargs_get(a, 1, "method", jv_cstr("common")));
        double x = jv_as_double(value);
        if (!jv_is_number(value))
            jfail(c, "round: expected a number, got '%s'", jv_type_name(value));
        double scale = pow(10.0, (double)precision);
        double r;
        if (method.u.s.n == 4 && !memcmp(method.u.s.p, "ceil", 4))
            r = ceil(x * scale) / scale;
        else if (method.u.s.n == 5 && !memcmp(method.u.s.p, "floor", 5))
            r = floor(x * scale) / scale;
        else if (method.u.s.n == 6 && !memcmp(method.u.s.p, "common", 6))
            r = nearbyint(x * scale) / scale; /* Python's round: halves to even */
        else
            jfail(c, "method must be 'common', 'ceil' or 'floor'");
        if (value.kind != JV_FLOAT && method.u.s.n == 6)
            return jv_int((int64_t)r);
        return jv_float(r);
    }
    if (!strcmp(name, "wordcount")) {
        jv s = soft_str(c, value);
        int64_t words = 0;
        bool in_word = false;
        size_t i = 0;
        while (i < s.u.s.n) {
            uint32_t cp = ju_utf8_next(s.u.s.p, s.u.s.n, &i);
            bool w = cp == '_' || (cp >= '0' && cp <= '9') || (cp < 0x80 ? ((cp | 32) >= 'a' && (cp | 32) <= 'z') : !ju_isspace(cp));
            if (w && !in_word)
                words++;
            in_word = w;
        }
        return jv_int(words);
    }
    if (!strcmp(name, "truncate"))
        return filter_truncate(c, soft_str(c, value), a);
    if (!strcmp(name, "center"))
        return filter_center(c, soft_str(c, value), a);
    if (!strcmp(name, "attr")) {
        jv attr = soft_str(c, jargs_get(a, 0, "name", jv_strn("", 0)));
        return jinja_getattr(c, value, jstrndup(c, attr.u.s.p, attr.u.s.n));
    }
    if (!strcmp(name, "format")) {
        jv args = jv_list(c, (size_t)a->npos);
        args.u.l->tuple = true;
        for (int i = 0; i < a->npos; i++)
            jlist_push(c, args.u.l, a->pos[i]);
        return jinja_binop(c, OP_MOD, soft_str(c, value), args);
    }
    if (!strcmp(name, "batch") || !strcmp(name, "slice")) {
        int64_t k = int_arg(c, jargs_get(a, 0, name[0] == 'b' ? "linecount" : "slices", jv_int(1)), name);
        jv fill = jargs_get(a, 1, "fill_with", jv_none());
        if (k <= 0)
            jfail(c, "%s: count must be positive", name);
        jlist *items = jv_iterate(c, value);
        jv out = generator(c);
        size_t n = items->n;
        if (name[0] == 'b') {
            for (size_t i = 0; i < n; i += (size_t)k) {
                jv row = jv_list(c, (size_t)k);
                for (size_t j = i; j < i + (size_t)k; j++) {
                    if (j < n)
                        jlist_push(c, row.u.l, items->items[j]);
                    else if (fill.kind != JV_NONE)
                        jlist_push(c, row.u.l, fill);
                }
                jlist_push(c, out.u.l, row);
            }
            return out;
        }
        size_t per = n / (size_t)k, extra = n % (size_t)k, offset = 0;
        for (size_t s = 0; s < (size_t)k; s++) {
            size_t start = offset + s * per, end = start + per;
            if (s < extra) {
                offset++;
                end++;
            }
            jv row = jv_list(c, per + 1);
            for (size_t j = start; j < end; j++)
                jlist_push(c, row.u.l, items->items[j]);
            if (fill.kind != JV_NONE && s >= extra && extra)
                jlist_push(c, row.u.l, fill);
            jlist_push(c, out.u.l, row);
        }
        return out;
    }
    if (!strcmp(name, "pprint")) {
        jbuf b = {0};
        jv_write_repr(c, &b, value);
        return jv_strn(b.p ? b.p : "", b.n);
    }
    jfail(c, "no filter named '%s'", name);
}

/* ---- tests ------------------------------------------------------------------------------------- */

static bool is_int_value(jv v) { return v.kind == JV_INT; }

bool jinja_test(jctx *c, const char *name, jv v, const jargs *a)
{
    jv arg = jargs_get(a, 0, NULL, jv_undef(NULL));
    if (!strcmp(name, "defined"))
        return v.kind != JV_UNDEF;
    if (!strcmp(name, "undefined"))
        return v.kind == JV_UNDEF;
    if (!strcmp(name, "none"))
        return v.kind == JV_NONE;
    if (!strcmp(name, "string"))
        return v.kind == JV_STR;
    if (!strcmp(name, "mapping"))
        return v.kind == JV_DICT;
    if (!strcmp(name, "iterable"))
        return v.kind == JV_STR || v.kind == JV_LIST || v.kind == JV_DICT || v.kind == JV_UNDEF;
    if (!strcmp(name, "sequence"))
        return v.kind == JV_STR || (v.kind == JV_LIST && !v.u.l->generator) ||
               v.kind == JV_DICT || v.kind == JV_UNDEF;
    if (!strcmp(name, "number"))
        return jv_is_number(v);
    if (!strcmp(name, "integer"))
        return is_int_value(v);
    if (!strcmp(name, "float"))
        return v.kind == JV_FLOAT;
    if (!strcmp(name, "boolean"))
        return v.kind == JV_BOOL;
    if (!strcmp(name, "true"))
        return v.kind == JV_BOOL && v.u.b;
    if (!strcmp(name, "false"))
        return v.kind == JV_BOOL && !v.u.b;
    if (!strcmp(name, "callable"))
        return v.kind == JV_FUNC || v.kind == JV_LOOP || v.kind == JV_UNDEF;
    if (!strcmp(name, "odd") || !strcmp(name, "even")) /* value % 2 == 1 (or 0) */
        return jv_equal(jinja_binop(c, OP_MOD, v, jv_int(2)), jv_int(name[0] == 'o'));
    if (!strcmp(name, "divisibleby")) {
        jv r = jinja_binop(c, OP_MOD, v, arg);
        return !jv_truthy(r);
    }
    if (!strcmp(name, "eq") || !strcmp(name, "equalto") || !strcmp(name, "=="))
        return jv_equal(v, arg);
    if (!strcmp(name, "ne") || !strcmp(name, "!="))
        return !jv_equal(v, arg);
    if (!strcmp(name, "lt") || !strcmp(name, "lessthan") || !strcmp(name, "<"))
        return jv_compare(c, v, arg) < 0;
    if (!strcmp(name, "le") || !strcmp(name, "<="))
        return jv_compare(c, v, arg) <= 0;
    if (!strcmp(name, "gt") || !strcmp(name, "greaterthan") || !strcmp(name, ">"))
        return jv_compare(c, v, arg) > 0;
    if (!strcmp(name, "ge") || !strcmp(name, ">="))
        return jv_compare(c, v, arg) >= 0;
    if (!strcmp(name, "in")) {
        if (arg.kind == JV_STR) {
            if (v.kind != JV_STR)
                jfail(c, "'in <string>' requires string as left operand");
            return jstr_find(arg, v, false) >= 0;
        }
        if (arg.kind == JV_DICT)
            return jdict_get(arg.u.d, v, NULL);
        jlist *items = jv_iterate(c, arg);
        for (size_t i = 0; i < items->n; i++)
            if (jv_equal(items->items[i], v))
                return true;
        return false;
    }
    if (!strcmp(name, "lower") || !strcmp(name, "upper")) {
        jv s = soft_str(c, v);
        jv conv = name[0] == 'l' ? jstr_lower(c, s) : jstr_upper(c, s);
        bool has_cased = false;
        size_t i = 0;
        while (i < s.u.s.n)
            if (ju_iscased(ju_utf8_next(s.u.s.p, s.u.s.n, &i)))
                has_cased = true;
        return has_cased && jv_equal(conv, s);
    }
    if (!strcmp(name, "sameas")) {
        if (v.kind != arg.kind)
            return false;
        switch (v.kind) {
        case JV_NONE:
        case JV_UNDEF:
            return v.kind == JV_NONE;
        case JV_BOOL:
            return v.u.b == arg.u.b;
        case JV_INT:
            return v.u.i == arg.u.i && v.u.i >= -5 && v.u.i <= 256;
        case JV_STR:
            return v.u.s.p == arg.u.s.p && v.u.s.n == arg.u.s.n;
        case JV_LIST:
            return v.u.l == arg.u.l;
        case JV_DICT:
        case JV_NS:
            return v.u.d == arg.u.d;
        default:
            return jv_equal(v, arg);
        }
    }
    if (!strcmp(name, "escaped"))
        return false;
    jfail(c, "no test named '%s'", name);
}
