/*
 * users.h - per-user state for the milter: the store's writer thread (scanned
 * messages offered to each user's reservoir) and one maintenance thread that
 * keeps the runtime's head cache current (headcache_sync) and refits dirty
 * users (refit_dirty), each on its own store connection.
 *
 * SMTP threads never touch the store: they read the head cache (runtime.h,
 * score.c) and hand offers to the writer, which copies and queues (adapt/writer.h).
 * With no `database` in the config all of this is off and every user is scored
 * with the global head.
 */
#ifndef SPAMSHIFT_MILTER_USERS_H
#define SPAMSHIFT_MILTER_USERS_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "features.h"
#include "writer.h"

/* Start the writer and the maintenance thread for c->database (a no-op
 * returning 0 when it is unset).  Call after dropping privileges, since the
 * store's files are created as the running user.  Returns 0, or -1 with a
 * reason in err (the store cannot be opened or created). */
int users_start(const struct conf *c, char *err, size_t errlen);

/* Offer a scanned message to user's reservoir.  Never blocks on I/O; a full
 * queue drops the offer (the reservoir is a sample).  A no-op without a store. */
void users_offer(const char *user, const struct features *f);

/* Record what was decided for user's copy of a message (a store_verdict:
 * pass/tag/quarantine/reject with the score and scan time, or skipped/error
 * with digest NULL) for `spamshift stats` and for matching later feedback.
 * Never blocks on I/O; a no-op without a store. */
void users_scan(const char *user, const uint8_t *digest, float score, int verdict,
                double ms);

/* Count a copy for user scanned in mode = shadow whose verdict (a
 * store_verdict, as recorded with users_scan()) was not applied: the
 * STORE_COUNTER_SHADOW_* counters `spamshift stats` reads.  As users_scan(). */
void users_shadow(const char *user, int verdict);

/* user's own spam threshold (`spamshift user --spam-threshold`): 1 and *spam,
 * or 0 when the user has none or there is no store.  Read from memory (the
 * maintenance thread rereads the store within a second of a change); takes a
 * read lock briefly; never blocks on I/O. */
int users_threshold(const char *user, float *spam);

/* user's own target false-positive rate (`spamshift user --target-fpr`): 1 and
 * *t, or 0 (the site's target_fpr applies).  From memory, like
 * users_threshold(). */
int users_target_fpr(const char *user, double *t);

/* The allow and block lists' decision for user's copy of a message from
 * env_from (the envelope sender) with hdr_from (the From header's value; either
 * may be NULL): STORE_LIST_ALLOW, STORE_LIST_BLOCK or STORE_LIST_NONE (also
 * without a store), with the deciding entry ("scope sender") in entry (may be
 * NULL) for the log.  From memory, like users_threshold(). */
int users_list_decide(const char *user, const char *env_from, const char *hdr_from,
                      char *entry, size_t len);

/* The store writer's statistics (writer_stats()) into *st: 1, or 0 when
 * there is no store.  Takes the writer's lock briefly; never blocks on I/O. */
int users_writer_stats(struct writer_stats *st);

/* Stop the maintenance thread, commit what the writer holds and close. */
void users_stop(void);

#endif
