/* GGUF v3 writer. Metadata values are serialized when added; tensor data is
 * only referenced and streamed out by gguf_writer_write. The add functions
 * return nothing, so the first problem is kept and reported by the write. */
#include "gguf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "quant/quant.h"

#define ALIGNMENT_KEY "general.alignment"

typedef struct {
    char *key;
    uint32_t type;
    uint8_t *payload; /* the encoded value, everything after the type field */
    size_t size;
} writer_kv;

typedef struct {
    char *name;
    uint32_t type;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t nbytes;
    const void *data;
} writer_tensor;

struct gguf_writer {
    writer_kv *kv;
    size_t n_kv, cap_kv;
    writer_tensor *tensors;
    size_t n_tensors, cap_tensors;
    uint32_t alignment;
    bool has_alignment_kv; /* general.alignment was added: written where it was added */
    char error[512];       /* the first failure; empty when none */
    /* the open stream (gguf_writer_begin .. gguf_writer_end) */
    FILE *fp;
    char *path;
    size_t next_tensor;    /* index of the tensor whose data comes next */
    bool out_failed;
    int out_errno;
};

static void record_error(gguf_writer *w, const char *fmt, ...) KESTREL_PRINTF(2, 3);
static void record_error(gguf_writer *w, const char *fmt, ...)
{
    if (w->error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->error, sizeof w->error, fmt, ap);
    va_end(ap);
}

/* A growable byte buffer for encoding values. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
    bool oom;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (b->oom)
        return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = true;
                return;
            }
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_u32(bytes *b, uint32_t v)
{
    uint8_t e[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    put(b, e, 4);
}

static void put_u64(bytes *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}

static void put_str(bytes *b, const char *s, uint64_t len)
{
    put_u64(b, len);
    put(b, s, (size_t)len);
}

gguf_writer *gguf_writer_new(void)
{
    gguf_writer *w = calloc(1, sizeof *w);
    if (w)
        w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

static int finish_stream(gguf_writer *w, int err);

void gguf_writer_free(gguf_writer *w)
{
    if (!w)
        return;
    if (w->fp)
        finish_stream(w, -1); /* an unfinished stream: remove the partial file */
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].payload);
    }
    free(w->kv);
    for (size_t i = 0; i < w->n_tensors; i++)
        free(w->tensors[i].name);
    free(w->tensors);
    free(w);
}

static bool valid_alignment(uint64_t a)
{
    return a != 0 && a <= UINT32_MAX && (a & (a - 1)) == 0;
}

void gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment)
{
    if (!valid_alignment(alignment)) {
        record_error(w, "alignment %" PRIu32 " is not a nonzero power of two", alignment);
        return;
    }
    w->alignment = alignment;
}

static bool grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 32;
    if (ncap > SIZE_MAX / elem)
        return false;
    void *a = realloc(*arr, ncap * elem);
    if (!a)
        return false;
    *arr = a;
    *cap = ncap;
    return true;
}

/* Takes ownership of the encoded value; a key added again replaces its value
 * in place, so a copied file's metadata can be overridden. */
static void add_encoded(gguf_writer *w, const char *key, uint32_t type, bytes *value)
{
    if (value->oom || !key || !*key) {
        record_error(w, value->oom ? "out of memory" : "empty metadata key");
        free(value->p);
        return;
    }
    if (strcmp(key, ALIGNMENT_KEY) == 0) {
        /* The alignment lives in the writer; the entry is re-encoded at write time. */
        uint32_t a = value->n == 4 ? (uint32_t)value->p[0] | (uint32_t)value->p[1] << 8 |
                                     (uint32_t)value->p[2] << 16 | (uint32_t)value->p[3] << 24
                                   : 0;
        if (type != GGUF_UINT32)
            record_error(w, ALIGNMENT_KEY " must be uint32, not %s", gguf_value_type_name(type));
        else
            gguf_writer_set_alignment(w, a);
        w->has_alignment_kv = true;
    }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) {
            free(w->kv[i].payload);
            w->kv[i].type = type;
            w->kv[i].payload = value->p;
            w->kv[i].size = value->n;
            return;
        }
    }
    char *copy = strdup(key);
    if (!copy || !grow((void **)&w->kv, &w->cap_kv, w->n_kv, sizeof *w->kv)) {
        record_error(w, "out of memory");
        free(copy);
        free(value->p);
        return;
    }
    w->kv[w->n_kv++] = (writer_kv){ copy, type, value->p, value->n };
}

void gguf_writer_copy_kv(gguf_writer *w, const gguf_kv *kv)
{
    bytes b = { 0 };
    if (kv->type == GGUF_STRING) {
        put_str(&b, (const char *)kv->data, kv->size);
    } else if (kv->type == GGUF_ARRAY) {
        put_u32(&b, kv->elem_type);
        put_u64(&b, kv->n);
        put(&b, kv->data, (size_t)kv->size);
    } else {
        put(&b, kv->data, (size_t)kv->size);
    }
    add_encoded(w, kv->key, kv->type, &b);
}

void gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v)
{
    bytes b = { 0 };
    put_u32(&b, v);
    add_encoded(w, key, GGUF_UINT32, &b);
}

void gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v)
{
    bytes b = { 0 };
    put_u32(&b, (uint32_t)v);
    add_encoded(w, key, GGUF_INT32, &b);
}

void gguf_writer_add_f32(gguf_writer *w, const char *key, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bytes b = { 0 };
    put_u32(&b, bits);
    add_encoded(w, key, GGUF_FLOAT32, &b);
}

void gguf_writer_add_bool(gguf_writer *w, const char *key, bool v)
{
    uint8_t byte = v ? 1 : 0;
    bytes b = { 0 };
    put(&b, &byte, 1);
    add_encoded(w, key, GGUF_BOOL, &b);
}

void gguf_writer_add_str(gguf_writer *w, const char *key, const char *v)
{
    bytes b = { 0 };
    put_str(&b, v, strlen(v));
    add_encoded(w, key, GGUF_STRING, &b);
}

void gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
    bytes b = { 0 };
    put_u32(&b, GGUF_STRING);
    put_u64(&b, n);
    for (uint64_t i = 0; i < n; i++)
        put_str(&b, v[i], strlen(v[i]));
    add_encoded(w, key, GGUF_ARRAY, &b);
}

void gguf_writer_add_arr_f32(gguf_writer *w, const char *key, const float *v, uint64_t n)
{
    bytes b = { 0 };
    put_u32(&b, GGUF_FLOAT32);
    put_u64(&b, n);
    for (uint64_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        put_u32(&b, bits);
    }
    add_encoded(w, key, GGUF_ARRAY, &b);
}

void gguf_writer_add_arr_i32(gguf_writer *w, const char *key, const int32_t *v, uint64_t n)
{
    bytes b = { 0 };
    put_u32(&b, GGUF_INT32);
    put_u64(&b, n);
    for (uint64_t i = 0; i < n; i++)
        put_u32(&b, (uint32_t)v[i]);
    add_encoded(w, key, GGUF_ARRAY, &b);
}

void gguf_writer_add_tensor(gguf_writer *w, const char *name, uint32_t type, int n_dims,
                            const int64_t *ne, const void *data)
{
    if (!name || !*name) {
        record_error(w, "empty tensor name");
        return;
    }
    const kt_traits *tr = type < KT_TYPE_COUNT ? kt_ref_traits((int)type) : NULL;
    if (!tr) {
        record_error(w, "tensor '%s': unknown type id %" PRIu32, name, type);
        return;
    }
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS) {
        record_error(w, "tensor '%s': n_dims %d (must be 1 to %d)", name, n_dims, GGUF_MAX_DIMS);
        return;
    }
    writer_tensor t = { .type = type, .n_dims = n_dims, .data = data };
    uint64_t rows = 1;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        t.ne[d] = d < n_dims ? ne[d] : 1;
        if (t.ne[d] < 0) {
            record_error(w, "tensor '%s': dimension %d is negative", name, d);
            return;
        }
        if (d > 0) {
            if (t.ne[d] && rows > UINT64_MAX / (uint64_t)t.ne[d]) {
                record_error(w, "tensor '%s': too many rows", name);
                return;
            }
            rows *= (uint64_t)t.ne[d];
        }
    }
    if (t.ne[0] % tr->block_size) {
        record_error(w, "tensor '%s': row length %" PRId64 " is not a multiple of the %s block size %d",
                     name, t.ne[0], tr->name, tr->block_size);
        return;
    }
    uint64_t row_bytes = (uint64_t)(t.ne[0] / tr->block_size) * tr->type_size;
    if (row_bytes && rows > UINT64_MAX / 2 / row_bytes) {
        record_error(w, "tensor '%s': too large", name);
        return;
    }
    t.nbytes = row_bytes * rows;
    for (size_t i = 0; i < w->n_tensors; i++) {
        if (strcmp(w->tensors[i].name, name) == 0) {
            record_error(w, "duplicate tensor name '%s'", name);
            return;
        }
    }
    t.name = strdup(name);
    if (!t.name || !grow((void **)&w->tensors, &w->cap_tensors, w->n_tensors, sizeof *w->tensors)) {
        free(t.name);
        record_error(w, "out of memory");
        return;
    }
    w->tensors[w->n_tensors++] = t;
}

/* ---- output ------------------------------------------------------------------- */

typedef struct {
    FILE *fp;
    bool failed;
} sink;

static void emit(sink *s, const void *p, size_t n)
{
    if (!s->failed && n && fwrite(p, 1, n, s->fp) != n)
        s->failed = true;
}

static void emit_u32(sink *s, uint32_t v)
{
    uint8_t e[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
    emit(s, e, 4);
}

static void emit_u64(sink *s, uint64_t v)
{
    emit_u32(s, (uint32_t)v);
    emit_u32(s, (uint32_t)(v >> 32));
}

static void emit_str(sink *s, const char *str)
{
    size_t len = strlen(str);
    emit_u64(s, len);
    emit(s, str, len);
}

static void emit_zeros(sink *s, uint64_t n)
{
    static const uint8_t zeros[4096];
    while (n) {
        size_t chunk = n < sizeof zeros ? (size_t)n : sizeof zeros;
        emit(s, zeros, chunk);
        n -= chunk;
    }
}

static uint64_t pad_to(uint64_t n, uint64_t alignment)
{
    return (alignment - n % alignment) % alignment;
}

static void emit_alignment_kv(sink *s, uint32_t alignment)
{
    emit_str(s, ALIGNMENT_KEY);
    emit_u32(s, GGUF_UINT32);
    emit_u32(s, alignment);
}

/* Closes the stream; on failure removes what was written (never a device such
 * as /dev/full) and reports the error. Returns 0 or -1. */
static int finish_stream(gguf_writer *w, int err)
{
    FILE *fp = w->fp;
    char *path = w->path;
    w->fp = NULL;
    w->path = NULL;
    if (!fp) {
        free(path);
        return -1;
    }
    if (w->out_failed && !err)
        err = w->out_errno ? w->out_errno : EIO;
    if (fclose(fp) != 0 && !err)
        err = errno ? errno : EIO;
    if (err) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            unlink(path);
        if (err > 0)
            kestrel_fail(path, "write failed: %s", strerror(err));
        free(path);
        return -1;
    }
    free(path);
    return 0;
}

int gguf_writer_begin(gguf_writer *w, const char *path)
{
    if (w->fp)
        return kestrel_fail(path, "a stream to %s is already open", w->path);
    if (w->error[0])
        return kestrel_fail(path, "%s", w->error);
    bool write_alignment = w->alignment != GGUF_DEFAULT_ALIGNMENT;
    uint64_t n_kv = w->n_kv - (w->has_alignment_kv ? 1 : 0) + (write_alignment ? 1 : 0);

    w->path = strdup(path);
    if (!w->path)
        return kestrel_fail(path, "out of memory");
    FILE *fp = fopen(path, "wb");
    if (!fp) {
        int e = errno;
        free(w->path);
        w->path = NULL;
        return kestrel_fail(path, "cannot create: %s", strerror(e));
    }
    setvbuf(fp, NULL, _IOFBF, 1 << 20);
    w->fp = fp;
    w->out_failed = false;
    w->out_errno = 0;
    w->next_tensor = 0;
    sink s = { fp, false };
    uint64_t pos = 0;

    emit(&s, "GGUF", 4);
    emit_u32(&s, 3);
    emit_u64(&s, w->n_tensors);
    emit_u64(&s, n_kv);
    pos += 24;
    for (size_t i = 0; i < w->n_kv; i++) {
        const writer_kv *kv = &w->kv[i];
        if (strcmp(kv->key, ALIGNMENT_KEY) == 0) {
            if (write_alignment) {
                emit_alignment_kv(&s, w->alignment);
                pos += 8 + strlen(ALIGNMENT_KEY) + 8;
            }
            continue;
        }
        emit_str(&s, kv->key);
        emit_u32(&s, kv->type);
        emit(&s, kv->payload, kv->size);
        pos += 8 + strlen(kv->key) + 4 + kv->size;
    }
    if (write_alignment && !w->has_alignment_kv) {
        emit_alignment_kv(&s, w->alignment);
        pos += 8 + strlen(ALIGNMENT_KEY) + 8;
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        emit_str(&s, t->name);
        emit_u32(&s, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++)
            emit_u64(&s, (uint64_t)t->ne[d]);
        emit_u32(&s, t->type);
        emit_u64(&s, offset);
        pos += 8 + strlen(t->name) + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
        offset += t->nbytes + pad_to(t->nbytes, w->alignment);
    }
    emit_zeros(&s, pad_to(pos, w->alignment));
    if (s.failed) {
        w->out_failed = true;
        w->out_errno = errno;
        return finish_stream(w, 0);
    }
    return 0;
}

uint64_t gguf_writer_tensor_nbytes(const gguf_writer *w, size_t i)
{
    return i < w->n_tensors ? w->tensors[i].nbytes : 0;
}

int gguf_writer_put_tensor(gguf_writer *w, const void *data)
{
    if (!w->fp)
        return kestrel_fail(NULL, "gguf writer: no stream is open");
    if (w->next_tensor >= w->n_tensors) {
        kestrel_fail(w->path, "more tensor data than the %zu tensors added", w->n_tensors);
        return finish_stream(w, -1);
    }
    const writer_tensor *t = &w->tensors[w->next_tensor++];
    sink s = { w->fp, false };
    if (data)
        emit(&s, data, (size_t)t->nbytes);
    else
        emit_zeros(&s, t->nbytes);
    emit_zeros(&s, pad_to(t->nbytes, w->alignment));
    if (s.failed) {
        w->out_failed = true;
        w->out_errno = errno;
        return finish_stream(w, 0);
    }
    return 0;
}

int gguf_writer_end(gguf_writer *w)
{
    if (!w->fp)
        return kestrel_fail(NULL, "gguf writer: no stream is open");
    if (w->next_tensor != w->n_tensors) {
        kestrel_fail(w->path, "only %zu of %zu tensors were written", w->next_tensor, w->n_tensors);
        return finish_stream(w, -1);
    }
    return finish_stream(w, 0);
}

int gguf_writer_write(gguf_writer *w, const char *path)
{
    if (gguf_writer_begin(w, path))
        return -1;
    for (size_t i = 0; i < w->n_tensors; i++)
        if (gguf_writer_put_tensor(w, w->tensors[i].data))
            return -1;
    return gguf_writer_end(w);
}
