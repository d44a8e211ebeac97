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

struct train_args {
    gchar *out, *from_db;
    gchar **ham, **spam, **index;
    gint64 seed;
    gint epochs, jobs;
    gboolean quiet;
};

/* What the command holds while it runs; train_close() frees it. */
struct train {
    struct train_args a;
    struct input_list list;
    struct extract_set set;
    struct net_example *ex;
    struct fbpool pool;
    struct store *db;
    struct model *m;
    size_t n_ham, n_spam, n_bad;
    double t0, t_read;
};

static int
train_parse(struct train_args *a, int *argc, char ***argv)
{
    GOptionEntry entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_FILENAME, &a->out, "write the model to FILE", "FILE" },
        { "ham", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->ham,
          "ham: a message file, directory (recursive, Maildir) or mbox; repeatable", "PATH" },
        { "spam", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->spam,
          "spam: a message file, directory or mbox; repeatable", "PATH" },
        { "index", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->index,
          "TREC index file (\"spam PATH\" lines, paths relative to it); repeatable", "FILE" },
        { "from-db", 0, 0, G_OPTION_ARG_FILENAME, &a->from_db,
          "also train on every user's labelled feedback in this store", "DB" },
        { "seed", 0, 0, G_OPTION_ARG_INT64, &a->seed, "random seed (default 1)", "N" },
        { "epochs", 0, 0, G_OPTION_ARG_INT, &a->epochs, "training epochs (default: the model's)", "N" },
        { "jobs", 'j', 0, G_OPTION_ARG_INT, &a->jobs, "reader threads (default: all cores)", "N" },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &a->quiet, "print no summary", NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };

    a->seed = 1;
    return cli_parse("train", "- train a base model", entries, argc, argv);
}

/* The usage rules, then the sources read and extracted, and --from-db's pool.
 * Returns an exit code. */
static int
train_open(struct train *t, int argc, char **argv)
{
    const struct train_args *a = &t->a;
    int rc, st;

    if (argc > 1)
        return cli_usage("train", "unexpected argument \"%s\": give inputs with --ham, "
                         "--spam or --index", argv[1]);
    if (a->out == NULL)
        return cli_usage("train", "no output file: use -o MODEL");
    if (a->ham == NULL && a->spam == NULL && a->index == NULL && a->from_db == NULL)
        return cli_usage("train", "nothing to train on: give --ham PATH and --spam PATH, "
                         "--index FILE or --from-db DB");
    for (gchar **p = a->ham; p && *p; p++)
        if (input_collect(&t->list, *p, INPUT_LABEL_HAM) != 0)
            return cli_oom("train");
    for (gchar **p = a->spam; p && *p; p++)
        if (input_collect(&t->list, *p, INPUT_LABEL_SPAM) != 0)
            return cli_oom("train");
    for (gchar **p = a->index; p && *p; p++)
        if (input_collect_index(&t->list, *p) != 0)
            return cli_oom("train");
    if (extract_sources(&t->list, 0, t->list.n, cli_jobs(a->jobs), !a->quiet, &t->set) != 0)
        return cli_oom("train");
    t->t_read = clock_seconds() - t->t0;
    if (a->from_db != NULL) {
        if ((rc = userdb_open("train", a->from_db, STORE_RDONLY, -1, &t->db)) != 0)
            return rc;
        if ((st = fbpool_load(t->db, &t->pool)) != STORE_OK) {
            log_err("train: %s", store_errmsg(t->db));
            return userdb_exit(st);
        }
    }
    return 0;
}

/* The training examples: the corpus, then the feedback.  Returns an exit code. */
static int
train_examples(struct train *t)
{
    const struct extract_set *set = &t->set;

    if ((t->ex = calloc(set->n + t->pool.n ? set->n + t->pool.n : 1, sizeof(*t->ex))) == NULL)
        return cli_oom("train");
    for (size_t i = 0; i < set->n; i++) {
        t->ex[i].ids = set->v[i].ids;
        t->ex[i].n = set->v[i].n;
        t->ex[i].spam = set->v[i].label == INPUT_LABEL_SPAM;
        if (t->ex[i].spam)
            t->n_spam++;
        else
            t->n_ham++;
    }
    /* Feedback after the corpus: the order is part of what makes training
     * deterministic, and both orders are fixed. */
    for (size_t i = 0; i < t->pool.n; i++)
        t->ex[set->n + i] = t->pool.ex[i];
    t->n_ham += t->pool.n_ham;
    t->n_spam += t->pool.n_spam;
    t->n_bad = set->failed + t->list.errors;
    if (t->n_ham == 0 || t->n_spam == 0) {
        log_err("train: need both ham and spam, got %zu ham and %zu spam messages",
                t->n_ham, t->n_spam);
        return EX_DATAERR;
    }
    return 0;
}

/* Train, write the model and read it back.  Returns an exit code. */
static int
train_fit(struct train *t)
{
    const struct train_args *a = &t->a;
    struct model_train_opts opts;
    struct model *check = NULL;
    char err[256];

    model_train_opts_default(&opts);
    opts.net.seed = (uint64_t)a->seed;
    if (a->epochs > 0)
        opts.net.epochs = (uint32_t)a->epochs;
    if (!a->quiet)
        opts.net.progress = on_epoch;
    if ((t->m = model_train(t->ex, t->set.n + t->pool.n, &opts, err, sizeof(err))) == NULL) {
        log_err("train: %s", err);
        return EX_SOFTWARE;
    }
    if (model_save(t->m, a->out, err, sizeof(err)) != 0) {
        log_err("train: %s", err);
        return EX_CANTCREAT;
    }
    /* Read the file back: proves what was written loads, and names it. */
    if (model_load(a->out, &check, err, sizeof(err)) != 0) {
        log_err("train: wrote %s but cannot load it back: %s", a->out, err);
        return EX_CANTCREAT;
    }
    memcpy(t->m->id, check->id, sizeof(t->m->id));
    model_free(check);
    return 0;
}

static int
train_report(const struct train *t)
{
    const struct train_args *a = &t->a;
    const struct model *m = t->m;

    if (!a->quiet) {
        printf("trained %s: %zu messages (%zu ham, %zu spam), %u distinct features, "
               "%u epochs, loss %.5f\n",
               a->out, t->set.n + t->pool.n, t->n_ham, t->n_spam, m->summary.n_features,
               m->summary.epochs, (double)m->summary.loss);
        printf("model %s, threshold %.3f, source pool %u; %.1f s (reading %.1f s)\n",
               m->id, (double)m->threshold, m->pool_n, clock_seconds() - t->t0, t->t_read);
        if (a->from_db != NULL)
            printf("of which %zu from the feedback of %zu users in %s\n", t->pool.n,
                   t->pool.n_users, a->from_db);
        if (t->list.skipped)
            printf("skipped %zu files that are not mail (hidden, .json, archives)\n",
                   t->list.skipped);
    }
    if (t->n_bad) {
        log_err("train: %zu inputs could not be read (named above); trained without them",
                t->n_bad);
        return EXIT_PARTIAL;
    }
    return 0;
}

static void
train_close(struct train *t)
{
    model_free(t->m);
    free(t->ex);
    fbpool_free(&t->pool);
    store_close(t->db);
    extract_set_clear(&t->set);
    input_list_free(&t->list);
    g_free(t->a.from_db);
    g_free(t->a.out);
    g_strfreev(t->a.ham);
    g_strfreev(t->a.spam);
    g_strfreev(t->a.index);
}

int
cmd_train(int argc, char **argv)
{
    struct train t = { 0 };
    int rc;

    t.t0 = clock_seconds();
    if ((rc = train_parse(&t.a, &argc, &argv)) == 0
            && (rc = train_open(&t, argc, argv)) == 0
            && (rc = train_examples(&t)) == 0
            && (rc = train_fit(&t)) == 0)
        rc = train_report(&t);
    train_close(&t);
    return rc;
}
