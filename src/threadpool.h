/* A pool of persistent worker threads for data-parallel work.
 *
 * threadpool_run hands one function to every thread and waits for all of them.
 * Workers spin briefly after a run so back-to-back runs start in well under a
 * microsecond-scale handoff, then sleep, so an idle pool costs no CPU. */
#ifndef KESTREL_THREADPOOL_H
#define KESTREL_THREADPOOL_H

typedef struct threadpool threadpool;

/* n_threads >= 1; the caller counts as thread 0, so n_threads - 1 workers are
 * started. NULL + kestrel_fail on error. */
threadpool *threadpool_new(int n_threads);
/* Stops and joins the workers; the pool must be idle (no run in progress). */
void threadpool_free(threadpool *tp);
int threadpool_size(const threadpool *tp);

typedef void (*threadpool_fn)(void *arg, int ith, int nth);

/* Runs fn(arg, i, n) on every thread i in [0, n) (the caller runs i = 0) and
 * returns when all are done. Not reentrant: fn must not call threadpool_run on
 * the same pool, and only one thread may drive a pool at a time. */
void threadpool_run(threadpool *tp, threadpool_fn fn, void *arg);

/* A barrier usable inside fn, for multi-phase work in one run: returns once all
 * n threads have called it. Every thread must call it the same number of times;
 * writes before it are visible to every thread after it. */
void threadpool_barrier(threadpool *tp);

/* Physical cores this process may run on: /sys thread-sibling topology, or the
 * online CPU count when that is unavailable. Always >= 1. */
int kestrel_physical_cores(void);

#endif
