#include "kv_cache.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "quant/fp16.h"

int kv_cache_init(kv_cache *kv, kestrel_kv_type type, int n_layer, int n_ctx, int kv_dim)
{
    memset(kv, 0, sizeof *kv);
    kv->type = type;
    kv->n_layer = n_layer;
    kv->n_ctx = n_ctx;
    kv->kv_dim = kv_dim;
    kv->elem_size = type == KESTREL_KV_F32 ? sizeof(float) : sizeof(kt_half);
    size_t n = (size_t)n_layer * (size_t)n_ctx * (size_t)kv_dim;
    if (n / (size_t)n_ctx / (size_t)n_layer != (size_t)kv_dim || n > SIZE_MAX / 2 / kv->elem_size)
        return kestrel_fail(NULL, "KV cache of %d positions is too large", n_ctx);
    /* calloc: pages of positions never reached are never touched, so cost no memory. */
    kv->k = calloc(n, kv->elem_size);
    kv->v = calloc(n, kv->elem_size);
    if (!kv->k || !kv->v) {
        kv_cache_free(kv);
        return kestrel_fail(NULL, "out of memory for a KV cache of %d positions", n_ctx);
    }
    return 0;
}

void kv_cache_free(kv_cache *kv)
{
    free(kv->k);
    free(kv->v);
    kv->k = kv->v = NULL;
}

static void store_rows(const kv_cache *kv, uint8_t *dst, const float *src, int n)
{
    size_t count = (size_t)n * kv->kv_dim;
    if (kv->type == KESTREL_KV_F32) {
        memcpy(dst, src, count * sizeof(float));
        return;
    }
    kt_half *h = (kt_half *)dst;
    for (size_t i = 0; i < count; i++)
        h[i] = kt_f32_to_half(src[i]);
}

void kv_cache_store(kv_cache *kv, int layer, int pos, int n, const float *keys, const float *values)
{
    store_rows(kv, (uint8_t *)kv_cache_k_row(kv, layer, pos), keys, n);
    store_rows(kv, (uint8_t *)kv_cache_v_row(kv, layer, pos), values, n);
}
