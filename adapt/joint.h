/*
 * joint.h - head and residual together by primal Newton-PCG (internal).
 */
#ifndef SPAMSHIFT_ADAPT_JOINT_H
#define SPAMSHIFT_ADAPT_JOINT_H

#include "fitctx.h"

/* Minimise the objective over (th, r) from th, r as given, the pool through
 * rows [0, n_rows_pool) with weights pw (or c->pq).  Returns 0, or -1 on
 * allocation failure (th, r then as they were after the last accepted step). */
int joint_solve(struct fit_ctx *c, size_t n_rows_pool, const double *pw, const double *mask,
                double lambda, double mu, double rho, double *th, double *r);

#endif
