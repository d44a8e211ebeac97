/*
 * objective.c - the objective of adapt.h evaluated over a fit context: the
 * pool's weighted loss (over its rows, or through its exact second-order
 * model struct pool_quad), its gradient and Hessian, and the full objective
 * the line searches compare.  Pure computation on the context.
 */
#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"
#include "objective.h"

/* The full objective (adapt.h) at (th, r) over the rows c->x with weights w
 * (pool rows) and lambda on masked-in feedback. */
double
objective_full(const struct fit_ctx *c, size_t n_rows_pool, const double *w,
               const double *mask, double lambda, double mu, double rho,
               const double *th, const double *r)
{
    double f = objective_pool_value(c, n_rows_pool, w, th);
    size_t j;
    uint32_t k;

    for (j = 0; j < c->n_fb; j++) {
        double t;

        if (!mask[j])
            continue;
        t = fitctx_head_logit(c, th, c->n_pool + j) + fitctx_fb_resid(c, r, j);
        f += lambda * mask[j] * linalg_logloss(c->y[c->n_pool + j] ? t : -t);
    }
    for (k = 0; k < c->p + 1; k++)
        f += mu * (th[k] - c->vg[k]) * (th[k] - c->vg[k]);
    for (k = 0; k < c->n_slots; k++)
        f += lambda * rho * r[k] * r[k];
    return f;
}

/* Add the weighted pool's logistic-loss gradient (g, q = p + 1 entries) and the
 * lower triangle of its Hessian (hs, q x q) at head th, and with f != NULL its
 * loss to *f (rows only; not with c->pq); xr is scratch of q doubles.  Shared
 * by the primal and the dual solver (objective_pool_grad_hess) and objective_quad_build. */
ROW_PASS void
objective_pool_pass(const struct fit_ctx *c, size_t n_rows_pool, const double *pw,
          const double *th, size_t p, double *xr, double *g, double *hs, double *f)
{
    size_t i, a, b, q = p + 1;

    if (c->pq != NULL) {
        for (a = 0; a < q; a++) {
            double s = c->pq->g0[a];

            for (b = 0; b < q; b++)
                s += c->pq->h0[a * q + b] * (th[b] - c->pq->v0[b]);
            g[a] += s;
            for (b = 0; b <= a; b++)
                hs[a * q + b] += c->pq->h0[a * q + b];
        }
        assert(f == NULL);
        return;
    }
    for (i = 0; i < n_rows_pool; i++) {
        const float *row = c->x + i * p;
        double t = th[p], pr, gi, hi, e;

        for (a = 0; a < p; a++) {
            xr[a] = row[a];
            t += th[a] * xr[a];
        }
        xr[p] = 1;
        /* exp(-|t|) serves the linalg_sigmoid and, for objective_quad_build, the loss
         * (the values of linalg_sigmoid() and linalg_logloss() exactly) */
        e = exp(-fabs(t));
        pr = t >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        if (f != NULL) {
            double m = c->y[i] ? t : -t;

            *f += pw[i] * ((m > 0 ? 0 : -m) + log1p(e));
        }
        gi = pw[i] * (pr - c->y[i]);
        hi = pw[i] * pr * (1 - pr);
        for (a = 0; a < q; a++)
            g[a] += gi * xr[a];
        linalg_gather_add(c->hg, hi, xr, hs);
    }
    linalg_gather_flush(c->hg, hs);
}

void
objective_pool_grad_hess(const struct fit_ctx *c, size_t n_rows_pool, const double *pw,
               const double *th, size_t p, double *xr, double *g, double *hs)
{
    objective_pool_pass(c, n_rows_pool, pw, th, p, xr, g, hs, NULL);
}

/* The weighted pool loss at head th: exact over the rows, or c->pq's model. */
double
objective_pool_value(const struct fit_ctx *c, size_t n_rows_pool, const double *pw, const double *th)
{
    double f = 0;
    size_t i, a, b, q = c->p + 1;

    if (c->pq != NULL) {
        double d[NET_MAX_HIDDEN + 2];

        for (a = 0; a < q; a++)
            d[a] = th[a] - c->pq->v0[a];
        f = c->pq->f0;
        for (a = 0; a < q; a++) {
            double s = 0;

            for (b = 0; b < q; b++)
                s += c->pq->h0[a * q + b] * d[b];
            f += (c->pq->g0[a] + 0.5 * s) * d[a];
        }
        return f;
    }
    for (i = 0; i < n_rows_pool; i++) {
        double t = fitctx_head_logit(c, th, i);

        f += pw[i] * linalg_logloss(c->y[i] ? t : -t);
    }
    return f;
}

/* pq := the exact second-order model of the pool's loss at th (one pass over
 * the rows for loss, gradient and Hessian; c->pq must be NULL). */
void
objective_quad_build(const struct fit_ctx *c, size_t n_rows_pool, const double *pw,
                const double *th, struct pool_quad *pq)
{
    size_t a, b, q = c->p + 1;
    double xr[NET_MAX_HIDDEN + 2];

    assert(c->pq == NULL);
    memcpy(pq->v0, th, q * sizeof(double));
    memset(pq->g0, 0, q * sizeof(double));
    memset(pq->h0, 0, q * q * sizeof(double));
    pq->f0 = 0;
    objective_pool_pass(c, n_rows_pool, pw, th, c->p, xr, pq->g0, pq->h0, &pq->f0);
    for (a = 0; a < q; a++)
        for (b = 0; b < a; b++)
            pq->h0[b * q + a] = pq->h0[a * q + b];
}

/* pq := the pool's second-order model at the global head under the whole
 * pool's weights pw (c->pool_w's values): the prep's copy when it has one
 * (made under the same weights: it belongs to the prep's unlabelled side),
 * else built (one pass) and kept in the prep.  Bit for bit the same either
 * way. */
void
objective_quad_global(struct fit_ctx *c, const double *pw, struct pool_quad *pq)
{
    struct adapt_prep *pr = c->prep;
    size_t q = c->p + 1;
    double th[NET_MAX_HIDDEN + 2] = { 0 };

    if (pr != NULL && pr->have_quad) {
        pq->f0 = pr->quad[0];
        memcpy(pq->g0, pr->quad + 1, q * sizeof(double));
        memcpy(pq->h0, pr->quad + 1 + q, q * q * sizeof(double));
        for (size_t a = 0; a < q; a++)
            pq->v0[a] = c->vg[a];
        return;
    }
    for (size_t a = 0; a < q; a++)
        th[a] = c->vg[a];
    objective_quad_build(c, c->n_pool, pw, th, pq);
    if (pr != NULL && pr->have_unl
        && (pr->quad = malloc((1 + q + q * q) * sizeof(double))) != NULL) {
        pr->quad[0] = pq->f0;
        memcpy(pr->quad + 1, pq->g0, q * sizeof(double));
        memcpy(pr->quad + 1 + q, pq->h0, q * q * sizeof(double));
        pr->have_quad = 1;
        pr->changed = 1;
    }
}
