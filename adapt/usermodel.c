/*
 * usermodel.c - the user model's residual lookup, its blob for the store and
 * its destructor.  The blob is little-endian (common/le.h) and ends with an
 * XXH32 of everything before it; user_model_decode() validates every length
 * and value, so a damaged store row is refused, never trusted.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "le.h"
#include "sorted.h"
#include "score.h"


#define UM_MAGIC 0x4d555053u       /* "SPUM" little-endian */
#define UM_BLOB_VERSION 1u
#define UM_HEADER_LEN 32           /* magic, version, hidden, bits, seed, n, version64 */

float
user_model_slot_weight(const struct user_model *um, uint32_t slot)
{
    long i = sorted_u32_find(um->resid_slot, um->n_resid, slot);

    return i >= 0 ? um->resid_w[i] : 0.0f;
}

/*
 * Layout (little-endian): magic, blob version, hidden, resid_bits, seed,
 * n_resid, version (u64), head (hidden + 2 floats), n_resid (slot, weight)
 * pairs, XXH32 of everything before it.
 */
void *
user_model_encode(const struct user_model *um, size_t *len)
{
    uint32_t nh = NET_HEAD_LEN(um->hidden), k;
    size_t n = UM_HEADER_LEN + (size_t) nh * 4 + (size_t) um->n_resid * 8 + 4;
    uint8_t *b, *p;

    if ((b = malloc(n)) == NULL)
        return NULL;
    le_put32(b, UM_MAGIC);
    le_put32(b + 4, UM_BLOB_VERSION);
    le_put32(b + 8, um->hidden);
    le_put32(b + 12, um->resid_bits);
    le_put32(b + 16, um->seed);
    le_put32(b + 20, um->n_resid);
    le_put32(b + 24, (uint32_t) um->version);
    le_put32(b + 28, (uint32_t) (um->version >> 32));
    p = b + UM_HEADER_LEN;
    for (k = 0; k < nh; k++, p += 4)
        le_putf(p, um->head[k]);
    for (k = 0; k < um->n_resid; k++, p += 8) {
        le_put32(p, um->resid_slot[k]);
        le_putf(p + 4, um->resid_w[k]);
    }
    le_put32(p, XXH32(b, n - 4, 0));
    *len = n;
    return b;
}

struct user_model *
user_model_decode(const void *blob, size_t len)
{
    const uint8_t *b = blob, *p;
    struct user_model *um;
    uint32_t hidden, bits, n_resid, k;

    if (blob == NULL || len < UM_HEADER_LEN + 4 || le_get32(b) != UM_MAGIC
        || le_get32(b + 4) != UM_BLOB_VERSION)
        return NULL;
    hidden = le_get32(b + 8);
    bits = le_get32(b + 12);
    n_resid = le_get32(b + 20);
    if (hidden > NET_MAX_HIDDEN || bits > 31 || (n_resid > 0 && bits == 0)
        || (uint64_t) n_resid > ((uint64_t) 1 << bits) + ADAPT_MEMORY_BIT + ADAPT_LEARNED_BIT)
        return NULL;
    if ((uint64_t) len != UM_HEADER_LEN + (uint64_t) NET_HEAD_LEN(hidden) * 4
        + (uint64_t) n_resid * 8 + 4)
        return NULL;
    if (XXH32(b, len - 4, 0) != le_get32(b + len - 4))
        return NULL;
    if ((um = calloc(1, sizeof(*um))) == NULL)
        return NULL;
    um->hidden = hidden;
    um->resid_bits = bits;
    um->seed = le_get32(b + 16);
    um->version = (uint64_t) le_get32(b + 24) | (uint64_t) le_get32(b + 28) << 32;
    p = b + UM_HEADER_LEN;
    for (k = 0; k < NET_HEAD_LEN(hidden); k++, p += 4)
        if (!isfinite(um->head[k] = le_getf(p)))
            return user_model_free(um);
    if (n_resid > 0) {
        um->resid_slot = malloc(n_resid * sizeof(uint32_t));
        um->resid_w = malloc(n_resid * sizeof(float));
        if (um->resid_slot == NULL || um->resid_w == NULL)
            return user_model_free(um);
        um->n_resid = n_resid;
        for (k = 0; k < n_resid; k++, p += 8) {
            um->resid_slot[k] = le_get32(p);
            um->resid_w[k] = le_getf(p + 4);
            /* token slots below 2^bits, sender-memory slots in
             * [ADAPT_MEMORY_BIT, ADAPT_LEARNED_BIT) (bits <= 30), learned
             * slots from ADAPT_LEARNED_BIT (bits < 31) */
            if ((k > 0 && um->resid_slot[k] <= um->resid_slot[k - 1])
                || (um->resid_slot[k] >> bits != 0
                    && (bits >= 31 || um->resid_slot[k] < ADAPT_MEMORY_BIT))
                || !isfinite(um->resid_w[k]))
                return user_model_free(um);
        }
    }
    return um;
}

struct user_model *
user_model_free(struct user_model *um)
{
    if (um != NULL) {
        free(um->resid_slot);
        free(um->resid_w);
        free(um);
    }
    return NULL;
}
