/*
 * prep.h - what adapt_fit_prep() needs of prep.c beyond adapt.h (internal).
 */
#ifndef SPAMSHIFT_ADAPT_PREP_H
#define SPAMSHIFT_ADAPT_PREP_H

#include <stddef.h>
#include <stdint.h>

#include "adapt.h"

/* What a prep depends on besides the user's mail: the model's id and every
 * option.  Never 0; never fails. */
uint64_t adapt_prep_fingerprint(const struct model *m, const struct adapt_opts *o);
/* 1 when the prep's lambda and mu still hold for n_fb feedback messages
 * (from the count they were chosen at until it grows by a quarter). */
int adapt_prep_cv_current(const struct adapt_prep *prep, size_t n_fb);
/* Keep a cross-validation's outcome in the prep (chosen at n_fb feedback
 * messages: lambda, mu and the CV loss err) and mark the prep changed. */
void adapt_prep_keep_cv(struct adapt_prep *prep, size_t n_fb, double lambda, double mu,
                        double err);

#endif
