/* Recursive-descent parser from tokens to the syntax tree, following jinja2's
 * grammar and operator precedence (condexpr < or < and < not < compare < +,- < ~
 * < *,/,//,% < ** < unary < postfix/filters). */
#include <stdio.h>
#include <string.h>

#include "jinja_internal.h"

typedef struct {
    jctx *c;
    const jtoken *t;
    size_t n, pos;
    int depth;
    int loop_depth;
} parser;

static const jtoken *cur(parser *p) { return &p->t[p->pos]; }
static const jtoken *peek(parser *p, size_t k)
{
    size_t i = p->pos + k;
    return &p->t[i < p->n ? i : p->n - 1];
}
static void advance(parser *p)
{
    if (p->pos + 1 < p->n)
        p->pos++;
}

JINJA_NORETURN static void perr(parser *p, const char *what)
{
    const jtoken *t = cur(p);
    p->c->line = t->line;
    const char *desc = t->kind == TK_EOF         ? "end of template"
                       : t->kind == TK_BLOCK_END ? "end of statement block"
                       : t->kind == TK_VAR_END   ? "end of print statement"
                                                 : NULL;
    if (desc)
        jfail(p->c, "%s, got %s", what, desc);
    int n = t->n > 40 ? 40 : (int)t->n;
    jfail(p->c, "%s, got '%.*s'", what, n, t->p);
}

static bool is_op(const jtoken *t, const char *op)
{
    return t->kind == TK_OP && t->n == strlen(op) && memcmp(t->p, op, t->n) == 0;
}

static bool is_name(const jtoken *t, const char *name)
{
    return t->kind == TK_NAME && t->n == strlen(name) && memcmp(t->p, name, t->n) == 0;
}

static bool accept_op(parser *p, const char *op)
{
    if (is_op(cur(p), op)) {
        advance(p);
        return true;
    }
    return false;
}

static bool accept_name(parser *p, const char *name)
{
    if (is_name(cur(p), name)) {
        advance(p);
        return true;
    }
    return false;
}

static void expect_op(parser *p, const char *op)
{
    if (!accept_op(p, op)) {
        char msg[40];
        snprintf(msg, sizeof msg, "expected '%s'", op);
        perr(p, msg);
    }
}

static const char *expect_identifier(parser *p)
{
    const jtoken *t = cur(p);
    if (t->kind != TK_NAME)
        perr(p, "expected a name");
    advance(p);
    return jstrndup(p->c, t->p, t->n);
}

static void expect_block_end(parser *p)
{
    if (cur(p)->kind != TK_BLOCK_END)
        perr(p, "expected end of statement block");
    advance(p);
}

static jnode *mk(parser *p, jnode_kind kind, int line)
{
    jnode *n = jalloc(p->c, sizeof *n);
    n->kind = kind;
    n->line = line;
    return n;
}

/* A growable array of nodes in the arena. */
typedef struct {
    jnode **items;
    int n, cap;
} nodevec;

static void vec_push(parser *p, nodevec *v, jnode *node)
{
    if (v->n == v->cap) {
        int cap = v->cap ? v->cap * 2 : 4;
        jnode **items = jalloc(p->c, (size_t)cap * sizeof *items);
        if (v->n)
            memcpy(items, v->items, (size_t)v->n * sizeof *items);
        v->items = items;
        v->cap = cap;
    }
    v->items[v->n++] = node;
}

static void enter(parser *p)
{
    if (++p->depth > JINJA_MAX_PARSE_DEPTH) {
        p->c->line = cur(p)->line;
        jfail(p->c, "template nested too deeply");
    }
}

static void leave(parser *p) { p->depth--; }

/* ---- expressions ------------------------------------------------------------------------ */

static jnode *parse_expression(parser *p, bool with_condexpr);
static jnode *parse_tuple(parser *p, bool simplified, bool with_condexpr, const char *extra_end,
                          bool explicit_parens);
static jnode *parse_unary(parser *p, bool with_filter);
static jnode *parse_primary(parser *p);
static jnode *parse_postfix(parser *p, jnode *node);

/* "(" args ")": positional then keyword arguments, trailing comma allowed. */
static void parse_call_args(parser *p, jnode *node)
{
    expect_op(p, "(");
    nodevec args = {0}, kwvals = {0};
    const char **kwnames = NULL;
    int kwcap = 0;
    bool first = true;
    while (!is_op(cur(p), ")")) {
        if (!first) {
            expect_op(p, ",");
            if (is_op(cur(p), ")"))
                break;
        }
        first = false;
        if (is_op(cur(p), "*") || is_op(cur(p), "**"))
            perr(p, "*args and **kwargs in calls are not supported");
        if (cur(p)->kind == TK_NAME && is_op(peek(p, 1), "=")) {
            const char *key = expect_identifier(p);
            advance(p); /* = */
            jnode *val = parse_expression(p, true);
            if (kwvals.n == kwcap) {
                int cap = kwcap ? kwcap * 2 : 4;
                const char **names = jalloc(p->c, (size_t)cap * sizeof *names);
                if (kwvals.n)
                    memcpy(names, kwnames, (size_t)kwvals.n * sizeof *names);
                kwnames = names;
                kwcap = cap;
            }
            kwnames[kwvals.n] = key;
            vec_push(p, &kwvals, val);
        } else {
            if (kwvals.n)
                perr(p, "positional argument after keyword argument");
            vec_push(p, &args, parse_expression(p, true));
        }
    }
    expect_op(p, ")");
    node->items = args.items;
    node->n = args.n;
    node->kw_names = kwnames;
    node->kw_vals = kwvals.items;
    node->nkw = kwvals.n;
}

/* A dotted filter or test name ("foo" or "foo.bar"). */
static const char *parse_dotted_name(parser *p)
{
    const char *name = expect_identifier(p);
    while (is_op(cur(p), ".")) {
        advance(p);
        const char *more = expect_identifier(p);
        size_t a = strlen(name), b = strlen(more);
        char *joined = jalloc(p->c, a + b + 2);
        memcpy(joined, name, a);
        joined[a] = '.';
        memcpy(joined + a + 1, more, b + 1);
        name = joined;
    }
    return name;
}

/* One or more "| name(args)" applied to node (NULL for a filter block's body). */
static jnode *parse_filter_chain(parser *p, jnode *node, bool start_inline)
{
    while (start_inline || is_op(cur(p), "|")) {
        if (!start_inline)
            advance(p);
        start_inline = false;
        jnode *f = mk(p, N_FILTER, cur(p)->line);
        f->name = parse_dotted_name(p);
        f->a = node;
        if (is_op(cur(p), "("))
            parse_call_args(p, f);
        node = f;
    }
    return node;
}

static jnode *parse_test(parser *p, jnode *node)
{
    int line = cur(p)->line;
    advance(p); /* is */
    bool negated = accept_name(p, "not");
    jnode *t = mk(p, N_TEST, line);
    t->name = parse_dotted_name(p);
    t->a = node;
    const jtoken *c = cur(p);
    if (is_op(c, "(")) {
        parse_call_args(p, t);
    } else if ((c->kind == TK_NAME || c->kind == TK_STRING || c->kind == TK_INT ||
                c->kind == TK_FLOAT || is_op(c, "[") || is_op(c, "{")) &&
               !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        /* "x is divisibleby 3": one argument without parentheses. */
        if (is_name(c, "is"))
            perr(p, "tests cannot be chained with 'is'");
        jnode *arg = parse_postfix(p, parse_primary(p));
        t->items = jalloc(p->c, sizeof(jnode *));
        t->items[0] = arg;
        t->n = 1;
    }
    if (!negated)
        return t;
    jnode *n = mk(p, N_NOT, line);
    n->a = t;
    return n;
}

static jnode *parse_subscribed(parser *p)
{
    int line = cur(p)->line;
    jnode *args[3] = {NULL, NULL, NULL};
    if (is_op(cur(p), ":")) {
        advance(p);
    } else {
        jnode *e = parse_expression(p, true);
        if (!is_op(cur(p), ":"))
            return e;
        advance(p);
        args[0] = e;
    }
    if (!is_op(cur(p), ":") && !is_op(cur(p), "]") && !is_op(cur(p), ","))
        args[1] = parse_expression(p, true);
    if (is_op(cur(p), ":")) {
        advance(p);
        if (!is_op(cur(p), "]") && !is_op(cur(p), ","))
            args[2] = parse_expression(p, true);
    }
    jnode *s = mk(p, N_SLICE, line);
    s->a = args[0];
    s->b = args[1];
    s->c = args[2];
    return s;
}

static jnode *parse_postfix(parser *p, jnode *node)
{
    for (;;) {
        const jtoken *t = cur(p);
        if (is_op(t, ".")) {
            advance(p);
            const jtoken *attr = cur(p);
            if (attr->kind == TK_NAME) {
                jnode *g = mk(p, N_GETATTR, t->line);
                g->a = node;
                g->name = jstrndup(p->c, attr->p, attr->n);
                advance(p);
                node = g;
            } else if (attr->kind == TK_INT) {
                jnode *g = mk(p, N_GETITEM, t->line);
                g->a = node;
                g->b = mk(p, N_CONST, t->line);
                g->b->value = jv_int(attr->i);
                advance(p);
                node = g;
            } else {
                perr(p, "expected name or number");
            }
        } else if (is_op(t, "[")) {
            advance(p);
            nodevec args = {0};
            while (!is_op(cur(p), "]")) {
                if (args.n)
                    expect_op(p, ",");
                vec_push(p, &args, parse_subscribed(p));
            }
            expect_op(p, "]");
            if (args.n == 0)
                perr(p, "expected subscript expression");
            jnode *g = mk(p, N_GETITEM, t->line);
            g->a = node;
            if (args.n == 1) {
                g->b = args.items[0];
            } else {
                jnode *tup = mk(p, N_TUPLE, t->line);
                tup->items = args.items;
                tup->n = args.n;
                g->b = tup;
            }
            node = g;
        } else if (is_op(t, "(")) {
            jnode *call = mk(p, N_CALL, t->line);
            call->a = node;
            parse_call_args(p, call);
            node = call;
        } else {
            return node;
        }
    }
}

static jnode *parse_filter_expr(parser *p, jnode *node)
{
    for (;;) {
        const jtoken *t = cur(p);
        if (is_op(t, "|")) {
            node = parse_filter_chain(p, node, false);
        } else if (is_name(t, "is")) {
            node = parse_test(p, node);
        } else if (is_op(t, "(")) {
            jnode *call = mk(p, N_CALL, t->line);
            call->a = node;
            parse_call_args(p, call);
            node = call;
        } else {
            return node;
        }
    }
}

static jnode *parse_primary(parser *p)
{
    const jtoken *t = cur(p);
    jnode *node;
    enter(p);
    if (t->kind == TK_NAME) {
        advance(p);
        node = mk(p, N_CONST, t->line);
        if (is_name(t, "true") || is_name(t, "True")) {
            node->value = jv_bool(true);
        } else if (is_name(t, "false") || is_name(t, "False")) {
            node->value = jv_bool(false);
        } else if (is_name(t, "none") || is_name(t, "None")) {
            node->value = jv_none();
        } else {
            node->kind = N_NAME;
            node->name = jstrndup(p->c, t->p, t->n);
        }
    } else if (t->kind == TK_STRING) {
        /* Adjacent string literals concatenate. */
        jbuf b = {0};
        int line = t->line;
        while (cur(p)->kind == TK_STRING) {
            jbuf_put(p->c, &b, cur(p)->p, cur(p)->n);
            advance(p);
        }
        node = mk(p, N_CONST, line);
        node->value = jv_strn(b.p ? b.p : "", b.n);
    } else if (t->kind == TK_INT || t->kind == TK_FLOAT) {
        advance(p);
        node = mk(p, N_CONST, t->line);
        node->value = t->kind == TK_INT ? jv_int(t->i) : jv_float(t->f);
    } else if (is_op(t, "(")) {
        advance(p);
        node = parse_tuple(p, false, true, NULL, true);
        expect_op(p, ")");
    } else if (is_op(t, "[")) {
        advance(p);
        nodevec items = {0};
        while (!is_op(cur(p), "]")) {
            if (items.n) {
                expect_op(p, ",");
                if (is_op(cur(p), "]"))
                    break;
            }
            vec_push(p, &items, parse_expression(p, true));
        }
        expect_op(p, "]");
        node = mk(p, N_LIST, t->line);
        node->items = items.items;
        node->n = items.n;
    } else if (is_op(t, "{")) {
        advance(p);
        nodevec keys = {0}, vals = {0};
        while (!is_op(cur(p), "}")) {
            if (keys.n) {
                expect_op(p, ",");
                if (is_op(cur(p), "}"))
                    break;
            }
            vec_push(p, &keys, parse_expression(p, true));
            expect_op(p, ":");
            vec_push(p, &vals, parse_expression(p, true));
        }
        expect_op(p, "}");
        node = mk(p, N_DICT, t->line);
        node->items = keys.items;
        node->kw_vals = vals.items;
        node->n = keys.n;
    } else {
        perr(p, "unexpected token");
    }
    leave(p);
    return node;
}

static jnode *parse_unary(parser *p, bool with_filter)
{
    const jtoken *t = cur(p);
    jnode *node;
    enter(p);
    if (is_op(t, "-") || is_op(t, "+")) {
        advance(p);
        node = mk(p, is_op(t, "-") ? N_NEG : N_POS, t->line);
        node->a = parse_unary(p, false);
    } else {
        node = parse_primary(p);
    }
    node = parse_postfix(p, node);
    if (with_filter)
        node = parse_filter_expr(p, node);
    leave(p);
    return node;
}

static jnode *binop(parser *p, int op, jnode *l, jnode *r, int line)
{
    jnode *n = mk(p, N_BINOP, line);
    n->op = op;
    n->a = l;
    n->b = r;
    return n;
}

static jnode *parse_pow(parser *p)
{
    jnode *left = parse_unary(p, true);
    while (is_op(cur(p), "**")) {
        int line = cur(p)->line;
        advance(p);
        left = binop(p, OP_POW, left, parse_unary(p, true), line);
    }
    return left;
}

static jnode *parse_math2(parser *p)
{
    jnode *left = parse_pow(p);
    for (;;) {
        const jtoken *t = cur(p);
        int op = is_op(t, "*") ? OP_MUL : is_op(t, "/") ? OP_DIV : is_op(t, "//") ? OP_FLOORDIV
                 : is_op(t, "%") ? OP_MOD : -1;
        if (op < 0)
            return left;
        advance(p);
        left = binop(p, op, left, parse_pow(p), t->line);
    }
}

static jnode *parse_concat(parser *p)
{
    jnode *first = parse_math2(p);
    if (!is_op(cur(p), "~"))
        return first;
    nodevec args = {0};
    vec_push(p, &args, first);
    int line = cur(p)->line;
    while (accept_op(p, "~"))
        vec_push(p, &args, parse_math2(p));
    jnode *n = mk(p, N_CONCAT, line);
    n->items = args.items;
    n->n = args.n;
    return n;
}

static jnode *parse_math1(parser *p)
{
    jnode *left = parse_concat(p);
    for (;;) {
        const jtoken *t = cur(p);
        int op = is_op(t, "+") ? OP_ADD : is_op(t, "-") ? OP_SUB : -1;
        if (op < 0)
            return left;
        advance(p);
        left = binop(p, op, left, parse_concat(p), t->line);
    }
}

static jnode *parse_compare(parser *p)
{
    int line = cur(p)->line;
    jnode *expr = parse_math1(p);
    nodevec operands = {0};
    int *ops = NULL;
    int cap = 0;
    for (;;) {
        const jtoken *t = cur(p);
        int op = is_op(t, "==") ? OP_EQ : is_op(t, "!=") ? OP_NE : is_op(t, "<") ? OP_LT
                 : is_op(t, "<=") ? OP_LE : is_op(t, ">") ? OP_GT : is_op(t, ">=") ? OP_GE : -1;
        if (op >= 0) {
            advance(p);
        } else if (is_name(t, "in")) {
            advance(p);
            op = OP_IN;
        } else if (is_name(t, "not") && is_name(peek(p, 1), "in")) {
            advance(p);
            advance(p);
            op = OP_NOTIN;
        } else {
            break;
        }
        if (operands.n == cap) {
            int ncap = cap ? cap * 2 : 4;
            int *nops = jalloc(p->c, (size_t)ncap * sizeof *nops);
            if (operands.n)
                memcpy(nops, ops, (size_t)operands.n * sizeof *nops);
            ops = nops;
            cap = ncap;
        }
        ops[operands.n] = op;
        vec_push(p, &operands, parse_math1(p));
    }
    if (!operands.n)
        return expr;
    jnode *n = mk(p, N_COMPARE, line);
    n->a = expr;
    n->items = operands.items;
    n->n = operands.n;
    n->ops = ops;
    return n;
}

static jnode *parse_not(parser *p)
{
    if (is_name(cur(p), "not")) {
        int line = cur(p)->line;
        advance(p);
        enter(p);
        jnode *n = mk(p, N_NOT, line);
        n->a = parse_not(p);
        leave(p);
        return n;
    }
    return parse_compare(p);
}

static jnode *parse_and(parser *p)
{
    jnode *left = parse_not(p);
    while (is_name(cur(p), "and")) {
        int line = cur(p)->line;
        advance(p);
        jnode *n = mk(p, N_AND, line);
        n->a = left;
        n->b = parse_not(p);
        left = n;
    }
    return left;
}

static jnode *parse_or(parser *p)
{
    jnode *left = parse_and(p);
    while (is_name(cur(p), "or")) {
        int line = cur(p)->line;
        advance(p);
        jnode *n = mk(p, N_OR, line);
        n->a = left;
        n->b = parse_and(p);
        left = n;
    }
    return left;
}

static jnode *parse_condexpr(parser *p)
{
    jnode *expr1 = parse_or(p);
    while (is_name(cur(p), "if")) {
        int line = cur(p)->line;
        advance(p);
        jnode *n = mk(p, N_CONDEXPR, line);
        n->b = expr1;      /* value when true */
        n->a = parse_or(p); /* condition */
        if (accept_name(p, "else")) {
            enter(p);
            n->c = parse_condexpr(p);
            leave(p);
        }
        expr1 = n;
    }
    return expr1;
}

static jnode *parse_expression(parser *p, bool with_condexpr)
{
    enter(p);
    jnode *n = with_condexpr ? parse_condexpr(p) : parse_or(p);
    leave(p);
    return n;
}

static bool is_tuple_end(parser *p, const char *extra_end)
{
    const jtoken *t = cur(p);
    if (t->kind == TK_VAR_END || t->kind == TK_BLOCK_END || t->kind == TK_EOF || is_op(t, ")"))
        return true;
    return extra_end && is_name(t, extra_end);
}

static jnode *parse_tuple(parser *p, bool simplified, bool with_condexpr, const char *extra_end,
                          bool explicit_parens)
{
    int line = cur(p)->line;
    nodevec args = {0};
    bool is_tuple = false;
    for (;;) {
        if (args.n)
            expect_op(p, ",");
        if (is_tuple_end(p, extra_end))
            break;
        vec_push(p, &args, simplified ? parse_primary(p) : parse_expression(p, with_condexpr));
        if (is_op(cur(p), ","))
            is_tuple = true;
        else
            break;
    }
    if (!is_tuple) {
        if (args.n)
            return args.items[0];
        if (!explicit_parens)
            perr(p, "expected an expression");
    }
    jnode *n = mk(p, N_TUPLE, line);
    n->items = args.items;
    n->n = args.n;
    return n;
}

/* ---- statements ---------------------------------------------------------------------------- */

static jnode *parse_body(parser *p, const char *const *end_names);

static bool check_target(jnode *t)
{
    if (t->kind == N_NAME || t->kind == N_NSREF)
        return true;
    if (t->kind != N_TUPLE)
        return false;
    for (int i = 0; i < t->n; i++)
        if (t->items[i]->kind != N_NAME)
            return false;
    return true;
}

static jnode *parse_assign_target(parser *p, const char *extra_end, bool with_namespace)
{
    jnode *target;
    if (with_namespace && cur(p)->kind == TK_NAME && is_op(peek(p, 1), ".")) {
        target = mk(p, N_NSREF, cur(p)->line);
        target->a = mk(p, N_NAME, cur(p)->line);
        target->a->name = expect_identifier(p);
        advance(p); /* . */
        target->name = expect_identifier(p);
        return target;
    }
    target = parse_tuple(p, true, true, extra_end, false);
    if (!check_target(target)) {
        p->c->line = target->line;
        jfail(p->c, "can't assign to this expression");
    }
    return target;
}

static jnode *parse_for(parser *p, int line)
{
    jnode *n = mk(p, N_FOR, line);
    n->a = parse_assign_target(p, "in", false);
    if (!accept_name(p, "in"))
        perr(p, "expected 'in'");
    n->b = parse_tuple(p, false, false, "recursive", false);
    if (accept_name(p, "if"))
        n->c = parse_expression(p, true);
    n->flag = accept_name(p, "recursive");
    expect_block_end(p);
    p->loop_depth++;
    static const char *const body_end[] = {"endfor", "else", NULL};
    n->body = parse_body(p, body_end);
    p->loop_depth--;
    if (accept_name(p, "else")) {
        expect_block_end(p);
        static const char *const else_end[] = {"endfor", NULL};
        n->orelse = parse_body(p, else_end);
    }
    advance(p); /* endfor */
    expect_block_end(p);
    return n;
}

static jnode *parse_if(parser *p, int line)
{
    jnode *n = mk(p, N_IF, line);
    n->a = parse_tuple(p, false, false, NULL, false);
    expect_block_end(p);
    static const char *const ends[] = {"elif", "else", "endif", NULL};
    n->body = parse_body(p, ends);
    if (is_name(cur(p), "elif")) {
        int eline = cur(p)->line;
        advance(p);
        jnode *elif = parse_if(p, eline); /* consumes through endif */
        jnode *wrap = mk(p, N_BODY, eline);
        wrap->items = jalloc(p->c, sizeof(jnode *));
        wrap->items[0] = elif;
        wrap->n = 1;
        n->orelse = wrap;
        return n;
    }
    if (accept_name(p, "else")) {
        expect_block_end(p);
        static const char *const else_end[] = {"endif", NULL};
        n->orelse = parse_body(p, else_end);
    }
    advance(p); /* endif */
    expect_block_end(p);
    return n;
}

static jnode *parse_set(parser *p, int line)
{
    jnode *target = parse_assign_target(p, NULL, true);
    if (accept_op(p, "=")) {
        jnode *n = mk(p, N_SET, line);
        n->a = target;
        n->b = parse_tuple(p, false, true, NULL, false);
        expect_block_end(p);
        return n;
    }
    jnode *n = mk(p, N_SET_BLOCK, line);
    n->a = target;
    n->c = parse_filter_chain(p, NULL, false);
    expect_block_end(p);
    static const char *const ends[] = {"endset", NULL};
    n->body = parse_body(p, ends);
    advance(p);
    expect_block_end(p);
    return n;
}

/* "(a, b=default, ...)" of a macro or call block. */
static void parse_signature(parser *p, jnode *n)
{
    nodevec params = {0}, defaults = {0};
    bool seen_default = false;
    expect_op(p, "(");
    while (!is_op(cur(p), ")")) {
        if (params.n)
            expect_op(p, ",");
        jnode *param = mk(p, N_NAME, cur(p)->line);
        param->name = expect_identifier(p);
        vec_push(p, &params, param);
        if (accept_op(p, "=")) {
            vec_push(p, &defaults, parse_expression(p, true));
            seen_default = true;
        } else if (seen_default)
            perr(p, "non-default argument follows default argument");
        else
            vec_push(p, &defaults, NULL);
    }
    expect_op(p, ")");
    n->items = params.items;
    n->n = params.n;
    n->kw_vals = defaults.items;
    n->nkw = defaults.n;
}

static jnode *parse_macro(parser *p, int line)
{
    jnode *n = mk(p, N_MACRO, line);
    n->name = expect_identifier(p);
    parse_signature(p, n);
    expect_block_end(p);
    int saved = p->loop_depth;
    p->loop_depth = 0;
    static const char *const ends[] = {"endmacro", NULL};
    n->body = parse_body(p, ends);
    p->loop_depth = saved;
    advance(p);
    expect_block_end(p);
    return n;
}

static jnode *parse_call_block(parser *p, int line)
{
    jnode *n = mk(p, N_CALL_BLOCK, line);
    if (is_op(cur(p), "("))
        parse_signature(p, n);
    n->a = parse_expression(p, true);
    if (n->a->kind != N_CALL) {
        p->c->line = line;
        jfail(p->c, "expected call");
    }
    expect_block_end(p);
    int saved = p->loop_depth;
    p->loop_depth = 0;
    static const char *const ends[] = {"endcall", NULL};
    n->body = parse_body(p, ends);
    p->loop_depth = saved;
    advance(p);
    expect_block_end(p);
    return n;
}

static jnode *parse_statement(parser *p)
{
    const jtoken *t = cur(p);
    int line = t->line;
    if (t->kind != TK_NAME)
        perr(p, "tag name expected");
    enter(p);
    advance(p);
    jnode *n;
    if (is_name(t, "for")) {
        n = parse_for(p, line);
    } else if (is_name(t, "if")) {
        n = parse_if(p, line);
    } else if (is_name(t, "set")) {
        n = parse_set(p, line);
    } else if (is_name(t, "macro")) {
        n = parse_macro(p, line);
    } else if (is_name(t, "call")) {
        n = parse_call_block(p, line);
    } else if (is_name(t, "filter")) {
        n = mk(p, N_FILTER_BLOCK, line);
        n->c = parse_filter_chain(p, NULL, true);
        expect_block_end(p);
        static const char *const ends[] = {"endfilter", NULL};
        n->body = parse_body(p, ends);
        advance(p);
        expect_block_end(p);
    } else if (is_name(t, "break") || is_name(t, "continue")) {
        if (!p->loop_depth) {
            p->c->line = line;
            jfail(p->c, "'%.*s' outside of a loop", (int)t->n, t->p);
        }
        n = mk(p, is_name(t, "break") ? N_BREAK : N_CONTINUE, line);
        expect_block_end(p);
    } else if (is_name(t, "with")) {
        /* {% with a = 1, b = 2 %}: assignments in a new scope. */
        n = mk(p, N_SCOPE, line);
        nodevec sets = {0};
        while (cur(p)->kind != TK_BLOCK_END) {
            if (sets.n)
                expect_op(p, ",");
            jnode *s = mk(p, N_SET, cur(p)->line);
            s->a = parse_assign_target(p, NULL, false);
            expect_op(p, "=");
            s->b = parse_expression(p, true);
            vec_push(p, &sets, s);
        }
        expect_block_end(p);
        n->items = sets.items;
        n->n = sets.n;
        static const char *const ends[] = {"endwith", NULL};
        n->body = parse_body(p, ends);
        advance(p);
        expect_block_end(p);
    } else if (is_name(t, "generation")) {
        /* transformers' marker for assistant text: renders its body unchanged. */
        expect_block_end(p);
        static const char *const ends[] = {"endgeneration", NULL};
        jnode *body = parse_body(p, ends);
        advance(p);
        expect_block_end(p);
        n = body;
    } else {
        p->c->line = line;
        jfail(p->c, "unknown or unsupported tag '%.*s'", (int)t->n, t->p);
    }
    leave(p);
    return n;
}

static bool name_in(const jtoken *t, const char *const *names)
{
    for (; names && *names; names++)
        if (is_name(t, *names))
            return true;
    return false;
}

/* Statements up to a block tag named in end_names (left as the current token,
 * its "{%" consumed), or to the end of the template when end_names is NULL. */
static jnode *parse_body(parser *p, const char *const *end_names)
{
    jnode *body = mk(p, N_BODY, cur(p)->line);
    nodevec items = {0};
    for (;;) {
        const jtoken *t = cur(p);
        if (t->kind == TK_EOF) {
            if (end_names) {
                char msg[64];
                snprintf(msg, sizeof msg, "expected '%s'", end_names[0]);
                perr(p, msg);
            }
            break;
        }
        if (t->kind == TK_TEXT) {
            jnode *n = mk(p, N_TEXT, t->line);
            n->value = jv_strn(t->p, t->n);
            vec_push(p, &items, n);
            advance(p);
        } else if (t->kind == TK_VAR_BEGIN) {
            advance(p);
            jnode *n = mk(p, N_OUTPUT, t->line);
            n->a = parse_tuple(p, false, true, NULL, false);
            if (cur(p)->kind != TK_VAR_END)
                perr(p, "expected end of print statement");
            advance(p);
            vec_push(p, &items, n);
        } else if (t->kind == TK_BLOCK_BEGIN) {
            advance(p);
            if (name_in(cur(p), end_names))
                break;
            vec_push(p, &items, parse_statement(p));
        } else {
            perr(p, "unexpected token");
        }
    }
    body->items = items.items;
    body->n = items.n;
    return body;
}

jnode *jinja_parse(jctx *c, const jtoken *tokens, size_t ntokens)
{
    parser p = {c, tokens, ntokens, 0, 0, 0};
    return parse_body(&p, NULL);
}
