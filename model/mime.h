/*
 * mime.h - raw message bytes to decoded headers, addresses, parts and UTF-8 text,
 * through GMime 3.  The only file allowed to use GMime.
 *
 * The walk reports what it finds through a sink of callbacks, so that the caller
 * (features.c) sees no GMime type.  Strings handed to a callback are valid only
 * during the call.  Never fails on bad mail: broken structure, unknown charsets
 * and NUL bytes are handled best-effort and reported in the flags
 * (FEATURES_F_* of features.h).  Reentrant once mime_global_init() has run.
 */
#ifndef SPAMSHIFT_MIME_H
#define SPAMSHIFT_MIME_H

#include <stddef.h>
#include <stdint.h>

#define MIME_MAX_DEPTH 32        /* parts nested deeper are not walked (FEATURES_F_DEEP) */
#define MIME_MAX_HEADER_LINES 1000  /* per header block; the rest is dropped
                                       (FEATURES_F_TRUNCATED): GMime keeps every
                                       header in memory */
#define MIME_MAX_HEADER_BYTES (256u << 10)  /* per header block, likewise */
#define MIME_MAX_BOUNDARIES 2000    /* "--x" lines; the input is cut at the next one
                                       (FEATURES_F_TRUNCATED): GMime spends ~50 us
                                       and 2 KB on every part */
#define MIME_MAX_CONTAINERS 256  /* more multipart/message declarations are cut off, so
                                    GMime's recursive parser stays shallow */

enum mime_field { MIME_FROM, MIME_REPLY_TO, MIME_TO, MIME_CC };

#define MIME_VALUE_NONE    0
#define MIME_VALUE_DECODED 1
#define MIME_VALUE_RAW     2

struct mime_part_info {
    const char *type;       /* "text/plain", lowercased */
    const char *charset;    /* declared charset or NULL */
    const char *filename;   /* declared file name or NULL */
    size_t size;            /* encoded size in bytes */
    unsigned depth;         /* 0 = the message's own body */
    int attachment;         /* not text for reading: not tokenized */
    int container;          /* multipart/... or message/rfc822 */
};

struct mime_sink {
    /* Whether header() needs the value of the header name: MIME_VALUE_NONE,
     * MIME_VALUE_DECODED, or MIME_VALUE_RAW (as written, folded, not decoded:
     * cheaper).  NULL: every value is wanted decoded. */
    int (*want_value)(void *arg, const char *name);
    /* Each top-level header, in order; value RFC 2047-decoded, unfolded, UTF-8
     * (or raw, or NULL, as want_value() asked). */
    void (*header)(void *arg, const char *name, const char *value);
    /* Each mailbox of From, Reply-To, To and Cc (groups are expanded); name may be "". */
    void (*address)(void *arg, enum mime_field field, const char *name, const char *addr);
    /* Each part, containers included, in document order. */
    void (*part)(void *arg, const struct mime_part_info *p);
    /* The decoded UTF-8 text of each text part that is not an attachment (NUL bytes
     * replaced by spaces); html is 1 for text/html. */
    void (*text)(void *arg, const char *utf8, size_t len, int html);
};

/*
 * Parse len bytes of one message (LF or CRLF line ends; a leading mbox "From "
 * line is skipped) and report it to sink.  At most text_budget bytes of text in
 * all are reported (FEATURES_F_TRUNCATED beyond).  Returns the FEATURES_F_* flags
 * met.  If GMime cannot make a message of the bytes at all, the whole input is
 * reported as one text/plain part and FEATURES_F_MIME_ERROR is set.
 */
uint32_t mime_walk(const char *buf, size_t len, size_t text_budget,
                   const struct mime_sink *sink, void *arg);

/*
 * Convert len bytes in charset (NULL: undeclared) to UTF-8.  Returns a g_malloc'd
 * NUL-terminated string and its length in *outlen, never NULL: when the charset is
 * unknown or the bytes are not valid in it, valid UTF-8 is kept and anything else
 * is read as windows-1252, and FEATURES_F_CHARSET is or'ed into *flags.
 */
char *mime_to_utf8(const char *s, size_t len, const char *charset, size_t *outlen,
                   uint32_t *flags);

/*
 * Nonzero if the line s[0..n) can be a header line: a field name of printable
 * characters ending in ':' (RFC 5322 ftext), or a folded continuation.  The
 * first line of the header block that is neither starts the body, as if a blank
 * line preceded it (the Enron corpus writes the body right under "Subject:").
 */
int mime_header_line(const char *s, size_t n);

/* GMime set-up, called by features_global_init() once per process.
 * Returns 0, or -1 if GMime cannot be initialised. */
int mime_global_init(void);
void mime_global_shutdown(void);

#endif
