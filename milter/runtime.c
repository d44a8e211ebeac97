/*
 * runtime.c - the reference-counted configuration + model; see runtime.h.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

#include "log.h"
#include "clock.h"
#include "counters.h"
#include "runtime.h"
#include "store.h"
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

/* One problem with key's value, named by the file and the key's line. */
static void
runtime_error(GPtrArray *errors, const struct conf *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
runtime_error(GPtrArray *errors, const struct conf *c, const char *key, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    conf_verror(errors, c->path, conf_key_line(c, key), fmt, ap);
    va_end(ap);
}

/* The directory that will hold path exists and is a directory. */
static void
runtime_check_dir(GPtrArray *errors, const struct conf *c, const char *key, const char *path)
{
    char *dir = g_path_get_dirname(path);
    struct stat st;

    if (stat(dir, &st) != 0)
        runtime_error(errors, c, key, "%s = %s: directory %s: %s", key, path, dir,
                      g_strerror(errno));
    else if (!S_ISDIR(st.st_mode))
        runtime_error(errors, c, key, "%s = %s: %s is not a directory", key, path, dir);
    g_free(dir);
}

/* Checks that need the system, not just the file: the directories of the
 * socket, the store and the pid file, and the accounts named. */
static void
runtime_check_system(const struct conf *c, GPtrArray *errors)
{
    char err[256];
    const char *path;
    struct stat st;
    uid_t uid;
    gid_t gid;

    /* The default socket's directory is made by whoever starts the daemon
     * (systemd's RuntimeDirectory=), perhaps after this check. */
    if (conf_key_line(c, "socket") > 0
        && (g_str_has_prefix(c->socket, "unix:") || g_str_has_prefix(c->socket, "local:")))
        runtime_check_dir(errors, c, "socket", strchr(c->socket, ':') + 1);
    /* No password in the configuration, whoever may read this file: it is
     * copied between hosts and kept in version control (doc/operator.md,
     * PostgreSQL: roles, passwords and TLS). */
    if (c->database != NULL && store_db_password(c->database))
        runtime_error(errors, c, "database", "database: a password in the database "
                      "string is refused: %s", STORE_PASSWORD_HELP);
    /* A PostgreSQL connection string names no file: the server is reached
     * (and may be away) at run time. */
    if (c->database != NULL && (path = store_db_file(c->database)) != NULL) {
        if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
            runtime_error(errors, c, "database", "database = %s: not a regular file",
                          c->database);
        else if (stat(path, &st) != 0)
            runtime_check_dir(errors, c, "database", path);
    }
    if (c->pid_file != NULL)
        runtime_check_dir(errors, c, "pid_file", c->pid_file);
    if (c->user != NULL && conf_resolve_owner(c->user, &uid, &gid, err, sizeof(err)) != 0)
        runtime_error(errors, c, "user", "user: %s", err);
    if (c->socket_owner != NULL
        && conf_resolve_owner(c->socket_owner, &uid, &gid, err, sizeof(err)) != 0)
        runtime_error(errors, c, "socket_owner", "socket_owner: %s", err);
}

/* Load the model and the alias map named by rt->conf, resolve the thresholds;
 * every problem is added to errors. */
static void
runtime_load(struct runtime *rt, GPtrArray *errors)
{
    struct conf *c = rt->conf;
    char err[512];

    /* Private memory, not a shared mapping: an operator's `cp` onto the model
     * file would otherwise kill the milter with SIGBUS (faults.lua). */
    if (c->model != NULL
        && model_load_private(c->model, &rt->model, err, sizeof(err)) != 0)
        runtime_error(errors, c, "model", "model %s: %s", c->model, err);
    if (c->alias_map != NULL)   /* on failure NULL, and it said why, with lines */
        rt->aliases = userkey_alias_load(c->alias_map, errors);
    if (rt->model == NULL)
        return;
    rt->thr.spam = c->spam_threshold >= 0 ? c->spam_threshold : rt->model->threshold;
    rt->thr.quarantine = c->quarantine_threshold;
    rt->thr.reject = c->reject_threshold;
    /* With spam_threshold = model the order could only be checked now. */
    if ((rt->thr.quarantine <= 1 && rt->thr.quarantine < rt->thr.spam)
        || (rt->thr.reject <= 1 && rt->thr.reject < rt->thr.spam))
        runtime_error(errors, c, rt->thr.reject <= 1 && rt->thr.reject < rt->thr.spam
                      ? "reject_threshold" : "quarantine_threshold",
                      "quarantine_threshold and reject_threshold must not be below the "
                      "model's threshold %.6f (spam_threshold = model)", (double)rt->thr.spam);
}

int
runtime_build(const char *conf_path, struct runtime **out, GPtrArray *errors)
{
    struct runtime *rt;
    struct conf *c;
    guint nerr = errors->len;
    char err[512];

    *out = NULL;
    /* Bad lines do not stop the checks below: -n names every problem at once
     * (issue 18, finding 7); bad values keep their defaults meanwhile. */
    if (conf_read(conf_path, &c, errors) != 0 && c == NULL)
        return -1;
    rt = g_new0(struct runtime, 1);
    rt->refs = 1;
    rt->conf = c;
    runtime_check_system(c, errors);
    runtime_load(rt, errors);
    if (errors->len != nerr) {
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
        { "metrics_listen", offsetof(struct conf, metrics_listen) },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *a = *(char *const *)(const void *)((const char *)old + keys[i].off);
        const char *b = *(char *const *)(const void *)((const char *)new + keys[i].off);
        if (g_strcmp0(a, b) != 0)
            log_warn("reload: %s changed; it takes effect at the next restart", keys[i].name);
    }
    if (old->socket_mode != new->socket_mode || old->log_target != new->log_target
        || old->refit_interval != new->refit_interval
        || old->refit_lease != new->refit_lease
        || old->sync_interval != new->sync_interval)
        log_warn("reload: socket_mode, log_target, refit_interval, refit_lease or "
                 "sync_interval changed; they take effect at the next restart");
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
        counters_reload(0);
        goto out;
    }
    runtime_warn_static(cur->conf, rt->conf);
    log_set_level(rt->conf->log_level);
    runtime_preload(rt);        /* before it serves, so nobody is scored globally */
    runtime_install(rt);
    counters_reload(1);
    log_msg(LOG_NOTICE, NULL, "reloaded %s: model %s (%s), spam_threshold %.6f",
            rt->conf->path, rt->model->id, rt->conf->model, (double)rt->thr.spam);
    rc = 0;
out:
    runtime_unref(cur);
    g_ptr_array_unref(errors);
    return rc;
}

void
runtime_preload(struct runtime *rt)
{
    struct timespec t0, t1;
    struct store *s;
    char err[512], name[300];
    long n;

    if (rt->cache == NULL || rt->conf->preload_users == 0)
        return;
    store_db_label(rt->conf->database, name, sizeof(name));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (store_open(rt->conf->database, 0, NULL, &s, err, sizeof(err)) != STORE_OK) {
        log_warn("preload: store %s: %s; users' models load as they are seen", name, err);
        return;
    }
    n = headcache_preload(rt->cache, s, rt->conf->preload_users, err, sizeof(err));
    store_close(s);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (n < 0)
        log_warn("preload: store %s: %s; users' models load as they are seen", name, err);
    else
        log_msg(LOG_NOTICE, NULL, "preloaded %ld user model%s (preload_users = %u) in %.1f ms",
                n, n == 1 ? "" : "s", rt->conf->preload_users,
                (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
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
