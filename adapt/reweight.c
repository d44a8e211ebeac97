/*
 * reweight.c - instance weights for covariate shift: a domain classifier
 * separates the model's source pool from a user's unlabelled mail, and each
 * source row gets beta = (n_s/n_t) p(T|x)/p(S|x), the density ratio the
 * classifier implies (Bickel, Brueckner and Scheffer 2007).  Also the ROC AUC
 * used to report how far a user's mail is from the source (0.5 = no shift).
 *
 * The classifier is a logistic regression on [h; z] standardised over both
 * sides (z is a logit sum of tens of units, h lives in (-1, 1); without
 * standardising, one L2 strength would not suit both).  It has hidden + 2
 * parameters, so exact Newton (adapt_logreg in fit.c) is cheap.
 *
 * Pure computation on caller arrays; scratch memory is allocated and freed
 * here; reentrant.
 */
#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"

/* One row in every HOLDOUT_EVERY is held out to measure the domain AUC. */
#define HOLDOUT_EVERY 5
/* The classifier sees at most this many source rows (an even stride); weights
 * are then computed for every row.  hidden + 2 parameters need far fewer, and
 * it keeps a refit within tens of milliseconds for a 20,000-row pool. */
#define DOMAIN_SRC_MAX 4000
#define LOGIT_CAP 30.0

struct rank_item {
    double s;
    uint8_t y;
};

static int
rank_cmp(const void *a, const void *b)
{
    double x = ((const struct rank_item *) a)->s, y = ((const struct rank_item *) b)->s;

    return (x > y) - (x < y);
}

double
adapt_auc(const double *score, const uint8_t *label, size_t n)
{
    struct rank_item *it;
    double n_pos = 0, n_neg = 0, rank_sum = 0;
    size_t i, j;

    for (i = 0; i < n; i++) {
        if (label[i])
            n_pos++;
        else
            n_neg++;
    }
    if (n_pos == 0 || n_neg == 0)
        return 0.5;
    if ((it = malloc(n * sizeof(*it))) == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        it[i].s = score[i];
        it[i].y = label[i] ? 1 : 0;
    }
    qsort(it, n, sizeof(*it), rank_cmp);
    /* Mann-Whitney: sum of the positives' ranks, ties given their mean rank. */
    for (i = 0; i < n; i = j) {
        double mid, pos = 0;

        for (j = i; j < n && it[j].s == it[i].s; j++)
            pos += it[j].y;
        mid = 0.5 * ((double) i + 1 + (double) j);
        rank_sum += pos * mid;
    }
    free(it);
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

/* One standardised value: the same expression for the fit and for
 * adapt_domain_weights(), so that both see the same floats. */
static inline float
std_value(float v, double mean, double isd)
{
    return (float) ((v - mean) * isd);
}

/* Standardise src and tgt rows (p floats each) into x: src first, then tgt;
 * mean[] and var[] (p each) return the means and the inverse deviations. */
static void
standardise(const float *src, size_t n_src, const float *tgt, size_t n_tgt,
            uint32_t p, float *x, double *mean, double *var)
{
    size_t n = n_src + n_tgt, i;
    uint32_t k;

    memset(mean, 0, p * sizeof(double));
    memset(var, 0, p * sizeof(double));
    memcpy(x, src, n_src * p * sizeof(float));
    memcpy(x + n_src * p, tgt, n_tgt * p * sizeof(float));
    for (i = 0; i < n; i++)
        for (k = 0; k < p; k++)
            mean[k] += x[i * p + k];
    for (k = 0; k < p; k++)
        mean[k] /= (double) n;
    for (i = 0; i < n; i++)
        for (k = 0; k < p; k++) {
            double d = x[i * p + k] - mean[k];

            var[k] += d * d;
        }
    for (k = 0; k < p; k++) {
        double sd = sqrt(var[k] / (double) n);

        var[k] = sd > 1e-6 ? 1.0 / sd : 1.0;
    }
    for (i = 0; i < n; i++)
        for (k = 0; k < p; k++)
            x[i * p + k] = std_value(x[i * p + k], mean[k], var[k]);
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

void
adapt_domain_weights(struct adapt_domain *dom, const float *src, size_t n_src,
                     float *beta)
{
    float row[NET_MAX_HIDDEN + 1];
    double sum = 0, sum2 = 0;
    size_t i;
    uint32_t k, p = dom->p;

    dom->n_clipped = 0;
    if (p == 0) {
        for (i = 0; i < n_src; i++)
            beta[i] = 1.0f;
        dom->ess = (double) n_src;
        return;
    }
    for (i = 0; i < n_src; i++) {
        double v;

        for (k = 0; k < p; k++)
            row[k] = std_value(src[i * p + k], dom->mean[k], dom->isd[k]);
        v = dom->scale * exp(capped_logit(row, p, dom->theta));
        v = v < dom->clip ? v : dom->clip;
        dom->n_clipped += v >= dom->clip;
        beta[i] = (float) v;
        sum += v;
        sum2 += v * v;
    }
    dom->ess = sum2 > 0 ? sum * sum / sum2 : (double) n_src;
}

int
adapt_reweight(const float *src, size_t n_src, const float *tgt, size_t n_tgt,
               uint32_t hidden, float l2, float clip, float *beta,
               struct adapt_domain *dom)
{
    uint32_t p = hidden + 1, k;
    size_t n = n_src + n_tgt, i, n_fit = 0, n_fs = 0, n_ft = 0, n_ho = 0, stride;
    float *x = NULL, *xf = NULL;
    uint8_t *y = NULL, *yh = NULL;
    double *w = NULL, *sh = NULL, *b = NULL;
    double pen[NET_MAX_HIDDEN + 2], c[NET_MAX_HIDDEN + 2], theta[NET_MAX_HIDDEN + 2];
    double sum, ratio;
    int round, rc = -1;

    assert(hidden <= NET_MAX_HIDDEN && clip >= 1.0f);
    memset(dom, 0, sizeof(*dom));
    dom->auc = 0.5;
    if (n_tgt < 2 || n_src < 2) {
        for (i = 0; i < n_src; i++)
            beta[i] = 1.0f;
        dom->ess = (double) n_src;
        return 0;
    }
    x = malloc(n * p * sizeof(float));
    xf = malloc(n * p * sizeof(float));
    y = malloc(n);
    yh = malloc(n);
    w = malloc(n * sizeof(double));
    sh = malloc(n * sizeof(double));
    b = malloc(n_src * sizeof(double));
    if (x == NULL || xf == NULL || y == NULL || yh == NULL || w == NULL || sh == NULL
        || b == NULL)
        goto out;
    standardise(src, n_src, tgt, n_tgt, p, x, dom->mean, dom->isd);

    /* Fitting rows: all but every HOLDOUT_EVERY-th of each side (when a side is
     * too small to spare rows, all of it; the AUC is then optimistic). */
    stride = n_src > DOMAIN_SRC_MAX ? (n_src + DOMAIN_SRC_MAX - 1) / DOMAIN_SRC_MAX : 1;
    for (i = 0; i < n; i++) {
        int is_tgt = i >= n_src;
        size_t local = is_tgt ? i - n_src : i / stride;
        size_t side_n = is_tgt ? n_tgt : (n_src + stride - 1) / stride;
        int held = side_n >= 2 * HOLDOUT_EVERY && local % HOLDOUT_EVERY == HOLDOUT_EVERY - 1;

        if ((!is_tgt && i % stride != 0) || held)
            continue;
        memcpy(xf + n_fit * p, x + i * p, p * sizeof(float));
        y[n_fit] = (uint8_t) is_tgt;
        if (is_tgt)
            n_ft++;
        else
            n_fs++;
        n_fit++;
    }
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
    if (adapt_logreg(xf, n_fit, p, y, w, NULL, pen, c, theta, 50) < 0)
        goto out;

    /* Held-out AUC (or in-sample when nothing was held out). */
    for (i = 0; i < n; i++) {
        int is_tgt = i >= n_src;
        size_t local = is_tgt ? i - n_src : i / stride;
        size_t side_n = is_tgt ? n_tgt : (n_src + stride - 1) / stride;

        if (!is_tgt && i % stride != 0)
            continue;
        if (side_n >= 2 * HOLDOUT_EVERY && local % HOLDOUT_EVERY != HOLDOUT_EVERY - 1)
            continue;
        sh[n_ho] = row_logit(x + i * p, p, theta);
        yh[n_ho] = (uint8_t) is_tgt;
        n_ho++;
    }
    dom->auc = adapt_auc(sh, yh, n_ho);
    if (dom->auc < 0)
        goto out;

    /* beta = (n_s/n_t) odds(T|x), with the fitting counts. */
    ratio = (double) n_fs / (double) n_ft;
    sum = 0;
    for (i = 0; i < n_src; i++) {
        b[i] = ratio * exp(capped_logit(x + i * p, p, theta));
        sum += b[i];
    }
    /* Normalise to mean 1 under the clip: the scale s with
     * sum_i min(s b_i, clip) = n_src.  For a set C of clipped rows that sum is
     * |C| clip + s sum_{i not in C} b_i; starting from no row clipped
     * (s = n_src / sum b), solving that line for s and taking C as the rows
     * clipped at the new s only ever raises s and grows C, and never passes
     * the answer (each line lies above the true sum); when C stops growing s
     * is exact.  A few passes over the pool (the bisection this replaces
     * took sixty). */
    {
        double s = (double) n_src / sum, rest;
        size_t n_clip = 0, n_prev;

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
        dom->scale = s * ratio;
    }
    dom->p = p;
    memcpy(dom->theta, theta, (p + 1) * sizeof(double));
    dom->clip = clip;
    adapt_domain_weights(dom, src, n_src, beta);
    rc = 0;
out:
    free(x);
    free(xf);
    free(y);
    free(yh);
    free(w);
    free(sh);
    free(b);
    return rc;
}
