/* kestrel synth: tiny random models of several types load and decode, the same
 * seed gives the same bytes whatever the thread count, metadata and the type
 * mix are as llama-quantize makes them; plus the bench helpers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kestrel.h"
#include "quant/quant.h"
#include "synth.h"
#include "test.h"

static char tmpdir[64];

static void tmp_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmpdir, name);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    if (b)
        *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static bool same_bytes(const char *a, const char *b)
{
    size_t la, lb;
    unsigned char *x = slurp(a, &la), *y = slurp(b, &lb);
    bool same = x && y && la == lb && la > 0 && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

static kestrel_synth_params tiny_params(const char *type, uint64_t seed, int threads)
{
    kestrel_synth_params p = kestrel_synth_default_params();
    p.shape = "tiny";
    p.type = type;
    p.seed = seed;
    p.n_threads = threads;
    return p;
}

/* The type name of a tensor in a GGUF, or "" when absent. */
static const char *tensor_type(kestrel_gguf *g, const char *name)
{
    for (int64_t i = 0; i < kestrel_gguf_n_tensors(g); i++) {
        kestrel_tensor_info t;
        kestrel_gguf_tensor(g, i, &t);
        if (strcmp(t.name, name) == 0)
            return t.type_name;
    }
    return "";
}

static bool all_finite(const float *v, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return false;
    return true;
}

static void test_types_load_and_decode(void)
{
    static const struct {
        const char *type, *ftype_name;
    } cases[] = {
        { "Q4_0", "Q4_0" }, { "Q8_0", "Q8_0" },       { "Q4_K_M", "Q4_K - Medium" }, { "F16", "F16" },
        { "Q6_K", "Q6_K" }, { "Q5_1", "Q5_1" },       { "F32", "all F32" },          { "Q3_K_M", "Q3_K - Medium" },
        { "Q2_K", "Q2_K - Medium" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char path[128], name[64];
        snprintf(name, sizeof name, "tiny-%s.gguf", cases[c].type);
        tmp_path(path, sizeof path, name);
        kestrel_synth_params p = tiny_params(cases[c].type, 7, 2);
        CHECK(kestrel_synth(path, &p) == 0, "synth %s: %s", cases[c].type, kestrel_last_error());
        kestrel_model *m = kestrel_model_load(path);
        CHECK(m != NULL, "load %s: %s", cases[c].type, kestrel_last_error());
        if (!m)
            continue;
        kestrel_model_info info;
        kestrel_model_get_info(m, &info);
        CHECK(strcmp(info.arch, "llama") == 0, "arch %s", info.arch);
        CHECK(info.n_embd == 256 && info.n_layer == 2 && info.n_head == 4 && info.n_head_kv == 2 &&
                  info.n_ff == 512 && info.n_vocab == 512 && info.n_ctx_train == 512,
              "%s shape: embd %d layers %d heads %d/%d ff %d vocab %d ctx %d", cases[c].type, info.n_embd,
              info.n_layer, info.n_head, info.n_head_kv, info.n_ff, info.n_vocab, info.n_ctx_train);
        /* token_embd + 2 x (4 attention + 3 ffn matrices + 2 norms) + output_norm + output */
        uint64_t expect_params = 256ull * 512 * 2 + 2 * (256ull * 256 * 2 + 256ull * 128 * 2 + 256ull * 512 * 3 +
                                                         2 * 256) + 256;
        CHECK(info.n_params == expect_params, "%s params %llu, expected %llu", cases[c].type,
              (unsigned long long)info.n_params, (unsigned long long)expect_params);
        CHECK(strcmp(kestrel_model_ftype_name(m), cases[c].ftype_name) == 0, "%s ftype name '%s'",
              cases[c].type, kestrel_model_ftype_name(m));
        CHECK(info.type_name && *info.type_name, "%s has a type name", cases[c].type);
        CHECK(kestrel_token_bos(m) == 1 && kestrel_token_eos(m) == 2, "synth vocab bos/eos");

        kestrel_context_params cp = kestrel_context_default_params();
        cp.n_ctx = 32;
        cp.n_batch = 8;
        cp.n_threads = 2;
        kestrel_context *ctx = kestrel_context_new(m, &cp);
        CHECK(ctx != NULL, "context: %s", kestrel_last_error());
        if (ctx) {
            kestrel_token toks[5] = { 1, 100, 259, 300, 511 };
            CHECK(kestrel_decode(ctx, toks, 4, 0, true) == 0, "decode: %s", kestrel_last_error());
            const float *l0 = kestrel_logits(ctx, 0), *l3 = kestrel_logits(ctx, 3);
            CHECK(l0 && l3 && all_finite(l0, 512) && all_finite(l3, 512), "%s logits finite", cases[c].type);
            bool varied = false;
            for (int i = 1; l3 && i < 512; i++)
                varied |= l3[i] != l3[0];
            CHECK(varied, "%s logits vary", cases[c].type);
            CHECK(kestrel_decode(ctx, &toks[4], 1, 4, false) == 0, "decode one: %s", kestrel_last_error());
            const float *l = kestrel_logits(ctx, -1);
            CHECK(l && all_finite(l, 512), "%s next logits finite", cases[c].type);
            kestrel_context_free(ctx);
        }
        /* the synthesized vocab tokenizes any text through byte fallback */
        kestrel_token ids[64];
        int n = kestrel_tokenize(m, "hello, wörld", 13, ids, 64, true, false);
        CHECK(n > 1 && ids[0] == 1, "tokenize with the synth vocab: %d", n);
        kestrel_model_free(m);
    }
}

static void test_determinism(void)
{
    char a[128], b[128], c[128];
    tmp_path(a, sizeof a, "det-a.gguf");
    tmp_path(b, sizeof b, "det-b.gguf");
    tmp_path(c, sizeof c, "det-c.gguf");
    kestrel_synth_params p1 = tiny_params("Q4_K_M", 1234, 1), p2 = tiny_params("Q4_K_M", 1234, 3),
                         p3 = tiny_params("Q4_K_M", 1235, 2);
    CHECK(kestrel_synth(a, &p1) == 0 && kestrel_synth(b, &p2) == 0 && kestrel_synth(c, &p3) == 0, "synth: %s",
          kestrel_last_error());
    CHECK(same_bytes(a, b), "same seed, 1 vs 3 threads: same bytes");
    CHECK(!same_bytes(a, c), "another seed: other bytes");
}

static void test_metadata_and_mix(void)
{
    char path[128];
    tmp_path(path, sizeof path, "tiny-Q4_K_M.gguf"); /* from test_types_load_and_decode */
    kestrel_gguf *g = kestrel_gguf_open(path);
    CHECK(g != NULL, "open: %s", kestrel_last_error());
    if (!g)
        return;
    /* llama-quantize's Q4_K_M for 2 layers: Q6_K output, blk.1 attn_v / ffn_down (use_more_bits) */
    CHECK(strcmp(tensor_type(g, "output.weight"), "Q6_K") == 0, "output Q6_K");
    CHECK(strcmp(tensor_type(g, "token_embd.weight"), "Q4_K") == 0, "token_embd Q4_K");
    CHECK(strcmp(tensor_type(g, "blk.0.attn_v.weight"), "Q4_K") == 0, "blk.0 attn_v Q4_K");
    CHECK(strcmp(tensor_type(g, "blk.1.attn_v.weight"), "Q6_K") == 0, "blk.1 attn_v Q6_K");
    CHECK(strcmp(tensor_type(g, "blk.1.ffn_down.weight"), "Q6_K") == 0, "blk.1 ffn_down Q6_K");
    CHECK(strcmp(tensor_type(g, "blk.0.ffn_down.weight"), "Q4_K") == 0, "blk.0 ffn_down Q4_K");
    CHECK(strcmp(tensor_type(g, "blk.0.attn_norm.weight"), "F32") == 0, "norms F32");
    CHECK(strcmp(tensor_type(g, "output_norm.weight"), "F32") == 0, "output_norm F32");
    CHECK(kestrel_gguf_n_tensors(g) == 21, "21 tensors, got %lld", (long long)kestrel_gguf_n_tensors(g));
    bool saw_ftype = false, saw_tokens = false, saw_arch = false;
    for (int64_t i = 0; i < kestrel_gguf_n_kv(g); i++) {
        char v[256];
        const char *k = kestrel_gguf_kv_key(g, i);
        kestrel_gguf_kv_format(g, i, v, sizeof v, 2);
        if (strcmp(k, "general.file_type") == 0)
            saw_ftype = strcmp(v, "15") == 0;
        if (strcmp(k, "tokenizer.ggml.tokens") == 0)
            saw_tokens = strstr(v, "512 items") != NULL;
        if (strcmp(k, "general.architecture") == 0)
            saw_arch = strcmp(v, "\"llama\"") == 0;
    }
    CHECK(saw_ftype && saw_tokens && saw_arch, "file_type 15, 512 tokens, llama arch");
    kestrel_gguf_close(g);

    /* the mix rules */
    const synth_ftype *q4km = synth_find_ftype("Q4_K_M"), *q40 = synth_find_ftype("Q4_0"),
                      *q80 = synth_find_ftype("Q8_0"), *f16 = synth_find_ftype("F16"),
                      *q3km = synth_find_ftype("Q3_K_M"), *q2k = synth_find_ftype("Q2_K");
    CHECK(q4km && q40 && q80 && f16 && q3km && q2k && !synth_find_ftype("Q9_9"), "recipes");
    if (!(q4km && q40 && q80 && f16 && q3km && q2k))
        return;
    CHECK(synth_matrix_type(q40, ROLE_OUTPUT, 0, 22, 8, 2048, false, false) == KT_Q6_K, "Q4_0 output Q6_K");
    CHECK(synth_matrix_type(q40, ROLE_TOKEN_EMBD, 0, 22, 8, 2048, false, false) == KT_Q4_0, "Q4_0 embd");
    CHECK(synth_matrix_type(q40, ROLE_TOKEN_EMBD, 0, 22, 8, 2048, true, false) == KT_Q6_K, "tied embd = output");
    CHECK(synth_matrix_type(q40, ROLE_OUTPUT, 0, 22, 8, 2048, false, true) == KT_Q4_0, "pure");
    CHECK(synth_matrix_type(q80, ROLE_OUTPUT, 0, 22, 8, 2048, false, false) == KT_Q8_0, "Q8_0 output");
    CHECK(synth_matrix_type(f16, ROLE_OUTPUT, 0, 22, 8, 2048, false, false) == KT_F16, "F16 output");
    /* 22 layers: use_more_bits is true for 0, 1 (< n/8), 19, 20, 21 (>= 7n/8), and 4, 7, .., 16 */
    static const int more[22] = { 1, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 1, 1 };
    bool ok = true;
    for (int l = 0; l < 22; l++) {
        int want = more[l] ? KT_Q6_K : KT_Q4_K;
        ok &= synth_matrix_type(q4km, ROLE_ATTN_V, l, 22, 8, 2048, false, false) == want;
        ok &= synth_matrix_type(q4km, ROLE_FFN_DOWN, l, 22, 8, 5632, false, false) == want;
        ok &= synth_matrix_type(q4km, ROLE_ATTN_Q, l, 22, 8, 2048, false, false) == KT_Q4_K;
    }
    CHECK(ok, "Q4_K_M use_more_bits over 22 layers");
    CHECK(synth_matrix_type(q3km, ROLE_ATTN_V, 1, 22, 8, 2048, false, false) == KT_Q5_K &&
              synth_matrix_type(q3km, ROLE_ATTN_V, 2, 22, 8, 2048, false, false) == KT_Q4_K &&
              synth_matrix_type(q3km, ROLE_ATTN_OUT, 5, 22, 8, 2048, false, false) == KT_Q4_K &&
              synth_matrix_type(q3km, ROLE_FFN_UP, 5, 22, 8, 2048, false, false) == KT_Q3_K,
          "Q3_K_M mix");
    CHECK(synth_matrix_type(q2k, ROLE_ATTN_V, 3, 22, 8, 2048, false, false) == KT_Q4_K &&
              synth_matrix_type(q2k, ROLE_ATTN_V, 3, 22, 2, 2048, false, false) == KT_Q3_K &&
              synth_matrix_type(q2k, ROLE_FFN_DOWN, 3, 22, 2, 5632, false, false) == KT_Q3_K,
          "Q2_K mix");
    /* rows of 896 (Qwen2.5 0.5B) cannot hold 256-blocks: legacy fallbacks */
    CHECK(synth_matrix_type(q4km, ROLE_ATTN_Q, 3, 24, 7, 896, true, false) == KT_Q5_0, "Q4_K -> Q5_0");
    CHECK(synth_matrix_type(q4km, ROLE_TOKEN_EMBD, 0, 24, 7, 896, true, false) == KT_Q8_0, "output -> Q8_0");
    CHECK(synth_matrix_type(q4km, ROLE_FFN_DOWN, 0, 24, 7, 4864, true, false) == KT_Q6_K, "4864 rows keep K");
}

static void test_options_and_errors(void)
{
    char path[128];
    tmp_path(path, sizeof path, "layers.gguf");
    kestrel_synth_params p = tiny_params("Q8_0", 3, 2);
    p.n_layer = 3;
    CHECK(kestrel_synth(path, &p) == 0, "synth --layers 3: %s", kestrel_last_error());
    kestrel_model *m = kestrel_model_load(path);
    CHECK(m != NULL, "load: %s", kestrel_last_error());
    if (m) {
        kestrel_model_info info;
        kestrel_model_get_info(m, &info);
        CHECK(info.n_layer == 3, "3 layers, got %d", info.n_layer);
        /* per token: everything but token_embd, plus one of its rows */
        kestrel_gguf *g = kestrel_gguf_open(path);
        uint64_t want = 0;
        for (int64_t i = 0; g && i < kestrel_gguf_n_tensors(g); i++) {
            kestrel_tensor_info t;
            kestrel_gguf_tensor(g, i, &t);
            want += strcmp(t.name, "token_embd.weight") == 0 ? t.nbytes / (uint64_t)t.ne[1] : t.nbytes;
        }
        kestrel_gguf_close(g);
        CHECK(kestrel_model_bytes_per_token(m) == want, "bytes per token %llu, want %llu",
              (unsigned long long)kestrel_model_bytes_per_token(m), (unsigned long long)want);
        CHECK(kestrel_model_kv_bytes_per_pos(m, KESTREL_KV_F16) == 2ull * 3 * 128 * 2, "kv bytes per position");
        CHECK(kestrel_model_kv_bytes_per_pos(m, KESTREL_KV_F32) == 2ull * 3 * 128 * 4, "kv f32");
        kestrel_model_free(m);
    }

    tmp_path(path, sizeof path, "never-written.gguf");
    p = tiny_params("Q4_0", 3, 2);
    p.shape = "no-such-shape";
    CHECK(kestrel_synth(path, &p) == -1 && strstr(kestrel_last_error(), "no-such-shape"), "unknown shape: %s",
          kestrel_last_error());
    p = tiny_params("Q7_X", 3, 2);
    CHECK(kestrel_synth(path, &p) == -1 && strstr(kestrel_last_error(), "Q7_X"), "unknown type");
    p = tiny_params("Q4_0", 3, 2);
    p.vocab_path = "/nonexistent/vocab.gguf";
    CHECK(kestrel_synth(path, &p) == -1, "missing vocab file");
    CHECK(access(path, F_OK) != 0, "no file is left behind after a failure");
    /* a real shape keeps its vocab size: a 512-token vocab does not fit TinyLlama */
    char tiny_path[128];
    tmp_path(tiny_path, sizeof tiny_path, "tiny-Q4_0.gguf");
    p = tiny_params("Q4_0", 3, 2);
    p.shape = "tinyllama-1.1b";
    p.vocab_path = tiny_path;
    CHECK(kestrel_synth(path, &p) == -1 && strstr(kestrel_last_error(), "512"), "vocab size mismatch: %s",
          kestrel_last_error());
    p.shared_dir = "/nonexistent";
    p.vocab_path = NULL;
    CHECK(kestrel_synth(path, &p) == -1 && strstr(kestrel_last_error(), "vocab"), "default vocab missing: %s",
          kestrel_last_error());
    p = tiny_params("Q4_0", 3, 2);
    CHECK(kestrel_synth("/nonexistent-dir/x.gguf", &p) == -1, "unwritable path");

    bool names_ok = kestrel_synth_shape_name(0, NULL) && !kestrel_synth_shape_name(1000, NULL) &&
                    kestrel_synth_type_name(0) && !kestrel_synth_type_name(-1);
    const char *desc = NULL;
    for (int i = 0; kestrel_synth_shape_name(i, &desc); i++)
        names_ok &= desc && *desc && synth_find_shape(kestrel_synth_shape_name(i, NULL)) != NULL;
    CHECK(names_ok, "shape and type lists");
    const synth_shape *tl = synth_find_shape("tinyllama-1.1b"), *l3 = synth_find_shape("llama-3.2-1b"),
                      *qw = synth_find_shape("qwen2.5-0.5b");
    CHECK(tl && tl->n_embd == 2048 && tl->n_layer == 22 && tl->n_head == 32 && tl->n_head_kv == 4 &&
              tl->n_ff == 5632 && tl->n_vocab == 32000 && !tl->tied,
          "tinyllama shape");
    CHECK(l3 && l3->n_layer == 16 && l3->n_head_kv == 8 && l3->n_ff == 8192 && l3->n_vocab == 128256 && l3->tied &&
              l3->rope_base == 500000.0f,
          "llama 3.2 shape");
    CHECK(qw && qw->n_embd == 896 && qw->n_layer == 24 && qw->n_head == 14 && qw->n_head_kv == 2 &&
              qw->n_ff == 4864 && qw->n_vocab == 151936 && qw->tied,
          "qwen shape");
}

/* A copied vocab (the Llama 2 one from ../shared) with the tiny shape. */
static void test_copied_vocab(void)
{
    char vocab[512], path[128];
    snprintf(vocab, sizeof vocab, "%s/vocab/ggml-vocab-llama-spm.gguf", test_shared_dir());
    if (access(vocab, R_OK) != 0) {
        printf("skip: %s not found\n", vocab);
        return;
    }
    tmp_path(path, sizeof path, "tiny-spm.gguf");
    kestrel_synth_params p = tiny_params("Q4_0", 5, 2);
    p.vocab_path = vocab;
    CHECK(kestrel_synth(path, &p) == 0, "synth with a copied vocab: %s", kestrel_last_error());
    kestrel_model *m = kestrel_model_load(path), *v = kestrel_model_load_vocab(vocab);
    CHECK(m && v, "load: %s", kestrel_last_error());
    if (m && v) {
        CHECK(kestrel_n_vocab(m) == 32000, "32000 tokens, got %d", kestrel_n_vocab(m));
        kestrel_token a[32], b[32];
        const char *text = "The quick brown fox";
        int na = kestrel_tokenize(m, text, strlen(text), a, 32, true, false);
        int nb = kestrel_tokenize(v, text, strlen(text), b, 32, true, false);
        CHECK(na > 0 && na == nb && memcmp(a, b, (size_t)na * sizeof a[0]) == 0, "same tokens as the vocab file");
    }
    kestrel_model_free(m);
    kestrel_model_free(v);
}

static void test_bandwidth_probe(void)
{
    double bw = kestrel_read_bandwidth(2, 8u << 20, 2);
    CHECK(bw > 1e8, "bandwidth probe gives a positive rate: %g", bw);
    CHECK(kestrel_read_bandwidth(1, 100, 1) < 0, "a tiny buffer is refused");
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/kestrel-synth-XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_types_load_and_decode();
    test_determinism();
    test_metadata_and_mix();
    test_options_and_errors();
    test_copied_vocab();
    test_bandwidth_probe();
    cleanup();
    return test_report();
}
