/* A minimal test harness: CHECK counts, the last line says "N passed, N failed". */
#ifndef KESTREL_TEST_H
#define KESTREL_TEST_H

#include <stdio.h>
#include <stdlib.h>

static int test_passed, test_failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            test_passed++;                                                 \
        } else {                                                           \
            test_failed++;                                                 \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

/* Where the shared models and references live (../shared unless KESTREL_SHARED). */
static inline const char *test_shared_dir(void)
{
    const char *s = getenv("KESTREL_SHARED");
    return s && *s ? s : "../shared";
}

/* Path of the kestrel binary, for tests that drive the CLI. */
static inline const char *test_kestrel_bin(void)
{
    const char *s = getenv("KESTREL_BIN");
    return s && *s ? s : "./kestrel";
}

static inline int test_report(void)
{
    printf("%d passed, %d failed\n", test_passed, test_failed);
    return test_failed ? 1 : 0;
}

#endif
