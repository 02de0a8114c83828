/* GGUF reader: maps the file read-only and validates every count, length,
 * offset and size against the file size (and for overflow) before use. */
#include "gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "quant/quant.h"

/* Arrays of arrays are legal GGUF but never used deeply; the limit keeps a
 * hostile file from recursing the stack away. */
#define GGUF_MAX_NESTING 8

/* Smallest possible encodings, used to bound counts by the bytes left. */
#define MIN_KV_BYTES 13      /* key length + type + a 1-byte value */
#define MIN_TENSOR_BYTES 32  /* name length + n_dims + one dim + type + offset */
#define MIN_ARRAY_BYTES 12   /* element type + count */

typedef struct {
    const char *path;
    const uint8_t *map;
    uint64_t size;
    uint64_t pos;
    char ctx[128]; /* what is being parsed, prefixed to errors: "key 'x'" */
} parser;

static uint32_t load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)load_le32(p) | (uint64_t)load_le32(p + 4) << 32;
}

/* At most 64 bytes of untrusted text, nonprintable bytes as '?', so an error
 * message naming a key or tensor stays on one line. */
static void printable(char *out, size_t cap, const char *s, uint64_t len)
{
    size_t n = 0;
    for (uint64_t i = 0; i < len && n + 4 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (n >= 64) {
            memcpy(out + n, "...", 3);
            n += 3;
            break;
        }
        out[n++] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    out[n] = '\0';
}

static int fail(const parser *p, const char *fmt, ...) KESTREL_PRINTF(2, 3);
static int fail(const parser *p, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (p->ctx[0])
        return kestrel_fail(p->path, "%s: %s", p->ctx, msg);
    return kestrel_fail(p->path, "%s", msg);
}

static uint64_t remaining(const parser *p)
{
    return p->size - p->pos;
}

static int need(parser *p, uint64_t n, const char *what)
{
    if (n > remaining(p))
        return fail(p, "truncated: %s at offset %" PRIu64 " needs %" PRIu64
                    " bytes, file is %" PRIu64 " bytes", what, p->pos, n, p->size);
    return 0;
}

static int read_u32(parser *p, uint32_t *v, const char *what)
{
    if (need(p, 4, what))
        return -1;
    *v = load_le32(p->map + p->pos);
    p->pos += 4;
    return 0;
}

static int read_u64(parser *p, uint64_t *v, const char *what)
{
    if (need(p, 8, what))
        return -1;
    *v = load_le64(p->map + p->pos);
    p->pos += 8;
    return 0;
}

static int read_str(parser *p, gguf_string *s, const char *what)
{
    uint64_t len;
    if (read_u64(p, &len, what))
        return -1;
    if (len > remaining(p))
        return fail(p, "%s: length %" PRIu64 " at offset %" PRIu64 " runs past end of file (%"
                    PRIu64 " bytes)", what, len, p->pos - 8, p->size);
    s->ptr = (const char *)p->map + p->pos;
    s->len = len;
    p->pos += len;
    return 0;
}

/* Key and tensor names become C strings, so they must be nonempty and NUL-free. */
static char *name_copy(parser *p, gguf_string s, const char *what)
{
    if (s.len == 0) {
        fail(p, "empty %s", what);
        return NULL;
    }
    if (memchr(s.ptr, '\0', s.len)) {
        char shown[80];
        printable(shown, sizeof shown, s.ptr, s.len);
        fail(p, "%s '%s' contains a NUL byte", what, shown);
        return NULL;
    }
    char *c = malloc(s.len + 1);
    if (!c) {
        fail(p, "out of memory");
        return NULL;
    }
    memcpy(c, s.ptr, s.len);
    c[s.len] = '\0';
    return c;
}

static size_t scalar_size(uint32_t type)
{
    switch (type) {
    case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
    case GGUF_UINT16: case GGUF_INT16: return 2;
    case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
    case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

const char *gguf_value_type_name(uint32_t type)
{
    static const char *const names[GGUF_TYPE_COUNT] = {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
        "bool", "string", "array", "uint64", "int64", "float64",
    };
    return type < GGUF_TYPE_COUNT ? names[type] : "?";
}

static int skip_value(parser *p, uint32_t type, int depth);

/* Validates the elements of an array whose header (element type, count) was read. */
static int skip_elements(parser *p, uint32_t elem_type, uint64_t n, int depth)
{
    size_t esz = scalar_size(elem_type);
    if (esz) {
        if (n > remaining(p) / esz)
            return fail(p, "array of %" PRIu64 " %s elements at offset %" PRIu64
                        " runs past end of file (%" PRIu64 " bytes)", n,
                        gguf_value_type_name(elem_type), p->pos, p->size);
        p->pos += n * esz;
        return 0;
    }
    uint64_t min = elem_type == GGUF_STRING ? 8 : MIN_ARRAY_BYTES;
    if (n > remaining(p) / min)
        return fail(p, "array of %" PRIu64 " %s elements at offset %" PRIu64
                    " cannot fit in the file (%" PRIu64 " bytes)", n,
                    gguf_value_type_name(elem_type), p->pos, p->size);
    for (uint64_t i = 0; i < n; i++)
        if (skip_value(p, elem_type, depth))
            return -1;
    return 0;
}

static int read_array_header(parser *p, uint32_t *elem_type, uint64_t *n, int depth)
{
    if (depth > GGUF_MAX_NESTING)
        return fail(p, "arrays nested more than %d deep", GGUF_MAX_NESTING);
    if (read_u32(p, elem_type, "array element type") || read_u64(p, n, "array length"))
        return -1;
    if (*elem_type >= GGUF_TYPE_COUNT)
        return fail(p, "unknown array element type %" PRIu32, *elem_type);
    return 0;
}

/* Validates one value of the given (already checked) type and steps over it. */
static int skip_value(parser *p, uint32_t type, int depth)
{
    if (type == GGUF_STRING) {
        gguf_string s;
        return read_str(p, &s, "string");
    }
    if (type == GGUF_ARRAY) {
        uint32_t elem_type;
        uint64_t n;
        if (read_array_header(p, &elem_type, &n, depth + 1))
            return -1;
        return skip_elements(p, elem_type, n, depth + 1);
    }
    if (need(p, scalar_size(type), gguf_value_type_name(type)))
        return -1;
    p->pos += scalar_size(type);
    return 0;
}

static int parse_value(parser *p, gguf_kv *kv)
{
    if (kv->type == GGUF_STRING) {
        gguf_string s;
        if (read_str(p, &s, "string value"))
            return -1;
        kv->data = (const uint8_t *)s.ptr;
        kv->size = s.len;
        return 0;
    }
    if (kv->type != GGUF_ARRAY) {
        size_t sz = scalar_size(kv->type);
        if (need(p, sz, "value"))
            return -1;
        kv->data = p->map + p->pos;
        kv->size = sz;
        p->pos += sz;
        return 0;
    }
    if (read_array_header(p, &kv->elem_type, &kv->n, 1))
        return -1;
    uint64_t start = p->pos;
    if (skip_elements(p, kv->elem_type, kv->n, 1))
        return -1;
    kv->data = p->map + start;
    kv->size = p->pos - start;
    if (scalar_size(kv->elem_type) || kv->n == 0)
        return 0;
    /* Variable-size elements: record where each starts so lookups are O(1).
     * They were validated above, so this second walk cannot fail. */
    uint64_t *offsets = malloc(kv->n * sizeof *offsets);
    if (!offsets)
        return fail(p, "out of memory for %" PRIu64 " array offsets", kv->n);
    uint64_t end = p->pos;
    p->pos = start;
    for (uint64_t i = 0; i < kv->n; i++) {
        offsets[i] = p->pos - start;
        skip_value(p, kv->elem_type, 1);
    }
    p->pos = end;
    kv->str_offsets = offsets;
    return 0;
}

/* Grows *arr (of elements of size elem) to hold at least n+1; amortized doubling
 * so a hostile count allocates only what the file actually contains. */
static int reserve(void **arr, uint64_t *cap, uint64_t n, size_t elem)
{
    if (n < *cap)
        return 0;
    uint64_t ncap = *cap ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / elem)
        return -1;
    void *a = realloc(*arr, (size_t)ncap * elem);
    if (!a)
        return -1;
    memset((char *)a + *cap * elem, 0, (size_t)(ncap - *cap) * elem);
    *arr = a;
    *cap = ncap;
    return 0;
}

static uint64_t hash_name(const char *s)
{
    uint64_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

/* Index of the first name that repeats an earlier one, -1 if none, -2 out of memory. */
static int64_t find_duplicate(const void *items, size_t stride, size_t name_at, int64_t n)
{
    if (n < 2)
        return -1;
    size_t slots = 16;
    while (slots < (size_t)n * 2)
        slots *= 2;
    int64_t *table = malloc(slots * sizeof *table);
    if (!table)
        return -2;
    for (size_t i = 0; i < slots; i++)
        table[i] = -1;
    int64_t dup = -1;
    for (int64_t i = 0; i < n && dup < 0; i++) {
        const char *name = *(char *const *)((const char *)items + (size_t)i * stride + name_at);
        size_t h = (size_t)hash_name(name) & (slots - 1);
        for (;; h = (h + 1) & (slots - 1)) {
            if (table[h] < 0) {
                table[h] = i;
                break;
            }
            const char *other =
                *(char *const *)((const char *)items + (size_t)table[h] * stride + name_at);
            if (strcmp(other, name) == 0) {
                dup = i;
                break;
            }
        }
    }
    free(table);
    return dup;
}

static int parse_kvs(parser *p, gguf_file *f, uint64_t n_kv)
{
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        snprintf(p->ctx, sizeof p->ctx, "metadata entry %" PRIu64, i);
        if (reserve((void **)&f->kv, &cap, i, sizeof *f->kv))
            return fail(p, "out of memory");
        gguf_kv *kv = &f->kv[i];
        gguf_string key;
        if (read_str(p, &key, "key"))
            return -1;
        if (!(kv->key = name_copy(p, key, "key")))
            return -1;
        f->n_kv = (int64_t)i + 1;
        char shown[80];
        printable(shown, sizeof shown, key.ptr, key.len);
        snprintf(p->ctx, sizeof p->ctx, "key '%s'", shown);
        if (read_u32(p, &kv->type, "value type"))
            return -1;
        if (kv->type >= GGUF_TYPE_COUNT)
            return fail(p, "unknown value type %" PRIu32, kv->type);
        if (parse_value(p, kv))
            return -1;
    }
    p->ctx[0] = '\0';
    int64_t dup = find_duplicate(f->kv, sizeof *f->kv, offsetof(gguf_kv, key), f->n_kv);
    if (dup == -2)
        return fail(p, "out of memory");
    if (dup >= 0) {
        char shown[80];
        printable(shown, sizeof shown, f->kv[dup].key, strlen(f->kv[dup].key));
        return fail(p, "duplicate key '%s'", shown);
    }
    return 0;
}

static int parse_tensor_info(parser *p, gguf_tensor *t)
{
    uint32_t n_dims, type;
    if (read_u32(p, &n_dims, "n_dims"))
        return -1;
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS)
        return fail(p, "n_dims %" PRIu32 " (must be 1 to %d)", n_dims, GGUF_MAX_DIMS);
    t->n_dims = (int)n_dims;
    /* The product of the nonzero dims must fit too: shape arithmetic elsewhere
     * (rows = ne[1] * ne[2] ...) must never overflow, even for an empty tensor. */
    int64_t product = 1;
    bool empty = false;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) {
        uint64_t ne = 1;
        if (d < t->n_dims && read_u64(p, &ne, "dimension"))
            return -1;
        if (ne > (uint64_t)INT64_MAX)
            return fail(p, "dimension %d is negative (%" PRId64 ")", d, (int64_t)ne);
        t->ne[d] = (int64_t)ne;
        if (ne == 0) {
            empty = true;
            continue;
        }
        if (product > INT64_MAX / (int64_t)ne)
            return fail(p, "shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                        "] has more than 2^63 elements", t->ne[0], d >= 1 ? t->ne[1] : 1,
                        d >= 2 ? t->ne[2] : 1, d >= 3 ? t->ne[3] : 1);
        product *= (int64_t)ne;
    }
    int64_t n_elements = empty ? 0 : product;
    if (read_u32(p, &type, "tensor type"))
        return -1;
    const kt_traits *tr = type < KT_TYPE_COUNT ? kt_ref_traits((int)type) : NULL;
    if (!tr)
        return fail(p, "unknown tensor type id %" PRIu32, type);
    t->type = type;
    if (t->ne[0] % tr->block_size)
        return fail(p, "row length %" PRId64 " is not a multiple of the %s block size %d",
                    t->ne[0], tr->name, tr->block_size);
    uint64_t blocks = (uint64_t)(n_elements / tr->block_size);
    if (blocks > UINT64_MAX / tr->type_size)
        return fail(p, "byte size overflows 64 bits");
    t->nbytes = blocks * tr->type_size;
    return read_u64(p, &t->offset, "tensor data offset");
}

static int parse_tensors(parser *p, gguf_file *f, uint64_t n_tensors)
{
    uint64_t cap = 0;
    for (uint64_t i = 0; i < n_tensors; i++) {
        snprintf(p->ctx, sizeof p->ctx, "tensor %" PRIu64, i);
        if (reserve((void **)&f->tensors, &cap, i, sizeof *f->tensors))
            return fail(p, "out of memory");
        gguf_tensor *t = &f->tensors[i];
        gguf_string name;
        if (read_str(p, &name, "tensor name"))
            return -1;
        if (!(t->name = name_copy(p, name, "tensor name")))
            return -1;
        f->n_tensors = (int64_t)i + 1;
        char shown[80];
        printable(shown, sizeof shown, name.ptr, name.len);
        snprintf(p->ctx, sizeof p->ctx, "tensor '%s'", shown);
        if (parse_tensor_info(p, t))
            return -1;
    }
    p->ctx[0] = '\0';
    int64_t dup = find_duplicate(f->tensors, sizeof *f->tensors, offsetof(gguf_tensor, name),
                                 f->n_tensors);
    if (dup == -2)
        return fail(p, "out of memory");
    if (dup >= 0) {
        char shown[80];
        printable(shown, sizeof shown, f->tensors[dup].name, strlen(f->tensors[dup].name));
        return fail(p, "duplicate tensor name '%s'", shown);
    }
    return 0;
}

static int read_alignment(parser *p, gguf_file *f)
{
    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *kv = gguf_find(f, "general.alignment");
    if (!kv)
        return 0;
    if (kv->type != GGUF_UINT32)
        return fail(p, "general.alignment has type %s, must be uint32",
                    gguf_value_type_name(kv->type));
    uint32_t a = load_le32(kv->data);
    if (a == 0 || (a & (a - 1)))
        return fail(p, "general.alignment %" PRIu32 " is not a nonzero power of two", a);
    f->alignment = a;
    return 0;
}

static int place_tensors(parser *p, gguf_file *f)
{
    /* header_end <= size < 2^63 and alignment <= 2^31: no overflow. */
    uint64_t header_end = p->pos;
    f->data_offset = (header_end + f->alignment - 1) / f->alignment * f->alignment;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        gguf_tensor *t = &f->tensors[i];
        char shown[80];
        printable(shown, sizeof shown, t->name, strlen(t->name));
        snprintf(p->ctx, sizeof p->ctx, "tensor '%s'", shown);
        if (t->offset % f->alignment)
            return fail(p, "data offset %" PRIu64 " is not a multiple of the alignment %" PRIu64,
                        t->offset, f->alignment);
        if (f->data_offset > f->size || t->offset > f->size - f->data_offset ||
            t->nbytes > f->size - f->data_offset - t->offset)
            return fail(p, "data [offset %" PRIu64 ", %" PRIu64 " bytes] past end of file (%"
                        PRIu64 " bytes, data section at %" PRIu64 ")", t->offset, t->nbytes,
                        f->size, f->data_offset);
        t->data = f->map + f->data_offset + t->offset;
    }
    p->ctx[0] = '\0';
    return 0;
}

static int parse(parser *p, gguf_file *f)
{
    if (p->size < 4 || memcmp(p->map, "GGUF", 4) != 0)
        return fail(p, "not a GGUF file (bad magic)");
    p->pos = 4;
    if (read_u32(p, &f->version, "version"))
        return -1;
    uint32_t swapped = __builtin_bswap32(f->version);
    if ((f->version & 0xffff) == 0 && swapped >= 1 && swapped <= 3)
        return fail(p, "big-endian GGUF v%" PRIu32 " is not supported", swapped);
    if (f->version == 1)
        return fail(p, "GGUF v1 is not supported (only v2 and v3)");
    if (f->version != 2 && f->version != 3)
        return fail(p, "unsupported GGUF version %" PRIu32 " (only v2 and v3)", f->version);
    uint64_t n_tensors, n_kv;
    if (read_u64(p, &n_tensors, "tensor count") || read_u64(p, &n_kv, "metadata count"))
        return -1;
    uint64_t rem = remaining(p);
    if (n_tensors > rem / MIN_TENSOR_BYTES)
        return fail(p, "tensor count %" PRIu64 " cannot fit in the file (%" PRIu64 " bytes)",
                    n_tensors, p->size);
    if (n_kv > (rem - n_tensors * MIN_TENSOR_BYTES) / MIN_KV_BYTES)
        return fail(p, "metadata count %" PRIu64 " cannot fit in the file (%" PRIu64 " bytes)",
                    n_kv, p->size);
    if (parse_kvs(p, f, n_kv) || read_alignment(p, f) || parse_tensors(p, f, n_tensors))
        return -1;
    return place_tensors(p, f);
}

gguf_file *gguf_open(const char *path)
{
    gguf_file *f = calloc(1, sizeof *f);
    char *path_copy = strdup(path);
    if (!f || !path_copy) {
        free(f);
        free(path_copy);
        kestrel_fail(path, "out of memory");
        return NULL;
    }
    f->path = path_copy;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        kestrel_fail(path, "cannot open: %s", strerror(errno));
        gguf_close(f);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        kestrel_fail(path, "not a regular file");
        close(fd);
        gguf_close(f);
        return NULL;
    }
    if (st.st_size == 0) { /* cannot be mapped; anything else is parsed and checked */
        kestrel_fail(path, "empty file, not a GGUF file");
        close(fd);
        gguf_close(f);
        return NULL;
    }
    void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) {
        kestrel_fail(path, "cannot map: %s", strerror(map_errno));
        gguf_close(f);
        return NULL;
    }
    f->map = map;
    f->size = (uint64_t)st.st_size;
    parser p = { .path = path, .map = f->map, .size = f->size };
    if (parse(&p, f) != 0) {
        gguf_close(f);
        return NULL;
    }
    return f;
}

void gguf_close(gguf_file *f)
{
    if (!f)
        return;
    for (int64_t i = 0; i < f->n_kv; i++) {
        free(f->kv[i].key);
        free((void *)f->kv[i].str_offsets);
    }
    free(f->kv);
    for (int64_t i = 0; i < f->n_tensors; i++)
        free(f->tensors[i].name);
    free(f->tensors);
    if (f->map)
        munmap((void *)f->map, (size_t)f->size);
    free(f->path);
    free(f);
}

const gguf_kv *gguf_find(const gguf_file *f, const char *key)
{
    for (int64_t i = 0; i < f->n_kv; i++)
        if (strcmp(f->kv[i].key, key) == 0)
            return &f->kv[i];
    return NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name)
{
    for (int64_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

/* ---- typed getters ------------------------------------------------------------ */

/* A scalar integer value as a sign and magnitude; false if kv is no integer. */
static bool integer_value(uint32_t type, const uint8_t *d, bool *negative, uint64_t *mag)
{
    int64_t s;
    *negative = false;
    switch (type) {
    case GGUF_UINT8: *mag = d[0]; return true;
    case GGUF_UINT16: *mag = (uint64_t)d[0] | (uint64_t)d[1] << 8; return true;
    case GGUF_UINT32: *mag = load_le32(d); return true;
    case GGUF_UINT64: *mag = load_le64(d); return true;
    case GGUF_INT8: s = (int8_t)d[0]; break;
    case GGUF_INT16: s = (int16_t)(uint16_t)(d[0] | d[1] << 8); break;
    case GGUF_INT32: s = (int32_t)load_le32(d); break;
    case GGUF_INT64: s = (int64_t)load_le64(d); break;
    default: return false;
    }
    *negative = s < 0;
    *mag = s < 0 ? (uint64_t)0 - (uint64_t)s : (uint64_t)s;
    return true;
}

static const gguf_kv *find_typed(const gguf_file *f, const char *key, bool *present)
{
    const gguf_kv *kv = gguf_find(f, key);
    *present = kv != NULL;
    return kv;
}

static bool wrong_type(const gguf_file *f, const gguf_kv *kv, const char *expected)
{
    kestrel_fail(f->path, "key '%s' has type %s, expected %s", kv->key,
                 gguf_value_type_name(kv->type), expected);
    return false;
}

bool gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out)
{
    bool present, neg;
    uint64_t mag;
    const gguf_kv *kv = find_typed(f, key, &present);
    if (!present)
        return false;
    if (!integer_value(kv->type, kv->data, &neg, &mag))
        return wrong_type(f, kv, "an integer");
    if (neg || mag > UINT32_MAX) {
        kestrel_fail(f->path, "key '%s': value %s%" PRIu64 " out of range for uint32", key,
                     neg ? "-" : "", mag);
        return false;
    }
    *out = (uint32_t)mag;
    return true;
}

bool gguf_get_i64(const gguf_file *f, const char *key, int64_t *out)
{
    bool present, neg;
    uint64_t mag;
    const gguf_kv *kv = find_typed(f, key, &present);
    if (!present)
        return false;
    if (!integer_value(kv->type, kv->data, &neg, &mag))
        return wrong_type(f, kv, "an integer");
    if (!neg && mag > (uint64_t)INT64_MAX) {
        kestrel_fail(f->path, "key '%s': value %" PRIu64 " out of range for int64", key, mag);
        return false;
    }
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return true;
}

bool gguf_get_f32(const gguf_file *f, const char *key, float *out)
{
    bool present;
    const gguf_kv *kv = find_typed(f, key, &present);
    if (!present)
        return false;
    if (kv->type == GGUF_FLOAT32) {
        uint32_t bits = load_le32(kv->data);
        memcpy(out, &bits, sizeof *out);
        return true;
    }
    if (kv->type == GGUF_FLOAT64) {
        uint64_t bits = load_le64(kv->data);
        double d;
        memcpy(&d, &bits, sizeof d);
        /* Out-of-range conversion is undefined behaviour: saturate to infinity. */
        *out = d > FLT_MAX ? INFINITY : d < -FLT_MAX ? -INFINITY : (float)d;
        return true;
    }
    return wrong_type(f, kv, "float32");
}

bool gguf_get_bool(const gguf_file *f, const char *key, bool *out)
{
    bool present;
    const gguf_kv *kv = find_typed(f, key, &present);
    if (!present)
        return false;
    if (kv->type != GGUF_BOOL)
        return wrong_type(f, kv, "bool");
    *out = kv->data[0] != 0;
    return true;
}

bool gguf_get_str(const gguf_file *f, const char *key, gguf_string *out)
{
    bool present;
    const gguf_kv *kv = find_typed(f, key, &present);
    if (!present)
        return false;
    if (kv->type != GGUF_STRING)
        return wrong_type(f, kv, "string");
    out->ptr = (const char *)kv->data;
    out->len = kv->size;
    return true;
}

gguf_string gguf_arr_str(const gguf_kv *kv, uint64_t i)
{
    const uint8_t *e = kv->data + kv->str_offsets[i];
    gguf_string s = { (const char *)e + 8, load_le64(e) };
    return s;
}

double gguf_arr_num(const gguf_kv *kv, uint64_t i)
{
    size_t esz = scalar_size(kv->elem_type);
    if (!esz)
        return 0;
    const uint8_t *d = kv->data + i * esz;
    bool neg;
    uint64_t mag;
    if (integer_value(kv->elem_type, d, &neg, &mag))
        return neg ? -(double)mag : (double)mag;
    if (kv->elem_type == GGUF_BOOL)
        return d[0] != 0;
    if (kv->elem_type == GGUF_FLOAT32) {
        uint32_t bits = load_le32(d);
        float v;
        memcpy(&v, &bits, sizeof v);
        return v;
    }
    uint64_t bits = load_le64(d);
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}
