/*
 * loo.c - the adaptation benchmark's scorer: leave one user out on Enron-Spam,
 * and old-vs-new on the SpamAssassin corpus.  For every held-out user it trains
 * the base model on the other users' mail, splits the user's mail in arrival
 * order into history (first half: all of it unlabelled, its first k labelled)
 * and test (second half), fits the user's model for each k and writes one line
 * per (user, k, row, test message): the score as a logit, so that the metrics
 * script (bench/adapt/run.py) computes AUC without float ties.  It also writes
 * the file lists the script feeds to bogofilter, so every filter sees the same
 * split.
 *
 *   loo --enron DIR | --sa DIR  --out DIR  [--ks 0,10,50,200] [--users 1,3]
 *       [--lambda L --mu M --resid-l2 R --clip C --pseudo W --pseudo-conf P
 *        --pseudo-max N --pseudo-self G --pseudo-l2 R --pseudo-keep N --dual-max N
 *        --unl-max N --cv-fb-max N --cv-pool-max N] [--rows adapted,target-only,...]
 *       [--labels first|spread|hardest] [--time-refit 1]
 *
 * --labels chooses which k history messages are labelled (the benchmark's
 * protocol, and run.py's bogofilter rows, use first): first, the first k in
 * arrival order; spread, k spaced evenly over the whole history; hardest, the
 * k the base model ranks most wrongly (lowest margin: spam with the lowest
 * logits, ham with the highest), the corrections a user would make by moving
 * mail in and out of Junk.  The unlabelled mail is the history either way.
 *
 * --rows restricts the output to the rows named (base is always written), for
 * quick parameter sweeps.  For every k > 0 it also reports on stderr how many
 * of the k learned messages the base and the user's model misclassify (a
 * learned message should score as learned).
 *
 * Rows: base, target-only (a model trained on the k labels alone), adapted,
 * adapted-no-pseudo (the same without pseudo-labels), reweight-only, head-only,
 * resid-only.  Not part of `make check`: it reads the
 * corpora given on the command line and takes minutes.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "adapt.h"
#include "features.h"
#include "model.h"
#include "corpus.h"

#define MAX_USERS 6

struct row {
    const char *name;
    int reweight, head, resid, pseudo;
};

/* --labels hardest: the base model's margin per history message, for qsort. */
static const double *label_margin;

static int
cmp_margin(const void *a, const void *b)
{
    double x = label_margin[*(const size_t *) a], y = label_margin[*(const size_t *) b];

    return (x > y) - (x < y);
}

static int
cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *) a, y = *(const size_t *) b;

    return (x > y) - (x < y);
}

/* The indices into the history (in arrival order) of the k labelled messages. */
static void
pick_labels(const char *how, const struct model *base, const struct adapt_example *hist,
            size_t n_hist, size_t k, size_t *pick)
{
    size_t i;

    if (strcmp(how, "spread") == 0) {
        for (i = 0; i < k; i++)
            pick[i] = (2 * i + 1) * n_hist / (2 * k);
    } else if (strcmp(how, "hardest") == 0) {
        double *m = malloc((n_hist ? n_hist : 1) * sizeof(double));
        size_t *ord = malloc((n_hist ? n_hist : 1) * sizeof(size_t));

        if (m == NULL || ord == NULL)
            corpus_die("out of memory");
        for (i = 0; i < n_hist; i++) {
            double l = adapt_logit(base, NULL, hist[i].h, hist[i].z, hist[i].ids, hist[i].n);

            m[i] = hist[i].spam ? l : -l;
            ord[i] = i;
        }
        label_margin = m;
        qsort(ord, n_hist, sizeof(size_t), cmp_margin);
        memcpy(pick, ord, k * sizeof(size_t));
        qsort(pick, k, sizeof(size_t), cmp_size);
        free(m);
        free(ord);
    } else {
        for (i = 0; i < k; i++)
            pick[i] = i;
    }
}

/* pseudo: pseudo-labelled unlabelled mail joins the feedback (adapt.h). */
static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;

    return (x > y) - (x < y);
}

/* The continual case with the fit cache a refit keeps in the store (struct
 * adapt_prep): the user learns the first 200 messages one at a time, each
 * learn followed by a refit with the defaults, the reservoir unchanged (a
 * refit for new feedback, as after a move to Junk).  Reports this thread's
 * CPU per refit over k = 1..10, 11..50 and 51..200 (median, mean, max), how
 * many of them cross-validated, and the cold refit at k = 0 that computed the
 * cache.  Then, at k = 10, 50 and 200, the median of 7 refits each from a copy
 * of the cache as it stood after k - 1. */
static void
time_continual(const struct model *base, const char *uname, const struct adapt_example *fb,
               size_t n_unl, const struct adapt_example *unl, const struct adapt_opts *o)
{
    static const struct { size_t lo, hi; } range[] = { { 1, 10 }, { 11, 50 }, { 51, 200 } };
    double cpu[201], cold;
    int cv[201];
    struct adapt_prep prep;
    size_t k, ri;

    memset(&prep, 0, sizeof(prep));
    for (k = 0; k <= 200; k++) {
        struct user_model *um = NULL;
        struct adapt_fit_stats st;
        double c0;

        if (k == 10 || k == 50 || k == 200) {
            /* copies of the cache after k - 1 labels: 7 timed refits at k */
            size_t len;
            void *blob = adapt_prep_encode(&prep, &len);
            double t[7];
            int rep, cvs = 0;

            if (blob == NULL)
                corpus_die("adapt_prep_encode: out of memory");
            for (rep = 0; rep < 7; rep++) {
                struct adapt_prep copy;

                if (adapt_prep_decode(blob, len, &copy) < 0)
                    corpus_die("adapt_prep_decode refused its own blob");
                c0 = corpus_cpu_now();
                if (adapt_fit_prep(base, uname, fb, k, NULL, 0, o, &copy, &um, &st) < 0)
                    corpus_die("adapt_fit: out of memory");
                t[rep] = (corpus_cpu_now() - c0) * 1e3;
                cvs += !(st.reused & ADAPT_REUSED_CV) && st.cross_validated;
                user_model_free(um);
                adapt_prep_clear(&copy);
            }
            free(blob);
            qsort(t, 7, sizeof(double), cmp_double);
            fprintf(stderr, "loo: refit %s k=%zu, fit cache after k-1 kept: CPU median %.1f ms "
                    "(min %.1f, max %.1f)%s\n", uname, k, t[3], t[0], t[6],
                    cvs ? ", cross-validated" : "");
        }
        c0 = corpus_cpu_now();
        if (adapt_fit_prep(base, uname, fb, k, k == 0 ? unl : NULL, k == 0 ? n_unl : 0, o,
                           &prep, &um, &st) < 0)
            corpus_die("adapt_fit: out of memory");
        cpu[k] = (corpus_cpu_now() - c0) * 1e3;
        cv[k] = st.cross_validated && !(st.reused & ADAPT_REUSED_CV);
        if (k > 0 && !(st.reused & ADAPT_REUSED_UNL))
            corpus_die("continual refit: the fit cache's unlabelled part was not reused");
        user_model_free(um);
    }
    cold = cpu[0];
    fprintf(stderr, "loo: refit %s continual: k=0 (computes the cache) CPU %.1f ms\n", uname,
            cold);
    for (ri = 0; ri < sizeof(range) / sizeof(range[0]); ri++) {
        double v[200], sum = 0;
        size_t n = 0;
        int n_cv = 0;

        for (k = range[ri].lo; k <= range[ri].hi; k++) {
            v[n++] = cpu[k];
            sum += cpu[k];
            n_cv += cv[k];
        }
        qsort(v, n, sizeof(double), cmp_double);
        fprintf(stderr, "loo: refit %s continual k=%zu..%zu: CPU per refit median %.1f ms, "
                "p95 %.1f, mean %.1f, max %.1f; %d of %zu cross-validated\n", uname,
                range[ri].lo, range[ri].hi, v[n / 2], v[(n * 95 + 99) / 100 - 1],
                sum / (double) n, v[n - 1], n_cv, n);
    }
    adapt_prep_clear(&prep);
}

/* --time-refit: median CPU time (this thread's, so other load on the machine
 * does not count) and wall time of adapt_fit over 7 runs for the issue's
 * sizing (the model's pool, up to 2000 unlabelled messages, k labels), with
 * lambda and mu given (no cross-validation) and with them cross-validated. */
static void
time_refit(const struct model *base, const char *uname, const struct adapt_example *hist,
           size_t n_hist, const struct adapt_opts *defaults)
{
    static const size_t tk[] = { 0, 10, 50, 200 };
    size_t n_unl = n_hist < 2000 ? n_hist : 2000, ki;
    int variant;

    for (variant = 0; variant < 3; variant++)
        for (ki = 0; ki < sizeof(tk) / sizeof(tk[0]); ki++) {
            struct adapt_opts o = *defaults;
            double ms[7], cpu[7];
            int rep;

            if (variant < 2) {
                o.lambda = 0.05f;
                o.mu = 1.0f;
            }
            if (variant == 0)
                o.pseudo = 0;
            for (rep = 0; rep < 7; rep++) {
                struct user_model *um = NULL;
                struct adapt_fit_stats st;
                double t0 = corpus_now(), c0 = corpus_cpu_now();

                if (adapt_fit(base, uname, hist, tk[ki], hist + (n_hist - n_unl), n_unl, &o,
                              &um, &st) < 0)
                    corpus_die("adapt_fit: out of memory");
                cpu[rep] = (corpus_cpu_now() - c0) * 1e3;
                ms[rep] = (corpus_now() - t0) * 1e3;
                user_model_free(um);
            }
            qsort(ms, 7, sizeof(double), cmp_double);
            qsort(cpu, 7, sizeof(double), cmp_double);
            fprintf(stderr, "loo: refit %s pool %u unlabelled %zu k=%zu %s: CPU median %.1f ms "
                    "(min %.1f, max %.1f), wall median %.1f ms\n", uname, base->pool_n, n_unl,
                    tk[ki], variant == 0 ? "fixed lambda/mu, no pseudo" : variant == 1
                    ? "fixed lambda/mu, pseudo" : "defaults (CV from 20 labels, pseudo)",
                    cpu[3], cpu[0], cpu[6], ms[3]);
        }
    time_continual(base, uname, hist, n_unl, hist + (n_hist - n_unl), defaults);
}

static struct corpus cp;

static const struct row rows[] = {
    { "adapted", 1, 1, 1, 1 },
    { "adapted-no-pseudo", 1, 1, 1, 0 },
    { "reweight-only", 1, 0, 0, 0 },
    { "head-only", 0, 1, 0, 0 },
    { "resid-only", 0, 0, 1, 0 },
};

int
main(int argc, char **argv)
{
    const char *enron = NULL, *sa = NULL, *out = NULL;
    long ks[16] = { 0, 10, 50, 200 }, users[MAX_USERS];
    int n_ks = 4, n_users = 0, u, a;
    struct adapt_opts base_opts;
    long unl_max = 0, timing = 0;
    const char *only = NULL, *labels = "first";
    FILE *scores;
    char path[8192];

    adapt_opts_default(&base_opts);
    corpus_prog = "loo";
    for (a = 1; a < argc; a++) {
        const char *v = a + 1 < argc ? argv[a + 1] : NULL;

        if (v == NULL)
            corpus_die("usage: loo --enron DIR | --sa DIR --out DIR [--ks 0,10] [--users 1,2] "
                "[--lambda L] [--mu M] [--resid-l2 R] [--clip C] [--pseudo W] [--pseudo-conf P] "
                "[--pseudo-max N] [--pseudo-self G] [--pseudo-l2 R] [--pseudo-keep N] "
                "[--dual-max N] [--unl-max N] [--cv-fb-max N] [--cv-pool-max N] [--rows R1,R2] "
                "[--labels first|spread|hardest] [--time-refit 1]");
        if (strcmp(argv[a], "--enron") == 0)
            enron = v;
        else if (strcmp(argv[a], "--sa") == 0)
            sa = v;
        else if (strcmp(argv[a], "--out") == 0)
            out = v;
        else if (strcmp(argv[a], "--ks") == 0) {
            if ((n_ks = corpus_parse_list(v, ks, 16)) <= 0)
                corpus_die("--ks: a comma-separated list of numbers");
        } else if (strcmp(argv[a], "--users") == 0) {
            if ((n_users = corpus_parse_list(v, users, MAX_USERS)) <= 0)
                corpus_die("--users: a comma-separated list of 1..6");
        } else if (strcmp(argv[a], "--lambda") == 0)
            base_opts.lambda = strtof(v, NULL);
        else if (strcmp(argv[a], "--mu") == 0)
            base_opts.mu = strtof(v, NULL);
        else if (strcmp(argv[a], "--resid-l2") == 0)
            base_opts.resid_l2 = strtof(v, NULL);
        else if (strcmp(argv[a], "--clip") == 0)
            base_opts.clip = strtof(v, NULL);
        else if (strcmp(argv[a], "--pseudo") == 0)
            base_opts.pseudo = strtof(v, NULL);
        else if (strcmp(argv[a], "--pseudo-conf") == 0)
            base_opts.pseudo_conf = strtof(v, NULL);
        else if (strcmp(argv[a], "--pseudo-max") == 0)
            base_opts.pseudo_max = (uint32_t) strtoul(v, NULL, 10);
        else if (strcmp(argv[a], "--time-refit") == 0)
            timing = strtol(v, NULL, 10);
        else if (strcmp(argv[a], "--unl-max") == 0)
            unl_max = strtol(v, NULL, 10);
        else if (strcmp(argv[a], "--pseudo-self") == 0)
            base_opts.pseudo_self = strtof(v, NULL);
        else if (strcmp(argv[a], "--pseudo-keep") == 0)
            base_opts.pseudo_keep = (uint32_t) strtoul(v, NULL, 10);
        else if (strcmp(argv[a], "--pseudo-l2") == 0)
            base_opts.pseudo_l2 = strtof(v, NULL);
        else if (strcmp(argv[a], "--rows") == 0)
            only = v;
        else if (strcmp(argv[a], "--labels") == 0) {
            if (strcmp(v, "first") != 0 && strcmp(v, "spread") != 0
                && strcmp(v, "hardest") != 0)
                corpus_die("--labels: first, spread or hardest");
            labels = v;
        }
        else if (strcmp(argv[a], "--dual-max") == 0)
            base_opts.dual_max = (uint32_t) strtoul(v, NULL, 10);
        else if (strcmp(argv[a], "--cv-fb-max") == 0)
            base_opts.cv_fb_max = (uint32_t) strtoul(v, NULL, 10);
        else if (strcmp(argv[a], "--cv-pool-max") == 0)
            base_opts.cv_pool_max = (uint32_t) strtoul(v, NULL, 10);
        else
            corpus_die("unknown option (see the comment at the top of bench/adapt/loo.c)");
        a++;
    }
    if ((enron == NULL) == (sa == NULL) || out == NULL)
        corpus_die("give exactly one of --enron DIR and --sa DIR, and --out DIR");
    mkdir(out, 0777);
    if (features_global_init() < 0)
        corpus_die("cannot initialise GMime/libxml2");

    if (enron != NULL) {
        for (u = 0; u < MAX_USERS; u++) {
            snprintf(path, sizeof(path), "%s/enron%d/ham", enron, u + 1);
            corpus_add_dir(&cp, path, u, 0, 1);
            snprintf(path, sizeof(path), "%s/enron%d/spam", enron, u + 1);
            corpus_add_dir(&cp, path, u, 1, 1);
        }
        if (n_users == 0)
            for (n_users = 0; n_users < MAX_USERS; n_users++)
                users[n_users] = n_users + 1;
    } else {
        corpus_add_sa_temporal(&cp, sa, 0, 1);
        n_users = 1;
        users[0] = 2;       /* the new group is the held-out "user" */
    }
    corpus_extract(&cp, 1);
    snprintf(path, sizeof(path), "%s/scores.tsv", out);
    if ((scores = fopen(path, "w")) == NULL)
        corpus_die("cannot write scores.tsv");
    fprintf(scores, "user\tk\trow\tspam\tlogit\n");

    for (u = 0; u < n_users; u++) {
        int held = (int) users[u] - 1;
        struct corpus_msg **src = malloc(cp.n * sizeof(*src));
        struct corpus_msg **tgt = malloc(cp.n * sizeof(*tgt));
        struct adapt_example *hist, *test;
        size_t n_src = 0, n_tgt = 0, n_hist, n_test, n_unl, i, ki;
        struct model *base;
        char udir[4096], uname[64];
        double t0;

        if (src == NULL || tgt == NULL)
            corpus_die("out of memory");
        if (held < 0 || held >= MAX_USERS)
            corpus_die("--users: numbers 1..6");
        for (i = 0; i < cp.n; i++) {
            if (cp.msgs[i].user == held)
                tgt[n_tgt++] = &cp.msgs[i];
            else
                src[n_src++] = &cp.msgs[i];
        }
        qsort(tgt, n_tgt, sizeof(*tgt), corpus_cmp_order);
        n_hist = n_tgt / 2;
        n_test = n_tgt - n_hist;
        snprintf(uname, sizeof(uname), enron != NULL ? "enron%d" : "sa-new", held + 1);
        snprintf(udir, sizeof(udir), "%s/%s", out, uname);
        mkdir(udir, 0777);
        corpus_write_list(udir, "source.spam", src, n_src, 1, 0);
        corpus_write_list(udir, "source.ham", src, n_src, 0, 0);
        corpus_write_list(udir, "history", tgt, n_hist, -1, 0);
        corpus_write_list(udir, "test", tgt + n_hist, n_test, -1, 0);
        corpus_write_list(udir, "test.labels", tgt + n_hist, n_test, -1, 1);
        corpus_write_list(udir, "history.labels", tgt, n_hist, -1, 1);

        /* The base model depends only on the source: kept in OUT/USER/base.model
         * so that reruns (other adaptation settings) skip training. */
        t0 = corpus_now();
        snprintf(path, sizeof(path), "%s/base.model", udir);
        base = corpus_base(path, src, n_src);
        fprintf(stderr, "loo: %s: base model on %zu source messages, %.1f s; pool %u\n",
                uname, n_src, corpus_now() - t0, base->pool_n);
        hist = calloc(n_hist, sizeof(*hist));
        test = calloc(n_test, sizeof(*test));
        if (hist == NULL || test == NULL)
            corpus_die("out of memory");
        for (i = 0; i < n_hist; i++) {
            hist[i].ids = tgt[i]->ids;
            hist[i].n = tgt[i]->n;
            hist[i].spam = tgt[i]->spam;
            adapt_represent(base, &hist[i]);
        }
        for (i = 0; i < n_test; i++) {
            test[i].ids = tgt[n_hist + i]->ids;
            test[i].n = tgt[n_hist + i]->n;
            test[i].spam = tgt[n_hist + i]->spam;
            adapt_represent(base, &test[i]);
        }
        if (timing) {
            time_refit(base, uname, hist, n_hist, &base_opts);
            model_free(base);
            free(hist);
            free(test);
            free(src);
            free(tgt);
            continue;
        }
        /* The unlabelled sample: the whole history, or its most recent unl_max
         * (a reservoir of that size in production). */
        n_unl = unl_max > 0 && (size_t) unl_max < n_hist ? (size_t) unl_max : n_hist;

        for (ki = 0; ki < (size_t) n_ks; ki++) {
            size_t k = (size_t) ks[ki] < n_hist ? (size_t) ks[ki] : n_hist;
            struct model *own = NULL;
            size_t r, *pick = malloc((k ? k : 1) * sizeof(size_t));
            struct adapt_example *lab = malloc((k ? k : 1) * sizeof(*lab));
            struct corpus_msg **labm = malloc((k ? k : 1) * sizeof(*labm));

            if (pick == NULL || lab == NULL || labm == NULL)
                corpus_die("out of memory");
            pick_labels(labels, base, hist, n_hist, k, pick);
            for (i = 0; i < k; i++) {
                lab[i] = hist[pick[i]];
                labm[i] = tgt[pick[i]];
            }

            for (i = 0; i < n_test; i++)
                fprintf(scores, "%s\t%zu\tbase\t%d\t%.9g\n", uname, k, test[i].spam,
                        (double) adapt_logit(base, NULL, test[i].h, test[i].z, test[i].ids,
                                             test[i].n));
            /* target-only: needs both classes among the k labels */
            if (k > 0 && (only == NULL || corpus_in_list(only, "target-only"))) {
                size_t ns = 0;

                for (i = 0; i < k; i++)
                    ns += labm[i]->spam;
                if (ns > 0 && ns < k)
                    own = corpus_train(labm, k, 1);
            }
            for (i = 0; own != NULL && i < n_test; i++) {
                float h[NET_MAX_HIDDEN], z;
                float l = net_forward(&own->net, test[i].ids, test[i].n, h, &z);

                fprintf(scores, "%s\t%zu\ttarget-only\t%d\t%.9g\n", uname, k, test[i].spam,
                        (double) l);
            }
            model_free(own);
            for (r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
                struct adapt_opts o = base_opts;
                struct adapt_fit_stats st;
                struct user_model *um = NULL;

                if (only != NULL && !corpus_in_list(only, rows[r].name))
                    continue;
                o.use_reweight = rows[r].reweight;
                o.use_head = rows[r].head;
                o.use_resid = rows[r].resid;
                if (!rows[r].pseudo)
                    o.pseudo = 0;
                if (adapt_fit(base, uname, lab, k, hist + (n_hist - n_unl), n_unl, &o, &um,
                              &st) < 0)
                    corpus_die("adapt_fit: out of memory");
                for (i = 0; i < n_test; i++)
                    fprintf(scores, "%s\t%zu\t%s\t%d\t%.9g\n", uname, k, rows[r].name,
                            test[i].spam,
                            (double) adapt_logit(base, um, test[i].h, test[i].z, test[i].ids,
                                                 test[i].n));
                if (k > 0) {
                    /* learned messages: wrong before (global head), wrong after */
                    double thr = base->threshold > 0 && base->threshold < 1
                        ? log(base->threshold / (1 - base->threshold)) : 0;
                    size_t wb = 0, wa = 0;

                    for (i = 0; i < k; i++) {
                        wb += (adapt_logit(base, NULL, lab[i].h, lab[i].z, lab[i].ids,
                                           lab[i].n) >= thr) != lab[i].spam;
                        wa += (adapt_logit(base, um, lab[i].h, lab[i].z, lab[i].ids,
                                           lab[i].n) >= thr) != lab[i].spam;
                    }
                    fprintf(stderr, "loo: %s k=%zu %s: learned messages misclassified: "
                            "%zu by the base, %zu after learning\n", uname, k, rows[r].name,
                            wb, wa);
                }
                fprintf(stderr, "loo: %s k=%zu %-17s domain AUC %.3f ESS %.0f/%u lambda %g "
                        "mu %g%s resid %u pseudo %u |dv| %.3f  %.1f ms\n", uname, k,
                        rows[r].name, st.domain_auc, st.ess, st.n_pool, st.lambda, st.mu,
                        st.cross_validated ? " (CV)" : "", st.n_resid, st.n_pseudo,
                        st.head_distance, st.seconds * 1e3);
                user_model_free(um);
            }
            free(pick);
            free(lab);
            free(labm);
            fflush(scores);
        }
        model_free(base);
        free(hist);
        free(test);
        free(src);
        free(tgt);
    }
    fclose(scores);
    return 0;
}
