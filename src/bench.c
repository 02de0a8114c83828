/* Helpers for kestrel bench: the machine's streaming read bandwidth, and what a
 * decoded token reads, for the roofline. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "kestrel.h"
#include "model.h"
#include "threadpool.h"

/* ---- read bandwidth ------------------------------------------------------------ */

typedef struct {
    const uint64_t *buf;
    size_t n_words;
    uint64_t sums[256];
    bool fill;
} read_job;

static void read_share(void *arg, int ith, int nth)
{
    read_job *job = arg;
    size_t w0 = job->n_words * (size_t)ith / (size_t)nth, w1 = job->n_words * (size_t)(ith + 1) / (size_t)nth;
    if (job->fill) { /* first touch by the thread that reads it; distinct words, so
                        * no page looks like another (a host may merge identical pages) */
        uint64_t *w = (uint64_t *)job->buf;
        for (size_t i = w0; i < w1; i++)
            w[i] = (uint64_t)i * 0x9e3779b97f4a7c15ull;
        return;
    }
    /* One word of every 64-byte line brings the whole line in: memory, not the
     * load ports of a scalar loop, is then the limit (the kernels use wide loads
     * and would otherwise beat the "ceiling"). Eight lines per step in eight
     * independent sums, with a software prefetch ahead as the kernels do. */
    uint64_t s[8] = { 0 };
    const uint64_t *p = job->buf + w0;
    size_t n = w1 - w0, i = 0;
    for (; i + 64 <= n; i += 64) {
        __builtin_prefetch(p + i + 512);
        __builtin_prefetch(p + i + 520);
        for (int k = 0; k < 8; k++)
            s[k] += p[i + 8 * k];
    }
    for (; i < n; i += 8)
        s[0] += p[i];
    job->sums[ith] = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double kestrel_read_bandwidth(int n_threads, size_t bytes, int passes)
{
    if (n_threads <= 0)
        n_threads = kestrel_physical_cores();
    if (n_threads > 256)
        n_threads = 256;
    if (passes < 1)
        passes = 1;
    bytes &= ~(size_t)63;
    if (bytes < 4096)
        return kestrel_fail(NULL, "bandwidth probe: a buffer of %zu bytes is too small", bytes);
    uint64_t *buf = aligned_alloc(64, bytes);
    threadpool *tp = threadpool_new(n_threads);
    if (!buf || !tp) {
        free(buf);
        threadpool_free(tp);
        return kestrel_fail(NULL, "bandwidth probe: out of memory for %zu bytes", bytes);
    }
    read_job job = { buf, bytes / sizeof(uint64_t), { 0 }, true };
    threadpool_run(tp, read_share, &job);
    job.fill = false;
    threadpool_run(tp, read_share, &job); /* warm-up: page tables, TLB, frequency */
    double best = 0.0;
    volatile uint64_t sink = 0;
    for (int i = 0; i < passes; i++) {
        double t0 = now_s();
        threadpool_run(tp, read_share, &job);
        double dt = now_s() - t0;
        for (int k = 0; k < n_threads; k++)
            sink += job.sums[k];
        if (dt > 0 && (double)bytes / dt > best)
            best = (double)bytes / dt;
    }
    (void)sink;
    threadpool_free(tp);
    free(buf);
    return best;
}

/* ---- bytes per token --------------------------------------------------------- */

uint64_t kestrel_model_bytes_per_token(const kestrel_model *m)
{
    const gguf_file *f = m->file;
    bool tied = gguf_find_tensor(f, "output.weight") == NULL;
    uint64_t total = 0;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        if (strcmp(t->name, "token_embd.weight") == 0 && !tied) {
            int64_t rows = t->n_dims > 1 ? t->ne[1] : 1;
            total += rows > 0 ? t->nbytes / (uint64_t)rows : 0; /* one row is looked up */
        } else {
            total += t->nbytes;
        }
    }
    return total;
}

uint64_t kestrel_model_kv_bytes_per_pos(const kestrel_model *m, kestrel_kv_type type)
{
    uint64_t elem = type == KESTREL_KV_F32 ? 4 : 2;
    return 2 * (uint64_t)m->hp.n_layer * (uint64_t)m->hp.n_head_kv * (uint64_t)m->hp.head_dim * elem;
}

/* llama_model_ftype_name's names, by general.file_type. */
const char *kestrel_model_ftype_name(const kestrel_model *m)
{
    static const struct {
        uint32_t id;
        const char *name;
    } names[] = {
        { 0, "all F32" },        { 1, "F16" },           { 2, "Q4_0" },          { 3, "Q4_1" },
        { 7, "Q8_0" },           { 8, "Q5_0" },          { 9, "Q5_1" },          { 10, "Q2_K - Medium" },
        { 11, "Q3_K - Small" },  { 12, "Q3_K - Medium" }, { 13, "Q3_K - Large" }, { 14, "Q4_K - Small" },
        { 15, "Q4_K - Medium" }, { 16, "Q5_K - Small" },  { 17, "Q5_K - Medium" }, { 18, "Q6_K" },
        { 21, "Q2_K - Small" },  { 32, "BF16" },
    };
    uint32_t id;
    if (gguf_find(m->file, "general.file_type") && gguf_get_u32(m->file, "general.file_type", &id))
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (names[i].id == id)
                return names[i].name;
    kestrel_model_info info;
    kestrel_model_get_info(m, &info);
    return info.type_name;
}
