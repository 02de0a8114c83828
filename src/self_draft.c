/* --draft-self: the target itself, requantized in memory to a low-bit type
 * (optionally only its first k layers, then the output head), as the draft.
 * The copy maps the same file again (the pages are shared) and replaces the
 * matrices it converts by rows in one malloc'd block that the model owns. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "model.h"
#include "quant/quant.h"
#include "speculative.h"

int spec_type_from_name(const char *name)
{
    char up[16];
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof up)
        return -1;
    for (size_t i = 0; i <= n; i++)
        up[i] = (char)toupper((unsigned char)name[i]);
    /* llama-quantize's mix names stand for their main type: Q4_K_M -> Q4_K */
    if (n == 6 && up[0] == 'Q' && up[2] == '_' && up[3] == 'K' && up[4] == '_' &&
        (up[5] == 'M' || up[5] == 'S' || up[5] == 'L'))
        up[4] = 0;
    int t = kt_type_from_name(up);
    const kt_traits *tr = t >= 0 ? kt_get_traits(t) : NULL;
    if (!tr || !tr->quantize || !tr->vec_dot || !tr->to_float)
        return -1;
    return t;
}

typedef struct {
    weight *w;
    size_t offset; /* in the new block */
} conversion;

/* Requantizes one matrix into dst, row by row through floats. */
static void convert(const weight *w, int type, uint8_t *dst, float *row)
{
    const kt_traits *src = kt_get_traits(w->type), *out = kt_get_traits(type);
    const size_t out_row = kt_row_size(type, w->ne0);
    for (int64_t r = 0; r < w->ne1; r++) {
        src->to_float(w->data + (size_t)r * w->row_bytes, row, w->ne0);
        out->quantize(row, dst + (size_t)r * out_row, w->ne0);
    }
}

kestrel_model *kestrel_model_self_draft(const kestrel_model *target, const char *type_name, int n_layers)
{
    const int type = spec_type_from_name(type_name);
    if (type < 0) {
        kestrel_fail("--draft-self", "'%s' is not a type kestrel can quantize to and compute with", type_name);
        return NULL;
    }
    if (!target->layers) {
        kestrel_fail(target->name, "the model was loaded without weights");
        return NULL;
    }
    if (n_layers < 0 || n_layers > target->hp.n_layer) {
        kestrel_fail("--draft-self-layers", "%d layers asked, the model has %d", n_layers, target->hp.n_layer);
        return NULL;
    }
    kestrel_model *m = model_load_unpacked(target->file->path);
    if (!m)
        return NULL;
    if (n_layers > 0)
        m->hp.n_layer = n_layers;

    /* the matrices to convert: those of the layers used, and the output head */
    const int max_conv = 8 * m->hp.n_layer + 1;
    conversion *conv = calloc((size_t)max_conv, sizeof *conv);
    if (!conv)
        goto oom;
    int n_conv = 0;
    size_t total = 0;
    int64_t widest = 0;
    for (int l = 0; l <= m->hp.n_layer; l++) {
        layer_weights *lw = l < m->hp.n_layer ? &m->layers[l] : NULL;
        weight *ws[8] = { 0 };
        if (lw) {
            weight *list[8] = { &lw->wq, &lw->wk, &lw->wv, &lw->wqkv, &lw->wo, &lw->w_gate, &lw->w_up, &lw->w_down };
            memcpy(ws, list, sizeof ws);
        } else {
            ws[0] = &m->output; /* when tied, token_embd stays as it is: only its rows are read */
        }
        for (int i = 0; i < 8; i++) {
            weight *w = ws[i];
            if (!w || !w->data || w->type == type || kt_row_size(type, w->ne0) == 0)
                continue;
            conv[n_conv].w = w;
            conv[n_conv].offset = total;
            total += (kt_row_size(type, w->ne0) * (size_t)w->ne1 + 63) & ~(size_t)63;
            widest = w->ne0 > widest ? w->ne0 : widest;
            n_conv++;
        }
    }
    uint8_t *block = NULL;
    float *row = NULL;
    if (total) {
        block = aligned_alloc(64, total);
        row = malloc((size_t)widest * sizeof *row);
        if (!block || !row) {
            free(block);
            free(row);
            free(conv);
            goto oom;
        }
    }
    for (int i = 0; i < n_conv; i++) {
        weight *w = conv[i].w;
        convert(w, type, block + conv[i].offset, row);
        w->type = type;
        w->row_bytes = kt_row_size(type, w->ne0);
        w->data = block + conv[i].offset;
    }
    free(row);
    free(conv);
    m->owned = block;
    if (model_repack(m)) {
        kestrel_model_free(m);
        return NULL;
    }
    char name[256];
    snprintf(name, sizeof name, "%s (self-draft %s, %d layers)", target->name, kt_type_name(type), m->hp.n_layer);
    char *copy = strdup(name);
    if (copy) {
        free(m->name);
        m->name = copy;
    }
    return m;
oom:
    kestrel_fail("--draft-self", "out of memory for the requantized copy");
    kestrel_model_free(m);
    return NULL;
}
