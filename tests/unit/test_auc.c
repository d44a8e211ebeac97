/*
 * test_auc.c - common/auc.c (auc_float, auc_double) against the naive O(n^2)
 * reference kept here: every positive compared with every negative, a win
 * counting 1 and a tie 1/2.  Both sums are half-integers, exact in a double, and
 * both are divided by the same n_pos * n_neg, so the sorted AUC must equal the
 * naive one bit for bit, not merely within a tolerance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "auc.h"

/* The reference: 0.5 when a class is empty, as auc.h documents. */
static double
naive_auc(const double *score, const uint8_t *pos, size_t n)
{
    double sum = 0, n_pos = 0, n_neg = 0;

    for (size_t i = 0; i < n; i++) {
        if (pos[i])
            n_pos++;
        else
            n_neg++;
    }
    if (n_pos == 0 || n_neg == 0)
        return 0.5;
    for (size_t i = 0; i < n; i++) {
        if (!pos[i])
            continue;
        for (size_t j = 0; j < n; j++) {
            if (pos[j])
                continue;
            if (score[i] > score[j])
                sum += 1;
            else if (score[i] == score[j])
                sum += 0.5;
        }
    }
    return sum / (n_pos * n_neg);
}

#define MAXN 10

struct auc_case {
    const char *name;
    size_t n;
    double score[MAXN];
    uint8_t pos[MAXN];
    double want;
};

static const struct auc_case cases[] = {
    { "perfect", 4, { .9, .8, .2, .1 }, { 1, 1, 0, 0 }, 1.0 },
    { "inverted", 4, { .1, .2, .8, .9 }, { 1, 1, 0, 0 }, 0.0 },
    { "all tied", 5, { .5, .5, .5, .5, .5 }, { 1, 0, 1, 0, 0 }, 0.5 },
    /* pos .9 beats 3 neg; pos .5 ties neg .5 (1/2) and beats .1, .2; pos .15
     * beats .1: 3 + 2.5 + 1 = 6.5 of 9 pairs */
    { "ties across classes", 6, { .9, .5, .15, .5, .1, .2 }, { 1, 1, 1, 0, 0, 0 },
      6.5 / 9 },
    /* a tie group holding both classes in the middle: each pos 3 beats the two
     * neg 1, ties neg 3 (1/2) and loses to neg 4: 2 * 2.5 = 5 of 8 pairs */
    { "tie group in the middle", 6, { 3, 1, 3, 1, 3, 4 }, { 1, 0, 0, 0, 1, 0 }, 5.0 / 8 },
    { "no negatives", 3, { .1, .2, .3 }, { 1, 1, 1 }, 0.5 },
    { "no positives", 3, { .1, .2, .3 }, { 0, 0, 0 }, 0.5 },
    { "n=1 positive", 1, { .7 }, { 1 }, 0.5 },
    { "n=1 negative", 1, { .7 }, { 0 }, 0.5 },
    { "n=0", 0, { 0 }, { 0 }, 0.5 },
    { "one pair, won", 2, { 2, 1 }, { 1, 0 }, 1.0 },
    { "one pair, tied", 2, { 1, 1 }, { 1, 0 }, 0.5 },
    { "negative scores", 4, { -3, -1, -2, -4 }, { 0, 1, 1, 0 }, 1.0 },
    /* pos value any nonzero byte counts as positive */
    { "pos byte 7", 3, { 3, 2, 1 }, { 7, 0, 0 }, 1.0 },
};

/* Both entry points on one case, against want and against the reference. */
static void
check_case(const char *name, const double *score, const uint8_t *pos, size_t n,
           double want)
{
    float fs[400];
    double got_d, got_f, ref;

    assert_true(n <= sizeof(fs) / sizeof(fs[0]));
    for (size_t i = 0; i < n; i++)
        fs[i] = (float) score[i];
    ref = naive_auc(score, pos, n);
    got_d = auc_double(score, pos, n);
    got_f = auc_float(fs, pos, n);
    if (ref != want)
        fail_msg("%s: naive reference got %.17g, want %.17g", name, ref, want);
    if (got_d != want)
        fail_msg("%s: auc_double got %.17g, want %.17g", name, got_d, want);
    if (got_f != want)
        fail_msg("%s: auc_float got %.17g, want %.17g", name, got_f, want);
}

static void
test_auc_table(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct auc_case *c = &cases[i];

        /* want is written as (pairs won) / (n_pos * n_neg), the reference's
         * own division, so the comparison is exact */
        check_case(c->name, c->score, c->pos, c->n, c->want);
    }
}

/* xorshift32: the same fixtures on every run. */
static uint32_t
rnd(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Random rows with many ties (scores on a grid of `levels` values, exact in
 * float as in double): the sorted AUC equals the pair count. */
static void
test_auc_random_ties(void **state)
{
    static const unsigned levels[] = { 1, 2, 3, 5, 17, 1000 };
    double score[400];
    uint8_t pos[400];
    char name[80];
    uint32_t x = 12345;

    (void) state;
    for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++) {
        for (int round = 0; round < 10; round++) {
            size_t n = 1 + rnd(&x) % 400;
            unsigned share = rnd(&x) % 100;    /* percent positive */

            for (size_t i = 0; i < n; i++) {
                pos[i] = rnd(&x) % 100 < share;
                score[i] = (double) (rnd(&x) % levels[l]) / 8.0 - 2.0;
            }
            snprintf(name, sizeof(name), "random: %u levels, round %d, n %zu",
                     levels[l], round, n);
            check_case(name, score, pos, n, naive_auc(score, pos, n));
        }
    }
}

/* The order of the rows never matters: a reversed copy gives the same AUC. */
static void
test_auc_order_invariant(void **state)
{
    double score[200], rs[200];
    uint8_t pos[200], rp[200];
    uint32_t x = 99;
    double a, b;

    (void) state;
    for (size_t i = 0; i < 200; i++) {
        score[i] = (double) (rnd(&x) % 7);
        pos[i] = rnd(&x) & 1;
        rs[199 - i] = score[i];
        rp[199 - i] = pos[i];
    }
    a = auc_double(score, pos, 200);
    b = auc_double(rs, rp, 200);
    if (a != b)
        fail_msg("reversed rows: got %.17g, want %.17g", b, a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auc_table),
        cmocka_unit_test(test_auc_random_ties),
        cmocka_unit_test(test_auc_order_invariant),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
