/*
 * header_rules.h - the header features of one extraction (header_rules.c).
 * Internal to model/: features.c plugs the first three into its struct
 * mime_sink.
 */
#ifndef SPAMSHIFT_HEADER_RULES_H
#define SPAMSHIFT_HEADER_RULES_H

#include "fx.h"
#include "mime.h"

/* mime_sink.want_value: which header values header_rules_on_header() reads
 * (MIME_VALUE_RAW for Received, MIME_VALUE_DECODED for the few it uses); the
 * others count by name only. */
int header_rules_want_value(void *arg, const char *name);

/* mime_sink.header: one header, arg is the struct fx; value NULL when not wanted. */
void header_rules_on_header(void *arg, const char *name, const char *value);

/* mime_sink.address: one address of From, Reply-To, To or Cc. */
void header_rules_on_address(void *arg, enum mime_field field, const char *name,
                             const char *addr);

/* The closing header tokens, after the walk: Received hop count and first relay,
 * and the missing-Subject/X-Mailer/Message-ID/From and Reply-To comparisons. */
void header_rules_finish(struct fx *x);

#endif
