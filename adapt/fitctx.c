/*
 * fitctx.c - the fit context (struct fit_ctx, fitctx.h): one user's problem
 * laid out once for every solver: the head rows (pool then feedback), the
 * labels, the feedback's residual slots compacted to indices, the Gram matrix
 * of the dual and the solvers' scratch.  The context owns all of it;
 * fitctx_free() releases it.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fitctx.h"
#include "score.h"

/* Weight of each pool row: beta times the class-balancing factor. */
void
fitctx_pool_weights(const uint8_t *label, const float *beta, size_t n, size_t stride,
             double *out)
{
    double cnt[2] = { 0, 0 };
    size_t i, m = 0;

    for (i = 0; i < n; i += stride)
        cnt[label[i] ? 1 : 0] += beta != NULL ? beta[i] : 1.0;
    for (i = 0; i < n; i += stride, m++) {
        double c = cnt[label[i] ? 1 : 0];

        out[m] = c > 0 ? (beta != NULL ? beta[i] : 1.0) / (2 * c) : 0;
    }
}

/* The positions 0..n-1 of key[] in ascending key order, equal keys in
 * position order (an LSD radix sort, up to three 11-bit digits; qsort and a binary
 * search per id cost more than the whole residual fit).  ord needs n entries.
 * Returns 0, or -1 on allocation failure. */
static int
slot_order(const uint32_t *key, size_t n, uint32_t *ord)
{
    uint32_t *tmp = malloc((n ? n : 1) * sizeof(uint32_t)), *src = ord, *dst = tmp, kmax = 0;
    size_t cnt[2048], i;
    int shift;

    if (tmp == NULL)
        return -1;
    for (i = 0; i < n; i++) {
        ord[i] = (uint32_t) i;
        kmax = key[i] > kmax ? key[i] : kmax;
    }
    /* as many digits as the largest key has */
    for (shift = 0; shift < 33 && (shift == 0 || (kmax >> shift) != 0); shift += 11) {
        size_t sum = 0;

        memset(cnt, 0, sizeof(cnt));
        for (i = 0; i < n; i++)
            cnt[(key[i] >> shift) & 2047]++;
        for (i = 0; i < 2048; i++) {
            size_t t = cnt[i];

            cnt[i] = sum;
            sum += t;
        }
        for (i = 0; i < n; i++)
            dst[cnt[(key[src[i]] >> shift) & 2047]++] = src[i];
        src = dst;
        dst = src == ord ? tmp : ord;
    }
    if (src != ord)
        memcpy(ord, src, n * sizeof(uint32_t));
    free(tmp);
    return 0;
}

/* The Gram matrix of the feedback's slot vectors, through an inverted index
 * (cost: the sum over slots of the squared number of messages holding it). */
static int
gram_build(struct fit_ctx *c)
{
    size_t n = c->n_fb, m = c->n_slots, nnz = c->fb_off[n], j, k, a, b;
    size_t *start = calloc(m + 1, sizeof(size_t));
    uint32_t *who = malloc((nnz ? nnz : 1) * sizeof(uint32_t));
    double *cnt = malloc((nnz ? nnz : 1) * sizeof(double));

    c->gram = calloc(n > 0 ? n * n : 1, sizeof(double));
    if (start == NULL || who == NULL || cnt == NULL || c->gram == NULL) {
        free(start);
        free(who);
        free(cnt);
        return -1;
    }
    for (k = 0; k < nnz; k++)
        start[c->fb_slot[k] + 1]++;
    for (k = 0; k < m; k++)
        start[k + 1] += start[k];
    for (j = 0; j < n; j++)
        for (k = c->fb_off[j]; k < c->fb_off[j + 1]; k++) {
            cnt[start[c->fb_slot[k]]] = c->fb_cnt[k];
            who[start[c->fb_slot[k]]++] = (uint32_t) j;
        }
    for (k = m; k > 0; k--)
        start[k] = start[k - 1];
    start[0] = 0;
    /* Every pair of holders of a slot adds the product of their counts. */
    for (k = 0; k < m; k++)
        for (a = start[k]; a < start[k + 1]; a++)
            for (b = start[k]; b < start[k + 1]; b++)
                c->gram[(size_t) who[a] * n + who[b]] += cnt[a] * cnt[b];
    for (a = 0; a < n; a++)
        for (b = 0; b < n; b++)
            c->gram[a * n + b] *= c->fb_scale[a] * c->fb_scale[b];
    free(start);
    free(who);
    free(cnt);
    return 0;
}

/* Build the context: rows (the pool's unless !with_pool, then the feedback's),
 * labels, slots.  Returns -1 on allocation failure. */
int
fitctx_build(struct fit_ctx *c, const struct model *m, uint32_t seed,
          const struct adapt_example *fb, size_t n_fb, const struct adapt_opts *o,
          int with_pool)
{
    size_t n_rows, i, j, n_ids = 0, scratch;
    uint32_t p = m->net.dims.hidden + 1, *ord;

    memset(c, 0, sizeof(*c));
    c->hidden = m->net.dims.hidden;
    c->p = p;
    c->o = o;
    c->vg = m->net.head;
    c->n_pool = with_pool ? m->pool_n : 0;
    c->n_fb = n_fb;
    n_rows = c->n_pool + n_fb;
    for (j = 0; j < n_fb; j++)
        n_ids += fb[j].n + (o->learned && o->resid_bits < 31 && fb[j].n > 0);
    c->x = malloc((n_rows ? n_rows : 1) * p * sizeof(float));
    c->y = malloc(n_rows ? n_rows : 1);
    c->pool_w = malloc((c->n_pool ? c->n_pool : 1) * sizeof(double));
    c->fb_off = malloc((n_fb + 1) * sizeof(size_t));
    c->fb_slot = malloc((n_ids ? n_ids : 1) * sizeof(uint32_t));
    c->fb_cnt = malloc((n_ids ? n_ids : 1) * sizeof(double));
    c->slots = malloc((n_ids ? n_ids : 1) * sizeof(uint32_t));
    c->w = malloc((n_rows ? n_rows : 1) * sizeof(double));
    c->off = malloc((n_rows ? n_rows : 1) * sizeof(double));
    if (c->x == NULL || c->y == NULL || c->pool_w == NULL || c->fb_off == NULL
        || c->fb_slot == NULL || c->fb_cnt == NULL || c->slots == NULL || c->w == NULL
        || c->off == NULL)
        return -1;
    if (c->n_pool > 0)
        memcpy(c->x, m->pool_rep, c->n_pool * p * sizeof(float));
    for (i = 0; i < c->n_pool; i++)
        c->y[i] = m->pool_label[i] ? 1 : 0;
    for (j = 0; j < n_fb; j++) {
        float *row = c->x + (c->n_pool + j) * p;

        memcpy(row, fb[j].h, c->hidden * sizeof(float));
        row[c->hidden] = fb[j].z;
        c->y[c->n_pool + j] = fb[j].spam ? 1 : 0;
    }
    /* Slots: every (feedback, id) pair's user slot; then compact them. */
    if ((c->fb_scale = malloc((n_fb ? n_fb : 1) * sizeof(double))) == NULL)
        return -1;
    for (j = 0; j < n_fb; j++)
        c->fb_scale[j] = fb[j].n > 0 ? 1.0 / sqrt((double) fb[j].n) : 0;
    c->fb_off[0] = 0;
    for (j = 0, i = 0; j < n_fb; j++) {
        uint32_t k;

        for (k = 0; k < fb[j].n; k++, i++) {
            c->slots[i] = adapt_resid_slot(fb[j].ids[k], seed, o->resid_bits);
            c->fb_cnt[i] = 1;
        }
        /* The learned slot: one pair counting adapt_learned_reps times. */
        if (o->learned && o->resid_bits < 31 && fb[j].n > 0) {
            c->slots[i] = adapt_learned_slot(fb[j].ids, fb[j].n, seed);
            c->fb_cnt[i++] = adapt_learned_reps(fb[j].n);
        }
        c->fb_off[j + 1] = i;
    }
    /* Compact: slots[] the sorted unique slot numbers, fb_slot[] each pair's
     * index into it. */
    memcpy(c->fb_slot, c->slots, n_ids * sizeof(uint32_t));
    if ((ord = malloc((n_ids ? n_ids : 1) * sizeof(uint32_t))) == NULL
        || slot_order(c->fb_slot, n_ids, ord) < 0) {
        free(ord);
        return -1;
    }
    for (i = 0, j = 0; i < n_ids; i++) {
        uint32_t key = c->fb_slot[ord[i]];

        if (j == 0 || key != c->slots[j - 1])
            c->slots[j++] = key;
        c->fb_slot[ord[i]] = (uint32_t) (j - 1);
    }
    c->n_slots = j;
    free(ord);
    scratch = (c->n_slots > n_fb ? c->n_slots : n_fb) + 1;
    c->hl = malloc(scratch * sizeof(double));
    c->r = malloc(scratch * sizeof(double));
    c->s = malloc(scratch * sizeof(double));
    c->gr = malloc(scratch * sizeof(double));
    c->dr = malloc(scratch * sizeof(double));
    c->hd = malloc(scratch * sizeof(double));
    c->tmp = malloc(scratch * sizeof(double));
    c->rr = malloc(scratch * sizeof(double));
    c->sr = malloc((n_fb + 1) * sizeof(double));
    c->sd = malloc((n_fb + 1) * sizeof(double));
    c->u = malloc((n_fb + 1) * sizeof(double));
    if (c->r == NULL || c->s == NULL || c->gr == NULL || c->dr == NULL || c->hd == NULL
        || c->tmp == NULL || c->rr == NULL || c->hl == NULL || c->sr == NULL
        || c->sd == NULL || c->u == NULL)
        return -1;
    if (linalg_gather_init(&c->hgs, p + 1) < 0)
        return -1;
    c->hg = &c->hgs;
    /* The dual needs an n_fb^2 Gram matrix and an (n_fb + q)^2 solve: beyond
     * opts->dual_max messages the primal Newton-CG (joint_solve/resid_solve) takes over. */
    if (o->use_resid && n_fb > 0 && n_fb <= o->dual_max && gram_build(c) < 0)
        return -1;
    return 0;
}

void
fitctx_free(struct fit_ctx *c)
{
    free(c->x);
    free(c->y);
    free(c->pool_w);
    free(c->slots);
    free(c->fb_slot);
    free(c->fb_cnt);
    free(c->fb_off);
    free(c->w);
    free(c->off);
    free(c->r);
    free(c->s);
    free(c->gr);
    free(c->dr);
    free(c->hd);
    free(c->tmp);
    free(c->rr);
    free(c->hl);
    free(c->sr);
    free(c->sd);
    free(c->u);
    free(c->gram);
    free(c->fb_scale);
    free(c->kinv);
    free(c->kinv_act);
    if (c->hg != NULL)
        linalg_gather_free(c->hg);
}
