/*
 * cmd_user.c - `spamshift user`: a user's settings in the store.
 *
 *   spamshift user --db DB [--user ADDRESS [--spam-threshold P | --clear-spam-threshold]
 *                  [--target-fpr F | --clear-target-fpr]]
 *   spamshift user --db DB (--user ADDRESS | --domain DOMAIN)
 *                  [--allow SENDER]... [--block SENDER]... [--unlist SENDER]...
 *   spamshift user --db DB --lists [--user ADDRESS | --domain DOMAIN]
 *
 * The user's own spam threshold: the milter tags that user's copy of a message
 * at or above it (and quarantines or rejects no lower), and `spamshift classify
 * --user` says spam at or above it, instead of the user's operating point.  The
 * user's own target false-positive rate: the rate that operating point is
 * placed at instead of the site's (spamshift.conf target_fpr; adapt/oppoint.h).
 * The milter picks a change up within a second, without a reload.  With --user
 * alone the user's settings are printed; without --user, every user that has
 * one.  Output: "user<TAB>spam_threshold<TAB>P" per user, "-" for none, then
 * "user<TAB>target_fpr<TAB>F" for a user that has one (or was just given one).
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
#include "oppoint.h"
#include "senderlist.h"
#include "store.h"
#include "userdb.h"

/* The command line of `spamshift user`. */
struct user_args {
    gchar *db_path, *user, *domain;
    gchar **allow, **block, **unlist;
    gdouble spam;               /* -1: not given */
    gdouble target;             /* -1: not given */
    gboolean clear, lists, clear_target;
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
        { "target-fpr", 0, 0, G_OPTION_ARG_DOUBLE, &a->target, "set the user's own target "
          "false-positive rate (0.0001 to 0.1), instead of the site's target_fpr", "F" },
        { "clear-target-fpr", 0, 0, G_OPTION_ARG_NONE, &a->clear_target, "back to the "
          "site's target_fpr", NULL },
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
    a->target = -1;
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
    int set = a->spam != -1 || a->target != -1, change = a->allow || a->block || a->unlist;

    if (a->db_path == NULL)
        return cli_usage("user", "no store: use --db DB");
    if ((set || a->clear || a->clear_target) && a->user == NULL)
        return cli_usage("user", "--spam-threshold, --target-fpr and their --clear-* need "
                         "--user ADDRESS");
    if (a->spam != -1 && a->clear)
        return cli_usage("user", "give --spam-threshold or --clear-spam-threshold, not both");
    if (a->target != -1 && a->clear_target)
        return cli_usage("user", "give --target-fpr or --clear-target-fpr, not both");
    if (a->target != -1 && !oppoint_target_valid(a->target))
        return cli_usage("user", "--target-fpr must be from %g to %g, got %g",
                         OPPOINT_TARGET_MIN, OPPOINT_TARGET_MAX, a->target);
    if (a->spam != -1 && !(a->spam > 0 && a->spam < 1))
        return cli_usage("user", "--spam-threshold must be a probability in (0, 1), got %g",
                         a->spam);
    if (a->user != NULL && (a->key = userdb_user_key("user", a->user)) == NULL)
        return EX_USAGE;
    if (a->domain != NULL && (a->user != NULL || set || a->clear || a->clear_target))
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

/* Every user's setting of one kind, "user<TAB>name<TAB>value" lines. */
static int
user_print_all(struct store *s, const char *name,
               int (*list)(struct store *, char ***, double **, size_t *))
{
    char **users;
    double *vs;
    size_t n;
    int st;

    if ((st = list(s, &users, &vs, &n)) != STORE_OK) {
        log_err("user: %s", store_errmsg(s));
        return userdb_exit(st);
    }
    for (size_t i = 0; i < n; i++)
        printf("%s\t%s\t%.6f\n", users[i], name, vs[i]);
    store_strv_free(users);
    free(vs);
    return 0;
}

/* --spam-threshold, --target-fpr, their --clear-*, and the settings' listing. */
static int
user_run_threshold(struct store *s, const struct user_args *a)
{
    double v;
    int st = STORE_OK, rc;

    if (a->spam != -1 || a->clear)
        st = store_threshold_set(s, a->key, a->clear ? -1 : a->spam);
    if (st == STORE_OK && (a->target != -1 || a->clear_target))
        st = store_target_fpr_set(s, a->key, a->clear_target ? -1 : a->target);
    if (st != STORE_OK) {
        log_err("user: %s", store_errmsg(s));
        return userdb_exit(st);
    }
    if (a->key == NULL) {
        if ((rc = user_print_all(s, "spam_threshold", store_threshold_list)) != 0)
            return rc;
        return user_print_all(s, "target_fpr", store_target_fpr_list);
    }
    st = store_threshold_get(s, a->key, &v);
    if (st == STORE_OK)
        printf("%s\tspam_threshold\t%.6f\n", a->key, v);
    else if (st == STORE_NOTFOUND)
        printf("%s\tspam_threshold\t-\n", a->key);
    if (st >= 0 && (st = store_target_fpr_get(s, a->key, &v)) == STORE_OK)
        printf("%s\ttarget_fpr\t%.6f\n", a->key, v);
    else if (st == STORE_NOTFOUND && a->clear_target)
        printf("%s\ttarget_fpr\t-\n", a->key);
    if (st < 0) {
        log_err("user: %s", store_errmsg(s));
        return userdb_exit(st);
    }
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
        write = a.allow || a.block || a.unlist || a.spam != -1 || a.target != -1;
        flags = write ? STORE_CREATE : a.clear || a.clear_target ? 0 : STORE_RDONLY;
        if ((rc = userdb_open("user", a.db_path, flags, a.busy_ms, &s)) == 0)
            rc = lists ? user_run_lists(s, &a) : user_run_threshold(s, &a);
    }
    store_close(s);
    user_args_free(&a);
    return rc;
}
