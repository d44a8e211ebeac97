/*
 * writer.c - the milter's batching store writer; see writer.h.
 *
 * Producers push heap-allocated jobs on a GAsyncQueue (its own lock, no I/O);
 * the writer thread pops them with a timeout, gathers a batch and applies it in
 * store_apply() transactions of `chunk` operations, a number adapted after each
 * commit so that one transaction takes about txn_ms.  Flush requests travel
 * through the same queue as marker jobs, so "everything before the marker is
 * done" is exact.  The statistics are under a mutex that no I/O is ever done
 * under; the fault state (fault_*) belongs to the writer thread alone.
 */
#include "config.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>

#include "store.h"
#include "writer.h"

enum job_kind { JOB_OP, JOB_FLUSH, JOB_STOP };

struct job {
    enum job_kind kind;
    struct store_op op;         /* JOB_OP; op.user, op.ids, op.counter owned */
    /* JOB_FLUSH: the flusher waits on done */
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
    int *done;
};

/* After a commit with more work waiting, the write lock is left free this long
 * so that another process's writer (`spamshift learn`, polling every
 * millisecond: store_sqlite.c) gets it even when this one is saturated. */
#define WRITER_GAP_US 2000

/* How often a held batch is tried again (lock timeout, server unreachable).
 * Against a server that is down this costs nothing: the store answers
 * STORE_EDOWN without the network until its reconnect backoff has passed. */
#define WRITER_RETRY_MS 100

enum fault { FAULT_NONE, FAULT_BUSY, FAULT_ERROR, FAULT_MOVED, FAULT_STALE_WAL, FAULT_DOWN };

struct writer {
    struct store *s;            /* NULL while a failed store waits to be reopened */
    char *path;                 /* as configured: may hold a password */
    char *name;                 /* store_name() of the first open: for messages */
    struct store_opts so;
    struct writer_opts o;
    GAsyncQueue *q;
    pthread_t tid;
    pthread_mutex_t lock;       /* guards st, pending and stopping */
    struct writer_stats st;
    size_t pending;             /* operations queued and not yet taken */
    int stopping;               /* writer_stop() was called */
    /* the writer thread's own */
    size_t chunk;               /* operations per transaction, adapted to txn_ms */
    enum fault fault;           /* the episode going on */
    gint64 fault_since;         /* when it began (monotonic us) */
    gint64 last_open;           /* last reopen attempt */
    uint64_t fault_lost;        /* operations given up on during the episode */
    uint64_t fault_dropped;     /* stats.dropped when it began */
    int held;                   /* the last apply_txn() waited (lock, server) */
    int create;                 /* the first open is still to come (the server
                                 * was down at writer_start) */
    int replaced;               /* reopened on a new file at the path, not yet
                                 * written to */
    int old_wal;                /* PATH-wal of the file that was replaced, held
                                 * open (store_wal_pin); -1 */
};

void
writer_opts_default(struct writer_opts *o)
{
    o->batch_max = 500;
    o->flush_ms = 200;
    o->queue_max = 100000;
    o->busy_ms = 5000;
    o->txn_ms = 50;
    o->reopen_ms = 1000;
    o->report = NULL;
    o->report_arg = NULL;
}

static void
job_free(struct job *j)
{
    if (j == NULL)
        return;
    free((char *)j->op.user);
    free((void *)j->op.ids);
    free((char *)j->op.counter);
    free(j);
}

static void
signal_done(struct job *j)
{
    pthread_mutex_lock(j->lock);
    *j->done = 1;
    pthread_cond_signal(j->cond);
    pthread_mutex_unlock(j->lock);
    free(j);
}

static void
report(struct writer *w, enum writer_event ev, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
report(struct writer *w, enum writer_event ev, const char *fmt, ...)
{
    char line[768];
    va_list ap;

    if (w->o.report == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    w->o.report(w->o.report_arg, ev, line);
}

static void
set_error(struct writer *w, const char *msg)
{
    pthread_mutex_lock(&w->lock);
    snprintf(w->st.last_error, sizeof(w->st.last_error), "%.255s", msg);
    pthread_mutex_unlock(&w->lock);
}

/* A fault begins (reported once per episode; a later fault of another kind in
 * the same episode is not reported again). */
static void
fault_begin(struct writer *w, enum fault kind, const char *what)
{
    size_t plen = strlen(w->name);

    set_error(w, what);
    /* The store's messages start with its name, which the report gives first. */
    if (strncmp(what, w->name, plen) == 0 && what[plen] == ':' && what[plen + 1] == ' ')
        what += plen + 2;
    if (w->fault != FAULT_NONE)
        return;
    w->fault = kind;
    w->fault_since = g_get_monotonic_time();
    w->fault_lost = 0;
    pthread_mutex_lock(&w->lock);
    w->st.faults++;
    w->st.in_fault = 1;
    w->st.server_down = kind == FAULT_DOWN;
    w->fault_dropped = w->st.dropped;
    pthread_mutex_unlock(&w->lock);
    switch (kind) {
    case FAULT_DOWN:
        report(w, WRITER_FAULT, "store %s: the database server is unreachable: %s; "
               "scan records and samples wait in memory (at most %zu writes, then new "
               "ones are dropped and counted), retried as the connection comes back",
               w->name, what, w->o.queue_max);
        break;
    case FAULT_BUSY:
        report(w, WRITER_FAULT, "store %s: locked by another connection for more than "
               "%u ms; scan records and samples wait in memory (at most %zu writes, "
               "then new ones are dropped) until it is released",
               w->name, w->o.busy_ms, w->o.queue_max);
        break;
    case FAULT_STALE_WAL:
        report(w, WRITER_FAULT, "store %s: replaced under the running milter, but %s-wal "
               "of the old file is still there: not opening it (a connection would read "
               "the old log into the new file and corrupt it); scan records and samples "
               "are dropped until %s-wal and %s-shm are gone (stop every spamshift "
               "process first) -- restore with `spamshift store restore` instead",
               w->name, w->name, w->name, w->name);
        break;
    case FAULT_MOVED:
        report(w, WRITER_FAULT, "store %s: removed or replaced under the running milter "
               "and cannot be reopened: %s; scan records and samples are dropped until "
               "a store at that path opens (retried every %u ms)", w->name, what,
               w->o.reopen_ms);
        break;
    default:
        report(w, WRITER_FAULT, "store %s: write failed%s: %s; scan records and samples "
               "are dropped until it takes writes again (reopened every %u ms)", w->name,
               w->replaced ? " after it was replaced under the running milter" : "",
               what, w->o.reopen_ms);
    }
}

/* A batch committed: end the episode if there is one. */
static void
fault_end(struct writer *w)
{
    double s;

    if (w->fault == FAULT_NONE)
        return;                 /* (a replaced store is reported by apply()) */
    w->replaced = 0;
    s = (double)(g_get_monotonic_time() - w->fault_since) / 1e6;
    if (w->fault == FAULT_BUSY)
        report(w, WRITER_RECOVERED, "store %s: lock released after %.1f s; the waiting "
               "writes are done", w->name, s);
    else if (w->fault == FAULT_DOWN) {
        uint64_t dropped;

        pthread_mutex_lock(&w->lock);
        dropped = w->st.dropped - w->fault_dropped;
        pthread_mutex_unlock(&w->lock);
        report(w, WRITER_RECOVERED, "store %s: the database server is reachable again "
               "after %.1f s; the held writes are done, %llu new ones were dropped "
               "meanwhile (queue full)", w->name, s, (unsigned long long)dropped);
    } else
        report(w, WRITER_RECOVERED, "store %s: writable again after %.1f s; %llu writes "
               "(scan records, samples) were dropped meanwhile", w->name, s,
               (unsigned long long)w->fault_lost);
    w->fault = FAULT_NONE;
    pthread_mutex_lock(&w->lock);
    w->st.in_fault = 0;
    w->st.server_down = 0;
    pthread_mutex_unlock(&w->lock);
}

/* Make sure w->s is the store now at w->path: a connection whose file was
 * removed or replaced is closed (its writes would reach no one), and a closed
 * one is reopened, at most every reopen_ms.  Returns 1 with a usable w->s, 0
 * when the batch cannot be written, -1 when the database server cannot be
 * reached (the batch is held). */
static int
ensure_store(struct writer *w)
{
    char err[512];
    gint64 now;
    int rc;

    if (w->s != NULL && store_moved(w->s)) {
        /* Reported by what happens next: the reopen failing (removed), the
         * first write failing (say, a read-only file) or succeeding. */
        if (w->old_wal < 0)
            w->old_wal = store_wal_pin(w->s);
        w->s = store_close(w->s);
        w->last_open = 0;       /* the new file may be there already: try now */
        w->replaced = 1;
    }
    if (w->s != NULL)
        return 1;
    now = g_get_monotonic_time();
    if (w->last_open != 0 && now - w->last_open < (gint64)w->o.reopen_ms * 1000)
        return w->fault == FAULT_DOWN ? -1 : 0;
    w->last_open = now;
    if (store_wal_is(w->path, w->old_wal)) {
        fault_begin(w, FAULT_STALE_WAL, "the replaced file's write-ahead log is still there");
        return 0;
    }
    if (w->old_wal >= 0) {
        close(w->old_wal);
        w->old_wal = -1;
    }
    /* Never create it here: a removed store comes back when the admin restores
     * or recreates it, not as an empty file racing the restore.  (The first
     * open of a server that was down at start is writer_start's, deferred.) */
    rc = store_open_graded(w->path, w->create ? STORE_CREATE : 0, &w->so, &w->s, err,
                           sizeof(err));
    if (rc == STORE_EDOWN) {
        w->s = NULL;
        fault_begin(w, FAULT_DOWN, err);
        return -1;
    }
    if (rc != STORE_OK) {
        w->s = NULL;
        fault_begin(w, w->replaced ? FAULT_MOVED : FAULT_ERROR, err);
        return 0;
    }
    w->create = 0;
    pthread_mutex_lock(&w->lock);
    w->st.reopens++;
    pthread_mutex_unlock(&w->lock);
    return 1;
}

static void
count_failed(struct writer *w, size_t n)
{
    w->fault_lost += n;
    pthread_mutex_lock(&w->lock);
    w->st.failed += n;
    pthread_mutex_unlock(&w->lock);
}

static int
stopping(struct writer *w)
{
    int v;

    pthread_mutex_lock(&w->lock);
    v = w->stopping;
    pthread_mutex_unlock(&w->lock);
    return v;
}

/* Apply ops[0..n) in one transaction until it commits or fails for good.
 * Returns 0 when committed. */
static int
apply_txn(struct writer *w, struct store_op *ops, size_t n)
{
    int rc;

    w->held = 0;
    for (;;) {
        int ready = ensure_store(w);

        if (ready < 0 && !stopping(w)) {
            /* Not even connected (down since writer_start, or reopening):
             * held as below. */
            pthread_mutex_lock(&w->lock);
            w->st.down_retries++;
            pthread_mutex_unlock(&w->lock);
            w->held = 1;
            usleep(WRITER_RETRY_MS * 1000);
            continue;
        }
        if (ready <= 0) {
            count_failed(w, n);
            return -1;
        }
        rc = store_apply(w->s, ops, n);
        if (rc == STORE_EDOWN && !stopping(w)) {
            /* The server is away: hold the batch as for a lock (the queue
             * bound protects memory).  The connection is kept: it resets
             * itself on its backoff, and a new one would fare no better. */
            pthread_mutex_lock(&w->lock);
            w->st.down_retries++;
            pthread_mutex_unlock(&w->lock);
            fault_begin(w, FAULT_DOWN, store_errmsg(w->s));
            w->held = 1;
            usleep(WRITER_RETRY_MS * 1000);
            continue;
        }
        if (rc == STORE_EDOWN) {
            /* Stopping: what is held cannot be kept past the process. */
            set_error(w, store_errmsg(w->s));
            count_failed(w, n);
            return -1;
        }
        if (rc != STORE_BUSY)
            break;
        /* A lock held past the busy timeout (an admin's long transaction) is
         * waited out: the queue bound protects memory meanwhile. */
        pthread_mutex_lock(&w->lock);
        w->st.busy_retries++;
        pthread_mutex_unlock(&w->lock);
        fault_begin(w, FAULT_BUSY, store_errmsg(w->s));
        w->held = 1;
        usleep(WRITER_RETRY_MS * 1000);
    }
    if (rc != STORE_OK) {
        char msg[512];

        /* Read-only, full, corrupt, I/O: reopen before the next batch (a store
         * made writable again or replaced needs a new connection). */
        snprintf(msg, sizeof(msg), "%s", store_errmsg(w->s));
        /* A full file system may be full of the log itself: copying it into the
         * database and truncating it gives that back (when the database need
         * not grow for it). */
        (void)store_checkpoint(w->s, NULL);
        w->s = store_close(w->s);
        w->last_open = g_get_monotonic_time();
        fault_begin(w, FAULT_ERROR, msg);
        count_failed(w, n);
        return -1;
    }
    pthread_mutex_lock(&w->lock);
    w->st.written += n;
    w->st.batches++;
    pthread_mutex_unlock(&w->lock);
    fault_end(w);
    return 0;
}

/* Apply batch[0..n) in transactions of w->chunk operations, adapting chunk so
 * that one takes about txn_ms, and leaving the lock free between them. */
static void
apply(struct writer *w, struct job **batch, size_t n)
{
    struct store_op *ops;
    size_t done = 0;
    int ok;

    if (n == 0)
        return;
    if ((ops = malloc(n * sizeof(*ops))) == NULL) {
        pthread_mutex_lock(&w->lock);
        w->st.failed += n;
        snprintf(w->st.last_error, sizeof(w->st.last_error), "out of memory");
        pthread_mutex_unlock(&w->lock);
        return;
    }
    for (size_t i = 0; i < n; i++)
        ops[i] = batch[i]->op;
    ok = 1;
    while (done < n) {
        size_t k = n - done < w->chunk ? n - done : w->chunk;
        gint64 t0 = g_get_monotonic_time();
        int busy_before = w->fault == FAULT_BUSY;
        int committed = apply_txn(w, ops + done, k) == 0;

        ok &= committed;
        if (committed && !busy_before && !w->held && w->fault == FAULT_NONE) {
            /* Scale the next transaction to txn_ms, growing at most twofold
             * (not from one that waited out a lock or the server). */
            gint64 us = g_get_monotonic_time() - t0;
            double want = us > 0 ? (double)k * w->o.txn_ms * 1000.0 / (double)us
                                 : (double)w->o.batch_max;

            if (k == w->chunk || want < (double)w->chunk) {
                if (want > 2.0 * (double)w->chunk)
                    want = 2.0 * (double)w->chunk;
                w->chunk = want < 1 ? 1 : want > (double)w->o.batch_max ? w->o.batch_max
                         : (size_t)want;
            }
        }
        done += k;
        if (committed && (done < n || g_async_queue_length(w->q) > 0))
            usleep(WRITER_GAP_US);
    }
    /* A whole batch went into a store that replaced the old one under us (a
     * transaction that writes nothing commits even on a read-only file, so
     * one is not enough to say so). */
    if (ok && w->replaced && w->fault == FAULT_NONE) {
        report(w, WRITER_RECOVERED, "store %s: replaced under the running milter; "
               "reopened, writing to the new file", w->name);
        w->replaced = 0;
    }
    free(ops);
}

static void *
run(void *arg)
{
    struct writer *w = arg;
    struct job **batch = calloc(w->o.batch_max, sizeof(*batch));
    int stop = 0;

    while (!stop) {
        struct job *j = g_async_queue_pop(w->q);
        size_t n = 0;
        gint64 deadline = g_get_monotonic_time() + (gint64)w->o.flush_ms * 1000;
        GPtrArray *markers = g_ptr_array_new();

        /* Gather: up to batch_max operations, or until flush_ms after the first,
         * or a flush/stop marker. */
        for (;;) {
            if (j->kind == JOB_OP) {
                if (batch != NULL)
                    batch[n++] = j;
                else
                    job_free(j);
            } else {
                g_ptr_array_add(markers, j);
                if (j->kind == JOB_STOP)
                    stop = 1;
                break;
            }
            if (batch == NULL || n == w->o.batch_max)
                break;
            {
                gint64 left = deadline - g_get_monotonic_time();

                if (left <= 0 || (j = g_async_queue_timeout_pop(w->q, (guint64)left)) == NULL)
                    break;
            }
        }
        pthread_mutex_lock(&w->lock);
        w->pending -= n;
        pthread_mutex_unlock(&w->lock);
        apply(w, batch, n);
        for (size_t i = 0; i < n; i++)
            job_free(batch[i]);
        for (guint i = 0; i < markers->len; i++) {
            struct job *m = g_ptr_array_index(markers, i);

            if (m->kind == JOB_FLUSH)
                signal_done(m);
            else
                free(m);
        }
        g_ptr_array_free(markers, TRUE);
    }
    free(batch);
    return NULL;
}

struct writer *
writer_start(const char *db_path, const struct writer_opts *o, char *err, size_t errlen)
{
    struct writer *w = calloc(1, sizeof(*w));
    struct store_opts so;
    int rc;

    if (w == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (o != NULL)
        w->o = *o;
    else
        writer_opts_default(&w->o);
    if (w->o.batch_max == 0)
        w->o.batch_max = 1;
    if (w->o.txn_ms == 0)
        w->o.txn_ms = 1;
    w->chunk = w->o.batch_max;
    w->old_wal = -1;
    store_opts_default(&so);
    so.busy_ms = w->o.busy_ms;
    w->so = so;
    if ((w->path = strdup(db_path)) == NULL) {
        snprintf(err, errlen, "out of memory");
        free(w);
        return NULL;
    }
    rc = store_open_graded(db_path, STORE_CREATE, &so, &w->s, err, errlen);
    if (rc == STORE_EDOWN) {
        /* The server is down now: start anyway and connect when it is back. */
        char name[300];

        store_db_label(db_path, name, sizeof(name));
        w->s = NULL;
        w->create = 1;
        w->last_open = g_get_monotonic_time();
        w->name = strdup(name);
    } else if (rc != STORE_OK) {
        free(w->path);
        free(w);
        return NULL;
    } else
        w->name = strdup(store_name(w->s));
    if (w->name == NULL) {
        snprintf(err, errlen, "out of memory");
        store_close(w->s);
        free(w->path);
        free(w);
        return NULL;
    }
    w->q = g_async_queue_new();
    pthread_mutex_init(&w->lock, NULL);
    if (w->s == NULL)
        fault_begin(w, FAULT_DOWN, err);
    if (pthread_create(&w->tid, NULL, run, w) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        g_async_queue_unref(w->q);
        store_close(w->s);
        pthread_mutex_destroy(&w->lock);
        free(w->name);
        free(w->path);
        free(w);
        return NULL;
    }
    return w;
}

/* Push an operation unless the queue is full. */
static int
push(struct writer *w, struct job *j)
{
    pthread_mutex_lock(&w->lock);
    if (w->pending >= w->o.queue_max) {
        w->st.dropped++;
        pthread_mutex_unlock(&w->lock);
        job_free(j);
        return -1;
    }
    w->pending++;
    w->st.queued++;
    pthread_mutex_unlock(&w->lock);
    g_async_queue_push(w->q, j);
    return 0;
}

static int
dropped(struct writer *w, struct job *j)
{
    job_free(j);
    pthread_mutex_lock(&w->lock);
    w->st.dropped++;
    pthread_mutex_unlock(&w->lock);
    return -1;
}

int
writer_offer(struct writer *w, const char *user, const uint8_t digest[STORE_DIGEST_LEN],
             const uint32_t *ids, size_t n)
{
    struct job *j;
    uint32_t *copy;

    /* One bad operation would fail its whole batch: refuse it here. */
    if (!store_user_valid(user))
        return dropped(w, NULL);
    for (size_t i = 1; i < n; i++)
        if (ids[i] <= ids[i - 1])
            return dropped(w, NULL);
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return dropped(w, NULL);
    j->kind = JOB_OP;
    j->op.kind = STORE_OP_OFFER;
    memcpy(j->op.digest, digest, STORE_DIGEST_LEN);
    j->op.user = strdup(user);
    copy = malloc((n ? n : 1) * sizeof(*copy));
    if (j->op.user == NULL || copy == NULL) {
        free(copy);
        return dropped(w, j);
    }
    if (n > 0)
        memcpy(copy, ids, n * sizeof(*copy));
    j->op.ids = copy;
    j->op.n = n;
    return push(w, j);
}

int
writer_count(struct writer *w, const char *user, const char *counter, int64_t delta)
{
    struct job *j = calloc(1, sizeof(*j));

    if (j == NULL || !store_user_valid(user) || counter == NULL || *counter == '\0' ||
        strlen(counter) > 64)
        return dropped(w, j);
    j->kind = JOB_OP;
    j->op.kind = STORE_OP_COUNTER;
    j->op.user = strdup(user);
    j->op.counter = strdup(counter);
    j->op.delta = delta;
    if (j->op.user == NULL || j->op.counter == NULL)
        return dropped(w, j);
    return push(w, j);
}

int
writer_scan(struct writer *w, const char *user, const uint8_t digest[STORE_DIGEST_LEN],
            float score, int verdict, double ms)
{
    struct job *j = calloc(1, sizeof(*j));

    if (j == NULL || !store_user_valid(user) || verdict < 0 || verdict >= STORE_V_N
        || !(score >= 0 && score <= 1) || !(ms >= 0))
        return dropped(w, j);
    j->kind = JOB_OP;
    j->op.kind = STORE_OP_SCAN;
    j->op.user = strdup(user);
    if (digest != NULL)
        memcpy(j->op.digest, digest, STORE_DIGEST_LEN);
    else if (verdict <= STORE_V_REJECT)
        verdict = STORE_V_ERROR;    /* a verdict without its message cannot be matched */
    j->op.score = score;
    j->op.verdict = verdict;
    j->op.ms = ms;
    if (j->op.user == NULL)
        return dropped(w, j);
    return push(w, j);
}

void
writer_flush(struct writer *w)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    int done = 0;
    struct job *j = calloc(1, sizeof(*j));

    if (j == NULL)
        return;
    j->kind = JOB_FLUSH;
    j->lock = &lock;
    j->cond = &cond;
    j->done = &done;
    g_async_queue_push(w->q, j);
    pthread_mutex_lock(&lock);
    while (!done)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    pthread_cond_destroy(&cond);
    pthread_mutex_destroy(&lock);
}

void
writer_stats(struct writer *w, struct writer_stats *st)
{
    pthread_mutex_lock(&w->lock);
    *st = w->st;
    st->pending = w->pending;
    pthread_mutex_unlock(&w->lock);
}

const char *
writer_store_name(const struct writer *w)
{
    return w->name;
}

struct writer *
writer_stop(struct writer *w)
{
    return writer_stop_stats(w, NULL);
}

struct writer *
writer_stop_stats(struct writer *w, struct writer_stats *st)
{
    struct job *j;

    if (st != NULL)
        memset(st, 0, sizeof(*st));
    if (w == NULL)
        return NULL;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_mutex_unlock(&w->lock);
    if ((j = calloc(1, sizeof(*j))) != NULL) {
        j->kind = JOB_STOP;
        g_async_queue_push(w->q, j);
        pthread_join(w->tid, NULL);
        if (st != NULL)
            writer_stats(w, st);    /* the thread is gone: the final counts */
    } else {
        /* Cannot signal the thread: leave it (process exit reaps it). */
        return NULL;
    }
    g_async_queue_unref(w->q);
    store_close(w->s);
    pthread_mutex_destroy(&w->lock);
    if (w->old_wal >= 0)
        close(w->old_wal);
    free(w->name);
    free(w->path);
    free(w);
    return NULL;
}
