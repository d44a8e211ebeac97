/*
 * store_sql.c - the statements `store copy` needs, as text built from a
 * table's description (store_be.h, struct store_table), shared by the SQL
 * backends so that their copy operations differ only in how they bind and
 * read values.  Names come from the program's own table list, never from
 * data; every value is a parameter.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "store_be.h"

/* Append printf-style to buf at *off; -1 once it no longer fits. */
static int
put(char *buf, size_t len, size_t *off, const char *fmt, const char *a, int n)
{
    int w;

    if (*off >= len)
        return -1;
    w = a != NULL ? snprintf(buf + *off, len - *off, fmt, a)
                  : snprintf(buf + *off, len - *off, fmt, n);
    if (w < 0 || (size_t)w >= len - *off)
        return -1;
    *off += (size_t)w;
    return 0;
}

int
store_sql_table(char *buf, size_t len, const struct store_table *t,
                enum store_sql_kind kind, char ph, int by_user, const char *cond)
{
    size_t off = 0;
    int bad = 0, where = 0;

    switch (kind) {
    case STORE_SQL_SELECT:
        bad |= put(buf, len, &off, "%s", "SELECT ", 0);
        for (int c = 0; c < t->ncols; c++) {
            bad |= put(buf, len, &off, "%s", t->cols[c].name, 0);
            if (c + 1 < t->ncols)
                bad |= put(buf, len, &off, "%s", ", ", 0);
        }
        bad |= put(buf, len, &off, " FROM %s", t->name, 0);
        break;
    case STORE_SQL_COUNT:
        bad |= put(buf, len, &off, "SELECT count(*) FROM %s", t->name, 0);
        break;
    case STORE_SQL_INSERT:
        bad |= put(buf, len, &off, "INSERT INTO %s(", t->name, 0);
        for (int c = 0; c < t->ncols; c++)
            bad |= put(buf, len, &off, c + 1 < t->ncols ? "%s, " : "%s)",
                       t->cols[c].name, 0);
        bad |= put(buf, len, &off, "%s", " VALUES (", 0);
        for (int c = 0; c < t->ncols; c++) {
            char p[2] = { ph, '\0' };

            bad |= put(buf, len, &off, "%s", p, 0);
            bad |= put(buf, len, &off, c + 1 < t->ncols ? "%d, " : "%d)", NULL, c + 1);
        }
        return bad ? -1 : 0;
    case STORE_SQL_DELETE:
        bad |= put(buf, len, &off, "DELETE FROM %s", t->name, 0);
        break;
    }
    if (by_user && t->user_col >= 0 && kind != STORE_SQL_DELETE) {
        char p[2] = { ph, '\0' };

        bad |= put(buf, len, &off, " WHERE %s = ", t->cols[t->user_col].name, 0);
        bad |= put(buf, len, &off, "%s1", p, 0);
        where = 1;
    }
    if (cond != NULL)
        bad |= put(buf, len, &off, where ? " AND %s" : " WHERE %s", cond, 0);
    return bad ? -1 : 0;
}
