/*
 * store_pg_scans.c - the PostgreSQL store's scan records (the day's
 * counters, the per-message records), the statistics' aggregate queries, the
 * overview and the soundness check.
 */
#include "config.h"

#include <inttypes.h>
#include <string.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_be.h"
#include "store_pg.h"

/*
 * users.scans (schema 3) is the user's count of scan records, what the
 * overview's count(*) of scans was (50-60 ms of server CPU over 1M records,
 * bench/results/pg-stats-2026-12-07-schema3.md): every statement that adds or
 * deletes scan records changes it in the same statement, so it is exact by
 * construction.  A record is new when its INSERT inserted it (xmax 0: the row
 * an ON CONFLICT update leaves carries the updating transaction's id, the
 * usual way to tell the two apart; test_store_conf's message scanned again
 * and store check would see it change); a new record adds 1 to its user's
 * row, the row the writer's batch locks anyway for the offer's seen bump
 * (sql_res_seen: no other row locked, no other lock order), and an update
 * (the same message scanned again) adds nothing.  `store copy` into PostgreSQL recounts (pq_ids_sync),
 * and pq_check compares it with the rows.  Not SQLite's: its count(*) reads
 * the b-tree's cell counts (13 ms), and its schema is unchanged.
 */
#define SCAN_NEW "xmax = 0 AS new"
#define SCAN_COUNT \
    " counted AS (UPDATE users SET scans = scans + 1 WHERE id = $1" \
    "  AND EXISTS (SELECT 1 FROM rec WHERE new))"

/* FOR UPDATE: the histogram is read, added to and written back; two hosts
 * recording for one user on one day take turns. */
static const char sql_day_get[] =
    "SELECT hist FROM scan_days WHERE user_id = $1 AND day = $2 FOR UPDATE";
/* The day's row inserted or its counts added to; the histogram follows. */
#define DAY_UPSERT \
    "INSERT INTO scan_days(user_id, day, scanned, tagged, quarantined, rejected," \
    " skipped, errors, ms_sum, hist) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)" \
    " ON CONFLICT(user_id, day) DO UPDATE SET scanned = scan_days.scanned + excluded.scanned," \
    " tagged = scan_days.tagged + excluded.tagged," \
    " quarantined = scan_days.quarantined + excluded.quarantined," \
    " rejected = scan_days.rejected + excluded.rejected," \
    " skipped = scan_days.skipped + excluded.skipped," \
    " errors = scan_days.errors + excluded.errors," \
    " ms_sum = scan_days.ms_sum + excluded.ms_sum,"
static const char sql_day_put[] = DAY_UPSERT " hist = excluded.hist";
/* sql_day_put with the histogram's bucket $11 (-1: none) added to the row's
 * on the server: one statement, no read before (the row is locked by the
 * upsert itself).  The row's histogram is read as the front reads it
 * (store_hist_read: zeros past its end, $12 its bytes), the bucket a
 * little-endian uint32 at 4 * $11, wrapping as the front's uint32 does.
 * Bitwise operators bind alike and from the left in SQL: hence the brackets.
 * The scan record ($13 the digest, NULL: none; $14-$16) as sql_scan_put, in
 * the same statement (the two tables' rows do not depend on each other). */
static const char sql_day_bump[] =
    "WITH rec AS (INSERT INTO scans(user_id, digest, at, score, verdict)"
    "  SELECT $1, $13::bytea, $14::bigint, $15::double precision, $16::integer"
    "  WHERE $13::bytea IS NOT NULL ON CONFLICT(user_id, digest) DO UPDATE SET"
    "  at = excluded.at, score = excluded.score, verdict = excluded.verdict"
    "  RETURNING " SCAN_NEW ")," SCAN_COUNT
    " " DAY_UPSERT
    " hist = (SELECT CASE WHEN $11::int < 0 THEN h ELSE"
    "   set_byte(set_byte(set_byte(set_byte(h, o, (v & 255)::int),"
    "   o + 1, ((v >> 8) & 255)::int), o + 2, ((v >> 16) & 255)::int),"
    "   o + 3, ((v >> 24) & 255)::int) END"
    "  FROM (SELECT h, o, ((get_byte(h, o)::bigint | (get_byte(h, o + 1)::bigint << 8)"
    "     | (get_byte(h, o + 2)::bigint << 16) | (get_byte(h, o + 3)::bigint << 24)) + 1)"
    "     & 4294967295 AS v"
    "   FROM (SELECT substring(coalesce(scan_days.hist, ''::bytea)"
    "      || decode(repeat('00', $12::int), 'hex') from 1 for $12::int) AS h,"
    "     4 * greatest($11::int, 0) AS o) n) m)";
static const char sql_scan_put[] =
    "WITH rec AS (INSERT INTO scans(user_id, digest, at, score, verdict)"
    " VALUES ($1, $2, $3, $4, $5) ON CONFLICT(user_id, digest) DO UPDATE SET at = excluded.at,"
    " score = excluded.score, verdict = excluded.verdict RETURNING " SCAN_NEW "),"
    SCAN_COUNT " SELECT 1";
/* Each user's count less its records deleted.  The users' rows are locked in
 * no set order: a deadlock with another host's writer batch fails one of the
 * two as STORE_BUSY, as a lock held past busy_ms does. */
static const char sql_expire[] =
    "WITH gone AS (DELETE FROM scans WHERE at < $1 RETURNING user_id)"
    " UPDATE users u SET scans = u.scans - g.n FROM (SELECT user_id, count(*) AS n"
    " FROM gone GROUP BY user_id) g WHERE u.id = g.user_id";

/*
 * The statistics' aggregate queries: $1 the user key (NULL: all), $2 since.
 * Sums of bigints are cast back to bigint (PostgreSQL sums them as numeric).
 * Not SQLite's one query per store_stats_kind: over 10,000 users and 1M scan
 * records (bench/store/pg.sh, bench/results/pg-stats-2026-12-07.md) these
 * shapes cost the server a third of the CPU:
 *  - the day rows are summed per user on the server (70,000 rows sent as
 *    10,000); each user's histograms come concatenated, each one after its
 *    length (4 bytes, big-endian), for the front to add (stats_day_rows);
 *  - the feedback counts and their match to scan records are one pass over
 *    feedback, each recent row looking up its scan record by the primary key
 *    (sql_stats_match: the planner's own choice, a hash join over every scan
 *    record, cost 320 ms of CPU; the lookups 95 ms, split between the
 *    backend and its parallel workers);
 *  - the last refit by DISTINCT ON, not id IN (SELECT max(id) ...): half the
 *    CPU.
 */
static const char sql_stats_users[] =
    "SELECT id, key FROM users WHERE $1::text IS NULL OR key = $1::text ORDER BY id";
static const char sql_stats_days[] =
    "SELECT user_id, sum(scanned)::bigint, sum(tagged)::bigint,"
    " sum(quarantined)::bigint, sum(rejected)::bigint, sum(skipped)::bigint,"
    " sum(errors)::bigint, sum(ms_sum), string_agg(int4send(length(hist)) || hist, ''::bytea)"
    " FROM scan_days WHERE day >= $2::bigint - $2::bigint % 86400"
    " AND ($1::text IS NULL OR user_id = (SELECT id FROM users WHERE key = $1::text))"
    " GROUP BY user_id";
/* user_id, spam, held, changed since, matched, fp, fn */
static const char sql_stats_feedback[] =
    "SELECT f.user_id, f.spam, count(*), count(*) FILTER (WHERE f.updated >= $2::bigint),"
    " count(s.verdict), count(*) FILTER (WHERE f.spam = 0 AND s.verdict IN (1, 2, 3)),"
    " count(*) FILTER (WHERE f.spam = 1 AND s.verdict = 0) FROM feedback f"
    " LEFT JOIN scans s ON s.user_id = f.user_id AND s.digest = f.digest"
    " AND f.updated >= $2::bigint"
    " WHERE $1::text IS NULL OR f.user_id = (SELECT id FROM users WHERE key = $1::text)"
    " GROUP BY f.user_id, f.spam";
/* For the rest of the read snapshot (the feedback query comes last): the join
 * by primary-key lookups (a nested loop: no hash or merge join), its scan of
 * feedback shared with parallel workers however small the table, and no JIT
 * (compiling a plan of that estimate cost 35 ms, more than running it).  A
 * LATERAL (... LIMIT 1) lookup fixes the same plan without settings, but
 * PostgreSQL 15 runs it in the backend alone: 0.71 s against 0.58 s for the
 * whole stats (medians of 11, load 11). */
static const char sql_stats_match[] =
    "SELECT set_config('enable_hashjoin', 'off', true),"
    " set_config('enable_mergejoin', 'off', true),"
    " set_config('min_parallel_table_scan_size', '0', true), set_config('jit', 'off', true)";
static const char sql_stats_refits[] =
    "SELECT user_id, count(*) FROM refits WHERE at >= $2::bigint"
    " AND ($1::text IS NULL OR user_id = (SELECT id FROM users WHERE key = $1::text))"
    " GROUP BY user_id";
/* Each user's refit of the highest id (half the CPU of id IN (SELECT max(id) ...)) */
static const char sql_stats_last[] =
    "SELECT DISTINCT ON (user_id) user_id, version, at, n_feedback, n_unlabelled,"
    " domain_auc, ess, cv_before, cv_after, ms FROM refits"
    " WHERE ($1::text IS NULL OR user_id = (SELECT id FROM users WHERE key = $1::text))"
    " AND $2::bigint IS NOT NULL ORDER BY user_id, id DESC";

/* The queries in the order they run (users first: the front makes a user's
 * entry from its USER row), each with the kind of rows it gives and a
 * statement to run before it (NULL: none). */
static const struct {
    const char *sql;
    enum store_stats_kind kind;
    const char *before;
} stats_queries[] = {
    { sql_stats_users, STORE_STATS_USER, NULL },
    { sql_stats_days, STORE_STATS_DAY, NULL },
    { sql_stats_refits, STORE_STATS_REFITS, NULL },
    { sql_stats_last, STORE_STATS_LAST, NULL },
    { sql_stats_feedback, STORE_STATS_FEEDBACK, sql_stats_match },
};

static const char sql_overview[] =
    "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM feedback),"
    " coalesce((SELECT sum(scans) FROM users), 0)::bigint,"
    " (SELECT count(*) FROM refits WHERE at >= $1),"
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

/* sql_day_put's and sql_day_bump's $1-$10: the row's key, counts, histogram. */
static void
day_args(struct pq_args *a, int64_t uid, int64_t day, const struct store_scan_day *d)
{
    pq_i64(a, uid);
    pq_i64(a, day);
    pq_i64(a, d->scanned);
    pq_i64(a, d->tagged);
    pq_i64(a, d->quarantined);
    pq_i64(a, d->rejected);
    pq_i64(a, d->skipped);
    pq_i64(a, d->errors);
    pq_f64(a, d->ms);
    pq_bin(a, d->hist, 4 * STORE_SCAN_HIST);
}

int
pq_scan_day_add(struct store *s, int64_t uid, int64_t day, const struct store_scan_day *d)
{
    struct pq_args a = { 0 };

    day_args(&a, uid, day, d);
    return pq_do(s, sql_day_put, &a, "write scan counters", NULL);
}

int
pq_scan_day_bump(struct store *s, int64_t uid, int64_t day, const struct store_scan_day *d,
                 int bucket, const struct store_scan_rec *rec)
{
    struct pq_args a = { 0 };

    if (bucket >= STORE_SCAN_HIST)
        return store_fail(s, STORE_ERR, "scan-time bucket %d out of range", bucket);
    day_args(&a, uid, day, d);
    pq_i64(&a, bucket < 0 ? -1 : bucket);
    pq_i64(&a, 4 * STORE_SCAN_HIST);
    if (rec != NULL) {
        pq_bin(&a, rec->digest, STORE_DIGEST_LEN);
        pq_i64(&a, rec->at);
        pq_f64(&a, rec->score);
        pq_i64(&a, rec->verdict);
    } else
        for (int i = 0; i < 4; i++)
            pq_text(&a, NULL);
    return pq_do(s, sql_day_bump, &a, "write scan counters", NULL);
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

/* Row i of a statistics query of kind as a store_stats_row (STORE_STATS_DAY:
 * the sums, without the histograms; STORE_STATS_FEEDBACK: the held and
 * changed counts). */
static void
stats_row(const PGresult *r, int i, enum store_stats_kind kind, struct store_stats_row *row)
{
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
    case STORE_STATS_FEEDBACK:
        for (int c = 0; c < 3; c++)
            row->i[c] = pq_int(r, i, 1 + c);
        break;
    default:
        row->i[0] = pq_int(r, i, 1);
    }
}

/* A user's day sums (row), then each histogram of blob (len bytes: 4-byte
 * big-endian length, that many bytes, ...) as a day row of its own with no
 * counts, for the front to add. */
static int
stats_day_rows(struct store *s, struct store_stats_acc *acc, struct store_stats_row *row,
               const unsigned char *blob, size_t len)
{
    int rc = store_stats_add(s, acc, row);

    memset(row->i, 0, sizeof(row->i));
    row->d[0] = 0;
    while (rc == STORE_OK && len >= 4) {
        size_t n = (size_t)blob[0] << 24 | (size_t)blob[1] << 16 | (size_t)blob[2] << 8 | blob[3];

        if (n > len - 4)
            return store_fail(s, STORE_ERR, "%s: read statistics: bad histograms", s->name);
        row->blob = blob + 4;
        row->blob_len = n;
        rc = store_stats_add(s, acc, row);
        blob += 4 + n;
        len -= 4 + n;
    }
    return rc;
}

/* A user's feedback counts for one label (row), and, when some of the
 * changed ones matched a scan record, their match (columns 4-6). */
static int
stats_feedback_rows(struct store *s, struct store_stats_acc *acc, struct store_stats_row *row,
                    const PGresult *r, int i)
{
    int rc = store_stats_add(s, acc, row);

    if (rc != STORE_OK || pq_int(r, i, 4) == 0)
        return rc;
    row->kind = STORE_STATS_MATCHED;
    for (int c = 0; c < 3; c++)
        row->i[1 + c] = pq_int(r, i, 4 + c);
    return store_stats_add(s, acc, row);
}

int
pq_stats(struct store *s, const char *key, int64_t since, struct store_stats_acc *acc)
{
    struct store_stats_row row;
    int rc = STORE_OK;

    for (size_t k = 0; k < sizeof(stats_queries) / sizeof(stats_queries[0]) && rc == STORE_OK;
         k++) {
        enum store_stats_kind kind = stats_queries[k].kind;
        struct pq_args a = { 0 };
        PGresult *r;

        if (stats_queries[k].before != NULL
                && (rc = pq_do(s, stats_queries[k].before, NULL, "read statistics", NULL))
                   != STORE_OK)
            return rc;
        pq_text(&a, key);
        if (kind != STORE_STATS_USER)
            pq_i64(&a, since);
        if ((r = pq_run(s, stats_queries[k].sql, &a, "read statistics", &rc)) == NULL)
            return rc;
        for (int i = 0; rc == STORE_OK && i < PQntuples(r); i++) {
            stats_row(r, i, kind, &row);
            if (kind == STORE_STATS_DAY)
                rc = stats_day_rows(s, acc, &row, (const unsigned char *)PQgetvalue(r, i, 8),
                                    (size_t)PQgetlength(r, i, 8));
            else if (kind == STORE_STATS_FEEDBACK)
                rc = stats_feedback_rows(s, acc, &row, r, i);
            else
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

/* Users whose count of scan records (users.scans) is not their rows'. */
static const char sql_check_scans[] =
    "SELECT count(*) FROM users u LEFT JOIN (SELECT user_id, count(*) AS n FROM scans"
    " GROUP BY user_id) x ON x.user_id = u.id WHERE u.scans <> coalesce(x.n, 0)";

/* The server keeps its own pages sound (checksums, WAL); what is checked here
 * is that every table of the schema is there and readable, and that each
 * user's count of scan records is right. */
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
    if (rc == STORE_OK) {
        int64_t bad;

        rc = pq_int1(s, sql_check_scans, NULL, "integrity check", &bad);
        if (rc == STORE_OK && bad > 0)
            rc = store_fail(s, STORE_ERR, "%s: integrity check: %" PRId64 " users' count of "
                            "scan records (users.scans) is not their rows'", s->name, bad);
    }
    return rc;
}
