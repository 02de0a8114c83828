/* The kestrel binary as a user meets it: flags, exit codes, messages, outputs. */
#include <stdbool.h>
#include <string.h>

#include "test.h"
#include "reference.h"
#include "run_cli.h"

static char stories[512], ref_path[512];

static void test_usage_errors(void)
{
    cli_result r = run_kestrel((const char *[]){ "", "--no-such-flag", NULL });
    CHECK(r.status == 2, "unknown flag: exit %d, want 2", r.status);
    CHECK(strstr(r.err, "usage") != NULL, "unknown flag prints usage: %s", r.err);
    cli_result_free(&r);

    r = run_kestrel((const char *[]){ "", "-n", "many", NULL });
    CHECK(r.status == 2, "bad number: exit %d, want 2", r.status);
    cli_result_free(&r);

    r = run_kestrel((const char *[]){ "", "-m", NULL });
    CHECK(r.status == 2, "missing value: exit %d, want 2", r.status);
    cli_result_free(&r);

    r = run_kestrel((const char *[]){ "", "--help", NULL });
    CHECK(r.status == 0 && strstr(r.out, "--repeat-last-n"), "--help: exit %d", r.status);
    cli_result_free(&r);

    r = run_kestrel((const char *[]){ "", "--version", NULL });
    CHECK(r.status == 0 && strncmp(r.out, "kestrel ", 8) == 0, "--version: exit %d, %s", r.status, r.out);
    cli_result_free(&r);
}

static void test_bad_model(void)
{
    cli_result r = run_kestrel((const char *[]){ "", "-m", "/nonexistent/model.gguf", "-p", "hi", NULL });
    CHECK(r.status == 1, "missing model: exit %d, want 1", r.status);
    CHECK(count_lines(r.err) == 1 && strncmp(r.err, "kestrel: /nonexistent/model.gguf: ", 34) == 0,
          "missing model: one line naming the file, got: %s", r.err);
    cli_result_free(&r);

    /* a file that is not GGUF at all */
    r = run_kestrel((const char *[]){ "", "-m", "Makefile", "-p", "hi", NULL });
    CHECK(r.status == 1 && count_lines(r.err) == 1 && strstr(r.err, "Makefile"), "not a GGUF: exit %d, %s",
          r.status, r.err);
    cli_result_free(&r);

    /* a vocabulary-only file has no weights to run */
    char vocab[512];
    snprintf(vocab, sizeof vocab, "%s/vocab/ggml-vocab-llama-spm.gguf", test_shared_dir());
    r = run_kestrel((const char *[]){ "", "-m", vocab, "-p", "hi", NULL });
    CHECK(r.status == 1 && count_lines(r.err) == 1, "vocab-only model: exit %d, %s", r.status, r.err);
    cli_result_free(&r);
}

/* Greedy ids from the CLI equal llama.cpp's (stories260K is F32: exact). */
static void test_greedy_ids(void)
{
    ref_file rf;
    if (ref_load(ref_path, &rf)) {
        CHECK(0, "cannot read %s", ref_path);
        return;
    }
    const ref_case *c = &rf.cases[1]; /* "Once upon a time" */
    cli_result r = run_kestrel((const char *[]){ "", "-m", stories, "-p", c->prompt, "-n", "64", "--temp", "0",
                                                 "--ids", NULL });
    CHECK(r.status == 0, "--ids run: exit %d: %s", r.status, r.err);
    char want[4096] = "";
    size_t n = 0;
    for (int i = 0; i < 64; i++)
        n += (size_t)snprintf(want + n, sizeof want - n, i ? " %d" : "%d", c->greedy[i]);
    snprintf(want + n, sizeof want - n, "\n");
    CHECK(strcmp(r.out, want) == 0, "--ids output differs from llama.cpp's greedy ids:\n got  %s want %s", r.out,
          want);
    CHECK(strstr(r.err, "tokens/s") != NULL, "the run summary gives tokens/s: %s", r.err);
    cli_result_free(&r);

    /* text mode: the prompt, then llama.cpp's greedy text (its first 64 tokens) */
    r = run_kestrel((const char *[]){ "", "-m", stories, "-p", c->prompt, "-n", "128", "--temp", "0", NULL });
    CHECK(r.status == 0 && strncmp(r.out, c->prompt, c->prompt_len) == 0, "text run echoes the prompt: %s", r.out);
    CHECK(r.out_len >= c->prompt_len + c->text_len &&
              memcmp(r.out + c->prompt_len, c->text, c->text_len) == 0,
          "text run: generated text differs from llama.cpp's:\n%s", r.out);
    cli_result_free(&r);
    ref_free(&rf);
}

static void test_sampling_flags(void)
{
    const char *args[] = { "", "-m", stories, "-p", "Lily", "-n", "40", "--temp", "0.9", "--top-k", "30",
                           "--top-p", "0.9", "--min-p", "0.02", "--repeat-penalty", "1.1", "--repeat-last-n",
                           "32", "--seed", "1234", "-t", "2", NULL };
    cli_result a = run_kestrel(args), b = run_kestrel(args);
    CHECK(a.status == 0 && b.status == 0, "seeded runs: exit %d %d: %s", a.status, b.status, a.err);
    CHECK(strcmp(a.out, b.out) == 0, "--seed reproduces the run:\n%s\n---\n%s", a.out, b.out);
    cli_result_free(&a);
    cli_result_free(&b);

    /* -e turns escapes into bytes; -f reads the prompt from a file */
    cli_result r = run_kestrel((const char *[]){ "", "-m", stories, "-p", "a\\nb", "-e", "-n", "1", "--temp", "0",
                                                 NULL });
    CHECK(r.status == 0 && strncmp(r.out, "a\nb", 3) == 0, "-e: %s", r.out);
    cli_result_free(&r);
    char prompt_file[] = "/tmp/kestrel-prompt-XXXXXX";
    int fd = mkstemp(prompt_file);
    CHECK(write(fd, "Once upon a time", 16) == 16, "write prompt file");
    close(fd);
    r = run_kestrel((const char *[]){ "", "-m", stories, "-f", prompt_file, "-n", "8", "--temp", "0", "--ids",
                                      NULL });
    cli_result p = run_kestrel((const char *[]){ "", "-m", stories, "-p", "Once upon a time", "-n", "8", "--temp",
                                                 "0", "--ids", NULL });
    CHECK(r.status == 0 && p.status == 0 && strcmp(r.out, p.out) == 0, "-f and -p give the same run: %s / %s",
          r.out, p.out);
    cli_result_free(&r);
    cli_result_free(&p);
    unlink(prompt_file);

    /* a context too small for the prompt is an error, not a crash */
    r = run_kestrel((const char *[]){ "", "-m", stories, "-p", "Once upon a time there was", "-c", "3", NULL });
    CHECK(r.status == 1 && count_lines(r.err) >= 1, "prompt longer than -c: exit %d", r.status);
    cli_result_free(&r);

    /* generation stops when the context is full */
    r = run_kestrel((const char *[]){ "", "-m", stories, "-p", "Lily", "-c", "16", "--temp", "0", "--ids", NULL });
    CHECK(r.status == 0 && strstr(r.err, "context"), "full context: exit %d, %s", r.status, r.err);
    cli_result_free(&r);
}

static void test_default_model(void)
{
    cli_result r = run_kestrel((const char *[]){ "", "-p", "Once upon a time", "-n", "12", "--temp", "0", NULL });
    CHECK(r.status == 0, "default model run: exit %d: %s", r.status, r.err);
    CHECK(strncmp(r.out, "Once upon a time", 16) == 0 && r.out_len > 20, "default model generates text: %s", r.out);
    CHECK(strstr(r.err, "gutenberg") || strstr(r.err, "llama"), "summary names the model: %s", r.err);
    cli_result_free(&r);
}

static void test_logits_command(void)
{
    cli_result r = run_kestrel((const char *[]){ "", "logits", "-m", stories, "-p", "Once upon a time", "--last",
                                                 NULL });
    CHECK(r.status == 0, "logits: exit %d: %s", r.status, r.err);
    CHECK(strncmp(r.out, "tokens 1 403 407 261 378\ntop 0 403:17.0235", 41) == 0, "logits output: %.120s", r.out);
    CHECK(count_lines(r.out) == 1 + 5 + 1, "logits: tokens + 5 top lines + last, got %d lines", count_lines(r.out));
    cli_result_free(&r);
    r = run_kestrel((const char *[]){ "", "logits", "-m", stories, "--tokens", "1 403 407", "--top", "3", NULL });
    CHECK(r.status == 0 && strstr(r.out, "top 2 ") && count_lines(r.out) == 4, "logits --tokens: %s", r.out);
    cli_result_free(&r);
    r = run_kestrel((const char *[]){ "", "logits", "-m", stories, "--tokens", "1 99999", NULL });
    CHECK(r.status == 1 && count_lines(r.err) == 1, "logits with an id outside the vocabulary: exit %d %s",
          r.status, r.err);
    cli_result_free(&r);
}

/* kestrel template: a built-in template by name, and ChatML (with a warning) for a model without one. */
static void test_template_command(void)
{
    char conv[] = "/tmp/kestrel-conv-XXXXXX";
    int fd = mkstemp(conv);
    const char *json = "[{\"role\":\"user\",\"content\":\"Hi\"}]";
    CHECK(write(fd, json, strlen(json)) == (ssize_t)strlen(json), "write conversation");
    close(fd);
    const char *chatml = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n";
    cli_result r = run_kestrel((const char *[]){ "", "template", "--chat-template", "chatml", "--messages", conv, NULL });
    CHECK(r.status == 0 && strcmp(r.out, chatml) == 0, "template by name: exit %d, %s", r.status, r.out);
    cli_result_free(&r);
    r = run_kestrel((const char *[]){ "", "template", "-m", "models/gutenberg-41M-Q4_K_M.gguf", "--messages", conv, NULL });
    CHECK(r.status == 0 && strcmp(r.out, chatml) == 0 && strstr(r.err, "ChatML"),
          "a model without a template falls back to ChatML with a warning: exit %d, %s", r.status, r.err);
    cli_result_free(&r);
    r = run_kestrel((const char *[]){ "", "template", "--chat-template", "no-such-template", "--messages", conv, NULL });
    CHECK(r.status == 1 && count_lines(r.err) == 1, "unknown template: exit %d, %s", r.status, r.err);
    cli_result_free(&r);
    unlink(conv);
}

int main(void)
{
    if (access(test_kestrel_bin(), X_OK) != 0) {
        printf("skipped: %s is not built\n", test_kestrel_bin());
        return test_report();
    }
    snprintf(stories, sizeof stories, "%s/models/stories260K.gguf", test_shared_dir());
    snprintf(ref_path, sizeof ref_path, "%s/reference/stories260K.ref.txt", test_shared_dir());
    test_usage_errors();
    test_bad_model();
    test_greedy_ids();
    test_sampling_flags();
    test_default_model();
    test_logits_command();
    test_template_command();
    return test_report();
}
