/*
 * netlist.h - a list of IPv4 and IPv6 networks in CIDR notation, for
 * trusted_networks.  Immutable after netlist_parse(); safe to share between
 * threads.  An IPv4-mapped IPv6 client (::ffff:192.0.2.1) matches IPv4 entries.
 */
#ifndef SPAMSHIFT_MILTER_NETLIST_H
#define SPAMSHIFT_MILTER_NETLIST_H

#include <stddef.h>
#include <sys/socket.h>

struct netlist;

/* Parse "192.0.2.0/24, 2001:db8::/32 127.0.0.1" (comma or blank separated; a bare
 * address is a host).  An empty list is valid.  Returns the list (free with
 * netlist_free()), or NULL with the offending entry named in err. */
struct netlist *netlist_parse(const char *spec, char *err, size_t errlen);

/* Accepts NULL; returns NULL. */
struct netlist *netlist_free(struct netlist *nl);

/* 1 if sa (AF_INET or AF_INET6) lies in one of the networks, else 0.
 * nl == NULL or sa == NULL gives 0. */
int netlist_match(const struct netlist *nl, const struct sockaddr *sa);

/* The same for an address in text form; 0 for an unparsable address. */
int netlist_match_text(const struct netlist *nl, const char *addr);

#endif
