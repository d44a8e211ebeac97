/*
 * dual.c - the residual through its dual (dual_solve), with the head free or
 * fixed: one unknown per feedback message instead of one per slot, Newton's
 * system a Cholesky solve with the inverse of the feedback's Gram matrix.  The
 * product's solver up to opts->dual_max messages (see solve.c for the rule).
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dual.h"
#include "objective.h"

/* A Newton step taken whole with a decrement below this (relative to the
 * objective) ends the dual solve: convergence is quadratic there, so the step
 * after it would move the objective by about the square of that, far below
 * what a float head or weight can hold; one factorisation fewer per solve. */
#define NEWTON_LAST_DEC 1e-8

/*
 * c->kinv := the inverse of the Gram matrix over the n feedback messages act[]
 * (kept for the next call on the same set, as in cross-validation).
 *
 * Messages whose slot vectors are equal (or linearly dependent: automated mail
 * learned many times, messages without learned slots) make that matrix
 * singular.  Then it is taken with KINV_JITTER times its largest diagonal
 * entry added to the diagonal (c->kinv_eps; dual_solve uses the same matrix
 * throughout): as if each feedback message carried one more feature of its
 * own, of weight sqrt(eps), that no other message has.  The residual over the
 * slots, hence every score, moves by O(eps); the Newton system stays symmetric
 * positive definite, a Cholesky factor instead of an LU of the full system
 * (half the work, and no pivot search).  Returns 1 with the inverse, 0 when
 * even the shifted matrix will not factor (the caller falls back to LU), -1 on
 * allocation failure.
 */
#define KINV_JITTER 1e-6

static int
kinv_try(double *lf, const double *gram, size_t n_fb, const size_t *act, size_t n,
         double eps)
{
    size_t i, l;
    double dmax = 0, pmin = HUGE_VAL;

    for (i = 0; i < n; i++)
        for (l = 0; l < n; l++)
            lf[i * n + l] = gram[act[i] * n_fb + act[l]] + (i == l ? eps : 0);
    for (i = 0; i < n; i++)
        dmax = fmax(dmax, lf[i * n + i]);
    if (linalg_chol_factor(lf, (uint32_t) n) < 0)
        return 0;
    for (i = 0; i < n; i++)
        pmin = fmin(pmin, lf[i * n + i] * lf[i * n + i]);
    return pmin > 1e-9 * dmax;
}

static int
kinv_get(struct fit_ctx *c, const size_t *act, size_t n)
{
    size_t i;
    double *lf, dmax = 0;

    if (c->kinv != NULL && c->kinv_n == n && memcmp(c->kinv_act, act, n * sizeof(size_t)) == 0)
        return c->kinv_ok;
    if (c->kinv == NULL) {
        c->kinv = malloc((c->n_fb * c->n_fb + 1) * sizeof(double));
        c->kinv_act = malloc((c->n_fb + 1) * sizeof(size_t));
        if (c->kinv == NULL || c->kinv_act == NULL)
            return -1;
    }
    if ((lf = malloc((n * n + 1) * sizeof(double))) == NULL)
        return -1;
    c->kinv_n = n;
    memcpy(c->kinv_act, act, n * sizeof(size_t));
    c->kinv_eps = 0;
    c->kinv_ok = kinv_try(lf, c->gram, c->n_fb, act, n, 0);
    if (!c->kinv_ok) {
        for (i = 0; i < n; i++)
            dmax = fmax(dmax, c->gram[act[i] * c->n_fb + act[i]]);
        c->kinv_eps = KINV_JITTER * (dmax > 0 ? dmax : 1);
        c->kinv_ok = kinv_try(lf, c->gram, c->n_fb, act, n, c->kinv_eps);
    }
    if (c->kinv_ok)
        linalg_chol_inverse(lf, n, c->kinv);
    free(lf);
    return c->kinv_ok;
}

/*
 * The residual through its dual: at the optimum 2 rho r = -sum_j e_j phi_j,
 * so r = sum_j alpha_j phi_j and the residual score of message i is
 * (K alpha)_i with K the Gram matrix of the slot vectors.  The unknowns are
 * the head (when head_free) and one alpha per feedback message, however many
 * slots the messages touch, and Newton's system is dense and small:
 *
 *   [ H_vv          lambda A'DK      ] [dv]   [ -g_v               ]
 *   [ D A           D K + 2 rho I    ] [da] = [ -(e + 2 rho alpha) ]
 *
 * (the alpha rows of the true Hessian are these rows multiplied by lambda K,
 * so a solution here solves Newton's equations).  Only masked-in feedback
 * takes part.  On return r holds the primal residual.
 * Returns 0, or -1 on allocation failure.
 */
/* One dual solve's state: the active (masked-in) feedback act[0..n), the
 * point (alpha, K alpha), the Newton system (nv unknowns: the head's q when
 * head_free, then one per active message) and its scratch. */
struct dual {
    struct fit_ctx *c;
    size_t n_rows_pool;
    const double *pw, *mask;
    double lambda, mu, rho;
    int head_free;
    uint32_t q;
    size_t n, nv, off;          /* off: where the alpha unknowns start */
    size_t *act;
    const double *ki;           /* c->kinv, or NULL: the LU path */
    double *al, *ka, *e, *dd, *mat, *rhs, *hv, *gv, *kd, *tal, *tka;
};

/* The shifted Gram matrix entry of active messages i_ and j_. */
#define K(d_, i_, j_) ((d_)->c->gram[(d_)->act[i_] * (d_)->c->n_fb + (d_)->act[j_]] \
                       + ((i_) == (j_) ? (d_)->c->kinv_eps : 0))

/* F restricted to what moves: pool (when the head is free), feedback, both
 * penalties.  r' r = alpha' K alpha = alpha . (K alpha). */
static double
dual_objective(const struct dual *d, const double *thv, const double *alv, const double *kav)
{
    const struct fit_ctx *c = d->c;
    const uint8_t *yf = c->y + c->n_pool;
    double f_ = 0;
    size_t i;
    uint32_t a;

    if (d->head_free) {
        f_ += objective_pool_value(c, d->n_rows_pool, d->pw, thv);
        for (a = 0; a < d->q; a++)
            f_ += d->mu * (thv[a] - c->vg[a]) * (thv[a] - c->vg[a]);
    }
    for (i = 0; i < d->n; i++) {
        double t_ = fitctx_head_logit(c, thv, c->n_pool + d->act[i]) + kav[i];

        f_ += d->lambda * d->mask[d->act[i]] * linalg_logloss(yf[d->act[i]] ? t_ : -t_);
        f_ += d->lambda * d->rho * alv[i] * kav[i];
    }
    return f_;
}

/* e, D at th, and the head's rows of the Newton system (when head_free): its
 * gradient gv and Hessian hv, the head block of mat with its coupling rows. */
static void
dual_head_system(struct dual *d, const double *th)
{
    struct fit_ctx *c = d->c;
    const uint8_t *yf = c->y + c->n_pool;
    uint32_t q = d->q, p = c->p, a, b;
    size_t n = d->n, nv = d->nv, off = d->off, i, l;
    double xr[NET_MAX_HIDDEN + 2], lambda = d->lambda, mu = d->mu;

    for (i = 0; i < n; i++) {
        double t = fitctx_head_logit(c, th, c->n_pool + d->act[i]) + d->ka[i];
        double pr = linalg_sigmoid(t);

        /* the row weight enters e and D, so the system below is as written */
        d->e[i] = d->mask[d->act[i]] * (pr - yf[d->act[i]]);
        d->dd[i] = d->mask[d->act[i]] * pr * (1 - pr);
    }
    memset(d->mat, 0, nv * nv * sizeof(double));
    if (!d->head_free)
        return;
    memset(d->hv, 0, (size_t) q * q * sizeof(double));
    memset(d->gv, 0, q * sizeof(double));
    objective_pool_grad_hess(c, d->n_rows_pool, d->pw, th, p, xr, d->gv, d->hv);
    for (i = 0; i < n; i++) {
        const float *row = c->x + (c->n_pool + d->act[i]) * p;

        for (a = 0; a < p; a++)
            xr[a] = row[a];
        xr[p] = 1;
        for (a = 0; a < q; a++) {
            d->gv[a] += lambda * d->e[i] * xr[a];
            for (b = 0; b <= a; b++)
                d->hv[a * q + b] += lambda * d->dd[i] * xr[a] * xr[b];
        }
    }
    for (a = 0; a < q; a++) {
        d->gv[a] += 2 * mu * (th[a] - c->vg[a]);
        d->hv[a * q + a] += 2 * mu;
        for (b = 0; b <= a; b++)
            d->mat[a * nv + b] = d->mat[b * nv + a] = d->hv[a * q + b];
        d->rhs[a] = -d->gv[a];
    }
    /* top right: lambda A' D K; bottom left: D A */
    for (i = 0; i < n; i++) {
        const float *row = c->x + (c->n_pool + d->act[i]) * p;

        for (a = 0; a < p; a++)
            xr[a] = row[a];
        xr[p] = 1;
        for (a = 0; a < q; a++)
            d->mat[(off + i) * nv + a] = (d->ki != NULL ? lambda : 1.0) * d->dd[i] * xr[a];
        for (l = 0; d->ki == NULL && l < n; l++) {
            double w = lambda * d->dd[i] * K(d, i, l);

            if (w != 0)
                for (a = 0; a < q; a++)
                    d->mat[a * nv + off + l] += w * xr[a];
        }
    }
}

/* Solve the Newton system: rhs becomes (dv, dalpha) and kd = K dalpha.
 * Returns -1 when the system will not factor (the solve stops there). */
static int
dual_newton(struct dual *d)
{
    size_t n = d->n, nv = d->nv, off = d->off, i, l;
    double lambda = d->lambda, rho = d->rho;
    const double *ki = d->ki;

    if (ki != NULL) {
        /* The same system in (dv, ds = K dalpha), multiplied through by
         * lambda K^-1 on the alpha rows: symmetric positive definite
         *   [ H_vv     lambda A'D               ] [dv]   [ -g_v                       ]
         *   [ lambda DA  lambda (D + 2 rho K^-1) ] [ds] = [ -lambda (e + 2 rho alpha) ]
         * (the Hessian in (v, s)), so a Cholesky factor replaces the LU;
         * lower triangle only. */
        for (i = 0; i < n; i++) {
            for (l = 0; l <= i; l++)
                d->mat[(off + i) * nv + off + l] = lambda * 2 * rho * ki[i * n + l];
            d->mat[(off + i) * nv + off + i] += lambda * d->dd[i];
            d->rhs[off + i] = -lambda * (d->e[i] + 2 * rho * d->al[i]);
        }
        if (linalg_chol_factor(d->mat, (uint32_t) nv) < 0)
            return -1;
        linalg_chol_apply(d->mat, (uint32_t) nv, d->rhs);
        for (i = 0; i < n; i++)
            d->kd[i] = d->rhs[off + i];
        for (i = 0; i < n; i++) {
            double sacc = 0;

            for (l = 0; l < n; l++)
                sacc += ki[i * n + l] * d->kd[l];
            d->rhs[off + i] = sacc;
        }
        return 0;
    }
    for (i = 0; i < n; i++) {
        for (l = 0; l < n; l++)
            d->mat[(off + i) * nv + off + l] = d->dd[i] * K(d, i, l);
        d->mat[(off + i) * nv + off + i] += 2 * rho;
        d->rhs[off + i] = -(d->e[i] + 2 * rho * d->al[i]);
    }
    if (linalg_lu_solve(d->mat, nv, d->rhs) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        double sacc = 0;

        for (l = 0; l < n; l++)
            sacc += K(d, i, l) * d->rhs[off + l];
        d->kd[i] = sacc;
    }
    return 0;
}

/* Newton's method in (head, alpha) from (th, d->al); returns when a step
 * cannot be taken or no longer pays. */
static void
dual_iterate(struct dual *d, double *th)
{
    uint32_t q = d->q, a;
    size_t n = d->n, off = d->off, i;
    double tv[NET_MAX_HIDDEN + 2], f, lambda = d->lambda, rho = d->rho;
    int it;

    f = dual_objective(d, th, d->al, d->ka);
    for (it = 0; it < 100; it++) {
        double dec = 0, step = 1, fn = f;

        dual_head_system(d, th);
        if (dual_newton(d) < 0)
            break;
        /* Directional derivative of F along (dv, dalpha), for the line search:
         * g_v . dv + lambda (e + 2 rho alpha)' K dalpha. */
        for (i = 0; i < n; i++)
            dec -= lambda * (d->e[i] + 2 * rho * d->al[i]) * d->kd[i];
        if (d->head_free)
            for (a = 0; a < q; a++)
                dec -= d->gv[a] * d->rhs[a];
        if (!(dec > 1e-15 * (1 + fabs(f))))
            break;
        for (;;) {
            for (a = 0; a < q; a++)
                tv[a] = th[a] + (d->head_free ? step * d->rhs[a] : 0);
            for (i = 0; i < n; i++) {
                d->tal[i] = d->al[i] + step * d->rhs[off + i];
                d->tka[i] = d->ka[i] + step * d->kd[i];
            }
            fn = dual_objective(d, tv, d->tal, d->tka);
            if (fn <= f - 0.25 * step * dec || step < 1e-10)
                break;
            step *= 0.5;
        }
        if (!(fn <= f))
            break;
        memcpy(th, tv, q * sizeof(double));
        memcpy(d->al, d->tal, n * sizeof(double));
        memcpy(d->ka, d->tka, n * sizeof(double));
        f = fn;
        if (step == 1 && dec < NEWTON_LAST_DEC * (1 + fabs(f)))
            break;
    }
}

static void
dual_free(struct dual *d)
{
    free(d->act);
    free(d->al);
    free(d->ka);
    free(d->tal);
    free(d->tka);
    free(d->e);
    free(d->dd);
    free(d->kd);
    free(d->mat);
    free(d->rhs);
    free(d->hv);
    free(d->gv);
}

int
dual_solve(struct fit_ctx *c, size_t n_rows_pool, const double *pw, const double *mask,
           double lambda, double mu, double rho, int head_free, double *th, double *r)
{
    struct dual d = { .c = c, .n_rows_pool = n_rows_pool, .pw = pw, .mask = mask,
                      .lambda = lambda, .mu = mu, .rho = rho, .head_free = head_free };
    size_t n = 0, nv, i, j, k, l;
    uint32_t q = c->p + 1;
    int rc = -1, kok;

    d.q = q;
    if ((d.act = malloc((c->n_fb ? c->n_fb : 1) * sizeof(size_t))) == NULL)
        goto out;
    for (j = 0; j < c->n_fb; j++)
        if (mask[j] > 0)
            d.act[n++] = j;
    d.n = n;
    d.off = head_free ? q : 0;
    d.nv = nv = (head_free ? q : 0) + n;
    d.al = calloc(n + 1, sizeof(double));
    d.ka = calloc(n + 1, sizeof(double));
    d.tal = calloc(n + 1, sizeof(double));
    d.tka = calloc(n + 1, sizeof(double));
    d.e = calloc(n + 1, sizeof(double));
    d.dd = calloc(n + 1, sizeof(double));
    d.kd = calloc(n + 1, sizeof(double));
    d.mat = malloc((nv > 0 ? nv * nv : 1) * sizeof(double));
    d.rhs = malloc((nv ? nv : 1) * sizeof(double));
    d.hv = malloc((size_t) q * q * sizeof(double));
    d.gv = malloc(q * sizeof(double));
    if (d.al == NULL || d.ka == NULL || d.tal == NULL || d.tka == NULL || d.e == NULL
        || d.dd == NULL || d.kd == NULL || d.mat == NULL || d.rhs == NULL || d.hv == NULL
        || d.gv == NULL)
        goto out;
    if ((kok = kinv_get(c, d.act, n)) < 0)
        goto out;
    d.ki = kok ? c->kinv : NULL;
    if (c->alpha != NULL)
        for (i = 0; i < n; i++) {
            d.al[i] = c->alpha[d.act[i]];
            for (l = 0; l < n; l++)
                d.ka[l] += K(&d, l, i) * d.al[i];
        }
    dual_iterate(&d, th);
    if (c->alpha != NULL)
        for (i = 0; i < n; i++)
            c->alpha[d.act[i]] = d.al[i];
    /* The primal residual: r = sum_j alpha_j phi_j. */
    memset(r, 0, c->n_slots * sizeof(double));
    for (i = 0; i < n; i++)
        for (k = c->fb_off[d.act[i]]; k < c->fb_off[d.act[i] + 1]; k++)
            r[c->fb_slot[k]] += c->fb_cnt[k] * d.al[i] * c->fb_scale[d.act[i]];
    rc = 0;
out:
    dual_free(&d);
    return rc;
}
#undef K
