/*
 * store_sqlite_backup.c - the SQLite store's maintenance: integrity check,
 * online backup and restore (SQLite's backup API), the write-ahead log's
 * checkpoint and the pin that keeps a moved store's PATH-wal from being
 * replayed into a new file (store.h, store_wal_pin).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "store_be.h"
#include "store_sqlite.h"

int
sq_check(struct store *s)
{
    sqlite3_stmt *st;
    const char *msg;
    int rc = sqlite3_prepare_v2(sq_db(s), "PRAGMA integrity_check", -1, &st, NULL);

    if (rc != SQLITE_OK)
        return sq_fail_db(s, rc, "integrity check");
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return sq_fail_db(s, rc, "integrity check");
    }
    msg = (const char *)sqlite3_column_text(st, 0);
    if (msg != NULL && strcmp(msg, "ok") == 0) {
        sqlite3_finalize(st);
        return STORE_OK;
    }
    rc = store_fail(s, STORE_ERR, "%s: integrity check: %s", s->name, msg ? msg : "?");
    sqlite3_finalize(st);
    return rc;
}

/* ---- backup, restore, the write-ahead log ---- */

int
sq_wal_pin(const struct store *s)
{
    const struct sq_conn *c = s->conn;

    return c->wal_fd >= 0 ? fcntl(c->wal_fd, F_DUPFD_CLOEXEC, 0) : -1;
}

int
store_sqlite_wal_is(const char *path, int fd)
{
    char wal[4096];
    struct stat a, b;

    return fd >= 0 && sq_wal_name(path, wal, sizeof(wal)) == 0 && stat(wal, &a) == 0
        && fstat(fd, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int
sq_checkpoint(struct store *s, int64_t *wal_bytes)
{
    char wal[4096];
    struct stat sb;
    int rc = sqlite3_wal_checkpoint_v2(sq_db(s), "main", SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);

    if (wal_bytes != NULL) {
        *wal_bytes = 0;
        if (sq_wal_name(s->name, wal, sizeof(wal)) == 0 && stat(wal, &sb) == 0)
            *wal_bytes = (int64_t)sb.st_size;
    }
    return rc == SQLITE_OK ? STORE_OK : sq_fail_db(s, rc, "checkpoint");
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
        return store_fail(s, STORE_ERR, "%s: %s", what, sqlite3_errmsg(to));
    rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc == SQLITE_DONE)
        return STORE_OK;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return store_fail(s, STORE_BUSY, "%s: database is locked by another connection "
                    "(waited %u ms)", what, s->busy_ms);
    return store_fail(s, STORE_ERR, "%s: %s", what, sqlite3_errstr(rc));
}

int
sq_backup(struct store *s, const char *dst)
{
    char tmp[4096], dir[4096], *slash;
    sqlite3 *d = NULL;
    int fd, rc;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", dst) >= sizeof(tmp))
        return store_fail(s, STORE_ERR, "%s: path too long", dst);
    /* A copy of users' addresses gets the store's own mode, whatever the umask. */
    unlink(tmp);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, STORE_FILE_MODE)) < 0)
        return store_fail(s, STORE_ERR, "%s: %s", tmp, strerror(errno));
    if (fchmod(fd, STORE_FILE_MODE) != 0) {
        rc = store_fail(s, STORE_ERR, "%s: chmod: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return rc;
    }
    close(fd);
    if (sqlite3_open_v2(tmp, &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = store_fail(s, STORE_ERR, "%s: cannot open: %s", tmp,
                  d != NULL ? sqlite3_errmsg(d) : "out of memory");
        goto out;
    }
    if ((rc = copy_pages(s, d, sq_db(s), dst)) != STORE_OK)
        goto out;
    /* Closing the copy's only connection checkpoints its own log into it and
     * removes TMP-wal: what is renamed below is the whole backup. */
    if (sqlite3_close(d) != SQLITE_OK) {
        rc = store_fail(s, STORE_ERR, "%s: close: %s", tmp, sqlite3_errmsg(d));
        goto out;
    }
    d = NULL;
    if (sync_path(tmp) != 0 || rename(tmp, dst) != 0) {
        rc = store_fail(s, STORE_ERR, "%s: %s", dst, strerror(errno));
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
        return store_fail(s, STORE_ERR, "%s: fsync: %s", dir, strerror(errno));
    return STORE_OK;
out:
    if (d != NULL)
        sqlite3_close(d);
    unlink(tmp);
    return rc;
}

/* src is open read-only and checked (store.c, store_restore). */
int
sq_restore(struct store *s, struct store *src)
{
    return copy_pages(s, sq_db(s), sq_db(src), src->name);
}
