/*
 * lr.c - the prototype learner's one solver: L2-regularised weighted logistic
 * regression over rows with a few dense columns and sparse columns, by L-BFGS.
 * See lr.h for the objective.  Bench code (issue 16 research), not product.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lr.h"

/* log(1 + exp(-m)) and its derivative wrt the logit, for label y. */
static double
loss_grad(double t, int y, double *g)
{
    double m = y ? t : -t, p;

    if (m > 0) {
        double e = exp(-m);

        p = e / (1 + e);            /* sigmoid(-m) */
        *g = y ? -p : p;
        return log1p(e);
    }
    {
        double e = exp(m);

        p = 1 / (1 + e);
        *g = y ? -p : p;
        return -m + log1p(e);
    }
}

double
lr_logit(const struct lr_problem *pb, const double *theta, const struct lr_row *r)
{
    double t = r->off;
    uint32_t j;

    for (j = 0; j < pb->p; j++)
        t += theta[j] * r->dense[j];
    for (j = 0; j < r->n; j++)
        t += theta[pb->p + r->col[j]] * r->val;
    return t;
}

static double
objective(const struct lr_problem *pb, const double *th, double *grad)
{
    size_t dim = (size_t) pb->p + pb->m, i;
    double f = 0;
    uint32_t j;

    memset(grad, 0, dim * sizeof(double));
    for (i = 0; i < pb->n; i++) {
        const struct lr_row *r = &pb->rows[i];
        double g, t;

        if (r->w == 0)
            continue;
        t = lr_logit(pb, th, r);
        f += r->w * loss_grad(t, r->y, &g);
        g *= r->w;
        for (j = 0; j < pb->p; j++)
            grad[j] += g * r->dense[j];
        for (j = 0; j < r->n; j++)
            grad[pb->p + r->col[j]] += g * r->val;
    }
    for (j = 0; j < pb->p; j++) {
        double d = th[j] - (pb->center ? pb->center[j] : 0);

        f += pb->pen[j] * d * d;
        grad[j] += 2 * pb->pen[j] * d;
    }
    for (i = 0; i < pb->m; i++) {
        double d = th[pb->p + i] - (pb->r_center ? pb->r_center[i] : 0);
        double l = pb->r_pen_each ? pb->r_pen_each[i] : pb->r_pen;

        f += l * d * d;
        grad[pb->p + i] += 2 * l * d;
    }
    return f;
}

#define HIST 8

int
lr_fit(const struct lr_problem *pb, double *th, int max_iter, double tol)
{
    size_t dim = (size_t) pb->p + pb->m, i;
    double *g = malloc(dim * sizeof(double)), *gn = malloc(dim * sizeof(double));
    double *d = malloc(dim * sizeof(double)), *xn = malloc(dim * sizeof(double));
    double *s = malloc(HIST * dim * sizeof(double)), *y = malloc(HIST * dim * sizeof(double));
    double rho[HIST], alpha[HIST], f;
    int it, k = 0, head = 0;

    if (!g || !gn || !d || !xn || !s || !y) {
        free(g); free(gn); free(d); free(xn); free(s); free(y);
        return -1;
    }
    f = objective(pb, th, g);
    for (it = 0; it < max_iter; it++) {
        double gnorm = 0, gd = 0, step = 1, fn, sy = 0, yy = 0;
        int h, c;

        for (i = 0; i < dim; i++)
            gnorm = fmax(gnorm, fabs(g[i]));
        if (gnorm < tol)
            break;
        /* two-loop recursion */
        for (i = 0; i < dim; i++)
            d[i] = -g[i];
        for (c = 0; c < k; c++) {
            h = (head - 1 - c + HIST) % HIST;
            alpha[h] = 0;
            for (i = 0; i < dim; i++)
                alpha[h] += s[h * dim + i] * d[i];
            alpha[h] *= rho[h];
            for (i = 0; i < dim; i++)
                d[i] -= alpha[h] * y[h * dim + i];
        }
        if (k > 0) {
            h = (head - 1 + HIST) % HIST;
            for (i = 0; i < dim; i++) {
                sy += s[h * dim + i] * y[h * dim + i];
                yy += y[h * dim + i] * y[h * dim + i];
            }
            for (i = 0; i < dim; i++)
                d[i] *= sy / yy;
        } else {
            double sc = 1 / fmax(1, gnorm);

            for (i = 0; i < dim; i++)
                d[i] *= sc;
        }
        for (c = k - 1; c >= 0; c--) {
            double b = 0;

            h = (head - 1 - c + HIST) % HIST;
            for (i = 0; i < dim; i++)
                b += y[h * dim + i] * d[i];
            b *= rho[h];
            for (i = 0; i < dim; i++)
                d[i] += s[h * dim + i] * (alpha[h] - b);
        }
        for (i = 0; i < dim; i++)
            gd += g[i] * d[i];
        if (gd >= 0) {          /* not a descent direction: restart */
            for (i = 0; i < dim; i++)
                d[i] = -g[i] / fmax(1, gnorm);
            gd = 0;
            for (i = 0; i < dim; i++)
                gd += g[i] * d[i];
            k = 0;
        }
        for (;;) {
            for (i = 0; i < dim; i++)
                xn[i] = th[i] + step * d[i];
            fn = objective(pb, xn, gn);
            if (fn <= f + 1e-4 * step * gd || step < 1e-10)
                break;
            step *= 0.5;
        }
        if (step < 1e-10)
            break;
        sy = 0;
        for (i = 0; i < dim; i++) {
            s[head * dim + i] = xn[i] - th[i];
            y[head * dim + i] = gn[i] - g[i];
            sy += s[head * dim + i] * y[head * dim + i];
        }
        if (sy > 1e-12) {
            rho[head] = 1 / sy;
            head = (head + 1) % HIST;
            if (k < HIST)
                k++;
        }
        memcpy(th, xn, dim * sizeof(double));
        memcpy(g, gn, dim * sizeof(double));
        if (f - fn < 1e-10 * fmax(1, fabs(f))) {
            f = fn;
            break;
        }
        f = fn;
    }
    free(g); free(gn); free(d); free(xn); free(s); free(y);
    return it;
}
