/*
 * cmd_eval.c - `spamshift eval`: measure a filter the way the TREC spam track
 * and DESIGN.md's "How it is measured" do.
 *
 *   offline: spamshift eval (-m MODEL | --train-ham P --train-spam P | --train-index F)
 *                           --test-ham P --test-spam P | --test-index F
 *   online:  spamshift eval --online [-m MODEL] [--user U] [--db DB]
 *                           --test-index F | --test-ham P --test-spam P
 *            [--svg FILE] [--tsv FILE] [--scores FILE] [--json] [-j N] [--seed N]
 *
 * Offline trains on one set (or takes -m) and scores another.  Online takes the
 * messages in order (an index's order; directories in name order, ham paths
 * first), scores each and then learns its true label through online.h: the
 * user's feedback in a store (--db, or a temporary one removed afterwards,
 * which nothing writes to when no refit reads it back) with refits, and with no -m a base retrained from that feedback at growing
 * intervals and stepped online in between (online.h).  Prints (1-AUC)%, lam%, spam recall at 0.1% and 1% FPR, FPR/FNR at
 * the threshold and messages per second (everything included: reading,
 * extraction, scoring, learning).
 */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auc.h"
#include "cli.h"
#include "commands.h"
#include "evalplot.h"
#include "extract.h"
#include "input.h"
#include "log.h"
#include "metrics.h"
#include "model.h"
#include "online.h"
#include "refit.h"
#include "userdb.h"
#include "clock.h"

#define CHUNK 512

struct results {
    float *score;
    uint8_t *spam;
    size_t n, cap;
};

static int
results_add(struct results *r, float p, int spam)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 1024;
        float *s = realloc(r->score, cap * sizeof(*s));
        uint8_t *y;

        if (s == NULL)
            return -1;
        r->score = s;
        if ((y = realloc(r->spam, cap)) == NULL)
            return -1;
        r->spam = y;
        r->cap = cap;
    }
    r->score[r->n] = p;
    r->spam[r->n] = (uint8_t) spam;
    r->n++;
    return 0;
}

static int
collect(struct input_list *l, gchar **ham, gchar **spam, gchar **index)
{
    for (gchar **p = ham; p && *p; p++)
        if (input_collect(l, *p, INPUT_LABEL_HAM) != 0)
            return -1;
    for (gchar **p = spam; p && *p; p++)
        if (input_collect(l, *p, INPUT_LABEL_SPAM) != 0)
            return -1;
    for (gchar **p = index; p && *p; p++)
        if (input_collect_index(l, *p) != 0)
            return -1;
    return 0;
}

/* Learning curve: blocks of about n/20 messages (at least 50), each scored on
 * its own; k is the number learned before the block ended. */
static struct evalplot_step *
learning_curve(const struct results *r, double thr, size_t *n_steps)
{
    size_t block = r->n / 20 < 50 ? 50 : r->n / 20, k = 0;
    struct evalplot_step *v = calloc(r->n / block + 2, sizeof(*v));

    *n_steps = 0;
    if (v == NULL)
        return NULL;
    for (size_t from = 0; from < r->n; from += block) {
        size_t to = from + block < r->n ? from + block : r->n, wrong = 0;
        double auc = auc_float(r->score + from, r->spam + from, to - from);

        size_t n_spam = 0;

        for (size_t i = from; i < to; i++) {
            wrong += (r->score[i] >= thr) != r->spam[i];
            n_spam += r->spam[i];
        }
        v[k].k = (double) to;
        /* A block of one class has no AUC (not 0.5: nothing was ranked). */
        v[k].one_minus_auc_pct = n_spam == 0 || n_spam == to - from ? -1 : 100 * (1 - auc);
        v[k].err_pct = 100.0 * wrong / (to - from);
        k++;
    }
    *n_steps = k;
    return v;
}

struct eval_args {
    gchar *model_path, *db_path, *user_arg, *svg, *tsv, *scores;
    gchar **tr_ham, **tr_spam, **tr_index;
    gchar **te_ham, **te_spam, **te_index;
    gboolean online, json, quiet;
    gint jobs, refit_every, retrain_first;
    gint64 seed;
    gdouble growth, step;
};

/* What the command holds while it runs; eval_close() frees it. */
struct eval {
    struct eval_args a;
    struct input_list train, test;
    struct extract_set set;
    struct results res;
    struct model *m;
    struct store *s;
    struct user_model *um;
    struct online ol;
    int ol_open;
    struct metrics_summary ms;
    struct metrics_point *roc;
    size_t n_roc, n_steps, n_failed;
    struct evalplot_step *steps;
    char *tmpdir, *user;
    double t0, elapsed, thr;
    unsigned nj;
};

static int
eval_parse(struct eval_args *a, int *argc, char ***argv)
{
    GOptionEntry entries[] = {
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &a->model_path,
          "score with this base model (offline: instead of training one)", "MODEL" },
        { "train-ham", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->tr_ham, "offline training ham", "PATH" },
        { "train-spam", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->tr_spam, "offline training spam", "PATH" },
        { "train-index", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->tr_index,
          "offline training set as a TREC index", "FILE" },
        { "test-ham", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->te_ham, "test ham", "PATH" },
        { "test-spam", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->te_spam, "test spam", "PATH" },
        { "test-index", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &a->te_index,
          "test set as a TREC index (online: in its order)", "FILE" },
        { "online", 0, 0, G_OPTION_ARG_NONE, &a->online,
          "classify each test message, then learn its true label", NULL },
        { "user", 0, 0, G_OPTION_ARG_STRING, &a->user_arg,
          "online: learn as this user (default \"eval\"); offline: score with the "
          "user's model from --db", "ADDRESS" },
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &a->db_path,
          "the store (online default: a temporary one, removed afterwards)", "DB" },
        { "refit-every", 0, 0, G_OPTION_ARG_INT, &a->refit_every,
          "online: refit the user every N messages (default 10 with -m, else 0: never)", "N" },
        { "retrain-first", 0, 0, G_OPTION_ARG_INT, &a->retrain_first,
          "online without -m: first base retrain after N messages "
          "(default 50)", "N" },
        { "retrain-growth", 0, 0, G_OPTION_ARG_DOUBLE, &a->growth,
          "online without -m: each base retrain after this many times the messages "
          "of the last (default 1.1)", "X" },
        { "step", 0, 0, G_OPTION_ARG_DOUBLE, &a->step,
          "online without -m: between retrains, a learning step of this rate on the "
          "linear weights of each message not already right (default 0.1; 0 off)", "LR" },
        { "svg", 0, 0, G_OPTION_ARG_FILENAME, &a->svg, "write the ROC (and learning) curve", "FILE" },
        { "tsv", 0, 0, G_OPTION_ARG_FILENAME, &a->tsv, "write the raw curve points", "FILE" },
        { "scores", 0, 0, G_OPTION_ARG_FILENAME, &a->scores,
          "write each test message's label and score (\"spam 0.981234\"), in the order "
          "scored: the lines bench/trec/drive.sh writes", "FILE" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &a->json, "print the results as one JSON object", NULL },
        { "seed", 0, 0, G_OPTION_ARG_INT64, &a->seed, "training seed (default 1)", "N" },
        { "jobs", 'j', 0, G_OPTION_ARG_INT, &a->jobs, "reader threads (default: all cores)", "N" },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &a->quiet, "no progress", NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };

    a->refit_every = a->retrain_first = -1;
    a->seed = 1;
    a->step = -1;
    return cli_parse("eval", "- measure accuracy and speed", entries, argc, argv);
}

/* The usage rules between the options, in the order they are checked. */
static int
eval_check(const struct eval_args *a, int argc, char **argv)
{
    int train = a->tr_ham || a->tr_spam || a->tr_index;

    if (argc > 1)
        return cli_usage("eval", "unexpected argument \"%s\": give inputs with --test-ham, "
                         "--test-spam or --test-index", argv[1]);
    if (!a->te_ham && !a->te_spam && !a->te_index)
        return cli_usage("eval", "nothing to test on: give --test-ham and --test-spam, "
                         "or --test-index");
    if (a->online && train)
        return cli_usage("eval", "--online learns from the test messages themselves: "
                         "no --train-*");
    if (!a->online && a->model_path == NULL && !train)
        return cli_usage("eval", "offline needs -m MODEL or a training set "
                         "(--train-ham/--train-spam or --train-index)");
    if (!a->online && a->model_path != NULL && train)
        return cli_usage("eval", "give either -m MODEL or a training set, not both");
    if (!a->online && (a->user_arg != NULL) != (a->db_path != NULL))
        return cli_usage("eval", "offline, --user and --db go together (score with that "
                         "user's model)");
    return 0;
}

/* Offline without -m: train the model on the training set.  Returns an exit
 * code. */
static int
eval_train(struct eval *e)
{
    struct model_train_opts mo;
    struct net_example *ex;
    size_t nh = 0, ns = 0;
    char err[512];

    if (extract_sources(&e->train, 0, e->train.n, e->nj, !e->a.quiet, &e->set) != 0)
        return cli_oom("eval");
    e->n_failed += e->set.failed;
    if ((ex = calloc(e->set.n ? e->set.n : 1, sizeof(*ex))) == NULL)
        return cli_oom("eval");
    for (size_t i = 0; i < e->set.n; i++) {
        ex[i] = (struct net_example) { e->set.v[i].ids, e->set.v[i].n,
                                       e->set.v[i].label == INPUT_LABEL_SPAM };
        ex[i].spam ? ns++ : nh++;
    }
    if (nh == 0 || ns == 0) {
        free(ex);
        log_err("eval: the training set needs ham and spam, got %zu ham and %zu spam",
                nh, ns);
        return EX_DATAERR;
    }
    model_train_opts_default(&mo);
    mo.net.seed = (uint64_t) e->a.seed;
    e->m = model_train(ex, e->set.n, &mo, err, sizeof(err));
    free(ex);
    extract_set_clear(&e->set);
    if (e->m == NULL) {
        log_err("eval: training: %s", err);
        return EX_SOFTWARE;
    }
    return 0;
}

/* Offline with --user: the user's published model from --db.  Returns an exit
 * code. */
static int
eval_open_user(struct eval *e)
{
    char err[512];
    int rc, st;

    if ((rc = userdb_open("eval", e->a.db_path, STORE_RDONLY, -1, &e->s)) != 0)
        return rc;
    st = refit_load_user_model(e->s, e->m, e->user, &e->um, err, sizeof(err));
    if (st != STORE_OK && st != STORE_NOTFOUND) {
        log_err("eval: %s", err);
        return userdb_exit(st);
    }
    if (st == STORE_NOTFOUND)
        log_warn("eval: %s has no model for this base model; scoring with the "
                 "global head", e->user);
    return 0;
}

/* The online learner's options from the command's.  Returns an exit code. */
static int
eval_online_opts(const struct eval *e, struct online_opts *oo)
{
    const struct eval_args *a = &e->a;

    online_opts_default(oo);
    /* Refits solve over all of the user's feedback: worth it on top of a
     * fixed base; with an own base the retrains do the learning. */
    oo->refit_every = a->refit_every >= 0 ? (unsigned) a->refit_every : e->m ? 10 : 0;
    if (a->retrain_first > 0)
        oo->retrain_first = (uint64_t) a->retrain_first;
    if (a->growth != 0) {
        if (a->growth < 1.01 || a->growth > 100)
            return cli_usage("eval", "--retrain-growth must be between 1.01 and 100, got %g",
                             a->growth);
        oo->retrain_growth = a->growth;
    }
    oo->seed = (uint64_t) a->seed;
    oo->save_base = 0;
    /* A temporary store is removed unread: what is learned stays in memory. */
    oo->store_feedback = a->db_path != NULL;
    if (a->step > 1)
        return cli_usage("eval", "--step must be from 0 to 1, got %g", a->step);
    oo->step_lr = a->step >= 0 ? (float) a->step : 0.1f;
    return 0;
}

/* Online: the store (--db, or a temporary one) and the learner.  Returns an
 * exit code. */
static int
eval_open_online(struct eval *e)
{
    const struct eval_args *a = &e->a;
    struct online_opts oo;
    char *own = NULL, *dbp, err[512];
    int rc;

    if (a->db_path == NULL) {
        if ((e->tmpdir = g_dir_make_tmp("spamshift-eval-XXXXXX", NULL)) == NULL) {
            log_err("eval: cannot create a temporary directory: %s", strerror(errno));
            return EX_CANTCREAT;
        }
        dbp = g_build_filename(e->tmpdir, "store.db", NULL);
    } else
        dbp = g_strdup(a->db_path);
    rc = userdb_open("eval", dbp, STORE_CREATE, -1, &e->s);
    g_free(dbp);
    if (rc != 0 || (rc = eval_online_opts(e, &oo)) != 0)
        return rc;
    if (e->m == NULL)
        own = e->tmpdir ? g_build_filename(e->tmpdir, "base.bin", NULL)
                        : g_strdup_printf("%s.base.bin", a->db_path);
    rc = online_open(&e->ol, e->s, e->user ? e->user : "eval", a->model_path, own, &oo,
                     err, sizeof(err));
    g_free(own);
    if (rc != 0) {
        log_err("eval: %s", err);
        return EX_SOFTWARE;
    }
    e->ol_open = 1;
    return 0;
}

/* The start-up: options checked, inputs listed, the model loaded or trained,
 * the user's model or the online learner opened.  Returns an exit code. */
static int
eval_open(struct eval *e, int argc, char **argv)
{
    const struct eval_args *a = &e->a;
    int rc;

    e->nj = cli_jobs(a->jobs);
    if ((rc = eval_check(a, argc, argv)) != 0)
        return rc;
    if (a->user_arg != NULL && (e->user = userdb_user_key("eval", a->user_arg)) == NULL)
        return EX_USAGE;
    if (collect(&e->test, a->te_ham, a->te_spam, a->te_index) != 0
            || collect(&e->train, a->tr_ham, a->tr_spam, a->tr_index) != 0)
        return cli_oom("eval");
    if (e->test.errors || e->train.errors) {
        log_err("eval: some inputs are missing (named above)");
        return EX_NOINPUT;
    }
    if (e->test.n == 0) {
        log_err("eval: the test set holds no messages");
        return EX_DATAERR;
    }
    e->t0 = clock_seconds();
    if (a->model_path != NULL && (rc = cli_model_open("eval", a->model_path, &e->m)) != 0)
        return rc;
    if (!a->online && e->m == NULL && (rc = eval_train(e)) != 0)
        return rc;
    if (!a->online && e->user != NULL && (rc = eval_open_user(e)) != 0)
        return rc;
    if (a->online && (rc = eval_open_online(e)) != 0)
        return rc;
    e->thr = e->m != NULL ? e->m->threshold : 0.5;
    return 0;
}

/* Score (and online, learn) the test messages of one chunk, in order.  Returns
 * an exit code. */
static int
eval_chunk(struct eval *e, size_t from, size_t to)
{
    char err[512];

    if (extract_sources(&e->test, from, to, e->nj, 0, &e->set) != 0)
        return cli_oom("eval");
    e->n_failed += e->set.failed;
    for (size_t i = 0; i < e->set.n; i++) {
        const struct extract_msg *x = &e->set.v[i];
        int spam = x->label == INPUT_LABEL_SPAM;
        float p;

        if (x->label == INPUT_LABEL_NONE) {
            log_err("eval: %s has no label", x->name);
            return EX_DATAERR;
        }
        if (e->a.online) {
            p = online_score(&e->ol, x->ids, x->n);
            if (online_learn(&e->ol, x->digest, x->ids, x->n, spam, err, sizeof(err)) != 0) {
                log_err("eval: learning %s: %s", x->name, err);
                return EX_SOFTWARE;
            }
        } else
            p = adapt_score(e->m, e->um, x->ids, x->n);
        if (results_add(&e->res, p, spam) != 0)
            return cli_oom("eval");
    }
    extract_set_clear(&e->set);
    if (!e->a.quiet && isatty(STDERR_FILENO))
        fprintf(stderr, "\reval: %zu/%zu messages", to, e->test.n);
    return 0;
}

/* Every chunk, then the metrics over all scores.  Returns an exit code. */
static int
eval_loop(struct eval *e)
{
    char err[512];
    int rc;

    for (size_t from = 0; from < e->test.n; from += CHUNK)
        if ((rc = eval_chunk(e, from, from + CHUNK < e->test.n ? from + CHUNK
                                                                : e->test.n)) != 0)
            return rc;
    if (e->a.online && online_flush(&e->ol, err, sizeof(err)) != 0) {
        log_err("eval: %s", err);
        return EX_SOFTWARE;
    }
    e->elapsed = clock_seconds() - e->t0;
    if (!e->a.quiet && isatty(STDERR_FILENO))
        fputc('\n', stderr);
    if (e->a.online && e->ol.base != NULL)
        e->thr = e->ol.base->threshold;
    if (metrics_compute(e->res.score, e->res.spam, e->res.n, e->thr, &e->ms) != 0
            || metrics_roc(e->res.score, e->res.spam, e->res.n, &e->roc, &e->n_roc) != 0)
        return cli_oom("eval");
    if (e->a.online && (e->steps = learning_curve(&e->res, e->thr, &e->n_steps)) == NULL)
        return cli_oom("eval");
    return 0;
}

static void
eval_print_json(const struct eval *e)
{
    const struct metrics_summary *ms = &e->ms;
    int online = e->a.online;

    printf("{\"mode\":\"%s\",\"messages\":%zu,\"ham\":%zu,\"spam\":%zu,"
           "\"auc\":%.6f,\"one_minus_auc_pct\":%.4f,\"lam_pct\":%.4f,"
           "\"recall_at_0.1pct_fpr\":%.4f,\"recall_at_1pct_fpr\":%.4f,"
           "\"threshold\":%.4f,\"fpr\":%.6f,\"fnr\":%.6f,\"fp\":%zu,\"fn\":%zu,"
           "\"seconds\":%.3f,\"messages_per_second\":%.1f",
           online ? "online" : "offline", ms->n, ms->n_ham, ms->n_spam, ms->auc,
           ms->one_minus_auc_pct, ms->lam_pct, ms->recall_01, ms->recall_1, e->thr, ms->fpr,
           ms->fnr, ms->fp, ms->fn, e->elapsed, ms->n / e->elapsed);
    if (online)
        printf(",\"retrains\":%u,\"retrain_seconds\":%.3f,\"refits\":%u,"
               "\"refit_seconds\":%.3f,\"steps\":%llu", e->ol.n_retrains, e->ol.retrain_s,
               e->ol.n_refits, e->ol.refit_s, (unsigned long long) e->ol.n_steps);
    printf("}\n");
}

static void
eval_print_text(const struct eval *e)
{
    const struct metrics_summary *ms = &e->ms;
    int online = e->a.online;

    printf("%s evaluation: %zu messages (%zu ham, %zu spam)\n",
           online ? "online" : "offline", ms->n, ms->n_ham, ms->n_spam);
    printf("  (1-AUC)%%        %.4f\n", ms->one_minus_auc_pct);
    printf("  lam%%            %.4f\n", ms->lam_pct);
    printf("  recall@0.1%%FPR  %.2f%%\n", 100 * ms->recall_01);
    printf("  recall@1%%FPR    %.2f%%\n", 100 * ms->recall_1);
    printf("  at threshold %.3f: FPR %.3f%% (%zu ham), FNR %.3f%% (%zu spam)\n",
           e->thr, 100 * ms->fpr, ms->fp, 100 * ms->fnr, ms->fn);
    printf("  %.1f s, %.0f messages/s (reading, extraction, scoring%s)\n", e->elapsed,
           ms->n / e->elapsed, online ? ", learning" : "");
    if (online)
        printf("  learning: %u base retrains (%.1f s), %llu online steps, %u user "
               "refits (%.1f s)\n", e->ol.n_retrains, e->ol.retrain_s,
               (unsigned long long) e->ol.n_steps, e->ol.n_refits, e->ol.refit_s);
}

/* --svg and --tsv.  Returns an exit code. */
static int
eval_write_plots(const struct eval *e)
{
    const struct metrics_summary *ms = &e->ms;
    int online = e->a.online;
    char title[256];
    struct evalplot pl = {
        .title = title, .label = online ? "spamshift online" : "spamshift",
        .roc = e->roc, .n_roc = e->n_roc, .auc = ms->auc, .n_ham = ms->n_ham,
        .curve = e->steps, .n_curve = e->n_steps,
    };

    snprintf(title, sizeof(title), "spamshift eval%s: %zu messages (%zu ham, %zu spam), "
             "(1-AUC)%% %.3f, lam%% %.3f", online ? " --online" : "", ms->n, ms->n_ham,
             ms->n_spam, ms->one_minus_auc_pct, ms->lam_pct);
    for (int k = 0; k < 2; k++) {
        const char *path = k ? e->a.tsv : e->a.svg;
        FILE *fp;

        if (path == NULL)
            continue;
        if ((fp = fopen(path, "w")) == NULL
                || (k ? evalplot_tsv(fp, &pl) : evalplot_svg(fp, &pl)) != 0
                || fclose(fp) != 0) {
            log_err("eval: cannot write %s: %s", path, strerror(errno));
            return EX_CANTCREAT;
        }
    }
    return 0;
}

/* --scores.  Returns an exit code. */
static int
eval_write_scores(const struct eval *e)
{
    const char *scores = e->a.scores;
    FILE *fp;
    int bad;

    if (scores == NULL)
        return 0;
    fp = fopen(scores, "w");
    bad = fp == NULL;
    for (size_t i = 0; !bad && i < e->res.n; i++)
        bad = fprintf(fp, "%s %.6f\n", e->res.spam[i] ? "spam" : "ham",
                      (double) e->res.score[i]) < 0;
    if (fp != NULL && fclose(fp) != 0)
        bad = 1;
    if (bad) {
        log_err("eval: cannot write %s: %s", scores, strerror(errno));
        return EX_CANTCREAT;
    }
    return 0;
}

/* The results on stdout and in the files asked for.  Returns an exit code. */
static int
eval_report(const struct eval *e)
{
    int rc;

    if (e->a.json)
        eval_print_json(e);
    else
        eval_print_text(e);
    if ((rc = eval_write_plots(e)) != 0 || (rc = eval_write_scores(e)) != 0)
        return rc;
    if (e->n_failed) {
        log_err("eval: %zu inputs could not be read (named above); measured without them",
                e->n_failed);
        return EXIT_PARTIAL;
    }
    return 0;
}

static void
eval_args_free(struct eval_args *a)
{
    g_free(a->model_path); g_free(a->db_path); g_free(a->user_arg); g_free(a->svg);
    g_free(a->tsv); g_free(a->scores);
    g_strfreev(a->tr_ham); g_strfreev(a->tr_spam); g_strfreev(a->tr_index);
    g_strfreev(a->te_ham); g_strfreev(a->te_spam); g_strfreev(a->te_index);
}

static void
eval_close(struct eval *e)
{
    if (e->ol_open)
        online_close(&e->ol);
    store_close(e->s);
    if (e->tmpdir != NULL) {
        const char *sfx[] = { "store.db", "store.db-wal", "store.db-shm", "base.bin" };
        for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
            char *p = g_build_filename(e->tmpdir, sfx[i], NULL);
            g_unlink(p);
            g_free(p);
        }
        g_rmdir(e->tmpdir);
        g_free(e->tmpdir);
    }
    user_model_free(e->um);
    model_free(e->m);
    extract_set_clear(&e->set);
    input_list_free(&e->train);
    input_list_free(&e->test);
    free(e->res.score);
    free(e->res.spam);
    free(e->roc);
    free(e->steps);
    g_free(e->user);
    eval_args_free(&e->a);
}

int
cmd_eval(int argc, char **argv)
{
    struct eval e = { 0 };
    int rc;

    if ((rc = eval_parse(&e.a, &argc, &argv)) == 0
            && (rc = eval_open(&e, argc, argv)) == 0
            && (rc = eval_loop(&e)) == 0)
        rc = eval_report(&e);
    eval_close(&e);
    return rc;
}
