/* Thread pool: every index runs exactly once per run, work splits add up,
 * barriers order multi-phase work, sleeping workers wake, pools larger than the
 * machine still finish quickly. Prints the latency of an empty run. */
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "kestrel.h"
#include "test.h"
#include "threadpool.h"

#define MAX_N 16

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- each index once ---- */

typedef struct {
    atomic_int hits[MAX_N];
    atomic_int bad_nth;
    int expected_nth;
} index_job;

static void count_index(void *arg, int ith, int nth)
{
    index_job *job = arg;
    if (nth != job->expected_nth || ith < 0 || ith >= nth)
        atomic_fetch_add(&job->bad_nth, 1);
    else
        atomic_fetch_add(&job->hits[ith], 1);
}

static void test_each_index_once(threadpool *tp, int n)
{
    index_job job;
    memset(&job, 0, sizeof job);
    job.expected_nth = n;
    const int runs = 200;
    for (int r = 0; r < runs; r++)
        threadpool_run(tp, count_index, &job);
    int wrong = 0;
    for (int i = 0; i < MAX_N; i++)
        wrong += atomic_load(&job.hits[i]) != (i < n ? runs : 0);
    CHECK(wrong == 0 && atomic_load(&job.bad_nth) == 0, "n=%d: each index once per run", n);
}

/* ---- a split sum ---- */

enum { SUM_LEN = 10007 };

typedef struct {
    const int *data;
    long long partial[MAX_N][8]; /* a cache line each */
} sum_job;

static void partial_sum(void *arg, int ith, int nth)
{
    sum_job *job = arg;
    int begin = (int)((long long)SUM_LEN * ith / nth), end = (int)((long long)SUM_LEN * (ith + 1) / nth);
    long long s = 0;
    for (int i = begin; i < end; i++)
        s += job->data[i];
    job->partial[ith][0] = s;
}

static void test_sums(threadpool *tp, int n)
{
    static int data[SUM_LEN];
    sum_job job = {.data = data};
    int wrong = 0;
    for (int r = 0; r < 1000; r++) {
        long long expected = 0;
        for (int i = 0; i < SUM_LEN; i++) {
            data[i] = (i * 31 + r * 17) % 1000 - 500;
            expected += data[i];
        }
        threadpool_run(tp, partial_sum, &job);
        long long got = 0;
        for (int i = 0; i < n; i++)
            got += job.partial[i][0];
        wrong += got != expected;
    }
    CHECK(wrong == 0, "n=%d: split sums over 1000 runs (%d wrong)", n, wrong);
}

/* ---- barriers: each phase reads what every thread wrote in the previous one ---- */

enum { PHASES = 6 };

typedef struct {
    threadpool *tp;
    int round;
    long long value[PHASES + 1][MAX_N];
    atomic_int errors;
} barrier_job;

static void barrier_phases(void *arg, int ith, int nth)
{
    barrier_job *job = arg;
    job->value[0][ith] = job->round * 1000 + ith;
    for (int p = 1; p <= PHASES; p++) {
        threadpool_barrier(job->tp);
        /* everyone's value from phase p-1 must be there: sum them */
        long long s = 0;
        for (int j = 0; j < nth; j++)
            s += job->value[p - 1][j];
        job->value[p][ith] = s + ith;
    }
    threadpool_barrier(job->tp);
    /* recompute the whole chain and compare with what the others wrote */
    long long prev[MAX_N], cur[MAX_N];
    for (int j = 0; j < nth; j++)
        prev[j] = job->round * 1000 + j;
    for (int p = 1; p <= PHASES; p++) {
        long long s = 0;
        for (int j = 0; j < nth; j++)
            s += prev[j];
        for (int j = 0; j < nth; j++)
            cur[j] = s + j;
        memcpy(prev, cur, sizeof prev);
    }
    for (int j = 0; j < nth; j++)
        if (job->value[PHASES][j] != prev[j])
            atomic_fetch_add(&job->errors, 1);
}

static void test_barriers(threadpool *tp, int n)
{
    static barrier_job job;
    memset(&job, 0, sizeof job);
    job.tp = tp;
    for (int r = 0; r < 2000; r++) {
        job.round = r;
        threadpool_run(tp, barrier_phases, &job);
    }
    CHECK(atomic_load(&job.errors) == 0, "n=%d: %d barrier phases x 2000 runs (%d errors)", n,
          PHASES + 1, atomic_load(&job.errors));
}

/* ---- back to back, and the empty-run latency ---- */

static void bump(void *arg, int ith, int nth)
{
    (void)ith;
    (void)nth;
    atomic_fetch_add((atomic_long *)arg, 1);
}

static void nothing(void *arg, int ith, int nth)
{
    (void)arg;
    (void)ith;
    (void)nth;
}

static void test_back_to_back(threadpool *tp, int n)
{
    atomic_long count = 0;
    const int runs = 10000;
    double t0 = now_s();
    for (int r = 0; r < runs; r++)
        threadpool_run(tp, bump, &count);
    double t1 = now_s();
    CHECK(atomic_load(&count) == (long)runs * n, "n=%d: 10k back-to-back runs", n);
    CHECK(t1 - t0 < 5.0, "n=%d: 10k runs took %.2f s", n, t1 - t0);

    t0 = now_s();
    for (int r = 0; r < runs; r++)
        threadpool_run(tp, nothing, NULL);
    t1 = now_s();
    printf("n=%d: empty run %.2f us\n", n, (t1 - t0) / runs * 1e6);
}

/* ---- workers that went to sleep wake up ---- */

static void test_wake_after_sleep(threadpool *tp, int n)
{
    index_job job;
    memset(&job, 0, sizeof job);
    job.expected_nth = n;
    double worst = 0.0;
    for (int r = 0; r < 5; r++) {
        sleep_ms(3); /* well past the spin budget: workers are asleep */
        double t0 = now_s();
        threadpool_run(tp, count_index, &job);
        double dt = now_s() - t0;
        worst = dt > worst ? dt : worst;
    }
    int wrong = 0;
    for (int i = 0; i < n; i++)
        wrong += atomic_load(&job.hits[i]) != 5;
    CHECK(wrong == 0, "n=%d: runs after idle periods", n);
    printf("n=%d: run after 3 ms idle, worst %.1f us\n", n, worst * 1e6);
}

static void test_pool(int n)
{
    threadpool *tp = threadpool_new(n);
    CHECK(tp != NULL, "threadpool_new(%d): %s", n, tp ? "" : kestrel_last_error());
    if (!tp)
        return;
    CHECK(threadpool_size(tp) == n, "size %d", n);
    test_each_index_once(tp, n);
    test_sums(tp, n);
    test_barriers(tp, n);
    test_back_to_back(tp, n);
    test_wake_after_sleep(tp, n);
    threadpool_free(tp);
}

int main(void)
{
    CHECK(threadpool_new(0) == NULL, "0 threads refused");
    CHECK(strstr(kestrel_last_error(), "n_threads") != NULL, "error says why: %s",
          kestrel_last_error());
    CHECK(threadpool_new(-3) == NULL, "negative refused");

    int cores = kestrel_physical_cores();
    CHECK(cores >= 1, "physical cores %d", cores);
    printf("physical cores: %d\n", cores);

    const int sizes[] = {1, 2, 3, 4, 8};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        test_pool(sizes[i]);

    /* free right away, and free while the workers sleep */
    for (int n = 1; n <= 8; n *= 2) {
        threadpool *tp = threadpool_new(n);
        threadpool_free(tp);
        tp = threadpool_new(n);
        atomic_long count = 0;
        threadpool_run(tp, bump, &count);
        sleep_ms(2);
        threadpool_free(tp);
        CHECK(atomic_load(&count) == n, "n=%d: new, run, idle, free", n);
    }
    threadpool_free(NULL);
    return test_report();
}
