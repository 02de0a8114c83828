/* kestrel template: renders a chat template for a conversation and prints the
 * exact bytes (no newline added), as transformers' apply_chat_template would. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kestrel.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kestrel template (-m MODEL.gguf | --chat-template FILE|NAME) --messages CONV.json\n"
            "                        [--tools TOOLS.json] [--no-generation-prompt]\n"
            "                        [--bos-token S] [--eos-token S]\n"
            "\n"
            "CONV.json is a JSON array of messages, or an object with \"messages\" (and\n"
            "optionally \"tools\"). With -m the template is the model's tokenizer.chat_template\n"
            "(ChatML, with a warning, when it has none) and bos/eos default to the text of its\n"
            "BOS/EOS tokens; --chat-template overrides it with a file or a built-in NAME\n"
            "(chatml, llama2, llama3, gemma, phi3).\n");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
        if (n + 1 == cap) {
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
    bool failed = ferror(f);
    fclose(f);
    if (!buf || failed) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* The text of a special token, or "" when the model has none. */
static char *token_text(const kestrel_model *model, kestrel_token token)
{
    if (token < 0)
        return calloc(1, 1);
    int cap = 64;
    for (int attempt = 0; attempt < 2; attempt++) {
        char *buf = malloc((size_t)cap + 1);
        if (!buf)
            return NULL;
        int n = kestrel_token_to_piece(model, token, buf, cap, true);
        if (n >= 0) {
            buf[n] = 0;
            return buf;
        }
        free(buf);
        cap = -n;
    }
    return NULL;
}

int cli_template(int argc, char **argv)
{
    const char *model_path = NULL, *template_path = NULL, *messages_path = NULL;
    const char *tools_path = NULL, *bos_arg = NULL, *eos_arg = NULL;
    bool add_generation_prompt = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **target = NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-generation-prompt")) {
            add_generation_prompt = false;
            continue;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            target = &model_path;
        } else if (!strcmp(a, "--chat-template")) {
            target = &template_path;
        } else if (!strcmp(a, "--messages")) {
            target = &messages_path;
        } else if (!strcmp(a, "--tools")) {
            target = &tools_path;
        } else if (!strcmp(a, "--bos-token")) {
            target = &bos_arg;
        } else if (!strcmp(a, "--eos-token")) {
            target = &eos_arg;
        } else {
            fprintf(stderr, "kestrel template: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "kestrel template: %s needs a value\n", a);
            return 2;
        }
        *target = argv[++i];
    }
    if ((!model_path && !template_path) || !messages_path) {
        usage(stderr);
        return 2;
    }

    int rc = 1;
    kestrel_model *model = NULL;
    char *template_src = NULL, *messages = NULL, *tools = NULL, *bos = NULL, *eos = NULL;
    char *out = NULL;
    const char *tmpl = NULL;
    if (model_path) {
        model = kestrel_model_load_vocab(model_path);
        if (!model) {
            fprintf(stderr, "kestrel: %s\n", kestrel_last_error());
            goto done;
        }
        bool fallback = false;
        tmpl = kestrel_chat_model_template(model, &fallback);
        if (fallback && !template_path)
            fprintf(stderr, "kestrel: warning: %s has no chat template; using ChatML\n", model_path);
        bos = token_text(model, kestrel_token_bos(model));
        eos = token_text(model, kestrel_token_eos(model));
        if (!bos || !eos) {
            fprintf(stderr, "kestrel: out of memory\n");
            goto done;
        }
    }
    if (template_path) {
        template_src = slurp(template_path);
        tmpl = template_src ? template_src : kestrel_chat_builtin_template(template_path);
        if (!tmpl) {
            fprintf(stderr, "kestrel: %s: cannot read the file, and it is not a built-in template name\n",
                    template_path);
            goto done;
        }
    }
    if (!tmpl) {
        fprintf(stderr, "kestrel: %s: the model has no tokenizer.chat_template\n", model_path);
        goto done;
    }
    messages = slurp(messages_path);
    if (!messages) {
        fprintf(stderr, "kestrel: %s: cannot read the file\n", messages_path);
        goto done;
    }
    if (tools_path) {
        tools = slurp(tools_path);
        if (!tools) {
            fprintf(stderr, "kestrel: %s: cannot read the file\n", tools_path);
            goto done;
        }
    }
    if (kestrel_chat_render(tmpl, messages, tools, add_generation_prompt,
                            bos_arg ? bos_arg : bos ? bos : "",
                            eos_arg ? eos_arg : eos ? eos : "", &out) < 0) {
        fprintf(stderr, "kestrel: %s\n", kestrel_last_error());
        goto done;
    }
    size_t len = strlen(out);
    if (fwrite(out, 1, len, stdout) != len || fflush(stdout) != 0) {
        fprintf(stderr, "kestrel: cannot write the output\n");
        goto done;
    }
    rc = 0;
done:
    free(out);
    free(tools);
    free(messages);
    free(template_src);
    free(bos);
    free(eos);
    kestrel_model_free(model);
    return rc;
}
