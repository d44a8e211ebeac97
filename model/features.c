/*
 * features.c - raw message bytes to the sorted set of hashed feature ids
 * (see features.h): the driver of one extraction and the body rules.
 *
 * mime.c walks the message and calls back with headers and addresses (to
 * header_rules.c), parts and UTF-8 text (here); html.c turns HTML into visible
 * text and links; tokenize.c splits text into words; digest.c computes the
 * message digest from the raw bytes.  The rules choose prefixed token texts
 * ("subj:free", "url:dom:example.biz", "html:invisible", ...), which fx.c
 * hashes with XXH3 to 32-bit ids and pushes into the bag's own array (grown by
 * doubling, never per token); this file then radix-sorts and de-duplicates
 * them.  (A hash set that drops repeats as they come was tried: it cost more
 * than the sort saves.)
 * The scratch state of an extraction is kept per thread and reused, so that a
 * message costs no allocation of ours beyond the ones GMime makes.
 *
 * Features deliberately left out: dates, every Received hostname and IP, and the
 * headers added by the receiving system (Delivered-To, X-Spam-*, ...): they
 * describe the mailbox and the year the mail was collected in, not the mail, and
 * a model that learns them fails on the next year's mail.
 */
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "canon.h"
#include "digest.h"
#include "features.h"
#include "fx.h"
#include "header_rules.h"
#include "html.h"
#include "mime.h"
#include "tokenize.h"

uint32_t features_hash(const char *token, size_t len)
{
    return fx_hash(token, len);
}

void features_init(struct features *f)
{
    memset(f, 0, sizeof(*f));
}

void features_clear(struct features *f)
{
    if (f == NULL)
        return;
    free(f->ids);
    features_init(f);
}

static int global_done;

int features_global_init(void)
{
    if (global_done)
        return 0;
    if (mime_global_init() != 0)
        return -1;
    html_global_init();
    global_done = 1;
    return 0;
}

void features_global_shutdown(void)
{
    if (!global_done)
        return;
    mime_global_shutdown();
    html_global_shutdown();
    global_done = 0;
}

static void on_part(void *arg, const struct mime_part_info *p)
{
    struct fx *x = arg;

    x->parts++;
    if (p->depth == 0)
        fx_emits(x, "ct:", p->type);
    fx_emits(x, "meta:mime:", p->type);
    if (p->charset != NULL && !p->container) {
        char cs[48];
        size_t i;

        for (i = 0; p->charset[i] != '\0' && i + 1 < sizeof(cs); i++)
            cs[i] = g_ascii_tolower(p->charset[i]);
        cs[i] = '\0';
        fx_emits(x, "ct:charset:", cs);
    }
    if (p->attachment) {
        const char *dot = p->filename ? strrchr(p->filename, '.') : NULL;
        char ext[16];
        size_t i = 0;

        x->attach++;
        if (dot != NULL) {
            for (dot++; dot[i] != '\0' && i + 1 < sizeof(ext) && g_ascii_isalnum(dot[i]); i++)
                ext[i] = g_ascii_tolower(dot[i]);
        }
        ext[i] = '\0';
        fx_emits(x, "meta:attach:", i > 0 && dot[i] == '\0' ? ext : "noext");
        fx_emit_count(x, "meta:attach:kib:", p->size >> 10);
    } else if (!p->container) {
        if (strcmp(p->type, "text/html") == 0)
            x->html++;
        else
            x->plain++;
    }
}

static void on_html_text(void *arg, const char *s, size_t len)
{
    struct fx *x = arg;

    if (x->hlen + len > x->hcap) {
        size_t cap = x->hcap ? x->hcap : 4096;
        char *p;

        while (cap < x->hlen + len)
            cap *= 2;
        p = realloc(x->hbuf, cap);
        if (p == NULL) {
            x->oom = 1;
            return;
        }
        x->hbuf = p;
        x->hcap = cap;
    }
    memcpy(x->hbuf + x->hlen, s, len);
    x->hlen += len;
}

static void on_html_link(void *arg, const char *url, size_t len)
{
    fx_emit_url(arg, url, len);
}

static void on_text(void *arg, const char *s, size_t len, int html)
{
    struct fx *x = arg;
    struct html_info hi;

    if (!html) {
        x->body_words += fx_words(x, "", 1, s, len);
        return;
    }
    x->hlen = 0;
    if (html_extract(s, len, on_html_text, on_html_link, x, &hi) != 0) {
        /* -1 on non-empty input is out of memory: fail the extraction rather
         * than score the message without its HTML (found by injecting
         * allocation failures, tests/hardening/failmalloc.sh). */
        if (len > 0)
            x->oom = 1;
        return;
    }
    if (hi.truncated)
        x->flags |= FEATURES_F_TRUNCATED;
    x->body_words += fx_words(x, "", 1, x->hbuf, x->hlen);
    x->html_images += hi.images;
    x->html_links += hi.links;
    x->html_tiny += hi.tiny;
    x->html_invisible += hi.invisible;
    x->html_visible += hi.visible;
    x->html_bytes += len;
    if (hi.forms > 0)
        fx_emits(x, "html:", "form");
    if (hi.scripts > 0)
        fx_emits(x, "html:", "script");
    if (hi.iframes > 0)
        fx_emits(x, "html:", "iframe");
}

/* The closing tokens of a message of len bytes, after the walk, with META_RESERVE
 * occurrences of budget of their own: size, counts, the header rules' closing
 * tokens, then the body and HTML summaries and the flags, in that order. */
static void finish_features(struct fx *x, size_t len)
{
    size_t b;

    x->limit = x->ntokens + META_RESERVE;

    for (b = 0; (len >> 9) >> b != 0 && b < 20; b++)
        ;
    fx_emit_count(x, "meta:size:", b);     /* log2 of the size in 512-byte units */
    fx_emit_count(x, "to:count:", x->to);
    fx_emit_count(x, "cc:count:", x->cc);
    fx_emit_count(x, "meta:parts:", x->parts);
    header_rules_finish(x);
    if (x->html > 0 && x->plain == 0)
        fx_emits(x, "meta:", "html-only");
    if (x->body_words == 0)
        fx_emits(x, "meta:", "no-words");
    else
        fx_emit_count(x, "meta:words:", x->body_words / 16);
    if (x->html > 0) {
        fx_emit_count(x, "html:img:", x->html_images);
        fx_emit_count(x, "html:links:", x->html_links);
        if (x->html_invisible >= 16)
            fx_emits(x, "html:", "invisible");
        if (x->html_tiny > 0)
            fx_emits(x, "html:", "tiny");
        /* visible text per 100 bytes of markup, in tenths */
        fx_emit_count(x, "html:ratio:", x->html_bytes ? x->html_visible * 10 / x->html_bytes : 0);
    }
    if (x->flags & FEATURES_F_CHARSET)
        fx_emits(x, "meta:", "bad-charset");
    if (x->flags & FEATURES_F_MIME_ERROR)
        fx_emits(x, "meta:", "mime-error");
    if (x->flags & FEATURES_F_DEEP)
        fx_emits(x, "meta:", "deep");
}

/* In the libFuzzer build (clang, tests/fuzz/build.sh) the sort is kept out of
 * line and out of the coverage instrumentation: its loops run over hash values
 * and 2048 buckets whatever the message, so they teach the fuzzer nothing, and
 * their comparison hooks were 11% of fuzz_features' time (perf, 2026-11-27).
 * AddressSanitizer still checks it. */
#if defined(__clang__) && defined(__has_attribute)
#if __has_attribute(no_sanitize)
#define SORT_NO_COVERAGE __attribute__((noinline, no_sanitize("coverage")))
#endif
#endif
#ifndef SORT_NO_COVERAGE
#define SORT_NO_COVERAGE
#endif

/* Sort ids ascending (LSD radix, three 11-bit passes) and drop duplicates.
 * tmp has room for f->n ids. */
SORT_NO_COVERAGE static void sort_unique(struct features *f, uint32_t *tmp)
{
    uint32_t *src = f->ids, *dst = tmp, *swap;
    size_t count[2048], i, n = f->n, pos, c;
    unsigned shift;

    if (n < 2)
        return;
    for (shift = 0; shift < 33; shift += 11) {
        memset(count, 0, sizeof(count));
        for (i = 0; i < n; i++)
            count[(src[i] >> shift) & 2047]++;
        for (pos = 0, i = 0; i < 2048; i++) {
            c = count[i];
            count[i] = pos;
            pos += c;
        }
        for (i = 0; i < n; i++)
            dst[count[(src[i] >> shift) & 2047]++] = src[i];
        swap = src;
        src = dst;
        dst = swap;
    }
    /* after three passes the sorted ids are in tmp */
    for (pos = 0, i = 0; i < n; i++)
        if (pos == 0 || src[i] != f->ids[pos - 1])
            f->ids[pos++] = src[i];
    f->n = pos;
}

/* Buffers kept per thread between extractions (GPrivate frees them when the
 * thread ends: libmilter threads come and go with connections). */
struct scratch {
    char *hbuf;
    size_t hcap;
    uint32_t *tmp;
    size_t tmpcap;
};

#define SCRATCH_KEEP (1u << 20)     /* larger buffers are freed, not kept */

static void scratch_free(gpointer p)
{
    struct scratch *sc = p;

    if (sc != NULL) {
        free(sc->hbuf);
        free(sc->tmp);
        free(sc);
    }
}

static GPrivate scratch_key = G_PRIVATE_INIT(scratch_free);

int features_extract(const char *buf, size_t len, struct features *out,
                     features_token_fn tok, void *arg)
{
    static const struct mime_sink sink = {
        header_rules_want_value, header_rules_on_header, header_rules_on_address, on_part, on_text
    };
    struct scratch *sc = g_private_get(&scratch_key);
    struct fx x;
    char *canon = NULL;
    size_t clen;

    if (sc == NULL) {
        sc = calloc(1, sizeof(*sc));
        if (sc == NULL)
            return -1;
        g_private_set(&scratch_key, sc);
    }
    if (buf == NULL)
        len = 0;
    out->n = 0;
    out->flags = 0;
    /* The copy the milter scanned, whatever was added since (canon.h). */
    if (len > 0) {
        int rc = canon_message(buf, len, &canon, &clen);

        if (rc < 0)
            return -1;
        if (rc > 0) {
            buf = canon;
            len = clen;
        }
    }
    memset(&x, 0, sizeof(x));
    x.out = out;
    x.tok = tok;
    x.tok_arg = arg;
    x.prefix = "";
    x.limit = MAX_TOKENS;
    x.hbuf = sc->hbuf;
    x.hcap = sc->hcap;
    digest_message(buf ? buf : "", len, out->digest);
    if (len > 0) {
        x.flags |= mime_walk(buf, len, TEXT_BUDGET, &sink, &x);
        if (memchr(buf, '\0', len) != NULL)
            fx_emits(&x, "meta:", "nul");
    }
    finish_features(&x, len);
    out->flags = x.flags;
    if (x.subject == 0 && x.from == 0 && x.body_words == 0 && x.hops == 0 &&
        x.parts <= 1 && x.msgid == 0)
        out->flags |= FEATURES_F_EMPTY;
    g_free(x.last_received);
    free(canon);
    if (x.hcap > SCRATCH_KEEP) {
        free(x.hbuf);
        x.hbuf = NULL;
        x.hcap = 0;
    }
    sc->hbuf = x.hbuf;
    sc->hcap = x.hcap;
    if (!x.oom && out->n > sc->tmpcap) {
        free(sc->tmp);
        sc->tmpcap = out->n > 4096 ? out->n : 4096;
        sc->tmp = malloc(sc->tmpcap * sizeof(*sc->tmp));
        if (sc->tmp == NULL) {
            sc->tmpcap = 0;
            x.oom = 1;
        }
    }
    if (x.oom) {
        out->n = 0;
        return -1;
    }
    sort_unique(out, sc->tmp);
    if (sc->tmpcap > SCRATCH_KEEP) {
        free(sc->tmp);
        sc->tmp = NULL;
        sc->tmpcap = 0;
    }
    return 0;
}
