/*
 * store_sqlite_scans.c - the SQLite store's scan records (the day's counters,
 * the per-message records), the statistics' aggregate queries and the
 * overview.
 */
#include "config.h"

#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "store_be.h"
#include "store_sqlite.h"

static const char sql_day_get[] = "SELECT hist FROM scan_days WHERE user_id = ?1 AND day = ?2";
static const char sql_day_put[] =
    "INSERT INTO scan_days(user_id, day, scanned, tagged, quarantined, rejected,"
    " skipped, errors, ms_sum, hist) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    " ON CONFLICT(user_id, day) DO UPDATE SET scanned = scanned + excluded.scanned,"
    " tagged = tagged + excluded.tagged, quarantined = quarantined + excluded.quarantined,"
    " rejected = rejected + excluded.rejected, skipped = skipped + excluded.skipped,"
    " errors = errors + excluded.errors, ms_sum = ms_sum + excluded.ms_sum,"
    " hist = excluded.hist";
static const char sql_scan_put[] =
    "INSERT OR REPLACE INTO scans(user_id, digest, at, score, verdict)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char sql_expire[] = "DELETE FROM scans WHERE at < ?1";

/* The statistics, one query per store_stats_kind, in that order; ?1 the user
 * key (NULL: all), ?2 since. */
static const char *const sql_stats[] = {
    "SELECT id, key FROM users WHERE ?1 IS NULL OR key = ?1 ORDER BY id",
    "SELECT user_id, scanned, tagged, quarantined, rejected, skipped, errors, ms_sum,"
    " hist FROM scan_days WHERE day >= ?2 - ?2 % 86400"
    " AND (?1 IS NULL OR user_id = (SELECT id FROM users WHERE key = ?1))",
    "SELECT user_id, spam, count(*), sum(updated >= ?2) FROM feedback"
    " WHERE ?1 IS NULL OR user_id = (SELECT id FROM users WHERE key = ?1)"
    " GROUP BY user_id, spam",
    "SELECT f.user_id, f.spam, count(*), sum(f.spam = 0 AND s.verdict IN (1, 2, 3)),"
    " sum(f.spam = 1 AND s.verdict = 0) FROM feedback f JOIN scans s"
    " ON s.user_id = f.user_id AND s.digest = f.digest WHERE f.updated >= ?2"
    " AND (?1 IS NULL OR f.user_id = (SELECT id FROM users WHERE key = ?1))"
    " GROUP BY f.user_id, f.spam",
    "SELECT user_id, count(*) FROM refits WHERE at >= ?2"
    " AND (?1 IS NULL OR user_id = (SELECT id FROM users WHERE key = ?1))"
    " GROUP BY user_id",
    "SELECT user_id, version, at, n_feedback, n_unlabelled, domain_auc, ess,"
    " cv_before, cv_after, ms FROM refits WHERE id IN (SELECT max(id) FROM refits"
    " WHERE ?1 IS NULL OR user_id = (SELECT id FROM users WHERE key = ?1)"
    " GROUP BY user_id)",
};

static const char sql_overview[] =
    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM feedback),"
    " (SELECT count(*) FROM scans), (SELECT count(*) FROM refits WHERE at >= ?1),"
    " coalesce((SELECT min(at) FROM scans), 0),"
    " coalesce((SELECT min(day) FROM scan_days), 0),"
    " (SELECT page_count FROM pragma_page_count) - (SELECT freelist_count FROM"
    " pragma_freelist_count), (SELECT page_size FROM pragma_page_size)";

int
sq_scan_day_hist(struct store *s, int64_t uid, int64_t day, uint8_t *hist, size_t len)
{
    sqlite3_stmt *st = sq_stmt(s, sql_day_get);
    int rc;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, day);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *b = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);

        memset(hist, 0, len);
        if (b != NULL)
            memcpy(hist, b, n < len ? n : len);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return STORE_OK;
    return rc == SQLITE_DONE ? STORE_NOTFOUND : sq_fail_db(s, rc, "read scan counters");
}

int
sq_scan_day_add(struct store *s, int64_t uid, int64_t day, const struct store_scan_day *d)
{
    sqlite3_stmt *st = sq_stmt(s, sql_day_put);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, day);
    sqlite3_bind_int(st, 3, d->scanned);
    sqlite3_bind_int(st, 4, d->tagged);
    sqlite3_bind_int(st, 5, d->quarantined);
    sqlite3_bind_int(st, 6, d->rejected);
    sqlite3_bind_int(st, 7, d->skipped);
    sqlite3_bind_int(st, 8, d->errors);
    sqlite3_bind_double(st, 9, d->ms);
    sqlite3_bind_blob(st, 10, d->hist, 4 * STORE_SCAN_HIST, SQLITE_TRANSIENT);
    return sq_step_done(s, st, "write scan counters");
}

int
sq_scan_put(struct store *s, int64_t uid, const uint8_t *digest, int64_t at, double score,
            int verdict)
{
    sqlite3_stmt *st = sq_stmt(s, sql_scan_put);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_blob(st, 2, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, at);
    sqlite3_bind_double(st, 4, score);
    sqlite3_bind_int(st, 5, verdict);
    return sq_step_done(s, st, "write scan record");
}

int
sq_scan_expire(struct store *s, int64_t before)
{
    sqlite3_stmt *st = sq_stmt(s, sql_expire);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, before);
    return sq_step_done(s, st, "expire scan records");
}

/* The current row of the kind-th statistics query as a store_stats_row. */
static void
stats_row(sqlite3_stmt *st, enum store_stats_kind kind, struct store_stats_row *r)
{
    int ncol = sqlite3_column_count(st);

    memset(r, 0, sizeof(*r));
    r->kind = kind;
    r->uid = sqlite3_column_int64(st, 0);
    switch (kind) {
    case STORE_STATS_USER:
        r->key = (const char *)sqlite3_column_text(st, 1);
        break;
    case STORE_STATS_DAY:
        for (int c = 0; c < 6; c++)
            r->i[c] = sqlite3_column_int64(st, 1 + c);
        r->d[0] = sqlite3_column_double(st, 7);
        r->blob = sqlite3_column_blob(st, 8);
        r->blob_len = (size_t)sqlite3_column_bytes(st, 8);
        break;
    case STORE_STATS_LAST:
        for (int c = 0; c < 4; c++)
            r->i[c] = sqlite3_column_int64(st, 1 + c);
        for (int c = 0; c < 5; c++)
            r->d[c] = sqlite3_column_double(st, 5 + c);
        /* no cross-validation: -1 (store.h) */
        for (int c = 2; c < 4; c++)
            if (sqlite3_column_type(st, 5 + c) == SQLITE_NULL)
                r->d[c] = -1;
        break;
    default:
        for (int c = 1; c < ncol && c <= 6; c++)
            r->i[c - 1] = sqlite3_column_int64(st, c);
    }
}

int
sq_stats(struct store *s, const char *key, int64_t since, struct store_stats_acc *acc)
{
    struct store_stats_row row;
    int rc = STORE_OK, r = SQLITE_DONE;

    for (size_t k = 0; k < sizeof(sql_stats) / sizeof(sql_stats[0]) && rc == STORE_OK; k++) {
        sqlite3_stmt *st = sq_stmt(s, sql_stats[k]);

        if (st == NULL)
            return STORE_ERR;
        if (key != NULL)
            sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (k > 0)
            sqlite3_bind_int64(st, 2, since);
        while (rc == STORE_OK && (r = sqlite3_step(st)) == SQLITE_ROW) {
            stats_row(st, (enum store_stats_kind)k, &row);
            rc = store_stats_add(s, acc, &row);
        }
        sqlite3_reset(st);
        if (rc == STORE_OK && r != SQLITE_DONE)
            rc = sq_fail_db(s, r, "read statistics");
    }
    return rc;
}

int
sq_overview(struct store *s, int64_t since, struct store_overview *o)
{
    sqlite3_stmt *st = sq_stmt(s, sql_overview);
    int rc;

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, since);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        o->users = (uint64_t)sqlite3_column_int64(st, 0);
        o->feedback = (uint64_t)sqlite3_column_int64(st, 1);
        o->scan_records = (uint64_t)sqlite3_column_int64(st, 2);
        o->refits_since = (uint64_t)sqlite3_column_int64(st, 3);
        o->oldest_scan = sqlite3_column_int64(st, 4);
        o->oldest_day = sqlite3_column_int64(st, 5);
        o->bytes = sqlite3_column_int64(st, 6) * sqlite3_column_int64(st, 7);
        rc = STORE_OK;
    } else
        rc = sq_fail_db(s, rc, "read overview");
    sqlite3_reset(st);
    return rc;
}
