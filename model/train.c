/*
 * train.c - training a whole model: the network (net.c), its summary and its
 * source pool (pool.c), from examples that are already feature ids.
 *
 * model_train() trains on one core and uses the second, when asked, for the
 * work that splits cleanly: counting the distinct feature ids while the network
 * trains, and half of the pool's scoring.  The result is the same bytes with
 * one thread or two.  The returned model owns heap copies of its weights
 * (net.owned) and pool; model_free() releases them.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "features.h"
#include "model.h"
#include "model_int.h"
#include "pool.h"

void
model_train_opts_default(struct model_train_opts *o)
{
    memset(o, 0, sizeof(*o));
    net_dims_default(&o->dims);
    net_train_opts_default(&o->net);
    o->pool_max = 20000;
    o->threshold = 0.5f;
    o->threads = 2;
}

/* Distinct-id counting, run on the second core while the network trains: an
 * open-addressing set of uint32 (0 is the empty slot and is counted apart).
 * The same job then builds the token-count table when one is asked for. */
struct distinct_job {
    const struct net_example *ex;
    size_t n_ex;
    uint32_t count;
    int failed;
    struct counts *counts;      /* NULL: no table */
};

static void *distinct_count(void *arg);

static void *
distinct_run(void *arg)
{
    struct distinct_job *j = arg;

    distinct_count(arg);
    if (!j->failed && j->counts != NULL && counts_build(j->ex, j->n_ex, j->counts) != 0)
        j->failed = 1;
    return NULL;
}

static void *
distinct_count(void *arg)
{
    struct distinct_job *j = arg;
    size_t cap = 1 << 16, used = 0, i, t, k;
    uint32_t *set = calloc(cap, sizeof(uint32_t));
    int zero = 0;

    if (set == NULL) {
        j->failed = 1;
        return NULL;
    }
    for (i = 0; i < j->n_ex; i++) {
        for (t = 0; t < j->ex[i].n; t++) {
            uint32_t id = j->ex[i].ids[t];

            if (id == 0) {
                zero = 1;
                continue;
            }
            for (k = (id * 2654435761u) & (cap - 1); set[k] != 0 && set[k] != id;
                 k = (k + 1) & (cap - 1))
                ;
            if (set[k] == id)
                continue;
            set[k] = id;
            if (++used * 2 > cap) {
                size_t ncap = cap * 2, q, r;
                uint32_t *ns = calloc(ncap, sizeof(uint32_t));

                if (ns == NULL) {
                    free(set);
                    j->failed = 1;
                    return NULL;
                }
                for (q = 0; q < cap; q++) {
                    if (set[q] == 0)
                        continue;
                    for (r = (set[q] * 2654435761u) & (ncap - 1); ns[r] != 0;
                         r = (r + 1) & (ncap - 1))
                        ;
                    ns[r] = set[q];
                }
                free(set);
                set = ns;
                cap = ncap;
            }
        }
    }
    free(set);
    j->count = (uint32_t) (used + zero);
    return NULL;
}

/* The examples and options, checked before anything is allocated.  Counts the
 * spam into *n_spam.  Returns 0, or -1 with a reason in err. */
static int
train_check(const struct net_example *ex, size_t n_ex, const struct model_train_opts *o,
            size_t *n_spam, char *err, size_t errlen)
{
    size_t i, n_ham;

    *n_spam = 0;
    if (n_ex == 0) {
        model_seterr(err, errlen, "no training messages");
        return -1;
    }
    if (n_ex > UINT32_MAX) {
        model_seterr(err, errlen, "too many training messages (%zu)", n_ex);
        return -1;
    }
    for (i = 0; i < n_ex; i++) {
        if (ex[i].n > 0 && ex[i].ids == NULL) {
            model_seterr(err, errlen, "training message %zu has %u ids but no id array",
                         i, ex[i].n);
            return -1;
        }
        *n_spam += ex[i].spam != 0;
    }
    n_ham = n_ex - *n_spam;
    if (*n_spam == 0 || n_ham == 0) {
        model_seterr(err, errlen, "need both ham and spam to train (got %zu ham, %zu spam)",
                     n_ham, *n_spam);
        return -1;
    }
    if (!net_dims_valid(&o->dims)) {
        model_seterr(err, errlen, "invalid dims (lin_bits %u emb_bits %u emb_dim %u "
                     "hidden %u)", o->dims.lin_bits, o->dims.emb_bits, o->dims.emb_dim,
                     o->dims.hidden);
        return -1;
    }
    if (o->net.epochs == 0 || !(o->net.lr > 0) || !(o->net.lr_dense > 0)
        || !(o->net.l2 >= 0) || !(o->net.aux >= 0)) {
        model_seterr(err, errlen, "invalid training options (epochs %u lr %g lr_dense %g "
                     "l2 %g aux %g)", o->net.epochs, (double) o->net.lr,
                     (double) o->net.lr_dense, (double) o->net.l2, (double) o->net.aux);
        return -1;
    }
    if (!(o->count_weight >= 0.0f && o->count_weight <= MODEL_COUNT_WEIGHT_MAX)) {
        model_seterr(err, errlen, "count weight %g not in [0,%g]", (double) o->count_weight,
                     (double) MODEL_COUNT_WEIGHT_MAX);
        return -1;
    }
    if (!(o->threshold >= 0.0f && o->threshold <= 1.0f)) {
        model_seterr(err, errlen, "threshold %g not in [0,1]", (double) o->threshold);
        return -1;
    }
    return 0;
}

struct model *
model_train(const struct net_example *ex, size_t n_ex, const struct model_train_opts *o,
            char *err, size_t errlen)
{
    struct distinct_job dj = { ex, n_ex, 0, 0, NULL };
    struct net_train_summary ns;
    struct model *m = NULL;
    struct timespec t0, t1;
    size_t n_spam;
    pthread_t dt;
    int have_thread = 0, rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (train_check(ex, n_ex, o, &n_spam, err, errlen) != 0)
        return NULL;
    if ((m = calloc(1, sizeof(*m))) == NULL || net_alloc(&m->net, &o->dims, o->net.seed) != 0)
        goto oom;

    if (o->count_weight > 0)
        dj.counts = &m->counts;
    if (o->threads >= 2 && pthread_create(&dt, NULL, distinct_run, &dj) == 0)
        have_thread = 1;
    rc = net_train(&m->net, ex, n_ex, &o->net, &ns);
    if (have_thread)
        pthread_join(dt, NULL);
    else
        distinct_run(&dj);
    if (rc == -2) {
        model_seterr(err, errlen,
                     "training diverged (loss not finite): lower the learning rates");
        model_free(m);
        return NULL;
    }
    if (rc != 0 || dj.failed)
        goto oom;

    /* The term reaches the logit through z, scaled by 1 / v_z: a head that
     * ignores z cannot carry it, and the model is then written without. */
    if (dj.counts != NULL && model_set_count_weight(m, o->count_weight) != 0)
        counts_release(&m->counts);
    m->threshold = o->threshold;
    m->feature_version = FEATURES_VERSION;
    m->summary.seed = o->net.seed;
    m->summary.n_ham = (uint32_t) (n_ex - n_spam);
    m->summary.n_spam = (uint32_t) n_spam;
    m->summary.n_features = dj.count;
    m->summary.epochs = ns.epochs;
    m->summary.loss = (float) ns.loss;
    if (pool_build(m, ex, n_ex, n_spam, o->pool_max, o->net.seed, o->threads) != 0)
        goto oom;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    m->summary.train_seconds = (float) ((double) (t1.tv_sec - t0.tv_sec)
                                        + (double) (t1.tv_nsec - t0.tv_nsec) * 1e-9);
    /* The id names the bytes model_save() will write; computed there and at load.
     * Until saved, a trained model has no id. */
    m->id[0] = '\0';
    return m;

oom:
    model_seterr(err, errlen, "out of memory while training");
    model_free(m);
    return NULL;
}
