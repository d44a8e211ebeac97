/*
 * synth.h - synthetic labelled id bags for the network and model tests, so those
 * tests need no parser: spam draws its ids from one range, ham from another, and
 * both share a range of noise ids.  Deterministic (own LCG, seeded).
 * Header-only; the caller frees with synth_free().
 */
#ifndef SPAMSHIFT_TEST_SYNTH_H
#define SPAMSHIFT_TEST_SYNTH_H

#include <stdint.h>
#include <stdlib.h>

#include "net.h"

struct synth {
    struct net_example *ex;
    uint32_t *ids;          /* every example's ids, one allocation */
    size_t n;
};

static uint32_t
synth_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t) (*s >> 33);
}

static int
synth_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return (x > y) - (x < y);
}

/* n_ham + n_spam examples, alternating ham and spam while both last.  Each has `signal` ids
 * from its class range (spam 100000.., ham 200000.., width `width`) and `noise`
 * ids from a shared range (300000.., width `width`), sorted and unique.
 * Returns 0, or -1 on allocation failure. */
static int
synth_make(struct synth *s, size_t n_ham, size_t n_spam, uint32_t signal,
           uint32_t noise, uint32_t width, uint64_t seed)
{
    size_t i, h = 0, sp = 0, per = signal + noise;
    uint64_t st = seed * 2 + 1;

    s->n = n_ham + n_spam;
    s->ex = calloc(s->n + 1, sizeof(*s->ex));
    s->ids = malloc((s->n * per + 1) * sizeof(uint32_t));
    if (s->ex == NULL || s->ids == NULL)
        return -1;
    for (i = 0; i < s->n; i++) {
        uint32_t *ids = s->ids + i * per, k, m = 0, u = 0;
        int spam;

        if (h < n_ham && (sp >= n_spam || i % 2 == 0)) {
            spam = 0;
            h++;
        } else {
            spam = 1;
            sp++;
        }
        for (k = 0; k < signal; k++)
            ids[m++] = (spam ? 100000u : 200000u) + synth_rand(&st) % width;
        for (k = 0; k < noise; k++)
            ids[m++] = 300000u + synth_rand(&st) % width;
        qsort(ids, m, sizeof(uint32_t), synth_cmp);
        for (k = 0; k < m; k++)
            if (u == 0 || ids[u - 1] != ids[k])
                ids[u++] = ids[k];
        s->ex[i].ids = ids;
        s->ex[i].n = u;
        s->ex[i].spam = (uint8_t) spam;
    }
    return 0;
}

static void
synth_free(struct synth *s)
{
    free(s->ex);
    free(s->ids);
    s->ex = NULL;
    s->ids = NULL;
}

/* ROC AUC of scores against labels (ties count one half); O(n^2), small n. */
static double
synth_auc(const float *score, const struct net_example *ex, size_t n)
{
    double num = 0, den = 0;
    size_t i, j;

    for (i = 0; i < n; i++) {
        if (!ex[i].spam)
            continue;
        for (j = 0; j < n; j++) {
            if (ex[j].spam)
                continue;
            den += 1;
            num += score[i] > score[j] ? 1.0 : score[i] == score[j] ? 0.5 : 0.0;
        }
    }
    return den > 0 ? num / den : 0.0;
}

#ifdef SPAMSHIFT_MODEL_H
#include <stdio.h>

/* A small model (lin 2^12, emb 2^10 x 8, hidden 8, 3 epochs) trained on
 * n_each ham and n_each spam synthetic bags from seed, saved as dir/m.model and
 * loaded back (so that it has its id, as in production).  Returns 0 and *out,
 * or -1 with a reason in err.  For the adaptation tests (include model.h first). */
static inline int
synth_small_model(const char *dir, size_t n_each, uint64_t seed, uint32_t pool_max,
                  struct model **out, char *err, size_t errlen)
{
    struct model_train_opts to;
    struct synth train;
    struct model *m;
    char path[256];
    int rc;

    *out = NULL;
    if (synth_make(&train, n_each, n_each, 12, 12, 400, seed) != 0) {
        snprintf(err, errlen, "synth_make: out of memory");
        return -1;
    }
    model_train_opts_default(&to);
    to.dims.lin_bits = 12;
    to.dims.emb_bits = 10;
    to.dims.emb_dim = 8;
    to.dims.hidden = 8;
    to.net.epochs = 3;
    to.pool_max = pool_max;
    m = model_train(train.ex, train.n, &to, err, errlen);
    synth_free(&train);
    if (m == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/m.model", dir);
    rc = model_save(m, path, err, errlen) == 0 ? model_load(path, out, err, errlen) : -1;
    model_free(m);
    return rc;
}
#endif

#endif
