/*
 * idpack.c - delta + varint coding of sorted feature ids; see idpack.h.
 */
#include "config.h"

#include "idpack.h"

size_t
idpack_encode(const uint32_t *ids, size_t n, uint8_t *out)
{
    size_t len = 0;
    uint32_t prev = 0;

    for (size_t i = 0; i < n; i++) {
        uint32_t v;

        if (i > 0 && ids[i] <= prev)
            return (size_t)-1;
        v = i == 0 ? ids[0] : ids[i] - prev;
        prev = ids[i];
        while (v >= 0x80) {
            out[len++] = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        out[len++] = (uint8_t)v;
    }
    return len;
}

int
idpack_decode(const uint8_t *buf, size_t len, uint32_t *out, size_t n)
{
    size_t pos = 0;
    uint64_t prev = 0;

    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0;
        unsigned shift = 0;

        for (;;) {
            uint8_t b;

            if (pos >= len || shift > 28)
                return -1;              /* truncated, or more than 5 bytes */
            b = buf[pos++];
            v |= (uint64_t)(b & 0x7f) << shift;
            shift += 7;
            if ((b & 0x80) == 0)
                break;
        }
        /* A last byte of zero after a continuation is a zero-padded varint:
         * the same ids would have two encodings.  Found by tests/fuzz/fuzz_blob
         * (regression: tests/fuzz/regress/blob/overlong-varint). */
        if (shift > 7 && buf[pos - 1] == 0)
            return -1;
        if (i > 0 && v == 0)
            return -1;                  /* duplicate id */
        v += i == 0 ? 0 : prev;
        if (v > UINT32_MAX)
            return -1;
        out[i] = (uint32_t)v;
        prev = v;
    }
    return pos == len ? 0 : -1;
}
