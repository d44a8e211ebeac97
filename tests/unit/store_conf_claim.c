/*
 * store_conf_claim.c - the conformance suite's claims of dirty users
 * (store_dirty_claim, store_claim_release): what several hosts sharing one
 * store rely on to refit each dirty user once.  Run on whichever backend
 * test_store_conf.c's database strings name; each case opens further handles
 * on its database, as other hosts would.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "store_conf.h"

#define CLAIM_USERS 40

static struct store *
open_other(const char *db)
{
    struct store *s;
    char err[512];

    if (store_open(db, 0, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("open %s: %s", db, err);
    return s;
}

/* CLAIM_USERS users made dirty by one learn each: u00@x, u01@x, ... */
static void
make_dirty(struct store *s)
{
    uint8_t d[STORE_DIGEST_LEN];
    uint32_t ids[16];
    char user[32];

    for (uint32_t k = 0; k < CLAIM_USERS; k++) {
        size_t n = conf_ids_of(k, ids);
        int rc;

        snprintf(user, sizeof(user), "u%02u@x", k);
        conf_digest_of(k, d);
        if ((rc = store_feedback_put(s, user, d, k % 2, ids, n, NULL)) != STORE_OK)
            fail_msg("learn %s: got %d (%s)", user, rc, store_errmsg(s));
    }
}

/* Claim from the start and expect want (NULL: nothing left). */
static void
claim_want(struct store *s, const char *after, unsigned lease, const char *want)
{
    char *got = NULL;
    int rc = store_dirty_claim(s, NULL, after, lease, &got);

    if (want == NULL) {
        if (rc != STORE_NOTFOUND)
            fail_msg("claim after %s: got %d (%s), want none", after ? after : "-", rc,
                     got != NULL ? got : store_errmsg(s));
        return;
    }
    if (rc != STORE_OK || strcmp(got, want) != 0)
        fail_msg("claim after %s: got %d %s, want %s", after ? after : "-", rc,
                 rc == STORE_OK ? got : store_errmsg(s), want);
    free(got);
}

struct claimer {
    const char *db;
    pthread_barrier_t *go;
    char *got[CLAIM_USERS];
    size_t n;
    int err;
    char msg[512];
};

/* Walk the dirty users, holding every claim (none is released). */
static void *
claimer_run(void *arg)
{
    struct claimer *c = arg;
    struct store *s = open_other(c->db);
    char *last = NULL, *user;
    int rc;

    pthread_barrier_wait(c->go);
    while ((rc = store_dirty_claim(s, NULL, last, 0, &user)) == STORE_OK
           && c->n < CLAIM_USERS)
        c->got[c->n++] = last = user;
    if (rc != STORE_NOTFOUND) {
        c->err = rc;
        snprintf(c->msg, sizeof(c->msg), "%s", store_errmsg(s));
    }
    store_close(s);
    return NULL;
}

/* Two handles walking at once never get one user, and between them get every
 * dirty user. */
void
test_claim_concurrent(void **state)
{
    struct conf *c = *state;
    struct claimer w[2] = { { .db = c->db }, { .db = c->db } };
    pthread_barrier_t go;
    pthread_t tid[2];
    int seen[CLAIM_USERS] = { 0 };

    make_dirty(c->s);
    pthread_barrier_init(&go, NULL, 2);
    for (int i = 0; i < 2; i++) {
        w[i].go = &go;
        assert_int_equal(pthread_create(&tid[i], NULL, claimer_run, &w[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(tid[i], NULL);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < 2; i++) {
        if (w[i].err != 0)
            fail_msg("claimer %d: got %d (%s), want STORE_NOTFOUND at the end", i,
                     w[i].err, w[i].msg);
        for (size_t j = 0; j < w[i].n; j++) {
            unsigned k;

            if (sscanf(w[i].got[j], "u%u@x", &k) != 1 || k >= CLAIM_USERS)
                fail_msg("claimer %d: got user %s, want u00@x..u%02d@x", i, w[i].got[j],
                         CLAIM_USERS - 1);
            if (seen[k]++)
                fail_msg("user %s claimed twice (claimer %d)", w[i].got[j], i);
            free(w[i].got[j]);
        }
    }
    if (w[0].n + w[1].n != CLAIM_USERS)
        fail_msg("claimed got %zu + %zu users, want %d in all", w[0].n, w[1].n,
                 CLAIM_USERS);
    /* Everyone holds a claim now: a third handle finds none. */
    claim_want(c->s, NULL, 0, NULL);
}

/* A held user is skipped; a released one is taken again; an expired lease is
 * taken over, and the old holder's release then leaves the new claim alone. */
void
test_claim_lease(void **state)
{
    struct conf *c = *state;
    struct store *b = open_other(c->db);

    make_dirty(c->s);
    claim_want(c->s, NULL, 1, "u00@x");                /* A: 1 s lease */
    claim_want(b, NULL, 0, "u01@x");                   /* B skips A's */
    claim_want(b, "u38@x", 0, "u39@x");
    claim_want(b, "u39@x", 0, NULL);                   /* the end of the walk */
    assert_int_equal(store_claim_release(b, "u01@x"), STORE_OK);
    claim_want(c->s, "u00@x", 1, "u01@x");             /* released: A takes it */
    sleep(2);
    claim_want(b, NULL, 0, "u00@x");                   /* A's leases ran out */
    assert_int_equal(store_claim_release(c->s, "u00@x"), STORE_OK);   /* not A's now */
    claim_want(c->s, NULL, 0, "u01@x");                /* u00@x still B's */
    assert_int_equal(store_claim_release(b, "nobody@x"), STORE_OK);
    assert_int_equal(store_claim_release(b, ""), STORE_ERR);
    store_close(b);
}

/* A published user is no longer dirty: no walk claims it; the publish gave the
 * claim back. */
void
test_claim_published(void **state)
{
    struct conf *c = *state;
    struct store *b = open_other(c->db), *ro;
    struct store_user_state st;
    char *got = NULL;
    uint64_t v = 0;
    char err[512];

    make_dirty(c->s);
    claim_want(c->s, NULL, 0, "u00@x");
    conf_state_of(c->s, "u00@x", &st);
    assert_int_equal(store_head_publish(c->s, "u00@x", "m1", "head", 4, &st, NULL, &v),
                     STORE_OK);
    claim_want(b, NULL, 0, "u01@x");
    claim_want(c->s, NULL, 0, "u02@x");
    /* Dirty for another base model: claimable again, at once (the publish
     * gave A's claim back; its 600 s lease would otherwise hold it). */
    if (store_dirty_claim(b, "m2", NULL, 0, &got) != STORE_OK || strcmp(got, "u00@x") != 0)
        fail_msg("claim for m2: got %s, want u00@x", got != NULL ? got : store_errmsg(b));
    free(got);
    if (store_open(c->db, STORE_RDONLY, NULL, &ro, err, sizeof(err)) != STORE_OK)
        fail_msg("open read-only: %s", err);
    assert_int_equal(store_dirty_claim(ro, NULL, NULL, 0, &got), STORE_ERR);
    assert_null(got);
    store_close(ro);
    store_close(b);
}
