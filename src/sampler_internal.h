/* A test hook into the sampler: the candidate set that survives the filters. */
#ifndef KESTREL_SAMPLER_INTERNAL_H
#define KESTREL_SAMPLER_INTERNAL_H

#include "kestrel.h"

/* Runs penalties → top-k → top-p → min-p on logits (not modified), exactly as
 * kestrel_sampler_sample does before temperature, and writes the survivors best
 * first (highest logit, lowest id on ties): their ids, and their logits after the
 * penalties when kept_logits is not NULL. Both arrays need room for n_vocab.
 * Returns how many survived (>= 1). Consumes no randomness. */
int kestrel_sampler_filter(kestrel_sampler *sampler, const float *logits, kestrel_token *kept_ids,
                           float *kept_logits);

#endif
