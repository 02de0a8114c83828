/* kestrel: the command line. The first word picks a subcommand; without one,
 * the arguments are a generation run (kestrel -m model.gguf -p "..."). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "kestrel.h"

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    { "run", cli_run, "generate text (the default: kestrel -p \"...\")" },
    { "info", cli_info, "print a GGUF file's metadata and tensor table" },
    { "tokenize", cli_tokenize, "print the tokens of a text" },
    { "logits", cli_logits, "print the top logits at every position (differential tests)" },
    { "template", cli_template, "render a chat template for a conversation" },
    { "chat", cli_chat, "chat with a model (interactive; also kestrel -cnv / -i)" },
    { "quantize", cli_quantize, "convert a model to a quantized type mix (as llama-quantize)" },
    { "bench", cli_bench, "measure prompt and generation speed (as llama-bench)" },
    { "synth", cli_synth, "write a random-weight model of a real model's shape" },
};

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)) {
        printf("kestrel %s (kernels: %s)\n", KESTREL_VERSION, kestrel_isa());
        return 0;
    }
    if (argc >= 2 && (strcmp(argv[1], "help") == 0)) {
        printf("usage: kestrel [COMMAND] [OPTIONS]\n\ncommands:\n");
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            printf("  %-10s %s\n", commands[i].name, commands[i].summary);
        printf("\n'kestrel COMMAND --help' describes each; with no command, options are those of 'run'.\n");
        return 0;
    }
    if (argc >= 2)
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
            if (strcmp(argv[1], commands[i].name) == 0)
                return commands[i].run(argc - 1, argv + 1);
    /* llama.cpp's conversation flags turn a run into a chat */
    static const char *const chat_flags[] = { "-cnv", "--conversation", "-i", "--interactive", "-if",
                                              "--interactive-first" };
    for (int a = 1; a < argc; a++)
        for (size_t f = 0; f < sizeof chat_flags / sizeof chat_flags[0]; f++)
            if (strcmp(argv[a], chat_flags[f]) == 0)
                return cli_chat(argc, argv);
    return cli_run(argc, argv);
}
