/*
 * cmd_user.c - `spamshift user`: a user's settings in the store.
 *
 *   spamshift user --db DB [--user ADDRESS [--spam-threshold P | --clear-spam-threshold]]
 *
 * Today the one setting is the user's own spam threshold: the milter tags that
 * user's copy of a message at or above it (and quarantines or rejects no lower),
 * and `spamshift classify --user` says spam at or above it, instead of the
 * global threshold.  The milter picks a change up within a second, without a
 * reload.  With --user alone the user's setting is printed; without --user,
 * every user that has one.  Output: "user<TAB>spam_threshold<TAB>P" per user,
 * "-" for none.
 */
#include "config.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "log.h"
#include "store.h"
#include "userdb.h"

int
cmd_user(int argc, char **argv)
{
    gchar *db_path = NULL, *user = NULL;
    gdouble spam = -1;
    gboolean clear = FALSE;
    gint busy_ms = -1;
    GOptionEntry entries[] = {
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &db_path, "the per-user store", "DB" },
        { "user", 'u', 0, G_OPTION_ARG_STRING, &user, "the user (an address)", "ADDRESS" },
        { "spam-threshold", 0, 0, G_OPTION_ARG_DOUBLE, &spam, "set the user's own spam "
          "threshold, a probability in (0, 1)", "P" },
        { "clear-spam-threshold", 0, 0, G_OPTION_ARG_NONE, &clear, "back to the global "
          "threshold", NULL },
        { "busy-timeout", 0, 0, G_OPTION_ARG_INT, &busy_ms, "wait up to MS for "
          "another process's lock on the store (default 5000)", "MS" },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };
    GOptionContext *ctx = g_option_context_new("- a user's settings in the store");
    GError *gerr = NULL;
    struct store *s = NULL;
    int set, rc = 0, st;
    char *key = NULL;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
        log_err("user: %s (see spamshift user --help)", gerr->message);
        g_error_free(gerr);
        rc = EX_USAGE;
        goto done;
    }
    set = spam != -1;
    if (argc > 1) {
        log_err("user: unexpected argument \"%s\"", argv[1]);
        rc = EX_USAGE;
        goto done;
    }
    if (db_path == NULL) {
        log_err("user: no store: use --db DB");
        rc = EX_USAGE;
        goto done;
    }
    if ((set || clear) && user == NULL) {
        log_err("user: --spam-threshold and --clear-spam-threshold need --user ADDRESS");
        rc = EX_USAGE;
        goto done;
    }
    if (set && clear) {
        log_err("user: give --spam-threshold or --clear-spam-threshold, not both");
        rc = EX_USAGE;
        goto done;
    }
    if (set && !(spam > 0 && spam < 1)) {
        log_err("user: --spam-threshold must be a probability in (0, 1), got %g", spam);
        rc = EX_USAGE;
        goto done;
    }
    if (user != NULL && (key = userdb_user_key("user", user)) == NULL) {
        rc = EX_USAGE;
        goto done;
    }
    if ((rc = userdb_open("user", db_path, set ? STORE_CREATE : (clear ? 0 : STORE_RDONLY),
                           busy_ms, &s)) != 0)
        goto done;
    if (set || clear) {
        if ((st = store_threshold_set(s, key, clear ? -1 : spam)) != STORE_OK) {
            log_err("user: %s", store_errmsg(s));
            rc = userdb_exit(st);
            goto done;
        }
    }
    if (key != NULL) {
        double v;

        st = store_threshold_get(s, key, &v);
        if (st == STORE_OK)
            printf("%s\tspam_threshold\t%.6f\n", key, v);
        else if (st == STORE_NOTFOUND)
            printf("%s\tspam_threshold\t-\n", key);
        else {
            log_err("user: %s", store_errmsg(s));
            rc = userdb_exit(st);
        }
    } else {
        char **users;
        double *v;
        size_t n;

        if ((st = store_threshold_list(s, &users, &v, &n)) != STORE_OK) {
            log_err("user: %s", store_errmsg(s));
            rc = userdb_exit(st);
            goto done;
        }
        for (size_t i = 0; i < n; i++)
            printf("%s\tspam_threshold\t%.6f\n", users[i], v[i]);
        store_strv_free(users);
        free(v);
    }
done:
    store_close(s);
    g_free(key);
    g_free(db_path);
    g_free(user);
    g_option_context_free(ctx);
    return rc;
}
