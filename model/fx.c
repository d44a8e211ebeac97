/*
 * fx.c - the bag under construction during one extraction (fx.h): every token
 * text that the feature rules choose goes through fx_emit(), which hashes it,
 * counts it against the message's token budget, shows it to the explain
 * callback and appends the id.  Also the tokenizer's word and URL callbacks
 * and the OSB pairs (off, see fx.h).  The ids are the bag's (struct features);
 * nothing here frees them.
 */
#include <string.h>
#include <stdlib.h>

#include <glib.h>
#include <xxhash.h>

#include "features.h"
#include "fx.h"
#include "tokenize.h"

uint32_t fx_hash(const char *token, size_t len)
{
    return (uint32_t) XXH3_64bits(token, len);
}

/* Add the token text s[0..len) to the bag. */
void fx_emit(struct fx *x, const char *s, size_t len)
{
    struct features *f = x->out;
    uint32_t id;

    if (x->oom)
        return;
    if (x->ntokens >= x->limit) {
        x->flags |= FEATURES_F_TRUNCATED;
        return;
    }
    id = fx_hash(s, len);
    x->ntokens++;
    if (x->tok != NULL)
        x->tok(x->tok_arg, id, s, len);
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 1024;
        uint32_t *ids = realloc(f->ids, cap * sizeof(*ids));

        if (ids == NULL) {
            x->oom = 1;
            return;
        }
        f->ids = ids;
        f->cap = cap;
    }
    f->ids[f->n++] = id;
}

/* Add prefix + s[0..len), cut to TOKEN_MAX bytes. */
void fx_emit2(struct fx *x, const char *prefix, const char *s, size_t len)
{
    char buf[TOKEN_MAX];
    size_t plen = strlen(prefix);

    if (plen + len > sizeof(buf))
        len = sizeof(buf) - plen;
    memcpy(buf, prefix, plen);
    memcpy(buf + plen, s, len);
    fx_emit(x, buf, plen + len);
}

void fx_emits(struct fx *x, const char *prefix, const char *s)
{
    fx_emit2(x, prefix, s, strlen(s));
}

/* prefix + a small bucket of n: exact up to 4, then powers of two ("8+", "16+"). */
void fx_emit_count(struct fx *x, const char *prefix, size_t n)
{
    char num[24];
    size_t b;

    if (n <= 4) {
        g_snprintf(num, sizeof(num), "%zu", n);
    } else {
        for (b = 4; b * 2 <= n && b < 1024; b *= 2)
            ;
        g_snprintf(num, sizeof(num), "%zu+", b);
    }
    fx_emits(x, prefix, num);
}

void fx_emit_url(struct fx *x, const char *url, size_t len)
{
    char host[256];
    const char *dom;
    size_t hlen, dlen;

    hlen = tokenize_url_host(url, len, host, sizeof(host));
    if (hlen == 0) {
        if (len >= 7 && g_ascii_strncasecmp(url, "mailto:", 7) == 0)
            fx_emits(x, "url:", "mailto");
        return;
    }
    if (tokenize_is_ipv4(host, hlen)) {
        fx_emits(x, "url:", "ip");
        return;
    }
    fx_emit2(x, "url:", host, hlen);
    dom = tokenize_registered_domain(host, hlen, &dlen);
    fx_emit2(x, "url:dom:", dom, dlen);
}

/* OSB: pair word w with each of the previous OSB_WINDOW - 1 words, the skipped
 * distance written as "_" placeholders: "osb:a b", "osb:a _ b", "osb:a _ _ b". */
static void fx_osb(struct fx *x, const char *w, size_t len)
{
    char buf[TOKEN_MAX];
    unsigned k;
    size_t n;

    for (k = 1; k <= x->nring; k++) {
        unsigned slot = (x->ringpos + (OSB_WINDOW - 1) - k) % (OSB_WINDOW - 1);
        unsigned gap;

        memcpy(buf, "osb:", 4);
        n = 4;
        memcpy(buf + n, x->ring[slot], x->ringlen[slot]);
        n += x->ringlen[slot];
        buf[n++] = ' ';
        for (gap = 1; gap < k; gap++) {
            buf[n++] = '_';
            buf[n++] = ' ';
        }
        memcpy(buf + n, w, len);
        fx_emit(x, buf, n + len);
    }
    memcpy(x->ring[x->ringpos], w, len);
    x->ringlen[x->ringpos] = len;
    x->ringpos = (x->ringpos + 1) % (OSB_WINDOW - 1);
    if (x->nring < OSB_WINDOW - 1)
        x->nring++;
}

static void fx_on_token(void *arg, enum tokenize_kind kind, const char *tok, size_t len)
{
    struct fx *x = arg;

    switch (kind) {
    case TOKENIZE_WORD:
        x->nwords++;
        if (x->prefix[0] == '\0')
            fx_emit(x, tok, len);
        else
            fx_emit2(x, x->prefix, tok, len);
        if (x->osb && OSB_ENABLED)
            fx_osb(x, tok, len);
        break;
    case TOKENIZE_URL:
        fx_emit_url(x, tok, len);
        break;
    case TOKENIZE_LONG:
        fx_emits(x, "meta:", "long-token");
        break;
    }
}

/* Tokenize text as words with the given prefix; OSB pairs for body text. */
size_t fx_words(struct fx *x, const char *prefix, int osb, const char *s, size_t len)
{
    x->prefix = prefix;
    x->osb = osb;
    x->nring = 0;
    x->ringpos = 0;
    x->nwords = 0;
    tokenize_text(s, len, fx_on_token, x);
    return x->nwords;
}

