/*
 * counters.c - the milter's counters and their Prometheus text; see counters.h.
 *
 * Relaxed atomics: a counter needs no order with anything else, and a
 * histogram keeps one count per bucket (not cumulative), summed at render
 * time, so that its _count always equals its +Inf bucket and the buckets
 * never decrease however a scrape interleaves with observations.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "counters.h"

/* Seconds; the milter's scans take about 1-40 ms (bench/results/milter-*). */
static const double counters_buckets[] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define N_BUCKETS G_N_ELEMENTS(counters_buckets)

static const char *const counters_outcome_names[COUNTERS_N_OUTCOMES] = {
    "ham", "tag", "quarantine", "reject", "skipped", "unscanned", "error",
};

_Static_assert((int)COUNTERS_HAM == (int)VERDICT_HAM && (int)COUNTERS_TAG == (int)VERDICT_TAG
               && (int)COUNTERS_QUARANTINE == (int)VERDICT_QUARANTINE
               && (int)COUNTERS_REJECT == (int)VERDICT_REJECT,
               "a verdict is its own outcome");

static _Atomic uint64_t counters_messages[COUNTERS_N_OUTCOMES];
static _Atomic uint64_t counters_scan_bucket[N_BUCKETS + 1];   /* the last: +Inf */
static _Atomic uint64_t counters_scan_ns;                      /* the histogram's sum */
static _Atomic uint64_t counters_reloads[2];                   /* failed, ok */
static _Atomic uint64_t counters_refits[2];                    /* failed, ok */
static _Atomic uint64_t counters_store_errors;
static double counters_t0;                                     /* counters_start() */

static void
counters_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t
counters_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

void
counters_scanned(enum verdict v, double seconds)
{
    size_t b = 0;

    if ((unsigned)v < COUNTERS_SKIPPED)
        counters_add(&counters_messages[v], 1);
    if (!(seconds >= 0))        /* NaN or negative: a clock step; count it as 0 */
        seconds = 0;
    while (b < N_BUCKETS && seconds > counters_buckets[b])
        b++;
    counters_add(&counters_scan_bucket[b], 1);
    counters_add(&counters_scan_ns, seconds < 1e6 ? (uint64_t)(seconds * 1e9 + 0.5) : 0);
}

void
counters_unscored(enum counters_outcome o)
{
    if (o >= COUNTERS_SKIPPED && o < COUNTERS_N_OUTCOMES)
        counters_add(&counters_messages[o], 1);
}

void
counters_reload(int ok)
{
    counters_add(&counters_reloads[ok != 0], 1);
}

void
counters_refit(int ok)
{
    counters_add(&counters_refits[ok != 0], 1);
}

void
counters_store_error(void)
{
    counters_add(&counters_store_errors, 1);
}

const double *
counters_scan_buckets(size_t *n)
{
    *n = N_BUCKETS;
    return counters_buckets;
}

void
counters_reset(void)
{
    for (size_t i = 0; i < COUNTERS_N_OUTCOMES; i++)
        atomic_store(&counters_messages[i], 0);
    for (size_t i = 0; i <= N_BUCKETS; i++)
        atomic_store(&counters_scan_bucket[i], 0);
    atomic_store(&counters_scan_ns, 0);
    for (size_t i = 0; i < 2; i++) {
        atomic_store(&counters_reloads[i], 0);
        atomic_store(&counters_refits[i], 0);
    }
    atomic_store(&counters_store_errors, 0);
}

/* "# HELP" and "# TYPE" lines of one metric family. */
static void
counters_family(GString *out, const char *name, const char *type, const char *help)
{
    g_string_append_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \, " and newline escaped, as the format wants. */
static void
counters_label_value(GString *out, const char *v)
{
    for (; v != NULL && *v != '\0'; v++) {
        if (*v == '\\' || *v == '"')
            g_string_append_c(out, '\\');
        if (*v == '\n')
            g_string_append(out, "\\n");
        else
            g_string_append_c(out, *v);
    }
}

/* A sample without labels. */
static void
counters_sample(GString *out, const char *name, uint64_t v)
{
    g_string_append_printf(out, "%s %" G_GUINT64_FORMAT "\n", name, v);
}

static void
counters_render_messages(GString *out)
{
    uint64_t cum = 0;
    char le[G_ASCII_DTOSTR_BUF_SIZE];

    counters_family(out, "spamshift_messages_total", "counter",
                    "Messages ended since the milter started, by the verdict applied "
                    "(skipped: authenticated or trusted; unscanned: no recipients or "
                    "oversize = skip; error: on_error applied).");
    for (size_t i = 0; i < COUNTERS_N_OUTCOMES; i++)
        g_string_append_printf(out, "spamshift_messages_total{verdict=\"%s\"} %"
                               G_GUINT64_FORMAT "\n", counters_outcome_names[i],
                               counters_get(&counters_messages[i]));
    counters_family(out, "spamshift_scan_seconds", "histogram",
                    "Time from end of message to the verdict of scored messages.");
    for (size_t b = 0; b <= N_BUCKETS; b++) {
        cum += counters_get(&counters_scan_bucket[b]);
        if (b < N_BUCKETS)
            g_ascii_formatd(le, sizeof(le), "%g", counters_buckets[b]);
        g_string_append_printf(out, "spamshift_scan_seconds_bucket{le=\"%s\"} %"
                               G_GUINT64_FORMAT "\n", b < N_BUCKETS ? le : "+Inf", cum);
    }
    g_ascii_formatd(le, sizeof(le), "%.9f", (double)counters_get(&counters_scan_ns) / 1e9);
    g_string_append_printf(out, "spamshift_scan_seconds_sum %s\n", le);
    counters_sample(out, "spamshift_scan_seconds_count", cum);
}

static void
counters_render_daemon(GString *out, const struct counters_gauges *g)
{
    char num[G_ASCII_DTOSTR_BUF_SIZE];

    counters_family(out, "spamshift_reloads_total", "counter",
                    "SIGHUP reloads: ok installed the new configuration and model, "
                    "failed kept the running ones.");
    g_string_append_printf(out, "spamshift_reloads_total{result=\"ok\"} %" G_GUINT64_FORMAT
                           "\nspamshift_reloads_total{result=\"failed\"} %" G_GUINT64_FORMAT
                           "\n", counters_get(&counters_reloads[1]),
                           counters_get(&counters_reloads[0]));
    counters_family(out, "spamshift_refits_total", "counter",
                    "Users refitted by the milter's maintenance thread.");
    g_string_append_printf(out, "spamshift_refits_total{result=\"ok\"} %" G_GUINT64_FORMAT
                           "\nspamshift_refits_total{result=\"failed\"} %" G_GUINT64_FORMAT
                           "\n", counters_get(&counters_refits[1]),
                           counters_get(&counters_refits[0]));
    counters_family(out, "spamshift_store_errors_total", "counter",
                    "Store failures: writer fault episodes (locked past the busy timeout, "
                    "refused writes, file removed or replaced) and failed reads of the "
                    "maintenance thread.");
    g_string_append_printf(out, "spamshift_store_errors_total{thread=\"writer\"} %"
                           G_GUINT64_FORMAT "\nspamshift_store_errors_total{thread=\"maintenance\"} %"
                           G_GUINT64_FORMAT "\n", g->writer_faults,
                           counters_get(&counters_store_errors));
    counters_family(out, "spamshift_store_writes_lost_total", "counter",
                    "Writer operations (scan records, samples) lost in batches the store "
                    "refused.");
    counters_sample(out, "spamshift_store_writes_lost_total", g->writes_failed);
    counters_family(out, "spamshift_store_in_fault", "gauge",
                    "1 while the writer's store is in a fault episode.");
    counters_sample(out, "spamshift_store_in_fault", (uint64_t)(g->writer_in_fault != 0));
    counters_family(out, "spamshift_store_server_down", "gauge",
                    "1 while the writer's database server (PostgreSQL) cannot be reached; "
                    "writes wait in the queue meanwhile.");
    counters_sample(out, "spamshift_store_server_down", (uint64_t)(g->server_down != 0));
    counters_family(out, "spamshift_writer_down_retries_total", "counter",
                    "Batches the writer held and tried again because the database server "
                    "could not be reached.");
    counters_sample(out, "spamshift_writer_down_retries_total", g->down_retries);
    counters_family(out, "spamshift_writer_queue_depth", "gauge",
                    "Operations waiting in the store writer's queue.");
    counters_sample(out, "spamshift_writer_queue_depth", g->queue_depth);
    counters_family(out, "spamshift_writer_dropped_total", "counter",
                    "Operations refused because the writer's queue was full.");
    counters_sample(out, "spamshift_writer_dropped_total", g->queue_dropped);
    counters_family(out, "spamshift_head_cache_users", "gauge",
                    "Users held in the current model's head cache.");
    counters_sample(out, "spamshift_head_cache_users", g->cache_users);
    counters_family(out, "spamshift_messages_in_flight", "gauge",
                    "Messages between MAIL FROM and their end.");
    counters_sample(out, "spamshift_messages_in_flight", (uint64_t)MAX(g->in_flight, 0));
    counters_family(out, "spamshift_store_enabled", "gauge",
                    "1 when database is set (the writer's series are meaningful).");
    counters_sample(out, "spamshift_store_enabled", (uint64_t)(g->have_store != 0));
    counters_family(out, "spamshift_build_info", "gauge",
                    "Always 1: the version and the model in use as labels.");
    g_string_append(out, "spamshift_build_info{version=\"");
    counters_label_value(out, g->version);
    g_string_append(out, "\",model=\"");
    counters_label_value(out, g->model_id);
    g_string_append(out, "\"} 1\n");
    counters_family(out, "process_start_time_seconds", "gauge",
                    "Start time of the process (the counters count from it).");
    g_ascii_formatd(num, sizeof(num), "%.3f", g->start_time);
    g_string_append_printf(out, "process_start_time_seconds %s\n", num);
}

void
counters_render(GString *out, const struct counters_gauges *g)
{
    counters_render_messages(out);
    counters_render_daemon(out, g);
}

void
counters_start(void)
{
    counters_t0 = (double)g_get_real_time() / 1e6;
}

double
counters_started(void)
{
    return counters_t0;
}
