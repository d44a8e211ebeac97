/*
 * idpack.h - the compact on-disk form of a message's feature ids, shared by every
 * store backend: sorted unique uint32 ids as the first id then the gaps, each
 * an unsigned LEB128 varint (a few bytes per id instead of four).
 *
 * Pure functions on caller buffers; reentrant; no allocation except where said.
 */
#ifndef SPAMSHIFT_IDPACK_H
#define SPAMSHIFT_IDPACK_H

#include <stddef.h>
#include <stdint.h>

/* Worst-case encoded size of n ids (5 bytes each). */
#define IDPACK_MAX_LEN(n) ((size_t)(n) * 5)

/* Encode ids[0..n) (strictly ascending) into out, which has room for
 * IDPACK_MAX_LEN(n) bytes.  Returns the encoded length, or (size_t)-1 when the ids
 * are not strictly ascending (nothing meaningful is left in out). */
size_t idpack_encode(const uint32_t *ids, size_t n, uint8_t *out);

/* Decode len bytes into exactly n ids (out has room for n).  Returns 0, or -1 on
 * a truncated, overlong (over 5 bytes, or zero-padded) or trailing-garbage
 * blob, a gap of zero (not strictly ascending) or an id above UINT32_MAX; out
 * is then undefined.  A blob that decodes is the one idpack_encode() writes. */
int idpack_decode(const uint8_t *buf, size_t len, uint32_t *out, size_t n);

#endif
