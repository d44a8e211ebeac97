/*
 * online.h - TREC-style online learning for one user, shared by `spamshift eval
 * --online` and contrib/trec: score a message, then learn its true label.
 *
 * Learning goes where the milter's users' learning goes: the message's feature
 * ids become the user's feedback in the store, and the user's model (head and
 * residual) is refitted every refit_every messages (eval over its temporary
 * store keeps them in memory instead when nothing reads the store back:
 * store_feedback).  With no fixed base model
 * the filter starts from nothing (every score 0.5) and retrains its own base
 * from all feedback in the store at growing intervals (retrain_first messages,
 * then each time retrain_growth times as many; default 50 and 1.1), the way a site without a corpus
 * bootstraps with `spamshift train --from-db`.  An own base kept in memory
 * (eval) also takes one small step on its linear weights after each message it
 * did not get right by a margin (step_lr; measured on the SpamAssassin corpus in
 * Date order: (1-AUC)% 0.72 without, 0.26 with rate 0.1).  The count of learned messages is
 * kept in the store (counter "online_learned"), so the schedule survives
 * between processes (contrib/trec runs one process per message).
 *
 * Not thread-safe: one struct online per thread, on its own store connection.
 */
#ifndef SPAMSHIFT_ONLINE_H
#define SPAMSHIFT_ONLINE_H

#include <stddef.h>
#include <stdint.h>

#include "adapt.h"
#include "model.h"
#include "store.h"

struct online_opts {
    unsigned refit_every;       /* refit the user every this many messages; 0 never */
    uint64_t retrain_first;     /* own base: first retrain after this many */
    double retrain_growth;      /* own base: next retrain at growth times the last */
    uint64_t seed;              /* base training seed */
    int save_base;              /* own base: write it to own_base_path after each
                                 * retrain (a later process loads it); else it
                                 * lives in memory under a name of its own */
    float step_lr;              /* own base in memory: after each message not
                                 * already right by step_margin, one AdaGrad
                                 * step of this rate on its linear weights
                                 * (0: off; default off) */
    float step_margin;          /* default 0.25 */
    int store_feedback;         /* write each learned message to the store as the
                                 * user's feedback (default 1).  0: an own base
                                 * kept in memory (below: mem) keeps it there
                                 * only (eval over its temporary store: the
                                 * store's per-user quota check made the writes
                                 * 40% of eval --online's time); taken as 1
                                 * wherever the store is read back (refits, a
                                 * saved own base) */
};

void online_opts_default(struct online_opts *o);

struct online {
    struct store *s;            /* borrowed */
    char *user;
    char *base_path;            /* own base: where it is written; else NULL */
    struct model *base;         /* NULL until an own base is first trained */
    struct model *rw;           /* saved own base with steps: a writable copy
                                 * with the steps replayed (scored instead) */
    char *steps_path;           /* saved own base with steps: base_path.steps */
    struct _GHashTable *mem;    /* own base in memory over a store that held no
                                 * feedback: what was learned, by digest */
    struct user_model *um;      /* the user's published model, or NULL */
    struct adapt_opts ao;
    struct online_opts o;
    uint64_t n_learned, next_retrain, since_refit;
    int in_txn;
    /* what it cost */
    unsigned n_retrains, n_refits;
    uint64_t n_steps;           /* online steps taken (step_lr) */
    double retrain_s, refit_s;
};

/*
 * Start learning for user on store s.  With fixed_base set, score with that
 * model and never retrain it; otherwise own_base_path names the file the own
 * base is retrained into (and loaded from when it exists: a later process).
 * Returns 0, or -1 with a reason in err (nothing to free then).
 */
int online_open(struct online *ol, struct store *s, const char *user,
                const char *fixed_base, const char *own_base_path,
                const struct online_opts *o, char *err, size_t errlen);

/* Spam probability of a message for the user now (0.5 while there is no base). */
float online_score(struct online *ol, const uint32_t *ids, size_t n);

/* Learn the message's true label (spam 1 / ham 0), and refit or retrain when
 * due.  Writes are batched in one transaction until the next refit, retrain or
 * online_flush().  Returns 0, or -1 with a reason in err. */
int online_learn(struct online *ol, const uint8_t digest[STORE_DIGEST_LEN],
                 const uint32_t *ids, size_t n, int spam, char *err, size_t errlen);

/* Commit what is batched.  Returns 0, or -1 with a reason in err. */
int online_flush(struct online *ol, char *err, size_t errlen);

/* Flush (errors ignored: call online_flush() first to see them) and free. */
void online_close(struct online *ol);

#endif
