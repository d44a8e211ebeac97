/*
 * store_rows.c - the results the store hands out, as the backends build them
 * from their rows and as callers free them: samples (their id and
 * representation arenas), NULL-terminated key lists, sender list entries, and
 * per-user statistics assembled from the backends' aggregate rows (with the
 * scan-time histogram's decoding).  Calls only store_err.c and idpack.c: the
 * backends call these, and the front calls the backends, so nothing here may
 * call either (tests/layering/mutual.sh).
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "idpack.h"
#include "le.h"
#include "store.h"
#include "store_be.h"

/* ---- samples ---- */

void
store_samples_free(struct store_samples *ss)
{
    if (ss == NULL)
        return;
    free(ss->v);
    free(ss->arena);
    free(ss->rep_arena);
    memset(ss, 0, sizeof(*ss));
}

/* Grow *p (of *cap elements of size) to hold need; 0, or -1 when out of memory. */
static int
grow(void **p, size_t *cap, size_t need, size_t first, size_t size)
{
    size_t nc = *cap ? *cap : first;
    void *np;

    if (need <= *cap)
        return 0;
    while (nc < need)
        nc *= 2;
    if ((np = realloc(*p, nc * size)) == NULL)
        return -1;
    *p = np;
    *cap = nc;
    return 0;
}

/* The arenas grow while reading, so samples record offsets first and become
 * pointers in store_samples_done().  A cached representation of a bad length
 * is ignored (recomputed by the caller), not an error. */
int
store_samples_push(struct store *s, struct store_samples_build *b, const char *key,
                   const void *digest, size_t dlen, int spam, int64_t n,
                   const void *ids, size_t ids_len, const void *rep, size_t rep_len)
{
    struct store_samples *out = b->out;
    struct store_sample *sm;

    if (dlen != STORE_DIGEST_LEN || n < 0 || (size_t)n > ids_len)
        return store_fail(s, STORE_ERR, "%s: corrupt row for user %s", s->name, key);
    if (grow((void **)&out->v, &b->cap, out->n + 1, 64, sizeof(*out->v)) != 0 ||
        grow((void **)&out->arena, &b->acap, b->aused + (size_t)n, 4096,
             sizeof(uint32_t)) != 0)
        return store_fail(s, STORE_ERR, "out of memory reading samples");
    if (idpack_decode(ids, ids_len, out->arena + b->aused, (size_t)n) != 0)
        return store_fail(s, STORE_ERR, "%s: corrupt feature ids for user %s", s->name,
                          key);
    sm = &out->v[out->n++];
    memcpy(sm->digest, digest, STORE_DIGEST_LEN);
    sm->spam = (uint8_t)spam;
    sm->n = (uint32_t)n;
    sm->ids = (uint32_t *)(uintptr_t)b->aused;      /* an offset until the end */
    b->aused += (size_t)n;
    sm->rep = NULL;
    sm->rep_len = 0;
    if (rep != NULL && rep_len > 0 && rep_len % 4 == 0 && rep_len / 4 <= STORE_REP_MAX) {
        size_t k = rep_len / 4;

        if (grow((void **)&out->rep_arena, &b->rcap, b->rused + k, 1024,
                 sizeof(float)) != 0)
            return store_fail(s, STORE_ERR, "out of memory reading samples");
        for (size_t j = 0; j < k; j++)
            out->rep_arena[b->rused + j] = le_getf((const uint8_t *)rep + 4 * j);
        sm->rep = (const float *)(uintptr_t)(b->rused + 1);  /* offset + 1 */
        sm->rep_len = (uint32_t)k;
        b->rused += k;
    }
    return STORE_OK;
}

void
store_samples_done(struct store_samples_build *b)
{
    struct store_samples *out = b->out;

    for (size_t i = 0; i < out->n; i++) {
        out->v[i].ids = out->arena + (uintptr_t)out->v[i].ids;
        if (out->v[i].rep != NULL)
            out->v[i].rep = out->rep_arena + ((uintptr_t)out->v[i].rep - 1);
    }
}

/* ---- key lists and sender lists ---- */

char **
store_strv_free(char **v)
{
    if (v != NULL) {
        for (char **p = v; *p != NULL; p++)
            free(*p);
        free(v);
    }
    return NULL;
}

int
store_strv_push(struct store_strv_build *b, const char *key)
{
    if (b->v == NULL || b->n + 1 >= b->cap) {
        size_t nc = b->cap ? 2 * b->cap : 16;
        char **p = realloc(b->v, nc * sizeof(*p));

        if (p == NULL)
            return -1;
        b->v = p;
        b->cap = nc;
        b->v[b->n] = NULL;
    }
    if (key == NULL)
        return 0;
    if ((b->v[b->n] = strdup(key)) == NULL)
        return -1;
    b->v[++b->n] = NULL;
    return 0;
}

void
store_list_free(struct store_list_entry *v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++) {
        free(v[i].scope);
        free(v[i].sender);
    }
    free(v);
}

/* ---- statistics ---- */

void
store_hist_read(const void *blob, size_t len, uint32_t *hist)
{
    const uint8_t *p = blob;

    memset(hist, 0, STORE_SCAN_HIST * sizeof(*hist));
    for (int b = 0; p != NULL && b < STORE_SCAN_HIST && 4 * (size_t)(b + 1) <= len; b++)
        hist[b] = le_get32(p + 4 * b);
}

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
    store_hist_read(r->blob, r->blob_len, h);
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
