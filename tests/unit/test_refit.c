/*
 * test_refit.c - continual refits over the store (adapt/refit.h) with a real,
 * small model trained on synthetic id bags (synth.h) and a temporary store:
 * publishing and versions, dry runs, dirty users and their claims, the
 * scorer's cached load,
 * a corrupt stored model, and one user's refit leaving another's scores alone.
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

#include "adapt.h"
#include "model.h"
#include "refit.h"
#include "store.h"
#include "synth.h"
#define FX_ADAPT
#include "fixture.h"

/* The user's mail: another seed, and ham/spam ranges partly inverted by
 * feedback below, so the user's model must differ from the global head. */
static int
setup(void **state)
{
    *state = fx_adapt_open("test_refit", 200, 1, 300, 60, 7);
    return 0;
}

static int
teardown(void **state)
{
    fx_adapt_close(*state);
    return 0;
}

static void
digest_of(size_t k, const char *tag, uint8_t d[STORE_DIGEST_LEN])
{
    memset(d, 0, STORE_DIGEST_LEN);
    memcpy(d, &k, sizeof(k) < 8 ? sizeof(k) : 8);
    d[8] = (uint8_t)tag[0];
}

/* Learn data[from..to) for user, each labelled by its synthetic class, or the
 * opposite when flip. */
static void
learn(struct fixture *f, const char *user, size_t from, size_t to, int flip)
{
    assert_int_equal(store_begin(f->s), STORE_OK);
    for (size_t i = from; i < to; i++) {
        uint8_t dg[STORE_DIGEST_LEN];
        const struct net_example *x = &f->data.ex[i];

        digest_of(i, "f", dg);
        if (store_feedback_put(f->s, user, dg, flip ? !x->spam : x->spam, x->ids, x->n,
                               NULL) != STORE_OK)
            fail_msg("feedback: %s", store_errmsg(f->s));
    }
    assert_int_equal(store_commit(f->s), STORE_OK);
}

static void
test_refit_publish(void **state)
{
    struct fixture *f = *state;
    struct refit_result r;
    struct user_model *um = NULL, *cached;
    char err[512] = "";

    /* Unknown user: fitted with no data, nothing published, global head. */
    assert_int_equal(refit_user(f->s, f->m, "ghost@x", &f->o, 0, &r, err, sizeof(err)),
                     STORE_OK);
    if (r.published != 0 || r.n_spam + r.n_ham + r.n_reservoir != 0)
        fail_msg("unknown user: published %d with %u/%u/%u, want nothing", r.published,
                 r.n_spam, r.n_ham, r.n_reservoir);
    assert_int_equal(refit_load_user_model(f->s, f->m, "ghost@x", &um, err, sizeof(err)),
                     STORE_NOTFOUND);
    assert_null(um);

    learn(f, "u@x", 0, 40, 0);
    /* A dry run fits and publishes nothing. */
    assert_int_equal(refit_user(f->s, f->m, "u@x", &f->o, 1, &r, err, sizeof(err)), STORE_OK);
    if (r.published != 0 || r.version != 0 || r.n_spam + r.n_ham != 40)
        fail_msg("dry run: published %d version %llu from %u feedback", r.published,
                 (unsigned long long)r.version, r.n_spam + r.n_ham);
    assert_int_equal(refit_load_user_model(f->s, f->m, "u@x", &um, err, sizeof(err)),
                     STORE_NOTFOUND);

    assert_int_equal(refit_user(f->s, f->m, "u@x", &f->o, 0, &r, err, sizeof(err)), STORE_OK);
    if (r.published != 1 || r.version != 1)
        fail_msg("refit: published %d version %llu, want 1 and 1", r.published,
                 (unsigned long long)r.version);
    if (r.fit.n_feedback != 40)
        fail_msg("fit saw %u feedback, want 40", r.fit.n_feedback);
    assert_int_equal(refit_load_user_model(f->s, f->m, "u@x", &um, err, sizeof(err)),
                     STORE_OK);
    assert_non_null(um);
    if (um->version != 1 || um->hidden != f->m->net.dims.hidden)
        fail_msg("loaded version %llu hidden %u, want 1 and %u",
                 (unsigned long long)um->version, um->hidden, f->m->net.dims.hidden);
    /* Same version: the cached copy is kept as is (no decode). */
    cached = um;
    assert_int_equal(refit_load_user_model(f->s, f->m, "u@x", &um, err, sizeof(err)),
                     STORE_OK);
    if (um != cached)
        fail_msg("current cached model was replaced");
    /* A newer version replaces it.  The second refit reads every representation
     * from the store's cache (the first computed and cached all 40) and, since
     * the cache holds the floats exactly, fits the very same model as the first
     * (which computed them all). */
    if (r.n_represented != 40)
        fail_msg("first refit computed %u representations, want 40", r.n_represented);
    {
        struct user_model *v1;
        struct oppoint_user op;
        void *blob;
        size_t len;
        uint64_t ver;

        assert_int_equal(store_head_get(f->s, "u@x", f->m->id, 0, &blob, &len, &ver),
                         STORE_OK);
        /* The head is published with the user's operating points after it. */
        if (oppoint_blob_split(blob, len, &op, &len) != 1)
            fail_msg("published head carries no operating points");
        v1 = user_model_decode(blob, len);
        free(blob);
        assert_non_null(v1);
        assert_int_equal(refit_user(f->s, f->m, "u@x", &f->o, 0, &r, err, sizeof(err)),
                         STORE_OK);
        if (r.n_represented != 0)
            fail_msg("second refit computed %u representations, want 0 (cached)",
                     r.n_represented);
        assert_int_equal(refit_load_user_model(f->s, f->m, "u@x", &um, err, sizeof(err)),
                         STORE_OK);
        if (um->version != 2)
            fail_msg("after a second refit: version %llu, want 2",
                     (unsigned long long)um->version);
        for (size_t i = 0; i < f->data.n; i++) {
            const struct net_example *x = &f->data.ex[i];

            if (adapt_score(f->m, um, x->ids, x->n) != adapt_score(f->m, v1, x->ids, x->n))
                fail_msg("message %zu: the fit from cached representations differs", i);
        }
        user_model_free(v1);
    }
    user_model_free(um);
}

/* The stored model is what adapt_fit() computed: scores with the loaded model
 * equal scores with a direct fit on the same data (to float rounding: the blob
 * may store the model more compactly than memory does). */
static void
test_refit_matches_direct_fit(void **state)
{
    struct fixture *f = *state;
    struct adapt_example *ex = calloc(30, sizeof(*ex));
    struct user_model *direct = NULL, *um = NULL;
    struct adapt_fit_stats st;
    struct refit_result r;
    struct store_samples ss;
    char err[512];

    assert_non_null(ex);
    learn(f, "d@x", 0, 30, 1);
    /* adapt_fit in the store's order (by digest), as refit_user() feeds it. */
    assert_int_equal(store_feedback_list(f->s, "d@x", NULL, &ss), STORE_OK);
    assert_int_equal(ss.n, 30);
    for (size_t i = 0; i < ss.n; i++) {
        ex[i].ids = ss.v[i].ids;
        ex[i].n = ss.v[i].n;
        ex[i].spam = ss.v[i].spam;
        adapt_represent(f->m, &ex[i]);
    }
    assert_int_equal(adapt_fit(f->m, "d@x", ex, ss.n, NULL, 0, &f->o, &direct, &st), 0);
    assert_int_equal(refit_user(f->s, f->m, "d@x", &f->o, 0, &r, err, sizeof(err)), STORE_OK);
    assert_int_equal(refit_load_user_model(f->s, f->m, "d@x", &um, err, sizeof(err)),
                     STORE_OK);
    for (size_t i = 0; i < f->data.n; i++) {
        const struct net_example *x = &f->data.ex[i];
        float a = adapt_score(f->m, direct, x->ids, x->n);
        float b = adapt_score(f->m, um, x->ids, x->n);

        if (fabsf(a - b) > 1e-5f)
            fail_msg("message %zu: stored model scores %.9g, direct fit %.9g", i,
                     (double)b, (double)a);
    }
    /* The user taught the opposite of the synthetic classes: on the user's mail,
     * ranked against the synthetic labels, the user's model must do worse than
     * the global head (its AUC moves toward the user's labels). */
    {
        float sg[30], su[30];
        double ag, au;

        for (size_t i = 0; i < 30; i++) {
            const struct net_example *x = &f->data.ex[i];

            sg[i] = adapt_score(f->m, NULL, x->ids, x->n);
            su[i] = adapt_score(f->m, um, x->ids, x->n);
        }
        ag = synth_auc(sg, f->data.ex, 30);
        au = synth_auc(su, f->data.ex, 30);
        if (!(au < ag))
            fail_msg("AUC against the classes the user reversed: user model %.3f, "
                     "global head %.3f; want the user model lower", au, ag);
    }
    store_samples_free(&ss);
    user_model_free(direct);
    user_model_free(um);
    free(ex);
}

struct tally {
    size_t calls, ok;
    char users[8][32];
};

static void
tally_fn(void *arg, const char *user, int status, const struct refit_result *r,
         const char *err)
{
    struct tally *t = arg;

    (void)r;
    (void)err;
    if (t->calls < 8)
        snprintf(t->users[t->calls], sizeof(t->users[0]), "%s", user);
    t->calls++;
    t->ok += status == STORE_OK;
}

/* refit_dirty() refits exactly the dirty users; one user's refit leaves the other
 * users' scores bit for bit. */
static void
test_refit_dirty_and_isolation(void **state)
{
    struct fixture *f = *state;
    struct user_model *v = NULL, *v2 = NULL;
    struct tally t = { 0 };
    float before[120];
    char err[512];
    size_t failed;
    long n;

    learn(f, "v@x", 0, 20, 0);
    learn(f, "w@x", 20, 40, 1);
    n = refit_dirty(f->s, f->m, &f->o, 0, 0, 0, tally_fn, &t, &failed, err, sizeof(err));
    if (n != 2 || failed != 0 || t.calls != 2 || strcmp(t.users[0], "v@x") != 0 ||
        strcmp(t.users[1], "w@x") != 0)
        fail_msg("first round: %ld refitted, %zu failed, calls %zu (%s, %s), want v@x "
                 "and w@x", n, failed, t.calls, t.users[0], t.users[1]);
    memset(&t, 0, sizeof(t));
    n = refit_dirty(f->s, f->m, &f->o, 0, 0, 0, tally_fn, &t, &failed, err, sizeof(err));
    if (n != 0 || t.calls != 0)
        fail_msg("second round: %ld refitted, want 0", n);

    assert_int_equal(refit_load_user_model(f->s, f->m, "v@x", &v, err, sizeof(err)), STORE_OK);
    for (size_t i = 0; i < f->data.n; i++)
        before[i] = adapt_score(f->m, v, f->data.ex[i].ids, f->data.ex[i].n);
    /* w learns more and is refitted; unlabelled mail for w as well. */
    learn(f, "w@x", 40, 80, 1);
    for (size_t i = 80; i < 120; i++) {
        uint8_t dg[STORE_DIGEST_LEN];

        digest_of(i, "u", dg);
        assert_int_equal(store_reservoir_offer(f->s, "w@x", dg, f->data.ex[i].ids,
                                               f->data.ex[i].n, NULL), STORE_OK);
    }
    memset(&t, 0, sizeof(t));
    n = refit_dirty(f->s, f->m, &f->o, 0, 0, 0, tally_fn, &t, &failed, err, sizeof(err));
    if (n != 1 || strcmp(t.users[0], "w@x") != 0)
        fail_msg("third round: %ld refitted (%s), want w@x alone", n, t.users[0]);
    assert_int_equal(refit_load_user_model(f->s, f->m, "v@x", &v2, err, sizeof(err)),
                     STORE_OK);
    if (v2->version != v->version)
        fail_msg("v's version moved from %llu to %llu", (unsigned long long)v->version,
                 (unsigned long long)v2->version);
    for (size_t i = 0; i < f->data.n; i++) {
        float after = adapt_score(f->m, v2, f->data.ex[i].ids, f->data.ex[i].n);

        if (after != before[i])
            fail_msg("message %zu: v's score %.9g became %.9g after w's refit", i,
                     (double)before[i], (double)after);
    }
    user_model_free(v);
    user_model_free(v2);
}

/* The fit cache: a refit for new feedback alone takes the reservoir's part
 * (and lambda and mu) from the last refit without reading the reservoir;
 * dirty_samples new samples make the next refit compute it again. */
static void
test_refit_fit_cache(void **state)
{
    static const struct {
        const char *name;
        size_t learn_to, offer_to;      /* learn data[0..learn_to), offer [40..offer_to) */
        unsigned want;
        uint32_t want_unl;
        int want_quad;                  /* the stored cache holds the pool's model */
    } steps[] = {
        /* The staged fit (adapt.h, opts->labels) never needs the pool's
         * second-order model: stage U fits no feedback, stage L no pool. */
        { "no labels yet", 0, 80, 0, 40, 0 },
        { "ten labels", 10, 80, ADAPT_REUSED_UNL, 40, 0 },
        { "25 labels: cross-validated", 25, 80, ADAPT_REUSED_UNL, 40, 0 },
        { "two more labels", 27, 80, ADAPT_REUSED_UNL | ADAPT_REUSED_CV, 40, 0 },
        { "nine new samples", 28, 89, ADAPT_REUSED_UNL | ADAPT_REUSED_CV, 40, 0 },
        { "ten new samples", 28, 90, ADAPT_REUSED_CV, 50, 0 },
        { "a quarter more labels", 38, 90, ADAPT_REUSED_UNL, 50, 0 },
    };
    struct fixture *f = *state;
    struct refit_result r;
    char err[512];
    size_t i, learned = 0, offered = 40;

    assert_int_equal(store_set_dirty_samples(f->s, 10), STORE_OK);
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (steps[i].learn_to > learned)
            learn(f, "c@x", learned, steps[i].learn_to, 0);
        learned = steps[i].learn_to;
        for (; offered < steps[i].offer_to; offered++) {
            uint8_t dg[STORE_DIGEST_LEN];

            digest_of(offered, "u", dg);
            assert_int_equal(store_reservoir_offer(f->s, "c@x", dg, f->data.ex[offered].ids,
                                                   f->data.ex[offered].n, NULL), STORE_OK);
        }
        assert_int_equal(refit_user(f->s, f->m, "c@x", &f->o, 0, &r, err, sizeof(err)),
                         STORE_OK);
        if (r.published != 1 || r.fit.reused != steps[i].want
            || r.n_reservoir != steps[i].want_unl || r.fit.n_feedback != learned)
            fail_msg("%s: published %d, reused %#x, %u unlabelled, %u feedback; want 1, "
                     "%#x, %u, %zu", steps[i].name, r.published, r.fit.reused,
                     r.n_reservoir, r.fit.n_feedback, steps[i].want, steps[i].want_unl,
                     learned);
        {
            struct adapt_prep pr;
            uint64_t seen;
            void *blob;
            size_t len;

            assert_int_equal(store_fitcache_get(f->s, "c@x", f->m->id, &seen, &blob, &len),
                             STORE_OK);
            assert_int_equal(adapt_prep_decode(blob, len, &pr), 0);
            free(blob);
            if (!pr.have_unl || pr.have_quad != steps[i].want_quad)
                fail_msg("%s: stored cache: reservoir part %d, pool's model %d; want 1, %d",
                         steps[i].name, pr.have_unl, pr.have_quad, steps[i].want_quad);
            adapt_prep_clear(&pr);
        }
    }
    /* Other options: the cache is not theirs, so the reservoir is read again
     * (a refit that skipped it would fit on no unlabelled mail at all). */
    f->o.resid_l2 *= 2;
    assert_int_equal(refit_user(f->s, f->m, "c@x", &f->o, 0, &r, err, sizeof(err)), STORE_OK);
    if (r.fit.reused != 0 || r.n_reservoir != 50)
        fail_msg("other options: reused %#x with %u unlabelled; want 0 and 50", r.fit.reused,
                 r.n_reservoir);
}

/* A stored model that does not decode is an error with a message, never a crash,
 * and the caller's cached copy stays. */
static void
test_corrupt_head(void **state)
{
    struct fixture *f = *state;
    struct user_model *um = NULL, *keep;
    struct store_user_state st;
    struct refit_result r;
    char err[512] = "";
    static const char junk[] = "definitely not a user model blob";

    learn(f, "c@x", 0, 10, 0);
    assert_int_equal(refit_user(f->s, f->m, "c@x", &f->o, 0, &r, err, sizeof(err)), STORE_OK);
    assert_int_equal(refit_load_user_model(f->s, f->m, "c@x", &um, err, sizeof(err)), STORE_OK);
    keep = um;
    assert_int_equal(store_user_state(f->s, "c@x", &st), STORE_OK);
    assert_int_equal(store_head_publish(f->s, "c@x", f->m->id, junk, sizeof(junk), &st,
                                        NULL, NULL), STORE_OK);
    if (refit_load_user_model(f->s, f->m, "c@x", &um, err, sizeof(err)) != STORE_ERR)
        fail_msg("corrupt stored model: got accepted");
    if (strstr(err, "corrupt") == NULL || strstr(err, "c@x") == NULL)
        fail_msg("message \"%s\", want it to name the user and say corrupt", err);
    if (um != keep)
        fail_msg("the cached model was dropped on error");
    user_model_free(um);
    /* A head for another base model is not served: the user scores with the
     * global head until refitted. */
    um = NULL;
    assert_int_equal(store_head_publish(f->s, "c@x", "0123456789abcdef", junk,
                                        sizeof(junk), &st, NULL, NULL), STORE_OK);
    assert_int_equal(refit_load_user_model(f->s, f->m, "c@x", &um, err, sizeof(err)),
                     STORE_NOTFOUND);
    assert_null(um);
}

/* refit_dirty() claims each user first: a user another process holds (another
 * host's milter, an adapt --all elsewhere) is skipped, not waited for and not
 * refitted twice; the publish gives this process's claims back, and a failed
 * refit's claim is given back too, so the next round may take it. */
static void
test_refit_dirty_skips_claimed(void **state)
{
    struct fixture *f = *state;
    struct tally t = { 0 };
    struct store *other;
    char err[512], *held = NULL, *again = NULL;
    size_t failed;
    long n;

    learn(f, "v@x", 0, 20, 0);
    learn(f, "w@x", 20, 40, 1);
    if (store_open(f->db, 0, NULL, &other, err, sizeof(err)) != STORE_OK)
        fail_msg("open another handle: %s", err);
    assert_int_equal(store_dirty_claim(other, f->m->id, NULL, 0, &held), STORE_OK);
    assert_string_equal(held, "v@x");
    n = refit_dirty(f->s, f->m, &f->o, 0, 0, 0, tally_fn, &t, &failed, err, sizeof(err));
    if (n != 1 || t.calls != 1 || strcmp(t.users[0], "w@x") != 0)
        fail_msg("with v@x held elsewhere: %ld refitted, calls %zu (%s), want w@x alone",
                 n, t.calls, t.users[0]);
    /* w@x was published and its claim given back; v@x is still the other's. */
    assert_int_equal(store_dirty_claim(f->s, f->m->id, NULL, 0, &again), STORE_NOTFOUND);
    assert_int_equal(store_claim_release(other, held), STORE_OK);
    memset(&t, 0, sizeof(t));
    n = refit_dirty(f->s, f->m, &f->o, 0, 0, 0, tally_fn, &t, &failed, err, sizeof(err));
    if (n != 1 || strcmp(t.users[0], "v@x") != 0)
        fail_msg("after the release: %ld refitted (%s), want v@x", n, t.users[0]);
    /* The other handle's walk finds nobody left: each user was refitted once. */
    assert_int_equal(store_dirty_claim(other, f->m->id, NULL, 0, &again), STORE_NOTFOUND);
    free(held);
    store_close(other);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_refit_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refit_matches_direct_fit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refit_dirty_and_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refit_dirty_skips_claimed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_head, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refit_fit_cache, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
