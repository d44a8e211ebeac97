/*
 * tokenize.c - UTF-8 text to normalised word tokens (see tokenize.h).
 *
 * Tuned for mail bodies that are mostly ASCII: an ASCII word is lowercased into a
 * stack buffer and handed on without any allocation; only words holding other
 * characters go through g_utf8_normalize()/g_utf8_casefold(), which allocate.
 */
#include <string.h>

#include <glib.h>

#include "tokenize.h"

#define IS_ALNUM(c) (((c) >= '0' && (c) <= '9') || ((c) >= 'a' && (c) <= 'z') || \
                     ((c) >= 'A' && (c) <= 'Z'))
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define LOWER(c)    (((c) >= 'A' && (c) <= 'Z') ? (c) + 32 : (c))

/* Scripts written without spaces between words: tokenized as character bigrams. */
static int is_cjk(gunichar u)
{
    return (u >= 0x4E00 && u <= 0x9FFF) || (u >= 0x3400 && u <= 0x4DBF) ||
           (u >= 0xF900 && u <= 0xFAFF) || (u >= 0x3040 && u <= 0x30FF) ||
           (u >= 0xAC00 && u <= 0xD7AF);
}

/* Decode one character at s (n > 0 bytes left); *clen gets its length.
 * Returns (gunichar)-1 for an invalid or truncated sequence (*clen = 1). */
static gunichar next_char(const unsigned char *s, size_t n, size_t *clen)
{
    gunichar u;

    if (s[0] < 0x80) {
        *clen = 1;
        return s[0];
    }
    u = g_utf8_get_char_validated((const char *) s, (gssize) (n > 6 ? 6 : n));
    if (u == (gunichar) -1 || u == (gunichar) -2) {
        *clen = 1;
        return (gunichar) -1;
    }
    *clen = (size_t) g_utf8_skip[s[0]];
    return u;
}

/* Digits become 'N' in words made only of digits and punctuation, and in words
 * with three or more digits ("win2000" -> "winNNNN"); "mp3" and "y2k" stay. */
static void fold_digits(char *w, size_t len, size_t ndigits, size_t nalpha)
{
    size_t i;

    if (ndigits == 0 || (nalpha > 0 && ndigits < 3))
        return;
    for (i = 0; i < len; i++)
        if (IS_DIGIT(w[i]))
            w[i] = 'N';
}

/* Normalise and emit the word s[0..len). */
static void emit_word(const unsigned char *s, size_t len, size_t nchars, int ascii,
                      tokenize_fn fn, void *arg)
{
    char buf[TOKENIZE_MAX_BYTES];
    size_t i, ndigits = 0, nalpha = 0;

    if (nchars > TOKENIZE_MAX_CHARS) {
        fn(arg, TOKENIZE_LONG, (const char *) s, len);
        return;
    }
    if (nchars < TOKENIZE_MIN_CHARS)
        return;
    if (ascii) {
        for (i = 0; i < len; i++) {
            buf[i] = (char) LOWER(s[i]);
            if (IS_DIGIT(s[i]))
                ndigits++;
            else if (IS_ALNUM(s[i]))
                nalpha++;
        }
        fold_digits(buf, len, ndigits, nalpha);
        fn(arg, TOKENIZE_WORD, buf, len);
    } else {
        gchar *nfkc, *fold;
        size_t flen;

        nfkc = g_utf8_normalize((const gchar *) s, (gssize) len, G_NORMALIZE_NFKC);
        if (nfkc == NULL)
            return;
        fold = g_utf8_casefold(nfkc, -1);
        g_free(nfkc);
        flen = strlen(fold);
        if (flen > 0 && flen <= sizeof(buf)) {
            memcpy(buf, fold, flen);
            for (i = 0; i < flen; i++) {
                if (IS_DIGIT(buf[i]))
                    ndigits++;
                else
                    nalpha++;
            }
            fold_digits(buf, flen, ndigits, nalpha);
            fn(arg, TOKENIZE_WORD, buf, flen);
        }
        g_free(fold);
    }
}

/* Scan a word starting at s[0]; returns its length in bytes. */
static size_t scan_word(const unsigned char *s, size_t n, tokenize_fn fn, void *arg)
{
    size_t j = 0, nchars = 0, clen;
    int ascii = 1;
    gunichar u;

    while (j < n) {
        unsigned c = s[j];

        if (c < 0x80) {
            if (IS_ALNUM(c) || (c == '$' && j == 0)) {
                j++;
                nchars++;
                continue;
            }
            /* ' - . _ only between word characters: "don't", "e-mail", "v1.2" */
            if ((c == '\'' || c == '-' || c == '.' || c == '_') && j > 0 && j + 1 < n &&
                (IS_ALNUM(s[j + 1]) || s[j + 1] >= 0x80)) {
                j++;
                nchars++;
                continue;
            }
            break;
        }
        u = next_char(s + j, n - j, &clen);
        if (u == (gunichar) -1 || is_cjk(u) ||
            !(g_unichar_isalnum(u) || g_unichar_ismark(u)))
            break;
        ascii = 0;
        j += clen;
        nchars++;
    }
    /* a word may not end in internal punctuation ("e-" before a non-letter) */
    while (j > 0 && (s[j - 1] == '.' || s[j - 1] == '-' || s[j - 1] == '\'' || s[j - 1] == '_')) {
        j--;
        nchars--;
    }
    if (j == 0)
        return 1;
    emit_word(s, j, nchars, ascii, fn, arg);
    return j;
}

/* A run of CJK characters: emitted as overlapping bigrams (a lone one as itself). */
static size_t scan_cjk(const unsigned char *s, size_t n, tokenize_fn fn, void *arg)
{
    size_t j = 0, prev = 0, prevlen = 0, clen;
    gunichar u;

    while (j < n) {
        u = next_char(s + j, n - j, &clen);
        if (u == (gunichar) -1 || !is_cjk(u))
            break;
        if (prevlen > 0)
            fn(arg, TOKENIZE_WORD, (const char *) s + prev, prevlen + clen);
        prev = j;
        prevlen = clen;
        j += clen;
    }
    if (j == prevlen)           /* a single character */
        fn(arg, TOKENIZE_WORD, (const char *) s, j);
    return j;
}

/* Length of the URL starting at s, or 0 if s does not start one. */
static size_t url_len(const unsigned char *s, size_t n)
{
    size_t j;

    if (n >= 8 && g_ascii_strncasecmp((const char *) s, "https://", 8) == 0)
        j = 8;
    else if (n >= 7 && g_ascii_strncasecmp((const char *) s, "http://", 7) == 0)
        j = 7;
    else if (n >= 5 && g_ascii_strncasecmp((const char *) s, "www.", 4) == 0 && IS_ALNUM(s[4]))
        j = 4;
    else
        return 0;
    while (j < n && s[j] > ' ' && s[j] != 0x7f && !strchr("<>\"'`{}|\\^[]", s[j]))
        j++;
    while (j > 0 && strchr(".,;:!?)*", s[j - 1]))
        j--;
    return j;
}

void tokenize_text(const char *text, size_t len, tokenize_fn fn, void *arg)
{
    const unsigned char *s = (const unsigned char *) text;
    size_t i = 0, clen, k;
    gunichar u;

    while (i < len) {
        unsigned c = s[i];

        if (c < 0x80) {
            if (!IS_ALNUM(c) && c != '$') {
                i++;
                continue;
            }
            if ((c == 'h' || c == 'H' || c == 'w' || c == 'W') &&
                (k = url_len(s + i, len - i)) > 0) {
                fn(arg, TOKENIZE_URL, (const char *) s + i, k);
                i += k;
                continue;
            }
            i += scan_word(s + i, len - i, fn, arg);
            continue;
        }
        u = next_char(s + i, len - i, &clen);
        if (u == (gunichar) -1)
            i++;
        else if (is_cjk(u))
            i += scan_cjk(s + i, len - i, fn, arg);
        else if (g_unichar_isalnum(u))
            i += scan_word(s + i, len - i, fn, arg);
        else
            i += clen;
    }
}

size_t tokenize_url_host(const char *url, size_t len, char *out, size_t outsz)
{
    size_t i = 0, start, end, at, j, n;

    while (i < len && (url[i] == ' ' || url[i] == '\t' || url[i] == '\n' || url[i] == '\r'))
        i++;
    if (len - i >= 2 && url[i] == '/' && url[i + 1] == '/') {
        start = i + 2;
    } else if (len - i >= 4 && g_ascii_strncasecmp(url + i, "www.", 4) == 0) {
        start = i;
    } else {
        /* scheme "://", letters only, within the first 16 bytes */
        for (j = i; j < len && j < i + 16 && g_ascii_isalpha(url[j]); j++)
            ;
        if (j == i || len - j < 3 || memcmp(url + j, "://", 3) != 0)
            return 0;
        start = j + 3;
    }
    for (end = start; end < len && !strchr("/?#\\ \t\r\n\"'<>", url[end]); end++)
        ;
    /* user@host: the host is what follows the last '@' */
    for (at = end; at > start && url[at - 1] != '@'; at--)
        ;
    if (at > start)
        start = at;
    for (j = start; j < end && url[j] != ':'; j++)
        ;
    end = j;
    while (end > start && url[end - 1] == '.')
        end--;
    n = end - start;
    if (n == 0 || n >= outsz)
        return 0;
    for (j = 0; j < n; j++) {
        unsigned char c = (unsigned char) url[start + j];

        if (!(IS_ALNUM(c) || c == '-' || c == '.' || c == '_' || c >= 0x80))
            return 0;
        out[j] = (char) LOWER(c);
    }
    out[n] = '\0';
    return n;
}

int tokenize_is_ipv4(const char *host, size_t len)
{
    size_t i, dots = 0, digits = 0;

    for (i = 0; i < len; i++) {
        if (IS_DIGIT(host[i])) {
            if (++digits > 3)
                return 0;
        } else if (host[i] == '.' && digits > 0) {
            dots++;
            digits = 0;
        } else {
            return 0;
        }
    }
    return dots == 3 && digits > 0;
}

/* Second-level labels that country codes delegate as public suffixes. */
static const char *const generic_sld[] = {
    "co", "com", "net", "org", "gov", "edu", "ac", "ne", "or", "go", "gob", "mil",
    "ltd", "plc", "nom", "sch", "gen", "biz", "info", "nic", NULL
};

const char *tokenize_registered_domain(const char *host, size_t len, size_t *dlen)
{
    size_t dot1, dot2, dot3;
    const char *const *g;

    *dlen = len;
    if (tokenize_is_ipv4(host, len))
        return host;
    for (dot1 = len; dot1 > 0 && host[dot1 - 1] != '.'; dot1--)
        ;
    if (dot1 == 0)
        return host;                    /* one label */
    for (dot2 = dot1 - 1; dot2 > 0 && host[dot2 - 1] != '.'; dot2--)
        ;
    if (dot2 == 0)
        return host;                    /* already two labels */
    if (len - dot1 == 2) {              /* country code: maybe co.uk, com.au, ... */
        size_t sld = dot1 - 1 - dot2;

        for (g = generic_sld; *g != NULL; g++) {
            if (strlen(*g) == sld && memcmp(host + dot2, *g, sld) == 0) {
                for (dot3 = dot2 - 1; dot3 > 0 && host[dot3 - 1] != '.'; dot3--)
                    ;
                *dlen = len - dot3;
                return host + dot3;
            }
        }
    }
    *dlen = len - dot2;
    return host + dot2;
}
