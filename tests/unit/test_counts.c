/*
 * test_counts.c - the token-count term (model/counts.h) against naive
 * references kept here: each id's ham and spam counted by a scan of the
 * hand-made messages, Robinson's f(w) and the min_dev cut written out, the
 * chi-square survival summed term by term in log space with lgamma; and the
 * model file carrying the table (format 2) or not (format 1).
 */
#include "config.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "counts.h"
#include "model.h"
#include "synth.h"

/* ---- the naive reference ---- */

/* Q(x2 | 2k) = sum_{i<k} exp(-m + i log m - log i!), m = x2 / 2. */
static double
naive_chi2q(double x2, unsigned k)
{
    double m = x2 / 2.0, s = 0;

    for (unsigned i = 0; i < k; i++)
        s += m > 0 ? exp(-m + i * log(m) - lgamma(i + 1.0)) : (i == 0);
    return s < 1 ? s : 1;
}

/* The Fisher log-odds of ids[0..n) under the messages ex[0..n_ex), from
 * scratch: counts by scanning every message, no table. */
static double
naive_logit(const struct net_example *ex, size_t n_ex, const uint32_t *ids, size_t n)
{
    double n_s = 0, n_h = 0, P = 0, Q = 0, pr;
    unsigned cnt = 0;

    for (size_t i = 0; i < n_ex; i++)
        ex[i].spam ? n_s++ : n_h++;
    for (size_t t = 0; t < n; t++) {
        double s = 0, h = 0, g, f, N;

        for (size_t i = 0; i < n_ex; i++)
            for (uint32_t j = 0; j < ex[i].n; j++)
                if (ex[i].ids[j] == ids[t])
                    ex[i].spam ? s++ : h++;
        N = s + h;
        if (N == 0)
            continue;
        g = (s / n_s) / (s / n_s + h / n_h);
        f = (0.0178 * 0.52 + N * g) / (0.0178 + N);
        if (fabs(f - 0.5) < 0.375)
            continue;
        P += log(1 - f);
        Q += log(f);
        cnt++;
    }
    if (cnt == 0)
        pr = 0.52;
    else
        pr = (1 + (1 - naive_chi2q(-2 * P, cnt)) - (1 - naive_chi2q(-2 * Q, cnt))) / 2;
    pr = pr < 1e-12 ? 1e-12 : pr > 1 - 1e-12 ? 1 - 1e-12 : pr;
    return log(pr / (1 - pr));
}

/* ---- a hand-made table ----
 * ids 1-3 in every spam only, 11-13 in every ham only, 20 in all eight, 30 in
 * one spam and one ham, 40 in three spam and one ham (f = 0.75: cut by
 * min_dev), 50 in one spam only (N = 1: f = 0.991, kept). */
static const uint32_t s0[] = { 1, 2, 3, 20, 30, 40, 50 }, s1[] = { 1, 2, 3, 20, 40 },
    s2[] = { 1, 2, 3, 20, 40 }, s3[] = { 1, 2, 3, 20 }, h0[] = { 11, 12, 13, 20, 30, 40 },
    h1[] = { 11, 12, 13, 20 }, h2[] = { 11, 12, 13, 20 }, h3[] = { 11, 12, 13, 20 };
static const struct net_example hand[] = {
    { s0, 7, 1 }, { h0, 6, 0 }, { s1, 5, 1 }, { h1, 4, 0 },
    { s2, 5, 1 }, { h2, 4, 0 }, { s3, 4, 1 }, { h3, 4, 0 },
};
#define N_HAND (sizeof(hand) / sizeof(hand[0]))

struct logit_case {
    const char *name;
    uint32_t ids[8];
    size_t n;
};

static const struct logit_case logit_cases[] = {
    { "spam ids only", { 1, 2, 3 }, 3 },
    { "ham ids only", { 11, 12, 13 }, 3 },
    { "mixed, more spam", { 1, 2, 11, 20 }, 4 },
    { "mixed, even", { 1, 11 }, 2 },
    { "only undecisive ids (20, 30, 40)", { 20, 30, 40 }, 3 },
    { "unknown ids only", { 7, 99, 12345 }, 3 },
    { "no ids", { 0 }, 0 },
    { "a single-message id", { 50 }, 1 },
    { "unsorted, with unknown", { 13, 99, 2, 40, 1 }, 5 },
};

static void
test_logit_hand(void **state)
{
    struct counts c;

    (void)state;
    assert_int_equal(counts_build(hand, N_HAND, &c), 0);
    /* decisive: 1, 2, 3, 11, 12, 13, 50 */
    if (c.n != 7)
        fail_msg("decisive ids: got %u, want 7", c.n);
    for (size_t i = 0; i < sizeof(logit_cases) / sizeof(logit_cases[0]); i++) {
        const struct logit_case *lc = &logit_cases[i];
        double got = counts_logit(&c, lc->ids, lc->n);
        double want = naive_logit(hand, N_HAND, lc->ids, lc->n);

        /* the table keeps the logarithms as floats */
        if (!(fabs(got - want) <= 1e-5 * (1 + fabs(want))))
            fail_msg("%s: got %.9g, want %.9g", lc->name, got, want);
    }
    counts_release(&c);
}

/* A long message whose many decisive ids drive exp(-x2/2) under the smallest
 * double: the rescaled sum must still match the log-space reference. */
static void
test_logit_long(void **state)
{
    enum { N_IDS = 1500, N_MSG = 6 };
    static uint32_t ids[N_MSG][N_IDS], query[N_IDS];
    struct net_example ex[N_MSG];
    struct counts c;
    double got, want;

    (void)state;
    for (int m = 0; m < N_MSG; m++) {
        /* spam 0-3: ids 1..1500; ham 4, 5: ids 5001..6500; query: 1000 spam
         * ids and 500 ham ids, so both sums are large */
        for (int i = 0; i < N_IDS; i++)
            ids[m][i] = (m < 4 ? 1u : 5001u) + (uint32_t)i;
        ex[m].ids = ids[m];
        ex[m].n = N_IDS;
        ex[m].spam = m < 4;
    }
    for (int i = 0; i < N_IDS; i++)
        query[i] = i < 1000 ? 1u + (uint32_t)i : 5001u + (uint32_t)i;
    assert_int_equal(counts_build(ex, N_MSG, &c), 0);
    got = counts_logit(&c, query, N_IDS);
    want = naive_logit(ex, N_MSG, query, N_IDS);
    if (!(fabs(got - want) <= 1e-4 * (1 + fabs(want))))
        fail_msg("1500 decisive ids: got %.9g, want %.9g", got, want);
    counts_release(&c);
}

struct chi2_case {
    double x2;
    unsigned k;
};

static void
test_chi2q(void **state)
{
    static const struct chi2_case cases[] = {
        { 0, 1 }, { 0, 5 }, { 1, 1 }, { 3.5, 2 }, { 10, 3 }, { 40, 30 }, { 1600, 700 },
        { 1600, 900 }, { 3000, 1000 }, { 3000, 1600 }, { 20000, 9000 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double got = counts_chi2q(cases[i].x2, cases[i].k);
        double want = naive_chi2q(cases[i].x2, cases[i].k);

        if (!(fabs(got - want) <= 1e-9 + 1e-9 * want))
            fail_msg("chi2q(%g, 2 x %u): got %.12g, want %.12g", cases[i].x2, cases[i].k,
                     got, want);
    }
}

/* The table's shape: at most half full, every kept id found, and built the
 * same whatever order the messages come in. */
static void
test_table_shape(void **state)
{
    struct net_example rev[N_HAND];
    struct counts a, b;

    (void)state;
    for (size_t i = 0; i < N_HAND; i++)
        rev[i] = hand[N_HAND - 1 - i];
    assert_int_equal(counts_build(hand, N_HAND, &a), 0);
    assert_int_equal(counts_build(rev, N_HAND, &b), 0);
    if (2 * a.n + 2 > (1u << a.bits))
        fail_msg("%u ids in 2^%u slots: more than half full", a.n, a.bits);
    if (a.bits != b.bits || memcmp(a.slot, b.slot, counts_bytes(a.bits)) != 0)
        fail_msg("table differs when the messages come reversed");
    {
        char why[160];

        if (counts_check(&a, why, sizeof(why)) != 0)
            fail_msg("a built table fails its check: %s", why);
    }
    counts_release(&a);
    counts_release(&b);
}

/* ---- the model file ---- */

static struct model *
small_model(const struct synth *sy, float w)
{
    struct model_train_opts o;
    char err[256];
    struct model *m;

    model_train_opts_default(&o);
    o.dims.lin_bits = 12;
    o.dims.emb_bits = 10;
    o.dims.emb_dim = 8;
    o.dims.hidden = 8;
    o.net.epochs = 2;
    o.threads = 1;
    o.pool_max = 50;
    o.count_weight = w;
    m = model_train(sy->ex, sy->n, &o, err, sizeof(err));
    if (m == NULL)
        fail_msg("model_train: %s", err);
    return m;
}

static unsigned char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    long l;

    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    l = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = malloc((size_t)l);
    assert_int_equal(fread(b, 1, (size_t)l, f), (size_t)l);
    fclose(f);
    *len = (size_t)l;
    return b;
}

/* W = 0.2 round trip: format 2, scores bit for bit those of the trained model
 * and different from W = 0's; the network the same bytes as W = 0's; W = 0
 * is format 1. */
static void
test_model_file(void **state)
{
    char dir[] = "/tmp/test_counts.XXXXXX", p0[64], p2[64], err[256];
    struct synth sy;
    struct model *m0, *m2, *l2;
    unsigned char *b0, *b2;
    size_t n0, n2, diff = 0;

    (void)state;
    (void)synth_auc;
    assert_non_null(mkdtemp(dir));
    snprintf(p0, sizeof(p0), "%s/w0.model", dir);
    snprintf(p2, sizeof(p2), "%s/w2.model", dir);
    assert_int_equal(synth_make(&sy, 150, 150, 2, 12, 60, 3), 0);
    m0 = small_model(&sy, 0.0f);
    m2 = small_model(&sy, 0.2f);
    if (m2->count_weight != 0.2f || m2->counts.n == 0)
        fail_msg("W = 0.2 model: got weight %g with %u ids, want 0.2 with some",
                 (double)m2->count_weight, m2->counts.n);
    assert_int_equal(model_save(m0, p0, err, sizeof(err)), 0);
    assert_int_equal(model_save(m2, p2, err, sizeof(err)), 0);
    b0 = slurp(p0, &n0);
    b2 = slurp(p2, &n2);
    if (b0[8] != 1 || b2[8] != 2)
        fail_msg("format versions: got %u and %u, want 1 (W = 0) and 2 (W = 0.2)", b0[8],
                 b2[8]);
    /* the lin section (offset at byte 80) is the same in both */
    {
        uint64_t off, len;

        memcpy(&off, b0 + 80, 8);
        memcpy(&len, b0 + 88, 8);
        if (memcmp(b0 + off, b2 + off, (size_t)len) != 0)
            fail_msg("the network's lin weights differ between W = 0 and W = 0.2");
    }
    if (model_load(p2, &l2, err, sizeof(err)) != 0)
        fail_msg("loading the format 2 file: %s", err);
    for (size_t i = 0; i < sy.n; i++) {
        float a = model_score(m2, sy.ex[i].ids, sy.ex[i].n, NULL, NULL);
        float b = model_score(l2, sy.ex[i].ids, sy.ex[i].n, NULL, NULL);
        float c = model_score(m0, sy.ex[i].ids, sy.ex[i].n, NULL, NULL);
        float h[8], z, z0;
        double want;

        if (a != b)
            fail_msg("message %zu: loaded model scores %.9g, trained %.9g", i, (double)b,
                     (double)a);
        diff += a != c;
        /* the logit gains W x the Fisher log-odds */
        (void)net_forward(&l2->net, sy.ex[i].ids, sy.ex[i].n, h, &z);
        (void)net_forward(&m0->net, sy.ex[i].ids, sy.ex[i].n, h, &z0);
        want = 0.2 * counts_logit(&l2->counts, sy.ex[i].ids, sy.ex[i].n);
        if (!(fabs((z - z0) * l2->net.head[8] - want) <= 1e-3 * (1 + fabs(want))))
            fail_msg("message %zu: logit gains %.6g, want %.6g", i,
                     (double)((z - z0) * l2->net.head[8]), want);
    }
    if (diff == 0)
        fail_msg("W = 0.2 scores every message as W = 0 does");
    model_free(l2);
    /* a corrupt slot in a format 2 file is refused (checksum fixed up) */
    {
        uint64_t off, sum_off = n2 - 8;
        struct model *bad;

        memcpy(&off, b2 + 192, 8);
        for (size_t s = 0;; s++) {
            float lf;

            memcpy(&lf, b2 + off + 12 * s + 4, 4);
            if (lf != 0) {
                lf = 1.0f;      /* log f(w) > 0: impossible */
                memcpy(b2 + off + 12 * s + 4, &lf, 4);
                break;
            }
        }
        {
            uint64_t h = XXH64(b2, (size_t)sum_off, 0);

            memcpy(b2 + sum_off, &h, 8);
        }
        if (model_load_buffer(b2, n2, "bad", &bad, err, sizeof(err)) == 0)
            fail_msg("a count slot with log f = 1 loaded");
        if (strstr(err, "count table") == NULL)
            fail_msg("corrupt slot: got \"%s\", want a message naming the count table", err);
    }
    free(b0);
    free(b2);
    model_free(m0);
    model_free(m2);
    unlink(p0);
    unlink(p2);
    rmdir(dir);
    synth_free(&sy);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logit_hand),
        cmocka_unit_test(test_logit_long),
        cmocka_unit_test(test_chi2q),
        cmocka_unit_test(test_table_shape),
        cmocka_unit_test(test_model_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
