/*
 * writer.h - the one thread that writes scanned mail to the store for a
 * milter, so that SMTP threads never wait on the disk or on a lock.
 *
 * SMTP threads hand over reservoir offers and counter increments with
 * writer_offer()/writer_count(): a copy and a queue push, never I/O.  The writer
 * thread, on its own store connection, applies them in batches (up to batch_max
 * operations or flush_ms after the first one waiting), each in transactions of
 * at most about txn_ms (store_apply()), with the write lock left free for a
 * moment between them so that `spamshift learn` gets it under full load.  When
 * the queue holds queue_max operations new ones are dropped and counted rather
 * than let memory grow: the reservoir is a sample and may miss a message, the
 * SMTP path may not wait.
 *
 * Faults: a store locked past its busy timeout is waited out, the batch kept.
 * So is a database server that cannot be reached (STORE_EDOWN: PostgreSQL
 * stopped, restarting, the network gone): the batch is held and retried every
 * WRITER_RETRY_MS while the store's connection reconnects on its own backoff
 * (store_pg_conn.c: 100 ms doubling to 30 s), and what the SMTP threads hand
 * over meanwhile waits in the queue up to queue_max, beyond which it is dropped
 * and counted (stats.dropped).  writer_flush() waits for the server; a
 * writer_stop() during an outage gives the held writes up (counted as failed).
 * A store that refuses a write (read-only, full, corrupt) or that was removed or
 * replaced under the open connection (checked before every batch) costs the
 * batch (counted as failed); the connection is closed and the path reopened, at
 * most every reopen_ms, until a batch commits again.  Each fault episode is
 * reported once when it starts and once when it ends, through o.report.
 */
#ifndef SPAMSHIFT_WRITER_H
#define SPAMSHIFT_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct writer;

enum writer_event {
    WRITER_FAULT,               /* a fault episode starts: the store is locked past
                                 * its timeout, refuses writes, was removed or
                                 * replaced, or its server cannot be reached */
    WRITER_RECOVERED            /* the first batch after it committed */
};

/* Called on the writer thread, once per event, with a one-line description that
 * names the store (store_name(): no password) and the error.  Must not call back into the writer. */
typedef void writer_report_fn(void *arg, enum writer_event ev, const char *line);

struct writer_opts {
    size_t batch_max;           /* operations per transaction; default 500 */
    unsigned flush_ms;          /* longest wait before a partial batch; default 200 */
    size_t queue_max;           /* operations waiting at most; default 100000 */
    unsigned busy_ms;           /* the store's busy timeout; default 5000 */
    unsigned txn_ms;            /* aim for transactions shorter than this (the
                                 * operations per transaction adapt); default 50 */
    unsigned reopen_ms;         /* least time between reopen attempts of a failed
                                 * store; default 1000 */
    writer_report_fn *report;   /* fault episodes; NULL: not reported */
    void *report_arg;
};

struct writer_stats {
    uint64_t queued;            /* accepted by writer_offer()/writer_count() */
    uint64_t written;           /* committed */
    uint64_t dropped;           /* refused because the queue was full */
    uint64_t failed;            /* lost in a batch the store refused (not busy) */
    uint64_t batches;           /* committed transactions */
    uint64_t busy_retries;      /* batches retried after a lock timeout */
    uint64_t down_retries;      /* batches retried while the server was unreachable */
    uint64_t faults;            /* fault episodes begun (busy, error, moved) */
    uint64_t pending;           /* operations queued and not yet taken (the
                                 * queue's depth, by writer_stats()) */
    uint64_t reopens;           /* the store reopened after a fault */
    int in_fault;               /* a fault episode is going on */
    int server_down;            /* ... and it is an unreachable database server */
    char last_error[256];       /* "" if none */
};

void writer_opts_default(struct writer_opts *o);

/* Open db_path (created if missing) on a new thread's connection and start the
 * writer.  Returns NULL with a reason in err if the store cannot be opened.  A
 * database server that cannot be reached now (STORE_EDOWN) is not that: the
 * writer starts in a fault episode (reported at once, on the caller's thread),
 * holds what it is given as above and opens (and creates) the store when the
 * server answers, tried every reopen_ms. */
struct writer *writer_start(const char *db_path, const struct writer_opts *o,
                            char *err, size_t errlen);

/* Queue one reservoir offer of a scanned message for user (ids sorted, unique;
 * copied).  Returns 0, or -1 if the queue is full, memory is short or the ids
 * are not sorted and unique (the offer is dropped and counted).  Never blocks on I/O; thread-safe. */
int writer_offer(struct writer *w, const char *user,
                 const uint8_t digest[STORE_DIGEST_LEN], const uint32_t *ids, size_t n);

/* Queue counter += delta for user; as writer_offer(). */
int writer_count(struct writer *w, const char *user, const char *counter, int64_t delta);

/* Queue a scan record (store_scan_record(): the user's day counters and, for
 * a scored message, the per-message record); digest may be NULL for a skipped
 * or failed scan.  As writer_offer(). */
int writer_scan(struct writer *w, const char *user, const uint8_t digest[STORE_DIGEST_LEN],
                float score, int verdict, double ms);

/* Wait until everything queued before the call is committed or given up on
 * (for tests and for a clean reload).  Blocks, for as long as an unreachable
 * server stays away. */
void writer_flush(struct writer *w);

void writer_stats(struct writer *w, struct writer_stats *st);

/* The store as the writer's messages name it (store_name(): no password).
 * Owned by w; lives as long as it.  This can't fail. */
const char *writer_store_name(const struct writer *w);

/* Commit what is queued, stop the thread, close the store.  With the server
 * unreachable what is held is given up at once (stats.failed).  Accepts NULL;
 * returns NULL. */
struct writer *writer_stop(struct writer *w);

/* writer_stop(), and *st (when not NULL) the counts once everything queued is
 * committed or given up on: writer_stats() before writer_stop() misses what
 * was still queued (pending). */
struct writer *writer_stop_stats(struct writer *w, struct writer_stats *st);

#endif
