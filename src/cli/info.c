/* kestrel info model.gguf: the header, every metadata entry and the tensor table. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kestrel.h"

/* Defined in gguf_api.c; to move into kestrel.h. */

#define INFO_MAX_ITEMS 8
#define INFO_VALUE_CAP 320 /* longer values (chat templates) are cut with "..." */

static int usage(FILE *out)
{
    fprintf(out, "usage: kestrel info model.gguf\n"
                 "Prints the GGUF header, all metadata and the tensor table.\n");
    return out == stdout ? 0 : 2;
}

/* Keys and tensor names come from the file: no control characters to the terminal. */
static const char *clean(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++)
        buf[n++] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
    buf[n] = '\0';
    return buf;
}

static void format_shape(const kestrel_tensor_info *t, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->n_dims && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, d ? ", " : "", t->ne[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

int cli_info(int argc, char **argv)
{
    if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
        return usage(stdout);
    if (argc != 2 || argv[1][0] == '-')
        return usage(stderr);
    const char *path = argv[1];
    kestrel_gguf *g = kestrel_gguf_open(path);
    if (!g) {
        fprintf(stderr, "kestrel: %s\n", kestrel_last_error());
        return 1;
    }

    printf("file:        %s\n", path);
    printf("version:     %" PRIu32 "\n", kestrel_gguf_version(g));
    printf("alignment:   %" PRIu64 "\n", kestrel_gguf_alignment(g));
    printf("data offset: %" PRIu64 "\n", kestrel_gguf_data_offset(g));

    int64_t n_kv = kestrel_gguf_n_kv(g);
    int key_width = 8;
    for (int64_t i = 0; i < n_kv; i++) {
        size_t len = strlen(kestrel_gguf_kv_key(g, i));
        if (len > (size_t)key_width)
            key_width = len > 48 ? 48 : (int)len;
    }
    printf("\nmetadata: %" PRId64 " entries\n", n_kv);
    char value[INFO_VALUE_CAP], name[256];
    for (int64_t i = 0; i < n_kv; i++) {
        int len = kestrel_gguf_kv_format(g, i, value, sizeof value, INFO_MAX_ITEMS);
        const char *cut = (size_t)len + 1 >= sizeof value ? "..." : "";
        printf("  %-*s  %-14s %s%s\n", key_width, clean(kestrel_gguf_kv_key(g, i), name, sizeof name),
               kestrel_gguf_kv_type(g, i), value, cut);
    }

    int64_t n_tensors = kestrel_gguf_n_tensors(g);
    int name_width = 4;
    for (int64_t i = 0; i < n_tensors; i++) {
        kestrel_tensor_info t;
        kestrel_gguf_tensor(g, i, &t);
        size_t len = strlen(t.name);
        if (len > (size_t)name_width)
            name_width = len > 48 ? 48 : (int)len;
    }
    printf("\ntensors: %" PRId64 "\n", n_tensors);
    printf("  %5s  %-*s  %-5s  %-22s %12s %12s\n", "index", name_width, "name", "type", "shape",
           "offset", "bytes");
    uint64_t total_bytes = 0, total_params = 0;
    for (int64_t i = 0; i < n_tensors; i++) {
        kestrel_tensor_info t;
        kestrel_gguf_tensor(g, i, &t);
        char shape[96];
        format_shape(&t, shape, sizeof shape);
        printf("  %5" PRId64 "  %-*s  %-5s  %-22s %12" PRIu64 " %12" PRIu64 "\n", i, name_width,
               clean(t.name, name, sizeof name), t.type_name, shape, t.offset, t.nbytes);
        uint64_t params = 1;
        for (int d = 0; d < t.n_dims; d++)
            params *= (uint64_t)t.ne[d];
        total_bytes += t.nbytes;
        total_params += params;
    }
    printf("\ntotal: %" PRId64 " tensors, %" PRIu64 " bytes, %" PRIu64 " parameters\n", n_tensors,
           total_bytes, total_params);
    kestrel_gguf_close(g);
    return 0;
}
