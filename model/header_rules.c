/*
 * header_rules.c - the features that come from the header block: the header
 * names present ("hdr:", transit headers excluded), Subject, X-Mailer and
 * User-Agent, Message-ID, X-Priority, Content-Transfer-Encoding, From and
 * Reply-To, the Received chain, and the closing header tokens ("subj:missing",
 * "msgid:other-dom", "replyto:same-dom", ...).  mime.c calls the first three
 * through struct mime_sink; features.c calls header_rules_finish() once per
 * message.  Tokens go into the bag through fx.h; nothing here allocates beyond
 * the copy of the earliest Received value (x->last_received, g_free'd by
 * features_extract()).
 */
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "fx.h"
#include "header_rules.h"
#include "mime.h"
#include "tokenize.h"

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

/* The registered domain of host[0..hlen) (hlen > 0) into out[0..outsz), cut to
 * fit; for the From / Reply-To / Message-ID comparisons. */
static void keep_domain(char *out, size_t outsz, const char *host, size_t hlen)
{
    size_t dlen;
    const char *dom = tokenize_registered_domain(host, hlen, &dlen);

    g_strlcpy(out, dom, dlen + 1 < outsz ? dlen + 1 : outsz);
}

static void emit_domain(struct fx *x, const char *prefix, const char *host, size_t hlen)
{
    const char *dom;
    size_t dlen;

    if (hlen == 0) {
        fx_emits(x, prefix, "none");
    } else if (tokenize_is_ipv4(host, hlen) || host[0] == '[') {
        fx_emits(x, prefix, "ip");
    } else {
        dom = tokenize_registered_domain(host, hlen, &dlen);
        fx_emit2(x, prefix, dom, dlen);
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
    n = fx_words(x, "subj:", 0, v, i < HEADER_TEXT ? i : HEADER_TEXT);
    if (n == 0)
        fx_emits(x, "subj:", "empty");
    if (letters >= 6 && upper * 10 >= letters * 8)
        fx_emits(x, "subj:", "caps");
    if (bangs > 0)
        fx_emits(x, "subj:", "bang");
    if (strstr(v, "  ") != NULL)
        fx_emits(x, "subj:", "spaces");
}

int header_rules_want_value(void *arg, const char *name)
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

void header_rules_on_header(void *arg, const char *name, const char *value)
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
        fx_emits(x, "hdr:", lname);
    if (value == NULL)
        return;
    if (strcmp(lname, "subject") == 0 && !x->subject) {
        subject_features(x, value);
    } else if ((strcmp(lname, "x-mailer") == 0 || strcmp(lname, "user-agent") == 0) &&
               !x->mailer) {
        x->mailer = 1;
        if (fx_words(x, "mailer:", 0, value, strnlen(value, HEADER_TEXT)) == 0)
            fx_emits(x, "mailer:", "empty");
    } else if (strcmp(lname, "message-id") == 0 && !x->msgid) {
        char host[256];
        size_t hlen = domain_of(value, host, sizeof(host));

        /* Only whether it matches From, never the domain itself: a server that
         * adds a missing Message-ID writes its own domain there, which names the
         * receiving site (netnoteinc.com in 10% of the SpamAssassin spam-2 folder,
         * 0.4% of the older ham), not the sender. */
        x->msgid = 1;
        if (hlen == 0) {
            fx_emits(x, "msgid:", "nodomain");
        } else if (tokenize_is_ipv4(host, hlen) || host[0] == '[') {
            fx_emits(x, "msgid:", "ip");
        } else {
            keep_domain(x->msgid_dom, sizeof(x->msgid_dom), host, hlen);
        }
    } else if (strcmp(lname, "x-priority") == 0) {
        for (i = 0; value[i] == ' '; i++)
            ;
        if (g_ascii_isdigit(value[i]))
            fx_emit2(x, "prio:", value + i, 1);
    } else if (strcmp(lname, "content-transfer-encoding") == 0) {
        char enc[32];

        for (i = 0; value[i] != '\0' && value[i] != ' ' && i + 1 < sizeof(enc); i++)
            enc[i] = g_ascii_tolower(value[i]);
        enc[i] = '\0';
        fx_emits(x, "cte:", enc);
    }
}

void header_rules_on_address(void *arg, enum mime_field field, const char *name, const char *addr)
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
        fx_emits(x, "from:addr:", laddr);
        hlen = domain_of(laddr, host, sizeof(host));
        emit_domain(x, "from:dom:", host, hlen);
        if (hlen > 0)
            keep_domain(x->from_dom, sizeof(x->from_dom), host, hlen);
        if (name[0] == '\0' || fx_words(x, "from:name:", 0, name, strnlen(name, HEADER_TEXT)) == 0)
            fx_emits(x, "from:name:", "none");
        break;
    case MIME_REPLY_TO:
        if (x->reply_dom[0] != '\0')
            return;
        hlen = domain_of(addr, host, sizeof(host));
        emit_domain(x, "replyto:dom:", host, hlen);
        if (hlen > 0)
            keep_domain(x->reply_dom, sizeof(x->reply_dom), host, hlen);
        else
            g_strlcpy(x->reply_dom, "?", sizeof(x->reply_dom));
        break;
    case MIME_TO:
        x->to++;
        break;
    case MIME_CC:
        x->cc++;
        break;
    }
}

/* The coarse Received features: hop count, and the registered domain of the
 * server that first accepted the message (the "by" of the bottom-most header). */
static void received_features(struct fx *x)
{
    const char *v = x->last_received, *by;
    char host[256];
    size_t n = 0;

    fx_emit_count(x, "rcvd:hops:", x->hops);
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
            fx_emits(x, "rcvd:relay:", "local");
    }
    if (strncmp(v, "from ", 5) == 0 && tokenize_is_ipv4(v + 5, strcspn(v + 5, " (")))
        fx_emits(x, "rcvd:helo:", "ip");
}

void header_rules_finish(struct fx *x)
{
    received_features(x);
    if (!x->subject)
        fx_emits(x, "subj:", "missing");
    if (!x->mailer)
        fx_emits(x, "mailer:", "none");
    if (!x->msgid)
        fx_emits(x, "msgid:", "missing");
    else if (x->msgid_dom[0] != '\0')
        fx_emits(x, "msgid:", x->from_dom[0] != '\0' && strcmp(x->msgid_dom, x->from_dom) == 0 ?
              "from-dom" : "other-dom");
    if (x->from == 0)
        fx_emits(x, "from:", "missing");
    if (x->reply_dom[0] != '\0')
        fx_emits(x, "replyto:", strcmp(x->reply_dom, x->from_dom) == 0 ? "same-dom" : "other-dom");
}
