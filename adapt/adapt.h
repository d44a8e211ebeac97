/*
 * adapt.h - fitting one user's model on top of the base model: instance weights
 * for the source pool (density-ratio by a domain classifier), the user's head,
 * and the user's sparse residual over hashed features ("token memory").
 *
 *   user logit = net_head(user head, h, z) + sum over ids of residual[uhash(ids)]
 *
 * Pure computation on arrays: knows nothing of SQL, files or libmilter.  The store
 * (store.h) persists what adapt_fit() returns; scorers call adapt_score().
 */
#ifndef SPAMSHIFT_ADAPT_H
#define SPAMSHIFT_ADAPT_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* One message of the user's: its feature ids and its representation under the
 * base body (filled by adapt_represent()).  spam is 0/1 for feedback and ignored
 * for unlabelled reservoir samples. */
struct adapt_example {
    const uint32_t *ids;        /* sorted unique feature ids; borrowed */
    uint32_t n;
    float h[NET_MAX_HIDDEN];
    float z;
    uint8_t spam;
};

/* A user's fitted model.  Immutable once published; freed with user_model_free(). */
struct user_model {
    uint32_t hidden;                        /* must equal the model's */
    float head[NET_HEAD_LEN(NET_MAX_HIDDEN)];
    uint32_t seed;                          /* residual hash seed, from the user key */
    uint32_t n_resid;                       /* residual entries, sorted by slot */
    uint32_t *resid_slot;
    float *resid_w;
    uint64_t version;                       /* bumped by the store on publish */
};

struct adapt_opts {
    float clip;             /* max instance weight before normalisation */
    float domain_l2;        /* domain classifier regularisation */
    float lambda;           /* weight of the user's feedback loss; <0: cross-validate */
    float mu;               /* pull of the user head toward the global head; <0: CV */
    float resid_l2;         /* residual regularisation toward zero */
    uint32_t resid_bits;    /* residual hash space: 2^resid_bits slots */
    int use_reweight;       /* ablations: each part can be switched off */
    int use_head;
    int use_resid;
};

struct adapt_fit_stats {
    uint32_t n_feedback, n_unlabelled, n_pool;
    double domain_auc;      /* the user's measured shift; 0.5 = none */
    double ess;             /* effective sample size of the pool weights */
    double cv_err_before;   /* cross-validated error on feedback, global head */
    double cv_err_after;    /* ... with the fitted user model */
    float lambda, mu;       /* values used */
    double head_distance;   /* ||v_user - v_global|| */
    double seconds;
};

void adapt_opts_default(struct adapt_opts *o);

/* Compute ex->h and ex->z from ex->ids with the base body. */
void adapt_represent(const struct model *m, struct adapt_example *ex);

/* Fit user_key's model from feedback fb[0..n_fb) and unlabelled unl[0..n_unl)
 * against m's source pool.  With no data the result equals the global head and an
 * empty residual.  Returns 0 and *out (caller frees with user_model_free()), or -1
 * on allocation failure.  Deterministic; CPU-bound, milliseconds; never blocks. */
int adapt_fit(const struct model *m, const char *user_key,
              const struct adapt_example *fb, size_t n_fb,
              const struct adapt_example *unl, size_t n_unl,
              const struct adapt_opts *o, struct user_model **out,
              struct adapt_fit_stats *st);

/* Spam probability of a message for a user: um == NULL means the global head. */
float adapt_score(const struct model *m, const struct user_model *um,
                  const uint32_t *ids, size_t n);

/* The residual hash seed of a user key (lowercased address). */
uint32_t adapt_user_seed(const char *user_key);

/* Serialise/deserialise a user model to a compact little-endian blob for the
 * store.  user_model_decode() validates lengths and returns NULL on a bad blob. */
void *user_model_encode(const struct user_model *um, size_t *len);
struct user_model *user_model_decode(const void *blob, size_t len);
struct user_model *user_model_free(struct user_model *um);

#endif
