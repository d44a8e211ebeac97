/*
 * cv.c - lambda and mu by k-fold cross-validation on the user's feedback
 * (cv_select): held-out log loss over the grid cv_grid_scale x the defaults,
 * the fits seeing the pool through one second-order model at the global head
 * (or a stride subsample), fold by fold with warm starts along the grid.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cv.h"
#include "objective.h"
#include "solve.h"

const float cv_grid_scale[CV_N_SCALE] = { 0.25f, 1.0f, 4.0f };

/* Error rate and mean log loss of feedback j under (th, r), at threshold thr. */
static void
fb_eval(const struct fit_ctx *c, const double *th, const double *r, size_t j,
        double thr_logit, double *err, double *loss)
{
    double t = fitctx_head_logit(c, th, c->n_pool + j) + (r != NULL ? fitctx_fb_resid(c, r, j) : 0);
    int y = c->y[c->n_pool + j];

    *err += (t >= thr_logit) != y;
    *loss += linalg_logloss(y ? t : -t);
}

/* Move a stride subsample of at most opts->cv_pool_max pool rows (and their
 * labels) to the front of c->x and c->y, their weights into pw; returns how
 * many.  cv_select() restores the rows from the model. */
static size_t
cv_subsample(struct fit_ctx *c, const struct model *m, const float *beta, double *pw)
{
    uint32_t p = c->p;
    size_t stride, n_sub, i;

    stride = c->o->cv_pool_max > 0 && c->n_pool > c->o->cv_pool_max
        ? (c->n_pool + c->o->cv_pool_max - 1) / c->o->cv_pool_max : 1;
    n_sub = 0;
    for (i = 0; i < c->n_pool; i += stride, n_sub++)
        if (n_sub != i)
            memcpy(c->x + n_sub * p, c->x + i * p, p * sizeof(float));
    for (i = 0, n_sub = 0; i < c->n_pool; i += stride, n_sub++)
        c->y[n_sub] = c->y[i];
    fitctx_pool_weights(m->pool_label, beta, c->n_pool, stride, pw);
    return n_sub;
}

/* Each feedback message's fold: past cv_fb_max labels the folds hold
 * cv_fb_max of them, evenly spread (fold[j] = CV_FOLDS: out of every CV
 * fit), so that lambda and mu are chosen on a bounded sample while the final
 * fit sees everything.  Returns how many messages are in the folds. */
static size_t
cv_folds(const struct fit_ctx *c, size_t n_real, size_t *fold)
{
    size_t cap, j, n_cv = 0;

    cap = c->o->cv_fb_max > 0 && n_real > c->o->cv_fb_max ? c->o->cv_fb_max : n_real;
    for (j = 0; j < c->n_fb; j++)
        fold[j] = j < n_real && ((j + 1) * cap) / n_real != (j * cap) / n_real
            ? n_cv++ % CV_FOLDS : CV_FOLDS;
    return n_cv;
}

/* The grid point of least held-out loss (ties to the first), its lambda, mu
 * and error rate. */
static void
cv_argmin(const double *loss, const double *err, size_t n_cv, double lam0, double mu0,
          int cv_lambda, int cv_mu, double *lam_out, double *mu_out, double *err_out)
{
    double best = HUGE_VAL;
    size_t li, mi;

    for (li = 0; li < (cv_lambda ? CV_N_SCALE : 1); li++)
        for (mi = 0; mi < (cv_mu ? CV_N_SCALE : 1); mi++) {
            size_t gi = li * CV_N_SCALE + mi;

            if (loss[gi] < best) {
                best = loss[gi];
                *lam_out = cv_lambda ? lam0 * cv_grid_scale[li] : lam0;
                *mu_out = cv_mu ? mu0 * cv_grid_scale[mi] : mu0;
                *err_out = err[gi] / (double) n_cv;
            }
        }
}

/*
 * K-fold CV over the (lambda, mu) grid on a pool subsample moved to the front
 * of x, on the real feedback only (pseudo-labelled rows would make each of the
 * grid's fits an order of magnitude slower).  Fills the chosen values and the
 * CV error rate.  The pool rows of x are restored before returning.
 */
int
cv_select(struct fit_ctx *c, const float *beta, const struct model *m,
               size_t n_real, double lam0, double mu0, int cv_lambda,
               int cv_mu, double thr_logit, double *lam_out, double *mu_out,
               double *err_out)
{
    size_t n_sub, i, j, f, li, mi, n_cv;
    uint32_t p = c->p;
    double *mask = malloc((c->n_fb ? c->n_fb : 1) * sizeof(double));
    size_t *fold = malloc((c->n_fb ? c->n_fb : 1) * sizeof(size_t));
    double *pw = malloc((c->n_pool ? c->n_pool : 1) * sizeof(double));
    double th[NET_MAX_HIDDEN + 2], th0[NET_MAX_HIDDEN + 2];
    double err[CV_N_SCALE * CV_N_SCALE] = { 0 }, loss[CV_N_SCALE * CV_N_SCALE] = { 0 };
    double *alpha0 = malloc((c->n_fb + 1) * sizeof(double));
    double *r0 = malloc((c->n_slots + 1) * sizeof(double));
    struct pool_quad pq;
    int rc = -1;

    pq.h0 = malloc((size_t) (p + 1) * (p + 1) * sizeof(double));
    if (mask == NULL || fold == NULL || pw == NULL || pq.h0 == NULL || alpha0 == NULL
        || r0 == NULL || (c->alpha = malloc((c->n_fb + 1) * sizeof(double))) == NULL)
        goto out;
    /* The joint fits see the whole pool through its second-order model at
     * the global head, built once (one pass); the other paths a subsample. */
    fitctx_pool_weights(m->pool_label, beta, c->n_pool, 1, pw);
    for (i = 0; i <= p; i++)
        th[i] = c->vg[i];
    objective_quad_global(c, pw, &pq);
    c->pq_fixed = &pq;
    n_sub = cv_subsample(c, m, beta, pw);
    *lam_out = lam0;
    *mu_out = mu0;
    *err_out = -1;
    n_cv = cv_folds(c, n_real, fold);
    /* Fold by fold, the grid in order, each fit starting from the previous
     * one's optimum (the objectives are convex: the optimum is the same, it
     * takes fewer Newton steps); a fold's first fit starts from the previous
     * fold's first, head, residual and dual alike (four fifths of its labels
     * are the same). */
    memset(c->alpha, 0, (c->n_fb + 1) * sizeof(double));
    for (f = 0; f < CV_FOLDS; f++) {
        for (j = 0; j < c->n_fb; j++)
            mask[j] = fold[j] != CV_FOLDS && fold[j] != f;
        c->warm = f > 0;
        if (f > 0) {
            memcpy(c->alpha, alpha0, (c->n_fb + 1) * sizeof(double));
            memcpy(th, th0, (p + 1) * sizeof(double));
            memcpy(c->r, r0, c->n_slots * sizeof(double));
        }
        for (li = 0; li < (cv_lambda ? CV_N_SCALE : 1); li++)
            for (mi = 0; mi < (cv_mu ? CV_N_SCALE : 1); mi++) {
                double lam = cv_lambda ? lam0 * cv_grid_scale[li] : lam0;
                double mu = cv_mu ? mu0 * cv_grid_scale[mi] : mu0;
                size_t gi = li * CV_N_SCALE + mi;

                if (solve_fit(c, n_sub, pw, mask, lam, mu, th, c->r) < 0)
                    goto restore;
                for (j = 0; j < n_real; j++)
                    if (fold[j] == f)
                        fb_eval(c, th, c->r, j, thr_logit, &err[gi], &loss[gi]);
                if (gi == 0) {
                    memcpy(alpha0, c->alpha, (c->n_fb + 1) * sizeof(double));
                    memcpy(th0, th, (p + 1) * sizeof(double));
                    memcpy(r0, c->r, c->n_slots * sizeof(double));
                }
                c->warm = 1;
            }
    }
    cv_argmin(loss, err, n_cv, lam0, mu0, cv_lambda, cv_mu, lam_out, mu_out, err_out);
    rc = 0;
restore:
    c->pq_fixed = NULL;
    c->warm = 0;
    free(c->alpha);
    c->alpha = NULL;
    if (c->n_pool > 0) {
        memcpy(c->x, m->pool_rep, c->n_pool * p * sizeof(float));
        for (i = 0; i < c->n_pool; i++)
            c->y[i] = m->pool_label[i] ? 1 : 0;
    }
out:
    free(mask);
    free(fold);
    free(pw);
    free(alpha0);
    free(r0);
    free(pq.h0);
    free(c->alpha);
    c->alpha = NULL;
    return rc;
}
