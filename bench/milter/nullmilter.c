/*
 * nullmilter.c - the milter benchmark's reference milter: the same libmilter
 * conversation as spamshift-milter and no work.  It negotiates the same steps
 * and the same no-reply flags (milter/filter.c, filter_negotiate), answers
 * MAIL and end of message, and adds at end of message the three headers
 * spamshift-milter adds to a ham (X-Spam-Score, X-Spam-Status,
 * X-Spamshift-Result) with fixed values; it parses, scores and stores
 * nothing.  bench/milter/run.sh runs it beside spamshift-milter so that what
 * any milter costs Postfix (two more processes talking the milter protocol
 * per message) is told apart from what spamshift's own work costs.
 *
 *   nullmilter unix:/path/to/socket
 *
 * Runs in the foreground until SIGTERM or SIGINT (libmilter's handling).  The
 * socket is made writable for everyone: the caller's directory must be
 * private.  Not installed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libmilter/mfapi.h>

#include "milter/filter.h"  /* spamshift-milter's negotiation: FILTER_* */

static sfsistat
null_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
               unsigned long f3, unsigned long *pf0, unsigned long *pf1,
               unsigned long *pf2, unsigned long *pf3)
{
    (void) ctx;
    (void) f2;
    (void) f3;
    /* as spamshift-milter with multi_recipient other than split */
    *pf0 = f0 & FILTER_ACTIONS;
    *pf1 = f1 & (FILTER_NOSTEPS | SMFIP_SKIP | FILTER_NOREPLY | SMFIP_NR_RCPT);
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

static sfsistat
null_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
    (void) ctx;
    (void) host;
    (void) addr;
    return SMFIS_NOREPLY;
}

static sfsistat
null_envfrom(SMFICTX *ctx, char **argv)
{
    (void) ctx;
    (void) argv;
    return SMFIS_CONTINUE;
}

static sfsistat
null_envrcpt(SMFICTX *ctx, char **argv)
{
    (void) ctx;
    (void) argv;
    return SMFIS_NOREPLY;
}

static sfsistat
null_header(SMFICTX *ctx, char *name, char *value)
{
    (void) ctx;
    (void) name;
    (void) value;
    return SMFIS_NOREPLY;
}

static sfsistat
null_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    (void) ctx;
    (void) chunk;
    (void) len;
    return SMFIS_NOREPLY;
}

static sfsistat
null_eom(SMFICTX *ctx)
{
    if (smfi_addheader(ctx, "X-Spam-Score", "0.000710") != MI_SUCCESS
        || smfi_addheader(ctx, "X-Spam-Status", "No, score=0.000710 required=0.500000")
        != MI_SUCCESS
        || smfi_addheader(ctx, "X-Spamshift-Result",
                          "score=0.000710; verdict=ham") != MI_SUCCESS)
        fprintf(stderr, "nullmilter: smfi_addheader failed\n");
    return SMFIS_CONTINUE;
}

static struct smfiDesc null_desc = {
    .xxfi_name = "nullmilter",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = FILTER_ACTIONS,
    .xxfi_connect = null_connect,
    .xxfi_envfrom = null_envfrom,
    .xxfi_envrcpt = null_envrcpt,
    .xxfi_header = null_header,
    .xxfi_body = null_body,
    .xxfi_eom = null_eom,
    .xxfi_negotiate = null_negotiate,
};

int
main(int argc, char **argv)
{
    if (argc != 2 || strncmp(argv[1], "unix:", 5) != 0) {
        fprintf(stderr, "usage: nullmilter unix:/path/to/socket\n");
        return 64;
    }
    umask(0);
    if (smfi_register(null_desc) != MI_SUCCESS || smfi_setconn(argv[1]) != MI_SUCCESS
        || smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "nullmilter: cannot listen on %s\n", argv[1]);
        return 69;
    }
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
