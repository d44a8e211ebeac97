/*
 * fuzz_features.c - libFuzzer target: raw message bytes -> features_extract().
 *
 * The input is one message as the milter or the CLI would hand it over (may
 * hold NUL bytes, CRLF, broken MIME).  Besides "no crash, no leak, no UB" under
 * ASan/UBSan, the bag's own contract is checked: ids strictly ascending, every
 * token callback has a non-empty text whose hash is the id reported, and the
 * same bytes extract to the same bag and digest twice (no hidden state in the
 * per-thread scratch buffers).  Built by tests/fuzz/build.sh.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "features.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    if (features_global_init() != 0)
        abort();
    return 0;
}

static void
check_token(void *arg, uint32_t id, const char *token, size_t len)
{
    size_t *count = arg;

    if (len == 0 || token == NULL || features_hash(token, len) != id)
        abort();
    (*count)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct features a, b;
    size_t count = 0, i;

    features_init(&a);
    features_init(&b);
    if (features_extract((const char *) data, size, &a, check_token, &count) != 0)
        abort();                /* only allocation failure may fail, and none here */
    for (i = 1; i < a.n; i++)
        if (a.ids[i] <= a.ids[i - 1])
            abort();
    if (a.n > count)
        abort();                /* every id came from some token */
    if (features_extract((const char *) data, size, &b, NULL, NULL) != 0)
        abort();
    if (a.n != b.n || a.flags != b.flags || memcmp(a.digest, b.digest, 16) != 0
        || (a.n > 0 && memcmp(a.ids, b.ids, a.n * sizeof(*a.ids)) != 0))
        abort();
    features_clear(&a);
    features_clear(&b);
    return 0;
}
