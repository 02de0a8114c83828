/* kestrel chat: an interactive conversation (llama.cpp's -cnv / -i).
 *
 * Each turn renders the whole conversation with the chat template, tokenizes
 * it, and evaluates only what differs from the tokens already in the KV cache
 * (the common prefix is kept), so history is not processed again. The reply
 * streams until an end-of-generation token, -n tokens, Ctrl-C or a full
 * context; its text becomes the assistant message. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "kestrel.h"
#include "line_edit.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kestrel chat [-m model.gguf] [-sys PROMPT] [--chat-template FILE|NAME] [options]\n"
            "       (also: kestrel -cnv ... or kestrel -i ...)\n"
            "\n"
            "  -m, --model FILE          GGUF model (default: %s)\n"
            "  -sys, --system-prompt T   the system prompt (-p/--prompt and -f/--file set it too)\n"
            "  --chat-template F|NAME    a Jinja template file, or a built-in:",
            KESTREL_DEFAULT_MODEL);
    for (int i = 0; kestrel_chat_builtin_name(i); i++)
        fprintf(out, " %s", kestrel_chat_builtin_name(i));
    fprintf(out,
            "\n"
            "                            (default: the model's tokenizer.chat_template, else chatml)\n"
            "  -n, --n-predict N         most tokens per reply (-1: until end of turn or full context; default -1)\n"
            "  -c, --ctx-size N          context length (0: the model's; default 0)\n"
            "  -b, --batch-size N        tokens per forward pass when reading the prompt (default 512)\n"
            "  -t, --threads N           threads (default: physical cores)\n"
            "  -ctk, --cache-type-k T    KV cache type, f16 or f32 (default f16)\n"
            "  --temp T, --top-k K, --top-p P, --min-p P, --repeat-penalty R, --repeat-last-n N,\n"
            "  --frequency-penalty F, --presence-penalty P, -s/--seed S   sampling, as for 'kestrel run'\n"
            "  -e, --escape              process escapes in the system prompt\n"
            "  --simple-io               read plain lines even on a terminal (no line editing)\n"
            "  --verbose                 print per-turn token counts and speeds on stderr\n"
            "  -h, --help                this text\n"
            "\n"
            "In the chat: a line ending in \\ continues on the next line; /help lists the commands.\n");
}

static const char help_text[] =
    "  /help            this list\n"
    "  /reset           forget the conversation (the system prompt stays)\n"
    "  /system [TEXT]   set the system prompt and reset (without TEXT: show it)\n"
    "  /save FILE       write the conversation as JSON messages\n"
    "  /load FILE       read such a file and evaluate it\n"
    "  /params          sampling parameters and context use\n"
    "  /quit            leave (so do Ctrl-D and Ctrl-C twice)\n"
    "  //text           send a message that starts with /text\n"
    "  Ctrl-C stops a reply. A line ending in \\ continues on the next line.\n";

static volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

typedef struct {
    const char *model, *system, *system_file, *template_arg;
    bool escape, verbose, simple_io;
    long n_predict;
    kestrel_context_params cparams;
    kestrel_sampler_params sparams;
} chat_options;

typedef struct {
    chat_options *o;
    kestrel_model *model;
    kestrel_context *ctx;
    kestrel_sampler *sampler;
    const char *tmpl;       /* the template in use */
    char *tmpl_owned;       /* when read from a file */
    const char *tmpl_name;  /* for /params */
    char *bos_text, *eos_text;
    kestrel_chat_message *msgs;
    int n_msgs, cap_msgs;
    kestrel_token *cache;   /* the tokens at KV positions 0 .. n_cache-1 */
    int n_cache, n_ctx;
    int turn;
    long total_evaluated, total_generated;
} chat;

/* ---- small helpers ----------------------------------------------------------- */

static bool is_option(const char *arg, const char *name, const char *alias)
{
    return strcmp(arg, name) == 0 || (alias && strcmp(arg, alias) == 0);
}

/* A copy of s with every invalid UTF-8 sequence replaced by U+FFFD (the chat
 * template's JSON input must be valid UTF-8). */
static char *utf8_clean(const char *s)
{
    size_t n = strlen(s);
    char *out = malloc(n * 3 + 1), *o = out;
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        int need = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : -1;
        bool ok = need >= 0 && end - p > need;
        for (int k = 1; ok && k <= need; k++)
            ok = (p[k] & 0xC0) == 0x80;
        if (ok && need >= 2) {
            unsigned c1 = p[1];
            if ((c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
                (c == 0xF4 && c1 > 0x8F))
                ok = false;
        }
        if (!ok) {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
            p++;
            continue;
        }
        memcpy(o, p, (size_t)need + 1);
        o += need + 1;
        p += need + 1;
    }
    *o = 0;
    return out;
}

static char *token_text(const kestrel_model *model, kestrel_token token)
{
    if (token < 0)
        return strdup("");
    char small[64];
    int n = kestrel_token_to_piece(model, token, small, (int)sizeof small - 1, true);
    if (n >= 0) {
        small[n] = 0;
        return strdup(small);
    }
    char *buf = malloc((size_t)-n + 1);
    if (!buf)
        return NULL;
    n = kestrel_token_to_piece(model, token, buf, -n, true);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

static int add_message(chat *c, const char *role, const char *content)
{
    if (c->n_msgs == c->cap_msgs) {
        int cap = c->cap_msgs ? c->cap_msgs * 2 : 16;
        kestrel_chat_message *m = realloc(c->msgs, (size_t)cap * sizeof *m);
        if (!m)
            return -1;
        c->msgs = m;
        c->cap_msgs = cap;
    }
    kestrel_chat_message *m = &c->msgs[c->n_msgs];
    m->role = strdup(role);
    m->content = utf8_clean(content);
    if (!m->role || !m->content) {
        free(m->role);
        free(m->content);
        return -1;
    }
    c->n_msgs++;
    return 0;
}

static void remove_messages(chat *c, int from, int to)
{
    for (int i = from; i < to; i++) {
        free(c->msgs[i].role);
        free(c->msgs[i].content);
    }
    memmove(c->msgs + from, c->msgs + to, (size_t)(c->n_msgs - to) * sizeof *c->msgs);
    c->n_msgs -= to - from;
}

static bool has_system(const chat *c)
{
    return c->n_msgs > 0 && strcmp(c->msgs[0].role, "system") == 0;
}

/* Forgets everything but the system prompt; the cache is rewritten from 0. */
static void reset_conversation(chat *c)
{
    remove_messages(c, has_system(c) ? 1 : 0, c->n_msgs);
    c->n_cache = 0;
    kestrel_sampler_reset(c->sampler);
}

/* Drops the oldest turn after the system prompt: from the first message after
 * it up to the next user message. False when only the last user turn is left. */
static bool drop_oldest_turn(chat *c)
{
    int from = has_system(c) ? 1 : 0;
    for (int j = from + 1; j < c->n_msgs; j++)
        if (strcmp(c->msgs[j].role, "user") == 0) {
            remove_messages(c, from, j);
            return true;
        }
    return false;
}

/* ---- rendering and the cache --------------------------------------------------- */

/* The conversation as tokens: rendered with the template, tokenized with
 * special tokens parsed and no BOS added, then a BOS put first when the model
 * wants one and the template did not write it. */
static kestrel_token *render_messages(chat *c, const kestrel_chat_message *msgs, int n_msgs,
                                      bool generation_prompt, int *n_tokens)
{
    char *json = kestrel_chat_messages_json(msgs, n_msgs, -1);
    if (!json) {
        fprintf(stderr, "kestrel: out of memory\n");
        return NULL;
    }
    char *text = NULL;
    int rc = kestrel_chat_render(c->tmpl, json, NULL, generation_prompt, c->bos_text, c->eos_text, &text);
    free(json);
    if (rc) {
        fprintf(stderr, "kestrel: chat template: %s\n", kestrel_last_error());
        return NULL;
    }
    int n = 0;
    kestrel_token *toks = kestrel_tokenize_alloc(c->model, text, strlen(text), false, true, &n);
    free(text);
    if (!toks) {
        cli_fail();
        return NULL;
    }
    kestrel_token bos = kestrel_token_bos(c->model);
    if (kestrel_add_bos(c->model) && bos >= 0 && (n == 0 || toks[0] != bos)) {
        kestrel_token *t = realloc(toks, (size_t)(n + 1) * sizeof *t);
        if (!t) {
            free(toks);
            return NULL;
        }
        toks = t;
        memmove(toks + 1, toks, (size_t)n * sizeof *toks);
        toks[0] = bos;
        n++;
    }
    *n_tokens = n;
    return toks;
}

static kestrel_token *render_tokens(chat *c, bool generation_prompt, int *n_tokens)
{
    return render_messages(c, c->msgs, c->n_msgs, generation_prompt, n_tokens);
}

/* Whether the shortest conversation dropping turns can reach (the system
 * prompt and the last turn) fits the context. */
static bool shortest_fits(chat *c, bool generation_prompt)
{
    int from = has_system(c) ? 1 : 0, last = from;
    for (int j = from + 1; j < c->n_msgs; j++)
        if (strcmp(c->msgs[j].role, "user") == 0)
            last = j;
    kestrel_chat_message *m = malloc((size_t)(c->n_msgs + 1) * sizeof *m);
    if (!m)
        return false;
    int n = 0;
    if (from)
        m[n++] = c->msgs[0];
    for (int j = last; j < c->n_msgs; j++)
        m[n++] = c->msgs[j];
    int n_tokens = 0;
    kestrel_token *toks = render_messages(c, m, n, generation_prompt, &n_tokens);
    free(m);
    bool fits = toks && n_tokens < c->n_ctx;
    free(toks);
    return fits;
}

/* Renders the conversation and drops the oldest turns until it leaves `reserve`
 * positions free (it says so on stderr). NULL when even the last turn does not
 * fit, or on error. */
static kestrel_token *render_fitting(chat *c, bool generation_prompt, int reserve, int *n_tokens)
{
    int dropped = 0;
    for (;;) {
        int n = 0;
        kestrel_token *toks = render_tokens(c, generation_prompt, &n);
        if (!toks)
            return NULL;
        int before = c->n_msgs;
        bool fits = n + reserve <= c->n_ctx;
        if (!fits && !dropped && n >= c->n_ctx && !shortest_fits(c, generation_prompt)) {
            /* hopeless: keep the history as it is */
            fprintf(stderr, "kestrel: the last message needs more than the context of %d tokens (use -c)\n", c->n_ctx);
            free(toks);
            return NULL;
        }
        if (!fits && drop_oldest_turn(c)) {
            free(toks);
            dropped += before - c->n_msgs;
            continue;
        }
        if (!fits && n >= c->n_ctx) {
            fprintf(stderr, "kestrel: the conversation needs %d tokens, more than the context of %d (use -c)\n", n,
                    c->n_ctx);
            free(toks);
            return NULL;
        }
        if (dropped)
            fprintf(stderr, "kestrel: the context (%d tokens) was full: dropped the %d oldest message%s; "
                            "evaluating what remains\n",
                    c->n_ctx, dropped, dropped == 1 ? "" : "s");
        *n_tokens = n;
        return toks;
    }
}

/* Makes the cache hold toks[0..n): keeps the common prefix, evaluates the rest
 * (at least the last token when its logits are needed). Returns the number of
 * tokens evaluated, -1 on error, -2 when interrupted (the cache then holds what
 * was evaluated). */
static int sync_cache(chat *c, const kestrel_token *toks, int n, bool need_logits, int *reused)
{
    int keep = 0;
    while (keep < n && keep < c->n_cache && c->cache[keep] == toks[keep])
        keep++;
    if (need_logits && keep == n)
        keep = n - 1;
    *reused = keep;
    c->n_cache = keep;
    int batch = c->o->cparams.n_batch > 0 ? c->o->cparams.n_batch : 512;
    for (int i = keep; i < n;) {
        if (g_interrupted)
            return -2;
        int m = n - i < batch ? n - i : batch;
        if (kestrel_decode(c->ctx, toks + i, m, i, false)) {
            cli_fail();
            return -1;
        }
        memcpy(c->cache + i, toks + i, (size_t)m * sizeof *toks);
        for (int k = 0; k < m; k++)
            kestrel_sampler_accept(c->sampler, toks[i + k]);
        i += m;
        c->n_cache = i;
    }
    c->total_evaluated += n - keep;
    return n - keep;
}

/* Writes the text of a token and appends it to the reply. */
static int emit(chat *c, kestrel_utf8_stream *stream, kestrel_token tok, char **reply, size_t *len, size_t *cap)
{
    char small[256], *piece = small;
    int n = kestrel_detokenize_stream(c->model, stream, tok, small, (int)sizeof small);
    if (n < 0) {
        piece = malloc((size_t)-n);
        if (!piece)
            return -1;
        n = kestrel_detokenize_stream(c->model, stream, tok, piece, -n);
    }
    if (n > 0) {
        fwrite(piece, 1, (size_t)n, stdout);
        fflush(stdout);
        if (*len + (size_t)n + 1 > *cap) {
            size_t nc = (*cap ? *cap : 256);
            while (nc < *len + (size_t)n + 1)
                nc *= 2;
            char *r = realloc(*reply, nc);
            if (!r) {
                if (piece != small)
                    free(piece);
                return -1;
            }
            *reply = r;
            *cap = nc;
        }
        memcpy(*reply + *len, piece, (size_t)n);
        *len += (size_t)n;
        (*reply)[*len] = 0;
    }
    if (piece != small)
        free(piece);
    return 0;
}

/* One exchange: the user's message in, the reply streamed out. Returns 0, 1 on
 * a fatal error, or 2 when the reply was interrupted. */
static int chat_turn(chat *c, const char *user)
{
    if (add_message(c, "user", user)) {
        fprintf(stderr, "kestrel: out of memory\n");
        return 1;
    }
    int reserve = c->o->n_predict >= 0 ? (int)(c->o->n_predict < c->n_ctx / 2 ? c->o->n_predict : c->n_ctx / 2)
                                       : c->n_ctx / 4;
    int n = 0;
    kestrel_token *toks = render_fitting(c, true, reserve, &n);
    if (!toks || n == 0) {
        if (toks)
            fprintf(stderr, "kestrel: the rendered conversation is empty\n");
        free(toks);
        remove_messages(c, c->n_msgs - 1, c->n_msgs); /* the message is not kept */
        return 0;
    }
    c->turn++;
    int reused = 0;
    double t0 = now_ms();
    int evaluated = sync_cache(c, toks, n, true, &reused);
    double t_prompt = now_ms() - t0;
    free(toks);
    if (evaluated == -1)
        return 1;
    if (evaluated == -2) {
        fprintf(stderr, "\nkestrel: interrupted while reading the prompt\n");
        remove_messages(c, c->n_msgs - 1, c->n_msgs);
        return 2;
    }

    kestrel_utf8_stream stream = { 0 };
    char *reply = NULL;
    size_t reply_len = 0, reply_cap = 0;
    int n_gen = 0, rc = 0;
    bool full = false, interrupted = false;
    t0 = now_ms();
    while (c->o->n_predict < 0 || n_gen < c->o->n_predict) {
        if (g_interrupted) {
            interrupted = true;
            break;
        }
        kestrel_token tok = kestrel_sampler_sample(c->sampler, kestrel_logits(c->ctx, -1));
        kestrel_sampler_accept(c->sampler, tok);
        if (kestrel_token_is_eog(c->model, tok))
            break;
        n_gen++;
        if (emit(c, &stream, tok, &reply, &reply_len, &reply_cap)) {
            rc = 1;
            break;
        }
        if (c->o->n_predict >= 0 && n_gen == c->o->n_predict)
            break;
        if (c->n_cache >= c->n_ctx) {
            full = true;
            break;
        }
        if (kestrel_decode(c->ctx, &tok, 1, c->n_cache, false)) {
            cli_fail();
            rc = 1;
            break;
        }
        c->cache[c->n_cache++] = tok;
    }
    double t_gen = now_ms() - t0;
    if (rc == 0 && emit(c, &stream, -1, &reply, &reply_len, &reply_cap)) /* flush a held-back character */
        rc = 1;
    clearerr(stdout);
    printf("\n");
    fflush(stdout);
    c->total_generated += n_gen;
    if (interrupted)
        fprintf(stderr, "kestrel: reply stopped (Ctrl-C)\n");
    if (full)
        fprintf(stderr, "kestrel: the context of %d tokens is full: reply cut; the oldest turns will be dropped\n",
                c->n_ctx);
    if (rc == 0 && add_message(c, "assistant", reply ? reply : "")) {
        fprintf(stderr, "kestrel: out of memory\n");
        rc = 1;
    }
    free(reply);
    if (c->o->verbose)
        fprintf(stderr,
                "kestrel: turn %d: %d prompt tokens, %d cached, %d evaluated (%.1f ms, %.1f tokens/s); "
                "reply %d tokens (%.1f ms, %.1f tokens/s); context %d/%d\n",
                c->turn, n, reused, evaluated, t_prompt, evaluated * 1e3 / (t_prompt > 0 ? t_prompt : 1e-9), n_gen,
                t_gen, n_gen * 1e3 / (t_gen > 0 ? t_gen : 1e-9), c->n_cache, c->n_ctx);
    return rc ? rc : interrupted ? 2 : 0;
}

/* Evaluates the conversation as it stands (after /load), without a generation
 * prompt, so the next message only adds its own turn. */
static int evaluate_conversation(chat *c)
{
    int n = 0;
    kestrel_token *toks = render_fitting(c, false, c->n_ctx / 4, &n);
    if (!toks)
        return -1;
    int reused = 0, evaluated = 0;
    if (n > 0)
        evaluated = sync_cache(c, toks, n, false, &reused);
    free(toks);
    if (evaluated == -2) {
        fprintf(stderr, "kestrel: interrupted; the conversation will be evaluated with the next message\n");
        return 0;
    }
    if (evaluated < 0)
        return -1;
    if (c->o->verbose)
        fprintf(stderr, "kestrel: %d prompt tokens, %d cached, %d evaluated; context %d/%d\n", n, reused, evaluated,
                c->n_cache, c->n_ctx);
    return evaluated;
}

/* ---- commands -------------------------------------------------------------------- */

static void show_params(const chat *c)
{
    const kestrel_sampler_params *s = &c->o->sparams;
    printf("  model            %s\n", c->o->model);
    printf("  chat template    %s\n", c->tmpl_name);
    printf("  temp %.3g, top-k %d, top-p %.3g, min-p %.3g, repeat-penalty %.3g, repeat-last-n %d, "
           "frequency-penalty %.3g, presence-penalty %.3g\n",
           s->temp, s->top_k, s->top_p, s->min_p, s->repeat_penalty, s->repeat_last_n, s->frequency_penalty,
           s->presence_penalty);
    if (s->seed == KESTREL_SEED_RANDOM)
        printf("  seed random, ");
    else
        printf("  seed %llu, ", (unsigned long long)s->seed);
    printf("n-predict %ld, threads %d\n", c->o->n_predict, kestrel_n_threads(c->ctx));
    printf("  context          %d / %d tokens used, %d messages%s\n", c->n_cache, c->n_ctx, c->n_msgs,
           has_system(c) ? " (system prompt included)" : "");
    fflush(stdout);
}

static void save_conversation(const chat *c, const char *path)
{
    char *json = kestrel_chat_messages_json(c->msgs, c->n_msgs, 2);
    if (!json) {
        fprintf(stderr, "kestrel: out of memory\n");
        return;
    }
    FILE *f = fopen(path, "wb");
    bool ok = f && fputs(json, f) >= 0 && fputc('\n', f) != EOF;
    if (f && fclose(f) != 0)
        ok = false;
    if (ok)
        fprintf(stderr, "kestrel: saved %d messages to %s\n", c->n_msgs, path);
    else
        fprintf(stderr, "kestrel: %s: %s\n", path, strerror(errno));
    free(json);
}

static int load_conversation(chat *c, const char *path)
{
    size_t len = 0;
    char *text = cli_read_file(path, &len);
    if (!text)
        return 0;
    kestrel_chat_message *msgs = NULL;
    int n = kestrel_chat_messages_parse(text, len, &msgs);
    free(text);
    if (n < 0) {
        fprintf(stderr, "kestrel: %s: %s\n", path, kestrel_last_error());
        return 0;
    }
    remove_messages(c, 0, c->n_msgs);
    c->n_cache = 0;
    kestrel_sampler_reset(c->sampler);
    for (int i = 0; i < n; i++)
        if (add_message(c, msgs[i].role, msgs[i].content)) {
            kestrel_chat_messages_free(msgs, n);
            fprintf(stderr, "kestrel: out of memory\n");
            return 1;
        }
    kestrel_chat_messages_free(msgs, n);
    int evaluated = evaluate_conversation(c);
    fprintf(stderr, "kestrel: loaded %d messages from %s", n, path);
    if (evaluated >= 0)
        fprintf(stderr, " (%d tokens evaluated)", evaluated);
    fprintf(stderr, "\n");
    return 0;
}

static void set_system(chat *c, const char *text)
{
    reset_conversation(c);
    if (has_system(c))
        remove_messages(c, 0, 1);
    if (*text && add_message(c, "system", text))
        fprintf(stderr, "kestrel: out of memory\n");
}

/* The argument after a command word, or "" (leading spaces skipped). */
static const char *command_arg(const char *line, const char *cmd)
{
    const char *p = line + strlen(cmd);
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

static bool is_command(const char *line, const char *cmd)
{
    size_t n = strlen(cmd);
    return strncmp(line, cmd, n) == 0 && (line[n] == 0 || line[n] == ' ' || line[n] == '\t');
}

/* Returns 0 to go on, 1 to quit. */
static int run_command(chat *c, const char *line)
{
    if (is_command(line, "/help") || is_command(line, "/?")) {
        fputs(help_text, stdout);
        fflush(stdout);
    } else if (is_command(line, "/quit") || is_command(line, "/exit") || is_command(line, "/bye")) {
        return 1;
    } else if (is_command(line, "/reset") || is_command(line, "/clear")) {
        reset_conversation(c);
        fprintf(stderr, "kestrel: conversation reset\n");
    } else if (is_command(line, "/system")) {
        const char *arg = command_arg(line, "/system");
        if (!*arg) {
            if (has_system(c))
                printf("%s\n", c->msgs[0].content);
            else
                printf("(no system prompt)\n");
            fflush(stdout);
        } else {
            set_system(c, arg);
            fprintf(stderr, "kestrel: system prompt set; conversation reset\n");
        }
    } else if (is_command(line, "/save")) {
        const char *arg = command_arg(line, "/save");
        if (!*arg)
            fprintf(stderr, "kestrel: /save needs a file name\n");
        else
            save_conversation(c, arg);
    } else if (is_command(line, "/load")) {
        const char *arg = command_arg(line, "/load");
        if (!*arg)
            fprintf(stderr, "kestrel: /load needs a file name\n");
        else if (load_conversation(c, arg))
            return 1;
    } else if (is_command(line, "/params")) {
        show_params(c);
    } else {
        fprintf(stderr, "kestrel: unknown command '%s' (/help lists them; start with // to send a /)\n", line);
    }
    return 0;
}

/* ---- options ---------------------------------------------------------------------- */

static int parse_args(int argc, char **argv, chat_options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        bool used_value = true;
#define IS(s1, s2) is_option(a, s1, s2)
#define NEED(cond) do { if (!v || !(cond)) { fprintf(stderr, "kestrel: bad or missing value for %s\n", a); return 2; } } while (0)
        int shared = cli_shared_option(a, v, &o->cparams, &o->sparams);
        if (shared == 2)
            return 2;
        if (shared == 1) {
            i++;
            continue;
        }
        if (IS("-h", "--help")) {
            usage(stdout);
            exit(0);
        } else if (IS("-m", "--model")) { NEED(1); o->model = v;
        } else if (IS("-sys", "--system-prompt") || IS("-p", "--prompt")) { NEED(1); o->system = v;
        } else if (IS("-f", "--file")) { NEED(1); o->system_file = v;
        } else if (IS("--chat-template", NULL)) { NEED(*v); o->template_arg = v;
        } else if (IS("-n", "--n-predict")) { NEED(cli_parse_int(v, -1, 1L << 30, &n)); o->n_predict = n;
        } else {
            used_value = false;
            if (IS("-e", "--escape")) o->escape = true;
            else if (IS("--verbose", "-v")) o->verbose = true;
            else if (IS("--simple-io", NULL)) o->simple_io = true;
            /* the switches that lead here from 'kestrel run', and run's display flags */
            else if (IS("-cnv", "--conversation") || IS("-i", "--interactive") || IS("-if", "--interactive-first")) ;
            else if (IS("--no-display-prompt", NULL) || IS("--parse-special", NULL)) ;
            else {
                fprintf(stderr, "kestrel: unknown option '%s'\n\n", a);
                usage(stderr);
                return 2;
            }
        }
        if (used_value)
            i++;
#undef IS
#undef NEED
    }
    if (o->system && o->system_file) {
        fprintf(stderr, "kestrel: give the system prompt once (-sys/-p or -f)\n");
        return 2;
    }
    return 0;
}

static int load_template(chat *c)
{
    const char *arg = c->o->template_arg;
    if (arg) {
        const char *builtin = kestrel_chat_builtin_template(arg);
        if (builtin) {
            c->tmpl = builtin;
            c->tmpl_name = arg;
            return 0;
        }
        size_t len;
        c->tmpl_owned = cli_read_file(arg, &len);
        if (!c->tmpl_owned)
            return -1;
        c->tmpl = c->tmpl_owned;
        c->tmpl_name = arg;
        return 0;
    }
    bool fallback = false;
    c->tmpl = kestrel_chat_model_template(c->model, &fallback);
    c->tmpl_name = fallback ? "chatml (fallback)" : "the model's (tokenizer.chat_template)";
    if (fallback)
        fprintf(stderr, "kestrel: warning: the model has no chat template; using ChatML\n");
    return 0;
}

/* ---- the command ------------------------------------------------------------------ */

int cli_chat(int argc, char **argv)
{
    chat_options o = { 0 };
    o.n_predict = -1;
    o.cparams = kestrel_context_default_params();
    o.sparams = kestrel_sampler_default_params();
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc;
    if (!o.model)
        o.model = cli_default_model();

    chat c = { 0 };
    c.o = &o;
    char *system = NULL;
    line_editor *le = NULL;
    if (o.system_file) {
        size_t len;
        system = cli_read_file(o.system_file, &len);
        if (!system)
            return 1;
    } else if (o.system) {
        system = strdup(o.system);
    }
    if (system && o.escape)
        cli_unescape(system, strlen(system));

    rc = 1;
    c.model = kestrel_model_load(o.model);
    if (!c.model) {
        cli_fail();
        goto done;
    }
    c.ctx = kestrel_context_new(c.model, &o.cparams);
    if (!c.ctx) {
        cli_fail();
        goto done;
    }
    c.n_ctx = kestrel_n_ctx(c.ctx);
    c.sampler = kestrel_sampler_new(&o.sparams, kestrel_n_vocab(c.model));
    c.cache = malloc((size_t)c.n_ctx * sizeof *c.cache);
    c.bos_text = token_text(c.model, kestrel_token_bos(c.model));
    c.eos_text = token_text(c.model, kestrel_token_eos(c.model));
    if (!c.sampler || !c.cache || !c.bos_text || !c.eos_text) {
        cli_fail();
        goto done;
    }
    if (load_template(&c))
        goto done;
    if (system && *system && add_message(&c, "system", system))
        goto done;

    kestrel_model_info info;
    kestrel_model_get_info(c.model, &info);
    fprintf(stderr, "kestrel: %s (%s, %s, %.1fM params), kernels %s, %d threads, context %d, chat template %s\n",
            info.name, info.arch, info.type_name, info.n_params / 1e6, kestrel_isa(), kestrel_n_threads(c.ctx),
            c.n_ctx, c.tmpl_name);

    /* A render now reports a template that cannot work before the first message. */
    int n_check = 0;
    kestrel_token *check = render_tokens(&c, true, &n_check);
    if (!check)
        goto done;
    free(check);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a blocked read returns, so Ctrl-C is seen at the prompt */
    sigaction(SIGINT, &sa, NULL);

    le = le_new(0, 1, o.simple_io, &g_interrupted);
    if (!le) {
        fprintf(stderr, "kestrel: out of memory\n");
        goto done;
    }
    bool term = le_is_terminal(le);
    if (term)
        fprintf(stderr, "kestrel: chatting; /help for commands, Ctrl-C stops a reply, Ctrl-D quits\n");

    rc = 0;
    bool last_interrupt = false;
    for (;;) {
        g_interrupted = 0;
        char *line = NULL;
        le_status st = le_read(le, term ? "> " : "", term ? "... " : "", &line);
        if (st == LE_EOF)
            break;
        if (st == LE_ERROR) {
            fprintf(stderr, "kestrel: cannot read the input: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        if (st == LE_INTERRUPT) {
            if (last_interrupt)
                break;
            last_interrupt = true;
            fprintf(stderr, "%skestrel: Ctrl-C again (or Ctrl-D) quits\n", term ? "" : "\n");
            continue;
        }
        last_interrupt = false;
        if (!*line) {
            free(line);
            continue;
        }
        le_history_add(le, line);
        if (line[0] == '/' && line[1] != '/') {
            int quit = run_command(&c, line);
            free(line);
            if (quit)
                break;
            continue;
        }
        int r = chat_turn(&c, line[0] == '/' ? line + 1 : line);
        free(line);
        if (r == 1) {
            rc = 1;
            break;
        }
        last_interrupt = r == 2;
    }
    if (o.verbose)
        fprintf(stderr, "kestrel: %d turns, %ld tokens evaluated, %ld generated\n", c.turn, c.total_evaluated,
                c.total_generated);

done:
    le_free(le);
    kestrel_chat_messages_free(c.msgs, c.n_msgs);
    free(c.tmpl_owned);
    free(c.bos_text);
    free(c.eos_text);
    free(c.cache);
    kestrel_sampler_free(c.sampler);
    kestrel_context_free(c.ctx);
    kestrel_model_free(c.model);
    free(system);
    return rc;
}
