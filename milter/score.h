/*
 * score.h - the one place where a message is scored for a user.
 *
 * A message is parsed and run through the model's body once (score_message());
 * each recipient's user then gets a score from its own head (score_for_user()).
 * Per-user heads and thresholds come from the store of issue 4 (adapt/): when
 * it exists, score_for_user() and score_thresholds_for_user() look the user up
 * and call adapt_score(); until then every user gets the global head, whose
 * result equals `spamshift classify`'s.
 */
#ifndef SPAMSHIFT_MILTER_SCORE_H
#define SPAMSHIFT_MILTER_SCORE_H

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

/* Spam probability of the message for user_key.  Reentrant; never blocks. */
float score_for_user(const struct runtime *rt, const char *user_key, const struct score_msg *sm);

/* The thresholds that apply to user_key (today the global ones). */
void score_thresholds_for_user(const struct runtime *rt, const char *user_key,
                               struct thresholds *out);

/*
 * Hand a scanned message's features to the per-user store (reservoir sample
 * for adaptation, scan counters).  The store is issue 4's; its writer thread
 * will take these through a GAsyncQueue so the SMTP path never waits on the
 * disk.  Until the store exists nothing is recorded; this is the seam.
 */
void score_record_scan(const struct runtime *rt, const char *user_key,
                       const struct score_msg *sm);

#endif
