/*
 * senderlist.h - allow and block lists: what an admin or a user says about a
 * sender, decided before any model is asked.
 *
 * An entry is a sender address ("alice@example.com") or a sender domain
 * ("@example.com", which also covers its subdomains), in a scope: one user (the
 * user key) or every user of a recipient domain ("@example.org").  The store
 * keeps them (store.h, store_list_*); a struct senderlist is an immutable
 * in-memory copy that any number of threads read without a lock.
 *
 * The decision for one recipient and a message's sender addresses (the envelope
 * sender and the From header's address, either may be missing):
 *   - each address is looked up in the user's scope, then in the user's
 *     domain's scope; within a scope the address entry before its domain's,
 *     the domain's before its parent domains'; the first entry found decides
 *     that address;
 *   - the message is BLOCKED when any address is blocked, ALLOWED when every
 *     address is allowed, else neither.
 * So a forger who sets only the From header of an allowed sender is not
 * allowed through (the envelope sender must match too), and a blocked sender
 * cannot hide behind an allowed envelope.  Addresses can still be forged: see
 * doc/operator.md before allowing a whole domain.
 */
#ifndef SPAMSHIFT_SENDERLIST_H
#define SPAMSHIFT_SENDERLIST_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

struct senderlist;

struct senderlist_match {
    int action;                 /* STORE_LIST_NONE, _ALLOW or _BLOCK */
    const char *scope;          /* the deciding entry (owned by the list), or NULL */
    const char *sender;
};

/*
 * The normalised form of a sender entry or a scope typed by an admin, as the
 * milter forms user keys: "<Alice+news@Example.COM>" -> "alice@example.com";
 * "@Example.com" or "example.com" -> "@example.com".  Returns a new string
 * (g_free), or NULL when it is no address or domain.
 */
char *senderlist_normalize(const char *in);

/* Every entry of the store, as of *gen (store_lists_gen()).  Returns the list
 * (senderlist_free), or NULL with a reason in err. */
struct senderlist *senderlist_load(struct store *s, uint64_t *gen, char *err, size_t errlen);

/* Entries in the list (for logs and stats). */
size_t senderlist_size(const struct senderlist *l);

/* The decision for user (a user key) and the sender addresses (NULL or "" for
 * missing; raw addresses are normalised here).  l may be NULL (no lists). */
void senderlist_decide(const struct senderlist *l, const char *user, const char *env_from,
                       const char *hdr_from, struct senderlist_match *m);

/* The first value of header name (case-insensitive; folded lines joined) in
 * the header block of the raw message msg (LF or CRLF line ends), or NULL.
 * For a delivered copy, "Return-Path" is the envelope sender the MTA saw and
 * "From" the header the milter read: what senderlist_decide() takes.
 * Returns a new string (g_free). */
char *senderlist_header(const char *msg, size_t len, const char *name);

/* Accepts NULL; returns NULL. */
struct senderlist *senderlist_free(struct senderlist *l);

#endif
