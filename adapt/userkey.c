/*
 * userkey.c - recipient address -> user key; see userkey.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "userkey.h"

char *
userkey_normalize(const char *rcpt)
{
    char *s, *low, *at, *plus;
    size_t len;

    if (rcpt == NULL)
        return NULL;
    s = g_strstrip(g_strdup(rcpt));
    len = strlen(s);
    if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
        memmove(s, s + 1, len - 2);
        s[len - 2] = '\0';
        g_strstrip(s);
    }
    if (*s == '\0') {
        g_free(s);
        return NULL;
    }
    /* SMTPUTF8 addresses are UTF-8; anything else is lowercased as ASCII. */
    low = g_utf8_validate(s, -1, NULL) ? g_utf8_strdown(s, -1) : g_ascii_strdown(s, -1);
    g_free(s);
    at = strrchr(low, '@');
    plus = strchr(low, '+');
    /* A '+' at the start of the local part is the whole name, not a detail. */
    if (plus != NULL && plus != low && (at == NULL || plus < at)) {
        if (at != NULL)
            memmove(plus, at, strlen(at) + 1);
        else
            *plus = '\0';
    }
    return low;
}

char *
userkey_from_rcpt(const char *rcpt, GHashTable *aliases)
{
    char *key = userkey_normalize(rcpt);
    const char *alias;

    if (key != NULL && aliases != NULL
        && (alias = g_hash_table_lookup(aliases, key)) != NULL) {
        g_free(key);
        key = g_strdup(alias);
    }
    return key;
}

GHashTable *
userkey_alias_load(const char *path, GPtrArray *errors)
{
    GHashTable *t = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    guint nerr = errors->len;
    char line[2048];
    unsigned lineno = 0;
    FILE *fp;

    if ((fp = fopen(path, "r")) == NULL) {
        g_ptr_array_add(errors, g_strdup_printf("%s: cannot open alias map: %s", path,
                                                g_strerror(errno)));
        g_hash_table_unref(t);
        return NULL;
    }
    while (fgets(line, sizeof(line), fp) != NULL) {
        char **f;
        char *from, *to;

        lineno++;
        g_strstrip(line);
        if (line[0] == '\0' || line[0] == '#')
            continue;
        f = g_strsplit_set(line, " \t", -1);
        {   /* keep the non-empty fields */
            char **dst = f;
            for (char **src = f; *src; src++) {
                if (**src == '\0')
                    g_free(*src);
                else
                    *dst++ = *src;
            }
            *dst = NULL;
        }
        if (g_strv_length(f) != 2) {
            g_ptr_array_add(errors, g_strdup_printf("%s:%u: want \"address user\", got \"%s\"",
                                                    path, lineno, line));
            g_strfreev(f);
            continue;
        }
        from = userkey_normalize(f[0]);
        to = userkey_normalize(f[1]);
        g_strfreev(f);
        if (from == NULL || to == NULL) {
            g_ptr_array_add(errors, g_strdup_printf("%s:%u: empty address", path, lineno));
            g_free(from);
            g_free(to);
            continue;
        }
        if (g_hash_table_contains(t, from)) {
            g_ptr_array_add(errors, g_strdup_printf("%s:%u: %s: duplicate alias",
                                                    path, lineno, from));
            g_free(from);
            g_free(to);
            continue;
        }
        g_hash_table_insert(t, from, to);
    }
    fclose(fp);
    if (errors->len != nerr) {
        g_hash_table_unref(t);
        return NULL;
    }
    return t;
}
