/*
 * labels.h - stage L of a user's fit (internal): the user's labels on top of
 * the model fitted from unlabelled mail alone (stage U, M0).
 *
 *   user logit(x) = a M0(x) + c + sum_{id in x} r[slot(id)] / sqrt(n)
 *                 + learned-message slots
 *
 * fitted by class-balanced weighted L2 logistic regression on the labels with
 * M0's logit as an offset: M0 never saw the labels, so its logit on them is
 * out of sample and the cross-validation below can compare it with the fits
 * honestly.  a and lam come from k-fold CV on the labels over a small grid,
 * with the identity (a = 1, c = 0, r = 0: M0 unchanged) as an explicit
 * candidate that a fit must beat.  The result folds into the user-model
 * format exactly: the head is a times M0's with c added to its bias, the
 * token slots a w0 + r (same hashing, same 1/sqrt(n)).
 */
#ifndef SPAMSHIFT_ADAPT_LABELS_H
#define SPAMSHIFT_ADAPT_LABELS_H

#include <stddef.h>

#include "adapt.h"

/* The grids cross-validation chooses from (in this order; ties keep the
 * earlier point, and the identity wins every tie). */
#define LABELS_N_A 1
#define LABELS_N_LAM 7
extern const double labels_a_grid[LABELS_N_A];
extern const double labels_lam_grid[LABELS_N_LAM];
/* lam without token weights (use_resid 0), where it does not matter. */
#define LABELS_LAM_DEFAULT 1e-3
/* A fit replaces M0 only when its out-of-fold AUC on the labels beats M0's
 * by this many standard errors (DeLong's paired test): trusting the labels
 * over M0 is itself decided from the labels.  Below opts->cv_min labels
 * (or fewer than CV_FOLDS of a class in the folds) M0 is kept. */
#define LABELS_TRUST_Z 1.0
/* At most this many labels, evenly spread, make the CV folds. */
#define LABELS_CV_MAX 200
/* Up to this many labels the fit is solved in its kernel form (one unknown
 * per label); beyond, by primal Newton-CG over the touched slots. */
#define LABELS_KERNEL_MAX 400
/* A learned message is carried by its own slot to this logit on its label's
 * side (when the fit does not already put it there). */
#define LABELS_LEARNED_MARGIN 10.0

/* What stage L chose and measured. */
struct labels_stats {
    double a, c, lam;           /* lam 0: the identity was kept */
    int identity;               /* 1: M0 unchanged (bar the learned slots) */
    int cross_validated;        /* a, lam from CV (now or kept in the prep) */
    int reused;                 /* ... kept in the prep */
    double cv_loss_m0;          /* out-of-fold 1 - AUC + 1e-3 class-balanced
                                 * log loss: M0 */
    double cv_loss;             /* ... the choice (= m0 when identity) */
    double cv_err;              /* the choice's out-of-fold error rate at the
                                 * model's threshold (kept in prep->cv_err);
                                 * -1 without CV */
    uint32_t n_learned;         /* learned-message slots set */
};

/*
 * The user model of stage L over M0 (um0, stage U's model, borrowed) from
 * the labels fb[0..n_fb): a and lam given (opts label_a, label_lam >= 0),
 * kept in prep (have_cv, cv_n, lambda = lam, mu = a, cv_err) while the label count
 * is current (adapt_prep_cv_current), or cross-validated (stored there,
 * prep->changed set).  opts->use_head 0 fixes a = 1, c = 0; use_resid 0
 * fixes r = 0; with one class only the fit is the identity.  Learned slots
 * when opts->learned.  Returns 0 and *out (the caller frees it), or -1 on
 * allocation failure.  Deterministic; never blocks.
 */
int labels_fit(const struct model *m, const struct user_model *um0,
               const struct adapt_example *fb, size_t n_fb, const struct adapt_opts *o,
               struct adapt_prep *prep, struct user_model **out, struct labels_stats *ls);

/*
 * Each label's learned slot in um (resid_bits < 31), where um's score
 * without it does not already put the message LABELS_LEARNED_MARGIN beyond
 * 0 on its label's side: the weight that puts it there (replacing the
 * slot's weight where um had one).  A message learned twice keeps its last
 * label's weight.  *n_set += the slots set.  Returns 0, or -1 on allocation
 * failure (um unchanged).
 */
int labels_learn(const struct model *m, struct user_model *um, const struct adapt_example *fb,
                 size_t n_fb, uint32_t *n_set);

/* A copy of cur (NULL: the global head, with seed and bits) with the
 * labels' learned slots (labels_learn): what a refused refit publishes, so
 * that what the user taught is still judged as taught.  NULL on allocation
 * failure; the caller frees it. */
struct user_model *labels_keep(const struct model *m, const struct user_model *cur,
                               uint32_t seed, uint32_t bits,
                               const struct adapt_example *fb, size_t n_fb);

/*
 * The kernel form's solver, exported for test_fit's naive reference: over
 * the n rows idx[] of the symmetric Gram K (row stride ld; NULL: no token
 * weights), minimise
 *   sum_i w_i l(y_i, off_i + c + (K u)_i) + lam u'Ku
 * over u (n) and c (free_c; else c stays as given), from u, c as given.
 * off, y, w are indexed by row number idx[i].  Returns 0, -1 on allocation
 * failure.
 */
int labels_kernel_solve(const double *K, size_t ld, const size_t *idx, size_t n,
                        const double *off, const uint8_t *y, const double *w,
                        double lam, int free_c, double *u, double *c);

#endif
