#include "error.h"
#include "kestrel.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

int kestrel_fail(const char *where, const char *fmt, ...)
{
    int n = 0;
    if (where)
        n = snprintf(last_error, sizeof last_error, "%s: ", where);
    if (n < 0 || (size_t)n >= sizeof last_error)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error + n, sizeof last_error - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

const char *kestrel_last_error(void)
{
    return last_error[0] ? last_error : "unknown error";
}
