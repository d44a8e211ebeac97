/*
 * score.h - the one place where a message is scored for a user.
 *
 * A message is parsed and run through the model's body once (score_message());
 * each recipient's user then gets a score from its own head (score_for_user()).
 * Per-user models come from the store (adapt/) through the runtime's head
 * cache: a user with a published model is scored with it, any other user (and
 * every user when no `database` is configured) with the global head, whose
 * result equals `spamshift classify`'s.  Thresholds are the config's, except
 * for a user with a spam threshold of its own in the store (`spamshift user`),
 * read in score_thresholds_for_user().
 */
#ifndef SPAMSHIFT_MILTER_SCORE_H
#define SPAMSHIFT_MILTER_SCORE_H

#include <stdint.h>

#include "features.h"
#include "net.h"
#include "policy.h"
#include "runtime.h"

/* One message after the body pass: what every user's head needs. */
struct score_msg {
    const struct features *f;   /* borrowed; outlives the struct */
    float h[NET_MAX_HIDDEN];
    float z;
    float p_global;             /* probability under the global head */
};

/* Run the body (and the global head) over f.  Reentrant; can't fail. */
void score_message(const struct runtime *rt, const struct features *f, struct score_msg *sm);

/* Spam probability of the message for user_key; *version (may be NULL) gets
 * the version of the user's model, 0 for the global head.  Reentrant; never
 * blocks on I/O (a user not yet cached is scored globally and loaded by the
 * maintenance thread, users.h). */
float score_for_user(const struct runtime *rt, const char *user_key,
                     const struct score_msg *sm, uint64_t *version);

/* The thresholds that apply to user_key: the global ones, or with a store the
 * user's own spam threshold, quarantine and reject raised to at least it.
 * Reentrant; never blocks on I/O. */
void score_thresholds_for_user(const struct runtime *rt, const char *user_key,
                               struct thresholds *out);

/*
 * Hand a scanned message's features to the per-user store: an offer to the
 * user's reservoir (the unlabelled sample adaptation reweights toward), queued
 * for the writer thread (users.h) so the SMTP path never waits on the disk.
 * Per-day scan records for statistics (issue 5) belong here too.
 */
void score_record_scan(const struct runtime *rt, const char *user_key,
                       const struct score_msg *sm);

#endif
