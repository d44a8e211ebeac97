/*
 * canon.c - the canonical form of a message (see canon.h for the rule).
 *
 * Two passes over the header block, no allocation but the output: the first
 * finds the marker, counts the Received headers and sees whether anything
 * changes; the second copies what is kept (CRLF made LF) and then the body.
 * Most messages from a corpus carry a delivery header and are copied once (a
 * few microseconds against the ~100 us of an extraction); a message that
 * needs nothing is not copied at all.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "canon.h"
#include "mime.h"

/* One header field: its first line and its folded continuation lines. */
struct field {
    const char *start;
    size_t len;             /* every line, newlines included */
    const char *name;       /* "" for a continuation line with no field above */
    size_t nlen;
};

/* Where the header block of buf[0..len) starts: after a leading mbox From_ line. */
static const char *canon_begin(const char *buf, size_t len)
{
    const char *nl;

    if (len >= 5 && memcmp(buf, "From ", 5) == 0) {
        nl = memchr(buf, '\n', len);
        return nl != NULL ? nl + 1 : buf + len;
    }
    return buf;
}

/* Length of the line at s (its newline included). */
static size_t line_len(const char *s, const char *end)
{
    const char *nl = memchr(s, '\n', (size_t) (end - s));

    return nl != NULL ? (size_t) (nl - s) + 1 : (size_t) (end - s);
}

/* The next field at *pos into f; returns 0 at the end of the header block (a
 * blank line, a line that cannot be a header, or the end of the input), with
 * *pos at the line that ends it. */
static int next_field(const char **pos, const char *end, struct field *f)
{
    const char *s = *pos, *colon;
    size_t n;

    if (s >= end)
        return 0;
    n = line_len(s, end);
    if (s[0] == '\n' || (s[0] == '\r' && n >= 2 && s[1] == '\n') || !mime_header_line(s, n))
        return 0;
    f->start = s;
    if (s[0] == ' ' || s[0] == '\t') {
        f->name = s;
        f->nlen = 0;
    } else {
        colon = memchr(s, ':', n);
        f->name = s;
        f->nlen = (size_t) (colon - s);
    }
    s += n;
    while (s < end && (s[0] == ' ' || s[0] == '\t'))
        s += line_len(s, end);
    f->len = (size_t) (s - f->start);
    *pos = s;
    return 1;
}

static int name_is(const struct field *f, const char *name)
{
    return f->nlen == strlen(name) && g_ascii_strncasecmp(f->name, name, f->nlen) == 0;
}

/* Rule 1 of canon.h: spamshift's own headers and the delivery headers. */
static int droppable(const struct field *f)
{
    static const char *const delivery[] = {
        "return-path", "delivered-to", "x-original-to", "envelope-to", "delivery-date", NULL
    };
    const char *const *d;

    if (f->nlen >= 6 && g_ascii_strncasecmp(f->name, "x-spam", 6) == 0)
        return 1;               /* X-Spam-*, X-Spamshift-*, the marker too */
    for (d = delivery; *d != NULL; d++)
        if (name_is(f, *d))
            return 1;
    return 0;
}

/* What the marker says. */
struct marker {
    int present;
    unsigned received;
    int subject_added;
    const char *prefix;     /* into the input, not NUL-terminated; NULL: none */
    size_t plen;
};

/* Parse the marker field f ("Name: received=N[; subject-added|; subject-prefix=P]").
 * A marker that does not parse is ignored (rule 1 still drops it). */
static void parse_marker(const struct field *f, struct marker *m)
{
    const char *s = f->name + f->nlen + 1, *end = f->start + line_len(f->start, f->start + f->len);
    unsigned long n = 0;
    int digits = 0;

    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    if ((size_t) (end - s) < 9 || memcmp(s, "received=", 9) != 0)
        return;
    for (s += 9; s < end && g_ascii_isdigit(*s) && n < 100000; s++, digits++)
        n = n * 10 + (unsigned long) (*s - '0');
    if (digits == 0)
        return;
    m->present = 1;
    m->received = (unsigned) n;
    while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if ((size_t) (end - s) == 15 && memcmp(s, "; subject-added", 15) == 0) {
        m->subject_added = 1;
    } else if ((size_t) (end - s) > 17 && memcmp(s, "; subject-prefix=", 17) == 0) {
        m->prefix = s + 17;
        m->plen = (size_t) (end - s) - 17;
    }
}

/* Append s[0..n) to *o with CRLF made LF. */
static void copy_lf(char **o, const char *s, size_t n)
{
    const char *end = s + n, *cr;

    while (s < end && (cr = memchr(s, '\r', (size_t) (end - s))) != NULL) {
        size_t k = (size_t) (cr - s) + (cr + 1 < end && cr[1] == '\n' ? 0 : 1);

        memcpy(*o, s, k);
        *o += k;
        s = cr + 1;
    }
    memcpy(*o, s, (size_t) (end - s));
    *o += end - s;
}

/* Copy the Subject field f without "P " in front of its value (rule 3), if it
 * has them; as it is otherwise. */
static void copy_subject(char **o, const struct field *f, const struct marker *m)
{
    const char *v = f->name + f->nlen + 1, *end = f->start + f->len;

    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    if (m->prefix != NULL && (size_t) (end - v) >= m->plen && memcmp(v, m->prefix, m->plen) == 0 &&
        (v + m->plen == end || v[m->plen] == ' ' || v[m->plen] == '\r' || v[m->plen] == '\n')) {
        copy_lf(o, f->start, (size_t) (v - f->start));
        v += m->plen;
        if (v < end && *v == ' ')
            v++;
        copy_lf(o, v, (size_t) (end - v));
        return;
    }
    copy_lf(o, f->start, f->len);
}

/* Rule 6 of canon.h: the SMTP client's line limit (Postfix
 * smtp_line_length_limit, 998 since Postfix 2.9), without the line end. */
#define CANON_SMTP_LINE 998

/* Nonzero if some line of s[0..n) is CANON_SMTP_LINE octets long (without its
 * LF or CRLF) and the next line starts with a space: a break rule 6 undoes. */
static int has_break(const char *s, const char *end)
{
    while (s < end) {
        size_t n = line_len(s, end), k = n;

        if (k > 0 && s[k - 1] == '\n')
            k--;
        if (k > 0 && s[k - 1] == '\r')
            k--;
        if (k == CANON_SMTP_LINE && s + n < end && s[n] == ' ')
            return 1;
        s += n;
    }
    return 0;
}

/* Rule 6 in place on s[0..len) (LF line ends): "\n " goes after a line
 * piece of CANON_SMTP_LINE octets, or of one less after such a join (the
 * continuation's space counted toward the limit).  Returns the new length;
 * cannot fail. */
static size_t unbreak(char *s, size_t len)
{
    size_t r = 0, w = 0, seg = 0, want = CANON_SMTP_LINE;

    while (r < len) {
        char c = s[r++];

        if (c == '\n' && w - seg == want && r < len && s[r] == ' ') {
            r++;                /* the line goes on after the space */
            seg = w;
            want = CANON_SMTP_LINE - 1;
            continue;
        }
        s[w++] = c;
        if (c == '\n') {
            seg = w;
            want = CANON_SMTP_LINE;
        }
    }
    s[w] = '\0';
    return w;
}

unsigned canon_received(const char *buf, size_t len)
{
    const char *s = canon_begin(buf, len), *end = buf + len;
    struct field f;
    unsigned n = 0;

    while (next_field(&s, end, &f))
        if (name_is(&f, "received"))
            n++;
    return n;
}

int canon_message(const char *buf, size_t len, char **out, size_t *outlen)
{
    const char *begin = canon_begin(buf, len), *end = buf + len, *s;
    struct marker m;
    struct field f;
    unsigned d = 0, top = 0, rcvd = 0;
    int change = begin != buf, subject_done = 0, broken = has_break(begin, end);
    char *o;

    *out = NULL;
    *outlen = 0;
    memset(&m, 0, sizeof(m));
    for (s = begin; next_field(&s, end, &f);) {
        if (name_is(&f, "received"))
            d++;
        else if (name_is(&f, CANON_MARKER)) {
            memset(&m, 0, sizeof(m));   /* the last one: the milter appends its own */
            parse_marker(&f, &m);
        }
        if (droppable(&f))
            change = 1;
    }
    if (m.present && d > m.received)
        top = d - m.received;       /* rule 2: Received headers added after the milter */
    if (!change && !broken && top == 0 && !m.subject_added && m.prefix == NULL &&
        memchr(begin, '\r', (size_t) (end - begin)) == NULL)
        return 0;
    if ((*out = malloc((size_t) (end - begin) + 1)) == NULL)
        return -1;
    o = *out;
    for (s = begin; next_field(&s, end, &f);) {
        if (top > 0) {
            if (name_is(&f, "received") && ++rcvd == top)
                top = 0;
            continue;
        }
        if (droppable(&f))
            continue;
        if (!subject_done && name_is(&f, "subject")) {
            subject_done = 1;
            if (m.subject_added)
                continue;
            copy_subject(&o, &f, &m);
            continue;
        }
        copy_lf(&o, f.start, f.len);
    }
    copy_lf(&o, s, (size_t) (end - s));
    *o = '\0';
    *outlen = (size_t) (o - *out);
    if (broken)
        *outlen = unbreak(*out, *outlen);
    return 1;
}

int canon_marker_format(char *out, size_t size, unsigned received, const char *prefix,
                        int subject_added)
{
    if (subject_added)
        return snprintf(out, size, "received=%u; subject-added", received);
    if (prefix != NULL && prefix[0] != '\0')
        return snprintf(out, size, "received=%u; subject-prefix=%s", received, prefix);
    return snprintf(out, size, "received=%u", received);
}
