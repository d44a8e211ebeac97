/*
 * test_writer_pg.c - the milter's store writer (adapt/writer.h) on a
 * PostgreSQL server that tests/unit/pg_conn.sh stops and starts
 * (SPAMSHIFT_PG_DB, SPAMSHIFT_PG_STOP, SPAMSHIFT_PG_START: shell commands):
 * with the server gone the batch in hand is held, the queue fills to its
 * bound and what comes after is refused and counted (stats.dropped), one
 * fault report says the server is unreachable and names the store without
 * its connection string, one recovery report gives the drops; after the
 * restart every accepted write lands.  A writer_stop() while the server is
 * away gives up what it holds instead of waiting for it.
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
#include <glib.h>

#include "store.h"
#include "writer.h"

struct reports {
    pthread_mutex_t lock;
    int faults, recoveries;
    char fault[768], recovery[768];
};

static void
collect(void *arg, enum writer_event ev, const char *line)
{
    struct reports *r = arg;

    pthread_mutex_lock(&r->lock);
    if (ev == WRITER_FAULT) {
        r->faults++;
        snprintf(r->fault, sizeof(r->fault), "%s", line);
    } else {
        r->recoveries++;
        snprintf(r->recovery, sizeof(r->recovery), "%s", line);
    }
    pthread_mutex_unlock(&r->lock);
}

static void
sh(const char *var)
{
    const char *cmd = getenv(var);

    if (cmd == NULL || system(cmd) != 0)
        fail_msg("%s (%s) failed", var, cmd ? cmd : "unset");
}

/* Until the writer says the server is down (or up: want 0); bounded, 10 s. */
static void
wait_down(struct writer *w, int want)
{
    struct writer_stats st;

    for (int i = 0; i < 1000; i++) {
        writer_stats(w, &st);
        if (st.server_down == want)
            return;
        usleep(10000);
    }
    fail_msg("server_down: got %d after 10 s, want %d", st.server_down, want);
}

static int64_t
counter(const char *db)
{
    struct store *s;
    char err[512];
    int64_t v = -1;

    if (store_open(db, 0, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("open %s: %s", db, err);
    if (store_counter_get(s, "alice@example.org", "n", &v) != STORE_OK)
        fail_msg("counter: %s", store_errmsg(s));
    store_close(s);
    return v;
}

#define QUEUE_MAX 50
#define OFFERED 80

static void
test_hold_and_bound(void **state)
{
    const char *db = getenv("SPAMSHIFT_PG_DB");
    struct reports r = { .lock = PTHREAD_MUTEX_INITIALIZER };
    struct writer_opts o;
    struct writer_stats st;
    struct writer *w;
    char err[512], want[64];
    int refused = 0;

    (void)state;
    if (db == NULL)
        skip();
    writer_opts_default(&o);
    o.queue_max = QUEUE_MAX;
    o.batch_max = 10;
    o.flush_ms = 10;
    o.report = collect;
    o.report_arg = &r;
    if ((w = writer_start(db, &o, err, sizeof(err))) == NULL)
        fail_msg("writer_start %s: %s", db, err);
    for (int i = 0; i < 5; i++)
        assert_int_equal(writer_count(w, "alice@example.org", "n", 1), 0);
    writer_flush(w);

    sh("SPAMSHIFT_PG_STOP");
    /* One write the writer takes and holds. */
    assert_int_equal(writer_count(w, "alice@example.org", "n", 1), 0);
    wait_down(w, 1);
    for (int i = 0; i < OFFERED; i++)
        refused += writer_count(w, "alice@example.org", "n", 1) != 0;
    writer_stats(w, &st);
    if (refused != OFFERED - QUEUE_MAX || st.dropped != OFFERED - QUEUE_MAX)
        fail_msg("while down: got %d refused, %llu dropped, want %d", refused,
                 (unsigned long long)st.dropped, OFFERED - QUEUE_MAX);
    if (st.pending != QUEUE_MAX)
        fail_msg("queue while down: got %llu, want %d", (unsigned long long)st.pending,
                 QUEUE_MAX);
    if (st.failed != 0 || st.written != 5)
        fail_msg("while down: got %llu failed, %llu written, want 0 and 5",
                 (unsigned long long)st.failed, (unsigned long long)st.written);
    usleep(500000);             /* a few retries: still one report */
    pthread_mutex_lock(&r.lock);
    if (r.faults != 1 || strstr(r.fault, "database server is unreachable") == NULL ||
        strstr(r.fault, "store postgresql:") != r.fault || strstr(r.fault, "host=") != NULL)
        fail_msg("while down: got %d fault reports (\"%s\"), want 1 \"store postgresql:"
                 "... the database server is unreachable\" without the connection string",
                 r.faults, r.fault);
    pthread_mutex_unlock(&r.lock);

    sh("SPAMSHIFT_PG_START");
    writer_flush(w);
    writer_stats(w, &st);
    if (st.written != 5 + 1 + QUEUE_MAX || st.failed != 0 || st.server_down || st.in_fault
        || st.down_retries == 0)
        fail_msg("after the restart: got %llu written, %llu failed, server_down %d, "
                 "in_fault %d, %llu down retries; want %d, 0, 0, 0, > 0",
                 (unsigned long long)st.written, (unsigned long long)st.failed,
                 st.server_down, st.in_fault, (unsigned long long)st.down_retries,
                 5 + 1 + QUEUE_MAX);
    snprintf(want, sizeof(want), "%d new ones were dropped", OFFERED - QUEUE_MAX);
    pthread_mutex_lock(&r.lock);
    if (r.recoveries != 1 || strstr(r.recovery, want) == NULL)
        fail_msg("after: got %d recovery reports (\"%s\"), want 1 with \"%s\"", r.recoveries,
                 r.recovery, want);
    pthread_mutex_unlock(&r.lock);
    w = writer_stop(w);
    if (counter(db) != 5 + 1 + QUEUE_MAX)
        fail_msg("counter in the store: got %lld, want %d", (long long)counter(db),
                 5 + 1 + QUEUE_MAX);
}

static void
test_stop_while_down(void **state)
{
    const char *db = getenv("SPAMSHIFT_PG_DB");
    struct writer_opts o;
    struct writer *w;
    char err[512];
    gint64 t0;
    int64_t before;

    (void)state;
    if (db == NULL)
        skip();
    before = counter(db);
    writer_opts_default(&o);
    o.flush_ms = 10;
    if ((w = writer_start(db, &o, err, sizeof(err))) == NULL)
        fail_msg("writer_start %s: %s", db, err);
    sh("SPAMSHIFT_PG_STOP");
    for (int i = 0; i < 3; i++)
        assert_int_equal(writer_count(w, "alice@example.org", "n", 1), 0);
    wait_down(w, 1);
    t0 = g_get_monotonic_time();
    w = writer_stop(w);
    if (g_get_monotonic_time() - t0 > 2 * G_TIME_SPAN_SECOND)
        fail_msg("writer_stop with the server down: got %.1f s, want < 2 s",
                 (double)(g_get_monotonic_time() - t0) / 1e6);
    sh("SPAMSHIFT_PG_START");
    if (counter(db) != before)
        fail_msg("counter after a stop while down: got %lld, want %lld (given up)",
                 (long long)counter(db), (long long)before);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hold_and_bound),
        cmocka_unit_test(test_stop_while_down),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
