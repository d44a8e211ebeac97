/*
 * cmd_user.c - `spamshift user`: a user's settings in the store.
 *
 *   spamshift user --db DB [--user ADDRESS [--spam-threshold P | --clear-spam-threshold]]
 *   spamshift user --db DB (--user ADDRESS | --domain DOMAIN)
 *                  [--allow SENDER]... [--block SENDER]... [--unlist SENDER]...
 *   spamshift user --db DB --lists [--user ADDRESS | --domain DOMAIN]
 *
 * Today the one setting is the user's own spam threshold: the milter tags that
 * user's copy of a message at or above it (and quarantines or rejects no lower),
 * and `spamshift classify --user` says spam at or above it, instead of the
 * global threshold.  The milter picks a change up within a second, without a
 * reload.  With --user alone the user's setting is printed; without --user,
 * every user that has one.  Output: "user<TAB>spam_threshold<TAB>P" per user,
 * "-" for none.
 *
 * The allow and block lists (adapt/senderlist.h): SENDER is an address or a
 * domain ("@example.com" or "example.com", subdomains included), for one user
 * or every user of a domain; --lists prints "scope<TAB>allow|block<TAB>sender"
 * per entry.  The milter reads a change within a second.
 */
#include "config.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "log.h"
#include "senderlist.h"
#include "store.h"
#include "userdb.h"

/* The command line of `spamshift user`. */
struct user_args {
    gchar *db_path, *user, *domain;
    gchar **allow, **block, **unlist;
    gdouble spam;               /* -1: not given */
    gboolean clear, lists;
    gint busy_ms;
    char *key;                  /* --user as a user key */
    char *scope;                /* the lists' scope: key, "@domain" or NULL */
};

static void
user_args_free(struct user_args *a)
{
    g_free(a->db_path);
    g_free(a->user);
    g_free(a->domain);
    g_strfreev(a->allow);
    g_strfreev(a->block);
    g_strfreev(a->unlist);
    g_free(a->key);
    g_free(a->scope);
}

static int
user_parse(int argc, char **argv, struct user_args *a)
{
    GOptionEntry entries[] = {
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &a->db_path, "the per-user store", "DB" },
        { "user", 'u', 0, G_OPTION_ARG_STRING, &a->user, "the user (an address)", "ADDRESS" },
        { "spam-threshold", 0, 0, G_OPTION_ARG_DOUBLE, &a->spam, "set the user's own spam "
          "threshold, a probability in (0, 1)", "P" },
        { "clear-spam-threshold", 0, 0, G_OPTION_ARG_NONE, &a->clear, "back to the global "
          "threshold", NULL },
        { "domain", 0, 0, G_OPTION_ARG_STRING, &a->domain, "every user of this domain (for "
          "--allow, --block, --unlist, --lists)", "DOMAIN" },
        { "allow", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->allow, "allow mail from this sender "
          "address or @domain (repeatable)", "SENDER" },
        { "block", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->block, "junk mail from this sender "
          "address or @domain (repeatable)", "SENDER" },
        { "unlist", 0, 0, G_OPTION_ARG_STRING_ARRAY, &a->unlist, "remove the sender from the "
          "allow or block list (repeatable)", "SENDER" },
        { "lists", 0, 0, G_OPTION_ARG_NONE, &a->lists, "print the allow and block lists", NULL },
        { "busy-timeout", 0, 0, G_OPTION_ARG_INT, &a->busy_ms, "wait up to MS for "
          "another process's lock on the store (default 5000)", "MS" },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };
    a->spam = -1;
    a->busy_ms = -1;
    if (cli_parse("user", "- a user's settings in the store", entries, &argc, &argv) != 0)
        return EX_USAGE;
    if (argc > 1)
        return cli_usage("user", "unexpected argument \"%s\"", argv[1]);
    return 0;
}

/* Every SENDER of the lists normalises; each that does not is named. */
static int
user_check_senders(const struct user_args *a)
{
    gchar **const lists[3] = { a->allow, a->block, a->unlist };
    int rc = 0;

    for (int k = 0; k < 3; k++)
        for (gchar **p = lists[k]; p != NULL && *p != NULL; p++) {
            char *sender = senderlist_normalize(*p);

            if (sender == NULL) {
                log_err("user: \"%s\" is not a sender address or domain (want "
                        "name@domain, @domain or domain)", *p);
                rc = EX_USAGE;
            }
            g_free(sender);
        }
    return rc;
}

/* The combinations of options that make sense; fills a->key and a->scope. */
static int
user_check(struct user_args *a)
{
    int set = a->spam != -1, change = a->allow || a->block || a->unlist;

    if (a->db_path == NULL)
        return cli_usage("user", "no store: use --db DB");
    if ((set || a->clear) && a->user == NULL)
        return cli_usage("user", "--spam-threshold and --clear-spam-threshold need --user "
                         "ADDRESS");
    if (set && a->clear)
        return cli_usage("user", "give --spam-threshold or --clear-spam-threshold, not both");
    if (set && !(a->spam > 0 && a->spam < 1))
        return cli_usage("user", "--spam-threshold must be a probability in (0, 1), got %g",
                         a->spam);
    if (a->user != NULL && (a->key = userdb_user_key("user", a->user)) == NULL)
        return EX_USAGE;
    if (a->domain != NULL && (a->user != NULL || set || a->clear))
        return cli_usage("user", "--domain goes with --allow, --block, --unlist and --lists, "
                         "not with --user or a threshold");
    if (a->domain != NULL && ((a->scope = senderlist_normalize(a->domain)) == NULL
                              || strchr(a->scope, '@') != a->scope))
        return cli_usage("user", "--domain \"%s\" is not a domain", a->domain);
    if (a->key != NULL)
        a->scope = g_strdup(a->key);
    if (change && a->scope == NULL)
        return cli_usage("user", "--allow, --block and --unlist need --user ADDRESS or "
                         "--domain DOMAIN");
    return user_check_senders(a);
}

/* --allow, --block, --unlist (checked already) and --lists. */
static int
user_run_lists(struct store *s, const struct user_args *a)
{
    gchar **const lists[3] = { a->allow, a->block, a->unlist };
    static const int action[3] = { STORE_LIST_ALLOW, STORE_LIST_BLOCK, STORE_LIST_NONE };
    static const char *const verb[3] = { "allowed", "blocked", "unlisted" };
    struct store_list_entry *v;
    size_t n;
    int st;

    for (int k = 0; k < 3; k++)
        for (gchar **p = lists[k]; p != NULL && *p != NULL; p++) {
            char *sender = senderlist_normalize(*p);

            st = store_list_set(s, a->scope, sender, action[k]);
            if (st == STORE_OK)
                printf("%s\t%s\t%s\n", a->scope, verb[k], sender);
            else if (st == STORE_NOTFOUND)
                log_warn("user: %s: %s was not listed", a->scope, sender);
            g_free(sender);
            if (st < 0) {
                log_err("user: %s", store_errmsg(s));
                return userdb_exit(st);
            }
        }
    if (!a->lists)
        return 0;
    if ((st = store_list_all(s, &v, &n)) != STORE_OK) {
        log_err("user: %s", store_errmsg(s));
        return userdb_exit(st);
    }
    for (size_t i = 0; i < n; i++)
        if (a->scope == NULL || strcmp(v[i].scope, a->scope) == 0)
            printf("%s\t%s\t%s\n", v[i].scope,
                   v[i].action == STORE_LIST_ALLOW ? "allow" : "block", v[i].sender);
    store_list_free(v, n);
    return 0;
}

/* --spam-threshold, --clear-spam-threshold, and the thresholds' listing. */
static int
user_run_threshold(struct store *s, const struct user_args *a)
{
    char **users;
    double v, *vs;
    size_t n;
    int st;

    if (a->spam != -1 || a->clear) {
        if ((st = store_threshold_set(s, a->key, a->clear ? -1 : a->spam)) != STORE_OK) {
            log_err("user: %s", store_errmsg(s));
            return userdb_exit(st);
        }
    }
    if (a->key != NULL) {
        st = store_threshold_get(s, a->key, &v);
        if (st == STORE_OK)
            printf("%s\tspam_threshold\t%.6f\n", a->key, v);
        else if (st == STORE_NOTFOUND)
            printf("%s\tspam_threshold\t-\n", a->key);
        else {
            log_err("user: %s", store_errmsg(s));
            return userdb_exit(st);
        }
        return 0;
    }
    if ((st = store_threshold_list(s, &users, &vs, &n)) != STORE_OK) {
        log_err("user: %s", store_errmsg(s));
        return userdb_exit(st);
    }
    for (size_t i = 0; i < n; i++)
        printf("%s\tspam_threshold\t%.6f\n", users[i], vs[i]);
    store_strv_free(users);
    free(vs);
    return 0;
}

int
cmd_user(int argc, char **argv)
{
    struct user_args a = { 0 };
    struct store *s = NULL;
    int rc, lists, write;
    unsigned flags;

    if ((rc = user_parse(argc, argv, &a)) == 0 && (rc = user_check(&a)) == 0) {
        lists = a.allow || a.block || a.unlist || a.lists;
        write = a.allow || a.block || a.unlist || a.spam != -1;
        flags = write ? STORE_CREATE : a.clear ? 0 : STORE_RDONLY;
        if ((rc = userdb_open("user", a.db_path, flags, a.busy_ms, &s)) == 0)
            rc = lists ? user_run_lists(s, &a) : user_run_threshold(s, &a);
    }
    store_close(s);
    user_args_free(&a);
    return rc;
}
