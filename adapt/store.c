/*
 * store.c - the store's front (store.h): choosing the backend from the
 * database string, opening (schema check and upgrade, the settings),
 * transactions, and the maintenance calls.  The operations on users'
 * data are in store_users.c, store_data.c and store_scan.c; the error
 * message in store_err.c, the results' building and freeing in store_rows.c;
 * the backends behind store_be.h.
 *
 * Database strings: "sqlite:PATH" or a plain PATH is SQLite;
 * "postgresql://..." or "postgres://..." (a libpq URI) or a libpq
 * "key=value ..." string is PostgreSQL.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "features.h"
#include "store.h"
#include "store_be.h"

int store_sqlite_wal_is(const char *path, int fd);

void
store_opts_default(struct store_opts *o)
{
    o->busy_ms = 5000;
    o->reservoir_size = 2000;
    o->feedback_max = 20000;
    o->dirty_samples = 200;
    o->seed = 0x5eed5a17f00dULL;
}

/* ---- which backend ---- */

/* A libpq "keyword = value" string starts with a keyword and '='; no file
 * name the milter is given does (a path has a '/' or a '.' before any '='). */
static int
is_pg_keywords(const char *db)
{
    const char *p = db;

    while ((*p >= 'a' && *p <= 'z') || *p == '_')
        p++;
    if (p == db)
        return 0;
    while (*p == ' ' || *p == '\t')
        p++;
    return *p == '=';
}

enum store_db
store_db_kind(const char *db)
{
    if (db == NULL)
        return STORE_DB_SQLITE;
    if (strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0 ||
        is_pg_keywords(db))
        return STORE_DB_POSTGRESQL;
    return STORE_DB_SQLITE;
}

const char *
store_db_file(const char *db)
{
    if (db == NULL || store_db_kind(db) == STORE_DB_POSTGRESQL)
        return NULL;
    return strncmp(db, "sqlite:", 7) == 0 ? db + 7 : db;
}

/* The backend for db and the target it is given; NULL when this build has none. */
static const struct store_backend *
backend_for(const char *db, const char **target)
{
    *target = db;
    if (store_db_kind(db) == STORE_DB_POSTGRESQL) {
#ifdef HAVE_LIBPQ
        return &store_pg_backend;
#else
        return NULL;
#endif
    }
    *target = store_db_file(db);
    return &store_sqlite_backend;
}

/* ---- transactions ---- */

int
store_op_begin(struct store *s, int *own)
{
    if (s->flags & STORE_RDONLY)
        return store_fail(s, STORE_ERR, "%s: store opened read-only", s->name);
    if (s->in_read)
        return store_fail(s, STORE_ERR, "%s: write inside a read snapshot", s->name);
    *own = !s->in_txn;
    if (!*own && s->in_batch)
        return STORE_OK;
    return s->be->txn(s, *own ? STORE_TXN_WRITE : STORE_TXN_SAVEPOINT);
}

int
store_op_end(struct store *s, int own, int status)
{
    int rc;

    if (own) {
        if (status < 0) {
            s->be->txn(s, STORE_TXN_ROLLBACK);
            return status;
        }
        rc = s->be->txn(s, STORE_TXN_COMMIT);
        if (rc != STORE_OK)
            s->be->txn(s, STORE_TXN_ROLLBACK);
        return rc != STORE_OK ? rc : status;
    }
    if (s->in_batch)
        return status;
    if (status < 0)
        s->be->txn(s, STORE_TXN_UNDO);
    rc = s->be->txn(s, STORE_TXN_RELEASE);
    return rc != STORE_OK ? rc : status;
}

int
store_begin(struct store *s)
{
    int rc;

    if (s->flags & STORE_RDONLY)
        return store_fail(s, STORE_ERR, "%s: store opened read-only", s->name);
    if (s->in_txn || s->in_read)
        return store_fail(s, STORE_ERR, "%s: transaction already open", s->name);
    rc = s->be->txn(s, STORE_TXN_WRITE);
    if (rc == STORE_OK)
        s->in_txn = 1;
    return rc;
}

int
store_commit(struct store *s)
{
    int rc;

    if (!s->in_txn)
        return store_fail(s, STORE_ERR, "%s: commit without a transaction", s->name);
    rc = s->be->txn(s, STORE_TXN_COMMIT);
    if (rc != STORE_OK)
        s->be->txn(s, STORE_TXN_ROLLBACK);
    s->in_txn = 0;
    return rc;
}

void
store_rollback(struct store *s)
{
    if (s->in_txn)
        s->be->txn(s, STORE_TXN_ROLLBACK);
    s->in_txn = 0;
}

int
store_begin_read(struct store *s)
{
    int rc;

    if (s->in_txn || s->in_read)
        return store_fail(s, STORE_ERR, "%s: transaction already open", s->name);
    if ((rc = s->be->txn(s, STORE_TXN_READ)) != STORE_OK) {
        s->be->txn(s, STORE_TXN_ROLLBACK);
        return rc;
    }
    s->in_read = 1;
    return STORE_OK;
}

void
store_end_read(struct store *s)
{
    if (s->in_read)
        s->be->txn(s, STORE_TXN_COMMIT);
    s->in_read = 0;
}

/* ---- settings ---- */

int
store_meta_get_u64(struct store *s, const char *key, uint64_t *v)
{
    char buf[32];
    int rc = s->be->meta_get(s, key, buf, sizeof(buf));

    *v = 0;
    if (rc == STORE_NOTFOUND)
        return STORE_OK;
    if (rc == STORE_OK)
        *v = strtoull(buf, NULL, 10);
    return rc;
}

int
store_meta_set_u64(struct store *s, const char *key, uint64_t v)
{
    char buf[32];

    snprintf(buf, sizeof(buf), "%" PRIu64, v);
    return s->be->meta_set(s, key, buf);
}

/* Read a numeric setting.  When it is missing (a new store, or one from an older
 * schema) def is used and, in a write pass, stored; in a read pass *need_write is
 * set instead. */
static int
meta_uint(struct store *s, const char *key, uint64_t def, uint64_t max, int write,
          int *need_write, uint64_t *v)
{
    char buf[64], *end;
    int rc = s->be->meta_get(s, key, buf, sizeof(buf));

    if (rc == STORE_NOTFOUND) {
        *v = def;
        if (!write) {
            *need_write = 1;
            return STORE_OK;
        }
        return store_meta_set_u64(s, key, def);
    }
    if (rc != STORE_OK)
        return rc;
    errno = 0;
    *v = strtoull(buf, &end, 10);
    if (errno != 0 || end == buf || *end != '\0' || *v > max)
        return store_fail(s, STORE_ERR, "%s: bad setting %s = \"%s\" in meta", s->name,
                          key, buf);
    return STORE_OK;
}

static int
settings_load(struct store *s, const struct store_opts *o, int write, int *need_write)
{
    uint64_t fv, v;
    int ignored, rc;

    if ((rc = meta_uint(s, "features_version", FEATURES_VERSION, UINT32_MAX, write,
                        need_write, &fv)) != STORE_OK)
        return rc;
    if (fv != FEATURES_VERSION)
        return store_fail(s, STORE_EVERSION, "%s: feedback was stored with feature "
                          "version %" PRIu64 ", this spamshift extracts version %d; the "
                          "stored ids cannot be reused: start a new store", s->name, fv,
                          FEATURES_VERSION);
    if ((rc = meta_uint(s, "reservoir_size", o->reservoir_size, 1u << 24, write,
                        need_write, &v)) != STORE_OK)
        return rc;
    s->reservoir_size = v > 0 ? (uint32_t)v : 1;
    /* Added after schema 4 without a migration: a store that lacks the
     * setting uses the default (written the next time the store is upgraded
     * or the quota set), so read-only opens of older stores keep working. */
    if ((rc = meta_uint(s, "feedback_max", o->feedback_max, 1u << 24, write,
                        &ignored, &v)) != STORE_OK)
        return rc;
    s->feedback_max = v > 0 ? (uint32_t)v : 1;
    if ((rc = meta_uint(s, "dirty_samples", o->dirty_samples, UINT32_MAX, write,
                        need_write, &v)) != STORE_OK)
        return rc;
    s->dirty_samples = v > 0 ? (uint32_t)v : 1;
    return meta_uint(s, "seed", o->seed, UINT64_MAX, write, need_write, &s->seed);
}

/* One pass of schema_init(): in a read transaction (write == 0) it only checks
 * and loads, setting *need_write when the schema or a setting must be written;
 * in a write transaction it upgrades and fills in what is missing. */
static int
schema_pass(struct store *s, const struct store_opts *o, int write, int *need_write)
{
    int64_t ver;
    int rc;

    *need_write = 0;
    if ((rc = s->be->schema_get(s, &ver)) != STORE_OK)
        return rc;
    if (ver > s->be->schema_version)
        return store_fail(s, STORE_EVERSION, "%s: schema version %" PRId64 " is newer "
                          "than this spamshift understands (%d); upgrade spamshift",
                          s->name, ver, s->be->schema_version);
    if (ver < s->be->schema_version) {
        if (!write) {
            *need_write = 1;
            return STORE_OK;
        }
        if ((rc = s->be->schema_upgrade(s, ver)) != STORE_OK)
            return rc;
    }
    return settings_load(s, o, write, need_write);
}

/* Bring the schema up to date and load the settings.  An up-to-date store is
 * only read, so opening never waits for another process's write lock; an older
 * or new one is upgraded in one write transaction. */
static int
schema_init(struct store *s, const struct store_opts *o)
{
    int need_write, rc;

    if ((rc = s->be->txn(s, STORE_TXN_PEEK)) != STORE_OK)
        return rc;
    rc = schema_pass(s, o, 0, &need_write);
    s->be->txn(s, STORE_TXN_COMMIT);
    if (rc != STORE_OK || !need_write)
        return rc;
    if (s->flags & STORE_RDONLY)
        return store_fail(s, STORE_EVERSION, "%s: schema is older than version %d; open "
                          "it once for writing to upgrade it", s->name,
                          s->be->schema_version);
    if ((rc = s->be->txn(s, STORE_TXN_WRITE)) != STORE_OK)
        return rc;
    rc = schema_pass(s, o, 1, &need_write);
    if (rc == STORE_OK)
        return s->be->txn(s, STORE_TXN_COMMIT);
    s->be->txn(s, STORE_TXN_ROLLBACK);
    return rc;
}

/* ---- open and close ---- */

int
store_open_graded(const char *db, unsigned flags, const struct store_opts *opts,
                  struct store **out, char *err, size_t errlen)
{
    const struct store_backend *be;
    const char *target;
    struct store_opts def;
    struct store *s;
    int rc;

    *out = NULL;
    if (opts == NULL) {
        store_opts_default(&def);
        opts = &def;
    }
    if (db == NULL || *db == '\0') {
        snprintf(err, errlen, "no store path given");
        return STORE_ERR;
    }
    if ((be = backend_for(db, &target)) == NULL) {
        snprintf(err, errlen, "%s: this spamshift was built without PostgreSQL "
                 "(configure found no libpq: apt-get install libpq-dev)",
                 store_db_kind(db) == STORE_DB_POSTGRESQL ? "postgresql" : db);
        return STORE_ERR;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return STORE_ERR;
    }
    s->be = be;
    s->flags = flags;
    s->busy_ms = opts->busy_ms;
    rc = be->open(s, target, flags);
    if (rc == STORE_OK)
        rc = schema_init(s, opts);
    if (rc != STORE_OK) {
        snprintf(err, errlen, "%s", s->err);
        store_close(s);
        return rc;
    }
    *out = s;
    return STORE_OK;
}

int
store_open(const char *db, unsigned flags, const struct store_opts *opts,
           struct store **out, char *err, size_t errlen)
{
    int rc = store_open_graded(db, flags, opts, out, err, errlen);

    return rc == STORE_OK || rc == STORE_BUSY ? rc : STORE_ERR;
}

struct store *
store_close(struct store *s)
{
    if (s == NULL)
        return NULL;
    if (s->conn != NULL) {
        if (s->in_txn || s->in_read)
            s->be->txn(s, STORE_TXN_ROLLBACK);
        s->be->close(s);
    }
    free(s->name);
    free(s);
    return NULL;
}

const char *
store_backend_name(const struct store *s)
{
    return s->be->name;
}

const char *
store_name(const struct store *s)
{
    return s->name;
}

void
store_db_label(const char *db, char *buf, size_t len)
{
    const struct store_backend *be;
    const char *target;

    if (db == NULL) {
        snprintf(buf, len, "(none)");
        return;
    }
    /* A PostgreSQL string in a build without libpq: not parsed, not shown. */
    if ((be = backend_for(db, &target)) == NULL)
        snprintf(buf, len, "postgresql");
    else if (be->label != NULL)
        be->label(target, buf, len);
    else
        snprintf(buf, len, "%s", db);
}

/* ---- settings ---- */

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
store_set_reservoir_size(struct store *s, uint32_t n)
{
    int own, rc;

    if (n == 0 || n > (1u << 24))
        return store_fail(s, STORE_ERR, "reservoir size %u out of range 1..%u", n,
                          1u << 24);
    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = store_meta_set_u64(s, "reservoir_size", n);
    if (rc == STORE_OK)
        rc = s->be->res_trim(s, n);
    rc = store_op_end(s, own, rc);
    if (rc == STORE_OK)
        s->reservoir_size = n;
    return rc;
}

int
store_set_feedback_max(struct store *s, uint32_t n, uint64_t *dropped)
{
    uint64_t d = 0;
    int own, rc;

    if (dropped != NULL)
        *dropped = 0;
    if (n == 0 || n > (1u << 24))
        return store_fail(s, STORE_ERR, "feedback quota %u out of range 1..%u", n,
                          1u << 24);
    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = store_meta_set_u64(s, "feedback_max", n);
    if (rc == STORE_OK)
        rc = s->be->fb_quota(s, -1, n, NULL, &d);
    rc = store_op_end(s, own, rc);
    if (rc == STORE_OK) {
        s->feedback_max = n;
        if (dropped != NULL)
            *dropped = d;
    }
    return rc;
}

int
store_set_dirty_samples(struct store *s, uint32_t n)
{
    int own, rc;

    if (n == 0)
        return store_fail(s, STORE_ERR, "dirty sample threshold must be at least 1");
    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = store_op_end(s, own, store_meta_set_u64(s, "dirty_samples", n));
    if (rc == STORE_OK)
        s->dirty_samples = n;
    return rc;
}

/* ---- maintenance ---- */

int
store_check(struct store *s)
{
    return s->be->check(s);
}

int
store_backup(struct store *s, const char *dst)
{
    return s->be->backup(s, dst);
}

int
store_restore(struct store *s, const char *src)
{
    struct store *b;
    char err[512];
    int rc;

    if (s->in_txn || s->in_read)
        return store_fail(s, STORE_ERR, "restore inside a transaction");
    /* Opening it read-only checks that it is a spamshift store of this
     * program's schema and features version; then every page must be sound. */
    if ((rc = store_open(src, STORE_RDONLY, NULL, &b, err, sizeof(err))) != STORE_OK)
        return store_fail(s, rc, "%s", err);
    if (b->be != s->be) {
        /* b's name before it is closed (this used to read b after freeing it) */
        store_fail(s, STORE_ERR, "%s: a %s backup cannot be restored into a %s store "
                   "(spamshift store copy moves between them)", src, b->be->name,
                   s->be->name);
        store_close(b);
        return STORE_ERR;
    }
    if ((rc = store_check(b)) != STORE_OK) {
        store_fail(s, rc, "%s", b->err);
        store_close(b);
        return rc;
    }
    rc = s->be->restore(s, b);
    store_close(b);
    return rc;
}

int
store_checkpoint(struct store *s, int64_t *wal_bytes)
{
    return s->be->checkpoint(s, wal_bytes);
}

int
store_moved(struct store *s)
{
    return s != NULL && s->conn != NULL ? s->be->moved(s) : 0;
}

int
store_wal_pin(const struct store *s)
{
    return s->be->wal_pin(s);
}

int
store_wal_is(const char *db, int fd)
{
    const char *target;

    if (fd < 0 || db == NULL || backend_for(db, &target) != &store_sqlite_backend)
        return 0;
    return store_sqlite_wal_is(target, fd);
}
