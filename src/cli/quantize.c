/* kestrel quantize in.gguf out.gguf TYPE [--threads N]: llama-quantize's job
 * (default mixes, no imatrix), one progress line per tensor on stderr. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "kestrel.h"



static int usage(FILE *out)
{
    fprintf(out, "usage: kestrel quantize in.gguf out.gguf TYPE [--threads N]\n"
                 "Converts an F32/F16/BF16 model as llama-quantize does (same per-tensor types,\n"
                 "metadata and bytes; no imatrix).\n"
                 "  -t, --threads N  worker threads (default: physical cores)\n"
                 "TYPE:");
    for (int i = 0; kestrel_quantize_type_name(i); i++)
        fprintf(out, " %s", kestrel_quantize_type_name(i));
    fprintf(out, "\n");
    return out == stdout ? 0 : 2;
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

static void print_progress(const kestrel_quantize_tensor *t, void *user)
{
    (void)user;
    char shape[96];
    size_t n = (size_t)snprintf(shape, sizeof shape, "[");
    for (int d = 0; d < t->n_dims && d < 4 && n < sizeof shape; d++)
        n += (size_t)snprintf(shape + n, sizeof shape - n, "%s%" PRId64, d ? ", " : "", t->ne[d]);
    if (n < sizeof shape)
        snprintf(shape + n, sizeof shape - n, "]");
    int width = 1;
    for (int v = t->n_tensors; v >= 10; v /= 10)
        width++;
    if (width < 3)
        width = 3;
    char types[32];
    snprintf(types, sizeof types, "%s -> %s", t->src_type, t->dst_type);
    fprintf(stderr, "[%*d/%*d] %-*s  %-14s  %-14s  %8.2f MiB -> %8.2f MiB\n", width, t->index, width, t->n_tensors,
            t->name_width, t->name, types, shape, mib(t->src_bytes), mib(t->dst_bytes));
}

int cli_quantize(int argc, char **argv)
{
    const char *pos[3];
    int n_pos = 0;
    long n_threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return usage(stdout);
        if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0) {
            if (i + 1 >= argc || !cli_parse_int(argv[i + 1], 1, 1024, &n_threads)) {
                fprintf(stderr, "kestrel quantize: %s needs a thread count from 1 to 1024\n", a);
                return usage(stderr);
            }
            i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "kestrel quantize: unknown option '%s'\n", a);
            return usage(stderr);
        } else if (n_pos < 3) {
            pos[n_pos++] = a;
        } else {
            fprintf(stderr, "kestrel quantize: too many arguments\n");
            return usage(stderr);
        }
    }
    if (n_pos != 3)
        return usage(stderr);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kestrel_quantize_stats st;
    if (kestrel_quantize(pos[0], pos[1], pos[2], (int)n_threads, print_progress, NULL, &st) != 0)
        return cli_fail();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    fprintf(stderr, "quantize: %d tensors (%d converted), %.2f MiB -> %.2f MiB of tensor data, file %.2f MiB, "
                    "%.2f s with %d thread%s\n",
            st.n_tensors, st.n_quantized, mib(st.src_bytes), mib(st.dst_bytes), mib(st.file_bytes), secs,
            st.n_threads, st.n_threads == 1 ? "" : "s");
    return 0;
}
