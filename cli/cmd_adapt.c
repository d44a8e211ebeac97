/*
 * cmd_adapt.c - `spamshift adapt`: refit users' models now and publish them.
 *
 *   spamshift adapt -m MODEL --db DB (--user U | --all [-j N] [--max N] [--lease S])
 *                   [--dry-run] [--json] [--no-reweight] [--no-head] [--no-resid]
 *
 * --user refits U whether or not it is dirty; --all refits every dirty user (new
 * feedback, enough new unlabelled mail, or a model fitted on another base model),
 * which is what the milter's background thread does continually.  With --all
 * each user is claimed first (store_dirty_claim, through refit_claim_next):
 * other adapt runs, the -j workers and the milters on the same store (other
 * hosts on one PostgreSQL database) skip it, so each dirty user is refitted
 * once.  A claim is held for --lease seconds (default STORE_CLAIM_LEASE, 600;
 * 10..86400): a user whose refitter died is taken again after that.  One line
 * per user:
 *
 *   U: 30 spam, 20 ham, 500 unlabelled; domain AUC 0.712, ESS 8123;
 *      cv error 0.120 -> 0.050; version 3 (12.3 ms; reservoir part cached)
 *
 * (on one line), or with --json one object per line; then with --all a summary.
 * "cached" names what came from the user's fit cache instead of being computed
 * (see refit.c).
 * --dry-run fits and prints but publishes nothing.
 *
 * Exit: 0, 1 (some users failed; the others were published), 64 usage,
 * 66 model or store missing, 74 store write failed, 75 store locked past the
 * timeout, 78 model or store refused (wrong version).
 */
#include "config.h"

#include <glib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "adapt.h"
#include "cli.h"
#include "commands.h"
#include "json.h"
#include "log.h"
#include "model.h"
#include "refit.h"
#include "store.h"
#include "userdb.h"

struct report {
    int json;
    int dry_run;
    size_t published, stale, failed, unknown, refused;
    int last_status;
    pthread_mutex_t lock;       /* serialises print_result() between workers */
};

/* adapt --all -j N: each worker, on its own store connection (one connection
 * per thread), claims the next dirty user (refit_claim_next), so that the
 * workers, and other hosts' adapt runs and milters, never refit one user
 * twice; taken counts the claims against --max.  A dry run claims nothing:
 * the workers take the next user from the dirty list by a shared index. */
struct pool {
    const char *db_path;
    int busy_ms;
    int dry_run;
    const struct model *m;
    const struct adapt_opts *ao;
    size_t max;                 /* 0: all */
    unsigned lease;             /* claims' lease, seconds */
    char **users;               /* dry run only */
    size_t n_users;
    atomic_size_t next;         /* dry run: the index; else claims taken */
    atomic_size_t done, failed;
    atomic_int open_failed, claim_failed;
    struct report *rp;
};

static void
print_result(void *arg, const char *user, int status, const struct refit_result *r,
             const char *err)
{
    struct report *rp = arg;
    const struct adapt_fit_stats *f = &r->fit;
    const char *what;

    pthread_mutex_lock(&rp->lock);
    rp->last_status = status;
    if (status != STORE_OK) {
        rp->failed++;
        log_err("adapt: %s: %s", user, err);
        pthread_mutex_unlock(&rp->lock);
        return;
    }
    rp->refused += r->refused != 0;
    if (r->published == 1) {
        rp->published++;
        what = "published";
    } else if (r->published == -1) {
        rp->stale++;
        what = "stale";
    } else if (f->n_feedback == 0 && f->n_unlabelled == 0 && !rp->dry_run) {
        rp->unknown++;
        what = "unknown";
    } else
        what = "dry-run";
    if (rp->json) {
        fputs("{\"user\":", stdout);
        json_string(stdout, user);
        printf(",\"spam\":%u,\"ham\":%u,\"unlabelled\":%u,\"domain_auc\":%.4f,"
               "\"ess\":%.1f,\"cv_err_before\":%.4f,\"cv_err_after\":%.4f,"
               "\"lambda\":%g,\"mu\":%g,\"cross_validated\":%s,\"residual\":%u,"
               "\"represented\":%u,\"cached_unlabelled\":%s,\"cached_cv\":%s,"
               "\"version\":%llu,\"result\":\"%s\",\"refused\":%s,\"gate_fpr_before\":%.5f,"
               "\"gate_fpr_after\":%.5f,\"fit_ms\":%.2f,\"ms\":%.2f}\n",
               r->n_spam, r->n_ham, r->n_reservoir, f->domain_auc, f->ess,
               f->cv_err_before, f->cv_err_after, (double)f->lambda, (double)f->mu,
               f->cross_validated ? "true" : "false", f->n_resid, r->n_represented,
               f->reused & ADAPT_REUSED_UNL ? "true" : "false",
               f->reused & ADAPT_REUSED_CV ? "true" : "false",
               (unsigned long long)r->version, what, r->refused ? "true" : "false",
               r->gate_fpr_before, r->gate_fpr_after, f->seconds * 1e3, r->ms);
    } else {
        printf("%s: %u spam, %u ham, %u unlabelled; domain AUC %.3f, ESS %.0f; ",
               user, r->n_spam, r->n_ham, r->n_reservoir, f->domain_auc, f->ess);
        if (f->cv_err_before >= 0 && f->cv_err_after >= 0)
            printf("cv error %.3f -> %.3f; ", f->cv_err_before, f->cv_err_after);
        else if (f->cv_err_before >= 0)
            printf("cv error %.3f -> n/a (too little feedback); ", f->cv_err_before);
        else
            printf("cv error n/a; ");
        if (r->refused)
            printf("refit refused (FPR estimated on unlabelled mail %.2f%% -> %.2f%%): the "
                   "current model kept, the new labels learned; ", 100 * r->gate_fpr_before,
                   100 * r->gate_fpr_after);
        if (r->published == 1)
            printf("version %llu", (unsigned long long)r->version);
        else if (r->published == -1)
            printf("not published: a newer refit won");
        else if (rp->dry_run)
            printf("not published (dry run)");
        else
            printf("unknown user: the global head applies");
        printf(" (%.1f ms%s)\n", r->ms,
               (f->reused & (ADAPT_REUSED_UNL | ADAPT_REUSED_CV))
               == (ADAPT_REUSED_UNL | ADAPT_REUSED_CV) ? "; reservoir part and lambda/mu cached"
               : f->reused & ADAPT_REUSED_UNL ? "; reservoir part cached"
               : f->reused & ADAPT_REUSED_CV ? "; lambda/mu cached" : "");
    }
    fflush(stdout);
    pthread_mutex_unlock(&rp->lock);
}

/* The dry run's share of the dirty list. */
static void
worker_list(struct pool *p, struct store *s)
{
    size_t i;

    while ((i = atomic_fetch_add(&p->next, 1)) < p->n_users) {
        struct refit_result r;
        char err[512] = "";
        int st = refit_user(s, p->m, p->users[i], p->ao, 1, &r, err, sizeof(err));

        atomic_fetch_add(st == STORE_OK ? &p->done : &p->failed, 1);
        print_result(p->rp, p->users[i], st, &r, err);
    }
}

static void *
worker(void *arg)
{
    struct pool *p = arg;
    struct store *s;
    char *last = NULL, err[512] = "";
    int rc = 0;

    if (userdb_open("adapt", p->db_path, p->dry_run ? STORE_RDONLY : 0, p->busy_ms,
                    &s) != 0) {
        atomic_store(&p->open_failed, 1);
        return NULL;
    }
    if (p->dry_run)
        worker_list(p, s);
    else
        while ((p->max == 0 || atomic_fetch_add(&p->next, 1) < p->max)
               && (rc = refit_claim_next(s, p->m, p->ao, p->lease, &last, print_result,
                                         p->rp, err, sizeof(err))) >= 0)
            atomic_fetch_add(rc == 1 ? &p->done : &p->failed, 1);
    if (!p->dry_run && rc == -2) {
        log_err("adapt: %s", err);
        atomic_store(&p->claim_failed, 1);
    }
    free(last);
    store_close(s);
    return NULL;
}

/* Refit the dirty users on jobs threads.  Returns the number refitted, or -1
 * (reported) if the list could not be read, no worker could open the store or
 * claiming failed. */
static long
refit_dirty_jobs(struct store *s, const char *db_path, int busy_ms, int dry_run,
                 const struct model *m, const struct adapt_opts *ao, size_t max,
                 unsigned lease, unsigned jobs, struct report *rp, size_t *n_failed)
{
    struct pool p = { .db_path = db_path, .busy_ms = busy_ms, .dry_run = dry_run,
                      .m = m, .ao = ao, .max = max, .lease = lease, .rp = rp };
    pthread_t tid[64];
    unsigned started = 0;

    if (dry_run && store_dirty_list(s, m->id, max, &p.users, &p.n_users) != STORE_OK) {
        log_err("adapt: %s", store_errmsg(s));
        return -1;
    }
    atomic_init(&p.next, 0);
    atomic_init(&p.done, 0);
    atomic_init(&p.failed, 0);
    atomic_init(&p.open_failed, 0);
    atomic_init(&p.claim_failed, 0);
    for (unsigned j = 0; j < jobs && j < 64 && (!dry_run || j < p.n_users); j++)
        if (pthread_create(&tid[started], NULL, worker, &p) == 0)
            started++;
    for (unsigned j = 0; j < started; j++)
        pthread_join(tid[j], NULL);
    store_strv_free(p.users);
    if (started == 0 && (!dry_run || p.n_users > 0)) {
        log_err("adapt: cannot start worker threads");
        return -1;
    }
    if (atomic_load(&p.open_failed) && atomic_load(&p.done) + atomic_load(&p.failed) == 0) {
        log_err("adapt: workers could not open the store");
        return -1;
    }
    if (atomic_load(&p.claim_failed))
        return -1;
    *n_failed = atomic_load(&p.failed);
    return (long)atomic_load(&p.done);
}

struct adapt_args {
    gchar *model_path, *db_path, *user;
    gboolean all, dry_run, json;
    gboolean no_reweight, no_head, no_resid;
    gint max, busy_ms, jobs, lease;
};

static int
adapt_parse(struct adapt_args *a, int *argc, char ***argv)
{
    GOptionEntry entries[] = {
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &a->model_path, "the base model", "MODEL" },
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &a->db_path, "the per-user store", "DB" },
        { "user", 'u', 0, G_OPTION_ARG_STRING, &a->user, "refit this user", "ADDRESS" },
        { "all", 'a', 0, G_OPTION_ARG_NONE, &a->all, "refit every dirty user", NULL },
        { "max", 0, 0, G_OPTION_ARG_INT, &a->max, "with --all, at most N users", "N" },
        { "jobs", 'j', 0, G_OPTION_ARG_INT, &a->jobs, "with --all, refit N users at a "
          "time, each thread on its own connection (default 1)", "N" },
        { "lease", 0, 0, G_OPTION_ARG_INT, &a->lease, "with --all, hold each user's "
          "claim for S seconds, 10..86400 (default 600): a user whose refitter died is "
          "refitted again after that", "S" },
        { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &a->dry_run, "fit and report, publish "
          "nothing", NULL },
        { "json", 0, 0, G_OPTION_ARG_NONE, &a->json, "one JSON object per user", NULL },
        { "no-reweight", 0, 0, G_OPTION_ARG_NONE, &a->no_reweight, "ablation: no instance "
          "weights", NULL },
        { "no-head", 0, 0, G_OPTION_ARG_NONE, &a->no_head, "ablation: keep the global head",
          NULL },
        { "no-resid", 0, 0, G_OPTION_ARG_NONE, &a->no_resid, "ablation: no per-user "
          "residual", NULL },
        { "busy-timeout", 0, 0, G_OPTION_ARG_INT, &a->busy_ms, "wait up to MS for "
          "another process's lock on the store (default 5000)", "MS" },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };

    a->busy_ms = -1;
    a->jobs = 1;
    a->lease = STORE_CLAIM_LEASE;
    return cli_parse("adapt", "- refit users' models now", entries, argc, argv);
}

/* The usage rules, the user key, the model and the store.  Returns an exit
 * code. */
static int
adapt_open(const struct adapt_args *a, int argc, char **argv, char **key, struct model **m,
           struct store **s)
{
    int rc;

    if (argc > 1)
        return cli_usage("adapt", "unexpected argument \"%s\"", argv[1]);
    if ((a->user != NULL) == (a->all != 0))
        return cli_usage("adapt", "give either --user ADDRESS or --all");
    if (a->model_path == NULL || a->db_path == NULL)
        return cli_usage("adapt", "%s", a->model_path == NULL ? "no model: use -m MODEL"
                                                               : "no store: use --db DB");
    if (a->max < 0 || a->jobs < 1 || a->jobs > 64)
        return cli_usage("adapt", "--max must be >= 0 and -j 1..64, got %d and %d", a->max,
                         a->jobs);
    if (a->lease < 10 || a->lease > 86400)
        return cli_usage("adapt", "--lease must be 10..86400 seconds, got %d", a->lease);
    if (a->user != NULL && (*key = userdb_user_key("adapt", a->user)) == NULL)
        return EX_USAGE;
    if ((rc = cli_model_open("adapt", a->model_path, m)) != 0)
        return rc;
    return userdb_open("adapt", a->db_path, a->dry_run ? STORE_RDONLY : 0, a->busy_ms, s);
}

/* --all: refit every dirty user, on -j threads, and print the summary.  Returns
 * an exit code. */
static int
adapt_all(const struct adapt_args *a, struct store *s, const struct model *m,
          const struct adapt_opts *ao, struct report *rp)
{
    size_t failed = 0;
    char err[512];
    long n;

    if (a->jobs > 1) {
        n = refit_dirty_jobs(s, a->db_path, a->busy_ms, a->dry_run, m, ao, (size_t)a->max,
                             (unsigned)a->lease, (unsigned)a->jobs, rp, &failed);
    } else {
        n = refit_dirty(s, m, ao, (size_t)a->max, (unsigned)a->lease, a->dry_run,
                        print_result, rp, &failed, err, sizeof(err));
        if (n < 0)
            log_err("adapt: %s", err);
    }
    if (n < 0)
        return EX_IOERR;
    if (!a->json)
        printf("refitted %ld users: %zu published, %zu stale, %zu failed%s%.0zu%s%s\n", n,
               rp->published, rp->stale, failed, rp->refused ? ", " : "", rp->refused,
               rp->refused ? " refused by the gate (the current model kept)" : "",
               a->dry_run ? " (dry run)" : "");
    if (failed)
        return n == 0 && rp->last_status == STORE_BUSY ? EX_TEMPFAIL : EXIT_PARTIAL;
    return 0;
}

int
cmd_adapt(int argc, char **argv)
{
    struct adapt_args a = { 0 };
    struct report rp = { 0 };
    struct adapt_opts ao;
    struct store *s = NULL;
    struct model *m = NULL;
    char *key = NULL, err[512];
    int rc;

    if ((rc = adapt_parse(&a, &argc, &argv)) != 0
            || (rc = adapt_open(&a, argc, argv, &key, &m, &s)) != 0)
        goto done;
    adapt_opts_default(&ao);
    ao.use_reweight = !a.no_reweight;
    ao.use_head = !a.no_head;
    ao.use_resid = !a.no_resid;
    rp.json = a.json;
    rp.dry_run = a.dry_run;
    pthread_mutex_init(&rp.lock, NULL);
    if (key != NULL) {
        struct refit_result r;
        int st = refit_user(s, m, key, &ao, a.dry_run, &r, err, sizeof(err));

        print_result(&rp, key, st, &r, err);
        if (st != STORE_OK)
            rc = userdb_exit(st);
    } else if ((rc = adapt_all(&a, s, m, &ao, &rp)) == EX_IOERR)
        goto done;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_err("adapt: cannot write the results");
        if (rc == 0)
            rc = EX_CANTCREAT;
    }
done:
    store_close(s);
    model_free(m);
    g_free(key);
    g_free(a.model_path);
    g_free(a.db_path);
    g_free(a.user);
    return rc;
}
