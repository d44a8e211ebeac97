/*
 * sendermem.h - a user's sender memory (internal): what a few labels of one
 * sender or campaign teach about that sender's other mail.
 *
 * The memory is a weight on the memory slot (score.h adapt_memory_slot) of
 * each feature id that marks the taught messages' sender or campaign: an id
 * in at least SENDERMEM_MIN_TAUGHT taught messages of one label and in none
 * of the other label, whose holders are alike (SENDERMEM_COHESION: they share
 * most of their marking ids), in at most SENDERMEM_DF_MAX of the user's observed mail
 * (the reservoir), and specific to the taught messages there (the reservoir
 * messages holding it mostly hold half of a taught message's marking ids as
 * well).  For a mailing list or a newsletter those ids are the From address,
 * domain and display name, the first relay, the list and mailer headers, the
 * Subject words of a campaign, the footer's words and links; the header
 * tokens need no store column of their own because they are in the bag.
 *
 * A taught message's push (its logit without learned slot and memory, to
 * SENDERMEM_MARGIN beyond the model's threshold on its label's side) is
 * spread over its marking ids in proportion to their specificity, so the
 * taught sender's other mail, holding most of them, gets most of the push,
 * and a message that shares one or two (a forged From alone: the From
 * address, domain and name of a list message with thirty marking ids) gets
 * that small part of it.  The same rule holds both ways (spam and ham).
 */
#ifndef SPAMSHIFT_ADAPT_SENDERMEM_H
#define SPAMSHIFT_ADAPT_SENDERMEM_H

#include <stddef.h>
#include <stdint.h>

#include "score.h"

#define SENDERMEM_MIN_TAUGHT 2      /* taught messages of one label an id needs */
#define SENDERMEM_DF_MAX 0.2        /* its share of the reservoir at most */
#define SENDERMEM_RES_MIN 10        /* reservoir messages below which no memory */
#define SENDERMEM_MATCH 0.5         /* share of a taught message's marking ids a
                                     * reservoir message holds to count as its kind */
#define SENDERMEM_MARGIN 4.0        /* logits beyond the threshold for the taught */
#define SENDERMEM_COHESION 0.3      /* mean Jaccard overlap of an id's holders' marking ids */
#define SENDERMEM_MIN_SHARED 3      /* marking ids two holders share to count as alike */
#define SENDERMEM_MAX_HOLDERS 64    /* an id more labels hold is the token fit's */
#define SENDERMEM_MAX_LABELS 1024   /* beyond, no memory: the labels' pair overlaps
                                     * take n^2 floats, and that many labels are
                                     * the token fit's */

/* What the memory step did. */
struct sendermem_stats {
    uint32_t n_ids;                 /* marking ids given a memory weight */
    uint32_t n_taught;              /* taught messages with at least one */
};

/*
 * Set um's sender memory from the labels fb[0..n_fb) and the user's
 * unlabelled mail res[0..n_res) (only ids and n are read), threshold logit
 * thr: each marking id's memory slot gets its weight, replacing what um had
 * there; without enough reservoir (SENDERMEM_RES_MIN), with more than
 * SENDERMEM_MAX_LABELS labels or with resid_bits > 30 nothing is set.  Returns 0, or -1 on allocation failure (um unchanged).
 * Deterministic.
 */
/*
 * Whether the labels fb[0..n_fb) (only ids, n and spam are read) can mark
 * any id: a label count sendermem_fit takes and a candidate (an id in
 * SENDERMEM_MIN_TAUGHT labels of one class and none of the other).  When
 * not, sendermem_fit sets nothing whatever the reservoir, so a caller need
 * not read it.  Returns 1 or 0, or -1 on allocation failure.
 */
int sendermem_may_mark(const struct adapt_example *fb, size_t n_fb);

int sendermem_fit(const struct model *m, struct user_model *um,
                  const struct adapt_example *fb, size_t n_fb,
                  const struct adapt_example *res, size_t n_res, double thr,
                  struct sendermem_stats *st);

#endif
