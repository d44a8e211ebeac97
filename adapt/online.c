/*
 * online.c - classify-then-learn for one user over the store (online.h).
 */
#include "config.h"

#include <errno.h>
#include <glib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fbpool.h"
#include "online.h"
#include "refit.h"
#include "clock.h"

#define COUNTER "online_learned"

void
online_opts_default(struct online_opts *o)
{
    o->refit_every = 10;
    o->retrain_first = 50;
    o->retrain_growth = 1.1;
    o->seed = 1;
    o->save_base = 1;
    o->step_lr = 0;
    o->step_margin = 0.25f;
    o->store_feedback = 1;
}

static uint64_t
next_after(const struct online_opts *o, uint64_t n)
{
    uint64_t next = o->retrain_first ? o->retrain_first : 1;

    while (next <= n) {
        uint64_t grown = (uint64_t) ceil((double) next * o->retrain_growth);
        next = grown > next ? grown : next + 1;
    }
    return next;
}

static int
load_user(struct online *ol, char *err, size_t errlen)
{
    int rc;

    if (ol->base == NULL)
        return 0;
    rc = refit_load_user_model(ol->s, ol->base, ol->user, &ol->um, err, errlen);
    return rc == STORE_OK || rc == STORE_NOTFOUND ? 0 : -1;
}

/* A learned message kept in memory (struct online.mem), keyed by its digest. */
struct mem_ex {
    uint8_t digest[STORE_DIGEST_LEN];
    uint32_t *ids;
    uint32_t n;
    uint8_t spam;
};

static void
mem_ex_free(gpointer p)
{
    struct mem_ex *x = p;

    free(x->ids);
    free(x);
}

static guint
digest_hash(gconstpointer k)
{
    guint h;

    memcpy(&h, k, sizeof(h));
    return h;
}

static gboolean
digest_equal(gconstpointer a, gconstpointer b)
{
    return memcmp(a, b, STORE_DIGEST_LEN) == 0;
}

static gint
cmp_digest(gconstpointer a, gconstpointer b)
{
    return memcmp(a, b, STORE_DIGEST_LEN);
}

/* A writable heap copy of m (weights copied; the source pool still points into
 * m, which must outlive it); NULL when memory is short.  Free with model_free(). */
static struct model *
model_rw_copy(const struct model *m)
{
    const struct net_dims *d = &m->net.dims;
    size_t n_lin = (size_t) 1 << d->lin_bits;
    size_t n_emb = ((size_t) 1 << d->emb_bits) * d->emb_dim;
    size_t n_w1 = (size_t) d->hidden * d->emb_dim;
    struct model *c = malloc(sizeof(*c));

    if (c == NULL)
        return NULL;
    *c = *m;
    c->map = NULL;
    c->map_len = 0;
    c->pool_rep_owned = NULL;
    c->pool_label_owned = NULL;
    memset(&c->net, 0, sizeof(c->net));
    c->net.dims = *d;
    c->net.owned = 1;
    c->net.lin = malloc(n_lin * sizeof(float));
    c->net.emb = malloc(n_emb * sizeof(float));
    c->net.w1 = malloc(n_w1 * sizeof(float));
    c->net.b1 = malloc(d->hidden * sizeof(float));
    c->net.head = malloc(NET_HEAD_LEN(d->hidden) * sizeof(float));
    if (c->net.lin == NULL || c->net.emb == NULL || c->net.w1 == NULL
        || c->net.b1 == NULL || c->net.head == NULL)
        return model_free(c);
    memcpy(c->net.lin, m->net.lin, n_lin * sizeof(float));
    memcpy(c->net.emb, m->net.emb, n_emb * sizeof(float));
    memcpy(c->net.w1, m->net.w1, n_w1 * sizeof(float));
    memcpy(c->net.b1, m->net.b1, d->hidden * sizeof(float));
    memcpy(c->net.head, m->net.head, NET_HEAD_LEN(d->hidden) * sizeof(float));
    return c;
}

/* Saved own base: the online steps since it was written live in steps_path as
 * (slot, value) pairs of the linear table, replayed onto a writable copy. */
static int
steps_replay(struct online *ol, char *err, size_t errlen)
{
    FILE *fp;
    uint32_t rec[2];
    uint32_t mask;

    ol->rw = model_free(ol->rw);
    if (ol->base == NULL || ol->o.step_lr <= 0 || ol->steps_path == NULL)
        return 0;
    if ((ol->rw = model_rw_copy(ol->base)) == NULL) {
        snprintf(err, errlen, "out of memory copying the base model");
        return -1;
    }
    mask = (uint32_t) (((uint64_t) 1 << ol->rw->net.dims.lin_bits) - 1);
    if ((fp = fopen(ol->steps_path, "rb")) == NULL)
        return 0;
    while (fread(rec, sizeof(rec), 1, fp) == 1) {
        float v;

        memcpy(&v, &rec[1], sizeof(v));
        ol->rw->net.lin[rec[0] & mask] = v;
    }
    fclose(fp);
    return 0;
}

int
online_open(struct online *ol, struct store *s, const char *user,
            const char *fixed_base, const char *own_base_path,
            const struct online_opts *o, char *err, size_t errlen)
{
    int64_t v = 0;
    const char *path = fixed_base ? fixed_base : own_base_path;

    memset(ol, 0, sizeof(*ol));
    ol->s = s;
    ol->o = *o;
    adapt_opts_default(&ol->ao);
    if ((ol->user = strdup(user)) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (fixed_base == NULL && (ol->base_path = strdup(own_base_path)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((fixed_base != NULL || access(path, F_OK) == 0)
            && model_load(path, &ol->base, err, errlen) != 0)
        goto fail;
    if (fixed_base == NULL && o->save_base && o->step_lr > 0) {
        if ((ol->steps_path = malloc(strlen(own_base_path) + 7)) == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        sprintf(ol->steps_path, "%s.steps", own_base_path);
        if (steps_replay(ol, err, errlen) != 0)
            goto fail;
    }
    if (store_counter_get(s, user, COUNTER, &v) == STORE_OK && v > 0)
        ol->n_learned = (uint64_t) v;
    ol->next_retrain = next_after(o, ol->n_learned);
    if (fixed_base == NULL && !o->save_base) {
        /* An own base in memory over a store without any feedback yet (eval's
         * temporary store): everything to retrain from is what this run
         * learns, so keep it in memory rather than read the store back at each
         * retrain (the retrains were half of eval --online's time). */
        struct fbpool p;

        if (fbpool_load(s, &p) != STORE_OK) {
            snprintf(err, errlen, "reading feedback: %s", store_errmsg(s));
            goto fail;
        }
        if (p.n == 0)
            ol->mem = g_hash_table_new_full(digest_hash, digest_equal, NULL, mem_ex_free);
        fbpool_free(&p);
    }
    if (ol->mem == NULL || o->refit_every)
        ol->o.store_feedback = 1;
    if (load_user(ol, err, errlen) != 0)
        goto fail;
    return 0;
fail:
    online_close(ol);
    return -1;
}

float
online_score(struct online *ol, const uint32_t *ids, size_t n)
{
    if (ol->base == NULL)
        return 0.5f;
    return adapt_score(ol->rw ? ol->rw : ol->base, ol->um, ids, n);
}

int
online_flush(struct online *ol, char *err, size_t errlen)
{
    if (!ol->in_txn)
        return 0;
    ol->in_txn = 0;
    if (store_commit(ol->s) != STORE_OK) {
        snprintf(err, errlen, "%s", store_errmsg(ol->s));
        return -1;
    }
    return 0;
}

/* Retrain the own base from every user's feedback and load it. */
static int
retrain(struct online *ol, char *err, size_t errlen)
{
    struct fbpool pool;
    struct model_train_opts mo;
    struct model *m, *loaded = NULL;
    double t0 = clock_seconds();

    if (ol->mem != NULL) {
        /* The same examples in the same order as fbpool_load() would read:
         * the run's one user, by digest. */
        GList *keys = g_list_sort(g_hash_table_get_keys(ol->mem), cmp_digest);
        size_t k = 0;

        memset(&pool, 0, sizeof(pool));
        pool.ex = calloc(g_hash_table_size(ol->mem) + 1, sizeof(*pool.ex));
        if (pool.ex == NULL) {
            g_list_free(keys);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (GList *l = keys; l != NULL; l = l->next) {
            const struct mem_ex *x = g_hash_table_lookup(ol->mem, l->data);

            pool.ex[k++] = (struct net_example) { x->ids, x->n, x->spam };
            x->spam ? pool.n_spam++ : pool.n_ham++;
        }
        pool.n = k;
        g_list_free(keys);
    } else if (fbpool_load(ol->s, &pool) != STORE_OK) {
        snprintf(err, errlen, "reading feedback: %s", store_errmsg(ol->s));
        return -1;
    }
    if (pool.n_spam == 0 || pool.n_ham == 0) {
        /* Nothing to separate yet: try again at the next step. */
        fbpool_free(&pool);
        return 0;
    }
    model_train_opts_default(&mo);
    mo.net.seed = ol->o.seed;
    m = model_train(pool.ex, pool.n, &mo, err, errlen);
    fbpool_free(&pool);
    if (m == NULL)
        return -1;
    if (ol->o.save_base) {
        if (model_save(m, ol->base_path, err, errlen) != 0) {
            model_free(m);
            return -1;
        }
        model_free(m);
        if (model_load(ol->base_path, &loaded, err, errlen) != 0)
            return -1;
    } else {
        /* Not in a file, so no checksum to name it: the store keys heads and
         * cached representations by this name, which no file id can take (ids
         * are 16 hex digits). */
        snprintf(m->id, sizeof(m->id), "mem%llu", (unsigned long long) ol->n_learned);
        loaded = m;
    }
    ol->rw = model_free(ol->rw);
    model_free(ol->base);
    ol->base = loaded;
    ol->um = user_model_free(ol->um);
    if (ol->steps_path != NULL) {
        /* The new base has learned everything so far: start the steps afresh. */
        if (unlink(ol->steps_path) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "%s: %s", ol->steps_path, strerror(errno));
            return -1;
        }
        if (steps_replay(ol, err, errlen) != 0)
            return -1;
    }
    ol->n_retrains++;
    ol->retrain_s += clock_seconds() - t0;
    return 0;
}

static int
refit(struct online *ol, char *err, size_t errlen)
{
    struct refit_result r;
    double t0 = clock_seconds();

    if (ol->base == NULL)
        return 0;
    if (refit_user(ol->s, ol->base, ol->user, &ol->ao, 0, &r, err, errlen) != STORE_OK)
        return -1;
    ol->since_refit = 0;
    ol->n_refits++;
    ol->refit_s += clock_seconds() - t0;
    return load_user(ol, err, errlen);
}

/* Append the linear weights of ids after a step to the steps file. */
static int
steps_append(struct online *ol, const struct model *cur, const uint32_t *ids, size_t n,
             char *err, size_t errlen)
{
    uint32_t mask = (uint32_t) (((uint64_t) 1 << cur->net.dims.lin_bits) - 1);
    FILE *fp = fopen(ol->steps_path, "ab");

    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", ol->steps_path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t rec[2] = { ids[i] & mask, 0 };

        memcpy(&rec[1], &cur->net.lin[ids[i] & mask], sizeof(float));
        fwrite(rec, sizeof(rec), 1, fp);
    }
    if (fclose(fp) != 0) {
        snprintf(err, errlen, "%s: %s", ol->steps_path, strerror(errno));
        return -1;
    }
    return 0;
}

int
online_learn(struct online *ol, const uint8_t digest[STORE_DIGEST_LEN],
             const uint32_t *ids, size_t n, int spam, char *err, size_t errlen)
{
    int rc;

    if (ol->o.store_feedback && !ol->in_txn) {
        if ((rc = store_begin(ol->s)) != STORE_OK) {
            snprintf(err, errlen, "%s", store_errmsg(ol->s));
            return -1;
        }
        ol->in_txn = 1;
    }
    if (ol->o.store_feedback
            && ((rc = store_feedback_put(ol->s, ol->user, digest, spam, ids, n, NULL))
                    != STORE_OK
                || (rc = store_counter_add(ol->s, ol->user, COUNTER, 1)) != STORE_OK)) {
        snprintf(err, errlen, "%s", store_errmsg(ol->s));
        store_rollback(ol->s);
        ol->in_txn = 0;
        return -1;
    }
    if (ol->mem != NULL) {
        struct mem_ex *x = g_hash_table_lookup(ol->mem, digest);

        if (x == NULL) {
            if ((x = calloc(1, sizeof(*x))) == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            memcpy(x->digest, digest, STORE_DIGEST_LEN);
            g_hash_table_insert(ol->mem, x->digest, x);
        }
        free(x->ids);
        if ((x->ids = malloc((n ? n : 1) * sizeof(*ids))) == NULL) {
            x->n = 0;
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        memcpy(x->ids, ids, n * sizeof(*ids));
        x->n = (uint32_t) n;
        x->spam = (uint8_t) (spam != 0);
    }
    ol->n_learned++;
    ol->since_refit++;
    if (ol->o.step_lr > 0 && ol->base != NULL && (ol->rw != NULL || ol->base->net.owned)) {
        struct model *cur = ol->rw ? ol->rw : ol->base;
        /* Between retrains an in-memory own base learns this message at once:
         * one AdaGrad step on the sparse linear weights of its ids (the dense
         * path and the head stay as trained), only when the message was not
         * already confidently right (train on error and near-errors, as the
         * TREC online filters do), so that easy mail does not drift it. */
        float p = adapt_score(cur, NULL, ids, n);

        if (spam ? p < 1.0f - ol->o.step_margin : p > ol->o.step_margin) {
            struct net_example ex = { ids, (uint32_t) n, (uint8_t) (spam != 0) };
            struct net_train_opts to;

            net_train_opts_default(&to);
            if (net_step_linear(&cur->net, &ex, ol->o.step_lr, to.l2) != 0) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
            ol->n_steps++;
            if (ol->steps_path != NULL && steps_append(ol, cur, ids, n, err, errlen) != 0)
                return -1;
        }
    }
    if (ol->base_path != NULL && ol->n_learned >= ol->next_retrain) {
        ol->next_retrain = next_after(&ol->o, ol->n_learned);
        if (online_flush(ol, err, errlen) != 0 || retrain(ol, err, errlen) != 0
                || (ol->o.refit_every && refit(ol, err, errlen) != 0))
            return -1;
    } else if (ol->o.refit_every && ol->since_refit >= ol->o.refit_every) {
        if (online_flush(ol, err, errlen) != 0 || refit(ol, err, errlen) != 0)
            return -1;
    }
    return 0;
}

void
online_close(struct online *ol)
{
    char err[256];

    online_flush(ol, err, sizeof(err));
    if (ol->mem != NULL)
        g_hash_table_destroy(ol->mem);
    model_free(ol->rw);
    model_free(ol->base);
    user_model_free(ol->um);
    free(ol->steps_path);
    free(ol->user);
    free(ol->base_path);
    memset(ol, 0, sizeof(*ol));
}
