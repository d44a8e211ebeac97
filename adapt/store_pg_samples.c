/*
 * store_pg_samples.c - the PostgreSQL store's rows of a user's learning
 * data (feedback with the quota's delete, the reservoir's slots, samples with
 * their cached representations, the refit's cache) and its published heads
 * with the refit log.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_be.h"
#include "store_pg.h"

static const char sql_fb_get[] = "SELECT spam FROM feedback WHERE user_id = $1 AND digest = $2";
static const char sql_fb_insert[] =
    "INSERT INTO feedback(user_id, digest, spam, n, ids, updated) "
    "VALUES ($1, $2, $3, $4, $5, $6)";
static const char sql_fb_move[] =
    "UPDATE feedback SET spam = $3, n = $4, ids = $5, updated = $6 "
    "WHERE user_id = $1 AND digest = $2";
static const char sql_fb_delete[] = "DELETE FROM feedback WHERE user_id = $1 AND digest = $2";
/* The quota: keep the $2 most recently updated rows of user $1 (ties by
 * digest) and always the row $3 just written. */
static const char sql_fb_quota[] =
    "DELETE FROM feedback WHERE user_id = $1 AND digest != $3 AND digest IN"
    " (SELECT digest FROM feedback WHERE user_id = $1 AND digest != $3"
    " ORDER BY updated DESC, digest DESC OFFSET $2::bigint - 1)";
static const char sql_fb_quota_all[] =
    "DELETE FROM feedback f USING (SELECT user_id, digest, row_number() OVER"
    " (PARTITION BY user_id ORDER BY updated DESC, digest DESC) AS r FROM feedback) x"
    " WHERE f.user_id = x.user_id AND f.digest = x.digest AND x.r > $1";
static const char sql_res_has[] = "SELECT 1 FROM reservoir WHERE user_id = $1 AND digest = $2";
/* res_has and the seen bump in one round trip: the bump only when the digest
 * is not sampled; no row when there is no such user, 0 when it is sampled. */
static const char sql_res_seen[] =
    "WITH has AS (SELECT 1 FROM reservoir WHERE user_id = $1 AND digest = $2),"
    " up AS (UPDATE users SET seen = seen + 1 WHERE id = $1"
    "  AND NOT EXISTS (SELECT 1 FROM has) RETURNING seen)"
    " SELECT coalesce((SELECT seen FROM up), 0) FROM users WHERE id = $1";
/* As SQLite's INSERT OR REPLACE: the slot's new sample has no cached rep. */
static const char sql_res_put[] =
    "INSERT INTO reservoir(user_id, slot, digest, n, ids, added) "
    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT(user_id, slot) DO UPDATE SET "
    "digest = excluded.digest, n = excluded.n, ids = excluded.ids, "
    "added = excluded.added, rep = NULL, rep_model = NULL";
static const char sql_res_trim[] = "DELETE FROM reservoir WHERE slot >= $1";
static const char sql_fb_list[] =
    "SELECT digest, spam, n, ids, CASE WHEN rep_model = $2::text THEN rep END "
    "FROM feedback f JOIN users u ON f.user_id = u.id WHERE u.key = $1 ORDER BY digest";
static const char sql_res_list[] =
    "SELECT digest, 0, n, ids, CASE WHEN rep_model = $2::text THEN rep END "
    "FROM reservoir r JOIN users u ON r.user_id = u.id WHERE u.key = $1 ORDER BY digest";
static const char sql_fc_get[] =
    "SELECT c.model_id, c.seen, c.blob FROM fitcache c JOIN users u "
    "ON c.user_id = u.id WHERE u.key = $1";
static const char sql_fc_put[] =
    "INSERT INTO fitcache(user_id, model_id, seen, blob, updated) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT(user_id) DO UPDATE SET "
    "model_id = excluded.model_id, seen = excluded.seen, "
    "blob = excluded.blob, updated = excluded.updated";
static const char sql_head_get[] =
    "SELECT h.version, h.model_id, CASE WHEN h.version != $2 THEN h.blob END "
    "FROM heads h JOIN users u ON h.user_id = u.id WHERE u.key = $1";
/* Locks the user's row: a second host publishing for this user waits here
 * and then reads the marks the first wrote. */
static const char sql_marks[] =
    "SELECT refit_fb_gen, refit_seen FROM users WHERE id = $1 FOR UPDATE";
static const char sql_head_version[] = "SELECT version FROM heads WHERE user_id = $1";
static const char sql_head_put[] =
    "INSERT INTO heads(user_id, version, model_id, blob, updated) "
    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT(user_id) DO UPDATE SET "
    "version = excluded.version, model_id = excluded.model_id, "
    "blob = excluded.blob, updated = excluded.updated";
static const char sql_set_refit[] =
    "UPDATE users SET refit_fb_gen = $2, refit_seen = $3 WHERE id = $1";
static const char sql_refit_insert[] =
    "INSERT INTO refits(user_id, at, version, model_id, n_feedback, "
    "n_unlabelled, domain_auc, ess, cv_before, cv_after, ms) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
static const char sql_refit_max[] = "SELECT coalesce(max(id), 0) FROM refits";
static const char sql_refit_last[] =
    "SELECT r.version, r.at, r.n_feedback, r.n_unlabelled, r.domain_auc, "
    "r.ess, r.cv_before, r.cv_after, r.ms FROM refits r JOIN users u "
    "ON r.user_id = u.id WHERE u.key = $1 ORDER BY r.id DESC LIMIT 1";

static void
uid_digest(struct pq_args *a, int64_t uid, const uint8_t *digest)
{
    pq_i64(a, uid);
    pq_bin(a, digest, STORE_DIGEST_LEN);
}

int
pq_fb_get(struct store *s, int64_t uid, const uint8_t *digest, int *spam)
{
    struct pq_args a = { 0 };
    int64_t v = 0;
    int rc;

    uid_digest(&a, uid, digest);
    rc = pq_int1(s, sql_fb_get, &a, "read feedback", &v);
    *spam = (int)v;
    return rc;
}

int
pq_fb_write(struct store *s, int64_t uid, const uint8_t *digest, int spam, size_t n,
            const void *ids, size_t ids_len, int64_t updated, int move)
{
    struct pq_args a = { 0 };

    uid_digest(&a, uid, digest);
    pq_i64(&a, spam);
    pq_i64(&a, (int64_t)n);
    pq_bin(&a, ids, ids_len);
    pq_i64(&a, updated);
    return pq_do(s, move ? sql_fb_move : sql_fb_insert, &a, "write feedback", NULL);
}

int
pq_fb_delete(struct store *s, int64_t uid, const uint8_t *digest, int *changed)
{
    struct pq_args a = { 0 };
    uint64_t n = 0;
    int rc;

    uid_digest(&a, uid, digest);
    rc = pq_do(s, sql_fb_delete, &a, "forget feedback", &n);
    *changed = n > 0;
    return rc;
}

int
pq_fb_quota(struct store *s, int64_t uid, uint32_t keep, const uint8_t *digest,
            uint64_t *dropped)
{
    struct pq_args a = { 0 };

    *dropped = 0;
    if (uid < 0) {
        pq_i64(&a, keep);
        return pq_do(s, sql_fb_quota_all, &a, "apply feedback quota", dropped);
    }
    pq_i64(&a, uid);
    pq_i64(&a, keep);
    pq_bin(&a, digest, STORE_DIGEST_LEN);
    return pq_do(s, sql_fb_quota, &a, "apply feedback quota", dropped);
}

int
pq_res_has(struct store *s, int64_t uid, const uint8_t *digest)
{
    struct pq_args a = { 0 };
    int64_t one;

    uid_digest(&a, uid, digest);
    return pq_int1(s, sql_res_has, &a, "read reservoir", &one);
}

int
pq_res_seen(struct store *s, int64_t uid, const uint8_t *digest, int64_t *seen)
{
    struct pq_args a = { 0 };

    uid_digest(&a, uid, digest);
    return pq_int1(s, sql_res_seen, &a, "offer sample", seen);
}

int
pq_res_put(struct store *s, int64_t uid, int64_t slot, const uint8_t *digest, size_t n,
           const void *ids, size_t ids_len, int64_t added)
{
    struct pq_args a = { 0 };

    pq_i64(&a, uid);
    pq_i64(&a, slot);
    pq_bin(&a, digest, STORE_DIGEST_LEN);
    pq_i64(&a, (int64_t)n);
    pq_bin(&a, ids, ids_len);
    pq_i64(&a, added);
    return pq_do(s, sql_res_put, &a, "write sample", NULL);
}

int
pq_res_trim(struct store *s, uint32_t size)
{
    struct pq_args a = { 0 };

    pq_i64(&a, size);
    return pq_do(s, sql_res_trim, &a, "shrink reservoir", NULL);
}

int
pq_samples(struct store *s, enum store_kind kind, const char *key, const char *model_id,
           struct store_samples *out)
{
    struct store_samples_build b = { .out = out };
    struct pq_args a = { 0 };
    PGresult *r;
    int rc;

    pq_text(&a, key);
    pq_text(&a, model_id);
    r = pq_run(s, kind == STORE_FEEDBACK ? sql_fb_list : sql_res_list, &a,
               "read samples", &rc);
    if (r == NULL)
        return rc;
    for (int i = 0; rc == STORE_OK && i < PQntuples(r); i++)
        rc = store_samples_push(s, &b, key, PQgetvalue(r, i, 0),
                                (size_t)PQgetlength(r, i, 0), (int)pq_int(r, i, 1),
                                pq_int(r, i, 2), PQgetvalue(r, i, 3),
                                (size_t)PQgetlength(r, i, 3),
                                pq_isnull(r, i, 4) ? NULL : PQgetvalue(r, i, 4),
                                (size_t)PQgetlength(r, i, 4));
    PQclear(r);
    if (rc == STORE_OK)
        store_samples_done(&b);
    return rc;
}

/* Representations are held back (pq_batch_add) and written by one UPDATE per
 * up to PQ_BATCH_ROWS rows, before the next other statement: a statement a
 * row (200 a refitted user) was most of adapt --all's time
 * (bench/results/pg-2026-12-07.md). */
static const struct store_table rep_tables[2] = {
    { "feedback", 4, 0, { { "user_id", STORE_COL_INT }, { "digest", STORE_COL_BLOB },
                          { "rep", STORE_COL_BLOB }, { "rep_model", STORE_COL_TEXT } } },
    { "reservoir", 4, 0, { { "user_id", STORE_COL_INT }, { "digest", STORE_COL_BLOB },
                           { "rep", STORE_COL_BLOB }, { "rep_model", STORE_COL_TEXT } } },
};

/* "UPDATE t AS r SET rep = v.rep, rep_model = v.m FROM (VALUES ($1::bigint,
 * $2::bytea, $3::bytea, $4::text), ($5, ...)...) AS v(u, d, rep, m) WHERE
 * r.user_id = v.u AND r.digest = v.d" */
static int
rep_flush(struct store *s)
{
    struct pq_batch *b = ((struct pq_conn *)s->conn)->batch;
    size_t len = 256 + (size_t)b->nrows * 48, off;
    char *sql = malloc(len);
    int rc;

    if (sql != NULL) {
        off = (size_t)snprintf(sql, len, "UPDATE %s AS r SET rep = v.rep, rep_model = v.m "
                               "FROM (VALUES ", b->t->name);
        for (int i = 0; i < b->nrows; i++)
            off += (size_t)snprintf(sql + off, len - off,
                                    i == 0 ? "($%d::bigint, $%d::bytea, $%d::bytea, $%d::text)"
                                           : ", ($%d, $%d, $%d, $%d)",
                                    4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4);
        snprintf(sql + off, len - off, ") AS v(u, d, rep, m) "
                 "WHERE r.user_id = v.u AND r.digest = v.d");
    }
    rc = pq_batch_send(s, sql, "cache representation");
    free(sql);
    return rc;
}

int
pq_rep_put(struct store *s, enum store_kind kind, int64_t uid, const uint8_t *digest,
           const void *rep, size_t len, const char *model_id)
{
    struct store_value v[4] = { { 0 } };

    v[0].i = uid;
    v[1].p = digest;
    v[1].len = STORE_DIGEST_LEN;
    v[2].p = rep;
    v[2].len = len;
    v[3].p = model_id;
    return pq_batch_add(s, &rep_tables[kind == STORE_FEEDBACK ? 0 : 1], v, rep_flush);
}

int
pq_fc_get(struct store *s, const char *key, char *mid, size_t midlen, uint64_t *seen,
          void **blob, size_t *len)
{
    struct pq_args a = { 0 };
    PGresult *r;
    int rc;

    pq_text(&a, key);
    if ((r = pq_run(s, sql_fc_get, &a, "read fit cache", &rc)) == NULL)
        return rc;
    rc = PQntuples(r) > 0 ? STORE_OK : STORE_NOTFOUND;
    if (rc == STORE_OK) {
        snprintf(mid, midlen, "%s", PQgetvalue(r, 0, 0));
        *seen = (uint64_t)pq_int(r, 0, 1);
        if (pq_blob_copy(r, 0, 2, blob, len) != 0)
            rc = store_fail(s, STORE_ERR, "out of memory reading fit cache");
    }
    PQclear(r);
    return rc;
}

int
pq_fc_put(struct store *s, int64_t uid, const char *model_id, uint64_t seen,
          const void *blob, size_t len, int64_t updated)
{
    struct pq_args a = { 0 };

    pq_i64(&a, uid);
    pq_text(&a, model_id);
    pq_i64(&a, (int64_t)seen);
    pq_bin(&a, blob, len);
    pq_i64(&a, updated);
    return pq_do(s, sql_fc_put, &a, "write fit cache", NULL);
}

int
pq_head_get(struct store *s, const char *key, char *mid, size_t midlen, uint64_t have,
            void **blob, size_t *len, uint64_t *version)
{
    struct pq_args a = { 0 };
    PGresult *r;
    int rc;

    pq_text(&a, key);
    pq_i64(&a, (int64_t)have);
    if ((r = pq_run(s, sql_head_get, &a, "read head", &rc)) == NULL)
        return rc;
    rc = PQntuples(r) > 0 ? STORE_OK : STORE_NOTFOUND;
    if (rc == STORE_OK) {
        *version = (uint64_t)pq_int(r, 0, 0);
        snprintf(mid, midlen, "%s", PQgetvalue(r, 0, 1));
        if (*version != have && pq_blob_copy(r, 0, 2, blob, len) != 0)
            rc = store_fail(s, STORE_ERR, "out of memory reading head");
    }
    PQclear(r);
    return rc;
}

int
pq_head_marks(struct store *s, int64_t uid, int64_t *fb_gen, int64_t *seen,
              int64_t *version)
{
    struct pq_args a = { 0 };
    PGresult *r;
    int rc;

    pq_i64(&a, uid);
    if ((r = pq_run(s, sql_marks, &a, "read refit marks", &rc)) == NULL)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return STORE_NOTFOUND;
    }
    *fb_gen = pq_int(r, 0, 0);
    *seen = pq_int(r, 0, 1);
    PQclear(r);
    /* A statement of its own after the lock: it sees the head the previous
     * lock holder committed. */
    rc = pq_int1(s, sql_head_version, &a, "read head version", version);
    if (rc == STORE_NOTFOUND)
        *version = 0;
    return rc < 0 ? rc : STORE_OK;
}

int
pq_head_put(struct store *s, int64_t uid, int64_t version, const char *model_id,
            const void *blob, size_t len, const struct store_user_state *from,
            const struct store_refit *rec, int64_t at)
{
    struct pq_args a = { 0 }, m = { 0 }, f = { 0 };
    int rc;

    pq_i64(&a, uid);
    pq_i64(&a, version);
    pq_text(&a, model_id);
    pq_bin(&a, blob, len);
    pq_i64(&a, at);
    if ((rc = pq_do(s, sql_head_put, &a, "write head", NULL)) != STORE_OK)
        return rc;
    pq_i64(&m, uid);
    pq_i64(&m, (int64_t)from->fb_gen);
    pq_i64(&m, (int64_t)from->seen);
    if ((rc = pq_do(s, sql_set_refit, &m, "write refit marks", NULL)) != STORE_OK)
        return rc;
    pq_i64(&f, uid);
    pq_i64(&f, at);
    pq_i64(&f, version);
    pq_text(&f, model_id);
    pq_i64(&f, rec != NULL ? rec->n_feedback : 0);
    pq_i64(&f, rec != NULL ? rec->n_unlabelled : 0);
    if (rec != NULL) {
        pq_f64(&f, rec->domain_auc);
        pq_f64(&f, rec->ess);
        pq_f64(&f, rec->cv_err_before);
        pq_f64(&f, rec->cv_err_after);
        pq_f64(&f, rec->ms);
    } else
        for (int i = 0; i < 5; i++)
            pq_text(&f, NULL);
    return pq_do(s, sql_refit_insert, &f, "write refit record", NULL);
}

int
pq_refit_last(struct store *s, const char *key, struct store_refit *rec,
              uint64_t *version, int64_t *at)
{
    struct pq_args a = { 0 };
    PGresult *r;
    int rc;

    pq_text(&a, key);
    if ((r = pq_run(s, sql_refit_last, &a, "read refit log", &rc)) == NULL)
        return rc;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return STORE_NOTFOUND;
    }
    *version = (uint64_t)pq_int(r, 0, 0);
    *at = pq_int(r, 0, 1);
    rec->n_feedback = (uint32_t)pq_int(r, 0, 2);
    rec->n_unlabelled = (uint32_t)pq_int(r, 0, 3);
    rec->domain_auc = pq_dbl(r, 0, 4);
    rec->ess = pq_dbl(r, 0, 5);
    rec->cv_err_before = pq_dbl(r, 0, 6);
    rec->cv_err_after = pq_dbl(r, 0, 7);
    rec->ms = pq_dbl(r, 0, 8);
    PQclear(r);
    return STORE_OK;
}

int
pq_refit_max(struct store *s, int64_t *max)
{
    int rc = pq_int1(s, sql_refit_max, NULL, "read refit log", max);

    return rc == STORE_NOTFOUND ? store_fail(s, STORE_ERR, "read refit log: no row") : rc;
}
