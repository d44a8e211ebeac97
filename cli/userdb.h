/*
 * userdb.h - what the per-user commands (learn, adapt) share: opening the store
 * named by --db with a clear message and exit code, the user key from --user
 * (normalised exactly as the milter derives it from a recipient), and the exit
 * code of a failed store operation.
 */
#ifndef SPAMSHIFT_USERDB_H
#define SPAMSHIFT_USERDB_H

#include "store.h"

/* Open path with store flags, waiting up to busy_ms for another process's lock
 * (< 0: the store's default); on failure logs "cmd: reason" and returns the exit
 * code (73 when creating, 66 when it must exist, 75 when locked past busy_ms,
 * 78 for a version refusal, 77 when the database refuses this role, 64 for a string with a password: store_db_password),
 * else 0 and *s. */
/* 0, or after logging why EX_USAGE when db carries a password (a command
 * line is public: store_db_password). */
int userdb_no_password(const char *cmd, const char *db);

int userdb_open(const char *cmd, const char *path, unsigned flags, int busy_ms,
                struct store **s);

/* The user key of an address ("Bob+x@Example.ORG" -> "bob@example.org"), a new
 * string (g_free); NULL after logging why when user is NULL or not an address. */
char *userdb_user_key(const char *cmd, const char *user);

/* 75 (EX_TEMPFAIL) for STORE_BUSY and STORE_EDOWN, 77 (EX_NOPERM) for
 * STORE_EPERM, else 74 (EX_IOERR). */
int userdb_exit(int store_status);

#endif
