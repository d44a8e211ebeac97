/*
 * fuzz_blob.c - libFuzzer target: the blobs the store reads back from SQLite.
 *
 * 1. idpack_decode(): a feedback or reservoir row's feature ids.  The store
 *    keeps the id count in its own column; here it is the input's first two
 *    bytes (little-endian, at most 8191) and the blob the rest.  A blob that
 *    decodes must be strictly ascending and encode back to the same bytes
 *    (the format has one encoding per id set).
 * 2. user_model_decode(): a published per-user head.  Its last four bytes are
 *    an XXH32 of the rest; the harness recomputes it when the input's last byte
 *    is even, so the field checks behind it are reached.  A head that decodes
 *    must encode back to the same bytes.
 * 3. adapt_prep_decode(): a user's fit cache (struct adapt_prep), with the
 *    same checksum rule; one that decodes must encode back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "adapt.h"
#include "idpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_idpack(const uint8_t *data, size_t size)
{
    uint32_t *ids;
    uint8_t *again;
    size_t n, len, i;

    if (size < 2)
        return;
    n = ((size_t) data[0] | (size_t) data[1] << 8) & 0x1fff;
    data += 2;
    size -= 2;
    if ((ids = malloc((n ? n : 1) * sizeof(*ids))) == NULL)
        return;
    if (idpack_decode(data, size, ids, n) == 0) {
        for (i = 1; i < n; i++)
            if (ids[i] <= ids[i - 1])
                abort();
        if ((again = malloc(IDPACK_MAX_LEN(n) + 1)) == NULL)
            abort();
        len = idpack_encode(ids, n, again);
        if (len != size || (len > 0 && memcmp(again, data, len) != 0))
            abort();
        free(again);
    }
    free(ids);
}

/* A copy of the input whose last four bytes, when its last byte is even, are
 * replaced by the XXH32 of the rest (the blobs' checksum), so that the checks
 * behind it are reached.  NULL when out of memory. */
static uint8_t *
with_checksum(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);

    if (copy == NULL)
        return NULL;
    memcpy(copy, data, size);
    if (size >= 8 && (copy[size - 1] & 1) == 0) {
        uint32_t sum = XXH32(copy, size - 4, 0);

        memcpy(copy + size - 4, &sum, 4);  /* the formats are little-endian */
    }
    return copy;
}

static void
fuzz_user_model(const uint8_t *data, size_t size)
{
    struct user_model *um;
    uint8_t *copy, *again;
    size_t len;

    if ((copy = with_checksum(data, size)) == NULL)
        return;
    if ((um = user_model_decode(copy, size)) != NULL) {
        if ((again = user_model_encode(um, &len)) == NULL)
            abort();
        if (len != size || memcmp(again, copy, len) != 0)
            abort();
        free(again);
        um = user_model_free(um);
    }
    free(copy);
}

static void
fuzz_prep(const uint8_t *data, size_t size)
{
    struct adapt_prep prep;
    uint8_t *copy, *again;
    size_t len;

    if ((copy = with_checksum(data, size)) == NULL)
        return;
    if (adapt_prep_decode(copy, size, &prep) == 0) {
        if ((again = adapt_prep_encode(&prep, &len)) == NULL)
            abort();
        if (len != size || memcmp(again, copy, len) != 0)
            abort();
        free(again);
        adapt_prep_clear(&prep);
    } else if (prep.mem_slot != NULL || prep.quad != NULL || prep.have_unl)
        abort();            /* a refused blob leaves an empty prep */
    free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_idpack(data, size);
    fuzz_user_model(data, size);
    fuzz_prep(data, size);
    return 0;
}
