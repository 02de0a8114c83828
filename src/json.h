/* A JSON value tree: a strict parser (RFC 8259 plus Python's NaN/Infinity) and a
 * serializer that writes exactly what Python's json.dumps writes, because chat
 * templates print tool schemas through it and the output must match byte for byte.
 * Object members keep their input order. Strings are UTF-8 and may hold NULs. */
#ifndef KESTREL_JSON_H
#define KESTREL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    JSON_NULL,
    JSON_BOOL,
    JSON_INT,
    JSON_FLOAT,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type;

typedef struct json_value json_value;

typedef struct {
    char *key;
    size_t key_len;
    json_value *value;
} json_member;

struct json_value {
    json_type type;
    union {
        bool boolean;
        int64_t integer;
        double number;
        struct {
            char *ptr; /* NUL-terminated as well */
            size_t len;
        } string;
        struct {
            json_value **items;
            size_t count, cap;
        } array;
        struct {
            json_member *members;
            size_t count, cap;
        } object;
    } u;
};

/* Parses len bytes. Returns NULL on malformed input (or nesting deeper than
 * 512) and writes a one-line reason to err (may be NULL). */
json_value *json_parse(const char *text, size_t len, char *err, size_t err_cap);
void json_free(json_value *value);

/* Constructors return NULL when out of memory. */
json_value *json_new_null(void);
json_value *json_new_bool(bool b);
json_value *json_new_int(int64_t i);
json_value *json_new_float(double d);
json_value *json_new_string(const char *s, size_t len);
json_value *json_new_array(void);
json_value *json_new_object(void);
/* Takes ownership of item (freed on failure). Returns 0 or -1. */
int json_array_push(json_value *array, json_value *item);
/* Replaces an existing key in place (Python dict semantics). Takes ownership of
 * value (freed on failure). Returns 0 or -1. */
int json_object_set(json_value *object, const char *key, size_t key_len, json_value *value);
/* The member's value, or NULL when absent or object is not an object. */
json_value *json_object_get(const json_value *object, const char *key);

typedef struct {
    int indent;           /* < 0: everything on one line */
    const char *item_sep; /* NULL: ", " without indent, "," with it (Python's default) */
    const char *key_sep;  /* NULL: ": " */
    bool ensure_ascii;    /* write non-ASCII as \uXXXX */
    bool sort_keys;
} json_dump_options;

/* Python's json.dumps(value, ensure_ascii=False) defaults. */
json_dump_options json_default_options(void);

/* Serializes to a malloc'd NUL-terminated string (length in *len when not NULL),
 * or NULL when out of memory. */
char *json_dumps(const json_value *value, const json_dump_options *options, size_t *len);

/* Formats d as Python's repr(float) does: the shortest text that reads back to
 * the same double, "1e+16"/"1e-05" style exponents, "2.0" for integral values,
 * "nan"/"inf"/"-inf". Returns the length; buf needs 32 bytes. */
int json_format_python_float(double d, char *buf);

#endif
