/*
 * log.h - one small logging module for every spamshift program.
 *
 * The CLI logs to stderr ("spamshift: message"); the milter opens syslog and
 * every line carries the queue id when there is one.  The level is checked
 * before the arguments are formatted (LOG_* from <syslog.h>).
 */
#ifndef SPAMSHIFT_LOG_H
#define SPAMSHIFT_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <syslog.h>

enum log_target { LOG_TARGET_STDERR, LOG_TARGET_SYSLOG };

/* Configure once at start-up (not thread-safe against concurrent log_msg). */
void log_open(const char *ident, enum log_target target, int facility);
void log_set_level(int level);          /* LOG_ERR .. LOG_DEBUG; default LOG_INFO */
int log_level(void);
/* Parse "err", "warning", "notice", "info", "debug"; -1 if unknown. */
int log_level_parse(const char *name);
void log_close(void);

/* Longest line written: a longer message goes out as several lines "[i/n] ..."
 * (log.c says why).  Bytes of text, before the queue id and syslog's header. */
#define LOG_LINE_MAX 1900

void log_write(int level, const char *qid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_vwrite(int level, const char *qid, const char *fmt, va_list ap);

/* Where log_vwrite() cuts text[0..len) into lines of at most max bytes (max >= 8):
 * returns the number of pieces and, when cut is not NULL, cut[i] = the end of
 * piece i (cut[n-1] = len; cut must hold that many).  For tests. */
size_t log_split(const char *text, size_t len, size_t max, size_t *cut);

/* qid may be NULL.  Arguments are not evaluated below the level. */
#define log_msg(level, qid, ...) \
    do { if ((level) <= log_level()) log_write((level), (qid), __VA_ARGS__); } while (0)
#define log_err(...)    log_msg(LOG_ERR, NULL, __VA_ARGS__)
#define log_warn(...)   log_msg(LOG_WARNING, NULL, __VA_ARGS__)
#define log_info(...)   log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...)  log_msg(LOG_DEBUG, NULL, __VA_ARGS__)

#endif
