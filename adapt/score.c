/*
 * score.c - a user's score with a user model: the residual hash slots of a
 * message (token slots and the learned-message slot), the logit and the
 * probability.  This and usermodel.c are all that a scorer (the milter,
 * classify, explain) links from adapt/; nothing here allocates.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include <xxhash.h>

#include "score.h"

uint32_t
adapt_user_seed(const char *user_key)
{
    return XXH32(user_key, strlen(user_key), 0x53505348u);
}

/*
 * XXH32 of the four little-endian bytes of v: the same value as
 * XXH32(le, 4, seed), written out for this one length (xxHash's published
 * algorithm: seed + PRIME5 + length, one 4-byte lane, the final avalanche).
 * A refit hashes every (message, id) pair of the user's feedback and
 * self-trained sample, a hundred thousand and more; the library call was most
 * of building a fit's slots.  test_fit checks it against XXH32.
 */
static inline uint32_t
rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

uint32_t
adapt_hash_u32(uint32_t v, uint32_t seed)
{
    uint32_t h = seed + 0x165667B1u + 4u;

    h += v * 0xC2B2AE3Du;
    h = rotl32(h, 17) * 0x27D4EB2Fu;
    h ^= h >> 15;
    h *= 0x85EBCA77u;
    h ^= h >> 13;
    h *= 0xC2B2AE3Du;
    h ^= h >> 16;
    return h;
}

uint32_t
adapt_resid_slot(uint32_t id, uint32_t seed, uint32_t bits)
{
    uint32_t mask = bits >= 32 ? UINT32_MAX : ((uint32_t) 1 << bits) - 1;

    return adapt_hash_u32(id, seed) & mask;
}

uint32_t
adapt_learned_slot(const uint32_t *ids, size_t n, uint32_t seed)
{
    uint32_t h = seed ^ 0x4c524e44u;
    size_t i;

    /* chained: each id's bytes hashed with the previous hash as the seed */
    for (i = 0; i < n; i++)
        h = adapt_hash_u32(ids[i], h);
    return ADAPT_LEARNED_BIT | (h & (ADAPT_LEARNED_BIT - 1));
}

/* How many times a message of n ids carries its learned slot in the residual
 * fit: its pull is then reps / sqrt(n) ~ ADAPT_LEARNED_GAIN times the slot's
 * weight, so the slot's L2 is the residual's divided by the gain squared. */
uint32_t
adapt_learned_reps(size_t n)
{
    return n > 0 ? (uint32_t) ceil(ADAPT_LEARNED_GAIN * sqrt((double) n)) : 0;
}

double
adapt_learned_share(const struct user_model *um, const uint32_t *ids, size_t n)
{
    if (um == NULL || n == 0 || um->resid_bits >= 31)
        return 0;
    return user_model_slot_weight(um, adapt_learned_slot(ids, n, um->seed))
        * (double) adapt_learned_reps(n) / sqrt((double) n);
}

uint32_t
adapt_memory_slot(uint32_t id, uint32_t seed)
{
    return ADAPT_MEMORY_BIT | (adapt_hash_u32(id, seed ^ ADAPT_MEMORY_SALT)
                               & (ADAPT_MEMORY_BIT - 1));
}

double
adapt_memory_share(const struct user_model *um, const uint32_t *ids, size_t n)
{
    double s = 0;

    if (um == NULL || n == 0 || um->resid_bits > 30 || um->n_resid == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        s += user_model_slot_weight(um, adapt_memory_slot(ids[i], um->seed));
    return s;
}

void
adapt_represent(const struct model *m, struct adapt_example *ex)
{
    (void) net_forward(&m->net, ex->ids, ex->n, ex->h, &ex->z);
}

float
adapt_logit(const struct model *m, const struct user_model *um, const float *h,
            float z, const uint32_t *ids, size_t n)
{
    float s;
    size_t i;

    /* A user model fitted against other dimensions cannot apply: the global
     * head is the safe answer (the store refits it). */
    if (um == NULL || um->hidden != m->net.dims.hidden)
        return net_head(m->net.head, m->net.dims.hidden, h, z);
    s = net_head(um->head, um->hidden, h, z);
    if (um->n_resid > 0 && n > 0) {
        float rs = 0;

        for (i = 0; i < n; i++)
            rs += user_model_slot_weight(um, adapt_resid_slot(ids[i], um->seed, um->resid_bits));
        if (um->resid_bits < 31)
            rs += (float) adapt_learned_reps(n)
                * user_model_slot_weight(um, adapt_learned_slot(ids, n, um->seed));
        s += rs / sqrtf((float) n);
        s += (float) adapt_memory_share(um, ids, n);
    }
    return s;
}

float
adapt_score(const struct model *m, const struct user_model *um,
            const uint32_t *ids, size_t n)
{
    float h[NET_MAX_HIDDEN], z;

    (void) net_forward(&m->net, ids, n, h, &z);
    return net_sigmoid(adapt_logit(m, um, h, z, ids, n));
}
