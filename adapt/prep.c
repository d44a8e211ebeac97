/*
 * prep.c - the fit cache (struct adapt_prep, adapt.h): what a refit keeps of
 * the previous one, whether it still applies (the fingerprint of model and
 * options, the user's seed), and its little-endian blob for the store.
 * The caller owns the prep; adapt_prep_clear() frees what it holds.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "adapt.h"
#include "le.h"
#include "prep.h"

#define PREP_MAGIC 0x52505053u      /* "SPPR" little-endian */
#define PREP_BLOB_VERSION 1u

/* A bounded cursor over a blob: writes and reads past the end set bad
 * instead of touching memory. */
struct cursor {
    uint8_t *w;                 /* writing, else NULL */
    const uint8_t *r;
    size_t len, at;
    int bad;
};

static uint8_t *
cur_room(struct cursor *k, size_t n)
{
    uint8_t *p;

    if (k->bad || k->len - k->at < n) {
        k->bad = 1;
        return NULL;
    }
    p = (k->w != NULL ? k->w : (uint8_t *) (uintptr_t) k->r) + k->at;
    k->at += n;
    return p;
}

static void
cur_u32(struct cursor *k, uint32_t *v)
{
    uint8_t *p = cur_room(k, 4);

    if (p == NULL)
        *v = 0;
    else if (k->w != NULL)
        le_put32(p, *v);
    else
        *v = le_get32(p);
}

static void
cur_f32(struct cursor *k, float *f)
{
    uint32_t v;

    memcpy(&v, f, 4);
    cur_u32(k, &v);
    memcpy(f, &v, 4);
    k->bad |= !isfinite(*f);
}

static void
cur_u64(struct cursor *k, uint64_t *v)
{
    uint32_t lo = (uint32_t) *v, hi = (uint32_t) (*v >> 32);

    cur_u32(k, &lo);
    cur_u32(k, &hi);
    *v = (uint64_t) lo | (uint64_t) hi << 32;
}

static void
cur_f64(struct cursor *k, double *d)
{
    uint64_t v;

    memcpy(&v, d, 8);
    cur_u64(k, &v);
    memcpy(d, &v, 8);
    k->bad |= !isfinite(*d);
}

/* Every field of prep through k, in the blob's order (both directions). */
static void
prep_fields(struct cursor *k, struct adapt_prep *pr)
{
    uint32_t magic = PREP_MAGIC, version = PREP_BLOB_VERSION, flags, a;
    struct adapt_domain *d = &pr->dom;

    flags = (pr->have_unl ? 1u : 0) | (pr->have_cv ? 2u : 0) | (pr->have_quad ? 4u : 0);
    cur_u32(k, &magic);
    cur_u32(k, &version);
    if (magic != PREP_MAGIC || version != PREP_BLOB_VERSION)
        k->bad = 1;
    cur_u64(k, &pr->fingerprint);
    cur_u32(k, &pr->hidden);
    cur_u32(k, &pr->seed);
    cur_u32(k, &flags);
    if (flags > 7 || pr->hidden > NET_MAX_HIDDEN)
        k->bad = 1;
    pr->have_unl = (flags & 1u) != 0;
    pr->have_cv = (flags & 2u) != 0;
    pr->have_quad = (flags & 4u) != 0 && !k->bad;
    cur_u32(k, &pr->n_unl);
    cur_u32(k, &pr->n_pseudo);
    cur_u32(k, &pr->cv_n);
    cur_f64(k, &pr->lambda);
    cur_f64(k, &pr->mu);
    cur_f64(k, &pr->cv_err);
    cur_f64(k, &d->auc);
    cur_f64(k, &d->ess);
    cur_f64(k, &d->scale);
    cur_f32(k, &d->clip);
    cur_u32(k, &d->n_clipped);
    cur_u32(k, &d->p);
    if (d->p != 0 && d->p != pr->hidden + 1)
        k->bad = 1;
    for (a = 0; a < d->p && !k->bad; a++) {
        cur_f64(k, &d->mean[a]);
        cur_f64(k, &d->isd[a]);
    }
    for (a = 0; a < d->p + (d->p != 0) && !k->bad; a++)
        cur_f64(k, &d->theta[a]);
    if (pr->have_quad) {
        size_t q = pr->hidden + 2, nq = 1 + q + q * q;

        if (k->w == NULL && (pr->quad = malloc(nq * sizeof(double))) == NULL)
            k->bad = 1;
        for (a = 0; a < nq && !k->bad; a++)
            cur_f64(k, &pr->quad[a]);
    }
    cur_u32(k, &pr->n_mem);
    if (k->w == NULL && !k->bad) {
        /* reading: the pairs must fit in what is left (then allocate) */
        if ((uint64_t) pr->n_mem * 8 + 4 != k->len - k->at) {
            k->bad = 1;
            return;
        }
        pr->mem_slot = malloc((pr->n_mem ? pr->n_mem : 1) * sizeof(uint32_t));
        pr->mem_w = malloc((pr->n_mem ? pr->n_mem : 1) * sizeof(float));
        if (pr->mem_slot == NULL || pr->mem_w == NULL) {
            k->bad = 1;
            return;
        }
    }
    for (a = 0; a < pr->n_mem && !k->bad; a++) {
        cur_u32(k, &pr->mem_slot[a]);
        cur_f32(k, &pr->mem_w[a]);
        if (a > 0 && pr->mem_slot[a] <= pr->mem_slot[a - 1])
            k->bad = 1;
    }
}

/* Layout: prep_fields()' order, little-endian, then XXH32 of all before it. */
void *
adapt_prep_encode(const struct adapt_prep *prep, size_t *len)
{
    struct adapt_prep copy = *prep;
    size_t q = prep->hidden + 2;
    size_t n = 128 + (size_t) prep->dom.p * 24 + 8 + (size_t) prep->n_mem * 8 + 4
        + (prep->have_quad ? (1 + q + q * q) * 8 : 0);
    struct cursor k = { 0 };

    if ((k.w = malloc(n)) == NULL)
        return NULL;
    k.len = n;
    prep_fields(&k, &copy);
    if (k.bad || k.len - k.at < 4) {
        free(k.w);
        return NULL;
    }
    le_put32(k.w + k.at, XXH32(k.w, k.at, 0));
    *len = k.at + 4;
    return k.w;
}

int
adapt_prep_decode(const void *blob, size_t len, struct adapt_prep *prep)
{
    struct cursor k = { 0 };

    memset(prep, 0, sizeof(*prep));
    if (blob == NULL || len < 8 || XXH32(blob, len - 4, 0) != le_get32((const uint8_t *) blob + len - 4)) {
        return -1;
    }
    k.r = blob;
    k.len = len;
    prep_fields(&k, prep);
    if (k.bad || k.at != len - 4) {
        adapt_prep_clear(prep);
        return -1;
    }
    return 0;
}

/* Whether pseudo-labelled mail joins the feedback (instead of training the
 * self-trained memory): then a fit reads the unlabelled mail itself, and the
 * prep keeps no unlabelled side. */
static int
pseudo_joins_feedback(const struct adapt_opts *o)
{
    return o->pseudo > 0 && o->pseudo_max > 0 && (o->use_resid || o->use_head)
        && !(o->pseudo_self > 0 && o->use_resid);
}

/* What a prep depends on besides the user's mail: the base model (its id names
 * its pool and head) and every option.  Computed without allocating: a
 * failed allocation must not make a prep look foreign. */
uint64_t
adapt_prep_fingerprint(const struct model *m, const struct adapt_opts *o)
{
    float f[] = { o->clip, o->domain_l2, o->lambda, o->mu, o->resid_l2, o->pseudo,
                  o->pseudo_conf, o->pseudo_self, o->pseudo_l2, o->label_a, o->label_lam };
    uint32_t u[] = { o->resid_bits, o->cv_min, o->cv_pool_max, o->cv_fb_max,
                     o->pseudo_max, o->pseudo_keep, (uint32_t) o->learned, o->dual_max,
                     (uint32_t) o->use_reweight, (uint32_t) o->use_head,
                     (uint32_t) o->use_resid, (uint32_t) o->labels, m->net.dims.hidden,
                     m->pool_n };
    uint8_t buf[sizeof(m->id) + sizeof(f) + sizeof(u)];
    size_t idlen = strnlen(m->id, sizeof(m->id));

    memset(buf, 0, sizeof(buf));
    memcpy(buf, m->id, idlen);
    memcpy(buf + sizeof(m->id), f, sizeof(f));
    memcpy(buf + sizeof(m->id) + sizeof(f), u, sizeof(u));
    return XXH64(buf, sizeof(buf), 0x5350524550ull) | 1;     /* 0 is "none" */
}

int
adapt_prep_usable(const struct adapt_prep *prep, const struct model *m,
                  const char *user_key, const struct adapt_opts *o)
{
    return prep->fingerprint == adapt_prep_fingerprint(m, o)
        && prep->hidden == m->net.dims.hidden
        && prep->seed == adapt_user_seed(user_key)
        && !pseudo_joins_feedback(o)
        && !(prep->n_mem > 0 && prep->mem_slot[prep->n_mem - 1] >> o->resid_bits != 0);
}

void
adapt_prep_clear(struct adapt_prep *prep)
{
    free(prep->mem_slot);
    free(prep->mem_w);
    free(prep->quad);
    memset(prep, 0, sizeof(*prep));
}

/* Feedback counts at which cross-validated lambda and mu still hold: from the
 * count they were chosen at until it has grown by a quarter. */
int
adapt_prep_cv_current(const struct adapt_prep *prep, size_t n_fb)
{
    size_t n = prep->cv_n, grow = n / 4 > 1 ? n / 4 : 1;

    return prep->have_cv && n_fb >= n && n_fb < n + grow;
}

void
adapt_prep_keep_cv(struct adapt_prep *prep, size_t n_fb, double lambda, double mu, double err)
{
    prep->have_cv = 1;
    prep->changed = 1;
    prep->cv_n = (uint32_t)n_fb;
    prep->lambda = lambda;
    prep->mu = mu;
    prep->cv_err = err;
}
