/* The subcommands of the kestrel binary. Each takes the arguments after its own
 * name (argv[0] is the subcommand) and returns the process exit code:
 * 0 ok, 1 runtime error (message on stderr), 2 bad usage. They use only kestrel.h. */
#ifndef KESTREL_CLI_H
#define KESTREL_CLI_H

int cli_run(int argc, char **argv);       /* generation (the default command) */
int cli_info(int argc, char **argv);      /* kestrel info model.gguf */
int cli_tokenize(int argc, char **argv);  /* kestrel tokenize -m model.gguf -p text */
int cli_logits(int argc, char **argv);    /* kestrel logits -m model.gguf -p text */
int cli_template(int argc, char **argv);  /* kestrel template --chat-template F --messages M */
int cli_quantize(int argc, char **argv);  /* kestrel quantize in.gguf out.gguf TYPE */
int cli_bench(int argc, char **argv);     /* kestrel bench -m model.gguf [-p 512] [-n 128] */
int cli_synth(int argc, char **argv);     /* kestrel synth --shape NAME --type TYPE -o out.gguf */
int cli_chat(int argc, char **argv);      /* kestrel chat [-m model.gguf] */

#endif

/* ---- helpers shared by the subcommands (src/cli/common.c) ---- */
#ifndef KESTREL_CLI_COMMON
#define KESTREL_CLI_COMMON
#include <stdbool.h>
#include <stddef.h>

#include "kestrel.h"

#define KESTREL_DEFAULT_MODEL "models/gutenberg-41M-Q4_K_M.gguf"

/* The model to use when no -m is given: $KESTREL_MODEL, else the shipped default
 * next to the binary, else relative to the working directory. */
const char *cli_default_model(void);

/* Strict number parsing: the whole string must be a number in [lo, hi]. */
bool cli_parse_int(const char *s, long lo, long hi, long *out);
bool cli_parse_float(const char *s, double lo, double hi, double *out);

/* Reads a whole file (bytes as they are). NULL with a message on stderr. */
char *cli_read_file(const char *path, size_t *len);

/* Replaces \n \t \\ \" \' \r \xHH escapes in place (llama.cpp's -e); returns the new length. */
size_t cli_unescape(char *s, size_t len);

/* The options generation and chat share: -c -b -t -ctk/-ctv, the sampling flags
 * and -s. Returns 1 when opt is one of them and value was used, 0 when opt is
 * not one of them, 2 after printing a message when value is missing or bad. */
int cli_shared_option(const char *opt, const char *value, kestrel_context_params *cp, kestrel_sampler_params *sp);

/* Prints "kestrel: <last error>" to stderr and returns 1. */
int cli_fail(void);

/* Speculative decoding as run and bench set it up. */
typedef struct {
    const char *model;        /* -md FILE */
    const char *self_type;    /* --draft-self TYPE */
    int self_layers;          /* --draft-self-layers K */
    int threads;              /* -td/--threads-draft N; 0: as the target */
    kestrel_spec_params spec; /* --draft-max ...; spec.lookup is --lookup */
} cli_draft_options;

/* No draft, kestrel_spec_default_params(). */
cli_draft_options cli_draft_default_options(void);
/* -md/--model-draft, --draft-self, --draft-self-layers, --lookup, --draft-max
 * (--draft, --draft-n), --draft-min, --draft-p-min, --draft-fixed,
 * -td/--threads-draft. Returns how
 * many arguments it used (1: a flag, 2: with value), 0 when opt is not one of
 * them, -1 after printing a message when value is missing or bad. */
int cli_draft_option(const char *opt, const char *value, cli_draft_options *d);
/* 1 when a draft was asked for, 0 when not, -1 after a message when more than one. */
int cli_draft_wanted(const cli_draft_options *d);
/* The draft for target: loads -md or makes the --draft-self copy, checks that it
 * tokenizes as the target does, and gives it a context like cp with the target
 * context's length (*draft and *dctx stay NULL for --lookup). Returns 0, or 1
 * after one line on stderr with nothing left allocated. */
int cli_draft_open(const cli_draft_options *d, kestrel_model *target, const kestrel_context *tctx,
                   const kestrel_context_params *cp, kestrel_model **draft, kestrel_context **dctx);
#endif
