/*
 * filter.h - the libmilter callbacks: per-connection and per-message
 * contexts, the capped message buffer, per-recipient scoring, actions.
 */
#ifndef SPAMSHIFT_MILTER_FILTER_H
#define SPAMSHIFT_MILTER_FILTER_H

#include <libmilter/mfapi.h>

/* The filter description handed to smfi_register(). */
extern struct smfiDesc filter_desc;

/* Messages between MAIL FROM and their end (eom, abort or close). */
int filter_messages_in_flight(void);

#endif
