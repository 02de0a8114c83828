/* kestrel chat: driven through a pipe (scripted conversations at --temp 0) and
 * through a pseudo-terminal (the line editor, Ctrl-C, Ctrl-D). Never timings. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "kestrel.h"
#include "run_cli.h"

static char stories[512];
static const char *default_model = "models/gutenberg-41M-Q4_K_M.gguf";

/* ---- running kestrel chat with a script on stdin ------------------------------- */

/* args: the words after "chat" (NULL-terminated); input goes to stdin through a
 * pipe, which is then closed (end of input). */
static cli_result chat_run(const char *input, const char *const *args)
{
    cli_result r = { 0 };
    char out_path[] = "/tmp/kestrel-chat-out-XXXXXX", err_path[] = "/tmp/kestrel-chat-err-XXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    int in[2];
    const char *argv[64];
    int n = 0;
    argv[n++] = test_kestrel_bin();
    argv[n++] = "chat";
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if (out_fd < 0 || err_fd < 0 || pipe(in) != 0) {
        r.status = -1;
        r.out = calloc(1, 1);
        r.err = calloc(1, 1);
        return r;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, err_fd, 2);
    pid_t pid;
    if (posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ) != 0) {
        r.status = -1;
        close(in[0]);
        close(in[1]);
    } else {
        close(in[0]);
        signal(SIGPIPE, SIG_IGN);
        size_t len = strlen(input), off = 0;
        while (off < len) {
            ssize_t w = write(in[1], input + off, len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        close(in[1]);
        int st;
        waitpid(pid, &st, 0);
        r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    posix_spawn_file_actions_destroy(&fa);
    close(out_fd);
    close(err_fd);
    r.out = cli_slurp(out_path, &r.out_len);
    r.err = cli_slurp(err_path, &r.err_len);
    unlink(out_path);
    unlink(err_path);
    return r;
}

typedef struct {
    int prompt, cached, evaluated, reply, used;
} turn_stat;

/* The per-turn lines --verbose prints on stderr. Returns how many. */
static int parse_turns(const char *err, turn_stat *t, int max)
{
    int n = 0;
    for (const char *p = strstr(err, "kestrel: turn "); p && n < max; p = strstr(p + 1, "kestrel: turn ")) {
        int turn;
        turn_stat s = { 0 };
        if (sscanf(p, "kestrel: turn %d: %d prompt tokens, %d cached, %d evaluated", &turn, &s.prompt, &s.cached,
                   &s.evaluated) != 4)
            continue;
        const char *q = strstr(p, "reply ");
        if (q)
            sscanf(q, "reply %d", &s.reply);
        q = strstr(p, "context ");
        if (q)
            sscanf(q, "context %d", &s.used);
        t[n++] = s;
    }
    return n;
}

/* The number of tokens `kestrel tokenize` makes of text (no BOS, specials parsed). */
static int count_tokens(const char *model, const char *text)
{
    cli_result r = run_kestrel(
        (const char *[]){ "", "tokenize", "-m", model, "-p", text, "--no-bos", "--parse-special", "--ids", NULL });
    int n = -1;
    if (r.status == 0 && r.out[0] == '[') {
        n = strstr(r.out, "[]") ? 0 : 1;
        for (const char *p = r.out; *p; p++)
            n += *p == ',';
    }
    cli_result_free(&r);
    return n;
}

static char *read_text(const char *path)
{
    size_t len;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fclose(f);
    return cli_slurp(path, &len);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

/* ---- piped conversations ----------------------------------------------------------- */

static void test_deterministic(const char *model, const char *name)
{
    const char *script = "Hello, who are you?\nTell me about the sea.\nAnd the mountains?\n";
    const char *args[] = { "-m", model, "--temp", "0", "-n", "12", "--verbose", NULL };
    cli_result a = chat_run(script, args), b = chat_run(script, args);
    CHECK(a.status == 0 && b.status == 0, "%s: exit %d, %d; %s", name, a.status, b.status, a.err);
    CHECK(strcmp(a.out, b.out) == 0, "%s: two runs at temp 0 differ:\n%s\n---\n%s", name, a.out, b.out);
    CHECK(a.out_len > 3, "%s: no replies: '%s'", name, a.out);
    CHECK(strstr(a.err, "no chat template; using ChatML") != NULL, "%s: ChatML fallback warning missing: %s", name,
          a.err);
    turn_stat t[8];
    int n = parse_turns(a.err, t, 8);
    CHECK(n == 3, "%s: %d turn lines, want 3: %s", name, n, a.err);
    if (n == 3) {
        CHECK(t[0].cached == 0 && t[0].evaluated == t[0].prompt, "%s: turn 1 evaluates all %d tokens (%d)", name,
              t[0].prompt, t[0].evaluated);
        for (int i = 1; i < 3; i++) {
            CHECK(t[i].cached > 0 && t[i].cached + t[i].evaluated == t[i].prompt,
                  "%s: turn %d: %d cached + %d evaluated != %d", name, i + 1, t[i].cached, t[i].evaluated,
                  t[i].prompt);
            CHECK(t[i].prompt > t[i - 1].prompt, "%s: the conversation grows", name);
            CHECK(t[i].reply <= 12, "%s: -n 12 caps the reply (%d)", name, t[i].reply);
            /* history is kept: at most the last reply plus the new turn is evaluated */
            CHECK(t[i].evaluated <= t[i].prompt - t[i - 1].prompt + 12 + 2,
                  "%s: turn %d evaluated %d of %d tokens (previous prompt %d)", name, i + 1, t[i].evaluated,
                  t[i].prompt, t[i - 1].prompt);
        }
    }
    cli_result_free(&a);
    cli_result_free(&b);
}

/* Turn 2 evaluates about its own new text, not the conversation. */
static void test_no_reevaluation(void)
{
    const char *args[] = { "-m", stories, "--temp", "0", "-n", "16", "--verbose", NULL };
    cli_result r = chat_run("Hello, who are you?\nTell me about the sea.\n", args);
    turn_stat t[4];
    int n = parse_turns(r.err, t, 4);
    CHECK(r.status == 0 && n == 2, "two turns: exit %d, %d turn lines", r.status, n);
    int fresh = count_tokens(stories, "<|im_end|>\n<|im_start|>user\nTell me about the sea.<|im_end|>\n"
                                      "<|im_start|>assistant\n");
    CHECK(fresh > 10, "tokenize the new text: %d", fresh);
    if (n == 2) {
        CHECK(t[1].cached >= t[0].used - 1, "turn 2 reuses the whole first exchange: %d cached, %d in the cache",
              t[1].cached, t[0].used);
        CHECK(t[1].evaluated >= fresh - 3 && t[1].evaluated <= fresh + 3,
              "turn 2 evaluated %d tokens; its new text is %d tokens", t[1].evaluated, fresh);
        CHECK(t[1].evaluated * 2 < t[1].prompt, "turn 2: %d evaluated of %d", t[1].evaluated, t[1].prompt);
    }
    cli_result_free(&r);
}

static void test_reset(void)
{
    const char *args[] = { "-m", stories, "--temp", "0", "-n", "16", "--verbose", NULL };
    cli_result one = chat_run("Where is the cat?\n", args);
    cli_result r = chat_run("Where is the cat?\nWhat did the dog say?\n/reset\nWhere is the cat?\n", args);
    CHECK(one.status == 0 && r.status == 0, "exit %d, %d", one.status, r.status);
    CHECK(one.out_len > 1 && strncmp(r.out, one.out, one.out_len) == 0, "the first answer starts the transcript");
    CHECK(ends_with(r.out, one.out), "after /reset the same question gets the same answer:\n%s\n---\n%s", one.out,
          r.out);
    CHECK(strstr(r.err, "conversation reset") != NULL, "/reset says so");
    turn_stat t[4];
    int n = parse_turns(r.err, t, 4);
    CHECK(n == 3, "%d turn lines", n);
    if (n == 3) {
        CHECK(t[2].cached == 0, "after /reset nothing comes from the cache (%d)", t[2].cached);
        CHECK(t[2].evaluated == t[0].evaluated && t[2].prompt == t[0].prompt,
              "after /reset the prompt is the first one again: %d/%d vs %d/%d", t[2].evaluated, t[2].prompt,
              t[0].evaluated, t[0].prompt);
    }
    cli_result_free(&one);
    cli_result_free(&r);
}

static void test_save_load(void)
{
    char f1[] = "/tmp/kestrel-chat-a-XXXXXX", f2[] = "/tmp/kestrel-chat-b-XXXXXX";
    close(mkstemp(f1));
    close(mkstemp(f2));
    char script[512];
    snprintf(script, sizeof script,
             "Where is the cat?\nIs it \"big\"?\\\nAnd \\ odd\n/save %s\n/reset\n/load %s\n/save %s\nWhat now?\n", f1,
             f1, f2);
    const char *args[] = { "-m", stories, "--temp", "0", "-n", "8", "--verbose", "-sys", "You tell stories.", NULL };
    cli_result r = chat_run(script, args);
    CHECK(r.status == 0, "exit %d: %s", r.status, r.err);
    char *a = read_text(f1), *b = read_text(f2);
    CHECK(a && b && *a && strcmp(a, b) == 0, "/save, /load, /save round-trips:\n%s\n---\n%s", a ? a : "", b ? b : "");
    kestrel_chat_message *m = NULL;
    int n = a ? kestrel_chat_messages_parse(a, strlen(a), &m) : -1;
    CHECK(n == 5, "the saved conversation has 5 messages: %d", n);
    if (n == 5) {
        CHECK(!strcmp(m[0].role, "system") && !strcmp(m[0].content, "You tell stories."), "system first");
        CHECK(!strcmp(m[1].role, "user") && !strcmp(m[1].content, "Where is the cat?"), "user 1: %s", m[1].content);
        CHECK(!strcmp(m[2].role, "assistant"), "assistant 1");
        CHECK(!strcmp(m[3].content, "Is it \"big\"?\nAnd \\ odd"), "a trailing backslash continues: '%s'",
              m[3].content);
        CHECK(!strcmp(m[4].role, "assistant"), "assistant 2");
    }
    kestrel_chat_messages_free(m, n);
    CHECK(strstr(r.err, "loaded 5 messages") != NULL, "/load says what it loaded: %s", r.err);
    turn_stat t[4];
    int nt = parse_turns(r.err, t, 4);
    CHECK(nt == 3, "%d turn lines", nt);
    if (nt == 3)
        CHECK(t[2].cached > t[1].prompt / 2 && t[2].evaluated < t[2].prompt / 2,
              "after /load the conversation is in the cache: %d cached, %d evaluated of %d", t[2].cached,
              t[2].evaluated, t[2].prompt);
    free(a);
    free(b);
    cli_result_free(&r);

    /* a bad file is reported and the chat goes on */
    FILE *f = fopen(f1, "wb");
    if (f) {
        fputs("{\"not\": \"messages\"}", f);
        fclose(f);
    }
    snprintf(script, sizeof script, "/load %s\n/load /nonexistent/x.json\nHi\n", f1);
    r = chat_run(script, args);
    CHECK(r.status == 0 && strstr(r.err, "expected a JSON array") && strstr(r.err, "/nonexistent/x.json"),
          "bad /load files: exit %d, %s", r.status, r.err);
    CHECK(parse_turns(r.err, t, 4) == 1, "the chat goes on after a bad /load");
    cli_result_free(&r);
    unlink(f1);
    unlink(f2);
}

static void test_system(void)
{
    char path[] = "/tmp/kestrel-chat-s-XXXXXX";
    close(mkstemp(path));
    char script[256];
    snprintf(script, sizeof script, "Hi there.\n/system You are a pirate who sails.\nHi there.\n/system\n/save %s\n",
             path);
    const char *args[] = { "-m", stories, "--temp", "0", "-n", "6", "--verbose", NULL };
    cli_result r = chat_run(script, args);
    CHECK(r.status == 0, "exit %d", r.status);
    turn_stat t[4];
    int n = parse_turns(r.err, t, 4);
    CHECK(n == 2, "%d turn lines", n);
    int sys = count_tokens(stories, "<|im_start|>system\nYou are a pirate who sails.<|im_end|>\n");
    if (n == 2) {
        CHECK(t[1].cached == 0, "/system resets the cache (%d cached)", t[1].cached);
        CHECK(t[1].prompt >= t[0].prompt + sys - 2 && t[1].prompt <= t[0].prompt + sys + 2,
              "/system adds its block to the rendered prompt: %d -> %d tokens, block %d", t[0].prompt,
              t[1].prompt, sys);
    }
    CHECK(strstr(r.out, "You are a pirate who sails.\n") != NULL, "/system without text shows it");
    char *saved = read_text(path);
    CHECK(saved && strstr(saved, "\"system\"") && strstr(saved, "You are a pirate who sails."),
          "the saved conversation has the system prompt: %s", saved ? saved : "(none)");
    kestrel_chat_message *m = NULL;
    int nm = saved ? kestrel_chat_messages_parse(saved, strlen(saved), &m) : -1;
    CHECK(nm == 3 && !strcmp(m[0].role, "system") && !strcmp(m[1].content, "Hi there."),
          "after /system: system, user, assistant (%d messages)", nm);
    kestrel_chat_messages_free(m, nm);
    free(saved);
    unlink(path);
    cli_result_free(&r);
}

static void test_eof_and_usage(void)
{
    const char *args[] = { "-m", stories, "--temp", "0", "-n", "4", "--verbose", NULL };
    cli_result r = chat_run("", args);
    CHECK(r.status == 0 && r.out_len == 0, "EOF at once: exit %d, out '%s'", r.status, r.out);
    cli_result_free(&r);

    r = chat_run("no newline at the end", args);
    CHECK(r.status == 0 && parse_turns(r.err, (turn_stat[2]){ 0 }, 2) == 1, "a last line without newline: exit %d",
          r.status);
    cli_result_free(&r);

    r = chat_run("/help\n/params\n/quit\nnot read\n", args);
    CHECK(r.status == 0 && strstr(r.out, "/reset") && strstr(r.out, "temp 0") && strstr(r.out, "/ 2048"),
          "/help, /params, /quit: exit %d: %s", r.status, r.out);
    CHECK(parse_turns(r.err, (turn_stat[2]){ 0 }, 2) == 0, "nothing after /quit is read");
    cli_result_free(&r);

    r = chat_run("/frobnicate\n", args);
    CHECK(r.status == 0 && strstr(r.err, "unknown command"), "unknown command: %s", r.err);
    cli_result_free(&r);

    r = chat_run("", (const char *[]){ "--bogus", NULL });
    CHECK(r.status == 2, "bad flag: exit %d", r.status);
    cli_result_free(&r);
    r = chat_run("", (const char *[]){ "-m", "/nonexistent/m.gguf", NULL });
    CHECK(r.status == 1 && strstr(r.err, "/nonexistent/m.gguf") && count_lines(r.err) == 1,
          "missing model: exit %d, one line: %s", r.status, r.err);
    cli_result_free(&r);
    r = chat_run("", (const char *[]){ "-m", stories, "--chat-template", "/nonexistent/t.jinja", NULL });
    CHECK(r.status == 1, "missing template file: exit %d", r.status);
    cli_result_free(&r);
}

static void test_templates(void)
{
    const char *script = "Hi there.\nWhat next?\n";
    int prompt[3] = { 0 };
    const char *names[] = { "llama2", "llama3", "chatml" };
    for (int i = 0; i < 3; i++) {
        cli_result r = chat_run(script, (const char *[]){ "-m", stories, "--temp", "0", "-n", "4", "--verbose",
                                                          "--chat-template", names[i], "-sys", "Be kind.", NULL });
        turn_stat t[3];
        int n = parse_turns(r.err, t, 3);
        CHECK(r.status == 0 && n == 2, "--chat-template %s: exit %d, %d turns", names[i], r.status, n);
        CHECK(strstr(r.err, "no chat template") == NULL, "no fallback warning with --chat-template %s", names[i]);
        if (n == 2) {
            prompt[i] = t[0].prompt;
            CHECK(t[1].cached > 0, "--chat-template %s: turn 2 uses the cache", names[i]);
        }
        cli_result_free(&r);
    }
    CHECK(prompt[0] != prompt[2] && prompt[1] != prompt[2], "templates render differently: %d %d %d", prompt[0],
          prompt[1], prompt[2]);

    /* a template file (llama.cpp's test templates) */
    char path[600];
    snprintf(path, sizeof path, "%s/templates/Llama-3.jinja", test_shared_dir());
    cli_result r = chat_run(script, (const char *[]){ "-m", stories, "--temp", "0", "-n", "4", "--verbose",
                                                      "--chat-template", path, NULL });
    CHECK(r.status == 0 && parse_turns(r.err, (turn_stat[3]){ 0 }, 3) == 2, "--chat-template FILE: exit %d: %s",
          r.status, r.err);
    cli_result_free(&r);

    /* the built-ins render as expected */
    kestrel_chat_message m[2] = { { "system", "S" }, { "user", "U" } };
    char *json = kestrel_chat_messages_json(m, 2, -1);
    struct {
        const char *name, *want;
    } cases[] = {
        { "chatml", "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n" },
        { "llama2", "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nU [/INST]" },
        { "llama3", "<s><|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>"
                    "\n\nU<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n" },
        { "gemma", "<s><start_of_turn>user\nS\n\nU<end_of_turn>\n<start_of_turn>model\n" },
        { "phi3", "<|system|>\nS<|end|>\n<|user|>\nU<|end|>\n<|assistant|>\n" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        int rc = kestrel_chat_render(kestrel_chat_builtin_template(cases[i].name), json, NULL, true, "<s>", "</s>",
                                     &out);
        CHECK(rc == 0 && out && strcmp(out, cases[i].want) == 0, "built-in %s renders '%s'", cases[i].name,
              out ? out : kestrel_last_error());
        free(out);
    }
    free(json);
    CHECK(kestrel_chat_builtin_template("nope") == NULL, "unknown built-in name");
}

/* A model with its own template and special tokens (random weights, the Phi-3
 * tokenizer): the template is used, its control tokens are parsed, one BOS. */
static void test_model_template(void)
{
    char vocab[600], path[] = "/tmp/kestrel-chat-phi3-XXXXXX";
    snprintf(vocab, sizeof vocab, "%s/vocab/ggml-vocab-phi-3.gguf", test_shared_dir());
    close(mkstemp(path));
    cli_result r = run_kestrel((const char *[]){ "", "synth", "--shape", "tiny", "--type", "Q8_0", "--vocab", vocab,
                                                 "-o", path, NULL });
    CHECK(r.status == 0, "synth a model with the Phi-3 vocab: %s", r.err);
    cli_result_free(&r);
    r = chat_run("Hi\nAnd you?\n", (const char *[]){ "-m", path, "--temp", "0", "-n", "4", "--verbose", NULL });
    turn_stat t[3];
    int n = parse_turns(r.err, t, 3);
    CHECK(r.status == 0 && n == 2, "chat with a model template: exit %d, %d turns: %s", r.status, n, r.err);
    CHECK(strstr(r.err, "no chat template") == NULL && strstr(r.err, "tokenizer.chat_template"),
          "the model's template is used: %s", r.err);
    /* <s> <|user|> \n Hi <|end|> \n <|assistant|> \n: the template writes the BOS */
    int want = count_tokens(path, "<s><|user|>\nHi<|end|>\n<|assistant|>\n");
    CHECK(n >= 1 && want > 0 && want < 12 && t[0].prompt == want, "special tokens parsed, one BOS: %d tokens, want %d",
          n >= 1 ? t[0].prompt : -1, want);
    if (n == 2)
        CHECK(t[1].cached > 0 && t[1].evaluated < t[1].prompt, "turn 2 uses the cache");
    cli_result_free(&r);
    unlink(path);
}

/* A small context fills up: the oldest turns go and the chat carries on. */
static void test_context_full(const char *model)
{
    const char *args[] = { "-m", model, "--temp", "0", "-n", "24", "-c", "128", "--verbose", NULL };
    cli_result r = chat_run("Tell me about the sea.\nAnd the mountains?\nAnd the rivers?\nAnd the sky?\n"
                            "And the stars above us?\n",
                            args);
    turn_stat t[8];
    int n = parse_turns(r.err, t, 8);
    CHECK(r.status == 0 && n == 5, "a full context: exit %d, %d turns: %s", r.status, n, r.err);
    CHECK(strstr(r.err, "dropped the") != NULL, "dropping turns is announced: %s", r.err);
    for (int i = 0; i < n; i++)
        CHECK(t[i].used <= 128 && t[i].prompt + 0 <= 128, "turn %d fits the context: %d used", i + 1, t[i].used);
    cli_result_free(&r);
}

/* A message longer than the whole context is refused; the history stays. */
static void test_message_too_long(void)
{
    size_t cap = 8000;
    char *script = malloc(cap);
    strcpy(script, "Hi there.\n");
    for (int i = 0; i < 700; i++)
        strcat(script, "word ");
    strcat(script, "\nHi again.\n");
    cli_result r = chat_run(script, (const char *[]){ "-m", stories, "--temp", "0", "-n", "8", "-c", "256",
                                                      "--verbose", NULL });
    turn_stat t[4];
    int n = parse_turns(r.err, t, 4);
    CHECK(r.status == 0 && strstr(r.err, "needs more than the context of 256"), "too long: exit %d, %s", r.status,
          r.err);
    CHECK(n == 2 && t[1].cached == t[0].used && t[1].prompt > t[0].prompt,
          "the history survives a message that cannot fit (%d turns)", n);
    cli_result_free(&r);
    free(script);
}

/* ---- a pseudo-terminal: the line editor -------------------------------------------- */

typedef struct {
    int fd;
    pid_t pid;
    char *buf;
    size_t len, cap;
} pty_session;

static bool pty_start(pty_session *s, const char *const *args)
{
    memset(s, 0, sizeof *s);
    s->fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (s->fd < 0 || grantpt(s->fd) || unlockpt(s->fd))
        return false;
    const char *name = ptsname(s->fd);
    if (!name)
        return false;
    char slave[128];
    snprintf(slave, sizeof slave, "%s", name);
    const char *argv[64];
    int n = 0;
    argv[n++] = test_kestrel_bin();
    argv[n++] = "chat";
    for (int i = 0; args[i] && n < 63; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    s->pid = fork();
    if (s->pid < 0)
        return false;
    if (s->pid == 0) {
        setsid(); /* the terminal becomes the controlling one: Ctrl-C sends SIGINT */
        int fd = open(slave, O_RDWR);
        if (fd < 0)
            _exit(126);
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2)
            close(fd);
        close(s->fd);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return true;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads until needle shows up at or after *from (then *from moves past it), or
 * the time runs out or the terminal closes. */
static bool pty_expect(pty_session *s, size_t *from, const char *needle, double timeout)
{
    double end = now_s() + timeout;
    for (;;) {
        if (s->len > *from) {
            char *hit = memmem(s->buf + *from, s->len - *from, needle, strlen(needle));
            if (hit) {
                *from = (size_t)(hit - s->buf) + strlen(needle);
                return true;
            }
        }
        double left = end - now_s();
        if (left <= 0)
            return false;
        struct pollfd p = { s->fd, POLLIN, 0 };
        int pr = poll(&p, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return false;
        if (s->len + 4097 > s->cap) {
            s->cap = (s->cap + 4097) * 2;
            s->buf = realloc(s->buf, s->cap);
        }
        ssize_t got = read(s->fd, s->buf + s->len, 4096);
        if (got <= 0)
            return false; /* EIO: the other side is closed */
        s->len += (size_t)got;
        s->buf[s->len] = 0;
    }
}

static void pty_send(pty_session *s, const char *text)
{
    size_t n = strlen(text);
    while (n > 0) {
        ssize_t w = write(s->fd, text, n);
        if (w <= 0)
            return;
        text += w;
        n -= (size_t)w;
    }
}

/* Waits for the process to end (reading what it prints) and returns its exit
 * status, or -1 after killing it when it does not end in time. */
static int pty_finish(pty_session *s, double timeout)
{
    size_t from = s->len;
    double end = now_s() + timeout;
    int st = 0;
    for (;;) {
        pid_t w = waitpid(s->pid, &st, WNOHANG);
        if (w == s->pid)
            break;
        if (now_s() > end) {
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
            st = -1;
            break;
        }
        pty_expect(s, &from, "\x01\x02never", 0.05);
    }
    close(s->fd);
    free(s->buf);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_pty_editing(void)
{
    char path[] = "/tmp/kestrel-chat-pty-XXXXXX";
    close(mkstemp(path));
    pty_session s;
    const char *args[] = { "-m", stories, "--temp", "0", "-n", "4", "--verbose", NULL };
    if (!pty_start(&s, args)) {
        CHECK(0, "cannot open a pseudo-terminal");
        return;
    }
    size_t at = 0;
    double T = 60;
    bool ok = pty_expect(&s, &at, "Ctrl-D quits", T) && pty_expect(&s, &at, "> ", T);
    CHECK(ok, "the prompt shows on a terminal: %s", s.buf ? s.buf : "");
    /* each message: typed keys, then the reply's turn line and the next prompt */
    const char *keys[] = {
        "hello wrld\x1b[D\x1b[D\x1b[Do\r",               /* left arrow edit */
        "xyz\x15" "abc def\x17" "ghi\x01" "1\x05" "2\r", /* Ctrl-U, Ctrl-W, Ctrl-A, Ctrl-E */
        "\x1b[A\x7f" "3\r",                              /* history up, backspace */
        "\x1b[200~p1\rp2\x1b[201~\r",                    /* bracketed paste */
        "cont\\\rline\r",                                /* trailing backslash */
        "abXc\x1b[D\x1b[D\x1b[3~\x1b[H>\x1b[F<\r",       /* delete, Home, End keys */
        "\x1b[A\x1b[A\x1b[B\x1b[B\x0b" "fresh\r",        /* up/down back to an empty line, Ctrl-K */
    };
    const char *want[] = { "hello world", "1abc ghi2", "1abc ghi3", "p1\np2", "cont\nline", ">abc<", "fresh" };
    int nk = (int)(sizeof keys / sizeof keys[0]);
    for (int i = 0; ok && i < nk; i++) {
        pty_send(&s, keys[i]);
        char turn[32];
        snprintf(turn, sizeof turn, "turn %d:", i + 1);
        ok = pty_expect(&s, &at, turn, T) && pty_expect(&s, &at, "> ", T);
        CHECK(ok, "message %d gets a reply and a new prompt", i + 1);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "/save %s\r", path);
    if (ok) {
        pty_send(&s, cmd);
        ok = pty_expect(&s, &at, "saved", T) && pty_expect(&s, &at, "> ", T);
        CHECK(ok, "/save on the terminal");
    }
    pty_send(&s, "\x04"); /* Ctrl-D on an empty line */
    int st = pty_finish(&s, T);
    CHECK(st == 0, "Ctrl-D exits 0 (status %d)", st);
    char *saved = read_text(path);
    kestrel_chat_message *m = NULL;
    int n = saved ? kestrel_chat_messages_parse(saved, strlen(saved), &m) : -1;
    CHECK(n == 2 * nk, "%d messages saved, want %d", n, 2 * nk);
    for (int i = 0; i < nk && 2 * i < n; i++)
        CHECK(!strcmp(m[2 * i].role, "user") && !strcmp(m[2 * i].content, want[i]), "typed '%s', got '%s'", want[i],
              m[2 * i].content);
    kestrel_chat_messages_free(m, n);
    free(saved);
    unlink(path);
}

static void test_pty_interrupt(void)
{
    pty_session s;
    /* no -n: the reply would run for thousands of tokens */
    const char *args[] = { "-m", stories, "--temp", "0", "--verbose", NULL };
    if (!pty_start(&s, args)) {
        CHECK(0, "cannot open a pseudo-terminal");
        return;
    }
    size_t at = 0;
    double T = 60;
    bool ok = pty_expect(&s, &at, "Ctrl-D quits", T) && pty_expect(&s, &at, "> ", T);
    if (ok) {
        pty_send(&s, "Tell me a story.\r");
        ok = pty_expect(&s, &at, "story.", T);
        /* the echo after the text is a few bytes; more means the reply is streaming */
        size_t start = at;
        double until = now_s() + T;
        while (ok && s.len < start + 200 && now_s() < until)
            pty_expect(&s, &at, "\x01never", 0.05);
        pty_send(&s, "\x03");
        ok = pty_expect(&s, &at, "reply stopped", T);
        CHECK(ok, "Ctrl-C stops the reply");
        size_t t1 = at;
        turn_stat t[2];
        ok = ok && pty_expect(&s, &at, "> ", T);
        CHECK(ok && parse_turns(s.buf + t1, t, 2) == 1 && t[0].reply < 1500, "back at the prompt after Ctrl-C");
        pty_send(&s, "/params\r");
        ok = ok && pty_expect(&s, &at, "tokens used", T) && pty_expect(&s, &at, "> ", T);
        pty_send(&s, "\x03"); /* once: a hint, the chat goes on */
        ok = ok && pty_expect(&s, &at, "Ctrl-C again", T) && pty_expect(&s, &at, "> ", T);
        CHECK(ok, "one Ctrl-C at the prompt does not quit");
        pty_send(&s, "\x03"); /* twice: quit */
    }
    int st = pty_finish(&s, T);
    CHECK(ok && st == 0, "the second Ctrl-C at the prompt exits 0 (status %d)", st);
}

int main(void)
{
    snprintf(stories, sizeof stories, "%s/models/stories260K.gguf", test_shared_dir());
    bool quick = getenv("KESTREL_TEST_QUICK") != NULL;
    test_deterministic(stories, "stories260K");
    test_deterministic(default_model, "default model");
    test_no_reevaluation();
    test_reset();
    test_save_load();
    test_system();
    test_eof_and_usage();
    test_templates();
    test_model_template();
    if (!quick)
        test_context_full(default_model);
    test_context_full(stories);
    test_message_too_long();
    test_pty_editing();
    test_pty_interrupt();
    return test_report();
}
