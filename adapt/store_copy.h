/*
 * store_copy.h - moving a whole store to another database, whatever the two
 * backends (`spamshift store copy`): SQLite to PostgreSQL, back, or SQLite to
 * SQLite.  Through the backends' row operations (store_be.h), never the SQL
 * of one backend, so every direction is the same code.
 *
 * What moves: every table the store holds, row for row, ids included (the
 * refit log's ids are the positions the milters' head caches follow, and a
 * copy that keeps them is equal to its source row for row), and the settings (reservoir
 * size, quota, dirty threshold, seed, features version, per-user target FPRs:
 * everything in meta but a backend's own schema bookkeeping).
 */
#ifndef SPAMSHIFT_STORE_COPY_H
#define SPAMSHIFT_STORE_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STORE_COPY_TABLES 11

/* Rows per table (in store_copy_table_name(i) order) and users. */
struct store_copy_counts {
    uint64_t rows[STORE_COPY_TABLES];
    uint64_t users;
};

const char *store_copy_table_name(int i);

/* Called after each user is committed: done of total users. */
typedef void (*store_copy_progress_fn)(void *ctx, uint64_t done, uint64_t total);

/*
 * 1 when dst holds nothing but the settings a new store is opened with, 0 when
 * it holds data (why names the first table that has rows, or the meta key), or
 * a negative status (store_errmsg(dst)).  Reads outside a transaction.
 */
int store_copy_is_empty(struct store *dst, char *why, size_t len);

/*
 * 1 when src and dst are one store under two names ("a.db" and "sqlite:./a.db",
 * a URI and a key=value string for one database), 0 when not, or a negative
 * status (message in err).  Found by writing a random probe into dst's meta
 * (committed, then deleted) and reading it through src: whatever the backend,
 * no file or server identity to compare.  Neither store may be inside a
 * transaction.
 */
int store_copy_same(struct store *src, struct store *dst, char *err, size_t errlen);

#define STORE_COPY_FORCE  0x01u  /* delete what dst holds first */
#define STORE_COPY_VERIFY 0x02u  /* then store_copy_compare() in the same snapshot */

/*
 * Copy src into dst.  src is read in one read snapshot (other connections may
 * go on writing to it; what they write after the snapshot is not copied).
 * dst must be empty (store_copy_is_empty) unless STORE_COPY_FORCE.  Transactions on dst: the first clears it (force), replaces its
 * settings with src's and copies the allow and block lists; then one per user
 * (its row and every row of its in each table); then one that moves dst's id
 * counters past the copied ids.  A failure stops there: the users before it
 * are in dst, committed; the message in err (one line) says which side failed,
 * at which user, and how many were copied.  *n (may be NULL) counts what was
 * written.  With STORE_COPY_VERIFY a copy whose compare finds a difference
 * returns STORE_NOTFOUND with the difference in err (the copy stays).  Neither store may be
 * inside a transaction.
 */
int store_copy(struct store *src, struct store *dst, unsigned flags,
               store_copy_progress_fn progress, void *ctx, struct store_copy_counts *n,
               char *err, size_t errlen);

/*
 * Compare a and b table by table: for each per-user table, every user of a
 * (by id) holds the same number of rows with the same content (an
 * order-independent hash of the values) on both sides, and each table holds
 * the same number of rows in all; meta and the lists compared whole.
 * STORE_OK when equal, STORE_NOTFOUND with the first difference in diff
 * ("feedback of user bob@example.org: 3 rows in a, 2 in b"), or a negative
 * status with err.  *na (may be NULL) gets a's counts.  a is read in one read
 * snapshot, b in another.
 */
int store_copy_compare(struct store *a, struct store *b, struct store_copy_counts *na,
                       char *diff, size_t difflen);

#endif
