/*
 * net.c - the classifier network: forward pass, initialisation and training.
 *
 * The body has two paths over the same hashed ids: a sparse linear table (the
 * logistic regression on hashed tokens that carries most of the accuracy on
 * spam) and a dense path, h = tanh(w1 . mean(emb rows) + b1), that per-user head
 * retraining (adapt/) works on.  Training is joint, with an auxiliary logistic
 * head over h alone so that h stays predictive even once the sparse path fits
 * the training set (otherwise the main loss stops sending gradient to h).
 *
 * Determinism: every float operation happens in a fixed order (ids in the order
 * given, examples in a seeded Fisher-Yates order, our own splitmix64 PRNG), so
 * the same weights, examples and options give bit-identical results.  The
 * trainer is one thread: per-example SGD is sequential and a two-thread split of
 * each step (linear path / dense path) costs two barriers per message, more than
 * it saves on a 2-core machine shared with the MTA (training the SpamAssassin
 * corpus takes about a second of CPU here, extraction about as much, and the
 * CLI extracts on all cores).  Training two seeds in parallel and averaging
 * was measured too and does not pay: (1-AUC)% 0.058 vs 0.056 on the
 * SpamAssassin temporal split.  train.c uses the second core for the work that
 * does split cleanly (distinct-feature count, pool and batch scoring).
 *
 * Memory: net_train() allocates AdaGrad accumulators beside the weights (one
 * float per linear weight, one per embedding row) and frees them on return;
 * net_step_linear() only a slot table the size of its example.
 */
#include "config.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "counts.h"
#include "net.h"

/* splitmix64: a tiny, well-mixed PRNG; also used as a hash of (seed, index) so
 * that initial weights do not depend on the order they are drawn in. */
uint64_t
net_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform float in [-a, a) from 24 random bits. */
static float
uniform_sym(uint64_t *state, float a)
{
    float u = (float) (net_splitmix64(state) >> 40) * (1.0f / 16777216.0f);

    return (2.0f * u - 1.0f) * a;
}

/* Unbiased integer in [0, bound), bound > 0 (rejection on the top range). */
static uint64_t
uniform_below(uint64_t *state, uint64_t bound)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % bound;
    uint64_t r;

    do
        r = net_splitmix64(state);
    while (r >= lim);
    return r % bound;
}

void
net_dims_default(struct net_dims *d)
{
    d->lin_bits = 22;
    d->emb_bits = 18;
    d->emb_dim = 32;
    d->hidden = 16;
}

void
net_train_opts_default(struct net_train_opts *o)
{
    memset(o, 0, sizeof(*o));
    /* Tuned on the SpamAssassin temporal split (train easy-ham-1, hard-ham-1,
     * spam-1; test easy-ham-2, spam-2) and Enron (train 1-3, test 4-6), mean
     * of four seeds; see the commit log for the numbers.  Most settings are
     * within seed noise of each other; L2 matters (1e-4: 0.083%/0.138%,
     * 1e-3: 0.059%/0.124% (1-AUC) on SA/Enron) and 4 epochs are as good as 8
     * at half the time. */
    o->epochs = 4;
    o->lr = 0.1f;
    o->l2 = 1e-3f;
    o->seed = 1;
    o->lr_dense = 0.1f;
    o->aux = 0.3f;
}

int
net_dims_valid(const struct net_dims *d)
{
    return d->lin_bits >= 1 && d->lin_bits <= NET_MAX_LIN_BITS
        && d->emb_bits >= 1 && d->emb_bits <= NET_MAX_EMB_BITS
        && d->emb_dim >= 4 && d->emb_dim <= NET_MAX_EMB_DIM && d->emb_dim % 4 == 0
        && d->hidden >= 1 && d->hidden <= NET_MAX_HIDDEN
        && ((uint64_t) 1 << d->emb_bits) * d->emb_dim <= ((uint64_t) 1 << 30);
}

int
net_alloc(struct net *n, const struct net_dims *d, uint64_t seed)
{
    size_t n_lin, n_emb, n_w1, i;
    uint64_t st;
    float a;

    memset(n, 0, sizeof(*n));
    if (!net_dims_valid(d))
        return -1;
    n_lin = (size_t) 1 << d->lin_bits;
    n_emb = ((size_t) 1 << d->emb_bits) * d->emb_dim;
    n_w1 = (size_t) d->hidden * d->emb_dim;
    n->lin = calloc(n_lin, sizeof(float));
    n->emb = malloc(n_emb * sizeof(float));
    n->w1 = malloc(n_w1 * sizeof(float));
    n->b1 = calloc(d->hidden, sizeof(float));
    n->head = calloc(NET_HEAD_LEN(d->hidden), sizeof(float));
    if (n->lin == NULL || n->emb == NULL || n->w1 == NULL || n->b1 == NULL
        || n->head == NULL) {
        n->owned = 1;
        net_release(n);
        return -1;
    }
    n->dims = *d;
    n->owned = 1;

    /* fastText-like: small uniform embeddings, Xavier for w1, a small random
     * head over h so that h receives gradient from the start, v_z = 1. */
    st = seed ^ 0x656d6265646469ULL;
    a = 1.0f / (float) d->emb_dim;
    for (i = 0; i < n_emb; i++)
        n->emb[i] = uniform_sym(&st, a);
    st = seed ^ 0x77316831ULL;
    a = sqrtf(6.0f / (float) (d->emb_dim + d->hidden));
    for (i = 0; i < n_w1; i++)
        n->w1[i] = uniform_sym(&st, a);
    st = seed ^ 0x68656164ULL;
    for (i = 0; i < d->hidden; i++)
        n->head[i] = uniform_sym(&st, 0.1f);
    n->head[d->hidden] = 1.0f;
    n->head[d->hidden + 1] = 0.0f;
    return 0;
}

void
net_release(struct net *n)
{
    if (n == NULL)
        return;
    if (n->owned) {
        free(n->lin);
        free(n->emb);
        free(n->w1);
        free(n->b1);
        free(n->head);
    }
    memset(n, 0, sizeof(*n));
}

float
net_head(const float *head, uint32_t hidden, const float *h, float z)
{
    float s = 0.0f;
    uint32_t j;

    for (j = 0; j < hidden; j++)
        s += head[j] * h[j];
    return s + head[hidden] * z + head[hidden + 1];
}

#define PREFETCH_AHEAD 12

/* Embedding rows are handled four floats at a time (GCC/Clang vector
 * extension; plain SSE on x86-64, emulated elsewhere).  Lanes are independent
 * columns, so the sum over ids runs in the same order as a scalar loop and the
 * result is bit for bit the same: vectorizing never changes a model. */
typedef float v4sf __attribute__((vector_size(16)));

static inline v4sf
v4_load(const float *p)
{
    v4sf v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static inline void
v4_store(float *p, v4sf v)
{
    memcpy(p, &v, sizeof(v));
}

/* The body: z, the mean embedding e (emb_dim floats) and h.  Shared by scoring
 * and training so that both compute bit-identical representations. */
static void
body(const struct net *n, const uint32_t *ids, size_t n_ids, float *e, float *h,
     float *z)
{
    const struct net_dims *d = &n->dims;
    uint32_t lmask = (uint32_t) (((uint64_t) 1 << d->lin_bits) - 1);
    uint32_t emask = (uint32_t) (((uint64_t) 1 << d->emb_bits) - 1);
    uint32_t k, j;
    float zs = 0.0f;
    size_t i;

    v4sf acc[NET_MAX_EMB_DIM / 4];
    uint32_t q = d->emb_dim / 4;

    for (k = 0; k < q; k++)
        acc[k] = (v4sf) { 0, 0, 0, 0 };
    for (i = 0; i < n_ids; i++) {
        const float *row = n->emb + (size_t) (ids[i] & emask) * d->emb_dim;

        /* The tables are far larger than the caches and the ids are hashes:
         * every row is a cache miss, so fetch PREFETCH_AHEAD ids early. */
        if (i + PREFETCH_AHEAD < n_ids) {
            uint32_t f = ids[i + PREFETCH_AHEAD];
            const char *r = (const char *) (n->emb + (size_t) (f & emask) * d->emb_dim);
            size_t b;

            __builtin_prefetch(n->lin + (f & lmask));
            for (b = 0; b < d->emb_dim * sizeof(float); b += 64)
                __builtin_prefetch(r + b);
        }

        zs += n->lin[ids[i] & lmask];
        for (k = 0; k < q; k++)
            acc[k] += v4_load(row + 4 * k);
    }
    for (k = 0; k < q; k++)
        v4_store(e + 4 * k, acc[k]);
    if (n_ids > 0) {
        float inv = 1.0f / (float) n_ids;

        for (k = 0; k < d->emb_dim; k++)
            e[k] *= inv;
    }
    for (j = 0; j < d->hidden; j++) {
        const float *w = n->w1 + (size_t) j * d->emb_dim;
        float a = n->b1[j];

        for (k = 0; k < d->emb_dim; k++)
            a += w[k] * e[k];
        h[j] = tanhf(a);
    }
    *z = n_ids > 0 ? zs / sqrtf((float) n_ids) : 0.0f;
}

float
net_forward(const struct net *n, const uint32_t *ids, size_t n_ids, float *h,
            float *z)
{
    float e[NET_MAX_EMB_DIM], hb[NET_MAX_HIDDEN], zb;

    assert(n->dims.emb_dim <= NET_MAX_EMB_DIM && n->dims.hidden <= NET_MAX_HIDDEN);
    body(n, ids, n_ids, e, hb, &zb);
    if (n->count_z != 0.0f)
        zb += (float) ((double) n->count_z * counts_logit(n->counts, ids, n_ids));
    if (h != NULL)
        memcpy(h, hb, n->dims.hidden * sizeof(float));
    if (z != NULL)
        *z = zb;
    return net_head(n->head, n->dims.hidden, hb, zb);
}

/* log(1 + exp(-m)) without overflow: the logistic loss at margin m. */
static double
logloss(float logit, int y)
{
    double m = y ? logit : -logit;

    return m > 0 ? log1p(exp(-m)) : -m + log1p(exp(m));
}

#define ADA_EPS 1e-8f

/* One AdaGrad step on a scalar weight with its accumulator. */
static inline void
ada_step(float *w, float *acc, float g, float lr)
{
    *acc += g * g;
    *w -= lr * g / sqrtf(*acc + ADA_EPS);
}

/* Training state beyond the weights; freed by train_state_free(). */
struct train_state {
    float *acc_lin;         /* one AdaGrad accumulator per linear weight */
    float *acc_emb;         /* one per embedding row (row-wise AdaGrad) */
    float *acc_w1, *acc_b1, *acc_head;
    float *aux, *acc_aux;   /* auxiliary head over h: hidden + 1 floats */
    size_t *order;
};

static void
train_state_free(struct train_state *s)
{
    free(s->acc_lin);
    free(s->acc_emb);
    free(s->acc_w1);
    free(s->acc_b1);
    free(s->acc_head);
    free(s->aux);
    free(s->acc_aux);
    free(s->order);
}

/* Allocate s for n (AdaGrad accumulators zeroed, the auxiliary head drawn from
 * seed, the identity order over n_ex examples).  Returns 0, or -1 with s freed
 * on allocation failure. */
static int
train_state_init(struct train_state *s, const struct net *n, size_t n_ex, uint64_t seed)
{
    const struct net_dims *d = &n->dims;
    const uint32_t H = d->hidden, D = d->emb_dim;
    uint64_t rng;
    size_t i;
    uint32_t j;

    memset(s, 0, sizeof(*s));
    s->acc_lin = calloc((size_t) 1 << d->lin_bits, sizeof(float));
    s->acc_emb = calloc((size_t) 1 << d->emb_bits, sizeof(float));
    s->acc_w1 = calloc((size_t) H * D, sizeof(float));
    s->acc_b1 = calloc(H, sizeof(float));
    s->acc_head = calloc(NET_HEAD_LEN(H), sizeof(float));
    s->aux = calloc(H + 1, sizeof(float));
    s->acc_aux = calloc(H + 1, sizeof(float));
    s->order = malloc((n_ex ? n_ex : 1) * sizeof(size_t));
    if (s->acc_lin == NULL || s->acc_emb == NULL || s->acc_w1 == NULL
        || s->acc_b1 == NULL || s->acc_head == NULL || s->aux == NULL
        || s->acc_aux == NULL || s->order == NULL) {
        train_state_free(s);
        return -1;
    }
    rng = seed ^ 0x617578ULL;
    for (j = 0; j < H; j++)
        s->aux[j] = uniform_sym(&rng, 0.1f);
    for (i = 0; i < n_ex; i++)
        s->order[i] = i;
    return 0;
}

/* AdaGrad steps of the heads (main and auxiliary) and the hidden layer, given
 * the example's forward pass (e, h, z), the gradients g and ga at the two
 * logits and da at the hidden pre-activations. */
static void
train_step_dense(struct net *n, struct train_state *s, const struct net_train_opts *o,
                 const float *e, const float *h, float z, float g, float ga,
                 const float *da)
{
    const uint32_t H = n->dims.hidden, D = n->dims.emb_dim;
    uint32_t j, k;

    /* Heads. */
    for (j = 0; j < H; j++) {
        ada_step(&n->head[j], &s->acc_head[j],
                 g * h[j] + o->l2 * n->head[j], o->lr_dense);
        ada_step(&s->aux[j], &s->acc_aux[j],
                 ga * h[j] + o->l2 * s->aux[j], o->lr_dense);
    }
    ada_step(&n->head[H], &s->acc_head[H], g * z, o->lr_dense);
    ada_step(&n->head[H + 1], &s->acc_head[H + 1], g, o->lr_dense);
    ada_step(&s->aux[H], &s->acc_aux[H], ga, o->lr_dense);

    /* Hidden layer. */
    for (j = 0; j < H; j++) {
        float *w = n->w1 + (size_t) j * D, *acc = s->acc_w1 + (size_t) j * D;

        for (k = 0; k < D; k++)
            ada_step(&w[k], &acc[k], da[j] * e[k] + o->l2 * w[k],
                     o->lr_dense);
        ada_step(&n->b1[j], &s->acc_b1[j], da[j], o->lr_dense);
    }
}

/* The sparse rows of example x: only its ids (lazy updates), the linear weight
 * with gradient gz and the embedding row with de (the gradient at the mean of
 * the rows).  A repeated id (callers should pass unique ids) is updated twice. */
static void
train_step_sparse(struct net *n, struct train_state *s, const struct net_train_opts *o,
                  const struct net_example *x, float gz, const float *de)
{
    const struct net_dims *d = &n->dims;
    const uint32_t D = d->emb_dim;
    uint32_t lmask = (uint32_t) (((uint64_t) 1 << d->lin_bits) - 1);
    uint32_t emask = (uint32_t) (((uint64_t) 1 << d->emb_bits) - 1);
    v4sf vde[NET_MAX_EMB_DIM / 4], vl2 = { o->l2, o->l2, o->l2, o->l2 };
    size_t t;
    uint32_t k;

    for (k = 0; k < D / 4; k++)
        vde[k] = v4_load(de + 4 * k);
    for (t = 0; t < x->n; t++) {
        uint32_t li = x->ids[t] & lmask, ei = x->ids[t] & emask;
        float *row = n->emb + (size_t) ei * D, step;
        v4sf vstep, sq, gv[NET_MAX_EMB_DIM / 4];

        /* body() fetched the weights, not their accumulators: each
         * was a cache miss (35% of net_train's profile samples sat on
         * the acc_lin load before this prefetch). */
        if (t + PREFETCH_AHEAD < x->n) {
            uint32_t f = x->ids[t + PREFETCH_AHEAD];

            __builtin_prefetch(s->acc_lin + (f & lmask), 1);
            __builtin_prefetch(s->acc_emb + (f & emask), 1);
        }

        ada_step(&n->lin[li], &s->acc_lin[li], gz + o->l2 * n->lin[li], o->lr);
        /* Row-wise AdaGrad: one accumulator per row, fed with the mean
         * squared gradient including the L2 term (without it a row
         * with no data gradient takes huge L2 steps and diverges). */
        sq = (v4sf) { 0, 0, 0, 0 };
        for (k = 0; k < D / 4; k++) {
            gv[k] = vde[k] + vl2 * v4_load(row + 4 * k);
            sq += gv[k] * gv[k];
        }
        s->acc_emb[ei] += (sq[0] + sq[1] + sq[2] + sq[3]) / (float) D;
        step = o->lr_dense / sqrtf(s->acc_emb[ei] + ADA_EPS);
        vstep = (v4sf) { step, step, step, step };
        for (k = 0; k < D / 4; k++)
            v4_store(row + 4 * k, v4_load(row + 4 * k) - vstep * gv[k]);
    }
}

/* One SGD step on example x with class weights cw; adds its weighted loss to
 * *loss and its weight to *wsum. */
static void
train_example(struct net *n, struct train_state *s, const struct net_train_opts *o,
              const struct net_example *x, const float cw[2], double *loss, double *wsum)
{
    const uint32_t H = n->dims.hidden, D = n->dims.emb_dim;
    float e[NET_MAX_EMB_DIM], h[NET_MAX_HIDDEN], da[NET_MAX_HIDDEN];
    float de[NET_MAX_EMB_DIM];
    int y = x->spam != 0;
    float z, logit, aux, g, ga, vz, gz;
    float inv_n = x->n ? 1.0f / (float) x->n : 0.0f;
    uint32_t j, k;

    body(n, x->ids, x->n, e, h, &z);
    logit = net_head(n->head, H, h, z);
    aux = s->aux[H];        /* the auxiliary head sees h only */
    for (j = 0; j < H; j++)
        aux += s->aux[j] * h[j];
    *loss += cw[y] * logloss(logit, y);
    *wsum += cw[y];
    g = cw[y] * (net_sigmoid(logit) - (float) y);
    ga = o->aux * cw[y] * (net_sigmoid(aux) - (float) y);

    /* Backward through the heads, before they move. */
    vz = n->head[H];
    for (j = 0; j < H; j++) {
        float dh = g * n->head[j] + ga * s->aux[j];

        da[j] = dh * (1.0f - h[j] * h[j]);
    }
    for (k = 0; k < D; k++) {
        float acc = 0.0f;

        for (j = 0; j < H; j++)
            acc += n->w1[(size_t) j * D + k] * da[j];
        de[k] = acc * inv_n;
    }
    train_step_dense(n, s, o, e, h, z, g, ga, da);
    gz = x->n ? g * vz / sqrtf((float) x->n) : 0.0f;
    train_step_sparse(n, s, o, x, gz, de);
}

int
net_train(struct net *n, const struct net_example *ex, size_t n_ex,
          const struct net_train_opts *o, struct net_train_summary *sum)
{
    struct train_state s;
    size_t i, n_spam = 0, n_ham;
    float cw[2];
    double loss = 0.0, wsum;
    uint64_t rng;
    uint32_t ep;

    assert(n->owned && net_dims_valid(&n->dims));
    if (sum != NULL)
        memset(sum, 0, sizeof(*sum));
    for (i = 0; i < n_ex; i++)
        n_spam += ex[i].spam != 0;
    n_ham = n_ex - n_spam;
    /* Class balance: each class carries half of the total weight. */
    cw[1] = n_spam ? (float) ((double) n_ex / (2.0 * (double) n_spam)) : 0.0f;
    cw[0] = n_ham ? (float) ((double) n_ex / (2.0 * (double) n_ham)) : 0.0f;
    if (train_state_init(&s, n, n_ex, o->seed) != 0)
        return -1;
    rng = o->seed;

    for (ep = 0; ep < o->epochs; ep++) {
        loss = 0.0;
        wsum = 0.0;
        /* Fisher-Yates with our own PRNG: the same order on every platform. */
        for (i = n_ex; i > 1; i--) {
            size_t r = (size_t) uniform_below(&rng, i), t = s.order[i - 1];

            s.order[i - 1] = s.order[r];
            s.order[r] = t;
        }
        for (i = 0; i < n_ex; i++)
            train_example(n, &s, o, &ex[s.order[i]], cw, &loss, &wsum);
        loss = wsum > 0 ? loss / wsum : 0.0;
        if (o->progress != NULL)
            o->progress(o->arg, ep + 1, o->epochs, loss);
    }
    if (sum != NULL) {
        sum->epochs = o->epochs;
        sum->loss = loss;
    }
    train_state_free(&s);
    return isfinite(loss) ? 0 : -2;
}

int
net_step_linear(struct net *n, const struct net_example *x, float lr, float l2)
{
    const struct net_dims *d = &n->dims;
    uint32_t lmask = (uint32_t) (((uint64_t) 1 << d->lin_bits) - 1);
    float e[NET_MAX_EMB_DIM], h[NET_MAX_HIDDEN], z, logit, g, gz;
    uint32_t *slot, t;
    size_t cap = 16, k;
    float *acc;

    assert(n->owned && net_dims_valid(d));
    if (x->n == 0)
        return 0;               /* no linear weight to step */
    /* Accumulators for this example's slots only: an open-addressing table of
     * (slot + 1, accumulator), so that ids sharing a slot share it as they do
     * in net_train()'s table. */
    while (cap < 2 * (size_t) x->n)
        cap *= 2;
    slot = calloc(cap, sizeof(*slot));
    acc = calloc(cap, sizeof(*acc));
    if (slot == NULL || acc == NULL) {
        free(slot);
        free(acc);
        return -1;
    }
    body(n, x->ids, x->n, e, h, &z);
    logit = net_head(n->head, d->hidden, h, z);
    /* The class weight of a one-example net_train(): n_ex / (2 n_class) = 1/2. */
    g = 0.5f * (net_sigmoid(logit) - (float) (x->spam != 0));
    gz = g * n->head[d->hidden] / sqrtf((float) x->n);
    for (t = 0; t < x->n; t++) {
        uint32_t li = x->ids[t] & lmask;

        k = (li * 2654435761u) & (cap - 1);
        while (slot[k] != 0 && slot[k] != li + 1)
            k = (k + 1) & (cap - 1);
        slot[k] = li + 1;
        ada_step(&n->lin[li], &acc[k], gz + l2 * n->lin[li], lr);
    }
    free(slot);
    free(acc);
    return 0;
}
