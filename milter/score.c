/*
 * score.c - per-user scoring seam; see score.h.
 */
#include "config.h"

#include "model.h"
#include "score.h"

void
score_message(const struct runtime *rt, const struct features *f, struct score_msg *sm)
{
    sm->f = f;
    sm->p_global = model_score(rt->model, f->ids, f->n, sm->h, &sm->z);
}

float
score_for_user(const struct runtime *rt, const char *user_key, const struct score_msg *sm)
{
    (void)rt;
    (void)user_key;
    /* Issue 4: look up user_key's published user_model and return
     * adapt_score(rt->model, um, sm->f->ids, sm->f->n) (um == NULL: global). */
    return sm->p_global;
}

void
score_thresholds_for_user(const struct runtime *rt, const char *user_key,
                          struct thresholds *out)
{
    (void)user_key;
    *out = rt->thr;
}

void
score_record_scan(const struct runtime *rt, const char *user_key, const struct score_msg *sm)
{
    (void)rt;
    (void)user_key;
    (void)sm;
}
