/*
 * test_senderlist.c - allow and block lists (issue 18): the store's entries and
 * generation, entry normalisation, and the decision rule of senderlist.h, each
 * case named, against a real SQLite store.
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

#include "senderlist.h"
#include "store.h"
#include "fixture.h"

struct norm_case {
    const char *name, *in, *want;       /* want NULL: refused */
};

static const struct norm_case norm_cases[] = {
    { "address lowercased", "Alice@Example.COM", "alice@example.com" },
    { "angle brackets and +detail", " <alice+news@example.com> ", "alice@example.com" },
    { "domain with @", "@Example.com", "@example.com" },
    { "bare domain", "lists.example.com", "@lists.example.com" },
    { "empty", "", NULL },
    { "empty address", "<>", NULL },
    { "no domain after @", "alice@", NULL },
    { "double dot", "alice@example..com", NULL },
    { "blank inside", "alice @example.com", NULL },
    { "leading dot", "@.example.com", NULL },
};

static void
test_normalize(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(norm_cases) / sizeof(norm_cases[0]); i++) {
        const struct norm_case *c = &norm_cases[i];
        char *got = senderlist_normalize(c->in);

        if ((got == NULL) != (c->want == NULL) || (got != NULL && strcmp(got, c->want) != 0))
            fail_msg("%s: normalize(\"%s\"): got %s, want %s", c->name, c->in,
                     got ? got : "NULL", c->want ? c->want : "NULL");
        g_free(got);
    }
}

struct fixture {
    char dir[64], db[96];
    struct store *s;
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    fx_tmpdir(f->dir, sizeof(f->dir), "test_senderlist");
    fx_store(f->dir, "s.db", NULL, f->db, sizeof(f->db), &f->s);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    fx_cleanup(f->s, NULL, f->dir);
    free(f);
    return 0;
}

static void
put(struct fixture *f, const char *scope, const char *sender, int action)
{
    int rc = store_list_set(f->s, scope, sender, action);

    if (rc != STORE_OK)
        fail_msg("store_list_set(%s, %s, %d): got %d (%s), want 0", scope, sender, action,
                 rc, store_errmsg(f->s));
}

static void
test_store_entries(void **state)
{
    struct fixture *f = *state;
    struct store_list_entry *v;
    uint64_t g0, g1, g2;
    size_t n;

    assert_int_equal(store_lists_gen(f->s, &g0), STORE_OK);
    assert_int_equal(g0, 0);
    put(f, "bob@example.org", "@spam.example", STORE_LIST_BLOCK);
    put(f, "@example.org", "news@shop.example", STORE_LIST_ALLOW);
    assert_int_equal(store_lists_gen(f->s, &g1), STORE_OK);
    if (g1 != 2)
        fail_msg("generation after two changes: got %llu, want 2", (unsigned long long)g1);
    /* Changing an entry's action is an update, not a second entry. */
    put(f, "bob@example.org", "@spam.example", STORE_LIST_ALLOW);
    assert_int_equal(store_list_all(f->s, &v, &n), STORE_OK);
    if (n != 2)
        fail_msg("entries: got %zu, want 2", n);
    /* (scope, sender) order: "@example.org" sorts before "bob@…". */
    if (strcmp(v[0].scope, "@example.org") != 0 || v[1].action != STORE_LIST_ALLOW
        || strcmp(v[1].sender, "@spam.example") != 0 || v[1].added <= 0)
        fail_msg("entries: got (%s %s %d) (%s %s %d)", v[0].scope, v[0].sender, v[0].action,
                 v[1].scope, v[1].sender, v[1].action);
    store_list_free(v, n);
    assert_int_equal(store_list_set(f->s, "bob@example.org", "@spam.example", STORE_LIST_NONE),
                     STORE_OK);
    assert_int_equal(store_list_set(f->s, "bob@example.org", "@spam.example", STORE_LIST_NONE),
                     STORE_NOTFOUND);
    assert_int_equal(store_lists_gen(f->s, &g2), STORE_OK);
    if (g2 != 4)
        fail_msg("generation after the removal (and a removal of nothing): got %llu, want 4",
                 (unsigned long long)g2);
    assert_int_equal(store_list_set(f->s, "bob@example.org", "x@y.example", 7), STORE_ERR);
    assert_int_equal(store_list_set(f->s, "", "x@y.example", STORE_LIST_ALLOW), STORE_ERR);
}

struct decide_case {
    const char *name, *user, *env, *hdr;
    int want;
    const char *want_scope, *want_sender;
};

static const struct decide_case decide_cases[] = {
    { "no entry", "zoe@example.org", "a@other.example", "a@other.example", STORE_LIST_NONE,
      NULL, NULL },
    { "user allows an address (envelope and From)", "bob@example.org",
      "friend@pals.example", "Friend <friend@pals.example>", STORE_LIST_ALLOW,
      "bob@example.org", "friend@pals.example" },
    { "a forged From alone is not allowed", "bob@example.org", "spammer@bad.example",
      "friend@pals.example", STORE_LIST_NONE, NULL, NULL },
    { "allowed From with no envelope sender (a bounce)", "bob@example.org", "<>",
      "friend@pals.example", STORE_LIST_ALLOW, "bob@example.org", "friend@pals.example" },
    { "user blocks a domain: its subdomains too", "bob@example.org", "x@mail.spam.example",
      "x@mail.spam.example", STORE_LIST_BLOCK, "bob@example.org", "@spam.example" },
    { "a blocked From behind an allowed envelope", "bob@example.org", "friend@pals.example",
      "x@spam.example", STORE_LIST_BLOCK, "bob@example.org", "@spam.example" },
    { "the address entry beats its domain's", "bob@example.org", "ok@spam.example",
      "ok@spam.example", STORE_LIST_ALLOW, "bob@example.org", "ok@spam.example" },
    { "domain scope applies to the domain's users", "carol@example.org",
      "news@shop.example", "news@shop.example", STORE_LIST_ALLOW, "@example.org",
      "@shop.example" },
    { "the user's own entry beats the domain's", "bob@example.org", "news@shop.example",
      "news@shop.example", STORE_LIST_BLOCK, "bob@example.org", "news@shop.example" },
    { "another domain's users are not covered", "dan@other.org", "news@shop.example",
      "news@shop.example", STORE_LIST_NONE, NULL, NULL },
    { "sender addresses are normalised", "bob@example.org", "<Friend+x@PALS.example>",
      "FRIEND@pals.example", STORE_LIST_ALLOW, "bob@example.org", "friend@pals.example" },
    { "no sender at all", "bob@example.org", NULL, NULL, STORE_LIST_NONE, NULL, NULL },
};

static void
test_decide(void **state)
{
    struct fixture *f = *state;
    struct senderlist *l;
    struct senderlist_match m;
    uint64_t gen;
    char err[512];

    put(f, "bob@example.org", "friend@pals.example", STORE_LIST_ALLOW);
    put(f, "bob@example.org", "@spam.example", STORE_LIST_BLOCK);
    put(f, "bob@example.org", "ok@spam.example", STORE_LIST_ALLOW);
    put(f, "bob@example.org", "news@shop.example", STORE_LIST_BLOCK);
    put(f, "@example.org", "@shop.example", STORE_LIST_ALLOW);
    if ((l = senderlist_load(f->s, &gen, err, sizeof(err))) == NULL)
        fail_msg("senderlist_load: %s", err);
    if (senderlist_size(l) != 5 || gen != 5)
        fail_msg("loaded %zu entries at generation %llu, want 5 and 5", senderlist_size(l),
                 (unsigned long long)gen);
    for (size_t i = 0; i < sizeof(decide_cases) / sizeof(decide_cases[0]); i++) {
        const struct decide_case *c = &decide_cases[i];

        senderlist_decide(l, c->user, c->env, c->hdr, &m);
        if (m.action != c->want
            || (c->want_scope != NULL && (m.scope == NULL || strcmp(m.scope, c->want_scope) != 0))
            || (c->want_sender != NULL && (m.sender == NULL || strcmp(m.sender, c->want_sender) != 0)))
            fail_msg("%s: got action %d by %s %s, want %d by %s %s", c->name, m.action,
                     m.scope ? m.scope : "-", m.sender ? m.sender : "-", c->want,
                     c->want_scope ? c->want_scope : "-", c->want_sender ? c->want_sender : "-");
    }
    senderlist_decide(NULL, "bob@example.org", "friend@pals.example", NULL, &m);
    assert_int_equal(m.action, STORE_LIST_NONE);
    senderlist_free(l);
}

/* senderlist_header(): the first value, unfolded, from the header block only. */
static void
test_header(void **state)
{
    static const struct {
        const char *name, *msg, *hdr, *want;
    } cases[] = {
        { "plain", "From: a@b.example\nSubject: x\n\nbody\n", "From", "a@b.example" },
        { "case-insensitive name", "FROM: a@b.example\n\n", "from", "a@b.example" },
        { "first of two", "From: one@x.example\nFrom: two@x.example\n\n", "From",
          "one@x.example" },
        { "folded", "From: Alice\n <alice@x.example>\nTo: t\n\n", "From",
          "Alice <alice@x.example>" },
        { "CRLF", "Return-Path: <r@x.example>\r\nFrom: f\r\n\r\n", "Return-Path",
          "<r@x.example>" },
        { "not in the body", "Subject: s\n\nFrom: body@x.example\n", "From", NULL },
        { "a longer name is not it", "From-Address: a@x\n\n", "From", NULL },
        { "missing", "Subject: s\n\n", "Return-Path", NULL },
        { "no body, no blank line", "From: last@x.example", "From", "last@x.example" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = senderlist_header(cases[i].msg, strlen(cases[i].msg), cases[i].hdr);

        if ((got == NULL) != (cases[i].want == NULL)
            || (got != NULL && strcmp(got, cases[i].want) != 0))
            fail_msg("%s: got %s, want %s", cases[i].name, got ? got : "NULL",
                     cases[i].want ? cases[i].want : "NULL");
        g_free(got);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_header),
        cmocka_unit_test_setup_teardown(test_store_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decide, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
