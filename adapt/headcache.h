/*
 * headcache.h - users' published models in memory, for scorers that must never
 * wait on the store (the milter's SMTP threads).
 *
 * Scoring threads only read the cache: headcache_score() takes a read lock for
 * the microseconds of one head evaluation and never touches the store.  A user
 * it does not hold is scored with the global head and queued; one maintenance
 * thread (the milter's refit thread, with its own store connection) calls
 * headcache_sync() periodically, which loads the queued users and reloads the
 * users whose model was republished since the last sync (by anyone: the milter's
 * own refits or `spamshift adapt`), so new versions reach scorers without a
 * restart.  Users unseen for a while are evicted beyond max_users.
 *
 * The cache belongs to one base model: on a model swap (SIGHUP) make a new one.
 */
#ifndef SPAMSHIFT_HEADCACHE_H
#define SPAMSHIFT_HEADCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "adapt.h"
#include "model.h"
#include "store.h"

struct headcache;

/* A cache for base model m (borrowed; must outlive the cache) holding at most
 * max_users users (0: 100000).  NULL on allocation failure. */
struct headcache *headcache_new(const struct model *m, size_t max_users);

/* Free the cache and every model in it.  No thread may be scoring.  Accepts
 * NULL; returns NULL. */
struct headcache *headcache_free(struct headcache *c);

/*
 * Spam probability of a message for user from its representation (h, z from
 * model_score()) and ids: the user's cached model, or the global head when the
 * user has none or is not cached yet (then queued for the next sync).
 * *version (may be NULL) gets the model version used, 0 for the global head.
 * Reentrant; takes the cache's read lock briefly; never blocks on I/O.
 */
float headcache_score(struct headcache *c, const char *user, const float *h, float z,
                      const uint32_t *ids, size_t n, uint64_t *version);

/*
 * The user's verdict threshold for target false-positive rate target, as its
 * last published refit placed it (oppoint.h: oppoint_lookup), or model_thr
 * for a user not cached or without one.  *source (may be NULL) gets its
 * OPPOINT_* source.  Reentrant; takes the read lock briefly; never blocks on
 * I/O.
 */
float headcache_threshold(struct headcache *c, const char *user, double target,
                          float model_thr, int *source);

/*
 * Maintenance: load the queued users and reload those republished since the last
 * sync, from store s (the caller's connection); evict the least recently scored
 * users beyond max_users.  Store reads happen outside the lock; only pointer
 * swaps are under it.  Returns the number of users loaded or reloaded, or -1 with
 * a reason in err (the cache stays usable and a later sync retries).
 */
long headcache_sync(struct headcache *c, struct store *s, char *err, size_t errlen);

/* Before serving: load the max (0: the cache's capacity) users whose model for
 * this base model was published most recently, so that their first message
 * after a start or a reload is scored with their own model, not the global
 * head.  One headcache_sync() of those users, on the caller's connection s;
 * blocks for the store reads.  Returns how many of those users are cached when it
 * returns (some may have been loaded by a concurrent sync), or -1 with a reason in err. */
long headcache_preload(struct headcache *c, struct store *s, size_t max, char *err,
                       size_t errlen);

/* The store behind the cache was replaced by another file (restored from a
 * backup, say): its refit log is not the old one's, so at the next sync reload
 * every cached user from it and read its log from its current position.  Call
 * from the thread that calls headcache_sync(). */
void headcache_invalidate(struct headcache *c);

/* Users held (with or without a model of their own). */
size_t headcache_size(struct headcache *c);

#endif
