/*
 * store_err.c - the store's last error message: store_fail() sets it (the
 * front and every backend call it), store_errmsg() reads it.  Calls nothing
 * else, so any store object may depend on it without a cycle
 * (tests/layering/mutual.sh).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "store.h"
#include "store_be.h"

int
store_fail(struct store *s, int status, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(s->err, sizeof(s->err), fmt, ap);
    va_end(ap);
    return status;
}

const char *
store_errmsg(const struct store *s)
{
    return s != NULL ? s->err : "no store";
}
