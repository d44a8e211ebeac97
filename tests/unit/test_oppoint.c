/*
 * test_oppoint.c - the operating point (adapt/oppoint.h) and train's
 * cross-fitted threshold (cli/crossfit.h), each case named, against naive
 * references: the threshold against a scan of every candidate, the EM against
 * a known class balance, the cross-fitting against folds trained and scored
 * one message at a time here.
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

#include <cmocka.h>

#include "crossfit.h"
#include "model.h"
#include "oppoint.h"
#include "synth.h"

/* Naive: the weighted share of ham at or above t. */
static double
share_at(const float *s, const double *w, size_t n, float t)
{
    double a = 0, tot = 0;

    for (size_t i = 0; i < n; i++) {
        double wi = w ? w[i] : 1;

        tot += wi;
        if (s[i] >= t)
            a += wi;
    }
    return a / tot;
}

/* Naive: the smallest candidate (every score, nudged up, and 0) meeting target. */
static float
naive_threshold(const float *s, const double *w, size_t n, double target)
{
    float best = 1.0f;

    if (share_at(s, w, n, 0.0f) <= target * (1 + 1e-9))
        return 0.0f;
    for (size_t i = 0; i < n; i++) {
        float t = nextafterf(s[i], 2.0f);

        if (t < best && share_at(s, w, n, t) <= target * (1 + 1e-9))
            best = t;
    }
    return best;
}

struct thr_case {
    const char *name;
    size_t n;
    int ties, weighted;
    double target;
};

static const struct thr_case thr_cases[] = {
    { "1000 distinct, 0.3%", 1000, 0, 0, 0.003 },
    { "1000 distinct, 1%", 1000, 0, 0, 0.01 },
    { "ties on a coarse grid", 500, 1, 0, 0.01 },
    { "weighted", 700, 0, 1, 0.003 },
    { "weighted with ties", 700, 1, 1, 0.02 },
    { "target below one message", 100, 0, 0, 0.003 },
};

static void
test_threshold_table(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(thr_cases) / sizeof(thr_cases[0]); c++) {
        const struct thr_case *tc = &thr_cases[c];
        float *s = malloc(tc->n * sizeof(*s));
        double *w = malloc(tc->n * sizeof(*w));
        uint64_t st = 7 + c;
        float got, want;

        for (size_t i = 0; i < tc->n; i++) {
            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            s[i] = (float)(st >> 40) / (float)(1 << 24);
            if (tc->ties)
                s[i] = floorf(s[i] * 20) / 20;
            w[i] = tc->weighted ? 0.1 + (double)((st >> 20) % 100) / 50.0 : 1.0;
        }
        got = oppoint_threshold(s, tc->weighted ? w : NULL, tc->n, tc->target);
        want = naive_threshold(s, tc->weighted ? w : NULL, tc->n, tc->target);
        if (got != want)
            fail_msg("%s: got threshold %.9g, want %.9g", tc->name, (double)got,
                     (double)want);
        if (share_at(s, tc->weighted ? w : NULL, tc->n, got) > tc->target * (1 + 1e-9))
            fail_msg("%s: share at the threshold %g exceeds the target %g", tc->name,
                     share_at(s, tc->weighted ? w : NULL, tc->n, got), tc->target);
        free(s);
        free(w);
    }
    assert_true(oppoint_threshold(NULL, NULL, 0, 0.003) < 0);
}

static double
logistic_logpdf(double y)
{
    return -y - 2 * log1p(exp(-y));
}

/* Scores from a calibrated model at training share 1/2 on mail with a known
 * spam share: EM must find the share again. */
static void
test_prior_em(void **state)
{
    static const double shares[] = { 0.1, 0.3, 0.5, 0.75 };

    (void)state;
    for (size_t c = 0; c < sizeof(shares) / sizeof(shares[0]); c++) {
        size_t n = 20000;
        float *p = malloc(n * sizeof(*p));
        uint64_t st = 11;
        double got;

        for (size_t i = 0; i < n; i++) {
            int spam = (double)i < shares[c] * (double)n;
            double u, x;

            st = st * 6364136223846793005ULL + 1442695040888963407ULL;
            u = ((double)(st >> 11) + 0.5) / 9007199254740992.0;
            /* x ~ logistic(+-1.5, 1) by class; p the exact posterior at
             * equal shares: f(x - 1.5) / (f(x - 1.5) + f(x + 1.5)) */
            x = (spam ? 1.5 : -1.5) + log(u / (1 - u));
            p[i] = (float)(1 / (1 + exp(logistic_logpdf(x + 1.5) - logistic_logpdf(x - 1.5))));
        }
        got = oppoint_prior_em(p, n, 0.5, 500);
        if (fabs(got - shares[c]) > 0.02)
            fail_msg("share %.2f: got %.4f from EM, want within 0.02", shares[c], got);
        free(p);
    }
    assert_true(oppoint_prior_em(NULL, 0, 0.5, 10) == 0.5);
}

/* Which source each grid point takes, and the lookup rules. */
static void
test_fit_sources(void **state)
{
    size_t n_fb = 2000, n_unl = 1000;
    float *fb = malloc(n_fb * sizeof(*fb)), *unl = malloc(n_unl * sizeof(*unl));
    uint8_t *lab = calloc(n_fb, 1);
    struct oppoint_user op;
    int src, g03 = -1, g001 = -1;

    (void)state;
    for (size_t i = 0; i < n_fb; i++)
        fb[i] = (float)i / (float)n_fb;         /* 2000 ham, uniform */
    for (size_t i = 0; i < n_unl; i++)
        unl[i] = i % 2 ? 0.999f : 0.001f;
    assert_int_equal(oppoint_fit(fb, lab, n_fb, unl, n_unl, &op), 0);
    for (int g = 0; g < OPPOINT_GRID_N; g++) {
        if (oppoint_grid[g] == 0.003)
            g03 = g;
        if (oppoint_grid[g] == 0.001)
            g001 = g;
    }
    assert_true(g03 >= 0 && g001 >= 0);
    /* 2000 ham: enough at 0.3% (5/0.003 = 1667), not at 0.1% (5000) */
    if (op.source[g03] != OPPOINT_FEEDBACK)
        fail_msg("0.3%% with 2000 labelled ham: got source %s, want feedback",
                 oppoint_source_name(op.source[g03]));
    if (op.source[g001] != OPPOINT_UNLABELLED)
        fail_msg("0.1%% with 2000 labelled ham: got source %s, want unlabelled",
                 oppoint_source_name(op.source[g001]));
    {
        float want = naive_threshold(fb, NULL, n_fb, 0.003);

        if (op.thr[g03] != want)
            fail_msg("feedback threshold: got %.9g, want %.9g", (double)op.thr[g03],
                     (double)want);
    }
    /* A target between grid points takes the lower one. */
    assert_true(oppoint_lookup(&op, 0.004, 0.5f, &src) == op.thr[g03]);
    assert_int_equal(src, OPPOINT_FEEDBACK);
    /* The unlabelled estimate only raises the model's threshold. */
    op.source[g001] = OPPOINT_UNLABELLED;
    op.thr[g001] = 0.2f;
    assert_true(oppoint_lookup(&op, 0.001, 0.9f, &src) == 0.9f);
    assert_int_equal(src, OPPOINT_MODEL);
    op.thr[g001] = 0.95f;
    assert_true(oppoint_lookup(&op, 0.001, 0.9f, &src) == 0.95f);
    assert_int_equal(src, OPPOINT_UNLABELLED);
    assert_true(oppoint_lookup(NULL, 0.003, 0.7f, &src) == 0.7f);
    assert_int_equal(src, OPPOINT_MODEL);
    /* A refit without the reservoir keeps the last unlabelled points but lets
     * feedback win where it is enough. */
    {
        struct oppoint_user prev = op, now;

        prev.source[g001] = OPPOINT_UNLABELLED;
        prev.thr[g001] = 0.97f;
        prev.source[g03] = OPPOINT_UNLABELLED;
        prev.thr[g03] = 0.96f;
        prev.n_unl = 1000;
        assert_int_equal(oppoint_fit(fb, lab, n_fb, NULL, 0, &now), 0);
        oppoint_keep_unlabelled(&now, &prev);
        if (now.source[g001] != OPPOINT_UNLABELLED || now.thr[g001] != 0.97f)
            fail_msg("kept 0.1%%: got %s %.3f, want unlabelled 0.970",
                     oppoint_source_name(now.source[g001]), (double)now.thr[g001]);
        if (now.source[g03] != OPPOINT_FEEDBACK)
            fail_msg("kept 0.3%%: got %s, want feedback (2000 ham is enough)",
                     oppoint_source_name(now.source[g03]));
        assert_int_equal(now.n_unl, 1000);
    }
    /* Nothing at all: every point is the model's. */
    assert_int_equal(oppoint_fit(NULL, NULL, 0, NULL, 0, &op), 0);
    for (int g = 0; g < OPPOINT_GRID_N; g++)
        assert_int_equal(op.source[g], OPPOINT_MODEL);
    free(fb);
    free(unl);
    free(lab);
}

/* Estimated ham mass below 1 / target: the unlabelled threshold has at most
 * one message of estimated ham above it (naive_threshold at 1 / mass); with
 * less than one message of ham every point is the model's.  Pins the
 * fallback to the model's threshold that sent 34% of a stranger's ham to
 * Junk (SA -> enron5, no labels). */
static void
test_fit_low_mass(void **state)
{
    static const struct {
        const char *name;
        size_t n_ham;           /* of 400; the rest spam at 0.9999 */
        int want_unl;
    } cases[] = {
        { "40 ham of 400", 40, 1 },
        { "20 ham of 400", 20, 1 },
        { "4 ham of 400: EM leaves under one message", 4, 0 },
    };
    size_t n = 400;
    float *unl = malloc(n * sizeof(*unl));
    double *w = malloc(n * sizeof(*w));

    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct oppoint_user op;
        double prior, mass = 0;
        int g03 = -1;

        for (size_t i = 0; i < n; i++)
            unl[i] = i < cases[c].n_ham ? 0.0005f + 0.3f * (float)i / (float)cases[c].n_ham
                                        : 0.9999f;
        assert_int_equal(oppoint_fit(NULL, NULL, 0, unl, n, &op), 0);
        prior = oppoint_prior_em(unl, n, 0.5, 200);
        for (size_t i = 0; i < n; i++)
            mass += w[i] = 1.0 - oppoint_adjust(unl[i], 0.5, prior);
        for (int g = 0; g < OPPOINT_GRID_N; g++)
            if (oppoint_grid[g] == 0.003)
                g03 = g;
        if (mass * 0.003 >= 1.0)
            fail_msg("%s: estimated ham mass %.1f, want below 1 / 0.003", cases[c].name, mass);
        if (!cases[c].want_unl) {
            if (op.source[g03] != OPPOINT_MODEL)
                fail_msg("%s: got source %s, want model", cases[c].name,
                         oppoint_source_name(op.source[g03]));
            continue;
        }
        if (op.source[g03] != OPPOINT_UNLABELLED)
            fail_msg("%s: got source %s, want unlabelled", cases[c].name,
                     oppoint_source_name(op.source[g03]));
        {
            float want = naive_threshold(unl, w, n, 1.0 / mass);

            if (op.thr[g03] != want)
                fail_msg("%s: got threshold %.9g, want %.9g (mass %.2f)", cases[c].name,
                         (double)op.thr[g03], (double)want, mass);
        }
    }
    free(unl);
    free(w);
}

/* The trailer round-trips, and a blob without one (or a damaged one) is
 * taken whole as the user model, all model thresholds. */
static void
test_blob(void **state)
{
    uint8_t um[37];
    struct oppoint_user op, back;
    size_t len, ml;
    uint8_t *b;

    (void)state;
    for (size_t i = 0; i < sizeof(um); i++)
        um[i] = (uint8_t)(i * 7);
    memset(&op, 0, sizeof(op));
    for (int g = 0; g < OPPOINT_GRID_N; g++) {
        op.source[g] = (uint8_t)(g % 3);
        op.thr[g] = 0.5f + 0.01f * (float)g;
    }
    op.prior = 0.25f;
    op.n_ham = 3;
    b = oppoint_blob_append(um, sizeof(um), &op, &len);
    assert_non_null(b);
    assert_int_equal(oppoint_blob_split(b, len, &back, &ml), 1);
    assert_int_equal(ml, sizeof(um));
    assert_memory_equal(back.source, op.source, OPPOINT_GRID_N);
    assert_memory_equal(back.thr, op.thr, sizeof(op.thr));
    assert_true(back.prior == 0.25f && back.n_ham == 3);
    assert_int_equal(oppoint_blob_split(um, sizeof(um), &back, &ml), 0);
    assert_int_equal(ml, sizeof(um));
    for (size_t k = sizeof(um); k < len; k++) {
        b[k] ^= 0x40;
        if (oppoint_blob_split(b, len, &back, &ml) != 0 || ml != len)
            fail_msg("trailer byte %zu flipped: got split %zu, want none", k, ml);
        b[k] ^= 0x40;
    }
    free(b);
}

/* Cross-fitting against a reference: three groups, each fold trained here on
 * the other two and every held-out ham scored one at a time with
 * model_score(); the threshold must be the reference's bit for bit. */
static void
test_crossfit_reference(void **state)
{
    struct synth sy;
    struct model_train_opts o;
    struct crossfit_result r;
    const char *names[] = { "g0", "g1", "g2" };
    int *grp;
    float *ham;
    size_t n_ham = 0;
    char err[256];

    (void)state;
    (void)synth_auc;
    assert_int_equal(synth_make(&sy, 300, 300, 1, 12, 40, 5), 0);
    grp = malloc(sy.n * sizeof(*grp));
    ham = malloc(sy.n * sizeof(*ham));
    for (size_t i = 0; i < sy.n; i++)
        grp[i] = (int)(i % 3);
    model_train_opts_default(&o);
    o.dims.lin_bits = 12;
    o.dims.emb_bits = 10;
    o.net.epochs = 2;
    o.threads = 1;
    for (int g = 0; g < 3; g++) {
        struct net_example *tr = malloc(sy.n * sizeof(*tr));
        struct model_train_opts fo = o;
        size_t n_tr = 0;
        struct model *m;

        fo.pool_max = 2;
        for (size_t i = 0; i < sy.n; i++)
            if (grp[i] != g)
                tr[n_tr++] = sy.ex[i];
        m = model_train(tr, n_tr, &fo, err, sizeof(err));
        assert_non_null(m);
        for (size_t i = 0; i < sy.n; i++)
            if (grp[i] == g && !sy.ex[i].spam)
                ham[n_ham++] = model_score(m, sy.ex[i].ids, sy.ex[i].n, NULL, NULL);
        model_free(m);
        free(tr);
    }
    assert_int_equal(crossfit_threshold(sy.ex, sy.n, grp, names, 3, &o, 0.02, 5, NULL, 0, &r, err,
                                        sizeof(err)), 0);
    {
        float want = naive_threshold(ham, NULL, n_ham, 0.02);

        if (r.threshold != want)
            fail_msg("cross-fitted threshold: got %.9g, want %.9g", (double)r.threshold,
                     (double)want);
    }
    assert_int_equal(r.n_groups, 3);
    assert_int_equal(r.kfold, 0);
    assert_int_equal(r.n_ham, 300);
    if ((double)r.fp > 0.02 * 300)
        fail_msg("held-out FP %zu, want at most %g", r.fp, 0.02 * 300);
    crossfit_free(&r);
    /* One group: folds stand in. */
    for (size_t i = 0; i < sy.n; i++)
        grp[i] = 0;
    assert_int_equal(crossfit_threshold(sy.ex, sy.n, grp, names, 1, &o, 0.02, 4, NULL, 0, &r, err,
                                        sizeof(err)), 0);
    assert_int_equal(r.kfold, 1);
    assert_int_equal(r.n_groups, 4);
    assert_int_equal(r.n_ham, 300);
    assert_true(r.threshold >= 0 && r.threshold <= 1);
    crossfit_free(&r);
    free(grp);
    free(ham);
    synth_free(&sy);
}

/* crossfit_choose: the count weight with the lowest held-out FNR among those no
 * worse in (1-AUC)% than W = 0, W > 0 only when strictly better. */
struct choose_case {
    const char *name;
    struct crossfit_weight wt[4];
    size_t n;
    float want;
};

static void
test_crossfit_choose(void **state)
{
    static const struct choose_case cases[] = {
        { "the term helps on both", { { 0, .5f, 3, 120, 0.24 }, { 0.1f, .5f, 3, 105, 0.19 },
          { 0.2f, .5f, 3, 104, 0.18 }, { 0.4f, .5f, 3, 108, 0.17 } }, 4, 0.2f },
        { "lower FNR but worse (1-AUC)%: not taken", { { 0, .5f, 3, 53, 0.041 },
          { 0.1f, .5f, 3, 49, 0.057 }, { 0.2f, .5f, 3, 50, 0.075 } }, 3, 0.0f },
        { "no FNR gain: W = 0", { { 0, .5f, 3, 10, 0.05 }, { 0.1f, .5f, 3, 10, 0.04 },
          { 0.2f, .5f, 3, 11, 0.03 } }, 3, 0.0f },
        { "a tie goes to the smaller W", { { 0, .5f, 3, 10, 0.05 }, { 0.1f, .5f, 3, 8, 0.05 },
          { 0.2f, .5f, 3, 8, 0.04 } }, 3, 0.1f },
        { "a fixed W alone", { { 0.3f, .5f, 3, 10, 0.05 } }, 1, 0.3f },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        float got = cases[i].wt[crossfit_choose(cases[i].wt, cases[i].n)].w;

        if (got != cases[i].want)
            fail_msg("%s: got W %g, want %g", cases[i].name, (double)got,
                     (double)cases[i].want);
    }
}

/* Through crossfit_threshold: on mail the network already separates, the term
 * cannot help, the grid chooses W = 0 and the threshold is the one without a
 * grid bit for bit; with folds the grid is cut to W = 0. */
static void
test_crossfit_weight_zero(void **state)
{
    static const float grid[] = CROSSFIT_WEIGHTS_DEFAULT;
    struct synth sy;
    struct model_train_opts o;
    struct crossfit_result plain, r;
    const char *names[] = { "g0", "g1", "g2" };
    int grp[600];
    char err[256];

    (void)state;
    assert_int_equal(synth_make(&sy, 300, 300, 4, 12, 40, 7), 0);
    for (size_t i = 0; i < sy.n; i++)
        grp[i] = (int)(i % 3);
    model_train_opts_default(&o);
    o.dims.lin_bits = 12;
    o.dims.emb_bits = 10;
    o.net.epochs = 2;
    o.threads = 1;
    assert_int_equal(crossfit_threshold(sy.ex, sy.n, grp, names, 3, &o, 0.02, 5, NULL, 0,
                                        &plain, err, sizeof(err)), 0);
    assert_int_equal(crossfit_threshold(sy.ex, sy.n, grp, names, 3, &o, 0.02, 5, grid,
                                        CROSSFIT_N_WEIGHTS_DEFAULT, &r, err, sizeof(err)), 0);
    if (r.n_weights != 4)
        fail_msg("grid: got %zu weights evaluated, want 4", r.n_weights);
    if (r.count_weight != 0.0f)
        fail_msg("separable mail: got W %g (FNR %zu at W 0, %zu at it), want 0",
                 (double)r.count_weight, r.wt[0].fn,
                 r.wt[crossfit_choose(r.wt, r.n_weights)].fn);
    if (r.threshold != plain.threshold || r.fn != plain.fn || r.fp != plain.fp)
        fail_msg("W = 0 chosen: got threshold %.9g (fp %zu fn %zu), want %.9g (fp %zu fn %zu)",
                 (double)r.threshold, r.fp, r.fn, (double)plain.threshold, plain.fp, plain.fn);
    crossfit_free(&r);
    crossfit_free(&plain);
    for (size_t i = 0; i < sy.n; i++)
        grp[i] = 0;
    assert_int_equal(crossfit_threshold(sy.ex, sy.n, grp, names, 1, &o, 0.02, 4, grid,
                                        CROSSFIT_N_WEIGHTS_DEFAULT, &r, err, sizeof(err)), 0);
    if (r.n_weights != 1 || r.count_weight != 0.0f)
        fail_msg("folds: got %zu weights, W %g; want 1, W 0", r.n_weights,
                 (double)r.count_weight);
    crossfit_free(&r);
    synth_free(&sy);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threshold_table),
        cmocka_unit_test(test_prior_em),
        cmocka_unit_test(test_fit_sources),
        cmocka_unit_test(test_fit_low_mass),
        cmocka_unit_test(test_blob),
        cmocka_unit_test(test_crossfit_reference),
        cmocka_unit_test(test_crossfit_choose),
        cmocka_unit_test(test_crossfit_weight_zero),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
