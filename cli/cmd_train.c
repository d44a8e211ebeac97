/*
 * cmd_train.c - `spamshift train`: build a base model from labelled mail.
 *
 *   spamshift train -o MODEL [--group NAME] --ham PATH... --spam PATH...
 *                   [--index FILE]... [--from-db DB] [--seed N] [--epochs N]
 *                   [--target-fpr P] [--folds K] [--no-crossfit]
 *                   [--count-weight auto|W] [-j N] [-q]
 *
 * Reads and extracts on all cores (order-preserving, so the model depends only
 * on the inputs and the seed), cross-fits the verdict threshold and the weight
 * W of the token-count term over groups of the inputs (crossfit.h: each input's
 * group is the directory holding it, or the --group named before it), trains on
 * everything, and writes the model atomically.  The network's weights do not
 * depend on the cross-fitting: only the threshold field and, when W > 0, the
 * count table (and the pool representations, which see it) do.  W = 0 writes
 * no table: the model is byte for byte the one a build without counts writes.
 */
#include "config.h"

#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "commands.h"
#include "extract.h"
#include "fbpool.h"
#include "crossfit.h"
#include "input.h"
#include "log.h"
#include "model.h"
#include "oppoint.h"
#include "userdb.h"
#include "clock.h"

static void
on_epoch(void *arg, uint32_t epoch, uint32_t epochs, double loss)
{
    if (isatty(STDERR_FILENO))
        fprintf(stderr, "\rtraining: epoch %u/%u, loss %.5f%s", epoch, epochs, loss,
                epoch == epochs ? "\n" : "");
}

/* One --ham, --spam or --index argument and the group it is held out with. */
struct train_input {
    int kind;               /* INPUT_LABEL_HAM, INPUT_LABEL_SPAM or TRAIN_INDEX */
    char *path;
    int group;              /* index into train_args.groups */
};

#define TRAIN_INDEX 2

struct train_args {
    gchar *out, *from_db, *count_weight;
    GArray *inputs;         /* struct train_input, in command-line order */
    GPtrArray *groups;      /* group names (char *), first use first */
    int cur_group;          /* the last --group, or -1: each input's directory */
    gint64 seed;
    gint epochs, jobs, folds;
    gdouble target;
    gboolean quiet, no_crossfit;
};

/* GOption calls the input options back in command-line order, which is what
 * ties an input to the --group before it.  Set by train_parse() while it runs. */
static struct train_args *train_parsing;

static int
train_group_id(struct train_args *a, const char *name)
{
    for (guint i = 0; i < a->groups->len; i++)
        if (strcmp(a->groups->pdata[i], name) == 0)
            return (int)i;
    g_ptr_array_add(a->groups, g_strdup(name));
    return (int)a->groups->len - 1;
}

static gboolean
train_opt_input(const gchar *name, const gchar *value, gpointer data, GError **error)
{
    struct train_args *a = train_parsing;
    struct train_input in;

    (void)data;
    (void)error;
    in.kind = strcmp(name, "--ham") == 0 ? INPUT_LABEL_HAM
              : strcmp(name, "--spam") == 0 ? INPUT_LABEL_SPAM : TRAIN_INDEX;
    in.path = g_strdup(value);
    if (a->cur_group >= 0)
        in.group = a->cur_group;
    else {
        /* The directory holding the input: enron1/ham and enron1/spam are one
         * group, enron1. */
        gchar *trim = g_strdup(value), *dir;
        size_t l = strlen(trim);

        while (l > 1 && trim[l - 1] == '/')
            trim[--l] = '\0';
        dir = g_path_get_dirname(trim);
        in.group = train_group_id(a, dir);
        g_free(dir);
        g_free(trim);
    }
    g_array_append_val(a->inputs, in);
    return TRUE;
}

static gboolean
train_opt_group(const gchar *name, const gchar *value, gpointer data, GError **error)
{
    (void)name;
    (void)data;
    if (*value == '\0') {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--group needs a name");
        return FALSE;
    }
    train_parsing->cur_group = train_group_id(train_parsing, value);
    return TRUE;
}

/* What the command holds while it runs; train_close() frees it. */
struct train {
    struct train_args a;
    struct input_list list;
    struct extract_set set;
    struct net_example *ex;
    struct fbpool pool;
    struct store *db;
    struct model *m;
    int *group;             /* each example's group (-1: feedback, never held out) */
    struct crossfit_result cf;
    int crossfit;           /* 1 when cf holds a result */
    int crossfit_skipped;   /* too little ham for the target */
    float grid[CROSSFIT_MAX_WEIGHTS];   /* the W cross-fitting tries */
    size_t n_grid;
    int count_fixed;        /* --count-weight W: grid = { W } */
    size_t n_ham, n_spam, n_bad;
    double t0, t_read;
};

static int
train_parse(struct train_args *a, int *argc, char ***argv)
{
    GOptionEntry entries[] = {
        { "output", 'o', 0, G_OPTION_ARG_FILENAME, &a->out, "write the model to FILE", "FILE" },
        { "ham", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)train_opt_input,
          "ham: a message file, directory (recursive, Maildir) or mbox; repeatable", "PATH" },
        { "spam", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)train_opt_input,
          "spam: a message file, directory or mbox; repeatable", "PATH" },
        { "index", 0, G_OPTION_FLAG_FILENAME, G_OPTION_ARG_CALLBACK, (void *)train_opt_input,
          "TREC index file (\"spam PATH\" lines, paths relative to it); repeatable", "FILE" },
        { "group", 0, 0, G_OPTION_ARG_CALLBACK, (void *)train_opt_group,
          "the inputs after this one form group NAME for cross-fitting the threshold "
          "(default: each input's directory)", "NAME" },
        { "target-fpr", 0, 0, G_OPTION_ARG_DOUBLE, &a->target,
          "false-positive rate the cross-fitted threshold meets (default 0.003)", "P" },
        { "folds", 0, 0, G_OPTION_ARG_INT, &a->folds,
          "folds when the inputs form one group (default 5)", "K" },
        { "no-crossfit", 0, 0, G_OPTION_ARG_NONE, &a->no_crossfit,
          "keep the fixed threshold 0.5 (no cross-fitting: one training; no count "
          "term unless --count-weight W)", NULL },
        { "count-weight", 0, 0, G_OPTION_ARG_STRING, &a->count_weight,
          "weight of the token-count term: auto (default: cross-fitted from 0, 0.1, "
          "0.2, 0.4) or a fixed W (0: none)", "auto|W" },
        { "from-db", 0, 0, G_OPTION_ARG_FILENAME, &a->from_db,
          "also train on every user's labelled feedback in this store", "DB" },
        { "seed", 0, 0, G_OPTION_ARG_INT64, &a->seed, "random seed (default 1)", "N" },
        { "epochs", 0, 0, G_OPTION_ARG_INT, &a->epochs, "training epochs (default: the model's)", "N" },
        { "jobs", 'j', 0, G_OPTION_ARG_INT, &a->jobs, "reader threads (default: all cores)", "N" },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &a->quiet, "print no summary", NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };

    int rc;

    a->seed = 1;
    a->target = OPPOINT_TARGET_DEFAULT;
    a->folds = 5;
    a->cur_group = -1;
    a->inputs = g_array_new(FALSE, FALSE, sizeof(struct train_input));
    a->groups = g_ptr_array_new_with_free_func(g_free);
    train_parsing = a;
    rc = cli_parse("train", "- train a base model", entries, argc, argv);
    train_parsing = NULL;
    return rc;
}

/* The inputs collected and extracted in today's order (every --ham, then every
 * --spam, then every --index: the order the weights depend on), one input at
 * a time so that each message's group is known.  Returns an exit code. */
static int
train_read(struct train *t)
{
    const struct train_args *a = &t->a;
    static const int kinds[] = { INPUT_LABEL_HAM, INPUT_LABEL_SPAM, TRAIN_INDEX };
    GArray *grp = g_array_new(FALSE, FALSE, sizeof(int));
    int rc = 0;

    for (size_t k = 0; k < 3 && rc == 0; k++)
        for (guint i = 0; i < a->inputs->len && rc == 0; i++) {
            const struct train_input *in = &g_array_index(a->inputs, struct train_input, i);
            size_t from = t->list.n, before = t->set.n;

            if (in->kind != kinds[k])
                continue;
            if ((in->kind == TRAIN_INDEX ? input_collect_index(&t->list, in->path)
                 : input_collect(&t->list, in->path, in->kind)) != 0
                || extract_sources(&t->list, from, t->list.n, cli_jobs(a->jobs),
                                   !a->quiet, &t->set) != 0) {
                rc = cli_oom("train");
                break;
            }
            for (size_t m = before; m < t->set.n; m++)
                g_array_append_val(grp, in->group);
        }
    t->group = (int *)(void *)g_array_free(grp, FALSE);
    return rc;
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
    if (a->inputs->len == 0 && a->from_db == NULL)
        return cli_usage("train", "nothing to train on: give --ham PATH and --spam PATH, "
                         "--index FILE or --from-db DB");
    if (!oppoint_target_valid(a->target))
        return cli_usage("train", "--target-fpr must be in [%g, %g], got %g",
                         OPPOINT_TARGET_MIN, OPPOINT_TARGET_MAX, a->target);
    if (a->folds < 2 || a->folds > 16)
        return cli_usage("train", "--folds must be 2 to 16, got %d", a->folds);
    if (a->count_weight == NULL || strcmp(a->count_weight, "auto") == 0) {
        static const float grid[] = CROSSFIT_WEIGHTS_DEFAULT;

        memcpy(t->grid, grid, sizeof(grid));
        t->n_grid = CROSSFIT_N_WEIGHTS_DEFAULT;
    } else {
        char *end;
        double w = strtod(a->count_weight, &end);

        if (end == a->count_weight || *end != '\0' || !(w >= 0)
            || !(w <= MODEL_COUNT_WEIGHT_MAX))
            return cli_usage("train", "--count-weight must be auto or a number in [0, %g], "
                             "got \"%s\"", (double)MODEL_COUNT_WEIGHT_MAX, a->count_weight);
        t->grid[0] = (float)w;
        t->n_grid = 1;
        t->count_fixed = 1;
    }
    if ((rc = train_read(t)) != 0)
        return rc;
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

/* The threshold cross-fitted over the groups (crossfit.h), into t->cf.
 * Returns an exit code. */
static int
train_crossfit(struct train *t, const struct model_train_opts *opts)
{
    const struct train_args *a = &t->a;
    size_t n = t->set.n + t->pool.n;
    int *grp = malloc((n ? n : 1) * sizeof(*grp));
    char err[256];
    int rc;

    if (grp == NULL)
        return cli_oom("train");
    /* Too little ham to place a threshold at the target: the held-out ham
     * would put it just above their highest score, whatever the target (the
     * same rule as a user's feedback, oppoint.h). */
    if ((double)(t->n_ham - t->pool.n_ham) * a->target < OPPOINT_FB_MIN_FP) {
        free(grp);
        t->crossfit_skipped = 1;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        grp[i] = i < t->set.n ? t->group[i] : -1;
    if (!a->quiet && isatty(STDERR_FILENO))
        fprintf(stderr, "cross-fitting the threshold over %u group%s\n", a->groups->len,
                a->groups->len == 1 ? " (folds)" : "s");
    rc = crossfit_threshold(t->ex, n, grp, (const char *const *)a->groups->pdata,
                            a->groups->len, opts, a->target, (unsigned)a->folds,
                            t->grid, t->n_grid, &t->cf, err, sizeof(err));
    free(grp);
    if (rc != 0) {
        log_err("train: %s", err);
        return EX_SOFTWARE;
    }
    t->crossfit = 1;
    if (t->cf.threshold < 0)
        log_warn("train: no ham could be held out for cross-fitting: threshold stays %.3f",
                 (double)opts->threshold);
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
    int rc;

    model_train_opts_default(&opts);
    opts.net.seed = (uint64_t)a->seed;
    if (a->epochs > 0)
        opts.net.epochs = (uint32_t)a->epochs;
    if (!a->quiet)
        opts.net.progress = on_epoch;
    if (!a->no_crossfit && (rc = train_crossfit(t, &opts)) != 0)
        return rc;
    if (t->crossfit && t->cf.threshold >= 0) {
        opts.threshold = t->cf.threshold;
        opts.count_weight = t->cf.count_weight;
    } else if (t->count_fixed)
        opts.count_weight = t->grid[0];
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

static double
pct(size_t k, size_t n)
{
    return n ? 100.0 * (double)k / (double)n : 0.0;
}

static void
train_report_crossfit(const struct train *t)
{
    const struct crossfit_result *r = &t->cf;

    printf("threshold cross-fitted over %zu %s for target FPR %.3g%%: held-out FPR "
           "%.2f%% (%zu of %zu ham), FNR %.2f%% (%zu of %zu spam); %.1f s\n",
           r->n_groups, r->kfold ? "folds" : "groups", 100 * t->a.target,
           pct(r->fp, r->n_ham), r->fp, r->n_ham, pct(r->fn, r->n_spam), r->fn,
           r->n_spam, r->seconds);
    if (r->n_weights > 1 || (r->n_weights == 1 && r->wt[0].w > 0)) {
        printf("count weight %g chosen by cross-fitting (held-out FNR at the target, "
               "(1-AUC)%%):", (double)r->count_weight);
        for (size_t w = 0; w < r->n_weights; w++)
            printf("%s W %g: %.2f%%, %.3f", w ? ";" : "", (double)r->wt[w].w,
                   pct(r->wt[w].fn, r->n_spam), r->wt[w].one_minus_auc_pct);
        printf("\n");
    }
    for (size_t g = 0; g < r->n_groups; g++) {
        const struct crossfit_group *cg = &r->g[g];

        if (cg->skipped)
            printf("  %s: not held out (the other groups lack ham or spam)\n", cg->name);
        else if (cg->n_ham + cg->n_spam > 0)
            printf("  %s: %zu ham, %zu spam held out: FPR %.2f%%, FNR %.2f%%\n", cg->name,
                   cg->n_ham, cg->n_spam, pct(cg->fp, cg->n_ham), pct(cg->fn, cg->n_spam));
    }
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
        if (m->count_weight > 0)
            printf("token-count term: weight %g, %u decisive ids (format %d)\n",
                   (double)m->count_weight, m->counts.n, MODEL_FORMAT_VERSION);
        else
            printf("token-count term: none (format %d)\n", MODEL_FORMAT_NO_COUNTS);
        if (t->crossfit)
            train_report_crossfit(t);
        else if (t->crossfit_skipped)
            printf("threshold not cross-fitted: %zu ham is too little for target FPR "
                   "%.3g%% (it takes %.0f)\n", t->n_ham - t->pool.n_ham, 100 * a->target,
                   ceil(OPPOINT_FB_MIN_FP / a->target));
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
    g_free(t->a.count_weight);
    g_free(t->a.out);
    crossfit_free(&t->cf);
    g_free(t->group);
    if (t->a.inputs != NULL) {
        for (guint i = 0; i < t->a.inputs->len; i++)
            g_free(g_array_index(t->a.inputs, struct train_input, i).path);
        g_array_free(t->a.inputs, TRUE);
    }
    if (t->a.groups != NULL)
        g_ptr_array_free(t->a.groups, TRUE);
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
