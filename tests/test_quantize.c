/* kestrel quantize against llama-quantize: the shared synth-kernels-<T> and
 * gutenberg files were written by llama-quantize (c392e50) from the same F16
 * inputs, so every tensor (type and bytes) and every metadata entry must match.
 * No metadata key legitimately differs: kestrel sets general.file_type and
 * general.quantization_version as llama-quantize does, in the same place, so
 * the whole files are compared too. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "run_cli.h"

#include "error.h"
#include "gguf.h"
#include "kestrel.h"
#include "quant/quant.h"
#include "quantize.h"
#include "threadpool.h"

static char tmp_dir[256];
static char shared_models[512];

static void model_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", shared_models, name);
}

static void tmp_file(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", tmp_dir, name);
}

static bool exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* Metadata keys whose values may legitimately differ from llama-quantize's
 * output: none so far (the list is kept for future inputs). */
static bool key_may_differ(const char *key)
{
    (void)key;
    return false;
}

static bool same_kv(const gguf_kv *a, const gguf_kv *b)
{
    return strcmp(a->key, b->key) == 0 && a->type == b->type && a->elem_type == b->elem_type && a->n == b->n &&
           a->size == b->size && memcmp(a->data, b->data, (size_t)a->size) == 0;
}

static bool files_equal(const char *a, const char *b)
{
    size_t na, nb;
    char *pa = cli_slurp(a, &na), *pb = cli_slurp(b, &nb);
    bool eq = na == nb && na > 0 && memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return eq;
}

/* Every tensor of ref (looked up by name in got) has the same type, shape and
 * bytes; the metadata is the same, key by key and in order. */
static void compare_gguf(const char *got_path, const char *ref_path, const char *what)
{
    gguf_file *got = gguf_open(got_path), *ref = gguf_open(ref_path);
    CHECK(got && ref, "%s: open: %s", what, kestrel_last_error());
    if (!got || !ref) {
        gguf_close(got);
        gguf_close(ref);
        return;
    }
    CHECK(got->n_tensors == ref->n_tensors, "%s: %lld tensors, want %lld", what, (long long)got->n_tensors,
          (long long)ref->n_tensors);
    int bad = 0;
    for (int64_t i = 0; i < ref->n_tensors; i++) {
        const gguf_tensor *r = &ref->tensors[i];
        const gguf_tensor *g = gguf_find_tensor(got, r->name);
        if (!g) {
            CHECK(0, "%s: tensor %s missing", what, r->name);
            continue;
        }
        bool ok = g->type == r->type && g->n_dims == r->n_dims && memcmp(g->ne, r->ne, sizeof g->ne) == 0 &&
                  g->nbytes == r->nbytes && memcmp(g->data, r->data, (size_t)r->nbytes) == 0;
        if (!ok && bad++ < 5)
            CHECK(0, "%s: tensor %s: %s vs llama-quantize's %s%s", what, r->name, kt_type_name((int)g->type),
                  kt_type_name((int)r->type), g->type == r->type ? " (bytes differ)" : "");
        /* llama-quantize's order: same position too */
        if (ok && strcmp(got->tensors[i].name, r->name) != 0 && bad++ < 5)
            CHECK(0, "%s: tensor %lld is %s, llama-quantize has %s there", what, (long long)i, got->tensors[i].name,
                  r->name);
    }
    CHECK(bad == 0, "%s: %d tensors differ", what, bad);

    CHECK(got->n_kv == ref->n_kv, "%s: %lld metadata entries, want %lld", what, (long long)got->n_kv,
          (long long)ref->n_kv);
    for (int64_t i = 0; i < ref->n_kv && i < got->n_kv; i++) {
        const gguf_kv *r = &ref->kv[i];
        if (key_may_differ(r->key))
            continue;
        const gguf_kv *g = &got->kv[i];
        CHECK(same_kv(g, r), "%s: metadata %lld: %s (%s) vs llama-quantize's %s (%s)", what, (long long)i, g->key,
              gguf_value_type_name(g->type), r->key, gguf_value_type_name(r->type));
    }
    CHECK(files_equal(got_path, ref_path), "%s: the whole file equals llama-quantize's", what);
    gguf_close(got);
    gguf_close(ref);
}

static void test_synth_kernels(void)
{
    static const char *const types[] = { "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K",
                                         "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "BF16" };
    char in[600], out[400], ref[600], name[64];
    model_path(in, sizeof in, "synth-kernels-f16.gguf");
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        snprintf(name, sizeof name, "synth-%s.gguf", types[i]);
        tmp_file(out, sizeof out, name);
        snprintf(name, sizeof name, "synth-kernels-%s.gguf", types[i]);
        model_path(ref, sizeof ref, name);
        kestrel_quantize_stats st;
        int rc = kestrel_quantize(in, out, types[i], 2, NULL, NULL, &st);
        CHECK(rc == 0, "quantize synth to %s: %s", types[i], kestrel_last_error());
        if (rc)
            continue;
        struct stat sb;
        CHECK(stat(ref, &sb) == 0 && st.file_bytes == (uint64_t)sb.st_size && st.n_tensors == 21,
              "%s: stats: %llu bytes, %d tensors", types[i], (unsigned long long)st.file_bytes, st.n_tensors);
        compare_gguf(out, ref, name);
        unlink(out);
    }
}

/* Thread count does not change the bytes. */
static void test_thread_counts(void)
{
    char in[600], out[400], ref[600];
    model_path(in, sizeof in, "synth-kernels-f16.gguf");
    model_path(ref, sizeof ref, "synth-kernels-Q3_K_M.gguf");
    tmp_file(out, sizeof out, "threads.gguf");
    static const int counts[] = { 1, 3, 7 };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        CHECK(kestrel_quantize(in, out, "q3_k_m", counts[i], NULL, NULL, NULL) == 0, "%d threads: %s", counts[i],
              kestrel_last_error());
        CHECK(files_equal(out, ref), "%d threads: same bytes as llama-quantize", counts[i]);
    }
    unlink(out);
}

static void test_draft(void)
{
    static const char *const types[] = { "Q8_0", "Q4_0" };
    char in[600], out[400], ref[600], name[64];
    model_path(in, sizeof in, "gutenberg-11M-draft-f16.gguf");
    for (size_t i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "draft-%s.gguf", types[i]);
        tmp_file(out, sizeof out, name);
        snprintf(name, sizeof name, "gutenberg-11M-draft-%s.gguf", types[i]);
        model_path(ref, sizeof ref, name);
        int rc = kestrel_quantize(in, out, types[i], 0, NULL, NULL, NULL);
        CHECK(rc == 0, "quantize draft to %s: %s", types[i], kestrel_last_error());
        if (rc == 0)
            compare_gguf(out, ref, name);
        unlink(out);
    }
}

/* The per-tensor rules on their own (llama_tensor_get_type). */
static void test_type_rules(void)
{
    CHECK(kq_find_recipe("Q4_K_M") && kq_find_recipe("q4_k_m")->ftype == 15, "Q4_K_M is ftype 15");
    CHECK(kq_find_recipe("Q4_K") == kq_find_recipe("Q4_K_M"), "Q4_K is Q4_K_M");
    CHECK(kq_find_recipe("15") == kq_find_recipe("Q4_K_M"), "ftype numbers are accepted");
    CHECK(kq_find_recipe("BF16")->ftype == 32 && kq_find_recipe("Q8_0")->ftype == 7, "BF16 32, Q8_0 7");
    CHECK(!kq_find_recipe("Q4_K_X") && !kq_find_recipe("") && !kq_find_recipe("99"), "unknown recipes");

    /* 8 layers, untied: attn_v and ffn_down of layers 0, 3, 6, 7 get Q6_K under Q4_K_M */
    kq_model m = { .has_output = true, .n_layer = 8, .n_gqa = 2, .n_attention_wv = 8 };
    const kq_recipe *q4km = kq_find_recipe("Q4_K_M");
    kq_counters c = { 0 };
    char want[9] = "", got_v[9] = "", got_d[9] = "";
    for (int l = 0; l < 8; l++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.attn_v.weight", l);
        got_v[l] = kq_tensor_type(&m, &c, q4km, name, 512) == KT_Q6_K ? '6' : '4';
        snprintf(name, sizeof name, "blk.%d.ffn_down.weight", l);
        got_d[l] = kq_tensor_type(&m, &c, q4km, name, 1536) == KT_Q6_K ? '6' : '4';
        want[l] = (l == 0 || l == 3 || l == 6 || l == 7) ? '6' : '4';
    }
    CHECK(strcmp(got_v, want) == 0 && strcmp(got_d, want) == 0, "use_more_bits layers: v %s, down %s, want %s",
          got_v, got_d, want);

    kq_counters c2 = { 0 };
    CHECK(kq_tensor_type(&m, &c2, q4km, "output.weight", 512) == KT_Q6_K, "output Q6_K");
    CHECK(kq_tensor_type(&m, &c2, q4km, "token_embd.weight", 512) == KT_Q4_K, "untied token_embd keeps Q4_K");
    m.has_output = false;
    CHECK(kq_tensor_type(&m, &c2, q4km, "token_embd.weight", 512) == KT_Q6_K, "tied token_embd gets Q6_K");
    CHECK(kq_tensor_type(&m, &c2, kq_find_recipe("Q8_0"), "token_embd.weight", 512) == KT_Q8_0, "Q8_0 output");
    CHECK(kq_tensor_type(&m, &c2, q4km, "token_embd.weight", 64) == KT_Q8_0,
          "output rows that 256 does not divide: Q8_0");
    CHECK(kq_tensor_type(&m, &c2, kq_find_recipe("Q2_K"), "blk.0.attn_output.weight", 512) == KT_Q3_K,
          "Q2_K attn_output Q3_K");
    m.n_gqa = 4;
    CHECK(kq_tensor_type(&m, &c2, kq_find_recipe("Q2_K"), "blk.0.attn_v.weight", 512) == KT_Q4_K,
          "Q2_K attn_v with GQA 4: Q4_K");

    /* fallbacks for rows that 256 does not divide */
    CHECK(kq_tensor_type(&m, &c2, q4km, "blk.0.attn_q.weight", 64) == KT_Q5_0, "Q4_K -> Q5_0");
    CHECK(kq_tensor_type(&m, &c2, kq_find_recipe("Q5_K_S"), "blk.0.attn_q.weight", 64) == KT_Q5_1, "Q5_K -> Q5_1");
    CHECK(kq_tensor_type(&m, &c2, kq_find_recipe("Q6_K"), "blk.0.attn_q.weight", 64) == KT_Q8_0, "Q6_K -> Q8_0");
    CHECK(kq_tensor_type(&m, &c2, kq_find_recipe("Q6_K"), "blk.0.ffn_down.weight", 172) == KT_F16,
          "Q6_K -> Q8_0 -> F16");
    CHECK(kq_tensor_type(&m, &c2, kq_find_recipe("Q3_K_S"), "blk.0.attn_q.weight", 64) == 20, "Q3_K -> IQ4_NL");
    CHECK(kq_tensor_type(&m, &c2, kq_find_recipe("Q4_0"), "blk.0.ffn_down.weight", 172) == -1 &&
              strstr(kestrel_last_error(), "172"),
          "Q4_0 has no fallback: %s", kestrel_last_error());

    CHECK(!kq_tensor_is_quantizable("blk.0.attn_norm.weight", 2) && !kq_tensor_is_quantizable("x.weight", 1) &&
              !kq_tensor_is_quantizable("blk.0.attn_q.bias", 2) && kq_tensor_is_quantizable("blk.0.attn_q.weight", 2),
          "which tensors are quantized");
}

/* llama-quantize's tensor order: outside the blocks first, then by layer
 * number (blk.10 after blk.2), then by name. */
static void test_order(void)
{
    static const char *const names[] = { "blk.10.b.weight", "token_embd.weight", "blk.2.z.weight",
                                         "blk.2.a.weight",  "output.weight",     "blk.0.x.weight",
                                         "blk.1.x.weight",  "a_first.weight" };
    static const char *const want[] = { "a_first.weight", "output.weight", "token_embd.weight", "blk.0.x.weight",
                                        "blk.1.x.weight", "blk.2.a.weight", "blk.2.z.weight",   "blk.10.b.weight" };
    char path[400];
    tmp_file(path, sizeof path, "order.gguf");
    gguf_writer *w = gguf_writer_new();
    static const int64_t ne[1] = { 4 };
    for (int i = 0; i < 8; i++)
        gguf_writer_add_tensor(w, names[i], KT_F32, 1, ne, NULL);
    CHECK(gguf_writer_write(w, path) == 0, "write order.gguf: %s", kestrel_last_error());
    gguf_writer_free(w);
    gguf_file *f = gguf_open(path);
    CHECK(f != NULL, "open order.gguf");
    if (f) {
        int64_t order[8];
        kq_tensor_order(f, order);
        int ok = 0;
        for (int i = 0; i < 8; i++)
            ok += strcmp(f->tensors[order[i]].name, want[i]) == 0;
        CHECK(ok == 8, "tensor order: %d of 8 in place", ok);
        gguf_close(f);
    }
    unlink(path);
}

/* stories260K is F32 with rows of 64 and 172: fallbacks and refusals. */
static void test_stories(void)
{
    char in[600], out[400];
    model_path(in, sizeof in, "stories260K.gguf");
    tmp_file(out, sizeof out, "stories.gguf");

    CHECK(kestrel_quantize(in, out, "Q6_K", 1, NULL, NULL, NULL) == 0, "stories Q6_K: %s", kestrel_last_error());
    gguf_file *f = gguf_open(out);
    CHECK(f != NULL, "open stories Q6_K");
    if (f) {
        const gguf_tensor *q = gguf_find_tensor(f, "blk.0.attn_q.weight");
        const gguf_tensor *d = gguf_find_tensor(f, "blk.0.ffn_down.weight");
        const gguf_tensor *e = gguf_find_tensor(f, "token_embd.weight");
        const gguf_tensor *n = gguf_find_tensor(f, "blk.0.attn_norm.weight");
        CHECK(q && q->type == KT_Q8_0 && d && d->type == KT_F16 && e && e->type == KT_Q8_0 && n &&
                  n->type == KT_F32,
              "stories Q6_K fallbacks: Q8_0 for rows of 64, F16 for 172, norms F32");
        uint32_t ft = 0;
        CHECK(gguf_get_u32(f, "general.file_type", &ft) && ft == 18, "file_type 18");
        gguf_close(f);
    }
    unlink(out);

    CHECK(kestrel_quantize(in, out, "Q4_0", 1, NULL, NULL, NULL) == -1 &&
              strstr(kestrel_last_error(), "ffn_down"),
          "stories Q4_0 refused as llama-quantize does: %s", kestrel_last_error());
    CHECK(!exists(out), "no output left after a refusal");
    CHECK(kestrel_quantize(in, out, "Q2_K", 1, NULL, NULL, NULL) == -1 && strstr(kestrel_last_error(), "IQ4_NL"),
          "stories Q2_K needs IQ4_NL: %s", kestrel_last_error());
    CHECK(!exists(out), "no output left");
    unlink(out);
}

static void test_errors(void)
{
    char in[600], q4[600], out[400];
    model_path(in, sizeof in, "synth-kernels-f16.gguf");
    model_path(q4, sizeof q4, "synth-kernels-Q4_0.gguf");
    tmp_file(out, sizeof out, "err.gguf");

    CHECK(kestrel_quantize(in, out, "Q4_K_X", 1, NULL, NULL, NULL) == -1 && strstr(kestrel_last_error(), "Q4_K_X"),
          "unknown type: %s", kestrel_last_error());
    CHECK(kestrel_quantize(q4, out, "Q8_0", 1, NULL, NULL, NULL) == -1 && strstr(kestrel_last_error(), "Q4_0"),
          "quantized input refused: %s", kestrel_last_error());
    CHECK(!exists(out), "no output for a quantized input");
    /* nothing to convert: every tensor already has its type, as llama-quantize allows */
    CHECK(kestrel_quantize(q4, out, "Q4_0", 1, NULL, NULL, NULL) == 0, "Q4_0 -> Q4_0 copies: %s",
          kestrel_last_error());
    unlink(out);
    /* a BF16 input: to BF16 again is a plain copy (llama-quantize's own output
     * comes back unchanged); to Q8_0 goes through bf16 -> f32 */
    char bf16[600];
    model_path(bf16, sizeof bf16, "synth-kernels-BF16.gguf");
    CHECK(kestrel_quantize(bf16, out, "BF16", 2, NULL, NULL, NULL) == 0 && files_equal(out, bf16),
          "BF16 -> BF16 reproduces the file: %s", kestrel_last_error());
    CHECK(kestrel_quantize(bf16, out, "Q8_0", 2, NULL, NULL, NULL) == 0, "BF16 -> Q8_0: %s", kestrel_last_error());
    gguf_file *g = gguf_open(out);
    const gguf_tensor *gt = g ? gguf_find_tensor(g, "blk.0.ffn_up.weight") : NULL;
    CHECK(gt && gt->type == KT_Q8_0, "BF16 -> Q8_0 output");
    gguf_close(g);
    unlink(out);
    const char *bad = "/nonexistent-dir/out.gguf";
    CHECK(kestrel_quantize(in, bad, "Q4_0", 1, NULL, NULL, NULL) == -1 && strstr(kestrel_last_error(), bad),
          "unwritable output: %s", kestrel_last_error());
    CHECK(kestrel_quantize("/nonexistent/in.gguf", out, "Q4_0", 1, NULL, NULL, NULL) == -1 &&
              strstr(kestrel_last_error(), "/nonexistent/in.gguf"),
          "missing input: %s", kestrel_last_error());
    CHECK(kestrel_quantize(in, in, "Q4_0", 1, NULL, NULL, NULL) == -1 && strstr(kestrel_last_error(), "overwrite"),
          "output = input refused: %s", kestrel_last_error());
}

static int n_progress;

static void count_progress(const kestrel_quantize_tensor *t, void *user)
{
    (void)user;
    if (t->index == n_progress + 1 && t->n_tensors == 21)
        n_progress++;
}

static void test_progress(void)
{
    char in[600], out[400];
    model_path(in, sizeof in, "synth-kernels-f16.gguf");
    tmp_file(out, sizeof out, "progress.gguf");
    n_progress = 0;
    CHECK(kestrel_quantize(in, out, "Q8_0", 2, count_progress, NULL, NULL) == 0 && n_progress == 21,
          "one progress call per tensor, in order: %d", n_progress);
    unlink(out);
}

static void test_cli(void)
{
    char in[600], q4[600], out[400];
    model_path(in, sizeof in, "synth-kernels-f16.gguf");
    model_path(q4, sizeof q4, "synth-kernels-Q4_K_M.gguf");
    tmp_file(out, sizeof out, "cli.gguf");

    cli_result r = run_kestrel((const char *[]){ "", "quantize", in, out, "Q4_K_M", "--threads", "2", NULL });
    CHECK(r.status == 0, "cli quantize: exit %d: %s", r.status, r.err);
    CHECK(strstr(r.err, "[ 17/ 21] blk.1.attn_v.weight") && strstr(r.err, "f16 -> q6_K") &&
              strstr(r.err, "[256, 128]") && strstr(r.err, "MiB ->"),
          "progress lines: %s", r.err);
    CHECK(strstr(r.err, "quantize: 21 tensors") && strstr(r.err, " s with 2 threads"), "summary line: %s", r.err);
    CHECK(files_equal(out, q4), "cli output equals llama-quantize's");
    cli_result_free(&r);
    unlink(out);

    r = run_kestrel((const char *[]){ "", "quantize", in, out, "Q9_9", NULL });
    CHECK(r.status == 1 && count_lines(r.err) == 1 && strncmp(r.err, "kestrel: ", 9) == 0 && strstr(r.err, "Q9_9"),
          "unknown type: exit %d: %s", r.status, r.err);
    cli_result_free(&r);

    r = run_kestrel((const char *[]){ "", "quantize", q4, out, "Q8_0", NULL });
    CHECK(r.status == 1 && count_lines(r.err) == 1 && strncmp(r.err, "kestrel: ", 9) == 0,
          "quantized input: exit %d: %s", r.status, r.err);
    CHECK(!exists(out), "no partial output");
    cli_result_free(&r);

    r = run_kestrel((const char *[]){ "", "quantize", in, "/nonexistent-dir/x.gguf", "Q8_0", NULL });
    CHECK(r.status == 1 && count_lines(r.err) == 1 && strstr(r.err, "kestrel: /nonexistent-dir/x.gguf"),
          "unwritable output: exit %d: %s", r.status, r.err);
    cli_result_free(&r);

    r = run_kestrel((const char *[]){ "", "quantize", in, out, NULL });
    CHECK(r.status == 2 && strstr(r.err, "usage"), "missing TYPE: exit %d", r.status);
    cli_result_free(&r);
    r = run_kestrel((const char *[]){ "", "quantize", in, out, "Q8_0", "--threads", "many", NULL });
    CHECK(r.status == 2, "bad --threads: exit %d", r.status);
    cli_result_free(&r);
    r = run_kestrel((const char *[]){ "", "quantize", in, out, "Q8_0", "--frobnicate", NULL });
    CHECK(r.status == 2, "unknown option: exit %d", r.status);
    cli_result_free(&r);
    r = run_kestrel((const char *[]){ "", "quantize", "--help", NULL });
    CHECK(r.status == 0 && strstr(r.out, "Q4_K_M"), "--help: exit %d", r.status);
    cli_result_free(&r);
    CHECK(!exists(out), "no output from failed runs");
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

/* The target model to Q4_K_M, timed (llama-quantize's bytes expected). */
static void test_timing_41m(void)
{
#ifdef UNDER_SANITIZER
    printf("gutenberg-41M -> Q4_K_M: skipped under the sanitizers (timing only)\n");
    return;
#endif
    char in[600], out[400], ref[600];
    model_path(in, sizeof in, "gutenberg-41M-f16.gguf");
    model_path(ref, sizeof ref, "gutenberg-41M-Q4_K_M.gguf");
    tmp_file(out, sizeof out, "41m.gguf");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    kestrel_quantize_stats st;
    int rc = kestrel_quantize(in, out, "Q4_K_M", 0, NULL, NULL, &st);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK(rc == 0, "41M Q4_K_M: %s", kestrel_last_error());
    if (rc == 0) {
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        printf("gutenberg-41M-f16 -> Q4_K_M: %.2f s with %d thread(s) (%.1f MiB -> %.1f MiB)\n", s, st.n_threads,
               (double)st.src_bytes / 1048576.0, (double)st.dst_bytes / 1048576.0);
        CHECK(files_equal(out, ref), "41M Q4_K_M equals llama-quantize's file");
    }
    unlink(out);
}

int main(void)
{
    snprintf(shared_models, sizeof shared_models, "%s/models", test_shared_dir());
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/kestrel-test-quantize-XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_type_rules();
    test_order();
    test_synth_kernels();
    test_thread_counts();
    test_draft();
    test_stories();
    test_errors();
    test_progress();
    test_cli();
    test_timing_41m();
    rmdir(tmp_dir);
    return test_report();
}
