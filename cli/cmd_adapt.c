/*
 * cmd_adapt.c - `spamshift adapt`: refit users' models now and publish them.
 *
 *   spamshift adapt -m MODEL --db DB (--user U | --all) [--dry-run] [--json]
 *                   [--max N] [--no-reweight] [--no-head] [--no-resid]
 *
 * --user refits U whether or not it is dirty; --all refits every dirty user (new
 * feedback, enough new unlabelled mail, or a model fitted on another base model),
 * which is what the milter's background thread does continually.  One line per
 * user:
 *
 *   U: 30 spam, 20 ham, 500 unlabelled; domain AUC 0.712, ESS 8123;
 *      cv error 0.120 -> 0.050; version 3 (12.3 ms)
 *
 * (on one line), or with --json one object per line; then with --all a summary.
 * --dry-run fits and prints but publishes nothing.
 *
 * Exit: 0, 1 (some users failed; the others were published), 64 usage,
 * 66 model or store missing, 74 store write failed, 75 store locked past the
 * timeout, 78 model or store refused (wrong version).
 */
#include "config.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "adapt.h"
#include "commands.h"
#include "log.h"
#include "model.h"
#include "refit.h"
#include "store.h"
#include "userdb.h"

struct report {
    int json;
    int dry_run;
    size_t published, stale, failed, unknown;
    int last_status;
};

static void
print_result(void *arg, const char *user, int status, const struct refit_result *r,
             const char *err)
{
    struct report *rp = arg;
    const struct adapt_fit_stats *f = &r->fit;
    const char *what;

    rp->last_status = status;
    if (status != STORE_OK) {
        rp->failed++;
        log_err("adapt: %s: %s", user, err);
        return;
    }
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
        cli_json_string(stdout, user);
        printf(",\"spam\":%u,\"ham\":%u,\"unlabelled\":%u,\"domain_auc\":%.4f,"
               "\"ess\":%.1f,\"cv_err_before\":%.4f,\"cv_err_after\":%.4f,"
               "\"lambda\":%g,\"mu\":%g,\"cross_validated\":%s,\"residual\":%u,"
               "\"version\":%llu,\"result\":\"%s\",\"fit_ms\":%.2f,\"ms\":%.2f}\n",
               r->n_spam, r->n_ham, r->n_reservoir, f->domain_auc, f->ess,
               f->cv_err_before, f->cv_err_after, (double)f->lambda, (double)f->mu,
               f->cross_validated ? "true" : "false", f->n_resid,
               (unsigned long long)r->version, what, f->seconds * 1e3, r->ms);
    } else {
        printf("%s: %u spam, %u ham, %u unlabelled; domain AUC %.3f, ESS %.0f; ",
               user, r->n_spam, r->n_ham, r->n_reservoir, f->domain_auc, f->ess);
        if (f->cv_err_before >= 0)
            printf("cv error %.3f -> %.3f; ", f->cv_err_before, f->cv_err_after);
        else
            printf("cv error n/a; ");
        if (r->published == 1)
            printf("version %llu", (unsigned long long)r->version);
        else if (r->published == -1)
            printf("not published: a newer refit won");
        else if (rp->dry_run)
            printf("not published (dry run)");
        else
            printf("unknown user: the global head applies");
        printf(" (%.1f ms)\n", r->ms);
    }
    fflush(stdout);
}

int
cmd_adapt(int argc, char **argv)
{
    gchar *model_path = NULL, *db_path = NULL, *user = NULL;
    gboolean all = FALSE, dry_run = FALSE, json = FALSE;
    gboolean no_reweight = FALSE, no_head = FALSE, no_resid = FALSE;
    gint max = 0, busy_ms = -1;
    GOptionEntry entries[] = {
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "the base model", "MODEL" },
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &db_path, "the per-user store", "DB" },
        { "user", 'u', 0, G_OPTION_ARG_STRING, &user, "refit this user", "ADDRESS" },
        { "all", 'a', 0, G_OPTION_ARG_NONE, &all, "refit every dirty user", NULL },
        { "max", 0, 0, G_OPTION_ARG_INT, &max, "with --all, at most N users", "N" },
        { "dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run, "fit and report, publish "
          "nothing", NULL },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "one JSON object per user", NULL },
        { "no-reweight", 0, 0, G_OPTION_ARG_NONE, &no_reweight, "ablation: no instance "
          "weights", NULL },
        { "no-head", 0, 0, G_OPTION_ARG_NONE, &no_head, "ablation: keep the global head",
          NULL },
        { "no-resid", 0, 0, G_OPTION_ARG_NONE, &no_resid, "ablation: no per-user "
          "residual", NULL },
        { "busy-timeout", 0, 0, G_OPTION_ARG_INT, &busy_ms, "wait up to MS for "
          "another process's lock on the store (default 5000)", "MS" },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };
    GOptionContext *ctx = g_option_context_new("- refit users' models now");
    GError *gerr = NULL;
    struct report rp = { 0 };
    struct adapt_opts ao;
    struct store *s = NULL;
    struct model *m = NULL;
    char *key = NULL, err[512];
    int rc = 0;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
        log_err("adapt: %s (see spamshift adapt --help)", gerr->message);
        g_error_free(gerr);
        rc = EX_USAGE;
        goto done;
    }
    if (argc > 1) {
        log_err("adapt: unexpected argument \"%s\"", argv[1]);
        rc = EX_USAGE;
        goto done;
    }
    if ((user != NULL) == (all != 0)) {
        log_err("adapt: give either --user ADDRESS or --all");
        rc = EX_USAGE;
        goto done;
    }
    if (model_path == NULL || db_path == NULL) {
        log_err("adapt: %s", model_path == NULL ? "no model: use -m MODEL"
                                                : "no store: use --db DB");
        rc = EX_USAGE;
        goto done;
    }
    if (max < 0) {
        log_err("adapt: --max must be >= 0, got %d", max);
        rc = EX_USAGE;
        goto done;
    }
    if (user != NULL && (key = userdb_user_key("adapt", user)) == NULL) {
        rc = EX_USAGE;
        goto done;
    }
    if (model_load(model_path, &m, err, sizeof(err)) != 0) {
        log_err("adapt: %s", err);
        rc = access(model_path, F_OK) != 0 ? EX_NOINPUT : EX_CONFIG;
        goto done;
    }
    if ((rc = userdb_open("adapt", db_path, dry_run ? STORE_RDONLY : 0, busy_ms,
                           &s)) != 0)
        goto done;

    adapt_opts_default(&ao);
    ao.use_reweight = !no_reweight;
    ao.use_head = !no_head;
    ao.use_resid = !no_resid;
    rp.json = json;
    rp.dry_run = dry_run;
    if (key != NULL) {
        struct refit_result r;
        int st = refit_user(s, m, key, &ao, dry_run, &r, err, sizeof(err));

        print_result(&rp, key, st, &r, err);
        if (st != STORE_OK)
            rc = userdb_exit(st);
    } else {
        size_t failed = 0;
        long n = refit_dirty(s, m, &ao, (size_t)max, dry_run, print_result, &rp,
                             &failed, err, sizeof(err));

        if (n < 0) {
            log_err("adapt: %s", err);
            rc = EX_IOERR;
            goto done;
        }
        if (!json)
            printf("refitted %ld users: %zu published, %zu stale, %zu failed%s\n",
                   n, rp.published, rp.stale, failed, dry_run ? " (dry run)" : "");
        if (failed)
            rc = n == 0 && rp.last_status == STORE_BUSY ? EX_TEMPFAIL : EXIT_PARTIAL;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_err("adapt: cannot write the results");
        if (rc == 0)
            rc = EX_CANTCREAT;
    }
done:
    store_close(s);
    model_free(m);
    g_free(key);
    g_free(model_path);
    g_free(db_path);
    g_free(user);
    g_option_context_free(ctx);
    return rc;
}
