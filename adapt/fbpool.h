/*
 * fbpool.h - every user's labelled feedback in a store, pooled into training
 * examples: what `spamshift train --from-db` and the online learners (eval
 * --online, contrib/trec) retrain the base model from.  The store keeps
 * feedback as feature ids, so it stays valid for any base model.
 */
#ifndef SPAMSHIFT_FBPOOL_H
#define SPAMSHIFT_FBPOOL_H

#include <stddef.h>

#include "net.h"
#include "store.h"

struct fbpool {
    struct net_example *ex;     /* n examples; ids point into sets */
    size_t n, n_spam, n_ham;
    size_t n_users;             /* users with at least one message */
    struct store_samples *sets; /* one per user; owned */
    size_t n_sets;
};

/* Read all users' feedback in one read snapshot, users in key order and each
 * user's messages in digest order (so the pool, and a model trained on it, do
 * not depend on insertion order).  The same message learned by two users
 * appears twice, once per label it was given.  Returns STORE_OK, or a store
 * error with the reason in store_errmsg(s) (out then empty). */
int fbpool_load(struct store *s, struct fbpool *out);

/* Free everything; accepts an empty pool. */
void fbpool_free(struct fbpool *p);

#endif
