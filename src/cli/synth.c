/* kestrel synth: write a random-weight Llama GGUF of a named real shape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kestrel.h"

static int usage(FILE *out)
{
    fprintf(out,
            "usage: kestrel synth --shape NAME --type TYPE -o out.gguf [options]\n"
            "Writes a Llama-architecture GGUF of a real model's shape with random weights\n"
            "(matrices N(0, 0.02^2), token_embd N(0, 0.05^2), norms 1 + N(0, 0.01^2) in F32),\n"
            "quantized with the reference quantizers and llama-quantize's default type mix.\n\n"
            "options:\n"
            "  --shape NAME      model shape (below)\n"
            "  --type TYPE       recipe (below); Q3_K/Q4_K/Q5_K mean the _M mixes\n"
            "  -o, --output F    the GGUF to write\n"
            "  --vocab F         copy tokenizer.* from this GGUF ('synth': make a byte-level SPM\n"
            "                    vocab of the shape's size). Default: the shape's vocab from\n"
            "                    $KESTREL_SHARED/vocab (../shared/vocab), or synthesized for 'tiny'\n"
            "  --seed S          random seed (default 42); same seed, same bytes\n"
            "  --layers N        override the number of layers\n"
            "  --pure            every matrix in TYPE (no output/attn_v/ffn_down mix)\n"
            "  -t, --threads N   threads (default: physical cores)\n\nshapes:\n");
    const char *desc;
    for (int i = 0; kestrel_synth_shape_name(i, &desc); i++)
        fprintf(out, "  %-16s %s\n", kestrel_synth_shape_name(i, NULL), desc);
    fprintf(out, "\ntypes:");
    for (int i = 0; kestrel_synth_type_name(i); i++)
        fprintf(out, " %s", kestrel_synth_type_name(i));
    fprintf(out, "\n");
    return out == stdout ? 0 : 2;
}

int cli_synth(int argc, char **argv)
{
    kestrel_synth_params p = kestrel_synth_default_params();
    p.shape = NULL;
    p.type = NULL;
    const char *out = NULL;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        long v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return usage(stdout);
        if (!strcmp(a, "--pure")) {
            p.pure = true;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = true;
        } else if (!has_val) {
            fprintf(stderr, "kestrel synth: unknown option or missing value: %s\n", a);
            return usage(stderr);
        } else if (!strcmp(a, "--shape")) {
            p.shape = argv[++i];
        } else if (!strcmp(a, "--type")) {
            p.type = argv[++i];
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            out = argv[++i];
        } else if (!strcmp(a, "--vocab")) {
            const char *vp = argv[++i];
            if (!strcmp(vp, "synth"))
                p.synth_vocab = true;
            else
                p.vocab_path = vp;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            const char *s = argv[++i];
            unsigned long long seed = strtoull(s, &end, 10);
            if (!*s || *end || *s == '-') {
                fprintf(stderr, "kestrel synth: bad --seed '%s'\n", s);
                return 2;
            }
            p.seed = seed;
        } else if (!strcmp(a, "--layers")) {
            if (!cli_parse_int(argv[++i], 1, 4096, &v)) {
                fprintf(stderr, "kestrel synth: --layers must be 1 to 4096\n");
                return 2;
            }
            p.n_layer = (int)v;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!cli_parse_int(argv[++i], 1, 256, &v)) {
                fprintf(stderr, "kestrel synth: --threads must be 1 to 256\n");
                return 2;
            }
            p.n_threads = (int)v;
        } else {
            fprintf(stderr, "kestrel synth: unknown option %s\n", a);
            return usage(stderr);
        }
    }
    if (!p.shape || !p.type || !out) {
        fprintf(stderr, "kestrel synth: --shape, --type and -o are required\n");
        return usage(stderr);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (kestrel_synth(out, &p))
        return cli_fail();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!quiet) {
        double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        fprintf(stderr, "kestrel synth: wrote %s (%s, %s, seed %llu) in %.1f s\n", out, p.shape, p.type,
                (unsigned long long)p.seed, dt);
    }
    return 0;
}
