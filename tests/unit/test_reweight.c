/*
 * test_reweight.c - the domain classifier and instance weights (adapt/reweight.c)
 * and the dense logistic solver they share with the head (logreg_fit).
 *
 * Oracles (the AUC itself is common/auc.c, tested there): Newton against plain gradient
 * descent on the same objective; on Gaussians with a known mean shift the true
 * density ratio is exp(m.x - |m|^2/2) and the true AUC Phi(|m|/sqrt 2), so the
 * weights must follow the one and the measured shift the other.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "adapt.h"
#include "logreg.h"
#include "reweight.h"

/* ---- deterministic Gaussians ----------------------------------------------- */

static double
urand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double) (*s >> 11) + 0.5) / 9007199254740992.0;
}

static double
gauss(uint64_t *s)
{
    double u = urand(s), v = urand(s);

    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* n rows of p floats: N(mean, I), coordinate p-1 scaled by zscale (like z). */
static float *
gauss_rows(size_t n, uint32_t p, const double *mean, double zscale, uint64_t seed)
{
    float *x = malloc(n * p * sizeof(float));
    uint64_t s = seed;
    size_t i;
    uint32_t k;

    assert_non_null(x);
    for (i = 0; i < n; i++)
        for (k = 0; k < p; k++)
            x[i * p + k] = (float) ((mean[k] + gauss(&s)) * (k == p - 1 ? zscale : 1));
    return x;
}

/* ---- logreg_fit: Newton against plain gradient descent ----------------- */

static double
lr_obj_grad(const float *x, size_t n, uint32_t p, const uint8_t *y, const double *w,
            const double *off, const double *pen, const double *c, const double *th,
            double *g)
{
    double f = 0;
    size_t i;
    uint32_t k;

    memset(g, 0, (p + 1) * sizeof(double));
    for (i = 0; i < n; i++) {
        double t = th[p] + off[i], pr;

        for (k = 0; k < p; k++)
            t += th[k] * x[i * p + k];
        pr = 1 / (1 + exp(-t));
        f += w[i] * (y[i] ? log1p(exp(-t)) : log1p(exp(t)));
        for (k = 0; k < p; k++)
            g[k] += w[i] * (pr - y[i]) * x[i * p + k];
        g[p] += w[i] * (pr - y[i]);
    }
    for (k = 0; k <= p; k++) {
        f += pen[k] * (th[k] - c[k]) * (th[k] - c[k]);
        g[k] += 2 * pen[k] * (th[k] - c[k]);
    }
    return f;
}

struct lr_case {
    const char *name;
    double pen;         /* on slopes; bias gets pen_bias */
    double pen_bias;
    double center;
    double noise;       /* label noise: keeps the problem bounded */
};

static const struct lr_case lr_cases[] = {
    { "ridge to zero", 0.01, 0.0, 0.0, 1.0 },
    { "ridge to a center", 0.05, 0.05, 0.7, 1.0 },
    { "weak ridge", 1e-3, 0.0, 0.0, 1.5 },
};

static void
test_logreg_newton_vs_gd(void **state)
{
    const uint32_t p = 4;
    const size_t n = 400;
    double mean[4] = { 0, 0, 0, 0 }, pen[5], c[5], th[5], gd[5], g[5];
    size_t ci, i;
    uint32_t k;

    (void) state;
    for (ci = 0; ci < sizeof(lr_cases) / sizeof(lr_cases[0]); ci++) {
        const struct lr_case *lc = &lr_cases[ci];
        float *x = gauss_rows(n, p, mean, 1.0, 11 + ci);
        uint8_t y[400];
        double w[400], off[400], lip;
        uint64_t s = 99 + ci;
        int it;

        for (i = 0; i < n; i++) {
            double t = 0.8 * x[i * p] - 0.5 * x[i * p + 1] + 0.2 * x[i * p + 3] + lc->noise * gauss(&s);

            y[i] = t > 0;
            w[i] = (1 + (i % 3)) / (double) n;
            off[i] = 0.3 * ((double) (i % 5) - 2);
        }
        for (k = 0; k <= p; k++) {
            pen[k] = k < p ? lc->pen : lc->pen_bias;
            c[k] = lc->center;
            th[k] = gd[k] = 0;
        }
        it = logreg_fit(x, n, p, y, w, off, pen, c, th, 100);
        if (it < 0 || it >= 100)
            fail_msg("%s: got %d Newton iterations, want convergence in < 100", lc->name, it);
        /* Plain gradient descent with the fixed step 1/L, L a bound on the
         * Hessian (x'x/4 per row plus the ridge), to a tiny gradient. */
        lip = 0;
        for (i = 0; i < n; i++) {
            double xx = 1;

            for (k = 0; k < p; k++)
                xx += (double) x[i * p + k] * x[i * p + k];
            lip += w[i] * xx / 4;
        }
        lip += 2 * (lc->pen > lc->pen_bias ? lc->pen : lc->pen_bias);
        (void) lr_obj_grad(x, n, p, y, w, off, pen, c, gd, g);
        for (it = 0; it < 200000; it++) {
            double gn = 0;

            for (k = 0; k <= p; k++)
                gn += g[k] * g[k];
            if (gn < 1e-24)
                break;
            for (k = 0; k <= p; k++)
                gd[k] -= g[k] / lip;
            (void) lr_obj_grad(x, n, p, y, w, off, pen, c, gd, g);
        }
        if (it == 200000)
            fail_msg("%s: gradient descent did not converge", lc->name);
        for (k = 0; k <= p; k++)
            if (fabs(th[k] - gd[k]) > 1e-5 * (1 + fabs(gd[k])))
                fail_msg("%s: theta[%u] got %.8f (Newton), want %.8f (gradient descent)",
                         lc->name, k, th[k], gd[k]);
        free(x);
    }
}

/* ---- instance weights on Gaussians with a known shift -------------------- */

static double
pearson(const double *a, const double *b, size_t n)
{
    double ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= n;
    mb /= n;
    for (i = 0; i < n; i++) {
        sab += (a[i] - ma) * (b[i] - mb);
        saa += (a[i] - ma) * (a[i] - ma);
        sbb += (b[i] - mb) * (b[i] - mb);
    }
    return sab / sqrt(saa * sbb);
}

struct shift_case {
    const char *name;
    double m[3];        /* target mean; source is N(0, I) */
    double zscale;      /* scale of the last coordinate (z is a large logit) */
    double min_corr;    /* weights vs the true density ratio */
};

static const struct shift_case shift_cases[] = {
    { "shift on h", { 0.6, -0.4, 0.0 }, 1.0, 0.95 },
    { "shift on z, z large", { 0.0, 0.0, 0.5 }, 20.0, 0.95 },
    { "shift on all", { 0.3, 0.3, 0.3 }, 8.0, 0.95 },
};

static void
test_reweight_recovers_shift(void **state)
{
    const uint32_t hidden = 2, p = 3;
    const size_t n_src = 6000, n_tgt = 3000;
    double zero[3] = { 0, 0, 0 };
    size_t ci, i;

    (void) state;
    for (ci = 0; ci < sizeof(shift_cases) / sizeof(shift_cases[0]); ci++) {
        const struct shift_case *sc = &shift_cases[ci];
        float *src = gauss_rows(n_src, p, zero, sc->zscale, 1000 + ci);
        float *tgt = gauss_rows(n_tgt, p, sc->m, sc->zscale, 2000 + ci);
        float *beta = malloc(n_src * sizeof(float));
        double *truth = malloc(n_src * sizeof(double)), *got = malloc(n_src * sizeof(double));
        double mm = 0, sum = 0, corr, want_auc, mx = 0;
        struct adapt_domain dom;
        uint32_t k;

        assert_non_null(beta);
        assert_non_null(truth);
        assert_non_null(got);
        for (k = 0; k < p; k++)
            mm += sc->m[k] * sc->m[k];
        for (i = 0; i < n_src; i++) {
            double dot = 0;

            for (k = 0; k < p; k++)
                dot += sc->m[k] * src[i * p + k] / (k == p - 1 ? sc->zscale : 1);
            truth[i] = exp(dot - mm / 2);
        }
        assert_int_equal(reweight_fit(src, n_src, tgt, n_tgt, hidden, 1e-4f, 1000.0f,
                                        beta, &dom), 0);
        for (i = 0; i < n_src; i++) {
            got[i] = beta[i];
            sum += beta[i];
            if (beta[i] > mx)
                mx = beta[i];
        }
        corr = pearson(got, truth, n_src);
        if (corr < sc->min_corr)
            fail_msg("%s: got corr(beta, true ratio) %.3f, want >= %.2f", sc->name, corr,
                     sc->min_corr);
        if (fabs(sum / n_src - 1) > 1e-4)
            fail_msg("%s: got mean beta %.6f, want 1", sc->name, sum / n_src);
        /* Two equal-covariance Gaussians: AUC = Phi(|m| / sqrt 2). */
        want_auc = 0.5 * erfc(-sqrt(mm) / 2);
        if (fabs(dom.auc - want_auc) > 0.035)
            fail_msg("%s: got domain AUC %.3f, want %.3f +- 0.035", sc->name, dom.auc,
                     want_auc);
        if (!(dom.ess > 0.1 * n_src && dom.ess < n_src))
            fail_msg("%s: got ESS %.1f, want in (%zu, %zu)", sc->name, dom.ess,
                     n_src / 10, n_src);
        free(src);
        free(tgt);
        free(beta);
        free(truth);
        free(got);
    }
}

static void
test_reweight_no_shift(void **state)
{
    const size_t n_src = 4000, n_tgt = 2000;
    double zero[3] = { 0, 0, 0 };
    float *src = gauss_rows(n_src, 3, zero, 5.0, 7);
    float *tgt = gauss_rows(n_tgt, 3, zero, 5.0, 8);
    float beta[4000];
    struct adapt_domain dom;

    (void) state;
    assert_int_equal(reweight_fit(src, n_src, tgt, n_tgt, 2, 1e-3f, 10.0f, beta, &dom), 0);
    /* Held out: 800 vs 400 rows, sd of the AUC about 0.018. */
    if (fabs(dom.auc - 0.5) > 0.06)
        fail_msg("no shift: got domain AUC %.3f, want 0.5 +- 0.06", dom.auc);
    if (dom.ess < 0.95 * n_src)
        fail_msg("no shift: got ESS %.1f, want >= %.1f", dom.ess, 0.95 * n_src);
    free(src);
    free(tgt);
}

static void
test_reweight_clip(void **state)
{
    const size_t n_src = 3000, n_tgt = 1000;
    double zero[3] = { 0, 0, 0 }, far[3] = { 2.0, 0, 0 }, sum = 0, mx = 0;
    float *src = gauss_rows(n_src, 3, zero, 1.0, 21);
    float *tgt = gauss_rows(n_tgt, 3, far, 1.0, 22);
    float beta[3000];
    struct adapt_domain dom;
    size_t i;

    (void) state;
    assert_int_equal(reweight_fit(src, n_src, tgt, n_tgt, 2, 1e-4f, 5.0f, beta, &dom), 0);
    for (i = 0; i < n_src; i++) {
        sum += beta[i];
        if (beta[i] > mx)
            mx = beta[i];
    }
    if (mx > 5.0f)
        fail_msg("clip 5: got max beta %.4f, want <= 5", mx);
    if (dom.n_clipped == 0)
        fail_msg("clip 5 on a far shift: got 0 clipped weights, want some");
    if (fabs(sum / n_src - 1) > 1e-4)
        fail_msg("clip 5: got mean beta %.6f, want 1", sum / n_src);
    free(src);
    free(tgt);
}

static void
test_reweight_too_little_target(void **state)
{
    float src[3 * 10], tgt[3];
    float beta[10];
    struct adapt_domain dom;
    size_t i;

    (void) state;
    for (i = 0; i < 30; i++)
        src[i] = (float) i;
    tgt[0] = tgt[1] = tgt[2] = 1;
    assert_int_equal(reweight_fit(src, 10, tgt, 1, 2, 1e-3f, 10.0f, beta, &dom), 0);
    for (i = 0; i < 10; i++)
        if (beta[i] != 1.0f)
            fail_msg("one target row: got beta[%zu] = %g, want 1", i, beta[i]);
    if (dom.auc != 0.5)
        fail_msg("one target row: got AUC %g, want 0.5", dom.auc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logreg_newton_vs_gd),
        cmocka_unit_test(test_reweight_recovers_shift),
        cmocka_unit_test(test_reweight_no_shift),
        cmocka_unit_test(test_reweight_clip),
        cmocka_unit_test(test_reweight_too_little_target),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
