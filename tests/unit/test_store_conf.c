/*
 * test_store_conf.c - the store conformance suite: what store.h promises,
 * through store.h alone, on whichever backend the database strings name.
 *
 * SPAMSHIFT_CONF_DB is a database string with one "%d" where each case's
 * number goes (each case gets a fresh store), e.g. "host=/tmp/x dbname=conf%d"
 * (tests/unit/store_conf_pg.sh makes those databases in a throw-away
 * cluster); unset, the stores are SQLite files in a temporary directory.
 * same_on_both (store_conf_same.c) runs one learn/observe/publish sequence on
 * that backend and on a SQLite file and compares every observation line by
 * line; store_conf_claim.c holds the claims of dirty users (several handles
 * on one database, as several hosts); store_conf_scans.c the overview's count
 * of scan records against the rows.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "fixture.h"
#include "store_conf.h"

static char tmpdir[128];
static char pattern[512];
static int next_db;

/* A fresh store of the backend under test (ref: a SQLite one) into *s. */
void
conf_open_fresh(int ref, char *db, size_t len, struct store **s)
{
    struct store_opts o;
    char err[512];

    store_opts_default(&o);
    o.reservoir_size = 8;
    o.dirty_samples = 5;
    o.busy_ms = 2000;
    if (ref || pattern[0] == '\0')
        fx_path(db, len, tmpdir, "conf%d.db", next_db++);
    else
        snprintf(db, len, pattern, next_db++);
    if (store_open(db, STORE_CREATE, &o, s, err, sizeof(err)) != STORE_OK)
        fail_msg("open %s: %s", db, err);
}

static int
setup(void **state)
{
    struct conf *c = calloc(1, sizeof(*c));

    assert_non_null(c);
    conf_open_fresh(0, c->db, sizeof(c->db), &c->s);
    *state = c;
    return 0;
}

static int
teardown(void **state)
{
    struct conf *c = *state;

    store_close(c->s);
    free(c);
    return 0;
}

static struct store *
reopen(const char *db, unsigned flags)
{
    struct store *s;
    char err[512];

    if (store_open(db, flags, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("reopen %s: %s", db, err);
    return s;
}

void
conf_digest_of(uint32_t k, uint8_t d[STORE_DIGEST_LEN])
{
    memset(d, 0, STORE_DIGEST_LEN);
    for (int i = 0; i < 4; i++)
        d[i] = (uint8_t)(k >> (8 * i));
    d[15] = 0x5a;
}

/* Sorted unique ids derived from k. */
size_t
conf_ids_of(uint32_t k, uint32_t *ids)
{
    size_t n = 2 + k % 9;
    uint32_t v = k * 2654435761u % 1000;

    for (size_t i = 0; i < n; i++) {
        v += 1 + (k + (uint32_t)i * 7919u) % 70000u;
        ids[i] = v;
    }
    return n;
}

static void
learn(struct store *s, const char *user, uint32_t k, int spam, enum store_change want)
{
    uint8_t d[STORE_DIGEST_LEN];
    uint32_t ids[16];
    size_t n = conf_ids_of(k, ids);
    enum store_change got = (enum store_change)-1;
    int rc;

    conf_digest_of(k, d);
    if ((rc = store_feedback_put(s, user, d, spam, ids, n, &got)) != STORE_OK)
        fail_msg("learn %s %u: got %d (%s), want STORE_OK", user, k, rc, store_errmsg(s));
    if (got != want)
        fail_msg("learn %s %u: change got %d, want %d", user, k, got, want);
}

int
conf_offer(struct store *s, const char *user, uint32_t k)
{
    uint8_t d[STORE_DIGEST_LEN];
    uint32_t ids[16];
    size_t n = conf_ids_of(k, ids);
    int kept = -1, rc;

    conf_digest_of(k, d);
    if ((rc = store_reservoir_offer(s, user, d, ids, n, &kept)) != STORE_OK)
        fail_msg("offer %s %u: got %d (%s)", user, k, rc, store_errmsg(s));
    return kept;
}

void
conf_state_of(struct store *s, const char *user, struct store_user_state *st)
{
    int rc = store_user_state(s, user, st);

    if (rc != STORE_OK)
        fail_msg("state %s: got %d (%s), want STORE_OK", user, rc, store_errmsg(s));
}

/* ---- the cases ---- */

static void
test_settings(void **state)
{
    struct conf *c = *state;
    uint64_t dropped = 7;

    if (store_reservoir_size(c->s) != 8 || store_dirty_samples(c->s) != 5)
        fail_msg("settings got %u/%u, want 8/5", store_reservoir_size(c->s),
                 store_dirty_samples(c->s));
    assert_int_equal(store_set_reservoir_size(c->s, 0), STORE_ERR);
    assert_int_equal(store_set_dirty_samples(c->s, 0), STORE_ERR);
    assert_int_equal(store_set_reservoir_size(c->s, 4), STORE_OK);
    assert_int_equal(store_set_dirty_samples(c->s, 3), STORE_OK);
    assert_int_equal(store_set_feedback_max(c->s, 100, &dropped), STORE_OK);
    assert_int_equal(dropped, 0);
    store_close(c->s);
    c->s = reopen(c->db, 0);
    if (store_reservoir_size(c->s) != 4 || store_dirty_samples(c->s) != 3 ||
        store_feedback_max(c->s) != 100)
        fail_msg("settings after reopen got %u/%u/%u, want 4/3/100",
                 store_reservoir_size(c->s), store_dirty_samples(c->s),
                 store_feedback_max(c->s));
}

static void
test_users(void **state)
{
    static const char *const keys[] = { "zed@x", "Alice@x", "alice@x", "\xc3\xa9mile@x", "_u@x" };
    static const char *const sorted[] = { "Alice@x", "_u@x", "alice@x", "zed@x",
                                          "\xc3\xa9mile@x" };
    struct conf *c = *state;
    int64_t a, b;
    char **v;
    size_t n;

    assert_int_equal(store_user_lookup(c->s, "nobody@x", &a), STORE_NOTFOUND);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(store_user_get_or_create(c->s, keys[i], &a), STORE_OK);
    assert_int_equal(store_user_get_or_create(c->s, "zed@x", &a), STORE_OK);
    assert_int_equal(store_user_lookup(c->s, "zed@x", &b), STORE_OK);
    if (a != b)
        fail_msg("zed@x: id got %lld then %lld, want the same", (long long)a, (long long)b);
    assert_int_equal(store_user_get_or_create(c->s, "", &a), STORE_ERR);
    assert_int_equal(store_user_get_or_create(c->s, "bad\nkey", &a), STORE_ERR);
    assert_int_equal(store_user_list(c->s, &v, &n), STORE_OK);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++)      /* byte order, whatever the server's locale */
        if (strcmp(v[i], sorted[i]) != 0)
            fail_msg("user %zu: got %s, want %s", i, v[i], sorted[i]);
    assert_null(v[n]);
    store_strv_free(v);
}

static void
test_feedback(void **state)
{
    struct conf *c = *state;
    struct store_user_state st;
    struct store_samples ss;
    uint8_t d[STORE_DIGEST_LEN];
    uint32_t ids[16], bad[2] = { 5, 3 };
    enum store_change chg;

    learn(c->s, "a@x", 3, 1, STORE_LEARNED);
    learn(c->s, "a@x", 3, 1, STORE_UNCHANGED);
    learn(c->s, "a@x", 3, 0, STORE_MOVED);
    learn(c->s, "a@x", 1, 1, STORE_LEARNED);
    learn(c->s, "a@x", 2, 1, STORE_LEARNED);
    conf_digest_of(9, d);
    assert_int_equal(store_feedback_put(c->s, "a@x", d, 1, bad, 2, NULL), STORE_ERR);
    assert_int_equal(store_feedback_put(c->s, "a@x", d, 2, ids, 0, NULL), STORE_ERR);
    conf_digest_of(2, d);
    assert_int_equal(store_feedback_forget(c->s, "a@x", d, &chg), STORE_OK);
    assert_int_equal(chg, STORE_FORGOTTEN);
    assert_int_equal(store_feedback_forget(c->s, "a@x", d, &chg), STORE_OK);
    assert_int_equal(chg, STORE_UNCHANGED);
    assert_int_equal(store_feedback_forget(c->s, "nobody@x", d, &chg), STORE_OK);
    assert_int_equal(chg, STORE_UNCHANGED);
    conf_state_of(c->s, "a@x", &st);
    if (st.n_spam != 1 || st.n_ham != 1 || st.fb_gen != 5)
        fail_msg("state: spam %u ham %u fb_gen %llu, want 1, 1, 5", st.n_spam, st.n_ham,
                 (unsigned long long)st.fb_gen);
    assert_int_equal(store_feedback_list(c->s, "a@x", NULL, &ss), STORE_OK);
    assert_int_equal(ss.n, 2);
    for (size_t i = 0; i < ss.n; i++) {
        uint32_t k = i == 0 ? 1 : 3;        /* digest order: 1 then 3 */
        size_t n = conf_ids_of(k, ids);

        conf_digest_of(k, d);
        if (memcmp(ss.v[i].digest, d, STORE_DIGEST_LEN) != 0 || ss.v[i].n != n ||
            memcmp(ss.v[i].ids, ids, n * sizeof(*ids)) != 0 || ss.v[i].spam != (k == 1))
            fail_msg("sample %zu: got n %u spam %u, want message %u (n %zu)", i,
                     ss.v[i].n, ss.v[i].spam, k, n);
    }
    store_samples_free(&ss);
    assert_int_equal(store_feedback_list(c->s, "nobody@x", NULL, &ss), STORE_OK);
    assert_int_equal(ss.n, 0);
    store_samples_free(&ss);
}

static void
test_quota(void **state)
{
    struct conf *c = *state;
    struct store_user_state st;
    uint64_t dropped = 0;

    assert_int_equal(store_set_feedback_max(c->s, 3, &dropped), STORE_OK);
    for (uint32_t k = 1; k <= 5; k++)
        learn(c->s, "q@x", k, 1, STORE_LEARNED);
    learn(c->s, "r@x", 1, 0, STORE_LEARNED);
    conf_state_of(c->s, "q@x", &st);
    if (st.n_spam != 3 || store_feedback_dropped(c->s) != 2)
        fail_msg("quota 3: held %u dropped %llu, want 3 and 2", st.n_spam,
                 (unsigned long long)store_feedback_dropped(c->s));
    {
        uint8_t d[STORE_DIGEST_LEN];
        enum store_change chg;

        conf_digest_of(5, d);            /* the one written last is kept */
        assert_int_equal(store_feedback_forget(c->s, "q@x", d, &chg), STORE_OK);
        assert_int_equal(chg, STORE_FORGOTTEN);
    }
    assert_int_equal(store_set_feedback_max(c->s, 1, &dropped), STORE_OK);
    if (dropped != 1)
        fail_msg("quota 1 over every user: dropped %llu, want 1", (unsigned long long)dropped);
    conf_state_of(c->s, "r@x", &st);
    assert_int_equal(st.n_ham, 1);
}

static void
test_reservoir(void **state)
{
    struct conf *c = *state;
    struct store_user_state st;
    struct store_samples ss;
    int kept = 0;

    for (uint32_t k = 1; k <= 8; k++)
        if (conf_offer(c->s, "r@x", k) != 1)
            fail_msg("offer %u of the first 8: not kept, want kept", k);
    for (uint32_t k = 9; k <= 200; k++)
        kept += conf_offer(c->s, "r@x", k);
    conf_state_of(c->s, "r@x", &st);
    /* Algorithm R keeps the i-th with probability 8/i: about 8 * ln(200/8) = 26 */
    if (st.n_reservoir != 8 || st.seen != 200 || kept < 8 || kept > 60)
        fail_msg("reservoir %u seen %llu kept %d after 200, want 8, 200 and about 26",
                 st.n_reservoir, (unsigned long long)st.seen, kept);
    assert_int_equal(store_reservoir_list(c->s, "r@x", NULL, &ss), STORE_OK);
    assert_int_equal(ss.n, 8);
    for (size_t i = 1; i < ss.n; i++)
        if (memcmp(ss.v[i - 1].digest, ss.v[i].digest, STORE_DIGEST_LEN) >= 0)
            fail_msg("reservoir list not in digest order at %zu", i);
    {
        /* A sample in the reservoir offered again is neither kept nor counted. */
        const uint8_t *d = ss.v[3].digest;
        uint32_t k = (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16;

        if (conf_offer(c->s, "r@x", k) != 0)
            fail_msg("message %u offered again: kept, want not", k);
        conf_state_of(c->s, "r@x", &st);
        assert_int_equal(st.seen, 200);
    }
    store_samples_free(&ss);
    assert_int_equal(store_set_reservoir_size(c->s, 3), STORE_OK);
    conf_state_of(c->s, "r@x", &st);
    assert_int_equal(st.n_reservoir, 3);
}

static void
test_reps_fitcache(void **state)
{
    struct conf *c = *state;
    struct store_samples ss;
    uint8_t d[2][STORE_DIGEST_LEN];
    float rep[2][3] = { { 0.5f, -1.25f, 3e-8f }, { 1, 2, 3 } };
    uint64_t seen;
    void *blob;
    size_t len;

    learn(c->s, "f@x", 1, 1, STORE_LEARNED);
    learn(c->s, "f@x", 2, 0, STORE_LEARNED);
    conf_digest_of(1, d[0]);
    conf_digest_of(2, d[1]);
    assert_int_equal(store_reps_put(c->s, "f@x", STORE_FEEDBACK, "m1",
                                    (const uint8_t (*)[STORE_DIGEST_LEN])d, &rep[0][0], 3, 2),
                     STORE_OK);
    assert_int_equal(store_feedback_list(c->s, "f@x", "m1", &ss), STORE_OK);
    for (size_t i = 0; i < 2; i++)
        if (ss.v[i].rep == NULL || ss.v[i].rep_len != 3 ||
            memcmp(ss.v[i].rep, rep[i], sizeof(rep[i])) != 0)
            fail_msg("rep %zu under m1: got %s, want it back bit for bit", i,
                     ss.v[i].rep == NULL ? "none" : "other floats");
    store_samples_free(&ss);
    assert_int_equal(store_feedback_list(c->s, "f@x", "m2", &ss), STORE_OK);
    if (ss.v[0].rep != NULL || ss.v[1].rep != NULL)
        fail_msg("rep under m2: got one, want none (computed under m1)");
    store_samples_free(&ss);
    assert_int_equal(store_fitcache_get(c->s, "f@x", "m1", &seen, &blob, &len), STORE_NOTFOUND);
    assert_int_equal(store_fitcache_put(c->s, "f@x", "m1", 42, "\0abc", 4), STORE_OK);
    assert_int_equal(store_fitcache_put(c->s, "nobody@x", "m1", 42, "x", 1), STORE_OK);
    assert_int_equal(store_fitcache_get(c->s, "f@x", "m1", &seen, &blob, &len), STORE_OK);
    if (seen != 42 || len != 4 || memcmp(blob, "\0abc", 4) != 0)
        fail_msg("fit cache: seen %llu len %zu, want 42 and the 4 bytes",
                 (unsigned long long)seen, len);
    free(blob);
    assert_int_equal(store_fitcache_get(c->s, "f@x", "m2", &seen, &blob, &len), STORE_NOTFOUND);
    assert_null(blob);
}

static void
test_heads(void **state)
{
    struct conf *c = *state;
    struct store_user_state st, old;
    struct store_refit rec = { 3, 7, 0.75, 2.5, 0.25, -1, 12.5 }, got;
    uint64_t v = 0;
    int64_t at, last;
    void *blob;
    size_t len, n;
    char **users;

    learn(c->s, "h@x", 1, 1, STORE_LEARNED);
    learn(c->s, "g@x", 1, 0, STORE_LEARNED);
    assert_int_equal(store_refits_since(c->s, -1, &users, &n, &last), STORE_OK);
    assert_int_equal(n, 0);
    store_strv_free(users);
    assert_int_equal(store_dirty_list(c->s, NULL, 0, &users, &n), STORE_OK);
    if (n != 2 || strcmp(users[0], "g@x") != 0)
        fail_msg("dirty: got %zu users, want g@x and h@x", n);
    store_strv_free(users);
    conf_state_of(c->s, "h@x", &old);
    assert_int_equal(store_head_publish(c->s, "h@x", "m1", "head1", 5, &old, &rec, &v),
                     STORE_OK);
    assert_int_equal(v, 1);
    assert_int_equal(store_head_publish(c->s, "h@x", "m1", "head2", 5, &old, NULL, &v),
                     STORE_OK);
    assert_int_equal(v, 2);
    learn(c->s, "h@x", 2, 1, STORE_LEARNED);
    conf_state_of(c->s, "h@x", &st);
    assert_int_equal(store_head_publish(c->s, "h@x", "m1", "head3", 5, &st, &rec, &v),
                     STORE_OK);
    assert_int_equal(store_head_publish(c->s, "h@x", "m1", "stale", 5, &old, &rec, &v),
                     STORE_STALE);
    assert_int_equal(store_head_get(c->s, "h@x", "m1", 0, &blob, &len, &v), STORE_OK);
    if (v != 3 || len != 5 || memcmp(blob, "head3", 5) != 0)
        fail_msg("head: version %llu, want 3 and head3", (unsigned long long)v);
    free(blob);
    assert_int_equal(store_head_get(c->s, "h@x", "m1", 3, &blob, &len, &v), STORE_OK);
    assert_null(blob);
    assert_int_equal(store_head_get(c->s, "h@x", "m2", 0, &blob, &len, &v), STORE_NOTFOUND);
    assert_int_equal(store_head_get(c->s, "g@x", "m1", 0, &blob, &len, &v), STORE_NOTFOUND);
    assert_int_equal(store_refit_last(c->s, "h@x", &got, &v, &at), STORE_OK);
    if (v != 3 || got.n_feedback != 3 || got.n_unlabelled != 7 || got.domain_auc != 0.75 ||
        got.cv_err_after != -1 || got.ms != 12.5)
        fail_msg("refit record: version %llu n_feedback %u auc %g, want 3, 3, 0.75",
                 (unsigned long long)v, got.n_feedback, got.domain_auc);
    assert_int_equal(store_refits_since(c->s, last, &users, &n, &last), STORE_OK);
    if (n != 1 || strcmp(users[0], "h@x") != 0)
        fail_msg("refits since: got %zu users, want h@x once", n);
    store_strv_free(users);
    assert_int_equal(store_dirty_list(c->s, "m1", 0, &users, &n), STORE_OK);
    if (n != 1 || strcmp(users[0], "g@x") != 0)
        fail_msg("dirty after publish: got %zu, want g@x alone", n);
    store_strv_free(users);
    assert_int_equal(store_dirty_list(c->s, "m2", 0, &users, &n), STORE_OK);
    assert_int_equal(n, 2);             /* h@x's head is for another base model */
    store_strv_free(users);
    assert_int_equal(store_head_recent(c->s, "m1", 0, &users, &n), STORE_OK);
    if (n != 1 || strcmp(users[0], "h@x") != 0)
        fail_msg("recent heads: got %zu, want h@x", n);
    store_strv_free(users);
}

static void
test_thresholds_lists_counters(void **state)
{
    struct conf *c = *state;
    struct store_list_entry *e;
    uint64_t g0, g1;
    double spam, *sv;
    char **users;
    int64_t v;
    size_t n;

    assert_int_equal(store_thresholds_gen(c->s, &g0), STORE_OK);
    assert_int_equal(store_threshold_set(c->s, "t@x", 0.25), STORE_OK);
    assert_int_equal(store_threshold_set(c->s, "t@x", 1.0), STORE_ERR);
    assert_int_equal(store_threshold_get(c->s, "t@x", &spam), STORE_OK);
    assert_true(spam == 0.25);
    assert_int_equal(store_threshold_set(c->s, "s@x", 0.5), STORE_OK);
    assert_int_equal(store_threshold_list(c->s, &users, &sv, &n), STORE_OK);
    if (n != 2 || strcmp(users[0], "s@x") != 0 || sv[1] != 0.25)
        fail_msg("threshold list: got %zu, want s@x 0.5 and t@x 0.25", n);
    store_strv_free(users);
    free(sv);
    assert_int_equal(store_threshold_set(c->s, "t@x", -1), STORE_OK);
    assert_int_equal(store_threshold_get(c->s, "t@x", &spam), STORE_NOTFOUND);
    assert_int_equal(store_thresholds_gen(c->s, &g1), STORE_OK);
    if (g1 != g0 + 3)
        fail_msg("thresholds generation: got %llu, want %llu", (unsigned long long)g1,
                 (unsigned long long)g0 + 3);

    assert_int_equal(store_list_set(c->s, "@x", "@spam.example", STORE_LIST_BLOCK), STORE_OK);
    assert_int_equal(store_list_set(c->s, "a@x", "b@y", STORE_LIST_ALLOW), STORE_OK);
    assert_int_equal(store_list_set(c->s, "a@x", "zz@y", STORE_LIST_NONE), STORE_NOTFOUND);
    assert_int_equal(store_list_set(c->s, "a@x", "b@y", 9), STORE_ERR);
    assert_int_equal(store_lists_gen(c->s, &g1), STORE_OK);
    assert_int_equal(g1, 2);
    assert_int_equal(store_list_all(c->s, &e, &n), STORE_OK);
    if (n != 2 || strcmp(e[0].scope, "@x") != 0 || e[0].action != STORE_LIST_BLOCK ||
        strcmp(e[1].sender, "b@y") != 0 || e[1].added <= 0)
        fail_msg("lists: got %zu entries, want the block for @x then the allow", n);
    store_list_free(e, n);

    assert_int_equal(store_counter_get(c->s, "a@x", "x", &v), STORE_NOTFOUND);
    assert_int_equal(store_counter_add(c->s, "a@x", "x", 5), STORE_OK);
    assert_int_equal(store_counter_add(c->s, "a@x", "x", -2), STORE_OK);
    assert_int_equal(store_counter_get(c->s, "a@x", "x", &v), STORE_OK);
    assert_int_equal(v, 3);
}

/* Per-user target FPRs (store_target_fpr_*): a table of steps, each with the
 * status it must give, then the list, which is sorted bytewise and holds only
 * the targets (no threshold, no other setting), and the generation the
 * thresholds share (every set and clear bumps it, a rejected value does not). */
static void
test_target_fpr(void **state)
{
    static const struct {
        const char *user;
        double t;
        int want;
    } steps[] = {
        { "t@x", 0.003, STORE_OK },
        { "t@x", 1.0, STORE_ERR },              /* out of range */
        { "t@x", 0, STORE_ERR },
        { "nobody@x", 0.1 + 0.2, STORE_OK },    /* the user need not exist */
        { "B@x", 1e-9, STORE_OK },              /* 'B' sorts before 'n' and 't' */
        { "gone@x", 0.5, STORE_OK },
        { "gone@x", -1, STORE_OK },             /* cleared */
        { "never@x", -1, STORE_OK },            /* clearing nothing */
        { "bad\001key", 0.1, STORE_ERR },
    };
    static const struct {
        const char *user;
        double t;
    } want[] = { { "B@x", 1e-9 }, { "nobody@x", 0.1 + 0.2 }, { "t@x", 0.003 } };
    struct conf *c = *state;
    uint64_t g0, g1;
    unsigned bumps = 0;
    double t, *tv;
    char **users;
    size_t n;

    assert_int_equal(store_thresholds_gen(c->s, &g0), STORE_OK);
    assert_int_equal(store_threshold_set(c->s, "s@x", 0.75), STORE_OK);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int rc = store_target_fpr_set(c->s, steps[i].user, steps[i].t);

        if (rc != steps[i].want)
            fail_msg("step %zu: set %s %g: got %d, want %d", i, steps[i].user, steps[i].t,
                     rc, steps[i].want);
        bumps += rc == STORE_OK;
    }
    assert_int_equal(store_thresholds_gen(c->s, &g1), STORE_OK);
    if (g1 != g0 + 1 + bumps)
        fail_msg("thresholds generation: got %llu, want %llu", (unsigned long long)g1,
                 (unsigned long long)(g0 + 1 + bumps));
    assert_int_equal(store_target_fpr_get(c->s, "t@x", &t), STORE_OK);
    if (t != 0.003)
        fail_msg("target of t@x: got %.17g, want 0.003", t);
    assert_int_equal(store_target_fpr_get(c->s, "gone@x", &t), STORE_NOTFOUND);
    assert_int_equal(store_target_fpr_get(c->s, "s@x", &t), STORE_NOTFOUND);
    assert_int_equal(store_target_fpr_list(c->s, &users, &tv, &n), STORE_OK);
    if (n != sizeof(want) / sizeof(want[0]))
        fail_msg("target list: got %zu entries, want %zu", n, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < n; i++)
        if (strcmp(users[i], want[i].user) != 0 || tv[i] != want[i].t)
            fail_msg("target list[%zu]: got %s %.17g, want %s %.17g", i, users[i], tv[i],
                     want[i].user, want[i].t);
    assert_null(users[n]);
    store_strv_free(users);
    free(tv);
    /* The thresholds do not see the targets, nor the targets the thresholds. */
    assert_int_equal(store_threshold_list(c->s, &users, &tv, &n), STORE_OK);
    if (n != 1 || strcmp(users[0], "s@x") != 0 || tv[0] != 0.75)
        fail_msg("threshold list: got %zu entries, want s@x 0.75 alone", n);
    store_strv_free(users);
    free(tv);
    assert_int_equal(store_threshold_get(c->s, "t@x", &t), STORE_NOTFOUND);
}

/* The heads published for a base model, newest first, at most max of them. */
static void
test_head_recent(void **state)
{
    static const char *const users[] = { "r1@x", "r2@x", "r3@x" };
    struct conf *c = *state;
    struct store_user_state st;
    uint64_t v;
    char **keys;
    size_t n;

    for (size_t i = 0; i < 3; i++) {
        learn(c->s, users[i], (uint32_t)i + 1, 1, STORE_LEARNED);
        conf_state_of(c->s, users[i], &st);
        assert_int_equal(store_head_publish(c->s, users[i], i < 2 ? "m1" : "m2", "head", 4,
                                            &st, NULL, &v), STORE_OK);
    }
    static const struct {
        const char *model;
        size_t max, want;
    } cases[] = { { "m1", 0, 2 }, { "m1", 1, 1 }, { "m1", 5, 2 }, { "m2", 0, 1 },
                  { "m3", 0, 0 } };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(store_head_recent(c->s, cases[i].model, cases[i].max, &keys, &n),
                         STORE_OK);
        if (n != cases[i].want)
            fail_msg("recent %s max %zu: got %zu users, want %zu", cases[i].model,
                     cases[i].max, n, cases[i].want);
        for (size_t j = 0; j < n; j++)
            if (strcmp(keys[j], cases[i].model[1] == '2' ? "r3@x" : "r1@x") != 0 &&
                strcmp(keys[j], "r2@x") != 0)
                fail_msg("recent %s: got %s, a head for another model", cases[i].model,
                         keys[j]);
        assert_null(keys[n]);
        store_strv_free(keys);
    }
}

static void
test_scans_stats(void **state)
{
    struct conf *c = *state;
    struct store_user_stats *us;
    struct store_overview o;
    uint8_t d[STORE_DIGEST_LEN];
    int64_t now = (int64_t)time(NULL);
    size_t n;

    conf_digest_of(1, d);
    assert_int_equal(store_scan_record(c->s, "s@x", d, 0.9f, STORE_V_TAG, 1.0, now), STORE_OK);
    conf_digest_of(2, d);
    assert_int_equal(store_scan_record(c->s, "s@x", d, 0.1f, STORE_V_PASS, 0.01, now), STORE_OK);
    assert_int_equal(store_scan_record(c->s, "s@x", NULL, 0, STORE_V_SKIPPED, 0, now), STORE_OK);
    assert_int_equal(store_scan_record(c->s, "s@x", d, 0.5f, STORE_V_N, 0, now), STORE_ERR);
    learn(c->s, "s@x", 1, 0, STORE_LEARNED);    /* tagged, was ham: a false positive */
    learn(c->s, "s@x", 2, 1, STORE_LEARNED);    /* passed, was spam: a false negative */
    assert_int_equal(store_user_stats(c->s, NULL, now - 3600, &us, &n), STORE_OK);
    assert_int_equal(n, 1);
    if (us[0].scanned != 2 || us[0].tagged != 1 || us[0].skipped != 1 || us[0].fp != 1 ||
        us[0].fn != 1 || us[0].learned_spam != 1 || us[0].fb_ham != 1 ||
        fabs(us[0].ms_sum - 1.01) > 1e-9 || us[0].hist[0] != 1)
        fail_msg("stats: scanned %llu tagged %llu fp %llu fn %llu ms %g, want 2 1 1 1 1.01",
                 (unsigned long long)us[0].scanned, (unsigned long long)us[0].tagged,
                 (unsigned long long)us[0].fp, (unsigned long long)us[0].fn, us[0].ms_sum);
    store_user_stats_free(us, n);
    /* A record from 31 days ago expires at the next hour's check. */
    store_close(c->s);
    c->s = reopen(c->db, 0);
    conf_digest_of(3, d);
    assert_int_equal(store_scan_record(c->s, "s@x", d, 0.2f, STORE_V_PASS, 1, now - 31 * 86400),
                     STORE_OK);
    assert_int_equal(store_overview(c->s, 0, &o), STORE_OK);
    if (o.users != 1 || o.feedback != 2 || o.scan_records != 3 || o.bytes <= 0)
        fail_msg("overview: users %llu feedback %llu scans %llu, want 1 2 3",
                 (unsigned long long)o.users, (unsigned long long)o.feedback,
                 (unsigned long long)o.scan_records);
    conf_digest_of(4, d);
    assert_int_equal(store_scan_record(c->s, "s@x", d, 0.2f, STORE_V_PASS, 1, now + 3600),
                     STORE_OK);
    assert_int_equal(store_overview(c->s, 0, &o), STORE_OK);
    if (o.scan_records != 3)
        fail_msg("after expiry: %llu scan records, want 3", (unsigned long long)o.scan_records);
    /* The same message scanned again is still one record; another user's
     * copy of it is one more; the check agrees (PostgreSQL keeps the count
     * per user: store_pg_scans.c). */
    assert_int_equal(store_scan_record(c->s, "s@x", d, 0.7f, STORE_V_TAG, 1, now + 3601),
                     STORE_OK);
    assert_int_equal(store_scan_record(c->s, "t@x", d, 0.7f, STORE_V_TAG, 1, now + 3601),
                     STORE_OK);
    assert_int_equal(store_overview(c->s, 0, &o), STORE_OK);
    if (o.users != 2 || o.scan_records != 4)
        fail_msg("after a scan again and another user's: %llu users, %llu scan records, "
                 "want 2 4", (unsigned long long)o.users, (unsigned long long)o.scan_records);
    assert_int_equal(store_check(c->s), STORE_OK);
}

/* A scan time in bucket b (store_scan_bucket_ms: bucket b holds times above
 * b - 1's bound up to its own; the last holds every longer one). */
static double
ms_in_bucket(int b)
{
    if (b == 0)
        return 0;
    if (b == STORE_SCAN_HIST - 1)
        return 1e6;
    return (store_scan_bucket_ms(b - 1) + store_scan_bucket_ms(b)) / 2;
}

/* The day's histogram as the records add up: buckets from one record to past
 * a byte's worth (the counters are 4-byte words), records without a bucket
 * (skipped, errors) between them, one by one and in a writer's batch (where
 * the PostgreSQL store adds to the row on the server: scan_day_bump). */
static void
test_scan_hist(void **state)
{
    static const struct { int bucket, count; } plan[] = {
        { 0, 1 }, { 1, 2 }, { 7, 300 }, { 20, 3 }, { 46, 1 }, { STORE_SCAN_HIST - 1, 2 },
    };
    struct conf *c = *state;
    struct store_op ops[400];
    uint32_t want[STORE_SCAN_HIST] = { 0 };
    uint64_t want_scanned = 0, want_skipped = 0, want_errors = 0;
    struct store_user_stats *us;
    int64_t now = (int64_t)time(NULL);
    size_t n = 0, nus;

    memset(ops, 0, sizeof(ops));
    for (size_t i = 0; i < sizeof(plan) / sizeof(plan[0]); i++)
        for (int k = 0; k < plan[i].count; k++) {
            struct store_op *op = &ops[n++];

            op->kind = STORE_OP_SCAN;
            op->user = "h@x";
            conf_digest_of((uint32_t)n, op->digest);
            op->score = 0.5f;
            op->verdict = STORE_V_PASS;
            op->ms = ms_in_bucket(plan[i].bucket);
            want[plan[i].bucket]++;
            want_scanned++;
            if (k == 0) {       /* one without a bucket after each bucket's first */
                op = &ops[n++];
                op->kind = STORE_OP_SCAN;
                op->user = "h@x";
                op->verdict = i % 2 ? STORE_V_SKIPPED : STORE_V_ERROR;
                want_skipped += i % 2;
                want_errors += 1 - i % 2;
            }
        }
    assert_true(n <= sizeof(ops) / sizeof(ops[0]));
    /* The first few one by one (each its own transaction), the rest in one batch. */
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(store_scan_record(c->s, ops[i].user,
                                           ops[i].verdict == STORE_V_PASS ? ops[i].digest : NULL,
                                           ops[i].score, ops[i].verdict, ops[i].ms, now),
                         STORE_OK);
    assert_int_equal(store_apply(c->s, ops + 4, n - 4), STORE_OK);
    /* The batch's records are at time(NULL): maybe the next day; stats add days. */
    assert_int_equal(store_user_stats(c->s, "h@x", now - 86400, &us, &nus), STORE_OK);
    assert_int_equal(nus, 1);
    for (int b = 0; b < STORE_SCAN_HIST; b++)
        if (us[0].hist[b] != want[b])
            fail_msg("bucket %d: got %u, want %u", b, us[0].hist[b], want[b]);
    if (us[0].scanned != want_scanned || us[0].skipped != want_skipped ||
        us[0].errors != want_errors)
        fail_msg("scanned %llu skipped %llu errors %llu, want %llu %llu %llu",
                 (unsigned long long)us[0].scanned, (unsigned long long)us[0].skipped,
                 (unsigned long long)us[0].errors, (unsigned long long)want_scanned,
                 (unsigned long long)want_skipped, (unsigned long long)want_errors);
    store_user_stats_free(us, nus);
}

static void
test_transactions(void **state)
{
    struct conf *c = *state;
    struct store_user_state st;
    struct store_op ops[3];
    struct store *other;
    uint32_t ids[16], bad[2] = { 9, 1 };
    int64_t v;

    assert_int_equal(store_begin(c->s), STORE_OK);
    assert_int_equal(store_begin(c->s), STORE_ERR);
    learn(c->s, "t@x", 1, 1, STORE_LEARNED);
    assert_int_equal(store_counter_add(c->s, "t@x", "n", 1), STORE_OK);
    store_rollback(c->s);
    assert_int_equal(store_user_state(c->s, "t@x", &st), STORE_NOTFOUND);
    memset(ops, 0, sizeof(ops));
    ops[0] = (struct store_op){ .kind = STORE_OP_FEEDBACK, .user = "t@x", .spam = 1 };
    ops[0].n = conf_ids_of(1, ids);
    ops[0].ids = ids;
    conf_digest_of(1, ops[0].digest);
    ops[1] = (struct store_op){ .kind = STORE_OP_COUNTER, .user = "t@x", .counter = "n",
                                .delta = 4 };
    ops[2] = (struct store_op){ .kind = STORE_OP_OFFER, .user = "t@x", .ids = bad, .n = 2 };
    assert_int_equal(store_apply(c->s, ops, 3), STORE_ERR);     /* all or none */
    assert_int_equal(store_counter_get(c->s, "t@x", "n", &v), STORE_NOTFOUND);
    assert_int_equal(store_apply(c->s, ops, 2), STORE_OK);
    assert_int_equal(ops[0].chg, STORE_LEARNED);
    /* A read snapshot does not see another connection's later writes. */
    other = reopen(c->db, 0);
    assert_int_equal(store_begin_read(c->s), STORE_OK);
    assert_int_equal(store_counter_add(other, "t@x", "n", 10), STORE_OK);
    assert_int_equal(store_counter_get(c->s, "t@x", "n", &v), STORE_OK);
    if (v != 4)
        fail_msg("inside a snapshot: got %lld, want 4", (long long)v);
    assert_int_equal(store_counter_add(c->s, "t@x", "n", 1), STORE_ERR);
    store_end_read(c->s);
    assert_int_equal(store_counter_get(c->s, "t@x", "n", &v), STORE_OK);
    assert_int_equal(v, 14);
    /* Two connections offering to one user count every distinct sample. */
    for (uint32_t k = 100; k < 140; k++)
        conf_offer(k % 2 ? other : c->s, "t@x", k);
    conf_state_of(c->s, "t@x", &st);
    if (st.seen != 40 || st.n_reservoir != 8)
        fail_msg("two writers: seen %llu reservoir %u, want 40 and 8",
                 (unsigned long long)st.seen, st.n_reservoir);
    store_close(other);
    other = reopen(c->db, STORE_RDONLY);
    assert_int_equal(store_counter_add(other, "t@x", "n", 1), STORE_ERR);
    assert_int_equal(store_check(other), STORE_OK);
    store_close(other);
}

/* ---- one sequence on both backends ---- */

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_users, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feedback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quota, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reservoir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reps_fitcache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thresholds_lists_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_target_fpr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_recent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scans_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_hist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_same_on_both, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_lease, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_published, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_count, setup, teardown),
    };
    const char *p = getenv("SPAMSHIFT_CONF_DB");
    int rc;

    if (p != NULL && *p != '\0') {
        if (strstr(p, "%d") == NULL || strlen(p) >= sizeof(pattern)) {
            fprintf(stderr, "SPAMSHIFT_CONF_DB must hold one %%d for the case number\n");
            return 2;
        }
        snprintf(pattern, sizeof(pattern), "%s", p);
    }
    fx_tmpdir(tmpdir, sizeof(tmpdir), "test_store_conf");
    rc = cmocka_run_group_tests_name(pattern[0] ? "store conformance (given database)"
                                                : "store conformance (sqlite)",
                                     tests, NULL, NULL);
    fx_rmtree(tmpdir);
    return rc;
}
