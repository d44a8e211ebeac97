/*
 * reweight.c - instance weights for covariate shift: a domain classifier
 * separates the model's source pool from a user's unlabelled mail, and each
 * source row gets beta = (n_s/n_t) p(T|x)/p(S|x), the density ratio the
 * classifier implies (Bickel, Brueckner and Scheffer 2007); the classifier's
 * held-out ROC AUC (common/auc.c) reports how far a user's mail is from the
 * source (0.5 = no shift).
 *
 * The classifier is a logistic regression on [h; z] standardised over both
 * sides (z is a logit sum of tens of units, h lives in (-1, 1); without
 * standardising, one L2 strength would not suit both).  It has hidden + 2
 * parameters, so exact Newton (logreg_fit, logreg.c) is cheap.
 *
 * Pure computation on caller arrays; scratch memory is allocated and freed
 * here; reentrant.
 */
#include "config.h"

#include <assert.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "auc.h"
#include "logreg.h"
#include "reweight.h"

/* One row in every HOLDOUT_EVERY is held out to measure the domain AUC. */
#define HOLDOUT_EVERY 5
/* The classifier sees at most this many source rows (an even stride); weights
 * are then computed for every row.  hidden + 2 parameters need far fewer, and
 * it keeps a refit within tens of milliseconds for a 20,000-row pool. */
#define DOMAIN_SRC_MAX 4000
#define LOGIT_CAP 30.0

/* One standardised value: the same expression for the fit and for
 * reweight_apply(), so that both see the same floats. */
static inline float
std_value(float v, double mean, double isd)
{
    return (float) ((v - mean) * isd);
}

/* The mean and the inverse standard deviation of each of the p columns over
 * the src rows and the tgt rows together. */
static void
moments(const float *src, size_t n_src, const float *tgt, size_t n_tgt, uint32_t p,
        double *mean, double *isd)
{
    const float *side[2] = { src, tgt };
    size_t len[2] = { n_src, n_tgt }, n = n_src + n_tgt, i;
    uint32_t k;
    int t;

    memset(mean, 0, p * sizeof(double));
    memset(isd, 0, p * sizeof(double));
    for (t = 0; t < 2; t++)
        for (i = 0; i < len[t]; i++)
            for (k = 0; k < p; k++)
                mean[k] += side[t][i * p + k];
    for (k = 0; k < p; k++)
        mean[k] /= (double) n;
    for (t = 0; t < 2; t++)
        for (i = 0; i < len[t]; i++)
            for (k = 0; k < p; k++) {
                double d = side[t][i * p + k] - mean[k];

                isd[k] += d * d;
            }
    for (k = 0; k < p; k++) {
        double sd = sqrt(isd[k] / (double) n);

        isd[k] = sd > 1e-6 ? 1.0 / sd : 1.0;
    }
}

/* One row standardised into out (p floats). */
static void
std_row(const struct adapt_domain *dom, const float *row, uint32_t p, float *out)
{
    for (uint32_t k = 0; k < p; k++)
        out[k] = std_value(row[k], dom->mean[k], dom->isd[k]);
}

static double
row_logit(const float *row, uint32_t p, const double *theta)
{
    double s = theta[p];
    uint32_t k;

    for (k = 0; k < p; k++)
        s += theta[k] * row[k];
    return s;
}

/* row_logit() kept within +-LOGIT_CAP, so that exp() stays finite. */
static double
capped_logit(const float *row, uint32_t p, const double *theta)
{
    double l = row_logit(row, p, theta);

    return l > LOGIT_CAP ? LOGIT_CAP : l < -LOGIT_CAP ? -LOGIT_CAP : l;
}

/* exp() of a source row's capped domain logit: the one expression both the
 * fit and reweight_apply() use, so that a weight recomputed from a
 * stored classifier is the fit's bit for bit. */
static double
row_odds(const struct adapt_domain *dom, const float *src_row)
{
    float row[NET_MAX_HIDDEN + 1];

    std_row(dom, src_row, dom->p, row);
    return exp(capped_logit(row, dom->p, dom->theta));
}

/* beta[i] from each row's odds e[i] (or, e NULL, computed here), the scale
 * and the clip; the clipped count and the effective sample size. */
static void
weights_from_odds(struct adapt_domain *dom, const float *src, const double *e,
                  size_t n_src, float *beta)
{
    double sum = 0, sum2 = 0;
    size_t i;

    dom->n_clipped = 0;
    for (i = 0; i < n_src; i++) {
        double v = dom->scale * (e != NULL ? e[i] : row_odds(dom, src + i * dom->p));

        v = v < dom->clip ? v : dom->clip;
        dom->n_clipped += v >= dom->clip;
        beta[i] = (float) v;
        sum += v;
        sum2 += v * v;
    }
    dom->ess = sum2 > 0 ? sum * sum / sum2 : (double) n_src;
}

void
reweight_apply(struct adapt_domain *dom, const float *src, size_t n_src,
                     float *beta)
{
    size_t i;

    if (dom->p == 0) {
        dom->n_clipped = 0;
        for (i = 0; i < n_src; i++)
            beta[i] = 1.0f;
        dom->ess = (double) n_src;
        return;
    }
    weights_from_odds(dom, src, NULL, n_src, beta);
}

/* The domain classifier's fitting rows, standardised into xf with their
 * side in y: every stride-th source row and every target row, but every
 * HOLDOUT_EVERY-th of each side (when a side is too small to spare rows,
 * all of it; the AUC is then optimistic).  Counts each side's rows in *n_fs,
 * *n_ft; returns how many rows in all. */
static size_t
fit_rows(const struct adapt_domain *dom, const float *src, size_t n_src, const float *tgt,
         size_t n_tgt, size_t stride, uint32_t p, float *xf, uint8_t *y, size_t *n_fs,
         size_t *n_ft)
{
    size_t n = n_src + n_tgt, i, n_fit = 0;

    for (i = 0; i < n; i++) {
        int is_tgt = i >= n_src;
        size_t local = is_tgt ? i - n_src : i / stride;
        size_t side_n = is_tgt ? n_tgt : (n_src + stride - 1) / stride;
        int held = side_n >= 2 * HOLDOUT_EVERY && local % HOLDOUT_EVERY == HOLDOUT_EVERY - 1;

        if ((!is_tgt && i % stride != 0) || held)
            continue;
        std_row(dom, is_tgt ? tgt + (i - n_src) * p : src + i * p, p, xf + n_fit * p);
        y[n_fit] = (uint8_t) is_tgt;
        if (is_tgt)
            (*n_ft)++;
        else
            (*n_fs)++;
        n_fit++;
    }
    return n_fit;
}

/* The classifier's AUC on the rows fit_rows() held out (or in-sample when
 * nothing was held out); sh and yh are scratch of a row per classifier row.
 * Returns -1 on allocation failure. */
static double
holdout_auc(const struct adapt_domain *dom, const float *src, size_t n_src, const float *tgt,
            size_t n_tgt, size_t stride, uint32_t p, const double *theta, double *sh,
            uint8_t *yh)
{
    size_t n = n_src + n_tgt, i, n_ho = 0;
    float row[NET_MAX_HIDDEN + 1];

    for (i = 0; i < n; i++) {
        int is_tgt = i >= n_src;
        size_t local = is_tgt ? i - n_src : i / stride;
        size_t side_n = is_tgt ? n_tgt : (n_src + stride - 1) / stride;

        if (!is_tgt && i % stride != 0)
            continue;
        if (side_n >= 2 * HOLDOUT_EVERY && local % HOLDOUT_EVERY != HOLDOUT_EVERY - 1)
            continue;
        std_row(dom, is_tgt ? tgt + (i - n_src) * p : src + i * p, p, row);
        sh[n_ho] = row_logit(row, p, theta);
        yh[n_ho] = (uint8_t) is_tgt;
        n_ho++;
    }
    return auc_double(sh, yh, n_ho);
}

/*
 * The scale s with sum_i min(s b_i, clip) = n_src: mean 1 under the clip.
 * For a set C of clipped rows that sum is |C| clip + s sum_{i not in C} b_i;
 * starting from no row clipped (s = n_src / sum b), solving that line for s
 * and taking C as the rows clipped at the new s only ever raises s and grows
 * C, and never passes the answer (each line lies above the true sum); when C
 * stops growing s is exact.  A few passes over the pool (the bisection this
 * replaces took sixty).
 */
static double
clip_scale(const double *b, size_t n_src, double sum, float clip)
{
    double s = (double) n_src / sum, rest;
    size_t n_clip = 0, n_prev, i;
    int round;

    for (round = 0; round < 64; round++) {
        n_prev = n_clip;
        n_clip = 0;
        rest = 0;
        for (i = 0; i < n_src; i++) {
            if (s * b[i] >= clip)
                n_clip++;
            else
                rest += b[i];
        }
        if (round > 0 && n_clip == n_prev)
            break;
        if (!(rest > 0))    /* every row clipped: only when clip is 1, and exact */
            break;
        s = ((double) n_src - (double) n_clip * clip) / rest;
    }
    return s;
}

int
reweight_fit(const float *src, size_t n_src, const float *tgt, size_t n_tgt,
             uint32_t hidden, float l2, float clip, float *beta,
             struct adapt_domain *dom)
{
    uint32_t p = hidden + 1, k;
    size_t i, n_fit, n_fs = 0, n_ft = 0, stride, n_rows;
    float *xf = NULL;
    uint8_t *y = NULL, *yh = NULL;
    double *w = NULL, *sh = NULL, *b = NULL, *e = NULL;
    double pen[NET_MAX_HIDDEN + 2], c[NET_MAX_HIDDEN + 2], theta[NET_MAX_HIDDEN + 2];
    double sum, ratio;
    int rc = -1;

    assert(hidden <= NET_MAX_HIDDEN && clip >= 1.0f);
    memset(dom, 0, sizeof(*dom));
    dom->auc = 0.5;
    if (n_tgt < 2 || n_src < 2) {
        for (i = 0; i < n_src; i++)
            beta[i] = 1.0f;
        dom->ess = (double) n_src;
        return 0;
    }
    /* The classifier sees every stride-th source row and every target row. */
    stride = n_src > DOMAIN_SRC_MAX ? (n_src + DOMAIN_SRC_MAX - 1) / DOMAIN_SRC_MAX : 1;
    n_rows = (n_src + stride - 1) / stride + n_tgt;
    xf = malloc(n_rows * p * sizeof(float));
    y = malloc(n_rows);
    yh = malloc(n_rows);
    w = malloc(n_rows * sizeof(double));
    sh = malloc(n_rows * sizeof(double));
    b = malloc(n_src * sizeof(double));
    e = malloc(n_src * sizeof(double));
    if (xf == NULL || y == NULL || yh == NULL || w == NULL || sh == NULL || b == NULL
        || e == NULL)
        goto out;
    /* Standardised over both sides; rows are standardised as they are used. */
    moments(src, n_src, tgt, n_tgt, p, dom->mean, dom->isd);
    dom->p = p;
    n_fit = fit_rows(dom, src, n_src, tgt, n_tgt, stride, p, xf, y, &n_fs, &n_ft);
    /* Mean loss over the fitting rows; the L2 on slopes is then independent of n. */
    for (i = 0; i < n_fit; i++)
        w[i] = 1.0 / (double) n_fit;
    for (k = 0; k < p; k++) {
        pen[k] = l2;
        c[k] = 0;
        theta[k] = 0;
    }
    pen[p] = 0;
    c[p] = 0;
    theta[p] = log((double) n_ft / (double) n_fs);
    if (logreg_fit(xf, n_fit, p, y, w, NULL, pen, c, theta, 50) < 0)
        goto out;
    dom->auc = holdout_auc(dom, src, n_src, tgt, n_tgt, stride, p, theta, sh, yh);
    if (dom->auc < 0)
        goto out;

    /* beta = (n_s/n_t) odds(T|x), with the fitting counts; each row's odds
     * computed once, for the scale below and for the weights. */
    memcpy(dom->theta, theta, (p + 1) * sizeof(double));
    ratio = (double) n_fs / (double) n_ft;
    sum = 0;
    for (i = 0; i < n_src; i++) {
        e[i] = row_odds(dom, src + i * p);
        b[i] = ratio * e[i];
        sum += b[i];
    }
    dom->scale = clip_scale(b, n_src, sum, clip) * ratio;
    dom->clip = clip;
#if FLT_EVAL_METHOD == 0
    weights_from_odds(dom, src, e, n_src, beta);
#else
    /* Where doubles may be evaluated in wider registers (i386 x87), the odds
     * kept in e[] and those row_odds() returns could differ in the last bit;
     * computing them again here keeps reweight_apply() bit-identical. */
    weights_from_odds(dom, src, NULL, n_src, beta);
#endif
    rc = 0;
out:
    if (rc != 0)
        dom->p = 0;
    free(xf);
    free(e);
    free(y);
    free(yh);
    free(w);
    free(sh);
    free(b);
    return rc;
}
