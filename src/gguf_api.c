/* The public kestrel_gguf_* inspection API (kestrel info): thin wrappers over
 * the reader, plus a formatter that renders any metadata value as one line. */
#include "kestrel.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf.h"
#include "quant/quant.h"

struct kestrel_gguf {
    gguf_file *file;
};

kestrel_gguf *kestrel_gguf_open(const char *path)
{
    gguf_file *f = gguf_open(path);
    if (!f)
        return NULL;
    kestrel_gguf *g = malloc(sizeof *g);
    if (!g) {
        gguf_close(f);
        kestrel_fail(path, "out of memory");
        return NULL;
    }
    g->file = f;
    return g;
}

void kestrel_gguf_close(kestrel_gguf *gguf)
{
    if (!gguf)
        return;
    gguf_close(gguf->file);
    free(gguf);
}

uint32_t kestrel_gguf_version(const kestrel_gguf *gguf)
{
    return gguf->file->version;
}

uint64_t kestrel_gguf_alignment(const kestrel_gguf *gguf)
{
    return gguf->file->alignment;
}

uint64_t kestrel_gguf_data_offset(const kestrel_gguf *gguf)
{
    return gguf->file->data_offset;
}

int64_t kestrel_gguf_n_kv(const kestrel_gguf *gguf)
{
    return gguf->file->n_kv;
}

const char *kestrel_gguf_kv_key(const kestrel_gguf *gguf, int64_t i)
{
    if (i < 0 || i >= gguf->file->n_kv)
        return NULL;
    return gguf->file->kv[i].key;
}

const char *kestrel_gguf_kv_type(const kestrel_gguf *gguf, int64_t i)
{
    static const char *const array_names[GGUF_TYPE_COUNT] = {
        "array[uint8]", "array[int8]", "array[uint16]", "array[int16]", "array[uint32]",
        "array[int32]", "array[float32]", "array[bool]", "array[string]", "array[array]",
        "array[uint64]", "array[int64]", "array[float64]",
    };
    if (i < 0 || i >= gguf->file->n_kv)
        return NULL;
    const gguf_kv *kv = &gguf->file->kv[i];
    if (kv->type == GGUF_ARRAY)
        return array_names[kv->elem_type];
    return gguf_value_type_name(kv->type);
}

int64_t kestrel_gguf_n_tensors(const kestrel_gguf *gguf)
{
    return gguf->file->n_tensors;
}

void kestrel_gguf_tensor(const kestrel_gguf *gguf, int64_t i, kestrel_tensor_info *info)
{
    memset(info, 0, sizeof *info);
    if (i < 0 || i >= gguf->file->n_tensors)
        return;
    const gguf_tensor *t = &gguf->file->tensors[i];
    info->name = t->name;
    info->type_name = kt_type_name((int)t->type);
    info->n_dims = t->n_dims;
    for (int d = 0; d < 4; d++)
        info->ne[d] = t->ne[d];
    info->offset = t->offset;
    info->nbytes = t->nbytes;
}

/* ---- value formatting --------------------------------------------------------- */

/* Output that silently truncates at cap - 1 bytes and stays NUL-terminated. */
typedef struct {
    char *buf;
    size_t cap, len;
} text;

static bool full(const text *o)
{
    return o->len + 1 >= o->cap;
}

static void put(text *o, const char *s, size_t n)
{
    if (full(o))
        return;
    size_t room = o->cap - 1 - o->len;
    if (n > room)
        n = room;
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void putf(text *o, const char *fmt, ...) KESTREL_PRINTF(2, 3);
static void putf(text *o, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static uint64_t le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void put_quoted(text *o, const uint8_t *s, uint64_t len)
{
    put(o, "\"", 1);
    for (uint64_t i = 0; i < len && !full(o); i++) {
        unsigned char c = s[i];
        switch (c) {
        case '"': put(o, "\\\"", 2); break;
        case '\\': put(o, "\\\\", 2); break;
        case '\n': put(o, "\\n", 2); break;
        case '\r': put(o, "\\r", 2); break;
        case '\t': put(o, "\\t", 2); break;
        default:
            if (c < 0x20 || c == 0x7f)
                putf(o, "\\x%02x", c);
            else
                put(o, (const char *)&c, 1);
        }
    }
    put(o, "\"", 1);
}

static void put_scalar(text *o, uint32_t type, const uint8_t *p)
{
    switch (type) {
    case GGUF_UINT8: case GGUF_UINT16: case GGUF_UINT32: case GGUF_UINT64: {
        int bytes = type == GGUF_UINT8 ? 1 : type == GGUF_UINT16 ? 2 : type == GGUF_UINT32 ? 4 : 8;
        putf(o, "%" PRIu64, le(p, bytes));
        break;
    }
    case GGUF_INT8: putf(o, "%d", (int)(int8_t)p[0]); break;
    case GGUF_INT16: putf(o, "%d", (int)(int16_t)(uint16_t)le(p, 2)); break;
    case GGUF_INT32: putf(o, "%" PRId32, (int32_t)(uint32_t)le(p, 4)); break;
    case GGUF_INT64: putf(o, "%" PRId64, (int64_t)le(p, 8)); break;
    case GGUF_FLOAT32: {
        uint32_t bits = (uint32_t)le(p, 4);
        float v;
        memcpy(&v, &bits, sizeof v);
        putf(o, "%g", (double)v);
        break;
    }
    case GGUF_FLOAT64: {
        uint64_t bits = le(p, 8);
        double v;
        memcpy(&v, &bits, sizeof v);
        putf(o, "%g", v);
        break;
    }
    case GGUF_BOOL: put(o, p[0] ? "true" : "false", p[0] ? 4 : 5); break;
    default: put(o, "?", 1);
    }
}

static size_t scalar_bytes(uint32_t type)
{
    switch (type) {
    case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
    case GGUF_UINT16: case GGUF_INT16: return 2;
    case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
    default: return 8;
    }
}

/* The end of an encoded value inside an array. The reader validated it. */
static const uint8_t *skip_encoded(uint32_t type, const uint8_t *p)
{
    if (type == GGUF_STRING)
        return p + 8 + le(p, 8);
    if (type != GGUF_ARRAY)
        return p + scalar_bytes(type);
    uint32_t elem = (uint32_t)le(p, 4);
    uint64_t n = le(p + 4, 8);
    p += 12;
    if (elem != GGUF_STRING && elem != GGUF_ARRAY)
        return p + n * scalar_bytes(elem);
    for (uint64_t i = 0; i < n; i++)
        p = skip_encoded(elem, p);
    return p;
}

static void put_array(text *o, uint32_t elem, uint64_t n, const uint8_t *first,
                      const uint64_t *offsets, int max_items);

/* An encoded array element: strings carry a length, arrays a header. */
static void put_encoded(text *o, uint32_t type, const uint8_t *p, int max_items)
{
    if (type == GGUF_STRING)
        put_quoted(o, p + 8, le(p, 8));
    else if (type == GGUF_ARRAY)
        put_array(o, (uint32_t)le(p, 4), le(p + 4, 8), p + 12, NULL, max_items);
    else
        put_scalar(o, type, p);
}

static void put_array(text *o, uint32_t elem, uint64_t n, const uint8_t *first,
                      const uint64_t *offsets, int max_items)
{
    uint64_t shown = max_items < 0 ? 0 : (uint64_t)max_items;
    if (shown > n)
        shown = n;
    put(o, "[", 1);
    const uint8_t *p = first;
    for (uint64_t i = 0; i < shown && !full(o); i++) {
        if (i)
            put(o, ", ", 2);
        if (offsets)
            p = first + offsets[i];
        put_encoded(o, elem, p, max_items);
        if (!offsets && i + 1 < shown)
            p = skip_encoded(elem, p);
    }
    if (shown < n)
        putf(o, "%s... (%" PRIu64 " items)", shown ? ", " : "", n);
    put(o, "]", 1);
}

int kestrel_gguf_kv_format(const kestrel_gguf *gguf, int64_t i, char *buf, size_t cap,
                           int max_items)
{
    if (cap == 0)
        return 0;
    buf[0] = '\0';
    if (i < 0 || i >= gguf->file->n_kv)
        return 0;
    const gguf_kv *kv = &gguf->file->kv[i];
    text o = { buf, cap, 0 };
    if (kv->type == GGUF_STRING)
        put_quoted(&o, kv->data, kv->size);
    else if (kv->type == GGUF_ARRAY)
        put_array(&o, kv->elem_type, kv->n, kv->data, kv->str_offsets, max_items);
    else
        put_scalar(&o, kv->type, kv->data);
    return (int)(o.len > INT32_MAX ? INT32_MAX : o.len);
}
