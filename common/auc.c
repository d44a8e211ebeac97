/*
 * auc.c - ROC AUC by sorting once and counting tie groups: each group's
 * positives beat every negative below the group and tie the group's negatives.
 */
#include <stdlib.h>

#include "auc.h"

struct auc_row {
    double s;
    uint8_t y;
};

static int
auc_cmp_desc(const void *a, const void *b)
{
    double x = ((const struct auc_row *) a)->s, y = ((const struct auc_row *) b)->s;

    return (x < y) - (x > y);
}

/* Takes ownership of v (n rows); n_pos of them positive. */
static double
auc_rows(struct auc_row *v, size_t n, size_t n_pos)
{
    size_t n_neg = n - n_pos, i = 0;
    double neg_above = 0, sum = 0;

    if (n_pos == 0 || n_neg == 0) {
        free(v);
        return 0.5;
    }
    qsort(v, n, sizeof(*v), auc_cmp_desc);
    while (i < n) {
        size_t j = i, gp = 0, gn = 0;

        while (j < n && v[j].s == v[i].s) {
            gp += v[j].y;
            gn += !v[j].y;
            j++;
        }
        sum += (double) gp * ((double) n_neg - neg_above - (double) gn) + 0.5 * (double) gp * (double) gn;
        neg_above += (double) gn;
        i = j;
    }
    free(v);
    return sum / ((double) n_pos * (double) n_neg);
}

#define AUC_BODY(score, pos, n)                             \
    do {                                                    \
        struct auc_row *v = malloc((n ? n : 1) * sizeof(*v)); \
        size_t k = 0;                                       \
                                                            \
        if (v == NULL)                                      \
            return -1;                                      \
        for (size_t i = 0; i < n; i++) {                    \
            v[i].s = score[i];                              \
            v[i].y = pos[i] ? 1 : 0;                        \
            k += v[i].y;                                    \
        }                                                   \
        return auc_rows(v, n, k);                           \
    } while (0)

double
auc_float(const float *score, const uint8_t *pos, size_t n)
{
    AUC_BODY(score, pos, n);
}

double
auc_double(const double *score, const uint8_t *pos, size_t n)
{
    AUC_BODY(score, pos, n);
}
