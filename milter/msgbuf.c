/*
 * msgbuf.c - the capped message buffer; see msgbuf.h.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "msgbuf.h"

void
msgbuf_append(struct msgbuf *b, const void *data, size_t len)
{
    size_t room;

    b->total += len;
    if (b->failed)
        return;
    if (b->len + len > b->cap)
        b->oversize = 1;
    room = b->cap - b->len;
    if (len > room)
        len = room;
    if (len == 0)
        return;
    if (b->len + len > b->alloc) {
        size_t want = b->alloc == 0 ? 16384 : b->alloc;
        unsigned char *nb;

        while (want < b->len + len)
            want *= 2;
        if (want > b->cap)
            want = b->cap;
        if ((nb = realloc(b->buf, want)) == NULL) {
            b->failed = 1;
            return;
        }
        b->buf = nb;
        b->alloc = want;
    }
    memcpy(b->buf + b->len, data, len);
    b->len += len;
}

void
msgbuf_to_lf(struct msgbuf *b)
{
    size_t o = 0;

    for (size_t i = 0; i < b->len; i++)
        if (!(b->buf[i] == '\r' && i + 1 < b->len && b->buf[i + 1] == '\n'))
            b->buf[o++] = b->buf[i];
    b->len = o;
}

void
msgbuf_release(struct msgbuf *b)
{
    free(b->buf);
    b->buf = NULL;
    b->len = b->alloc = 0;
}
