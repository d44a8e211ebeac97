/*
 * msgbuf.h - the buffer a message is kept in between MAIL FROM and end of
 * message: the raw header and body up to a cap (max_message_size), with the
 * bytes past it only counted.
 *
 * A struct msgbuf starts zeroed with cap set; msgbuf_release() frees it.  An
 * allocation failure sets failed and drops the rest: the caller answers as
 * on_error says, it never scores a partial copy as if whole.
 */
#ifndef SPAMSHIFT_MILTER_MSGBUF_H
#define SPAMSHIFT_MILTER_MSGBUF_H

#include <stddef.h>

struct msgbuf {
    unsigned char *buf;         /* raw header + body, at most cap bytes */
    size_t len, alloc, cap;     /* used, allocated, limit */
    size_t total;               /* bytes the message really has */
    int oversize;               /* total went past cap */
    int failed;                 /* out of memory: the buffer is incomplete */
};

/* Append len bytes; past the cap, only count them. */
void msgbuf_append(struct msgbuf *b, const void *data, size_t len);

/* SMTP carries CRLF; the same message in a mailbox file has LF.  Scoring the
 * LF form makes X-Spam-Score equal what `spamshift classify` prints for the
 * delivered file.  In place, once, at eom (a CR and its LF may arrive in two
 * body chunks). */
void msgbuf_to_lf(struct msgbuf *b);

/* Free the bytes; b can be reused after zeroing. */
void msgbuf_release(struct msgbuf *b);

#endif
