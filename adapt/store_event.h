/*
 * store_event.h - where the store reports what a program's log must say once
 * and not per operation: a database server that went away and came back.
 *
 * The store has no logger of its own; a program that wants these lines (the
 * milter: syslog) installs a reporter once at start-up, before any store is
 * opened.  Without one the lines go to stderr.  The reporter is called from
 * whichever thread noticed, so it must be thread-safe (log_write() is).
 */
#ifndef SPAMSHIFT_STORE_EVENT_H
#define SPAMSHIFT_STORE_EVENT_H

#include <syslog.h>

typedef void store_event_fn(void *arg, int level, const char *line);

/* Install fn (NULL: back to stderr).  Not thread-safe against store_event(). */
void store_event_set(store_event_fn *fn, void *arg);

/* Report one line at a syslog level (LOG_WARNING, LOG_NOTICE). */
void store_event(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
