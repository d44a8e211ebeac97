/*
 * counters.h - the milter's own counters for metrics_listen (spamshift.conf(5)):
 * messages by verdict, a scan-time histogram, reloads, refits and store
 * errors, and their text in the Prometheus exposition format 0.0.4.
 *
 * The counters are process-wide atomics: any thread bumps them with one call
 * that never blocks and never fails, so milter callbacks may call them.  They
 * start at zero when the process starts and survive SIGHUP reloads.  Nothing
 * here is per user: no series carries a user or an address.
 */
#ifndef SPAMSHIFT_MILTER_COUNTERS_H
#define SPAMSHIFT_MILTER_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#include <glib.h>

#include "policy.h"

/* What became of a message: the verdict applied (ham..reject, as enum verdict;
 * in mode = shadow never quarantine or reject), or not scored. */
enum counters_outcome {
    COUNTERS_HAM, COUNTERS_TAG, COUNTERS_QUARANTINE, COUNTERS_REJECT,
    COUNTERS_SKIPPED,           /* authenticated or trusted sender */
    COUNTERS_UNSCANNED,         /* no recipients, or oversize = skip */
    COUNTERS_ERROR,             /* filter_fail(): accepted or deferred unscanned */
    COUNTERS_N_OUTCOMES
};

/* A scored message: verdict v applied, scanned in seconds (end of message to
 * verdict).  Counts the message and observes the histogram. */
void counters_scanned(enum verdict v, double seconds);

/* A message that ended unscored (COUNTERS_SKIPPED, _UNSCANNED or _ERROR). */
void counters_unscored(enum counters_outcome o);

/* A SIGHUP reload that installed a new runtime (ok) or kept the old one. */
void counters_reload(int ok);

/* One user refitted by the maintenance thread (ok), or a refit that failed. */
void counters_refit(int ok);

/* A store read of the maintenance thread failed (thresholds, lists, head
 * cache sync, the dirty list); the writer's faults are its own (writer.h). */
void counters_store_error(void);

/* What is read at scrape time rather than counted. */
struct counters_gauges {
    const char *version;        /* the package's */
    const char *model_id;       /* the current runtime's model, or NULL */
    int have_store;             /* database is set: the writer's values mean something */
    uint64_t queue_depth;       /* the writer's operations waiting */
    uint64_t queue_dropped;     /* refused because its queue was full */
    uint64_t writes_failed;     /* lost in batches the store refused */
    uint64_t writer_faults;     /* fault episodes begun */
    int writer_in_fault;
    int server_down;            /* ... the episode is an unreachable database server */
    uint64_t down_retries;      /* batches the writer retried while it was */
    uint64_t cache_users;       /* users in the head cache */
    int in_flight;              /* messages between MAIL FROM and their end */
    double start_time;          /* process start, Unix seconds */
};

/* Append every series to out, the counters as they are now and the gauges
 * from g.  A scrape taken while messages are counted may lag a message but
 * each histogram is consistent (its count is the sum of its buckets).  This
 * can't fail (GString grows). */
void counters_render(GString *out, const struct counters_gauges *g);

/* The upper bounds of the scan-time histogram's buckets (seconds, +Inf
 * excluded), for tests: *n gets their number. */
const double *counters_scan_buckets(size_t *n);

/* Note the process's start (process_start_time_seconds); call once in main. */
void counters_start(void);

/* When counters_start() was called (Unix seconds). */
double counters_started(void);

/* Zero everything (for unit tests; never while the milter serves). */
void counters_reset(void);

#endif
