/*
 * pool.h - the source pool of a newly trained model: a seeded, stratified
 * sample of the training mail kept as representations (h, z) for adaptation to
 * reweight (adapt/).  Internal to model/ (train.c calls it).
 */
#ifndef SPAMSHIFT_POOL_H
#define SPAMSHIFT_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/*
 * Fill m's pool from the training examples ex[0..n_ex), n_spam of them spam:
 * at most pool_max rows, each class in its training proportion, chosen by a
 * partial Fisher-Yates seeded from seed, kept in training order, scored by m's
 * final weights on up to `threads` threads.  Sets pool_n, pool_rep and
 * pool_label (into m's own pool_rep_owned/pool_label_owned, freed by
 * model_free()).  Deterministic.  Returns 0, or -1 when out of memory (what
 * was allocated is left in m for model_free()).
 */
int pool_build(struct model *m, const struct net_example *ex, size_t n_ex, size_t n_spam,
               uint32_t pool_max, uint64_t seed, unsigned threads);

#endif
