/*
 * log.c - stderr or syslog output with a level filter; see log.h.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static enum log_target target = LOG_TARGET_STDERR;
static int cur_level = LOG_INFO;
static char ident_buf[64] = "spamshift";

void
log_open(const char *ident, enum log_target t, int facility)
{
    if (ident != NULL)
        snprintf(ident_buf, sizeof(ident_buf), "%s", ident);
    target = t;
    if (target == LOG_TARGET_SYSLOG)
        openlog(ident_buf, LOG_PID | LOG_NDELAY, facility);
}

void
log_set_level(int level)
{
    cur_level = level;
}

int
log_level(void)
{
    return cur_level;
}

int
log_level_parse(const char *name)
{
    static const struct { const char *name; int level; } names[] = {
        { "err", LOG_ERR }, { "error", LOG_ERR }, { "warning", LOG_WARNING },
        { "warn", LOG_WARNING }, { "notice", LOG_NOTICE }, { "info", LOG_INFO },
        { "debug", LOG_DEBUG },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i].name) == 0)
            return names[i].level;
    return -1;
}

void
log_close(void)
{
    if (target == LOG_TARGET_SYSLOG)
        closelog();
    target = LOG_TARGET_STDERR;
}

void
log_vwrite(int level, const char *qid, const char *fmt, va_list ap)
{
    char buf[2048];

    vsnprintf(buf, sizeof(buf), fmt, ap);
    if (target == LOG_TARGET_SYSLOG) {
        if (qid != NULL && *qid != '\0')
            syslog(level, "%s: %s", qid, buf);
        else
            syslog(level, "%s", buf);
        return;
    }
    if (qid != NULL && *qid != '\0')
        fprintf(stderr, "%s: %s: %s\n", ident_buf, qid, buf);
    else
        fprintf(stderr, "%s: %s\n", ident_buf, buf);
}

void
log_write(int level, const char *qid, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(level, qid, fmt, ap);
    va_end(ap);
}
