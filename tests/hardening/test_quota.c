/*
 * test_quota.c - the per-user feedback quota of the store (issue 6, privacy:
 * no user grows the database without bound): store_feedback_put() keeps at
 * most store_feedback_max() rows per user, drops the least recently updated
 * first and never the row it just wrote, leaves other users alone, and
 * store_set_feedback_max() trims every user at once and persists.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "../unit/fixture.h"

static void
digest_of(const char *tag, int i, uint8_t d[STORE_DIGEST_LEN])
{
    memset(d, 0, STORE_DIGEST_LEN);
    snprintf((char *) d, STORE_DIGEST_LEN, "%s%d", tag, i);
}

static void
put(struct store *s, const char *user, const char *tag, int i)
{
    static const uint32_t ids[] = { 5, 17, 900 };
    uint8_t d[STORE_DIGEST_LEN];
    enum store_change chg;
    int rc;

    digest_of(tag, i, d);
    rc = store_feedback_put(s, user, d, i & 1, ids, 3, &chg);
    if (rc != STORE_OK)
        fail_msg("put %s%d for %s: got %d (%s), want STORE_OK", tag, i, user, rc,
                 store_errmsg(s));
    if (chg != STORE_LEARNED)
        fail_msg("put %s%d for %s: got change %d, want STORE_LEARNED", tag, i, user,
                 (int) chg);
}

/* 1 if user has feedback with digest tag<i>. */
static int
has(struct store *s, const char *user, const char *tag, int i)
{
    struct store_samples ss;
    uint8_t d[STORE_DIGEST_LEN];
    int found = 0;

    digest_of(tag, i, d);
    assert_int_equal(store_feedback_list(s, user, NULL, &ss), STORE_OK);
    for (size_t k = 0; k < ss.n; k++)
        if (memcmp(ss.v[k].digest, d, STORE_DIGEST_LEN) == 0)
            found = 1;
    store_samples_free(&ss);
    return found;
}

static size_t
count(struct store *s, const char *user)
{
    struct store_samples ss;
    size_t n;

    assert_int_equal(store_feedback_list(s, user, NULL, &ss), STORE_OK);
    n = ss.n;
    store_samples_free(&ss);
    return n;
}

static struct store *
open_store(const char *path, uint32_t quota)
{
    struct store_opts o;
    struct store *s;
    char err[256];

    store_opts_default(&o);
    o.feedback_max = quota;
    if (store_open(path, STORE_CREATE, &o, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("store_open %s: %s", path, err);
    return s;
}

/* buf[len] = a store path in a fresh temporary directory (tests/unit/fixture.h). */
static void
temp_path(char *buf, size_t len)
{
    char dir[PATH_MAX];

    fx_tmpdir(dir, sizeof(dir), "spamshift-quota");
    fx_path(buf, len, dir, "quota.db");
}

/* Remove the directory temp_path() made for path. */
static void
remove_store(const char *path)
{
    char dir[PATH_MAX];

    snprintf(dir, sizeof(dir), "%s", path);
    *strrchr(dir, '/') = '\0';
    fx_rmtree(dir);
}

/* Each put beyond the quota drops one row, never the new one, never another
 * user's. */
static void
test_quota_per_put(void **state)
{
    static const struct {
        const char *name;
        uint32_t quota;
        int puts;
    } cases[] = {
        { "quota 1", 1, 4 },
        { "quota 5, 12 puts", 5, 12 },
        { "quota 5, exactly 5", 5, 5 },
        { "quota 50, 20 puts", 50, 20 },
    };
    char path[4096];

    (void) state;
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct store *s;
        size_t want_bob;

        temp_path(path, sizeof(path));
        s = open_store(path, cases[c].quota);
        if (store_feedback_max(s) != cases[c].quota)
            fail_msg("%s: store_feedback_max got %u, want %u", cases[c].name,
                     store_feedback_max(s), cases[c].quota);
        for (int i = 0; i < 3; i++)
            put(s, "bob@example.org", "bob", i);
        want_bob = cases[c].quota < 3 ? cases[c].quota : 3;
        for (int i = 0; i < cases[c].puts; i++) {
            size_t want = (size_t) i + 1 < cases[c].quota ? (size_t) i + 1 : cases[c].quota;

            put(s, "alice@example.org", "msg", i);
            if (count(s, "alice@example.org") != want)
                fail_msg("%s: after put %d alice has %zu rows, want %zu", cases[c].name,
                         i, count(s, "alice@example.org"), want);
            if (!has(s, "alice@example.org", "msg", i))
                fail_msg("%s: put %d dropped the row it just wrote", cases[c].name, i);
            if (count(s, "bob@example.org") != want_bob)
                fail_msg("%s: alice's puts changed bob: got %zu rows, want %zu",
                         cases[c].name, count(s, "bob@example.org"), want_bob);
        }
        {
            uint64_t want_dropped = (3 > cases[c].quota ? 3 - cases[c].quota : 0)
                + (cases[c].puts > (int) cases[c].quota
                   ? (uint64_t) (cases[c].puts - (int) cases[c].quota) : 0);

            if (store_feedback_dropped(s) != want_dropped)
                fail_msg("%s: store_feedback_dropped got %llu, want %llu", cases[c].name,
                         (unsigned long long) store_feedback_dropped(s),
                         (unsigned long long) want_dropped);
        }
        store_close(s);
        remove_store(path);
    }
}

/* The least recently updated rows go first: two rows a second older than three
 * new ones are the two dropped. */
static void
test_quota_oldest_first(void **state)
{
    char path[4096];
    struct store *s;

    (void) state;
    temp_path(path, sizeof(path));
    s = open_store(path, 3);
    put(s, "alice@example.org", "old", 0);
    put(s, "alice@example.org", "old", 1);
    sleep(1);
    usleep(100000);
    for (int i = 0; i < 3; i++)
        put(s, "alice@example.org", "new", i);
    for (int i = 0; i < 2; i++)
        if (has(s, "alice@example.org", "old", i))
            fail_msg("old%d: got kept, want dropped (older than every new row)", i);
    for (int i = 0; i < 3; i++)
        if (!has(s, "alice@example.org", "new", i))
            fail_msg("new%d: got dropped, want kept", i);
    store_close(s);
    remove_store(path);
}

/* Lowering the quota trims every user at once, says how many went, and the
 * setting survives a reopen (the creation default does not override it). */
static void
test_quota_set_and_persist(void **state)
{
    char path[4096];
    struct store *s;
    uint64_t dropped = 99;

    (void) state;
    temp_path(path, sizeof(path));
    s = open_store(path, 100);
    for (int i = 0; i < 10; i++) {
        put(s, "alice@example.org", "a", i);
        put(s, "bob@example.org", "b", i);
    }
    put(s, "carol@example.org", "c", 0);
    assert_int_equal(store_set_feedback_max(s, 4, &dropped), STORE_OK);
    if (dropped != 12)
        fail_msg("set quota 4: got %llu dropped, want 12 (6 alice + 6 bob)",
                 (unsigned long long) dropped);
    if (count(s, "alice@example.org") != 4 || count(s, "bob@example.org") != 4
        || count(s, "carol@example.org") != 1)
        fail_msg("set quota 4: got alice %zu bob %zu carol %zu, want 4 4 1",
                 count(s, "alice@example.org"), count(s, "bob@example.org"),
                 count(s, "carol@example.org"));
    if (store_set_feedback_max(s, 0, NULL) == STORE_OK)
        fail_msg("set quota 0: got STORE_OK, want an error");
    store_close(s);
    s = open_store(path, 100);
    if (store_feedback_max(s) != 4)
        fail_msg("reopened: got quota %u, want 4 (stored)", store_feedback_max(s));
    store_close(s);
    remove_store(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quota_per_put),
        cmocka_unit_test(test_quota_oldest_first),
        cmocka_unit_test(test_quota_set_and_persist),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
