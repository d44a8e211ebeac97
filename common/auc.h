/*
 * auc.h - the ROC area under the curve, ties counted half: the probability that
 * a positive row scores above a negative one.  One implementation for the
 * evaluation metrics (cli), the domain classifier's held-out AUC (adapt) and the
 * benchmarks; tests/unit/test_auc.c checks it against the naive pair count.
 */
#ifndef SPAMSHIFT_AUC_H
#define SPAMSHIFT_AUC_H

#include <stddef.h>
#include <stdint.h>

/* The AUC of score against pos (nonzero = positive) over n rows, O(n log n).
 * Returns 0.5 when either class is empty and -1 when memory runs out.  The
 * result is exact (every partial sum is a half-integer), so the float and the
 * double entry points agree on the same values. */
double auc_float(const float *score, const uint8_t *pos, size_t n);
double auc_double(const double *score, const uint8_t *pos, size_t n);

#endif
