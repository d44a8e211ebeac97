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
#include "refit.h"
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

struct msgbuf {
    char *buf;
    size_t len;
    int n;
};

static int
on_message(void *arg, const char *name, const char *buf, size_t len)
{
    struct msgbuf *mb = arg;

    (void) name;
    if (++mb->n > 1)
        return 1;
    if ((mb->buf = malloc(len ? len : 1)) == NULL)
        return -2;
    memcpy(mb->buf, buf, len);
    mb->len = len;
    return 0;
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

/* The logit share of the message's own learned slot (adapt_learned_slot): non-zero
 * only for a message the user taught, or an exact duplicate of one. */
static double
learned_of(const struct user_model *um, const uint32_t *ids, size_t n)
{
    double w;

    if (um == NULL || n == 0 || um->resid_bits >= 31)
        return 0;
    w = user_model_slot_weight(um, adapt_learned_slot(ids, n, um->seed));
    return w * ceil(ADAPT_LEARNED_GAIN * sqrt((double) n)) / sqrt((double) n);
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

int
cmd_explain(int argc, char **argv)
{
    gchar *model_path = NULL, *db_path = NULL, *user_arg = NULL;
    gint top = 10;
    GOptionEntry entries[] = {
        { "model", 'm', 0, G_OPTION_ARG_FILENAME, &model_path, "the model file", "MODEL" },
        { "db", 0, 0, G_OPTION_ARG_FILENAME, &db_path, "the store (with --user)", "DB" },
        { "user", 0, 0, G_OPTION_ARG_STRING, &user_arg, "explain this user's score", "ADDRESS" },
        { "top", 'n', 0, G_OPTION_ARG_INT, &top, "tokens shown per side (default 10)", "N" },
        { NULL, 0, 0, 0, NULL, NULL, NULL }
    };
    GOptionContext *ctx = g_option_context_new("FILE|- - why a message scores as it does");
    GError *gerr = NULL;
    GHashTable *names = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
    struct input_source src = { 0 };
    struct msgbuf mb = { 0 };
    struct features f;
    struct model *m = NULL;
    struct store *s = NULL;
    struct user_model *um = NULL;
    struct contrib *c = NULL;
    char err[512], *user = NULL;
    float h[NET_MAX_HIDDEN], z;
    const float *head;
    int rc = 0;

    features_init(&f);
    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
        log_err("explain: %s (see spamshift explain --help)", gerr->message);
        g_error_free(gerr);
        rc = EX_USAGE;
        goto done;
    }
    if (model_path == NULL || argc != 2) {
        log_err("explain: usage: spamshift explain -m MODEL [--db DB --user U] FILE|-");
        rc = EX_USAGE;
        goto done;
    }
    if ((db_path != NULL) != (user_arg != NULL)) {
        log_err("explain: --db and --user go together");
        rc = EX_USAGE;
        goto done;
    }
    if (top < 1) {
        log_err("explain: --top must be at least 1, got %d", top);
        rc = EX_USAGE;
        goto done;
    }
    if (user_arg != NULL && (user = userdb_user_key("explain", user_arg)) == NULL) {
        rc = EX_USAGE;
        goto done;
    }
    if (model_load(model_path, &m, err, sizeof(err)) != 0) {
        log_err("explain: %s", err);
        rc = access(model_path, F_OK) != 0 ? EX_NOINPUT : EX_CONFIG;
        goto done;
    }
    if (user != NULL) {
        int st;

        if ((rc = userdb_open("explain", db_path, STORE_RDONLY, -1, &s)) != 0)
            goto done;
        st = refit_load_user_model(s, m, user, &um, err, sizeof(err));
        if (st != STORE_OK && st != STORE_NOTFOUND) {
            log_err("explain: %s", err);
            rc = userdb_exit(st);
            goto done;
        }
    }
    src.path = argv[1];
    src.label = INPUT_LABEL_NONE;
    {
        int r = input_read(&src, on_message, &mb);
        if (r == -1) {
            rc = EX_NOINPUT;
            goto done;
        }
        if (r == -2)
            goto oom;
        if (mb.n != 1) {
            log_err("explain: %s holds %d messages; explain one at a time", argv[1], mb.n);
            rc = EX_DATAERR;
            goto done;
        }
    }
    if (features_extract(mb.buf, mb.len, &f, on_token, names) != 0)
        goto oom;
    if ((c = calloc(f.n ? f.n : 1, sizeof(*c))) == NULL)
        goto oom;
    model_score(m, f.ids, f.n, h, &z);
    head = um ? um->head : m->net.head;
    if (contributions(m, head, um, f.ids, f.n, c) != 0)
        goto oom;
    qsort(c, f.n, sizeof(*c), cmp_total_desc);
    {
        uint32_t H = m->net.dims.hidden;
        double g = net_head(m->net.head, H, h, z);
        double u = um ? adapt_logit(m, um, h, z, f.ids, f.n) : g;
        double vh = 0, resid = 0;

        for (uint32_t j = 0; j < H; j++)
            vh += head[j] * h[j];
        for (size_t i = 0; i < f.n; i++)
            resid += c[i].resid;
        printf("%s: score %.6f (%s at threshold %.3f), logit %+.4f, %zu features\n",
               argv[1], net_sigmoid((float) u), net_sigmoid((float) u) >= m->threshold
               ? "spam" : "ham", (double) m->threshold, u, f.n);
        printf("logit = linear path %+.4f + dense path %+.4f + bias %+.4f",
               head[H] * z, vh, (double) head[H + 1]);
        if (um) {
            double learned = learned_of(um, f.ids, f.n);

            printf(" + user residual %+.4f", resid);
            if (fabs(learned) > 1e-3)
                printf(" + learned message %+.4f (the user taught this very message)", learned);
        }
        printf("\n");
        if (user != NULL) {
            if (um)
                printf("user %s (model version %" PRIu64 "): global head alone %.6f "
                       "(logit %+.4f); the user's head and residual move the logit by "
                       "%+.4f\n", user, um->version, net_sigmoid((float) g), g, u - g);
            else
                printf("user %s has no model for this base model: scored with the global "
                       "head\n", user);
        }
        printf("per token: linear and residual shares are exact; the dense share is the "
               "change of the dense path when the token is left out\n\n");
    }
    print_rows(names, c, f.n, (size_t) top, 1, um != NULL);
    printf("\n");
    print_rows(names, c, f.n, (size_t) top, 0, um != NULL);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        log_err("explain: cannot write the explanation");
        rc = EX_CANTCREAT;
    }
    goto done;
oom:
    log_err("explain: out of memory");
    rc = EX_SOFTWARE;
done:
    features_clear(&f);
    free(mb.buf);
    free(c);
    g_hash_table_destroy(names);
    user_model_free(um);
    store_close(s);
    model_free(m);
    g_free(user);
    g_free(model_path);
    g_free(db_path);
    g_free(user_arg);
    g_option_context_free(ctx);
    return rc;
}
