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

struct learn_args {
    gchar *model_path, *db_path, *user;
    gboolean spam, ham, forget, verbose;
    gint jobs, batch, busy_ms, quota;
};

/* What the command holds while it runs; learn_close() frees it. */
struct learn {
    struct learn_args a;
    struct input_list list;
    struct store *s;
    struct model *m;
    char *key;
    size_t count[4], n_failed;
};

static int
learn_parse(struct learn_args *a, int *argc, char ***argv)
{
    GOptionEntry entries[] = {
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &a->db_path, "the per-user store (created "
          "when missing)", "DB" },
        { "user", 'u', 0, G_OPTION_ARG_STRING, &a->user, "the user (address) to teach",
          "ADDRESS" },
        { "spam", 0, 0, G_OPTION_ARG_NONE, &a->spam, "the messages are spam", NULL },
        { "ham", 0, 0, G_OPTION_ARG_NONE, &a->ham, "the messages are ham", NULL },
        { "forget", 0, 0, G_OPTION_ARG_NONE, &a->forget, "forget the messages", NULL },
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &a->model_path,
          "refit the user's model on this base model right after learning", "MODEL" },
        { "batch", 0, 0, G_OPTION_ARG_INT, &a->batch, "messages per transaction "
          "(default 256)", "N" },
        { "jobs", 'j', 0, G_OPTION_ARG_INT, &a->jobs, "reader threads (default 1)", "N" },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &a->verbose, "print each message's change "
          "and each committed batch", NULL },
        { "busy-timeout", 0, 0, G_OPTION_ARG_INT, &a->busy_ms, "wait up to MS for "
          "another process's lock on the store (default 5000)", "MS" },
        { "quota", 0, 0, G_OPTION_ARG_INT, &a->quota, "set the store's per-user feedback "
          "quota: keep each user's N most recently learned messages (default 20000); "
          "alone, without --user, only this", "N" },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };

    a->jobs = 1;
    a->batch = 256;
    a->busy_ms = -1;
    a->quota = G_MININT;
    return cli_parse("learn", "[PATH...|-] - teach a user's filter", entries, argc, argv);
}

/* The usage rules of a learn that teaches (not --quota alone). */
static int
learn_check(const struct learn_args *a)
{
    if ((a->spam != 0) + (a->ham != 0) + (a->forget != 0) != 1)
        return cli_usage("learn", "give exactly one of --spam, --ham, --forget");
    if (a->batch < 1 || a->batch > 100000)
        return cli_usage("learn", "--batch must be 1..100000, got %d", a->batch);
    return 0;
}

/* The start-up of a learn that teaches: user, model, store (and --quota with
 * it), sources.  Returns an exit code. */
static int
learn_open(struct learn *l, int argc, char **argv)
{
    const struct learn_args *a = &l->a;
    int rc, label;

    if ((rc = learn_check(a)) != 0)
        return rc;
    if ((l->key = userdb_user_key("learn", a->user)) == NULL)
        return EX_USAGE;
    label = a->spam ? INPUT_LABEL_SPAM : INPUT_LABEL_HAM;
    if (a->model_path != NULL && (rc = cli_model_open("learn", a->model_path, &l->m)) != 0)
        return rc;
    if ((rc = userdb_open("learn", a->db_path, STORE_CREATE, a->busy_ms, &l->s)) != 0)
        return rc;
    if (a->quota > 0 && (rc = learn_set_quota(l->s, (uint32_t)a->quota)) != 0)
        return rc;
    return input_collect_args(&l->list, argc, argv, label) != 0 ? EX_SOFTWARE : 0;
}

/* Store the messages of one extracted batch in one transaction; *chg gets each
 * message's change ((enum store_change)-1: not learned). */
static int
learn_store(struct learn *l, const struct extract_set *set, enum store_change *chg)
{
    int st = store_begin(l->s);

    for (size_t i = 0; st == STORE_OK && i < set->n; i++) {
        const struct extract_msg *x = &set->v[i];

        chg[i] = (enum store_change)-1;
        if (x->flags & FEATURES_F_EMPTY) {
            log_err("learn: %s: no headers and no text, not learned", x->name);
            l->n_failed++;
            continue;
        }
        st = l->a.forget ? store_feedback_forget(l->s, l->key, x->digest, &chg[i])
                         : store_feedback_put(l->s, l->key, x->digest, l->a.spam ? 1 : 0,
                                              x->ids, x->n, &chg[i]);
    }
    if (st == STORE_OK)
        st = store_commit(l->s);
    else
        store_rollback(l->s);
    return st;
}

/* Learn sources [from, to) as one batch.  Returns 0, EX_SOFTWARE (out of
 * memory, nothing logged) or the exit code of a failed write (logged; the
 * summary is still due). */
static int
learn_batch(struct learn *l, size_t from, size_t to)
{
    struct extract_set set = { 0 };
    enum store_change *chg;
    int st;

    if (extract_sources(&l->list, from, to, l->a.jobs > 0 ? (unsigned)l->a.jobs : 1, 0,
                        &set) != 0) {
        extract_set_clear(&set);
        return EX_SOFTWARE;
    }
    l->n_failed += set.failed;
    if ((chg = calloc(set.n ? set.n : 1, sizeof(*chg))) == NULL) {
        extract_set_clear(&set);
        return EX_SOFTWARE;
    }
    if ((st = learn_store(l, &set, chg)) != STORE_OK) {
        log_err("learn: %s", store_errmsg(l->s));
        log_err("learn: stopped; the %zu messages of this batch were not stored", set.n);
        free(chg);
        extract_set_clear(&set);
        return userdb_exit(st);
    }
    for (size_t i = 0; i < set.n; i++) {
        if ((int)chg[i] < 0)
            continue;
        l->count[chg[i]]++;
        if (l->a.verbose)
            printf("%s\t%s\n", set.v[i].name, change_name[chg[i]]);
    }
    if (l->a.verbose)
        printf("committed %zu\n", set.n);
    fflush(stdout);
    free(chg);
    extract_set_clear(&set);
    return 0;
}

/* With -m, refit the user at once when anything changed.  Returns an exit
 * code. */
static int
learn_refit(struct learn *l)
{
    struct adapt_opts ao;
    struct refit_result r;
    char err[512];
    int st;

    if (l->m == NULL
            || l->count[STORE_LEARNED] + l->count[STORE_MOVED] + l->count[STORE_FORGOTTEN] == 0)
        return 0;
    adapt_opts_default(&ao);
    st = refit_user(l->s, l->m, l->key, &ao, 0, &r, err, sizeof(err));
    if (st != STORE_OK) {
        log_err("learn: refit: %s", err);
        return userdb_exit(st);
    }
    if (r.published == 1) {
        printf("refitted %s: version %llu", l->key, (unsigned long long)r.version);
        if (r.fit.cv_err_before >= 0 && r.fit.cv_err_after >= 0)
            printf(", cv error %.3f -> %.3f", r.fit.cv_err_before, r.fit.cv_err_after);
        printf(" (%.1f ms)\n", r.ms);
    }
    return 0;
}

/* The summary lines, printed whether or not a batch failed (rc so far).
 * Returns the exit code of the run. */
static int
learn_report(struct learn *l, int rc)
{
    printf("learned %zu, moved %zu, unchanged %zu, forgotten %zu\n",
           l->count[STORE_LEARNED], l->count[STORE_MOVED], l->count[STORE_UNCHANGED],
           l->count[STORE_FORGOTTEN]);
    if (store_feedback_dropped(l->s) > 0)
        printf("dropped %llu oldest feedback (quota %u per user)\n",
               (unsigned long long)store_feedback_dropped(l->s), store_feedback_max(l->s));
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_err("learn: cannot write the results");
        if (rc == 0)
            rc = EX_CANTCREAT;
    }
    if (rc == 0 && l->n_failed) {
        log_err("learn: %zu inputs could not be learned (named above)", l->n_failed);
        rc = EXIT_PARTIAL;
    }
    return rc;
}

/* Every batch, the refit and the summary.  Returns an exit code. */
static int
learn_loop(struct learn *l)
{
    size_t batch = (size_t)l->a.batch;
    int rc = 0;

    for (size_t from = 0; rc == 0 && from < l->list.n; from += batch)
        rc = learn_batch(l, from, from + batch < l->list.n ? from + batch : l->list.n);
    if (rc == EX_SOFTWARE)
        return rc;
    if (rc == 0) {
        l->n_failed += l->list.errors;
        rc = learn_refit(l);
    }
    return learn_report(l, rc);
}

/* --quota N alone (no --user, no label): only set the quota.  Returns -1 when
 * this is not such a call, else an exit code. */
static int
learn_quota_only(struct learn *l, int argc)
{
    const struct learn_args *a = &l->a;
    int rc;

    if (!(a->quota > 0 && a->user == NULL && !a->spam && !a->ham && !a->forget))
        return -1;
    if (argc > 1)
        return cli_usage("learn", "messages but no --user to teach");
    if ((rc = userdb_open("learn", a->db_path, STORE_CREATE, a->busy_ms, &l->s)) != 0)
        return rc;
    return learn_set_quota(l->s, (uint32_t)a->quota);
}

static void
learn_close(struct learn *l)
{
    store_close(l->s);
    model_free(l->m);
    input_list_free(&l->list);
    g_free(l->key);
    g_free(l->a.model_path);
    g_free(l->a.db_path);
    g_free(l->a.user);
}

int
cmd_learn(int argc, char **argv)
{
    struct learn l = { 0 };
    const struct learn_args *a = &l.a;
    int rc;

    if ((rc = learn_parse(&l.a, &argc, &argv)) != 0)
        goto done;
    if (a->quota != G_MININT && (a->quota < 1 || a->quota > (1 << 24))) {
        rc = cli_usage("learn", "--quota must be 1..%d, got %d", 1 << 24, a->quota);
        goto done;
    }
    if (a->db_path == NULL) {
        rc = cli_usage("learn", "no store: use --db DB");
        goto done;
    }
    if ((rc = learn_quota_only(&l, argc)) >= 0)
        goto done;
    if ((rc = learn_open(&l, argc, argv)) == 0)
        rc = learn_loop(&l);
    if (rc == EX_SOFTWARE)
        log_err("learn: out of memory");
done:
    learn_close(&l);
    return rc;
}
