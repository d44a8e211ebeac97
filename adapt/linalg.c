/*
 * linalg.c - adapt/'s dense linear algebra (see linalg.h): the Hessian gather,
 * the vectorised dot product behind the Cholesky factor, the triangular
 * solves and inverse, LU, the Armijo search.
 *
 * Surprise: the inner loops are written with GCC/clang vector extensions
 * (v2d) and ROW_PASS's optimize attribute, never with reassociation: every
 * sum is added in the same order on every run and every build, which the
 * byte-identical LOO references depend on.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"

int
linalg_gather_init(struct linalg_gather *hg, uint32_t q)
{
    hg->q = q;
    hg->stride = (q + 7) & ~7u;
    hg->n = 0;
    hg->x = calloc((size_t) 2 * LINALG_GATHER_ROWS * hg->stride, sizeof(double));
    hg->u = hg->x != NULL ? hg->x + (size_t) LINALG_GATHER_ROWS * hg->stride : NULL;
    return hg->x != NULL ? 0 : -1;
}

/* hess (lower triangle, row-major q x q) += the gathered rows' sum: eight
 * columns at a time in four independent accumulators (one would wait on
 * its own additions); what falls above the diagonal is not stored. */
ROW_PASS void
linalg_gather_flush(struct linalg_gather *hg, double *hess)
{
    uint32_t q = hg->q, st = hg->stride, a, b, r, k;

    if (hg->n == 0)
        return;
    for (a = 0; a < q; a++) {
        double *row = hess + (size_t) a * q;

        for (b = 0; b <= a; b += 8) {
            v2d a0 = { 0, 0 }, a1 = { 0, 0 }, a2 = { 0, 0 }, a3 = { 0, 0 };
            double sum[8];

            for (r = 0; r < hg->n; r++) {
                const double *xr = hg->x + r * st + b;
                double ua = hg->u[r * st + a];
                v2d uv = { ua, ua }, x0, x1, x2, x3;

                memcpy(&x0, xr, sizeof(x0));
                memcpy(&x1, xr + 2, sizeof(x1));
                memcpy(&x2, xr + 4, sizeof(x2));
                memcpy(&x3, xr + 6, sizeof(x3));
                a0 += uv * x0;
                a1 += uv * x1;
                a2 += uv * x2;
                a3 += uv * x3;
            }
            memcpy(sum, &a0, sizeof(a0));
            memcpy(sum + 2, &a1, sizeof(a1));
            memcpy(sum + 4, &a2, sizeof(a2));
            memcpy(sum + 6, &a3, sizeof(a3));
            for (k = 0; k < 8 && b + k <= a; k++)
                row[b + k] += sum[k];
        }
    }
    hg->n = 0;
}

void
linalg_gather_free(struct linalg_gather *hg)
{
    free(hg->x);
    hg->x = hg->u = NULL;
}

/* x . y over n doubles: eight at a time in four independent vector
 * accumulators, then the tail; a fixed order, so deterministic. */
ROW_PASS static double
dot_v(const double *x, const double *y, uint32_t n)
{
    v2d a0 = { 0, 0 }, a1 = { 0, 0 }, a2 = { 0, 0 }, a3 = { 0, 0 }, x0, x1, x2, x3, y0, y1,
        y2, y3;
    double s;
    uint32_t k = 0;

    for (; k + 8 <= n; k += 8) {
        memcpy(&x0, x + k, 16);
        memcpy(&x1, x + k + 2, 16);
        memcpy(&x2, x + k + 4, 16);
        memcpy(&x3, x + k + 6, 16);
        memcpy(&y0, y + k, 16);
        memcpy(&y1, y + k + 2, 16);
        memcpy(&y2, y + k + 4, 16);
        memcpy(&y3, y + k + 6, 16);
        a0 += x0 * y0;
        a1 += x1 * y1;
        a2 += x2 * y2;
        a3 += x3 * y3;
    }
    a0 += a1;
    a2 += a3;
    a0 += a2;
    s = a0[0] + a0[1];
    for (; k < n; k++)
        s += x[k] * y[k];
    return s;
}

/* In-place Cholesky factor L (lower triangle) of the q x q SPD matrix a
 * (row-major).  Returns -1 if a is not positive definite.  Column by column
 * in the dot-product form: L[i][j] = (a[i][j] - L[i][0..j) . L[j][0..j)) /
 * L[j][j], each a dot product of two contiguous row prefixes (dot_v), so the
 * matrix is read, not rewritten, inside the inner loop. */
int
linalg_chol_factor(double *a, uint32_t q)
{
    uint32_t i, j;

    for (j = 0; j < q; j++) {
        double *rj = a + (size_t) j * q, d = rj[j] - dot_v(rj, rj, j);

        if (!(d > 0))
            return -1;
        d = sqrt(d);
        rj[j] = d;
        for (i = j + 1; i < q; i++) {
            double *ri = a + (size_t) i * q;

            ri[j] = (ri[j] - dot_v(ri, rj, j)) / d;
        }
    }
    return 0;
}

/* Solve L L' x = b in place, L from linalg_chol_factor(). */
void
linalg_chol_apply(const double *a, uint32_t q, double *b)
{
    uint32_t i, k;

    for (i = 0; i < q; i++) {
        double s = b[i];

        for (k = 0; k < i; k++)
            s -= a[i * q + k] * b[k];
        b[i] = s / a[i * q + i];
    }
    for (i = q; i-- > 0;) {
        double s = b[i];

        for (k = i + 1; k < q; k++)
            s -= a[k * q + i] * b[k];
        b[i] = s / a[i * q + i];
    }
}

/* Four dot products at once, rows x0..x3 against y over n floats: each load
 * of y serves four rows.  Two vector accumulators per row, then the tail,
 * in a fixed order: deterministic. */
ROW_PASS static void
dot4_f(const float *x0, const float *x1, const float *x2, const float *x3, const float *y,
       uint32_t n, double *out)
{
    v4f a0 = { 0, 0, 0, 0 }, a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    v4f yv, yw, t;
    uint32_t k = 0;

    for (; k + 8 <= n; k += 8) {
        memcpy(&yv, y + k, 16);
        memcpy(&yw, y + k + 4, 16);
        memcpy(&t, x0 + k, 16);
        a0 += t * yv;
        memcpy(&t, x0 + k + 4, 16);
        b0 += t * yw;
        memcpy(&t, x1 + k, 16);
        a1 += t * yv;
        memcpy(&t, x1 + k + 4, 16);
        b1 += t * yw;
        memcpy(&t, x2 + k, 16);
        a2 += t * yv;
        memcpy(&t, x2 + k + 4, 16);
        b2 += t * yw;
        memcpy(&t, x3 + k, 16);
        a3 += t * yv;
        memcpy(&t, x3 + k + 4, 16);
        b3 += t * yw;
    }
    a0 += b0;
    a1 += b1;
    a2 += b2;
    a3 += b3;
    out[0] = (double) a0[0] + a0[1] + a0[2] + a0[3];
    out[1] = (double) a1[0] + a1[1] + a1[2] + a1[3];
    out[2] = (double) a2[0] + a2[1] + a2[2] + a2[3];
    out[3] = (double) a3[0] + a3[1] + a3[2] + a3[3];
    for (; k < n; k++) {
        out[0] += (double) x0[k] * y[k];
        out[1] += (double) x1[k] * y[k];
        out[2] += (double) x2[k] * y[k];
        out[3] += (double) x3[k] * y[k];
    }
}

/* linalg_chol_factor in floats: column j's entries below the diagonal four
 * rows at a time (dot4_f; past the last row the pivot row stands in, its
 * sums unused). */
int
linalg_chol_factor_f(float *a, uint32_t q)
{
    for (uint32_t j = 0; j < q; j++) {
        float *rj = a + (size_t) j * q, *r[4];
        double d, s4[4];

        dot4_f(rj, rj, rj, rj, rj, j, s4);
        d = rj[j] - s4[0];
        if (!(d > 0))
            return -1;
        d = sqrt(d);
        rj[j] = (float) d;
        for (uint32_t i = j + 1; i < q; i += 4) {
            for (uint32_t k = 0; k < 4; k++)
                r[k] = i + k < q ? a + (size_t) (i + k) * q : rj;
            dot4_f(r[0], r[1], r[2], r[3], rj, j, s4);
            for (uint32_t k = 0; k < 4 && i + k < q; k++)
                r[k][j] = (float) ((r[k][j] - s4[k]) / d);
        }
    }
    return 0;
}

/* linalg_chol_apply with the float factor of linalg_chol_factor_f: forward
 * by rows, backward by row updates (contiguous), both in double. */
void
linalg_chol_apply_f(const float *a, uint32_t q, double *b)
{
    for (uint32_t i = 0; i < q; i++) {
        const float *ri = a + (size_t) i * q;
        double s = b[i];

        for (uint32_t k = 0; k < i; k++)
            s -= ri[k] * b[k];
        b[i] = s / ri[i];
    }
    for (uint32_t i = q; i-- > 0;) {
        const float *ri = a + (size_t) i * q;

        b[i] /= ri[i];
        for (uint32_t k = 0; k < i; k++)
            b[k] -= ri[k] * b[i];
    }
}

/* x := (L L')^-1 (n x n, row-major) from the factor L of linalg_chol_factor(): both
 * triangular solves on all n right-hand sides at once, as row updates over
 * the columns (which vectorise); the forward pass skips the zeros of L^-1. */
ROW_PASS void
linalg_chol_inverse(const double *a, size_t n, double *x)
{
    size_t i, r, k;

    memset(x, 0, n * n * sizeof(double));
    for (i = 0; i < n; i++)
        x[i * n + i] = 1;
    for (i = 0; i < n; i++) {               /* L y = I: row i of y has columns <= i */
        double *xi = x + i * n, d = a[i * n + i];

        for (k = 0; k <= i; k++)
            xi[k] /= d;
        for (r = i + 1; r < n; r++) {
            double l = a[r * n + i], *xr = x + r * n;

            for (k = 0; k <= i; k++)
                xr[k] -= l * xi[k];
        }
    }
    for (i = n; i-- > 0;) {                 /* L' x = y */
        double *xi = x + i * n, d = a[i * n + i];

        for (k = 0; k < n; k++)
            xi[k] /= d;
        for (r = 0; r < i; r++) {
            double l = a[i * n + r], *xr = x + r * n;

            for (k = 0; k < n; k++)
                xr[k] -= l * xi[k];
        }
    }
}

/* Solve the n x n system a x = b in place (b becomes x) by Gaussian
 * elimination with partial pivoting; a is destroyed.  -1 if singular. */
int
linalg_lu_solve(double *a, size_t n, double *b)
{
    size_t i, j, k;

    for (k = 0; k < n; k++) {
        size_t piv = k;
        double best = fabs(a[k * n + k]);

        for (i = k + 1; i < n; i++)
            if (fabs(a[i * n + k]) > best) {
                best = fabs(a[i * n + k]);
                piv = i;
            }
        if (!(best > 1e-300))
            return -1;
        if (piv != k) {
            for (j = 0; j < n; j++) {
                double t = a[k * n + j];

                a[k * n + j] = a[piv * n + j];
                a[piv * n + j] = t;
            }
            {
                double t = b[k];

                b[k] = b[piv];
                b[piv] = t;
            }
        }
        for (i = k + 1; i < n; i++) {
            double f = a[i * n + k] / a[k * n + k];

            if (f == 0)
                continue;
            for (j = k + 1; j < n; j++)
                a[i * n + j] -= f * a[k * n + j];
            b[i] -= f * b[k];
        }
    }
    for (k = n; k-- > 0;) {
        double sacc = b[k];

        for (j = k + 1; j < n; j++)
            sacc -= a[k * n + j] * b[j];
        b[k] = sacc / a[k * n + k];
    }
    return 0;
}

/*
 * Backtracking (Armijo) line search of the Newton solvers over explicit
 * parameter vectors (logreg_fit, joint_solve): from the point x (n values,
 * then n2 more from x2) along d, halve the step until
 * obj(arg, trial) <= f - step dec / 4, or the step falls below 1e-10.  Fills
 * trial[0 .. n + n2) with the last point tried and returns the objective there.
 */

double
linalg_armijo(const double *x, size_t n, const double *x2, size_t n2, const double *d,
       double f, double dec, linalg_objective obj, void *arg, double *trial)
{
    double step = 1, fn;
    size_t k;

    for (;;) {
        for (k = 0; k < n; k++)
            trial[k] = x[k] + step * d[k];
        for (k = 0; k < n2; k++)
            trial[n + k] = x2[k] + step * d[n + k];
        fn = obj(arg, trial);
        if (fn <= f - 0.25 * step * dec || step < 1e-10)
            return fn;
        step *= 0.5;
    }
}
