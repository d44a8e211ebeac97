/*
 * objective.h - the objective of adapt.h over a fit context (internal):
 * the pool part (rows, or c->pq's quadratic model) and the whole.
 */
#ifndef SPAMSHIFT_ADAPT_OBJECTIVE_H
#define SPAMSHIFT_ADAPT_OBJECTIVE_H

#include "fitctx.h"

/* The full objective (adapt.h) at (th, r) over the rows [0, n_rows_pool) of
 * c->x with weights w and lambda on masked-in feedback. */
double objective_full(const struct fit_ctx *c, size_t n_rows_pool, const double *w,
                      const double *mask, double lambda, double mu, double rho,
                      const double *th, const double *r);
/* Add the weighted pool's gradient (q = p + 1 entries) and the lower triangle
 * of its Hessian at head th to g and hs, and with f != NULL its loss to *f
 * (rows only: not with c->pq); xr is scratch of q doubles. */
void objective_pool_pass(const struct fit_ctx *c, size_t n_rows_pool, const double *pw,
                         const double *th, size_t p, double *xr, double *g, double *hs,
                         double *f);
/* objective_pool_pass() without the loss. */
void objective_pool_grad_hess(const struct fit_ctx *c, size_t n_rows_pool, const double *pw,
                              const double *th, size_t p, double *xr, double *g, double *hs);
/* The weighted pool loss at head th: exact over the rows, or c->pq's model. */
double objective_pool_value(const struct fit_ctx *c, size_t n_rows_pool, const double *pw,
                            const double *th);
/* pq := the exact second-order model of the pool's loss at th (c->pq NULL). */
void objective_quad_build(const struct fit_ctx *c, size_t n_rows_pool, const double *pw,
                          const double *th, struct pool_quad *pq);
/* pq := the pool's model at the global head under the whole pool's weights
 * pw: the prep's copy when it has one, else built and kept in c->prep. */
void objective_quad_global(struct fit_ctx *c, const double *pw, struct pool_quad *pq);

#endif
