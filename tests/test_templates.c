/* Chat templates: every (template, case, mode) of shared/templates/manifest.json
 * rendered through kestrel_chat_render and compared byte for byte with what
 * transformers produced (or required to fail with the template's own message),
 * plus unit tests for the JSON module and for Jinja corners as small inline
 * templates, and robustness checks for hostile templates. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jinja.h"
#include "json.h"
#include "kestrel.h"
#include "test.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = 0;
    if (len)
        *len = n;
    return buf;
}

/* ---- JSON --------------------------------------------------------------------------------- */

/* Parses src and serializes with Python's defaults; compares with want. */
static void check_json_roundtrip(const char *src, const char *want, int indent)
{
    char err[128];
    json_value *v = json_parse(src, strlen(src), err, sizeof err);
    CHECK(v != NULL, "json_parse(%s): %s", src, err);
    if (!v)
        return;
    json_dump_options o = json_default_options();
    o.indent = indent;
    char *out = json_dumps(v, &o, NULL);
    CHECK(out && strcmp(out, want) == 0, "json %s -> [%s], want [%s]", src, out ? out : "(null)",
          want);
    free(out);
    json_free(v);
}

static void check_json_rejects(const char *src, size_t len)
{
    char err[128];
    json_value *v = json_parse(src, len, err, sizeof err);
    CHECK(v == NULL && err[0], "json_parse should reject [%.*s]", (int)len, src);
    json_free(v);
}

static void check_float_repr(double d, const char *want)
{
    char buf[32];
    json_format_python_float(d, buf);
    CHECK(strcmp(buf, want) == 0, "repr(%.17g) = %s, want %s", d, buf, want);
}

static void test_json(void)
{
    check_json_roundtrip("{\"b\":1,\"a\":[true,false,null]}", "{\"b\": 1, \"a\": [true, false, null]}", -1);
    check_json_roundtrip("  [ ]  ", "[]", -1);
    check_json_roundtrip("{}", "{}", 2);
    check_json_roundtrip("\"a\\\"b\\\\c\\/d\\n\\t\\r\\b\\f\\u0001\"", "\"a\\\"b\\\\c/d\\n\\t\\r\\b\\f\\u0001\"", -1);
    /* Non-ASCII stays as is (ensure_ascii=False); escapes decode, surrogate pairs join. */
    check_json_roundtrip("\"caf\\u00e9 \\ud83e\\udd99 日本\"", "\"café 🦙 日本\"", -1);
    check_json_roundtrip("[1.5, 22.0, 1e16, 1E-5, 0.1, -0.0, 100, -7, 12345678901234567890]",
                         "[1.5, 22.0, 1e+16, 1e-05, 0.1, -0.0, 100, -7, 1.2345678901234567e+19]", -1);
    check_json_roundtrip("{\"a\":[1,{\"b\":2}],\"c\":{}}",
                         "{\n  \"a\": [\n    1,\n    {\n      \"b\": 2\n    }\n  ],\n  \"c\": {}\n}", 2);
    check_json_roundtrip("{\"k\":1,\"k\":2}", "{\"k\": 2}", -1); /* last wins, like Python */
    check_json_roundtrip("[NaN, Infinity, -Infinity]", "[NaN, Infinity, -Infinity]", -1);

    /* ensure_ascii and sort_keys */
    {
        json_value *v = json_parse("{\"z\":\"é🦙\",\"a\":1}", 20, NULL, 0);
        json_dump_options o = json_default_options();
        o.ensure_ascii = true;
        o.sort_keys = true;
        char *out = v ? json_dumps(v, &o, NULL) : NULL;
        CHECK(out && !strcmp(out, "{\"a\": 1, \"z\": \"\\u00e9\\ud83e\\udd99\"}"), "ensure_ascii: %s",
              out ? out : "(null)");
        free(out);
        json_free(v);
    }
    /* Strings may hold NULs. */
    {
        json_value *v = json_parse("\"a\\u0000b\"", 10, NULL, 0);
        CHECK(v && v->type == JSON_STRING && v->u.string.len == 3 && v->u.string.ptr[1] == 0,
              "NUL inside a string");
        json_free(v);
    }

    const char *bad[] = {"", "[", "]", "{", "{\"a\"}", "{\"a\":}", "[1,]", "{\"a\":1,}", "01", "1.",
                         ".5", "-", "+1", "1e", "\"abc", "\"\\x\"", "\"\\u12\"", "tru", "nul",
                         "[1 2]", "{1:2}", "\"a\nb\"", "[1]x", "'a'", "\"\xff\"", "\"\xc3\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        check_json_rejects(bad[i], strlen(bad[i]));
    /* Nesting deeper than the limit fails cleanly instead of overflowing the stack. */
    {
        size_t depth = 100000;
        char *deep = malloc(depth);
        memset(deep, '[', depth);
        check_json_rejects(deep, depth);
        free(deep);
    }

    check_float_repr(0.1 + 0.2, "0.30000000000000004");
    check_float_repr(1e16, "1e+16");
    check_float_repr(1e15, "1000000000000000.0");
    check_float_repr(0.0001, "0.0001");
    check_float_repr(0.00001, "1e-05");
    check_float_repr(-2.5, "-2.5");
    check_float_repr(1.0 / 3.0, "0.3333333333333333");
    check_float_repr(123456789.125, "123456789.125");
    check_float_repr(5e-324, "5e-324");
    check_float_repr(1.7976931348623157e308, "1.7976931348623157e+308");
    check_float_repr(NAN, "nan");
    check_float_repr(-INFINITY, "-inf");
}

/* ---- inline Jinja ------------------------------------------------------------------------------ */

static const char *const demo_messages =
    "[{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"  Hi\\n\"},"
    " {\"role\": \"assistant\", \"content\": \"Hello!\"},"
    " {\"role\": \"user\", \"content\": \"Bye\"}]";

/* Renders tmpl with demo_messages and compares with want (NULL: must fail). */
static void check_render(const char *tmpl, const char *want)
{
    char *out = NULL;
    int rc = kestrel_chat_render(tmpl, demo_messages, NULL, true, "<s>", "</s>", &out);
    if (want) {
        CHECK(rc == 0 && out && strcmp(out, want) == 0, "template [%s]\n  got  [%s]\n  want [%s]%s%s",
              tmpl, out ? out : "(null)", want, rc ? "\n  error: " : "",
              rc ? kestrel_last_error() : "");
    } else {
        CHECK(rc == -1 && out == NULL, "template [%s] should fail, got [%s]", tmpl,
              out ? out : "(null)");
    }
    free(out);
}

static void check_error_message(const char *tmpl, const char *want)
{
    char *out = NULL;
    int rc = kestrel_chat_render(tmpl, demo_messages, NULL, true, "<s>", "</s>", &out);
    CHECK(rc == -1 && strcmp(kestrel_last_error(), want) == 0, "template [%s]: error [%s], want [%s]",
          tmpl, rc ? kestrel_last_error() : "(none)", want);
    free(out);
}

static void test_whitespace(void)
{
    check_render("a\n{% if true %}\nb\n{% endif %}\nc", "a\nb\nc");
    check_render("  {% if true %}x{% endif %}", "x");                  /* lstrip_blocks */
    check_render("a  {% if true %}x{% endif %}", "a  x");              /* not at line start */
    check_render("a\n  {{ 'x' }}", "a\n  x");                          /* not for {{ */
    check_render("a  {%- if true %} x {% endif -%}  \n b", "a x b");
    check_render("a  {%+ if true %}x{% endif %}", "a  x");
    check_render("{% if true +%}\nx{% endif %}", "\nx");
    check_render("a {{- 'b' -}} \n c", "abc");
    check_render("a\n  {# note #}\nb", "a\nb");
    check_render("a {#- note -#} b", "ab");
    check_render("line\n", "line");                                    /* final newline dropped */
    check_render("line\n\n", "line\n");
    check_render("a\r\nb\rc", "a\nb\nc");
    check_render("{% raw %}{{ x }}{% endraw %}", "{{ x }}");
    check_render("{% for m in messages %}\n  {{ m.role }}\n{% endfor %}\n", "  system\n  user\n  assistant\n  user\n");
    check_render("x{{ '\\n' }}{% if true %}\n y{% endif %}", "x\n y");
}

static void test_values(void)
{
    check_render("{{ none }}|{{ true }}|{{ false }}|{{ 3 }}|{{ 2.0 }}|{{ 1/3 }}|{{ 1e20 }}",
                 "None|True|False|3|2.0|0.3333333333333333|1e+20");
    check_render("{{ [1, 'a', none, true, 1.5] }}|{{ {'k': 'v', 'n': [1]} }}|{{ ('x',) }}|{{ (1, 2) }}",
                 "[1, 'a', None, True, 1.5]|{'k': 'v', 'n': [1]}|('x',)|(1, 2)");
    check_render("{{ [\"it's\", 'say \"hi\"', 'both \\' \"', 'tab\\there\\n'] }}",
                 "[\"it's\", 'say \"hi\"', 'both \\' \"', 'tab\\there\\n']");
    check_render("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 4 / 2 }}",
                 "3 -4 2 -2 1024 3.5 2.0");
    check_render("{{ 1 + 2 * 3 - 4 }} {{ (1 + 2) * 3 }} {{ -2 ** 2 }} {{ 'ab' * 3 }} {{ [0] * 2 }}",
                 "3 9 4 ababab [0, 0]");
    check_render("{{ 'a' ~ 1 ~ none ~ undefined_thing ~ [1] }}", "a1None[1]");
    check_render("{{ 'x' if false }}|{{ 'y' if 0 else 'z' }}|{{ 1 and 'b' }}|{{ 0 or '' or 'c' }}",
                 "|z|b|c");
    check_render("{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }}",
                 "True False True True True True");
    check_render("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'x' not in [] }} {{ 'a' in nothing }}",
                 "True True True True False");
    check_render("{{ 'abcdef'[1:3] }} {{ 'abcdef'[-2:] }} {{ 'abcdef'[::-1] }} {{ 'abcdef'[::2] }} {{ [1,2,3,4][1:-1] }} {{ 'héllo'[1] }}",
                 "bc ef fedcba ace [2, 3] é");
    check_render("{{ messages[1:][0].role }} {{ messages[-1].content }} {{ messages|length }} {{ messages[10] is defined }}",
                 "user Bye 4 False");
    check_render("{{ {'a': 1}.a }} {{ {'items': 5}['items'] }} {{ {'a': 1}.items() | list }}",
                 "1 5 [('a', 1)]");
    check_render("{{ x is defined }} {{ none is none }} {{ 'a' is string }} {{ {} is mapping }} {{ 'a' is iterable }} {{ 3 is number }} {{ 3 is integer }} {{ 3.0 is float }} {{ [] is sequence }} {{ 4 is even }} {{ 3 is odd }} {{ 9 is divisibleby 3 }}",
                 "False True True True True True True True True True True True");
    check_render("{{ x is not defined }} {{ none is not none }} {{ 1 is not string }}", "True False True");
    check_render("{{ none.attr }}|{{ none['k'] }}|{{ messages[0].nope }}|{{ 'abc'.nope }}", "|||");
}

static void test_statements(void)
{
    /* set inside a for loop does not leak, and each iteration starts afresh */
    check_render("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = 5 %}{{ x }}{% endfor %}{{ x }}",
                 "15151");
    check_render("{% for i in [1, 2] %}{% if i == 2 %}[{{ y }}]{% endif %}{% set y = i %}{% endfor %}", "[]");
    check_render("{% if true %}{% set q = 1 %}{% endif %}{{ q }}", "1");
    /* namespace objects carry values out of loops */
    check_render("{% set ns = namespace(n=0, s='') %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% set ns.s = ns.s ~ m.role[0] %}{% endfor %}{{ ns.n }} {{ ns.s }}",
                 "4 suau");
    check_render("{% for m in messages %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }} {% endfor %}",
                 "10TrueFalse443 21FalseFalse432 32FalseFalse421 43FalseTrue410 ");
    check_render("{% for x in [1, 2, 3] %}{{ loop.previtem }}>{{ x }}>{{ loop.nextitem }};{% endfor %}",
                 ">1>2;1>2>3;2>3>;");
    check_render("{% for x in [1, 2, 3, 4] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
                 "13");
    check_render("{% for x in [1, 2, 3, 4] if x is odd %}{{ x }}/{{ loop.length }} {% endfor %}", "1/2 3/2 ");
    check_render("{% for x in [] %}a{% else %}empty{% endfor %}", "empty");
    check_render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }};{% endfor %}", "a=1;b=2;");
    check_render("{% for k, v in {'a': 1, 'b': 2} | items %}{{ k }}={{ v }};{% endfor %}", "a=1;b=2;");
    check_render("{% for c in 'ab' %}{{ c }}-{% endfor %}{% for k in {'x': 1} %}{{ k }}{% endfor %}{% for u in undefined_list %}u{% endfor %}",
                 "a-b-x");
    check_render("{% for x in [1, 2] %}{% for y in 'ab' %}{{ loop.index }}{{ y }}{% endfor %}{{ loop.index }};{% endfor %}",
                 "1a2b1;1a2b2;");
    check_render("{% for x in [1, 2] %}{{ loop.cycle('odd', 'even') }} {% endfor %}", "odd even ");
    check_render("{% if false %}a{% elif 0 %}b{% elif 'x' %}c{% else %}d{% endif %}", "c");
    check_render("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(punct='.', name='C') }} {{ greet() }}",
                 "Hi A! Hi B? Hi C. Hi !");
    check_render("{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(3) }}", "321");
    check_render("{% macro m() %}{{ later }}{% endmacro %}{% set later = 'L' %}{{ m() }}", "L");
    check_render("{% macro m() %}{% set inner = 1 %}{% endmacro %}{{ m() }}{{ inner is defined }}", "False");
    check_render("{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}body{% endcall %}", "<body>");
    check_render("{% set block %}  x {{ 1 + 1 }}  {% endset %}[{{ block }}]", "[  x 2  ]");
    check_render("{% set block | trim | upper %}  x  {% endset %}[{{ block }}]", "[X]");
    check_render("{% filter upper %}a{{ 'b' }}{% set w = 2 %}{% endfilter %}{{ w is defined }}", "ABFalse");
    check_render("{% set a, b = [1, 2] %}{{ b }}{{ a }}", "21");
    check_render("{% set t = 1, 2 %}{{ t }}", "(1, 2)");
    check_render("{% with a = 1 %}{{ a }}{% endwith %}{{ a is defined }}", "1False");
    check_render("{{ bos_token }}{{ eos_token }}{{ add_generation_prompt }}{{ tools }}{{ documents }}", "<s></s>TrueNoneNone");
    check_render("{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %H:%M %A') }}", "26 Jul 2024 2024-07-26 00:00 Friday");
    check_render("{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ range(3, 0, -1) | join(',') }}", "[0, 1, 2] [1, 3, 5] 3,2,1");
    check_render("{% generation %}g{% endgeneration %}", "g");
}

static void test_filters_and_methods(void)
{
    check_render("[{{ '  a b \\t\\n' | trim }}] [{{ '\\u3000x\\u00a0' | trim }}] [{{ 'xxaxx' | trim('x') }}] [{{ undefined_v | trim }}]",
                 "[a b] [x] [a] []");
    check_render("{{ ' a '.strip() }}|{{ ' a '.lstrip() }}|{{ ' a '.rstrip() }}|{{ 'xay'.strip('xy') }}", "a|a | a|a");
    check_render("{{ 'a b  c'.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ 'a,b,c'.rsplit(',', 1) }} {{ '  '.split() }}",
                 "['a', 'b', 'c'] ['a', 'b', '', 'c'] ['a', 'b,c'] ['a,b', 'c'] []");
    check_render("{{ 'hello wORLD it\\'s x1y'.title() }}|{{ 'hello-wORLD (x)' | title }}|{{ 'abc'.upper() }}|{{ 'ÀÉÎ' | lower }}|{{ 'straße'.upper() }}|{{ 'hello World'.capitalize() }}",
                 "Hello World It'S X1Y|Hello-World (X)|ABC|àéî|STRASSE|Hello world");
    check_render("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith('bc') }} {{ 'abc'.endswith(('x', 'c')) }} {{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '', 1) }} {{ 'abcb'.find('b') }} {{ 'abcb'.count('b') }}",
                 "True True True a+b+c ab-c 1 2");
    check_render("{{ {'a': 1}.get('a') }} {{ {'a': 1}.get('b') }} {{ {'a': 1}.get('b', 2) }} {{ {'a': 1, 'b': 2}.keys() | list }} {{ {'a': 1, 'b': 2}.values() | list }}",
                 "1 None 2 ['a', 'b'] [1, 2]");
    check_render("{{ messages | map(attribute='role') | join(', ') }}", "system, user, assistant, user");
    check_render("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | map('trim') | list }}",
                 "['Hi', 'Bye']");
    check_render("{{ messages | rejectattr('role', 'in', ['user', 'system']) | list | length }} {{ messages | selectattr('nope', 'defined') | list }} {{ messages | selectattr('role') | list | length }}",
                 "1 [] 4");
    check_render("{{ [1, 2, 3, 4] | select('odd') | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ [0, 1, '', 'a'] | select | list }}",
                 "[1, 3] [2, 4] [1, 'a']");
    check_render("{{ ['a', 'A', 'b', 'a'] | unique | list }} {{ ['a', 'A'] | unique(case_sensitive=true) | list }}", "['a', 'b'] ['a', 'A']");
    check_render("{{ [3, 1, 2] | sort }} {{ ['b', 'A', 'c'] | sort }} {{ [3, 1, 2] | sort(reverse=true) }} {{ messages | sort(attribute='role') | map(attribute='role') | first }}",
                 "[1, 2, 3] ['A', 'b', 'c'] [3, 2, 1] assistant");
    check_render("{{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ [] | first }}| {{ 'abc' | list }} {{ 'abc' | reverse }} {{ [1, 2] | reverse | list }}",
                 "1 3 | ['a', 'b', 'c'] cba [2, 1]");
    check_render("{{ missing | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }} {{ none | default('d') }} {{ 0 | d('z', boolean=true) }}",
                 "d  d None z");
    check_render("{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent('> ', blank=true) }}",
                 "a\n  b\n\n  c|  a\n  b|a\n> \n> b");
    check_render("{{ 'a\"b' | replace('\"', \"'\") }} {{ 5 | string }}{{ [1] | string }} {{ 'x' | safe }} {{ '<a&b>' | e }}",
                 "a'b 5[1] x &lt;a&amp;b&gt;");
    check_render("{{ [1, 2.5] | sum }} {{ [3, 1] | max }} {{ [3, 1] | min }} {{ -3 | abs }} {{ '42' | int }} {{ 'x' | int(7) }} {{ '2.5' | float }} {{ 2.5 | round }} {{ 2.567 | round(2) }} {{ 'a b c' | wordcount }}",
                 "3.5 3 1 3 42 7 2.5 2.0 2.57 3");
    check_render("{{ messages[0] | tojson }}", "{\"role\": \"system\", \"content\": \"Be brief.\"}");
    check_render("{{ {'b': [1, 2], 'a': 'é\"<'} | tojson(indent=2) }}",
                 "{\n  \"b\": [\n    1,\n    2\n  ],\n  \"a\": \"é\\\"<\"\n}");
    check_render("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }} {{ 'x' | tojson }} {{ none | tojson }} {{ (1, 2) | tojson }}",
                 "{\"a\": 2, \"b\": 1} \"x\" null [1, 2]");
    check_render("{{ '%s-%d' % ('a', 3) }} {{ '{} {name}'.format(1, name='n') }} {{ '%s' | format('z') }}", "a-3 1 n z");
    check_render("{{ 'a' | center(5) }}|{{ 'hello world foo' | truncate(9, leeway=0) }}|{{ ', '.join(['a', 'b']) }}",
                 "  a  |hello...|a, b");
    check_render("{{ [[1, 2], [3]] | map('length') | list }} {{ [1, 2, 3, 4, 5] | batch(2) | list }}", "[2, 1] [[1, 2], [3, 4], [5]]");
}

static void test_errors(void)
{
    check_error_message("{{ raise_exception('Roles must alternate!') }}", "Roles must alternate!");
    check_error_message("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}",
                        "System role not supported");
    check_render("{{ 'a' + 1 }}", NULL);             /* str + int */
    check_render("{{ 'a' + nothing }}", NULL);       /* + with undefined */
    check_render("{{ nothing['k'] }}", NULL);        /* subscript of undefined */
    check_render("{{ nothing.k }}", NULL);           /* attribute of undefined */
    check_render("{% for t in tools %}{% endfor %}", NULL); /* tools is None */
    check_render("{{ nothing() }}", NULL);
    check_render("{{ 1 / 0 }}", NULL);
    check_render("{{ [] | tojson }}{{ nothing | tojson }}", NULL);
    check_render("{{ messages | map(attribute='role') | tojson }}", NULL); /* a generator */
    check_render("{{ (messages | selectattr('role')) | length }}", NULL);
    check_render("{{ 1 < 'a' }}", NULL);
    check_render("{% set x = 1 %}{% set x.y = 2 %}", NULL);
    check_render("{{ [].append(1) }}", NULL); /* the sandbox allows no mutation */
    check_render("{{ x | no_such_filter }}", NULL);
    check_render("{{ x is no_such_test }}", NULL);
    check_render("{{ range(1000000) | length }}", NULL);
    check_render("{% set a, b = [1, 2, 3] %}", NULL);
    check_render("{{ 'x'.split('') }}", NULL);
}

/* Malformed or hostile templates must fail with a message, never crash or hang. */
static void test_robustness(void)
{
    const char *bad[] = {
        "{{", "{{ }}", "{% if %}", "{% if true %}", "{% for %}", "{% for x in %}{% endfor %}",
        "{% endif %}", "{% else %}", "{% endfor %}", "{{ 1 + }}", "{{ (1 }}", "{{ [1, }}",
        "{{ {'a' 1} }}", "{{ 'abc }}", "{# never closed", "{% raw %}x", "{% macro %}{% endmacro %}",
        "{% set %}", "{% set 1 = 2 %}", "{% break %}", "{% include 'x' %}", "{% extends 'x' %}",
        "{{ a | }}", "{{ a is }}", "{{ a. }}", "{{ 'x' ) }}", "{% if true %}{% endfor %}",
        "{{ 99999999999999999999 }}", "{% for x in [1] %}{% macro m() %}{% break %}{% endmacro %}{% endfor %}",
        "{{ '\\x4' }}", "{% unknown_tag %}", "{% set x = 1 %}{{ x[ }}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *out = NULL;
        int rc = kestrel_chat_render(bad[i], "[]", NULL, true, "", "", &out);
        CHECK(rc == -1 && out == NULL && kestrel_last_error()[0], "malformed template [%s] accepted",
              bad[i]);
        free(out);
    }
    /* Deep nesting in the source. */
    {
        size_t depth = 20000;
        char *src = malloc(depth * 2 + 16);
        size_t n = 0;
        n += (size_t)sprintf(src + n, "{{ ");
        for (size_t i = 0; i < depth; i++)
            src[n++] = '(';
        src[n++] = '1';
        for (size_t i = 0; i < depth; i++)
            src[n++] = ')';
        n += (size_t)sprintf(src + n, " }}");
        src[n] = 0;
        check_render(src, NULL);
        n = 0;
        for (size_t i = 0; i < depth / 10; i++)
            n += (size_t)sprintf(src + n, "{%% if 1 %%}");
        src[n] = 0;
        check_render(src, NULL);
        free(src);
    }
    /* Unbounded recursion, output and work. */
    check_render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", NULL);
    check_render("{% set ns = namespace(s='xxxxxxxxxxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}", NULL);
    check_render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", NULL);
    check_render("{{ 'x' * 100000000 }}", NULL);
    /* Bad inputs to the API itself. */
    char *out = NULL;
    CHECK(kestrel_chat_render("x", "not json", NULL, true, "", "", &out) == -1 && !out, "bad messages JSON accepted");
    CHECK(kestrel_chat_render("x", "{\"a\": 1}", NULL, true, "", "", &out) == -1 && !out, "object without messages accepted");
    CHECK(kestrel_chat_render("x", "[]", "{", true, "", "", &out) == -1 && !out, "bad tools JSON accepted");
    CHECK(kestrel_chat_render("x", "[]", "{\"a\":1}", true, "", "", &out) == -1 && !out, "tools object accepted");
    CHECK(kestrel_chat_render(NULL, "[]", NULL, true, "", "", &out) == -1, "NULL template accepted");
    /* The request-body shape: {"messages": [...], "tools": [...]} */
    int rc = kestrel_chat_render("{{ messages[0].content }}{{ tools[0].n }}",
                                 "{\"messages\": [{\"role\": \"user\", \"content\": \"c\"}], \"tools\": [{\"n\": 7}]}",
                                 NULL, false, NULL, NULL, &out);
    CHECK(rc == 0 && out && !strcmp(out, "c7"), "object-shaped messages: %s", rc ? kestrel_last_error() : out);
    free(out);
}

/* ---- the manifest -------------------------------------------------------------------------------- */

static const json_value *find_case(const json_value *conversations, const char *name)
{
    const json_value *cases = json_object_get(conversations, "cases");
    for (size_t i = 0; cases && cases->type == JSON_ARRAY && i < cases->u.array.count; i++) {
        const json_value *nm = json_object_get(cases->u.array.items[i], "name");
        if (nm && nm->type == JSON_STRING && !strcmp(nm->u.string.ptr, name))
            return cases->u.array.items[i];
    }
    return NULL;
}

static const char *str_member(const json_value *obj, const char *key)
{
    const json_value *v = json_object_get(obj, key);
    return v && v->type == JSON_STRING ? v->u.string.ptr : NULL;
}

static void test_manifest(void)
{
    char dir[1024], path[2048];
    snprintf(dir, sizeof dir, "%s/templates", test_shared_dir());
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    size_t len;
    char *text = read_file(path, &len);
    CHECK(text != NULL, "cannot read %s", path);
    if (!text)
        return;
    char err[256];
    json_value *manifest = json_parse(text, len, err, sizeof err);
    free(text);
    CHECK(manifest != NULL, "manifest.json: %s", err);
    snprintf(path, sizeof path, "%s/conversations.json", dir);
    text = read_file(path, &len);
    json_value *conversations = text ? json_parse(text, len, err, sizeof err) : NULL;
    free(text);
    CHECK(conversations != NULL, "conversations.json unreadable");
    if (!manifest || !conversations) {
        json_free(manifest);
        json_free(conversations);
        return;
    }

    int n_text = 0, n_text_ok = 0, n_error = 0, n_error_ok = 0, n_skipped = 0;
    const json_value *templates = json_object_get(manifest, "templates");
    for (size_t t = 0; templates && t < templates->u.array.count; t++) {
        const json_value *tmpl = templates->u.array.items[t];
        const char *name = str_member(tmpl, "name");
        snprintf(path, sizeof path, "%s/%s", dir, str_member(tmpl, "template"));
        char *src = read_file(path, NULL);
        CHECK(src != NULL, "cannot read %s", path);
        if (!src)
            continue;
        const char *bos = str_member(tmpl, "bos_token"), *eos = str_member(tmpl, "eos_token");
        const json_value *results = json_object_get(tmpl, "results");
        for (size_t r = 0; results && r < results->u.array.count; r++) {
            const json_value *res = results->u.array.items[r];
            const char *outcome = str_member(res, "outcome");
            const char *case_name = str_member(res, "case"), *mode = str_member(res, "mode");
            if (!strcmp(outcome, "skipped")) {
                n_skipped++;
                continue;
            }
            const json_value *cs = find_case(conversations, case_name);
            const json_value *tools = json_object_get(cs, "tools");
            char *msgs = json_dumps(json_object_get(cs, "messages"), NULL, NULL);
            char *tools_text = tools && tools->type != JSON_NULL ? json_dumps(tools, NULL, NULL) : NULL;
            const json_value *agp = json_object_get(res, "add_generation_prompt");
            bool gen = agp ? agp->u.boolean : !strcmp(mode, "gen");
            char *out = NULL;
            int rc = kestrel_chat_render(src, msgs, tools_text, gen, bos, eos, &out);
            snprintf(path, sizeof path, "%s/%s", dir, str_member(res, "file"));
            size_t want_len = 0;
            char *want = read_file(path, &want_len);
            if (!strcmp(outcome, "text")) {
                n_text++;
                bool ok = rc == 0 && want && out && strlen(out) == want_len && !memcmp(out, want, want_len);
                n_text_ok += ok;
                CHECK(ok, "%s.%s.%s: %s", name, case_name, mode,
                      rc ? kestrel_last_error() : "output differs");
                if (!ok && rc == 0 && getenv("KESTREL_TEMPLATE_DIFF"))
                    fprintf(stderr, "---- got\n%s\n---- want\n%s\n----\n", out, want ? want : "");
            } else {
                n_error++;
                const char *kind = str_member(res, "error_kind");
                bool ok = rc == -1 && !out;
                if (ok && kind && !strcmp(kind, "raise_exception"))
                    ok = want && !strcmp(kestrel_last_error(), want);
                n_error_ok += ok;
                CHECK(ok, "%s.%s.%s: expected %s error [%s], got %s", name, case_name, mode,
                      kind ? kind : "an", want ? want : "", rc ? kestrel_last_error() : "text");
            }
            free(want);
            free(out);
            free(msgs);
            free(tools_text);
        }
        free(src);
    }
    printf("manifest: %d/%d text entries match, %d/%d error entries fail as expected, %d skipped\n",
           n_text_ok, n_text, n_error_ok, n_error, n_skipped);
    json_free(manifest);
    json_free(conversations);
}

int main(void)
{
    test_json();
    test_whitespace();
    test_values();
    test_statements();
    test_filters_and_methods();
    test_errors();
    test_robustness();
    test_manifest();
    return test_report();
}
