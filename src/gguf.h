/* GGUF reader (v2, v3) over a read-only mmap, and writer.
 *
 * The file is untrusted: gguf_open validates every count, length, offset and
 * size against the file size and for overflow before anything else looks at it.
 * After a successful open, every pointer below is inside the mapping. */
#ifndef KESTREL_GGUF_H
#define KESTREL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum gguf_value_type {
    GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3,
    GGUF_UINT32 = 4, GGUF_INT32 = 5, GGUF_FLOAT32 = 6, GGUF_BOOL = 7,
    GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_UINT64 = 10, GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12, GGUF_TYPE_COUNT
};

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct {
    const char *ptr; /* not NUL-terminated; points into the mapping */
    uint64_t len;
} gguf_string;

typedef struct {
    char *key;              /* NUL-terminated copy */
    uint32_t type;          /* enum gguf_value_type */
    uint32_t elem_type;     /* for GGUF_ARRAY: the element type */
    uint64_t n;             /* for GGUF_ARRAY: element count (nested arrays: outer count) */
    const uint8_t *data;    /* the value (for arrays: the first element) in the mapping */
    uint64_t size;          /* bytes of data */
    const uint64_t *str_offsets; /* for arrays of strings: offset of element i from data */
} gguf_kv;

typedef struct {
    char *name;             /* NUL-terminated copy */
    uint32_t type;          /* ggml type id (see quant/quant.h) */
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is contiguous; unused dims are 1 */
    uint64_t offset;        /* from data_offset */
    uint64_t nbytes;
    const void *data;       /* in the mapping */
} gguf_tensor;

typedef struct gguf_file {
    char *path;
    const uint8_t *map;
    uint64_t size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    int64_t n_kv;
    gguf_kv *kv;
    int64_t n_tensors;
    gguf_tensor *tensors;
} gguf_file;

/* NULL on failure, with kestrel_last_error() naming the file and the problem. */
gguf_file *gguf_open(const char *path);
void gguf_close(gguf_file *f);

const gguf_kv *gguf_find(const gguf_file *f, const char *key);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Typed getters: false when the key is absent. A present key of the wrong type
 * (or an integer out of range) also returns false and sets the error. Integer
 * getters accept any integer type whose value fits. */
bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out);
bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out);
bool gguf_get_f32(const gguf_file *f, const char *key, float *out);
bool gguf_get_bool(const gguf_file *f, const char *key, bool *out);
bool gguf_get_str(const gguf_file *f, const char *key, gguf_string *out);
/* Element i of an array (caller checks kv->type, kv->elem_type and i < kv->n). */
gguf_string gguf_arr_str(const gguf_kv *kv, uint64_t i);
double gguf_arr_num(const gguf_kv *kv, uint64_t i);   /* numeric or bool element */

const char *gguf_value_type_name(uint32_t type);

/* ---- writer ------------------------------------------------------------------- */

/* Builds a GGUF v3 file: metadata and tensors in the order added; each
 * tensor's data is aligned to `alignment` (default 32). */
typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void);
void gguf_writer_free(gguf_writer *w);
void gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment);
/* Copies one metadata entry (any type) from a file opened with gguf_open. */
void gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv);
void gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v);
void gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v);
void gguf_writer_add_f32(gguf_writer *w, const char *key, float v);
void gguf_writer_add_bool(gguf_writer *w, const char *key, bool v);
void gguf_writer_add_str(gguf_writer *w, const char *key, const char *v);
void gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n);
void gguf_writer_add_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n);
void gguf_writer_add_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n);
/* data (ggml_row_size-many bytes) must stay valid until gguf_writer_write. */
void gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, int n_dims,
                            const int64_t *ne, const void *data);
/* Writes the whole file. Returns 0 or -1 (error set, naming path). */
int gguf_writer_write(gguf_writer *w, const char *path);

/* Streaming, for files larger than memory: add every tensor first (data may be
 * NULL), then gguf_writer_begin writes the header and tensor table,
 * gguf_writer_put_tensor gives each tensor's bytes in the order added (NULL
 * writes zeros; the buffer may be reused after the call), and gguf_writer_end
 * closes the file. Each returns 0 or -1; after a failure the stream is closed
 * and the partial file removed, as is an unfinished stream at gguf_writer_free. */
int gguf_writer_begin(gguf_writer *w, const char *path);
int gguf_writer_put_tensor(gguf_writer *w, const void *data);
int gguf_writer_end(gguf_writer *w);
/* Bytes of the data of the i-th tensor added (0 when out of range). */
uint64_t gguf_writer_tensor_nbytes(const gguf_writer *w, size_t i);

#endif
