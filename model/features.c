/*
 * features.c - raw message bytes to the sorted set of hashed feature ids
 * (see features.h), and the transit-proof message digest.
 *
 * mime.c walks the message and calls back here with headers, addresses, parts
 * and UTF-8 text; html.c turns HTML into visible text and links; tokenize.c
 * splits text into words.  This file chooses the features: prefixed token texts
 * ("subj:free", "url:dom:example.biz", "html:invisible", ...), each hashed with
 * XXH3 to a 32-bit id.  Ids are pushed into the bag's own array (grown by
 * doubling, never per token), then radix-sorted and de-duplicated.  (A hash set
 * that drops repeats as they come was tried: it cost more than the sort saves.)
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
#define XXH_STATIC_LINKING_ONLY  /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "features.h"
#include "html.h"
#include "mime.h"
#include "tokenize.h"

#define TEXT_BUDGET   (512u << 10)  /* bytes of decoded text tokenized per message */
#define MAX_TOKENS    (1u << 16)    /* token occurrences per message ... */
#define META_RESERVE  256           /* ... plus these, kept for the closing meta tokens */
#define HEADER_TEXT   4096          /* bytes of one header value tokenized */
/*
 * OSB pairs ("osb:a _ b", window 5) are off: measured with spamshift train and
 * classify (2026-11-27, commit 5d0319d), they made the model worse on both
 * shifted splits, since the 1.5 million pair features learn the training year's
 * phrasing:
 *   SpamAssassin, trained on the older groups, tested on the newer:
 *     (1-AUC)% 0.074 without pairs, 0.184 with bigrams only, 0.759 with OSB-5
 *   Enron, trained on enron1-3, tested on enron4-6:
 *     (1-AUC)% 0.105 without pairs, 0.749 with OSB-5 (bogofilter: 0.445)
 * Build with -DOSB_ENABLED=1 (and -DOSB_WINDOW=n) to measure them again.
 */
#ifndef OSB_ENABLED
#define OSB_ENABLED   0
#endif
#ifndef OSB_WINDOW
#define OSB_WINDOW    5             /* a word is paired with the 4 words before it */
#endif
#define TOKEN_MAX     512           /* longest prefixed token text; longer is cut */

/* Headers added by the receiving side or in transit: no "hdr:" presence feature.
 * Sorted (strcmp order) for bsearch. */
static const char *const transit_headers[] = {
    "content-length", "delivered-to", "delivery-date", "envelope-to", "lines",
    "received", "return-path", "status", "x-antiabuse", "x-authentication-warning",
    "x-bogosity", "x-dspam-result", "x-envelope-from", "x-envelope-to",
    "x-evolution-source", "x-imap", "x-imapbase", "x-keywords", "x-loop",
    "x-mailscanner", "x-mailscanner-from", "x-mime-autoconverted", "x-mozilla-keys",
    "x-mozilla-status", "x-mozilla-status2", "x-original-date", "x-original-to",
    "x-originating-ip", "x-pyzor", "x-razor-id", "x-rcpt-to", "x-sieve", "x-status",
    "x-uid", "x-uidl", "x-virus-scanned", "x-virus-status"
};

/* State of one extraction. */
struct fx {
    struct features *out;
    features_token_fn tok;
    void *tok_arg;
    uint32_t flags;
    size_t ntokens;
    size_t limit;           /* ntokens allowed: MAX_TOKENS, then + META_RESERVE */
    int oom;

    /* word mode for the tokenizer callback */
    const char *prefix;     /* "" for body words, "subj:", "from:name:", "mailer:" */
    int osb;                /* body words: also OSB pairs */
    char ring[OSB_WINDOW - 1][TOKENIZE_MAX_BYTES];
    size_t ringlen[OSB_WINDOW - 1];
    unsigned nring, ringpos;
    size_t nwords;          /* words in the current tokenize_text() call */

    /* visible text of the current HTML part */
    char *hbuf;
    size_t hlen, hcap;

    /* what the headers and parts told */
    unsigned to, cc, from, hops, parts, plain, html, attach, subject, mailer, msgid;
    size_t body_words, html_invisible, html_visible, html_bytes;
    unsigned html_images, html_links, html_tiny;
    char *last_received;    /* the earliest (bottom-most) Received value */
    char from_dom[256];     /* registered domain of From, lowercased */
    char reply_dom[256];
    char msgid_dom[256];    /* registered domain of the Message-ID, "" if none */
};

uint32_t features_hash(const char *token, size_t len)
{
    return (uint32_t) XXH3_64bits(token, len);
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

/* Add the token text s[0..len) to the bag. */
static void emit(struct fx *x, const char *s, size_t len)
{
    struct features *f = x->out;
    uint32_t id;

    if (x->oom)
        return;
    if (x->ntokens >= x->limit) {
        x->flags |= FEATURES_F_TRUNCATED;
        return;
    }
    id = features_hash(s, len);
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
static void emit2(struct fx *x, const char *prefix, const char *s, size_t len)
{
    char buf[TOKEN_MAX];
    size_t plen = strlen(prefix);

    if (plen + len > sizeof(buf))
        len = sizeof(buf) - plen;
    memcpy(buf, prefix, plen);
    memcpy(buf + plen, s, len);
    emit(x, buf, plen + len);
}

static void emits(struct fx *x, const char *prefix, const char *s)
{
    emit2(x, prefix, s, strlen(s));
}

/* prefix + a small bucket of n: exact up to 4, then powers of two ("8+", "16+"). */
static void emit_count(struct fx *x, const char *prefix, size_t n)
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
    emits(x, prefix, num);
}

static void emit_url(struct fx *x, const char *url, size_t len)
{
    char host[256];
    const char *dom;
    size_t hlen, dlen;

    hlen = tokenize_url_host(url, len, host, sizeof(host));
    if (hlen == 0) {
        if (len >= 7 && g_ascii_strncasecmp(url, "mailto:", 7) == 0)
            emits(x, "url:", "mailto");
        return;
    }
    if (tokenize_is_ipv4(host, hlen)) {
        emits(x, "url:", "ip");
        return;
    }
    emit2(x, "url:", host, hlen);
    dom = tokenize_registered_domain(host, hlen, &dlen);
    emit2(x, "url:dom:", dom, dlen);
}

/* OSB: pair word w with each of the previous OSB_WINDOW - 1 words, the skipped
 * distance written as "_" placeholders: "osb:a b", "osb:a _ b", "osb:a _ _ b". */
static void emit_osb(struct fx *x, const char *w, size_t len)
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
        emit(x, buf, n + len);
    }
    memcpy(x->ring[x->ringpos], w, len);
    x->ringlen[x->ringpos] = len;
    x->ringpos = (x->ringpos + 1) % (OSB_WINDOW - 1);
    if (x->nring < OSB_WINDOW - 1)
        x->nring++;
}

static void on_token(void *arg, enum tokenize_kind kind, const char *tok, size_t len)
{
    struct fx *x = arg;

    switch (kind) {
    case TOKENIZE_WORD:
        x->nwords++;
        if (x->prefix[0] == '\0')
            emit(x, tok, len);
        else
            emit2(x, x->prefix, tok, len);
        if (x->osb && OSB_ENABLED)
            emit_osb(x, tok, len);
        break;
    case TOKENIZE_URL:
        emit_url(x, tok, len);
        break;
    case TOKENIZE_LONG:
        emits(x, "meta:", "long-token");
        break;
    }
}

/* Tokenize text as words with the given prefix; OSB pairs for body text. */
static size_t words(struct fx *x, const char *prefix, int osb, const char *s, size_t len)
{
    x->prefix = prefix;
    x->osb = osb;
    x->nring = 0;
    x->ringpos = 0;
    x->nwords = 0;
    tokenize_text(s, len, on_token, x);
    return x->nwords;
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *) elem);
}

static int is_transit(const char *lname)
{
    if (strncmp(lname, "x-spam", 6) == 0)       /* X-Spam-*, X-Spamshift-* */
        return 1;
    return bsearch(lname, transit_headers, G_N_ELEMENTS(transit_headers),
                   sizeof(transit_headers[0]), cmp_name) != NULL;
}

/* Host after "@" in s (up to '>' or space), lowercased into out. */
static size_t domain_of(const char *s, char *out, size_t outsz)
{
    const char *at = strrchr(s, '@');
    size_t n = 0;

    if (at == NULL)
        return 0;
    for (at++; *at != '\0' && *at != '>' && *at != ' ' && *at != ']' && n + 1 < outsz; at++)
        out[n++] = g_ascii_tolower(*at);
    while (n > 0 && out[n - 1] == '.')
        n--;
    out[n] = '\0';
    return n;
}

static void emit_domain(struct fx *x, const char *prefix, const char *host, size_t hlen)
{
    const char *dom;
    size_t dlen;

    if (hlen == 0) {
        emits(x, prefix, "none");
    } else if (tokenize_is_ipv4(host, hlen) || host[0] == '[') {
        emits(x, prefix, "ip");
    } else {
        dom = tokenize_registered_domain(host, hlen, &dlen);
        emit2(x, prefix, dom, dlen);
    }
}

static void subject_features(struct fx *x, const char *v)
{
    size_t i, upper = 0, letters = 0, bangs = 0, n;

    x->subject = 1;
    for (i = 0; v[i] != '\0'; i++) {
        if (g_ascii_isupper(v[i]))
            upper++;
        if (g_ascii_isalpha(v[i]))
            letters++;
        if (v[i] == '!')
            bangs++;
    }
    n = words(x, "subj:", 0, v, i < HEADER_TEXT ? i : HEADER_TEXT);
    if (n == 0)
        emits(x, "subj:", "empty");
    if (letters >= 6 && upper * 10 >= letters * 8)
        emits(x, "subj:", "caps");
    if (bangs > 0)
        emits(x, "subj:", "bang");
    if (strstr(v, "  ") != NULL)
        emits(x, "subj:", "spaces");
}

/* The headers whose values on_header() reads; the others count by name only. */
static int want_value(void *arg, const char *name)
{
    static const char *const wanted[] = {
        "subject", "x-mailer", "user-agent", "message-id", "x-priority",
        "content-transfer-encoding", NULL
    };
    const char *const *w;

    (void) arg;
    if (g_ascii_strcasecmp(name, "received") == 0)
        return MIME_VALUE_RAW;      /* parsed for "by host" only: no decoding */
    for (w = wanted; *w != NULL; w++)
        if (g_ascii_strcasecmp(name, *w) == 0)
            return MIME_VALUE_DECODED;
    return MIME_VALUE_NONE;
}

static void on_header(void *arg, const char *name, const char *value)
{
    struct fx *x = arg;
    char lname[64];
    size_t i;

    for (i = 0; name[i] != '\0' && i + 1 < sizeof(lname); i++)
        lname[i] = g_ascii_tolower(name[i]);
    lname[i] = '\0';
    if (strcmp(lname, "received") == 0) {
        x->hops++;
        g_free(x->last_received);
        x->last_received = g_strdup(value != NULL ? value : "");
        return;
    }
    if (!is_transit(lname))
        emits(x, "hdr:", lname);
    if (value == NULL)
        return;
    if (strcmp(lname, "subject") == 0 && !x->subject) {
        subject_features(x, value);
    } else if ((strcmp(lname, "x-mailer") == 0 || strcmp(lname, "user-agent") == 0) &&
               !x->mailer) {
        x->mailer = 1;
        if (words(x, "mailer:", 0, value, strnlen(value, HEADER_TEXT)) == 0)
            emits(x, "mailer:", "empty");
    } else if (strcmp(lname, "message-id") == 0 && !x->msgid) {
        char host[256];
        size_t hlen = domain_of(value, host, sizeof(host)), dlen;
        const char *dom;

        /* Only whether it matches From, never the domain itself: a server that
         * adds a missing Message-ID writes its own domain there, which names the
         * receiving site (netnoteinc.com in 10% of the SpamAssassin spam-2 folder,
         * 0.4% of the older ham), not the sender. */
        x->msgid = 1;
        if (hlen == 0) {
            emits(x, "msgid:", "nodomain");
        } else if (tokenize_is_ipv4(host, hlen) || host[0] == '[') {
            emits(x, "msgid:", "ip");
        } else {
            dom = tokenize_registered_domain(host, hlen, &dlen);
            g_strlcpy(x->msgid_dom, dom, dlen + 1 < sizeof(x->msgid_dom) ? dlen + 1 : sizeof(x->msgid_dom));
        }
    } else if (strcmp(lname, "x-priority") == 0) {
        for (i = 0; value[i] == ' '; i++)
            ;
        if (g_ascii_isdigit(value[i]))
            emit2(x, "prio:", value + i, 1);
    } else if (strcmp(lname, "content-transfer-encoding") == 0) {
        char enc[32];

        for (i = 0; value[i] != '\0' && value[i] != ' ' && i + 1 < sizeof(enc); i++)
            enc[i] = g_ascii_tolower(value[i]);
        enc[i] = '\0';
        emits(x, "cte:", enc);
    }
}

static void on_address(void *arg, enum mime_field field, const char *name, const char *addr)
{
    struct fx *x = arg;
    char host[256], laddr[256];
    size_t i, hlen;

    switch (field) {
    case MIME_FROM:
        if (x->from++ > 0)
            return;
        for (i = 0; addr[i] != '\0' && i + 1 < sizeof(laddr); i++)
            laddr[i] = g_ascii_tolower(addr[i]);
        laddr[i] = '\0';
        emits(x, "from:addr:", laddr);
        hlen = domain_of(laddr, host, sizeof(host));
        emit_domain(x, "from:dom:", host, hlen);
        if (hlen > 0) {
            const char *dom;
            size_t dlen;

            dom = tokenize_registered_domain(host, hlen, &dlen);
            g_strlcpy(x->from_dom, dom, dlen + 1 < sizeof(x->from_dom) ? dlen + 1 : sizeof(x->from_dom));
        }
        if (name[0] == '\0' || words(x, "from:name:", 0, name, strnlen(name, HEADER_TEXT)) == 0)
            emits(x, "from:name:", "none");
        break;
    case MIME_REPLY_TO:
        if (x->reply_dom[0] != '\0')
            return;
        hlen = domain_of(addr, host, sizeof(host));
        emit_domain(x, "replyto:dom:", host, hlen);
        if (hlen > 0) {
            const char *dom;
            size_t dlen;

            dom = tokenize_registered_domain(host, hlen, &dlen);
            g_strlcpy(x->reply_dom, dom, dlen + 1 < sizeof(x->reply_dom) ? dlen + 1 : sizeof(x->reply_dom));
        } else {
            g_strlcpy(x->reply_dom, "?", sizeof(x->reply_dom));
        }
        break;
    case MIME_TO:
        x->to++;
        break;
    case MIME_CC:
        x->cc++;
        break;
    }
}

static void on_part(void *arg, const struct mime_part_info *p)
{
    struct fx *x = arg;

    x->parts++;
    if (p->depth == 0)
        emits(x, "ct:", p->type);
    emits(x, "meta:mime:", p->type);
    if (p->charset != NULL && !p->container) {
        char cs[48];
        size_t i;

        for (i = 0; p->charset[i] != '\0' && i + 1 < sizeof(cs); i++)
            cs[i] = g_ascii_tolower(p->charset[i]);
        cs[i] = '\0';
        emits(x, "ct:charset:", cs);
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
        emits(x, "meta:attach:", i > 0 && dot[i] == '\0' ? ext : "noext");
        emit_count(x, "meta:attach:kib:", p->size >> 10);
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
    emit_url(arg, url, len);
}

static void on_text(void *arg, const char *s, size_t len, int html)
{
    struct fx *x = arg;
    struct html_info hi;

    if (!html) {
        x->body_words += words(x, "", 1, s, len);
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
    x->body_words += words(x, "", 1, x->hbuf, x->hlen);
    x->html_images += hi.images;
    x->html_links += hi.links;
    x->html_tiny += hi.tiny;
    x->html_invisible += hi.invisible;
    x->html_visible += hi.visible;
    x->html_bytes += len;
    if (hi.forms > 0)
        emits(x, "html:", "form");
    if (hi.scripts > 0)
        emits(x, "html:", "script");
    if (hi.iframes > 0)
        emits(x, "html:", "iframe");
}

/* The coarse Received features: hop count, and the registered domain of the
 * server that first accepted the message (the "by" of the bottom-most header). */
static void received_features(struct fx *x)
{
    const char *v = x->last_received, *by;
    char host[256];
    size_t n = 0;

    emit_count(x, "rcvd:hops:", x->hops);
    if (v == NULL)
        return;
    while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
        v++;                        /* raw values keep the space after the colon */
    by = strstr(v, "by ");
    if (by != NULL && (by == v || by[-1] == ' ' || by[-1] == '\t' || by[-1] == '\n' ||
                       by[-1] == ')')) {
        for (by += 3; *by == ' '; by++)
            ;
        while (by[n] != '\0' && n + 1 < sizeof(host) &&
               (g_ascii_isalnum(by[n]) || by[n] == '.' || by[n] == '-')) {
            host[n] = g_ascii_tolower(by[n]);
            n++;
        }
        host[n] = '\0';
        if (n > 0 && strchr(host, '.') != NULL)
            emit_domain(x, "rcvd:relay:", host, n);
        else
            emits(x, "rcvd:relay:", "local");
    }
    if (strncmp(v, "from ", 5) == 0 && tokenize_is_ipv4(v + 5, strcspn(v + 5, " (")))
        emits(x, "rcvd:helo:", "ip");
}

static void finish_features(struct fx *x, size_t len)
{
    size_t b;

    x->limit = x->ntokens + META_RESERVE;

    for (b = 0; (len >> 9) >> b != 0 && b < 20; b++)
        ;
    emit_count(x, "meta:size:", b);     /* log2 of the size in 512-byte units */
    emit_count(x, "to:count:", x->to);
    emit_count(x, "cc:count:", x->cc);
    emit_count(x, "meta:parts:", x->parts);
    received_features(x);
    if (!x->subject)
        emits(x, "subj:", "missing");
    if (!x->mailer)
        emits(x, "mailer:", "none");
    if (!x->msgid)
        emits(x, "msgid:", "missing");
    else if (x->msgid_dom[0] != '\0')
        emits(x, "msgid:", x->from_dom[0] != '\0' && strcmp(x->msgid_dom, x->from_dom) == 0 ?
              "from-dom" : "other-dom");
    if (x->from == 0)
        emits(x, "from:", "missing");
    if (x->reply_dom[0] != '\0')
        emits(x, "replyto:", strcmp(x->reply_dom, x->from_dom) == 0 ? "same-dom" : "other-dom");
    if (x->html > 0 && x->plain == 0)
        emits(x, "meta:", "html-only");
    if (x->body_words == 0)
        emits(x, "meta:", "no-words");
    else
        emit_count(x, "meta:words:", x->body_words / 16);
    if (x->html > 0) {
        emit_count(x, "html:img:", x->html_images);
        emit_count(x, "html:links:", x->html_links);
        if (x->html_invisible >= 16)
            emits(x, "html:", "invisible");
        if (x->html_tiny > 0)
            emits(x, "html:", "tiny");
        /* visible text per 100 bytes of markup, in tenths */
        emit_count(x, "html:ratio:", x->html_bytes ? x->html_visible * 10 / x->html_bytes : 0);
    }
    if (x->flags & FEATURES_F_CHARSET)
        emits(x, "meta:", "bad-charset");
    if (x->flags & FEATURES_F_MIME_ERROR)
        emits(x, "meta:", "mime-error");
    if (x->flags & FEATURES_F_DEEP)
        emits(x, "meta:", "deep");
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

/* The digest of features.h: Message-ID, Date, From, Subject values and the body
 * (which starts after the first blank line, or at the first line that is not a
 * header, as mime_walk() has it). */
static void compute_digest(const char *buf, size_t len, uint8_t out[16])
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
    static const struct mime_sink sink = { want_value, on_header, on_address, on_part, on_text };
    struct scratch *sc = g_private_get(&scratch_key);
    struct fx x;

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
    memset(&x, 0, sizeof(x));
    x.out = out;
    x.tok = tok;
    x.tok_arg = arg;
    x.prefix = "";
    x.limit = MAX_TOKENS;
    x.hbuf = sc->hbuf;
    x.hcap = sc->hcap;
    compute_digest(buf ? buf : "", len, out->digest);
    if (len > 0) {
        x.flags |= mime_walk(buf, len, TEXT_BUDGET, &sink, &x);
        if (memchr(buf, '\0', len) != NULL)
            emits(&x, "meta:", "nul");
    }
    finish_features(&x, len);
    out->flags = x.flags;
    if (x.subject == 0 && x.from == 0 && x.body_words == 0 && x.hops == 0 &&
        x.parts <= 1 && x.msgid == 0)
        out->flags |= FEATURES_F_EMPTY;
    g_free(x.last_received);
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
