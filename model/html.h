/*
 * html.h - text/html to the visible text, the links and a few markers that spam
 * uses (hidden text, images, forms), through libxml2's recovering HTML parser.
 *
 * The only file besides mime.c allowed to use libxml2.  Never touches the
 * network (HTML_PARSE_NONET) and never fails on broken markup.  Reentrant once
 * features_global_init() has initialised libxml2.
 */
#ifndef SPAMSHIFT_HTML_H
#define SPAMSHIFT_HTML_H

#include <stddef.h>

#define HTML_MAX_BYTES (4u << 20)   /* larger documents are parsed on their first 4 MiB */

struct html_info {
    unsigned images;        /* <img> elements */
    unsigned links;         /* link URLs reported */
    unsigned forms;         /* <form> elements */
    unsigned scripts;       /* <script>, <object>, <embed>, <applet> */
    unsigned iframes;       /* <iframe>, <frame> */
    unsigned tiny;          /* text runs in tiny fonts (font size 1, font-size <= 2px) */
    size_t invisible;       /* bytes of text hidden by style or colour, left out */
    size_t visible;         /* bytes of visible text reported */
    int truncated;          /* input longer than HTML_MAX_BYTES */
};

/* Visible text, in document order; block elements are separated by "\n". */
typedef void (*html_text_fn)(void *arg, const char *text, size_t len);
/* A link target (a href, area href, img src, form action, frame src), raw. */
typedef void (*html_link_fn)(void *arg, const char *url, size_t len);

/*
 * Parse len bytes of UTF-8 HTML (NUL bytes should have been removed: libxml2
 * stops at them).  Text inside script, style, head, comments and invisible
 * elements is not reported.  *info is filled.  Returns 0, or -1 for empty input
 * or when out of memory (*info is then zeroed).
 */
int html_extract(const char *html, size_t len, html_text_fn text, html_link_fn link,
                 void *arg, struct html_info *info);

/* libxml2 set-up, called by features_global_init() once per process. */
void html_global_init(void);
void html_global_shutdown(void);

#endif
