/*
 * score.c - scoring messages with a loaded or trained model: one message
 * (model_score) or a batch split over two threads (model_score_batch, and
 * model_score_rows for the source pool of train.c), and the weight of the
 * count term (model_set_count_weight).
 *
 * The model is only read: every function here is reentrant and allocates
 * nothing.  A batch is cut into two fixed halves, so each row's result is the
 * one-by-one score bit for bit, whatever the number of threads.
 */
#include "config.h"

#include <math.h>
#include <pthread.h>
#include <string.h>

#include "model.h"
#include "model_int.h"

float
model_score(const struct model *m, const uint32_t *ids, size_t n, float *h, float *z)
{
    return net_sigmoid(net_forward(&m->net, ids, n, h, z));
}

int
model_set_count_weight(struct model *m, float w)
{
    float vz = m->net.head[m->net.dims.hidden];

    if (!(w >= 0.0f && w <= MODEL_COUNT_WEIGHT_MAX))
        return -1;
    if (w == 0.0f) {
        m->count_weight = 0.0f;
        m->net.count_z = 0.0f;
        return 0;
    }
    /* Below 1e-3 the term would swamp z for a user's head. */
    if (m->counts.slot == NULL || !(fabsf(vz) >= 1e-3f))
        return -1;
    m->count_weight = w;
    m->net.counts = &m->counts;
    m->net.count_z = w / vz;
    return 0;
}

/* A contiguous share of a batch, scored by one thread. */
struct batch_job {
    const struct model *m;
    const struct net_example *ex;
    const size_t *rows;         /* NULL: rows lo..hi; else ex[rows[i]] */
    size_t lo, hi;
    float *prob;                /* may be NULL */
    float *rep;                 /* may be NULL: (hidden + 1) floats per row */
};

static void *
batch_run(void *arg)
{
    struct batch_job *j = arg;
    uint32_t H = j->m->net.dims.hidden;
    float hb[NET_MAX_HIDDEN], z;
    size_t i;

    for (i = j->lo; i < j->hi; i++) {
        const struct net_example *x = &j->ex[j->rows ? j->rows[i] : i];
        float p = model_score(j->m, x->ids, x->n, hb, &z);

        if (j->prob != NULL)
            j->prob[i] = p;
        if (j->rep != NULL) {
            memcpy(j->rep + i * (H + 1), hb, H * sizeof(float));
            j->rep[i * (H + 1) + H] = z;
        }
    }
    return NULL;
}

void
model_score_rows(const struct model *m, const struct net_example *ex, const size_t *rows,
                 size_t n, float *prob, float *rep, unsigned threads)
{
    struct batch_job a = { m, ex, rows, 0, n, prob, rep }, b = a;
    pthread_t t;

    if (threads < 2 || n < 64) {
        batch_run(&a);
        return;
    }
    a.hi = n / 2;
    b.lo = n / 2;
    if (pthread_create(&t, NULL, batch_run, &b) != 0) {
        a.hi = n;
        batch_run(&a);
        return;
    }
    batch_run(&a);
    pthread_join(t, NULL);
}

void
model_score_batch(const struct model *m, const struct net_example *ex, size_t n,
                  float *prob, unsigned threads)
{
    model_score_rows(m, ex, NULL, n, prob, NULL, threads);
}
