/*
 * store_pg_copy.c - the PostgreSQL store's rows as `store copy` moves them
 * (store_be.h's rows_read, rows_count, row_write, rows_clear, ids_sync):
 * statements built from the table's description (store_sql.c), values bound
 * and read in binary as the rest of the backend does.  meta's schema_version
 * is this backend's bookkeeping, not a row to copy: read, count and clear
 * leave it out.  Rows are written with their ids (users.id, refits.id), so
 * ids_sync moves the sequences past them.
 */
#include "config.h"

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

int
pq_row_write(struct store *s, const struct store_table *t, const struct store_value *v)
{
    struct pq_args a = { 0 };
    char sql[SQL_LEN];
    int rc;

    if (store_sql_table(sql, sizeof(sql), t, STORE_SQL_INSERT, '$', 0, NULL) != 0 ||
        t->ncols > PQ_MAX_ARGS)
        return store_fail(s, STORE_ERR, "%s: write a %s row: too many columns", s->name,
                          t->name);
    for (int c = 0; c < t->ncols; c++) {
        if (v[c].null) {
            pq_text(&a, NULL);
            continue;
        }
        switch (t->cols[c].kind) {
        case STORE_COL_INT:
            pq_i64(&a, v[c].i);
            break;
        case STORE_COL_REAL:
            pq_f64(&a, v[c].d);
            break;
        case STORE_COL_TEXT:
            pq_text(&a, v[c].p);
            break;
        case STORE_COL_BLOB:
            pq_bin(&a, v[c].p, v[c].len);
            break;
        }
    }
    rc = pq_do(s, sql, &a, "write row", NULL);
    return rc;
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

/* The next id of each bigserial: one past the greatest written (1 when none). */
int
pq_ids_sync(struct store *s)
{
    static const char *const sql[] = {
        "SELECT setval(pg_get_serial_sequence('users', 'id'), "
        "  coalesce((SELECT max(id) FROM users), 0) + 1, false)",
        "SELECT setval(pg_get_serial_sequence('refits', 'id'), "
        "  coalesce((SELECT max(id) FROM refits), 0) + 1, false)",
    };
    int rc = STORE_OK;

    for (size_t i = 0; rc == STORE_OK && i < sizeof(sql) / sizeof(sql[0]); i++)
        rc = pq_do(s, sql[i], NULL, "move the id sequences", NULL);
    return rc;
}
