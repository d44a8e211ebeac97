/*
 * oppoint.h - the operating point: the verdict threshold that meets a target
 * false-positive rate (the share of a user's ham that is called spam).
 *
 * Three places set it, in this order of preference for a user:
 *   feedback    the user's labelled ham, once there is enough of it for the
 *               target (OPPOINT_FB_MIN_FP / target ham messages);
 *   unlabelled  the user's scanned mail (the reservoir), its class balance
 *               estimated by EM on the score mixture (Saerens, Latinne and
 *               Decaestecker 2002) and each message counted as ham with its
 *               adjusted ham probability, plus the labelled ham;
 *   model       the base model's stored threshold, which `spamshift train`
 *               cross-fits over groups of its training mail (cli/crossfit.c).
 * An admin's `spamshift user --spam-threshold` overrides all three.
 *
 * A refit computes the user's thresholds for every target of a fixed grid
 * (oppoint_fit) and publishes them with the user's head (a trailer of the head
 * blob: oppoint_blob_*), so a scorer picks the threshold for whatever target
 * applies now without touching the user's mail (oppoint_lookup).
 *
 * Pure computation on arrays: no SQL, no files, no libmilter.
 */
#ifndef SPAMSHIFT_OPPOINT_H
#define SPAMSHIFT_OPPOINT_H

#include <stddef.h>
#include <stdint.h>

/* The documented default target (spamshift.conf target_fpr, train --target-fpr). */
#define OPPOINT_TARGET_DEFAULT 0.003
/* Targets accepted: [OPPOINT_TARGET_MIN, OPPOINT_TARGET_MAX]. */
#define OPPOINT_TARGET_MIN 0.0001
#define OPPOINT_TARGET_MAX 0.1
/* The grid a refit computes the user's thresholds at; a target between two
 * points uses the lower one (the stricter threshold). */
#define OPPOINT_GRID_N 11
extern const double oppoint_grid[OPPOINT_GRID_N];

/* Feedback is enough for target t once it holds OPPOINT_FB_MIN_FP / t ham:
 * the threshold is then placed with OPPOINT_FB_MIN_FP labelled ham above it,
 * not at the single highest ham score (whose rate on new mail is about
 * 1/(n+1), whatever the target).  1667 ham at 0.3%. */
#define OPPOINT_FB_MIN_FP 5.0
/* The unlabelled estimate needs at least this many reservoir samples and an
 * estimated ham mass of at least one message; with less than 1 / target
 * messages it places the threshold with at most one message of estimated ham
 * above it (the strictest point the mail can place) instead. */
#define OPPOINT_UNL_MIN 200

enum oppoint_source {
    OPPOINT_MODEL = 0,          /* the base model's threshold */
    OPPOINT_UNLABELLED = 1,
    OPPOINT_FEEDBACK = 2,
    OPPOINT_OVERRIDE = 3        /* spamshift user --spam-threshold */
};

/* "model", "unlabelled", "feedback", "override". */
const char *oppoint_source_name(int source);

/* 1 when t is a target this module accepts, else 0.  Inline so that the
 * config parsers need only this header. */
static inline int
oppoint_target_valid(double t)
{
    return t >= OPPOINT_TARGET_MIN && t <= OPPOINT_TARGET_MAX;
}

/*
 * The smallest threshold t (spam iff score >= t) at which the ham with score
 * >= t carry at most target of the total weight: score[0..n) ham scores with
 * weights weight[0..n) (NULL: all 1).  Equal scores are taken together.  The
 * result is a representable float just above a ham score, at most 1.  Returns
 * -1 when the total weight is 0 (no estimate), or on allocation failure.
 */
float oppoint_threshold(const float *score, const double *weight, size_t n,
                        double target);

/*
 * The spam share of the user's mail by EM (Saerens et al. 2002): p[0..n) are
 * the spam probabilities the model gives the user's unlabelled messages,
 * trained at spam share prior_train (0.5: training is class-balanced).  Starts
 * at prior_train, iterates the adjusted posteriors' mean to a change below
 * 1e-6 or max_iter steps.  Returns the estimate in [0.001, 0.999]
 * (prior_train when n is 0).
 */
double oppoint_prior_em(const float *p, size_t n, double prior_train, int max_iter);

/* The posterior p (trained at prior_train) adjusted to the share prior. */
double oppoint_adjust(double p, double prior_train, double prior);

/* A user's operating points, as published with its head. */
struct oppoint_user {
    uint8_t source[OPPOINT_GRID_N];     /* OPPOINT_MODEL: no threshold here */
    float thr[OPPOINT_GRID_N];
    float prior;                        /* estimated spam share; -1 unknown */
    float ham_mass;                     /* estimated ham messages behind it */
    uint32_t n_ham, n_spam;             /* feedback counted */
    uint32_t n_unl;                     /* reservoir samples counted */
};

/*
 * The user's operating points from its feedback scores fb[0..n_fb) (labels
 * fb_spam) and its unlabelled scores unl[0..n_unl), all under the user's
 * model.  Returns 0, or -1 on allocation failure (*out is then all model).
 */
int oppoint_fit(const float *fb, const uint8_t *fb_spam, size_t n_fb,
                const float *unl, size_t n_unl, struct oppoint_user *out);

/* For a refit that did not read the reservoir (the interactive case: only the
 * feedback changed): the grid points op (fitted on the feedback alone) cannot
 * place from feedback keep prev's unlabelled estimate (made under the previous
 * model of the same reservoir), and op keeps prev's reservoir counts. */
void oppoint_keep_unlabelled(struct oppoint_user *op, const struct oppoint_user *prev);

/*
 * The threshold for target: the user's (op may be NULL) at the grid point at
 * or below target, else model_thr; an unlabelled estimate is taken only when
 * it is above model_thr (it underestimates the rate: see oppoint.c).  *source
 * (may be NULL) says which.
 */
float oppoint_lookup(const struct oppoint_user *op, double target, float model_thr,
                     int *source);

/*
 * The head blob's trailer.  oppoint_blob_append() returns a malloc'd copy of
 * blob[0..len) with op appended (*out_len its length), NULL on allocation
 * failure.  oppoint_blob_split() finds a trailer at the end of blob: returns 1
 * and fills *op with *model_len the length before it, or 0 (no trailer, or one
 * that does not check: *op all model, *model_len = len) for a blob written
 * before operating points.
 */
void *oppoint_blob_append(const void *blob, size_t len, const struct oppoint_user *op,
                          size_t *out_len);
int oppoint_blob_split(const void *blob, size_t len, struct oppoint_user *op,
                       size_t *model_len);

#endif
