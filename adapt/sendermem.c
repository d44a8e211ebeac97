/*
 * sendermem.c - the sender memory of a user model (sendermem.h): which ids
 * mark a taught sender or campaign, how specific each is in the user's own
 * mail, and the weights of their memory slots.  Pure computation over the
 * caller's arrays; allocation failure is -1.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "selftrain.h"
#include "sendermem.h"
#include "sorted.h"

/* One (id, taught message) pair of the labels. */
struct pair {
    uint32_t id;
    uint32_t j;
};

static int
pair_cmp(const void *x, const void *y)
{
    const struct pair *a = x, *b = y;

    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return (a->j > b->j) - (a->j < b->j);
}

/* A bitmap of the candidates' low 16 bits: most ids of a reservoir message
 * are no candidate, and the bit answers that without a search. */
static uint64_t cand_bits_of(uint32_t id)
{
    return (uint64_t) 1 << (id & 63);
}

/* Position of id in the sorted cand[0..n), or -1 (bits: the candidates'
 * bitmap, 1024 words). */
static long
find_in(const uint64_t *bits, const uint32_t *cand, size_t n, uint32_t id)
{
    if (!(bits[(id >> 6) & 1023] & cand_bits_of(id)))
        return -1;
    return sorted_u32_find(cand, n, id);
}

/* The working arrays: candidates (marking ids), their holders among the
 * labels (an inverted index), and per-message sums. */
struct work {
    struct pair *pr;            /* the labels' (id, message) pairs, sorted */
    size_t n_pr;
    uint32_t *cand;             /* candidate ids, sorted */
    size_t *start;              /* cand[c]'s holders: pr[start[c] .. start[c + 1]) */
    size_t n_cand;
    double *df, *hit, *spec;    /* per candidate */
    double *tot, *acc, *z, *push, *nkind;   /* per message: its core's rarity total, one
                                 * reservoir message's share of it, the specificity
                                 * normaliser, the push, reservoir messages of its kind */
    uint32_t *hmax;             /* per message: most taught holders of one of its ids */
    uint32_t *cnt;              /* per message: marking ids of one reservoir message */
    uint32_t *touched;
    uint8_t *keep;              /* per candidate: passed the reservoir's filter */
    uint64_t bits[1024];        /* the candidates' low 16 bits */
};

/* Position of id among w's candidates, or -1. */
static long
find(const struct work *w, uint32_t id)
{
    return find_in(w->bits, w->cand, w->n_cand, id);
}

static void
work_free(struct work *w)
{
    free(w->pr);
    free(w->cand);
    free(w->start);
    free(w->df);
    free(w->hit);
    free(w->spec);
    free(w->tot);
    free(w->acc);
    free(w->nkind);
    free(w->hmax);
    free(w->z);
    free(w->push);
    free(w->cnt);
    free(w->touched);
    free(w->keep);
}

/* Candidates: ids in >= SENDERMEM_MIN_TAUGHT labels of one class and none of
 * the other.  Returns 0, or -1. */
static int
candidates(struct work *w, const struct adapt_example *fb, size_t n_fb)
{
    size_t n = 0, k = 0, a, b;

    for (size_t j = 0; j < n_fb; j++)
        n += fb[j].n;
    if ((w->pr = malloc((n + 1) * sizeof(*w->pr))) == NULL
        || (w->cand = malloc((n + 1) * sizeof(uint32_t))) == NULL
        || (w->start = malloc((n + 2) * sizeof(size_t))) == NULL)
        return -1;
    for (size_t j = 0; j < n_fb; j++)
        for (uint32_t i = 0; i < fb[j].n; i++)
            w->pr[k++] = (struct pair) { fb[j].ids[i], (uint32_t) j };
    qsort(w->pr, k, sizeof(*w->pr), pair_cmp);
    /* keep only the pairs of candidate ids, compacted in place */
    w->n_pr = 0;
    for (a = 0; a < k; a = b) {
        size_t c[2] = { 0, 0 };

        for (b = a; b < k && w->pr[b].id == w->pr[a].id; b++)
            c[fb[w->pr[b].j].spam != 0]++;
        if ((c[0] == 0) == (c[1] == 0) || c[0] + c[1] < SENDERMEM_MIN_TAUGHT)
            continue;
        w->cand[w->n_cand] = w->pr[a].id;
        w->start[w->n_cand++] = w->n_pr;
        memmove(w->pr + w->n_pr, w->pr + a, (b - a) * sizeof(*w->pr));
        w->n_pr += b - a;
    }
    w->start[w->n_cand] = w->n_pr;
    for (size_t c = 0; c < w->n_cand; c++)
        w->bits[(w->cand[c] >> 6) & 1023] |= cand_bits_of(w->cand[c]);
    return 0;
}

/* Holders of candidate c (taught messages holding it). */
static double
holders(const struct work *w, size_t c)
{
    return (double) (w->start[c + 1] - w->start[c]);
}

/* Whether candidate c is in the core of taught message j: held by at least
 * half as many taught messages as j's most held id (and by 2). */
static int
in_core(const struct work *w, size_t c, uint32_t j)
{
    double h = holders(w, c);

    return h >= SENDERMEM_MIN_TAUGHT && 2 * h >= w->hmax[j];
}

/*
 * Cohesion: a candidate marks a sender or campaign only when its holders are
 * alike, i.e. the mean Jaccard overlap of their marking-id sets (the kept
 * candidates each holds; 0 for a pair sharing fewer than SENDERMEM_MIN_SHARED)
 * over the pairs of holders is SENDERMEM_COHESION or more.  Issues of one newsletter share its headers and footer; five spams
 * of five campaigns that share the word "world" share little else (Enron LOO
 * enron6, 37 spam labels: such words pushed ham across the threshold).
 * Candidates below are dropped (keep 0).  Returns 0, or -1.
 */
static int
cohesion_filter(struct work *w, size_t n_fb)
{
    float *sh = calloc(n_fb * n_fb + 1, sizeof(float));
    double *nm = calloc(n_fb + 1, sizeof(double));
    uint8_t *drop = calloc(w->n_cand + 1, 1);

    if (sh == NULL || nm == NULL || drop == NULL) {
        free(sh);
        free(nm);
        free(drop);
        return -1;
    }
    for (size_t c = 0; c < w->n_cand; c++)
        for (size_t p = w->start[c]; w->keep[c] && p < w->start[c + 1]; p++) {
            nm[w->pr[p].j]++;
            for (size_t q = p + 1; q < w->start[c + 1]; q++)
                sh[(size_t) w->pr[p].j * n_fb + w->pr[q].j]++;
        }
    for (size_t c = 0; c < w->n_cand; c++) {
        double sum = 0, pairs = 0;

        if (!w->keep[c])
            continue;
        for (size_t p = w->start[c]; p < w->start[c + 1]; p++)
            for (size_t q = p + 1; q < w->start[c + 1]; q++) {
                uint32_t a = w->pr[p].j, b = w->pr[q].j;
                double both = sh[(size_t) a * n_fb + b];

                sum += both >= SENDERMEM_MIN_SHARED ? both / (nm[a] + nm[b] - both) : 0;
                pairs++;
            }
        drop[c] = !(pairs > 0 && sum / pairs >= SENDERMEM_COHESION);
    }
    for (size_t c = 0; c < w->n_cand; c++)
        w->keep[c] = w->keep[c] && !drop[c];
    free(sh);
    free(nm);
    free(drop);
    return 0;
}

/* df: the reservoir messages holding each candidate. */
static void
df_pass(struct work *w, const struct adapt_example *res, size_t n_res)
{
    for (size_t r = 0; r < n_res; r++)
        for (uint32_t i = 0; i < res[r].n; i++) {
            long c = find(w, res[r].ids[i]);

            if (c >= 0)
                w->df[c]++;
        }
}

/*
 * The kind pass: a reservoir message is of taught message j's kind when it
 * holds SENDERMEM_MATCH of j's core weighted by rarity (1/df: the sender's
 * own ids weigh more than its list's or its mailer's, which other senders
 * share); nkind[j] counts them, hit[c] the messages holding c that are of a
 * holder's kind.
 */
static void
kind_pass(struct work *w, const struct adapt_example *res, size_t n_res)
{
    for (size_t r = 0; r < n_res; r++) {
        size_t n_t = 0;

        for (uint32_t i = 0; i < res[r].n; i++) {
            long c = find(w, res[r].ids[i]);

            if (c < 0 || !w->keep[c])
                continue;
            for (size_t p = w->start[c]; p < w->start[c + 1]; p++) {
                uint32_t j = w->pr[p].j;

                if (w->cnt[j]++ == 0)
                    w->touched[n_t++] = j;
                if (in_core(w, (size_t) c, j))
                    w->acc[j] += 1 / w->df[c];
            }
        }
        for (size_t t = 0; t < n_t; t++) {
            uint32_t j = w->touched[t];

            w->cnt[j] = w->acc[j] >= SENDERMEM_MATCH * w->tot[j] && w->tot[j] > 0 ? 2 : 1;
            w->nkind[j] += w->cnt[j] == 2;
        }
        for (uint32_t i = 0; i < res[r].n; i++) {
            long c = find(w, res[r].ids[i]);

            if (c < 0 || !w->keep[c])
                continue;
            for (size_t p = w->start[c]; p < w->start[c + 1]; p++)
                if (w->cnt[w->pr[p].j] == 2) {
                    w->hit[c]++;
                    break;
                }
        }
        for (size_t t = 0; t < n_t; t++) {
            w->cnt[w->touched[t]] = 0;
            w->acc[w->touched[t]] = 0;
        }
    }
}

struct sw {
    uint32_t slot;
    float w;
};

static int
sw_cmp(const void *x, const void *y)
{
    const struct sw *a = x, *b = y;

    return (a->slot > b->slot) - (a->slot < b->slot);
}

/* Sort add's entries by slot, equal slots summed.  Returns 0, or -1. */
static int
sort_slots(struct user_model *add)
{
    struct sw *v = malloc((add->n_resid + 1) * sizeof(*v));
    uint32_t k = 0;

    if (v == NULL)
        return -1;
    for (uint32_t i = 0; i < add->n_resid; i++)
        v[i] = (struct sw) { add->resid_slot[i], add->resid_w[i] };
    qsort(v, add->n_resid, sizeof(*v), sw_cmp);
    for (uint32_t i = 0; i < add->n_resid; i++) {
        if (k > 0 && add->resid_slot[k - 1] == v[i].slot) {
            add->resid_w[k - 1] += v[i].w;
            continue;
        }
        add->resid_slot[k] = v[i].slot;
        add->resid_w[k++] = v[i].w;
    }
    add->n_resid = k;
    free(v);
    return 0;
}

int
sendermem_may_mark(const struct adapt_example *fb, size_t n_fb)
{
    struct work w;
    int rc;

    memset(&w, 0, sizeof(w));
    if (n_fb < SENDERMEM_MIN_TAUGHT || n_fb > SENDERMEM_MAX_LABELS)
        return 0;
    rc = candidates(&w, fb, n_fb) < 0 ? -1 : w.n_cand > 0;
    work_free(&w);
    return rc;
}

int
sendermem_fit(const struct model *m, struct user_model *um,
              const struct adapt_example *fb, size_t n_fb,
              const struct adapt_example *res, size_t n_res, double thr,
              struct sendermem_stats *st)
{
    struct work w;
    struct user_model add = { .seed = um->seed, .resid_bits = um->resid_bits };
    int rc = -1;

    memset(st, 0, sizeof(*st));
    memset(&w, 0, sizeof(w));
    if (um->resid_bits > 30 || n_res < SENDERMEM_RES_MIN || n_fb < SENDERMEM_MIN_TAUGHT
        || n_fb > SENDERMEM_MAX_LABELS)
        return 0;
    if (candidates(&w, fb, n_fb) < 0)
        goto out;
    if (w.n_cand == 0) {
        rc = 0;
        goto out;
    }
    w.df = calloc(w.n_cand, sizeof(double));
    w.hit = calloc(w.n_cand, sizeof(double));
    w.spec = calloc(w.n_cand, sizeof(double));
    w.keep = calloc(w.n_cand, 1);
    w.tot = calloc(n_fb, sizeof(double));
    w.acc = calloc(n_fb, sizeof(double));
    w.nkind = calloc(n_fb, sizeof(double));
    w.hmax = calloc(n_fb, sizeof(uint32_t));
    w.z = calloc(n_fb, sizeof(double));
    w.push = calloc(n_fb, sizeof(double));
    w.cnt = calloc(n_fb, sizeof(uint32_t));
    w.touched = calloc(n_fb, sizeof(uint32_t));
    add.resid_slot = malloc(w.n_cand * sizeof(uint32_t));
    add.resid_w = malloc(w.n_cand * sizeof(float));
    if (w.df == NULL || w.hit == NULL || w.spec == NULL || w.keep == NULL || w.tot == NULL || w.acc == NULL || w.nkind == NULL || w.hmax == NULL
        || w.z == NULL || w.push == NULL || w.cnt == NULL || w.touched == NULL
        || add.resid_slot == NULL || add.resid_w == NULL)
        goto out;
    /* the reservoir's filter: rare enough in the user's mail */
    df_pass(&w, res, n_res);
    for (size_t c = 0; c < w.n_cand; c++)
        w.keep[c] = w.df[c] > 0 && w.df[c] <= SENDERMEM_DF_MAX * (double) n_res
            && holders(&w, c) <= SENDERMEM_MAX_HOLDERS;
    if (cohesion_filter(&w, n_fb) < 0)
        goto out;
    for (size_t c = 0; c < w.n_cand; c++) {
        for (size_t p = w.start[c]; w.keep[c] && p < w.start[c + 1]; p++)
            if (holders(&w, c) > w.hmax[w.pr[p].j])
                w.hmax[w.pr[p].j] = (uint32_t) holders(&w, c);
    }
    for (size_t c = 0; c < w.n_cand; c++)
        for (size_t p = w.start[c]; w.keep[c] && p < w.start[c + 1]; p++)
            if (in_core(&w, c, w.pr[p].j))
                w.tot[w.pr[p].j] += 1 / w.df[c];
    /* specificity: the share of the reservoir messages holding an id that
     * are of a holder's kind, squared; the normaliser weighs each id by its
     * coverage of the kind (a word of two taught messages covers little) */
    kind_pass(&w, res, n_res);
    for (size_t c = 0; c < w.n_cand; c++) {
        double f = w.keep[c] ? w.hit[c] / w.df[c] : 0;

        w.spec[c] = f * f;
        for (size_t p = w.start[c]; p < w.start[c + 1]; p++) {
            uint32_t j = w.pr[p].j;

            if (w.nkind[j] > 0)
                w.z[j] += w.spec[c] * fmin(1, w.hit[c] / w.nkind[j]);
        }
    }
    /* each taught message's push to SENDERMEM_MARGIN beyond the threshold */
    for (size_t j = 0; j < n_fb; j++) {
        double f, want;

        if (!(w.z[j] > 0))
            continue;
        f = adapt_logit(m, um, fb[j].h, fb[j].z, fb[j].ids, fb[j].n)
            - adapt_learned_share(um, fb[j].ids, fb[j].n)
            - adapt_memory_share(um, fb[j].ids, fb[j].n);
        want = fb[j].spam ? thr + SENDERMEM_MARGIN : thr - SENDERMEM_MARGIN;
        w.push[j] = fb[j].spam ? fmax(0, want - f) : fmin(0, want - f);
        st->n_taught++;
    }
    /* an id's weight: its specificity times its holders' mean push per unit
     * of specificity, shrunk by holders / (holders + 1) */
    for (size_t c = 0; c < w.n_cand; c++) {
        double sum = 0, h = (double) (w.start[c + 1] - w.start[c]), wt;
        uint32_t slot = adapt_memory_slot(w.cand[c], um->seed);

        for (size_t p = w.start[c]; p < w.start[c + 1]; p++)
            sum += w.z[w.pr[p].j] > 0 ? w.push[w.pr[p].j] / w.z[w.pr[p].j] : 0;
        wt = w.spec[c] * sum / h * h / (h + 1);
        if ((float) wt == 0.0f)
            continue;
        /* replacing the slot's weight: the change from what um has there */
        add.resid_slot[add.n_resid] = slot;
        add.resid_w[add.n_resid++] = (float) (wt - user_model_slot_weight(um, slot));
        st->n_ids++;
    }
    /* memory slots sorted for the merge (hashes of sorted ids are not); two
     * ids on one slot add up */
    if (sort_slots(&add) < 0)
        goto out;
    rc = selftrain_merge(um, &add);
out:
    free(add.resid_slot);
    free(add.resid_w);
    work_free(&w);
    return rc;
}
