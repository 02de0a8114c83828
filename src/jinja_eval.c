/* The tree-walking evaluator: scopes, statements, expressions, macros, loops,
 * attribute and item access with jinja2's sandboxed semantics, and the
 * jinja_render entry point. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja_internal.h"

struct jscope {
    jscope *parent;
    jdict vars;
};

enum { CTL_NONE = 0, CTL_BREAK = 1, CTL_CONTINUE = 2 };

static jv eval(jctx *c, const jnode *n);
static int exec(jctx *c, const jnode *n);

/* ---- accounting ------------------------------------------------------------------------ */

void jinja_step(jctx *c)
{
    if (++c->steps > JINJA_MAX_STEPS)
        jfail(c, "template takes too long to render");
}

void jinja_enter(jctx *c)
{
    if (++c->depth > JINJA_MAX_DEPTH)
        jfail(c, "template recursion too deep");
}

void jinja_leave(jctx *c) { c->depth--; }

/* ---- scopes ------------------------------------------------------------------------------ */

static jscope *scope_new(jctx *c, jscope *parent)
{
    jscope *s = jalloc(c, sizeof *s);
    s->parent = parent;
    return s;
}

static void scope_set(jctx *c, jscope *s, const char *name, jv v)
{
    jdict_set(c, &s->vars, jv_cstr(name), v);
}

static jv lookup(jctx *c, const char *name)
{
    size_t len = strlen(name);
    for (jscope *s = c->scope; s; s = s->parent) {
        jv v;
        if (jdict_get_str(&s->vars, name, len, &v))
            return v;
    }
    if (jinja_has_global(name)) {
        jfunc *fn = jalloc(c, sizeof *fn);
        fn->kind = FN_GLOBAL;
        fn->name = name;
        jv v = {.kind = JV_FUNC, .u = {.fn = fn}};
        return v;
    }
    return jv_undef(name);
}

JINJA_NORETURN static void fail_undefined(jctx *c, jv v)
{
    if (v.u.undef_name)
        jfail(c, "'%s' is undefined", v.u.undef_name);
    jfail(c, "undefined value used");
}

/* ---- output capture ------------------------------------------------------------------------- */

static jv capture(jctx *c, const jnode *body)
{
    jbuf b = {0};
    jbuf *saved = c->out;
    c->out = &b;
    exec(c, body);
    c->out = saved;
    return jv_strn(b.p ? b.p : "", b.n);
}

/* ---- attribute and item access -------------------------------------------------------------- */

static jv bound_method(jctx *c, jv self, const char *name)
{
    jfunc *fn = jalloc(c, sizeof *fn);
    fn->kind = FN_METHOD;
    fn->name = name;
    fn->self = self;
    jv v = {.kind = JV_FUNC, .u = {.fn = fn}};
    return v;
}

static jv loop_attr(jctx *c, jloop *l, const char *name)
{
    size_t n = l->items->n, i = l->index0;
    if (!strcmp(name, "index"))
        return jv_int((int64_t)i + 1);
    if (!strcmp(name, "index0"))
        return jv_int((int64_t)i);
    if (!strcmp(name, "revindex"))
        return jv_int((int64_t)(n - i));
    if (!strcmp(name, "revindex0"))
        return jv_int((int64_t)(n - i - 1));
    if (!strcmp(name, "first"))
        return jv_bool(i == 0);
    if (!strcmp(name, "last"))
        return jv_bool(i + 1 == n);
    if (!strcmp(name, "length"))
        return jv_int((int64_t)n);
    if (!strcmp(name, "depth"))
        return jv_int(l->depth0 + 1);
    if (!strcmp(name, "depth0"))
        return jv_int(l->depth0);
    if (!strcmp(name, "previtem"))
        return i > 0 ? l->items->items[i - 1] : jv_undef("previtem");
    if (!strcmp(name, "nextitem"))
        return i + 1 < n ? l->items->items[i + 1] : jv_undef("nextitem");
    if (!strcmp(name, "cycle") || !strcmp(name, "changed")) {
        jv self = {.kind = JV_LOOP, .u = {.loop = l}};
        return bound_method(c, self, name);
    }
    return jv_undef(name);
}

jv jinja_getattr(jctx *c, jv obj, const char *name)
{
    switch (obj.kind) {
    case JV_UNDEF:
        fail_undefined(c, obj);
    case JV_DICT:
    case JV_NS: {
        /* Like Python's getattr first: dict methods win over keys. */
        if (obj.kind == JV_DICT && jinja_method_exists(obj, name))
            return bound_method(c, obj, name);
        jv v;
        if (jdict_get_str(obj.u.d, name, strlen(name), &v))
            return v;
        return jv_undef(name);
    }
    case JV_LOOP:
        return loop_attr(c, obj.u.loop, name);
    default:
        if (jinja_method_exists(obj, name))
            return bound_method(c, obj, name);
        return jv_undef(name);
    }
}

/* Python's slice index normalization for a sequence of length len. */
static void slice_bounds(jctx *c, const jnode *sl, int64_t len, int64_t *start, int64_t *stop,
                         int64_t *step)
{
    jv vals[3];
    const jnode *parts[3] = {sl->a, sl->b, sl->c};
    for (int k = 0; k < 3; k++) {
        vals[k] = parts[k] ? eval(c, parts[k]) : jv_none();
        if (vals[k].kind != JV_NONE && vals[k].kind != JV_INT && vals[k].kind != JV_BOOL)
            jfail(c, "slice indices must be integers or None");
    }
    *step = vals[2].kind == JV_NONE ? 1 : vals[2].kind == JV_BOOL ? vals[2].u.b : vals[2].u.i;
    if (*step == 0)
        jfail(c, "slice step cannot be zero");
    bool back = *step < 0;
    int64_t *out[2] = {start, stop};
    for (int k = 0; k < 2; k++) {
        jv v = vals[k];
        int64_t x;
        if (v.kind == JV_NONE) {
            x = k == 0 ? (back ? len - 1 : 0) : (back ? -1 : len);
        } else {
            x = v.kind == JV_BOOL ? v.u.b : v.u.i;
            if (x < 0) {
                x += len;
                if (x < 0)
                    x = back ? -1 : 0;
            } else if (x >= len) {
                x = back ? len - 1 : len;
            }
        }
        *out[k] = x;
    }
}

static jv slice_value(jctx *c, jv obj, const jnode *sl)
{
    int64_t start, stop, step;
    if (obj.kind == JV_LIST && !obj.u.l->generator) {
        jlist *l = obj.u.l;
        slice_bounds(c, sl, (int64_t)l->n, &start, &stop, &step);
        jv out = jv_list(c, 0);
        out.u.l->tuple = l->tuple;
        for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step)
            jlist_push(c, out.u.l, l->items[i]);
        return out;
    }
    if (obj.kind == JV_STR) {
        const char *p = obj.u.s.p;
        size_t n = obj.u.s.n;
        int64_t len = (int64_t)ju_utf8_count(p, n);
        slice_bounds(c, sl, len, &start, &stop, &step);
        if (step == 1) {
            if (stop <= start)
                return jv_strn("", 0);
            size_t a = ju_utf8_offset(p, n, (size_t)start);
            size_t b = a + ju_utf8_offset(p + a, n - a, (size_t)(stop - start));
            return jv_strn(p + a, b - a);
        }
        /* General step: index the code points first. */
        size_t *offs = jalloc(c, ((size_t)len + 1) * sizeof *offs);
        size_t i = 0, k = 0;
        while (i < n) {
            offs[k++] = i;
            ju_utf8_next(p, n, &i);
        }
        offs[k] = n;
        jbuf b = {0};
        for (int64_t j = start; step > 0 ? j < stop : j > stop; j += step)
            jbuf_put(c, &b, p + offs[j], offs[j + 1] - offs[j]);
        return jv_strn(b.p ? b.p : "", b.n);
    }
    /* jinja2 compiles slices to a plain Python subscript: anything else raises. */
    if (obj.kind == JV_UNDEF)
        fail_undefined(c, obj);
    jfail(c, "'%s' object is not subscriptable", jv_type_name(obj));
}

jv jinja_getitem(jctx *c, jv obj, jv key)
{
    switch (obj.kind) {
    case JV_UNDEF:
        fail_undefined(c, obj);
    case JV_DICT:
    case JV_NS: {
        jv v;
        if (jdict_get(obj.u.d, key, &v))
            return v;
        if (key.kind == JV_STR && obj.kind == JV_DICT) {
            char *name = jstrndup(c, key.u.s.p, key.u.s.n);
            if (jinja_method_exists(obj, name))
                return bound_method(c, obj, name);
            return jv_undef(name);
        }
        return jv_undef(NULL);
    }
    case JV_LIST:
        if (!obj.u.l->generator && (key.kind == JV_INT || key.kind == JV_BOOL)) {
            int64_t i = key.kind == JV_BOOL ? key.u.b : key.u.i;
            int64_t n = (int64_t)obj.u.l->n;
            if (i < 0)
                i += n;
            if (i >= 0 && i < n)
                return obj.u.l->items[i];
        }
        break;
    case JV_STR:
        if (key.kind == JV_INT || key.kind == JV_BOOL) {
            bool ok;
            jv ch = jstr_slice_index(c, obj, key.kind == JV_BOOL ? key.u.b : key.u.i, &ok);
            if (ok)
                return ch;
        }
        break;
    case JV_LOOP:
        if (key.kind == JV_STR)
            return loop_attr(c, obj.u.loop, jstrndup(c, key.u.s.p, key.u.s.n));
        break;
    default:
        break;
    }
    if (key.kind == JV_STR) {
        char *name = jstrndup(c, key.u.s.p, key.u.s.n);
        if (jinja_method_exists(obj, name))
            return bound_method(c, obj, name);
        return jv_undef(name);
    }
    return jv_undef(NULL);
}

/* ---- operators -------------------------------------------------------------------------------- */

static bool is_intlike(jv v) { return v.kind == JV_INT || v.kind == JV_BOOL; }
static int64_t intval(jv v) { return v.kind == JV_BOOL ? v.u.b : v.u.i; }

JINJA_NORETURN static void fail_operands(jctx *c, const char *op, jv a, jv b)
{
    if (a.kind == JV_STR && !strcmp(op, "+"))
        jfail(c, "can only concatenate str (not \"%s\") to str", jv_type_name(b));
    jfail(c, "unsupported operand type(s) for %s: '%s' and '%s'", op, jv_type_name(a),
          jv_type_name(b));
}

static jv repeat(jctx *c, jv seq, int64_t times)
{
    if (times < 0)
        times = 0;
    if (seq.kind == JV_STR) {
        if (seq.u.s.n && (uint64_t)times > JINJA_MAX_OUTPUT / seq.u.s.n)
            jfail(c, "string too long");
        jbuf b = {0};
        for (int64_t i = 0; i < times; i++)
            jbuf_put(c, &b, seq.u.s.p, seq.u.s.n);
        jv out = jv_strn(b.p ? b.p : "", b.n);
        out.safe = seq.safe;
        return out;
    }
    jlist *l = seq.u.l;
    if (l->n && (uint64_t)times > (JINJA_MAX_OUTPUT / 16) / l->n)
        jfail(c, "list too long");
    jv out = jv_list(c, l->n * (size_t)times);
    out.u.l->tuple = l->tuple;
    for (int64_t i = 0; i < times; i++)
        for (size_t k = 0; k < l->n; k++)
            jlist_push(c, out.u.l, l->items[k]);
    return out;
}

/* printf-style "%s" % args, the common subset of Python's str formatting. */
static jv percent_format(jctx *c, jv fmt, jv args)
{
    jlist *list = NULL;
    size_t next = 0;
    if (args.kind == JV_LIST && args.u.l->tuple)
        list = args.u.l;
    jbuf b = {0};
    const char *p = fmt.u.s.p, *end = p + fmt.u.s.n;
    bool used_single = false;
    while (p < end) {
        if (*p != '%') {
            jbuf_putc(c, &b, *p++);
            continue;
        }
        p++;
        if (p >= end)
            jfail(c, "incomplete format");
        char conv = *p++;
        if (conv == '%') {
            jbuf_putc(c, &b, '%');
            continue;
        }
        jv arg;
        if (list) {
            if (next >= list->n)
                jfail(c, "not enough arguments for format string");
            arg = list->items[next++];
        } else {
            if (used_single)
                jfail(c, "not enough arguments for format string");
            arg = args;
            used_single = true;
        }
        if (conv == 's') {
            jv_write_str(c, &b, arg);
        } else if (conv == 'r') {
            jv_write_repr(c, &b, arg);
        } else if (conv == 'd' || conv == 'i') {
            if (!jv_is_number(arg))
                jfail(c, "%%d format: a real number is required, not %s", jv_type_name(arg));
            jbuf_printf(c, &b, "%lld",
                        (long long)(arg.kind == JV_FLOAT ? (int64_t)arg.u.f : intval(arg)));
        } else {
            jfail(c, "unsupported format character '%c'", conv);
        }
    }
    /* A mapping argument may go unused, as in Python. */
    if ((list && next < list->n) || (!list && !used_single && args.kind != JV_DICT))
        jfail(c, "not all arguments converted during string formatting");
    return jv_strn(b.p ? b.p : "", b.n);
}

jv jinja_binop(jctx *c, int op, jv a, jv b)
{
    static const char *const names[] = {"+", "-", "*", "/", "//", "%", "**"};
    if (a.kind == JV_UNDEF)
        fail_undefined(c, a);
    if (b.kind == JV_UNDEF)
        fail_undefined(c, b);
    bool nums = jv_is_number(a) && jv_is_number(b);
    bool ints = is_intlike(a) && is_intlike(b);
    switch (op) {
    case OP_ADD:
        if (ints) {
            int64_t r;
            if (__builtin_add_overflow(intval(a), intval(b), &r))
                jfail(c, "integer overflow");
            return jv_int(r);
        }
        if (nums)
            return jv_float(jv_as_double(a) + jv_as_double(b));
        if (a.kind == JV_STR && b.kind == JV_STR) {
            if (a.safe || b.safe) { /* Markup + str escapes the str */
                jv x = a.safe ? a : jstr_html_escape(c, a);
                jv y = b.safe ? b : jstr_html_escape(c, b);
                return jv_markup(jstr_concat(c, x, y));
            }
            return jv_plain(jstr_concat(c, a, b));
        }
        if (a.kind == JV_LIST && b.kind == JV_LIST && !a.u.l->generator && !b.u.l->generator &&
            a.u.l->tuple == b.u.l->tuple) {
            jv out = jv_list(c, a.u.l->n + b.u.l->n);
            out.u.l->tuple = a.u.l->tuple;
            for (size_t i = 0; i < a.u.l->n; i++)
                jlist_push(c, out.u.l, a.u.l->items[i]);
            for (size_t i = 0; i < b.u.l->n; i++)
                jlist_push(c, out.u.l, b.u.l->items[i]);
            return out;
        }
        break;
    case OP_SUB:
        if (ints) {
            int64_t r;
            if (__builtin_sub_overflow(intval(a), intval(b), &r))
                jfail(c, "integer overflow");
            return jv_int(r);
        }
        if (nums)
            return jv_float(jv_as_double(a) - jv_as_double(b));
        break;
    case OP_MUL:
        if (ints) {
            int64_t r;
            if (__builtin_mul_overflow(intval(a), intval(b), &r))
                jfail(c, "integer overflow");
            return jv_int(r);
        }
        if (nums)
            return jv_float(jv_as_double(a) * jv_as_double(b));
        if ((a.kind == JV_STR || (a.kind == JV_LIST && !a.u.l->generator)) && is_intlike(b))
            return repeat(c, a, intval(b));
        if ((b.kind == JV_STR || (b.kind == JV_LIST && !b.u.l->generator)) && is_intlike(a))
            return repeat(c, b, intval(a));
        break;
    case OP_DIV:
        if (nums) {
            if (jv_as_double(b) == 0)
                jfail(c, "division by zero");
            return jv_float(jv_as_double(a) / jv_as_double(b));
        }
        break;
    case OP_FLOORDIV:
    case OP_MOD:
        if (ints) {
            int64_t x = intval(a), y = intval(b);
            if (y == 0)
                jfail(c, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1)
                jfail(c, "integer overflow");
            int64_t q = x / y, r = x % y;
            if (r != 0 && ((r < 0) != (y < 0))) {
                q -= 1;
                r += y;
            }
            return jv_int(op == OP_FLOORDIV ? q : r);
        }
        if (nums) {
            double x = jv_as_double(a), y = jv_as_double(b);
            if (y == 0)
                jfail(c, "float division by zero");
            double r = fmod(x, y);
            if (r != 0 && ((r < 0) != (y < 0)))
                r += y;
            if (op == OP_MOD)
                return jv_float(r);
            return jv_float(floor(x / y));
        }
        if (op == OP_MOD && a.kind == JV_STR)
            return percent_format(c, a, b);
        break;
    case OP_POW:
        if (ints && intval(b) >= 0) {
            int64_t base = intval(a), e = intval(b), r = 1;
            while (e-- > 0)
                if (__builtin_mul_overflow(r, base, &r))
                    jfail(c, "integer overflow");
            return jv_int(r);
        }
        if (nums)
            return jv_float(pow(jv_as_double(a), jv_as_double(b)));
        break;
    default:
        break;
    }
    fail_operands(c, names[op], a, b);
}

static bool contains(jctx *c, jv container, jv item)
{
    switch (container.kind) {
    case JV_STR:
        if (item.kind != JV_STR)
            jfail(c, "'in <string>' requires string as left operand, not %s", jv_type_name(item));
        if (item.u.s.n == 0)
            return true;
        for (size_t i = 0; i + item.u.s.n <= container.u.s.n; i++)
            if (memcmp(container.u.s.p + i, item.u.s.p, item.u.s.n) == 0)
                return true;
        return false;
    case JV_LIST: {
        jlist *l = jv_iterate(c, container);
        for (size_t i = 0; i < l->n; i++)
            if (jv_equal(l->items[i], item))
                return true;
        return false;
    }
    case JV_DICT:
        return jdict_get(container.u.d, item, NULL);
    case JV_UNDEF:
        return false;
    default:
        jfail(c, "argument of type '%s' is not iterable", jv_type_name(container));
    }
}

static bool compare_op(jctx *c, int op, jv a, jv b)
{
    switch (op) {
    case OP_EQ: return jv_equal(a, b);
    case OP_NE: return !jv_equal(a, b);
    case OP_LT: return jv_compare(c, a, b) < 0;
    case OP_LE: return jv_compare(c, a, b) <= 0;
    case OP_GT: return jv_compare(c, a, b) > 0;
    case OP_GE: return jv_compare(c, a, b) >= 0;
    case OP_IN: return contains(c, b, a);
    case OP_NOTIN: return !contains(c, b, a);
    default: return false;
    }
}

/* ---- calls ------------------------------------------------------------------------------------ */

jv jargs_get(const jargs *a, int index, const char *name, jv def)
{
    if (index >= 0 && index < a->npos)
        return a->pos[index];
    for (int i = 0; name && i < a->nkw; i++)
        if (!strcmp(a->kw_names[i], name))
            return a->kw_vals[i];
    return def;
}

static void eval_args(jctx *c, const jnode *n, jargs *out)
{
    out->npos = n->n;
    out->pos = n->n ? jalloc(c, (size_t)n->n * sizeof(jv)) : NULL;
    for (int i = 0; i < n->n; i++)
        out->pos[i] = eval(c, n->items[i]);
    out->nkw = n->nkw;
    out->kw_names = n->kw_names;
    out->kw_vals = n->nkw ? jalloc(c, (size_t)n->nkw * sizeof(jv)) : NULL;
    for (int i = 0; i < n->nkw; i++)
        out->kw_vals[i] = eval(c, n->kw_vals[i]);
}

/* Runs a macro (or a call block's caller) with Python-style argument binding. */
static jv call_macro(jctx *c, const jfunc *fn, const jargs *args, jv caller)
{
    const jnode *m = fn->macro;
    jinja_enter(c);
    jinja_step(c);
    jscope *scope = scope_new(c, c->root);
    jscope *saved = c->scope;
    c->scope = scope;
    bool *used_kw = args->nkw ? jalloc(c, (size_t)args->nkw * sizeof(bool)) : NULL;
    for (int i = 0; i < m->n; i++) {
        const char *pname = m->items[i]->name;
        jv v;
        bool have = false;
        if (i < args->npos) {
            v = args->pos[i];
            have = true;
        }
        for (int k = 0; k < args->nkw; k++) {
            if (!strcmp(args->kw_names[k], pname)) {
                if (have)
                    jfail(c, "macro '%s' got multiple values for argument '%s'", fn->name, pname);
                v = args->kw_vals[k];
                have = true;
                used_kw[k] = true;
            }
        }
        if (!have)
            v = (i < m->nkw && m->kw_vals[i]) ? eval(c, m->kw_vals[i]) : jv_undef(pname);
        scope_set(c, scope, pname, v);
    }
    jv varargs = jv_list(c, 0);
    varargs.u.l->tuple = true;
    for (int i = m->n; i < args->npos; i++)
        jlist_push(c, varargs.u.l, args->pos[i]);
    jv kwargs = jv_dict(c);
    for (int k = 0; k < args->nkw; k++)
        if (!used_kw[k])
            jdict_set(c, kwargs.u.d, jv_cstr(args->kw_names[k]), args->kw_vals[k]);
    scope_set(c, scope, "varargs", varargs);
    scope_set(c, scope, "kwargs", kwargs);
    if (caller.kind != JV_UNDEF)
        scope_set(c, scope, "caller", caller);
    jv out = capture(c, m->body);
    c->scope = saved;
    jinja_leave(c);
    return out;
}

static jv run_loop(jctx *c, const jnode *n, jv iterable, int depth0);

jv jinja_call(jctx *c, jv fn, const jargs *args)
{
    if (fn.kind == JV_UNDEF)
        fail_undefined(c, fn);
    if (fn.kind == JV_LOOP) {
        /* loop(children) inside a recursive for: render the body for them. */
        if (!fn.u.loop->node->flag)
            jfail(c, "the loop is not recursive");
        if (args->npos != 1)
            jfail(c, "loop() takes exactly one argument");
        return run_loop(c, fn.u.loop->node, args->pos[0], fn.u.loop->depth0 + 1);
    }
    if (fn.kind != JV_FUNC)
        jfail(c, "'%s' object is not callable", jv_type_name(fn));
    switch (fn.u.fn->kind) {
    case FN_MACRO:
        return call_macro(c, fn.u.fn, args, fn.u.fn->caller);
    case FN_GLOBAL:
        return jinja_call_global(c, fn.u.fn->name, args);
    case FN_METHOD:
        return jinja_call_method(c, fn.u.fn->self, fn.u.fn->name, args);
    }
    return jv_undef(NULL);
}

static jv eval_call(jctx *c, const jnode *n)
{
    jargs args;
    /* obj.method(...) calls the method without building a bound value. */
    if (n->a->kind == N_GETATTR) {
        jv obj = eval(c, n->a->a);
        if (obj.kind != JV_UNDEF && obj.kind != JV_NS && obj.kind != JV_LOOP &&
            jinja_method_exists(obj, n->a->name)) {
            eval_args(c, n, &args);
            return jinja_call_method(c, obj, n->a->name, &args);
        }
        jv fn = jinja_getattr(c, obj, n->a->name);
        eval_args(c, n, &args);
        return jinja_call(c, fn, &args);
    }
    jv fn = eval(c, n->a);
    eval_args(c, n, &args);
    return jinja_call(c, fn, &args);
}

/* Applies a filter chain whose innermost operand is NULL (filter blocks and
 * {% set x | f %}) to value. */
static jv apply_filter_chain(jctx *c, const jnode *f, jv value)
{
    jv input = f->a ? apply_filter_chain(c, f->a, value) : value;
    jargs args;
    eval_args(c, f, &args);
    return jinja_filter(c, f->name, input, &args);
}

/* ---- expressions -------------------------------------------------------------------------------- */

static jv eval_inner(jctx *c, const jnode *n)
{
    switch (n->kind) {
    case N_CONST:
        return n->value;
    case N_NAME:
        return lookup(c, n->name);
    case N_GETATTR:
        return jinja_getattr(c, eval(c, n->a), n->name);
    case N_GETITEM: {
        jv obj = eval(c, n->a);
        if (n->b->kind == N_SLICE)
            return slice_value(c, obj, n->b);
        return jinja_getitem(c, obj, eval(c, n->b));
    }
    case N_CALL:
        return eval_call(c, n);
    case N_FILTER: {
        jv value = eval(c, n->a);
        jargs args;
        eval_args(c, n, &args);
        return jinja_filter(c, n->name, value, &args);
    }
    case N_TEST: {
        jv value = eval(c, n->a);
        jargs args;
        eval_args(c, n, &args);
        return jv_bool(jinja_test(c, n->name, value, &args));
    }
    case N_BINOP: {
        jv a = eval(c, n->a);
        jv b = eval(c, n->b);
        return jinja_binop(c, n->op, a, b);
    }
    case N_NEG:
    case N_POS: {
        jv v = eval(c, n->a);
        if (v.kind == JV_UNDEF)
            fail_undefined(c, v);
        if (is_intlike(v)) {
            if (n->kind == N_POS)
                return jv_int(intval(v));
            if (intval(v) == INT64_MIN)
                jfail(c, "integer overflow");
            return jv_int(-intval(v));
        }
        if (v.kind == JV_FLOAT)
            return jv_float(n->kind == N_NEG ? -v.u.f : v.u.f);
        jfail(c, "bad operand type for unary %c: '%s'", n->kind == N_NEG ? '-' : '+',
              jv_type_name(v));
    }
    case N_NOT:
        return jv_bool(!jv_truthy(eval(c, n->a)));
    case N_AND: {
        jv l = eval(c, n->a);
        return jv_truthy(l) ? eval(c, n->b) : l;
    }
    case N_OR: {
        jv l = eval(c, n->a);
        return jv_truthy(l) ? l : eval(c, n->b);
    }
    case N_COMPARE: {
        jv left = eval(c, n->a);
        for (int i = 0; i < n->n; i++) {
            jv right = eval(c, n->items[i]);
            if (!compare_op(c, n->ops[i], left, right))
                return jv_bool(false);
            left = right;
        }
        return jv_bool(true);
    }
    case N_CONDEXPR:
        if (jv_truthy(eval(c, n->a)))
            return eval(c, n->b);
        return n->c ? eval(c, n->c) : jv_undef(NULL);
    case N_LIST:
    case N_TUPLE: {
        jv l = jv_list(c, (size_t)n->n);
        l.u.l->tuple = n->kind == N_TUPLE;
        for (int i = 0; i < n->n; i++)
            jlist_push(c, l.u.l, eval(c, n->items[i]));
        return l;
    }
    case N_DICT: {
        jv d = jv_dict(c);
        for (int i = 0; i < n->n; i++) {
            jv k = eval(c, n->items[i]);
            jdict_set(c, d.u.d, k, eval(c, n->kw_vals[i]));
        }
        return d;
    }
    case N_CONCAT: {
        jbuf b = {0};
        for (int i = 0; i < n->n; i++)
            jv_write_str(c, &b, eval(c, n->items[i]));
        return jv_strn(b.p ? b.p : "", b.n);
    }
    case N_SLICE:
        jfail(c, "unexpected slice");
    default:
        jfail(c, "not an expression");
    }
}

static jv eval(jctx *c, const jnode *n)
{
    jinja_enter(c);
    int saved_line = c->line;
    c->line = n->line;
    jv v = eval_inner(c, n);
    c->line = saved_line;
    jinja_leave(c);
    return v;
}

/* ---- statements --------------------------------------------------------------------------------- */

static void assign(jctx *c, const jnode *target, jv value)
{
    if (target->kind == N_NAME) {
        scope_set(c, c->scope, target->name, value);
        return;
    }
    if (target->kind == N_NSREF) {
        jv ns = lookup(c, target->a->name);
        if (ns.kind != JV_NS)
            jfail(c, "can't assign attribute '%s' on a non-namespace object", target->name);
        jdict_set(c, ns.u.d, jv_cstr(target->name), value);
        return;
    }
    /* Tuple unpacking. */
    jlist *items = jv_iterate(c, value);
    if (items->n != (size_t)target->n)
        jfail(c, items->n > (size_t)target->n ? "too many values to unpack (expected %d)"
                                              : "not enough values to unpack (expected %d)",
              target->n);
    for (int i = 0; i < target->n; i++)
        scope_set(c, c->scope, target->items[i]->name, items->items[i]);
}

static jv run_loop(jctx *c, const jnode *n, jv iterable, int depth0)
{
    jlist *items = jv_iterate(c, iterable);
    jscope *outer = c->scope;
    if (n->c) {
        /* {% for x in xs if cond %}: filter first, so loop.length counts survivors. */
        jlist *kept = jv_list(c, items->n).u.l;
        for (size_t i = 0; i < items->n; i++) {
            jinja_step(c);
            c->scope = scope_new(c, outer);
            assign(c, n->a, items->items[i]);
            bool keep = jv_truthy(eval(c, n->c));
            c->scope = outer;
            if (keep)
                jlist_push(c, kept, items->items[i]);
        }
        items = kept;
    }
    jbuf b = {0};
    jbuf *saved_out = c->out;
    bool recursive_call = depth0 > 0;
    if (recursive_call)
        c->out = &b;
    if (items->n == 0 && n->orelse) {
        c->scope = scope_new(c, outer);
        exec(c, n->orelse);
        c->scope = outer;
    }
    jloop *loop = jalloc(c, sizeof *loop);
    loop->items = items;
    loop->depth0 = depth0;
    loop->node = n;
    jv loopv = {.kind = JV_LOOP, .u = {.loop = loop}};
    for (size_t i = 0; i < items->n; i++) {
        jinja_step(c);
        loop->index0 = i;
        c->scope = scope_new(c, outer);
        assign(c, n->a, items->items[i]);
        scope_set(c, c->scope, "loop", loopv);
        int ctl = exec(c, n->body);
        c->scope = outer;
        if (ctl == CTL_BREAK)
            break;
    }
    c->out = saved_out;
    return recursive_call ? jv_strn(b.p ? b.p : "", b.n) : jv_undef(NULL);
}

static int exec_inner(jctx *c, const jnode *n)
{
    switch (n->kind) {
    case N_BODY:
        for (int i = 0; i < n->n; i++) {
            int ctl = exec(c, n->items[i]);
            if (ctl)
                return ctl;
        }
        return CTL_NONE;
    case N_TEXT:
        jbuf_put(c, c->out, n->value.u.s.p, n->value.u.s.n);
        return CTL_NONE;
    case N_OUTPUT:
        jv_write_str(c, c->out, eval(c, n->a));
        return CTL_NONE;
    case N_IF:
        if (jv_truthy(eval(c, n->a)))
            return exec(c, n->body);
        return n->orelse ? exec(c, n->orelse) : CTL_NONE;
    case N_FOR:
        run_loop(c, n, eval(c, n->b), 0);
        return CTL_NONE;
    case N_SET:
        assign(c, n->a, eval(c, n->b));
        return CTL_NONE;
    case N_SET_BLOCK: {
        jscope *outer = c->scope;
        c->scope = scope_new(c, outer);
        jv text = capture(c, n->body);
        c->scope = outer;
        if (n->c)
            text = apply_filter_chain(c, n->c, text);
        assign(c, n->a, text);
        return CTL_NONE;
    }
    case N_MACRO: {
        jfunc *fn = jalloc(c, sizeof *fn);
        fn->kind = FN_MACRO;
        fn->name = n->name;
        fn->macro = n;
        fn->caller = jv_undef(NULL);
        jv v = {.kind = JV_FUNC, .u = {.fn = fn}};
        scope_set(c, c->scope, n->name, v);
        return CTL_NONE;
    }
    case N_CALL_BLOCK: {
        jfunc *caller = jalloc(c, sizeof *caller);
        caller->kind = FN_MACRO;
        caller->name = "caller";
        caller->macro = n;
        caller->caller = jv_undef(NULL);
        jv callerv = {.kind = JV_FUNC, .u = {.fn = caller}};
        const jnode *call = n->a;
        jv fn = eval(c, call->a);
        jargs args;
        eval_args(c, call, &args);
        if (fn.kind != JV_FUNC || fn.u.fn->kind != FN_MACRO)
            jfail(c, "call blocks need a macro");
        jv_write_str(c, c->out, call_macro(c, fn.u.fn, &args, callerv));
        return CTL_NONE;
    }
    case N_FILTER_BLOCK: {
        jscope *outer = c->scope;
        c->scope = scope_new(c, outer);
        jv text = capture(c, n->body);
        c->scope = outer;
        jv_write_str(c, c->out, apply_filter_chain(c, n->c, text));
        return CTL_NONE;
    }
    case N_SCOPE: {
        jscope *outer = c->scope;
        jscope *inner = scope_new(c, outer);
        /* The values are computed in the outer scope, then bound in the inner one. */
        for (int i = 0; i < n->n; i++) {
            jv v = eval(c, n->items[i]->b);
            c->scope = inner;
            assign(c, n->items[i]->a, v);
            c->scope = outer;
        }
        c->scope = inner;
        int ctl = exec(c, n->body);
        c->scope = outer;
        return ctl;
    }
    case N_BREAK:
        return CTL_BREAK;
    case N_CONTINUE:
        return CTL_CONTINUE;
    default:
        jfail(c, "not a statement");
    }
}

static int exec(jctx *c, const jnode *n)
{
    jinja_enter(c);
    jinja_step(c);
    c->line = n->line;
    int ctl = exec_inner(c, n);
    jinja_leave(c);
    return ctl;
}

void jinja_exec_template(jctx *c, const jnode *root) { exec(c, root); }

/* ---- entry point ---------------------------------------------------------------------------------- */

jinja_status jinja_render(const char *src, size_t len, const json_value *vars, char **out,
                          size_t *out_len, char *err, size_t err_cap)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (err && err_cap)
        err[0] = 0;
    /* volatile: read again after longjmp lands back here. */
    jctx *volatile c = calloc(1, sizeof(jctx));
    if (!c) {
        if (err && err_cap)
            snprintf(err, err_cap, "out of memory");
        return JINJA_ERROR;
    }
    c->err = err;
    c->err_cap = err_cap;
    if (setjmp(c->on_error)) {
        jinja_status status = c->status;
        jarena_free(c);
        free(c);
        return status;
    }
    size_t ntokens;
    jtoken *tokens = jinja_lex(c, src, len, &ntokens);
    jnode *root = jinja_parse(c, tokens, ntokens);
    c->line = 0;
    c->root = scope_new(c, NULL);
    c->scope = c->root;
    if (vars && vars->type == JSON_OBJECT) {
        for (size_t i = 0; i < vars->u.object.count; i++) {
            const json_member *m = &vars->u.object.members[i];
            jdict_set(c, &c->root->vars, jv_strn(m->key, m->key_len), jv_from_json(c, m->value));
        }
    }
    jbuf result = {0};
    c->out = &result;
    jinja_exec_template(c, root);
    char *text = malloc(result.n + 1);
    if (!text) {
        c->line = 0;
        jfail(c, "out of memory");
    }
    if (result.n)
        memcpy(text, result.p, result.n);
    text[result.n] = 0;
    *out = text;
    if (out_len)
        *out_len = result.n;
    jarena_free(c);
    free(c);
    return JINJA_OK;
}
