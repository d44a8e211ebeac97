/*
 * store_sqlite_lists.c - the SQLite store's allow and block lists
 * (store_be.h's list_set and list_all).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "store_be.h"
#include "store_sqlite.h"

static const char sql_put[] =
    "INSERT INTO senderlists(scope, sender, action, added) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT(scope, sender) DO UPDATE SET action = excluded.action, "
    "added = excluded.added";
static const char sql_delete[] = "DELETE FROM senderlists WHERE scope = ?1 AND sender = ?2";
static const char sql_all[] =
    "SELECT scope, sender, action, added FROM senderlists ORDER BY scope, sender";

int
sq_list_set(struct store *s, const char *scope, const char *sender, int action,
            int64_t added, int *changed)
{
    sqlite3_stmt *st = sq_stmt(s, action == STORE_LIST_NONE ? sql_delete : sql_put);
    int rc;

    *changed = 0;
    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
    if (action != STORE_LIST_NONE) {
        sqlite3_bind_int(st, 3, action);
        sqlite3_bind_int64(st, 4, added);
    }
    rc = sq_step_done(s, st, "set list entry");
    *changed = sqlite3_changes(sq_db(s)) > 0;
    return rc;
}

int
sq_list_all(struct store *s, struct store_list_entry **out, size_t *n)
{
    sqlite3_stmt *st = sq_stmt(s, sql_all);
    struct store_list_entry *v = NULL;
    size_t len = 0, cap = 0;
    int rc;

    if (st == NULL)
        return STORE_ERR;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_list_entry *e;

        if (len == cap) {
            size_t nc = cap ? 2 * cap : 16;
            struct store_list_entry *nv = realloc(v, nc * sizeof(*v));

            if (nv == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        e = &v[len];
        e->scope = strdup((const char *)sqlite3_column_text(st, 0));
        e->sender = strdup((const char *)sqlite3_column_text(st, 1));
        e->action = sqlite3_column_int(st, 2);
        e->added = sqlite3_column_int64(st, 3);
        len++;
        if (e->scope == NULL || e->sender == NULL) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        store_list_free(v, len);
        return rc == SQLITE_NOMEM ? store_fail(s, STORE_ERR, "list entries: out of memory")
                                  : sq_fail_db(s, rc, "list entries");
    }
    *out = v;
    *n = len;
    return STORE_OK;
}
