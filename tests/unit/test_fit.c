/*
 * test_fit.c - a user's head and hashed residual (adapt/fit.c), on a small
 * synthetic model built by hand (net_alloc weights, our own source pool).
 *
 * Oracles: the fitted head and residual against plain gradient descent on the
 * objective written in adapt.h (computed here from scratch, slots hashed here
 * with XXH32, the residual scaled by 1/sqrt(ids)); no data gives the global head bit for bit; the blob round-trips
 * and every truncation or flipped byte is refused; one user's feedback never
 * reaches another user's residual.
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
#include <xxhash.h>

#include "adapt.h"
#include "cv.h"
#include "reweight.h"
#include "selftrain.h"

#define HID 4
#define P (HID + 1)
#define Q (HID + 2)
#define N_POOL 300
#define IDS_PER 8
#define MAX_FB 64

static double
urand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double) (*s >> 11) + 0.5) / 9007199254740992.0;
}

static double
gauss(uint64_t *s)
{
    return sqrt(-2 * log(urand(s))) * cos(2 * M_PI * urand(s));
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return (x > y) - (x < y);
}

/* A hand-built model: random body, a fixed global head, a synthetic pool
 * labelled by a logistic rule that differs from the global head. */
struct fixture {
    struct model m;
    float pool[N_POOL * P];
    uint8_t label[N_POOL];
    /* feedback and unlabelled messages */
    uint32_t ids[2 * MAX_FB][IDS_PER];
    struct adapt_example fb[MAX_FB], unl[MAX_FB];
};

static struct fixture *
fixture_new(uint64_t seed)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    struct net_dims d = { 10, 8, 4, HID };
    uint64_t s = seed;
    size_t i, k;

    assert_non_null(fx);
    assert_int_equal(net_alloc(&fx->m.net, &d, seed), 0);
    for (i = 0; i < ((size_t) 1 << d.lin_bits); i++)
        fx->m.net.lin[i] = (float) (0.3 * gauss(&s));
    for (k = 0; k < HID; k++)
        fx->m.net.head[k] = (float) (0.5 * ((int) (k % 3) - 1));
    fx->m.net.head[HID] = 0.8f;
    fx->m.net.head[HID + 1] = -0.1f;
    for (i = 0; i < N_POOL; i++) {
        float *row = fx->pool + i * P;
        double t = 0.2;

        for (k = 0; k < HID; k++) {
            row[k] = (float) tanh(gauss(&s));
            t += (k == 0 ? 1.2 : -0.4) * row[k];
        }
        row[HID] = (float) (1.5 * gauss(&s));
        t += 0.6 * row[HID] + 0.8 * gauss(&s);
        fx->label[i] = t > 0;
    }
    fx->m.pool_n = N_POOL;
    fx->m.pool_rep = fx->pool;
    fx->m.pool_label = fx->label;
    fx->m.threshold = 0.5f;
    /* Messages: IDS_PER ids out of a small vocabulary, so slots are shared;
     * ids below 1030 lean spam.  Unlabelled ones come from a shifted range. */
    for (i = 0; i < 2 * MAX_FB; i++) {
        uint32_t *ids = fx->ids[i], base = i < MAX_FB ? 1000 : 1020;
        size_t n = 0;
        int spamish = 0;

        while (n < IDS_PER) {
            uint32_t id = base + (uint32_t) (urand(&s) * 60), j;
            int dup = 0;

            for (j = 0; j < n; j++)
                dup |= ids[j] == id;
            if (!dup)
                ids[n++] = id;
        }
        qsort(ids, IDS_PER, sizeof(uint32_t), cmp_u32);
        for (k = 0; k < IDS_PER; k++)
            spamish += ids[k] < 1030 ? 1 : -1;
        if (i < MAX_FB) {
            fx->fb[i].ids = ids;
            fx->fb[i].n = IDS_PER;
            fx->fb[i].spam = spamish > 0 || (spamish == 0 && i % 2);
            adapt_represent(&fx->m, &fx->fb[i]);
        } else {
            fx->unl[i - MAX_FB].ids = ids;
            fx->unl[i - MAX_FB].n = IDS_PER;
            adapt_represent(&fx->m, &fx->unl[i - MAX_FB]);
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

static uint32_t
oracle_slot(uint32_t id, uint32_t seed, uint32_t bits)
{
    uint8_t le[4] = { id & 0xff, (id >> 8) & 0xff, (id >> 16) & 0xff, id >> 24 };

    return XXH32(le, 4, seed) & ((1u << bits) - 1);
}

/* The learned-message slot as adapt.h describes it: XXH32 chained over the
 * ids' little-endian bytes from seed ^ "LRND", the top bit set. */
static uint32_t
oracle_learned_slot(const uint32_t *ids, size_t n, uint32_t seed)
{
    uint32_t h = seed ^ 0x4c524e44u;
    size_t i;

    for (i = 0; i < n; i++) {
        uint8_t le[4] = { ids[i] & 0xff, (ids[i] >> 8) & 0xff, (ids[i] >> 16) & 0xff,
                          ids[i] >> 24 };

        h = XXH32(le, 4, h);
    }
    return 0x80000000u | (h & 0x7fffffffu);
}

/* ---- the oracle: plain gradient descent on the adapt.h objective ---------- */

struct oracle {
    uint32_t slots[MAX_FB * IDS_PER];
    size_t n_slots;
    uint32_t fbs[MAX_FB][IDS_PER];  /* index into slots */
    double v[Q], r[MAX_FB * IDS_PER];
};

static size_t
slot_index(struct oracle *or, uint32_t slot)
{
    size_t i;

    for (i = 0; i < or->n_slots; i++)
        if (or->slots[i] == slot)
            return i;
    or->slots[or->n_slots] = slot;
    return or->n_slots++;
}

static double
rowlogit(const double *v, const float *h, float z)
{
    double t = v[HID + 1] + v[HID] * z;
    int k;

    for (k = 0; k < HID; k++)
        t += v[k] * h[k];
    return t;
}

/* Gradient of F at (v, r) into gv, gr; returns F.  pool_on: the pool term is
 * present; head_fb: the feedback term reaches v; resid: r is present. */
static double
oracle_grad(const struct fixture *fx, const struct oracle *or, const double *pw,
            size_t n_fb, double lam, double mu, double rho, int pool_on, int head_fb,
            int resid, const double *v, const double *r, double *gv, double *gr)
{
    const float *vg = fx->m.net.head;
    double f = 0;
    size_t i, j, k;

    memset(gv, 0, Q * sizeof(double));
    memset(gr, 0, or->n_slots * sizeof(double));
    for (i = 0; pool_on && i < N_POOL; i++) {
        const float *row = fx->pool + i * P;
        double t = rowlogit(v, row, row[HID]), pr = 1 / (1 + exp(-t)), e;
        int y = fx->label[i];

        f += pw[i] * (y ? log1p(exp(-t)) : log1p(exp(t)));
        e = pw[i] * (pr - y);
        for (k = 0; k < HID; k++)
            gv[k] += e * row[k];
        gv[HID] += e * row[HID];
        gv[HID + 1] += e;
    }
    for (j = 0; j < n_fb; j++) {
        const struct adapt_example *ex = &fx->fb[j];
        double t = rowlogit(v, ex->h, ex->z), pr, e;

        for (k = 0; resid && k < IDS_PER; k++)
            t += r[or->fbs[j][k]] / sqrt(IDS_PER);
        pr = 1 / (1 + exp(-t));
        f += lam * (ex->spam ? log1p(exp(-t)) : log1p(exp(t)));
        e = lam * (pr - ex->spam);
        if (head_fb) {
            for (k = 0; k < HID; k++)
                gv[k] += e * ex->h[k];
            gv[HID] += e * ex->z;
            gv[HID + 1] += e;
        }
        for (k = 0; resid && k < IDS_PER; k++)
            gr[or->fbs[j][k]] += e / sqrt(IDS_PER);
    }
    for (k = 0; k < Q; k++) {
        f += mu * (v[k] - vg[k]) * (v[k] - vg[k]);
        gv[k] += 2 * mu * (v[k] - vg[k]);
    }
    for (k = 0; resid && k < or->n_slots; k++) {
        f += lam * rho * r[k] * r[k];
        gr[k] += 2 * lam * rho * r[k];
    }
    return f;
}

struct fit_case {
    const char *name;
    int use_reweight, use_head, use_resid;
    size_t n_fb, n_unl;
    float lambda, mu, resid_l2;
};

static const struct fit_case fit_cases[] = {
    { "head and residual", 0, 1, 1, 40, 0, 0.05f, 0.1f, 0.5f },
    { "head only", 0, 1, 0, 40, 0, 0.05f, 0.1f, 0.5f },
    { "residual only", 0, 0, 1, 40, 0, 0.05f, 0.1f, 0.5f },
    { "reweighted, head and residual", 1, 1, 1, 30, 60, 0.1f, 0.05f, 1.0f },
    { "reweighted pool alone", 1, 0, 0, 0, 60, 0.1f, 0.05f, 1.0f },
    { "strong feedback", 0, 1, 1, 64, 0, 0.3f, 0.05f, 0.3f },
};

static void
test_fit_vs_gradient_descent(void **state)
{
    const char *user = "carol@example.org";
    size_t ci;

    (void) state;
    /* every case twice: residual through the dual, then through primal Newton-CG */
    for (ci = 0; ci < 2 * sizeof(fit_cases) / sizeof(fit_cases[0]); ci++) {
        const struct fit_case *fc = &fit_cases[ci % (sizeof(fit_cases) / sizeof(fit_cases[0]))];
        int primal = ci >= sizeof(fit_cases) / sizeof(fit_cases[0]);
        struct fixture *fx = fixture_new(42 + ci % (sizeof(fit_cases) / sizeof(fit_cases[0])));
        struct oracle *or = calloc(1, sizeof(*or));
        struct adapt_opts o;
        struct adapt_fit_stats st;
        struct user_model *um = NULL;
        uint32_t seed = XXH32(user, strlen(user), 0x53505348u);
        double pw[N_POOL], cnt[2] = { 0, 0 }, gv[Q], *gr, lip = 0;
        float beta[N_POOL];
        int pool_on = fc->use_head || (fc->use_reweight && fc->n_unl >= 2);
        size_t i, j, k, it;

        assert_non_null(or);
        adapt_opts_default(&o);
        o.use_reweight = fc->use_reweight;
        o.use_head = fc->use_head;
        o.use_resid = fc->use_resid;
        o.lambda = fc->lambda;
        o.mu = fc->mu;
        o.resid_l2 = fc->resid_l2;
        o.resid_bits = 12;
        o.pseudo = 0;           /* tested on its own below */
        o.learned = 0;          /* the learned-message slot too */
        o.dual_max = primal ? 0 : 1000;
        o.labels = 0;           /* the joint objective; stage L in test_labels */
        assert_int_equal(adapt_fit(&fx->m, user, fx->fb, fc->n_fb, fx->unl, fc->n_unl, &o,
                                   &um, &st), 0);
        assert_non_null(um);

        /* beta: the same deterministic estimator (tested in test_reweight). */
        for (i = 0; i < N_POOL; i++)
            beta[i] = 1.0f;
        if (fc->use_reweight && fc->n_unl >= 2) {
            float tgt[MAX_FB * P];
            struct adapt_domain dom;

            for (j = 0; j < fc->n_unl; j++) {
                memcpy(tgt + j * P, fx->unl[j].h, HID * sizeof(float));
                tgt[j * P + HID] = fx->unl[j].z;
            }
            assert_int_equal(reweight_fit(fx->pool, N_POOL, tgt, fc->n_unl, HID,
                                            o.domain_l2, o.clip, beta, &dom), 0);
        }
        for (i = 0; i < N_POOL; i++)
            cnt[fx->label[i]] += beta[i];
        for (i = 0; i < N_POOL; i++)
            pw[i] = beta[i] / (2 * cnt[fx->label[i]]);
        for (j = 0; j < fc->n_fb; j++)
            for (k = 0; k < IDS_PER; k++)
                or->fbs[j][k] = (uint32_t) slot_index(or, oracle_slot(fx->fb[j].ids[k], seed, 12));
        if (!fc->use_resid)
            or->n_slots = 0;
        gr = calloc(or->n_slots + 1, sizeof(double));
        assert_non_null(gr);

        /* Step 1/L with L bounding the Hessian of the joint objective. */
        for (i = 0; pool_on && i < N_POOL; i++) {
            double xx = 1;

            for (k = 0; k < P; k++)
                xx += (double) fx->pool[i * P + k] * fx->pool[i * P + k];
            lip += pw[i] * xx / 4;
        }
        for (j = 0; j < fc->n_fb; j++) {
            double xx = 1 + (double) fx->fb[j].z * fx->fb[j].z;
            size_t a, b;

            /* |phi_j|^2: the squared count of each slot in the message */
            for (a = 0; fc->use_resid && a < IDS_PER; a++) {
                size_t same = 0;

                for (b = 0; b < IDS_PER; b++)
                    same += or->fbs[j][a] == or->fbs[j][b];
                xx += (double) same / IDS_PER;
            }

            for (k = 0; k < HID; k++)
                xx += (double) fx->fb[j].h[k] * fx->fb[j].h[k];
            lip += fc->lambda * xx / 4;
        }
        lip += 2 * (fc->mu + fc->lambda * fc->resid_l2);
        for (k = 0; k < Q; k++)
            or->v[k] = fx->m.net.head[k];
        for (it = 0; it < 2000000; it++) {
            double gn = 0;

            (void) oracle_grad(fx, or, pw, fc->n_fb, fc->lambda, fc->mu, fc->resid_l2,
                               pool_on, fc->use_head, fc->use_resid, or->v, or->r, gv, gr);
            for (k = 0; k < Q; k++)
                gn += pool_on || fc->use_head ? gv[k] * gv[k] : 0;
            for (k = 0; k < or->n_slots; k++)
                gn += gr[k] * gr[k];
            if (gn < 1e-24)
                break;
            for (k = 0; (pool_on || fc->use_head) && k < Q; k++)
                or->v[k] -= gv[k] / lip;
            for (k = 0; k < or->n_slots; k++)
                or->r[k] -= gr[k] / lip;
        }
        if (it == 2000000)
            fail_msg("%s: gradient descent did not converge", fc->name);

        for (k = 0; k < Q; k++)
            if (fabs(um->head[k] - or->v[k]) > 2e-5 * (1 + fabs(or->v[k])))
                fail_msg("%s (%s): head[%zu] got %.7f, want %.7f (gradient descent)", fc->name,
                         primal ? "primal" : "dual", k, um->head[k], or->v[k]);
        if (um->n_resid != or->n_slots)
            fail_msg("%s: got %u residual entries, want %zu", fc->name, um->n_resid,
                     or->n_slots);
        for (k = 0; k < or->n_slots; k++) {
            uint32_t m;
            int found = 0;

            for (m = 0; m < um->n_resid; m++)
                if (um->resid_slot[m] == or->slots[k]) {
                    found = 1;
                    if (fabs(um->resid_w[m] - or->r[k]) > 2e-5 * (1 + fabs(or->r[k])))
                        fail_msg("%s (%s): residual of slot %u got %.7f, want %.7f", fc->name,
                                 primal ? "primal" : "dual", or->slots[k], um->resid_w[m],
                                 or->r[k]);
                }
            if (!found)
                fail_msg("%s: slot %u missing from the residual", fc->name, or->slots[k]);
        }
        for (k = 1; k < um->n_resid; k++)
            if (um->resid_slot[k] <= um->resid_slot[k - 1])
                fail_msg("%s: residual slots not ascending at %zu", fc->name, k);
        free(gr);
        free(or);
        user_model_free(um);
        fixture_free(fx);
    }
}

/* ---- no data, switches off: the global head, bit for bit ------------------ */

struct global_case {
    const char *name;
    size_t n_fb, n_unl;
    int use_reweight, use_head, use_resid;
};

static const struct global_case global_cases[] = {
    { "no data at all", 0, 0, 1, 1, 1 },
    { "one unlabelled message", 0, 1, 1, 1, 1 },
    { "unlabelled only, reweighting off", 0, 50, 0, 1, 1 },
    { "feedback, every part off", 20, 50, 0, 0, 0 },
};

static void
test_no_data_is_global_head(void **state)
{
    struct fixture *fx = fixture_new(7);
    size_t ci;

    (void) state;
    for (ci = 0; ci < sizeof(global_cases) / sizeof(global_cases[0]); ci++) {
        const struct global_case *gc = &global_cases[ci];
        struct adapt_opts o;
        struct user_model *um = NULL;
        struct adapt_fit_stats st;
        size_t j;

        adapt_opts_default(&o);
        o.use_reweight = gc->use_reweight;
        o.use_head = gc->use_head;
        o.use_resid = gc->use_resid;
        assert_int_equal(adapt_fit(&fx->m, "dave@example.org", fx->fb, gc->n_fb, fx->unl,
                                   gc->n_unl, &o, &um, &st), 0);
        if (memcmp(um->head, fx->m.net.head, Q * sizeof(float)) != 0)
            fail_msg("%s: got a head different from the global head", gc->name);
        if (um->n_resid != 0)
            fail_msg("%s: got %u residual entries, want 0", gc->name, um->n_resid);
        for (j = 0; j < MAX_FB; j++) {
            float a = adapt_score(&fx->m, um, fx->fb[j].ids, fx->fb[j].n);
            float b = adapt_score(&fx->m, NULL, fx->fb[j].ids, fx->fb[j].n);

            if (memcmp(&a, &b, sizeof(a)) != 0)
                fail_msg("%s: message %zu scored %.9g, global head %.9g", gc->name, j, a, b);
        }
        user_model_free(um);
    }
    fixture_free(fx);
}

/* ---- scoring: adapt_score against a naive sum ---------------------------- */

static void
test_score_is_head_plus_residual(void **state)
{
    struct fixture *fx = fixture_new(8);
    struct adapt_opts o;
    struct user_model *um = NULL;
    size_t j, k, m;

    (void) state;
    adapt_opts_default(&o);
    o.lambda = 0.2f;
    o.mu = 0.05f;
    assert_int_equal(adapt_fit(&fx->m, "erin@example.org", fx->fb, 32, fx->unl, 32, &o, &um,
                               NULL), 0);
    assert_true(um->n_resid > 0);
    for (j = 0; j < MAX_FB; j++) {
        const struct adapt_example *ex = j < 32 ? &fx->fb[j] : &fx->unl[j];
        double t = um->head[HID + 1] + um->head[HID] * ex->z, want, rs = 0;
        float got;

        for (k = 0; k < HID; k++)
            t += um->head[k] * ex->h[k];
        for (k = 0; k < ex->n; k++)
            for (m = 0; m < um->n_resid; m++)
                if (um->resid_slot[m] == oracle_slot(ex->ids[k], um->seed, um->resid_bits))
                    rs += um->resid_w[m];
        /* the learned-message slot, ceil(32 sqrt(n)) times */
        for (m = 0; m < um->n_resid; m++)
            if (um->resid_slot[m] == oracle_learned_slot(ex->ids, ex->n, um->seed))
                rs += ceil(32.0 * sqrt((double) ex->n)) * um->resid_w[m];
        want = 1 / (1 + exp(-(t + rs / sqrt((double) ex->n))));
        got = adapt_score(&fx->m, um, ex->ids, ex->n);
        if (fabs(got - want) > 1e-5)
            fail_msg("message %zu: got %.7f, want %.7f", j, got, want);
    }
    user_model_free(um);
    fixture_free(fx);
}

/* ---- feedback moves the user's scores toward its labels ------------------- */

static void
test_feedback_is_learned(void **state)
{
    struct fixture *fx = fixture_new(9);
    struct adapt_opts o;
    struct user_model *um = NULL;
    struct adapt_fit_stats st;
    double before = 0, after = 0;
    size_t j;

    (void) state;
    adapt_opts_default(&o);
    o.resid_l2 = 0.25f;     /* a weak pull to zero: the feedback must be learned */
    assert_int_equal(adapt_fit(&fx->m, "frank@example.org", fx->fb, MAX_FB, fx->unl, MAX_FB,
                               &o, &um, &st), 0);
    for (j = 0; j < MAX_FB; j++) {
        double g = adapt_score(&fx->m, NULL, fx->fb[j].ids, fx->fb[j].n);
        double u = adapt_score(&fx->m, um, fx->fb[j].ids, fx->fb[j].n);

        before += fx->fb[j].spam ? -log(g) : -log(1 - g);
        after += fx->fb[j].spam ? -log(u) : -log(1 - u);
    }
    if (!(after < 0.8 * before))
        fail_msg("feedback log loss got %.3f after fitting, want < 0.8 x %.3f before", after,
                 before);
    /* 64 labels >= cv_min: lambda and mu come from the CV grid. */
    if (!st.cross_validated)
        fail_msg("64 labels: got no cross-validation, want it");
    if (!(st.cv_err_after >= 0 && st.cv_err_after <= 1 && st.cv_err_before >= 0
          && st.cv_err_before <= 1))
        fail_msg("got CV errors %g / %g, want rates in [0, 1]", st.cv_err_before,
                 st.cv_err_after);
    if (!(st.domain_auc > 0.5))
        fail_msg("unlabelled mail from another id range: got domain AUC %.3f, want > 0.5",
                 st.domain_auc);
    user_model_free(um);
    fixture_free(fx);
}

/* ---- the cross-validated choice is the grid's argmin ------------------------ */

/*
 * The CV's choice of lambda and mu against an exhaustive reference: every
 * point of the grid (cv.h) cross-validated by brute force here, each fold's
 * model fitted from scratch by adapt_fit() with that lambda and mu given and
 * scored on the held-out fold by adapt_logit(); the product's choice must be
 * the point with the least held-out log loss.  Without a pool (pool_n = 0)
 * the CV's pool model (its second-order model at the global head) is exact,
 * so the reference and the CV minimise the same objectives; cv_fb_max = 0
 * puts every label in the folds, message j in fold j % CV_FOLDS.
 */
static void
test_cv_choice_is_grid_argmin(void **state)
{
    struct fixture *fx = fixture_new(9);
    struct adapt_opts o, of;
    struct user_model *um = NULL;
    struct adapt_fit_stats st;
    struct adapt_example train[MAX_FB];
    double loss[CV_N_SCALE][CV_N_SCALE], lo = HUGE_VAL, hi = -HUGE_VAL;
    size_t li, mi, bl = 0, bm = 0, f, j, n;
    float want_lam, want_mu;

    (void) state;
    fx->m.pool_n = 0;
    adapt_opts_default(&o);
    o.resid_l2 = 0.25f;
    o.cv_fb_max = 0;
    o.labels = 0;           /* the joint fit's CV; stage L's in test_labels */
    for (li = 0; li < CV_N_SCALE; li++)
        for (mi = 0; mi < CV_N_SCALE; mi++) {
            loss[li][mi] = 0;
            of = o;
            of.lambda = CV_LAMBDA_DEFAULT * cv_grid_scale[li];
            of.mu = CV_MU_DEFAULT * cv_grid_scale[mi];
            for (f = 0; f < CV_FOLDS; f++) {
                for (j = 0, n = 0; j < MAX_FB; j++)
                    if (j % CV_FOLDS != f)
                        train[n++] = fx->fb[j];
                assert_int_equal(adapt_fit(&fx->m, "grace@example.org", train, n, NULL, 0,
                                           &of, &um, &st), 0);
                for (j = f; j < MAX_FB; j += CV_FOLDS) {
                    double t = adapt_logit(&fx->m, um, fx->fb[j].h, fx->fb[j].z,
                                           fx->fb[j].ids, fx->fb[j].n);

                    loss[li][mi] += fx->fb[j].spam ? log1p(exp(-t)) : log1p(exp(t));
                }
                um = user_model_free(um);
            }
            /* ties go to the first point, as in the CV */
            if (loss[li][mi] < loss[bl][bm]) {
                bl = li;
                bm = mi;
            }
            lo = fmin(lo, loss[li][mi]);
            hi = fmax(hi, loss[li][mi]);
        }
    if (!(hi - lo > 1e-3))
        fail_msg("grid losses %.6f .. %.6f: want them apart, else the choice tests nothing",
                 lo, hi);
    /* Without a pool only mu / lambda matters, so points on one ratio tie; the
     * argmin must lead every other ratio by more than the float rounding of
     * a stored model (about 1e-6 here), else the comparison would be decided
     * by rounding.  (This fixture: 1.6e-4.) */
    for (li = 0; li < CV_N_SCALE; li++)
        for (mi = 0; mi < CV_N_SCALE; mi++)
            if (cv_grid_scale[mi] / cv_grid_scale[li] != cv_grid_scale[bm] / cv_grid_scale[bl]
                && !(loss[li][mi] - loss[bl][bm] > 1e-5))
                fail_msg("grid point (%zu, %zu) within 1e-5 of the argmin: the reference "
                         "cannot decide", li, mi);
    assert_int_equal(adapt_fit(&fx->m, "grace@example.org", fx->fb, MAX_FB, NULL, 0, &o, &um,
                               &st), 0);
    want_lam = (float) (CV_LAMBDA_DEFAULT * cv_grid_scale[bl]);
    want_mu = (float) (CV_MU_DEFAULT * cv_grid_scale[bm]);
    if (!st.cross_validated || st.lambda != want_lam || st.mu != want_mu) {
        for (li = 0; li < CV_N_SCALE; li++)
            for (mi = 0; mi < CV_N_SCALE; mi++)
                print_message("lambda %g mu %g: held-out log loss %.6f\n",
                              CV_LAMBDA_DEFAULT * cv_grid_scale[li],
                              CV_MU_DEFAULT * cv_grid_scale[mi], loss[li][mi]);
        fail_msg("got lambda %g mu %g (cross-validated %d), want the argmin lambda %g mu %g",
                 st.lambda, st.mu, st.cross_validated, want_lam, want_mu);
    }
    user_model_free(um);
    fixture_free(fx);
}

/* ---- cross-validation on a bounded sample ---------------------------------- */

/* Past cv_fb_max labels lambda and mu come from a sample of them, but the
 * final fit sees every label: refitting with the chosen lambda and mu given
 * must give the same model, byte for byte. */
static void
test_cv_sample_final_fit_sees_all(void **state)
{
    struct fixture *fx = fixture_new(9);
    struct adapt_opts o;
    struct user_model *um = NULL, *um2 = NULL;
    struct adapt_fit_stats st;
    uint8_t *b1, *b2;
    size_t l1, l2;

    (void) state;
    adapt_opts_default(&o);
    o.resid_l2 = 0.25f;
    o.cv_fb_max = 20;
    assert_int_equal(adapt_fit(&fx->m, "frank@example.org", fx->fb, MAX_FB, fx->unl, MAX_FB,
                               &o, &um, &st), 0);
    if (!st.cross_validated)
        fail_msg("64 labels, cv_fb_max 20: got no cross-validation, want it");
    if (!(st.cv_err_after >= 0 && st.cv_err_after <= 1))
        fail_msg("got CV error %g, want a rate in [0, 1]", st.cv_err_after);
    if (st.n_feedback != MAX_FB)
        fail_msg("got %u feedback counted, want %d", st.n_feedback, MAX_FB);
    o.lambda = st.lambda;
    o.mu = st.mu;
    assert_int_equal(adapt_fit(&fx->m, "frank@example.org", fx->fb, MAX_FB, fx->unl, MAX_FB,
                               &o, &um2, NULL), 0);
    b1 = user_model_encode(um, &l1);
    b2 = user_model_encode(um2, &l2);
    assert_non_null(b1);
    assert_non_null(b2);
    if (l1 != l2 || memcmp(b1, b2, l1) != 0)
        fail_msg("the model fitted after a sampled CV differs from the one fitted with its "
                 "lambda %g and mu %g given (%zu vs %zu bytes)", st.lambda, st.mu, l1, l2);
    free(b1);
    free(b2);
    user_model_free(um);
    user_model_free(um2);
    fixture_free(fx);
}

/* ---- the blob ------------------------------------------------------------- */

static void
test_blob_round_trip(void **state)
{
    struct fixture *fx = fixture_new(10);
    struct adapt_opts o;
    struct user_model *um = NULL, *back, *again = NULL;
    uint8_t *blob, *blob2, *bad;
    size_t len, len2, cut, j;

    (void) state;
    adapt_opts_default(&o);
    o.lambda = 0.1f;
    o.mu = 0.05f;
    assert_int_equal(adapt_fit(&fx->m, "gina@example.org", fx->fb, 20, fx->unl, 20, &o, &um,
                               NULL), 0);
    um->version = 0x100000002ULL;
    blob = user_model_encode(um, &len);
    assert_non_null(blob);
    back = user_model_decode(blob, len);
    assert_non_null(back);
    if (back->hidden != um->hidden || back->seed != um->seed
        || back->resid_bits != um->resid_bits || back->n_resid != um->n_resid
        || back->version != um->version
        || memcmp(back->head, um->head, Q * sizeof(float)) != 0
        || memcmp(back->resid_slot, um->resid_slot, um->n_resid * 4) != 0
        || memcmp(back->resid_w, um->resid_w, um->n_resid * 4) != 0)
        fail_msg("decode(encode(m)) differs from m");
    for (j = 0; j < MAX_FB; j++)
        assert_true(adapt_score(&fx->m, um, fx->fb[j].ids, IDS_PER)
                    == adapt_score(&fx->m, back, fx->fb[j].ids, IDS_PER));
    /* Deterministic: the same fit again is the same bytes. */
    assert_int_equal(adapt_fit(&fx->m, "gina@example.org", fx->fb, 20, fx->unl, 20, &o, &again,
                               NULL), 0);
    again->version = um->version;
    blob2 = user_model_encode(again, &len2);
    if (len2 != len || memcmp(blob, blob2, len) != 0)
        fail_msg("refitting the same data: got a different blob");
    /* Every truncation, and a blob with one trailing byte, is refused. */
    for (cut = 0; cut < len; cut++)
        if (user_model_decode(blob, cut) != NULL)
            fail_msg("blob cut to %zu of %zu bytes: got a model, want NULL", cut, len);
    bad = malloc(len + 1);
    assert_non_null(bad);
    memcpy(bad, blob, len);
    bad[len] = 0;
    if (user_model_decode(bad, len + 1) != NULL)
        fail_msg("blob with a trailing byte: got a model, want NULL");
    /* Any one flipped byte is refused (checksum, or a header check first). */
    for (cut = 0; cut < len; cut++) {
        struct user_model *x;

        memcpy(bad, blob, len);
        bad[cut] ^= 0x5a;
        if ((x = user_model_decode(bad, len)) != NULL) {
            user_model_free(x);
            fail_msg("byte %zu flipped: got a model, want NULL", cut);
        }
    }
    assert_null(user_model_decode(NULL, 0));
    free(bad);
    free(blob);
    free(blob2);
    user_model_free(back);
    user_model_free(again);
    user_model_free(um);
    assert_null(user_model_free(NULL));
    fixture_free(fx);
}

/* ---- users are isolated ---------------------------------------------------- */

static void
test_users_isolated(void **state)
{
    struct fixture *fx = fixture_new(11);
    struct adapt_opts o;
    struct user_model *alice = NULL, *bob = NULL, *bob2 = NULL;
    uint32_t sa = adapt_user_seed("alice@example.org"), sb = adapt_user_seed("bob@example.org");
    uint32_t want[MAX_FB * (IDS_PER + 1)];
    size_t n_want = 0, i, k, shared = 0;
    uint8_t *b1, *b2;
    size_t l1, l2;

    (void) state;
    assert_true(sa != sb);
    adapt_opts_default(&o);
    o.lambda = 0.1f;
    o.mu = 0.05f;
    o.resid_bits = 16;
    /* Bob with his own feedback, fitted before and after Alice learns. */
    assert_int_equal(adapt_fit(&fx->m, "bob@example.org", fx->fb + 40, 20, NULL, 0, &o, &bob,
                               NULL), 0);
    assert_int_equal(adapt_fit(&fx->m, "alice@example.org", fx->fb, 40, NULL, 0, &o, &alice,
                               NULL), 0);
    assert_int_equal(adapt_fit(&fx->m, "bob@example.org", fx->fb + 40, 20, NULL, 0, &o, &bob2,
                               NULL), 0);
    b1 = user_model_encode(bob, &l1);
    b2 = user_model_encode(bob2, &l2);
    if (l1 != l2 || memcmp(b1, b2, l1) != 0)
        fail_msg("Alice's feedback changed Bob's model");
    /* Alice's residual covers exactly her ids hashed with her seed, and each
     * of her messages' learned slot under her seed. */
    for (i = 0; i < 40; i++) {
        for (k = 0; k < IDS_PER; k++)
            want[n_want++] = oracle_slot(fx->fb[i].ids[k], sa, 16);
        want[n_want++] = oracle_learned_slot(fx->fb[i].ids, IDS_PER, sa);
    }
    qsort(want, n_want, sizeof(uint32_t), cmp_u32);
    for (i = 0, k = 0; i < n_want; i++)
        if (k == 0 || want[i] != want[k - 1])
            want[k++] = want[i];
    n_want = k;
    if (alice->n_resid != n_want)
        fail_msg("Alice: got %u residual slots, want %zu", alice->n_resid, n_want);
    for (i = 0; i < alice->n_resid && i < n_want; i++)
        if (alice->resid_slot[i] != want[i])
            fail_msg("Alice: slot %zu got %u, want %u", i, alice->resid_slot[i], want[i]);
    /* The same ids under Bob's seed land elsewhere: of her ~60 slots in 2^16,
     * chance overlap with Bob's is a slot or two. */
    for (i = 0; i < bob->n_resid; i++)
        for (k = 0; k < alice->n_resid; k++)
            shared += bob->resid_slot[i] == alice->resid_slot[k];
    if (shared > 3)
        fail_msg("got %zu slots shared by Alice and Bob, want <= 3", shared);
    free(b1);
    free(b2);
    user_model_free(alice);
    user_model_free(bob);
    user_model_free(bob2);
    fixture_free(fx);
}

/* ---- pseudo-labels are feedback at weight opts->pseudo --------------------- */

static void
test_pseudo_labels_are_feedback(void **state)
{
    struct fixture *fx = fixture_new(12);
    struct adapt_example chosen[MAX_FB];
    struct adapt_opts o;
    struct adapt_fit_stats st;
    struct user_model *a = NULL, *b = NULL;
    double conf = log(0.99 / 0.01);
    size_t j, n = 0, la, lb;
    uint8_t *ba, *bb;

    (void) state;
    /* A sharper global head, so that some unlabelled mail is scored beyond 0.99. */
    for (j = 0; j < Q; j++)
        fx->m.net.head[j] *= 30;
    for (j = 0; j < MAX_FB; j++) {
        float l = net_head(fx->m.net.head, HID, fx->unl[j].h, fx->unl[j].z);

        if (fabs(l) >= conf) {
            chosen[n] = fx->unl[j];
            chosen[n++].spam = l > 0;
        }
    }
    if (n < 5)
        fail_msg("fixture: got %zu confident messages, want >= 5", n);
    adapt_opts_default(&o);
    o.use_reweight = 0;
    o.lambda = 0.1f;
    o.mu = 0.5f;
    o.pseudo = 1.0f;
    o.pseudo_conf = 0.99f;
    o.pseudo_max = 1000;
    o.pseudo_self = 0;      /* pseudo-labels as feedback, not self-training */
    o.labels = 0;           /* ... of the joint fit (stage L has no pseudo-labels) */
    assert_int_equal(adapt_fit(&fx->m, "hal@example.org", NULL, 0, fx->unl, MAX_FB, &o, &a,
                               &st), 0);
    if (st.n_pseudo != n)
        fail_msg("got %u pseudo-labels, want %zu", st.n_pseudo, n);
    o.pseudo = 0;
    assert_int_equal(adapt_fit(&fx->m, "hal@example.org", chosen, n, NULL, 0, &o, &b, NULL), 0);
    ba = user_model_encode(a, &la);
    bb = user_model_encode(b, &lb);
    if (la != lb || memcmp(ba, bb, la) != 0)
        fail_msg("pseudo-labels at weight 1: got a model different from the same "
                 "messages given as feedback");
    if (a->n_resid == 0)
        fail_msg("pseudo-labels only: got an empty residual, want the messages' slots");
    /* pseudo_max caps them, evenly spread */
    o.pseudo = 1.0f;
    o.pseudo_max = 3;
    user_model_free(a);
    assert_int_equal(adapt_fit(&fx->m, "hal@example.org", NULL, 0, fx->unl, MAX_FB, &o, &a,
                               &st), 0);
    if (st.n_pseudo != 3)
        fail_msg("pseudo_max 3: got %u pseudo-labels, want 3", st.n_pseudo);
    free(ba);
    free(bb);
    user_model_free(a);
    user_model_free(b);
    fixture_free(fx);
}

/* ---- a learned message scores as learned ---------------------------------- */

struct flip_case {
    const char *name;
    float sharpen;          /* global head multiplied by this */
    int learned;            /* opts->learned */
    int want_flip;          /* every learned message on its label's side after */
};

static const struct flip_case flip_cases[] = {
    { "confident head, learned slots on", 30.0f, 1, 1 },
    { "more confident head, learned slots on", 50.0f, 1, 1 },
    { "confident head, learned slots off", 30.0f, 0, 0 },
};

static void
test_learned_message_flips(void **state)
{
    size_t ci;

    (void) state;
    for (ci = 0; ci < sizeof(flip_cases) / sizeof(flip_cases[0]); ci++) {
        const struct flip_case *fc = &flip_cases[ci];
        struct fixture *fx = fixture_new(13);
        struct adapt_example fb[4];
        struct adapt_opts o;
        struct user_model *um = NULL;
        size_t j, n = 0, flipped = 0, k, n_learned = 0;

        for (j = 0; j < Q; j++)
            fx->m.net.head[j] *= fc->sharpen;
        /* four messages, each learned as the class the global head disagrees with */
        for (j = 0; j < MAX_FB && n < 4; j++) {
            float g = adapt_score(&fx->m, NULL, fx->fb[j].ids, fx->fb[j].n);

            if (g > 0.99f || g < 0.01f) {
                fb[n] = fx->fb[j];
                fb[n++].spam = g < 0.5f;
            }
        }
        if (n < 4)
            fail_msg("%s: fixture: got %zu confident messages, want 4", fc->name, n);
        adapt_opts_default(&o);
        o.learned = fc->learned;
        assert_int_equal(adapt_fit(&fx->m, "ivy@example.org", fb, n, NULL, 0, &o, &um, NULL),
                         0);
        for (j = 0; j < n; j++) {
            float u = adapt_score(&fx->m, um, fb[j].ids, fb[j].n);

            flipped += (u >= 0.5f) == fb[j].spam;
        }
        if (fc->want_flip && flipped != n)
            fail_msg("%s: got %zu of %zu learned messages on their label's side, want all",
                     fc->name, flipped, n);
        if (!fc->want_flip && flipped == n)
            fail_msg("%s: got all %zu learned messages flipped by the token residual alone "
                     "(resid_l2 %g), want the learned slots to be what flips them",
                     fc->name, n, o.resid_l2);
        for (k = 0; k < um->n_resid; k++)
            n_learned += um->resid_slot[k] >= 0x80000000u;
        if (n_learned != (fc->learned ? n : 0))
            fail_msg("%s: got %zu learned-message slots, want %zu", fc->name, n_learned,
                     fc->learned ? n : (size_t) 0);
        /* the blob keeps them */
        {
            size_t len;
            void *blob = user_model_encode(um, &len);
            struct user_model *back = user_model_decode(blob, len);

            if (back == NULL)
                fail_msg("%s: a model with learned slots got refused by decode", fc->name);
            for (j = 0; j < n; j++)
                if (adapt_score(&fx->m, back, fb[j].ids, fb[j].n)
                    != adapt_score(&fx->m, um, fb[j].ids, fb[j].n))
                    fail_msg("%s: message %zu scores differently after the blob", fc->name, j);
            user_model_free(back);
            free(blob);
        }
        user_model_free(um);
        fixture_free(fx);
    }
}

/* ---- self-training: pseudo-labelled mail's own token memory --------------- */

static int
cmp_float(const void *a, const void *b)
{
    float x = *(const float *) a, y = *(const float *) b;

    return (x > y) - (x < y);
}

/* The global head made confident (x 30) and its bias moved so that, side 0,
 * half of the unlabelled mail falls on each side (pseudo-labels of both
 * classes), or, side +1 (-1), the least (most) spammy unlabelled message sits
 * at logit +(-)(conf + 0.5): every one confident spam (ham), none far past. */
static void
confident_head(struct fixture *fx, int side, double conf)
{
    float l[MAX_FB], at;
    size_t j;

    for (j = 0; j < Q; j++)
        fx->m.net.head[j] *= 30;
    for (j = 0; j < MAX_FB; j++)
        l[j] = net_head(fx->m.net.head, HID, fx->unl[j].h, fx->unl[j].z);
    qsort(l, MAX_FB, sizeof(float), cmp_float);
    at = side == 0 ? l[MAX_FB / 2] : side > 0 ? l[0] : l[MAX_FB - 1];
    fx->m.net.head[HID + 1] += (float) (side * (conf + 0.5) - at);
}

static void
test_self_training(void **state)
{
    struct fixture *fx = fixture_new(14);
    struct adapt_opts o;
    struct adapt_fit_stats st;
    struct user_model *um = NULL;
    double conf = log(0.99 / 0.01), toward = 0;
    size_t j, n = 0;

    (void) state;
    confident_head(fx, 0, conf);
    adapt_opts_default(&o);
    o.use_reweight = 0;     /* the head stays global: the residual is all that moves */
    o.pseudo_conf = 0.99f;
    o.pseudo_self = 0.3f;
    assert_int_equal(adapt_fit(&fx->m, "jo@example.org", NULL, 0, fx->unl, MAX_FB, &o, &um,
                               &st), 0);
    for (j = 0; j < MAX_FB; j++) {
        float l = net_head(fx->m.net.head, HID, fx->unl[j].h, fx->unl[j].z);
        float u = adapt_logit(&fx->m, um, fx->unl[j].h, fx->unl[j].z, fx->unl[j].ids,
                              fx->unl[j].n);

        if (fabs(l) >= conf) {
            n++;
            toward += l > 0 ? u - l : l - u;
        }
    }
    if (st.n_pseudo != n || n < 2 * SELF_MIN_CLASS)
        fail_msg("got %u pseudo-labels, want the %zu (>= %d) confident messages",
                 st.n_pseudo, n, 2 * SELF_MIN_CLASS);
    if (memcmp(um->head, fx->m.net.head, Q * sizeof(float)) != 0)
        fail_msg("self-training alone: got a head different from the global head");
    if (um->n_resid == 0)
        fail_msg("self-training: got an empty residual, want the messages' token slots");
    for (j = 0; j < um->n_resid; j++)
        if (um->resid_slot[j] >= 0x80000000u)
            fail_msg("self-training: got a learned-message slot, want token slots only");
    if (!(toward > 0))
        fail_msg("self-training: pseudo-labelled messages moved %.4f toward their "
                 "pseudo-labels in total, want > 0", toward);
    /* pseudo_keep: the memory keeps exactly its largest weights */
    {
        struct user_model *small = NULL;
        size_t keep = 5, i, bigger;

        if (um->n_resid <= keep)
            fail_msg("fixture: got %u memory entries, want > %zu", um->n_resid, keep);
        o.pseudo_keep = (uint32_t) keep;
        assert_int_equal(adapt_fit(&fx->m, "jo@example.org", NULL, 0, fx->unl, MAX_FB, &o,
                                   &small, &st), 0);
        if (small->n_resid != keep)
            fail_msg("pseudo_keep %zu: got %u entries", keep, small->n_resid);
        for (i = 0; i < small->n_resid; i++) {
            for (j = 0, bigger = 0; j < um->n_resid; j++)
                bigger += fabsf(um->resid_w[j]) > fabsf(small->resid_w[i]);
            if (bigger >= keep)
                fail_msg("pseudo_keep %zu: slot %u kept with %zu larger weights dropped",
                         keep, small->resid_slot[i], bigger);
        }
        user_model_free(small);
    }
    user_model_free(um);
    fixture_free(fx);
}

/* Pseudo-labels of one class train no memory: every unlabelled message
 * confident spam (or ham), or the other class too few, leave the user's
 * scores the global head's; a memory trained on them would lift (lower) every
 * score of the user alike. */
static void
test_self_training_one_class(void **state)
{
    static const struct {
        int side;               /* confident_head's */
        const char *what;
    } cases[] = {
        { 1, "every pseudo-label spam" },
        { -1, "every pseudo-label ham" },
    };

    (void) state;
    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]); ci++) {
        struct fixture *fx = fixture_new(14);
        struct adapt_opts o;
        struct adapt_fit_stats st;
        struct user_model *um = NULL;
        size_t j;

        confident_head(fx, cases[ci].side, log(0.99 / 0.01));
        adapt_opts_default(&o);
        o.use_reweight = 0;
        o.pseudo_conf = 0.99f;
        o.pseudo_self = 0.3f;
        assert_int_equal(adapt_fit(&fx->m, "jo@example.org", NULL, 0, fx->unl, MAX_FB, &o,
                                   &um, &st), 0);
        if (st.n_pseudo != MAX_FB)
            fail_msg("%s: got %u pseudo-labels, want all %d", cases[ci].what, st.n_pseudo,
                     MAX_FB);
        if (um->n_resid != 0)
            fail_msg("%s: got %u memory entries, want none", cases[ci].what, um->n_resid);
        for (j = 0; j < MAX_FB; j++) {
            float l = net_head(fx->m.net.head, HID, fx->unl[j].h, fx->unl[j].z);
            float u = adapt_logit(&fx->m, um, fx->unl[j].h, fx->unl[j].z, fx->unl[j].ids,
                                  fx->unl[j].n);

            if (u != l)
                fail_msg("%s: message %zu got logit %.6f, want the global head's %.6f",
                         cases[ci].what, j, u, l);
        }
        user_model_free(um);
        fixture_free(fx);
    }
}

/* 1 when a and b are the same model bit for bit (their blobs). */
static int
same_model(const struct user_model *a, const struct user_model *b)
{
    size_t la, lb;
    void *ba = user_model_encode(a, &la), *bb = user_model_encode(b, &lb);
    int same;

    assert_non_null(ba);
    assert_non_null(bb);
    same = la == lb && memcmp(ba, bb, la) == 0;
    free(ba);
    free(bb);
    return same;
}

/* A fit's prep (instance weights, self-trained memory, lambda and mu) kept and
 * passed back: the same model bit for bit without the unlabelled mail, through
 * its blob too; cross-validation again once the feedback grew by a quarter or
 * shrank; nothing reused under other options or for another user; every
 * damaged blob refused. */
static void
test_prep_reuse(void **state)
{
    struct fixture *fx = fixture_new(15);
    struct adapt_opts o;
    struct adapt_fit_stats st;
    struct adapt_prep prep, back;
    struct user_model *um0 = NULL, *um = NULL;
    const char *user = "kim@example.org";
    uint8_t *blob, *bad;
    size_t len, cut, j;

    (void) state;
    confident_head(fx, 0, 0);           /* pseudo-labels of both classes to self-train on */
    memcpy(fx->m.id, "0123456789abcdef", 17);
    adapt_opts_default(&o);
    o.pseudo_conf = 0.99f;
    memset(&prep, 0, sizeof(prep));
    assert_int_equal(adapt_fit(&fx->m, user, fx->fb, 24, fx->unl, MAX_FB, &o, &um0, NULL), 0);
    assert_int_equal(adapt_fit_prep(&fx->m, user, fx->fb, 24, fx->unl, MAX_FB, &o, &prep,
                                    &um, &st), 0);
    if (st.reused != 0 || !same_model(um, um0))
        fail_msg("empty prep: got reused %#x / a different model, want 0 / adapt_fit's",
                 st.reused);
    /* the staged fit never needs the pool's model (stage U fits no feedback) */
    if (!prep.have_unl || !prep.have_cv || prep.cv_n != 24 || prep.n_mem == 0 || prep.have_quad
        || prep.dom.p != P || prep.n_unl != MAX_FB || prep.n_pseudo != st.n_pseudo)
        fail_msg("prep not filled: unl %d cv %d at %u, memory %u, quad %d, domain p %u, "
                 "unl %u", prep.have_unl, prep.have_cv, prep.cv_n, prep.n_mem,
                 prep.have_quad, prep.dom.p, prep.n_unl);
    user_model_free(um);

    /* kept: no unlabelled mail needed, the same model */
    assert_int_equal(adapt_fit_prep(&fx->m, user, fx->fb, 24, NULL, 0, &o, &prep, &um, &st),
                     0);
    if (st.reused != (ADAPT_REUSED_UNL | ADAPT_REUSED_CV) || !same_model(um, um0)
        || st.n_unlabelled != MAX_FB || !st.cross_validated)
        fail_msg("kept prep: got reused %#x, %u unlabelled, a %s model", st.reused,
                 st.n_unlabelled, same_model(um, um0) ? "same" : "different");
    user_model_free(um);

    /* through the blob */
    blob = adapt_prep_encode(&prep, &len);
    assert_non_null(blob);
    assert_int_equal(adapt_prep_decode(blob, len, &back), 0);
    assert_int_equal(adapt_fit_prep(&fx->m, user, fx->fb, 24, NULL, 0, &o, &back, &um, &st),
                     0);
    if (st.reused != (ADAPT_REUSED_UNL | ADAPT_REUSED_CV) || !same_model(um, um0))
        fail_msg("decoded prep: got reused %#x / a different model", st.reused);
    user_model_free(um);
    adapt_prep_clear(&back);
    for (cut = 0; cut < len; cut++)
        if (adapt_prep_decode(blob, cut, &back) == 0)
            fail_msg("prep blob cut to %zu of %zu bytes: accepted", cut, len);
    bad = malloc(len + 1);
    assert_non_null(bad);
    memcpy(bad, blob, len);
    bad[len] = 0;
    if (adapt_prep_decode(bad, len + 1, &back) == 0)
        fail_msg("prep blob with a trailing byte: accepted");
    for (cut = 0; cut < len; cut++) {
        memcpy(bad, blob, len);
        bad[cut] ^= 0x5a;
        if (adapt_prep_decode(bad, len, &back) == 0)
            fail_msg("prep blob with byte %zu flipped: accepted", cut);
        if (back.mem_slot != NULL || back.have_unl)
            fail_msg("refused prep blob: got a non-empty prep");
    }
    free(bad);
    free(blob);

    /* lambda and mu: kept while the feedback grows by less than a quarter */
    {
        static const struct { size_t n_fb; unsigned want; uint32_t cv_n; } steps[] = {
            { 29, ADAPT_REUSED_UNL | ADAPT_REUSED_CV, 24 },
            { 30, ADAPT_REUSED_UNL, 30 },
            { 36, ADAPT_REUSED_UNL | ADAPT_REUSED_CV, 30 },
            { 37, ADAPT_REUSED_UNL, 37 },
            { 36, ADAPT_REUSED_UNL, 36 },       /* shrank: chosen again */
        };

        for (j = 0; j < sizeof(steps) / sizeof(steps[0]); j++) {
            assert_int_equal(adapt_fit_prep(&fx->m, user, fx->fb, steps[j].n_fb, NULL, 0,
                                             &o, &prep, &um, &st), 0);
            if (st.reused != steps[j].want || prep.cv_n != steps[j].cv_n)
                fail_msg("%zu labels: got reused %#x, CV at %u; want %#x, at %u",
                         steps[j].n_fb, st.reused, prep.cv_n, steps[j].want, steps[j].cv_n);
            user_model_free(um);
        }
    }

    /* another user, or other options: nothing of it is used (and
     * adapt_prep_usable says so beforehand) */
    if (!adapt_prep_usable(&prep, &fx->m, user, &o)
        || adapt_prep_usable(&prep, &fx->m, "lee@example.org", &o))
        fail_msg("adapt_prep_usable: wrong for the owner or for another user");
    {
        struct adapt_opts o2 = o;

        o2.resid_l2 *= 2;
        if (adapt_prep_usable(&prep, &fx->m, user, &o2))
            fail_msg("adapt_prep_usable: a prep made under other options is usable");
    }
    assert_int_equal(adapt_fit_prep(&fx->m, "lee@example.org", fx->fb, 29, fx->unl, MAX_FB,
                                    &o, &prep, &um, &st), 0);
    if (st.reused != 0 || prep.seed != adapt_user_seed("lee@example.org"))
        fail_msg("another user's prep: got reused %#x", st.reused);
    user_model_free(um);
    o.resid_l2 *= 2;
    assert_int_equal(adapt_fit_prep(&fx->m, "lee@example.org", fx->fb, 29, fx->unl, MAX_FB,
                                    &o, &prep, &um, &st), 0);
    if (st.reused != 0)
        fail_msg("other options: got reused %#x, want 0", st.reused);
    user_model_free(um);
    adapt_prep_clear(&prep);
    user_model_free(um0);
    fixture_free(fx);
}

/* The dual solver against the primal one (Newton-CG over the slots) on the
 * same problem: the dual's Cholesky path with the Gram matrix's inverse, and
 * the same with the matrix's diagonal shifted (kinv_get's KINV_JITTER) when it
 * is singular (a message learned twice without learned-message slots: two
 * identical rows). */
struct dual_case {
    const char *name;
    int learned, twice;
};

static const struct dual_case dual_cases[] = {
    { "distinct messages", 0, 0 },
    { "distinct messages, learned slots", 1, 0 },
    { "a message learned twice (singular Gram matrix)", 0, 1 },
};

static void
test_dual_vs_primal(void **state)
{
    size_t ci, j, n_fb = 30;

    (void) state;
    for (ci = 0; ci < sizeof(dual_cases) / sizeof(dual_cases[0]); ci++) {
        const struct dual_case *dc = &dual_cases[ci];
        struct fixture *fx = fixture_new(7 + ci);
        struct user_model *um[2] = { NULL, NULL };
        struct adapt_fit_stats st;
        struct adapt_opts o;
        int v;

        if (dc->twice)
            fx->fb[1] = fx->fb[0];
        for (v = 0; v < 2; v++) {
            adapt_opts_default(&o);
            o.use_reweight = 0;
            o.lambda = 0.1f;
            o.mu = 0.1f;
            o.resid_l2 = 0.5f;
            o.resid_bits = 12;
            o.pseudo = 0;
            o.learned = dc->learned;
            o.dual_max = v == 0 ? 1000 : 0;
            assert_int_equal(adapt_fit(&fx->m, "dee@example.org", fx->fb, n_fb, NULL, 0, &o,
                                       &um[v], &st), 0);
        }
        for (j = 0; j < n_fb; j++) {
            float a = adapt_logit(&fx->m, um[0], fx->fb[j].h, fx->fb[j].z, fx->fb[j].ids,
                                  fx->fb[j].n);
            float b = adapt_logit(&fx->m, um[1], fx->fb[j].h, fx->fb[j].z, fx->fb[j].ids,
                                  fx->fb[j].n);

            if (!(fabsf(a - b) < 1e-3f * (1 + fabsf(b))))
                fail_msg("%s: feedback %zu: dual logit %g, want the primal's %g", dc->name,
                         j, (double) a, (double) b);
        }
        user_model_free(um[0]);
        user_model_free(um[1]);
        fixture_free(fx);
    }
}

static void
test_user_seed(void **state)
{
    (void) state;
    assert_int_equal(adapt_user_seed("x@example.org"),
                     XXH32("x@example.org", strlen("x@example.org"), 0x53505348u));
    assert_int_equal(adapt_resid_slot(0x01020304u, 77, 12), oracle_slot(0x01020304u, 77, 12));
}

/* The inline 4-byte XXH32 against the library, over edge values and a
 * pseudo-random walk of ids and seeds; and the slots built on it. */
static void
test_hash_u32_is_xxh32(void **state)
{
    static const uint32_t edge[] = { 0, 1, 0x7fffffffu, 0x80000000u, 0xffffffffu, 0x01020304u };
    uint32_t x = 0x9e3779b9u, i, j;

    (void) state;
    for (i = 0; i < sizeof(edge) / sizeof(edge[0]); i++)
        for (j = 0; j < sizeof(edge) / sizeof(edge[0]); j++) {
            uint8_t le[4] = { (uint8_t) edge[i], (uint8_t) (edge[i] >> 8),
                              (uint8_t) (edge[i] >> 16), (uint8_t) (edge[i] >> 24) };

            assert_int_equal(adapt_hash_u32(edge[i], edge[j]), XXH32(le, 4, edge[j]));
        }
    for (i = 0; i < 200000; i++) {
        uint32_t v, seed;
        uint8_t le[4];

        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        v = x;
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        seed = x;
        le[0] = (uint8_t) v, le[1] = (uint8_t) (v >> 8);
        le[2] = (uint8_t) (v >> 16), le[3] = (uint8_t) (v >> 24);
        if (adapt_hash_u32(v, seed) != XXH32(le, 4, seed))
            fail_msg("id 0x%08x seed 0x%08x: 0x%08x, XXH32 says 0x%08x", v, seed,
                     adapt_hash_u32(v, seed), XXH32(le, 4, seed));
        if (i % 1000 == 0)
            assert_int_equal(adapt_resid_slot(v, seed, 20), oracle_slot(v, seed, 20));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_seed),
        cmocka_unit_test(test_hash_u32_is_xxh32),
        cmocka_unit_test(test_fit_vs_gradient_descent),
        cmocka_unit_test(test_dual_vs_primal),
        cmocka_unit_test(test_no_data_is_global_head),
        cmocka_unit_test(test_score_is_head_plus_residual),
        cmocka_unit_test(test_feedback_is_learned),
        cmocka_unit_test(test_cv_choice_is_grid_argmin),
        cmocka_unit_test(test_cv_sample_final_fit_sees_all),
        cmocka_unit_test(test_blob_round_trip),
        cmocka_unit_test(test_users_isolated),
        cmocka_unit_test(test_pseudo_labels_are_feedback),
        cmocka_unit_test(test_learned_message_flips),
        cmocka_unit_test(test_self_training),
        cmocka_unit_test(test_self_training_one_class),
        cmocka_unit_test(test_prep_reuse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
