/* kestrel synth --deepen: a copy of a model with more layers that compute almost
 * nothing. Layer n_layer + j copies the norms and q/k/v/gate/up weights of layer
 * j % n_layer and gets attention-output and FFN-down projections of tiny random
 * values, so each new layer adds about nothing to the residual stream: the text
 * stays the original's while every token reads many more bytes of weights. A
 * stand-in for a big, memory-bound target when testing speculative decoding. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf.h"
#include "kestrel.h"
#include "quant/quant.h"
#include "rng.h"
#include "speculative.h"

kestrel_deepen_params kestrel_deepen_default_params(void)
{
    kestrel_deepen_params p = { .extra_layers = 0, .type = NULL, .out_std = 1e-5f, .seed = 1 };
    return p;
}

/* general.file_type of a model whose matrices are all of one type */
static int ftype_of(int type)
{
    switch (type) {
    case KT_F32: return 0;
    case KT_F16: return 1;
    case KT_Q4_0: return 2;
    case KT_Q4_1: return 3;
    case KT_Q8_0: return 7;
    case KT_Q5_0: return 8;
    case KT_Q5_1: return 9;
    case KT_Q2_K: return 10;
    case KT_Q3_K: return 12;
    case KT_Q4_K: return 15;
    case KT_Q5_K: return 17;
    case KT_Q6_K: return 18;
    case KT_BF16: return 32;
    default: return -1;
    }
}

typedef struct {
    const gguf_tensor *src; /* the tensor copied (or the shape taken, for random ones) */
    int type;               /* written as */
    bool random;            /* N(0, std^2) instead of the source's values */
    bool zero;              /* a bias of a random projection */
    char name[96];
} out_tensor;

static bool has_suffix_after_block(const char *name, const char *rest)
{
    const char *dot = strchr(name + 4, '.');
    return dot && strcmp(dot + 1, rest) == 0;
}

/* The tensor's data as `type`, in buf (or the source itself when nothing changes). */
static const void *produce(const out_tensor *o, int64_t ne0, int64_t rows, float *row, uint8_t *buf,
                           kestrel_rng *rng, float std)
{
    const gguf_tensor *t = o->src;
    if (!o->random && !o->zero && o->type == (int)t->type)
        return t->data;
    const kt_traits *in = kt_get_traits((int)t->type), *out = kt_get_traits(o->type);
    const size_t in_row = kt_row_size((int)t->type, ne0), out_row = kt_row_size(o->type, ne0);
    for (int64_t r = 0; r < rows; r++) {
        if (o->zero) {
            memset(row, 0, (size_t)ne0 * sizeof *row);
        } else if (o->random) {
            for (int64_t i = 0; i < ne0; i += 2) { /* Box-Muller: two normals per two uniforms */
                double u1 = kestrel_rng_double(rng), u2 = kestrel_rng_double(rng);
                double rad = sqrt(-2.0 * log(1.0 - u1)) * std;
                row[i] = (float)(rad * cos(6.283185307179586 * u2));
                if (i + 1 < ne0)
                    row[i + 1] = (float)(rad * sin(6.283185307179586 * u2));
            }
        } else {
            in->to_float((const uint8_t *)t->data + (size_t)r * in_row, row, ne0);
        }
        out->quantize(row, buf + (size_t)r * out_row, ne0);
    }
    return buf;
}

int kestrel_deepen(const char *in_path, const char *out_path, const kestrel_deepen_params *params)
{
    kestrel_deepen_params p = params ? *params : kestrel_deepen_default_params();
    if (p.extra_layers < 0 || p.extra_layers > 100000)
        return kestrel_fail("--deepen", "extra layers must be 0 to 100000, got %d", p.extra_layers);
    int type = -1;
    if (p.type && (type = spec_type_from_name(p.type)) < 0)
        return kestrel_fail("--deepen", "'%s' is not a type kestrel can quantize to", p.type);
    gguf_file *f = gguf_open(in_path);
    if (!f)
        return -1;
    int rc = -1;
    gguf_writer *w = NULL;
    out_tensor *outs = NULL;
    float *row = NULL;
    uint8_t *buf = NULL;
    gguf_string arch;
    char key[160];
    uint32_t n_layer = 0;
    if (!gguf_get_str(f, "general.architecture", &arch) || arch.len > 100) {
        kestrel_fail(in_path, "no general.architecture");
        goto done;
    }
    snprintf(key, sizeof key, "%.*s.block_count", (int)arch.len, arch.ptr);
    if (!gguf_get_u32(f, key, &n_layer) || n_layer == 0) {
        kestrel_fail(in_path, "no %s", key);
        goto done;
    }

    w = gguf_writer_new();
    if (!w)
        goto oom;
    gguf_writer_set_alignment(w, (uint32_t)f->alignment);
    for (int64_t i = 0; i < f->n_kv; i++)
        gguf_writer_copy_kv(w, &f->kv[i]);
    gguf_writer_add_u32(w, key, n_layer + (uint32_t)p.extra_layers); /* replaces it in place */
    if (type >= 0 && ftype_of(type) >= 0)
        gguf_writer_add_u32(w, "general.file_type", (uint32_t)ftype_of(type));

    /* the tensors: the originals, then the new layers' */
    const int64_t cap = f->n_tensors * (1 + (int64_t)p.extra_layers); /* a new layer copies one layer's tensors */
    outs = calloc((size_t)cap, sizeof *outs);
    if (!outs)
        goto oom;
    int64_t n_out = 0;
    size_t widest = 0, biggest = 0;
    for (int pass = 0; pass <= p.extra_layers; pass++) {
        const int src_layer = pass == 0 ? -1 : (pass - 1) % (int)n_layer;
        for (int64_t i = 0; i < f->n_tensors; i++) {
            const gguf_tensor *t = &f->tensors[i];
            out_tensor *o = &outs[n_out];
            if (pass > 0) {
                if (strncmp(t->name, "blk.", 4) != 0 || atoi(t->name + 4) != src_layer)
                    continue;
                const char *rest = strchr(t->name + 4, '.');
                snprintf(o->name, sizeof o->name, "blk.%d%s", (int)n_layer + pass - 1, rest ? rest : "");
                o->random = has_suffix_after_block(t->name, "attn_output.weight") ||
                            has_suffix_after_block(t->name, "ffn_down.weight");
                o->zero = has_suffix_after_block(t->name, "attn_output.bias") ||
                          has_suffix_after_block(t->name, "ffn_down.bias");
            } else {
                snprintf(o->name, sizeof o->name, "%s", t->name);
            }
            if (n_out >= cap) {
                kestrel_fail(in_path, "unexpected tensor layout");
                goto done;
            }
            const int64_t ne0 = t->ne[0];
            const int64_t rows = (int64_t)(t->nbytes / (kt_row_size((int)t->type, ne0) ? kt_row_size((int)t->type, ne0) : 1));
            const kt_traits *tr = kt_get_traits((int)t->type);
            const bool matrix = t->n_dims >= 2;
            o->src = t;
            o->type = (int)t->type;
            if (matrix && type >= 0 && tr && tr->to_float && kt_row_size(type, ne0) != 0)
                o->type = type;
            if ((o->random || o->zero) && !kt_get_traits(o->type)->quantize) {
                kestrel_fail(in_path, "cannot write %s as %s", o->name, kt_type_name(o->type));
                goto done;
            }
            if (o->type != (int)t->type || o->random || o->zero) {
                if (!tr || !tr->to_float) {
                    kestrel_fail(in_path, "cannot read %s (%s)", t->name, kt_type_name((int)t->type));
                    goto done;
                }
                size_t bytes = kt_row_size(o->type, ne0) * (size_t)rows;
                biggest = bytes > biggest ? bytes : biggest;
                widest = (size_t)ne0 > widest ? (size_t)ne0 : widest;
            }
            gguf_writer_add_tensor(w, o->name, (uint32_t)o->type, t->n_dims, t->ne, NULL);
            n_out++;
        }
    }
    if (biggest) {
        row = malloc(widest * sizeof *row);
        buf = malloc(biggest);
        if (!row || !buf)
            goto oom;
    }
    if (gguf_writer_begin(w, out_path))
        goto done;
    kestrel_rng rng;
    kestrel_rng_seed(&rng, p.seed);
    for (int64_t i = 0; i < n_out; i++) {
        const gguf_tensor *t = outs[i].src;
        const size_t in_row = kt_row_size((int)t->type, t->ne[0]);
        const int64_t rows = in_row ? (int64_t)(t->nbytes / in_row) : 0;
        const void *data = produce(&outs[i], t->ne[0], rows, row, buf, &rng, p.out_std);
        if (gguf_writer_put_tensor(w, data))
            goto done;
    }
    if (gguf_writer_end(w))
        goto done;
    rc = 0;
    goto done;
oom:
    kestrel_fail(out_path, "out of memory");
done:
    gguf_writer_free(w);
    free(outs);
    free(row);
    free(buf);
    gguf_close(f);
    return rc;
}
