/*
 * cmd_store.c - `spamshift store`: keep the per-user store safe.
 *
 *   spamshift store backup  --db DB FILE   consistent copy, online
 *   spamshift store restore --db DB FILE   put a backup's content into DB, online
 *   spamshift store check   --db DB        integrity, schema, sizes, file modes
 *   spamshift store checkpoint --db DB     give the write-ahead log's disk back
 *   spamshift store init    --db DB        create the store (its schema), or bring
 *                                          an older one up to date, and nothing else
 *   spamshift store copy SRC DST           into another database (cmd_store_copy.c)
 *
 * All of them run while the milter and Dovecot's learns use the store: backup
 * reads one snapshot, restore writes one transaction through SQLite (so no
 * PATH-wal of another file can ever be replayed into the store, which is what
 * `cp`/`mv` of the main file alone does), and the milter's head cache notices a
 * restored refit log by itself.  Output of check: "key<TAB>value" lines.
 */
#include "config.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "commands.h"
#include "log.h"
#include "store.h"
#include "userdb.h"

enum store_action { ACT_BACKUP, ACT_RESTORE, ACT_CHECK, ACT_CHECKPOINT, ACT_INIT };

static const char *const action_names[] = { "backup", "restore", "check", "checkpoint",
                                            "init" };

/* The size of PATH plus suffix, or -1 when there is no such file. */
static long long
file_size(const char *path, const char *suffix)
{
    char *p = g_strconcat(path, suffix, NULL);
    struct stat sb;
    long long n = stat(p, &sb) == 0 ? (long long)sb.st_size : -1;

    g_free(p);
    return n;
}

/* `store check`: every problem is printed; returns 0 or EX_DATAERR. */
static int
store_report(struct store *s, const char *db_path)
{
    struct store_overview o;
    struct stat sb;
    int rc = 0, st;

    if ((st = store_check(s)) != STORE_OK) {
        printf("integrity\tFAILED\n");
        log_err("store check: %s", store_errmsg(s));
        rc = EX_DATAERR;
    } else
        printf("integrity\tok\n");
    if ((st = store_overview(s, 0, &o)) != STORE_OK) {
        log_err("store check: %s", store_errmsg(s));
        return st == STORE_BUSY ? EX_TEMPFAIL : EX_DATAERR;
    }
    printf("users\t%llu\nfeedback\t%llu\nscan_records\t%llu\n",
           (unsigned long long)o.users, (unsigned long long)o.feedback,
           (unsigned long long)o.scan_records);
    printf("bytes\t%lld\nwal_bytes\t%lld\n", (long long)o.bytes, file_size(db_path, "-wal"));
    if (stat(db_path, &sb) == 0) {
        printf("mode\t%04o\n", (unsigned)(sb.st_mode & 07777));
        if ((sb.st_mode & 0660) != 0660)
            log_warn("store check: %s is mode %04o, not %04o: the milter's group may "
                     "not be able to write it (chmod %o %s)", db_path,
                     (unsigned)(sb.st_mode & 07777), STORE_FILE_MODE, STORE_FILE_MODE,
                     db_path);
        if (sb.st_mode & 0007)
            log_warn("store check: %s is readable or writable by others: it holds "
                     "users' addresses (chmod o= %s)", db_path, db_path);
    }
    return rc;
}

static int
store_run(enum store_action act, const char *db_path, const char *file, int busy_ms)
{
    struct store *s = NULL;
    unsigned flags = act == ACT_CHECK ? STORE_RDONLY
                   : act == ACT_RESTORE || act == ACT_INIT ? STORE_CREATE : 0;
    int64_t wal = 0;
    int rc, st = STORE_OK;

    if ((rc = userdb_open("store", db_path, flags, busy_ms, &s)) != 0)
        return rc;
    switch (act) {
    case ACT_BACKUP:
        st = store_backup(s, file);
        if (st == STORE_OK)
            printf("backed up %s to %s\n", db_path, file);
        break;
    case ACT_RESTORE:
        st = store_restore(s, file);
        if (st == STORE_OK)
            printf("restored %s from %s\n", db_path, file);
        break;
    case ACT_CHECK:
        rc = store_report(s, db_path);
        break;
    case ACT_INIT:
        /* Opening with STORE_CREATE made or upgraded the schema: as the
         * database's owner, before roles.sql grants the other roles. */
        printf("initialised %s\n", db_path);
        break;
    case ACT_CHECKPOINT:
        st = store_checkpoint(s, &wal);
        if (st == STORE_OK)
            printf("checkpointed %s: %lld bytes of write-ahead log left\n", db_path,
                   (long long)wal);
        break;
    }
    if (st != STORE_OK) {
        log_err("store %s: %s", action_names[act], store_errmsg(s));
        rc = st == STORE_BUSY ? EX_TEMPFAIL : act == ACT_BACKUP ? EX_CANTCREAT
           : act == ACT_RESTORE ? EX_DATAERR : EX_IOERR;
    }
    store_close(s);
    return rc;
}

int
cmd_store(int argc, char **argv)
{
    gchar *db_path = NULL;
    gint busy_ms = -1;
    GOptionEntry entries[] = {
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &db_path, "the per-user store", "DB" },
        { "busy-timeout", 0, 0, G_OPTION_ARG_INT, &busy_ms, "wait up to MS for "
          "another process's lock on the store (default 5000)", "MS" },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };
    int act = -1, rc, want_file;

    if (argc > 1 && strcmp(argv[1], "copy") == 0)
        return cmd_store_copy(argc - 1, argv + 1);
    if ((rc = cli_parse("store", "backup FILE | restore FILE | check | checkpoint | init | copy SRC DST - keep "
                        "the per-user store safe", entries, &argc, &argv)) != 0)
        goto done;
    for (int i = 0; argc > 1 && i < (int)G_N_ELEMENTS(action_names); i++)
        if (strcmp(argv[1], action_names[i]) == 0)
            act = i;
    if (act < 0) {
        log_err("store: %s: want backup FILE, restore FILE, check, checkpoint, init or copy SRC DST",
                argc > 1 ? "unknown action" : "no action");
        rc = EX_USAGE;
        goto done;
    }
    want_file = act == ACT_BACKUP || act == ACT_RESTORE;
    if (argc != 2 + want_file) {
        log_err("store %s: %s", action_names[act], want_file ? "give one FILE"
                : "takes no argument");
        rc = EX_USAGE;
        goto done;
    }
    if (db_path == NULL) {
        log_err("store %s: no store: use --db DB", action_names[act]);
        rc = EX_USAGE;
        goto done;
    }
    if (want_file && strcmp(argv[2], db_path) == 0) {
        log_err("store %s: FILE is the store itself", action_names[act]);
        rc = EX_USAGE;
        goto done;
    }
    rc = store_run((enum store_action)act, db_path, want_file ? argv[2] : NULL, busy_ms);
done:
    g_free(db_path);
    return rc;
}
