/*
 * store_pg.c - the PostgreSQL backend of the store (store_be.h): the
 * connection (libpq, one per store handle, so one per thread as with SQLite),
 * transactions, bound parameters and binary results, error mapping, which the
 * other store_pg_*.c files build their operations on; it calls none of them.
 * The table of operations (and the maintenance calls) is store_pg_be.c.
 *
 * Every write runs in a transaction the front opens (BEGIN, READ COMMITTED;
 * a SAVEPOINT per operation inside a caller's transaction, none inside a
 * writer batch: store_be.h); rows that two hosts may change
 * at once are changed by one statement (seen = seen + 1 RETURNING seen) or
 * locked first (a publish locks the user's row).  Read snapshots are
 * REPEATABLE READ READ ONLY.  A lock held past busy_ms (lock_timeout) is
 * STORE_BUSY; a lost connection is STORE_EDOWN and is reset at a later
 * transaction or statement outside one, after a backoff (store_pg_conn.c).  Every value is a bound parameter; no SQL is built from data.
 * Every statement is prepared once per session (pq_exec: the server parses
 * and plans it once, not at every run), and a write transaction keeps the ids
 * of the users it looked up (a writer batch names a few users many times).
 * A write transaction's BEGIN is sent with its first statement; a writer
 * batch runs in one libpq pipeline, its statements whose results nobody
 * reads answered together with the next one that is read or the COMMIT
 * (pipe_run below).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_be.h"
#include "store_pg.h"

static struct pq_conn *
conn(const struct store *s)
{
    return s->conn;
}

/* ---- parameters and results ---- */

void
pq_i64(struct pq_args *a, int64_t v)
{
    int i = a->n++;

    snprintf(a->num[i], sizeof(a->num[i]), "%" PRId64, v);
    a->v[i] = a->num[i];
    a->len[i] = 0;
    a->fmt[i] = 0;
}

void
pq_f64(struct pq_args *a, double v)
{
    int i = a->n++;

    snprintf(a->num[i], sizeof(a->num[i]), "%.17g", v);
    a->v[i] = a->num[i];
    a->len[i] = 0;
    a->fmt[i] = 0;
}

void
pq_text(struct pq_args *a, const char *t)
{
    int i = a->n++;

    a->v[i] = t;
    a->len[i] = 0;
    a->fmt[i] = 0;
}

void
pq_bin(struct pq_args *a, const void *p, size_t len)
{
    int i = a->n++;

    a->v[i] = p != NULL ? p : "";
    a->len[i] = (int)len;
    a->fmt[i] = 1;
}

static int
fail_res(struct store *s, PGresult *r, const char *what)
{
    const char *state = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char line[400];

    pq_first_line(r != NULL ? PQresultErrorMessage(r) : PQerrorMessage(pq_db(s)), line,
               sizeof(line));
    if (PQstatus(pq_db(s)) != CONNECTION_OK || pq_conn_lost_state(state)) {
        pq_conn_lost(s, line);
        return store_fail(s, STORE_EDOWN, "%s: %s: connection to the server lost: %s",
                          s->name, what, line);
    }
    if (state != NULL && (strcmp(state, "55P03") == 0 || strcmp(state, "40001") == 0 ||
                          strcmp(state, "40P01") == 0))
        return store_fail(s, STORE_BUSY, "%s: %s: database is locked by another "
                          "connection (waited %u ms): %s", s->name, what, s->busy_ms, line);
    if (state != NULL && strcmp(state, "42501") == 0)
        return store_fail(s, STORE_EPERM, "%s: %s: %s (the role's grants: "
                          "contrib/postgresql/roles.sql)", s->name, what, line);
    return store_fail(s, STORE_ERR, "%s: %s: %s", s->name, what, line);
}

/* The connection ready for a statement: revived (after its backoff) if it
 * was lost, with its session settings again after a reset.  Used only between
 * transactions: one that lost its connection is lost whole.  Used to be done
 * at BEGIN alone, so a connection that read outside transactions (the
 * milter's maintenance thread: settings, the refit log) never came back. */
static int
pq_ready(struct store *s)
{
    int reset = 0, rc;

    if ((rc = pq_conn_revive(s, &reset)) != STORE_OK)
        return rc;
    return reset ? pq_session(s, s->flags) : STORE_OK;
}

/* ---- prepared statements ---- */

/* Forget the connection's prepared statements (their session ended, or the
 * server no longer knows them); new names from now on. */
static void
prep_forget(struct pq_conn *c)
{
    for (int i = 0; i < c->nprep; i++)
        free(c->prep[i].sql);
    c->nprep = 0;
    c->prep_gen++;
    c->prep_session = c->attempts;
}

/* The cache's index of sql (== c->nprep: not prepared yet) and its name. */
static int
prep_find(struct pq_conn *c, const char *sql, char *name, size_t len)
{
    int i;

    if (c->prep_session != c->attempts)         /* reconnected: a new session */
        prep_forget(c);
    for (i = 0; i < c->nprep; i++)
        if (strcmp(c->prep[i].sql, sql) == 0)
            break;
    snprintf(name, len, "s%lu_%d", c->prep_gen, i);
    return i;
}

/* Run sql prepared: PQprepare at its first run on this session (a round trip
 * once), PQexecPrepared from then on.  A text the cache has no room (or
 * memory) for runs as PQexecParams did before.  A failed PQprepare's result
 * is returned as the statement's (the same error PQexecParams would give:
 * both parse and plan it). */
static PGresult *
pq_exec(struct pq_conn *c, const char *sql, int n, const char *const *v, const int *len,
        const int *fmt)
{
    char name[48];
    int i = prep_find(c, sql, name, sizeof(name));

    c->round_trips++;
    if (i == c->nprep) {
        PGresult *r;

        if (c->nprep == PQ_PREP_MAX || (c->prep[i].sql = strdup(sql)) == NULL)
            return PQexecParams(c->pg, sql, n, NULL, v, len, fmt, 1);
        c->round_trips++;
        r = PQprepare(c->pg, name, sql, n, NULL);
        if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
            free(c->prep[i].sql);
            return r;
        }
        PQclear(r);
        c->nprep++;
        c->prepared++;
    }
    return PQexecPrepared(c->pg, name, n, v, len, fmt, 1);
}

/* ---- a writer batch in one pipeline ----
 *
 * Inside store_apply() (s->in_batch at a write transaction's first
 * statement) the connection is in libpq's pipeline mode: BEGIN goes out with
 * the first statement, a statement whose result the operation does not need
 * (pq_do without *changed: the reservoir's INSERT, the scan-day upsert) is
 * sent and not waited for, and its answer is read with the next one that is
 * needed (res_seen's count, a user's id) or with the COMMIT, which ends the
 * pipeline with a sync.  A writer batch of 8 messages took 28 round trips and
 * takes 10 (bench/results/pg-pipe-2026-12-07.md).  All or none stays the
 * server's: there is no sync before the COMMIT, so after a failed statement
 * the server skips everything up to it, COMMIT included, and the transaction
 * is rolled back.  An operation told STORE_OK for a statement not answered yet
 * learns of its failure from a later one, with that statement's message and
 * status (fail_res): the batch fails whole, as it would have. */

static void
pend_push(struct pq_conn *c, const char *what, int prepare)
{
    struct pq_pend *p = &c->pend[c->npend++];

    snprintf(p->what, sizeof(p->what), "%s", what);
    p->prepare = prepare;
}

/* Queue sql (prepared at its first run on the session: the Parse goes in the
 * same pipeline) for the server.  0, or -1 when libpq could not (the
 * connection is gone, no memory: PQerrorMessage says). */
static int
pipe_send(struct pq_conn *c, const char *sql, int n, const char *const *v, const int *len,
          const int *fmt, const char *what)
{
    char name[48];
    int i = prep_find(c, sql, name, sizeof(name));

    if (i == c->nprep) {
        if (c->nprep == PQ_PREP_MAX || (c->prep[i].sql = strdup(sql)) == NULL) {
            if (!PQsendQueryParams(c->pg, sql, n, NULL, v, len, fmt, 1))
                return -1;
            pend_push(c, what, 0);
            return 0;
        }
        if (!PQsendPrepare(c->pg, name, sql, n, NULL)) {
            free(c->prep[i].sql);
            return -1;
        }
        c->nprep++;
        c->prepared++;
        pend_push(c, what, 1);
    }
    if (!PQsendQueryPrepared(c->pg, name, n, v, len, fmt, 1))
        return -1;
    pend_push(c, what, 0);
    return 0;
}

/* Read the answer to every statement queued, in order, after a flush request
 * (sync 0) or a sync (sync 1: its mark read too).  Returns the last
 * statement's result when it and all before it worked (*rc STORE_OK), else
 * NULL with *rc the first failure's status, graded as pq_run grades it (the
 * message set), or only STORE_ERR when quiet (draining before a rollback: the
 * message that caused it stays).  Blocks until the server answers (locks wait
 * at most lock_timeout) or the connection drops. */
static PGresult *
pipe_read(struct store *s, int sync, int quiet, int *rc)
{
    struct pq_conn *c = conn(s);
    PGresult *last = NULL, *bad = NULL;
    char what[48] = "pipeline";
    int n = c->npend, k = 0, forget = 0, failed = 0;
    int lost = PQflush(c->pg) != 0;     /* then nothing more comes */

    c->round_trips++;
    while (!lost && k < n) {
        PGresult *r = PQgetResult(c->pg);
        ExecStatusType st;
        int ok;

        if (r == NULL) {        /* statement k's answer is complete, or the end */
            lost = PQstatus(c->pg) != CONNECTION_OK;
            if (lost) {
                if (!failed)
                    memcpy(what, c->pend[k].what, sizeof(what));
                break;
            }
            k++;
            continue;
        }
        st = PQresultStatus(r);
        ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
        if (!ok && c->pend[k].prepare)
            forget = 1;         /* that name is not on the server */
        if (!ok && !failed)
            memcpy(what, c->pend[k].what, sizeof(what));
        if (!ok && bad == NULL && st != PGRES_PIPELINE_ABORTED) {
            bad = r;
        } else if (ok && k == n - 1 && !failed) {
            PQclear(last);
            last = r;
        } else
            PQclear(r);
        failed |= !ok;
    }
    c->npend = 0;
    if (sync && !lost) {
        for (int tries = 0; tries < 2; tries++) {
            PGresult *r = PQgetResult(c->pg);
            ExecStatusType st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;

            PQclear(r);
            if (st == PGRES_PIPELINE_SYNC || PQstatus(c->pg) != CONNECTION_OK)
                break;
        }
    }
    if (bad != NULL && PQresultErrorField(bad, PG_DIAG_SQLSTATE) != NULL &&
        strcmp(PQresultErrorField(bad, PG_DIAG_SQLSTATE), "26000") == 0)
        forget = 1;
    if (forget)
        prep_forget(c);
    if (!lost && !failed) {
        c->acked = 1;
        c->ok_at = pq_conn_now();
        *rc = STORE_OK;
        return last;
    }
    PQclear(last);
    if (quiet)
        *rc = STORE_ERR;
    else
        *rc = fail_res(s, bad, what);
    PQclear(bad);
    return NULL;
}

/* Leave the pipeline (a rollback, a savepoint's undo): every answer read up
 * to a sync, quietly; the transaction is the caller's to end. */
static void
pipe_leave(struct store *s)
{
    struct pq_conn *c = conn(s);
    int rc;

    if (!c->piped)
        return;
    c->piped = 0;
    if (PQstatus(c->pg) == CONNECTION_OK && PQpipelineSync(c->pg))
        PQclear(pipe_read(s, 1, 1, &rc));
    c->npend = 0;
    if (PQstatus(c->pg) == CONNECTION_OK)
        PQexitPipelineMode(c->pg);      /* else PQreset() ends it */
}

/* sql in the pipeline: its answer and every earlier one read now when want
 * (or it is the transaction's first: BEGIN's retry below needs to know, or
 * the queue is full), else STORE_OK and NULL, the answer read later. */
static PGresult *
pipe_run(struct store *s, const char *sql, int n, const char *const *v, const int *len,
         const int *fmt, const char *what, int want, int *rc)
{
    struct pq_conn *c = conn(s);

    if (pipe_send(c, sql, n, v, len, fmt, what) != 0) {
        c->npend = 0;
        *rc = fail_res(s, NULL, what);
        return NULL;
    }
    if (!want && c->acked && c->npend + 4 <= PQ_PIPE_MAX) {
        *rc = STORE_OK;
        return NULL;
    }
    if (!PQsendFlushRequest(c->pg)) {
        c->npend = 0;
        *rc = fail_res(s, NULL, what);
        return NULL;
    }
    return pipe_read(s, 0, 0, rc);
}

/* A write transaction's BEGIN, at its first statement: inside a writer batch
 * queued in a new pipeline, else run alone (pq_begin) as before. */
static int pq_begin(struct store *s, const char *sql);

static int
begin_now(struct store *s)
{
    struct pq_conn *c = conn(s);

    c->begin_pending = 0;
    if (!s->in_batch) {
        c->in_block = 0;
        return pq_begin(s, "BEGIN");
    }
    if (!PQenterPipelineMode(c->pg))
        return fail_res(s, NULL, "begin");
    c->piped = 1;
    c->acked = 0;
    c->npend = 0;
    if (pipe_send(c, "BEGIN", 0, NULL, NULL, NULL, "begin") != 0) {
        pipe_leave(s);
        return fail_res(s, NULL, "begin");
    }
    return STORE_OK;
}

/* COMMIT at the end of the pipeline, and the pipeline left. */
static int
pipe_commit(struct store *s)
{
    struct pq_conn *c = conn(s);
    int rc;

    if (pipe_send(c, "COMMIT", 0, NULL, NULL, NULL, "commit") != 0 ||
        !PQpipelineSync(c->pg)) {
        c->npend = 0;
        rc = fail_res(s, NULL, "commit");
    } else
        PQclear(pipe_read(s, 1, 0, &rc));
    c->piped = 0;
    c->npend = 0;
    if (PQstatus(c->pg) == CONNECTION_OK)
        PQexitPipelineMode(c->pg);
    return rc;
}

/* ---- running statements ---- */

/* sql with its parameters: the result (want) or, in a writer batch's
 * pipeline and !want, NULL with *rc STORE_OK and the answer read later. */
static PGresult *
run(struct store *s, const char *sql, int n, const char *const *v, const int *len,
    const int *fmt, const char *what, int want, int *rc)
{
    struct pq_conn *c = conn(s);
    PGresult *r;
    ExecStatusType st;

    if (!c->in_block && (*rc = pq_ready(s)) != STORE_OK)
        return NULL;
    for (int tries = 0; c->begin_pending || c->piped; tries++) {
        int first;

        if (c->begin_pending && (*rc = begin_now(s)) != STORE_OK)
            return NULL;
        if (!c->piped)
            break;
        /* Rows a copy holds back go first, in the same transaction. */
        if (c->batch != NULL && (*rc = c->batch->flush(s)) != STORE_OK)
            return NULL;
        first = !c->acked;
        r = pipe_run(s, sql, n, v, len, fmt, what, want, rc);
        if (*rc != STORE_EDOWN || !first || tries > 0)
            return r;
        /* As pq_begin: a connection found broken by the batch's first
         * round trip (idle while the server restarted) is revived and the
         * BEGIN and the statement tried once more: nothing has happened. */
        c->piped = 0;
        c->in_block = 0;
        if ((*rc = pq_ready(s)) != STORE_OK)
            return NULL;
        c->in_block = 1;
        c->begin_pending = 1;
    }
    /* Rows a copy holds back go first, in the same transaction. */
    if (c->batch != NULL && (*rc = c->batch->flush(s)) != STORE_OK)
        return NULL;
    r = pq_exec(c, sql, n, v, len, fmt);
    st = r != NULL ? PQresultStatus(r) : PGRES_FATAL_ERROR;

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        c->ok_at = pq_conn_now();
        *rc = STORE_OK;
        return r;
    }
    /* Dropped behind our back (DISCARD, a pooler's new session): prepared
     * again at the next run, under new names. */
    if (r != NULL && PQresultErrorField(r, PG_DIAG_SQLSTATE) != NULL &&
        strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE), "26000") == 0)
        prep_forget(c);
    *rc = fail_res(s, r, what);
    PQclear(r);
    return NULL;
}

PGresult *
pq_run(struct store *s, const char *sql, const struct pq_args *a, const char *what,
       int *rc)
{
    return pq_run_n(s, sql, a != NULL ? a->n : 0, a != NULL ? a->v : NULL,
                    a != NULL ? a->len : NULL, a != NULL ? a->fmt : NULL, what, rc);
}

PGresult *
pq_run_n(struct store *s, const char *sql, int n, const char *const *v, const int *len,
         const int *fmt, const char *what, int *rc)
{
    return run(s, sql, n, v, len, fmt, what, 1, rc);
}

int
pq_do(struct store *s, const char *sql, const struct pq_args *a, const char *what,
      uint64_t *changed)
{
    int rc;
    PGresult *r = run(s, sql, a != NULL ? a->n : 0, a != NULL ? a->v : NULL,
                      a != NULL ? a->len : NULL, a != NULL ? a->fmt : NULL, what,
                      changed != NULL, &rc);

    if (r == NULL)
        return rc;              /* a failure, or sent and answered later */
    if (changed != NULL)
        *changed = strtoull(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return STORE_OK;
}

/* A binary-format column's bytes, big-endian, as an unsigned integer; *len is
 * its width in bytes, 0 for NULL (then 0 is returned). */
static uint64_t
pq_be_bits(const PGresult *r, int row, int col, int *len)
{
    const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
    uint64_t u = 0;

    *len = PQgetisnull(r, row, col) ? 0 : PQgetlength(r, row, col);
    for (int i = 0; i < *len && i < 8; i++)
        u = u << 8 | p[i];
    return u;
}

int64_t
pq_int(const PGresult *r, int row, int col)
{
    int len;
    uint64_t u = pq_be_bits(r, row, col, &len);

    if (len == 2)
        return (int16_t)u;
    if (len == 4)
        return (int32_t)u;
    return (int64_t)u;
}

double
pq_dbl(const PGresult *r, int row, int col)
{
    int len;
    uint64_t u = pq_be_bits(r, row, col, &len);
    double d;

    if (len == 0)
        return 0;
    if (len == 4) {
        uint32_t w = (uint32_t)u;
        float f;

        memcpy(&f, &w, 4);
        return f;
    }
    memcpy(&d, &u, 8);
    return d;
}

int
pq_isnull(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col);
}

int
pq_int1(struct store *s, const char *sql, const struct pq_args *a, const char *what,
        int64_t *v)
{
    int rc;
    PGresult *r = pq_run(s, sql, a, what, &rc);

    if (r == NULL)
        return rc;
    rc = PQntuples(r) > 0 ? STORE_OK : STORE_NOTFOUND;
    if (rc == STORE_OK)
        *v = pq_int(r, 0, 0);
    PQclear(r);
    return rc;
}

int
pq_keys_of(struct store *s, PGresult *r, char ***users, size_t *n)
{
    struct store_strv_build b = { 0 };
    int nomem = store_strv_push(&b, NULL) != 0;

    for (int i = 0; !nomem && i < PQntuples(r); i++)
        nomem = store_strv_push(&b, PQgetvalue(r, i, 0)) != 0;
    PQclear(r);
    if (nomem) {
        store_strv_free(b.v);
        return store_fail(s, STORE_ERR, "out of memory listing users");
    }
    *users = b.v;
    *n = b.n;
    return STORE_OK;
}

int
pq_key_values_of(struct store *s, PGresult *r, const char *what, char ***users,
                 double **vals, size_t *n)
{
    struct store_strv_build b = { 0 };
    int rows = PQntuples(r);
    double *v = rows > 0 ? malloc((size_t)rows * sizeof(*v)) : NULL;
    int nomem = (rows > 0 && v == NULL) || store_strv_push(&b, NULL) != 0;

    for (int i = 0; !nomem && i < rows; i++) {
        v[i] = pq_dbl(r, i, 1);
        nomem = store_strv_push(&b, PQgetvalue(r, i, 0)) != 0;
    }
    PQclear(r);
    if (nomem) {
        store_strv_free(b.v);
        free(v);
        return store_fail(s, STORE_ERR, "%s: out of memory", what);
    }
    *users = b.v;
    *vals = v;
    *n = b.n;
    return STORE_OK;
}

int
pq_blob_copy(const PGresult *r, int row, int col, void **blob, size_t *len)
{
    int n = PQgetlength(r, row, col);

    if ((*blob = malloc(n > 0 ? (size_t)n : 1)) == NULL)
        return -1;
    if (n > 0)
        memcpy(*blob, PQgetvalue(r, row, col), (size_t)n);
    *len = (size_t)n;
    return 0;
}

/* ---- transactions ---- */

/* BEGIN on a working connection (pq_run revives a lost one).  A connection
 * found broken by the BEGIN itself (idle while the server restarted) is
 * revived and the BEGIN tried once more: nothing has happened in the
 * transaction yet. */
static int
pq_begin(struct store *s, const char *sql)
{
    int rc;

    for (int tries = 0;; tries++) {
        rc = pq_do(s, sql, NULL, "begin", NULL);
        if (rc != STORE_EDOWN || tries > 0)
            break;
    }
    if (rc == STORE_OK)
        conn(s)->in_block = 1;
    return rc;
}

int
pq_txn(struct store *s, enum store_txn t)
{
    int rc;

    if (t != STORE_TXN_SAVEPOINT && t != STORE_TXN_RELEASE)
        pq_uids_drop(s);        /* a transaction's own, or undone with it */
    switch (t) {
    case STORE_TXN_WRITE:
        /* BEGIN is sent with the first statement (begin_now: in a writer
         * batch in the same round trip); a lost connection is revived now. */
        if ((rc = pq_ready(s)) != STORE_OK)
            return rc;
        conn(s)->in_block = 1;
        conn(s)->begin_pending = 1;
        return STORE_OK;
    case STORE_TXN_PEEK:
        return pq_begin(s, "BEGIN");
    case STORE_TXN_READ:
        pq_counters_drop(s);
        rc = pq_begin(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        /* The snapshot is taken at the first statement: take it now. */
        return rc == STORE_OK ? pq_do(s, "SELECT 1", NULL, "begin read", NULL) : rc;
    case STORE_TXN_COMMIT:
        if (conn(s)->begin_pending)
            rc = STORE_OK;      /* nothing was sent: nothing to commit */
        else if (conn(s)->piped) {
            /* Rows a copy holds back go first, in the same transaction. */
            rc = conn(s)->batch != NULL ? conn(s)->batch->flush(s) : STORE_OK;
            rc = rc == STORE_OK ? pipe_commit(s) : rc;
        } else
            rc = pq_do(s, "COMMIT", NULL, "commit", NULL);
        conn(s)->begin_pending = 0;
        conn(s)->in_block = 0;
        return rc;
    case STORE_TXN_ROLLBACK:
        conn(s)->in_block = 0;
        pq_batch_drop(s);
        pipe_leave(s);
        if (conn(s)->begin_pending)
            conn(s)->begin_pending = 0; /* nothing was sent */
        else if (PQstatus(pq_db(s)) == CONNECTION_OK)
            PQclear(PQexec(pq_db(s), "ROLLBACK"));
        return STORE_OK;
    case STORE_TXN_SAVEPOINT:
        return pq_do(s, "SAVEPOINT op", NULL, "begin", NULL);
    case STORE_TXN_RELEASE:
        return pq_do(s, "RELEASE SAVEPOINT op", NULL, "release savepoint", NULL);
    case STORE_TXN_UNDO:
        pq_batch_drop(s);       /* written after the savepoint: pq_run sent the rest */
        pipe_leave(s);
        if (PQstatus(pq_db(s)) == CONNECTION_OK)
            PQclear(PQexec(pq_db(s), "ROLLBACK TO SAVEPOINT op"));
        return STORE_OK;
    }
    return store_fail(s, STORE_ERR, "unknown transaction step %d", (int)t);
}

/* ---- open and close ---- */

/* Session settings: the lock wait, read-only, and a schema search path that
 * is the database's own (the store's tables in "public" unless the role's
 * search_path says otherwise). */
int
pq_session(struct store *s, unsigned flags)
{
    struct pq_args a = { 0 };
    char ms[32];
    int rc;

    snprintf(ms, sizeof(ms), "%u", s->busy_ms > 0 ? s->busy_ms : 1);
    pq_text(&a, ms);
    rc = pq_do(s, "SELECT set_config('lock_timeout', $1, false)", &a, "open", NULL);
    if (rc == STORE_OK && (flags & STORE_RDONLY))
        rc = pq_do(s, "SET default_transaction_read_only = on", NULL, "open", NULL);
    if (rc == STORE_OK)
        rc = pq_do(s, "SET client_min_messages = warning", NULL, "open", NULL);
    return rc;
}

int
pq_open(struct store *s, const char *target, unsigned flags)
{
    /* Our defaults first: what the connection string says overrides them. */
    static const char *const keys[] = { "connect_timeout", "application_name", "dbname",
                                        NULL };
    const char *vals[] = { "10", "spamshift", target, NULL };
    struct pq_conn *c;
    char line[400], name[300];
    int down;

    if ((c = calloc(1, sizeof(*c))) == NULL)
        return store_fail(s, STORE_ERR, "postgresql: out of memory");
    s->conn = c;
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (c->pg == NULL)
        return store_fail(s, STORE_ERR, "postgresql: out of memory");
    if (PQstatus(c->pg) != CONNECTION_OK && PQpingParams(keys, vals, 1) == PQPING_OK) {
        /* The server refused us but answers the ping: it may have been
         * starting up a moment ago ("the database system is starting up") and
         * be ready now, so connect once more before calling the refusal ours
         * (tests/e2e/pg_restart.sh saw a learn exit 73 in that window). */
        PQfinish(c->pg);
        if ((c->pg = PQconnectdbParams(keys, vals, 1)) == NULL)
            return store_fail(s, STORE_ERR, "postgresql: out of memory");
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        PGPing p = PQpingParams(keys, vals, 1);

        /* A server that does not answer (or is starting or stopping) is
         * STORE_EDOWN; a refusal (no such database, bad password) is not. */
        down = p == PQPING_NO_RESPONSE || p == PQPING_REJECT;
        return store_fail(s, down ? STORE_EDOWN : STORE_ERR, "postgresql: cannot connect%s: %s",
                          down ? " (is the server running?)" : "",
                          pq_first_line(PQerrorMessage(c->pg), line, sizeof(line)));
    }
    pq_conn_opened(c);
    snprintf(name, sizeof(name), "postgresql:%s", PQdb(c->pg));
    if ((s->name = strdup(name)) == NULL)
        return store_fail(s, STORE_ERR, "postgresql: out of memory");
    return pq_session(s, flags);
}

void
pq_label(const char *target, char *buf, size_t len)
{
    PQconninfoOption *opts = PQconninfoParse(target, NULL);
    const char *db = NULL, *user = NULL;

    for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++) {
        if (o->val == NULL || *o->val == '\0')
            continue;
        if (strcmp(o->keyword, "dbname") == 0)
            db = o->val;
        else if (strcmp(o->keyword, "user") == 0)
            user = o->val;
    }
    snprintf(buf, len, "postgresql:%s", db != NULL ? db : user != NULL ? user : "(default)");
    PQconninfoFree(opts);
}

/* ---- what other files hold on the connection ---- */

void
pq_counters_drop(struct store *s)
{
    struct pq_conn *c = s->conn;

    if (c == NULL || c->counters == NULL)
        return;
    for (size_t i = 0; i < c->ncounters; i++) {
        free(c->counters[i].key);
        free(c->counters[i].name);
    }
    free(c->counters);
    c->counters = NULL;
    c->ncounters = 0;
}

int
pq_uid_find(struct store *s, const char *key, int64_t *uid)
{
    struct pq_conn *c = s->conn;

    if (!c->in_block)
        return 0;
    for (int i = 0; i < c->nuids; i++)
        if (strcmp(c->uids[i].key, key) == 0) {
            *uid = c->uids[i].uid;
            return 1;
        }
    return 0;
}

void
pq_uid_put(struct store *s, const char *key, int64_t uid)
{
    struct pq_conn *c = s->conn;
    struct pq_uid *u;
    char *k;

    if (!c->in_block || (k = strdup(key)) == NULL)
        return;                 /* not kept: looked up again next time */
    if (c->nuids < PQ_UIDS)
        u = &c->uids[c->nuids++];
    else {
        u = &c->uids[c->uid_next];
        c->uid_next = (c->uid_next + 1) % PQ_UIDS;
        free(u->key);
    }
    u->key = k;
    u->uid = uid;
}

void
pq_uids_drop(struct store *s)
{
    struct pq_conn *c = s->conn;

    for (int i = 0; i < c->nuids; i++)
        free(c->uids[i].key);
    c->nuids = 0;
    c->uid_next = 0;
}

void
pq_batch_free(struct pq_batch *b)
{
    for (int i = 0; i < b->nrows * b->t->ncols; i++)
        free(b->v[i].p);
    free(b);
}

/* A copy of one value as libpq binds it. */
static int
val_copy(struct pq_val *d, enum store_col_kind kind, const struct store_value *v)
{
    char num[32];
    const char *src = num;
    size_t n;

    d->fmt = 0;
    d->len = 0;
    d->p = NULL;
    if (v->null)
        return 0;
    switch (kind) {
    case STORE_COL_INT:
        snprintf(num, sizeof(num), "%lld", (long long)v->i);
        break;
    case STORE_COL_REAL:
        snprintf(num, sizeof(num), "%.17g", v->d);
        break;
    case STORE_COL_TEXT:
        src = v->p;
        break;
    case STORE_COL_BLOB:
        if ((d->p = malloc(v->len > 0 ? v->len : 1)) == NULL)
            return -1;
        if (v->len > 0)
            memcpy(d->p, v->p, v->len);
        d->len = (int)v->len;
        d->fmt = 1;
        return 0;
    }
    n = strlen(src);
    if ((d->p = malloc(n + 1)) == NULL)
        return -1;
    memcpy(d->p, src, n + 1);
    return 0;
}

int
pq_batch_add(struct store *s, const struct store_table *t, const struct store_value *v,
             int (*flush)(struct store *s))
{
    struct pq_conn *c = s->conn;
    struct pq_batch *b;
    int rc;

    if (t->ncols > STORE_TABLE_COLS)
        return store_fail(s, STORE_ERR, "%s: write a %s row: too many columns", s->name,
                          t->name);
    if (c->batch != NULL && (c->batch->t != t || c->batch->flush != flush) &&
        (rc = c->batch->flush(s)) != STORE_OK)
        return rc;
    if (c->batch == NULL) {
        if ((c->batch = malloc(sizeof(*c->batch))) == NULL)
            return store_fail(s, STORE_ERR, "%s: write a %s row: out of memory", s->name,
                              t->name);
        c->batch->t = t;
        c->batch->nrows = 0;
        c->batch->flush = flush;
    }
    b = c->batch;
    for (int k = 0; k < t->ncols; k++)
        if (val_copy(&b->v[b->nrows * t->ncols + k], t->cols[k].kind, &v[k]) != 0) {
            for (int j = 0; j < k; j++)
                free(b->v[b->nrows * t->ncols + j].p);
            return store_fail(s, STORE_ERR, "%s: write a %s row: out of memory", s->name,
                              t->name);
        }
    b->nrows++;
    return b->nrows == PQ_BATCH_ROWS ? flush(s) : STORE_OK;
}

int
pq_batch_send(struct store *s, const char *sql, const char *what)
{
    struct pq_conn *c = s->conn;
    struct pq_batch *b = c->batch;
    int n, rc;
    const char **v;
    int *len, *fmt;

    c->batch = NULL;                    /* pq_run below must not send it again */
    n = b->nrows * b->t->ncols;
    v = malloc((size_t)n * sizeof(*v));
    len = malloc((size_t)n * sizeof(*len));
    fmt = malloc((size_t)n * sizeof(*fmt));
    if (v == NULL || len == NULL || fmt == NULL || sql == NULL)
        rc = store_fail(s, STORE_ERR, "%s: %s: out of memory", s->name, what);
    else {
        for (int i = 0; i < n; i++) {
            v[i] = b->v[i].p;
            len[i] = b->v[i].len;
            fmt[i] = b->v[i].fmt;
        }
        PQclear(pq_run_n(s, sql, n, v, len, fmt, what, &rc));
    }
    free(v);
    free(len);
    free(fmt);
    pq_batch_free(b);
    return rc;
}

void
pq_batch_drop(struct store *s)
{
    struct pq_conn *c = s->conn;

    if (c != NULL && c->batch != NULL) {
        pq_batch_free(c->batch);
        c->batch = NULL;
    }
}

void
pq_close(struct store *s)
{
    if (conn(s) == NULL)
        return;
    prep_forget(conn(s));
    pq_uids_drop(s);
    pq_counters_drop(s);
    pq_batch_drop(s);
    PQfinish(conn(s)->pg);
    free(conn(s));
    s->conn = NULL;
}
