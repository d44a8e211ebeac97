/*
 * writer.c - the milter's batching store writer; see writer.h.
 *
 * Producers push heap-allocated jobs on a GAsyncQueue (its own lock, no I/O);
 * the writer thread pops them with a timeout, gathers a batch and applies it in
 * one store_apply() transaction.  Flush requests travel through the same queue
 * as marker jobs, so "everything before the marker is done" is exact.  The
 * statistics are under a mutex that no I/O is ever done under.
 */
#include "config.h"

#include <pthread.h>
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

struct writer {
    struct store *s;
    struct writer_opts o;
    GAsyncQueue *q;
    pthread_t tid;
    pthread_mutex_t lock;       /* guards st and pending */
    struct writer_stats st;
    size_t pending;             /* operations queued and not yet taken */
};

void
writer_opts_default(struct writer_opts *o)
{
    o->batch_max = 500;
    o->flush_ms = 200;
    o->queue_max = 100000;
    o->busy_ms = 5000;
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

/* Apply batch[0..n) until it commits or fails for good. */
static void
apply(struct writer *w, struct job **batch, size_t n)
{
    struct store_op *ops;
    int rc;

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
    /* A lock held past the busy timeout (an admin's long transaction) is waited
     * out: the queue bound protects memory meanwhile. */
    while ((rc = store_apply(w->s, ops, n)) == STORE_BUSY) {
        pthread_mutex_lock(&w->lock);
        w->st.busy_retries++;
        snprintf(w->st.last_error, sizeof(w->st.last_error), "%s", store_errmsg(w->s));
        pthread_mutex_unlock(&w->lock);
        usleep(100000);
    }
    pthread_mutex_lock(&w->lock);
    if (rc == STORE_OK) {
        w->st.written += n;
        w->st.batches++;
    } else {
        w->st.failed += n;
        snprintf(w->st.last_error, sizeof(w->st.last_error), "%s", store_errmsg(w->s));
    }
    pthread_mutex_unlock(&w->lock);
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
    store_opts_default(&so);
    so.busy_ms = w->o.busy_ms;
    if (store_open(db_path, STORE_CREATE, &so, &w->s, err, errlen) != STORE_OK) {
        free(w);
        return NULL;
    }
    w->q = g_async_queue_new();
    pthread_mutex_init(&w->lock, NULL);
    if (pthread_create(&w->tid, NULL, run, w) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        g_async_queue_unref(w->q);
        store_close(w->s);
        pthread_mutex_destroy(&w->lock);
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
    pthread_mutex_unlock(&w->lock);
}

struct writer *
writer_stop(struct writer *w)
{
    struct job *j;

    if (w == NULL)
        return NULL;
    if ((j = calloc(1, sizeof(*j))) != NULL) {
        j->kind = JOB_STOP;
        g_async_queue_push(w->q, j);
        pthread_join(w->tid, NULL);
    } else {
        /* Cannot signal the thread: leave it (process exit reaps it). */
        return NULL;
    }
    g_async_queue_unref(w->q);
    store_close(w->s);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return NULL;
}
