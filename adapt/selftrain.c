/*
 * selftrain.c - the self-trained token memory (selftrain_fit): the residual
 * alone fitted on pseudo-labelled unlabelled mail; its score on a message;
 * its merge into the user's residual.  The caller owns the memory's arrays.
 */
#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fitctx.h"
#include "resid.h"
#include "selftrain.h"

/* The k-th largest (from 0) of v[0..n), k < n: what v[k] would be after a
 * descending sort, found by selection in O(n) (v is reordered). */
static double
kth_largest(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;

    assert(k < n);
    while (lo < hi) {
        double piv = v[lo + (hi - lo) / 2];
        size_t i = lo, j = hi;

        /* Hoare partition, descending: [lo, j] >= piv >= [i, hi] */
        while (i <= j) {
            while (v[i] > piv)
                i++;
            while (v[j] < piv)
                j--;
            if (i <= j) {
                double t = v[i];

                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0)
                    break;
                j--;
            }
        }
        if (k <= j && j != (size_t) -1)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/* 1 when the pseudo-labels ex[0..n) hold both classes, the smaller with at
 * least SELF_MIN_CLASS messages and SELF_MIN_SHARE of them.  A memory fitted
 * on one class learns no token that tells this user's ham from its spam: it
 * puts the class's weight on the words every message carries ("the",
 * hdr:from), which lifts all of the user's scores alike, ham too.  So it was
 * on Enron -> SA (505 pseudo-labels, every one spam: +0.85 on every logit,
 * FPR at the model's threshold 3.61% -> 6.86%). */
static int
two_classes(const struct adapt_example *ex, size_t n)
{
    size_t n_spam = 0, fewer;

    for (size_t j = 0; j < n; j++)
        n_spam += ex[j].spam != 0;
    fewer = n_spam < n - n_spam ? n_spam : n - n_spam;
    return fewer >= SELF_MIN_CLASS && (double) fewer >= SELF_MIN_SHARE * (double) n;
}

/*
 * Self-training: the residual alone, fitted on n pseudo-labelled messages
 * against offsets pseudo_self times the global head's logit (each message at
 * weight opts->pseudo, L2 opts->pseudo_l2), by Newton-CG.  With pseudo_self
 * below 1 the confident messages still carry a gradient, so the memory learns
 * which tokens this user's ham and spam carry.  Fills mem's residual (slots
 * sorted, seed and bits set).  Returns 0, or -1 on allocation failure.
 */
int
selftrain_fit(const struct model *m, uint32_t seed, const struct adapt_example *ex, size_t n,
           const struct adapt_opts *o, struct user_model *mem)
{
    struct adapt_opts po = *o;
    struct fit_ctx c;
    double *a = NULL, *mask = NULL;
    size_t j, k, nz = 0;
    int rc = -1;

    if (!two_classes(ex, n))
        n = 0;                          /* an empty memory */
    po.dual_max = 0;                    /* no Gram matrix: Newton-CG */
    po.learned = 0;                     /* pseudo-labels are not learned messages */
    if (fitctx_build(&c, m, seed, ex, n, &po, 0) < 0)     /* the residual alone: no pool */
        goto out;
    a = malloc((n + 1) * sizeof(double));
    mask = malloc((n + 1) * sizeof(double));
    if (a == NULL || mask == NULL)
        goto out;
    for (j = 0; j < n; j++) {
        a[j] = o->pseudo_self * net_head(m->net.head, c.hidden, ex[j].h, ex[j].z);
        mask[j] = o->pseudo;
    }
    memset(c.r, 0, c.n_slots * sizeof(double));
    resid_solve(&c, a, mask, o->pseudo_l2, c.r, SELF_GTOL);
    if (o->pseudo_keep > 0 && c.n_slots > o->pseudo_keep) {
        /* keep the pseudo_keep largest weights: the cut is the pseudo_keep-th
         * largest |r| (ties kept) */
        double *mag = malloc(c.n_slots * sizeof(double)), cut;

        if (mag == NULL)
            goto out;
        for (k = 0; k < c.n_slots; k++)
            mag[k] = fabs(c.r[k]);
        cut = kth_largest(mag, c.n_slots, o->pseudo_keep - 1);
        free(mag);
        for (k = 0; k < c.n_slots; k++)
            if (fabs(c.r[k]) < cut)
                c.r[k] = 0;
    }
    for (k = 0; k < c.n_slots; k++)
        nz += (float) c.r[k] != 0.0f;
    mem->seed = seed;
    mem->resid_bits = o->resid_bits;
    mem->resid_slot = malloc((nz ? nz : 1) * sizeof(uint32_t));
    mem->resid_w = malloc((nz ? nz : 1) * sizeof(float));
    if (mem->resid_slot == NULL || mem->resid_w == NULL)
        goto out;
    for (k = 0; k < c.n_slots; k++)
        if ((float) c.r[k] != 0.0f) {
            mem->resid_slot[mem->n_resid] = c.slots[k];
            mem->resid_w[mem->n_resid++] = (float) c.r[k];
        }
    rc = 0;
out:
    fitctx_free(&c);
    free(a);
    free(mask);
    return rc;
}

/* The residual part of a message's logit under mem. */
double
selftrain_logit(const struct user_model *mem, const uint32_t *ids, size_t n)
{
    double t = 0;
    size_t i;

    if (mem->n_resid == 0 || n == 0)
        return 0;
    for (i = 0; i < n; i++)
        t += user_model_slot_weight(mem, adapt_resid_slot(ids[i], mem->seed, mem->resid_bits));
    return t / sqrt((double) n);
}

/* um's residual += add's (same seed and bits): a merge of two sorted lists. */
int
selftrain_merge(struct user_model *um, const struct user_model *add)
{
    size_t n = um->n_resid + add->n_resid, i = 0, j = 0, k = 0;
    uint32_t *slot = malloc((n ? n : 1) * sizeof(uint32_t));
    float *w = malloc((n ? n : 1) * sizeof(float));

    if (slot == NULL || w == NULL) {
        free(slot);
        free(w);
        return -1;
    }
    while (i < um->n_resid || j < add->n_resid) {
        if (j == add->n_resid || (i < um->n_resid && um->resid_slot[i] < add->resid_slot[j])) {
            slot[k] = um->resid_slot[i];
            w[k] = um->resid_w[i++];
        } else if (i == um->n_resid || add->resid_slot[j] < um->resid_slot[i]) {
            slot[k] = add->resid_slot[j];
            w[k] = add->resid_w[j++];
        } else {
            slot[k] = um->resid_slot[i];
            w[k] = um->resid_w[i++] + add->resid_w[j++];
        }
        k++;
    }
    free(um->resid_slot);
    free(um->resid_w);
    um->resid_slot = slot;
    um->resid_w = w;
    um->n_resid = (uint32_t) k;
    return 0;
}

size_t
selftrain_candidates(const struct model *m, const struct adapt_example *unl, size_t n,
                     double conf)
{
    size_t n_cand = 0, j;

    for (j = 0; j < n; j++)
        n_cand += fabs(net_head(m->net.head, m->net.dims.hidden, unl[j].h, unl[j].z)) >= conf;
    return n_cand;
}

size_t
selftrain_pick(const struct model *m, const struct adapt_example *unl, size_t n,
               double conf, size_t n_cand, size_t n_ps, struct adapt_example *out)
{
    size_t seen = 0, taken = 0, j;

    /* candidate number seen is taken when it crosses the next multiple of
     * n_cand / n_ps: an even spread, deterministic */
    for (j = 0; j < n && taken < n_ps; j++) {
        float l = net_head(m->net.head, m->net.dims.hidden, unl[j].h, unl[j].z);

        if (fabs(l) < conf)
            continue;
        if ((seen++ * n_ps) / n_cand == taken) {
            out[taken] = unl[j];
            out[taken].spam = l > 0;
            taken++;
        }
    }
    return taken;
}
