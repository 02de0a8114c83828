/* Persistent workers driven by an atomic generation counter.
 *
 * run():   publish fn/arg, bump `generation`, do share 0, wait for `n_done`.
 * worker:  wait for `generation` to move, do its share, bump `n_done`.
 *
 * Waiting spins with a pause instruction for about SPIN_NS (no syscalls, so a
 * run that follows closely costs only cache-line transfers), then a worker goes
 * to sleep on a condition variable. The run() side only touches the mutex when
 * some worker has announced it sleeps (`n_sleeping`), so the hot path is
 * lock-free. Waits that drag on yield now and then, and every step yields when
 * there are more threads than CPUs: spinning would only steal time from the
 * thread being waited for. Barriers and run()'s wait for the workers never
 * sleep; they spin, then yield. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "threadpool.h"

#define CACHE_LINE 64
#define SPIN_NS 100000 /* ~100 us of spinning before yielding or sleeping */
#define MAX_THREADS 4096

typedef struct {
    threadpool *tp;
    int ith;
    pthread_t thread;
} worker;

struct threadpool {
    /* hot counters, each on its own cache line so they don't ping-pong together */
    _Alignas(CACHE_LINE) atomic_uint generation; /* bumped once per run (and at free) */
    _Alignas(CACHE_LINE) atomic_int n_done;      /* workers finished with this generation */
    _Alignas(CACHE_LINE) atomic_int barrier_arrived;
    _Alignas(CACHE_LINE) atomic_uint barrier_phase;
    _Alignas(CACHE_LINE) atomic_int n_sleeping; /* workers in (or entering) cond_wait */

    /* written by run() before the generation bump, read by workers after it */
    _Alignas(CACHE_LINE) threadpool_fn fn;
    void *arg;
    atomic_bool stop;

    int n_threads;
    bool oversubscribed; /* more threads than CPUs: yield rather than spin */
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    worker *workers; /* n_threads - 1 */
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no syscall */
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Spin-then-yield waiting. With more threads than CPUs a pause loop would
 * only burn the time slice the awaited thread needs, so each step yields. The
 * clock is read every few steps only. */
typedef struct {
    uint64_t start;
    unsigned iter;
    bool spun_out;
} backoff;

/* One waiting step; returns false once the ~SPIN_NS budget is spent (the
 * caller then decides whether to yield or sleep from there on). */
static bool backoff_spin(backoff *b, bool oversubscribed)
{
    if (b->spun_out)
        return false;
    if (oversubscribed)
        sched_yield();
    else
        cpu_relax();
    if ((++b->iter & (oversubscribed ? 7 : 255)) == 0) {
        /* Spinning this long suggests the awaited thread lost its CPU (another
         * process, or a pool larger than the machine): let it run. */
        if (!oversubscribed)
            sched_yield();
        uint64_t t = now_ns();
        if (b->start == 0)
            b->start = t;
        else if (t - b->start > SPIN_NS)
            b->spun_out = true;
    }
    return true;
}

static void backoff_wait(backoff *b, bool oversubscribed)
{
    if (!backoff_spin(b, oversubscribed))
        sched_yield();
}

/* CPUs this process may run on. */
static int usable_cpus(void)
{
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Blocks until the generation moves past `seen`; returns the new one. */
static unsigned wait_for_work(threadpool *tp, unsigned seen)
{
    backoff b = {0};
    unsigned gen;
    do {
        gen = atomic_load_explicit(&tp->generation, memory_order_acquire);
        if (gen != seen)
            return gen;
    } while (backoff_spin(&b, tp->oversubscribed));
    /* Announce the sleep before the final check; run() bumps the generation
     * before reading n_sleeping. Both seq_cst, so one of us sees the other. */
    pthread_mutex_lock(&tp->mutex);
    atomic_fetch_add(&tp->n_sleeping, 1);
    while ((gen = atomic_load(&tp->generation)) == seen)
        pthread_cond_wait(&tp->wake, &tp->mutex);
    atomic_fetch_sub(&tp->n_sleeping, 1);
    pthread_mutex_unlock(&tp->mutex);
    return gen;
}

static void *worker_main(void *p)
{
    worker *w = p;
    threadpool *tp = w->tp;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_work(tp, seen);
        if (atomic_load_explicit(&tp->stop, memory_order_relaxed))
            break;
        tp->fn(tp->arg, w->ith, tp->n_threads);
        atomic_fetch_add_explicit(&tp->n_done, 1, memory_order_release);
    }
    return NULL;
}

/* Starts a new generation and wakes sleepers if there are any. */
static void publish(threadpool *tp)
{
    atomic_fetch_add(&tp->generation, 1);
    if (atomic_load(&tp->n_sleeping) > 0) {
        pthread_mutex_lock(&tp->mutex);
        pthread_cond_broadcast(&tp->wake);
        pthread_mutex_unlock(&tp->mutex);
    }
}

static void stop_workers(threadpool *tp, int n_started)
{
    atomic_store(&tp->stop, true);
    publish(tp);
    for (int i = 0; i < n_started; i++)
        pthread_join(tp->workers[i].thread, NULL);
}

threadpool *threadpool_new(int n_threads)
{
    if (n_threads < 1 || n_threads > MAX_THREADS) {
        kestrel_fail("threadpool", "n_threads must be between 1 and %d, got %d", MAX_THREADS,
                     n_threads);
        return NULL;
    }
    size_t size = (sizeof(threadpool) + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
    threadpool *tp = aligned_alloc(CACHE_LINE, size);
    if (!tp) {
        kestrel_fail("threadpool", "out of memory");
        return NULL;
    }
    memset(tp, 0, size);
    atomic_init(&tp->generation, 0);
    atomic_init(&tp->n_done, 0);
    atomic_init(&tp->barrier_arrived, 0);
    atomic_init(&tp->barrier_phase, 0);
    atomic_init(&tp->n_sleeping, 0);
    atomic_init(&tp->stop, false);
    tp->n_threads = n_threads;
    tp->oversubscribed = n_threads > usable_cpus();
    if (n_threads == 1)
        return tp;

    tp->workers = calloc((size_t)n_threads - 1, sizeof *tp->workers);
    if (!tp->workers) {
        free(tp);
        kestrel_fail("threadpool", "out of memory");
        return NULL;
    }
    pthread_mutex_init(&tp->mutex, NULL);
    pthread_cond_init(&tp->wake, NULL);
    for (int i = 0; i < n_threads - 1; i++) {
        worker *w = &tp->workers[i];
        w->tp = tp;
        w->ith = i + 1;
        int err = pthread_create(&w->thread, NULL, worker_main, w);
        if (err) {
            stop_workers(tp, i);
            pthread_cond_destroy(&tp->wake);
            pthread_mutex_destroy(&tp->mutex);
            free(tp->workers);
            free(tp);
            kestrel_fail("threadpool", "cannot start thread %d of %d: %s", i + 1, n_threads,
                         strerror(err));
            return NULL;
        }
    }
    return tp;
}

void threadpool_free(threadpool *tp)
{
    if (!tp)
        return;
    if (tp->n_threads > 1) {
        stop_workers(tp, tp->n_threads - 1);
        pthread_cond_destroy(&tp->wake);
        pthread_mutex_destroy(&tp->mutex);
        free(tp->workers);
    }
    free(tp);
}

int threadpool_size(const threadpool *tp)
{
    return tp->n_threads;
}

void threadpool_run(threadpool *tp, threadpool_fn fn, void *arg)
{
    int n = tp->n_threads;
    if (n == 1) {
        fn(arg, 0, 1);
        return;
    }
    /* Every worker bumped n_done for the last run before that run returned, so
     * none is reading fn/arg now. */
    tp->fn = fn;
    tp->arg = arg;
    atomic_store_explicit(&tp->n_done, 0, memory_order_relaxed);
    publish(tp);

    fn(arg, 0, n);

    backoff b = {0};
    while (atomic_load_explicit(&tp->n_done, memory_order_acquire) != n - 1)
        backoff_wait(&b, tp->oversubscribed);
}

void threadpool_barrier(threadpool *tp)
{
    int n = tp->n_threads;
    if (n == 1)
        return;
    /* The phase can't move before this thread arrives, so reading it first is safe. */
    unsigned phase = atomic_load(&tp->barrier_phase);
    if (atomic_fetch_add(&tp->barrier_arrived, 1) == n - 1) {
        atomic_store(&tp->barrier_arrived, 0); /* reset before anyone can re-enter */
        atomic_fetch_add(&tp->barrier_phase, 1);
        return;
    }
    backoff b = {0};
    while (atomic_load(&tp->barrier_phase) == phase)
        backoff_wait(&b, tp->oversubscribed);
}

/* The smallest CPU id in cpu's thread-sibling list identifies its core; -1 if
 * the topology can't be read. */
static int core_id_of(int cpu)
{
    char path[128];
    snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list",
             cpu);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int first = -1;
    if (fscanf(f, "%d", &first) != 1)
        first = -1;
    fclose(f);
    return first;
}

int kestrel_physical_cores(void)
{
#ifdef __linux__
    cpu_set_t allowed, cores;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
        CPU_ZERO(&cores);
        bool ok = true;
        for (int cpu = 0; cpu < CPU_SETSIZE && ok; cpu++) {
            if (!CPU_ISSET(cpu, &allowed))
                continue;
            int core = core_id_of(cpu);
            if (core < 0 || core >= CPU_SETSIZE)
                ok = false;
            else
                CPU_SET(core, &cores);
        }
        int n = CPU_COUNT(&cores);
        if (ok && n > 0)
            return n;
    }
#endif
    return usable_cpus();
}
