/*
 * store_pg_users.c - the PostgreSQL store's users: keys, the state a refit
 * loads, the generation and seen counters, the key lists (every user, the
 * dirty rule, recent heads, refitted since), claims for refit (FOR UPDATE
 * SKIP LOCKED), thresholds, counters and the
 * allow and block lists.  Keys sort byte by byte (COLLATE "C"), as SQLite's.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_be.h"
#include "store_pg.h"

static const char sql_user_get[] = "SELECT id FROM users WHERE key = $1";
/* ON CONFLICT: another host may have created the user since the lookup. */
static const char sql_user_insert[] =
    "INSERT INTO users(key, created) VALUES ($1, $2) "
    "ON CONFLICT(key) DO UPDATE SET key = excluded.key RETURNING id";
static const char sql_state[] =
    "SELECT u.id, u.fb_gen, u.seen, u.refit_fb_gen, u.refit_seen, "
    "  coalesce((SELECT version FROM heads WHERE user_id = u.id), 0), "
    "  (SELECT count(*) FROM feedback WHERE user_id = u.id AND spam = 1), "
    "  (SELECT count(*) FROM feedback WHERE user_id = u.id AND spam = 0), "
    "  (SELECT count(*) FROM reservoir WHERE user_id = u.id) "
    "FROM users u WHERE u.key = $1";
static const char sql_bump_fb[] = "UPDATE users SET fb_gen = fb_gen + 1 WHERE id = $1";
static const char sql_bump_seen[] =
    "UPDATE users SET seen = seen + 1 WHERE id = $1 RETURNING seen";
/* The dirty rule (store.h, store_dirty_list); $3 < 0: no limit. */
static const char sql_dirty[] =
    "SELECT u.key FROM users u LEFT JOIN heads h ON h.user_id = u.id "
    "WHERE u.fb_gen != u.refit_fb_gen OR u.seen - u.refit_seen >= $1::bigint "
    "   OR ($2::text IS NOT NULL AND h.model_id IS NOT NULL AND h.model_id != $2::text) "
    "ORDER BY u.key COLLATE \"C\" LIMIT CASE WHEN $3::bigint < 0 THEN NULL ELSE $3::bigint END";
/* The dirty rule again, for claiming (store_be.h, claim).  READ COMMITTED:
 * a row another host's claim holds is skipped, not waited for; one it
 * claimed and committed since this statement's snapshot is locked at its new
 * version and the WHERE is checked again there (so its claim_until now
 * excludes it) and LIMIT moves on to the next row. */
static const char sql_claim_find[] =
    "SELECT u.id, u.key FROM users u LEFT JOIN heads h ON h.user_id = u.id "
    "WHERE (u.fb_gen != u.refit_fb_gen OR u.seen - u.refit_seen >= $1::bigint "
    "   OR ($2::text IS NOT NULL AND h.model_id IS NOT NULL AND h.model_id != $2::text)) "
    "  AND u.key COLLATE \"C\" > $3::text AND u.claim_until <= $4::bigint "
    "ORDER BY u.key COLLATE \"C\" LIMIT 1 FOR UPDATE OF u SKIP LOCKED";
static const char sql_claim_set[] =
    "UPDATE users SET claim_owner = $2, claim_until = $3 WHERE id = $1";
static const char sql_claim_release[] =
    "UPDATE users SET claim_owner = NULL, claim_until = 0 "
    "WHERE key = $1 AND claim_owner = $2";
static const char sql_users[] = "SELECT key FROM users ORDER BY key COLLATE \"C\"";
static const char sql_recent[] =
    "SELECT u.key FROM heads h JOIN users u ON h.user_id = u.id "
    "WHERE h.model_id = $1 ORDER BY h.updated DESC, u.key COLLATE \"C\" "
    "LIMIT CASE WHEN $2::bigint < 0 THEN NULL ELSE $2::bigint END";
static const char sql_refits_since[] =
    "SELECT DISTINCT u.key COLLATE \"C\" FROM refits r JOIN users u ON r.user_id = u.id "
    "WHERE r.id > $1 AND r.id <= $2 ORDER BY 1";
static const char sql_thr_get[] =
    "SELECT spam_threshold FROM users WHERE key = $1 AND spam_threshold IS NOT NULL";
static const char sql_thr_set[] =
    "UPDATE users SET spam_threshold = $2::double precision WHERE id = $1";
static const char sql_thr_list[] =
    "SELECT key, spam_threshold FROM users WHERE spam_threshold IS NOT NULL "
    "ORDER BY key COLLATE \"C\"";
static const char sql_counter_add[] =
    "INSERT INTO counters(user_id, name, value) VALUES ($1, $2, $3) "
    "ON CONFLICT(user_id, name) DO UPDATE SET value = counters.value + excluded.value";
static const char sql_counter_get[] =
    "SELECT c.value FROM counters c JOIN users u ON c.user_id = u.id "
    "WHERE u.key = $1 AND c.name = $2";
/* All of them at once, for a read snapshot: stats asks for a few counters of
 * every user, and 10,000 users' round trips cost seconds (30,003 statements,
 * 9.3 s against SQLite's 0.7 s: bench/results/pg-2026-12-07.md). */
static const char sql_counters_all[] =
    "SELECT u.key, c.name, c.value FROM counters c JOIN users u ON c.user_id = u.id "
    "ORDER BY u.key COLLATE \"C\", c.name COLLATE \"C\"";
static const char sql_list_put[] =
    "INSERT INTO senderlists(scope, sender, action, added) VALUES ($1, $2, $3, $4) "
    "ON CONFLICT(scope, sender) DO UPDATE SET action = excluded.action, "
    "added = excluded.added";
static const char sql_list_delete[] = "DELETE FROM senderlists WHERE scope = $1 AND sender = $2";
static const char sql_list_all[] =
    "SELECT scope, sender, action, added FROM senderlists "
    "ORDER BY scope COLLATE \"C\", sender COLLATE \"C\"";

int
pq_user_lookup(struct store *s, const char *key, int64_t *uid)
{
    struct pq_args a = { 0 };

    int rc;

    if (pq_uid_find(s, key, uid))
        return STORE_OK;
    pq_text(&a, key);
    if ((rc = pq_int1(s, sql_user_get, &a, "look up user", uid)) == STORE_OK)
        pq_uid_put(s, key, *uid);
    return rc;
}

int
pq_user_insert(struct store *s, const char *key, int64_t created, int64_t *uid)
{
    struct pq_args a = { 0 };
    int rc;

    pq_text(&a, key);
    pq_i64(&a, created);
    rc = pq_int1(s, sql_user_insert, &a, "create user", uid);
    if (rc == STORE_OK)
        pq_uid_put(s, key, *uid);
    return rc == STORE_NOTFOUND ? store_fail(s, STORE_ERR, "create user: no id") : rc;
}

int
pq_user_state(struct store *s, const char *key, struct store_user_state *us)
{
    struct pq_args a = { 0 };
    PGresult *r;
    int rc;

    pq_text(&a, key);
    if ((r = pq_run(s, sql_state, &a, "read user", &rc)) == NULL)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return STORE_NOTFOUND;
    }
    us->uid = pq_int(r, 0, 0);
    us->fb_gen = (uint64_t)pq_int(r, 0, 1);
    us->seen = (uint64_t)pq_int(r, 0, 2);
    us->refit_fb_gen = (uint64_t)pq_int(r, 0, 3);
    us->refit_seen = (uint64_t)pq_int(r, 0, 4);
    us->head_version = (uint64_t)pq_int(r, 0, 5);
    us->n_spam = (uint32_t)pq_int(r, 0, 6);
    us->n_ham = (uint32_t)pq_int(r, 0, 7);
    us->n_reservoir = (uint32_t)pq_int(r, 0, 8);
    PQclear(r);
    return STORE_OK;
}

int
pq_user_bump_fb(struct store *s, int64_t uid)
{
    struct pq_args a = { 0 };

    pq_i64(&a, uid);
    return pq_do(s, sql_bump_fb, &a, "mark user dirty", NULL);
}

/* One statement: two hosts offering to one user at once count both. */
int
pq_user_bump_seen(struct store *s, int64_t uid, int64_t *seen)
{
    struct pq_args a = { 0 };

    pq_i64(&a, uid);
    return pq_int1(s, sql_bump_seen, &a, "count sample", seen);
}

int
pq_keys(struct store *s, const struct store_keys_q *q, char ***users, size_t *n)
{
    struct pq_args a = { 0 };
    const char *sql = sql_users;
    PGresult *r;
    int rc;

    switch (q->kind) {
    case STORE_KEYS_USERS:
        break;
    case STORE_KEYS_DIRTY:
        sql = sql_dirty;
        pq_i64(&a, q->dirty_samples);
        pq_text(&a, q->model_id);
        pq_i64(&a, q->max);
        break;
    case STORE_KEYS_RECENT:
        sql = sql_recent;
        pq_text(&a, q->model_id);
        pq_i64(&a, q->max);
        break;
    case STORE_KEYS_REFITS:
        sql = sql_refits_since;
        pq_i64(&a, q->after);
        pq_i64(&a, q->upto);
        break;
    }
    if ((r = pq_run(s, sql, &a, "list users", &rc)) == NULL)
        return rc;
    return pq_keys_of(s, r, users, n);
}

int
pq_claim(struct store *s, const struct store_keys_q *q, const char *after,
         const char *owner, int64_t now, int64_t until, char **key)
{
    struct pq_args a = { 0 };
    PGresult *r;
    int64_t uid;
    int rc;

    pq_i64(&a, q->dirty_samples);
    pq_text(&a, q->model_id);
    pq_text(&a, after);
    pq_i64(&a, now);
    if ((r = pq_run(s, sql_claim_find, &a, "claim user", &rc)) == NULL)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return STORE_NOTFOUND;
    }
    uid = pq_int(r, 0, 0);
    *key = strdup(PQgetvalue(r, 0, 1));
    PQclear(r);
    if (*key == NULL)
        return store_fail(s, STORE_ERR, "out of memory claiming a user");
    memset(&a, 0, sizeof(a));
    pq_i64(&a, uid);
    pq_text(&a, owner);
    pq_i64(&a, until);
    return pq_do(s, sql_claim_set, &a, "claim user", NULL);
}

int
pq_claim_release(struct store *s, const char *key, const char *owner)
{
    struct pq_args a = { 0 };

    pq_text(&a, key);
    pq_text(&a, owner);
    return pq_do(s, sql_claim_release, &a, "release claim", NULL);
}

int
pq_thr_get(struct store *s, const char *key, double *spam)
{
    struct pq_args a = { 0 };
    PGresult *r;
    int rc;

    pq_text(&a, key);
    if ((r = pq_run(s, sql_thr_get, &a, "read threshold", &rc)) == NULL)
        return rc;
    rc = PQntuples(r) > 0 ? STORE_OK : STORE_NOTFOUND;
    if (rc == STORE_OK)
        *spam = pq_dbl(r, 0, 0);
    PQclear(r);
    return rc;
}

int
pq_thr_set(struct store *s, int64_t uid, double spam)
{
    struct pq_args a = { 0 };

    pq_i64(&a, uid);
    if (spam < 0)
        pq_text(&a, NULL);
    else
        pq_f64(&a, spam);
    return pq_do(s, sql_thr_set, &a, "set threshold", NULL);
}

int
pq_thr_list(struct store *s, char ***users, double **spam, size_t *n)
{
    PGresult *r;
    int rc;

    if ((r = pq_run(s, sql_thr_list, NULL, "list thresholds", &rc)) == NULL)
        return rc;
    return pq_key_values_of(s, r, "list thresholds", users, spam, n);
}

int
pq_counter_add(struct store *s, int64_t uid, const char *name, int64_t delta)
{
    struct pq_args a = { 0 };

    pq_i64(&a, uid);
    pq_text(&a, name);
    pq_i64(&a, delta);
    return pq_do(s, sql_counter_add, &a, "update counter", NULL);
}

/* The snapshot's counters into s->conn (a read snapshot's rows cannot
 * change under it, so the copy is what each query would have read). */
static int
counters_load(struct store *s)
{
    struct pq_conn *c = s->conn;
    PGresult *r;
    int rc, n;

    if ((r = pq_run(s, sql_counters_all, NULL, "read counters", &rc)) == NULL)
        return rc;
    n = PQntuples(r);
    /* One element more, so that an empty table is loaded too (non-NULL). */
    if ((c->counters = calloc((size_t)n + 1, sizeof(*c->counters))) == NULL) {
        PQclear(r);
        return store_fail(s, STORE_ERR, "%s: read counters: out of memory", s->name);
    }
    for (int i = 0; i < n; i++) {
        struct pq_counter *k = &c->counters[i];

        k->key = strdup(PQgetvalue(r, i, 0));
        k->name = strdup(PQgetvalue(r, i, 1));
        k->value = pq_int(r, i, 2);
        c->ncounters++;
        if (k->key == NULL || k->name == NULL) {
            PQclear(r);
            pq_counters_drop(s);
            return store_fail(s, STORE_ERR, "%s: read counters: out of memory", s->name);
        }
    }
    PQclear(r);
    return STORE_OK;
}

static int
counter_cmp(const void *a, const void *b)
{
    const struct pq_counter *x = a, *y = b;
    int d = strcmp(x->key, y->key);

    return d != 0 ? d : strcmp(x->name, y->name);
}

/* Inside a read snapshot from the snapshot's copy of the table; else one
 * query. */
int
pq_counter_get(struct store *s, const char *key, const char *name, int64_t *v)
{
    struct pq_conn *c = s->conn;
    struct pq_args a = { 0 };

    if (s->in_read) {
        struct pq_counter want = { (char *)key, (char *)name, 0 }, *got;
        int rc;

        if (c->counters == NULL && (rc = counters_load(s)) != STORE_OK)
            return rc;
        got = bsearch(&want, c->counters, c->ncounters, sizeof(*c->counters), counter_cmp);
        if (got == NULL)
            return STORE_NOTFOUND;
        *v = got->value;
        return STORE_OK;
    }
    pq_text(&a, key);
    pq_text(&a, name);
    return pq_int1(s, sql_counter_get, &a, "read counter", v);
}

int
pq_list_set(struct store *s, const char *scope, const char *sender, int action,
            int64_t added, int *changed)
{
    struct pq_args a = { 0 };
    uint64_t n = 0;
    int rc;

    pq_text(&a, scope);
    pq_text(&a, sender);
    if (action != STORE_LIST_NONE) {
        pq_i64(&a, action);
        pq_i64(&a, added);
    }
    rc = pq_do(s, action == STORE_LIST_NONE ? sql_list_delete : sql_list_put, &a,
               "set list entry", &n);
    *changed = n > 0;
    return rc;
}

int
pq_list_all(struct store *s, struct store_list_entry **out, size_t *n)
{
    struct store_list_entry *v;
    PGresult *r;
    int rc, rows;

    if ((r = pq_run(s, sql_list_all, NULL, "list entries", &rc)) == NULL)
        return rc;
    rows = PQntuples(r);
    if ((v = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*v))) == NULL) {
        PQclear(r);
        return store_fail(s, STORE_ERR, "list entries: out of memory");
    }
    for (int i = 0; i < rows; i++) {
        v[i].scope = strdup(PQgetvalue(r, i, 0));
        v[i].sender = strdup(PQgetvalue(r, i, 1));
        v[i].action = (int)pq_int(r, i, 2);
        v[i].added = pq_int(r, i, 3);
        if (v[i].scope == NULL || v[i].sender == NULL) {
            PQclear(r);
            store_list_free(v, (size_t)i + 1);
            return store_fail(s, STORE_ERR, "list entries: out of memory");
        }
    }
    PQclear(r);
    *out = v;
    *n = (size_t)rows;
    return STORE_OK;
}
