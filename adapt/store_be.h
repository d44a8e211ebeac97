/*
 * store_be.h - what the store's front (store.c, store_users.c, store_data.c,
 * store_scan.c) and its backends (store_sqlite*.c, store_pg*.c) share; private
 * to adapt/store*.
 *
 * The front owns the policy: argument checks, the transaction rules (an
 * operation's own transaction or a savepoint inside the caller's), the
 * settings, the reservoir's slot choice, when the feedback quota applies and
 * what it dropped, the publish rule (stale or version + 1), scan-time
 * bucketing and the histogram's encoding, when scan records expire, and how
 * rows become samples, key lists and statistics.  A backend is a table of
 * row-level operations (struct store_backend) over one connection; each
 * states its contract below, and the conformance suite
 * (tests/unit/test_store_conf.c) runs the same sequence through both.
 *
 * Left to the backends, each in its own SQL, because moving them into C would
 * read every row of a user (or of the store) over the connection: the
 * quota's "keep the n most recently updated (ties by digest)", the dirty rule's
 * predicate (store.h, store_dirty_list, also in claim), and the statistics'
 * aggregates.  The claim's policy (the lease, who may take a claim: anyone
 * once it expired, the times passed in) is the front's; the backend only
 * makes "find and mark" atomic against other connections.
 *
 * Errors: a backend operation returns STORE_* and sets the message with
 * store_fail(); the front never overwrites a backend's message.
 *
 * Who calls whom (tests/layering/mutual.sh, doc/design-adapt.md): the front
 * reaches a backend only through its table (store_sqlite_be.c, store_pg_be.c);
 * a backend calls only store_err.c and store_rows.c of the front, which call
 * no store object back; inside a backend every file calls the connection
 * helpers of store_sqlite.c (store_pg.c), which call none of them.
 */
#ifndef SPAMSHIFT_STORE_BE_H
#define SPAMSHIFT_STORE_BE_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct store_backend;

struct store {
    const struct store_backend *be;
    void *conn;                 /* the backend's connection (its own struct) */
    char *name;                 /* the database as messages name it */
    unsigned flags;
    unsigned busy_ms;
    int in_txn;                 /* inside store_begin()/store_commit() */
    int in_batch;               /* inside store_apply(): its operations take no
                                 * savepoint (one failing rolls back the batch) */
    int in_read;                /* inside store_begin_read() */
    uint32_t reservoir_size;
    uint32_t feedback_max;
    uint32_t dirty_samples;
    uint64_t seed;
    uint64_t fb_dropped;        /* feedback rows this connection dropped for quota */
    int64_t scans_expired;      /* when this connection last expired scan records */
    char owner[128];            /* who this handle's refit claims name (store_dirty_claim) */
    char err[512];
    int err_status;             /* the status store_fail() last returned */
};

/* Transaction steps a backend carries out (the front decides which). */
enum store_txn {
    STORE_TXN_WRITE,            /* begin a write transaction, taking the lock now */
    STORE_TXN_READ,             /* begin a read snapshot, taken now */
    STORE_TXN_PEEK,             /* begin a read transaction that may find no schema */
    STORE_TXN_COMMIT,
    STORE_TXN_ROLLBACK,         /* never fails (the status is ignored) */
    STORE_TXN_SAVEPOINT,        /* one operation inside the caller's transaction */
    STORE_TXN_RELEASE,
    STORE_TXN_UNDO              /* roll back to the savepoint (then RELEASE) */
};

/* The key lists a backend produces (store_backend.keys). */
enum store_keys_kind {
    STORE_KEYS_USERS,           /* every key, sorted */
    STORE_KEYS_DIRTY,           /* the dirty rule, sorted, at most max */
    STORE_KEYS_RECENT,          /* heads for model_id, newest first, at most max */
    STORE_KEYS_REFITS           /* distinct keys refitted in (after, upto], sorted */
};

struct store_keys_q {
    enum store_keys_kind kind;
    const char *model_id;       /* DIRTY (may be NULL), RECENT */
    int64_t max;                /* DIRTY, RECENT: -1 for all */
    uint32_t dirty_samples;     /* DIRTY */
    int64_t after, upto;        /* REFITS */
};

/* One day of a user's scan counters as store_scan_record adds it. */
struct store_scan_day {
    int scanned, tagged, quarantined, rejected, skipped, errors;
    double ms;
    const uint8_t *hist;        /* 4 * STORE_SCAN_HIST bytes, the whole new histogram */
};

/* One message's scan record (scan_put's arguments, scan_day_bump's rec). */
struct store_scan_rec {
    const uint8_t *digest;
    int64_t at;
    double score;
    int verdict;
};

/* The statistics' aggregates, one row at a time (store_user_stats): kind says
 * which query the row comes from; the columns are as listed. */
enum store_stats_kind {
    STORE_STATS_USER,           /* uid, key */
    STORE_STATS_DAY,            /* uid, i[0..6) counts, d[0] ms_sum, blob hist */
    STORE_STATS_FEEDBACK,       /* uid, i[0] spam, i[1] held, i[2] changed since */
    STORE_STATS_MATCHED,        /* uid, i[0] spam, i[1] matched, i[2] fp, i[3] fn */
    STORE_STATS_REFITS,         /* uid, i[0] refits since */
    STORE_STATS_LAST            /* uid, i[0] version, i[1] at, i[2] n_fb, i[3] n_unl,
                                 * d[0..5) auc, ess, cv_before, cv_after (-1: none), ms */
};

struct store_stats_row {
    enum store_stats_kind kind;
    int64_t uid;
    const char *key;
    int64_t i[6];
    double d[5];
    const void *blob;
    size_t blob_len;
};

/* The statistics being built (store_rows.c, store_stats_add): v[i] for the
 * user whose backend id is ids[i]. */
struct store_stats_acc {
    struct store_user_stats *v;
    int64_t *ids;               /* v[i]'s user id, ascending (the rows come so) */
    size_t n, cap;
};

/* A table as store copy moves it (store_copy.c holds the list): its name, its
 * columns in order with their kinds, and which column is the user's id (-1:
 * a table of the whole store).  The backends build their statements from it
 * (names are constants of this program, never data). */
enum store_col_kind { STORE_COL_INT, STORE_COL_REAL, STORE_COL_TEXT, STORE_COL_BLOB };

struct store_col {
    const char *name;
    enum store_col_kind kind;
};

#define STORE_TABLE_COLS 12

struct store_table {
    const char *name;
    int ncols;
    int user_col;                       /* index into cols, or -1 */
    struct store_col cols[STORE_TABLE_COLS];
};

/* One column's value (kind as the table says); text and blobs are borrowed
 * for the call they are passed to. */
struct store_value {
    int null;
    int64_t i;
    double d;
    const void *p;                      /* TEXT (NUL-terminated) or BLOB */
    size_t len;
};

/* rows_read's callback: one row, ncols values; non-zero stops the walk and is
 * returned by rows_read. */
typedef int (*store_row_fn)(void *ctx, const struct store_value *v);

/*
 * A backend.  Every operation runs inside the transaction the front opened
 * (or as one statement when the front reads outside one).  uid is the
 * backend's user id; digest is STORE_DIGEST_LEN bytes; ids blobs are idpack
 * encodings of n ids.  Operations that return a row return STORE_NOTFOUND
 * when there is none.
 */
struct store_backend {
    const char *name;
    int schema_version;         /* what this program writes */

    /* Connect to target (the database string without its scheme) as flags
     * say; s->conn is set.  On failure s->err says why and close() cleans up. */
    int (*open)(struct store *s, const char *target, unsigned flags);
    void (*close)(struct store *s);
    /* target as messages may name it without connecting (store_db_label);
     * NULL: the target as it is. */
    void (*label)(const char *target, char *buf, size_t len);
    int (*txn)(struct store *s, enum store_txn t);
    int (*schema_get)(struct store *s, int64_t *version);
    /* Upgrade from version to schema_version, inside a write transaction. */
    int (*schema_upgrade)(struct store *s, int64_t version);
    int (*meta_get)(struct store *s, const char *key, char *buf, size_t len);
    int (*meta_set)(struct store *s, const char *key, const char *value);
    int (*meta_delete)(struct store *s, const char *key);   /* none: STORE_OK */
    /* The settings whose key starts with prefix (not empty), sorted by key
     * bytewise: the keys without the prefix (NULL-terminated) and the values as
     * numbers (malloc'd; NULL when there is none). */
    int (*meta_list)(struct store *s, const char *prefix, char ***keys, double **vals,
                     size_t *n);

    /* users */
    int (*user_lookup)(struct store *s, const char *key, int64_t *uid);
    /* Insert key (or find it, when another connection just did). */
    int (*user_insert)(struct store *s, const char *key, int64_t created, int64_t *uid);
    int (*user_state)(struct store *s, const char *key, struct store_user_state *st);
    int (*user_bump_fb)(struct store *s, int64_t uid);
    /* seen := seen + 1 for uid, *seen the new value, atomically. */
    int (*user_bump_seen)(struct store *s, int64_t uid, int64_t *seen);
    int (*keys)(struct store *s, const struct store_keys_q *q, char ***users, size_t *n);
    /* Inside a write transaction: the first user, by key bytewise after
     * after ("" for the first), that the dirty rule q selects and whose
     * claim_until <= now; its claim := (owner, until); *key malloc'd.
     * Atomic against other connections: two never get one user for one
     * lease (PostgreSQL: FOR UPDATE SKIP LOCKED, a row another transaction
     * holds is skipped, never waited for; SQLite: the write lock).
     * STORE_NOTFOUND: no such user. */
    int (*claim)(struct store *s, const struct store_keys_q *q, const char *after,
                 const char *owner, int64_t now, int64_t until, char **key);
    /* Clear key's claim if owner holds it (else nothing). */
    int (*claim_release)(struct store *s, const char *key, const char *owner);
    int (*thr_get)(struct store *s, const char *key, double *spam);
    int (*thr_set)(struct store *s, int64_t uid, double spam);   /* < 0: clear */
    int (*thr_list)(struct store *s, char ***users, double **spam, size_t *n);
    int (*counter_add)(struct store *s, int64_t uid, const char *name, int64_t delta);
    int (*counter_get)(struct store *s, const char *key, const char *name, int64_t *v);
    /* action STORE_LIST_NONE deletes; *changed is 1 when a row changed */
    int (*list_set)(struct store *s, const char *scope, const char *sender, int action,
                    int64_t added, int *changed);
    int (*list_all)(struct store *s, struct store_list_entry **v, size_t *n);

    /* feedback and reservoir */
    int (*fb_get)(struct store *s, int64_t uid, const uint8_t *digest, int *spam);
    /* insert a new row (move == 0) or change an existing one (move == 1) */
    int (*fb_write)(struct store *s, int64_t uid, const uint8_t *digest, int spam,
                    size_t n, const void *ids, size_t ids_len, int64_t updated, int move);
    int (*fb_delete)(struct store *s, int64_t uid, const uint8_t *digest, int *changed);
    /* Keep uid's keep most recently updated rows (ties: the greater digest) and
     * always digest; *dropped the rows deleted.  uid < 0: every user. */
    int (*fb_quota)(struct store *s, int64_t uid, uint32_t keep, const uint8_t *digest,
                    uint64_t *dropped);
    int (*res_has)(struct store *s, int64_t uid, const uint8_t *digest);
    /* res_has and user_bump_seen in one step (may be NULL: the front calls
     * the two): *seen := 0 when uid's reservoir holds digest (nothing
     * changed), else seen := seen + 1 and *seen the new value, atomically;
     * STORE_NOTFOUND: no user uid. */
    int (*res_seen)(struct store *s, int64_t uid, const uint8_t *digest, int64_t *seen);
    /* insert or replace slot */
    int (*res_put)(struct store *s, int64_t uid, int64_t slot, const uint8_t *digest,
                   size_t n, const void *ids, size_t ids_len, int64_t added);
    int (*res_trim)(struct store *s, uint32_t size);    /* drop slots >= size */
    /* key's feedback or reservoir rows by digest, each through store_samples_push
     * (rep only when its rep_model equals model_id) */
    int (*samples)(struct store *s, enum store_kind kind, const char *key,
                   const char *model_id, struct store_samples *out);
    int (*rep_put)(struct store *s, enum store_kind kind, int64_t uid,
                   const uint8_t *digest, const void *rep, size_t len, const char *model_id);
    /* the row's model id into mid (truncated to midlen), a malloc'd copy of
     * its blob and seen */
    int (*fc_get)(struct store *s, const char *key, char *mid, size_t midlen,
                  uint64_t *seen, void **blob, size_t *len);
    int (*fc_put)(struct store *s, int64_t uid, const char *model_id, uint64_t seen,
                  const void *blob, size_t len, int64_t updated);

    /* heads and the refit log */
    /* model id and version of key's head; the blob (malloc'd) unless the
     * version is have */
    int (*head_get)(struct store *s, const char *key, char *mid, size_t midlen,
                    uint64_t have, void **blob, size_t *len, uint64_t *version);
    /* uid's refit marks and head version (0: none), locked against other
     * publishers until the transaction ends where the backend can */
    int (*head_marks)(struct store *s, int64_t uid, int64_t *fb_gen, int64_t *seen,
                      int64_t *version);
    /* write the head, the user's refit marks and a refit record, at time at */
    int (*head_put)(struct store *s, int64_t uid, int64_t version, const char *model_id,
                    const void *blob, size_t len, const struct store_user_state *from,
                    const struct store_refit *rec, int64_t at);
    int (*refit_last)(struct store *s, const char *key, struct store_refit *rec,
                      uint64_t *version, int64_t *at);
    int (*refit_max)(struct store *s, int64_t *max);

    /* scan records and statistics */
    int (*scan_day_hist)(struct store *s, int64_t uid, int64_t day, uint8_t *hist,
                         size_t len);   /* STORE_NOTFOUND: no row yet */
    int (*scan_day_add)(struct store *s, int64_t uid, int64_t day,
                        const struct store_scan_day *d);
    /* scan_day_hist and scan_day_add in one step (may be NULL: the front
     * reads the histogram and writes it whole): add d's counts to (uid,
     * day)'s row, or insert it with d's counts and d->hist; bucket >= 0: that
     * bucket of the row's histogram (read as store_hist_read does, zeros past
     * its end) + 1, as a uint32 (wrapping), the histogram written back at
     * 4 * STORE_SCAN_HIST bytes, little-endian (store_scan.c's encoding); -1
     * none.  Atomic against other connections recording for (uid, day).  rec
     * (NULL: none) is written as scan_put writes it, in the same statement. */
    int (*scan_day_bump)(struct store *s, int64_t uid, int64_t day,
                         const struct store_scan_day *d, int bucket,
                         const struct store_scan_rec *rec);
    int (*scan_put)(struct store *s, int64_t uid, const uint8_t *digest, int64_t at,
                    double score, int verdict);
    int (*scan_expire)(struct store *s, int64_t before);
    /* every aggregate row through store_stats_add, in one read snapshot the
     * front holds */
    int (*stats)(struct store *s, const char *key, int64_t since,
                 struct store_stats_acc *acc);
    int (*overview)(struct store *s, int64_t since, struct store_overview *o);

    /* maintenance */
    int (*check)(struct store *s);
    int (*backup)(struct store *s, const char *dst);
    int (*restore)(struct store *s, struct store *src);
    int (*checkpoint)(struct store *s, int64_t *wal_bytes);
    int (*moved)(struct store *s);
    int (*wal_pin)(const struct store *s);

    /* copying (store_copy.c), in whatever transaction the front holds */
    /* Every row of t (uid >= 0: those whose user column is uid) through fn,
     * in no particular order; the backend's own bookkeeping (PostgreSQL's
     * meta.schema_version) is not a row. */
    int (*rows_read)(struct store *s, const struct store_table *t, int64_t uid,
                     store_row_fn fn, void *ctx);
    int (*rows_count)(struct store *s, const struct store_table *t, int64_t uid,
                      uint64_t *n);
    /* Insert one row as given, ids included. */
    int (*row_write)(struct store *s, const struct store_table *t,
                     const struct store_value *v);
    /* Delete every row of t (but the backend's own bookkeeping). */
    int (*rows_clear)(struct store *s, const struct store_table *t);
    /* After rows were written with their ids: new rows get ids past them (and
     * what a backend derives from the rows is brought up to date: PostgreSQL's
     * users.scans). */
    int (*ids_sync)(struct store *s);
};

extern const struct store_backend store_sqlite_backend;
#ifdef HAVE_LIBPQ
extern const struct store_backend store_pg_backend;
#endif

/* s->err := the message; returns status (store_err.c). */
int store_fail(struct store *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the front's own helpers (never called by a backend) ---- */

/* Start one operation's writes (store.c): its own transaction outside a
 * caller's, a savepoint inside one; *own tells store_op_end() which.
 * store_op_end() commits or rolls back as status says and returns the status
 * to return.  Inside store_apply() (s->in_batch) neither: the batch is all or
 * none, so a failed operation's writes go with the rollback of the whole, and
 * two statements an operation (PostgreSQL: two round trips) are saved. */
int store_op_begin(struct store *s, int *own);
int store_op_end(struct store *s, int own, int status);
/* A numeric value in meta (0 until set), and setting one. */
int store_meta_get_u64(struct store *s, const char *key, uint64_t *v);
int store_meta_set_u64(struct store *s, const char *key, uint64_t v);
/* STORE_OK for a valid user key, else STORE_ERR with the message (store_users.c). */
int store_check_user(struct store *s, const char *user);
/* Inside a write transaction: user's id, creating the user (store_users.c). */
int store_user_id(struct store *s, const char *user, int64_t *uid);

/* ---- helpers the backends build their results with (store_rows.c) ---- */

/* Append one row to out: digest (dlen bytes), label, n ids idpack-encoded in
 * ids/ids_len, and a cached representation (rep/rep_len bytes of little-endian
 * float32, ignored when of a bad length).  STORE_ERR (message set) on a
 * corrupt row or no memory; then the caller frees out.  store_samples_done()
 * turns the offsets into pointers at the end. */
struct store_samples_build {
    struct store_samples *out;
    size_t cap, acap, aused, rcap, rused;
};
int store_samples_push(struct store *s, struct store_samples_build *b, const char *key,
                       const void *digest, size_t dlen, int spam, int64_t n,
                       const void *ids, size_t ids_len, const void *rep, size_t rep_len);
void store_samples_done(struct store_samples_build *b);

/* A NULL-terminated list of keys growing one at a time. */
struct store_strv_build {
    char **v;
    size_t n, cap;
};
int store_strv_push(struct store_strv_build *b, const char *key);  /* -1: no memory */

/* One aggregate row into the statistics being built. */
int store_stats_add(struct store *s, struct store_stats_acc *acc,
                    const struct store_stats_row *r);
/* The scan-time histogram in a blob of len bytes (little-endian uint32 per
 * bucket; shorter: the missing buckets are 0) into hist[STORE_SCAN_HIST]. */
void store_hist_read(const void *blob, size_t len, uint32_t *hist);

/* ---- SQL text the SQL backends build from a store_table (store_sql.c) ---- */

enum store_sql_kind {
    STORE_SQL_SELECT,           /* every column, in order */
    STORE_SQL_COUNT,            /* count(*) */
    STORE_SQL_INSERT,           /* every column as a parameter, in order */
    STORE_SQL_DELETE
};

/* The statement of kind over t into buf: parameters written as ph and their
 * number ('?' for SQLite's ?1, '$' for PostgreSQL's $1); with by_user a
 * "WHERE user column = first parameter" (SELECT, COUNT); and cond (may be
 * NULL), a condition of the backend's own ANDed to it.  -1 when buf is too
 * small. */
int store_sql_table(char *buf, size_t len, const struct store_table *t,
                    enum store_sql_kind kind, char ph, int by_user, const char *cond);

#define STORE_REP_MAX 1024      /* floats in one cached representation */
#define STORE_DAY 86400

#endif
