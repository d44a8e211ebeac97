/*
 * counts.h - token-count evidence beside the network: bogofilter's method
 * (Robinson's f(w) per feature id, Fisher's chi-square combination), added to
 * the network's logit as W x its log-odds.
 *
 * A table holds, for each feature id of the training mail whose f(w) is at
 * least COUNTS_MIN_DEV away from 1/2 (the only ones the Fisher combination
 * uses), log f(w) and log(1 - f(w)), precomputed, in an open-addressed hash
 * table keyed by the full 32-bit id (linear probing from a multiplicative hash
 * of the id; 2^bits slots, at most half full).  Looking up a message costs one
 * probe sequence per id and no logarithm, and no id space is searched.
 *
 * The table is built deterministically (slots filled in ascending id order),
 * so the same examples give the same bytes; model.c stores it as a section of
 * the model file (format version 2) and maps it in place.
 * Reentrant: lookups only read the table.
 */
#ifndef SPAMSHIFT_COUNTS_H
#define SPAMSHIFT_COUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "net.h"

/* bogofilter's defaults (bogofilter.cf: robs, robx, min_dev). */
#define COUNTS_ROBS 0.0178
#define COUNTS_ROBX 0.52
#define COUNTS_MIN_DEV 0.375
#define COUNTS_MAX_BITS 26      /* sanity bound on a table in a file */

/* One slot: empty when lf and lg are both 0 (a stored f(w) is strictly inside
 * (0, 1), so both logarithms of a used slot are negative). */
struct counts_slot {
    uint32_t id;
    float lf;                   /* log f(w) */
    float lg;                   /* log(1 - f(w)) */
};

struct counts {
    uint32_t bits;              /* 2^bits slots */
    uint32_t n;                 /* used slots */
    const struct counts_slot *slot;
    struct counts_slot *owned;  /* == slot when built here, else NULL (mapped) */
};

/* Count each id's ham and spam messages over ex[0..n_ex) (ids sorted and
 * unique, as struct net_example promises) and fill *c with the ids that pass
 * COUNTS_MIN_DEV.  Deterministic.  Returns 0, or -1 when out of memory (*c
 * then empty).  Free with counts_release(). */
int counts_build(const struct net_example *ex, size_t n_ex, struct counts *c);

/* Free what counts_build() allocated; a no-op for a mapped table; accepts an
 * empty one.  Leaves *c empty. */
void counts_release(struct counts *c);

/* The Fisher log-odds of one message: log(I / (1 - I)), I = (1 + S - H) / 2,
 * over the ids found in the table (ids need not be sorted); I = COUNTS_ROBX
 * when none is found, clamped to [1e-12, 1 - 1e-12].  Cannot fail. */
double counts_logit(const struct counts *c, const uint32_t *ids, size_t n);

/* Q(x2 | 2k): the chi-square survival function with 2k degrees of freedom,
 * exp(-x2/2) sum_{i<k} (x2/2)^i / i!, without underflow for large x2;
 * at most 1.  Cannot fail. */
double counts_chi2q(double x2, unsigned k);

/* Bytes of a table of 2^bits slots as model.c stores it. */
size_t counts_bytes(uint32_t bits);

/* Check a table read from a file: every used slot's logarithms negative and
 * finite, every used id reachable from its home slot, n used slots and at
 * least one empty one.  Returns 0, or -1 with a reason in why. */
int counts_check(const struct counts *c, char *why, size_t whylen);

#endif
