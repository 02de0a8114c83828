/* kestrel synth: random-weight GGUFs of real shapes, Llama or one of the
 * other architectures kestrel runs.
 *
 * Every matrix is N(0, sigma^2), every norm 1 + N(0, 0.01^2) in F32, then
 * quantized with the reference (best-quality) quantizer of its type. Each row
 * draws from its own generator, seeded from (seed, tensor index, row), so the
 * bytes depend on the seed alone, not on the thread count. Tensors are made one
 * at a time on the thread pool and streamed to the file, so memory stays at one
 * tensor however large the model. */
#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "gguf.h"
#include "kestrel.h"
#include "quant/quant.h"
#include "rng.h"
#include "threadpool.h"

/* ---- shapes and recipes ----------------------------------------------------- */

static const synth_shape shapes[] = {
    { "tiny", "256 embd, 2 layers, 4/2 heads, ff 512, 512-token synthesized vocab (tests)",
      256, 2, 4, 2, 512, 512, 512, 10000.0f, 1e-5f, false, NULL, true, 0, 0 },
    { "small", "512 embd, 4 layers, 8/4 heads, ff 1536, Llama 2 vocab (quick benchmarks)",
      512, 4, 8, 4, 1536, 32000, 1024, 10000.0f, 1e-5f, false, "ggml-vocab-llama-spm.gguf", true, 0, 0 },
    { "tinyllama-1.1b", "TinyLlama 1.1B: 2048 embd, 22 layers, 32/4 heads, ff 5632, vocab 32000",
      2048, 22, 32, 4, 5632, 32000, 2048, 10000.0f, 1e-5f, false, "ggml-vocab-llama-spm.gguf", false, 0, 0 },
    { "llama-3.2-1b", "Llama 3.2 1B: 2048 embd, 16 layers, 32/8 heads, ff 8192, vocab 128256, tied",
      2048, 16, 32, 8, 8192, 128256, 131072, 500000.0f, 1e-5f, true, "ggml-vocab-llama-bpe.gguf", false, 0, 0 },
    { "qwen2.5-0.5b", "Qwen2.5 0.5B as llama arch (no qkv bias): 896 embd, 24 layers, 14/2 heads, ff 4864, vocab 151936, tied",
      896, 24, 14, 2, 4864, 151936, 32768, 1000000.0f, 1e-6f, true, "ggml-vocab-qwen2.gguf", false, 0, 0 },
    /* Architecture tests: small enough to commit, weights large enough that attention is not
     * uniform and every norm, bias and soft-cap changes the logits. */
    { "micro", "64 embd, 2 layers, 4/2 heads, ff 128, 512-token vocab, weights N(0, 0.125^2) (arch tests)",
      64, 2, 4, 2, 128, 512, 512, 10000.0f, 1e-5f, false, NULL, true, 0.125f, 0.1f },
    { "nano", "32 embd, 2 layers, 2/1 heads, ff 48, 512-token vocab, weights N(0, 0.18^2) (deep arch tests)",
      32, 2, 2, 1, 48, 512, 512, 10000.0f, 1e-5f, false, NULL, true, 0.18f, 0.1f },
};

/* llama_ftype numbers as general.file_type stores them. Q3_K, Q4_K and Q5_K
 * are llama-quantize's aliases of the _M recipes. */
static const synth_ftype ftypes[] = {
    { "F32", 0, KT_F32, MIX_NONE },        { "F16", 1, KT_F16, MIX_NONE },
    { "BF16", 32, KT_BF16, MIX_NONE },     { "Q8_0", 7, KT_Q8_0, MIX_NONE },
    { "Q4_0", 2, KT_Q4_0, MIX_OUTPUT },    { "Q4_1", 3, KT_Q4_1, MIX_OUTPUT },
    { "Q5_0", 8, KT_Q5_0, MIX_OUTPUT },    { "Q5_1", 9, KT_Q5_1, MIX_OUTPUT },
    { "Q2_K", 10, KT_Q2_K, MIX_Q2_K },     { "Q3_K_M", 12, KT_Q3_K, MIX_Q3_K_M },
    { "Q3_K", 12, KT_Q3_K, MIX_Q3_K_M },   { "Q4_K_M", 15, KT_Q4_K, MIX_Q4_K_M },
    { "Q4_K", 15, KT_Q4_K, MIX_Q4_K_M },   { "Q5_K_M", 17, KT_Q5_K, MIX_Q4_K_M },
    { "Q5_K", 17, KT_Q5_K, MIX_Q4_K_M },   { "Q6_K", 18, KT_Q6_K, MIX_OUTPUT },
};

#define N_SHAPES (sizeof shapes / sizeof shapes[0])
#define N_FTYPES (sizeof ftypes / sizeof ftypes[0])

const synth_shape *synth_find_shape(const char *name)
{
    for (size_t i = 0; i < N_SHAPES; i++)
        if (strcmp(shapes[i].name, name) == 0)
            return &shapes[i];
    return NULL;
}

const synth_ftype *synth_find_ftype(const char *name)
{
    for (size_t i = 0; i < N_FTYPES; i++)
        if (strcmp(ftypes[i].name, name) == 0)
            return &ftypes[i];
    return NULL;
}

const char *kestrel_synth_shape_name(int i, const char **description)
{
    if (i < 0 || (size_t)i >= N_SHAPES)
        return NULL;
    if (description)
        *description = shapes[i].description;
    return shapes[i].name;
}

const char *kestrel_synth_type_name(int i)
{
    return i >= 0 && (size_t)i < N_FTYPES ? ftypes[i].name : NULL;
}

/* llama.cpp's use_more_bits: the first and last eighth of the layers, and every
 * third one in between. */
static bool use_more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* A K-quant needs rows of whole 256-blocks; llama.cpp falls back to these. */
static int k_fallback(int type)
{
    switch (type) {
    case KT_Q2_K:
    case KT_Q3_K: return KT_Q4_0; /* llama.cpp uses IQ4_NL, which kestrel lacks */
    case KT_Q4_K: return KT_Q5_0;
    case KT_Q5_K: return KT_Q5_1;
    case KT_Q6_K: return KT_Q8_0;
    default: return type;
    }
}

int synth_matrix_type(const synth_ftype *ft, enum synth_role role, int layer, int n_layer, int n_gqa,
                      int64_t ne0, bool tied, bool pure)
{
    int t = ft->base;
    bool is_output = role == ROLE_OUTPUT || (tied && role == ROLE_TOKEN_EMBD);
    if (!pure && ft->mix != MIX_NONE) {
        if (is_output) {
            t = ne0 % 256 ? KT_Q8_0 : KT_Q6_K;
        } else if (role == ROLE_ATTN_V) {
            if (ft->mix == MIX_Q2_K)
                t = n_gqa >= 4 ? KT_Q4_K : KT_Q3_K;
            else if (ft->mix == MIX_Q3_K_M)
                t = layer < 2 ? KT_Q5_K : KT_Q4_K;
            else if (ft->mix == MIX_Q4_K_M && use_more_bits(layer, n_layer))
                t = KT_Q6_K;
        } else if (role == ROLE_FFN_DOWN) {
            if (ft->mix == MIX_Q2_K)
                t = KT_Q3_K;
            else if (ft->mix == MIX_Q3_K_M)
                t = layer < n_layer / 16 ? KT_Q5_K : KT_Q4_K;
            else if (ft->mix == MIX_Q4_K_M && use_more_bits(layer, n_layer))
                t = KT_Q6_K;
        } else if (role == ROLE_ATTN_OUT) {
            if (ft->mix == MIX_Q2_K)
                t = KT_Q3_K;
            else if (ft->mix == MIX_Q3_K_M)
                t = KT_Q4_K;
        }
    }
    const kt_traits *tr = kt_ref_traits(t);
    if (tr && ne0 % tr->block_size)
        t = k_fallback(t);
    return t;
}

/* ---- the tensor list -------------------------------------------------------- */

typedef struct {
    char name[64];
    int type;
    int64_t ne0, ne1;   /* ne1 = 1: a vector (norm, bias, rope factors) */
    float mean, sigma;  /* N(mean, sigma^2): norms have mean 1 */
    int n_dims;
    const float *values; /* fixed contents (rope_freqs) instead of random ones */
} synth_tensor;

#define SIGMA_MATRIX 0.02f
#define SIGMA_EMBD 0.05f
#define SIGMA_NORM 0.01f

static void add_matrix(synth_tensor *t, size_t *n, const char *name, int type, int64_t ne0, int64_t ne1,
                       float sigma)
{
    synth_tensor *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->type = type;
    x->ne0 = ne0;
    x->ne1 = ne1;
    x->mean = 0.0f;
    x->sigma = sigma;
    x->n_dims = 2;
    x->values = NULL;
}

/* An F32 vector: 1 + N(0, sigma^2) for a norm, N(0, sigma^2) for a bias. */
static void add_vector(synth_tensor *t, size_t *n, const char *name, int64_t ne0, float mean, float sigma)
{
    synth_tensor *x = &t[(*n)++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->type = KT_F32;
    x->ne0 = ne0;
    x->ne1 = 1;
    x->mean = mean;
    x->sigma = sigma;
    x->n_dims = 1;
    x->values = NULL;
}

/* ---- vocabularies ----------------------------------------------------------- */

/* A byte-level SentencePiece vocab of n tokens: <unk> <s> </s>, the 256 byte
 * tokens, then printable pieces ("▁", single characters, "▁a".., "ab"..,
 * "▁tok<N>") with falling scores, so any text tokenizes (byte fallback). */
#define TOKLEN 32 /* bytes per generated token text */

static int add_synth_vocab(gguf_writer *w, int n, const char *where)
{
    if (n < 259 + 1)
        return kestrel_fail(where, "a synthesized vocab needs at least 260 tokens, not %d", n);
    char **tok = calloc((size_t)n, sizeof *tok);
    float *score = calloc((size_t)n, sizeof *score);
    int32_t *type = calloc((size_t)n, sizeof *type);
    char *text = malloc((size_t)n * TOKLEN);
    if (!tok || !score || !type || !text) {
        free(tok);
        free(score);
        free(type);
        free(text);
        return kestrel_fail(where, "out of memory for a %d-token vocab", n);
    }
    static const char *sp = "\xe2\x96\x81"; /* U+2581, SentencePiece's space */
    int i = 0;
    const char *specials[3] = { "<unk>", "<s>", "</s>" };
    for (; i < 3; i++) {
        snprintf(text + (size_t)i * TOKLEN, TOKLEN, "%s", specials[i]);
        type[i] = i == 0 ? 2 : 3; /* unknown, control */
    }
    for (int b = 0; b < 256; b++, i++) {
        snprintf(text + (size_t)i * TOKLEN, TOKLEN, "<0x%02X>", b);
        type[i] = 6; /* byte */
    }
    int k = 0; /* index into the generated pieces */
    for (; i < n; i++, k++) {
        char *s = text + (size_t)i * TOKLEN;
        if (k == 0)
            snprintf(s, TOKLEN, "%s", sp);
        else if (k <= 94)
            snprintf(s, TOKLEN, "%c", (char)(0x20 + k)); /* '!' .. '~' */
        else if (k <= 94 + 26)
            snprintf(s, TOKLEN, "%s%c", sp, (char)('a' + (k - 95)));
        else if (k <= 94 + 26 + 676)
            snprintf(s, TOKLEN, "%c%c", (char)('a' + (k - 121) / 26), (char)('a' + (k - 121) % 26));
        else
            snprintf(s, TOKLEN, "%stok%d", sp, k);
        type[i] = 1; /* normal */
        score[i] = -(float)k;
    }
    for (i = 0; i < n; i++)
        tok[i] = text + (size_t)i * TOKLEN;
    gguf_writer_add_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_add_str(w, "tokenizer.ggml.pre", "default");
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, (uint64_t)n);
    gguf_writer_add_arr_f32(w, "tokenizer.ggml.scores", score, (uint64_t)n);
    gguf_writer_add_arr_i32(w, "tokenizer.ggml.token_type", type, (uint64_t)n);
    gguf_writer_add_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gguf_writer_add_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gguf_writer_add_bool(w, "tokenizer.ggml.add_bos_token", true);
    gguf_writer_add_bool(w, "tokenizer.ggml.add_eos_token", false);
    free(tok);
    free(score);
    free(type);
    free(text);
    return 0;
}

/* Copies every tokenizer.* entry of a vocab GGUF; *n_tokens gets its size. */
static int copy_vocab(gguf_writer *w, const char *vocab_path, int *n_tokens)
{
    gguf_file *f = gguf_open(vocab_path);
    if (!f)
        return -1;
    const gguf_kv *tokens = gguf_find(f, "tokenizer.ggml.tokens");
    if (!tokens || tokens->type != GGUF_ARRAY || tokens->elem_type != GGUF_STRING || tokens->n == 0 ||
        tokens->n > (1u << 30)) {
        gguf_close(f);
        return kestrel_fail(vocab_path, "no tokenizer.ggml.tokens array to copy");
    }
    *n_tokens = (int)tokens->n;
    for (int64_t i = 0; i < f->n_kv; i++)
        if (strncmp(f->kv[i].key, "tokenizer.", 10) == 0)
            gguf_writer_copy_kv(w, &f->kv[i]);
    /* The values were copied into the writer; the file can go. */
    gguf_close(f);
    return 0;
}

static const char *default_shared_dir(void)
{
    const char *env = getenv("KESTREL_SHARED");
    return env && *env ? env : "../shared";
}

/* ---- generation ------------------------------------------------------------- */

/* A row's generator: seeded from the seed, the tensor index and the row. */
static void row_rng(kestrel_rng *rng, uint64_t seed, uint64_t tensor, uint64_t row)
{
    uint64_t x = seed;
    uint64_t a = kestrel_splitmix64(&x);
    x = a ^ (tensor * 0xd1b54a32d192ed03ull);
    uint64_t b = kestrel_splitmix64(&x);
    x = b ^ (row * 0x8cb92ba72f3d8dd7ull);
    kestrel_rng_seed(rng, kestrel_splitmix64(&x));
}

/* n normal values, mean mu and deviation sigma (Box-Muller on 32-bit halves). */
static void fill_normal(kestrel_rng *rng, float *dst, int64_t n, float mu, float sigma)
{
    const float two_pi = 6.28318530717958647692f, inv32 = 1.0f / 4294967296.0f;
    int64_t i = 0;
    for (; i + 1 < n; i += 2) {
        uint64_t r = kestrel_rng_next(rng);
        float u1 = ((float)(uint32_t)(r >> 32) + 1.0f) * inv32; /* (0, 1] */
        float u2 = (float)(uint32_t)r * inv32;
        float m = sigma * sqrtf(-2.0f * logf(u1));
        dst[i] = mu + m * cosf(two_pi * u2);
        dst[i + 1] = mu + m * sinf(two_pi * u2);
    }
    if (i < n) {
        uint64_t r = kestrel_rng_next(rng);
        float u1 = ((float)(uint32_t)(r >> 32) + 1.0f) * inv32;
        float u2 = (float)(uint32_t)r * inv32;
        dst[i] = mu + sigma * sqrtf(-2.0f * logf(u1)) * cosf(two_pi * u2);
    }
}

typedef struct {
    const synth_tensor *t;
    uint64_t seed, index;
    size_t row_bytes;
    uint8_t *out;
    float *scratch;     /* one row per thread */
    int64_t scratch_n;
} gen_job;

static void gen_rows(void *arg, int ith, int nth)
{
    const gen_job *job = arg;
    const synth_tensor *t = job->t;
    const kt_traits *tr = kt_ref_traits(t->type);
    float *row = job->scratch + (size_t)ith * (size_t)job->scratch_n;
    int64_t r0 = t->ne1 * ith / nth, r1 = t->ne1 * (ith + 1) / nth;
    for (int64_t r = r0; r < r1; r++) {
        if (t->values) {
            memcpy(row, t->values + (size_t)r * (size_t)t->ne0, (size_t)t->ne0 * sizeof(float));
        } else {
            kestrel_rng rng;
            row_rng(&rng, job->seed, job->index, (uint64_t)r);
            fill_normal(&rng, row, t->ne0, t->mean, t->sigma);
        }
        tr->quantize(row, job->out + (size_t)r * job->row_bytes, t->ne0);
    }
}

kestrel_synth_params kestrel_synth_default_params(void)
{
    kestrel_synth_params p;
    memset(&p, 0, sizeof p);
    p.shape = "tiny";
    p.type = "Q4_0";
    p.seed = 42;
    return p;
}

/* ---- architectures ------------------------------------------------------------ */

enum synth_arch_feature {
    A_QKV_BIAS = 1 << 0,  /* attn_q/k/v.bias (qwen2) */
    A_QK_NORM = 1 << 1,   /* attn_q_norm / attn_k_norm, one weight per head dim (qwen3) */
    A_FUSED = 1 << 2,     /* attn_qkv and ffn_up = gate | up, no ffn_gate; output.weight required (phi3) */
    A_TIED = 1 << 3,      /* the output is always token_embd (gemma, gemma2) */
    A_POST_NORMS = 1 << 4, /* post_attention_norm, post_ffw_norm (gemma2) */
    A_SOFTCAP = 1 << 5,   /* soft-capping keys (gemma2) */
    A_SWA = 1 << 6,       /* attention.sliding_window (phi3, gemma2) */
    A_ROPE_FREQS = 1 << 7, /* rope_freqs.weight may be added (llama) */
};

static const struct {
    const char *name;
    unsigned features;
} synth_archs[] = {
    { "llama", A_ROPE_FREQS },
    { "qwen2", A_QKV_BIAS },
    { "qwen3", A_QK_NORM },
    { "phi3", A_FUSED | A_SWA },
    { "gemma", A_TIED },
    { "gemma2", A_TIED | A_POST_NORMS | A_SOFTCAP | A_SWA },
};

int synth_llama3_rope_freqs(const char *spec, int n_rot, float base, float *out)
{
    double factor = 8, low = 1, high = 4, orig = 8192;
    if (strcmp(spec, "llama3") != 0) {
        char tail;
        if (sscanf(spec, "%lf,%lf,%lf,%lf%c", &factor, &low, &high, &orig, &tail) != 4 || !(factor >= 1) ||
            !(low > 0) || !(high > low) || !(orig >= 1))
            return -1;
    }
    const double pi = 3.14159265358979323846;
    const double low_wavelen = orig / low, high_wavelen = orig / high;
    for (int i = 0; i < n_rot / 2; i++) {
        const double freq = pow((double)base, -2.0 * i / n_rot);
        const double wavelen = 2 * pi / freq;
        double f;
        if (wavelen < high_wavelen) {
            f = 1; /* high frequencies keep their speed */
        } else if (wavelen > low_wavelen) {
            f = factor; /* low frequencies are slowed by the full factor */
        } else {
            const double smooth = (orig / wavelen - low) / (high - low);
            f = 1 / ((1 - smooth) / factor + smooth);
        }
        out[i] = (float)f;
    }
    return 0;
}

int kestrel_synth(const char *path, const kestrel_synth_params *params)
{
    return synth_write(path, params, NULL);
}

int synth_write(const char *path, const kestrel_synth_params *params, const synth_arch_params *ap)
{
    kestrel_synth_params p = params ? *params : kestrel_synth_default_params();
    synth_arch_params a;
    if (ap)
        a = *ap;
    else
        memset(&a, 0, sizeof a);
    const char *arch = a.arch ? a.arch : "llama";
    int arch_i = -1;
    for (size_t i = 0; i < sizeof synth_archs / sizeof synth_archs[0]; i++)
        if (strcmp(synth_archs[i].name, arch) == 0)
            arch_i = (int)i;
    if (arch_i < 0)
        return kestrel_fail(path, "unknown architecture '%s' (llama, qwen2, qwen3, phi3, gemma, gemma2)", arch);
    const unsigned af = synth_archs[arch_i].features;
    const synth_shape *sh = p.shape ? synth_find_shape(p.shape) : NULL;
    if (!sh)
        return kestrel_fail(path, "unknown shape '%s'", p.shape ? p.shape : "(null)");
    const synth_ftype *ft = p.type ? synth_find_ftype(p.type) : NULL;
    if (!ft)
        return kestrel_fail(path, "unknown type '%s'", p.type ? p.type : "(null)");
    int n_layer = p.n_layer > 0 ? p.n_layer : sh->n_layer;
    if (n_layer > 4096)
        return kestrel_fail(path, "%d layers is too many", n_layer);
    const int head_dim = a.head_dim > 0 ? a.head_dim : sh->n_embd / sh->n_head;
    const int n_rot = a.n_rot > 0 ? a.n_rot : head_dim;
    const int q_dim = head_dim * sh->n_head, kv_dim = head_dim * sh->n_head_kv;
    const int n_gqa = sh->n_head / sh->n_head_kv;
    if (a.head_dim < 0 || a.head_dim > 4096 || head_dim % 2 || n_rot % 2 || n_rot > head_dim || a.n_rot < 0)
        return kestrel_fail(path, "head dimension %d / rope dimensions %d: both must be even, rope at most the head",
                            head_dim, n_rot);
    if (a.rope_freqs && !(af & A_ROPE_FREQS))
        return kestrel_fail(path, "rope frequency factors are for the llama architecture, not %s", arch);
    if ((a.n_swa > 0 && !(af & A_SWA)) || ((a.attn_softcap != 0 || a.final_softcap != 0) && !(af & A_SOFTCAP)))
        return kestrel_fail(path, "architecture %s has no %s", arch, a.n_swa > 0 ? "sliding window" : "soft-capping");
    if (a.n_swa < -1 || a.n_ctx < 0 || a.attn_softcap < 0 || a.final_softcap < 0)
        return kestrel_fail(path, "sliding window and soft-capping values must be positive");
    if ((af & A_FUSED) && (a.tied || q_dim != sh->n_embd))
        return kestrel_fail(path, "phi3 needs its own output matrix and heads that span n_embd");
    float *rope_factors = NULL;

    gguf_writer *w = gguf_writer_new();
    synth_tensor *ts = NULL;
    uint8_t *buf = NULL;
    float *scratch = NULL;
    threadpool *tp = NULL;
    int rc = -1;
    if (!w) {
        kestrel_fail(path, "out of memory");
        goto done;
    }

    /* metadata: the architecture first, as convert_hf_to_gguf orders it */
    char name[128], key[128];
    snprintf(name, sizeof name, "synth %s %s", sh->name, ft->name);
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%s.%s", arch, suffix), key)
    gguf_writer_add_str(w, "general.architecture", arch);
    gguf_writer_add_str(w, "general.name", name);
    const int n_ctx = a.n_ctx > 0 ? a.n_ctx : sh->n_ctx;
    gguf_writer_add_u32(w, ARCH_KEY("context_length"), (uint32_t)n_ctx);
    gguf_writer_add_u32(w, ARCH_KEY("embedding_length"), (uint32_t)sh->n_embd);
    gguf_writer_add_u32(w, ARCH_KEY("block_count"), (uint32_t)n_layer);
    gguf_writer_add_u32(w, ARCH_KEY("feed_forward_length"), (uint32_t)sh->n_ff);
    gguf_writer_add_u32(w, ARCH_KEY("rope.dimension_count"), (uint32_t)n_rot);
    gguf_writer_add_u32(w, ARCH_KEY("attention.head_count"), (uint32_t)sh->n_head);
    gguf_writer_add_u32(w, ARCH_KEY("attention.head_count_kv"), (uint32_t)sh->n_head_kv);
    if (a.head_dim > 0) {
        gguf_writer_add_u32(w, ARCH_KEY("attention.key_length"), (uint32_t)head_dim);
        gguf_writer_add_u32(w, ARCH_KEY("attention.value_length"), (uint32_t)head_dim);
    }
    gguf_writer_add_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"), sh->rms_eps);
    gguf_writer_add_f32(w, ARCH_KEY("rope.freq_base"), sh->rope_base);
    if (af & A_SWA) {
        /* llama.cpp refuses a phi3 without a window; gemma2's default is 4096 */
        if (a.n_swa > 0 || (a.n_swa == 0 && (af & A_FUSED)))
            gguf_writer_add_u32(w, ARCH_KEY("attention.sliding_window"), (uint32_t)(a.n_swa > 0 ? a.n_swa : n_ctx));
    }
    if (a.attn_softcap > 0)
        gguf_writer_add_f32(w, ARCH_KEY("attn_logit_softcapping"), a.attn_softcap);
    if (a.final_softcap > 0)
        gguf_writer_add_f32(w, ARCH_KEY("final_logit_softcapping"), a.final_softcap);
    gguf_writer_add_u32(w, "general.file_type", (uint32_t)ft->ftype);
    gguf_writer_add_u32(w, "general.quantization_version", 2);
    char seed_text[32];
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)p.seed);
    gguf_writer_add_str(w, "kestrel.synth.shape", sh->name);
    gguf_writer_add_str(w, "kestrel.synth.seed", seed_text);

    /* the tokenizer */
    int n_vocab = sh->n_vocab;
    char vocab_buf[4096];
    const char *vocab_path = p.vocab_path;
    if (!vocab_path && !p.synth_vocab && sh->vocab_file) {
        snprintf(vocab_buf, sizeof vocab_buf, "%s/vocab/%s", p.shared_dir ? p.shared_dir : default_shared_dir(),
                 sh->vocab_file);
        if (access(vocab_buf, R_OK) != 0) {
            kestrel_fail(vocab_buf, "the default vocab of shape '%s' is not there: give a vocab GGUF or a "
                                    "synthesized vocab",
                         sh->name);
            goto done;
        }
        vocab_path = vocab_buf;
    }
    if (vocab_path && !p.synth_vocab) {
        int n_tokens = 0;
        if (copy_vocab(w, vocab_path, &n_tokens))
            goto done;
        if (n_tokens != n_vocab) {
            if (!sh->vocab_follows_file) {
                kestrel_fail(vocab_path, "has %d tokens but shape '%s' has a vocab of %d", n_tokens, sh->name,
                             n_vocab);
                goto done;
            }
            n_vocab = n_tokens;
        }
    } else if (add_synth_vocab(w, n_vocab, path)) {
        goto done;
    }
    gguf_writer_add_u32(w, ARCH_KEY("vocab_size"), (uint32_t)n_vocab);
#undef ARCH_KEY

    /* the tensors, in the order of a converted Llama; architecture extras in place */
    size_t n_tensors = 0, cap = 4 + (size_t)n_layer * 16;
    ts = calloc(cap, sizeof *ts);
    if (!ts) {
        kestrel_fail(path, "out of memory");
        goto done;
    }
    const bool tied = (af & A_TIED) || (sh->tied && !(af & A_FUSED)) || a.tied;
    const float sigma = sh->sigma > 0 ? sh->sigma : SIGMA_MATRIX, sigma_embd = sh->sigma > 0 ? sh->sigma : SIGMA_EMBD;
    const float sigma_norm = sh->sigma_norm > 0 ? sh->sigma_norm : SIGMA_NORM;
    const float sigma_bias = 0.5f * sigma * sqrtf((float)sh->n_embd);
#define MTYPE(role, layer, ne0) synth_matrix_type(ft, role, layer, n_layer, n_gqa, ne0, tied, p.pure)
    add_matrix(ts, &n_tensors, "token_embd.weight", MTYPE(ROLE_TOKEN_EMBD, 0, sh->n_embd), sh->n_embd, n_vocab,
               sigma_embd);
    for (int l = 0; l < n_layer; l++) {
        char nm[64];
#define LAYER_NAME(suffix) (snprintf(nm, sizeof nm, "blk.%d." suffix, l), nm)
        add_vector(ts, &n_tensors, LAYER_NAME("attn_norm.weight"), sh->n_embd, 1.0f, sigma_norm);
        if (af & A_FUSED) {
            add_matrix(ts, &n_tensors, LAYER_NAME("attn_qkv.weight"), MTYPE(ROLE_ATTN_Q, l, sh->n_embd), sh->n_embd,
                       (int64_t)q_dim + 2 * kv_dim, sigma);
        } else {
            add_matrix(ts, &n_tensors, LAYER_NAME("attn_q.weight"), MTYPE(ROLE_ATTN_Q, l, sh->n_embd), sh->n_embd,
                       q_dim, sigma);
            add_matrix(ts, &n_tensors, LAYER_NAME("attn_k.weight"), MTYPE(ROLE_ATTN_K, l, sh->n_embd), sh->n_embd,
                       kv_dim, sigma);
            add_matrix(ts, &n_tensors, LAYER_NAME("attn_v.weight"), MTYPE(ROLE_ATTN_V, l, sh->n_embd), sh->n_embd,
                       kv_dim, sigma);
        }
        if (af & A_QKV_BIAS) {
            add_vector(ts, &n_tensors, LAYER_NAME("attn_q.bias"), q_dim, 0.0f, sigma_bias);
            add_vector(ts, &n_tensors, LAYER_NAME("attn_k.bias"), kv_dim, 0.0f, sigma_bias);
            add_vector(ts, &n_tensors, LAYER_NAME("attn_v.bias"), kv_dim, 0.0f, sigma_bias);
        }
        if (af & A_QK_NORM) {
            add_vector(ts, &n_tensors, LAYER_NAME("attn_q_norm.weight"), head_dim, 1.0f, sigma_norm);
            add_vector(ts, &n_tensors, LAYER_NAME("attn_k_norm.weight"), head_dim, 1.0f, sigma_norm);
        }
        add_matrix(ts, &n_tensors, LAYER_NAME("attn_output.weight"), MTYPE(ROLE_ATTN_OUT, l, q_dim), q_dim,
                   sh->n_embd, sigma);
        if (af & A_POST_NORMS)
            add_vector(ts, &n_tensors, LAYER_NAME("post_attention_norm.weight"), sh->n_embd, 1.0f, sigma_norm);
        add_vector(ts, &n_tensors, LAYER_NAME("ffn_norm.weight"), sh->n_embd, 1.0f, sigma_norm);
        if (af & A_FUSED) {
            add_matrix(ts, &n_tensors, LAYER_NAME("ffn_up.weight"), MTYPE(ROLE_FFN_UP, l, sh->n_embd), sh->n_embd,
                       2 * (int64_t)sh->n_ff, sigma);
        } else {
            add_matrix(ts, &n_tensors, LAYER_NAME("ffn_gate.weight"), MTYPE(ROLE_FFN_GATE, l, sh->n_embd),
                       sh->n_embd, sh->n_ff, sigma);
            add_matrix(ts, &n_tensors, LAYER_NAME("ffn_up.weight"), MTYPE(ROLE_FFN_UP, l, sh->n_embd), sh->n_embd,
                       sh->n_ff, sigma);
        }
        add_matrix(ts, &n_tensors, LAYER_NAME("ffn_down.weight"), MTYPE(ROLE_FFN_DOWN, l, sh->n_ff), sh->n_ff,
                   sh->n_embd, sigma);
        if (af & A_POST_NORMS)
            add_vector(ts, &n_tensors, LAYER_NAME("post_ffw_norm.weight"), sh->n_embd, 1.0f, sigma_norm);
#undef LAYER_NAME
    }
    add_vector(ts, &n_tensors, "output_norm.weight", sh->n_embd, 1.0f, sigma_norm);
    if (!tied)
        add_matrix(ts, &n_tensors, "output.weight", MTYPE(ROLE_OUTPUT, 0, sh->n_embd), sh->n_embd, n_vocab, sigma);
#undef MTYPE
    if (a.rope_freqs) { /* last, so that the other tensors keep their random streams */
        rope_factors = malloc((size_t)n_rot / 2 * sizeof *rope_factors);
        if (!rope_factors) {
            kestrel_fail(path, "out of memory");
            goto done;
        }
        if (synth_llama3_rope_freqs(a.rope_freqs, n_rot, sh->rope_base, rope_factors)) {
            kestrel_fail(path, "bad rope factors '%s': want llama3 or FACTOR,LOW,HIGH,ORIG_CTX", a.rope_freqs);
            goto done;
        }
        add_vector(ts, &n_tensors, "rope_freqs.weight", n_rot / 2, 0.0f, 0.0f);
        ts[n_tensors - 1].values = rope_factors;
    }

    uint64_t max_bytes = 0;
    int64_t max_ne0 = 0;
    for (size_t i = 0; i < n_tensors; i++) {
        const synth_tensor *t = &ts[i];
        int64_t ne[2] = { t->ne0, t->ne1 };
        gguf_writer_add_tensor(w, t->name, (uint32_t)t->type, t->n_dims, ne, NULL);
        uint64_t nb = gguf_writer_tensor_nbytes(w, i);
        if (nb > max_bytes)
            max_bytes = nb;
        if (t->ne0 > max_ne0)
            max_ne0 = t->ne0;
    }

    int n_threads = p.n_threads > 0 ? p.n_threads : kestrel_physical_cores();
    if (n_threads > 256)
        n_threads = 256;
    tp = threadpool_new(n_threads);
    buf = malloc(max_bytes ? (size_t)max_bytes : 1);
    scratch = malloc((size_t)n_threads * (size_t)max_ne0 * sizeof(float));
    if (!tp || !buf || !scratch) {
        if (tp)
            kestrel_fail(path, "out of memory for a %llu-byte tensor", (unsigned long long)max_bytes);
        goto done;
    }
    if (gguf_writer_begin(w, path))
        goto done;
    for (size_t i = 0; i < n_tensors; i++) {
        gen_job job = { &ts[i], p.seed, i, kt_row_size(ts[i].type, ts[i].ne0), buf, scratch, max_ne0 };
        threadpool_run(tp, gen_rows, &job);
        if (gguf_writer_put_tensor(w, buf))
            goto done;
    }
    rc = gguf_writer_end(w);
done:
    gguf_writer_free(w); /* removes the file of an unfinished stream */
    threadpool_free(tp);
    free(buf);
    free(scratch);
    free(ts);
    free(rope_factors);
    return rc;
}
