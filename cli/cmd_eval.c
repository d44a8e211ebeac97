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

int
cmd_eval(int argc, char **argv)
{
    gchar *model_path = NULL, *db_path = NULL, *user_arg = NULL, *svg = NULL, *tsv = NULL;
    gchar *scores = NULL;
    gchar **tr_ham = NULL, **tr_spam = NULL, **tr_index = NULL;
    gchar **te_ham = NULL, **te_spam = NULL, **te_index = NULL;
    gboolean online = FALSE, json = FALSE, quiet = FALSE;
    gint jobs = 0, refit_every = -1, retrain_first = -1;
    gint64 seed = 1;
    gdouble growth = 0, step = -1;
    GOptionEntry entries[] = {
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path,
          "score with this base model (offline: instead of training one)", "MODEL" },
        { "train-ham", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &tr_ham, "offline training ham", "PATH" },
        { "train-spam", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &tr_spam, "offline training spam", "PATH" },
        { "train-index", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &tr_index,
          "offline training set as a TREC index", "FILE" },
        { "test-ham", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &te_ham, "test ham", "PATH" },
        { "test-spam", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &te_spam, "test spam", "PATH" },
        { "test-index", 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &te_index,
          "test set as a TREC index (online: in its order)", "FILE" },
        { "online", 0, 0, G_OPTION_ARG_NONE, &online,
          "classify each test message, then learn its true label", NULL },
        { "user", 0, 0, G_OPTION_ARG_STRING, &user_arg,
          "online: learn as this user (default \"eval\"); offline: score with the "
          "user's model from --db", "ADDRESS" },
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &db_path,
          "the store (online default: a temporary one, removed afterwards)", "DB" },
        { "refit-every", 0, 0, G_OPTION_ARG_INT, &refit_every,
          "online: refit the user every N messages (default 10 with -m, else 0: never)", "N" },
        { "retrain-first", 0, 0, G_OPTION_ARG_INT, &retrain_first,
          "online without -m: first base retrain after N messages "
          "(default 50)", "N" },
        { "retrain-growth", 0, 0, G_OPTION_ARG_DOUBLE, &growth,
          "online without -m: each base retrain after this many times the messages "
          "of the last (default 1.1)", "X" },
        { "step", 0, 0, G_OPTION_ARG_DOUBLE, &step,
          "online without -m: between retrains, a learning step of this rate on the "
          "linear weights of each message not already right (default 0.1; 0 off)", "LR" },
        { "svg", 0, 0, G_OPTION_ARG_FILENAME, &svg, "write the ROC (and learning) curve", "FILE" },
        { "tsv", 0, 0, G_OPTION_ARG_FILENAME, &tsv, "write the raw curve points", "FILE" },
        { "scores", 0, 0, G_OPTION_ARG_FILENAME, &scores,
          "write each test message's label and score (\"spam 0.981234\"), in the order "
          "scored: the lines bench/trec/drive.sh writes", "FILE" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "print the results as one JSON object", NULL },
        { "seed", 0, 0, G_OPTION_ARG_INT64, &seed, "training seed (default 1)", "N" },
        { "jobs", 'j', 0, G_OPTION_ARG_INT, &jobs, "reader threads (default: all cores)", "N" },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "no progress", NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };
    GOptionContext *ctx = g_option_context_new("- measure accuracy and speed");
    GError *gerr = NULL;
    struct input_list train = { 0 }, test = { 0 };
    struct extract_set set = { 0 };
    struct results res = { 0 };
    struct model *m = NULL;
    struct store *s = NULL;
    struct user_model *um = NULL;
    struct online ol;
    int ol_open = 0;
    struct metrics_summary ms;
    struct metrics_point *roc = NULL;
    size_t n_roc = 0, n_steps = 0, n_failed = 0;
    struct evalplot_step *steps = NULL;
    char err[512], *tmpdir = NULL, *user = NULL;
    double t0, elapsed, thr = 0.5;
    unsigned nj;
    int rc = 0;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
        log_err("eval: %s (see spamshift eval --help)", gerr->message);
        g_error_free(gerr);
        rc = EX_USAGE;
        goto done;
    }
    nj = cli_jobs(jobs);
    if (argc > 1) {
        log_err("eval: unexpected argument \"%s\": give inputs with --test-ham, "
                "--test-spam or --test-index", argv[1]);
        rc = EX_USAGE;
        goto done;
    }
    if (!te_ham && !te_spam && !te_index) {
        log_err("eval: nothing to test on: give --test-ham and --test-spam, or --test-index");
        rc = EX_USAGE;
        goto done;
    }
    if (online && (tr_ham || tr_spam || tr_index)) {
        log_err("eval: --online learns from the test messages themselves: no --train-*");
        rc = EX_USAGE;
        goto done;
    }
    if (!online && model_path == NULL && !tr_ham && !tr_spam && !tr_index) {
        log_err("eval: offline needs -m MODEL or a training set (--train-ham/--train-spam "
                "or --train-index)");
        rc = EX_USAGE;
        goto done;
    }
    if (!online && model_path != NULL && (tr_ham || tr_spam || tr_index)) {
        log_err("eval: give either -m MODEL or a training set, not both");
        rc = EX_USAGE;
        goto done;
    }
    if (!online && (user_arg != NULL) != (db_path != NULL)) {
        log_err("eval: offline, --user and --db go together (score with that user's model)");
        rc = EX_USAGE;
        goto done;
    }
    if (user_arg != NULL && (user = userdb_user_key("eval", user_arg)) == NULL) {
        rc = EX_USAGE;
        goto done;
    }
    if (collect(&test, te_ham, te_spam, te_index) != 0
            || collect(&train, tr_ham, tr_spam, tr_index) != 0)
        goto oom;
    if (test.errors || train.errors) {
        log_err("eval: some inputs are missing (named above)");
        rc = EX_NOINPUT;
        goto done;
    }
    if (test.n == 0) {
        log_err("eval: the test set holds no messages");
        rc = EX_DATAERR;
        goto done;
    }

    t0 = clock_seconds();
    if (model_path != NULL && model_load(model_path, &m, err, sizeof(err)) != 0) {
        log_err("eval: %s", err);
        rc = access(model_path, F_OK) != 0 ? EX_NOINPUT : EX_CONFIG;
        goto done;
    }
    if (!online && m == NULL) {
        struct model_train_opts mo;
        struct net_example *ex;
        size_t nh = 0, ns = 0;

        if (extract_sources(&train, 0, train.n, nj, !quiet, &set) != 0)
            goto oom;
        n_failed += set.failed;
        if ((ex = calloc(set.n ? set.n : 1, sizeof(*ex))) == NULL)
            goto oom;
        for (size_t i = 0; i < set.n; i++) {
            ex[i] = (struct net_example) { set.v[i].ids, set.v[i].n,
                                           set.v[i].label == INPUT_LABEL_SPAM };
            ex[i].spam ? ns++ : nh++;
        }
        if (nh == 0 || ns == 0) {
            free(ex);
            log_err("eval: the training set needs ham and spam, got %zu ham and %zu spam",
                    nh, ns);
            rc = EX_DATAERR;
            goto done;
        }
        model_train_opts_default(&mo);
        mo.net.seed = (uint64_t) seed;
        m = model_train(ex, set.n, &mo, err, sizeof(err));
        free(ex);
        extract_set_clear(&set);
        if (m == NULL) {
            log_err("eval: training: %s", err);
            rc = EX_SOFTWARE;
            goto done;
        }
    }
    if (!online && user != NULL) {
        int st;

        if ((rc = userdb_open("eval", db_path, STORE_RDONLY, -1, &s)) != 0)
            goto done;
        st = refit_load_user_model(s, m, user, &um, err, sizeof(err));
        if (st != STORE_OK && st != STORE_NOTFOUND) {
            log_err("eval: %s", err);
            rc = userdb_exit(st);
            goto done;
        }
        if (st == STORE_NOTFOUND)
            log_warn("eval: %s has no model for this base model; scoring with the "
                        "global head", user);
    }
    if (online) {
        struct online_opts oo;
        char *own = NULL, *dbp;

        if (db_path == NULL) {
            if ((tmpdir = g_dir_make_tmp("spamshift-eval-XXXXXX", NULL)) == NULL) {
                log_err("eval: cannot create a temporary directory: %s", strerror(errno));
                rc = EX_CANTCREAT;
                goto done;
            }
            dbp = g_build_filename(tmpdir, "store.db", NULL);
        } else
            dbp = g_strdup(db_path);
        rc = userdb_open("eval", dbp, STORE_CREATE, -1, &s);
        g_free(dbp);
        if (rc != 0)
            goto done;
        online_opts_default(&oo);
        /* Refits solve over all of the user's feedback: worth it on top of a
         * fixed base; with an own base the retrains do the learning. */
        oo.refit_every = refit_every >= 0 ? (unsigned) refit_every : m ? 10 : 0;
        if (retrain_first > 0)
            oo.retrain_first = (uint64_t) retrain_first;
        if (growth != 0) {
            if (growth < 1.01 || growth > 100) {
                log_err("eval: --retrain-growth must be between 1.01 and 100, got %g", growth);
                rc = EX_USAGE;
                goto done;
            }
            oo.retrain_growth = growth;
        }
        oo.seed = (uint64_t) seed;
        oo.save_base = 0;
        /* A temporary store is removed unread: what is learned stays in memory. */
        oo.store_feedback = db_path != NULL;
        if (step > 1) {
            log_err("eval: --step must be from 0 to 1, got %g", step);
            rc = EX_USAGE;
            goto done;
        }
        oo.step_lr = step >= 0 ? (float) step : 0.1f;
        if (m == NULL)
            own = tmpdir ? g_build_filename(tmpdir, "base.bin", NULL)
                         : g_strdup_printf("%s.base.bin", db_path);
        if (online_open(&ol, s, user ? user : "eval", model_path, own, &oo,
                        err, sizeof(err)) != 0) {
            g_free(own);
            log_err("eval: %s", err);
            rc = EX_SOFTWARE;
            goto done;
        }
        g_free(own);
        ol_open = 1;
    }
    if (m != NULL)
        thr = m->threshold;

    for (size_t from = 0; from < test.n; from += CHUNK) {
        size_t to = from + CHUNK < test.n ? from + CHUNK : test.n;

        if (extract_sources(&test, from, to, nj, 0, &set) != 0)
            goto oom;
        n_failed += set.failed;
        for (size_t i = 0; i < set.n; i++) {
            const struct extract_msg *x = &set.v[i];
            int spam = x->label == INPUT_LABEL_SPAM;
            float p;

            if (x->label == INPUT_LABEL_NONE) {
                log_err("eval: %s has no label", x->name);
                rc = EX_DATAERR;
                goto done;
            }
            if (online) {
                p = online_score(&ol, x->ids, x->n);
                if (online_learn(&ol, x->digest, x->ids, x->n, spam, err, sizeof(err)) != 0) {
                    log_err("eval: learning %s: %s", x->name, err);
                    rc = EX_SOFTWARE;
                    goto done;
                }
            } else
                p = adapt_score(m, um, x->ids, x->n);
            if (results_add(&res, p, spam) != 0)
                goto oom;
        }
        extract_set_clear(&set);
        if (!quiet && isatty(STDERR_FILENO))
            fprintf(stderr, "\reval: %zu/%zu messages", to, test.n);
    }
    if (online && online_flush(&ol, err, sizeof(err)) != 0) {
        log_err("eval: %s", err);
        rc = EX_SOFTWARE;
        goto done;
    }
    elapsed = clock_seconds() - t0;
    if (!quiet && isatty(STDERR_FILENO))
        fputc('\n', stderr);
    if (online && ol.base != NULL)
        thr = ol.base->threshold;

    if (metrics_compute(res.score, res.spam, res.n, thr, &ms) != 0
            || metrics_roc(res.score, res.spam, res.n, &roc, &n_roc) != 0)
        goto oom;
    if (online && (steps = learning_curve(&res, thr, &n_steps)) == NULL)
        goto oom;

    if (json) {
        printf("{\"mode\":\"%s\",\"messages\":%zu,\"ham\":%zu,\"spam\":%zu,"
               "\"auc\":%.6f,\"one_minus_auc_pct\":%.4f,\"lam_pct\":%.4f,"
               "\"recall_at_0.1pct_fpr\":%.4f,\"recall_at_1pct_fpr\":%.4f,"
               "\"threshold\":%.4f,\"fpr\":%.6f,\"fnr\":%.6f,\"fp\":%zu,\"fn\":%zu,"
               "\"seconds\":%.3f,\"messages_per_second\":%.1f",
               online ? "online" : "offline", ms.n, ms.n_ham, ms.n_spam, ms.auc,
               ms.one_minus_auc_pct, ms.lam_pct, ms.recall_01, ms.recall_1, thr, ms.fpr,
               ms.fnr, ms.fp, ms.fn, elapsed, ms.n / elapsed);
        if (online)
            printf(",\"retrains\":%u,\"retrain_seconds\":%.3f,\"refits\":%u,"
                   "\"refit_seconds\":%.3f,\"steps\":%llu", ol.n_retrains, ol.retrain_s,
                   ol.n_refits, ol.refit_s, (unsigned long long) ol.n_steps);
        printf("}\n");
    } else {
        printf("%s evaluation: %zu messages (%zu ham, %zu spam)\n",
               online ? "online" : "offline", ms.n, ms.n_ham, ms.n_spam);
        printf("  (1-AUC)%%        %.4f\n", ms.one_minus_auc_pct);
        printf("  lam%%            %.4f\n", ms.lam_pct);
        printf("  recall@0.1%%FPR  %.2f%%\n", 100 * ms.recall_01);
        printf("  recall@1%%FPR    %.2f%%\n", 100 * ms.recall_1);
        printf("  at threshold %.3f: FPR %.3f%% (%zu ham), FNR %.3f%% (%zu spam)\n",
               thr, 100 * ms.fpr, ms.fp, 100 * ms.fnr, ms.fn);
        printf("  %.1f s, %.0f messages/s (reading, extraction, scoring%s)\n", elapsed,
               ms.n / elapsed, online ? ", learning" : "");
        if (online)
            printf("  learning: %u base retrains (%.1f s), %llu online steps, %u user "
                   "refits (%.1f s)\n", ol.n_retrains, ol.retrain_s,
                   (unsigned long long) ol.n_steps, ol.n_refits, ol.refit_s);
    }
    {
        char title[256];
        struct evalplot pl = {
            .title = title, .label = online ? "spamshift online" : "spamshift",
            .roc = roc, .n_roc = n_roc, .auc = ms.auc, .n_ham = ms.n_ham,
            .curve = steps, .n_curve = n_steps,
        };
        snprintf(title, sizeof(title), "spamshift eval%s: %zu messages (%zu ham, %zu spam), "
                 "(1-AUC)%% %.3f, lam%% %.3f", online ? " --online" : "", ms.n, ms.n_ham,
                 ms.n_spam, ms.one_minus_auc_pct, ms.lam_pct);
        for (int k = 0; k < 2; k++) {
            const char *path = k ? tsv : svg;
            FILE *fp;

            if (path == NULL)
                continue;
            if ((fp = fopen(path, "w")) == NULL
                    || (k ? evalplot_tsv(fp, &pl) : evalplot_svg(fp, &pl)) != 0
                    || fclose(fp) != 0) {
                log_err("eval: cannot write %s: %s", path, strerror(errno));
                rc = EX_CANTCREAT;
                goto done;
            }
        }
    }
    if (scores != NULL) {
        FILE *fp = fopen(scores, "w");
        int bad = fp == NULL;

        for (size_t i = 0; !bad && i < res.n; i++)
            bad = fprintf(fp, "%s %.6f\n", res.spam[i] ? "spam" : "ham",
                          (double) res.score[i]) < 0;
        if (fp != NULL && fclose(fp) != 0)
            bad = 1;
        if (bad) {
            log_err("eval: cannot write %s: %s", scores, strerror(errno));
            rc = EX_CANTCREAT;
            goto done;
        }
    }
    if (n_failed) {
        log_err("eval: %zu inputs could not be read (named above); measured without them",
                n_failed);
        rc = EXIT_PARTIAL;
    }
    goto done;
oom:
    log_err("eval: out of memory");
    rc = EX_SOFTWARE;
done:
    if (ol_open)
        online_close(&ol);
    store_close(s);
    if (tmpdir != NULL) {
        const char *sfx[] = { "store.db", "store.db-wal", "store.db-shm", "base.bin" };
        for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
            char *p = g_build_filename(tmpdir, sfx[i], NULL);
            g_unlink(p);
            g_free(p);
        }
        g_rmdir(tmpdir);
        g_free(tmpdir);
    }
    user_model_free(um);
    model_free(m);
    extract_set_clear(&set);
    input_list_free(&train);
    input_list_free(&test);
    free(res.score);
    free(res.spam);
    free(roc);
    free(steps);
    g_free(user);
    g_free(model_path); g_free(db_path); g_free(user_arg); g_free(svg); g_free(tsv);
    g_free(scores);
    g_strfreev(tr_ham); g_strfreev(tr_spam); g_strfreev(tr_index);
    g_strfreev(te_ham); g_strfreev(te_spam); g_strfreev(te_index);
    g_option_context_free(ctx);
    return rc;
}
