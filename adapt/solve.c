/*
 * solve.c - one fit of the objective of adapt.h for given lambda and mu
 * (solve_fit): picks the solver by the problem's shape and runs it, with the
 * pool's loss re-linearised around the head (solve_relin) when the head and
 * the residual are fitted together.  The rule is written above solve_fit().
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dual.h"
#include "joint.h"
#include "logreg.h"
#include "objective.h"
#include "resid.h"
#include "solve.h"

/* 1 when th is the global head exactly. */
static int
at_global(const struct fit_ctx *c, const double *th)
{
    for (uint32_t a = 0; a <= c->p; a++)
        if (th[a] != (double) c->vg[a])
            return 0;
    return 1;
}

/*
 * The joint fit (dual or primal) with the pool's loss replaced by its exact
 * second-order model at the current head, re-linearised after each solve, so
 * that the pool's rows are read once per outer step instead of twice per
 * Newton step.  At the fixed point the model's gradient is the pool's own, so
 * the answer is the joint optimum; an outer step stops when the head moves by
 * less than RELIN_TOL (the model's error there is of the order of its square:
 * 1e-8 for RELIN_TOL 1e-4, below the float a head is stored in; the Enron and
 * SA LOO logits are identical to 8 decimals with 1e-6).
 * Should the true objective rise, or the steps not settle, the exact solver
 * finishes from where it is.  Returns 0, or -1 on allocation failure.
 */
#define RELIN_MAX 8
#define RELIN_TOL 1e-4
static int
solve_relin(struct fit_ctx *c, size_t n_rows_pool, const double *pw, const double *mask,
          double lambda, double mu, double rho, int dual, double *th, double *r)
{
    size_t q = c->p + 1, a;
    struct pool_quad pq;
    double f_prev = HUGE_VAL, prev[NET_MAX_HIDDEN + 2];
    int outer, rc = 0, done = 0;

    if (c->pq_fixed != NULL) {
        c->pq = c->pq_fixed;
        rc = dual ? dual_solve(c, n_rows_pool, pw, mask, lambda, mu, rho, 1, th, r)
            : joint_solve(c, n_rows_pool, pw, mask, lambda, mu, rho, th, r);
        c->pq = NULL;
        return rc;
    }
    pq.h0 = malloc(q * q * sizeof(double));
    c->alpha = dual ? calloc(c->n_fb + 1, sizeof(double)) : NULL;
    if (pq.h0 == NULL || (dual && c->alpha == NULL)) {
        free(pq.h0);
        free(c->alpha);
        c->alpha = NULL;
        return -1;
    }
    for (outer = 0; outer < RELIN_MAX && rc == 0; outer++) {
        double f, dmax = 0;

        if (outer == 0 && n_rows_pool == c->n_pool && at_global(c, th))
            objective_quad_global(c, pw, &pq);
        else
            objective_quad_build(c, n_rows_pool, pw, th, &pq);
        f = pq.f0 + objective_full(c, 0, pw, mask, lambda, mu, rho, th, r);
        if (!(f <= f_prev + 1e-12 * (1 + fabs(f))))
            break;
        f_prev = f;
        memcpy(prev, th, q * sizeof(double));
        c->pq = &pq;
        rc = dual ? dual_solve(c, n_rows_pool, pw, mask, lambda, mu, rho, 1, th, r)
            : joint_solve(c, n_rows_pool, pw, mask, lambda, mu, rho, th, r);
        c->pq = NULL;
        for (a = 0; a < q; a++)
            dmax = fmax(dmax, fabs(th[a] - prev[a]));
        if (dmax < RELIN_TOL) {
            done = 1;
            break;
        }
    }
    if (rc == 0 && !done)
        rc = dual ? dual_solve(c, n_rows_pool, pw, mask, lambda, mu, rho, 1, th, r)
            : joint_solve(c, n_rows_pool, pw, mask, lambda, mu, rho, th, r);
    free(pq.h0);
    free(c->alpha);
    c->alpha = NULL;
    return rc;
}

/*
 * One fit: head th (starts at the global head) and residual r (starts at 0).
 * The solver sees rows [0, n_rows_pool) of the pool part of x (CV passes a
 * subsample copied to the front) and the masked-in feedback rows.
 * Returns 0, or -1 on allocation failure.
 *
 * The dispatch rule.  One convex objective; the solver depends only on the
 * problem's shape (the ablation flags use_head and use_resid change the
 * objective and so pick among the same cases):
 *   1. a residual to fit (use_resid, some slot, lambda > 0), at most
 *      opts->dual_max feedback rows (fitctx_build made the Gram matrix c->gram):
 *      - the head sees the feedback (use_head): dual_solve with the head free,
 *        the pool re-linearised around the head (solve_relin; CV: its fixed
 *        model);
 *      - else: the head fitted on the pool alone (logreg_fit, when the pool is
 *        refitted), then dual_solve with the head fixed;
 *   2. a residual to fit, more feedback rows than dual_max (the Gram matrix
 *      would cost n^2), the head seeing them: joint_solve (primal Newton-PCG),
 *      re-linearised the same way;
 *   3. otherwise: logreg_fit for the head (when the pool is refitted), then
 *      resid_solve for the residual (when there is one), one pass.
 * With today's defaults (use_head, use_resid, dual_max 1000) a refit takes 1
 * up to 1000 feedback rows and 2 beyond (the store keeps up to 20,000 a
 * user); 3 with no feedback yet (the head refitted on the reweighted pool
 * alone) and for self-training's memory (selftrain.c: no head, dual_max 0).
 * The dual and the primal reach the same optimum (test_fit's dual-vs-primal
 * and fit-vs-gradient-descent tests) but not the same bits (the primal
 * everywhere moves LOO logits by up to 2e-6), and the Gram matrix of 20,000
 * rows would take 3.2 GB, so both stay product paths: the rule above is
 * exactly what the product took before the split (doc/design-adapt.md).
 */
int
solve_fit(struct fit_ctx *c, size_t n_rows_pool, const double *pw,
         const double *mask, double lambda, double mu, double *th, double *r)
{
    const struct adapt_opts *o = c->o;
    uint32_t q = c->p + 1, k;
    double pen[NET_MAX_HIDDEN + 2], cen[NET_MAX_HIDDEN + 2];
    double rho = o->resid_l2, *a = c->off;
    size_t j, n_rows = c->n_pool + c->n_fb;
    int use_fb_head = o->use_head;

    for (k = 0; k < q; k++) {
        if (!c->warm)
            th[k] = c->vg[k];
        pen[k] = mu;
        cen[k] = c->vg[k];
    }
    if (!c->warm)
        memset(r, 0, c->n_slots * sizeof(double));
    /* Row weights: pool rows beyond n_rows_pool and feedback rows not used by
     * the head carry weight 0. */
    memset(c->w, 0, n_rows * sizeof(double));
    if (c->refit_pool)
        memcpy(c->w, pw, n_rows_pool * sizeof(double));
    if (use_fb_head)
        for (j = 0; j < c->n_fb; j++)
            c->w[c->n_pool + j] = lambda * mask[j];
    memset(a, 0, n_rows * sizeof(double));
    if (o->use_resid && c->n_slots > 0 && lambda > 0 && c->gram != NULL) {
        if (!use_fb_head && c->refit_pool
            && logreg_fit(c->x, n_rows, c->p, c->y, c->w, a, pen, cen, th, 50) < 0)
            return -1;
        if (use_fb_head)
            return solve_relin(c, n_rows_pool, pw, mask, lambda, mu, rho, 1, th, r);
        return dual_solve(c, n_rows_pool, pw, mask, lambda, mu, rho, 0, th, r);
    }
    if (use_fb_head && o->use_resid && c->n_slots > 0 && lambda > 0)
        return solve_relin(c, n_rows_pool, pw, mask, lambda, mu, rho, 0, th, r);

    /* No joint fit: the head on the pool (and the feedback, when it sees it)
     * with the residual at r, then the residual against that head.  One pass
     * is exact: with a residual to fit the head here never sees the feedback
     * (the joint fits above took that case), so neither part moves the
     * other's optimum. */
    if (c->refit_pool) {
        /* The head row offsets are the feedback's residual scores. */
        for (j = 0; j < c->n_fb; j++)
            a[c->n_pool + j] = fitctx_fb_resid(c, r, j)
                + (c->fb_base != NULL ? c->fb_base[j] : 0);
        if (logreg_fit(c->x, n_rows, c->p, c->y, c->w, a, pen, cen, th, 50) < 0)
            return -1;
    }
    if (!o->use_resid || c->n_slots == 0 || lambda <= 0)
        return 0;
    for (j = 0; j < c->n_fb; j++)
        c->hl[j] = fitctx_head_logit(c, th, c->n_pool + j);
    resid_solve(c, c->hl, mask, rho, r, RESID_GTOL);
    return 0;
}
