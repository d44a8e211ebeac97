/*
 * filter.c - libmilter callbacks; see filter.h.
 *
 * Every message that reaches end of message with recipients leaves exactly one
 * scan record per recipient for the store (when `database` is set): its
 * verdict, or skipped (authenticated, trusted network, oversize = skip), or
 * error (filter_fail()).  That is why a skipped message is not accepted at
 * MAIL FROM, where its recipients are still unknown, but carried unbuffered to
 * end of message and accepted there untouched.
 *
 * Memory: a struct conn hangs off the SMFICTX from connect to close; a struct
 * msg hangs off the conn from MAIL FROM to the end of that message and owns
 * everything the message needs (buffer, recipients, a runtime reference).
 * msg_free() is the one place it is released: at eom, abort, the next MAIL
 * FROM (defensively: abort does not come after ACCEPT/REJECT) and close.
 *
 * Nothing here exits, aborts or blocks without bound; every internal failure
 * goes through filter_fail(), which answers as on_error says.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <glib.h>
#include <libmilter/mfapi.h>

#include "canon.h"
#include "counters.h"
#include "features.h"
#include "filter.h"
#include "log.h"
#include "msgbuf.h"
#include "policy.h"
#include "store.h"
#include "users.h"
#include "runtime.h"
#include "score.h"
#include "userkey.h"

/* Headers we add; the same names arriving from outside are removed so that a
 * sender cannot pre-label its own mail for the recipients' Sieve rules, and
 * are not scanned (a forged CANON_MARKER would change the canonical form of
 * the copy we score, model/canon.h). */
static const char *const filter_own_headers[] = {
    "X-Spam-Flag", "X-Spam-Score", "X-Spam-Status", "X-Spamshift-Result", "X-Spamshift-Scan",
    CANON_MARKER,
};
#define N_OWN_HEADERS G_N_ELEMENTS(filter_own_headers)

struct rcpt {
    char *addr;                 /* as given, without angle brackets: for the log only */
    char *user;                 /* user key */
};

/* A log line is cut at 2,048 bytes (common/log.c): each recipient's line
 * prints at most this much of its address and of its user key.  An SMTP
 * path is at most 256 octets (RFC 5321 4.5.3.1.3). */
#define FILTER_LOG_ADDR_MAX 320

struct msg {
    struct runtime *rt;         /* reference held for the whole message */
    struct timespec start;
    char *skip;                 /* reason not to scan, or NULL: the message is
                                 * carried to eom unbuffered and accepted there */
    char *from;                 /* envelope sender (the skip's log line, the lists) */
    char *hdr_from;             /* first From header's value (the lists), or NULL */
    int recorded;               /* scan records queued: filter_fail() adds none */
    GPtrArray *rcpts;           /* struct rcpt * */
    struct msgbuf b;            /* the message, capped at max_message_size;
                                 * b.failed: filter_fail() at eom */
    int in_body;                /* the blank line after the headers is in b */
    unsigned own_count[N_OWN_HEADERS];  /* occurrences of our headers in the input */
    char *subject;              /* first Subject value, for subject_prefix */
    struct timespec t_eom;      /* end of message: scan_ms counts from here */
    /* Scored at eom, one per recipient (rcpts order): */
    enum verdict *verdict;      /* the recipient's own verdict */
    float *score;
    uint64_t *version;          /* of the recipient's user model, 0 = global */
    char **listed;              /* " listed=allow(ENTRY)" when a list decided, or NULL */
};

struct conn {
    char addr[64];              /* client address as text, "" when none */
    int nonsmtp;                /* local submission: never reject recipients */
    int trusted;                /* client in trusted_networks (of the runtime at connect) */
    int can_skip;               /* MTA understands SMFIS_SKIP */
    unsigned long noreply;      /* SMFIP_NR_* negotiated: those callbacks answer nothing */
    struct msg *msg;
};

static gint filter_in_flight;

int
filter_messages_in_flight(void)
{
    return g_atomic_int_get(&filter_in_flight);
}

static void
rcpt_free(gpointer p)
{
    struct rcpt *r = p;

    g_free(r->addr);
    g_free(r->user);
    g_free(r);
}

/* Release a message and everything it owns; accepts NULL; returns NULL. */
static struct msg *
msg_free(struct msg *m)
{
    if (m == NULL)
        return NULL;
    runtime_unref(m->rt);
    g_free(m->skip);
    g_free(m->from);
    if (m->listed != NULL)      /* one per recipient: before the recipients go */
        for (guint i = 0; i < m->rcpts->len; i++)
            g_free(m->listed[i]);
    g_free(m->listed);
    if (m->rcpts != NULL)
        g_ptr_array_unref(m->rcpts);
    msgbuf_release(&m->b);
    g_free(m->subject);
    g_free(m->hdr_from);
    g_free(m->verdict);
    g_free(m->score);
    g_free(m->version);
    g_free(m);
    g_atomic_int_add(&filter_in_flight, -1);
    return NULL;
}

static void
conn_end_message(struct conn *c)
{
    if (c != NULL)
        c->msg = msg_free(c->msg);
}

static double
filter_ms_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static const struct rcpt *
msg_rcpt(const struct msg *m, size_t i)
{
    return g_ptr_array_index(m->rcpts, i);
}

/* Record the same unscored verdict (STORE_V_SKIPPED or STORE_V_ERROR) for every
 * recipient: one scan record each, as the file's comment promises. */
static void
msg_record_unscored(struct msg *m, int store_verdict)
{
    for (guint i = 0; m->rcpts != NULL && i < m->rcpts->len; i++)
        users_scan(msg_rcpt(m, i)->user, NULL, 0, store_verdict, 0);
    m->recorded = 1;
}

static const char *
filter_qid(SMFICTX *ctx)
{
    const char *q = smfi_getsymval(ctx, "i");

    return q != NULL ? q : "NOQUEUE";
}

/*
 * The one mapping from an internal failure to the milter's answer: log it,
 * end the message, and accept it or ask the client to retry, as on_error
 * says (accept when no configuration is at hand).  A message is never lost:
 * accepted unscanned, or refused with a 4xx the client retries.
 */
static sfsistat
filter_fail(SMFICTX *ctx, struct conn *c, const char *what)
{
    struct runtime *rt = c != NULL && c->msg != NULL ? runtime_ref(c->msg->rt) : runtime_acquire();
    int tempfail = rt != NULL && rt->conf->on_error == CONF_ON_ERROR_TEMPFAIL;

    runtime_unref(rt);
    log_msg(LOG_ERR, filter_qid(ctx), "internal error: %s; message %s unscanned", what,
            tempfail ? "deferred" : "accepted");
    if (c != NULL && c->msg != NULL && !c->msg->recorded)
        msg_record_unscored(c->msg, STORE_V_ERROR);
    counters_unscored(COUNTERS_ERROR);
    conn_end_message(c);
    if (tempfail) {
        smfi_setreply(ctx, "451", "4.3.0", "Temporary spam filter failure, try again later");
        return SMFIS_TEMPFAIL;
    }
    return SMFIS_ACCEPT;
}

/*
 * Every reply the MTA waits for is a round trip on the milter socket and two
 * thread wake-ups (dropping four of them per message cut the milter's CPU by
 * 13% and its context switches by a third in bench/milter/run.sh).  So
 * the only steps that answer are MAIL (failures), RCPT under
 * multi_recipient = split (452 per recipient) and end of message; connect,
 * headers, end of headers and body chunks say nothing (SMFIP_NR_*) when the
 * MTA offers it.  What goes wrong in those steps is answered at eom: the
 * message context is missing or marked failed.
 */
static sfsistat
filter_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                 unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                 unsigned long *pf2, unsigned long *pf3)
{
    const unsigned long actions = FILTER_ACTIONS;
    /* Steps we do not use: the MTA need not send them. */
    const unsigned long nosteps = FILTER_NOSTEPS;
    unsigned long noreply = FILTER_NOREPLY;
    struct runtime *rt;
    struct conn *c;

    if ((f0 & SMFIF_ADDHDRS) == 0) {
        log_err("MTA offers no header changes (actions 0x%lx); cannot filter", f0);
        return SMFIS_REJECT;
    }
    /* split defers recipients one by one: RCPT must answer.  A reload that
     * turns split on takes effect at the MTA's next connection. */
    rt = runtime_acquire();
    if (rt == NULL || rt->conf->multi_recipient != CONF_MULTI_SPLIT)
        noreply |= SMFIP_NR_RCPT;
    runtime_unref(rt);
    *pf0 = f0 & actions;
    *pf1 = f1 & (nosteps | SMFIP_SKIP | noreply);
    *pf2 = 0;
    *pf3 = 0;
    c = g_new0(struct conn, 1);
    c->can_skip = (f1 & SMFIP_SKIP) != 0;
    c->noreply = *pf1 & noreply;
    smfi_setpriv(ctx, c);
    return SMFIS_CONTINUE;
}

/* The answer of a step that has nothing to say: none at all when the MTA
 * agreed to that (libmilter would otherwise log that we "lied"). */
static sfsistat
filter_quiet(const struct conn *c, unsigned long step)
{
    return c != NULL && (c->noreply & step) != 0 ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

static int
filter_name_in(const char *name, char **list)
{
    for (; name != NULL && list != NULL && *list != NULL; list++)
        if (strcmp(name, *list) == 0)
            return 1;
    return 0;
}

static sfsistat
filter_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr)
{
    struct conn *c = smfi_getpriv(ctx);
    struct runtime *rt = runtime_acquire();
    const char *daemon = smfi_getsymval(ctx, "{daemon_name}");

    if (c == NULL) {            /* an MTA that skipped negotiation */
        c = g_new0(struct conn, 1);
        smfi_setpriv(ctx, c);
    }
    if (rt == NULL)
        return filter_quiet(c, SMFIP_NR_CONN);
    c->addr[0] = '\0';
    if (hostaddr != NULL && hostaddr->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)hostaddr)->sin_addr,
                  c->addr, sizeof(c->addr));
    } else if (hostaddr != NULL && hostaddr->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)hostaddr)->sin6_addr,
                  c->addr, sizeof(c->addr));
    }
    /* Sendmail gives no address for command-line submissions; Postfix's
     * cleanup reports {daemon_name} = milter_macro_daemon_name, which the
     * contrib master.cf sets for the non-SMTP path. */
    c->nonsmtp = hostaddr == NULL || filter_name_in(daemon, rt->conf->nonsmtp_daemon_names);
    c->trusted = netlist_match(rt->trusted, hostaddr);
    log_msg(LOG_DEBUG, NULL, "connect from %s [%s]%s%s", hostname != NULL ? hostname : "?",
            c->addr, c->nonsmtp ? " non-SMTP" : "", c->trusted ? " trusted" : "");
    runtime_unref(rt);
    return filter_quiet(c, SMFIP_NR_CONN);
}

static sfsistat
filter_envfrom(SMFICTX *ctx, char **argv)
{
    struct conn *c = smfi_getpriv(ctx);
    const char *auth = smfi_getsymval(ctx, "{auth_authen}");
    struct msg *m;

    if (c == NULL)
        return filter_fail(ctx, NULL, "no connection context at MAIL FROM");
    conn_end_message(c);
    m = g_new0(struct msg, 1);
    g_atomic_int_inc(&filter_in_flight);
    c->msg = m;
    clock_gettime(CLOCK_MONOTONIC, &m->start);
    if ((m->rt = runtime_acquire()) == NULL)
        return filter_fail(ctx, c, "no configuration loaded");
    m->rcpts = g_ptr_array_new_with_free_func(rcpt_free);
    m->b.cap = m->rt->conf->max_message_size;
    if (auth != NULL && *auth != '\0' && m->rt->conf->skip_authenticated)
        m->skip = g_strdup_printf("authenticated as %s", auth);
    else if (c->trusted)
        m->skip = g_strdup_printf("trusted network %s", c->addr);
    m->from = g_strdup(argv[0] != NULL ? argv[0] : "");
    return SMFIS_CONTINUE;
}

/* The address as given, brackets removed, for the log (g_free). */
static char *
rcpt_addr(const char *arg)
{
    char *a = g_strstrip(g_strdup(arg));
    size_t n = strlen(a);

    if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
        memmove(a, a + 1, n - 2);
        a[n - 2] = '\0';
    }
    return a;
}

static sfsistat
filter_envrcpt(SMFICTX *ctx, char **argv)
{
    struct conn *c = smfi_getpriv(ctx);
    struct rcpt *r;
    char *user, *addr;

    if (c == NULL || c->msg == NULL) {
        if (c != NULL && (c->noreply & SMFIP_NR_RCPT) != 0)
            return SMFIS_NOREPLY;       /* eom will say it */
        return filter_fail(ctx, c, "no message context at RCPT TO");
    }
    if ((user = userkey_from_rcpt(argv[0], c->msg->rt->aliases)) == NULL)
        return filter_quiet(c, SMFIP_NR_RCPT);  /* "<>" cannot be a recipient; the MTA says so */
    addr = rcpt_addr(argv[0]);
    if (c->msg->rt->conf->multi_recipient == CONF_MULTI_SPLIT && !c->nonsmtp
        && c->msg->skip == NULL && (c->noreply & SMFIP_NR_RCPT) == 0
        && c->msg->rcpts->len > 0) {
        const struct rcpt *first = g_ptr_array_index(c->msg->rcpts, 0);

        if (strcmp(first->user, user) != 0 && c->msg->rt->conf->mode == CONF_MODE_SHADOW) {
            /* A 452 delays this recipient's copy: shadow mode changes no delivery. */
            log_msg(LOG_INFO, filter_qid(ctx), "rcpt=%.*s user=%.*s accepted (shadow mode: "
                    "would defer: split from %.*s)", FILTER_LOG_ADDR_MAX, addr,
                    FILTER_LOG_ADDR_MAX, user, FILTER_LOG_ADDR_MAX, first->user);
        } else if (strcmp(first->user, user) != 0) {
            log_msg(LOG_INFO, filter_qid(ctx), "rcpt=%.*s user=%.*s deferred: split from %.*s",
                    FILTER_LOG_ADDR_MAX, addr, FILTER_LOG_ADDR_MAX, user,
                    FILTER_LOG_ADDR_MAX, first->user);
            g_free(user);
            g_free(addr);
            smfi_setreply(ctx, "452", "4.5.3",
                          "Too many recipients in one transaction, send the rest separately");
            return SMFIS_TEMPFAIL;      /* this recipient only */
        }
    }
    r = g_new0(struct rcpt, 1);
    r->user = user;
    r->addr = addr;
    g_ptr_array_add(c->msg->rcpts, r);
    return filter_quiet(c, SMFIP_NR_RCPT);
}

/* The blank line between headers and body, once: at end of headers, or (the
 * MTA skips that step, SMFIP_NOEOH) at the first body chunk or at end of
 * message. */
static void
msg_end_headers(struct msg *m)
{
    if (m->skip == NULL && !m->in_body)
        msgbuf_append(&m->b, "\n", 1);
    m->in_body = 1;
}

static sfsistat
filter_header(SMFICTX *ctx, char *name, char *value)
{
    struct conn *c = smfi_getpriv(ctx);
    struct msg *m;

    if (c == NULL || (m = c->msg) == NULL || m->skip != NULL)  /* eom will say it */
        return filter_quiet(c, SMFIP_NR_HDR);
    for (size_t i = 0; i < N_OWN_HEADERS; i++)
        if (strcasecmp(name, filter_own_headers[i]) == 0) {
            m->own_count[i]++;
            return filter_quiet(c, SMFIP_NR_HDR);   /* removed at eom: not scanned */
        }
    if (m->subject == NULL && strcasecmp(name, "Subject") == 0)
        m->subject = g_strdup(value);
    if (m->hdr_from == NULL && strcasecmp(name, "From") == 0)
        m->hdr_from = g_strdup(value);
    msgbuf_append(&m->b, name, strlen(name));
    msgbuf_append(&m->b, ": ", 2);
    msgbuf_append(&m->b, value, strlen(value));
    msgbuf_append(&m->b, "\n", 1);
    return filter_quiet(c, SMFIP_NR_HDR);
}

static sfsistat
filter_eoh(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);

    if (c == NULL || c->msg == NULL) {
        if (c != NULL && (c->noreply & SMFIP_NR_EOH) != 0)
            return SMFIS_NOREPLY;       /* eom will say it */
        return filter_fail(ctx, c, "no message context at end of headers");
    }
    msg_end_headers(c->msg);
    return filter_quiet(c, SMFIP_NR_EOH);
}

static sfsistat
filter_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    struct conn *c = smfi_getpriv(ctx);
    struct msg *m;

    if (c == NULL || (m = c->msg) == NULL) {
        if (c != NULL && (c->noreply & SMFIP_NR_BODY) != 0)
            return SMFIS_NOREPLY;       /* eom will say it */
        return filter_fail(ctx, c, "no message context at body");
    }
    if (m->skip != NULL) {
        m->b.total += len;
        return (c->noreply & SMFIP_NR_BODY) != 0 ? SMFIS_NOREPLY
            : c->can_skip ? SMFIS_SKIP : SMFIS_CONTINUE;
    }
    msg_end_headers(m);
    msgbuf_append(&m->b, chunk, len);
    /* Past the cap the rest only counts toward the size the header reports.
     * Without replies per chunk the MTA streams the body and SKIP cannot be
     * said (one round trip per chunk costs more than reading the rest of a
     * rare oversized message); otherwise an MTA that understands SKIP need
     * not send the rest at all. */
    if ((c->noreply & SMFIP_NR_BODY) != 0)
        return SMFIS_NOREPLY;
    if ((m->b.oversize || m->b.failed) && c->can_skip)
        return SMFIS_SKIP;
    return SMFIS_CONTINUE;
}

/* Remove every copy of our own headers that came with the message. */
static int
filter_strip_own(SMFICTX *ctx, const struct msg *m)
{
    for (size_t i = 0; i < N_OWN_HEADERS; i++)
        for (unsigned k = m->own_count[i]; k > 0; k--)
            if (smfi_chgheader(ctx, (char *)filter_own_headers[i], (int)k, NULL) != MI_SUCCESS)
                return -1;
    return 0;
}

static int
filter_add(SMFICTX *ctx, const char *name, const char *value)
{
    return smfi_addheader(ctx, (char *)name, (char *)value) == MI_SUCCESS ? 0 : -1;
}

_Static_assert((int)VERDICT_HAM == STORE_V_PASS && (int)VERDICT_TAG == STORE_V_TAG
               && (int)VERDICT_QUARANTINE == STORE_V_QUARANTINE
               && (int)VERDICT_REJECT == STORE_V_REJECT,
               "scan records store the milter's verdicts as they are");

/* Recipient i's allow or block list decision over its verdict, noted for the
 * log line (policy_listed(), users_list_decide()). */
static void
filter_listed(struct msg *m, size_t i, const struct thresholds *t)
{
    char entry[2 * 320 + 2];     /* "scope sender", keys of at most 320 bytes (store.h) */
    int act = users_list_decide(msg_rcpt(m, i)->user, m->from, m->hdr_from, entry,
                                sizeof(entry));

    if (act == STORE_LIST_NONE)
        return;
    m->verdict[i] = policy_listed(act, m->verdict[i], t);
    m->listed[i] = g_strdup_printf(" listed=%s(%.*s)", act == STORE_LIST_ALLOW ? "allow"
                                   : "block", FILTER_LOG_ADDR_MAX, entry);
}

/*
 * Parse the buffered message once, run the body once, then score it for each
 * recipient with that user's head and thresholds (m->verdict, score, version)
 * and record the scan for each: one scan record with the recipient's own
 * verdict (in mode = shadow the one spamshift would have applied: it is not),
 * an offer to the user's reservoir.  *f is the caller's (features_clear()
 * even on failure).  Returns 0, or -1 when the features cannot be extracted
 * (nothing recorded).
 */
static int
filter_score(struct msg *m, struct features *f)
{
    const struct runtime *rt = m->rt;
    size_t n = m->rcpts->len;
    struct score_msg sm;
    double scan_ms;

    msgbuf_to_lf(&m->b);
    if (features_extract((const char *)m->b.buf, m->b.len, f, NULL, NULL) != 0)
        return -1;
    score_message(rt, f, &sm);
    m->verdict = g_new(enum verdict, n);
    m->score = g_new(float, n);
    m->version = g_new(uint64_t, n);
    m->listed = g_new0(char *, n);
    for (size_t i = 0; i < n; i++) {
        const char *user = msg_rcpt(m, i)->user;
        struct thresholds t;

        m->score[i] = score_for_user(rt, user, &sm, &m->version[i]);
        score_thresholds_for_user(rt, user, &t);
        m->verdict[i] = policy_verdict(m->score[i], &t);
        filter_listed(m, i, &t);
        score_record_scan(rt, user, &sm);
    }
    /* Scan records for stats and for matching feedback to the verdict. */
    scan_ms = filter_ms_since(&m->t_eom);
    for (size_t i = 0; i < n; i++) {
        users_scan(msg_rcpt(m, i)->user, f->digest, m->score[i], (int)m->verdict[i], scan_ms);
        if (rt->conf->mode == CONF_MODE_SHADOW)
            users_shadow(msg_rcpt(m, i)->user, (int)m->verdict[i]);
    }
    m->recorded = 1;
    return 0;
}

/*
 * Carry out verdict v for the message: the 550 reply, or the headers (ours
 * from the sender removed first), the subject prefix and quarantine.  pick is
 * the recipient whose score and spam threshold the headers show, would the
 * verdict before mode = shadow (in X-Spamshift-Result when it differs);
 * scanhdr is X-Spamshift-Scan's value, or "" for none.  No header names a
 * recipient (policy_result_header()).  Returns 0, or -1 when the MTA refused a
 * change or the reply.
 */
static int
filter_act(SMFICTX *ctx, const struct msg *m, size_t pick, enum verdict v, enum verdict would,
           const char *scanhdr)
{
    const struct runtime *rt = m->rt;
    struct thresholds t;
    char sbuf[32], *status, *res;
    int err = 0;

    if (v == VERDICT_REJECT)
        return smfi_setreply(ctx, "550", "5.7.1", rt->conf->reject_text) == MI_SUCCESS ? 0 : -1;
    score_thresholds_for_user(rt, msg_rcpt(m, pick)->user, &t);
    policy_format_score(sbuf, sizeof(sbuf), m->score[pick]);
    status = policy_status_header(v, m->score[pick], t.spam);
    res = policy_result_header(m->score[pick], v, would);
    err |= filter_strip_own(ctx, m);
    if (v >= VERDICT_TAG)
        err |= filter_add(ctx, "X-Spam-Flag", "YES");
    err |= filter_add(ctx, "X-Spam-Score", sbuf);
    err |= filter_add(ctx, "X-Spam-Status", status);
    err |= filter_add(ctx, "X-Spamshift-Result", res);
    g_free(status);
    g_free(res);
    if (scanhdr[0] != '\0')
        err |= filter_add(ctx, "X-Spamshift-Scan", scanhdr);
    /* What a later copy needs to be read as the one scored here (model/canon.h):
     * the Received headers we saw, and what we do to the Subject below. */
    {
        int prefixed = v >= VERDICT_TAG && rt->conf->subject_prefix != NULL;
        unsigned rcvd = canon_received((const char *)m->b.buf, m->b.len);
        const char *pfx = prefixed && m->subject != NULL ? rt->conf->subject_prefix : NULL;
        int n = canon_marker_format(NULL, 0, rcvd, pfx, prefixed && m->subject == NULL);
        char *seen = g_malloc((size_t)n + 1);

        canon_marker_format(seen, (size_t)n + 1, rcvd, pfx, prefixed && m->subject == NULL);
        err |= filter_add(ctx, CANON_MARKER, seen);
        g_free(seen);
    }
    if (v >= VERDICT_TAG && rt->conf->subject_prefix != NULL) {
        char *subj = g_strdup_printf("%s %s", rt->conf->subject_prefix,
                                     m->subject != NULL ? m->subject : "");
        if (m->subject != NULL)
            err |= smfi_chgheader(ctx, "Subject", 1, subj) == MI_SUCCESS ? 0 : -1;
        else
            err |= filter_add(ctx, "Subject", subj);
        g_free(subj);
    }
    if (v == VERDICT_QUARANTINE) {
        char *why = g_strdup_printf("spamshift: score=%s", sbuf);

        if (smfi_quarantine(ctx, why) != MI_SUCCESS)
            err = -1;
        g_free(why);
    }
    return err != 0 ? -1 : 0;
}

/* " (shadow mode: would reject)" for mode = shadow, "" otherwise: what the
 * log says besides the verdict applied.  Returns buf. */
static const char *
filter_shadow_note(char *buf, size_t len, const struct runtime *rt, enum verdict would)
{
    buf[0] = '\0';
    if (rt->conf->mode == CONF_MODE_SHADOW)
        snprintf(buf, len, " (shadow mode: would %s)", policy_verdict_name(would));
    return buf;
}

/*
 * The log of a scored message: one line per recipient (address, user key,
 * score, its own verdict, user model), each bounded whatever the number of
 * recipients, then one for the message (recipient count, size, the verdict
 * applied, model, times).  Per-recipient detail goes here and never into a
 * header.
 */
static void
filter_log_scan(const char *qid, const struct msg *m, const struct features *f,
                enum verdict v, enum verdict would)
{
    const struct runtime *rt = m->rt;
    char sbuf[32], note[64], ver[40];

    for (size_t i = 0; i < m->rcpts->len; i++) {
        const struct rcpt *r = msg_rcpt(m, i);
        enum verdict own = m->verdict[i];

        policy_format_score(sbuf, sizeof(sbuf), m->score[i]);
        ver[0] = '\0';
        if (m->version[i] != 0)
            snprintf(ver, sizeof(ver), " user_model=%llu", (unsigned long long)m->version[i]);
        log_msg(LOG_INFO, qid, "rcpt=%.*s user=%.*s score=%s verdict=%s%s%s%s",
                FILTER_LOG_ADDR_MAX, r->addr, FILTER_LOG_ADDR_MAX, r->user, sbuf,
                policy_verdict_name(rt->conf->mode == CONF_MODE_SHADOW ? policy_shadow(own) : own),
                filter_shadow_note(note, sizeof(note), rt, own), ver,
                m->listed[i] != NULL ? m->listed[i] : "");
    }
    log_msg(LOG_INFO, qid, "rcpts=%u size=%zu%s%s verdict=%s%s model=%s scan_ms=%.3f "
            "elapsed_ms=%.3f", m->rcpts->len, m->b.total, m->b.oversize ? " truncated" : "",
            (f->flags & FEATURES_F_MIME_ERROR) ? " mime_error" : "", policy_verdict_name(v),
            filter_shadow_note(note, sizeof(note), rt, would), rt->model->id,
            filter_ms_since(&m->t_eom), filter_ms_since(&m->start));
}

/* End of a message that is not scored (no recipients, or oversize = skip):
 * our headers from the sender removed, the reason in X-Spamshift-Scan,
 * skipped recorded for each recipient; accepted. */
static sfsistat
filter_eom_unscanned(SMFICTX *ctx, struct conn *c, const char *scanhdr)
{
    struct msg *m = c->msg;

    if (filter_strip_own(ctx, m) != 0
        || (scanhdr[0] != '\0' && filter_add(ctx, "X-Spamshift-Scan", scanhdr) != 0))
        return filter_fail(ctx, c, "cannot change headers");
    msg_record_unscored(m, STORE_V_SKIPPED);
    counters_unscored(COUNTERS_UNSCANNED);
    log_msg(LOG_INFO, filter_qid(ctx), "rcpts=%u size=%zu verdict=unscanned (%s) "
            "elapsed_ms=%.3f", m->rcpts->len, m->b.total,
            m->rcpts->len == 0 ? "no recipients" : "oversize", filter_ms_since(&m->start));
    conn_end_message(c);
    return SMFIS_ACCEPT;
}

static sfsistat
filter_eom(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);
    struct msg *m;
    struct features f;
    char scanhdr[128] = "";
    const char *qid = filter_qid(ctx);
    const struct runtime *rt;
    enum verdict v, would;
    size_t pick;
    int err;

    if (c == NULL || (m = c->msg) == NULL)
        return filter_fail(ctx, c, "no message context at end of message");
    msg_end_headers(m);
    if (m->b.failed)
        return filter_fail(ctx, c, "out of memory buffering the message");
    rt = m->rt;
    clock_gettime(CLOCK_MONOTONIC, &m->t_eom);
    if (m->skip != NULL) {      /* untouched, as if accepted at MAIL FROM */
        msg_record_unscored(m, STORE_V_SKIPPED);
        counters_unscored(COUNTERS_SKIPPED);
        log_msg(LOG_INFO, qid, "from=%s rcpts=%u verdict=skipped (%s) elapsed_ms=%.3f",
                m->from, m->rcpts->len, m->skip, filter_ms_since(&m->start));
        conn_end_message(c);
        return SMFIS_ACCEPT;
    }
    if (m->b.oversize)
        /* Not the full size: an MTA that understands SKIP stops sending. */
        snprintf(scanhdr, sizeof(scanhdr), "%s, message larger than %zu bytes",
                 rt->conf->oversize == CONF_OVERSIZE_SKIP ? "skipped" : "truncated", m->b.cap);
    if (m->rcpts->len == 0 || (m->b.oversize && rt->conf->oversize == CONF_OVERSIZE_SKIP))
        return filter_eom_unscanned(ctx, c, scanhdr);

    features_init(&f);
    if (filter_score(m, &f) != 0) {
        features_clear(&f);
        return filter_fail(ctx, c, "feature extraction failed");
    }
    pick = policy_combine(m->verdict, m->score, m->rcpts->len, rt->conf->multi_recipient,
                          &would);
    v = rt->conf->mode == CONF_MODE_SHADOW ? policy_shadow(would) : would;
    err = filter_act(ctx, m, pick, v, would, scanhdr);
    filter_log_scan(qid, m, &f, v, would);
    features_clear(&f);
    if (err != 0)
        return filter_fail(ctx, c, "the MTA refused a header change or reply");
    counters_scanned(v, filter_ms_since(&m->t_eom) / 1e3);
    conn_end_message(c);
    return v == VERDICT_REJECT ? SMFIS_REJECT : SMFIS_ACCEPT;
}

static sfsistat
filter_abort(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);

    if (c != NULL && c->msg != NULL) {
        log_msg(LOG_DEBUG, filter_qid(ctx), "message aborted after %zu bytes", c->msg->b.total);
        conn_end_message(c);
    }
    return SMFIS_CONTINUE;
}

static sfsistat
filter_close(SMFICTX *ctx)
{
    struct conn *c = smfi_getpriv(ctx);

    if (c != NULL) {
        conn_end_message(c);
        g_free(c);
        smfi_setpriv(ctx, NULL);
    }
    return SMFIS_CONTINUE;
}

struct smfiDesc filter_desc = {
    .xxfi_name = "spamshift",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = FILTER_ACTIONS,
    .xxfi_connect = filter_connect,
    .xxfi_helo = NULL,
    .xxfi_envfrom = filter_envfrom,
    .xxfi_envrcpt = filter_envrcpt,
    .xxfi_header = filter_header,
    .xxfi_eoh = filter_eoh,
    .xxfi_body = filter_body,
    .xxfi_eom = filter_eom,
    .xxfi_abort = filter_abort,
    .xxfi_close = filter_close,
    .xxfi_unknown = NULL,
    .xxfi_data = NULL,
    .xxfi_negotiate = filter_negotiate,
};
