/*
 * pool.c - choosing and scoring the source pool of a trained model (pool.h).
 *
 * The choice is a function of (class counts, pool_max, seed) alone, through
 * net_splitmix64(), so the same training gives the same pool, byte for byte,
 * on every platform.  The memory is the model's (model_free() releases it).
 */
#include "config.h"

#include <stdlib.h>

#include "model_int.h"
#include "net.h"
#include "pool.h"

static int
pool_cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *) a, y = *(const size_t *) b;

    return (x > y) - (x < y);
}

/* Choose k of the rows of class cls by a seeded partial Fisher-Yates; appends
 * them to sel (unsorted).  idx is scratch for n_cls entries. */
static size_t
pool_pick(const struct net_example *ex, size_t n_ex, int cls, size_t k, size_t *idx,
          size_t *sel, uint64_t *rng)
{
    size_t n = 0, i;

    for (i = 0; i < n_ex; i++)
        if ((ex[i].spam != 0) == cls)
            idx[n++] = i;
    if (k > n)
        k = n;
    for (i = 0; i < k; i++) {
        size_t r = i + (size_t) (net_splitmix64(rng) % (n - i)), t = idx[i];

        idx[i] = idx[r];
        idx[r] = t;
        sel[i] = idx[i];
    }
    return k;
}

int
pool_build(struct model *m, const struct net_example *ex, size_t n_ex, size_t n_spam,
           uint32_t pool_max, uint64_t seed, unsigned threads)
{
    size_t n_ham = n_ex - n_spam, k_spam, k_ham, i, *idx = NULL, *sel = NULL;
    uint32_t H = m->net.dims.hidden;
    uint64_t rng;
    int ret = -1;

    /* Stratified: each class in its training proportion. */
    if (n_ex <= pool_max) {
        k_spam = n_spam;
        k_ham = n_ham;
    } else {
        k_spam = (size_t) (((double) pool_max * (double) n_spam) / (double) n_ex + 0.5);
        k_ham = pool_max - k_spam;
    }
    if ((idx = malloc(n_ex * sizeof(size_t))) == NULL
        || (sel = malloc((k_spam + k_ham + 1) * sizeof(size_t))) == NULL)
        goto out;
    rng = seed ^ 0x706f6f6cULL;
    k_ham = pool_pick(ex, n_ex, 0, k_ham, idx, sel, &rng);
    k_spam = pool_pick(ex, n_ex, 1, k_spam, idx, sel + k_ham, &rng);
    m->pool_n = (uint32_t) (k_ham + k_spam);
    qsort(sel, m->pool_n, sizeof(size_t), pool_cmp_size);
    m->pool_rep_owned = malloc(((size_t) m->pool_n * (H + 1) + 1) * sizeof(float));
    m->pool_label_owned = malloc((size_t) m->pool_n + 1);
    if (m->pool_rep_owned == NULL || m->pool_label_owned == NULL)
        goto out;
    model_score_rows(m, ex, sel, m->pool_n, NULL, m->pool_rep_owned, threads);
    for (i = 0; i < m->pool_n; i++)
        m->pool_label_owned[i] = ex[sel[i]].spam != 0;
    m->pool_rep = m->pool_rep_owned;
    m->pool_label = m->pool_label_owned;
    ret = 0;
out:
    free(idx);
    free(sel);
    return ret;
}
