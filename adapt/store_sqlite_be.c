/*
 * store_sqlite_be.c - the SQLite backend's table of row-level operations
 * (store_be.h), the one object the front reaches the backend through.  It
 * only names the operations, which live by job in store_sqlite.c
 * (connection, transactions) and store_sqlite_*.c; keeping the table out of
 * store_sqlite.c lets those files call its connection helpers without the two
 * objects calling into each other (tests/layering/mutual.sh).
 */
#include "config.h"

#include "store.h"
#include "store_be.h"
#include "store_sqlite.h"

const struct store_backend store_sqlite_backend = {
    .name = "sqlite",
    .schema_version = SQ_SCHEMA_VERSION,
    .open = sq_open,
    .close = sq_close,
    .txn = sq_txn,
    .schema_get = sq_schema_get,
    .schema_upgrade = sq_schema_upgrade,
    .meta_get = sq_meta_get,
    .meta_set = sq_meta_set,
    .meta_delete = sq_meta_delete,
    .meta_list = sq_meta_list,
    .user_lookup = sq_user_lookup,
    .user_insert = sq_user_insert,
    .user_state = sq_user_state,
    .user_bump_fb = sq_user_bump_fb,
    .user_bump_seen = sq_user_bump_seen,
    .keys = sq_keys,
    .claim = sq_claim,
    .claim_release = sq_claim_release,
    .thr_get = sq_thr_get,
    .thr_set = sq_thr_set,
    .thr_list = sq_thr_list,
    .counter_add = sq_counter_add,
    .counter_get = sq_counter_get,
    .list_set = sq_list_set,
    .list_all = sq_list_all,
    .fb_get = sq_fb_get,
    .fb_write = sq_fb_write,
    .fb_delete = sq_fb_delete,
    .fb_quota = sq_fb_quota,
    .res_has = sq_res_has,
    .res_put = sq_res_put,
    .res_trim = sq_res_trim,
    .samples = sq_samples,
    .rep_put = sq_rep_put,
    .fc_get = sq_fc_get,
    .fc_put = sq_fc_put,
    .head_get = sq_head_get,
    .head_marks = sq_head_marks,
    .head_put = sq_head_put,
    .refit_last = sq_refit_last,
    .refit_max = sq_refit_max,
    .scan_day_hist = sq_scan_day_hist,
    .scan_day_add = sq_scan_day_add,
    .scan_put = sq_scan_put,
    .scan_expire = sq_scan_expire,
    .stats = sq_stats,
    .overview = sq_overview,
    .check = sq_check,
    .backup = sq_backup,
    .restore = sq_restore,
    .checkpoint = sq_checkpoint,
    .moved = sq_moved,
    .wal_pin = sq_wal_pin,
    .rows_read = sq_rows_read,
    .rows_count = sq_rows_count,
    .row_write = sq_row_write,
    .rows_clear = sq_rows_clear,
    .ids_sync = sq_ids_sync,
};
