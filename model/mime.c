/*
 * mime.c - the GMime walk over one message (see mime.h).
 *
 * The input is copied once into a buffer that GMime's memory stream then owns:
 * the copy is where CRLF becomes LF (so the milter's CRLF bytes and a file's LF
 * bytes give the same parts), NUL bytes become spaces and the mbox From_ line is
 * dropped.  The parser persists the stream, so part contents are not copied again.
 * GMime's parser recurses once per nesting level; the copy is also where an input
 * declaring more than MIME_MAX_CONTAINERS multiparts is cut short, which bounds
 * that recursion whatever the attacker nests, and where header blocks longer
 * than MIME_MAX_HEADER_LINES or MIME_MAX_HEADER_BYTES lose their tail and
 * inputs with more than MIME_MAX_BOUNDARIES parts are cut (1.5 million header
 * lines took GMime 12 s and 780 MB, 200,000 parts 9 s and 400 MB).
 */
#include <string.h>

#include <gmime/gmime.h>

#include "features.h"
#include "mime.h"

static GMimeParserOptions *parser_options;   /* read-only after mime_global_init() */

int mime_global_init(void)
{
    static const char *fallback[] = { "UTF-8", "windows-1252", NULL };

    g_mime_init();
    parser_options = g_mime_parser_options_new();
    if (parser_options == NULL)
        return -1;
    g_mime_parser_options_set_rfc2047_compliance_mode(parser_options,
                                                      GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(parser_options,
                                                        GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_address_compliance_mode(parser_options,
                                                      GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_fallback_charsets(parser_options, fallback);
    return 0;
}

void mime_global_shutdown(void)
{
    if (parser_options != NULL) {
        g_mime_parser_options_free(parser_options);
        parser_options = NULL;
    }
    g_mime_shutdown();
}

/* windows-1252 0x80..0x9F; the five undefined bytes map to U+FFFD. */
static const gunichar cp1252_high[32] = {
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
    0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD,
    0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
    0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178
};

/* Read bytes as windows-1252 (never fails). */
static char *cp1252_to_utf8(const char *s, size_t len, size_t *outlen)
{
    char *out = g_malloc(len * 3 + 1), *o = out;
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c < 0x80)
            *o++ = (char) c;
        else
            o += g_unichar_to_utf8(c < 0xA0 ? cp1252_high[c - 0x80] : c, o);
    }
    *o = '\0';
    *outlen = (size_t) (o - out);
    return out;
}

/* "media/sub", lowercased, cut to size bytes. */
static void make_type(char *out, size_t size, const char *media, const char *sub)
{
    size_t n = 0;

    for (; *media != '\0' && n + 2 < size; media++)
        out[n++] = g_ascii_tolower(*media);
    out[n++] = '/';
    for (; *sub != '\0' && n + 1 < size; sub++)
        out[n++] = g_ascii_tolower(*sub);
    out[n] = '\0';
}

static int is_ascii(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++)
        if ((unsigned char) s[i] >= 0x80)
            return 0;
    return 1;
}

char *mime_to_utf8(const char *s, size_t len, const char *charset, size_t *outlen,
                   uint32_t *flags)
{
    const char *iconv_name;
    char *out;
    gsize written = 0;

    if (is_ascii(s, len)) {
        *outlen = len;
        return g_strndup(s, len);
    }
    iconv_name = charset != NULL ? g_mime_charset_iconv_name(charset) : NULL;
    if (iconv_name == NULL || g_ascii_strcasecmp(iconv_name, "UTF-8") == 0 ||
        g_ascii_strcasecmp(iconv_name, "US-ASCII") == 0) {
        if (g_utf8_validate(s, (gssize) len, NULL)) {
            *outlen = len;
            return g_strndup(s, len);
        }
    } else {
        out = g_convert(s, (gssize) len, "UTF-8", iconv_name, NULL, &written, NULL);
        if (out != NULL) {
            *outlen = written;
            return out;
        }
        if (g_utf8_validate(s, (gssize) len, NULL)) {
            *flags |= FEATURES_F_CHARSET;
            *outlen = len;
            return g_strndup(s, len);
        }
    }
    /* 8-bit text that is not UTF-8 under no or a useless charset label */
    *flags |= FEATURES_F_CHARSET;
    return cp1252_to_utf8(s, len, outlen);
}

/* Per-walk state. */
struct walk {
    const struct mime_sink *sink;
    void *arg;
    size_t budget;          /* text bytes left */
    uint32_t flags;
};

/* Nonzero if charset (NULL: undeclared) says the bytes may be taken as UTF-8. */
static int text_is_utf8(const char *charset)
{
    return charset == NULL || g_ascii_strcasecmp(charset, "utf-8") == 0 ||
           g_ascii_strcasecmp(charset, "utf8") == 0 || g_ascii_strcasecmp(charset, "us-ascii") == 0;
}

static void report_text(struct walk *w, char *s, size_t len, const char *charset,
                        int html)
{
    char *utf8, *p;
    size_t n;

    if (w->budget == 0) {
        w->flags |= FEATURES_F_TRUNCATED;
        return;
    }
    if (len > w->budget) {
        len = w->budget;
        w->flags |= FEATURES_F_TRUNCATED;
    }
    w->budget -= len;
    /* s is the walk's own decode buffer: NUL bytes are blanked in place */
    for (p = memchr(s, '\0', len); p != NULL; p = memchr(p, '\0', len - (size_t) (p - s)))
        *p = ' ';
    if (is_ascii(s, len) || (text_is_utf8(charset) && g_utf8_validate(s, (gssize) len, NULL))) {
        w->sink->text(w->arg, s, len, html);        /* the common case: no copy */
        return;
    }
    utf8 = mime_to_utf8(s, len, charset, &n, &w->flags);
    w->sink->text(w->arg, utf8, n, html);
    g_free(utf8);
}

static void walk_leaf(struct walk *w, GMimePart *part, unsigned depth)
{
    GMimeContentType *ct = g_mime_object_get_content_type(GMIME_OBJECT(part));
    GMimeContentDisposition *cd = g_mime_object_get_content_disposition(GMIME_OBJECT(part));
    GMimeDataWrapper *content = g_mime_part_get_content(part);
    struct mime_part_info info;
    char type[128];
    const char *media = ct ? g_mime_content_type_get_media_type(ct) : NULL;
    const char *sub = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
    GMimeStream *enc;

    make_type(type, sizeof(type), media ? media : "text", sub ? sub : "plain");
    memset(&info, 0, sizeof(info));
    info.type = type;
    info.charset = ct ? g_mime_content_type_get_parameter(ct, "charset") : NULL;
    info.filename = g_mime_part_get_filename(part);
    info.depth = depth;
    if (content != NULL && (enc = g_mime_data_wrapper_get_stream(content)) != NULL) {
        gint64 n = g_mime_stream_length(enc);
        info.size = n > 0 ? (size_t) n : 0;
    }
    info.attachment = strncmp(type, "text/", 5) != 0 ||
        (cd != NULL && g_mime_content_disposition_is_attachment(cd) && info.filename != NULL);
    w->sink->part(w->arg, &info);
    if (info.attachment || content == NULL)
        return;
    if (w->budget == 0) {
        w->flags |= FEATURES_F_TRUNCATED;
        return;
    } else {
        GMimeStream *mem = g_mime_stream_mem_new();
        GByteArray *ba;

        g_mime_data_wrapper_write_to_stream(content, mem);
        ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
        if (ba != NULL && ba->len > 0)
            report_text(w, (char *) ba->data, ba->len, info.charset,
                        strcmp(type, "text/html") == 0);
        g_object_unref(mem);
    }
}

static void walk_object(struct walk *w, GMimeObject *obj, unsigned depth)
{
    struct mime_part_info info;
    char type[128];
    GMimeContentType *ct;
    const char *media, *sub;

    if (obj == NULL)
        return;
    if (depth > MIME_MAX_DEPTH) {
        w->flags |= FEATURES_F_DEEP;
        return;
    }
    if (GMIME_IS_PART(obj)) {
        walk_leaf(w, GMIME_PART(obj), depth);
        return;
    }
    ct = g_mime_object_get_content_type(obj);
    media = ct ? g_mime_content_type_get_media_type(ct) : NULL;
    sub = ct ? g_mime_content_type_get_media_subtype(ct) : NULL;
    make_type(type, sizeof(type), media ? media : "multipart", sub ? sub : "mixed");
    memset(&info, 0, sizeof(info));
    info.type = type;
    info.depth = depth;
    info.container = 1;
    w->sink->part(w->arg, &info);
    if (GMIME_IS_MULTIPART(obj)) {
        GMimeMultipart *mp = GMIME_MULTIPART(obj);
        int i, n = g_mime_multipart_get_count(mp);

        for (i = 0; i < n; i++)
            walk_object(w, g_mime_multipart_get_part(mp, i), depth + 1);
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));

        if (inner != NULL)
            walk_object(w, g_mime_message_get_mime_part(inner), depth + 1);
    }
}

static void report_addresses(struct walk *w, InternetAddressList *list, enum mime_field f,
                             int level)
{
    int i, n;

    if (list == NULL || level > 2)
        return;
    n = internet_address_list_length(list);
    for (i = 0; i < n; i++) {
        InternetAddress *a = internet_address_list_get_address(list, i);
        const char *name = internet_address_get_name(a);

        if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
            const char *addr = internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a));
            w->sink->address(w->arg, f, name ? name : "", addr ? addr : "");
        } else if (INTERNET_ADDRESS_IS_GROUP(a)) {
            report_addresses(w, internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)),
                             f, level + 1);
        }
    }
}

static int ci_prefix(const char *s, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);

    return n >= k && g_ascii_strncasecmp(s, prefix, k) == 0;
}

int mime_header_line(const char *s, size_t n)
{
    size_t i;

    if (n > 0 && (s[0] == ' ' || s[0] == '\t'))
        return 1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char) s[i];

        if (c == ':')
            return i > 0;
        if (c <= ' ' || c >= 0x7f)
            return 0;
    }
    return 0;
}

/*
 * Copy the message for GMime (see the file comment).  Returns the g_malloc'd copy
 * and its length; or's FEATURES_F_DEEP into *flags if it was cut short.
 */
static char *prepare(const char *buf, size_t len, size_t *outlen, uint32_t *flags)
{
    const char *s = buf, *end = buf + len, *nl;
    char *out, *o;
    unsigned containers = 0, hdr_lines = 0, boundaries = 0;
    size_t hdr_bytes = 0;
    int in_headers = 1, in_part_headers = 0;

    if (len >= 5 && memcmp(buf, "From ", 5) == 0) {
        nl = memchr(buf, '\n', len);
        s = nl != NULL ? nl + 1 : end;
    }
    out = g_malloc((size_t) (end - s) + 2);
    o = out;
    while (s < end) {
        size_t n;

        nl = memchr(s, '\n', (size_t) (end - s));
        n = nl != NULL ? (size_t) (nl - s) + 1 : (size_t) (end - s);
        if (in_headers || in_part_headers) {
            if (s[0] == '\n' || (s[0] == '\r' && n >= 2 && s[1] == '\n')) {
                in_headers = in_part_headers = 0;
            } else if (!mime_header_line(s, n)) {
                /* Mail without the blank line after its headers (the Enron corpus
                 * puts the body right under "Subject:"): the body starts here. */
                if (in_headers)
                    *o++ = '\n';
                in_headers = in_part_headers = 0;
            } else if (++hdr_lines > MIME_MAX_HEADER_LINES ||
                       hdr_bytes >= MIME_MAX_HEADER_BYTES) {
                *flags |= FEATURES_F_TRUNCATED;
                s += n;             /* dropped, up to the blank line */
                continue;
            } else if ((hdr_bytes += n) > MIME_MAX_HEADER_BYTES) {
                /* an over-long header line: keep its start */
                size_t keep = n - (hdr_bytes - MIME_MAX_HEADER_BYTES);

                *flags |= FEATURES_F_TRUNCATED;
                memcpy(o, s, keep);
                o += keep;
                *o++ = '\n';
                s += n;
                continue;
            }
        } else if (n >= 3 && s[0] == '-' && s[1] == '-' && s[2] > ' ') {
            if (++boundaries > MIME_MAX_BOUNDARIES) {
                *flags |= FEATURES_F_TRUNCATED;
                break;
            }
            in_part_headers = 1;    /* maybe a boundary: part headers follow */
            hdr_lines = 0;
            hdr_bytes = 0;
        }
        if ((*s == 'c' || *s == 'C') && ci_prefix(s, n, "content-type:")) {
            size_t look = n < 96 ? n : 96;
            /* the value may be folded onto the next line */
            if (look < 40 && nl != NULL && (size_t) (end - s) > n)
                look = (size_t) (end - s) < 96 ? (size_t) (end - s) : 96;
            if (g_strstr_len(s, (gssize) look, "ultipart") != NULL ||
                g_strstr_len(s, (gssize) look, "ULTIPART") != NULL ||
                g_strstr_len(s, (gssize) look, "rfc822") != NULL ||
                g_strstr_len(s, (gssize) look, "RFC822") != NULL) {
                if (++containers > MIME_MAX_CONTAINERS) {
                    *flags |= FEATURES_F_DEEP;
                    break;
                }
            }
        }
        memcpy(o, s, n);
        o += n;
        if (n >= 2 && o[-1] == '\n' && o[-2] == '\r') {
            o[-2] = '\n';
            o--;
        }
        s += n;
    }
    *outlen = (size_t) (o - out);
    for (o = memchr(out, '\0', *outlen); o != NULL;
         o = memchr(o, '\0', *outlen - (size_t) (o - out)))
        *o = ' ';
    out[*outlen] = '\0';
    return out;
}

uint32_t mime_walk(const char *buf, size_t len, size_t text_budget,
                   const struct mime_sink *sink, void *arg)
{
    struct walk w = { sink, arg, text_budget, 0 };
    GMimeStream *stream;
    GMimeParser *parser;
    GMimeMessage *msg;
    GMimeHeaderList *hl;
    char *copy;
    size_t n;
    int i, count;

    copy = prepare(buf, len, &n, &w.flags);
    stream = g_mime_stream_mem_new_with_byte_array(g_byte_array_new_take((guint8 *) copy, n));
    parser = g_mime_parser_new_with_stream(stream);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    g_mime_parser_set_persist_stream(parser, TRUE);
    msg = g_mime_parser_construct_message(parser, parser_options);
    g_object_unref(parser);
    if (msg == NULL) {
        w.flags |= FEATURES_F_MIME_ERROR;
        g_mime_stream_reset(stream);
        {
            GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));
            if (ba->len > 0)
                report_text(&w, (char *) ba->data, ba->len, NULL, 0);
        }
        g_object_unref(stream);
        return w.flags;
    }
    hl = g_mime_object_get_header_list(GMIME_OBJECT(msg));
    count = hl != NULL ? g_mime_header_list_get_count(hl) : 0;
    for (i = 0; i < count; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
        const char *name = g_mime_header_get_name(h), *value = NULL;

        if (name == NULL)
            continue;
        switch (sink->want_value != NULL ? sink->want_value(arg, name) : MIME_VALUE_DECODED) {
        case MIME_VALUE_DECODED:
            value = g_mime_header_get_value(h);     /* decoded here, on demand */
            break;
        case MIME_VALUE_RAW:
            value = g_mime_header_get_raw_value(h);
            break;
        default:
            break;
        }
        if (value == NULL && sink->want_value != NULL && sink->want_value(arg, name))
            value = "";
        sink->header(arg, name, value);
    }
    report_addresses(&w, g_mime_message_get_from(msg), MIME_FROM, 0);
    report_addresses(&w, g_mime_message_get_reply_to(msg), MIME_REPLY_TO, 0);
    report_addresses(&w, g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_TO), MIME_TO, 0);
    report_addresses(&w, g_mime_message_get_addresses(msg, GMIME_ADDRESS_TYPE_CC), MIME_CC, 0);
    walk_object(&w, g_mime_message_get_mime_part(msg), 0);
    g_object_unref(msg);
    g_object_unref(stream);
    return w.flags;
}
