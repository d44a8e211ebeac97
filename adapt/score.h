/*
 * score.h - scoring mail with a user's model: the user model itself, its
 * residual slots, the logit and probability, its blob for the store.  This is
 * all a scorer (the milter, classify, explain) needs of adapt/; score.c and
 * usermodel.c are all it links.
 *
 *   user logit = net_head(user head, h, z) + sum over ids of residual[uhash(id)] / sqrt(n)
 *                + residual[learned slot of the whole message] * ceil(G sqrt(n)) / sqrt(n)
 *                + sum over ids of residual[memory slot(id)]    (the sender memory)
 *
 * (the residual is normalised by the square root of the message's id count like
 * the body's linear path, so one weight is one token's pull for this user).
 * The public names keep the adapt_ / user_model_ prefixes the CLI and the
 * milter call them by.
 */
#ifndef SPAMSHIFT_ADAPT_SCORE_H
#define SPAMSHIFT_ADAPT_SCORE_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* One message of the user's: its feature ids and its representation under the
 * base body (filled by adapt_represent()).  spam is 0/1 for feedback and ignored
 * for unlabelled reservoir samples. */
struct adapt_example {
    const uint32_t *ids;        /* sorted unique feature ids; borrowed */
    uint32_t n;
    float h[NET_MAX_HIDDEN];
    float z;
    uint8_t spam;
};

/* A user's fitted model.  Immutable once published; freed with user_model_free(). */
struct user_model {
    uint32_t hidden;                        /* must equal the model's */
    float head[NET_HEAD_LEN(NET_MAX_HIDDEN)];
    uint32_t seed;                          /* residual hash seed, from the user key */
    uint32_t resid_bits;                    /* slot = XXH32(id, seed) & (2^bits - 1) */
    uint32_t n_resid;                       /* residual entries, sorted by slot */
    uint32_t *resid_slot;
    float *resid_w;
    uint64_t version;                       /* bumped by the store on publish */
};


/* Compute ex->h and ex->z from ex->ids with the base body.  Never fails. */
void adapt_represent(const struct model *m, struct adapt_example *ex);

/* Spam probability of a message for a user: um == NULL means the global head. */
float adapt_score(const struct model *m, const struct user_model *um,
                  const uint32_t *ids, size_t n);

/* The same as a logit, from a representation already computed (adapt_represent
 * or model_score); um == NULL means the global head. */
float adapt_logit(const struct model *m, const struct user_model *um,
                  const float *h, float z, const uint32_t *ids, size_t n);

/* XXH32 of v's 4 little-endian bytes with seed, computed inline. */
uint32_t adapt_hash_u32(uint32_t v, uint32_t seed);

/* The residual slot of a feature id for a seed (XXH32 of the id's 4
 * little-endian bytes, masked to bits). */
uint32_t adapt_resid_slot(uint32_t id, uint32_t seed, uint32_t bits);

/* The learned-message slot of a message (its sorted unique ids): XXH32 of
 * the ids' little-endian bytes with a seed derived from the user's, in the
 * upper half of the slot space (ADAPT_LEARNED_BIT set), apart from the token
 * slots.  Its weight counts ceil(ADAPT_LEARNED_GAIN sqrt(n)) / sqrt(n) times
 * in the message's logit.  Only with resid_bits < 31. */
#define ADAPT_LEARNED_BIT 0x80000000u
#define ADAPT_LEARNED_GAIN 32.0
uint32_t adapt_learned_slot(const uint32_t *ids, size_t n, uint32_t seed);

/* The sender-memory slot of a feature id (sendermem.c fits it): XXH32 of the
 * id with a seed derived from the user's (ADAPT_MEMORY_SALT) in
 * [ADAPT_MEMORY_BIT, ADAPT_LEARNED_BIT), above every token slot and below
 * every learned slot, so it collides with neither.  Every id of a message
 * reads its memory slot; a weight there counts once (not scaled by
 * 1/sqrt(n)).  Only ids that mark one taught sender or campaign have one, so
 * the sum is that sender's memory and 0 for other mail.  Only with
 * resid_bits <= 30. */
#define ADAPT_MEMORY_BIT 0x40000000u
#define ADAPT_MEMORY_SALT 0x534e4452u
uint32_t adapt_memory_slot(uint32_t id, uint32_t seed);

/* The logit share of the sender memory under um for a message of ids[0..n):
 * the sum of the ids' memory-slot weights, in double; 0 when um is NULL, n is
 * 0 or um has no memory range (resid_bits > 30). */
double adapt_memory_share(const struct user_model *um, const uint32_t *ids, size_t n);


/* How many times a message of n ids carries its learned slot in its logit:
 * ceil(ADAPT_LEARNED_GAIN sqrt(n)) (0 for n = 0). */
uint32_t adapt_learned_reps(size_t n);

/* The logit share of a message's own learned slot under um:
 * weight(learned slot) * adapt_learned_reps(n) / sqrt(n), in double; 0 when um
 * is NULL, n is 0 or um has no learned slots (resid_bits >= 31).  Non-zero
 * only for a message the user taught, or an exact duplicate of one. */
double adapt_learned_share(const struct user_model *um, const uint32_t *ids, size_t n);

/* The stored weight of one residual slot of um (token or learned slot), 0 when
 * the user model has none there.  Binary search; never fails. */
float user_model_slot_weight(const struct user_model *um, uint32_t slot);

/* The residual hash seed of a user key (lowercased address). */
uint32_t adapt_user_seed(const char *user_key);

/* Serialise/deserialise a user model to a compact little-endian blob for the
 * store.  user_model_decode() validates lengths and returns NULL on a bad blob. */
void *user_model_encode(const struct user_model *um, size_t *len);
struct user_model *user_model_decode(const void *blob, size_t len);
struct user_model *user_model_free(struct user_model *um);

#endif
