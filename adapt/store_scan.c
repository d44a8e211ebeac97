/*
 * store_scan.c - the store's front for what the milter decided: scan
 * records (the day's counters, the scan-time histogram's buckets and
 * encoding, expiry after STORE_SCAN_KEEP_DAYS), the per-user statistics
 * built from the backend's aggregate rows, and the overview.  See store.h
 * for the contracts and store_be.h for the split with the backends.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "store.h"
#include "store_be.h"

/* How often a connection expires old scan records (seconds of record time). */
#define EXPIRE_EVERY 3600

double
store_scan_bucket_ms(int b)
{
    return 0.05 * pow(1.3, b + 1);
}

static int
scan_bucket(double ms)
{
    int b = 0;

    while (b < STORE_SCAN_HIST - 1 && ms > store_scan_bucket_ms(b))
        b++;
    return b;
}

/* The histogram in a blob of len bytes (shorter: the missing buckets are 0). */
static void
hist_read(const void *blob, size_t len, uint32_t *hist)
{
    const uint8_t *p = blob;

    memset(hist, 0, STORE_SCAN_HIST * sizeof(*hist));
    for (int b = 0; p != NULL && b < STORE_SCAN_HIST && 4 * (size_t)(b + 1) <= len; b++)
        hist[b] = le_get32(p + 4 * b);
}

static int
scan_record(struct store *s, const char *user, const uint8_t *digest, float score,
            int verdict, double ms, int64_t at)
{
    uint32_t hist[STORE_SCAN_HIST];
    uint8_t blob[4 * STORE_SCAN_HIST];
    int scored = verdict >= STORE_V_PASS && verdict <= STORE_V_REJECT;
    int64_t uid, day = at - at % STORE_DAY;
    struct store_scan_day d;
    int rc;

    if (verdict < 0 || verdict >= STORE_V_N)
        return store_fail(s, STORE_ERR, "unknown verdict %d", verdict);
    if (!(ms >= 0) || !(score >= 0 && score <= 1))
        return store_fail(s, STORE_ERR, "scan time or score out of range");
    if ((rc = store_user_id(s, user, &uid)) != STORE_OK)
        return rc;
    rc = s->be->scan_day_hist(s, uid, day, blob, sizeof(blob));
    if (rc < 0)
        return rc;
    if (rc == STORE_OK)
        hist_read(blob, sizeof(blob), hist);
    else
        memset(hist, 0, sizeof(hist));
    if (scored)
        hist[scan_bucket(ms)]++;
    for (int b = 0; b < STORE_SCAN_HIST; b++)
        le_put32(blob + 4 * b, hist[b]);
    d = (struct store_scan_day){
        .scanned = scored, .tagged = verdict == STORE_V_TAG,
        .quarantined = verdict == STORE_V_QUARANTINE, .rejected = verdict == STORE_V_REJECT,
        .skipped = verdict == STORE_V_SKIPPED, .errors = verdict == STORE_V_ERROR,
        .ms = scored ? ms : 0, .hist = blob,
    };
    if ((rc = s->be->scan_day_add(s, uid, day, &d)) != STORE_OK)
        return rc;
    if (digest != NULL && scored &&
        (rc = s->be->scan_put(s, uid, digest, at, score, verdict)) != STORE_OK)
        return rc;
    if (at - s->scans_expired >= EXPIRE_EVERY) {
        if ((rc = s->be->scan_expire(s, at - (int64_t)STORE_SCAN_KEEP_DAYS * STORE_DAY))
                != STORE_OK)
            return rc;
        s->scans_expired = at;
    }
    return STORE_OK;
}

int
store_scan_record(struct store *s, const char *user, const uint8_t *digest, float score,
                  int verdict, double ms, int64_t at)
{
    int own, rc;

    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    return store_op_end(s, own, scan_record(s, user, digest, score, verdict, ms, at));
}

/* ---- statistics ---- */

struct store_stats_acc {
    struct store_user_stats *v;
    int64_t *ids;               /* v[i]'s user id, ascending (the rows come so) */
    size_t n, cap;
};

void
store_user_stats_free(struct store_user_stats *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i].user);
    free(v);
}

/* Index of user id uid in a->ids (sorted), or -1. */
static long
stats_find(const struct store_stats_acc *a, int64_t uid)
{
    size_t lo = 0, hi = a->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->ids[mid] < uid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < a->n && a->ids[lo] == uid ? (long)lo : -1;
}

static int
stats_user(struct store *s, struct store_stats_acc *a, const struct store_stats_row *r)
{
    if (a->n == a->cap) {
        size_t nc = a->cap ? 2 * a->cap : 256;
        void *nv = realloc(a->v, nc * sizeof(*a->v)), *ni;

        if (nv == NULL)
            return store_fail(s, STORE_ERR, "out of memory");
        a->v = nv;
        if ((ni = realloc(a->ids, nc * sizeof(*a->ids))) == NULL)
            return store_fail(s, STORE_ERR, "out of memory");
        a->ids = ni;
        a->cap = nc;
    }
    if (a->n > 0 && r->uid <= a->ids[a->n - 1])
        return store_fail(s, STORE_ERR, "%s: statistics: users out of order", s->name);
    memset(&a->v[a->n], 0, sizeof(a->v[a->n]));
    if ((a->v[a->n].user = strdup(r->key != NULL ? r->key : "")) == NULL)
        return store_fail(s, STORE_ERR, "out of memory");
    a->ids[a->n++] = r->uid;
    return STORE_OK;
}

static void
stats_day(struct store_user_stats *u, const struct store_stats_row *r)
{
    uint32_t h[STORE_SCAN_HIST];

    u->scanned += (uint64_t)r->i[0];
    u->tagged += (uint64_t)r->i[1];
    u->quarantined += (uint64_t)r->i[2];
    u->rejected += (uint64_t)r->i[3];
    u->skipped += (uint64_t)r->i[4];
    u->errors += (uint64_t)r->i[5];
    u->ms_sum += r->d[0];
    hist_read(r->blob, r->blob_len, h);
    for (int b = 0; b < STORE_SCAN_HIST; b++)
        u->hist[b] += h[b];
}

int
store_stats_add(struct store *s, struct store_stats_acc *a, const struct store_stats_row *r)
{
    struct store_user_stats *u;
    long i;

    if (r->kind == STORE_STATS_USER)
        return stats_user(s, a, r);
    if ((i = stats_find(a, r->uid)) < 0)
        return STORE_OK;
    u = &a->v[i];
    switch (r->kind) {
    case STORE_STATS_DAY:
        stats_day(u, r);
        break;
    case STORE_STATS_FEEDBACK:
        if (r->i[0]) {
            u->fb_spam = (uint64_t)r->i[1];
            u->learned_spam = (uint64_t)r->i[2];
        } else {
            u->fb_ham = (uint64_t)r->i[1];
            u->learned_ham = (uint64_t)r->i[2];
        }
        break;
    case STORE_STATS_MATCHED:
        if (r->i[0])
            u->matched_spam = (uint64_t)r->i[1];
        else
            u->matched_ham = (uint64_t)r->i[1];
        u->fp += (uint64_t)r->i[2];
        u->fn += (uint64_t)r->i[3];
        break;
    case STORE_STATS_REFITS:
        u->refits = (uint64_t)r->i[0];
        break;
    case STORE_STATS_LAST:
        u->has_refit = 1;
        u->version = (uint64_t)r->i[0];
        u->refit_at = r->i[1];
        u->last.n_feedback = (uint32_t)r->i[2];
        u->last.n_unlabelled = (uint32_t)r->i[3];
        u->last.domain_auc = r->d[0];
        u->last.ess = r->d[1];
        u->last.cv_err_before = r->d[2];
        u->last.cv_err_after = r->d[3];
        u->last.ms = r->d[4];
        break;
    case STORE_STATS_USER:
        break;
    }
    return STORE_OK;
}

static int
stats_by_key(const void *a, const void *b)
{
    return strcmp(((const struct store_user_stats *)a)->user,
                  ((const struct store_user_stats *)b)->user);
}

int
store_user_stats(struct store *s, const char *user, int64_t since,
                 struct store_user_stats **out, size_t *n_out)
{
    struct store_stats_acc a = { 0 };
    int rc;

    *out = NULL;
    *n_out = 0;
    if (user != NULL && (rc = store_check_user(s, user)) != STORE_OK)
        return rc;
    if ((rc = store_begin_read(s)) != STORE_OK)
        return rc;
    rc = s->be->stats(s, user, since, &a);
    store_end_read(s);
    free(a.ids);
    if (rc != STORE_OK) {
        store_user_stats_free(a.v, a.n);
        return rc;
    }
    /* Key order for the reader; ids were only for joining (keys are unique). */
    if (a.n > 1)
        qsort(a.v, a.n, sizeof(*a.v), stats_by_key);
    *out = a.v;
    *n_out = a.n;
    return STORE_OK;
}

int
store_overview(struct store *s, int64_t since, struct store_overview *o)
{
    memset(o, 0, sizeof(*o));
    return s->be->overview(s, since, o);
}
