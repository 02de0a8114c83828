/* Shared pieces of the Jinja interpreter (jinja_*.c): the render context and its
 * arena, the value model, tokens, the syntax tree, and the entry points each file
 * provides. Everything a render allocates lives in one arena that is dropped at
 * the end, and errors unwind with longjmp to jinja_render, so no code path has to
 * free anything or check for failure after calling into the interpreter. */
#ifndef KESTREL_JINJA_INTERNAL_H
#define KESTREL_JINJA_INTERNAL_H

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "jinja.h"
#include "json.h"

/* Limits for untrusted templates. */
#define JINJA_MAX_OUTPUT (16u << 20)   /* bytes in any one rendered string */
#define JINJA_MAX_MEMORY (512u << 20)  /* bytes the arena may hold */
#define JINJA_MAX_DEPTH 800            /* nested evaluation calls */
#define JINJA_MAX_PARSE_DEPTH 200      /* nested blocks/brackets in the source */
#define JINJA_MAX_STEPS 20000000L      /* statements + loop iterations + calls */
#define JINJA_MAX_RANGE 100000         /* items range() may produce (jinja2's sandbox) */

typedef struct jarena_block jarena_block;
typedef struct jscope jscope;
typedef struct jnode jnode;

typedef struct {
    char *p;
    size_t n, cap;
} jbuf;

typedef struct jctx {
    jmp_buf on_error;
    char *err;
    size_t err_cap;
    jinja_status status;
    int line; /* source line being evaluated, for messages */
    jarena_block *blocks;
    size_t arena_bytes;
    int depth;
    long steps;
    jbuf *out;       /* where text goes now (captures swap it) */
    jscope *root;    /* template globals and top-level assignments */
    jscope *scope;   /* innermost scope */
} jctx;

#if defined(__GNUC__)
#define JINJA_NORETURN __attribute__((noreturn))
#else
#define JINJA_NORETURN _Noreturn
#endif

/* Formats the message and unwinds to jinja_render. */
JINJA_NORETURN void jfail(jctx *c, const char *fmt, ...) KESTREL_PRINTF(2, 3);
/* The same for raise_exception: the message is kept verbatim. */
JINJA_NORETURN void jraise(jctx *c, const char *msg, size_t len);

void *jalloc(jctx *c, size_t n); /* zeroed, 16-byte aligned */
char *jstrndup(jctx *c, const char *s, size_t n);
void jarena_free(jctx *c);

void jbuf_put(jctx *c, jbuf *b, const char *s, size_t n);
void jbuf_puts(jctx *c, jbuf *b, const char *s);
void jbuf_putc(jctx *c, jbuf *b, char ch);
void jbuf_printf(jctx *c, jbuf *b, const char *fmt, ...) KESTREL_PRINTF(3, 4);

/* ---- values ----------------------------------------------------------------------- */

typedef enum {
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST,  /* list, tuple, or a generator (one pass, no len) */
    JV_DICT,
    JV_NS,    /* namespace(): a dict whose attributes `set ns.x` assigns */
    JV_FUNC,  /* macro, global function or bound method */
    JV_LOOP,  /* the `loop` variable of a for loop */
} jv_kind;

typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jfunc jfunc;
typedef struct jloop jloop;

typedef struct jv {
    jv_kind kind;
    bool safe; /* a string marked safe (markupsafe.Markup): `+` escapes the other side */
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *p; /* UTF-8, not NUL-terminated, immutable */
            size_t n;
        } s;
        jlist *l;
        jdict *d;
        jfunc *fn;
        jloop *loop;
        const char *undef_name; /* what was missing, for the message (may be NULL) */
    } u;
} jv;

struct jlist {
    jv *items;
    size_t n, cap;
    bool tuple;
    bool generator; /* from map/select/...: truthy, no length, consumed by a pass */
    bool consumed;
    bool is_range; /* from range(): prints as range(start, stop[, step]) */
    int64_t range_start, range_stop, range_step;
};

struct jdict {
    jv *keys;
    jv *vals;
    size_t n, cap;
};

typedef enum { FN_MACRO, FN_GLOBAL, FN_METHOD } jfunc_kind;

struct jfunc {
    jfunc_kind kind;
    const char *name;  /* global or method name */
    const jnode *macro;
    jv self;           /* bound receiver of a method */
    jv caller;         /* for {% call %}: the caller() macro passed in */
};

struct jloop {
    jlist *items;
    size_t index0;
    int depth0;
    const jnode *node; /* the for statement, for recursive loop(...) calls */
};

/* Call arguments: positional values then keyword ones. */
typedef struct {
    jv *pos;
    int npos;
    const char **kw_names;
    jv *kw_vals;
    int nkw;
} jargs;

static inline jv jv_undef(const char *name) { jv v = {.kind = JV_UNDEF, .u = {.undef_name = name}}; return v; }
static inline jv jv_none(void) { jv v = {.kind = JV_NONE, .u = {.i = 0}}; return v; }
static inline jv jv_bool(bool b) { jv v = {.kind = JV_BOOL, .u = {.b = b}}; return v; }
static inline jv jv_int(int64_t i) { jv v = {.kind = JV_INT, .u = {.i = i}}; return v; }
static inline jv jv_float(double f) { jv v = {.kind = JV_FLOAT, .u = {.f = f}}; return v; }
static inline jv jv_strn(const char *p, size_t n) { jv v = {.kind = JV_STR, .u = {.s = {p, n}}}; return v; }
jv jv_cstr(const char *s); /* static or arena text */
static inline jv jv_markup(jv s) { s.safe = s.kind == JV_STR; return s; }
static inline jv jv_plain(jv s) { s.safe = false; return s; }

jv jv_list(jctx *c, size_t cap);
void jlist_push(jctx *c, jlist *l, jv item);
jv jv_dict(jctx *c);
void jdict_set(jctx *c, jdict *d, jv key, jv val);
bool jdict_get(const jdict *d, jv key, jv *out);
bool jdict_get_str(const jdict *d, const char *key, size_t n, jv *out);

const char *jv_type_name(jv v); /* Python's type name, for messages */
bool jv_truthy(jv v);
bool jv_equal(jv a, jv b);
bool jv_is_number(jv v); /* int, float or bool */
double jv_as_double(jv v);
/* <0, 0, >0 as Python orders them; fails on types Python cannot order. */
int jv_compare(jctx *c, jv a, jv b);

/* Python str() and repr() into b. */
void jv_write_str(jctx *c, jbuf *b, jv v);
void jv_write_repr(jctx *c, jbuf *b, jv v);
jv jv_to_string(jctx *c, jv v); /* str(v) as a string value */

/* The items a for loop (or a filter) walks: strings give characters, dicts their
 * keys, undefined nothing; None and numbers fail like Python. Generators are
 * consumed. */
jlist *jv_iterate(jctx *c, jv v);
/* len(v), or fail. */
int64_t jv_length(jctx *c, jv v);

jv jv_from_json(jctx *c, const json_value *j);
/* NULL when v holds something json.dumps rejects (undefined, generators...);
 * the caller owns the result. */
json_value *jv_to_json(jctx *c, jv v, const char **bad_type);

/* ---- strings (jinja_str.c) -------------------------------------------------------------- */

uint32_t ju_utf8_next(const char *s, size_t n, size_t *i); /* lenient decode */
size_t ju_utf8_encode(uint32_t cp, char *out);
size_t ju_utf8_count(const char *s, size_t n);
/* Byte offset of code point index `index` (clamped to n). */
size_t ju_utf8_offset(const char *s, size_t n, size_t index);
bool ju_isspace(uint32_t cp);
uint32_t ju_lower(uint32_t cp);
uint32_t ju_upper(uint32_t cp);
bool ju_iscased(uint32_t cp);
bool ju_isprintable(uint32_t cp); /* str.isprintable() for one character */

typedef enum { STRIP_BOTH, STRIP_LEFT, STRIP_RIGHT } strip_mode;
/* chars NULL strips whitespace (Python's str.strip()). */
jv jstr_strip(jv s, const jv *chars, strip_mode mode);
jv jstr_upper(jctx *c, jv s);
jv jstr_lower(jctx *c, jv s);
jv jstr_title(jctx *c, jv s);      /* str.title() */
jv jstr_capitalize(jctx *c, jv s); /* str.capitalize() */
jv jstr_replace(jctx *c, jv s, jv old, jv rep, int64_t count);
/* sep NULL: split on whitespace runs. maxsplit < 0: no limit. */
jv jstr_split(jctx *c, jv s, const jv *sep, int64_t maxsplit, bool from_right);
jv jstr_splitlines(jctx *c, jv s, bool keepends);
bool jstr_startswith(jv s, jv prefix);
bool jstr_endswith(jv s, jv suffix);
int64_t jstr_find(jv s, jv sub, bool from_right); /* code point index or -1 */
int64_t jstr_count(jv s, jv sub);
jv jstr_concat(jctx *c, jv a, jv b);
jv jstr_html_escape(jctx *c, jv s); /* & < > " ' as markupsafe writes them */
jv jstr_slice_index(jctx *c, jv s, int64_t index, bool *ok);

/* ---- lexer (jinja_lex.c) ------------------------------------------------------------------ */

typedef enum {
    TK_EOF,
    TK_TEXT,
    TK_VAR_BEGIN,
    TK_VAR_END,
    TK_BLOCK_BEGIN,
    TK_BLOCK_END,
    TK_NAME,
    TK_STRING,
    TK_INT,
    TK_FLOAT,
    TK_OP,
} jtoken_kind;

typedef struct {
    jtoken_kind kind;
    int line;
    const char *p; /* text, name, operator, or the decoded string */
    size_t n;
    int64_t i;
    double f;
} jtoken;

/* Tokenizes the whole template, applying the whitespace rules. */
jtoken *jinja_lex(jctx *c, const char *src, size_t len, size_t *ntokens);

/* ---- syntax tree (jinja_parse.c) ---------------------------------------------------------- */

typedef enum {
    /* statements */
    N_BODY,
    N_TEXT,
    N_OUTPUT,
    N_IF,
    N_FOR,
    N_SET,
    N_SET_BLOCK,
    N_MACRO,
    N_CALL_BLOCK,
    N_FILTER_BLOCK,
    N_SCOPE, /* {% with %} and {% generation %} */
    N_BREAK,
    N_CONTINUE,
    /* expressions */
    N_CONST,
    N_NAME,
    N_NSREF,
    N_GETATTR,
    N_GETITEM,
    N_SLICE,
    N_CALL,
    N_FILTER,
    N_TEST,
    N_BINOP,
    N_NEG,
    N_POS,
    N_NOT,
    N_AND,
    N_OR,
    N_COMPARE,
    N_CONDEXPR,
    N_LIST,
    N_TUPLE,
    N_DICT,
    N_CONCAT,
} jnode_kind;

typedef enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN,
} jop;

struct jnode {
    jnode_kind kind;
    int line;
    int op;
    const char *name; /* NUL-terminated: variable, attribute, filter, test, macro */
    jv value;         /* N_CONST */
    jnode *a, *b, *c; /* operands / target, iterable, condition / test, then */
    jnode *body, *orelse;
    jnode **items; /* statements, arguments, elements, compare operands */
    int n;
    const char **kw_names;
    jnode **kw_vals; /* keyword arguments; macro defaults (NULL where none) */
    int nkw;
    int *ops;        /* N_COMPARE */
    bool flag;       /* N_FOR: recursive */
};

jnode *jinja_parse(jctx *c, const jtoken *tokens, size_t ntokens);

/* ---- evaluation (jinja_eval.c) ------------------------------------------------------------- */

void jinja_exec_template(jctx *c, const jnode *root);
jv jinja_call(jctx *c, jv fn, const jargs *args);
jv jinja_getattr(jctx *c, jv obj, const char *name);
jv jinja_getitem(jctx *c, jv obj, jv key);
jv jinja_binop(jctx *c, int op, jv a, jv b);
void jinja_enter(jctx *c); /* depth and step accounting */
void jinja_leave(jctx *c);
void jinja_step(jctx *c);

/* ---- filters, tests, methods, globals (jinja_filters.c, jinja_builtins.c) ------------------ */

jv jinja_filter(jctx *c, const char *name, jv value, const jargs *args);
bool jinja_test(jctx *c, const char *name, jv value, const jargs *args);
bool jinja_has_global(const char *name);
jv jinja_call_global(jctx *c, const char *name, const jargs *args);
/* A bound method when obj has one called name, else false. */
bool jinja_method_exists(jv obj, const char *name);
jv jinja_call_method(jctx *c, jv self, const char *name, const jargs *args);
/* Argument `index` (positional) or `name` (keyword), else def. */
jv jargs_get(const jargs *a, int index, const char *name, jv def);

#endif
