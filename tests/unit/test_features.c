/*
 * test_features.c - features_extract() over the fixtures in tests/data/mime and
 * over hostile messages generated here: expected tokens and flags, CRLF = LF,
 * the mbox From_ line, the digest's invariance to transit headers, determinism,
 * the sorted unique bag against a naive qsort reference, deep nesting and a
 * 20 MB message in bounded time, and extraction on several threads at once.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <glib.h>

#include "features.h"

/* ---- helpers ---- */

static char *load(const char *name, size_t *len)
{
    char *path = g_build_filename(TEST_DATA_DIR, "mime", name, NULL), *buf = NULL;
    gsize n = 0;

    if (!g_file_get_contents(path, &buf, &n, NULL))
        fail_msg("cannot read fixture %s", path);
    g_free(path);
    *len = n;
    return buf;
}

/* What the token callback saw. */
struct seen {
    GHashTable *tokens;     /* token text -> id (as pointer) */
    GArray *ids;            /* every id, in order, duplicates included */
    int bad_hash;           /* an id differed from features_hash(token) */
};

static void seen_token(void *arg, uint32_t id, const char *token, size_t len)
{
    struct seen *s = arg;

    g_hash_table_insert(s->tokens, g_strndup(token, len), GUINT_TO_POINTER(id));
    g_array_append_val(s->ids, id);
    if (features_hash(token, len) != id)
        s->bad_hash = 1;
}

static void seen_init(struct seen *s)
{
    s->tokens = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    s->ids = g_array_new(FALSE, FALSE, sizeof(uint32_t));
    s->bad_hash = 0;
}

static void seen_free(struct seen *s)
{
    g_hash_table_destroy(s->tokens);
    g_array_free(s->ids, TRUE);
}

static double cpu_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int same_bag(const struct features *a, const struct features *b)
{
    return a->n == b->n && memcmp(a->ids, b->ids, a->n * sizeof(uint32_t)) == 0 &&
           memcmp(a->digest, b->digest, sizeof(a->digest)) == 0 && a->flags == b->flags;
}

/* LF -> CRLF. */
static char *to_crlf(const char *buf, size_t len, size_t *outlen)
{
    GString *s = g_string_sized_new(len + len / 16);
    size_t i;

    for (i = 0; i < len; i++) {
        if (buf[i] == '\n')
            g_string_append_c(s, '\r');
        g_string_append_c(s, buf[i]);
    }
    *outlen = s->len;
    return g_string_free(s, FALSE);
}

static const char *const fixtures[] = {
    "nested.eml", "subject-utf8-b64.eml", "subject-latin1-qp.eml", "bad-charset.eml",
    "missing-charset.eml", "html-only.eml", "nul-bytes.eml", "empty-body.eml", "plain.eml",
    "mbox-from.eml", "no-blank-line.eml", "received.eml",
};

/* ---- expected tokens of each fixture ---- */

struct token_case {
    const char *name;
    const char *file;
    const char *want[12];       /* tokens that must appear */
    const char *wantnot[8];     /* tokens that must not */
    uint32_t flags_set;         /* flags that must be set */
    uint32_t flags_clear;       /* flags that must be clear */
};

static const struct token_case token_cases[] = {
    { "nested multipart: QP, base64 html, inner message, pdf attachment", "nested.eml",
      { "caf\xc3\xa9", "software-heavy", "limited", "offer", "url:deals.example.net",
        "url:dom:example.net", "innerword", "meta:attach:pdf", "meta:mime:message/rfc822",
        "ct:multipart/mixed", "to:count:2", "cc:count:1" },
      { "pdfsecretword", "meta:html-only" }, 0, FEATURES_F_CHARSET | FEATURES_F_DEEP },
    { "UTF-8 base64 subject", "subject-utf8-b64.eml",
      { "subj:viagra", "subj:cheap", "subj:now", "from:dom:example.biz", "from:name:pharmacy",
        "msgid:from-dom", "order" },
      { "subj:=?utf-8?b?", "msgid:dom:example.biz" }, 0, FEATURES_F_CHARSET },
    { "latin-1 QP subject and 8bit body", "subject-latin1-qp.eml",
      { "subj:caf\xc3\xa9", "subj:cr\xc3\xa8me", "from:name:andr\xc3\xa9", "pla\xc3\xaet",
        "ct:charset:iso-8859-1", "msgid:other-dom" },
      { "msgid:dom:example.net", "msgid:from-dom" }, 0, FEATURES_F_CHARSET },
    { "unknown charset read as windows-1252", "bad-charset.eml",
      { "gr\xc3\xbcsse", "k\xc3\xb6ln", "meta:bad-charset" }, { 0 }, FEATURES_F_CHARSET, 0 },
    { "8-bit text without a charset", "missing-charset.eml",
      { "na\xc3\xafve", "caf\xc3\xa9" }, { 0 }, FEATURES_F_CHARSET, 0 },
    { "html only: visible text, links, hidden text", "html-only.eml",
      { "visibleword", "claim", "url:win.prize.example.co.uk", "url:dom:example.co.uk",
        "url:img.tracker.example.net", "meta:html-only", "html:invisible", "html:img:1",
        "subj:prize" },
      { "scriptword", "styleword", "titleword", "hiddenword", "whiteword", "cl" }, 0, 0 },
    { "NUL bytes in the body", "nul-bytes.eml",
      { "before", "after", "nulword", "end", "meta:nul" }, { 0 }, 0, FEATURES_F_EMPTY },
    { "empty body", "empty-body.eml",
      { "subj:nothing", "meta:no-words", "msgid:from-dom" }, { 0 }, 0,
      FEATURES_F_EMPTY },
    { "body right under the headers, no blank line (Enron)", "no-blank-line.eml",
      { "subj:re", "subj:quasi", "morning", "coffee", "afternoon" },
      { "meta:no-words", "hdr:good morning , i ' d love to go get some coffee" }, 0,
      FEATURES_F_EMPTY },
    { "plain text with a URL", "plain.eml",
      { "lunch", "tomorrow", "url:www.example.org", "url:dom:example.org", "subj:lunch",
        "from:addr:bob@example.org", "mailer:none", "rcvd:hops:0", "msgid:from-dom" },
      { "osb:shall we", "www.example.org" }, 0, FEATURES_F_TRUNCATED },
    { "Received: hop count and the first server's domain", "received.eml",
      { "rcvd:hops:3", "rcvd:relay:example.net", "rcvd:helo:ip", "hdr:x-mailer",
        "mailer:outlook", "prio:3" },
      { "rcvd:relay:receiver.example.com", "hdr:received", "hdr:x-spam-status",
        "hdr:delivered-to", "rcvd:relay:example.com" }, 0, 0 },
};

static void test_tokens(void **state)
{
    size_t i, k, len;

    (void) state;
    for (i = 0; i < sizeof(token_cases) / sizeof(token_cases[0]); i++) {
        const struct token_case *c = &token_cases[i];
        struct features f;
        struct seen s;
        char *buf = load(c->file, &len);
        int rc;

        features_init(&f);
        seen_init(&s);
        rc = features_extract(buf, len, &f, seen_token, &s);
        if (rc != 0)
            fail_msg("%s: features_extract got %d, want 0", c->name, rc);
        for (k = 0; k < 12 && c->want[k] != NULL; k++)
            if (!g_hash_table_contains(s.tokens, c->want[k]))
                fail_msg("%s: token \"%s\" missing, want it present", c->name, c->want[k]);
        for (k = 0; k < 8 && c->wantnot[k] != NULL; k++)
            if (g_hash_table_contains(s.tokens, c->wantnot[k]))
                fail_msg("%s: token \"%s\" present, want it absent", c->name, c->wantnot[k]);
        if ((f.flags & c->flags_set) != c->flags_set)
            fail_msg("%s: flags got 0x%x, want 0x%x set", c->name, f.flags, c->flags_set);
        if ((f.flags & c->flags_clear) != 0)
            fail_msg("%s: flags got 0x%x, want 0x%x clear", c->name, f.flags, c->flags_clear);
        if (s.bad_hash)
            fail_msg("%s: a callback id differs from features_hash(token)", c->name);
        seen_free(&s);
        features_clear(&f);
        g_free(buf);
    }
}

/* ---- the bag against a naive reference: qsort + unique of the callback ids ---- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;

    return x < y ? -1 : x > y;
}

static void test_bag_matches_reference(void **state)
{
    size_t i, j, n, len;

    (void) state;
    for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        struct features f;
        struct seen s;
        char *buf = load(fixtures[i], &len);
        uint32_t *ref;

        features_init(&f);
        seen_init(&s);
        assert_int_equal(features_extract(buf, len, &f, seen_token, &s), 0);
        ref = (uint32_t *) s.ids->data;
        qsort(ref, s.ids->len, sizeof(uint32_t), cmp_u32);
        for (n = 0, j = 0; j < s.ids->len; j++)
            if (n == 0 || ref[j] != ref[n - 1])
                ref[n++] = ref[j];
        if (n != f.n)
            fail_msg("%s: bag size got %zu, want %zu (reference)", fixtures[i], f.n, n);
        for (j = 0; j < n; j++)
            if (f.ids[j] != ref[j])
                fail_msg("%s: id %zu got %08x, want %08x", fixtures[i], j, f.ids[j], ref[j]);
        seen_free(&s);
        features_clear(&f);
        g_free(buf);
    }
}

/* ---- equalities: CRLF = LF, From_ line ignored, determinism ---- */

static void test_crlf_equals_lf(void **state)
{
    size_t i, len, clen;

    (void) state;
    for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        struct features a, b;
        char *buf = load(fixtures[i], &len), *crlf = to_crlf(buf, len, &clen);

        features_init(&a);
        features_init(&b);
        assert_int_equal(features_extract(buf, len, &a, NULL, NULL), 0);
        assert_int_equal(features_extract(crlf, clen, &b, NULL, NULL), 0);
        if (!same_bag(&a, &b))
            fail_msg("%s: CRLF bag (%zu ids, flags 0x%x) differs from LF bag (%zu ids, "
                     "flags 0x%x), want equal bags and digests", fixtures[i], b.n, b.flags,
                     a.n, a.flags);
        features_clear(&a);
        features_clear(&b);
        g_free(buf);
        g_free(crlf);
    }
}

static void test_mbox_from_line(void **state)
{
    struct features a, b;
    size_t la, lb;
    char *pa = load("plain.eml", &la), *pb = load("mbox-from.eml", &lb);

    (void) state;
    features_init(&a);
    features_init(&b);
    assert_int_equal(features_extract(pa, la, &a, NULL, NULL), 0);
    assert_int_equal(features_extract(pb, lb, &b, NULL, NULL), 0);
    if (!same_bag(&a, &b))
        fail_msg("mbox From_ line: got %zu ids, want the %zu of the same message without it",
                 b.n, a.n);
    features_clear(&a);
    features_clear(&b);
    g_free(pa);
    g_free(pb);
}

static void test_deterministic(void **state)
{
    size_t i, len;

    (void) state;
    for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        struct features a, b;
        char *buf = load(fixtures[i], &len);

        features_init(&a);
        features_init(&b);
        assert_int_equal(features_extract(buf, len, &a, NULL, NULL), 0);
        assert_int_equal(features_extract(buf, len, &b, NULL, NULL), 0);
        /* and again into a bag that already holds ids */
        assert_int_equal(features_extract(buf, len, &b, NULL, NULL), 0);
        if (!same_bag(&a, &b))
            fail_msg("%s: second extraction got %zu ids, want the same %zu", fixtures[i],
                     b.n, a.n);
        features_clear(&a);
        features_clear(&b);
        g_free(buf);
    }
}

/* ---- the digest ---- */

struct digest_case {
    const char *name;
    const char *prepend;        /* added before the headers */
    const char *append;         /* added after the body */
    const char *from, *to;      /* replaced once in the message */
    int equal;                  /* 1: digest unchanged */
};

static const struct digest_case digest_cases[] = {
    { "Received added", "Received: from relay.example.net by mx.example.com; "
      "Tue, 3 Sep 2002 12:00:01 +0000\n", "", NULL, NULL, 1 },
    { "X-Spam headers added", "X-Spam-Status: No, score=0.1\nX-Spam-Flag: NO\n"
      "X-Spamshift-Score: 0.01\n", "", NULL, NULL, 1 },
    { "delivery headers added", "Return-Path: <bob@example.org>\nDelivered-To: alice@example.com\n",
      "", NULL, NULL, 1 },
    { "trailing blank lines", "", "\n\n\n", NULL, NULL, 1 },
    { "subject refolded", "", "", "Subject: lunch tomorrow", "Subject: lunch\n tomorrow", 1 },
    { "body word changed", "", "", "usual place", "usual pub", 0 },
    { "body line added", "", "PS: bring cash\n", NULL, NULL, 0 },
    { "subject changed", "", "", "Subject: lunch tomorrow", "Subject: lunch today", 0 },
    { "Message-ID changed", "", "", "<lunch@example.org>", "<lunch2@example.org>", 0 },
};

/* Regression: the digest once stopped only at a blank line, so Enron-style mail
 * (no blank line) hashed its Subject alone and distinct messages collided. */
static void test_digest_no_blank_line(void **state)
{
    struct features a, b;
    size_t la, lb;
    char *pa = load("no-blank-line.eml", &la), *pb = load("no-blank-line-2.eml", &lb);

    (void) state;
    features_init(&a);
    features_init(&b);
    assert_int_equal(features_extract(pa, la, &a, NULL, NULL), 0);
    assert_int_equal(features_extract(pb, lb, &b, NULL, NULL), 0);
    if (memcmp(a.digest, b.digest, sizeof(a.digest)) == 0)
        fail_msg("same Subject, different bodies: got equal digests, want different");
    features_clear(&a);
    features_clear(&b);
    g_free(pa);
    g_free(pb);
}

static void test_digest(void **state)
{
    struct features base, f;
    size_t len, i;
    char *buf = load("plain.eml", &len);

    (void) state;
    features_init(&base);
    features_init(&f);
    assert_int_equal(features_extract(buf, len, &base, NULL, NULL), 0);
    for (i = 0; i < sizeof(digest_cases) / sizeof(digest_cases[0]); i++) {
        const struct digest_case *c = &digest_cases[i];
        GString *m = g_string_new(c->prepend);
        int eq;

        g_string_append_len(m, buf, (gssize) len);
        g_string_append(m, c->append);
        if (c->from != NULL) {
            char *at = strstr(m->str, c->from);

            assert_non_null(at);
            g_string_erase(m, at - m->str, (gssize) strlen(c->from));
            g_string_insert(m, at - m->str, c->to);
        }
        assert_int_equal(features_extract(m->str, m->len, &f, NULL, NULL), 0);
        eq = memcmp(f.digest, base.digest, sizeof(f.digest)) == 0;
        if (eq != c->equal)
            fail_msg("%s: digest %s, want it %s", c->name, eq ? "unchanged" : "changed",
                     c->equal ? "unchanged" : "changed");
        g_string_free(m, TRUE);
    }
    features_clear(&base);
    features_clear(&f);
    g_free(buf);
}

/* ---- hostile input, generated here ---- */

static GString *nested_multipart(unsigned levels)
{
    GString *s = g_string_new("From: a@example.com\nSubject: deep\nMIME-Version: 1.0\n"
                              "Content-Type: multipart/mixed; boundary=\"b0\"\n\n");
    unsigned i;

    for (i = 1; i <= levels; i++)
        g_string_append_printf(s, "--b%u\nContent-Type: multipart/mixed; boundary=\"b%u\"\n\n",
                               i - 1, i);
    g_string_append_printf(s, "--b%u\nContent-Type: text/plain\n\ndeepword\n", levels);
    for (i = levels + 1; i-- > 0;)
        g_string_append_printf(s, "--b%u--\n", i);
    return s;
}

struct deep_case {
    const char *name;
    unsigned levels;
    int deep;                   /* FEATURES_F_DEEP expected */
};

static const struct deep_case deep_cases[] = {
    { "10 levels", 10, 0 },
    { "1,000 levels", 1000, 1 },
    { "50,000 levels", 50000, 1 },
};

static void test_deep_nesting(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(deep_cases) / sizeof(deep_cases[0]); i++) {
        const struct deep_case *c = &deep_cases[i];
        GString *m = nested_multipart(c->levels);
        struct features f;
        struct seen s;
        double t;

        features_init(&f);
        seen_init(&s);
        t = cpu_seconds();
        assert_int_equal(features_extract(m->str, m->len, &f, seen_token, &s), 0);
        t = cpu_seconds() - t;
        if (((f.flags & FEATURES_F_DEEP) != 0) != c->deep)
            fail_msg("%s: flags got 0x%x, want DEEP %s", c->name, f.flags,
                     c->deep ? "set" : "clear");
        if (!c->deep && !g_hash_table_contains(s.tokens, "deepword"))
            fail_msg("%s: innermost text not reached", c->name);
        if (!g_hash_table_contains(s.tokens, "subj:deep"))
            fail_msg("%s: headers lost", c->name);
        if (t > 2.0)
            fail_msg("%s: took %.2f s of CPU, want < 2 s", c->name, t);
        seen_free(&s);
        features_clear(&f);
        g_string_free(m, TRUE);
    }
}

struct big_case {
    const char *name;
    int attachment;             /* 1: one huge base64 attachment, 0: huge text */
};

static const struct big_case big_cases[] = {
    { "20 MB of text", 0 },
    { "20 MB attachment", 1 },
};

static void test_huge_message(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(big_cases) / sizeof(big_cases[0]); i++) {
        const struct big_case *c = &big_cases[i];
        GString *m = g_string_sized_new(21u << 20);
        struct features f;
        struct seen s;
        double t;

        if (c->attachment) {
            g_string_append(m, "From: a@example.com\nSubject: big\nMIME-Version: 1.0\n"
                            "Content-Type: multipart/mixed; boundary=x\n\n--x\n"
                            "Content-Type: text/plain\n\nhello there\n--x\n"
                            "Content-Type: application/zip; name=a.zip\n"
                            "Content-Disposition: attachment; filename=a.zip\n"
                            "Content-Transfer-Encoding: base64\n\n");
            while (m->len < (20u << 20))
                g_string_append(m, "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJz\n");
            g_string_append(m, "--x--\n");
        } else {
            g_string_append(m, "From: a@example.com\nSubject: big\n\n");
            while (m->len < (20u << 20))
                g_string_append(m, "spamword hamword eggs bacon 12345 and more words here\n");
        }
        features_init(&f);
        seen_init(&s);
        t = cpu_seconds();
        assert_int_equal(features_extract(m->str, m->len, &f, NULL, NULL), 0);
        t = cpu_seconds() - t;
        if (t > 1.0)
            fail_msg("%s: took %.2f s of CPU, want < 1 s", c->name, t);
        if (!c->attachment && !(f.flags & FEATURES_F_TRUNCATED))
            fail_msg("%s: flags got 0x%x, want TRUNCATED", c->name, f.flags);
        if (c->attachment && (f.flags & FEATURES_F_TRUNCATED))
            fail_msg("%s: flags got 0x%x, want no TRUNCATED (attachments are not text)",
                     c->name, f.flags);
        features_clear(&f);
        assert_int_equal(features_extract(m->str, m->len, &f, seen_token, &s), 0);
        if (!g_hash_table_contains(s.tokens, "meta:size:16+"))
            fail_msg("%s: token meta:size:16+ missing after the limit", c->name);
        if (c->attachment && !g_hash_table_contains(s.tokens, "meta:attach:zip"))
            fail_msg("%s: token meta:attach:zip missing", c->name);
        seen_free(&s);
        features_clear(&f);
        g_string_free(m, TRUE);
    }
}

/* Regressions: before the caps of mime.h, 1.5 million header lines took GMime
 * 12 s and 780 MB, 200,000 sibling parts 9 s and 400 MB, and a To: of 300,000
 * addresses 1.5 s and 120 MB. */
enum bomb { BOMB_HEADERS, BOMB_PART_HEADERS, BOMB_PARTS, BOMB_ADDRESSES };

struct bomb_case {
    const char *name;
    enum bomb kind;
};

static const struct bomb_case bomb_cases[] = {
    { "1.5 million message header lines", BOMB_HEADERS },
    { "1.5 million part header lines", BOMB_PART_HEADERS },
    { "200,000 sibling parts", BOMB_PARTS },
    { "300,000 addresses in To", BOMB_ADDRESSES },
};

static void test_bombs(void **state)
{
    size_t i;
    unsigned k;

    (void) state;
    for (i = 0; i < sizeof(bomb_cases) / sizeof(bomb_cases[0]); i++) {
        const struct bomb_case *c = &bomb_cases[i];
        GString *m = g_string_sized_new(24u << 20);
        struct features f;
        struct seen s;
        double t;

        g_string_append(m, "From: a@example.com\nSubject: bomb\n");
        switch (c->kind) {
        case BOMB_HEADERS:
        case BOMB_PART_HEADERS:
            if (c->kind == BOMB_PART_HEADERS)
                g_string_append(m, "Content-Type: multipart/mixed; boundary=b\n\n--b\n");
            for (k = 0; k < 1500000; k++)
                g_string_append_printf(m, "X-H%u: v\n", k % 5000);
            g_string_append(m, "\nbodyword\n");
            if (c->kind == BOMB_PART_HEADERS)
                g_string_append(m, "--b--\n");
            break;
        case BOMB_PARTS:
            g_string_append(m, "Content-Type: multipart/mixed; boundary=b\n\n"
                            "--b\nContent-Type: text/plain\n\nbodyword\n");
            for (k = 0; k < 200000; k++)
                g_string_append_printf(m, "--b\nContent-Type: text/plain\n\nw%u\n", k);
            g_string_append(m, "--b--\n");
            break;
        case BOMB_ADDRESSES:
            g_string_append(m, "To: ");
            for (k = 0; k < 300000; k++)
                g_string_append_printf(m, "u%u@example.com, ", k);
            g_string_append(m, "last@example.com\n\nbodyword\n");
            break;
        }
        features_init(&f);
        seen_init(&s);
        t = cpu_seconds();
        assert_int_equal(features_extract(m->str, m->len, &f, seen_token, &s), 0);
        t = cpu_seconds() - t;
        if (t > 2.0)
            fail_msg("%s: took %.2f s of CPU, want < 2 s", c->name, t);
        if (!(f.flags & FEATURES_F_TRUNCATED))
            fail_msg("%s: flags got 0x%x, want TRUNCATED", c->name, f.flags);
        if (!g_hash_table_contains(s.tokens, "bodyword"))
            fail_msg("%s: body text after the headers not reached", c->name);
        if (!g_hash_table_contains(s.tokens, "subj:bomb"))
            fail_msg("%s: Subject before the bomb lost", c->name);
        seen_free(&s);
        features_clear(&f);
        g_string_free(m, TRUE);
    }
}

struct odd_case {
    const char *name;
    const char *bytes;
    size_t len;
    uint32_t flags_set;
};

static const struct odd_case odd_cases[] = {
    { "zero bytes", "", 0, FEATURES_F_EMPTY },
    { "only a From_ line", "From x@y Mon Jan  1 00:00:00 2001\n", 35, FEATURES_F_EMPTY },
    { "no header, no blank line", "just some words", 15, 0 },
    { "binary junk", "\x00\x01\x02\xff\xfe\x80\n\n\x00\xc3", 10, 0 },
    { "header without colon", "this is not a header\n\nbody words\n", 33, 0 },
    { "unterminated multipart",
      "Content-Type: multipart/mixed; boundary=q\n\n--q\nContent-Type: text/plain\n\ntext", 76, 0 },
    { "bad base64", "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\n!!!%%%\n",
      66, 0 },
    { "encoded-word with unknown charset", "Subject: =?x-bogus?Q?caf=E9?=\n\nbody\n", 36, 0 },
};

static void test_odd_input(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(odd_cases) / sizeof(odd_cases[0]); i++) {
        const struct odd_case *c = &odd_cases[i];
        struct features f;
        int rc;

        features_init(&f);
        rc = features_extract(c->bytes, c->len, &f, NULL, NULL);
        if (rc != 0)
            fail_msg("%s: got %d, want 0", c->name, rc);
        if ((f.flags & c->flags_set) != c->flags_set)
            fail_msg("%s: flags got 0x%x, want 0x%x set", c->name, f.flags, c->flags_set);
        if (f.n == 0)
            fail_msg("%s: got an empty bag, want at least the meta features", c->name);
        features_clear(&f);
    }
}

/* ---- threads: the milter extracts on many threads at once ---- */

#define N_THREADS 4
#define N_ROUNDS 25

struct thread_job {
    char *bufs[sizeof(fixtures) / sizeof(fixtures[0])];
    size_t lens[sizeof(fixtures) / sizeof(fixtures[0])];
    struct features want[sizeof(fixtures) / sizeof(fixtures[0])];
};

static gpointer extract_thread(gpointer data)
{
    const struct thread_job *job = data;
    struct features f;
    size_t r, i;
    gpointer bad = NULL;

    features_init(&f);
    for (r = 0; r < N_ROUNDS && bad == NULL; r++) {
        for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
            if (features_extract(job->bufs[i], job->lens[i], &f, NULL, NULL) != 0 ||
                !same_bag(&f, &job->want[i])) {
                bad = (gpointer) fixtures[i];
                break;
            }
        }
    }
    features_clear(&f);
    return bad;
}

static void test_threads(void **state)
{
    struct thread_job job;
    GThread *th[N_THREADS];
    size_t i;
    int t;

    (void) state;
    for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        job.bufs[i] = load(fixtures[i], &job.lens[i]);
        features_init(&job.want[i]);
        assert_int_equal(features_extract(job.bufs[i], job.lens[i], &job.want[i], NULL, NULL), 0);
    }
    for (t = 0; t < N_THREADS; t++)
        th[t] = g_thread_new("extract", extract_thread, &job);
    for (t = 0; t < N_THREADS; t++) {
        const char *bad = g_thread_join(th[t]);

        if (bad != NULL)
            fail_msg("thread %d: %s gave a different bag, want the single-thread one", t, bad);
    }
    for (i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
        features_clear(&job.want[i]);
        g_free(job.bufs[i]);
    }
}

static void test_clear_twice(void **state)
{
    struct features f;

    (void) state;
    features_init(&f);
    features_clear(&f);
    features_clear(&f);
    features_clear(NULL);
    assert_int_equal(f.n, 0);
    assert_null(f.ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_bag_matches_reference),
        cmocka_unit_test(test_crlf_equals_lf),
        cmocka_unit_test(test_mbox_from_line),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_digest_no_blank_line),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_huge_message),
        cmocka_unit_test(test_bombs),
        cmocka_unit_test(test_odd_input),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_clear_twice),
    };
    int rc;

    if (features_global_init() != 0) {
        fprintf(stderr, "test_features: features_global_init failed\n");
        return 1;
    }
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    features_global_shutdown();
    return rc;
}
