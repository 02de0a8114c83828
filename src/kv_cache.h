/* The key/value cache: per layer, one row of kv_dim values per position.
 * Stored as F32 or F16; a position's row is overwritten when it is evaluated
 * again, which is all that rolling back (speculative decoding) needs. */
#ifndef KESTREL_KV_CACHE_H
#define KESTREL_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "kestrel.h"

typedef struct {
    kestrel_kv_type type;
    int n_layer, n_ctx, kv_dim;
    size_t elem_size;
    uint8_t *k, *v; /* [n_layer][n_ctx][kv_dim] */
} kv_cache;

int kv_cache_init(kv_cache *kv, kestrel_kv_type type, int n_layer, int n_ctx, int kv_dim);
void kv_cache_free(kv_cache *kv);

/* Stores rows [0, n) of keys/values (kv_dim floats each) at positions pos.. of a layer. */
void kv_cache_store(kv_cache *kv, int layer, int pos, int n, const float *keys, const float *values);

/* Pointers to a layer's rows, for the attention loop. */
static inline const uint8_t *kv_cache_k_row(const kv_cache *kv, int layer, int pos)
{
    return kv->k + (((size_t)layer * kv->n_ctx + pos) * kv->kv_dim) * kv->elem_size;
}
static inline const uint8_t *kv_cache_v_row(const kv_cache *kv, int layer, int pos)
{
    return kv->v + (((size_t)layer * kv->n_ctx + pos) * kv->kv_dim) * kv->elem_size;
}

#endif
