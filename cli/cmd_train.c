/*
 * cmd_train.c - `spamshift train`: build a base model from labelled mail.
 *
 *   spamshift train -o MODEL --ham PATH... --spam PATH... [--index FILE]...
 *                   [--from-db DB] [--seed N] [--epochs N] [-j N] [-q]
 *
 * Reads and extracts on all cores (order-preserving, so the model depends only
 * on the inputs and the seed), trains, and writes the model atomically.
 */
#include "config.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "extract.h"
#include "fbpool.h"
#include "input.h"
#include "log.h"
#include "model.h"
#include "userdb.h"
#include "clock.h"

static void
on_epoch(void *arg, uint32_t epoch, uint32_t epochs, double loss)
{
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "\rtraining: epoch %u/%u, loss %.5f%s", epoch, epochs, loss,
                epoch == epochs ? "\n" : "");
}

int
cmd_train(int argc, char **argv)
{
    gchar *out = NULL, *from_db = NULL;
    gchar **ham = NULL, **spam = NULL, **index = NULL;
    gint64 seed = 1;
    gint epochs = 0, jobs = 0;
    gboolean quiet = FALSE;
    GOptionEntry entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_FILENAME, &out, "write the model to FILE", "FILE" },
        { "ham", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &ham,
          "ham: a message file, directory (recursive, Maildir) or mbox; repeatable", "PATH" },
        { "spam", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &spam,
          "spam: a message file, directory or mbox; repeatable", "PATH" },
        { "index", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &index,
          "TREC index file (\"spam PATH\" lines, paths relative to it); repeatable", "FILE" },
        { "from-db", 0, 0, G_OPTION_ARG_FILENAME, &from_db,
          "also train on every user's labelled feedback in this store", "DB" },
        { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "random seed (default 1)", "N" },
        { "epochs", 0, 0, G_OPTION_ARG_INT, &epochs, "training epochs (default: the model's)", "N" },
        { "jobs", 'j', 0, G_OPTION_ARG_INT, &jobs, "reader threads (default: all cores)", "N" },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "print no summary", NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };
    GOptionContext *ctx = g_option_context_new("- train a base model");
    GError *gerr = NULL;
    struct input_list list = { 0 };
    struct extract_set set = { 0 };
    struct net_example *ex = NULL;
    struct fbpool pool = { 0 };
    struct store *db = NULL;
    struct model_train_opts opts;
    struct model *m = NULL;
    size_t n_ham = 0, n_spam = 0, n_bad = 0;
    char err[256];
    double t0 = clock_seconds(), t_read;
    int rc = 0;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
        log_err("train: %s (see spamshift train --help)", gerr->message);
        g_error_free(gerr);
        rc = EX_USAGE;
        goto done;
    }
    if (argc > 1) {
        log_err("train: unexpected argument \"%s\": give inputs with --ham, --spam or --index", argv[1]);
        rc = EX_USAGE;
        goto done;
    }
    if (out == NULL) {
        log_err("train: no output file: use -o MODEL");
        rc = EX_USAGE;
        goto done;
    }
    if (ham == NULL && spam == NULL && index == NULL && from_db == NULL) {
        log_err("train: nothing to train on: give --ham PATH and --spam PATH, --index FILE "
                "or --from-db DB");
        rc = EX_USAGE;
        goto done;
    }
    for (gchar **p = ham; p && *p; p++)
        if (input_collect(&list, *p, INPUT_LABEL_HAM) != 0)
            goto oom;
    for (gchar **p = spam; p && *p; p++)
        if (input_collect(&list, *p, INPUT_LABEL_SPAM) != 0)
            goto oom;
    for (gchar **p = index; p && *p; p++)
        if (input_collect_index(&list, *p) != 0)
            goto oom;

    if (extract_sources(&list, 0, list.n, cli_jobs(jobs),
                        !quiet, &set) != 0)
        goto oom;
    t_read = clock_seconds() - t0;

    if (from_db != NULL) {
        int st;

        if ((rc = userdb_open("train", from_db, STORE_RDONLY, -1, &db)) != 0)
            goto done;
        if ((st = fbpool_load(db, &pool)) != STORE_OK) {
            log_err("train: %s", store_errmsg(db));
            rc = userdb_exit(st);
            goto done;
        }
    }
    if ((ex = calloc(set.n + pool.n ? set.n + pool.n : 1, sizeof(*ex))) == NULL)
        goto oom;
    for (size_t i = 0; i < set.n; i++) {
        ex[i].ids = set.v[i].ids;
        ex[i].n = set.v[i].n;
        ex[i].spam = set.v[i].label == INPUT_LABEL_SPAM;
        if (ex[i].spam)
            n_spam++;
        else
            n_ham++;
    }
    /* Feedback after the corpus: the order is part of what makes training
     * deterministic, and both orders are fixed. */
    for (size_t i = 0; i < pool.n; i++)
        ex[set.n + i] = pool.ex[i];
    n_ham += pool.n_ham;
    n_spam += pool.n_spam;
    n_bad = set.failed + list.errors;
    if (n_ham == 0 || n_spam == 0) {
        log_err("train: need both ham and spam, got %zu ham and %zu spam messages", n_ham, n_spam);
        rc = EX_DATAERR;
        goto done;
    }

    model_train_opts_default(&opts);
    opts.net.seed = (uint64_t)seed;
    if (epochs > 0)
        opts.net.epochs = (uint32_t)epochs;
    if (!quiet)
        opts.net.progress = on_epoch;
    if ((m = model_train(ex, set.n + pool.n, &opts, err, sizeof(err))) == NULL) {
        log_err("train: %s", err);
        rc = EX_SOFTWARE;
        goto done;
    }
    if (model_save(m, out, err, sizeof(err)) != 0) {
        log_err("train: %s", err);
        rc = EX_CANTCREAT;
        goto done;
    }
    {
        /* Read the file back: proves what was written loads, and names it. */
        struct model *check = NULL;
        if (model_load(out, &check, err, sizeof(err)) != 0) {
            log_err("train: wrote %s but cannot load it back: %s", out, err);
            rc = EX_CANTCREAT;
            goto done;
        }
        memcpy(m->id, check->id, sizeof(m->id));
        model_free(check);
    }
    if (!quiet) {
        printf("trained %s: %zu messages (%zu ham, %zu spam), %u distinct features, "
               "%u epochs, loss %.5f\n",
               out, set.n + pool.n, n_ham, n_spam, m->summary.n_features, m->summary.epochs,
               (double)m->summary.loss);
        printf("model %s, threshold %.3f, source pool %u; %.1f s (reading %.1f s)\n",
               m->id, (double)m->threshold, m->pool_n, clock_seconds() - t0, t_read);
        if (from_db != NULL)
            printf("of which %zu from the feedback of %zu users in %s\n", pool.n,
                   pool.n_users, from_db);
        if (list.skipped)
            printf("skipped %zu files that are not mail (hidden, .json, archives)\n", list.skipped);
    }
    if (n_bad) {
        log_err("train: %zu inputs could not be read (named above); trained without them", n_bad);
        rc = EXIT_PARTIAL;
    }
    goto done;
oom:
    log_err("train: out of memory");
    rc = EX_SOFTWARE;
done:
    model_free(m);
    free(ex);
    fbpool_free(&pool);
    store_close(db);
    g_free(from_db);
    extract_set_clear(&set);
    input_list_free(&list);
    g_free(out);
    g_strfreev(ham);
    g_strfreev(spam);
    g_strfreev(index);
    g_option_context_free(ctx);
    return rc;
}
