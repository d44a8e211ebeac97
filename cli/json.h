/*
 * json.h - the few JSON writers the commands' --json outputs share (stdio, no
 * document model: each command prints its objects in a fixed key order).
 */
#ifndef SPAMSHIFT_JSON_H
#define SPAMSHIFT_JSON_H

#include <stdio.h>

/* Write s as a JSON string literal (with quotes) to fp: ", \ and control
 * characters escaped, other bytes as they are (the input is UTF-8). */
void json_string(FILE *fp, const char *s);

/* Write "key":v with %.6g, or "key":null when v is not finite (JSON has no NaN);
 * a comma after it when comma is non-zero. */
void json_num(FILE *fp, const char *key, double v, int comma);

#endif
