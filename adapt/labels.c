/*
 * labels.c - stage L of a user's fit (labels_fit): the user's labels on top
 * of M0, the model stage U fitted from unlabelled mail alone (see labels.h
 * for the model and doc/design-adapt.md for the pipeline).
 *
 * The problem is small: k labels, the slots their ids touch.  The fit for
 * given a and lam is solved in its kernel form (the representer theorem:
 * r = sum_j u_j x_j, so one unknown per label plus c, Newton with an LU
 * solve of k + 1 unknowns on the labels' Gram matrix, the one fitctx.c
 * builds for the dual), or beyond LABELS_KERNEL_MAX labels by primal
 * Newton-CG over the slots (resid.c) alternating with c.  The CV folds take
 * rows of one Gram matrix over at most LABELS_CV_MAX labels.
 *
 * Everything here is the caller's or freed before returning; allocation
 * failure is -1.  Pure computation, deterministic.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "auc.h"
#include "cv.h"
#include "fitctx.h"
#include "labels.h"
#include "linalg.h"
#include "prep.h"
#include "resid.h"
#include "selftrain.h"

/* a < 1 (M0 discounted) is left out: on SA -> enron1..6 the CV chose
 * a = 0.3 where the first labels were unlike the later mail (enron4: 200
 * labels, (1-AUC)% 3.13 base, 14.16 with a in {1, 0.3, 0}, 7.09 with a = 1
 * alone; the mean 4.99 -> 4.24), and it never gained where a = 1 lost more
 * than 1.4 points (enron1, 50 labels).  The grid stays for the CV's sake. */
const double labels_a_grid[LABELS_N_A] = { 1.0 };
const double labels_lam_grid[LABELS_N_LAM] = { 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 1e-4, 1e-5 };

#define KERNEL_NEWTON_MAX 60
/* The Newton matrix is refactorised when the curvatures moved by more than
 * this share of their sum since its last factorisation (see kernel_step). */
#define KERNEL_REFACTOR 0.2

/* y := Kf x, Kf the n x n symmetric sub-Gram (NULL: 0), column by column
 * (axpy updates, which vectorise without reordering a sum), four columns a
 * pass with y[i] held in a register across them: the same additions in the
 * same order as one column a pass, with a quarter of the loads and stores of
 * y (2.5 times faster at n = 160). */
ROW_PASS static void
kernel_mul(const double *Kf, size_t n, const double *x, double *y)
{
    size_t l = 0;

    memset(y, 0, n * sizeof(double));
    if (Kf == NULL)
        return;
    for (; l + 4 <= n; l += 4) {
        const double *c0 = Kf + l * n, *c1 = c0 + n, *c2 = c1 + n, *c3 = c2 + n;
        double x0 = x[l], x1 = x[l + 1], x2 = x[l + 2], x3 = x[l + 3];

        for (size_t i = 0; i < n; i++) {
            double t = y[i];

            t += x0 * c0[i];
            t += x1 * c1[i];
            t += x2 * c2[i];
            t += x3 * c3[i];
            y[i] = t;
        }
    }
    for (; l < n; l++) {
        const double *col = Kf + l * n;
        double xl = x[l];

        for (size_t i = 0; i < n; i++)
            y[i] += xl * col[i];
    }
}

/* The kernel objective at (u, c) with s = K u. */
static double
kernel_obj(const size_t *idx, size_t n, const double *off, const uint8_t *y, const double *w,
           double lam, const double *u, double c, const double *s)
{
    double f = 0;

    for (size_t i = 0; i < n; i++) {
        size_t j = idx[i];
        double t = off[j] + c + s[i];

        f += w[j] * linalg_logloss(y[j] ? t : -t) + lam * u[i] * s[i];
    }
    return f;
}

/* Working arrays of one kernel solve over n rows. */
struct kwork {
    double *Kf;                 /* K[idx, idx], contiguous (NULL without K) */
    double *bm;                 /* B = S Kf S + 2 lam I, then its Cholesky factor */
    float *bmf;                 /* ... in floats (!exact) */
    double *v;                  /* 14 n doubles, carved below */
    double *s, *sd, *ut, *st, *gu, *dd, *sq, *xb, *kxb, *xd, *kxd, *t, *dd0, *bb;
    double sum_d0, den0;        /* at the factorisation: sum dd0, the Schur complement */
    int have;                   /* a factorisation of this lam is in bm */
    int exact;                  /* Newton: double factor, refactorised every step */
};

static void
kwork_free(struct kwork *kw)
{
    free(kw->Kf);
    free(kw->bm);
    free(kw->bmf);
    free(kw->v);
}

static int
kwork_init(struct kwork *kw, const double *K, size_t ld, const size_t *idx, size_t n, int exact)
{
    double **part[] = { &kw->s, &kw->sd, &kw->ut, &kw->st, &kw->gu, &kw->dd, &kw->sq,
                        &kw->xb, &kw->kxb, &kw->xd, &kw->kxd, &kw->t, &kw->dd0, &kw->bb };

    memset(kw, 0, sizeof(*kw));
    kw->exact = exact;
    kw->v = malloc((14 * n + 1) * sizeof(double));
    if (kw->v == NULL)
        return -1;
    for (size_t k = 0; k < sizeof(part) / sizeof(part[0]); k++)
        *part[k] = kw->v + k * n;
    if (K == NULL)
        return 0;
    kw->Kf = malloc((n * n + 1) * sizeof(double));
    if (exact)
        kw->bm = malloc((n * n + 1) * sizeof(double));
    else
        kw->bmf = malloc((n * n + 1) * sizeof(float));
    if (kw->Kf == NULL || (kw->bm == NULL && kw->bmf == NULL))
        return -1;
    for (size_t i = 0; i < n; i++)
        for (size_t l = 0; l < n; l++)
            kw->Kf[i * n + l] = K[idx[i] * ld + idx[l]];
    return 0;
}

/* x := M r and kx := Kf x for M = (D0 Kf + 2 lam I)^-1, D0 = diag(sq^2) the
 * curvatures of the factorisation, by Woodbury: M r = (r - S B^-1 S Kf r) /
 * (2 lam) with S = diag(sq) and B = S Kf S + 2 lam I (symmetric positive
 * definite: its factor is in kw->bm).  No inverse of S or Kf is needed, so a
 * zero curvature or a singular Gram matrix is harmless. */
static void
kernel_apply_m(struct kwork *kw, size_t n, double lam, const double *r, double *x, double *kx)
{
    double *q = kw->t;

    if (kw->Kf == NULL) {
        for (size_t i = 0; i < n; i++) {
            x[i] = r[i] / (2 * lam);
            kx[i] = 0;
        }
        return;
    }
    kernel_mul(kw->Kf, n, r, q);
    for (size_t i = 0; i < n; i++)
        x[i] = kw->sq[i] * q[i];
    if (kw->exact)
        linalg_chol_apply(kw->bm, (uint32_t) n, x);
    else
        linalg_chol_apply_f(kw->bmf, (uint32_t) n, x);
    for (size_t i = 0; i < n; i++)
        x[i] *= kw->sq[i];                      /* S B^-1 S Kf r */
    kernel_mul(kw->Kf, n, x, kx);               /* Kf S B^-1 S Kf r */
    for (size_t i = 0; i < n; i++) {
        x[i] = (r[i] - x[i]) / (2 * lam);
        kx[i] = (q[i] - kx[i]) / (2 * lam);
    }
}

/* Factorise the Newton matrix at the curvatures kw->dd: B's Cholesky factor
 * (in floats unless kw->exact; where rounding makes the float B indefinite,
 * in doubles from then on), and for free_c M d0 (kw->xd, K M d0 in kw->kxd)
 * and the c row's Schur complement d0'1 - d0'K M d0.  -1 when B is not
 * positive definite, the complement vanishes or memory runs out. */
static int
kernel_factor(struct kwork *kw, size_t n, double lam, int free_c)
{
    double dkx = 0;

    memcpy(kw->dd0, kw->dd, n * sizeof(double));
    kw->sum_d0 = 0;
    for (size_t i = 0; i < n; i++) {
        kw->sq[i] = sqrt(kw->dd[i]);
        kw->sum_d0 += kw->dd[i];
    }
    kw->have = 0;
    while (kw->Kf != NULL) {
        for (size_t i = 0; i < n; i++)
            for (size_t l = 0; l < n; l++) {
                double b = kw->sq[i] * kw->Kf[i * n + l] * kw->sq[l] + (i == l ? 2 * lam : 0);

                if (kw->exact)
                    kw->bm[i * n + l] = b;
                else
                    kw->bmf[i * n + l] = (float) b;
            }
        if (kw->exact ? linalg_chol_factor(kw->bm, (uint32_t) n) == 0
            : linalg_chol_factor_f(kw->bmf, (uint32_t) n) == 0)
            break;
        if (kw->exact || (kw->bm = malloc((n * n + 1) * sizeof(double))) == NULL)
            return -1;
        kw->exact = 1;
    }
    if (free_c) {
        kernel_apply_m(kw, n, lam, kw->dd0, kw->xd, kw->kxd);
        for (size_t i = 0; i < n; i++)
            dkx += kw->dd0[i] * kw->kxd[i];
        kw->den0 = kw->sum_d0 - dkx;
        if (!(kw->den0 > 1e-300))
            return -1;
    }
    kw->have = 1;
    return 0;
}

/*
 * The Newton step of the kernel form at (u, c) with s = K u: du into kw->xb,
 * K du into kw->kxb, dc into *dc; kw->gu gets the u gradient divided by K,
 * *gc the c gradient.  The Newton system, its u rows divided by K (the same
 * solution, and no inverse of K needed),
 *   (D K + 2 lam I) du + d dc = -(g + 2 lam u),   d'K du + (sum d) dc = -sum g,
 * with g the loss gradient and d = D 1 the curvatures, is solved through M
 * (kernel_apply_m) and the c row's Schur complement.  The matrix is
 * refactorised when the curvatures moved by more than KERNEL_REFACTOR of
 * their sum since the last factorisation (or refactor is set); otherwise the
 * step is that of the last factorisation's matrix (a chord step: the same
 * fixed point, the line search keeps it a descent).  -1: no step.
 */
static int
kernel_step(struct kwork *kw, const size_t *idx, size_t n, const double *off,
            const uint8_t *y, const double *w, double lam, int free_c, int refactor,
            const double *u, double c, double *gc, double *dc)
{
    double moved = 0, *b = kw->bb;

    *gc = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j = idx[i];
        double p = linalg_sigmoid(off[j] + c + kw->s[i]), g = w[j] * (p - y[j]);

        kw->dd[i] = w[j] * p * (1 - p);
        moved += fabs(kw->dd[i] - kw->dd0[i]);
        kw->gu[i] = g + 2 * lam * u[i];
        *gc += g;
        b[i] = -kw->gu[i];
    }
    if ((refactor || kw->exact || !kw->have || moved > KERNEL_REFACTOR * kw->sum_d0)
        && kernel_factor(kw, n, lam, free_c) < 0)
        return -1;
    kernel_apply_m(kw, n, lam, b, kw->xb, kw->kxb);
    *dc = 0;
    if (!free_c)
        return 0;
    for (size_t i = 0; i < n; i++)
        *dc -= kw->dd0[i] * kw->kxb[i];
    *dc = (*dc - *gc) / kw->den0;
    for (size_t i = 0; i < n; i++) {
        kw->xb[i] -= *dc * kw->xd[i];
        kw->kxb[i] -= *dc * kw->kxd[i];
    }
    return 0;
}

/*
 * labels_kernel_solve, exact or not.  exact: Newton, every step from a
 * double factor of its own matrix; the last step lands on the optimum to
 * rounding (the published fit, labels_solve).  Otherwise (the CV's fits,
 * which only rank held-out labels): a float factor, kept while the
 * curvatures move little (chord steps), which stops within about 1e-6 of
 * the optimum's weights, where the objective's own rounding hides further
 * decrease.
 */
static int
kernel_solve(const double *K, size_t ld, const size_t *idx, size_t n, const double *off,
             const uint8_t *y, const double *w, double lam, int free_c, int exact,
             double *u, double *c)
{
    struct kwork kw;
    double f;

    if (kwork_init(&kw, K, ld, idx, n, exact) < 0) {
        kwork_free(&kw);
        return -1;
    }
    kernel_mul(kw.Kf, n, u, kw.s);
    f = kernel_obj(idx, n, off, y, w, lam, u, *c, kw.s);
    for (int it = 0, full = 0; it < KERNEL_NEWTON_MAX; it++) {
        double gc, dc, dec = 0, step = 1, ct, ft;
        if (kernel_step(&kw, idx, n, off, y, w, lam, free_c, !full, u, *c, &gc, &dc) < 0)
            break;
        /* the directional derivative: grad_u = K gu, so grad_u . du = gu . (K du) */
        for (size_t i = 0; i < n; i++)
            dec += kw.gu[i] * kw.kxb[i];
        dec += gc * dc;
        if (!(dec < -1e-15 * (1 + f)))
            break;
        for (;;) {
            for (size_t i = 0; i < n; i++) {
                kw.ut[i] = u[i] + step * kw.xb[i];
                kw.st[i] = kw.s[i] + step * kw.kxb[i];
            }
            ct = *c + step * dc;
            ft = kernel_obj(idx, n, off, y, w, lam, kw.ut, ct, kw.st);
            if (ft <= f + 1e-4 * step * dec || step < 1e-10)
                break;
            step *= 0.5;
        }
        if (!(ft <= f))
            break;
        memcpy(u, kw.ut, n * sizeof(double));
        memcpy(kw.s, kw.st, n * sizeof(double));
        *c = ct;
        f = ft;
        full = step == 1;       /* a damped step: refactorise for the next */
        if (step == 1 && -dec < 1e-12 * (1 + f))
            break;              /* quadratic convergence: the next step is noise */
    }
    kwork_free(&kw);
    return 0;
}

int
labels_kernel_solve(const double *K, size_t ld, const size_t *idx, size_t n,
                    const double *off, const uint8_t *y, const double *w,
                    double lam, int free_c, double *u, double *c)
{
    return kernel_solve(K, ld, idx, n, off, y, w, lam, free_c, 1, u, c);
}

/* Working arrays of the CV's Newton-CG fits over at most n rows. */
struct cgwork {
    double *v;                  /* 15 n doubles, carved below */
    double *s, *ut, *st, *g, *d, *xa, *xk, *ra, *rk, *pa, *pk, *t, *kt;
    double *u1, *u2;            /* the fold's fits at the last two lam */
    double c1, c2;
};

static int
cgwork_init(struct cgwork *cg, size_t n)
{
    double **part[] = { &cg->s, &cg->ut, &cg->st, &cg->g, &cg->d, &cg->xa, &cg->xk, &cg->ra,
                        &cg->rk, &cg->pa, &cg->pk, &cg->t, &cg->kt, &cg->u1, &cg->u2 };

    cg->v = malloc((15 * n + 1) * sizeof(double));
    if (cg->v == NULL)
        return -1;
    for (size_t k = 0; k < sizeof(part) / sizeof(part[0]); k++)
        *part[k] = cg->v + k * n;
    return 0;
}

static double
dot(const double *x, const double *y, size_t n)
{
    double t = 0;

    for (size_t i = 0; i < n; i++)
        t += x[i] * y[i];
    return t;
}

/* CG's stopping rule: the preconditioned residual's norm below CG_ETA of the
 * Newton step's right-hand side's (the forcing term of an inexact Newton
 * method), at most CG_MAX iterations a step.  Newton stops, before solving,
 * once the preconditioned gradient's norm (an upper bound of the Newton
 * decrement on r) is below CG_GTOL (1 + f). */
#define CG_ETA 1e-2
#define CG_MAX 200
#define CG_GTOL 1e-12

/*
 * The kernel form's fit by Newton-CG, for the CV (labels_kernel_solve's
 * problem; Kf the n x n sub-Gram of the rows idx, contiguous, NULL without
 * the residual).  Newton's system is that of the primal,
 * (X'DX + 2 lam I) dr + X'd dc = -grad_r, d'X dr + (sum d) dc = -grad_c,
 * solved by preconditioned conjugate gradients with every primal vector
 * kept as its coefficients a over the labels (dr = X'a) and their image
 * K a: a product with the Hessian is one product with Kf, an inner product
 * v'w = a_v . (K a_w).  The system is well conditioned (the curvatures sum
 * to at most a quarter of the class-balanced weights' total 1), so a few
 * products replace the n^3 / 3 of a factorisation.  The preconditioner is
 * diagonal: 2 lam on r, sum d on c.
 *
 * Started from (u, c); with u2 (the fit at the lam before last, c2 its c)
 * also from the secant through the last two fits extrapolated by tx in
 * log lam, when that has the lower objective.  Stops like kernel_solve, or
 * at CG_GTOL: the held-out logits within 2e-5 of kernel_solve's on Enron's
 * CV folds (bench/results/adapt-refit-2026-12-07.md).
 */
static void
kernel_solve_cg(struct cgwork *cg, const double *Kf, const size_t *idx, size_t n,
                const double *off, const uint8_t *y, const double *w, double lam, int free_c,
                double *u, double *c, const double *u2, double c2, double tx)
{
    double f, lam2 = 2 * lam;

    kernel_mul(Kf, n, u, cg->s);
    f = kernel_obj(idx, n, off, y, w, lam, u, *c, cg->s);
    if (u2 != NULL) {
        double ct = *c + tx * (*c - c2), ft;

        for (size_t i = 0; i < n; i++)
            cg->ut[i] = u[i] + tx * (u[i] - u2[i]);
        kernel_mul(Kf, n, cg->ut, cg->st);
        ft = kernel_obj(idx, n, off, y, w, lam, cg->ut, ct, cg->st);
        if (ft < f) {
            memcpy(u, cg->ut, n * sizeof(double));
            memcpy(cg->s, cg->st, n * sizeof(double));
            *c = ct;
            f = ft;
        }
    }
    for (int it = 0; it < KERNEL_NEWTON_MAX; it++) {
        double gc = 0, sd = 0, rc, xc = 0, pc, rho, rho0, dec, step = 1, ct, ft;

        for (size_t i = 0; i < n; i++) {
            size_t j = idx[i];
            double p = linalg_sigmoid(off[j] + *c + cg->s[i]);

            cg->g[i] = w[j] * (p - y[j]);
            cg->d[i] = w[j] * p * (1 - p);
            gc += cg->g[i];
            sd += cg->d[i];
        }
        if (!(sd > 1e-300))
            break;
        /* the residual at dx = 0, -grad: a = -(g + 2 lam u) and K a; c's -gc */
        for (size_t i = 0; i < n; i++) {
            cg->ra[i] = Kf != NULL ? -(cg->g[i] + lam2 * u[i]) : 0;
            cg->xa[i] = cg->xk[i] = 0;
        }
        kernel_mul(Kf, n, cg->ra, cg->rk);
        for (size_t i = 0; i < n; i++) {
            cg->pa[i] = cg->ra[i] / lam2;
            cg->pk[i] = cg->rk[i] / lam2;
        }
        rc = free_c ? -gc : 0;
        pc = rc / sd;
        rho = rho0 = dot(cg->ra, cg->rk, n) / lam2 + rc * pc;
        if (rho0 < CG_GTOL * (1 + f))
            break;
        for (int k = 0; k < CG_MAX && rho > CG_ETA * CG_ETA * rho0; k++) {
            double php = 0, sdt = 0, alpha, rho1, beta;

            /* H p = K t + 2 lam p on r, sum t on c, t = D (K p_a + p_c) */
            for (size_t i = 0; i < n; i++) {
                cg->t[i] = cg->d[i] * (cg->pk[i] + pc);
                php += cg->t[i] * (cg->pk[i] + pc);
                sdt += cg->t[i];
            }
            kernel_mul(Kf, n, cg->t, cg->kt);
            php += lam2 * dot(cg->pa, cg->pk, n);
            if (!(php > 0))
                break;
            alpha = rho / php;
            for (size_t i = 0; Kf != NULL && i < n; i++) {
                cg->xa[i] += alpha * cg->pa[i];
                cg->xk[i] += alpha * cg->pk[i];
                cg->ra[i] -= alpha * (cg->t[i] + lam2 * cg->pa[i]);
                cg->rk[i] -= alpha * (cg->kt[i] + lam2 * cg->pk[i]);
            }
            xc += alpha * pc;
            if (free_c)
                rc -= alpha * sdt;
            rho1 = dot(cg->ra, cg->rk, n) / lam2 + rc * rc / sd;
            beta = rho1 / rho;
            rho = rho1;
            for (size_t i = 0; i < n; i++) {
                cg->pa[i] = cg->ra[i] / lam2 + beta * cg->pa[i];
                cg->pk[i] = cg->rk[i] / lam2 + beta * cg->pk[i];
            }
            pc = rc / sd + beta * pc;
        }
        /* the directional derivative grad . dx = (g + 2 lam u) . K xa + gc xc */
        dec = gc * xc;
        for (size_t i = 0; i < n; i++)
            dec += (cg->g[i] + lam2 * u[i]) * cg->xk[i];
        if (!(dec < -1e-15 * (1 + f)))
            break;
        for (;;) {
            for (size_t i = 0; i < n; i++) {
                cg->ut[i] = u[i] + step * cg->xa[i];
                cg->st[i] = cg->s[i] + step * cg->xk[i];
            }
            ct = *c + step * xc;
            ft = kernel_obj(idx, n, off, y, w, lam, cg->ut, ct, cg->st);
            if (ft <= f + 1e-4 * step * dec || step < 1e-10)
                break;
            step *= 0.5;
        }
        if (!(ft <= f))
            break;
        memcpy(u, cg->ut, n * sizeof(double));
        memcpy(cg->s, cg->st, n * sizeof(double));
        *c = ct;
        f = ft;
        if (step == 1 && -dec < 1e-12 * (1 + f))
            break;
    }
}

/* c minimising sum_j w_j l(y_j, base_j + c) by 1-D Newton, from *c. */
static void
fit_bias(const double *base, const uint8_t *y, const double *w, size_t n, double *c)
{
    for (int it = 0; it < 60; it++) {
        double g = 0, h = 0, step;

        for (size_t j = 0; j < n; j++) {
            double p = linalg_sigmoid(base[j] + *c);

            g += w[j] * (p - y[j]);
            h += w[j] * p * (1 - p);
        }
        if (!(h > 1e-300))
            break;
        step = g / h;
        step = step > 5 ? 5 : step < -5 ? -5 : step;
        *c -= step;
        if (fabs(step) < 1e-12)
            break;
    }
}

/* Class-balanced weights over the rows with keep[j] (NULL: all): 1 / (2 n_class). */
static void
balanced_weights(const uint8_t *y, size_t n, const uint8_t *keep, double *w)
{
    double cnt[2] = { 0, 0 };

    for (size_t j = 0; j < n; j++)
        if (keep == NULL || keep[j])
            cnt[y[j] != 0]++;
    for (size_t j = 0; j < n; j++)
        w[j] = (keep == NULL || keep[j]) && cnt[y[j] != 0] > 0 ? 0.5 / cnt[y[j] != 0] : 0;
}

/* Held-out logits of fold f: off + c + K[h, train] u. */
static void
fold_predict(const double *K, size_t n, const size_t *tr, size_t n_tr, const double *off,
             const double *u, double c, size_t f, double *pred)
{
    for (size_t h = f; h < n; h += CV_FOLDS) {
        double t = off[h] + c;

        for (size_t l = 0; K != NULL && l < n_tr; l++)
            t += K[h * n + tr[l]] * u[l];
        pred[h] = t;
    }
}

/* Working arrays of the CV over n labels. */
struct cvwork {
    size_t n, *tr[CV_FOLDS], n_tr[CV_FOLDS];
    double *w[CV_FOLDS], *u[CV_FOLDS], c[CV_FOLDS], *off, *pred, *wcv;
    uint8_t *keep;
};

static void
cvwork_free(struct cvwork *cw)
{
    for (size_t f = 0; f < CV_FOLDS; f++) {
        free(cw->tr[f]);
        free(cw->w[f]);
        free(cw->u[f]);
    }
    free(cw->off);
    free(cw->pred);
    free(cw->wcv);
    free(cw->keep);
}

/* Folds by position (label i of the CV set in fold i % CV_FOLDS), each
 * training fold's class-balanced weights.  Returns 0, or -1. */
static int
cvwork_init(struct cvwork *cw, const uint8_t *y, size_t n)
{
    memset(cw, 0, sizeof(*cw));
    cw->n = n;
    cw->off = malloc((n + 1) * sizeof(double));
    cw->pred = malloc((n + 1) * sizeof(double));
    cw->wcv = malloc((n + 1) * sizeof(double));
    cw->keep = malloc(n + 1);
    if (cw->off == NULL || cw->pred == NULL || cw->wcv == NULL || cw->keep == NULL)
        return -1;
    balanced_weights(y, n, NULL, cw->wcv);
    for (size_t f = 0; f < CV_FOLDS; f++) {
        cw->tr[f] = malloc((n + 1) * sizeof(size_t));
        cw->w[f] = malloc((n + 1) * sizeof(double));
        cw->u[f] = malloc((n + 1) * sizeof(double));
        if (cw->tr[f] == NULL || cw->w[f] == NULL || cw->u[f] == NULL)
            return -1;
        for (size_t j = 0; j < n; j++) {
            cw->keep[j] = j % CV_FOLDS != f;
            if (cw->keep[j])
                cw->tr[f][cw->n_tr[f]++] = j;
        }
        balanced_weights(y, n, cw->keep, cw->w[f]);
    }
    return 0;
}

/* The choice's score of the out-of-fold logits pred: 1 - AUC, ties broken
 * by the pooled class-balanced log loss (weight 1e-3).  The ranking is what
 * the threshold is placed on afterwards; the log loss alone preferred the
 * widest lam everywhere (SA -> enron1, 50 labels: every fit worse than M0). */
static double
cv_score(const struct cvwork *cw, const uint8_t *y, const double *pred)
{
    double l = 0;

    for (size_t j = 0; j < cw->n; j++)
        l += cw->wcv[j] * linalg_logloss(y[j] ? pred[j] : -pred[j]);
    return 1 - auc_double(pred, y, cw->n) + 1e-3 * l;
}

/* psi of the Mann-Whitney statistic: spam logit s against ham logit h. */
static double
psi(double s, double h)
{
    return s > h ? 1 : s == h ? 0.5 : 0;
}

/*
 * DeLong's paired test (DeLong, DeLong and Clarke-Pearson 1988) of the
 * out-of-fold AUC of pred over M0's o0 on the same labels: the AUC
 * difference over its standard error from each message's placement
 * differences.  HUGE_VAL when the difference is positive with no variance,
 * -HUGE_VAL when it is zero or less with none.
 */
static double
delong_z(const uint8_t *y, const double *pred, const double *o0, size_t n)
{
    double n1 = 0, n0 = 0, m1 = 0, m0 = 0, q1 = 0, q0 = 0, v;

    for (size_t j = 0; j < n; j++)
        y[j] ? n1++ : n0++;
    for (size_t j = 0; j < n; j++) {
        double d = 0;

        for (size_t l = 0; l < n; l++) {
            if (y[l] == y[j])
                continue;
            d += y[j] ? psi(pred[j], pred[l]) - psi(o0[j], o0[l])
                      : psi(pred[l], pred[j]) - psi(o0[l], o0[j]);
        }
        if (y[j]) {
            d /= n0;
            m1 += d;
            q1 += d * d;
        } else {
            d /= n1;
            m0 += d;
            q0 += d * d;
        }
    }
    m1 /= n1;
    m0 /= n0;
    v = (q1 - n1 * m1 * m1) / (n1 > 1 ? (n1 - 1) * n1 : 1)
        + (q0 - n0 * m0 * m0) / (n0 > 1 ? (n0 - 1) * n0 : 1);
    if (!(v > 1e-18))
        return m1 > 1e-12 ? HUGE_VAL : -HUGE_VAL;
    return m1 / sqrt(v);
}

/* Out-of-fold error rate of the logits pred at thr. */
static double
cv_errors(size_t n, const uint8_t *y, const double *pred, double thr)
{
    size_t wrong = 0;

    for (size_t j = 0; j < n; j++)
        wrong += (pred[j] >= thr) != (y[j] != 0);
    return n > 0 ? (double) wrong / (double) n : 0;
}

/*
 * a and lam by CV over the labels of cx (its Gram matrix; o0 M0's logits,
 * y the labels): every (a, lam) of the grids (a = 1 only without use_head,
 * the default lam only without use_resid), lam from the largest down with
 * each fold's solution warm-started from the last.  The identity (M0) is
 * kept unless a candidate's out-of-fold AUC beats M0's by LABELS_TRUST_Z
 * standard errors (delong_z); of those that do, the best cv_score wins.
 * ls->lam 0 when the identity is kept.  Returns 0, or -1.
 */
static int
labels_choose(const struct fit_ctx *cx, const double *o0, const uint8_t *y,
              const struct adapt_opts *o, double thr, struct labels_stats *ls)
{
    struct cvwork cw;
    struct cgwork cg = { 0 };
    size_t n = cx->n_fb;
    const double *K = o->use_resid ? cx->gram : NULL;
    size_t na = o->use_head ? LABELS_N_A : 1, nl = o->use_resid ? LABELS_N_LAM : 1;
    double best = HUGE_VAL, *Kf = NULL, *pred = NULL;
    int rc = -1;

    if (cvwork_init(&cw, y, n) < 0 || cgwork_init(&cg, n) < 0
        || (pred = malloc((nl * n + 1) * sizeof(double))) == NULL
        || (K != NULL && (Kf = malloc((n * n + 1) * sizeof(double))) == NULL))
        goto out;
    ls->cv_loss_m0 = ls->cv_loss = cv_score(&cw, y, o0);
    ls->cv_err = cv_errors(n, y, o0, thr);
    ls->a = 1;
    ls->lam = 0;
    for (size_t ai = 0; ai < na; ai++) {
        double a = o->use_head ? labels_a_grid[ai] : 1;

        for (size_t j = 0; j < n; j++)
            cw.off[j] = a * o0[j];
        /* fold by fold: its sub-Gram gathered once, lam from the largest
         * down, each fit started from the last (and from the secant through
         * the last two) */
        for (size_t f = 0; f < CV_FOLDS; f++) {
            const size_t *tr = cw.tr[f];
            size_t nt = cw.n_tr[f];

            for (size_t i = 0; Kf != NULL && i < nt; i++)
                for (size_t l = 0; l < nt; l++)
                    Kf[i * nt + l] = K[tr[i] * n + tr[l]];
            memset(cw.u[f], 0, n * sizeof(double));
            cw.c[f] = 0;
            for (size_t li = 0; li < nl; li++) {
                double lam = o->use_resid ? labels_lam_grid[li] : LABELS_LAM_DEFAULT, tx = 0;
                double *sw;

                if (li >= 2)
                    tx = log(labels_lam_grid[li] / labels_lam_grid[li - 1])
                        / log(labels_lam_grid[li - 1] / labels_lam_grid[li - 2]);
                /* u1 := the fit at the last lam; the one before is in u2 */
                memcpy(cg.u1, cw.u[f], nt * sizeof(double));
                cg.c1 = cw.c[f];
                kernel_solve_cg(&cg, Kf, tr, nt, cw.off, y, cw.w[f], lam, o->use_head,
                                cw.u[f], &cw.c[f], li >= 2 ? cg.u2 : NULL, cg.c2, tx);
                sw = cg.u2;
                cg.u2 = cg.u1;
                cg.u1 = sw;
                cg.c2 = cg.c1;
                fold_predict(K, n, tr, nt, cw.off, cw.u[f], cw.c[f], f, pred + li * n);
            }
        }
        for (size_t li = 0; li < nl; li++) {
            const double *pl = pred + li * n;
            double l = cv_score(&cw, y, pl);

            if (l < best && delong_z(y, pl, o0, n) >= LABELS_TRUST_Z) {
                best = ls->cv_loss = l;
                ls->cv_err = cv_errors(n, y, pl, thr);
                ls->a = a;
                ls->lam = o->use_resid ? labels_lam_grid[li] : LABELS_LAM_DEFAULT;
            }
        }
    }
    rc = 0;
out:
    cvwork_free(&cw);
    free(cg.v);
    free(Kf);
    free(pred);
    return rc;
}

/* The options of stage L's fit contexts: token slots only (the learned
 * slots come after the fit), a Gram matrix up to gram_max labels. */
static void
ctx_opts(const struct adapt_opts *o, struct adapt_opts *lo, uint32_t gram_max)
{
    *lo = *o;
    lo->learned = 0;
    lo->use_resid = 1;
    lo->dual_max = gram_max;
}

/*
 * CV over at most LABELS_CV_MAX of the labels, evenly spread.  Fills
 * ls->a, lam, cv_loss_m0, cv_loss.  Returns 0, or -1.
 */
static int
labels_cv(const struct model *m, uint32_t seed, const struct adapt_example *fb,
          size_t n_fb, const double *o0, const struct adapt_opts *o, double thr,
          struct labels_stats *ls)
{
    size_t n = n_fb < LABELS_CV_MAX ? n_fb : LABELS_CV_MAX;
    struct adapt_example *sub = malloc((n + 1) * sizeof(*sub));
    double *so = malloc((n + 1) * sizeof(double));
    uint8_t *y = malloc(n + 1);
    struct adapt_opts lo;
    struct fit_ctx cx;
    int rc = -1;

    memset(&cx, 0, sizeof(cx));
    if (sub == NULL || so == NULL || y == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        size_t j = i * n_fb / n;

        sub[i] = fb[j];
        so[i] = o0[j];
        y[i] = fb[j].spam != 0;
    }
    ctx_opts(o, &lo, (uint32_t) n);
    if (fitctx_build(&cx, m, seed, sub, n, &lo, 0) < 0)
        goto out;
    rc = labels_choose(&cx, so, y, o, thr, ls);
out:
    fitctx_free(&cx);
    free(sub);
    free(so);
    free(y);
    return rc;
}

/*
 * The fit for the chosen a, lam on all n labels of cx: c into *c, the
 * token weights into r (cx->n_slots, zeroed here).  Returns 0, or -1.
 */
static int
labels_solve(struct fit_ctx *cx, const double *off, const double *w,
             const struct adapt_opts *o, double lam, double *c, double *r)
{
    size_t n = cx->n_fb, *idx = NULL;
    const uint8_t *y = cx->y;
    double *u = NULL, *base = malloc((n + 1) * sizeof(double));
    int rc = -1;

    memset(r, 0, (cx->n_slots + 1) * sizeof(double));
    *c = 0;
    if (base == NULL)
        goto out;
    if (!o->use_resid || cx->n_slots == 0) {
        if (o->use_head)
            fit_bias(off, y, w, n, c);
    } else if (cx->gram != NULL) {
        if ((idx = calloc(n + 1, sizeof(size_t))) == NULL
            || (u = calloc(n + 1, sizeof(double))) == NULL)
            goto out;
        for (size_t j = 0; j < n; j++)
            idx[j] = j;
        if (labels_kernel_solve(cx->gram, n, idx, n, off, y, w, lam, o->use_head, u, c) < 0)
            goto out;
        /* r = sum_j u_j x_j */
        for (size_t j = 0; j < n; j++)
            for (size_t k = cx->fb_off[j]; k < cx->fb_off[j + 1]; k++)
                r[cx->fb_slot[k]] += u[j] * cx->fb_cnt[k] * cx->fb_scale[j];
    } else {
        /* primal: r by Newton-CG for c, then c for r, until c settles */
        for (int outer = 0; outer < 30; outer++) {
            double c0 = *c;

            for (size_t j = 0; j < n; j++)
                base[j] = off[j] + *c;
            resid_solve(cx, base, w, lam, r, RESID_GTOL);
            if (!o->use_head)
                break;
            for (size_t j = 0; j < n; j++)
                base[j] = off[j] + fitctx_fb_resid(cx, r, j);
            fit_bias(base, y, w, n, c);
            if (fabs(*c - c0) < 1e-7)
                break;
        }
    }
    rc = 0;
out:
    free(idx);
    free(u);
    free(base);
    return rc;
}

/* A copy of um0 with its head scaled by a and c added to the bias, its
 * residual scaled by a.  NULL on allocation failure. */
static struct user_model *
scaled_copy(const struct user_model *um0, double a, double c)
{
    struct user_model *um = calloc(1, sizeof(*um));
    uint32_t hl = NET_HEAD_LEN(um0->hidden);

    if (um == NULL)
        return NULL;
    *um = *um0;
    um->resid_slot = malloc((um0->n_resid + 1) * sizeof(uint32_t));
    um->resid_w = malloc((um0->n_resid + 1) * sizeof(float));
    if (um->resid_slot == NULL || um->resid_w == NULL)
        return user_model_free(um);
    for (uint32_t k = 0; k < hl; k++)
        um->head[k] = (float) (a * um0->head[k]);
    um->head[hl - 1] += (float) c;
    um->n_resid = 0;
    for (uint32_t k = 0; k < um0->n_resid; k++)
        if ((float) (a * um0->resid_w[k]) != 0.0f) {
            um->resid_slot[um->n_resid] = um0->resid_slot[k];
            um->resid_w[um->n_resid++] = (float) (a * um0->resid_w[k]);
        }
    return um;
}

/* um's residual += the n weights w over the sorted unique slots (zeros
 * dropped).  Returns 0, or -1 (um unchanged). */
static int
add_weights(struct user_model *um, const uint32_t *slots, const double *w, size_t n)
{
    struct user_model add = { .seed = um->seed, .resid_bits = um->resid_bits };
    int rc;

    add.resid_slot = malloc((n + 1) * sizeof(uint32_t));
    add.resid_w = malloc((n + 1) * sizeof(float));
    if (add.resid_slot == NULL || add.resid_w == NULL) {
        free(add.resid_slot);
        free(add.resid_w);
        return -1;
    }
    for (size_t k = 0; k < n; k++)
        if ((float) w[k] != 0.0f) {
            add.resid_slot[add.n_resid] = slots[k];
            add.resid_w[add.n_resid++] = (float) w[k];
        }
    rc = selftrain_merge(um, &add);
    free(add.resid_slot);
    free(add.resid_w);
    return rc;
}

struct learned_pair {
    uint32_t slot;
    size_t pos;                 /* the label's position: the last one wins */
    double w;
};

static int
pair_cmp(const void *x, const void *y)
{
    const struct learned_pair *a = x, *b = y;

    if (a->slot != b->slot)
        return a->slot < b->slot ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

int
labels_learn(const struct model *m, struct user_model *um, const struct adapt_example *fb,
             size_t n_fb, uint32_t *n_set)
{
    struct learned_pair *pr = malloc((n_fb + 1) * sizeof(*pr));
    uint32_t *slots = malloc((n_fb + 1) * sizeof(uint32_t));
    double *w = malloc((n_fb + 1) * sizeof(double));
    size_t n = 0, k = 0;
    int rc = -1;

    if (pr == NULL || slots == NULL || w == NULL)
        goto out;
    for (size_t j = 0; j < n_fb; j++) {
        double f, want = fb[j].spam ? LABELS_LEARNED_MARGIN : -LABELS_LEARNED_MARGIN;

        if (fb[j].n == 0)
            continue;
        f = adapt_logit(m, um, fb[j].h, fb[j].z, fb[j].ids, fb[j].n)
            - adapt_learned_share(um, fb[j].ids, fb[j].n);
        pr[n].slot = adapt_learned_slot(fb[j].ids, fb[j].n, um->seed);
        pr[n].pos = j;
        /* the change that makes the slot's weight the one wanted */
        pr[n].w = ((fb[j].spam ? f < want : f > want)
                   ? (want - f) * sqrt((double) fb[j].n) / adapt_learned_reps(fb[j].n) : 0)
            - user_model_slot_weight(um, pr[n].slot);
        n++;
    }
    qsort(pr, n, sizeof(*pr), pair_cmp);
    for (size_t j = 0; j < n; j++) {
        if (k > 0 && slots[k - 1] == pr[j].slot) {
            w[k - 1] = pr[j].w;
            continue;
        }
        slots[k] = pr[j].slot;
        w[k++] = pr[j].w;
    }
    for (size_t j = 0; j < k; j++)
        *n_set += w[j] != 0;
    rc = add_weights(um, slots, w, k);
out:
    free(pr);
    free(slots);
    free(w);
    return rc;
}

/*
 * a and lam for n_fb labels with n0 ham and n1 spam: given, kept in the
 * prep, cross-validated, or the defaults below cv_min.  Fills ls (lam 0:
 * identity).  Returns 0, or -1.
 */
static int
labels_pick(const struct model *m, uint32_t seed, const struct adapt_example *fb,
            size_t n_fb, size_t n0, size_t n1, const double *o0, const struct adapt_opts *o,
            double thr, struct adapt_prep *prep, struct labels_stats *ls)
{
    size_t n_cv = n_fb < LABELS_CV_MAX ? n_fb : LABELS_CV_MAX;

    ls->a = 1;
    ls->lam = 0;
    ls->cv_err = -1;
    if (n0 == 0 || n1 == 0 || (!o->use_head && !o->use_resid))
        return 0;               /* one class: nothing to fit c against */
    if (o->label_a >= 0 && o->label_lam >= 0) {
        ls->a = o->use_head ? o->label_a : 1;
        ls->lam = o->label_lam;
        return 0;
    }
    /* both classes in every training fold of the (spread) CV set */
    if (n_fb < o->cv_min || n0 * n_cv / n_fb < CV_FOLDS || n1 * n_cv / n_fb < CV_FOLDS)
        return 0;               /* the labels cannot say whether to trust them */
    ls->cross_validated = 1;
    if (prep != NULL && adapt_prep_cv_current(prep, n_fb)) {
        ls->a = prep->mu;
        ls->lam = prep->lambda;
        ls->cv_err = prep->cv_err;
        ls->reused = 1;
        return 0;
    }
    if (labels_cv(m, seed, fb, n_fb, o0, o, thr, ls) < 0)
        return -1;
    if (prep != NULL)
        adapt_prep_keep_cv(prep, n_fb, ls->lam, ls->a, ls->cv_err);
    return 0;
}

/* um0 with the fit for ls->a, ls->lam on all labels folded in.  NULL on
 * allocation failure. */
static struct user_model *
labels_apply(const struct model *m, const struct user_model *um0,
             const struct adapt_example *fb, size_t n_fb, const double *o0,
             const struct adapt_opts *o, struct labels_stats *ls)
{
    struct adapt_opts lo;
    struct fit_ctx cx;
    struct user_model *um = NULL;
    double *off = malloc((n_fb + 1) * sizeof(double)), *w = malloc((n_fb + 1) * sizeof(double));
    double *r = NULL;

    memset(&cx, 0, sizeof(cx));
    ctx_opts(o, &lo, LABELS_KERNEL_MAX);
    if (off == NULL || w == NULL || fitctx_build(&cx, m, um0->seed, fb, n_fb, &lo, 0) < 0
        || (r = malloc((cx.n_slots + 1) * sizeof(double))) == NULL)
        goto out;
    balanced_weights(cx.y, n_fb, NULL, w);
    for (size_t j = 0; j < n_fb; j++)
        off[j] = ls->a * o0[j];
    if (labels_solve(&cx, off, w, o, ls->lam, &ls->c, r) < 0
        || (um = scaled_copy(um0, ls->a, ls->c)) == NULL)
        goto out;
    if (o->use_resid && add_weights(um, cx.slots, r, cx.n_slots) < 0)
        um = user_model_free(um);
out:
    fitctx_free(&cx);
    free(off);
    free(w);
    free(r);
    return um;
}

int
labels_fit(const struct model *m, const struct user_model *um0,
           const struct adapt_example *fb, size_t n_fb, const struct adapt_opts *o,
           struct adapt_prep *prep, struct user_model **out, struct labels_stats *ls)
{
    double thr = m->threshold > 0 && m->threshold < 1
        ? log(m->threshold / (1 - m->threshold)) : 0;
    double *o0 = malloc((n_fb + 1) * sizeof(double));
    size_t n1 = 0;
    struct user_model *um = NULL;
    int rc = -1;

    memset(ls, 0, sizeof(*ls));
    *out = NULL;
    if (o0 == NULL)
        return -1;
    for (size_t j = 0; j < n_fb; j++) {
        o0[j] = adapt_logit(m, um0, fb[j].h, fb[j].z, fb[j].ids, fb[j].n);
        n1 += fb[j].spam != 0;
    }
    if (labels_pick(m, um0->seed, fb, n_fb, n_fb - n1, n1, o0, o, thr, prep, ls) < 0)
        goto out;
    ls->identity = ls->lam == 0;
    if (ls->identity) {
        ls->a = 1;
        ls->cv_loss = ls->cv_loss_m0;
        um = scaled_copy(um0, 1, 0);
    } else
        um = labels_apply(m, um0, fb, n_fb, o0, o, ls);
    if (um == NULL)
        goto out;
    if (o->use_resid && o->learned && um->resid_bits < 31 && labels_learn(m, um, fb, n_fb, &ls->n_learned) < 0)
        goto out;
    *out = um;
    um = NULL;
    rc = 0;
out:
    user_model_free(um);
    free(o0);
    return rc;
}

struct user_model *
labels_keep(const struct model *m, const struct user_model *cur, uint32_t seed,
            uint32_t bits, const struct adapt_example *fb, size_t n_fb)
{
    struct user_model g = { .hidden = m->net.dims.hidden, .seed = seed, .resid_bits = bits };
    struct user_model *um;
    uint32_t n_set = 0;

    if (cur == NULL) {
        memcpy(g.head, m->net.head, NET_HEAD_LEN(g.hidden) * sizeof(float));
        cur = &g;
    }
    if ((um = scaled_copy(cur, 1, 0)) == NULL)
        return NULL;
    um->version = 0;
    if (um->resid_bits < 31 && labels_learn(m, um, fb, n_fb, &n_set) < 0)
        um = user_model_free(um);
    return um;
}
