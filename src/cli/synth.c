/* kestrel synth: write a random-weight GGUF of a named real shape (Llama, or
 * another architecture with --arch). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kestrel.h"
#include "synth.h"

static int usage(FILE *out)
{
    fprintf(out,
            "usage: kestrel synth --shape NAME --type TYPE -o out.gguf [options]\n"
            "Writes a GGUF (Llama architecture unless --arch) of a real model's shape with random\n"
            "weights (matrices N(0, 0.02^2), token_embd N(0, 0.05^2), norms 1 + N(0, 0.01^2) in F32;\n"
            "the micro and nano shapes use larger ones, see their descriptions),\n"
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
            "  -t, --threads N   threads (default: physical cores)\n\n"
            "architectures (for differential tests against llama.cpp):\n"
            "  --arch A          llama (default), qwen2 (q/k/v biases), qwen3 (q/k norms), phi3\n"
            "                    (fused attn_qkv and gate|up), gemma (tied, GeGLU), gemma2 (+ post-norms,\n"
            "                    soft-capping, sliding window on even layers; llama.cpp wants 26, 42\n"
            "                    or 46 layers). Biases N(0, (sigma*sqrt(n_embd)/2)^2)\n"
            "  --rope-freqs S    llama: add rope_freqs.weight with Llama 3.1's factors, S = llama3\n"
            "                    (8,1,4,8192) or FACTOR,LOW,HIGH,ORIG_CTX\n"
            "  --head-dim N      attention.key_length = value_length (default n_embd / n_head)\n"
            "  --rope-dims N     rope.dimension_count (default: the head dimension)\n"
            "  --swa N           attention.sliding_window (phi3, gemma2)\n"
            "  --attn-softcap X  gemma2 attn_logit_softcapping (default: not written, 50)\n"
            "  --final-softcap X gemma2 final_logit_softcapping (default: not written, 30)\n"
            "  --tied            no output.weight: the output is token_embd\n\n"
            "deepening a real model (a memory-bound stand-in for a big one):\n"
            "  --deepen IN --extra-layers N [--type TYPE] -o OUT\n"
            "                    appends N layers copied from IN's (output projections random, std\n"
            "                    1e-5, so the text stays IN's), every matrix in TYPE\n\nshapes:\n");
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
    synth_arch_params arch;
    memset(&arch, 0, sizeof arch);
    const char *out = NULL, *deepen = NULL;
    long extra_layers = 0;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool has_val = i + 1 < argc;
        long v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return usage(stdout);
        if (!strcmp(a, "--pure")) {
            p.pure = true;
        } else if (!strcmp(a, "--tied")) {
            arch.tied = true;
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
        } else if (!strcmp(a, "--deepen") && has_val) {
            deepen = argv[++i];
        } else if (!strcmp(a, "--extra-layers") && has_val) {
            if (!cli_parse_int(argv[++i], 1, 4096, &extra_layers)) {
                fprintf(stderr, "kestrel synth: --extra-layers must be 1 to 4096\n");
                return 2;
            }
        } else if (!strcmp(a, "--arch")) {
            arch.arch = argv[++i];
        } else if (!strcmp(a, "--rope-freqs")) {
            arch.rope_freqs = argv[++i];
        } else if (!strcmp(a, "--head-dim") || !strcmp(a, "--rope-dims") || !strcmp(a, "--swa")) {
            if (!cli_parse_int(argv[++i], 1, 1 << 20, &v)) {
                fprintf(stderr, "kestrel synth: %s must be 1 to %d\n", a, 1 << 20);
                return 2;
            }
            *(!strcmp(a, "--head-dim") ? &arch.head_dim : !strcmp(a, "--rope-dims") ? &arch.n_rot : &arch.n_swa) = (int)v;
        } else if (!strcmp(a, "--attn-softcap") || !strcmp(a, "--final-softcap")) {
            char *end;
            const char *s = argv[++i];
            float x = strtof(s, &end);
            if (!*s || *end || !(x > 0.0f && x < 1e6f)) {
                fprintf(stderr, "kestrel synth: %s wants a positive number, not '%s'\n", a, s);
                return 2;
            }
            *(!strcmp(a, "--attn-softcap") ? &arch.attn_softcap : &arch.final_softcap) = x;
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
    if (deepen) {
        if (!out || !extra_layers) {
            fprintf(stderr, "kestrel synth: --deepen needs --extra-layers and -o\n");
            return usage(stderr);
        }
        kestrel_deepen_params dp = kestrel_deepen_default_params();
        dp.extra_layers = (int)extra_layers;
        dp.type = p.type;
        if (kestrel_deepen(deepen, out, &dp))
            return cli_fail();
        if (!quiet)
            fprintf(stderr, "kestrel synth: wrote %s (%s + %ld layers)\n", out, deepen, extra_layers);
        return 0;
    }
    if (!p.shape || !p.type || !out) {
        fprintf(stderr, "kestrel synth: --shape, --type and -o are required\n");
        return usage(stderr);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (synth_write(out, &p, &arch))
        return cli_fail();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!quiet) {
        double dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        fprintf(stderr, "kestrel synth: wrote %s (%s, %s, %s, seed %llu) in %.1f s\n", out,
                arch.arch ? arch.arch : "llama", p.shape, p.type, (unsigned long long)p.seed, dt);
    }
    return 0;
}
