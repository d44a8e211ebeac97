/*
 * fx.h - the state of one feature extraction and the functions that add token
 * texts to its bag.  Internal to model/: features.c (the driver and the body
 * rules), header_rules.c (the header rules) and fx.c share it.
 */
#ifndef SPAMSHIFT_FX_H
#define SPAMSHIFT_FX_H

#include <stddef.h>
#include <stdint.h>

#include "features.h"
#include "tokenize.h"

#define TEXT_BUDGET   (512u << 10)  /* bytes of decoded text tokenized per message */
#define MAX_TOKENS    (1u << 16)    /* token occurrences per message ... */
#define META_RESERVE  256           /* ... plus these, kept for the closing meta tokens */
#define HEADER_TEXT   4096          /* bytes of one header value tokenized */
/*
 * OSB pairs ("osb:a _ b", window 5) are off: measured with spamshift train and
 * classify (2026-11-27, commit 5d0319d), they made the model worse on both
 * shifted splits, since the 1.5 million pair features learn the training year's
 * phrasing:
 *   SpamAssassin, trained on the older groups, tested on the newer:
 *     (1-AUC)% 0.074 without pairs, 0.184 with bigrams only, 0.759 with OSB-5
 *   Enron, trained on enron1-3, tested on enron4-6:
 *     (1-AUC)% 0.105 without pairs, 0.749 with OSB-5 (bogofilter: 0.445)
 * Build with -DOSB_ENABLED=1 (and -DOSB_WINDOW=n) to measure them again.
 */
#ifndef OSB_ENABLED
#define OSB_ENABLED   0
#endif
#ifndef OSB_WINDOW
#define OSB_WINDOW    5             /* a word is paired with the 4 words before it */
#endif
#define TOKEN_MAX     512           /* longest prefixed token text; longer is cut */

/* State of one extraction. */
struct fx {
    struct features *out;
    features_token_fn tok;
    void *tok_arg;
    uint32_t flags;
    size_t ntokens;
    size_t limit;           /* ntokens allowed: MAX_TOKENS, then + META_RESERVE */
    int oom;

    /* word mode for the tokenizer callback */
    const char *prefix;     /* "" for body words, "subj:", "from:name:", "mailer:" */
    int osb;                /* body words: also OSB pairs */
    char ring[OSB_WINDOW - 1][TOKENIZE_MAX_BYTES];
    size_t ringlen[OSB_WINDOW - 1];
    unsigned nring, ringpos;
    size_t nwords;          /* words in the current tokenize_text() call */

    /* visible text of the current HTML part */
    char *hbuf;
    size_t hlen, hcap;

    /* what the headers and parts told */
    unsigned to, cc, from, hops, parts, plain, html, attach, subject, mailer, msgid;
    size_t body_words, html_invisible, html_visible, html_bytes;
    unsigned html_images, html_links, html_tiny;
    char *last_received;    /* the earliest (bottom-most) Received value */
    char from_dom[256];     /* registered domain of From, lowercased */
    char reply_dom[256];
    char msgid_dom[256];    /* registered domain of the Message-ID, "" if none */
};

/* The id of one prefixed token: the low 32 bits of its XXH3-64 (features_hash()
 * is this function for the callers outside model/).  Cannot fail. */
uint32_t fx_hash(const char *token, size_t len);

/* Add the token text s[0..len): hashed, shown to the explain callback, appended
 * to the bag.  Past the token budget only FEATURES_F_TRUNCATED is set; on
 * allocation failure x->oom is set and every later call does nothing. */
void fx_emit(struct fx *x, const char *s, size_t len);

/* fx_emit() of prefix + s[0..len), cut to TOKEN_MAX bytes. */
void fx_emit2(struct fx *x, const char *prefix, const char *s, size_t len);

/* fx_emit2() of a NUL-terminated s. */
void fx_emits(struct fx *x, const char *prefix, const char *s);

/* prefix + a small bucket of n: exact up to 4, then powers of two ("8+", "16+"). */
void fx_emit_count(struct fx *x, const char *prefix, size_t n);

/* The features of one URL: "url:" host (or "ip", "mailto") and "url:dom:". */
void fx_emit_url(struct fx *x, const char *url, size_t len);

/* Tokenize s[0..len) as words with the given prefix ("" for body text), URLs as
 * URL features, with OSB pairs when osb (and OSB_ENABLED).  Returns the number of
 * words. */
size_t fx_words(struct fx *x, const char *prefix, int osb, const char *s, size_t len);

#endif
