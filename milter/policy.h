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

/* "ham", "tag", "quarantine", "reject". */
const char *policy_verdict_name(enum verdict v);

/*
 * Which recipient's result the whole message takes, as an index in [0, n):
 * least (and split, whose recipients share one user) takes the least invasive
 * verdict, strictest the most invasive; ties go to the lower score for least
 * and the higher for strictest.  n must be > 0.
 */
size_t policy_pick(const enum verdict *v, const float *score, size_t n,
                   enum conf_multi multi);

/* The score as every header and `spamshift classify` print it: "%.6f". */
void policy_format_score(char *buf, size_t len, float score);

/* X-Spam-Status value, SpamAssassin's form: "Yes, score=0.987654 required=0.500000".
 * Returns a new string (g_free). */
char *policy_status_header(enum verdict v, float score, float required);

/* X-Spamshift-Result value: "bob@example.org; score=0.987654; verdict=tag".
 * Returns a new string (g_free). */
char *policy_result_header(const char *rcpt, float score, enum verdict v);

#endif
