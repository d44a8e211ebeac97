/*
 * metrics.c - ROC AUC, lam%, recall at a fixed FPR, Wilson intervals: see
 * metrics.h.  Every function sorts a private copy: the caller's arrays are
 * never touched.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "auc.h"
#include "metrics.h"

struct scored {
    float s;
    uint8_t y;
};

/* Descending by score. */
static int
cmp_desc(const void *a, const void *b)
{
    float x = ((const struct scored *) a)->s, y = ((const struct scored *) b)->s;

    return x < y ? 1 : x > y ? -1 : 0;
}

static struct scored *
sorted_copy(const float *score, const uint8_t *spam, size_t n, size_t *n_spam)
{
    struct scored *v = malloc((n ? n : 1) * sizeof(*v));
    size_t k = 0;

    if (v == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        v[i].s = score[i];
        v[i].y = spam[i] ? 1 : 0;
        k += v[i].y;
    }
    qsort(v, n, sizeof(*v), cmp_desc);
    *n_spam = k;
    return v;
}

int
metrics_roc(const float *score, const uint8_t *spam, size_t n,
            struct metrics_point **pts, size_t *n_pts)
{
    size_t n_spam, n_ham, i = 0, k = 0, tp = 0, fp = 0;
    struct scored *v = sorted_copy(score, spam, n, &n_spam);
    struct metrics_point *p;

    *pts = NULL;
    *n_pts = 0;
    if (v == NULL)
        return -1;
    if ((p = malloc((n + 1) * sizeof(*p))) == NULL) {
        free(v);
        return -1;
    }
    n_ham = n - n_spam;
    p[k++] = (struct metrics_point) { 0, 0, n ? (double) v[0].s : 1.0 };
    while (i < n) {
        size_t j = i;

        while (j < n && v[j].s == v[i].s) {
            tp += v[j].y;
            fp += !v[j].y;
            j++;
        }
        p[k].fpr = n_ham ? (double) fp / n_ham : 0;
        p[k].tpr = n_spam ? (double) tp / n_spam : 0;
        p[k].thr = v[i].s;
        k++;
        i = j;
    }
    free(v);
    *pts = p;
    *n_pts = k;
    return 0;
}

double
metrics_recall_at_fpr(const float *score, const uint8_t *spam, size_t n, double max_fpr)
{
    struct metrics_point *p;
    size_t np;
    double best = 0;

    if (metrics_roc(score, spam, n, &p, &np) != 0)
        return -1;
    for (size_t i = 0; i < np; i++)
        if (p[i].fpr <= max_fpr + 1e-12 && p[i].tpr > best)
            best = p[i].tpr;
    free(p);
    return best;
}

static double
logit(double p)
{
    return log(p / (1 - p));
}

double
metrics_lam_pct(size_t fp, size_t n_ham, size_t fn, size_t n_spam)
{
    double hm, sm, l;

    if (n_ham == 0 || n_spam == 0)
        return 0;
    hm = (fp ? (double) fp : 0.5) / (double) n_ham;
    sm = (fn ? (double) fn : 0.5) / (double) n_spam;
    if (hm >= 1)
        hm = 1 - 0.5 / n_ham;
    if (sm >= 1)
        sm = 1 - 0.5 / n_spam;
    l = (logit(hm) + logit(sm)) / 2;
    return 100.0 / (1.0 + exp(-l));
}

int
metrics_compute(const float *score, const uint8_t *spam, size_t n, double thr,
                struct metrics_summary *out)
{
    memset(out, 0, sizeof(*out));
    out->n = n;
    for (size_t i = 0; i < n; i++) {
        int called = score[i] >= thr;

        if (spam[i]) {
            out->n_spam++;
            out->fn += !called;
        } else {
            out->n_ham++;
            out->fp += called;
        }
    }
    out->auc = auc_float(score, spam, n);
    out->recall_01 = metrics_recall_at_fpr(score, spam, n, 0.001);
    out->recall_1 = metrics_recall_at_fpr(score, spam, n, 0.01);
    if (out->auc < 0 || out->recall_01 < 0 || out->recall_1 < 0)
        return -1;
    out->one_minus_auc_pct = 100.0 * (1.0 - out->auc);
    out->fpr = out->n_ham ? (double) out->fp / out->n_ham : 0;
    out->fnr = out->n_spam ? (double) out->fn / out->n_spam : 0;
    out->lam_pct = metrics_lam_pct(out->fp, out->n_ham, out->fn, out->n_spam);
    return 0;
}

void
metrics_wilson(uint64_t k, uint64_t n, double *lo, double *hi)
{
    const double z = 1.96;
    double p, den, centre, half;

    if (n == 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    p = (double) k / (double) n;
    den = 1 + z * z / n;
    centre = (p + z * z / (2.0 * n)) / den;
    half = z * sqrt(p * (1 - p) / n + z * z / (4.0 * n * n)) / den;
    *lo = centre - half < 0 ? 0 : centre - half;
    *hi = centre + half > 1 ? 1 : centre + half;
}
