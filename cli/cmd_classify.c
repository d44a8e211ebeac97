/*
 * cmd_classify.c - `spamshift classify`: score messages with a model.
 *
 *   spamshift classify -m MODEL [--db DB --user U [--observe]] [--json] [--status]
 *                      [-j N] [--list FILE] [PATH...|-]
 *
 * One line per message, in input order: "name<TAB>score<TAB>verdict", score the
 * spam probability printed with %.6f (the milter's X-Spam-Score prints the same),
 * verdict "spam" at or above the model's threshold (with --user, the user's:
 * its own when `spamshift user` set one, else its operating point for
 * --target-fpr, refit_user_threshold(): the milter's rule).  Sources are processed in
 * chunks so output streams and memory stays flat over any number of paths.
 * With --db and --user the user's published model scores (the global head when
 * the user has none); --observe also offers each message to the user's
 * reservoir of unlabelled mail, as the milter does, one transaction per chunk.
 */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "extract.h"
#include "features.h"
#include "input.h"
#include "json.h"
#include "log.h"
#include "model.h"
#include "oppoint.h"
#include "adapt.h"
#include "refit.h"
#include "store.h"
#include "userdb.h"

#define CHUNK 512

static void
print_flags(FILE *fp, uint32_t flags)
{
    static const struct { uint32_t bit; const char *name; } names[] = {
        { FEATURES_F_MIME_ERROR, "mime-error" }, { FEATURES_F_CHARSET, "charset" },
        { FEATURES_F_TRUNCATED, "truncated" }, { FEATURES_F_DEEP, "deep" },
        { FEATURES_F_EMPTY, "empty" },
    };
    int first = 1;

    putc('[', fp);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (flags & names[i].bit) {
            fprintf(fp, "%s\"%s\"", first ? "" : ",", names[i].name);
            first = 0;
        }
    putc(']', fp);
}

struct classify_args {
    gchar *model_path, *list_file, *db_path, *user;
    gboolean json, status, observe;
    gint jobs;
    gdouble target;
};

/* What the command holds while it runs; classify_close() frees it. */
struct classify {
    struct classify_args a;
    struct input_list list;
    struct model *m;
    struct store *st;
    struct user_model *um;
    float threshold;            /* the model's, or the user's (refit_user_threshold) */
    int thr_source;             /* OPPOINT_* */
    char *key;
    size_t n_msgs, n_failed, n_spam;
};

static int
classify_parse(struct classify_args *a, int *argc, char ***argv)
{
    GOptionEntry entries[] = {
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &a->db_path, "the per-user store", "DB" },
        { "user", 0, 0, G_OPTION_ARG_STRING, &a->user, "score with this user's model", "U" },
        { "observe", 0, 0, G_OPTION_ARG_NONE, &a->observe,
          "offer each message to the user's reservoir of unlabelled mail", NULL },
        { "list", 0, 0, G_OPTION_ARG_FILENAME, &a->list_file,
          "read the paths to classify from FILE, one per line (- for stdin)", "FILE" },
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &a->model_path, "the model file", "MODEL" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &a->json, "one JSON object per line", NULL },
        { "status", 0, 0, G_OPTION_ARG_NONE, &a->status,
          "one message: exit 0 if spam, 1 if ham, 3 on error (as bogofilter)", NULL },
        { "jobs", 'j', 0, G_OPTION_ARG_INT, &a->jobs, "reader threads (default 1)", "N" },
        { "target-fpr", 0, 0, G_OPTION_ARG_DOUBLE, &a->target, "with --user: the target "
          "false-positive rate the user's threshold meets (default 0.003; the milter's "
          "is spamshift.conf target_fpr)", "P" },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };

    a->jobs = 1;
    a->target = OPPOINT_TARGET_DEFAULT;
    return cli_parse("classify", "[PATH...|-] - score messages", entries, argc, argv);
}

/* The user's published model and own threshold (spamshift user), as the milter
 * applies them.  Returns an exit code. */
static int
classify_open_user(struct classify *c)
{
    const struct classify_args *a = &c->a;
    char err[256];
    int rc, st_rc;

    if ((c->key = userdb_user_key("classify", a->user)) == NULL)
        return EX_USAGE;
    if ((rc = userdb_open("classify", a->db_path, a->observe ? STORE_CREATE : STORE_RDONLY,
                          -1, &c->st)) != 0)
        return rc;
    st_rc = refit_load_user_model(c->st, c->m, c->key, &c->um, err, sizeof(err));
    if (st_rc != STORE_OK && st_rc != STORE_NOTFOUND) {
        log_err("classify: %s: %s", c->key, err);
        return userdb_exit(st_rc);
    }
    st_rc = refit_user_threshold(c->st, c->m, c->key, a->target, &c->threshold,
                                 &c->thr_source, NULL, err, sizeof(err));
    if (st_rc != STORE_OK) {
        log_err("classify: %s: %s", c->key, err);
        return userdb_exit(st_rc);
    }
    return 0;
}

/* The sources: --list's lines, else the arguments (stdin when none).  Returns an
 * exit code. */
static int
classify_collect(struct classify *c, int argc, char **argv)
{
    const char *list_file = c->a.list_file;

    if (list_file != NULL) {
        FILE *fp = strcmp(list_file, "-") == 0 ? stdin : fopen(list_file, "r");
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;

        if (fp == NULL) {
            log_err("classify: %s: %s", list_file, strerror(errno));
            return EX_NOINPUT;
        }
        while ((len = getline(&line, &cap, fp)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
            if (len > 0 && input_collect(&c->list, line, INPUT_LABEL_NONE) != 0) {
                free(line);
                return EX_SOFTWARE;
            }
        }
        free(line);
        if (fp != stdin)
            fclose(fp);
        if (argc < 2)
            return 0;
    }
    return input_collect_args(&c->list, argc, argv, INPUT_LABEL_NONE) != 0 ? EX_SOFTWARE : 0;
}

/* The start-up: model, store and user, sources.  Returns an exit code. */
static int
classify_open(struct classify *c, int argc, char **argv)
{
    const struct classify_args *a = &c->a;
    int rc;

    if (a->model_path == NULL)
        return cli_usage("classify", "no model: use -m MODEL");
    if ((rc = cli_model_open("classify", a->model_path, &c->m)) != 0)
        return rc;
    c->threshold = c->m->threshold;
    if (!oppoint_target_valid(a->target))
        return cli_usage("classify", "--target-fpr must be in [%g, %g], got %g",
                         OPPOINT_TARGET_MIN, OPPOINT_TARGET_MAX, a->target);
    if ((a->db_path == NULL) != (a->user == NULL) || (a->observe && a->db_path == NULL))
        return cli_usage("classify", "--db and --user go together (and --observe needs both)");
    if (a->db_path != NULL && (rc = classify_open_user(c)) != 0)
        return rc;
    if ((rc = classify_collect(c, argc, argv)) == EX_SOFTWARE)
        return cli_oom("classify");
    return rc;
}

static void
classify_print(const struct classify *c, const struct extract_msg *x, float p, int is_spam)
{
    if (c->a.json) {
        fputs("{\"path\":", stdout);
        json_string(stdout, x->name);
        printf(",\"score\":%.6f,\"verdict\":\"%s\",\"threshold\":%.6f,"
               "\"threshold_source\":\"%s\",\"flags\":", (double)p, is_spam ? "spam" : "ham",
               (double)c->threshold, oppoint_source_name(c->thr_source));
        print_flags(stdout, x->flags);
        fputs("}\n", stdout);
    } else {
        printf("%s\t%.6f\t%s\n", x->name, (double)p, is_spam ? "spam" : "ham");
    }
}

/* Score one chunk of sources (one reservoir transaction with --observe).
 * Returns an exit code. */
static int
classify_chunk(struct classify *c, size_t from, size_t to)
{
    const struct classify_args *a = &c->a;
    struct extract_set set = { 0 };

    if (extract_sources(&c->list, from, to, a->jobs > 0 ? (unsigned)a->jobs : 1, 0,
                        &set) != 0) {
        extract_set_clear(&set);
        return cli_oom("classify");
    }
    c->n_failed += set.failed;
    if (a->observe && store_begin(c->st) != STORE_OK) {
        log_err("classify: %s: cannot write the store", a->db_path);
        extract_set_clear(&set);
        return EX_IOERR;
    }
    for (size_t i = 0; i < set.n; i++) {
        const struct extract_msg *x = &set.v[i];
        float p = adapt_score(c->m, c->um, x->ids, x->n);
        int is_spam = p >= c->threshold;

        if (a->observe && store_reservoir_offer(c->st, c->key, x->digest, x->ids, x->n,
                                                NULL) != STORE_OK) {
            log_err("classify: %s: cannot add %s to the reservoir", a->db_path, x->name);
            c->n_failed++;
        }
        c->n_msgs++;
        c->n_spam += is_spam;
        classify_print(c, x, p, is_spam);
    }
    extract_set_clear(&set);
    if (a->observe && store_commit(c->st) != STORE_OK) {
        log_err("classify: %s: cannot commit the reservoir samples", a->db_path);
        return EX_IOERR;
    }
    return 0;
}

/* The last word: the exit code of the whole run (--status: 0 spam, 1 ham, 3). */
static int
classify_report(struct classify *c)
{
    c->n_failed += c->list.errors;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_err("classify: cannot write the results");
        return c->a.status ? 3 : EX_CANTCREAT;
    }
    if (c->a.status) {
        if (c->n_failed || c->n_msgs != 1) {
            if (c->n_msgs != 1 && !c->n_failed)
                log_err("classify: --status needs exactly one message, got %zu", c->n_msgs);
            return 3;
        }
        return c->n_spam ? 0 : 1;
    }
    if (c->n_failed) {
        log_err("classify: %zu inputs could not be read (named above)", c->n_failed);
        return EXIT_PARTIAL;
    }
    return 0;
}

static void
classify_close(struct classify *c)
{
    user_model_free(c->um);
    store_close(c->st);
    g_free(c->key);
    model_free(c->m);
    input_list_free(&c->list);
    g_free(c->a.model_path);
    g_free(c->a.db_path);
    g_free(c->a.user);
    g_free(c->a.list_file);
}

int
cmd_classify(int argc, char **argv)
{
    struct classify c = { 0 };
    int rc;

    rc = classify_parse(&c.a, &argc, &argv);
    if (rc == 0)
        rc = classify_open(&c, argc, argv);
    for (size_t from = 0; rc == 0 && from < c.list.n; from += CHUNK)
        rc = classify_chunk(&c, from, from + CHUNK < c.list.n ? from + CHUNK : c.list.n);
    if (rc == 0)
        rc = classify_report(&c);
    else if (c.a.status)
        rc = 3;
    classify_close(&c);
    return rc;
}
