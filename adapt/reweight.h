/*
 * reweight.h - instance weights for the source pool against a user's
 * unlabelled mail (internal: adapt_fit_prep and the tests call it).
 */
#ifndef SPAMSHIFT_ADAPT_REWEIGHT_H
#define SPAMSHIFT_ADAPT_REWEIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "adapt.h"

/*
 * Instance weights of n_src source rows against n_tgt target rows (each row
 * hidden + 1 floats: h then z, like model->pool_rep).  A logistic regression on
 * the standardised rows (L2 l2 on the slopes) is fitted on 4/5 of each side (of
 * at most 4000 source rows, an even stride) and its AUC measured on the other
 * 1/5; then beta[i] = (n_s/n_t) p(T|x)/p(S|x) for every source row, scaled and
 * clipped so that max beta <= clip and mean 1.  With fewer than 2 target rows
 * every beta is 1, dom->auc = 0.5 and dom->p = 0.  Returns 0, or -1 on
 * allocation failure (beta untouched).  Deterministic.
 */
int reweight_fit(const float *src, size_t n_src, const float *tgt, size_t n_tgt,
                 uint32_t hidden, float l2, float clip, float *beta,
                 struct adapt_domain *dom);

/* The weights reweight_fit() gave, bit for bit, from its dom and the same
 * source rows, without the target rows or a fit: one pass over the rows.
 * Also sets dom->ess and dom->n_clipped again.  Never fails. */
void reweight_apply(struct adapt_domain *dom, const float *src, size_t n_src, float *beta);

#endif
