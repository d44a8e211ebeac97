/*
 * store_pg_schema.c - the PostgreSQL store's schema, its upgrades, and the
 * meta table of settings (store_be.h's schema_* and meta_* operations).
 *
 * Schema history (meta.schema_version), upgraded in place at open under an
 * advisory lock, so that two hosts opening a new database at once create it
 * once:
 *   1  everything SQLite's schema 8 holds, in PostgreSQL's types (bigint
 *      for every integer, bytea for blobs, double precision for reals)
 *   2  users.claim_owner/claim_until: refit claims (store_dirty_claim), as
 *      SQLite's 9
 *   3  users.scans: how many scan records the user has (count(*) of scans,
 *      kept by the statements that add and expire them, store_pg_scans.c),
 *      so that the overview sums 10,000 rows instead of counting 1M; the
 *      SQLite schema has no such column (SQLite counts its b-tree's cells)
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_be.h"
#include "store_pg.h"

/* The advisory lock key of the schema upgrade ("SPAM" in ASCII). */
#define PQ_SCHEMA_LOCK "1397768525"

/* Each step upgrades from version i to i + 1.  Never edit a shipped step: add one. */
static const char *const migrations[PQ_SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE meta(key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE users(id bigserial PRIMARY KEY, key text NOT NULL UNIQUE,"
    "  created bigint NOT NULL, fb_gen bigint NOT NULL DEFAULT 0,"
    "  refit_fb_gen bigint NOT NULL DEFAULT 0, seen bigint NOT NULL DEFAULT 0,"
    "  refit_seen bigint NOT NULL DEFAULT 0, spam_threshold double precision);"
    "CREATE TABLE feedback(user_id bigint NOT NULL REFERENCES users(id),"
    "  digest bytea NOT NULL, spam integer NOT NULL, n bigint NOT NULL,"
    "  ids bytea NOT NULL, updated bigint NOT NULL, rep bytea, rep_model text,"
    "  PRIMARY KEY(user_id, digest));"
    "CREATE INDEX feedback_updated ON feedback(updated);"
    "CREATE INDEX feedback_user_age ON feedback(user_id, updated, digest);"
    "CREATE TABLE heads(user_id bigint PRIMARY KEY REFERENCES users(id),"
    "  version bigint NOT NULL, model_id text NOT NULL, blob bytea NOT NULL,"
    "  updated bigint NOT NULL);"
    "CREATE TABLE reservoir(user_id bigint NOT NULL REFERENCES users(id),"
    "  slot bigint NOT NULL, digest bytea NOT NULL, n bigint NOT NULL,"
    "  ids bytea NOT NULL, added bigint NOT NULL, rep bytea, rep_model text,"
    "  PRIMARY KEY(user_id, slot));"
    "CREATE INDEX reservoir_digest ON reservoir(user_id, digest);"
    "CREATE TABLE refits(id bigserial PRIMARY KEY, user_id bigint NOT NULL"
    "  REFERENCES users(id), at bigint NOT NULL, version bigint NOT NULL,"
    "  model_id text NOT NULL, n_feedback bigint NOT NULL,"
    "  n_unlabelled bigint NOT NULL, domain_auc double precision,"
    "  ess double precision, cv_before double precision, cv_after double precision,"
    "  ms double precision);"
    "CREATE INDEX refits_user ON refits(user_id, at);"
    "CREATE INDEX refits_at ON refits(at);"
    "CREATE TABLE counters(user_id bigint NOT NULL REFERENCES users(id),"
    "  name text NOT NULL, value bigint NOT NULL, PRIMARY KEY(user_id, name));"
    "CREATE TABLE scans(user_id bigint NOT NULL REFERENCES users(id),"
    "  digest bytea NOT NULL, at bigint NOT NULL, score double precision NOT NULL,"
    "  verdict integer NOT NULL, PRIMARY KEY(user_id, digest));"
    "CREATE INDEX scans_at ON scans(at);"
    "CREATE TABLE scan_days(user_id bigint NOT NULL REFERENCES users(id),"
    "  day bigint NOT NULL, scanned bigint NOT NULL, tagged bigint NOT NULL,"
    "  quarantined bigint NOT NULL, rejected bigint NOT NULL,"
    "  skipped bigint NOT NULL, errors bigint NOT NULL,"
    "  ms_sum double precision NOT NULL, hist bytea NOT NULL,"
    "  PRIMARY KEY(user_id, day));"
    "CREATE INDEX scan_days_day ON scan_days(day);"
    "CREATE TABLE fitcache(user_id bigint PRIMARY KEY REFERENCES users(id),"
    "  model_id text NOT NULL, seen bigint NOT NULL, blob bytea NOT NULL,"
    "  updated bigint NOT NULL);"
    "CREATE TABLE senderlists(scope text NOT NULL, sender text NOT NULL,"
    "  action integer NOT NULL, added bigint NOT NULL, PRIMARY KEY(scope, sender));",
    /* 1 -> 2: a dirty user claimed for refit by one process of a fleet
     * (store_dirty_claim): who holds it and until when (0: nobody) */
    "ALTER TABLE users ADD COLUMN claim_owner text;"
    "ALTER TABLE users ADD COLUMN claim_until bigint NOT NULL DEFAULT 0;"
    /* the claim's walk in key order (COLLATE "C", whatever the database's
     * collation): 0.1 ms a claim at 10,000 users, 7.7 ms by a scan and sort */
    "CREATE INDEX users_key_c ON users((key COLLATE \"C\"));",
    /* 2 -> 3: each user's count of scan records, from the rows there are */
    "ALTER TABLE users ADD COLUMN scans bigint NOT NULL DEFAULT 0;"
    "UPDATE users u SET scans = x.n FROM (SELECT user_id, count(*) AS n FROM scans"
    "  GROUP BY user_id) x WHERE u.id = x.user_id;",
};

static const char sql_has_meta[] = "SELECT to_regclass('meta') IS NOT NULL";
static const char sql_meta_get[] = "SELECT value FROM meta WHERE key = $1";
static const char sql_meta_set[] =
    "INSERT INTO meta(key, value) VALUES ($1, $2) "
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value";
static const char sql_meta_delete[] = "DELETE FROM meta WHERE key = $1";
/* As SQLite's: keys after the prefix, sorted bytewise, values as numbers. */
static const char sql_meta_list[] =
    "SELECT substr(key, length($1) + 1), value::float8 FROM meta "
    "WHERE starts_with(key, $1) AND key <> $1 ORDER BY key COLLATE \"C\"";

/* 0 for a database without the store's tables. */
int
pq_schema_get(struct store *s, int64_t *version)
{
    char buf[32];
    int64_t has;
    int rc = pq_int1(s, sql_has_meta, NULL, "read schema version", &has);

    *version = 0;
    if (rc != STORE_OK || !has)
        return rc == STORE_NOTFOUND ? STORE_OK : rc;
    rc = pq_meta_get(s, "schema_version", buf, sizeof(buf));
    if (rc == STORE_OK)
        *version = strtoll(buf, NULL, 10);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* Inside the front's write transaction: the advisory lock serialises hosts
 * that open a new or older database at once; the version is read again under
 * it, so the second does nothing. */
int
pq_schema_upgrade(struct store *s, int64_t version)
{
    char buf[32];
    int rc = pq_do(s, "SELECT pg_advisory_xact_lock(" PQ_SCHEMA_LOCK ")", NULL,
                   "upgrade schema", NULL);

    if (rc == STORE_OK)
        rc = pq_schema_get(s, &version);
    /* PQexec: a migration is several statements and has no parameters. */
    for (int64_t i = version; rc == STORE_OK && i < PQ_SCHEMA_VERSION; i++) {
        PGresult *r = PQexec(pq_db(s), migrations[i]);

        if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK)
            rc = store_fail(s, STORE_ERR, "%s: upgrade schema: %s", s->name,
                            PQerrorMessage(pq_db(s)));
        PQclear(r);
    }
    if (rc != STORE_OK || version >= PQ_SCHEMA_VERSION)
        return rc;
    snprintf(buf, sizeof(buf), "%d", PQ_SCHEMA_VERSION);
    return pq_meta_set(s, "schema_version", buf);
}

int
pq_meta_get(struct store *s, const char *key, char *buf, size_t len)
{
    struct pq_args a = { 0 };
    PGresult *r;
    int rc;

    pq_text(&a, key);
    if ((r = pq_run(s, sql_meta_get, &a, "read settings", &rc)) == NULL)
        return rc;
    rc = PQntuples(r) > 0 ? STORE_OK : STORE_NOTFOUND;
    if (rc == STORE_OK)
        snprintf(buf, len, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return rc;
}

int
pq_meta_set(struct store *s, const char *key, const char *value)
{
    struct pq_args a = { 0 };

    pq_text(&a, key);
    pq_text(&a, value);
    return pq_do(s, sql_meta_set, &a, "write settings", NULL);
}

int
pq_meta_delete(struct store *s, const char *key)
{
    struct pq_args a = { 0 };

    pq_text(&a, key);
    return pq_do(s, sql_meta_delete, &a, "delete settings", NULL);
}

int
pq_meta_list(struct store *s, const char *prefix, char ***keys, double **vals, size_t *n)
{
    struct pq_args a = { 0 };
    PGresult *r;
    int rc;

    pq_text(&a, prefix);
    if ((r = pq_run(s, sql_meta_list, &a, "list settings", &rc)) == NULL)
        return rc;
    return pq_key_values_of(s, r, "list settings", keys, vals, n);
}
