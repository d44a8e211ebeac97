/*
 * store_sqlite_copy.c - the SQLite store's rows as `store copy` moves them
 * (store_be.h's rows_read, rows_count, row_write, rows_clear, ids_sync):
 * statements built from the table's description (store_sql.c), prepared for
 * the call (not through the statement cache: their text is not static).
 * Values keep their kinds: an INTEGER column is read as a 64-bit integer, a
 * REAL as a double, TEXT and BLOB as bytes, NULL as NULL.
 */
#include "config.h"

#include <sqlite3.h>

#include "store.h"
#include "store_be.h"
#include "store_sqlite.h"

#define SQL_LEN 1024

static int
prepare(struct store *s, const struct store_table *t, enum store_sql_kind kind,
        int by_user, int64_t uid, sqlite3_stmt **st, const char *what)
{
    char sql[SQL_LEN];
    int rc;

    if (store_sql_table(sql, sizeof(sql), t, kind, '?', by_user, NULL) != 0)
        return store_fail(s, STORE_ERR, "%s: %s %s: statement too long", s->name, what,
                          t->name);
    if ((rc = sqlite3_prepare_v2(sq_db(s), sql, -1, st, NULL)) != SQLITE_OK)
        return sq_fail_db(s, rc, what);
    if (by_user && t->user_col >= 0)
        sqlite3_bind_int64(*st, 1, uid);
    return STORE_OK;
}

int
sq_rows_read(struct store *s, const struct store_table *t, int64_t uid, store_row_fn fn,
             void *ctx)
{
    struct store_value v[STORE_TABLE_COLS];
    sqlite3_stmt *st;
    int rc, stop = 0;

    if ((rc = prepare(s, t, STORE_SQL_SELECT, uid >= 0, uid, &st, "read rows")) != STORE_OK)
        return rc;
    while (!stop && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int c = 0; c < t->ncols; c++) {
            v[c].null = sqlite3_column_type(st, c) == SQLITE_NULL;
            v[c].i = 0;
            v[c].d = 0;
            v[c].p = NULL;
            v[c].len = 0;
            if (v[c].null)
                continue;
            switch (t->cols[c].kind) {
            case STORE_COL_INT:
                v[c].i = sqlite3_column_int64(st, c);
                break;
            case STORE_COL_REAL:
                v[c].d = sqlite3_column_double(st, c);
                break;
            case STORE_COL_TEXT:
                v[c].p = sqlite3_column_text(st, c);
                v[c].len = (size_t)sqlite3_column_bytes(st, c);
                break;
            case STORE_COL_BLOB:
                v[c].p = sqlite3_column_blob(st, c);
                v[c].len = (size_t)sqlite3_column_bytes(st, c);
                break;
            }
        }
        stop = fn(ctx, v);
    }
    sqlite3_finalize(st);
    if (stop)
        return stop;
    return rc == SQLITE_DONE ? STORE_OK : store_fail(s, STORE_ERR, "%s: read %s: %s",
                                                     s->name, t->name,
                                                     sqlite3_errstr(rc));
}

int
sq_rows_count(struct store *s, const struct store_table *t, int64_t uid, uint64_t *n)
{
    sqlite3_stmt *st;
    int64_t v = 0;
    int rc;

    if ((rc = prepare(s, t, STORE_SQL_COUNT, uid >= 0, uid, &st, "count rows")) != STORE_OK)
        return rc;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return store_fail(s, STORE_ERR, "%s: count %s: %s", s->name, t->name,
                          sqlite3_errstr(rc));
    *n = (uint64_t)v;
    return STORE_OK;
}

int
sq_row_write(struct store *s, const struct store_table *t, const struct store_value *v)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = prepare(s, t, STORE_SQL_INSERT, 0, 0, &st, "write row")) != STORE_OK)
        return rc;
    for (int c = 0; c < t->ncols; c++) {
        int i = c + 1;

        if (v[c].null) {
            sqlite3_bind_null(st, i);
            continue;
        }
        switch (t->cols[c].kind) {
        case STORE_COL_INT:
            sqlite3_bind_int64(st, i, v[c].i);
            break;
        case STORE_COL_REAL:
            sqlite3_bind_double(st, i, v[c].d);
            break;
        case STORE_COL_TEXT:
            sqlite3_bind_text(st, i, v[c].p, (int)v[c].len, SQLITE_STATIC);
            break;
        case STORE_COL_BLOB:
            sqlite3_bind_blob(st, i, v[c].len > 0 ? v[c].p : "", (int)v[c].len,
                              SQLITE_STATIC);
            break;
        }
    }
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return store_fail(s, STORE_ERR, "%s: write a %s row: %s", s->name, t->name,
                          sqlite3_errmsg(sq_db(s)));
    return STORE_OK;
}

int
sq_rows_clear(struct store *s, const struct store_table *t)
{
    char sql[SQL_LEN];

    if (store_sql_table(sql, sizeof(sql), t, STORE_SQL_DELETE, '?', 0, NULL) != 0)
        return store_fail(s, STORE_ERR, "%s: clear %s: statement too long", s->name,
                          t->name);
    return sq_exec(s, sql, "clear a table");
}

/* INTEGER PRIMARY KEY takes max(id) + 1 by itself. */
int
sq_ids_sync(struct store *s)
{
    (void)s;
    return STORE_OK;
}
