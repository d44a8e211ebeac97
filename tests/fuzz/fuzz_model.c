/*
 * fuzz_model.c - libFuzzer target: model file bytes -> model_load(), then a
 * score of a few feature ids with whatever loaded.
 *
 * A model file ends in an XXH64 of everything before it; random bytes would
 * almost never get past that, so when the input is long enough the harness
 * recomputes it over the input (the file then reaches the checks behind the
 * checksum: threshold, pool labels, and the weights met while scoring).  Inputs
 * whose last byte is odd keep their checksum as given, so the mismatch path is
 * fuzzed too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "features.h"
#include "model.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t ids[] = { 1, 7, 4242, 99991, 0x7fffffffu, 0xffffffffu };
    struct model *m = NULL;
    uint8_t *copy;
    char err[512];
    const char *path;
    float p;

    if ((copy = malloc(size ? size : 1)) == NULL)
        return 0;
    memcpy(copy, data, size);
    if (size >= 16 && (copy[size - 1] & 1) == 0) {
        uint64_t sum = XXH64(copy, size - 8, 0);

        memcpy(copy + size - 8, &sum, 8);
    }
    path = fuzz_write_file("model", copy, size);
    free(copy);
    err[0] = '\0';
    if (model_load(path, &m, err, sizeof(err)) != 0) {
        if (m != NULL || err[0] == '\0')
            abort();            /* a refusal always says why */
        return 0;
    }
    p = model_score(m, ids, sizeof(ids) / sizeof(ids[0]), NULL, NULL);
    if (!(p >= 0.0f && p <= 1.0f) && p == p)
        abort();                /* a probability, or NaN from NaN weights */
    (void) p;
    m = model_free(m);
    return 0;
}
