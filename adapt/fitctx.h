/*
 * fitctx.h - the fit context shared by adapt/'s solvers (internal): struct
 * fit_ctx (one user's problem, built once by fitctx_build()), struct
 * pool_quad (the pool's loss as a quadratic model), and the two inline
 * per-row quantities every solver reads: a feedback message's residual score
 * and a row's head logit.
 */
#ifndef SPAMSHIFT_ADAPT_FITCTX_H
#define SPAMSHIFT_ADAPT_FITCTX_H

#include <stddef.h>
#include <stdint.h>

#include "adapt.h"
#include "linalg.h"

/* The stopping rule of resid_solve(): the largest gradient component below
 * this.  The residual of real feedback is solved to RESID_GTOL; self-training
 * (weights fitted on pseudo-labels, then cut to the pseudo_keep largest) to
 * SELF_GTOL, where the last Newton step moved the Enron LOO test logits by at
 * most 0.0024 and took 40% of the solve
 * (bench/results/adapt-refit-cold-2026-11-28.md). */
#define RESID_GTOL 1e-9
#define SELF_GTOL 1e-3

/*
 * The pool's weighted loss as its second-order model around v0:
 *   P(v) ~ f0 + g0.(v - v0) + (v - v0)' h0 (v - v0) / 2
 * with f0, g0, h0 (q x q, full) exact at v0.  See solve_relin().
 */
struct pool_quad {
    double f0, v0[NET_MAX_HIDDEN + 2], g0[NET_MAX_HIDDEN + 2];
    double *h0;
};

/*
 * Everything one user's fit needs, built once.  x holds the rows used by the
 * head solver: the pool rows (all, or a subsample in CV) then the feedback rows
 * (hidden + 1 floats each).  Feedback j's residual slots are compact indices
 * into slots[] (sorted unique), in fb_slot[fb_off[j] .. fb_off[j+1]), each
 * with its multiplicity in fb_cnt[].
 */
struct fit_ctx {
    uint32_t hidden, p;
    const struct adapt_opts *o;
    const float *vg;            /* the global head */
    size_t n_pool, n_fb;
    float *x;
    uint8_t *y;
    double *pool_w;             /* a_i beta_i per pool row */
    uint32_t *slots;            /* user slot numbers */
    size_t n_slots;
    uint32_t *fb_slot;
    double *fb_cnt;             /* how many times each pair counts (the learned
                                 * slot: adapt_learned_reps of its message; else 1) */
    size_t *fb_off;
    /* scratch, sized for the full problem */
    double *w, *off, *r, *s, *gr, *dr, *hd, *tmp, *rr, *hl, *sr, *sd, *u;
    int refit_pool;             /* the head is refitted (reweighted or use_head) */
    double *gram;               /* n_fb x n_fb: K[i][j] = phi_i . phi_j */
    const double *fb_base;      /* fixed logit added to each feedback row, or NULL */
    double *fb_scale;           /* 1/sqrt(ids) of each feedback message */
    const struct pool_quad *pq; /* when set, the pool's loss is this model (solve_relin) */
    double *alpha;              /* dual warm start, one per feedback message */
    const struct pool_quad *pq_fixed;   /* CV: the pool's model, not re-linearised */
    struct adapt_prep *prep;    /* keeps the pool's model at the global head */
    struct linalg_gather hgs, *hg;    /* objective_pool_pass's row gather (allocated up front:
                                 * the sums must not depend on the memory left) */
    int warm;                   /* solve_fit starts from th, r (and alpha) as given */
    /* dual_solve: the inverse of the Gram matrix over the feedback set kinv_act
     * (kinv_n of them) plus kinv_eps on its diagonal (0 unless the matrix
     * itself is too close to singular); kinv_ok 0 when even that fails */
    double *kinv, kinv_eps;
    size_t *kinv_act, kinv_n;
    int kinv_ok;
};

/* Residual score of feedback j under r. */
static inline double
fitctx_fb_resid(const struct fit_ctx *c, const double *r, size_t j)
{
    double s = 0;
    size_t k;

    for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++)
        s += c->fb_cnt[k] * r[c->fb_slot[k]];
    return s * c->fb_scale[j];
}

/* Head logit of row i of x. */
static inline double
fitctx_head_logit(const struct fit_ctx *c, const double *th, size_t i)
{
    const float *row = c->x + i * c->p;
    double t = th[c->p];
    uint32_t k;

    for (k = 0; k < c->p; k++)
        t += th[k] * row[k];
    if (c->fb_base != NULL && i >= c->n_pool)
        t += c->fb_base[i - c->n_pool];
    return t;
}

/* Weight of each stride-th pool row (out[0], out[1], ...): beta (NULL: 1)
 * times the class-balancing factor 1 / (2 class total).  Never fails. */
void fitctx_pool_weights(const uint8_t *label, const float *beta, size_t n, size_t stride,
                         double *out);

/* Build c for the model's pool (with_pool; else no pool rows, as
 * self-training) and the n_fb messages fb (borrowed: their ids are hashed into
 * slots here and not kept), under o (borrowed for c's life).  Returns 0, or -1
 * on allocation failure; either way release with fitctx_free(). */
int fitctx_build(struct fit_ctx *c, const struct model *m, uint32_t seed,
                 const struct adapt_example *fb, size_t n_fb, const struct adapt_opts *o,
                 int with_pool);
/* Free everything c owns (not c itself); accepts a zeroed or half-built c. */
void fitctx_free(struct fit_ctx *c);

#endif
