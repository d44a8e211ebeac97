/*
 * senderlist.c - allow and block lists in memory; see senderlist.h.
 *
 * One hash table keyed "scope\tsender" holds every entry; a decision is at
 * most (2 scopes x (1 + domain labels)) x 2 addresses lookups.
 */
#include "config.h"

#include <string.h>

#include <glib.h>

#include "senderlist.h"
#include "userkey.h"

struct senderlist {
    GHashTable *map;            /* "scope\tsender" -> struct entry */
    struct store_list_entry *v; /* the entries the keys point into */
    size_t n;
};

/* A domain name: labels of letters, digits, '-' or UTF-8, separated by single
 * dots, at least one dot not needed (an intranet's "localdomain" is one). */
static int
domain_ok(const char *d)
{
    size_t label = 0;

    if (*d == '\0' || *d == '.')
        return 0;
    for (const unsigned char *p = (const unsigned char *)d; *p; p++) {
        if (*p == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (g_ascii_isalnum(*p) || *p == '-' || *p == '_' || *p >= 0x80)
            label++;
        else
            return 0;
    }
    return label > 0;
}

char *
senderlist_normalize(const char *in)
{
    char *s = userkey_normalize(in), *at;

    if (s == NULL)
        return NULL;
    /* A bare domain is a domain entry. */
    if ((at = strrchr(s, '@')) == NULL) {
        char *d = g_strconcat("@", s, NULL);

        g_free(s);
        s = d;
        at = s;
    }
    if (!domain_ok(at + 1) || strchr(s, ' ') != NULL || !store_user_valid(s)) {
        g_free(s);
        return NULL;
    }
    return s;
}

struct senderlist *
senderlist_free(struct senderlist *l)
{
    if (l == NULL)
        return NULL;
    if (l->map != NULL)
        g_hash_table_destroy(l->map);
    store_list_free(l->v, l->n);
    g_free(l);
    return NULL;
}

struct senderlist *
senderlist_load(struct store *s, uint64_t *gen, char *err, size_t errlen)
{
    struct senderlist *l = g_new0(struct senderlist, 1);
    int rc;

    /* The generation first: a change made while we read is seen next time. */
    if ((rc = store_lists_gen(s, gen)) != STORE_OK
        || (rc = store_list_all(s, &l->v, &l->n)) != STORE_OK) {
        g_snprintf(err, errlen, "%s", store_errmsg(s));
        return senderlist_free(l);
    }
    l->map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    for (size_t i = 0; i < l->n; i++)
        g_hash_table_insert(l->map, g_strconcat(l->v[i].scope, "\t", l->v[i].sender, NULL),
                            &l->v[i]);
    return l;
}

size_t
senderlist_size(const struct senderlist *l)
{
    return l != NULL ? l->n : 0;
}

static const struct store_list_entry *
find(const struct senderlist *l, const char *scope, const char *sender)
{
    char *k = g_strconcat(scope, "\t", sender, NULL);
    const struct store_list_entry *e = g_hash_table_lookup(l->map, k);

    g_free(k);
    return e;
}

/* The entry deciding one normalised address in one scope: the address, then
 * "@domain" for its domain and each parent domain. */
static const struct store_list_entry *
decide_in(const struct senderlist *l, const char *scope, const char *addr)
{
    const struct store_list_entry *e;
    const char *d = strrchr(addr, '@');

    if ((e = find(l, scope, addr)) != NULL || d == NULL)
        return e;
    for (d++; *d != '\0'; ) {
        char *k = g_strconcat("@", d, NULL);

        e = find(l, scope, k);
        g_free(k);
        if (e != NULL)
            return e;
        if ((d = strchr(d, '.')) == NULL)
            break;
        d++;
    }
    return NULL;
}

static const struct store_list_entry *
decide_addr(const struct senderlist *l, const char *user, const char *addr)
{
    const struct store_list_entry *e = decide_in(l, user, addr);
    const char *at = strrchr(user, '@');

    if (e == NULL && at != NULL)
        e = decide_in(l, at, addr);
    return e;
}

/* The normalised address in an envelope sender or a From header's value
 * ("Name <a@b>", "a@b (Name)", "<a@b>"), or NULL. */
static char *
addr_of(const char *v)
{
    const char *lt, *gt;
    char *raw, *a;

    if (v == NULL || *v == '\0')
        return NULL;
    if ((lt = strrchr(v, '<')) != NULL && (gt = strchr(lt, '>')) != NULL)
        raw = g_strndup(lt + 1, (gsize)(gt - lt - 1));
    else {
        const char *paren = strchr(v, '(');

        raw = paren != NULL ? g_strndup(v, (gsize)(paren - v)) : g_strdup(v);
    }
    a = userkey_normalize(raw);
    g_free(raw);
    return a;
}

void
senderlist_decide(const struct senderlist *l, const char *user, const char *env_from,
                  const char *hdr_from, struct senderlist_match *m)
{
    const char *raw[2] = { env_from, hdr_from };
    const struct store_list_entry *dec[2] = { NULL, NULL }, *allow = NULL;
    int n = 0, n_allow = 0;

    memset(m, 0, sizeof(*m));
    if (l == NULL || l->n == 0 || user == NULL)
        return;
    for (int i = 0; i < 2; i++) {
        char *a = addr_of(raw[i]);

        if (a != NULL && strrchr(a, '@') != NULL) {
            dec[n] = decide_addr(l, user, a);
            n++;
        }
        g_free(a);
    }
    for (int i = 0; i < n; i++) {
        if (dec[i] != NULL && dec[i]->action == STORE_LIST_BLOCK) {
            m->action = STORE_LIST_BLOCK;
            m->scope = dec[i]->scope;
            m->sender = dec[i]->sender;
            return;
        }
        if (dec[i] != NULL && dec[i]->action == STORE_LIST_ALLOW) {
            n_allow++;
            allow = dec[i];
        }
    }
    if (n > 0 && n_allow == n) {
        m->action = STORE_LIST_ALLOW;
        m->scope = allow->scope;
        m->sender = allow->sender;
    }
}

char *
senderlist_header(const char *msg, size_t len, const char *name)
{
    size_t nlen = strlen(name), i = 0;
    GString *v = NULL;

    while (i < len) {
        const char *line = msg + i, *nl = memchr(line, '\n', len - i);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - i;

        i += n + (nl != NULL);
        if (n > 0 && line[n - 1] == '\r')
            n--;
        if (n == 0)
            break;                      /* the end of the header block */
        if (v != NULL) {
            if (line[0] != ' ' && line[0] != '\t')
                break;                  /* the next header: the value is whole */
            g_string_append_len(v, line, (gssize)n);
        } else if (n > nlen && line[nlen] == ':' && g_ascii_strncasecmp(line, name, nlen) == 0)
            v = g_string_new_len(line + nlen + 1, (gssize)(n - nlen - 1));
    }
    return v != NULL ? g_strstrip(g_string_free(v, FALSE)) : NULL;
}
