/*
 * test_metrics.c - cli/metrics.c against naive references: the sorted AUC
 * (common/auc.h's auc_float, what metrics_compute reports) against comparing
 * every spam with every ham (ties half), recall at a fixed
 * FPR and lam% against hand-computed cases, Wilson intervals against published
 * values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <cmocka.h>

#include "auc.h"
#include "metrics.h"

/* The reference: every spam against every ham, O(n^2), ties counted half. */
static double
metrics_auc_naive(const float *score, const uint8_t *spam, size_t n)
{
    double sum = 0, pairs = 0;

    for (size_t i = 0; i < n; i++) {
        if (!spam[i])
            continue;
        for (size_t j = 0; j < n; j++) {
            if (spam[j])
                continue;
            pairs++;
            sum += score[i] > score[j] ? 1.0 : score[i] == score[j] ? 0.5 : 0.0;
        }
    }
    return pairs > 0 ? sum / pairs : 0.5;
}

struct auc_case {
    const char *name;
    size_t n;
    float score[10];
    uint8_t spam[10];
    double want;
};

static const struct auc_case auc_cases[] = {
    { "perfect", 4, { .9f, .8f, .2f, .1f }, { 1, 1, 0, 0 }, 1.0 },
    { "inverted", 4, { .1f, .2f, .8f, .9f }, { 1, 1, 0, 0 }, 0.0 },
    { "all tied", 4, { .5f, .5f, .5f, .5f }, { 1, 0, 1, 0 }, 0.5 },
    /* spam .9 beats 3 ham; spam .5 ties ham .5 (0.5) and beats .1, .2: 2.5;
     * spam .15 beats .1: 1 -> 6.5 / 9 */
    { "ties across classes", 6, { .9f, .5f, .15f, .5f, .1f, .2f }, { 1, 1, 1, 0, 0, 0 },
      6.5 / 9 },
    { "one class only", 3, { .1f, .2f, .3f }, { 1, 1, 1 }, 0.5 },
};

static void
test_auc_table(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(auc_cases) / sizeof(auc_cases[0]); i++) {
        const struct auc_case *c = &auc_cases[i];
        double got = auc_float(c->score, c->spam, c->n);
        double naive = metrics_auc_naive(c->score, c->spam, c->n);

        if (fabs(got - c->want) > 1e-12 || fabs(naive - c->want) > 1e-12)
            fail_msg("%s: auc got %.12g (naive %.12g), want %.12g", c->name, got, naive,
                     c->want);
    }
}

/* Random fixtures with many ties (scores on a coarse grid): sorted == naive. */
static void
test_auc_against_naive(void **state)
{
    float score[400];
    uint8_t spam[400];
    uint32_t x = 12345;

    (void) state;
    for (int round = 0; round < 20; round++) {
        size_t n = 10 + (size_t) round * 19;

        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            spam[i] = (x >> 16) & 1;
            x = x * 1103515245u + 12345u;
            score[i] = (float) (((x >> 16) % 11) / 10.0 + 0.15 * spam[i]);
        }
        double got = auc_float(score, spam, n), want = metrics_auc_naive(score, spam, n);
        if (fabs(got - want) > 1e-12)
            fail_msg("round %d (n %zu): auc got %.12g, want %.12g (naive)", round, n, got, want);
    }
}

static void
test_recall_at_fpr(void **state)
{
    /* 1000 ham at 0..0.999 (ham i scores i/1000 * 0.5), spam: 10 above every ham,
     * 10 between the two highest ham, 10 below all. */
    static float score[1030];
    static uint8_t spam[1030];
    size_t n = 0;
    double r;

    (void) state;
    for (int i = 0; i < 1000; i++) {
        score[n] = (float) i / 2000.0f;
        spam[n++] = 0;
    }
    for (int i = 0; i < 10; i++) {
        score[n] = 0.9f;
        spam[n++] = 1;
        score[n] = (998.5f / 2000.0f);
        spam[n++] = 1;
        score[n] = -1.0f;
        spam[n++] = 1;
    }
    /* FPR 0: only the 10 top spam; FPR <= 0.1% allows one ham, so the 10 between
     * come in: 20/30. */
    if (fabs((r = metrics_recall_at_fpr(score, spam, n, 0.0)) - 10.0 / 30) > 1e-12)
        fail_msg("recall at FPR 0: got %g, want %g", r, 10.0 / 30);
    if (fabs((r = metrics_recall_at_fpr(score, spam, n, 0.001)) - 20.0 / 30) > 1e-12)
        fail_msg("recall at FPR 0.1%%: got %g, want %g", r, 20.0 / 30);
    if (fabs((r = metrics_recall_at_fpr(score, spam, n, 1.0)) - 1.0) > 1e-12)
        fail_msg("recall at FPR 100%%: got %g, want 1", r);
}

static void
test_lam_and_wilson(void **state)
{
    double lo, hi, l;

    (void) state;
    /* fpr = fnr = 10%: lam = 10% */
    if (fabs((l = metrics_lam_pct(10, 100, 5, 50)) - 10.0) > 1e-9)
        fail_msg("lam%% of 10%%/10%%: got %g, want 10", l);
    /* fpr 1%, fnr 25%: logit^-1 of the mean logit */
    {
        double want = 100 / (1 + exp(-(log(0.01 / 0.99) + log(0.25 / 0.75)) / 2));
        if (fabs((l = metrics_lam_pct(1, 100, 25, 100)) - want) > 1e-9)
            fail_msg("lam%%: got %g, want %g", l, want);
    }
    /* Wilson 95%: 0 of 10 -> [0, 0.2775]; 5 of 10 -> [0.2366, 0.7634] */
    metrics_wilson(0, 10, &lo, &hi);
    if (fabs(lo) > 1e-9 || fabs(hi - 0.27753) > 1e-4)
        fail_msg("wilson 0/10: got [%g, %g], want [0, 0.2775]", lo, hi);
    metrics_wilson(5, 10, &lo, &hi);
    if (fabs(lo - 0.23659) > 1e-4 || fabs(hi - 0.76341) > 1e-4)
        fail_msg("wilson 5/10: got [%g, %g], want [0.2366, 0.7634]", lo, hi);
    metrics_wilson(0, 0, &lo, &hi);
    if (lo != 0 || hi != 1)
        fail_msg("wilson 0/0: got [%g, %g], want [0, 1]", lo, hi);
}

static void
test_roc_and_summary(void **state)
{
    const float score[] = { .9f, .8f, .7f, .6f, .4f, .3f };
    const uint8_t spam[] = { 1, 0, 1, 1, 0, 0 };
    struct metrics_point *p;
    size_t n;
    struct metrics_summary ms;

    (void) state;
    assert_int_equal(metrics_roc(score, spam, 6, &p, &n), 0);
    if (n != 7 || p[0].fpr != 0 || p[0].tpr != 0 || p[6].fpr != 1 || p[6].tpr != 1)
        fail_msg("roc: got %zu points ending (%g, %g), want 7 ending (1, 1)", n,
                 p[n - 1].fpr, p[n - 1].tpr);
    free(p);
    assert_int_equal(metrics_compute(score, spam, 6, 0.5, &ms), 0);
    if (ms.fp != 1 || ms.fn != 0 || fabs(ms.fpr - 1.0 / 3) > 1e-12
        || fabs(ms.one_minus_auc_pct - 200.0 / 9) > 1e-9)
        fail_msg("summary: fp %zu fn %zu fpr %g (1-auc)%% %g, want 1 0 0.333 22.22",
                 ms.fp, ms.fn, ms.fpr, ms.one_minus_auc_pct);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auc_table),
        cmocka_unit_test(test_auc_against_naive),
        cmocka_unit_test(test_recall_at_fpr),
        cmocka_unit_test(test_lam_and_wilson),
        cmocka_unit_test(test_roc_and_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
