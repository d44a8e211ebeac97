/*
 * test_store.c - the per-user store (adapt/store.h, SQLite backend) and the
 * feature-id codec (adapt/idpack.h), on temporary databases.
 *
 * Raw SQL appears here only to build what the store itself must cope with: a
 * database left by an older schema, a schema from the future, and another
 * connection holding the write lock.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "features.h"
#include "idpack.h"
#include "store.h"
#include "fixture.h"

/* ---- helpers ---- */

struct fixture {
    char dir[64];
    char path[128];
    struct store *s;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct store_opts o;

    assert_non_null(f);
    fx_tmpdir(f->dir, sizeof(f->dir), "test_store");
    store_opts_default(&o);
    o.reservoir_size = 50;
    o.dirty_samples = 10;
    o.busy_ms = 200;
    fx_store(f->dir, "store.db", &o, f->path, sizeof(f->path), &f->s);
    {
        struct stat sb;

        /* Created private to owner and group whatever SQLite's default. */
        assert_int_equal(stat(f->path, &sb), 0);
        if ((sb.st_mode & 0007) != 0)
            fail_msg("store created with mode %o, want no access for others",
                     (unsigned)(sb.st_mode & 0777));
    }
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    fx_cleanup(f->s, NULL, f->dir);
    free(f);
    return 0;
}

static void
digest_of(uint32_t k, uint8_t d[STORE_DIGEST_LEN])
{
    memset(d, 0, STORE_DIGEST_LEN);
    for (int i = 0; i < 4; i++)
        d[i] = (uint8_t)(k >> (8 * i));
    d[15] = 0xa5;
}

/* Sorted unique ids derived from k. */
static size_t
ids_of(uint32_t k, uint32_t *ids, size_t max)
{
    size_t n = 3 + k % 7;
    uint32_t v = k * 2654435761u % 1000;

    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++) {
        v += 1 + (k + (uint32_t)i * 7919u) % 100000u;
        ids[i] = v;
    }
    return n;
}

static void
exec_sql(const char *path, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static int64_t
query_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    int64_t v = -1;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* ---- idpack ---- */

static void
test_idpack_roundtrip(void **state)
{
    static const struct {
        const char *name;
        uint32_t ids[6];
        size_t n;
        size_t want_len;
    } cases[] = {
        { "empty", { 0 }, 0, 0 },
        { "zero", { 0 }, 1, 1 },
        { "max", { UINT32_MAX }, 1, 5 },
        { "small gaps", { 1, 2, 3, 130 }, 4, 4 },
        { "two-byte gap", { 1, 129 }, 2, 3 },
        { "huge gap", { 0, UINT32_MAX }, 2, 6 },
        { "mixed", { 7, 127, 128, 16511, 2000000, UINT32_MAX - 1 }, 6, 1 + 1 + 1 + 2 + 3 + 5 },
    };

    (void)state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        uint8_t buf[64];
        uint32_t back[6];
        size_t len = idpack_encode(cases[c].ids, cases[c].n, buf);

        if (len != cases[c].want_len)
            fail_msg("%s: encoded length got %zu, want %zu", cases[c].name, len,
                     cases[c].want_len);
        if (idpack_decode(buf, len, back, cases[c].n) != 0)
            fail_msg("%s: decode failed", cases[c].name);
        for (size_t i = 0; i < cases[c].n; i++)
            if (back[i] != cases[c].ids[i])
                fail_msg("%s: id %zu got %u, want %u", cases[c].name, i, back[i],
                         cases[c].ids[i]);
    }
}

static void
test_idpack_bad(void **state)
{
    static const uint32_t unsorted[] = { 5, 3 }, dup[] = { 5, 5 };
    static const struct {
        const char *name;
        uint8_t buf[8];
        size_t len, n;
    } cases[] = {
        { "truncated varint", { 0x80 }, 1, 1 },
        { "missing id", { 0x01 }, 1, 2 },
        { "trailing bytes", { 0x01, 0x02 }, 2, 1 },
        { "overlong varint", { 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 }, 6, 1 },
        { "above 2^32", { 0xff, 0xff, 0xff, 0xff, 0x1f }, 5, 1 },
        { "zero gap", { 0x05, 0x00 }, 2, 2 },
        { "sum overflows", { 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01 }, 6, 2 },
    };
    uint8_t out[16];

    (void)state;
    if (idpack_encode(unsorted, 2, out) != (size_t)-1)
        fail_msg("unsorted ids: got accepted, want refused");
    if (idpack_encode(dup, 2, out) != (size_t)-1)
        fail_msg("duplicate ids: got accepted, want refused");
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        uint32_t ids[4];

        if (idpack_decode(cases[c].buf, cases[c].len, ids, cases[c].n) != -1)
            fail_msg("%s: got accepted, want refused", cases[c].name);
    }
}

/* ---- feedback: learn, relearn, move, forget ---- */

static void
test_feedback_sequence(void **state)
{
    struct fixture *f = *state;
    static const struct {
        const char *name;
        int forget, spam;
        enum store_change want;
        uint32_t want_spam, want_ham;
        int gen_bumped;
    } steps[] = {
        { "learn spam", 0, 1, STORE_LEARNED, 1, 0, 1 },
        { "learn spam again", 0, 1, STORE_UNCHANGED, 1, 0, 0 },
        { "learn as ham", 0, 0, STORE_MOVED, 0, 1, 1 },
        { "learn ham again", 0, 0, STORE_UNCHANGED, 0, 1, 0 },
        { "forget", 1, 0, STORE_FORGOTTEN, 0, 0, 1 },
        { "forget again", 1, 0, STORE_UNCHANGED, 0, 0, 0 },
        { "learn ham after forget", 0, 0, STORE_LEARNED, 0, 1, 1 },
    };
    uint8_t dg[STORE_DIGEST_LEN];
    uint32_t ids[16];
    size_t n = ids_of(42, ids, 16);
    uint64_t gen = 0;

    digest_of(42, dg);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct store_user_state st;
        enum store_change chg = (enum store_change)-1;
        int rc = steps[i].forget
            ? store_feedback_forget(f->s, "alice@example.org", dg, &chg)
            : store_feedback_put(f->s, "alice@example.org", dg, steps[i].spam, ids, n, &chg);

        if (rc != STORE_OK)
            fail_msg("%s: %s", steps[i].name, store_errmsg(f->s));
        if (chg != steps[i].want)
            fail_msg("%s: change got %d, want %d", steps[i].name, chg, steps[i].want);
        assert_int_equal(store_user_state(f->s, "alice@example.org", &st), STORE_OK);
        if (st.n_spam != steps[i].want_spam || st.n_ham != steps[i].want_ham)
            fail_msg("%s: spam/ham got %u/%u, want %u/%u", steps[i].name, st.n_spam,
                     st.n_ham, steps[i].want_spam, steps[i].want_ham);
        if ((st.fb_gen != gen) != steps[i].gen_bumped)
            fail_msg("%s: fb_gen %llu -> %llu, want %s", steps[i].name,
                     (unsigned long long)gen, (unsigned long long)st.fb_gen,
                     steps[i].gen_bumped ? "a bump" : "no change");
        gen = st.fb_gen;
    }
}

static void
test_feedback_list_roundtrip(void **state)
{
    struct fixture *f = *state;
    struct store_samples ss;
    uint32_t ids[16];

    for (uint32_t k = 0; k < 30; k++) {
        uint8_t dg[STORE_DIGEST_LEN];
        size_t n = ids_of(k, ids, 16);

        digest_of(k, dg);
        assert_int_equal(store_feedback_put(f->s, "bob", dg, (int)(k % 2), ids, n, NULL),
                         STORE_OK);
    }
    assert_int_equal(store_feedback_list(f->s, "bob", NULL, &ss), STORE_OK);
    if (ss.n != 30)
        fail_msg("feedback rows got %zu, want 30", ss.n);
    for (size_t i = 0; i < ss.n; i++) {
        uint32_t k = (uint32_t)ss.v[i].digest[0] | (uint32_t)ss.v[i].digest[1] << 8;
        size_t n = ids_of(k, ids, 16);

        if (ss.v[i].n != n || memcmp(ss.v[i].ids, ids, n * sizeof(uint32_t)) != 0)
            fail_msg("message %u: ids differ after the round trip", k);
        if (ss.v[i].spam != k % 2)
            fail_msg("message %u: label got %u, want %u", k, ss.v[i].spam, k % 2);
    }
    store_samples_free(&ss);
    /* An unknown user has an empty list, not an error. */
    assert_int_equal(store_feedback_list(f->s, "nobody", NULL, &ss), STORE_OK);
    assert_int_equal(ss.n, 0);
    store_samples_free(&ss);
}

/* Cached representations: stored exactly per base model, returned only for that
 * model, kept when a message moves class, and refused with a bad size. */
static void
test_reps(void **state)
{
    struct fixture *f = *state;
    static const float rep[2][3] = { { 0.25f, -1.5f, 3.0e-7f }, { -0.0f, 1e30f, 7.125f } };
    uint8_t dg[2][STORE_DIGEST_LEN];
    struct store_samples ss;
    uint32_t ids[16];
    size_t n = ids_of(9, ids, 16);
    static const struct { const char *name; const char *model; int want; } asks[] = {
        { "same model", "m1", 1 }, { "other model", "m2", 0 }, { "no model", NULL, 0 },
    };

    for (int i = 0; i < 2; i++) {
        digest_of((uint32_t)i, dg[i]);
        assert_int_equal(store_feedback_put(f->s, "rita", dg[i], i, ids, n, NULL), STORE_OK);
    }
    assert_int_equal(store_reps_put(f->s, "rita", STORE_FEEDBACK, "m1",
                                    (const uint8_t (*)[STORE_DIGEST_LEN])dg, &rep[0][0], 3, 2),
                     STORE_OK);
    /* A moved message is the same message: its representation stays. */
    assert_int_equal(store_feedback_put(f->s, "rita", dg[0], 1, ids, n, NULL), STORE_OK);
    for (size_t a = 0; a < sizeof(asks) / sizeof(asks[0]); a++) {
        assert_int_equal(store_feedback_list(f->s, "rita", asks[a].model, &ss), STORE_OK);
        assert_int_equal(ss.n, 2);
        for (size_t i = 0; i < 2; i++) {
            int k = ss.v[i].digest[0];

            if ((ss.v[i].rep != NULL) != asks[a].want)
                fail_msg("%s: message %d rep %s, want %s", asks[a].name, k,
                         ss.v[i].rep ? "present" : "absent", asks[a].want ? "present" : "absent");
            if (asks[a].want && (ss.v[i].rep_len != 3 ||
                                 memcmp(ss.v[i].rep, rep[k], sizeof(rep[k])) != 0))
                fail_msg("%s: message %d rep differs after the round trip", asks[a].name, k);
        }
        store_samples_free(&ss);
    }
    if (store_reps_put(f->s, "rita", STORE_FEEDBACK, "m1",
                       (const uint8_t (*)[STORE_DIGEST_LEN])dg, &rep[0][0], 0, 2) != STORE_ERR)
        fail_msg("zero-width representation: got accepted");
    /* An unknown user or a vanished message is skipped, not an error. */
    assert_int_equal(store_reps_put(f->s, "nobody", STORE_RESERVOIR, "m1",
                                    (const uint8_t (*)[STORE_DIGEST_LEN])dg, &rep[0][0], 3, 2),
                     STORE_OK);
}

static void
test_feedback_bad_input(void **state)
{
    struct fixture *f = *state;
    static const uint32_t unsorted[] = { 9, 3 };
    uint8_t dg[STORE_DIGEST_LEN];
    char longkey[400];

    digest_of(1, dg);
    memset(longkey, 'a', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    static const struct { const char *name; const char *user; int spam; int sorted; } cases[] = {
        { "label 2", "u", 2, 1 },
        { "empty user", "", 1, 1 },
        { "control char", "a\nb", 1, 1 },
        { "unsorted ids", "u", 1, 0 },
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int rc = store_feedback_put(f->s, cases[c].user, dg, cases[c].spam, unsorted,
                                    cases[c].sorted ? 1 : 2, NULL);
        if (rc != STORE_ERR)
            fail_msg("%s: got %d, want STORE_ERR", cases[c].name, rc);
        if (store_errmsg(f->s)[0] == '\0')
            fail_msg("%s: no error message", cases[c].name);
    }
    if (store_feedback_put(f->s, longkey, dg, 1, unsorted, 1, NULL) != STORE_ERR)
        fail_msg("400-byte user key: got accepted, want refused");
    /* Nothing of the refused writes is left. */
    if (query_int(f->path, "SELECT count(*) FROM feedback") != 0)
        fail_msg("refused writes left rows behind");
}

/* ---- reservoir ---- */

static void
test_reservoir_bound(void **state)
{
    struct fixture *f = *state;
    struct store_user_state st;
    uint32_t ids[16];
    int kept_first = 0, kept;

    assert_int_equal(store_begin(f->s), STORE_OK);
    for (uint32_t k = 0; k < 1000; k++) {
        uint8_t dg[STORE_DIGEST_LEN];
        size_t n = ids_of(k, ids, 16);

        digest_of(k, dg);
        assert_int_equal(store_reservoir_offer(f->s, "carol", dg, ids, n, &kept), STORE_OK);
        if (k < 50)
            kept_first += kept;
    }
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(store_user_state(f->s, "carol", &st), STORE_OK);
    if (kept_first != 50)
        fail_msg("first 50 offers kept got %d, want 50", kept_first);
    if (st.n_reservoir != 50)
        fail_msg("reservoir size got %u, want 50", st.n_reservoir);
    if (st.seen != 1000)
        fail_msg("seen got %llu, want 1000", (unsigned long long)st.seen);
    /* The same message offered again is not counted twice. */
    {
        struct store_samples ss;
        uint8_t dg[STORE_DIGEST_LEN];

        assert_int_equal(store_reservoir_list(f->s, "carol", NULL, &ss), STORE_OK);
        assert_int_equal(ss.n, 50);
        memcpy(dg, ss.v[0].digest, STORE_DIGEST_LEN);
        store_samples_free(&ss);
        assert_int_equal(store_reservoir_offer(f->s, "carol", dg, ids, 3, &kept), STORE_OK);
        assert_int_equal(store_user_state(f->s, "carol", &st), STORE_OK);
        if (kept != 0 || st.seen != 1000)
            fail_msg("re-offered sample: kept %d seen %llu, want 0 and 1000", kept,
                     (unsigned long long)st.seen);
    }
    /* Shrinking drops the excess. */
    assert_int_equal(store_set_reservoir_size(f->s, 20), STORE_OK);
    assert_int_equal(store_user_state(f->s, "carol", &st), STORE_OK);
    if (st.n_reservoir != 20)
        fail_msg("after shrinking to 20: got %u samples", st.n_reservoir);
}

/*
 * Algorithm R keeps every offered message with probability k/N.  40 users are each
 * offered N = 500 messages with k = 50; counted by arrival decile, each decile
 * should hold 40 * 50 / 10 = 200 of the kept samples.  Chi-square over the ten
 * deciles (9 degrees of freedom) stays below 27.9 (p = 0.001) for a uniform
 * sampler; the RNG is seeded, so the result is reproducible.  A sampler that kept
 * the first k or the last k would score in the thousands.
 */
static void
test_reservoir_uniform(void **state)
{
    struct fixture *f = *state;
    enum { USERS = 40, N = 500, K = 50 };
    double count[10] = { 0 }, chi2 = 0, want = USERS * K / 10.0;
    uint32_t ids[16];

    assert_int_equal(store_begin(f->s), STORE_OK);
    for (int u = 0; u < USERS; u++) {
        char user[32];

        snprintf(user, sizeof(user), "user%d@example.net", u);
        for (uint32_t k = 0; k < N; k++) {
            uint8_t dg[STORE_DIGEST_LEN];
            size_t n = ids_of(k, ids, 16);

            digest_of(k, dg);
            assert_int_equal(store_reservoir_offer(f->s, user, dg, ids, n, NULL), STORE_OK);
        }
    }
    assert_int_equal(store_commit(f->s), STORE_OK);
    for (int u = 0; u < USERS; u++) {
        struct store_samples ss;
        char user[32];

        snprintf(user, sizeof(user), "user%d@example.net", u);
        assert_int_equal(store_reservoir_list(f->s, user, NULL, &ss), STORE_OK);
        if (ss.n != K)
            fail_msg("%s: reservoir got %zu, want %d", user, ss.n, K);
        for (size_t i = 0; i < ss.n; i++) {
            uint32_t k = (uint32_t)ss.v[i].digest[0] | (uint32_t)ss.v[i].digest[1] << 8;
            count[k * 10 / N]++;
        }
        store_samples_free(&ss);
    }
    for (int d = 0; d < 10; d++)
        chi2 += (count[d] - want) * (count[d] - want) / want;
    if (chi2 > 27.9)
        fail_msg("chi-square over arrival deciles got %.1f, want < 27.9 "
                 "(counts %g %g %g %g %g %g %g %g %g %g)", chi2, count[0], count[1],
                 count[2], count[3], count[4], count[5], count[6], count[7], count[8],
                 count[9]);
}

/* ---- heads, versions, dirty users, isolation ---- */

static void
test_head_publish(void **state)
{
    struct fixture *f = *state;
    struct store_user_state st, old;
    struct store_refit rec = { 3, 0, 0.5, 100, 0.3, 0.1, 1.5 };
    uint8_t dg[STORE_DIGEST_LEN];
    uint32_t ids[16];
    size_t n = ids_of(7, ids, 16);
    void *blob;
    size_t len;
    uint64_t v;

    digest_of(7, dg);
    assert_int_equal(store_feedback_put(f->s, "dave", dg, 1, ids, n, NULL), STORE_OK);
    assert_int_equal(store_head_get(f->s, "dave", "m1", 0, &blob, &len, &v), STORE_NOTFOUND);
    assert_int_equal(store_user_state(f->s, "dave", &st), STORE_OK);
    old = st;
    assert_int_equal(store_head_publish(f->s, "dave", "m1", "AAAA", 4, &st, &rec, &v),
                     STORE_OK);
    if (v != 1)
        fail_msg("first version got %llu, want 1", (unsigned long long)v);
    assert_int_equal(store_head_publish(f->s, "dave", "m1", "BBBBB", 5, &st, &rec, &v),
                     STORE_OK);
    if (v != 2)
        fail_msg("second version got %llu, want 2", (unsigned long long)v);

    assert_int_equal(store_head_get(f->s, "dave", "m1", 0, &blob, &len, &v), STORE_OK);
    if (v != 2 || len != 5 || memcmp(blob, "BBBBB", 5) != 0)
        fail_msg("head got version %llu len %zu, want version 2 \"BBBBB\"",
                 (unsigned long long)v, len);
    free(blob);
    /* A scorer holding version 2 gets no copy. */
    assert_int_equal(store_head_get(f->s, "dave", "m1", 2, &blob, &len, &v), STORE_OK);
    if (blob != NULL || v != 2)
        fail_msg("current version: got a copy, want none");
    /* A head fitted against another base model is not served. */
    assert_int_equal(store_head_get(f->s, "dave", "m2", 0, &blob, &len, &v), STORE_NOTFOUND);

    /* New feedback, a refit from the new state, then a slow refit from the old state
     * must not overwrite it. */
    digest_of(8, dg);
    assert_int_equal(store_feedback_put(f->s, "dave", dg, 0, ids, n, NULL), STORE_OK);
    assert_int_equal(store_user_state(f->s, "dave", &st), STORE_OK);
    assert_int_equal(store_head_publish(f->s, "dave", "m1", "CC", 2, &st, &rec, &v), STORE_OK);
    if (store_head_publish(f->s, "dave", "m1", "OLD", 3, &old, &rec, &v) != STORE_STALE)
        fail_msg("publish from an older state: got accepted, want STORE_STALE");
    assert_int_equal(store_head_get(f->s, "dave", "m1", 0, &blob, &len, &v), STORE_OK);
    if (v != 3 || len != 2 || memcmp(blob, "CC", 2) != 0)
        fail_msg("after a stale publish: version %llu, want 3 \"CC\"", (unsigned long long)v);
    free(blob);
    {
        struct store_refit last;
        uint64_t lv;
        int64_t at;

        assert_int_equal(store_refit_last(f->s, "dave", &last, &lv, &at), STORE_OK);
        if (lv != 3 || last.n_feedback != 3 || last.cv_err_after != 0.1 || at <= 0)
            fail_msg("last refit: version %llu n_feedback %u cv_after %g, want 3, 3, 0.1",
                     (unsigned long long)lv, last.n_feedback, last.cv_err_after);
        assert_int_equal(store_refit_last(f->s, "nobody", &last, &lv, &at), STORE_NOTFOUND);
    }
    /* The refit log as a change feed: a reader starting now sees nothing, then
     * each republished user once. */
    {
        char **users;
        size_t nu;
        int64_t mark, mark2;

        assert_int_equal(store_refits_since(f->s, -1, &users, &nu, &mark), STORE_OK);
        if (nu != 0 || mark != 3)
            fail_msg("start: %zu users, position %lld, want 0 and 3", nu, (long long)mark);
        store_strv_free(users);
        assert_int_equal(store_head_publish(f->s, "dave", "m1", "D", 1, &st, &rec, &v),
                         STORE_OK);
        assert_int_equal(store_head_publish(f->s, "dave", "m1", "E", 1, &st, &rec, &v),
                         STORE_OK);
        assert_int_equal(store_refits_since(f->s, mark, &users, &nu, &mark2), STORE_OK);
        if (nu != 1 || strcmp(users[0], "dave") != 0 || mark2 != 5)
            fail_msg("after two publishes: %zu users, position %lld, want dave once and 5",
                     nu, (long long)mark2);
        store_strv_free(users);
        assert_int_equal(store_refits_since(f->s, mark2, &users, &nu, &mark), STORE_OK);
        if (nu != 0 || mark != 5)
            fail_msg("nothing new: %zu users, want 0", nu);
        store_strv_free(users);
    }
    if (query_int(f->path, "SELECT count(*) FROM refits") != 5)
        fail_msg("refit records got %lld, want 5",
                 (long long)query_int(f->path, "SELECT count(*) FROM refits"));
}

static int
in_list(char **v, const char *key)
{
    for (; v != NULL && *v != NULL; v++)
        if (strcmp(*v, key) == 0)
            return 1;
    return 0;
}

static void
test_dirty(void **state)
{
    struct fixture *f = *state;
    struct store_user_state st;
    uint8_t dg[STORE_DIGEST_LEN];
    uint32_t ids[16];
    size_t n = ids_of(1, ids, 16), nd;
    char **dirty;

    digest_of(1, dg);
    assert_int_equal(store_feedback_put(f->s, "erin", dg, 1, ids, n, NULL), STORE_OK);
    assert_int_equal(store_dirty_list(f->s, "m1", 0, &dirty, &nd), STORE_OK);
    if (nd != 1 || !in_list(dirty, "erin"))
        fail_msg("after feedback: dirty count %zu, want erin alone", nd);
    store_strv_free(dirty);

    assert_int_equal(store_user_state(f->s, "erin", &st), STORE_OK);
    assert_int_equal(store_head_publish(f->s, "erin", "m1", "H", 1, &st, NULL, NULL), STORE_OK);
    assert_int_equal(store_dirty_list(f->s, "m1", 0, &dirty, &nd), STORE_OK);
    if (nd != 0)
        fail_msg("after a refit: %zu dirty users, want 0", nd);
    store_strv_free(dirty);

    /* Learning the same message again changes nothing, so it does not dirty. */
    assert_int_equal(store_feedback_put(f->s, "erin", dg, 1, ids, n, NULL), STORE_OK);
    assert_int_equal(store_dirty_list(f->s, "m1", 0, &dirty, &nd), STORE_OK);
    if (nd != 0)
        fail_msg("after unchanged feedback: %zu dirty users, want 0", nd);
    store_strv_free(dirty);

    /* dirty_samples (10) new unlabelled samples dirty the user, 9 do not. */
    for (uint32_t k = 100; k < 110; k++) {
        digest_of(k, dg);
        assert_int_equal(store_reservoir_offer(f->s, "erin", dg, ids, n, NULL), STORE_OK);
        assert_int_equal(store_dirty_list(f->s, "m1", 0, &dirty, &nd), STORE_OK);
        if ((nd == 1) != (k == 109))
            fail_msg("after %u samples: dirty %zu, want %d", k - 99, nd, k == 109);
        store_strv_free(dirty);
    }
    assert_int_equal(store_user_state(f->s, "erin", &st), STORE_OK);
    assert_int_equal(store_head_publish(f->s, "erin", "m1", "H", 1, &st, NULL, NULL), STORE_OK);
    /* A new base model makes every fitted user dirty. */
    assert_int_equal(store_dirty_list(f->s, "m2", 0, &dirty, &nd), STORE_OK);
    if (nd != 1)
        fail_msg("under a new model: %zu dirty users, want 1", nd);
    store_strv_free(dirty);
    assert_int_equal(store_dirty_list(f->s, "m1", 0, &dirty, &nd), STORE_OK);
    if (nd != 0)
        fail_msg("under the same model: %zu dirty users, want 0", nd);
    store_strv_free(dirty);
}

/* Issue 4 item 8: U's feedback never changes another user's stored head. */
static void
test_user_isolation(void **state)
{
    struct fixture *f = *state;
    struct store_user_state st;
    uint8_t dg[STORE_DIGEST_LEN];
    uint32_t ids[16];
    size_t n = ids_of(3, ids, 16), len, nd;
    uint64_t v;
    void *blob;
    char **dirty;

    digest_of(3, dg);
    assert_int_equal(store_feedback_put(f->s, "v@x", dg, 1, ids, n, NULL), STORE_OK);
    assert_int_equal(store_user_state(f->s, "v@x", &st), STORE_OK);
    assert_int_equal(store_head_publish(f->s, "v@x", "m1", "VHEAD", 5, &st, NULL, NULL),
                     STORE_OK);
    for (uint32_t k = 0; k < 20; k++) {
        digest_of(k, dg);
        n = ids_of(k, ids, 16);
        assert_int_equal(store_feedback_put(f->s, "u@x", dg, (int)(k & 1), ids, n, NULL),
                         STORE_OK);
        assert_int_equal(store_reservoir_offer(f->s, "u@x", dg, ids, n, NULL), STORE_OK);
    }
    digest_of(3, dg);
    assert_int_equal(store_feedback_forget(f->s, "u@x", dg, NULL), STORE_OK);
    assert_int_equal(store_head_get(f->s, "v@x", "m1", 0, &blob, &len, &v), STORE_OK);
    if (v != 1 || len != 5 || memcmp(blob, "VHEAD", 5) != 0)
        fail_msg("v's head changed by u's feedback: version %llu", (unsigned long long)v);
    free(blob);
    assert_int_equal(store_user_state(f->s, "v@x", &st), STORE_OK);
    if (st.n_spam != 1 || st.n_ham != 0 || st.n_reservoir != 0)
        fail_msg("v's data changed by u's: %u spam %u ham %u samples", st.n_spam,
                 st.n_ham, st.n_reservoir);
    assert_int_equal(store_dirty_list(f->s, "m1", 0, &dirty, &nd), STORE_OK);
    if (nd != 1 || !in_list(dirty, "u@x"))
        fail_msg("dirty users: got %zu, want u@x alone", nd);
    store_strv_free(dirty);
}

/* ---- batches and transactions ---- */

static void
test_batch_all_or_none(void **state)
{
    struct fixture *f = *state;
    static const uint32_t good[] = { 1, 2, 3 }, bad[] = { 3, 2 };
    struct store_op ops[3];
    struct store_user_state st;
    int64_t val;

    memset(ops, 0, sizeof(ops));
    ops[0].kind = STORE_OP_FEEDBACK;
    ops[0].user = "frank";
    digest_of(1, ops[0].digest);
    ops[0].ids = good;
    ops[0].n = 3;
    ops[0].spam = 1;
    ops[1].kind = STORE_OP_COUNTER;
    ops[1].user = "frank";
    ops[1].counter = "scanned";
    ops[1].delta = 5;
    ops[2].kind = STORE_OP_OFFER;
    ops[2].user = "frank";
    digest_of(2, ops[2].digest);
    ops[2].ids = bad;
    ops[2].n = 2;
    if (store_apply(f->s, ops, 3) != STORE_ERR)
        fail_msg("batch with unsorted ids: got accepted, want STORE_ERR");
    if (store_user_state(f->s, "frank", &st) != STORE_NOTFOUND)
        fail_msg("failed batch left user frank behind");

    ops[2].ids = good;
    ops[2].n = 3;
    assert_int_equal(store_apply(f->s, ops, 3), STORE_OK);
    if (ops[0].chg != STORE_LEARNED || ops[2].kept != 1)
        fail_msg("batch results: chg %d kept %d, want LEARNED and 1", ops[0].chg,
                 ops[2].kept);
    assert_int_equal(store_counter_get(f->s, "frank", "scanned", &val), STORE_OK);
    assert_int_equal(store_counter_add(f->s, "frank", "scanned", 2), STORE_OK);
    assert_int_equal(store_counter_get(f->s, "frank", "scanned", &val), STORE_OK);
    if (val != 7)
        fail_msg("counter got %lld, want 7", (long long)val);
    assert_int_equal(store_counter_get(f->s, "frank", "nothing", &val), STORE_NOTFOUND);
    /* Transactions do not nest. */
    assert_int_equal(store_begin(f->s), STORE_OK);
    if (store_begin(f->s) != STORE_ERR)
        fail_msg("nested store_begin: got accepted, want STORE_ERR");
    store_rollback(f->s);
}

/* A read snapshot does not see writes committed by another connection meanwhile. */
static void
test_read_snapshot(void **state)
{
    struct fixture *f = *state;
    struct store *w;
    struct store_user_state st;
    uint8_t dg[STORE_DIGEST_LEN];
    uint32_t ids[16];
    size_t n = ids_of(1, ids, 16);
    char err[512];

    digest_of(1, dg);
    assert_int_equal(store_feedback_put(f->s, "gina", dg, 1, ids, n, NULL), STORE_OK);
    if (store_open(f->path, 0, NULL, &w, err, sizeof(err)) != STORE_OK)
        fail_msg("second connection: %s", err);
    assert_int_equal(store_begin_read(f->s), STORE_OK);
    digest_of(2, dg);
    assert_int_equal(store_feedback_put(w, "gina", dg, 0, ids, n, NULL), STORE_OK);
    assert_int_equal(store_user_state(f->s, "gina", &st), STORE_OK);
    if (st.n_ham != 0)
        fail_msg("inside the snapshot: got %u ham, want 0", st.n_ham);
    if (store_feedback_put(f->s, "gina", dg, 0, ids, n, NULL) != STORE_ERR)
        fail_msg("write inside a read snapshot: got accepted, want refused");
    store_end_read(f->s);
    assert_int_equal(store_user_state(f->s, "gina", &st), STORE_OK);
    if (st.n_ham != 1)
        fail_msg("after the snapshot: got %u ham, want 1", st.n_ham);
    store_close(w);
}

/* ---- locks ---- */

static double
now_ms(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return tv.tv_sec * 1e3 + tv.tv_usec / 1e3;
}

/* Another connection holds the write lock: a write waits for the busy timeout
 * (200 ms here), fails with STORE_BUSY and a message saying so, leaves the
 * database sound, and succeeds once the lock is gone. */
static void
test_locked(void **state)
{
    struct fixture *f = *state;
    sqlite3 *db;
    uint8_t dg[STORE_DIGEST_LEN];
    uint32_t ids[16];
    size_t n = ids_of(1, ids, 16);
    enum store_change chg;
    double t0, waited;
    int rc;

    digest_of(1, dg);
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    t0 = now_ms();
    rc = store_feedback_put(f->s, "hank", dg, 1, ids, n, &chg);
    waited = now_ms() - t0;
    if (rc != STORE_BUSY)
        fail_msg("write under a foreign lock: got %d, want STORE_BUSY", rc);
    if (strstr(store_errmsg(f->s), "locked") == NULL)
        fail_msg("message got \"%s\", want it to say locked", store_errmsg(f->s));
    if (waited < 150)
        fail_msg("gave up after %.0f ms, want about the 200 ms busy timeout", waited);
    /* Readers are not blocked by the writer (WAL). */
    {
        struct store_user_state st;

        if (store_user_state(f->s, "hank", &st) != STORE_NOTFOUND)
            fail_msg("read under a foreign lock failed: %s", store_errmsg(f->s));
    }
    assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(store_feedback_put(f->s, "hank", dg, 1, ids, n, &chg), STORE_OK);
    if (chg != STORE_LEARNED)
        fail_msg("after the lock: change got %d, want LEARNED", chg);
    if (store_check(f->s) != STORE_OK)
        fail_msg("integrity: %s", store_errmsg(f->s));
}

/* ---- opening: errors and schema upgrade ---- */

static void
test_open_errors(void **state)
{
    struct fixture *f = *state;
    char path[256], err[512];
    struct store *s;
    FILE *fp;
    int rc;

    static const struct {
        const char *name;
        const char *file;       /* under the fixture dir; NULL: "" */
        unsigned flags;
        const char *want;       /* substring of the message */
    } cases[] = {
        { "missing, no create", "missing.db", 0, "No such file" },
        { "missing dir", "nodir/x.db", STORE_CREATE, "No such file" },
        { "missing, read-only", "missing.db", STORE_RDONLY | STORE_CREATE, "No such file" },
        { "a directory", ".", 0, "not a regular file" },
        { "not a database", "junk.db", 0, "not a database" },
        { "future schema", "future.db", 0, "newer" },
        { "unwritable", "ro/x.db", STORE_CREATE, "" },
    };

    snprintf(path, sizeof(path), "%s/junk.db", f->dir);
    assert_non_null(fp = fopen(path, "w"));
    fputs("this is not an SQLite database, just some text that is long enough "
          "to fill a header of one hundred bytes or so, really.\n", fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/future.db", f->dir);
    exec_sql(path, "CREATE TABLE t(x); PRAGMA user_version = 99;");
    snprintf(path, sizeof(path), "%s/ro", f->dir);
    assert_int_equal(mkdir(path, 0555), 0);

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        if (strcmp(cases[c].file, "ro/x.db") == 0 && geteuid() == 0)
            continue;           /* root writes anywhere */
        snprintf(path, sizeof(path), "%s/%s", f->dir, cases[c].file);
        err[0] = '\0';
        s = (struct store *)1;
        rc = store_open(path, cases[c].flags, NULL, &s, err, sizeof(err));
        if (rc != STORE_ERR || s != NULL)
            fail_msg("%s: got %d, want STORE_ERR and no store", cases[c].name, rc);
        if (err[0] == '\0' || strstr(err, cases[c].want) == NULL ||
            strstr(err, cases[c].file) == NULL)
            fail_msg("%s: message \"%s\", want it to name the file and say \"%s\"",
                     cases[c].name, err, cases[c].want);
    }
    /* A read-only store refuses writes. */
    if (store_open(f->path, STORE_RDONLY, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("read-only open: %s", err);
    {
        uint8_t dg[STORE_DIGEST_LEN] = { 0 };
        uint32_t id = 1;

        if (store_feedback_put(s, "x", dg, 1, &id, 1, NULL) != STORE_ERR)
            fail_msg("write through a read-only store: got accepted");
    }
    store_close(s);
}

/* The schema-1 store as it was written (users, feedback, heads, meta; no reservoir,
 * no counters, no refit log), with one user, one spam and one head. */
static const char schema1[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE users(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL, fb_gen INTEGER NOT NULL DEFAULT 0,"
    "  refit_fb_gen INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE feedback(user_id INTEGER NOT NULL REFERENCES users(id),"
    "  digest BLOB NOT NULL, spam INTEGER NOT NULL, n INTEGER NOT NULL,"
    "  ids BLOB NOT NULL, updated INTEGER NOT NULL,"
    "  PRIMARY KEY(user_id, digest)) WITHOUT ROWID;"
    "CREATE TABLE heads(user_id INTEGER PRIMARY KEY REFERENCES users(id),"
    "  version INTEGER NOT NULL, model_id TEXT NOT NULL, blob BLOB NOT NULL,"
    "  updated INTEGER NOT NULL);"
    "INSERT INTO meta VALUES ('features_version', '1');"
    "INSERT INTO users(id, key, created, fb_gen, refit_fb_gen) VALUES (1, 'old@x', 0, 1, 1);"
    /* ids 5, 300, 301 as delta varints: 05, a7 02, 01 (gap 295) */
    "INSERT INTO feedback VALUES (1, x'0000000000000000000000000000000a', 1, 3, x'05a70201', 0);"
    "INSERT INTO heads VALUES (1, 4, 'm1', x'00112233', 0);"
    "PRAGMA user_version = 1;";

static void
test_schema_upgrade(void **state)
{
    struct fixture *f = *state;
    struct store_samples ss;
    struct store_user_state st;
    struct store *s;
    char path[256], err[512];
    uint8_t dg[STORE_DIGEST_LEN];
    uint32_t ids[16];
    size_t n = ids_of(5, ids, 16), len;
    uint64_t v;
    void *blob;

    assert_int_equal(FEATURES_VERSION, 1);      /* schema1 records version 1 */
    snprintf(path, sizeof(path), "%s/v1.db", f->dir);
    exec_sql(path, schema1);
    /* Read-only cannot upgrade and says how. */
    if (store_open(path, STORE_RDONLY, NULL, &s, err, sizeof(err)) != STORE_ERR ||
        strstr(err, "older") == NULL)
        fail_msg("read-only open of schema 1: got \"%s\", want a refusal", err);
    if (store_open(path, 0, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("upgrade: %s", err);
    if (query_int(path, "PRAGMA user_version") != 9)
        fail_msg("user_version got %lld, want 9", (long long)query_int(path, "PRAGMA user_version"));
    if (query_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'feedback_user_age'") != 1)
        fail_msg("upgraded store lacks the feedback_user_age index");
    if (query_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'fitcache'") != 1)
        fail_msg("upgraded store lacks the fitcache table");
    if (query_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'senderlists'") != 1)
        fail_msg("upgraded store lacks the senderlists table");
    assert_int_equal(store_feedback_list(s, "old@x", NULL, &ss), STORE_OK);
    if (ss.n != 1 || ss.v[0].n != 3 || ss.v[0].ids[0] != 5 || ss.v[0].ids[1] != 300 ||
        ss.v[0].ids[2] != 301 || ss.v[0].spam != 1)
        fail_msg("old feedback did not survive the upgrade");
    store_samples_free(&ss);
    assert_int_equal(store_head_get(s, "old@x", "m1", 0, &blob, &len, &v), STORE_OK);
    if (v != 4 || len != 4)
        fail_msg("old head: version %llu len %zu, want 4 and 4", (unsigned long long)v, len);
    free(blob);
    /* New tables work; defaults were written. */
    digest_of(5, dg);
    assert_int_equal(store_reservoir_offer(s, "old@x", dg, ids, n, NULL), STORE_OK);
    assert_int_equal(store_user_state(s, "old@x", &st), STORE_OK);
    if (st.n_reservoir != 1 || st.seen != 1 || st.fb_gen != 1 || st.refit_fb_gen != 1)
        fail_msg("after upgrade: samples %u seen %llu gens %llu/%llu", st.n_reservoir,
                 (unsigned long long)st.seen, (unsigned long long)st.fb_gen,
                 (unsigned long long)st.refit_fb_gen);
    if (store_reservoir_size(s) != 2000)
        fail_msg("reservoir size default got %u, want 2000", store_reservoir_size(s));
    assert_int_equal(store_check(s), STORE_OK);
    store_close(s);
    /* Opening again is a no-op upgrade. */
    if (store_open(path, STORE_RDONLY, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("reopen: %s", err);
    store_close(s);
}

/* Per-user spam thresholds: set, read back, list, clear, bad values refused,
 * the generation bumped by every change, and kept across a reopen. */
/* The fit cache: one opaque blob per user and base model, replaced by the
 * next put, invisible under another model, ignored for unknown users. */
static void
test_fitcache(void **state)
{
    struct fixture *f = *state;
    int64_t uid;
    uint64_t seen;
    void *blob;
    size_t len;

    assert_int_equal(store_user_get_or_create(f->s, "fc@x", &uid), STORE_OK);
    assert_int_equal(store_fitcache_get(f->s, "fc@x", "m1", &seen, &blob, &len),
                     STORE_NOTFOUND);
    assert_null(blob);
    assert_int_equal(store_fitcache_put(f->s, "fc@x", "m1", 7, "abc", 3), STORE_OK);
    assert_int_equal(store_fitcache_get(f->s, "fc@x", "m1", &seen, &blob, &len), STORE_OK);
    if (len != 3 || memcmp(blob, "abc", 3) != 0 || seen != 7)
        fail_msg("got %zu bytes seen %llu, want \"abc\" seen 7", len,
                 (unsigned long long)seen);
    free(blob);
    /* another base model: not this cache */
    assert_int_equal(store_fitcache_get(f->s, "fc@x", "m2", &seen, &blob, &len),
                     STORE_NOTFOUND);
    /* replaced, in the caller's transaction */
    assert_int_equal(store_begin(f->s), STORE_OK);
    assert_int_equal(store_fitcache_put(f->s, "fc@x", "m2", 9, "wxyz", 4), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    assert_int_equal(store_fitcache_get(f->s, "fc@x", "m1", &seen, &blob, &len),
                     STORE_NOTFOUND);
    assert_int_equal(store_fitcache_get(f->s, "fc@x", "m2", &seen, &blob, &len), STORE_OK);
    if (len != 4 || memcmp(blob, "wxyz", 4) != 0 || seen != 9)
        fail_msg("after replace: got %zu bytes seen %llu", len, (unsigned long long)seen);
    free(blob);
    /* an unknown user is not created; bad arguments are refused */
    assert_int_equal(store_fitcache_put(f->s, "nobody@x", "m1", 1, "a", 1), STORE_OK);
    assert_int_equal(store_user_lookup(f->s, "nobody@x", &uid), STORE_NOTFOUND);
    assert_int_equal(store_fitcache_put(f->s, "fc@x", NULL, 1, "a", 1), STORE_ERR);
    assert_int_equal(store_fitcache_put(f->s, "fc@x", "m1", 1, "a", 0), STORE_ERR);
    assert_int_equal(store_fitcache_put(f->s, "bad\nkey", "m1", 1, "a", 1), STORE_ERR);
}

static void
test_thresholds(void **state)
{
    static const struct {
        const char *name, *user;
        double spam;            /* < 0: clear */
        int want_rc;            /* of the set */
        int want_get;           /* STORE_OK or STORE_NOTFOUND afterwards */
        double want;
    } steps[] = {
        { "set bob", "bob@x", 0.8, STORE_OK, STORE_OK, 0.8 },
        { "set carol", "carol@x", 0.25, STORE_OK, STORE_OK, 0.25 },
        { "reset bob", "bob@x", 0.9, STORE_OK, STORE_OK, 0.9 },
        { "zero refused", "bob@x", 0.0, STORE_ERR, STORE_OK, 0.9 },
        { "one refused", "bob@x", 1.0, STORE_ERR, STORE_OK, 0.9 },
        { "above one refused", "dave@x", 1.5, STORE_ERR, STORE_NOTFOUND, 0 },
        { "NaN refused", "dave@x", NAN, STORE_ERR, STORE_NOTFOUND, 0 },
        { "clear unknown user", "erin@x", -1, STORE_OK, STORE_NOTFOUND, 0 },
        { "clear carol", "carol@x", -1, STORE_OK, STORE_NOTFOUND, 0 },
    };
    struct fixture *f = *state;
    struct store *s;
    char **users, err[512];
    double *spam, got;
    size_t n;
    uint64_t gen0, gen;
    int64_t uid;

    assert_int_equal(store_thresholds_gen(f->s, &gen0), STORE_OK);
    if (gen0 != 0)
        fail_msg("new store: generation got %llu, want 0", (unsigned long long)gen0);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int rc = store_threshold_set(f->s, steps[i].user, steps[i].spam);

        if (rc != steps[i].want_rc)
            fail_msg("%s: set got %d, want %d", steps[i].name, rc, steps[i].want_rc);
        assert_int_equal(store_thresholds_gen(f->s, &gen), STORE_OK);
        /* Every change moves the generation; a refused set or a clear of a
         * user that has nothing to clear does not. */
        if (gen != gen0 + (rc == STORE_OK && strcmp(steps[i].user, "erin@x") != 0))
            fail_msg("%s: generation got %llu after %llu", steps[i].name,
                     (unsigned long long)gen, (unsigned long long)gen0);
        gen0 = gen;
        rc = store_threshold_get(f->s, steps[i].user, &got);
        if (rc != steps[i].want_get || (rc == STORE_OK && got != steps[i].want))
            fail_msg("%s: get got %d %g, want %d %g", steps[i].name, rc, got,
                     steps[i].want_get, steps[i].want);
    }
    /* Clearing never creates a user; a refused set neither. */
    if (store_user_lookup(f->s, "erin@x", &uid) != STORE_NOTFOUND
        || store_user_lookup(f->s, "dave@x", &uid) != STORE_NOTFOUND)
        fail_msg("a clear or a refused set created a user");
    assert_int_equal(store_threshold_list(f->s, &users, &spam, &n), STORE_OK);
    if (n != 1 || strcmp(users[0], "bob@x") != 0 || spam[0] != 0.9 || users[1] != NULL)
        fail_msg("list got %zu users (%s %g), want bob@x 0.9 alone", n,
                 n ? users[0] : "-", n ? spam[0] : 0);
    store_strv_free(users);
    free(spam);
    store_close(f->s);
    f->s = NULL;
    if (store_open(f->path, STORE_RDONLY, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("reopen: %s", err);
    if (store_threshold_get(s, "bob@x", &got) != STORE_OK || got != 0.9)
        fail_msg("after reopen: bob's threshold got %g, want 0.9", got);
    if (store_threshold_set(s, "bob@x", 0.5) != STORE_ERR)
        fail_msg("set through a read-only store: got accepted");
    store_close(s);
}

/* A schema-4 store (before per-user thresholds and the feedback age index) is
 * upgraded in place: its users and feedback stay, the index is made, they have no threshold, and one can be set. */
static void
test_schema_upgrade_from_4(void **state)
{
    struct fixture *f = *state;
    struct store_user_state st;
    struct store *s;
    char path[256], err[512];
    uint8_t dg[STORE_DIGEST_LEN];
    uint32_t ids[16];
    size_t n = ids_of(7, ids, 16);
    double got;

    snprintf(path, sizeof(path), "%s/v4.db", f->dir);
    if (store_open(path, STORE_CREATE, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("create: %s", err);
    digest_of(7, dg);
    assert_int_equal(store_feedback_put(s, "old@x", dg, 1, ids, n, NULL), STORE_OK);
    store_close(s);
    /* Back to schema 4 as it shipped: no spam_threshold column, no age index. */
    exec_sql(path, "DROP INDEX feedback_user_age; DROP TABLE fitcache; DROP TABLE senderlists; "
             "ALTER TABLE users DROP COLUMN spam_threshold; ALTER TABLE users DROP COLUMN claim_owner; "
             "ALTER TABLE users DROP COLUMN claim_until; PRAGMA user_version = 4;");
    if (store_open(path, STORE_RDONLY, NULL, &s, err, sizeof(err)) != STORE_ERR ||
        strstr(err, "older") == NULL)
        fail_msg("read-only open of schema 4: got \"%s\", want a refusal", err);
    if (store_open(path, 0, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("upgrade from 4: %s", err);
    if (query_int(path, "PRAGMA user_version") != 9)
        fail_msg("user_version got %lld, want 9", (long long)query_int(path, "PRAGMA user_version"));
    if (query_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'feedback_user_age'") != 1)
        fail_msg("upgraded store lacks the feedback_user_age index");
    if (query_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'fitcache'") != 1)
        fail_msg("upgraded store lacks the fitcache table");
    if (query_int(path, "SELECT count(*) FROM sqlite_master WHERE name = 'senderlists'") != 1)
        fail_msg("upgraded store lacks the senderlists table");
    if (store_user_state(s, "old@x", &st) != STORE_OK || st.n_spam != 1)
        fail_msg("old user's feedback did not survive the upgrade");
    if (store_threshold_get(s, "old@x", &got) != STORE_NOTFOUND)
        fail_msg("upgraded user has a threshold %g, want none", got);
    assert_int_equal(store_threshold_set(s, "old@x", 0.7), STORE_OK);
    if (store_threshold_get(s, "old@x", &got) != STORE_OK || got != 0.7)
        fail_msg("threshold after upgrade got %g, want 0.7", got);
    assert_int_equal(store_check(s), STORE_OK);
    store_close(s);
}

/* Settings live in the database: a later open with other options keeps them. */
static void
test_settings_persist(void **state)
{
    struct fixture *f = *state;
    struct store_opts o;
    struct store *s;
    char err[512];

    store_opts_default(&o);
    o.reservoir_size = 999;
    if (store_open(f->path, 0, &o, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("reopen: %s", err);
    if (store_reservoir_size(s) != 50 || store_dirty_samples(s) != 10)
        fail_msg("settings got %u/%u, want the stored 50/10", store_reservoir_size(s),
                 store_dirty_samples(s));
    assert_int_equal(store_set_dirty_samples(s, 33), STORE_OK);
    if (store_set_dirty_samples(s, 0) != STORE_ERR)
        fail_msg("dirty threshold 0: got accepted");
    if (store_set_reservoir_size(s, 0) != STORE_ERR)
        fail_msg("reservoir size 0: got accepted");
    store_close(s);
    if (store_open(f->path, STORE_RDONLY, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("reopen: %s", err);
    if (store_dirty_samples(s) != 33)
        fail_msg("dirty threshold got %u, want 33", store_dirty_samples(s));
    store_close(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idpack_roundtrip),
        cmocka_unit_test(test_idpack_bad),
        cmocka_unit_test_setup_teardown(test_feedback_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feedback_list_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_feedback_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reservoir_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reservoir_uniform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_head_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dirty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_user_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_all_or_none, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_snapshot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_upgrade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings_persist, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thresholds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fitcache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_upgrade_from_4, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
