/*
 * store_sqlite.c - the SQLite backend of the store (store_be.h): the
 * connection, its statement cache, error mapping and transactions, which the
 * other store_sqlite_*.c files (schema, users, sender lists, samples, heads,
 * scans, backup) build their operations on; it calls none of them.  The table
 * of operations is store_sqlite_be.c.
 *
 * Tuned for many small writes from one writer per process (the milter's writer
 * thread or `spamshift learn`) next to many readers (scorers loading heads):
 * WAL journal so readers never wait for the writer, synchronous=FULL so a
 * commit that returned survives a crash or power loss, BEGIN IMMEDIATE so a
 * writer waits for the lock up front (busy timeout) instead of failing half-way,
 * and a SAVEPOINT around each operation so one failed operation inside a batch
 * leaves nothing half-done.  Statements are prepared once per connection; every
 * value is a bound parameter.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "store_be.h"
#include "store_sqlite.h"

/* After a checkpoint has reset the write-ahead log, SQLite truncates PATH-wal to
 * this many bytes: the log of a burst does not keep its disk forever. */
#define STORE_WAL_LIMIT_SQL "16777216"

static struct sq_conn *
conn(const struct store *s)
{
    return s->conn;
}

int
sq_fail_db(struct store *s, int rc, const char *what)
{
    sqlite3 *db = s->conn != NULL ? sq_db(s) : NULL;
    int prim = rc & 0xff;

    if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
        return store_fail(s, STORE_BUSY, "%s: %s: database is locked by another "
                          "connection (waited %u ms)", s->name, what, s->busy_ms);
    if (prim == SQLITE_NOMEM)
        return store_fail(s, STORE_ERR, "%s: %s: out of memory", s->name, what);
    return store_fail(s, STORE_ERR, "%s: %s: %s", s->name, what,
                      db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
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
        conn(s)->busy_since = now;
    if (now - conn(s)->busy_since >= (int64_t)s->busy_ms)
        return 0;
    usleep(1000);
    return 1;
}

/* ---- statements ---- */

sqlite3_stmt *
sq_stmt(struct store *s, const char *sql)
{
    struct sq_conn *c = conn(s);
    int i, rc;

    for (i = 0; i < SQ_CACHE && c->cache[i].sql != NULL; i++)
        if (c->cache[i].sql == sql) {
            sqlite3_reset(c->cache[i].st);
            sqlite3_clear_bindings(c->cache[i].st);
            return c->cache[i].st;
        }
    if (i == SQ_CACHE) {
        store_fail(s, STORE_ERR, "%s: more than %d statements", s->name, SQ_CACHE);
        return NULL;
    }
    rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->cache[i].st,
                            NULL);
    if (rc != SQLITE_OK) {
        sq_fail_db(s, rc, "prepare");
        return NULL;
    }
    c->cache[i].sql = sql;
    return c->cache[i].st;
}

int
sq_exec(struct store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(sq_db(s), sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? STORE_OK : sq_fail_db(s, rc, what);
}

int
sq_step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_OK : sq_fail_db(s, rc, what);
}

int
sq_step_int(struct store *s, sqlite3_stmt *st, int64_t *v, const char *what)
{
    int rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        *v = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        return STORE_OK;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? STORE_NOTFOUND : sq_fail_db(s, rc, what);
}

int
sq_collect_keys(struct store *s, sqlite3_stmt *st, char ***users, size_t *n)
{
    struct store_strv_build b = { 0 };
    int rc, nomem = store_strv_push(&b, NULL) != 0;

    while (!nomem && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);

        nomem = store_strv_push(&b, key != NULL ? key : "") != 0;
    }
    sqlite3_reset(st);
    if (nomem) {
        store_strv_free(b.v);
        return store_fail(s, STORE_ERR, "out of memory listing users");
    }
    if (rc != SQLITE_DONE) {
        store_strv_free(b.v);
        return sq_fail_db(s, rc, "list users");
    }
    *users = b.v;
    *n = b.n;
    return STORE_OK;
}

int
sq_collect_key_values(struct store *s, sqlite3_stmt *st, const char *what, char ***users,
                      double **vals, size_t *n)
{
    struct store_strv_build b = { 0 };
    double *v = NULL;
    size_t cap = 0;
    int rc = SQLITE_NOMEM;

    if (store_strv_push(&b, NULL) == 0)
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            if (b.n == cap) {
                double *nv = realloc(v, (cap ? 2 * cap : 16) * sizeof(*v));

                if (nv == NULL) {
                    rc = SQLITE_NOMEM;
                    break;
                }
                v = nv;
                cap = cap ? 2 * cap : 16;
            }
            v[b.n] = sqlite3_column_double(st, 1);
            if (store_strv_push(&b, (const char *)sqlite3_column_text(st, 0)) != 0) {
                rc = SQLITE_NOMEM;
                break;
            }
        }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        store_strv_free(b.v);
        free(v);
        return rc == SQLITE_NOMEM ? store_fail(s, STORE_ERR, "%s: out of memory", what)
                                  : sq_fail_db(s, rc, what);
    }
    *users = b.v;
    *vals = v;
    *n = b.n;
    return STORE_OK;
}

int
sq_column_blob_copy(sqlite3_stmt *st, int col, void **blob, size_t *len)
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

int
sq_wal_name(const char *path, char *buf, size_t len)
{
    return (size_t)snprintf(buf, len, "%s-wal", path) < len ? 0 : -1;
}

/* ---- transactions ---- */

int
sq_txn(struct store *s, enum store_txn t)
{
    switch (t) {
    case STORE_TXN_WRITE:
        return sq_exec(s, "BEGIN IMMEDIATE", "begin");
    case STORE_TXN_READ:
        /* BEGIN DEFERRED takes the snapshot at the first read: do one now. */
        return sq_exec(s, "BEGIN DEFERRED; SELECT count(*) FROM meta", "begin read");
    case STORE_TXN_PEEK:
        return sq_exec(s, "BEGIN DEFERRED", "open");
    case STORE_TXN_COMMIT:
        return sq_exec(s, "COMMIT", "commit");
    case STORE_TXN_ROLLBACK:
        sqlite3_exec(sq_db(s), "ROLLBACK", NULL, NULL, NULL);
        return STORE_OK;
    case STORE_TXN_SAVEPOINT:
        return sq_exec(s, "SAVEPOINT op", "begin");
    case STORE_TXN_RELEASE:
        return sq_exec(s, "RELEASE op", "release savepoint");
    case STORE_TXN_UNDO:
        sqlite3_exec(sq_db(s), "ROLLBACK TO op", NULL, NULL, NULL);
        return STORE_OK;
    }
    return store_fail(s, STORE_ERR, "unknown transaction step %d", (int)t);
}

/* ---- open and close ---- */

/* Make the file at path for a new store (flags allowing): users' addresses and
 * message features are nobody else's business, so the file (and the -wal/-shm
 * files SQLite derives from it) is made STORE_FILE_MODE, for the milter's user
 * and group, not SQLite's 0644. */
static int
sq_make_file(struct store *s, const char *path, unsigned flags)
{
    struct stat sb;
    int fd;

    if (stat(path, &sb) == 0) {
        if (!S_ISREG(sb.st_mode))
            return store_fail(s, STORE_ERR, "%s: not a regular file", path);
        return STORE_OK;
    }
    if (errno != ENOENT || !(flags & STORE_CREATE) || (flags & STORE_RDONLY))
        return store_fail(s, STORE_ERR, "%s: %s", path, strerror(errno));
    if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, STORE_FILE_MODE)) < 0 &&
        errno != EEXIST)
        return store_fail(s, STORE_ERR, "%s: %s", path, strerror(errno));
    if (fd >= 0) {
        /* open(2)'s mode is cut by the umask (a root shell's 022 made
         * 0640, and the milter's group could no longer write). */
        if (fchmod(fd, STORE_FILE_MODE) != 0) {
            store_fail(s, STORE_ERR, "%s: chmod: %s", path, strerror(errno));
            close(fd);
            return STORE_ERR;
        }
        close(fd);
    }
    return STORE_OK;
}

int
sq_open(struct store *s, const char *path, unsigned flags)
{
    struct sq_conn *c;
    char wal[4096];
    int oflags, rc;

    if (*path == '\0')
        return store_fail(s, STORE_ERR, "no store path given");
    if ((rc = sq_make_file(s, path, flags)) != STORE_OK)
        return rc;
    if ((s->name = strdup(path)) == NULL || (c = calloc(1, sizeof(*c))) == NULL)
        return store_fail(s, STORE_ERR, "%s: out of memory", path);
    c->wal_fd = -1;
    s->conn = c;            /* from here sq_close() frees it */
    if ((c->path = strdup(path)) == NULL)
        return store_fail(s, STORE_ERR, "%s: out of memory", path);
    oflags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    if (flags & STORE_RDONLY)
        oflags |= SQLITE_OPEN_READONLY;
    else
        oflags |= SQLITE_OPEN_READWRITE | ((flags & STORE_CREATE) ? SQLITE_OPEN_CREATE : 0);
    rc = sqlite3_open_v2(path, &c->db, oflags, NULL);
    if (rc != SQLITE_OK) {
        int e = c->db != NULL ? sqlite3_system_errno(c->db) : 0;

        return store_fail(s, STORE_ERR, "%s: cannot open: %s%s%s", path,
                          c->db != NULL ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc),
                          e ? ": " : "", e ? strerror(e) : "");
    }
    sqlite3_busy_handler(c->db, busy_wait, s);
    sqlite3_extended_result_codes(c->db, 1);
    rc = sq_exec(s, "PRAGMA foreign_keys = ON", "open");
    if (rc == STORE_OK && !(flags & STORE_RDONLY))
        rc = sq_exec(s, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                     "PRAGMA journal_size_limit = " STORE_WAL_LIMIT_SQL, "open");
    if (rc == STORE_OK && sq_wal_name(path, wal, sizeof(wal)) == 0)
        c->wal_fd = open(wal, O_RDONLY | O_CLOEXEC);
    return rc;
}

void
sq_close(struct store *s)
{
    struct sq_conn *c = conn(s);

    if (c->db != NULL) {
        for (int i = 0; i < SQ_CACHE && c->cache[i].sql != NULL; i++)
            sqlite3_finalize(c->cache[i].st);
        sqlite3_close(c->db);
    }
    if (c->wal_fd >= 0)
        close(c->wal_fd);
    free(c->path);
    free(c);
    s->conn = NULL;
}

int
sq_moved(struct store *s)
{
    int moved = 0;

    if (sq_db(s) == NULL ||
        sqlite3_file_control(sq_db(s), "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK)
        return 0;
    return moved != 0;
}
