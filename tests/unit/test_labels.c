/*
 * test_labels.c - stage L of a user's fit (adapt/labels.c) on a small
 * hand-built model with no pool and no unlabelled mail, so that stage U's
 * model M0 is the global head exactly.
 *
 * Oracles, all written here from scratch: a dense primal Newton on
 * sum_j w_j l(y_j, off_j + c + x_j . r) + lam |r|^2 over the slots the
 * labels touch (slots hashed with adapt_resid_slot, values 1/sqrt(ids));
 * the cross-validation of adapt.h's stage L by brute force (every (a, lam)
 * of the grids, each fold fitted by that Newton, the out-of-fold AUC and
 * log loss computed pair by pair, DeLong's test written out) whose choice
 * must be the product's; labels that agree with M0 keep M0.  The float
 * Cholesky the CV's Newton steps use (linalg_chol_factor_f) against the
 * residual of the system it solves.
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
#include "cv.h"
#include "labels.h"
#include "linalg.h"

#define HID 4
#define N_MSG 60
#define IDS_PER 8
#define MAX_SLOTS (N_MSG * IDS_PER)
#define BITS 20

static double
urand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double) (*s >> 11) + 0.5) / 9007199254740992.0;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return (x > y) - (x < y);
}

struct fixture {
    struct model m;
    uint32_t ids[N_MSG][IDS_PER];
    struct adapt_example fb[N_MSG];
    double o0[N_MSG];                   /* M0 = the global head's logit */
    /* dense features over the touched slots */
    uint32_t slots[MAX_SLOTS];
    size_t n_slots;
    double x[N_MSG][MAX_SLOTS];
};

static double
slot_index(const struct fixture *fx, uint32_t slot)
{
    for (size_t k = 0; k < fx->n_slots; k++)
        if (fx->slots[k] == slot)
            return (double) k;
    return -1;
}

/* Messages of IDS_PER ids from 60; spam when most ids are below 1030 (a rule
 * the global head does not know), or, with agree, when the head says so. */
static struct fixture *
fixture_new(uint64_t seed, int agree, const char *user)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct net_dims d = { 10, 8, 4, HID };
    uint32_t us = adapt_user_seed(user);
    uint64_t s = seed;

    assert_non_null(fx);
    assert_int_equal(net_alloc(&fx->m.net, &d, seed), 0);
    for (size_t i = 0; i < ((size_t) 1 << d.lin_bits); i++)
        fx->m.net.lin[i] = (float) (urand(&s) - 0.5);
    for (size_t k = 0; k < HID; k++)
        fx->m.net.head[k] = (float) (0.5 * ((int) (k % 3) - 1));
    fx->m.net.head[HID] = 0.8f;
    fx->m.net.head[HID + 1] = -0.1f;
    fx->m.threshold = 0.5f;
    for (size_t i = 0; i < N_MSG; i++) {
        size_t n = 0;
        int spamish = 0;

        while (n < IDS_PER) {
            uint32_t id = 1000 + (uint32_t) (urand(&s) * 60);
            int dup = 0;

            for (size_t j = 0; j < n; j++)
                dup |= fx->ids[i][j] == id;
            if (!dup)
                fx->ids[i][n++] = id;
        }
        qsort(fx->ids[i], IDS_PER, sizeof(uint32_t), cmp_u32);
        for (size_t k = 0; k < IDS_PER; k++)
            spamish += fx->ids[i][k] < 1030 ? 1 : -1;
        fx->fb[i].ids = fx->ids[i];
        fx->fb[i].n = IDS_PER;
        adapt_represent(&fx->m, &fx->fb[i]);
        fx->o0[i] = net_head(fx->m.net.head, HID, fx->fb[i].h, fx->fb[i].z);
        fx->fb[i].spam = agree ? fx->o0[i] > 0 : spamish > 0 || (spamish == 0 && i % 2);
        for (size_t k = 0; k < IDS_PER; k++) {
            uint32_t sl = adapt_resid_slot(fx->ids[i][k], us, BITS);
            double at = slot_index(fx, sl);

            if (at < 0) {
                at = (double) fx->n_slots;
                fx->slots[fx->n_slots++] = sl;
            }
            fx->x[i][(size_t) at] += 1 / sqrt((double) IDS_PER);
        }
    }
    return fx;
}

static void
fixture_free(struct fixture *fx)
{
    net_release(&fx->m.net);
    free(fx);
}

static double
logloss(double m)
{
    return m > 0 ? log1p(exp(-m)) : -m + log1p(exp(m));
}

/* Solve a x = b (n x n, row-major, destroyed) by Gaussian elimination with
 * partial pivoting; b becomes x. */
static void
naive_solve(double *a, double *b, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        size_t p = c;

        for (size_t r = c + 1; r < n; r++)
            if (fabs(a[r * n + c]) > fabs(a[p * n + c]))
                p = r;
        for (size_t k = 0; k < n; k++) {
            double t = a[c * n + k];

            a[c * n + k] = a[p * n + k];
            a[p * n + k] = t;
        }
        {
            double t = b[c];

            b[c] = b[p];
            b[p] = t;
        }
        for (size_t r = c + 1; r < n; r++) {
            double f = a[r * n + c] / a[c * n + c];

            for (size_t k = c; k < n; k++)
                a[r * n + k] -= f * a[c * n + k];
            b[r] -= f * b[c];
        }
    }
    for (size_t c = n; c-- > 0;) {
        for (size_t k = c + 1; k < n; k++)
            b[c] -= a[c * n + k] * b[k];
        b[c] /= a[c * n + c];
    }
}

static double
naive_obj(const struct fixture *fx, const double *off, const double *w, double lam,
          const double *th)
{
    size_t S = fx->n_slots;
    double f = 0;

    for (size_t j = 0; j < N_MSG; j++) {
        double t = off[j] + th[S];

        if (w[j] == 0)
            continue;
        for (size_t k = 0; k < S; k++)
            t += fx->x[j][k] * th[k];
        f += w[j] * logloss(fx->fb[j].spam ? t : -t);
    }
    for (size_t k = 0; k < S; k++)
        f += lam * th[k] * th[k];
    return f;
}

/* The reference: th = [r (n_slots); c] minimising the primal objective over
 * the messages with w > 0, by dense Newton with step halving. */
static void
naive_fit(const struct fixture *fx, const double *off, const double *w, double lam,
          int free_c, double *th)
{
    size_t S = fx->n_slots, q = S + 1;
    double *h = malloc(q * q * sizeof(double)), *g = malloc(q * sizeof(double));
    double *t2 = malloc(q * sizeof(double));

    assert_non_null(h);
    assert_non_null(g);
    assert_non_null(t2);
    memset(th, 0, q * sizeof(double));
    for (int it = 0; it < 200; it++) {
        double f = naive_obj(fx, off, w, lam, th), step = 1, gn = 0;

        memset(h, 0, q * q * sizeof(double));
        memset(g, 0, q * sizeof(double));
        for (size_t j = 0; j < N_MSG; j++) {
            double t = off[j] + th[S], p, xv[MAX_SLOTS + 1];

            if (w[j] == 0)
                continue;
            for (size_t k = 0; k < S; k++) {
                t += fx->x[j][k] * th[k];
                xv[k] = fx->x[j][k];
            }
            xv[S] = free_c ? 1 : 0;
            p = 1 / (1 + exp(-t));
            for (size_t k = 0; k < q; k++) {
                g[k] += w[j] * (p - fx->fb[j].spam) * xv[k];
                for (size_t l = 0; l < q; l++)
                    h[k * q + l] += w[j] * p * (1 - p) * xv[k] * xv[l];
            }
        }
        for (size_t k = 0; k < S; k++) {
            g[k] += 2 * lam * th[k];
            h[k * q + k] += 2 * lam;
        }
        if (!free_c)
            h[S * q + S] = 1;
        for (size_t k = 0; k < q; k++) {
            gn = fmax(gn, fabs(g[k]));
            g[k] = -g[k];
        }
        if (gn < 1e-13)
            break;
        naive_solve(h, g, q);
        for (;;) {
            for (size_t k = 0; k < q; k++)
                t2[k] = th[k] + step * g[k];
            if (naive_obj(fx, off, w, lam, t2) <= f || step < 1e-12)
                break;
            step /= 2;
        }
        memcpy(th, t2, q * sizeof(double));
    }
    free(h);
    free(g);
    free(t2);
}

/* Class-balanced weights 1 / (2 n_class) over the messages with keep. */
static void
weights(const struct fixture *fx, const int *keep, double *w)
{
    double cnt[2] = { 0, 0 };

    for (size_t j = 0; j < N_MSG; j++)
        if (keep[j])
            cnt[fx->fb[j].spam]++;
    for (size_t j = 0; j < N_MSG; j++)
        w[j] = keep[j] ? 0.5 / cnt[fx->fb[j].spam] : 0;
}

/* ---- the kernel form's solution is the primal optimum ---------------------- */

static const struct kcase {
    const char *name;
    double lam, a;
    int free_c;
} kcases[] = {
    { "wide lam, a = 1", 1e-1, 1.0, 1 },
    { "lam 1e-3, a = 0.3", 1e-3, 0.3, 1 },
    { "lam 1e-4, a = 0 (labels only)", 1e-4, 0.0, 1 },
    { "lam 1e-3, c fixed at 0", 1e-3, 1.0, 0 },
    /* the narrowest lam of the grid: most Newton steps, most chord steps */
    { "lam 1e-5, a = 1", 1e-5, 1.0, 1 },
};

static void
test_kernel_vs_primal(void **state)
{
    struct fixture *fx = fixture_new(3, 0, "kim@example.org");
    static double K[N_MSG * N_MSG];
    double off[N_MSG], w[N_MSG], u[N_MSG], th[MAX_SLOTS + 1];
    size_t idx[N_MSG];
    uint8_t y[N_MSG];
    int keep[N_MSG];

    (void) state;
    for (size_t i = 0; i < N_MSG; i++) {
        idx[i] = i;
        keep[i] = 1;
        y[i] = fx->fb[i].spam;
        for (size_t l = 0; l < N_MSG; l++) {
            double t = 0;

            for (size_t k = 0; k < fx->n_slots; k++)
                t += fx->x[i][k] * fx->x[l][k];
            K[i * N_MSG + l] = t;
        }
    }
    weights(fx, keep, w);
    for (size_t ci = 0; ci < sizeof(kcases) / sizeof(kcases[0]); ci++) {
        const struct kcase *kc = &kcases[ci];
        double c = 0, worst = 0;

        for (size_t j = 0; j < N_MSG; j++)
            off[j] = kc->a * fx->o0[j];
        memset(u, 0, sizeof(u));
        assert_int_equal(labels_kernel_solve(K, N_MSG, idx, N_MSG, off, y, w, kc->lam,
                                             kc->free_c, u, &c), 0);
        naive_fit(fx, off, w, kc->lam, kc->free_c, th);
        if (fabs(c - th[fx->n_slots]) > 1e-6)
            fail_msg("%s: c got %.9f, want %.9f (dense primal Newton)", kc->name, c,
                     th[fx->n_slots]);
        /* r = sum_j u_j x_j, slot by slot */
        for (size_t k = 0; k < fx->n_slots; k++) {
            double r = 0;

            for (size_t j = 0; j < N_MSG; j++)
                r += u[j] * fx->x[j][k];
            worst = fmax(worst, fabs(r - th[k]));
            if (fabs(r - th[k]) > 1e-6)
                fail_msg("%s: slot %zu weight got %.9f, want %.9f (dense primal Newton)",
                         kc->name, k, r, th[k]);
        }
        if (!kc->free_c && c != 0)
            fail_msg("%s: got c %g, want it left at 0", kc->name, c);
    }
    fixture_free(fx);
}

/* ---- the cross-validated choice is the brute-force reference's -------------- */

static double
naive_auc(const struct fixture *fx, const double *s)
{
    double num = 0, den = 0;

    for (size_t i = 0; i < N_MSG; i++)
        for (size_t j = 0; j < N_MSG; j++)
            if (fx->fb[i].spam && !fx->fb[j].spam) {
                num += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
                den++;
            }
    return num / den;
}

/* DeLong's paired statistic of AUC(s) - AUC(b), from its definition. */
static double
naive_delong(const struct fixture *fx, const double *s, const double *b)
{
    double v10[N_MSG], v01[N_MSG], n1 = 0, n0 = 0, m1 = 0, m0 = 0, q1 = 0, q0 = 0, v;

    for (size_t i = 0; i < N_MSG; i++)
        fx->fb[i].spam ? n1++ : n0++;
    for (size_t i = 0; i < N_MSG; i++) {
        double d = 0;

        for (size_t j = 0; j < N_MSG; j++) {
            size_t sp = fx->fb[i].spam ? i : j, hm = fx->fb[i].spam ? j : i;

            if (fx->fb[j].spam == fx->fb[i].spam)
                continue;
            d += (s[sp] > s[hm] ? 1 : s[sp] == s[hm] ? 0.5 : 0)
                - (b[sp] > b[hm] ? 1 : b[sp] == b[hm] ? 0.5 : 0);
        }
        if (fx->fb[i].spam)
            v10[i] = d / n0;
        else
            v01[i] = d / n1;
    }
    for (size_t i = 0; i < N_MSG; i++)
        if (fx->fb[i].spam)
            m1 += v10[i] / n1;
        else
            m0 += v01[i] / n0;
    for (size_t i = 0; i < N_MSG; i++)
        if (fx->fb[i].spam)
            q1 += (v10[i] - m1) * (v10[i] - m1) / (n1 - 1);
        else
            q0 += (v01[i] - m0) * (v01[i] - m0) / (n0 - 1);
    v = q1 / n1 + q0 / n0;
    if (!(v > 1e-18))
        return m1 > 1e-12 ? HUGE_VAL : -HUGE_VAL;
    return m1 / sqrt(v);
}

/* The choice's score: 1 - AUC + 1e-3 class-balanced log loss. */
static double
naive_score(const struct fixture *fx, const double *pred)
{
    int keep[N_MSG];
    double w[N_MSG], l = 0;

    for (size_t j = 0; j < N_MSG; j++)
        keep[j] = 1;
    weights(fx, keep, w);
    for (size_t j = 0; j < N_MSG; j++)
        l += w[j] * logloss(fx->fb[j].spam ? pred[j] : -pred[j]);
    return 1 - naive_auc(fx, pred) + 1e-3 * l;
}

static const struct ccase {
    const char *name;
    uint64_t seed;
    int agree;              /* labels the global head's own verdicts */
    int want_identity;      /* 1 M0 kept, 0 a fit, -1 whatever the reference says */
} ccases[] = {
    { "labels from a token rule M0 does not know", 3, 0, 0 },
    { "another draw of the token rule", 8, 0, -1 },
    { "labels that are M0's own verdicts", 5, 1, 1 },
};

static void
test_cv_choice_is_reference(void **state)
{
    (void) state;
    for (size_t ci = 0; ci < sizeof(ccases) / sizeof(ccases[0]); ci++) {
        const struct ccase *cc = &ccases[ci];
        const char *user = "lee@example.org";
        struct fixture *fx = fixture_new(cc->seed, cc->agree, user);
        struct adapt_opts o;
        struct adapt_fit_stats st;
        struct user_model *um = NULL;
        double best = HUGE_VAL, want_a = 1, want_lam = 0, th[MAX_SLOTS + 1];
        double off[N_MSG], pred[N_MSG], w[N_MSG];
        int keep[N_MSG];

        for (size_t ai = 0; ai < LABELS_N_A; ai++)
            for (size_t li = 0; li < LABELS_N_LAM; li++) {
                double a = labels_a_grid[ai], lam = labels_lam_grid[li], sc;

                for (size_t j = 0; j < N_MSG; j++)
                    off[j] = a * fx->o0[j];
                for (size_t f = 0; f < CV_FOLDS; f++) {
                    for (size_t j = 0; j < N_MSG; j++)
                        keep[j] = j % CV_FOLDS != f;
                    weights(fx, keep, w);
                    naive_fit(fx, off, w, lam, 1, th);
                    for (size_t j = f; j < N_MSG; j += CV_FOLDS) {
                        pred[j] = off[j] + th[fx->n_slots];
                        for (size_t k = 0; k < fx->n_slots; k++)
                            pred[j] += fx->x[j][k] * th[k];
                    }
                }
                sc = naive_score(fx, pred);
                if (sc < best && naive_delong(fx, pred, fx->o0) >= LABELS_TRUST_Z) {
                    best = sc;
                    want_a = a;
                    want_lam = lam;
                }
            }
        adapt_opts_default(&o);
        o.resid_bits = BITS;
        o.learned = 0;
        assert_int_equal(adapt_fit(&fx->m, user, fx->fb, N_MSG, NULL, 0, &o, &um, &st), 0);
        if (!st.cross_validated)
            fail_msg("%s: %d labels: got no cross-validation, want it", cc->name, N_MSG);
        if (st.label_a != want_a || st.label_lam != want_lam)
            fail_msg("%s: got a %g lam %g, want a %g lam %g (brute-force CV; lam 0 = M0 kept)",
                     cc->name, st.label_a, st.label_lam, want_a, want_lam);
        if (cc->want_identity >= 0 && st.labels_identity != cc->want_identity)
            fail_msg("%s: got M0 kept %d, want %d", cc->name, st.labels_identity,
                     cc->want_identity);
        /* the published model is a M0 + c + r of the reference's full fit */
        for (size_t j = 0; j < N_MSG; j++) {
            off[j] = want_a * fx->o0[j];
            keep[j] = 1;
        }
        weights(fx, keep, w);
        if (want_lam > 0)
            naive_fit(fx, off, w, want_lam, 1, th);
        for (size_t j = 0; j < N_MSG; j++) {
            double want = want_lam > 0 ? off[j] + th[fx->n_slots] : fx->o0[j];
            double got = adapt_logit(&fx->m, um, fx->fb[j].h, fx->fb[j].z, fx->fb[j].ids,
                                     fx->fb[j].n);

            for (size_t k = 0; want_lam > 0 && k < fx->n_slots; k++)
                want += fx->x[j][k] * th[k];
            if (fabs(got - want) > 1e-3 * (1 + fabs(want)))
                fail_msg("%s: message %zu logit got %.6f, want %.6f", cc->name, j, got, want);
        }
        user_model_free(um);
        fixture_free(fx);
    }
}

/* ---- few labels keep M0, and learned messages are judged as taught ---------- */

static void
test_few_labels_keep_m0(void **state)
{
    struct fixture *fx = fixture_new(3, 0, "max@example.org");
    struct adapt_opts o;
    struct adapt_fit_stats st;
    struct user_model *um = NULL;
    size_t n = 10, flipped = 0;

    (void) state;
    adapt_opts_default(&o);
    o.resid_bits = BITS;
    assert_int_equal(adapt_fit(&fx->m, "max@example.org", fx->fb, n, NULL, 0, &o, &um, &st),
                     0);
    if (!st.labels_identity || st.cross_validated)
        fail_msg("%zu labels < cv_min %u: got M0 kept %d, CV %d; want 1, 0", n, o.cv_min,
                 st.labels_identity, st.cross_validated);
    for (size_t j = 0; j < n; j++) {
        double l = adapt_logit(&fx->m, um, fx->fb[j].h, fx->fb[j].z, fx->fb[j].ids,
                               fx->fb[j].n);
        double share = adapt_learned_share(um, fx->fb[j].ids, fx->fb[j].n);

        flipped += fx->fb[j].spam ? l >= LABELS_LEARNED_MARGIN - 1e-3
                                  : l <= -LABELS_LEARNED_MARGIN + 1e-3;
        if (fabs(l - share - fx->o0[j]) > 1e-4)
            fail_msg("message %zu: got %.6f without its learned slot, want M0's %.6f", j,
                     l - share, fx->o0[j]);
    }
    if (flipped != n)
        fail_msg("got %zu of %zu learned messages at their label's margin, want all", flipped,
                 n);
    for (size_t j = n; j < N_MSG; j++)
        if (fabs(adapt_logit(&fx->m, um, fx->fb[j].h, fx->fb[j].z, fx->fb[j].ids,
                             fx->fb[j].n) - fx->o0[j]) > 1e-4)
            fail_msg("unlearned message %zu: got a score other than M0's", j);
    user_model_free(um);
    fixture_free(fx);
}

/* ---- the float Cholesky solves what it factorised ---------------------------- */

static const struct fcase {
    const char *name;
    uint32_t n, rank;           /* A = G G' / rank + shift I, G n x rank */
    double shift;
    int want;                   /* linalg_chol_factor_f's return */
    double tol;                 /* |A x - b| / |b| at most */
} fcases[] = {
    { "1 x 1", 1, 1, 0.5, 0, 1e-6 },
    { "5 x 5, full rank", 5, 5, 1e-2, 0, 1e-5 },
    { "17 x 17 (four-row blocks and a tail)", 17, 17, 1e-3, 0, 1e-4 },
    { "40 x 40, rank 6, the CV's small shift", 40, 6, 2e-5, 0, 1e-2 },
    { "40 x 40, indefinite", 40, 40, -5.0, -1, 0 },
};

static void
test_chol_float(void **state)
{
    uint64_t seed = 77;

    (void) state;
    for (size_t ci = 0; ci < sizeof(fcases) / sizeof(fcases[0]); ci++) {
        const struct fcase *fc = &fcases[ci];
        uint32_t n = fc->n;
        double *a = malloc(n * n * sizeof(double)), *g = malloc(n * fc->rank * sizeof(double));
        double *b = malloc(n * sizeof(double)), *x = malloc(n * sizeof(double));
        float *af = malloc(n * n * sizeof(float));
        double res = 0, nb = 0;
        int rc;

        assert_non_null(a);
        assert_non_null(g);
        assert_non_null(b);
        assert_non_null(x);
        assert_non_null(af);
        for (size_t k = 0; k < n * fc->rank; k++)
            g[k] = urand(&seed) - 0.5;
        for (uint32_t i = 0; i < n; i++) {
            b[i] = x[i] = urand(&seed) - 0.5;
            for (uint32_t l = 0; l < n; l++) {
                double t = 0;

                for (uint32_t k = 0; k < fc->rank; k++)
                    t += g[i * fc->rank + k] * g[l * fc->rank + k];
                a[i * n + l] = t / fc->rank + (i == l ? fc->shift : 0);
                af[i * n + l] = (float) a[i * n + l];
            }
        }
        rc = linalg_chol_factor_f(af, n);
        if (rc != fc->want)
            fail_msg("%s: got return %d, want %d", fc->name, rc, fc->want);
        if (rc == 0) {
            linalg_chol_apply_f(af, n, x);
            for (uint32_t i = 0; i < n; i++) {
                double t = -b[i];

                for (uint32_t l = 0; l < n; l++)
                    t += a[i * n + l] * x[l];
                res += t * t;
                nb += b[i] * b[i];
            }
            if (!(sqrt(res / nb) <= fc->tol))
                fail_msg("%s: got relative residual %g, want <= %g", fc->name,
                         sqrt(res / nb), fc->tol);
        }
        free(a);
        free(g);
        free(b);
        free(x);
        free(af);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_vs_primal),
        cmocka_unit_test(test_cv_choice_is_reference),
        cmocka_unit_test(test_few_labels_keep_m0),
        cmocka_unit_test(test_chol_float),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
