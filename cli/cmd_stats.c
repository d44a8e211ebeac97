/*
 * cmd_stats.c - `spamshift stats`: what an admin reads every day, from the store.
 *
 *   spamshift stats --db DB [-m MODEL] [--user U] [--since 7d|all] [--limit N]
 *                   [--json | --format table|json|prometheus [--per-user]]
 *
 * Overview (users, messages scanned and spam rate over the period, actions,
 * learn events, refits, database size, oldest record) and a table of users by
 * activity (scanned, tagged, rejected, learned spam/ham, measured errors, scan
 * time, shift, ESS, head distance, last refit, CV error before/after), after
 * dspam_stats -H.  Measured errors are feedback changed in the period whose
 * message has a scan record that it contradicts: a false positive is learned as
 * ham but was tagged, quarantined or rejected; a false negative is learned as
 * spam but was passed.  Their rates are per message scanned in the period, with
 * 95% Wilson intervals; they are lower bounds, since users do not report every
 * mistake.  The head distance needs -m (the base model the heads were fitted
 * to).  JSON and prometheus formats are documented in spamshift(1).
 * Reads only: opens the store read-only and never waits on the milter.
 */
#include "config.h"

#include <glib.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "adapt.h"
#include "cli.h"
#include "commands.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "model.h"
#include "oppoint.h"
#include "refit.h"
#include "store.h"
#include "userdb.h"

#define STATS_JSON_SCHEMA 1

/* "7d", "12h", "30m", "2w", "all" (0) -> seconds; -1 when bad. */
static int64_t
parse_period(const char *s)
{
    char *end;
    long long v;

    if (strcmp(s, "all") == 0)
        return 0;
    v = strtoll(s, &end, 10);
    if (end == s || v <= 0 || v > 100000 || end[0] == '\0' || end[1] != '\0')
        return -1;
    switch (*end) {
    case 'm': return v * 60;
    case 'h': return v * 3600;
    case 'd': return v * 86400;
    case 'w': return v * 7 * 86400;
    default: return -1;
    }
}

static double
p99_ms(const uint32_t *hist)
{
    uint64_t total = 0, acc = 0;

    for (int b = 0; b < STORE_SCAN_HIST; b++)
        total += hist[b];
    if (total == 0)
        return 0;
    for (int b = 0; b < STORE_SCAN_HIST; b++) {
        acc += hist[b];
        if (acc * 100 >= total * 99)
            return store_scan_bucket_ms(b);
    }
    return store_scan_bucket_ms(STORE_SCAN_HIST - 1);
}

/* The per-user counters of copies the milter scanned in mode = shadow: all
 * time (counters, not daily records), in this order. */
enum { SHADOW_SCANNED, SHADOW_QUARANTINED, SHADOW_REJECTED, SHADOW_N };
static const char *const shadow_counters[SHADOW_N] = {
    STORE_COUNTER_SHADOW_SCANNED, STORE_COUNTER_SHADOW_QUARANTINED,
    STORE_COUNTER_SHADOW_REJECTED,
};

struct row {
    const struct store_user_stats *u;
    double head_dist;       /* < 0: unknown */
    double fp_lo, fp_hi, fn_lo, fn_hi;
    uint64_t shadow[SHADOW_N];
    unsigned lists[2];          /* the user's own allow, block entries */
    float thr;              /* the user's verdict threshold; < 0: unknown (no -m) */
    int thr_source;         /* OPPOINT_* */
};

static int
cmp_activity(const void *a, const void *b)
{
    const struct store_user_stats *x = ((const struct row *) a)->u;
    const struct store_user_stats *y = ((const struct row *) b)->u;
    uint64_t ax = x->scanned + x->learned_spam + x->learned_ham;
    uint64_t ay = y->scanned + y->learned_spam + y->learned_ham;

    if (ax != ay)
        return ax < ay ? 1 : -1;
    return strcmp(x->user, y->user);
}

static void
fmt_time(char *buf, size_t len, int64_t t)
{
    struct tm tm;
    time_t tt = (time_t) t;

    if (t <= 0) {
        snprintf(buf, len, "never");
        return;
    }
    gmtime_r(&tt, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M", &tm);
}

static void
fmt_cv(char *buf, size_t len, double v)
{
    if (v < 0)
        snprintf(buf, len, "n/a");
    else
        snprintf(buf, len, "%.1f%%", 100 * v);
}

/* One Prometheus sample: metric{label="value"} v, the value escaped as the
 * text format wants (label NULL: no labels). */
static void
prom_sample(const char *metric, const char *label, const char *value, double v)
{
    printf("%s", metric);
    if (label != NULL) {
        printf("{%s=\"", label);
        for (const char *p = value; *p; p++) {
            if (*p == '"' || *p == '\\')
                putchar('\\');
            if (*p == '\n')
                printf("\\n");
            else
                putchar(*p);
        }
        printf("\"}");
    }
    printf(" %.10g\n", v);
}

static void
prom_family(const char *metric, const char *help)
{
    printf("# HELP %s %s\n# TYPE %s gauge\n", metric, help, metric);
}

enum stats_format { F_TABLE, F_JSON, F_PROM };

struct stats_args {
    gchar *db_path, *model_path, *user_arg, *since_arg, *format;
    gboolean json, per_user;
    gint limit;
    gdouble target;
};

/* Sums over the users shown. */
struct stats_totals {
    uint64_t scanned, tagged, quar, rej, skip, err, ls, lh, fp, fn, active;
    uint64_t shadow[SHADOW_N];
    double ms;
    uint32_t hist[STORE_SCAN_HIST];
};

/* What the command holds while it runs; stats_close() frees it. */
struct stats {
    struct stats_args a;
    enum stats_format fmt;
    struct store *s;
    struct model *m;
    struct store_user_stats *us;
    struct store_overview ov;
    struct row *rows;
    size_t n;
    char *user;
    int64_t period, now, since;
    struct stats_totals t;
    GHashTable *lists;          /* scope -> unsigned[2]: allow, block entries */
    unsigned list_total[2];     /* over every scope */
};

static int
stats_parse(struct stats_args *a, int *argc, char ***argv)
{
    GOptionEntry entries[] = {
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &a->db_path, "the store", "DB" },
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &a->model_path,
          "the base model (names it; gives heads' distance from the global head)", "MODEL" },
        { "user", 0, 0, G_OPTION_ARG_STRING, &a->user_arg, "only this user", "ADDRESS" },
        { "since", 0, 0, G_OPTION_ARG_STRING, &a->since_arg,
          "period: Nm, Nh, Nd, Nw or all (default 7d)", "PERIOD" },
        { "limit", 'n', 0, G_OPTION_ARG_INT, &a->limit,
          "table: the N most active users (default 50, 0 all)", "N" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &a->json, "same as --format json", NULL },
        { "format", 0, 0, G_OPTION_ARG_STRING, &a->format, "table, json or prometheus", "FMT" },
        { "per-user", 0, 0, G_OPTION_ARG_NONE, &a->per_user,
          "prometheus: also one series per user (a label per user: mind the cardinality)",
          NULL },
        { "target-fpr", 0, 0, G_OPTION_ARG_DOUBLE, &a->target, "with -m: the target "
          "false-positive rate the users' thresholds shown meet (default 0.003)", "P" },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };

    a->limit = 50;
    a->target = OPPOINT_TARGET_DEFAULT;
    return cli_parse("stats", "- statistics from the store", entries, argc, argv);
}

/* The usage rules; sets the format and the period.  Returns an exit code. */
static int
stats_check(struct stats *st, int argc, char **argv)
{
    const struct stats_args *a = &st->a;

    if (argc > 1)
        return cli_usage("stats", "unexpected argument \"%s\"", argv[1]);
    if (a->db_path == NULL)
        return cli_usage("stats", "no store: use --db DB");
    if (a->json)
        st->fmt = F_JSON;
    if (a->format != NULL) {
        if (strcmp(a->format, "table") == 0 && !a->json)
            st->fmt = F_TABLE;
        else if (strcmp(a->format, "json") == 0)
            st->fmt = F_JSON;
        else if (strcmp(a->format, "prometheus") == 0 && !a->json)
            st->fmt = F_PROM;
        else
            return cli_usage("stats", "--format must be table, json or prometheus (and "
                             "agree with --json), got \"%s\"", a->format);
    }
    if (a->per_user && st->fmt != F_PROM)
        return cli_usage("stats", "--per-user is for --format prometheus (the table and "
                         "JSON are per user already)");
    if (a->since_arg != NULL && (st->period = parse_period(a->since_arg)) < 0)
        return cli_usage("stats", "--since wants a period like 30m, 12h, 7d, 2w or all, "
                         "got \"%s\"", a->since_arg);
    if (a->limit < 0)
        return cli_usage("stats", "--limit must be 0 or more, got %d", a->limit);
    st->since = st->period ? st->now - st->period : 0;
    return 0;
}

/* The start-up: options, model, store, the statistics read.  Returns an exit
 * code. */
static int
stats_open(struct stats *st, int argc, char **argv)
{
    const struct stats_args *a = &st->a;
    int rc, r;

    st->period = 7 * 86400;
    st->now = (int64_t) time(NULL);
    if ((rc = stats_check(st, argc, argv)) != 0)
        return rc;
    if (a->user_arg != NULL && (st->user = userdb_user_key("stats", a->user_arg)) == NULL)
        return EX_USAGE;
    if (!oppoint_target_valid(a->target))
        return cli_usage("stats", "--target-fpr must be in [%g, %g], got %g",
                         OPPOINT_TARGET_MIN, OPPOINT_TARGET_MAX, a->target);
    if (a->model_path != NULL && (rc = cli_model_open("stats", a->model_path, &st->m)) != 0)
        return rc;
    if ((rc = userdb_open("stats", a->db_path, STORE_RDONLY, -1, &st->s)) != 0)
        return rc;
    if ((r = store_overview(st->s, st->since, &st->ov)) != STORE_OK
            || (r = store_user_stats(st->s, st->user, st->since, &st->us, &st->n)) != STORE_OK) {
        log_err("stats: %s", store_errmsg(st->s));
        return userdb_exit(r);
    }
    if (st->user != NULL && st->n == 0) {
        log_err("stats: %s is not in the store", st->user);
        return EX_NOUSER;
    }
    return 0;
}

/* The distance of the user's published head from the model's; -1 unknown. */
static double
stats_head_dist(const struct stats *st, const struct store_user_stats *u)
{
    const struct model *m = st->m;
    void *blob = NULL;
    size_t len = 0;
    uint64_t ver = 0;
    struct user_model *um;
    struct oppoint_user op;
    double dist = -1;

    if (m == NULL || !u->has_refit)
        return -1;
    if (store_head_get(st->s, u->user, m->id, 0, &blob, &len, &ver) == STORE_OK
            && (oppoint_blob_split(blob, len, &op, &len), 1)
            && (um = user_model_decode(blob, len)) != NULL) {
        double d2 = 0;
        uint32_t H = m->net.dims.hidden;

        if (um->hidden == H) {
            for (uint32_t k = 0; k < NET_HEAD_LEN(H); k++) {
                double d = um->head[k] - m->net.head[k];
                d2 += d * d;
            }
            dist = sqrt(d2);
        }
        user_model_free(um);
    }
    free(blob);
    return dist;
}

/* The user's shadow-mode counters into r->shadow (0 when never set).
 * Returns an exit code. */
static int
stats_shadow(const struct stats *st, const char *user, struct row *r)
{
    for (int k = 0; k < SHADOW_N; k++) {
        int64_t v = 0;
        int rc = store_counter_get(st->s, user, shadow_counters[k], &v);

        if (rc != STORE_OK && rc != STORE_NOTFOUND) {
            log_err("stats: %s: %s", st->a.db_path, store_errmsg(st->s));
            return EX_IOERR;
        }
        r->shadow[k] = v > 0 ? (uint64_t) v : 0;
    }
    return 0;
}

/* The allow and block entries, counted per scope and in all (senderlist.h).
 * Returns an exit code. */
static int
stats_lists(struct stats *st)
{
    struct store_list_entry *v;
    size_t n;
    int r;

    if ((r = store_list_all(st->s, &v, &n)) != STORE_OK) {
        log_err("stats: %s: %s", st->a.db_path, store_errmsg(st->s));
        return userdb_exit(r);
    }
    st->lists = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    for (size_t i = 0; i < n; i++) {
        unsigned *c = g_hash_table_lookup(st->lists, v[i].scope);
        int k = v[i].action == STORE_LIST_BLOCK;

        if (c == NULL) {
            c = g_new0(unsigned, 2);
            g_hash_table_insert(st->lists, g_strdup(v[i].scope), c);
        }
        c[k]++;
        st->list_total[k]++;
    }
    store_list_free(v, n);
    return 0;
}

/* One row per user, the totals, the rows by activity.  Returns an exit code. */
static int
stats_rows(struct stats *st)
{
    struct stats_totals *t = &st->t;
    int rc;

    if ((rc = stats_lists(st)) != 0)
        return rc;
    if ((st->rows = calloc(st->n ? st->n : 1, sizeof(*st->rows))) == NULL) {
        log_err("stats: out of memory");
        return EX_SOFTWARE;
    }
    /* Every user's counters in one read snapshot: a backend may read them
     * all at once (PostgreSQL does: a query per counter cost 9 s over
     * 10,000 users). */
    if ((rc = store_begin_read(st->s)) != STORE_OK) {
        log_err("stats: %s: %s", st->a.db_path, store_errmsg(st->s));
        return userdb_exit(rc);
    }
    for (size_t i = 0; rc == 0 && i < st->n; i++)
        rc = stats_shadow(st, st->us[i].user, &st->rows[i]);
    store_end_read(st->s);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < st->n; i++) {
        const struct store_user_stats *u = &st->us[i];
        struct row *r = &st->rows[i];

        r->u = u;
        {
            const unsigned *c = g_hash_table_lookup(st->lists, u->user);

            if (c != NULL)
                memcpy(r->lists, c, sizeof(r->lists));
        }
        for (int k = 0; k < SHADOW_N; k++)
            t->shadow[k] += r->shadow[k];
        metrics_wilson(u->fp, u->scanned, &r->fp_lo, &r->fp_hi);
        metrics_wilson(u->fn, u->scanned, &r->fn_lo, &r->fn_hi);
        t->scanned += u->scanned;
        t->tagged += u->tagged;
        t->quar += u->quarantined;
        t->rej += u->rejected;
        t->skip += u->skipped;
        t->err += u->errors;
        t->ls += u->learned_spam;
        t->lh += u->learned_ham;
        t->fp += u->fp;
        t->fn += u->fn;
        t->ms += u->ms_sum;
        t->active += u->scanned + u->learned_spam + u->learned_ham > 0;
        for (int b = 0; b < STORE_SCAN_HIST; b++)
            t->hist[b] += u->hist[b];
        r->head_dist = stats_head_dist(st, u);
        r->thr = -1;
        if (st->m != NULL) {
            char err[256];
            int trc = refit_user_threshold(st->s, st->m, u->user, st->a.target, &r->thr,
                                          &r->thr_source, NULL, err, sizeof(err));

            if (trc != STORE_OK) {
                log_err("stats: %s: %s", u->user, err);
                return userdb_exit(trc);
            }
        }
    }
    qsort(st->rows, st->n, sizeof(*st->rows), cmp_activity);
    return 0;
}

/* "shadow":{"scanned":N,"quarantined":N,"rejected":N}, and a comma. */
static void
stats_json_shadow(const uint64_t *v)
{
    printf("\"shadow\":{\"scanned\":%" PRIu64 ",\"quarantined\":%" PRIu64 ",\"rejected\":%"
           PRIu64 "},", v[SHADOW_SCANNED], v[SHADOW_QUARANTINED], v[SHADOW_REJECTED]);
}

static void
stats_json_user(const struct row *r)
{
    const struct store_user_stats *u = r->u;

    printf("{\"user\":");
    json_string(stdout, u->user);
    printf(",\"scanned\":%" PRIu64 ",\"tagged\":%" PRIu64 ",\"quarantined\":%" PRIu64
           ",\"rejected\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"errors\":%" PRIu64
           ",\"learned_spam\":%" PRIu64 ",\"learned_ham\":%" PRIu64
           ",\"feedback_spam\":%" PRIu64 ",\"feedback_ham\":%" PRIu64
           ",\"false_positives\":%" PRIu64 ",\"false_negatives\":%" PRIu64 ",",
           u->scanned, u->tagged, u->quarantined, u->rejected, u->skipped, u->errors,
           u->learned_spam, u->learned_ham, u->fb_spam, u->fb_ham, u->fp, u->fn);
    printf("\"fp_rate\":[%.6g,%.6g,%.6g],\"fn_rate\":[%.6g,%.6g,%.6g],",
           u->scanned ? (double) u->fp / u->scanned : 0, r->fp_lo, r->fp_hi,
           u->scanned ? (double) u->fn / u->scanned : 0, r->fn_lo, r->fn_hi);
    json_num(stdout, "mean_scan_ms", u->scanned ? u->ms_sum / u->scanned : NAN, 1);
    json_num(stdout, "p99_scan_ms", u->scanned ? p99_ms(u->hist) : NAN, 1);
    printf("\"refits\":%" PRIu64 ",", u->refits);
    if (u->has_refit) {
        printf("\"last_refit\":{\"at\":%" PRId64 ",\"version\":%" PRIu64 ","
               "\"feedback\":%u,\"unlabelled\":%u,", u->refit_at, u->version,
               u->last.n_feedback, u->last.n_unlabelled);
        json_num(stdout, "domain_auc", u->last.domain_auc, 1);
        json_num(stdout, "ess", u->last.ess, 1);
        json_num(stdout, "cv_err_before", u->last.cv_err_before >= 0
                 ? u->last.cv_err_before : NAN, 1);
        json_num(stdout, "cv_err_after", u->last.cv_err_after >= 0
                 ? u->last.cv_err_after : NAN, 1);
        json_num(stdout, "ms", u->last.ms, 0);
        printf("},");
    } else
        printf("\"last_refit\":null,");
    stats_json_shadow(r->shadow);
    printf("\"lists\":{\"allow\":%u,\"block\":%u},", r->lists[0], r->lists[1]);
    json_num(stdout, "head_distance", r->head_dist >= 0 ? r->head_dist : NAN, 1);
    json_num(stdout, "threshold", r->thr >= 0 ? r->thr : NAN, 1);
    printf("\"threshold_source\":");
    if (r->thr >= 0)
        json_string(stdout, oppoint_source_name(r->thr_source));
    else
        printf("null");
    printf("}");
}

static void
stats_print_json(const struct stats *st)
{
    const struct stats_totals *t = &st->t;
    const struct store_overview *ov = &st->ov;
    const struct model *m = st->m;
    double lo, hi;

    printf("{\"schema\":%d,\"generated\":%" PRId64 ",\"since\":%" PRId64 ",",
           STATS_JSON_SCHEMA, st->now, st->since);
    printf("\"model\":");
    if (m != NULL) {
        printf("{\"id\":\"%s\",\"created\":%" PRId64 ",\"ham\":%u,\"spam\":%u,"
               "\"features\":%u,\"epochs\":%u},", m->id, m->summary.created,
               m->summary.n_ham, m->summary.n_spam, m->summary.n_features,
               m->summary.epochs);
    } else
        printf("null,");
    printf("\"overview\":{\"users\":%" PRIu64 ",\"active_users\":%" PRIu64 ","
           "\"scanned\":%" PRIu64 ",\"tagged\":%" PRIu64 ",\"quarantined\":%" PRIu64
           ",\"rejected\":%" PRIu64 ",\"skipped\":%" PRIu64 ",\"errors\":%" PRIu64 ",",
           ov->users, t->active, t->scanned, t->tagged, t->quar, t->rej, t->skip, t->err);
    json_num(stdout, "spam_rate", t->scanned ? (double) (t->tagged + t->quar + t->rej)
             / t->scanned : NAN, 1);
    json_num(stdout, "mean_scan_ms", t->scanned ? t->ms / t->scanned : NAN, 1);
    json_num(stdout, "p99_scan_ms", t->scanned ? p99_ms(t->hist) : NAN, 1);
    printf("\"learned_spam\":%" PRIu64 ",\"learned_ham\":%" PRIu64 ",\"false_positives\":%"
           PRIu64 ",\"false_negatives\":%" PRIu64 ",", t->ls, t->lh, t->fp, t->fn);
    metrics_wilson(t->fp, t->scanned, &lo, &hi);
    printf("\"fp_rate\":[%.6g,%.6g,%.6g],", t->scanned ? (double) t->fp / t->scanned : 0,
           lo, hi);
    metrics_wilson(t->fn, t->scanned, &lo, &hi);
    printf("\"fn_rate\":[%.6g,%.6g,%.6g],", t->scanned ? (double) t->fn / t->scanned : 0,
           lo, hi);
    stats_json_shadow(t->shadow);
    printf("\"lists\":{\"allow\":%u,\"block\":%u},", st->list_total[0], st->list_total[1]);
    printf("\"refits\":%" PRIu64 ",\"feedback_held\":%" PRIu64 ",\"scan_records\":%" PRIu64
           ",\"oldest_scan_record\":%" PRId64 ",\"oldest_day\":%" PRId64 ",\"db_bytes\":%"
           PRId64 "},\"users\":[", ov->refits_since, ov->feedback, ov->scan_records,
           ov->oldest_scan, ov->oldest_day, ov->bytes);
    for (size_t i = 0; i < st->n; i++) {
        printf("%s", i ? "," : "");
        stats_json_user(&st->rows[i]);
    }
    printf("]}\n");
}

/* --per-user: the old per-user gauges, one series per user and name. */
static void
stats_print_prom_users(const struct stats *st)
{
    static const char *const names[] = {
        "scanned", "tagged", "quarantined", "rejected", "skipped", "errors",
        "learned_spam", "learned_ham", "false_positives", "false_negatives",
    };

    for (size_t k = 0; k < G_N_ELEMENTS(names); k++) {
        char metric[64], help[96];

        snprintf(metric, sizeof(metric), "spamshift_store_user_%s", names[k]);
        snprintf(help, sizeof(help), "Per user (--per-user): %s in the period.", names[k]);
        prom_family(metric, help);
        for (size_t i = 0; i < st->n; i++) {
            const struct store_user_stats *u = st->rows[i].u;
            const uint64_t v[] = { u->scanned, u->tagged, u->quarantined, u->rejected,
                                   u->skipped, u->errors, u->learned_spam, u->learned_ham,
                                   u->fp, u->fn };

            prom_sample(metric, "user", u->user, (double) v[k]);
        }
    }
}

/*
 * The store's history for a node-exporter textfile: totals over the period
 * (gauges: a window, not counters), no label naming a user unless --per-user
 * (issue 18, finding 8: a label per user is a series per mailbox, and tells
 * whoever reads the metrics who gets mail).  Prefixed spamshift_store_ so that
 * nothing clashes with the milter's own live counters (metrics_listen).
 */
static void
stats_print_prom(const struct stats *st)
{
    static const char *const copies[] = {
        "scanned", "tagged", "quarantined", "rejected", "skipped", "errors",
    };
    static const char *const shadow[SHADOW_N] = { "scanned", "quarantined", "rejected" };
    const struct stats_totals *t = &st->t;
    const struct store_overview *ov = &st->ov;
    const uint64_t cv[] = { t->scanned, t->tagged, t->quar, t->rej, t->skip, t->err };

    prom_family("spamshift_store_period_seconds",
                "Length of the period the windowed series cover (0: all time).");
    prom_sample("spamshift_store_period_seconds", NULL, NULL, (double) st->period);
    prom_family("spamshift_store_users", "Users in the store.");
    prom_sample("spamshift_store_users", NULL, NULL, (double) ov->users);
    prom_family("spamshift_store_active_users", "Users who had mail scanned or learned "
                "in the period.");
    prom_sample("spamshift_store_active_users", NULL, NULL, (double) t->active);
    prom_family("spamshift_store_copies", "Recipient copies in the period by outcome "
                "(from the milter's scan records).");
    for (size_t k = 0; k < G_N_ELEMENTS(copies); k++)
        prom_sample("spamshift_store_copies", "outcome", copies[k], (double) cv[k]);
    prom_family("spamshift_store_learned", "Messages learned in the period by label.");
    prom_sample("spamshift_store_learned", "label", "spam", (double) t->ls);
    prom_sample("spamshift_store_learned", "label", "ham", (double) t->lh);
    prom_family("spamshift_store_measured_errors", "Feedback in the period that "
                "contradicts the verdict recorded (lower bounds).");
    prom_sample("spamshift_store_measured_errors", "kind", "false_positive", (double) t->fp);
    prom_sample("spamshift_store_measured_errors", "kind", "false_negative", (double) t->fn);
    prom_family("spamshift_store_scan_mean_seconds", "Mean scan time in the period.");
    prom_sample("spamshift_store_scan_mean_seconds", NULL, NULL,
                t->scanned ? t->ms / t->scanned / 1e3 : 0);
    prom_family("spamshift_store_scan_p99_seconds", "99th percentile scan time in the "
                "period (a bucket edge).");
    prom_sample("spamshift_store_scan_p99_seconds", NULL, NULL, p99_ms(t->hist) / 1e3);
    prom_family("spamshift_store_refits", "Users refitted in the period.");
    prom_sample("spamshift_store_refits", NULL, NULL, (double) ov->refits_since);
    prom_family("spamshift_store_shadow_copies", "Copies scanned in mode = shadow (all "
                "time), and those that would have been quarantined or rejected.");
    for (int k = 0; k < SHADOW_N; k++)
        prom_sample("spamshift_store_shadow_copies", "would", shadow[k], (double) t->shadow[k]);
    prom_family("spamshift_store_list_entries", "Allow and block entries, every scope.");
    prom_sample("spamshift_store_list_entries", "action", "allow", st->list_total[0]);
    prom_sample("spamshift_store_list_entries", "action", "block", st->list_total[1]);
    prom_family("spamshift_store_feedback_held", "Feedback messages the store holds.");
    prom_sample("spamshift_store_feedback_held", NULL, NULL, (double) ov->feedback);
    prom_family("spamshift_store_scan_records", "Per-message scan records kept.");
    prom_sample("spamshift_store_scan_records", NULL, NULL, (double) ov->scan_records);
    prom_family("spamshift_store_bytes", "Size of the store's file.");
    prom_sample("spamshift_store_bytes", NULL, NULL, (double) ov->bytes);
    if (st->a.per_user)
        stats_print_prom_users(st);
}

/* The table's header: store, model, period and totals. */
static void
stats_table_head(const struct stats *st)
{
    const struct stats_totals *t = &st->t;
    const struct store_overview *ov = &st->ov;
    const struct model *m = st->m;
    char tbuf[32], tbuf2[32];
    double lo, hi;

    printf("store       %s (%.1f MiB)\n", st->a.db_path, ov->bytes / 1048576.0);
    if (m != NULL) {
        fmt_time(tbuf, sizeof(tbuf), m->summary.created);
        printf("model       %s (%s UTC): %u ham + %u spam, %u features, %u epochs\n",
               m->id, tbuf, m->summary.n_ham, m->summary.n_spam, m->summary.n_features,
               m->summary.epochs);
    }
    fmt_time(tbuf, sizeof(tbuf), st->since);
    printf("period      %s UTC to now\n", st->period ? tbuf : "all time:");
    printf("users       %" PRIu64 " (%" PRIu64 " active in the period)\n", ov->users,
           t->active);
    printf("scanned     %" PRIu64 ", spam rate %.2f%% (tagged %" PRIu64 ", quarantined %"
           PRIu64 ", rejected %" PRIu64 "), skipped %" PRIu64 ", errors %" PRIu64 "\n",
           t->scanned, t->scanned ? 100.0 * (t->tagged + t->quar + t->rej) / t->scanned : 0,
           t->tagged, t->quar, t->rej, t->skip, t->err);
    if (t->shadow[SHADOW_SCANNED] > 0)
        /* The milter records what it would have done (milter/users.h). */
        printf("shadow      %" PRIu64 " copies scanned in mode = shadow (all time): would have "
               "quarantined %" PRIu64 " and rejected %" PRIu64 ", none carried out; "
               "their verdicts above are what it would have done\n",
               t->shadow[SHADOW_SCANNED], t->shadow[SHADOW_QUARANTINED],
               t->shadow[SHADOW_REJECTED]);
    printf("scan time   mean %.2f ms, p99 <= %.2f ms\n",
           t->scanned ? t->ms / t->scanned : 0, p99_ms(t->hist));
    printf("learned     %" PRIu64 " spam, %" PRIu64 " ham; refits %" PRIu64 "\n",
           t->ls, t->lh, ov->refits_since);
    if (st->list_total[0] + st->list_total[1] > 0)
        printf("lists       %u allow and %u block entries in %u scopes (spamshift user "
               "--lists)\n", st->list_total[0], st->list_total[1],
               g_hash_table_size(st->lists));
    metrics_wilson(t->fp, t->scanned, &lo, &hi);
    printf("measured    %" PRIu64 " false positives (%.3f%%, 95%% CI %.3f-%.3f%%), ",
           t->fp, t->scanned ? 100.0 * t->fp / t->scanned : 0, 100 * lo, 100 * hi);
    metrics_wilson(t->fn, t->scanned, &lo, &hi);
    printf("%" PRIu64 " false negatives (%.3f%%, %.3f-%.3f%%) of scanned\n",
           t->fn, t->scanned ? 100.0 * t->fn / t->scanned : 0, 100 * lo, 100 * hi);
    fmt_time(tbuf, sizeof(tbuf), ov->oldest_scan);
    fmt_time(tbuf2, sizeof(tbuf2), ov->oldest_day);
    printf("records     %" PRIu64 " scan records (oldest %s), daily counters since %s, "
           "%" PRIu64 " feedback messages held\n\n", ov->scan_records, tbuf, tbuf2,
           ov->feedback);
}

static void
stats_table_row(const struct row *r)
{
    const struct store_user_stats *u = r->u;
    char fpc[32], fnc[32], dist[16], cvb[16], cva[16], shift[16], ess[16], tbuf[32];
    char thr[32];

    snprintf(fpc, sizeof(fpc), "%.2f (%.2f-%.2f)",
             u->scanned ? 100.0 * u->fp / u->scanned : 0, 100 * r->fp_lo, 100 * r->fp_hi);
    snprintf(fnc, sizeof(fnc), "%.2f (%.2f-%.2f)",
             u->scanned ? 100.0 * u->fn / u->scanned : 0, 100 * r->fn_lo, 100 * r->fn_hi);
    if (r->head_dist >= 0)
        snprintf(dist, sizeof(dist), "%.3f", r->head_dist);
    else
        snprintf(dist, sizeof(dist), "-");
    fmt_time(tbuf, sizeof(tbuf), u->has_refit ? u->refit_at : 0);
    fmt_cv(cvb, sizeof(cvb), u->has_refit ? u->last.cv_err_before : -1);
    fmt_cv(cva, sizeof(cva), u->has_refit ? u->last.cv_err_after : -1);
    snprintf(shift, sizeof(shift), u->has_refit ? "%.3f" : "-", u->last.domain_auc);
    snprintf(ess, sizeof(ess), u->has_refit ? "%.0f" : "-", u->last.ess);
    if (r->thr >= 0)
        snprintf(thr, sizeof(thr), "%.4f %s", r->thr, oppoint_source_name(r->thr_source));
    else
        snprintf(thr, sizeof(thr), "-");
    printf("%-32s %8" PRIu64 " %7" PRIu64 " %6" PRIu64 " %6" PRIu64 " %6" PRIu64
           " %4" PRIu64 " %-20s %4" PRIu64 " %-20s %7.2f %7.2f %6s %7s %6s %-16s %s>%s  %s\n",
           u->user, u->scanned, u->tagged, u->rejected, u->learned_spam,
           u->learned_ham, u->fp, fpc, u->fn, fnc,
           u->scanned ? u->ms_sum / u->scanned : 0, p99_ms(u->hist), shift, ess,
           dist, tbuf, cvb, cva, thr);
}

static void
stats_print_table(const struct stats *st)
{
    size_t n = st->n, limit = (size_t) st->a.limit;

    stats_table_head(st);
    printf("%-32s %8s %7s %6s %6s %6s %4s %-20s %4s %-20s %7s %7s %6s %7s %6s %-16s %s\n",
           "user", "scanned", "tagged", "reject", "l.spam", "l.ham", "FP", "FP% (95% CI)",
           "FN", "FN% (95% CI)", "mean.ms", "p99.ms", "shift", "ESS", "h.dist",
           "last refit", "cv before>after  threshold");
    for (size_t i = 0; i < n && (limit == 0 || i < limit); i++)
        stats_table_row(&st->rows[i]);
    if (limit > 0 && n > limit)
        printf("(%zu more users: --limit 0 shows all)\n", n - limit);
}

/* The statistics in the format asked for.  Returns an exit code. */
static int
stats_report(const struct stats *st)
{
    if (st->fmt == F_JSON)
        stats_print_json(st);
    else if (st->fmt == F_PROM)
        stats_print_prom(st);
    else
        stats_print_table(st);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_err("stats: cannot write the statistics");
        return EX_CANTCREAT;
    }
    return 0;
}

static void
stats_close(struct stats *st)
{
    free(st->rows);
    if (st->lists != NULL)
        g_hash_table_destroy(st->lists);
    store_user_stats_free(st->us, st->n);
    store_close(st->s);
    model_free(st->m);
    g_free(st->user);
    g_free(st->a.db_path);
    g_free(st->a.model_path);
    g_free(st->a.user_arg);
    g_free(st->a.since_arg);
    g_free(st->a.format);
}

int
cmd_stats(int argc, char **argv)
{
    struct stats st = { 0 };
    int rc;

    if ((rc = stats_parse(&st.a, &argc, &argv)) == 0
            && (rc = stats_open(&st, argc, argv)) == 0
            && (rc = stats_rows(&st)) == 0)
        rc = stats_report(&st);
    stats_close(&st);
    return rc;
}
