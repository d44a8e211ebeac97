/*
 * cmd_explain.c - `spamshift explain`: why one message scores as it does.
 *
 *   spamshift explain -m MODEL [--db DB --user U] [-n N] FILE|-
 *
 * The logit is a sum: the head's weight on z times z (the linear path, itself a
 * sum over the message's feature ids of lin[id] / sqrt(#ids)), the head's weights
 * on h (the dense path), the bias, and for a user the residual over the ids.
 * Per token it shows the exact linear share, the exact residual share, and the
 * dense share measured by leaving the token out of the mean embedding (so the
 * dense shares need not add up to the dense path: said in the output).  Tokens
 * are the texts features_extract() hashed (several texts may share an id; the
 * first met is shown).  With --user it also shows how far the user's head and
 * residual move the score from the global head.
 */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "adapt.h"
#include "cli.h"
#include "commands.h"
#include "features.h"
#include "input.h"
#include "log.h"
#include "model.h"
#include "oppoint.h"
#include "refit.h"
#include "senderlist.h"
#include "userdb.h"

struct contrib {
    uint32_t id;
    double lin, dense, resid, total;
};

static void
on_token(void *arg, uint32_t id, const char *token, size_t len)
{
    GHashTable *names = arg;

    if (!g_hash_table_contains(names, GUINT_TO_POINTER(id)))
        g_hash_table_insert(names, GUINT_TO_POINTER(id), g_strndup(token, len));
}

static int
cmp_total_desc(const void *a, const void *b)
{
    double x = ((const struct contrib *) a)->total, y = ((const struct contrib *) b)->total;

    return x < y ? 1 : x > y ? -1 : 0;
}

static double
residual_of(const struct user_model *um, uint32_t id)
{
    return um ? user_model_slot_weight(um, adapt_resid_slot(id, um->seed, um->resid_bits)) : 0;
}

/* Per-id contributions to the logit under head (d + 2 floats). */
static int
contributions(const struct model *m, const float *head, const struct user_model *um,
              const uint32_t *ids, size_t n, struct contrib *out)
{
    const struct net *net = &m->net;
    uint32_t D = net->dims.emb_dim, H = net->dims.hidden;
    uint32_t lmask = (uint32_t) (((uint64_t) 1 << net->dims.lin_bits) - 1);
    uint32_t emask = (uint32_t) (((uint64_t) 1 << net->dims.emb_bits) - 1);
    double *sum = calloc(D, sizeof(double)), vh_h = 0;
    double sq = sqrt((double) n);

    if (sum == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const float *row = net->emb + (size_t) (ids[i] & emask) * D;
        for (uint32_t k = 0; k < D; k++)
            sum[k] += row[k];
    }
    for (uint32_t j = 0; j < H; j++) {
        double a = net->b1[j];
        for (uint32_t k = 0; k < D; k++)
            a += net->w1[(size_t) j * D + k] * sum[k] / (double) n;
        vh_h += head[j] * tanh(a);
    }
    for (size_t i = 0; i < n; i++) {
        const float *row = net->emb + (size_t) (ids[i] & emask) * D;
        double without = 0;

        if (n > 1) {
            for (uint32_t j = 0; j < H; j++) {
                double a = net->b1[j];
                for (uint32_t k = 0; k < D; k++)
                    a += net->w1[(size_t) j * D + k] * (sum[k] - row[k]) / (double) (n - 1);
                without += head[j] * tanh(a);
            }
        } else {
            for (uint32_t j = 0; j < H; j++)
                without += head[j] * tanh(net->b1[j]);
        }
        out[i].id = ids[i];
        out[i].lin = head[H] * net->lin[ids[i] & lmask] / sq;
        out[i].dense = vh_h - without;
        out[i].resid = residual_of(um, ids[i]) / sq;     /* as adapt_logit() */
        if (um != NULL && um->resid_bits <= 30)       /* with its sender memory */
            out[i].resid += user_model_slot_weight(um, adapt_memory_slot(ids[i], um->seed));
        out[i].total = out[i].lin + out[i].dense + out[i].resid;
    }
    free(sum);
    return 0;
}

static void
print_rows(GHashTable *names, const struct contrib *c, size_t n, size_t top, int spam_side,
           int with_resid)
{
    size_t shown = 0;

    printf("%s\n", spam_side ? "pushing toward spam:" : "pushing toward ham:");
    printf("  %8s %8s %8s%s  %s\n", "logit", "linear", "dense", with_resid ? " residual" : "",
           "token");
    for (size_t k = 0; k < n && shown < top; k++) {
        const struct contrib *x = &c[spam_side ? k : n - 1 - k];
        const char *name;

        if (spam_side ? x->total <= 0 : x->total >= 0)
            break;
        name = g_hash_table_lookup(names, GUINT_TO_POINTER(x->id));
        printf("  %+8.4f %+8.4f %+8.4f", x->total, x->lin, x->dense);
        if (with_resid)
            printf(" %+8.4f", x->resid);
        printf("  %s\n", name ? name : "(unnamed id)");
        shown++;
    }
    if (shown == 0)
        printf("  (none)\n");
}

struct explain_args {
    gchar *model_path, *db_path, *user_arg;
    gint top;
    gdouble target;
};

/* What the command holds while it runs; explain_close() frees it. */
struct explain {
    struct explain_args a;
    const char *path;           /* the message: argv[1] */
    GHashTable *names;          /* id -> the first token text hashed to it */
    char *buf;                  /* the message */
    size_t len;
    struct features f;
    struct model *m;
    struct store *s;
    struct user_model *um;
    struct contrib *c;
    char *user;
    float h[NET_MAX_HIDDEN], z;
    const float *head;
    float threshold;            /* the model's, or the user's (refit_user_threshold) */
    int thr_source;             /* OPPOINT_* */
    double target;              /* the target FPR that applied */
};

static int
explain_parse(struct explain_args *a, int *argc, char ***argv)
{
    GOptionEntry entries[] = {
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &a->model_path, "the model file", "MODEL" },
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &a->db_path, "the store (with --user)", "DB" },
        { "user", 0, 0, G_OPTION_ARG_STRING, &a->user_arg, "explain this user's score", "ADDRESS" },
        { "top", 'n', 0, G_OPTION_ARG_INT, &a->top, "tokens shown per side (default 10)", "N" },
        { "target-fpr", 0, 0, G_OPTION_ARG_DOUBLE, &a->target, "with --user: the target "
          "false-positive rate the user's threshold meets (default 0.003)", "P" },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };

    a->top = 10;
    a->target = OPPOINT_TARGET_DEFAULT;
    return cli_parse("explain", "FILE|- - why a message scores as it does", entries,
                     argc, argv);
}

/* The usage rules, the model and the user's model.  Returns an exit code. */
static int
explain_open(struct explain *e, int argc, char **argv)
{
    const struct explain_args *a = &e->a;
    char err[512];
    int rc, st;

    if (a->model_path == NULL || argc != 2)
        return cli_usage("explain", "usage: spamshift explain -m MODEL [--db DB --user U] "
                         "FILE|-");
    if ((a->db_path != NULL) != (a->user_arg != NULL))
        return cli_usage("explain", "--db and --user go together");
    if (a->top < 1)
        return cli_usage("explain", "--top must be at least 1, got %d", a->top);
    if (!oppoint_target_valid(a->target))
        return cli_usage("explain", "--target-fpr must be in [%g, %g], got %g",
                         OPPOINT_TARGET_MIN, OPPOINT_TARGET_MAX, a->target);
    if (a->user_arg != NULL && (e->user = userdb_user_key("explain", a->user_arg)) == NULL)
        return EX_USAGE;
    if ((rc = cli_model_open("explain", a->model_path, &e->m)) != 0)
        return rc;
    e->path = argv[1];
    e->threshold = e->m->threshold;
    e->thr_source = OPPOINT_MODEL;
    if (e->user == NULL)
        return 0;
    if ((rc = userdb_open("explain", a->db_path, STORE_RDONLY, -1, &e->s)) != 0)
        return rc;
    st = refit_load_user_model(e->s, e->m, e->user, &e->um, err, sizeof(err));
    if (st == STORE_OK || st == STORE_NOTFOUND)
        st = refit_user_threshold(e->s, e->m, e->user, a->target, &e->threshold,
                                  &e->thr_source, &e->target, err, sizeof(err));
    if (st != STORE_OK) {
        log_err("explain: %s", err);
        return userdb_exit(st);
    }
    return 0;
}

/* Read the one message, extract it naming its tokens, and work out each id's
 * contribution (sorted, most spammy first).  Returns an exit code. */
static int
explain_score(struct explain *e)
{
    struct input_source src = { .path = (char *) e->path, .label = INPUT_LABEL_NONE };
    int n, r = input_read_first(&src, &e->buf, &e->len, &n);

    if (r == -1)
        return EX_NOINPUT;
    if (r == -2)
        return cli_oom("explain");
    if (n != 1) {
        log_err("explain: %s holds %d messages; explain one at a time", e->path, n);
        return EX_DATAERR;
    }
    if (features_extract(e->buf, e->len, &e->f, on_token, e->names) != 0)
        return cli_oom("explain");
    if ((e->c = calloc(e->f.n ? e->f.n : 1, sizeof(*e->c))) == NULL)
        return cli_oom("explain");
    model_score(e->m, e->f.ids, e->f.n, e->h, &e->z);
    e->head = e->um ? e->um->head : e->m->net.head;
    if (contributions(e->m, e->head, e->um, e->f.ids, e->f.n, e->c) != 0)
        return cli_oom("explain");
    qsort(e->c, e->f.n, sizeof(*e->c), cmp_total_desc);
    return 0;
}

/* The score and how the logit is made up. */
static void
explain_print_sum(const struct explain *e)
{
    const struct model *m = e->m;
    const struct user_model *um = e->um;
    const float *head = e->head;
    uint32_t H = m->net.dims.hidden;
    double g = net_head(m->net.head, H, e->h, e->z);
    double u = um ? adapt_logit(m, um, e->h, e->z, e->f.ids, e->f.n) : g;
    double vh = 0, resid = 0;

    for (uint32_t j = 0; j < H; j++)
        vh += head[j] * e->h[j];
    for (size_t i = 0; i < e->f.n; i++)
        resid += e->c[i].resid;
    printf("%s: score %.6f (%s at threshold %.3f), logit %+.4f, %zu features\n",
           e->path, net_sigmoid((float) u), net_sigmoid((float) u) >= e->threshold
           ? "spam" : "ham", (double) e->threshold, u, e->f.n);
    printf("logit = linear path %+.4f + dense path %+.4f + bias %+.4f",
           head[H] * e->z, vh, (double) head[H + 1]);
    if (um) {
        double learned = adapt_learned_share(um, e->f.ids, e->f.n);
        double mem = adapt_memory_share(um, e->f.ids, e->f.n);

        printf(" + user residual %+.4f", resid - mem);
        if (fabs(learned) > 1e-3)
            printf(" + learned message %+.4f (the user taught this very message)", learned);
        if (fabs(mem) > 1e-3)
            printf(" + sender memory %+.4f (what the user taught of this sender or "
                   "campaign)", mem);
    }
    printf("\n");
    if (e->user != NULL) {
        if (um)
            printf("user %s (model version %" PRIu64 "): global head alone %.6f "
                   "(logit %+.4f); the user's head and residual move the logit by "
                   "%+.4f\n", e->user, um->version, net_sigmoid((float) g), g, u - g);
        else
            printf("user %s has no model for this base model: scored with the global "
                   "head\n", e->user);
        printf("threshold %.6f for user %s from %s (target FPR %.3g%%)\n",
               (double) e->threshold, e->user, oppoint_source_name(e->thr_source),
               100 * e->target);
    }
    printf("per token: linear and residual shares are exact (the residual with the "
           "token's sender memory); the dense share is the change of the dense path when "
           "the token is left out\n\n");
}

/* With --user: whether the user's allow or block lists decide this message,
 * by its Return-Path (the envelope sender of a delivered copy) and From, as
 * the milter decides (senderlist.h). */
static void
explain_print_lists(const struct explain *e)
{
    char *env = senderlist_header(e->buf, e->len, "Return-Path");
    char *from = senderlist_header(e->buf, e->len, "From");
    struct senderlist_match lm;
    struct senderlist *l;
    uint64_t gen;
    char err[512];

    if ((l = senderlist_load(e->s, &gen, err, sizeof(err))) == NULL)
        log_warn("explain: allow and block lists: %s", err);
    else {
        senderlist_decide(l, e->user, env, from, &lm);
        if (lm.action == STORE_LIST_NONE)
            printf("lists: no allow or block entry of %s decides it (Return-Path %s, "
                   "From %s)\n", e->user, env ? env : "none", from ? from : "none");
        else
            printf("lists: %s by %s %s: the milter's verdict for %s is %s whatever the "
                   "score\n", lm.action == STORE_LIST_ALLOW ? "allowed" : "blocked", lm.scope,
                   lm.sender, e->user, lm.action == STORE_LIST_ALLOW ? "ham" : "spam");
    }
    senderlist_free(l);
    g_free(env);
    g_free(from);
}

static int
explain_report(const struct explain *e)
{
    explain_print_sum(e);
    if (e->user != NULL)
        explain_print_lists(e);
    print_rows(e->names, e->c, e->f.n, (size_t) e->a.top, 1, e->um != NULL);
    printf("\n");
    print_rows(e->names, e->c, e->f.n, (size_t) e->a.top, 0, e->um != NULL);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_err("explain: cannot write the explanation");
        return EX_CANTCREAT;
    }
    return 0;
}

static void
explain_close(struct explain *e)
{
    features_clear(&e->f);
    free(e->buf);
    free(e->c);
    g_hash_table_destroy(e->names);
    user_model_free(e->um);
    store_close(e->s);
    model_free(e->m);
    g_free(e->user);
    g_free(e->a.model_path);
    g_free(e->a.db_path);
    g_free(e->a.user_arg);
}

int
cmd_explain(int argc, char **argv)
{
    struct explain e = { 0 };
    int rc;

    e.names = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    features_init(&e.f);
    if ((rc = explain_parse(&e.a, &argc, &argv)) == 0
            && (rc = explain_open(&e, argc, argv)) == 0
            && (rc = explain_score(&e)) == 0)
        rc = explain_report(&e);
    explain_close(&e);
    return rc;
}
