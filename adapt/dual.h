/*
 * dual.h - the residual through its dual, head free or fixed (internal).
 */
#ifndef SPAMSHIFT_ADAPT_DUAL_H
#define SPAMSHIFT_ADAPT_DUAL_H

#include "fitctx.h"

/* Minimise the objective over r (and th when head_free) through one dual
 * unknown per masked-in feedback message; needs c->gram.  Warm-starts from
 * c->alpha when set (and leaves the solution there).  On return r holds the
 * primal residual.  Returns 0, or -1 on allocation failure. */
int dual_solve(struct fit_ctx *c, size_t n_rows_pool, const double *pw, const double *mask,
               double lambda, double mu, double rho, int head_free, double *th, double *r);

#endif
