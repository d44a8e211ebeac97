/*
 * users.c - the milter's store writer and maintenance thread; see users.h.
 *
 * The maintenance thread wakes every sync_interval seconds (default 1): it
 * rereads the per-user thresholds when the store's generation of them moved,
 * syncs the current runtime's head cache (users scored since the last sync are
 * loaded, users republished by anyone, on any host, reloaded: the refit-log
 * poll, which is how a model published elsewhere reaches this milter, within
 * about sync_interval) and, every refit_interval seconds, refits the dirty
 * users against the current model, each claimed first (refit_dirty; for
 * refit_lease seconds) so that of several milters on one store one refits a
 * user.  It takes a runtime reference for the duration of one
 * round, so a reload in the middle only retires the old cache afterwards.
 *
 * A database server that cannot be reached (STORE_EDOWN) is not an error per
 * round: the thread says once that maintenance waits for it (users_down_begin)
 * and once that it goes on (users_down_end, the first round whose reads work
 * again); meanwhile the models, thresholds and lists in memory stay in force
 * and the connection reconnects on its own backoff (store_pg_conn.c).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <glib.h>

#include "adapt.h"
#include "counters.h"
#include "headcache.h"
#include "log.h"
#include "refit.h"
#include "senderlist.h"
#include "runtime.h"
#include "store.h"
#include "users.h"
#include "writer.h"

#define USERS_REFIT_MAX 100         /* users refitted per round at most */

static struct writer *users_writer;
static pthread_t users_thread;
static int users_thread_running;
static char *users_db;             /* as configured: may hold a password */
static char *users_name;           /* store_name() of the writer's store: for logs */
static unsigned users_refit_interval;
static unsigned users_refit_lease;     /* claims' lease, seconds (refit_lease) */
static unsigned users_sync_interval = 1;
static GMutex users_lock;           /* guards users_stopping */
/* Per-user spam thresholds (user key -> float *), replaced whole by the
 * maintenance thread when the store's generation moves; SMTP threads only
 * look up under the read lock.  NULL until first read. */
static GRWLock users_thr_lock;
static GHashTable *users_thr;
/* Per-user target false-positive rates (user key -> float *), read and
 * replaced with the thresholds (one generation), under the same lock. */
static GHashTable *users_tfpr;
/* The allow and block lists, replaced whole like the thresholds (under the same
 * lock); NULL until first read or with no store. */
static struct senderlist *users_lists;
static GCond users_wake;
static int users_stopping;
/* The maintenance thread's own: the server was unreachable in this outage
 * (reported), and a read failed that way in the current round. */
static int users_down;
static int users_down_round;

/* A read of the maintenance thread failed with status rc: an unreachable
 * server is reported once per outage, anything else each time (as what went
 * wrong: WHAT: MSG).  Counted either way. */
static void
users_read_failed(int rc, const char *what, const char *msg)
{
    counters_store_error();
    if (rc != STORE_EDOWN) {
        log_warn("store %s: %s: %s", users_name, what, msg);
        return;
    }
    users_down_round = 1;
    log_debug("store %s: %s: %s (held)", users_name, what, msg);
    if (users_down)
        return;
    users_down = 1;
    log_warn("store %s: maintenance waits for the database server (%s: %s); scoring "
             "goes on with the models, thresholds and lists in memory", users_name, what,
             msg);
}

/* A round ended: if reads worked again after an outage, say so once. */
static void
users_down_end(void)
{
    if (users_down && !users_down_round) {
        users_down = 0;
        log_msg(LOG_NOTICE, NULL, "store %s: maintenance goes on: head cache, thresholds, "
                "lists and refits read the store again", users_name);
    }
    users_down_round = 0;
}

static void
users_report(void *arg, const char *user, int status, const struct refit_result *r,
             const char *err)
{
    (void)arg;
    if (status == STORE_EDOWN) {
        users_read_failed(status, "refit", err);
        return;
    }
    counters_refit(status >= 0);
    if (status < 0)
        log_warn("refit %s failed: %s", user, err);
    else
        log_msg(LOG_INFO, NULL, "refit %s: %u spam, %u ham, %u unlabelled; version %llu "
                "(%.1f ms)", user, r->n_spam, r->n_ham, r->n_reservoir,
                (unsigned long long)r->version, r->ms);
}

/* The writer's fault episodes: one line when one starts, one when it ends. */
static void
users_writer_report(void *arg, enum writer_event ev, const char *line)
{
    (void)arg;
    if (ev == WRITER_FAULT)
        log_warn("%s", line);
    else
        log_msg(LOG_NOTICE, NULL, "%s", line);
}

/* A table user key -> float * of keys[0..n) and v[0..n), which it takes over
 * (the keys; the arrays are freed). */
static GHashTable *
users_table(char **keys, double *v, size_t n)
{
    GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, free, g_free);

    for (size_t i = 0; i < n; i++) {
        float *f = g_new(float, 1);

        *f = (float)v[i];
        g_hash_table_replace(t, keys[i], f);    /* the table owns the key now */
    }
    free(keys);
    free(v);
    return t;
}

/* Reread the per-user thresholds and target FPRs when the store says they
 * changed (*gen, *have: what was read last).  Logs and keeps the old tables on
 * failure. */
static void
users_sync_thresholds(struct store *s, uint64_t *gen, int *have)
{
    GHashTable *t, *tf, *old, *old_tf;
    char **keys, **tkeys;
    double *v, *tv;
    uint64_t g;
    size_t n, tn;

    int rc;

    if ((rc = store_thresholds_gen(s, &g)) != STORE_OK) {
        users_read_failed(rc, "per-user thresholds", store_errmsg(s));
        return;
    }
    if (*have && g == *gen)
        return;
    if ((rc = store_threshold_list(s, &keys, &v, &n)) != STORE_OK) {
        users_read_failed(rc, "per-user thresholds", store_errmsg(s));
        return;
    }
    if ((rc = store_target_fpr_list(s, &tkeys, &tv, &tn)) != STORE_OK) {
        users_read_failed(rc, "per-user target FPRs", store_errmsg(s));
        store_strv_free(keys);
        free(v);
        return;
    }
    t = users_table(keys, v, n);
    tf = users_table(tkeys, tv, tn);
    g_rw_lock_writer_lock(&users_thr_lock);
    old = users_thr;
    old_tf = users_tfpr;
    users_thr = t;
    users_tfpr = tf;
    g_rw_lock_writer_unlock(&users_thr_lock);
    if (old != NULL)
        g_hash_table_unref(old);
    if (old_tf != NULL)
        g_hash_table_unref(old_tf);
    if (*have || n > 0)
        log_msg(LOG_INFO, NULL, "per-user thresholds: %zu user%s", n, n == 1 ? "" : "s");
    *gen = g;
    *have = 1;
}

/* Which generations of the thresholds and lists are in memory (as read by
 * users_load_policy() before serving; the maintenance thread goes on from them). */
struct users_gens {
    uint64_t thr_gen, lists_gen;
    int thr_have, lists_have;
};
static struct users_gens users_gens0;

/* Reread the allow and block lists when the store's generation moved. */
static void
users_sync_lists(struct store *s, uint64_t *gen, int *have)
{
    struct senderlist *l, *old;
    char err[512];
    uint64_t g;
    int rc;

    if ((rc = store_lists_gen(s, &g)) != STORE_OK) {
        users_read_failed(rc, "allow and block lists", store_errmsg(s));
        return;
    }
    if (*have && g == *gen)
        return;
    if ((l = senderlist_load(s, &g, err, sizeof(err))) == NULL) {
        users_read_failed(store_errcode(s), "allow and block lists", err);
        return;
    }
    g_rw_lock_writer_lock(&users_thr_lock);
    old = users_lists;
    users_lists = l;
    g_rw_lock_writer_unlock(&users_thr_lock);
    senderlist_free(old);
    if (*have || senderlist_size(l) > 0)
        log_msg(LOG_INFO, NULL, "allow and block lists: %zu entr%s", senderlist_size(l),
                senderlist_size(l) == 1 ? "y" : "ies");
    *gen = g;
    *have = 1;
}

int
users_list_decide(const char *user, const char *env_from, const char *hdr_from,
                  char *entry, size_t len)
{
    struct senderlist_match m;

    g_rw_lock_reader_lock(&users_thr_lock);
    senderlist_decide(users_lists, user, env_from, hdr_from, &m);
    if (m.action != STORE_LIST_NONE && entry != NULL)
        g_snprintf(entry, len, "%s %s", m.scope, m.sender);
    g_rw_lock_reader_unlock(&users_thr_lock);
    return m.action;
}

int
users_threshold(const char *user, float *spam)
{
    const float *f = NULL;

    g_rw_lock_reader_lock(&users_thr_lock);
    if (users_thr != NULL && (f = g_hash_table_lookup(users_thr, user)) != NULL)
        *spam = *f;
    g_rw_lock_reader_unlock(&users_thr_lock);
    return f != NULL;
}

int
users_target_fpr(const char *user, double *t)
{
    const float *f = NULL;

    g_rw_lock_reader_lock(&users_thr_lock);
    if (users_tfpr != NULL && (f = g_hash_table_lookup(users_tfpr, user)) != NULL)
        *t = *f;
    g_rw_lock_reader_unlock(&users_thr_lock);
    return f != NULL;
}

static void *
users_main(void *arg)
{
    struct store *s = NULL;
    struct adapt_opts opts;
    time_t last_refit = time(NULL);
    char err[512];
    int warned = 0, moved = 0, thr_have = users_gens0.thr_have;
    int lists_have = users_gens0.lists_have;
    uint64_t lists_gen = users_gens0.lists_gen;
    int old_wal = -1;           /* the replaced file's PATH-wal (store_wal_pin) */
    int opened = 0;             /* the store has opened once */
    uint64_t thr_gen = users_gens0.thr_gen;

    (void)arg;
    adapt_opts_default(&opts);
    g_mutex_lock(&users_lock);
    while (!users_stopping) {
        struct runtime *rt;
        gint64 until;

        g_mutex_unlock(&users_lock);
        /* A store removed or replaced under us: read whatever is at the path
         * now.  The writer reports the fault; this thread only follows. */
        if (s != NULL && store_moved(s)) {
            if (old_wal < 0)
                old_wal = store_wal_pin(s);
            s = store_close(s);
            warned = 1;
            moved = 1;
        }
        /* Not while the replaced file's PATH-wal is there: opening would read
         * it into the new file (store.h, store_wal_is; the writer reports it). */
        if (s == NULL && !store_wal_is(users_db, old_wal)) {
            if (store_open(users_db, 0, NULL, &s, err, sizeof(err)) != STORE_OK) {
                counters_store_error();
                if (!warned++)
                    log_warn("store %s: %s; per-user models are not loaded until it opens",
                             users_name, err);
                s = NULL;
            } else {
                /* Down at start (a PostgreSQL server): say when it opens. */
                if (!opened && warned)
                    log_msg(LOG_NOTICE, NULL, "store %s: opened; maintenance goes on: head "
                            "cache, thresholds, lists and refits read the store", users_name);
                opened = 1;
                if (old_wal >= 0) {
                    close(old_wal);
                    old_wal = -1;
                }
            }
        }
        if (s != NULL) {
            users_sync_thresholds(s, &thr_gen, &thr_have);
            users_sync_lists(s, &lists_gen, &lists_have);
        }
        rt = runtime_acquire();
        /* Another file: the cached models and the refit log position were the
         * old one's. */
        if (s != NULL && moved && rt != NULL && rt->cache != NULL) {
            headcache_invalidate(rt->cache);
            moved = 0;
        }
        if (s != NULL && rt != NULL && rt->cache != NULL
            && headcache_sync(rt->cache, s, err, sizeof(err)) < 0)
            users_read_failed(store_errcode(s), "head cache sync", err);
        if (s != NULL && rt != NULL && users_refit_interval > 0
            && time(NULL) - last_refit >= (time_t)users_refit_interval) {
            size_t failed = 0;

            last_refit = time(NULL);
            if (refit_dirty(s, rt->model, &opts, USERS_REFIT_MAX, users_refit_lease, 0,
                            users_report, NULL,
                            &failed, err, sizeof(err)) < 0)
                users_read_failed(store_errcode(s), "refit", err);
        }
        runtime_unref(rt);
        if (s != NULL)
            users_down_end();

        g_mutex_lock(&users_lock);
        until = g_get_monotonic_time() + (gint64)users_sync_interval * G_TIME_SPAN_SECOND;
        while (!users_stopping && g_cond_wait_until(&users_wake, &users_lock, until))
            ;
    }
    g_mutex_unlock(&users_lock);
    store_close(s);
    if (old_wal >= 0)
        close(old_wal);
    return NULL;
}

/* Before serving: the users' thresholds and the allow and block lists in
 * force from the first message, not a second later.  A store that cannot be
 * opened is left to the maintenance thread, which says why. */
static void
users_load_policy(struct users_gens *g)
{
    struct store *s;
    char err[512];

    memset(g, 0, sizeof(*g));
    if (store_open(users_db, 0, NULL, &s, err, sizeof(err)) != STORE_OK)
        return;
    users_sync_thresholds(s, &g->thr_gen, &g->thr_have);
    users_sync_lists(s, &g->lists_gen, &g->lists_have);
    store_close(s);
}

int
users_start(const struct conf *c, char *err, size_t errlen)
{
    struct writer_opts wo;

    if (c->database == NULL)
        return 0;
    writer_opts_default(&wo);
    wo.report = users_writer_report;
    if ((users_writer = writer_start(c->database, &wo, err, errlen)) == NULL)
        return -1;
    users_db = g_strdup(c->database);
    users_name = g_strdup(writer_store_name(users_writer));
    users_refit_interval = c->refit_interval;
    users_refit_lease = c->refit_lease;
    users_sync_interval = c->sync_interval;
    users_load_policy(&users_gens0);
    if (pthread_create(&users_thread, NULL, users_main, NULL) != 0) {
        snprintf(err, errlen, "cannot start the store maintenance thread");
        users_writer = writer_stop(users_writer);
        return -1;
    }
    users_thread_running = 1;
    return 0;
}

void
users_offer(const char *user, const struct features *f)
{
    if (users_writer != NULL && f->n > 0)
        writer_offer(users_writer, user, f->digest, f->ids, f->n);
}

void
users_scan(const char *user, const uint8_t *digest, float score, int verdict, double ms)
{
    if (users_writer != NULL)
        writer_scan(users_writer, user, digest, score, verdict, ms);
}

void
users_shadow(const char *user, int verdict)
{
    if (users_writer == NULL)
        return;
    writer_count(users_writer, user, STORE_COUNTER_SHADOW_SCANNED, 1);
    if (verdict == STORE_V_QUARANTINE)
        writer_count(users_writer, user, STORE_COUNTER_SHADOW_QUARANTINED, 1);
    else if (verdict == STORE_V_REJECT)
        writer_count(users_writer, user, STORE_COUNTER_SHADOW_REJECTED, 1);
}

int
users_writer_stats(struct writer_stats *st)
{
    if (users_writer == NULL)
        return 0;
    writer_stats(users_writer, st);
    return 1;
}

void
users_stop(void)
{
    if (users_thread_running) {
        g_mutex_lock(&users_lock);
        users_stopping = 1;
        g_cond_signal(&users_wake);
        g_mutex_unlock(&users_lock);
        pthread_join(users_thread, NULL);
        users_thread_running = 0;
    }
    if (users_writer != NULL) {
        struct writer_stats st;

        /* After the stop: what was still queued is written by then. */
        users_writer = writer_stop_stats(users_writer, &st);
        log_msg(LOG_INFO, NULL, "store writer: %llu offers written, %llu dropped, %llu failed",
                (unsigned long long)st.written, (unsigned long long)st.dropped,
                (unsigned long long)st.failed);
    }
    g_free(users_db);
    users_db = NULL;
    g_free(users_name);
    users_name = NULL;
    g_rw_lock_writer_lock(&users_thr_lock);
    if (users_thr != NULL)
        g_hash_table_unref(users_thr);
    users_thr = NULL;
    users_lists = senderlist_free(users_lists);
    g_rw_lock_writer_unlock(&users_thr_lock);
}
