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

/* ---- for speculative decoding (src/speculative.c) ---- */

/* The distribution kestrel_sampler_sample draws from, after the whole chain:
 * the survivors' ids and probabilities (summing to 1, same arithmetic as the
 * draw), in no particular order. temp <= 0 gives the greedy token with
 * probability 1. Both arrays need room for n_vocab. Returns the count (>= 1).
 * Consumes no randomness. */
int kestrel_sampler_probs(kestrel_sampler *sampler, const float *logits, kestrel_token *ids, float *probs);
/* The next uniform number in [0, 1) of the sampler's own random stream. */
double kestrel_sampler_uniform(kestrel_sampler *sampler);
/* Forgets the tokens recorded for the penalties; the random stream goes on. */
void kestrel_sampler_clear_history(kestrel_sampler *sampler);
/* Whether any repetition penalty is active. */
bool kestrel_sampler_has_penalties(const kestrel_sampler *sampler);

#endif
