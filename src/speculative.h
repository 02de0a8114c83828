/* Speculative decoding internals, exposed for tests (the API is in kestrel.h). */
#ifndef KESTREL_SPECULATIVE_H
#define KESTREL_SPECULATIVE_H

#include "kestrel.h"

/* Prompt lookup: finds the most recent earlier occurrence of the last g tokens
 * of hist[0..n) (g = ngram_max down to ngram_min, the first that matches) and
 * writes up to max of the tokens that followed it. Returns how many (0: none). */
int spec_lookup_draft(const kestrel_token *hist, int n, int ngram_max, int ngram_min, int max,
                      kestrel_token *out);

/* The draft length k in [0, n_max] that maximizes the expected tokens per unit
 * of time, (1 - a^(k+1)) / (1 - a) / (k * t_draft + t_verify[k + 1]): a is the
 * chance a draft token is accepted given the ones before it were, t_draft the
 * time of one draft step, t_verify[b] (b = 1..n_max+1) that of a target pass
 * over b tokens. */
int spec_best_len(double a, double t_draft, const double *t_verify, int n_max);

/* A weight type by name for --draft-self / --deepen: "Q4_0", "q8_0", "F16";
 * a mix name such as "Q4_K_M" means its main type. -1 when kestrel cannot both
 * quantize to it and compute with it. */
int spec_type_from_name(const char *name);

#endif
