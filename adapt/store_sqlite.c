/*
 * store_sqlite.c - the SQLite backend of store.h, and the only file with SQL.
 *
 * Tuned for many small writes from one writer per process (the milter's writer
 * thread or `spamshift learn`) next to many readers (scorers loading heads):
 * WAL journal so readers never wait for the writer, synchronous=FULL so a
 * commit that returned survives a crash or power loss, BEGIN IMMEDIATE so a
 * writer waits for the lock up front (busy timeout) instead of failing half-way,
 * and a SAVEPOINT around each operation so one failed operation inside a batch
 * leaves nothing half-done.  Statements are prepared once per connection; every
 * value is a bound parameter.
 *
 * Schema history (PRAGMA user_version), upgraded in place by store_open():
 *   1  users, feedback, heads, meta
 *   2  reservoir, users.seen/refit_seen, refits, counters
 *   3  feedback/reservoir.rep, rep_model: representations cached by refits
 *   4  scans, scan_days: what the milter decided
 *   5  users.spam_threshold
 *   6  feedback_user_age index for the quota
 *   7  fitcache: what a refit keeps for the next one (store_fitcache_put)
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "features.h"
#include "idpack.h"
#include "store.h"

/* After a checkpoint has reset the write-ahead log, SQLite truncates PATH-wal to
 * this many bytes: the log of a burst does not keep its disk forever. */
#define STORE_WAL_LIMIT_SQL "16777216"

#define SCHEMA_VERSION 8

enum stmt_id {
    Q_USER_GET, Q_USER_INSERT, Q_FB_GET, Q_FB_INSERT, Q_FB_MOVE, Q_FB_DELETE,
    Q_USER_BUMP_FB, Q_RES_HAS, Q_USER_SEEN, Q_USER_SET_SEEN, Q_RES_PUT,
    Q_STATE, Q_FB_LIST, Q_RES_LIST, Q_HEAD_GET, Q_REFIT_MARKS, Q_HEAD_VERSION,
    Q_HEAD_PUT, Q_USER_SET_REFIT, Q_REFIT_INSERT, Q_DIRTY, Q_USERS, Q_HEADS_RECENT,
    Q_COUNTER_ADD, Q_COUNTER_GET, Q_META_SET, Q_RES_TRIM, Q_REFIT_LAST,
    Q_REFIT_MAX, Q_REFIT_SINCE, Q_FB_REP, Q_RES_REP, Q_FB_QUOTA, Q_FB_QUOTA_ALL,
    Q_THR_GET, Q_THR_SET, Q_THR_LIST, Q_FC_GET, Q_FC_PUT,
    Q_LIST_PUT, Q_LIST_DELETE, Q_LIST_ALL, Q_TFPR_LIST, Q_META_DELETE,
    Q_N
};

static const char *const stmt_sql[Q_N] = {
    [Q_USER_GET] = "SELECT id FROM users WHERE key = ?1",
    [Q_USER_INSERT] = "INSERT INTO users(key, created) VALUES (?1, ?2)",
    [Q_FB_GET] = "SELECT spam FROM feedback WHERE user_id = ?1 AND digest = ?2",
    [Q_FB_INSERT] = "INSERT INTO feedback(user_id, digest, spam, n, ids, updated) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_FB_MOVE] = "UPDATE feedback SET spam = ?3, n = ?4, ids = ?5, updated = ?6 "
                  "WHERE user_id = ?1 AND digest = ?2",
    [Q_FB_DELETE] = "DELETE FROM feedback WHERE user_id = ?1 AND digest = ?2",
    [Q_USER_BUMP_FB] = "UPDATE users SET fb_gen = fb_gen + 1 WHERE id = ?1",
    [Q_RES_HAS] = "SELECT 1 FROM reservoir WHERE user_id = ?1 AND digest = ?2",
    [Q_USER_SEEN] = "SELECT seen FROM users WHERE id = ?1",
    [Q_USER_SET_SEEN] = "UPDATE users SET seen = ?2 WHERE id = ?1",
    [Q_RES_PUT] = "INSERT OR REPLACE INTO reservoir(user_id, slot, digest, n, ids, added) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [Q_STATE] = "SELECT u.id, u.fb_gen, u.seen, u.refit_fb_gen, u.refit_seen, "
                "  coalesce((SELECT version FROM heads WHERE user_id = u.id), 0), "
                "  (SELECT count(*) FROM feedback WHERE user_id = u.id AND spam = 1), "
                "  (SELECT count(*) FROM feedback WHERE user_id = u.id AND spam = 0), "
                "  (SELECT count(*) FROM reservoir WHERE user_id = u.id) "
                "FROM users u WHERE u.key = ?1",
    [Q_FB_LIST] = "SELECT digest, spam, n, ids, CASE WHEN rep_model = ?2 THEN rep END "
                  "FROM feedback f JOIN users u "
                  "ON f.user_id = u.id WHERE u.key = ?1 ORDER BY digest",
    [Q_RES_LIST] = "SELECT digest, 0, n, ids, CASE WHEN rep_model = ?2 THEN rep END "
                   "FROM reservoir r JOIN users u "
                   "ON r.user_id = u.id WHERE u.key = ?1 ORDER BY digest",
    [Q_FB_REP] = "UPDATE feedback SET rep = ?3, rep_model = ?4 "
                 "WHERE user_id = ?1 AND digest = ?2",
    [Q_RES_REP] = "UPDATE reservoir SET rep = ?3, rep_model = ?4 "
                  "WHERE user_id = ?1 AND digest = ?2",
    [Q_HEAD_GET] = "SELECT h.version, h.model_id, h.blob FROM heads h JOIN users u "
                   "ON h.user_id = u.id WHERE u.key = ?1",
    [Q_REFIT_MARKS] = "SELECT refit_fb_gen, refit_seen FROM users WHERE id = ?1",
    [Q_HEAD_VERSION] = "SELECT version FROM heads WHERE user_id = ?1",
    [Q_HEAD_PUT] = "INSERT INTO heads(user_id, version, model_id, blob, updated) "
                   "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(user_id) DO UPDATE SET "
                   "version = excluded.version, model_id = excluded.model_id, "
                   "blob = excluded.blob, updated = excluded.updated",
    [Q_USER_SET_REFIT] = "UPDATE users SET refit_fb_gen = ?2, refit_seen = ?3 WHERE id = ?1",
    [Q_REFIT_INSERT] = "INSERT INTO refits(user_id, at, version, model_id, n_feedback, "
                       "n_unlabelled, domain_auc, ess, cv_before, cv_after, ms) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [Q_DIRTY] = "SELECT u.key FROM users u LEFT JOIN heads h ON h.user_id = u.id "
                "WHERE u.fb_gen != u.refit_fb_gen OR u.seen - u.refit_seen >= ?1 "
                "   OR (?2 IS NOT NULL AND h.model_id IS NOT NULL AND h.model_id != ?2) "
                "ORDER BY u.key LIMIT ?3",
    [Q_USERS] = "SELECT key FROM users ORDER BY key",
    [Q_HEADS_RECENT] = "SELECT u.key FROM heads h JOIN users u ON h.user_id = u.id "
                       "WHERE h.model_id = ?1 ORDER BY h.updated DESC, u.key LIMIT ?2",
    [Q_FC_GET] = "SELECT c.model_id, c.seen, c.blob FROM fitcache c JOIN users u "
                 "ON c.user_id = u.id WHERE u.key = ?1",
    [Q_FC_PUT] = "INSERT INTO fitcache(user_id, model_id, seen, blob, updated) "
                 "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(user_id) DO UPDATE SET "
                 "model_id = excluded.model_id, seen = excluded.seen, "
                 "blob = excluded.blob, updated = excluded.updated",
    [Q_LIST_PUT] = "INSERT INTO senderlists(scope, sender, action, added) VALUES (?1, ?2, ?3, ?4) "
                   "ON CONFLICT(scope, sender) DO UPDATE SET action = excluded.action, "
                   "added = excluded.added",
    [Q_LIST_DELETE] = "DELETE FROM senderlists WHERE scope = ?1 AND sender = ?2",
    [Q_LIST_ALL] = "SELECT scope, sender, action, added FROM senderlists ORDER BY scope, sender",
    [Q_THR_GET] = "SELECT spam_threshold FROM users WHERE key = ?1 AND spam_threshold IS NOT NULL",
    [Q_THR_SET] = "UPDATE users SET spam_threshold = ?2 WHERE id = ?1",
    [Q_THR_LIST] = "SELECT key, spam_threshold FROM users WHERE spam_threshold IS NOT NULL "
                   "ORDER BY key",
    [Q_COUNTER_ADD] = "INSERT INTO counters(user_id, name, value) VALUES (?1, ?2, ?3) "
                      "ON CONFLICT(user_id, name) DO UPDATE SET value = value + excluded.value",
    [Q_COUNTER_GET] = "SELECT c.value FROM counters c JOIN users u ON c.user_id = u.id "
                      "WHERE u.key = ?1 AND c.name = ?2",
    [Q_META_SET] = "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)",
    [Q_META_DELETE] = "DELETE FROM meta WHERE key = ?1",
    /* Per-user target FPRs live in meta as "target_fpr/USER" ('0' follows '/') */
    [Q_TFPR_LIST] = "SELECT substr(key, 12), CAST(value AS REAL) FROM meta "
                    "WHERE key > 'target_fpr/' AND key < 'target_fpr0' ORDER BY key",
    [Q_RES_TRIM] = "DELETE FROM reservoir WHERE slot >= ?1",
    /* Per-user feedback quota: keep the ?2 most recently updated rows of user ?1
     * (ties within a second by digest) and always the row ?3 just written. */
    [Q_FB_QUOTA] = "DELETE FROM feedback WHERE user_id = ?1 AND digest != ?3 AND digest IN"
        " (SELECT digest FROM feedback WHERE user_id = ?1 AND digest != ?3"
        " ORDER BY updated DESC, digest DESC LIMIT -1 OFFSET ?2 - 1)",
    [Q_FB_QUOTA_ALL] = "DELETE FROM feedback WHERE (user_id, digest) IN"
        " (SELECT user_id, digest FROM (SELECT user_id, digest, row_number() OVER"
        " (PARTITION BY user_id ORDER BY updated DESC, digest DESC) AS r FROM feedback)"
        " WHERE r > ?1)",
    [Q_REFIT_MAX] = "SELECT coalesce(max(id), 0) FROM refits",
    [Q_REFIT_SINCE] = "SELECT DISTINCT u.key FROM refits r JOIN users u ON r.user_id = u.id "
                      "WHERE r.id > ?1 AND r.id <= ?2 ORDER BY u.key",
    [Q_REFIT_LAST] = "SELECT r.version, r.at, r.n_feedback, r.n_unlabelled, r.domain_auc, "
                     "r.ess, r.cv_before, r.cv_after, r.ms FROM refits r JOIN users u "
                     "ON r.user_id = u.id WHERE u.key = ?1 ORDER BY r.id DESC LIMIT 1",
};

/* Each step upgrades from version i to i + 1.  Never edit a shipped step: add one. */
static const char *const migrations[SCHEMA_VERSION] = {
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
};

struct store {
    sqlite3 *db;
    char *path;
    unsigned flags;
    unsigned busy_ms;
    int in_txn;             /* inside store_begin()/store_commit() */
    int in_read;            /* inside store_begin_read() */
    uint32_t reservoir_size;
    uint32_t feedback_max;
    uint32_t dirty_samples;
    uint64_t seed;
    uint64_t fb_dropped;    /* feedback rows this connection dropped for quota */
    sqlite3_stmt *stmt[Q_N];
    int64_t scans_expired;  /* when this connection last expired scan records */
    int64_t busy_since;     /* busy_wait(): when the current wait began (ms) */
    int wal_fd;             /* PATH-wal as found at open, held open; -1 */
    char err[512];
};

/* ---- errors ---- */

static int
fail(struct store *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct store *s, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    return status;
}

/* Map the connection's last SQLite error to a status and a message naming what
 * was being done and the file. */
static int
fail_db(struct store *s, int rc, const char *what)
{
    int prim = rc & 0xff;

    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        return fail(s, STORE_BUSY, "%s: %s: database is locked by another connection "
                    "(waited %u ms)", s->path, what, s->busy_ms);
    if (prim == SQLITE_NOMEM)
        return fail(s, STORE_ERR, "%s: %s: out of memory", s->path, what);
    return fail(s, STORE_ERR, "%s: %s: %s", s->path, what,
                s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

int
store_moved(struct store *s)
{
    int moved = 0;

    if (s == NULL || s->db == NULL ||
        sqlite3_file_control(s->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK)
        return 0;
    return moved != 0;
}

/* The busy handler.  SQLite's own (sqlite3_busy_timeout) sleeps up to 100 ms
 * between attempts, so a lock that is free only for a few milliseconds between
 * another writer's transactions (the milter's writer under full load) was seen
 * free too seldom and `spamshift learn` timed out; poll every millisecond
 * instead, up to busy_ms in all. */
static int
busy_wait(void *arg, int count)
{
    struct store *s = arg;
    struct timespec ts;
    int64_t now;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (count == 0)
        s->busy_since = now;
    if (now - s->busy_since >= (int64_t)s->busy_ms)
        return 0;
    usleep(1000);
    return 1;
}

const char *
store_errmsg(const struct store *s)
{
    return s != NULL ? s->err : "no store";
}

/* ---- statements ---- */

static sqlite3_stmt *
stmt(struct store *s, enum stmt_id id)
{
    sqlite3_stmt *st = s->stmt[id];

    if (st == NULL) {
        int rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                    &s->stmt[id], NULL);
        if (rc != SQLITE_OK) {
            fail_db(s, rc, "prepare");
            return NULL;
        }
        st = s->stmt[id];
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static int
exec(struct store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? STORE_OK : fail_db(s, rc, what);
}

/* Step a statement that returns no row. */
static int
step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : fail_db(s, rc, what);
}

/* Step a statement for at most one integer: STORE_OK and *v, STORE_NOTFOUND. */
static int
step_int(struct store *s, sqlite3_stmt *st, int64_t *v, const char *what)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return STORE_OK;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_NOTFOUND : fail_db(s, rc, what);
}

/* ---- transactions ---- */

/* Start one operation's writes: its own transaction outside a batch, a savepoint
 * inside one.  *own tells op_end() which. */
static int
op_begin(struct store *s, int *own)
{
    if (s->flags & STORE_RDONLY)
        return fail(s, STORE_ERR, "%s: store opened read-only", s->path);
    if (s->in_read)
        return fail(s, STORE_ERR, "%s: write inside a read snapshot", s->path);
    *own = !s->in_txn;
    return exec(s, *own ? "BEGIN IMMEDIATE" : "SAVEPOINT op", "begin");
}

static int
op_end(struct store *s, int own, int status)
{
    int ok = status >= 0;
    int rc;

    if (own) {
        if (!ok) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return status;
        }
        rc = exec(s, "COMMIT", "commit");
        if (rc != STORE_OK)
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc != STORE_OK ? rc : status;
    }
    if (!ok)
        sqlite3_exec(s->db, "ROLLBACK TO op", NULL, NULL, NULL);
    rc = exec(s, "RELEASE op", "release savepoint");
    return rc != STORE_OK ? rc : status;
}

int
store_begin(struct store *s)
{
    int rc;

    if (s->flags & STORE_RDONLY)
        return fail(s, STORE_ERR, "%s: store opened read-only", s->path);
    if (s->in_txn || s->in_read)
        return fail(s, STORE_ERR, "%s: transaction already open", s->path);
    rc = exec(s, "BEGIN IMMEDIATE", "begin");
    if (rc == STORE_OK)
        s->in_txn = 1;
    return rc;
}

int
store_commit(struct store *s)
{
    int rc;

    if (!s->in_txn)
        return fail(s, STORE_ERR, "%s: commit without a transaction", s->path);
    rc = exec(s, "COMMIT", "commit");
    if (rc != STORE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
    s->in_txn = 0;
    return rc;
}

void
store_rollback(struct store *s)
{
    if (s->in_txn)
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->in_txn = 0;
}

int
store_begin_read(struct store *s)
{
    int rc;

    if (s->in_txn || s->in_read)
        return fail(s, STORE_ERR, "%s: transaction already open", s->path);
    /* BEGIN DEFERRED takes the snapshot at the first read: do one now. */
    rc = exec(s, "BEGIN DEFERRED; SELECT count(*) FROM meta", "begin read");
    if (rc != STORE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return rc;
    }
    s->in_read = 1;
    return STORE_OK;
}

void
store_end_read(struct store *s)
{
    if (s->in_read)
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    s->in_read = 0;
}

/* ---- open, schema ---- */

void
store_opts_default(struct store_opts *o)
{
    o->busy_ms = 5000;
    o->reservoir_size = 2000;
    o->feedback_max = 20000;
    o->dirty_samples = 200;
    o->seed = 0x5eed5a17f00dULL;
}

static int
meta_get(struct store *s, const char *key, char *buf, size_t len)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = ?1", -1,
                                &st, NULL);

    if (rc != SQLITE_OK)
        return fail_db(s, rc, "read settings");
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
        return STORE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? STORE_NOTFOUND : fail_db(s, rc, "read settings");
}

static int
meta_set(struct store *s, const char *key, uint64_t v)
{
    sqlite3_stmt *st = stmt(s, Q_META_SET);
    char buf[32];

    if (st == NULL)
        return STORE_ERR;
    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, buf, -1, SQLITE_TRANSIENT);
    return step_done(s, st, "write settings");
}

/* Read a numeric setting.  When it is missing (a new store, or one from an older
 * schema) def is used and, in a write pass, stored; in a read pass *need_write is
 * set instead. */
static int
meta_uint(struct store *s, const char *key, uint64_t def, uint64_t max, int write,
          int *need_write, uint64_t *v)
{
    char buf[64], *end;
    int rc = meta_get(s, key, buf, sizeof(buf));

    if (rc == STORE_NOTFOUND) {
        *v = def;
        if (!write) {
            *need_write = 1;
            return STORE_OK;
        }
        return meta_set(s, key, def);
    }
    if (rc != STORE_OK)
        return rc;
    errno = 0;
    *v = strtoull(buf, &end, 10);
    if (errno != 0 || end == buf || *end != '\0' || *v > max)
        return fail(s, STORE_ERR, "%s: bad setting %s = \"%s\" in meta", s->path,
                    key, buf);
    return STORE_OK;
}

/* One pass of schema_init(): in a read transaction (write == 0) it only checks
 * and loads, setting *need_write when the schema or a setting must be written;
 * in a write transaction it upgrades and fills in what is missing. */
static int
schema_pass(struct store *s, const struct store_opts *o, int write, int *need_write)
{
    int64_t ver;
    uint64_t fv, v;
    sqlite3_stmt *st;
    int rc;

    *need_write = 0;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return fail_db(s, rc, "read schema version");
    rc = step_int(s, st, &ver, "read schema version");
    sqlite3_finalize(st);
    if (rc != STORE_OK)
        return rc;
    if (ver > SCHEMA_VERSION)
        return fail(s, STORE_ERR, "%s: schema version %" PRId64 " is newer than this "
                    "spamshift understands (%d); upgrade spamshift", s->path, ver,
                    SCHEMA_VERSION);
    if (ver < SCHEMA_VERSION) {
        char sql[64];

        if (!write) {
            *need_write = 1;
            return STORE_OK;
        }
        for (int64_t i = ver; i < SCHEMA_VERSION; i++)
            if ((rc = exec(s, migrations[i], "upgrade schema")) != STORE_OK)
                return rc;
        snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", SCHEMA_VERSION);
        if ((rc = exec(s, sql, "upgrade schema")) != STORE_OK)
            return rc;
    }
    if ((rc = meta_uint(s, "features_version", FEATURES_VERSION, UINT32_MAX, write,
                        need_write, &fv)) != STORE_OK)
        return rc;
    if (fv != FEATURES_VERSION)
        return fail(s, STORE_ERR, "%s: feedback was stored with feature version %" PRIu64
                    ", this spamshift extracts version %d; the stored ids cannot be "
                    "reused: start a new store", s->path, fv, FEATURES_VERSION);
    if ((rc = meta_uint(s, "reservoir_size", o->reservoir_size, 1u << 24, write,
                        need_write, &v)) != STORE_OK)
        return rc;
    s->reservoir_size = v > 0 ? (uint32_t)v : 1;
    /* Added after schema 4 without a migration: a store that lacks the
     * setting uses the default (written the next time the store is upgraded
     * or the quota set), so read-only opens of older stores keep working. */
    {
        int ignored;

        if ((rc = meta_uint(s, "feedback_max", o->feedback_max, 1u << 24, write,
                            &ignored, &v)) != STORE_OK)
            return rc;
        s->feedback_max = v > 0 ? (uint32_t)v : 1;
    }
    if ((rc = meta_uint(s, "dirty_samples", o->dirty_samples, UINT32_MAX, write,
                        need_write, &v)) != STORE_OK)
        return rc;
    s->dirty_samples = v > 0 ? (uint32_t)v : 1;
    return meta_uint(s, "seed", o->seed, UINT64_MAX, write, need_write, &s->seed);
}

/* Bring the schema to SCHEMA_VERSION and load the settings.  An up-to-date store
 * is only read, so opening never waits for another process's write lock; an
 * older or new one is upgraded in one write transaction. */
static int
schema_init(struct store *s, const struct store_opts *o)
{
    int need_write, rc;

    if ((rc = exec(s, "BEGIN DEFERRED", "open")) != STORE_OK)
        return rc;
    rc = schema_pass(s, o, 0, &need_write);
    sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != STORE_OK || !need_write)
        return rc;
    if (s->flags & STORE_RDONLY)
        return fail(s, STORE_ERR, "%s: schema is older than version %d; open it once "
                    "for writing to upgrade it", s->path, SCHEMA_VERSION);
    if ((rc = exec(s, "BEGIN IMMEDIATE", "open")) != STORE_OK)
        return rc;
    rc = schema_pass(s, o, 1, &need_write);
    if (rc == STORE_OK)
        return exec(s, "COMMIT", "open");
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* PATH-wal's name in buf; 0, or -1 when it does not fit. */
static int
wal_name(const char *path, char *buf, size_t len)
{
    return (size_t)snprintf(buf, len, "%s-wal", path) < len ? 0 : -1;
}

int
store_open(const char *path, unsigned flags, const struct store_opts *opts,
           struct store **out, char *err, size_t errlen)
{
    struct store_opts def;
    struct store *s;
    struct stat sb;
    int oflags, rc;

    *out = NULL;
    if (opts == NULL) {
        store_opts_default(&def);
        opts = &def;
    }
    if (path == NULL || *path == '\0') {
        snprintf(err, errlen, "no store path given");
        return STORE_ERR;
    }
    if (stat(path, &sb) != 0) {
        int fd;

        if (errno != ENOENT || !(flags & STORE_CREATE) || (flags & STORE_RDONLY)) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return STORE_ERR;
        }
        /* Users' addresses and message features are nobody else's business:
         * the file (and the -wal/-shm files SQLite derives from it) is made
         * 0660, for the milter's user and group, not SQLite's 0644. */
        if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, STORE_FILE_MODE)) < 0 &&
            errno != EEXIST) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            return STORE_ERR;
        }
        if (fd >= 0) {
            /* open(2)'s mode is cut by the umask (a root shell's 022 made
             * 0640, and the milter's group could no longer write). */
            if (fchmod(fd, STORE_FILE_MODE) != 0) {
                snprintf(err, errlen, "%s: chmod: %s", path, strerror(errno));
                close(fd);
                return STORE_ERR;
            }
            close(fd);
        }
    } else if (!S_ISREG(sb.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        return STORE_ERR;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL || (s->path = strdup(path)) == NULL) {
        free(s);
        snprintf(err, errlen, "%s: out of memory", path);
        return STORE_ERR;
    }
    s->flags = flags;
    s->busy_ms = opts->busy_ms;
    s->wal_fd = -1;
    oflags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    if (flags & STORE_RDONLY)
        oflags |= SQLITE_OPEN_READONLY;
    else
        oflags |= SQLITE_OPEN_READWRITE | ((flags & STORE_CREATE) ? SQLITE_OPEN_CREATE : 0);
    rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        int e = s->db != NULL ? sqlite3_system_errno(s->db) : 0;

        snprintf(err, errlen, "%s: cannot open: %s%s%s", path,
                 s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc),
                 e ? ": " : "", e ? strerror(e) : "");
        store_close(s);
        return STORE_ERR;
    }
    sqlite3_busy_handler(s->db, busy_wait, s);
    sqlite3_extended_result_codes(s->db, 1);
    rc = exec(s, "PRAGMA foreign_keys = ON", "open");
    if (rc == STORE_OK && !(flags & STORE_RDONLY))
        rc = exec(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                  "PRAGMA journal_size_limit = " STORE_WAL_LIMIT_SQL, "open");
    if (rc == STORE_OK)
        rc = schema_init(s, opts);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "%s", s->err);
        store_close(s);
        return rc;
    }
    {
        char wal[4096];

        if (wal_name(path, wal, sizeof(wal)) == 0)
            s->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
    }
    *out = s;
    return STORE_OK;
}

struct store *
store_close(struct store *s)
{
    if (s == NULL)
        return NULL;
    if (s->db != NULL) {
        if (s->in_txn || s->in_read)
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        for (int i = 0; i < Q_N; i++)
            sqlite3_finalize(s->stmt[i]);
        sqlite3_close(s->db);
    }
    if (s->wal_fd >= 0)
        close(s->wal_fd);
    free(s->path);
    free(s);
    return NULL;
}

uint32_t
store_reservoir_size(const struct store *s)
{
    return s->reservoir_size;
}

uint32_t
store_dirty_samples(const struct store *s)
{
    return s->dirty_samples;
}

int
store_set_reservoir_size(struct store *s, uint32_t n)
{
    sqlite3_stmt *st;
    int own, rc;

    if (n == 0 || n > (1u << 24))
        return fail(s, STORE_ERR, "reservoir size %u out of range 1..%u", n, 1u << 24);
    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = meta_set(s, "reservoir_size", n);
    if (rc == STORE_OK && (st = stmt(s, Q_RES_TRIM)) == NULL)
        rc = STORE_ERR;
    else if (rc == STORE_OK) {
        sqlite3_bind_int64(st, 1, n);
        rc = step_done(s, st, "shrink reservoir");
    }
    rc = op_end(s, own, rc);
    if (rc == STORE_OK)
        s->reservoir_size = n;
    return rc;
}

uint32_t
store_feedback_max(const struct store *s)
{
    return s->feedback_max;
}

uint64_t
store_feedback_dropped(const struct store *s)
{
    return s->fb_dropped;
}

int
store_set_feedback_max(struct store *s, uint32_t n, uint64_t *dropped)
{
    sqlite3_stmt *st;
    int own, rc;

    if (dropped != NULL)
        *dropped = 0;
    if (n == 0 || n > (1u << 24))
        return fail(s, STORE_ERR, "feedback quota %u out of range 1..%u", n, 1u << 24);
    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = meta_set(s, "feedback_max", n);
    if (rc == STORE_OK && (st = stmt(s, Q_FB_QUOTA_ALL)) == NULL)
        rc = STORE_ERR;
    else if (rc == STORE_OK) {
        sqlite3_bind_int64(st, 1, n);
        rc = step_done(s, st, "apply feedback quota");
        if (rc == STORE_OK && dropped != NULL)
            *dropped = (uint64_t)sqlite3_changes(s->db);
    }
    rc = op_end(s, own, rc);
    if (rc == STORE_OK)
        s->feedback_max = n;
    return rc;
}

int
store_set_dirty_samples(struct store *s, uint32_t n)
{
    int own, rc;

    if (n == 0)
        return fail(s, STORE_ERR, "dirty sample threshold must be at least 1");
    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = op_end(s, own, meta_set(s, "dirty_samples", n));
    if (rc == STORE_OK)
        s->dirty_samples = n;
    return rc;
}

/* ---- users ---- */

int
store_user_valid(const char *user)
{
    size_t len;

    if (user == NULL || (len = strlen(user)) == 0 || len > 320)
        return 0;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

static int
check_user(struct store *s, const char *user)
{
    if (!store_user_valid(user))
        return fail(s, STORE_ERR, "user key must be 1..320 bytes without control "
                    "characters");
    return STORE_OK;
}

int
store_user_lookup(struct store *s, const char *user, int64_t *uid)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = check_user(s, user)) != STORE_OK)
        return rc;
    if ((st = stmt(s, Q_USER_GET)) == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    return step_int(s, st, uid, "look up user");
}

/* Inside a write transaction. */
static int
user_get_or_create(struct store *s, const char *user, int64_t *uid)
{
    sqlite3_stmt *st;
    int rc = store_user_lookup(s, user, uid);

    if (rc != STORE_NOTFOUND)
        return rc;
    if ((st = stmt(s, Q_USER_INSERT)) == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
    if ((rc = step_done(s, st, "create user")) != STORE_OK)
        return rc;
    *uid = sqlite3_last_insert_rowid(s->db);
    return STORE_OK;
}

int
store_user_get_or_create(struct store *s, const char *user, int64_t *uid)
{
    int own, rc;

    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    return op_end(s, own, user_get_or_create(s, user, uid));
}

/* ---- per-user thresholds ---- */

int
store_threshold_get(struct store *s, const char *user, double *spam)
{
    sqlite3_stmt *st;
    int rc;

    if ((rc = check_user(s, user)) != STORE_OK)
        return rc;
    if ((st = stmt(s, Q_THR_GET)) == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *spam = sqlite3_column_double(st, 0);
        sqlite3_reset(st);
        return STORE_OK;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_NOTFOUND : fail_db(s, rc, "read threshold");
}

/* A counter in meta: 0 until it is first set. */
static int
meta_get_u64(struct store *s, const char *key, uint64_t *v)
{
    char buf[32];
    int rc = meta_get(s, key, buf, sizeof(buf));

    *v = 0;
    if (rc == STORE_NOTFOUND)
        return STORE_OK;
    if (rc == STORE_OK)
        *v = strtoull(buf, NULL, 10);
    return rc;
}

/* The thresholds' generation in meta: 0 until the first set. */
static int
threshold_gen(struct store *s, uint64_t *gen)
{
    return meta_get_u64(s, "thresholds_gen", gen);
}

/* Bump the thresholds' generation (inside the caller's operation). */
static int
threshold_bump(struct store *s)
{
    uint64_t gen;
    int rc = threshold_gen(s, &gen);

    return rc == STORE_OK ? meta_set(s, "thresholds_gen", gen + 1) : rc;
}

int
store_threshold_set(struct store *s, const char *user, double spam)
{
    sqlite3_stmt *st;
    int64_t uid;
    int own, rc;

    if (!(spam < 0) && !(spam > 0 && spam < 1))
        return fail(s, STORE_ERR, "spam threshold %g out of range (0, 1)", spam);
    if ((rc = check_user(s, user)) != STORE_OK)
        return rc;
    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = spam < 0 ? store_user_lookup(s, user, &uid) : user_get_or_create(s, user, &uid);
    if (rc == STORE_NOTFOUND)               /* nothing to clear */
        return op_end(s, own, STORE_OK);
    if (rc == STORE_OK && (st = stmt(s, Q_THR_SET)) == NULL)
        rc = STORE_ERR;
    if (rc == STORE_OK) {
        sqlite3_bind_int64(st, 1, uid);
        if (spam < 0)
            sqlite3_bind_null(st, 2);
        else
            sqlite3_bind_double(st, 2, spam);
        rc = step_done(s, st, "set threshold");
    }
    return op_end(s, own, rc == STORE_OK ? threshold_bump(s) : rc);
}

int
store_thresholds_gen(struct store *s, uint64_t *gen)
{
    return threshold_gen(s, gen);
}

/* Rows of (user key, value) from statement id, into *users (NULL-terminated)
 * and *v (what says what for the message). */
static int
key_value_list(struct store *s, enum stmt_id id, const char *what, char ***users,
               double **vals, size_t *n)
{
    sqlite3_stmt *st = stmt(s, id);
    char **k = NULL;
    double *v = NULL;
    size_t len = 0, cap = 0;
    int rc;

    *users = NULL;
    *vals = NULL;
    *n = 0;
    if (st == NULL)
        return STORE_ERR;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len + 1 >= cap) {
            size_t nc = cap ? 2 * cap : 16;
            char **nk = realloc(k, nc * sizeof(*k));
            double *nv = nk != NULL ? realloc(v, nc * sizeof(*v)) : NULL;

            if (nk != NULL)
                k = nk;
            if (nv == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        if ((k[len] = strdup((const char *)sqlite3_column_text(st, 0))) == NULL) {
            rc = SQLITE_NOMEM;
            break;
        }
        v[len++] = sqlite3_column_double(st, 1);
        k[len] = NULL;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        if (k != NULL)
            k[len] = NULL;
        store_strv_free(k);
        free(v);
        return fail_db(s, rc, what);
    }
    if (k == NULL && (k = calloc(1, sizeof(*k))) == NULL)
        return fail(s, STORE_ERR, "%s: out of memory", what);
    *users = k;
    *vals = v;
    *n = len;
    return STORE_OK;
}

int
store_threshold_list(struct store *s, char ***users, double **spam, size_t *n)
{
    return key_value_list(s, Q_THR_LIST, "list thresholds", users, spam, n);
}

/* ---- per-user target false-positive rates ---- */

/* A user's target in meta (no schema change): "target_fpr/" + the key. */
static void
tfpr_key(const char *user, char *buf, size_t len)
{
    snprintf(buf, len, "target_fpr/%s", user);
}

int
store_target_fpr_get(struct store *s, const char *user, double *t)
{
    char key[400], buf[64];
    int rc;

    if ((rc = check_user(s, user)) != STORE_OK)
        return rc;
    tfpr_key(user, key, sizeof(key));
    if ((rc = meta_get(s, key, buf, sizeof(buf))) == STORE_OK)
        *t = strtod(buf, NULL);
    return rc;
}

int
store_target_fpr_set(struct store *s, const char *user, double t)
{
    sqlite3_stmt *st;
    char key[400], buf[64];
    int own, rc;

    if (!(t < 0) && !(t > 0 && t < 1))
        return fail(s, STORE_ERR, "target false-positive rate %g out of range (0, 1)", t);
    if ((rc = check_user(s, user)) != STORE_OK)
        return rc;
    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    tfpr_key(user, key, sizeof(key));
    snprintf(buf, sizeof(buf), "%.17g", t);
    if ((st = stmt(s, t < 0 ? Q_META_DELETE : Q_META_SET)) == NULL)
        rc = STORE_ERR;
    if (rc == STORE_OK) {
        sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
        if (t >= 0)
            sqlite3_bind_text(st, 2, buf, -1, SQLITE_TRANSIENT);
        rc = step_done(s, st, "set target false-positive rate");
    }
    /* The same generation as the thresholds: one poll tells a milter to reread
     * both. */
    return op_end(s, own, rc == STORE_OK ? threshold_bump(s) : rc);
}

int
store_target_fpr_list(struct store *s, char ***users, double **t, size_t *n)
{
    return key_value_list(s, Q_TFPR_LIST, "list target false-positive rates", users, t, n);
}

/* ---- allow and block lists ---- */

int
store_list_set(struct store *s, const char *scope, const char *sender, int action)
{
    sqlite3_stmt *st;
    uint64_t gen;
    int own, rc, changed;

    if (!store_user_valid(scope) || !store_user_valid(sender))
        return fail(s, STORE_ERR, "list scope and sender must be 1..320 bytes without "
                    "control characters");
    if (action != STORE_LIST_NONE && action != STORE_LIST_ALLOW && action != STORE_LIST_BLOCK)
        return fail(s, STORE_ERR, "list action %d is not allow, block or none", action);
    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    st = stmt(s, action == STORE_LIST_NONE ? Q_LIST_DELETE : Q_LIST_PUT);
    if (st == NULL)
        return op_end(s, own, STORE_ERR);
    sqlite3_bind_text(st, 1, scope, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, sender, -1, SQLITE_STATIC);
    if (action != STORE_LIST_NONE) {
        sqlite3_bind_int(st, 3, action);
        sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
    }
    rc = step_done(s, st, "set list entry");
    changed = sqlite3_changes(s->db) > 0;
    if (rc == STORE_OK && changed && (rc = meta_get_u64(s, "lists_gen", &gen)) == STORE_OK)
        rc = meta_set(s, "lists_gen", gen + 1);
    rc = op_end(s, own, rc);
    return rc == STORE_OK && !changed ? STORE_NOTFOUND : rc;
}

int
store_lists_gen(struct store *s, uint64_t *gen)
{
    return meta_get_u64(s, "lists_gen", gen);
}

int
store_list_all(struct store *s, struct store_list_entry **out, size_t *n)
{
    sqlite3_stmt *st = stmt(s, Q_LIST_ALL);
    struct store_list_entry *v = NULL;
    size_t len = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (st == NULL)
        return STORE_ERR;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_list_entry *e;

        if (len == cap) {
            size_t nc = cap ? 2 * cap : 16;
            struct store_list_entry *nv = realloc(v, nc * sizeof(*v));

            if (nv == NULL) {
                rc = SQLITE_NOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        e = &v[len];
        e->scope = strdup((const char *)sqlite3_column_text(st, 0));
        e->sender = strdup((const char *)sqlite3_column_text(st, 1));
        e->action = sqlite3_column_int(st, 2);
        e->added = sqlite3_column_int64(st, 3);
        len++;
        if (e->scope == NULL || e->sender == NULL) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        store_list_free(v, len);
        return rc == SQLITE_NOMEM ? fail(s, STORE_ERR, "list entries: out of memory")
                                  : fail_db(s, rc, "list entries");
    }
    *out = v;
    *n = len;
    return STORE_OK;
}

void
store_list_free(struct store_list_entry *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        free(v[i].scope);
        free(v[i].sender);
    }
    free(v);
}

/* ---- feedback ---- */

/* Bind ids as (n, blob) at parameters col, col + 1. */
static int
bind_ids(struct store *s, sqlite3_stmt *st, int col, const uint32_t *ids, size_t n)
{
    uint8_t *buf;
    size_t len;

    if (n > UINT32_MAX / 8)
        return fail(s, STORE_ERR, "too many feature ids (%zu)", n);
    if ((buf = malloc(IDPACK_MAX_LEN(n) + 1)) == NULL)
        return fail(s, STORE_ERR, "out of memory");
    len = idpack_encode(ids, n, buf);
    if (len == (size_t)-1) {
        free(buf);
        return fail(s, STORE_ERR, "feature ids are not sorted and unique");
    }
    sqlite3_bind_int64(st, col, (int64_t)n);
    sqlite3_bind_blob(st, col + 1, buf, (int)len, free);
    return STORE_OK;
}

static int
bump_fb_gen(struct store *s, int64_t uid)
{
    sqlite3_stmt *st = stmt(s, Q_USER_BUMP_FB);

    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    return step_done(s, st, "mark user dirty");
}

static int
feedback_put(struct store *s, const char *user, const uint8_t *digest, int spam,
             const uint32_t *ids, size_t n, enum store_change *chg)
{
    sqlite3_stmt *st;
    int64_t uid, old;
    int rc;

    if ((rc = user_get_or_create(s, user, &uid)) != STORE_OK)
        return rc;
    if ((st = stmt(s, Q_FB_GET)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_blob(st, 2, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    rc = step_int(s, st, &old, "read feedback");
    if (rc < 0)
        return rc;
    if (rc == STORE_OK && old == spam) {
        *chg = STORE_UNCHANGED;
        return STORE_OK;
    }
    *chg = rc == STORE_OK ? STORE_MOVED : STORE_LEARNED;
    if ((st = stmt(s, rc == STORE_OK ? Q_FB_MOVE : Q_FB_INSERT)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_blob(st, 2, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, spam);
    if ((rc = bind_ids(s, st, 4, ids, n)) != STORE_OK)
        return rc;
    sqlite3_bind_int64(st, 6, (int64_t)time(NULL));
    if ((rc = step_done(s, st, "write feedback")) != STORE_OK)
        return rc;
    if (*chg == STORE_LEARNED) {
        /* The user's quota: the oldest feedback goes, never the row just
         * written (issue 6: no user grows the store without bound). */
        if ((st = stmt(s, Q_FB_QUOTA)) == NULL)
            return STORE_ERR;
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_int64(st, 2, s->feedback_max);
        sqlite3_bind_blob(st, 3, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
        if ((rc = step_done(s, st, "apply feedback quota")) != STORE_OK)
            return rc;
        s->fb_dropped += (uint64_t)sqlite3_changes(s->db);
    }
    return bump_fb_gen(s, uid);
}

int
store_feedback_put(struct store *s, const char *user,
                   const uint8_t digest[STORE_DIGEST_LEN], int spam,
                   const uint32_t *ids, size_t n, enum store_change *chg)
{
    enum store_change c = STORE_UNCHANGED;
    int own, rc;

    if (spam != 0 && spam != 1)
        return fail(s, STORE_ERR, "label must be 0 (ham) or 1 (spam), got %d", spam);
    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = op_end(s, own, feedback_put(s, user, digest, spam, ids, n, &c));
    if (chg != NULL)
        *chg = c;
    return rc;
}

static int
feedback_forget(struct store *s, const char *user, const uint8_t *digest,
                enum store_change *chg)
{
    sqlite3_stmt *st;
    int64_t uid;
    int rc = store_user_lookup(s, user, &uid);

    *chg = STORE_UNCHANGED;
    if (rc == STORE_NOTFOUND)
        return STORE_OK;
    if (rc != STORE_OK)
        return rc;
    if ((st = stmt(s, Q_FB_DELETE)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_blob(st, 2, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    if ((rc = step_done(s, st, "forget feedback")) != STORE_OK)
        return rc;
    if (sqlite3_changes(s->db) == 0)
        return STORE_OK;
    *chg = STORE_FORGOTTEN;
    return bump_fb_gen(s, uid);
}

int
store_feedback_forget(struct store *s, const char *user,
                      const uint8_t digest[STORE_DIGEST_LEN], enum store_change *chg)
{
    enum store_change c = STORE_UNCHANGED;
    int own, rc;

    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = op_end(s, own, feedback_forget(s, user, digest, &c));
    if (chg != NULL)
        *chg = c;
    return rc;
}

/* ---- reservoir ---- */

static uint64_t
splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static int
reservoir_offer(struct store *s, const char *user, const uint8_t *digest,
                const uint32_t *ids, size_t n, int *kept)
{
    sqlite3_stmt *st;
    int64_t uid, seen, dummy, slot;
    int rc;

    *kept = 0;
    if ((rc = user_get_or_create(s, user, &uid)) != STORE_OK)
        return rc;
    if ((st = stmt(s, Q_RES_HAS)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_blob(st, 2, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    rc = step_int(s, st, &dummy, "read reservoir");
    if (rc != STORE_NOTFOUND)
        return rc;              /* already sampled (STORE_OK), or an error */
    if ((st = stmt(s, Q_USER_SEEN)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    if ((rc = step_int(s, st, &seen, "read user")) != STORE_OK)
        return rc < 0 ? rc : fail(s, STORE_ERR, "user vanished");
    seen++;
    if ((st = stmt(s, Q_USER_SET_SEEN)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, seen);
    if ((rc = step_done(s, st, "count sample")) != STORE_OK)
        return rc;
    /* Algorithm R: the first k fill the slots; the i-th replaces a random slot with
     * probability k/i. */
    if (seen <= (int64_t)s->reservoir_size)
        slot = seen - 1;
    else {
        uint64_t r = splitmix64(s->seed ^ splitmix64((uint64_t)uid) ^
                                splitmix64((uint64_t)seen * 0x2545f4914f6cdd1dULL));
        slot = (int64_t)(r % (uint64_t)seen);
        if (slot >= (int64_t)s->reservoir_size)
            return STORE_OK;
    }
    if ((st = stmt(s, Q_RES_PUT)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, slot);
    sqlite3_bind_blob(st, 3, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
    if ((rc = bind_ids(s, st, 4, ids, n)) != STORE_OK)
        return rc;
    sqlite3_bind_int64(st, 6, (int64_t)time(NULL));
    if ((rc = step_done(s, st, "write sample")) != STORE_OK)
        return rc;
    *kept = 1;
    return STORE_OK;
}

int
store_reservoir_offer(struct store *s, const char *user,
                      const uint8_t digest[STORE_DIGEST_LEN],
                      const uint32_t *ids, size_t n, int *kept)
{
    int own, rc, k = 0;

    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = op_end(s, own, reservoir_offer(s, user, digest, ids, n, &k));
    if (kept != NULL)
        *kept = rc == STORE_OK ? k : 0;
    return rc;
}

/* ---- reading ---- */

int
store_user_state(struct store *s, const char *user, struct store_user_state *us)
{
    sqlite3_stmt *st;
    int rc;

    memset(us, 0, sizeof(*us));
    if ((rc = check_user(s, user)) != STORE_OK)
        return rc;
    if ((st = stmt(s, Q_STATE)) == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
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
    return rc == SQLITE_DONE ? STORE_NOTFOUND : fail_db(s, rc, "read user");
}

void
store_samples_free(struct store_samples *ss)
{
    if (ss == NULL)
        return;
    free(ss->v);
    free(ss->arena);
    free(ss->rep_arena);
    memset(ss, 0, sizeof(*ss));
}

#define REP_MAX 1024            /* floats in one cached representation */

/* Little-endian float32 on disk whatever the host. */
static void
put_f32le(uint8_t *p, float f)
{
    uint32_t u;

    memcpy(&u, &f, 4);
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
}

static float
get_f32le(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    float f;

    memcpy(&f, &u, 4);
    return f;
}

/* Read (digest, spam, n, ids, rep) rows into *out.  The arenas grow while
 * reading, so samples record offsets first and become pointers at the end.
 * A cached representation of a bad length is ignored (recomputed by the
 * caller), not an error. */
static int
list_samples(struct store *s, enum stmt_id id, const char *user, const char *model_id,
             struct store_samples *out)
{
    size_t cap = 0, acap = 0, aused = 0, rcap = 0, rused = 0;
    sqlite3_stmt *st;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = check_user(s, user)) != STORE_OK)
        return rc;
    if ((st = stmt(s, id)) == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    if (model_id != NULL)
        sqlite3_bind_text(st, 2, model_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct store_sample *sm;
        const uint8_t *rep = sqlite3_column_blob(st, 4);
        int rlen = sqlite3_column_bytes(st, 4);
        const void *dg = sqlite3_column_blob(st, 0);
        int dlen = sqlite3_column_bytes(st, 0);
        int64_t n = sqlite3_column_int64(st, 2);
        const uint8_t *blob = sqlite3_column_blob(st, 3);
        int blen = sqlite3_column_bytes(st, 3);

        if (dlen != STORE_DIGEST_LEN || n < 0 || n > blen) {
            rc = fail(s, STORE_ERR, "%s: corrupt row for user %s", s->path, user);
            goto fail;
        }
        if (out->n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            void *p = realloc(out->v, nc * sizeof(*out->v));

            if (p == NULL)
                goto nomem;
            out->v = p;
            cap = nc;
        }
        if (aused + (size_t)n > acap) {
            size_t nc = acap ? acap * 2 : 4096;
            void *p;

            while (nc < aused + (size_t)n)
                nc *= 2;
            if ((p = realloc(out->arena, nc * sizeof(uint32_t))) == NULL)
                goto nomem;
            out->arena = p;
            acap = nc;
        }
        if (idpack_decode(blob, (size_t)blen, out->arena + aused, (size_t)n) != 0) {
            rc = fail(s, STORE_ERR, "%s: corrupt feature ids for user %s", s->path, user);
            goto fail;
        }
        sm = &out->v[out->n++];
        memcpy(sm->digest, dg, STORE_DIGEST_LEN);
        sm->spam = (uint8_t)sqlite3_column_int(st, 1);
        sm->n = (uint32_t)n;
        sm->ids = (uint32_t *)(uintptr_t)aused;     /* an offset until the end */
        aused += (size_t)n;
        sm->rep = NULL;
        sm->rep_len = 0;
        if (rep != NULL && rlen > 0 && rlen % 4 == 0 && rlen / 4 <= REP_MAX) {
            size_t k = (size_t)rlen / 4;

            if (rused + k > rcap) {
                size_t nc = rcap ? rcap * 2 : 1024;
                void *p;

                while (nc < rused + k)
                    nc *= 2;
                if ((p = realloc(out->rep_arena, nc * sizeof(float))) == NULL)
                    goto nomem;
                out->rep_arena = p;
                rcap = nc;
            }
            for (size_t j = 0; j < k; j++)
                out->rep_arena[rused + j] = get_f32le(rep + 4 * j);
            sm->rep = (const float *)(uintptr_t)(rused + 1);   /* offset + 1 */
            sm->rep_len = (uint32_t)k;
            rused += k;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        rc = fail_db(s, rc, "read samples");
        store_samples_free(out);
        return rc;
    }
    for (size_t i = 0; i < out->n; i++) {
        out->v[i].ids = out->arena + (uintptr_t)out->v[i].ids;
        if (out->v[i].rep != NULL)
            out->v[i].rep = out->rep_arena + ((uintptr_t)out->v[i].rep - 1);
    }
    return STORE_OK;
nomem:
    rc = fail(s, STORE_ERR, "out of memory reading samples");
fail:
    sqlite3_reset(st);
    store_samples_free(out);
    return rc;
}

int
store_feedback_list(struct store *s, const char *user, const char *model_id,
                     struct store_samples *out)
{
    return list_samples(s, Q_FB_LIST, user, model_id, out);
}

int
store_reservoir_list(struct store *s, const char *user, const char *model_id,
                     struct store_samples *out)
{
    return list_samples(s, Q_RES_LIST, user, model_id, out);
}

static int
reps_put(struct store *s, const char *user, enum store_kind kind, const char *model_id,
         const uint8_t (*digest)[STORE_DIGEST_LEN], const float *rep, uint32_t dim,
         size_t n)
{
    sqlite3_stmt *st;
    uint8_t *buf;
    int64_t uid;
    int rc = store_user_lookup(s, user, &uid);

    if (rc != STORE_OK)
        return rc == STORE_NOTFOUND ? STORE_OK : rc;
    if ((buf = malloc((size_t)dim * 4)) == NULL)
        return fail(s, STORE_ERR, "out of memory");
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        for (uint32_t j = 0; j < dim; j++)
            put_f32le(buf + 4 * j, rep[i * dim + j]);
        if ((st = stmt(s, kind == STORE_FEEDBACK ? Q_FB_REP : Q_RES_REP)) == NULL) {
            rc = STORE_ERR;
            break;
        }
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_blob(st, 2, digest[i], STORE_DIGEST_LEN, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, buf, (int)dim * 4, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, model_id, -1, SQLITE_STATIC);
        rc = step_done(s, st, "cache representation");
    }
    free(buf);
    return rc;
}

int
store_reps_put(struct store *s, const char *user, enum store_kind kind,
               const char *model_id, const uint8_t (*digest)[STORE_DIGEST_LEN],
               const float *rep, uint32_t dim, size_t n)
{
    int own, rc;

    if (model_id == NULL || dim == 0 || dim > REP_MAX)
        return fail(s, STORE_ERR, "representations need a model id and 1..%d floats",
                    REP_MAX);
    if (n == 0)
        return STORE_OK;
    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    return op_end(s, own, reps_put(s, user, kind, model_id, digest, rep, dim, n));
}

/* *blob := a malloc'd copy of column col of the current row (at least one
 * byte allocated), *len its length.  -1 when out of memory. */
static int
column_blob_copy(sqlite3_stmt *st, int col, void **blob, size_t *len)
{
    const void *b = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);

    if ((*blob = malloc(n > 0 ? (size_t)n : 1)) == NULL)
        return -1;
    if (n > 0)
        memcpy(*blob, b, (size_t)n);
    *len = (size_t)n;
    return 0;
}

/* ---- the refit's cache ---- */

int
store_fitcache_get(struct store *s, const char *user, const char *model_id,
                   uint64_t *seen, void **blob, size_t *len)
{
    sqlite3_stmt *st;
    const char *mid;
    int rc;

    *blob = NULL;
    *len = 0;
    *seen = 0;
    if ((rc = check_user(s, user)) != STORE_OK)
        return rc;
    if ((st = stmt(s, Q_FC_GET)) == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? STORE_NOTFOUND : fail_db(s, rc, "read fit cache");
    }
    mid = (const char *)sqlite3_column_text(st, 0);
    if (model_id == NULL || mid == NULL || strcmp(mid, model_id) != 0) {
        sqlite3_reset(st);
        return STORE_NOTFOUND;
    }
    *seen = (uint64_t)sqlite3_column_int64(st, 1);
    if (column_blob_copy(st, 2, blob, len) != 0) {
        sqlite3_reset(st);
        return fail(s, STORE_ERR, "out of memory reading fit cache");
    }
    sqlite3_reset(st);
    return STORE_OK;
}

static int
fitcache_put(struct store *s, const char *user, const char *model_id, uint64_t seen,
             const void *blob, size_t len)
{
    sqlite3_stmt *st;
    int64_t uid;
    int rc = store_user_lookup(s, user, &uid);

    if (rc != STORE_OK)
        return rc == STORE_NOTFOUND ? STORE_OK : rc;
    if ((st = stmt(s, Q_FC_PUT)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_text(st, 2, model_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)seen);
    sqlite3_bind_blob(st, 4, blob, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
    return step_done(s, st, "write fit cache");
}

int
store_fitcache_put(struct store *s, const char *user, const char *model_id,
                   uint64_t seen, const void *blob, size_t len)
{
    int own, rc;

    if (model_id == NULL || blob == NULL || len == 0 || len > (size_t)INT32_MAX)
        return fail(s, STORE_ERR, "a fit cache needs a model id and a blob");
    if ((rc = check_user(s, user)) != STORE_OK)
        return rc;
    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    return op_end(s, own, fitcache_put(s, user, model_id, seen, blob, len));
}

/* ---- heads ---- */

int
store_head_get(struct store *s, const char *user, const char *model_id,
               uint64_t have_version, void **blob, size_t *len, uint64_t *version)
{
    sqlite3_stmt *st;
    const char *mid;
    int rc;

    *blob = NULL;
    *len = 0;
    *version = 0;
    if ((rc = check_user(s, user)) != STORE_OK)
        return rc;
    if ((st = stmt(s, Q_HEAD_GET)) == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? STORE_NOTFOUND : fail_db(s, rc, "read head");
    }
    mid = (const char *)sqlite3_column_text(st, 1);
    if (model_id != NULL && (mid == NULL || strcmp(mid, model_id) != 0)) {
        sqlite3_reset(st);
        return STORE_NOTFOUND;
    }
    *version = (uint64_t)sqlite3_column_int64(st, 0);
    if (*version != have_version && column_blob_copy(st, 2, blob, len) != 0) {
        sqlite3_reset(st);
        return fail(s, STORE_ERR, "out of memory reading head");
    }
    sqlite3_reset(st);
    return STORE_OK;
}

static int
head_publish(struct store *s, const char *user, const char *model_id,
             const void *blob, size_t len, const struct store_user_state *from,
             const struct store_refit *rec, uint64_t *version)
{
    sqlite3_stmt *st;
    int64_t uid, v, fbg, seen;
    int rc = store_user_lookup(s, user, &uid);

    if (rc == STORE_NOTFOUND)
        return fail(s, STORE_ERR, "%s: no user %s to publish for", s->path, user);
    if (rc != STORE_OK)
        return rc;
    if (uid != from->uid)
        return fail(s, STORE_ERR, "%s: user %s does not match the loaded state",
                    s->path, user);
    if ((st = stmt(s, Q_REFIT_MARKS)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return fail_db(s, rc, "read refit marks");
    }
    fbg = sqlite3_column_int64(st, 0);
    seen = sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    if ((uint64_t)fbg > from->fb_gen || (uint64_t)seen > from->seen)
        return fail(s, STORE_STALE, "%s: a newer model of %s was published meanwhile",
                    s->path, user);
    if ((st = stmt(s, Q_HEAD_VERSION)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    rc = step_int(s, st, &v, "read head version");
    if (rc < 0)
        return rc;
    v = rc == STORE_NOTFOUND ? 1 : v + 1;
    if ((st = stmt(s, Q_HEAD_PUT)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, v);
    sqlite3_bind_text(st, 3, model_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, blob, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
    if ((rc = step_done(s, st, "write head")) != STORE_OK)
        return rc;
    if ((st = stmt(s, Q_USER_SET_REFIT)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, (int64_t)from->fb_gen);
    sqlite3_bind_int64(st, 3, (int64_t)from->seen);
    if ((rc = step_done(s, st, "write refit marks")) != STORE_OK)
        return rc;
    if ((st = stmt(s, Q_REFIT_INSERT)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
    sqlite3_bind_int64(st, 3, v);
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
    if ((rc = step_done(s, st, "write refit record")) != STORE_OK)
        return rc;
    if (version != NULL)
        *version = (uint64_t)v;
    return STORE_OK;
}

int
store_head_publish(struct store *s, const char *user, const char *model_id,
                   const void *blob, size_t len, const struct store_user_state *from,
                   const struct store_refit *rec, uint64_t *version)
{
    int own, rc;

    if (model_id == NULL || blob == NULL || len == 0 || len > INT32_MAX)
        return fail(s, STORE_ERR, "publish: no model id or empty blob");
    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    return op_end(s, own, head_publish(s, user, model_id, blob, len, from, rec, version));
}

int
store_refit_last(struct store *s, const char *user, struct store_refit *rec,
                 uint64_t *version, int64_t *at)
{
    sqlite3_stmt *st;
    int rc;

    memset(rec, 0, sizeof(*rec));
    *version = 0;
    *at = 0;
    if ((rc = check_user(s, user)) != STORE_OK)
        return rc;
    if ((st = stmt(s, Q_REFIT_LAST)) == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? STORE_NOTFOUND : fail_db(s, rc, "read refit log");
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

static int collect_keys(struct store *s, sqlite3_stmt *st, char ***users, size_t *n);

int
store_refits_since(struct store *s, int64_t after, char ***users, size_t *n,
                   int64_t *last)
{
    sqlite3_stmt *st;
    int64_t max;
    int rc;

    *users = NULL;
    *n = 0;
    /* The upper bound read first keeps the list and *last consistent when refits
     * are appended meanwhile: those are picked up next time. */
    if ((st = stmt(s, Q_REFIT_MAX)) == NULL)
        return STORE_ERR;
    if ((rc = step_int(s, st, &max, "read refit log")) != STORE_OK)
        return rc < 0 ? rc : fail(s, STORE_ERR, "read refit log: no row");
    *last = max;
    if (after < 0 || after >= max) {
        char **v = calloc(1, sizeof(*v));

        if (v == NULL)
            return fail(s, STORE_ERR, "out of memory");
        *users = v;
        return STORE_OK;
    }
    if ((st = stmt(s, Q_REFIT_SINCE)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, after);
    sqlite3_bind_int64(st, 2, max);
    return collect_keys(s, st, users, n);
}

/* ---- user lists ---- */

char **
store_strv_free(char **v)
{
    if (v != NULL) {
        for (char **p = v; *p != NULL; p++)
            free(*p);
        free(v);
    }
    return NULL;
}

static int
collect_keys(struct store *s, sqlite3_stmt *st, char ***users, size_t *n)
{
    size_t cap = 16, k = 0;
    char **v = malloc(cap * sizeof(*v));
    int rc;

    if (v == NULL) {
        sqlite3_reset(st);
        return fail(s, STORE_ERR, "out of memory");
    }
    v[0] = NULL;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);

        if (k + 1 == cap) {
            char **p = realloc(v, cap * 2 * sizeof(*v));

            if (p == NULL)
                break;
            v = p;
            cap *= 2;
        }
        if ((v[k] = strdup(key != NULL ? key : "")) == NULL)
            break;
        v[++k] = NULL;
    }
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) {
        store_strv_free(v);
        return fail(s, STORE_ERR, "out of memory listing users");
    }
    if (rc != SQLITE_DONE) {
        store_strv_free(v);
        return fail_db(s, rc, "list users");
    }
    *users = v;
    *n = k;
    return STORE_OK;
}

int
store_dirty_list(struct store *s, const char *model_id, size_t max, char ***users,
                 size_t *n)
{
    sqlite3_stmt *st = stmt(s, Q_DIRTY);

    *users = NULL;
    *n = 0;
    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, s->dirty_samples);
    if (model_id != NULL)
        sqlite3_bind_text(st, 2, model_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, max == 0 || max > INT64_MAX ? -1 : (int64_t)max);
    return collect_keys(s, st, users, n);
}

int
store_user_list(struct store *s, char ***users, size_t *n)
{
    sqlite3_stmt *st = stmt(s, Q_USERS);

    *users = NULL;
    *n = 0;
    if (st == NULL)
        return STORE_ERR;
    return collect_keys(s, st, users, n);
}

int
store_head_recent(struct store *s, const char *model_id, size_t max, char ***users,
                  size_t *n)
{
    sqlite3_stmt *st = stmt(s, Q_HEADS_RECENT);

    *users = NULL;
    *n = 0;
    if (st == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, model_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, max > 0 && max < INT64_MAX ? (sqlite3_int64)max : -1);
    return collect_keys(s, st, users, n);
}

/* ---- counters ---- */

static int
counter_add(struct store *s, const char *user, const char *name, int64_t delta)
{
    sqlite3_stmt *st;
    int64_t uid;
    int rc;

    if (name == NULL || *name == '\0' || strlen(name) > 64)
        return fail(s, STORE_ERR, "counter name must be 1..64 bytes");
    if ((rc = user_get_or_create(s, user, &uid)) != STORE_OK)
        return rc;
    if ((st = stmt(s, Q_COUNTER_ADD)) == NULL)
        return STORE_ERR;
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, delta);
    return step_done(s, st, "update counter");
}

int
store_counter_add(struct store *s, const char *user, const char *name, int64_t delta)
{
    int own, rc;

    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    return op_end(s, own, counter_add(s, user, name, delta));
}

int
store_counter_get(struct store *s, const char *user, const char *name, int64_t *value)
{
    sqlite3_stmt *st;
    int rc;

    *value = 0;
    if ((rc = check_user(s, user)) != STORE_OK)
        return rc;
    if (name == NULL)
        return fail(s, STORE_ERR, "no counter name");
    if ((st = stmt(s, Q_COUNTER_GET)) == NULL)
        return STORE_ERR;
    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    return step_int(s, st, value, "read counter");
}

/* ---- scan records and statistics ---- */

#define DAY 86400

double
store_scan_bucket_ms(int b)
{
    return 0.05 * pow(1.3, b + 1);
}

static int
scan_bucket(double ms)
{
    int b = 0;

    while (b < STORE_SCAN_HIST - 1 && ms > store_scan_bucket_ms(b))
        b++;
    return b;
}

static void
hist_read(const void *blob, int len, uint32_t *hist)
{
    const unsigned char *p = blob;

    memset(hist, 0, STORE_SCAN_HIST * sizeof(*hist));
    for (int b = 0; p != NULL && b < STORE_SCAN_HIST && 4 * (b + 1) <= len; b++)
        hist[b] = (uint32_t)p[4 * b] | (uint32_t)p[4 * b + 1] << 8
                  | (uint32_t)p[4 * b + 2] << 16 | (uint32_t)p[4 * b + 3] << 24;
}

static int
scan_record(struct store *s, const char *user, const uint8_t *digest, float score,
            int verdict, double ms, int64_t at)
{
    static const char *const day_sql =
        "SELECT hist FROM scan_days WHERE user_id = ?1 AND day = ?2";
    static const char *const day_put =
        "INSERT INTO scan_days(user_id, day, scanned, tagged, quarantined, rejected,"
        " skipped, errors, ms_sum, hist) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        " ON CONFLICT(user_id, day) DO UPDATE SET scanned = scanned + excluded.scanned,"
        " tagged = tagged + excluded.tagged, quarantined = quarantined + excluded.quarantined,"
        " rejected = rejected + excluded.rejected, skipped = skipped + excluded.skipped,"
        " errors = errors + excluded.errors, ms_sum = ms_sum + excluded.ms_sum,"
        " hist = excluded.hist";
    static const char *const scan_put =
        "INSERT OR REPLACE INTO scans(user_id, digest, at, score, verdict)"
        " VALUES (?1, ?2, ?3, ?4, ?5)";
    uint32_t hist[STORE_SCAN_HIST];
    unsigned char blob[4 * STORE_SCAN_HIST];
    int scored = verdict >= STORE_V_PASS && verdict <= STORE_V_REJECT;
    int64_t uid, day = at - at % DAY;
    sqlite3_stmt *st = NULL;
    int rc;

    if (verdict < 0 || verdict >= STORE_V_N)
        return fail(s, STORE_ERR, "unknown verdict %d", verdict);
    if (!(ms >= 0) || !(score >= 0 && score <= 1))
        return fail(s, STORE_ERR, "scan time or score out of range");
    if ((rc = user_get_or_create(s, user, &uid)) != STORE_OK)
        return rc;
    if (sqlite3_prepare_v2(s->db, day_sql, -1, &st, NULL) != SQLITE_OK)
        return fail_db(s, sqlite3_errcode(s->db), "read scan counters");
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, day);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        hist_read(sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0), hist);
    else if (rc == SQLITE_DONE)
        memset(hist, 0, sizeof(hist));
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail_db(s, rc, "read scan counters");
    if (scored)
        hist[scan_bucket(ms)]++;
    for (int b = 0; b < STORE_SCAN_HIST; b++) {
        blob[4 * b] = (unsigned char)hist[b];
        blob[4 * b + 1] = (unsigned char)(hist[b] >> 8);
        blob[4 * b + 2] = (unsigned char)(hist[b] >> 16);
        blob[4 * b + 3] = (unsigned char)(hist[b] >> 24);
    }
    if (sqlite3_prepare_v2(s->db, day_put, -1, &st, NULL) != SQLITE_OK)
        return fail_db(s, sqlite3_errcode(s->db), "write scan counters");
    sqlite3_bind_int64(st, 1, uid);
    sqlite3_bind_int64(st, 2, day);
    sqlite3_bind_int(st, 3, scored);
    sqlite3_bind_int(st, 4, verdict == STORE_V_TAG);
    sqlite3_bind_int(st, 5, verdict == STORE_V_QUARANTINE);
    sqlite3_bind_int(st, 6, verdict == STORE_V_REJECT);
    sqlite3_bind_int(st, 7, verdict == STORE_V_SKIPPED);
    sqlite3_bind_int(st, 8, verdict == STORE_V_ERROR);
    sqlite3_bind_double(st, 9, scored ? ms : 0);
    sqlite3_bind_blob(st, 10, blob, sizeof(blob), SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return fail_db(s, rc, "write scan counters");
    if (digest != NULL && scored) {
        if (sqlite3_prepare_v2(s->db, scan_put, -1, &st, NULL) != SQLITE_OK)
            return fail_db(s, sqlite3_errcode(s->db), "write scan record");
        sqlite3_bind_int64(st, 1, uid);
        sqlite3_bind_blob(st, 2, digest, STORE_DIGEST_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, at);
        sqlite3_bind_double(st, 4, score);
        sqlite3_bind_int(st, 5, verdict);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return fail_db(s, rc, "write scan record");
    }
    if (at - s->scans_expired >= 3600) {
        if (sqlite3_prepare_v2(s->db, "DELETE FROM scans WHERE at < ?1", -1, &st, NULL)
                != SQLITE_OK)
            return fail_db(s, sqlite3_errcode(s->db), "expire scan records");
        sqlite3_bind_int64(st, 1, at - (int64_t)STORE_SCAN_KEEP_DAYS * DAY);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return fail_db(s, rc, "expire scan records");
        s->scans_expired = at;
    }
    return STORE_OK;
}

int
store_scan_record(struct store *s, const char *user, const uint8_t *digest, float score,
                  int verdict, double ms, int64_t at)
{
    int own, rc;

    if ((rc = op_begin(s, &own)) != STORE_OK)
        return rc;
    return op_end(s, own, scan_record(s, user, digest, score, verdict, ms, at));
}

void
store_user_stats_free(struct store_user_stats *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i].user);
    free(v);
}

/* Index of user id uid in v[0..n) (sorted by ids[]), or -1. */
static long
stats_find(const int64_t *ids, size_t n, int64_t uid)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ids[mid] < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && ids[lo] == uid ? (long)lo : -1;
}

int
store_user_stats(struct store *s, const char *user, int64_t since,
                 struct store_user_stats **out, size_t *n_out)
{
    static const char *const q[] = {
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
    struct store_user_stats *v = NULL;
    int64_t *ids = NULL;
    size_t n = 0, cap = 0;
    int rc = STORE_OK, r;

    *out = NULL;
    *n_out = 0;
    if (user != NULL && (rc = check_user(s, user)) != STORE_OK)
        return rc;
    if ((rc = store_begin_read(s)) != STORE_OK)
        return rc;
    for (size_t k = 0; k < sizeof(q) / sizeof(q[0]) && rc == STORE_OK; k++) {
        sqlite3_stmt *st;

        if (sqlite3_prepare_v2(s->db, q[k], -1, &st, NULL) != SQLITE_OK) {
            rc = fail_db(s, sqlite3_errcode(s->db), "read statistics");
            break;
        }
        if (user != NULL)
            sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
        if (k > 0)
            sqlite3_bind_int64(st, 2, since);
        while ((r = sqlite3_step(st)) == SQLITE_ROW) {
            int64_t uid = sqlite3_column_int64(st, 0);
            struct store_user_stats *u;
            long i;

            if (k == 0) {
                if (n == cap) {
                    size_t nc = cap ? 2 * cap : 256;
                    void *nv = realloc(v, nc * sizeof(*v)), *ni;
                    if (nv == NULL) {
                        rc = fail(s, STORE_ERR, "out of memory");
                        break;
                    }
                    v = nv;
                    if ((ni = realloc(ids, nc * sizeof(*ids))) == NULL) {
                        rc = fail(s, STORE_ERR, "out of memory");
                        break;
                    }
                    ids = ni;
                    cap = nc;
                }
                memset(&v[n], 0, sizeof(v[n]));
                if ((v[n].user = strdup((const char *)sqlite3_column_text(st, 1))) == NULL) {
                    rc = fail(s, STORE_ERR, "out of memory");
                    break;
                }
                ids[n++] = uid;
                continue;
            }
            if ((i = stats_find(ids, n, uid)) < 0)
                continue;
            u = &v[i];
            switch (k) {
            case 1: {
                uint32_t h[STORE_SCAN_HIST];

                u->scanned += sqlite3_column_int64(st, 1);
                u->tagged += sqlite3_column_int64(st, 2);
                u->quarantined += sqlite3_column_int64(st, 3);
                u->rejected += sqlite3_column_int64(st, 4);
                u->skipped += sqlite3_column_int64(st, 5);
                u->errors += sqlite3_column_int64(st, 6);
                u->ms_sum += sqlite3_column_double(st, 7);
                hist_read(sqlite3_column_blob(st, 8), sqlite3_column_bytes(st, 8), h);
                for (int b = 0; b < STORE_SCAN_HIST; b++)
                    u->hist[b] += h[b];
                break;
            }
            case 2:
                if (sqlite3_column_int(st, 1)) {
                    u->fb_spam = sqlite3_column_int64(st, 2);
                    u->learned_spam = sqlite3_column_int64(st, 3);
                } else {
                    u->fb_ham = sqlite3_column_int64(st, 2);
                    u->learned_ham = sqlite3_column_int64(st, 3);
                }
                break;
            case 3:
                if (sqlite3_column_int(st, 1))
                    u->matched_spam = sqlite3_column_int64(st, 2);
                else
                    u->matched_ham = sqlite3_column_int64(st, 2);
                u->fp += sqlite3_column_int64(st, 3);
                u->fn += sqlite3_column_int64(st, 4);
                break;
            case 4:
                u->refits = sqlite3_column_int64(st, 1);
                break;
            case 5:
                u->has_refit = 1;
                u->version = (uint64_t)sqlite3_column_int64(st, 1);
                u->refit_at = sqlite3_column_int64(st, 2);
                u->last.n_feedback = (uint32_t)sqlite3_column_int64(st, 3);
                u->last.n_unlabelled = (uint32_t)sqlite3_column_int64(st, 4);
                u->last.domain_auc = sqlite3_column_double(st, 5);
                u->last.ess = sqlite3_column_double(st, 6);
                u->last.cv_err_before = sqlite3_column_type(st, 7) == SQLITE_NULL ? -1
                                        : sqlite3_column_double(st, 7);
                u->last.cv_err_after = sqlite3_column_type(st, 8) == SQLITE_NULL ? -1
                                       : sqlite3_column_double(st, 8);
                u->last.ms = sqlite3_column_double(st, 9);
                break;
            }
        }
        if (rc == STORE_OK && r != SQLITE_DONE)
            rc = fail_db(s, r, "read statistics");
        sqlite3_finalize(st);
    }
    store_end_read(s);
    free(ids);
    if (rc != STORE_OK) {
        store_user_stats_free(v, n);
        return rc;
    }
    /* Key order for the reader; ids were only for joining. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(v[j - 1].user, v[j].user) > 0; j--) {
            struct store_user_stats t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    *n_out = n;
    return STORE_OK;
}

int
store_overview(struct store *s, int64_t since, struct store_overview *o)
{
    static const char *const sql =
        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM feedback),"
        " (SELECT count(*) FROM scans), (SELECT count(*) FROM refits WHERE at >= ?1),"
        " coalesce((SELECT min(at) FROM scans), 0),"
        " coalesce((SELECT min(day) FROM scan_days), 0),"
        " (SELECT page_count FROM pragma_page_count) - (SELECT freelist_count FROM"
        " pragma_freelist_count), (SELECT page_size FROM pragma_page_size)";
    sqlite3_stmt *st;
    int rc;

    memset(o, 0, sizeof(*o));
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return fail_db(s, sqlite3_errcode(s->db), "read overview");
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
        rc = fail_db(s, rc, "read overview");
    sqlite3_finalize(st);
    return rc;
}

/* ---- batch ---- */

static int
apply_once(struct store *s, struct store_op *ops, size_t n)
{
    int rc = store_begin(s);

    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        struct store_op *op = &ops[i];

        switch (op->kind) {
        case STORE_OP_FEEDBACK:
            rc = store_feedback_put(s, op->user, op->digest, op->spam, op->ids, op->n,
                                    &op->chg);
            break;
        case STORE_OP_FORGET:
            rc = store_feedback_forget(s, op->user, op->digest, &op->chg);
            break;
        case STORE_OP_OFFER:
            rc = store_reservoir_offer(s, op->user, op->digest, op->ids, op->n,
                                       &op->kept);
            break;
        case STORE_OP_COUNTER:
            rc = store_counter_add(s, op->user, op->counter, op->delta);
            break;
        case STORE_OP_SCAN:
            rc = store_scan_record(s, op->user, op->verdict <= STORE_V_REJECT ? op->digest
                                   : NULL, op->score, op->verdict, op->ms,
                                   (int64_t)time(NULL));
            break;
        default:
            rc = fail(s, STORE_ERR, "unknown batch operation %d", (int)op->kind);
        }
    }
    if (rc != STORE_OK) {
        store_rollback(s);
        return rc;
    }
    return store_commit(s);
}

int
store_apply(struct store *s, struct store_op *ops, size_t n)
{
    int rc = apply_once(s, ops, n);

    if (rc == STORE_BUSY)
        rc = apply_once(s, ops, n);
    return rc;
}

/* ---- integrity ---- */

int
store_check(struct store *s)
{
    sqlite3_stmt *st;
    const char *msg;
    int rc = sqlite3_prepare_v2(s->db, "PRAGMA integrity_check", -1, &st, NULL);

    if (rc != SQLITE_OK)
        return fail_db(s, rc, "integrity check");
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return fail_db(s, rc, "integrity check");
    }
    msg = (const char *)sqlite3_column_text(st, 0);
    if (msg != NULL && strcmp(msg, "ok") == 0) {
        sqlite3_finalize(st);
        return STORE_OK;
    }
    rc = fail(s, STORE_ERR, "%s: integrity check: %s", s->path, msg ? msg : "?");
    sqlite3_finalize(st);
    return rc;
}

/* ---- backup, restore, the write-ahead log ---- */

int
store_wal_pin(const struct store *s)
{
    return s->wal_fd >= 0 ? fcntl(s->wal_fd, F_DUPFD_CLOEXEC, 0) : -1;
}

int
store_wal_is(const char *path, int fd)
{
    char wal[4096];
    struct stat a, b;

    return fd >= 0 && wal_name(path, wal, sizeof(wal)) == 0 && stat(wal, &a) == 0
        && fstat(fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int
store_checkpoint(struct store *s, int64_t *wal_bytes)
{
    char wal[4096];
    struct stat sb;
    int rc = sqlite3_wal_checkpoint_v2(s->db, "main", SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);

    if (wal_bytes != NULL) {
        *wal_bytes = 0;
        if (wal_name(s->path, wal, sizeof(wal)) == 0 && stat(wal, &sb) == 0)
            *wal_bytes = (int64_t)sb.st_size;
    }
    return rc == SQLITE_OK ? STORE_OK : fail_db(s, rc, "checkpoint");
}

/* fsync(2) the file at path (a directory too). */
static int
sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* Copy every page of from's main database into to's, as one step: one read
 * transaction on from (a snapshot), one write transaction on to. */
static int
copy_pages(struct store *s, sqlite3 *to, sqlite3 *from, const char *what)
{
    sqlite3_backup *b = sqlite3_backup_init(to, "main", from, "main");
    int rc;

    if (b == NULL)
        return fail(s, STORE_ERR, "%s: %s", what, sqlite3_errmsg(to));
    rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc == SQLITE_DONE)
        return STORE_OK;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return fail(s, STORE_BUSY, "%s: database is locked by another connection "
                    "(waited %u ms)", what, s->busy_ms);
    return fail(s, STORE_ERR, "%s: %s", what, sqlite3_errstr(rc));
}

int
store_backup(struct store *s, const char *dst)
{
    char tmp[4096], dir[4096], *slash;
    sqlite3 *d = NULL;
    int fd, rc;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", dst) >= sizeof(tmp))
        return fail(s, STORE_ERR, "%s: path too long", dst);
    /* A copy of users' addresses gets the store's own mode, whatever the umask. */
    unlink(tmp);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, STORE_FILE_MODE)) < 0)
        return fail(s, STORE_ERR, "%s: %s", tmp, strerror(errno));
    if (fchmod(fd, STORE_FILE_MODE) != 0) {
        rc = fail(s, STORE_ERR, "%s: chmod: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return rc;
    }
    close(fd);
    if (sqlite3_open_v2(tmp, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = fail(s, STORE_ERR, "%s: cannot open: %s", tmp,
                  d != NULL ? sqlite3_errmsg(d) : "out of memory");
        goto out;
    }
    if ((rc = copy_pages(s, d, s->db, dst)) != STORE_OK)
        goto out;
    /* Closing the copy's only connection checkpoints its own log into it and
     * removes TMP-wal: what is renamed below is the whole backup. */
    if (sqlite3_close(d) != SQLITE_OK) {
        rc = fail(s, STORE_ERR, "%s: close: %s", tmp, sqlite3_errmsg(d));
        goto out;
    }
    d = NULL;
    if (sync_path(tmp) != 0 || rename(tmp, dst) != 0) {
        rc = fail(s, STORE_ERR, "%s: %s", dst, strerror(errno));
        goto out;
    }
    snprintf(dir, sizeof(dir), "%s", dst);
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    if (sync_path(dir) != 0)
        return fail(s, STORE_ERR, "%s: fsync: %s", dir, strerror(errno));
    return STORE_OK;
out:
    if (d != NULL)
        sqlite3_close(d);
    unlink(tmp);
    return rc;
}

int
store_restore(struct store *s, const char *src)
{
    struct store *b;
    char err[512];
    int rc;

    if (s->in_txn || s->in_read)
        return fail(s, STORE_ERR, "restore inside a transaction");
    /* Opening it read-only checks that it is a spamshift store of this
     * program's schema and features version; then every page must be sound. */
    if ((rc = store_open(src, STORE_RDONLY, NULL, &b, err, sizeof(err))) != STORE_OK)
        return fail(s, rc, "%s", err);
    if ((rc = store_check(b)) != STORE_OK) {
        fail(s, rc, "%s", b->err);
        store_close(b);
        return rc;
    }
    rc = copy_pages(s, s->db, b->db, src);
    store_close(b);
    return rc;
}
