/*
 * refit.c - continual adaptation over the store; see refit.h.
 *
 * A refit reads the user's state, feedback and reservoir in one read snapshot,
 * so the fitted model corresponds exactly to the generation it publishes with:
 * feedback that arrives while the fit runs leaves the user dirty for the next
 * round, and a slower refit from an older snapshot cannot overwrite a newer
 * head (store_head_publish() answers STORE_STALE).
 *
 * Representations (h, z) of the user's messages under the base model are the
 * costly part of loading (a body pass per message, more than the fit itself for
 * a full reservoir), so a refit caches in the store those it had to compute; the
 * next refit computes only the messages that arrived since.
 *
 * What the fit derives from the reservoir (instance weights, self-trained
 * memory) and the cross-validated lambda and mu are kept too (the fit cache,
 * adapt's struct adapt_prep): a refit for new feedback, the interactive case,
 * neither reads the reservoir nor redoes that work until dirty_samples new
 * samples arrived, the same count that makes a user dirty by itself.
 */
#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapt.h"
#include "gate.h"
#include "labels.h"
#include "oppoint.h"
#include "refit.h"
#include "sendermem.h"
#include "store.h"
#include "clock.h"

_Static_assert(STORE_DIGEST_LEN == sizeof(((struct features *)0)->digest),
               "the store keys messages by features_extract()'s digest");

/* Missing representations, to cache after the refit. */
struct fresh {
    uint8_t (*digest)[STORE_DIGEST_LEN];
    float *rep;
    size_t n;
};

/* adapt_example rows for samples ss under m: the cached representation when the
 * store has one, else computed (and added to *fr).  NULL on allocation failure
 * (or an empty set: then *ok is still 1). */
static struct adapt_example *
examples(const struct model *m, const struct store_samples *ss, struct fresh *fr,
         int *ok)
{
    uint32_t d = m->net.dims.hidden;
    struct adapt_example *ex;

    *ok = 1;
    memset(fr, 0, sizeof(*fr));
    if (ss->n == 0)
        return NULL;
    ex = calloc(ss->n, sizeof(*ex));
    fr->digest = malloc(ss->n * sizeof(*fr->digest));
    fr->rep = malloc(ss->n * (d + 1) * sizeof(float));
    if (ex == NULL || fr->digest == NULL || fr->rep == NULL) {
        free(ex);
        free(fr->digest);
        free(fr->rep);
        memset(fr, 0, sizeof(*fr));
        *ok = 0;
        return NULL;
    }
    for (size_t i = 0; i < ss->n; i++) {
        const struct store_sample *sm = &ss->v[i];

        ex[i].ids = sm->ids;
        ex[i].n = sm->n;
        ex[i].spam = sm->spam;
        if (sm->rep != NULL && sm->rep_len == d + 1) {
            memcpy(ex[i].h, sm->rep, d * sizeof(float));
            ex[i].z = sm->rep[d];
            continue;
        }
        adapt_represent(m, &ex[i]);
        memcpy(fr->digest[fr->n], sm->digest, STORE_DIGEST_LEN);
        memcpy(fr->rep + fr->n * (d + 1), ex[i].h, d * sizeof(float));
        fr->rep[fr->n * (d + 1) + d] = ex[i].z;
        fr->n++;
    }
    return ex;
}

static void
fresh_free(struct fresh *fr)
{
    free(fr->digest);
    free(fr->rep);
    memset(fr, 0, sizeof(*fr));
}

/* The user's fit cache (struct adapt_prep) as the store holds it, keeping the
 * reservoir part only while fewer than the store's dirty_samples new samples
 * arrived since it was computed (and none left).  Never fails: whatever
 * cannot be read is recomputed. */
static void
prep_load(struct store *s, const struct model *m, const char *user,
          const struct adapt_opts *o, const struct store_user_state *us,
          struct adapt_prep *prep, uint64_t *seen)
{
    void *blob = NULL;
    size_t len = 0;

    memset(prep, 0, sizeof(*prep));
    *seen = 0;
    if (store_fitcache_get(s, user, m->id, seen, &blob, &len) != STORE_OK
        || adapt_prep_decode(blob, len, prep) != 0) {
        free(blob);
        return;
    }
    free(blob);
    if (!adapt_prep_usable(prep, m, user, o))
        adapt_prep_clear(prep);         /* other options: computed afresh */
    else if (us->seen < *seen || us->seen - *seen >= store_dirty_samples(s)
             || us->n_reservoir < prep->n_unl)
        prep->have_unl = 0;
}

/* ss as examples without representations (ids, n and the label only), for
 * the sender memory; NULL when out of memory.  Free with free(). */
static struct adapt_example *
id_examples(const struct store_samples *ss)
{
    struct adapt_example *ex = calloc(ss->n + 1, sizeof(*ex));

    for (size_t i = 0; ex != NULL && i < ss->n; i++) {
        ex[i].ids = ss->v[i].ids;
        ex[i].n = ss->v[i].n;
        ex[i].spam = ss->v[i].spam;
    }
    return ex;
}

/*
 * The sender memory (sendermem.h) of um from the labels fb and the
 * reservoir rs (its ids only), at the model's threshold.  Returns 0, or -1
 * on allocation failure.
 */
static int
refit_memory(const struct model *m, struct user_model *um, const struct adapt_example *fb,
             size_t n_fb, const struct store_samples *rs)
{
    struct adapt_example *ex = id_examples(rs);
    struct sendermem_stats st;
    double thr = m->threshold > 0 && m->threshold < 1
        ? log(m->threshold / (1 - m->threshold)) : 0;
    int rc;

    if (ex == NULL)
        return -1;
    rc = sendermem_fit(m, um, fb, n_fb, ex, rs->n, thr, &st);
    free(ex);
    return rc;
}

/* Whether the labels fb can mark an id for the sender memory
 * (sendermem_may_mark): when not, the memory sets nothing whatever the
 * reservoir, which then need not be read.  1 or 0, or -1 on allocation
 * failure. */
static int
memory_may_mark(const struct store_samples *fb)
{
    struct adapt_example *ex = id_examples(fb);
    int may;

    if (ex == NULL)
        return -1;
    may = sendermem_may_mark(ex, fb->n);
    free(ex);
    return may;
}

#define OOS_FOLDS 5

/* Out-of-sample scores of the feedback fb[0..n) into p: OOS_FOLDS folds by
 * position (the feedback is in digest order), each scored by a user model
 * fitted on the other folds alone, with the lambda and mu the full fit chose
 * and no unlabelled mail.  The full model's own scores of its feedback are no
 * estimate of its rate on new ham: it fitted them, and each learned message has
 * a slot of its own (Enron, the whole first half learned: thresholds of 0.07 to
 * 0.11 and 3.8-5.8% FPR on the second half).  Returns 0, or -1 on allocation
 * failure. */
static int
feedback_oos(const struct model *m, const char *user, const struct adapt_example *fb,
             size_t n, const struct adapt_opts *o, const struct adapt_fit_stats *st,
             float *p)
{
    struct adapt_example *tr = malloc((n + 1) * sizeof(*tr));
    struct adapt_opts fo = *o;

    if (tr == NULL)
        return -1;
    fo.lambda = st->lambda;
    fo.mu = st->mu;
    fo.label_a = (float) st->label_a;
    fo.label_lam = (float) st->label_lam;
    for (size_t k = 0; k < OOS_FOLDS; k++) {
        struct user_model *um = NULL;
        struct adapt_fit_stats fs;
        size_t n_tr = 0;

        for (size_t i = 0; i < n; i++)
            if (i % OOS_FOLDS != k)
                tr[n_tr++] = fb[i];
        if (adapt_fit(m, user, tr, n_tr, NULL, 0, &fo, &um, &fs) != 0) {
            free(tr);
            return -1;
        }
        for (size_t i = k; i < n; i += OOS_FOLDS)
            p[i] = net_sigmoid(adapt_logit(m, um, fb[i].h, fb[i].z, fb[i].ids, fb[i].n));
        user_model_free(um);
    }
    free(tr);
    return 0;
}

int
refit_oppoint(const struct model *m, const char *user, const struct user_model *um,
              const struct adapt_example *fb, size_t n_fb,
              const struct adapt_example *res, size_t n_res, const struct adapt_opts *o,
              const struct adapt_fit_stats *st, struct oppoint_user *op)
{
    float *pf = malloc((n_fb + 1) * sizeof(*pf)), *pr = malloc((n_res + 1) * sizeof(*pr));
    uint8_t *lab = malloc(n_fb + 1);
    size_t n_ham = 0;
    int rc = -1, oos = 0;

    if (pf != NULL && pr != NULL && lab != NULL) {
        for (size_t i = 0; i < n_fb; i++) {
            pf[i] = net_sigmoid(adapt_logit(m, um, fb[i].h, fb[i].z, fb[i].ids, fb[i].n));
            lab[i] = fb[i].spam;
            n_ham += !fb[i].spam;
        }
        /* The out-of-sample fits cost seconds for thousands of labels (Enron
         * enron4, 2912 labels: a refit 0.27 s -> 10.5 s), so only once the
         * feedback can place the default target; below that the feedback does
         * not place the threshold at all (in sample it would be far too low). */
        oos = (double)n_ham * OPPOINT_TARGET_DEFAULT >= OPPOINT_FB_MIN_FP;
        if (oos && feedback_oos(m, user, fb, n_fb, o, st, pf) != 0)
            goto out;
        /* A reservoir sample the user also taught is scored without its
         * learned slot: the threshold is placed on how the model scores new
         * mail, not on the messages it memorised (Enron LOO enron3, 200
         * labels, M0 kept: the learned slots alone moved its FPR 1.64% ->
         * 1.94%). */
        for (size_t i = 0; i < n_res; i++)
            pr[i] = net_sigmoid((float) (adapt_logit(m, um, res[i].h, res[i].z, res[i].ids,
                                                     res[i].n)
                                         - adapt_learned_share(um, res[i].ids, res[i].n)));
        rc = oos ? oppoint_fit(pf, lab, n_fb, pr, n_res, op)
                 : oppoint_fit(NULL, NULL, 0, pr, n_res, op);
        if (!oos) {
            op->n_ham = (uint32_t)n_ham;
            op->n_spam = (uint32_t)(n_fb - n_ham);
        }
    }
out:
    free(pf);
    free(pr);
    free(lab);
    return rc;
}

/*
 * The publish gate (refit.h): the current model's and the refit's FPR
 * estimated on the reservoir res, each at its own threshold for the default
 * target, the current model the judge.  When the refit is worse, *um and
 * r->op become the current model with the labels' learned slots, the sender
 * memory from the labels and rs (the reservoir's rows) and its operating points.  Returns 0, or -1 on allocation or store failure
 * (reason in err).
 */
static int
refit_gate(struct store *s, const struct model *m, const char *user,
           const struct adapt_opts *o, const struct adapt_example *fb, size_t n_fb,
           const struct adapt_example *res, size_t n_res, const struct store_samples *rs,
           struct user_model **um, struct refit_result *r, char *err, size_t errlen)
{
    struct user_model *cur = NULL, *keep;
    struct oppoint_user cur_op;
    float thr_cur, thr_new;
    int rc = refit_load_user_model(s, m, user, &cur, err, errlen);

    if (rc != STORE_OK && rc != STORE_NOTFOUND)
        return -1;
    if (refit_load_oppoint(s, m, user, &cur_op, err, errlen) == STORE_ERR) {
        user_model_free(cur);
        return -1;
    }
    thr_cur = oppoint_lookup(&cur_op, OPPOINT_TARGET_DEFAULT, m->threshold, NULL);
    thr_new = oppoint_lookup(&r->op, OPPOINT_TARGET_DEFAULT, m->threshold, NULL);
    r->gate_fpr_before = gate_fpr(m, cur, cur, thr_cur, res, n_res);
    r->gate_fpr_after = gate_fpr(m, cur, *um, thr_new, res, n_res);
    if (r->gate_fpr_before >= 0 && r->gate_fpr_after > r->gate_fpr_before + GATE_FPR_TOL) {
        if ((keep = labels_keep(m, cur, adapt_user_seed(user), o->resid_bits, fb,
                                n_fb)) == NULL || refit_memory(m, keep, fb, n_fb, rs) != 0) {
            user_model_free(keep);
            user_model_free(cur);
            snprintf(err, errlen, "%s: out of memory", user);
            return -1;
        }
        user_model_free(*um);
        *um = keep;
        r->op = cur_op;
        r->refused = 1;
    }
    user_model_free(cur);
    return 0;
}

/* After a publish, best effort: the representations computed afresh and the
 * fit cache; what cannot be written now is recomputed next time. */
static void
refit_save_cache(struct store *s, const struct model *m, const char *user,
                 const struct fresh *ffb, const struct fresh *fres,
                 const struct adapt_prep *prep, uint64_t prep_seen)
{
    void *blob = NULL;
    size_t len = 0;

    if (prep->changed && (blob = adapt_prep_encode(prep, &len)) == NULL)
        len = 0;
    if ((ffb->n + fres->n > 0 || blob != NULL) && store_begin(s) == STORE_OK) {
        uint32_t dim = m->net.dims.hidden + 1;

        if (store_reps_put(s, user, STORE_FEEDBACK, m->id, ffb->digest, ffb->rep, dim,
                           ffb->n) == STORE_OK &&
            store_reps_put(s, user, STORE_RESERVOIR, m->id, fres->digest, fres->rep, dim,
                           fres->n) == STORE_OK &&
            (blob == NULL || store_fitcache_put(s, user, m->id, prep_seen, blob,
                                                len) == STORE_OK))
            store_commit(s);
        else
            store_rollback(s);
    }
    free(blob);
}

int
refit_user(struct store *s, const struct model *m, const char *user,
           const struct adapt_opts *o, int dry_run, struct refit_result *r,
           char *err, size_t errlen)
{
    struct store_samples fb = { 0 }, res = { 0 }, mres = { 0 };
    struct store_user_state us;
    struct adapt_example *efb = NULL, *eres = NULL;
    struct fresh ffb = { 0 }, fres = { 0 };
    struct user_model *um = NULL;
    struct adapt_prep prep;
    struct oppoint_user prev_op;
    uint64_t prep_seen = 0;
    void *blob = NULL;
    size_t len = 0;
    double t0 = clock_seconds();
    int rc, known, ok1, ok2, unl_cached, may = 0;

    memset(r, 0, sizeof(*r));
    memset(&prep, 0, sizeof(prep));
    if ((rc = store_begin_read(s)) != STORE_OK)
        goto fail;
    rc = store_user_state(s, user, &us);
    known = rc == STORE_OK;
    if (known)
        prep_load(s, m, user, o, &us, &prep, &prep_seen);
    if (rc == STORE_OK || rc == STORE_NOTFOUND)
        rc = store_feedback_list(s, user, m->id, &fb);
    /* The reservoir is read only when the cache cannot stand for it; then the
     * operating points' unlabelled part is kept from the last refit instead
     * (reading 2000 samples to place it again doubled an interactive refit:
     * 25 -> 55 ms on Enron). */
    unl_cached = prep.have_unl;
    if (rc == STORE_OK && !unl_cached)
        rc = store_reservoir_list(s, user, m->id, &res);
    /* ... but the sender memory reads its ids whenever labels can mark one:
     * the ids alone (model id NULL: no representations), all it reads */
    if (rc == STORE_OK && unl_cached && (may = memory_may_mark(&fb)) != 0)
        rc = may < 0 ? STORE_ERR : store_reservoir_list(s, user, NULL, &mres);
    if (rc == STORE_OK && unl_cached) {
        rc = refit_load_oppoint(s, m, user, &prev_op, err, errlen);
        if (rc == STORE_NOTFOUND)
            rc = STORE_OK;
    }
    store_end_read(s);
    if (may < 0) {
        snprintf(err, errlen, "%s: out of memory", user);
        goto out;
    }
    if (rc != STORE_OK)
        goto fail;

    efb = examples(m, &fb, &ffb, &ok1);
    eres = examples(m, &res, &fres, &ok2);
    if (!ok1 || !ok2) {
        snprintf(err, errlen, "%s: out of memory", user);
        rc = STORE_ERR;
        goto out;
    }
    for (size_t i = 0; i < fb.n; i++)
        fb.v[i].spam ? r->n_spam++ : r->n_ham++;
    r->n_represented = (uint32_t)(ffb.n + fres.n);
    if (adapt_fit_prep(m, user, efb, fb.n, eres, res.n, o, &prep, &um, &r->fit) != 0) {
        snprintf(err, errlen, "%s: out of memory fitting", user);
        rc = STORE_ERR;
        goto out;
    }
    r->n_reservoir = r->fit.n_unlabelled;
    if (refit_memory(m, um, efb, fb.n, unl_cached ? &mres : &res) != 0) {
        snprintf(err, errlen, "%s: out of memory fitting the sender memory", user);
        rc = STORE_ERR;
        goto out;
    }
    if (refit_oppoint(m, user, um, efb, fb.n, eres, res.n, o, &r->fit, &r->op) != 0) {
        snprintf(err, errlen, "%s: out of memory placing the threshold", user);
        rc = STORE_ERR;
        goto out;
    }
    if (unl_cached)
        oppoint_keep_unlabelled(&r->op, &prev_op);
    r->gate_fpr_before = r->gate_fpr_after = -1;
    if (known && !unl_cached && res.n >= OPPOINT_UNL_MIN
        && refit_gate(s, m, user, o, efb, fb.n, eres, res.n, &res, &um, r, err, errlen) != 0) {
        rc = STORE_ERR;
        goto out;
    }
    if (dry_run || !known) {
        r->published = 0;
        rc = STORE_OK;
        goto out;
    }
    if ((blob = user_model_encode(um, &len)) != NULL) {
        void *with = oppoint_blob_append(blob, len, &r->op, &len);

        free(blob);
        blob = with;
    }
    if (blob == NULL) {
        snprintf(err, errlen, "%s: out of memory encoding the model", user);
        rc = STORE_ERR;
        goto out;
    }
    {
        struct store_refit rec = {
            .n_feedback = (uint32_t)fb.n, .n_unlabelled = r->fit.n_unlabelled,
            .domain_auc = r->fit.domain_auc, .ess = r->fit.ess,
            .cv_err_before = r->fit.cv_err_before, .cv_err_after = r->fit.cv_err_after,
            .ms = (clock_seconds() - t0) * 1e3,
        };

        rc = store_head_publish(s, user, m->id, blob, len, &us, &rec, &r->version);
    }
    if (rc == STORE_STALE) {
        r->published = -1;
        rc = STORE_OK;
    } else if (rc == STORE_OK)
        r->published = 1;
    else
        goto fail;
    if (!(r->fit.reused & ADAPT_REUSED_UNL))
        prep_seen = us.seen;
    refit_save_cache(s, m, user, &ffb, &fres, &prep, prep_seen);
    goto out;
fail:
    snprintf(err, errlen, "%s", store_errmsg(s));
out:
    r->ms = (clock_seconds() - t0) * 1e3;
    free(blob);
    user_model_free(um);
    adapt_prep_clear(&prep);
    free(efb);
    free(eres);
    fresh_free(&ffb);
    fresh_free(&fres);
    store_samples_free(&fb);
    store_samples_free(&res);
    store_samples_free(&mres);
    return rc;
}

int
refit_claim_next(struct store *s, const struct model *m, const struct adapt_opts *o,
                 unsigned lease_s, char **last, refit_report_fn fn, void *arg, char *err,
                 size_t errlen)
{
    struct refit_result r;
    char uerr[512] = "";
    char *user;
    int rc = store_dirty_claim(s, m->id, *last, lease_s, &user);

    if (rc == STORE_NOTFOUND)
        return -1;
    if (rc != STORE_OK) {
        snprintf(err, errlen, "%s", store_errmsg(s));
        return -2;
    }
    rc = refit_user(s, m, user, o, 0, &r, uerr, sizeof(uerr));
    /* A publish gave the claim back in its transaction; otherwise it goes back
     * now, and when that fails (the server went away) its lease ends it. */
    if (rc != STORE_OK || r.published != 1)
        (void)store_claim_release(s, user);
    if (fn != NULL)
        fn(arg, user, rc, &r, uerr);
    free(*last);
    *last = user;
    return rc == STORE_OK;
}

long
refit_dirty(struct store *s, const struct model *m, const struct adapt_opts *o,
            size_t max, unsigned lease_s, int dry_run, refit_report_fn fn, void *arg,
            size_t *n_failed, char *err, size_t errlen)
{
    char **users = NULL, *last = NULL;
    size_t n = 0, failed = 0;
    long done = 0;
    int rc = 0;

    if (n_failed != NULL)
        *n_failed = 0;
    if (!dry_run) {
        while ((max == 0 || (size_t)done + failed < max)
               && (rc = refit_claim_next(s, m, o, lease_s, &last, fn, arg, err, errlen)) >= 0) {
            if (rc == 1)
                done++;
            else
                failed++;
        }
        free(last);
        if (n_failed != NULL)
            *n_failed = failed;
        return rc == -2 ? -1 : done;
    }
    if (store_dirty_list(s, m->id, max, &users, &n) != STORE_OK) {
        snprintf(err, errlen, "%s", store_errmsg(s));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        struct refit_result r;
        char uerr[512] = "";

        rc = refit_user(s, m, users[i], o, 1, &r, uerr, sizeof(uerr));
        if (rc == STORE_OK)
            done++;
        else
            failed++;
        if (fn != NULL)
            fn(arg, users[i], rc, &r, uerr);
        /* The server is gone: the others stay dirty for a later round rather
         * than each fail the same way. */
        if (rc == STORE_EDOWN)
            break;
    }
    store_strv_free(users);
    if (n_failed != NULL)
        *n_failed = failed;
    return done;
}

int
refit_load_user_model(struct store *s, const struct model *m, const char *user,
                      struct user_model **um, char *err, size_t errlen)
{
    struct user_model *fresh;
    uint64_t have = *um != NULL ? (*um)->version : 0, version;
    struct oppoint_user op;
    void *blob;
    size_t len;
    int rc = store_head_get(s, user, m->id, have, &blob, &len, &version);

    if (rc == STORE_NOTFOUND) {
        *um = user_model_free(*um);
        return STORE_NOTFOUND;
    }
    if (rc != STORE_OK) {
        snprintf(err, errlen, "%s", store_errmsg(s));
        return rc;
    }
    if (blob == NULL)
        return STORE_OK;                /* the cached copy is current */
    oppoint_blob_split(blob, len, &op, &len);
    fresh = user_model_decode(blob, len);
    free(blob);
    if (fresh == NULL) {
        snprintf(err, errlen, "user %s: stored model (version %llu) is corrupt",
                 user, (unsigned long long)version);
        return STORE_ERR;
    }
    if (fresh->hidden != m->net.dims.hidden) {
        snprintf(err, errlen, "user %s: stored model has %u hidden units, the base "
                 "model %u", user, fresh->hidden, m->net.dims.hidden);
        user_model_free(fresh);
        return STORE_ERR;
    }
    fresh->version = version;
    user_model_free(*um);
    *um = fresh;
    return STORE_OK;
}

int
refit_load_oppoint(struct store *s, const struct model *m, const char *user,
                   struct oppoint_user *op, char *err, size_t errlen)
{
    void *blob = NULL;
    size_t len = 0, um_len;
    uint64_t version;
    int rc = store_head_get(s, user, m->id, 0, &blob, &len, &version);

    oppoint_blob_split(NULL, 0, op, &um_len);
    if (rc == STORE_OK)
        oppoint_blob_split(blob, len, op, &um_len);
    else if (rc != STORE_NOTFOUND)
        snprintf(err, errlen, "%s", store_errmsg(s));
    free(blob);
    return rc;
}

int
refit_user_threshold(struct store *s, const struct model *m, const char *user,
                     double target, float *thr, int *source, double *target_used,
                     char *err, size_t errlen)
{
    struct oppoint_user op;
    double own, t;
    int rc = store_threshold_get(s, user, &own);

    if (target_used != NULL)
        *target_used = target;
    if (rc == STORE_OK) {
        *thr = (float)own;
        *source = OPPOINT_OVERRIDE;
        return STORE_OK;
    }
    if (rc != STORE_NOTFOUND) {
        snprintf(err, errlen, "%s", store_errmsg(s));
        return rc;
    }
    /* The user's own target, else the caller's (the site's). */
    if ((rc = store_target_fpr_get(s, user, &t)) == STORE_OK) {
        target = t;
        if (target_used != NULL)
            *target_used = t;
    }
    else if (rc != STORE_NOTFOUND) {
        snprintf(err, errlen, "%s", store_errmsg(s));
        return rc;
    }
    rc = refit_load_oppoint(s, m, user, &op, err, errlen);
    if (rc != STORE_OK && rc != STORE_NOTFOUND)
        return rc;
    *thr = oppoint_lookup(&op, target, m->threshold, source);
    return STORE_OK;
}

int
refit_observe(struct store *s, const char *user, const struct features *f, int *kept)
{
    return store_reservoir_offer(s, user, f->digest, f->ids, f->n, kept);
}
