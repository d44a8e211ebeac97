/*
 * store_sqlite_users.c - the SQLite store's users: keys, the state a refit
 * loads, the generation and seen counters, the key lists (every user, the
 * dirty rule, recent heads, refitted since), claims for refit, thresholds
 * and counters.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "store_be.h"
#include "store_sqlite.h"

static const char sql_user_get[] = "SELECT id FROM users WHERE key = ?1";
static const char sql_user_insert[] = "INSERT INTO users(key, created) VALUES (?1, ?2)";
static const char sql_state[] =
    "SELECT u.id, u.fb_gen, u.seen, u.refit_fb_gen, u.refit_seen, "
    "  coalesce((SELECT version FROM heads WHERE user_id = u.id), 0), "
    "  (SELECT count(*) FROM feedback WHERE user_id = u.id AND spam = 1), "
    "  (SELECT count(*) FROM feedback WHERE user_id = u.id AND spam = 0), "
    "  (SELECT count(*) FROM reservoir WHERE user_id = u.id) "
    "FROM users u WHERE u.key = ?1";
static const char sql_bump_fb[] = "UPDATE users SET fb_gen = fb_gen + 1 WHERE id = ?1";
static const char sql_seen[] = "SELECT seen FROM users WHERE id = ?1";
static const char sql_set_seen[] = "UPDATE users SET seen = ?2 WHERE id = ?1";
/* The dirty rule (store.h, store_dirty_list). */
static const char sql_dirty[] =
    "SELECT u.key FROM users u LEFT JOIN heads h ON h.user_id = u.id "
    "WHERE u.fb_gen != u.refit_fb_gen OR u.seen - u.refit_seen >= ?1 "
    "   OR (?2 IS NOT NULL AND h.model_id IS NOT NULL AND h.model_id != ?2) "
    "ORDER BY u.key LIMIT ?3";
/* The dirty rule again, for claiming (store_be.h, claim): inside the write
 * transaction, whose lock keeps other connections out until the claim is
 * written. */
static const char sql_claim_find[] =
    "SELECT u.id, u.key FROM users u LEFT JOIN heads h ON h.user_id = u.id "
    "WHERE (u.fb_gen != u.refit_fb_gen OR u.seen - u.refit_seen >= ?1 "
    "   OR (?2 IS NOT NULL AND h.model_id IS NOT NULL AND h.model_id != ?2)) "
    "  AND u.key > ?3 AND u.claim_until <= ?4 ORDER BY u.key LIMIT 1";
static const char sql_claim_set[] =
    "UPDATE users SET claim_owner = ?2, claim_until = ?3 WHERE id = ?1";
static const char sql_claim_release[] =
    "UPDATE users SET claim_owner = NULL, claim_until = 0 "
    "WHERE key = ?1 AND claim_owner = ?2";
static const char sql_users[] = "SELECT key FROM users ORDER BY key";
static const char sql_recent[] =
    "SELECT u.key FROM heads h JOIN users u ON h.user_id = u.id "
    "WHERE h.model_id = ?1 ORDER BY h.updated DESC, u.key LIMIT ?2";
static const char sql_refits_since[] =
    "SELECT DISTINCT u.key FROM refits r JOIN users u ON r.user_id = u.id "
    "WHERE r.id > ?1 AND r.id <= ?2 ORDER BY u.key";
static const char sql_thr_get[] =
    "SELECT spam_threshold FROM users WHERE key = ?1 AND spam_threshold IS NOT NULL";
static const char sql_thr_set[] = "UPDATE users SET spam_threshold = ?2 WHERE id = ?1";
static const char sql_thr_list[] =
    "SELECT key, spam_threshold FROM users WHERE spam_threshold IS NOT NULL ORDER BY key";
static const char sql_counter_add[] =
    "INSERT INTO counters(user_id, name, value) VALUES (?1, ?2, ?3) "
    "ON CONFLICT(user_id, name) DO UPDATE SET value = value + excluded.value";
static const char sql_counter_get[] =
    "SELECT c.value FROM counters c JOIN users u ON c.user_id = u.id "
    "WHERE u.key = ?1 AND c.name = ?2";

int
sq_user_lookup(struct store *s, const char *key, int64_t *uid)
{
    sqlite3_stmt *st = sq_stmt(s, sql_user_get);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    return sq_step_int(s, st, uid, "look up user");
}

int
sq_user_insert(struct store *s, const char *key, int64_t created, int64_t *uid)
{
    sqlite3_stmt *st = sq_stmt(s, sql_user_insert);
    int rc;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, created);
    if ((rc = sq_step_done(s, st, "create user")) != STORE_OK)
        return rc;
    *uid = sqlite3_last_insert_rowid(sq_db(s));
    return STORE_OK;
}

int
sq_user_state(struct store *s, const char *key, struct store_user_state *us)
{
    sqlite3_stmt *st = sq_stmt(s, sql_state);
    int rc;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        us->uid = sqlite3_column_int64(st, 0);
        us->fb_gen = (uint64_t)sqlite3_column_int64(st, 1);
        us->seen = (uint64_t)sqlite3_column_int64(st, 2);
        us->refit_fb_gen = (uint64_t)sqlite3_column_int64(st, 3);
        us->refit_seen = (uint64_t)sqlite3_column_int64(st, 4);
        us->head_version = (uint64_t)sqlite3_column_int64(st, 5);
        us->n_spam = (uint32_t)sqlite3_column_int64(st, 6);
        us->n_ham = (uint32_t)sqlite3_column_int64(st, 7);
        us->n_reservoir = (uint32_t)sqlite3_column_int64(st, 8);
        sqlite3_reset(st);
        return STORE_OK;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_NOTFOUND : sq_fail_db(s, rc, "read user");
}

int
sq_user_bump_fb(struct store *s, int64_t uid)
{
    sqlite3_stmt *st = sq_stmt(s, sql_bump_fb);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    return sq_step_done(s, st, "mark user dirty");
}

/* Two statements: the write lock held since BEGIN IMMEDIATE makes them atomic. */
int
sq_user_bump_seen(struct store *s, int64_t uid, int64_t *seen)
{
    sqlite3_stmt *st = sq_stmt(s, sql_seen);
    int rc;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    if ((rc = sq_step_int(s, st, seen, "read user")) != STORE_OK)
        return rc;
    (*seen)++;
    if ((st = sq_stmt(s, sql_set_seen)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, *seen);
    return sq_step_done(s, st, "count sample");
}

int
sq_keys(struct store *s, const struct store_keys_q *q, char ***users, size_t *n)
{
    static const char *const sql[] = {
        [STORE_KEYS_USERS] = sql_users, [STORE_KEYS_DIRTY] = sql_dirty,
        [STORE_KEYS_RECENT] = sql_recent, [STORE_KEYS_REFITS] = sql_refits_since,
    };
    sqlite3_stmt *st = sq_stmt(s, sql[q->kind]);

    if (st == NULL)
        return STORE_ERR;
    switch (q->kind) {
    case STORE_KEYS_USERS:
        break;
    case STORE_KEYS_DIRTY:
        sqlite3_bind_int64(st, 1, q->dirty_samples);
        if (q->model_id != NULL)
            sqlite3_bind_text(st, 2, q->model_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, q->max);
        break;
    case STORE_KEYS_RECENT:
        sqlite3_bind_text(st, 1, q->model_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 2, q->max);
        break;
    case STORE_KEYS_REFITS:
        sqlite3_bind_int64(st, 1, q->after);
        sqlite3_bind_int64(st, 2, q->upto);
        break;
    }
    return sq_collect_keys(s, st, users, n);
}

int
sq_claim(struct store *s, const struct store_keys_q *q, const char *after,
         const char *owner, int64_t now, int64_t until, char **key)
{
    sqlite3_stmt *st = sq_stmt(s, sql_claim_find);
    int64_t uid;
    int rc;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, q->dirty_samples);
    if (q->model_id != NULL)
        sqlite3_bind_text(st, 2, q->model_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, after, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? STORE_NOTFOUND : sq_fail_db(s, rc, "claim user");
    }
    uid = sqlite3_column_int64(st, 0);
    *key = strdup((const char *)sqlite3_column_text(st, 1));
    sqlite3_reset(st);
    if (*key == NULL)
        return store_fail(s, STORE_ERR, "out of memory claiming a user");
    if ((st = sq_stmt(s, sql_claim_set)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, until);
    return sq_step_done(s, st, "claim user");
}

int
sq_claim_release(struct store *s, const char *key, const char *owner)
{
    sqlite3_stmt *st = sq_stmt(s, sql_claim_release);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, owner, -1, SQLITE_STATIC);
    return sq_step_done(s, st, "release claim");
}

int
sq_thr_get(struct store *s, const char *key, double *spam)
{
    sqlite3_stmt *st = sq_stmt(s, sql_thr_get);
    int rc;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *spam = sqlite3_column_double(st, 0);
        sqlite3_reset(st);
        return STORE_OK;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_NOTFOUND : sq_fail_db(s, rc, "read threshold");
}

int
sq_thr_set(struct store *s, int64_t uid, double spam)
{
    sqlite3_stmt *st = sq_stmt(s, sql_thr_set);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    if (spam < 0)
        sqlite3_bind_null(st, 2);
    else
        sqlite3_bind_double(st, 2, spam);
    return sq_step_done(s, st, "set threshold");
}

int
sq_thr_list(struct store *s, char ***users, double **spam, size_t *n)
{
    sqlite3_stmt *st = sq_stmt(s, sql_thr_list);

    return st == NULL ? STORE_ERR : sq_collect_key_values(s, st, "list thresholds", users,
                                                          spam, n);
}

int
sq_counter_add(struct store *s, int64_t uid, const char *name, int64_t delta)
{
    sqlite3_stmt *st = sq_stmt(s, sql_counter_add);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, delta);
    return sq_step_done(s, st, "update counter");
}

int
sq_counter_get(struct store *s, const char *key, const char *name, int64_t *v)
{
    sqlite3_stmt *st = sq_stmt(s, sql_counter_get);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    return sq_step_int(s, st, v, "read counter");
}
