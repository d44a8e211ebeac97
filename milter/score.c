/*
 * score.c - per-user scoring seam; see score.h.
 */
#include "config.h"

#include "headcache.h"
#include "model.h"
#include "score.h"
#include "users.h"

void
score_message(const struct runtime *rt, const struct features *f, struct score_msg *sm)
{
    sm->f = f;
    sm->p_global = model_score(rt->model, f->ids, f->n, sm->h, &sm->z);
}

float
score_for_user(const struct runtime *rt, const char *user_key, const struct score_msg *sm,
               uint64_t *version)
{
    if (rt->cache == NULL) {
        if (version != NULL)
            *version = 0;
        return sm->p_global;
    }
    return headcache_score(rt->cache, user_key, sm->h, sm->z, sm->f->ids, sm->f->n, version);
}

void
score_thresholds_for_user(const struct runtime *rt, const char *user_key,
                          struct thresholds *out)
{
    float spam;
    double target;
    int source;

    *out = rt->thr;
    if (rt->cache == NULL)
        return;
    /* The user's own threshold (spamshift user --spam-threshold), else with
     * spam_threshold = model the user's operating point for target_fpr (a
     * fixed spam_threshold in the config is the admin's for everyone). */
    if (users_threshold(user_key, &spam))
        ;
    else if (rt->conf->spam_threshold < 0) {
        if (!users_target_fpr(user_key, &target))
            target = rt->conf->target_fpr;
        spam = headcache_threshold(rt->cache, user_key, target, rt->thr.spam, &source);
    }
    else
        return;
    /* Quarantine and reject stay where the config puts them, absolute: they
     * act on near-certain spam and an admin audits them by their level.  But
     * a user whose mail is tagged only from P on is not quarantined or
     * rejected below P either (an action that is off stays off: it is > 1). */
    out->spam = spam;
    if (out->quarantine < spam)
        out->quarantine = spam;
    if (out->reject < spam)
        out->reject = spam;
}

void
score_record_scan(const struct runtime *rt, const char *user_key, const struct score_msg *sm)
{
    if (rt->cache != NULL)
        users_offer(user_key, sm->f);
}
