/*
 * main.c - spamshift-milter(8): start-up, daemon, privileges, signals.
 *
 *   spamshift-milter [-c CONFIG] [-f] [-n]
 *
 * Start-up errors (bad config lines, unreadable model, unknown user) are
 * printed on stderr and exit EX_CONFIG before anything listens.  After start:
 * SIGHUP reloads config and model (runtime_reload(), on a thread of its own so
 * no milter callback ever waits for a model load); SIGTERM and SIGINT go to
 * libmilter, which stops accepting connections, after which we wait (bounded)
 * for the messages in flight before exiting.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <malloc.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sysexits.h>
#include <unistd.h>

#include <glib.h>
#include <libmilter/mfapi.h>

#include "counters.h"
#include "features.h"
#include "headcache.h"
#include "filter.h"
#include "httpd.h"
#include "log.h"
#include "policy.h"
#include "runtime.h"
#include "store.h"
#include "store_event.h"
#include "users.h"

#define MAIN_DRAIN_SECONDS 30

/* metrics_listen's socket, bound by main_listen() (before privileges are
 * dropped), served from main_serve(); -1 when off.  Its address as bound. */
static int main_metrics_fd = -1;
static char main_metrics_addr[80];

static void
main_usage(FILE *fp)
{
    fprintf(fp, "usage: spamshift-milter [-c CONFIG] [-f] [-n]\n"
            "  -c CONFIG  configuration file (default %s)\n"
            "  -f         stay in the foreground\n"
            "  -n         check the configuration and the model, then exit\n",
            CONF_DEFAULT_PATH);
}

/* The path of a unix-domain socket spec, or NULL for inet sockets. */
static const char *
main_socket_path(const char *spec)
{
    if (g_str_has_prefix(spec, "unix:"))
        return spec + 5;
    if (g_str_has_prefix(spec, "local:"))
        return spec + 6;
    return NULL;
}

static int
main_drop_privileges(const char *user)
{
    char err[256];
    uid_t uid;
    gid_t gid;

    if (conf_resolve_owner(user, &uid, &gid, err, sizeof(err)) != 0) {
        log_err("user: %s", err);
        return -1;
    }
    if (getuid() == uid && geteuid() == uid)
        return 0;
    if (geteuid() != 0) {
        log_err("user = %s: must be started as root to switch users", user);
        return -1;
    }
    if (initgroups(user, gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        log_err("cannot switch to user %s: %s", user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) {
        log_err("privileges were not dropped: setuid(0) still succeeds");
        return -1;
    }
    return 0;
}

static int
main_write_pid(const char *path)
{
    FILE *fp = fopen(path, "w");

    if (fp == NULL || fprintf(fp, "%ld\n", (long)getpid()) < 0 || fclose(fp) != 0) {
        log_err("pid_file %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void *
main_reloader(void *arg)
{
    sigset_t hup;

    (void)arg;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    for (;;) {
        if (sigwaitinfo(&hup, NULL) == SIGHUP) {
            log_msg(LOG_NOTICE, NULL, "SIGHUP: reloading");
            runtime_reload();
        }
    }
    return NULL;
}

/* Build the runtime from conf_path into *rtp; print every configuration
 * problem found, one per line, and how many.  Returns 0, or EX_CONFIG. */
static int
main_build(const char *conf_path, struct runtime **rtp)
{
    GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);
    struct runtime *rt = NULL;

    if (runtime_build(conf_path, &rt, errors) != 0)
        rt = NULL;
    if (errors->len > 0) {
        for (guint i = 0; i < errors->len; i++)
            fprintf(stderr, "spamshift-milter: %s\n", (const char *)errors->pdata[i]);
        fprintf(stderr, "spamshift-milter: %u error%s in %s\n", errors->len,
                errors->len == 1 ? "" : "s", conf_path);
        /* Freed so that LeakSanitizer runs of `-n` (tests/sanitize.sh) stay
         * clean: the runtime was built when only an account was unknown. */
        runtime_unref(rt);
        g_ptr_array_unref(errors);
        return EX_CONFIG;
    }
    g_ptr_array_unref(errors);
    *rtp = rt;
    return 0;
}

/* Register the filter and listen on c->socket, a unix socket with its mode
 * and owner set.  Returns 0, or an exit code after logging why. */
static int
main_listen(const struct conf *c)
{
    const char *sock_path;

    if (smfi_register(filter_desc) != MI_SUCCESS || smfi_setconn(c->socket) != MI_SUCCESS) {
        log_err("cannot register the filter on %s", c->socket);
        return EX_SOFTWARE;
    }
    if (smfi_opensocket(1) != MI_SUCCESS) {
        log_err("cannot listen on %s", c->socket);
        return EX_UNAVAILABLE;
    }
    if (c->metrics_listen != NULL) {
        char err[256];

        if ((main_metrics_fd = httpd_listen(c->metrics_listen, main_metrics_addr,
                                            sizeof(main_metrics_addr), err, sizeof(err))) < 0) {
            log_err("%s", err);
            return EX_UNAVAILABLE;
        }
    }
    if ((sock_path = main_socket_path(c->socket)) == NULL)
        return 0;
    if (chmod(sock_path, c->socket_mode) != 0) {
        log_err("chmod %s: %s", sock_path, strerror(errno));
        return EX_OSERR;
    }
    if (c->socket_owner != NULL) {
        char err[256];
        uid_t uid;
        gid_t gid;

        err[0] = '\0';
        if (conf_resolve_owner(c->socket_owner, &uid, &gid, err, sizeof(err)) != 0
            || chown(sock_path, uid, gid) != 0) {
            log_err("socket_owner %s: %s", c->socket_owner, err[0] ? err : strerror(errno));
            return EX_OSERR;
        }
    }
    return 0;
}

/* The page metrics_listen serves (an httpd_page_fn): the counters, and the
 * gauges read now from the current runtime (model, head cache), the store
 * writer and the filter.  Takes the runtime's and the writer's locks briefly;
 * never blocks on I/O.  Here, in the glue, so that counters.c needs nothing
 * of the modules it is called from. */
static void
main_metrics_page(GString *out)
{
    struct counters_gauges g = { .version = PACKAGE_VERSION, .start_time = counters_started() };
    struct runtime *rt = runtime_acquire();
    struct writer_stats ws;

    if (rt != NULL) {
        g.model_id = rt->model->id;
        g.cache_users = rt->cache != NULL ? headcache_size(rt->cache) : 0;
    }
    if ((g.have_store = users_writer_stats(&ws)) != 0) {
        g.queue_depth = ws.pending;
        g.queue_dropped = ws.dropped;
        g.writes_failed = ws.failed;
        g.writer_faults = ws.faults;
        g.writer_in_fault = ws.in_fault;
        g.server_down = ws.server_down;
        g.down_retries = ws.down_retries;
    }
    g.in_flight = filter_messages_in_flight();
    counters_render(out, &g);   /* while rt holds the model id */
    runtime_unref(rt);
}

/* The store's once-per-outage lines (a database server gone, back: a
 * store_event_fn) into the milter's log: one syslog line each, from whichever
 * thread noticed (log_msg is thread-safe). */
static void
main_store_event(void *arg, int level, const char *line)
{
    (void)arg;
    log_msg(level, NULL, "%s", line);
}

/* Become the daemon that serves rt: detach (unless foreground), log where
 * configured, write the pid file, drop privileges, start the store and the
 * reload thread, preload, then serve until SIGTERM and drain.  Returns the
 * exit code. */
static int
main_serve(struct runtime *rt, int foreground)
{
    const struct conf *c = rt->conf;
    pthread_t reloader;
    char err[512];

    if (!foreground && daemon(0, 0) != 0) {
        log_err("cannot become a daemon: %s", strerror(errno));
        return EX_OSERR;
    }
    if (c->log_target == CONF_LOG_SYSLOG)
        log_open("spamshift-milter", LOG_TARGET_SYSLOG, LOG_MAIL);
    /* Before the first store is opened (the preload, the writer). */
    store_event_set(main_store_event, NULL);
    if (c->pid_file != NULL && main_write_pid(c->pid_file) != 0)
        return EX_CANTCREAT;
    if (c->user != NULL && main_drop_privileges(c->user) != 0)
        return EX_NOPERM;

    runtime_install(rt);
    /* Installed, but nothing is served before smfi_main(); before the
     * maintenance thread starts, so that no concurrent sync takes the users
     * this one is loading. */
    runtime_preload(rt);
    if (users_start(c, err, sizeof(err)) != 0) {
        char name[300];

        store_db_label(c->database, name, sizeof(name));
        log_err("database %s: %s", name, err);
        return EX_CONFIG;
    }
    if (pthread_create(&reloader, NULL, main_reloader, NULL) != 0) {
        log_err("cannot start the reload thread");
        return EX_OSERR;
    }
    pthread_detach(reloader);
    counters_start();
    if (main_metrics_fd >= 0) {
        if (httpd_start(main_metrics_fd, main_metrics_page, err, sizeof(err)) != 0) {
            log_err("%s", err);
            return EX_OSERR;
        }
        log_msg(LOG_NOTICE, NULL, "metrics on http://%s/metrics", main_metrics_addr);
    }
    rt = runtime_acquire();
    log_msg(LOG_NOTICE, NULL, "listening on %s; model %s (%s), spam_threshold %.6f, "
            "multi_recipient %s%s", rt->conf->socket, rt->model->id, rt->conf->model,
            (double)rt->thr.spam, policy_multi_name(rt->conf->multi_recipient),
            rt->conf->mode == CONF_MODE_SHADOW ? "; mode shadow: nothing is rejected, "
            "quarantined or deferred" : "");
    runtime_unref(rt);

    if (smfi_main() != MI_SUCCESS)
        log_err("the milter library stopped with an error");

    /* smfi_main() returns once the listener is closed; sessions still run. */
    for (int i = 0; i < MAIN_DRAIN_SECONDS * 10 && filter_messages_in_flight() > 0; i++)
        usleep(100 * 1000);
    if (filter_messages_in_flight() > 0)
        log_warn("stopping with %d messages in flight", filter_messages_in_flight());
    rt = runtime_acquire();
    if (rt != NULL && rt->conf->pid_file != NULL)
        unlink(rt->conf->pid_file);
    runtime_unref(rt);
    log_msg(LOG_NOTICE, NULL, "stopped");
    httpd_stop();
    users_stop();
    runtime_shutdown();
    features_global_shutdown();
    return EX_OK;
}

int
main(int argc, char **argv)
{
    const char *conf_path = CONF_DEFAULT_PATH;
    int foreground = 0, check_only = 0, opt, rc;
    struct runtime *rt = NULL;
    sigset_t hup;

    while ((opt = getopt(argc, argv, "c:fnh")) != -1) {
        switch (opt) {
        case 'c': conf_path = optarg; break;
        case 'f': foreground = 1; break;
        case 'n': check_only = 1; break;
        case 'h': main_usage(stdout); return EX_OK;
        default: main_usage(stderr); return EX_USAGE;
        }
    }
    if (optind != argc) {
        main_usage(stderr);
        return EX_USAGE;
    }
    log_open("spamshift-milter", LOG_TARGET_STDERR, LOG_MAIL);

    /* Before any thread exists, so that every thread inherits the mask: only
     * main_reloader() takes SIGHUP, and only libmilter's signal thread takes
     * SIGTERM and SIGINT (see sigwait.c); a thread with them unblocked would
     * let their default action kill the process mid-message. */
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    sigaddset(&hup, SIGTERM);
    sigaddset(&hup, SIGINT);
    pthread_sigmask(SIG_BLOCK, &hup, NULL);

    /* glibc gives each session thread a malloc arena of its own, whose
     * high-water mark (the largest message that thread buffered and parsed)
     * stays resident: RSS climbs for a long while under load.  Two arenas
     * keep it flat for about 4% more CPU (bench/results/milter-2026-11-27-vm.md,
     * runs C and D); MALLOC_ARENA_MAX in the environment still decides. */
#ifdef M_ARENA_MAX
    if (getenv("MALLOC_ARENA_MAX") == NULL)
        (void) mallopt(M_ARENA_MAX, 2);
#endif

    if (features_global_init() != 0) {
        log_err("cannot initialise the MIME and HTML parsers");
        return EX_SOFTWARE;
    }
    if ((rc = main_build(conf_path, &rt)) != 0)
        return rc;
    if (check_only) {
        const struct conf *c = rt->conf;

        printf("%s: OK; model %s (id %s, %u ham + %u spam), spam_threshold %.6f; "
               "refit_interval %u s, refit_lease %u s\n",
               conf_path, c->model, rt->model->id, rt->model->summary.n_ham,
               rt->model->summary.n_spam, (double)rt->thr.spam, c->refit_interval,
               c->refit_lease);
        runtime_unref(rt);
        return EX_OK;
    }
    log_set_level(rt->conf->log_level);
    if ((rc = main_listen(rt->conf)) != 0)
        return rc;
    return main_serve(rt, foreground);
}
