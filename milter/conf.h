/*
 * conf.h - spamshift.conf(5): the milter's "key = value" configuration file.
 *
 * conf_load() parses and validates a whole file and reports every bad line
 * with its number, so that `spamshift-milter -n` names all mistakes at once.
 * A struct conf is immutable after loading: the runtime (runtime.h) shares one
 * between milter threads and replaces it as a whole on SIGHUP.
 */
#ifndef SPAMSHIFT_MILTER_CONF_H
#define SPAMSHIFT_MILTER_CONF_H

#include <stdarg.h>
#include <stddef.h>
#include <sys/types.h>

#include <glib.h>

#define CONF_DEFAULT_PATH SYSCONFDIR "/spamshift/spamshift.conf"

/* Threshold value meaning "this action is off". */
#define CONF_THRESHOLD_OFF 2.0f
/* spam_threshold value meaning "the model's own threshold" (the default). */
#define CONF_THRESHOLD_MODEL -1.0f

enum conf_on_error { CONF_ON_ERROR_ACCEPT, CONF_ON_ERROR_TEMPFAIL };
enum conf_multi { CONF_MULTI_LEAST, CONF_MULTI_STRICTEST, CONF_MULTI_SPLIT, CONF_MULTI_PROTECT };
enum conf_oversize { CONF_OVERSIZE_TRUNCATE, CONF_OVERSIZE_SKIP };
enum conf_log_target { CONF_LOG_SYSLOG, CONF_LOG_STDERR };
/* shadow: score, log, record and add headers; never reject, quarantine or defer. */
enum conf_mode { CONF_MODE_NORMAL, CONF_MODE_SHADOW };

struct conf {
    char *path;                 /* the file this was read from */
    char *socket;               /* libmilter spec: unix:/path, local:/path, inet:port@host */
    mode_t socket_mode;         /* for unix sockets */
    char *socket_owner;         /* "user" or "user:group"; NULL = leave as created */
    char *model;                /* model file (required) */
    char *database;             /* per-user store; NULL = global head for everyone */
    unsigned refit_interval;    /* seconds between refits of dirty users; 0 = never */
    unsigned refit_lease;       /* seconds a refit's claim on a user is held
                                 * (store_dirty_claim); 10..86400 */
    unsigned sync_interval;     /* seconds between the maintenance thread's rounds
                                 * (refit log, thresholds, lists); 1..3600 */
    unsigned preload_users;     /* users' models loaded before serving; 0 = none */
    double target_fpr;          /* each user's threshold meets it (spam_threshold = model) */
    float spam_threshold;       /* CONF_THRESHOLD_MODEL until resolved by the runtime */
    float quarantine_threshold; /* CONF_THRESHOLD_OFF = off */
    float reject_threshold;     /* CONF_THRESHOLD_OFF = off */
    char *reject_text;          /* text after "550 5.7.1 " */
    enum conf_on_error on_error;
    enum conf_multi multi_recipient;
    size_t max_message_size;    /* bytes buffered for scanning (headers + body) */
    enum conf_oversize oversize;
    char *alias_map;            /* NULL = none */
    char *trusted_networks;     /* the raw list; parsed by netlist.h */
    int skip_authenticated;
    char *subject_prefix;       /* NULL = leave Subject alone */
    char **nonsmtp_daemon_names;  /* {daemon_name} values of non-SMTP submissions */
    char *user;                 /* drop privileges to this user; NULL = stay */
    char *pid_file;             /* NULL = none */
    int log_level;              /* LOG_* */
    enum conf_log_target log_target;
    enum conf_mode mode;
    char *metrics_listen;       /* "127.0.0.1:PORT", "[::1]:PORT"; NULL = no endpoint */
    unsigned *lines;            /* private to conf.c: see conf_key_line() */
};

/*
 * Read and validate path.  On success returns 0 and *out (free with
 * conf_free()).  On failure returns -1, *out = NULL and appends one message
 * per problem to errors ("path:LINE: message"), never stopping at the first.
 * Checks syntax and values only: whether the model loads is the runtime's job.
 */
int conf_load(const char *path, struct conf **out, GPtrArray *errors);

/* As conf_load(), but *out is set whenever the file could be read, also with
 * bad lines (they keep their defaults), so that `spamshift-milter -n` checks
 * the model, the alias map and the paths in the same run.  Returns 0 when
 * every line was good, -1 otherwise; free *out with conf_free(). */
int conf_read(const char *path, struct conf **out, GPtrArray *errors);

/* The line key (a known key name) was set on, 0 if it was left at its default
 * (or its line was bad). */
unsigned conf_key_line(const struct conf *c, const char *key);

/* Add one problem to errors, as "PATH:LINE: message" (line 0: "PATH: message"),
 * the one form `spamshift-milter -n` prints. */
void conf_verror(GPtrArray *errors, const char *path, unsigned line, const char *fmt,
                 va_list ap) __attribute__((format(printf, 4, 0)));

/* As conf_load(), but the text is text[0..len) (need not be NUL-terminated),
 * and name stands for the path in messages and in c->path.  For the fuzz
 * target tests/fuzz/fuzz_conf.c, which would otherwise write every input to a
 * file. */
int conf_load_buffer(const char *name, const char *text, size_t len, struct conf **out,
                     GPtrArray *errors);

/* Accepts NULL; returns NULL. */
struct conf *conf_free(struct conf *c);

/* Resolve "user" or "user:group" (names, or numeric ids) to ids.  Returns 0, or
 * -1 with the reason in err ("unknown user ..."). */
int conf_resolve_owner(const char *spec, uid_t *uid, gid_t *gid, char *err, size_t errlen);

/* Split a metrics_listen value, "IPV4:PORT" or "[IPV6]:PORT" (numeric
 * addresses only, port 0-65535, 0 = one the kernel picks), into host (without
 * brackets) and *port.  Returns NULL, or what is wrong (static). */
const char *conf_parse_listen(const char *v, char *host, size_t hostlen, unsigned *port);

/* Parsers shared with tests: return 0 and the value, or -1. */
int conf_parse_size(const char *s, size_t *out);      /* 1048576, 512k, 10M */
int conf_parse_bool(const char *s, int *out);         /* yes/no/true/false/1/0/on/off */

#endif
