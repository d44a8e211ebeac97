/*
 * le.h - little-endian encoding of the fixed-width fields in spamshift's on-disk
 * formats (the model file, the user-model and fit-cache blobs, the store's
 * histogram and representation columns).
 *
 * Byte by byte, so that the code is right on any host and never makes an
 * unaligned access; compilers turn each into one load or store on x86 and ARM.
 * The buffers are the caller's: nothing here allocates or fails.
 */
#ifndef SPAMSHIFT_LE_H
#define SPAMSHIFT_LE_H

#include <stdint.h>
#include <string.h>

static inline void
le_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
    p[2] = (uint8_t) (v >> 16);
    p[3] = (uint8_t) (v >> 24);
}

static inline uint32_t
le_get32(const uint8_t *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
        | (uint32_t) p[3] << 24;
}

static inline void
le_put64(uint8_t *p, uint64_t v)
{
    le_put32(p, (uint32_t) v);
    le_put32(p + 4, (uint32_t) (v >> 32));
}

static inline uint64_t
le_get64(const uint8_t *p)
{
    return (uint64_t) le_get32(p) | (uint64_t) le_get32(p + 4) << 32;
}

/* IEEE-754 binary32 and binary64, stored as their bit patterns. */
static inline void
le_putf(uint8_t *p, float f)
{
    uint32_t v;

    memcpy(&v, &f, sizeof(v));
    le_put32(p, v);
}

static inline float
le_getf(const uint8_t *p)
{
    uint32_t v = le_get32(p);
    float f;

    memcpy(&f, &v, sizeof(f));
    return f;
}

static inline void
le_putd(uint8_t *p, double d)
{
    uint64_t v;

    memcpy(&v, &d, sizeof(v));
    le_put64(p, v);
}

static inline double
le_getd(const uint8_t *p)
{
    uint64_t v = le_get64(p);
    double d;

    memcpy(&d, &v, sizeof(d));
    return d;
}

#endif
