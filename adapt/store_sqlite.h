/*
 * store_sqlite.h - the SQLite backend's files share this (private to
 * adapt/store_sqlite*.c): the connection, the statement cache, error mapping
 * (store_sqlite.c, which calls none of the other files) and the row-level
 * operations each file implements for store_be.h (named in store_sqlite_be.c).
 */
#ifndef SPAMSHIFT_STORE_SQLITE_H
#define SPAMSHIFT_STORE_SQLITE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "store.h"
#include "store_be.h"

#define SQ_SCHEMA_VERSION 9
#define SQ_CACHE 64             /* prepared statements kept per connection */

struct sq_conn {
    sqlite3 *db;
    char *path;
    int64_t busy_since;         /* busy_wait(): when the current wait began (ms) */
    int wal_fd;                 /* PATH-wal as found at open, held open; -1 */
    struct {
        const char *sql;        /* by identity: each file's static SQL */
        sqlite3_stmt *st;
    } cache[SQ_CACHE];
};

static inline sqlite3 *
sq_db(const struct store *s)
{
    return ((const struct sq_conn *)s->conn)->db;
}

/* Map the connection's last SQLite error to a status and a message naming what
 * was being done and the file. */
int sq_fail_db(struct store *s, int rc, const char *what);
/* The prepared statement for sql (static storage: the cache keys on the
 * pointer), reset and unbound; NULL with the message set on failure. */
sqlite3_stmt *sq_stmt(struct store *s, const char *sql);
int sq_exec(struct store *s, const char *sql, const char *what);
/* Step a statement that returns no row. */
int sq_step_done(struct store *s, sqlite3_stmt *st, const char *what);
/* Step a statement for at most one integer: STORE_OK and *v, STORE_NOTFOUND. */
int sq_step_int(struct store *s, sqlite3_stmt *st, int64_t *v, const char *what);
/* Step a statement whose rows' first column is a key, into a NULL-terminated list. */
int sq_collect_keys(struct store *s, sqlite3_stmt *st, char ***users, size_t *n);
/* Step a statement whose rows are (key, number) into a NULL-terminated list of
 * keys and an array of the numbers (malloc'd; NULL when there is none); what
 * names the operation in the message. */
int sq_collect_key_values(struct store *s, sqlite3_stmt *st, const char *what,
                          char ***users, double **vals, size_t *n);
/* A malloc'd copy of column col (at least one byte allocated); -1 when out of memory. */
int sq_column_blob_copy(sqlite3_stmt *st, int col, void **blob, size_t *len);

/* store_sqlite.c: the connection (PATH, flags as store_be.h's open), its
 * transactions, and whether the file was moved or deleted under it. */
int sq_open(struct store *s, const char *path, unsigned flags);
void sq_close(struct store *s);
int sq_txn(struct store *s, enum store_txn t);
int sq_moved(struct store *s);
/* path + "-wal" into buf; -1 when it does not fit. */
int sq_wal_name(const char *path, char *buf, size_t len);

/* store_sqlite_schema.c */
int sq_schema_get(struct store *s, int64_t *version);
int sq_schema_upgrade(struct store *s, int64_t version);
int sq_meta_get(struct store *s, const char *key, char *buf, size_t len);
int sq_meta_set(struct store *s, const char *key, const char *value);
int sq_meta_delete(struct store *s, const char *key);
int sq_meta_list(struct store *s, const char *prefix, char ***keys, double **vals,
                 size_t *n);

/* store_sqlite_users.c */
int sq_user_lookup(struct store *s, const char *key, int64_t *uid);
int sq_user_insert(struct store *s, const char *key, int64_t created, int64_t *uid);
int sq_user_state(struct store *s, const char *key, struct store_user_state *st);
int sq_user_bump_fb(struct store *s, int64_t uid);
int sq_user_bump_seen(struct store *s, int64_t uid, int64_t *seen);
int sq_keys(struct store *s, const struct store_keys_q *q, char ***users, size_t *n);
int sq_claim(struct store *s, const struct store_keys_q *q, const char *after,
             const char *owner, int64_t now, int64_t until, char **key);
int sq_claim_release(struct store *s, const char *key, const char *owner);
int sq_thr_get(struct store *s, const char *key, double *spam);
int sq_thr_set(struct store *s, int64_t uid, double spam);
int sq_thr_list(struct store *s, char ***users, double **spam, size_t *n);
int sq_counter_add(struct store *s, int64_t uid, const char *name, int64_t delta);
int sq_counter_get(struct store *s, const char *key, const char *name, int64_t *v);

/* store_sqlite_lists.c */
int sq_list_set(struct store *s, const char *scope, const char *sender, int action,
                int64_t added, int *changed);
int sq_list_all(struct store *s, struct store_list_entry **v, size_t *n);

/* store_sqlite_samples.c */
int sq_fb_get(struct store *s, int64_t uid, const uint8_t *digest, int *spam);
int sq_fb_write(struct store *s, int64_t uid, const uint8_t *digest, int spam, size_t n,
                const void *ids, size_t ids_len, int64_t updated, int move);
int sq_fb_delete(struct store *s, int64_t uid, const uint8_t *digest, int *changed);
int sq_fb_quota(struct store *s, int64_t uid, uint32_t keep, const uint8_t *digest,
                uint64_t *dropped);
int sq_res_has(struct store *s, int64_t uid, const uint8_t *digest);
int sq_res_put(struct store *s, int64_t uid, int64_t slot, const uint8_t *digest,
               size_t n, const void *ids, size_t ids_len, int64_t added);
int sq_res_trim(struct store *s, uint32_t size);
int sq_samples(struct store *s, enum store_kind kind, const char *key,
               const char *model_id, struct store_samples *out);
int sq_rep_put(struct store *s, enum store_kind kind, int64_t uid, const uint8_t *digest,
               const void *rep, size_t len, const char *model_id);
int sq_fc_get(struct store *s, const char *key, char *mid, size_t midlen, uint64_t *seen,
              void **blob, size_t *len);
int sq_fc_put(struct store *s, int64_t uid, const char *model_id, uint64_t seen,
              const void *blob, size_t len, int64_t updated);

/* store_sqlite_heads.c */
int sq_head_get(struct store *s, const char *key, char *mid, size_t midlen,
                uint64_t have, void **blob, size_t *len, uint64_t *version);
int sq_head_marks(struct store *s, int64_t uid, int64_t *fb_gen, int64_t *seen,
                  int64_t *version);
int sq_head_put(struct store *s, int64_t uid, int64_t version, const char *model_id,
                const void *blob, size_t len, const struct store_user_state *from,
                const struct store_refit *rec, int64_t at);
int sq_refit_last(struct store *s, const char *key, struct store_refit *rec,
                  uint64_t *version, int64_t *at);
int sq_refit_max(struct store *s, int64_t *max);

/* store_sqlite_scans.c */
int sq_scan_day_hist(struct store *s, int64_t uid, int64_t day, uint8_t *hist, size_t len);
int sq_scan_day_add(struct store *s, int64_t uid, int64_t day,
                    const struct store_scan_day *d);
int sq_scan_put(struct store *s, int64_t uid, const uint8_t *digest, int64_t at,
                double score, int verdict);
int sq_scan_expire(struct store *s, int64_t before);
int sq_stats(struct store *s, const char *key, int64_t since, struct store_stats_acc *acc);
int sq_overview(struct store *s, int64_t since, struct store_overview *o);

/* store_sqlite_backup.c */
int sq_check(struct store *s);
int sq_backup(struct store *s, const char *dst);
int sq_restore(struct store *s, struct store *src);
int sq_checkpoint(struct store *s, int64_t *wal_bytes);
int sq_wal_pin(const struct store *s);
int store_sqlite_wal_is(const char *path, int fd);

/* store_sqlite_copy.c */
int sq_rows_read(struct store *s, const struct store_table *t, int64_t uid,
                 store_row_fn fn, void *ctx);
int sq_rows_count(struct store *s, const struct store_table *t, int64_t uid, uint64_t *n);
int sq_row_write(struct store *s, const struct store_table *t, const struct store_value *v);
int sq_rows_clear(struct store *s, const struct store_table *t);
int sq_ids_sync(struct store *s);

#endif
