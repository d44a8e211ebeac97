/*
 * test_stats.c - scan records and the statistics `spamshift stats` reads
 * (store_scan_record, store_user_stats, store_overview) on a fixture store whose
 * numbers are worked out by hand below.
 */
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

struct fx {
    char dir[64];
    char path[128];
    struct store *s;
    int64_t now;
};

static void
digest_of(int k, uint8_t d[STORE_DIGEST_LEN])
{
    memset(d, 0, STORE_DIGEST_LEN);
    d[0] = (uint8_t) k;
    d[1] = (uint8_t) (k >> 8);
    d[15] = 0xAB;
}

/*
 * The fixture, all within the last day unless said:
 *   alice: 10 scored: 6 pass (1 ms each), 2 tag (2 ms), 1 quarantine (4 ms),
 *          1 reject (100 ms); 1 skipped, 1 error.  Feedback: message 0 (passed) as
 *          spam -> false negative; message 6 (tagged) as ham -> false positive;
 *          message 7 (tagged) as spam -> agrees; message 99 (never scanned) as ham.
 *   bob:   3 passed 10 days ago (outside a 7-day period), 1 tagged now.  Feedback:
 *          none.
 */
static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    uint32_t ids[] = { 1, 2, 3 };
    uint8_t d[STORE_DIGEST_LEN];
    static const struct { int verdict; double ms; } alice[] = {
        { STORE_V_PASS, 1 }, { STORE_V_PASS, 1 }, { STORE_V_PASS, 1 }, { STORE_V_PASS, 1 },
        { STORE_V_PASS, 1 }, { STORE_V_PASS, 1 }, { STORE_V_TAG, 2 }, { STORE_V_TAG, 2 },
        { STORE_V_QUARANTINE, 4 }, { STORE_V_REJECT, 100 },
    };

    fx_tmpdir(f->dir, sizeof(f->dir), "test_stats");
    fx_store(f->dir, "store.db", NULL, f->path, sizeof(f->path), &f->s);
    f->now = (int64_t) time(NULL);
    assert_int_equal(store_begin(f->s), STORE_OK);
    for (int k = 0; k < 10; k++) {
        digest_of(k, d);
        assert_int_equal(store_scan_record(f->s, "alice@x", d, alice[k].verdict >= STORE_V_TAG
                                           ? 0.9f : 0.1f, alice[k].verdict, alice[k].ms,
                                           f->now), STORE_OK);
    }
    assert_int_equal(store_scan_record(f->s, "alice@x", NULL, 0, STORE_V_SKIPPED, 0, f->now),
                     STORE_OK);
    assert_int_equal(store_scan_record(f->s, "alice@x", NULL, 0, STORE_V_ERROR, 0, f->now),
                     STORE_OK);
    for (int k = 0; k < 3; k++) {
        digest_of(100 + k, d);
        assert_int_equal(store_scan_record(f->s, "bob@x", d, 0.2f, STORE_V_PASS, 3,
                                           f->now - 10 * 86400), STORE_OK);
    }
    digest_of(103, d);
    assert_int_equal(store_scan_record(f->s, "bob@x", d, 0.8f, STORE_V_TAG, 3, f->now),
                     STORE_OK);
    digest_of(0, d);
    assert_int_equal(store_feedback_put(f->s, "alice@x", d, 1, ids, 3, NULL), STORE_OK);
    digest_of(6, d);
    assert_int_equal(store_feedback_put(f->s, "alice@x", d, 0, ids, 3, NULL), STORE_OK);
    digest_of(7, d);
    assert_int_equal(store_feedback_put(f->s, "alice@x", d, 1, ids, 3, NULL), STORE_OK);
    digest_of(99, d);
    assert_int_equal(store_feedback_put(f->s, "alice@x", d, 0, ids, 3, NULL), STORE_OK);
    assert_int_equal(store_commit(f->s), STORE_OK);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    fx_cleanup(f->s, NULL, f->dir);
    free(f);
    return 0;
}

struct want {
    const char *name;
    int64_t period;             /* 0: all time */
    const char *user;           /* row checked */
    uint64_t scanned, tagged, quarantined, rejected, skipped, errors;
    double ms_sum;
    uint64_t learned_spam, learned_ham, matched_spam, matched_ham, fp, fn;
};

static const struct want wants[] = {
    { "alice, 7 days", 7 * 86400, "alice@x", 10, 2, 1, 1, 1, 1, 6 + 4 + 4 + 100,
      2, 2, 2, 1, 1, 1 },
    { "bob, 7 days: the old scans are outside", 7 * 86400, "bob@x", 1, 1, 0, 0, 0, 0, 3,
      0, 0, 0, 0, 0, 0 },
    { "bob, all time", 0, "bob@x", 4, 1, 0, 0, 0, 0, 12, 0, 0, 0, 0, 0, 0 },
};

static void
test_user_stats(void **state)
{
    struct fx *f = *state;

    for (size_t i = 0; i < sizeof(wants) / sizeof(wants[0]); i++) {
        const struct want *w = &wants[i];
        struct store_user_stats *v;
        const struct store_user_stats *u = NULL;
        size_t n;

        assert_int_equal(store_user_stats(f->s, NULL, w->period ? f->now - w->period : 0,
                                          &v, &n), STORE_OK);
        if (n != 2 || strcmp(v[0].user, "alice@x") != 0 || strcmp(v[1].user, "bob@x") != 0)
            fail_msg("%s: got %zu users, want alice@x and bob@x in key order", w->name, n);
        u = strcmp(w->user, "alice@x") == 0 ? &v[0] : &v[1];
        if (u->scanned != w->scanned || u->tagged != w->tagged
            || u->quarantined != w->quarantined || u->rejected != w->rejected
            || u->skipped != w->skipped || u->errors != w->errors)
            fail_msg("%s: counts got %llu/%llu/%llu/%llu/%llu/%llu, want "
                     "%llu/%llu/%llu/%llu/%llu/%llu", w->name,
                     (unsigned long long) u->scanned, (unsigned long long) u->tagged,
                     (unsigned long long) u->quarantined, (unsigned long long) u->rejected,
                     (unsigned long long) u->skipped, (unsigned long long) u->errors,
                     (unsigned long long) w->scanned, (unsigned long long) w->tagged,
                     (unsigned long long) w->quarantined, (unsigned long long) w->rejected,
                     (unsigned long long) w->skipped, (unsigned long long) w->errors);
        if (u->ms_sum < w->ms_sum - 1e-9 || u->ms_sum > w->ms_sum + 1e-9)
            fail_msg("%s: scan ms sum got %g, want %g", w->name, u->ms_sum, w->ms_sum);
        if (u->learned_spam != w->learned_spam || u->learned_ham != w->learned_ham
            || u->matched_spam != w->matched_spam || u->matched_ham != w->matched_ham
            || u->fp != w->fp || u->fn != w->fn)
            fail_msg("%s: learned %llu/%llu matched %llu/%llu fp %llu fn %llu, want "
                     "%llu/%llu %llu/%llu %llu %llu", w->name,
                     (unsigned long long) u->learned_spam, (unsigned long long) u->learned_ham,
                     (unsigned long long) u->matched_spam, (unsigned long long) u->matched_ham,
                     (unsigned long long) u->fp, (unsigned long long) u->fn,
                     (unsigned long long) w->learned_spam, (unsigned long long) w->learned_ham,
                     (unsigned long long) w->matched_spam, (unsigned long long) w->matched_ham,
                     (unsigned long long) w->fp, (unsigned long long) w->fn);
        store_user_stats_free(v, n);
    }
}

/* The histogram: alice's 10 scan times land in the buckets whose edges hold
 * them, and the 100 ms one is the top 10%. */
static void
test_histogram(void **state)
{
    struct fx *f = *state;
    struct store_user_stats *v;
    size_t n;
    uint64_t total = 0, above_50ms = 0;

    assert_int_equal(store_user_stats(f->s, "alice@x", 0, &v, &n), STORE_OK);
    assert_int_equal(n, 1);
    for (int b = 0; b < STORE_SCAN_HIST; b++) {
        total += v[0].hist[b];
        if (b > 0 && store_scan_bucket_ms(b - 1) >= 50)
            above_50ms += v[0].hist[b];
    }
    if (total != 10 || above_50ms != 1)
        fail_msg("histogram: got %llu entries, %llu above 50 ms; want 10 and 1",
                 (unsigned long long) total, (unsigned long long) above_50ms);
    store_user_stats_free(v, n);
}

static void
test_overview_and_errors(void **state)
{
    struct fx *f = *state;
    struct store_overview o;
    uint8_t d[STORE_DIGEST_LEN];
    struct store_user_stats *v;
    size_t n;

    assert_int_equal(store_overview(f->s, f->now - 86400, &o), STORE_OK);
    /* scored records: alice 10 + bob 4 (skipped/error have no message record) */
    if (o.users != 2 || o.scan_records != 14 || o.feedback != 4 || o.bytes <= 0
        || o.oldest_scan != f->now - 10 * 86400)
        fail_msg("overview: users %llu records %llu feedback %llu bytes %lld oldest %lld; "
                 "want 2 14 4 >0 %lld", (unsigned long long) o.users,
                 (unsigned long long) o.scan_records, (unsigned long long) o.feedback,
                 (long long) o.bytes, (long long) o.oldest_scan,
                 (long long) (f->now - 10 * 86400));
    digest_of(1, d);
    if (store_scan_record(f->s, "alice@x", d, 0.5f, STORE_V_N, 1, f->now) != STORE_ERR)
        fail_msg("an unknown verdict was accepted");
    if (store_scan_record(f->s, "alice@x", d, 1.5f, STORE_V_PASS, 1, f->now) != STORE_ERR)
        fail_msg("a score above 1 was accepted");
    if (store_scan_record(f->s, "", d, 0.5f, STORE_V_PASS, 1, f->now) != STORE_ERR)
        fail_msg("an empty user was accepted");
    if (store_user_stats(f->s, "nobody@x", 0, &v, &n) != STORE_OK || n != 0)
        fail_msg("unknown user: got %zu rows, want 0", n);
    store_user_stats_free(v, n);
}

/* Records older than STORE_SCAN_KEEP_DAYS go when a later record is written. */
static void
test_expiry(void **state)
{
    struct fx *f = *state;
    struct store_overview o;
    uint8_t d[STORE_DIGEST_LEN];

    digest_of(500, d);
    assert_int_equal(store_scan_record(f->s, "carol@x", d, 0.1f, STORE_V_PASS, 1,
                                       f->now + (STORE_SCAN_KEEP_DAYS - 9) * 86400 + 7200),
                     STORE_OK);
    assert_int_equal(store_overview(f->s, 0, &o), STORE_OK);
    /* bob's 3 old ones (now - 10 days) are now more than 30 days old */
    if (o.scan_records != 12)
        fail_msg("after expiry: %llu records, want 12", (unsigned long long) o.scan_records);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_user_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_histogram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overview_and_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
