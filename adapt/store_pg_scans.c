/*
 * store_pg_scans.c - the PostgreSQL store's scan records (the day's
 * counters, the per-message records), the statistics' aggregate queries, the
 * overview and the soundness check.
 */
#include "config.h"

#include <string.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_be.h"
#include "store_pg.h"

/* FOR UPDATE: the histogram is read, added to and written back; two hosts
 * recording for one user on one day take turns. */
static const char sql_day_get[] =
    "SELECT hist FROM scan_days WHERE user_id = $1 AND day = $2 FOR UPDATE";
static const char sql_day_put[] =
    "INSERT INTO scan_days(user_id, day, scanned, tagged, quarantined, rejected,"
    " skipped, errors, ms_sum, hist) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    " ON CONFLICT(user_id, day) DO UPDATE SET scanned = scan_days.scanned + excluded.scanned,"
    " tagged = scan_days.tagged + excluded.tagged,"
    " quarantined = scan_days.quarantined + excluded.quarantined,"
    " rejected = scan_days.rejected + excluded.rejected,"
    " skipped = scan_days.skipped + excluded.skipped,"
    " errors = scan_days.errors + excluded.errors,"
    " ms_sum = scan_days.ms_sum + excluded.ms_sum, hist = excluded.hist";
static const char sql_scan_put[] =
    "INSERT INTO scans(user_id, digest, at, score, verdict) VALUES ($1, $2, $3, $4, $5)"
    " ON CONFLICT(user_id, digest) DO UPDATE SET at = excluded.at,"
    " score = excluded.score, verdict = excluded.verdict";
static const char sql_expire[] = "DELETE FROM scans WHERE at < $1";

/* One query per store_stats_kind, in that order; $1 the user key (NULL: all),
 * $2 since.  Sums are cast back to bigint (PostgreSQL sums bigints as numeric). */
static const char *const sql_stats[] = {
    "SELECT id, key FROM users WHERE $1::text IS NULL OR key = $1::text ORDER BY id",
    "SELECT user_id, scanned, tagged, quarantined, rejected, skipped, errors, ms_sum,"
    " hist FROM scan_days WHERE day >= $2::bigint - $2::bigint % 86400"
    " AND ($1::text IS NULL OR user_id = (SELECT id FROM users WHERE key = $1::text))",
    "SELECT user_id, spam, count(*), sum((updated >= $2::bigint)::int)::bigint FROM feedback"
    " WHERE $1::text IS NULL OR user_id = (SELECT id FROM users WHERE key = $1::text)"
    " GROUP BY user_id, spam",
    "SELECT f.user_id, f.spam, count(*),"
    " sum((f.spam = 0 AND s.verdict IN (1, 2, 3))::int)::bigint,"
    " sum((f.spam = 1 AND s.verdict = 0)::int)::bigint FROM feedback f JOIN scans s"
    " ON s.user_id = f.user_id AND s.digest = f.digest WHERE f.updated >= $2::bigint"
    " AND ($1::text IS NULL OR f.user_id = (SELECT id FROM users WHERE key = $1::text))"
    " GROUP BY f.user_id, f.spam",
    "SELECT user_id, count(*) FROM refits WHERE at >= $2::bigint"
    " AND ($1::text IS NULL OR user_id = (SELECT id FROM users WHERE key = $1::text))"
    " GROUP BY user_id",
    "SELECT user_id, version, at, n_feedback, n_unlabelled, domain_auc, ess,"
    " cv_before, cv_after, ms FROM refits WHERE id IN (SELECT max(id) FROM refits"
    " WHERE $1::text IS NULL OR user_id = (SELECT id FROM users WHERE key = $1::text)"
    " GROUP BY user_id) AND $2::bigint IS NOT NULL",
};

static const char sql_overview[] =
    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM feedback),"
    " (SELECT count(*) FROM scans), (SELECT count(*) FROM refits WHERE at >= $1),"
    " coalesce((SELECT min(at) FROM scans), 0),"
    " coalesce((SELECT min(day) FROM scan_days), 0),"
    " pg_database_size(current_database())";

int
pq_scan_day_hist(struct store *s, int64_t uid, int64_t day, uint8_t *hist, size_t len)
{
    struct pq_args a = { 0 };
    PGresult *r;
    int rc;

    pq_i64(&a, uid);
    pq_i64(&a, day);
    if ((r = pq_run(s, sql_day_get, &a, "read scan counters", &rc)) == NULL)
        return rc;
    rc = PQntuples(r) > 0 ? STORE_OK : STORE_NOTFOUND;
    if (rc == STORE_OK) {
        size_t n = (size_t)PQgetlength(r, 0, 0);

        memset(hist, 0, len);
        memcpy(hist, PQgetvalue(r, 0, 0), n < len ? n : len);
    }
    PQclear(r);
    return rc;
}

int
pq_scan_day_add(struct store *s, int64_t uid, int64_t day, const struct store_scan_day *d)
{
    struct pq_args a = { 0 };

    pq_i64(&a, uid);
    pq_i64(&a, day);
    pq_i64(&a, d->scanned);
    pq_i64(&a, d->tagged);
    pq_i64(&a, d->quarantined);
    pq_i64(&a, d->rejected);
    pq_i64(&a, d->skipped);
    pq_i64(&a, d->errors);
    pq_f64(&a, d->ms);
    pq_bin(&a, d->hist, 4 * STORE_SCAN_HIST);
    return pq_do(s, sql_day_put, &a, "write scan counters", NULL);
}

int
pq_scan_put(struct store *s, int64_t uid, const uint8_t *digest, int64_t at, double score,
            int verdict)
{
    struct pq_args a = { 0 };

    pq_i64(&a, uid);
    pq_bin(&a, digest, STORE_DIGEST_LEN);
    pq_i64(&a, at);
    pq_f64(&a, score);
    pq_i64(&a, verdict);
    return pq_do(s, sql_scan_put, &a, "write scan record", NULL);
}

int
pq_scan_expire(struct store *s, int64_t before)
{
    struct pq_args a = { 0 };

    pq_i64(&a, before);
    return pq_do(s, sql_expire, &a, "expire scan records", NULL);
}

/* Row i of the kind-th statistics query as a store_stats_row. */
static void
stats_row(const PGresult *r, int i, enum store_stats_kind kind, struct store_stats_row *row)
{
    int ncol = PQnfields(r);

    memset(row, 0, sizeof(*row));
    row->kind = kind;
    row->uid = pq_int(r, i, 0);
    switch (kind) {
    case STORE_STATS_USER:
        row->key = PQgetvalue(r, i, 1);
        break;
    case STORE_STATS_DAY:
        for (int c = 0; c < 6; c++)
            row->i[c] = pq_int(r, i, 1 + c);
        row->d[0] = pq_dbl(r, i, 7);
        row->blob = PQgetvalue(r, i, 8);
        row->blob_len = (size_t)PQgetlength(r, i, 8);
        break;
    case STORE_STATS_LAST:
        for (int c = 0; c < 4; c++)
            row->i[c] = pq_int(r, i, 1 + c);
        for (int c = 0; c < 5; c++)
            row->d[c] = pq_dbl(r, i, 5 + c);
        for (int c = 2; c < 4; c++)             /* no cross-validation: -1 (store.h) */
            if (pq_isnull(r, i, 5 + c))
                row->d[c] = -1;
        break;
    default:
        for (int c = 1; c < ncol && c <= 6; c++)
            row->i[c - 1] = pq_int(r, i, c);
    }
}

int
pq_stats(struct store *s, const char *key, int64_t since, struct store_stats_acc *acc)
{
    struct store_stats_row row;
    int rc = STORE_OK;

    for (size_t k = 0; k < sizeof(sql_stats) / sizeof(sql_stats[0]) && rc == STORE_OK; k++) {
        struct pq_args a = { 0 };
        PGresult *r;

        pq_text(&a, key);
        if (k > 0)
            pq_i64(&a, since);
        if ((r = pq_run(s, sql_stats[k], &a, "read statistics", &rc)) == NULL)
            return rc;
        for (int i = 0; rc == STORE_OK && i < PQntuples(r); i++) {
            stats_row(r, i, (enum store_stats_kind)k, &row);
            rc = store_stats_add(s, acc, &row);
        }
        PQclear(r);
    }
    return rc;
}

int
pq_overview(struct store *s, int64_t since, struct store_overview *o)
{
    struct pq_args a = { 0 };
    PGresult *r;
    int rc;

    pq_i64(&a, since);
    if ((r = pq_run(s, sql_overview, &a, "read overview", &rc)) == NULL)
        return rc;
    if (PQntuples(r) == 1) {
        o->users = (uint64_t)pq_int(r, 0, 0);
        o->feedback = (uint64_t)pq_int(r, 0, 1);
        o->scan_records = (uint64_t)pq_int(r, 0, 2);
        o->refits_since = (uint64_t)pq_int(r, 0, 3);
        o->oldest_scan = pq_int(r, 0, 4);
        o->oldest_day = pq_int(r, 0, 5);
        o->bytes = pq_int(r, 0, 6);
    } else
        rc = store_fail(s, STORE_ERR, "%s: read overview: no row", s->name);
    PQclear(r);
    return rc;
}

/* The server keeps its own pages sound (checksums, WAL); what is checked here
 * is that every table of the schema is there and readable. */
int
pq_check(struct store *s)
{
    static const char *const tables[] = {
        "meta", "users", "feedback", "heads", "reservoir", "refits", "counters",
        "scans", "scan_days", "fitcache", "senderlists",
    };
    int rc = STORE_OK;

    for (size_t i = 0; rc == STORE_OK && i < sizeof(tables) / sizeof(tables[0]); i++) {
        struct pq_args a = { 0 };
        int64_t v;

        pq_text(&a, tables[i]);
        rc = pq_int1(s, "SELECT to_regclass($1) IS NOT NULL", &a, "integrity check", &v);
        if (rc == STORE_OK && !v)
            rc = store_fail(s, STORE_ERR, "%s: integrity check: table %s is missing",
                            s->name, tables[i]);
    }
    return rc;
}
