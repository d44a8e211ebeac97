/*
 * store_pg.h - the PostgreSQL backend's files share this (private to
 * adapt/store_pg*.c): the connection, bound parameters, reading binary
 * results, error mapping, and the row-level operations each file implements
 * for store_be.h.
 */
#ifndef SPAMSHIFT_STORE_PG_H
#define SPAMSHIFT_STORE_PG_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "store.h"
#include "store_be.h"

#define PQ_SCHEMA_VERSION 3
#define PQ_MAX_ARGS 16

/* Every counter as a read snapshot sees it (store_pg_users.c), sorted by
 * (key, name) bytewise. */
struct pq_counter {
    char *key, *name;
    int64_t value;
};

/* Rows store copy's row_write holds back (store_pg_copy.c): one held-back
 * value is a copy (text NUL-terminated, blob binary), NULL for SQL NULL. */
#define PQ_BATCH_ROWS 256
struct pq_val {
    char *p;
    int len;
    int fmt;
};

struct pq_batch {
    int (*flush)(struct store *s);      /* sends them (pq_run calls it, before any
                                         * other statement), and frees the batch */
    const struct store_table *t;
    int nrows;
    struct pq_val v[PQ_BATCH_ROWS * STORE_TABLE_COLS];
};

/* The statements a connection has prepared (store_pg.c, pq_run_n): the
 * server parses and plans each once per session instead of at every run.
 * Statement i is named "s<gen>_<i>"; the cache is forgotten (gen + 1) when the
 * session is (a reconnect: c->attempts moved) or the server says a name is
 * unknown (26000).  At most PQ_PREP_MAX; later texts run unprepared. */
#define PQ_PREP_MAX 128
struct pq_prep {
    char *sql;                  /* found by its text: a few dozen, compared */
};

/* The user ids a write transaction looked up or created (store_pg_users.c),
 * forgotten when it ends or rolls back to a savepoint: a writer batch names
 * the same few users again and again, each a round trip otherwise. */
#define PQ_UIDS 32
struct pq_uid {
    char *key;
    int64_t uid;
};

/* A writer batch's statements sent and not answered yet (store_pg.c): one
 * whose result the operation does not need is sent at once and its answer
 * read at the next statement that needs one, or at the COMMIT. */
#define PQ_PIPE_MAX 64
struct pq_pend {
    char what[48];              /* the statement as an error names it */
    int prepare;                /* a PQsendPrepare's answer: failed, the cache goes */
};

/* One per store handle, and a handle belongs to one thread at a time (libpq's
 * PGconn is not shared between threads): a program with several threads that
 * use the store opens a handle, so a connection, for each (store.h). */
struct pq_conn {
    PGconn *pg;
    int down;                   /* the connection was lost: revived after backoff */
    double delay;               /* the backoff now (s); 0 when connected */
    double next_try;            /* no reconnect before this (pq_conn_now() clock) */
    double ok_at;               /* the last statement that worked (or the connect) */
    double down_at;             /* when it last found the server away (lost, or a
                                 * reconnect failed) */
    unsigned long attempts;     /* reconnects tried (for tests) */
    int in_block;               /* between a BEGIN that worked and its end: a lost
                                 * connection is not revived inside one */
    struct pq_counter *counters;        /* loaded at the first counter_get of a read
                                         * snapshot, dropped when the next begins;
                                         * NULL: not loaded */
    size_t ncounters;
    struct pq_batch *batch;     /* rows row_write holds back (store_pg_copy.c),
                                 * sent before any other statement; NULL: none */
    int copy_async;             /* this connection's commits no longer wait for
                                 * the disk (a copy's; ids_sync's does again) */
    struct pq_prep prep[PQ_PREP_MAX];   /* prepared statements, in name order */
    int nprep;
    unsigned long prep_gen;     /* names' generation (the cache forgotten) */
    unsigned long prep_session; /* attempts when the cache was begun */
    unsigned long prepared;     /* PQprepare calls that worked (for tests) */
    struct pq_uid uids[PQ_UIDS];        /* this transaction's users; round robin */
    int nuids, uid_next;
    int begin_pending;          /* a write transaction's BEGIN is not sent yet: it
                                 * goes with its first statement */
    int piped;                  /* libpq pipeline mode: inside a writer batch
                                 * (s->in_batch at its first statement) */
    int acked;                  /* a statement of this pipeline was answered */
    int npend;                  /* answers to read, in order */
    struct pq_pend pend[PQ_PIPE_MAX];
    unsigned long round_trips;  /* waits for the server's answers (for tests and
                                 * bench/store/writes.sh) */
};

/* store_pg_conn.c: the backoff's bounds (s) */
#define PQ_BACKOFF_MIN 0.1
#define PQ_BACKOFF_MAX 30.0

/* store_pg_conn.c: the clock (monotonic seconds) and a test's replacement for
 * it (NULL: the real one back). */
double pq_conn_now(void);
void pq_conn_set_clock(double (*fn)(void));
/* 1 for an SQLSTATE that means the session is over (08xxx, 57P01-57P03). */
int pq_conn_lost_state(const char *sqlstate);
/* The backoff after one more failed attempt: 100 ms, doubling, at most 30 s. */
double pq_conn_next_delay(double delay);
/* The connection c was made, or a statement on it worked. */
void pq_conn_opened(struct pq_conn *c);
/* The connection of s is lost (line: libpq's first line): mark it, schedule
 * the reconnect, report the outage if it is the process's first news of it. */
void pq_conn_lost(struct store *s, const char *line);
/* Before a transaction: STORE_OK with a working connection (reset if it was
 * lost and the backoff has passed, *reset then 1: the caller redoes the
 * session settings; the return reported once per outage), or STORE_EDOWN
 * with the message set. */
int pq_conn_revive(struct store *s, int *reset);
/* The first line of a libpq message into buf. */
const char *pq_first_line(const char *msg, char *buf, size_t len);

/* store_pg.c: the session settings of a new or reset connection. */
int pq_session(struct store *s, unsigned flags);

static inline PGconn *
pq_db(const struct store *s)
{
    return ((const struct pq_conn *)s->conn)->pg;
}

/* A statement's parameters, all bound (never spliced into the SQL): numbers as
 * text, blobs in binary.  Filled in order $1, $2, ...; the strings are
 * borrowed until the statement has run. */
struct pq_args {
    int n;
    const char *v[PQ_MAX_ARGS];
    int len[PQ_MAX_ARGS];
    int fmt[PQ_MAX_ARGS];
    char num[PQ_MAX_ARGS][32];
};

void pq_i64(struct pq_args *a, int64_t v);
void pq_f64(struct pq_args *a, double v);
void pq_text(struct pq_args *a, const char *t);     /* NULL: SQL NULL */
void pq_bin(struct pq_args *a, const void *p, size_t len);

/* Run sql with a (may be NULL) and binary results.  Returns the result
 * (PQclear it) with *rc STORE_OK, or NULL with *rc and the message set
 * (STORE_BUSY for a lock or serialization timeout, STORE_EDOWN for a lost
 * connection). */
PGresult *pq_run(struct store *s, const char *sql, const struct pq_args *a,
                 const char *what, int *rc);
/* As pq_run() with n parameters in arrays (any number). */
PGresult *pq_run_n(struct store *s, const char *sql, int n, const char *const *v,
                   const int *len, const int *fmt, const char *what, int *rc);
/* As pq_run() for a statement whose result is not needed; *changed (may be
 * NULL) the rows it changed.  Without changed, inside a writer batch
 * (store_pg.c's pipeline), STORE_OK means sent: its failure is returned by a
 * later statement of the batch or its COMMIT, and the batch is undone whole. */
int pq_do(struct store *s, const char *sql, const struct pq_args *a, const char *what,
          uint64_t *changed);
/* A statement of at most one row whose first column is an integer:
 * STORE_OK and *v, or STORE_NOTFOUND. */
int pq_int1(struct store *s, const char *sql, const struct pq_args *a, const char *what,
            int64_t *v);
/* Column values of a binary result: integers of any width, float4/float8,
 * NULL as 0 (pq_isnull tells). */
int64_t pq_int(const PGresult *r, int row, int col);
double pq_dbl(const PGresult *r, int row, int col);
int pq_isnull(const PGresult *r, int row, int col);
/* Keys from the first column of every row into a NULL-terminated list. */
int pq_keys_of(struct store *s, PGresult *r, char ***users, size_t *n);
/* Rows of (key, number) into a NULL-terminated list of keys and an array of
 * the numbers (malloc'd; NULL when there is none); r is cleared.  what names
 * the operation in the message. */
int pq_key_values_of(struct store *s, PGresult *r, const char *what, char ***users,
                     double **vals, size_t *n);
/* A malloc'd copy of a bytea column (at least one byte); -1 when out of memory. */
int pq_blob_copy(const PGresult *r, int row, int col, void **blob, size_t *len);

/* store_pg.c: the connection (a libpq connection string, flags as
 * store_be.h's open), its transactions (a lost connection is reset at the
 * next begin). */
int pq_open(struct store *s, const char *target, unsigned flags);
void pq_close(struct store *s);
/* "postgresql:DBNAME" for a connection string, as pq_open names the store
 * (the dbname given, else the user, else "(default)"); never a password. */
void pq_label(const char *target, char *buf, size_t len);
int pq_txn(struct store *s, enum store_txn t);

/* store_pg_schema.c */
int pq_schema_get(struct store *s, int64_t *version);
int pq_schema_upgrade(struct store *s, int64_t version);
int pq_meta_get(struct store *s, const char *key, char *buf, size_t len);
int pq_meta_set(struct store *s, const char *key, const char *value);
int pq_meta_delete(struct store *s, const char *key);
int pq_meta_list(struct store *s, const char *prefix, char ***keys, double **vals,
                 size_t *n);

/* store_pg_users.c */
int pq_user_lookup(struct store *s, const char *key, int64_t *uid);
int pq_user_insert(struct store *s, const char *key, int64_t created, int64_t *uid);
int pq_user_state(struct store *s, const char *key, struct store_user_state *st);
int pq_user_bump_fb(struct store *s, int64_t uid);
int pq_user_bump_seen(struct store *s, int64_t uid, int64_t *seen);
int pq_keys(struct store *s, const struct store_keys_q *q, char ***users, size_t *n);
int pq_claim(struct store *s, const struct store_keys_q *q, const char *after,
             const char *owner, int64_t now, int64_t until, char **key);
int pq_claim_release(struct store *s, const char *key, const char *owner);
int pq_thr_get(struct store *s, const char *key, double *spam);
int pq_thr_set(struct store *s, int64_t uid, double spam);
int pq_thr_list(struct store *s, char ***users, double **spam, size_t *n);
int pq_counter_add(struct store *s, int64_t uid, const char *name, int64_t delta);
int pq_counter_get(struct store *s, const char *key, const char *name, int64_t *v);
/* store_pg.c: forget the snapshot's counters (at a new read snapshot and at
 * close). */
void pq_counters_drop(struct store *s);
/* store_pg.c: the user ids of the transaction going on (none outside one):
 * 1 and *uid when key's is known; remember one; forget them (pq_txn does at
 * every begin, commit, rollback and rollback to a savepoint). */
int pq_uid_find(struct store *s, const char *key, int64_t *uid);
void pq_uid_put(struct store *s, const char *key, int64_t uid);
void pq_uids_drop(struct store *s);
int pq_list_set(struct store *s, const char *scope, const char *sender, int action,
                int64_t added, int *changed);
int pq_list_all(struct store *s, struct store_list_entry **v, size_t *n);

/* store_pg_samples.c */
int pq_fb_get(struct store *s, int64_t uid, const uint8_t *digest, int *spam);
int pq_fb_write(struct store *s, int64_t uid, const uint8_t *digest, int spam, size_t n,
                const void *ids, size_t ids_len, int64_t updated, int move);
int pq_fb_delete(struct store *s, int64_t uid, const uint8_t *digest, int *changed);
int pq_fb_quota(struct store *s, int64_t uid, uint32_t keep, const uint8_t *digest,
                uint64_t *dropped);
int pq_res_has(struct store *s, int64_t uid, const uint8_t *digest);
int pq_res_seen(struct store *s, int64_t uid, const uint8_t *digest, int64_t *seen);
int pq_res_put(struct store *s, int64_t uid, int64_t slot, const uint8_t *digest,
               size_t n, const void *ids, size_t ids_len, int64_t added);
int pq_res_trim(struct store *s, uint32_t size);
int pq_samples(struct store *s, enum store_kind kind, const char *key,
               const char *model_id, struct store_samples *out);
int pq_rep_put(struct store *s, enum store_kind kind, int64_t uid, const uint8_t *digest,
               const void *rep, size_t len, const char *model_id);
int pq_fc_get(struct store *s, const char *key, char *mid, size_t midlen, uint64_t *seen,
              void **blob, size_t *len);
int pq_fc_put(struct store *s, int64_t uid, const char *model_id, uint64_t seen,
              const void *blob, size_t len, int64_t updated);
int pq_head_get(struct store *s, const char *key, char *mid, size_t midlen,
                uint64_t have, void **blob, size_t *len, uint64_t *version);
int pq_head_marks(struct store *s, int64_t uid, int64_t *fb_gen, int64_t *seen,
                  int64_t *version);
int pq_head_put(struct store *s, int64_t uid, int64_t version, const char *model_id,
                const void *blob, size_t len, const struct store_user_state *from,
                const struct store_refit *rec, int64_t at);
int pq_refit_last(struct store *s, const char *key, struct store_refit *rec,
                  uint64_t *version, int64_t *at);
int pq_refit_max(struct store *s, int64_t *max);

/* store_pg_scans.c */
int pq_scan_day_hist(struct store *s, int64_t uid, int64_t day, uint8_t *hist, size_t len);
int pq_scan_day_add(struct store *s, int64_t uid, int64_t day,
                    const struct store_scan_day *d);
int pq_scan_day_bump(struct store *s, int64_t uid, int64_t day,
                     const struct store_scan_day *d, int bucket,
                     const struct store_scan_rec *rec);
int pq_scan_put(struct store *s, int64_t uid, const uint8_t *digest, int64_t at,
                double score, int verdict);
int pq_scan_expire(struct store *s, int64_t before);
int pq_stats(struct store *s, const char *key, int64_t since, struct store_stats_acc *acc);
int pq_overview(struct store *s, int64_t since, struct store_overview *o);
int pq_check(struct store *s);

/* store_pg_copy.c */
int pq_rows_read(struct store *s, const struct store_table *t, int64_t uid,
                 store_row_fn fn, void *ctx);
int pq_rows_count(struct store *s, const struct store_table *t, int64_t uid, uint64_t *n);
/* store_pg_copy.c: send the rows row_write holds back (through batch->flush:
 * pq_run does, before any other statement). */
int pq_batch_flush(struct store *s);
/* store_pg.c: hold back row v of t (a copy of its values); a batch of
 * another table or flush is sent first, a full one (PQ_BATCH_ROWS) at once;
 * flush builds the batch's statement and calls pq_batch_send. */
int pq_batch_add(struct store *s, const struct store_table *t, const struct store_value *v,
                 int (*flush)(struct store *s));
/* Run sql (NULL: out of memory) with the held-back rows' values as its
 * parameters, in order, and free the batch. */
int pq_batch_send(struct store *s, const char *sql, const char *what);
/* store_pg.c: free a batch; forget the connection's (a rollback, close). */
void pq_batch_free(struct pq_batch *b);
void pq_batch_drop(struct store *s);
int pq_row_write(struct store *s, const struct store_table *t, const struct store_value *v);
int pq_rows_clear(struct store *s, const struct store_table *t);
int pq_ids_sync(struct store *s);

#endif
