/*
 * canon.h - the canonical form of a message: the copy spamshift-milter scanned,
 * recovered from any later copy of it (canon.c).  features_extract() runs on
 * the canonical form, so the digest, the features and what `learn` remembers
 * are the same for the copy the milter scored and the copy a user moves into
 * Junk after delivery.  Internal to model/ but for the marker, which the
 * milter writes (doc/design.md, "The delivered copy").
 *
 * The rule, applied to the header block (up to the first blank line, or the
 * first line that cannot be a header, as digest.c and mime.c have it):
 *   1. spamshift's own headers and the delivery headers are dropped wherever
 *      they are: X-Spam-*, X-Spamshift-* (other filters' X-Spam-* too: no
 *      feature ever read them), Return-Path, Delivered-To, X-Original-To,
 *      Envelope-To, Delivery-Date;
 *   2. with the milter's marker (CANON_MARKER: "received=N"), a copy with D > N
 *      Received headers loses its first D - N Received headers and every header
 *      above the last of them: what the MTA, the LDA or LMTP added after the
 *      milter (Postfix hands the milter its own Received header, so N counts
 *      it; the LDA's come on top);
 *   3. with "subject-prefix=P" in the marker, the first Subject that starts
 *      with P and a space loses them (the milter wrote "P " + the Subject it
 *      scanned); with "subject-added", the first Subject is dropped (the
 *      message had none);
 *   4. CRLF becomes LF and a leading mbox From_ line is dropped.
 *   6. a line of 998 octets (without its line end) and a next line that
 *      starts with a space are one line: an SMTP client after the milter
 *      (Postfix's smtp_line_length_limit, a hub hop) breaks longer lines by
 *      inserting CRLF SPACE, each piece 998 octets with the space; the
 *      milter saw the line whole.  Undone on every copy, the scanned one
 *      too, so a message broken before the milter reads alike as well.
 * Without a marker only 1, 4 and 6 apply.  The milter never buffers a marker
 * that comes from outside (it removes our headers from its input), so a
 * forged one changes only the sender's own file read with `classify`.
 */
#ifndef SPAMSHIFT_CANON_H
#define SPAMSHIFT_CANON_H

#include <stddef.h>

/* The header the milter adds (appends) to every message it scores; the last
 * one in a copy is read. */
#define CANON_MARKER "X-Spamshift-Seen"

/*
 * The canonical form of buf[0..len) (need not be NUL-terminated).  Returns 1
 * and a malloc'd copy in *out (*outlen bytes, NUL-terminated; the caller
 * frees it) when anything changes; 0 with *out = NULL when buf is canonical as
 * it is; -1 with *out = NULL when memory is short.  Reentrant.
 */
int canon_message(const char *buf, size_t len, char **out, size_t *outlen);

/* The number of Received headers in the header block of buf[0..len): the N
 * the milter writes into its marker.  Cannot fail. */
unsigned canon_received(const char *buf, size_t len);

/*
 * The marker's value into out[0..size): "received=N", then "; subject-added"
 * when the milter added a Subject (the message had none) or
 * "; subject-prefix=P" when it put prefix P (non-NULL) in front of the Subject.
 * Returns the length it needs (as snprintf); out is cut when size is smaller.
 */
int canon_marker_format(char *out, size_t size, unsigned received, const char *prefix,
                        int subject_added);

#endif
