/*
 * adapt.h - fitting one user's model on top of the base model: instance weights
 * for the source pool (density-ratio by a domain classifier), the user's head,
 * and the user's sparse residual over hashed features ("token memory").
 *
 * The user logit is score.h's; the objective fitted is below.  Split by job
 * (doc/design-adapt.md): score.c/usermodel.c score (score.h, included here),
 * fit.c orchestrates, reweight.c, selftrain.c, cv.c, solve.c (dual.c,
 * joint.c, resid.c, logreg.c) and prep.c do the parts.
 *
 * Pure computation on arrays: knows nothing of SQL, files or libmilter.  The store
 * (store.h) persists what adapt_fit() returns; scorers call adapt_score().
 */
#ifndef SPAMSHIFT_ADAPT_H
#define SPAMSHIFT_ADAPT_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "score.h"

struct adapt_opts {
    float clip;             /* max instance weight (weights have mean 1), >= 1 */
    float domain_l2;        /* domain classifier regularisation */
    float lambda;           /* weight of the user's feedback loss; <0: cross-validate */
    float mu;               /* pull of the user head toward the global head; <0: CV */
    float resid_l2;         /* residual regularisation toward zero */
    uint32_t resid_bits;    /* residual hash space: 2^resid_bits slots */
    uint32_t cv_min;        /* feedback needed before lambda/mu are cross-validated */
    uint32_t cv_pool_max;   /* pool rows used inside cross-validation fits that
                             * read rows (the joint fits use the pool's model) */
    uint32_t cv_fb_max;     /* at most this many feedback messages, evenly spread,
                             * make the cross-validation folds; 0 = all */
    /* Pseudo-labels: up to pseudo_max unlabelled messages that the global head
     * scores beyond pseudo_conf (or below 1 - pseudo_conf) join the feedback
     * with that label and weight pseudo (relative to a real label; 0 = off). */
    float pseudo;
    float pseudo_conf;
    uint32_t pseudo_max;
    /* Self-training (pseudo_self > 0): the pseudo-labelled mail is not
     * feedback but fits a token memory of its own first (the residual alone,
     * against pseudo_self times the global head's logit, with pseudo_l2);
     * the real feedback is then fitted on top of it, and the user's residual
     * is the sum of both (see adapt_fit). */
    float pseudo_self;
    float pseudo_l2;
    uint32_t pseudo_keep;   /* self-trained memory: keep its largest weights; 0 = all */
    /* Learned messages: each feedback message also owns one residual slot of
     * its own (adapt_learned_slot), regularised ADAPT_LEARNED_GAIN^2 times
     * less than a token's, so that a message the user learned scores as
     * learned even when its tokens say otherwise (1 = on). */
    int learned;
    /* Up to dual_max feedback (+ pseudo) messages the residual is solved through
     * its dual (one unknown per message); beyond, by primal Newton-CG. */
    uint32_t dual_max;
    /* Ablations.  use_reweight: the pool is weighted by beta (else uniformly) and,
     * with unlabelled mail, the head is refitted on it.  use_head: the head is
     * fitted to the user's feedback.  use_resid: the residual is fitted.  With
     * none of them (or no data) the user model is the global head. */
    int use_reweight;
    int use_head;
    int use_resid;
    /* Stages (labels = 1, the default): stage U fits the user model from
     * the unlabelled mail alone (the objective below without feedback: M0),
     * stage L fits the labels on top of it (labels.h: a M0 + c + token
     * weights r, then the learned slots), a and the L2 of r (label_a,
     * label_lam; < 0: cross-validated, label_lam 0: M0 kept) chosen by CV
     * on the labels with M0 itself a candidate.  use_head 0 fixes a = 1,
     * c = 0; use_resid 0 fixes r = 0 (and no self-training).  labels = 0:
     * one joint fit of the objective below, feedback included (the fit
     * before stage L, kept as an ablation). */
    int labels;
    float label_a, label_lam;
};

/* What adapt_fit_prep() took from its prep (struct adapt_fit_stats.reused). */
#define ADAPT_REUSED_UNL 0x1u       /* instance weights and self-trained memory */
#define ADAPT_REUSED_CV 0x2u        /* lambda and mu */

struct adapt_fit_stats {
    uint32_t n_feedback, n_unlabelled, n_pool;
    double domain_auc;      /* the user's measured shift; 0.5 = none */
    double ess;             /* effective sample size of the pool weights */
    double cv_err_before;   /* cross-validated error on feedback, global head */
    double cv_err_after;    /* ... with the fitted user model */
    float lambda, mu;       /* values used */
    int cross_validated;    /* 1 if lambda/mu came from cross-validation
                             * (now, or kept from an earlier fit) */
    unsigned reused;        /* ADAPT_REUSED_*: what adapt_fit_prep() took
                             * from its prep instead of computing */
    double head_distance;   /* ||v_user - v_global|| */
    uint32_t n_resid;       /* residual entries fitted */
    uint32_t n_pseudo;      /* pseudo-labelled messages used */
    /* stage L (opts->labels): a, c and lam chosen (lam 0: M0 kept), the
     * out-of-fold class-balanced log loss of M0 and of the choice (0 when
     * not cross-validated now), learned slots set */
    int labels_identity;
    double label_a, label_c, label_lam, label_cv_m0, label_cv;
    uint32_t n_learned;
    double seconds;
};

/*
 * The objective adapt_fit() minimises, over the head v (d+2 floats) and the
 * residual r (one float per slot touched by the feedback):
 *
 *   F(v, r) = sum_i a_i beta_i l(y_i, v.[h_i; z_i; 1])              source pool
 *           + lambda sum_j c_j l(y_j, v.[h_j; z_j; 1] + sum_{id in j} r[slot(id)] / sqrt(n_j))
 *           + mu |v - v_global|^2 + lambda resid_l2 |r|^2
 *
 * l is the logistic loss; beta has mean 1 over the pool (all 1 without
 * reweighting); a_i = 1 / (2 n_class(y_i)) makes the pool a class-balanced mean
 * (each class carries 1/2), like base training.  c_j is 1 for feedback and
 * opts->pseudo for pseudo-labelled mail.  So lambda is the weight of one
 * feedback message relative to the whole pool, and resid_l2 is relative to it.
 * The learned-message slots (opts->learned) are residual slots like the
 * others, each entering its message's sum ceil(G sqrt(n_j)) times.
 *
 * With opts->pseudo_self > 0 the pseudo-labelled messages P leave F and are
 * fitted first, alone: a token memory m (their slots, no learned slots)
 * minimising
 *
 *   sum_{j in P} pseudo l(y_j, pseudo_self v_global.[h_j; z_j; 1] + sum_{id in j} m[slot(id)] / sqrt(n_j))
 *           + pseudo_l2 |m|^2
 *
 * keeping its pseudo_keep largest weights; F is then minimised on the real
 * feedback with m's score added to each feedback logit, and the user's
 * residual is r + m.
 */
void adapt_opts_default(struct adapt_opts *o);

/* What the domain classifier measured, and the classifier itself: enough for
 * reweight_apply() to give the same weights again without refitting. */
struct adapt_domain {
    double auc;             /* held-out AUC source vs target; 0.5 when unknown */
    double ess;             /* (sum beta)^2 / sum beta^2 */
    uint32_t n_clipped;     /* weights that hit the clip */
    uint32_t p;             /* row length (hidden + 1); 0: no classifier,
                             * every weight 1 */
    double mean[NET_MAX_HIDDEN + 1], isd[NET_MAX_HIDDEN + 1];  /* standardisation */
    double theta[NET_MAX_HIDDEN + 2];       /* logit of T on standardised rows */
    double scale;           /* beta = min(scale exp(logit), clip) */
    float clip;
};

/* Fit user_key's model from feedback fb[0..n_fb) and unlabelled unl[0..n_unl)
 * against m's source pool.  With no data the result equals the global head and an
 * empty residual.  Returns 0 and *out (caller frees with user_model_free()), or -1
 * on allocation failure.  Deterministic; CPU-bound, milliseconds; never blocks. */
int adapt_fit(const struct model *m, const char *user_key,
              const struct adapt_example *fb, size_t n_fb,
              const struct adapt_example *unl, size_t n_unl,
              const struct adapt_opts *o, struct user_model **out,
              struct adapt_fit_stats *st);

/*
 * What a fit derives from the user's unlabelled mail alone (with the base
 * model, the user key and the options): the domain classifier behind the
 * instance weights and the self-trained token memory, together more than half
 * of a refit; and what it derives from the count of feedback: lambda and mu
 * chosen by cross-validation, the rest of it.  Both change slowly, so a caller
 * that refits the same user again keeps them (the store does, between refits)
 * and passes them back to adapt_fit_prep(), which then skips that work.
 *
 * The caller decides when the unlabelled part is stale (the store: when enough
 * new mail entered the reservoir) and says so with have_unl = 0; adapt_fit_prep()
 * recomputes whatever is missing or was made for other options, another model
 * or another user (adapt_prep_usable() says which), and fills it in.  It reruns the
 * cross-validation when the feedback has grown by a quarter (or shrunk) since
 * cv_n.  A fit with a freshly computed prep and one reusing it give the same
 * model bit for bit.
 */
struct adapt_prep {
    uint64_t fingerprint;           /* of the options and model it was made for */
    uint32_t hidden;
    uint32_t seed;                  /* the user's residual hash seed */
    /* unlabelled side */
    int have_unl;
    uint32_t n_unl;                 /* reservoir samples it was computed from */
    struct adapt_domain dom;
    uint32_t n_pseudo;
    uint32_t n_mem;                 /* self-trained memory: slots sorted */
    uint32_t *mem_slot;
    float *mem_w;
    int have_quad;                  /* the weighted pool's loss as its exact
                                     * second-order model at the global head:
                                     * value, gradient, Hessian (1 + q + q*q
                                     * doubles, q = hidden + 2) */
    double *quad;
    /* cross-validation */
    int have_cv;
    uint32_t cv_n;                  /* feedback count lambda and mu were chosen at */
    double lambda, mu;              /* with opts->labels, stage L's lam and a */
    double cv_err;                  /* ... and its CV loss */
    /* set by adapt_fit_prep() when it filled in any part (worth storing
     * again); never serialised, 0 after adapt_prep_decode() */
    int changed;
};

/*
 * adapt_fit() with a prep kept between fits (see struct adapt_prep); prep must
 * be zeroed before its first use and released with adapt_prep_clear().
 * st->reused says what was taken from it.  Returns 0, or -1 on allocation
 * failure (prep is then left empty or as it was).
 */
int adapt_fit_prep(const struct model *m, const char *user_key,
                   const struct adapt_example *fb, size_t n_fb,
                   const struct adapt_example *unl, size_t n_unl,
                   const struct adapt_opts *o, struct adapt_prep *prep,
                   struct user_model **out, struct adapt_fit_stats *st);

/* 1 when adapt_fit_prep() would use prep for this model, user and options;
 * 0 when it would drop it and compute everything (another model, user or
 * options).  A caller that leaves out the unlabelled mail because prep has
 * have_unl must check this first. */
int adapt_prep_usable(const struct adapt_prep *prep, const struct model *m,
                      const char *user_key, const struct adapt_opts *o);

/* Free what prep holds and zero it. */
void adapt_prep_clear(struct adapt_prep *prep);

/* Serialise a prep to a little-endian blob for the store (NULL on allocation
 * failure) and back: adapt_prep_decode() validates every length and returns
 * -1 (prep zeroed) on a bad or foreign blob, which the caller treats as no
 * prep at all. */
void *adapt_prep_encode(const struct adapt_prep *prep, size_t *len);
int adapt_prep_decode(const void *blob, size_t len, struct adapt_prep *prep);

#endif
