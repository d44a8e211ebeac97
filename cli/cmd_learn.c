/*
 * cmd_learn.c - `spamshift learn`: a user's labelled feedback, like sa-learn.
 *
 *   spamshift learn --db DB --user U --spam|--ham|--forget [-m MODEL] [-v]
 *                   [--batch N] [-j N] [--quota N] [PATH...|-]
 *   spamshift learn --db DB --quota N
 *
 * Each message is stored as its feature ids under its digest (features.h): the
 * same message again changes nothing, the other label moves it, --forget removes
 * it.  Any change marks U dirty for the next refit (`spamshift adapt`, or the
 * milter's background refits); with -m MODEL, U is refitted at once.
 *
 * Messages are written in batches of --batch, one transaction each.  After each
 * commit -v prints one "name<TAB>change" line per message of the batch and a
 * "committed N" line, flushed: everything printed is on disk, so a learn that is
 * killed loses at most the batch it had not acknowledged.  The last line is the
 * summary, "learned L, moved M, unchanged K, forgotten F".
 *
 * --quota N sets the store's per-user feedback quota (kept in the store, for
 * every user and every later learn; default 20000): each user's least recently
 * learned messages beyond N are dropped at once, and later learns drop the
 * oldest to stay within it.  Alone (no --user), it only sets the quota.
 *
 * Exit: 0, 1 (some inputs unreadable or empty; the others were learned),
 * 64 usage, 66 model missing, 70 internal, 73 store cannot be opened,
 * 74 store write failed, 75 store locked by another process past the timeout,
 * 78 model or store refused (wrong version).
 */
#include "config.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt.h"
#include "cli.h"
#include "commands.h"
#include "extract.h"
#include "features.h"
#include "input.h"
#include "log.h"
#include "model.h"
#include "refit.h"
#include "store.h"
#include "userdb.h"

static const char *const change_name[] = {
    [STORE_UNCHANGED] = "unchanged", [STORE_LEARNED] = "learned",
    [STORE_MOVED] = "moved", [STORE_FORGOTTEN] = "forgotten",
};

/* Set the store's per-user feedback quota and say what it dropped.  Returns an
 * exit code. */
static int
learn_set_quota(struct store *s, uint32_t n)
{
    uint32_t was = store_feedback_max(s);
    uint64_t dropped = 0;
    int st = store_set_feedback_max(s, n, &dropped);

    if (st != STORE_OK) {
        log_err("learn: %s", store_errmsg(s));
        return userdb_exit(st);
    }
    printf("feedback quota %u per user (was %u); dropped %llu oldest feedback\n", n, was,
           (unsigned long long)dropped);
    fflush(stdout);
    return 0;
}

int
cmd_learn(int argc, char **argv)
{
    gchar *model_path = NULL, *db_path = NULL, *user = NULL;
    gboolean spam = FALSE, ham = FALSE, forget = FALSE, verbose = FALSE;
    gint jobs = 1, batch = 256, busy_ms = -1, quota = G_MININT;
    GOptionEntry entries[] = {
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &db_path, "the per-user store (created "
          "when missing)", "DB" },
        { "user", 'u', 0, G_OPTION_ARG_STRING, &user, "the user (address) to teach",
          "ADDRESS" },
        { "spam", 0, 0, G_OPTION_ARG_NONE, &spam, "the messages are spam", NULL },
        { "ham", 0, 0, G_OPTION_ARG_NONE, &ham, "the messages are ham", NULL },
        { "forget", 0, 0, G_OPTION_ARG_NONE, &forget, "forget the messages", NULL },
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
          "refit the user's model on this base model right after learning", "MODEL" },
        { "batch", 0, 0, G_OPTION_ARG_INT, &batch, "messages per transaction "
          "(default 256)", "N" },
        { "jobs", 'j', 0, G_OPTION_ARG_INT, &jobs, "reader threads (default 1)", "N" },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "print each message's change "
          "and each committed batch", NULL },
        { "busy-timeout", 0, 0, G_OPTION_ARG_INT, &busy_ms, "wait up to MS for "
          "another process's lock on the store (default 5000)", "MS" },
        { "quota", 0, 0, G_OPTION_ARG_INT, &quota, "set the store's per-user feedback "
          "quota: keep each user's N most recently learned messages (default 20000); "
          "alone, without --user, only this", "N" },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };
    GOptionContext *ctx = g_option_context_new("[PATH...|-] - teach a user's filter");
    GError *gerr = NULL;
    struct input_list list = { 0 };
    struct store *s = NULL;
    struct model *m = NULL;
    char *key = NULL, err[512];
    size_t count[4] = { 0 }, n_failed = 0;
    int rc = 0, label;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
        log_err("learn: %s (see spamshift learn --help)", gerr->message);
        g_error_free(gerr);
        rc = EX_USAGE;
        goto done;
    }
    if (quota != G_MININT && (quota < 1 || quota > (1 << 24))) {
        log_err("learn: --quota must be 1..%d, got %d", 1 << 24, quota);
        rc = EX_USAGE;
        goto done;
    }
    if (db_path == NULL) {
        log_err("learn: no store: use --db DB");
        rc = EX_USAGE;
        goto done;
    }
    if (quota > 0 && user == NULL && !spam && !ham && !forget) {
        if (argc > 1) {
            log_err("learn: messages but no --user to teach");
            rc = EX_USAGE;
            goto done;
        }
        if ((rc = userdb_open("learn", db_path, STORE_CREATE, busy_ms, &s)) != 0)
            goto done;
        rc = learn_set_quota(s, (uint32_t)quota);
        goto done;
    }
    if ((spam != 0) + (ham != 0) + (forget != 0) != 1) {
        log_err("learn: give exactly one of --spam, --ham, --forget");
        rc = EX_USAGE;
        goto done;
    }
    if (batch < 1 || batch > 100000) {
        log_err("learn: --batch must be 1..100000, got %d", batch);
        rc = EX_USAGE;
        goto done;
    }
    if ((key = userdb_user_key("learn", user)) == NULL) {
        rc = EX_USAGE;
        goto done;
    }
    label = spam ? INPUT_LABEL_SPAM : INPUT_LABEL_HAM;
    if (model_path != NULL && model_load(model_path, &m, err, sizeof(err)) != 0) {
        log_err("learn: %s", err);
        rc = access(model_path, F_OK) != 0 ? EX_NOINPUT : EX_CONFIG;
        goto done;
    }
    if ((rc = userdb_open("learn", db_path, STORE_CREATE, busy_ms, &s)) != 0)
        goto done;
    if (quota > 0 && (rc = learn_set_quota(s, (uint32_t)quota)) != 0)
        goto done;

    if (argc < 2 && input_collect(&list, "-", label) != 0)
        goto oom;
    for (int i = 1; i < argc; i++)
        if (input_collect(&list, argv[i], label) != 0)
            goto oom;

    for (size_t from = 0; from < list.n; ) {
        struct extract_set set = { 0 };
        size_t to = from + (size_t)batch < list.n ? from + (size_t)batch : list.n;
        enum store_change *chg;
        int st;

        if (extract_sources(&list, from, to, jobs > 0 ? (unsigned)jobs : 1, 0, &set) != 0) {
            extract_set_clear(&set);
            goto oom;
        }
        from = to;
        n_failed += set.failed;
        if ((chg = calloc(set.n ? set.n : 1, sizeof(*chg))) == NULL) {
            extract_set_clear(&set);
            goto oom;
        }
        st = store_begin(s);
        for (size_t i = 0; st == STORE_OK && i < set.n; i++) {
            const struct extract_msg *x = &set.v[i];

            chg[i] = (enum store_change)-1;
            if (x->flags & FEATURES_F_EMPTY) {
                log_err("learn: %s: no headers and no text, not learned", x->name);
                n_failed++;
                continue;
            }
            st = forget ? store_feedback_forget(s, key, x->digest, &chg[i])
                        : store_feedback_put(s, key, x->digest, spam ? 1 : 0, x->ids,
                                             x->n, &chg[i]);
        }
        if (st == STORE_OK)
            st = store_commit(s);
        else
            store_rollback(s);
        if (st != STORE_OK) {
            log_err("learn: %s", store_errmsg(s));
            log_err("learn: stopped; the %zu messages of this batch were not stored",
                    set.n);
            rc = userdb_exit(st);
            free(chg);
            extract_set_clear(&set);
            goto summary;
        }
        for (size_t i = 0; i < set.n; i++) {
            if ((int)chg[i] < 0)
                continue;
            count[chg[i]]++;
            if (verbose)
                printf("%s\t%s\n", set.v[i].name, change_name[chg[i]]);
        }
        if (verbose)
            printf("committed %zu\n", set.n);
        fflush(stdout);
        free(chg);
        extract_set_clear(&set);
    }
    n_failed += list.errors;
    if (m != NULL && count[STORE_LEARNED] + count[STORE_MOVED] + count[STORE_FORGOTTEN] > 0) {
        struct adapt_opts ao;
        struct refit_result r;
        int st;

        adapt_opts_default(&ao);
        st = refit_user(s, m, key, &ao, 0, &r, err, sizeof(err));
        if (st != STORE_OK) {
            log_err("learn: refit: %s", err);
            rc = userdb_exit(st);
        } else if (r.published == 1) {
            printf("refitted %s: version %llu", key, (unsigned long long)r.version);
            if (r.fit.cv_err_before >= 0 && r.fit.cv_err_after >= 0)
                printf(", cv error %.3f -> %.3f", r.fit.cv_err_before, r.fit.cv_err_after);
            printf(" (%.1f ms)\n", r.ms);
        }
    }
summary:
    printf("learned %zu, moved %zu, unchanged %zu, forgotten %zu\n",
           count[STORE_LEARNED], count[STORE_MOVED], count[STORE_UNCHANGED],
           count[STORE_FORGOTTEN]);
    if (store_feedback_dropped(s) > 0)
        printf("dropped %llu oldest feedback (quota %u per user)\n",
               (unsigned long long)store_feedback_dropped(s), store_feedback_max(s));
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_err("learn: cannot write the results");
        if (rc == 0)
            rc = EX_CANTCREAT;
    }
    if (rc == 0 && n_failed) {
        log_err("learn: %zu inputs could not be learned (named above)", n_failed);
        rc = EXIT_PARTIAL;
    }
    goto done;
oom:
    log_err("learn: out of memory");
    rc = EX_SOFTWARE;
done:
    store_close(s);
    model_free(m);
    input_list_free(&list);
    g_free(key);
    g_free(model_path);
    g_free(db_path);
    g_free(user);
    g_option_context_free(ctx);
    return rc;
}
