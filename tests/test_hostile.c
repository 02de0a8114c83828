/* Corrupted GGUF files: the reader must refuse each one with a one-line message
 * naming the file, never crash, and never leak the mapping. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gguf.h"
#include "kestrel.h"
#include "quant/quant.h"
#include "test.h"

static char tmpdir[64];

/* ---- a byte builder for hand-made files ----------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p)
            abort();
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void set32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void set64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static size_t put32(buf *b, uint32_t v)
{
    uint8_t e[4];
    set32(e, v);
    put(b, e, 4);
    return b->n - 4;
}

static size_t put64(buf *b, uint64_t v)
{
    uint8_t e[8];
    set64(e, v);
    put(b, e, 8);
    return b->n - 8;
}

/* Returns the offset of the length field; the text follows it. */
static size_t putstr(buf *b, const char *s)
{
    size_t at = put64(b, strlen(s));
    put(b, s, strlen(s));
    return at;
}

static void pad(buf *b, size_t alignment)
{
    static const uint8_t zeros[64];
    put(b, zeros, (alignment - b->n % alignment) % alignment);
}

/* Where the interesting fields of the base file are. */
typedef struct {
    size_t version, n_tensors, n_kv;
    size_t arch_key, arch_type, arch_value;   /* general.architecture = "llama" */
    size_t one_key, one_type;                 /* test.one: u32 */
    size_t strs_elem, strs_count;             /* test.strs: array of 3 strings */
    size_t two_key, two_elem, two_count;      /* test.two: array of 4 int32 */
    size_t align_type, align_value;           /* general.alignment = 32 */
    size_t t_name[3], t_ndims[3], t_ne[3], t_type[3], t_offset[3];
    size_t header_end, data_offset;
} marks;

static const char *const tensor_names[3] = { "ta", "tb", "tc" };

/* A small valid file: 6 keys of several kinds and 3 tensors (F32, Q8_0, Q4_K). */
static buf build_base(marks *m)
{
    buf b = { 0 };
    put(&b, "GGUF", 4);
    m->version = put32(&b, 3);
    m->n_tensors = put64(&b, 3);
    m->n_kv = put64(&b, 6);

    m->arch_key = putstr(&b, "general.architecture");
    m->arch_type = put32(&b, GGUF_STRING);
    m->arch_value = putstr(&b, "llama");

    m->one_key = putstr(&b, "test.one") + 8;
    m->one_type = put32(&b, GGUF_UINT32);
    put32(&b, 7);

    putstr(&b, "test.strs");
    put32(&b, GGUF_ARRAY);
    m->strs_elem = put32(&b, GGUF_STRING);
    m->strs_count = put64(&b, 3);
    putstr(&b, "a");
    putstr(&b, "bb");
    putstr(&b, "ccc");

    m->two_key = putstr(&b, "test.two") + 8;
    put32(&b, GGUF_ARRAY);
    m->two_elem = put32(&b, GGUF_INT32);
    m->two_count = put64(&b, 4);
    for (uint32_t i = 0; i < 4; i++)
        put32(&b, i);

    putstr(&b, "general.alignment");
    m->align_type = put32(&b, GGUF_UINT32);
    m->align_value = put32(&b, 32);

    putstr(&b, "test.nest"); /* [[1, 2], ["x"]] */
    put32(&b, GGUF_ARRAY);
    put32(&b, GGUF_ARRAY);
    put64(&b, 2);
    put32(&b, GGUF_UINT16);
    put64(&b, 2);
    put(&b, "\1\0\2\0", 4);
    put32(&b, GGUF_STRING);
    put64(&b, 1);
    putstr(&b, "x");

    static const uint32_t types[3] = { KT_F32, KT_Q8_0, KT_Q4_K };
    static const int n_dims[3] = { 2, 1, 2 };
    static const uint64_t ne[3][2] = { { 8, 4 }, { 64, 1 }, { 256, 2 } };
    static const uint64_t offsets[3] = { 0, 128, 224 };
    for (int t = 0; t < 3; t++) {
        m->t_name[t] = putstr(&b, tensor_names[t]) + 8;
        m->t_ndims[t] = put32(&b, (uint32_t)n_dims[t]);
        m->t_ne[t] = b.n;
        for (int d = 0; d < n_dims[t]; d++)
            put64(&b, ne[t][d]);
        m->t_type[t] = put32(&b, types[t]);
        m->t_offset[t] = put64(&b, offsets[t]);
    }
    m->header_end = b.n;
    pad(&b, 32);
    m->data_offset = b.n;
    /* 128 (ta) + 68 (tb) + pad to 224 + 288 (tc) = 512 bytes of data. */
    for (size_t i = 0; i < 512; i++) {
        uint8_t v = (uint8_t)(i * 7 + 1);
        put(&b, &v, 1);
    }
    return b;
}

/* ---- running the reader on a file -------------------------------------------------- */

static int n_cases;

static void write_file(const char *path, const uint8_t *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(data, 1, n, fp) != n) || fclose(fp) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        abort();
    }
}

/* Writes the bytes as <label>.gguf and requires the reader (and the public API)
 * to refuse it with a one-line message naming the file and containing `want`. */
static void expect_reject(const char *label, const uint8_t *data, size_t n, const char *want)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, label);
    write_file(path, data, n);
    n_cases++;
    gguf_file *f = gguf_open(path);
    CHECK(f == NULL, "%s: accepted a corrupt file", label);
    gguf_close(f);
    const char *err = kestrel_last_error();
    if (getenv("KESTREL_TEST_VERBOSE"))
        printf("%-24s %s\n", label, err);
    CHECK(strncmp(err, path, strlen(path)) == 0 && strlen(err) > strlen(path) + 2,
          "%s: message must start with the path: %s", label, err);
    CHECK(strchr(err, '\n') == NULL, "%s: message must be one line: %s", label, err);
    CHECK(!want || strstr(err, want), "%s: message '%s' lacks '%s'", label, err, want);
    kestrel_gguf *g = kestrel_gguf_open(path);
    CHECK(g == NULL && strstr(kestrel_last_error(), path), "%s: kestrel_gguf_open refused", label);
    kestrel_gguf_close(g);
}

static void expect_accept(const char *label, const uint8_t *data, size_t n)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, label);
    write_file(path, data, n);
    gguf_file *f = gguf_open(path);
    CHECK(f != NULL, "%s: valid file refused: %s", label, kestrel_last_error());
    gguf_close(f);
}

/* A copy of the base with one change applied by the caller. */
static uint8_t *copy_of(const buf *b)
{
    uint8_t *c = malloc(b->n);
    memcpy(c, b->p, b->n);
    return c;
}

#define VARIANT(label, want, ...)                          \
    do {                                                   \
        uint8_t *v = copy_of(&base);                       \
        __VA_ARGS__;                                       \
        expect_reject(label, v, base.n, want);             \
        free(v);                                           \
    } while (0)

static void test_base_variants(void)
{
    marks m;
    buf base = build_base(&m);
    expect_accept("base", base.p, base.n);

    /* Truncations: 16 points across the header, then inside the data. */
    for (int k = 0; k < 16; k++) {
        char label[32];
        snprintf(label, sizeof label, "trunc-header-%02d", k);
        expect_reject(label, base.p, m.data_offset * (size_t)k / 16, NULL);
    }
    expect_reject("trunc-at-data", base.p, m.data_offset, "past end of file");
    expect_reject("trunc-data-1", base.p, m.data_offset + 1, "past end of file");
    expect_reject("trunc-data-300", base.p, m.data_offset + 300, "past end of file");
    expect_reject("trunc-last-byte", base.p, base.n - 1, "'tc'");

    VARIANT("bad-magic", "magic", memcpy(v, "GGUX", 4));
    VARIANT("magic-ggml", "magic", memcpy(v, "ggml", 4));
    VARIANT("version-1", "v1", set32(v + m.version, 1));
    VARIANT("version-4", "version 4", set32(v + m.version, 4));
    VARIANT("version-0", "version 0", set32(v + m.version, 0));
    VARIANT("version-max", "version", set32(v + m.version, UINT32_MAX));
    VARIANT("big-endian", "big-endian", v[m.version] = 0; v[m.version + 3] = 3);
    VARIANT("n-tensors-huge", "tensor count", set64(v + m.n_tensors, (uint64_t)1 << 62));
    VARIANT("n-tensors-max", "tensor count", set64(v + m.n_tensors, UINT64_MAX));
    VARIANT("n-tensors-plus-one", NULL, set64(v + m.n_tensors, 4));
    VARIANT("n-kv-huge", "metadata count", set64(v + m.n_kv, (uint64_t)1 << 63));
    VARIANT("n-kv-max", "metadata count", set64(v + m.n_kv, UINT64_MAX));
    VARIANT("n-kv-plus-one", NULL, set64(v + m.n_kv, 7));
    VARIANT("key-len-past-eof", "past end of file", set64(v + m.arch_key, base.n));
    VARIANT("key-len-2^63", "past end of file", set64(v + m.arch_key, (uint64_t)1 << 63));
    VARIANT("key-len-max", "past end of file", set64(v + m.arch_key, UINT64_MAX));
    VARIANT("key-empty", "empty key", set64(v + m.arch_key, 0));
    VARIANT("key-nul", "NUL", v[m.one_key + 4] = 0);
    VARIANT("str-len-past-eof", "past end of file", set64(v + m.arch_value, base.n - 10));
    VARIANT("str-len-2^63", "past end of file", set64(v + m.arch_value, (uint64_t)1 << 63));
    VARIANT("arr-count-huge-i32", "test.two", set64(v + m.two_count, (uint64_t)1 << 62));
    VARIANT("arr-count-max-i32", "test.two", set64(v + m.two_count, UINT64_MAX));
    VARIANT("arr-count-past-eof", "past end of file", set64(v + m.two_count, base.n / 4));
    VARIANT("arr-count-huge-str", "test.strs", set64(v + m.strs_count, (uint64_t)1 << 61));
    VARIANT("arr-str-count-plus", NULL, set64(v + m.strs_count, 4));
    VARIANT("arr-elem-unknown", "element type 13", set32(v + m.two_elem, 13));
    VARIANT("arr-elem-max", "element type", set32(v + m.strs_elem, UINT32_MAX));
    VARIANT("value-type-unknown", "value type 13", set32(v + m.one_type, 13));
    VARIANT("value-type-max", "value type", set32(v + m.one_type, UINT32_MAX));
    VARIANT("value-type-array", NULL, set32(v + m.one_type, GGUF_ARRAY));
    VARIANT("n-dims-0", "n_dims 0", set32(v + m.t_ndims[0], 0));
    VARIANT("n-dims-5", "n_dims 5", set32(v + m.t_ndims[0], 5));
    VARIANT("n-dims-max", "n_dims", set32(v + m.t_ndims[1], UINT32_MAX));
    VARIANT("dims-overflow", "2^63", set64(v + m.t_ne[0], (uint64_t)1 << 32);
            set64(v + m.t_ne[0] + 8, (uint64_t)1 << 32));
    VARIANT("dims-overflow-bytes", "'ta'", set64(v + m.t_ne[0], (uint64_t)1 << 62);
            set64(v + m.t_ne[0] + 8, 1));
    VARIANT("dim-negative", "negative", set64(v + m.t_ne[0] + 8, UINT64_MAX));
    VARIANT("dim-min", "negative", set64(v + m.t_ne[2], (uint64_t)1 << 63));
    VARIANT("row-not-block-multiple", "block size", set64(v + m.t_ne[1], 33));
    VARIANT("row-not-k-multiple", "block size", set64(v + m.t_ne[2], 128));
    VARIANT("offset-past-eof", "past end of file", set64(v + m.t_offset[2], 4096));
    VARIANT("offset-misaligned", "alignment", set64(v + m.t_offset[1], 132));
    VARIANT("offset-overflow", "past end of file", set64(v + m.t_offset[2], UINT64_MAX - 31));
    VARIANT("offset-2^63", "past end of file", set64(v + m.t_offset[2], (uint64_t)1 << 63));
    VARIANT("type-unknown-99", "type id 99", set32(v + m.t_type[0], 99));
    VARIANT("type-removed-4", "type id 4", set32(v + m.t_type[0], 4));
    VARIANT("type-max", "type id", set32(v + m.t_type[0], UINT32_MAX));
    VARIANT("type-big-block", NULL, set32(v + m.t_type[0], KT_Q4_K));
    VARIANT("duplicate-tensor", "duplicate tensor name 'ta'", v[m.t_name[2] + 1] = 'a');
    VARIANT("duplicate-key", "duplicate key 'test.one'",
            memcpy(v + m.two_key + 5, "one", 3));
    VARIANT("alignment-0", "general.alignment", set32(v + m.align_value, 0));
    VARIANT("alignment-3", "power of two", set32(v + m.align_value, 3));
    VARIANT("alignment-48", "power of two", set32(v + m.align_value, 48));
    VARIANT("alignment-int32", "must be uint32", set32(v + m.align_type, GGUF_INT32));
    VARIANT("alignment-float", "must be uint32", set32(v + m.align_type, GGUF_FLOAT32));
    VARIANT("alignment-64-misaligned", "alignment", set32(v + m.align_value, 64));
    VARIANT("alignment-2^31", NULL, set32(v + m.align_value, 1u << 31));

    /* Still valid: v2, and an alignment of 16 (every offset stays aligned). */
    uint8_t *v = copy_of(&base);
    set32(v + m.version, 2);
    expect_accept("version-2", v, base.n);
    memcpy(v, base.p, base.n);
    set32(v + m.align_value, 16);
    expect_accept("alignment-16", v, base.n);
    free(v);
    free(base.p);
}

/* Random byte mutations of the base file's header (and random truncations):
 * whatever the reader accepts must be fully in bounds, formatting included.
 * KESTREL_FUZZ_ITERS raises the count for a longer run by hand. */
static void test_mutations(void)
{
    marks m;
    buf base = build_base(&m);
    const char *env = getenv("KESTREL_FUZZ_ITERS");
    long iters = env ? atol(env) : 3000;
    uint64_t rng = 0x9e3779b97f4a7c15u;
#define NEXT() (rng = rng * 6364136223846793005u + 1442695040888963407u, rng >> 33)
    uint8_t *v = malloc(base.n);
    char path[256];
    snprintf(path, sizeof path, "%s/mutant.gguf", tmpdir);
    long accepted = 0, bad_messages = 0, out_of_bounds = 0;
    for (long it = 0; it < iters; it++) {
        memcpy(v, base.p, base.n);
        int n_mut = 1 + (int)(NEXT() % 4);
        for (int k = 0; k < n_mut; k++) {
            size_t pos = (size_t)(NEXT() % m.data_offset);
            switch (NEXT() % 4) {
            case 0: v[pos] = (uint8_t)NEXT(); break;
            case 1: v[pos] ^= (uint8_t)(1u << (NEXT() % 8)); break;
            case 2: v[pos] = 0xff; break;
            default:
                if (pos + 8 <= base.n)
                    set64(v + pos, (uint64_t)1 << (NEXT() % 64));
            }
        }
        size_t len = NEXT() % 8 == 0 ? (size_t)(NEXT() % base.n) : base.n;
        write_file(path, v, len);
        gguf_file *f = gguf_open(path);
        if (!f) {
            bad_messages += strncmp(kestrel_last_error(), path, strlen(path)) != 0 ||
                            strchr(kestrel_last_error(), '\n') != NULL;
            continue;
        }
        accepted++;
        for (int64_t t = 0; t < f->n_tensors; t++) {
            const uint8_t *d = f->tensors[t].data;
            out_of_bounds += d < f->map || f->tensors[t].nbytes > (uint64_t)(f->map + f->size - d);
        }
        gguf_close(f);
        kestrel_gguf *g = kestrel_gguf_open(path);
        char text[512];
        for (int64_t i = 0; g && i < kestrel_gguf_n_kv(g); i++)
            kestrel_gguf_kv_format(g, i, text, sizeof text, 4);
        kestrel_gguf_close(g);
    }
#undef NEXT
    printf("mutations: %ld of %ld accepted\n", accepted, iters);
    CHECK(bad_messages == 0, "%ld refusals without a proper message", bad_messages);
    CHECK(out_of_bounds == 0, "%ld accepted tensors outside the mapping", out_of_bounds);
    CHECK(accepted < iters, "some mutants refused (%ld of %ld accepted)", accepted, iters);
    unlink(path);
    free(v);
    free(base.p);
}

/* Arrays of arrays: a few levels are fine, hundreds are refused. */
static void test_nesting(void)
{
    for (int depth = 2; depth <= 200; depth += 198) {
        buf b = { 0 };
        put(&b, "GGUF", 4);
        put32(&b, 3);
        put64(&b, 0);
        put64(&b, 1);
        putstr(&b, "deep");
        put32(&b, GGUF_ARRAY);
        for (int d = 1; d < depth; d++) {
            put32(&b, GGUF_ARRAY);
            put64(&b, 1);
        }
        put32(&b, GGUF_INT32);
        put64(&b, 1);
        put32(&b, 42);
        pad(&b, 32);
        if (depth == 2)
            expect_accept("nested-2", b.p, b.n);
        else
            expect_reject("nested-200", b.p, b.n, "nested");
        free(b.p);
    }
    /* A nested element whose own header is bad. */
    buf b = { 0 };
    put(&b, "GGUF", 4);
    put32(&b, 3);
    put64(&b, 0);
    put64(&b, 1);
    putstr(&b, "inner");
    put32(&b, GGUF_ARRAY);
    put32(&b, GGUF_ARRAY);
    put64(&b, 2);
    put32(&b, GGUF_INT8);
    put64(&b, 1);
    put(&b, "x", 1);
    put32(&b, 77); /* second element: unknown element type */
    put64(&b, 0);
    pad(&b, 32);
    expect_reject("nested-bad-elem", b.p, b.n, "element type 77");
    free(b.p);
}

/* ---- the real stories260K file, corrupted ------------------------------------------ */

static uint8_t *read_whole(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *data = malloc((size_t)n);
    if (data && fread(data, 1, (size_t)n, fp) != (size_t)n) {
        free(data);
        data = NULL;
    }
    fclose(fp);
    *size = (size_t)n;
    return data;
}

/* Offset of the tensor info that names `name` (its text), or 0. */
static size_t find_name(const uint8_t *data, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 8; i + len <= n; i++) {
        uint64_t l = 0;
        for (int k = 0; k < 8; k++)
            l |= (uint64_t)data[i - 8 + k] << (8 * k);
        if (l == len && memcmp(data + i, name, len) == 0)
            return i;
    }
    return 0;
}

static void test_stories_variants(void)
{
    char src[512];
    snprintf(src, sizeof src, "%s/models/stories260K.gguf", test_shared_dir());
    size_t n = 0;
    uint8_t *data = read_whole(src, &n);
    CHECK(data != NULL && n == 1185376, "read %s", src);
    if (!data || n != 1185376) {
        free(data);
        return;
    }
    const size_t data_offset = 14176;
    for (int k = 1; k < 16; k++) {
        char label[40];
        snprintf(label, sizeof label, "stories-trunc-%02d", k);
        expect_reject(label, data, data_offset * (size_t)k / 16, NULL);
    }
    expect_reject("stories-trunc-data", data, data_offset + 1000, "past end of file");
    expect_reject("stories-trunc-end", data, n - 4, "past end of file");

    size_t emb = find_name(data, data_offset, "token_embd.weight");
    CHECK(emb > 0, "found token_embd.weight info");
    uint8_t *v = malloc(n);
    if (emb) {
        memcpy(v, data, n);
        set32(v + emb + 17 + 4 + 16, 99); /* name, n_dims, two dims, then the type */
        expect_reject("stories-type-99", v, n, "tensor 'token_embd.weight': unknown tensor type id 99");
    }

#ifndef NO_MODEL_LOAD
    /* Structurally valid GGUF, but not a usable model: kestrel_model_load's checks. */
    char path[256];
    snprintf(path, sizeof path, "%s/stories-ok.gguf", tmpdir);
    write_file(path, data, n);
    kestrel_model *model = kestrel_model_load(path);
    if (!model)
        printf("note: kestrel_model_load on a copy of stories260K failed (%s)\n",
               kestrel_last_error());
    kestrel_model_free(model);

    size_t norm = find_name(data, data_offset, "output_norm.weight");
    size_t q = find_name(data, data_offset, "blk.0.attn_q.weight");
    CHECK(norm && q, "found tensor infos to corrupt");
    if (norm && q) {
        memcpy(v, data, n);
        v[norm + 17] = 'X'; /* output_norm.weighX: the required tensor is missing */
        snprintf(path, sizeof path, "%s/stories-missing-tensor.gguf", tmpdir);
        write_file(path, v, n);
        CHECK(kestrel_model_load(path) == NULL, "missing output_norm.weight accepted");
        CHECK(strstr(kestrel_last_error(), path) && strstr(kestrel_last_error(), "output_norm.weight"),
              "missing tensor message: %s", kestrel_last_error());

        memcpy(v, data, n);
        set64(v + q + 19 + 4 + 8, 32); /* attn_q [64, 64] -> [64, 32] */
        snprintf(path, sizeof path, "%s/stories-wrong-shape.gguf", tmpdir);
        write_file(path, v, n);
        gguf_file *f = gguf_open(path);
        CHECK(f != NULL, "wrong-shape file is still valid GGUF: %s", kestrel_last_error());
        gguf_close(f);
        CHECK(kestrel_model_load(path) == NULL, "attn_q of the wrong shape accepted");
        CHECK(strstr(kestrel_last_error(), path) && strstr(kestrel_last_error(), "blk.0.attn_q.weight"),
              "wrong shape message: %s", kestrel_last_error());
    }
#endif
    free(v);
    free(data);
}

/* ---- the CLI on bad files -------------------------------------------------------- */

/* Runs `kestrel info <file>`; returns the exit status, stdout and stderr in bufs. */
static int run_info(const char *file, char *out, size_t out_cap, char *err, size_t err_cap)
{
    char out_path[256], err_path[256];
    snprintf(out_path, sizeof out_path, "%s/cli.out", tmpdir);
    snprintf(err_path, sizeof err_path, "%s/cli.err", tmpdir);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0)
            _exit(126);
        dup2(o, 1);
        dup2(e, 2);
        const char *bin = test_kestrel_bin();
        if (file)
            execl(bin, bin, "info", file, (char *)NULL);
        else
            execl(bin, bin, "info", (char *)NULL);
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    const char *paths[2] = { out_path, err_path };
    char *bufs[2] = { out, err };
    size_t caps[2] = { out_cap, err_cap };
    for (int i = 0; i < 2; i++) {
        FILE *fp = fopen(paths[i], "rb");
        size_t got = fp ? fread(bufs[i], 1, caps[i] - 1, fp) : 0;
        bufs[i][got] = '\0';
        if (fp)
            fclose(fp);
        unlink(paths[i]);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_cli(void)
{
    if (access(test_kestrel_bin(), X_OK) != 0) {
        printf("note: %s is not executable; skipping the CLI checks\n", test_kestrel_bin());
        return;
    }
    static const char *const bad[] = { "bad-magic", "big-endian", "n-kv-huge", "offset-past-eof",
                                       "duplicate-tensor", "nested-200", "trunc-header-07" };
    static char out[1 << 16], err[4096];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, bad[i]);
        int rc = run_info(path, out, sizeof out, err, sizeof err);
        size_t len = strlen(err);
        CHECK(rc == 1, "info %s: exit %d", bad[i], rc);
        CHECK(out[0] == '\0', "info %s: stdout not empty: %.80s", bad[i], out);
        CHECK(strncmp(err, "kestrel: ", 9) == 0 && len > 0 && err[len - 1] == '\n' &&
                  strchr(err, '\n') == err + len - 1 && strstr(err, path),
              "info %s: stderr must be one 'kestrel: ' line naming the file: %s", bad[i], err);
    }
    int rc = run_info("/nonexistent/model.gguf", out, sizeof out, err, sizeof err);
    CHECK(rc == 1 && strncmp(err, "kestrel: ", 9) == 0 && out[0] == '\0', "missing file: %d %s",
          rc, err);
    rc = run_info(NULL, out, sizeof out, err, sizeof err);
    CHECK(rc == 2 && strstr(err, "usage") && out[0] == '\0', "no argument: exit %d", rc);

    char good[512];
    snprintf(good, sizeof good, "%s/models/stories260K.gguf", test_shared_dir());
    rc = run_info(good, out, sizeof out, err, sizeof err);
    CHECK(rc == 0 && err[0] == '\0', "info stories260K: exit %d, stderr %s", rc, err);
    CHECK(strstr(out, "version:     3") && strstr(out, "data offset: 14176") &&
              strstr(out, "metadata: 19 entries") && strstr(out, "tensors: 48") &&
              strstr(out, "[64, 512]") && strstr(out, "[\"<unk>\", \"<s>\", \"</s>\"") &&
              strstr(out, "(512 items)]") &&
              strstr(out, "total: 48 tensors, 1171200 bytes, 292800 parameters"),
          "info stories260K output:\n%s", out);
}

/* The reader unmapped every file it refused: no mapping of the temp dir is left. */
static void test_no_mappings_left(void)
{
    FILE *fp = fopen("/proc/self/maps", "r");
    if (!fp)
        return;
    char line[1024];
    int left = 0;
    while (fgets(line, sizeof line, fp))
        left += strstr(line, tmpdir) != NULL;
    fclose(fp);
    CHECK(left == 0, "%d mappings of test files left", left);
}

static void remove_tmpdir(void)
{
    DIR *dp = opendir(tmpdir);
    if (!dp)
        return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    closedir(dp);
    rmdir(tmpdir);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kestrel-hostile-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    CHECK(gguf_open(tmpdir) == NULL && strstr(kestrel_last_error(), "not a regular file") &&
              strstr(kestrel_last_error(), tmpdir), "directory refused: %s", kestrel_last_error());
    CHECK(gguf_open("/nonexistent/x.gguf") == NULL &&
              strstr(kestrel_last_error(), "/nonexistent/x.gguf: cannot open"),
          "missing file refused: %s", kestrel_last_error());
    test_base_variants();
    test_nesting();
    test_mutations();
    test_stories_variants();
    test_no_mappings_left();
    test_cli();
    printf("%d corrupted files refused\n", n_cases);
    remove_tmpdir();
    return test_report();
}
