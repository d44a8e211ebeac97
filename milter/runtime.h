/*
 * runtime.h - everything a message is scored with, as one reference-counted
 * unit: the configuration, the model, the alias map, the trusted networks and
 * the resolved thresholds.
 *
 * Callbacks take a reference when a message starts (runtime_acquire()) and
 * drop it when the message ends, so a message in flight finishes on the
 * runtime it started with even when SIGHUP installs a new one (OpenDKIM's
 * curconf).  A runtime is immutable once built; only the "current" pointer
 * changes, under a mutex held for a pointer swap.
 */
#ifndef SPAMSHIFT_MILTER_RUNTIME_H
#define SPAMSHIFT_MILTER_RUNTIME_H

#include <glib.h>

#include "conf.h"
#include "headcache.h"
#include "model.h"
#include "netlist.h"
#include "policy.h"

struct runtime {
    gint refs;
    unsigned generation;        /* 1 for the first, +1 per successful reload */
    struct conf *conf;
    struct model *model;
    GHashTable *aliases;        /* may be NULL */
    struct netlist *trusted;    /* never NULL (maybe empty) */
    struct thresholds thr;      /* global thresholds, spam_threshold resolved */
    struct headcache *cache;    /* users' models for this model; NULL without a store */
};

/*
 * Read conf_path, load the model and the alias map and resolve thresholds.
 * Returns 0 and *out with one reference, or -1 with one message per problem in
 * errors (config lines with their numbers, then the model's reason).
 */
int runtime_build(const char *conf_path, struct runtime **out, GPtrArray *errors);

struct runtime *runtime_ref(struct runtime *rt);
/* Drops one reference, freeing on the last; accepts NULL; returns NULL. */
struct runtime *runtime_unref(struct runtime *rt);

/* Make rt current, taking over the caller's reference; the previous runtime
 * is released (freed once its last message finishes). */
void runtime_install(struct runtime *rt);

/* A new reference to the current runtime (NULL before the first install). */
struct runtime *runtime_acquire(void);

/*
 * Rebuild from the current runtime's config path and install the result.
 * On any error the current runtime stays and the errors are logged; returns
 * 0 on success, -1 otherwise.  Blocks for the time a model load takes; never
 * called from a milter callback.
 */
int runtime_reload(void);

/*
 * Load into rt's head cache the conf->preload_users users whose models were
 * published most recently (headcache_preload()), on a connection of its own,
 * so that their first message is scored with their own model (issue 18,
 * finding 8b).  A no-op without a store.  Logs what it loaded and how long it
 * took; a failure is logged and leaves the cache to fill as users are seen.
 * Blocks for the store reads: call before serving (at start, after dropping
 * privileges, and on reload before installing rt), never from a callback.
 */
void runtime_preload(struct runtime *rt);

/* Drop the current runtime at shutdown. */
void runtime_shutdown(void);

#endif
