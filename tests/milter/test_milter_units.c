/*
 * test_milter_units.c - the milter's pure parts without an MTA: config
 * parsing and validation (line numbers in messages), CIDR matching, user keys
 * and alias maps, verdicts, multi-recipient picks and header text.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <glib.h>

#include "conf.h"
#include "netlist.h"
#include "msgbuf.h"
#include "policy.h"
#include "store.h"
#include "userkey.h"

/* Write text to a fresh temporary file; returns its path (g_free). */
static char *
write_temp(const char *text)
{
    char *path = g_strdup("/tmp/spamshift-test-XXXXXX");
    int fd = g_mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* The errors joined with '\n', for messages. */
static char *
join_errors(GPtrArray *e)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < e->len; i++)
        g_string_append_printf(s, "%s%s", i ? "\n" : "", (const char *)e->pdata[i]);
    return g_string_free(s, FALSE);
}

static void
test_conf_good(void **state)
{
    char *path = write_temp(
        "# a comment\n"
        "model = /var/lib/spamshift/model.bin\n"
        "\n"
        "  socket = inet:8893@127.0.0.1  \n"
        "spam_threshold = 0.4\n"
        "quarantine_threshold = 0.8\n"
        "reject_threshold = 0.95\n"
        "reject_text = Go away # not a comment\n"
        "on_error = tempfail\n"
        "multi_recipient = split\n"
        "max_message_size = 512k\n"
        "oversize = skip\n"
        "trusted_networks = 192.0.2.0/24, 2001:db8::/32\n"
        "skip_authenticated = no\n"
        "subject_prefix = [SPAM]\n"
        "nonsmtp_daemon_names = NONSMTP,, pickup\n"
        "log_level = debug\n"
        "log_target = stderr\n"
        "database = /var/lib/spamshift/users.db\n"
        "refit_interval = 0\n"
        "sync_interval = 5\n"
        "mode = shadow\n");
    GPtrArray *e = g_ptr_array_new_with_free_func(g_free);
    struct conf *c;
    char *msg;

    (void)state;
    if (conf_load(path, &c, e) != 0) {
        msg = join_errors(e);
        fail_msg("conf_load: got errors:\n%s\nwant none", msg);
    }
    assert_string_equal(c->model, "/var/lib/spamshift/model.bin");
    assert_string_equal(c->socket, "inet:8893@127.0.0.1");
    assert_float_equal(c->spam_threshold, 0.4, 1e-6);
    assert_float_equal(c->quarantine_threshold, 0.8, 1e-6);
    assert_float_equal(c->reject_threshold, 0.95, 1e-6);
    assert_string_equal(c->reject_text, "Go away # not a comment");
    assert_int_equal(c->on_error, CONF_ON_ERROR_TEMPFAIL);
    assert_int_equal(c->multi_recipient, CONF_MULTI_SPLIT);
    assert_int_equal(c->max_message_size, 512 * 1024);
    assert_int_equal(c->oversize, CONF_OVERSIZE_SKIP);
    assert_int_equal(c->skip_authenticated, 0);
    assert_string_equal(c->subject_prefix, "[SPAM]");
    assert_int_equal(g_strv_length(c->nonsmtp_daemon_names), 2);
    assert_string_equal(c->nonsmtp_daemon_names[1], "pickup");
    assert_int_equal(c->log_target, CONF_LOG_STDERR);
    assert_string_equal(c->database, "/var/lib/spamshift/users.db");
    assert_int_equal(c->refit_interval, 0);
    assert_int_equal(c->sync_interval, 5);
    assert_int_equal(c->mode, CONF_MODE_SHADOW);
    conf_free(c);
    unlink(path);
    g_free(path);
    g_ptr_array_unref(e);
}

static void
test_conf_defaults(void **state)
{
    char *path = write_temp("model = m.bin\n");
    GPtrArray *e = g_ptr_array_new_with_free_func(g_free);
    struct conf *c;

    (void)state;
    assert_int_equal(conf_load(path, &c, e), 0);
    assert_true(c->spam_threshold == CONF_THRESHOLD_MODEL);
    assert_true(c->reject_threshold > 1 && c->quarantine_threshold > 1);
    assert_int_equal(c->on_error, CONF_ON_ERROR_ACCEPT);
    /* Issue 18: under least one recipient's teaching un-tagged spam for all. */
    assert_int_equal(c->multi_recipient, CONF_MULTI_PROTECT);
    assert_int_equal(c->mode, CONF_MODE_NORMAL);
    assert_int_equal(c->oversize, CONF_OVERSIZE_TRUNCATE);
    assert_int_equal(c->skip_authenticated, 1);
    assert_null(c->subject_prefix);
    assert_null(c->database);
    assert_int_equal(c->refit_interval, 60);
    assert_int_equal(c->sync_interval, 1);
    conf_free(c);
    unlink(path);
    g_free(path);
    g_ptr_array_unref(e);
}

/* Each bad config must fail and name the line (and key) it is about. */
static void
test_conf_bad(void **state)
{
    static const struct {
        const char *name;
        const char *text;
        const char *want;       /* substring of the joined errors */
    } cases[] = {
        { "unknown key", "model = m\nspam_treshold = 0.5\n", ":2: unknown key \"spam_treshold\"" },
        { "no equals", "model = m\njust words\n", ":2: want \"key = value\"" },
        { "threshold range", "model = m\nspam_threshold = 1.5\n", ":2: spam_threshold = 1.5" },
        { "threshold junk", "model = m\nreject_threshold = high\n", ":2: reject_threshold" },
        { "duplicate", "model = m\non_error = accept\non_error = tempfail\n",
          ":3: on_error: duplicate key (first set on line 2)" },
        { "enum", "model = m\nmulti_recipient = all\n", ":2: multi_recipient = all: want protect, least" },
        { "run mode", "model = m\nmode = dry\n", ":2: mode = dry: want normal or shadow" },
        { "size", "model = m\nmax_message_size = 10X\n", ":2: max_message_size" },
        { "size too small", "model = m\nmax_message_size = 10\n", ":2: max_message_size" },
        { "bool", "model = m\nskip_authenticated = perhaps\n", ":2: skip_authenticated" },
        { "cidr", "model = m\ntrusted_networks = 10.0.0.0/33\n", "\"10.0.0.0/33\" is not" },
        { "cidr v6", "model = m\ntrusted_networks = ::1/129\n", "\"::1/129\" is not" },
        { "socket", "model = m\nsocket = /tmp/x.sock\n", ":2: socket = /tmp/x.sock" },
        { "mode", "model = m\nsocket_mode = 999\n", ":2: socket_mode" },
        { "log level", "model = m\nlog_level = loud\n", ":2: log_level" },
        { "refit interval", "model = m\nrefit_interval = -5\n", ":2: refit_interval = -5" },
        { "sync interval 0", "model = m\nsync_interval = 0\n", ":2: sync_interval = 0" },
        { "sync interval big", "model = m\nsync_interval = 3601\n", ":2: sync_interval = 3601" },
        { "reject text", "model = m\nreject_text = 100%\n", ":2: reject_text" },
        { "missing model", "on_error = accept\n", "model: required key is missing" },
        { "order", "model = m\nspam_threshold = 0.9\nreject_threshold = 0.5\n",
          ":3: reject_threshold 0.5 is below spam_threshold 0.9" },
        { "order q/r", "model = m\nquarantine_threshold = 0.9\nreject_threshold = 0.8\n",
          ":3: reject_threshold 0.8 is below quarantine_threshold 0.9" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *path = write_temp(cases[i].text);
        GPtrArray *e = g_ptr_array_new_with_free_func(g_free);
        struct conf *c = (struct conf *)1;
        char *all;
        int rc = conf_load(path, &c, e);

        all = join_errors(e);
        if (rc != -1 || c != NULL)
            fail_msg("%s: conf_load got rc %d, want -1 and NULL", cases[i].name, rc);
        if (strstr(all, cases[i].want) == NULL)
            fail_msg("%s: got errors \"%s\", want one containing \"%s\"", cases[i].name,
                     all, cases[i].want);
        /* The same text from memory: the same errors. */
        {
            GPtrArray *e2 = g_ptr_array_new_with_free_func(g_free);
            char *all2;

            c = (struct conf *)1;
            rc = conf_load_buffer(path, cases[i].text, strlen(cases[i].text), &c, e2);
            all2 = join_errors(e2);
            if (rc != -1 || c != NULL)
                fail_msg("%s: conf_load_buffer got rc %d, want -1 and NULL", cases[i].name,
                         rc);
            if (strcmp(all2, all) != 0)
                fail_msg("%s: conf_load_buffer got errors \"%s\", want \"%s\"",
                         cases[i].name, all2, all);
            g_free(all2);
            g_ptr_array_unref(e2);
        }
        g_free(all);
        unlink(path);
        g_free(path);
        g_ptr_array_unref(e);
    }
}

/* All bad lines are reported, not just the first. */
static void
test_conf_all_errors(void **state)
{
    char *path = write_temp("model = m\nfoo = 1\non_error = maybe\nbar\n");
    GPtrArray *e = g_ptr_array_new_with_free_func(g_free);
    struct conf *c;

    (void)state;
    assert_int_equal(conf_load(path, &c, e), -1);
    if (e->len != 3)
        fail_msg("got %u errors, want 3 (lines 2, 3, 4)", e->len);
    conf_free(c);
    unlink(path);
    g_free(path);
    g_ptr_array_unref(e);
}

/* conf_load_buffer() reads exactly len bytes: no NUL needed, nothing beyond. */
static void
test_conf_buffer(void **state)
{
    static const char text[] = "model = m.bin\nfoo = 1";
    GPtrArray *e = g_ptr_array_new_with_free_func(g_free);
    struct conf *c = NULL;

    (void)state;
    assert_int_equal(conf_load_buffer("mem", text, strlen("model = m.bin"), &c, e), 0);
    assert_string_equal(c->model, "m.bin");
    assert_string_equal(c->path, "mem");
    c = conf_free(c);
    assert_int_equal(conf_load_buffer("mem", text, sizeof(text) - 1, &c, e), -1);
    assert_null(c);
    assert_int_equal(e->len, 1);
    assert_string_equal(e->pdata[0], "mem:2: unknown key \"foo\"");
    g_ptr_array_set_size(e, 0);
    assert_int_equal(conf_load_buffer("mem", text, 0, &c, e), -1);
    assert_int_equal(e->len, 1);
    assert_string_equal(e->pdata[0], "mem: model: required key is missing");
    g_ptr_array_unref(e);
}

static void
test_conf_missing_file(void **state)
{
    GPtrArray *e = g_ptr_array_new_with_free_func(g_free);
    struct conf *c;

    (void)state;
    assert_int_equal(conf_load("/nonexistent/spamshift.conf", &c, e), -1);
    assert_int_equal(e->len, 1);
    assert_non_null(strstr(e->pdata[0], "cannot open"));
    g_ptr_array_unref(e);
}

static void
test_sizes(void **state)
{
    static const struct { const char *in; int rc; size_t want; } cases[] = {
        { "1024", 0, 1024 }, { "4k", 0, 4096 }, { "2M", 0, 2097152 }, { "1G", 0, 1073741824 },
        { "", -1, 0 }, { "-1", -1, 0 }, { "1kb", -1, 0 }, { "k", -1, 0 },
        { "99999999999999999999", -1, 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t got = 0;
        int rc = conf_parse_size(cases[i].in, &got);

        if (rc != cases[i].rc || (rc == 0 && got != cases[i].want))
            fail_msg("conf_parse_size(\"%s\"): got rc %d value %zu, want rc %d value %zu",
                     cases[i].in, rc, got, cases[i].rc, cases[i].want);
    }
}

static void
test_netlist(void **state)
{
    static const struct { const char *addr; int want; } cases[] = {
        { "192.0.2.1", 1 }, { "192.0.2.255", 1 }, { "192.0.3.1", 0 },
        { "10.1.2.3", 1 }, { "10.1.2.4", 0 },
        { "2001:db8::1", 1 }, { "2001:db9::1", 0 },
        { "::ffff:192.0.2.7", 1 },      /* v4-mapped matches the v4 entry */
        { "::1", 1 }, { "::2", 0 },
        { "127.0.0.1", 0 }, { "not an address", 0 },
    };
    char err[256];
    struct netlist *nl = netlist_parse("192.0.2.0/24,10.1.2.3 2001:db8::/32 ::1", err,
                                       sizeof(err));

    (void)state;
    assert_non_null(nl);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = netlist_match_text(nl, cases[i].addr);

        if (got != cases[i].want)
            fail_msg("netlist_match(%s): got %d, want %d", cases[i].addr, got, cases[i].want);
    }
    netlist_free(nl);

    /* /0 matches everything of its family; an empty list nothing. */
    nl = netlist_parse("0.0.0.0/0", err, sizeof(err));
    assert_int_equal(netlist_match_text(nl, "203.0.113.9"), 1);
    assert_int_equal(netlist_match_text(nl, "2001:db8::1"), 0);
    netlist_free(nl);
    nl = netlist_parse("", err, sizeof(err));
    assert_non_null(nl);
    assert_int_equal(netlist_match_text(nl, "127.0.0.1"), 0);
    netlist_free(nl);
    assert_null(netlist_parse("10.0.0.0/8 bogus", err, sizeof(err)));
    assert_non_null(strstr(err, "\"bogus\""));
}

static void
test_userkey(void **state)
{
    static const struct { const char *in; const char *want; } cases[] = {
        { "<Bob@Example.ORG>", "bob@example.org" },
        { "bob+lists@example.org", "bob@example.org" },
        { "<bob+a+b@example.org>", "bob@example.org" },
        { "+only@example.org", "+only@example.org" },
        { " <Alice@Example.org> ", "alice@example.org" },
        { "postmaster", "postmaster" },
        { "user+detail", "user" },
        { "<Émile@Exemple.fr>", "émile@exemple.fr" },
        { "<>", NULL },
        { "", NULL },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = userkey_normalize(cases[i].in);

        if (g_strcmp0(got, cases[i].want) != 0)
            fail_msg("userkey_normalize(\"%s\"): got \"%s\", want \"%s\"", cases[i].in,
                     got ? got : "(null)", cases[i].want ? cases[i].want : "(null)");
        g_free(got);
    }
}

static void
test_alias_map(void **state)
{
    char *path = write_temp("# aliases\nRobert@example.org   bob@example.org\n"
                            "sales@example.org\tcarol+work@Example.org\n");
    GPtrArray *e = g_ptr_array_new_with_free_func(g_free);
    GHashTable *t = userkey_alias_load(path, e);
    static const struct { const char *rcpt; const char *want; } cases[] = {
        { "<robert+x@EXAMPLE.org>", "bob@example.org" },
        { "sales@example.org", "carol@example.org" },
        { "dave@example.org", "dave@example.org" },
    };

    (void)state;
    assert_non_null(t);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = userkey_from_rcpt(cases[i].rcpt, t);

        if (g_strcmp0(got, cases[i].want) != 0)
            fail_msg("userkey_from_rcpt(\"%s\"): got \"%s\", want \"%s\"", cases[i].rcpt,
                     got ? got : "(null)", cases[i].want);
        g_free(got);
    }
    g_hash_table_unref(t);
    unlink(path);
    g_free(path);

    path = write_temp("a@x b@x\nonly-one-field\nc@x d@x\nA@x e@x\n");
    assert_null(userkey_alias_load(path, e));
    {
        char *all = join_errors(e);
        if (strstr(all, ":2: want \"address user\"") == NULL || strstr(all, ":4: a@x: duplicate")
            == NULL)
            fail_msg("got errors \"%s\", want line 2 (fields) and line 4 (duplicate)", all);
        g_free(all);
    }
    unlink(path);
    g_free(path);
    g_ptr_array_unref(e);
}

static void
test_verdicts(void **state)
{
    static const struct thresholds all = { 0.5f, 0.8f, 0.95f };
    static const struct thresholds tag_only = { 0.5f, CONF_THRESHOLD_OFF, CONF_THRESHOLD_OFF };
    static const struct {
        const char *name;
        const struct thresholds *t;
        float score;
        enum verdict want;
    } cases[] = {
        { "below", &all, 0.49f, VERDICT_HAM },
        { "at spam threshold tags", &all, 0.5f, VERDICT_TAG },
        { "between", &all, 0.79f, VERDICT_TAG },
        { "at quarantine", &all, 0.8f, VERDICT_QUARANTINE },
        { "at reject", &all, 0.95f, VERDICT_REJECT },
        { "max", &all, 1.0f, VERDICT_REJECT },
        { "off actions never fire", &tag_only, 1.0f, VERDICT_TAG },
        { "zero", &tag_only, 0.0f, VERDICT_HAM },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum verdict got = policy_verdict(cases[i].score, cases[i].t);

        if (got != cases[i].want)
            fail_msg("%s: policy_verdict(%g): got %s, want %s", cases[i].name,
                     (double)cases[i].score, policy_verdict_name(got),
                     policy_verdict_name(cases[i].want));
    }
}

/* An allow or block list entry over a recipient's own verdict. */
static void
test_listed(void **state)
{
    static const struct thresholds all = { 0.5f, 0.8f, 0.95f };
    static const struct thresholds tag_only = { 0.5f, CONF_THRESHOLD_OFF, CONF_THRESHOLD_OFF };
    static const struct {
        const char *name;
        int action;
        enum verdict v;
        const struct thresholds *t;
        enum verdict want;
    } cases[] = {
        { "no entry keeps a tag", STORE_LIST_NONE, VERDICT_TAG, &all, VERDICT_TAG },
        { "no entry keeps ham", STORE_LIST_NONE, VERDICT_HAM, &all, VERDICT_HAM },
        { "allow clears a reject", STORE_LIST_ALLOW, VERDICT_REJECT, &all, VERDICT_HAM },
        { "allow keeps ham", STORE_LIST_ALLOW, VERDICT_HAM, &all, VERDICT_HAM },
        { "block rejects where reject is on", STORE_LIST_BLOCK, VERDICT_HAM, &all,
          VERDICT_REJECT },
        { "block only tags where tag is all", STORE_LIST_BLOCK, VERDICT_HAM, &tag_only,
          VERDICT_TAG },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum verdict got = policy_listed(cases[i].action, cases[i].v, cases[i].t);

        if (got != cases[i].want)
            fail_msg("%s: got %s, want %s", cases[i].name, policy_verdict_name(got),
                     policy_verdict_name(cases[i].want));
    }
}

/* The capped buffer: bytes past the cap counted, not kept; CRLF to LF, a lone
 * CR kept. */
static void
test_msgbuf(void **state)
{
    struct msgbuf b = { .cap = 8 };

    (void)state;
    msgbuf_append(&b, "ab\r\n", 4);
    msgbuf_append(&b, "c\rd\r", 4);
    if (b.len != 8 || b.total != 8 || b.oversize)
        fail_msg("at the cap: got len %zu total %zu oversize %d, want 8 8 0", b.len, b.total,
                 b.oversize);
    msgbuf_append(&b, "\nxyz", 4);
    if (b.len != 8 || b.total != 12 || !b.oversize)
        fail_msg("past the cap: got len %zu total %zu oversize %d, want 8 12 1", b.len,
                 b.total, b.oversize);
    msgbuf_to_lf(&b);
    if (b.len != 7 || memcmp(b.buf, "ab\nc\rd\r", 7) != 0)
        fail_msg("to LF: got %zu bytes \"%.*s\", want \"ab\\nc\\rd\\r\"", b.len, (int)b.len,
                 (const char *)b.buf);
    msgbuf_release(&b);
    if (b.buf != NULL || b.len != 0)
        fail_msg("released: got buf %p len %zu, want NULL 0", (void *)b.buf, b.len);
}

/* Recipients' verdicts -> the message's, for each policy; the index is whose
 * score the headers show. */
static void
test_combine(void **state)
{
    const enum verdict H = VERDICT_HAM, T = VERDICT_TAG, Q = VERDICT_QUARANTINE, R = VERDICT_REJECT;
    static const struct {
        const char *name;
        enum conf_multi m;
        size_t n;
        enum verdict v[4];
        float s[4];
        enum verdict want;
        size_t want_pick;
    } cases[] = {
        { "least: ham, the lower ham score", CONF_MULTI_LEAST, 4, { T, H, R, H },
          { 0.6f, 0.2f, 0.99f, 0.1f }, H, 3 },
        { "split as least", CONF_MULTI_SPLIT, 4, { T, H, R, H }, { 0.6f, 0.2f, 0.99f, 0.1f },
          H, 3 },
        { "strictest: reject", CONF_MULTI_STRICTEST, 4, { T, H, R, H },
          { 0.6f, 0.2f, 0.99f, 0.1f }, R, 2 },
        { "one recipient", CONF_MULTI_STRICTEST, 1, { T }, { 0.6f }, T, 0 },
        /* protect: one recipient's ham never un-tags another's spam ... */
        { "protect: ham + tag tags", CONF_MULTI_PROTECT, 2, { H, T }, { 0.1f, 0.6f }, T, 1 },
        /* ... nor does one recipient's reject refuse the others' mail */
        { "protect: ham + reject tags", CONF_MULTI_PROTECT, 3, { T, H, R },
          { 0.6f, 0.2f, 0.99f }, T, 2 },
        { "protect: all reject", CONF_MULTI_PROTECT, 2, { R, R }, { 0.97f, 0.99f }, R, 1 },
        { "protect: reject + quarantine holds", CONF_MULTI_PROTECT, 2, { R, Q },
          { 0.99f, 0.9f }, Q, 0 },
        { "protect: tag + quarantine tags", CONF_MULTI_PROTECT, 2, { T, Q }, { 0.6f, 0.9f },
          T, 1 },
        { "protect: all ham", CONF_MULTI_PROTECT, 2, { H, H }, { 0.1f, 0.3f }, H, 1 },
        { "protect: one recipient", CONF_MULTI_PROTECT, 1, { R }, { 0.99f }, R, 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum verdict got = (enum verdict)-1;
        size_t pick = policy_combine(cases[i].v, cases[i].s, cases[i].n, cases[i].m, &got);

        if (got != cases[i].want || pick != cases[i].want_pick)
            fail_msg("%s: got %s from recipient %zu, want %s from %zu", cases[i].name,
                     policy_verdict_name(got), pick, policy_verdict_name(cases[i].want),
                     cases[i].want_pick);
    }
}

static void
test_shadow(void **state)
{
    static const struct { enum verdict v, want; } cases[] = {
        { VERDICT_HAM, VERDICT_HAM }, { VERDICT_TAG, VERDICT_TAG },
        { VERDICT_QUARANTINE, VERDICT_TAG }, { VERDICT_REJECT, VERDICT_TAG },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (policy_shadow(cases[i].v) != cases[i].want)
            fail_msg("policy_shadow(%s): got %s, want %s", policy_verdict_name(cases[i].v),
                     policy_verdict_name(policy_shadow(cases[i].v)),
                     policy_verdict_name(cases[i].want));
}

static void
test_headers(void **state)
{
    char *h;

    (void)state;
    h = policy_status_header(VERDICT_TAG, 0.987654f, 0.5f);
    assert_string_equal(h, "Yes, score=0.987654 required=0.500000");
    g_free(h);
    h = policy_status_header(VERDICT_HAM, 0.0123f, 0.5f);
    assert_string_equal(h, "No, score=0.012300 required=0.500000");
    g_free(h);
    /* Issue 18: it named the recipient, and the MTA gives every copy the same
     * headers (one per recipient: each copy listed all, Bcc included). */
    h = policy_result_header(0.25f, VERDICT_HAM, VERDICT_HAM);
    assert_string_equal(h, "score=0.250000; verdict=ham");
    g_free(h);
    h = policy_result_header(0.99f, VERDICT_TAG, VERDICT_REJECT);
    assert_string_equal(h, "score=0.990000; verdict=tag; would=reject");
    g_free(h);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_good),
        cmocka_unit_test(test_conf_defaults),
        cmocka_unit_test(test_conf_bad),
        cmocka_unit_test(test_conf_all_errors),
        cmocka_unit_test(test_conf_buffer),
        cmocka_unit_test(test_conf_missing_file),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_netlist),
        cmocka_unit_test(test_userkey),
        cmocka_unit_test(test_alias_map),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_combine),
        cmocka_unit_test(test_listed),
        cmocka_unit_test(test_msgbuf),
        cmocka_unit_test(test_shadow),
        cmocka_unit_test(test_headers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
