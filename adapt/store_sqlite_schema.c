/*
 * store_sqlite_schema.c - the SQLite store's schema, its upgrades, and the
 * meta table of settings (store_be.h's schema_* and meta_* operations).
 *
 * Schema history (PRAGMA user_version), upgraded in place at open:
 *   1  users, feedback, heads, meta
 *   2  reservoir, users.seen/refit_seen, refits, counters
 *   3  feedback/reservoir.rep, rep_model: representations cached by refits
 *   4  scans, scan_days: what the milter decided
 *   5  users.spam_threshold
 *   6  feedback_user_age index for the quota
 *   7  fitcache: what a refit keeps for the next one (store_fitcache_put)
 *   8  senderlists: allow and block lists
 *   9  users.claim_owner/claim_until: refit claims (store_dirty_claim)
 */
#include "config.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store.h"
#include "store_be.h"
#include "store_sqlite.h"

/* Each step upgrades from version i to i + 1.  Never edit a shipped step: add one. */
static const char *const migrations[SQ_SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE users(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE,"
    "  created INTEGER NOT NULL, fb_gen INTEGER NOT NULL DEFAULT 0,"
    "  refit_fb_gen INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE feedback(user_id INTEGER NOT NULL REFERENCES users(id),"
    "  digest BLOB NOT NULL, spam INTEGER NOT NULL, n INTEGER NOT NULL,"
    "  ids BLOB NOT NULL, updated INTEGER NOT NULL,"
    "  PRIMARY KEY(user_id, digest)) WITHOUT ROWID;"
    "CREATE TABLE heads(user_id INTEGER PRIMARY KEY REFERENCES users(id),"
    "  version INTEGER NOT NULL, model_id TEXT NOT NULL, blob BLOB NOT NULL,"
    "  updated INTEGER NOT NULL);",
    /* 1 -> 2 */
    "ALTER TABLE users ADD COLUMN seen INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE users ADD COLUMN refit_seen INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE reservoir(user_id INTEGER NOT NULL REFERENCES users(id),"
    "  slot INTEGER NOT NULL, digest BLOB NOT NULL, n INTEGER NOT NULL,"
    "  ids BLOB NOT NULL, added INTEGER NOT NULL,"
    "  PRIMARY KEY(user_id, slot)) WITHOUT ROWID;"
    "CREATE INDEX reservoir_digest ON reservoir(user_id, digest);"
    "CREATE TABLE refits(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL"
    "  REFERENCES users(id), at INTEGER NOT NULL, version INTEGER NOT NULL,"
    "  model_id TEXT NOT NULL, n_feedback INTEGER NOT NULL,"
    "  n_unlabelled INTEGER NOT NULL, domain_auc REAL, ess REAL,"
    "  cv_before REAL, cv_after REAL, ms REAL);"
    "CREATE INDEX refits_user ON refits(user_id, at);"
    "CREATE TABLE counters(user_id INTEGER NOT NULL REFERENCES users(id),"
    "  name TEXT NOT NULL, value INTEGER NOT NULL,"
    "  PRIMARY KEY(user_id, name)) WITHOUT ROWID;",
    /* 2 -> 3 */
    "ALTER TABLE feedback ADD COLUMN rep BLOB;"
    "ALTER TABLE feedback ADD COLUMN rep_model TEXT;"
    "ALTER TABLE reservoir ADD COLUMN rep BLOB;"
    "ALTER TABLE reservoir ADD COLUMN rep_model TEXT;",
    /* 3 -> 4: scan records (store_scan_record) and the indexes stats reads by */
    "CREATE TABLE scans(user_id INTEGER NOT NULL REFERENCES users(id),"
    "  digest BLOB NOT NULL, at INTEGER NOT NULL, score REAL NOT NULL,"
    "  verdict INTEGER NOT NULL, PRIMARY KEY(user_id, digest)) WITHOUT ROWID;"
    "CREATE INDEX scans_at ON scans(at);"
    "CREATE TABLE scan_days(user_id INTEGER NOT NULL REFERENCES users(id),"
    "  day INTEGER NOT NULL, scanned INTEGER NOT NULL, tagged INTEGER NOT NULL,"
    "  quarantined INTEGER NOT NULL, rejected INTEGER NOT NULL,"
    "  skipped INTEGER NOT NULL, errors INTEGER NOT NULL, ms_sum REAL NOT NULL,"
    "  hist BLOB NOT NULL, PRIMARY KEY(user_id, day)) WITHOUT ROWID;"
    "CREATE INDEX scan_days_day ON scan_days(day);"
    "CREATE INDEX feedback_updated ON feedback(updated);"
    "CREATE INDEX refits_at ON refits(at);",
    /* 4 -> 5: a user's own spam threshold (NULL: the global one) */
    "ALTER TABLE users ADD COLUMN spam_threshold REAL;",
    /* 5 -> 6: the quota's walk over a user's feedback by age reads this index
     * in order instead of sorting every row of the user at each learn */
    "CREATE INDEX feedback_user_age ON feedback(user_id, updated, digest);",
    /* 6 -> 7: one row per user of what its last refit derived from the
     * reservoir and the feedback count (adapt's prep), opaque here */
    "CREATE TABLE fitcache(user_id INTEGER PRIMARY KEY REFERENCES users(id),"
    "  model_id TEXT NOT NULL, seen INTEGER NOT NULL, blob BLOB NOT NULL,"
    "  updated INTEGER NOT NULL);",
    /* 7 -> 8: allow and block lists of sender addresses and domains, for a user
     * (scope = the user key) or every user of a domain (scope = "@domain") */
    "CREATE TABLE senderlists(scope TEXT NOT NULL, sender TEXT NOT NULL,"
    "  action INTEGER NOT NULL, added INTEGER NOT NULL,"
    "  PRIMARY KEY(scope, sender)) WITHOUT ROWID;",
    /* 8 -> 9: a dirty user claimed for refit by one process of a fleet
     * (store_dirty_claim): who holds it and until when (0: nobody); two
     * statements in one step, parenthesised so that clang's
     * -Wstring-concatenation sees the concatenation is meant */
    ("ALTER TABLE users ADD COLUMN claim_owner TEXT;"
     "ALTER TABLE users ADD COLUMN claim_until INTEGER NOT NULL DEFAULT 0;"),
};

static const char sql_meta_get[] = "SELECT value FROM meta WHERE key = ?1";
static const char sql_meta_set[] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)";
static const char sql_meta_delete[] = "DELETE FROM meta WHERE key = ?1";
/* The keys after prefix ?1 and before ?2 (the prefix with its last byte + 1):
 * the index answers, where LIKE or substr() in WHERE would read every row. */
static const char sql_meta_list[] =
    "SELECT substr(key, length(?1) + 1), CAST(value AS REAL) FROM meta "
    "WHERE key > ?1 AND key < ?2 ORDER BY key";

int
sq_schema_get(struct store *s, int64_t *version)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(sq_db(s), "PRAGMA user_version", -1, &st, NULL);

    if (rc != SQLITE_OK)
        return sq_fail_db(s, rc, "read schema version");
    rc = sq_step_int(s, st, version, "read schema version");
    sqlite3_finalize(st);
    return rc;
}

int
sq_schema_upgrade(struct store *s, int64_t version)
{
    char sql[64];
    int rc;

    for (int64_t i = version; i < SQ_SCHEMA_VERSION; i++)
        if ((rc = sq_exec(s, migrations[i], "upgrade schema")) != STORE_OK)
            return rc;
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SQ_SCHEMA_VERSION);
    return sq_exec(s, sql, "upgrade schema");
}

/* Not through the statement cache: meta may not exist yet when this runs. */
int
sq_meta_get(struct store *s, const char *key, char *buf, size_t len)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(sq_db(s), sql_meta_get, -1, &st, NULL);

    if (rc != SQLITE_OK)
        return sq_fail_db(s, rc, "read settings");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return STORE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? STORE_NOTFOUND : sq_fail_db(s, rc, "read settings");
}

int
sq_meta_set(struct store *s, const char *key, const char *value)
{
    sqlite3_stmt *st = sq_stmt(s, sql_meta_set);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_TRANSIENT);
    return sq_step_done(s, st, "write settings");
}

int
sq_meta_delete(struct store *s, const char *key)
{
    sqlite3_stmt *st = sq_stmt(s, sql_meta_delete);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    return sq_step_done(s, st, "delete settings");
}

int
sq_meta_list(struct store *s, const char *prefix, char ***keys, double **vals, size_t *n)
{
    sqlite3_stmt *st = sq_stmt(s, sql_meta_list);
    size_t len = strlen(prefix);
    char *end;
    int rc;

    assert(len > 0 && (unsigned char)prefix[len - 1] < 0xff);
    if (st == NULL)
        return STORE_ERR;
    if ((end = strdup(prefix)) == NULL)
        return store_fail(s, STORE_ERR, "list settings: out of memory");
    end[len - 1]++;
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, end, -1, SQLITE_TRANSIENT);
    rc = sq_collect_key_values(s, st, "list settings", keys, vals, n);
    free(end);
    return rc;
}
