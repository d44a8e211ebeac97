/*
 * test_writer.c - the milter's batching store writer (adapt/writer.h) on a
 * temporary store: everything queued is committed in few transactions, bad
 * operations are refused at the door instead of failing a batch, a store locked
 * by another connection is waited out while the bounded queue drops the excess,
 * and stopping commits what is queued.
 */
#include "config.h"

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
#include "writer.h"

struct fixture {
    char dir[64];
    char db[128];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "%s/test_writer.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/w.db", f->dir);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
    return 0;
}

static void
msg(uint32_t k, uint8_t dg[STORE_DIGEST_LEN], uint32_t ids[4])
{
    memset(dg, 0, STORE_DIGEST_LEN);
    memcpy(dg, &k, sizeof(k));
    for (uint32_t i = 0; i < 4; i++)
        ids[i] = k * 8 + i;
}

static struct store *
reopen(struct fixture *f)
{
    struct store *s;
    char err[512];

    if (store_open(f->db, 0, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("open: %s", err);
    return s;
}

static void
test_batches(void **state)
{
    struct fixture *f = *state;
    struct writer_opts o;
    struct writer_stats st;
    struct store_user_state us;
    struct writer *w;
    struct store *s;
    char err[512];
    int64_t v;

    writer_opts_default(&o);
    o.batch_max = 100;
    if ((w = writer_start(f->db, &o, err, sizeof(err))) == NULL)
        fail_msg("writer_start: %s", err);
    for (uint32_t k = 0; k < 1000; k++) {
        uint8_t dg[STORE_DIGEST_LEN];
        uint32_t ids[4];
        const char *user = k % 2 ? "odd@x" : "even@x";

        msg(k, dg, ids);
        assert_int_equal(writer_offer(w, user, dg, ids, 4), 0);
        assert_int_equal(writer_count(w, user, "scanned", 1), 0);
    }
    writer_flush(w);
    writer_stats(w, &st);
    if (st.queued != 2000 || st.written != 2000 || st.dropped != 0 || st.failed != 0)
        fail_msg("queued %llu written %llu dropped %llu failed %llu, want 2000/2000/0/0",
                 (unsigned long long)st.queued, (unsigned long long)st.written,
                 (unsigned long long)st.dropped, (unsigned long long)st.failed);
    if (st.batches < 20 || st.batches > 2000)
        fail_msg("%llu transactions for 2000 operations of at most 100",
                 (unsigned long long)st.batches);
    s = reopen(f);
    assert_int_equal(store_user_state(s, "odd@x", &us), STORE_OK);
    assert_int_equal(store_counter_get(s, "odd@x", "scanned", &v), STORE_OK);
    if (us.seen != 500 || v != 500)
        fail_msg("odd@x: seen %llu scanned %lld, want 500 and 500",
                 (unsigned long long)us.seen, (long long)v);
    store_close(s);

    /* Refused at the door: unsorted ids, a bad user key, a bad counter name.
     * None of them reaches the store, so the good ones around them commit. */
    {
        static const uint32_t unsorted[] = { 5, 1 };
        uint8_t dg[STORE_DIGEST_LEN] = { 0xee };
        uint32_t ids[4];
        static const struct { const char *name; int rc; } want[] = {
            { "unsorted ids", -1 }, { "control character in user", -1 },
            { "empty counter", -1 }, { "good offer", 0 },
        };
        int got[4];

        got[0] = writer_offer(w, "odd@x", dg, unsorted, 2);
        got[1] = writer_offer(w, "bad\nuser", dg, unsorted, 1);
        got[2] = writer_count(w, "odd@x", "", 1);
        msg(5000, dg, ids);
        got[3] = writer_offer(w, "odd@x", dg, ids, 4);
        for (int i = 0; i < 4; i++)
            if (got[i] != want[i].rc)
                fail_msg("%s: got %d, want %d", want[i].name, got[i], want[i].rc);
        writer_flush(w);
        writer_stats(w, &st);
        if (st.dropped != 3 || st.failed != 0 || st.written != 2001)
            fail_msg("dropped %llu failed %llu written %llu, want 3/0/2001",
                     (unsigned long long)st.dropped, (unsigned long long)st.failed,
                     (unsigned long long)st.written);
    }
    writer_stop(w);
}

static void
test_locked_and_bounded(void **state)
{
    struct fixture *f = *state;
    struct writer_opts o;
    struct writer_stats st;
    struct store_user_state us;
    struct writer *w;
    struct store *lock;
    char err[512];
    int accepted = 0;

    writer_opts_default(&o);
    o.queue_max = 50;
    o.busy_ms = 50;
    o.flush_ms = 10;
    if ((w = writer_start(f->db, &o, err, sizeof(err))) == NULL)
        fail_msg("writer_start: %s", err);
    lock = reopen(f);
    assert_int_equal(store_begin(lock), STORE_OK);
    /* The writer is stuck behind the lock: the queue fills and then drops. */
    for (uint32_t k = 0; k < 200; k++) {
        uint8_t dg[STORE_DIGEST_LEN];
        uint32_t ids[4];

        msg(k, dg, ids);
        accepted += writer_offer(w, "l@x", dg, ids, 4) == 0;
        if (k == 10)
            usleep(300000);     /* let the writer take a batch and meet the lock */
    }
    /* Give the writer (up to 5 s on a loaded machine) to meet the lock. */
    for (int i = 0; i < 500; i++) {
        writer_stats(w, &st);
        if (st.busy_retries > 0)
            break;
        usleep(10000);
    }
    if (st.dropped == 0 || accepted >= 200)
        fail_msg("with the store locked: accepted %d of 200, dropped %llu; want the "
                 "queue bound (50) to drop some", accepted, (unsigned long long)st.dropped);
    if (st.busy_retries == 0)
        fail_msg("the writer never met the lock");
    if (strstr(st.last_error, "locked") == NULL)
        fail_msg("last error \"%s\", want it to say locked", st.last_error);
    store_rollback(lock);
    writer_flush(w);
    writer_stats(w, &st);
    if (st.written != (uint64_t)accepted || st.failed != 0)
        fail_msg("after the lock: written %llu failed %llu, want %d and 0",
                 (unsigned long long)st.written, (unsigned long long)st.failed, accepted);
    assert_int_equal(store_user_state(lock, "l@x", &us), STORE_OK);
    if (us.seen != (uint64_t)accepted)
        fail_msg("store saw %llu offers, want %d", (unsigned long long)us.seen, accepted);
    if (store_check(lock) != STORE_OK)
        fail_msg("integrity: %s", store_errmsg(lock));
    store_close(lock);
    writer_stop(w);
}

static void
test_stop_commits(void **state)
{
    struct fixture *f = *state;
    struct store_user_state us;
    struct writer *w;
    struct store *s;
    char err[512];

    if ((w = writer_start(f->db, NULL, err, sizeof(err))) == NULL)
        fail_msg("writer_start: %s", err);
    for (uint32_t k = 0; k < 300; k++) {
        uint8_t dg[STORE_DIGEST_LEN];
        uint32_t ids[4];

        msg(k, dg, ids);
        assert_int_equal(writer_offer(w, "stop@x", dg, ids, 4), 0);
    }
    writer_stop(w);
    s = reopen(f);
    assert_int_equal(store_user_state(s, "stop@x", &us), STORE_OK);
    if (us.seen != 300)
        fail_msg("after stop: %llu offers stored, want 300", (unsigned long long)us.seen);
    store_close(s);
    /* A store that cannot be opened is an error with a message. */
    if (writer_start("/nonexistent/dir/w.db", NULL, err, sizeof(err)) != NULL ||
        strstr(err, "nonexistent") == NULL)
        fail_msg("writer_start on a missing directory: \"%s\"", err);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked_and_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_commits, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
