/*
 * counts.c - the token-count table and its Fisher log-odds; see counts.h.
 *
 * Why it is there (bench/results/base-tail-2026-12-07.md, base-count-2026-12-07.md):
 * on Enron leave-one-user-out the network and a token counter make different
 * mistakes at the top of the ham scores, and W x the counter's logit added to
 * the network's moves the FNR at the shipped threshold from 8.1% to about 6%.
 * A plain naive-Bayes sum over all tokens does much less: it is Robinson's
 * shrunk f(w), the min_dev cut and the bounded Fisher combination that help.
 * `train` chooses W by cross-fitting (cli/crossfit.c), 0 when it does not help.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "counts.h"

/* Home slot of id in a table of 2^bits slots (Fibonacci hashing: the ids are
 * hashes already, but their low bits also index the network's tables). */
static inline uint32_t
counts_home(uint32_t id, uint32_t bits)
{
    return (uint32_t) ((id * 2654435761u) >> (32 - bits));
}

static inline int
slot_empty(const struct counts_slot *s)
{
    return s->lf == 0.0f && s->lg == 0.0f;
}

/* ---- building ---- */

/* A growable open-addressed map id -> (ham, spam) messages; a slot is empty
 * while both counts are 0. */
struct tally {
    uint32_t *id, *ham, *spam;
    uint32_t bits, used;
};

static int
tally_init(struct tally *t, uint32_t bits)
{
    size_t cap = (size_t) 1 << bits;

    t->bits = bits;
    t->used = 0;
    t->id = calloc(cap, sizeof(uint32_t));
    t->ham = calloc(cap, sizeof(uint32_t));
    t->spam = calloc(cap, sizeof(uint32_t));
    return t->id && t->ham && t->spam ? 0 : -1;
}

static void
tally_free(struct tally *t)
{
    free(t->id);
    free(t->ham);
    free(t->spam);
    memset(t, 0, sizeof(*t));
}

static uint32_t
tally_find(const struct tally *t, uint32_t id)
{
    uint32_t mask = ((uint32_t) 1 << t->bits) - 1, k = counts_home(id, t->bits);

    while ((t->ham[k] | t->spam[k]) != 0 && t->id[k] != id)
        k = (k + 1) & mask;
    return k;
}

static int
tally_grow(struct tally *t)
{
    struct tally g;
    size_t cap = (size_t) 1 << t->bits;

    if (tally_init(&g, t->bits + 1) != 0) {
        tally_free(&g);
        return -1;
    }
    for (size_t i = 0; i < cap; i++) {
        uint32_t k;

        if ((t->ham[i] | t->spam[i]) == 0)
            continue;
        k = tally_find(&g, t->id[i]);
        g.id[k] = t->id[i];
        g.ham[k] = t->ham[i];
        g.spam[k] = t->spam[i];
    }
    g.used = t->used;
    tally_free(t);
    *t = g;
    return 0;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return x < y ? -1 : x > y;
}

/* Robinson's f(w) for an id in s of n_s spam and h of n_h ham messages. */
static double
robinson_f(double s, double h, double n_s, double n_h)
{
    double ps = n_s > 0 ? s / n_s : 0, ph = n_h > 0 ? h / n_h : 0, g, n = s + h;

    g = ps + ph > 0 ? ps / (ps + ph) : COUNTS_ROBX;
    return (COUNTS_ROBS * COUNTS_ROBX + n * g) / (COUNTS_ROBS + n);
}

int
counts_build(const struct net_example *ex, size_t n_ex, struct counts *c)
{
    struct tally t;
    uint32_t *keep = NULL, n_keep = 0, bits = 4, mask;
    double n_s = 0, n_h = 0;
    struct counts_slot *slot = NULL;

    memset(c, 0, sizeof(*c));
    if (tally_init(&t, 16) != 0)
        goto oom;
    for (size_t i = 0; i < n_ex; i++) {
        ex[i].spam ? n_s++ : n_h++;
        for (uint32_t j = 0; j < ex[i].n; j++) {
            uint32_t k = tally_find(&t, ex[i].ids[j]);

            if ((t.ham[k] | t.spam[k]) == 0) {
                t.id[k] = ex[i].ids[j];
                t.used++;
            }
            ex[i].spam ? t.spam[k]++ : t.ham[k]++;
            if (t.used * 2 > ((uint32_t) 1 << t.bits) && tally_grow(&t) != 0)
                goto oom;
        }
    }
    if ((keep = malloc(((size_t) t.used + 1) * sizeof(*keep))) == NULL)
        goto oom;
    for (size_t k = 0; k < (size_t) 1 << t.bits; k++) {
        if ((t.ham[k] | t.spam[k]) == 0)
            continue;
        if (fabs(robinson_f(t.spam[k], t.ham[k], n_s, n_h) - 0.5) >= COUNTS_MIN_DEV)
            keep[n_keep++] = t.id[k];
    }
    /* Ascending id order: the slots a table gets do not depend on the order
     * the tally happened to hold them in. */
    qsort(keep, n_keep, sizeof(*keep), cmp_u32);
    while (((uint32_t) 1 << bits) < 2 * n_keep + 2)
        bits++;
    mask = ((uint32_t) 1 << bits) - 1;
    if ((slot = calloc((size_t) 1 << bits, sizeof(*slot))) == NULL)
        goto oom;
    for (uint32_t i = 0; i < n_keep; i++) {
        uint32_t k = tally_find(&t, keep[i]), p = counts_home(keep[i], bits);
        double f = robinson_f(t.spam[k], t.ham[k], n_s, n_h);

        while (!slot_empty(&slot[p]))
            p = (p + 1) & mask;
        slot[p].id = keep[i];
        slot[p].lf = (float) log(f);
        slot[p].lg = (float) log1p(-f);
    }
    free(keep);
    tally_free(&t);
    c->bits = bits;
    c->n = n_keep;
    c->slot = c->owned = slot;
    return 0;

oom:
    free(keep);
    free(slot);
    tally_free(&t);
    return -1;
}

void
counts_release(struct counts *c)
{
    free(c->owned);
    memset(c, 0, sizeof(*c));
}

size_t
counts_bytes(uint32_t bits)
{
    return ((size_t) 1 << bits) * sizeof(struct counts_slot);
}

/* ---- scoring ---- */

double
counts_chi2q(double x2, unsigned k)
{
    /* sum_{i<k} m^i / i! is kept as s * e^off, rescaled before it overflows,
     * so the result is right where exp(-m) alone would underflow (a long
     * message with hundreds of decisive ids). */
    double m = x2 / 2.0, s = 1.0, t = 1.0, off = 0.0, q;

    for (unsigned i = 1; i < k; i++) {
        t *= m / i;
        s += t;
        if (s > 1e280) {
            s *= 1e-280;
            t *= 1e-280;
            off += 280.0 * M_LN10;
        }
    }
    q = exp(log(s) + off - m);
    return q < 1.0 ? q : 1.0;
}

double
counts_logit(const struct counts *c, const uint32_t *ids, size_t n)
{
    uint32_t mask = ((uint32_t) 1 << c->bits) - 1;
    double P = 0, Q = 0, pr;
    unsigned cnt = 0;

    for (size_t i = 0; i < n; i++) {
        uint32_t p = counts_home(ids[i], c->bits);
        const struct counts_slot *s;

        /* counts_check() or counts_build() guarantee an empty slot. */
        while (s = &c->slot[p], !slot_empty(s) && s->id != ids[i])
            p = (p + 1) & mask;
        if (slot_empty(s))
            continue;
        P += s->lg;
        Q += s->lf;
        cnt++;
    }
    if (cnt == 0)
        pr = COUNTS_ROBX;
    else
        pr = (1.0 + (1.0 - counts_chi2q(-2.0 * P, cnt)) - (1.0 - counts_chi2q(-2.0 * Q, cnt)))
             / 2.0;
    if (pr < 1e-12)
        pr = 1e-12;
    if (pr > 1.0 - 1e-12)
        pr = 1.0 - 1e-12;
    return log(pr / (1.0 - pr));
}

/* ---- checking a table from a file ---- */

int
counts_check(const struct counts *c, char *why, size_t whylen)
{
    uint32_t cap, mask, used = 0;

    if (c->bits < 1 || c->bits > COUNTS_MAX_BITS) {
        snprintf(why, whylen, "count table of 2^%u slots", c->bits);
        return -1;
    }
    cap = (uint32_t) 1 << c->bits;
    mask = cap - 1;
    for (uint32_t p = 0; p < cap; p++) {
        const struct counts_slot *s = &c->slot[p];

        if (slot_empty(s)) {
            if (s->id != 0) {
                snprintf(why, whylen, "count table slot %u: empty with id %u", p, s->id);
                return -1;
            }
            continue;
        }
        if (!(s->lf < 0 && s->lg < 0 && isfinite(s->lf) && isfinite(s->lg))) {
            snprintf(why, whylen, "count table slot %u: log f %g, log(1-f) %g", p,
                     (double) s->lf, (double) s->lg);
            return -1;
        }
        for (uint32_t q = counts_home(s->id, c->bits); q != p; q = (q + 1) & mask) {
            if (slot_empty(&c->slot[q])) {
                snprintf(why, whylen, "count table slot %u: id %u out of reach", p, s->id);
                return -1;
            }
        }
        used++;
    }
    if (used != c->n || used >= cap) {
        snprintf(why, whylen, "count table: %u used slots of %u, header says %u", used,
                 cap, c->n);
        return -1;
    }
    return 0;
}
