/*
 * test_writer.c - the milter's batching store writer (adapt/writer.h) on a
 * temporary store: everything queued is committed in few transactions, bad
 * operations are refused at the door instead of failing a batch, a store locked
 * by another connection is waited out while the bounded queue drops the excess
 * (one fault report, one recovery report), a store removed or replaced under
 * the writer is noticed and reopened, a saturated writer leaves the lock to a
 * concurrent learn, and stopping commits what is queued.
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "store.h"
#include "writer.h"
#include "fixture.h"

struct fixture {
    char dir[64];
    char db[128];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    fx_tmpdir(f->dir, sizeof(f->dir), "test_writer");
    fx_path(f->db, sizeof(f->db), f->dir, "w.db");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    fx_rmtree(f->dir);
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

/* Fault reports, as the milter's log would get them. */
struct reports {
    pthread_mutex_t lock;
    int n[2];
    char last[2][768];
};

static void
collect(void *arg, enum writer_event ev, const char *line)
{
    struct reports *r = arg;

    pthread_mutex_lock(&r->lock);
    r->n[ev]++;
    snprintf(r->last[ev], sizeof(r->last[ev]), "%s", line);
    pthread_mutex_unlock(&r->lock);
}

static void
reports_get(struct reports *r, int *faults, int *recoveries)
{
    pthread_mutex_lock(&r->lock);
    *faults = r->n[WRITER_FAULT];
    *recoveries = r->n[WRITER_RECOVERED];
    pthread_mutex_unlock(&r->lock);
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
    int accepted = 0, faults, recs;
    struct reports r = { .lock = PTHREAD_MUTEX_INITIALIZER };

    writer_opts_default(&o);
    o.queue_max = 50;
    o.busy_ms = 50;
    o.flush_ms = 10;
    o.report = collect;
    o.report_arg = &r;
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
    /* One report for the whole wait, however many retries. */
    usleep(300000);
    reports_get(&r, &faults, &recs);
    if (faults != 1 || recs != 0 || strstr(r.last[WRITER_FAULT], "locked") == NULL)
        fail_msg("while locked: %d fault and %d recovery reports (\"%s\"), want 1 "
                 "saying locked and 0", faults, recs, r.last[WRITER_FAULT]);
    store_rollback(lock);
    writer_flush(w);
    reports_get(&r, &faults, &recs);
    if (faults != 1 || recs != 1 || strstr(r.last[WRITER_RECOVERED], "released") == NULL)
        fail_msg("after the lock: %d fault and %d recovery reports (\"%s\"), want 1 and "
                 "1 saying released", faults, recs, r.last[WRITER_RECOVERED]);
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
    struct writer_stats st;
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
    /* The counts after the stop take in what was still queued at the call
     * (the milter logs them: "N offers written"). */
    writer_stop_stats(w, &st);
    if (st.written != 300 || st.pending != 0 || st.dropped != 0 || st.failed != 0)
        fail_msg("stop: written %llu pending %llu dropped %llu failed %llu, want 300/0/0/0",
                 (unsigned long long)st.written, (unsigned long long)st.pending,
                 (unsigned long long)st.dropped, (unsigned long long)st.failed);
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

/* Offer messages first..first+n-1 to user and wait until the writer is done. */
static void
offer_some(struct writer *w, const char *user, uint32_t first, uint32_t n)
{
    for (uint32_t k = first; k < first + n; k++) {
        uint8_t dg[STORE_DIGEST_LEN];
        uint32_t ids[4];

        msg(k, dg, ids);
        assert_int_equal(writer_offer(w, user, dg, ids, 4), 0);
    }
    writer_flush(w);
}

static uint64_t
seen_in(struct fixture *f, const char *user)
{
    struct store_user_state us;
    struct store *s = reopen(f);
    uint64_t seen = 0;

    if (store_user_state(s, user, &us) == STORE_OK)
        seen = us.seen;
    store_close(s);
    return seen;
}

/* Issue 6: the store removed under the running milter was survived but not
 * logged, and the writer kept writing into the deleted file through its open
 * connection.  Now: removed -> one fault report naming the path, the writes
 * counted as failed (not sent to the deleted file), no report per batch;
 * replaced by a file that is not a database -> still the same episode; a store
 * back at the path -> reopened, one recovery report, the writes land in it. */
static void
test_removed_replaced(void **state)
{
    struct fixture *f = *state;
    struct reports r = { .lock = PTHREAD_MUTEX_INITIALIZER };
    struct writer_opts o;
    struct writer_stats st;
    struct writer *w;
    struct store *s;
    char err[512], cmd[512];
    int faults, recs;

    writer_opts_default(&o);
    o.reopen_ms = 50;
    o.report = collect;
    o.report_arg = &r;
    if ((w = writer_start(f->db, &o, err, sizeof(err))) == NULL)
        fail_msg("writer_start: %s", err);
    offer_some(w, "r@x", 0, 10);
    if (seen_in(f, "r@x") != 10)
        fail_msg("before the fault: %llu offers stored, want 10",
                 (unsigned long long)seen_in(f, "r@x"));

    snprintf(cmd, sizeof(cmd), "rm -f '%s' '%s-wal' '%s-shm'", f->db, f->db, f->db);
    assert_int_equal(system(cmd), 0);
    for (uint32_t b = 0; b < 5; b++) {
        offer_some(w, "r@x", 100 + b * 10, 10);
        usleep(60000);          /* past reopen_ms: each batch tries to reopen */
    }
    writer_stats(w, &st);
    reports_get(&r, &faults, &recs);
    if (faults != 1 || recs != 0)
        fail_msg("store removed, 5 batches: got %d fault and %d recovery reports, want 1 "
                 "and 0", faults, recs);
    if (strstr(r.last[WRITER_FAULT], f->db) == NULL ||
        strstr(r.last[WRITER_FAULT], "removed") == NULL)
        fail_msg("fault report \"%s\", want the path and \"removed\"", r.last[WRITER_FAULT]);
    if (st.failed != 50 || st.written != 10 || !st.in_fault)
        fail_msg("store removed: failed %llu written %llu in_fault %d, want 50, 10, 1",
                 (unsigned long long)st.failed, (unsigned long long)st.written, st.in_fault);

    /* Garbage where the store was: the open fails, same episode. */
    snprintf(cmd, sizeof(cmd), "head -c 8192 /dev/urandom > '%s'", f->db);
    assert_int_equal(system(cmd), 0);
    usleep(60000);
    offer_some(w, "r@x", 200, 10);
    reports_get(&r, &faults, &recs);
    writer_stats(w, &st);
    if (faults != 1 || recs != 0 || st.failed != 60)
        fail_msg("garbage store: %d faults %d recoveries, failed %llu; want 1, 0, 60",
                 faults, recs, (unsigned long long)st.failed);

    /* A store back at the path (what `spamshift learn` creates). */
    unlink(f->db);
    if (store_open(f->db, STORE_CREATE, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("recreate: %s", err);
    store_close(s);
    usleep(60000);
    offer_some(w, "r@x", 300, 10);
    reports_get(&r, &faults, &recs);
    writer_stats(w, &st);
    if (faults != 1 || recs != 1 || st.in_fault || st.reopens != 1)
        fail_msg("store back: %d faults %d recoveries, in_fault %d, reopens %llu; want "
                 "1, 1, 0, 1", faults, recs, st.in_fault, (unsigned long long)st.reopens);
    if (strstr(r.last[WRITER_RECOVERED], f->db) == NULL ||
        strstr(r.last[WRITER_RECOVERED], "60 writes (scan records, samples) were dropped") == NULL)
        fail_msg("recovery report \"%s\", want the path and the 60 dropped",
                 r.last[WRITER_RECOVERED]);
    if (seen_in(f, "r@x") != 10)
        fail_msg("the new store holds %llu offers, want the 10 sent after it came back",
                 (unsigned long long)seen_in(f, "r@x"));

    /* Replaced at once by another good store (mv over it, the old -wal and
     * -shm moved away with it): reopened before the batch, no write lost. */
    {
        char other[160];

        snprintf(other, sizeof(other), "%s/other.db", f->dir);
        if (store_open(other, STORE_CREATE, NULL, &s, err, sizeof(err)) != STORE_OK)
            fail_msg("other: %s", err);
        store_close(s);
        snprintf(cmd, sizeof(cmd), "rm -f '%s-wal' '%s-shm'", f->db, f->db);
        assert_int_equal(system(cmd), 0);
        assert_int_equal(rename(other, f->db), 0);
        offer_some(w, "r@x", 400, 10);
        writer_stats(w, &st);
        reports_get(&r, &faults, &recs);
        if (seen_in(f, "r@x") != 10 || st.failed != 60 || st.reopens != 2)
            fail_msg("replaced by a good store: %llu offers in it, failed %llu, reopens "
                     "%llu; want 10, 60, 2", (unsigned long long)seen_in(f, "r@x"),
                     (unsigned long long)st.failed, (unsigned long long)st.reopens);
        /* Not a fault: one notice that it was replaced. */
        if (faults != 1 || recs != 2 || strstr(r.last[WRITER_RECOVERED], "replaced") == NULL)
            fail_msg("replaced by a good store: %d faults, %d notices (\"%s\"), want 1, "
                     "2 saying replaced", faults, recs, r.last[WRITER_RECOVERED]);
    }
    writer_stop(w);
}

/* A producer that keeps the writer saturated (the queue never empties) until
 * stop is set: messages of 200 ids to 50 users, as a loaded milter sends them. */
struct producer {
    struct writer *w;
    volatile int stop;
    uint64_t offered;
};

static void *
produce(void *arg)
{
    struct producer *p = arg;
    uint32_t ids[200];

    for (uint32_t k = 0; !p->stop; k++) {
        uint8_t dg[STORE_DIGEST_LEN] = { 0 };
        char user[32];

        memcpy(dg, &k, sizeof(k));
        for (uint32_t i = 0; i < 200; i++)
            ids[i] = k * 256 + i;
        snprintf(user, sizeof(user), "u%u@x", k % 50);
        if (writer_offer(p->w, user, dg, ids, 200) == 0 &&
            writer_scan(p->w, user, dg, 0.25f, STORE_V_PASS, 3.0) == 0)
            p->offered++;
        else
            usleep(200);        /* queue full: the writer is behind, as wanted */
    }
    return NULL;
}

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Issue 6: under saturating load the writer's back-to-back batch transactions
 * held the write lock so long and so often that a concurrent `spamshift
 * learn` timed out (STORE_BUSY after its busy timeout).  The writer's
 * transactions are now bounded in time and leave the lock free between them:
 * learn's transactions, on their own connection with a 2 s busy timeout, must
 * all go through while the writer stays saturated. */
static void
test_learn_while_saturated(void **state)
{
    struct fixture *f = *state;
    struct writer_opts o;
    struct writer_stats st0, st;
    struct store_opts so;
    struct producer p = { 0 };
    struct store *s;
    pthread_t tid;
    char err[512];
    double worst = 0, t_start, secs;
    int ok = 0, tries = 0;

    writer_opts_default(&o);
    o.queue_max = 4000;
    if ((p.w = writer_start(f->db, &o, err, sizeof(err))) == NULL)
        fail_msg("writer_start: %s", err);
    store_opts_default(&so);
    so.busy_ms = 2000;
    if (store_open(f->db, 0, &so, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("open: %s", err);
    assert_int_equal(pthread_create(&tid, NULL, produce, &p), 0);
    usleep(500000);             /* saturate */
    writer_stats(p.w, &st0);
    t_start = now_ms();
    /* learn's shape, every 100 ms for 2 s: its own transaction around a
     * feedback row */
    for (uint32_t k = 0; now_ms() - t_start < 2000; k++) {
        uint8_t dg[STORE_DIGEST_LEN] = { 0xfb, (uint8_t)k };
        uint32_t ids[3] = { 1, 2, 3 + k };
        enum store_change chg;
        double t0 = now_ms(), t;
        int rc;

        rc = store_begin(s);
        if (rc == STORE_OK)
            rc = store_feedback_put(s, "learner@x", dg, 1, ids, 3, &chg);
        if (rc == STORE_OK)
            rc = store_commit(s);
        else
            store_rollback(s);
        t = now_ms() - t0;
        worst = t > worst ? t : worst;
        tries++;
        if (rc == STORE_OK)
            ok++;
        else
            fprintf(stderr, "learn %u: %s (after %.0f ms)\n", k, store_errmsg(s), t);
        usleep(100000);
    }
    writer_stats(p.w, &st);
    secs = (now_ms() - t_start) / 1e3;
    p.stop = 1;
    pthread_join(tid, NULL);
    fprintf(stderr, "learn while saturated: %d/%d ok, worst wait %.0f ms; the writer wrote "
            "%.0f operations/s meanwhile in %.1f transactions/s; queue dropped %llu\n",
            ok, tries, worst, (double)(st.written - st0.written) / secs,
            (double)(st.batches - st0.batches) / secs, (unsigned long long)st.dropped);
    if (st.dropped == 0)
        fail_msg("the queue never filled: the writer was not saturated");
    if (ok != tries)
        fail_msg("learn under a saturated writer: got %d of %d transactions through, "
                 "want all", ok, tries);
    /* Bounded transactions: the lock comes well within the busy timeout (with
     * 500-operation transactions back to back the wait was 1-2 s). */
    if (worst > 1000)
        fail_msg("learn waited %.0f ms for the lock, want at most 1000", worst);
    if (st.written == st0.written)
        fail_msg("the writer wrote nothing meanwhile");
    store_close(s);
    writer_stop(p.w);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_locked_and_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_learn_while_saturated, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
