/*
 * gate.h - whether a refit may replace the user's current model (internal
 * to refit.c; the benchmarks call it too): "never worse" on what can be
 * measured without labels, the false-positive rate estimated on the user's
 * unlabelled mail (issue 16 item 4).
 */
#ifndef SPAMSHIFT_ADAPT_GATE_H
#define SPAMSHIFT_ADAPT_GATE_H

#include <stddef.h>

#include "score.h"

/* A refit is refused when its estimated FPR exceeds the current model's by
 * more than this (a fraction).  Wide, because the judge is the current model
 * and on a stranger it ranks poorly: on SA -> enron1..6 with M0 the judge,
 * refits whose FPR on the user's later mail was 0.00-0.53% were estimated at
 * 2.3-18.6%, the two that flagged 59% and 100% of it at 61% and 78%.  So the
 * gate catches a refit that moves much of the user's mail across its
 * threshold, not a fine regression (bench/results/adapt-labels-2026-12-07.md). */
#define GATE_FPR_TOL 0.25

/*
 * The false-positive rate of um at threshold thr (a probability) estimated
 * on the unlabelled messages res[0..n): each message ham with the judge's
 * ham probability, the judge's scores (judge NULL: the global head) adjusted
 * to the spam share EM estimates from them (oppoint_prior_em, as
 * oppoint_fit weighs the reservoir).  Both models score without their
 * learned slots (the messages the user taught are judged as new mail).
 * -1 when n is 0 or on allocation failure.
 */
double gate_fpr(const struct model *m, const struct user_model *judge,
                const struct user_model *um, float thr, const struct adapt_example *res,
                size_t n);

#endif
