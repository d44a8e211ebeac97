/*
 * resid.h - the residual block alone by Newton-CG (internal).
 */
#ifndef SPAMSHIFT_ADAPT_RESID_H
#define SPAMSHIFT_ADAPT_RESID_H

#include "fitctx.h"

/* Minimise sum_{j} mask[j] l(y_j, a_j + s_j(r)) + rho |r|^2 over r (c->n_slots
 * values, starting from r as given); a[] are the feedback rows' fixed logits,
 * mask[j] == 0 excludes message j.  Stops once the gradient's largest
 * component is below gtol.  Uses c's scratch; never fails. */
void resid_solve(struct fit_ctx *c, const double *a, const double *mask, double rho,
                 double *r, double gtol);

#endif
