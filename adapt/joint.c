/*
 * joint.c - head and residual together by primal Newton with preconditioned
 * conjugate gradients (joint_solve): the product's solver when the head sees
 * more feedback (and pseudo-labelled) messages than opts->dual_max, where the
 * dual's n^2 Gram matrix would not pay (see solve.c for the rule).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "joint.h"
#include "objective.h"

/*
 * Head and residual together (the head sees the feedback and the residual is
 * on): Newton's method on the joint objective.  Each iteration makes one pass
 * over the pool rows for the gradient and the q x q pool Hessian; the Newton
 * system is then solved by conjugate gradients preconditioned with the exact
 * head block and the residual diagonal, where a Hessian-vector product costs
 * only q^2 plus the feedback's nonzeros.  (Alternating the two blocks is
 * slow when feedback is strong: the bias and the residual trade off.)
 * Returns 0, or -1 on allocation failure.
 */
/* joint_solve's problem: the point's data for linalg_armijo(), and the
 * Newton system's pieces, one iteration's worth (see joint_solve). */
struct joint_problem {
    const struct fit_ctx *c;
    size_t n_rows_pool;
    const double *pw, *mask;
    double lambda, mu, rho;
    uint32_t q;                 /* head length */
    size_t m, nv;               /* residual length, q + m */
    double *hp, *hf;            /* q x q: pool + mu block; with the feedback, factored */
    double *g, *diag, *dj;      /* gradient (nv), residual diagonal (m), row weights */
    double *d, *res, *z, *dir, *hv, *tv;    /* PCG vectors (nv) */
};

static double
joint_trial(void *arg, const double *v)
{
    const struct joint_problem *jp = arg;

    return objective_full(jp->c, jp->n_rows_pool, jp->pw, jp->mask, jp->lambda, jp->mu,
                          jp->rho, v, v + jp->c->p + 1);
}

/* The gradient g and the Hessian's pieces at (th, r): the dense head block
 * (pool + mu) in hp, the same with the feedback rows in hf (unfactored), the
 * residual diagonal and each feedback row's curvature dj. */
static void
joint_assemble(struct joint_problem *jp, const double *th, const double *r)
{
    const struct fit_ctx *c = jp->c;
    uint32_t q = jp->q, p = c->p, a, b;
    size_t m = jp->m, j, k;
    double *hp = jp->hp, *hf = jp->hf, *g = jp->g, *diag = jp->diag, *dj = jp->dj;
    double xr[NET_MAX_HIDDEN + 2], lambda = jp->lambda, mu = jp->mu, rho = jp->rho;
    const double *mask = jp->mask;
    const uint8_t *yf = c->y + c->n_pool;

    /* Gradient and the dense head block (pool + mu), then feedback rows. */
    memset(hp, 0, (size_t) q * q * sizeof(double));
    memset(g, 0, jp->nv * sizeof(double));
    objective_pool_grad_hess(c, jp->n_rows_pool, jp->pw, th, p, xr, g, hp);
    for (a = 0; a < q; a++) {
        g[a] += 2 * mu * (th[a] - c->vg[a]);
        hp[a * q + a] += 2 * mu;
        for (b = 0; b < a; b++)
            hp[b * q + a] = hp[a * q + b];
    }
    memcpy(hf, hp, (size_t) q * q * sizeof(double));
    for (k = 0; k < m; k++) {
        g[q + k] = 2 * lambda * rho * r[k];
        diag[k] = 2 * lambda * rho;
    }
    for (j = 0; j < c->n_fb; j++) {
        const float *row = c->x + (c->n_pool + j) * p;
        double t, pr, e;

        dj[j] = 0;
        if (!mask[j])
            continue;
        t = fitctx_head_logit(c, th, c->n_pool + j) + fitctx_fb_resid(c, r, j);
        pr = linalg_sigmoid(t);
        e = lambda * mask[j] * (pr - yf[j]);
        dj[j] = lambda * mask[j] * pr * (1 - pr);
        for (a = 0; a < p; a++)
            xr[a] = row[a];
        xr[p] = 1;
        for (a = 0; a < q; a++) {
            g[a] += e * xr[a];
            for (b = 0; b < q; b++)
                hf[a * q + b] += dj[j] * xr[a] * xr[b];
        }
        for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++) {
            double cs = c->fb_cnt[k] * c->fb_scale[j];

            g[q + c->fb_slot[k]] += e * cs;
            /* exact unless two ids of a message share a slot */
            diag[c->fb_slot[k]] += dj[j] * cs * cs;
        }
    }
}

/* The preconditioner: the factored head block (hf) and the residual diagonal. */
static void
joint_precond(const struct joint_problem *jp, const double *src, double *dst)
{
    size_t k;

    memcpy(dst, src, jp->q * sizeof(double));
    linalg_chol_apply(jp->hf, jp->q, dst);
    for (k = 0; k < jp->m; k++)
        dst[jp->q + k] = src[jp->q + k] / jp->diag[k];
}

/* hv = H dir: the pool block, then the feedback rows through u_j. */
static void
joint_hess_vec(const struct joint_problem *jp, const double *dir, double *hv)
{
    const struct fit_ctx *c = jp->c;
    uint32_t q = jp->q, p = c->p, a, b;
    size_t j, k;

    for (a = 0; a < q; a++) {
        double sacc = 0;

        for (b = 0; b < q; b++)
            sacc += jp->hp[a * q + b] * dir[b];
        hv[a] = sacc;
    }
    for (k = 0; k < jp->m; k++)
        hv[q + k] = 2 * jp->lambda * jp->rho * dir[q + k];
    for (j = 0; j < c->n_fb; j++) {
        const float *row = c->x + (c->n_pool + j) * p;
        double u = dir[p], ur = 0, sc = c->fb_scale[j];

        if (jp->dj[j] == 0)
            continue;
        for (a = 0; a < p; a++)
            u += row[a] * dir[a];
        for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++)
            ur += c->fb_cnt[k] * dir[q + c->fb_slot[k]];
        u = (u + sc * ur) * jp->dj[j];
        for (a = 0; a < p; a++)
            hv[a] += u * row[a];
        hv[p] += u;
        for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++)
            hv[q + c->fb_slot[k]] += c->fb_cnt[k] * u * sc;
    }
}

/* PCG on H d = -g from d = 0 (jp->d), hf already factored. */
static void
joint_pcg(struct joint_problem *jp)
{
    size_t nv = jp->nv, k;
    double *d = jp->d, *res = jp->res, *z = jp->z, *dir = jp->dir, *hv = jp->hv, rz;
    int cg;

    memset(d, 0, nv * sizeof(double));
    for (k = 0; k < nv; k++)
        res[k] = -jp->g[k];
    joint_precond(jp, res, z);
    memcpy(dir, z, nv * sizeof(double));
    rz = 0;
    for (k = 0; k < nv; k++)
        rz += res[k] * z[k];
    for (cg = 0; cg < 200 && rz > 1e-30; cg++) {
        double pq = 0, alpha, rz2 = 0, rn = 0;

        joint_hess_vec(jp, dir, hv);
        for (k = 0; k < nv; k++)
            pq += dir[k] * hv[k];
        if (!(pq > 0))
            break;
        alpha = rz / pq;
        for (k = 0; k < nv; k++) {
            d[k] += alpha * dir[k];
            res[k] -= alpha * hv[k];
            rn += res[k] * res[k];
        }
        if (rn < 1e-28)
            break;
        joint_precond(jp, res, z);
        for (k = 0; k < nv; k++)
            rz2 += res[k] * z[k];
        for (k = 0; k < nv; k++)
            dir[k] = z[k] + (rz2 / rz) * dir[k];
        rz = rz2;
    }
}

int
joint_solve(struct fit_ctx *c, size_t n_rows_pool, const double *pw, const double *mask,
            double lambda, double mu, double rho, double *th, double *r)
{
    struct joint_problem jp = { .c = c, .n_rows_pool = n_rows_pool, .pw = pw, .mask = mask,
                                .lambda = lambda, .mu = mu, .rho = rho };
    uint32_t q = c->p + 1, a;
    size_t m = c->n_slots, nv = q + m, k;
    double f;
    int it, rc = -1;

    jp.q = q;
    jp.m = m;
    jp.nv = nv;
    jp.hp = malloc((size_t) q * q * sizeof(double));
    jp.hf = malloc((size_t) q * q * sizeof(double));
    jp.g = malloc(nv * sizeof(double));
    jp.d = malloc(nv * sizeof(double));
    jp.res = malloc(nv * sizeof(double));
    jp.z = malloc(nv * sizeof(double));
    jp.dir = malloc(nv * sizeof(double));
    jp.hv = malloc(nv * sizeof(double));
    jp.diag = malloc((m ? m : 1) * sizeof(double));
    jp.dj = malloc((c->n_fb ? c->n_fb : 1) * sizeof(double));
    jp.tv = malloc(nv * sizeof(double));
    if (jp.hp == NULL || jp.hf == NULL || jp.g == NULL || jp.d == NULL || jp.res == NULL
        || jp.z == NULL || jp.dir == NULL || jp.hv == NULL || jp.diag == NULL || jp.dj == NULL
        || jp.tv == NULL)
        goto out;
    f = objective_full(c, n_rows_pool, pw, mask, lambda, mu, rho, th, r);
    for (it = 0; it < 50; it++) {
        double dec = 0, fn;

        joint_assemble(&jp, th, r);
        if (linalg_chol_factor(jp.hf, q) < 0) {
            /* Only without pool and mu; a tiny ridge keeps the preconditioner. */
            for (a = 0; a < q; a++)
                jp.hp[a * q + a] += 1e-9;
            memcpy(jp.hf, jp.hp, (size_t) q * q * sizeof(double));
            for (a = 0; a < q; a++)
                jp.hf[a * q + a] += 1e-6;
            if (linalg_chol_factor(jp.hf, q) < 0)
                break;
        }
        joint_pcg(&jp);
        for (k = 0; k < nv; k++)
            dec -= jp.g[k] * jp.d[k];
        if (!(dec > 1e-15 * (1 + fabs(f))))
            break;
        fn = linalg_armijo(th, q, r, m, jp.d, f, dec, joint_trial, &jp, jp.tv);
        if (!(fn <= f))
            break;
        memcpy(th, jp.tv, q * sizeof(double));
        memcpy(r, jp.tv + q, m * sizeof(double));
        f = fn;
    }
    rc = 0;
out:
    free(jp.hp);
    free(jp.hf);
    free(jp.g);
    free(jp.d);
    free(jp.res);
    free(jp.z);
    free(jp.dir);
    free(jp.hv);
    free(jp.diag);
    free(jp.dj);
    free(jp.tv);
    return rc;
}
