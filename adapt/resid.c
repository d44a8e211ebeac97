/*
 * resid.c - the residual block alone by Newton-CG (resid_solve): the solver of
 * self-training (selftrain.c) and of the fits where the head does not see the
 * feedback and the feedback is beyond the dual's reach (solve.c).
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "resid.h"

#define RESID_NEWTON_MAX 30
#define CG_MAX 60

/* The objective at r (returned), its gradient into c->gr and each message's
 * curvature weight into c->s; *gmax the gradient's largest component.  sr[j]
 * is message j's residual score under r. */
static double
resid_grad(struct fit_ctx *c, const double *a, const double *mask, double rho,
           const double *r, const double *sr, double *gmax)
{
    size_t m = c->n_slots, j, k;
    const uint8_t *y = c->y + c->n_pool;
    double *s = c->s, *g = c->gr, f = 0;

    *gmax = 0;
    memset(g, 0, m * sizeof(double));
    for (j = 0; j < c->n_fb; j++) {
        double t, pr;

        if (!mask[j])
            continue;
        t = a[j] + sr[j];
        pr = linalg_sigmoid(t);
        f += mask[j] * linalg_logloss(y[j] ? t : -t);
        s[j] = mask[j] * pr * (1 - pr);
        for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++)
            g[c->fb_slot[k]] += c->fb_cnt[k] * mask[j] * (pr - y[j]) * c->fb_scale[j];
    }
    for (k = 0; k < m; k++) {
        f += rho * r[k] * r[k];
        g[k] += 2 * rho * r[k];
        if (fabs(g[k]) > *gmax)
            *gmax = fabs(g[k]);
    }
    return f;
}

/* The Newton direction c->dr by CG on (X'DX + 2 rho I) d = -g from d = 0, and
 * c->sd each message's residual score under it (a sum of the CG steps), so
 * that the line search does not read the slots again.  Inexact Newton: CG
 * stops once the residual is a fraction min(0.5, sqrt|g|) of the gradient
 * (the outer loop still runs to |g|max < gtol, so the optimum is the same). */
static void
resid_cg(struct fit_ctx *c, const double *mask, double rho)
{
    size_t m = c->n_slots, j, k;
    double *s = c->s, *g = c->gr, *d = c->dr, *hd = c->hd, *q = c->tmp, *rr = c->rr;
    double *sd = c->sd, *u = c->u, rs, forcing;
    int cg;

    memset(d, 0, m * sizeof(double));
    memset(sd, 0, c->n_fb * sizeof(double));
    for (k = 0; k < m; k++)
        rr[k] = -g[k];
    memcpy(q, rr, m * sizeof(double));
    rs = 0;
    for (k = 0; k < m; k++)
        rs += rr[k] * rr[k];
    forcing = sqrt(rs) < 0.25 ? sqrt(rs) : 0.5;
    forcing = forcing * forcing * rs;
    for (cg = 0; cg < CG_MAX && rs > 1e-24 && rs > forcing; cg++) {
        double pq = 0, alpha, rs2 = 0;

        memset(hd, 0, m * sizeof(double));
        for (j = 0; j < c->n_fb; j++) {
            double v;

            if (!mask[j])
                continue;
            u[j] = fitctx_fb_resid(c, q, j);
            v = s[j] * u[j];
            for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++)
                hd[c->fb_slot[k]] += c->fb_cnt[k] * v * c->fb_scale[j];
        }
        for (k = 0; k < m; k++) {
            hd[k] += 2 * rho * q[k];
            pq += q[k] * hd[k];
        }
        alpha = rs / pq;
        for (j = 0; j < c->n_fb; j++)
            if (mask[j])
                sd[j] += alpha * u[j];
        for (k = 0; k < m; k++) {
            d[k] += alpha * q[k];
            rr[k] -= alpha * hd[k];
            rs2 += rr[k] * rr[k];
        }
        for (k = 0; k < m; k++)
            q[k] = rr[k] + (rs2 / rs) * q[k];
        rs = rs2;
    }
}

/* Backtracking along c->dr from r (objective f, decrease dec): halves *step
 * until the Armijo condition holds (or the step is negligible); returns the
 * objective there. */
static double
resid_line(const struct fit_ctx *c, const double *a, const double *mask, double rho,
           const double *r, const double *sr, double f, double dec, double *step)
{
    size_t m = c->n_slots, j, k;
    const uint8_t *y = c->y + c->n_pool;
    const double *d = c->dr, *sd = c->sd;
    double fn;

    for (;;) {
        fn = 0;
        for (k = 0; k < m; k++) {
            double v = r[k] + *step * d[k];

            fn += rho * v * v;
        }
        for (j = 0; j < c->n_fb; j++) {
            double t;

            if (!mask[j])
                continue;
            t = a[j] + sr[j] + *step * sd[j];
            fn += mask[j] * linalg_logloss(y[j] ? t : -t);
        }
        if (fn <= f - 0.25 * *step * dec || *step < 1e-10)
            break;
        *step *= 0.5;
    }
    return fn;
}

/* The residual block: minimise sum_{j in mask} l(y_j, a_j + s_j(r)) + rho |r|^2
 * (the objective divided by lambda) by Newton-CG; a[] are the head logits of the
 * feedback rows.  mask[j] == 0 excludes feedback j (CV).  Stops once the
 * gradient's largest component is below gtol. */
void
resid_solve(struct fit_ctx *c, const double *a, const double *mask, double rho,
          double *r, double gtol)
{
    size_t m = c->n_slots, j, k;
    double *sr = c->sr;
    int it;

    /* sr: each message's residual score under r, kept up to date below, so
     * that the gradient does not read the slots again. */
    for (j = 0; j < c->n_fb; j++)
        sr[j] = mask[j] ? fitctx_fb_resid(c, r, j) : 0;
    for (it = 0; it < RESID_NEWTON_MAX; it++) {
        double gmax, f, fn, step = 1, dec = 0;

        f = resid_grad(c, a, mask, rho, r, sr, &gmax);
        if (gmax < gtol)
            break;
        resid_cg(c, mask, rho);
        for (k = 0; k < m; k++)
            dec -= c->gr[k] * c->dr[k];
        if (!(dec > 1e-15 * (1 + f)))
            break;
        fn = resid_line(c, a, mask, rho, r, sr, f, dec, &step);
        if (!(fn <= f))
            break;
        for (k = 0; k < m; k++)
            r[k] += step * c->dr[k];
        for (j = 0; j < c->n_fb; j++)
            sr[j] += step * c->sd[j];
    }
}
