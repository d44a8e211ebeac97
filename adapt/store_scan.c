/*
 * store_scan.c - the store's front for what the milter decided: scan
 * records (the day's counters, the scan-time histogram's buckets and
 * encoding, expiry after STORE_SCAN_KEEP_DAYS), the per-user statistics
 * (one read snapshot over the backend's aggregate rows, which store_rows.c
 * assembles), and the overview.  See store.h
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
    if (s->be->scan_day_bump != NULL)
        rc = STORE_NOTFOUND;    /* the backend adds to the row's: blob is a new row's */
    else if ((rc = s->be->scan_day_hist(s, uid, day, blob, sizeof(blob))) < 0)
        return rc;
    if (rc == STORE_OK)
        store_hist_read(blob, sizeof(blob), hist);
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
    if (s->be->scan_day_bump != NULL) {
        struct store_scan_rec rec = { digest, at, score, verdict };

        rc = s->be->scan_day_bump(s, uid, day, &d, scored ? scan_bucket(ms) : -1,
                                  digest != NULL && scored ? &rec : NULL);
    } else if ((rc = s->be->scan_day_add(s, uid, day, &d)) == STORE_OK && digest != NULL &&
               scored)
        rc = s->be->scan_put(s, uid, digest, at, score, verdict);
    if (rc != STORE_OK)
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
