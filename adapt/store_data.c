/*
 * store_data.c - the store's front for a user's learning data: labelled
 * feedback (and its quota), the unlabelled reservoir (Algorithm R's slot
 * choice), the samples read back with their cached representations (built
 * by store_rows.c), the refit's cache, published heads and the refit log,
 * and the writer's batch.
 * See store.h for the contracts and store_be.h for the split with the
 * backends.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "idpack.h"
#include "le.h"
#include "store.h"
#include "store_be.h"

/* ---- feedback ---- */

/* ids as idpack bytes in *buf (malloc'd, the caller frees), *len. */
static int
pack_ids(struct store *s, const uint32_t *ids, size_t n, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    if (n > UINT32_MAX / 8)
        return store_fail(s, STORE_ERR, "too many feature ids (%zu)", n);
    if ((*buf = malloc(IDPACK_MAX_LEN(n) + 1)) == NULL)
        return store_fail(s, STORE_ERR, "out of memory");
    *len = idpack_encode(ids, n, *buf);
    if (*len == (size_t)-1) {
        free(*buf);
        *buf = NULL;
        return store_fail(s, STORE_ERR, "feature ids are not sorted and unique");
    }
    return STORE_OK;
}

static int
feedback_put(struct store *s, const char *user, const uint8_t *digest, int spam,
             const uint32_t *ids, size_t n, enum store_change *chg)
{
    int64_t uid;
    uint8_t *buf;
    size_t len;
    int rc, old;

    if ((rc = store_user_id(s, user, &uid)) != STORE_OK)
        return rc;
    rc = s->be->fb_get(s, uid, digest, &old);
    if (rc < 0)
        return rc;
    if (rc == STORE_OK && old == spam) {
        *chg = STORE_UNCHANGED;
        return STORE_OK;
    }
    *chg = rc == STORE_OK ? STORE_MOVED : STORE_LEARNED;
    if ((rc = pack_ids(s, ids, n, &buf, &len)) != STORE_OK)
        return rc;
    rc = s->be->fb_write(s, uid, digest, spam, n, buf, len, (int64_t)time(NULL),
                         *chg == STORE_MOVED);
    free(buf);
    if (rc != STORE_OK)
        return rc;
    if (*chg == STORE_LEARNED) {
        /* The user's quota: the oldest feedback goes, never the row just
         * written (issue 6: no user grows the store without bound). */
        uint64_t dropped = 0;

        if ((rc = s->be->fb_quota(s, uid, s->feedback_max, digest, &dropped)) != STORE_OK)
            return rc;
        s->fb_dropped += dropped;
    }
    return s->be->user_bump_fb(s, uid);
}

int
store_feedback_put(struct store *s, const char *user,
                   const uint8_t digest[STORE_DIGEST_LEN], int spam,
                   const uint32_t *ids, size_t n, enum store_change *chg)
{
    enum store_change c = STORE_UNCHANGED;
    int own, rc;

    if (spam != 0 && spam != 1)
        return store_fail(s, STORE_ERR, "label must be 0 (ham) or 1 (spam), got %d", spam);
    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = store_op_end(s, own, feedback_put(s, user, digest, spam, ids, n, &c));
    if (chg != NULL)
        *chg = c;
    return rc;
}

static int
feedback_forget(struct store *s, const char *user, const uint8_t *digest,
                enum store_change *chg)
{
    int64_t uid;
    int changed = 0;
    int rc = store_user_lookup(s, user, &uid);

    *chg = STORE_UNCHANGED;
    if (rc == STORE_NOTFOUND)
        return STORE_OK;
    if (rc != STORE_OK)
        return rc;
    if ((rc = s->be->fb_delete(s, uid, digest, &changed)) != STORE_OK || !changed)
        return rc;
    *chg = STORE_FORGOTTEN;
    return s->be->user_bump_fb(s, uid);
}

int
store_feedback_forget(struct store *s, const char *user,
                      const uint8_t digest[STORE_DIGEST_LEN], enum store_change *chg)
{
    enum store_change c = STORE_UNCHANGED;
    int own, rc;

    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = store_op_end(s, own, feedback_forget(s, user, digest, &c));
    if (chg != NULL)
        *chg = c;
    return rc;
}

/* ---- reservoir ---- */

static uint64_t
splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* FNV-1a of a user's key: the reservoir's per-user stream. */
static uint64_t
key_hash(const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (const unsigned char *p = (const unsigned char *)key; *p != '\0'; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Algorithm R: the first k fill the slots; the i-th replaces a random slot with
 * probability k/i.  The slot for the seen-th sample of user, or -1 when it is
 * not kept.  Deterministic in (seed, user key, seen): the key, not the
 * backend's id for the user, so that the same offers keep the same samples on
 * every backend.  (It used to be the id, and a PostgreSQL store gave users
 * other ids than SQLite once a transaction that created a user rolled back:
 * a sequence does not roll back.  tests/cli/store_same.sh pins it.) */
static int64_t
reservoir_slot(const struct store *s, const char *user, int64_t seen)
{
    uint64_t r;
    int64_t slot;

    if (seen <= (int64_t)s->reservoir_size)
        return seen - 1;
    r = splitmix64(s->seed ^ splitmix64(key_hash(user)) ^
                   splitmix64((uint64_t)seen * 0x2545f4914f6cdd1dULL));
    slot = (int64_t)(r % (uint64_t)seen);
    return slot < (int64_t)s->reservoir_size ? slot : -1;
}

static int
reservoir_offer(struct store *s, const char *user, const uint8_t *digest,
                const uint32_t *ids, size_t n, int *kept)
{
    int64_t uid, seen, slot;
    uint8_t *buf;
    size_t len;
    int rc;

    *kept = 0;
    if ((rc = store_user_id(s, user, &uid)) != STORE_OK)
        return rc;
    if (s->be->res_seen != NULL) {
        if ((rc = s->be->res_seen(s, uid, digest, &seen)) != STORE_OK)
            return rc < 0 ? rc : store_fail(s, STORE_ERR, "user vanished");
        if (seen == 0)
            return STORE_OK;    /* already sampled */
    } else {
        rc = s->be->res_has(s, uid, digest);
        if (rc != STORE_NOTFOUND)
            return rc;          /* already sampled (STORE_OK), or an error */
        if ((rc = s->be->user_bump_seen(s, uid, &seen)) != STORE_OK)
            return rc < 0 ? rc : store_fail(s, STORE_ERR, "user vanished");
    }
    if ((slot = reservoir_slot(s, user, seen)) < 0)
        return STORE_OK;
    if ((rc = pack_ids(s, ids, n, &buf, &len)) != STORE_OK)
        return rc;
    rc = s->be->res_put(s, uid, slot, digest, n, buf, len, (int64_t)time(NULL));
    free(buf);
    if (rc == STORE_OK)
        *kept = 1;
    return rc;
}

int
store_reservoir_offer(struct store *s, const char *user,
                      const uint8_t digest[STORE_DIGEST_LEN],
                      const uint32_t *ids, size_t n, int *kept)
{
    int own, rc, k = 0;

    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = store_op_end(s, own, reservoir_offer(s, user, digest, ids, n, &k));
    if (kept != NULL)
        *kept = rc == STORE_OK ? k : 0;
    return rc;
}

/* ---- reading samples ---- */

static int
list_samples(struct store *s, enum store_kind kind, const char *user,
             const char *model_id, struct store_samples *out)
{
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = store_check_user(s, user)) != STORE_OK)
        return rc;
    if ((rc = s->be->samples(s, kind, user, model_id, out)) != STORE_OK)
        store_samples_free(out);
    return rc;
}

int
store_feedback_list(struct store *s, const char *user, const char *model_id,
                    struct store_samples *out)
{
    return list_samples(s, STORE_FEEDBACK, user, model_id, out);
}

int
store_reservoir_list(struct store *s, const char *user, const char *model_id,
                     struct store_samples *out)
{
    return list_samples(s, STORE_RESERVOIR, user, model_id, out);
}

static int
reps_put(struct store *s, const char *user, enum store_kind kind, const char *model_id,
         const uint8_t (*digest)[STORE_DIGEST_LEN], const float *rep, uint32_t dim,
         size_t n)
{
    uint8_t *buf;
    int64_t uid;
    int rc = store_user_lookup(s, user, &uid);

    if (rc != STORE_OK)
        return rc == STORE_NOTFOUND ? STORE_OK : rc;
    if ((buf = malloc((size_t)dim * 4)) == NULL)
        return store_fail(s, STORE_ERR, "out of memory");
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        for (uint32_t j = 0; j < dim; j++)
            le_putf(buf + 4 * j, rep[i * dim + j]);
        rc = s->be->rep_put(s, kind, uid, digest[i], buf, (size_t)dim * 4, model_id);
    }
    free(buf);
    return rc;
}

int
store_reps_put(struct store *s, const char *user, enum store_kind kind,
               const char *model_id, const uint8_t (*digest)[STORE_DIGEST_LEN],
               const float *rep, uint32_t dim, size_t n)
{
    int own, rc;

    if (model_id == NULL || dim == 0 || dim > STORE_REP_MAX)
        return store_fail(s, STORE_ERR, "representations need a model id and 1..%d "
                          "floats", STORE_REP_MAX);
    if (n == 0)
        return STORE_OK;
    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    return store_op_end(s, own, reps_put(s, user, kind, model_id, digest, rep, dim, n));
}

/* ---- the refit's cache ---- */

int
store_fitcache_get(struct store *s, const char *user, const char *model_id,
                   uint64_t *seen, void **blob, size_t *len)
{
    char mid[256];
    int rc;

    *blob = NULL;
    *len = 0;
    *seen = 0;
    if ((rc = store_check_user(s, user)) != STORE_OK)
        return rc;
    if ((rc = s->be->fc_get(s, user, mid, sizeof(mid), seen, blob, len)) != STORE_OK)
        return rc;
    if (model_id == NULL || strcmp(mid, model_id) != 0) {
        free(*blob);
        *blob = NULL;
        *len = 0;
        *seen = 0;
        return STORE_NOTFOUND;
    }
    return STORE_OK;
}

static int
fitcache_put(struct store *s, const char *user, const char *model_id, uint64_t seen,
             const void *blob, size_t len)
{
    int64_t uid;
    int rc = store_user_lookup(s, user, &uid);

    if (rc != STORE_OK)
        return rc == STORE_NOTFOUND ? STORE_OK : rc;
    return s->be->fc_put(s, uid, model_id, seen, blob, len, (int64_t)time(NULL));
}

int
store_fitcache_put(struct store *s, const char *user, const char *model_id,
                   uint64_t seen, const void *blob, size_t len)
{
    int own, rc;

    if (model_id == NULL || blob == NULL || len == 0 || len > (size_t)INT32_MAX)
        return store_fail(s, STORE_ERR, "a fit cache needs a model id and a blob");
    if ((rc = store_check_user(s, user)) != STORE_OK)
        return rc;
    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    return store_op_end(s, own, fitcache_put(s, user, model_id, seen, blob, len));
}

/* ---- heads ---- */

int
store_head_get(struct store *s, const char *user, const char *model_id,
               uint64_t have_version, void **blob, size_t *len, uint64_t *version)
{
    char mid[256];
    int rc;

    *blob = NULL;
    *len = 0;
    *version = 0;
    if ((rc = store_check_user(s, user)) != STORE_OK)
        return rc;
    rc = s->be->head_get(s, user, mid, sizeof(mid), have_version, blob, len, version);
    if (rc == STORE_OK && model_id != NULL && strcmp(mid, model_id) != 0) {
        free(*blob);
        *blob = NULL;
        *len = 0;
        *version = 0;
        return STORE_NOTFOUND;
    }
    return rc;
}

/* The publish rule: a head fitted from a state older than the published
 * marks is stale; otherwise its version is the previous one plus 1. */
static int
head_publish(struct store *s, const char *user, const char *model_id,
             const void *blob, size_t len, const struct store_user_state *from,
             const struct store_refit *rec, uint64_t *version)
{
    int64_t uid, v, fbg, seen;
    int rc = store_user_lookup(s, user, &uid);

    if (rc == STORE_NOTFOUND)
        return store_fail(s, STORE_ERR, "%s: no user %s to publish for", s->name, user);
    if (rc != STORE_OK)
        return rc;
    if (uid != from->uid)
        return store_fail(s, STORE_ERR, "%s: user %s does not match the loaded state",
                          s->name, user);
    if ((rc = s->be->head_marks(s, uid, &fbg, &seen, &v)) != STORE_OK)
        return rc < 0 ? rc : store_fail(s, STORE_ERR, "%s: read refit marks: user %s "
                                        "vanished", s->name, user);
    if ((uint64_t)fbg > from->fb_gen || (uint64_t)seen > from->seen)
        return store_fail(s, STORE_STALE, "%s: a newer model of %s was published "
                          "meanwhile", s->name, user);
    v++;
    if ((rc = s->be->head_put(s, uid, v, model_id, blob, len, from, rec,
                              (int64_t)time(NULL))) != STORE_OK)
        return rc;
    if (version != NULL)
        *version = (uint64_t)v;
    return STORE_OK;
}

int
store_head_publish(struct store *s, const char *user, const char *model_id,
                   const void *blob, size_t len, const struct store_user_state *from,
                   const struct store_refit *rec, uint64_t *version)
{
    int own, rc;

    if (model_id == NULL || blob == NULL || len == 0 || len > INT32_MAX)
        return store_fail(s, STORE_ERR, "publish: no model id or empty blob");
    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = head_publish(s, user, model_id, blob, len, from, rec, version);
    /* This handle's claim on user (store_dirty_claim) ends with the publish,
     * in its transaction: one commit a refit rather than two. */
    if (rc == STORE_OK && s->owner[0] != '\0')
        rc = s->be->claim_release(s, user, s->owner);
    return store_op_end(s, own, rc);
}

int
store_refit_last(struct store *s, const char *user, struct store_refit *rec,
                 uint64_t *version, int64_t *at)
{
    int rc;

    memset(rec, 0, sizeof(*rec));
    *version = 0;
    *at = 0;
    if ((rc = store_check_user(s, user)) != STORE_OK)
        return rc;
    return s->be->refit_last(s, user, rec, version, at);
}

/* ---- batch ---- */

static int
apply_once(struct store *s, struct store_op *ops, size_t n)
{
    int rc = store_begin(s);

    s->in_batch = rc == STORE_OK;
    for (size_t i = 0; rc == STORE_OK && i < n; i++) {
        struct store_op *op = &ops[i];

        switch (op->kind) {
        case STORE_OP_FEEDBACK:
            rc = store_feedback_put(s, op->user, op->digest, op->spam, op->ids, op->n,
                                    &op->chg);
            break;
        case STORE_OP_FORGET:
            rc = store_feedback_forget(s, op->user, op->digest, &op->chg);
            break;
        case STORE_OP_OFFER:
            rc = store_reservoir_offer(s, op->user, op->digest, op->ids, op->n,
                                       &op->kept);
            break;
        case STORE_OP_COUNTER:
            rc = store_counter_add(s, op->user, op->counter, op->delta);
            break;
        case STORE_OP_SCAN:
            rc = store_scan_record(s, op->user, op->verdict <= STORE_V_REJECT ? op->digest
                                   : NULL, op->score, op->verdict, op->ms,
                                   (int64_t)time(NULL));
            break;
        default:
            rc = store_fail(s, STORE_ERR, "unknown batch operation %d", (int)op->kind);
        }
    }
    s->in_batch = 0;
    if (rc != STORE_OK) {
        store_rollback(s);
        return rc;
    }
    return store_commit(s);
}

int
store_apply(struct store *s, struct store_op *ops, size_t n)
{
    int rc = apply_once(s, ops, n);

    if (rc == STORE_BUSY)
        rc = apply_once(s, ops, n);
    return rc;
}
