/* The key/value cache, stored transposed: for each layer and each of the
 * kv_dim channels (head-major: channel = kv_head * head_dim + d), one row of
 * n_ctx positions. Attention then reads, for a head, head_dim contiguous runs
 * over positions, which vectorizes over positions (see attention.c).
 * F32 or F16. A position's column is overwritten when it is evaluated again,
 * which is all that rolling back (speculative decoding) needs. */
#ifndef KESTREL_KV_CACHE_H
#define KESTREL_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "kestrel.h"

typedef struct {
    kestrel_kv_type type;
    int n_layer, n_ctx, kv_dim;
    size_t elem_size;
    int stride;     /* positions per channel row: n_ctx, padded (see kv_cache.c) */
    uint8_t *k, *v; /* [n_layer][kv_dim][stride] */
    size_t bytes;   /* of each */
} kv_cache;

int kv_cache_init(kv_cache *kv, kestrel_kv_type type, int n_layer, int n_ctx, int kv_dim);
void kv_cache_free(kv_cache *kv);

/* Stores rows [0, n) of keys/values (kv_dim floats each) at positions pos.. of a layer. */
void kv_cache_store(kv_cache *kv, int layer, int pos, int n, const float *keys, const float *values);

/* The run of positions [pos, ...) of one channel of a layer. */
static inline const void *kv_cache_k(const kv_cache *kv, int layer, int channel, int pos)
{
    return kv->k + (((size_t)layer * kv->kv_dim + channel) * kv->stride + pos) * kv->elem_size;
}
static inline const void *kv_cache_v(const kv_cache *kv, int layer, int channel, int pos)
{
    return kv->v + (((size_t)layer * kv->kv_dim + channel) * kv->stride + pos) * kv->elem_size;
}

#endif
