/*
 * test_pg_conn.c - the PostgreSQL backend's connection keeping
 * (store_pg_conn.c): the backoff schedule, which SQLSTATEs end a session,
 * and, against a real server that tests/unit/pg_conn.sh stops and starts
 * (SPAMSHIFT_PG_DB, SPAMSHIFT_PG_STOP, SPAMSHIFT_PG_START: shell commands),
 * an outage on a clock the test moves: STORE_EDOWN, no reconnect before the
 * backoff, one reconnect per backoff step, the writes after the return
 * landing, and exactly one "gone" and one "back" line for the process
 * however many connections see it; and the prepared statements (store_pg.c)
 * the server holds for a connection: the cache's own, kept through a
 * rollback, made again after a restart dropped them; and a writer batch
 * (store_apply) in one pipeline: its round trips, and all or none when the
 * server stops in the middle of it or one of its unanswered statements fails.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store.h"
#include "store_be.h"
#include "store_event.h"
#include "store_pg.h"

static void
test_backoff_schedule(void **state)
{
    static const struct { double from, want; } cases[] = {
        { 0, 0.1 }, { 0.1, 0.2 }, { 0.2, 0.4 }, { 12.8, 25.6 }, { 25.6, 30 }, { 30, 30 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double got = pq_conn_next_delay(cases[i].from);

        if (got < cases[i].want - 1e-9 || got > cases[i].want + 1e-9)
            fail_msg("after %g s: got %g s, want %g s", cases[i].from, got, cases[i].want);
    }
}

static void
test_lost_states(void **state)
{
    static const struct { const char *state; int want; } cases[] = {
        { "08006", 1 }, { "08001", 1 }, { "57P01", 1 }, { "57P02", 1 }, { "57P03", 1 },
        { "57014", 0 }, { "55P03", 0 }, { "40001", 0 }, { "23505", 0 }, { NULL, 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = pq_conn_lost_state(cases[i].state);

        if (got != cases[i].want)
            fail_msg("SQLSTATE %s: got lost=%d, want %d",
                     cases[i].state ? cases[i].state : "(none)", got, cases[i].want);
    }
}

/* What the logs call a store they could not open: never the password. */
static void
test_db_label(void **state)
{
    static const struct { const char *db, *want; } cases[] = {
        { "postgresql://spamshift:secretpw@/down?host=/run/postgresql", "postgresql:down" },
        { "postgres://u:pw@db.example.org:5433/spam", "postgresql:spam" },
        { "host=/run/postgresql user=milter password=secretpw dbname=spamshift",
          "postgresql:spamshift" },
        { "host=/run/postgresql user=milter password=secretpw", "postgresql:milter" },
        { "host=/run/postgresql", "postgresql:(default)" },
        { "/var/lib/spamshift/users.db", "/var/lib/spamshift/users.db" },
        { "sqlite:/var/lib/spamshift/users.db", "sqlite:/var/lib/spamshift/users.db" },
    };
    char got[300];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        store_db_label(cases[i].db, got, sizeof(got));
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", cases[i].db, got, cases[i].want);
    }
}

/* ---- an outage on a real server ---- */

static double fake_now = 1000;

static double
fake_clock(void)
{
    return fake_now;
}

static char events[8][768];
static int n_events;

static void
capture(void *arg, int level, const char *line)
{
    (void)arg;
    (void)level;
    if (n_events < 8)
        snprintf(events[n_events], sizeof(events[0]), "%s", line);
    n_events++;
}

static void
sh(const char *var)
{
    const char *cmd = getenv(var);

    if (cmd == NULL || system(cmd) != 0)
        fail_msg("%s (%s) failed", var, cmd ? cmd : "unset");
}

static unsigned long
attempts(const struct store *s)
{
    return ((const struct pq_conn *)s->conn)->attempts;
}

/* One write: +1 on a counter of user u. */
static int
bump(struct store *s, const char *u)
{
    return store_counter_add(s, u, "n", 1);
}

static void
want_rc(const char *what, int got, int want, struct store *s)
{
    if (got != want)
        fail_msg("%s: got %d (%s), want %d", what, got, store_errmsg(s), want);
}

/* The statements the server holds prepared for s's session, asked on that
 * session; they must be the cache's, and at least one (writes use them). */
static void
want_prepared(const char *what, struct store *s)
{
    const struct pq_conn *c = s->conn;
    PGresult *r = PQexec(c->pg, "SELECT count(*) FROM pg_prepared_statements");
    int n = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;

    PQclear(r);
    if (n != c->nprep || n < 1)
        fail_msg("%s: the server holds %d prepared statements, the cache %d (want the "
                 "same, at least 1)", what, n, c->nprep);
}

static void
test_outage(void **state)
{
    const char *db = getenv("SPAMSHIFT_PG_DB");
    struct store *a, *b;
    char err[512];
    int64_t v = 0;

    (void)state;
    if (db == NULL)
        skip();
    pq_conn_set_clock(fake_clock);
    store_event_set(capture, NULL);
    if (store_open(db, STORE_CREATE, NULL, &a, err, sizeof(err)) != STORE_OK)
        fail_msg("open %s: %s", db, err);
    if (store_open(db, 0, NULL, &b, err, sizeof(err)) != STORE_OK)
        fail_msg("open %s: %s", db, err);
    want_rc("write before", bump(a, "alice"), STORE_OK, a);
    want_rc("write before (b)", bump(b, "alice"), STORE_OK, b);
    want_prepared("before", a);
    {
        /* Prepared inside a transaction that rolls back: still there (a
         * session's prepared statements are not transactional). */
        unsigned long n = ((struct pq_conn *)a->conn)->prepared;

        want_rc("begin", store_begin(a), STORE_OK, a);
        want_rc("threshold, rolled back", store_threshold_set(a, "bob", 0.5), STORE_OK, a);
        store_rollback(a);
        if (((struct pq_conn *)a->conn)->prepared <= n)
            fail_msg("threshold: no statement prepared (%lu, want more than %lu)",
                     ((struct pq_conn *)a->conn)->prepared, n);
        n = ((struct pq_conn *)a->conn)->prepared;
        want_rc("threshold again", store_threshold_set(a, "bob", 0.5), STORE_OK, a);
        if (((struct pq_conn *)a->conn)->prepared != n)
            fail_msg("threshold again: prepared %lu, want %lu (none again)",
                     ((struct pq_conn *)a->conn)->prepared, n);
        want_prepared("after a rollback", a);
    }

    sh("SPAMSHIFT_PG_STOP");
    want_rc("write, server stopped", bump(a, "alice"), STORE_EDOWN, a);
    want_rc("attempts at once", (int)attempts(a), 0, a);
    /* Steps a little past each deadline: the clock is a double. */
    fake_now += 0.05;
    want_rc("write within the backoff", bump(a, "alice"), STORE_EDOWN, a);
    want_rc("attempts within 100 ms", (int)attempts(a), 0, a);
    fake_now += 0.0501;
    want_rc("write after 100 ms", bump(a, "alice"), STORE_EDOWN, a);
    want_rc("attempts after 100 ms", (int)attempts(a), 1, a);
    fake_now += 0.1;
    want_rc("write within 200 ms", bump(a, "alice"), STORE_EDOWN, a);
    want_rc("attempts within 200 ms", (int)attempts(a), 1, a);
    fake_now += 0.1001;
    want_rc("write after 200 ms", bump(a, "alice"), STORE_EDOWN, a);
    want_rc("attempts after 200 ms", (int)attempts(a), 2, a);
    if (n_events != 1 || strstr(events[0], "is gone") == NULL)
        fail_msg("while down: got %d event lines (first \"%s\"), want 1 \"is gone\"",
                 n_events, events[0]);

    sh("SPAMSHIFT_PG_START");
    fake_now += 0.39;
    want_rc("write within 400 ms, server back", bump(a, "alice"), STORE_EDOWN, a);
    fake_now += 0.011;
    want_rc("write after 400 ms, server back", bump(a, "alice"), STORE_OK, a);
    want_rc("attempts when back", (int)attempts(a), 3, a);
    want_prepared("after the restart", a);      /* the old session's are gone */
    /* b was idle through the outage: its first write after it works. */
    want_rc("write, idle connection", bump(b, "alice"), STORE_OK, b);
    want_prepared("after the restart (b)", b);
    want_rc("counter", store_counter_get(a, "alice", "n", &v), STORE_OK, a);
    if (v != 4)
        fail_msg("counter: got %lld, want 4 (2 before, 2 after)", (long long)v);
    if (n_events != 2 || strstr(events[1], "back after 0.7 s") == NULL)
        fail_msg("after: got %d event lines (second \"%s\"), want 2, \"back after 0.7 s\"",
                 n_events, n_events > 1 ? events[1] : "");

    /* A second outage is reported again. */
    sh("SPAMSHIFT_PG_STOP");
    want_rc("write, stopped again", bump(b, "alice"), STORE_EDOWN, b);
    want_rc("write, stopped again (a)", bump(a, "alice"), STORE_EDOWN, a);
    sh("SPAMSHIFT_PG_START");
    fake_now += 0.1;
    want_rc("write, back again", bump(b, "alice"), STORE_OK, b);
    want_rc("write, back again (a)", bump(a, "alice"), STORE_OK, a);
    if (n_events != 4)
        fail_msg("two outages: got %d event lines, want 4", n_events);

    /* A connection in backoff comes back as soon as another of the process
     * did, not when its own backoff ends (the maintenance thread lagged the
     * writer by its backoff: up to 30 s after a long outage). */
    sh("SPAMSHIFT_PG_STOP");
    want_rc("write, third outage (b)", bump(b, "alice"), STORE_EDOWN, b);
    want_rc("write, third outage (a)", bump(a, "alice"), STORE_EDOWN, a);
    fake_now += 0.11;
    want_rc("a's first retry", bump(a, "alice"), STORE_EDOWN, a);
    fake_now += 0.21;
    want_rc("a's second retry", bump(a, "alice"), STORE_EDOWN, a);
    {
        unsigned long before = attempts(a);

        sh("SPAMSHIFT_PG_START");
        fake_now += 0.01;       /* a's next try is 0.39 s away */
        want_rc("write, back (b)", bump(b, "alice"), STORE_OK, b);
        want_rc("write, back (a), within its backoff", bump(a, "alice"), STORE_OK, a);
        if (attempts(a) != before + 1)
            fail_msg("a's reconnects: got %lu, want %lu", attempts(a), before + 1);
    }
    if (n_events != 6)
        fail_msg("three outages: got %d event lines, want 6", n_events);
    store_close(b);
    store_close(a);
    store_event_set(NULL, NULL);
    pq_conn_set_clock(NULL);
}

/* user's counter name on a fresh handle (0 when it has none). */
static int64_t
counter_of(const char *db, const char *user, const char *name)
{
    struct store *s;
    char err[512];
    int64_t v = 0;

    if (store_open(db, 0, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("open %s: %s", db, err);
    if (store_counter_get(s, user, name, &v) == STORE_NOTFOUND)
        v = 0;
    store_close(s);
    return v;
}

static struct store_op
counter_op(const char *user, const char *name, int64_t delta)
{
    return (struct store_op){ .kind = STORE_OP_COUNTER, .user = user, .counter = name,
                              .delta = delta };
}

static void
test_batch_pipeline(void **state)
{
    const char *db = getenv("SPAMSHIFT_PG_DB");
    struct store_op ops[8];
    struct store *a;
    struct pq_conn *c;
    char err[512];
    unsigned long rt;
    int rc;

    (void)state;
    if (db == NULL)
        skip();
    pq_conn_set_clock(fake_clock);
    store_event_set(capture, NULL);
    if (store_open(db, STORE_CREATE, NULL, &a, err, sizeof(err)) != STORE_OK)
        fail_msg("open %s: %s", db, err);
    c = a->conn;

    /* Eight writes of one user, one pipeline: BEGIN and the user's id, then
     * the COMMIT with the seven counter updates not waited for.  Before the
     * pipeline it was 10 (BEGIN, the id, 8 updates; COMMIT). */
    for (int i = 0; i < 8; i++)
        ops[i] = counter_op("carol", "n", 1);
    want_rc("warm up (statements prepared)", store_apply(a, ops, 8), STORE_OK, a);
    rt = c->round_trips;
    want_rc("batch of 8", store_apply(a, ops, 8), STORE_OK, a);
    if (c->round_trips - rt != 2)
        fail_msg("batch of 8: got %lu round trips, want 2", c->round_trips - rt);
    if (counter_of(db, "carol", "n") != 16)
        fail_msg("carol n: got %lld, want 16", (long long)counter_of(db, "carol", "n"));

    /* A statement not answered yet fails at the server (bigint out of range):
     * the batch fails with its message, and nothing of it stays, neither the
     * updates before it (answered with the COMMIT) nor those after. */
    ops[0] = counter_op("carol", "x", 5);
    ops[1] = counter_op("carol", "x", INT64_MAX);
    ops[2] = counter_op("carol", "y", 1);
    ops[3] = counter_op("dave", "y", 1);
    rc = store_apply(a, ops, 4);
    if (rc != STORE_ERR || strstr(store_errmsg(a), "update counter") == NULL ||
        strstr(store_errmsg(a), "out of range") == NULL)
        fail_msg("overflow in the pipeline: got %d \"%s\", want %d, \"update counter: "
                 "... out of range\"", rc, store_errmsg(a), STORE_ERR);
    if (counter_of(db, "carol", "x") != 0 || counter_of(db, "carol", "y") != 0 ||
        counter_of(db, "dave", "y") != 0)
        fail_msg("failed batch partly applied: carol x %lld, carol y %lld, dave y %lld, "
                 "want 0 0 0", (long long)counter_of(db, "carol", "x"),
                 (long long)counter_of(db, "carol", "y"),
                 (long long)counter_of(db, "dave", "y"));
    want_rc("a batch after the failed one", store_apply(a, ops + 2, 2), STORE_OK, a);
    if (counter_of(db, "carol", "y") != 1 || counter_of(db, "dave", "y") != 1)
        fail_msg("after: carol y %lld, dave y %lld, want 1 1",
                 (long long)counter_of(db, "carol", "y"), (long long)counter_of(db, "dave", "y"));

    /* The server stops in the middle of a batch, with updates sent and not
     * answered: STORE_EDOWN, as for any write while it is gone, and after its
     * return none of the batch is there.  Done as store_apply does it, so that
     * the stop falls between two of the batch's operations. */
    n_events = 0;
    want_rc("begin", store_begin(a), STORE_OK, a);
    a->in_batch = 1;
    /* Each user's first write waits for its id; the second is only sent. */
    want_rc("first of the batch", bump(a, "erin"), STORE_OK, a);
    want_rc("second of the batch", store_counter_add(a, "carol", "n", 1), STORE_OK, a);
    want_rc("third, not waited for", bump(a, "erin"), STORE_OK, a);
    want_rc("fourth, not waited for", store_counter_add(a, "carol", "n", 1), STORE_OK, a);
    if (!c->piped || c->npend < 2)
        fail_msg("mid-batch: piped %d, %d answers pending, want a pipeline with at least 2",
                 c->piped, c->npend);
    sh("SPAMSHIFT_PG_STOP");
    /* A new user: waits for the id, so for every answer before it; the
     * connection is gone, which is STORE_EDOWN (never STORE_OK for a read
     * that got no answer: pipe_read's `lost`). */
    want_rc("fifth, server stopped", store_counter_add(a, "frank", "n", 1), STORE_EDOWN, a);
    a->in_batch = 0;
    store_rollback(a);
    sh("SPAMSHIFT_PG_START");
    if (counter_of(db, "erin", "n") != 0 || counter_of(db, "carol", "n") != 16 ||
        counter_of(db, "frank", "n") != 0)
        fail_msg("batch cut by the stop partly applied: erin %lld (want 0), carol %lld "
                 "(want 16), frank %lld (want 0)", (long long)counter_of(db, "erin", "n"),
                 (long long)counter_of(db, "carol", "n"),
                 (long long)counter_of(db, "frank", "n"));
    fake_now += 0.11;
    want_rc("batch after the return", store_apply(a, ops, 1), STORE_OK, a);
    if (counter_of(db, "carol", "x") != 5)
        fail_msg("after the return: carol x %lld, want 5", (long long)counter_of(db, "carol", "x"));
    if (c->piped || c->npend != 0)
        fail_msg("after the batches: piped %d, %d pending, want 0 0", c->piped, c->npend);
    store_close(a);
    store_event_set(NULL, NULL);
    pq_conn_set_clock(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_schedule),
        cmocka_unit_test(test_lost_states),
        cmocka_unit_test(test_db_label),
        cmocka_unit_test(test_outage),
        cmocka_unit_test(test_batch_pipeline),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
