/* One way to report an error: format "<file>: <what is wrong>" into a per-thread
 * buffer and return an error code up the stack. Library code never exits. */
#ifndef KESTREL_ERROR_H
#define KESTREL_ERROR_H

#if defined(__GNUC__)
#define KESTREL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define KESTREL_PRINTF(a, b)
#endif

/* Sets the last error to "<where>: <message>" (or just "<message>" when where is
 * NULL) and returns -1, so callers can write `return kestrel_fail(path, "...")`. */
int kestrel_fail(const char *where, const char *fmt, ...) KESTREL_PRINTF(2, 3);

#endif
