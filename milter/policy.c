/*
 * policy.c - verdicts and header text; see policy.h.
 */
#include "config.h"

#include <stdio.h>

#include <glib.h>

#include "policy.h"
#include "store.h"

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

enum verdict
policy_listed(int action, enum verdict v, const struct thresholds *t)
{
    if (action == STORE_LIST_ALLOW)
        return VERDICT_HAM;
    if (action == STORE_LIST_BLOCK)
        return policy_verdict(1.0f, t);
    return v;
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

const char *
policy_multi_name(enum conf_multi multi)
{
    switch (multi) {
    case CONF_MULTI_PROTECT: return "protect";
    case CONF_MULTI_LEAST: return "least";
    case CONF_MULTI_STRICTEST: return "strictest";
    case CONF_MULTI_SPLIT: return "split";
    }
    return "unknown";
}

/* The index of the least (most, when most) invasive verdict; ties to the lower
 * (higher) score. */
static size_t
policy_extreme(const enum verdict *v, const float *score, size_t n, int most)
{
    size_t best = 0;

    for (size_t i = 1; i < n; i++) {
        if (most ? v[i] > v[best] || (v[i] == v[best] && score[i] > score[best])
            : v[i] < v[best] || (v[i] == v[best] && score[i] < score[best]))
            best = i;
    }
    return best;
}

size_t
policy_combine(const enum verdict *v, const float *score, size_t n, enum conf_multi multi,
               enum verdict *out)
{
    size_t most, least;

    g_assert(n > 0);
    most = policy_extreme(v, score, n, 1);
    least = policy_extreme(v, score, n, 0);
    switch (multi) {
    case CONF_MULTI_STRICTEST:
        *out = v[most];
        return most;
    case CONF_MULTI_PROTECT:
        *out = v[most] <= VERDICT_TAG ? v[most]
            : v[least] > VERDICT_TAG ? v[least] : VERDICT_TAG;
        return most;
    case CONF_MULTI_LEAST:
    case CONF_MULTI_SPLIT:
        break;
    }
    *out = v[least];
    return least;
}

enum verdict
policy_shadow(enum verdict v)
{
    return v > VERDICT_TAG ? VERDICT_TAG : v;
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
policy_result_header(float score, enum verdict v, enum verdict would)
{
    char s[32];

    policy_format_score(s, sizeof(s), score);
    if (would != v)
        return g_strdup_printf("score=%s; verdict=%s; would=%s", s, policy_verdict_name(v),
                               policy_verdict_name(would));
    return g_strdup_printf("score=%s; verdict=%s", s, policy_verdict_name(v));
}
