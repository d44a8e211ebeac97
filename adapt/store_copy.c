/*
 * store_copy.c - a whole store into another database (store_copy.h): the
 * list of the store's tables as both backends hold them, the per-user
 * transactions of a copy, and the table-by-table comparison that checks one.
 * Only the backends' row operations touch the databases.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "store_be.h"
#include "store_copy.h"

#define I STORE_COL_INT
#define R STORE_COL_REAL
#define T STORE_COL_TEXT
#define B STORE_COL_BLOB

/* Every table, parents first (the order rows are written; cleared in reverse).
 * The two backends' schemas (store_sqlite_schema.c, store_pg_schema.c) have
 * these names and columns; a table added to them must be added here, or
 * `store copy` leaves it behind (tests/cli/store_copy.sh compares them). */
static const struct store_table tables[STORE_COPY_TABLES] = {
    { "users", 8, 0, { { "id", I }, { "key", T }, { "created", I }, { "fb_gen", I },
                       { "refit_fb_gen", I }, { "seen", I }, { "refit_seen", I },
                       { "spam_threshold", R } } },
    { "feedback", 8, 0, { { "user_id", I }, { "digest", B }, { "spam", I }, { "n", I },
                          { "ids", B }, { "updated", I }, { "rep", B },
                          { "rep_model", T } } },
    { "reservoir", 8, 0, { { "user_id", I }, { "slot", I }, { "digest", B }, { "n", I },
                           { "ids", B }, { "added", I }, { "rep", B },
                           { "rep_model", T } } },
    { "heads", 5, 0, { { "user_id", I }, { "version", I }, { "model_id", T },
                       { "blob", B }, { "updated", I } } },
    { "refits", 12, 1, { { "id", I }, { "user_id", I }, { "at", I }, { "version", I },
                         { "model_id", T }, { "n_feedback", I }, { "n_unlabelled", I },
                         { "domain_auc", R }, { "ess", R }, { "cv_before", R },
                         { "cv_after", R }, { "ms", R } } },
    { "counters", 3, 0, { { "user_id", I }, { "name", T }, { "value", I } } },
    { "scans", 5, 0, { { "user_id", I }, { "digest", B }, { "at", I }, { "score", R },
                       { "verdict", I } } },
    { "scan_days", 10, 0, { { "user_id", I }, { "day", I }, { "scanned", I },
                            { "tagged", I }, { "quarantined", I }, { "rejected", I },
                            { "skipped", I }, { "errors", I }, { "ms_sum", R },
                            { "hist", B } } },
    { "fitcache", 5, 0, { { "user_id", I }, { "model_id", T }, { "seen", I },
                          { "blob", B }, { "updated", I } } },
    { "senderlists", 4, -1, { { "scope", T }, { "sender", T }, { "action", I },
                              { "added", I } } },
    { "meta", 2, -1, { { "key", T }, { "value", T } } },
};

#undef I
#undef R
#undef T
#undef B

enum { T_USERS = 0, T_SENDERLISTS = 9, T_META = 10 };

/* What store_open writes into a new store's meta (store.c, settings_load). */
static const char *const new_store_meta[] = {
    "features_version", "reservoir_size", "feedback_max", "dirty_samples", "seed"
};

const char *
store_copy_table_name(int i)
{
    return i >= 0 && i < STORE_COPY_TABLES ? tables[i].name : NULL;
}

/* ---- emptiness ---- */

struct meta_scan {
    char key[128];
    int other;
};

static int
meta_other(void *ctx, const struct store_value *v)
{
    struct meta_scan *m = ctx;

    for (size_t i = 0; i < sizeof(new_store_meta) / sizeof(new_store_meta[0]); i++)
        if (strcmp(v[0].p, new_store_meta[i]) == 0)
            return 0;
    snprintf(m->key, sizeof(m->key), "%s", (const char *)v[0].p);
    m->other = 1;
    return 1;
}

int
store_copy_is_empty(struct store *dst, char *why, size_t len)
{
    struct meta_scan m = { .other = 0 };
    uint64_t n;
    int rc;

    for (int t = 0; t < STORE_COPY_TABLES; t++) {
        if (t == T_META)
            continue;
        if ((rc = dst->be->rows_count(dst, &tables[t], -1, &n)) != STORE_OK)
            return rc;
        if (n > 0) {
            snprintf(why, len, "it holds %" PRIu64 " rows in %s", n, tables[t].name);
            return 0;
        }
    }
    rc = dst->be->rows_read(dst, &tables[T_META], -1, meta_other, &m);
    if (rc < 0)
        return rc;
    if (m.other) {
        snprintf(why, len, "it holds the setting %s", m.key);
        return 0;
    }
    return 1;
}

/* ---- one store under two names ---- */

#define PROBE_KEY "copy_probe"

static int
probe_set(struct store *dst, const char *token)
{
    int rc = store_begin(dst);

    if (rc != STORE_OK)
        return rc;
    rc = token != NULL ? dst->be->meta_set(dst, PROBE_KEY, token)
                       : dst->be->meta_delete(dst, PROBE_KEY);
    if (rc != STORE_OK) {
        store_rollback(dst);
        return rc;
    }
    return store_commit(dst);
}

int
store_copy_same(struct store *src, struct store *dst, char *err, size_t errlen)
{
    char token[64], got[64];
    struct timespec ts;
    int rc, rd;

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(token, sizeof(token), "%llx.%lx.%lx", (unsigned long long)ts.tv_sec,
             (unsigned long)ts.tv_nsec, (unsigned long)getpid());
    if ((rc = probe_set(dst, token)) != STORE_OK) {
        snprintf(err, errlen, "%s", dst->err);
        return rc;
    }
    rc = src->be->meta_get(src, PROBE_KEY, got, sizeof(got));
    if (rc < 0)
        snprintf(err, errlen, "%s", src->err);
    if ((rd = probe_set(dst, NULL)) != STORE_OK && rc >= 0) {
        snprintf(err, errlen, "%s", dst->err);
        rc = rd;
    }
    if (rc < 0)
        return rc;
    return rc == STORE_OK && strcmp(got, token) == 0;
}

/* ---- copying ---- */

struct writer {
    struct store *dst;
    const struct store_table *t;
    uint64_t rows;
    int failed;                 /* the status of dst's failure, 0 */
};

static int
write_row(void *ctx, const struct store_value *v)
{
    struct writer *w = ctx;
    int rc;

    if (w->t == &tables[T_META])
        rc = w->dst->be->meta_set(w->dst, v[0].p, v[1].p);
    else
        rc = w->dst->be->row_write(w->dst, w->t, v);
    if (rc != STORE_OK) {
        w->failed = rc < 0 ? rc : STORE_ERR;
        return w->failed;
    }
    w->rows++;
    return 0;
}

/* Every row of table t (of user uid, or all when uid < 0) from src to dst.
 * A failure: *side 's' or 'd' says whose message explains it. */
static int
copy_rows(struct store *src, struct store *dst, int t, int64_t uid,
          struct store_copy_counts *n, char *side)
{
    struct writer w = { dst, &tables[t], 0, 0 };
    int rc = src->be->rows_read(src, &tables[t], uid, write_row, &w);

    if (w.failed) {
        *side = 'd';
        return w.failed;
    }
    if (rc != STORE_OK) {
        *side = 's';
        return rc < 0 ? rc : STORE_ERR;
    }
    n->rows[t] += w.rows;
    return STORE_OK;
}

struct user_ids {
    int64_t *id;
    char **key;
    size_t n, cap;
    int nomem;
};

static int
collect_user(void *ctx, const struct store_value *v)
{
    struct user_ids *u = ctx;

    if (u->n == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 256;
        int64_t *id = realloc(u->id, cap * sizeof(*id));
        char **key;

        if (id != NULL)
            u->id = id;
        key = id != NULL ? realloc(u->key, cap * sizeof(*key)) : NULL;
        if (key == NULL) {
            u->nomem = 1;
            return 1;
        }
        u->key = key;
        u->cap = cap;
    }
    if ((u->key[u->n] = strdup(v[1].p)) == NULL) {
        u->nomem = 1;
        return 1;
    }
    u->id[u->n++] = v[0].i;
    return 0;
}

static void
user_ids_free(struct user_ids *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->key[i]);
    free(u->key);
    free(u->id);
}

/* By id, so that a copy goes through the users in the order they came,
 * whatever order the backend read them in (insertion sort: ids arrive
 * nearly sorted). */
static void
sort_users(struct user_ids *u)
{
    for (size_t i = 1; i < u->n; i++) {
        int64_t id = u->id[i];
        char *key = u->key[i];
        size_t j = i;

        for (; j > 0 && u->id[j - 1] > id; j--) {
            u->id[j] = u->id[j - 1];
            u->key[j] = u->key[j - 1];
        }
        u->id[j] = id;
        u->key[j] = key;
    }
}

static int
list_users(struct store *s, struct user_ids *u, char *err, size_t errlen)
{
    int rc = s->be->rows_read(s, &tables[T_USERS], -1, collect_user, u);

    if (rc == STORE_OK && !u->nomem)
        sort_users(u);

    if (u->nomem) {
        snprintf(err, errlen, "out of memory listing the users of %s", s->name);
        return STORE_ERR;
    }
    if (rc != STORE_OK) {
        snprintf(err, errlen, "%s", s->err);
        return rc < 0 ? rc : STORE_ERR;
    }
    return STORE_OK;
}

/* The first transaction: dst cleared (force) or its new-store settings
 * dropped, src's settings and lists in. */
static int
copy_globals(struct store *src, struct store *dst, unsigned flags,
             struct store_copy_counts *n, char *side)
{
    int rc = STORE_OK;

    *side = 'd';
    for (int t = STORE_COPY_TABLES - 1; rc == STORE_OK && t >= 0; t--)
        if ((flags & STORE_COPY_FORCE) || t == T_META)
            rc = dst->be->rows_clear(dst, &tables[t]);
    if (rc == STORE_OK)
        rc = copy_rows(src, dst, T_META, -1, n, side);
    if (rc == STORE_OK)
        rc = copy_rows(src, dst, T_SENDERLISTS, -1, n, side);
    return rc;
}

static int
copy_user(struct store *src, struct store *dst, int64_t uid, struct store_copy_counts *n,
          char *side)
{
    int rc = STORE_OK;

    for (int t = 0; rc == STORE_OK && t < STORE_COPY_TABLES; t++)
        if (tables[t].user_col >= 0)
            rc = copy_rows(src, dst, t, uid, n, side);
    return rc;
}

static int compare_in(struct store *a, struct store *b, const struct user_ids *u,
                      struct store_copy_counts *na, char *diff, size_t difflen);

/* One step of the copy in its own dst transaction. */
static int
in_dst_txn(struct store *dst, int rc_begin, int rc, char *side)
{
    if (rc_begin != STORE_OK) {
        *side = 'd';
        return rc_begin;
    }
    if (rc != STORE_OK) {
        store_rollback(dst);
        return rc;
    }
    if ((rc = store_commit(dst)) != STORE_OK)
        *side = 'd';
    return rc;
}

int
store_copy(struct store *src, struct store *dst, unsigned flags,
           store_copy_progress_fn progress, void *ctx, struct store_copy_counts *n,
           char *err, size_t errlen)
{
    struct store_copy_counts local;
    struct user_ids u = { 0 };
    char side = 's', why[256];
    size_t i = 0;
    int rc, rb;

    if (n == NULL)
        n = &local;
    memset(n, 0, sizeof(*n));
    if (!(flags & STORE_COPY_FORCE)) {
        if ((rc = store_copy_is_empty(dst, why, sizeof(why))) < 0) {
            snprintf(err, errlen, "%s", dst->err);
            return rc;
        }
        if (rc == 0) {
            snprintf(err, errlen, "%s is not empty: %s (copy only into a new store, or "
                     "give --force to replace what it holds)", dst->name, why);
            return STORE_ERR;
        }
    }
    if ((rc = store_begin_read(src)) != STORE_OK) {
        snprintf(err, errlen, "%s", src->err);
        return rc;
    }
    if ((rc = list_users(src, &u, err, errlen)) != STORE_OK)
        goto out;
    rb = store_begin(dst);
    rc = in_dst_txn(dst, rb, rb == STORE_OK ? copy_globals(src, dst, flags, n, &side)
                                            : rb, &side);
    for (; rc == STORE_OK && i < u.n; i++) {
        rb = store_begin(dst);
        rc = in_dst_txn(dst, rb, rb == STORE_OK ? copy_user(src, dst, u.id[i], n, &side)
                                                : rb, &side);
        if (rc != STORE_OK)
            break;              /* i names the user it stopped at */
        n->users++;
        if (progress != NULL)
            progress(ctx, n->users, u.n);
    }
    if (rc == STORE_OK) {
        rb = store_begin(dst);
        rc = in_dst_txn(dst, rb, rb == STORE_OK ? dst->be->ids_sync(dst) : rb, &side);
    }
    if (rc != STORE_OK) {
        if (i < u.n)
            snprintf(err, errlen, "%s (at user %s: %" PRIu64 " of %zu users copied)",
                     side == 'd' ? dst->err : src->err, u.key[i], n->users, u.n);
        else
            snprintf(err, errlen, "%s (%" PRIu64 " of %zu users copied)",
                     side == 'd' ? dst->err : src->err, n->users, u.n);
        goto out;
    }
    if (flags & STORE_COPY_VERIFY)
        rc = compare_in(src, dst, &u, NULL, err, errlen);
out:
    store_end_read(src);
    user_ids_free(&u);
    return rc;
}

/* ---- comparing ---- */

struct digest {
    const struct store_table *t;
    uint64_t rows, sum;
};

/* FNV-1a over a value's kind-tagged bytes. */
static uint64_t
fnv(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* A row's hash, mixed so that a sum over rows is independent of their order. */
static int
digest_row(void *ctx, const struct store_value *v)
{
    struct digest *d = ctx;
    uint64_t h = 0xcbf29ce484222325ULL, len;

    for (int c = 0; c < d->t->ncols; c++) {
        unsigned char null = (unsigned char)(v[c].null != 0);

        h = fnv(h, &null, 1);
        if (null)
            continue;
        switch (d->t->cols[c].kind) {
        case STORE_COL_INT:
            h = fnv(h, &v[c].i, sizeof(v[c].i));
            break;
        case STORE_COL_REAL:
            h = fnv(h, &v[c].d, sizeof(v[c].d));
            break;
        case STORE_COL_TEXT:
        case STORE_COL_BLOB:
            len = v[c].len;
            h = fnv(h, &len, sizeof(len));
            h = fnv(h, v[c].p, v[c].len);
            break;
        }
    }
    h ^= h >> 31;
    h *= 0x7fb5d329728ea185ULL;
    h ^= h >> 27;
    d->sum += h;
    d->rows++;
    return 0;
}

static int
digest_of(struct store *s, int t, int64_t uid, struct digest *d, char *err,
          size_t errlen)
{
    int rc;

    d->t = &tables[t];
    d->rows = d->sum = 0;
    if ((rc = s->be->rows_read(s, &tables[t], uid, digest_row, d)) != STORE_OK) {
        snprintf(err, errlen, "%s", s->err);
        return rc < 0 ? rc : STORE_ERR;
    }
    return STORE_OK;
}

/* Table t of user i (i < 0: the whole table) on both sides. */
static int
compare_one(struct store *a, struct store *b, int t, const struct user_ids *u, long i,
            struct store_copy_counts *na, char *diff, size_t difflen)
{
    struct digest da, db;
    int64_t uid = i >= 0 ? u->id[i] : -1;
    int rc;

    if ((rc = digest_of(a, t, uid, &da, diff, difflen)) != STORE_OK ||
        (rc = digest_of(b, t, uid, &db, diff, difflen)) != STORE_OK)
        return rc;
    if (da.rows == db.rows && da.sum == db.sum) {
        na->rows[t] += da.rows;
        return STORE_OK;
    }
    if (da.rows != db.rows)
        snprintf(diff, difflen, "%s%s%s: %" PRIu64 " rows in %s, %" PRIu64 " in %s",
                 tables[t].name, i >= 0 ? " of user " : "", i >= 0 ? u->key[i] : "",
                 da.rows, a->name, db.rows, b->name);
    else
        snprintf(diff, difflen, "%s%s%s: %" PRIu64 " rows on both sides, but their "
                 "values differ (%s, %s)", tables[t].name, i >= 0 ? " of user " : "",
                 i >= 0 ? u->key[i] : "", da.rows, a->name, b->name);
    return STORE_NOTFOUND;
}

static int
compare_in(struct store *a, struct store *b, const struct user_ids *u,
           struct store_copy_counts *na, char *diff, size_t difflen)
{
    struct store_copy_counts local;
    uint64_t nb;
    int rc = STORE_OK;

    if (na == NULL)
        na = &local;
    memset(na, 0, sizeof(*na));
    for (int t = 0; rc == STORE_OK && t < STORE_COPY_TABLES; t++) {
        if (tables[t].user_col < 0) {
            rc = compare_one(a, b, t, u, -1, na, diff, difflen);
            continue;
        }
        for (size_t i = 0; rc == STORE_OK && i < u->n; i++)
            rc = compare_one(a, b, t, u, (long)i, na, diff, difflen);
        /* rows of b's own (users a does not have) */
        if (rc == STORE_OK && (rc = b->be->rows_count(b, &tables[t], -1, &nb)) != STORE_OK)
            snprintf(diff, difflen, "%s", b->err);
        if (rc == STORE_OK && nb != na->rows[t]) {
            snprintf(diff, difflen, "%s: %" PRIu64 " rows in %s, %" PRIu64 " in %s",
                     tables[t].name, na->rows[t], a->name, nb, b->name);
            rc = STORE_NOTFOUND;
        }
    }
    na->users = u->n;
    return rc;
}

int
store_copy_compare(struct store *a, struct store *b, struct store_copy_counts *na,
                   char *diff, size_t difflen)
{
    struct user_ids u = { 0 };
    int rc;

    if ((rc = store_begin_read(a)) != STORE_OK) {
        snprintf(diff, difflen, "%s", a->err);
        return rc;
    }
    if ((rc = store_begin_read(b)) != STORE_OK) {
        snprintf(diff, difflen, "%s", b->err);
        store_end_read(a);
        return rc;
    }
    if ((rc = list_users(a, &u, diff, difflen)) == STORE_OK)
        rc = compare_in(a, b, &u, na, diff, difflen);
    store_end_read(b);
    store_end_read(a);
    user_ids_free(&u);
    return rc;
}
