/*
 * filter.h - the libmilter callbacks: per-connection and per-message
 * contexts, the capped message buffer, per-recipient scoring, actions.
 */
#ifndef SPAMSHIFT_MILTER_FILTER_H
#define SPAMSHIFT_MILTER_FILTER_H

#include <libmilter/mfapi.h>

/* What the filter negotiates with the MTA (filter_negotiate); also used by
 * bench/milter/nullmilter, so that the benchmark's reference milter holds the
 * same conversation.  Actions: headers added and changed, quarantine.  Steps
 * the MTA need not send: HELO, unknown commands, DATA, end of headers.  Steps
 * that answer nothing: connect, headers, end of headers, body chunks, and RCPT
 * unless multi_recipient = split, which must answer recipients one by one. */
#define FILTER_ACTIONS (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE)
#define FILTER_NOSTEPS (SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NOEOH)
#define FILTER_NOREPLY (SMFIP_NR_CONN | SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY)

/* The filter description handed to smfi_register(). */
extern struct smfiDesc filter_desc;

/* Messages between MAIL FROM and their end (eom, abort or close). */
int filter_messages_in_flight(void);

#endif
