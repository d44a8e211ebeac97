/*
 * policy.c - verdicts and header text; see policy.h.
 */
#include "config.h"

#include <stdio.h>

#include <glib.h>

#include "policy.h"

enum verdict
policy_verdict(float score, const struct thresholds *t)
{
    if (t->reject <= 1.0f && score >= t->reject)
        return VERDICT_REJECT;
    if (t->quarantine <= 1.0f && score >= t->quarantine)
        return VERDICT_QUARANTINE;
    if (t->spam <= 1.0f && score >= t->spam)
        return VERDICT_TAG;
    return VERDICT_HAM;
}

const char *
policy_verdict_name(enum verdict v)
{
    switch (v) {
    case VERDICT_HAM: return "ham";
    case VERDICT_TAG: return "tag";
    case VERDICT_QUARANTINE: return "quarantine";
    case VERDICT_REJECT: return "reject";
    }
    return "unknown";
}

size_t
policy_pick(const enum verdict *v, const float *score, size_t n, enum conf_multi multi)
{
    size_t best = 0;

    g_assert(n > 0);
    for (size_t i = 1; i < n; i++) {
        if (multi == CONF_MULTI_STRICTEST) {
            if (v[i] > v[best] || (v[i] == v[best] && score[i] > score[best]))
                best = i;
        } else {
            if (v[i] < v[best] || (v[i] == v[best] && score[i] < score[best]))
                best = i;
        }
    }
    return best;
}

void
policy_format_score(char *buf, size_t len, float score)
{
    snprintf(buf, len, "%.6f", (double)score);
}

char *
policy_status_header(enum verdict v, float score, float required)
{
    char s[32], r[32];

    policy_format_score(s, sizeof(s), score);
    policy_format_score(r, sizeof(r), required);
    return g_strdup_printf("%s, score=%s required=%s", v >= VERDICT_TAG ? "Yes" : "No", s, r);
}

char *
policy_result_header(const char *rcpt, float score, enum verdict v)
{
    char s[32];

    policy_format_score(s, sizeof(s), score);
    return g_strdup_printf("%s; score=%s; verdict=%s", rcpt, s, policy_verdict_name(v));
}
