/*
 * test_headcache.c - the scorers' in-memory cache of user models
 * (adapt/headcache.h) over a temporary store and a small trained model: misses
 * score with the global head and are loaded by the next sync, republished models
 * are picked up, users without a model stay global, eviction bounds the size,
 * and scorer threads run against a syncing thread.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "adapt.h"
#include "headcache.h"
#include "model.h"
#include "refit.h"
#include "store.h"
#include "synth.h"
#define FX_ADAPT
#include "fixture.h"

static int
setup(void **state)
{
    struct fixture *f = fx_adapt_open("test_headcache", 150, 3, 200, 30, 9);

    /* The fixture model must separate the classes, or "the user's model differs
     * from the global head" below would prove little. */
    {
        float p[60];
        double auc;

        for (size_t i = 0; i < f->data.n; i++)
            p[i] = adapt_score(f->m, NULL, f->data.ex[i].ids, f->data.ex[i].n);
        if ((auc = synth_auc(p, f->data.ex, f->data.n)) < 0.9)
            fail_msg("fixture model AUC %.3f, want >= 0.9", auc);
    }
    *state = f;
    return 0;
}

/* Teach user the reverse of the synthetic labels of data[from..to), then refit. */
static void
teach(struct fixture *f, const char *user, size_t from, size_t to)
{
    struct refit_result r;
    char err[512];

    for (size_t i = from; i < to; i++) {
        uint8_t dg[STORE_DIGEST_LEN] = { (uint8_t)i, (uint8_t)(i >> 8), 0x42 };
        const struct net_example *x = &f->data.ex[i];

        assert_int_equal(store_feedback_put(f->s, user, dg, !x->spam, x->ids, x->n, NULL),
                         STORE_OK);
    }
    if (refit_user(f->s, f->m, user, &f->o, 0, &r, err, sizeof(err)) != STORE_OK ||
        r.published != 1)
        fail_msg("refit %s: %s", user, err);
}

/* Score message i for user through the cache; *want gets adapt_score() with the
 * user's currently stored model. */
static float
score(struct fixture *f, struct headcache *c, const char *user, size_t i, uint64_t *v,
      float *want)
{
    const struct net_example *x = &f->data.ex[i];
    struct user_model *um = NULL;
    float h[NET_MAX_HIDDEN], z;
    char err[512];

    model_score(f->m, x->ids, x->n, h, &z);
    if (want != NULL) {
        int rc = refit_load_user_model(f->s, f->m, user, &um, err, sizeof(err));

        assert_true(rc == STORE_OK || rc == STORE_NOTFOUND);
        *want = adapt_score(f->m, um, x->ids, x->n);
        user_model_free(um);
    }
    return headcache_score(c, user, h, z, x->ids, x->n, v);
}

static void
test_miss_sync_republish(void **state)
{
    struct fixture *f = *state;
    struct headcache *c = headcache_new(f->m, 0);
    uint64_t v;
    float p, want, global;
    char err[512];

    assert_non_null(c);
    teach(f, "a@x", 0, 20);
    /* Not cached yet: the global head, and a@x is queued. */
    p = score(f, c, "a@x", 3, &v, NULL);
    global = adapt_score(f->m, NULL, f->data.ex[3].ids, f->data.ex[3].n);
    if (v != 0 || p != global)
        fail_msg("miss: version %llu score %g, want 0 and the global %g",
                 (unsigned long long)v, (double)p, (double)global);
    score(f, c, "nomodel@x", 3, &v, NULL);
    if (headcache_sync(c, f->s, err, sizeof(err)) != 2)
        fail_msg("first sync: want both queued users loaded (%s)", err);
    if (headcache_size(c) != 2)
        fail_msg("size %zu, want 2", headcache_size(c));
    for (size_t i = 0; i < f->data.n; i++) {
        p = score(f, c, "a@x", i, &v, &want);
        if (v != 1 || p != want)
            fail_msg("message %zu: cached score %.9g version %llu, want %.9g version 1",
                     i, (double)p, (unsigned long long)v, (double)want);
    }
    /* And it is a@x's own model that is served, not the global head: it scores
     * the messages a@x labelled differently. */
    {
        size_t differ = 0;

        for (size_t i = 0; i < 20; i++)
            differ += score(f, c, "a@x", i, &v, NULL) !=
                      adapt_score(f->m, NULL, f->data.ex[i].ids, f->data.ex[i].n);
        if (differ == 0)
            fail_msg("a@x's cached scores all equal the global head's");
    }
    p = score(f, c, "nomodel@x", 5, &v, &want);
    if (v != 0 || p != want)
        fail_msg("user without a model: version %llu, want the global head", (unsigned long long)v);

    /* Republished by another connection (as `spamshift adapt` would): the cache
     * serves version 1 until the next sync, then version 2. */
    {
        struct store *other;

        if (store_open(f->db, 0, NULL, &other, err, sizeof(err)) != STORE_OK)
            fail_msg("second connection: %s", err);
        {
            struct store *mine = f->s;

            f->s = other;
            teach(f, "a@x", 20, 40);
            teach(f, "nomodel@x", 40, 50);
            f->s = mine;
        }
        store_close(other);
    }
    score(f, c, "a@x", 0, &v, NULL);
    if (v != 1)
        fail_msg("before the sync: version %llu, want 1", (unsigned long long)v);
    if (headcache_sync(c, f->s, err, sizeof(err)) != 2)
        fail_msg("second sync: want a@x and nomodel@x reloaded (%s)", err);
    p = score(f, c, "a@x", 0, &v, &want);
    if (v != 2 || p != want)
        fail_msg("after the sync: version %llu, want 2", (unsigned long long)v);
    score(f, c, "nomodel@x", 0, &v, NULL);
    if (v != 1)
        fail_msg("nomodel@x now has a model: version %llu, want 1", (unsigned long long)v);
    /* Nothing new: a sync loads nothing. */
    if (headcache_sync(c, f->s, err, sizeof(err)) != 0)
        fail_msg("idle sync loaded something");
    headcache_free(c);
}

/* Issue 6: the store replaced under the milter (a backup restored): the new
 * file's refit log is not the old one's, so syncing from its position missed
 * users republished there and kept serving the old store's models.  After
 * headcache_invalidate() every cached user comes from the new store. */
static void
test_store_replaced(void **state)
{
    struct fixture *f = *state;
    struct headcache *c = headcache_new(f->m, 0);
    struct store *old = f->s, *other;
    char db2[160], err[512];
    uint64_t v;
    float p, want;

    assert_non_null(c);
    teach(f, "a@x", 0, 20);
    teach(f, "b@x", 20, 30);
    teach(f, "b@x", 30, 40);            /* b@x at version 2, the log at 3 */
    score(f, c, "a@x", 0, &v, NULL);
    score(f, c, "b@x", 0, &v, NULL);
    if (headcache_sync(c, f->s, err, sizeof(err)) != 2)
        fail_msg("first sync: %s", err);
    /* Another store: a@x fitted on other messages, b@x unknown. */
    snprintf(db2, sizeof(db2), "%s/s2.db", f->dir);
    if (store_open(db2, STORE_CREATE, NULL, &other, err, sizeof(err)) != STORE_OK)
        fail_msg("second store: %s", err);
    f->s = other;
    teach(f, "a@x", 40, 60);
    /* The new store's log is at 1, the cache's mark at 3: the log went back,
     * so the sync reloads every cached user by itself (it used to show nothing
     * until the milter called headcache_invalidate()). */
    if (headcache_sync(c, other, err, sizeof(err)) != 2)
        fail_msg("the log went back from 3 to 1: want both cached users reloaded (%s)", err);
    for (size_t i = 0; i < f->data.n; i++) {
        p = score(f, c, "a@x", i, &v, &want);
        if (v != 1 || p != want)
            fail_msg("a@x message %zu: %.9g version %llu, want the new store's %.9g "
                     "version 1", i, (double)p, (unsigned long long)v, (double)want);
    }
    p = score(f, c, "b@x", 0, &v, &want);
    if (v != 0 || p != want)
        fail_msg("b@x (not in the new store): version %llu, want the global head",
                 (unsigned long long)v);
    /* The log is followed from there on. */
    teach(f, "a@x", 0, 10);
    if (headcache_sync(c, other, err, sizeof(err)) != 1)
        fail_msg("republished in the new store: want a@x reloaded");
    score(f, c, "a@x", 0, &v, NULL);
    if (v != 2)
        fail_msg("a@x after republishing: version %llu, want 2", (unsigned long long)v);
    f->s = old;
    store_close(other);
    headcache_free(c);
}

/* A store restored from a backup in place (store_restore): the refit log goes
 * back, and the cache serves the restored models, not the newer ones it held
 * (issue 18, finding 5). */
static void
test_store_restored(void **state)
{
    struct fixture *f = *state;
    struct headcache *c = headcache_new(f->m, 0);
    char bak[160], err[512];
    uint64_t v;
    float p, want;

    assert_non_null(c);
    teach(f, "a@x", 0, 20);              /* a@x version 1: the backup's */
    snprintf(bak, sizeof(bak), "%s/backup.db", f->dir);
    if (store_backup(f->s, bak) != STORE_OK)
        fail_msg("backup: %s", store_errmsg(f->s));
    teach(f, "a@x", 20, 40);
    teach(f, "a@x", 40, 60);             /* version 3 in the live store */
    score(f, c, "a@x", 0, &v, NULL);
    if (headcache_sync(c, f->s, err, sizeof(err)) != 1)
        fail_msg("first sync: %s", err);
    score(f, c, "a@x", 0, &v, NULL);
    if (v != 3)
        fail_msg("before the restore: version %llu, want 3", (unsigned long long)v);
    if (store_restore(f->s, bak) != STORE_OK)
        fail_msg("restore: %s", store_errmsg(f->s));
    if (headcache_sync(c, f->s, err, sizeof(err)) != 1)
        fail_msg("after the restore: want a@x reloaded (%s)", err);
    for (size_t i = 0; i < f->data.n; i++) {
        p = score(f, c, "a@x", i, &v, &want);
        if (v != 1 || p != want)
            fail_msg("a@x message %zu after the restore: %.9g version %llu, want the "
                     "backup's %.9g version 1", i, (double)p, (unsigned long long)v,
                     (double)want);
    }
    headcache_free(c);
}

static void
test_eviction(void **state)
{
    struct fixture *f = *state;
    struct headcache *c = headcache_new(f->m, 10);
    char user[32], err[512];
    uint64_t v;

    assert_non_null(c);
    for (int u = 0; u < 25; u++) {
        snprintf(user, sizeof(user), "u%02d@x", u);
        score(f, c, user, 0, &v, NULL);
    }
    assert_true(headcache_sync(c, f->s, err, sizeof(err)) >= 0);
    if (headcache_size(c) > 10)
        fail_msg("size %zu after sync, want at most 10", headcache_size(c));
    /* The most recently scored users stay. */
    for (int u = 0; u < 9; u++) {
        snprintf(user, sizeof(user), "hot%d@x", u);
        score(f, c, user, 0, &v, NULL);
    }
    assert_true(headcache_sync(c, f->s, err, sizeof(err)) >= 0);
    for (int u = 0; u < 9; u++) {
        snprintf(user, sizeof(user), "hot%d@x", u);
        score(f, c, user, 0, &v, NULL);
    }
    assert_true(headcache_sync(c, f->s, err, sizeof(err)) == 0);
    if (headcache_size(c) > 10)
        fail_msg("size %zu, want at most 10", headcache_size(c));
    headcache_free(c);
}

/* Two scorer threads against a thread that republishes and syncs: every score is
 * a probability and each thread sees versions that never go backwards. */
struct race {
    struct fixture *f;
    struct headcache *c;
    atomic_int stop;
    int bad;
};

static void *
scorer(void *arg)
{
    struct race *r = arg;
    uint64_t last = 0, v;
    size_t i = 0;

    while (!atomic_load(&r->stop)) {
        const struct net_example *x = &r->f->data.ex[i++ % r->f->data.n];
        float h[NET_MAX_HIDDEN], z, p;

        model_score(r->f->m, x->ids, x->n, h, &z);
        p = headcache_score(r->c, "race@x", h, z, x->ids, x->n, &v);
        if (!(p >= 0.0f && p <= 1.0f) || v < last)
            r->bad = 1;
        last = v;
    }
    return NULL;
}

static void
test_threads(void **state)
{
    struct fixture *f = *state;
    struct race r = { .f = f };
    pthread_t t[2];
    char err[512];
    uint64_t v;

    r.c = headcache_new(f->m, 0);
    assert_non_null(r.c);
    atomic_init(&r.stop, 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, scorer, &r), 0);
    for (int round = 0; round < 5; round++) {
        teach(f, "race@x", (size_t)round * 10, (size_t)round * 10 + 10);
        assert_true(headcache_sync(r.c, f->s, err, sizeof(err)) >= 0);
        usleep(20000);
    }
    atomic_store(&r.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    if (r.bad)
        fail_msg("a scorer saw a bad score or a version going backwards");
    score(f, r.c, "race@x", 0, &v, NULL);
    if (v != 5)
        fail_msg("final version %llu, want 5", (unsigned long long)v);
    headcache_free(r.c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_miss_sync_republish, setup, fx_adapt_teardown),
        cmocka_unit_test_setup_teardown(test_store_replaced, setup, fx_adapt_teardown),
        cmocka_unit_test_setup_teardown(test_store_restored, setup, fx_adapt_teardown),
        cmocka_unit_test_setup_teardown(test_eviction, setup, fx_adapt_teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, fx_adapt_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
