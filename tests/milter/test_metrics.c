/*
 * test_metrics.c - metrics_listen's parts without a network: the address
 * parser (conf_parse_listen), the counters' Prometheus text (buckets checked
 * against a naive count of the observations at or below each bound) and the
 * answer to each kind of request (httpd_answer).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <glib.h>

#include "conf.h"
#include "counters.h"
#include "httpd.h"

static void
test_listen(void **state)
{
    static const struct { const char *v; int ok; const char *host; unsigned port; } cases[] = {
        { "127.0.0.1:9470", 1, "127.0.0.1", 9470 },
        { "[::1]:9470", 1, "::1", 9470 },
        { "0.0.0.0:0", 1, "0.0.0.0", 0 },
        { "[::]:65535", 1, "::", 65535 },
        { "localhost:9470", 0, NULL, 0 },      /* numeric only: no resolver at start */
        { "127.0.0.1", 0, NULL, 0 },
        { "127.0.0.1:", 0, NULL, 0 },
        { "127.0.0.1:65536", 0, NULL, 0 },
        { "127.0.0.1:-1", 0, NULL, 0 },
        { "127.0.0.1:95x", 0, NULL, 0 },
        { "::1:9470", 0, NULL, 0 },            /* IPv6 wants brackets */
        { "[::1]9470", 0, NULL, 0 },
        { "[::1:9470", 0, NULL, 0 },
        { "[127.0.0.1]:9470", 0, NULL, 0 },
        { ":9470", 0, NULL, 0 },
        { "256.0.0.1:80", 0, NULL, 0 },
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char host[64] = "";
        unsigned port = 12345;
        const char *why = conf_parse_listen(cases[i].v, host, sizeof(host), &port);

        if ((why == NULL) != cases[i].ok)
            fail_msg("%s: got %s, want %s", cases[i].v, why ? why : "ok",
                     cases[i].ok ? "ok" : "an error");
        if (cases[i].ok && (strcmp(host, cases[i].host) != 0 || port != cases[i].port))
            fail_msg("%s: got %s port %u, want %s port %u", cases[i].v, host, port,
                     cases[i].host, cases[i].port);
    }
}

/* The value of the sample named series (with its labels) in page; -1 if none. */
static double
sample(const char *page, const char *series)
{
    char *key = g_strdup_printf("\n%s ", series);
    const char *at = strstr(page, key);
    double v = at != NULL ? g_ascii_strtod(at + strlen(key), NULL) : -1;

    g_free(key);
    return v;
}

static void
test_render(void **state)
{
    static const double obs[] = { 0, 0.0004, 0.0005, 0.0006, 0.003, 0.003, 0.02, 0.7, 3, 12,
                                  1e9, -1 };
    struct counters_gauges g = { .version = "9.9", .model_id = "ab\"c", .have_store = 1,
                                 .queue_depth = 7, .queue_dropped = 3, .cache_users = 11 };
    GString *out = g_string_new("\n");
    size_t nb;
    const double *le = counters_scan_buckets(&nb);
    double sum = 0;
    char series[128];

    (void)state;
    counters_reset();
    for (size_t i = 0; i < G_N_ELEMENTS(obs); i++) {
        counters_scanned(i % 2 ? VERDICT_TAG : VERDICT_HAM, obs[i]);
        sum += obs[i] >= 0 && obs[i] < 1e6 ? obs[i] : 0;
    }
    counters_unscored(COUNTERS_SKIPPED);
    counters_unscored(COUNTERS_ERROR);
    counters_unscored(COUNTERS_ERROR);
    counters_unscored(COUNTERS_HAM);     /* not an unscored outcome: ignored */
    counters_reload(1);
    counters_reload(0);
    counters_reload(0);
    counters_refit(1);
    counters_store_error();
    counters_render(out, &g);

    for (size_t b = 0; b <= nb; b++) {
        double naive = 0;
        char lebuf[G_ASCII_DTOSTR_BUF_SIZE];

        for (size_t i = 0; i < G_N_ELEMENTS(obs); i++)
            naive += b == nb || (obs[i] < 0 ? 0 : obs[i]) <= le[b];
        if (b < nb)
            g_ascii_formatd(lebuf, sizeof(lebuf), "%g", le[b]);
        snprintf(series, sizeof(series), "spamshift_scan_seconds_bucket{le=\"%s\"}",
                 b < nb ? lebuf : "+Inf");
        if (sample(out->str, series) != naive)
            fail_msg("%s: got %g, want %g", series, sample(out->str, series), naive);
    }
    assert_true(sample(out->str, "spamshift_scan_seconds_count") == G_N_ELEMENTS(obs));
    if (fabs(sample(out->str, "spamshift_scan_seconds_sum") - sum) > 1e-6)
        fail_msg("sum: got %g, want %g", sample(out->str, "spamshift_scan_seconds_sum"), sum);
    {
        static const struct { const char *series; double want; } cases[] = {
            { "spamshift_messages_total{verdict=\"ham\"}", 6 },
            { "spamshift_messages_total{verdict=\"tag\"}", 6 },
            { "spamshift_messages_total{verdict=\"quarantine\"}", 0 },
            { "spamshift_messages_total{verdict=\"skipped\"}", 1 },
            { "spamshift_messages_total{verdict=\"unscanned\"}", 0 },
            { "spamshift_messages_total{verdict=\"error\"}", 2 },
            { "spamshift_reloads_total{result=\"ok\"}", 1 },
            { "spamshift_reloads_total{result=\"failed\"}", 2 },
            { "spamshift_refits_total{result=\"ok\"}", 1 },
            { "spamshift_refits_total{result=\"failed\"}", 0 },
            { "spamshift_store_errors_total{thread=\"maintenance\"}", 1 },
            { "spamshift_writer_queue_depth", 7 },
            { "spamshift_writer_dropped_total", 3 },
            { "spamshift_head_cache_users", 11 },
            { "spamshift_store_enabled", 1 },
            { "spamshift_build_info{version=\"9.9\",model=\"ab\\\"c\"}", 1 },
        };

        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
            if (sample(out->str, cases[i].series) != cases[i].want)
                fail_msg("%s: got %g, want %g", cases[i].series,
                         sample(out->str, cases[i].series), cases[i].want);
    }
    /* Every sample line belongs to a family declared just before it. */
    {
        char **lines = g_strsplit(out->str + 1, "\n", -1);
        const char *family = "";

        for (char **l = lines; *l != NULL && **l != '\0'; l++) {
            if (g_str_has_prefix(*l, "# TYPE ")) {
                family = *l + 7;
                continue;
            }
            if (**l == '#')
                continue;
            if (strncmp(*l, family, strcspn(family, " ")) != 0)
                fail_msg("sample \"%s\" outside its family (last TYPE: %s)", *l, family);
        }
        g_strfreev(lines);
    }
    g_string_free(out, TRUE);
}

static void
page(GString *out)
{
    g_string_append(out, "x_total 1\n");
}

static void
test_answer(void **state)
{
    static const struct { const char *name, *req; int code; int body; } cases[] = {
        { "GET 1.1", "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, 1 },
        { "GET 1.0", "GET /metrics HTTP/1.0\r\n\r\n", 200, 1 },
        { "GET bare LF", "GET /metrics HTTP/1.1\n\n", 200, 1 },
        { "GET query", "GET /metrics?name[]=x HTTP/1.1\r\n\r\n", 200, 1 },
        { "HEAD", "HEAD /metrics HTTP/1.1\r\n\r\n", 200, 0 },
        { "root", "GET / HTTP/1.1\r\n\r\n", 404, 0 },
        { "prefix", "GET /metricsx HTTP/1.1\r\n\r\n", 404, 0 },
        { "POST", "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405, 0 },
        { "PUT", "PUT /metrics HTTP/1.1\r\n\r\n", 405, 0 },
        { "lower-case method", "get /metrics HTTP/1.1\r\n\r\n", 400, 0 },
        { "HTTP/2.0", "GET /metrics HTTP/2.0\r\n\r\n", 400, 0 },
        { "HTTP/0.9", "GET /metrics\r\n\r\n", 400, 0 },
        { "garbage", "garbage\r\n\r\n", 400, 0 },
        { "extra field", "GET /metrics HTTP/1.1 x\r\n\r\n", 400, 0 },
        { "empty target", "GET  HTTP/1.1\r\n\r\n", 400, 0 },
        { "no line end", "GET /metrics HTTP/1.1", 400, 0 },
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        GString *out = g_string_new("");
        int code = httpd_answer(cases[i].req, strlen(cases[i].req), page, out);
        char status[32];

        snprintf(status, sizeof(status), "HTTP/1.1 %d ", cases[i].code);
        if (code != cases[i].code || !g_str_has_prefix(out->str, status))
            fail_msg("%s: got %d (%.20s), want %d", cases[i].name, code, out->str,
                     cases[i].code);
        if ((strstr(out->str, "\r\n\r\nx_total 1\n") != NULL) != cases[i].body)
            fail_msg("%s: got %s page, want %s", cases[i].name,
                     cases[i].body ? "no" : "a", cases[i].body ? "the page" : "none");
        if (cases[i].code == 405 && strstr(out->str, "\r\nAllow: GET, HEAD\r\n") == NULL)
            fail_msg("%s: 405 without an Allow header", cases[i].name);
        if (cases[i].code == 200 && strstr(out->str, "Content-Type: text/plain; version=0.0.4")
            == NULL)
            fail_msg("%s: got no exposition content type", cases[i].name);
        g_string_free(out, TRUE);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_answer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
