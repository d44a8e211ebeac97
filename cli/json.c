/*
 * json.c - JSON writers for the commands' outputs; see json.h.
 */
#include "config.h"

#include <math.h>

#include "json.h"

void
json_string(FILE *fp, const char *s)
{
    putc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':  fputs("\\\"", fp); break;
        case '\\': fputs("\\\\", fp); break;
        case '\n': fputs("\\n", fp); break;
        case '\r': fputs("\\r", fp); break;
        case '\t': fputs("\\t", fp); break;
        default:
            if (*p < 0x20)
                fprintf(fp, "\\u%04x", *p);
            else
                putc(*p, fp);
        }
    }
    putc('"', fp);
}

void
json_num(FILE *fp, const char *key, double v, int comma)
{
    if (isfinite(v))
        fprintf(fp, "\"%s\":%.6g%s", key, v, comma ? "," : "");
    else
        fprintf(fp, "\"%s\":null%s", key, comma ? "," : "");
}
