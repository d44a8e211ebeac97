/*
 * features.h - one function from raw message bytes to a sparse bag of hashed
 * feature ids, used by training, scoring, learning and explaining alike.
 *
 * The bag is a set: ids are sorted ascending and unique (presence, not counts).
 * Ids are the low 32 bits of XXH3-64 over the prefixed token text; a model
 * reduces them modulo its own table sizes.  The token texts (`spamshift explain`
 * shows them): body words bare ("viagra"), "subj:", "from:addr:", "from:dom:",
 * "from:name:", "replyto:dom:", "to:count:", "cc:count:", "rcvd:hops:",
 * "rcvd:relay:" (first accepting server's registered domain), "msgid:" (from-dom,
 * other-dom, missing), "mailer:", "hdr:" (header names present, transit headers
 * excluded), "ct:", "cte:", "prio:", "url:host", "url:dom:", "meta:" (size, parts,
 * attachments, html-only, flags), "html:" (img, links, invisible, ratio, ...).
 * OSB word pairs are implemented but off (see fx.h for the measurements).
 * Extraction never fails on bad mail: broken MIME, unknown charsets, invalid
 * UTF-8 and NUL bytes are handled best-effort and flagged.
 *
 * Thread-safety: features_extract() is reentrant once features_global_init() has
 * run (GMime and libxml2 are initialised there, once, in main()).
 */
#ifndef SPAMSHIFT_FEATURES_H
#define SPAMSHIFT_FEATURES_H

#include <stddef.h>
#include <stdint.h>

/* Bumped whenever tokenization or hashing changes: a model records the version it
 * was trained with and is refused by a binary whose version differs. */
#define FEATURES_VERSION 1

/* Flags describing what extraction met; for logs and headers, never fatal. */
#define FEATURES_F_MIME_ERROR   0x01u  /* MIME structure broken; parsed best-effort */
#define FEATURES_F_CHARSET      0x02u  /* unknown/wrong charset; converted best-effort */
#define FEATURES_F_TRUNCATED    0x04u  /* text or token limit hit; the rest ignored */
#define FEATURES_F_DEEP         0x08u  /* MIME nesting limit hit */
#define FEATURES_F_EMPTY        0x10u  /* no header and no body text at all */

struct features {
    uint32_t *ids;          /* sorted, unique; owned by the struct */
    size_t n;               /* number of ids */
    size_t cap;             /* allocated slots */
    uint32_t flags;         /* FEATURES_F_* */
    uint8_t digest[16];     /* message digest, see features_extract() */
};

/* Called once per token occurrence (before de-duplication) when explaining:
 * token is the prefixed text, not NUL-terminated, valid only during the call. */
typedef void (*features_token_fn)(void *arg, uint32_t id, const char *token, size_t len);

/* Initialise GMime and libxml2 once per process, before any thread starts.
 * Returns 0, or -1 if a library could not be initialised. */
int features_global_init(void);
void features_global_shutdown(void);

/* An empty bag; no allocation. */
void features_init(struct features *f);

/* Frees the ids and empties the bag (the struct itself is the caller's).
 * Accepts a bag that was only initialised. */
void features_clear(struct features *f);

/*
 * Extract the features of one message of len bytes (need not be NUL-terminated,
 * may contain NUL bytes and CRLF).  A leading mbox "From " line is ignored.
 * On success the bag is replaced (previous ids dropped), flags set, and digest
 * filled: 128-bit xxHash (XXH3-128) over the Message-ID, Date, From and Subject
 * header values (whitespace runs made one space) and the body with line endings
 * normalised to LF and trailing blank lines dropped, so headers added in transit
 * (Received, X-Spam-*, X-Spamshift-*, Delivered-To, Return-Path, ...) do not
 * change it.  The body starts after the first blank line, or at the first line
 * that cannot be a header (mail written without the blank line).
 * Per message at most 512 KiB of decoded text and 65,536 token occurrences are
 * used (FEATURES_F_TRUNCATED beyond).  Keeps a few scratch buffers per thread
 * between calls (freed when the thread ends).
 * If tok is non-NULL it is called for every token (explain).
 * Returns 0, or -1 on allocation failure (bag left empty).
 */
int features_extract(const char *buf, size_t len, struct features *out,
                     features_token_fn tok, void *arg);

/* The id of one prefixed token, as features_extract() computes it. */
uint32_t features_hash(const char *token, size_t len);

#endif
