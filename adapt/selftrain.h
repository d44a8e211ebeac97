/*
 * selftrain.h - the self-trained token memory (internal).
 */
#ifndef SPAMSHIFT_ADAPT_SELFTRAIN_H
#define SPAMSHIFT_ADAPT_SELFTRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "adapt.h"

/* The pseudo-labels a memory needs: both classes, the smaller one at least
 * SELF_MIN_CLASS messages and SELF_MIN_SHARE of all (Enron LOO's smallest
 * share is 0.18; Enron -> SA's and SA -> enron's are 0). */
#define SELF_MIN_CLASS 10
#define SELF_MIN_SHARE 0.05

/* Fit the memory on the n pseudo-labelled messages ex (see adapt.h's
 * objective); an empty memory when they are not two classes as above.
 * Fills mem's residual arrays (allocated here, owned by the caller even on
 * failure), seed and bits.  Returns 0, or -1 on allocation failure. */
int selftrain_fit(const struct model *m, uint32_t seed, const struct adapt_example *ex,
                  size_t n, const struct adapt_opts *o, struct user_model *mem);
/* The residual part of a message's logit under mem (no learned slot). */
double selftrain_logit(const struct user_model *mem, const uint32_t *ids, size_t n);
/* um's residual += add's (same seed and bits).  Returns 0, or -1 on
 * allocation failure (um unchanged). */
int selftrain_merge(struct user_model *um, const struct user_model *add);

/* How many of the n unlabelled messages the global head scores beyond conf
 * (a logit: |logit| >= conf), the pseudo-label candidates.  Never fails. */
size_t selftrain_candidates(const struct model *m, const struct adapt_example *unl, size_t n,
                            double conf);
/* Copy n_ps of the n_cand candidates (0 < n_ps <= n_cand, from
 * selftrain_candidates with the same conf), evenly spread, to out with the
 * global head's label.  Returns how many were copied (n_ps).  Never fails. */
size_t selftrain_pick(const struct model *m, const struct adapt_example *unl, size_t n,
                      double conf, size_t n_cand, size_t n_ps, struct adapt_example *out);

#endif
