/*
 * logreg.h - dense weighted logistic regression by Newton's method (internal
 * to adapt/): the solver behind the domain classifier (reweight.c) and the
 * head when it is fitted alone (solve.c).
 */
#ifndef SPAMSHIFT_ADAPT_LOGREG_H
#define SPAMSHIFT_ADAPT_LOGREG_H

#include <stddef.h>
#include <stdint.h>

/* Minimises
 *   sum_i w[i] l(y[i], theta.[x_i; 1] + off[i]) + sum_k pen[k] (theta[k] - c[k])^2
 * over theta (p + 1 values, the last the bias) by Newton's method with a
 * backtracking line search, starting from theta as given.  x is n rows of p
 * floats (row stride p); off may be NULL; pen[k] >= 0 and the Hessian must be
 * positive definite (some pen > 0 or enough data); p <= NET_MAX_HIDDEN + 1.
 * Returns the number of iterations, or -1 on allocation failure (theta
 * untouched).  Deterministic; never blocks. */
int logreg_fit(const float *x, size_t n, uint32_t p, const uint8_t *y,
                 const double *w, const double *off, const double *pen,
                 const double *c, double *theta, int max_iter);

#endif
