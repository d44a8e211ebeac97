/*
 * store_sqlite_samples.c - the SQLite store's rows of a user's learning
 * data: feedback (with the quota's delete), the reservoir's slots, the
 * samples read back with their cached representations, and the refit's
 * cache.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "store_be.h"
#include "store_sqlite.h"

static const char sql_fb_get[] = "SELECT spam FROM feedback WHERE user_id = ?1 AND digest = ?2";
static const char sql_fb_insert[] =
    "INSERT INTO feedback(user_id, digest, spam, n, ids, updated) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_fb_move[] =
    "UPDATE feedback SET spam = ?3, n = ?4, ids = ?5, updated = ?6 "
    "WHERE user_id = ?1 AND digest = ?2";
static const char sql_fb_delete[] = "DELETE FROM feedback WHERE user_id = ?1 AND digest = ?2";
/* Per-user feedback quota: keep the ?2 most recently updated rows of user ?1
 * (ties within a second by digest) and always the row ?3 just written. */
static const char sql_fb_quota[] =
    "DELETE FROM feedback WHERE user_id = ?1 AND digest != ?3 AND digest IN"
    " (SELECT digest FROM feedback WHERE user_id = ?1 AND digest != ?3"
    " ORDER BY updated DESC, digest DESC LIMIT -1 OFFSET ?2 - 1)";
static const char sql_fb_quota_all[] =
    "DELETE FROM feedback WHERE (user_id, digest) IN"
    " (SELECT user_id, digest FROM (SELECT user_id, digest, row_number() OVER"
    " (PARTITION BY user_id ORDER BY updated DESC, digest DESC) AS r FROM feedback)"
    " WHERE r > ?1)";
static const char sql_res_has[] = "SELECT 1 FROM reservoir WHERE user_id = ?1 AND digest = ?2";
static const char sql_res_put[] =
    "INSERT OR REPLACE INTO reservoir(user_id, slot, digest, n, ids, added) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char sql_res_trim[] = "DELETE FROM reservoir WHERE slot >= ?1";
static const char sql_fb_list[] =
    "SELECT digest, spam, n, ids, CASE WHEN rep_model = ?2 THEN rep END "
    "FROM feedback f JOIN users u ON f.user_id = u.id WHERE u.key = ?1 ORDER BY digest";
static const char sql_res_list[] =
    "SELECT digest, 0, n, ids, CASE WHEN rep_model = ?2 THEN rep END "
    "FROM reservoir r JOIN users u ON r.user_id = u.id WHERE u.key = ?1 ORDER BY digest";
static const char sql_fb_rep[] =
    "UPDATE feedback SET rep = ?3, rep_model = ?4 WHERE user_id = ?1 AND digest = ?2";
static const char sql_res_rep[] =
    "UPDATE reservoir SET rep = ?3, rep_model = ?4 WHERE user_id = ?1 AND digest = ?2";
static const char sql_fc_get[] =
    "SELECT c.model_id, c.seen, c.blob FROM fitcache c JOIN users u "
    "ON c.user_id = u.id WHERE u.key = ?1";
static const char sql_fc_put[] =
    "INSERT INTO fitcache(user_id, model_id, seen, blob, updated) "
    "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(user_id) DO UPDATE SET "
    "model_id = excluded.model_id, seen = excluded.seen, "
    "blob = excluded.blob, updated = excluded.updated";

int
sq_fb_get(struct store *s, int64_t uid, const uint8_t *digest, int *spam)
{
    sqlite3_stmt *st = sq_stmt(s, sql_fb_get);
    int64_t v = 0;
    int rc;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_blob(st, 2, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    rc = sq_step_int(s, st, &v, "read feedback");
    *spam = (int)v;
    return rc;
}

int
sq_fb_write(struct store *s, int64_t uid, const uint8_t *digest, int spam, size_t n,
            const void *ids, size_t ids_len, int64_t updated, int move)
{
    sqlite3_stmt *st = sq_stmt(s, move ? sql_fb_move : sql_fb_insert);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_blob(st, 2, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, spam);
    sqlite3_bind_int64(st, 4, (int64_t)n);
    sqlite3_bind_blob(st, 5, ids, (int)ids_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, updated);
    return sq_step_done(s, st, "write feedback");
}

int
sq_fb_delete(struct store *s, int64_t uid, const uint8_t *digest, int *changed)
{
    sqlite3_stmt *st = sq_stmt(s, sql_fb_delete);
    int rc;

    *changed = 0;
    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_blob(st, 2, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    if ((rc = sq_step_done(s, st, "forget feedback")) == STORE_OK)
        *changed = sqlite3_changes(sq_db(s)) > 0;
    return rc;
}

int
sq_fb_quota(struct store *s, int64_t uid, uint32_t keep, const uint8_t *digest,
            uint64_t *dropped)
{
    sqlite3_stmt *st = sq_stmt(s, uid < 0 ? sql_fb_quota_all : sql_fb_quota);
    int rc;

    *dropped = 0;
    if (st == NULL)
        return STORE_ERR;
    if (uid < 0)
        sqlite3_bind_int64(st, 1, keep);
    else {
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_int64(st, 2, keep);
        sqlite3_bind_blob(st, 3, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    }
    if ((rc = sq_step_done(s, st, "apply feedback quota")) == STORE_OK)
        *dropped = (uint64_t)sqlite3_changes(sq_db(s));
    return rc;
}

int
sq_res_has(struct store *s, int64_t uid, const uint8_t *digest)
{
    sqlite3_stmt *st = sq_stmt(s, sql_res_has);
    int64_t one;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_blob(st, 2, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    return sq_step_int(s, st, &one, "read reservoir");
}

int
sq_res_put(struct store *s, int64_t uid, int64_t slot, const uint8_t *digest, size_t n,
           const void *ids, size_t ids_len, int64_t added)
{
    sqlite3_stmt *st = sq_stmt(s, sql_res_put);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, slot);
    sqlite3_bind_blob(st, 3, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)n);
    sqlite3_bind_blob(st, 5, ids, (int)ids_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, added);
    return sq_step_done(s, st, "write sample");
}

int
sq_res_trim(struct store *s, uint32_t size)
{
    sqlite3_stmt *st = sq_stmt(s, sql_res_trim);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, size);
    return sq_step_done(s, st, "shrink reservoir");
}

int
sq_samples(struct store *s, enum store_kind kind, const char *key, const char *model_id,
           struct store_samples *out)
{
    struct store_samples_build b = { .out = out };
    sqlite3_stmt *st = sq_stmt(s, kind == STORE_FEEDBACK ? sql_fb_list : sql_res_list);
    int rc = STORE_OK, r;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (model_id != NULL)
        sqlite3_bind_text(st, 2, model_id, -1, SQLITE_STATIC);
    while (rc == STORE_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
        const void *dg = sqlite3_column_blob(st, 0);
        int dlen = sqlite3_column_bytes(st, 0);
        const void *ids = sqlite3_column_blob(st, 3);
        int ilen = sqlite3_column_bytes(st, 3);
        const void *rep = sqlite3_column_blob(st, 4);
        int rlen = sqlite3_column_bytes(st, 4);

        rc = store_samples_push(s, &b, key, dg, (size_t)dlen, sqlite3_column_int(st, 1),
                                sqlite3_column_int64(st, 2), ids, (size_t)ilen, rep,
                                (size_t)rlen);
    }
    sqlite3_reset(st);
    if (rc != STORE_OK)
        return rc;
    if (r != SQLITE_DONE)
        return sq_fail_db(s, r, "read samples");
    store_samples_done(&b);
    return STORE_OK;
}

int
sq_rep_put(struct store *s, enum store_kind kind, int64_t uid, const uint8_t *digest,
           const void *rep, size_t len, const char *model_id)
{
    sqlite3_stmt *st = sq_stmt(s, kind == STORE_FEEDBACK ? sql_fb_rep : sql_res_rep);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_blob(st, 2, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, rep, (int)len, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, model_id, -1, SQLITE_STATIC);
    return sq_step_done(s, st, "cache representation");
}

int
sq_fc_get(struct store *s, const char *key, char *mid, size_t midlen, uint64_t *seen,
          void **blob, size_t *len)
{
    sqlite3_stmt *st = sq_stmt(s, sql_fc_get);
    const char *m;
    int rc;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? STORE_NOTFOUND : sq_fail_db(s, rc, "read fit cache");
    }
    m = (const char *)sqlite3_column_text(st, 0);
    snprintf(mid, midlen, "%s", m != NULL ? m : "");
    *seen = (uint64_t)sqlite3_column_int64(st, 1);
    if (sq_column_blob_copy(st, 2, blob, len) != 0) {
        sqlite3_reset(st);
        return store_fail(s, STORE_ERR, "out of memory reading fit cache");
    }
    sqlite3_reset(st);
    return STORE_OK;
}

int
sq_fc_put(struct store *s, int64_t uid, const char *model_id, uint64_t seen,
          const void *blob, size_t len, int64_t updated)
{
    sqlite3_stmt *st = sq_stmt(s, sql_fc_put);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_text(st, 2, model_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)seen);
    sqlite3_bind_blob(st, 4, blob, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, updated);
    return sq_step_done(s, st, "write fit cache");
}
