/*
 * store_sqlite_heads.c - the SQLite store's published user models (heads)
 * and the refit log.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "store_be.h"
#include "store_sqlite.h"

static const char sql_head_get[] =
    "SELECT h.version, h.model_id, h.blob FROM heads h JOIN users u "
    "ON h.user_id = u.id WHERE u.key = ?1";
static const char sql_marks[] =
    "SELECT u.refit_fb_gen, u.refit_seen, coalesce(h.version, 0) FROM users u "
    "LEFT JOIN heads h ON h.user_id = u.id WHERE u.id = ?1";
static const char sql_head_put[] =
    "INSERT INTO heads(user_id, version, model_id, blob, updated) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(user_id) DO UPDATE SET "
    "version = excluded.version, model_id = excluded.model_id, "
    "blob = excluded.blob, updated = excluded.updated";
static const char sql_set_refit[] =
    "UPDATE users SET refit_fb_gen = ?2, refit_seen = ?3 WHERE id = ?1";
static const char sql_refit_insert[] =
    "INSERT INTO refits(user_id, at, version, model_id, n_feedback, "
    "n_unlabelled, domain_auc, ess, cv_before, cv_after, ms) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
static const char sql_refit_max[] = "SELECT coalesce(max(id), 0) FROM refits";
static const char sql_refit_last[] =
    "SELECT r.version, r.at, r.n_feedback, r.n_unlabelled, r.domain_auc, "
    "r.ess, r.cv_before, r.cv_after, r.ms FROM refits r JOIN users u "
    "ON r.user_id = u.id WHERE u.key = ?1 ORDER BY r.id DESC LIMIT 1";

int
sq_head_get(struct store *s, const char *key, char *mid, size_t midlen, uint64_t have,
            void **blob, size_t *len, uint64_t *version)
{
    sqlite3_stmt *st = sq_stmt(s, sql_head_get);
    const char *m;
    int rc;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? STORE_NOTFOUND : sq_fail_db(s, rc, "read head");
    }
    m = (const char *)sqlite3_column_text(st, 1);
    snprintf(mid, midlen, "%s", m != NULL ? m : "");
    *version = (uint64_t)sqlite3_column_int64(st, 0);
    if (*version != have && sq_column_blob_copy(st, 2, blob, len) != 0) {
        sqlite3_reset(st);
        return store_fail(s, STORE_ERR, "out of memory reading head");
    }
    sqlite3_reset(st);
    return STORE_OK;
}

/* The write lock (BEGIN IMMEDIATE) already keeps other publishers out. */
int
sq_head_marks(struct store *s, int64_t uid, int64_t *fb_gen, int64_t *seen,
              int64_t *version)
{
    sqlite3_stmt *st = sq_stmt(s, sql_marks);
    int rc;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? STORE_NOTFOUND : sq_fail_db(s, rc, "read refit marks");
    }
    *fb_gen = sqlite3_column_int64(st, 0);
    *seen = sqlite3_column_int64(st, 1);
    *version = sqlite3_column_int64(st, 2);
    sqlite3_reset(st);
    return STORE_OK;
}

static int
refit_insert(struct store *s, int64_t uid, int64_t version, const char *model_id,
             const struct store_refit *rec, int64_t at)
{
    sqlite3_stmt *st = sq_stmt(s, sql_refit_insert);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, at);
    sqlite3_bind_int64(st, 3, version);
    sqlite3_bind_text(st, 4, model_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, rec != NULL ? rec->n_feedback : 0);
    sqlite3_bind_int64(st, 6, rec != NULL ? rec->n_unlabelled : 0);
    if (rec != NULL) {
        sqlite3_bind_double(st, 7, rec->domain_auc);
        sqlite3_bind_double(st, 8, rec->ess);
        sqlite3_bind_double(st, 9, rec->cv_err_before);
        sqlite3_bind_double(st, 10, rec->cv_err_after);
        sqlite3_bind_double(st, 11, rec->ms);
    }
    return sq_step_done(s, st, "write refit record");
}

int
sq_head_put(struct store *s, int64_t uid, int64_t version, const char *model_id,
            const void *blob, size_t len, const struct store_user_state *from,
            const struct store_refit *rec, int64_t at)
{
    sqlite3_stmt *st = sq_stmt(s, sql_head_put);
    int rc;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, version);
    sqlite3_bind_text(st, 3, model_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, blob, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, at);
    if ((rc = sq_step_done(s, st, "write head")) != STORE_OK)
        return rc;
    if ((st = sq_stmt(s, sql_set_refit)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, (int64_t)from->fb_gen);
    sqlite3_bind_int64(st, 3, (int64_t)from->seen);
    if ((rc = sq_step_done(s, st, "write refit marks")) != STORE_OK)
        return rc;
    return refit_insert(s, uid, version, model_id, rec, at);
}

int
sq_refit_last(struct store *s, const char *key, struct store_refit *rec,
              uint64_t *version, int64_t *at)
{
    sqlite3_stmt *st = sq_stmt(s, sql_refit_last);
    int rc;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? STORE_NOTFOUND : sq_fail_db(s, rc, "read refit log");
    }
    *version = (uint64_t)sqlite3_column_int64(st, 0);
    *at = sqlite3_column_int64(st, 1);
    rec->n_feedback = (uint32_t)sqlite3_column_int64(st, 2);
    rec->n_unlabelled = (uint32_t)sqlite3_column_int64(st, 3);
    rec->domain_auc = sqlite3_column_double(st, 4);
    rec->ess = sqlite3_column_double(st, 5);
    rec->cv_err_before = sqlite3_column_double(st, 6);
    rec->cv_err_after = sqlite3_column_double(st, 7);
    rec->ms = sqlite3_column_double(st, 8);
    sqlite3_reset(st);
    return STORE_OK;
}

int
sq_refit_max(struct store *s, int64_t *max)
{
    sqlite3_stmt *st = sq_stmt(s, sql_refit_max);
    int rc;

    if (st == NULL)
        return STORE_ERR;
    if ((rc = sq_step_int(s, st, max, "read refit log")) == STORE_NOTFOUND)
        return store_fail(s, STORE_ERR, "read refit log: no row");
    return rc;
}
