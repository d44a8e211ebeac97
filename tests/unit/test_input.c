/*
 * test_input.c - the CLI's message sources: directories in name order with
 * non-mail skipped, mbox splitting, TREC index files with bad lines named.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input.h"
#include "fixture.h"

static char tmpdir[256];

static void
write_file(const char *rel, const char *text)
{
    char path[512];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int
setup(void **state)
{
    char path[512];

    fx_tmpdir(tmpdir, sizeof(tmpdir), "spamshift-input");
    snprintf(path, sizeof(path), "%s/maildir", tmpdir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/maildir/cur", tmpdir);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/maildir/new", tmpdir);
    mkdir(path, 0700);
    write_file("maildir/new/2", "Subject: b\n\nbody b\n");
    write_file("maildir/cur/1", "Subject: a\n\nbody a\n");
    write_file("maildir/cur/1.json", "{\"not\": \"mail\"}\n");
    write_file("maildir/.hidden", "Subject: hidden\n\n");
    write_file("one.mbox", "From a@b Mon Jan  1 00:00:00 2024\nSubject: only\n\nFrom here on, not a separator\n");
    write_file("three.mbox",
               "From a@b Mon Jan  1 00:00:00 2024\nSubject: one\n\nbody\n\n"
               "From c@d Mon Jan  1 00:00:00 2024\nSubject: two\n\nbody\n\n"
               "From e@f Mon Jan  1 00:00:00 2024\nSubject: three\n\nlast\n");
    write_file("index", "spam maildir/cur/1\nham maildir/new/2\n\n# comment\nbogus\nmaybe one.mbox\n");
    return 0;
}

static int
teardown(void **state)
{
    return fx_rmtree(tmpdir);
}

struct seen {
    char names[8][512];
    char first_line[8][64];
    int n;
};

static int
collect_msg(void *arg, const char *name, const char *buf, size_t len)
{
    struct seen *s = arg;
    size_t l = strcspn(buf, "\n");

    if (s->n >= 8)
        return -1;
    snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
    if (l > len)
        l = len;
    snprintf(s->first_line[s->n], sizeof(s->first_line[0]), "%.*s", (int)l, buf);
    s->n++;
    return 0;
}

static void
test_directory_order_and_skips(void **state)
{
    struct input_list l = { 0 };
    char want[2][512];

    assert_int_equal(input_collect(&l, tmpdir, INPUT_LABEL_HAM), 0);
    /* index, maildir/cur/1, maildir/new/2, one.mbox, three.mbox; .json and hidden skipped */
    snprintf(want[0], sizeof(want[0]), "%s/maildir/cur/1", tmpdir);
    snprintf(want[1], sizeof(want[1]), "%s/maildir/new/2", tmpdir);
    if (l.n != 5)
        fail_msg("got %zu sources, want 5", l.n);
    if (strcmp(l.v[1].path, want[0]) != 0 || strcmp(l.v[2].path, want[1]) != 0)
        fail_msg("got order %s, %s; want %s, %s", l.v[1].path, l.v[2].path, want[0], want[1]);
    if (l.skipped != 2)
        fail_msg("got %zu skipped, want 2 (.json and hidden)", l.skipped);
    assert_int_equal(l.v[0].label, INPUT_LABEL_HAM);
    input_list_free(&l);
}

static void
test_missing_path_counted(void **state)
{
    struct input_list l = { 0 };

    assert_int_equal(input_collect(&l, "/nonexistent/spamshift/path", INPUT_LABEL_SPAM), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(l.errors, 1);
    input_list_free(&l);
}

static void
test_mbox(void **state)
{
    static const struct {
        const char *file;
        int want_n;
        const char *want_suffix;    /* of the last message's name */
        const char *want_first;     /* the last message's first line */
    } cases[] = {
        { "one.mbox", 1, "one.mbox", "From a@b Mon Jan  1 00:00:00 2024" },
        { "three.mbox", 3, "three.mbox:3", "From e@f Mon Jan  1 00:00:00 2024" },
        { "maildir/cur/1", 1, "maildir/cur/1", "Subject: a" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct input_source src;
        struct seen s = { 0 };
        char path[512];
        size_t nl, sl;

        snprintf(path, sizeof(path), "%s/%s", tmpdir, cases[i].file);
        src.path = path;
        src.label = INPUT_LABEL_NONE;
        assert_int_equal(input_read(&src, collect_msg, &s), 0);
        if (s.n != cases[i].want_n)
            fail_msg("%s: got %d messages, want %d", cases[i].file, s.n, cases[i].want_n);
        nl = strlen(s.names[s.n - 1]);
        sl = strlen(cases[i].want_suffix);
        if (nl < sl || strcmp(s.names[s.n - 1] + nl - sl, cases[i].want_suffix) != 0)
            fail_msg("%s: got name %s, want suffix %s", cases[i].file, s.names[s.n - 1],
                     cases[i].want_suffix);
        if (strcmp(s.first_line[s.n - 1], cases[i].want_first) != 0)
            fail_msg("%s: got first line \"%s\", want \"%s\"", cases[i].file,
                     s.first_line[s.n - 1], cases[i].want_first);
    }
}

static void
test_unreadable_source(void **state)
{
    struct input_source src = { "/nonexistent/spamshift/msg", INPUT_LABEL_NONE };
    struct seen s = { 0 };

    assert_int_equal(input_read(&src, collect_msg, &s), -1);
    assert_int_equal(s.n, 0);
}

/* input_read_first(), what explain and trec read one message with: the first
 * message's bytes, and a count that stops at 2. */
static void
test_read_first(void **state)
{
    static const struct {
        const char *name, *rel;
        int want_rc, want_n;
        const char *want_prefix;        /* NULL: no message */
    } cases[] = {
        { "one file", "maildir/cur/1", 0, 1, "Subject: a\n" },
        { "one-message mbox", "one.mbox", 0, 1, "From a@b" },
        { "three-message mbox", "three.mbox", 0, 2, "From a@b Mon Jan  1 00:00:00 2024\nSubject: one" },
        { "missing", "no/such/file", -1, 0, NULL },
    };

    (void) state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[512], *buf = NULL;
        struct input_source src = { path, INPUT_LABEL_NONE };
        size_t len = 0;
        int n = -1, rc;

        snprintf(path, sizeof(path), "%s/%s", tmpdir, cases[i].rel);
        rc = input_read_first(&src, &buf, &len, &n);
        if (rc != cases[i].want_rc || n != cases[i].want_n)
            fail_msg("%s: got rc %d n %d, want rc %d n %d", cases[i].name, rc, n,
                     cases[i].want_rc, cases[i].want_n);
        if (cases[i].want_prefix == NULL ? buf != NULL
                : buf == NULL || len < strlen(cases[i].want_prefix)
                  || memcmp(buf, cases[i].want_prefix, strlen(cases[i].want_prefix)) != 0)
            fail_msg("%s: got message \"%.*s\", want it to start \"%s\"", cases[i].name,
                     buf ? (int) (len < 40 ? len : 40) : 0, buf ? buf : "",
                     cases[i].want_prefix ? cases[i].want_prefix : "(none)");
        free(buf);
    }
}

static void
test_index(void **state)
{
    struct input_list l = { 0 };
    char path[512];

    snprintf(path, sizeof(path), "%s/index", tmpdir);
    assert_int_equal(input_collect_index(&l, path), 0);
    if (l.n != 2)
        fail_msg("got %zu sources, want 2", l.n);
    assert_int_equal(l.v[0].label, INPUT_LABEL_SPAM);
    assert_int_equal(l.v[1].label, INPUT_LABEL_HAM);
    snprintf(path, sizeof(path), "%s/maildir/cur/1", tmpdir);
    if (strcmp(l.v[0].path, path) != 0)
        fail_msg("got %s, want %s (relative to the index)", l.v[0].path, path);
    if (l.errors != 2)
        fail_msg("got %zu errors, want 2 (\"bogus\" and \"maybe\")", l.errors);
    input_list_free(&l);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_directory_order_and_skips),
        cmocka_unit_test(test_missing_path_counted),
        cmocka_unit_test(test_mbox),
        cmocka_unit_test(test_unreadable_source),
        cmocka_unit_test(test_read_first),
        cmocka_unit_test(test_index),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
