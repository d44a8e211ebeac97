/*
 * digest.h - the message digest that features_extract() stores in
 * struct features (digest.c).  Internal to model/.
 */
#ifndef SPAMSHIFT_DIGEST_H
#define SPAMSHIFT_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* The 16-byte digest of the message buf[0..len) (need not be NUL-terminated)
 * into out.  A leading mbox "From " line is skipped; the body starts after the
 * first blank line, or at the first line that cannot be a header.  Cannot fail. */
void digest_message(const char *buf, size_t len, uint8_t out[16]);

#endif
