/*
 * net.h - the classifier network: a body over hashed feature ids and a head.
 *
 *   z = sum over ids of lin[id mod 2^lin_bits] / sqrt(n)     (sparse linear logit,
 *                                                             n = number of ids)
 *   e = mean over ids of emb[id mod 2^emb_bits]              (emb_dim floats)
 *   h = tanh(w1 . e + b1)                                     (hidden floats = d)
 *   logit = head . [h; z; 1]                                  (head = NET_HEAD_LEN(d) floats)
 *
 * Dividing z by sqrt(n) makes the id bag a unit-length vector, as in the
 * online logistic regression spam filters of the TREC spam track: long
 * messages no longer get extreme scores from sheer length (measured on the
 * SpamAssassin temporal split: (1-AUC)% 1.11 -> 0.71 with the same features).
 * The global head is trained jointly with the body; a user's head (adapt/) has the
 * same layout and is applied with net_head().  Knows nothing of files or users.
 * Forward passes are reentrant and read-only on the weights.
 */
#ifndef SPAMSHIFT_NET_H
#define SPAMSHIFT_NET_H

#include <stddef.h>
#include <stdint.h>

#define NET_MAX_HIDDEN 256
#define NET_MAX_EMB_DIM 256
#define NET_MAX_LIN_BITS 28
#define NET_MAX_EMB_BITS 24
#define NET_HEAD_LEN(d) ((d) + 2)     /* v over h (d), v_z, bias c */

struct counts;

struct net_dims {
    uint32_t lin_bits;      /* sparse linear table has 2^lin_bits weights */
    uint32_t emb_bits;      /* embedding table has 2^emb_bits rows */
    uint32_t emb_dim;       /* width of one embedding row, a multiple of 4 */
    uint32_t hidden;        /* d, width of h; <= NET_MAX_HIDDEN */
};

/* Weights.  When loaded from a model file they point into a read-only mapping and
 * owned == 0; net_alloc() makes them heap-owned (owned == 1). */
struct net {
    struct net_dims dims;
    float *lin;             /* 2^lin_bits */
    float *emb;             /* 2^emb_bits * emb_dim, row-major */
    float *w1;              /* hidden * emb_dim, row-major (row = one hidden unit) */
    float *b1;              /* hidden */
    float *head;            /* NET_HEAD_LEN(hidden): global head */
    int owned;
    /* Token-count evidence (counts.h), or NULL: when count_z != 0, z gains
     * count_z x the Fisher log-odds of the ids, count_z = W / v_z, so the
     * global logit gains exactly W x it and a user's head sees it through z.
     * Not owned: the model holds the table. */
    const struct counts *counts;
    float count_z;
};

/* One labelled training message: its feature ids (sorted, unique) and label. */
struct net_example {
    const uint32_t *ids;
    uint32_t n;
    uint8_t spam;           /* 1 = spam, 0 = ham */
};

struct net_train_opts {
    uint32_t epochs;
    float lr;               /* AdaGrad base learning rate of the sparse linear path */
    float l2;               /* L2 on touched weights */
    uint64_t seed;          /* shuffling and initialisation */
    float lr_dense;         /* AdaGrad base learning rate of emb, w1, b1 and the head */
    float aux;              /* weight of the auxiliary loss of a head over h alone,
                             * which keeps h predictive for per-user heads */
    /* Optional progress callback, called after each epoch with the mean loss. */
    void (*progress)(void *arg, uint32_t epoch, uint32_t epochs, double loss);
    void *arg;
};

struct net_train_summary {
    uint32_t epochs;
    double loss;            /* mean class-balanced logistic loss of the last epoch */
};

/* Fill *d with the default dimensions. */
/* splitmix64: the next 64 random bits of *state.  The one PRNG of model/
 * (initialisation, shuffling, the source pool): the same sequence on every
 * platform.  Cannot fail. */
uint64_t net_splitmix64(uint64_t *state);

void net_dims_default(struct net_dims *d);
void net_train_opts_default(struct net_train_opts *o);

/* 1 if every dimension is within the NET_MAX_* limits (and >= 1), else 0. */
int net_dims_valid(const struct net_dims *d);

/* Allocate heap weights for dims, initialised deterministically from seed.
 * Returns 0, or -1 on invalid dims or allocation failure (n left empty). */
int net_alloc(struct net *n, const struct net_dims *d, uint64_t seed);

/* Free heap-owned weights; a no-op for mapped weights.  Accepts an empty net. */
void net_release(struct net *n);

/* Body then global head.  Writes h (hidden floats) and z when non-NULL (z with
 * the count term when the net has one); returns the global head's logit.
 * Reentrant; ids need not be sorted. */
float net_forward(const struct net *n, const uint32_t *ids, size_t n_ids,
                  float *h, float *z);

/* Apply any head (global or a user's) to a representation [h; z]. */
float net_head(const float *head, uint32_t hidden, const float *h, float z);

/* Train body and global head jointly on ex[0..n_ex) (class-balanced logistic
 * loss, AdaGrad with lazy sparse updates, seeded shuffles).  Deterministic: the
 * same weights, examples and options give bit-identical weights.
 * Returns 0; -1 on allocation failure; -2 if training diverged (the loss is
 * not finite: learning rates too high), the weights then being useless. */
int net_train(struct net *n, const struct net_example *ex, size_t n_ex,
              const struct net_train_opts *o, struct net_train_summary *sum);

/* One online step on the sparse linear weights of one example: exactly what
 * net_train() of that example alone does to them with epochs 1, aux 0 and
 * lr_dense 0 (fresh AdaGrad accumulators, so each weight moves by about lr
 * against its gradient's sign; the one-example class weight 1/2; ids that share
 * a slot share its accumulator), without allocating net_train()'s table-sized
 * accumulators or touching the dense path and the head.  Returns 0, or -1 when
 * out of memory (the weights then unchanged).  Not reentrant on the same net. */
int net_step_linear(struct net *n, const struct net_example *x, float lr, float l2);

static inline float net_sigmoid(float x)
{
    extern float expf(float);
    return x >= 0 ? 1.0f / (1.0f + expf(-x)) : expf(x) / (1.0f + expf(x));
}

#endif
