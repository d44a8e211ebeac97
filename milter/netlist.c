/*
 * netlist.c - CIDR lists for trusted_networks; see netlist.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "netlist.h"

struct net_entry {
    int family;                 /* AF_INET or AF_INET6 */
    uint8_t addr[16];           /* network address, host bits cleared */
    unsigned prefix;            /* 0..32 or 0..128 */
};

struct netlist {
    size_t n;
    struct net_entry *e;
};

/* Clear the bits of addr beyond prefix. */
static void
netlist_mask(uint8_t *addr, unsigned nbytes, unsigned prefix)
{
    for (unsigned i = 0; i < nbytes; i++) {
        unsigned bits = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;
        addr[i] &= (uint8_t)(0xff00u >> bits);
    }
}

static int
netlist_parse_one(const char *tok, struct net_entry *e)
{
    char buf[INET6_ADDRSTRLEN + 8];
    char *slash, *end;
    unsigned long prefix;
    unsigned maxbits;

    if (strlen(tok) >= sizeof(buf))
        return -1;
    strcpy(buf, tok);
    slash = strchr(buf, '/');
    if (slash != NULL)
        *slash = '\0';
    memset(e, 0, sizeof(*e));
    if (inet_pton(AF_INET, buf, e->addr) == 1) {
        e->family = AF_INET;
        maxbits = 32;
    } else if (inet_pton(AF_INET6, buf, e->addr) == 1) {
        e->family = AF_INET6;
        maxbits = 128;
    } else {
        return -1;
    }
    prefix = maxbits;
    if (slash != NULL) {
        if (slash[1] < '0' || slash[1] > '9')
            return -1;
        prefix = strtoul(slash + 1, &end, 10);
        if (*end != '\0' || prefix > maxbits)
            return -1;
    }
    e->prefix = (unsigned)prefix;
    netlist_mask(e->addr, maxbits / 8, e->prefix);
    return 0;
}

struct netlist *
netlist_parse(const char *spec, char *err, size_t errlen)
{
    struct netlist *nl = g_new0(struct netlist, 1);
    char **tok = g_strsplit_set(spec != NULL ? spec : "", ", \t", -1);
    size_t ntok = g_strv_length(tok);

    nl->e = g_new0(struct net_entry, ntok + 1);
    for (size_t i = 0; i < ntok; i++) {
        if (tok[i][0] == '\0')
            continue;
        if (netlist_parse_one(tok[i], &nl->e[nl->n]) != 0) {
            snprintf(err, errlen, "\"%s\" is not an address or network (want a.b.c.d/len "
                     "or ipv6/len)", tok[i]);
            g_strfreev(tok);
            return netlist_free(nl);
        }
        nl->n++;
    }
    g_strfreev(tok);
    return nl;
}

struct netlist *
netlist_free(struct netlist *nl)
{
    if (nl != NULL) {
        g_free(nl->e);
        g_free(nl);
    }
    return NULL;
}

static int
netlist_match_raw(const struct netlist *nl, int family, const uint8_t *addr)
{
    unsigned nbytes = family == AF_INET ? 4 : 16;

    for (size_t i = 0; i < nl->n; i++) {
        uint8_t a[16];

        if (nl->e[i].family != family)
            continue;
        memcpy(a, addr, nbytes);
        netlist_mask(a, nbytes, nl->e[i].prefix);
        if (memcmp(a, nl->e[i].addr, nbytes) == 0)
            return 1;
    }
    return 0;
}

int
netlist_match(const struct netlist *nl, const struct sockaddr *sa)
{
    if (nl == NULL || sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        return netlist_match_raw(nl, AF_INET, (const uint8_t *)&sin->sin_addr);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        const uint8_t *a = (const uint8_t *)&sin6->sin6_addr;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
            return netlist_match_raw(nl, AF_INET, a + 12);
        return netlist_match_raw(nl, AF_INET6, a);
    }
    return 0;
}

int
netlist_match_text(const struct netlist *nl, const char *addr)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;

    if (addr == NULL)
        return 0;
    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));
    if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        return netlist_match(nl, (const struct sockaddr *)&sin);
    }
    if (inet_pton(AF_INET6, addr, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        return netlist_match(nl, (const struct sockaddr *)&sin6);
    }
    return 0;
}
