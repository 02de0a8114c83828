/* A Jinja2 subset interpreter for chat templates: renders the way Hugging Face
 * transformers does (trim_blocks, lstrip_blocks, loop controls, Python-json tojson,
 * raise_exception, strftime_now). Templates come from untrusted files, so every
 * failure is an error return: bounded recursion, output, memory and work. */
#ifndef KESTREL_JINJA_H
#define KESTREL_JINJA_H

#include <stddef.h>

#include "json.h"

typedef enum {
    JINJA_OK = 0,
    JINJA_ERROR = -1, /* syntax error, type error, undefined value, limit hit */
    JINJA_RAISED = -2 /* the template called raise_exception(msg) */
} jinja_status;

/* Renders len bytes of template source. vars is a JSON object whose members
 * become the template's variables (NULL: none). On JINJA_OK *out is a malloc'd
 * NUL-terminated string (length in *out_len when not NULL). Otherwise *out is
 * NULL and err holds the message: for JINJA_RAISED exactly the template's own
 * string, else "line N: <what went wrong>". */
jinja_status jinja_render(const char *src, size_t len, const json_value *vars, char **out,
                          size_t *out_len, char *err, size_t err_cap);

#endif
