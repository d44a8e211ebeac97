/*
 * test_tokenize.c - the tokenizer, the URL host and registered-domain helpers,
 * and the HTML text extractor, each against tables of named cases.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "features.h"
#include "html.h"
#include "tokenize.h"

/* Tokens joined as "a|b|U:url|L" (U: a URL, L: a long word). */
static void join_token(void *arg, enum tokenize_kind kind, const char *tok, size_t len)
{
    GString *s = arg;

    if (s->len > 0)
        g_string_append_c(s, '|');
    if (kind == TOKENIZE_URL)
        g_string_append(s, "U:");
    if (kind == TOKENIZE_LONG)
        g_string_append(s, "L");
    else
        g_string_append_len(s, tok, (gssize) len);
}

struct tok_case {
    const char *name;
    const char *in;
    const char *want;
};

static const struct tok_case tok_cases[] = {
    { "words lowercased", "Hello, World!", "hello|world" },
    { "one-letter words dropped", "a b cd e", "cd" },
    { "internal punctuation kept", "don't e-mail v1.2 foo_bar", "don't|e-mail|v1.2|foo_bar" },
    { "trailing punctuation dropped", "end. dash- quote'", "end|dash|quote" },
    { "numbers folded to a shape", "2002 $19.95 1,000", "NNNN|$NN.NN|NNN" },
    { "few digits in a word kept", "mp3 y2k win2000", "mp3|y2k|winNNNN" },
    { "lone dollar dropped", "$ $$", "" },
    { "NFKC fullwidth", "\xef\xbc\xa6\xef\xbc\xb2\xef\xbc\xa5\xef\xbc\xa5", "free" },
    { "casefold sharp s", "Stra\xc3\x9f" "e", "strasse" },
    { "accented word", "Caf\xc3\xa9 CR\xc3\x88ME", "caf\xc3\xa9|cr\xc3\xa8me" },
    { "CJK bigrams", "\xe4\xb8\xad\xe6\x96\x87\xe9\x82\xae\xe4\xbb\xb6",
      "\xe4\xb8\xad\xe6\x96\x87|\xe6\x96\x87\xe9\x82\xae|\xe9\x82\xae\xe4\xbb\xb6" },
    { "lone CJK character", "x \xe4\xb8\xad y", "\xe4\xb8\xad" },
    { "long word marked", "ok aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ok", "ok|L|ok" },
    { "40 characters kept", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" },
    { "http URL", "see http://www.Example.com/x?a=1. now", "see|U:http://www.Example.com/x?a=1|now" },
    { "www URL", "(www.example.org/path)", "U:www.example.org/path" },
    { "invalid UTF-8 separates", "ab\xff\xfe" "cd", "ab|cd" },
    { "control characters separate", "ab\x01" "cd\tef", "ab|cd|ef" },
    { "empty", "", "" },
};

static void test_tokenize_text(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(tok_cases) / sizeof(tok_cases[0]); i++) {
        GString *got = g_string_new(NULL);

        tokenize_text(tok_cases[i].in, strlen(tok_cases[i].in), join_token, got);
        if (strcmp(got->str, tok_cases[i].want) != 0)
            fail_msg("%s: got \"%s\", want \"%s\"", tok_cases[i].name, got->str,
                     tok_cases[i].want);
        g_string_free(got, TRUE);
    }
}

struct host_case {
    const char *name;
    const char *url;
    const char *host;       /* "" when there is none */
    const char *domain;
};

static const struct host_case host_cases[] = {
    { "plain http", "http://www.Example.COM/path", "www.example.com", "example.com" },
    { "https with port", "https://shop.example.net:8443/x", "shop.example.net", "example.net" },
    { "userinfo trick", "http://www.paypal.com@evil.example.ru/login", "evil.example.ru",
      "example.ru" },
    { "co.uk", "http://a.b.example.co.uk/", "a.b.example.co.uk", "example.co.uk" },
    { "com.au", "http://www.shop.com.au", "www.shop.com.au", "shop.com.au" },
    { "two labels", "http://example.org", "example.org", "example.org" },
    { "trailing dot", "http://example.org./", "example.org", "example.org" },
    { "protocol relative", "//cdn.example.com/x.js", "cdn.example.com", "example.com" },
    { "bare www", "www.example.biz/offer", "www.example.biz", "example.biz" },
    { "IPv4", "http://192.168.10.1/x", "192.168.10.1", "192.168.10.1" },
    { "mailto", "mailto:someone@example.com", "", "" },
    { "relative", "/images/a.gif", "", "" },
    { "javascript", "javascript:void(0)", "", "" },
    { "empty host", "http:///x", "", "" },
    { "bad host character", "http://exa%6dple.com/", "", "" },
};

static void test_url_host(void **state)
{
    size_t i, n, dlen;
    char host[256];
    const char *dom;

    (void) state;
    for (i = 0; i < sizeof(host_cases) / sizeof(host_cases[0]); i++) {
        const struct host_case *c = &host_cases[i];

        n = tokenize_url_host(c->url, strlen(c->url), host, sizeof(host));
        if (n == 0)
            host[0] = '\0';
        if (strcmp(host, c->host) != 0)
            fail_msg("%s: host got \"%s\", want \"%s\"", c->name, host, c->host);
        if (n == 0)
            continue;
        dom = tokenize_registered_domain(host, n, &dlen);
        if (dlen != strlen(c->domain) || memcmp(dom, c->domain, dlen) != 0)
            fail_msg("%s: domain got \"%.*s\", want \"%s\"", c->name, (int) dlen, dom,
                     c->domain);
    }
}

static void test_url_host_small_buffer(void **state)
{
    char host[8];
    size_t n;

    (void) state;
    n = tokenize_url_host("http://averylonghost.example.com/", 33, host, sizeof(host));
    if (n != 0)
        fail_msg("host longer than the buffer: got length %zu, want 0", n);
}

struct html_case {
    const char *name;
    const char *html;
    const char *has;        /* must be in the visible text ("" = no check) */
    const char *hasnot;     /* must not be ("" = no check) */
    unsigned images, links;
    int invisible;          /* invisible > 0 expected */
};

static const struct html_case html_cases[] = {
    { "visible text", "<p>Hello <b>wor</b>ld</p>", "world", "", 0, 0, 0 },
    { "script and style skipped", "<script>scriptword()</script><style>styleword</style>ok",
      "ok", "scriptword", 0, 0, 0 },
    { "style text skipped", "<style>styleword{}</style>ok", "ok", "styleword", 0, 0, 0 },
    { "head skipped", "<html><head><title>titleword</title></head><body>bodyword</body>",
      "bodyword", "titleword", 0, 0, 0 },
    { "comments skipped", "a<!-- commentword -->b", "", "commentword", 0, 0, 0 },
    { "display none hidden", "<div style=\"display:none\">hiddenword</div>shown", "shown",
      "hiddenword", 0, 0, 1 },
    { "visibility hidden", "<span style='visibility: hidden'>hiddenword</span>", "",
      "hiddenword", 0, 0, 1 },
    { "font-size 0 hidden", "<span style=\"font-size:0px\">hiddenword</span>", "",
      "hiddenword", 0, 0, 1 },
    { "white on white", "<body bgcolor=#FFFFFF><font color=\"#fffffe\">hiddenword</font>",
      "", "hiddenword", 0, 0, 1 },
    { "white on black visible", "<body bgcolor=black><font color=white>shownword</font>",
      "shownword", "", 0, 0, 0 },
    { "links and images", "<a href=\"http://a.example.com/\">x</a><img src=\"http://i.example.com/p.gif\">"
      "<form action=\"http://f.example.com/\"></form>", "", "", 1, 3, 0 },
    { "block elements separate words", "<td>left</td><td>right</td>", "left", "leftright",
      0, 0, 0 },
    /* Regression: the first SAX version used libxml2's push parser, which stops
     * at the first </html>, and skipped <head> whole, which a stray second
     * <head> never closes: the rest of such mail was lost. */
    { "two documents back to back", "<html><body>first</body></html>\n<html><head>"
      "<title>t</title></head><body>secondword</body></html>", "secondword", "", 0, 0, 0 },
    { "stray head inside the body", "<html><body>one<head><title>x</title></head>"
      "<p>afterhead</p></body></html>", "afterhead", "", 0, 0, 0 },
    { "broken markup recovered", "<p><b>unclosed <i>tags <table><tr>cellword", "cellword", "",
      0, 0, 0 },
};

static void append_text(void *arg, const char *s, size_t len)
{
    g_string_append_len(arg, s, (gssize) len);
}

static void count_link(void *arg, const char *url, size_t len)
{
    (void) url;
    (void) len;
    (*(unsigned *) arg)++;
}

struct html_sink {
    GString *text;
    unsigned links;
};

static void sink_text(void *arg, const char *s, size_t len)
{
    append_text(((struct html_sink *) arg)->text, s, len);
}

static void sink_link(void *arg, const char *url, size_t len)
{
    count_link(&((struct html_sink *) arg)->links, url, len);
}

static void test_html_extract(void **state)
{
    size_t i;

    (void) state;
    for (i = 0; i < sizeof(html_cases) / sizeof(html_cases[0]); i++) {
        const struct html_case *c = &html_cases[i];
        struct html_sink sink = { g_string_new(NULL), 0 };
        struct html_info info;
        int rc;

        rc = html_extract(c->html, strlen(c->html), sink_text, sink_link, &sink, &info);
        if (rc != 0)
            fail_msg("%s: html_extract got %d, want 0", c->name, rc);
        if (c->has[0] != '\0' && strstr(sink.text->str, c->has) == NULL)
            fail_msg("%s: text \"%s\" lacks \"%s\"", c->name, sink.text->str, c->has);
        if (c->hasnot[0] != '\0' && strstr(sink.text->str, c->hasnot) != NULL)
            fail_msg("%s: text \"%s\" has \"%s\", want it left out", c->name, sink.text->str,
                     c->hasnot);
        if (info.images != c->images)
            fail_msg("%s: images got %u, want %u", c->name, info.images, c->images);
        if (sink.links != c->links || info.links != c->links)
            fail_msg("%s: links got %u (info %u), want %u", c->name, sink.links, info.links,
                     c->links);
        if ((info.invisible > 0) != c->invisible)
            fail_msg("%s: invisible got %zu, want %s", c->name, info.invisible,
                     c->invisible ? "> 0" : "0");
        g_string_free(sink.text, TRUE);
    }
}

static void test_html_empty(void **state)
{
    struct html_info info;
    int rc;

    (void) state;
    rc = html_extract("", 0, append_text, count_link, NULL, &info);
    if (rc != -1)
        fail_msg("empty html: got %d, want -1", rc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokenize_text),
        cmocka_unit_test(test_url_host),
        cmocka_unit_test(test_url_host_small_buffer),
        cmocka_unit_test(test_html_extract),
        cmocka_unit_test(test_html_empty),
    };

    if (features_global_init() != 0) {
        fprintf(stderr, "test_tokenize: features_global_init failed\n");
        return 1;
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
