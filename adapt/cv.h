/*
 * cv.h - lambda and mu by cross-validation (internal; tests use the grid).
 */
#ifndef SPAMSHIFT_ADAPT_CV_H
#define SPAMSHIFT_ADAPT_CV_H

#include "fitctx.h"

#define CV_FOLDS 5
/* Defaults used when lambda/mu are not given and cannot be cross-validated;
 * also the centre of the grid. */
#define CV_LAMBDA_DEFAULT 0.05f
#define CV_MU_DEFAULT 1.0f
/* The grid: lambda = lam0 * cv_grid_scale[li], mu = mu0 * cv_grid_scale[mi];
 * ties in held-out loss go to the first point in (li, mi) order. */
#define CV_N_SCALE 3
extern const float cv_grid_scale[CV_N_SCALE];

/*
 * K-fold CV over the (lambda, mu) grid on the real feedback (the first n_real
 * messages of c; at most opts->cv_fb_max of them, evenly spread, in the
 * folds: message number i of those in fold i % CV_FOLDS).  The joint fits see
 * the whole pool through its second-order model at the global head, the
 * others a stride subsample of at most opts->cv_pool_max rows moved to the
 * front of c->x (restored before returning).  Only lambda moves when
 * !cv_lambda, only mu when !cv_mu.  Sets *lam_out, *mu_out (lam0, mu0 when
 * nothing was tried) and *err_out (the chosen point's CV error rate at
 * thr_logit).  Returns 0, or -1 on allocation failure.
 */
int cv_select(struct fit_ctx *c, const float *beta, const struct model *m,
              size_t n_real, double lam0, double mu0, int cv_lambda,
              int cv_mu, double thr_logit, double *lam_out, double *mu_out,
              double *err_out);

#endif
