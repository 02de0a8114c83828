/* Repacking at load: the matrices whose tile kernel has a layout of its own
 * (kt_gemm.repack: Q4_0, Q8_0 and Q4_K on AVX-512 VNNI, 16 rows interleaved;
 * Q4_0 and Q8_0 on AVX2, 8 rows) are rewritten once into anonymous memory, so
 * that decoding reads one sequential stream per row group and does no packing
 * per token. The file stays mapped and
 * untouched; the pages of a repacked matrix are then dropped from this
 * process (MADV_DONTNEED: they stay in the page cache), so the resident size
 * grows by nothing but rounding. KESTREL_REPACK=0 turns it off. */
#include "model.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "error.h"
#include "quant/quant.h"

typedef struct {
    weight *w;
    size_t offset; /* in the packed block */
} repack_job;

typedef struct {
    repack_job *jobs;
    int n_jobs;
    uint8_t *block;
    const uint8_t *map, *map_end; /* the file mapping */
    int ith, nth;
} repack_share;

/* The whole pages of [p, p + n) no longer count as this process's memory. */
static void drop_pages(const uint8_t *p, size_t n)
{
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + n) & ~(page - 1);
    if (hi > lo)
        madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Thread ith repacks jobs ith, ith + nth, ...: the matrices are independent.
 * Each source matrix in the file mapping is released as soon as it is copied,
 * so the resident set never holds both copies of more than a few matrices. */
static void *repack_worker(void *arg)
{
    const repack_share *sh = arg;
    for (int i = sh->ith; i < sh->n_jobs; i += sh->nth) {
        const weight *w = sh->jobs[i].w;
#ifdef MADV_POPULATE_READ
        /* fault the source in one call instead of a page at a time (best effort) */
        const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
        madvise((void *)((uintptr_t)w->data & ~(page - 1)), w->row_bytes * (size_t)w->ne1 + page, MADV_POPULATE_READ);
#endif
        kt_get_traits(w->type)->gemm->repack(w->ne0, w->data, w->row_bytes, w->ne1, sh->block + sh->jobs[i].offset);
        const size_t bytes = w->row_bytes * (size_t)w->ne1;
        if (w->data >= sh->map && w->data + bytes <= sh->map_end)
            drop_pages(w->data, bytes);
    }
    return NULL;
}

int model_repack(kestrel_model *m)
{
    const char *env = getenv("KESTREL_REPACK");
    if (env && strcmp(env, "0") == 0)
        return 0;
    const int per_layer = 8;
    const int max_jobs = per_layer * m->hp.n_layer + 1;
    repack_job *jobs = calloc((size_t)max_jobs, sizeof *jobs);
    if (!jobs)
        return kestrel_fail(m->file->path, "out of memory");
    int n_jobs = 0;
    size_t total = 0;
    for (int l = 0; l <= m->hp.n_layer; l++) {
        weight *ws[8] = { 0 };
        if (l < m->hp.n_layer) {
            layer_weights *lw = &m->layers[l];
            weight *list[8] = { &lw->wq, &lw->wk, &lw->wv, &lw->wqkv, &lw->wo, &lw->w_gate, &lw->w_up, &lw->w_down };
            memcpy(ws, list, sizeof ws);
        } else {
            ws[0] = &m->output; /* a copy of token_embd when tied: token_embd itself keeps the file's rows */
        }
        for (int i = 0; i < per_layer; i++) {
            weight *w = ws[i];
            const kt_traits *t = w && w->data ? kt_get_traits(w->type) : NULL;
            if (!t || !t->gemm || !t->gemm->repack || w->packed)
                continue;
            jobs[n_jobs].w = w;
            jobs[n_jobs].offset = total;
            n_jobs++;
            total += (w->row_bytes * (size_t)w->ne1 + 63) & ~(size_t)63;
        }
    }
    if (!n_jobs) {
        free(jobs);
        return 0;
    }
    uint8_t *block = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED) {
        free(jobs);
        return kestrel_fail(m->file->path, "out of memory for the repacked weights (%zu bytes)", total);
    }
#ifdef MADV_HUGEPAGE
    madvise(block, total, MADV_HUGEPAGE); /* streamed every token: fewer TLB misses */
#endif
    /* one thread per online CPU: the load is mostly reading the file */
    enum { MAX_THREADS = 64 };
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    const int nth = n_cpu < 1 ? 1 : n_cpu > MAX_THREADS ? MAX_THREADS : (int)n_cpu;
    pthread_t tid[MAX_THREADS];
    bool started[MAX_THREADS] = { false };
    repack_share share[MAX_THREADS];
    for (int i = 0; i < nth; i++) {
        share[i] = (repack_share){ jobs, n_jobs, block, m->file->map, m->file->map + m->file->size, i, nth };
        started[i] = i > 0 && pthread_create(&tid[i], NULL, repack_worker, &share[i]) == 0;
    }
    for (int i = 0; i < nth; i++) /* this thread's share, and those of threads that did not start */
        if (!started[i])
            repack_worker(&share[i]);
    for (int i = 1; i < nth; i++)
        if (started[i])
            pthread_join(tid[i], NULL);

    for (int i = 0; i < n_jobs; i++)
        jobs[i].w->packed = block + jobs[i].offset;
    free(jobs);
    m->packed = block;
    m->packed_bytes = total;
    return 0;
}

void model_free_packed(kestrel_model *m)
{
    if (m->packed)
        munmap(m->packed, m->packed_bytes);
    m->packed = NULL;
}
