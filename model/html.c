/*
 * html.c - visible text, links and spam markers of an HTML part (see html.h).
 *
 * libxml2's recovering HTML parser runs in SAX mode: no tree is built (building
 * and freeing one was most of the cost on HTML-heavy mail).  The handlers keep,
 * for each open element, whether the text inside is hidden and which colours
 * apply, in a fixed stack (deeper elements share the deepest entry, so hostile
 * nesting costs no memory).
 *
 * Whitespace-only text is kept (it arrives as "ignorable whitespace"): dropping
 * it would glue "<b>free</b> <i>money</i>" into one word.
 */
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>

#include "html.h"

#define MAX_STATE_DEPTH 64      /* deeper elements share the deepest state */
#define NO_COLOR (-1)
#define WHITE 0xFFFFFF

struct walk_state {
    int hidden;                 /* display:none, visibility:hidden, size 0, fg == bg */
    int tiny;                   /* font size 1, font-size <= 3px */
    long fg;                    /* text colour, NO_COLOR if not set */
    long bg;                    /* background colour */
};

static void silent_generic(void *ctx, const char *msg, ...)
{
    (void) ctx;
    (void) msg;
}

static void silent_structured(void *ctx, xmlErrorPtr err)
{
    (void) ctx;
    (void) err;
}

void html_global_init(void)
{
    xmlInitParser();
    xmlSetGenericErrorFunc(NULL, silent_generic);
    xmlSetStructuredErrorFunc(NULL, silent_structured);
}

void html_global_shutdown(void)
{
    xmlCleanupParser();
}

/* The value of attribute name in a SAX attribute array (name, value, ...,
 * NULL); NULL if absent, "" if present without a value. */
static const char *attr(const xmlChar **attrs, const char *name)
{
    size_t i;

    if (attrs == NULL)
        return NULL;
    for (i = 0; attrs[i] != NULL; i += 2)
        if (strcmp((const char *) attrs[i], name) == 0)
            return attrs[i + 1] != NULL ? (const char *) attrs[i + 1] : "";
    return NULL;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "#fff", "#ffffff", "ffffff", "white", "rgb(...)" is not handled: NO_COLOR. */
static long parse_color(const char *s, size_t n)
{
    static const struct { const char *name; long rgb; } names[] = {
        { "white", 0xFFFFFF }, { "black", 0 }, { "red", 0xFF0000 }, { "yellow", 0xFFFF00 },
        { "blue", 0x0000FF }, { "green", 0x008000 }, { "silver", 0xC0C0C0 },
        { "gray", 0x808080 }, { "grey", 0x808080 }, { "snow", 0xFFFAFA },
        { "ivory", 0xFFFFF0 }, { "whitesmoke", 0xF5F5F5 }, { NULL, 0 }
    };
    size_t i;
    long v = 0;

    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n > 0 && *s == '#') {
        s++;
        n--;
    }
    if (n == 3 || n == 6) {
        for (i = 0; i < n && hexval((unsigned char) s[i]) >= 0; i++)
            v = v * (n == 3 ? 256 : 16) + hexval((unsigned char) s[i]) * (n == 3 ? 17 : 1);
        if (i == n)
            return v;
    }
    for (i = 0; names[i].name != NULL; i++)
        if (strlen(names[i].name) == n && g_ascii_strncasecmp(s, names[i].name, n) == 0)
            return names[i].rgb;
    return NO_COLOR;
}

static int near_color(long a, long b)
{
    int shift;

    for (shift = 0; shift < 24; shift += 8) {
        long d = ((a >> shift) & 0xFF) - ((b >> shift) & 0xFF);
        if (d > 24 || d < -24)
            return 0;
    }
    return 1;
}

/* A CSS length of at most 1px/1pt (or 0 in any unit) hides text; up to 3px is tiny. */
static void font_size_css(const char *v, size_t n, struct walk_state *st)
{
    char buf[32];
    double d;
    char *end;

    if (n >= sizeof(buf))
        return;
    memcpy(buf, v, n);
    buf[n] = '\0';
    d = g_ascii_strtod(buf, &end);
    if (end == buf)
        return;
    if (d <= 1.0)
        st->hidden = 1;
    else if (d <= 3.0 && (strncmp(end, "px", 2) == 0 || strncmp(end, "pt", 2) == 0))
        st->tiny = 1;
}

/* Apply an inline style="..." to st: only the properties that hide text. */
static void apply_style(const char *style, struct walk_state *st)
{
    const char *p = style, *colon, *semi, *v;
    size_t nlen, vlen;

    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ';')
            p++;
        semi = strchr(p, ';');
        if (semi == NULL)
            semi = p + strlen(p);
        colon = memchr(p, ':', (size_t) (semi - p));
        if (colon != NULL) {
            nlen = (size_t) (colon - p);
            while (nlen > 0 && (p[nlen - 1] == ' ' || p[nlen - 1] == '\t'))
                nlen--;
            v = colon + 1;
            while (v < semi && (*v == ' ' || *v == '\t'))
                v++;
            vlen = (size_t) (semi - v);
            while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            if (nlen == 7 && g_ascii_strncasecmp(p, "display", 7) == 0 &&
                vlen >= 4 && g_ascii_strncasecmp(v, "none", 4) == 0)
                st->hidden = 1;
            else if (nlen == 10 && g_ascii_strncasecmp(p, "visibility", 10) == 0 &&
                     vlen >= 6 && g_ascii_strncasecmp(v, "hidden", 6) == 0)
                st->hidden = 1;
            else if (nlen == 9 && g_ascii_strncasecmp(p, "font-size", 9) == 0)
                font_size_css(v, vlen, st);
            else if (nlen == 5 && g_ascii_strncasecmp(p, "color", 5) == 0)
                st->fg = parse_color(v, vlen);
            else if ((nlen == 16 && g_ascii_strncasecmp(p, "background-color", 16) == 0) ||
                     (nlen == 10 && g_ascii_strncasecmp(p, "background", 10) == 0)) {
                long c = parse_color(v, vlen);
                if (c != NO_COLOR)
                    st->bg = c;
            }
        }
        p = semi;
    }
}

/* Elements that end a run of text (words on either side must not merge). */
static int is_block(const char *n)
{
    switch (n[0]) {
    case 'a':
        return strcmp(n, "address") == 0;
    case 'b':
        return strcmp(n, "br") == 0 || strcmp(n, "body") == 0 || strcmp(n, "blockquote") == 0;
    case 'c':
        return strcmp(n, "center") == 0 || strcmp(n, "caption") == 0;
    case 'd':
        return strcmp(n, "div") == 0 || strcmp(n, "dd") == 0 || strcmp(n, "dt") == 0 ||
               strcmp(n, "dl") == 0;
    case 'f':
        return strcmp(n, "form") == 0;
    case 'h':
        return (n[1] >= '1' && n[1] <= '6' && n[2] == '\0') || strcmp(n, "hr") == 0;
    case 'l':
        return strcmp(n, "li") == 0;
    case 'o':
        return strcmp(n, "ol") == 0 || strcmp(n, "option") == 0;
    case 'p':
        return n[1] == '\0' || strcmp(n, "pre") == 0;
    case 't':
        return strcmp(n, "td") == 0 || strcmp(n, "tr") == 0 || strcmp(n, "th") == 0 ||
               strcmp(n, "table") == 0 || strcmp(n, "tbody") == 0;
    case 'u':
        return strcmp(n, "ul") == 0;
    default:
        return 0;
    }
}

struct walker {
    html_text_fn text;
    html_link_fn link;
    void *arg;
    struct html_info *info;
    struct walk_state st[MAX_STATE_DEPTH];
    size_t depth;           /* open elements */
    size_t skip;            /* > 0: inside a skipped element opened at depth skip */
};

static void report_link(struct walker *w, const char *url)
{
    if (url != NULL && *url != '\0' && w->link != NULL) {
        w->info->links++;
        w->link(w->arg, url, strlen(url));
    }
}

/* Element name with attributes n at parent state *in: fills *out for its
 * children.  Returns 1 to read the children, 0 to skip them. */
static int enter_element(struct walker *w, const char *name, const xmlChar **n,
                         const struct walk_state *in, struct walk_state *out)
{
    const char *v;

    if (out != in)
        *out = *in;
    if (name == NULL)
        return 1;
    switch (name[0]) {
    case 'a':
        if (strcmp(name, "a") == 0 || strcmp(name, "area") == 0)
            report_link(w, attr(n, "href"));
        else if (strcmp(name, "applet") == 0) {
            w->info->scripts++;
            return 0;
        }
        break;
    case 'e':
        if (strcmp(name, "embed") == 0) {
            w->info->scripts++;
            return 0;
        }
        break;
    case 'f':
        if (strcmp(name, "form") == 0) {
            w->info->forms++;
            report_link(w, attr(n, "action"));
        } else if (strcmp(name, "frame") == 0) {
            w->info->iframes++;
            report_link(w, attr(n, "src"));
        } else if (strcmp(name, "font") == 0) {
            if ((v = attr(n, "color")) != NULL)
                out->fg = parse_color(v, strlen(v));
            if ((v = attr(n, "size")) != NULL) {
                /* size="0" hides, size="1" and relative "-n" sizes are tiny */
                if (*v == '-' || atoi(v) == 1)
                    out->tiny = 1;
                else if (*v != '+' && atoi(v) <= 0 && *v >= '0' && *v <= '9')
                    out->hidden = 1;
            }
        }
        break;
    /* <head> is not skipped as a whole: its text lives in title, style and
     * script, skipped below, and a stray second <head> inside the body gets no
     * end tag in SAX mode, which would hide the rest of the document. */
    case 'i':
        if (strcmp(name, "img") == 0) {
            w->info->images++;
            report_link(w, attr(n, "src"));
        } else if (strcmp(name, "iframe") == 0) {
            w->info->iframes++;
            report_link(w, attr(n, "src"));
            return 0;
        }
        break;
    case 'n':
        if (strcmp(name, "noscript") == 0 || strcmp(name, "noframes") == 0)
            return 0;
        break;
    case 'o':
        if (strcmp(name, "object") == 0) {
            w->info->scripts++;
            return 0;
        }
        break;
    case 's':
        if (strcmp(name, "script") == 0) {
            w->info->scripts++;
            return 0;
        }
        if (strcmp(name, "style") == 0)
            return 0;
        break;
    case 't':
        if (strcmp(name, "title") == 0 || strcmp(name, "template") == 0)
            return 0;
        break;
    case 'x':
        if (strcmp(name, "xml") == 0)
            return 0;
        break;
    default:
        break;
    }
    if ((v = attr(n, "bgcolor")) != NULL) {
        long c = parse_color(v, strlen(v));
        if (c != NO_COLOR)
            out->bg = c;
    }
    if ((v = attr(n, "style")) != NULL)
        apply_style(v, out);
    if ((v = attr(n, "hidden")) != NULL)
        out->hidden = 1;
    return 1;
}

static struct walk_state *state_at(struct walker *w, size_t depth)
{
    return &w->st[depth < MAX_STATE_DEPTH ? depth : MAX_STATE_DEPTH - 1];
}

static void sax_start(void *ctx, const xmlChar *name, const xmlChar **attrs)
{
    struct walker *w = ctx;
    struct walk_state *in = state_at(w, w->depth), *out = state_at(w, w->depth + 1);
    int read;

    w->depth++;
    if (w->skip > 0 || name == NULL)
        return;
    read = enter_element(w, (const char *) name, attrs, in, out);
    if (is_block((const char *) name))
        w->text(w->arg, "\n", 1);
    if (!read)
        w->skip = w->depth;
}

static void sax_end(void *ctx, const xmlChar *name)
{
    struct walker *w = ctx;

    if (w->depth == 0)
        return;
    if (w->skip == w->depth)
        w->skip = 0;
    else if (w->skip == 0 && name != NULL && is_block((const char *) name))
        w->text(w->arg, "\n", 1);
    w->depth--;
}

static void sax_text(void *ctx, const xmlChar *ch, int len)
{
    struct walker *w = ctx;
    const struct walk_state *st = state_at(w, w->depth);
    const char *s = (const char *) ch;
    size_t n = len > 0 ? (size_t) len : 0, i;
    int blank = 1;

    if (w->skip > 0 || n == 0)
        return;
    for (i = 0; i < n && blank; i++)
        if (!(s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
            blank = 0;
    if (!blank && (st->hidden || (st->fg != NO_COLOR && near_color(st->fg, st->bg)))) {
        w->info->invisible += n;
        return;
    }
    if (!blank && st->tiny)
        w->info->tiny++;
    w->info->visible += n;
    w->text(w->arg, s, n);
}

static void sax_ignore(void *ctx, const xmlChar *ch, int len)
{
    (void) ctx;
    (void) ch;
    (void) len;
}

int html_extract(const char *html, size_t len, html_text_fn text, html_link_fn link,
                 void *arg, struct html_info *info)
{
    htmlSAXHandler sax;
    htmlParserCtxtPtr ctxt;
    struct walker *w;

    memset(info, 0, sizeof(*info));
    if (len > HTML_MAX_BYTES) {
        len = HTML_MAX_BYTES;
        info->truncated = 1;
    }
    if (len == 0)
        return -1;
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return -1;
    w->text = text;
    w->link = link;
    w->arg = arg;
    w->info = info;
    w->st[0].fg = NO_COLOR;
    w->st[0].bg = WHITE;
    memset(&sax, 0, sizeof(sax));
    sax.startElement = sax_start;
    sax.endElement = sax_end;
    sax.characters = sax_text;
    sax.ignorableWhitespace = sax_text;
    sax.cdataBlock = sax_ignore;        /* script and style bodies */
    /* The pull parser, as htmlReadMemory() uses, with our handlers: unlike the
     * push parser it keeps reading after the first </html> (mail often holds
     * two documents back to back). */
    ctxt = htmlCreateMemoryParserCtxt(html, (int) len);
    if (ctxt == NULL) {
        free(w);
        return -1;
    }
    memcpy(ctxt->sax, &sax, sizeof(sax));
    ctxt->userData = w;
    xmlSwitchEncoding(ctxt, XML_CHAR_ENCODING_UTF8);
    htmlCtxtUseOptions(ctxt, HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                       HTML_PARSE_NONET | HTML_PARSE_IGNORE_ENC);
    htmlParseDocument(ctxt);
    if (ctxt->myDoc != NULL)            /* not built with these handlers; defensive */
        xmlFreeDoc(ctxt->myDoc);
    htmlFreeParserCtxt(ctxt);
    free(w);
    return 0;
}
