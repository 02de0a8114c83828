/* Loading a model: read the hyperparameters of its architecture, then bind and
 * check every weight in place (shape, type, size). Nothing is copied. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "quant/quant.h"

/* What each supported architecture adds to the Llama block (RMSNorm, RoPE, GQA,
 * gated FFN). The rope layout follows llama.cpp's choice per architecture. */
enum arch_feature {
    QKV_BIAS = 1 << 0,      /* q/k/v projections have biases */
    QK_NORM = 1 << 1,       /* per-head RMSNorm of q and k */
    FUSED_QKV = 1 << 2,     /* attn_qkv may replace attn_q/k/v */
    FUSED_GATE_UP = 1 << 3, /* ffn_up holds gate and up; no ffn_gate */
    EMBD_SCALE = 1 << 4,    /* embeddings scaled by sqrt(n_embd) */
    POST_NORMS = 1 << 5,    /* RMSNorm after attention and FFN, before the residual */
    SOFTCAP = 1 << 6,       /* tanh soft-capping of attention scores and logits */
    SWA_EVEN = 1 << 7,      /* even layers use the sliding window */
    SWA_ALL = 1 << 8,       /* every layer uses it */
};

struct arch_spec {
    const char *name;
    enum rope_layout rope;
    enum ffn_activation ffn;
    unsigned features;
};

static const arch_spec arch_specs[] = {
    { "llama", ROPE_NORM, FFN_SILU, 0 },
    { "qwen2", ROPE_NEOX, FFN_SILU, QKV_BIAS },
    { "qwen3", ROPE_NEOX, FFN_SILU, QK_NORM },
    { "phi3", ROPE_NEOX, FFN_SILU, FUSED_QKV | FUSED_GATE_UP | SWA_ALL },
    { "gemma", ROPE_NEOX, FFN_GELU, EMBD_SCALE },
    { "gemma2", ROPE_NEOX, FFN_GELU, EMBD_SCALE | POST_NORMS | SOFTCAP | SWA_EVEN },
};

static char *copy_string(gguf_string s)
{
    char *c = malloc(s.len + 1);
    if (c) {
        memcpy(c, s.ptr, s.len);
        c[s.len] = 0;
    }
    return c;
}

/* Reads "<arch>.<suffix>" as u32; absent keys keep *out (the default). */
static int get_arch_u32(const kestrel_model *m, const char *suffix, int *out, bool required)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", m->arch, suffix);
    uint32_t v;
    if (!gguf_get_u32(m->file, key, &v)) {
        if (gguf_find(m->file, key))
            return -1; /* wrong type: error already set */
        if (required)
            return kestrel_fail(m->file->path, "missing metadata key '%s'", key);
        return 0;
    }
    if (v > (1u << 30))
        return kestrel_fail(m->file->path, "metadata '%s' = %u is out of range", key, v);
    *out = (int)v;
    return 0;
}

static int get_arch_f32(const kestrel_model *m, const char *suffix, float *out)
{
    char key[256];
    snprintf(key, sizeof key, "%s.%s", m->arch, suffix);
    if (!gguf_get_f32(m->file, key, out) && gguf_find(m->file, key))
        return -1;
    return 0;
}

static int read_hparams(kestrel_model *m)
{
    hparams *hp = &m->hp;
    const char *path = m->file->path;
    const int n_vocab = hp->n_vocab;
    memset(hp, 0, sizeof *hp);
    hp->n_vocab = n_vocab;
    hp->n_ctx_train = 2048;
    hp->rope_freq_base = 10000.0f;
    hp->rope_freq_scale = 1.0f;
    hp->rms_eps = 1e-5f;
    if (get_arch_u32(m, "embedding_length", &hp->n_embd, true) ||
        get_arch_u32(m, "block_count", &hp->n_layer, true) ||
        get_arch_u32(m, "feed_forward_length", &hp->n_ff, true) ||
        get_arch_u32(m, "attention.head_count", &hp->n_head, true) ||
        get_arch_u32(m, "context_length", &hp->n_ctx_train, false) ||
        get_arch_f32(m, "attention.layer_norm_rms_epsilon", &hp->rms_eps) ||
        get_arch_f32(m, "rope.freq_base", &hp->rope_freq_base))
        return -1;
    hp->n_head_kv = hp->n_head;
    if (get_arch_u32(m, "attention.head_count_kv", &hp->n_head_kv, false))
        return -1;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0)
        return kestrel_fail(path, "model dimensions must be positive (embd %d, layers %d, ff %d, heads %d/%d)",
                            hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv);
    if (hp->n_head % hp->n_head_kv)
        return kestrel_fail(path, "head_count %d is not a multiple of head_count_kv %d", hp->n_head,
                            hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    if (get_arch_u32(m, "attention.key_length", &hp->head_dim, false))
        return -1;
    if (hp->head_dim <= 0 || hp->head_dim % 2)
        return kestrel_fail(path, "head dimension %d must be positive and even", hp->head_dim);
    hp->n_rot = hp->head_dim;
    if (get_arch_u32(m, "rope.dimension_count", &hp->n_rot, false))
        return -1;
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return kestrel_fail(path, "rope.dimension_count %d must be even and at most the head dimension %d",
                            hp->n_rot, hp->head_dim);

    /* Linear RoPE scaling: the older key gives the factor directly, the newer one with a type. */
    float factor = 0.0f;
    if (get_arch_f32(m, "rope.scale_linear", &factor))
        return -1;
    char key[256];
    snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch);
    gguf_string type;
    if (gguf_get_str(m->file, key, &type)) {
        bool linear = type.len == 6 && memcmp(type.ptr, "linear", 6) == 0;
        bool none = type.len == 4 && memcmp(type.ptr, "none", 4) == 0;
        if (!linear && !none)
            return kestrel_fail(path, "rope scaling type '%.*s' is not supported", (int)type.len, type.ptr);
        if (linear && get_arch_f32(m, "rope.scaling.factor", &factor))
            return -1;
    }
    if (factor != 0.0f) {
        if (!(factor > 0.0f && factor < 1e6f))
            return kestrel_fail(path, "rope scaling factor %g is out of range", (double)factor);
        hp->rope_freq_scale = 1.0f / factor;
    }
    const arch_spec *spec = m->spec;
    hp->rope_layout = spec->rope;
    hp->ffn = spec->ffn;
    hp->embd_scale = (spec->features & EMBD_SCALE) ? sqrtf((float)hp->n_embd) : 1.0f;
    hp->attn_scale = 1.0f / sqrtf((float)hp->head_dim);
    if (spec->features & SOFTCAP) {
        hp->attn_softcap = 50.0f; /* gemma 2's values when the file does not say */
        hp->final_softcap = 30.0f;
        if (get_arch_f32(m, "attn_logit_softcapping", &hp->attn_softcap) ||
            get_arch_f32(m, "final_logit_softcapping", &hp->final_softcap))
            return -1;
        if (!(hp->attn_softcap > 0.0f) || !(hp->final_softcap > 0.0f))
            return kestrel_fail(path, "soft-capping values must be positive");
        /* Gemma 2 27B scales queries by 1/sqrt(n_embd/n_head), not 1/sqrt(head_dim) (llama.cpp keys it on 46 layers). */
        if (hp->n_layer == 46)
            hp->attn_scale = 1.0f / sqrtf((float)(hp->n_embd / hp->n_head));
    }
    if (spec->features & (SWA_EVEN | SWA_ALL)) {
        hp->n_swa = (spec->features & SWA_EVEN) ? 4096 : 0;
        /* Phi-3 files converted before the window key existed: llama.cpp's defaults
         * (mini/medium 4k: 2047; mini 128k: 262144; medium 128k: 131072) */
        if ((spec->features & SWA_ALL) && (hp->n_layer == 32 || hp->n_layer == 40) && hp->n_ctx_train == 4096)
            hp->n_swa = 2047;
        else if ((spec->features & SWA_ALL) && hp->n_layer == 32 && hp->n_head_kv == 32 && hp->n_ctx_train == 131072)
            hp->n_swa = 262144;
        else if ((spec->features & SWA_ALL) && hp->n_layer == 40 && hp->n_ctx_train == 131072)
            hp->n_swa = 131072;
        if (get_arch_u32(m, "attention.sliding_window", &hp->n_swa, false))
            return -1;
        if ((spec->features & SWA_ALL) && hp->n_swa == 0)
            hp->n_swa = 1 << 30; /* phi3 without a window key (Phi-4): no window */
    }
    if (!(hp->rope_freq_base > 0.0f) || !(hp->rms_eps >= 0.0f))
        return kestrel_fail(path, "rope.freq_base %g / rms epsilon %g out of range",
                            (double)hp->rope_freq_base, (double)hp->rms_eps);
    if (hp->n_ctx_train <= 0)
        hp->n_ctx_train = 2048;
    return 0;
}

/* Binds a tensor and checks it is ne0 x ne1 (ne1 = 1 for vectors) of a usable type. */
static int bind(kestrel_model *m, weight *w, const char *name, int64_t ne0, int64_t ne1, bool required,
                bool matrix)
{
    const gguf_tensor *t = gguf_find_tensor(m->file, name);
    if (!t) {
        if (required)
            return kestrel_fail(m->file->path, "missing tensor '%s'", name);
        return 0;
    }
    int64_t rows = 1;
    for (int d = 1; d < t->n_dims; d++)
        rows *= t->ne[d];
    if (t->ne[0] != ne0 || rows != ne1 || (t->n_dims > 2 && t->ne[2] != 1))
        return kestrel_fail(m->file->path, "tensor '%s' has shape [%lld, %lld], expected [%lld, %lld]", name,
                            (long long)t->ne[0], (long long)rows, (long long)ne0, (long long)ne1);
    const kt_traits *tr = kt_get_traits((int)t->type);
    if (!tr || !tr->to_float || (matrix && !tr->vec_dot))
        return kestrel_fail(m->file->path, "tensor '%s' has type %s, which kestrel cannot compute with", name,
                            kt_type_name((int)t->type));
    if (!matrix && t->type != KT_F32)
        return kestrel_fail(m->file->path, "tensor '%s' must be F32, not %s", name, kt_type_name((int)t->type));
    w->name = t->name;
    w->type = (int)t->type;
    w->ne0 = ne0;
    w->ne1 = ne1;
    w->row_bytes = kt_row_size(w->type, ne0);
    w->data = t->data;
    if (w->row_bytes == 0 || w->row_bytes * (uint64_t)ne1 != t->nbytes)
        return kestrel_fail(m->file->path, "tensor '%s': size does not match its shape", name);
    return 0;
}

static int bind_weights(kestrel_model *m)
{
    const hparams *hp = &m->hp;
    const unsigned f = m->spec->features;
    const int64_t n_embd = hp->n_embd, n_ff = hp->n_ff;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim;
    const int64_t kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    if (bind(m, &m->tok_embd, "token_embd.weight", n_embd, hp->n_vocab, true, true) ||
        bind(m, &m->output_norm, "output_norm.weight", n_embd, 1, true, false) ||
        bind(m, &m->output, "output.weight", n_embd, hp->n_vocab, false, true))
        return -1;
    if (!m->output.data)
        m->output = m->tok_embd; /* tied embeddings */
    weight rope_freqs = { 0 };
    if (bind(m, &rope_freqs, "rope_freqs.weight", hp->n_rot / 2, 1, false, false))
        return -1;
    m->hp.rope_freqs = (const float *)rope_freqs.data;
    if (gguf_find_tensor(m->file, "rope_factors_long.weight"))
        return kestrel_fail(m->file->path, "long-context RoPE factors (rope_factors_long) are not supported yet");

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers)
        return kestrel_fail(m->file->path, "out of memory");
    for (int i = 0; i < hp->n_layer; i++) {
        layer_weights *l = &m->layers[i];
        char name[96];
#define BIND(field, tensor, ne0, ne1, required, matrix)                          \
        do {                                                                      \
            snprintf(name, sizeof name, "blk.%d.%s", i, tensor);                  \
            if (bind(m, &l->field, name, ne0, ne1, required, matrix))             \
                return -1;                                                        \
        } while (0);
        BIND(attn_norm, "attn_norm.weight", n_embd, 1, true, false)
        if (f & FUSED_QKV)
            BIND(wqkv, "attn_qkv.weight", n_embd, q_dim + 2 * kv_dim, false, true)
        if (!l->wqkv.data) {
            BIND(wq, "attn_q.weight", n_embd, q_dim, true, true)
            BIND(wk, "attn_k.weight", n_embd, kv_dim, true, true)
            BIND(wv, "attn_v.weight", n_embd, kv_dim, true, true)
        }
        const bool bias = f & QKV_BIAS;
        BIND(bq, "attn_q.bias", q_dim, 1, bias, false)
        BIND(bk, "attn_k.bias", kv_dim, 1, bias, false)
        BIND(bv, "attn_v.bias", kv_dim, 1, bias, false)
        const bool qk_norm = f & QK_NORM;
        BIND(q_norm, "attn_q_norm.weight", hp->head_dim, 1, qk_norm, false)
        BIND(k_norm, "attn_k_norm.weight", hp->head_dim, 1, qk_norm, false)
        BIND(wo, "attn_output.weight", q_dim, n_embd, true, true)
        const bool post = f & POST_NORMS;
        BIND(attn_post_norm, "post_attention_norm.weight", n_embd, 1, post, false)
        BIND(ffn_norm, "ffn_norm.weight", n_embd, 1, true, false)
        if (f & FUSED_GATE_UP) {
            BIND(w_up, "ffn_up.weight", n_embd, 2 * n_ff, true, true)
        } else {
            BIND(w_gate, "ffn_gate.weight", n_embd, n_ff, true, true)
            BIND(w_up, "ffn_up.weight", n_embd, n_ff, true, true)
        }
        BIND(w_down, "ffn_down.weight", n_ff, n_embd, true, true)
        BIND(ffn_post_norm, "post_ffw_norm.weight", n_embd, 1, post, false)
#undef BIND
        l->sliding = (f & SWA_ALL) || ((f & SWA_EVEN) && i % 2 == 0);
    }
    return 0;
}

static kestrel_model *load(const char *path, bool vocab_only, bool repack)
{
    kestrel_model *m = calloc(1, sizeof *m);
    if (!m) {
        kestrel_fail(path, "out of memory");
        return NULL;
    }
    m->file = gguf_open(path);
    if (!m->file)
        goto fail;
    gguf_string s;
    if (!gguf_get_str(m->file, "general.architecture", &s)) {
        if (!gguf_find(m->file, "general.architecture"))
            kestrel_fail(path, "missing metadata key 'general.architecture'");
        goto fail;
    }
    m->arch = copy_string(s);
    m->name = gguf_get_str(m->file, "general.name", &s) ? copy_string(s) : NULL;
    if (!m->arch || (!m->name && !(m->name = strdup(path)))) {
        kestrel_fail(path, "out of memory");
        goto fail;
    }
    m->vocab = vocab_load(m->file);
    if (!m->vocab)
        goto fail;
    m->hp.n_vocab = vocab_n_tokens(m->vocab);
    if (vocab_only)
        return m;

    for (size_t i = 0; i < sizeof arch_specs / sizeof arch_specs[0]; i++)
        if (strcmp(m->arch, arch_specs[i].name) == 0)
            m->spec = &arch_specs[i];
    if (!m->spec) {
        kestrel_fail(path, "architecture '%s' is not supported", m->arch);
        goto fail;
    }
    if (read_hparams(m) || bind_weights(m) || (repack && model_repack(m)))
        goto fail;
    return m;
fail:
    kestrel_model_free(m);
    return NULL;
}

kestrel_model *kestrel_model_load(const char *path) { return load(path, false, true); }
kestrel_model *kestrel_model_load_vocab(const char *path) { return load(path, true, false); }
kestrel_model *model_load_unpacked(const char *path) { return load(path, false, false); }

void kestrel_model_free(kestrel_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->n_meta_strings; i++)
        free(m->meta_strings[i]);
    free(m->meta_strings);
    free(m->owned);
    model_free_packed(m);
    free(m->layers);
    if (m->vocab)
        vocab_free(m->vocab);
    if (m->file)
        gguf_close(m->file);
    free(m->arch);
    free(m->name);
    free(m);
}

const char *kestrel_model_meta_str(const kestrel_model *cm, const char *key)
{
    kestrel_model *m = (kestrel_model *)cm; /* the cache of copies is not part of the model's value */
    const gguf_kv *kv = gguf_find(m->file, key);
    if (!kv || kv->type != GGUF_STRING)
        return NULL;
    gguf_string s;
    gguf_get_str(m->file, key, &s);
    for (int i = 0; i < m->n_meta_strings; i++) /* hand out the same copy each time */
        if (strlen(m->meta_strings[i]) == s.len && memcmp(m->meta_strings[i], s.ptr, s.len) == 0)
            return m->meta_strings[i];
    char **grown = realloc(m->meta_strings, (size_t)(m->n_meta_strings + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    m->meta_strings = grown;
    char *c = copy_string(s);
    if (!c)
        return NULL;
    m->meta_strings[m->n_meta_strings++] = c;
    return c;
}

void kestrel_model_get_info(const kestrel_model *m, kestrel_model_info *info)
{
    memset(info, 0, sizeof *info);
    info->arch = m->arch;
    info->name = m->name;
    info->n_vocab = m->hp.n_vocab;
    info->n_embd = m->hp.n_embd;
    info->n_layer = m->hp.n_layer;
    info->n_head = m->hp.n_head;
    info->n_head_kv = m->hp.n_head_kv;
    info->n_ff = m->hp.n_ff;
    info->n_ctx_train = m->hp.n_ctx_train;
    info->file_size = m->file->size;
    uint64_t type_bytes[KT_TYPE_COUNT] = { 0 };
    for (int64_t i = 0; i < m->file->n_tensors; i++) {
        const gguf_tensor *t = &m->file->tensors[i];
        uint64_t n = 1;
        for (int d = 0; d < t->n_dims; d++)
            n *= (uint64_t)t->ne[d];
        info->n_params += n;
        info->weight_bytes += t->nbytes;
        if (t->n_dims >= 2 && t->type < KT_TYPE_COUNT && strcmp(t->name, "token_embd.weight") != 0)
            type_bytes[t->type] += t->nbytes;
    }
    /* The mix's name as llama.cpp gives it (general.file_type), else the commonest matrix type. */
    static const char *const ftype_names[] = {
        [0] = "F32", [1] = "F16", [2] = "Q4_0", [3] = "Q4_1", [7] = "Q8_0", [8] = "Q5_0", [9] = "Q5_1",
        [10] = "Q2_K", [11] = "Q3_K_S", [12] = "Q3_K_M", [13] = "Q3_K_L", [14] = "Q4_K_S", [15] = "Q4_K_M",
        [16] = "Q5_K_S", [17] = "Q5_K_M", [18] = "Q6_K", [32] = "BF16",
    };
    uint32_t ftype;
    if (gguf_get_u32(m->file, "general.file_type", &ftype) && ftype < sizeof ftype_names / sizeof *ftype_names &&
        ftype_names[ftype]) {
        info->type_name = ftype_names[ftype];
        return;
    }
    int best = KT_F32;
    for (int i = 0; i < KT_TYPE_COUNT; i++)
        if (type_bytes[i] > type_bytes[best])
            best = i;
    info->type_name = kt_type_name(best);
}

/* ---- vocabulary wrappers ---------------------------------------------------- */

int kestrel_n_vocab(const kestrel_model *m) { return m->hp.n_vocab; }
kestrel_token kestrel_token_bos(const kestrel_model *m) { return vocab_bos(m->vocab); }
kestrel_token kestrel_token_eos(const kestrel_model *m) { return vocab_eos(m->vocab); }
bool kestrel_token_is_eog(const kestrel_model *m, kestrel_token t) { return vocab_is_eog(m->vocab, t); }
bool kestrel_add_bos(const kestrel_model *m) { return vocab_add_bos(m->vocab); }

int kestrel_tokenize(const kestrel_model *m, const char *text, size_t len, kestrel_token *tokens,
                     int max_tokens, bool add_special, bool parse_special)
{
    return vocab_tokenize(m->vocab, text, len, tokens, max_tokens, add_special, parse_special);
}

kestrel_token *kestrel_tokenize_alloc(const kestrel_model *m, const char *text, size_t len, bool add_special,
                                      bool parse_special, int *n_tokens)
{
    int n = vocab_tokenize(m->vocab, text, len, NULL, 0, add_special, parse_special);
    if (n == VOCAB_ERROR)
        return NULL;
    n = n < 0 ? -n : n;
    kestrel_token *tokens = malloc(((size_t)n + 1) * sizeof *tokens); /* + 1: never malloc(0) */
    if (!tokens) {
        kestrel_fail(NULL, "out of memory for %d tokens", n);
        return NULL;
    }
    if (n > 0 && vocab_tokenize(m->vocab, text, len, tokens, n, add_special, parse_special) != n) {
        free(tokens);
        return NULL;
    }
    *n_tokens = n;
    return tokens;
}

int kestrel_token_to_piece(const kestrel_model *m, kestrel_token token, char *buf, int len, bool special)
{
    return vocab_token_to_piece(m->vocab, token, buf, len, special);
}

int kestrel_detokenize_stream(const kestrel_model *m, kestrel_utf8_stream *stream, kestrel_token token,
                              char *out, int cap)
{
    return vocab_detokenize_stream(m->vocab, stream, token, out, cap);
}
