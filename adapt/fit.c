/*
 * fit.c - adapt_fit_prep(), the orchestrator of one user's fit, and
 * adapt_opts_default().  A fit runs in stages, each a function below over one
 * struct fit_run: take what the prep still holds (fit_open), instance weights
 * (fit_weights, reweight.c), pseudo-labels (fit_pseudo), the self-trained
 * memory (fit_memory, selftrain.c), the fit context (fit_context, fitctx.c),
 * lambda and mu (fit_lambda_mu, cv.c), the final fit (solve.c) and the user
 * model it gives (fit_user_model).  doc/design-adapt.md draws the pipeline.
 *
 * The caller owns the returned user model and the prep; everything else is
 * the run's and freed in fit_close().  Pure computation: reentrant,
 * deterministic, allocation failure reported as -1.
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
#include "labels.h"
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
    o->labels = 1;
    o->label_a = -1.0f;
    o->label_lam = -1.0f;
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

/* One fit's working state, from fit_open() to fit_close(). */
struct fit_run {
    const struct model *m;
    const struct adapt_opts *o;
    struct adapt_prep *prep;        /* the caller's, or own */
    struct adapt_prep own;
    const struct adapt_example *fb, *unl;   /* unl NULL when the prep stands for it */
    size_t n_fb, n_unl;
    size_t n_ps;                    /* pseudo-labelled messages in all[] after fb */
    uint32_t seed;
    struct adapt_fit_stats s;
    float *beta;                    /* pool instance weights */
    struct adapt_example *all;      /* fb, then the pseudo-labelled messages */
    struct user_model ps;           /* the self-trained memory (residual only),
                                     * borrowed from prep */
    double *fb_base;                /* the memory's logit on each feedback message */
    double *mask;                   /* weight of each message of all[] */
    struct fit_ctx c;
    double lam, mu, thr_logit;
};

/* Take the prep (drop it when made for another model, user or options; drop
 * its unlabelled side when the caller says it is stale) and fill in the
 * statistics every fit reports. */
static void
fit_open(struct fit_run *run, const char *user_key)
{
    const struct model *m = run->m;
    const struct adapt_opts *o = run->o;
    struct adapt_prep *prep = run->prep;
    struct adapt_fit_stats *s = &run->s;

    if (!adapt_prep_usable(prep, m, user_key, o)) {
        adapt_prep_clear(prep);
        prep->fingerprint = adapt_prep_fingerprint(m, o);
        prep->hidden = m->net.dims.hidden;
        prep->seed = run->seed;
    }
    if (prep->have_unl) {
        /* what the unlabelled mail gave last time stands for it */
        run->n_unl = prep->n_unl;
        run->unl = NULL;
        s->reused |= ADAPT_REUSED_UNL;
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
    s->n_feedback = (uint32_t) run->n_fb;
    s->n_unlabelled = (uint32_t) run->n_unl;
    s->n_pool = m->pool_n;
    s->domain_auc = 0.5;
    s->ess = m->pool_n;
    s->cv_err_before = s->cv_err_after = -1;
    run->thr_logit = m->threshold > 0 && m->threshold < 1
        ? log(m->threshold / (1 - m->threshold)) : 0;
    run->lam = o->lambda >= 0 ? o->lambda : CV_LAMBDA_DEFAULT;
    run->mu = o->mu >= 0 ? o->mu : CV_MU_DEFAULT;
}

/* The pool's instance weights: from the prep's domain classifier, or a new
 * one fitted against the unlabelled mail.  Returns 0, or -1 on allocation
 * failure. */
static int
fit_weights(struct fit_run *run)
{
    const struct model *m = run->m;
    const struct adapt_opts *o = run->o;
    struct adapt_prep *prep = run->prep;
    uint32_t hidden = m->net.dims.hidden, p = hidden + 1;
    float *tgt;
    size_t j;
    int rc;

    if ((run->beta = malloc((m->pool_n ? m->pool_n : 1) * sizeof(float))) == NULL)
        return -1;
    if (prep->have_unl) {
        reweight_apply(&prep->dom, m->pool_rep, m->pool_n, run->beta);
    } else {
        memset(&prep->dom, 0, sizeof(prep->dom));
        prep->dom.auc = 0.5;
        if (o->use_reweight && run->n_unl >= 2 && m->pool_n > 0) {
            if ((tgt = malloc(run->n_unl * p * sizeof(float))) == NULL)
                return -1;
            for (j = 0; j < run->n_unl; j++) {
                memcpy(tgt + j * p, run->unl[j].h, hidden * sizeof(float));
                tgt[j * p + hidden] = run->unl[j].z;
            }
            rc = reweight_fit(m->pool_rep, m->pool_n, tgt, run->n_unl, hidden, o->domain_l2,
                              o->clip, run->beta, &prep->dom);
            free(tgt);
            if (rc < 0)
                return -1;
        } else
            reweight_apply(&prep->dom, m->pool_rep, m->pool_n, run->beta);
    }
    if (prep->dom.p != 0) {
        run->s.domain_auc = prep->dom.auc;
        run->s.ess = prep->dom.ess;
    }
    return 0;
}

/* all[] := the feedback, then the pseudo-labelled unlabelled messages (only
 * when the prep does not stand for the unlabelled mail): the global head's
 * confident ones, evenly spread, so that the residual learns this user's own
 * vocabulary before any label arrives.  Returns 0, or -1 on allocation
 * failure. */
static int
fit_pseudo(struct fit_run *run)
{
    const struct adapt_opts *o = run->o;
    size_t n_cand = 0;
    double conf = 0;

    run->n_ps = 0;
    if (!run->prep->have_unl && o->pseudo > 0 && o->pseudo_max > 0 && run->n_unl > 0
        && (o->use_resid || o->use_head)) {
        conf = log(o->pseudo_conf / (1 - o->pseudo_conf));
        n_cand = selftrain_candidates(run->m, run->unl, run->n_unl, conf);
        run->n_ps = n_cand < o->pseudo_max ? n_cand : o->pseudo_max;
    }
    if ((run->all = malloc((run->n_fb + run->n_ps + 1) * sizeof(*run->all))) == NULL)
        return -1;
    if (run->n_fb > 0)
        memcpy(run->all, run->fb, run->n_fb * sizeof(*run->all));
    if (run->n_ps > 0)
        run->n_ps = selftrain_pick(run->m, run->unl, run->n_unl, conf, n_cand, run->n_ps,
                                   run->all + run->n_fb);
    return 0;
}

/* Self-training: the pseudo-labelled mail's own token memory, kept in the
 * prep (the pseudo rows then leave all[]); the memory's logit on each
 * feedback message, which the feedback is fitted on top of.  Returns 0, or -1
 * on allocation failure. */
static int
fit_memory(struct fit_run *run)
{
    const struct adapt_opts *o = run->o;
    struct adapt_prep *prep = run->prep;
    struct user_model *ps = &run->ps;
    int self = o->pseudo_self > 0 && o->use_resid;
    size_t j;

    if (!prep->have_unl && self && run->n_ps > 0) {
        if (selftrain_fit(run->m, run->seed, run->all + run->n_fb, run->n_ps, o, ps) < 0) {
            free(ps->resid_slot);
            free(ps->resid_w);
            memset(ps, 0, sizeof(*ps));
            return -1;
        }
        prep->mem_slot = ps->resid_slot;
        prep->mem_w = ps->resid_w;
        prep->n_mem = ps->n_resid;
    }
    if (!prep->have_unl && (self || run->n_ps == 0)) {
        prep->n_unl = (uint32_t) run->n_unl;
        prep->n_pseudo = (uint32_t) run->n_ps;
        prep->have_unl = 1;
        prep->changed = 1;
        run->n_ps = 0;
    }
    run->s.n_pseudo = prep->have_unl ? prep->n_pseudo : (uint32_t) run->n_ps;
    if (prep->n_mem > 0) {
        ps->seed = run->seed;
        ps->resid_bits = o->resid_bits;
        ps->n_resid = prep->n_mem;
        ps->resid_slot = prep->mem_slot;
        ps->resid_w = prep->mem_w;
        if ((run->fb_base = malloc((run->n_fb + 1) * sizeof(double))) == NULL)
            return -1;
        for (j = 0; j < run->n_fb; j++)
            run->fb_base[j] = selftrain_logit(ps, run->fb[j].ids, run->fb[j].n);
    }
    return 0;
}

/* The fit context over all[] and each message's weight (1 for feedback,
 * opts->pseudo for pseudo-labels).  Returns 0, or -1 on allocation failure. */
static int
fit_context(struct fit_run *run)
{
    const struct adapt_opts *o = run->o;
    size_t n = run->n_fb + run->n_ps, j;

    if (fitctx_build(&run->c, run->m, run->seed, run->all, n, o, 1) < 0)
        return -1;
    run->c.fb_base = run->fb_base;
    run->c.prep = run->prep;
    run->c.refit_pool = (o->use_reweight && run->n_unl >= 2 && run->m->pool_n > 0)
        || (o->use_head && n > 0);
    if ((run->mask = malloc((n + 1) * sizeof(double))) == NULL)
        return -1;
    for (j = 0; j < n; j++)
        run->mask[j] = j < run->n_fb ? 1.0 : o->pseudo;
    return 0;
}

/* lambda and mu: given, kept from the prep, or cross-validated once there
 * is enough feedback.  Returns 0, or -1 on allocation failure. */
static int
fit_lambda_mu(struct fit_run *run)
{
    const struct adapt_opts *o = run->o;
    struct adapt_prep *prep = run->prep;
    struct adapt_fit_stats *s = &run->s;
    size_t n_fb = run->n_fb;

    if (!(n_fb >= o->cv_min && n_fb >= CV_FOLDS && (o->lambda < 0 || o->mu < 0)
          && (o->use_head || o->use_resid)))
        return 0;
    if (adapt_prep_cv_current(prep, n_fb)) {
        run->lam = prep->lambda;
        run->mu = prep->mu;
        s->cv_err_after = prep->cv_err;
        s->reused |= ADAPT_REUSED_CV;
    } else {
        prep->have_cv = 0;
        if (cv_select(&run->c, o->use_reweight ? run->beta : NULL, run->m, n_fb, run->lam,
                      run->mu, o->lambda < 0, o->mu < 0 && (o->use_head || o->use_reweight),
                      run->thr_logit, &run->lam, &run->mu, &s->cv_err_after) < 0)
            return -1;
        adapt_prep_keep_cv(prep, n_fb, run->lam, run->mu, s->cv_err_after);
    }
    s->cross_validated = 1;
    return 0;
}

/* The user model of the fitted head th and residual c.r, plus the memory.
 * Returns it (the caller frees it), or NULL on allocation failure. */
static struct user_model *
fit_user_model(struct fit_run *run, const double *th)
{
    const struct model *m = run->m;
    const struct fit_ctx *c = &run->c;
    struct user_model *um = global_model(m, run->seed, run->o->resid_bits);
    double dist = 0;
    size_t i, n_nz = 0;
    uint32_t k;

    if (um == NULL)
        return NULL;
    for (k = 0; k < NET_HEAD_LEN(m->net.dims.hidden); k++) {
        um->head[k] = (float) th[k];
        dist += (th[k] - m->net.head[k]) * (th[k] - m->net.head[k]);
    }
    run->s.head_distance = sqrt(dist);
    if (run->o->use_resid && c->n_slots > 0) {
        for (i = 0; i < c->n_slots; i++)
            n_nz += (float) c->r[i] != 0.0f;
        if (n_nz > 0) {
            um->resid_slot = malloc(n_nz * sizeof(uint32_t));
            um->resid_w = malloc(n_nz * sizeof(float));
            if (um->resid_slot == NULL || um->resid_w == NULL)
                return user_model_free(um);
            for (i = 0; i < c->n_slots; i++)
                if ((float) c->r[i] != 0.0f) {
                    um->resid_slot[um->n_resid] = c->slots[i];
                    um->resid_w[um->n_resid++] = (float) c->r[i];
                }
        }
    }
    if (run->ps.n_resid > 0 && selftrain_merge(um, &run->ps) < 0)
        return user_model_free(um);
    run->s.n_resid = um->n_resid;
    return um;
}

/* What every fit reports: lambda and mu used, the global head's error on
 * the feedback (it never saw it). */
static void
fit_report(struct fit_run *run)
{
    const struct model *m = run->m;
    size_t wrong = 0, j;

    run->s.lambda = (float) run->lam;
    run->s.mu = (float) run->mu;
    if (run->n_fb == 0)
        return;
    for (j = 0; j < run->n_fb; j++) {
        float l = net_head(m->net.head, m->net.dims.hidden, run->fb[j].h, run->fb[j].z);

        wrong += (l >= run->thr_logit) != (run->fb[j].spam != 0);
    }
    run->s.cv_err_before = (double) wrong / (double) run->n_fb;
}

static void
fit_close(struct fit_run *run)
{
    fitctx_free(&run->c);
    free(run->beta);
    free(run->mask);
    free(run->all);
    free(run->fb_base);
    adapt_prep_clear(&run->own);
}

/* The global head's error rate on the feedback at the model's threshold
 * (it never saw the feedback); -1 without feedback. */
static double
global_errors(const struct model *m, const struct adapt_example *fb, size_t n_fb)
{
    double thr = m->threshold > 0 && m->threshold < 1
        ? log(m->threshold / (1 - m->threshold)) : 0;
    size_t wrong = 0;

    if (n_fb == 0)
        return -1;
    for (size_t j = 0; j < n_fb; j++)
        wrong += (net_head(m->net.head, m->net.dims.hidden, fb[j].h, fb[j].z) >= thr)
            != (fb[j].spam != 0);
    return (double) wrong / (double) n_fb;
}

/*
 * The staged fit (opts->labels): stage U, this file's fit with no feedback
 * (M0: the reweighted pool's head and the self-trained memory), then stage
 * L on the labels over it (labels_fit).  The prep serves both: its
 * unlabelled part stage U, its CV part stage L's a and lam.
 */
static int
fit_staged(const struct model *m, const char *user_key,
           const struct adapt_example *fb, size_t n_fb,
           const struct adapt_example *unl, size_t n_unl,
           const struct adapt_opts *o, struct adapt_prep *prep,
           struct user_model **out, struct adapt_fit_stats *st)
{
    struct adapt_prep own;
    struct adapt_fit_stats s;
    struct labels_stats ls;
    struct user_model *um0 = NULL;
    double t0 = clock_seconds();
    int rc;

    memset(&own, 0, sizeof(own));
    *out = NULL;
    rc = adapt_fit_prep(m, user_key, NULL, 0, unl, n_unl, o, prep != NULL ? prep : &own,
                        &um0, &s);
    if (rc == 0)
        rc = labels_fit(m, um0, fb, n_fb, o, prep != NULL ? prep : &own, out, &ls);
    user_model_free(um0);
    adapt_prep_clear(&own);
    if (rc != 0)
        return -1;
    s.n_feedback = (uint32_t) n_fb;
    s.cv_err_before = global_errors(m, fb, n_fb);
    s.cv_err_after = ls.cv_err;
    s.cross_validated = ls.cross_validated;
    if (ls.reused)
        s.reused |= ADAPT_REUSED_CV;
    s.labels_identity = ls.identity;
    s.label_a = ls.a;
    s.label_c = ls.c;
    s.label_lam = ls.lam;
    s.label_cv_m0 = ls.cv_loss_m0;
    s.label_cv = ls.cv_loss;
    s.n_learned = ls.n_learned;
    s.n_resid = (*out)->n_resid;
    s.seconds = clock_seconds() - t0;
    if (st != NULL)
        *st = s;
    return 0;
}

int
adapt_fit_prep(const struct model *m, const char *user_key,
               const struct adapt_example *fb, size_t n_fb,
               const struct adapt_example *unl, size_t n_unl,
               const struct adapt_opts *o, struct adapt_prep *prep,
               struct user_model **out, struct adapt_fit_stats *st)
{
    struct fit_run run;
    struct user_model *um = NULL;
    double th[NET_MAX_HIDDEN + 2], t0 = clock_seconds();
    int rc = -1, need_head, need_resid;

    assert(m->net.dims.hidden <= NET_MAX_HIDDEN && o->resid_bits >= 1 && o->resid_bits <= 31);
    if (o->labels && n_fb > 0)
        return fit_staged(m, user_key, fb, n_fb, unl, n_unl, o, prep, out, st);
    memset(&run, 0, sizeof(run));
    run.m = m;
    run.o = o;
    run.prep = prep != NULL ? prep : &run.own;
    run.fb = fb;
    run.n_fb = n_fb;
    run.unl = unl;
    run.n_unl = n_unl;
    run.seed = adapt_user_seed(user_key);
    *out = NULL;
    fit_open(&run, user_key);
    /* What has anything to learn from: the pool reweighted (needs unlabelled
     * mail), the head and residual (need feedback). */
    need_head = (o->use_reweight && run.n_unl >= 2 && m->pool_n > 0)
        || (o->use_head && n_fb > 0);
    need_resid = o->use_resid && (n_fb > 0 || (o->pseudo > 0 && run.n_unl > 0));
    if (!need_head && !need_resid)
        um = global_model(m, run.seed, o->resid_bits);
    else if (fit_weights(&run) == 0 && fit_pseudo(&run) == 0 && fit_memory(&run) == 0
             && fit_context(&run) == 0 && fit_lambda_mu(&run) == 0) {
        fitctx_pool_weights(m->pool_label, o->use_reweight ? run.beta : NULL, m->pool_n, 1,
                            run.c.pool_w);
        if (solve_fit(&run.c, run.c.n_pool, run.c.pool_w, run.mask, run.lam, run.mu, th,
                      run.c.r) == 0)
            um = fit_user_model(&run, th);
    }
    if (um != NULL) {
        fit_report(&run);
        *out = um;
        rc = 0;
    }
    run.s.seconds = clock_seconds() - t0;
    if (st != NULL)
        *st = run.s;
    fit_close(&run);
    return rc;
}
