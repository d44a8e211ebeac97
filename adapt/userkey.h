/*
 * userkey.h - from an envelope recipient to the key of the user whose model
 * scores the message: "<Bob+lists@Example.ORG>" -> "bob@example.org", then
 * through the optional alias map (alias_map in spamshift.conf(5)).
 */
#ifndef SPAMSHIFT_USERKEY_H
#define SPAMSHIFT_USERKEY_H

#include <glib.h>

/*
 * The normalised form of an address: angle brackets and surrounding blanks
 * removed, lowercased (UTF-8 aware), "+detail" removed from the local part.
 * Returns a new string (g_free), or NULL for an empty address ("<>").
 */
char *userkey_normalize(const char *rcpt);

/*
 * The user key of a recipient: the normalised address, replaced by its alias
 * when aliases (may be NULL) has one.  Returns a new string (g_free), or NULL
 * for an empty address.
 */
char *userkey_from_rcpt(const char *rcpt, GHashTable *aliases);

/*
 * Load an alias map: one "address user" pair a line (blank separated), '#'
 * comments.  Both sides are normalised.  Returns a table (g_hash_table_unref),
 * or NULL with one "path:LINE: message" per problem appended to errors.
 */
GHashTable *userkey_alias_load(const char *path, GPtrArray *errors);

#endif
