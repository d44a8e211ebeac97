/*
 * logreg.c - dense weighted logistic regression (logreg.h): one row pass per
 * trial point gives the objective, gradient and Hessian together, so an
 * accepted Newton step needs no second pass.  It depends only on linalg.c;
 * reweight.c and solve.c call it (which is why it is not in either).
 */
#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "logreg.h"
#include "model.h"

/*
 * One pass over the rows: the objective at th and, with g != NULL, the data
 * part's gradient and the lower triangle of its Hessian (q x q) added to g and
 * hess.  One exp per row serves the loss and the linalg_sigmoid (exp(-|t|) is what
 * both linalg_logloss and linalg_sigmoid take), so the values are theirs exactly.
 */
ROW_PASS static double
lr_pass(const float *x, size_t n, uint32_t p, const uint8_t *y, const double *w,
        const double *off, const double *pen, const double *c, const double *th,
        double *g, double *hess, struct linalg_gather *hg)
{
    double f = 0, xr[NET_MAX_HIDDEN + 2];
    uint32_t q = p + 1, j, k;
    size_t i;

    for (i = 0; i < n; i++) {
        const float *r = x + i * p;
        double t = th[p] + (off != NULL ? off[i] : 0), m, e, pr, gi, hi;

        if (w[i] == 0)
            continue;
        for (k = 0; k < p; k++) {
            xr[k] = r[k];
            t += th[k] * xr[k];
        }
        xr[p] = 1.0;
        m = y[i] ? t : -t;
        e = exp(-fabs(t));
        f += w[i] * ((m > 0 ? 0 : -m) + log1p(e));
        if (g == NULL)
            continue;
        pr = t >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        gi = w[i] * (pr - (y[i] ? 1.0 : 0.0));
        hi = w[i] * pr * (1 - pr);
        for (j = 0; j < q; j++)
            g[j] += gi * xr[j];
        linalg_gather_add(hg, hi, xr, hess);
    }
    if (g != NULL)
        linalg_gather_flush(hg, hess);
    for (k = 0; k <= p; k++)
        f += pen[k] * (th[k] - c[k]) * (th[k] - c[k]);
    return f;
}

/* logreg_fit's problem, for linalg_armijo(): the objective at a trial point,
 * gathering its gradient and Hessian into g, hess as well. */
struct lr_problem {
    const float *x;
    size_t n;
    uint32_t p;
    const uint8_t *y;
    const double *w, *off, *pen, *c;
    double *g, *hess;
    struct linalg_gather *hg;
};

static double
lr_trial(void *arg, const double *th)
{
    struct lr_problem *lp = arg;
    uint32_t q = lp->p + 1;

    memset(lp->hess, 0, (size_t) q * q * sizeof(double));
    memset(lp->g, 0, q * sizeof(double));
    return lr_pass(lp->x, lp->n, lp->p, lp->y, lp->w, lp->off, lp->pen, lp->c, th, lp->g,
                   lp->hess, lp->hg);
}

int
logreg_fit(const float *x, size_t n, uint32_t p, const uint8_t *y,
             const double *w, const double *off, const double *pen,
             const double *c, double *theta, int max_iter)
{
    struct linalg_gather hg;
    struct lr_problem lp = { x, n, p, y, w, off, pen, c, NULL, NULL, &hg };
    uint32_t q = p + 1, j;
    double *hess, *g, *d, *tr, *hn, *gn, *sw;
    double f;
    int it;

    assert(p <= NET_MAX_HIDDEN + 1);
    if (linalg_gather_init(&hg, q) < 0)
        return -1;
    hess = malloc((size_t) q * q * sizeof(double));
    hn = malloc((size_t) q * q * sizeof(double));
    g = malloc(q * sizeof(double));
    gn = malloc(q * sizeof(double));
    d = malloc(q * sizeof(double));
    tr = malloc(q * sizeof(double));
    if (hess == NULL || hn == NULL || g == NULL || gn == NULL || d == NULL || tr == NULL) {
        it = -1;
        goto out;
    }
    /* The pass that evaluates a trial point also gathers the gradient and
     * Hessian there: an accepted step needs no second pass. */
    memset(hess, 0, (size_t) q * q * sizeof(double));
    memset(g, 0, q * sizeof(double));
    f = lr_pass(x, n, p, y, w, off, pen, c, theta, g, hess, &hg);
    for (it = 0; it < max_iter; it++) {
        double dec = 0, fn;

        for (j = 0; j < q; j++) {
            g[j] += 2 * pen[j] * (theta[j] - c[j]);
            hess[(size_t) j * q + j] += 2 * pen[j] + 1e-12;
            d[j] = -g[j];
        }
        if (linalg_chol_factor(hess, q) < 0)
            break;
        linalg_chol_apply(hess, q, d);
        for (j = 0; j < q; j++)
            dec -= g[j] * d[j];
        if (dec < 1e-14 * (1 + fabs(f)))
            break;
        lp.g = gn;
        lp.hess = hn;
        fn = linalg_armijo(theta, q, NULL, 0, d, f, dec, lr_trial, &lp, tr);
        if (!(fn <= f))
            break;
        memcpy(theta, tr, q * sizeof(double));
        f = fn;
        sw = g, g = gn, gn = sw;
        sw = hess, hess = hn, hn = sw;
    }
out:
    free(hess);
    free(hn);
    free(g);
    free(gn);
    free(d);
    free(tr);
    linalg_gather_free(&hg);
    return it;
}
