/* kestrel tokenize: print the tokens of a text, like llama.cpp's llama-tokenize. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kestrel.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: kestrel tokenize [-m model.gguf] (-p TEXT | -f FILE) [options]\n"
            "\n"
            "  -m, --model FILE     GGUF model; a vocab-only file is enough (default: %s)\n"
            "  -p, --prompt TEXT    the text\n"
            "  -f, --file FILE      read the text from a file (bytes as they are)\n"
            "  -e, --escape         process \\n \\t \\\\ \\\" \\xHH escapes in the text\n"
            "  --no-bos             do not add BOS/EOS even if the model asks for them\n"
            "  --parse-special      read control-token text such as <s> as those tokens\n"
            "  --ids                print only the ids, as [1, 2, 3]\n"
            "  --show-count         print the number of tokens at the end\n"
            "  -h, --help           this text\n"
            "\n"
            "By default each token is printed as \"<id> -> '<piece>'\".\n",
            KESTREL_DEFAULT_MODEL);
}

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "kestrel tokenize: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return 2;
}

static void print_piece(const kestrel_model *model, kestrel_token id)
{
    char small[128];
    char *buf = small;
    int n = kestrel_token_to_piece(model, id, buf, (int)sizeof small, true);
    if (n < 0) {
        buf = malloc((size_t)-n);
        n = buf ? kestrel_token_to_piece(model, id, buf, -n, true) : 0;
    }
    printf("%6d -> '", id);
    if (n > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    printf("'\n");
    if (buf != small)
        free(buf);
}

int cli_tokenize(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *prompt_file = NULL;
    bool escape = false, no_bos = false, parse_special = false, ids = false, show_count = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool takes_value = !strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "-p") ||
                           !strcmp(a, "--prompt") || !strcmp(a, "-f") || !strcmp(a, "--file");
        if (takes_value && i + 1 >= argc)
            return usage_error("%s needs a value", a);
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            model_path = argv[++i];
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            prompt = argv[++i];
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            prompt_file = argv[++i];
        } else if (!strcmp(a, "-e") || !strcmp(a, "--escape")) {
            escape = true;
        } else if (!strcmp(a, "--no-bos")) {
            no_bos = true;
        } else if (!strcmp(a, "--parse-special")) {
            parse_special = true;
        } else if (!strcmp(a, "--ids")) {
            ids = true;
        } else if (!strcmp(a, "--show-count")) {
            show_count = true;
        } else {
            return usage_error("unknown option '%s'", a);
        }
    }
    if (!prompt == !prompt_file)
        return usage_error("%s", "give exactly one of -p TEXT and -f FILE");
    if (!model_path)
        model_path = cli_default_model();

    char *text;
    size_t len;
    if (prompt_file) {
        text = cli_read_file(prompt_file, &len);
        if (!text)
            return 1;
    } else {
        len = strlen(prompt);
        text = malloc(len + 1);
        if (!text) {
            fprintf(stderr, "kestrel: out of memory\n");
            return 1;
        }
        memcpy(text, prompt, len + 1);
    }
    if (escape)
        len = cli_unescape(text, len);

    kestrel_model *model = kestrel_model_load_vocab(model_path);
    if (!model) {
        free(text);
        return cli_fail();
    }

    /* Like llama-tokenize: --no-bos turns off all added special tokens. */
    bool add_special = !no_bos;
    int n = 0;
    kestrel_token *tokens = kestrel_tokenize_alloc(model, text, len, add_special, parse_special, &n);
    free(text);
    if (!tokens) {
        kestrel_model_free(model);
        return cli_fail();
    }

    if (ids) {
        printf("[");
        for (int i = 0; i < n; i++)
            printf(i ? ", %d" : "%d", tokens[i]);
        printf("]\n");
    } else {
        for (int i = 0; i < n; i++)
            print_piece(model, tokens[i]);
    }
    if (show_count)
        printf("Total number of tokens: %d\n", n);

    free(tokens);
    kestrel_model_free(model);
    return 0;
}
