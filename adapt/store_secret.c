/*
 * store_secret.c - whether a database string carries a password
 * (store_db_password() in store.h), so that the commands and the milter can
 * refuse one: a --db argument is seen by every user of the host in ps(1) and
 * /proc, and a database = line is echoed in log lines and in the
 * configuration's error messages.  Passwords belong in a password file
 * (~/.pgpass, PGPASSFILE) or a service file (PGSERVICEFILE, service=), which
 * libpq reads by itself.
 *
 * Only PostgreSQL strings have passwords: a libpq URI's user:password@ or its
 * password= query parameter, a "key=value" string's password key (values
 * quoted '...' with \ escapes, or bare up to blank space, as libpq parses
 * them).  A SQLite path never has one.
 */
#include "config.h"

#include <string.h>

#include "store.h"

/* The URI's authority (after "://", up to '/' or '?') holds user:password@,
 * or its query holds password=. */
static int
uri_password(const char *db)
{
    const char *a = strstr(db, "://") + 3;
    size_t alen = strcspn(a, "/?");
    const char *at = NULL;
    const char *q = strchr(a, '?');

    /* Several hosts may follow the '@' (host1:5432,host2): only what is
     * before the last '@' is the user. */
    for (const char *p = a; p < a + alen; p++)
        if (*p == '@')
            at = p;
    if (at != NULL && memchr(a, ':', (size_t)(at - a)) != NULL)
        return 1;
    while (q != NULL) {
        q++;
        if (strncmp(q, "password=", 9) == 0)
            return 1;
        q = strchr(q, '&');
    }
    return 0;
}

/* libpq's conninfo grammar: keyword, blanks, '=', blanks, value. */
static int
keywords_password(const char *p)
{
    while (*p != '\0') {
        const char *k;
        size_t klen;

        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' ||
               *p == '\v')
            p++;
        if (*p == '\0')
            break;
        k = p;
        while (*p != '\0' && *p != '=' && *p != ' ' && *p != '\t')
            p++;
        klen = (size_t)(p - k);
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != '=')
            return 0;           /* not a conninfo string libpq would take */
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        if (klen == 8 && strncmp(k, "password", 8) == 0)
            return 1;
        if (*p == '\'') {
            for (p++; *p != '\0' && *p != '\''; p++)
                if (*p == '\\' && p[1] != '\0')
                    p++;
            if (*p == '\'')
                p++;
        } else {
            while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n')
                p++;
        }
    }
    return 0;
}

int
store_db_password(const char *db)
{
    if (db == NULL || store_db_kind(db) != STORE_DB_POSTGRESQL)
        return 0;
    if (strstr(db, "://") != NULL && strncmp(db, "postgres", 8) == 0)
        return uri_password(db);
    return keywords_password(db);
}
