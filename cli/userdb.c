/*
 * userdb.c - shared pieces of the per-user commands; see userdb.h.
 */
#include "config.h"

#include <glib.h>
#include <sysexits.h>

#include "log.h"
#include "userkey.h"
#include "store.h"
#include "userdb.h"

int
userdb_no_password(const char *cmd, const char *db)
{
    /* Never echo the string: it holds the password. */
    if (store_db_password(db)) {
        log_err("%s: a password in the database string is refused (every user of "
                "this host sees a command line in ps): %s", cmd, STORE_PASSWORD_HELP);
        return EX_USAGE;
    }
    return 0;
}

int
userdb_open(const char *cmd, const char *path, unsigned flags, int busy_ms,
            struct store **s)
{
    struct store_opts o;
    char err[512];
    int rc;

    if ((rc = userdb_no_password(cmd, path)) != 0)
        return rc;
    store_opts_default(&o);
    if (busy_ms >= 0)
        o.busy_ms = (unsigned)busy_ms;
    if ((rc = store_open_graded(path, flags, &o, s, err, sizeof(err))) != STORE_OK) {
        log_err("%s: %s", cmd, err);
        if (rc == STORE_BUSY || rc == STORE_EDOWN)
            return EX_TEMPFAIL;
        if (rc == STORE_EVERSION)
            return EX_CONFIG;
        if (rc == STORE_EPERM)
            return EX_NOPERM;
        return (flags & STORE_CREATE) ? EX_CANTCREAT : EX_NOINPUT;
    }
    return 0;
}

char *
userdb_user_key(const char *cmd, const char *user)
{
    char *key;

    if (user == NULL) {
        log_err("%s: no user: use --user ADDRESS", cmd);
        return NULL;
    }
    if ((key = userkey_normalize(user)) == NULL || *key == '\0') {
        log_err("%s: --user \"%s\" is not an address", cmd, user);
        g_free(key);
        return NULL;
    }
    return key;
}

int
userdb_exit(int store_status)
{
    if (store_status == STORE_EPERM)
        return EX_NOPERM;
    return store_status == STORE_BUSY || store_status == STORE_EDOWN ? EX_TEMPFAIL
                                                                     : EX_IOERR;
}
