/* kestrel quantize: read an F32/F16/BF16 GGUF, pick every tensor's type as
 * llama-quantize does, and stream the converted file out.
 *
 * Layout of the output, as llama-quantize writes it: every metadata entry of
 * the input in its order (split.* dropped), then general.quantization_version
 * and general.file_type moved to the end; the tensors in kq_tensor_order; each
 * matrix quantized row by row with the reference quantizer of its type (the
 * one ggml_quantize_chunk uses without an imatrix), so the bytes are equal. */
#include "quantize.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "kestrel.h"
#include "quant/quant.h"
#include "threadpool.h"

#define KQ_QUANT_VERSION 2     /* GGML_QNT_VERSION */
#define KQ_TYPE_IQ4_NL 20      /* llama.cpp's fallback for Q2_K/Q3_K; no kernels here */

/* ---- recipes ------------------------------------------------------------------ */

static const kq_recipe recipes[] = {
    { "Q4_0", KQ_FTYPE_Q4_0, KT_Q4_0 },       { "Q4_1", KQ_FTYPE_Q4_1, KT_Q4_1 },
    { "Q5_0", KQ_FTYPE_Q5_0, KT_Q5_0 },       { "Q5_1", KQ_FTYPE_Q5_1, KT_Q5_1 },
    { "Q2_K", KQ_FTYPE_Q2_K, KT_Q2_K },       { "Q3_K_S", KQ_FTYPE_Q3_K_S, KT_Q3_K },
    { "Q3_K_M", KQ_FTYPE_Q3_K_M, KT_Q3_K },   { "Q3_K_L", KQ_FTYPE_Q3_K_L, KT_Q3_K },
    { "Q4_K_S", KQ_FTYPE_Q4_K_S, KT_Q4_K },   { "Q4_K_M", KQ_FTYPE_Q4_K_M, KT_Q4_K },
    { "Q5_K_S", KQ_FTYPE_Q5_K_S, KT_Q5_K },   { "Q5_K_M", KQ_FTYPE_Q5_K_M, KT_Q5_K },
    { "Q6_K", KQ_FTYPE_Q6_K, KT_Q6_K },       { "Q8_0", KQ_FTYPE_Q8_0, KT_Q8_0 },
    { "F16", KQ_FTYPE_F16, KT_F16 },          { "BF16", KQ_FTYPE_BF16, KT_BF16 },
    { "F32", KQ_FTYPE_ALL_F32, KT_F32 },
};
#define N_RECIPES (int)(sizeof recipes / sizeof recipes[0])

const kq_recipe *kq_recipe_at(int i)
{
    return i >= 0 && i < N_RECIPES ? &recipes[i] : NULL;
}

const kq_recipe *kq_find_recipe(const char *name)
{
    static const struct { const char *alias, *name; } aliases[] = {
        { "Q3_K", "Q3_K_M" }, { "Q4_K", "Q4_K_M" }, { "Q5_K", "Q5_K_M" },
    };
    if (!name || !*name)
        return NULL;
    char *end;
    errno = 0;
    long num = strtol(name, &end, 10);
    bool numeric = !errno && !*end && isdigit((unsigned char)name[0]);
    for (int i = 0; i < N_RECIPES; i++) {
        if (numeric ? num == recipes[i].ftype : strcasecmp(name, recipes[i].name) == 0)
            return &recipes[i];
    }
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++)
        if (strcasecmp(name, aliases[i].alias) == 0)
            return kq_find_recipe(aliases[i].name);
    return NULL;
}

/* ggml's type names ("q4_K"), which llama-quantize prints. */
static const char *ggml_type_name(int type)
{
    switch (type) {
    case KT_F32: return "f32";
    case KT_F16: return "f16";
    case KT_BF16: return "bf16";
    case KT_Q4_0: return "q4_0";
    case KT_Q4_1: return "q4_1";
    case KT_Q5_0: return "q5_0";
    case KT_Q5_1: return "q5_1";
    case KT_Q8_0: return "q8_0";
    case KT_Q8_1: return "q8_1";
    case KT_Q2_K: return "q2_K";
    case KT_Q3_K: return "q3_K";
    case KT_Q4_K: return "q4_K";
    case KT_Q5_K: return "q5_K";
    case KT_Q6_K: return "q6_K";
    case KT_Q8_K: return "q8_K";
    case KQ_TYPE_IQ4_NL: return "iq4_nl";
    default: return "?";
    }
}

static bool is_quantized(int type)
{
    return type != KT_F32 && type != KT_F16 && type != KT_BF16;
}

static int64_t block_size_of(int type)
{
    if (type == KQ_TYPE_IQ4_NL)
        return 32;
    const kt_traits *t = kt_ref_traits(type);
    return t ? t->block_size : 1;
}

/* ---- model facts -------------------------------------------------------------- */

/* An integer key, or element 0 of an integer array (per-layer values). */
static int get_int(const gguf_file *f, const char *key, int64_t dflt, int64_t *out)
{
    const gguf_kv *kv = gguf_find(f, key);
    *out = dflt;
    if (!kv)
        return 0;
    if (kv->type == GGUF_ARRAY) {
        if (kv->n == 0 || kv->elem_type == GGUF_STRING || kv->elem_type == GGUF_ARRAY ||
            kv->elem_type == GGUF_FLOAT32 || kv->elem_type == GGUF_FLOAT64)
            return kestrel_fail(f->path, "%s: not an integer array", key);
        *out = (int64_t)gguf_arr_num(kv, 0);
        return 0;
    }
    if (!gguf_get_i64(f, key, out))
        return -1;
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static int effective_dims(const gguf_tensor *t)
{
    int n = GGUF_MAX_DIMS;
    while (n > 1 && t->ne[n - 1] == 1)
        n--;
    return n;
}

/* sscanf("blk.%d.")'s layer, or -1 for tensors outside the blocks. */
static long layer_number(const char *name)
{
    if (strncmp(name, "blk.", 4) != 0)
        return -1;
    const char *p = name + 4;
    while (isspace((unsigned char)*p))
        p++;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (end == p)
        return -1;
    if (errno || v > INT_MAX || v < INT_MIN)
        return v > 0 ? INT_MAX : INT_MIN;
    return v;
}

int kq_model_info(const gguf_file *f, kq_model *m)
{
    memset(m, 0, sizeof *m);
    gguf_string arch_s = { "", 0 };
    const gguf_kv *akv = gguf_find(f, "general.architecture");
    if (akv && !gguf_get_str(f, "general.architecture", &arch_s))
        return -1;
    char arch[64];
    if (arch_s.len >= sizeof arch)
        return kestrel_fail(f->path, "general.architecture is too long");
    memcpy(arch, arch_s.ptr, (size_t)arch_s.len);
    arch[arch_s.len] = 0;
    m->falcon = strcmp(arch, "falcon") == 0;

    char key[128];
    int64_t n_layer, n_head, n_head_kv, n_expert;
    snprintf(key, sizeof key, "%s.block_count", arch);
    if (get_int(f, key, -1, &n_layer))
        return -1;
    snprintf(key, sizeof key, "%s.attention.head_count", arch);
    if (get_int(f, key, 0, &n_head))
        return -1;
    snprintf(key, sizeof key, "%s.attention.head_count_kv", arch);
    if (get_int(f, key, n_head, &n_head_kv))
        return -1;
    snprintf(key, sizeof key, "%s.expert_count", arch);
    if (get_int(f, key, 0, &n_expert))
        return -1;

    int64_t max_layer = -1;
    for (int64_t i = 0; i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name;
        if (strstr(name, "attn_v.weight") || strstr(name, "attn_qkv.weight") || strstr(name, "attn_kv_b.weight"))
            m->n_attention_wv++;
        else if (strcmp(name, "output.weight") == 0)
            m->has_output = true;
        long l = layer_number(name);
        if (l > max_layer && l < INT_MAX)
            max_layer = l;
    }
    if (n_layer < 0)
        n_layer = max_layer + 1; /* no block_count: count the blocks */
    if (n_layer > INT_MAX || n_head < 0 || n_head > INT_MAX || n_head_kv < 0 || n_expert < 0 ||
        n_expert > INT_MAX)
        return kestrel_fail(f->path, "model hyperparameters out of range");
    m->n_layer = (int)n_layer;
    m->n_gqa = n_head_kv ? (int)(n_head / n_head_kv) : 0;
    m->n_expert = (int)n_expert;
    /* llama.cpp names a Llama of 80 layers with fewer KV heads than heads "70B". */
    m->is_70b = strcmp(arch, "llama") == 0 && n_layer == 80 && n_head != n_head_kv;
    return 0;
}

/* ---- the type of each tensor ----------------------------------------------------- */

bool kq_tensor_is_quantizable(const char *name, int n_dims_effective)
{
    static const char *const never[] = {
        "_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d.weight", "time_mix_first.weight",
        "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight",
    };
    if (n_dims_effective < 2 || !ends_with(name, "weight"))
        return false;
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strstr(name, never[i]))
            return false;
    /* positional embeddings and token types (BERT) */
    return strcmp(name, "position_embd.weight") != 0 && strcmp(name, "token_types.weight") != 0;
}

static bool use_more_bits(int i_layer, int n_layers)
{
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2;
}

/* The layer of an FFN tensor: the running count, or for MoE models the number
 * in the name (llama.cpp's layer_info). */
static int layer_of(const kq_model *m, int counter, const char *name)
{
    if (m->n_expert > 1) {
        long l = layer_number(name);
        if (l < 0 || l >= m->n_layer) {
            kestrel_fail(NULL, "tensor '%s': cannot tell its layer", name);
            return -1;
        }
        return (int)l;
    }
    return counter;
}

int kq_tensor_type(const kq_model *m, kq_counters *c, const kq_recipe *r, const char *name, int64_t ne0)
{
    const int ft = r->ftype;
    int t = r->base;
    const int n_layer = m->n_layer;

    if (strcmp(name, "output.weight") == 0 || (!m->has_output && strcmp(name, "token_embd.weight") == 0)) {
        /* the output matrix (token_embd when tied) */
        if (m->falcon || ne0 % block_size_of(t) != 0)
            t = KT_Q8_0;
        else if (t != KT_Q8_0)
            t = KT_Q6_K;
    } else if (strcmp(name, "token_embd.weight") == 0) {
        /* only the IQ recipes change it */
    } else if (strstr(name, "attn_v.weight")) {
        if (ft == KQ_FTYPE_Q2_K)
            t = m->n_gqa >= 4 ? KT_Q4_K : KT_Q3_K;
        else if (ft == KQ_FTYPE_Q3_K_M)
            t = c->i_attention_wv < 2 ? KT_Q5_K : KT_Q4_K;
        else if (ft == KQ_FTYPE_Q3_K_L)
            t = KT_Q5_K;
        else if ((ft == KQ_FTYPE_Q4_K_M || ft == KQ_FTYPE_Q5_K_M) && use_more_bits(c->i_attention_wv, m->n_attention_wv))
            t = KT_Q6_K;
        else if (ft == KQ_FTYPE_Q4_K_S && c->i_attention_wv < 4)
            t = KT_Q5_K;
        if (m->is_70b && (t == KT_Q3_K || t == KT_Q4_K))
            t = KT_Q5_K; /* 8 heads share each attn_v: more bits are cheap */
        if (m->n_expert == 8)
            t = KT_Q8_0;
        c->i_attention_wv++;
    } else if (strstr(name, "attn_k.weight")) {
        if (m->n_expert == 8)
            t = KT_Q8_0;
    } else if (strstr(name, "attn_q.weight")) {
        /* only the IQ recipes change it */
    } else if (strstr(name, "ffn_down")) {
        int il = layer_of(m, c->i_ffn_down, name);
        if (il < 0)
            return -1;
        if (ft == KQ_FTYPE_Q2_K)
            t = KT_Q3_K;
        else if (ft == KQ_FTYPE_Q3_K_M)
            t = il < n_layer / 16 ? KT_Q5_K : !m->falcon || use_more_bits(il, n_layer) ? KT_Q4_K : KT_Q3_K;
        else if (ft == KQ_FTYPE_Q3_K_L)
            t = m->falcon ? KT_Q4_K : KT_Q5_K;
        else if (ft == KQ_FTYPE_Q4_K_M) {
            if (m->falcon)
                t = il < n_layer / 16 ? KT_Q6_K : use_more_bits(il, n_layer) ? KT_Q5_K : KT_Q4_K;
            else if (use_more_bits(il, n_layer))
                t = KT_Q6_K;
        } else if (ft == KQ_FTYPE_Q5_K_M && use_more_bits(il, n_layer))
            t = KT_Q6_K;
        else if (ft == KQ_FTYPE_Q4_K_S && !m->falcon && il < n_layer / 8)
            t = KT_Q5_K;
        c->i_ffn_down++;
    } else if (strstr(name, "attn_output.weight")) {
        if (!m->falcon) {
            if (m->n_expert == 8) {
                if (ft == KQ_FTYPE_Q2_K || ft == KQ_FTYPE_Q3_K_S || ft == KQ_FTYPE_Q3_K_M ||
                    ft == KQ_FTYPE_Q4_K_S || ft == KQ_FTYPE_Q4_K_M)
                    t = KT_Q5_K;
            } else {
                if (ft == KQ_FTYPE_Q2_K)
                    t = KT_Q3_K;
                else if (ft == KQ_FTYPE_Q3_K_M)
                    t = KT_Q4_K;
                else if (ft == KQ_FTYPE_Q3_K_L)
                    t = KT_Q5_K;
            }
        } else if (ft == KQ_FTYPE_Q3_K_L) {
            t = KT_Q4_K;
        }
    } else if (strstr(name, "attn_qkv.weight")) {
        if (ft == KQ_FTYPE_Q3_K_M || ft == KQ_FTYPE_Q3_K_L)
            t = KT_Q4_K;
        else if (ft == KQ_FTYPE_Q4_K_M)
            t = KT_Q5_K;
        else if (ft == KQ_FTYPE_Q5_K_M)
            t = KT_Q6_K;
    } else if (strstr(name, "ffn_gate")) {
        if (layer_of(m, c->i_ffn_gate, name) < 0)
            return -1;
        c->i_ffn_gate++;
    } else if (strstr(name, "ffn_up")) {
        if (layer_of(m, c->i_ffn_up, name) < 0)
            return -1;
        c->i_ffn_up++;
    }

    /* rows that the chosen type's blocks do not divide */
    if (ne0 % block_size_of(t) != 0) {
        switch (t) {
        case KT_Q2_K:
        case KT_Q3_K: t = KQ_TYPE_IQ4_NL; break;
        case KT_Q4_K: t = KT_Q5_0; break;
        case KT_Q5_K: t = KT_Q5_1; break;
        case KT_Q6_K: t = KT_Q8_0; break;
        default:
            kestrel_fail(NULL, "tensor '%s': row length %" PRId64 " is not a multiple of the %s block size %" PRId64
                               " (llama-quantize has no fallback for it either)",
                         name, ne0, kt_type_name(t), block_size_of(t));
            return -1;
        }
        if (ne0 % block_size_of(t) != 0)
            t = KT_F16;
    }
    return t;
}

/* ---- tensor order ------------------------------------------------------------------ */

static bool order_before(const gguf_file *f, int64_t a, int64_t b)
{
    const char *na = f->tensors[a].name, *nb = f->tensors[b].name;
    long la = layer_number(na), lb = layer_number(nb);
    if (la != lb)
        return la < lb;
    return strcmp(na, nb) < 0;
}

void kq_tensor_order(const gguf_file *f, int64_t *order)
{
    int64_t n = f->n_tensors;
    for (int64_t i = 0; i < n; i++)
        order[i] = i;
    int64_t *tmp = n > 1 ? malloc((size_t)n * sizeof *tmp) : NULL;
    if (!tmp) {
        /* insertion sort: no memory needed (n is 0 or 1, or malloc failed) */
        for (int64_t i = 1; i < n; i++) {
            int64_t v = order[i], j = i;
            for (; j > 0 && order_before(f, v, order[j - 1]); j--)
                order[j] = order[j - 1];
            order[j] = v;
        }
        return;
    }
    /* bottom-up merge sort: stable, O(n log n) for models with many tensors */
    int64_t *a = order, *b = tmp;
    for (int64_t width = 1; width < n; width *= 2) {
        for (int64_t lo = 0; lo < n; lo += 2 * width) {
            int64_t mid = lo + width < n ? lo + width : n;
            int64_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            int64_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                b[k++] = order_before(f, a[j], a[i]) ? a[j++] : a[i++];
            while (i < mid)
                b[k++] = a[i++];
            while (j < hi)
                b[k++] = a[j++];
        }
        int64_t *t = a;
        a = b;
        b = t;
    }
    if (a != order)
        memcpy(order, a, (size_t)n * sizeof *order);
    free(tmp);
}

/* ---- the conversion ------------------------------------------------------------------ */

typedef struct {
    const uint8_t *src;
    size_t src_row;
    kt_to_float_fn to_float; /* NULL: the source is F32 */
    uint8_t *dst;
    size_t dst_row;
    kt_from_float_fn quantize;
    int64_t n_per_row, nrows, rows_per_grab;
    float *scratch; /* a row per thread */
    _Atomic int64_t next_row;
    _Atomic int64_t bad_row; /* first row found with NaN or Inf, or INT64_MAX */
} convert_job;

static void convert_rows(void *arg, int ith, int nth)
{
    (void)nth;
    convert_job *j = arg;
    float *row = j->scratch + (size_t)ith * (size_t)j->n_per_row;
    for (;;) {
        int64_t r0 = atomic_fetch_add_explicit(&j->next_row, j->rows_per_grab, memory_order_relaxed);
        if (r0 >= j->nrows)
            break;
        int64_t r1 = r0 + j->rows_per_grab < j->nrows ? r0 + j->rows_per_grab : j->nrows;
        for (int64_t r = r0; r < r1; r++) {
            const uint8_t *s = j->src + (size_t)r * j->src_row;
            if (j->to_float)
                j->to_float(s, row, j->n_per_row);
            else
                memcpy(row, s, j->src_row); /* the mapping may be only byte-aligned */
            bool finite = true;
            for (int64_t k = 0; k < j->n_per_row; k++)
                finite &= isfinite(row[k]);
            if (!finite) {
                int64_t cur = atomic_load(&j->bad_row);
                while (r < cur && !atomic_compare_exchange_weak(&j->bad_row, &cur, r)) {
                }
                continue;
            }
            j->quantize(row, j->dst + (size_t)r * j->dst_row, j->n_per_row);
        }
    }
}

typedef struct {
    const gguf_tensor *t;
    int type;       /* output type */
    bool convert;   /* else copied as it is */
    uint64_t nbytes;
} planned;

static void fill_progress(kestrel_quantize_tensor *p, const planned *pl, int index, int n, int name_width)
{
    memset(p, 0, sizeof *p);
    p->index = index;
    p->n_tensors = n;
    p->name = pl->t->name;
    p->name_width = name_width;
    p->src_type = ggml_type_name((int)pl->t->type);
    p->dst_type = ggml_type_name(pl->type);
    p->n_dims = pl->t->n_dims;
    for (int d = 0; d < 4; d++)
        p->ne[d] = pl->t->ne[d];
    p->src_bytes = pl->t->nbytes;
    p->dst_bytes = pl->nbytes;
    p->converted = pl->convert;
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

const char *kestrel_quantize_type_name(int i)
{
    const kq_recipe *r = kq_recipe_at(i);
    return r ? r->name : NULL;
}

int kestrel_quantize(const char *in_path, const char *out_path, const char *type_name, int n_threads,
                     kestrel_quantize_progress progress, void *user, kestrel_quantize_stats *stats)
{
    const kq_recipe *recipe = kq_find_recipe(type_name);
    if (!recipe) {
        char list[512];
        size_t n = 0;
        list[0] = 0;
        for (int i = 0; i < N_RECIPES && n < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", recipes[i].name);
        return kestrel_fail(NULL, "unknown quantization type '%s' (known: %s)", type_name ? type_name : "", list);
    }
    if (n_threads <= 0)
        n_threads = kestrel_physical_cores();
    if (n_threads > 1024)
        return kestrel_fail(NULL, "%d threads is too many", n_threads);
    if (same_file(in_path, out_path))
        return kestrel_fail(out_path, "the output would overwrite the input");

    gguf_file *f = gguf_open(in_path);
    if (!f)
        return -1;
    int rc = -1;
    int64_t *order = NULL;
    planned *plan = NULL;
    gguf_writer *w = NULL;
    threadpool *tp = NULL;
    uint8_t *buf = NULL;
    float *scratch = NULL;
    int64_t n = f->n_tensors;

    kq_model m;
    if (kq_model_info(f, &m))
        goto done;
    order = malloc(((size_t)n + 1) * sizeof *order);
    plan = calloc((size_t)n + 1, sizeof *plan);
    if (!order || !plan) {
        kestrel_fail(in_path, "out of memory");
        goto done;
    }
    kq_tensor_order(f, order);

    /* Decide every type first: no output file is started for a model that
     * cannot be converted. */
    kq_counters counters = { 0 };
    uint64_t max_dst = 0;
    int64_t max_row = 0;
    int name_width = 0;
    for (int64_t i = 0; i < n; i++) {
        const gguf_tensor *t = &f->tensors[order[i]];
        planned *p = &plan[i];
        p->t = t;
        p->type = (int)t->type;
        int len = (int)strlen(t->name);
        if (len > name_width)
            name_width = len;
        if (kq_tensor_is_quantizable(t->name, effective_dims(t))) {
            int nt = recipe->base;
            if (is_quantized(recipe->base)) {
                nt = kq_tensor_type(&m, &counters, recipe, t->name, t->ne[0]);
                if (nt < 0) {
                    char msg[512];
                    snprintf(msg, sizeof msg, "%s", kestrel_last_error());
                    kestrel_fail(in_path, "%s", msg);
                    goto done;
                }
            }
            if (nt != (int)t->type) {
                if (is_quantized((int)t->type)) {
                    kestrel_fail(in_path, "tensor '%s' is already %s: requantizing is not supported (give an F32, F16 or BF16 model)",
                                 t->name, kt_type_name((int)t->type));
                    goto done;
                }
                if (nt == KQ_TYPE_IQ4_NL) {
                    kestrel_fail(in_path, "tensor '%s': row length %" PRId64 " is not a multiple of 256, and llama.cpp's fallback for %s there is IQ4_NL, which kestrel does not support",
                                 t->name, t->ne[0], kt_type_name(recipe->base));
                    goto done;
                }
                p->type = nt;
                p->convert = true;
                if (t->ne[0] > max_row)
                    max_row = t->ne[0];
            }
        }
        if (!p->convert) {
            p->nbytes = t->nbytes;
        } else {
            size_t row = kt_row_size((int)t->type, t->ne[0]);
            uint64_t rows = row ? t->nbytes / row : 0;
            p->nbytes = rows * kt_row_size(p->type, t->ne[0]);
            if (p->nbytes > max_dst)
                max_dst = p->nbytes;
        }
    }

    /* The output's metadata: the input's, then the two keys llama-quantize sets. */
    w = gguf_writer_new();
    if (!w) {
        kestrel_fail(out_path, "out of memory");
        goto done;
    }
    for (int64_t i = 0; i < f->n_kv; i++) {
        const char *key = f->kv[i].key;
        if (strcmp(key, "general.quantization_version") == 0 || strcmp(key, "general.file_type") == 0 ||
            strcmp(key, "split.no") == 0 || strcmp(key, "split.count") == 0 ||
            strcmp(key, "split.tensors.count") == 0)
            continue;
        gguf_writer_copy_kv(w, &f->kv[i]);
    }
    gguf_writer_add_u32(w, "general.quantization_version", KQ_QUANT_VERSION);
    gguf_writer_add_u32(w, "general.file_type", (uint32_t)recipe->ftype);
    for (int64_t i = 0; i < n; i++)
        gguf_writer_add_tensor(w, plan[i].t->name, (uint32_t)plan[i].type, plan[i].t->n_dims, plan[i].t->ne, NULL);

    if (max_dst) {
        tp = threadpool_new(n_threads);
        buf = malloc((size_t)max_dst);
        scratch = malloc((size_t)n_threads * (size_t)max_row * sizeof(float));
        if (!tp || !buf || !scratch) {
            if (tp)
                kestrel_fail(out_path, "out of memory");
            goto done;
        }
    }
    if (gguf_writer_begin(w, out_path))
        goto done;

    kestrel_quantize_stats st = { 0 };
    st.n_tensors = (int)n;
    st.n_threads = n_threads;
    for (int64_t i = 0; i < n; i++) {
        const planned *p = &plan[i];
        const gguf_tensor *t = p->t;
        const void *data = t->data;
        if (p->convert) {
            convert_job job = {
                .src = t->data,
                .src_row = kt_row_size((int)t->type, t->ne[0]),
                .to_float = t->type == KT_F32 ? NULL : kt_get_traits((int)t->type)->to_float,
                .dst = buf,
                .dst_row = kt_row_size(p->type, t->ne[0]),
                .quantize = kt_ref_traits(p->type)->quantize,
                .n_per_row = t->ne[0],
                .scratch = scratch,
            };
            job.nrows = job.src_row ? (int64_t)(t->nbytes / job.src_row) : 0;
            job.rows_per_grab = t->ne[0] >= 16384 ? 1 : (16384 + t->ne[0] - 1) / t->ne[0];
            atomic_init(&job.next_row, 0);
            atomic_init(&job.bad_row, INT64_MAX);
            threadpool_run(tp, convert_rows, &job);
            int64_t bad = atomic_load(&job.bad_row);
            if (bad != INT64_MAX) {
                kestrel_fail(in_path, "tensor '%s': row %" PRId64 " holds NaN or Inf", t->name, bad);
                goto done;
            }
            data = buf;
            st.n_quantized++;
        }
        if (gguf_writer_put_tensor(w, data))
            goto done;
        st.src_bytes += t->nbytes;
        st.dst_bytes += p->nbytes;
        if (progress) {
            kestrel_quantize_tensor info;
            fill_progress(&info, p, (int)i + 1, (int)n, name_width);
            progress(&info, user);
        }
    }
    if (gguf_writer_end(w))
        goto done;
    struct stat sb;
    if (stat(out_path, &sb) == 0)
        st.file_bytes = (uint64_t)sb.st_size;
    if (stats)
        *stats = st;
    rc = 0;
done:
    gguf_writer_free(w); /* removes a partial output */
    if (tp)
        threadpool_free(tp);
    free(buf);
    free(scratch);
    free(order);
    free(plan);
    gguf_close(f);
    return rc;
}
