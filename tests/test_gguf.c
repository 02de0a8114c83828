/* GGUF reader, writer and inspection API on the shared models and on files
 * written here with every value type. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "gguf.h"
#include "kestrel.h"
#include "quant/quant.h"
#include "test.h"

/* Defined in gguf_api.c (not yet in kestrel.h). */

static char tmpdir[64];

static void model_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/models/%s", test_shared_dir(), name);
}

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static bool str_is(gguf_string s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static uint8_t *read_whole(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *size = (size_t)n;
    return buf;
}

static int64_t n_elements(const gguf_tensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

/* ---- stories260K: the facts shared/models/README.md states ------------------------ */

static void test_stories(void)
{
    char path[512];
    model_path(path, sizeof path, "stories260K.gguf");
    gguf_file *f = gguf_open(path);
    CHECK(f != NULL, "open %s: %s", path, kestrel_last_error());
    if (!f)
        return;
    CHECK(f->version == 3, "version %u", f->version);
    CHECK(f->n_kv == 19, "n_kv %lld", (long long)f->n_kv);
    CHECK(f->n_tensors == 48, "n_tensors %lld", (long long)f->n_tensors);
    CHECK(f->alignment == 32, "alignment %llu", (unsigned long long)f->alignment);
    CHECK(f->data_offset == 14176, "data offset %llu", (unsigned long long)f->data_offset);
    CHECK(f->size == 1185376, "size %llu", (unsigned long long)f->size);
    CHECK(gguf_find(f, "general.alignment") == NULL, "no general.alignment key");

    uint64_t total_bytes = 0;
    int64_t total_elems = 0;
    bool all_f32 = true, in_bounds = true;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        all_f32 &= t->type == KT_F32;
        total_bytes += t->nbytes;
        total_elems += n_elements(t);
        in_bounds &= (const uint8_t *)t->data + t->nbytes <= f->map + f->size;
        in_bounds &= (const uint8_t *)t->data == f->map + f->data_offset + t->offset;
    }
    CHECK(all_f32, "all tensors F32");
    CHECK(in_bounds, "tensor data pointers inside the mapping");
    CHECK(total_bytes == 1171200, "tensor bytes %llu", (unsigned long long)total_bytes);
    CHECK(total_elems == 292800, "tensor elements %lld", (long long)total_elems);

    static const struct { const char *name; int n_dims; int64_t ne0, ne1; } shapes[] = {
        { "token_embd.weight", 2, 64, 512 }, { "output_norm.weight", 1, 64, 1 },
        { "output.weight", 2, 64, 512 },     { "blk.0.attn_q.weight", 2, 64, 64 },
        { "blk.0.attn_k.weight", 2, 64, 32 }, { "blk.3.attn_v.weight", 2, 64, 32 },
        { "blk.4.attn_output.weight", 2, 64, 64 }, { "blk.2.attn_norm.weight", 1, 64, 1 },
        { "blk.1.ffn_gate.weight", 2, 64, 172 }, { "blk.4.ffn_up.weight", 2, 64, 172 },
        { "blk.0.ffn_down.weight", 2, 172, 64 }, { "blk.4.ffn_norm.weight", 1, 64, 1 },
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const gguf_tensor *t = gguf_find_tensor(f, shapes[i].name);
        CHECK(t != NULL, "tensor %s present", shapes[i].name);
        if (!t)
            continue;
        CHECK(t->n_dims == shapes[i].n_dims && t->ne[0] == shapes[i].ne0 &&
                  t->ne[1] == shapes[i].ne1 && t->ne[2] == 1 && t->ne[3] == 1,
              "%s shape [%lld, %lld] n_dims %d", shapes[i].name, (long long)t->ne[0],
              (long long)t->ne[1], t->n_dims);
        CHECK(t->nbytes == (uint64_t)(shapes[i].ne0 * shapes[i].ne1 * 4), "%s bytes",
              shapes[i].name);
        CHECK(t->offset % 32 == 0, "%s offset aligned", shapes[i].name);
    }
    CHECK(gguf_find_tensor(f, "blk.5.attn_q.weight") == NULL, "no blk.5");
    const gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    const gguf_tensor *out = gguf_find_tensor(f, "output.weight");
    if (emb && out)
        CHECK(memcmp(emb->data, out->data, emb->nbytes) == 0, "output.weight == token_embd (tied)");

    /* Tokenizer arrays. */
    const gguf_kv *tokens = gguf_find(f, "tokenizer.ggml.tokens");
    CHECK(tokens && tokens->type == GGUF_ARRAY && tokens->elem_type == GGUF_STRING &&
              tokens->n == 512 && tokens->str_offsets, "tokens: array of 512 strings");
    if (tokens && tokens->n == 512 && tokens->str_offsets) {
        CHECK(str_is(gguf_arr_str(tokens, 0), "<unk>"), "token 0");
        CHECK(str_is(gguf_arr_str(tokens, 1), "<s>"), "token 1");
        CHECK(str_is(gguf_arr_str(tokens, 2), "</s>"), "token 2");
        CHECK(str_is(gguf_arr_str(tokens, 3), "<0x00>"), "token 3");
        CHECK(str_is(gguf_arr_str(tokens, 258), "<0xFF>"), "token 258");
        gguf_string last = gguf_arr_str(tokens, 511);
        CHECK(last.len > 0 && (const uint8_t *)last.ptr + last.len <= tokens->data + tokens->size,
              "last token inside the array");
    }
    const gguf_kv *scores = gguf_find(f, "tokenizer.ggml.scores");
    CHECK(scores && scores->type == GGUF_ARRAY && scores->elem_type == GGUF_FLOAT32 &&
              scores->n == 512 && scores->size == 2048, "scores: 512 float32");
    if (scores && scores->n == 512) {
        CHECK(gguf_arr_num(scores, 259) == 0 && gguf_arr_num(scores, 260) == -1 &&
                  gguf_arr_num(scores, 511) == -252, "scores 0, -1, ... -252");
    }
    const gguf_kv *types = gguf_find(f, "tokenizer.ggml.token_type");
    CHECK(types && types->elem_type == GGUF_INT32 && types->n == 512, "token_type: 512 int32");
    if (types && types->n == 512)
        CHECK(gguf_arr_num(types, 3) == 6 && gguf_arr_num(types, 258) == 6, "byte tokens type 6");

    /* Typed getters. */
    gguf_string s;
    CHECK(gguf_get_str(f, "general.architecture", &s) && str_is(s, "llama"), "architecture");
    CHECK(gguf_get_str(f, "tokenizer.ggml.model", &s) && str_is(s, "llama"), "tokenizer model");
    uint32_t u = 0;
    CHECK(gguf_get_u32(f, "llama.block_count", &u) && u == 5, "block_count %u", u);
    CHECK(gguf_get_u32(f, "llama.embedding_length", &u) && u == 64, "embedding_length");
    CHECK(gguf_get_u32(f, "llama.feed_forward_length", &u) && u == 172, "ff length");
    CHECK(gguf_get_u32(f, "llama.attention.head_count_kv", &u) && u == 4, "head_count_kv");
    CHECK(gguf_get_u32(f, "tokenizer.ggml.padding_token_id", &u) && u == 4294967295u, "padding");
    int64_t i64 = 0;
    CHECK(gguf_get_i64(f, "tokenizer.ggml.seperator_token_id", &i64) && i64 == 4294967295,
          "u32 as i64");
    float eps = 0;
    CHECK(gguf_get_f32(f, "llama.attention.layer_norm_rms_epsilon", &eps) && eps == 1e-5f, "eps");
    CHECK(!gguf_get_u32(f, "llama.rope.freq_base", &u), "absent key -> false");
    kestrel_fail(NULL, "%s", "");
    CHECK(!gguf_get_u32(f, "general.name", &u), "string as u32 -> false");
    CHECK(strstr(kestrel_last_error(), "general.name") && strstr(kestrel_last_error(), path),
          "wrong-type error names key and file: %s", kestrel_last_error());
    bool b;
    CHECK(!gguf_get_bool(f, "llama.block_count", &b), "u32 as bool -> false");
    CHECK(!gguf_get_str(f, "llama.block_count", &s), "u32 as string -> false");
    CHECK(!gguf_get_f32(f, "general.name", &eps), "string as f32 -> false");

    gguf_close(f);
}

/* ---- synth-kernels files: sizes and tensor types from the README table ------------- */

static void test_synth(void)
{
    static const struct {
        const char *file;
        uint64_t bytes;
        int token_embd, output, attn_q, ffn_down0;
    } files[] = {
        { "synth-kernels-f32.gguf", 7357824, KT_F32, KT_F32, KT_F32, KT_F32 },
        { "synth-kernels-f16.gguf", 3687808, KT_F16, KT_F16, KT_F16, KT_F16 },
        { "synth-kernels-BF16.gguf", 3687840, KT_BF16, KT_BF16, KT_BF16, KT_BF16 },
        { "synth-kernels-Q8_0.gguf", 1967520, KT_Q8_0, KT_Q8_0, KT_Q8_0, KT_Q8_0 },
        { "synth-kernels-Q4_0.gguf", 1083808, KT_Q4_0, KT_Q6_K, KT_Q4_0, KT_Q4_0 },
        { "synth-kernels-Q5_1.gguf", 1403296, KT_Q5_1, KT_Q6_K, KT_Q5_1, KT_Q5_1 },
        { "synth-kernels-Q2_K.gguf", 744352, KT_Q2_K, KT_Q6_K, KT_Q2_K, KT_Q3_K },
        { "synth-kernels-Q3_K_M.gguf", 944032, KT_Q3_K, KT_Q6_K, KT_Q3_K, KT_Q4_K },
        { "synth-kernels-Q4_K_M.gguf", 1142944, KT_Q4_K, KT_Q6_K, KT_Q4_K, KT_Q4_K },
        { "synth-kernels-Q6_K.gguf", 1523104, KT_Q6_K, KT_Q6_K, KT_Q6_K, KT_Q6_K },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        model_path(path, sizeof path, files[i].file);
        gguf_file *f = gguf_open(path);
        CHECK(f != NULL, "open %s: %s", files[i].file, kestrel_last_error());
        if (!f)
            continue;
        CHECK(f->size == files[i].bytes, "%s size %llu", files[i].file,
              (unsigned long long)f->size);
        CHECK(f->n_tensors == 21, "%s n_tensors %lld", files[i].file, (long long)f->n_tensors);
        gguf_string name;
        CHECK(gguf_get_str(f, "general.name", &name) && str_is(name, "synth-kernels"), "%s name",
              files[i].file);
        const gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
        const gguf_tensor *to = gguf_find_tensor(f, "output.weight");
        const gguf_tensor *tq = gguf_find_tensor(f, "blk.1.attn_q.weight");
        const gguf_tensor *td = gguf_find_tensor(f, "blk.0.ffn_down.weight");
        const gguf_tensor *tn = gguf_find_tensor(f, "blk.0.attn_norm.weight");
        CHECK(te && to && tq && td && tn, "%s tensors present", files[i].file);
        if (!(te && to && tq && td && tn)) {
            gguf_close(f);
            continue;
        }
        CHECK((int)te->type == files[i].token_embd, "%s token_embd type %s", files[i].file,
              kt_type_name((int)te->type));
        CHECK((int)to->type == files[i].output, "%s output type %s", files[i].file,
              kt_type_name((int)to->type));
        CHECK((int)tq->type == files[i].attn_q, "%s attn_q type", files[i].file);
        CHECK((int)td->type == files[i].ffn_down0, "%s ffn_down type", files[i].file);
        CHECK(tn->type == KT_F32, "%s norm F32", files[i].file);
        CHECK(te->ne[0] == 256 && te->ne[1] == 512 && td->ne[0] == 768 && td->ne[1] == 256,
              "%s shapes", files[i].file);
        CHECK(te->nbytes == kt_row_size((int)te->type, 256) * 512, "%s token_embd bytes",
              files[i].file);
        gguf_close(f);
    }
}

/* Every shared GGUF (models and vocab-only files) opens. */
static void test_open_all_shared(void)
{
    static const char *const dirs[] = { "models", "vocab" };
    int opened = 0;
    for (size_t d = 0; d < 2; d++) {
        char dir[512];
        snprintf(dir, sizeof dir, "%s/%s", test_shared_dir(), dirs[d]);
        DIR *dp = opendir(dir);
        CHECK(dp != NULL, "open dir %s", dir);
        if (!dp)
            continue;
        struct dirent *e;
        while ((e = readdir(dp))) {
            size_t len = strlen(e->d_name);
            if (len < 5 || strcmp(e->d_name + len - 5, ".gguf") != 0)
                continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            gguf_file *f = gguf_open(path);
            CHECK(f != NULL, "open %s: %s", path, kestrel_last_error());
            opened += f != NULL;
            gguf_close(f);
        }
        closedir(dp);
    }
    CHECK(opened >= 30, "opened %d shared files", opened);
}

/* ---- writer round trip ----------------------------------------------------------- */

typedef struct {
    uint8_t p[512];
    size_t n;
} enc;

static void enc_u32(enc *e, uint32_t v)
{
    memcpy(e->p + e->n, &v, 4);
    e->n += 4;
}

static void enc_u64(enc *e, uint64_t v)
{
    memcpy(e->p + e->n, &v, 8);
    e->n += 8;
}

static void enc_str(enc *e, const char *s)
{
    enc_u64(e, strlen(s));
    memcpy(e->p + e->n, s, strlen(s));
    e->n += strlen(s);
}

static void add_raw(gguf_writer *w, const char *key, uint32_t type, uint32_t elem, uint64_t n,
                    const void *data, uint64_t size)
{
    gguf_kv kv = { .key = (char *)key, .type = type, .elem_type = elem, .n = n,
                   .data = data, .size = size };
    gguf_writer_copy_kv(w, &kv);
}

typedef struct {
    const char *key;
    uint32_t type, elem;
    uint64_t n;
    const void *data;
    uint64_t size;
} expect_kv;

static void test_writer_round_trip(void)
{
    uint8_t u8 = 200;
    int8_t i8 = -5;
    uint16_t u16 = 65535;
    int16_t i16 = -30000;
    uint32_t u32 = 4000000000u;
    int32_t i32 = -2000000000;
    float f32 = 0.5f;
    uint8_t bool_true = 1;
    uint64_t u64 = 18446744073709551615u;
    int64_t i64 = INT64_MIN;
    double f64 = -1.25e300;
    const char *str = "a\"b\\c\nd\x01";
    uint16_t arr_u16[3] = { 1, 2, 3 };
    double arr_f64[2] = { 0.25, -2 };
    uint8_t arr_bool[3] = { 1, 0, 1 };
    int64_t arr_i64[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
    enc strs = { .n = 0 };
    enc_str(&strs, "x");
    enc_str(&strs, "");
    enc_str(&strs, "hello");
    /* [[1, 2], [3]] and [["p", "q"]] and [[[7]], []] */
    enc nested_i32 = { .n = 0 }, nested_str = { .n = 0 }, nested3 = { .n = 0 };
    enc_u32(&nested_i32, GGUF_INT32); enc_u64(&nested_i32, 2); enc_u32(&nested_i32, 1); enc_u32(&nested_i32, 2);
    enc_u32(&nested_i32, GGUF_INT32); enc_u64(&nested_i32, 1); enc_u32(&nested_i32, 3);
    enc_u32(&nested_str, GGUF_STRING); enc_u64(&nested_str, 2); enc_str(&nested_str, "p"); enc_str(&nested_str, "q");
    enc_u32(&nested3, GGUF_ARRAY); enc_u64(&nested3, 1);
    enc_u32(&nested3, GGUF_INT32); enc_u64(&nested3, 1); enc_u32(&nested3, 7);
    enc_u32(&nested3, GGUF_ARRAY); enc_u64(&nested3, 0);

    const expect_kv kvs[] = {
        { "t.u8", GGUF_UINT8, 0, 0, &u8, 1 },
        { "t.i8", GGUF_INT8, 0, 0, &i8, 1 },
        { "t.u16", GGUF_UINT16, 0, 0, &u16, 2 },
        { "t.i16", GGUF_INT16, 0, 0, &i16, 2 },
        { "t.u32", GGUF_UINT32, 0, 0, &u32, 4 },
        { "t.i32", GGUF_INT32, 0, 0, &i32, 4 },
        { "t.f32", GGUF_FLOAT32, 0, 0, &f32, 4 },
        { "t.bool", GGUF_BOOL, 0, 0, &bool_true, 1 },
        { "t.str", GGUF_STRING, 0, 0, str, strlen(str) },
        { "t.empty_str", GGUF_STRING, 0, 0, "", 0 },
        { "t.u64", GGUF_UINT64, 0, 0, &u64, 8 },
        { "t.i64", GGUF_INT64, 0, 0, &i64, 8 },
        { "t.f64", GGUF_FLOAT64, 0, 0, &f64, 8 },
        { "t.arr_u16", GGUF_ARRAY, GGUF_UINT16, 3, arr_u16, 6 },
        { "t.arr_f64", GGUF_ARRAY, GGUF_FLOAT64, 2, arr_f64, 16 },
        { "t.arr_bool", GGUF_ARRAY, GGUF_BOOL, 3, arr_bool, 3 },
        { "t.arr_i64", GGUF_ARRAY, GGUF_INT64, 10, arr_i64, 80 },
        { "t.arr_empty", GGUF_ARRAY, GGUF_UINT8, 0, "", 0 },
        { "t.arr_str", GGUF_ARRAY, GGUF_STRING, 3, strs.p, strs.n },
        { "t.nested_i32", GGUF_ARRAY, GGUF_ARRAY, 2, nested_i32.p, nested_i32.n },
        { "t.nested_str", GGUF_ARRAY, GGUF_ARRAY, 1, nested_str.p, nested_str.n },
        { "t.nested3", GGUF_ARRAY, GGUF_ARRAY, 2, nested3.p, nested3.n },
    };
    const size_t n_raw = sizeof kvs / sizeof kvs[0];

    /* Tensors of several types with arbitrary bytes (only layout matters here). */
    static const struct { const char *name; uint32_t type; int n_dims; int64_t ne[4]; } tdefs[] = {
        { "w.f32", KT_F32, 2, { 7, 3, 1, 1 } },
        { "w.f16", KT_F16, 1, { 5, 1, 1, 1 } },
        { "w.q8_0", KT_Q8_0, 3, { 64, 2, 2, 1 } },
        { "w.q4_k", KT_Q4_K, 2, { 256, 3, 1, 1 } },
        { "w.q6_k", KT_Q6_K, 4, { 256, 1, 2, 1 } },
        { "w.bf16", KT_BF16, 2, { 3, 1, 1, 1 } },
        { "w.empty", KT_F32, 2, { 4, 0, 1, 1 } },
    };
    const size_t n_t = sizeof tdefs / sizeof tdefs[0];
    uint8_t *tdata[sizeof tdefs / sizeof tdefs[0]];
    uint64_t tbytes[sizeof tdefs / sizeof tdefs[0]];
    uint32_t seed = 12345;
    for (size_t i = 0; i < n_t; i++) {
        tbytes[i] = kt_row_size((int)tdefs[i].type, tdefs[i].ne[0]) * (uint64_t)tdefs[i].ne[1] *
                    (uint64_t)tdefs[i].ne[2] * (uint64_t)tdefs[i].ne[3];
        tdata[i] = malloc(tbytes[i] + 1);
        for (uint64_t j = 0; j < tbytes[i]; j++) {
            seed = seed * 1664525u + 1013904223u;
            tdata[i][j] = (uint8_t)(seed >> 24);
        }
    }

    for (int pass = 0; pass < 2; pass++) {
        uint32_t alignment = pass ? 64 : 32;
        gguf_writer *w = gguf_writer_new();
        for (size_t i = 0; i < n_raw; i++)
            add_raw(w, kvs[i].key, kvs[i].type, kvs[i].elem, kvs[i].n, kvs[i].data, kvs[i].size);
        static const char *const words[] = { "one", "two", "three" };
        static const float fl[] = { 1.5f, -2.0f };
        static const int32_t in[] = { -1, 0, 1, 2 };
        gguf_writer_add_u32(w, "w.u32", 7);
        gguf_writer_add_i32(w, "w.i32", -7);
        gguf_writer_add_f32(w, "w.f32", 3.25f);
        gguf_writer_add_bool(w, "w.bool", false);
        gguf_writer_add_str(w, "w.str", "text");
        gguf_writer_add_arr_str(w, "w.arr_str", words, 3);
        gguf_writer_add_arr_f32(w, "w.arr_f32", fl, 2);
        gguf_writer_add_arr_i32(w, "w.arr_i32", in, 4);
        gguf_writer_add_u32(w, "w.replaced", 1);
        gguf_writer_add_str(w, "w.replaced", "second"); /* replaces in place */
        if (pass)
            gguf_writer_set_alignment(w, alignment);
        for (size_t i = 0; i < n_t; i++)
            gguf_writer_add_tensor(w, tdefs[i].name, tdefs[i].type, tdefs[i].n_dims, tdefs[i].ne,
                                   tdata[i]);
        char path[128];
        tmp_path(path, sizeof path, pass ? "round64.gguf" : "round32.gguf");
        CHECK(gguf_writer_write(w, path) == 0, "write %s: %s", path, kestrel_last_error());
        gguf_writer_free(w);

        gguf_file *f = gguf_open(path);
        CHECK(f != NULL, "reopen %s: %s", path, kestrel_last_error());
        if (!f)
            continue;
        CHECK(f->version == 3, "written version 3");
        CHECK(f->alignment == alignment, "alignment %llu", (unsigned long long)f->alignment);
        CHECK(f->data_offset % alignment == 0, "data offset aligned");
        const gguf_kv *akv = gguf_find(f, "general.alignment");
        CHECK(pass ? akv != NULL && akv->type == GGUF_UINT32 : akv == NULL,
              "general.alignment written only when not default");
        CHECK(f->n_kv == (int64_t)n_raw + 9 + pass, "n_kv %lld", (long long)f->n_kv);
        for (size_t i = 0; i < n_raw; i++) {
            const gguf_kv *kv = i < (size_t)f->n_kv ? &f->kv[i] : NULL;
            CHECK(kv && strcmp(kv->key, kvs[i].key) == 0, "key %zu in order", i);
            if (!kv)
                continue;
            CHECK(kv->type == kvs[i].type && kv->size == kvs[i].size &&
                      memcmp(kv->data, kvs[i].data, kvs[i].size) == 0,
                  "%s round trips byte for byte", kvs[i].key);
            if (kv->type == GGUF_ARRAY)
                CHECK(kv->elem_type == kvs[i].elem && kv->n == kvs[i].n, "%s array header",
                      kvs[i].key);
        }
        const gguf_kv *ns = gguf_find(f, "t.nested_i32");
        CHECK(ns && ns->str_offsets && ns->str_offsets[0] == 0 && ns->str_offsets[1] == 20,
              "nested array element offsets");
        const gguf_kv *as = gguf_find(f, "t.arr_str");
        if (as && as->str_offsets) {
            CHECK(str_is(gguf_arr_str(as, 0), "x") && str_is(gguf_arr_str(as, 1), "") &&
                      str_is(gguf_arr_str(as, 2), "hello"), "string array elements");
        }
        const gguf_kv *ab = gguf_find(f, "t.arr_bool");
        CHECK(ab && gguf_arr_num(ab, 0) == 1 && gguf_arr_num(ab, 1) == 0, "bool array as numbers");
        const gguf_kv *a64 = gguf_find(f, "t.arr_i64");
        CHECK(a64 && gguf_arr_num(a64, 9) == 10, "i64 array element");

        uint32_t u = 0;
        int64_t v = 0;
        float fv = 0;
        bool bv = true;
        gguf_string sv;
        CHECK(gguf_get_u32(f, "w.u32", &u) && u == 7, "add_u32");
        CHECK(gguf_get_i64(f, "w.i32", &v) && v == -7, "add_i32");
        CHECK(!gguf_get_u32(f, "w.i32", &u), "negative i32 does not fit u32");
        CHECK(gguf_get_f32(f, "w.f32", &fv) && fv == 3.25f, "add_f32");
        CHECK(gguf_get_bool(f, "w.bool", &bv) && !bv, "add_bool");
        CHECK(gguf_get_str(f, "w.str", &sv) && str_is(sv, "text"), "add_str");
        CHECK(gguf_get_str(f, "w.replaced", &sv) && str_is(sv, "second"), "re-added key replaced");
        CHECK(gguf_get_u32(f, "t.u8", &u) && u == 200, "u8 as u32");
        CHECK(gguf_get_i64(f, "t.i16", &v) && v == -30000, "i16 as i64");
        CHECK(gguf_get_i64(f, "t.i64", &v) && v == INT64_MIN, "i64 min");
        CHECK(!gguf_get_i64(f, "t.u64", &v), "u64 max does not fit i64");
        CHECK(gguf_get_u32(f, "t.u32", &u) && u == 4000000000u, "u32 big");
        CHECK(gguf_get_f32(f, "t.f64", &fv) && isinf(fv), "f64 as f32");
        const gguf_kv *aw = gguf_find(f, "w.arr_str");
        CHECK(aw && aw->n == 3 && str_is(gguf_arr_str(aw, 2), "three"), "add_arr_str");
        const gguf_kv *af = gguf_find(f, "w.arr_f32");
        CHECK(af && af->elem_type == GGUF_FLOAT32 && gguf_arr_num(af, 1) == -2.0, "add_arr_f32");
        const gguf_kv *ai = gguf_find(f, "w.arr_i32");
        CHECK(ai && ai->elem_type == GGUF_INT32 && gguf_arr_num(ai, 0) == -1, "add_arr_i32");

        CHECK(f->n_tensors == (int64_t)n_t, "n_tensors %lld", (long long)f->n_tensors);
        for (size_t i = 0; i < n_t && (int64_t)i < f->n_tensors; i++) {
            const gguf_tensor *t = &f->tensors[i];
            CHECK(strcmp(t->name, tdefs[i].name) == 0 && t->type == tdefs[i].type &&
                      t->n_dims == tdefs[i].n_dims && memcmp(t->ne, tdefs[i].ne, sizeof t->ne) == 0,
                  "tensor %s header", tdefs[i].name);
            CHECK(t->nbytes == tbytes[i] && memcmp(t->data, tdata[i], tbytes[i]) == 0,
                  "tensor %s data byte for byte", tdefs[i].name);
            CHECK(t->offset % alignment == 0, "tensor %s offset aligned", tdefs[i].name);
        }

        /* kv_format samples. */
        kestrel_gguf *g = kestrel_gguf_open(path);
        CHECK(g != NULL, "kestrel_gguf_open");
        if (g) {
            static const struct { const char *key; int max_items; const char *want; } fmt[] = {
                { "t.u8", 8, "200" },
                { "t.i8", 8, "-5" },
                { "t.u16", 8, "65535" },
                { "t.i16", 8, "-30000" },
                { "t.u32", 8, "4000000000" },
                { "t.i32", 8, "-2000000000" },
                { "t.f32", 8, "0.5" },
                { "t.bool", 8, "true" },
                { "w.bool", 8, "false" },
                { "t.str", 8, "\"a\\\"b\\\\c\\nd\\x01\"" },
                { "t.empty_str", 8, "\"\"" },
                { "t.u64", 8, "18446744073709551615" },
                { "t.i64", 8, "-9223372036854775808" },
                { "t.f64", 8, "-1.25e+300" },
                { "t.arr_u16", 8, "[1, 2, 3]" },
                { "t.arr_f64", 8, "[0.25, -2]" },
                { "t.arr_bool", 8, "[true, false, true]" },
                { "t.arr_i64", 3, "[1, 2, 3, ... (10 items)]" },
                { "t.arr_i64", 0, "[... (10 items)]" },
                { "t.arr_empty", 8, "[]" },
                { "t.arr_str", 8, "[\"x\", \"\", \"hello\"]" },
                { "t.arr_str", 1, "[\"x\", ... (3 items)]" },
                { "t.nested_i32", 8, "[[1, 2], [3]]" },
                { "t.nested_i32", 1, "[[1, ... (2 items)], ... (2 items)]" },
                { "t.nested_str", 8, "[[\"p\", \"q\"]]" },
                { "t.nested3", 8, "[[[7]], []]" },
                { "w.arr_f32", 8, "[1.5, -2]" },
            };
            for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
                int64_t idx = -1;
                for (int64_t k = 0; k < kestrel_gguf_n_kv(g); k++)
                    if (strcmp(kestrel_gguf_kv_key(g, k), fmt[i].key) == 0)
                        idx = k;
                char buf[256];
                int len = kestrel_gguf_kv_format(g, idx, buf, sizeof buf, fmt[i].max_items);
                CHECK(idx >= 0 && strcmp(buf, fmt[i].want) == 0 && len == (int)strlen(buf),
                      "format %s (max %d): got '%s' want '%s'", fmt[i].key, fmt[i].max_items, buf,
                      fmt[i].want);
            }
            char small[6];
            int len = kestrel_gguf_kv_format(g, 0, small, sizeof small, 8); /* t.u8 = 200 */
            CHECK(len == 3 && strcmp(small, "200") == 0, "small buffer fits");
            int64_t k_str = 0;
            for (int64_t k = 0; k < kestrel_gguf_n_kv(g); k++)
                if (strcmp(kestrel_gguf_kv_key(g, k), "t.arr_i64") == 0)
                    k_str = k;
            len = kestrel_gguf_kv_format(g, k_str, small, sizeof small, 8);
            CHECK(len == 5 && strcmp(small, "[1, 2") == 0, "truncated at cap: '%s' %d", small, len);
            CHECK(kestrel_gguf_kv_format(g, 0, small, 0, 8) == 0, "cap 0");
            CHECK(kestrel_gguf_kv_key(g, -1) == NULL && kestrel_gguf_kv_key(g, 1000) == NULL,
                  "key index out of range");
            CHECK(strcmp(kestrel_gguf_kv_type(g, k_str), "array[int64]") == 0 &&
                      strcmp(kestrel_gguf_kv_type(g, 0), "uint8") == 0, "kv_type names");
            CHECK(kestrel_gguf_version(g) == 3 && kestrel_gguf_alignment(g) == alignment &&
                      kestrel_gguf_data_offset(g) == f->data_offset &&
                      kestrel_gguf_n_tensors(g) == (int64_t)n_t, "api header");
            kestrel_tensor_info ti;
            kestrel_gguf_tensor(g, 3, &ti);
            CHECK(strcmp(ti.name, "w.q4_k") == 0 && strcmp(ti.type_name, "Q4_K") == 0 &&
                      ti.n_dims == 2 && ti.ne[0] == 256 && ti.ne[1] == 3 && ti.nbytes == 3 * 144 &&
                      ti.offset == f->tensors[3].offset, "api tensor info");
            kestrel_gguf_close(g);
        }
        gguf_close(f);
        unlink(path);
    }
    for (size_t i = 0; i < n_t; i++)
        free(tdata[i]);
}

/* Rewriting a llama.cpp-written file through copy_kv/add_tensor gives the same bytes. */
static void test_copy_identical(const char *name)
{
    char src[512], dst[128];
    model_path(src, sizeof src, name);
    tmp_path(dst, sizeof dst, "copy.gguf");
    gguf_file *f = gguf_open(src);
    CHECK(f != NULL, "open %s", src);
    if (!f)
        return;
    gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < f->n_kv; i++)
        gguf_writer_copy_kv(w, &f->kv[i]);
    for (int64_t i = 0; i < f->n_tensors; i++) {
        const gguf_tensor *t = &f->tensors[i];
        gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data);
    }
    CHECK(gguf_writer_write(w, dst) == 0, "write copy: %s", kestrel_last_error());
    gguf_writer_free(w);
    size_t n_a = 0, n_b = 0;
    uint8_t *a = read_whole(src, &n_a), *b = read_whole(dst, &n_b);
    CHECK(a && b && n_a == n_b && memcmp(a, b, n_a) == 0,
          "%s rewritten byte for byte (%zu vs %zu bytes)", name, n_a, n_b);
    free(a);
    free(b);
    gguf_close(f);
    unlink(dst);
}

static void test_writer_errors(void)
{
    char path[128];
    tmp_path(path, sizeof path, "bad-writer.gguf");
    static const int64_t ne_bad[2] = { 33, 2 };
    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_tensor(w, "x", KT_Q8_0, 2, ne_bad, NULL);
    CHECK(gguf_writer_write(w, path) == -1, "row not a multiple of the block size");
    CHECK(strstr(kestrel_last_error(), path) && strstr(kestrel_last_error(), "'x'"),
          "error names path and tensor: %s", kestrel_last_error());
    CHECK(access(path, F_OK) != 0, "no file written");
    gguf_writer_free(w);

    static const int64_t ne[1] = { 4 };
    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "x", KT_F32, 1, ne, NULL);
    gguf_writer_add_tensor(w, "x", KT_F32, 1, ne, NULL);
    CHECK(gguf_writer_write(w, path) == -1 && strstr(kestrel_last_error(), "duplicate"),
          "duplicate tensor: %s", kestrel_last_error());
    gguf_writer_free(w);

    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "x", 99, 1, ne, NULL);
    CHECK(gguf_writer_write(w, path) == -1 && strstr(kestrel_last_error(), "99"),
          "unknown type: %s", kestrel_last_error());
    gguf_writer_free(w);

    w = gguf_writer_new();
    gguf_writer_set_alignment(w, 48);
    CHECK(gguf_writer_write(w, path) == -1, "alignment 48 rejected");
    gguf_writer_free(w);

    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "zeros", KT_F32, 1, ne, NULL); /* NULL data: zeros */
    const char *missing = "/nonexistent-dir/x.gguf";
    CHECK(gguf_writer_write(w, missing) == -1 && strstr(kestrel_last_error(), missing),
          "unwritable path: %s", kestrel_last_error());
    if (access("/dev/full", W_OK) == 0) {
        CHECK(gguf_writer_write(w, "/dev/full") == -1 &&
                  strstr(kestrel_last_error(), "/dev/full"),
              "full disk reported: %s", kestrel_last_error());
    }
    CHECK(gguf_writer_write(w, path) == 0, "NULL data written as zeros");
    gguf_writer_free(w);
    gguf_file *f = gguf_open(path);
    CHECK(f && f->n_tensors == 1 && f->tensors[0].nbytes == 16 &&
              memcmp(f->tensors[0].data, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) == 0,
          "zeros read back");
    gguf_close(f);
    unlink(path);
}

/* A 128k-entry string array (a large vocabulary) opens quickly. */
static void test_big_string_array(void)
{
    enum { N = 131072 };
    char *pool = malloc((size_t)N * 16);
    const char **v = malloc(N * sizeof *v);
    for (int i = 0; i < N; i++) {
        snprintf(pool + (size_t)i * 16, 16, "tok%u", (unsigned)i);
        v[i] = pool + (size_t)i * 16;
    }
    char path[128];
    tmp_path(path, sizeof path, "vocab.gguf");
    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", v, N);
    CHECK(gguf_writer_write(w, path) == 0, "write big vocab");
    gguf_writer_free(w);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gguf_file *f = gguf_open(path);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(f != NULL, "open big vocab: %s", kestrel_last_error());
    CHECK(ms < 500, "128k strings parsed in %.1f ms", ms);
    if (f) {
        const gguf_kv *kv = gguf_find(f, "tokenizer.ggml.tokens");
        CHECK(kv && kv->n == N && str_is(gguf_arr_str(kv, N - 1), "tok131071") &&
                  str_is(gguf_arr_str(kv, 77777), "tok77777"), "big vocab elements");
    }
    gguf_close(f);
    unlink(path);
    free(pool);
    free(v);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kestrel-gguf-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_stories();
    test_synth();
    test_open_all_shared();
    test_writer_round_trip();
    test_copy_identical("stories260K.gguf");
    test_copy_identical("synth-kernels-Q4_K_M.gguf");
    test_copy_identical("synth-kernels-BF16.gguf");
    test_writer_errors();
    test_big_string_array();
    rmdir(tmpdir);
    return test_report();
}
