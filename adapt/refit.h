/*
 * refit.h - continual adaptation: refit a user's model from what the store holds
 * (feedback and reservoir) and publish it with a new version; refit every dirty
 * user; and the two calls scorers make (load a user's current model, offer a
 * scanned message to the user's reservoir).
 *
 * Glue between store.h and adapt.h: no SQL here, no libmilter.  Every function
 * takes the caller's store connection (one per thread) and blocks on the store
 * at most for its busy timeout.
 */
#ifndef SPAMSHIFT_REFIT_H
#define SPAMSHIFT_REFIT_H

#include <stddef.h>
#include <stdint.h>

#include "adapt.h"
#include "features.h"
#include "model.h"
#include "oppoint.h"
#include "store.h"

struct refit_result {
    uint32_t n_spam, n_ham;     /* feedback used */
    uint32_t n_reservoir;       /* unlabelled samples used */
    uint32_t n_represented;     /* of those and the feedback, representations
                                 * computed now rather than read from the cache */
    struct adapt_fit_stats fit; /* what adapt_fit() measured */
    uint64_t version;           /* published version (0 on a dry run or when stale) */
    int published;              /* 1 published, 0 dry run, -1 lost to a newer refit */
    struct oppoint_user op;     /* the operating points published with the model */
    /* the publish gate (gate.h), when the reservoir was read: the FPR
     * estimated on it for the current model and for the refit (-1: not
     * measured); refused 1 when the refit was worse, and then the current
     * model with the new labels' learned slots was published instead */
    double gate_fpr_before, gate_fpr_after;
    int refused;
    double ms;                  /* load + fit + publish, wall clock */
};

/*
 * Refit user against base model m with options o: one read snapshot of the
 * user's feedback and reservoir, adapt_fit(), the user's operating points
 * placed on their scores under the new model (oppoint_fit); when the
 * reservoir was read, the publish gate: a refit whose FPR estimated on the
 * reservoir (gate_fpr) exceeds the current model's by GATE_FPR_TOL is
 * refused, and the current model (the global head if none) with the labels'
 * learned slots and its operating points stands instead (r->refused).  Then
 * (unless dry_run) publish under m->id with the state they were fitted from.  A user unknown to the
 * store is fitted with no data (the global head) and not published.
 * Returns STORE_OK with *r filled (r->published = -1 if a newer refit won, which
 * is not an error), or a STORE_E* status with a reason in err.
 */
int refit_user(struct store *s, const struct model *m, const char *user,
               const struct adapt_opts *o, int dry_run, struct refit_result *r,
               char *err, size_t errlen);

/* The user's operating points (oppoint.h) under its new model um (fitted
 * by adapt_fit with stats st from the feedback fb and reservoir res): every
 * reservoir sample scored by it, the feedback out of sample (5 folds
 * refitted without the reservoir, with st's choices) once there is enough
 * ham for feedback to place the default target; with less the feedback
 * places nothing.  What refit_user publishes; exported for the benchmarks.
 * Returns 0, or -1 on allocation failure. */
int refit_oppoint(const struct model *m, const char *user, const struct user_model *um,
                  const struct adapt_example *fb, size_t n_fb,
                  const struct adapt_example *res, size_t n_res, const struct adapt_opts *o,
                  const struct adapt_fit_stats *st, struct oppoint_user *op);

/* Called after each user by refit_dirty(): status is refit_user()'s, err its
 * message when status < 0. */
typedef void (*refit_report_fn)(void *arg, const char *user, int status,
                                const struct refit_result *r, const char *err);

/*
 * Refit up to max (0: all) dirty users (new feedback, enough new samples, or a
 * head fitted against another base model; see store_dirty_list()), in key order.
 * Each is claimed first (store_dirty_claim) for lease_s seconds (0:
 * STORE_CLAIM_LEASE; the milter's refit_lease, adapt --lease): a user another
 * process or thread holds is skipped, so that hosts sharing one store, and
 * adapt -j workers, refit each dirty user once; a claim whose holder died
 * before giving it back may be taken again when its lease has run out.  A dry run claims nothing and fits every dirty
 * user.  This is what the milter's background thread calls periodically, on
 * its own connection.  A failure for one user is reported and the others still
 * run.  Returns the number of users refitted, or -1 if the dirty users could
 * not be claimed or listed (reason in err; users refitted before that were
 * reported); *n_failed (may be NULL) counts the users that failed.
 */
long refit_dirty(struct store *s, const struct model *m, const struct adapt_opts *o,
                 size_t max, unsigned lease_s, int dry_run, refit_report_fn fn, void *arg,
                 size_t *n_failed, char *err, size_t errlen);

/*
 * One step of a claim walk (refit_dirty, adapt -j's workers): claim the first
 * dirty user after *last (NULL: the first) for lease_s seconds (0:
 * STORE_CLAIM_LEASE), refit and publish it, give the
 * claim back, report through fn (may be NULL).  *last becomes that user's key
 * (malloc'd; the caller frees the last one).  Returns 1 (refitted), 0 (its
 * refit failed; reported), -1 (no dirty user left to claim after *last) or -2
 * (claiming failed; reason in err).
 */
int refit_claim_next(struct store *s, const struct model *m, const struct adapt_opts *o,
                     unsigned lease_s, char **last, refit_report_fn fn, void *arg,
                     char *err, size_t errlen);

/*
 * The user's published model for base model m, for scoring with adapt_score().
 * *um may hold the caller's cached copy: when the stored version is the same it
 * is kept (one indexed read, no decode); otherwise it is freed and replaced.
 * Returns STORE_OK with *um set, STORE_NOTFOUND with *um = NULL when the user has
 * no model for m (score with the global head), or an error (*um left as it was,
 * reason in err).  A stored blob that does not decode or does not fit m is an
 * error, never a crash.
 */
int refit_load_user_model(struct store *s, const struct model *m, const char *user,
                          struct user_model **um, char *err, size_t errlen);

/* The operating points (oppoint.h) published with user's model for base model
 * m, into *op (all model when the user has none, or its head predates them).
 * Returns STORE_OK, STORE_NOTFOUND (no model: *op all model), or an error
 * with a reason in err. */
int refit_load_oppoint(struct store *s, const struct model *m, const char *user,
                       struct oppoint_user *op, char *err, size_t errlen);

/* The verdict threshold that applies to user under base model m, the milter's
 * rule: the user's own spam threshold (store_threshold_get, source
 * OPPOINT_OVERRIDE), else its published operating point for target
 * (oppoint_lookup; the user's own target_fpr, store_target_fpr_get, replaces
 * target), else m->threshold (OPPOINT_MODEL); *target_used (may be NULL) gets
 * the target that applied.  Returns STORE_OK with
 * *thr and *source, or an error with a reason in err. */
int refit_user_threshold(struct store *s, const struct model *m, const char *user,
                         double target, float *thr, int *source, double *target_used,
                         char *err, size_t errlen);

/* Offer one scanned message (features_extract()'s ids and digest) to user's
 * reservoir; *kept (may be NULL) says whether it entered.  See
 * store_reservoir_offer(); inside store_begin()/store_commit() it joins the
 * batch. */
int refit_observe(struct store *s, const char *user, const struct features *f,
                  int *kept);

#endif
