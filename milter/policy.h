/*
 * policy.h - what the milter does with a score: the verdict for a threshold
 * set, the verdict a message with several recipients takes, and the text of
 * the headers it adds.  Pure functions over plain values; no libmilter here,
 * so the rules are unit-tested without an MTA.
 */
#ifndef SPAMSHIFT_MILTER_POLICY_H
#define SPAMSHIFT_MILTER_POLICY_H

#include <stddef.h>

#include "conf.h"

/* Ordered from least to most invasive. */
enum verdict { VERDICT_HAM, VERDICT_TAG, VERDICT_QUARANTINE, VERDICT_REJECT };

/* Probabilities; a value above 1 (CONF_THRESHOLD_OFF) disables the action. */
struct thresholds {
    float spam;
    float quarantine;
    float reject;
};

/* The verdict for score: the most invasive action whose threshold it reaches
 * (at or above).  This can't fail. */
enum verdict policy_verdict(float score, const struct thresholds *t);

/* What an allow or block list entry makes of a recipient's verdict v: an
 * allowed sender's copy is ham whatever its score; a blocked sender's gets the
 * verdict a score of 1 would (tagged, or quarantined or rejected where those
 * are configured); action is STORE_LIST_NONE, _ALLOW or _BLOCK (store.h).
 * This can't fail. */
enum verdict policy_listed(int action, enum verdict v, const struct thresholds *t);

/* "ham", "tag", "quarantine", "reject". */
const char *policy_verdict_name(enum verdict v);

/*
 * The verdict the whole message takes from its recipients' verdicts v[0..n)
 * (n > 0), into *out, and the index of the recipient whose score and
 * thresholds the headers show:
 *   least (and split, whose recipients share one user): the least invasive
 *     verdict, ties to the lower score;
 *   strictest: the most invasive, ties to the higher score;
 *   protect: tag when any recipient's verdict is tag or worse, quarantine or
 *     reject only when every recipient's is (the least invasive of those), so
 *     that no recipient's teaching can un-tag another's spam nor get another's
 *     mail refused or held; the index is strictest's.
 * This can't fail.
 */
size_t policy_combine(const enum verdict *v, const float *score, size_t n,
                      enum conf_multi multi, enum verdict *out);

/* What mode = shadow does with verdict v: quarantine and reject become tag
 * (the message is delivered, flagged); ham and tag stay.  Under mode = normal
 * the verdict is applied as it is. */
enum verdict policy_shadow(enum verdict v);

/* "protect", "least", "strictest", "split". */
const char *policy_multi_name(enum conf_multi multi);

/* The score as every header and `spamshift classify` print it: "%.6f". */
void policy_format_score(char *buf, size_t len, float score);

/* X-Spam-Status value, SpamAssassin's form: "Yes, score=0.987654 required=0.500000".
 * Returns a new string (g_free). */
char *policy_status_header(enum verdict v, float score, float required);

/*
 * X-Spamshift-Result value: "score=0.987654; verdict=tag", with
 * "; would=reject" appended when would (what mode = shadow would have done)
 * differs from v.  It names no recipient: the MTA adds one set of headers for
 * every copy of the message, so a recipient's address or own verdict in it
 * would tell each recipient who else received the message (Bcc included) and
 * how spamshift judged it for them; with one recipient the values are that
 * recipient's own, with several the message's (policy_combine()), and the
 * header has the same shape either way.  Returns a new string (g_free).
 */
char *policy_result_header(float score, enum verdict v, enum verdict would);

#endif
