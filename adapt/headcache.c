/*
 * headcache.c - users' models in memory for non-blocking scorers; see
 * headcache.h.
 *
 * Locks: map_lock (a read-write lock) guards the user -> entry table and the
 * models it points to; scorers hold it for reading while they evaluate a head,
 * so a model is freed only under the write lock, when no scorer can be using it.
 * want_lock (a mutex) guards the set of users scorers missed.  No store call is
 * ever made under either lock.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "adapt.h"
#include "headcache.h"
#include "oppoint.h"
#include "store.h"

#define WANT_MAX 100000         /* misses queued between two syncs, at most */

struct entry {
    struct user_model *um;      /* NULL: the user has no model (global head) */
    struct oppoint_user op;     /* published with um (all model without one) */
    atomic_uint_fast64_t used;  /* tick of the last score, for eviction */
};

struct headcache {
    const struct model *m;
    size_t max_users;
    pthread_rwlock_t map_lock;
    GHashTable *map;            /* char *user -> struct entry * */
    pthread_mutex_t want_lock;
    GHashTable *want;           /* set of char *user */
    atomic_uint_fast64_t tick;
    int64_t mark;               /* refit log position of the last sync; -1 none */
};

static void
entry_free(void *p)
{
    struct entry *e = p;

    if (e != NULL) {
        user_model_free(e->um);
        free(e);
    }
}

struct headcache *
headcache_new(const struct model *m, size_t max_users)
{
    struct headcache *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->m = m;
    c->max_users = max_users ? max_users : 100000;
    c->mark = -1;
    pthread_rwlock_init(&c->map_lock, NULL);
    pthread_mutex_init(&c->want_lock, NULL);
    c->map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, entry_free);
    c->want = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    atomic_init(&c->tick, 1);
    return c;
}

struct headcache *
headcache_free(struct headcache *c)
{
    if (c == NULL)
        return NULL;
    g_hash_table_destroy(c->map);
    g_hash_table_destroy(c->want);
    pthread_rwlock_destroy(&c->map_lock);
    pthread_mutex_destroy(&c->want_lock);
    free(c);
    return NULL;
}

float
headcache_score(struct headcache *c, const char *user, const float *h, float z,
                const uint32_t *ids, size_t n, uint64_t *version)
{
    struct entry *e;
    float logit;

    pthread_rwlock_rdlock(&c->map_lock);
    e = g_hash_table_lookup(c->map, user);
    if (e != NULL) {
        atomic_store(&e->used, atomic_fetch_add(&c->tick, 1));
        logit = adapt_logit(c->m, e->um, h, z, ids, n);
        if (version != NULL)
            *version = e->um != NULL ? e->um->version : 0;
        pthread_rwlock_unlock(&c->map_lock);
        return net_sigmoid(logit);
    }
    pthread_rwlock_unlock(&c->map_lock);
    pthread_mutex_lock(&c->want_lock);
    if (g_hash_table_size(c->want) < WANT_MAX && !g_hash_table_contains(c->want, user))
        g_hash_table_add(c->want, g_strdup(user));
    pthread_mutex_unlock(&c->want_lock);
    if (version != NULL)
        *version = 0;
    return net_sigmoid(adapt_logit(c->m, NULL, h, z, ids, n));
}

float
headcache_threshold(struct headcache *c, const char *user, double target, float model_thr,
                    int *source)
{
    struct entry *e;
    float t;

    pthread_rwlock_rdlock(&c->map_lock);
    e = g_hash_table_lookup(c->map, user);
    t = oppoint_lookup(e != NULL ? &e->op : NULL, target, model_thr, source);
    pthread_rwlock_unlock(&c->map_lock);
    return t;
}

/* One user's loaded state, between the store read and the swap. */
struct loaded {
    char *user;
    struct user_model *um;
    struct oppoint_user op;
};

static int
cmp_used(const void *a, const void *b)
{
    uint_fast64_t x = *(const uint_fast64_t *)a, y = *(const uint_fast64_t *)b;

    return (x > y) - (x < y);
}

/* Under the write lock: drop the least recently scored users beyond max_users,
 * down to 9/10 of it so that eviction is not paid on every sync. */
static void
evict(struct headcache *c)
{
    size_t n = g_hash_table_size(c->map), keep = c->max_users - c->max_users / 10, i = 0;
    uint_fast64_t *used, cut;
    GHashTableIter it;
    gpointer k, v;

    if (n <= c->max_users || (used = malloc(n * sizeof(*used))) == NULL)
        return;
    g_hash_table_iter_init(&it, c->map);
    while (g_hash_table_iter_next(&it, &k, &v))
        used[i++] = atomic_load(&((struct entry *)v)->used);
    qsort(used, n, sizeof(*used), cmp_used);
    cut = used[n - keep];               /* keep entries used at or after cut */
    free(used);
    g_hash_table_iter_init(&it, c->map);
    while (g_hash_table_iter_next(&it, &k, &v))
        if (atomic_load(&((struct entry *)v)->used) < cut)
            g_hash_table_iter_remove(&it);
}

long
headcache_sync(struct headcache *c, struct store *s, char *err, size_t errlen)
{
    GHashTable *want;
    GPtrArray *todo = g_ptr_array_new();
    struct loaded *ld = NULL;
    char **changed = NULL;
    size_t n_changed = 0, n_ld = 0;
    int64_t last;
    long done = 0;
    GHashTableIter it;
    gpointer k;

    /* Who to (re)load: the users scorers missed, and the cached users that were
     * republished since the last sync. */
    if (store_refits_since(s, c->mark, &changed, &n_changed, &last) != STORE_OK) {
        snprintf(err, errlen, "%s", store_errmsg(s));
        g_ptr_array_free(todo, TRUE);
        return -1;
    }
    /* The refit log went back: the store was restored from a backup (store.h,
     * store_restore) and every cached model may be newer than the store's. */
    if (last < c->mark)
        headcache_invalidate(c);
    pthread_mutex_lock(&c->want_lock);
    want = c->want;
    c->want = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    pthread_mutex_unlock(&c->want_lock);
    g_hash_table_iter_init(&it, want);
    while (g_hash_table_iter_next(&it, &k, NULL))
        g_ptr_array_add(todo, k);
    pthread_rwlock_rdlock(&c->map_lock);
    for (size_t i = 0; i < n_changed; i++)
        if (g_hash_table_contains(c->map, changed[i]) &&
            !g_hash_table_contains(want, changed[i]))
            g_ptr_array_add(todo, changed[i]);
    pthread_rwlock_unlock(&c->map_lock);

    /* Store reads, outside the locks.  A user whose model cannot be read now is
     * left as it was and retried by the next sync that lists it. */
    ld = calloc(todo->len + 1, sizeof(*ld));
    for (guint i = 0; ld != NULL && i < todo->len; i++) {
        const char *user = g_ptr_array_index(todo, i);
        void *blob;
        size_t len;
        uint64_t version;
        int rc = store_head_get(s, user, c->m->id, 0, &blob, &len, &version);
        struct user_model *um = NULL;
        size_t um_len;

        oppoint_blob_split(NULL, 0, &ld[n_ld].op, &um_len);
        if (rc == STORE_OK) {
            oppoint_blob_split(blob, len, &ld[n_ld].op, &um_len);
            um = user_model_decode(blob, um_len);
            free(blob);
            if (um == NULL)
                continue;       /* corrupt: keep scoring this user globally */
            um->version = version;
        } else if (rc != STORE_NOTFOUND)
            continue;
        ld[n_ld].user = (char *)user;
        ld[n_ld].um = um;
        n_ld++;
    }

    /* Swap under the write lock; replaced models are freed here, when no scorer
     * holds the read lock. */
    pthread_rwlock_wrlock(&c->map_lock);
    for (size_t i = 0; i < n_ld; i++) {
        struct entry *e = g_hash_table_lookup(c->map, ld[i].user);

        if (e == NULL) {
            if ((e = calloc(1, sizeof(*e))) == NULL) {
                user_model_free(ld[i].um);
                continue;
            }
            atomic_init(&e->used, atomic_fetch_add(&c->tick, 1));
            g_hash_table_insert(c->map, g_strdup(ld[i].user), e);
        } else
            user_model_free(e->um);
        e->um = ld[i].um;
        e->op = ld[i].op;
        done++;
    }
    evict(c);
    pthread_rwlock_unlock(&c->map_lock);
    if (ld != NULL)
        c->mark = last;         /* else everything is retried next time */
    free(ld);
    g_ptr_array_free(todo, TRUE);
    g_hash_table_destroy(want);
    store_strv_free(changed);
    return done;
}

long
headcache_preload(struct headcache *c, struct store *s, size_t max, char *err,
                  size_t errlen)
{
    char **users;
    size_t n;
    long cached = 0;

    if (max == 0 || max > c->max_users)
        max = c->max_users;
    if (store_head_recent(s, c->m->id, max, &users, &n) != STORE_OK) {
        snprintf(err, errlen, "%s", store_errmsg(s));
        return -1;
    }
    pthread_mutex_lock(&c->want_lock);
    for (size_t i = 0; i < n; i++)
        if (!g_hash_table_contains(c->want, users[i]))
            g_hash_table_add(c->want, g_strdup(users[i]));
    pthread_mutex_unlock(&c->want_lock);
    if (headcache_sync(c, s, err, errlen) < 0) {
        store_strv_free(users);
        return -1;
    }
    /* Count the users now cached, not what this sync loaded: the maintenance
     * thread may have loaded some of them first (it starts before the preload). */
    pthread_rwlock_rdlock(&c->map_lock);
    for (size_t i = 0; i < n; i++)
        cached += g_hash_table_contains(c->map, users[i]);
    pthread_rwlock_unlock(&c->map_lock);
    store_strv_free(users);
    return cached;
}

void
headcache_invalidate(struct headcache *c)
{
    GPtrArray *users = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter it;
    gpointer k;

    pthread_rwlock_rdlock(&c->map_lock);
    g_hash_table_iter_init(&it, c->map);
    while (g_hash_table_iter_next(&it, &k, NULL))
        g_ptr_array_add(users, g_strdup(k));
    pthread_rwlock_unlock(&c->map_lock);
    pthread_mutex_lock(&c->want_lock);
    for (guint i = 0; i < users->len; i++)
        if (!g_hash_table_contains(c->want, users->pdata[i]))
            g_hash_table_add(c->want, g_strdup(users->pdata[i]));
    pthread_mutex_unlock(&c->want_lock);
    g_ptr_array_free(users, TRUE);
    c->mark = -1;
}

size_t
headcache_size(struct headcache *c)
{
    size_t n;

    pthread_rwlock_rdlock(&c->map_lock);
    n = g_hash_table_size(c->map);
    pthread_rwlock_unlock(&c->map_lock);
    return n;
}
