/*
 * store_conf.h - what the store conformance suite's files share
 * (test_store_conf.c: the fixtures, the helpers and the cases;
 * store_conf_same.c: the sequence compared between backends;
 * store_conf_claim.c: claims of dirty users; store_conf_scans.c: the count
 * of scan records).
 */
#ifndef SPAMSHIFT_STORE_CONF_H
#define SPAMSHIFT_STORE_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct conf {
    struct store *s;
    char db[600];
};

/* A fresh store of the backend under test (ref: a SQLite one) into *s;
 * fails the test when it cannot be opened. */
void conf_open_fresh(int ref, char *db, size_t len, struct store **s);
/* Message k's digest and its sorted unique feature ids (at most 16). */
void conf_digest_of(uint32_t k, uint8_t d[STORE_DIGEST_LEN]);
size_t conf_ids_of(uint32_t k, uint32_t *ids);
/* Offer message k to user's reservoir: whether it was kept. */
int conf_offer(struct store *s, const char *user, uint32_t k);
void conf_state_of(struct store *s, const char *user, struct store_user_state *st);

/* The case in store_conf_same.c. */
void test_same_on_both(void **state);
/* The cases in store_conf_claim.c. */
void test_claim_concurrent(void **state);
void test_claim_lease(void **state);
void test_claim_published(void **state);
/* The case in store_conf_scans.c. */
void test_scan_count(void **state);

#endif
