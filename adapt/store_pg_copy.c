/*
 * store_pg_copy.c - the PostgreSQL store's rows as `store copy` moves them
 * (store_be.h's rows_read, rows_count, row_write, rows_clear, ids_sync):
 * statements built from the table's description (store_sql.c), values bound
 * and read in binary as the rest of the backend does.  meta's schema_version
 * is this backend's bookkeeping, not a row to copy: read, count and clear
 * leave it out.  Rows are written with their ids (users.id, refits.id), so
 * ids_sync moves the sequences past them.
 *
 * Written rows are held back and sent as one multi-row INSERT per table and
 * up to PQ_BATCH_ROWS rows (a statement per row cost a round trip and a parse
 * each: 1.1M rows took 197 s), before any other statement on the connection
 * (pq_run sends them), so inside the same transaction: a refused row fails
 * the user's transaction as before, at the commit at the latest.
 *
 * A copy's per-user commits do not wait for the server's disk
 * (synchronous_commit off for the connection, from its first row: 10,000
 * users were 10,000 WAL flushes); the last transaction of a copy, ids_sync's,
 * commits with synchronous_commit on, which makes every earlier commit
 * durable before `store copy` reports success.  A server crash during a copy
 * may lose the last users' commits: the copy has failed then, and is run
 * again with --force as after any failure.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_be.h"
#include "store_pg.h"

#define SQL_LEN 1024

static const char *
own_rows(const struct store_table *t)
{
    return strcmp(t->name, "meta") == 0 ? "key <> 'schema_version'" : NULL;
}

static int
build(struct store *s, char *sql, const struct store_table *t, enum store_sql_kind kind,
      int by_user, const char *what)
{
    if (store_sql_table(sql, SQL_LEN, t, kind, '$', by_user, own_rows(t)) != 0)
        return store_fail(s, STORE_ERR, "%s: %s %s: statement too long", s->name, what,
                          t->name);
    return STORE_OK;
}

int
pq_rows_read(struct store *s, const struct store_table *t, int64_t uid, store_row_fn fn,
             void *ctx)
{
    struct store_value v[STORE_TABLE_COLS];
    struct pq_args a = { 0 };
    char sql[SQL_LEN];
    PGresult *r;
    int rc, stop = 0;

    if ((rc = build(s, sql, t, STORE_SQL_SELECT, uid >= 0, "read rows")) != STORE_OK)
        return rc;
    if (uid >= 0 && t->user_col >= 0)
        pq_i64(&a, uid);
    if ((r = pq_run(s, sql, &a, "read rows", &rc)) == NULL)
        return rc;
    for (int row = 0; !stop && row < PQntuples(r); row++) {
        for (int c = 0; c < t->ncols; c++) {
            memset(&v[c], 0, sizeof(v[c]));
            if ((v[c].null = pq_isnull(r, row, c)))
                continue;
            switch (t->cols[c].kind) {
            case STORE_COL_INT:
                v[c].i = pq_int(r, row, c);
                break;
            case STORE_COL_REAL:
                v[c].d = pq_dbl(r, row, c);
                break;
            case STORE_COL_TEXT:
            case STORE_COL_BLOB:
                v[c].p = PQgetvalue(r, row, c);
                v[c].len = (size_t)PQgetlength(r, row, c);
                break;
            }
        }
        stop = fn(ctx, v);
    }
    PQclear(r);
    return stop ? stop : STORE_OK;
}

int
pq_rows_count(struct store *s, const struct store_table *t, int64_t uid, uint64_t *n)
{
    struct pq_args a = { 0 };
    char sql[SQL_LEN];
    int64_t v = 0;
    int rc;

    if ((rc = build(s, sql, t, STORE_SQL_COUNT, uid >= 0, "count rows")) != STORE_OK)
        return rc;
    if (uid >= 0 && t->user_col >= 0)
        pq_i64(&a, uid);
    if ((rc = pq_int1(s, sql, &a, "count rows", &v)) < 0)
        return rc;
    *n = (uint64_t)v;
    return STORE_OK;
}

/* "INSERT INTO t(cols) VALUES ($1, ...), ($k, ...)..." for n rows (malloc'd). */
static char *
batch_sql(const struct store_table *t, int n)
{
    char head[SQL_LEN], *sql, *v;
    size_t len, off;

    if (store_sql_table(head, sizeof(head), t, STORE_SQL_INSERT, '$', 0, NULL) != 0 ||
        (v = strstr(head, " VALUES (")) == NULL)
        return NULL;
    v[8] = '\0';                           /* keep " VALUES " */
    len = strlen(head) + (size_t)n * (size_t)t->ncols * 12 + 1;
    if ((sql = malloc(len)) == NULL)
        return NULL;
    off = (size_t)snprintf(sql, len, "%s", head);
    for (int r = 0; r < n; r++)
        for (int c = 0; c < t->ncols; c++)
            off += (size_t)snprintf(sql + off, len - off, "%s$%d%s",
                                    c == 0 ? (r == 0 ? "(" : ", (") : ", ",
                                    r * t->ncols + c + 1, c + 1 == t->ncols ? ")" : "");
    return sql;
}

int
pq_batch_flush(struct store *s)
{
    struct pq_conn *c = s->conn;
    char *sql = batch_sql(c->batch->t, c->batch->nrows);
    int rc = pq_batch_send(s, sql, "write rows");

    free(sql);
    return rc;
}

int
pq_row_write(struct store *s, const struct store_table *t, const struct store_value *v)
{
    struct pq_conn *c = s->conn;
    int rc;

    if (!c->copy_async) {
        if ((rc = pq_do(s, "SET synchronous_commit = off", NULL, "write rows", NULL)) !=
            STORE_OK)
            return rc;
        c->copy_async = 1;
    }
    return pq_batch_add(s, t, v, pq_batch_flush);
}

int
pq_rows_clear(struct store *s, const struct store_table *t)
{
    char sql[SQL_LEN];
    int rc;

    if ((rc = build(s, sql, t, STORE_SQL_DELETE, 0, "clear")) != STORE_OK)
        return rc;
    return pq_do(s, sql, NULL, "clear a table", NULL);
}

/* The next id of each bigserial: one past the greatest written (1 when none);
 * and each user's count of scan records (users.scans, store_pg_scans.c),
 * which the copied rows of users leave at 0, from the scans copied. */
int
pq_ids_sync(struct store *s)
{
    static const char *const sql[] = {
        "UPDATE users u SET scans = x.n FROM (SELECT user_id, count(*) AS n FROM scans"
        "  GROUP BY user_id) x WHERE u.id = x.user_id AND u.scans <> x.n",
        "SELECT setval(pg_get_serial_sequence('users', 'id'), "
        "  coalesce((SELECT max(id) FROM users), 0) + 1, false)",
        "SELECT setval(pg_get_serial_sequence('refits', 'id'), "
        "  coalesce((SELECT max(id) FROM refits), 0) + 1, false)",
    };
    int rc;

    /* This commit waits for the disk, and with it every earlier one. */
    rc = pq_do(s, "SET LOCAL synchronous_commit = on", NULL, "move the id sequences",
               NULL);
    for (size_t i = 0; rc == STORE_OK && i < sizeof(sql) / sizeof(sql[0]); i++)
        rc = pq_do(s, sql[i], NULL, "move the id sequences", NULL);
    return rc;
}
