/*
 * fit.c - adapt_fit_prep(), the orchestrator of one user's fit (the pipeline
 * is written out in doc/design-adapt.md); adapt_opts_default().
 */
#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapt.h"
#include "clock.h"
#include "cv.h"
#include "fitctx.h"
#include "prep.h"
#include "reweight.h"
#include "selftrain.h"
#include "solve.h"

void
adapt_opts_default(struct adapt_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->clip = 10.0f;
    o->domain_l2 = 1e-3f;
    o->lambda = -1.0f;
    o->mu = -1.0f;
    o->resid_l2 = 10.0f;
    o->resid_bits = 20;
    o->cv_min = 20;
    o->cv_pool_max = 2000;
    o->cv_fb_max = 50;
    o->pseudo = 1.0f;
    o->pseudo_conf = 0.999f;
    o->pseudo_max = 5000;
    o->pseudo_self = 0.3f;
    o->learned = 1;
    o->pseudo_keep = 2000;
    o->pseudo_l2 = 1.0f;
    o->dual_max = 1000;
    o->use_reweight = 1;
    o->use_head = 1;
    o->use_resid = 1;
}

static struct user_model *
global_model(const struct model *m, uint32_t seed, uint32_t bits)
{
    struct user_model *um = calloc(1, sizeof(*um));

    if (um == NULL)
        return NULL;
    um->hidden = m->net.dims.hidden;
    memcpy(um->head, m->net.head, NET_HEAD_LEN(um->hidden) * sizeof(float));
    um->seed = seed;
    um->resid_bits = bits;
    return um;
}

int
adapt_fit(const struct model *m, const char *user_key,
          const struct adapt_example *fb, size_t n_fb,
          const struct adapt_example *unl, size_t n_unl,
          const struct adapt_opts *o, struct user_model **out,
          struct adapt_fit_stats *st)
{
    return adapt_fit_prep(m, user_key, fb, n_fb, unl, n_unl, o, NULL, out, st);
}

int
adapt_fit_prep(const struct model *m, const char *user_key,
               const struct adapt_example *fb, size_t n_fb,
               const struct adapt_example *unl, size_t n_unl,
               const struct adapt_opts *o, struct adapt_prep *prep,
               struct user_model **out, struct adapt_fit_stats *st)
{
    uint32_t hidden = m->net.dims.hidden, p = hidden + 1, seed, k;
    struct fit_ctx c;
    struct user_model *um = NULL;
    float *beta = NULL, *tgt = NULL;
    double *mask = NULL;
    struct adapt_example *all = NULL;
    double th[NET_MAX_HIDDEN + 2], lam, mu, thr_logit, t0 = clock_seconds(), dist = 0;
    size_t i, j, n_ps = 0;
    int rc = -1, need_head, need_resid, self;
    struct adapt_fit_stats s;
    struct adapt_prep own;
    struct user_model ps;       /* the self-trained token memory (residual only),
                                 * borrowed from prep */
    double *fb_base = NULL;

    assert(hidden <= NET_MAX_HIDDEN && o->resid_bits >= 1 && o->resid_bits <= 31);
    memset(&s, 0, sizeof(s));
    memset(&c, 0, sizeof(c));
    memset(&ps, 0, sizeof(ps));
    memset(&own, 0, sizeof(own));
    seed = adapt_user_seed(user_key);
    *out = NULL;
    if (prep == NULL)
        prep = &own;
    if (!adapt_prep_usable(prep, m, user_key, o)) {
        adapt_prep_clear(prep);
        prep->fingerprint = adapt_prep_fingerprint(m, o);
        prep->hidden = hidden;
        prep->seed = seed;
    }
    if (prep->have_unl) {
        /* what the unlabelled mail gave last time stands for it */
        n_unl = prep->n_unl;
        unl = NULL;
        s.reused |= ADAPT_REUSED_UNL;
    } else {
        /* recomputed below from unl */
        free(prep->mem_slot);
        free(prep->mem_w);
        free(prep->quad);
        prep->quad = NULL;
        prep->have_quad = 0;
        prep->mem_slot = NULL;
        prep->mem_w = NULL;
        prep->n_mem = prep->n_pseudo = prep->n_unl = 0;
    }
    s.n_feedback = (uint32_t) n_fb;
    s.n_unlabelled = (uint32_t) n_unl;
    s.n_pool = m->pool_n;
    s.domain_auc = 0.5;
    s.ess = m->pool_n;
    s.cv_err_before = s.cv_err_after = -1;
    thr_logit = m->threshold > 0 && m->threshold < 1
        ? log(m->threshold / (1 - m->threshold)) : 0;

    lam = o->lambda >= 0 ? o->lambda : CV_LAMBDA_DEFAULT;
    mu = o->mu >= 0 ? o->mu : CV_MU_DEFAULT;
    /* What has anything to learn from: the pool reweighted (needs unlabelled
     * mail), the head and residual (need feedback). */
    need_head = (o->use_reweight && n_unl >= 2 && m->pool_n > 0)
        || (o->use_head && n_fb > 0);
    need_resid = o->use_resid && (n_fb > 0 || (o->pseudo > 0 && n_unl > 0));
    if (!need_head && !need_resid) {
        if ((um = global_model(m, seed, o->resid_bits)) == NULL)
            goto fail;
        goto done;
    }

    if ((beta = malloc((m->pool_n ? m->pool_n : 1) * sizeof(float))) == NULL)
        goto fail;
    if (prep->have_unl) {
        reweight_apply(&prep->dom, m->pool_rep, m->pool_n, beta);
    } else {
        memset(&prep->dom, 0, sizeof(prep->dom));
        prep->dom.auc = 0.5;
        if (o->use_reweight && n_unl >= 2 && m->pool_n > 0) {
            if ((tgt = malloc(n_unl * p * sizeof(float))) == NULL)
                goto fail;
            for (j = 0; j < n_unl; j++) {
                memcpy(tgt + j * p, unl[j].h, hidden * sizeof(float));
                tgt[j * p + hidden] = unl[j].z;
            }
            if (reweight_fit(m->pool_rep, m->pool_n, tgt, n_unl, hidden, o->domain_l2,
                               o->clip, beta, &prep->dom) < 0)
                goto fail;
        } else
            reweight_apply(&prep->dom, m->pool_rep, m->pool_n, beta);
    }
    if (prep->dom.p != 0) {
        s.domain_auc = prep->dom.auc;
        s.ess = prep->dom.ess;
    }
    /* Pseudo-labels: unlabelled messages the global head is sure about join
     * the feedback at weight pseudo, evenly spread over the sample, so that the
     * residual learns this user's own vocabulary before any label arrives. */
    if (!prep->have_unl && o->pseudo > 0 && o->pseudo_max > 0 && n_unl > 0
        && (o->use_resid || o->use_head)) {
        double conf = log(o->pseudo_conf / (1 - o->pseudo_conf));
        size_t n_cand = 0;

        for (j = 0; j < n_unl; j++)
            n_cand += fabs(net_head(m->net.head, hidden, unl[j].h, unl[j].z)) >= conf;
        n_ps = n_cand < o->pseudo_max ? n_cand : o->pseudo_max;
    }
    if ((all = malloc((n_fb + n_ps + 1) * sizeof(*all))) == NULL)
        goto fail;
    if (n_fb > 0)
        memcpy(all, fb, n_fb * sizeof(*all));
    if (n_ps > 0) {
        double conf = log(o->pseudo_conf / (1 - o->pseudo_conf));
        size_t n_cand = 0, seen = 0, taken = 0;

        for (j = 0; j < n_unl; j++)
            n_cand += fabs(net_head(m->net.head, hidden, unl[j].h, unl[j].z)) >= conf;
        /* candidate number seen is taken when it crosses the next multiple of
         * n_cand / n_ps: an even spread, deterministic */
        for (j = 0; j < n_unl && taken < n_ps; j++) {
            float l = net_head(m->net.head, hidden, unl[j].h, unl[j].z);

            if (fabs(l) < conf)
                continue;
            if ((seen++ * n_ps) / n_cand == taken) {
                all[n_fb + taken] = unl[j];
                all[n_fb + taken].spam = l > 0;
                taken++;
            }
        }
        n_ps = taken;
    }
    self = o->pseudo_self > 0 && o->use_resid;
    if (!prep->have_unl && self && n_ps > 0) {
        /* Self-training: the pseudo-labelled mail's own token memory; the
         * pseudo rows then leave all[]. */
        if (selftrain_fit(m, seed, all + n_fb, n_ps, o, &ps) < 0) {
            free(ps.resid_slot);
            free(ps.resid_w);
            goto fail;
        }
        prep->mem_slot = ps.resid_slot;
        prep->mem_w = ps.resid_w;
        prep->n_mem = ps.n_resid;
    }
    if (!prep->have_unl && (self || n_ps == 0)) {
        prep->n_unl = (uint32_t) n_unl;
        prep->n_pseudo = (uint32_t) n_ps;
        prep->have_unl = 1;
        prep->changed = 1;
        n_ps = 0;
    }
    s.n_pseudo = prep->have_unl ? prep->n_pseudo : (uint32_t) n_ps;
    if (prep->n_mem > 0) {
        /* The real feedback is fitted on top of the memory (fb_base). */
        ps.seed = seed;
        ps.resid_bits = o->resid_bits;
        ps.n_resid = prep->n_mem;
        ps.resid_slot = prep->mem_slot;
        ps.resid_w = prep->mem_w;
        if ((fb_base = malloc((n_fb + 1) * sizeof(double))) == NULL)
            goto fail;
        for (j = 0; j < n_fb; j++)
            fb_base[j] = selftrain_logit(&ps, fb[j].ids, fb[j].n);
    }
    if (fitctx_build(&c, m, seed, all, n_fb + n_ps, o, 1) < 0)
        goto fail;
    c.fb_base = fb_base;
    c.prep = prep;
    c.refit_pool = (o->use_reweight && n_unl >= 2 && m->pool_n > 0)
        || (o->use_head && n_fb + n_ps > 0);
    if ((mask = malloc((n_fb + n_ps + 1) * sizeof(double))) == NULL)
        goto fail;
    for (j = 0; j < n_fb + n_ps; j++)
        mask[j] = j < n_fb ? 1.0 : o->pseudo;

    if (n_fb >= o->cv_min && n_fb >= CV_FOLDS && (o->lambda < 0 || o->mu < 0)
        && (o->use_head || o->use_resid)) {
        if (adapt_prep_cv_current(prep, n_fb)) {
            lam = prep->lambda;
            mu = prep->mu;
            s.cv_err_after = prep->cv_err;
            s.reused |= ADAPT_REUSED_CV;
        } else {
            prep->have_cv = 0;
            if (cv_select(&c, o->use_reweight ? beta : NULL, m, n_fb, lam, mu,
                               o->lambda < 0, o->mu < 0 && (o->use_head || o->use_reweight),
                               thr_logit, &lam, &mu, &s.cv_err_after) < 0)
                goto fail;
            prep->have_cv = 1;
            prep->changed = 1;
            prep->cv_n = (uint32_t) n_fb;
            prep->lambda = lam;
            prep->mu = mu;
            prep->cv_err = s.cv_err_after;
        }
        s.cross_validated = 1;
    }
    fitctx_pool_weights(m->pool_label, o->use_reweight ? beta : NULL, m->pool_n, 1, c.pool_w);
    if (solve_fit(&c, c.n_pool, c.pool_w, mask, lam, mu, th, c.r) < 0)
        goto fail;

    if ((um = global_model(m, seed, o->resid_bits)) == NULL)
        goto fail;
    for (k = 0; k < NET_HEAD_LEN(hidden); k++) {
        um->head[k] = (float) th[k];
        dist += (th[k] - m->net.head[k]) * (th[k] - m->net.head[k]);
    }
    s.head_distance = sqrt(dist);
    if (o->use_resid && c.n_slots > 0) {
        size_t n_nz = 0;

        for (i = 0; i < c.n_slots; i++)
            n_nz += (float) c.r[i] != 0.0f;
        if (n_nz > 0) {
            um->resid_slot = malloc(n_nz * sizeof(uint32_t));
            um->resid_w = malloc(n_nz * sizeof(float));
            if (um->resid_slot == NULL || um->resid_w == NULL)
                goto fail;
            for (i = 0; i < c.n_slots; i++)
                if ((float) c.r[i] != 0.0f) {
                    um->resid_slot[um->n_resid] = c.slots[i];
                    um->resid_w[um->n_resid++] = (float) c.r[i];
                }
        }
    }
    if (ps.n_resid > 0 && selftrain_merge(um, &ps) < 0)
        goto fail;
    s.n_resid = um->n_resid;
done:
    s.lambda = (float) lam;
    s.mu = (float) mu;
    if (n_fb > 0) {
        /* Error of the global head on the feedback (it never saw it). */
        size_t wrong = 0;

        for (j = 0; j < n_fb; j++) {
            float l = net_head(m->net.head, hidden, fb[j].h, fb[j].z);

            wrong += (l >= thr_logit) != (fb[j].spam != 0);
        }
        s.cv_err_before = (double) wrong / (double) n_fb;
    }
    *out = um;
    um = NULL;
    rc = 0;
fail:
    s.seconds = clock_seconds() - t0;
    if (st != NULL)
        *st = s;
    user_model_free(um);
    fitctx_free(&c);
    free(beta);
    free(tgt);
    free(mask);
    free(all);
    free(fb_base);
    adapt_prep_clear(&own);
    return rc;
}
