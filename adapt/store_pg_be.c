/*
 * store_pg_be.c - the PostgreSQL backend's table of row-level operations
 * (store_be.h), the one object the front reaches the backend through, and the
 * maintenance operations that the server's own tools do instead (backup,
 * restore, checkpoint).  The operations live by job in store_pg.c
 * (connection, transactions) and store_pg_*.c; keeping the table out of
 * store_pg.c lets those files call its connection helpers without the two
 * objects calling into each other (tests/layering/mutual.sh).
 */
#include "config.h"

#include <stdint.h>

#include "store.h"
#include "store_be.h"
#include "store_pg.h"

/* ---- maintenance: the server's own tools do these ---- */

static int
pq_backup(struct store *s, const char *dst)
{
    return store_fail(s, STORE_ERR, "%s: a PostgreSQL store is backed up with the "
                      "server's tools (pg_dump) or copied with `spamshift store copy`",
                      s->name);
}

static int
pq_restore(struct store *s, struct store *src)
{
    return store_fail(s, STORE_ERR, "%s: a PostgreSQL store is restored with the "
                      "server's tools (pg_restore) or `spamshift store copy`", s->name);
}

/* The server manages its write-ahead log: nothing to give back here. */
static int
pq_checkpoint(struct store *s, int64_t *wal_bytes)
{
    if (wal_bytes != NULL)
        *wal_bytes = 0;
    return STORE_OK;
}

static int
pq_moved(struct store *s)
{
    return 0;
}

static int
pq_wal_pin(const struct store *s)
{
    return -1;
}

const struct store_backend store_pg_backend = {
    .name = "postgresql",
    .schema_version = PQ_SCHEMA_VERSION,
    .open = pq_open,
    .close = pq_close,
    .label = pq_label,
    .txn = pq_txn,
    .schema_get = pq_schema_get,
    .schema_upgrade = pq_schema_upgrade,
    .meta_get = pq_meta_get,
    .meta_set = pq_meta_set,
    .meta_delete = pq_meta_delete,
    .meta_list = pq_meta_list,
    .user_lookup = pq_user_lookup,
    .user_insert = pq_user_insert,
    .user_state = pq_user_state,
    .user_bump_fb = pq_user_bump_fb,
    .user_bump_seen = pq_user_bump_seen,
    .keys = pq_keys,
    .claim = pq_claim,
    .claim_release = pq_claim_release,
    .thr_get = pq_thr_get,
    .thr_set = pq_thr_set,
    .thr_list = pq_thr_list,
    .counter_add = pq_counter_add,
    .counter_get = pq_counter_get,
    .list_set = pq_list_set,
    .list_all = pq_list_all,
    .fb_get = pq_fb_get,
    .fb_write = pq_fb_write,
    .fb_delete = pq_fb_delete,
    .fb_quota = pq_fb_quota,
    .res_has = pq_res_has,
    .res_seen = pq_res_seen,
    .res_put = pq_res_put,
    .res_trim = pq_res_trim,
    .samples = pq_samples,
    .rep_put = pq_rep_put,
    .fc_get = pq_fc_get,
    .fc_put = pq_fc_put,
    .head_get = pq_head_get,
    .head_marks = pq_head_marks,
    .head_put = pq_head_put,
    .refit_last = pq_refit_last,
    .refit_max = pq_refit_max,
    .scan_day_hist = pq_scan_day_hist,
    .scan_day_add = pq_scan_day_add,
    .scan_day_bump = pq_scan_day_bump,
    .scan_put = pq_scan_put,
    .scan_expire = pq_scan_expire,
    .stats = pq_stats,
    .overview = pq_overview,
    .check = pq_check,
    .backup = pq_backup,
    .restore = pq_restore,
    .checkpoint = pq_checkpoint,
    .moved = pq_moved,
    .wal_pin = pq_wal_pin,
    .rows_read = pq_rows_read,
    .rows_count = pq_rows_count,
    .row_write = pq_row_write,
    .rows_clear = pq_rows_clear,
    .ids_sync = pq_ids_sync,
};
