#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "kestrel.h"

const char *cli_default_model(void)
{
    static char path[PATH_MAX + 64];
    const char *env = getenv("KESTREL_MODEL");
    if (env && *env)
        return env;
    ssize_t n = readlink("/proc/self/exe", path, PATH_MAX);
    if (n > 0) {
        path[n] = 0;
        char *slash = strrchr(path, '/');
        if (slash) {
            strcpy(slash + 1, KESTREL_DEFAULT_MODEL);
            if (access(path, R_OK) == 0)
                return path;
        }
    }
    return KESTREL_DEFAULT_MODEL;
}

bool cli_parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool cli_parse_float(const char *s, double lo, double hi, double *out)
{
    if (!s || !*s)
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

char *cli_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "kestrel: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        char *grown = realloc(buf, cap * 2 + 1);
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        fprintf(stderr, "kestrel: %s: %s\n", path, buf ? "read error" : "out of memory");
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t cli_unescape(char *s, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\' || i + 1 == len) {
            s[o++] = s[i];
            continue;
        }
        char c = s[++i];
        switch (c) {
        case 'n': s[o++] = '\n'; break;
        case 't': s[o++] = '\t'; break;
        case 'r': s[o++] = '\r'; break;
        case '\\': s[o++] = '\\'; break;
        case '"': s[o++] = '"'; break;
        case '\'': s[o++] = '\''; break;
        default:
            if (c == 'x' && i + 2 < len && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
                s[o++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
                i += 2;
                break;
            }
            /* not an escape we know: keep it as written */
            s[o++] = '\\';
            s[o++] = c;
        }
    }
    s[o] = 0;
    return o;
}

int cli_shared_option(const char *opt, const char *value, kestrel_context_params *cp, kestrel_sampler_params *sp)
{
    static const char *const names[] = { "-c", "--ctx-size", "-b", "--batch-size", "-t", "--threads", "-ctk",
                                         "--cache-type-k", "-ctv", "--cache-type-v", "--temp", "--top-k", "--top-p",
                                         "--min-p", "--repeat-penalty", "--repeat-last-n", "--frequency-penalty",
                                         "--presence-penalty", "-s", "--seed" };
    int which = -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(opt, names[i]) == 0)
            which = (int)i;
    if (which < 0)
        return 0;
    long n = 0;
    double d = 0;
    bool ok = value != NULL;
    const char *name = names[which];
    if (ok && which < 6) {
        long hi = which < 2 ? 1L << 24 : which < 4 ? 1L << 16 : 1024;
        ok = cli_parse_int(value, which < 2 ? 0 : 1, hi, &n);
        if (ok)
            *(which < 2 ? &cp->n_ctx : which < 4 ? &cp->n_batch : &cp->n_threads) = (int)n;
    } else if (ok && which < 10) {
        ok = strcmp(value, "f16") == 0 || strcmp(value, "f32") == 0;
        cp->kv_type = strcmp(value, "f32") == 0 ? KESTREL_KV_F32 : KESTREL_KV_F16;
    } else if (ok && strcmp(name, "--temp") == 0) {
        ok = cli_parse_float(value, -1e9, 1e9, &d);
        sp->temp = (float)d;
    } else if (ok && strcmp(name, "--top-k") == 0) {
        ok = cli_parse_int(value, -1, 1L << 30, &n);
        sp->top_k = (int)n;
    } else if (ok && (strcmp(name, "--top-p") == 0 || strcmp(name, "--min-p") == 0)) {
        ok = cli_parse_float(value, 0, 1, &d);
        *(name[3] == 'o' ? &sp->top_p : &sp->min_p) = (float)d;
    } else if (ok && strcmp(name, "--repeat-penalty") == 0) {
        ok = cli_parse_float(value, 0, 1e6, &d);
        sp->repeat_penalty = (float)d;
    } else if (ok && strcmp(name, "--repeat-last-n") == 0) {
        ok = cli_parse_int(value, -1, 1L << 30, &n);
        sp->repeat_last_n = (int)n;
    } else if (ok && (strcmp(name, "--frequency-penalty") == 0 || strcmp(name, "--presence-penalty") == 0)) {
        ok = cli_parse_float(value, -1e6, 1e6, &d);
        *(name[2] == 'f' ? &sp->frequency_penalty : &sp->presence_penalty) = (float)d;
    } else if (ok) { /* -s, --seed */
        char *end;
        errno = 0;
        unsigned long long seed = strtoull(value, &end, 10);
        ok = *value && value[0] != '-' && *end == 0 && errno == 0;
        sp->seed = seed;
    }
    if (!ok) {
        fprintf(stderr, "kestrel: bad or missing value for %s\n", opt);
        return 2;
    }
    return 1;
}

int cli_fail(void)
{
    fprintf(stderr, "kestrel: %s\n", kestrel_last_error());
    return 1;
}

cli_draft_options cli_draft_default_options(void)
{
    cli_draft_options d = { NULL, NULL, 0, 0, kestrel_spec_default_params() };
    return d;
}

int cli_draft_option(const char *opt, const char *value, cli_draft_options *d)
{
#define IS(name) (strcmp(opt, name) == 0)
    if (IS("--lookup")) {
        d->spec.lookup = true;
        return 1;
    }
    if (IS("--draft-fixed")) {
        d->spec.adaptive = false;
        return 1;
    }
    long n = 0;
    double f = 0;
    int *field = NULL; /* where an integer value goes */
    bool ok = value != NULL;
    if (IS("-md") || IS("--model-draft")) {
        d->model = value;
    } else if (IS("--draft-self")) {
        d->self_type = value;
    } else if (IS("--draft-self-layers")) {
        field = &d->self_layers;
    } else if (IS("-td") || IS("--threads-draft")) {
        field = &d->threads;
    } else if (IS("--draft-max") || IS("--draft") || IS("--draft-n")) {
        field = &d->spec.n_max;
    } else if (IS("--draft-min") || IS("--draft-n-min")) {
        field = &d->spec.n_min;
    } else if (IS("--draft-p-min")) {
        ok = ok && cli_parse_float(value, 0, 1, &f);
        d->spec.p_min = (float)f;
    } else {
        return 0;
    }
    if (field) {
        ok = ok && cli_parse_int(value, 0, field == &d->self_layers ? 1 << 20 : field == &d->threads ? 1024 : 256, &n);
        *field = (int)n;
    }
#undef IS
    if (!ok) {
        fprintf(stderr, "kestrel: bad or missing value for %s\n", opt);
        return -1;
    }
    return 2;
}

int cli_draft_wanted(const cli_draft_options *d)
{
    int n = (d->model != NULL) + (d->self_type != NULL) + d->spec.lookup;
    if (n > 1) {
        fprintf(stderr, "kestrel: give one of -md, --draft-self and --lookup\n");
        return -1;
    }
    return n;
}

int cli_draft_open(const cli_draft_options *d, kestrel_model *target, const kestrel_context *tctx,
                   const kestrel_context_params *cp, kestrel_model **draft, kestrel_context **dctx)
{
    *draft = NULL;
    *dctx = NULL;
    if (d->spec.lookup)
        return 0;
    kestrel_model *m = d->model ? kestrel_model_load(d->model) : kestrel_model_self_draft(target, d->self_type, d->self_layers);
    if (!m)
        return cli_fail();
    if (kestrel_spec_check_vocab(target, m)) {
        fprintf(stderr, "kestrel: the draft cannot be used with this target: %s\n", kestrel_last_error());
        kestrel_model_free(m);
        return 1;
    }
    kestrel_context_params dp = *cp;
    dp.n_ctx = kestrel_n_ctx(tctx); /* the draft runs as far as the target */
    if (d->threads > 0)
        dp.n_threads = d->threads;
    kestrel_context *c = kestrel_context_new(m, &dp);
    if (!c) {
        cli_fail();
        kestrel_model_free(m);
        return 1;
    }
    *draft = m;
    *dctx = c;
    return 0;
}
