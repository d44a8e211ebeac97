/*
 * test_log.c - common/log.c: a message is never cut.  A line longer than
 * LOG_LINE_MAX goes out as "[i/n] " pieces, each with the queue id, each at most
 * LOG_LINE_MAX bytes of text, cut after a space or comma (or at a UTF-8
 * character boundary), and the pieces joined give the message back.
 *
 * Pins issue 18, finding 8a: lines were cut at 2,048 bytes, so a verdict line
 * for ~25 recipients lost its verdict=, size= and scan_ms= fields.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "log.h"

#ifndef LOG_LINE_MAX           /* before the fix: to show the test fails */
#define LOG_LINE_MAX 1900
#endif

/* Log msg at info with queue id qid to stderr redirected to a file; return
 * what was written (g_free). */
static char *
capture(const char *qid, const char *msg)
{
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    char *out;
    long len;

    assert_non_null(tmp);
    fflush(stderr);
    assert_true(dup2(fileno(tmp), STDERR_FILENO) >= 0);
    log_open("t", LOG_TARGET_STDERR, LOG_MAIL);
    log_write(LOG_INFO, qid, "%s", msg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    len = ftell(tmp);
    rewind(tmp);
    out = g_malloc0((size_t)len + 1);
    assert_int_equal(fread(out, 1, (size_t)len, tmp), (size_t)len);
    fclose(tmp);
    return out;
}

/* Undo the splitting: check each line's prefix and return the text joined. */
static char *
rejoin(const char *name, const char *out, const char *qid, size_t *lines)
{
    char **v = g_strsplit(out, "\n", -1);
    GString *s = g_string_new(NULL);
    char prefix[64];
    size_t n = 0;

    while (v[n] != NULL && v[n][0] != '\0')
        n++;
    for (size_t i = 0; i < n; i++) {
        const char *p = v[i];

        snprintf(prefix, sizeof(prefix), "t: %s: ", qid);
        if (!g_str_has_prefix(p, prefix))
            fail_msg("%s: line %zu: got \"%.40s\", want prefix \"%s\"", name, i, p, prefix);
        p += strlen(prefix);
        if (n > 1) {
            snprintf(prefix, sizeof(prefix), "[%zu/%zu] ", i + 1, n);
            if (!g_str_has_prefix(p, prefix))
                fail_msg("%s: line %zu: got \"%.20s\", want part \"%s\"", name, i, p, prefix);
            p += strlen(prefix);
        }
        if (strlen(p) > LOG_LINE_MAX)
            fail_msg("%s: line %zu: got %zu bytes of text, want at most %d", name, i,
                     strlen(p), LOG_LINE_MAX);
        g_string_append(s, p);
    }
    g_strfreev(v);
    *lines = n;
    return g_string_free(s, FALSE);
}

/* A verdict line as filter.c writes it, for nrcpt recipients. */
static char *
verdict_line(size_t nrcpt)
{
    GString *s = g_string_new("rcpts=");

    for (size_t i = 0; i < nrcpt; i++)
        g_string_append_printf(s, "%srecipient%02zu@example.org(user=recipient%02zu@example.org "
                               "score=0.012345 pass user_model=%zu)", i ? "," : "", i, i, i + 1);
    g_string_append(s, " size=123456 verdict=pass model=0123456789abcdef scan_ms=4.321 "
                    "elapsed_ms=5.432");
    return g_string_free(s, FALSE);
}

static char *
repeat(const char *unit, size_t times)
{
    GString *s = g_string_new(NULL);

    for (size_t i = 0; i < times; i++)
        g_string_append(s, unit);
    return g_string_free(s, FALSE);
}

static void
test_lines(void **state)
{
    struct { const char *name; char *msg; size_t want_lines_min, want_lines_max; } cases[] = {
        { "short", g_strdup("rcpts=a@b(user=a@b score=0.1 pass) verdict=pass"), 1, 1 },
        { "exactly LOG_LINE_MAX", repeat("x", LOG_LINE_MAX), 1, 1 },
        { "one past LOG_LINE_MAX", repeat("x", LOG_LINE_MAX + 1), 2, 2 },
        { "25 recipients", verdict_line(25), 2, 3 },
        { "1000 recipients", verdict_line(1000), 40, 120 },
        { "no spaces at all", repeat("abcdefghij", 1000), 6, 6 },
        { "multi-byte UTF-8, no spaces", repeat("\xc3\xa9\xe2\x82\xac", 2000), 6, 7 },
    };

    (void)state;
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *out = capture("4XyZ1abc", cases[i].msg), *back;
        size_t lines;

        back = rejoin(cases[i].name, out, "4XyZ1abc", &lines);
        if (strcmp(back, cases[i].msg) != 0)
            fail_msg("%s: joined pieces differ from the message (got %zu bytes, want %zu)",
                     cases[i].name, strlen(back), strlen(cases[i].msg));
        if (lines < cases[i].want_lines_min || lines > cases[i].want_lines_max)
            fail_msg("%s: got %zu lines, want %zu to %zu", cases[i].name, lines,
                     cases[i].want_lines_min, cases[i].want_lines_max);
        if (!g_utf8_validate(out, -1, NULL))
            fail_msg("%s: a UTF-8 character was cut between lines", cases[i].name);
        g_free(out);
        g_free(back);
        g_free(cases[i].msg);
    }
}

/* The fields at the end of a long verdict line reach the log. */
static void
test_verdict_fields_kept(void **state)
{
    char *msg = verdict_line(25), *out = capture("Q1", msg);

    (void)state;
    if (strstr(out, "verdict=pass") == NULL || strstr(out, "size=123456") == NULL
        || strstr(out, "scan_ms=4.321") == NULL)
        fail_msg("25 recipients: got a log without verdict=, size= or scan_ms= (%zu bytes "
                 "logged), want all three", strlen(out));
    g_free(out);
    g_free(msg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_verdict_fields_kept),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
