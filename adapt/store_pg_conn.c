/*
 * store_pg_conn.c - keeping a PostgreSQL connection: telling a lost
 * connection from a failed statement, reconnecting with backoff, and the
 * process's two log lines per outage (store_event.h).
 *
 * A connection is lost when libpq says CONNECTION_BAD or the server answers
 * with a connection-class SQLSTATE (08xxx) or an operator intervention that
 * ends the session (57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot
 * connect now).  The operation that saw it returns STORE_EDOWN; the next ones
 * return STORE_EDOWN without touching the network until the backoff has
 * passed (100 ms after the loss, then doubling after every failed attempt, at
 * most 30 s), and then one PQreset() is tried.  Nothing waits: the caller
 * decides what to do with STORE_EDOWN (the milter's writer keeps its batch).
 *
 * The outage is the process's, not a connection's: the first connection that
 * sees the server go reports it (with the error), the first that gets back in
 * reports the return (with how long it was gone); the other connections of
 * the process, which find out one by one, say nothing.  A connection opened
 * before the outage ended, idle since and found broken afterwards is a
 * leftover of that outage: it is reset at once and starts no new one.  So is
 * one waiting out its backoff when another connection of the process got back
 * in after it last failed: the server is known to be there, and the milter's
 * maintenance thread (one try a second, its backoff grown over a long
 * outage) would otherwise lag the writer by up to 30 s.
 *
 * The clock is pq_conn_clock, which tests replace (pq_conn_set_clock).
 * The outage state is under a mutex; each struct pq_conn belongs to one
 * thread (store_pg.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <libpq-fe.h>

#include "clock.h"
#include "store.h"
#include "store_be.h"
#include "store_event.h"
#include "store_pg.h"

static double
real_clock(void)
{
    return clock_seconds();
}

static double (*pq_clock)(void) = real_clock;

static pthread_mutex_t outage_lock = PTHREAD_MUTEX_INITIALIZER;
static int outage_on;           /* the server is gone for this process */
static double outage_since;     /* when the first connection saw it go */
static double outage_over;      /* when the last outage ended; 0 none */

/* The first line of libpq's message. */
const char *
pq_first_line(const char *msg, char *buf, size_t len)
{
    size_t n = strcspn(msg != NULL ? msg : "", "\n");

    snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), msg != NULL ? msg : "");
    return buf;
}

void
pq_conn_set_clock(double (*fn)(void))
{
    pq_clock = fn != NULL ? fn : real_clock;
}

double
pq_conn_now(void)
{
    return pq_clock();
}

int
pq_conn_lost_state(const char *sqlstate)
{
    if (sqlstate == NULL)
        return 0;
    return strncmp(sqlstate, "08", 2) == 0 || strcmp(sqlstate, "57P01") == 0 ||
           strcmp(sqlstate, "57P02") == 0 || strcmp(sqlstate, "57P03") == 0;
}

double
pq_conn_next_delay(double delay)
{
    if (delay < PQ_BACKOFF_MIN)
        return PQ_BACKOFF_MIN;
    return delay * 2 > PQ_BACKOFF_MAX ? PQ_BACKOFF_MAX : delay * 2;
}

void
pq_conn_opened(struct pq_conn *c)
{
    c->down = 0;
    c->delay = 0;
    c->ok_at = pq_clock();
}

void
pq_conn_lost(struct store *s, const char *line)
{
    struct pq_conn *c = s->conn;
    double now = pq_clock();
    int report = 0, leftover;

    if (c->down)
        return;
    c->down = 1;
    pthread_mutex_lock(&outage_lock);
    /* Not one statement has worked on it since the last outage ended. */
    leftover = outage_over > 0 && c->ok_at < outage_over;
    if (!outage_on && !leftover) {
        outage_on = 1;
        outage_since = now;
        report = 1;
    }
    /* A leftover is tried again at once when the server is known to be back. */
    c->delay = leftover && !outage_on ? 0 : PQ_BACKOFF_MIN;
    pthread_mutex_unlock(&outage_lock);
    c->next_try = now + c->delay;
    c->down_at = now;
    if (report)
        store_event(LOG_WARNING, "store %s: the database server is gone: %s; scoring "
                    "goes on with the models held, writes wait in memory, reconnecting "
                    "with backoff (%.1f s doubling to %.0f s)", s->name, line,
                    PQ_BACKOFF_MIN, PQ_BACKOFF_MAX);
}

int
pq_conn_revive(struct store *s, int *reset)
{
    struct pq_conn *c = s->conn;
    double now = pq_clock(), gone = 0;
    int report = 0;
    char line[400];

    if (!c->down && PQstatus(c->pg) == CONNECTION_OK)
        return STORE_OK;
    if (!c->down)
        pq_conn_lost(s, "connection closed");
    if (now < c->next_try) {
        int back;

        pthread_mutex_lock(&outage_lock);
        back = !outage_on && outage_over >= c->down_at;
        pthread_mutex_unlock(&outage_lock);
        if (!back)
            return store_fail(s, STORE_EDOWN, "%s: the database server is gone; next "
                              "reconnect in %.1f s", s->name, c->next_try - now);
    }
    c->attempts++;
    *reset = 1;
    PQreset(c->pg);
    now = pq_clock();
    if (PQstatus(c->pg) != CONNECTION_OK) {
        c->delay = pq_conn_next_delay(c->delay);
        c->next_try = now + c->delay;
        c->down_at = now;
        pq_first_line(PQerrorMessage(c->pg), line, sizeof(line));
        return store_fail(s, STORE_EDOWN, "%s: cannot reconnect (next try in %.1f s): %s",
                          s->name, c->delay, line);
    }
    pq_conn_opened(c);
    pthread_mutex_lock(&outage_lock);
    if (outage_on) {
        outage_on = 0;
        outage_over = now;
        gone = now - outage_since;
        report = 1;
    }
    pthread_mutex_unlock(&outage_lock);
    if (report)
        store_event(LOG_NOTICE, "store %s: the database server is back after %.1f s; "
                    "reconnected", s->name, gone);
    return STORE_OK;
}
