/*
 * store_users.c - the store's front for users and what hangs off a user key
 * alone: keys, per-user thresholds and target false-positive rates, allow and
 * block lists, counters, the lists of keys (all, dirty, recently
 * published, refitted since) and claims of dirty users for refit.  See
 * store.h for the contracts and store_be.h for the split with the backends.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "store_be.h"

/* ---- keys ---- */

int
store_user_valid(const char *user)
{
    size_t len;

    if (user == NULL || (len = strlen(user)) == 0 || len > 320)
        return 0;
    for (const unsigned char *p = (const unsigned char *)user; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

int
store_check_user(struct store *s, const char *user)
{
    if (!store_user_valid(user))
        return store_fail(s, STORE_ERR, "user key must be 1..320 bytes without control "
                          "characters");
    return STORE_OK;
}

int
store_user_lookup(struct store *s, const char *user, int64_t *uid)
{
    int rc;

    if ((rc = store_check_user(s, user)) != STORE_OK)
        return rc;
    return s->be->user_lookup(s, user, uid);
}

int
store_user_id(struct store *s, const char *user, int64_t *uid)
{
    int rc = store_user_lookup(s, user, uid);

    if (rc != STORE_NOTFOUND)
        return rc;
    return s->be->user_insert(s, user, (int64_t)time(NULL), uid);
}

int
store_user_get_or_create(struct store *s, const char *user, int64_t *uid)
{
    int own, rc;

    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    return store_op_end(s, own, store_user_id(s, user, uid));
}

int
store_user_state(struct store *s, const char *user, struct store_user_state *us)
{
    int rc;

    memset(us, 0, sizeof(*us));
    if ((rc = store_check_user(s, user)) != STORE_OK)
        return rc;
    return s->be->user_state(s, user, us);
}

/* ---- per-user thresholds ---- */

int
store_threshold_get(struct store *s, const char *user, double *spam)
{
    int rc;

    if ((rc = store_check_user(s, user)) != STORE_OK)
        return rc;
    return s->be->thr_get(s, user, spam);
}

/* Bump the thresholds' generation (inside the caller's operation): the
 * thresholds and the target FPRs share it, so one poll tells a milter to reread
 * both. */
static int
threshold_bump(struct store *s)
{
    uint64_t gen;
    int rc = store_meta_get_u64(s, "thresholds_gen", &gen);

    return rc == STORE_OK ? store_meta_set_u64(s, "thresholds_gen", gen + 1) : rc;
}

int
store_threshold_set(struct store *s, const char *user, double spam)
{
    int64_t uid;
    int own, rc;

    if (!(spam < 0) && !(spam > 0 && spam < 1))
        return store_fail(s, STORE_ERR, "spam threshold %g out of range (0, 1)", spam);
    if ((rc = store_check_user(s, user)) != STORE_OK)
        return rc;
    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = spam < 0 ? store_user_lookup(s, user, &uid) : store_user_id(s, user, &uid);
    if (rc == STORE_NOTFOUND)               /* nothing to clear */
        return store_op_end(s, own, STORE_OK);
    if (rc == STORE_OK)
        rc = s->be->thr_set(s, uid, spam);
    return store_op_end(s, own, rc == STORE_OK ? threshold_bump(s) : rc);
}

int
store_thresholds_gen(struct store *s, uint64_t *gen)
{
    return store_meta_get_u64(s, "thresholds_gen", gen);
}

int
store_threshold_list(struct store *s, char ***users, double **spam, size_t *n)
{
    *users = NULL;
    *spam = NULL;
    *n = 0;
    return s->be->thr_list(s, users, spam, n);
}

/* ---- per-user target false-positive rates ---- */

/* A user's target in meta (no schema change): the prefix + the key. */
#define TFPR_PREFIX "target_fpr/"

int
store_target_fpr_get(struct store *s, const char *user, double *t)
{
    char key[400], buf[64];
    int rc;

    if ((rc = store_check_user(s, user)) != STORE_OK)
        return rc;
    snprintf(key, sizeof(key), TFPR_PREFIX "%s", user);
    if ((rc = s->be->meta_get(s, key, buf, sizeof(buf))) == STORE_OK)
        *t = strtod(buf, NULL);
    return rc;
}

int
store_target_fpr_set(struct store *s, const char *user, double t)
{
    char key[400], buf[64];
    int own, rc;

    if (!(t < 0) && !(t > 0 && t < 1))
        return store_fail(s, STORE_ERR, "target false-positive rate %g out of range (0, 1)",
                          t);
    if ((rc = store_check_user(s, user)) != STORE_OK)
        return rc;
    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    snprintf(key, sizeof(key), TFPR_PREFIX "%s", user);
    snprintf(buf, sizeof(buf), "%.17g", t);
    rc = t < 0 ? s->be->meta_delete(s, key) : s->be->meta_set(s, key, buf);
    return store_op_end(s, own, rc == STORE_OK ? threshold_bump(s) : rc);
}

int
store_target_fpr_list(struct store *s, char ***users, double **t, size_t *n)
{
    *users = NULL;
    *t = NULL;
    *n = 0;
    return s->be->meta_list(s, TFPR_PREFIX, users, t, n);
}

/* ---- allow and block lists ---- */

int
store_list_set(struct store *s, const char *scope, const char *sender, int action)
{
    uint64_t gen;
    int own, rc, changed = 0;

    if (!store_user_valid(scope) || !store_user_valid(sender))
        return store_fail(s, STORE_ERR, "list scope and sender must be 1..320 bytes "
                          "without control characters");
    if (action != STORE_LIST_NONE && action != STORE_LIST_ALLOW && action != STORE_LIST_BLOCK)
        return store_fail(s, STORE_ERR, "list action %d is not allow, block or none",
                          action);
    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = s->be->list_set(s, scope, sender, action, (int64_t)time(NULL), &changed);
    if (rc == STORE_OK && changed &&
        (rc = store_meta_get_u64(s, "lists_gen", &gen)) == STORE_OK)
        rc = store_meta_set_u64(s, "lists_gen", gen + 1);
    rc = store_op_end(s, own, rc);
    return rc == STORE_OK && !changed ? STORE_NOTFOUND : rc;
}

int
store_lists_gen(struct store *s, uint64_t *gen)
{
    return store_meta_get_u64(s, "lists_gen", gen);
}

int
store_list_all(struct store *s, struct store_list_entry **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    return s->be->list_all(s, out, n);
}

/* ---- counters ---- */

static int
counter_add(struct store *s, const char *user, const char *name, int64_t delta)
{
    int64_t uid;
    int rc;

    if (name == NULL || *name == '\0' || strlen(name) > 64)
        return store_fail(s, STORE_ERR, "counter name must be 1..64 bytes");
    if ((rc = store_user_id(s, user, &uid)) != STORE_OK)
        return rc;
    return s->be->counter_add(s, uid, name, delta);
}

int
store_counter_add(struct store *s, const char *user, const char *name, int64_t delta)
{
    int own, rc;

    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    return store_op_end(s, own, counter_add(s, user, name, delta));
}

int
store_counter_get(struct store *s, const char *user, const char *name, int64_t *value)
{
    int rc;

    *value = 0;
    if ((rc = store_check_user(s, user)) != STORE_OK)
        return rc;
    if (name == NULL)
        return store_fail(s, STORE_ERR, "no counter name");
    return s->be->counter_get(s, user, name, value);
}

/* ---- lists of keys ---- */

static int
keys(struct store *s, const struct store_keys_q *q, char ***users, size_t *n)
{
    *users = NULL;
    *n = 0;
    return s->be->keys(s, q, users, n);
}

int
store_dirty_list(struct store *s, const char *model_id, size_t max, char ***users,
                 size_t *n)
{
    struct store_keys_q q = {
        .kind = STORE_KEYS_DIRTY, .model_id = model_id,
        .max = max == 0 || max > INT64_MAX ? -1 : (int64_t)max,
        .dirty_samples = s->dirty_samples,
    };

    return keys(s, &q, users, n);
}

/* ---- claims ---- */

/* This handle's name in claims: host, process and a number per handle, so
 * that two handles of one process (adapt -j workers) are two holders. */
static const char *
claim_owner(struct store *s)
{
    static atomic_uint handles;
    char host[64] = "";

    if (s->owner[0] == '\0') {
        if (gethostname(host, sizeof(host) - 1) != 0)
            snprintf(host, sizeof(host), "?");
        snprintf(s->owner, sizeof(s->owner), "%s:%ld:%u", host, (long)getpid(),
                 atomic_fetch_add(&handles, 1));
    }
    return s->owner;
}

int
store_dirty_claim(struct store *s, const char *model_id, const char *after,
                  unsigned lease_s, char **user)
{
    struct store_keys_q q = {
        .kind = STORE_KEYS_DIRTY, .model_id = model_id, .max = 1,
        .dirty_samples = s->dirty_samples,
    };
    int64_t now = (int64_t)time(NULL);
    int own, rc;

    *user = NULL;
    if ((rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    rc = s->be->claim(s, &q, after != NULL ? after : "", claim_owner(s), now,
                      now + (lease_s > 0 ? lease_s : STORE_CLAIM_LEASE), user);
    rc = store_op_end(s, own, rc);
    if (rc != STORE_OK) {
        free(*user);
        *user = NULL;
    }
    return rc;
}

int
store_claim_release(struct store *s, const char *user)
{
    int own, rc;

    if ((rc = store_check_user(s, user)) != STORE_OK
            || (rc = store_op_begin(s, &own)) != STORE_OK)
        return rc;
    return store_op_end(s, own, s->be->claim_release(s, user, claim_owner(s)));
}

int
store_user_list(struct store *s, char ***users, size_t *n)
{
    struct store_keys_q q = { .kind = STORE_KEYS_USERS };

    return keys(s, &q, users, n);
}

int
store_head_recent(struct store *s, const char *model_id, size_t max, char ***users,
                  size_t *n)
{
    struct store_keys_q q = {
        .kind = STORE_KEYS_RECENT, .model_id = model_id,
        .max = max > 0 && max < INT64_MAX ? (int64_t)max : -1,
    };

    return keys(s, &q, users, n);
}

int
store_refits_since(struct store *s, int64_t after, char ***users, size_t *n,
                   int64_t *last)
{
    struct store_keys_q q = { .kind = STORE_KEYS_REFITS, .after = after };
    struct store_strv_build b = { 0 };
    int rc;

    *users = NULL;
    *n = 0;
    /* The upper bound read first keeps the list and *last consistent when refits
     * are appended meanwhile: those are picked up next time. */
    if ((rc = s->be->refit_max(s, &q.upto)) != STORE_OK)
        return rc;
    *last = q.upto;
    if (after < 0 || after >= q.upto) {
        if (store_strv_push(&b, NULL) != 0)
            return store_fail(s, STORE_ERR, "out of memory");
        *users = b.v;
        return STORE_OK;
    }
    return keys(s, &q, users, n);
}
