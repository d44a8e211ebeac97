/*
 * runtime.c - the reference-counted configuration + model; see runtime.h.
 */
#include "config.h"

#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include <glib.h>

#include "log.h"
#include "runtime.h"
#include "userkey.h"

static pthread_mutex_t runtime_lock = PTHREAD_MUTEX_INITIALIZER;
static struct runtime *runtime_current;     /* guarded by runtime_lock */
static unsigned runtime_generation;         /* guarded by runtime_lock */

static void
runtime_free(struct runtime *rt)
{
    headcache_free(rt->cache);      /* before the model it borrows */
    model_free(rt->model);
    if (rt->aliases != NULL)
        g_hash_table_unref(rt->aliases);
    netlist_free(rt->trusted);
    conf_free(rt->conf);
    g_free(rt);
}

int
runtime_build(const char *conf_path, struct runtime **out, GPtrArray *errors)
{
    struct runtime *rt;
    struct conf *c;
    char err[512];

    *out = NULL;
    if (conf_load(conf_path, &c, errors) != 0)
        return -1;
    rt = g_new0(struct runtime, 1);
    rt->refs = 1;
    rt->conf = c;
    /* Private memory, not a shared mapping: an operator's `cp` onto the model
     * file would otherwise kill the milter with SIGBUS (faults.lua). */
    if (model_load_private(c->model, &rt->model, err, sizeof(err)) != 0) {
        g_ptr_array_add(errors, g_strdup_printf("%s: model %s: %s", conf_path, c->model, err));
        runtime_free(rt);
        return -1;
    }
    if (c->alias_map != NULL
        && (rt->aliases = userkey_alias_load(c->alias_map, errors)) == NULL) {
        runtime_free(rt);
        return -1;
    }
    /* Checked when the config was parsed, so this cannot fail here. */
    rt->trusted = netlist_parse(c->trusted_networks, err, sizeof(err));
    g_assert(rt->trusted != NULL);

    if (c->database != NULL && (rt->cache = headcache_new(rt->model, 0)) == NULL) {
        g_ptr_array_add(errors, g_strdup_printf("%s: out of memory for the head cache",
                                                conf_path));
        runtime_free(rt);
        return -1;
    }
    rt->thr.spam = c->spam_threshold >= 0 ? c->spam_threshold : rt->model->threshold;
    rt->thr.quarantine = c->quarantine_threshold;
    rt->thr.reject = c->reject_threshold;
    /* With spam_threshold = model the order could only be checked now. */
    if ((rt->thr.quarantine <= 1 && rt->thr.quarantine < rt->thr.spam)
        || (rt->thr.reject <= 1 && rt->thr.reject < rt->thr.spam)) {
        g_ptr_array_add(errors, g_strdup_printf(
            "%s: quarantine_threshold and reject_threshold must not be below the model's "
            "threshold %.6f (spam_threshold = model)", conf_path, (double)rt->thr.spam));
        runtime_free(rt);
        return -1;
    }
    *out = rt;
    return 0;
}

struct runtime *
runtime_ref(struct runtime *rt)
{
    if (rt != NULL)
        g_atomic_int_inc(&rt->refs);
    return rt;
}

struct runtime *
runtime_unref(struct runtime *rt)
{
    if (rt != NULL && g_atomic_int_dec_and_test(&rt->refs))
        runtime_free(rt);
    return NULL;
}

void
runtime_install(struct runtime *rt)
{
    struct runtime *old;

    pthread_mutex_lock(&runtime_lock);
    old = runtime_current;
    runtime_current = rt;
    rt->generation = ++runtime_generation;
    pthread_mutex_unlock(&runtime_lock);
    runtime_unref(old);
}

struct runtime *
runtime_acquire(void)
{
    struct runtime *rt;

    pthread_mutex_lock(&runtime_lock);
    rt = runtime_ref(runtime_current);
    pthread_mutex_unlock(&runtime_lock);
    return rt;
}

/* Settings that only take effect at start: warn when a reload changes them. */
static void
runtime_warn_static(const struct conf *old, const struct conf *new)
{
    static const struct { const char *name; size_t off; } keys[] = {
        { "socket", offsetof(struct conf, socket) },
        { "socket_owner", offsetof(struct conf, socket_owner) },
        { "user", offsetof(struct conf, user) },
        { "pid_file", offsetof(struct conf, pid_file) },
        { "database", offsetof(struct conf, database) },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *a = *(char *const *)(const void *)((const char *)old + keys[i].off);
        const char *b = *(char *const *)(const void *)((const char *)new + keys[i].off);
        if (g_strcmp0(a, b) != 0)
            log_warn("reload: %s changed; it takes effect at the next restart", keys[i].name);
    }
    if (old->socket_mode != new->socket_mode || old->log_target != new->log_target
        || old->refit_interval != new->refit_interval)
        log_warn("reload: socket_mode, log_target or refit_interval changed; they take "
                 "effect at the next restart");
}

int
runtime_reload(void)
{
    struct runtime *cur = runtime_acquire(), *rt;
    GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);
    int rc = -1;

    if (cur == NULL) {
        log_err("reload: no configuration loaded");
        goto out;
    }
    if (runtime_build(cur->conf->path, &rt, errors) != 0) {
        for (guint i = 0; i < errors->len; i++)
            log_err("reload failed, keeping model %s: %s", cur->model->id,
                    (const char *)errors->pdata[i]);
        goto out;
    }
    runtime_warn_static(cur->conf, rt->conf);
    log_set_level(rt->conf->log_level);
    runtime_install(rt);
    log_msg(LOG_NOTICE, NULL, "reloaded %s: model %s (%s), spam_threshold %.6f",
            rt->conf->path, rt->model->id, rt->conf->model, (double)rt->thr.spam);
    rc = 0;
out:
    runtime_unref(cur);
    g_ptr_array_unref(errors);
    return rc;
}

void
runtime_shutdown(void)
{
    struct runtime *old;

    pthread_mutex_lock(&runtime_lock);
    old = runtime_current;
    runtime_current = NULL;
    pthread_mutex_unlock(&runtime_lock);
    runtime_unref(old);
}
