/*
 * conf.c - parse and validate spamshift.conf(5); see conf.h.
 *
 * The syntax is Postfix main.cf's without continuation lines: "key = value",
 * blank lines, and lines whose first non-blank character is '#'.  A '#' inside
 * a value is part of the value (reject_text may need one).  Unknown keys,
 * duplicate keys and bad values are errors, each reported with its line.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <math.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include <glib.h>

#include "conf.h"
#include "oppoint.h"
#include "store.h"
#include "log.h"
#include "netlist.h"

#define CONF_MAX_LINE 4096

static void
conf_error(GPtrArray *errors, const char *path, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void
conf_verror(GPtrArray *errors, const char *path, unsigned line, const char *fmt, va_list ap)
{
    char *msg = g_strdup_vprintf(fmt, ap);

    if (line > 0)
        g_ptr_array_add(errors, g_strdup_printf("%s:%u: %s", path, line, msg));
    else
        g_ptr_array_add(errors, g_strdup_printf("%s: %s", path, msg));
    g_free(msg);
}

static void
conf_error(GPtrArray *errors, const char *path, unsigned line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    conf_verror(errors, path, line, fmt, ap);
    va_end(ap);
}

/* A whole decimal count from 0 to max into *out.  Returns 0, or -1. */
static int
conf_parse_count(const char *v, unsigned long max, unsigned *out)
{
    unsigned long n;
    char *end;

    errno = 0;
    n = strtoul(v, &end, 10);
    if (errno != 0 || end == v || *end != '\0' || *v == '-' || n > max)
        return -1;
    *out = (unsigned)n;
    return 0;
}

int
conf_parse_size(const char *s, size_t *out)
{
    char *end;
    unsigned long long v, mul = 1;

    if (s == NULL || *s == '\0' || *s == '-')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    if (*end != '\0') {
        switch (*end) {
        case 'k': case 'K': mul = 1024ULL; break;
        case 'm': case 'M': mul = 1024ULL * 1024; break;
        case 'g': case 'G': mul = 1024ULL * 1024 * 1024; break;
        default: return -1;
        }
        if (end[1] != '\0')
            return -1;
    }
    if (v > SIZE_MAX / mul)
        return -1;
    *out = (size_t)(v * mul);
    return 0;
}

int
conf_parse_bool(const char *s, int *out)
{
    static const char *yes[] = { "yes", "true", "on", "1" };
    static const char *no[] = { "no", "false", "off", "0" };

    for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (g_ascii_strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (g_ascii_strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* A probability in [0, 1]; "off" gives CONF_THRESHOLD_OFF when allow_off,
 * "model" gives CONF_THRESHOLD_MODEL when allow_model. */
static int
conf_parse_threshold(const char *s, float *out, int allow_off, int allow_model)
{
    char *end;
    double v;

    if (allow_off && g_ascii_strcasecmp(s, "off") == 0) {
        *out = CONF_THRESHOLD_OFF;
        return 0;
    }
    if (allow_model && g_ascii_strcasecmp(s, "model") == 0) {
        *out = CONF_THRESHOLD_MODEL;
        return 0;
    }
    errno = 0;
    v = g_ascii_strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0.0 || v > 1.0)
        return -1;
    *out = (float)v;
    return 0;
}

/* One keyword of a fixed set; returns its index or -1. */
static int
conf_parse_enum(const char *s, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (g_ascii_strcasecmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

enum conf_key {
    K_SOCKET, K_SOCKET_MODE, K_SOCKET_OWNER, K_MODEL, K_DATABASE, K_SPAM_THRESHOLD,
    K_QUARANTINE_THRESHOLD, K_REJECT_THRESHOLD, K_REJECT_TEXT, K_ON_ERROR,
    K_MULTI_RECIPIENT, K_MAX_MESSAGE_SIZE, K_OVERSIZE, K_ALIAS_MAP,
    K_TRUSTED_NETWORKS, K_SKIP_AUTHENTICATED, K_SUBJECT_PREFIX,
    K_NONSMTP_DAEMON_NAMES, K_USER, K_PID_FILE, K_LOG_LEVEL, K_LOG_TARGET,
    K_REFIT_INTERVAL, K_MODE, K_PRELOAD_USERS, K_METRICS_LISTEN, K_TARGET_FPR,
    K_SYNC_INTERVAL, K_REFIT_LEASE, K_COUNT
};

static const char *const conf_key_names[K_COUNT] = {
    "socket", "socket_mode", "socket_owner", "model", "database", "spam_threshold",
    "quarantine_threshold", "reject_threshold", "reject_text", "on_error",
    "multi_recipient", "max_message_size", "oversize", "alias_map",
    "trusted_networks", "skip_authenticated", "subject_prefix",
    "nonsmtp_daemon_names", "user", "pid_file", "log_level", "log_target",
    "refit_interval", "mode", "preload_users", "metrics_listen", "target_fpr",
    "sync_interval", "refit_lease",
};

static struct conf *
conf_defaults(const char *path)
{
    struct conf *c = g_new0(struct conf, 1);

    c->path = g_strdup(path);
    c->lines = g_new0(unsigned, K_COUNT);
    c->socket = g_strdup("unix:" LOCALSTATEDIR "/run/spamshift/spamshift.sock");
    c->socket_mode = 0660;
    c->spam_threshold = CONF_THRESHOLD_MODEL;
    c->quarantine_threshold = CONF_THRESHOLD_OFF;
    c->reject_threshold = CONF_THRESHOLD_OFF;
    c->reject_text = g_strdup("Message rejected as spam");
    c->on_error = CONF_ON_ERROR_ACCEPT;
    c->multi_recipient = CONF_MULTI_PROTECT;
    c->max_message_size = 1024 * 1024;
    c->refit_interval = 60;
    c->refit_lease = STORE_CLAIM_LEASE;
    c->sync_interval = 1;
    c->preload_users = 10000;
    c->target_fpr = OPPOINT_TARGET_DEFAULT;
    c->oversize = CONF_OVERSIZE_TRUNCATE;
    c->skip_authenticated = 1;
    c->nonsmtp_daemon_names = g_new0(char *, 1);
    c->log_level = LOG_INFO;
    c->log_target = CONF_LOG_SYSLOG;
    return c;
}

struct conf *
conf_free(struct conf *c)
{
    if (c == NULL)
        return NULL;
    g_free(c->path);
    g_free(c->socket);
    g_free(c->socket_owner);
    g_free(c->model);
    g_free(c->database);
    g_free(c->reject_text);
    g_free(c->alias_map);
    g_free(c->trusted_networks);
    g_free(c->subject_prefix);
    g_strfreev(c->nonsmtp_daemon_names);
    g_free(c->user);
    g_free(c->pid_file);
    g_free(c->metrics_listen);
    g_free(c->lines);
    g_free(c);
    return NULL;
}

/* A libmilter socket spec: unix:/abs/path, local:/abs/path, or
 * inet:PORT[@HOST] / inet6:PORT[@HOST] with PORT 1-65535.  NULL, or what is
 * wrong.  libmilter itself takes "inet:77636@..." and binds 77636 mod 65536. */
static const char *
conf_check_socket(const char *v)
{
    const char *a = strchr(v, ':'), *at;
    unsigned long port;
    char *end;

    if (!g_str_has_prefix(v, "unix:") && !g_str_has_prefix(v, "local:")
        && !g_str_has_prefix(v, "inet:") && !g_str_has_prefix(v, "inet6:"))
        return "want unix:/path, local:/path, inet:port@host or inet6:port@host";
    if (*++a == '\0')
        return "socket address is empty";
    if (v[0] == 'u' || v[0] == 'l')
        return *a == '/' ? NULL : "want an absolute path (the daemon runs in /)";
    errno = 0;
    port = strtoul(a, &end, 10);
    if (*a < '0' || *a > '9' || errno != 0 || (*end != '\0' && *end != '@')
        || port < 1 || port > 65535)
        return "want a port from 1 to 65535 before the '@'";
    at = end;
    if (*at == '@' && at[1] == '\0')
        return "the host after '@' is empty";
    return NULL;
}

const char *
conf_parse_listen(const char *v, char *host, size_t hostlen, unsigned *port)
{
    const char *colon, *h = v;
    size_t hl;
    unsigned char addr[16];
    int v6 = v[0] == '[';

    if (v6) {
        const char *rb = strchr(v, ']');

        if (rb == NULL || rb[1] != ':')
            return "want [IPV6]:PORT, e.g. [::1]:9470";
        h = v + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        if ((colon = strrchr(v, ':')) == NULL)
            return "want ADDRESS:PORT, e.g. 127.0.0.1:9470 or [::1]:9470";
        hl = (size_t)(colon - v);
    }
    if (hl == 0 || hl >= hostlen)
        return "the address is empty or too long";
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (inet_pton(v6 ? AF_INET6 : AF_INET, host, addr) != 1)
        return v6 ? "not a numeric IPv6 address" : "want a numeric IPv4 address (or [IPV6])";
    if (conf_parse_count(colon + 1, 65535, port) != 0)
        return "want a port from 0 to 65535 after the ':'";
    return NULL;
}

/* Replace *slot by a copy of value, or NULL when value is empty. */
static void
conf_set_str(char **slot, const char *value)
{
    g_free(*slot);
    *slot = *value != '\0' ? g_strdup(value) : NULL;
}

/* conf_apply() for the keys about the daemon itself: its names, account,
 * pid file, logging, refits, mode and preload. */
static const char *
conf_apply_daemon(struct conf *c, enum conf_key k, const char *v)
{
    static const char *const target[] = { "syslog", "stderr" };
    int i;

    switch (k) {
    case K_NONSMTP_DAEMON_NAMES:
        g_strfreev(c->nonsmtp_daemon_names);
        c->nonsmtp_daemon_names = g_strsplit_set(v, ", \t", -1);
        {   /* drop the empty fields that repeated separators leave */
            char **src = c->nonsmtp_daemon_names, **dst = src;
            for (; *src; src++) {
                if (**src == '\0')
                    g_free(*src);
                else
                    *dst++ = *src;
            }
            *dst = NULL;
        }
        return NULL;
    case K_USER:
        conf_set_str(&c->user, v);
        return NULL;
    case K_PID_FILE:
        if (*v != '\0' && *v != '/')
            return "want an absolute path (the daemon runs in /)";
        conf_set_str(&c->pid_file, v);
        return NULL;
    case K_LOG_LEVEL:
        if ((i = log_level_parse(v)) < 0)
            return "want err, warning, notice, info or debug";
        c->log_level = i;
        return NULL;
    case K_LOG_TARGET:
        if ((i = conf_parse_enum(v, target, G_N_ELEMENTS(target))) < 0)
            return "want syslog or stderr";
        c->log_target = (enum conf_log_target)i;
        return NULL;
    case K_REFIT_INTERVAL:
        return conf_parse_count(v, 86400 * 7, &c->refit_interval) == 0 ? NULL
            : "want seconds from 0 (never) to 604800";
    case K_REFIT_LEASE:
        return conf_parse_count(v, 86400, &c->refit_lease) == 0 && c->refit_lease >= 10
            ? NULL : "want seconds from 10 to 86400";
    case K_SYNC_INTERVAL:
        return conf_parse_count(v, 3600, &c->sync_interval) == 0 && c->sync_interval > 0
            ? NULL : "want seconds from 1 to 3600";
    case K_MODE: {
        static const char *const mode_names[] = { "normal", "shadow" };

        if ((i = conf_parse_enum(v, mode_names, G_N_ELEMENTS(mode_names))) < 0)
            return "want normal or shadow";
        c->mode = (enum conf_mode)i;
        return NULL;
    }
    case K_PRELOAD_USERS:
        return conf_parse_count(v, 100000, &c->preload_users) == 0 ? NULL
            : "want a number of users from 0 (none) to 100000 (the head cache's size)";
    case K_METRICS_LISTEN: {
        char host[64];
        unsigned port;
        const char *why;

        if (*v != '\0' && (why = conf_parse_listen(v, host, sizeof(host), &port)) != NULL)
            return why;
        conf_set_str(&c->metrics_listen, v);
        return NULL;
    }
    default:
        break;
    }
    g_assert_not_reached();
    return "internal error";
}

/* Apply one key; returns NULL, or a description of what is wrong (static, or
 * written into buf). */
static const char *
conf_apply(struct conf *c, enum conf_key k, const char *v, char *buf, size_t buflen)
{
    static const char *const on_error[] = { "accept", "tempfail" };
    static const char *const multi[] = { "least", "strictest", "split", "protect" };
    static const char *const oversize[] = { "truncate", "skip" };
    const char *why;
    char *end;
    unsigned long mode;
    int i;

    switch (k) {
    case K_SOCKET:
        if ((why = conf_check_socket(v)) != NULL)
            return why;
        conf_set_str(&c->socket, v);
        return NULL;
    case K_SOCKET_MODE:
        errno = 0;
        mode = strtoul(v, &end, 8);
        if (errno != 0 || end == v || *end != '\0' || mode > 0777)
            return "want an octal mode such as 0660";
        c->socket_mode = (mode_t)mode;
        return NULL;
    case K_SOCKET_OWNER:
        conf_set_str(&c->socket_owner, v);
        return NULL;
    case K_MODEL:
        if (*v == '\0')
            return "model path is empty";
        conf_set_str(&c->model, v);
        return NULL;
    case K_DATABASE:
        conf_set_str(&c->database, v);
        return NULL;
    case K_SPAM_THRESHOLD:
        return conf_parse_threshold(v, &c->spam_threshold, 0, 1) == 0 ? NULL
            : "want a probability between 0 and 1, or \"model\"";
    case K_QUARANTINE_THRESHOLD:
        return conf_parse_threshold(v, &c->quarantine_threshold, 1, 0) == 0 ? NULL
            : "want a probability between 0 and 1, or \"off\"";
    case K_REJECT_THRESHOLD:
        return conf_parse_threshold(v, &c->reject_threshold, 1, 0) == 0 ? NULL
            : "want a probability between 0 and 1, or \"off\"";
    case K_REJECT_TEXT:
        if (*v == '\0')
            return "reject_text is empty";
        for (const char *p = v; *p; p++)
            if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e || *p == '%')
                return "reject_text must be printable ASCII without '%'";
        conf_set_str(&c->reject_text, v);
        return NULL;
    case K_ON_ERROR:
        if ((i = conf_parse_enum(v, on_error, G_N_ELEMENTS(on_error))) < 0)
            return "want accept or tempfail";
        c->on_error = (enum conf_on_error)i;
        return NULL;
    case K_MULTI_RECIPIENT:
        if ((i = conf_parse_enum(v, multi, G_N_ELEMENTS(multi))) < 0)
            return "want protect, least, strictest or split";
        c->multi_recipient = (enum conf_multi)i;
        return NULL;
    case K_MAX_MESSAGE_SIZE:
        if (conf_parse_size(v, &c->max_message_size) != 0 || c->max_message_size < 1024
            || c->max_message_size > (size_t)1024 * 1024 * 1024)
            return "want a size from 1k to 1G (bytes, or with k/M/G)";
        return NULL;
    case K_OVERSIZE:
        if ((i = conf_parse_enum(v, oversize, G_N_ELEMENTS(oversize))) < 0)
            return "want truncate or skip";
        c->oversize = (enum conf_oversize)i;
        return NULL;
    case K_ALIAS_MAP:
        conf_set_str(&c->alias_map, v);
        return NULL;
    case K_TRUSTED_NETWORKS: {
        struct netlist *nl;

        if ((nl = netlist_parse(v, buf, buflen)) == NULL)
            return buf;
        netlist_free(nl);
        conf_set_str(&c->trusted_networks, v);
        return NULL;
    }
    case K_SKIP_AUTHENTICATED:
        return conf_parse_bool(v, &c->skip_authenticated) == 0 ? NULL : "want yes or no";
    case K_SUBJECT_PREFIX:
        for (const char *p = v; *p; p++)
            if (*p == '\r' || *p == '\n')
                return "subject_prefix must be one line";
        conf_set_str(&c->subject_prefix, v);
        return NULL;
    case K_TARGET_FPR: {
        double t;

        errno = 0;
        t = g_ascii_strtod(v, &end);
        if (errno != 0 || end == v || *end != '\0' || !oppoint_target_valid(t))
            return "want a false-positive rate from 0.0001 to 0.1 (0.003 is 0.3%)";
        c->target_fpr = t;
        return NULL;
    }
    default:
        return conf_apply_daemon(c, k, v);
    case K_COUNT:
        break;
    }
    g_assert_not_reached();
    return "internal error";
}

/* conf_load() and conf_load_buffer() after the opening: parses fp to its end
 * and closes it. */
static int
conf_parse(FILE *fp, const char *path, struct conf **out, GPtrArray *errors)
{
    unsigned seen[K_COUNT] = { 0 };
    int bad[K_COUNT] = { 0 };
    char line[CONF_MAX_LINE + 2];
    unsigned lineno = 0;
    guint nerr = errors->len;
    struct conf *c;

    c = conf_defaults(path);
    while (fgets(line, sizeof(line), fp) != NULL) {
        char *key, *value, *eq;
        const char *why;
        char whybuf[256];
        int k;

        lineno++;
        /* A UTF-8 byte order mark, as some Windows editors write: not part of
         * the first key (it was reported as an unknown key). */
        if (lineno == 1 && memcmp(line, "\xef\xbb\xbf", 3) == 0)
            memmove(line, line + 3, strlen(line + 3) + 1);
        if (strchr(line, '\n') == NULL && !feof(fp)) {
            int ch;
            conf_error(errors, path, lineno, "line longer than %d bytes", CONF_MAX_LINE);
            while ((ch = fgetc(fp)) != EOF && ch != '\n')
                ;
            continue;
        }
        g_strstrip(line);
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if ((eq = strchr(line, '=')) == NULL) {
            conf_error(errors, path, lineno, "want \"key = value\", got \"%s\"", line);
            continue;
        }
        *eq = '\0';
        key = g_strstrip(line);
        value = g_strstrip(eq + 1);
        k = conf_parse_enum(key, conf_key_names, K_COUNT);
        if (k < 0) {
            conf_error(errors, path, lineno, "unknown key \"%s\"", key);
            continue;
        }
        if (seen[k] != 0) {
            conf_error(errors, path, lineno, "%s: duplicate key (first set on line %u)",
                       conf_key_names[k], seen[k]);
            continue;
        }
        seen[k] = lineno;
        if ((why = conf_apply(c, (enum conf_key)k, value, whybuf, sizeof(whybuf))) != NULL) {
            conf_error(errors, path, lineno, "%s = %s: %s", key, value, why);
            bad[k] = 1;
        }
    }
    if (ferror(fp))
        conf_error(errors, path, 0, "read error: %s", g_strerror(errno));
    fclose(fp);

    if (c->model == NULL)
        conf_error(errors, path, 0, "model: required key is missing");
    /* Actions escalate: tag <= quarantine <= reject.  Blame the later key. */
    if (c->spam_threshold >= 0 && c->quarantine_threshold <= 1
        && c->quarantine_threshold < c->spam_threshold)
        conf_error(errors, path, seen[K_QUARANTINE_THRESHOLD],
                   "quarantine_threshold %g is below spam_threshold %g",
                   c->quarantine_threshold, c->spam_threshold);
    if (c->spam_threshold >= 0 && c->reject_threshold <= 1
        && c->reject_threshold < c->spam_threshold)
        conf_error(errors, path, seen[K_REJECT_THRESHOLD],
                   "reject_threshold %g is below spam_threshold %g",
                   c->reject_threshold, c->spam_threshold);
    if (c->quarantine_threshold <= 1 && c->reject_threshold <= 1
        && c->reject_threshold < c->quarantine_threshold)
        conf_error(errors, path, seen[K_REJECT_THRESHOLD],
                   "reject_threshold %g is below quarantine_threshold %g",
                   c->reject_threshold, c->quarantine_threshold);

    for (int k = 0; k < K_COUNT; k++)
        c->lines[k] = bad[k] ? 0 : seen[k];
    *out = c;
    return errors->len != nerr ? -1 : 0;
}

unsigned
conf_key_line(const struct conf *c, const char *key)
{
    int k = conf_parse_enum(key, conf_key_names, K_COUNT);

    g_assert(k >= 0);
    return c->lines[k];
}

int
conf_read(const char *path, struct conf **out, GPtrArray *errors)
{
    FILE *fp;

    *out = NULL;
    if ((fp = fopen(path, "r")) == NULL) {
        conf_error(errors, path, 0, "cannot open: %s", g_strerror(errno));
        return -1;
    }
    return conf_parse(fp, path, out, errors);
}

int
conf_load(const char *path, struct conf **out, GPtrArray *errors)
{
    if (conf_read(path, out, errors) != 0) {
        *out = conf_free(*out);
        return -1;
    }
    return 0;
}

int
conf_load_buffer(const char *name, const char *text, size_t len, struct conf **out,
                 GPtrArray *errors)
{
    FILE *fp;

    *out = NULL;
    /* glibc's fmemopen() takes len 0 (since 2.22) and reads NUL bytes as data
     * in mode "r", as fopen() would read them from a file. */
    if ((fp = fmemopen((void *) text, len, "r")) == NULL) {
        conf_error(errors, name, 0, "cannot read: %s", g_strerror(errno));
        return -1;
    }
    if (conf_parse(fp, name, out, errors) != 0) {
        *out = conf_free(*out);
        return -1;
    }
    return 0;
}

/* Resolve "user" or "user:group" (numeric ids allowed).  Returns 0 or -1. */
int
conf_resolve_owner(const char *spec, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    char *u = g_strdup(spec), *g = strchr(u, ':');
    struct passwd *pw;
    struct group *gr;
    int rc = -1;

    if (g != NULL)
        *g++ = '\0';
    if ((pw = getpwnam(u)) == NULL) {
        snprintf(err, errlen, "unknown user \"%s\"", u);
        goto out;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    if (g != NULL) {
        if ((gr = getgrnam(g)) == NULL) {
            snprintf(err, errlen, "unknown group \"%s\"", g);
            goto out;
        }
        *gid = gr->gr_gid;
    }
    rc = 0;
out:
    g_free(u);
    return rc;
}
