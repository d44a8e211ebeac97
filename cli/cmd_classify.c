/*
 * cmd_classify.c - `spamshift classify`: score messages with a model.
 *
 *   spamshift classify -m MODEL [--db DB --user U [--observe]] [--json] [--status]
 *                      [-j N] [--list FILE] [PATH...|-]
 *
 * One line per message, in input order: "name<TAB>score<TAB>verdict", score the
 * spam probability printed with %.6f (the milter's X-Spam-Score prints the same),
 * verdict "spam" at or above the model's threshold (with --user, the user's own
 * when `spamshift user` set one: the milter's rule).  Sources are processed in
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
#include <unistd.h>

#include "commands.h"
#include "extract.h"
#include "features.h"
#include "input.h"
#include "log.h"
#include "model.h"
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

int
cmd_classify(int argc, char **argv)
{
    gchar *model_path = NULL;
    gboolean json = FALSE, status = FALSE;
    gint jobs = 1;
    gchar *list_file = NULL, *db_path = NULL, *user = NULL;
    gboolean observe = FALSE;
    GOptionEntry entries[] = {
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &db_path, "the per-user store", "DB" },
        { "user", 0, 0, G_OPTION_ARG_STRING, &user, "score with this user's model", "U" },
        { "observe", 0, 0, G_OPTION_ARG_NONE, &observe,
          "offer each message to the user's reservoir of unlabelled mail", NULL },
        { "list", 0, 0, G_OPTION_ARG_FILENAME, &list_file,
          "read the paths to classify from FILE, one per line (- for stdin)", "FILE" },
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "the model file", "MODEL" },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json, "one JSON object per line", NULL },
        { "status", 0, 0, G_OPTION_ARG_NONE, &status,
          "one message: exit 0 if spam, 1 if ham, 3 on error (as bogofilter)", NULL },
        { "jobs", 'j', 0, G_OPTION_ARG_INT, &jobs, "reader threads (default 1)", "N" },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };
    GOptionContext *ctx = g_option_context_new("[PATH...|-] - score messages");
    GError *gerr = NULL;
    struct input_list list = { 0 };
    struct model *m = NULL;
    struct store *st = NULL;
    struct user_model *um = NULL;
    float threshold = 0;            /* the model's, or the user's own */
    char *key = NULL;
    char err[256];
    size_t n_msgs = 0, n_failed = 0, n_spam = 0;
    int rc = 0;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
        log_err("classify: %s (see spamshift classify --help)", gerr->message);
        g_error_free(gerr);
        rc = status ? 3 : EX_USAGE;
        goto done;
    }
    if (model_path == NULL) {
        log_err("classify: no model: use -m MODEL");
        rc = status ? 3 : EX_USAGE;
        goto done;
    }
    if (model_load(model_path, &m, err, sizeof(err)) != 0) {
        log_err("classify: %s", err);
        rc = status ? 3 : (access(model_path, F_OK) != 0 ? EX_NOINPUT : EX_CONFIG);
        goto done;
    }
    threshold = m->threshold;
    if ((db_path == NULL) != (user == NULL) || (observe && db_path == NULL)) {
        log_err("classify: --db and --user go together (and --observe needs both)");
        rc = status ? 3 : EX_USAGE;
        goto done;
    }
    if (db_path != NULL) {
        int st_rc;

        if ((key = userdb_user_key("classify", user)) == NULL) {
            rc = status ? 3 : EX_USAGE;
            goto done;
        }
        if ((rc = userdb_open("classify", db_path, observe ? STORE_CREATE : STORE_RDONLY,
                              -1, &st)) != 0) {
            rc = status ? 3 : rc;
            goto done;
        }
        st_rc = refit_load_user_model(st, m, key, &um, err, sizeof(err));
        if (st_rc != STORE_OK && st_rc != STORE_NOTFOUND) {
            log_err("classify: %s: %s", key, err);
            rc = status ? 3 : userdb_exit(st_rc);
            goto done;
        }
        /* The user's own threshold (spamshift user), as the milter applies it. */
        {
            double t;

            st_rc = store_threshold_get(st, key, &t);
            if (st_rc == STORE_OK)
                threshold = (float)t;
            else if (st_rc != STORE_NOTFOUND) {
                log_err("classify: %s: %s", key, store_errmsg(st));
                rc = status ? 3 : userdb_exit(st_rc);
                goto done;
            }
        }
    }
    if (list_file != NULL) {
        FILE *fp = strcmp(list_file, "-") == 0 ? stdin : fopen(list_file, "r");
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;

        if (fp == NULL) {
            log_err("classify: %s: %s", list_file, strerror(errno));
            rc = status ? 3 : EX_NOINPUT;
            goto done;
        }
        while ((len = getline(&line, &cap, fp)) >= 0) {
            while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                line[--len] = '\0';
            if (len > 0 && input_collect(&list, line, INPUT_LABEL_NONE) != 0) {
                free(line);
                goto oom;
            }
        }
        free(line);
        if (fp != stdin)
            fclose(fp);
    } else if (argc < 2) {
        if (input_collect(&list, "-", INPUT_LABEL_NONE) != 0)
            goto oom;
    }
    for (int i = 1; i < argc; i++)
        if (input_collect(&list, argv[i], INPUT_LABEL_NONE) != 0)
            goto oom;

    for (size_t from = 0; from < list.n; from += CHUNK) {
        size_t to = from + CHUNK < list.n ? from + CHUNK : list.n;
        struct extract_set set = { 0 };

        if (extract_sources(&list, from, to, jobs > 0 ? (unsigned)jobs : 1, 0, &set) != 0) {
            extract_set_clear(&set);
            goto oom;
        }
        n_failed += set.failed;
        if (observe && store_begin(st) != STORE_OK) {
            log_err("classify: %s: cannot write the store", db_path);
            extract_set_clear(&set);
            rc = status ? 3 : EX_IOERR;
            goto done;
        }
        for (size_t i = 0; i < set.n; i++) {
            const struct extract_msg *x = &set.v[i];
            float p = adapt_score(m, um, x->ids, x->n);
            int is_spam = p >= threshold;

            if (observe && store_reservoir_offer(st, key, x->digest, x->ids, x->n, NULL) != STORE_OK) {
                log_err("classify: %s: cannot add %s to the reservoir", db_path, x->name);
                n_failed++;
            }

            n_msgs++;
            n_spam += is_spam;
            if (json) {
                fputs("{\"path\":", stdout);
                cli_json_string(stdout, x->name);
                printf(",\"score\":%.6f,\"verdict\":\"%s\",\"threshold\":%.6f,\"flags\":",
                       (double)p, is_spam ? "spam" : "ham", (double)threshold);
                print_flags(stdout, x->flags);
                fputs("}\n", stdout);
            } else {
                printf("%s\t%.6f\t%s\n", x->name, (double)p, is_spam ? "spam" : "ham");
            }
        }
        extract_set_clear(&set);
        if (observe && store_commit(st) != STORE_OK) {
            log_err("classify: %s: cannot commit the reservoir samples", db_path);
            rc = status ? 3 : EX_IOERR;
            goto done;
        }
    }
    n_failed += list.errors;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_err("classify: cannot write the results");
        rc = status ? 3 : EX_CANTCREAT;
        goto done;
    }
    if (status) {
        if (n_failed || n_msgs != 1) {
            if (n_msgs != 1 && !n_failed)
                log_err("classify: --status needs exactly one message, got %zu", n_msgs);
            rc = 3;
        } else
            rc = n_spam ? 0 : 1;
    } else if (n_failed) {
        log_err("classify: %zu inputs could not be read (named above)", n_failed);
        rc = EXIT_PARTIAL;
    }
    goto done;
oom:
    log_err("classify: out of memory");
    rc = status ? 3 : EX_SOFTWARE;
done:
    user_model_free(um);
    store_close(st);
    g_free(key);
    model_free(m);
    input_list_free(&list);
    g_free(model_path);
    g_free(db_path);
    g_free(user);
    g_free(list_file);
    g_option_context_free(ctx);
    return rc;
}
