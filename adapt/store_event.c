/*
 * store_event.c - the store's reporter for once-per-episode lines; see
 * store_event.h.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "store_event.h"

static store_event_fn *event_fn;
static void *event_arg;

void
store_event_set(store_event_fn *fn, void *arg)
{
    event_fn = fn;
    event_arg = arg;
}

void
store_event(int level, const char *fmt, ...)
{
    char line[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (event_fn != NULL)
        event_fn(event_arg, level, line);
    else
        fprintf(stderr, "spamshift: %s\n", line);
}
