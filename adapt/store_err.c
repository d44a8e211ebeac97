/*
 * store_err.c - the store's last error message and status: store_fail() sets
 * them (the front and every backend call it), store_errmsg() and
 * store_errcode() read them.  Calls nothing
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
    s->err_status = status;
    return status;
}

int
store_errcode(const struct store *s)
{
    return s != NULL ? s->err_status : STORE_ERR;
}

const char *
store_errmsg(const struct store *s)
{
    return s != NULL ? s->err : "no store";
}
