/*
 * metrics.h - how a filter's scores are judged (what `spamshift eval` prints):
 * ROC AUC with ties counted half, (1-AUC)%, lam% of the TREC spam track, spam
 * recall at a fixed false-positive rate, FPR/FNR at a threshold, the ROC curve.
 *
 * Pure computation on arrays; scores are "higher = spammier", labels 1 = spam.
 */
#ifndef SPAMSHIFT_METRICS_H
#define SPAMSHIFT_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics_summary {
    size_t n, n_spam, n_ham;
    double auc;             /* auc_float() (common/auc.h); 0.5 when a class is empty */
    double one_minus_auc_pct;   /* 100 (1 - auc) */
    double lam_pct;         /* logistic average misclassification at the threshold */
    double recall_01;       /* spam recall (0..1) at FPR <= 0.1% */
    double recall_1;        /* ... at FPR <= 1% */
    double fpr, fnr;        /* at the threshold: score >= thr is spam */
    size_t fp, fn;
};

/* One ROC point: the rates when every score >= thr is called spam. */
struct metrics_point {
    double fpr, tpr, thr;
};

/* Highest spam recall over the thresholds whose FPR is <= max_fpr (a tie group
 * is taken whole or not at all).  0 when no threshold qualifies or no spam;
 * -1 on allocation failure. */
double metrics_recall_at_fpr(const float *score, const uint8_t *spam, size_t n,
                             double max_fpr);

/* lam% from the false-positive and false-negative counts (TREC spam track:
 * logit^-1 of the mean of logit(FPR) and logit(FNR)); a zero count is taken as
 * 0.5 so that a perfect side does not give -infinity. */
double metrics_lam_pct(size_t fp, size_t n_ham, size_t fn, size_t n_spam);

/* Everything above at threshold thr.  Returns 0, or -1 on allocation failure. */
int metrics_compute(const float *score, const uint8_t *spam, size_t n, double thr,
                    struct metrics_summary *out);

/* The ROC curve, one point per distinct score from the highest down, starting
 * at (0, 0).  *pts is malloc'd (caller frees).  Returns 0, or -1 on allocation
 * failure. */
int metrics_roc(const float *score, const uint8_t *spam, size_t n,
                struct metrics_point **pts, size_t *n_pts);

/* Wilson score interval of k successes in n trials at 95% (z = 1.96); [0, 1]
 * when n = 0. */
void metrics_wilson(uint64_t k, uint64_t n, double *lo, double *hi);

#endif
