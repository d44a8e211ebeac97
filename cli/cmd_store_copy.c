/*
 * cmd_store_copy.c - `spamshift store copy SRC DST`: a whole store into
 * another database, in any direction between the backends (a SQLite file and
 * PostgreSQL, either way, or file to file), through adapt/store_copy.h.
 *
 *   spamshift store copy [--force] [--no-check] [--busy-timeout MS] SRC DST
 *
 * SRC is read in one snapshot (the milter may go on writing to it; what it
 * writes afterwards is not copied).  DST must be empty (a new file, or a new
 * PostgreSQL database, which the copy creates the schema in); --force
 * replaces what DST holds.  One transaction per user on DST.  Progress on
 * stderr about once a second; at the end "table<TAB>rows" lines for what was
 * copied on stdout, and, unless --no-check, the comparison of both sides
 * table by table and user by user.
 *
 * Exit codes: 0 copied (and equal); 64 usage; 66 SRC cannot be opened; 73 DST
 * cannot be created or is not empty; 74 a write to DST failed (the users
 * before it are in DST: run again with --force); 75 a store was locked or its
 * server down; 78 a schema or features version this program cannot use; 70
 * the copy differs from SRC.
 */
#include "config.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "log.h"
#include "store.h"
#include "store_copy.h"
#include "userdb.h"

#define CMD "store copy"

struct progress {
    time_t last;
};

static void
show_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress *p = ctx;
    time_t now = time(NULL);

    if (now == p->last && done < total)
        return;
    p->last = now;
    fprintf(stderr, "spamshift: %s: %" PRIu64 " of %" PRIu64 " users\n", CMD, done,
            total);
}

static void
print_counts(const char *src, const char *dst, const struct store_copy_counts *n)
{
    printf("copied %s to %s\n", src, dst);
    printf("users\t%" PRIu64 "\n", n->users);
    for (int t = 1; t < STORE_COPY_TABLES; t++)
        printf("%s\t%" PRIu64 "\n", store_copy_table_name(t), n->rows[t]);
}

static int
copy_run(const char *src_db, const char *dst_db, int force, int check, int busy_ms)
{
    struct store *src = NULL, *dst = NULL;
    struct store_copy_counts n;
    struct progress p = { 0 };
    char why[512], err[1024];
    int rc, st;

    /* Both refused before either is opened. */
    if ((rc = userdb_no_password(CMD, src_db)) != 0 ||
            (rc = userdb_no_password(CMD, dst_db)) != 0)
        return rc;
    if ((rc = userdb_open(CMD, src_db, STORE_RDONLY, busy_ms, &src)) != 0)
        return rc;
    if ((rc = userdb_open(CMD, dst_db, STORE_CREATE, busy_ms, &dst)) != 0)
        goto done;
    /* Only --force could lose data here (without it a store with data is
     * refused as not empty), and the probe writes to DST, so only then. */
    if (force && (st = store_copy_same(src, dst, err, sizeof(err))) != 0) {
        if (st < 0) {
            log_err("%s: %s", CMD, err);
            rc = userdb_exit(st);
        } else
            rc = cli_usage(CMD, "%s and %s are the same store; nothing was copied",
                           src_db, dst_db);
        goto done;
    }
    if (!force) {
        if ((st = store_copy_is_empty(dst, why, sizeof(why))) < 0) {
            log_err("%s: %s", CMD, store_errmsg(dst));
            rc = userdb_exit(st);
            goto done;
        }
        if (st == 0) {
            log_err("%s: %s is not empty: %s; nothing was copied (copy into a new "
                    "store, or give --force to replace what it holds)", CMD, dst_db, why);
            rc = EX_CANTCREAT;
            goto done;
        }
    }
    st = store_copy(src, dst, (force ? STORE_COPY_FORCE : 0) |
                    (check ? STORE_COPY_VERIFY : 0), show_progress, &p, &n, err,
                    sizeof(err));
    if (st < 0) {
        log_err("%s: %s", CMD, err);
        rc = userdb_exit(st);
        goto done;
    }
    print_counts(src_db, dst_db, &n);
    if (st == STORE_NOTFOUND) {
        log_err("%s: the copy differs from %s: %s", CMD, src_db, err);
        rc = EX_SOFTWARE;
        goto done;
    }
    if (check)
        printf("checked\tequal\n");
done:
    store_close(dst);
    store_close(src);
    return rc;
}

int
cmd_store_copy(int argc, char **argv)
{
    gboolean force = FALSE, no_check = FALSE;
    gint busy_ms = -1;
    GOptionEntry entries[] = {
        { "force", 0, 0, G_OPTION_ARG_NONE, &force, "replace what DST holds (every "
          "table is emptied in the copy's first transaction)", NULL },
        { "no-check", 0, 0, G_OPTION_ARG_NONE, &no_check, "do not compare DST with SRC "
          "table by table afterwards", NULL },
        { "busy-timeout", 0, 0, G_OPTION_ARG_INT, &busy_ms, "wait up to MS for "
          "another process's lock on either store (default 5000)", "MS" },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };
    int rc;

    if ((rc = cli_parse(CMD, "SRC DST - copy a whole store into another database (a "
                        "file or PostgreSQL, either way)", entries, &argc, &argv)) != 0)
        return rc;
    if (argc != 3)
        return cli_usage(CMD, "give SRC and DST (got %d argument%s)", argc - 1,
                         argc == 2 ? "" : "s");
    if (*argv[1] == '\0' || *argv[2] == '\0')
        return cli_usage(CMD, "SRC and DST must not be empty");
    if (strcmp(argv[1], argv[2]) == 0)
        return cli_usage(CMD, "SRC and DST are the same store");
    return copy_run(argv[1], argv[2], force, !no_check, busy_ms);
}
