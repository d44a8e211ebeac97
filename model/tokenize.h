/*
 * tokenize.h - UTF-8 text to normalised word tokens, URLs found in plain text,
 * and the small host/domain helpers the feature extractor needs.
 *
 * Words are runs of letters and digits (with internal ' - . _ kept), normalised
 * with Unicode NFKC + casefold; ASCII words, the common case, are lowercased in
 * place without allocating.  Digit-heavy words are folded to a shape ("$19.95" ->
 * "$NN.NN") so that prices, dates and ids do not each make a new feature.  Han,
 * kana and Hangul runs, written without spaces, become character bigrams.
 * Knows nothing of MIME, HTML or hashing.  Reentrant; no global state.
 */
#ifndef SPAMSHIFT_TOKENIZE_H
#define SPAMSHIFT_TOKENIZE_H

#include <stddef.h>

#define TOKENIZE_MIN_CHARS 2    /* shorter words are dropped */
#define TOKENIZE_MAX_CHARS 40   /* longer words are dropped, reported as TOKENIZE_LONG */
#define TOKENIZE_MAX_BYTES 192  /* largest normalised word handed to the callback */

enum tokenize_kind {
    TOKENIZE_WORD,      /* a normalised word, 2..40 characters */
    TOKENIZE_URL,       /* a URL as written in the text (http://, https://, www.) */
    TOKENIZE_LONG       /* a word over TOKENIZE_MAX_CHARS; text is the raw word */
};

/* Receives each token; tok is not NUL-terminated and valid only during the call. */
typedef void (*tokenize_fn)(void *arg, enum tokenize_kind kind, const char *tok, size_t len);

/*
 * Split len bytes of text into tokens, in order.  Invalid UTF-8 and control
 * characters separate words; the function never fails and never allocates for
 * ASCII words.
 */
void tokenize_text(const char *text, size_t len, tokenize_fn fn, void *arg);

/*
 * Find the host of a URL ("http://user@Host.Example:80/x", "//host/x",
 * "www.host.com/x").  Writes the lowercased host, without a trailing dot, into
 * out (outsz bytes) and returns its length, or 0 if the URL has no usable host
 * (relative link, mailto:, javascript:, ...).  Hosts longer than outsz - 1 are 0.
 */
size_t tokenize_url_host(const char *url, size_t len, char *out, size_t outsz);

/*
 * The registered domain of a lowercased host, by a small built-in heuristic:
 * the last two labels, or three when the second-level label is a generic one
 * under a country code (co.uk, com.au, ne.jp, ...).  Returns a pointer into host
 * and sets *dlen; a numeric IPv4 host is returned whole.  Never fails.
 */
const char *tokenize_registered_domain(const char *host, size_t len, size_t *dlen);

/* Nonzero if host (len bytes) is a dotted-quad IPv4 address. */
int tokenize_is_ipv4(const char *host, size_t len);

#endif
