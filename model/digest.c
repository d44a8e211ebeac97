/*
 * digest.c - the transit-proof message digest of features_extract() (see
 * features.h): XXH3-128 over the Message-ID, Date, From and Subject values with
 * whitespace runs made one space, and the body with line endings normalised to
 * LF and trailing blank lines dropped.  Headers added in transit do not change
 * it.  Reads the raw bytes itself (no GMime): reentrant, allocates nothing.
 */
#include <string.h>

#include <glib.h>
#define XXH_STATIC_LINKING_ONLY  /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "digest.h"
#include "mime.h"

/* Feed s[0..len) to the digest with CRLF turned into LF. */
static void digest_lf(XXH3_state_t *st, const char *s, size_t len)
{
    const char *end = s + len, *cr;

    while (s < end && (cr = memchr(s, '\r', (size_t) (end - s))) != NULL) {
        if (cr + 1 < end && cr[1] == '\n') {
            XXH3_128bits_update(st, s, (size_t) (cr - s));
            s = cr + 1;
        } else {
            XXH3_128bits_update(st, s, (size_t) (cr + 1 - s));
            s = cr + 1;
        }
    }
    if (s < end)
        XXH3_128bits_update(st, s, (size_t) (end - s));
}

/* Feed a header value with every whitespace run (folding included) made one
 * space, in chunks of a stack buffer. */
static void digest_value(XXH3_state_t *st, const char *s, size_t len)
{
    char buf[256];
    size_t i, n = 0;
    int space = 0, started = 0;

    for (i = 0; i < len; i++) {
        char c = s[i];

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
            space = started;
            continue;
        }
        if (n + 2 > sizeof(buf)) {
            XXH3_128bits_update(st, buf, n);
            n = 0;
        }
        if (space)
            buf[n++] = ' ';
        buf[n++] = c;
        space = 0;
        started = 1;
    }
    XXH3_128bits_update(st, buf, n);
}

/* See digest.h.  The digest of features.h: Message-ID, Date, From, Subject values and the body
 * (which starts after the first blank line, or at the first line that is not a
 * header, as mime_walk() has it). */
void digest_message(const char *buf, size_t len, uint8_t out[16])
{
    static const char *const names[4] = { "message-id:", "date:", "from:", "subject:" };
    const char *s = buf, *end = buf + len, *nl, *body = end;
    const char *val[4] = { NULL, NULL, NULL, NULL };
    size_t vlen[4] = { 0, 0, 0, 0 };
    int cur = -1, k;
    XXH3_state_t st;
    XXH128_hash_t h;
    XXH128_canonical_t canon;

    if (len >= 5 && memcmp(buf, "From ", 5) == 0) {
        nl = memchr(buf, '\n', len);
        s = nl != NULL ? nl + 1 : end;
    }
    while (s < end) {
        size_t n;

        nl = memchr(s, '\n', (size_t) (end - s));
        n = nl != NULL ? (size_t) (nl - s) + 1 : (size_t) (end - s);
        if (s[0] == '\n' || (s[0] == '\r' && n >= 2 && s[1] == '\n')) {
            body = s + n;
            break;
        }
        if (!mime_header_line(s, n)) {
            body = s;               /* no blank line: the body starts here */
            break;
        }
        if ((s[0] == ' ' || s[0] == '\t') && cur >= 0) {
            vlen[cur] += n;             /* folded continuation */
        } else {
            cur = -1;
            for (k = 0; k < 4; k++) {
                size_t kl = strlen(names[k]);
                if (val[k] == NULL && n >= kl && g_ascii_strncasecmp(s, names[k], kl) == 0) {
                    val[k] = s + kl;
                    vlen[k] = n - kl;
                    cur = k;
                    break;
                }
            }
        }
        s += n;
    }
    XXH3_128bits_reset(&st);
    for (k = 0; k < 4; k++) {
        XXH3_128bits_update(&st, names[k], strlen(names[k]));
        if (val[k] != NULL)
            digest_value(&st, val[k], vlen[k]);
        XXH3_128bits_update(&st, "\n", 1);
    }
    XXH3_128bits_update(&st, "\n", 1);
    while (end > body && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' ||
                          end[-1] == '\t'))
        end--;
    if (end > body)
        digest_lf(&st, body, (size_t) (end - body));
    h = XXH3_128bits_digest(&st);
    XXH128_canonicalFromHash(&canon, h);
    memcpy(out, canon.digest, 16);
}

