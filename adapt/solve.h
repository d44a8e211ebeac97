/*
 * solve.h - one fit for given lambda and mu, the solver picked by the
 * problem's shape (internal; the rule is in solve.c and doc/design-adapt.md).
 */
#ifndef SPAMSHIFT_ADAPT_SOLVE_H
#define SPAMSHIFT_ADAPT_SOLVE_H

#include "fitctx.h"

/* Head th (from the global head, or as given with c->warm) and residual r
 * (from 0, or as given) minimising the objective with pool rows
 * [0, n_rows_pool) of c->x weighted pw and the masked-in feedback.  Returns 0,
 * or -1 on allocation failure. */
int solve_fit(struct fit_ctx *c, size_t n_rows_pool, const double *pw,
              const double *mask, double lambda, double mu, double *th, double *r);

#endif
