/*
 * store_conf_scans.c - the conformance suite's count of scan records: the
 * overview's scan_records (what `stats` prints as the records kept) against a
 * count of the rows themselves after every kind of change to them: a message
 * scanned again, the same message twice in one batch, a batch that fails,
 * another host's writes (sequential and at once), expiry, and `store copy`
 * out of the backend under test into SQLite and back (with and without
 * STORE_COPY_FORCE).  PostgreSQL keeps the count per user (users.scans,
 * store_pg_scans.c) and SQLite counts its rows, so the same checks hold on
 * both; store check must agree each time.
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "store.h"
#include "store_copy.h"
#include "store_conf.h"

#define RACE_RECORDS 150

static struct store *
open_db(const char *db, unsigned flags)
{
    struct store *s;
    char err[512];

    if (store_open(db, flags, NULL, &s, err, sizeof(err)) != STORE_OK)
        fail_msg("open %s: %s", db, err);
    return s;
}

/* store_copy_counts' index of the scans table. */
static int
scans_table(void)
{
    for (int i = 0; i < STORE_COPY_TABLES; i++)
        if (strcmp(store_copy_table_name(i), "scans") == 0)
            return i;
    fail_msg("store_copy_table_name: no scans table");
    return -1;
}

/* The overview's count of scan records, the rows counted one by one (the
 * store compared with itself through a second, read-only handle:
 * store_copy_compare counts every table's rows), and want: all three equal,
 * and store check passes. */
static void
scans_agree(struct store *s, const char *db, uint64_t want, const char *when)
{
    struct store_copy_counts n;
    struct store_overview o;
    struct store *other = open_db(db, STORE_RDONLY);
    char diff[512];

    if (store_overview(s, 0, &o) != STORE_OK)
        fail_msg("%s: overview: %s", when, store_errmsg(s));
    if (store_copy_compare(s, other, &n, diff, sizeof(diff)) != STORE_OK)
        fail_msg("%s: counting the rows: %s", when, diff);
    if (o.scan_records != want || n.rows[scans_table()] != want)
        fail_msg("%s: overview got %llu scan records, rows %llu, want %llu", when,
                 (unsigned long long)o.scan_records,
                 (unsigned long long)n.rows[scans_table()], (unsigned long long)want);
    if (store_check(s) != STORE_OK)
        fail_msg("%s: store check: %s", when, store_errmsg(s));
    store_close(other);
}

static void
scan(struct store *s, const char *user, uint32_t k, int64_t at)
{
    uint8_t d[STORE_DIGEST_LEN];

    conf_digest_of(k, d);
    if (store_scan_record(s, user, d, 0.4f, STORE_V_PASS, 1.0, at) != STORE_OK)
        fail_msg("scan %s %u: %s", user, k, store_errmsg(s));
}

struct race {
    const char *db;
    int64_t at;
    int rc;
};

/* One host of two recording messages 0..RACE_RECORDS-1 for r@x, one a
 * transaction, while the other records the same ones. */
static void *
race_host(void *arg)
{
    struct race *r = arg;
    struct store *s = NULL;
    uint8_t d[STORE_DIGEST_LEN];
    char err[512];

    r->rc = store_open(r->db, 0, NULL, &s, err, sizeof(err));
    for (uint32_t k = 0; r->rc == STORE_OK && k < RACE_RECORDS; k++) {
        conf_digest_of(1000 + k, d);
        /* a deadlock with the other host fails one of the two as busy */
        for (int tries = 0; tries < 5; tries++)
            if ((r->rc = store_scan_record(s, "r@x", d, 0.3f, STORE_V_PASS, 1.0, r->at)) !=
                STORE_BUSY)
                break;
    }
    if (s != NULL)
        store_close(s);
    return NULL;
}

void
test_scan_count(void **state)
{
    struct conf *c = *state;
    struct store *other, *ref, *back;
    struct store_op ops[3];
    char refdb[600], backdb[600], err[512];
    int64_t now = (int64_t)time(NULL);
    uint32_t bad[2] = { 9, 1 };
    pthread_t th[2];
    struct race r[2];

    /* New records, one scanned again, another user's copy of one, one
     * without a digest (no record). */
    for (uint32_t k = 1; k <= 5; k++)
        scan(c->s, "a@x", k, now);
    scan(c->s, "a@x", 1, now + 1);
    scan(c->s, "b@x", 1, now + 1);
    assert_int_equal(store_scan_record(c->s, "b@x", NULL, 0, STORE_V_SKIPPED, 0, now + 1),
                     STORE_OK);
    scans_agree(c->s, c->db, 6, "after a scan again");
    /* One batch: message 6 twice for a@x (inserted, then updated in the
     * same transaction) and message 7 for b@x. */
    memset(ops, 0, sizeof(ops));
    for (int i = 0; i < 3; i++) {
        ops[i] = (struct store_op){ .kind = STORE_OP_SCAN, .user = i < 2 ? "a@x" : "b@x",
                                    .score = 0.6f, .verdict = STORE_V_PASS, .ms = 1 };
        conf_digest_of(i < 2 ? 6 : 7, ops[i].digest);
    }
    assert_int_equal(store_apply(c->s, ops, 3), STORE_OK);
    scans_agree(c->s, c->db, 8, "after a batch with a message twice");
    /* A batch that fails leaves neither the record nor its count. */
    conf_digest_of(8, ops[0].digest);
    ops[1] = (struct store_op){ .kind = STORE_OP_OFFER, .user = "a@x", .ids = bad, .n = 2 };
    assert_int_equal(store_apply(c->s, ops, 2), STORE_ERR);
    scans_agree(c->s, c->db, 8, "after a failed batch");
    /* Another host: a message this one recorded, and a new one. */
    other = open_db(c->db, 0);
    scan(other, "a@x", 2, now + 2);
    scan(other, "b@x", 8, now + 2);
    store_close(other);
    scans_agree(c->s, c->db, 9, "after another host's");
    /* Two hosts recording the same new messages at once: each is one record. */
    for (int i = 0; i < 2; i++) {
        r[i] = (struct race){ .db = c->db, .at = now + 3 };
        assert_int_equal(pthread_create(&th[i], NULL, race_host, &r[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (r[i].rc != STORE_OK)
            fail_msg("host %d recording at once: got %d, want STORE_OK", i, r[i].rc);
    }
    scans_agree(c->s, c->db, 9 + RACE_RECORDS, "after two hosts at once");
    /* Two records from 31 days ago; a new connection's first record expires
     * them (store_scan.c: once an hour of record time per connection). */
    scan(c->s, "a@x", 9, now - 31 * 86400);
    scan(c->s, "b@x", 10, now - 31 * 86400);
    scans_agree(c->s, c->db, 11 + RACE_RECORDS, "before expiry");
    store_close(c->s);
    c->s = open_db(c->db, 0);
    scan(c->s, "b@x", 11, now + 3600);
    scans_agree(c->s, c->db, 10 + RACE_RECORDS, "after expiry");

    /* Out into SQLite, back into a new store of the backend under test. */
    conf_open_fresh(1, refdb, sizeof(refdb), &ref);
    if (store_copy(c->s, ref, STORE_COPY_VERIFY, NULL, NULL, NULL, err, sizeof(err)) !=
        STORE_OK)
        fail_msg("copy into SQLite: %s", err);
    scans_agree(ref, refdb, 10 + RACE_RECORDS, "in the copy in SQLite");
    conf_open_fresh(0, backdb, sizeof(backdb), &back);
    if (store_copy(ref, back, STORE_COPY_VERIFY, NULL, NULL, NULL, err, sizeof(err)) !=
        STORE_OK)
        fail_msg("copy back: %s", err);
    scans_agree(back, backdb, 10 + RACE_RECORDS, "in the copy back");
    /* The copy's count goes on from there: a new record, one scanned again,
     * and expiry. */
    scan(back, "a@x", 12, now + 3601);
    scan(back, "a@x", 1, now + 3601);
    scan(back, "b@x", 13, now - 31 * 86400);
    scans_agree(back, backdb, 12 + RACE_RECORDS, "after writes to the copy");
    store_close(back);
    back = open_db(backdb, 0);
    scan(back, "b@x", 14, now + 3602);
    scans_agree(back, backdb, 12 + RACE_RECORDS, "after expiry in the copy");
    /* A forced copy over it replaces its rows and their count. */
    if (store_copy(ref, back, STORE_COPY_FORCE | STORE_COPY_VERIFY, NULL, NULL, NULL, err,
                   sizeof(err)) != STORE_OK)
        fail_msg("forced copy: %s", err);
    scans_agree(back, backdb, 10 + RACE_RECORDS, "after a forced copy");
    store_close(back);
    store_close(ref);
}
